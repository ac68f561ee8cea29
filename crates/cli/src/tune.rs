//! `fisherlab train --tune`: each optimizer tuned on a small grid, then rerun over seeds, as
//! DeepOBS does (Schneider et al., ICLR 2019): the setting with the lowest final full-data
//! training loss on the first seed is chosen, then reported by the median and the spread (min
//! to max) over `--seeds` seeds of the final loss, the steps to the target and the seconds to
//! the target.

use crate::train::{OptimizerArg, OptimizerOptions, Outcome};
use crate::{CliError, format, plots, train};
use faer::MatRef;
use fisherlab_fisher::model::Model;
use fisherlab_optim::{StepRecord, TrainOptions};
use serde_json::{Value, json};
use std::path::Path;

/// One grid point: a learning rate and, for the natural-gradient optimizers, the λ their own
/// damping rule starts from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    pub lr: f64,
    pub damping: Option<f64>,
}

/// The default grid of `which`, in half decades: sgd lr 0.01–3, adam lr 1e-4–0.1, and for the
/// natural-gradient optimizers lr ∈ {0.03, 0.1, 0.3, 1} × λ ∈ {1e-4, 1e-3, 1e-2, 0.1, 1}.
pub fn default_grid(which: OptimizerArg) -> (Vec<f64>, Vec<Option<f64>>) {
    match which {
        OptimizerArg::Sgd => (vec![0.01, 0.03, 0.1, 0.3, 1.0, 3.0], vec![None]),
        OptimizerArg::Adam => (vec![1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1], vec![None]),
        _ => (
            vec![0.03, 0.1, 0.3, 1.0],
            vec![Some(1e-4), Some(1e-3), Some(1e-2), Some(1e-1), Some(1.0)],
        ),
    }
}

/// The grid of `which`: the given learning rates and dampings where given, else its defaults
/// (SGD and Adam have no damping).
pub fn grid(which: OptimizerArg, lrs: &[f64], dampings: &[f64]) -> Vec<Setting> {
    let (dl, dd) = default_grid(which);
    let lrs = if lrs.is_empty() { dl } else { lrs.to_vec() };
    let ds = match which {
        OptimizerArg::Sgd | OptimizerArg::Adam => vec![None],
        _ if !dampings.is_empty() => dampings.iter().map(|&d| Some(d)).collect(),
        _ => dd,
    };
    lrs.iter()
        .flat_map(|&lr| ds.iter().map(move |&damping| Setting { lr, damping }))
        .collect()
}

/// The final full-data loss of a run (+∞ for a failed run or one without an evaluation):
/// the tuning criterion.
pub fn final_loss(o: &Outcome) -> f64 {
    if o.error.is_some() {
        return f64::INFINITY;
    }
    o.records
        .iter()
        .rev()
        .find_map(|r| r.eval_loss)
        .filter(|l| l.is_finite())
        .unwrap_or(f64::INFINITY)
}

/// The index of the best score (lowest; the first on ties), or `None` when none is finite.
pub fn best(scores: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &s) in scores.iter().enumerate() {
        if s.is_finite() && best.is_none_or(|b| s < scores[b]) {
            best = Some(i);
        }
    }
    best
}

/// Steps (1-based) and seconds at the first evaluation at or below `target`.
pub fn to_target(records: &[StepRecord], target: f64) -> Option<(usize, f64)> {
    let mut elapsed = 0.0;
    for r in records {
        elapsed += r.seconds;
        if r.eval_loss.is_some_and(|l| l <= target) {
            return Some((r.step + 1, elapsed));
        }
    }
    None
}

/// The median of a non-empty list (the mean of the middle two for an even length).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Median, min and max of values where +∞ stands for "not reached" (the median is then +∞ when
/// half or more did not reach); `null`s in JSON for +∞.
pub fn spread(values: &[f64]) -> Value {
    if values.is_empty() {
        return Value::Null;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = median(v.clone());
    let num = |x: f64| {
        if x.is_finite() {
            Value::from(x)
        } else {
            Value::Null
        }
    };
    json!({
        "median": num(median),
        "min": num(v[0]),
        "max": num(v[n - 1]),
        "reached": v.iter().filter(|x| x.is_finite()).count(),
        "of": n,
    })
}

/// What a tuning run needs besides the optimizers.
pub struct Problem<'a> {
    pub model: &'a Model,
    pub x: MatRef<'a, f64>,
    pub y: MatRef<'a, f64>,
    /// The initial parameters of seed k.
    pub theta0: &'a dyn Fn(u64) -> Vec<f64>,
    pub opts: TrainOptions,
    pub seeds: usize,
}

