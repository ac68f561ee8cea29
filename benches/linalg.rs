//! Curvature-operator kernels against faer's own GEMM, measured in one run so results read as
//! ratios. Throughput is reported in floating-point operations per second ("elem/s" = flop/s).
//!
//! - `gemm/2000`: C = A·B, P = 2000 (2P³ flops) — the machine's reference throughput;
//! - `dense_damped_solve/P`: Cholesky of F + λI and a solve with 8 right-hand sides;
//! - `kronecker_1000x1000_8rhs/*`: dimension 10⁶, never materialised, after the factor
//!   eigendecompositions (exact damping: 4 GEMMs of 1000³ per right-hand side; factored: the
//!   damped factor inverses, then 2 GEMMs per right-hand side; and those inverses precomputed
//!   once, as K-FAC does between inverse updates);
//! - `low_rank_woodbury/100000_k64`: Woodbury solve of U S Uᵀ + D + λI, 8 right-hand sides;
//! - `cg_2000/*`: conjugate gradients to 1e-8 on a dense, badly scaled P = 2000 Fisher, without
//!   and with a diagonal (Jacobi) preconditioner.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use faer::Mat;
use fisherlab::linalg::{
    CgOptions, CurvatureOperator, Dense, Diagonal, Kronecker, KroneckerDamping,
    LowRankPlusDiagonal, conjugate_gradient,
};
use std::hint::black_box;
use std::time::Duration;

/// Deterministic pseudo-random entries in [−0.5, 0.5).
fn noise(i: usize, j: usize, seed: usize) -> f64 {
    let mut z = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (j as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9)
        ^ seed as u64;
    z ^= z >> 31;
    z = z.wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 29;
    (z >> 11) as f64 / (1u64 << 53) as f64 - 0.5
}

fn spd(n: usize, seed: usize) -> Mat<f64> {
    let b = Mat::from_fn(n, n, |i, j| noise(i, j, seed));
    let mut a = &b * b.transpose() * faer::Scale(1.0 / n as f64);
    for i in 0..n {
        a[(i, i)] += 1e-2;
    }
    Mat::from_fn(n, n, |i, j| 0.5 * (a[(i, j)] + a[(j, i)]))
}

fn gemm(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm");
    g.sample_size(10);
    let p = 2000;
    let a = Mat::from_fn(p, p, |i, j| noise(i, j, 1));
    let b = Mat::from_fn(p, p, |i, j| noise(i, j, 2));
    g.throughput(Throughput::Elements(2 * (p as u64).pow(3)));
    g.bench_function(BenchmarkId::from_parameter(p), |bch| {
        bch.iter(|| black_box(&a) * black_box(&b))
    });
    g.finish();
}

fn dense_solve(c: &mut Criterion) {
    let mut g = c.benchmark_group("dense_damped_solve");
    g.sample_size(10);
    for p in [2000usize, 4000] {
        let f = Dense::new(spd(p, 3)).unwrap();
        let v = Mat::from_fn(p, 8, |i, j| noise(i, j, 4));
        // Cholesky p³/3 plus two triangular solves per right-hand side
        g.throughput(Throughput::Elements(
            (p as u64).pow(3) / 3 + 2 * 2 * (p as u64).pow(2) * 8,
        ));
        g.bench_function(BenchmarkId::from_parameter(p), |b| {
            b.iter(|| f.solve_damped(1e-3, black_box(v.as_ref())).unwrap())
        });
    }
    g.finish();
}

