use super::{Approximation, Problem};
use crate::Result;
use faer::{Mat, MatRef};
use fisherlab_autodiff::batch::{self, Forward};
use fisherlab_autodiff::layers::Network;
use fisherlab_linalg::{CurvatureOperator, MatrixFree};
use nalgebra::DMatrix;
use std::sync::Arc;

/// The exact Fisher as Fisher-vector products, never forming it:
/// `F v = (1/N) Σₙ Jₙᵀ F_z(zₙ) (Jₙ v)` with `Jₙ v` by forward-mode passes over the batch and
/// `Jₙᵀ u` by one backward pass. The forward pass and the output Fishers `F_z(zₙ)` are recorded
/// once when the operator is built (or taken from the problem's recorded pass); each product then costs one directional-derivative pass,
/// one backward pass and one gradient assembly (about the cost of one mean-loss gradient).
/// Memory is the recorded pass (every layer's inputs and slopes) plus `N · C²` numbers.
///
/// Damped solves go through conjugate gradients; spectra through Lanczos (see
/// [`MatrixFree`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MatrixFreeFisher;

struct Recorded {
    net: Network,
    theta: Vec<f64>,
    chunks: Vec<(Forward, Vec<DMatrix<f64>>)>,
    n: usize,
}

impl Recorded {
    fn product(&self, v: MatRef<'_, f64>) -> Mat<f64> {
        let p = self.net.num_params();
        let mut out = Mat::zeros(p, v.ncols());
        let mut dir = vec![0.0; p];
        for col in 0..v.ncols() {
            for (q, d) in dir.iter_mut().enumerate() {
                *d = v[(q, col)];
            }
            for (fwd, fz) in &self.chunks {
                let zdot = batch::jvp(&self.net, &self.theta, fwd, &dir);
                let c = zdot.ncols();
                let mut u = Mat::zeros(zdot.nrows(), c);
                for (s, f) in fz.iter().enumerate() {
                    for i in 0..c {
                        u[(s, i)] =
                            (0..c).map(|j| f[(i, j)] * zdot[(s, j)]).sum::<f64>() / self.n as f64;
                    }
                }
                let grads = batch::backward(&self.net, &self.theta, fwd, u.as_ref());
                let g = batch::param_gradient(&self.net, fwd, &grads);
                for (q, gq) in g.into_iter().enumerate() {
                    out[(q, col)] += gq;
                }
            }
        }
        out
    }
}

impl Approximation for MatrixFreeFisher {
    fn name(&self) -> &'static str {
        "matrix-free"
    }
    fn build(&self, problem: &Problem<'_>) -> Result<Box<dyn CurvatureOperator>> {
        let model = problem.model();
        let net = model.net().clone();
        let theta = problem.theta().to_vec();
        let x = problem.inputs();
        let n = x.nrows();
        let chunk = problem.chunk_size();
        let mut chunks = Vec::new();
        for start in (0..n).step_by(chunk) {
            let len = chunk.min(n - start);
            let fwd = match problem.forward() {
                Some(f) if len == n => f.clone(),
                _ => batch::forward(&net, &theta, x.subrows(start, len)),
            };
            let c = fwd.outputs.ncols();
            let fz = (0..len)
                .map(|s| {
                    let z: Vec<f64> = (0..c).map(|j| fwd.outputs[(s, j)]).collect();
                    model.head().output_fisher(&z)
                })
                .collect();
            chunks.push((fwd, fz));
        }
        let p = net.num_params();
        let rec = Arc::new(Recorded {
            net,
            theta,
            chunks,
            n,
        });
        Ok(Box::new(MatrixFree::new(p, move |v| rec.product(v))))
    }
}
