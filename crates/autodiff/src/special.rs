//! Special functions that accept dual numbers.
//!
//! Each function is evaluated in `f64` by a maintained crate (`special`: `lgamma`, `digamma`,
//! `trigamma`; `pxfm`: exponentially scaled Bessel functions) and lifted to any
//! [`DualNum`] with its exact derivatives through a truncated Taylor expansion in the dual
//! (nilpotent) part: `f(x) = Σₖ f⁽ᵏ⁾(re x)/k! · (x − re x)ᵏ`, `k ≤ D::NDERIV`. This is exact dual
//! arithmetic, so log-densities that use these functions are differentiated to second order (and
//! to third where the third derivative is provided) by the same generic code as `exp` and `ln`.
//!
//! The polygamma functions of order 2 and 3 are not offered by any maintained Rust crate; they
//! are computed here by recurrence and the asymptotic (Bernoulli) series and tested against
//! tabulated values (`ψ''(1) = −2ζ(3)`, `ψ'''(1) = π⁴/15`). The tests hold `special`'s gamma
//! functions to `pxfm`'s correctly rounded ones.

use crate::DualNum;

/// `softplus(x) = ln(1 + eˣ)` without overflow, for any scalar type (the activation and the
/// Bernoulli-logit head's log-likelihood).
///
/// # Examples
/// ```
/// use fisherlab_autodiff::special::softplus;
/// assert!((softplus(0.0_f64) - std::f64::consts::LN_2).abs() < 1e-16);
/// assert_eq!(softplus(800.0_f64), 800.0); // no overflow
/// ```
#[inline]
pub fn softplus<D: DualNum<Primitive = f64> + Copy>(x: D) -> D {
    if x.re() > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// Lift a scalar function to dual numbers from its value and derivatives at `re x`.
///
/// `derivs(k)` returns the k-th derivative at `re x`; it is called only for `k ≤ D::NDERIV`
/// (at most 3).
#[inline]
pub fn lift<D: DualNum<Primitive = f64> + Copy>(x: D, derivs: impl Fn(usize) -> f64) -> D {
    let x0 = x.re();
    let mut out = D::from(derivs(0));
    if D::NDERIV == 0 {
        return out;
    }
    let d = x - x0;
    out += d * derivs(1);
    if D::NDERIV >= 2 {
        let d2 = d * d;
        out += d2 * (derivs(2) * 0.5);
        if D::NDERIV >= 3 {
            out += d2 * d * (derivs(3) / 6.0);
        }
    }
    out
}

/// `ln Γ(x)` for `x > 0`, any scalar type (derivatives: ψ, ψ₁, ψ₂).
pub fn lgamma<D: DualNum<Primitive = f64> + Copy>(x: D) -> D {
    lift(x, |k| match k {
        0 => lgamma_f64(x.re()),
        1 => digamma_f64(x.re()),
        2 => trigamma(x.re()),
        _ => polygamma(2, x.re()),
    })
}

/// Digamma `ψ(x) = d/dx ln Γ(x)`, any scalar type.
pub fn digamma<D: DualNum<Primitive = f64> + Copy>(x: D) -> D {
    lift(x, |k| match k {
        0 => digamma_f64(x.re()),
        1 => trigamma(x.re()),
        2 => polygamma(2, x.re()),
        _ => polygamma(3, x.re()),
    })
}

/// Trigamma `ψ₁(x)` in `f64` for `x > 0` (from `special`; within 10 ulp of `pxfm`'s correctly
/// rounded trigamma, at a sixth of the cost). NaN for `x ≤ 0`.
pub fn trigamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    special::Gamma::trigamma(&x)
}

/// Digamma `ψ(x)` in `f64` for `x > 0` (from `special`). NaN for `x ≤ 0`.
pub fn digamma_f64(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    special::Gamma::digamma(x)
}

/// `ln Γ(x)` in `f64` for `x > 0` (from `special`). NaN for `x ≤ 0`.
pub fn lgamma_f64(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    special::Gamma::ln_gamma(x).0
}

