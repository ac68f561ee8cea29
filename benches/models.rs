//! Exact dense Fisher of an MLP 64-64-64-10 (P = 8 970) with a categorical head over N inputs,
//! against faer's GEMM measured in the same run. Throughput counts P²·N·C flops for the Fisher
//! (the cost of the naive product of stacked Jacobians) and 2·m·n·k for the GEMM.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faer::Mat;
use fisherlab::autodiff::network::Mlp;
use fisherlab::distributions::heads::Head;
use fisherlab::fisher::model::{ExactFisherOptions, Model, exact_fisher};
use std::hint::black_box;
use std::time::Duration;

fn noise(i: usize, j: usize, seed: usize) -> f64 {
    let z = ((i * 7919 + j * 104_729 + seed * 1_299_709) % 10_007) as f64;
    z / 10_007.0 - 0.5
}

fn exact(c: &mut Criterion) {
    let mut g = c.benchmark_group("mlp_64_64_64_10");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_millis(100));
    let net = Mlp::parse("64,64,64,10", "tanh").unwrap();
    let p = net.num_params();
    let theta: Vec<f64> = (0..p).map(|k| noise(k, 0, 1) * 0.3).collect();
    let model = Model::new(net, Head::Categorical).unwrap();
    let n = 1000;
    let x = Mat::from_fn(n, 64, |i, j| noise(i, j, 2) * 2.0);
    let a = Mat::from_fn(p, 640, |i, j| noise(i, j, 3));
    // reference: a GEMM of the same shape as one chunk's update (P × 640 by 640 × P)
    g.throughput(Throughput::Elements(2 * (p * p * 640) as u64));
    g.bench_function("gemm_reference", |b| {
        b.iter(|| black_box(&a) * black_box(&a).transpose())
    });
    g.throughput(Throughput::Elements((p * p * n * 10) as u64));
    g.bench_function("exact_dense_fisher_n1000", |b| {
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
    g.finish();
}

criterion_group!(benches, exact);
criterion_main!(benches);
