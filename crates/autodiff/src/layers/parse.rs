//! Models read from the text PyTorch 2.x's `print(model)` writes for an `nn.Sequential`, e.g.
//!
//! ```text
//! Sequential(
//!   (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
//!   (1): ReLU()
//!   (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
//!   (3): Flatten(start_dim=1, end_dim=-1)
//!   (4): Linear(in_features=64, out_features=10, bias=True)
//! )
//! ```
//!
//! Every module, argument and value is checked: anything fisherlab does not support (an `LSTM`,
//! `groups=2`, `padding_mode='reflect'`, `ceil_mode=True`, …) is refused with the line it is on
//! and what is supported, before any work.

use super::{
    Activation, AdaptiveAvgPool, AvgPool, BatchNorm, Conv, Dropout, Flatten, Layer, LayerNorm,
    Linear, MaxPool, MeanPool, Residual, Sequential,
};
use crate::Error;

/// Modules [`parse_model`] accepts.
pub const MODULES: &str = "Linear, Conv1d, Conv2d, MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, AdaptiveAvgPool1d, AdaptiveAvgPool2d, MeanPool, Flatten, Dropout, LayerNorm, BatchNorm1d, BatchNorm2d, Identity, Tanh, ReLU, Sigmoid, Softplus, GELU, SiLU, LeakyReLU, Residual, Sequential";

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Tuple(Vec<Value>),
    Word(String),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Bool(b) => f.write_str(if *b { "True" } else { "False" }),
            Value::Word(w) => write!(f, "'{w}'"),
            Value::Tuple(t) => {
                let parts: Vec<String> = t.iter().map(ToString::to_string).collect();
                write!(f, "({})", parts.join(", "))
            }
        }
    }
}

/// Split at commas outside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let (mut depth, mut cur, mut out) = (0i32, String::new(), Vec::new());
    for ch in s.chars() {
        match ch {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out.into_iter().map(|p| p.trim().to_string()).collect()
}

/// A module argument's value; a tuple holds scalars (PyTorch prints no nested tuples).
fn value(s: &str) -> Result<Value, String> {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        return split_top(inner)
            .iter()
            .map(|p| {
                if p.starts_with('(') {
                    Err(format!("cannot read the value `{s}`: tuples do not nest"))
                } else {
                    value(p)
                }
            })
            .collect::<Result<_, _>>()
            .map(Value::Tuple);
    }
    match s {
        "True" => return Ok(Value::Bool(true)),
        "False" => return Ok(Value::Bool(false)),
        _ => {}
    }
    if let Ok(v) = s.parse::<i64>() {
        return Ok(Value::Int(v));
    }
    if let Ok(v) = s.parse::<f64>() {
        return Ok(Value::Float(v));
    }
    let word = s.trim_matches(|c| c == '\'' || c == '"');
    if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Ok(Value::Word(word.to_string()));
    }
    Err(format!("cannot read the value `{s}`"))
}

/// A module's arguments: positional values, then `key=value` pairs.
struct Args {
    positional: Vec<Value>,
    named: Vec<(String, Value)>,
}

impl Args {
    fn parse(s: &str) -> Result<Self, String> {
        let mut a = Args {
            positional: Vec::new(),
            named: Vec::new(),
        };
        for part in split_top(s) {
            match part.split_once('=') {
                Some((k, v)) if !k.contains('(') => {
                    a.named.push((k.trim().to_string(), value(v)?));
                }
                _ => {
                    if !a.named.is_empty() {
                        return Err(format!("positional argument `{part}` after named ones"));
                    }
                    a.positional.push(value(&part)?);
                }
            }
        }
        Ok(a)
    }
    /// Argument `key` (or positional `pos`), removed so that leftovers can be refused.
    fn take(&mut self, key: &str, pos: Option<usize>) -> Option<Value> {
        if let Some(i) = self.named.iter().position(|(k, _)| k == key) {
            return Some(self.named.remove(i).1);
        }
        pos.and_then(|p| {
            self.positional
                .get_mut(p)
                .map(|v| std::mem::replace(v, Value::Word(String::new())))
        })
        .filter(|v| *v != Value::Word(String::new()))
    }
    fn finish(self, class: &str, allowed: &str) -> Result<(), String> {
        if let Some((k, _)) = self.named.first() {
            return Err(format!(
                "{class} has no supported argument `{k}` (supported: {allowed})"
            ));
        }
        if self
            .positional
            .iter()
            .any(|v| *v != Value::Word(String::new()))
        {
            return Err(format!(
                "{class}: too many positional arguments (supported: {allowed})"
            ));
        }
        Ok(())
    }
}

