//! Fixtures shared by the model tests.
#![allow(dead_code)] // each test binary uses a different subset

use faer::Mat;
use fisherlab_autodiff::layers::Network;

/// A fixed tiny dataset: N inputs in d dimensions.
pub fn data(n: usize, d: usize) -> Mat<f64> {
    Mat::from_fn(n, d, |i, j| {
        (((i * 5 + j * 3) % 7) as f64 - 3.0) / 2.5 + 0.1 * j as f64
    })
}

/// Fixed parameters for `net`, varied by `seed`.
pub fn theta_for(net: impl Into<Network>, seed: usize) -> Vec<f64> {
    (0..net.into().num_params())
        .map(|k| (((k * 13 + seed * 7) % 17) as f64 - 8.0) / 12.0)
        .collect()
}

/// Largest entry-wise deviation of `a` from `b`, relative to `b`'s largest entry.
pub fn max_rel(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    (a - b).norm_max() / b.norm_max()
}

/// Run `f` sequentially and on 2 and 3 threads (faer's parallelism is process-wide; it is
/// restored afterwards) and assert that the three results are bit-identical.
pub fn assert_same_bits_for_any_thread_count(f: impl Fn() -> Mat<f64>) {
    let prev = faer::get_global_parallelism();
    let runs: Vec<Mat<f64>> = [faer::Par::Seq, faer::Par::rayon(2), faer::Par::rayon(3)]
        .into_iter()
        .map(|par| {
            faer::set_global_parallelism(par);
            f()
        })
        .collect();
    faer::set_global_parallelism(prev);
    for (threads, r) in [2, 3].into_iter().zip(&runs[1..]) {
        for j in 0..r.ncols() {
            for i in 0..r.nrows() {
                assert_eq!(
                    runs[0][(i, j)].to_bits(),
                    r[(i, j)].to_bits(),
                    "{threads} threads ({i},{j})"
                );
            }
        }
    }
}
