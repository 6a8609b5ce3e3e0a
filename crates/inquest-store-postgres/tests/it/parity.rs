//! Parity: every bundled fixture, loaded with records on Postgres (the other ports
//! embedded) and with everything embedded, ranks the same.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use inquest_core::{InvestigationConfig, investigate_and_save};
use inquest_fixtures::{FixtureCase, discover_cases, load_case};
use inquest_ports::Stores;
use inquest_report::TemplateReport;
use inquest_store_embedded::EmbeddedStore;

use crate::support::{FreshDb, RecordsOn, server_url};

/// `(rank, type, service, culprit, confidence)` of each hypothesis.
type Ranking = Vec<(i32, String, Option<String>, Option<String>, f64)>;

fn ranking(hypotheses: &[inquest_domain::Hypothesis]) -> Ranking {
    hypotheses
        .iter()
        .map(|h| {
            (
                h.rank,
                h.hypothesis_type.to_string(),
                h.service_key().map(str::to_string),
                h.culprit().map(str::to_string),
                h.confidence,
            )
        })
        .collect()
}

#[tokio::test]
async fn fixtures_rank_the_same_with_records_on_postgres() -> anyhow::Result<()> {
    let Some(url) = server_url("fixtures_rank_the_same_with_records_on_postgres") else { return Ok(()) };
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let cases: Vec<FixtureCase> =
        discover_cases(&fixtures)?.iter().map(|d| FixtureCase::read(d)).collect::<Result<_, _>>()?;
    assert!(cases.len() >= 16, "expected the bundled fixture cases, found {}", cases.len());

    let db = FreshDb::create(&url).await;
    let pg = Arc::new(db.migrated_store().await);
    let mixed = Stores { records: pg.clone(), ..EmbeddedStore::in_memory()?.stores() };
    let embedded = EmbeddedStore::in_memory()?.stores();

    // The records alone first (the figure for Postgres), then whole cases.
    let rows: usize = cases
        .iter()
        .map(|c| {
            let b = &c.batch;
            b.services.len()
                + b.deployments.len()
                + b.commit_ranges.len()
                + b.config_changes.len()
                + b.commits.len()
                + b.commit_files.len()
                + b.incidents.len()
                + b.decisions.len()
        })
        .sum();
    let started = Instant::now();
    for c in &cases {
        mixed.records.apply_batch(&c.batch).await?;
    }
    eprintln!(
        "applied the record batches of {} fixture cases ({rows} rows) to postgres in {:.0} ms",
        cases.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    let started = Instant::now();
    for c in &cases {
        load_case(&mixed, c).await?;
    }
    eprintln!(
        "loaded {} fixture cases with records on postgres in {:.0} ms",
        cases.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    // A second load must not duplicate anything.
    for c in &cases {
        load_case(&mixed, c).await?;
        load_case(&embedded, c).await?;
    }
    assert_eq!(mixed.records.list_incidents().await?.len(), cases.len());
    assert_eq!(mixed.records.list_services().await?, embedded.records.list_services().await?);

    let cfg = InvestigationConfig::default();
    let now = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).single().expect("time");
    for c in &cases {
        let (on_pg, report_pg) = investigate_and_save(&mixed, &TemplateReport, c.incident_id, &cfg, now).await?;
        let (on_embedded, _) = investigate_and_save(&embedded, &TemplateReport, c.incident_id, &cfg, now).await?;
        assert!(on_pg.gaps.is_empty(), "{}: gaps on postgres: {:?}", c.id, on_pg.gaps);
        assert!(!on_pg.hypotheses.is_empty(), "{}: no hypotheses", c.id);
        assert_eq!(ranking(&on_pg.hypotheses), ranking(&on_embedded.hypotheses), "{}: ranking differs", c.id);
        // What Postgres stored reads back as the same ranking.
        let stored = mixed.records.hypotheses(c.incident_id).await?;
        assert_eq!(ranking(&stored), ranking(&on_pg.hypotheses), "{}: stored ranking differs", c.id);
        assert_eq!(mixed.records.reports(c.incident_id).await?.last(), Some(&report_pg), "{}: report", c.id);
    }
    Ok(())
}
