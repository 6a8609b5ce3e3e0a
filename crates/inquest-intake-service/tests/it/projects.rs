//! The background loops serve every project: workers take the jobs of each project
//! with work and investigate in its stores; the records writer writes each
//! project's outbox into that project's records.

use std::sync::Arc;

use chrono::Utc;
use inquest_core::InvestigationConfig;
use inquest_domain::ProjectId;
use inquest_intake::Policy;
use inquest_intake::model::parse_generic;
use inquest_intake_service::{CoreInvestigator, Ingest, Step, WorkerConfig, run_once};
use inquest_report::TemplateReport;
use serde_json::json;

use crate::in_memory;

async fn approve(ingest: &Ingest, project: &ProjectId, service: &str) {
    let now = Utc::now();
    let alerts = ["errors", "latency"]
        .iter()
        .map(|m| parse_generic(&json!({"service": service, "severity": "high", "message": m}), "", now).expect("alert"))
        .collect();
    let applied = ingest.ingest(project, alerts, now).await.expect("stored");
    assert!(applied.iter().any(|a| a.job_id.is_some()), "approved");
}

#[tokio::test]
async fn workers_and_the_records_writer_visit_every_project_with_work() {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let (a, b) = (ProjectId::new("team-a").expect("id"), ProjectId::new("team-b").expect("id"));
    approve(&ingest, &a, "checkout").await;
    approve(&ingest, &b, "checkout").await;
    assert_eq!(ingest.store.projects_with_work().await.expect("projects"), vec![a.clone(), b.clone()]);
    // Each project's incident reached its own records, none the default project's.
    for p in [&a, &b] {
        let incidents = stores.for_project(p).records.list_incidents().await.expect("records");
        assert_eq!(incidents.len(), 1, "{p}: its incident is in its records");
    }
    assert!(stores.records.list_incidents().await.expect("records").is_empty(), "default holds nothing");

    let investigator = CoreInvestigator {
        stores: stores.clone(),
        writer: Arc::new(TemplateReport),
        config: InvestigationConfig::default(),
    };
    let cfg = WorkerConfig::new("w1");
    let mut done = Vec::new();
    loop {
        match run_once(&ingest, &investigator, &cfg).await.expect("run") {
            Step::Idle => break,
            Step::Succeeded(job) => done.push(job),
            other => panic!("expected success, got {other:?}"),
        }
    }
    assert_eq!(done.len(), 2, "one job per project");
    for p in [&a, &b] {
        let scoped = stores.for_project(p);
        let incident = scoped.records.list_incidents().await.expect("records")[0].incident_id;
        assert!(!scoped.records.hypotheses(incident).await.expect("hypotheses").is_empty(), "{p}: investigated");
        let jobs = ingest.store_in(p).list_jobs().await.expect("jobs");
        assert_eq!(jobs.len(), 1);
        assert!(done.iter().any(|j| j.job_id == jobs[0].job_id), "{p}: its own job ran");
    }
    assert!(ingest.store.projects_with_work().await.expect("projects").is_empty(), "no work left");
    assert_eq!(ingest.sync_all_records().await.expect("sync"), 0);
}
