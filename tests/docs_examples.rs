//! The Rust example of docs/validate-a-closed-form.md, compiled and run.

use fisherlab::distributions::{DualNum, Family, FisherRng, LogDensity, Result, Support};
use fisherlab::fisher::{
    McForm, MonteCarloOptions, QuadratureOptions, exact_expectation, monte_carlo,
};
use nalgebra::DMatrix;
use rand::distr::Distribution;

/// Rayleigh(σ): p(x) = x/σ² exp(−x²/(2σ²)), x > 0. Claimed Fisher: 4/σ².
#[derive(Clone)]
struct Rayleigh {
    sigma: f64,
}

impl Family for Rayleigh {
    fn name(&self) -> &'static str {
        "rayleigh"
    }
    fn param_names(&self) -> Vec<String> {
        vec!["sigma".into()]
    }
    fn params(&self) -> Vec<f64> {
        vec![self.sigma]
    }
    fn support(&self) -> Support {
        Support::Positive
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        let e: f64 = rand_distr::Exp1.sample(rng);
        out[0] = self.sigma * (2.0 * e).sqrt();
    }
    fn fisher(&self) -> DMatrix<f64> {
        DMatrix::from_element(1, 1, 4.0 / self.sigma.powi(2))
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        vec![(self.sigma.ln(), 1.0)]
    }
}

impl LogDensity for Rayleigh {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        let s = t[0];
        -(s * s).ln() + x[0].ln() - (s * s * 2.0).recip() * (x[0] * x[0])
    }
    fn with_params(&self, t: &[f64]) -> Result<Self> {
        Ok(Rayleigh { sigma: t[0] })
    }
}

#[test]
fn validate_a_user_family() {
    let r = Rayleigh { sigma: 1.7 };
    let report = exact_expectation(&r, &QuadratureOptions::default()).unwrap();
    assert!((report.mass - 1.0).abs() < 1e-9);
    assert!(report.score_mean[0].abs() < 1e-9);
    let gap = (report.fisher.matrix[(0, 0)] - r.fisher()[(0, 0)]).abs() / r.fisher()[(0, 0)];
    assert!(gap < 1e-9);
    // and a wrong claim (the common slip 2/σ² instead of 4/σ²) is caught
    assert!((report.fisher.matrix[(0, 0)] - 2.0 / 1.7f64.powi(2)).abs() > 0.1);
    for form in [McForm::Score, McForm::NegativeHessian] {
        let mc = monte_carlo(
            &r,
            &MonteCarloOptions {
                samples: 50_000,
                seed: 9,
                form,
            },
        )
        .unwrap();
        let z = (mc.matrix[(0, 0)] - r.fisher()[(0, 0)]).abs() / mc.std_error.unwrap()[(0, 0)];
        assert!(z < 4.0, "{form:?}: {z} SE");
    }
}
