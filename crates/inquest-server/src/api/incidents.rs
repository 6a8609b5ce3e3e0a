//! Incidents: the filtered list, one incident with everything gathered for it, and
//! re-investigation.

use inquest_domain::ProjectId;
use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use chrono::Utc;
use inquest_core::feedback::{self, Verdict};
use inquest_core::{InvestigateError, investigate_and_save};
use inquest_domain::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, parse_id, parse_time, service_keys};
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{IncidentPath, OptionalJsonBody, Query};
use crate::render_markdown;

/// Filters and pagination of the incident list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IncidentQuery {
    /// `open`, `triaged`, `resolved` or `suppressed`.
    pub status: Option<String>,
    /// Service name (e.g. `checkout`) or full service key.
    pub service: Option<String>,
    /// Exact severity, 1 (highest) to 5.
    pub severity: Option<String>,
    /// Incidents whose window starts at or after this time (RFC 3339).
    pub from: Option<String>,
    /// Incidents whose window starts before this time (RFC 3339).
    pub to: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<String>,
    /// Items to skip (default 0).
    pub offset: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TopHypothesis {
    pub hypothesis_id: String,
    pub hypothesis_type: String,
    pub title: String,
    pub confidence: f64,
}

#[derive(Serialize, ToSchema)]
pub struct IncidentSummary {
    pub incident_id: String,
    pub service: String,
    pub service_key: String,
    pub status: String,
    pub severity: i32,
    pub trigger_type: String,
    pub window_start: String,
    pub window_end: String,
    pub resolution_summary: Option<String>,
    pub top_hypothesis: Option<TopHypothesis>,
}

#[derive(Serialize, ToSchema)]
pub struct IncidentPage {
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    pub items: Vec<IncidentSummary>,
}

fn parse_num<T>(field: &str, v: &Option<String>, min: T, max: T) -> Result<Option<T>, ApiError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match v {
        None => Ok(None),
        Some(s) => {
            let n: T = s.trim().parse().map_err(|_| ApiError::field(field, format!("'{s}' is not a number")))?;
            if n < min || n > max {
                return Err(ApiError::field(field, format!("{n} is outside {min}..={max}")));
            }
            Ok(Some(n))
        }
    }
}

