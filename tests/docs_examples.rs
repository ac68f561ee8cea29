//! The Rust examples of docs/validate-a-closed-form.md, docs/approximations.md,
//! docs/optimizers.md and docs/layers.md, compiled and run; tests check the examples here are the ones the pages show.

use fisherlab::distributions::{DualNum, Family, FisherRng, LogDensity, Support};
use fisherlab::fisher::curvature::{Approximation, Labels, LayerIsotropic, Problem};
use fisherlab::fisher::{
    McForm, MonteCarloOptions, QuadratureOptions, exact_expectation, monte_carlo,
};
use nalgebra::DMatrix;
use rand::distr::Distribution;

// ---- docs/validate-a-closed-form.md: BEGIN (the types of the page's rust block)
/// Rayleigh(σ): p(x) = x/σ² exp(−x²/(2σ²)), x > 0. Claimed Fisher: 4/σ².
#[derive(Clone)]
struct Rayleigh {
    sigma: f64,
}

impl Family for Rayleigh {
    fn name(&self) -> &'static str {
        "rayleigh"
    }
    fn param_names(&self) -> Vec<String> {
        vec!["sigma".into()]
    }
    fn params(&self) -> Vec<f64> {
        vec![self.sigma]
    }
    fn support(&self) -> Support {
        Support::Positive
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        let e: f64 = rand_distr::Exp1.sample(rng);
        out[0] = self.sigma * (2.0 * e).sqrt();
    }
    fn fisher(&self) -> DMatrix<f64> {
        DMatrix::from_element(1, 1, 4.0 / self.sigma.powi(2))
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        vec![(self.sigma.ln(), 1.0)]
    }
}

impl LogDensity for Rayleigh {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D], x: &[f64]) -> D {
        let s = t[0];
        -(s * s).ln() + x[0].ln() - (s * s * 2.0).recip() * (x[0] * x[0])
    }
    fn with_params(&self, t: &[f64]) -> fisherlab::distributions::Result<Self> {
        Ok(Rayleigh { sigma: t[0] })
    }
}

// ---- docs/validate-a-closed-form.md: END

#[test]
fn validate_a_user_family() {
    // ---- docs/validate-a-closed-form.md: BEGIN (the statements of the page's rust block)
    let r = Rayleigh { sigma: 1.7 };
    let report = exact_expectation(&r, &QuadratureOptions::default()).unwrap();
    assert!((report.mass - 1.0).abs() < 1e-9);
    assert!(report.score_mean[0].abs() < 1e-9);
    let gap = (report.fisher.matrix[(0, 0)] - r.fisher()[(0, 0)]).abs() / r.fisher()[(0, 0)];
    assert!(gap < 1e-9);
    // ---- docs/validate-a-closed-form.md: END
    // and a wrong claim (the common slip 2/σ² instead of 4/σ²) is caught
    assert!((report.fisher.matrix[(0, 0)] - 2.0 / 1.7f64.powi(2)).abs() > 0.1);
    for form in [McForm::Score, McForm::NegativeHessian] {
        let mc = monte_carlo(
            &r,
            &MonteCarloOptions {
                samples: 50_000,
                seed: 9,
                form,
            },
        )
        .unwrap();
        let z = (mc.matrix[(0, 0)] - r.fisher()[(0, 0)]).abs() / mc.std_error.unwrap()[(0, 0)];
        assert!(z < 4.0, "{form:?}: {z} SE");
    }
}

