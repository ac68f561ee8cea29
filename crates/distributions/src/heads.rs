//! Likelihood heads of models: the output distribution `p(y | z)` of a network whose last layer
//! produces `z` (workspace convention 4: `gaussian`, `bernoulli`, `categorical`, `poisson`).
//!
//! Each head knows its log-likelihood (generic over [`DualNum`], so `∇_z log p` comes from
//! autodiff), samples `y`, validates targets, and states its output Fisher `F_z` in closed form
//! together with a factor `L` (`F_z = L Lᵀ`) — the pieces of `F = (1/N) Σ Jᵀ F_z J`. For these
//! canonical-link heads `F_z` is also the Hessian of `−log p` in `z`, so the model Fisher equals
//! the generalized Gauss–Newton matrix.
//!
//! | head | `z` | `y` | `F_z` | `L` |
//! |---|---|---|---|---|
//! | `gaussian` (σ fixed) | means, C | reals, C | `I/σ²` | `I/σ` |
//! | `bernoulli` | logit, 1 | 0 or 1 | `p(1−p)` | `√(p(1−p))` |
//! | `categorical` | logits, C | class index `0..C` | `diag(p) − ppᵀ` (rank C−1) | `(I − p1ᵀ) diag(√p)` |
//! | `poisson` | log-rates, C | counts, C | `diag(λ)` | `diag(√λ)` |

use crate::{DualNum, Error, FisherRng, LN_2PI, Result};
use fisherlab_autodiff::special::{lgamma_f64, softplus};
use nalgebra::DMatrix;
use rand::RngExt;
use rand::distr::Distribution as _;

/// A likelihood head.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Head {
    /// Independent normals with means `z` and a fixed standard deviation.
    Gaussian {
        /// Standard deviation σ > 0.
        sigma: f64,
    },
    /// Bernoulli with logit `z` (one output).
    Bernoulli,
    /// Categorical with logits `z`.
    Categorical,
    /// Independent Poissons with log-rates `z`.
    Poisson,
}

/// Head names accepted by [`Head::from_name`].
pub const HEADS: [&str; 4] = ["gaussian", "bernoulli", "categorical", "poisson"];

