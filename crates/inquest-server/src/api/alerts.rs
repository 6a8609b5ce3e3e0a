//! Alerts in: the generic alert (one or a batch, all or nothing) and the
//! Alertmanager v4 webhook (a group keeps its valid alerts). Refused alerts are
//! counted in `inquest_alerts_rejected_total`.

use inquest_domain::ProjectId;
use std::collections::BTreeMap;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use chrono::Utc;
use inquest_intake::model::{
    Alert, AlertSource, SkippedAlert, ValidationError, parse_alertmanager, parse_generic_body,
};
use inquest_intake_service::Ingest;
use inquest_ports::ErrorKind;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};

/// What was stored; `skipped` only on the Alertmanager webhook.
#[derive(Serialize, ToSchema)]
pub struct AlertsAccepted {
    pub stored: usize,
    /// One per stored alert: `index` (its position in the payload), `alert_id`,
    /// `fingerprint`, `incident_id`, `outcome` (`opened`, `attached`, `deduplicated`,
    /// `suppressed`, `resolved`, `ignored`), `job_id`, `resolved_after_seconds`.
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<Value>,
    /// Alerts of the group that were not taken: `index`, `field`, `message`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub skipped: Option<Vec<SkippedAlert>>,
}

type Accepted = (StatusCode, Json<AlertsAccepted>);

/// A generic alert. Documentation only: bodies are read by hand, so that an error
/// names the field (`[3].severity`) and a refused alert is counted.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code, reason = "documentation only")]
pub struct GenericAlert {
    /// Service name or `cluster/namespace/name`.
    service: String,
    /// `critical`, `high`, `medium` or `low`.
    severity: String,
    message: String,
    labels: Option<BTreeMap<String, String>>,
    /// When it started firing (RFC 3339; default now).
    timestamp: Option<String>,
    /// Identity for deduplication (default: derived from service, message and labels).
    fingerprint: Option<String>,
    /// `firing` (default) or `resolved`.
    status: Option<String>,
}

/// One generic alert, or a batch (refused as a whole when one alert is invalid).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "documentation only")]
pub enum GenericAlerts {
    One(GenericAlert),
    Batch(Vec<GenericAlert>),
}

/// The Alertmanager webhook payload, version 4. Documentation only (see `GenericAlert`).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "documentation only")]
pub struct AlertmanagerWebhook {
    /// Must be `4`.
    version: String,
    group_key: String,
    truncated_alerts: u64,
    /// `firing` or `resolved`.
    status: String,
    receiver: String,
    group_labels: BTreeMap<String, String>,
    common_labels: BTreeMap<String, String>,
    common_annotations: BTreeMap<String, String>,
    #[serde(rename = "externalURL")]
    external_url: String,
    alerts: Vec<AlertmanagerAlert>,
}

/// One alert of a webhook group; the service is the `service` label, else `job`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "documentation only")]
pub struct AlertmanagerAlert {
    status: Option<String>,
    labels: BTreeMap<String, String>,
    /// `summary` (or `description`) becomes the message.
    annotations: Option<BTreeMap<String, String>>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    #[serde(rename = "generatorURL")]
    generator_url: Option<String>,
    /// Default: Alertmanager's fingerprint of the labels.
    fingerprint: Option<String>,
}

/// Store generic alerts; one invalid alert refuses the batch (`field` names it).
#[utoipa::path(post, path = "/api/alerts", tag = "intake", request_body = GenericAlerts,
    responses((status = 202, body = AlertsAccepted), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn post_alerts(State(s): State<AppState>, body: Result<Bytes, BytesRejection>) -> Result<Accepted, ApiError> {
    let started = Instant::now();
    let ingest = &s.ingest;
    let value: Value = body
        .map_err(|e| ValidationError { field: "body".into(), message: e.body_text() })
        .and_then(|b| {
            serde_json::from_slice(&b)
                .map_err(|e| ValidationError { field: "body".into(), message: format!("not JSON: {e}") })
        })
        .map_err(|e| refused(ingest, AlertSource::Generic, e))?;
    let alerts = parse_generic_body(&value, Utc::now()).map_err(|e| refused(ingest, AlertSource::Generic, e))?;
    store(ingest, alerts.into_iter().enumerate().collect(), None, "alerts", started).await
}

/// Store an Alertmanager group. A payload that is no v4 webhook is refused; otherwise
/// the valid alerts are stored and each other one skipped (listed, counted and
/// logged), since Alertmanager does not retry a 4xx and would lose the valid ones.
#[utoipa::path(post, path = "/api/alertmanager", tag = "intake", request_body = AlertmanagerWebhook,
    responses((status = 202, body = AlertsAccepted), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn post_alertmanager(
    State(s): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Accepted, ApiError> {
    let started = Instant::now();
    let ingest = &s.ingest;
    let group = body
        .map_err(|e| ValidationError { field: "body".into(), message: e.body_text() })
        .and_then(|b| parse_alertmanager(&b))
        .map_err(|e| refused(ingest, AlertSource::Alertmanager, e))?
        .into_alerts();
    for s in &group.skipped {
        ingest.metrics.alert_rejected(AlertSource::Alertmanager, s.reason());
        tracing::warn!(index = s.index, field = %s.field, reason = s.reason(), error = %s.message, "alertmanager alert skipped");
    }
    store(ingest, group.accepted, Some(group.skipped), "alertmanager", started).await
}

/// A payload refused as a whole: counted, and answered `400`.
fn refused(ingest: &Ingest, source: AlertSource, e: ValidationError) -> ApiError {
    ingest.metrics.alert_rejected(source, e.reason());
    tracing::debug!(source = source.as_str(), field = %e.field, reason = e.reason(), "alerts refused");
    e.into()
}

/// Store `alerts` (each with its position in the payload) and answer `202` with one
/// result per stored alert, and the `skipped` ones when the endpoint skips.
async fn store(
    ingest: &Ingest,
    alerts: Vec<(usize, Alert)>,
    skipped: Option<Vec<SkippedAlert>>,
    endpoint: &str,
    started: Instant,
) -> Result<Accepted, ApiError> {
    let (positions, alerts): (Vec<usize>, Vec<Alert>) = alerts.into_iter().unzip();
    let source = alerts.first().map(|a| a.source);
    let applied = if alerts.is_empty() {
        Vec::new()
    } else {
        match ingest.ingest(&ProjectId::default_project(), alerts, Utc::now()).await {
            Ok(applied) => {
                ingest.metrics.request_duration.with_label_values(&[endpoint]).observe(started.elapsed().as_secs_f64());
                applied
            }
            // Input the store refuses would be refused again: a 4xx, so Alertmanager does not resend it forever.
            Err(e) if e.kind == ErrorKind::InvalidInput => {
                tracing::warn!(error = %e, "the intake store refused the input");
                if let Some(source) = source {
                    let rejected = ingest.metrics.alerts_rejected.with_label_values(&[source.as_str(), "store"]);
                    rejected.inc_by(positions.len() as u64);
                }
                return Err(ApiError::field("body", "the store cannot hold this input"));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let results: Vec<Value> = applied
        .iter()
        .zip(positions)
        .map(|(a, index)| {
            let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.insert("index".into(), json!(index));
            }
            v
        })
        .collect();
    Ok((StatusCode::ACCEPTED, Json(AlertsAccepted { stored: results.len(), results, skipped })))
}
