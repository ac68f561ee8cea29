//! Families by name, as on the command line (workspace convention 6).
//!
//! [`build`] turns a family name, an optional parameterisation and `name = value` pairs into a
//! boxed [`ScoreFn`]; [`FAMILIES`] lists what exists.
//!
//! # Examples
//! ```
//! use fisherlab_distributions::registry::build;
//! let f = build("gamma", None, &[("shape".into(), 2.0), ("rate".into(), 3.0)]).unwrap();
//! assert_eq!(f.param_names(), ["shape", "rate"]);
//! let err = build("gamma", None, &[("shape".into(), -2.0), ("rate".into(), 3.0)]).unwrap_err();
//! assert_eq!(err.to_string(), "gamma: parameter shape = -2 is invalid: must be > 0");
//! ```

use crate::continuous::*;
use crate::discrete::*;
use crate::multivariate::*;
use crate::parameterizations::*;
use crate::{Error, LogDensity, ParamMap, Reparameterized, Result, ScoreFn};
use nalgebra::DMatrix;

/// A family as listed by `fisherlab families`.
#[derive(Debug, Clone, Copy)]
pub struct FamilyEntry {
    /// Name on the command line.
    pub name: &'static str,
    /// Coordinates of the canonical parameterisation, in Fisher row order.
    pub params: &'static str,
    /// Fixed parameters (inputs, not coordinates).
    pub fixed: &'static str,
    /// Named alternative parameterisations.
    pub parameterizations: &'static [&'static str],
    /// A valid example, as `--param` values.
    pub example: &'static str,
}

/// Every family, in the order of the workspace conventions.
pub const FAMILIES: &[FamilyEntry] = &[
    FamilyEntry {
        name: "normal",
        params: "mu, sigma",
        fixed: "",
        parameterizations: &["mu_log_sigma", "mu_variance", "natural"],
        example: "mu=0 sigma=1",
    },
    FamilyEntry {
        name: "lognormal",
        params: "mu, sigma",
        fixed: "",
        parameterizations: &["mu_log_sigma"],
        example: "mu=0 sigma=0.5",
    },
    FamilyEntry {
        name: "exponential",
        params: "rate",
        fixed: "",
        parameterizations: &["scale"],
        example: "rate=2",
    },
    FamilyEntry {
        name: "gamma",
        params: "shape, rate",
        fixed: "",
        parameterizations: &["shape_scale"],
        example: "shape=2.5 rate=1.5",
    },
    FamilyEntry {
        name: "beta",
        params: "alpha, beta",
        fixed: "",
        parameterizations: &[],
        example: "alpha=2 beta=3",
    },
    FamilyEntry {
        name: "laplace",
        params: "loc, scale",
        fixed: "",
        parameterizations: &[],
        example: "loc=0 scale=1",
    },
    FamilyEntry {
        name: "cauchy",
        params: "loc, scale",
        fixed: "",
        parameterizations: &[],
        example: "loc=0 scale=1",
    },
    FamilyEntry {
        name: "student_t",
        params: "loc, scale",
        fixed: "df",
        parameterizations: &[],
        example: "loc=0 scale=1 df=4",
    },
    FamilyEntry {
        name: "logistic",
        params: "loc, scale",
        fixed: "",
        parameterizations: &[],
        example: "loc=0 scale=1",
    },
    FamilyEntry {
        name: "gumbel",
        params: "loc, scale",
        fixed: "",
        parameterizations: &[],
        example: "loc=0 scale=1",
    },
    FamilyEntry {
        name: "weibull",
        params: "shape, scale",
        fixed: "",
        parameterizations: &[],
        example: "shape=1.5 scale=2",
    },
    FamilyEntry {
        name: "von_mises",
        params: "mu, kappa",
        fixed: "",
        parameterizations: &[],
        example: "mu=0 kappa=2",
    },
    FamilyEntry {
        name: "poisson",
        params: "rate",
        fixed: "",
        parameterizations: &["log_rate"],
        example: "rate=3",
    },
    FamilyEntry {
        name: "bernoulli",
        params: "p",
        fixed: "",
        parameterizations: &["logit"],
        example: "p=0.3",
    },
    FamilyEntry {
        name: "binomial",
        params: "p",
        fixed: "n",
        parameterizations: &["logit"],
        example: "p=0.3 n=10",
    },
    FamilyEntry {
        name: "geometric",
        params: "p (support 1, 2, ...)",
        fixed: "",
        parameterizations: &[],
        example: "p=0.4",
    },
    FamilyEntry {
        name: "negative_binomial",
        params: "p (counts failures before the r-th success)",
        fixed: "r",
        parameterizations: &[],
        example: "p=0.4 r=3",
    },
    FamilyEntry {
        name: "categorical",
        params: "p1..pK (given all K, summing to 1; coordinates p1..p(K-1))",
        fixed: "",
        parameterizations: &["logits"],
        example: "p1=0.2 p2=0.3 p3=0.5",
    },
    FamilyEntry {
        name: "dirichlet",
        params: "alpha1..alphaK",
        fixed: "",
        parameterizations: &[],
        example: "alpha1=1 alpha2=2 alpha3=3",
    },
    FamilyEntry {
        name: "multivariate_normal",
        params: "mean1..meand, cov11, cov12, ..., covdd (i <= j)",
        fixed: "",
        parameterizations: &[],
        example: "mean1=0 mean2=0 cov11=1 cov12=0.5 cov22=2",
    },
];

