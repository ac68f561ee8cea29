//! Models — a network with a likelihood head — and their exact Fisher matrix by the generic route
//! `F = (1/N) Σₙ Jₙᵀ F_z Jₙ = (1/N) Σₙ (Lₙᵀ Jₙ)ᵀ (Lₙᵀ Jₙ)`, streamed over chunks of samples.
//!
//! This route works for any network and is the reference the faster, structure-exploiting routes
//! are tested against. Jacobians come from forward-mode autodiff of the network written once over
//! `DualNum`.

use crate::rows::copy_row;
use crate::{Error, Result};
use faer::{Mat, MatRef};
use fisherlab_autodiff::ScalarFn;
use fisherlab_autodiff::batch::Forward;
use fisherlab_autodiff::layers::Network;
use fisherlab_distributions::DualNum;
use fisherlab_distributions::heads::Head;
use fisherlab_linalg::{Dense, memory};

fn linalg_error(e: memory::MemoryError) -> Error {
    Error::Linalg(e.into())
}

/// A network with a likelihood head.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    net: Network,
    head: Head,
}

impl Model {
    /// A model; the network's output width must suit the head.
    ///
    /// # Errors
    /// E.g. a `bernoulli` head on a network with 2 outputs.
    pub fn new(net: impl Into<Network>, head: Head) -> Result<Self> {
        let net = net.into();
        head.check_outputs(net.output_dim())?;
        Ok(Self { net, head })
    }
    /// The network.
    pub fn net(&self) -> &Network {
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
                "inputs have {} columns, the network takes {} (input shape {:?})",
                x.ncols(),
                self.net.input_dim(),
                self.net.input_shape()
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

/// Per-sample scores `∇_θ log p(y | xₙ; θ)` accumulated into `(1/rows) Σ s sᵀ` with a Welford
/// standard error per entry.
struct ScoreMoments {
    p: usize,
    n: f64,
    mean: Mat<f64>,
    m2: Mat<f64>,
}

impl ScoreMoments {
    fn new(p: usize) -> Result<Self> {
        memory::reserve(
            format!("the Monte-Carlo Fisher and its standard errors (two {p} × {p} float64)"),
            memory::dense_copies_bytes(2, p, p),
        )
        .map_err(linalg_error)?;
        Ok(Self {
            p,
            n: 0.0,
            mean: Mat::zeros(p, p),
            m2: Mat::zeros(p, p),
        })
    }
    fn push(&mut self, s: &[f64]) {
        self.n += 1.0;
        for j in 0..self.p {
            for i in j..self.p {
                let v = s[i] * s[j];
                let d = v - self.mean[(i, j)];
                self.mean[(i, j)] += d / self.n;
                self.m2[(i, j)] += d * (v - self.mean[(i, j)]);
            }
        }
    }
    fn finish(self) -> Result<(Dense, Mat<f64>)> {
        let p = self.p;
        let sym = |m: &Mat<f64>, i: usize, j: usize| if i >= j { m[(i, j)] } else { m[(j, i)] };
        let mean = Mat::from_fn(p, p, |i, j| sym(&self.mean, i, j));
        let n = self.n;
        let se = Mat::from_fn(p, p, |i, j| {
            if n > 1.0 {
                (sym(&self.m2, i, j) / (n - 1.0) / n).sqrt()
            } else {
                f64::INFINITY
            }
        });
        Ok((Dense::new(mean)?, se))
    }
}

/// Options of [`monte_carlo_fisher`].
#[derive(Debug, Clone, Copy)]
pub struct ModelMcOptions {
    /// Labels sampled from the model per input (≥ 1).
    pub samples_per_input: usize,
    /// Seed: input `n`'s labels come from their own stream derived from `(seed, n)`.
    pub seed: u64,
}

/// Monte-Carlo Fisher `(1/(NM)) Σₙ Σₘ s sᵀ` with labels `yₙₘ ~ p(y | xₙ; θ)` drawn from the
/// model, and the per-entry standard error of the mean.
///
/// # Errors
/// As [`crate::curvature::exact_fisher`]; `samples_per_input = 0`.
pub fn monte_carlo_fisher(
    model: &Model,
    theta: &[f64],
    x: MatRef<'_, f64>,
    opts: &ModelMcOptions,
) -> Result<(Dense, Mat<f64>)> {
    model.check(theta, x)?;
    if opts.samples_per_input == 0 {
        return Err(Error::InvalidOption {
            name: "samples_per_input",
            value: "0".into(),
            rule: "must be >= 1",
        });
    }
    let c = model.net.output_dim();
    let mut acc = ScoreMoments::new(model.num_params())?;
    let mut xi = vec![0.0; x.ncols()];
    let mut y = vec![0.0; model.head.target_dim(c)];
    let mut z = Vec::new();
    for n in 0..x.nrows() {
        copy_row(x, n, &mut xi);
        model.net.forward(theta, &xi, &mut z);
        let mut rng = crate::seeds::sample_rng(opts.seed, n);
        for _ in 0..opts.samples_per_input {
            model.head.sample(&z, &mut rng, &mut y);
            let (_, s) = fisherlab_autodiff::gradient(&model.log_likelihood_fn(&xi, &y), theta);
            acc.push(&s);
        }
    }
    acc.finish()
}

/// Empirical Fisher `(1/N) Σₙ s sᵀ` at the observed targets `y` (N × target width): the
/// outer product of per-sample gradients, which is not the Fisher away from the optimum.
///
/// # Errors
/// As [`crate::curvature::exact_fisher`]; targets of the wrong shape or out of the head's range (naming the row).
pub fn empirical_fisher(
    model: &Model,
    theta: &[f64],
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
) -> Result<Dense> {
    let mut acc = ScoreMoments::new(model.num_params())?;
    for_each_example(model, theta, x, y, |xi, yi| {
        let (_, s) = fisherlab_autodiff::gradient(&model.log_likelihood_fn(xi, yi), theta);
        acc.push(&s);
    })?;
    Ok(acc.finish()?.0)
}

/// The Hessian of the mean negative log-likelihood `(1/N) Σₙ −∇²_θ log p(yₙ | xₙ; θ)` at the
/// observed targets, by forward-mode second derivatives — for comparison with the Fisher: equal
/// to it for a linear model with a canonical head, different away from that (it is not PSD in
/// general, so it is returned as a plain matrix, not an operator).
///
/// # Errors
/// As [`empirical_fisher`].
pub fn hessian_of_mean_nll(
    model: &Model,
    theta: &[f64],
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
) -> Result<Mat<f64>> {
    let p = model.num_params();
    let n = x.nrows() as f64;
    memory::reserve(
        format!("the dense Hessian and one example's (two {p} × {p} float64)"),
        memory::dense_copies_bytes(2, p, p),
    )
    .map_err(linalg_error)?;
    let mut h = Mat::<f64>::zeros(p, p);
    let mut g = vec![0.0; p];
    let mut hn = vec![0.0; p * p];
    for_each_example(model, theta, x, y, |xi, yi| {
        fisherlab_autodiff::hessian_into(&model.log_likelihood_fn(xi, yi), theta, &mut g, &mut hn);
        for j in 0..p {
            for i in 0..p {
                h[(i, j)] -= hn[i * p + j] / n;
            }
        }
    })?;
    Ok(h)
}

/// The mean negative log-likelihood `(1/N) Σₙ −log p(yₙ | xₙ; θ)` by one batched forward pass.
///
/// # Errors
/// As [`empirical_fisher`].
pub fn mean_nll(
    model: &Model,
    theta: &[f64],
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
) -> Result<f64> {
    model.check(theta, x)?;
    check_all_targets(model, x, y)?;
    let fwd = fisherlab_autodiff::batch::forward(&model.net, theta, x);
    Ok(nll_of_outputs(model, &fwd.outputs, y))
}

fn nll_of_outputs(model: &Model, z: &Mat<f64>, y: MatRef<'_, f64>) -> f64 {
    let n = z.nrows() as f64;
    let (mut zi, mut yi) = (vec![0.0; z.ncols()], vec![0.0; y.ncols()]);
    let mut loss = 0.0;
    for s in 0..z.nrows() {
        copy_row(z.as_ref(), s, &mut zi);
        copy_row(y, s, &mut yi);
        loss -= model.head.log_likelihood(&zi, &yi) / n;
    }
    loss
}

/// The mean negative log-likelihood `(1/N) Σₙ −log p(yₙ | xₙ; θ)` and its gradient, by one
/// batched forward pass and one backward pass (seeds `−∇_z log p(yₙ | zₙ) / N`).
///
/// # Errors
/// As [`empirical_fisher`].
///
/// # Examples
/// ```
/// use faer::Mat;
/// use fisherlab_autodiff::network::Mlp;
/// use fisherlab_distributions::heads::Head;
/// use fisherlab_fisher::model::{Model, mean_nll_gradient};
/// // linear-Gaussian regression with σ = 1 at θ = 0: gradient −(1/N) Σ yₙ [xₙ, 1]
/// let m = Model::new(Mlp::parse("1,1", "identity").unwrap(), Head::Gaussian { sigma: 1.0 }).unwrap();
/// let x = Mat::from_fn(2, 1, |i, _| i as f64 + 1.0);
/// let y = Mat::from_fn(2, 1, |i, _| 2.0 * i as f64 + 1.0); // targets 1, 3
/// let (_, g) = mean_nll_gradient(&m, &[0.0, 0.0], x.as_ref(), y.as_ref()).unwrap();
/// assert!((g[0] + (1.0 * 1.0 + 2.0 * 3.0) / 2.0).abs() < 1e-15);
/// assert!((g[1] + (1.0 + 3.0) / 2.0).abs() < 1e-15);
/// ```
pub fn mean_nll_gradient(
    model: &Model,
    theta: &[f64],
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
) -> Result<(f64, Vec<f64>)> {
    model.check(theta, x)?;
    check_all_targets(model, x, y)?;
    let fwd = fisherlab_autodiff::batch::forward(&model.net, theta, x);
    Ok(nll_gradient_of_pass(model, theta, &fwd, y))
}

/// [`mean_nll_gradient`] from a recorded forward pass of the same θ and inputs (so that a caller
/// who also needs the pass, e.g. for curvature, runs it once), returned with the pass.
///
/// # Errors
/// As [`mean_nll_gradient`].
pub fn mean_nll_gradient_and_pass(
    model: &Model,
    theta: &[f64],
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
) -> Result<(f64, Vec<f64>, Forward)> {
    model.check(theta, x)?;
    check_all_targets(model, x, y)?;
    let fwd = fisherlab_autodiff::batch::forward(&model.net, theta, x);
    let (loss, g) = nll_gradient_of_pass(model, theta, &fwd, y);
    Ok((loss, g, fwd))
}

fn nll_gradient_of_pass(
    model: &Model,
    theta: &[f64],
    fwd: &Forward,
    y: MatRef<'_, f64>,
) -> (f64, Vec<f64>) {
    let n = fwd.outputs.nrows() as f64;
    let loss = nll_of_outputs(model, &fwd.outputs, y);
    let mut seed = crate::seeds::score_seed(model.head, &fwd.outputs, |s, buf| {
        copy_row(y, s, buf);
    });
    for j in 0..seed.ncols() {
        for i in 0..seed.nrows() {
            seed[(i, j)] *= -1.0 / n;
        }
    }
    let grads = fisherlab_autodiff::batch::backward(&model.net, theta, fwd, seed.as_ref());
    let g = fisherlab_autodiff::batch::param_gradient(&model.net, fwd, &grads);
    (loss, g)
}

/// Validate parameters, inputs and targets (every row against the head's range), then call
/// `f(xₙ, yₙ)` for every example in order.
fn for_each_example(
    model: &Model,
    theta: &[f64],
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    mut f: impl FnMut(&[f64], &[f64]),
) -> Result<()> {
    model.check(theta, x)?;
    check_all_targets(model, x, y)?;
    let mut xi = vec![0.0; x.ncols()];
    let mut yi = vec![0.0; y.ncols()];
    for n in 0..x.nrows() {
        copy_row(x, n, &mut xi);
        copy_row(y, n, &mut yi);
        f(&xi, &yi);
    }
    Ok(())
}

/// Targets must have one row per input and the head's width.
fn check_targets(model: &Model, x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Result<()> {
    let c = model.net.output_dim();
    if y.nrows() != x.nrows() || y.ncols() != model.head.target_dim(c) {
        return Err(Error::InvalidInput {
            what: format!(
                "targets are {}x{}, expected {}x{} for the {} head",
                y.nrows(),
                y.ncols(),
                x.nrows(),
                model.head.target_dim(c),
                model.head.name()
            ),
        });
    }
    Ok(())
}

/// Targets of the right shape with every row in the head's range (naming the first bad row).
pub(crate) fn check_all_targets(
    model: &Model,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
) -> Result<()> {
    check_targets(model, x, y)?;
    let c = model.net.output_dim();
    let mut yi = vec![0.0; y.ncols()];
    for n in 0..y.nrows() {
        copy_row(y, n, &mut yi);
        model
            .head
            .check_target(&yi, c)
            .map_err(|e| Error::InvalidInput {
                what: format!("target row {n}: {e}"),
            })?;
    }
    Ok(())
}
