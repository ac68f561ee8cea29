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
//! use fisherlab_autodiff::symbolic::{Symbols, parse};
//! let names = Symbols::new("x", &["mu", "sigma"]).unwrap();
//! let lp = parse("-log(sigma) - 0.5*log(2*pi) - (x - mu)^2/(2*sigma^2)", &names).unwrap();
//! let score_mu = lp.derivative(1);
//! assert_eq!(score_mu.to_text(&names), "(x - mu)/sigma^2");
//! let h = score_mu.derivative(2); // ∂²/∂mu∂sigma
//! assert_eq!(h.to_text(&names), "-2*(x - mu)/sigma^3");
//! // evaluation, here in f64 at x = 1, mu = 0.5, sigma = 2
//! assert!((h.eval(&[1.0f64, 0.5, 2.0]).unwrap() - (-2.0 * 0.5 / 8.0)).abs() < 1e-15);
//! ```

// Symbolic algebra compares its numeric constants exactly on purpose: `x^1` is `x` only when the
// exponent is exactly 1, a coefficient is dropped only when it is exactly 0.
#![allow(clippy::float_cmp, clippy::redundant_guards)]

use crate::special::{digamma, lgamma, lift, polygamma, trigamma};
use crate::{DualNum, Error};
use std::cmp::Ordering;

/// Result of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// The variables an expression may use: index 0 is the data variable, then the parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbols {
    names: Vec<String>,
}

const FUNCTIONS: [&str; 10] = [
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

// ---------------------------------------------------------------- parsing

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Op(char),
}

fn tokenize(text: &str) -> Result<Vec<(Tok, usize)>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    i = j;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let s: String = chars[start..i].iter().collect();
            let v: f64 = s.parse().map_err(|_| Error::Parse {
                column: col,
                message: format!("`{s}` is not a number"),
            })?;
            out.push((Tok::Num(v), col));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((Tok::Ident(chars[start..i].iter().collect()), col));
        } else if "+-*/^(),".contains(c) {
            out.push((Tok::Op(c), col));
            i += 1;
        } else {
            return Err(Error::Parse {
                column: col,
                message: format!("unexpected character `{c}`"),
            });
        }
    }
    Ok(out)
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

