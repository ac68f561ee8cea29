//! Every shell command of `README.md` and `docs/*.md` runs as written and exits as the page
//! says. Each ```` ```sh ```` block is run line by line with bash in a fresh folder, with the
//! `fisherlab` built for these tests first on `PATH`; where a page shows the output (a
//! ```` ```text ```` block right after the commands), each of its lines but `…` must appear in
//! the last command's output, in order.
//!
//! A comment right before a block may say `<!-- doc-test: skip (why) -->` (the block is not
//! run), `<!-- doc-test: exit N -->` (its last command must exit with N) or
//! `<!-- doc-test: fisherlab only (why) -->` (its lines that do not start with `fisherlab`, e.g.
//! a Python check, are left out); a line that does not start with `fisherlab` in any other
//! block fails the test, so a new kind of command has to be decided on.
//!
//! The files the commands name are made here as a user would make them: `X.npy` and `y.npy`
//! (64 seeded rows of the width and label kind the command's `--arch` and `--likelihood` ask
//! for), `model.safetensors` and `cnn.safetensors` by `fisherlab train … --save`, `cnn.txt` and
//! `cnn1d.txt` as PyTorch prints the models of `docs/layers.md`. Sizes are made small, as
//! `docs/cli.md` says: `--steps` becomes 2 (added to `train` and `compare`), `--samples` at
//! most 20 000, `--seeds` at most 2.

mod common;
use common::{DIGITS_CNN, write_labels, write_npy};

use std::path::{Path, PathBuf};
use std::process::Command;

/// The MNIST-1D model of docs/layers.md (input 1 × 40).
const CNN1D: &str = "Sequential(
  (0): Conv1d(1, 16, kernel_size=(5,), stride=(1,), padding=(2,))
  (1): ReLU()
  (2): MaxPool1d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (3): Flatten(start_dim=1, end_dim=-1)
  (4): Linear(in_features=320, out_features=10, bias=True)
)
";

/// One ```sh block of a page.
struct Block {
    page: String,
    line: usize,
    /// The commands, continuation lines joined.
    commands: Vec<String>,
    marker: Option<String>,
    /// The ```text block that follows, if any.
    output: Option<Vec<String>>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

fn blocks(page: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(page).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let name = page.file_name().unwrap().to_string_lossy().to_string();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_end() != "```sh" {
            i += 1;
            continue;
        }
        let start = i + 1;
        let marker = lines[..i]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| l.trim().strip_prefix("<!-- doc-test:"))
            .map(|m| m.trim_end_matches("-->").trim().to_string());
        let mut body = Vec::new();
        i += 1;
        while i < lines.len() && !lines[i].starts_with("```") {
            body.push(lines[i]);
            i += 1;
        }
        i += 1;
        // a ```text block after blank lines only is the output
        let mut j = i;
        while j < lines.len() && lines[j].trim().is_empty() {
            j += 1;
        }
        let output = (j < lines.len() && lines[j].trim_end() == "```text").then(|| {
            lines[j + 1..]
                .iter()
                .take_while(|l| !l.starts_with("```"))
                .map(|l| l.to_string())
                .collect()
        });
        let mut commands = Vec::new();
        let mut current = String::new();
        for l in body {
            let (l, more) = match l.trim_end().strip_suffix('\\') {
                Some(head) => (head, true),
                None => (l.trim_end(), false),
            };
            current.push_str(l.trim_start());
            current.push(' ');
            if !more {
                if !current.trim().is_empty() {
                    commands.push(current.trim().to_string());
                }
                current.clear();
            }
        }
        out.push(Block {
            page: name.clone(),
            line: start,
            commands,
            marker,
            output,
        });
    }
    out
}

/// The command's value of `flag`, if given.
fn flag<'a>(words: &[&'a str], flag: &str) -> Option<&'a str> {
    words
        .iter()
        .position(|w| *w == flag)
        .and_then(|k| words.get(k + 1).copied())
}

/// The command with the small sizes of this test (see the module comment).
fn small(command: &str) -> String {
    let mut words: Vec<String> = command.split(' ').map(String::from).collect();
    let mut has_steps = false;
    for k in 0..words.len().saturating_sub(1) {
        let cap = match words[k].as_str() {
            "--steps" => {
                has_steps = true;
                Some(2)
            }
            "--samples" => Some(20_000),
            "--seeds" => Some(2),
            _ => None,
        };
        if let (Some(cap), Ok(v)) = (cap, words[k + 1].parse::<u64>()) {
            words[k + 1] = v.min(cap).to_string();
        }
    }
    let sub = words.get(1).map(String::as_str);
    if !has_steps && matches!(sub, Some("train" | "compare")) {
        words.insert(2, "--steps 2".into());
    }
    words.join(" ")
}

