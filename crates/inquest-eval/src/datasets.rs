//! Evaluation over imported datasets: service-level AC@1, AC@3, Avg@5 and MRR per
//! dataset and per fault type (as the public datasets define AC@k: distinct
//! services), and seconds per case.

use std::collections::BTreeMap;
use std::path::Path;

use inquest_core::InvestigationConfig;
use inquest_fixtures::FixtureCase;
use inquest_import::{ImportMeta, read_meta};
use serde::{Deserialize, Serialize};

use crate::{Accuracy, CaseResult, EvalError, run_case};

/// Accuracy and time of one dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetScore {
    pub services: Accuracy,
    pub per_fault: BTreeMap<String, Accuracy>,
    pub seconds_p50: f64,
    pub seconds_p95: f64,
}

/// Group case results by dataset (cases without `import.json` go to `fixtures`).
pub fn by_dataset(results: &[(CaseResult, Option<ImportMeta>)]) -> BTreeMap<String, DatasetScore> {
    let mut groups: BTreeMap<String, Vec<(&CaseResult, Option<&ImportMeta>)>> = BTreeMap::new();
    for (r, m) in results {
        let name = m.as_ref().map(|m| m.dataset.clone()).unwrap_or_else(|| "fixtures".into());
        groups.entry(name).or_default().push((r, m.as_ref()));
    }
    groups
        .into_iter()
        .map(|(name, cases)| {
            let ranks: Vec<Option<usize>> = cases.iter().map(|(c, _)| c.service_rank).collect();
            let mut per_fault: BTreeMap<String, Vec<Option<usize>>> = BTreeMap::new();
            for (c, m) in &cases {
                let fault = m.map(|m| m.fault_type.clone()).unwrap_or_else(|| c.truth.hypothesis_type.to_string());
                per_fault.entry(fault).or_default().push(c.service_rank);
            }
            let mut secs: Vec<f64> = cases.iter().map(|(c, _)| c.latency_ms / 1000.0).collect();
            secs.sort_by(f64::total_cmp);
            let q = |p| if secs.is_empty() { 0.0 } else { inquest_domain::stats::quantile_sorted(&secs, p) };
            let score = DatasetScore {
                services: Accuracy::of(&ranks),
                per_fault: per_fault.into_iter().map(|(k, v)| (k, Accuracy::of(&v))).collect(),
                seconds_p50: q(0.5),
                seconds_p95: q(0.95),
            };
            (name, score)
        })
        .collect()
}

/// Read and replay every case directory, with its provenance when imported.
pub async fn eval_dirs(
    dirs: &[std::path::PathBuf],
    cfg: &InvestigationConfig,
) -> Result<Vec<(CaseResult, Option<ImportMeta>)>, EvalError> {
    let mut out = Vec::with_capacity(dirs.len());
    for d in dirs {
        let fail = |message: String| EvalError::Case { case: d.display().to_string(), message };
        let case = FixtureCase::read(d).map_err(|e| fail(e.to_string()))?;
        let meta = read_meta(Path::new(d)).map_err(|e| fail(e.to_string()))?;
        out.push((run_case(&case, cfg).await?, meta));
    }
    Ok(out)
}
