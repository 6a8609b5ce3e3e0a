//! Integrations: per-project connections to senders and sources. Each holds its own
//! credential, sealed at rest with the server's key: a webhook sender presents it as
//! a bearer token, or signs its body with it (`X-Hub-Signature-256`). The secret is
//! shown once, when the integration is created.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use inquest_access::token;
use inquest_domain::{Integration, IntegrationId, WebhookAuth};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{ApiResult, parse_id};
use crate::AppState;
use crate::auth::{AuditSlot, Authorized, ManageIntegrations};
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonBody;

/// Settings keys that would hold a secret in the clear.
const SECRET_WORDS: &[&str] = &["secret", "password", "token", "key", "credential"];

#[derive(Deserialize, ToSchema)]
pub struct NewIntegration {
    /// e.g. `alertmanager`, `github`, `prometheus`, `generic` (a-z, 0-9, `-`, `_`).
    pub kind: String,
    pub name: String,
    /// `bearer` (default) or `hmac`.
    pub webhook_auth: Option<String>,
    /// What is not secret (e.g. `url` for the connection test); secrets go in `secret`.
    #[schema(value_type = Object)]
    pub settings: Option<Value>,
    /// The shared secret; generated when absent.
    pub secret: Option<String>,
}

/// A created integration: `secret` is shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedIntegration {
    #[schema(value_type = Object)]
    pub integration: Integration,
    pub secret: String,
    /// How the sender authenticates.
    pub usage: String,
}

fn validate(body: &NewIntegration) -> Result<(WebhookAuth, Value), ApiError> {
    let kind_ok = !body.kind.is_empty()
        && body.kind.len() <= 40
        && body.kind.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !kind_ok {
        return Err(ApiError::field("kind", format!("'{}' is not a kind (a-z, 0-9, '-', '_')", body.kind)));
    }
    if body.name.trim().is_empty() {
        return Err(ApiError::field("name", "must not be empty"));
    }
    let auth = match body.webhook_auth.as_deref().unwrap_or("bearer") {
        "bearer" => WebhookAuth::Bearer,
        "hmac" => WebhookAuth::Hmac,
        other => return Err(ApiError::field("webhook_auth", format!("'{other}' is not bearer or hmac"))),
    };
    let settings = body.settings.clone().unwrap_or_else(|| Value::Object(Default::default()));
    let Value::Object(map) = &settings else { return Err(ApiError::field("settings", "must be an object")) };
    if let Some(k) = map.keys().find(|k| SECRET_WORDS.iter().any(|w| k.to_lowercase().contains(w))) {
        return Err(ApiError::field(
            &format!("settings.{k}"),
            "looks like a secret: put it in `secret`, which is sealed",
        ));
    }
    if let Some(url) = map.get("url") {
        let ok = url.as_str().is_some_and(|u| u.starts_with("http://") || u.starts_with("https://"));
        if !ok {
            return Err(ApiError::field("settings.url", "must be an http:// or https:// URL"));
        }
    }
    if let Some(secret) = &body.secret
        && (secret.len() < 16 || token::is_api_token(secret))
    {
        return Err(ApiError::field("secret", "must be at least 16 characters and not an API token"));
    }
    Ok((auth, settings))
}

/// Create an integration of the project.
#[utoipa::path(post, path = "/api/integrations", tag = "access", request_body = NewIntegration,
    responses((status = 201, body = CreatedIntegration), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_integration(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<ManageIntegrations>,
    JsonBody(body): JsonBody<NewIntegration>,
) -> Result<(StatusCode, Json<CreatedIntegration>), ApiError> {
    let (webhook_auth, settings) = validate(&body)?;
    // Not `inq_`: a bearer integration secret must never be taken for an API token.
    let secret = body.secret.clone().unwrap_or_else(|| format!("whk_{}", token::hash(&token::generate())));
    let now = Utc::now();
    let integration = Integration {
        integration_id: IntegrationId::new_random(),
        project_id: auth.project().clone(),
        kind: body.kind.clone(),
        name: body.name.trim().to_string(),
        webhook_auth,
        settings,
        secret_sealed: s.access.keyring.seal(&secret),
        secret_hash: token::hash(&secret),
        created_at: now,
        updated_at: now,
    };
    s.access.store.put_integration(&integration).await?;
    slot.set(|n| n.resource = Some(("integration".into(), integration.integration_id.to_string())));
    let usage = match webhook_auth {
        WebhookAuth::Bearer => "send 'Authorization: Bearer <secret>'".to_string(),
        WebhookAuth::Hmac => format!(
            "sign the body: 'X-Hub-Signature-256: sha256=<hex HMAC-SHA256>' and name the integration with \
             'X-Inquest-Integration: {}'",
            integration.integration_id
        ),
    };
    Ok((StatusCode::CREATED, Json(CreatedIntegration { integration, secret, usage })))
}

/// The project's integrations (never their secrets).
#[utoipa::path(get, path = "/api/integrations", tag = "access",
    responses((status = 200, body = Vec<Object>), (status = 403, body = ErrorBody)))]
