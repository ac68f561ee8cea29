//! One registry of the approximations. Every `--kind` of `fisherlab curvature` (and the Python
//! package's `kind=`), every entry of `fisherlab compare`'s [`catalogue`], the memory refusals'
//! list of routes that fit and the docs' tables read [`kinds`]: a new approximation is one
//! [`Kind`] here, with the catalogue entries it contributes.

use super::{
    Approximation, BlockDiagonalFisher, DenseFisher, DiagonalFisher, Ekfac, Kfac, KfacApprox,
    Labels, LayerIsotropic, LowRank, MatrixFreeFisher, ScaleShiftBlock,
};

/// Where a kind's labels come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindLabels {
    /// Fixed by the kind, by their name (`exact`: type2, `mc`: mc, `empirical`: empirical).
    Fixed(&'static str),
    /// Chosen by [`KindOptions::labels`] (`--kfac-type`).
    Chosen,
    /// None: the route works from exact Fisher-vector products or the exact Fisher.
    Exact,
}

/// What qualifies a kind: the settings `--kfac-type`, `--mc-samples`, `--seed`,
/// `--kfac-approx`, `--norm-block`, `--rank` and `--randomized` give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindOptions {
    /// The labels of the kinds that take them ([`KindLabels::Chosen`]).
    pub labels: Labels,
    /// Labels per input of `mc` (the kind, and the `mc` labels of the others).
    pub mc_samples: usize,
    /// Seed of the Monte-Carlo labels and of the randomized low rank.
    pub seed: u64,
    /// How K-FAC and EKFAC treat layers shared over locations.
    pub approx: KfacApprox,
    /// The block K-FAC and EKFAC keep for normalisation layers.
    pub norm_block: ScaleShiftBlock,
    /// Rank of the low-rank kind.
    pub rank: usize,
    /// The randomized low rank instead of the dense top-k.
    pub randomized: bool,
}

impl Default for KindOptions {
    /// type2, one label per input for mc, seed 0, expand, diagonal normalisation block, rank 20,
    /// dense top-k.
    fn default() -> Self {
        Self {
            labels: Labels::Type2,
            mc_samples: 1,
            seed: 0,
            approx: KfacApprox::Expand,
            norm_block: ScaleShiftBlock::Diagonal,
            rank: 20,
            randomized: false,
        }
    }
}

/// One entry a kind contributes to the [`catalogue`]: a name and the settings that differ from
/// [`KindOptions::default`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntrySpec {
    /// Unique name (`kfac-mc-reduce`), as `fisherlab compare --approximations` takes it.
    pub name: &'static str,
    /// One line: what it keeps of the Fisher.
    pub about: &'static str,
    /// Its labels' name, for a kind whose labels are [`KindLabels::Chosen`] (else type2).
    pub labels: &'static str,
    /// Its treatment of shared layers.
    pub approx: KfacApprox,
    /// The randomized low rank.
    pub randomized: bool,
    /// See [`CatalogueEntry::scales`].
    pub scales: bool,
    /// See [`CatalogueEntry::shared_layers_only`].
    pub shared_layers_only: bool,
}

const fn entry(name: &'static str, about: &'static str, scales: bool) -> EntrySpec {
    EntrySpec {
        name,
        about,
        labels: "type2",
        approx: KfacApprox::Expand,
        randomized: false,
        scales,
        shared_layers_only: false,
    }
}

const fn with_labels(e: EntrySpec, labels: &'static str) -> EntrySpec {
    EntrySpec { labels, ..e }
}

const fn reduce(e: EntrySpec) -> EntrySpec {
    EntrySpec {
        approx: KfacApprox::Reduce,
        shared_layers_only: true,
        ..e
    }
}

/// One route to (an approximation of) the Fisher of a model.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// Its name, as `fisherlab curvature --kind` and Python's `kind=` take it.
    pub name: &'static str,
    /// One line: what it computes.
    pub about: &'static str,
    /// Where its labels come from.
    pub labels: KindLabels,
    /// Whether `--kfac-approx` and `--norm-block` qualify it.
    pub shared_layer_options: bool,
    /// Whether `--rank` and `--randomized` qualify it.
    pub rank_options: bool,
    /// Its entries in the comparison [`catalogue`], in order (none for `exact`, the reference).
    pub entries: &'static [EntrySpec],
    build: fn(&KindOptions, Labels) -> Box<dyn Approximation>,
}