fn kronecker(c: &mut Criterion) {
    let mut g = c.benchmark_group("kronecker_1000x1000_8rhs");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    let n = 1000;
    let k = Kronecker::new(spd(n, 5), spd(n, 6)).unwrap();
    let v = Mat::from_fn(n * n, 8, |i, j| noise(i, j, 7));
    // factor eigendecompositions happen once, here, outside the timing
    k.eigenvalues().unwrap();
    let per_rhs = 2 * (n as u64).pow(3);
    g.throughput(Throughput::Elements(4 * per_rhs * 8));
    g.bench_function("exact_solve", |b| {
        b.iter(|| k.solve_damped(1e-3, black_box(v.as_ref())).unwrap())
    });
    let fact = k.with_damping(KroneckerDamping::Factored);
    fact.eigenvalues().unwrap();
    // damped factor inverses from the eigenbases (2 GEMMs of n³), then one GEMM per side per rhs
    g.throughput(Throughput::Elements(2 * per_rhs + 2 * per_rhs * 8));
    g.bench_function("factored_solve", |b| {
        b.iter(|| fact.solve_damped(1e-3, black_box(v.as_ref())).unwrap())
    });
    let inv = fact.inverse_damped(1e-3).unwrap();
    g.throughput(Throughput::Elements(2 * per_rhs * 8));
    g.bench_function("factored_precomputed_inverse_apply", |b| {
        b.iter(|| inv.apply(black_box(v.as_ref())).unwrap())
    });
    g.finish();
}

fn low_rank(c: &mut Criterion) {
    let mut g = c.benchmark_group("low_rank_woodbury");
    g.sample_size(10);
    let (p, k) = (100_000usize, 64usize);
    let u = Mat::from_fn(p, k, |i, j| noise(i, j, 8));
    let s: Vec<f64> = (0..k).map(|i| 1.0 + i as f64).collect();
    let d: Vec<f64> = (0..p).map(|i| 0.5 + noise(i, 0, 9)).collect();
    let op = LowRankPlusDiagonal::new(u, s, d).unwrap();
    let v = Mat::from_fn(p, 8, |i, j| noise(i, j, 10));
    // Wᵀ D⁻¹ W (P k²) + k³/3 + 4 P k per right-hand side
    g.throughput(Throughput::Elements(
        (2 * p * k * k + k * k * k / 3 + 4 * p * k * 8) as u64,
    ));
    g.bench_function("100000_k64", |b| {
        b.iter(|| op.solve_damped(1e-3, black_box(v.as_ref())).unwrap())
    });
    g.finish();
}

fn cg(c: &mut Criterion) {
    let mut g = c.benchmark_group("cg_2000");
    g.sample_size(10);
    let p = 2000;
    // a Fisher with a spread of scales: D^{1/2} S D^{1/2}, D from 1e-2 to 1e2
    let s = spd(p, 11);
    let dscale: Vec<f64> = (0..p)
        .map(|i| 10f64.powf(-2.0 + 4.0 * i as f64 / p as f64))
        .collect();
    let f = Dense::new(Mat::from_fn(p, p, |i, j| {
        dscale[i].sqrt() * s[(i, j)] * dscale[j].sqrt()
    }))
    .unwrap();
    let diag = Diagonal::new(f.diagonal().unwrap()).unwrap();
    let b: Vec<f64> = (0..p).map(|i| noise(i, 0, 12)).collect();
    let opts = CgOptions {
        tol: 1e-8,
        max_iter: 100_000,
        truncated: false,
    };
    let lambda = 1e-3;
    let plain = conjugate_gradient(&f, lambda, &b, None, None, &opts).unwrap();
    let jacobi = conjugate_gradient(&f, lambda, &b, Some((&diag, lambda)), None, &opts).unwrap();
    eprintln!(
        "cg_2000: {} iterations unpreconditioned, {} with the diagonal preconditioner",
        plain.iterations, jacobi.iterations
    );
    g.throughput(Throughput::Elements((2 * p * p * plain.iterations) as u64));
    g.bench_function("plain", |bch| {
        bch.iter(|| conjugate_gradient(&f, lambda, black_box(&b), None, None, &opts).unwrap())
    });
    g.throughput(Throughput::Elements((2 * p * p * jacobi.iterations) as u64));
    g.bench_function("jacobi", |bch| {
        bch.iter(|| {
            conjugate_gradient(
                &f,
                lambda,
                black_box(&b),
                Some((&diag, lambda)),
                None,
                &opts,
            )
            .unwrap()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = gemm, dense_solve, kronecker, low_rank, cg
}
criterion_main!(benches);
