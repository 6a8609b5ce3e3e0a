//! The fixture case format (see `fixtures/README.md`): parsing with errors that
//! name the file and field, conversion into domain rows with derived ids, and
//! loading into any set of ports.

mod format;
mod load;

pub use format::*;
pub use load::{LoadSummary, load_case};

use std::path::{Path, PathBuf};

/// What was wrong with a fixture, naming the file and, where known, line or field.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path} line {line}: {message}")]
    Line { path: PathBuf, line: u64, message: String },
    #[error("loading case {case}: {source}")]
    Store {
        case: String,
        #[source]
        source: inquest_ports::StoreError,
    },
}

impl FixtureError {
    pub(crate) fn invalid(path: &Path, message: impl std::fmt::Display) -> Self {
        Self::Invalid { path: path.to_path_buf(), message: message.to_string() }
    }
}

/// Case directories under `dir`: `dir` itself when it is a case, else its
/// subdirectories holding a `case.json`, sorted by name.
pub fn discover_cases(dir: &Path) -> Result<Vec<PathBuf>, FixtureError> {
    if dir.join("case.json").is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let entries = std::fs::read_dir(dir).map_err(|source| FixtureError::Io { path: dir.to_path_buf(), source })?;
    let mut cases: Vec<PathBuf> =
        entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.join("case.json").is_file()).collect();
    cases.sort();
    if cases.is_empty() {
        return Err(FixtureError::invalid(dir, "no fixture cases here (a case is a directory with a case.json)"));
    }
    Ok(cases)
}
