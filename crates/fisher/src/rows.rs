//! Row access shared by the model-level and the streamed routes.

use faer::MatRef;

/// Copy row `n` of `m` into `buf`.
pub(crate) fn copy_row(m: MatRef<'_, f64>, n: usize, buf: &mut [f64]) {
    for (j, v) in buf.iter_mut().enumerate() {
        *v = m[(n, j)];
    }
}
