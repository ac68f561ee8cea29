//! No code: this crate's manifest pins the features of dependencies shared by the workspace's
//! builds, so that `cargo test --release`, `cargo bench`, `cargo build -p fisherlab-cli` and the
//! Python wheel reuse one set of compiled artifacts (see its `Cargo.toml`).
