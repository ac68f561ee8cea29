//! Evaluation for any scalar type: `f64`, or dual numbers for automatic derivatives.

use super::*;
use crate::simplify::is_integer;
use fisherlab_autodiff::special::{digamma, lgamma, lift, polygamma, trigamma};

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
