use super::{check_loc_scale, sampler};
use crate::{DualNum, Family, FisherRng, LogDensity, Result, Support, check, check_len};
use fisherlab_autodiff::special::lgamma_f64;
use nalgebra::DMatrix;
use rand::distr::Distribution as _;

/// Location-scale Student t `student_t(loc, scale; df)`, degrees of freedom ν fixed:
/// `p(x) = Γ((ν+1)/2) / (Γ(ν/2) √(νπ) σ) · (1 + z²/ν)^{−(ν+1)/2}`, `z = (x−μ)/σ`.
///
/// # Formula
/// Fisher information in `(μ, σ)`: `diag((ν+1)/((ν+3)σ²), 2ν/((ν+3)σ²))`
/// (Lange, Little & Taylor 1989, JASA 84, §3).
#[derive(Debug, Clone)]
pub struct StudentT {
    loc: f64,
    scale: f64,
    df: f64,
    norm: f64,
    sampler: rand_distr::StudentT<f64>,
}

impl StudentT {
    /// `t_ν(loc, scale)`.
    ///
    /// # Errors
    /// `loc` not finite, `scale ≤ 0`, `df ≤ 0`, or any not finite.
    pub fn new(loc: f64, scale: f64, df: f64) -> Result<Self> {
        check_loc_scale("student_t", ["loc", "scale"], loc, scale)?;
        check("student_t", "df", df, df > 0.0, "must be > 0")?;
        let sampler = sampler("student_t", rand_distr::StudentT::new(df))?;
        let norm = lgamma_f64(0.5 * (df + 1.0))
            - lgamma_f64(0.5 * df)
            - 0.5 * (df * std::f64::consts::PI).ln();
        Ok(Self {
            loc,
            scale,
            df,
            norm,
            sampler,
        })
    }
}

impl Family for StudentT {
    fn name(&self) -> &'static str {
        "student_t"
    }
    fn param_names(&self) -> Vec<String> {
        vec!["loc".into(), "scale".into()]
    }
    fn params(&self) -> Vec<f64> {
        vec![self.loc, self.scale]
    }
    fn fixed(&self) -> Vec<(&'static str, f64)> {
        vec![("df", self.df)]
    }
    fn support(&self) -> Support {
        Support::Real
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        out[0] = self.loc + self.scale * self.sampler.sample(rng);
    }
    fn fisher(&self) -> DMatrix<f64> {
        let (nu, s2) = (self.df, self.scale * self.scale);
        DMatrix::from_diagonal(&nalgebra::dvector![
            (nu + 1.0) / ((nu + 3.0) * s2),
            2.0 * nu / ((nu + 3.0) * s2)
        ])
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        vec![(self.loc, self.scale)]
    }
}

impl LogDensity for StudentT {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        let z = (-t[0] + x[0]) / t[1];
        -t[1].ln() - (z * z / self.df).ln_1p() * (0.5 * (self.df + 1.0)) + self.norm
    }
    fn with_params(&self, theta: &[f64]) -> Result<Self> {
        check_len("student_t", theta, 2)?;
        Self::new(theta[0], theta[1], self.df)
    }
}
