//! Multilayer perceptrons written once over [`DualNum`]: the forward-mode reference for network
//! derivatives (Jacobians `∂z/∂θ` of small networks, cross-checks of faster routes).
//!
//! Parameter order (workspace convention 2): layer by layer in forward order; in each dense layer
//! the weight `(out, in)` in row-major order, then the bias — the order of PyTorch's
//! `parameters_to_vector(nn.Sequential(Linear, act, Linear, …).parameters())`.

use crate::special::lift;
use crate::{DualNum, Error, VectorFn};
use std::fmt;

/// Hidden-layer activation (the output layer is linear; the likelihood head supplies the link).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x`
    Identity,
    /// `tanh x`
    Tanh,
    /// `max(x, 0)` (derivative 0 at 0, as PyTorch)
    Relu,
    /// `1/(1 + e^{−x})`
    Sigmoid,
    /// `ln(1 + eˣ)`
    Softplus,
    /// `x Φ(x) = ½x(1 + erf(x/√2))` (PyTorch's exact GELU)
    Gelu,
}

/// Activation names accepted by [`Activation::from_name`].
pub const ACTIVATIONS: [&str; 6] = ["identity", "tanh", "relu", "sigmoid", "softplus", "gelu"];

impl Activation {
    /// An activation by name.
    ///
    /// # Errors
    /// [`Error::UnknownActivation`].
    pub fn from_name(name: &str) -> Result<Self, Error> {
        Ok(match name {
            "identity" => Activation::Identity,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            "sigmoid" => Activation::Sigmoid,
            "softplus" => Activation::Softplus,
            "gelu" => Activation::Gelu,
            _ => return Err(Error::UnknownActivation(name.to_string())),
        })
    }
    /// Name.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Softplus => "softplus",
            Activation::Gelu => "gelu",
        }
    }
    /// Apply to any scalar type.
    pub fn apply<D: DualNum<Primitive = f64> + Copy>(&self, x: D) -> D {
        match self {
            Activation::Identity => x,
            Activation::Tanh => x.tanh(),
            Activation::Relu => {
                if x.re() > 0.0 {
                    x
                } else {
                    x * 0.0
                }
            }
            Activation::Sigmoid => ((-x).exp() + 1.0).recip(),
            Activation::Softplus => {
                if x.re() > 0.0 {
                    x + (-x).exp().ln_1p()
                } else {
                    x.exp().ln_1p()
                }
            }
            Activation::Gelu => x * normal_cdf(x),
        }
    }
}

/// Standard normal CDF `Φ(x) = ½(1 + erf(x/√2))` for any scalar type (erf from `pxfm`).
pub fn normal_cdf<D: DualNum<Primitive = f64> + Copy>(x: D) -> D {
    let x0 = x.re();
    let pdf = (-0.5 * x0 * x0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    lift(x, |k| match k {
        0 => 0.5 * (1.0 + pxfm::f_erf(x0 / std::f64::consts::SQRT_2)),
        1 => pdf,
        2 => -x0 * pdf,
        _ => (x0 * x0 - 1.0) * pdf,
    })
}

/// A multilayer perceptron: dense layers with widths `widths[0] → widths[1] → … → widths[L]`,
/// the activation after every layer but the last.
///
/// # Examples
/// ```
/// use fisherlab_autodiff::network::{Activation, Mlp};
/// let net = Mlp::parse("64,64,64,10", "tanh").unwrap();
/// assert_eq!(net.num_params(), 8970); // 64·64+64 + 64·64+64 + 10·64+10
/// assert_eq!(net.param_names()[0], "0.weight[0,0]");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mlp {
    widths: Vec<usize>,
    activation: Activation,
}

impl fmt::Display for Mlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w: Vec<String> = self.widths.iter().map(|w| w.to_string()).collect();
        write!(f, "{} ({})", w.join("-"), self.activation.name())
    }
}