fn softmax(z: &[f64]) -> Vec<f64> {
    let m = z.iter().fold(f64::NEG_INFINITY, |a, b| a.max(*b));
    let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// `(σ(z), 1 − σ(z))`, each computed without cancellation.
///
/// # Examples
/// ```
/// let (p, q) = fisherlab_distributions::heads::sigmoid_pair(40.0);
/// assert_eq!(p, 1.0 / (1.0 + (-40f64).exp()));
/// assert!(q > 0.0 && (q - (-40f64).exp()).abs() < 1e-30); // 1 − p would be 0
/// ```
pub fn sigmoid_pair(z: f64) -> (f64, f64) {
    if z >= 0.0 {
        let e = (-z).exp();
        (1.0 / (1.0 + e), e / (1.0 + e))
    } else {
        let e = z.exp();
        (e / (1.0 + e), 1.0 / (1.0 + e))
    }
}

impl Head {
    /// A head by name; `sigma` is used (and required to be > 0) by `gaussian` only (default 1).
    ///
    /// # Errors
    /// [`Error::UnknownLikelihood`] for an unknown name (listing the heads); an invalid σ.
    ///
    /// # Examples
    /// ```
    /// use fisherlab_distributions::heads::Head;
    /// assert_eq!(Head::from_name("categorical", None).unwrap(), Head::Categorical);
    /// assert!(Head::from_name("gaussian", Some(-1.0)).is_err());
    /// ```
    pub fn from_name(name: &str, sigma: Option<f64>) -> Result<Self> {
        match name {
            "gaussian" => {
                let s = sigma.unwrap_or(1.0);
                crate::check("gaussian head", "sigma", s, s > 0.0, "must be > 0")?;
                Ok(Head::Gaussian { sigma: s })
            }
            "bernoulli" => Ok(Head::Bernoulli),
            "categorical" => Ok(Head::Categorical),
            "poisson" => Ok(Head::Poisson),
            _ => Err(Error::UnknownLikelihood {
                name: name.to_string(),
                known: HEADS.join(", "),
            }),
        }
    }

    /// Name as on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Head::Gaussian { .. } => "gaussian",
            Head::Bernoulli => "bernoulli",
            Head::Categorical => "categorical",
            Head::Poisson => "poisson",
        }
    }

    /// Number of target values per example for `c` network outputs.
    pub fn target_dim(&self, c: usize) -> usize {
        match self {
            Head::Gaussian { .. } | Head::Poisson => c,
            Head::Bernoulli | Head::Categorical => 1,
        }
    }

    /// Check that a network with `c` outputs fits this head.
    ///
    /// # Errors
    /// `bernoulli` with `c ≠ 1`; `categorical` with `c < 2`; `c = 0`.
    pub fn check_outputs(&self, c: usize) -> Result<()> {
        let ok = match self {
            Head::Bernoulli => c == 1,
            Head::Categorical => c >= 2,
            _ => c >= 1,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidStructure {
                family: "head",
                what: format!(
                    "the {} head needs {} network outputs, the network has {c}",
                    self.name(),
                    match self {
                        Head::Bernoulli => "exactly 1",
                        Head::Categorical => "at least 2",
                        _ => "at least 1",
                    }
                ),
            })
        }
    }

    /// Check one example's target `y` for `c` outputs.
    ///
    /// # Errors
    /// Wrong length, non-finite values, a label out of range, a negative or fractional count.
    pub fn check_target(&self, y: &[f64], c: usize) -> Result<()> {
        let family = "head";
        if y.len() != self.target_dim(c) {
            return Err(Error::WrongLength {
                family,
                expected: self.target_dim(c),
                got: y.len(),
            });
        }
        for &v in y {
            let (ok, rule) = match self {
                Head::Gaussian { .. } => (v.is_finite(), "must be finite"),
                Head::Bernoulli => (v == 0.0 || v.to_bits() == 1f64.to_bits(), "must be 0 or 1"),
                Head::Categorical => (
                    v >= 0.0 && v < c as f64 && v.fract().abs() < f64::MIN_POSITIVE,
                    "must be a class index in 0..C",
                ),
                Head::Poisson => (
                    v >= 0.0 && v.is_finite() && v.fract().abs() < f64::MIN_POSITIVE,
                    "must be a count (integer >= 0)",
                ),
            };
            if !ok {
                return Err(Error::InvalidParameter {
                    family: "target",
                    name: self.name().to_string(),
                    value: v,
                    rule,
                });
            }
        }
        Ok(())
    }

    /// `log p(y | z)`, generic over the scalar type.
    pub fn log_likelihood<D: DualNum<Primitive = f64> + Copy>(&self, z: &[D], y: &[f64]) -> D {
        match *self {
            Head::Gaussian { sigma } => {
                let mut acc = D::from(0.0);
                for (&zc, &yc) in z.iter().zip(y) {
                    let r = (-zc + yc) / sigma;
                    acc -= r * r * 0.5;
                }
                acc - (sigma.ln() + 0.5 * LN_2PI) * z.len() as f64
            }
            Head::Bernoulli => {
                // y z − log(1 + e^z), stably: −softplus(−z) for y = 1, −softplus(z) for y = 0
                let s = if y[0] > 0.5 { -z[0] } else { z[0] };
                -softplus(s)
            }
            Head::Categorical => {
                let m = z.iter().map(|v| v.re()).fold(f64::NEG_INFINITY, f64::max);
                let mut sum = D::from(0.0);
                for &zc in z {
                    sum += (zc - m).exp();
                }
                z[y[0] as usize] - m - sum.ln()
            }
            Head::Poisson => {
                let mut acc = D::from(0.0);
                for (&zc, &yc) in z.iter().zip(y) {
                    acc += zc * yc - zc.exp() - lgamma_f64(yc + 1.0);
                }
                acc
            }
        }
    }

    /// Draw a target `y ~ p(· | z)` into `out` (length [`target_dim`](Self::target_dim)).
    pub fn sample(&self, z: &[f64], rng: &mut FisherRng, out: &mut [f64]) {
        match *self {
            Head::Gaussian { sigma } => {
                for (o, &zc) in out.iter_mut().zip(z) {
                    let e: f64 = rand_distr::StandardNormal.sample(rng);
                    *o = zc + sigma * e;
                }
            }
            Head::Bernoulli => {
                let u: f64 = rng.random();
                out[0] = if u < sigmoid_pair(z[0]).0 { 1.0 } else { 0.0 };
            }
            Head::Categorical => {
                let p = softmax(z);
                let u: f64 = rng.random();
                let mut acc = 0.0;
                let mut k = p.len() - 1;
                for (i, pi) in p.iter().enumerate() {
                    acc += pi;
                    if u < acc {
                        k = i;
                        break;
                    }
                }
                out[0] = k as f64;
            }
            Head::Poisson => {
                for (o, &zc) in out.iter_mut().zip(z) {
                    // rate e^z is validated finite by the caller's network output
                    *o = rand_distr::Poisson::new(zc.exp())
                        .map(|d| d.sample(rng))
                        .unwrap_or(f64::NAN);
                }
            }
        }
    }

    /// Output Fisher `F_z = E_y[∇_z log p ∇_z log pᵀ]` (C × C), closed form.
    pub fn output_fisher(&self, z: &[f64]) -> DMatrix<f64> {
        let l = self.output_fisher_factor(z);
        &l * l.transpose()
    }

    /// A factor `L` with `F_z = L Lᵀ` (C × K; K = C for every head here).
    pub fn output_fisher_factor(&self, z: &[f64]) -> DMatrix<f64> {
        let c = z.len();
        match *self {
            Head::Gaussian { sigma } => DMatrix::identity(c, c) / sigma,
            Head::Bernoulli => {
                let (p, q) = sigmoid_pair(z[0]);
                DMatrix::from_element(1, 1, (p * q).sqrt())
            }
            Head::Categorical => {
                // column k: √p_k (e_k − p)
                let p = softmax(z);
                DMatrix::from_fn(c, c, |i, k| {
                    let e = if i == k { 1.0 } else { 0.0 };
                    p[k].sqrt() * (e - p[i])
                })
            }
            Head::Poisson => {
                DMatrix::from_fn(c, c, |i, k| if i == k { (0.5 * z[i]).exp() } else { 0.0 })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parameterizations::{LogRate, Logit, Logits};
    use crate::{Family, Reparameterized};
    use fisherlab_autodiff::{ScalarFn, gradient};

    struct At<'a>(Head, &'a [f64]);
    impl ScalarFn for At<'_> {
        fn eval<D: DualNum<Primitive = f64> + Copy>(&self, z: &[D]) -> D {
            self.0.log_likelihood(z, self.1)
        }
    }

    /// E_y[s sᵀ] by enumerating y (bernoulli, categorical) — independent of the closed form.
    fn enumerated_fisher(head: Head, z: &[f64]) -> DMatrix<f64> {
        let c = z.len();
        let ys: Vec<Vec<f64>> = match head {
            Head::Bernoulli => vec![vec![0.0], vec![1.0]],
            Head::Categorical => (0..c).map(|k| vec![k as f64]).collect(),
            _ => unreachable!(),
        };
        let mut f = DMatrix::zeros(c, c);
        let mut mass = 0.0;
        for y in &ys {
            let (lp, s) = gradient(&At(head, y), z);
            let p = lp.exp();
            mass += p;
            let s = nalgebra::DVector::from_vec(s);
            f += &s * s.transpose() * p;
        }
        assert!((mass - 1.0).abs() < 1e-14);
        f
    }

    #[test]
    fn output_fisher_of_discrete_heads_by_enumeration() {
        for z in [vec![0.3], vec![-4.0], vec![12.0]] {
            let f = Head::Bernoulli.output_fisher(&z);
            assert!(
                (f.clone() - enumerated_fisher(Head::Bernoulli, &z))
                    .abs()
                    .max()
                    < 1e-14
            );
            // and the distributions crate's bernoulli in logit coordinates
            let b = Reparameterized::new(
                &crate::discrete::Bernoulli::new(0.5).unwrap(),
                Logit,
                z.clone(),
            )
            .unwrap();
            assert!((f - b.fisher()).abs().max() < 1e-14);
        }
        for z in [vec![0.1, -0.4, 1.3], vec![5.0, -5.0, 0.0, 2.0]] {
            let f = Head::Categorical.output_fisher(&z);
            assert!(
                (f.clone() - enumerated_fisher(Head::Categorical, &z))
                    .abs()
                    .max()
                    < 1e-14
            );
            let k = z.len();
            let cat = crate::discrete::Categorical::new(vec![1.0 / k as f64; k]).unwrap();
            let r = Reparameterized::new(&cat, Logits, z.clone()).unwrap();
            assert!((f - r.fisher()).abs().max() < 1e-14);
        }
    }

    #[test]
    fn gaussian_and_poisson_heads_match_their_families() {
        let z = [0.4, -1.0];
        let f = Head::Gaussian { sigma: 0.5 }.output_fisher(&z);
        assert!((f - DMatrix::identity(2, 2) * 4.0).abs().max() < 1e-15);
        let f = Head::Poisson.output_fisher(&z);
        for (i, zi) in z.iter().enumerate() {
            let p = Reparameterized::new(
                &crate::discrete::Poisson::new(1.0).unwrap(),
                LogRate,
                vec![*zi],
            )
            .unwrap();
            assert!((f[(i, i)] - p.fisher()[(0, 0)]).abs() < 1e-15);
        }
        assert!(f[(0, 1)].abs() < 1e-300);
    }

    #[test]
    fn categorical_factor_has_rank_c_minus_one() {
        let l = Head::Categorical.output_fisher_factor(&[0.2, 0.1, -0.3]);
        let f = &l * l.transpose();
        let ones = nalgebra::DVector::from_element(3, 1.0);
        assert!((&f * ones).abs().max() < 1e-15);
    }

    #[test]
    fn targets_are_validated() {
        assert!(Head::Categorical.check_target(&[2.0], 3).is_ok());
        assert!(Head::Categorical.check_target(&[3.0], 3).is_err());
        assert!(Head::Categorical.check_target(&[1.5], 3).is_err());
        assert!(Head::Bernoulli.check_target(&[0.5], 1).is_err());
        assert!(Head::Poisson.check_target(&[-1.0, 2.0], 2).is_err());
        assert!(
            Head::Gaussian { sigma: 1.0 }
                .check_target(&[f64::NAN], 1)
                .is_err()
        );
        assert!(Head::Bernoulli.check_outputs(2).is_err());
        assert!(Head::Categorical.check_outputs(1).is_err());
    }

    #[test]
    fn sampling_matches_the_mean() {
        let mut rng = crate::rng_from_seed(4);
        let z = [0.2, 1.0, -0.5];
        let p = softmax(&z);
        let n = 60_000;
        let mut counts = [0.0; 3];
        let mut y = [0.0];
        for _ in 0..n {
            Head::Categorical.sample(&z, &mut rng, &mut y);
            counts[y[0] as usize] += 1.0;
        }
        for k in 0..3 {
            let se = (p[k] * (1.0 - p[k]) / n as f64).sqrt();
            assert!((counts[k] / n as f64 - p[k]).abs() < 4.0 * se);
        }
    }
}
