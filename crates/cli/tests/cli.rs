//! The command line, end to end: output shapes, JSON schema, and one-line errors with exit 2.

mod common;
use common::{run_bad, run_ok};

use serde_json::Value;

#[test]
fn json_object_has_the_documented_schema() {
    let s = run_ok(&[
        "fim",
        "student_t",
        "--param",
        "loc=1",
        "--param",
        "scale=2",
        "--fixed",
        "df=4",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&s).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "family",
            "parameterization",
            "parameters",
            "values",
            "method",
            "fisher",
            "std_error"
        ]
    );
    assert_eq!(v["family"], "student_t");
    assert_eq!(v["parameterization"], "canonical");
    assert_eq!(v["parameters"], serde_json::json!(["loc", "scale"]));
    assert_eq!(v["values"]["df"], 4.0);
    assert_eq!(v["method"], "analytic");
    assert!(v["std_error"].is_null());
    // (ν+1)/((ν+3)σ²) = 5/28, 2ν/((ν+3)σ²) = 8/28
    let f = &v["fisher"];
    assert!((f[0][0].as_f64().unwrap() - 5.0 / 28.0).abs() < 1e-15);
    assert!((f[1][1].as_f64().unwrap() - 8.0 / 28.0).abs() < 1e-15);
    assert!(f[0][1].as_f64().unwrap().abs() < 1e-15);
}

#[test]
fn monte_carlo_json_carries_standard_errors_and_is_reproducible() {
    let args = [
        "fim",
        "poisson",
        "--param",
        "rate=3",
        "--method",
        "monte-carlo",
        "--samples",
        "20000",
        "--seed",
        "5",
        "--json",
    ];
    let a = run_ok(&args);
    assert_eq!(a, run_ok(&args), "same seed, same output");
    let v: Value = serde_json::from_str(&a).unwrap();
    let f = v["fisher"][0][0].as_f64().unwrap();
    let se = v["std_error"][0][0].as_f64().unwrap();
    assert!((f - 1.0 / 3.0).abs() < 4.0 * se, "{f} ± {se}");
}

#[test]
fn method_all_reports_agreement() {
    let s = run_ok(&[
        "fim",
        "gamma",
        "--param",
        "shape=2.5",
        "--param",
        "rate=1.5",
        "--method",
        "all",
        "--samples",
        "20000",
    ]);
    for part in [
        "analytic",
        "quadrature",
        "monte-carlo (score)",
        "monte-carlo (hessian)",
        "Agreement with the closed form",
    ] {
        assert!(s.contains(part), "missing {part}:\n{s}");
    }
    let v: Value = serde_json::from_str(&run_ok(&[
        "fim",
        "laplace",
        "--param",
        "loc=0",
        "--param",
        "scale=1",
        "--method",
        "all",
        "--samples",
        "1000",
        "--json",
    ]))
    .unwrap();
    // Laplace has no Hessian form: analytic, quadrature, monte-carlo (score)
    assert_eq!(v.as_array().unwrap().len(), 3);
}

#[test]
fn human_output_is_a_labelled_matrix() {
    let s = run_ok(&["fim", "normal", "--param", "mu=0", "--param", "sigma=2"]);
    assert!(
        s.starts_with("normal (canonical)\n  mu = 0, sigma = 2\n"),
        "{s}"
    );
    assert!(
        s.contains("       mu  sigma\nmu     0.25      0\nsigma     0    0.5\n"),
        "{s}"
    );
}

