//! Records the commit fisherlab is built from (`FISHERLAB_COMMIT`), for the provenance every
//! output carries: `git rev-parse HEAD`, or "unknown" outside a git checkout.
use std::path::Path;
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=FISHERLAB_COMMIT={commit}");
    println!("cargo:rerun-if-changed=build.rs");
    // a new commit moves HEAD or the branch it names (a path that does not exist would make
    // cargo rerun this script on every build, so only existing ones are named)
    for p in [
        "../../.git/HEAD",
        "../../.git/refs/heads",
        "../../.git/packed-refs",
    ] {
        if Path::new(p).exists() {
            println!("cargo:rerun-if-changed={p}");
        }
    }
}
