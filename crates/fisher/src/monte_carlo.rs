//! Seeded Monte-Carlo Fisher estimates with standard errors, identical for any thread count.

use crate::{Error, FisherEstimate, Method, Result};
use fisherlab_distributions::{ScoreFn, rng_from_seed};
use nalgebra::DMatrix;
use rayon::prelude::*;

/// Which identity the Monte-Carlo estimate averages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McForm {
    /// `E[s sᵀ]` (score outer product).
    Score,
    /// `−E[∇² log p]` (negative Hessian); valid only for families whose log-density is twice
    /// differentiable in the parameters.
    NegativeHessian,
}

/// Options of [`monte_carlo`].
#[derive(Debug, Clone)]
pub struct MonteCarloOptions {
    /// Number of samples (≥ 2).
    pub samples: usize,
    /// Seed; the same seed gives the same bits whatever the thread count.
    pub seed: u64,
    /// Which identity to average.
    pub form: McForm,
}

impl Default for MonteCarloOptions {
    fn default() -> Self {
        Self {
            samples: 100_000,
            seed: 0,
            form: McForm::Score,
        }
    }
}

/// Samples per chunk; chunk `c` draws from its own generator seeded from `(seed, c)`, and chunk
/// statistics are merged in chunk order, so results do not depend on scheduling.
const CHUNK: usize = 16_384;

/// Running mean and sum of squared deviations of the upper-triangle entries (Welford / Chan).
#[derive(Clone)]
struct Moments {
    n: f64,
    mean: Vec<f64>,
    m2: Vec<f64>,
}

impl Moments {
    fn new(len: usize) -> Self {
        Self {
            n: 0.0,
            mean: vec![0.0; len],
            m2: vec![0.0; len],
        }
    }
    #[inline]
    fn push(&mut self, v: &[f64]) {
        self.n += 1.0;
        let inv = 1.0 / self.n;
        for ((m, m2), &x) in self.mean.iter_mut().zip(self.m2.iter_mut()).zip(v) {
            let d = x - *m;
            *m += d * inv;
            *m2 += d * (x - *m);
        }
    }
    fn merge(&mut self, o: &Moments) {
        let n = self.n + o.n;
        if o.n == 0.0 {
            return;
        }
        for i in 0..self.mean.len() {
            let d = o.mean[i] - self.mean[i];
            self.mean[i] += d * o.n / n;
            self.m2[i] += o.m2[i] + d * d * self.n * o.n / n;
        }
        self.n = n;
    }
}

/// SplitMix64 finaliser: decorrelates per-chunk seeds.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Monte-Carlo Fisher information with a per-entry standard error `sd/√M`.
///
/// Samples are drawn in fixed chunks of 16 384, each from its own xoshiro256++ stream derived
/// from `(seed, chunk)`; chunks run in parallel and are merged in order, so the result is
/// bit-identical for any number of threads.
///
/// # Errors
/// Fewer than 2 samples; the Hessian form for a family where it does not hold; a non-finite
/// score at a sampled point.
pub fn monte_carlo(family: &dyn ScoreFn, opts: &MonteCarloOptions) -> Result<FisherEstimate> {
    if opts.samples < 2 {
        return Err(Error::InvalidOption {
            name: "samples",
            value: opts.samples.to_string(),
            rule: "must be >= 2",
        });
    }
    if opts.form == McForm::NegativeHessian && !family.hessian_identity_holds() {
        return Err(Error::HessianFormInvalid {
            family: family.name(),
        });
    }
    let p = family.params().len();
    let tri = p * (p + 1) / 2;
    let chunks = opts.samples.div_ceil(CHUNK);
    let results: Vec<Result<Moments>> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let n = CHUNK.min(opts.samples - c * CHUNK);
            let mut rng = rng_from_seed(mix(opts.seed ^ mix(c as u64)));
            let mut x = vec![0.0; family.obs_dim()];
            let mut s = vec![0.0; p];
            let mut h = vec![0.0; p * p];
            let mut v = vec![0.0; tri];
            let mut mom = Moments::new(tri);
            for _ in 0..n {
                family.sample_into(&mut rng, &mut x);
                let mut k = 0;
                match opts.form {
                    McForm::Score => {
                        family.score_into(&x, &mut s);
                        for i in 0..p {
                            for j in i..p {
                                v[k] = s[i] * s[j];
                                k += 1;
                            }
                        }
                    }
                    McForm::NegativeHessian => {
                        family.hessian_into(&x, &mut s, &mut h);
                        for i in 0..p {
                            for j in i..p {
                                v[k] = -h[i * p + j];
                                k += 1;
                            }
                        }
                    }
                }
                if v.iter().any(|e| !e.is_finite()) {
                    return Err(Error::NonFinite {
                        family: family.name(),
                        x: x.clone(),
                        what: "score or Hessian at a sampled point".into(),
                    });
                }
                mom.push(&v);
            }
            Ok(mom)
        })
        .collect();
    let mut total = Moments::new(tri);
    for r in results {
        total.merge(&r?);
    }
    let m = total.n;
    let mut matrix = DMatrix::zeros(p, p);
    let mut se = DMatrix::zeros(p, p);
    let mut k = 0;
    for i in 0..p {
        for j in i..p {
            matrix[(i, j)] = total.mean[k];
            matrix[(j, i)] = total.mean[k];
            let sd = (total.m2[k] / (m - 1.0)).sqrt();
            se[(i, j)] = sd / m.sqrt();
            se[(j, i)] = se[(i, j)];
            k += 1;
        }
    }
    Ok(FisherEstimate {
        method: match opts.form {
            McForm::Score => Method::MonteCarloScore,
            McForm::NegativeHessian => Method::MonteCarloHessian,
        },
        param_names: family.param_names(),
        matrix,
        std_error: Some(se),
    })
}