/// Largest size, channel count, kernel, stride or padding read (2²⁴): far above any printed
/// model, and small enough that shapes computed from them cannot overflow.
pub const MAX_DIMENSION: usize = 1 << 24;

fn usize_of(v: &Value, what: &str) -> Result<usize, String> {
    match v {
        Value::Int(i) if *i as u64 > MAX_DIMENSION as u64 => {
            Err(format!("{what}={i} is too large: at most {MAX_DIMENSION}"))
        }
        Value::Int(i) if *i >= 0 => Ok(*i as usize),
        other => Err(format!("{what}={other} must be a non-negative integer")),
    }
}

/// An int or a tuple of `dims` ints (an int repeated).
fn ints(v: &Value, dims: usize, what: &str) -> Result<Vec<usize>, String> {
    match v {
        Value::Tuple(t) if t.len() == dims => t.iter().map(|x| usize_of(x, what)).collect(),
        Value::Tuple(t) => Err(format!(
            "{what}={v} has {} entries, expected {dims}",
            t.len()
        )),
        other => Ok(vec![usize_of(other, what)?; dims]),
    }
}

fn pair(v: &[usize], unit: usize) -> [usize; 2] {
    match v {
        [a] => [unit, *a],
        [a, b] => [*a, *b],
        _ => [unit, unit],
    }
}

fn bool_of(v: &Value, what: &str) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(format!("{what}={other} must be True or False")),
    }
}

fn float_of(v: &Value, what: &str) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        other => Err(format!("{what}={other} must be a number")),
    }
}

fn conv(dims: usize, mut a: Args) -> Result<Layer, String> {
    let class = format!("Conv{dims}d");
    let need = |v: Option<Value>, what: &str| v.ok_or_else(|| format!("{class} needs {what}"));
    let cin = usize_of(
        &need(a.take("in_channels", Some(0)), "in_channels")?,
        "in_channels",
    )?;
    let cout = usize_of(
        &need(a.take("out_channels", Some(1)), "out_channels")?,
        "out_channels",
    )?;
    let k = ints(
        &need(a.take("kernel_size", Some(2)), "kernel_size")?,
        dims,
        "kernel_size",
    )?;
    let mut layer = if dims == 1 {
        Conv::conv1d(cin, cout, k[0])
    } else {
        Conv::conv2d(cin, cout, [k[0], k[1]])
    };
    if let Some(s) = a.take("stride", Some(3)) {
        layer = layer.with_stride(&ints(&s, dims, "stride")?);
    }
    let padding = a.take("padding", Some(4));
    if let Some(d) = a.take("dilation", Some(5)) {
        layer = layer.with_dilation(&ints(&d, dims, "dilation")?);
    }
    match padding {
        Some(Value::Word(w)) if w == "valid" => {}
        Some(Value::Word(w)) if w == "same" => {
            if layer.stride != [1, 1] {
                return Err("padding='same' needs stride 1 (as PyTorch requires)".into());
            }
            let total = |a: usize| layer.dilation[a] * (layer.kernel[a] - 1);
            if (0..2).any(|a| total(a) % 2 == 1) {
                return Err(
                    "padding='same' with an even kernel pads asymmetrically, which is not supported; give the padding as numbers"
                        .into(),
                );
            }
            layer.padding = [total(0) / 2, total(1) / 2];
        }
        Some(Value::Word(w)) => {
            return Err(format!(
                "padding='{w}' is not supported (numbers, 'same' or 'valid')"
            ));
        }
        Some(p) => layer = layer.with_padding(&ints(&p, dims, "padding")?),
        None => {}
    }
    if let Some(g) = a.take("groups", Some(6))
        && usize_of(&g, "groups")? != 1
    {
        return Err(format!("groups={g} is not supported (only groups=1)"));
    }
    if let Some(b) = a.take("bias", Some(7)) {
        layer = layer.with_bias(bool_of(&b, "bias")?);
    }
    if let Some(m) = a.take("padding_mode", Some(8))
        && m != Value::Word("zeros".into())
    {
        return Err(format!("padding_mode={m} is not supported (only 'zeros')"));
    }
    a.finish(
        &class,
        "in_channels, out_channels, kernel_size, stride, padding, dilation, groups=1, bias, padding_mode='zeros'",
    )?;
    Ok(Layer::Conv(layer))
}

