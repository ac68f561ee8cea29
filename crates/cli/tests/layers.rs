//! Networks built from layers, end to end, against fixtures written by PyTorch and curvlinops
//! (`fixtures/make_layer_fixtures.py`; CI runs no Python): a CNN (Conv2d, ReLU, MaxPool2d, a
//! bias-free strided Conv2d, Tanh, AvgPool2d with padding and Flatten nested in a Sequential,
//! Linear), a Conv1d network (strides, padding, dilation, SiLU, GELU, MaxPool1d,
//! AdaptiveAvgPool1d, Dropout, LeakyReLU), a residual MLP with LayerNorm (with and without shift),
//! a CNN with BatchNorm2d in evaluation mode (running statistics from the weights file) and
//! residual blocks nested two deep, and a sequence model whose Linear layers are shared over the
//! positions of (N, T, d) inputs, read from the text `print(model)` wrote.

mod common;
use common::{DIGITS_CNN, fisherlab, fixture, read_npy, run_bad, run_ok, tensors};

use faer::Mat;
use fisherlab_autodiff::batch::forward;
use fisherlab_autodiff::layers::parse_model;
use npyz::WriterBuilder;
use safetensors::SafeTensors;

/// The fixtures' models and their per-sample input shapes.
const MODELS: [(&str, &[usize]); 5] = [
    ("cnn2d", &[1, 6, 6]),
    ("cnn1d", &[1, 20]),
    ("resmlp", &[5]),
    ("bncnn", &[1, 5, 5]),
    ("seq", &[5, 4]),
];

fn max_rel(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    (a - b).norm_max() / b.norm_max()
}

fn model_args(name: &str) -> Vec<String> {
    vec![
        "--model".into(),
        fixture(&format!("{name}.txt")),
        "--weights".into(),
        fixture(&format!("{name}.safetensors")),
        "--inputs".into(),
        fixture(&format!("{name}_x.npy")),
        "--targets".into(),
        fixture(&format!("{name}_y.npy")),
        "--likelihood".into(),
        "categorical".into(),
    ]
}

#[test]
fn forward_pass_and_parameter_order_are_pytorchs() {
    for (name, shape) in MODELS {
        let text = std::fs::read_to_string(fixture(&format!("{name}.txt"))).unwrap();
        let x = read_npy(fixture(&format!("{name}_x.npy")));
        let mut net = parse_model(&text).unwrap().build(shape).unwrap();
        // θ in our order from the state_dict by name must be parameters_to_vector's
        let bytes = std::fs::read(fixture(&format!("{name}.safetensors"))).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let mut theta = vec![0.0; net.num_params()];
        for (tensor, shape, offset) in net.param_tensors() {
            let t = st.tensor(&tensor).unwrap();
            assert_eq!(t.shape(), shape.as_slice(), "{tensor}");
            for (k, c) in t.data().chunks_exact(8).enumerate() {
                theta[offset + k] = f64::from_le_bytes(c.try_into().unwrap());
            }
        }
        for (buffer, _) in net.buffers() {
            let t = st.tensor(&buffer).unwrap();
            let v: Vec<f64> = t
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect();
            net.set_buffer(&buffer, &v).unwrap();
        }
        let want = read_npy(fixture(&format!("{name}_theta.npy")));
        assert_eq!(want.nrows(), theta.len());
        for (k, v) in theta.iter().enumerate() {
            assert_eq!(v.to_bits(), want[(k, 0)].to_bits(), "{name} parameter {k}");
        }
        let z = forward(&net, &theta, x.as_ref()).outputs;
        let z_ref = read_npy(fixture(&format!("{name}_z.npy")));
        assert!(
            max_rel(&z, &z_ref) < 1e-12,
            "{name}: {:e}",
            max_rel(&z, &z_ref)
        );
    }
}

#[test]
fn exact_fisher_equals_torch_func() {
    let dir = tempfile::tempdir().unwrap();
    for (name, _) in MODELS {
        let out = dir.path().join(format!("{name}.npy"));
        let mut args = vec!["curvature".to_string()];
        args.extend(model_args(name));
        args.extend(["--kind", "exact", "--out", out.to_str().unwrap()].map(String::from));
        run_ok(&args);
        let got = read_npy(&out);
        let want = read_npy(fixture(&format!("{name}_fisher.npy")));
        assert!(
            max_rel(&got, &want) < 1e-10,
            "{name}: {:e}",
            max_rel(&got, &want)
        );
    }
}

#[test]
fn kfac_on_convolutions_and_sequences_equals_curvlinops() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["cnn2d", "seq"] {
        kfac_equals_curvlinops(dir.path(), name);
    }
}

