//! Printing: plain text the parser reads back, and LaTeX.

use super::*;
use crate::simplify::{coefficient, simplify_pow, simplify_prod};

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
