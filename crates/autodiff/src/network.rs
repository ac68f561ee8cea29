//! The multilayer-perceptron shorthand (`--arch 64,64,10 --activation tanh`): dense layers with
//! the activation after every layer but the last, as the [`Network`] of
//! `nn.Sequential(Linear, act, Linear, …)`.
//!
//! Parameter order (workspace convention 2): layer by layer in forward order; in each dense layer
//! the weight `(out, in)` in row-major order, then the bias — the order of PyTorch's
//! `parameters_to_vector(model.parameters())`.

use crate::layers::{Linear, Network, Sequential};
use crate::{DualNum, Error, VectorFn};
use std::fmt;

pub use crate::layers::{ACTIVATIONS, Activation, normal_cdf};

/// A multilayer perceptron: dense layers with widths `widths[0] → widths[1] → … → widths[L]`,
/// the activation after every layer but the last.
///
/// # Examples
/// ```
/// use fisherlab_autodiff::network::Mlp;
/// let net = Mlp::parse("64,64,64,10", "tanh").unwrap().network();
/// assert_eq!(net.num_params(), 8970); // 64·64+64 + 64·64+64 + 10·64+10
/// assert_eq!(net.param_names()[0], "0.weight[0,0]");
/// assert_eq!(net.to_string(), "64-64-64-10 (tanh)");
/// ```
#[derive(Debug, Clone, PartialEq)]
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
    /// The `nn.Sequential(Linear, act, …, Linear)` this shorthand stands for.
    pub fn sequential(&self) -> Sequential {
        let mut s = Sequential::new();
        let layers = self.widths.len() - 1;
        for l in 0..layers {
            s = s.push(Linear::new(self.widths[l], self.widths[l + 1], true));
            if l + 1 < layers {
                s = s.push(self.activation);
            }
        }
        s
    }
    /// The network, labelled as this shorthand (`64-64-10 (tanh)`).
    pub fn network(&self) -> Network {
        match self.sequential().build(&[self.widths[0]]) {
            Ok(net) => net.with_label(self.to_string()),
            // widths ≥ 1 were checked on construction, so every layer fits its input
            Err(e) => unreachable!("an MLP of valid widths builds: {e}"),
        }
    }
}

impl From<Mlp> for Network {
    fn from(m: Mlp) -> Self {
        m.network()
    }
}

impl From<&Mlp> for Network {
    fn from(m: &Mlp) -> Self {
        m.network()
    }
}

/// The network at a fixed input, as a function of its parameters (for [`crate::jacobian`]).
pub struct AtInput<'a> {
    /// The network.
    pub net: &'a Network,
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
        let net = Mlp::parse("3,2,1", "relu").unwrap().network();
        assert_eq!(net.num_params(), 2 * 4 + 3);
        let names = net.param_names();
        assert_eq!(
            &names[..3],
            ["0.weight[0,0]", "0.weight[0,1]", "0.weight[0,2]"]
        );
        assert_eq!(names[6], "0.bias[0]");
        assert_eq!(names[8], "2.weight[0,0]");
        assert_eq!(names[10], "2.bias[0]");
        let t = &net.taps()[1];
        assert_eq!((t.offset, t.out(), t.inp(), t.bias()), (8, 1, 2, true));
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
        let net = Mlp::parse("2,2,1", "tanh").unwrap().network();
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
            let net = Mlp::parse("3,4,2", act).unwrap().network();
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
