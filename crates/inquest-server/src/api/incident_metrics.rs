//! `/api/incidents/{id}/metrics`: the series the dashboard charts around the onset,
//! the changes to mark on the time axis, and the blast radius.

use inquest_domain::ProjectId;
use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use chrono::Duration;
use inquest_domain::*;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{ApiResult, service_keys};
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::IncidentPath;

#[derive(Serialize, ToSchema)]
pub struct SeriesView {
    pub service_key: String,
    pub metric_name: String,
    /// `[rfc3339, value]` pairs, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub points: Vec<(String, f64)>,
}

#[derive(Serialize, ToSchema)]
pub struct ChangeMark {
    pub kind: String,
    pub id: String,
    pub service_key: Option<String>,
    pub at: String,
    pub label: String,
}

#[derive(Serialize, ToSchema)]
pub struct IncidentMetrics {
    pub from: String,
    pub to: String,
    pub window_start: String,
    pub window_end: String,
    /// Earliest anomaly onset recorded by the investigation.
    pub onset: Option<String>,
    pub series: Vec<SeriesView>,
    /// Deployments and config changes to mark on the time axis.
    pub changes: Vec<ChangeMark>,
    #[schema(value_type = Vec<Object>)]
    pub blast_radius: Vec<inquest_ports::Reach>,
    pub topology_ref: String,
}

/// Metric series around the onset, changes to mark, and the blast radius.
#[utoipa::path(get, path = "/api/incidents/{id}/metrics", tag = "incidents", params(("id" = String, Path, description = "incident UUID")),
    responses((status = 200, body = IncidentMetrics), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn incident_metrics(State(s): State<AppState>, IncidentPath(id): IncidentPath) -> ApiResult<IncidentMetrics> {
    let st = &s.stores.for_project(&ProjectId::default_project());
    let incident =
        st.records.get_incident(id).await?.ok_or_else(|| ApiError::not_found(format!("incident {id} not found")))?;
    let services = service_keys(st).await?;
    let by_key: HashMap<String, &Service> = services.values().map(|x| (x.service_key(), x)).collect();
    let origin = services.get(&incident.service_id).map(Service::service_key).unwrap_or_default();
    let from = incident.window_start - Duration::minutes(60);
    let to = incident.window_end;
    let onset = st.metrics.anomaly_features(&id.to_string()).await?.iter().map(|f| f.ts).min();
    let radius = st.topology.blast_radius(&origin, s.cfg.topology_depth).await?;
    // Series of the incident's service and of the services the top hypotheses blame.
    let mut keys = vec![origin.clone()];
    let mut hyps = st.records.hypotheses(id).await?;
    hyps.sort_by_key(|h| h.rank);
    for h in hyps.iter().take(3) {
        if let Some(k) = h.service_key()
            && !keys.iter().any(|x| x == k)
            && by_key.contains_key(k)
        {
            keys.push(k.to_string());
        }
    }
    let mut series = Vec::new();
    for k in &keys {
        let w = st.metrics.window(k, from, to).await?;
        for sr in w.series {
            series.push(SeriesView {
                service_key: k.clone(),
                metric_name: sr.metric_name,
                points: sr.points.into_iter().map(|(t, v)| (t.to_rfc3339(), v)).collect(),
            });
        }
    }
    let ids: Vec<ServiceId> = radius.nodes.iter().filter_map(|r| by_key.get(&r.key).map(|x| x.service_id)).collect();
    let key_of = |sid: &ServiceId| services.get(sid).map(Service::service_key);
    let mut changes = Vec::new();
    let lookback = from - Duration::minutes(s.cfg.change_lookback_minutes - 60);
    for d in st.records.deployments_between(&ids, lookback, to).await? {
        changes.push(ChangeMark {
            kind: "deployment".into(),
            id: d.deployment_event_id.to_string(),
            service_key: key_of(&d.service_id),
            at: d.started_at.to_rfc3339(),
            label: format!("deploy {}", d.image_ref.clone().or(d.revision.clone()).unwrap_or_default()),
        });
    }
    for c in st.records.config_changes_between(&ids, lookback, to).await? {
        let field = c.diff_payload.get("field").and_then(Value::as_str).unwrap_or("").to_string();
        changes.push(ChangeMark {
            kind: "config_change".into(),
            id: c.config_change_id.to_string(),
            service_key: c.service_id.as_ref().and_then(key_of),
            at: c.detected_at.to_rfc3339(),
            label: format!("{} {} {field}", c.change_kind, c.resource_name),
        });
    }
    changes.sort_by(|a, b| a.at.cmp(&b.at));
    Ok(Json(IncidentMetrics {
        from: from.to_rfc3339(),
        to: to.to_rfc3339(),
        window_start: incident.window_start.to_rfc3339(),
        window_end: incident.window_end.to_rfc3339(),
        onset: onset.map(|t| t.to_rfc3339()),
        series,
        changes,
        blast_radius: radius.nodes,
        topology_ref: radius.reference,
    }))
}
