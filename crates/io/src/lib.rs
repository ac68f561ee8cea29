//! fisherlab's files and data, for every front end (the command line, the Python package, the
//! fuzz targets) and without one: `.npy` matrices and safetensors weights in and out
//! ([`files`]), outputs written to a temporary and renamed into place, with the temporaries of
//! a run registered for removal on a signal ([`temporaries`]), the embedded datasets
//! ([`data`]), and the entry points of the parsers of user files for coverage-guided fuzzing
//! ([`fuzz`]).
//!
//! # Examples
//! ```
//! let (x, y) = fisherlab_io::data::load("digits").unwrap();
//! assert_eq!((x.nrows(), x.ncols(), y.ncols()), (1797, 64, 1));
//! let bad = fisherlab_io::data::load("digts");
//! assert!(matches!(bad, Err(fisherlab_io::Error::Input(_))));
//! ```

pub mod data;
pub mod files;
pub mod fuzz;
pub mod temporaries;

/// An error of reading or writing: bad input (a file whose header lies, a missing tensor, an
/// output folder that is not an earlier output) or a failure (a disk that is full).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Bad input: one line naming the value and the rule it breaks.
    #[error("{0}")]
    Input(String),
    /// The operation itself failed.
    #[error("{0}")]
    Failed(String),
}

/// The metadata a saved safetensors file carries: the run's provenance record, as JSON text
/// under the key `fisherlab`.
pub fn metadata(provenance: &serde_json::Value) -> std::collections::HashMap<String, String> {
    std::collections::HashMap::from([("fisherlab".to_string(), provenance.to_string())])
}