/// Polygamma `ψ⁽ⁿ⁾(x)` for `n ∈ {1, 2, 3}` and `x > 0` (`n = 1` is [`trigamma`]).
///
/// Recurrence `ψ⁽ⁿ⁾(x) = ψ⁽ⁿ⁾(x+1) − (−1)ⁿ n!/xⁿ⁺¹` up to `x ≥ 12`, then the asymptotic series
/// `(−1)ⁿ⁺¹ [ (n−1)!/xⁿ + n!/(2xⁿ⁺¹) + Σₖ B₂ₖ (2k+n−1)!/((2k)! x²ᵏ⁺ⁿ) ]`, accurate to a few ulp.
/// Returns NaN for `x ≤ 0` or other orders.
pub fn polygamma(n: u32, x: f64) -> f64 {
    if !(1..=3).contains(&n) || x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    if n == 1 {
        return trigamma(x);
    }
    let fact = |k: u32| (1..=k).map(f64::from).product::<f64>();
    let sign = if n % 2 == 1 { 1.0 } else { -1.0 }; // (−1)ⁿ⁺¹
    if x > 1e15 {
        // the leading term alone; the others are below rounding
        return sign * fact(n - 1) / x.powi(n as i32);
    }
    let mut acc = 0.0;
    let mut y = x;
    while y < 12.0 {
        // ψ⁽ⁿ⁾(y) = ψ⁽ⁿ⁾(y+1) + (−1)ⁿ⁺¹ n!/yⁿ⁺¹
        acc += sign * fact(n) / y.powi(n as i32 + 1);
        y += 1.0;
    }
    // Bernoulli numbers B₂, B₄, …, B₁₈
    const B2K: [f64; 9] = [
        1.0 / 6.0,
        -1.0 / 30.0,
        1.0 / 42.0,
        -1.0 / 30.0,
        5.0 / 66.0,
        -691.0 / 2730.0,
        7.0 / 6.0,
        -3617.0 / 510.0,
        43867.0 / 798.0,
    ];
    let mut series = fact(n - 1) / y.powi(n as i32) + fact(n) / (2.0 * y.powi(n as i32 + 1));
    for (k, b) in B2K.iter().enumerate() {
        let k = k as u32 + 1;
        series += b * fact(2 * k + n - 1) / (fact(2 * k) * y.powi((2 * k + n) as i32));
    }
    acc + sign * series
}

/// Bessel ratio `A(κ) = I₁(κ)/I₀(κ)` for `κ ≥ 0`, without overflow (scaled Bessel functions).
pub fn bessel_ratio(kappa: f64) -> f64 {
    pxfm::f_i1e(kappa) / pxfm::f_i0e(kappa)
}

