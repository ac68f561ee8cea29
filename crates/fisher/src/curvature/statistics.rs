//! The statistics every approximation is made of, handed out whole: the output Fisher per
//! input, the per-sample gradients of a Fisher's labels (whose Gram matrix divided by N is that
//! Fisher) and the same per layer in the folded layout of its Kronecker factors. From these a
//! new approximation can be prototyped outside the library and measured against the exact
//! Fisher.

use super::{ChunkTaps, Labels, Problem};
use crate::{Error, Result};
use faer::Mat;
use fisherlab_autodiff::batch;
use fisherlab_linalg::memory;

/// The sign and weight of one label's gradient rows: `√w` (so that the Gram matrix of the rows
/// is `Σ w g gᵀ`), negated for sampled and observed labels (their seeds are the scores
/// `∇ log p`, the rows the gradients of the negative log-likelihood).
fn row_scale(labels: Labels, chunk: &ChunkTaps) -> f64 {
    let sign = match labels {
        Labels::Type2 => 1.0,
        Labels::Mc { .. } | Labels::Empirical => -1.0,
    };
    sign * chunk.weight.sqrt()
}

/// Rows per input of `labels`: the columns of the output Fisher's factor (type-2), the labels
/// drawn per input (Monte Carlo), one (empirical).
fn rows_per_input(problem: &Problem<'_>, labels: Labels) -> usize {
    match labels {
        Labels::Type2 => problem.model().net().output_dim(),
        Labels::Mc { per_input, .. } => per_input,
        Labels::Empirical => 1,
    }
}

fn reserve(what: String, rows: usize, cols: usize) -> Result<()> {
    memory::reserve(what, memory::dense_copies_bytes(1, rows, cols))
        .map(|_| ())
        .map_err(|e| Error::Linalg(e.into()))
}

