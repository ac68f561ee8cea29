//! Parsing: tokens to an [`Expr`] by recursive descent, with the usual precedence, a bound on
//! the nesting and errors that name the column.

use super::*;
use crate::lex::{Tok, tokenize};

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
