//! Who is asking, in which project, and what they may do: the one place access is
//! decided. A request is authenticated from an API token, an OIDC bearer JWT, an
//! integration's bearer secret or a dashboard session cookie (or, on an open
//! loopback server, acts as the local owner); handlers then declare the permission
//! they need in their signature (`Authorized<Respond>`), and nothing else checks.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use chrono::Utc;
use inquest_access::oidc::Verifier;
use inquest_access::seal::Keyring;
use inquest_access::throttle::LoginThrottle;
use inquest_access::{hmac, token};
use inquest_domain::{IntegrationId, Permission, ProjectId, Role, Session, UserId, WebhookAuth};
use inquest_ports::AccessStore;
use prometheus::{IntCounterVec, Opts, Registry};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "inquest_session";
/// The header a session's mutating requests carry their CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The header naming the project to act in, where the credential allows several.
pub const PROJECT_HEADER: &str = "x-inquest-project";

/// When the session cookie is marked `Secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecureCookie {
    /// When the request came over TLS (`X-Forwarded-Proto: https` from the proxy in front).
    Auto,
    Always,
    Never,
}

impl std::str::FromStr for SecureCookie {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(SecureCookie::Auto),
            "always" => Ok(SecureCookie::Always),
            "never" => Ok(SecureCookie::Never),
            other => Err(format!("'{other}' is not a secure_cookie mode (expected auto, always or never)")),
        }
    }
}

/// Counters of refused credentials, on the server's `/metrics` registry.
#[derive(Clone)]
pub struct AccessMetrics {
    /// `inquest_auth_failures_total{reason}`: requests refused with 401.
    pub auth_failures: IntCounterVec,
    /// `inquest_webhook_auth_failures_total{reason}`: webhooks refused for their credential or signature.
    pub webhook_failures: IntCounterVec,
    /// `inquest_access_denied_total{permission}`: authenticated requests refused with 403.
    pub denied: IntCounterVec,
}

impl AccessMetrics {
    pub fn with_registry(registry: &Registry) -> prometheus::Result<AccessMetrics> {
        let counter = |name: &str, help: &str, label: &str| -> prometheus::Result<IntCounterVec> {
            let c = IntCounterVec::new(Opts::new(name, help), &[label])?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        Ok(AccessMetrics {
            auth_failures: counter(
                "inquest_auth_failures_total",
                "Requests refused for a missing or bad credential",
                "reason",
            )?,
            webhook_failures: counter(
                "inquest_webhook_auth_failures_total",
                "Webhooks refused for a missing or bad credential or signature",
                "reason",
            )?,
            denied: counter("inquest_access_denied_total", "Requests refused for lacking a permission", "permission")?,
        })
    }
}

/// Everything deciding access, shared by every request.
pub struct Access {
    pub store: Arc<dyn AccessStore>,
    /// When false (only allowed on a loopback address), requests without a credential
    /// act as the local owner of the project they name (`X-Inquest-Project`, else `default`).
    pub required: bool,
    pub oidc: Option<Arc<Verifier>>,
    /// Opens integration secrets (sealed at rest).
    pub keyring: Arc<Keyring>,
    pub throttle: LoginThrottle,
    pub session_ttl: chrono::Duration,
    pub secure_cookie: SecureCookie,
    pub metrics: AccessMetrics,
}

impl Access {
    /// Access with credentials required, no OIDC, an ephemeral keyring and default limits.
    pub fn required(store: Arc<dyn AccessStore>, registry: &Registry) -> prometheus::Result<Access> {
        Ok(Access {
            store,
            required: true,
            oidc: None,
            keyring: Arc::new(Keyring::ephemeral()),
            throttle: LoginThrottle::new(5, std::time::Duration::from_secs(900)),
            session_ttl: chrono::Duration::hours(12),
            secure_cookie: SecureCookie::Auto,
            metrics: AccessMetrics::with_registry(registry)?,
        })
    }

