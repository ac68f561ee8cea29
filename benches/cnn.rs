//! A CIFAR-sized CNN — `Conv2d(3,32,5,padding=2), ReLU, MaxPool2d(2), Conv2d(32,32,5,padding=2),
//! ReLU, MaxPool2d(2), Conv2d(32,64,5,padding=2), ReLU, MaxPool2d(2), Flatten, Linear(1024,10)`
//! (P = 89 578) — over N = 128 inputs of 3 × 32 × 32 with a categorical head, float64: one
//! mean-loss gradient (the unit of the cost targets), K-FAC factors type-2 and Monte Carlo
//! (expand), the exact and the Monte-Carlo diagonal, and one Fisher-vector product, all in one
//! run so the ratios compare like with like. `benches/peers/cnn_peers.py` times BackPACK and
//! curvlinops on the same network and sizes.

mod common;
use common::{fan_in_init, noise};
use criterion::{Criterion, criterion_group, criterion_main};
use faer::Mat;
use fisherlab::autodiff::layers::parse_model;
use fisherlab::distributions::heads::Head;
use fisherlab::fisher::curvature::{
    Approximation, DiagonalFisher, Kfac, Labels, MatrixFreeFisher, Problem,
};
use fisherlab::fisher::model::{Model, mean_nll_gradient};
use std::hint::black_box;
use std::time::Duration;

/// The network as PyTorch prints it.
pub const CIFAR_CNN: &str = "Sequential(
  (0): Conv2d(3, 32, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))
  (1): ReLU()
  (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (3): Conv2d(32, 32, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))
  (4): ReLU()
  (5): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (6): Conv2d(32, 64, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))
  (7): ReLU()
  (8): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (9): Flatten(start_dim=1, end_dim=-1)
  (10): Linear(in_features=1024, out_features=10, bias=True)
)";

fn cnn(c: &mut Criterion) {
    faer::set_global_parallelism(faer::Par::rayon(2));
    // as the command line does: large freed buffers are reused, not faulted in afresh
    fisherlab::linalg::retain_freed_memory();
    let net = parse_model(CIFAR_CNN).unwrap().build(&[3, 32, 32]).unwrap();
    let p = net.num_params();
    assert_eq!(p, 89_578);
    // PyTorch's default initialisation scale, ±1/√fan_in
    let theta = fan_in_init(&net);
    let model = Model::new(net, Head::Categorical).unwrap();
    let n = 128;
    let x = Mat::from_fn(n, 3 * 32 * 32, |i, j| noise(i, j, 2) * 2.0);
    let y = Mat::from_fn(n, 1, |i, _| (i % 10) as f64);
    let problem = Problem::new(&model, &theta, x.as_ref())
        .unwrap()
        .with_targets(y.as_ref())
        .unwrap()
        .with_chunk(n)
        .unwrap();
    let mc = Labels::Mc {
        per_input: 1,
        seed: 0,
    };

    let mut g = c.benchmark_group("cifar_cnn_p89578_n128");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_millis(100));
    g.bench_function("gradient", |b| {
        b.iter(|| mean_nll_gradient(&model, &theta, black_box(x.as_ref()), y.as_ref()).unwrap())
    });
    g.bench_function("kfac_factors_mc", |b| {
        b.iter(|| Kfac::new(mc).factors(black_box(&problem)).unwrap())
    });
    g.bench_function("kfac_factors_type2", |b| {
        b.iter(|| {
            Kfac::new(Labels::Type2)
                .factors(black_box(&problem))
                .unwrap()
        })
    });
    g.bench_function("diag_exact", |b| {
        b.iter(|| {
            DiagonalFisher::new(Labels::Type2)
                .entries(black_box(&problem))
                .unwrap()
        })
    });
    g.bench_function("diag_mc", |b| {
        b.iter(|| {
            DiagonalFisher::new(mc)
                .entries(black_box(&problem))
                .unwrap()
        })
    });
    let fvp = MatrixFreeFisher.build(&problem).unwrap();
    let v = Mat::from_fn(p, 1, |i, _| noise(i, 1, 3));
    g.bench_function("fisher_vector_product", |b| {
        b.iter(|| fvp.apply(black_box(v.as_ref())).unwrap())
    });
    g.finish();
}

criterion_group!(benches, cnn);
criterion_main!(benches);
