//! Calculus: exact derivatives by the usual rules, with a bound on the size of what is built.

use super::*;

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
