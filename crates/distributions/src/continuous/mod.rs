//! Continuous scalar families.

mod beta;
mod cauchy;
mod exponential;
mod gamma;
mod gumbel;
mod laplace;
mod loc_scale;
mod logistic;
mod lognormal;
mod normal;
mod student_t;
mod von_mises;
mod weibull;

pub use beta::Beta;
pub use cauchy::{Cauchy, StandardCauchy};
pub use exponential::Exponential;
pub use gamma::Gamma;
pub use gumbel::{Gumbel, StandardGumbel};
pub use laplace::{Laplace, StandardLaplace};
pub use loc_scale::{LocScale, Standard};
pub use logistic::{Logistic, LogisticSampler, StandardLogistic};
pub use lognormal::{LogNormal, StandardLogNormal};
pub use normal::{Normal, StandardNormal};
pub use student_t::StudentT;
pub use von_mises::VonMises;
pub use weibull::Weibull;

/// Map a sampler constructor's error (unreachable after validation) to a typed error.
pub(crate) fn sampler<T, E: std::fmt::Display>(
    family: &'static str,
    r: std::result::Result<T, E>,
) -> crate::Result<T> {
    r.map_err(|e| crate::Error::InvalidStructure {
        family,
        what: format!("sampler rejected the parameters: {e}"),
    })
}

/// Validate a location (finite) and a scale (> 0) under the given names.
pub(crate) fn check_loc_scale(
    family: &'static str,
    names: [&str; 2],
    loc: f64,
    scale: f64,
) -> crate::Result<()> {
    crate::check(family, names[0], loc, true, "must be finite")?;
    crate::check(family, names[1], scale, scale > 0.0, "must be > 0")
}