    /// As `required`, but a request without a credential acts as the local owner.
    pub fn open(store: Arc<dyn AccessStore>, registry: &Registry) -> prometheus::Result<Access> {
        Ok(Access { required: false, ..Access::required(store, registry)? })
    }
}

/// What a request acts as.
#[derive(Debug, Clone, PartialEq)]
pub enum Grant {
    /// A member's (or token's) role in the project.
    Role(Role),
    /// A webhook sender: it may only post into the project.
    Integration,
}

/// The session a request came with.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRef {
    pub session_hash: String,
    pub csrf_token: String,
}

/// The authenticated identity of a request and the project it acts in.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// As written in the audit log: `user:<login>`, `token:<id>`, `oidc:<login>`, `integration:<id>`, `local`.
    pub actor: String,
    pub user_id: Option<UserId>,
    pub project: ProjectId,
    pub grant: Grant,
    pub session: Option<SessionRef>,
}

impl Principal {
    pub fn allows(&self, permission: Permission) -> bool {
        match self.grant {
            Grant::Role(role) => role.allows(permission),
            Grant::Integration => permission == Permission::Ingest,
        }
    }

    /// Who an action is recorded as: the identity, except on an open server, where
    /// the request may name someone (else `fallback`).
    pub fn acting_as(&self, claimed: Option<String>, fallback: &str) -> String {
        if self.actor == "local" {
            claimed.filter(|c| !c.trim().is_empty()).unwrap_or_else(|| fallback.to_string())
        } else {
            self.actor.clone()
        }
    }

    /// The role, for what people hold (an integration has none).
    pub fn role(&self) -> Option<Role> {
        match self.grant {
            Grant::Role(r) => Some(r),
            Grant::Integration => None,
        }
    }
}

/// A permission a handler needs, as a type, so the signature says it.
pub trait Need: Send + Sync + 'static {
    const PERMISSION: Permission;
}

macro_rules! need {
    ($($(#[$doc:meta])* $name:ident => $perm:ident),+ $(,)?) => {
        $($(#[$doc])* pub struct $name; impl Need for $name { const PERMISSION: Permission = Permission::$perm; })+
    };
}

need!(
    /// Read the project's incidents, reports, evidence, jobs and audit log.
    Read => Read,
    /// Feedback, transitions, notes, re-investigation.
    Respond => Respond,
    /// Post alerts.
    Ingest => Ingest,
    /// Integrations and API tokens.
    ManageIntegrations => ManageIntegrations,
    /// Members and the project.
    ManageProject => ManageProject,
);

/// An authenticated request allowed `N`'s permission in its project.
pub struct Authorized<N: Need> {
    pub principal: Principal,
    need: PhantomData<N>,
}

impl<N: Need> Authorized<N> {
    pub fn project(&self) -> &ProjectId {
        &self.principal.project
    }
}

impl<N: Need> FromRequestParts<AppState> for Authorized<N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = authenticate(parts, state).await.inspect_err(|e| AuditSlot::note_error(parts, e))?;
        AuditSlot::note(parts, &principal);
        check_csrf(parts, &principal).inspect_err(|e| AuditSlot::note_error(parts, e))?;
        if !principal.allows(N::PERMISSION) {
            state.access.metrics.denied.with_label_values(&[N::PERMISSION.as_str()]).inc();
            let e = ApiError::forbidden(N::PERMISSION);
            AuditSlot::note_error(parts, &e);
            return Err(e);
        }
        Ok(Authorized { principal, need: PhantomData })
    }
}

/// Any authenticated request, whatever it may do (`/api/auth/me`).
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = authenticate(parts, state).await.inspect_err(|e| AuditSlot::note_error(parts, e))?;
        AuditSlot::note(parts, &principal);
        check_csrf(parts, &principal).inspect_err(|e| AuditSlot::note_error(parts, e))?;
        Ok(Authenticated(principal))
    }
}