/// A pool's window as PyTorch prints it: kernel, stride (`None` or absent: the kernel) and
/// padding, each an int or a `dims`-tuple, as (height, width) pairs.
struct Window {
    kernel: [usize; 2],
    stride: Option<[usize; 2]>,
    padding: [usize; 2],
}

fn window(dims: usize, a: &mut Args, class: &str) -> Result<Window, String> {
    let k = a
        .take("kernel_size", Some(0))
        .ok_or_else(|| format!("{class} needs kernel_size"))?;
    let kernel = pair(&ints(&k, dims, "kernel_size")?, 1);
    let stride = match a.take("stride", Some(1)) {
        Some(s) if s != Value::Word("None".into()) => Some(pair(&ints(&s, dims, "stride")?, 1)),
        _ => None,
    };
    let padding = match a.take("padding", Some(2)) {
        Some(p) => pair(&ints(&p, dims, "padding")?, 0),
        None => [0, 0],
    };
    Ok(Window {
        kernel,
        stride,
        padding,
    })
}

fn max_pool(dims: usize, mut a: Args) -> Result<Layer, String> {
    let class = format!("MaxPool{dims}d");
    let w = window(dims, &mut a, &class)?;
    let mut layer = if dims == 1 {
        MaxPool::pool1d(w.kernel[1])
    } else {
        MaxPool::pool2d(w.kernel)
    };
    if let Some(s) = w.stride {
        layer = layer.with_stride(s);
    }
    layer = layer.with_padding(w.padding);
    if let Some(d) = a.take("dilation", Some(3)) {
        layer = layer.with_dilation(pair(&ints(&d, dims, "dilation")?, 1));
    }
    for (key, pos) in [("return_indices", 4), ("ceil_mode", 5)] {
        if let Some(v) = a.take(key, Some(pos))
            && bool_of(&v, key)?
        {
            return Err(format!("{key}=True is not supported (only {key}=False)"));
        }
    }
    a.finish(
        &class,
        "kernel_size, stride, padding, dilation, ceil_mode=False",
    )?;
    Ok(Layer::MaxPool(layer))
}

fn avg_pool(dims: usize, mut a: Args) -> Result<Layer, String> {
    let class = format!("AvgPool{dims}d");
    let w = window(dims, &mut a, &class)?;
    let mut layer = if dims == 1 {
        AvgPool::pool1d(w.kernel[1])
    } else {
        AvgPool::pool2d(w.kernel)
    };
    if let Some(s) = w.stride {
        layer = layer.with_stride(s);
    }
    layer = layer.with_padding(w.padding);
    if let Some(v) = a.take("ceil_mode", Some(3))
        && bool_of(&v, "ceil_mode")?
    {
        return Err("ceil_mode=True is not supported (only ceil_mode=False)".into());
    }
    if let Some(v) = a.take("count_include_pad", Some(4))
        && !bool_of(&v, "count_include_pad")?
    {
        return Err("count_include_pad=False is not supported (only True)".into());
    }
    a.finish(&class, "kernel_size, stride, padding")?;
    Ok(Layer::AvgPool(layer))
}

fn layer_norm(mut a: Args) -> Result<Layer, String> {
    let shape = a
        .take("normalized_shape", Some(0))
        .ok_or("LayerNorm needs normalized_shape")?;
    let shape = match &shape {
        Value::Tuple(t) => t
            .iter()
            .map(|v| usize_of(v, "normalized_shape"))
            .collect::<Result<Vec<_>, _>>()?,
        other => vec![usize_of(other, "normalized_shape")?],
    };
    let mut l = LayerNorm::new(&shape);
    if let Some(e) = a.take("eps", Some(1)) {
        l.eps = float_of(&e, "eps")?;
    }
    if let Some(v) = a.take("elementwise_affine", Some(2)) {
        l.elementwise_affine = bool_of(&v, "elementwise_affine")?;
    }
    // PyTorch < 2.1 prints no `bias`: it then has a shift exactly when it has a scale
    l.bias = match a.take("bias", Some(3)) {
        Some(v) => bool_of(&v, "bias")?,
        None => l.elementwise_affine,
    };
    if l.bias && !l.elementwise_affine {
        return Err("bias=True needs elementwise_affine=True".into());
    }
    a.finish(
        "LayerNorm",
        "normalized_shape, eps, elementwise_affine, bias",
    )?;
    Ok(Layer::LayerNorm(l))
}

