use crate::{DualNum, Family, FisherRng, LN_2PI, LogDensity, Result, Support, check, check_len};
use fisherlab_autodiff::special::{bessel_ratio, ln_bessel_i0};
use nalgebra::DMatrix;
use rand::RngExt;
use std::f64::consts::PI;

/// Von Mises distribution `von_mises(mu, kappa)` on the circle:
/// `p(x) = e^{κ cos(x−μ)} / (2π I₀(κ))`.
///
/// # Formula
/// Fisher information: `diag(κ A(κ), 1 − A(κ)/κ − A(κ)²)`, `A = I₁/I₀`
/// (Mardia & Jupp, *Directional Statistics*, §5.3). Bessel functions from `pxfm` (exponentially
/// scaled, so κ in the thousands does not overflow).
///
/// Sampling: Best & Fisher (1979), *Applied Statistics* 28, 152–157 (no maintained sampler exists
/// in rand_distr or statrs); samples lie in `[μ − π, μ + π)`.
#[derive(Debug, Clone)]
pub struct VonMises {
    mu: f64,
    kappa: f64,
}

impl VonMises {
    /// `VonMises(mu, kappa)`.
    ///
    /// # Errors
    /// `mu` not finite, `kappa ≤ 0` or not finite.
    pub fn new(mu: f64, kappa: f64) -> Result<Self> {
        check("von_mises", "mu", mu, true, "must be finite")?;
        check("von_mises", "kappa", kappa, kappa > 0.0, "must be > 0")?;
        Ok(Self { mu, kappa })
    }
}

impl Family for VonMises {
    fn name(&self) -> &'static str {
        "von_mises"
    }
    fn param_names(&self) -> Vec<String> {
        vec!["mu".into(), "kappa".into()]
    }
    fn params(&self) -> Vec<f64> {
        vec![self.mu, self.kappa]
    }
    fn support(&self) -> Support {
        Support::Circle
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        let k = self.kappa;
        // Best–Fisher: wrapped-Cauchy envelope; τ, ρ, r as in the paper (stable for small κ)
        let tau = 1.0 + (1.0 + 4.0 * k * k).sqrt();
        let rho = (tau - (2.0 * tau).sqrt()) / (2.0 * k);
        let r = (1.0 + rho * rho) / (2.0 * rho);
        loop {
            let u1: f64 = rng.random();
            let z = (PI * u1).cos();
            let f = (1.0 + r * z) / (r + z);
            let c = k * (r - f);
            let u2: f64 = rng.random();
            if c * (2.0 - c) - u2 > 0.0 || (c / u2).ln() + 1.0 - c >= 0.0 {
                let u3: f64 = rng.random();
                let theta = f.clamp(-1.0, 1.0).acos();
                let x = if u3 > 0.5 { theta } else { -theta };
                out[0] = self.mu + x;
                return;
            }
        }
    }
    fn fisher(&self) -> DMatrix<f64> {
        let k = self.kappa;
        let a = bessel_ratio(k);
        DMatrix::from_diagonal(&nalgebra::dvector![k * a, 1.0 - a / k - a * a])
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        vec![(self.mu, (1.0 / self.kappa.sqrt()).min(PI))]
    }
}

impl LogDensity for VonMises {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        t[1] * (-t[0] + x[0]).cos() - ln_bessel_i0(t[1]) - LN_2PI
    }
    fn with_params(&self, theta: &[f64]) -> Result<Self> {
        check_len("von_mises", theta, 2)?;
        Self::new(theta[0], theta[1])
    }
}