impl Mlp {
    /// A network from its layer widths (input first, at least two entries, all ≥ 1).
    ///
    /// # Errors
    /// Fewer than two widths, or a zero width.
    pub fn new(widths: Vec<usize>, activation: Activation) -> Result<Self, Error> {
        let arch = widths
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join(",");
        if widths.len() < 2 {
            return Err(Error::InvalidArchitecture {
                arch,
                rule: "needs an input width and at least one layer",
            });
        }
        if widths.contains(&0) {
            return Err(Error::InvalidArchitecture {
                arch,
                rule: "every width must be >= 1",
            });
        }
        Ok(Self { widths, activation })
    }
    /// Parse `--arch 64,64,10 --activation tanh`.
    ///
    /// # Errors
    /// A width that is not a positive integer; an unknown activation.
    pub fn parse(arch: &str, activation: &str) -> Result<Self, Error> {
        let widths = arch
            .split(',')
            .map(|w| w.trim().parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Error::InvalidArchitecture {
                arch: arch.to_string(),
                rule: "must be comma-separated positive integers, input width first",
            })?;
        Self::new(widths, Activation::from_name(activation)?)
    }
    /// Layer widths, input first.
    pub fn widths(&self) -> &[usize] {
        &self.widths
    }
    /// Hidden activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }
    /// Input dimension.
    pub fn input_dim(&self) -> usize {
        self.widths[0]
    }
    /// Output dimension C.
    pub fn output_dim(&self) -> usize {
        *self.widths.last().unwrap_or(&0)
    }
    /// Number of dense layers.
    pub fn num_layers(&self) -> usize {
        self.widths.len() - 1
    }
    /// `(weight offset, bias offset, out, in)` of layer `l` in the parameter vector.
    pub fn layer_offsets(&self, l: usize) -> (usize, usize, usize, usize) {
        let mut off = 0;
        for k in 0..l {
            off += self.widths[k + 1] * (self.widths[k] + 1);
        }
        let (i, o) = (self.widths[l], self.widths[l + 1]);
        (off, off + o * i, o, i)
    }
    /// Total parameter count P.
    pub fn num_params(&self) -> usize {
        self.widths.windows(2).map(|w| w[1] * (w[0] + 1)).sum()
    }
    /// Names in parameter order, PyTorch `nn.Sequential` style (`0.weight[i,j]`, `0.bias[i]`,
    /// `2.weight[i,j]`, … — activations take an index but hold no weights).
    pub fn param_names(&self) -> Vec<String> {
        let mut v = Vec::with_capacity(self.num_params());
        for l in 0..self.num_layers() {
            let (_, _, o, i) = self.layer_offsets(l);
            for r in 0..o {
                for c in 0..i {
                    v.push(format!("{}.weight[{r},{c}]", 2 * l));
                }
            }
            for r in 0..o {
                v.push(format!("{}.bias[{r}]", 2 * l));
            }
        }
        v
    }
    /// The network output `z = f(x; θ)` for any scalar type, written into `out` (cleared first).
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
        assert_eq!(theta.len(), self.num_params(), "parameter vector length");
        assert_eq!(x.len(), self.input_dim(), "input length");
        let mut a: Vec<D> = x.iter().map(|&v| D::from(v)).collect();
        for l in 0..self.num_layers() {
            let (w, b, o, i) = self.layer_offsets(l);
            let mut s: Vec<D> = (0..o)
                .map(|r| {
                    let mut acc = theta[b + r];
                    for c in 0..i {
                        acc += theta[w + r * i + c] * a[c];
                    }
                    acc
                })
                .collect();
            if l + 1 < self.num_layers() {
                for v in &mut s {
                    *v = self.activation.apply(*v);
                }
            }
            a = s;
        }
        out.clear();
        out.extend(a);
    }
}

/// The network at a fixed input, as a function of its parameters (for [`crate::jacobian`]).
pub struct AtInput<'a> {
    /// The network.
    pub net: &'a Mlp,
    /// The input.
    pub x: &'a [f64],
}

