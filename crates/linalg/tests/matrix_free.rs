//! Matrix-free methods against dense references: conjugate gradients, Lanczos, stochastic
//! Lanczos quadrature, and the Hutchinson / Hutch++ estimators against their theoretical
//! variance (fixed seeds).

use faer::Mat;
use fisherlab_linalg::*;
use rand::{RngExt, SeedableRng};

type Rng = rand::rngs::Xoshiro256PlusPlus;

/// Q diag(eigs) Qᵀ with a random orthogonal Q: a symmetric matrix with a known spectrum.
fn with_spectrum(eigs: &[f64], seed: u64) -> Mat<f64> {
    let n = eigs.len();
    let mut r = Rng::seed_from_u64(seed);
    let b = Mat::from_fn(n, n, |_, _| r.random::<f64>() - 0.5);
    // (tests give seeds far from the estimators' probe seeds: the same xoshiro stream would
    // correlate the probes with the eigenvectors)
    let q = b.qr().compute_Q();
    let d = Mat::from_fn(n, n, |i, j| if i == j { eigs[i] } else { 0.0 });
    let f = &q * d * q.transpose();
    Mat::from_fn(n, n, |i, j| 0.5 * (f[(i, j)] + f[(j, i)]))
}

fn as_matrix_free(f: &Mat<f64>) -> MatrixFree {
    let f = f.clone();
    MatrixFree::new(f.nrows(), move |x| &f * x)
}

#[test]
fn cg_matches_the_dense_solve_and_preconditioning_helps() {
    let n = 80;
    // badly scaled SPD: D^{1/2} S D^{1/2} with S well conditioned, D spanning 1e-2..1e2
    let s = with_spectrum(
        &(0..n)
            .map(|i| 1.0 + i as f64 / n as f64)
            .collect::<Vec<_>>(),
        1,
    );
    let dscale: Vec<f64> = (0..n)
        .map(|i| 10f64.powf(-2.0 + 4.0 * i as f64 / n as f64))
        .collect();
    let f = Mat::from_fn(n, n, |i, j| dscale[i].sqrt() * s[(i, j)] * dscale[j].sqrt());
    let dense = Dense::new(f.clone()).unwrap();
    let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin()).collect();
    let want = dense
        .solve_damped(1e-3, faer::MatRef::from_column_major_slice(&b, n, 1))
        .unwrap();
    let opts = CgOptions {
        tol: 1e-10,
        max_iter: 5000,
        truncated: false,
    };
    let plain = conjugate_gradient(&dense, 1e-3, &b, None, None, &opts).unwrap();
    let diag = Diagonal::new(dense.diagonal().unwrap()).unwrap();
    let pre = conjugate_gradient(&dense, 1e-3, &b, Some((&diag, 1e-3)), None, &opts).unwrap();
    for r in [&plain, &pre] {
        assert!(
            r.relative_residual <= 1e-9,
            "residual {}",
            r.relative_residual
        );
        let err = (0..n)
            .map(|i| (r.x[i] - want[(i, 0)]).abs())
            .fold(0.0, f64::max)
            / want.norm_max();
        assert!(err < 1e-6, "error {err}");
    }
    assert!(
        pre.iterations * 3 < plain.iterations,
        "Jacobi preconditioning: {} vs {} iterations",
        pre.iterations,
        plain.iterations
    );
    // warm start from the solution converges at once
    let warm = conjugate_gradient(&dense, 1e-3, &b, None, Some(&pre.x), &opts).unwrap();
    assert!(warm.iterations <= 2);
    // an iteration budget that is too small is an error, not a silent answer
    let few = CgOptions {
        tol: 1e-12,
        max_iter: 3,
        truncated: false,
    };
    assert!(matches!(
        conjugate_gradient(&dense, 1e-3, &b, None, None, &few),
        Err(Error::NoConvergence { .. })
    ));
    // truncated CG returns the third iterate; CG decreases φ(x) = ½ xᵀ(F + λI)x − bᵀx
    // monotonically, so φ(0) = 0 > φ(x₃) > φ(x*)
    let cut = conjugate_gradient(
        &dense,
        1e-3,
        &b,
        None,
        None,
        &CgOptions {
            truncated: true,
            ..few
        },
    )
    .unwrap();
    assert_eq!(cut.iterations, 3);
    let phi = |x: &[f64]| {
        let fx = dense.matvec(x).unwrap();
        (0..n)
            .map(|i| 0.5 * x[i] * (fx[i] + 1e-3 * x[i]) - b[i] * x[i])
            .sum::<f64>()
    };
    assert!(phi(&cut.x) < 0.0 && phi(&cut.x) > phi(&pre.x));
}

