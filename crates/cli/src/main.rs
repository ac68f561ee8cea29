//! `fisherlab`: Fisher information from the command line.
//!
//! Exit codes: 0 success; 1 a computation that failed (non-convergence, divergence, non-finite
//! values); 2 bad input (one line on stderr naming the bad value and the rule it breaks); 130
//! interrupted (temporary outputs removed).

use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: fisherlab_fisher::heap::Counting = fisherlab_fisher::heap::Counting;

fn main() -> ExitCode {
    fisherlab_cli::run()
}
