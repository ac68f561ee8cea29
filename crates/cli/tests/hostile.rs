//! Hostile inputs: each row of the table is a command a user might type (or a file they might
//! feed it) that must end in one line on stderr with its exit code — 2 for bad input, 1 for a
//! numerical failure or divergence — within a loose time bound (about 10× what it takes on a
//! 2-core machine in this test profile, so this is no benchmark), leaving no output and no
//! temporary file behind. Then interrupted runs: SIGINT or SIGTERM sent to a running child
//! while it writes leaves nothing behind either.

mod common;

use common::fisherlab;
use std::path::Path;
use std::time::{Duration, Instant};

/// A `.npy` 1.0 file with a hand-written header dictionary and raw data.
fn npy_with(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut header = dict.as_bytes().to_vec();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(data);
    bytes
}

/// A safetensors file from `(name, shape, number of float64 values written)`.
fn safetensors_with(tensors: &[(&str, &[usize], usize)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, shape, n) in tensors {
        let start = data.len();
        for k in 0..*n {
            data.extend_from_slice(&(0.01 * k as f64).to_le_bytes());
        }
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": "F64", "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let h = serde_json::Value::Object(header).to_string().into_bytes();
    let mut bytes = (h.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&h);
    bytes.extend_from_slice(&data);
    bytes
}

struct Case {
    what: &'static str,
    args: Vec<String>,
    /// Files the command reads, written into its working folder first.
    files: Vec<(&'static str, Vec<u8>)>,
    code: i32,
    /// Every one of these is in the one line on stderr.
    needles: Vec<&'static str>,
    seconds: f64,
}

fn case(
    what: &'static str,
    args: &[&str],
    code: i32,
    needles: &[&'static str],
    seconds: f64,
) -> Case {
    Case {
        what,
        args: args.iter().map(|s| s.to_string()).collect(),
        files: Vec::new(),
        code,
        needles: needles.to_vec(),
        seconds,
    }
}

impl Case {
    fn with_file(mut self, name: &'static str, bytes: Vec<u8>) -> Self {
        self.files.push((name, bytes));
        self
    }
}

/// Names in `dir` other than `inputs`.
fn left_behind(dir: &Path, inputs: &[&str]) -> Vec<String> {
    let mut left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !inputs.contains(&n.as_str()))
        .collect();
    left.sort();
    left
}

/// `curvature` reading its inputs from `x.npy` (whose header each case writes).
const NPY_INPUTS: [&str; 10] = [
    "curvature",
    "--inputs",
    "x.npy",
    "--arch",
    "4,2",
    "--likelihood",
    "gaussian",
    "--kind",
    "exact",
    "--json",
];

/// `verify` of a one-parameter log-density on the real line at μ = 1.
fn verify_mu(logpdf: &str) -> Vec<String> {
    [
        "verify",
        "--logpdf",
        logpdf,
        "--support",
        "real",
        "--params",
        "mu",
        "--claim",
        "[[1]]",
        "--at",
        "mu=1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn table() -> Vec<Case> {
    let deep_parens = format!("{}x{}", "(".repeat(500), ")".repeat(500));
    let long_expression = "x + ".repeat(30_000) + "mu";
    // 199 distinct factors in mu: the Hessian by the product rule would have ~199³ terms
    let product = (1..200)
        .map(|k| format!("sin(mu + {k})"))
        .collect::<Vec<_>>()
        .join("*");
    let deep_model = {
        let mut t = String::from("Sequential(\n");
        for k in 0..100 {
            t += &format!("{}({k}): Sequential(\n", "  ".repeat(k + 1));
        }
        t += "  (0): Linear(in_features=64, out_features=10, bias=True)\n";
        for k in (0..=100).rev() {
            t += &format!("{})\n", "  ".repeat(k));
        }
        t
    };
    let mlp = ["--dataset", "digits", "--arch", "64,10"];
    // `curvature` on the digits with an MLP of P = 166 110 (a dense Fisher of 222 GB), then the rest
    let big = |rest: &[&'static str]| -> Vec<&'static str> {
        [
            "curvature",
            "--dataset",
            "digits",
            "--arch",
            "64,1000,100,10",
            "--likelihood",
            "categorical",
        ]
        .iter()
        .chain(rest)
        .copied()
        .collect()
    };
    // the subcommand, then the digits data and a 64-10 MLP, then the rest
    let with_mlp = |rest: &[&'static str]| -> Vec<&'static str> {
        rest[..1]
            .iter()
            .chain(&mlp)
            .chain(&rest[1..])
            .copied()
            .collect()
    };
    vec![
        // --- verify: densities whose integral diverges, and expressions beyond the parser's bounds
        case(
            "a log-density that grows without bound",
            &[
                "verify",
                "--logpdf",
                "-log(sigma) - abs(x-mu)/sigma + x^2",
                "--support",
                "real",
                "--params",
                "mu,sigma",
                "--claim",
                "[[1,0],[0,1]]",
                "--at",
                "mu=0,sigma=1",
            ],
            1,
            &["not normalisable", "keeps growing"],
            10.0,
        ),
        case(
            "a tail ∝ 1/|x|: log-divergent",
            &[
                "verify",
                "--logpdf",
                "-mu*log(1 + x^2)",
                "--support",
                "real",
                "--params",
                "mu",
                "--claim",
                "[[1]]",
                "--at",
                "mu=0.5",
            ],
            1,
            &["not normalisable", "does not fall off", "diverges"],
            10.0,
        ),
        case(
            "a density ∝ 1/x on (0, ∞)",
            &[
                "verify",
                "--logpdf",
                "-log(x) + mu - mu",
                "--support",
                "positive",
                "--params",
                "mu",
                "--claim",
                "[[1]]",
                "--at",
                "mu=1",
            ],
            1,
            &["not normalisable", "toward x → 0"],
            10.0,
        ),
        case(
            "a harmonic pmf",
            &[
                "verify",
                "--logpdf",
                "-log(x + 1) + mu - mu",
                "--support",
                "nonneg-int",
                "--params",
                "mu",
                "--claim",
                "[[0]]",
                "--at",
                "mu=1",
            ],
            1,
            &["not normalisable", "k → ∞"],
            10.0,
        ),
        case(
            "a growing pmf",
            &[
                "verify",
                "--logpdf",
                "x*mu",
                "--support",
                "nonneg-int",
                "--params",
                "mu",
                "--claim",
                "[[0]]",
                "--at",
                "mu=0.5",
            ],
            1,
            &["not normalisable"],
            10.0,
        ),
        case(
            "random points of a divergent density are not redrawn a thousand times",
            &[
                "verify",
                "--logpdf",
                "-mu*log(1 + x^2)",
                "--support",
                "real",
                "--params",
                "mu",
                "--claim",
                "[[1]]",
                "--random",
                "3",
                "--range",
                "mu=0.1..0.5",
            ],
            1,
            &["not normalisable", "at mu="],
            10.0,
        ),
        case(
            "a bounded count support too wide to sum",
            &[
                "verify",
                "--logpdf",
                "-mu + 0*x",
                "--support",
                "int:0..100000000",
                "--params",
                "mu",
                "--claim",
                "[[0]]",
                "--at",
                "mu=1",
            ],
            2,
            &["spans more than 10000000 counts"],
            10.0,
        ),
        Case {
            args: verify_mu(&deep_parens),
            ..case(
                "500 nested parentheses",
                &[],
                2,
                &["--logpdf", "nests deeper than 200"],
                10.0,
            )
        },
        Case {
            args: verify_mu(&long_expression),
            ..case("a 120 kB expression", &[], 2, &["at most 100000"], 10.0)
        },
        Case {
            args: verify_mu(&product),
            ..case(
                "a product of 199 factors whose Hessian explodes",
                &[],
                2,
                &["--logpdf", "the derivative would have", "at most 200000"],
                10.0,
            )
        },
        case(
            "a claim with an unclosed bracket",
            &[
                "verify",
                "--logpdf",
                "-0.5*(x-mu)^2",
                "--support",
                "real",
                "--params",
                "mu",
                "--claim",
                "[[1]",
                "--at",
                "mu=0",
            ],
            2,
            &["claimed matrix"],
            10.0,
        ),
        case(
            "implicit multiplication",
            &[
                "verify",
                "--logpdf",
                "2x",
                "--support",
                "real",
                "--params",
                "mu",
                "--claim",
                "[[1]]",
            ],
            2,
            &["--logpdf: column 2"],
            10.0,
        ),
        // --- memory before allocation
        case(
            "a dense Fisher of 222 GB",
            &big(&["--kind", "exact", "--out", "F.npy"]),
            2,
            &[
                "needs 222.1 GB",
                "memory budget",
                "--kind kfac",
                "--kind low-rank --randomized",
            ],
            10.0,
        ),
        case(
            "a dense Hessian of 222 GB",
            &big(&["--kind", "hessian", "--json"]),
            2,
            &["the dense Hessian", "needs", "--kind diag"],
            10.0,
        ),
        case(
            "a dense top-k of 888 GB",
            &big(&["--kind", "low-rank", "--json"]),
            2,
            &[
                "--kind low-rank at P = 166110",
                "--kind low-rank --randomized",
            ],
            10.0,
        ),
        case(
            "--out of K-FAC densified beyond the budget",
            &big(&["--kind", "kfac", "--out", "K.npy"]),
            2,
            &["--out writes the dense P × P matrix", "--json"],
            20.0,
        ),
        case(
            "--max-memory below the exact Fisher",
            &with_mlp(&[
                "curvature",
                "--likelihood",
                "categorical",
                "--kind",
                "exact",
                "--out",
                "F.npy",
                "--max-memory",
                "100k",
            ]),
            2,
            &["(--max-memory)", "100.0 kB", "--kind diag"],
            10.0,
        ),
        // a network whose parameters alone are 80 GB (P = 10 007 600 010): refused before its
        // parameters are allocated, by every subcommand that builds one
        case(
            "a network over the budget (curvature)",
            &[
                "curvature",
                "--arch",
                "64,100000,100000,10",
                "--dataset",
                "digits",
                "--likelihood",
                "categorical",
                "--kind",
                "kfac",
                "--json",
                "--max-memory",
                "16G",
            ],
            2,
            &["10007600010 parameters, 80.1 GB", "(--max-memory)"],
            10.0,
        ),
        case(
            "a network over the budget (train)",
            &[
                "train",
                "--arch",
                "64,100000,100000,10",
                "--dataset",
                "digits",
                "--likelihood",
                "categorical",
                "--optimizer",
                "sgd",
                "--max-memory",
                "16G",
            ],
            2,
            &["10007600010 parameters, 80.1 GB"],
            10.0,
        ),
        case(
            "a network over the budget (compare, model text)",
            &[
                "compare",
                "--model",
                "big.txt",
                "--input-shape",
                "64",
                "--max-memory",
                "1G",
                "--out",
                "out",
            ],
            2,
            &["1001750010 parameters, 8.0 GB"],
            10.0,
        )
        .with_file(
            "big.txt",
            b"Sequential(\n  (0): Linear(in_features=64, out_features=10000, bias=True)\n  (1): ReLU()\n  (2): Linear(in_features=10000, out_features=100000, bias=True)\n  (3): ReLU()\n  (4): Linear(in_features=100000, out_features=10, bias=True)\n)\n".to_vec(),
        ),
        case(
            // (without --reference dense, compare goes matrix-free instead)
            "--max-memory below the dense compare's plan",
            &[
                "compare",
                "--reference",
                "dense",
                "--max-memory",
                "50M",
                "--out",
                "out",
            ],
            2,
            &["compare at P = 2410", "(--max-memory)"],
            10.0,
        ),
        case(
            "--max-memory with an unknown unit",
            &with_mlp(&[
                "curvature",
                "--likelihood",
                "categorical",
                "--kind",
                "diag",
                "--json",
                "--max-memory",
                "12Q",
            ]),
            2,
            &["--max-memory", "unknown unit"],
            10.0,
        ),
        // --- files whose headers lie
        case(
            "an .npy header declaring 8 EB",
            &NPY_INPUTS,
            2,
            &["x.npy", "needs", "of data, the file holds"],
            10.0,
        )
        .with_file(
            "x.npy",
            npy_with(
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000, 1000000000), }",
                &[0; 64],
            ),
        ),
        case(
            "an .npy header length of 4 GB",
            &NPY_INPUTS,
            2,
            &["x.npy", "the header declares"],
            10.0,
        )
        .with_file("x.npy", {
            let mut b = b"\x93NUMPY\x02\x00".to_vec();
            b.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
            b.extend_from_slice(b"{'descr': '<f8'");
            b
        }),
        case(
            "a text file as .npy",
            &NPY_INPUTS,
            2,
            &["x.npy", "not a .npy file"],
            10.0,
        )
        .with_file("x.npy", b"mu,sigma\n1,2\n".to_vec()),
        case(
            "a complex .npy",
            &NPY_INPUTS,
            2,
            &["x.npy", "dtype", "not supported"],
            10.0,
        )
        .with_file(
            "x.npy",
            npy_with(
                "{'descr': '<c16', 'fortran_order': False, 'shape': (2, 2), }",
                &[0; 64],
            ),
        ),
        case(
            "a truncated safetensors file",
            &with_mlp(&[
                "curvature",
                "--likelihood",
                "categorical",
                "--kind",
                "diag",
                "--json",
                "--weights",
                "w.safetensors",
            ]),
            2,
            &["w.safetensors", "not a safetensors file"],
            10.0,
        )
        .with_file("w.safetensors", {
            let mut b = safetensors_with(&[("0.weight", &[10, 64], 640), ("0.bias", &[10], 10)]);
            b.truncate(b.len() - 100);
            b
        }),
        case(
            "safetensors of the wrong shape",
            &with_mlp(&[
                "curvature",
                "--likelihood",
                "categorical",
                "--kind",
                "diag",
                "--json",
                "--weights",
                "w.safetensors",
            ]),
            2,
            &["w.safetensors", "`0.weight` has shape [10, 63]"],
            10.0,
        )
        .with_file(
            "w.safetensors",
            safetensors_with(&[("0.weight", &[10, 63], 630), ("0.bias", &[10], 10)]),
        ),
        case(
            "a model nested 100 deep",
            &[
                "curvature",
                "--dataset",
                "digits",
                "--model",
                "m.txt",
                "--likelihood",
                "categorical",
                "--kind",
                "diag",
                "--json",
            ],
            2,
            &["m.txt", "nest deeper than 64"],
            10.0,
        )
        .with_file("m.txt", deep_model.into_bytes()),
        case(
            "a Linear layer of 10¹¹ inputs",
            &[
                "curvature",
                "--dataset",
                "digits",
                "--model",
                "m.txt",
                "--likelihood",
                "categorical",
                "--kind",
                "diag",
                "--json",
            ],
            2,
            &["m.txt", "in_features=99999999999 is too large"],
            10.0,
        )
        .with_file(
            "m.txt",
            b"Sequential(\n  (0): Linear(in_features=99999999999, out_features=10, bias=True)\n)\n"
                .to_vec(),
        ),
        case(
            "a missing inputs file",
            &[
                "curvature",
                "--inputs",
                "nowhere.npy",
                "--arch",
                "4,2",
                "--likelihood",
                "gaussian",
                "--kind",
                "exact",
                "--json",
            ],
            2,
            &["nowhere.npy", "cannot open"],
            10.0,
        ),
        case(
            "an output folder that does not exist",
            &with_mlp(&[
                "curvature",
                "--likelihood",
                "categorical",
                "--kind",
                "diag",
                "--out",
                "no/such/F.npy",
            ]),
            2,
            &["no/such/F.npy", "does not exist"],
            10.0,
        ),
        // --- names and options
        case(
            "a --likelihood typo",
            &with_mlp(&[
                "curvature",
                "--likelihood",
                "categoricl",
                "--kind",
                "diag",
                "--json",
            ]),
            2,
            &["unknown likelihood `categoricl`", "categorical, poisson"],
            10.0,
        ),
        case(
            "an unknown family",
            &["fim", "nosuch", "--param", "a=1"],
            2,
            &["unknown family `nosuch`"],
            10.0,
        ),
        case(
            "a parameter outside its domain",
            &["fim", "normal", "--param", "mu=0", "--param", "sigma=-1"],
            2,
            &["sigma = -1", "must be > 0"],
            10.0,
        ),
        case(
            "an unknown activation",
            &with_mlp(&[
                "train",
                "--activation",
                "swishy",
                "--likelihood",
                "categorical",
                "--optimizer",
                "sgd",
                "--steps",
                "2",
            ]),
            2,
            &["unknown activation `swishy`"],
            10.0,
        ),
        case(
            "a negative KL clip",
            &with_mlp(&[
                "train",
                "--likelihood",
                "categorical",
                "--optimizer",
                "kfac",
                "--kl-clip=-1",
                "--steps",
                "2",
            ]),
            2,
            &["kl-clip"],
            10.0,
        ),
        // --- numerical failures are exit 1, not the user's mistake
        case(
            "a Fisher that overflows float64 (1/σ² at σ = 10⁻³⁰⁰)",
            &[
                "fim",
                "normal",
                "--param",
                "mu=0",
                "--param",
                "sigma=1e-300",
            ],
            1,
            &["(mu, mu) = inf", "overflows"],
            10.0,
        ),
        case(
            "quadrature of a Student t with ν = 0.01",
            &[
                "fim",
                "student_t",
                "--param",
                "loc=0",
                "--param",
                "scale=1",
                "--fixed",
                "df=0.01",
                "--method",
                "quadrature",
            ],
            1,
            &["student_t: numerical failure"],
            20.0,
        ),
        case(
            "SGD at a learning rate of 10³⁰⁸ diverges",
            &with_mlp(&[
                "train",
                "--likelihood",
                "categorical",
                "--optimizer",
                "sgd",
                "--lr",
                "1e308",
                "--steps",
                "5",
            ]),
            1,
            &["not finite"],
            20.0,
        ),
    ]
}

#[test]
fn hostile_inputs_end_in_one_line_with_their_exit_code_and_leave_nothing() {
    let mut failures = Vec::new();
    for c in table() {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in &c.files {
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        let start = Instant::now();
        let out = fisherlab()
            .args(&c.args)
            .current_dir(dir.path())
            .timeout(Duration::from_secs_f64(c.seconds * 3.0))
            .output()
            .unwrap();
        let seconds = start.elapsed().as_secs_f64();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let inputs: Vec<&str> = c.files.iter().map(|(n, _)| *n).collect();
        let left = left_behind(dir.path(), &inputs);
        let mut wrong = Vec::new();
        if out.status.code() != Some(c.code) {
            wrong.push(format!("exit {:?}, expected {}", out.status.code(), c.code));
        }
        if err.trim_end().lines().count() != 1 {
            wrong.push("stderr is not one line".into());
        }
        for n in &c.needles {
            if !err.contains(n) {
                wrong.push(format!("stderr lacks `{n}`"));
            }
        }
        if seconds > c.seconds {
            wrong.push(format!("took {seconds:.1} s, bound {} s", c.seconds));
        }
        if !left.is_empty() {
            wrong.push(format!("left behind {left:?}"));
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{}: {}\n    stderr: {err}",
                c.what,
                wrong.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Start `args` in `dir`, wait until a temporary output (a name starting with `.`) appears,
/// send `signal`, and check that the child exits with 130 leaving `dir` empty.
fn interrupted_while_writing(args: &[&str], signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("fisherlab");
    let mut child = std::process::Command::new(bin)
        .args(args)
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let seen = loop {
        let temporary = std::fs::read_dir(dir.path())
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().starts_with('.'));
        if temporary {
            break true;
        }
        if child.try_wait().unwrap().is_some() || start.elapsed() > Duration::from_secs(300) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert!(
        seen,
        "{args:?}: no temporary output appeared before the run ended"
    );
    let killed = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{args:?}: {err}");
    assert!(err.contains("interrupted: no output was written"), "{err}");
    assert_eq!(
        left_behind(dir.path(), &[]),
        Vec::<String>::new(),
        "{args:?}"
    );
}

#[test]
fn sigterm_while_curvature_writes_its_matrix_leaves_nothing() {
    // P = 3 010: a 72 MB .npy, written for long enough to be caught mid-write
    interrupted_while_writing(
        &[
            "curvature",
            "--dataset",
            "digits",
            "--arch",
            "64,40,10",
            "--likelihood",
            "categorical",
            "--kind",
            "exact",
            "--out",
            "F.npy",
        ],
        "-TERM",
    );
}

#[test]
fn sigint_while_compare_writes_its_folder_leaves_nothing() {
    interrupted_while_writing(
        &[
            "compare",
            "--quiet",
            "--steps",
            "3",
            "--optimizers",
            "sgd",
            "--approximations",
            "diag",
            "--out",
            "out",
        ],
        "-INT",
    );
}

#[test]
fn sigint_during_training_leaves_no_weights() {
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("fisherlab");
    let mut child = std::process::Command::new(bin)
        .args([
            "train",
            "--dataset",
            "digits",
            "--arch",
            "64,32,10",
            "--likelihood",
            "categorical",
            "--optimizer",
            "ngd",
            "--steps",
            "100000",
            "--quiet",
            "--save",
            "w.safetensors",
        ])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "training ended before the signal"
    );
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(left_behind(dir.path(), &[]), Vec::<String>::new());
}
