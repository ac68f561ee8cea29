//! `fisherlab train` end to end: the comparison table and JSON, the JSONL log, saved weights that
//! `curvature` reads back, reproducibility, and failures.

mod common;
use common::{fisherlab, fixture, run_bad, run_ok, safetensors_provenance, tensors};

use serde_json::Value;

#[test]
fn several_optimizers_on_digits_with_log_and_weights() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.jsonl");
    let save = dir.path().join("w.safetensors");
    let args = [
        "train",
        "--dataset",
        "digits",
        "--arch",
        "64,16,10",
        "--likelihood",
        "categorical",
        "--optimizer",
        "sgd,kfac,ekfac,diag,hf",
        "--steps",
        "12",
        "--batch",
        "64",
        "--eval-every",
        "4",
        "--target-loss",
        "5",
        "--log",
        log.to_str().unwrap(),
        "--save",
        save.to_str().unwrap(),
        "--json",
    ];
    let s = run_ok(&args);
    let report: Value = serde_json::from_str(&s).unwrap();
    let rows = report["runs"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    // the provenance: version, commit, every option (defaults included), each optimizer's
    // hyper-parameters in effect, threads and CPU
    let p = &report["provenance"];
    assert_eq!(p["fisherlab"], env!("CARGO_PKG_VERSION"));
    assert!(p["commit"].as_str().is_some_and(|c| !c.is_empty()));
    assert_eq!(p["subcommand"], "train");
    assert_eq!(p["options"]["steps"], 12);
    assert_eq!(p["options"]["init_seed"], 0, "a default is recorded too");
    assert_eq!(p["options"]["hyper"]["decay"], 0.95);
    assert!(p["threads"].as_u64().is_some_and(|t| t >= 1));
    assert!(p["cpu"].as_str().is_some_and(|c| !c.is_empty()));
    let kfac = &p["optimizers"][1];
    assert_eq!(kfac["optimizer"], "kfac");
    // K-FAC's documented defaults: lr 0.1, fixed λ = 1e-2, MC factors, decay 0.95
    assert_eq!(kfac["settings"]["lr"], 0.1);
    assert_eq!(kfac["settings"]["damping"], 0.01);
    assert_eq!(kfac["settings"]["damping_rule"], "fixed");
    assert_eq!(kfac["settings"]["factor_labels"], "mc");
    assert_eq!(p["optimizers"][0]["settings"]["momentum"], 0.9);
    for r in rows {
        assert_eq!(r["steps"], 12, "{r}");
        assert!(r["error"].is_null());
        // the initial loss of a 10-class softmax is near ln 10 < 5: the target is met at once
        assert_eq!(r["steps_to_target"], 4, "{r}");
        assert!(r["final_loss"].as_f64().unwrap().is_finite());
    }
    assert!((rows[0]["time_per_step_vs_sgd"].as_f64().unwrap() - 1.0).abs() < 1e-12);
    // one JSON line per step and optimizer, evaluations every 4 steps
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // the first line is the provenance
    assert_eq!(lines.remove(0)["provenance"], *p);
    assert_eq!(lines.len(), 60);
    assert_eq!(
        lines.iter().filter(|l| !l["eval_loss"].is_null()).count(),
        15
    );
    assert_eq!(lines[12]["optimizer"], "kfac");
    // the saved weights load back into `curvature` with the same architecture
    let kfac_weights = dir.path().join("w.kfac.safetensors");
    assert!(kfac_weights.exists());
    let out = run_ok(&[
        "curvature",
        "--arch",
        "3,4,2",
        "--weights",
        &fixture("mlp.safetensors"),
        "--inputs",
        &fixture("x.npy"),
        "--likelihood",
        "categorical",
        "--kind",
        "diag",
        "--json",
    ]);
    assert!(out.contains("\"parameters\": 26"));
    // same seed, same run: the weights are identical
    let again = dir.path().join("again.safetensors");
    let mut args2: Vec<&str> = args.to_vec();
    let i = args2.iter().position(|a| *a == "--save").unwrap();
    args2[i + 1] = again.to_str().unwrap();
    args2[8] = "kfac";
    run_ok(&args2);
    let (a, b) = (
        std::fs::read(&kfac_weights).unwrap(),
        std::fs::read(&again).unwrap(),
    );
    assert_eq!(tensors(&a), tensors(&b));
    // the metadata records the run (its command line differs: one optimizer, another path)
    let meta = safetensors_provenance(&a);
    assert_eq!(meta["optimizer"], "kfac");
    assert_eq!(meta["options"]["steps"], 12);
    // the table form names every optimizer
    let table = run_ok(&args[..args.len() - 1]);
    for name in ["sgd", "kfac", "ekfac", "diag", "hf"] {
        assert!(table.contains(name), "{table}");
    }
}