impl OptionalFromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, ApiError> {
        match <Authenticated as FromRequestParts<AppState>>::from_request_parts(parts, state).await {
            Ok(a) => Ok(Some(a)),
            Err(ApiError::Unauthorized { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn mutating(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A session's mutating request must echo the session's CSRF token: a cross-site
/// form can carry the cookie (were SameSite ever bypassed) but cannot read the token.
fn check_csrf(parts: &Parts, principal: &Principal) -> Result<(), ApiError> {
    let Some(session) = &principal.session else { return Ok(()) };
    if !mutating(&parts.method) {
        return Ok(());
    }
    let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    if bool::from(sent.as_bytes().ct_eq(session.csrf_token.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::Forbidden {
            message: format!("a session's mutating request needs the session's CSRF token in {CSRF_HEADER}"),
            permission: None,
        })
    }
}

fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| ApiError::unauthorized("the Authorization header is not text"))?;
    match value.split_once(' ') {
        Some((scheme, credential)) if scheme.eq_ignore_ascii_case("bearer") && !credential.trim().is_empty() => {
            Ok(Some(credential.trim()))
        }
        _ => Err(ApiError::unauthorized("the Authorization header must be 'Bearer <token>'")),
    }
}

pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn named_project(headers: &HeaderMap) -> Result<Option<ProjectId>, ApiError> {
    match headers.get(PROJECT_HEADER) {
        None => Ok(None),
        Some(v) => {
            let s = v.to_str().map_err(|_| ApiError::field(PROJECT_HEADER, "not text"))?;
            ProjectId::new(s).map(Some).map_err(|e| ApiError::field(PROJECT_HEADER, e))
        }
    }
}

/// The principal of a request, or 401 (nothing is written for a refused credential
/// but the audit entry and a counter).
pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let access = &state.access;
    let refused = |reason: &str, e: ApiError| {
        access.metrics.auth_failures.with_label_values(&[reason]).inc();
        e
    };
    if let Some(credential) = bearer(&parts.headers).map_err(|e| refused("malformed", e))? {
        return bearer_principal(state, credential, &parts.headers).await;
    }
    if let Some(id) = cookie(&parts.headers, SESSION_COOKIE) {
        return session_principal(state, id).await;
    }
    if access.required {
        return Err(refused("missing", ApiError::unauthorized("this route needs a credential")));
    }
    let project = named_project(&parts.headers)?.unwrap_or_else(ProjectId::default_project);
    if project != ProjectId::default_project() && access.store.get_project(&project).await?.is_none() {
        return Err(ApiError::not_found(format!("no project '{project}'")));
    }
    Ok(Principal { actor: "local".into(), user_id: None, project, grant: Grant::Role(Role::Owner), session: None })
}

async fn bearer_principal(state: &AppState, credential: &str, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let access = &state.access;
    let now = Utc::now();
    let refused = |reason: &str, message: &str| {
        access.metrics.auth_failures.with_label_values(&[reason]).inc();
        ApiError::invalid_token(message)
    };
    if token::is_api_token(credential) {
        let found = access.store.token_by_hash(&token::hash(credential)).await?;
        let Some(t) = found else { return Err(refused("unknown_token", "unknown API token")) };
        if t.revoked_at.is_some() {
            return Err(refused("revoked_token", "the API token was revoked"));
        }
        if !t.usable(now) {
            return Err(refused("expired_token", "the API token has expired"));
        }
        // Last use is a convenience: a failure to record it does not refuse the request.
        if let Err(e) = access.store.touch_token(t.token_id, now).await {
            tracing::warn!(error = %e, token = %t.token_id, "recording a token's last use failed");
        }
        return Ok(Principal {
            actor: format!("token:{}", t.token_id),
            user_id: t.created_by,
            project: t.project_id,
            grant: Grant::Role(t.role),
            session: None,
        });
    }
    if credential.split('.').count() == 3 {
        let Some(verifier) = &access.oidc else {
            return Err(refused("oidc_not_configured", "bearer JWTs are not accepted: OIDC is not configured"));
        };
        let identity = match verifier.verify(credential).await {
            Ok(i) => i,
            Err(e) => return Err(refused("invalid_jwt", &e.to_string())),
        };
        let roles = verifier.roles(&identity.groups);
        let project = match named_project(headers)? {
            Some(p) => p,
            None if roles.len() == 1 => roles[0].0.clone(),
            None => ProjectId::default_project(),
        };
        let Some((_, role)) = roles.into_iter().find(|(p, _)| *p == project) else {
            // Not a member of the project it asked for: as if the project did not exist.
            return Err(ApiError::not_found(format!("no project '{project}'")));
        };
        return Ok(Principal {
            actor: format!("oidc:{}", identity.login),
            user_id: None,
            project,
            grant: Grant::Role(role),
            session: None,
        });
    }
    if let Some(i) = access.store.integration_by_secret_hash(&token::hash(credential)).await? {
        return Ok(Principal {
            actor: format!("integration:{}", i.integration_id),
            user_id: None,
            project: i.project_id,
            grant: Grant::Integration,
            session: None,
        });
    }
    Err(refused("unknown_token", "unknown bearer credential"))
}

async fn session_principal(state: &AppState, id: &str) -> Result<Principal, ApiError> {
    let access = &state.access;
    let refused = |reason: &str, message: &str| {
        access.metrics.auth_failures.with_label_values(&[reason]).inc();
        ApiError::unauthorized(message)
    };
    let hash = token::hash(id);
    let Some(session) = access.store.session_by_hash(&hash).await? else {
        return Err(refused("unknown_session", "the session is unknown or was signed out"));
    };
    if session.expires_at <= Utc::now() {
        return Err(refused("expired_session", "the session has expired: sign in again"));
    }
    let Some(user) = access.store.get_user(session.user_id).await?.filter(|u| !u.disabled) else {
        return Err(refused("disabled_user", "the session's user is disabled"));
    };
    let role = session_role(access.store.as_ref(), &session).await?;
    let Some(role) = role else {
        // Removed from the project since signing in: as if it did not exist.
        return Err(ApiError::not_found(format!("no project '{}'", session.project_id)));
    };
    Ok(Principal {
        actor: format!("user:{}", user.login),
        user_id: Some(user.user_id),
        project: session.project_id,
        grant: Grant::Role(role),
        session: Some(SessionRef { session_hash: hash, csrf_token: session.csrf_token }),
    })
}

async fn session_role(store: &dyn AccessStore, session: &Session) -> Result<Option<Role>, ApiError> {
    Ok(store
        .memberships(session.user_id)
        .await?
        .into_iter()
        .find(|m| m.project_id == session.project_id)
        .map(|m| m.role))
}

/// What the audit middleware learns about a request from the extractors and handlers.
#[derive(Debug, Clone, Default)]
pub struct AuditNote {
    pub actor: Option<String>,
    pub project: Option<ProjectId>,
    pub reason: Option<String>,
    pub resource: Option<(String, String)>,
}

/// A slot in the request's extensions the audit middleware reads after the response.
#[derive(Debug, Clone, Default)]
pub struct AuditSlot(pub Arc<Mutex<AuditNote>>);

impl AuditSlot {
    fn with(parts: &Parts, f: impl FnOnce(&mut AuditNote)) {
        if let Some(slot) = parts.extensions.get::<AuditSlot>() {
            f(&mut slot.0.lock().unwrap_or_else(|p| p.into_inner()));
        }
    }

    pub fn note(parts: &Parts, principal: &Principal) {
        AuditSlot::with(parts, |n| {
            n.actor = Some(principal.actor.clone());
            n.project = Some(principal.project.clone());
        });
    }

    pub fn note_error(parts: &Parts, e: &ApiError) {
        AuditSlot::with(parts, |n| n.reason = Some(e.to_string()));
    }

    /// Set by a handler that knows better than the path (a login's attempted user, a created id).
    pub fn set(&self, f: impl FnOnce(&mut AuditNote)) {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// The header a signing sender puts its HMAC in (GitHub's name and format).
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// The same signature as Flux's `generic-hmac` provider names it (`sha256=<hex>`).
pub const FLUX_SIGNATURE_HEADER: &str = "x-signature";
/// The header (or `integration` query parameter) naming the integration that signed.
pub const INTEGRATION_HEADER: &str = "x-inquest-integration";
/// Largest webhook body read.
const WEBHOOK_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// A webhook's body and its sender, which proved itself with a signature over the
/// body (`X-Hub-Signature-256` and the integration named), or like any request
/// needing `ingest` (an integration's bearer secret, a token, a session).
pub struct Webhook {
    pub principal: Principal,
    /// The request's headers (a sender's event type and delivery id).
    pub headers: axum::http::HeaderMap,
    pub body: Result<Bytes, BytesRejection>,
}

fn integration_named(parts: &Parts) -> Option<String> {
    if let Some(v) = parts.headers.get(INTEGRATION_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(v.to_string());
    }
    parts
        .uri
        .query()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "integration")
        .map(|(_, v)| v.to_string())
}

impl FromRequest<AppState> for Webhook {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let refused = |parts: &Parts, reason: &str, e: ApiError| {
            state.access.metrics.webhook_failures.with_label_values(&[reason]).inc();
            AuditSlot::note_error(parts, &e);
            e
        };
        let signed = parts.headers.get(SIGNATURE_HEADER).or_else(|| parts.headers.get(FLUX_SIGNATURE_HEADER));
        let Some(signature) = signed.map(|v| v.to_str().unwrap_or("").to_string()) else {
            let authorized = match Authorized::<Ingest>::from_request_parts(&mut parts, state).await {
                Ok(a) => a,
                Err(e @ ApiError::Unauthorized { .. }) => {
                    state.access.metrics.webhook_failures.with_label_values(&["credential"]).inc();
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
            let headers = parts.headers.clone();
            let body = Bytes::from_request(Request::from_parts(parts, body), state).await;
            return Ok(Webhook { principal: authorized.principal, headers, body });
        };
        let unknown = || ApiError::invalid_token("the signature does not match a signing integration");
        let Some(id) = integration_named(&parts) else {
            let e = ApiError::invalid_token(format!("a signed webhook names its integration in {INTEGRATION_HEADER}"));
            return Err(refused(&parts, "unnamed_integration", e));
        };
        let Ok(id) = id.parse::<IntegrationId>() else { return Err(refused(&parts, "unknown_integration", unknown())) };
        let bytes = match axum::body::to_bytes(body, WEBHOOK_BODY_LIMIT).await {
            Ok(b) => b,
            Err(e) if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) => {
                return Err(ApiError::PayloadTooLarge(format!("the body is larger than {WEBHOOK_BODY_LIMIT} bytes")));
            }
            Err(e) => return Err(ApiError::field("body", format!("cannot read the body: {e}"))),
        };
        let found = state.access.store.integration_by_id(id).await?.filter(|i| i.webhook_auth == WebhookAuth::Hmac);
        let Some(integration) = found else { return Err(refused(&parts, "unknown_integration", unknown())) };
        let secret = state
            .access
            .keyring
            .open(&integration.secret_sealed)
            .map_err(|e| ApiError::Internal(format!("integration {id}: the secret does not open: {e}")))?;
        if !hmac::verify_sha256(secret.as_bytes(), &bytes, &signature) {
            return Err(refused(&parts, "bad_signature", unknown()));
        }
        let principal = Principal {
            actor: format!("integration:{}", integration.integration_id),
            user_id: None,
            project: integration.project_id,
            grant: Grant::Integration,
            session: None,
        };
        AuditSlot::note(&parts, &principal);
        Ok(Webhook { principal, headers: parts.headers.clone(), body: Ok(bytes) })
    }
}
