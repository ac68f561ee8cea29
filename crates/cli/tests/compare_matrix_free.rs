//! `fisherlab compare` against a matrix-free reference: on a network whose dense Fisher fits,
//! every estimate agrees with the dense metric within its stated uncertainty; `auto` switches
//! to matrix-free when the dense Fisher does not fit; approximations that do not fit are
//! skipped and listed; a metric that did not converge says so; results do not depend on the
//! thread count.

mod common;
use common::{fisherlab, run_ok};

use serde_json::Value;
use std::path::Path;

/// A small 1-D CNN for MNIST-1D (P = 834): one convolution, so K-FAC's expand and reduce differ.
const CNN: &str = "Sequential(
  (0): Conv1d(1, 4, kernel_size=(5,), stride=(1,), padding=(2,))
  (1): ReLU()
  (2): MaxPool1d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (3): Flatten(start_dim=1, end_dim=-1)
  (4): Linear(in_features=80, out_features=10, bias=True)
)
";

fn cnn_args(dir: &Path, out: &str, extra: &[&str]) -> Vec<String> {
    let model = dir.join("cnn.txt");
    std::fs::write(&model, CNN).unwrap();
    let mut v: Vec<String> = [
        "compare",
        "--dataset",
        "mnist1d",
        "--model",
        model.to_str().unwrap(),
        "--steps",
        "5",
        "--batch",
        "64",
        "--optimizers",
        "adam",
        "--fisher-inputs",
        "120",
        "--spectrum",
        "10",
        "--json",
        "--quiet",
        "--out",
        dir.join(out).to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn rows(report: &Value) -> Vec<&Value> {
    report["approximations"]
        .as_array()
        .unwrap()
        .iter()
        .collect()
}

fn row<'a>(report: &'a Value, name: &str) -> &'a Value {
    rows(report)
        .into_iter()
        .find(|r| r["approximation"] == name)
        .unwrap_or_else(|| panic!("no row {name}"))
}

#[test]
fn every_estimate_agrees_with_the_dense_metric_within_its_uncertainty() {
    let dir = tempfile::tempdir().unwrap();
    let dense: Value = serde_json::from_str(&run_ok(&cnn_args(
        dir.path(),
        "dense",
        &["--reference", "dense"],
    )))
    .unwrap();
    let free: Value = serde_json::from_str(&run_ok(&cnn_args(
        dir.path(),
        "free",
        &["--reference", "matrix-free", "--probes", "64"],
    )))
    .unwrap();
    assert_eq!(dense["reference"]["route"], "dense");
    assert_eq!(free["reference"]["route"], "matrix-free");
    assert_eq!(free["reference"]["products"], "gram");
    assert_eq!(free["fisher_inputs"], 120);
    // the same weights, the same inputs: the same Fisher
    assert_eq!(dense["loss"], free["loss"]);
    // a network with a convolution: both K-FAC variants, and they differ
    let k = row(&dense, "kfac")["rel_frobenius"].as_f64().unwrap();
    let kr = row(&dense, "kfac-reduce")["rel_frobenius"]
        .as_f64()
        .unwrap();
    assert!((k - kr).abs() > 1e-3, "expand {k} and reduce {kr}");
    // the matrix-free comparison runs the approximations that scale, the dense one all
    for skipped in ["mc", "empirical", "block-diag", "low-rank"] {
        assert!(rows(&free).iter().all(|r| r["approximation"] != skipped));
    }
    let mut checked = 0;
    for f in rows(&free).into_iter().skip(1) {
        let name = f["approximation"].as_str().unwrap();
        let d = row(&dense, name);
        // stochastic estimates (Hutchinson, SLQ): within 4 standard errors; deterministic ones
        // (Lanczos, CG): within their bound, plus rounding
        for (key, sigmas) in [
            ("rel_frobenius", 4.0),
            ("logdet_difference", 4.0),
            ("rel_spectral", 1.0),
            ("ngd_cosine", 1.0),
            ("ngd_rel_error", 1.0),
        ] {
            let est = f[key]
                .as_f64()
                .unwrap_or_else(|| panic!("{name} {key}: {}", f[format!("{key}_failure")]));
            let u = f[format!("{key}_uncertainty")].as_f64().unwrap();
            let exact = d[key].as_f64().unwrap();
            assert!(
                (est - exact).abs() <= sigmas * u + 1e-6 * (1.0 + exact.abs()),
                "{name} {key}: {est} ± {u} against {exact}"
            );
            assert!(f[format!("{key}_estimator")].is_string());
        }
        // the quadratic-form ratios are exact in both
        for key in ["quad_ratio_gradient", "quad_ratio_random_mean"] {
            let (a, b) = (f[key].as_f64().unwrap(), d[key].as_f64().unwrap());
            assert!((a - b).abs() <= 1e-9 * b.abs(), "{name} {key}: {a} {b}");
        }
        checked += 1;
    }
    assert!(checked >= 8, "{checked} approximations compared");
    // the exact spectrum's top eigenvalues by Lanczos, as the dense eigendecomposition's
    let (fs, ds) = (&free["spectra"]["exact"], &dense["spectra"]["exact"]);
    for i in 0..5 {
        let (a, b) = (fs[i].as_f64().unwrap(), ds[i].as_f64().unwrap());
        assert!((a - b).abs() <= 1e-3 * b, "eigenvalue {i}: {a} {b}");
    }
}

