//! Every operation of every structured operator against the same operation on an independently
//! assembled dense matrix (faer's `kron`, explicit `U S Uᵀ + D`, explicit block assembly, explicit
//! `(Q_A⊗Q_G) diag(s) (Q_A⊗Q_G)ᵀ`), with faer's own symmetric eigen-solver and Cholesky as
//! references. Sizes include 1 and values that are not multiples of the SIMD width.

use faer::{Mat, MatRef, Side};
use fisherlab_linalg::*;
use rand::{RngExt, SeedableRng};

type Rng = rand::rngs::Xoshiro256PlusPlus;

fn rng(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

fn gaussian_mat(r: &mut Rng, m: usize, n: usize) -> Mat<f64> {
    // sum of uniforms: cheap, symmetric, unit variance-ish; the tests need only generic matrices
    Mat::from_fn(m, n, |_, _| {
        (0..4).map(|_| r.random::<f64>() - 0.5).sum::<f64>()
    })
}

/// B Bᵀ/k + ε I: SPD (ε > 0) or PSD of rank `k` (ε = 0, k < n).
fn spd(r: &mut Rng, n: usize, k: usize, eps: f64) -> Mat<f64> {
    let b = gaussian_mat(r, n, k);
    let mut a = &b * b.transpose() * faer::Scale(1.0 / k as f64);
    for i in 0..n {
        a[(i, i)] += eps;
    }
    Mat::from_fn(n, n, |i, j| 0.5 * (a[(i, j)] + a[(j, i)]))
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

fn close(a: MatRef<'_, f64>, b: MatRef<'_, f64>, tol: f64, what: &str) {
    assert_eq!(
        (a.nrows(), a.ncols()),
        (b.nrows(), b.ncols()),
        "{what}: shape"
    );
    let scale = b.norm_max().max(1e-300);
    let err = (a - b).norm_max() / scale;
    assert!(err <= tol, "{what}: relative error {err:e} > {tol:e}");
}

/// Reference log-det of F + λI (from faer's eigenvalues) and damped solve (faer's Cholesky).
fn reference(f: &Mat<f64>, lambda: f64, v: MatRef<'_, f64>) -> (f64, Mat<f64>) {
    let eig = f.self_adjoint_eigenvalues(Side::Lower).unwrap();
    let logdet = eig.iter().map(|e| (e + lambda).ln()).sum();
    let mut fl = f.clone();
    for i in 0..f.nrows() {
        fl[(i, i)] += lambda;
    }
    let x = faer::linalg::solvers::Solve::solve(&fl.llt(Side::Lower).unwrap(), v);
    (logdet, x)
}

/// The whole battery: `op` against the dense reference `f`.
fn check(op: &dyn CurvatureOperator, f: &Mat<f64>, seed: u64, label: &str) {
    let n = f.nrows();
    assert_eq!(op.dim(), n, "{label}: dim");
    let mut r = rng(seed);
    let x = gaussian_mat(&mut r, n, 3);
    let tol = 1e-11 * (n as f64).max(1.0);
    close(
        op.apply(x.as_ref()).unwrap().as_ref(),
        (f * &x).as_ref(),
        tol,
        &format!("{label} apply"),
    );
    let mv = op.matvec(x.col_as_slice(0)).unwrap();
    let fx = f * &x;
    for i in 0..n {
        assert!(
            (mv[i] - fx[(i, 0)]).abs() <= tol * fx.norm_max().max(1e-300),
            "{label} matvec"
        );
    }
    close(
        op.to_dense().unwrap().as_ref(),
        f.as_ref(),
        tol,
        &format!("{label} to_dense"),
    );
    let d = op.diagonal().unwrap();
    for i in 0..n {
        assert!(
            (d[i] - f[(i, i)]).abs() <= tol * f.norm_max(),
            "{label} diagonal[{i}]"
        );
    }
    let tr: f64 = (0..n).map(|i| f[(i, i)]).sum();
    assert!(rel(op.trace().unwrap(), tr) <= tol, "{label} trace");
    assert!(
        rel(op.frobenius_norm().unwrap(), f.norm_l2()) <= tol,
        "{label} frobenius"
    );
    for lambda in [1e-3, 0.5, 10.0] {
        let (logdet, sol) = reference(f, lambda, x.as_ref());
        let got = op.solve_damped(lambda, x.as_ref()).unwrap();
        close(
            got.as_ref(),
            sol.as_ref(),
            1e-8,
            &format!("{label} solve λ={lambda}"),
        );
        let inv = op.inverse_damped(lambda).unwrap().to_dense().unwrap();
        let mut fl = f.clone();
        for i in 0..n {
            fl[(i, i)] += lambda;
        }
        close(
            (&fl * &inv).as_ref(),
            Mat::<f64>::identity(n, n).as_ref(),
            1e-8,
            &format!("{label} inverse λ={lambda}"),
        );
        let ld = op.logdet_damped(lambda).unwrap();
        assert!(
            (ld - logdet).abs() <= 1e-10 * logdet.abs().max(1.0),
            "{label} logdet λ={lambda}: {ld} vs {logdet}"
        );
    }
    // spectrum: exact where the operator offers it, the top by Lanczos otherwise
    let eig = f.self_adjoint_eigenvalues(Side::Lower).unwrap();
    let top = eig.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    match op.eigenvalues() {
        Ok(e) => {
            for (a, b) in e.iter().zip(&eig) {
                assert!(
                    (a - b).abs() <= 1e-10 * top.max(1e-300),
                    "{label} eigenvalues {a} vs {b}"
                );
            }
        }
        Err(e) => assert!(matches!(e, Error::NotAvailable { .. }), "{label}: {e}"),
    }
    let k = n.min(3);
    let t = op.top_eigenvalues(k).unwrap();
    for (i, v) in t.iter().enumerate() {
        assert!(
            (v - eig[n - 1 - i]).abs() <= 1e-8 * top,
            "{label} top eigenvalue {i}: {v} vs {}",
            eig[n - 1 - i]
        );
    }
}

#[test]
fn dense_against_faer() {
    for (n, seed) in [(1, 1), (2, 2), (17, 3), (64, 4)] {
        let f = spd(&mut rng(seed), n, n + 2, 0.1);
        check(
            &Dense::new(f.clone()).unwrap(),
            &f,
            seed,
            &format!("dense {n}"),
        );
    }
}

#[test]
fn diagonal_against_dense() {
    for n in [1usize, 5, 33] {
        let d: Vec<f64> = (0..n).map(|i| 0.1 + (i as f64 * 0.37) % 3.0).collect();
        let f = Mat::from_fn(n, n, |i, j| if i == j { d[i] } else { 0.0 });
        check(
            &Diagonal::new(d).unwrap(),
            &f,
            n as u64,
            &format!("diagonal {n}"),
        );
    }
}

#[test]
fn kronecker_against_faer_kron() {
    for (m, n, c) in [
        (1, 1, 1.0),
        (2, 3, 0.7),
        (5, 7, 1.0),
        (9, 8, 2.5),
        (17, 3, 0.3),
    ] {
        let mut r = rng((m * 100 + n) as u64);
        let a = spd(&mut r, m, m + 1, 0.05);
        let g = spd(&mut r, n, n + 1, 0.05);
        let k = Kronecker::new(a.clone(), g.clone())
            .unwrap()
            .scaled(c)
            .unwrap();
        let f = a.kron(&g) * faer::Scale(c);
        check(&k, &f, 7, &format!("kronecker {m}x{n}"));
        // as EKFAC in its own eigenbasis
        check(
            &k.to_ekfac().unwrap(),
            &f,
            8,
            &format!("kronecker→ekfac {m}x{n}"),
        );
    }
}

#[test]
fn kronecker_factored_damping_matches_its_formula() {
    let mut r = rng(11);
    let (m, n, c) = (4, 6, 1.7);
    let a = spd(&mut r, m, m, 0.1);
    let g = spd(&mut r, n, n, 0.1);
    let k = Kronecker::new(a.clone(), g.clone())
        .unwrap()
        .scaled(c)
        .unwrap()
        .with_damping(KroneckerDamping::Factored);
    let lambda = 0.3;
    // Martens & Grosse §6.3: c·(A + π√(λ/c) I) ⊗ (G + √(λ/c)/π I), π = √((tr A/m)/(tr G/n))
    let ta: f64 = (0..m).map(|i| a[(i, i)]).sum::<f64>() / m as f64;
    let tg: f64 = (0..n).map(|i| g[(i, i)]).sum::<f64>() / n as f64;
    let pi = (ta / tg).sqrt();
    assert!(rel(k.pi(), pi) < 1e-15);
    let s = (lambda / c).sqrt();
    let ad = Mat::from_fn(m, m, |i, j| a[(i, j)] + if i == j { pi * s } else { 0.0 });
    let gd = Mat::from_fn(n, n, |i, j| g[(i, j)] + if i == j { s / pi } else { 0.0 });
    let approx = ad.kron(&gd) * faer::Scale(c);
    let x = gaussian_mat(&mut r, m * n, 2);
    let want = faer::linalg::solvers::Solve::solve(&approx.llt(Side::Lower).unwrap(), x.as_ref());
    close(
        k.solve_damped(lambda, x.as_ref()).unwrap().as_ref(),
        want.as_ref(),
        1e-10,
        "factored solve",
    );
    let inv = k.inverse_damped(lambda).unwrap();
    assert_eq!(
        inv.kind(),
        "kronecker",
        "the factored inverse stays a Kronecker product"
    );
    close(
        (&approx * inv.to_dense().unwrap()).as_ref(),
        Mat::<f64>::identity(m * n, m * n).as_ref(),
        1e-10,
        "factored inverse",
    );
    // and it is only an approximation of the exact damped inverse
    let exact = k
        .with_damping(KroneckerDamping::Exact)
        .solve_damped(lambda, x.as_ref())
        .unwrap();
    assert!((&exact - k.solve_damped(lambda, x.as_ref()).unwrap()).norm_max() > 1e-6);
}

#[test]
fn ekfac_against_its_dense_form() {
    for (m, n) in [(1, 1), (3, 5), (7, 9)] {
        let mut r = rng((m * 31 + n) as u64);
        let (_, qa) = {
            let evd = spd(&mut r, m, m, 0.1)
                .self_adjoint_eigen(Side::Lower)
                .unwrap();
            ((), evd.U().to_owned())
        };
        let qg = spd(&mut r, n, n, 0.1)
            .self_adjoint_eigen(Side::Lower)
            .unwrap()
            .U()
            .to_owned();
        let s: Vec<f64> = (0..m * n).map(|_| r.random::<f64>() * 2.0).collect();
        let op = Ekfac::new(qa.clone(), qg.clone(), s.clone()).unwrap();
        let q = qa.kron(&qg);
        let sd = Mat::from_fn(m * n, m * n, |i, j| if i == j { s[i] } else { 0.0 });
        let f = &q * sd * q.transpose();
        check(&op, &f, 3, &format!("ekfac {m}x{n}"));
        // projection: coordinates in the basis are Qᵀx
        let x = gaussian_mat(&mut r, m * n, 2);
        close(
            op.project(x.as_ref()).unwrap().as_ref(),
            (q.transpose() * &x).as_ref(),
            1e-12,
            "ekfac project",
        );
    }
    let not_orthogonal = Mat::from_fn(2, 2, |_, _| 1.0);
    assert!(Ekfac::new(not_orthogonal, Mat::identity(1, 1), vec![1.0, 1.0]).is_err());
}

#[test]
fn low_rank_plus_diagonal_against_dense() {
    for (p, k, iso) in [
        (1, 1, true),
        (7, 2, false),
        (33, 5, true),
        (100, 5, false),
        (6, 9, false),
    ] {
        let mut r = rng((p * 7 + k) as u64);
        let u = gaussian_mat(&mut r, p, k);
        let s: Vec<f64> = (0..k).map(|i| 0.5 + i as f64).collect();
        let d: Vec<f64> = (0..p)
            .map(|i| if iso { 0.8 } else { 0.2 + (i % 5) as f64 * 0.3 })
            .collect();
        let op = LowRankPlusDiagonal::new(u.clone(), s.clone(), d.clone()).unwrap();
        let sd = Mat::from_fn(k, k, |i, j| if i == j { s[i] } else { 0.0 });
        let mut f = &u * sd * u.transpose();
        for i in 0..p {
            f[(i, i)] += d[i];
        }
        let f = Mat::from_fn(p, p, |i, j| 0.5 * (f[(i, j)] + f[(j, i)]));
        check(&op, &f, 5, &format!("low-rank {p}/{k}"));
        if !iso {
            assert!(matches!(op.eigenvalues(), Err(Error::NotAvailable { .. })));
        }
        // the damped inverse is itself low-rank + diagonal, and inverts back
        let inv = op.inverse_damped(0.2).unwrap();
        assert_eq!(inv.kind(), "low-rank+diagonal");
        let x = gaussian_mat(&mut r, p, 1);
        let back = inv.solve_damped(0.0, x.as_ref()).unwrap();
        let mut fl = f.clone();
        for i in 0..p {
            fl[(i, i)] += 0.2;
        }
        close(
            back.as_ref(),
            (&fl * &x).as_ref(),
            1e-9,
            "low-rank inverse of inverse",
        );
    }
}

#[test]
fn block_diagonal_of_mixed_blocks() {
    let mut r = rng(21);
    let a = spd(&mut r, 3, 4, 0.1);
    let g = spd(&mut r, 2, 3, 0.1);
    let dn = spd(&mut r, 5, 6, 0.1);
    let dg = vec![0.3, 1.1];
    let op = BlockDiagonal::new(vec![
        Box::new(Kronecker::new(a.clone(), g.clone()).unwrap()),
        Box::new(Dense::new(dn.clone()).unwrap()),
        Box::new(Diagonal::new(dg.clone()).unwrap()),
    ])
    .unwrap();
    let n = 6 + 5 + 2;
    let mut f = Mat::zeros(n, n);
    f.as_mut().submatrix_mut(0, 0, 6, 6).copy_from(a.kron(&g));
    f.as_mut().submatrix_mut(6, 6, 5, 5).copy_from(&dn);
    f[(11, 11)] = dg[0];
    f[(12, 12)] = dg[1];
    check(&op, &f, 9, "block-diagonal");
    assert_eq!(op.offsets(), &[0, 6, 11, 13]);
}

#[test]
fn pseudo_inverse_of_rank_deficient_fisher() {
    // categorical logits Fisher diag(p) − ppᵀ: rank K−1, null space spanned by 1
    let p = [0.1, 0.2, 0.3, 0.4];
    let f = Mat::from_fn(4, 4, |i, j| {
        if i == j {
            p[i] - p[i] * p[j]
        } else {
            -p[i] * p[j]
        }
    });
    let op = Dense::new(f.clone()).unwrap();
    assert_eq!(op.rank(1e-10).unwrap(), 3);
    assert!(matches!(
        op.solve_damped(0.0, Mat::<f64>::identity(4, 1).as_ref()),
        Err(Error::Singular { .. })
    ));
    let pinv = op.pseudo_inverse(1e-10).unwrap();
    let pm = pinv.matrix().to_owned();
    // Moore–Penrose conditions: F F⁺ F = F, F⁺ F F⁺ = F⁺, F F⁺ symmetric
    close((&f * &pm * &f).as_ref(), f.as_ref(), 1e-12, "F F+ F");
    close((&pm * &f * &pm).as_ref(), pm.as_ref(), 1e-12, "F+ F F+");
    let ffp = &f * &pm;
    close(ffp.as_ref(), ffp.transpose(), 1e-12, "F F+ symmetric");
    // F⁺ 1 = 0 (1 is in the null space)
    let ones = Mat::from_fn(4, 1, |_, _| 1.0);
    assert!((&pm * &ones).norm_max() < 1e-12);
}

#[test]
fn singular_and_bad_inputs_are_typed_errors() {
    let mut r = rng(5);
    let singular = spd(&mut r, 6, 3, 0.0); // rank 3
    let op = Dense::new(singular.clone()).unwrap();
    let b = gaussian_mat(&mut r, 6, 1);
    assert!(matches!(
        op.solve_damped(0.0, b.as_ref()),
        Err(Error::Singular { .. })
    ));
    assert!(matches!(op.logdet_damped(0.0), Err(Error::Singular { .. })));
    assert!(matches!(
        op.solve_damped(-1.0, b.as_ref()),
        Err(Error::InvalidDamping { .. })
    ));
    assert!(matches!(
        op.solve_damped(f64::NAN, b.as_ref()),
        Err(Error::InvalidDamping { .. })
    ));
    // λ = 1e-12 on a singular matrix: a correct damped solve (tiny residual) or a typed error
    match op.solve_damped(1e-12, b.as_ref()) {
        Ok(x) => {
            assert!(x.norm_max().is_finite());
            let mut fl = singular.clone();
            for i in 0..6 {
                fl[(i, i)] += 1e-12;
            }
            let res = (&fl * &x - &b).norm_max() / b.norm_max();
            assert!(res < 1e-3, "residual {res}");
        }
        Err(e) => assert!(matches!(e, Error::Singular { .. })),
    }
    let mut nan = singular.clone();
    nan[(2, 3)] = f64::NAN;
    assert!(matches!(Dense::new(nan), Err(Error::NonFinite { .. })));
    let mut asym = singular.clone();
    asym[(0, 1)] += 1.0;
    assert!(matches!(Dense::new(asym), Err(Error::NotSymmetric { .. })));
    let mut bad_rhs = b.clone();
    bad_rhs[(0, 0)] = f64::INFINITY;
    assert!(matches!(
        op.apply(bad_rhs.as_ref()),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        op.apply(Mat::<f64>::zeros(5, 1).as_ref()),
        Err(Error::DimensionMismatch { .. })
    ));
    // Kronecker with a singular factor: λ = 0 is singular, λ > 0 is fine
    let k = Kronecker::new(spd(&mut r, 3, 1, 0.0), spd(&mut r, 2, 2, 0.1)).unwrap();
    let kb = gaussian_mat(&mut r, 6, 1);
    assert!(matches!(
        k.solve_damped(0.0, kb.as_ref()),
        Err(Error::Singular { .. })
    ));
    assert!(k.solve_damped(1e-3, kb.as_ref()).is_ok());
    // a factor with a negative eigenvalue is reported when the spectrum is needed
    let indefinite =
        Kronecker::new(faer::mat![[1.0, 2.0], [2.0, 1.0]], Mat::identity(1, 1)).unwrap();
    assert!(matches!(
        indefinite.eigenvalues(),
        Err(Error::Negative { .. })
    ));
    assert!(
        Diagonal::new(vec![0.0, 1.0])
            .unwrap()
            .solve_damped(0.0, Mat::<f64>::identity(2, 1).as_ref())
            .is_err()
    );
    let lr =
        LowRankPlusDiagonal::new(Mat::from_fn(3, 1, |_, _| 1.0), vec![1.0], vec![0.0; 3]).unwrap();
    assert!(matches!(
        lr.solve_damped(0.0, Mat::<f64>::identity(3, 1).as_ref()),
        Err(Error::Singular { .. })
    ));
    assert!(LowRankPlusDiagonal::new(Mat::zeros(3, 1), vec![-1.0], vec![0.0; 3]).is_err());
    assert!(matches!(
        op.pseudo_inverse(1.5),
        Err(Error::InvalidArgument { .. })
    ));
}

#[test]
fn sum_of_kronecker_and_diagonal() {
    let mut r = rng(31);
    let a = spd(&mut r, 3, 4, 0.1);
    let g = spd(&mut r, 4, 5, 0.1);
    let d: Vec<f64> = (0..12).map(|i| 0.05 * (i as f64 + 1.0)).collect();
    let op = Sum::new(vec![
        Box::new(Kronecker::new(a.clone(), g.clone()).unwrap()),
        Box::new(Diagonal::new(d.clone()).unwrap()),
    ])
    .unwrap();
    let mut f = a.kron(&g);
    for i in 0..12 {
        f[(i, i)] += d[i];
    }
    let x = gaussian_mat(&mut r, 12, 2);
    close(
        op.apply(x.as_ref()).unwrap().as_ref(),
        (&f * &x).as_ref(),
        1e-12,
        "sum apply",
    );
    close(
        op.to_dense().unwrap().as_ref(),
        f.as_ref(),
        1e-12,
        "sum dense",
    );
    let (_, sol) = reference(&f, 0.3, x.as_ref());
    close(
        op.solve_damped(0.3, x.as_ref()).unwrap().as_ref(),
        sol.as_ref(),
        1e-8,
        "sum solve (CG)",
    );
    let tr: f64 = (0..12).map(|i| f[(i, i)]).sum();
    assert!(rel(op.trace().unwrap(), tr) < 1e-13);
    let eig = f.self_adjoint_eigenvalues(Side::Lower).unwrap();
    assert!((op.top_eigenvalues(1).unwrap()[0] - eig[11]).abs() < 1e-8 * eig[11]);
    assert!(matches!(
        op.logdet_damped(0.1),
        Err(Error::NotAvailable { .. })
    ));
    assert!(
        Sum::new(vec![
            Box::new(Diagonal::new(vec![1.0]).unwrap()),
            Box::new(Diagonal::new(vec![1.0, 2.0]).unwrap())
        ])
        .is_err()
    );
}

#[test]
fn permuted_kronecker_against_explicit_permutation() {
    let mut r = rng(91);
    let a = spd(&mut r, 3, 4, 0.05);
    let g = spd(&mut r, 4, 5, 0.05);
    let inner = a.kron(&g);
    // a fixed scrambling of 0..12: internal k shown at public (5k + 3) mod 12
    let perm: Vec<usize> = (0..12).map(|k| (5 * k + 3) % 12).collect();
    // reference: F[perm[i], perm[j]] = inner[i, j], assembled entry by entry
    let mut f = Mat::zeros(12, 12);
    for i in 0..12 {
        for j in 0..12 {
            f[(perm[i], perm[j])] = inner[(i, j)];
        }
    }
    let op = Permuted::new(Box::new(Kronecker::new(a, g).unwrap()), perm).unwrap();
    check(&op, &f, 12, "permuted kronecker");
    assert!(Permuted::new(Box::new(Diagonal::new(vec![1.0, 2.0]).unwrap()), vec![1, 1]).is_err());
    assert!(Permuted::new(Box::new(Diagonal::new(vec![1.0, 2.0]).unwrap()), vec![0]).is_err());
}

#[test]
fn gram_add_is_the_full_product_and_exactly_symmetric() {
    // against an explicit triple loop (no faer product), for shapes below and above the
    // parallel threshold, and with accumulation into a non-zero matrix
    let mut r = rng(41);
    for (m, n) in [(1, 1), (7, 3), (300, 130), (2000, 70)] {
        let a = gaussian_mat(&mut r, m, n);
        let start = gaussian_mat(&mut r, n, n);
        let start = &start + start.transpose();
        let mut got = start.clone();
        gram_add(got.as_mut(), a.as_ref(), 0.5);
        for i in 0..n {
            for j in 0..n {
                let want = start[(i, j)] + 0.5 * (0..m).map(|k| a[(k, i)] * a[(k, j)]).sum::<f64>();
                assert!(
                    (got[(i, j)] - want).abs() < 1e-12 * (1.0 + want.abs()),
                    "{m}x{n}"
                );
                assert_eq!(got[(i, j)].to_bits(), got[(j, i)].to_bits());
            }
        }
    }
}