fn kfac_equals_curvlinops(dir: &std::path::Path, name: &str) {
    for (ours, theirs) in [("type2", "type-2"), ("empirical", "empirical")] {
        for approx in ["expand", "reduce"] {
            let out = dir.join(format!("{name}_{ours}_{approx}.npy"));
            let mut args = vec!["curvature".to_string()];
            args.extend(model_args(name));
            args.extend(
                [
                    "--kind",
                    "kfac",
                    "--kfac-type",
                    ours,
                    "--kfac-approx",
                    approx,
                    "--out",
                    out.to_str().unwrap(),
                ]
                .map(String::from),
            );
            run_ok(&args);
            let got = read_npy(&out);
            let want = read_npy(fixture(&format!("{name}_kfac_{theirs}_{approx}.npy")));
            let err = max_rel(&got, &want);
            assert!(err < 1e-10, "{name} {ours} {approx}: {err:e}");
        }
    }
    // the two settings differ on shared layers, so the comparison can tell them apart
    let e = read_npy(fixture(&format!("{name}_kfac_type-2_expand.npy")));
    let r = read_npy(fixture(&format!("{name}_kfac_type-2_reduce.npy")));
    assert!(max_rel(&e, &r) > 1e-3);
}

#[test]
fn unsupported_models_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(fixture("cnn2d.txt")).unwrap();
    let cases = [
        (
            good.replace("(1): ReLU()", "(1): LSTM(3, 3)"),
            "line 3",
            "module `LSTM` is not supported",
        ),
        (
            good.replace("padding=(1, 1))", "padding=(1, 1), groups=2)"),
            "line 2",
            "groups=1",
        ),
        (
            good.replace("padding=(1, 1))", "padding=(1, 1), padding_mode='reflect')"),
            "line 2",
            "'zeros'",
        ),
        (
            good.replace("ceil_mode=False", "ceil_mode=True"),
            "line 4",
            "ceil_mode=False",
        ),
        (
            good.replace("in_features=20", "in_features=21"),
            "(6) Linear",
            "(21,)",
        ),
    ];
    for (k, (text, at, says)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{k}.txt"));
        std::fs::write(&path, text).unwrap();
        let out = dir.path().join(format!("bad{k}.npy"));
        let mut args = vec!["curvature".to_string()];
        args.extend(model_args("cnn2d"));
        args[2] = path.display().to_string();
        args.extend(["--kind", "exact", "--out", out.to_str().unwrap()].map(String::from));
        run_bad(&args, at);
        run_bad(&args, says);
        assert!(!out.exists());
    }
    // inputs flat and no shape given: the message says how to give it
    let mut args = vec!["curvature".to_string()];
    args.extend(model_args("cnn2d"));
    args[6] = fixture("x.npy");
    args.extend(["--kind", "exact", "--json"].map(String::from));
    run_bad(&args, "--input-shape");
    // weights that do not fit the model name the tensor
    let mut args = vec!["curvature".to_string()];
    args.extend(model_args("cnn2d"));
    args[4] = fixture("cnn1d.safetensors");
    args.extend(["--kind", "exact", "--json"].map(String::from));
    run_bad(&args, "tensor `0.weight` has shape [3, 1, 5]");
}

#[test]
fn flat_inputs_with_an_input_shape_give_the_same_matrix() {
    // the fixture's (N, 1, 6, 6) inputs as (N, 36) rows with --input-shape 1,6,6
    let dir = tempfile::tempdir().unwrap();
    let x = read_npy(fixture("cnn2d_x.npy"));
    let flat = dir.path().join("flat.npy");
    let mut buf = Vec::new();
    {
        let mut w = npyz::WriteOptions::<f64>::new()
            .default_dtype()
            .shape(&[x.nrows() as u64, x.ncols() as u64])
            .writer(&mut buf)
            .begin_nd()
            .unwrap();
        for i in 0..x.nrows() {
            for j in 0..x.ncols() {
                w.push(&x[(i, j)]).unwrap();
            }
        }
        w.finish().unwrap();
    }
    std::fs::write(&flat, buf).unwrap();
    let out = dir.path().join("f.npy");
    let mut args = vec!["curvature".to_string()];
    args.extend(model_args("cnn2d"));
    args[6] = flat.display().to_string();
    args.extend(
        [
            "--input-shape",
            "1,6,6",
            "--kind",
            "exact",
            "--out",
            out.to_str().unwrap(),
        ]
        .map(String::from),
    );
    run_ok(&args);
    let want = read_npy(fixture("cnn2d_fisher.npy"));
    assert!(max_rel(&read_npy(&out), &want) < 1e-10);
}

