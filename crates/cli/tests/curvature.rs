//! `fisherlab curvature` end to end on fixtures written by NumPy and `safetensors` (see
//! `fixtures/make_fixtures.py`): the softmax-regression Fisher against the one NumPy computed
//! from its definition, every kind against the library, and one-line errors with exit 2 and no
//! output file.

mod common;
use common::{fisherlab, fixture, read_npy, run_bad, run_ok};

use serde_json::Value;
use std::path::{Path, PathBuf};

fn out_path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

#[test]
fn softmax_regression_fisher_equals_numpy_from_its_definition() {
    let dir = tempfile::tempdir().unwrap();
    let out = out_path(&dir, "f.npy");
    let weights = fixture("glm.safetensors");
    for inputs in ["x.npy", "x_fortran.npy"] {
        let inputs = fixture(inputs);
        run_ok(&[
            "curvature",
            "--arch",
            "3,2",
            "--activation",
            "identity",
            "--weights",
            &weights,
            "--inputs",
            &inputs,
            "--likelihood",
            "categorical",
            "--kind",
            "exact",
            "--out",
            out.to_str().unwrap(),
        ]);
        let got = read_npy(&out);
        let want = read_npy(fixture("glm_fisher.npy"));
        assert_eq!((got.nrows(), got.ncols()), (8, 8));
        assert!((&got - &want).norm_max() < 1e-14 * want.norm_max());
    }
}

#[test]
fn every_kind_writes_its_matrix_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let weights = fixture("mlp.safetensors");
    let (x, y) = (fixture("x.npy"), fixture("y.npy"));
    let out = out_path(&dir, "m.npy");
    let exact_path = out_path(&dir, "exact.npy");
    let base = |kind: &'static str, out: &Path| -> Vec<String> {
        [
            "curvature",
            "--arch",
            "3,4,2",
            "--weights",
            &weights,
            "--inputs",
            &x,
            "--targets",
            &y,
            "--likelihood",
            "categorical",
            "--kind",
            kind,
            "--out",
            out.to_str().unwrap(),
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let args = base("exact", &exact_path);
    let s = run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let v: Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["parameters"], 26);
    assert_eq!(v["inputs"], 5);
    let exact = read_npy(&exact_path);
    let tr: f64 = (0..26).map(|i| exact[(i, i)]).sum();
    assert!((v["trace"].as_f64().unwrap() - tr).abs() < 1e-12 * tr);
    for kind in [
        "mc",
        "empirical",
        "hessian",
        "diag",
        "block-diag",
        "kfac",
        "ekfac",
        "low-rank",
    ] {
        let mut args = base(kind, &out);
        if kind == "low-rank" {
            args.extend(["--rank".into(), "26".into()]);
        }
        let s = run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["kind"], kind);
        let m = read_npy(&out);
        assert_eq!((m.nrows(), m.ncols()), (26, 26), "{kind}");
        // checks that need no library call: the diagonal of the exact matrix, its zero
        // cross-layer blocks, and full rank reproducing it
        match kind {
            "diag" => {
                for i in 0..26 {
                    assert!((m[(i, i)] - exact[(i, i)]).abs() < 1e-13);
                }
            }
            "block-diag" => {
                // layer 0: parameters 0..16, layer 1: 16..26
                assert!(m[(0, 20)].abs() < 1e-300 && (m[(0, 5)] - exact[(0, 5)]).abs() < 1e-13);
            }
            "low-rank" => assert!((&m - &exact).norm_max() < 1e-10 * exact.norm_max()),
            "kfac" | "ekfac" => assert!(m[(0, 20)].abs() < 1e-300),
            _ => {}
        }
    }
}

#[test]
fn compare_reports_metrics_against_the_exact_fisher() {
    let (x, y) = (fixture("x.npy"), fixture("y.npy"));
    let s = run_ok(&[
        "curvature",
        "--arch",
        "3,4,2",
        "--inputs",
        &x,
        "--targets",
        &y,
        "--likelihood",
        "categorical",
        "--kind",
        "kfac",
        "--json",
        "--compare",
    ]);
    let v: Value = serde_json::from_str(&s).unwrap();
    let c = &v["comparison"];
    assert!(c["rel_frobenius"].as_f64().unwrap() > 0.0);
    assert!(c["ngd_cosine"].as_f64().unwrap() <= 1.0 + 1e-12);
    assert_eq!(c["spectrum_exact"].as_array().unwrap().len(), 26);
    assert_eq!(v["variant"], "type2");
    assert!(v["output"].is_null());
}

