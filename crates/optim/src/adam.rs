use crate::{Optimizer, Result, StepInput, StepReport, apply_step, positive, unit};

/// Adam (Kingma & Ba 2015) with bias correction, or AdamW (Loshchilov & Hutter 2019: decoupled
/// weight decay `θ ← θ − lr·wd·θ`), as PyTorch's `torch.optim.Adam` / `AdamW`.
#[derive(Debug, Clone)]
pub struct Adam {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    decoupled: bool,
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
}

impl Adam {
    /// Adam with β = (0.9, 0.999), ε = 1e-8.
    pub fn new(lr: f64) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            m: Vec::new(),
            v: Vec::new(),
            t: 0,
        }
    }
    /// AdamW with decoupled weight decay.
    pub fn adamw(lr: f64, weight_decay: f64) -> Self {
        Self {
            weight_decay,
            decoupled: true,
            ..Self::new(lr)
        }
    }
    /// Other moment decays.
    pub fn with_betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }
}

impl Optimizer for Adam {
    fn name(&self) -> &'static str {
        if self.decoupled { "adamw" } else { "adam" }
    }
    fn settings(&self) -> crate::Settings {
        vec![
            ("lr", self.lr.to_string()),
            ("beta1", self.beta1.to_string()),
            ("beta2", self.beta2.to_string()),
            ("eps", self.eps.to_string()),
            ("weight_decay", self.weight_decay.to_string()),
            ("decoupled_weight_decay", self.decoupled.to_string()),
        ]
    }
    fn step(&mut self, input: &StepInput<'_>, theta: &mut [f64]) -> Result<StepReport> {
        positive("lr", self.lr)?;
        positive("eps", self.eps)?;
        unit("beta1", self.beta1)?;
        unit("beta2", self.beta2)?;
        let p = theta.len();
        if self.m.len() != p {
            self.m = vec![0.0; p];
            self.v = vec![0.0; p];
            self.t = 0;
        }
        self.t += 1;
        let (c1, c2) = (1.0 - self.beta1.powi(self.t), 1.0 - self.beta2.powi(self.t));
        let mut d = vec![0.0; p];
        for q in 0..p {
            let mut g = input.gradient[q];
            if !self.decoupled {
                g += self.weight_decay * theta[q];
            }
            self.m[q] = self.beta1 * self.m[q] + (1.0 - self.beta1) * g;
            self.v[q] = self.beta2 * self.v[q] + (1.0 - self.beta2) * g * g;
            d[q] = (self.m[q] / c1) / ((self.v[q] / c2).sqrt() + self.eps);
            if self.decoupled {
                d[q] += self.weight_decay * theta[q];
            }
        }
        apply_step(theta, &d, self.lr, input.step)?;
        Ok(StepReport {
            learning_rate: self.lr,
            ..Default::default()
        })
    }
}
