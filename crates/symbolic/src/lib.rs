//! Symbolic expressions: parse a log-density written as text, differentiate it exactly, simplify
//! the result until it reads like a textbook, print it as plain text or LaTeX, and evaluate it
//! for any [`DualNum`] — so symbolic and automatic derivatives check each other.
//!
//! The grammar: numbers (`2`, `0.5`, `1e-3`), the constants `pi` and `e`, variables (one data
//! variable and named parameters, declared up front), `+ - * / ^` with the usual precedence
//! (`^` binds tightest and is right-associative; `-x^2` is `-(x^2)`), parentheses, and the
//! functions `exp`, `log` (natural), `sqrt`, `abs`, `lgamma`, `digamma`, `trigamma`, `erf`,
//! `sin`, `cos`. Errors name the column.
//!
//! No maintained crate fits: `exmex` (the closest) differentiates only its built-in float
//! operators (no `lgamma`, `digamma`, `trigamma`, `erf`), evaluates on one concrete type rather
//! than generically over dual numbers, and prints neither simplified derivatives nor LaTeX. This
//! is a small core with thorough tests instead.
//!
//! # Examples
//! ```
//! use fisherlab_symbolic::{Symbols, parse};
//! let names = Symbols::new("x", &["mu", "sigma"]).unwrap();
//! let lp = parse("-log(sigma) - 0.5*log(2*pi) - (x - mu)^2/(2*sigma^2)", &names).unwrap();
//! let score_mu = lp.derivative(1);
//! assert_eq!(score_mu.to_text(&names), "(x - mu)/sigma^2");
//! let h = score_mu.derivative(2); // ∂²/∂mu∂sigma
//! assert_eq!(h.to_text(&names), "-2*(x - mu)/sigma^3");
//! // evaluation, here in f64 at x = 1, mu = 0.5, sigma = 2
//! assert!((h.eval(&[1.0f64, 0.5, 2.0]).unwrap() - (-2.0 * 0.5 / 8.0)).abs() < 1e-15);
//! ```
//!
//! One file per stage: `lex` (text to tokens), `parse` (tokens to an [`Expr`]),
//! `calculus` (exact derivatives, [`score_and_hessian`]), `simplify` (the canonical form),
//! `eval` (values for any [`DualNum`]) and `print` (plain text and LaTeX).

// Symbolic algebra compares its numeric constants exactly on purpose: `x^1` is `x` only when the
// exponent is exactly 1, a coefficient is dropped only when it is exactly 0.
#![allow(clippy::float_cmp, clippy::redundant_guards)]
#![warn(missing_docs)]

mod calculus;
mod eval;
mod lex;
mod parse;
mod print;
mod simplify;
#[cfg(test)]
mod tests;

pub use calculus::score_and_hessian;
pub use fisherlab_autodiff::DualNum;
pub use parse::parse;

/// The errors of symbolic expressions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Text that is not an expression; `column` is 1-based, in characters.
    #[error("column {column}: {message}")]
    Parse {
        /// Where (1-based character column).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A variable name declared twice, or not a valid name.
    #[error("invalid name `{name}`: {rule}")]
    Name {
        /// The name.
        name: String,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// A derivative that would be too large to build.
    #[error(
        "the derivative would have {nodes} terms (at most {limit} are built): write the log-density with fewer multiplied factors, e.g. a sum of logarithms"
    )]
    TooLarge {
        /// Nodes of the unsimplified derivative.
        nodes: usize,
        /// The bound.
        limit: usize,
    },
    /// An evaluation that cannot be carried out (a polygamma of too high an order for the
    /// requested derivatives).
    #[error("{0}")]
    Unsupported(String),
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// The variables an expression may use: index 0 is the data variable, then the parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbols {
    pub(crate) names: Vec<String>,
}

pub(crate) const FUNCTIONS: [&str; 10] = [
    "exp", "log", "sqrt", "abs", "lgamma", "digamma", "trigamma", "erf", "sin", "cos",
];

impl Symbols {
    /// The data variable and the parameters, in order.
    ///
    /// # Errors
    /// A name that is not an identifier, that is a function or constant name, or that repeats.
    pub fn new(data: &str, params: &[&str]) -> Result<Self> {
        let mut names: Vec<String> = Vec::new();
        for n in std::iter::once(data).chain(params.iter().copied()) {
            let ok = n
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && n.chars().all(|c| c.is_alphanumeric() || c == '_');
            let rule = if !ok {
                Some("must be letters, digits and underscores, starting with a letter")
            } else if FUNCTIONS.contains(&n) || n == "pi" || n == "e" {
                Some("is a function or constant name")
            } else if names.iter().any(|m| m == n) {
                Some("is declared twice")
            } else {
                None
            };
            if let Some(rule) = rule {
                return Err(Error::Name {
                    name: n.to_string(),
                    rule,
                });
            }
            names.push(n.to_string());
        }
        Ok(Self { names })
    }
    /// All names, the data variable first.
    pub fn names(&self) -> &[String] {
        &self.names
    }
    /// Index of a name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.names.len() - 1
    }
}

/// A function of one argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Func {
    /// `exp`.
    Exp,
    /// Natural logarithm.
    Log,
    /// `|u|`.
    Abs,
    /// `sign(u)` (the derivative of `|u|`).
    Sign,
    /// `ln Γ(u)`.
    Lgamma,
    /// `ψ⁽ⁿ⁾(u)`: digamma for 0, trigamma for 1.
    Polygamma(u32),
    /// The error function.
    Erf,
    /// `sin`.
    Sin,
    /// `cos`.
    Cos,
}

/// An expression. Sums and products are n-ary; subtraction is `a + (−1)·b`, division
/// `a·b^(−1)`, `sqrt(u)` is `u^(1/2)`.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number.
    Num(f64),
    /// π.
    Pi,
    /// Euler's number.
    E,
    /// Variable `k` of the [`Symbols`] (0: the data variable).
    Var(usize),
    /// Sum of the terms.
    Sum(Vec<Expr>),
    /// Product of the factors.
    Prod(Vec<Expr>),
    /// Base to the power.
    Pow(Box<Expr>, Box<Expr>),
    /// A function applied to an argument.
    Call(Func, Box<Expr>),
}

/// Deepest nesting of parentheses, signs, powers and function calls the parser follows: a
/// written log-density nests a few levels, and the bound keeps the recursion (and every later
/// pass over the tree) far from the stack's limit.
pub const MAX_NESTING: usize = 200;

/// Longest expression text read, in characters.
pub const MAX_TEXT: usize = 100_000;

/// Most nodes of an unsimplified derivative built (a textbook log-density's Hessian entries have
/// a few hundred): beyond, the product rule's growth (n² per derivative of an n-factor product)
/// would take minutes and gigabytes.
pub const MAX_DERIVATIVE_NODES: usize = 200_000;

pub(crate) fn neg(e: Expr) -> Expr {
    Expr::Prod(vec![Expr::Num(-1.0), e])
}

pub(crate) fn recip(e: Expr) -> Expr {
    Expr::Pow(Box::new(e), Box::new(Expr::Num(-1.0)))
}

pub(crate) fn num(e: &Expr) -> Option<f64> {
    match e {
        Expr::Num(v) => Some(*v),
        _ => None,
    }
}