/// One optimizer's tuning: the grid with its scores, the chosen setting and the runs of every
/// seed with it.
pub struct Tuned {
    pub which: OptimizerArg,
    pub grid: Vec<(Setting, f64, Option<String>)>,
    pub chosen: Option<Setting>,
    pub runs: Vec<Outcome>,
}

fn run_one(
    p: &Problem<'_>,
    hyper: &OptimizerOptions,
    which: OptimizerArg,
    s: Setting,
    k: u64,
    quiet: bool,
) -> Result<Outcome, CliError> {
    let mut h = hyper.clone();
    h.lr = Some(s.lr);
    if s.damping.is_some() {
        h.damping = s.damping;
    }
    let opts = TrainOptions {
        seed: p.opts.seed + k,
        ..p.opts
    };
    let mut out = train::train_all(
        p.model,
        &(p.theta0)(k),
        p.x,
        p.y,
        &[which],
        &h,
        &opts,
        quiet,
    )?;
    Ok(out.remove(0))
}

/// Tune `which` on `p`: every grid point on seed 0, the best (lowest final loss) on every
/// seed.
pub fn tune(
    p: &Problem<'_>,
    hyper: &OptimizerOptions,
    which: OptimizerArg,
    settings: &[Setting],
    quiet: bool,
) -> Result<Tuned, CliError> {
    let mut grid = Vec::new();
    let mut firsts = Vec::new();
    for &s in settings {
        let o = run_one(p, hyper, which, s, 0, quiet)?;
        grid.push((s, final_loss(&o), o.error.clone()));
        firsts.push(o);
    }
    let scores: Vec<f64> = grid.iter().map(|g| g.1).collect();
    let Some(b) = best(&scores) else {
        return Ok(Tuned {
            which,
            grid,
            chosen: None,
            runs: Vec::new(),
        });
    };
    let chosen = settings[b];
    let mut runs = vec![firsts.swap_remove(b)];
    for k in 1..p.seeds {
        runs.push(run_one(p, hyper, which, chosen, k as u64, quiet)?);
    }
    Ok(Tuned {
        which,
        grid,
        chosen: Some(chosen),
        runs,
    })
}

/// The summary of one tuning as JSON.
pub fn report(t: &Tuned, target: Option<f64>) -> Value {
    let finals: Vec<f64> = t.runs.iter().map(final_loss).collect();
    let reach: Vec<Option<(usize, f64)>> = t
        .runs
        .iter()
        .map(|o| target.and_then(|tl| to_target(&o.records, tl)))
        .collect();
    let inf = f64::INFINITY;
    let steps: Vec<f64> = reach
        .iter()
        .map(|r| r.map_or(inf, |r| r.0 as f64))
        .collect();
    let secs: Vec<f64> = reach.iter().map(|r| r.map_or(inf, |r| r.1)).collect();
    let per_step: Vec<f64> = t
        .runs
        .iter()
        .map(|o| o.records.iter().map(|r| r.seconds).sum::<f64>() / o.records.len().max(1) as f64)
        .collect();
    json!({
        "optimizer": t.which.name(),
        "chosen": t.chosen.map(|s| json!({"lr": s.lr, "damping": s.damping})),
        "grid": t.grid.iter().map(|(s, l, e)| json!({
            "lr": s.lr,
            "damping": s.damping,
            "final_loss": if l.is_finite() { Value::from(*l) } else { Value::Null },
            "error": e,
        })).collect::<Vec<_>>(),
        "seeds": t.runs.len(),
        "final_loss": spread(&finals),
        "steps_to_target": if target.is_some() { spread(&steps) } else { Value::Null },
        "seconds_to_target": if target.is_some() { spread(&secs) } else { Value::Null },
        "seconds_per_step": spread(&per_step),
        "failed_seeds": t.runs.iter().filter(|o| o.error.is_some()).count(),
    })
}