fn batch_norm(dims: usize, mut a: Args) -> Result<Layer, String> {
    let class = format!("BatchNorm{dims}d");
    let c = a
        .take("num_features", Some(0))
        .ok_or_else(|| format!("{class} needs num_features"))?;
    let c = usize_of(&c, "num_features")?;
    let mut b = if dims == 1 {
        BatchNorm::norm1d(c)
    } else {
        BatchNorm::norm2d(c)
    };
    if let Some(e) = a.take("eps", Some(1)) {
        b.eps = float_of(&e, "eps")?;
    }
    if let Some(m) = a.take("momentum", Some(2))
        && m != Value::Word("None".into())
    {
        // only used when training updates the running statistics
        float_of(&m, "momentum")?;
    }
    if let Some(v) = a.take("affine", Some(3)) {
        b.affine = bool_of(&v, "affine")?;
    }
    if let Some(v) = a.take("bias", None) {
        b.bias = bool_of(&v, "bias")?;
    }
    if let Some(v) = a.take("track_running_stats", Some(4))
        && !bool_of(&v, "track_running_stats")?
    {
        return Err(format!(
            "track_running_stats=False is not supported: {class} then normalises with the statistics of each batch, as in training mode, which couples the samples (the Fisher is no longer a mean of per-sample terms); only evaluation mode with running statistics (track_running_stats=True) is"
        ));
    }
    a.finish(
        &class,
        "num_features, eps, momentum, affine, bias, track_running_stats=True",
    )?;
    Ok(Layer::BatchNorm(b))
}