impl Problem<'_> {
    /// The output-space Fisher `F_z(zₙ)` of the head at every input's output (N matrices
    /// C × C, closed form): the metric whose pull-back `Jₙᵀ F_z Jₙ`, averaged, is the Fisher.
    ///
    /// # Errors
    /// None beyond the problem's own checks; `Result` for a future head without a closed form.
    ///
    /// # Examples
    /// ```
    /// use fisherlab_autodiff::network::Mlp;
    /// use fisherlab_distributions::heads::Head;
    /// use fisherlab_fisher::curvature::Problem;
    /// use fisherlab_fisher::model::Model;
    /// let model = Model::new(Mlp::parse("2,3", "tanh").unwrap(), Head::Categorical).unwrap();
    /// let theta = vec![0.0; model.num_params()];
    /// let x = faer::mat![[1.0, 2.0]];
    /// let f = Problem::new(&model, &theta, x.as_ref()).unwrap().output_fishers().unwrap();
    /// // zero weights: p = (1/3, 1/3, 1/3), F_z = diag(p) − p pᵀ
    /// assert!((f[0][(0, 0)] - (1.0 / 3.0 - 1.0 / 9.0)).abs() < 1e-15);
    /// assert!((f[0][(0, 1)] + 1.0 / 9.0).abs() < 1e-15);
    /// ```
    pub fn output_fishers(&self) -> Result<Vec<Mat<f64>>> {
        let c = self.model().net().output_dim();
        reserve(
            format!(
                "the output Fisher of {} inputs ({c} × {c} each)",
                self.len()
            ),
            self.len() * c,
            c,
        )?;
        let z = batch::forward(self.model().net(), self.theta(), self.inputs()).outputs;
        let head = self.model().head();
        let mut zi = vec![0.0; c];
        Ok((0..z.nrows())
            .map(|n| {
                for (j, v) in zi.iter_mut().enumerate() {
                    *v = z[(n, j)];
                }
                let f = head.output_fisher(&zi);
                Mat::from_fn(c, c, |i, j| f[(i, j)])
            })
            .collect())
    }

    /// The per-sample gradient rows of `labels` (M × P, public order; row `n·K + k` the k-th of
    /// input n), scaled so that their Gram matrix divided by N is the Fisher of those labels:
    /// type-2 the K = C rows `Lₙᵀ Jₙ` (`F_z = L Lᵀ`), whose Gram is the exact Fisher; Monte
    /// Carlo the gradients of the negative log-likelihood at K sampled labels, times `1/√K`;
    /// empirical the gradient of the negative log-likelihood at the observed label (their mean
    /// is the loss gradient).
    ///
    /// # Errors
    /// [`Labels::Empirical`] without targets; a result larger than the memory budget (refused
    /// before allocating).
    ///
    /// # Examples
    /// ```
    /// use fisherlab_autodiff::network::Mlp;
    /// use fisherlab_distributions::heads::Head;
    /// use fisherlab_fisher::curvature::{Approximation, DenseFisher, Labels, Problem};
    /// use fisherlab_fisher::model::Model;
    /// use fisherlab_linalg::CurvatureOperator;
    /// let model = Model::new(Mlp::parse("3,4,2", "tanh").unwrap(), Head::Categorical).unwrap();
    /// let theta: Vec<f64> = (0..model.num_params()).map(|k| (k as f64).sin()).collect();
    /// let x = faer::Mat::from_fn(5, 3, |i, j| (i * 3 + j) as f64 / 7.0 - 1.0);
    /// let problem = Problem::new(&model, &theta, x.as_ref()).unwrap();
    /// let u = problem.per_sample_gradients(Labels::Type2).unwrap();
    /// let gram = u.transpose() * &u * faer::Scale(1.0 / 5.0);
    /// let exact = DenseFisher::new(Labels::Type2).build(&problem).unwrap().to_dense().unwrap();
    /// assert!((&gram - &exact).norm_max() < 1e-14);
    /// ```
    pub fn per_sample_gradients(&self, labels: Labels) -> Result<Mat<f64>> {
        let p = self.model().num_params();
        let m = self.len() * rows_per_input(self, labels);
        reserve(format!("{m} per-sample gradients of {p} parameters"), m, p)?;
        let mut rows = Mat::<f64>::zeros(m, p);
        let mut at = 0;
        self.for_each_chunk(labels, |chunk| {
            let r = chunk.gradient_rows(p) * faer::Scale(row_scale(labels, chunk));
            rows.as_mut().subrows_mut(at, r.nrows()).copy_from(&r);
            at += r.nrows();
            Ok(())
        })?;
        Ok(rows)
    }

    /// Per parameterised layer, the per-sample gradient matrices of `labels` in the folded layout
    /// of its Kronecker factors: an M × (O·(I + bias)) matrix whose row m is `Gₘ` (O × (I +
    /// bias), bias last) flattened row-major, `Gₘ = Σᵣ gₘᵣ āₘᵣᵀ` summed over the layer's shared
    /// locations, scaled as [`per_sample_gradients`](Self::per_sample_gradients) (so that
    /// `(1/N) Σₘ vec(Gₘ) vec(Gₘ)ᵀ` is the layer's Fisher block in the folded order). For a
    /// normalisation layer's scale and shift, `Gₘ` is the column of its P parameters (O = P,
    /// I + bias = 1).
    ///
    /// # Errors
    /// As [`per_sample_gradients`](Self::per_sample_gradients).
    pub fn layer_gradients(&self, labels: Labels) -> Result<Vec<Mat<f64>>> {
        let taps = self.model().net().taps();
        let m = self.len() * rows_per_input(self, labels);
        reserve(
            format!("{m} per-sample gradients of every layer"),
            m,
            self.model().num_params(),
        )?;
        let mut out: Vec<Mat<f64>> = taps
            .iter()
            .map(|t| Mat::zeros(m, t.out() * t.folded_inp()))
            .collect();
        let mut at = 0;
        self.for_each_chunk(labels, |chunk| {
            let scale = faer::Scale(row_scale(labels, chunk));
            let mut rows = 0;
            for (t, acc) in out.iter_mut().enumerate() {
                let g = chunk.per_sample_gradients(t, None) * scale;
                rows = g.nrows();
                acc.as_mut().subrows_mut(at, rows).copy_from(&g);
            }
            at += rows;
            Ok(())
        })?;
        Ok(out)
    }
}