/// A CNN for the digits with BatchNorm2d, a residual block and LayerNorm:
/// P = 40 + 8 + 144 + 128 + 650 = 970.
const DIGITS_NORM_CNN: &str = "Sequential(
  (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (1): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
  (2): ReLU()
  (3): Residual(
    (body): Sequential(
      (0): Conv2d(4, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
      (1): Tanh()
    )
  )
  (4): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (5): Flatten(start_dim=1, end_dim=-1)
  (6): LayerNorm((64,), eps=1e-05, elementwise_affine=True, bias=True)
  (7): Linear(in_features=64, out_features=10, bias=True)
)
";

#[test]
fn every_optimizer_trains_a_cnn_on_digits_identically_for_any_thread_count() {
    train_every_optimizer(DIGITS_CNN, &["1", "2", "3"], &[]);
}

#[test]
fn every_optimizer_trains_a_network_with_normalisation_and_residual_blocks() {
    // λ = 3: with the default λ = 1 and lr 1, K-FAC and EKFAC overshoot on this network within
    // eight steps (the full-data loss rises after step 4), while exact natural gradient
    // descent does not
    let saved = train_every_optimizer(DIGITS_NORM_CNN, &["1", "2"], &["--damping", "3"]);
    // the saved weights carry the BatchNorm buffers and read back
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("norm.txt");
    std::fs::write(&model, DIGITS_NORM_CNN).unwrap();
    let w = dir.path().join("w.safetensors");
    std::fs::write(&w, &saved[0]).unwrap();
    let st = SafeTensors::deserialize(&saved[0]).unwrap();
    assert!(st.tensor("1.running_var").is_ok() && st.tensor("1.weight").is_ok());
    let text = run_ok(&[
        "curvature",
        "--dataset",
        "digits",
        "--model",
        model.to_str().unwrap(),
        "--weights",
        w.to_str().unwrap(),
        "--likelihood",
        "categorical",
        "--kind",
        "kfac",
        "--norm-block",
        "dense",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["parameters"], 970);
    assert_eq!(v["norm_block"], "dense");
}

/// Train `model_text` on the digits with every optimizer for each thread count: the full-data
/// loss decreases for each, and the saved weights are identical bit for bit across thread
/// counts. Returns the weights files of the first thread count, in optimizer order.
fn train_every_optimizer(model_text: &str, thread_counts: &[&str], extra: &[&str]) -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("cnn.txt");
    std::fs::write(&model, model_text).unwrap();
    let optimizers = "sgd,adam,ngd,diag,kfac,ekfac,smw,hf";
    let mut saved = Vec::new();
    for threads in thread_counts {
        let save = dir.path().join(format!("w{threads}.safetensors"));
        let log = dir.path().join(format!("log{threads}.jsonl"));
        let out = fisherlab()
            .env("RAYON_NUM_THREADS", threads)
            .args([
                "train",
                "--dataset",
                "digits",
                "--model",
                model.to_str().unwrap(),
                "--likelihood",
                "categorical",
                "--optimizer",
                optimizers,
                "--steps",
                "8",
                "--batch",
                "64",
                "--eval-every",
                "1",
                "--quiet",
                "--log",
                log.to_str().unwrap(),
                "--save",
                save.to_str().unwrap(),
            ])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // the full-data loss after the last step is below the one after the first, for each
        let text = std::fs::read_to_string(&log).unwrap();
        let records: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        for name in optimizers.split(',') {
            let evals: Vec<f64> = records
                .iter()
                .filter(|r| r["optimizer"] == name)
                .map(|r| r["eval_loss"].as_f64().unwrap())
                .collect();
            assert_eq!(evals.len(), 8, "{name}");
            assert!(evals[7] < evals[0], "{name}: {evals:?}");
        }
        let mut files: Vec<Vec<u8>> = Vec::new();
        for name in optimizers.split(',') {
            let p = dir.path().join(format!("w{threads}.{name}.safetensors"));
            files.push(std::fs::read(p).unwrap());
        }
        saved.push(files);
    }
    for (k, name) in optimizers.split(',').enumerate() {
        for (t, other) in saved.iter().enumerate().skip(1) {
            // the tensors, not the metadata (which records the thread count)
            assert!(
                tensors(&saved[0][k]) == tensors(&other[k]),
                "{name}: {} and {} threads differ",
                thread_counts[0],
                thread_counts[t]
            );
        }
    }
    saved.swap_remove(0)
}

#[test]
fn the_main_job_runs_on_a_cnn() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("cnn.txt");
    std::fs::write(&model, DIGITS_CNN).unwrap();
    let out = dir.path().join("out");
    let text = run_ok(&[
        "compare",
        "--dataset",
        "digits",
        "--model",
        model.to_str().unwrap(),
        "--steps",
        "5",
        "--optimizers",
        "sgd,kfac",
        "--approximations",
        "kfac,ekfac,diag,block-diag",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        text.contains("network") && text.contains("P = 690"),
        "{text}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("comparison.json")).unwrap())
            .unwrap();
    assert_eq!(report["parameters"], 690);
    assert_eq!(report["input_shape"], serde_json::json!([1, 8, 8]));
    assert!(report["arch"].is_null() && report["network"].as_str().unwrap().contains("Conv2d"));
    // and on a network with BatchNorm, a residual block and LayerNorm
    std::fs::write(&model, DIGITS_NORM_CNN).unwrap();
    let out = dir.path().join("norm");
    let text = run_ok(&[
        "compare",
        "--dataset",
        "digits",
        "--model",
        model.to_str().unwrap(),
        "--steps",
        "5",
        "--optimizers",
        "sgd,ekfac",
        "--approximations",
        "kfac,ekfac,diag,block-diag",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(text.contains("P = 970"), "{text}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("comparison.json")).unwrap())
            .unwrap();
    assert!(
        report["network"]
            .as_str()
            .unwrap()
            .contains("Residual(Conv2d-Tanh)"),
        "{}",
        report["network"]
    );
}

/// A change to one tensor of a weights file (`None`: drop it).
type Edit = dyn Fn(&str, Vec<f64>) -> Option<Vec<f64>>;

#[test]
fn batch_norm_needs_evaluation_mode_and_its_running_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let exact = |dir: &std::path::Path, model: String, weights: String| {
        let mut args = vec!["curvature".to_string()];
        args.extend(model_args("bncnn"));
        args[2] = model;
        args[4] = weights;
        args.extend(
            [
                "--kind",
                "exact",
                "--out",
                dir.join("f.npy").to_str().unwrap(),
            ]
            .map(String::from),
        );
        args
    };
    // training mode (batch statistics) is refused, naming the line and why
    let good = std::fs::read_to_string(fixture("bncnn.txt")).unwrap();
    let bad = dir.path().join("train.txt");
    std::fs::write(
        &bad,
        good.replacen("track_running_stats=True", "track_running_stats=False", 1),
    )
    .unwrap();
    let args = exact(
        dir.path(),
        bad.display().to_string(),
        fixture("bncnn.safetensors"),
    );
    run_bad(&args, "line 3");
    run_bad(&args, "couples the samples");
    // the running statistics must be in the weights file, and be variances
    let bytes = std::fs::read(fixture("bncnn.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let write = |name: &str, change: &Edit| {
        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for (n, t) in st.tensors() {
            if t.dtype() != safetensors::Dtype::F64 {
                continue; // num_batches_tracked
            }
            let v: Vec<f64> = t
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect();
            if let Some(v) = change(&n, v) {
                let data = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                tensors.push((n, t.shape().to_vec(), data));
            }
        }
        let views: Vec<_> = tensors
            .iter()
            .map(|(n, s, d)| {
                (
                    n.clone(),
                    safetensors::tensor::TensorView::new(safetensors::Dtype::F64, s.clone(), d)
                        .unwrap(),
                )
            })
            .collect();
        let path = dir.path().join(name);
        std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
        path.display().to_string()
    };
    let model = fixture("bncnn.txt");
    let missing = write("missing.safetensors", &|n, v| {
        (n != "3.body.1.running_var").then_some(v)
    });
    run_bad(
        &exact(dir.path(), model.clone(), missing),
        "tensor `3.body.1.running_var` is missing",
    );
    let negative = write("negative.safetensors", &|n, mut v| {
        if n == "1.running_var" {
            v[1] = -0.5;
        }
        Some(v)
    });
    run_bad(&exact(dir.path(), model.clone(), negative), "variance");
    // without num_batches_tracked the file is as good (it is not used)
    let plain = write("plain.safetensors", &|_, v| Some(v));
    let args = exact(dir.path(), model, plain);
    run_ok(&args);
    let want = read_npy(fixture("bncnn_fisher.npy"));
    assert!(max_rel(&read_npy(dir.path().join("f.npy")), &want) < 1e-10);
}

#[test]
fn every_optimizer_trains_the_sequence_model() {
    // (N, T, d) inputs through Linear layers shared over the positions, a residual block and the
    // mean over the positions; K-FAC and EKFAC in the reduce setting
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.jsonl");
    let optimizers = "sgd,adam,ngd,diag,kfac,ekfac,smw,hf";
    let mut args = vec!["train".to_string()];
    args.extend(model_args("seq"));
    args.extend(
        [
            "--optimizer",
            optimizers,
            "--steps",
            "6",
            "--batch",
            "6",
            "--eval-every",
            "1",
            "--kfac-approx",
            "reduce",
            "--quiet",
            "--log",
            log.to_str().unwrap(),
        ]
        .map(String::from),
    );
    run_ok(&args);
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for name in optimizers.split(',') {
        let evals: Vec<f64> = records
            .iter()
            .filter(|r| r["optimizer"] == name)
            .filter_map(|r| r["eval_loss"].as_f64())
            .collect();
        assert_eq!(evals.len(), 6, "{name}");
        assert!(evals[5] < evals[0], "{name}: {evals:?}");
    }
}
