//! The `Sequential` container (a description, possibly nested) and the [`Network`] it builds
//! into once the per-sample input shape is known: every layer bound to its input shape, its
//! parameters placed in `model.parameters()` order, and the list of curvature taps.

use super::{Bound, Layer, TapShape, numel};
use crate::{DualNum, Error};
use std::fmt;

/// A sequence of named layers, as `nn.Sequential`: children are named `0`, `1`, … unless named
/// otherwise; a nested `Sequential`'s parameters are named `outer.inner.weight`.
///
/// # Examples
/// A small CNN for 1 × 8 × 8 images, built from Rust:
/// ```
/// use fisherlab_autodiff::layers::{Activation, Conv, Flatten, Linear, MaxPool, Sequential};
/// let net = Sequential::new()
///     .push(Conv::conv2d(1, 4, [3, 3]).with_padding(&[1]))
///     .push(Activation::Relu)
///     .push(MaxPool::pool2d([2, 2]))
///     .push(Flatten::default())
///     .push(Linear::new(64, 10, true))
///     .build(&[1, 8, 8])
///     .unwrap();
/// assert_eq!(net.num_params(), 4 * 9 + 4 + 64 * 10 + 10);
/// assert_eq!(net.param_tensors()[2].0, "4.weight");
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sequential {
    children: Vec<(String, Layer)>,
}

impl Sequential {
    /// An empty container.
    pub fn new() -> Self {
        Self::default()
    }
    /// Append a layer named by its index.
    #[must_use]
    pub fn push(mut self, layer: impl Into<Layer>) -> Self {
        let name = self.children.len().to_string();
        self.children.push((name, layer.into()));
        self
    }
    /// Append a layer under a name of its own (as `nn.Sequential(OrderedDict(...))`).
    #[must_use]
    pub fn push_named(mut self, name: impl Into<String>, layer: impl Into<Layer>) -> Self {
        self.children.push((name.into(), layer.into()));
        self
    }
    /// The children, in order.
    pub fn children(&self) -> &[(String, Layer)] {
        &self.children
    }
    fn flatten_into(&self, prefix: &str, out: &mut Vec<(String, Layer)>) {
        for (name, layer) in &self.children {
            let full = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            match layer {
                Layer::Sequential(s) => s.flatten_into(&full, out),
                other => out.push((full, other.clone())),
            }
        }
    }
    /// Bind every layer to the shape it receives, starting from the per-sample input shape
    /// (e.g. `[1, 8, 8]` for one-channel 8 × 8 images, `[64]` for vectors).
    ///
    /// # Errors
    /// [`Error::Model`] naming the first layer whose input shape does not fit it, a network
    /// without parameters, or an output that is not a vector.
    pub fn build(&self, input_shape: &[usize]) -> Result<Network, Error> {
        let mut leaves = Vec::new();
        self.flatten_into("", &mut leaves);
        let bad = |module: String, rule: String| Error::Model { module, rule };
        if leaves.is_empty() {
            return Err(bad("Sequential".into(), "has no layers".into()));
        }
        if input_shape.is_empty() || input_shape.contains(&0) {
            return Err(bad(
                "input".into(),
                format!(
                    "input shape {input_shape:?} must have at least one axis, none of length 0"
                ),
            ));
        }
        let mut shape = input_shape.to_vec();
        let mut nodes = Vec::with_capacity(leaves.len());
        let mut taps = Vec::new();
        let mut offset = 0usize;
        for (name, layer) in leaves {
            let module = format!("({name}) {}", layer.class_name());
            let bound = layer.bind(&shape).map_err(|r| bad(module.clone(), r))?;
            let count: usize = bound.params().iter().map(|(_, s)| numel(s)).sum();
            let tap = bound.tap().map(|t| {
                taps.push(TapInfo {
                    name: name.clone(),
                    offset,
                    shape: t,
                });
                taps.len() - 1
            });
            shape = bound.out_shape();
            nodes.push(Node {
                name,
                class: layer.class_name(),
                bound,
                offset,
                count,
                tap,
            });
            offset = offset
                .checked_add(count)
                .ok_or_else(|| bad(module, "too many parameters".into()))?;
        }
        if offset == 0 {
            return Err(bad("Sequential".into(), "has no parameters".into()));
        }
        if shape.len() != 1 {
            return Err(bad(
                "output".into(),
                format!(
                    "the network's output per sample has shape {shape:?}; it must be a vector (end with Linear or Flatten)"
                ),
            ));
        }
        let label = nodes
            .iter()
            .map(|n| n.class.clone())
            .collect::<Vec<_>>()
            .join("-");
        Ok(Network {
            nodes,
            input_shape: input_shape.to_vec(),
            output_dim: shape[0],
            num_params: offset,
            taps,
            label,
        })
    }
}

/// A layer linear in its weights as the curvature routes see it: where its parameters are, its
/// geometry, and how many locations share them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapInfo {
    /// Module name (`0`, `3.1`).
    pub name: String,
    /// Offset of its weight in the parameter vector (its bias follows the weight).
    pub offset: usize,
    shape: TapShape,
}