struct Parser<'a> {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end: usize,
    symbols: &'a Symbols,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }
    fn column(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |t| t.1)
    }
    fn error<T>(&self, message: String) -> Result<T> {
        Err(Error::Parse {
            column: self.column(),
            message,
        })
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Op(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expr(&mut self) -> Result<Expr> {
        let mut terms = vec![self.term()?];
        loop {
            if self.eat('+') {
                terms.push(self.term()?);
            } else if self.eat('-') {
                terms.push(neg(self.term()?));
            } else {
                break;
            }
        }
        Ok(if terms.len() == 1 {
            terms.pop().unwrap_or(Expr::Num(0.0))
        } else {
            Expr::Sum(terms)
        })
    }
    fn term(&mut self) -> Result<Expr> {
        let mut factors = vec![self.unary()?];
        loop {
            if self.eat('*') {
                factors.push(self.unary()?);
            } else if self.eat('/') {
                factors.push(recip(self.unary()?));
            } else {
                break;
            }
        }
        Ok(if factors.len() == 1 {
            factors.pop().unwrap_or(Expr::Num(1.0))
        } else {
            Expr::Prod(factors)
        })
    }
    /// Every nested construct passes through here, so the depth is counted once.
    fn unary(&mut self) -> Result<Expr> {
        if self.depth >= MAX_NESTING {
            return self.error(format!(
                "the expression nests deeper than {MAX_NESTING} levels"
            ));
        }
        self.depth += 1;
        let e = self.signed();
        self.depth -= 1;
        e
    }
    fn signed(&mut self) -> Result<Expr> {
        if self.eat('-') {
            return Ok(neg(self.unary()?));
        }
        if self.eat('+') {
            return self.unary();
        }
        self.power()
    }
    fn power(&mut self) -> Result<Expr> {
        let base = self.primary()?;
        if self.eat('^') {
            let exponent = self.unary()?;
            return Ok(Expr::Pow(Box::new(base), Box::new(exponent)));
        }
        Ok(base)
    }
    fn primary(&mut self) -> Result<Expr> {
        let Some((tok, col)) = self.toks.get(self.pos).cloned() else {
            return self.error("the expression ends too early".into());
        };
        self.pos += 1;
        match tok {
            Tok::Num(v) => Ok(Expr::Num(v)),
            Tok::Op('(') => {
                let e = self.expr()?;
                if !self.eat(')') {
                    return self.error("expected `)`".into());
                }
                Ok(e)
            }
            Tok::Op(c) => Err(Error::Parse {
                column: col,
                message: format!("expected a number, a name or `(`, found `{c}`"),
            }),
            Tok::Ident(name) => {
                if self.peek() == Some(&Tok::Op('(')) {
                    let f = match name.as_str() {
                        "exp" => Some(Func::Exp),
                        "log" => Some(Func::Log),
                        "abs" => Some(Func::Abs),
                        "lgamma" => Some(Func::Lgamma),
                        "digamma" => Some(Func::Polygamma(0)),
                        "trigamma" => Some(Func::Polygamma(1)),
                        "erf" => Some(Func::Erf),
                        "sin" => Some(Func::Sin),
                        "cos" => Some(Func::Cos),
                        "sqrt" => None,
                        _ => {
                            return Err(Error::Parse {
                                column: col,
                                message: format!(
                                    "unknown function `{name}` (known: {})",
                                    FUNCTIONS.join(", ")
                                ),
                            });
                        }
                    };
                    self.pos += 1;
                    let arg = self.expr()?;
                    if self.peek() == Some(&Tok::Op(',')) {
                        return self.error(format!("`{name}` takes one argument"));
                    }
                    if !self.eat(')') {
                        return self.error("expected `)`".into());
                    }
                    return Ok(match f {
                        Some(f) => Expr::Call(f, Box::new(arg)),
                        None => Expr::Pow(Box::new(arg), Box::new(Expr::Num(0.5))),
                    });
                }
                match name.as_str() {
                    "pi" => Ok(Expr::Pi),
                    "e" => Ok(Expr::E),
                    _ => match self.symbols.index(&name) {
                        Some(k) => Ok(Expr::Var(k)),
                        None if FUNCTIONS.contains(&name.as_str()) => Err(Error::Parse {
                            column: col,
                            message: format!("`{name}` is a function: write `{name}(…)`"),
                        }),
                        None => Err(Error::Parse {
                            column: col,
                            message: format!(
                                "unknown variable `{name}` (known: {}, and the constants pi, e)",
                                self.symbols.names.join(", ")
                            ),
                        }),
                    },
                }
            }
        }
    }
}

/// Parse `text` with the variables of `symbols` (see the module documentation for the grammar).
/// The result is simplified.
///
/// # Errors
/// [`Error::Parse`] with the column of the first problem: an unexpected character, an
/// unknown function or variable, unbalanced parentheses, a missing operand, implicit
/// multiplication (`2x`).
pub fn parse(text: &str, symbols: &Symbols) -> Result<Expr> {
    if text.len() > MAX_TEXT {
        return Err(Error::Parse {
            column: MAX_TEXT,
            message: format!(
                "the expression is {} bytes long; at most {MAX_TEXT} are read",
                text.len()
            ),
        });
    }
    let toks = tokenize(text)?;
    let end = text.chars().count() + 1;
    if toks.is_empty() {
        return Err(Error::Parse {
            column: 1,
            message: "empty expression".into(),
        });
    }
    let mut p = Parser {
        toks,
        pos: 0,
        end,
        symbols,
        depth: 0,
    };
    let e = p.expr()?;
    if p.pos < p.toks.len() {
        let found = match &p.toks[p.pos].0 {
            Tok::Num(v) => v.to_string(),
            Tok::Ident(s) => s.clone(),
            Tok::Op(c) => c.to_string(),
        };
        return p.error(format!(
            "unexpected `{found}` (an operator is missing, or a parenthesis is unbalanced)"
        ));
    }
    Ok(e.simplify())
}

fn neg(e: Expr) -> Expr {
    Expr::Prod(vec![Expr::Num(-1.0), e])
}

fn recip(e: Expr) -> Expr {
    Expr::Pow(Box::new(e), Box::new(Expr::Num(-1.0)))
}

fn num(e: &Expr) -> Option<f64> {
    match e {
        Expr::Num(v) => Some(*v),
        _ => None,
    }
}

// ---------------------------------------------------------------- calculus and algebra

impl Expr {
    /// Whether the expression uses variable `k`.
    pub fn depends_on(&self, k: usize) -> bool {
        match self {
            Expr::Num(_) | Expr::Pi | Expr::E => false,
            Expr::Var(j) => *j == k,
            Expr::Sum(v) | Expr::Prod(v) => v.iter().any(|e| e.depends_on(k)),
            Expr::Pow(a, b) => a.depends_on(k) || b.depends_on(k),
            Expr::Call(_, a) => a.depends_on(k),
        }
    }

    /// `∂/∂(variable k)`, simplified.
    pub fn derivative(&self, k: usize) -> Expr {
        self.d(k).simplify()
    }

    /// Nodes of the tree.
    pub fn nodes(&self) -> usize {
        match self {
            Expr::Num(_) | Expr::Pi | Expr::E | Expr::Var(_) => 1,
            Expr::Sum(v) | Expr::Prod(v) => {
                v.iter().fold(1usize, |n, e| n.saturating_add(e.nodes()))
            }
            Expr::Pow(a, b) => a.nodes().saturating_add(b.nodes()).saturating_add(1),
            Expr::Call(_, a) => a.nodes().saturating_add(1),
        }
    }

    /// Nodes of the unsimplified derivative `∂/∂(variable k)`, counted without building it: the
    /// product rule copies every other factor once per factor, so a product of n factors that
    /// all depend on the variable has a derivative of about n² nodes, and its Hessian n³.
    fn d_nodes(&self, k: usize) -> usize {
        if !self.depends_on(k) {
            return 1;
        }
        match self {
            Expr::Num(_) | Expr::Pi | Expr::E | Expr::Var(_) => 1,
            Expr::Sum(v) => v.iter().fold(1usize, |n, e| n.saturating_add(e.d_nodes(k))),
            Expr::Prod(v) => {
                let all = self.nodes();
                v.iter().filter(|e| e.depends_on(k)).fold(1usize, |n, e| {
                    n.saturating_add(all - e.nodes())
                        .saturating_add(e.d_nodes(k))
                })
            }
            Expr::Pow(u, w) => self
                .nodes()
                .saturating_mul(2)
                .saturating_add(u.d_nodes(k))
                .saturating_add(w.d_nodes(k))
                .saturating_add(8),
            Expr::Call(_, u) => u
                .nodes()
                .saturating_mul(2)
                .saturating_add(u.d_nodes(k))
                .saturating_add(8),
        }
    }

    /// [`derivative`](Self::derivative), refused before it is built when the unsimplified
    /// derivative would have more than [`MAX_DERIVATIVE_NODES`] nodes.
    ///
    /// # Errors
    /// [`Error::TooLarge`] with the count.
    pub fn try_derivative(&self, k: usize) -> Result<Expr> {
        let nodes = self.d_nodes(k);
        if nodes > MAX_DERIVATIVE_NODES {
            return Err(Error::TooLarge {
                nodes,
                limit: MAX_DERIVATIVE_NODES,
            });
        }
        Ok(self.derivative(k))
    }

    fn d(&self, k: usize) -> Expr {
        if !self.depends_on(k) {
            return Expr::Num(0.0);
        }
        match self {
            Expr::Num(_) | Expr::Pi | Expr::E => Expr::Num(0.0),
            Expr::Var(_) => Expr::Num(1.0),
            Expr::Sum(v) => Expr::Sum(v.iter().map(|e| e.d(k)).collect()),
            Expr::Prod(v) => Expr::Sum(
                (0..v.len())
                    .filter(|&i| v[i].depends_on(k))
                    .map(|i| {
                        let mut f = v.clone();
                        f[i] = v[i].d(k);
                        Expr::Prod(f)
                    })
                    .collect(),
            ),
            Expr::Pow(u, w) => {
                let pow = self.clone();
                if !w.depends_on(k) {
                    // w u^(w−1) u'
                    Expr::Prod(vec![
                        (**w).clone(),
                        Expr::Pow(
                            u.clone(),
                            Box::new(Expr::Sum(vec![(**w).clone(), Expr::Num(-1.0)])),
                        ),
                        u.d(k),
                    ])
                } else {
                    // u^w (w' log u + w u'/u)
                    Expr::Prod(vec![
                        pow,
                        Expr::Sum(vec![
                            Expr::Prod(vec![w.d(k), Expr::Call(Func::Log, u.clone())]),
                            Expr::Prod(vec![(**w).clone(), u.d(k), recip((**u).clone())]),
                        ]),
                    ])
                }
            }
            Expr::Call(f, u) => {
                let du = u.d(k);
                let outer = match f {
                    Func::Exp => self.clone(),
                    Func::Log => recip((**u).clone()),
                    Func::Abs => Expr::Call(Func::Sign, u.clone()),
                    Func::Sign => Expr::Num(0.0),
                    Func::Lgamma => Expr::Call(Func::Polygamma(0), u.clone()),
                    Func::Polygamma(n) => Expr::Call(Func::Polygamma(n + 1), u.clone()),
                    Func::Erf => Expr::Prod(vec![
                        Expr::Num(2.0),
                        Expr::Pow(Box::new(Expr::Pi), Box::new(Expr::Num(-0.5))),
                        Expr::Call(
                            Func::Exp,
                            Box::new(neg(Expr::Pow(u.clone(), Box::new(Expr::Num(2.0))))),
                        ),
                    ]),
                    Func::Sin => Expr::Call(Func::Cos, u.clone()),
                    Func::Cos => neg(Expr::Call(Func::Sin, u.clone())),
                };
                Expr::Prod(vec![outer, du])
            }
        }
    }

    /// Canonical, simplified form: constants folded, `x*1`, `x+0`, `x^1` removed, nested sums
    /// and products flattened, like terms collected (`2x + 3x = 5x`), powers of the same base
    /// collected (`x²·x⁻¹ = x`), integer powers of products distributed, `exp(log u) = u`.
    pub fn simplify(&self) -> Expr {
        match self {
            Expr::Num(_) | Expr::Pi | Expr::E | Expr::Var(_) => self.clone(),
            Expr::Sum(v) => simplify_sum(v.iter().map(Expr::simplify).collect()),
            Expr::Prod(v) => simplify_prod(v.iter().map(Expr::simplify).collect()),
            Expr::Pow(a, b) => simplify_pow(a.simplify(), b.simplify()),
            Expr::Call(f, a) => simplify_call(*f, a.simplify()),
        }
    }
}

/// A sort key that makes the canonical order deterministic: numbers, constants, variables (data
/// variable first), then compound expressions by their text.
fn key(e: &Expr) -> (u8, String) {
    match e {
        Expr::Num(v) => (0, format!("{v:e}")),
        Expr::Pi => (1, "pi".into()),
        Expr::E => (1, "e".into()),
        Expr::Var(k) => (2, format!("{k:04}")),
        Expr::Pow(b, _) => {
            let (r, s) = key(b);
            (r.max(3), s)
        }
        Expr::Call(..) => (5, format!("{e:?}")),
        Expr::Sum(_) | Expr::Prod(_) => (4, format!("{e:?}")),
    }
}

fn cmp_key(a: &Expr, b: &Expr) -> Ordering {
    key(a).cmp(&key(b))
}

/// Split a term into its numeric coefficient and the rest.
fn coefficient(e: Expr) -> (f64, Expr) {
    match e {
        Expr::Num(v) => (v, Expr::Num(1.0)),
        Expr::Prod(mut f) => {
            if let Some(c) = f.first().and_then(num) {
                f.remove(0);
                let rest = if f.len() == 1 {
                    f.pop().unwrap_or(Expr::Num(1.0))
                } else {
                    Expr::Prod(f)
                };
                (c, rest)
            } else {
                (1.0, Expr::Prod(f))
            }
        }
        other => (1.0, other),
    }
}

/// One level of distribution: a product with a sum factor as the sum of products.
fn distribute(t: &Expr) -> Option<Vec<Expr>> {
    let Expr::Prod(f) = t else { return None };
    let k = f.iter().position(|x| matches!(x, Expr::Sum(_)))?;
    let Expr::Sum(inner) = &f[k] else { return None };
    Some(
        inner
            .iter()
            .map(|s| {
                let mut g = f.clone();
                g[k] = s.clone();
                simplify_prod(g)
            })
            .collect(),
    )
}

fn term_count(e: &Expr) -> usize {
    match e {
        Expr::Sum(t) => t.len(),
        Expr::Num(v) if *v == 0.0 => 0,
        _ => 1,
    }
}

/// A sum in canonical form; products with a sum factor are multiplied out when that leaves
/// fewer terms (`1/λ + (k − 1)/λ = k/λ`), and kept factored otherwise (`(x − μ)²/σ³`).
fn simplify_sum(terms: Vec<Expr>) -> Expr {
    let collected = collect_sum(terms);
    if let Expr::Sum(ts) = &collected {
        let mut expanded = Vec::with_capacity(ts.len());
        let mut changed = false;
        for t in ts {
            match distribute(t) {
                Some(v) => {
                    expanded.extend(v);
                    changed = true;
                }
                None => expanded.push(t.clone()),
            }
        }
        if changed {
            let e = collect_sum(expanded);
            if term_count(&e) < ts.len() {
                return e;
            }
        }
    }
    collected
}

fn collect_sum(terms: Vec<Expr>) -> Expr {
    let mut flat = Vec::new();
    for t in terms {
        match t {
            Expr::Sum(inner) => flat.extend(inner),
            other => flat.push(other),
        }
    }
    let mut constant = 0.0;
    let mut collected: Vec<(f64, Expr)> = Vec::new();
    for t in flat {
        if let Expr::Num(v) = t {
            constant += v;
            continue;
        }
        let (c, rest) = coefficient(t);
        match collected.iter_mut().find(|(_, r)| *r == rest) {
            Some((c0, _)) => *c0 += c,
            None => collected.push((c, rest)),
        }
    }
    let mut out: Vec<Expr> = collected
        .into_iter()
        .filter(|(c, _)| *c != 0.0)
        .map(|(c, r)| simplify_prod(vec![Expr::Num(c), r]))
        .collect();
    // positive terms first keeps `x - mu` rather than `-mu + x`
    out.sort_by(|a, b| {
        let neg = |e: &Expr| coefficient(e.clone()).0 < 0.0;
        neg(a)
            .cmp(&neg(b))
            .then_with(|| cmp_key(&coefficient(a.clone()).1, &coefficient(b.clone()).1))
    });
    if constant != 0.0 {
        out.push(Expr::Num(constant));
    }
    match out.len() {
        0 => Expr::Num(0.0),
        1 => out.pop().unwrap_or(Expr::Num(0.0)),
        _ => Expr::Sum(out),
    }
}

fn simplify_prod(factors: Vec<Expr>) -> Expr {
    let mut flat = Vec::new();
    for f in factors {
        match f {
            Expr::Prod(inner) => flat.extend(inner),
            other => flat.push(other),
        }
    }
    let mut c = 1.0;
    // (base, exponent) pairs, collected by base
    let mut powers: Vec<(Expr, Vec<Expr>)> = Vec::new();
    for f in flat {
        if let Expr::Num(v) = f {
            c *= v;
            continue;
        }
        let (base, exponent) = match f {
            Expr::Pow(b, e) => (*b, *e),
            other => (other, Expr::Num(1.0)),
        };
        match powers.iter_mut().find(|(b, _)| *b == base) {
            Some((_, es)) => es.push(exponent),
            None => powers.push((base, vec![exponent])),
        }
    }
    if c == 0.0 {
        return Expr::Num(0.0);
    }
    let mut out: Vec<Expr> = Vec::new();
    for (base, exps) in powers {
        let e = simplify_sum(exps);
        match simplify_pow(base, e) {
            Expr::Num(v) => c *= v,
            Expr::Prod(inner) => {
                for f in inner {
                    match f {
                        Expr::Num(v) => c *= v,
                        other => out.push(other),
                    }
                }
            }
            other => out.push(other),
        }
    }
    // exp(a)·exp(b) = exp(a + b)
    let exps: Vec<Expr> = out
        .iter()
        .filter_map(|f| match f {
            Expr::Call(Func::Exp, u) => Some((**u).clone()),
            _ => None,
        })
        .collect();
    if exps.len() > 1 {
        out.retain(|f| !matches!(f, Expr::Call(Func::Exp, _)));
        match simplify_call(Func::Exp, simplify_sum(exps)) {
            Expr::Num(v) => c *= v,
            e => out.push(e),
        }
    }
    out.sort_by(cmp_key);
    if c != 1.0 || out.is_empty() {
        out.insert(0, Expr::Num(c));
    }
    match out.len() {
        1 => out.pop().unwrap_or(Expr::Num(1.0)),
        _ => Expr::Prod(out),
    }
}

fn is_integer(v: f64) -> bool {
    v.fract() == 0.0 && v.abs() <= 64.0
}

fn simplify_pow(base: Expr, exponent: Expr) -> Expr {
    match (num(&base), num(&exponent)) {
        (_, Some(e)) if e == 0.0 => return Expr::Num(1.0),
        (_, Some(e)) if e == 1.0 => return base,
        (Some(b), _) if b == 1.0 => return Expr::Num(1.0),
        (Some(b), Some(e)) if is_integer(e) && b != 0.0 => return Expr::Num(b.powi(e as i32)),
        (Some(b), Some(e)) if b > 0.0 && (b.powf(e).round() - b.powf(e)).abs() < 1e-12 => {
            return Expr::Num(b.powf(e).round());
        }
        _ => {}
    }
    match base {
        // (u^a)^b = u^(ab) for integer b (always valid)
        Expr::Pow(u, a) if num(&exponent).is_some_and(is_integer) => {
            simplify_pow(*u, simplify_prod(vec![*a, exponent]))
        }
        // (u v)^n = u^n v^n for integer n
        Expr::Prod(f) if num(&exponent).is_some_and(is_integer) => simplify_prod(
            f.into_iter()
                .map(|u| simplify_pow(u, exponent.clone()))
                .collect(),
        ),
        // e^u = exp(u); exp(u)^n = exp(n u)
        Expr::E => simplify_call(Func::Exp, exponent),
        Expr::Call(Func::Exp, u) if num(&exponent).is_some() => {
            simplify_call(Func::Exp, simplify_prod(vec![exponent, *u]))
        }
        b => Expr::Pow(Box::new(b), Box::new(exponent)),
    }
}

fn simplify_call(f: Func, arg: Expr) -> Expr {
    match (f, &arg) {
        (Func::Exp, Expr::Num(v)) if *v == 0.0 => Expr::Num(1.0),
        (Func::Log, Expr::Num(v)) if *v == 1.0 => Expr::Num(0.0),
        (Func::Log, Expr::E) => Expr::Num(1.0),
        (Func::Exp, Expr::Call(Func::Log, u)) => (**u).clone(),
        (Func::Log, Expr::Call(Func::Exp, u)) => (**u).clone(),
        (Func::Sign | Func::Abs, Expr::Num(v)) => {
            Expr::Num(if f == Func::Abs { v.abs() } else { v.signum() })
        }
        (Func::Sin, Expr::Num(v)) if *v == 0.0 => Expr::Num(0.0),
        (Func::Cos, Expr::Num(v)) if *v == 0.0 => Expr::Num(1.0),
        _ => Expr::Call(f, Box::new(arg)),
    }
}

// ---------------------------------------------------------------- evaluation

impl Expr {
    /// The value for the variables `vals` (the data variable first, then the parameters), in any
    /// scalar type: `f64`, or dual numbers for automatic derivatives.
    ///
    /// # Errors
    /// A polygamma function whose derivatives this scalar type needs beyond the third order.
    pub fn eval<D: DualNum<Primitive = f64> + Copy>(&self, vals: &[D]) -> Result<D> {
        Ok(match self {
            Expr::Num(v) => D::from(*v),
            Expr::Pi => D::from(std::f64::consts::PI),
            Expr::E => D::from(std::f64::consts::E),
            Expr::Var(k) => vals[*k],
            Expr::Sum(v) => {
                let mut acc = D::from(0.0);
                for t in v {
                    acc += t.eval(vals)?;
                }
                acc
            }
            Expr::Prod(v) => {
                let mut acc = D::from(1.0);
                for t in v {
                    acc *= t.eval(vals)?;
                }
                acc
            }
            Expr::Pow(b, e) => {
                let b = b.eval(vals)?;
                match num(e) {
                    Some(n) if is_integer(n) => b.powi(n as i32),
                    Some(n) => b.powf(n),
                    None => {
                        let e = e.eval(vals)?;
                        (e * b.ln()).exp()
                    }
                }
            }
            Expr::Call(f, a) => {
                let x = a.eval(vals)?;
                match f {
                    Func::Exp => x.exp(),
                    Func::Log => x.ln(),
                    Func::Sin => x.sin(),
                    Func::Cos => x.cos(),
                    Func::Abs => {
                        let s = x.re().signum();
                        lift(x, |k| match k {
                            0 => x.re().abs(),
                            1 => s,
                            _ => 0.0,
                        })
                    }
                    Func::Sign => D::from(x.re().signum()),
                    Func::Lgamma => lgamma(x),
                    Func::Polygamma(0) => digamma(x),
                    Func::Polygamma(n) => {
                        if *n as usize + D::NDERIV > 3 {
                            return Err(Error::Unsupported(format!(
                                "polygamma of order {} is available only up to order 3 (needed: {})",
                                n,
                                *n as usize + D::NDERIV
                            )));
                        }
                        let n = *n;
                        lift(x, |k| {
                            let order = n + k as u32;
                            if order == 1 {
                                trigamma(x.re())
                            } else {
                                polygamma(order, x.re())
                            }
                        })
                    }
                    Func::Erf => {
                        let x0 = x.re();
                        let d1 = 2.0 / std::f64::consts::PI.sqrt() * (-x0 * x0).exp();
                        lift(x, |k| match k {
                            0 => special::Error::error(x0),
                            1 => d1,
                            2 => -2.0 * x0 * d1,
                            _ => (4.0 * x0 * x0 - 2.0) * d1,
                        })
                    }
                }
            }
        })
    }
}

// ---------------------------------------------------------------- printing

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// `v` as `(p, q)` with `v = p/q` for the smallest `q ≤ 12` that makes `p` an integer up to
/// rounding, else `(v, 1)`.
fn rational(v: f64) -> (f64, f64) {
    if v.fract() == 0.0 {
        return (v, 1.0);
    }
    for q in 2..=12 {
        let p = v * f64::from(q);
        if p.round() != 0.0 && (p - p.round()).abs() <= 1e-12 * p.abs() && p.abs() < 1e6 {
            return (p.round(), f64::from(q));
        }
    }
    (v, 1.0)
}

/// Precedence: 0 sum, 1 product, 2 power, 3 atom.
fn precedence(e: &Expr) -> u8 {
    match e {
        Expr::Sum(_) => 0,
        Expr::Prod(_) => 1,
        Expr::Num(v) if *v < 0.0 => 0,
        Expr::Pow(_, x) if num(x).is_some_and(|v| v == 0.5) => 3,
        Expr::Pow(..) => 2,
        _ => 3,
    }
}

struct Printer<'a> {
    names: &'a [String],
    latex: bool,
}