#[test]
fn parameterizations_and_vector_families() {
    let v: Value = serde_json::from_str(&run_ok(&[
        "fim",
        "normal",
        "--parameterization",
        "natural",
        "--param",
        "eta1=0.25",
        "--param",
        "eta2=-0.125",
        "--json",
    ]))
    .unwrap();
    // μ = 1, σ² = 4: [[4, 8], [8, 48]]
    assert_eq!(v["fisher"], serde_json::json!([[4.0, 8.0], [8.0, 48.0]]));
    let v: Value = serde_json::from_str(&run_ok(&[
        "fim",
        "multivariate_normal",
        "--param",
        "mean1=0",
        "--param",
        "mean2=0",
        "--param",
        "cov11=1",
        "--param",
        "cov12=0.5",
        "--param",
        "cov22=2",
        "--method",
        "quadrature",
        "--json",
    ]))
    .unwrap();
    assert_eq!(
        v["parameters"],
        serde_json::json!(["mean1", "mean2", "cov11", "cov12", "cov22"])
    );
    assert!((v["fisher"][3][3].as_f64().unwrap() - 36.0 / 49.0).abs() < 1e-12);
    let s = run_ok(&["families"]);
    assert!(s.contains("multivariate_normal") && s.contains("natural"));
    let fams: Value = serde_json::from_str(&run_ok(&["families", "--json"])).unwrap();
    assert_eq!(fams.as_array().unwrap().len(), 20);
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    run_bad(&["fim", "gammma"], "unknown family `gammma`");
    // a missing required flag is named on the one line (clap lists it on the lines below)
    run_bad(
        &["curvature", "--arch", "2,1"],
        "the following required arguments were not provided: --likelihood <LIKELIHOOD>, --kind <KIND>",
    );
    // a likelihood typo names the heads, not the families
    run_bad(
        &[
            "train",
            "--dataset",
            "digits",
            "--arch",
            "64,10",
            "--likelihood",
            "categorcal",
            "--optimizer",
            "sgd",
        ],
        "unknown likelihood `categorcal` (the heads: gaussian, bernoulli, categorical, poisson)",
    );
    run_bad(
        &["fim", "gamma", "--param", "shape=-1", "--param", "rate=1"],
        "shape = -1 is invalid: must be > 0",
    );
    run_bad(
        &["fim", "normal", "--param", "mu=0"],
        "missing parameter `sigma`",
    );
    run_bad(
        &[
            "fim", "normal", "--param", "mu=0", "--param", "sigma=1", "--param", "tau=2",
        ],
        "unknown parameter `tau`",
    );
    run_bad(
        &["fim", "normal", "--param", "mu=0", "--param", "sigma=abc"],
        "`abc` is not a number",
    );
    run_bad(&["fim", "normal", "--param", "mu"], "expected NAME=VALUE");
    run_bad(
        &["fim", "normal", "--param", "mu=0", "--param", "sigma=nan"],
        "must be finite",
    );
    run_bad(
        &[
            "fim", "normal", "--param", "mu=0", "--param", "sigma=1", "--method", "magic",
        ],
        "invalid value 'magic'",
    );
    run_bad(
        &[
            "fim",
            "normal",
            "--parameterization",
            "polar",
            "--param",
            "mu=0",
        ],
        "unknown parameterization `polar`",
    );
    run_bad(
        &["fim", "bernoulli", "--param", "p=1.5"],
        "must lie in (0, 1)",
    );
    run_bad(
        &["fim", "binomial", "--param", "p=0.5", "--param", "n=2.5"],
        "must be an integer >= 1",
    );
    run_bad(
        &[
            "fim",
            "categorical",
            "--param",
            "p1=0.5",
            "--param",
            "p2=0.6",
        ],
        "sum to",
    );
    run_bad(
        &[
            "fim",
            "multivariate_normal",
            "--param",
            "mean1=0",
            "--param",
            "mean2=0",
            "--param",
            "cov11=1",
            "--param",
            "cov12=3",
            "--param",
            "cov22=1",
        ],
        "not positive definite",
    );
    run_bad(
        &[
            "fim",
            "laplace",
            "--param",
            "loc=0",
            "--param",
            "scale=1",
            "--method",
            "monte-carlo",
            "--form",
            "hessian",
        ],
        "negative-Hessian form does not apply",
    );
    run_bad(
        &[
            "fim",
            "normal",
            "--param",
            "mu=0",
            "--param",
            "sigma=1",
            "--method",
            "monte-carlo",
            "--samples",
            "1",
        ],
        "samples",
    );
    run_bad(
        &[
            "fim",
            "normal",
            "--param",
            "mu=0",
            "--param",
            "sigma=1",
            "--method",
            "quadrature",
            "--tol",
            "0",
        ],
        "rel_tol",
    );
    run_bad(&["fim"], "required");
    run_bad(&["bogus"], "unrecognized subcommand");
}

/// The subcommands.
const SUBCOMMANDS: [&str; 6] = [
    "compare",
    "fim",
    "curvature",
    "train",
    "datasets",
    "families",
];

#[test]
fn every_subcommand_has_help_with_examples() {
    for cmd in SUBCOMMANDS {
        let s = run_ok(&[cmd, "--help"]);
        assert!(
            s.contains("Examples:\n  fisherlab"),
            "{cmd} --help lacks examples"
        );
    }
    assert!(run_ok(&["fim", "--help"]).contains("--parameterization"));
}

/// The flags documented in docs/cli.md, per subcommand section.
fn documented_flags() -> Vec<(String, Vec<String>)> {
    let doc = include_str!("../../../docs/cli.md");
    // flags every subcommand takes are documented before the first section
    let mut sections: Vec<(String, Vec<String>)> = vec![("(global)".into(), Vec::new())];
    for line in doc.lines() {
        if let Some(rest) = line.strip_prefix("## `fisherlab ") {
            let name = rest.split([' ', '`']).next().unwrap().to_string();
            sections.push((name, Vec::new()));
            continue;
        }
        if let (Some((_, flags)), true) = (sections.last_mut(), line.starts_with("| `--")) {
            flags.push(line[3..].split(['`', ' ']).next().unwrap().to_string());
        }
    }
    sections
}

/// The long flags of a subcommand's --help.
fn help_flags(cmd: &str) -> Vec<String> {
    run_ok(&[cmd, "--help"])
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .map(|l| format!("--{}", l.split([' ', '<', ',']).next().unwrap()))
        .filter(|f| f != "--help" && f != "--version")
        .collect()
}

/// Every flag documented in docs/cli.md exists in the `--help` of its subcommand, and every
/// flag of every subcommand is documented (compare's optimizer hyper-parameters in the
/// `train` section, as the page says).
#[test]
fn the_cli_reference_and_the_flags_agree() {
    let sections = documented_flags();
    let flags_of = |name: &str| -> Vec<String> {
        sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
            .unwrap_or_else(|| panic!("no section for {name} in docs/cli.md"))
    };
    let mut checked = 0;
    for cmd in SUBCOMMANDS {
        let documented = flags_of(cmd);
        let actual = help_flags(cmd);
        for flag in &documented {
            assert!(
                actual.contains(flag),
                "{cmd}: documented flag {flag} missing from --help"
            );
            checked += 1;
        }
        let train = flags_of("train");
        let global = flags_of("(global)");
        for flag in &actual {
            let covered = documented.contains(flag)
                || global.contains(flag)
                || (cmd == "compare" && train.contains(flag));
            assert!(
                covered,
                "{cmd}: flag {flag} is not documented in docs/cli.md"
            );
        }
    }
    assert!(checked >= 60, "only {checked} flags found in docs/cli.md");
}
