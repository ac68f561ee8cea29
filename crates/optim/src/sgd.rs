use crate::{Optimizer, Result, StepInput, StepReport, apply_step, positive, unit};

/// Stochastic gradient descent with heavy-ball or Nesterov momentum and L2 weight decay (PyTorch's
/// `torch.optim.SGD` update: `b ← μ b + (g + wd θ)`, step `b`, or `g + μ b` with Nesterov).
#[derive(Debug, Clone)]
pub struct Sgd {
    lr: f64,
    momentum: f64,
    nesterov: bool,
    weight_decay: f64,
    buffer: Option<Vec<f64>>,
}

impl Sgd {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        Self {
            lr,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            buffer: None,
        }
    }
    /// With momentum μ in [0, 1), heavy-ball or Nesterov.
    pub fn with_momentum(mut self, momentum: f64, nesterov: bool) -> Self {
        self.momentum = momentum;
        self.nesterov = nesterov;
        self
    }
    /// With L2 weight decay (added to the gradient).
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
}

impl Optimizer for Sgd {
    fn name(&self) -> &'static str {
        "sgd"
    }
    fn settings(&self) -> crate::Settings {
        vec![
            ("lr", self.lr.to_string()),
            ("momentum", self.momentum.to_string()),
            ("nesterov", self.nesterov.to_string()),
            ("weight_decay", self.weight_decay.to_string()),
        ]
    }
    fn step(&mut self, input: &StepInput<'_>, theta: &mut [f64]) -> Result<StepReport> {
        positive("lr", self.lr)?;
        unit("momentum", self.momentum)?;
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(crate::Error::InvalidOption {
                name: "weight-decay",
                value: self.weight_decay.to_string(),
                rule: "must be finite and >= 0",
            });
        }
        let g: Vec<f64> = input
            .gradient
            .iter()
            .zip(theta.iter())
            .map(|(g, t)| g + self.weight_decay * t)
            .collect();
        let d = if self.momentum > 0.0 {
            let b = match self.buffer.take() {
                Some(mut b) => {
                    for (bi, gi) in b.iter_mut().zip(&g) {
                        *bi = self.momentum * *bi + gi;
                    }
                    b
                }
                None => g.clone(),
            };
            let d = if self.nesterov {
                g.iter()
                    .zip(&b)
                    .map(|(gi, bi)| gi + self.momentum * bi)
                    .collect()
            } else {
                b.clone()
            };
            self.buffer = Some(b);
            d
        } else {
            g
        };
        apply_step(theta, &d, self.lr, input.step)?;
        Ok(StepReport {
            learning_rate: self.lr,
            ..Default::default()
        })
    }
}
