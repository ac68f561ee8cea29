//! Where the seeds of the backward passes come from — properties of the likelihood head, not of
//! any one route: the columns of the output Fisher's factor `Lₙ`, the scores
//! `∇_z log p(y | zₙ)` at given labels, and the random stream of each input's sampled labels
//! (shared by the streamed routes and [`crate::model::monte_carlo_fisher`], so that both see the
//! same labels).

use crate::rows::copy_row;
use faer::Mat;
use fisherlab_autodiff::{ScalarFn, gradient};
use fisherlab_distributions::heads::Head;
use fisherlab_distributions::{DualNum, FisherRng, rng_from_seed};

/// The random stream of input `n`'s sampled labels (shared with
/// [`crate::model::monte_carlo_fisher`], so both see the same labels).
pub(crate) fn sample_rng(seed: u64, n: usize) -> FisherRng {
    rng_from_seed(seed ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Seeds `Lₙ[:, k]` for k = 1..K (each n × C).
pub(crate) fn factor_seeds(head: Head, z: &Mat<f64>) -> Vec<Mat<f64>> {
    let (n, c) = (z.nrows(), z.ncols());
    let mut zi = vec![0.0; c];
    let factors: Vec<_> = (0..n)
        .map(|i| {
            copy_row(z.as_ref(), i, &mut zi);
            head.output_fisher_factor(&zi)
        })
        .collect();
    let k = factors.first().map_or(0, |l| l.ncols());
    (0..k)
        .map(|k| Mat::from_fn(n, c, |i, j| factors[i][(j, k)]))
        .collect()
}

struct HeadAt<'a> {
    head: Head,
    y: &'a [f64],
}

impl ScalarFn for HeadAt<'_> {
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, z: &[D]) -> D {
        self.head.log_likelihood(z, self.y)
    }
}

/// The seed of scores `∇_z log p(yₙ | zₙ)` (n × C), with `label(n, buf)` writing yₙ.
pub(crate) fn score_seed(
    head: Head,
    z: &Mat<f64>,
    mut label: impl FnMut(usize, &mut [f64]),
) -> Mat<f64> {
    let (n, c) = (z.nrows(), z.ncols());
    let mut y = vec![0.0; head.target_dim(c)];
    let mut zi = vec![0.0; c];
    let mut out = Mat::zeros(n, c);
    for i in 0..n {
        label(i, &mut y);
        copy_row(z.as_ref(), i, &mut zi);
        let (_, s) = gradient(&HeadAt { head, y: &y }, &zi);
        for (j, v) in s.into_iter().enumerate() {
            out[(i, j)] = v;
        }
    }
    out
}