impl VectorFn for AtInput<'_> {
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, theta: &[D], out: &mut Vec<D>) {
        self.net.forward(theta, self.x, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jacobian;

    #[test]
    fn parameter_order_is_pytorchs() {
        let net = Mlp::parse("3,2,1", "relu").unwrap();
        assert_eq!(net.num_params(), 2 * 4 + 3);
        let names = net.param_names();
        assert_eq!(
            &names[..3],
            ["0.weight[0,0]", "0.weight[0,1]", "0.weight[0,2]"]
        );
        assert_eq!(names[6], "0.bias[0]");
        assert_eq!(names[8], "2.weight[0,0]");
        assert_eq!(names[10], "2.bias[0]");
        assert_eq!(net.layer_offsets(1), (8, 10, 1, 2));
        assert!(Mlp::parse("3,x", "relu").is_err());
        assert!(Mlp::parse("3", "relu").is_err());
        assert!(Mlp::parse("3,0,1", "relu").is_err());
        assert!(matches!(
            Mlp::parse("3,2", "swish"),
            Err(Error::UnknownActivation(_))
        ));
    }

    #[test]
    fn forward_by_hand_for_a_tiny_net() {
        // 2 → 2 (tanh) → 1 with hand-picked weights
        let net = Mlp::parse("2,2,1", "tanh").unwrap();
        let theta = [0.5, -1.0, 2.0, 0.25, 0.1, -0.2, 1.5, -3.0, 0.7];
        let x = [0.3, -0.6];
        let h0 = (0.5 * 0.3 + -1.0 * -0.6 + 0.1f64).tanh();
        let h1 = (2.0 * 0.3 + 0.25 * -0.6 - 0.2f64).tanh();
        let z = 1.5 * h0 - 3.0 * h1 + 0.7;
        let mut out = Vec::new();
        net.forward(&theta, &x, &mut out);
        assert!((out[0] - z).abs() < 1e-15);
    }

    #[test]
    fn jacobian_matches_central_differences_for_every_activation() {
        for act in ACTIVATIONS {
            let net = Mlp::parse("3,4,2", act).unwrap();
            let p = net.num_params();
            let theta: Vec<f64> = (0..p).map(|k| ((k * 37 % 11) as f64 - 5.0) / 7.0).collect();
            let x = [0.4, -0.9, 1.3];
            let (_, j) = jacobian(&AtInput { net: &net, x: &x }, &theta);
            let h = 1e-6;
            for k in 0..p {
                let (mut tp, mut tm) = (theta.clone(), theta.clone());
                tp[k] += h;
                tm[k] -= h;
                let (mut zp, mut zm) = (Vec::new(), Vec::new());
                net.forward(&tp, &x, &mut zp);
                net.forward(&tm, &x, &mut zm);
                for c in 0..2 {
                    let fd = (zp[c] - zm[c]) / (2.0 * h);
                    assert!(
                        (j[(c, k)] - fd).abs() < 1e-7 * (1.0 + fd.abs()),
                        "{act} ∂z{c}/∂θ{k}: {} vs {fd}",
                        j[(c, k)]
                    );
                }
            }
        }
    }

    #[test]
    fn gelu_is_x_times_normal_cdf() {
        // Φ(1) = 0.8413447460685429 (tabulated)
        let v: f64 = Activation::Gelu.apply(1.0);
        assert!((v - 0.841_344_746_068_542_9).abs() < 1e-15);
        let (_, d) =
            num_dual::first_derivative(|x: num_dual::Dual64| Activation::Gelu.apply(x), 1.0);
        // d/dx xΦ(x) = Φ(x) + xφ(x)
        let phi1 = (-0.5f64).exp() / (2.0 * std::f64::consts::PI).sqrt();
        assert!((d - (0.841_344_746_068_542_9 + phi1)).abs() < 1e-15);
    }
}
