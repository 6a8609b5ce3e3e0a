//! Signing in and out of the dashboard, who the request is, and the project switch.
//! A login sets an `HttpOnly; SameSite=Strict` session cookie (`Secure` behind TLS)
//! and returns the session's CSRF token, which every mutating request echoes.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use inquest_access::{password, token};
use inquest_domain::{Permission, ProjectId, Session};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{AuditSlot, Authenticated, Grant, Principal, SESSION_COOKIE, SecureCookie, cookie};
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonBody;

/// A project the caller may switch to.
#[derive(Serialize, ToSchema)]
pub struct ProjectRole {
    pub project_id: String,
    pub name: String,
    /// `owner`, `admin`, `engineer` or `viewer`.
    pub role: String,
}

/// Who the request is and what it may do.
#[derive(Serialize, ToSchema)]
pub struct Me {
    /// As the audit log names it: `user:<login>`, `token:<id>`, `oidc:<login>`, `integration:<id>`, `local`.
    pub actor: String,
    pub project: String,
    /// Absent for an integration.
    pub role: Option<String>,
    pub permissions: Vec<String>,
    /// The projects a signed-in user may switch to (for a token: its own).
    pub projects: Vec<ProjectRole>,
    /// For a session: the token to send in `X-CSRF-Token` on every mutating request.
    pub csrf_token: Option<String>,
    /// Whether the server requires a credential (false: an open loopback server).
    pub auth_required: bool,
}

async fn me_of(s: &AppState, p: &Principal) -> Result<Me, ApiError> {
    let store = &s.access.store;
    let projects = match p.user_id {
        Some(user) if p.session.is_some() => {
            let mut out = Vec::new();
            for m in store.memberships(user).await? {
                let name = store.get_project(&m.project_id).await?.map(|p| p.name).unwrap_or_default();
                out.push(ProjectRole { project_id: m.project_id.to_string(), name, role: m.role.to_string() });
            }
            out
        }
        _ if p.actor == "local" => store
            .list_projects()
            .await?
            .into_iter()
            .map(|pr| ProjectRole { project_id: pr.project_id.to_string(), name: pr.name, role: "owner".into() })
            .collect(),
        _ => {
            let name = store.get_project(&p.project).await?.map(|p| p.name).unwrap_or_default();
            let role = p.role().map(|r| r.to_string()).unwrap_or_default();
            vec![ProjectRole { project_id: p.project.to_string(), name, role }]
        }
    };
    Ok(Me {
        actor: p.actor.clone(),
        project: p.project.to_string(),
        role: p.role().map(|r| r.to_string()),
        permissions: Permission::ALL.iter().filter(|x| p.allows(**x)).map(|x| x.to_string()).collect(),
        projects,
        csrf_token: p.session.as_ref().map(|s| s.csrf_token.clone()),
        auth_required: s.access.required,
    })
}

/// Who the request is, its project, role and permissions.
#[utoipa::path(get, path = "/api/auth/me", tag = "access",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(State(s): State<AppState>, Authenticated(p): Authenticated) -> Result<Json<Me>, ApiError> {
    Ok(Json(me_of(&s, &p).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub login: String,
    pub password: String,
}

fn client_key(headers: &HeaderMap, addr: Option<std::net::SocketAddr>) -> String {
    addr.map(|a| a.ip().to_string()).unwrap_or_else(|| {
        headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()).unwrap_or("unknown").to_string()
    })
}

fn secure(mode: SecureCookie, headers: &HeaderMap) -> bool {
    match mode {
        SecureCookie::Always => true,
        SecureCookie::Never => false,
        SecureCookie::Auto => headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https"),
    }
}

fn session_cookie(value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("inquest_session=; Max-Age=0"))
}