/// `ln I₀(κ)` for `κ ≥ 0`, any scalar type; stable for large κ (`ln I₀(κ) = ln(e^{−κ}I₀(κ)) + κ`).
///
/// Derivatives: `A(κ)`, `A'(κ) = 1 − A/κ − A²`, and `A''(κ) = −A'/κ + A/κ² − 2AA'`
/// (small-κ limits `A ≈ κ/2`, `A' → 1/2`, `A'' → 0` below κ = 1e-6).
pub fn ln_bessel_i0<D: DualNum<Primitive = f64> + Copy>(kappa: D) -> D {
    let k = kappa.re();
    let i0e = pxfm::f_i0e(k);
    let value = i0e.ln() + k;
    if D::NDERIV == 0 {
        return D::from(value);
    }
    let a = pxfm::f_i1e(k) / i0e;
    let small = k < 1e-6;
    let a1 = if small {
        0.5 - 3.0 * k * k / 16.0
    } else {
        1.0 - a / k - a * a
    };
    let a2 = if small {
        -3.0 * k / 8.0
    } else {
        -a1 / k + a / (k * k) - 2.0 * a * a1
    };
    lift(kappa, |order| match order {
        0 => value,
        1 => a,
        2 => a1,
        _ => a2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_dual::{Dual2_64, Dual3_64, third_derivative};

    // ζ(3) (Apéry's constant), tabulated.
    const ZETA3: f64 = 1.202_056_903_159_594_3;

    #[test]
    fn polygamma_matches_tabulated_values() {
        let pi4 = std::f64::consts::PI.powi(4);
        // DLMF 5.15.2–5.15.3: ψ⁽ⁿ⁾(1) = (−1)ⁿ⁺¹ n! ζ(n+1); ψ⁽ⁿ⁾(1/2) = (−1)ⁿ⁺¹ n! (2ⁿ⁺¹−1) ζ(n+1)
        let cases = [
            (2, 1.0, -2.0 * ZETA3),
            (3, 1.0, pi4 / 15.0),
            (2, 0.5, -14.0 * ZETA3),
            (3, 0.5, pi4),
            (1, 1.0, std::f64::consts::PI.powi(2) / 6.0),
        ];
        for (n, x, expect) in cases {
            let got = polygamma(n, x);
            assert!(
                (got - expect).abs() < 4e-15 * expect.abs(),
                "psi^({n})({x}) = {got} vs {expect}"
            );
        }
        // large argument: ψ₂(x) = −1/x² − 1/x³ − 1/(2x⁴) + O(x⁻⁶)
        let x: f64 = 1e4;
        let lead = -1.0 / x.powi(2) - 1.0 / x.powi(3) - 0.5 / x.powi(4);
        assert!((polygamma(2, x) - lead).abs() < 1e-15 * lead.abs());
        assert!(polygamma(2, -1.0).is_nan());
    }

    #[test]
    fn trigamma_matches_the_correctly_rounded_one() {
        let mut x = 1e-3;
        while x < 1e9 {
            let (a, b) = (trigamma(x), pxfm::f_trigamma(x));
            assert!(
                (a - b).abs() <= 4.0 * f64::EPSILON * b.abs(),
                "x = {x}: {a} vs {b}"
            );
            x *= 1.37;
        }
        assert!(trigamma(0.0).is_nan() && trigamma(-1.5).is_nan());
        assert!((trigamma(1e16) - 1e-16).abs() < 1e-30);
    }

    #[test]
    fn digamma_matches_the_correctly_rounded_one() {
        let mut x = 1e-3;
        while x < 1e12 {
            let (a, b) = (digamma_f64(x), pxfm::f_digamma(x));
            // absolute error scaled by the terms that cancel (ψ has a zero at 1.4616…)
            let size = b.abs() + (x.ln()).abs() + 1.0 / x;
            assert!(
                (a - b).abs() <= 8.0 * f64::EPSILON * size,
                "x = {x}: {a} vs {b}"
            );
            x *= 1.21;
        }
        assert!((digamma_f64(1.0) + 0.577_215_664_901_532_9).abs() < 1e-15);
        assert!(digamma_f64(0.0).is_nan());
    }

    #[test]
    fn lgamma_matches_the_correctly_rounded_one() {
        let mut x = 1e-6;
        while x < 1e250 {
            let (a, b) = (lgamma_f64(x), pxfm::f_lgamma(x));
            let size = b.abs() + (x * x.abs().ln()).abs().min(1e300) * 1e-3 + 1.0;
            assert!(
                (a - b).abs() <= 16.0 * f64::EPSILON * size,
                "x = {x}: {a} vs {b}"
            );
            x *= 1.13;
        }
        // exact points: ln Γ(1) = ln Γ(2) = 0, ln Γ(1/2) = ln √π (absolute error: the recurrence
        // cancels terms of size ≈ 13)
        assert!(lgamma_f64(1.0).abs() < 4e-15 && lgamma_f64(2.0).abs() < 4e-15);
        assert!((lgamma_f64(0.5) - 0.5 * std::f64::consts::PI.ln()).abs() < 4e-15);
        assert!(lgamma_f64(-1.0).is_nan());
    }

    #[test]
    fn lgamma_derivatives_through_duals() {
        // d/dx lnΓ = ψ; d²/dx² = ψ₁; d³ = ψ₂ (ψ(1) = −γ, ψ₁(1) = π²/6, ψ₂(1) = −2ζ(3))
        let (f, d1, d2, d3) = third_derivative(|x: Dual3_64| lgamma(x), 1.0);
        assert!(f.abs() < 4e-15);
        assert!((d1 + 0.577_215_664_901_532_9).abs() < 1e-15);
        assert!((d2 - std::f64::consts::PI.powi(2) / 6.0).abs() < 1e-15);
        assert!((d3 + 2.0 * ZETA3).abs() < 1e-14);
    }

    #[test]
    fn bessel_log_i0_and_its_derivatives() {
        // I₀(1) = 1.2660658777520082, I₁(1) = 0.5651591039924851 (A&S table 9.8)
        let v: f64 = ln_bessel_i0(1.0);
        assert!((v - 1.266_065_877_752_008_2f64.ln()).abs() < 1e-15);
        let (_, d1, d2) = num_dual::second_derivative(|k: Dual2_64| ln_bessel_i0(k), 1.0);
        let a = 0.565_159_103_992_485_1 / 1.266_065_877_752_008_2;
        assert!((d1 - a).abs() < 1e-15);
        assert!((d2 - (1.0 - a - a * a)).abs() < 1e-15);
        // third derivative against a central difference of the second
        let h = 1e-4;
        let d2_at = |k: f64| num_dual::second_derivative(|q: Dual2_64| ln_bessel_i0(q), k).2;
        let fd3 = (d2_at(2.0 + h) - d2_at(2.0 - h)) / (2.0 * h);
        let (_, _, _, d3) = third_derivative(|k: Dual3_64| ln_bessel_i0(k), 2.0);
        assert!((d3 - fd3).abs() < 1e-8);
        // κ = 500: no overflow, ln I₀(κ) ≈ κ − ½ ln(2πκ) + 1/(8κ)
        let big: f64 = ln_bessel_i0(500.0);
        let asym = 500.0 - 0.5 * (2.0 * std::f64::consts::PI * 500.0).ln() + 1.0 / 4000.0;
        assert!((big - asym).abs() < 1e-6);
    }
}