/// The reports as a table: the chosen setting, then median [min, max] of each measure.
pub fn table(rows: &[Value]) -> String {
    let range = |v: &Value| -> String {
        if v.is_null() {
            return "-".into();
        }
        let c = |x: &Value| x.as_f64().map_or("not reached".into(), format::short);
        let reached = match (v["reached"].as_u64(), v["of"].as_u64()) {
            (Some(r), Some(n)) if r < n => format!(" ({r}/{n})"),
            _ => String::new(),
        };
        format!(
            "{} [{}, {}]{reached}",
            c(&v["median"]),
            c(&v["min"]),
            c(&v["max"])
        )
    };
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let chosen = &r["chosen"];
            vec![
                r["optimizer"].as_str().unwrap_or("").to_string(),
                chosen["lr"].as_f64().map_or("-".into(), format::short),
                chosen["damping"].as_f64().map_or("-".into(), format::short),
                r["seeds"].to_string(),
                range(&r["final_loss"]),
                range(&r["steps_to_target"]),
                range(&r["seconds_to_target"]),
            ]
        })
        .collect();
    format::table(
        &[
            "optimizer",
            "lr",
            "damping",
            "seeds",
            "final loss, median [min, max]",
            "steps to target",
            "s to target",
        ],
        &body,
    )
}

/// Median and spread of the full-data loss at each evaluated step over the seeds' runs:
/// `(step, median seconds, median, min, max)`, starting from the initial loss at step 0.
pub fn bands(runs: &[Outcome], initial: &[f64]) -> Vec<(f64, f64, f64, f64, f64)> {
    let mut per_run: Vec<Vec<(f64, f64, f64)>> = Vec::new();
    for (o, &l0) in runs.iter().zip(initial) {
        let mut elapsed = 0.0;
        let mut pts = vec![(0.0, 0.0, l0)];
        for r in &o.records {
            elapsed += r.seconds;
            if let Some(l) = r.eval_loss {
                pts.push(((r.step + 1) as f64, elapsed, l));
            }
        }
        per_run.push(pts);
    }
    let len = per_run.iter().map(Vec::len).min().unwrap_or(0);
    (0..len)
        .map(|i| {
            let ls: Vec<f64> = per_run.iter().map(|p| p[i].2).collect();
            let secs: Vec<f64> = per_run.iter().map(|p| p[i].1).collect();
            let lo = ls.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ls.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (per_run[0][i].0, median(secs), median(ls), lo, hi)
        })
        .collect()
}

/// `tuning.svg`/`.png` in `dir`: loss against steps and against seconds, the median over seeds
/// as a line and the min–max spread as a band, one colour per optimizer.
pub fn figures(dir: &Path, tuned: &[Tuned], initial: &[f64], title: &str) -> Result<(), CliError> {
    let curves = |by_seconds: bool| -> Vec<plots::Series> {
        tuned
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.runs.is_empty())
            .map(|(k, t)| {
                let b = bands(&t.runs, initial);
                let x = |p: &(f64, f64, f64, f64, f64)| if by_seconds { p.1 } else { p.0 };
                plots::Series {
                    name: t.which.name().to_string(),
                    colour: plots::colour(k),
                    width: 2,
                    points: b.iter().map(|p| (x(p), p.2)).collect(),
                    band: b.iter().map(|p| (x(p), p.3, p.4)).collect(),
                }
            })
            .collect()
    };
    let (by_step, by_time) = (curves(false), curves(true));
    plots::loss_figure(dir, "tuning", title, &by_step, &by_time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_score_is_the_lowest_finite_one_and_the_first_on_ties() {
        assert_eq!(best(&[3.0, f64::INFINITY, 1.0, 1.0, f64::NAN]), Some(2));
        assert_eq!(best(&[f64::INFINITY, f64::NAN]), None);
    }

    #[test]
    fn spreads_are_median_min_max_with_unreached_values_last() {
        let s = spread(&[3.0, 1.0, 2.0]);
        assert_eq!(
            (s["median"].clone(), s["min"].clone()),
            (2.0.into(), 1.0.into())
        );
        assert_eq!(s["max"], 3.0);
        let s = spread(&[1.0, f64::INFINITY, f64::INFINITY]);
        assert!(s["median"].is_null() && s["max"].is_null());
        assert_eq!(
            (s["min"].clone(), s["reached"].clone()),
            (1.0.into(), 1.into())
        );
        assert_eq!(spread(&[1.0, 4.0])["median"], 2.5);
    }

    #[test]
    fn grids_cover_damping_only_for_the_natural_gradient_optimizers() {
        assert_eq!(grid(OptimizerArg::Sgd, &[], &[1.0]).len(), 6);
        assert_eq!(grid(OptimizerArg::Kfac, &[], &[]).len(), 20);
        assert_eq!(grid(OptimizerArg::Kfac, &[0.1], &[1.0, 2.0]).len(), 2);
    }
}
