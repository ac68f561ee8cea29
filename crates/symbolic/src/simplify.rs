//! Simplification: the canonical form (constants folded, like terms and powers collected, sums
//! and products flattened), deterministic by a sort key.

use super::*;
use std::cmp::Ordering;

impl Expr {
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
pub(crate) fn key(e: &Expr) -> (u8, String) {
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

pub(crate) fn cmp_key(a: &Expr, b: &Expr) -> Ordering {
    key(a).cmp(&key(b))
}

/// Split a term into its numeric coefficient and the rest.
pub(crate) fn coefficient(e: Expr) -> (f64, Expr) {
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
pub(crate) fn distribute(t: &Expr) -> Option<Vec<Expr>> {
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

pub(crate) fn term_count(e: &Expr) -> usize {
    match e {
        Expr::Sum(t) => t.len(),
        Expr::Num(v) if *v == 0.0 => 0,
        _ => 1,
    }
}

/// A sum in canonical form; products with a sum factor are multiplied out when that leaves
/// fewer terms (`1/λ + (k − 1)/λ = k/λ`), and kept factored otherwise (`(x − μ)²/σ³`).
pub(crate) fn simplify_sum(terms: Vec<Expr>) -> Expr {
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

pub(crate) fn collect_sum(terms: Vec<Expr>) -> Expr {
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

pub(crate) fn simplify_prod(factors: Vec<Expr>) -> Expr {
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

pub(crate) fn is_integer(v: f64) -> bool {
    v.fract() == 0.0 && v.abs() <= 64.0
}

pub(crate) fn simplify_pow(base: Expr, exponent: Expr) -> Expr {
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

pub(crate) fn simplify_call(f: Func, arg: Expr) -> Expr {
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
