//! Importers for public fault-injection datasets: each turns a dataset's own layout
//! into fixture case directories (`fixtures/README.md`) with the dataset's labelled
//! root cause as ground truth.
//!
//! Formats: `rcaeval` (wide CSV with a `time` column and `<service>_<metric>`
//! columns, `inject_time.txt` beside it), `petshop` (three header rows, `target.json`,
//! `graph.csv` adjacency, `noissue/` normal data) and `nezha` (per-pod metric CSVs,
//! `fault_list.json` labels keyed by hour, `construct_data/` fault-free data, per-minute
//! trace CSVs turned into the call graph and its edge series by `inquest_ingest::traces`).
//! Everything is parsed and validated in memory first; cases are then written to a
//! temporary directory and renamed into place, so nothing is half-imported.

mod nezha;
mod petshop;
mod rcaeval;
mod write;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use nezha::import_nezha;
pub use petshop::{PetshopOptions, import_petshop};
pub use rcaeval::import_rcaeval;
pub use write::{IMPORT_META_FILE, read_meta, write_cases};

/// What was wrong with a dataset, naming the file and, where known, the line.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
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
}

impl ImportError {
    pub(crate) fn invalid(path: &Path, message: impl std::fmt::Display) -> Self {
        Self::Invalid { path: path.to_path_buf(), message: message.to_string() }
    }

    pub(crate) fn line(path: &Path, line: u64, message: impl std::fmt::Display) -> Self {
        Self::Line { path: path.to_path_buf(), line, message: message.to_string() }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }
}

/// Dataset layouts the importer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Rcaeval,
    Petshop,
    Nezha,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "rcaeval" => Ok(Self::Rcaeval),
            "petshop" => Ok(Self::Petshop),
            "nezha" => Ok(Self::Nezha),
            other => Err(format!("unknown format '{other}' (rcaeval, petshop, nezha)")),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Rcaeval => "rcaeval",
            Self::Petshop => "petshop",
            Self::Nezha => "nezha",
        })
    }
}

/// Kind of a node, as in `services.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    Service,
    Database,
    Dependency,
}

/// Provenance of an imported case, written as `import.json` beside the fixture files
/// (the fixture reader ignores it; `inquest eval` groups results by it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportMeta {
    pub format: Format,
    /// Dataset name (the imported directory's name, e.g. `nezha-train-ticket`).
    pub dataset: String,
    /// The dataset's own fault label (`cpu_contention`, `delay`, ...).
    pub fault_type: String,
    /// Where the case came from, relative to the imported path.
    pub source: String,
}

/// One imported incident, before it is written as a fixture case.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedCase {
    pub id: String,
    pub description: String,
    pub cluster: String,
    pub namespace: String,
    pub services: Vec<(String, ServiceKind)>,
    /// `DEPENDS_ON` edges `(from, to)`: `from` calls `to`.
    pub edges: Vec<(String, String)>,
    /// `(ts, service, metric, value)`.
    pub metrics: Vec<(DateTime<Utc>, String, String, f64)>,
    pub incident_service: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub truth_service: String,
    /// `hypothesis_type` of the truth (see each importer for the mapping).
    pub truth_type: String,
    pub notes: String,
    pub meta: ImportMeta,
}

/// Import `path` in `format`.
pub fn import(format: Format, path: &Path) -> Result<Vec<ImportedCase>, ImportError> {
    match format {
        Format::Rcaeval => import_rcaeval(path),
        Format::Petshop => import_petshop(path, &PetshopOptions::default()),
        Format::Nezha => import_nezha(path),
    }
}

/// A name usable as a service name in a service key (`cluster/namespace/name`):
/// `/` would split the key, so it becomes `|`.
pub fn service_name(raw: &str) -> String {
    raw.trim().replace('/', "|")
}

/// A metric name from a dataset column: snake case, units kept as suffixes
/// (`CpuUsageRate(%)` is `cpu_usage_rate_pct`, `PodClientLatencyP90(s)` is
/// `pod_client_latency_p90_s`).
pub fn metric_name(raw: &str) -> String {
    let s = raw.trim().replace("(%)", "_pct").replace('(', "_").replace(')', "");
    let mut out = String::new();
    let mut prev_lower = false;
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        } else {
            if !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    out.trim_matches('_').to_string()
}

/// A case id: lowercase letters, digits and dashes.
pub fn case_id(parts: &[&str]) -> String {
    let joined = parts.join("-").to_ascii_lowercase();
    let mut out = String::new();
    for c in joined.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// The directory's last component, for dataset names and sources.
pub(crate) fn dir_name(path: &Path) -> String {
    path.canonicalize()
        .ok()
        .as_deref()
        .unwrap_or(path)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".to_string())
}

/// Parse a number cell; empty cells are missing values.
pub(crate) fn cell_number(cell: &str) -> Option<Result<f64, String>> {
    let t = cell.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("nan") {
        return None;
    }
    Some(
        t.parse::<f64>()
            .map_err(|_| format!("'{t}' is not a number"))
            .and_then(|v| if v.is_finite() { Ok(v) } else { Err(format!("'{t}' is not a finite number")) }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_are_snake_case_with_units() {
        assert_eq!(metric_name("CpuUsageRate(%)"), "cpu_usage_rate_pct");
        assert_eq!(metric_name("PodClientLatencyP90(s)"), "pod_client_latency_p90_s");
        assert_eq!(metric_name("MemoryUsage(Mi)"), "memory_usage_mi");
        assert_eq!(metric_name("PodWorkload(Ops)"), "pod_workload_ops");
        assert_eq!(metric_name("latency-50"), "latency_50");
    }

    #[test]
    fn case_ids_and_service_names_are_safe() {
        assert_eq!(case_id(&["Nezha", "2023-01-29 08:43", "ts-contacts"]), "nezha-2023-01-29-08-43-ts-contacts");
        assert_eq!(
            service_name("PetAdoptionStatusUpdater/prod_AWS::ApiGateway::Stage"),
            "PetAdoptionStatusUpdater|prod_AWS::ApiGateway::Stage"
        );
    }
}