fn module(class: &str, args: &str) -> Result<Layer, String> {
    let mut a = Args::parse(args)?;
    let no_args = |a: Args, allowed: &str| a.finish(class, allowed);
    let layer = match class {
        "Linear" => {
            let i = a
                .take("in_features", Some(0))
                .ok_or("Linear needs in_features")?;
            let o = a
                .take("out_features", Some(1))
                .ok_or("Linear needs out_features")?;
            let b = match a.take("bias", Some(2)) {
                Some(b) => bool_of(&b, "bias")?,
                None => true,
            };
            let l = Linear::new(
                usize_of(&i, "in_features")?,
                usize_of(&o, "out_features")?,
                b,
            );
            no_args(a, "in_features, out_features, bias")?;
            Layer::Linear(l)
        }
        "LayerNorm" => layer_norm(a)?,
        "BatchNorm1d" => batch_norm(1, a)?,
        "BatchNorm2d" => batch_norm(2, a)?,
        "Conv1d" => conv(1, a)?,
        "Conv2d" => conv(2, a)?,
        "MaxPool1d" => max_pool(1, a)?,
        "MaxPool2d" => max_pool(2, a)?,
        "AvgPool1d" => avg_pool(1, a)?,
        "AvgPool2d" => avg_pool(2, a)?,
        "AdaptiveAvgPool1d" | "AdaptiveAvgPool2d" => {
            let dims = if class.ends_with("1d") { 1 } else { 2 };
            let o = a.take("output_size", Some(0)).ok_or("needs output_size")?;
            let o = ints(&o, dims, "output_size")?;
            no_args(a, "output_size")?;
            Layer::AdaptiveAvgPool(if dims == 1 {
                AdaptiveAvgPool::pool1d(o[0])
            } else {
                AdaptiveAvgPool::pool2d([o[0], o[1]])
            })
        }
        "MeanPool" => {
            let dim = match a.take("dim", Some(0)) {
                Some(Value::Int(d)) => d as isize,
                Some(other) => return Err(format!("dim={other} must be an integer")),
                None => return Err("MeanPool needs dim".into()),
            };
            no_args(a, "dim")?;
            Layer::MeanPool(MeanPool { dim })
        }
        "Flatten" => {
            let mut f = Flatten::default();
            let int = |v: Value, what| match v {
                Value::Int(i) => Ok(i as isize),
                other => Err(format!("{what}={other} must be an integer")),
            };
            if let Some(v) = a.take("start_dim", Some(0)) {
                f.start_dim = int(v, "start_dim")?;
            }
            if let Some(v) = a.take("end_dim", Some(1)) {
                f.end_dim = int(v, "end_dim")?;
            }
            no_args(a, "start_dim, end_dim")?;
            Layer::Flatten(f)
        }
        "Dropout" | "Dropout1d" | "Dropout2d" => {
            let p = match a.take("p", Some(0)) {
                Some(v) => float_of(&v, "p")?,
                None => 0.5,
            };
            a.take("inplace", Some(1));
            no_args(a, "p, inplace")?;
            Layer::Dropout(Dropout { p })
        }
        "Identity" | "Tanh" | "Sigmoid" => {
            no_args(a, "no arguments")?;
            Layer::Activation(match class {
                "Identity" => Activation::Identity,
                "Tanh" => Activation::Tanh,
                _ => Activation::Sigmoid,
            })
        }
        "ReLU" | "SiLU" => {
            a.take("inplace", Some(0));
            no_args(a, "inplace")?;
            Layer::Activation(if class == "ReLU" {
                Activation::Relu
            } else {
                Activation::Silu
            })
        }
        "LeakyReLU" => {
            let slope = match a.take("negative_slope", Some(0)) {
                Some(v) => float_of(&v, "negative_slope")?,
                None => 0.01,
            };
            if !slope.is_finite() {
                return Err(format!("negative_slope={slope} must be finite"));
            }
            a.take("inplace", Some(1));
            no_args(a, "negative_slope, inplace")?;
            Layer::Activation(Activation::LeakyRelu(slope))
        }
        "Softplus" => {
            if let Some(b) = a.take("beta", Some(0)) {
                let b = float_of(&b, "beta")?;
                if b.to_bits() != 1.0f64.to_bits() {
                    return Err(format!("beta={b} is not supported (only beta=1.0)"));
                }
            }
            if let Some(t) = a.take("threshold", Some(1)) {
                float_of(&t, "threshold")?;
            }
            no_args(a, "beta=1.0, threshold")?;
            Layer::Activation(Activation::Softplus)
        }
        "GELU" => {
            if let Some(v) = a.take("approximate", Some(0))
                && v != Value::Word("none".into())
            {
                return Err(format!(
                    "approximate={v} is not supported (only 'none', the exact GELU)"
                ));
            }
            no_args(a, "approximate='none'")?;
            Layer::Activation(Activation::Gelu)
        }
        other => {
            return Err(format!(
                "module `{other}` is not supported (supported: {MODULES})"
            ));
        }
    };
    Ok(layer)
}

/// Deepest nesting of `Sequential` and `Residual` containers read.
pub const MAX_NESTING: usize = 64;

/// A container being read.
enum Frame {
    Seq(Sequential),
    /// A residual block and its body, once read.
    Residual(Option<Sequential>),
}