#[test]
fn matrix_free_operator_solves_by_cg_and_refuses_what_it_cannot_do_exactly() {
    let n = 40;
    let f = with_spectrum(&(1..=n).map(|i| i as f64 / 4.0).collect::<Vec<_>>(), 2);
    let mf = as_matrix_free(&f);
    let dense = Dense::new(f.clone()).unwrap();
    let x = Mat::from_fn(n, 2, |i, j| ((i + 3 * j) as f64).cos());
    let a = mf.solve_damped(0.1, x.as_ref()).unwrap();
    let b = dense.solve_damped(0.1, x.as_ref()).unwrap();
    assert!((&a - &b).norm_max() < 1e-8 * b.norm_max());
    let inv = mf.inverse_damped(0.1).unwrap();
    assert!((inv.apply(x.as_ref()).unwrap() - &b).norm_max() < 1e-8 * b.norm_max());
    let top = mf.top_eigenvalues(3).unwrap();
    for (i, v) in top.iter().enumerate() {
        assert!((v - (n - i) as f64 / 4.0).abs() < 1e-8, "{v}");
    }
    for e in [
        mf.trace().unwrap_err(),
        mf.diagonal().unwrap_err(),
        mf.logdet_damped(0.1).unwrap_err(),
        mf.eigenvalues().unwrap_err(),
    ] {
        assert!(matches!(e, Error::NotAvailable { .. }));
    }
    assert!((mf.to_dense().unwrap() - &f).norm_max() < 1e-14);
}

#[test]
fn lanczos_top_k_eigenpairs() {
    for n in [7usize, 60, 129] {
        let eigs: Vec<f64> = (0..n).map(|i| 0.01 + (i as f64).powf(1.5)).collect();
        let f = with_spectrum(&eigs, n as u64);
        let dense = Dense::new(f.clone()).unwrap();
        let k = 5.min(n);
        let l = lanczos_top_k(&dense, k, 3, &Default::default()).unwrap();
        for i in 0..k {
            let want = eigs[n - 1 - i];
            assert!(
                (l.values[i] - want).abs() <= 1e-9 * want,
                "n={n} {i}: {} vs {want}",
                l.values[i]
            );
            // ‖F v − θ v‖ small, ‖v‖ = 1
            let v = l.vectors.col(i).to_owned();
            let r = &f * &v - &v * faer::Scale(l.values[i]);
            assert!(r.norm_l2() < 1e-7 * want && (v.norm_l2() - 1.0).abs() < 1e-10);
        }
        assert!(l.steps <= n);
    }
    let d = Dense::new(Mat::identity(3, 3)).unwrap();
    assert!(lanczos_top_k(&d, 0, 0, &Default::default()).is_err());
    assert!(lanczos_top_k(&d, 4, 0, &Default::default()).is_err());
}