#[test]
fn bad_input_is_one_line_exit_2_and_no_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = out_path(&dir, "never.npy");
    let o = out.to_str().unwrap().to_string();
    let (x, y) = (fixture("x.npy"), fixture("y.npy"));
    let w = fixture("mlp.safetensors");
    let common = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "curvature",
            "--arch",
            "3,4,2",
            "--likelihood",
            "categorical",
            "--out",
            &o,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            common(&["--inputs", &fixture("x_nan.npy"), "--kind", "exact"]),
            "input (2, 1) is NaN",
        ),
        (
            common(&[
                "--inputs",
                &x,
                "--targets",
                &fixture("y_bad.npy"),
                "--kind",
                "empirical",
            ]),
            "target row 3",
        ),
        (
            common(&["--inputs", &x, "--kind", "empirical"]),
            "needs --targets",
        ),
        (
            common(&[
                "--inputs",
                &x,
                "--weights",
                &fixture("mlp_missing_bias.safetensors"),
                "--kind",
                "exact",
            ]),
            "tensor `2.bias` is missing",
        ),
        (
            common(&[
                "--inputs",
                &x,
                "--weights",
                &fixture("mlp_wrong_shape.safetensors"),
                "--kind",
                "exact",
            ]),
            "has shape [3, 4], the 3-4-2",
        ),
        (
            common(&["--inputs", &fixture("y.npy"), "--kind", "exact"]),
            "inputs have 1 columns",
        ),
        (
            common(&["--inputs", &x, "--kind", "mc", "--mc-samples", "0"]),
            "--mc-samples 0",
        ),
        (
            common(&["--inputs", &x, "--kind", "low-rank", "--rank", "27"]),
            "rank",
        ),
        (common(&["--inputs", &x, "--kind", "nonsense"]), "nonsense"),
        (
            common(&["--inputs", &fixture("missing.npy"), "--kind", "exact"]),
            "cannot open",
        ),
        (
            common(&["--inputs", &w, "--kind", "exact"]),
            "not a .npy file",
        ),
    ];
    for (args, needle) in cases {
        run_bad(&args.iter().map(String::as_str).collect::<Vec<_>>(), needle);
        assert!(!out.exists(), "{args:?} left an output file");
    }
    // a too-wide network for the weights: extra tensors are named
    run_bad(
        &[
            "curvature",
            "--arch",
            "3,4",
            "--weights",
            &w,
            "--inputs",
            &x,
            "--likelihood",
            "gaussian",
            "--kind",
            "exact",
            "--json",
        ],
        "unexpected tensor `2.bias`",
    );
    let _ = y;
}

#[test]
fn embedded_datasets_are_listed_and_usable() {
    let v: serde_json::Value = serde_json::from_str(&run_ok(&["datasets", "--json"])).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "digits",
            "diabetes",
            "mnist1d",
            "mnist1d-test",
            "digits-images"
        ]
    );
    assert_eq!(v[1]["rows"], 442);
    // natural shapes: images 1×8×8, signals 1×40
    assert_eq!(v[0]["shape"], serde_json::json!([1, 8, 8]));
    assert_eq!(v[2]["shape"], serde_json::json!([1, 40]));
    assert!(run_ok(&["datasets"]).contains("diabetes"));
    // the regression set with its suggested head: a linear-Gaussian Fisher (1/N) X̄ᵀX̄ whose
    // trace is the mean of ‖x̄ₙ‖² = 10 standardised columns · (N−1)/N + 1 for the bias
    let s = run_ok(&[
        "curvature",
        "--dataset",
        "diabetes",
        "--arch",
        "10,1",
        "--activation",
        "identity",
        "--likelihood",
        "gaussian",
        "--kind",
        "exact",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    let want = 10.0 * 441.0 / 442.0 + 1.0;
    assert!((v["trace"].as_f64().unwrap() - want).abs() < 1e-10, "{s}");
    run_bad(
        &[
            "curvature",
            "--dataset",
            "iris",
            "--arch",
            "4,3",
            "--likelihood",
            "categorical",
            "--kind",
            "exact",
            "--json",
        ],
        "unknown dataset `iris`",
    );
}

/// Every `--kind` (and the label variants of the structured ones) writes the same bits with
/// 1, 2 and 3 threads, each run its own process: the products split over output blocks only
/// and the command line gives faer's decompositions a fixed split (P = 2 410 on the digits, large
/// enough for the parallel paths; the Hessian, by forward mode, on the 26-parameter fixture).
#[test]
fn every_kind_is_identical_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let digits = ["--dataset", "digits", "--arch", "64,32,10"];
    let (w, x, y) = (
        fixture("mlp.safetensors"),
        fixture("x.npy"),
        fixture("y.npy"),
    );
    let small = [
        "--arch",
        "3,4,2",
        "--weights",
        &w,
        "--inputs",
        &x,
        "--targets",
        &y,
    ];
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (digits.to_vec(), vec!["--kind", "exact"]),
        (digits.to_vec(), vec!["--kind", "mc", "--mc-samples", "2"]),
        (digits.to_vec(), vec!["--kind", "empirical"]),
        (small.to_vec(), vec!["--kind", "hessian"]),
        (digits.to_vec(), vec!["--kind", "diag"]),
        (
            digits.to_vec(),
            vec!["--kind", "block-diag", "--kfac-type", "mc"],
        ),
        (digits.to_vec(), vec!["--kind", "kfac"]),
        (
            digits.to_vec(),
            vec!["--kind", "kfac", "--kfac-type", "empirical"],
        ),
        (digits.to_vec(), vec!["--kind", "ekfac"]),
        (
            digits.to_vec(),
            vec!["--kind", "ekfac", "--kfac-type", "mc"],
        ),
        (digits.to_vec(), vec!["--kind", "low-rank"]),
        (digits.to_vec(), vec!["--kind", "low-rank", "--randomized"]),
    ];
    for (k, (data, kind)) in cases.iter().enumerate() {
        let mut first: Option<Vec<u8>> = None;
        for threads in ["1", "2", "3"] {
            let out = dir.path().join(format!("{k}-{threads}.npy"));
            let status = fisherlab()
                .env("RAYON_NUM_THREADS", threads)
                .arg("curvature")
                .args(data)
                .args(["--likelihood", "categorical"])
                .args(kind)
                .args(["--out", out.to_str().unwrap()])
                .output()
                .unwrap();
            assert!(
                status.status.success(),
                "{kind:?}: {}",
                String::from_utf8_lossy(&status.stderr)
            );
            let bytes = std::fs::read(&out).unwrap();
            match &first {
                None => first = Some(bytes),
                Some(b) => assert!(*b == bytes, "{kind:?}: 1 and {threads} threads differ"),
            }
        }
    }
}
