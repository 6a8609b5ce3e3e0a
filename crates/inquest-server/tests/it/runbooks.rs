//! Runbooks through the API (create, read, list, replace, delete, refusals) and
//! precedent written when an incident is resolved with a confirmed hypothesis,
//! found by the next investigation of the same service.

use std::path::PathBuf;
use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use inquest_core::{InvestigationConfig, investigate_and_save};
use inquest_domain::{Incident, IncidentId, IncidentStatus, collections};
use inquest_feeds::precedent::Precedents;
use inquest_fixtures::{FixtureCase, load_case};
use inquest_intake::Policy;
use inquest_ports::{PayloadFilter, RecordBatch, Stores};
use inquest_report::TemplateReport;
use inquest_store_embedded::{EmbeddedIntakeStore, EmbeddedStore};
use serde_json::{Value, json};

use crate::*;

const FAILOVER: &str = "---\ntitle: Postgres failover\nservice: payments\ntags: [db, postgres]\nsource_url: https://wiki.example.com/runbooks/failover\n---\nWhen the primary stops answering.\n\n## Check\n1. Look at `pg_stat_replication`\n2. Confirm the primary is down\n\n## Promote\n- [ ] promote the replica\n- [ ] repoint the pool (password=s3cr3t-value-here)\n\n## Afterwards\n- open a ticket\n";

fn metric(router_metrics: &str, outcome: &str) -> f64 {
    let key = format!("inquest_feed_events_total{{feed=\"runbooks\",outcome=\"{outcome}\"}} ");
    router_metrics.lines().find_map(|l| l.strip_prefix(&key)).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0)
}

async fn metrics_text(router: &axum::Router) -> String {
    let (_, bytes, _) = raw(router, "GET", "/metrics", None).await;
    String::from_utf8(bytes).expect("utf-8 metrics")
}

async fn chunks_of(stores: &Stores, id: &str) -> Vec<u64> {
    let filter = PayloadFilter::default().any_of("runbook_id", vec![json!(id)]);
    let mut v: Vec<u64> = stores
        .semantic
        .points(collections::RUNBOOKS, &filter, 1000)
        .await
        .expect("points")
        .iter()
        .filter_map(|p| p.payload.get("chunk").and_then(Value::as_u64))
        .collect();
    v.sort_unstable();
    v
}

