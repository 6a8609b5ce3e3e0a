//! Tests of the feeds on the embedded store: runbook folder sync and the precedent hook.

mod precedent;
mod runbooks;

use chrono::{DateTime, TimeZone, Utc};
use inquest_domain::{Incident, IncidentId, IncidentStatus, Service, ServiceId};
use inquest_ports::{RecordBatch, Stores};

pub fn at(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, h, 0, 0).single().expect("a valid time")
}

/// A world with one service and one open incident on it, and nothing else: no
/// fixture, no metrics, no topology.
pub async fn bare_incident(stores: &Stores, name: &str, start: DateTime<Utc>) -> IncidentId {
    let key = format!("prod/shop/{name}");
    let service = Service {
        service_id: ServiceId::of_key(&key),
        cluster_id: "prod".into(),
        namespace: "shop".into(),
        service_name: name.into(),
        created_at: start,
    };
    let id = IncidentId::derived(&["feeds test", name, &start.to_rfc3339()]);
    let incident = Incident {
        incident_id: id,
        service_id: service.service_id,
        status: IncidentStatus::Open,
        trigger_type: "error_rate_spike".into(),
        severity: 2,
        window_start: start,
        window_end: start + chrono::Duration::minutes(30),
        created_at: start,
        updated_at: start,
        resolved_at: None,
        resolution_kind: None,
        resolution_summary: None,
        resolved_hypothesis_id: None,
    };
    let batch = RecordBatch { services: vec![service], incidents: vec![incident], ..Default::default() };
    stores.records.apply_batch(&batch).await.expect("records");
    id
}
