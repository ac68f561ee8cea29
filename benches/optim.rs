//! Per-step time of every optimizer on an MLP 64-64-64-10 (P = 8 970) with a categorical head
//! and mini-batches of 256, all in one run so the ratios to SGD compare like with like. A step is
//! the mini-batch loss and gradient plus the optimizer's update — the time the training loop
//! records per step, summed over a run of 10 steps (so K-FAC's inverse period 10 and EKFAC's
//! eigenbasis period 10 are amortised) and reported per run. Exact NGD and SMW-NGD (a P × P and
//! a 2560 × 2560 solve per step) are measured one step at a time.

use criterion::{Criterion, criterion_group, criterion_main};
use faer::Mat;
use fisherlab::autodiff::network::Mlp;
use fisherlab::distributions::heads::Head;
use fisherlab::fisher::curvature::Labels;
use fisherlab::fisher::model::Model;
use fisherlab::optim::{
    Adam, ConjugateGradient, Diagonal, DiagonalNgd, Ekfac, EkfacOptimizer, Exact, ExactNgd,
    HessianFree, Kfac, KfacOptimizer, Optimizer, Sgd, SmwNgd, TrainOptions, Woodbury, train,
};
use std::hint::black_box;
use std::time::Duration;

fn noise(i: usize, j: usize, seed: usize) -> f64 {
    let z = ((i * 7919 + j * 104_729 + seed * 1_299_709) % 10_007) as f64;
    z / 10_007.0 - 0.5
}

fn optimizers(c: &mut Criterion) {
    let net = Mlp::parse("64,64,64,10", "tanh").unwrap().network();
    let p = net.num_params();
    let theta: Vec<f64> = (0..p).map(|k| noise(k, 0, 1) * 0.3).collect();
    let model = Model::new(net, Head::Categorical).unwrap();
    let n = 2048;
    let x = Mat::from_fn(n, 64, |i, j| noise(i, j, 2) * 2.0);
    let y = Mat::from_fn(n, 1, |i, _| (i % 10) as f64);
    let run = |opt: &mut dyn Optimizer, steps: usize| {
        let opts = TrainOptions {
            steps,
            batch: 256,
            seed: 3,
            eval_every: None,
        };
        train(&model, &theta, x.as_ref(), y.as_ref(), opt, &opts, |_| {}).unwrap()
    };
    type Make = fn() -> Box<dyn Optimizer>;
    let cheap: [(&str, Make); 8] = [
        ("sgd", || Box::new(Sgd::new(0.1).with_momentum(0.9, false))),
        ("adam", || Box::new(Adam::new(1e-3))),
        ("diag_mc", || {
            Box::new(
                DiagonalNgd::new(
                    Diagonal::new().with_labels(Labels::Mc {
                        per_input: 1,
                        seed: 0,
                    }),
                    1.0,
                    1.0,
                )
                .unwrap(),
            )
        }),
        ("kfac_mc", || {
            Box::new(
                KfacOptimizer::new(
                    Kfac::new()
                        .with_labels(Labels::Mc {
                            per_input: 1,
                            seed: 0,
                        })
                        .with_periods(1, 10),
                    1.0,
                    1.0,
                )
                .unwrap(),
            )
        }),
        ("kfac_type2", || {
            Box::new(KfacOptimizer::new(Kfac::new().with_periods(1, 10), 1.0, 1.0).unwrap())
        }),
        ("ekfac_mc", || {
            Box::new(
                EkfacOptimizer::new(
                    Ekfac::new()
                        .with_labels(Labels::Mc {
                            per_input: 1,
                            seed: 0,
                        })
                        .with_eigen_period(10),
                    1.0,
                    1.0,
                )
                .unwrap(),
            )
        }),
        ("kfac_mc_auto_lr", || {
            Box::new(
                KfacOptimizer::builder(Kfac::new().with_labels(Labels::Mc {
                    per_input: 1,
                    seed: 0,
                }))
                .auto_lr_momentum()
                .build()
                .unwrap(),
            )
        }),
        ("hessian_free_10cg", || {
            Box::new(HessianFree::new(ConjugateGradient::new().with_max_cg(10), 1.0, 1.0).unwrap())
        }),
    ];
    let mut g = c.benchmark_group("optim_mlp_64_64_64_10_b256_10steps");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    // the loop's own per-step times: the data checks and mini-batch copies are not steps
    let stepped = |opt: &mut dyn Optimizer, steps: usize| {
        let r = run(opt, steps);
        Duration::from_secs_f64(r.records.iter().map(|s| s.seconds).sum())
    };
    for (name, make) in cheap {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let mut opt = make();
                        black_box(stepped(opt.as_mut(), 10))
                    })
                    .sum()
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("optim_mlp_64_64_64_10_b256_1step");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_millis(100));
    g.bench_function("sgd", |b| b.iter(|| black_box(run(&mut Sgd::new(0.1), 1))));
    g.bench_function("smw_ngd", |b| {
        b.iter(|| black_box(run(&mut SmwNgd::new(Woodbury, 1.0, 1.0).unwrap(), 1)))
    });
    g.bench_function("exact_ngd", |b| {
        b.iter(|| black_box(run(&mut ExactNgd::new(Exact, 1.0, 1.0).unwrap(), 1)))
    });
    g.finish();
}

criterion_group!(benches, optimizers);
criterion_main!(benches);
