//! The Fisher of an MLP 64-64-64-10 (P = 8 970) with a categorical head over N = 1000 inputs,
//! all in one run so the ratios compare like with like:
//! - faer's GEMM of the shape of one chunk's update (the throughput reference);
//! - the exact dense Fisher by the generic `Lᵀ J` route and by the Kronecker fast path
//!   (throughput counts P²·N·C flops for both, the cost of the naive product);
//! - one mean-loss gradient (the unit of the cost targets);
//! - K-FAC factors (type-2 and one-sample MC), EKFAC, the exact diagonal, and one matrix-free
//!   Fisher-vector product.
//!
//! The peak heap of the exact dense routes, measured by a counting allocator, is printed
//! against the P × P matrix (8 P² bytes).

mod common;
use common::noise;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faer::Mat;
use fisherlab::autodiff::network::Mlp;
use fisherlab::distributions::heads::Head;
use fisherlab::fisher::curvature::{
    Approximation, DenseFisher, DiagonalFisher, Ekfac, Kfac, Labels, MatrixFreeFisher, Problem,
};
use fisherlab::fisher::curvature::{ExactFisherOptions, exact_fisher};
use fisherlab::fisher::heap::{Counting, measure};
use fisherlab::fisher::model::{Model, mean_nll_gradient};
use std::hint::black_box;
use std::time::Duration;

#[global_allocator]
static GLOBAL: Counting = Counting;

fn fisher(c: &mut Criterion) {
    let net = Mlp::parse("64,64,64,10", "tanh").unwrap().network();
    let p = net.num_params();
    let theta: Vec<f64> = (0..p).map(|k| noise(k, 0, 1) * 0.3).collect();
    let model = Model::new(net, Head::Categorical).unwrap();
    let n = 1000;
    let x = Mat::from_fn(n, 64, |i, j| noise(i, j, 2) * 2.0);
    let y = Mat::from_fn(n, 1, |i, _| (i % 10) as f64);
    let problem = Problem::new(&model, &theta, x.as_ref())
        .unwrap()
        .with_targets(y.as_ref())
        .unwrap();

    let matrix_bytes = 8 * p * p;
    let generic = measure(|| exact_fisher(&model, &theta, x.as_ref(), &Default::default()))
        .1
        .peak;
    let fast = measure(|| DenseFisher::new(Labels::Type2).build(&problem))
        .1
        .peak;
    println!(
        "peak heap of the exact dense Fisher: generic route {:.3} × P², Kronecker fast path {:.3} × P² (P² matrix = {} MB)",
        generic as f64 / matrix_bytes as f64,
        fast as f64 / matrix_bytes as f64,
        matrix_bytes / 1_000_000
    );

    let mut g = c.benchmark_group("mlp_64_64_64_10_dense");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_millis(100));
    let a = Mat::from_fn(p, 640, |i, j| noise(i, j, 3));
    // reference: a GEMM of the shape of one chunk's update (P × 640 by 640 × P)
    g.throughput(Throughput::Elements(2 * (p * p * 640) as u64));
    g.bench_function("gemm_reference", |b| {
        b.iter(|| black_box(&a) * black_box(&a).transpose())
    });
    g.throughput(Throughput::Elements((p * p * n * 10) as u64));
    g.bench_function("exact_dense_generic_n1000", |b| {
        b.iter(|| {
            exact_fisher(
                &model,
                &theta,
                black_box(x.as_ref()),
                &ExactFisherOptions::default(),
            )
            .unwrap()
        })
    });
    g.bench_function("exact_dense_kronecker_n1000", |b| {
        b.iter(|| {
            DenseFisher::new(Labels::Type2)
                .build(black_box(&problem))
                .unwrap()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("mlp_64_64_64_10_cost");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(300));
    g.bench_function("mean_loss_gradient", |b| {
        b.iter(|| mean_nll_gradient(&model, &theta, black_box(x.as_ref()), y.as_ref()).unwrap())
    });
    g.bench_function("kfac_factors_type2", |b| {
        b.iter(|| {
            Kfac::new(Labels::Type2)
                .factors(black_box(&problem))
                .unwrap()
        })
    });
    let mc = Labels::Mc {
        per_input: 1,
        seed: 0,
    };
    g.bench_function("kfac_factors_mc1", |b| {
        b.iter(|| Kfac::new(mc).factors(black_box(&problem)).unwrap())
    });
    g.bench_function("ekfac_type2", |b| {
        b.iter(|| {
            Ekfac::new(Labels::Type2)
                .build(black_box(&problem))
                .unwrap()
        })
    });
    g.bench_function("diagonal_exact", |b| {
        b.iter(|| {
            DiagonalFisher::new(Labels::Type2)
                .entries(black_box(&problem))
                .unwrap()
        })
    });
    g.bench_function("diagonal_mc1", |b| {
        b.iter(|| {
            DiagonalFisher::new(mc)
                .entries(black_box(&problem))
                .unwrap()
        })
    });
    let fvp = MatrixFreeFisher.build(&problem).unwrap();
    let v: Vec<f64> = (0..p).map(|k| noise(k, 1, 4)).collect();
    g.bench_function("fisher_vector_product", |b| {
        b.iter(|| fvp.matvec(black_box(&v)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, fisher);
criterion_main!(benches);
