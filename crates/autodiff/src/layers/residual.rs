//! A residual block `x + body(x)`: PyTorch has no such module, so fisherlab reads the one a
//! three-line class prints (see `docs/layers.md`):
//!
//! ```text
//! (1): Residual(
//!   (body): Sequential(
//!     (0): Linear(in_features=8, out_features=8, bias=True)
//!     (1): Tanh()
//!   )
//! )
//! ```
//!
//! Its parameters are the body's, named `1.body.0.weight` as in `state_dict`. A built network
//! is a list of layers, so the block becomes a *fork* (remember the input), the body's layers,
//! and a *join* (add the remembered input): the batched passes keep a stack of remembered values
//! (inputs forward, gradients backward, directions for the JVP), which nests blocks freely.

use super::Sequential;

/// `x + body(x)`, the body's output of the input's shape.
///
/// # Examples
/// ```
/// use fisherlab_autodiff::layers::{Activation, Linear, Residual, Sequential};
/// let block = Residual::new(
///     Sequential::new().push(Linear::new(4, 4, true)).push(Activation::Tanh),
/// );
/// let net = Sequential::new().push(block).push(Linear::new(4, 2, true)).build(&[4]).unwrap();
/// assert_eq!(net.param_tensors()[0].0, "0.body.0.weight");
/// assert_eq!(net.to_string(), "Residual(Linear-Tanh)-Linear");
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Residual {
    /// The residual branch.
    pub body: Sequential,
}

impl Residual {
    /// A residual block around `body`.
    pub fn new(body: Sequential) -> Self {
        Self { body }
    }
}
