//! A small pre-norm transformer-style block stack on sequences — tokens of dimension 64, length
//! 16, two residual blocks `x + Linear(256, 64)(GELU(Linear(64, 256)(LayerNorm(64)(x))))` with
//! the Linear layers shared over the 16 positions, the mean over the sequence and a
//! `Linear(64, 10)` classifier (P = 67 082) — over N = 256 sequences with a categorical head,
//! float64: one mean-loss gradient (the unit of the cost targets), K-FAC factors expand and
//! reduce (Monte Carlo and type-2), the exact diagonal and one Fisher-vector product, all in one
//! run so the ratios compare like with like.

use criterion::{Criterion, criterion_group, criterion_main};
use faer::Mat;
use fisherlab::autodiff::layers::parse_model;
use fisherlab::distributions::heads::Head;
use fisherlab::fisher::curvature::{
    Approximation, DiagonalFisher, Kfac, KfacApprox, Labels, MatrixFreeFisher, Problem,
};
use fisherlab::fisher::model::{Model, mean_nll_gradient};
use std::hint::black_box;
use std::time::Duration;

/// The network as PyTorch prints it (`Residual` and `MeanPool` as in `docs/layers.md`).
pub const BLOCKS: &str = "Sequential(
  (0): Residual(
    (body): Sequential(
      (0): LayerNorm((64,), eps=1e-05, elementwise_affine=True, bias=True)
      (1): Linear(in_features=64, out_features=256, bias=True)
      (2): GELU(approximate='none')
      (3): Linear(in_features=256, out_features=64, bias=True)
    )
  )
  (1): Residual(
    (body): Sequential(
      (0): LayerNorm((64,), eps=1e-05, elementwise_affine=True, bias=True)
      (1): Linear(in_features=64, out_features=256, bias=True)
      (2): GELU(approximate='none')
      (3): Linear(in_features=256, out_features=64, bias=True)
    )
  )
  (2): MeanPool(dim=1)
  (3): Linear(in_features=64, out_features=10, bias=True)
)";

fn noise(i: usize, j: usize, seed: usize) -> f64 {
    let z = ((i * 7919 + j * 104_729 + seed * 1_299_709) % 10_007) as f64;
    z / 10_007.0 - 0.5
}

fn transformer(c: &mut Criterion) {
    faer::set_global_parallelism(faer::Par::rayon(2));
    fisherlab::linalg::retain_freed_memory();
    let net = parse_model(BLOCKS).unwrap().build(&[16, 64]).unwrap();
    let p = net.num_params();
    assert_eq!(p, 67_082);
    // PyTorch's default initialisation scale (±1/√fan_in; scale 1 and shift 0 perturbed)
    let mut theta = vec![0.0; p];
    for t in net.taps() {
        let (centre, width) = if t.is_scale_shift() {
            (1.0, 0.2)
        } else {
            (0.0, 2.0 / (t.inp() as f64).sqrt())
        };
        for q in t.range() {
            theta[q] = centre + width * noise(q, 0, 1);
        }
    }
    let model = Model::new(net, Head::Categorical).unwrap();
    let n = 256;
    let x = Mat::from_fn(n, 16 * 64, |i, j| noise(i, j, 2) * 2.0);
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

    let mut g = c.benchmark_group("transformer_blocks_p67082_n256");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_millis(100));
    g.bench_function("gradient", |b| {
        b.iter(|| mean_nll_gradient(&model, &theta, black_box(x.as_ref()), y.as_ref()).unwrap())
    });
    for approx in [KfacApprox::Expand, KfacApprox::Reduce] {
        g.bench_function(format!("kfac_factors_mc_{}", approx.name()), |b| {
            b.iter(|| {
                Kfac::new(mc)
                    .with_approx(approx)
                    .factors(black_box(&problem))
                    .unwrap()
            })
        });
        g.bench_function(format!("kfac_factors_type2_{}", approx.name()), |b| {
            b.iter(|| {
                Kfac::new(Labels::Type2)
                    .with_approx(approx)
                    .factors(black_box(&problem))
                    .unwrap()
            })
        });
    }
    g.bench_function("diag_exact", |b| {
        b.iter(|| {
            DiagonalFisher::new(Labels::Type2)
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

criterion_group!(benches, transformer);
criterion_main!(benches);
