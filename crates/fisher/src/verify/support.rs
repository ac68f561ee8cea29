//! Where the data variable lives: the five supports and how each maps to the integration
//! variable.

use super::*;

/// Where the data variable lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymSupport {
    /// ℝ.
    Real,
    /// `(0, ∞)`.
    Positive,
    /// `(0, 1)`.
    Unit,
    /// `0, 1, 2, …`.
    NonNegInt,
    /// `lo, lo + 1, …, hi` with `lo ≤ hi`.
    Int(i64, i64),
}

impl SymSupport {
    /// Parse `real`, `positive`, `unit`, `nonneg-int` or `int:A..B`.
    ///
    /// # Errors
    /// Any other text, or `A > B`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |rule: &'static str| Error::InvalidOption {
            name: "support",
            value: text.to_string(),
            rule,
        };
        Ok(match text {
            "real" => SymSupport::Real,
            "positive" => SymSupport::Positive,
            "unit" => SymSupport::Unit,
            "nonneg-int" => SymSupport::NonNegInt,
            _ => {
                let range = text
                    .strip_prefix("int:")
                    .ok_or(bad("must be real, positive, unit, nonneg-int or int:A..B"))?;
                let (a, b) = range
                    .split_once("..")
                    .ok_or(bad("int:A..B needs two integers, e.g. int:0..10"))?;
                let a: i64 = a
                    .trim()
                    .parse()
                    .map_err(|_| bad("A in int:A..B must be an integer"))?;
                let b: i64 = b
                    .trim()
                    .parse()
                    .map_err(|_| bad("B in int:A..B must be an integer >= A"))?;
                if a > b {
                    return Err(bad("int:A..B needs A <= B"));
                }
                SymSupport::Int(a, b)
            }
        })
    }
    pub(super) fn support(self) -> Support {
        match self {
            SymSupport::Real => Support::Real,
            SymSupport::Positive => Support::Positive,
            SymSupport::Unit => Support::UnitInterval,
            SymSupport::NonNegInt => Support::Counts {
                lower: 0,
                upper: None,
            },
            // counted from 0: observation k stands for a + k (see `offset`)
            SymSupport::Int(a, b) => Support::Counts {
                lower: 0,
                upper: Some(b.abs_diff(a)),
            },
        }
    }
    /// The value of the data variable at count 0 of the family's own support.
    pub(super) fn offset(self) -> f64 {
        match self {
            SymSupport::Int(a, _) => a as f64,
            _ => 0.0,
        }
    }
    pub(super) fn discrete(self) -> bool {
        matches!(self, SymSupport::NonNegInt | SymSupport::Int(..))
    }
    /// The integration variable `t` ↦ observation `x`, and `log |dx/dt|`.
    pub(super) fn observation_at(self, t: f64) -> (f64, f64) {
        match self {
            SymSupport::Positive => (t.exp(), t),
            SymSupport::Unit => {
                let x = 1.0 / (1.0 + (-t).exp());
                (x, (x * (1.0 - x)).ln())
            }
            _ => (t, 0.0),
        }
    }
}

impl SymSupport {
    /// As written on the command line.
    pub fn describe(&self) -> String {
        match self {
            SymSupport::Real => "real".into(),
            SymSupport::Positive => "positive".into(),
            SymSupport::Unit => "unit".into(),
            SymSupport::NonNegInt => "nonneg-int".into(),
            SymSupport::Int(a, b) => format!("int:{a}..{b}"),
        }
    }
}