#[test]
fn divergence_is_a_failure_with_the_last_good_weights_saved() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("w.safetensors");
    let out = fisherlab()
        .args([
            "train",
            "--inputs",
            &fixture("x.npy"),
            "--targets",
            &fixture("x.npy"),
            "--arch",
            "3,3",
            "--activation",
            "identity",
            "--likelihood",
            "gaussian",
            "--optimizer",
            "sgd",
            "--lr",
            "1e200",
            "--momentum",
            "0",
            "--steps",
            "50",
            "--batch",
            "5",
            "--save",
            save.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("not finite"), "{err}");
    // the saved weights are the last finite ones
    let bytes = std::fs::read(&save).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (_, t) in st.tensors() {
        assert!(
            t.data()
                .chunks_exact(8)
                .all(|c| f64::from_le_bytes(c.try_into().unwrap()).is_finite())
        );
    }
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    for (args, needle) in [
        (
            vec![
                "train",
                "--dataset",
                "mnist",
                "--arch",
                "64,10",
                "--likelihood",
                "categorical",
                "--optimizer",
                "sgd",
            ],
            "unknown dataset `mnist`",
        ),
        (
            vec![
                "train",
                "--dataset",
                "digits",
                "--arch",
                "63,10",
                "--likelihood",
                "categorical",
                "--optimizer",
                "sgd",
            ],
            "inputs have 64 columns",
        ),
        (
            vec![
                "train",
                "--dataset",
                "digits",
                "--arch",
                "64,10",
                "--likelihood",
                "categorical",
                "--optimizer",
                "rmsprop",
            ],
            "rmsprop",
        ),
        (
            vec![
                "train",
                "--dataset",
                "digits",
                "--arch",
                "64,1",
                "--likelihood",
                "bernoulli",
                "--optimizer",
                "sgd",
            ],
            "target row",
        ),
        (
            vec![
                "train",
                "--dataset",
                "digits",
                "--arch",
                "64,10",
                "--likelihood",
                "categorical",
                "--optimizer",
                "kfac",
                "--damping=-1",
                "--steps",
                "1",
            ],
            "--damping -1 is invalid",
        ),
    ] {
        run_bad(&args, needle);
    }
}

