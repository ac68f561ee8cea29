//! Multivariate families.

mod dirichlet;
mod multivariate_normal;

pub use dirichlet::Dirichlet;
pub use multivariate_normal::MultivariateNormal;

/// Names of the covariance coordinates of a d-dimensional normal (`cov11, cov12, …`).
pub fn cov_names_for(d: usize) -> Vec<String> {
    multivariate_normal::cov_names(d)
}