impl Kind {
    /// The labels this kind uses with `opts`; `None` for [`KindLabels::Exact`].
    pub fn labels(&self, opts: &KindOptions) -> Option<Labels> {
        match self.labels {
            // the registry's names are valid (a test checks them); `mc` takes the options'
            // samples as they are, so 0 is refused by the route with a typed error
            KindLabels::Fixed(name) => Some(
                Labels::from_name(name, 1, 0)
                    .unwrap_or(Labels::Type2)
                    .with_samples(opts.mc_samples, opts.seed),
            ),
            KindLabels::Chosen => Some(opts.labels),
            KindLabels::Exact => None,
        }
    }
    /// The options that qualify it, by their Python names (the flags with `-` for `_`).
    pub fn options(&self) -> Vec<&'static str> {
        let mut options = Vec::new();
        match self.labels {
            KindLabels::Chosen => options.extend(["kfac_type", "mc_samples", "seed"]),
            KindLabels::Fixed("mc") => options.extend(["mc_samples", "seed"]),
            _ => {}
        }
        if self.shared_layer_options {
            options.extend(["kfac_approx", "norm_block"]);
        }
        if self.rank_options {
            options.extend(["rank", "randomized", "seed"]);
        }
        options
    }
    /// Whether it needs the observed targets with `opts` (empirical labels).
    pub fn needs_targets(&self, opts: &KindOptions) -> bool {
        self.labels(opts) == Some(Labels::Empirical)
    }
    /// The approximation with `opts`.
    pub fn approximation(&self, opts: &KindOptions) -> Box<dyn Approximation> {
        (self.build)(opts, self.labels(opts).unwrap_or(Labels::Type2))
    }
    /// How it is asked for on the command line with the settings of `e` (`--kind kfac
    /// --kfac-type mc --kfac-approx reduce`).
    pub fn command_line(&self, e: &EntrySpec) -> String {
        let mut how = format!("--kind {}", self.name);
        if self.labels == KindLabels::Chosen && e.labels != "type2" {
            how += &format!(" --kfac-type {}", e.labels);
        }
        if e.approx == KfacApprox::Reduce {
            how += " --kfac-approx reduce";
        }
        if e.randomized {
            how += " --randomized";
        }
        how
    }
}

/// Every kind, in the order the command line lists them and the [`catalogue`] reports their
/// entries.
///
/// # Examples
/// ```
/// use fisherlab_fisher::curvature::{kind, kinds, KindOptions};
/// assert_eq!(kinds()[0].name, "exact");
/// let kfac = kind("kfac").unwrap();
/// assert_eq!(kfac.approximation(&KindOptions::default()).name(), "kfac");
/// assert!(kind("hessian").is_none()); // the Hessian is no Fisher route
/// ```
pub fn kinds() -> &'static [Kind] {
    &KINDS
}

