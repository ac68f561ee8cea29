//! The `Sequential` container (a description, possibly nested) and the [`Network`] it builds
//! into once the per-sample input shape is known: every layer bound to its input shape, its
//! parameters placed in `model.parameters()` order, and the list of curvature taps.

use super::reshape::ReshapeAt;
use super::{Bound, Layer, TapKind, TapShape, checked_numel, numel};
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
    fn flatten_into(&self, prefix: &str, out: &mut Vec<(String, Leaf)>) {
        for (name, layer) in &self.children {
            let full = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            match layer {
                Layer::Sequential(s) => s.flatten_into(&full, out),
                Layer::Residual(r) => {
                    out.push((full.clone(), Leaf::Fork));
                    r.body.flatten_into(&format!("{full}.body"), out);
                    out.push((full, Leaf::Join));
                }
                other => out.push((full, Leaf::Layer(other.clone()))),
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
        // input shapes of the open residual blocks
        let mut skips: Vec<Vec<usize>> = Vec::new();
        for (name, leaf) in leaves {
            let layer = match leaf {
                Leaf::Layer(l) => l,
                Leaf::Fork | Leaf::Join => {
                    let bound = if matches!(leaf, Leaf::Fork) {
                        skips.push(shape.clone());
                        Bound::Fork(ReshapeAt::identity(&shape))
                    } else {
                        let start = skips.pop().unwrap_or_default();
                        if start != shape {
                            return Err(bad(
                                format!("({name}) Residual"),
                                format!(
                                    "its body maps inputs of shape {start:?} to {shape:?}; x + body(x) needs the same shape"
                                ),
                            ));
                        }
                        Bound::Join(ReshapeAt::identity(&shape))
                    };
                    nodes.push(Node {
                        name,
                        class: "Residual".into(),
                        bound,
                        offset,
                        count: 0,
                        tap: None,
                    });
                    continue;
                }
            };
            let module = format!("({name}) {}", layer.class_name());
            let bound = layer.bind(&shape).map_err(|r| bad(module.clone(), r))?;
            // sizes are bounded before any later pass multiplies them
            let sizes = bound
                .params()
                .into_iter()
                .map(|(_, s)| s)
                .chain([bound.out_shape()]);
            for s in sizes {
                if checked_numel(&s).is_none() {
                    return Err(bad(
                        module,
                        format!("a tensor of shape {s:?} is too large (more than 2⁴⁰ numbers)"),
                    ));
                }
            }
            let count: usize = bound.params().iter().map(|(_, s)| numel(s)).sum();
            if count > 0 && bound.tap().map(|t| t.num_params()) != Some(count) {
                // every layer with parameters must say how its per-sample gradient is formed
                return Err(bad(
                    module,
                    "has parameters but no curvature rule (no taps)".into(),
                ));
            }
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
        let mut label = String::new();
        for n in &nodes {
            let joined = matches!(n.bound, Bound::Join(_));
            if !label.is_empty() && !label.ends_with('(') && !joined {
                label.push('-');
            }
            label.push_str(match n.bound {
                Bound::Fork(_) => "Residual(",
                Bound::Join(_) => ")",
                _ => &n.class,
            });
        }
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
    /// How the per-sample gradient is formed from the taps.
    pub fn kind(&self) -> TapKind {
        self.shape.kind
    }
    /// Whether this is a normalisation layer's scale and shift ([`TapKind::ScaleShift`]): then
    /// `out()` is its parameter count, `inp()` 1 and there is no folded bias, so that K-FAC's
    /// `G ⊗ A` is the exact block `G ⊗ [1]`.
    pub fn is_scale_shift(&self) -> bool {
        matches!(self.shape.kind, TapKind::ScaleShift { .. })
    }
    /// Whether each sample's gradient is the rank-one `g ⊗ ā` (a Kronecker tap with one
    /// location), which the fast paths exploit.
    pub fn rank_one(&self) -> bool {
        self.shape.kind == TapKind::Kronecker && self.shape.locations == 1
    }
    /// Columns of the tap matrices per location: (inputs `ā` or `x̂`, output gradients `g`).
    pub fn widths(&self) -> (usize, usize) {
        match self.shape.kind {
            TapKind::Kronecker => (self.folded_inp(), self.shape.out),
            TapKind::ScaleShift { width, .. } => (width, width),
        }
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

/// A flattened module: a layer, or where a residual block begins or ends.
enum Leaf {
    Layer(Layer),
    Fork,
    Join,
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
    /// Bytes of its parameters (P float64s) and of one sample's activations (every layer's
    /// output, float64), `None` when the count overflows: what any use of the network holds
    /// before its first input, and a lower bound on what a batch or a route adds.
    pub fn memory(&self) -> (Option<u64>, Option<u64>) {
        let params = (self.num_params as u64).checked_mul(8);
        let activations = self.nodes.iter().try_fold(0u64, |acc, n| {
            let entries = n
                .bound
                .out_shape()
                .iter()
                .try_fold(1u64, |a, &d| a.checked_mul(d as u64))?;
            acc.checked_add(entries.checked_mul(8)?)
        });
        (params, activations)
    }

    /// Refuse the network, before its parameters are allocated, when its parameters and one
    /// sample's activations ([`Network::memory`]) exceed the memory budget
    /// ([`fisherlab_linalg::memory::budget`]); the bytes it needs otherwise.
    ///
    /// # Errors
    /// [`Error::Memory`], naming the parameter count and both sizes.
    ///
    /// # Examples
    /// ```
    /// use fisherlab_autodiff::network::Mlp;
    /// // 64-1000-10: P = 65 000 + 10 010 parameters, 600 kB, far inside any budget
    /// let net = Mlp::parse("64,1000,10", "tanh").unwrap().network();
    /// assert_eq!(net.check_memory().unwrap(), 8 * 75_010 + 8 * (1000 + 1000 + 10));
    /// ```
    pub fn check_memory(&self) -> Result<u64, Error> {
        use fisherlab_linalg::memory::{human, reserve};
        let (params, activations) = self.memory();
        let shown = |b: Option<u64>| b.map_or_else(|| human(u64::MAX), human);
        let what = format!(
            "the network {} ({} parameters, {}, and one sample's activations, {})",
            self.label,
            self.num_params,
            shown(params),
            shown(activations)
        );
        Ok(reserve(
            what,
            params.and_then(|p| activations.and_then(|a| p.checked_add(a))),
        )?)
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
    /// The buffers of the network's layers (BatchNorm's `running_mean` and `running_var`), by
    /// `state_dict` name, with their values.
    pub fn buffers(&self) -> Vec<(String, Vec<f64>)> {
        let mut v = Vec::new();
        for node in &self.nodes {
            if let Bound::Norm(n) = &node.bound {
                for (suffix, values) in n.buffers() {
                    v.push((format!("{}.{suffix}", node.name), values));
                }
            }
        }
        v
    }
    /// `state_dict` entries that hold no value the network uses (BatchNorm's
    /// `num_batches_tracked`), to be skipped when reading weights.
    pub fn ignored_tensors(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| matches!(&n.bound, Bound::Norm(b) if !b.buffers().is_empty()))
            .map(|n| format!("{}.num_batches_tracked", n.name))
            .collect()
    }
    /// Set a buffer by its `state_dict` name (e.g. `1.running_var`).
    ///
    /// # Errors
    /// [`Error::Model`] for an unknown name, the wrong length, non-finite values or a variance
    /// that is negative.
    pub fn set_buffer(&mut self, name: &str, values: &[f64]) -> Result<(), Error> {
        let (module, which) = name.rsplit_once('.').unwrap_or(("", name));
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.name == module && matches!(n.bound, Bound::Norm(_)));
        let Some(Node {
            bound: Bound::Norm(n),
            class,
            ..
        }) = node
        else {
            return Err(Error::Model {
                module: name.into(),
                rule: "is not a buffer of this network".into(),
            });
        };
        n.set_buffer(which, values).map_err(|rule| Error::Model {
            module: format!("({module}) {class}"),
            rule,
        })
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
        let mut saved: Vec<Vec<D>> = Vec::new();
        for node in &self.nodes {
            match node.bound {
                Bound::Fork(_) => saved.push(a.clone()),
                Bound::Join(_) => {
                    let skip = saved.pop().expect("a join closes a fork");
                    for (v, s) in a.iter_mut().zip(skip) {
                        *v += s;
                    }
                }
                _ => {
                    a = node
                        .bound
                        .forward_dual(&theta[node.offset..node.offset + node.count], &a);
                }
            }
        }
        out.clear();
        out.extend(a);
    }
}
