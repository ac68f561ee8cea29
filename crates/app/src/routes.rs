//! Curvature routes by kind: what `fisherlab curvature --kind` (Python's `kind=`) and the options
//! that qualify it choose, as one [`Route`].

use crate::{Choice, Error, checks, choice};
use fisherlab_fisher::curvature::{
    Approximation, KfacApprox, Kind, KindLabels, KindOptions, Labels, ScaleShiftBlock, kind, kinds,
};

choice! {
    /// How K-FAC factors layers shared over locations (convolutions, Linear layers over
    /// positions).
    pub enum KfacApproxArg ("kfac_approx") {
        Expand = "expand": "Every output location an independent sample (KFC, Grosse & Martens 2016).",
        Reduce = "reduce": "Locations reduced first: mean of the patches, sum of the output gradients (Eschenhagen et al. 2023).",
    }
}

impl From<KfacApproxArg> for KfacApprox {
    fn from(a: KfacApproxArg) -> Self {
        match a {
            KfacApproxArg::Expand => KfacApprox::Expand,
            KfacApproxArg::Reduce => KfacApprox::Reduce,
        }
    }
}

choice! {
    /// How K-FAC and EKFAC keep normalisation layers' scale and shift (no Kronecker structure).
    pub enum NormBlockArg ("norm_block") {
        Diagonal = "diagonal": "The exact diagonal of the block.",
        Dense = "dense": "The exact dense block.",
    }
}

impl From<NormBlockArg> for ScaleShiftBlock {
    fn from(a: NormBlockArg) -> Self {
        match a {
            NormBlockArg::Diagonal => ScaleShiftBlock::Diagonal,
            NormBlockArg::Dense => ScaleShiftBlock::Dense,
        }
    }
}

/// Which matrix (`--kind`): a kind of the one registry of approximations
/// ([`fisherlab_fisher::curvature::kinds`]), or the Hessian, which is no Fisher route.
#[derive(Debug, Clone, Copy)]
pub enum KindArg {
    /// A Fisher route of the registry.
    Fisher(&'static Kind),
    /// Hessian of the mean negative log-likelihood at the observed targets.
    Hessian,
}

/// The help of `--kind hessian`.
pub const HESSIAN_ABOUT: &str =
    "Hessian of the mean negative log-likelihood at the observed --targets";

impl KindArg {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            KindArg::Fisher(k) => k.name,
            KindArg::Hessian => "hessian",
        }
    }
    /// The kind called `name`.
    ///
    /// # Errors
    /// An unknown name, with every name.
    pub fn from_name(name: &str) -> Result<Self, Error> {
        match name {
            "hessian" => Ok(KindArg::Hessian),
            _ => kind(name).map(KindArg::Fisher).ok_or_else(|| {
                Error::Input(format!(
                    "unknown kind `{name}`: one of {}",
                    KindArg::names().join(", ")
                ))
            }),
        }
    }
    /// Every name, the registry's in its order with `hessian` after the dense Fishers.
    pub fn names() -> Vec<&'static str> {
        let mut names: Vec<&str> = kinds().iter().map(|k| k.name).collect();
        let at = names
            .iter()
            .position(|n| *n == "empirical")
            .map_or(0, |i| i + 1);
        names.insert(at, "hessian");
        names
    }
    /// Its one-line help.
    pub fn about(self) -> &'static str {
        self.fisher().map_or(HESSIAN_ABOUT, |k| k.about)
    }
    /// The registry's kind, `None` for the Hessian.
    pub fn fisher(self) -> Option<&'static Kind> {
        match self {
            KindArg::Fisher(k) => Some(k),
            KindArg::Hessian => None,
        }
    }
}

