//! Feedback on an incident (append-only; the resolution is re-derived from it) and
//! the priors later investigations take from it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use inquest_core::feedback::{self, FeedbackError, FeedbackInput, Priors};
use inquest_domain::ProjectId;
use inquest_domain::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, parse_id, parse_time};
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{IncidentPath, JsonBody, Query};

/// A feedback event to record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// `hypothesis_confirmed`, `hypothesis_rejected`, `root_cause_set`,
    /// `human_note_added` or `feedback_retracted`.
    pub event_type: String,
    pub hypothesis_id: Option<String>,
    /// Note text, or the root cause in free text.
    pub text: Option<String>,
    /// For `feedback_retracted`: the event it undoes.
    pub retracts: Option<String>,
    /// Who is giving the feedback (default `dashboard`).
    pub actor_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FeedbackResponse {
    #[schema(value_type = Object)]
    pub event: FeedbackEvent,
    /// The incident with its resolution re-derived from every event.
    #[schema(value_type = Object)]
    pub incident: Incident,
}

fn feedback_input(b: &FeedbackRequest) -> Result<FeedbackInput, ApiError> {
    let kind = parse_id::<feedback::FeedbackKind>("event_type", &b.event_type)?;
    let hyp = b.hypothesis_id.as_deref().map(|h| parse_id::<HypothesisId>("hypothesis_id", h)).transpose()?;
    let need_hyp = || hyp.ok_or_else(|| ApiError::field("hypothesis_id", format!("required for {}", kind.as_str())));
    let text = b.text.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_string);
    Ok(match kind {
        feedback::FeedbackKind::HypothesisConfirmed => FeedbackInput::Confirm { hypothesis: need_hyp()? },
        feedback::FeedbackKind::HypothesisRejected => FeedbackInput::Reject { hypothesis: need_hyp()? },
        feedback::FeedbackKind::RootCauseSet => {
            if hyp.is_none() && text.is_none() {
                return Err(ApiError::field("hypothesis_id", "root_cause_set needs a hypothesis_id or a text"));
            }
            FeedbackInput::RootCause { hypothesis: hyp, text }
        }
        feedback::FeedbackKind::HumanNoteAdded => {
            FeedbackInput::Note { text: text.ok_or_else(|| ApiError::field("text", "required for human_note_added"))? }
        }
        feedback::FeedbackKind::FeedbackRetracted => {
            let r =
                b.retracts.as_deref().ok_or_else(|| ApiError::field("retracts", "required for feedback_retracted"))?;
            FeedbackInput::Retract { event: parse_id("retracts", r)? }
        }
    })
}

/// Record feedback (append-only); the resolution is re-derived from all events.
#[utoipa::path(post, path = "/api/incidents/{id}/feedback", tag = "feedback", params(("id" = String, Path, description = "incident UUID")),
    request_body = FeedbackRequest,
    responses((status = 201, body = FeedbackResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn post_feedback(
    State(s): State<AppState>,
    IncidentPath(id): IncidentPath,
    JsonBody(body): JsonBody<FeedbackRequest>,
) -> Result<(StatusCode, Json<FeedbackResponse>), ApiError> {
    let input = feedback_input(&body)?;
    let actor = body.actor_id.clone().filter(|a| !a.trim().is_empty()).unwrap_or_else(|| "dashboard".into());
    let now = Utc::now();
    let event = input.into_event(id, ActorType::User, Some(actor), now);
    let incident = feedback::record_feedback(&s.stores.for_project(&ProjectId::default_project()), &event, now)
        .await
        .map_err(|e| match e {
        FeedbackError::IncidentNotFound(_) => ApiError::not_found(e.to_string()),
        FeedbackError::UnknownHypothesis(_) => ApiError::field("hypothesis_id", e),
        FeedbackError::UnknownEvent(_) => ApiError::field("retracts", e),
        FeedbackError::AlreadyRetracted(_) => ApiError::Conflict(e.to_string()),
        FeedbackError::Invalid(m) => ApiError::invalid(m),
        FeedbackError::Store(e) => e.into(),
    })?;
    tracing::info!(incident_id = %id, event_type = %event.event_type, "feedback recorded");
    Ok((StatusCode::CREATED, Json(FeedbackResponse { event, incident })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PriorsQuery {
    /// Only feedback on incidents that started before this time (RFC 3339; default now).
    pub before: Option<String>,
}

/// The priors later investigations get from feedback on earlier incidents.
#[utoipa::path(get, path = "/api/priors", tag = "feedback", params(PriorsQuery),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)))]
pub async fn get_priors(State(s): State<AppState>, Query(q): Query<PriorsQuery>) -> ApiResult<Priors> {
    let before = q.before.as_deref().map(|b| parse_time("before", b)).transpose()?.unwrap_or_else(Utc::now);
    Ok(Json(feedback::gather_priors(&s.stores.for_project(&ProjectId::default_project()), before, None).await?))
}
