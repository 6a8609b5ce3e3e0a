//! The access port: projects, users, members, API tokens, sessions, integrations and
//! the audit log. Lookups by credential hash (`token_by_hash`, `session_by_hash`,
//! `integration_by_secret_hash`) run before a project is known; every other call
//! names its project, and a store never returns another project's rows.

use async_trait::async_trait;
use inquest_domain::*;
use serde::{Deserialize, Serialize};

use crate::StoreResult;

/// Which audit entries to read, newest first, one page at a time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<AuditOutcome>,
    pub resource_type: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Entries strictly older than this `(at, audit_id)` cursor (the last of the previous page).
    pub before: Option<(Timestamp, uuid::Uuid)>,
    pub limit: usize,
}

#[async_trait]
pub trait AccessStore: Send + Sync {
    fn backend(&self) -> &'static str;
    async fn check_connectivity(&self) -> StoreResult<()>;

    /// `Conflict` when the id is taken.
    async fn create_project(&self, project: &Project) -> StoreResult<()>;
    async fn get_project(&self, id: &ProjectId) -> StoreResult<Option<Project>>;
    async fn list_projects(&self) -> StoreResult<Vec<Project>>;

    /// `Conflict` when the login is taken.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>>;
    async fn user_by_login(&self, login: &str) -> StoreResult<Option<User>>;
    async fn count_users(&self) -> StoreResult<u64>;
    /// Every user, by login. The default says the store cannot list (for test doubles).
    async fn list_users(&self) -> StoreResult<Vec<User>> {
        Err(crate::StoreError::new(crate::ErrorKind::Internal, self.backend(), "list_users", "not supported"))
    }
    async fn set_password(&self, id: UserId, password_hash: &str) -> StoreResult<()>;

    /// Adds the member or changes their role.
    async fn put_member(&self, member: &Member) -> StoreResult<()>;
    /// `false` when the user was not a member.
    async fn remove_member(&self, project: &ProjectId, user: UserId) -> StoreResult<bool>;
    async fn members(&self, project: &ProjectId) -> StoreResult<Vec<Member>>;
    /// Every project the user is a member of, with the role.
    async fn memberships(&self, user: UserId) -> StoreResult<Vec<Member>>;

    async fn create_token(&self, token: &ApiToken) -> StoreResult<()>;
    async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiToken>>;
    async fn list_tokens(&self, project: &ProjectId) -> StoreResult<Vec<ApiToken>>;
    /// `false` when there is no such token in the project or it was already revoked.
    async fn revoke_token(&self, project: &ProjectId, id: TokenId, at: Timestamp) -> StoreResult<bool>;
    async fn touch_token(&self, id: TokenId, at: Timestamp) -> StoreResult<()>;

    async fn create_session(&self, session: &Session) -> StoreResult<()>;
    async fn session_by_hash(&self, session_hash: &str) -> StoreResult<Option<Session>>;
    async fn set_session_project(&self, session_hash: &str, project: &ProjectId) -> StoreResult<()>;
    async fn delete_session(&self, session_hash: &str) -> StoreResult<()>;

    /// Adds the integration or replaces it (same id and project).
    async fn put_integration(&self, integration: &Integration) -> StoreResult<()>;
    async fn get_integration(&self, project: &ProjectId, id: IntegrationId) -> StoreResult<Option<Integration>>;
    async fn list_integrations(&self, project: &ProjectId) -> StoreResult<Vec<Integration>>;
    async fn integration_by_secret_hash(&self, secret_hash: &str) -> StoreResult<Option<Integration>>;
    /// An integration by id alone, for a signed webhook whose URL names it.
    async fn integration_by_id(&self, id: IntegrationId) -> StoreResult<Option<Integration>>;
    async fn delete_integration(&self, project: &ProjectId, id: IntegrationId) -> StoreResult<bool>;

    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()>;
    /// Entries of `project` matching `query`, newest first, at most `query.limit`.
    async fn audit(&self, project: &ProjectId, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>>;
}
