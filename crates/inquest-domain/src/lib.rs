//! Inquest's domain model: the records of the data model (`schemas/`) as Rust types, plus the pure
//! statistics the ranking uses. Nothing here does IO.

pub mod access;
pub mod ids;
pub mod model;
pub mod redact;
pub mod series;
pub mod stats;

pub use access::*;
pub use ids::*;
pub use model::*;
pub use series::{SeriesName, series_name};

/// Errors raised when a value from outside does not fit the domain.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DomainError {
    #[error("unknown {field} value '{value}' (expected one of: {expected})")]
    UnknownVariant { field: &'static str, value: String, expected: &'static str },
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}