/// Incidents, newest first, with their top hypothesis.
#[utoipa::path(get, path = "/api/incidents", tag = "incidents", params(IncidentQuery),
    responses((status = 200, body = IncidentPage), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_incidents(State(s): State<AppState>, Query(q): Query<IncidentQuery>) -> ApiResult<IncidentPage> {
    let status = q.status.as_deref().map(|v| parse_id::<IncidentStatus>("status", v)).transpose()?;
    let severity = parse_num::<i32>("severity", &q.severity, 1, 5)?;
    let limit = parse_num::<usize>("limit", &q.limit, 1, 500)?.unwrap_or(50);
    let offset = parse_num::<usize>("offset", &q.offset, 0, usize::MAX)?.unwrap_or(0);
    let from = q.from.as_deref().map(|v| parse_time("from", v)).transpose()?;
    let to = q.to.as_deref().map(|v| parse_time("to", v)).transpose()?;
    let stores = s.stores.for_project(&ProjectId::default_project());
    let services = service_keys(&stores).await?;
    let matching: Vec<Incident> = stores
        .records
        .list_incidents()
        .await?
        .into_iter()
        .filter(|i| status.is_none_or(|st| i.status == st))
        .filter(|i| severity.is_none_or(|sv| i.severity == sv))
        .filter(|i| from.is_none_or(|f| i.window_start >= f))
        .filter(|i| to.is_none_or(|t| i.window_start < t))
        .filter(|i| {
            q.service.as_deref().is_none_or(|want| {
                services.get(&i.service_id).is_some_and(|svc| svc.service_name == want || svc.service_key() == want)
            })
        })
        .collect();
    let total = matching.len();
    let mut items = Vec::new();
    for i in matching.into_iter().skip(offset).take(limit) {
        let hypotheses = stores.records.hypotheses(i.incident_id).await?;
        let top = Hypothesis::top(&hypotheses);
        let svc = services.get(&i.service_id);
        items.push(IncidentSummary {
            incident_id: i.incident_id.to_string(),
            service: svc.map(|x| x.service_name.clone()).unwrap_or_default(),
            service_key: svc.map(Service::service_key).unwrap_or_default(),
            status: i.status.to_string(),
            severity: i.severity,
            trigger_type: i.trigger_type.clone(),
            window_start: i.window_start.to_rfc3339(),
            window_end: i.window_end.to_rfc3339(),
            resolution_summary: i.resolution_summary.clone(),
            top_hypothesis: top.map(|h| TopHypothesis {
                hypothesis_id: h.hypothesis_id.to_string(),
                hypothesis_type: h.hypothesis_type.to_string(),
                title: h.title.clone(),
                confidence: h.confidence,
            }),
        });
    }
    Ok(Json(IncidentPage { total, limit, offset, items }))
}

#[derive(Serialize, ToSchema)]
pub struct ReportView {
    pub report_id: String,
    pub created_at: String,
    #[schema(value_type = Object)]
    pub model_info: Value,
    pub markdown: String,
    /// The markdown rendered to HTML on the server (raw HTML in it is escaped).
    pub html: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReportRef {
    pub report_id: String,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct RunbookView {
    pub title: String,
    pub source_url: Option<String>,
    pub score: f64,
    pub evidence_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct IncidentDetail {
    #[schema(value_type = Object)]
    pub incident: Incident,
    pub service: String,
    pub service_key: String,
    /// Ranked hypotheses; `details.factors` holds the factor breakdown.
    #[schema(value_type = Vec<Object>)]
    pub hypotheses: Vec<Hypothesis>,
    /// Standing verdict per hypothesis id (`confirmed` or `rejected`).
    #[schema(value_type = Object)]
    pub verdicts: BTreeMap<String, String>,
    #[schema(value_type = Vec<Object>)]
    pub evidence: Vec<EvidenceArtifact>,
    #[schema(value_type = Vec<Object>)]
    pub decisions: Vec<IncidentDecision>,
    pub report: Option<ReportView>,
    /// Every report, oldest first.
    pub report_history: Vec<ReportRef>,
    #[schema(value_type = Vec<Object>)]
    pub feedback: Vec<FeedbackEvent>,
    /// Ids of feedback events undone by a later `feedback_retracted` event.
    pub retracted: Vec<String>,
    pub runbooks: Vec<RunbookView>,
}

async fn detail(s: &AppState, id: IncidentId) -> Result<IncidentDetail, ApiError> {
    let stores = s.stores.for_project(&ProjectId::default_project());
    let r = &stores.records;
    let incident = r.get_incident(id).await?.ok_or_else(|| ApiError::not_found(format!("incident {id} not found")))?;
    let services = service_keys(&stores).await?;
    let svc = services.get(&incident.service_id);
    let mut hypotheses = r.hypotheses(id).await?;
    hypotheses.sort_by_key(|h| h.rank);
    let evidence = r.evidence(id).await?;
    let reports = r.reports(id).await?;
    let feedback = r.feedback(id).await?;
    let verdicts = feedback::verdicts(&feedback)
        .into_iter()
        .map(|(h, v)| {
            (
                h.to_string(),
                match v {
                    Verdict::Confirmed => "confirmed",
                    Verdict::Rejected => "rejected",
                }
                .to_string(),
            )
        })
        .collect();
    let runbooks = evidence
        .iter()
        .filter(|e| {
            e.kind == EvidenceKind::SemanticMatch
                && e.metadata.get("collection").and_then(Value::as_str) == Some(collections::RUNBOOKS)
        })
        .map(|e| {
            let payload = e.metadata.get("payload");
            RunbookView {
                title: payload.and_then(|p| p.get("title")).and_then(Value::as_str).unwrap_or("runbook").to_string(),
                source_url: payload.and_then(|p| p.get("source_url")).and_then(Value::as_str).map(str::to_string),
                score: e.metadata.get("score").and_then(Value::as_f64).unwrap_or(0.0),
                evidence_id: e.evidence_id.to_string(),
            }
        })
        .collect();
    Ok(IncidentDetail {
        service: svc.map(|x| x.service_name.clone()).unwrap_or_default(),
        service_key: svc.map(Service::service_key).unwrap_or_default(),
        incident,
        hypotheses,
        verdicts,
        decisions: r.list_decisions(id).await?,
        report: reports.last().map(|rep| ReportView {
            report_id: rep.report_id.to_string(),
            created_at: rep.created_at.to_rfc3339(),
            model_info: rep.model_info.clone(),
            markdown: rep.report_markdown.clone(),
            html: render_markdown(&rep.report_markdown),
        }),
        report_history: reports
            .iter()
            .map(|rep| ReportRef { report_id: rep.report_id.to_string(), created_at: rep.created_at.to_rfc3339() })
            .collect(),
        retracted: feedback::retracted(&feedback).into_iter().map(|e| e.to_string()).collect(),
        feedback,
        evidence,
        runbooks,
    })
}

/// One incident with hypotheses, evidence, decisions, reports and feedback.
#[utoipa::path(get, path = "/api/incidents/{id}", tag = "incidents", params(("id" = String, Path, description = "incident UUID")),
    responses((status = 200, body = IncidentDetail), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_incident(State(s): State<AppState>, IncidentPath(id): IncidentPath) -> ApiResult<IncidentDetail> {
    Ok(Json(detail(&s, id).await?))
}

/// The optional body of a re-investigation: `{}` (or nothing) today.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvestigateRequest {}

/// Investigate the incident again (new evidence, ranking and report).
#[utoipa::path(post, path = "/api/incidents/{id}/investigate", tag = "incidents", params(("id" = String, Path, description = "incident UUID")),
    request_body(content = Option<InvestigateRequest>, description = "nothing, or `{}`"),
    responses((status = 200, body = IncidentDetail), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reinvestigate(
    State(s): State<AppState>,
    IncidentPath(id): IncidentPath,
    OptionalJsonBody(InvestigateRequest {}): OptionalJsonBody<InvestigateRequest>,
) -> ApiResult<IncidentDetail> {
    match investigate_and_save(
        &s.stores.for_project(&ProjectId::default_project()),
        s.writer.as_ref(),
        id,
        &s.cfg,
        Utc::now(),
    )
    .await
    {
        Ok(_) => Ok(Json(detail(&s, id).await?)),
        Err(InvestigateError::IncidentNotFound(_)) => Err(ApiError::not_found(format!("incident {id} not found"))),
        Err(InvestigateError::Records(e) | InvestigateError::Save(e)) => Err(e.into()),
    }
}
