//! Per-call cost of closed-form Fisher matrices, of scores and Hessians through num-dual, and of
//! Monte-Carlo Fisher estimates with 10⁶ samples (single-threaded and on all threads), with the
//! cost of drawing 10⁶ normal samples as the reference measured in the same run.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use fisherlab::distributions::continuous::{Beta, Gamma, Normal, StudentT, VonMises};
use fisherlab::distributions::discrete::{Categorical, Poisson};
use fisherlab::distributions::multivariate::Dirichlet;
use fisherlab::distributions::{Family, ScoreFn, rng_from_seed};
use fisherlab::fisher::{McForm, MonteCarloOptions, monte_carlo};
use std::hint::black_box;
use std::time::Duration;

fn families() -> Vec<(&'static str, Box<dyn ScoreFn>)> {
    vec![
        ("normal", Box::new(Normal::new(0.3, 1.7).unwrap())),
        ("gamma", Box::new(Gamma::new(2.5, 1.5).unwrap())),
        ("beta", Box::new(Beta::new(2.0, 3.0).unwrap())),
        ("student_t", Box::new(StudentT::new(0.0, 1.0, 4.0).unwrap())),
        ("von_mises", Box::new(VonMises::new(0.0, 2.0).unwrap())),
        ("poisson", Box::new(Poisson::new(3.0).unwrap())),
        (
            "dirichlet3",
            Box::new(Dirichlet::new(vec![1.0, 2.0, 3.0]).unwrap()),
        ),
    ]
}

fn closed_form(c: &mut Criterion) {
    let mut g = c.benchmark_group("closed_form");
    // concrete types, as a caller holding the family would use them
    let n = Normal::new(0.3, 1.7).unwrap();
    g.bench_function("normal", |b| b.iter(|| black_box(&n).fisher()));
    let ga = Gamma::new(2.5, 1.5).unwrap();
    g.bench_function("gamma", |b| b.iter(|| black_box(&ga).fisher()));
    let be = Beta::new(2.0, 3.0).unwrap();
    g.bench_function("beta", |b| b.iter(|| black_box(&be).fisher()));
    let vm = VonMises::new(0.0, 2.0).unwrap();
    g.bench_function("von_mises", |b| b.iter(|| black_box(&vm).fisher()));
    let p = Poisson::new(3.0).unwrap();
    g.bench_function("poisson", |b| b.iter(|| black_box(&p).fisher()));
    g.finish();
}

fn autodiff(c: &mut Criterion) {
    let mut g = c.benchmark_group("score_and_hessian");
    for (name, f) in families() {
        let mut rng = rng_from_seed(1);
        let mut x = vec![0.0; f.obs_dim()];
        f.sample_into(&mut rng, &mut x);
        let k = f.params().len();
        let mut s = vec![0.0; k];
        let mut h = vec![0.0; k * k];
        g.bench_with_input(BenchmarkId::new("score", name), &x, |b, x| {
            b.iter(|| f.score_into(black_box(x), &mut s))
        });
        g.bench_with_input(BenchmarkId::new("hessian", name), &x, |b, x| {
            b.iter(|| f.hessian_into(black_box(x), &mut s, &mut h))
        });
    }
    g.finish();
}

fn mc(c: &mut Criterion) {
    let mut g = c.benchmark_group("monte_carlo_1e6");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_millis(500));
    let cat = Categorical::new(vec![0.1; 10]).unwrap();
    let cases: Vec<(&str, Box<dyn ScoreFn>)> = vec![
        ("normal", Box::new(Normal::new(0.3, 1.7).unwrap())),
        ("gamma", Box::new(Gamma::new(2.5, 1.5).unwrap())),
        ("categorical10", Box::new(cat)),
    ];
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    // reference: drawing the 10⁶ normal samples alone
    let normal = Normal::new(0.3, 1.7).unwrap();
    g.bench_function("reference_sampling_only/normal/1thread", |b| {
        b.iter(|| {
            let mut rng = rng_from_seed(3);
            let mut x = [0.0];
            let mut acc = 0.0;
            for _ in 0..1_000_000 {
                normal.sample_into(&mut rng, &mut x);
                acc += x[0];
            }
            acc
        })
    });
    for (name, f) in &cases {
        for (form, label) in [
            (McForm::Score, "score"),
            (McForm::NegativeHessian, "hessian"),
        ] {
            let opts = MonteCarloOptions {
                samples: 1_000_000,
                seed: 3,
                form,
            };
            g.bench_function(format!("{label}/{name}/1thread"), |b| {
                b.iter(|| one.install(|| monte_carlo(f.as_ref(), &opts).unwrap()))
            });
            g.bench_function(format!("{label}/{name}/all_threads"), |b| {
                b.iter(|| monte_carlo(f.as_ref(), &opts).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    targets = closed_form, autodiff, mc
}
criterion_main!(benches);