pub async fn list_integrations(
    State(s): State<AppState>,
    auth: Authorized<ManageIntegrations>,
) -> ApiResult<Vec<Integration>> {
    Ok(Json(s.access.store.list_integrations(auth.project()).await?))
}

async fn find(s: &AppState, auth: &Authorized<ManageIntegrations>, id: &str) -> Result<Integration, ApiError> {
    let id: IntegrationId = parse_id("integration_id", id)?;
    s.access
        .store
        .get_integration(auth.project(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no integration {id}")))
}

/// One integration.
#[utoipa::path(get, path = "/api/integrations/{id}", tag = "access",
    params(("id" = String, Path, description = "integration UUID")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn get_integration(
    State(s): State<AppState>,
    auth: Authorized<ManageIntegrations>,
    Path(id): Path<String>,
) -> ApiResult<Integration> {
    Ok(Json(find(&s, &auth, &id).await?))
}

/// Delete an integration: its credential is refused from now on.
#[utoipa::path(delete, path = "/api/integrations/{id}", tag = "access",
    params(("id" = String, Path, description = "integration UUID")),
    responses((status = 204, description = "deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_integration(
    State(s): State<AppState>,
    auth: Authorized<ManageIntegrations>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let i = find(&s, &auth, &id).await?;
    s.access.store.delete_integration(auth.project(), i.integration_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One check of a connection test.
#[derive(Serialize, ToSchema)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Serialize, ToSchema)]
pub struct ConnectionTest {
    pub ok: bool,
    pub checks: Vec<Check>,
}

/// Test an integration: its secret opens with the current key, and its `url`, when
/// set, answers.
#[utoipa::path(post, path = "/api/integrations/{id}/test", tag = "access",
    params(("id" = String, Path, description = "integration UUID")),
    responses((status = 200, body = ConnectionTest), (status = 404, body = ErrorBody)))]
pub async fn test_integration(
    State(s): State<AppState>,
    auth: Authorized<ManageIntegrations>,
    Path(id): Path<String>,
) -> ApiResult<ConnectionTest> {
    let i = find(&s, &auth, &id).await?;
    let mut checks = Vec::new();
    let opened = s.access.keyring.open(&i.secret_sealed);
    checks.push(Check {
        name: "secret".into(),
        ok: opened.as_ref().is_ok_and(|plain| token::hash(plain) == i.secret_hash),
        detail: match &opened {
            Ok(_) if s.access.keyring.is_current(&i.secret_sealed) => "opens with the current key".into(),
            Ok(_) => "opens with an older key: run `inquest integrations reseal`".into(),
            Err(e) => format!("does not open: {e}"),
        },
    });
    if let Some(url) = i.settings.get("url").and_then(Value::as_str) {
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).build();
        let answer = match client {
            Ok(c) => c.get(url).send().await.map(|r| r.status()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        checks.push(match answer {
            Ok(status) => {
                Check { name: "url".into(), ok: status.is_success(), detail: format!("{url} answered {status}") }
            }
            Err(e) => Check { name: "url".into(), ok: false, detail: format!("{url} did not answer: {e}") },
        });
    }
    Ok(Json(ConnectionTest { ok: checks.iter().all(|c| c.ok), checks }))
}
