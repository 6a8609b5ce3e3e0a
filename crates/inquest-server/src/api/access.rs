//! The project itself, its members and its API tokens. A token is shown once, when
//! it is created, and never carries more than its creator's role.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use inquest_access::token;
use inquest_domain::{ApiToken, Member, Project, ProjectId, Role, TokenId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiResult, parse_id};
use crate::AppState;
use crate::auth::{AuditSlot, Authorized, ManageIntegrations, ManageProject, Principal, Read};
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonBody;

fn parse_role(field: &str, s: &str) -> Result<Role, ApiError> {
    s.parse::<Role>().map_err(|e| ApiError::field(field, e))
}

/// Whether `p` may hand out `role` (never more than it holds itself).
fn may_grant(p: &Principal, role: Role) -> Result<(), ApiError> {
    match p.role() {
        Some(own) if own <= role => Ok(()),
        _ => Err(ApiError::Forbidden {
            message: format!("cannot grant the '{role}' role: it is above the caller's own"),
            permission: None,
        }),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct NewProject {
    /// 1-63 of a-z, 0-9 and `-`.
    pub project_id: String,
    pub name: Option<String>,
}

/// Create a project; the signed-in creator becomes its owner.
#[utoipa::path(post, path = "/api/projects", tag = "access", request_body = NewProject,
    responses((status = 201, body = Object), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_project(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<ManageProject>,
    JsonBody(body): JsonBody<NewProject>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    let project_id = ProjectId::new(&body.project_id).map_err(|e| ApiError::field("project_id", e))?;
    let now = Utc::now();
    let project = Project { name: body.name.unwrap_or_else(|| project_id.to_string()), project_id, created_at: now };
    s.access.store.create_project(&project).await.map_err(|e| match e.kind {
        inquest_ports::ErrorKind::Conflict => ApiError::Conflict(format!("project '{}' exists", project.project_id)),
        _ => e.into(),
    })?;
    slot.set(|n| n.resource = Some(("project".into(), project.project_id.to_string())));
    if let Some(user) = auth.principal.user_id {
        let owner = Member { project_id: project.project_id.clone(), user_id: user, role: Role::Owner, added_at: now };
        s.access.store.put_member(&owner).await?;
    }
    Ok((StatusCode::CREATED, Json(project)))
}

/// A member as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct MemberView {
    pub login: String,
    pub display_name: String,
    pub role: String,
    pub added_at: String,
}

/// The project's members.
#[utoipa::path(get, path = "/api/members", tag = "access",
    responses((status = 200, body = Vec<MemberView>), (status = 401, body = ErrorBody)))]
pub async fn list_members(State(s): State<AppState>, auth: Authorized<Read>) -> ApiResult<Vec<MemberView>> {
    let mut out = Vec::new();
    for m in s.access.store.members(auth.project()).await? {
        if let Some(u) = s.access.store.get_user(m.user_id).await? {
            out.push(MemberView {
                login: u.login,
                display_name: u.display_name,
                role: m.role.to_string(),
                added_at: m.added_at.to_rfc3339(),
            });
        }
    }
    Ok(Json(out))
}

#[derive(Deserialize, ToSchema)]
pub struct MemberRole {
    /// `owner`, `admin`, `engineer` or `viewer`.
    pub role: String,
}

async fn owners(s: &AppState, project: &ProjectId) -> Result<usize, ApiError> {
    Ok(s.access.store.members(project).await?.iter().filter(|m| m.role == Role::Owner).count())
}