#[test]
fn stochastic_lanczos_quadrature_estimates_logdet_and_density() {
    let n = 200;
    let eigs: Vec<f64> = (0..n)
        .map(|i| 1e-3 + 10.0 * (i as f64 / n as f64).powi(3))
        .collect();
    let f = with_spectrum(&eigs, 5);
    let op = as_matrix_free(&f);
    let lambda = 0.01;
    let exact: f64 = eigs.iter().map(|e| (e + lambda).ln()).sum();
    let slq = stochastic_lanczos_quadrature(&op, 40, 40, 9).unwrap();
    let w: f64 = slq.weights.iter().sum();
    assert!((w - 1.0).abs() < 1e-12, "weights sum to 1");
    let est = slq.logdet(lambda);
    assert!((est - exact).abs() < 0.05 * exact.abs(), "{est} vs {exact}");
    // tr F from the same quadrature
    let tr: f64 = eigs.iter().sum();
    assert!((slq.trace_of(|x| x) - tr).abs() < 0.1 * tr);
    assert!(slq.density(1.0, 0.5) > 0.0);
}

#[test]
fn hutchinson_trace_matches_its_theoretical_variance_and_hutch_pp_beats_it() {
    let n = 120;
    let eigs: Vec<f64> = (0..n).map(|i| 100.0 * 0.9f64.powi(i as i32)).collect();
    let f = with_spectrum(&eigs, 7_000_007); // a seed unrelated to the probes' seeds
    let dense = Dense::new(f.clone()).unwrap();
    let tr: f64 = eigs.iter().sum();
    // Rademacher probes: Var(zᵀFz) = 2(‖F‖²_F − Σ Fᵢᵢ²)
    let fro2 = f.norm_l2().powi(2);
    let diag2: f64 = (0..n).map(|i| f[(i, i)].powi(2)).sum();
    let var1 = 2.0 * (fro2 - diag2);
    for probes in [10usize, 100, 1000] {
        let mut sq = 0.0;
        let seeds = 30;
        for seed in 0..seeds {
            let e = hutchinson_trace(&dense, probes, seed).unwrap();
            sq += (e.estimate - tr).powi(2);
        }
        let mse = sq / seeds as f64;
        let theory = var1 / probes as f64;
        // 30 replications: the mean squared error is within a factor ~2 of the variance
        assert!(
            mse > 0.4 * theory && mse < 2.0 * theory,
            "probes {probes}: MSE {mse} vs theory {theory}"
        );
    }
    // Hutch++ with 99 products against Hutchinson with 99 products, over seeds
    let (mut e_h, mut e_pp) = (0.0, 0.0);
    for seed in 0..20 {
        e_h += (hutchinson_trace(&dense, 99, seed).unwrap().estimate - tr).abs();
        let pp = hutch_pp_trace(&dense, 99, seed).unwrap();
        assert_eq!(pp.matvecs, 99);
        e_pp += (pp.estimate - tr).abs();
    }
    assert!(e_pp * 5.0 < e_h, "Hutch++ {e_pp} vs Hutchinson {e_h}");
}

#[test]
fn hutchinson_diagonal_within_standard_errors() {
    let n = 50;
    let f = with_spectrum(&(0..n).map(|i| 1.0 + i as f64 * 0.1).collect::<Vec<_>>(), 8);
    let dense = Dense::new(f.clone()).unwrap();
    let probes = 400;
    let (est, se) = hutchinson_diagonal(&dense, probes, 1).unwrap();
    let mut z2 = 0.0;
    for i in 0..n {
        // theoretical SE: √(Σ_{j≠i} F_ij² / p)
        let theory = ((0..n)
            .filter(|j| *j != i)
            .map(|j| f[(i, j)].powi(2))
            .sum::<f64>()
            / probes as f64)
            .sqrt();
        assert!(
            (se[i] / theory - 1.0).abs() < 0.25,
            "entry {i}: SE {} vs theory {theory}",
            se[i]
        );
        z2 += ((est[i] - f[(i, i)]) / theory).powi(2);
    }
    let mean_z2 = z2 / n as f64;
    assert!(mean_z2 > 0.5 && mean_z2 < 1.6, "mean squared z {mean_z2}");
}

