//! Keeps the README's Rust example honest: the same code, compiled and run.

#[test]
fn readme_example() {
    use fisherlab::distributions::{Family, continuous::Gamma};
    use fisherlab::fisher::{QuadratureOptions, exact_expectation};

    let g = Gamma::new(2.5, 1.5).unwrap();
    let closed_form = g.fisher();
    let by_quadrature = exact_expectation(&g, &QuadratureOptions::default()).unwrap();
    assert!((by_quadrature.fisher.matrix - closed_form).abs().max() < 1e-9);
}

#[test]
fn readme_has_exactly_two_setup_commands_at_the_top() {
    let readme = include_str!("../README.md");
    let first_block = readme
        .split("```sh")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let commands: Vec<&str> = first_block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(commands.len(), 2, "{commands:?}");
    assert!(commands[0].starts_with("cargo run --release -p fisherlab-cli -- compare"));
    assert_eq!(commands[1], "cargo test --workspace --release");
}