/// The kind called `name`.
pub fn kind(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

const MC: &str = "mc";
const EMPIRICAL: &str = "empirical";

static KINDS: [Kind; 10] = [
    Kind {
        name: "exact",
        about: "the exact Fisher (1/N) Σ Jᵀ F_z J (= GGN), by the Kronecker fast path",
        labels: KindLabels::Fixed("type2"),
        shared_layer_options: false,
        rank_options: false,
        entries: &[],
        build: |_, l| Box::new(DenseFisher::new(l)),
    },
    Kind {
        name: "mc",
        about: "Monte-Carlo Fisher with --mc-samples labels per input drawn from the model",
        labels: KindLabels::Fixed(MC),
        shared_layer_options: false,
        rank_options: false,
        entries: &[entry(
            "mc",
            "dense Monte-Carlo Fisher, one label per input drawn from the model",
            false,
        )],
        build: |_, l| Box::new(DenseFisher::new(l)),
    },
    Kind {
        name: "empirical",
        about: "empirical Fisher at the observed --targets",
        labels: KindLabels::Fixed(EMPIRICAL),
        shared_layer_options: false,
        rank_options: false,
        entries: &[entry(
            "empirical",
            "dense empirical Fisher at the observed labels (not an unbiased estimate)",
            false,
        )],
        build: |_, l| Box::new(DenseFisher::new(l)),
    },
    Kind {
        name: "matrix-free",
        about: "the exact Fisher as Fisher-vector products, never formed; solves by conjugate gradients",
        labels: KindLabels::Exact,
        shared_layer_options: false,
        rank_options: false,
        entries: &[entry(
            "matrix-free",
            "the exact Fisher as Fisher-vector products; solves by conjugate gradients",
            true,
        )],
        build: |_, _| Box::new(MatrixFreeFisher),
    },
    Kind {
        name: "diag",
        about: "diagonal of the Fisher (variant from --kfac-type)",
        labels: KindLabels::Chosen,
        shared_layer_options: false,
        rank_options: false,
        entries: &[
            entry("diag", "exact diagonal", true),
            with_labels(
                entry("diag-mc", "Monte-Carlo diagonal, one label per input", true),
                MC,
            ),
        ],
        build: |_, l| Box::new(DiagonalFisher::new(l)),
    },
    Kind {
        name: "block-diag",
        about: "per-layer diagonal blocks of the Fisher (variant from --kfac-type)",
        labels: KindLabels::Chosen,
        shared_layer_options: false,
        rank_options: false,
        entries: &[entry(
            "block-diag",
            "exact per-layer diagonal blocks",
            false,
        )],
        build: |_, l| Box::new(BlockDiagonalFisher::new(l)),
    },
    Kind {
        name: "kfac",
        about: "K-FAC, per-layer G ⊗ A (variant from --kfac-type)",
        labels: KindLabels::Chosen,
        shared_layer_options: true,
        rank_options: false,
        entries: &[
            entry(
                "kfac",
                "K-FAC G ⊗ A per layer, type-2 (exact expectation over labels); expand over shared locations",
                true,
            ),
            reduce(entry(
                "kfac-reduce",
                "K-FAC type-2, reduce over shared locations (sum the gradients, average the inputs)",
                true,
            )),
            with_labels(
                entry(
                    "kfac-mc",
                    "K-FAC with one sampled label per input; expand",
                    true,
                ),
                MC,
            ),
            reduce(with_labels(
                entry(
                    "kfac-mc-reduce",
                    "K-FAC with one sampled label per input; reduce",
                    true,
                ),
                MC,
            )),
            with_labels(
                entry("kfac-empirical", "K-FAC at the observed labels", true),
                EMPIRICAL,
            ),
        ],
        build: |o, l| {
            Box::new(
                Kfac::new(l)
                    .with_approx(o.approx)
                    .with_norm_block(o.norm_block),
            )
        },
    },
    Kind {
        name: "ekfac",
        about: "EKFAC: K-FAC eigenbasis with refitted diagonal (variant from --kfac-type)",
        labels: KindLabels::Chosen,
        shared_layer_options: true,
        rank_options: false,
        entries: &[entry(
            "ekfac",
            "EKFAC: K-FAC eigenbasis, exact refitted diagonal",
            true,
        )],
        build: |o, l| {
            Box::new(
                Ekfac::new(l)
                    .with_approx(o.approx)
                    .with_norm_block(o.norm_block),
            )
        },
    },
    Kind {
        name: "low-rank",
        about: "top --rank eigenpairs of the exact Fisher plus the remaining diagonal (--randomized: from Fisher-vector products)",
        labels: KindLabels::Exact,
        shared_layer_options: false,
        rank_options: true,
        entries: &[
            entry(
                "low-rank",
                "top-k eigenpairs of the exact Fisher plus the remaining diagonal",
                false,
            ),
            EntrySpec {
                randomized: true,
                ..entry(
                    "low-rank-randomized",
                    "randomized top-k from Fisher-vector products, plus the diagonal",
                    true,
                )
            },
        ],
        build: |o, _| {
            if o.randomized {
                Box::new(LowRank::randomized(o.rank, o.seed))
            } else {
                Box::new(LowRank::top_k(o.rank))
            }
        },
    },
    Kind {
        name: "layer-isotropic",
        about: "per-layer multiple of the identity with the trace of the Fisher's block (variant from --kfac-type)",
        labels: KindLabels::Chosen,
        shared_layer_options: false,
        rank_options: false,
        entries: &[entry(
            "layer-isotropic",
            "per-layer multiple of the identity with the exact trace (the how-to example)",
            true,
        )],
        build: |_, labels| Box::new(LayerIsotropic { labels }),
    },
];

/// One named entry of the [`catalogue`].
pub struct CatalogueEntry {
    /// Unique name (`kfac`, `kfac-mc`, …), as `fisherlab compare --approximations` takes it.
    pub name: &'static str,
    /// One line: what it keeps of the Fisher.
    pub about: &'static str,
    /// The approximation.
    pub approximation: Box<dyn Approximation>,
    /// Whether it scales to networks whose exact Fisher does not fit in memory: it holds no
    /// P × P or per-layer Pₗ × Pₗ matrix and needs no dense Fisher to build. These are the
    /// entries a matrix-free comparison runs by default.
    pub scales: bool,
    /// Whether it differs from another entry only for layers shared over locations
    /// (convolutions, sequence models): a comparison of a network without such layers leaves
    /// it out by default.
    pub shared_layers_only: bool,
    /// The kind it is an entry of.
    pub kind: &'static Kind,
    /// Its settings.
    pub spec: &'static EntrySpec,
}

impl std::fmt::Debug for CatalogueEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogueEntry")
            .field("name", &self.name)
            .field("about", &self.about)
            .field("scales", &self.scales)
            .field("shared_layers_only", &self.shared_layers_only)
            .field("kind", &self.kind.name)
            .finish_non_exhaustive()
    }
}

