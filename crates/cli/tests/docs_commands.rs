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
//!
//! Each block is a test of its own, named `page:line` (`cargo test --release --test
//! docs_commands -- cli.md` runs one page), and the blocks run in parallel, the longest first.
//! A command that two blocks run alike — the same words once its comment is dropped and its
//! options sorted, after the same commands before it in its block — runs once: the second
//! block checks the first one's exit code and output.

mod common;
use common::{DIGITS_CNN, write_labels, write_npy};

use libtest_mimic::{Arguments, Failed, Trial};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

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

/// What one command did: its exit code, its stdout and stderr together, and its stderr alone.
#[derive(Clone)]
struct Ran {
    code: i32,
    text: String,
    stderr: String,
}

/// A command's words without its trailing comment and with its options in a fixed order, so
/// that `--a 1 --b 2` and `--b 2 --a 1` are one command. A value is the word after a flag that
/// does not start with `--`.
fn canonical(command: &str) -> String {
    let words: Vec<&str> = command
        .split('#')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let first_flag = words
        .iter()
        .position(|w| w.starts_with("--"))
        .unwrap_or(words.len());
    let mut options: Vec<String> = Vec::new();
    let mut k = first_flag;
    while k < words.len() {
        let mut option = words[k].to_string();
        while k + 1 < words.len() && !words[k + 1].starts_with("--") {
            option.push(' ');
            option.push_str(words[k + 1]);
            k += 1;
        }
        options.push(option);
        k += 1;
    }
    options.sort();
    let mut out = words[..first_flag].join(" ");
    for o in options {
        out.push(' ');
        out.push_str(&o);
    }
    out
}

/// The results of the commands run so far, by their canonical form and those of the commands
/// before them in their block: a second block that runs the same waits for the first's result.
type Runs = Mutex<HashMap<Vec<String>, Arc<OnceLock<Ran>>>>;

/// Run block `b` (see the module comment); `runs` shares the commands already run.
fn run_block(b: &Block, bin: &Path, runs: &Runs) -> Result<(), Failed> {
    let at = format!("{}:{}", b.page, b.line);
    let marker = b.marker.as_deref().unwrap_or("");
    let fisherlab_only = marker.starts_with("fisherlab only");
    let expected: i32 = marker
        .strip_prefix("exit ")
        .map_or(Ok(0), |c| c.trim().parse())
        .map_err(|_| format!("{at}: bad marker `{marker}`"))?;
    let mut commands = Vec::new();
    for c in &b.commands {
        if c.starts_with("fisherlab ") {
            commands.push(small(c));
        } else if !fisherlab_only {
            return Err(format!("{at}: `{c}` is not a fisherlab command: mark the block").into());
        }
    }
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut history: Vec<String> = Vec::new();
    let mut last: Option<Ran> = None;
    for (k, c) in commands.iter().enumerate() {
        history.push(canonical(c));
        let slot = runs
            .lock()
            .unwrap()
            .entry(history.clone())
            .or_default()
            .clone();
        // a later command of this block needs this one's files: only the last one may be shared
        let ran = if k + 1 == commands.len() {
            slot.get_or_init(|| run_in(dir.path(), c, bin, &path))
                .clone()
        } else {
            run_in(dir.path(), c, bin, &path)
        };
        let want = if k + 1 == commands.len() { expected } else { 0 };
        if ran.code != want {
            return Err(format!("{at}: `{c}` exited with {}: {}", ran.code, ran.stderr).into());
        }
        last = Some(ran);
    }
    if let (Some(shown), Some(last)) = (&b.output, &last) {
        let mut rest = last.text.as_str();
        for l in shown
            .iter()
            .filter(|l| l.trim() != "…" && !l.trim().is_empty())
        {
            match rest.find(l.as_str()) {
                Some(p) => rest = &rest[p + l.len()..],
                None => {
                    return Err(format!(
                        "{at}: the page shows `{l}`, the command printed:\n{}",
                        last.text
                    )
                    .into());
                }
            }
        }
    }
    Ok(())
}

/// Run one command with bash in `dir`, its input files made first.
fn run_in(dir: &Path, command: &str, bin: &Path, path: &str) -> Ran {
    make_inputs(dir, command, bin);
    let out = Command::new("bash")
        .current_dir(dir)
        .env("PATH", path)
        .args(["-c", command])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    Ran {
        code: out.status.code().unwrap_or(-1),
        text: String::from_utf8_lossy(&out.stdout).to_string() + &stderr,
        stderr,
    }
}

fn main() {
    let args = Arguments::from_args();
    let bin = assert_cmd::cargo::cargo_bin("fisherlab");
    let runs: Arc<Runs> = Arc::default();
    let mut blocks: Vec<Block> = pages()
        .iter()
        .flat_map(|p| blocks(p))
        .filter(|b| !b.marker.as_deref().unwrap_or("").starts_with("skip"))
        .collect();
    let count: usize = blocks.iter().map(|b| b.commands.len()).sum();
    // the longest first (a comparison trains and measures), so that two threads end together
    blocks.sort_by_key(|b| {
        std::cmp::Reverse(
            b.commands
                .iter()
                .map(|c| if c.contains(" compare") { 10 } else { 1 })
                .sum::<usize>(),
        )
    });
    let mut trials = vec![
        Trial::test("the pages hold at least 30 commands", move || {
            if count >= 30 {
                Ok(())
            } else {
                Err(format!("only {count} commands found").into())
            }
        }),
        Trial::test("small sizes are applied", || {
            small_sizes_are_applied();
            Ok(())
        }),
        Trial::test("one command, one canonical form", || {
            canonical_forms();
            Ok(())
        }),
    ];
    for b in blocks {
        let (bin, runs) = (bin.clone(), runs.clone());
        let name = format!("{}:{}", b.page, b.line);
        trials.push(Trial::test(name, move || run_block(&b, &bin, &runs)));
    }
    libtest_mimic::run(&args, trials).exit();
}

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

fn canonical_forms() {
    // written by hand: the comment goes, the options are sorted, a flag keeps its value
    assert_eq!(
        canonical("fisherlab compare --steps 2 --dataset diabetes --out d   # the main job"),
        "fisherlab compare --dataset diabetes --out d --steps 2"
    );
    assert_eq!(
        canonical("fisherlab fim normal --param mu=0 --param sigma=2 --json"),
        "fisherlab fim normal --json --param mu=0 --param sigma=2"
    );
    assert_ne!(
        canonical("fisherlab fim normal --param mu=0"),
        canonical("fisherlab fim normal --param mu=1")
    );
}