#[test]
fn auto_goes_matrix_free_when_the_dense_fisher_does_not_fit_and_skips_what_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    // P = 834: the dense comparison needs a few tens of MB; the Gram factor of 120 inputs
    // about 8 MB, K-FAC far less, the per-layer blocks of block-diag 11 MB
    let report: Value = serde_json::from_str(&run_ok(&cnn_args(
        dir.path(),
        "auto",
        &[
            "--max-memory",
            "10M",
            "--approximations",
            "kfac,block-diag,diag",
        ],
    )))
    .unwrap();
    assert_eq!(report["reference"]["route"], "matrix-free");
    let names: Vec<&str> = rows(&report)
        .iter()
        .map(|r| r["approximation"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["exact", "diag", "kfac"]);
    let skipped = report["reference"]["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["approximation"], "block-diag");
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("block-diag")
    );
    // the table says which reference, shows the ± and lists the skipped one
    let text = run_ok(
        &cnn_args(
            dir.path(),
            "auto2",
            &["--max-memory", "10M", "--approximations", "kfac,block-diag"],
        )
        .into_iter()
        .filter(|a| a != "--json" && a != "--quiet")
        .collect::<Vec<_>>(),
    );
    assert!(text.contains("reference: matrix-free"), "{text}");
    assert!(text.contains(" ± "), "{text}");
    assert!(text.contains("skipped block-diag:"), "{text}");
    assert!(text.contains("estimators:"), "{text}");
    assert!(text.contains("on 120 of the 4000 inputs"), "{text}");
}

#[test]
fn a_metric_whose_iteration_did_not_converge_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let args = cnn_args(
        dir.path(),
        "short",
        &[
            "--reference",
            "matrix-free",
            "--krylov-steps",
            "3",
            "--approximations",
            "kfac",
        ],
    );
    let report: Value = serde_json::from_str(&run_ok(&args)).unwrap();
    let kfac = row(&report, "kfac");
    for key in ["ngd_cosine", "ngd_rel_error", "rel_spectral"] {
        assert!(kfac[key].is_null(), "{key} reported: {}", kfac[key]);
        assert!(kfac[format!("{key}_uncertainty")].is_null());
        let why = kfac[format!("{key}_failure")].as_str().unwrap();
        assert!(
            why.contains("3") || why.contains("converge"),
            "{key}: {why}"
        );
    }
    let text = run_ok(
        &args
            .into_iter()
            .filter(|a| a != "--json" && a != "--quiet")
            .collect::<Vec<_>>(),
    );
    assert!(text.contains("no convergence"), "{text}");
    assert!(text.contains("kfac ngd_cosine: not reported"), "{text}");
}

#[test]
fn the_estimates_do_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let run = |threads: &str| -> Value {
        let args = cnn_args(
            dir.path(),
            &format!("t{threads}"),
            &[
                "--reference",
                "matrix-free",
                "--approximations",
                "kfac,ekfac,diag,low-rank-randomized",
            ],
        );
        let out = fisherlab()
            .env("RAYON_NUM_THREADS", threads)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut v: Value = serde_json::from_slice(&out.stdout).unwrap();
        // what may differ: timings, memory, and the provenance (threads)
        for r in v["approximations"].as_array_mut().unwrap() {
            for k in [
                "build_seconds",
                "solve_seconds",
                "peak_memory_mb",
                "kept_memory_mb",
            ] {
                r[k] = Value::Null;
            }
        }
        serde_json::json!({"rows": v["approximations"], "spectra": v["spectra"]})
    };
    assert_eq!(run("1"), run("3"));
}