/// The tuner on a problem whose best grid point is known in closed form: least squares with a
/// Gaussian head (σ = 1) on inputs whose second-moment matrix `E[x̄ x̄ᵀ]` (bias folded) is the
/// identity, so the loss is `½‖θ − θ*‖² + const` and full-batch gradient descent without
/// momentum contracts the error by `|1 − lr|` per step: lr = 1 is the Newton step (exact after
/// one step), lr = 0.5 halves the error per step, lr = 3 doubles it (diverges). Exact NGD's
/// Fisher is the same identity, so its best setting is lr = 1 as well.
#[test]
fn the_tuner_picks_the_known_best_grid_point_and_reports_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let (xp, yp) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    // (±1, ±1): mean 0, E[x xᵀ] = I
    let x = [1.0, 1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0];
    let y = [0.7, -1.3, 2.1, 0.4];
    common::write_npy(&xp, 4, 2, &x);
    common::write_npy(&yp, 4, 1, &y);
    let figures = dir.path().join("tuned");
    let s = run_ok(&[
        "train",
        "--inputs",
        xp.to_str().unwrap(),
        "--targets",
        yp.to_str().unwrap(),
        "--arch",
        "2,1",
        "--activation",
        "identity",
        "--likelihood",
        "gaussian",
        "--optimizer",
        "sgd,ngd",
        "--momentum",
        "0",
        "--steps",
        "4",
        "--batch",
        "4",
        "--eval-every",
        "1",
        "--tune",
        "--tune-lr",
        "0.1,0.5,1,3",
        "--tune-damping",
        "1e-8",
        "--seeds",
        "3",
        "--target-loss",
        "10",
        "--figures",
        figures.to_str().unwrap(),
        "--json",
        "--quiet",
    ]);
    let report: Value = serde_json::from_str(&s).unwrap();
    let rows = report["optimizers"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        let name = row["optimizer"].as_str().unwrap();
        assert_eq!(row["chosen"]["lr"], 1.0, "{name}: {row}");
        assert_eq!(row["grid"].as_array().unwrap().len(), 4, "{name}");
        assert_eq!(row["seeds"], 3);
        // the spread is ordered and the median lies in it
        let f = &row["final_loss"];
        let (lo, med, hi) = (
            f["min"].as_f64().unwrap(),
            f["median"].as_f64().unwrap(),
            f["max"].as_f64().unwrap(),
        );
        assert!(lo <= med && med <= hi, "{name}: {f}");
    }
    // SGD's grid: the closed form of the scores' order (lr = 1 < 0.5 < 0.1 < 3)
    let sgd: Vec<f64> = rows[0]["grid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["final_loss"].as_f64().unwrap_or(f64::INFINITY))
        .collect();
    assert!(
        sgd[2] < sgd[1] && sgd[1] < sgd[0] && sgd[0] < sgd[3],
        "{sgd:?}"
    );
    for f in ["tuning.json", "tuning.svg", "tuning.png"] {
        assert!(figures.join(f).is_file(), "{f}");
    }
    // the table names the chosen settings
    let table = run_ok(&[
        "train",
        "--inputs",
        xp.to_str().unwrap(),
        "--targets",
        yp.to_str().unwrap(),
        "--arch",
        "2,1",
        "--activation",
        "identity",
        "--likelihood",
        "gaussian",
        "--optimizer",
        "sgd",
        "--momentum",
        "0",
        "--steps",
        "3",
        "--batch",
        "4",
        "--tune",
        "--tune-lr",
        "0.5,1",
        "--quiet",
    ]);
    assert!(table.contains("final loss, median [min, max]"), "{table}");
    run_bad(
        &[
            "train",
            "--dataset",
            "digits",
            "--arch",
            "64,10",
            "--likelihood",
            "categorical",
            "--optimizer",
            "sgd",
            "--tune",
            "--tune-lr",
            "0,1",
        ],
        "--tune-lr 0 is invalid",
    );
}

/// The defaults work on the embedded training sets without tuning (docs/optimizers.md): with no
/// hyper-parameter flag, every optimizer trains digits (categorical) to a quarter of the
/// initial loss and lowers diabetes' (Gaussian) in 100 steps, without failing. The initial loss
/// is the loss before the first step of a one-step run whose mini-batch is all the data.
#[test]
fn default_settings_train_every_optimizer_on_the_embedded_data() {
    for (dataset, arch, likelihood, n, factor) in [
        ("digits", "64,32,10", "categorical", "1797", 0.25),
        ("diabetes", "10,32,1", "gaussian", "442", 1.0),
    ] {
        let s = run_ok(&[
            "train",
            "--dataset",
            dataset,
            "--arch",
            arch,
            "--likelihood",
            likelihood,
            "--optimizer",
            "sgd,adam,diag,kfac,ekfac,hf",
            "--steps",
            "100",
            "--eval-every",
            "100",
            "--json",
            "--quiet",
        ]);
        let report: Value = serde_json::from_str(&s).unwrap();
        let rows = report["runs"].as_array().unwrap();
        // the loss at the initialisation: the first full-batch step's mini-batch loss
        let first: Value = serde_json::from_str(&run_ok(&[
            "train",
            "--dataset",
            dataset,
            "--arch",
            arch,
            "--likelihood",
            likelihood,
            "--optimizer",
            "sgd",
            "--steps",
            "1",
            "--batch",
            n,
            "--json",
            "--quiet",
        ]))
        .unwrap();
        let initial = first["runs"][0]["final_batch_loss"].as_f64().unwrap();
        for r in rows {
            let name = r["optimizer"].as_str().unwrap();
            assert!(r["error"].is_null(), "{dataset} {name}: {}", r["error"]);
            let last = r["final_loss"].as_f64().unwrap();
            assert!(
                last < factor * initial,
                "{dataset} {name}: {initial} -> {last}"
            );
        }
    }
}
