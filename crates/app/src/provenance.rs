//! What a result needs to be reproduced or cited: the fisherlab version and commit, the command
//! line, every option in effect (defaults included), the thread count, the CPU and the memory
//! budget. Every output a user may cite carries it: `comparison.json`, the first line of
//! `training.jsonl`, `curvature --json`, `train --json` and the metadata of saved safetensors.

use serde::Serialize;
use serde_json::{Value, json};

/// The fisherlab version (the workspace's).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit the binary was built from, or "unknown".
pub const COMMIT: &str = env!("FISHERLAB_COMMIT");

/// The provenance object of a run of `subcommand` whose options (every flag, defaults
/// included, as parsed) are `options`.
pub fn record<T: Serialize>(subcommand: &str, options: &T) -> Value {
    let options = serde_json::to_value(options).unwrap_or(Value::Null);
    let (budget, source) = fisherlab_linalg::memory::budget();
    json!({
        "fisherlab": VERSION,
        "commit": COMMIT,
        "subcommand": subcommand,
        "command_line": std::env::args().collect::<Vec<_>>(),
        "options": options,
        "max_memory": { "bytes": budget, "source": source },
        "threads": rayon::current_num_threads(),
        "parallel_split": crate::PARALLEL_SPLIT,
        "cpu": cpu(),
        "os": format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
    })
}

/// An optimizer's hyper-parameters in effect as a JSON object: numbers and flags as JSON
/// numbers and booleans, the rest as text.
pub fn settings(s: &fisherlab_optim::Settings) -> Value {
    let mut map = serde_json::Map::new();
    for (name, value) in s {
        let v = if let Ok(b) = value.parse::<bool>() {
            Value::from(b)
        } else if let Ok(n) = value.parse::<u64>() {
            Value::from(n)
        } else {
            match value.parse::<f64>() {
                Ok(x) if x.is_finite() => Value::from(x),
                _ => Value::from(value.as_str()),
            }
        };
        map.insert((*name).to_string(), v);
    }
    Value::Object(map)
}

/// The CPU's model name (Linux `/proc/cpuinfo`), else the architecture.
pub fn cpu() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}