impl Printer<'_> {
    fn name(&self, k: usize) -> String {
        let n = &self.names[k];
        if !self.latex {
            return n.clone();
        }
        const GREEK: [&str; 24] = [
            "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
            "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi",
            "psi", "omega", "varphi",
        ];
        let (stem, digits) = n.split_at(n.trim_end_matches(|c: char| c.is_ascii_digit()).len());
        let stem = if GREEK.contains(&stem) {
            format!("\\{stem}")
        } else if stem.chars().count() > 1 {
            format!("\\mathrm{{{stem}}}")
        } else {
            stem.to_string()
        };
        if digits.is_empty() {
            stem
        } else {
            format!("{stem}_{{{digits}}}")
        }
    }

    fn wrap(&self, e: &Expr, min: u8) -> String {
        let s = self.print(e);
        if precedence(e) < min {
            if self.latex {
                format!("\\left({s}\\right)")
            } else {
                format!("({s})")
            }
        } else {
            s
        }
    }

    fn print(&self, e: &Expr) -> String {
        match e {
            Expr::Num(v) => fmt_num(*v),
            Expr::Pi => {
                if self.latex {
                    "\\pi".into()
                } else {
                    "pi".into()
                }
            }
            Expr::E => "e".into(),
            Expr::Var(k) => self.name(*k),
            Expr::Sum(terms) => {
                // lead with a positive term when there is one: `1 - x`, not `-x + 1`
                let mut terms = terms.clone();
                if let Some(k) = terms.iter().position(|t| coefficient(t.clone()).0 > 0.0) {
                    let t = terms.remove(k);
                    terms.insert(0, t);
                }
                let mut s = String::new();
                for (i, t) in terms.iter().enumerate() {
                    let (c, rest) = coefficient(t.clone());
                    if i > 0 && c < 0.0 {
                        s += " - ";
                        s += &self.print(&simplify_prod(vec![Expr::Num(-c), rest]));
                    } else {
                        if i > 0 {
                            s += " + ";
                        }
                        s += &self.print(t);
                    }
                }
                s
            }
            Expr::Prod(f) => self.product(f),
            Expr::Pow(b, x) => {
                if let Some(v) = num(x) {
                    if v == 0.5 {
                        return if self.latex {
                            format!("\\sqrt{{{}}}", self.print(b))
                        } else {
                            format!("sqrt({})", self.print(b))
                        };
                    }
                    if v < 0.0 {
                        return self.product(std::slice::from_ref(e));
                    }
                }
                if self.latex {
                    format!("{{{}}}^{{{}}}", self.wrap(b, 3), self.print(x))
                } else {
                    format!("{}^{}", self.wrap(b, 3), self.wrap(x, 3))
                }
            }
            Expr::Call(f, a) => {
                let arg = self.print(a);
                if self.latex {
                    match f {
                        Func::Exp => format!("\\exp\\left({arg}\\right)"),
                        Func::Log => format!("\\log\\left({arg}\\right)"),
                        Func::Abs => format!("\\left|{arg}\\right|"),
                        Func::Sign => format!("\\operatorname{{sign}}\\left({arg}\\right)"),
                        Func::Lgamma => format!("\\ln\\Gamma\\left({arg}\\right)"),
                        Func::Polygamma(0) => format!("\\psi\\left({arg}\\right)"),
                        Func::Polygamma(n) => format!("\\psi^{{({n})}}\\left({arg}\\right)"),
                        Func::Erf => format!("\\operatorname{{erf}}\\left({arg}\\right)"),
                        Func::Sin => format!("\\sin\\left({arg}\\right)"),
                        Func::Cos => format!("\\cos\\left({arg}\\right)"),
                    }
                } else {
                    let name = match f {
                        Func::Exp => "exp".to_string(),
                        Func::Log => "log".into(),
                        Func::Abs => "abs".into(),
                        Func::Sign => "sign".into(),
                        Func::Lgamma => "lgamma".into(),
                        Func::Polygamma(0) => "digamma".into(),
                        Func::Polygamma(1) => "trigamma".into(),
                        Func::Polygamma(n) => format!("polygamma{n}"),
                        Func::Erf => "erf".into(),
                        Func::Sin => "sin".into(),
                        Func::Cos => "cos".into(),
                    };
                    format!("{name}({arg})")
                }
            }
        }
    }

    /// A product as `c*a*b/(d*e)`: factors with negative numeric exponents go below the line.
    fn product(&self, factors: &[Expr]) -> String {
        let mut c = 1.0;
        let (mut top, mut bottom) = (Vec::new(), Vec::new());
        for f in factors {
            match f {
                Expr::Num(v) => c *= v,
                Expr::Pow(b, x) if num(x).is_some_and(|v| v < 0.0) => {
                    let v = num(x).unwrap_or(-1.0);
                    bottom.push(simplify_pow((**b).clone(), Expr::Num(-v)));
                }
                other => top.push(other.clone()),
            }
        }
        let sign = if c < 0.0 { "-" } else { "" };
        // a coefficient that is a small fraction p/q prints as p on top and q below
        let (c, q) = rational(c.abs());
        if q != 1.0 {
            bottom.insert(0, Expr::Num(q));
        }
        let join = |v: &[Expr]| -> String {
            let sep = if self.latex { " " } else { "*" };
            v.iter()
                .map(|e| self.wrap(e, if self.latex { 1 } else { 2 }))
                .collect::<Vec<_>>()
                .join(sep)
        };
        // inside \frac a lone numerator needs no parentheses
        let mut num_part = if self.latex && !bottom.is_empty() && top.len() == 1 && c == 1.0 {
            self.print(&top[0])
        } else {
            join(&top)
        };
        if c != 1.0 {
            num_part = if num_part.is_empty() {
                fmt_num(c)
            } else if self.latex {
                format!("{} {num_part}", fmt_num(c))
            } else {
                format!("{}*{num_part}", fmt_num(c))
            };
        }
        if bottom.is_empty() {
            return format!(
                "{sign}{}",
                if num_part.is_empty() {
                    "1".into()
                } else {
                    num_part
                }
            );
        }
        let den = if bottom.len() == 1 {
            if self.latex {
                self.print(&bottom[0])
            } else {
                self.wrap(&bottom[0], 2)
            }
        } else if self.latex {
            join(&bottom)
        } else {
            format!("({})", join(&bottom))
        };
        let num_part = if num_part.is_empty() {
            "1".to_string()
        } else {
            num_part
        };
        if self.latex {
            format!("{sign}\\frac{{{num_part}}}{{{den}}}")
        } else {
            format!("{sign}{num_part}/{den}")
        }
    }
}