/// Settings shared by the [`catalogue`]'s entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogueOptions {
    /// Rank of the low-rank entries.
    pub rank: usize,
    /// Seed of the Monte-Carlo labels and of the randomized low-rank test matrix.
    pub seed: u64,
}

impl Default for CatalogueOptions {
    fn default() -> Self {
        Self { rank: 20, seed: 0 }
    }
}

/// Every approximation of the exact Fisher this crate offers, each under a unique name, in the
/// order `fisherlab compare` reports them: the entries of every [`kinds`] in turn (see
/// `docs/approximations.md`).
///
/// # Examples
/// ```
/// use fisherlab_fisher::curvature::{catalogue, CatalogueOptions};
/// let names: Vec<_> = catalogue(&CatalogueOptions::default()).iter().map(|e| e.name).collect();
/// assert!(names.contains(&"kfac") && names.contains(&"ekfac") && names.contains(&"diag"));
/// ```
pub fn catalogue(opts: &CatalogueOptions) -> Vec<CatalogueEntry> {
    kinds()
        .iter()
        .flat_map(|kind| {
            kind.entries.iter().map(move |spec| {
                let options = KindOptions {
                    labels: Labels::from_name(spec.labels, 1, opts.seed).unwrap_or(Labels::Type2),
                    seed: opts.seed,
                    approx: spec.approx,
                    rank: opts.rank,
                    randomized: spec.randomized,
                    ..KindOptions::default()
                };
                CatalogueEntry {
                    name: spec.name,
                    about: spec.about,
                    approximation: kind.approximation(&options),
                    scales: spec.scales,
                    shared_layers_only: spec.shared_layers_only,
                    kind,
                    spec,
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_label_names_valid() {
        let mut names: Vec<&str> = kinds().iter().map(|k| k.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), kinds().len());
        let entries = catalogue(&CatalogueOptions::default());
        let mut entry_names: Vec<&str> = entries.iter().map(|e| e.name).collect();
        entry_names.sort_unstable();
        entry_names.dedup();
        assert_eq!(entry_names.len(), entries.len());
        for k in kinds() {
            if let KindLabels::Fixed(name) = k.labels {
                assert!(Labels::NAMES.contains(&name));
            }
            for e in k.entries {
                assert!(Labels::NAMES.contains(&e.labels), "{}", e.name);
            }
        }
    }

    #[test]
    fn an_entry_is_its_kind_with_its_settings() {
        // the entries' approximations against the types built by hand
        let entries = catalogue(&CatalogueOptions { rank: 5, seed: 9 });
        let get = |n: &str| entries.iter().find(|e| e.name == n).unwrap();
        assert_eq!(get("kfac-mc-reduce").approximation.name(), "kfac");
        assert_eq!(
            get("kfac-mc-reduce")
                .kind
                .command_line(get("kfac-mc-reduce").spec),
            "--kind kfac --kfac-type mc --kfac-approx reduce"
        );
        assert_eq!(
            get("low-rank-randomized")
                .kind
                .command_line(get("low-rank-randomized").spec),
            "--kind low-rank --randomized"
        );
        let mc = kind("mc").unwrap();
        let opts = KindOptions {
            mc_samples: 3,
            seed: 4,
            ..KindOptions::default()
        };
        assert_eq!(
            mc.labels(&opts),
            Some(Labels::Mc {
                per_input: 3,
                seed: 4
            })
        );
        assert!(kind("empirical").unwrap().needs_targets(&opts));
        assert!(!kind("kfac").unwrap().needs_targets(&opts));
        assert!(kind("kfac").unwrap().needs_targets(&KindOptions {
            labels: Labels::Empirical,
            ..opts
        }));
        assert_eq!(kind("low-rank").unwrap().labels(&opts), None);
        // no silent correction: mc with 0 samples is passed on, for the route to refuse
        let zero = KindOptions {
            mc_samples: 0,
            ..opts
        };
        assert_eq!(
            mc.labels(&zero),
            Some(Labels::Mc {
                per_input: 0,
                seed: 4
            })
        );
    }
}