/// Make the files `command` reads that the folder lacks or that belong to another shape.
fn make_inputs(dir: &Path, command: &str, bin: &Path) {
    let words: Vec<&str> = command.split_whitespace().collect();
    let names_file = |f: &str| words.contains(&f);
    for (file, text) in [("cnn.txt", DIGITS_CNN), ("cnn1d.txt", CNN1D)] {
        if command.contains(file) {
            std::fs::write(dir.join(file), text).unwrap();
        }
    }
    if names_file("cnn.safetensors") {
        let ok = Command::new(bin)
            .current_dir(dir)
            .args(["train", "--dataset", "digits", "--model", "cnn.txt"])
            .args(["--likelihood", "categorical", "--optimizer", "sgd"])
            .args(["--steps", "1", "--quiet", "--save", "cnn.safetensors"])
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let Some(arch) = flag(&words, "--arch") else {
        return;
    };
    if !(names_file("X.npy") || names_file("model.safetensors")) {
        return;
    }
    let widths: Vec<usize> = arch.split(',').map(|w| w.parse().unwrap()).collect();
    let (d, c) = (widths[0], *widths.last().unwrap());
    let likelihood = flag(&words, "--likelihood").unwrap_or("categorical");
    let n = 64;
    // seeded, deterministic inputs in [-1, 1]
    let x: Vec<f64> = (0..n * d)
        .map(|k| ((k * 7919 % 1000) as f64 / 500.0) - 1.0)
        .collect();
    write_npy(dir.join("X.npy"), n, d, &x);
    let y: Vec<i64> = (0..n as i64)
        .map(|k| match likelihood {
            "bernoulli" => k % 2,
            "poisson" => k % 4,
            _ => k % c as i64,
        })
        .collect();
    if likelihood == "gaussian" {
        let y: Vec<f64> = (0..n * c).map(|k| (k % 5) as f64 / 5.0).collect();
        write_npy(dir.join("y.npy"), n, c, &y);
    } else {
        write_labels(dir.join("y.npy"), &y);
    }
    if names_file("model.safetensors") {
        let mut cmd = Command::new(bin);
        cmd.current_dir(dir)
            .args(["train", "--inputs", "X.npy", "--targets", "y.npy"])
            .args(["--arch", arch, "--likelihood", likelihood])
            .args(["--optimizer", "sgd", "--steps", "1", "--quiet"])
            .args(["--save", "model.safetensors"]);
        if let Some(s) = flag(&words, "--sigma") {
            cmd.args(["--sigma", s]);
        }
        assert!(cmd.status().unwrap().success(), "model for {command}");
    }
}

#[test]
fn every_documented_command_runs_as_written() {
    let bin = assert_cmd::cargo::cargo_bin("fisherlab");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = 0;
    for page in pages() {
        for b in blocks(&page) {
            let at = format!("{}:{}", b.page, b.line);
            let marker = b.marker.as_deref().unwrap_or("");
            if marker.starts_with("skip") {
                continue;
            }
            let fisherlab_only = marker.starts_with("fisherlab only");
            let expected: i32 = marker
                .strip_prefix("exit ")
                .map_or(0, |c| c.trim().parse().unwrap());
            let dir = tempfile::tempdir().unwrap();
            let mut last = String::new();
            let commands: Vec<&String> = b
                .commands
                .iter()
                .filter(|c| {
                    let ours = c.starts_with("fisherlab ");
                    assert!(
                        ours || fisherlab_only,
                        "{at}: `{c}` is not a fisherlab command: mark the block"
                    );
                    ours
                })
                .collect();
            for (k, c) in commands.iter().enumerate() {
                let c = small(c);
                make_inputs(dir.path(), &c, &bin);
                let out = Command::new("bash")
                    .current_dir(dir.path())
                    .env("PATH", &path)
                    .args(["-c", &c])
                    .output()
                    .unwrap();
                let code = out.status.code().unwrap_or(-1);
                let want = if k + 1 == commands.len() { expected } else { 0 };
                assert_eq!(
                    code,
                    want,
                    "{at}: `{c}` exited with {code}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                last = String::from_utf8_lossy(&out.stdout).to_string()
                    + &String::from_utf8_lossy(&out.stderr);
                ran += 1;
            }
            if let Some(shown) = &b.output {
                let mut rest = last.as_str();
                for l in shown
                    .iter()
                    .filter(|l| l.trim() != "…" && !l.trim().is_empty())
                {
                    match rest.find(l.as_str()) {
                        Some(p) => rest = &rest[p + l.len()..],
                        None => panic!("{at}: the page shows `{l}`, the command printed:\n{last}"),
                    }
                }
            }
        }
    }
    assert!(ran >= 30, "only {ran} commands found");
}

#[test]
fn small_sizes_are_applied() {
    assert_eq!(
        small("fisherlab train --steps 200 --seeds 3"),
        "fisherlab train --steps 2 --seeds 2"
    );
    assert_eq!(
        small("fisherlab compare --dataset diabetes"),
        "fisherlab compare --steps 2 --dataset diabetes"
    );
    assert_eq!(
        small("fisherlab fim poisson --samples 1000000"),
        "fisherlab fim poisson --samples 20000"
    );
}