impl Expr {
    /// Plain text, as the parser reads it back.
    pub fn to_text(&self, symbols: &Symbols) -> String {
        Printer {
            names: &symbols.names,
            latex: false,
        }
        .print(self)
    }
    /// LaTeX (math mode, without delimiters).
    pub fn to_latex(&self, symbols: &Symbols) -> String {
        Printer {
            names: &symbols.names,
            latex: true,
        }
        .print(self)
    }
}

/// Score and Hessian of a log-density in its parameters (variables 1..=P), simplified.
///
/// # Errors
/// [`Error::TooLarge`] when a derivative would exceed [`MAX_DERIVATIVE_NODES`].
pub fn score_and_hessian(logpdf: &Expr, symbols: &Symbols) -> Result<(Vec<Expr>, Vec<Vec<Expr>>)> {
    let p = symbols.num_params();
    let score: Vec<Expr> = (1..=p)
        .map(|i| logpdf.try_derivative(i))
        .collect::<Result<_>>()?;
    let hessian = (1..=p)
        .map(|i| (1..=p).map(|j| score[i - 1].try_derivative(j)).collect())
        .collect::<Result<_>>()?;
    Ok((score, hessian))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ScalarFn, hessian};
    use proptest::prelude::*;

    fn sym() -> Symbols {
        Symbols::new("x", &["mu", "sigma"]).unwrap()
    }

    fn text(s: &str) -> String {
        let n = sym();
        parse(s, &n).unwrap().to_text(&n)
    }

    #[test]
    fn simplification_reads_like_a_textbook() {
        assert_eq!(text("x*1 + 0"), "x");
        assert_eq!(text("2*3*x - x"), "5*x");
        assert_eq!(text("x^2*x/x^3"), "1");
        assert_eq!(text("(mu*sigma)^2"), "mu^2*sigma^2");
        assert_eq!(text("exp(log(sigma))"), "sigma");
        assert_eq!(text("sigma^-1"), "1/sigma");
        assert_eq!(text("-(x - mu)"), "-(x - mu)");
        assert_eq!(text("sqrt(2*pi)"), "sqrt(2*pi)");
        assert_eq!(text("2^3 + 4^0.5"), "10");
        assert_eq!(text("e^x"), "exp(x)");
        assert_eq!(text("exp(mu)^2/exp(mu)"), "exp(mu)");
        assert_eq!(text("exp(-x)^2"), "exp(-2*x)");
        // multiplied out only when that shortens the sum
        assert_eq!(text("1/sigma + (mu - 1)/sigma"), "mu/sigma");
        assert_eq!(
            text("(x - mu)^2/sigma^3 - 1/sigma"),
            "(x - mu)^2/sigma^3 - 1/sigma"
        );
        // small fractions print as fractions; a positive term leads
        assert_eq!(text("0.5*log(2*pi)"), "log(2*pi)/2");
        assert_eq!(text("pi^2/6 - x/3"), "pi^2/6 - x/3");
        assert_eq!(text("-x + 1"), "1 - x");
        assert_eq!(text("-(x - mu)^2/(2*sigma^2)"), "-(x - mu)^2/(2*sigma^2)");
    }

    #[test]
    fn derivatives_of_the_normal_log_density() {
        // log N(x | mu, sigma): score (x−mu)/σ², −1/σ + (x−mu)²/σ³; Hessian entries by hand
        let n = sym();
        let lp = parse("-log(sigma) - 0.5*log(2*pi) - (x - mu)^2/(2*sigma^2)", &n).unwrap();
        let (score, h) = score_and_hessian(&lp, &n).unwrap();
        assert_eq!(score[0].to_text(&n), "(x - mu)/sigma^2");
        assert_eq!(score[1].to_text(&n), "(x - mu)^2/sigma^3 - 1/sigma");
        assert_eq!(h[0][0].to_text(&n), "-1/sigma^2");
        assert_eq!(h[1][1].to_text(&n), "1/sigma^2 - 3*(x - mu)^2/sigma^4");
        assert_eq!(h[0][1], h[1][0]);
        assert_eq!(
            score[1].to_latex(&n),
            "\\frac{{\\left(x - \\mu\\right)}^{2}}{{\\sigma}^{3}} - \\frac{1}{\\sigma}"
        );
    }

    #[test]
    fn special_function_derivatives() {
        let n = Symbols::new("x", &["a"]).unwrap();
        let d = |s: &str| parse(s, &n).unwrap().derivative(1).to_text(&n);
        assert_eq!(d("lgamma(a)"), "digamma(a)");
        assert_eq!(d("digamma(a)"), "trigamma(a)");
        assert_eq!(d("trigamma(2*a)"), "2*polygamma2(2*a)");
        assert_eq!(d("erf(a)"), "2*exp(-a^2)/sqrt(pi)");
        assert_eq!(d("abs(a)"), "sign(a)");
        assert_eq!(d("sin(a)*cos(a)"), "cos(a)^2 - sin(a)^2");
        assert_eq!(d("a^a"), "a^a*(log(a) + 1)");
    }

    #[test]
    fn errors_name_the_column() {
        let n = sym();
        let err = |s: &str| parse(s, &n).unwrap_err().to_string();
        assert_eq!(
            err("x + * mu"),
            "column 5: expected a number, a name or `(`, found `*`"
        );
        assert!(err("log(x").starts_with("column 6: expected `)`"));
        assert!(err("gamma(x)").starts_with("column 1: unknown function `gamma`"));
        assert!(err("x + nu").starts_with("column 5: unknown variable `nu`"));
        assert!(err("2 x").starts_with("column 3: unexpected `x`"));
        assert!(err("x $ 2").starts_with("column 3: unexpected character `$`"));
        assert!(err("exp").contains("is a function"));
        assert!(err("").starts_with("column 1: empty"));
        assert!(Symbols::new("x", &["mu", "mu"]).is_err());
        assert!(Symbols::new("x", &["exp"]).is_err());
        assert!(Symbols::new("x", &["2a"]).is_err());
    }

    #[test]
    fn printing_round_trips_through_the_parser() {
        let n = sym();
        for s in [
            "-(x - mu)^2/(2*sigma^2) - log(sigma)",
            "lgamma(mu + sigma) - lgamma(mu)*x^(sigma - 1)",
            "exp(-x/sigma)/sigma^2 + erf(mu*sqrt(2))",
            "x*log(mu) - mu - lgamma(x + 1)",
        ] {
            let e = parse(s, &n).unwrap();
            let again = parse(&e.to_text(&n), &n).unwrap();
            assert_eq!(again, e, "{s} -> {}", e.to_text(&n));
        }
    }

    struct AsFn<'a>(&'a Expr, f64);
    impl ScalarFn for AsFn<'_> {
        fn eval<D: DualNum<Primitive = f64> + Copy>(&self, t: &[D]) -> D {
            self.0.eval(&[D::from(self.1), t[0], t[1]]).unwrap()
        }
    }

    /// Random expressions in x, mu, sigma whose every sub-expression is defined for all real
    /// arguments (logs and gamma functions of 1 + u², powers of integers).
    fn expr() -> impl Strategy<Value = Expr> {
        let leaf = prop_oneof![
            (-3i32..=3).prop_map(|k| Expr::Num(f64::from(k) / 2.0)),
            Just(Expr::Var(0)),
            Just(Expr::Var(1)),
            Just(Expr::Var(2)),
            Just(Expr::Pi),
        ];
        leaf.prop_recursive(4, 24, 3, |inner| {
            let positive = |u: Expr| {
                Expr::Sum(vec![
                    Expr::Num(1.0),
                    Expr::Pow(Box::new(u), Box::new(Expr::Num(2.0))),
                ])
            };
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Sum),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Prod),
                (inner.clone(), 0i32..4)
                    .prop_map(|(u, k)| Expr::Pow(Box::new(u), Box::new(Expr::Num(f64::from(k))))),
                inner
                    .clone()
                    .prop_map(|u| Expr::Call(Func::Sin, Box::new(u))),
                inner
                    .clone()
                    .prop_map(|u| Expr::Call(Func::Cos, Box::new(u))),
                inner
                    .clone()
                    .prop_map(|u| Expr::Call(Func::Erf, Box::new(u))),
                inner
                    .clone()
                    .prop_map(move |u| Expr::Call(Func::Log, Box::new(positive(u)))),
                inner
                    .clone()
                    .prop_map(move |u| Expr::Call(Func::Lgamma, Box::new(positive(u)))),
                inner
                    .clone()
                    .prop_map(move |u| Expr::Call(Func::Polygamma(0), Box::new(positive(u)))),
                inner.prop_map(|u| Expr::Call(
                    Func::Exp,
                    Box::new(Expr::Call(Func::Sin, Box::new(u)))
                )),
            ]
        })
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-8 * (1.0 + a.abs().max(b.abs()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Symbolic score and Hessian equal num-dual's automatic ones at random points; the
        /// simplified expression has the value of the unsimplified one.
        #[test]
        fn symbolic_derivatives_equal_dual_numbers(
            e in expr(),
            x in -1.5f64..1.5,
            mu in -1.5f64..1.5,
            sigma in -1.5f64..1.5,
        ) {
            let vals = [x, mu, sigma];
            let raw: f64 = e.eval(&vals).unwrap();
            let simple = e.simplify();
            prop_assert!(close(simple.eval(&vals).unwrap(), raw));
            let (v, g, h) = hessian(&AsFn(&e, x), &[mu, sigma]);
            prop_assert!(close(v, raw));
            for i in 0..2 {
                let di = e.derivative(i + 1);
                prop_assert!(close(di.eval(&vals).unwrap(), g[i]), "d{}: {} vs {}", i, di.eval(&vals).unwrap(), g[i]);
                for j in 0..2 {
                    let dij = di.derivative(j + 1);
                    prop_assert!(close(dij.eval(&vals).unwrap(), h[(i, j)]), "d{}{}", i, j);
                }
            }
        }
    }
}
