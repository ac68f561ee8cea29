//! Reparameterisation: a family in new coordinates φ through a smooth map φ ↦ θ.

use crate::{DualNum, Error, Family, FisherRng, LogDensity, Result, Support};
use nalgebra::DMatrix;

/// A smooth map from new coordinates φ to a family's canonical coordinates θ, written once over
/// [`DualNum`] so that its Jacobian comes from autodiff.
///
/// Implement [`to_base`](ParamMap::to_base) and [`names`](ParamMap::names); give
/// [`closed_form`](ParamMap::closed_form) when the Fisher matrix in φ is known independently (the
/// tests then hold it against the pull-back `Jᵀ F_θ J`).
///
/// # Examples
///
/// A user-defined map: the normal in `(mu, precision)` coordinates.
///
/// ```
/// use fisherlab_distributions::{continuous::Normal, DualNum, Family, ParamMap, Reparameterized};
///
/// #[derive(Clone)]
/// struct Precision;
/// impl ParamMap<Normal> for Precision {
///     fn name(&self) -> &'static str { "mu_precision" }
///     fn names(&self, _: &Normal) -> Vec<String> { vec!["mu".into(), "tau".into()] }
///     fn to_base<D: DualNum<Primitive = f64> + Copy>(&self, phi: &[D], theta: &mut Vec<D>) {
///         theta.push(phi[0]);
///         theta.push(phi[1].powf(-0.5)); // sigma = tau^(-1/2)
///     }
/// }
/// let template = Normal::new(0.0, 1.0).unwrap();
/// let r = Reparameterized::new(&template, Precision, vec![0.0, 4.0]).unwrap();
/// // F_ττ = 1/(2τ²) = 1/32, F_μμ = τ = 4
/// let f = r.fisher();
/// assert!((f[(0, 0)] - 4.0).abs() < 1e-12 && (f[(1, 1)] - 1.0 / 32.0).abs() < 1e-14);
/// ```
pub trait ParamMap<F: LogDensity>: Clone + Send + Sync {
    /// Name of the parameterisation, e.g. `"mu_log_sigma"`.
    fn name(&self) -> &'static str;
    /// Names of the new coordinates (may depend on the family's dimension).
    fn names(&self, base: &F) -> Vec<String>;
    /// Push θ(φ) onto `theta` (which arrives empty).
    fn to_base<D: DualNum<Primitive = f64> + Copy>(&self, phi: &[D], theta: &mut Vec<D>);
    /// φ(θ), if the map has an inverse.
    fn inverse(&self, _theta: &[f64]) -> Option<Vec<f64>> {
        None
    }
    /// Rules on φ itself, checked before mapping (so errors name the user's coordinate).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the coordinate and the rule.
    fn validate(&self, _base: &F, _phi: &[f64]) -> Result<()> {
        Ok(())
    }
    /// The Fisher matrix in φ, in closed form, when known.
    fn closed_form(&self, _base: &F, _phi: &[f64]) -> Option<DMatrix<f64>> {
        None
    }
}

/// A family expressed in new coordinates φ, with `θ = map(φ)`.
#[derive(Debug, Clone)]
pub struct Reparameterized<F, M> {
    base: F,
    map: M,
    phi: Vec<f64>,
    names: Vec<String>,
}

impl<F: LogDensity + Clone, M: ParamMap<F>> Reparameterized<F, M> {
    /// The family `template` (its fixed parameters, e.g. `df`) at new coordinates `phi`.
    ///
    /// # Errors
    /// Wrong number of coordinates, non-finite values, a rule of the map, or a rule of the family
    /// broken by θ(φ).
    pub fn new(template: &F, map: M, phi: Vec<f64>) -> Result<Self> {
        let names = map.names(template);
        if names.len() != phi.len() {
            return Err(Error::WrongLength {
                family: template.name(),
                expected: names.len(),
                got: phi.len(),
            });
        }
        for (n, &v) in names.iter().zip(&phi) {
            crate::check(template.name(), n, v, true, "must be finite")?;
        }
        map.validate(template, &phi)?;
        let mut theta = Vec::new();
        map.to_base(&phi, &mut theta);
        let base = template.with_params(&theta)?;
        Ok(Self {
            base,
            map,
            phi,
            names,
        })
    }

