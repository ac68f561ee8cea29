//! Option checks shared by the subcommands: each names the first bad value and the rule it
//! breaks, as one line (`--steps 0 is invalid: must be >= 1`).

use crate::Error;
use std::fmt::Display;

/// The input error for `--flag value` breaking `rule`.
pub fn bad(flag: &str, value: impl Display, rule: &str) -> Error {
    Error::Input(format!("--{flag} {value} is invalid: {rule}"))
}

/// Counts that must be at least `min`.
pub fn at_least(min: usize, flags: &[(&str, usize)]) -> Result<(), Error> {
    match flags.iter().find(|(_, v)| *v < min) {
        Some((flag, v)) => Err(bad(flag, v, &format!("must be >= {min}"))),
        None => Ok(()),
    }
}

/// Values that, when given, must be finite and > 0.
pub fn positive(flags: &[(&str, Option<f64>)]) -> Result<(), Error> {
    for (flag, v) in flags {
        if let Some(v) = v
            && !(v.is_finite() && *v > 0.0)
        {
            return Err(bad(flag, v, "must be finite and > 0"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_bad_value_is_named_with_its_rule() {
        let msg = |r: Result<(), Error>| r.unwrap_err().to_string();
        assert_eq!(
            msg(at_least(1, &[("steps", 3), ("batch", 0), ("rank", 0)])),
            "--batch 0 is invalid: must be >= 1"
        );
        assert_eq!(
            msg(at_least(2, &[("samples", 1)])),
            "--samples 1 is invalid: must be >= 2"
        );
        assert!(at_least(1, &[("steps", 1)]).is_ok());
        assert_eq!(
            msg(positive(&[("lr", None), ("sigma", Some(-0.5))])),
            "--sigma -0.5 is invalid: must be finite and > 0"
        );
        assert_eq!(
            msg(positive(&[("lambda", Some(f64::NAN))])),
            "--lambda NaN is invalid: must be finite and > 0"
        );
        assert!(positive(&[("lr", None), ("tol", Some(1e-6))]).is_ok());
    }
}

/// How much of each spectrum to keep: `Some(k)` the k largest eigenvalues, `None` all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spectrum(pub Option<usize>);

/// As on the command line: the count, or "all".
impl serde::Serialize for Spectrum {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(k) => s.serialize_u64(k as u64),
            None => s.serialize_str("all"),
        }
    }
}

/// `--spectrum K|all`.
pub fn spectrum_arg(s: &str) -> Result<Spectrum, String> {
    if s == "all" {
        return Ok(Spectrum(None));
    }
    match s.parse::<usize>() {
        Ok(k) if k >= 1 => Ok(Spectrum(Some(k))),
        _ => Err(format!(
            "`{s}` is not a count >= 1 or `all` (the K largest eigenvalues, or every one)"
        )),
    }
}
