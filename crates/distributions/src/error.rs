use thiserror::Error;

/// Errors of the distributions crate: invalid parameters and unknown names, each naming the bad
/// value and the rule it breaks.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A parameter value breaks a rule of its family.
    #[error("{family}: parameter {name} = {value} is invalid: {rule}")]
    InvalidParameter {
        /// Family name.
        family: &'static str,
        /// Parameter name.
        name: String,
        /// The offending value.
        value: f64,
        /// The rule it breaks, e.g. "must be > 0".
        rule: &'static str,
    },
    /// A constraint across several parameters is broken (probabilities not summing to 1, a
    /// covariance that is not positive definite, …).
    #[error("{family}: {what}")]
    InvalidStructure {
        /// Family name.
        family: &'static str,
        /// What is wrong, with the values involved.
        what: String,
    },
    /// A coordinate vector of the wrong length.
    #[error("{family}: expected {expected} coordinates, got {got}")]
    WrongLength {
        /// Family name.
        family: &'static str,
        /// Expected length.
        expected: usize,
        /// Given length.
        got: usize,
    },
    /// No family of that name.
    #[error("unknown family `{name}` (known: {known})")]
    UnknownFamily {
        /// The name given.
        name: String,
        /// The known names.
        known: String,
    },
    /// No likelihood head of that name.
    #[error("unknown likelihood `{name}` (the heads: {known})")]
    UnknownLikelihood {
        /// The name given.
        name: String,
        /// The known heads.
        known: String,
    },
    /// A parameter name the family does not have.
    #[error("{family}: unknown parameter `{name}` (expected: {expected})")]
    UnknownParameter {
        /// Family name.
        family: &'static str,
        /// The name given.
        name: String,
        /// The names this family and parameterisation accept.
        expected: String,
    },
    /// A required parameter was not given.
    #[error("{family}: missing parameter `{name}` (expected: {expected})")]
    MissingParameter {
        /// Family name.
        family: &'static str,
        /// The missing name.
        name: String,
        /// The names this family and parameterisation accept.
        expected: String,
    },
    /// A parameterisation name the family does not have.
    #[error("{family}: unknown parameterization `{name}` (known: {known})")]
    UnknownParameterization {
        /// Family name.
        family: &'static str,
        /// The name given.
        name: String,
        /// The known names.
        known: String,
    },
}

/// Result alias of the distributions crate.
pub type Result<T> = std::result::Result<T, Error>;