#[tokio::test]
async fn create_read_list_replace_delete() {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let router = intake_app(&ingest, &stores);

    let (s, v) = call(&router, "POST", "/api/runbooks", Some(json!({ "id": "db/failover", "body": FAILOVER }))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["chunks"], 4);
    assert_eq!(chunks_of(&stores, "db/failover").await, vec![0, 1, 2, 3]);

    let (s, v) = call(&router, "GET", "/api/runbooks/db%2Ffailover", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["title"], "Postgres failover");
    assert_eq!(v["service"], "default/default/payments");
    assert_eq!(v["tags"], json!(["db", "postgres"]));
    assert_eq!(v["origin"], "api");
    let headings: Vec<&str> =
        v["sections"].as_array().expect("sections").iter().filter_map(|s| s["heading"].as_str()).collect();
    assert_eq!(headings, vec!["Check", "Promote", "Afterwards"]);
    assert_eq!(v["sections"][2]["steps"], json!(["promote the replica", "repoint the pool (password=[REDACTED])"]));
    let body = v["body"].as_str().expect("body");
    assert!(body.starts_with("When the primary stops answering.") && !body.contains("s3cr3t"), "{body}");

    let (s, v) = call(&router, "GET", "/api/runbooks", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v[0]["id"], "db/failover");
    assert_eq!(v[0]["chunks"], 4);

    // The same id again conflicts; nothing changes.
    let (s, v) = call(&router, "POST", "/api/runbooks", Some(json!({ "id": "db/failover", "body": FAILOVER }))).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");

    // A shorter version leaves no orphan chunk.
    let shorter =
        json!({ "title": "Postgres failover", "tags": ["db"], "body": "## Promote\n1. promote the replica\n" });
    let (s, v) = call(&router, "PUT", "/api/runbooks/db%2Ffailover", Some(shorter)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["chunks"], 1);
    assert_eq!(v["removed"], 3);
    assert_eq!(chunks_of(&stores, "db/failover").await, vec![0]);
    let (_, v) = call(&router, "GET", "/api/runbooks/db%2Ffailover", None).await;
    assert_eq!(v["body"], "## Promote\n1. promote the replica\n");
    assert_eq!(v["tags"], json!(["db"]));
    assert!(v["service"].is_null(), "the replacement names no service: {v}");

    let (s, v) = call(&router, "PUT", "/api/runbooks/nope", Some(json!({ "title": "x", "body": "y" }))).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

    let (s, _, _) = raw(&router, "DELETE", "/api/runbooks/db%2Ffailover", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(chunks_of(&stores, "db/failover").await.is_empty());
    let (s, v) = call(&router, "GET", "/api/runbooks/db%2Ffailover", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, _, _) = raw(&router, "DELETE", "/api/runbooks/db%2Ffailover", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let m = metrics_text(&router).await;
    assert_eq!(metric(&m, "stored"), 2.0, "{m}");
    assert_eq!(metric(&m, "duplicate"), 1.0, "{m}");
}

#[tokio::test]
async fn bad_runbooks_are_refused_naming_the_field() {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let router = intake_app(&ingest, &stores);
    let cases = [
        (json!({ "body": "---\nservice: payments\n---\n# Steps\n" }), "title"),
        (json!({ "body": "---\ntitle: [unclosed\n---\n# Steps\n" }), "front_matter"),
        (json!({ "title": "t", "source_url": "wiki/page", "body": "x" }), "source_url"),
        (json!({ "id": "../etc", "title": "t", "body": "x" }), "id"),
        (json!({ "title": "t" }), "body"),
        (json!({ "title": "t", "body": "x", "owner": "me" }), "owner"),
    ];
    for (body, field) in cases {
        let (s, v) = call(&router, "POST", "/api/runbooks", Some(body.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(v["error"]["field"], field, "{body}: {v}");
    }
    let (_, v) = call(&router, "GET", "/api/runbooks", None).await;
    assert_eq!(v, json!([]), "nothing written");
    // The id comes from the title when none is given.
    let (s, v) =
        call(&router, "POST", "/api/runbooks", Some(json!({ "body": "---\ntitle: Cache Flush!\n---\n- flush\n" })))
            .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["id"], "cache-flush");
    let m = metrics_text(&router).await;
    assert_eq!(metric(&m, "rejected"), 4.0, "the four refused by the runbook parser: {m}");
}

/// The router of `inquest serve` on one investigated fixture case, its records
/// behind the precedent hook as the binary wraps them.
async fn precedent_world() -> (axum::Router, Stores, FixtureCase, Arc<Precedents>) {
    let store = EmbeddedStore::in_memory().expect("store");
    let base = store.stores();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let case = FixtureCase::read(&root.join("release-checkout-payment-timeout")).expect("fixture case");
    load_case(&base, &case).await.expect("load");
    investigate_and_save(&base, &TemplateReport, case.incident_id, &InvestigationConfig::default(), Utc::now())
        .await
        .expect("investigate");
    let (ingest, stores) = intake_on(base, Arc::new(EmbeddedIntakeStore::in_memory().expect("intake")));
    let precedents = Precedents::new();
    let stores = precedents.wrap(stores);
    (intake_app(&ingest, &stores), stores, case, precedents)
}

async fn summary_of(stores: &Stores, id: IncidentId) -> Option<serde_json::Map<String, Value>> {
    let filter = PayloadFilter::default().any_of("incident_id", vec![json!(id)]);
    let points = stores.semantic.points(collections::INCIDENT_SUMMARIES, &filter, 10).await.expect("points");
    points.into_iter().next().map(|p| p.payload)
}

/// A later incident of the same service, in the records store.
async fn later_incident(stores: &Stores, first: &Incident) -> IncidentId {
    let id = IncidentId::derived(&["test", "later incident"]);
    let start = first.window_start + Duration::days(3);
    let later = Incident {
        incident_id: id,
        status: IncidentStatus::Open,
        window_start: start,
        window_end: start + Duration::minutes(45),
        created_at: start,
        updated_at: start,
        resolved_at: None,
        resolution_kind: None,
        resolution_summary: None,
        resolved_hypothesis_id: None,
        ..first.clone()
    };
    stores.records.apply_batch(&RecordBatch { incidents: vec![later], ..Default::default() }).await.expect("batch");
    id
}

#[tokio::test]
async fn a_confirmed_resolution_becomes_precedent_for_the_next_investigation() {
    let (router, stores, case, precedents) = precedent_world().await;
    let id = case.incident_id;
    let uri = format!("/api/incidents/{id}");
    let (_, d) = call(&router, "GET", &uri, None).await;
    let top = d["hypotheses"][0].clone();
    let top_id = top["hypothesis_id"].as_str().expect("hypothesis id").to_string();
    assert!(summary_of(&stores, id).await.is_none(), "no summary before the resolution");

    let (s, v) = call(
        &router,
        "POST",
        &format!("{uri}/feedback"),
        Some(json!({ "event_type": "root_cause_set", "hypothesis_id": top_id, "text": "payment client timeout too low; api_key=sk_live_abcdefghijklmnop0123" })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let p = summary_of(&stores, id).await.expect("a summary on resolution");
    assert_eq!(p["service_key"], top["details"]["service_key"]);
    assert_eq!(p["hypothesis_type"], top["hypothesis_type"]);
    assert_eq!(p["culprit"], top["details"]["culprit"]);
    assert_eq!(p["started_at"], json!(case.batch.incidents[0].window_start));
    assert!(p["resolved_at"].is_string(), "{p:?}");
    let text = p["text"].as_str().expect("text");
    assert!(text.contains("payment client timeout too low") && text.contains(top["title"].as_str().expect("title")));
    assert!(!text.contains("sk_live_"), "not redacted: {text}");
    assert_eq!(precedents.pending(), 0);

    let incident = stores.records.get_incident(id).await.expect("read").expect("incident");
    let next = later_incident(&stores, &incident).await;
    let (s, v) = call(&router, "POST", &format!("/api/incidents/{next}/investigate"), None).await;
    assert!(s.is_success(), "{v}");
    let (_, d) = call(&router, "GET", &format!("/api/incidents/{next}"), None).await;
    let want = format!("incident_summaries/{id}");
    let cited = d["evidence"].as_array().expect("evidence").iter().find(|e| e["ref"] == want.as_str());
    let cited = cited.unwrap_or_else(|| panic!("{want} not among the evidence: {}", d["evidence"]));
    assert_eq!(cited["kind"], "semantic_match");
    assert_eq!(cited["metadata"]["payload"]["origin"], "resolution");
}

#[tokio::test]
async fn no_confirmed_hypothesis_no_precedent_and_a_retraction_removes_it() {
    let (router, stores, case, _) = precedent_world().await;
    let id = case.incident_id;
    let uri = format!("/api/incidents/{id}/feedback");
    let (s, v) =
        call(&router, "POST", &uri, Some(json!({ "event_type": "root_cause_set", "text": "a cosmic ray" }))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["incident"]["status"], "resolved", "{v}");
    assert!(summary_of(&stores, id).await.is_none(), "a free-text root cause writes no precedent");

    let (_, d) = call(&router, "GET", &format!("/api/incidents/{id}"), None).await;
    let top = d["hypotheses"][0]["hypothesis_id"].as_str().expect("id").to_string();
    let (s, v) =
        call(&router, "POST", &uri, Some(json!({ "event_type": "hypothesis_confirmed", "hypothesis_id": top }))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // The free-text root cause still stands over a later confirmation.
    assert!(summary_of(&stores, id).await.is_none(), "the root cause is free text: {v}");
    let root = d["feedback"].as_array().expect("feedback").len();
    assert_eq!(root, 1);
    let root_event = d["feedback"][0]["feedback_event_id"].as_str().expect("event id").to_string();
    let (s, v) =
        call(&router, "POST", &uri, Some(json!({ "event_type": "feedback_retracted", "retracts": root_event }))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["incident"]["resolved_hypothesis_id"], top.as_str());
    assert!(summary_of(&stores, id).await.is_some(), "the confirmation now stands");

    let (_, d) = call(&router, "GET", &format!("/api/incidents/{id}"), None).await;
    let confirm = d["feedback"]
        .as_array()
        .expect("feedback")
        .iter()
        .find(|e| e["event_type"] == "hypothesis_confirmed")
        .and_then(|e| e["feedback_event_id"].as_str())
        .expect("the confirmation")
        .to_string();
    let (s, v) =
        call(&router, "POST", &uri, Some(json!({ "event_type": "feedback_retracted", "retracts": confirm }))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(v["incident"]["resolved_at"].is_null(), "{v}");
    assert!(summary_of(&stores, id).await.is_none(), "a retracted confirmation leaves no precedent");
}