/// Sign in with a local user's password: sets the session cookie. Failed attempts are
/// limited per account and client address (`429` with `Retry-After`).
#[utoipa::path(post, path = "/api/auth/login", tag = "access", request_body = LoginRequest,
    responses((status = 200, body = Me), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub async fn login(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    connect: Option<Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    let access = &s.access;
    let client = client_key(&headers, connect.map(|Extension(c)| c.0));
    slot.set(|n| n.actor = Some(format!("user:{}", body.login)));
    if let Err(wait) = access.throttle.check(&body.login, &client) {
        return Err(ApiError::TooManyRequests {
            message: "too many failed sign-ins for this account or address: wait and retry".into(),
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    let user = access.store.user_by_login(&body.login).await?;
    let verified = match &user {
        Some(u) if !u.disabled => u.password_hash.as_deref().is_some_and(|h| password::verify(&body.password, h)),
        // Spend the same time on an unknown login, so timing does not tell which logins exist.
        _ => {
            password::verify(&body.password, DUMMY_HASH.as_str());
            false
        }
    };
    let Some(user) = user.filter(|_| verified) else {
        access.throttle.failed(&body.login, &client);
        access.metrics.auth_failures.with_label_values(&["bad_password"]).inc();
        return Err(ApiError::unauthorized("wrong login or password"));
    };
    access.throttle.succeeded(&body.login, &client);
    let memberships = access.store.memberships(user.user_id).await?;
    let project = memberships
        .iter()
        .find(|m| m.project_id == ProjectId::default_project())
        .or(memberships.first())
        .map(|m| m.project_id.clone())
        .ok_or_else(|| ApiError::Forbidden {
            message: "the user is a member of no project".into(),
            permission: None,
        })?;
    // Not `inq_`-prefixed: a session id is never taken for an API token.
    let id = token::random_text(32);
    let now = Utc::now();
    let session = Session {
        session_hash: token::hash(&id),
        user_id: user.user_id,
        project_id: project.clone(),
        csrf_token: token::random_text(32),
        created_at: now,
        expires_at: now + access.session_ttl,
    };
    access.store.create_session(&session).await?;
    slot.set(|n| n.project = Some(project.clone()));
    let role = memberships.iter().find(|m| m.project_id == project).map(|m| m.role);
    let principal = Principal {
        actor: format!("user:{}", user.login),
        user_id: Some(user.user_id),
        project,
        grant: Grant::Role(role.unwrap_or(inquest_domain::Role::Viewer)),
        session: Some(crate::auth::SessionRef { session_hash: session.session_hash, csrf_token: session.csrf_token }),
    };
    let me = me_of(&s, &principal).await?;
    let cookie = session_cookie(&id, access.session_ttl.num_seconds(), secure(access.secure_cookie, &headers));
    Ok(([(header::SET_COOKIE, cookie)], Json(me)).into_response())
}

/// An argon2id hash of nothing anyone types, verified against for unknown logins.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| password::hash(&token::generate()).unwrap_or_default());

/// Sign out: the session is deleted and the cookie cleared.
#[utoipa::path(post, path = "/api/auth/logout", tag = "access",
    responses((status = 204, description = "signed out"), (status = 401, body = ErrorBody)))]
pub async fn logout(
    State(s): State<AppState>,
    headers: HeaderMap,
    Authenticated(p): Authenticated,
) -> Result<Response, ApiError> {
    if let Some(session) = &p.session {
        s.access.store.delete_session(&session.session_hash).await?;
    } else if cookie(&headers, SESSION_COOKIE).is_none() {
        return Err(ApiError::invalid("only a dashboard session signs out; revoke a token instead"));
    }
    let clear = session_cookie("", 0, secure(s.access.secure_cookie, &headers));
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct SwitchProject {
    pub project_id: String,
}

/// Switch the session to another project the user is a member of (another project is `404`).
#[utoipa::path(post, path = "/api/auth/project", tag = "access", request_body = SwitchProject,
    responses((status = 200, body = Me), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn switch_project(
    State(s): State<AppState>,
    Authenticated(p): Authenticated,
    JsonBody(body): JsonBody<SwitchProject>,
) -> Result<Json<Me>, ApiError> {
    let project = ProjectId::new(&body.project_id).map_err(|e| ApiError::field("project_id", e))?;
    let not_found = || ApiError::not_found(format!("no project '{project}'"));
    let Some(session) = &p.session else {
        if p.actor == "local" {
            // An open server has no session: the dashboard names the project per request.
            s.access.store.get_project(&project).await?.ok_or_else(not_found)?;
            return Ok(Json(me_of(&s, &Principal { project, ..p }).await?));
        }
        return Err(ApiError::invalid("a token or OIDC request names its project with X-Inquest-Project"));
    };
    let user = p.user_id.ok_or_else(not_found)?;
    let member = s.access.store.memberships(user).await?.into_iter().find(|m| m.project_id == project);
    let Some(member) = member else { return Err(not_found()) };
    s.access.store.set_session_project(&session.session_hash, &project).await?;
    let switched = Principal { project, grant: Grant::Role(member.role), ..p };
    Ok(Json(me_of(&s, &switched).await?))
}
