//! The memory budget: every route that materialises something large (a dense P × P Fisher,
//! per-layer blocks, a dense Hessian, a full spectrum, a buffer whose size a file header
//! declares) computes its need first and calls [`reserve`], which refuses with a
//! [`MemoryError`] naming the bytes needed and the budget, before anything is allocated.
//!
//! The budget is what the machine has available (`MemAvailable` of `/proc/meminfo`, read once)
//! unless [`set_budget`] sets one (`fisherlab --max-memory`).
//!
//! # Examples
//! ```
//! use fisherlab_linalg::memory::{dense_bytes, reserve_within};
//! // a 100 000 × 100 000 float64 matrix needs 80 GB: refused within 16 GiB, before allocating
//! let need = dense_bytes(100_000, 100_000);
//! assert_eq!(need, Some(80_000_000_000));
//! let err = reserve_within("the dense Fisher", need, 16 << 30).unwrap_err();
//! assert!(err.to_string().contains("80.0 GB"));
//! ```

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use thiserror::Error;

/// Bytes per stored number.
pub const F64_BYTES: u64 = 8;

/// A buffer that would not fit the memory budget; nothing was allocated.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{what} needs {} but the memory budget is {} ({source_of_budget})", human(*.needed), human(*.budget))]
pub struct MemoryError {
    /// What would have been allocated.
    pub what: String,
    /// Bytes it needs (`u64::MAX` when the size overflows).
    pub needed: u64,
    /// Bytes allowed.
    pub budget: u64,
    /// Where the budget comes from: `--max-memory` or the machine's available memory.
    pub source_of_budget: &'static str,
}

/// Bytes written for people: `80.0 GB`, `512.0 MB`, `3.2 kB`, `12 bytes` (powers of 1000).
pub fn human(bytes: u64) -> String {
    if bytes == u64::MAX {
        return "more than 18 EB (the size overflows)".into();
    }
    let b = bytes as f64;
    for (unit, scale) in [
        ("EB", 1e18),
        ("PB", 1e15),
        ("TB", 1e12),
        ("GB", 1e9),
        ("MB", 1e6),
    ] {
        if b >= scale {
            return format!("{:.1} {unit}", b / scale);
        }
    }
    if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} bytes")
    }
}

/// Bytes of an `rows × cols` float64 matrix, `None` on overflow.
pub fn dense_bytes(rows: usize, cols: usize) -> Option<u64> {
    (rows as u64)
        .checked_mul(cols as u64)?
        .checked_mul(F64_BYTES)
}

/// Bytes of `copies` float64 matrices of `rows × cols`, `None` on overflow.
pub fn dense_copies_bytes(copies: u64, rows: usize, cols: usize) -> Option<u64> {
    dense_bytes(rows, cols)?.checked_mul(copies)
}

/// 0 = not set: use the machine's available memory.
static BUDGET: AtomicU64 = AtomicU64::new(0);

/// Set the budget in bytes for this process (`None`: the machine's available memory again).
pub fn set_budget(bytes: Option<u64>) {
    BUDGET.store(bytes.map_or(0, |b| b.max(1)), Ordering::Relaxed);
}

/// The machine's available memory in bytes (`MemAvailable`, else `MemTotal`, of
/// `/proc/meminfo`, read once); `u64::MAX` where it cannot be read.
pub fn available() -> u64 {
    static AVAILABLE: OnceLock<u64> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .map(|kb| kb.saturating_mul(1024))
        };
        field("MemAvailable:")
            .or_else(|| field("MemTotal:"))
            .unwrap_or(u64::MAX)
    })
}

/// The budget in force and where it comes from.
pub fn budget() -> (u64, &'static str) {
    match BUDGET.load(Ordering::Relaxed) {
        0 => (available(), "the memory available on this machine"),
        b => (b, "--max-memory"),
    }
}

/// Refuse `needed` bytes (`None`: the size overflowed) if they exceed the [`budget`].
///
/// # Errors
/// [`MemoryError`] naming `what`, the bytes and the budget.
pub fn reserve(what: impl Into<String>, needed: Option<u64>) -> Result<u64, MemoryError> {
    let (budget, source_of_budget) = budget();
    check(what, needed, budget, source_of_budget)
}

/// [`reserve`] against an explicit budget.
///
/// # Errors
/// [`MemoryError`] when `needed` is over `budget` or overflowed.
pub fn reserve_within(
    what: impl Into<String>,
    needed: Option<u64>,
    budget: u64,
) -> Result<u64, MemoryError> {
    check(what, needed, budget, "the budget given")
}

fn check(
    what: impl Into<String>,
    needed: Option<u64>,
    budget: u64,
    source_of_budget: &'static str,
) -> Result<u64, MemoryError> {
    match needed {
        Some(n) if n <= budget => Ok(n),
        _ => Err(MemoryError {
            what: what.into(),
            needed: needed.unwrap_or(u64::MAX),
            budget,
            source_of_budget,
        }),
    }
}

/// Parse a size: `512M`, `16G`, `1.5GB`, `2GiB`, `1000000` (bytes); k/M/G/T are powers of 1000,
/// Ki/Mi/Gi/Ti powers of 1024.
///
/// # Errors
/// A text that is not a positive number with one of those units.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size: write e.g. 512M, 16G or 2GiB"))?;
    let scale: f64 = match unit.trim().trim_end_matches(['B', 'b']) {
        "" => 1.0,
        "k" | "K" => 1e3,
        "M" | "m" => 1e6,
        "G" | "g" => 1e9,
        "T" | "t" => 1e12,
        "Ki" | "ki" => 1024.0,
        "Mi" | "mi" => 1024.0 * 1024.0,
        "Gi" | "gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" | "ti" => 1024f64.powi(4),
        _ => {
            return Err(format!(
                "`{text}` has an unknown unit: use k, M, G, T (powers of 1000) or Ki, Mi, Gi, Ti"
            ));
        }
    };
    let bytes = value * scale;
    if !(1.0..1.8e19).contains(&bytes) {
        return Err(format!("`{text}` must be at least 1 byte and below 18 EB"));
    }
    Ok(bytes as u64)
}

/// A zero `rows × cols` matrix, [`reserve`]d first: `what` names it in the refusal.
///
/// # Errors
/// [`MemoryError`] when it does not fit the budget; nothing is allocated then.
pub fn zeros(what: &str, rows: usize, cols: usize) -> Result<faer::Mat<f64>, MemoryError> {
    reserve(
        format!("{what} ({rows} × {cols} float64)"),
        dense_bytes(rows, cols),
    )?;
    Ok(faer::Mat::zeros(rows, cols))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_both_unit_systems() {
        // hand-computed: 16 G = 16·10⁹, 2 GiB = 2·2³⁰
        assert_eq!(parse_size("16G"), Ok(16_000_000_000));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("-3G").is_err());
        assert!(parse_size("G").is_err());
    }

    #[test]
    fn overflowing_sizes_are_refused() {
        assert_eq!(dense_bytes(usize::MAX, 2), None);
        let e = reserve_within("x", None, 1 << 40).unwrap_err();
        assert_eq!(e.needed, u64::MAX);
        assert!(reserve_within("x", Some(10), 10).is_ok());
        assert!(reserve_within("x", Some(11), 10).is_err());
    }
}
