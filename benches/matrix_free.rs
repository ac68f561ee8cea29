//! The matrix-free comparison's phases on the 1-D CNN of MNIST-1D — `Conv1d(1,64,5,padding=2),
//! ReLU, Conv1d(64,64,5,padding=2), ReLU, MaxPool1d(2), Conv1d(64,128,3,padding=1), ReLU,
//! MaxPool1d(2), Flatten, Linear(1280,10)` (P = 58 442) — over N = 64 signals of length 40
//! (categorical head, float64): what one exact Fisher-vector product costs by forward-mode and
//! backward passes and through the Gram factor, for one vector and for a block of 16, the Gram
//! factor's build, the reference's precomputation and the comparison of three approximations
//! at once. Products are counted by the estimates themselves; the whole command's phases are
//! in `comparison.json` (`seconds`, `reference`) of `fisherlab compare --dataset mnist1d
//! --model cnn1d.txt`.

mod common;
use common::{fan_in_init, noise};
use criterion::{Criterion, criterion_group, criterion_main};
use faer::Mat;
use fisherlab::autodiff::layers::parse_model;
use fisherlab::distributions::heads::Head;
use fisherlab::fisher::curvature::{
    Approximation, DiagonalFisher, Ekfac, GramFisher, Kfac, Labels, MatrixFreeFisher, Problem,
};
use fisherlab::fisher::metrics::{MatrixFreeOptions, MatrixFreeReference};
use fisherlab::fisher::model::{Model, mean_nll_gradient};
use fisherlab::linalg::{CgOptions, CurvatureOperator, LanczosOptions};
use std::hint::black_box;
use std::time::Duration;

/// The network as PyTorch prints it.
pub const MNIST1D_CNN: &str = "Sequential(
  (0): Conv1d(1, 64, kernel_size=(5,), stride=(1,), padding=(2,))
  (1): ReLU()
  (2): Conv1d(64, 64, kernel_size=(5,), stride=(1,), padding=(2,))
  (3): ReLU()
  (4): MaxPool1d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (5): Conv1d(64, 128, kernel_size=(3,), stride=(1,), padding=(1,))
  (6): ReLU()
  (7): MaxPool1d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (8): Flatten(start_dim=1, end_dim=-1)
  (9): Linear(in_features=1280, out_features=10, bias=True)
)";

fn matrix_free(c: &mut Criterion) {
    faer::set_global_parallelism(faer::Par::rayon(2));
    fisherlab::linalg::retain_freed_memory();
    let net = parse_model(MNIST1D_CNN).unwrap().build(&[1, 40]).unwrap();
    let p = net.num_params();
    assert_eq!(p, 58_442);
    // PyTorch's default initialisation scale, ±1/√fan_in
    let theta = fan_in_init(&net);
    let model = Model::new(net, Head::Categorical).unwrap();
    let n = 64;
    let x = Mat::from_fn(n, 40, |i, j| noise(i, j, 2) * 4.0);
    let y = Mat::from_fn(n, 1, |i, _| (i % 10) as f64);
    let problem = Problem::new(&model, &theta, x.as_ref())
        .unwrap()
        .with_targets(y.as_ref())
        .unwrap();
    let gradient = mean_nll_gradient(&model, &theta, x.as_ref(), y.as_ref())
        .unwrap()
        .1;

    let mut g = c.benchmark_group("mnist1d_cnn_p58442_n64");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_millis(100));
    let jvp = MatrixFreeFisher.build(&problem).unwrap();
    let gram = GramFisher.build(&problem).unwrap();
    let v1 = Mat::from_fn(p, 1, |i, _| noise(i, 1, 3));
    let v16 = Mat::from_fn(p, 16, |i, j| noise(i, j, 4));
    g.bench_function("product_forward_mode_1", |b| {
        b.iter(|| jvp.apply(black_box(v1.as_ref())).unwrap())
    });
    g.bench_function("product_forward_mode_16", |b| {
        b.iter(|| jvp.apply(black_box(v16.as_ref())).unwrap())
    });
    g.bench_function("product_gram_1", |b| {
        b.iter(|| gram.apply(black_box(v1.as_ref())).unwrap())
    });
    g.bench_function("product_gram_16", |b| {
        b.iter(|| gram.apply(black_box(v16.as_ref())).unwrap())
    });
    g.bench_function("gram_build", |b| {
        b.iter(|| GramFisher.build(black_box(&problem)).unwrap())
    });
    // the command line's settings, fewer probes: a reference that converges in seconds
    let options = MatrixFreeOptions {
        lambda: 1e-3,
        gradient: Some(gradient),
        random_directions: 16,
        seed: 0,
        frobenius_probes: 32,
        slq_probes: 8,
        slq_steps: 20,
        lanczos: LanczosOptions {
            tol: 1e-4,
            max_steps: 300,
            scale: 0.0,
        },
        spectrum: 20,
        cg: CgOptions {
            tol: 1e-4,
            max_iter: 300,
            truncated: true,
        },
    };
    g.bench_function("reference", |b| {
        b.iter(|| MatrixFreeReference::new(gram.as_ref(), black_box(&options)).unwrap())
    });
    let reference = MatrixFreeReference::new(gram.as_ref(), &options).unwrap();
    let ops: Vec<Box<dyn CurvatureOperator>> = vec![
        Kfac::new(Labels::Type2).build(&problem).unwrap(),
        Ekfac::new(Labels::Type2).build(&problem).unwrap(),
        DiagonalFisher::new(Labels::Type2).build(&problem).unwrap(),
    ];
    let refs: Vec<&dyn CurvatureOperator> = ops.iter().map(|o| o.as_ref()).collect();
    g.bench_function("compare_three_side_by_side", |b| {
        b.iter(|| reference.compare_many(black_box(&refs)).unwrap())
    });
    g.bench_function("compare_three_one_after_another", |b| {
        b.iter(|| {
            refs.iter()
                .map(|a| reference.compare(*a).unwrap())
                .collect::<Vec<_>>()
        })
    });
    g.finish();
}

criterion_group!(benches, matrix_free);
criterion_main!(benches);
