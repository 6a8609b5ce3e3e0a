//! The factor weights the ranking uses in this project: learned from its confirmed
//! and rejected hypotheses, beside the built-in defaults.

use axum::extract::State;
use chrono::Utc;
use inquest_core::learn::{self, Weights};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiResult, parse_time};
use crate::AppState;
use crate::auth::{Authorized, Read};
use crate::error::ErrorBody;
use crate::extract::Query;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WeightsQuery {
    /// Learn only from feedback given before this time, on incidents that started
    /// before it (RFC 3339; default now): the weights an incident starting then gets.
    pub before: Option<String>,
}

/// Per factor: the default weight, the learned one, and the pairs and judged
/// incidents it was learned from.
#[utoipa::path(get, path = "/api/ranking/weights", tag = "feedback", params(WeightsQuery),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)))]
pub async fn get_weights(
    State(s): State<AppState>,
    auth: Authorized<Read>,
    Query(q): Query<WeightsQuery>,
) -> ApiResult<Weights> {
    let before = q.before.as_deref().map(|b| parse_time("before", b)).transpose()?.unwrap_or_else(Utc::now);
    Ok(axum::Json(learn::learned_weights(&s.stores.for_project(auth.project()), before, None).await?))
}
