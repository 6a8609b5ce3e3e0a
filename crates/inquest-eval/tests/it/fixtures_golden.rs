//! Golden test over the bundled fixtures: fails when accuracy drops below the stored
//! baseline (`evals/fixtures-baseline.json`). `INQUEST_BLESS=1` rewrites the baseline
//! with the current figures.

use std::path::{Path, PathBuf};

use inquest_core::InvestigationConfig;
use inquest_eval::{run_case, summarize};
use inquest_fixtures::{FixtureCase, discover_cases};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Baseline {
    cases: usize,
    ac1: f64,
    ac3: f64,
    mrr: f64,
    /// Per case: rank of the first matching hypothesis (null when none).
    match_ranks: std::collections::BTreeMap<String, Option<usize>>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test]
async fn fixtures_accuracy_does_not_regress() {
    let dirs = discover_cases(&root().join("fixtures")).expect("fixtures present");
    assert!(dirs.len() >= 15, "at least 15 bundled cases");
    let cfg = InvestigationConfig::default();
    let mut results = Vec::new();
    for d in &dirs {
        let case = FixtureCase::read(d).expect("fixture parses");
        results.push(run_case(&case, &cfg).await.expect("case runs"));
    }
    let report = summarize(results);
    let current = Baseline {
        cases: report.hypotheses.cases,
        ac1: report.hypotheses.ac1,
        ac3: report.hypotheses.ac3,
        mrr: report.hypotheses.mrr,
        match_ranks: report.cases.iter().map(|c| (c.case_id.clone(), c.match_rank)).collect(),
    };
    let path = root().join("evals/fixtures-baseline.json");
    if std::env::var_os("INQUEST_BLESS").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&current).expect("json") + "\n").expect("write baseline");
        return;
    }
    let text = std::fs::read_to_string(&path).expect("evals/fixtures-baseline.json exists (INQUEST_BLESS=1 writes it)");
    let base: Baseline = serde_json::from_str(&text).expect("baseline parses");
    println!(
        "fixtures: AC@1 {:.3} (baseline {:.3}), AC@3 {:.3} ({:.3}), MRR {:.3} ({:.3}), p50 {:.1} ms, p95 {:.1} ms",
        current.ac1,
        base.ac1,
        current.ac3,
        base.ac3,
        current.mrr,
        base.mrr,
        report.latency.p50_ms,
        report.latency.p95_ms
    );
    let eps = 1e-9;
    assert!(
        current.ac1 + eps >= base.ac1,
        "AC@1 fell to {:.3} from {:.3}: {:#?}",
        current.ac1,
        base.ac1,
        current.match_ranks
    );
    assert!(current.ac3 + eps >= base.ac3, "AC@3 fell to {:.3} from {:.3}", current.ac3, base.ac3);
    assert!(current.mrr + eps >= base.mrr, "MRR fell to {:.3} from {:.3}", current.mrr, base.mrr);
}
