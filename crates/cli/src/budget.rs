//! The memory budget on the command line: `--max-memory`, and refusals that name the bytes
//! needed, the budget, and the routes that would fit.

use crate::CliError;
use fisherlab_fisher::curvature::{CatalogueOptions, KfacApprox, KindLabels, Problem, catalogue};
use fisherlab_linalg::memory::{self, MemoryError, human};

/// The routes whose need on `problem` fits the budget, smallest first, as `how (bytes)`: one per
/// kind of the registry, at its default labels and settings (the label variants need the same
/// memory), the dense Fishers aside (they are what did not fit).
pub fn routes_that_fit(problem: &Problem<'_>) -> Vec<String> {
    let (budget, _) = memory::budget();
    let mut fit: Vec<(u64, String)> = catalogue(&CatalogueOptions::default())
        .into_iter()
        .filter(|e| {
            !matches!(e.kind.labels, KindLabels::Fixed(_))
                && e.spec.labels == "type2"
                && e.spec.approx == KfacApprox::Expand
        })
        .filter_map(|e| {
            let need = e.approximation.memory_bytes(problem)?;
            (need <= budget).then(|| (need, e.kind.command_line(e.spec)))
        })
        .collect();
    fit.sort();
    fit.into_iter()
        .map(|(need, how)| format!("{how} ({})", human(need)))
        .collect()
}

/// The one line of a memory refusal on `problem`.
pub fn refusal(e: &MemoryError, problem: &Problem<'_>) -> CliError {
    let fit = routes_that_fit(problem);
    CliError::Input(if fit.is_empty() {
        format!("{e}: no route fits; raise --max-memory or use a smaller network")
    } else {
        format!(
            "{e}: raise --max-memory, or use a route that fits: {}",
            fit.join(", ")
        )
    })
}

/// The one line of a memory refusal in `compare` (which needs the dense exact Fisher whatever
/// the route): `context` first, then the routes `fisherlab curvature` can take within the budget.
pub fn compare_refusal(context: &str, e: &MemoryError, problem: &Problem<'_>) -> CliError {
    CliError::Input(format!(
        "{context}{e}; raise --max-memory, use a smaller network, or `fisherlab curvature` for a route that fits: {}",
        routes_that_fit(problem).join(", ")
    ))
}

/// The memory refusal inside `e`, if it is one.
pub fn memory_error(e: &fisherlab_fisher::Error) -> Option<&MemoryError> {
    match e {
        fisherlab_fisher::Error::Linalg(fisherlab_linalg::Error::TooLarge(m)) => Some(m),
        _ => None,
    }
}

/// A fisher error with the routes that fit added to a memory refusal.
pub fn explain(e: fisherlab_fisher::Error, problem: &Problem<'_>) -> CliError {
    match memory_error(&e) {
        Some(m) => refusal(m, problem),
        None => e.into(),
    }
}