/// Look a family up by name.
///
/// # Errors
/// [`Error::UnknownFamily`] listing the known names.
pub fn entry(name: &str) -> Result<&'static FamilyEntry> {
    FAMILIES
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| Error::UnknownFamily {
            name: name.to_string(),
            known: FAMILIES
                .iter()
                .map(|e| e.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// `name = value` pairs, consumed by name so that leftovers are reported.
struct Values<'a> {
    family: &'static str,
    given: Vec<(&'a str, f64, bool)>,
    expected: String,
}

impl<'a> Values<'a> {
    fn new(family: &'static str, values: &'a [(String, f64)], expected: String) -> Result<Self> {
        let mut given: Vec<(&str, f64, bool)> = Vec::new();
        for (n, v) in values {
            if given.iter().any(|(m, _, _)| m == n) {
                return Err(Error::InvalidStructure {
                    family,
                    what: format!("parameter `{n}` given twice"),
                });
            }
            given.push((n.as_str(), *v, false));
        }
        Ok(Self {
            family,
            given,
            expected,
        })
    }
    fn take(&mut self, name: &str) -> Result<f64> {
        match self.given.iter_mut().find(|(n, _, _)| *n == name) {
            Some((_, v, used)) => {
                *used = true;
                Ok(*v)
            }
            None => Err(Error::MissingParameter {
                family: self.family,
                name: name.to_string(),
                expected: self.expected.clone(),
            }),
        }
    }
    /// `prefix1, prefix2, …` as long as they are given (at least `min`).
    fn take_indexed(&mut self, prefix: &str, min: usize) -> Result<Vec<f64>> {
        let mut out = Vec::new();
        loop {
            let name = format!("{prefix}{}", out.len() + 1);
            if !self.given.iter().any(|(n, _, _)| *n == name) {
                break;
            }
            out.push(self.take(&name)?);
        }
        if out.len() < min {
            return Err(Error::MissingParameter {
                family: self.family,
                name: format!("{prefix}{}", out.len() + 1),
                expected: self.expected.clone(),
            });
        }
        Ok(out)
    }
    /// A fixed parameter that must be a positive integer.
    fn take_count(&mut self, name: &str) -> Result<u64> {
        let v = self.take(name)?;
        if v.is_finite() && v >= 1.0 && v.fract().abs() < f64::MIN_POSITIVE && v < 9.0e15 {
            Ok(v as u64)
        } else {
            Err(Error::InvalidParameter {
                family: self.family,
                name: name.to_string(),
                value: v,
                rule: "must be an integer >= 1",
            })
        }
    }
    fn finish(self) -> Result<()> {
        match self.given.iter().find(|(_, _, used)| !used) {
            Some((n, _, _)) => Err(Error::UnknownParameter {
                family: self.family,
                name: n.to_string(),
                expected: self.expected,
            }),
            None => Ok(()),
        }
    }
}

fn boxed<F: LogDensity + Clone + 'static>(f: F) -> Box<dyn ScoreFn> {
    Box::new(f)
}

fn reparam<F, M>(template: F, map: M, phi: Vec<f64>) -> Result<Box<dyn ScoreFn>>
where
    F: LogDensity + Clone + 'static,
    M: ParamMap<F> + 'static,
{
    Ok(Box::new(Reparameterized::new(&template, map, phi)?))
}

/// Build a family from its name, an optional named parameterisation and `name = value` pairs
/// (fixed parameters such as `df`, `n`, `r` among them).
///
/// # Errors
/// Unknown family, parameterisation or parameter; a missing parameter; an invalid value.
pub fn build(
    family: &str,
    parameterization: Option<&str>,
    values: &[(String, f64)],
) -> Result<Box<dyn ScoreFn>> {
    let e = entry(family)?;
    let param = parameterization.filter(|p| *p != "canonical");
    if let Some(p) = param
        && !e.parameterizations.contains(&p)
    {
        let mut known = vec!["canonical"];
        known.extend(e.parameterizations);
        return Err(Error::UnknownParameterization {
            family: e.name,
            name: p.to_string(),
            known: known.join(", "),
        });
    }
    let expected = match param {
        None => {
            let mut s = e.params.to_string();
            if !e.fixed.is_empty() {
                s += &format!("; fixed: {}", e.fixed);
            }
            s
        }
        Some(p) => format!("coordinates of parameterization {p} (see `fisherlab families`)"),
    };
    let mut v = Values::new(e.name, values, expected)?;
    let out = match (e.name, param) {
        ("normal", None) => boxed(Normal::new(v.take("mu")?, v.take("sigma")?)?),
        ("normal", Some("mu_log_sigma")) => {
            let phi = vec![v.take("mu")?, v.take("log_sigma")?];
            reparam(Normal::new(0.0, 1.0)?, MuLogSigma, phi)?
        }
        ("normal", Some("mu_variance")) => {
            let phi = vec![v.take("mu")?, v.take("variance")?];
            reparam(Normal::new(0.0, 1.0)?, MuVariance, phi)?
        }
        ("normal", Some("natural")) => {
            let phi = vec![v.take("eta1")?, v.take("eta2")?];
            reparam(Normal::new(0.0, 1.0)?, Natural, phi)?
        }
        ("lognormal", None) => boxed(LogNormal::new(v.take("mu")?, v.take("sigma")?)?),
        ("lognormal", Some(_)) => {
            let phi = vec![v.take("mu")?, v.take("log_sigma")?];
            reparam(LogNormal::new(0.0, 1.0)?, MuLogSigma, phi)?
        }
        ("exponential", None) => boxed(Exponential::new(v.take("rate")?)?),
        ("exponential", Some(_)) => reparam(Exponential::new(1.0)?, Scale, vec![v.take("scale")?])?,
        ("gamma", None) => boxed(Gamma::new(v.take("shape")?, v.take("rate")?)?),
        ("gamma", Some(_)) => {
            let phi = vec![v.take("shape")?, v.take("scale")?];
            reparam(Gamma::new(1.0, 1.0)?, ShapeScale, phi)?
        }
        ("beta", _) => boxed(Beta::new(v.take("alpha")?, v.take("beta")?)?),
        ("laplace", _) => boxed(Laplace::new(v.take("loc")?, v.take("scale")?)?),
        ("cauchy", _) => boxed(Cauchy::new(v.take("loc")?, v.take("scale")?)?),
        ("student_t", _) => boxed(StudentT::new(
            v.take("loc")?,
            v.take("scale")?,
            v.take("df")?,
        )?),
        ("logistic", _) => boxed(Logistic::new(v.take("loc")?, v.take("scale")?)?),
        ("gumbel", _) => boxed(Gumbel::new(v.take("loc")?, v.take("scale")?)?),
        ("weibull", _) => boxed(Weibull::new(v.take("shape")?, v.take("scale")?)?),
        ("von_mises", _) => boxed(VonMises::new(v.take("mu")?, v.take("kappa")?)?),
        ("poisson", None) => boxed(Poisson::new(v.take("rate")?)?),
        ("poisson", Some(_)) => reparam(Poisson::new(1.0)?, LogRate, vec![v.take("log_rate")?])?,
        ("bernoulli", None) => boxed(Bernoulli::new(v.take("p")?)?),
        ("bernoulli", Some(_)) => reparam(Bernoulli::new(0.5)?, Logit, vec![v.take("logit")?])?,
        ("binomial", None) => {
            let p = v.take("p")?;
            boxed(Binomial::new(p, v.take_count("n")?)?)
        }
        ("binomial", Some(_)) => {
            let phi = vec![v.take("logit")?];
            reparam(Binomial::new(0.5, v.take_count("n")?)?, Logit, phi)?
        }
        ("geometric", _) => boxed(Geometric::new(v.take("p")?)?),
        ("negative_binomial", _) => boxed(NegativeBinomial::new(v.take("p")?, v.take("r")?)?),
        ("categorical", None) => boxed(Categorical::new(v.take_indexed("p", 2)?)?),
        ("categorical", Some(_)) => {
            let phi = v.take_indexed("logit", 2)?;
            let k = phi.len();
            reparam(Categorical::new(vec![1.0 / k as f64; k])?, Logits, phi)?
        }
        ("dirichlet", _) => boxed(Dirichlet::new(v.take_indexed("alpha", 2)?)?),
        ("multivariate_normal", _) => {
            let mean = v.take_indexed("mean", 1)?;
            let d = mean.len();
            let mut cov = DMatrix::zeros(d, d);
            let names = crate::multivariate::cov_names_for(d);
            let mut idx = 0;
            for i in 0..d {
                for j in i..d {
                    let c = v.take(&names[idx])?;
                    cov[(i, j)] = c;
                    cov[(j, i)] = c;
                    idx += 1;
                }
            }
            boxed(MultivariateNormal::new(mean, cov)?)
        }
        _ => unreachable!("every family in FAMILIES has a builder"),
    };
    v.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_family_builds_from_its_example() {
        for e in FAMILIES {
            let vals: Vec<(String, f64)> = e
                .example
                .split_whitespace()
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap();
                    (k.to_string(), v.parse().unwrap())
                })
                .collect();
            let f = build(e.name, None, &vals).unwrap_or_else(|err| panic!("{}: {err}", e.name));
            assert_eq!(f.name(), e.name);
            assert_eq!(f.fisher().nrows(), f.param_names().len());
        }
    }

    #[test]
    fn errors_name_the_bad_input() {
        let v = |s: &[(&str, f64)]| {
            s.iter()
                .map(|(k, x)| (k.to_string(), *x))
                .collect::<Vec<_>>()
        };
        let e = build("normall", None, &v(&[])).unwrap_err();
        assert!(matches!(e, Error::UnknownFamily { .. }));
        let e = build("normal", None, &v(&[("mu", 0.0)])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "normal: missing parameter `sigma` (expected: mu, sigma)"
        );
        let e = build(
            "normal",
            None,
            &v(&[("mu", 0.0), ("sigma", 1.0), ("tau", 1.0)]),
        )
        .unwrap_err();
        assert!(matches!(e, Error::UnknownParameter { ref name, .. } if name == "tau"));
        let e = build("normal", Some("polar"), &v(&[])).unwrap_err();
        assert!(matches!(e, Error::UnknownParameterization { .. }));
        let e = build("binomial", None, &v(&[("p", 0.5), ("n", 2.5)])).unwrap_err();
        assert!(e.to_string().contains("integer"));
        let e = build("categorical", None, &v(&[("p1", 0.5), ("p2", 0.6)])).unwrap_err();
        assert!(e.to_string().contains("sum to"));
        let e = build(
            "normal",
            Some("natural"),
            &v(&[("eta1", 0.0), ("eta2", 0.5)]),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "normal: parameter eta2 = 0.5 is invalid: must be < 0"
        );
        let cov_not_spd = v(&[
            ("mean1", 0.0),
            ("mean2", 0.0),
            ("cov11", 1.0),
            ("cov12", 2.0),
            ("cov22", 1.0),
        ]);
        let e = build("multivariate_normal", None, &cov_not_spd).unwrap_err();
        assert!(e.to_string().contains("not positive definite"));
    }
}