#[test]
fn estimators_are_identical_for_any_thread_count() {
    let n = 300;
    let f = with_spectrum(&(0..n).map(|i| 1.0 + i as f64).collect::<Vec<_>>(), 4);
    let dense = Dense::new(f.clone()).unwrap();
    // faer's own GEMM, sequential against two threads
    let z = Mat::from_fn(n, 64, |i, j| ((i * 7 + j * 13) % 5) as f64 - 2.0);
    let seq = {
        let mut out = Mat::zeros(n, 64);
        faer::linalg::matmul::matmul(&mut out, faer::Accum::Replace, &f, &z, 1.0, faer::Par::Seq);
        out
    };
    let par = {
        let mut out = Mat::zeros(n, 64);
        faer::linalg::matmul::matmul(
            &mut out,
            faer::Accum::Replace,
            &f,
            &z,
            1.0,
            faer::Par::rayon(2),
        );
        out
    };
    assert!(seq.col_iter().zip(par.col_iter()).all(|(a, b)| {
        a.iter()
            .zip(b.iter())
            .all(|(x, y)| x.to_bits() == y.to_bits())
    }));
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let t = hutchinson_trace(&dense, 64, 5).unwrap().estimate;
                let pp = hutch_pp_trace(&dense, 60, 5).unwrap().estimate;
                let (d, _) = hutchinson_diagonal(&dense, 32, 5).unwrap();
                (t, pp, d)
            })
    };
    let (a, b) = (run(1), run(2));
    assert_eq!(a.0.to_bits(), b.0.to_bits());
    assert_eq!(a.1.to_bits(), b.1.to_bits());
    assert!(
        a.2.iter()
            .zip(&b.2)
            .all(|(x, y)| x.to_bits() == y.to_bits())
    );
}

#[test]
fn a_large_dense_operator_reports_its_top_eigenvalues_by_lanczos() {
    // P = LANCZOS_MIN_DIM with a known spectrum (a Householder reflection H = I − 2uuᵀ keeps it
    // cheap to form: H D H): the top 20 by Lanczos equal the known ones, as do the top 20 of
    // a block-diagonal operator made of it and a diagonal block
    let n = LANCZOS_MIN_DIM;
    let eigs: Vec<f64> = (0..n).map(|i| 1e-3 + (i as f64 / 37.0).powi(3)).collect();
    let u: Vec<f64> = (0..n).map(|i| ((i * 7 % 13) as f64 - 6.0) / 10.0).collect();
    let norm = u.iter().map(|v| v * v).sum::<f64>().sqrt();
    let u: Vec<f64> = u.iter().map(|v| v / norm).collect();
    // (H D H)[i, j] = D_i δ_ij − 2 u_i u_j (D_i + D_j) + 4 u_i u_j (uᵀ D u)
    let udu: f64 = (0..n).map(|i| u[i] * u[i] * eigs[i]).sum();
    let f = Mat::from_fn(n, n, |i, j| {
        let d = if i == j { eigs[i] } else { 0.0 };
        d - 2.0 * u[i] * u[j] * (eigs[i] + eigs[j]) + 4.0 * u[i] * u[j] * udu
    });
    let dense = Dense::new(f).unwrap();
    let top = dense.top_eigenvalues(20).unwrap();
    for (i, v) in top.iter().enumerate() {
        let want = eigs[n - 1 - i];
        assert!((v - want).abs() <= 1e-8 * want, "{i}: {v} vs {want}");
    }
    let blocks = BlockDiagonal::new(vec![
        Box::new(dense),
        Box::new(Diagonal::new(vec![eigs[n - 3] + 0.5, 0.1]).unwrap()),
    ])
    .unwrap();
    let top = blocks.top_eigenvalues(3).unwrap();
    let want = [eigs[n - 1], eigs[n - 2], eigs[n - 3] + 0.5];
    for (v, w) in top.iter().zip(want) {
        assert!((v - w).abs() <= 1e-8 * w, "{v} vs {w}");
    }
}