/// Read a model from the text PyTorch's `print(model)` writes for an `nn.Sequential` of
/// supported modules (see the module documentation).
///
/// # Errors
/// [`Error::ModelText`] naming the line and what is supported.
///
/// # Examples
/// ```
/// use fisherlab_autodiff::layers::parse_model;
/// let text = "Sequential(
///   (0): Conv1d(1, 4, kernel_size=(3,), stride=(1,), padding=(1,))
///   (1): ReLU()
///   (2): Flatten(start_dim=1, end_dim=-1)
///   (3): Linear(in_features=160, out_features=10, bias=True)
/// )";
/// let net = parse_model(text).unwrap().build(&[1, 40]).unwrap();
/// assert_eq!(net.num_params(), 4 * 3 + 4 + 160 * 10 + 10);
/// let bad = parse_model(&text.replace("stride=(1,)", "stride=(1,), groups=2")).unwrap_err();
/// assert!(bad.to_string().contains("line 2") && bad.to_string().contains("groups=1"));
/// ```
pub fn parse_model(text: &str) -> Result<Sequential, Error> {
    let err = |line: usize, content: &str, rule: String| Error::ModelText {
        line,
        text: content.trim().chars().take(120).collect(),
        rule,
    };
    // open containers: (name, what it is, line it opened on)
    let mut stack: Vec<(String, Frame, usize)> = Vec::new();
    let mut done: Option<Sequential> = None;
    let mut last = 0;
    for (k, raw) in text.lines().enumerate() {
        let line_no = k + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        last = line_no;
        if done.is_some() {
            return Err(err(
                line_no,
                line,
                "text after the model's closing `)`".into(),
            ));
        }
        if stack.is_empty() {
            match line {
                "Sequential(" => {
                    stack.push((String::new(), Frame::Seq(Sequential::new()), line_no))
                }
                "Sequential()" => {
                    return Err(err(line_no, line, "the Sequential has no layers".into()));
                }
                _ => {
                    let class = line.split('(').next().unwrap_or(line);
                    return Err(err(
                        line_no,
                        line,
                        format!(
                            "the model must be an nn.Sequential printed by PyTorch (starting `Sequential(`), not `{class}`"
                        ),
                    ));
                }
            }
            continue;
        }
        if line == ")" {
            let Some((name, frame, opened)) = stack.pop() else {
                return Err(err(line_no, line, "unbalanced `)`".into()));
            };
            let layer = match frame {
                Frame::Seq(seq) => Layer::Sequential(seq),
                Frame::Residual(Some(body)) => Layer::Residual(Residual::new(body)),
                Frame::Residual(None) => {
                    return Err(err(
                        opened,
                        "Residual(",
                        "a Residual holds one child `(body): Sequential(...)`; it has none".into(),
                    ));
                }
            };
            match stack.last_mut() {
                Some((_, Frame::Seq(parent), _)) => {
                    *parent = std::mem::take(parent).push_named(name, layer);
                }
                Some((_, Frame::Residual(body), _)) => match layer {
                    Layer::Sequential(seq) => *body = Some(seq),
                    _ => unreachable!("a Residual frame only opens a Sequential"),
                },
                None => match layer {
                    Layer::Sequential(seq) => done = Some(seq),
                    _ => unreachable!("the outermost frame is a Sequential"),
                },
            }
            continue;
        }
        let Some(rest) = line.strip_prefix('(') else {
            return Err(err(
                line_no,
                line,
                "expected `(name): Module(...)` or `)`".into(),
            ));
        };
        let Some((name, module_text)) = rest.split_once("):") else {
            return Err(err(line_no, line, "expected `(name): Module(...)`".into()));
        };
        let name = name.trim().to_string();
        if name.is_empty() || name.contains(['.', ' ']) {
            return Err(err(
                line_no,
                line,
                format!("module name `{name}` is not valid"),
            ));
        }
        let module_text = module_text.trim();
        let opens = module_text == "Sequential(" || module_text == "Residual(";
        if opens && stack.len() >= MAX_NESTING {
            return Err(err(
                line_no,
                line,
                format!("containers nest deeper than {MAX_NESTING} levels"),
            ));
        }
        if let Some((_, Frame::Residual(body), _)) = stack.last() {
            if body.is_some() || name != "body" || module_text != "Sequential(" {
                return Err(err(
                    line_no,
                    line,
                    "a Residual holds exactly one child, `(body): Sequential(`, and computes x + body(x)"
                        .into(),
                ));
            }
            stack.push((name, Frame::Seq(Sequential::new()), line_no));
            continue;
        }
        if module_text == "Sequential(" {
            stack.push((name, Frame::Seq(Sequential::new()), line_no));
            continue;
        }
        if module_text == "Residual(" {
            stack.push((name, Frame::Residual(None), line_no));
            continue;
        }
        let Some(open) = module_text.find('(') else {
            return Err(err(line_no, line, "expected `Module(arguments)`".into()));
        };
        let class = &module_text[..open];
        let Some(args) = module_text[open + 1..].strip_suffix(')') else {
            return Err(err(
                line_no,
                line,
                format!(
                    "`{class}(` is not closed on its line (only Sequential and Residual may span lines; supported: {MODULES})"
                ),
            ));
        };
        let layer = module(class, args).map_err(|rule| err(line_no, line, rule))?;
        if let Some((_, Frame::Seq(seq), _)) = stack.last_mut() {
            *seq = std::mem::take(seq).push_named(name, layer);
        }
    }
    match (done, stack.is_empty()) {
        (Some(seq), _) => Ok(seq),
        (None, true) => Err(err(1, "", "empty model text".into())),
        (None, false) => Err(err(
            last,
            "",
            "the model text ends before its closing `)`".into(),
        )),
    }
}
