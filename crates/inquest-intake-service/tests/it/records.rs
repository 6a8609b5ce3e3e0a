//! The incident rows the intake writes to the records store keep what people
//! said through feedback: an alert attaching later does not undo a root cause.

use chrono::Utc;
use inquest_core::feedback::{FeedbackInput, record_feedback};
use inquest_domain::{ActorType, IncidentStatus, ProjectId};
use inquest_intake::Policy;
use inquest_intake::model::parse_generic;

use crate::in_memory;

#[tokio::test]
async fn a_root_cause_from_feedback_survives_later_alerts() {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let now = Utc::now();
    let alert = |m: &str| {
        parse_generic(&serde_json::json!({"service": "checkout", "severity": "high", "message": m}), "", now)
            .expect("alert")
    };
    let first = ingest.ingest(&ProjectId::default_project(), vec![alert("5xx")], now).await.expect("stored");
    let id = first[0].incident_id.expect("incident");
    ingest.sync_records(&ProjectId::default_project()).await.expect("sync");
    let event = FeedbackInput::RootCause { hypothesis: None, text: Some("bad feature flag".into()) }.into_event(
        id,
        ActorType::User,
        Some("sre".into()),
        now,
    );
    record_feedback(&stores, &event, now).await.expect("feedback");

    ingest.ingest(&ProjectId::default_project(), vec![alert("p99 latency")], now).await.expect("stored");
    ingest.sync_records(&ProjectId::default_project()).await.expect("sync");
    let row = stores.records.get_incident(id).await.expect("read").expect("row");
    assert_eq!(row.status, IncidentStatus::Resolved);
    assert_eq!(row.resolution_kind.as_deref(), Some("root_cause_text"));
    assert_eq!(row.resolution_summary.as_deref(), Some("bad feature flag"));
    let lifecycle = ingest.store.get_incident(id).await.expect("read").expect("state");
    assert_eq!(
        (lifecycle.status, lifecycle.alert_count),
        (IncidentStatus::Open, 2),
        "the intake's own state is unchanged"
    );
}