/// Add a user to the project, or change their role. The last owner cannot be demoted.
#[utoipa::path(put, path = "/api/members/{login}", tag = "access", request_body = MemberRole,
    params(("login" = String, Path, description = "the user's login")),
    responses((status = 200, body = MemberView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn put_member(
    State(s): State<AppState>,
    auth: Authorized<ManageProject>,
    Path(login): Path<String>,
    JsonBody(body): JsonBody<MemberRole>,
) -> ApiResult<MemberView> {
    let role = parse_role("role", &body.role)?;
    let user =
        s.access.store.user_by_login(&login).await?.ok_or_else(|| ApiError::not_found(format!("no user '{login}'")))?;
    let project = auth.project();
    let current = s.access.store.members(project).await?.into_iter().find(|m| m.user_id == user.user_id);
    if current.as_ref().is_some_and(|m| m.role == Role::Owner) && role != Role::Owner && owners(&s, project).await? <= 1
    {
        return Err(ApiError::Conflict("the project's last owner cannot be demoted".into()));
    }
    let added_at = current.map(|m| m.added_at).unwrap_or_else(Utc::now);
    let member = Member { project_id: project.clone(), user_id: user.user_id, role, added_at };
    s.access.store.put_member(&member).await?;
    Ok(Json(MemberView {
        login: user.login,
        display_name: user.display_name,
        role: role.to_string(),
        added_at: added_at.to_rfc3339(),
    }))
}

/// Remove a user from the project. The last owner cannot be removed.
#[utoipa::path(delete, path = "/api/members/{login}", tag = "access",
    params(("login" = String, Path, description = "the user's login")),
    responses((status = 204, description = "removed"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn remove_member(
    State(s): State<AppState>,
    auth: Authorized<ManageProject>,
    Path(login): Path<String>,
) -> Result<StatusCode, ApiError> {
    let not_member = || ApiError::not_found(format!("'{login}' is not a member"));
    let user = s.access.store.user_by_login(&login).await?.ok_or_else(not_member)?;
    let project = auth.project();
    let member = s.access.store.members(project).await?.into_iter().find(|m| m.user_id == user.user_id);
    let member = member.ok_or_else(not_member)?;
    if member.role == Role::Owner && owners(&s, project).await? <= 1 {
        return Err(ApiError::Conflict("the project's last owner cannot be removed".into()));
    }
    s.access.store.remove_member(project, user.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The project's API tokens (never their text).
#[utoipa::path(get, path = "/api/tokens", tag = "access",
    responses((status = 200, body = Vec<Object>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_tokens(State(s): State<AppState>, auth: Authorized<ManageIntegrations>) -> ApiResult<Vec<ApiToken>> {
    Ok(Json(s.access.store.list_tokens(auth.project()).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct NewToken {
    pub name: String,
    /// `owner`, `admin`, `engineer` or `viewer`; at most the caller's own role.
    pub role: String,
    /// Days until it expires (default: never).
    pub expires_in_days: Option<u32>,
}

/// A created token: `token` is shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    pub token: String,
    #[schema(value_type = Object)]
    pub record: ApiToken,
}

/// Create an API token for the project; its text is in the answer and nowhere else.
#[utoipa::path(post, path = "/api/tokens", tag = "access", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_token(
    State(s): State<AppState>,
    Extension(slot): Extension<AuditSlot>,
    auth: Authorized<ManageIntegrations>,
    JsonBody(body): JsonBody<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    if body.name.trim().is_empty() {
        return Err(ApiError::field("name", "must not be empty"));
    }
    let role = parse_role("role", &body.role)?;
    may_grant(&auth.principal, role)?;
    let now = Utc::now();
    let expires_at = match body.expires_in_days {
        Some(0) => return Err(ApiError::field("expires_in_days", "must be at least 1")),
        Some(d) => Some(now + chrono::Duration::days(i64::from(d))),
        None => None,
    };
    let text = token::generate();
    let record = ApiToken {
        token_id: TokenId::new_random(),
        project_id: auth.project().clone(),
        name: body.name.trim().to_string(),
        role,
        token_hash: token::hash(&text),
        created_by: auth.principal.user_id,
        created_at: now,
        expires_at,
        revoked_at: None,
        last_used_at: None,
    };
    s.access.store.create_token(&record).await?;
    slot.set(|n| n.resource = Some(("token".into(), record.token_id.to_string())));
    Ok((StatusCode::CREATED, Json(CreatedToken { token: text, record })))
}

/// Revoke an API token: it is refused from now on.
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "access",
    params(("id" = String, Path, description = "token UUID")),
    responses((status = 204, description = "revoked"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(s): State<AppState>,
    auth: Authorized<ManageIntegrations>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: TokenId = parse_id("token_id", &id)?;
    if s.access.store.revoke_token(auth.project(), id, Utc::now()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no active token {id}")))
    }
}