impl PartialEq for KindArg {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl serde::Serialize for KindArg {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// `kfac_type`: which Fisher a structured approximation approximates, by its one name
/// ([`Labels::NAMES`]), `mc` with `mc_samples` labels per input and `seed`.
///
/// # Errors
/// An unknown name, with every name.
pub fn labels(name: &str, mc_samples: usize, seed: u64) -> Result<Labels, Error> {
    Labels::from_name(name, mc_samples, seed).map_err(|_| {
        Error::Input(format!(
            "unknown kfac_type `{name}`: one of {}",
            Labels::NAMES.join(", ")
        ))
    })
}

/// Which route, with its settings: what `--kind` and the flags that qualify it choose.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// `--kind`.
    pub kind: KindArg,
    /// Which Fisher (`--kfac-type`), with `mc`'s samples and seed.
    pub labels: Labels,
    /// `--kfac-approx`.
    pub kfac_approx: KfacApproxArg,
    /// `--norm-block`.
    pub norm_block: NormBlockArg,
    /// `--mc-samples` (≥ 1).
    pub mc_samples: usize,
    /// `--seed`.
    pub seed: u64,
    /// `--rank` (default [`DEFAULT_RANK`] capped at the parameter count).
    pub rank: Option<usize>,
    /// `--randomized`.
    pub randomized: bool,
}

/// Default `--rank`.
pub const DEFAULT_RANK: usize = 10;

/// The settings of a route by their names, as a front end receives them.
pub struct RouteSpec<'a> {
    /// `--kind`: `hessian` or a kind of the registry.
    pub kind: &'a str,
    /// `--kfac-type`: type2, mc, empirical.
    pub kfac_type: &'a str,
    /// `--kfac-approx`: expand, reduce.
    pub kfac_approx: &'a str,
    /// `--norm-block`: diagonal, dense.
    pub norm_block: &'a str,
    /// `--mc-samples` (≥ 1).
    pub mc_samples: usize,
    /// `--seed`.
    pub seed: u64,
    /// `--rank` (default min(10, P)).
    pub rank: Option<usize>,
    /// `--randomized`.
    pub randomized: bool,
}

impl Route {
    /// Default `--kfac-type` of `curvature`.
    pub const KFAC_TYPE: &'static str = "type2";
    /// Default `--kfac-approx`.
    pub const KFAC_APPROX: KfacApproxArg = KfacApproxArg::Expand;
    /// Default `--norm-block`.
    pub const NORM_BLOCK: NormBlockArg = NormBlockArg::Diagonal;
    /// Default `--mc-samples`.
    pub const MC_SAMPLES: usize = 1;

    /// The route `spec` names, checked.
    ///
    /// # Errors
    /// A name that is not one of its values, `mc_samples` = 0.
    pub fn from_spec(spec: &RouteSpec<'_>) -> Result<Route, Error> {
        checks::at_least(1, &[("mc-samples", spec.mc_samples)])?;
        Ok(Route {
            kind: KindArg::from_name(spec.kind)?,
            labels: labels(spec.kfac_type, spec.mc_samples, spec.seed)?,
            kfac_approx: KfacApproxArg::from_name(spec.kfac_approx)?,
            norm_block: NormBlockArg::from_name(spec.norm_block)?,
            mc_samples: spec.mc_samples,
            seed: spec.seed,
            rank: spec.rank,
            randomized: spec.randomized,
        })
    }

    /// Where the labels of diag, block-diag, kfac and ekfac come from.
    pub fn labels(&self) -> Labels {
        self.labels
    }

    /// The rank `--kind low-rank` uses: `--rank`, else 10 capped at the parameter count `p`.
    pub fn rank(&self, p: usize) -> usize {
        self.rank.unwrap_or(DEFAULT_RANK.min(p))
    }

    /// The registry's options of this route for `p` parameters.
    pub fn options(&self, p: usize) -> KindOptions {
        KindOptions {
            labels: self.labels,
            mc_samples: self.mc_samples,
            seed: self.seed,
            approx: self.kfac_approx.into(),
            norm_block: self.norm_block.into(),
            rank: self.rank(p),
            randomized: self.randomized,
        }
    }

    /// Whether the route needs observed targets.
    pub fn needs_targets(&self) -> bool {
        match self.kind {
            KindArg::Fisher(k) => k.needs_targets(&self.options(0)),
            KindArg::Hessian => true,
        }
    }

    /// The input error of a route that needs targets and was given none.
    pub fn missing_targets(&self) -> Error {
        let chosen = self
            .kind
            .fisher()
            .is_some_and(|k| k.labels == KindLabels::Chosen);
        Error::Input(format!(
            "--kind {}{} needs --targets (observed labels)",
            self.kind.name(),
            if chosen {
                " with --kfac-type empirical"
            } else {
                ""
            }
        ))
    }

    /// The approximation for `p` parameters; `None` for the Hessian, which is no Fisher route
    /// (see [`fisherlab_fisher::model::hessian_of_mean_nll`]).
    pub fn approximation(&self, p: usize) -> Option<Box<dyn Approximation>> {
        self.kind
            .fisher()
            .map(|k| k.approximation(&self.options(p)))
    }
}
