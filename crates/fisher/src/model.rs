//! Models — a network with a likelihood head — and their exact Fisher matrix by the generic route
//! `F = (1/N) Σₙ Jₙᵀ F_z Jₙ = (1/N) Σₙ (Lₙᵀ Jₙ)ᵀ (Lₙᵀ Jₙ)`, streamed over chunks of samples.
//!
//! This route works for any network and is the reference the faster, structure-exploiting routes
//! are tested against. Jacobians come from forward-mode autodiff of the network written once over
//! `DualNum`.

use crate::{Error, Result};
use faer::linalg::matmul::triangular::{BlockStructure, matmul as tri_matmul};
use faer::{Accum, Mat, MatRef, Par};
use fisherlab_autodiff::network::{AtInput, Mlp};
use fisherlab_autodiff::{ScalarFn, jacobian};
use fisherlab_distributions::DualNum;
use fisherlab_distributions::heads::Head;
use fisherlab_linalg::Dense;

/// A network with a likelihood head.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    net: Mlp,
    head: Head,
}

impl Model {
    /// A model; the network's output width must suit the head.
    ///
    /// # Errors
    /// E.g. a `bernoulli` head on a network with 2 outputs.
    pub fn new(net: Mlp, head: Head) -> Result<Self> {
        head.check_outputs(net.output_dim())?;
        Ok(Self { net, head })
    }
    /// The network.
    pub fn net(&self) -> &Mlp {
        &self.net
    }
    /// The head.
    pub fn head(&self) -> Head {
        self.head
    }
    /// Parameter count P.
    pub fn num_params(&self) -> usize {
        self.net.num_params()
    }

    /// Check parameters and inputs before any computation.
    ///
    /// # Errors
    /// Wrong lengths or shapes; non-finite values (naming the first one).
    pub fn check(&self, theta: &[f64], x: MatRef<'_, f64>) -> Result<()> {
        let bad = |what: String| Error::InvalidInput { what };
        if theta.len() != self.num_params() {
            return Err(bad(format!(
                "parameter vector has length {}, the {} network has {} parameters",
                theta.len(),
                self.net,
                self.num_params()
            )));
        }
        if let Some(k) = theta.iter().position(|v| !v.is_finite()) {
            return Err(bad(format!("parameter {k} is {}", theta[k])));
        }
        if x.ncols() != self.net.input_dim() {
            return Err(bad(format!(
                "inputs have {} columns, the network takes {}",
                x.ncols(),
                self.net.input_dim()
            )));
        }
        if x.nrows() == 0 {
            return Err(bad("no inputs (0 rows)".into()));
        }
        for i in 0..x.nrows() {
            for j in 0..x.ncols() {
                if !x[(i, j)].is_finite() {
                    return Err(bad(format!("input ({i}, {j}) is {}", x[(i, j)])));
                }
            }
        }
        Ok(())
    }

    /// `log p(y | x; θ)` as a function of θ, for autodiff (scores, Hessians).
    pub fn log_likelihood_fn<'a>(&'a self, x: &'a [f64], y: &'a [f64]) -> impl ScalarFn + 'a {
        LogLik { model: self, x, y }
    }
}

struct LogLik<'a> {
    model: &'a Model,
    x: &'a [f64],
    y: &'a [f64],
}

impl ScalarFn for LogLik<'_> {
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, theta: &[D]) -> D {
        let mut z = Vec::new();
        self.model.net.forward(theta, self.x, &mut z);
        self.model.head.log_likelihood(&z, self.y)
    }
}

/// Options of [`exact_fisher`].
#[derive(Debug, Clone, Copy)]
pub struct ExactFisherOptions {
    /// Samples per chunk: memory stays near P² plus `chunk · C · P` (default 64).
    pub chunk: usize,
}

impl Default for ExactFisherOptions {
    fn default() -> Self {
        Self { chunk: 64 }
    }
}

/// The exact Fisher `(1/N) Σₙ Jₙᵀ F_z(zₙ) Jₙ` of a model at θ over the inputs `x` (N × d), in
/// the public parameter order, as a dense operator.
///
/// Rows `Lₙᵀ Jₙ` of a chunk of samples are stacked and added by one symmetric rank-k update
/// (lower triangle), so memory stays near P² plus one chunk.
///
/// # Errors
/// Invalid parameters or inputs ([`Model::check`]); a zero chunk size.
///
/// # Examples
/// ```
/// use faer::Mat;
/// use fisherlab_autodiff::network::Mlp;
/// use fisherlab_distributions::heads::Head;
/// use fisherlab_fisher::model::{exact_fisher, Model};
/// use fisherlab_linalg::CurvatureOperator;
/// // linear-Gaussian regression: F = (1/N) X̄ᵀX̄ / σ², X̄ = [X, 1]
/// let m = Model::new(Mlp::parse("1,1", "identity").unwrap(), Head::Gaussian { sigma: 2.0 }).unwrap();
/// let x = Mat::from_fn(2, 1, |i, _| i as f64 + 1.0); // inputs 1, 2
/// let f = exact_fisher(&m, &[0.3, -0.1], x.as_ref(), &Default::default()).unwrap().to_dense().unwrap();
/// assert!((f[(0, 0)] - (1.0 + 4.0) / 2.0 / 4.0).abs() < 1e-15);
/// assert!((f[(0, 1)] - (1.0 + 2.0) / 2.0 / 4.0).abs() < 1e-15);
/// ```
pub fn exact_fisher(
    model: &Model,
    theta: &[f64],
    x: MatRef<'_, f64>,
    opts: &ExactFisherOptions,
) -> Result<Dense> {
    model.check(theta, x)?;
    if opts.chunk == 0 {
        return Err(Error::InvalidOption {
            name: "chunk",
            value: "0".into(),
            rule: "must be >= 1",
        });
    }
    let p = model.num_params();
    let c = model.net.output_dim();
    let n = x.nrows();
    let mut f = Mat::<f64>::zeros(p, p);
    let mut xi = vec![0.0; x.ncols()];
    for start in (0..n).step_by(opts.chunk) {
        let end = (start + opts.chunk).min(n);
        let mut rows = Mat::<f64>::zeros((end - start) * c, p);
        for s in start..end {
            for (j, v) in xi.iter_mut().enumerate() {
                *v = x[(s, j)];
            }
            let (z, jac) = jacobian(
                &AtInput {
                    net: &model.net,
                    x: &xi,
                },
                theta,
            );
            let l = model.head.output_fisher_factor(&z);
            // Lᵀ J: K × P
            let ltj = l.transpose() * jac;
            for k in 0..ltj.nrows() {
                for q in 0..p {
                    rows[((s - start) * c + k, q)] = ltj[(k, q)];
                }
            }
        }
        tri_matmul(
            f.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Add,
            rows.transpose(),
            BlockStructure::Rectangular,
            rows.as_ref(),
            BlockStructure::Rectangular,
            1.0 / n as f64,
            Par::Seq,
        );
    }
    let full = Mat::from_fn(p, p, |i, j| if i >= j { f[(i, j)] } else { f[(j, i)] });
    Ok(Dense::new(full)?)
}