/// The first rust block of `page` equals the code between this file's markers for `name`, all
/// marked pieces in order (ignoring `use` lines, comments, whitespace and line breaks, so that
/// rustfmt's layout here and the page's compact one compare equal).
fn same_as_page(page: &str, name: &str, source: &str) {
    let block = page
        .split("```rust\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .unwrap();
    let ours: String = source
        .split(&format!("// ---- docs/{name}: BEGIN"))
        .skip(1)
        .map(|b| {
            let b = b.split_once('\n').map_or("", |(_, rest)| rest);
            b.split(&format!("// ---- docs/{name}: END"))
                .next()
                .unwrap()
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!ours.is_empty(), "no markers for docs/{name}");
    let norm = |s: &str| -> String {
        s.lines()
            .filter(|l| !l.trim().starts_with("use "))
            .map(|l| l.split("//").next().unwrap())
            .collect::<String>()
            .split_whitespace()
            .collect::<String>()
            .replace(",}", "}") // rustfmt's trailing commas
    };
    assert_eq!(norm(block), norm(&ours), "docs/{name}");
}

#[test]
fn the_examples_are_the_ones_on_the_pages() {
    same_as_page(
        include_str!("../docs/approximations.md"),
        "approximations.md",
        include_str!("../crates/fisher/src/curvature/layer_isotropic.rs"),
    );
    same_as_page(
        include_str!("../docs/optimizers.md"),
        "optimizers.md",
        include_str!("docs_examples.rs"),
    );
    same_as_page(
        include_str!("../docs/validate-a-closed-form.md"),
        "validate-a-closed-form.md",
        include_str!("docs_examples.rs"),
    );
    same_as_page(
        include_str!("../docs/layers.md"),
        "layers.md",
        include_str!("docs_examples.rs"),
    );
}

#[test]
fn networks_from_pytorch_text_and_from_rust() -> Result<(), Box<dyn std::error::Error>> {
    use fisherlab::autodiff::layers::{
        Activation, BatchNorm, Conv, Flatten, Linear, MaxPool, Residual, Sequential, parse_model,
    };
    // ---- docs/layers.md: BEGIN
    // the same CNN as PyTorch prints it (e.g. the file cnn.txt above) and from Rust
    let text = "Sequential(
      (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
      (1): ReLU()
      (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
      (3): Flatten(start_dim=1, end_dim=-1)
      (4): Linear(in_features=64, out_features=10, bias=True)
    )";
    let net = Sequential::new()
        .push(Conv::conv2d(1, 4, [3, 3]).with_padding(&[1]))
        .push(Activation::Relu)
        .push(MaxPool::pool2d([2, 2]))
        .push(Flatten::default())
        .push(Linear::new(64, 10, true))
        .build(&[1, 8, 8])?;
    let same = parse_model(text)?.build(&[1, 8, 8])?;
    assert_eq!(net.param_names(), same.param_names());

    // a residual block holding a BatchNorm, whose running statistics are buffers
    let mut res = Sequential::new()
        .push(Conv::conv2d(1, 4, [3, 3]).with_padding(&[1]))
        .push(Residual::new(
            Sequential::new()
                .push(Conv::conv2d(4, 4, [3, 3]).with_padding(&[1]))
                .push(BatchNorm::norm2d(4))
                .push(Activation::Relu),
        ))
        .push(Flatten::default())
        .push(Linear::new(256, 10, true))
        .build(&[1, 8, 8])?;
    res.set_buffer("1.body.1.running_var", &[0.5, 1.0, 2.0, 1.5])?;
    assert_eq!(res.param_tensors()[4].0, "1.body.1.weight");
    // ---- docs/layers.md: END
    assert_eq!(res.buffers()[1].1, vec![0.5, 1.0, 2.0, 1.5]);
    Ok(())
}

#[test]
fn a_new_approximation_in_one_type_compared_with_the_exact_fisher() {
    use fisherlab::autodiff::network::Mlp;
    use fisherlab::distributions::heads::Head;
    use fisherlab::fisher::curvature::DenseFisher;
    use fisherlab::fisher::metrics::{CompareOptions, compare};
    use fisherlab::fisher::model::Model;
    let model = Model::new(Mlp::parse("3,5,2", "tanh").unwrap(), Head::Categorical).unwrap();
    let theta: Vec<f64> = (0..model.num_params())
        .map(|k| (k as f64 * 0.37).sin() * 0.5)
        .collect();
    let x = faer::Mat::from_fn(8, 3, |i, j| ((i * 3 + j) % 5) as f64 / 2.0 - 1.0);
    let problem = Problem::new(&model, &theta, x.as_ref()).unwrap();
    let exact = DenseFisher::new(Labels::Type2).build(&problem).unwrap();
    let mine = LayerIsotropic {
        labels: Labels::Type2,
    }
    .build(&problem)
    .unwrap();
    // same trace per layer, so the same total trace as the exact matrix
    let (te, tm) = (exact.trace().unwrap(), mine.trace().unwrap());
    assert!((te - tm).abs() < 1e-12 * te);
    let report = compare(exact.as_ref(), mine.as_ref(), &CompareOptions::default()).unwrap();
    assert!(report.rel_frobenius > 0.1 && report.rel_frobenius < 10.0);
    assert_eq!(mine.dim(), model.num_params());
    // and it is one of the approximations `fisherlab compare` reports
    let names: Vec<_> = fisherlab::fisher::curvature::catalogue(&Default::default())
        .iter()
        .map(|e| e.name)
        .collect();
    assert!(names.contains(&"layer-isotropic"));
}

mod block_ngd {
    use fisherlab::fisher::curvature::{Approximation, BlockDiagonalFisher, Labels, Problem};
    use fisherlab::optim::{Direction, Preconditioner, Result, StepInput};

    // ---- docs/optimizers.md: BEGIN (the page's first rust block, without its `use` lines)
    pub struct BlockDiagonal;

    impl Preconditioner for BlockDiagonal {
        fn name(&self) -> &'static str {
            "block-ngd"
        }
        fn direction(
            &mut self,
            input: &StepInput<'_>,
            problem: &Problem<'_>,
            lambda: f64,
            _want_curvature: bool,
        ) -> Result<Direction> {
            let f = BlockDiagonalFisher::new(Labels::Type2).build(problem)?;
            let g = faer::MatRef::from_column_major_slice(input.gradient, input.gradient.len(), 1);
            let d = f.solve_damped(lambda, g)?;
            Ok(Direction::new(d.col_as_slice(0).to_vec()))
        }
    }
    // ---- docs/optimizers.md: END
}

#[test]
fn a_new_optimizer_in_one_small_type_trains() {
    use fisherlab::autodiff::network::Mlp;
    use fisherlab::distributions::heads::Head;
    use fisherlab::fisher::model::Model;
    use fisherlab::optim::{TrainOptions, train};
    let model = Model::new(Mlp::parse("3,6,3", "tanh").unwrap(), Head::Categorical).unwrap();
    let x = faer::Mat::from_fn(30, 3, |i, j| ((i * 7 + j * 5) % 11) as f64 / 5.0 - 1.0);
    let y = faer::Mat::from_fn(30, 1, |i, _| ((i * 7) % 11 % 3) as f64);
    let theta0: Vec<f64> = (0..model.num_params())
        .map(|k| (k as f64 * 0.7).sin() * 0.3)
        .collect();
    let opts = TrainOptions {
        steps: 30,
        batch: 30,
        seed: 0,
        eval_every: Some(30),
    };
    let mut opt = fisherlab::optim::NaturalGradient::builder(block_ngd::BlockDiagonal)
        .lr(0.5)
        .damping(fisherlab::optim::Damping::fixed(1e-2))
        .build()
        .unwrap();
    let run = train(
        &model,
        &theta0,
        x.as_ref(),
        y.as_ref(),
        &mut opt,
        &opts,
        |_| {},
    )
    .unwrap();
    let first = run.records[0].loss;
    let last = run.records.last().unwrap().eval_loss.unwrap();
    assert!(last < 0.8 * first, "{first} -> {last}");
}
