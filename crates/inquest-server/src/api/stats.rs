//! The dashboard summary of the caller's project: open incidents by status and
//! severity, MTTA and MTTR over the last days (incidents opened by alerts), the SLOs
//! burning at their last evaluation, and the tickets ready. Each part is read from its
//! own store; one that cannot be read is left out and named in `gaps`, so one store
//! down does not blank the summary.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use chrono::Utc;
use inquest_domain::IncidentStatus;
use inquest_ops::SloState;
use inquest_ports::StoreError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiResult;
use crate::AppState;
use crate::auth::{Authorized, Read};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Query;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// The period MTTA and MTTR are taken over, in days back from now: 1 to 365 (default 30).
    pub days: Option<String>,
}

/// Incidents neither resolved nor suppressed.
#[derive(Serialize, ToSchema)]
pub struct OpenIncidents {
    pub total: usize,
    /// `open` and `triaged` counts.
    pub by_status: BTreeMap<String, usize>,
    /// Counts per severity, `"1"` (highest) to `"5"`.
    pub by_severity: BTreeMap<String, usize>,
}

/// Mean times of the incidents opened by alerts in the period.
#[derive(Serialize, ToSchema)]
pub struct ResponseTimes {
    pub days: i64,
    /// Incidents opened in the period.
    pub incidents: usize,
    /// Mean time from opening to the first acknowledgement; `null` when none was acknowledged.
    pub mtta_seconds: Option<f64>,
    pub acknowledged: usize,
    /// Mean time from opening to resolution of those resolved; `null` when none was.
    pub mttr_seconds: Option<f64>,
    pub resolved: usize,
}

#[derive(Serialize, ToSchema)]
pub struct SloSummary {
    /// Enabled SLOs.
    pub enabled: usize,
    /// Names of those burning at their last evaluation.
    pub burning: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TicketSummary {
    /// Pending tickets whose dependencies are all completed.
    pub ready: usize,
}

/// A part of the summary that could not be read.
#[derive(Serialize, ToSchema)]
pub struct StatsGap {
    /// `incidents`, `response_times`, `slos` or `tickets`.
    pub part: String,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct Stats {
    pub generated_at: String,
    pub incidents: Option<OpenIncidents>,
    pub response_times: Option<ResponseTimes>,
    pub slos: Option<SloSummary>,
    pub tickets: Option<TicketSummary>,
    pub gaps: Vec<StatsGap>,
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn keep<T>(gaps: &mut Vec<StatsGap>, part: &str, r: Result<T, StoreError>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(part, error = %e, "a part of the summary could not be read");
            let message = format!("the {} store could not be read ({})", e.store, e.kind.as_str());
            gaps.push(StatsGap { part: part.into(), message });
            None
        }
    }
}

/// The dashboard summary.
#[utoipa::path(get, path = "/api/stats", tag = "stats", params(StatsQuery),
    responses((status = 200, body = Stats), (status = 400, body = ErrorBody)))]
pub async fn stats(State(s): State<AppState>, auth: Authorized<Read>, Query(q): Query<StatsQuery>) -> ApiResult<Stats> {
    let days = match q.days.as_deref() {
        None => 30,
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if (1..=365).contains(&n) => n,
            _ => return Err(ApiError::field("days", format!("'{v}' is not a whole number of days from 1 to 365"))),
        },
    };
    let project = auth.project();
    let now = Utc::now();
    let mut gaps = Vec::new();

    let records = s.stores.for_project(project).records;
    let incidents = keep(&mut gaps, "incidents", records.list_incidents().await).map(|all| {
        let open: Vec<_> =
            all.iter().filter(|i| !matches!(i.status, IncidentStatus::Resolved | IncidentStatus::Suppressed)).collect();
        let mut by_status = BTreeMap::new();
        let mut by_severity = BTreeMap::new();
        for i in &open {
            *by_status.entry(i.status.to_string()).or_insert(0) += 1;
            *by_severity.entry(i.severity.to_string()).or_insert(0) += 1;
        }
        OpenIncidents { total: open.len(), by_status, by_severity }
    });

    let since = now - chrono::Duration::days(days);
    let lifecycles = s.ingest.store.scoped(project).list_incidents().await;
    let response_times = keep(&mut gaps, "response_times", lifecycles).map(|all| {
        let recent: Vec<_> = all.iter().filter(|i| i.created_at >= since).collect();
        let secs = |d: chrono::Duration| d.num_milliseconds() as f64 / 1000.0;
        let ack: Vec<f64> = recent.iter().filter_map(|i| i.time_to_acknowledge()).map(secs).collect();
        let res: Vec<f64> = recent.iter().filter_map(|i| i.time_to_resolve()).map(secs).collect();
        ResponseTimes {
            days,
            incidents: recent.len(),
            mtta_seconds: mean(&ack),
            acknowledged: ack.len(),
            mttr_seconds: mean(&res),
            resolved: res.len(),
        }
    });

    let slos = keep(&mut gaps, "slos", s.ops.list_slos(project).await).map(|all| {
        let enabled: Vec<_> = all.iter().filter(|x| x.spec.enabled).collect();
        let burning = enabled
            .iter()
            .filter(|x| x.last.as_ref().is_some_and(|l| l.state == SloState::Burning))
            .map(|x| x.spec.name.clone())
            .collect();
        SloSummary { enabled: enabled.len(), burning }
    });

    let tickets = keep(&mut gaps, "tickets", s.tickets.count_ready(project).await).map(|ready| TicketSummary { ready });

    Ok(Json(Stats { generated_at: now.to_rfc3339(), incidents, response_times, slos, tickets, gaps }))
}
