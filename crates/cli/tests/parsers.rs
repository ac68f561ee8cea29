//! The parsers of user files and text never panic: the committed fuzzing corpora
//! (`fuzz/corpus/<target>/`, grown by `cargo fuzz run <target>`) are replayed through the same
//! entry points the fuzz targets call, the seeds written by `fuzz/make_seeds.py` are accepted
//! (so the fuzzers start from inputs that reach deep into each parser), and property tests
//! feed random claimed matrices, expressions and model texts.

use fisherlab_cli::fuzz;
use proptest::prelude::*;
use std::path::Path;

type Target = fn(&[u8]) -> bool;

const TARGETS: [(&str, Target); 5] = [
    ("npy", fuzz::npy),
    ("safetensors", fuzz::safetensors),
    ("model_text", fuzz::model_text),
    ("expression", fuzz::expression),
    ("claim", fuzz::claim),
];

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_input_returns() {
    for (target, run) in TARGETS {
        let files = corpus(target);
        assert!(!files.is_empty(), "{target}: empty corpus");
        for (_, bytes) in files {
            run(&bytes);
        }
    }
}

#[test]
fn the_seeds_are_accepted() {
    // names as written by fuzz/make_seeds.py: each is a valid input of its parser
    let seeds: [(&str, &[&str]); 5] = [
        (
            "npy",
            &[
                "f8_2d",
                "f8_fortran",
                "f4_1d",
                "i8_labels",
                "i4_3d",
                "f8_4d_fortran",
            ],
        ),
        ("safetensors", &["f64", "f32", "extra_tensor"]),
        ("model_text", &["mlp", "cnn", "residual"]),
        ("expression", &["e0", "e1", "e2", "e3", "e4"]),
        ("claim", &["c0", "c1", "c2"]),
    ];
    for ((target, run), (name, expected)) in TARGETS.iter().zip(seeds) {
        assert_eq!(*target, name);
        let files = corpus(target);
        for seed in expected {
            let (_, bytes) = files
                .iter()
                .find(|(n, _)| n == seed)
                .unwrap_or_else(|| panic!("{target}: seed {seed} missing"));
            assert!(run(bytes), "{target}: seed {seed} refused");
        }
    }
}

#[test]
fn the_weights_network_has_the_seeds_tensors() {
    // the safetensors seeds are written for this network: Conv2d(1→2, 3×3) 20, BatchNorm2d(2)
    // 4, LayerNorm(32) 64, Linear(32→3) 99 parameters (counted by hand from the layer sizes)
    assert_eq!(fuzz::weights_network().num_params(), 20 + 4 + 64 + 99);
}

/// Pieces expressions are made of.
fn atom() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("x".to_string()),
        Just("mu".to_string()),
        Just("sigma".to_string()),
        Just("pi".to_string()),
        (-1e3f64..1e3).prop_map(|v| format!("{v}")),
        Just("1e308".to_string()),
        Just("0".to_string()),
    ]
}

fn expression() -> impl Strategy<Value = String> {
    atom().prop_recursive(6, 64, 4, |inner| {
        prop_oneof![
            (inner.clone(), "[-+*/^]", inner.clone())
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            (
                "(log|exp|sqrt|abs|lgamma|digamma|trigamma|tanh|sin|cos|log1p|erf|nosuch)",
                inner.clone()
            )
                .prop_map(|(f, a)| format!("{f}({a})")),
            inner.clone().prop_map(|a| format!("-({a})")),
            inner.prop_map(|a| format!("({a}")),
        ]
    })
}

fn model_line() -> impl Strategy<Value = String> {
    prop_oneof![
        (0usize..70, 0usize..70, any::<bool>()).prop_map(|(i, o, b)| format!(
            "Linear(in_features={i}, out_features={o}, bias={})",
            if b { "True" } else { "False" }
        )),
        (0usize..5, 0usize..5, 0usize..4, 0usize..3, 0usize..3).prop_map(
            |(i, o, k, s, p)| format!(
                "Conv2d({i}, {o}, kernel_size=({k}, {k}), stride=({s}, {s}), padding=({p}, {p}))"
            )
        ),
        (0usize..5, 0usize..4).prop_map(|(i, k)| format!(
            "Conv1d({i}, 2, kernel_size=({k},), stride=(1,), padding=(0,))"
        )),
        (0usize..5).prop_map(|c| format!(
            "BatchNorm2d({c}, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
        )),
        (0usize..4).prop_map(|k| format!(
            "MaxPool2d(kernel_size={k}, stride={k}, padding=0, dilation=1, ceil_mode=False)"
        )),
        (0usize..70).prop_map(|n| format!("LayerNorm(({n},), eps=1e-05, elementwise_affine=True)")),
        Just("ReLU()".to_string()),
        Just("Tanh()".to_string()),
        Just("Flatten(start_dim=1, end_dim=-1)".to_string()),
        Just("Residual(".to_string()),
        Just("(body): Sequential(".to_string()),
        Just("Sequential(".to_string()),
        Just(")".to_string()),
        "[ -~]{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_expressions_never_panic(e in expression()) {
        fuzz::expression(e.as_bytes());
    }

    #[test]
    fn random_claims_never_panic(
        rows in prop::collection::vec(prop::collection::vec(expression(), 0..4), 0..4),
        open in any::<bool>(),
    ) {
        let body: Vec<String> = rows.iter().map(|r| format!("[{}]", r.join(", "))).collect();
        let text = format!("[{}{}", body.join(", "), if open { "" } else { "]" });
        fuzz::claim(text.as_bytes());
    }

    #[test]
    fn random_model_texts_never_panic(lines in prop::collection::vec(model_line(), 0..12)) {
        let mut text = String::from("Sequential(\n");
        for (k, l) in lines.iter().enumerate() {
            text += &format!("  ({k}): {l}\n");
        }
        text += ")\n";
        fuzz::model_text(text.as_bytes());
    }

    #[test]
    fn random_bytes_never_panic_any_parser(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for (_, run) in TARGETS {
            run(&bytes);
        }
    }
}