    /// The family in new coordinates at the point that corresponds to `base`'s θ.
    ///
    /// # Errors
    /// When the map has no inverse, or as [`new`](Self::new).
    pub fn at_base(base: &F, map: M) -> Result<Self> {
        let phi = map
            .inverse(&base.params())
            .ok_or_else(|| Error::InvalidStructure {
                family: base.name(),
                what: format!("parameterization {} has no inverse map", map.name()),
            })?;
        Self::new(base, map, phi)
    }

    /// The underlying family at θ(φ).
    pub fn base(&self) -> &F {
        &self.base
    }

    /// Jacobian `J = ∂θ/∂φ` at the stored φ (rows: θ, columns: φ).
    pub fn jacobian(&self) -> DMatrix<f64> {
        fisherlab_autodiff::jacobian(&MapFn(&self.map, std::marker::PhantomData), &self.phi).1
    }

    /// The pull-back `Jᵀ F_θ J` of the base family's closed-form Fisher, whatever the map.
    pub fn fisher_pullback(&self) -> DMatrix<f64> {
        let j = self.jacobian();
        j.transpose() * self.base.fisher() * j
    }

    /// The map's own closed form in φ, if it has one.
    pub fn fisher_closed_form(&self) -> Option<DMatrix<f64>> {
        self.map.closed_form(&self.base, &self.phi)
    }
}

struct MapFn<'a, F, M>(&'a M, std::marker::PhantomData<F>);

impl<F: LogDensity, M: ParamMap<F>> fisherlab_autodiff::VectorFn for MapFn<'_, F, M> {
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D], out: &mut Vec<D>) {
        self.0.to_base(x, out);
    }
}

impl<F: LogDensity + Clone, M: ParamMap<F>> Family for Reparameterized<F, M> {
    fn name(&self) -> &'static str {
        self.base.name()
    }
    fn parameterization(&self) -> &'static str {
        self.map.name()
    }
    fn param_names(&self) -> Vec<String> {
        self.names.clone()
    }
    fn params(&self) -> Vec<f64> {
        self.phi.clone()
    }
    fn fixed(&self) -> Vec<(&'static str, f64)> {
        self.base.fixed()
    }
    fn obs_dim(&self) -> usize {
        self.base.obs_dim()
    }
    fn support(&self) -> Support {
        self.base.support()
    }
    fn sample_into(&self, rng: &mut FisherRng, out: &mut [f64]) {
        self.base.sample_into(rng, out)
    }
    /// The map's closed form when it has one, else the pull-back `Jᵀ F_θ J`.
    fn fisher(&self) -> DMatrix<f64> {
        self.fisher_closed_form()
            .unwrap_or_else(|| self.fisher_pullback())
    }
    fn hessian_identity_holds(&self) -> bool {
        self.base.hessian_identity_holds()
    }
    fn quadrature_hint(&self) -> Vec<(f64, f64)> {
        self.base.quadrature_hint()
    }
    fn pmf_ratio_bound(&self, k0: u64) -> Option<f64> {
        self.base.pmf_ratio_bound(k0)
    }
    fn gaussian_reference(&self) -> Option<(Vec<f64>, DMatrix<f64>)> {
        self.base.gaussian_reference()
    }
}

impl<F: LogDensity + Clone, M: ParamMap<F>> LogDensity for Reparameterized<F, M> {
    fn log_prob<D: DualNum<Primitive = f64> + Copy>(&self, phi: &[D], x: &[f64]) -> D {
        let mut theta = Vec::with_capacity(phi.len() + 1);
        self.map.to_base(phi, &mut theta);
        self.base.log_prob(&theta, x)
    }
    fn with_params(&self, phi: &[f64]) -> Result<Self> {
        Self::new(&self.base, self.map.clone(), phi.to_vec())
    }
}