impl TapInfo {
    /// Outputs per location `O` (features or channels).
    pub fn out(&self) -> usize {
        self.shape.out
    }
    /// Inputs per location `I` (features, or `C_in · kernel` for a convolution).
    pub fn inp(&self) -> usize {
        self.shape.inp
    }
    /// Whether the layer has a bias (folded as a trailing 1 of the taps' inputs).
    pub fn bias(&self) -> bool {
        self.shape.bias
    }
    /// Width of the bias-folded inputs: `I + 1` with a bias, `I` without.
    pub fn folded_inp(&self) -> usize {
        self.shape.inp + usize::from(self.shape.bias)
    }
    /// Locations sharing the weights: 1 for a dense layer, output pixels for a convolution.
    pub fn locations(&self) -> usize {
        self.shape.locations
    }
    /// Parameter count `O · (I + bias)`.
    pub fn num_params(&self) -> usize {
        self.shape.num_params()
    }
    /// Its parameters' range in the public order.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.num_params()
    }
    /// Public index of folded index `(r, c)` (`c = I` the bias).
    pub fn public_index(&self, r: usize, c: usize) -> usize {
        if c < self.shape.inp {
            self.offset + r * self.shape.inp + c
        } else {
            self.offset + self.shape.out * self.shape.inp + r
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub name: String,
    pub class: String,
    pub bound: Bound,
    pub offset: usize,
    pub count: usize,
    pub tap: Option<usize>,
}

/// A network: a [`Sequential`] bound to its per-sample input shape.
#[derive(Debug, Clone)]
pub struct Network {
    pub(crate) nodes: Vec<Node>,
    input_shape: Vec<usize>,
    output_dim: usize,
    num_params: usize,
    taps: Vec<TapInfo>,
    label: String,
}

impl PartialEq for Network {
    fn eq(&self, other: &Self) -> bool {
        self.label == other.label
            && self.input_shape == other.input_shape
            && self.param_tensors() == other.param_tensors()
    }
}

impl From<&Network> for Network {
    fn from(n: &Network) -> Self {
        n.clone()
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

impl Network {
    /// The same network under another display label (e.g. `64-32-10 (tanh)`).
    #[must_use]
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
    /// Per-sample input shape.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }
    /// Input width (entries per sample): the product of the input shape.
    pub fn input_dim(&self) -> usize {
        numel(&self.input_shape)
    }
    /// Output dimension C.
    pub fn output_dim(&self) -> usize {
        self.output_dim
    }
    /// Total parameter count P.
    pub fn num_params(&self) -> usize {
        self.num_params
    }
    /// The layers linear in their weights, in forward order.
    pub fn taps(&self) -> &[TapInfo] {
        &self.taps
    }
    /// Number of layers (leaves of the module tree).
    pub fn num_modules(&self) -> usize {
        self.nodes.len()
    }
    /// Every parameter tensor: `state_dict` name, shape and offset, in `parameters()` order.
    pub fn param_tensors(&self) -> Vec<(String, Vec<usize>, usize)> {
        let mut v = Vec::new();
        for node in &self.nodes {
            let mut off = node.offset;
            for (suffix, shape) in node.bound.params() {
                let len = numel(&shape);
                v.push((format!("{}.{suffix}", node.name), shape, off));
                off += len;
            }
        }
        v
    }
    /// Names of every scalar parameter in order: `0.weight[i,j]`, `0.bias[i]`, …
    pub fn param_names(&self) -> Vec<String> {
        let mut v = Vec::with_capacity(self.num_params);
        for (name, shape, _) in self.param_tensors() {
            let total = numel(&shape);
            for flat in 0..total {
                let mut idx = vec![0; shape.len()];
                let mut rest = flat;
                for (k, d) in shape.iter().enumerate().rev() {
                    idx[k] = rest % d;
                    rest /= d;
                }
                let idx: Vec<String> = idx.iter().map(ToString::to_string).collect();
                v.push(format!("{name}[{}]", idx.join(",")));
            }
        }
        v
    }
    /// The network output `z = f(x; θ)` for any scalar type, written into `out` (cleared
    /// first): the forward-mode reference, from the same layer descriptions as the batched
    /// passes.
    ///
    /// # Panics
    /// If `theta` or `x` has the wrong length (a caller bug; user data is checked before).
    #[track_caller]
    pub fn forward<D: DualNum<Primitive = f64> + Copy>(
        &self,
        theta: &[D],
        x: &[f64],
        out: &mut Vec<D>,
    ) {
        assert_eq!(theta.len(), self.num_params, "parameter vector length");
        assert_eq!(x.len(), self.input_dim(), "input length");
        let mut a: Vec<D> = x.iter().map(|&v| D::from(v)).collect();
        for node in &self.nodes {
            a = node
                .bound
                .forward_dual(&theta[node.offset..node.offset + node.count], &a);
        }
        out.clear();
        out.extend(a);
    }
}
