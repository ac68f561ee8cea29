//! The `fisherlab` command line as a library: [`run`] is the whole program, [`fuzz`] the
//! entry points of its parsers for coverage-guided fuzzing.
//!
//! Exit codes: 0 success; 1 a computation that failed (non-convergence, divergence, non-finite
//! values); 2 bad input (one line on stderr naming the bad value and the rule it breaks); 130
//! interrupted (temporary outputs removed).

mod budget;
mod compare;
mod curvature;
mod fim;
mod interrupt;
mod net;
mod plots;
mod train;
mod tune;
mod verify;

use fisherlab_app::{Choice, checks, format, provenance};
/// The entry points of the parsers of user files for fuzzing (they live in `fisherlab-io`).
pub use fisherlab_io::fuzz;
use fisherlab_io::{data, files as io};

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Fisher information matrices, each checked against an independent reference.
#[derive(Parser, Debug)]
#[command(name = "fisherlab", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Memory budget, e.g. 512M, 16G, 2GiB (default: the memory available on this machine).
    /// Routes that would hold more are refused before they allocate, naming the routes that fit.
    #[arg(long, global = true, value_name = "SIZE", value_parser = fisherlab_linalg::memory::parse_size)]
    max_memory: Option<u64>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The exact Fisher of a briefly trained network on real data next to every approximation:
    /// build and solve time, memory, errors, natural-gradient agreement; training curves of the
    /// optimizers; tables, JSON, CSV, figures and an index.html in --out.
    #[command(after_help = compare::EXAMPLES)]
    Compare(Box<compare::CompareArgs>),
    /// Check a hand-derived Fisher matrix of a log-density written as text: symbolic score and
    /// Hessian, exact expectation and Monte Carlo at each point, a verdict per entry.
    #[command(after_help = verify::EXAMPLES)]
    Verify(Box<verify::VerifyArgs>),
    /// Fisher information of a distribution: analytic, exact expectation, or Monte Carlo.
    #[command(after_help = fim::EXAMPLES)]
    Fim(fim::FimArgs),
    /// Fisher matrix of a network with a likelihood head: exact, Monte Carlo, empirical,
    /// Hessian, or a structured approximation.
    #[command(after_help = curvature::EXAMPLES)]
    Curvature(Box<curvature::CurvatureArgs>),
    /// Train a network with one or several optimizers on the same data and initialisation, and
    /// compare them.
    #[command(after_help = train::EXAMPLES)]
    Train(Box<train::TrainArgs>),
    /// List the embedded datasets with their shapes and a likelihood and architecture that fit.
    #[command(after_help = "Examples:\n  fisherlab datasets\n  fisherlab datasets --json")]
    Datasets {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List the families, their coordinates, fixed parameters and parameterizations.
    #[command(after_help = "Examples:\n  fisherlab families\n  fisherlab families --json")]
    Families {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// An error of the command line: bad input (exit 2) or a failed computation (exit 1); the
/// application layer's, so the command and Python give the same one line.
pub use fisherlab_app::Error as CliError;

/// The parser of a flag that takes one of the values of the [`Choice`] `T`, each listed with
/// its help in `--help`.
fn choice<T: Choice + Clone>() -> impl clap::builder::TypedValueParser<Value = T> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser as _};
    PossibleValuesParser::new(
        T::ALL
            .iter()
            .map(|(_, name, help)| PossibleValue::new(*name).help(help.trim_end_matches('.'))),
    )
    .try_map(|name: String| T::from_name(&name))
}

/// The first paragraph of a clap error as one line: "error: the following required arguments
/// were not provided:" followed by the arguments it lists, joined by commas.
fn clap_error_line(text: &str) -> String {
    let mut lines = text
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim);
    let first = lines
        .next()
        .unwrap_or("error: invalid arguments")
        .to_string();
    let rest: Vec<&str> = lines.collect();
    if rest.is_empty() {
        first
    } else {
        format!("{first} {}", rest.join(", "))
    }
}

/// Parse the command line, run the command, print its output or its one-line error, and
/// return the exit code (0 success, 1 numerical failure, 2 bad input).
pub fn run() -> ExitCode {
    fisherlab_app::init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            eprintln!("{}", clap_error_line(&e.render().to_string()));
            return ExitCode::from(2);
        }
    };
    fisherlab_linalg::memory::set_budget(cli.max_memory);
    interrupt::install();
    let result = match cli.command {
        Command::Compare(args) => compare::run(&args),
        Command::Fim(args) => fim::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Curvature(args) => curvature::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Families { json } => fim::families(json),
        Command::Datasets { json } => data::list(json).map_err(CliError::from),
    };
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(CliError::Input(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(CliError::Failed(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}
