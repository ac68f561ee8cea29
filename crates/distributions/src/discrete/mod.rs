//! Discrete families. Observations are counts (or 0-based category indices) stored as exact
//! integers in `f64`.

mod bernoulli;
mod binomial;
mod categorical;
mod geometric;
mod negative_binomial;
mod poisson;

pub use bernoulli::Bernoulli;
pub use binomial::Binomial;
pub use categorical::Categorical;
pub use geometric::Geometric;
pub use negative_binomial::NegativeBinomial;
pub use poisson::Poisson;

/// `ln(1 − p)` for a dual `p`, accurate for small `p`.
pub(crate) fn ln_one_minus<D: crate::DualNum<Primitive = f64> + Copy>(p: D) -> D {
    (-p).ln_1p()
}

/// Check that a probability lies in the open interval (0, 1).
pub(crate) fn check_probability(family: &'static str, name: &str, p: f64) -> crate::Result<()> {
    crate::check(family, name, p, p > 0.0 && p < 1.0, "must lie in (0, 1)")
}
