//! Who may do what: projects (the unit of isolation every record belongs to), the
//! four roles a member holds in a project and the typed permissions they grant.

use serde::{Deserialize, Serialize};

use crate::DomainError;
use crate::ids::*;
use crate::model::Timestamp;

/// The project `inquest demo`, the CLI and an open loopback server act in when none is named.
pub const DEFAULT_PROJECT: &str = "default";

/// A project's id: a slug of lowercase letters, digits and `-` (1 to 63 characters,
/// starting with a letter or digit), used as a key prefix, a column value and a payload field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProjectId(String);

impl ProjectId {
    pub fn new(s: &str) -> Result<ProjectId, DomainError> {
        let ok_start = s.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let ok_chars = s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if s.is_empty() || s.len() > 63 || !ok_start || !ok_chars {
            return Err(DomainError::Invalid {
                field: "project",
                reason: format!(
                    "'{s}' is not a project id (1-63 of a-z, 0-9 and '-', starting with a letter or digit)"
                ),
            });
        }
        Ok(ProjectId(s.to_string()))
    }

    /// The `default` project.
    pub fn default_project() -> ProjectId {
        ProjectId(DEFAULT_PROJECT.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ProjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ProjectId {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProjectId::new(s)
    }
}

impl TryFrom<String> for ProjectId {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ProjectId::new(&s)
    }
}

impl From<ProjectId> for String {
    fn from(p: ProjectId) -> String {
        p.0
    }
}

/// What a request may do in a project. Every route requires exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read incidents, reports, evidence, metrics, jobs and the audit log.
    Read,
    /// Give feedback, transition incidents, add notes, re-investigate.
    Respond,
    /// Post alerts and change events (people with a role, and integrations).
    Ingest,
    /// Create, change and test integrations; create and revoke API tokens.
    ManageIntegrations,
    /// Add, change and remove members; change or delete the project.
    ManageProject,
}

impl Permission {
    pub const ALL: &'static [Permission] = &[
        Permission::Read,
        Permission::Respond,
        Permission::Ingest,
        Permission::ManageIntegrations,
        Permission::ManageProject,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Respond => "respond",
            Permission::Ingest => "ingest",
            Permission::ManageIntegrations => "manage_integrations",
            Permission::ManageProject => "manage_project",
        }
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member's role in one project, from most to least powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Engineer,
    Viewer,
}

impl Role {
    pub const ALL: &'static [Role] = &[Role::Owner, Role::Admin, Role::Engineer, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Engineer => "engineer",
            Role::Viewer => "viewer",
        }
    }

    /// The one table of who may do what (the README shows the same).
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Owner => true,
            Role::Admin => matches!(permission, Read | Respond | Ingest | ManageIntegrations),
            Role::Engineer => matches!(permission, Read | Respond | Ingest),
            Role::Viewer => matches!(permission, Read),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.iter().copied().find(|r| r.as_str() == s).ok_or_else(|| DomainError::UnknownVariant {
            field: "role",
            value: s.to_string(),
            expected: "owner admin engineer viewer",
        })
    }
}

/// A project: the unit every record, member, token, integration and audit entry belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub project_id: ProjectId,
    pub name: String,
    pub created_at: Timestamp,
}

/// A local or OIDC user. `password_hash` is an argon2id PHC string; `None` for users
/// who only sign in through OIDC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub user_id: UserId,
    pub login: String,
    pub display_name: String,
    #[serde(skip_serializing)]
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub created_at: Timestamp,
}

/// A user's role in a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub project_id: ProjectId,
    pub user_id: UserId,
    pub role: Role,
    pub added_at: Timestamp,
}

/// An API token: shown once at creation, stored only as the SHA-256 of its text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    pub token_id: TokenId,
    pub project_id: ProjectId,
    pub name: String,
    pub role: Role,
    #[serde(skip_serializing)]
    pub token_hash: String,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

impl ApiToken {
    /// Not revoked and not expired at `now`.
    pub fn usable(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

/// A dashboard session: the cookie holds a random id, the store only its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub session_hash: String,
    pub user_id: UserId,
    /// The project the dashboard currently shows (the header's switcher changes it).
    pub project_id: ProjectId,
    /// Sent back in `X-CSRF-Token` on every mutating request of the session.
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// How a webhook sender proves it is the integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookAuth {
    /// `Authorization: Bearer <secret>` (e.g. Alertmanager's `http_config.authorization`).
    Bearer,
    /// `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>` (e.g. GitHub).
    Hmac,
}

/// A per-project connection to a sender or a source (Alertmanager, GitHub, Prometheus, ...).
/// `settings` holds what is not secret; the secret is only ever stored encrypted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    pub integration_id: IntegrationId,
    pub project_id: ProjectId,
    pub kind: String,
    pub name: String,
    pub webhook_auth: WebhookAuth,
    pub settings: serde_json::Value,
    /// The secret sealed with the server's key (`key id:nonce:ciphertext`, base64).
    #[serde(skip_serializing)]
    pub secret_sealed: String,
    /// SHA-256 of the secret, to find the integration from a bearer credential.
    #[serde(skip_serializing)]
    pub secret_hash: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The result of an audited action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Allowed,
    Denied,
    Failed,
}

/// One appended line of the audit log; nothing changes or deletes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub audit_id: uuid::Uuid,
    pub at: Timestamp,
    /// `user:<login>`, `token:<id>`, `integration:<id>`, `oidc:<subject>`, `cli` or `anonymous`.
    pub actor: String,
    /// `None` when the request named no project it could act in (e.g. a failed login).
    pub project_id: Option<ProjectId>,
    /// e.g. `incident.feedback`, `token.create`, `login`.
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub details: serde_json::Value,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: AuditOutcome,
    /// The HTTP status the request ended with.
    pub status: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_ids_are_slugs() {
        assert!(ProjectId::new("payments-eu").is_ok());
        assert!(ProjectId::new("0team").is_ok());
        for bad in ["", "-x", "Payments", "a b", "a/b", &"x".repeat(64)] {
            assert!(ProjectId::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn each_role_grants_what_the_table_says() {
        use Permission::*;
        let grants = |r: Role| Permission::ALL.iter().filter(|p| r.allows(**p)).copied().collect::<Vec<_>>();
        assert_eq!(grants(Role::Viewer), vec![Read]);
        assert_eq!(grants(Role::Engineer), vec![Read, Respond, Ingest]);
        assert_eq!(grants(Role::Admin), vec![Read, Respond, Ingest, ManageIntegrations]);
        assert_eq!(grants(Role::Owner), Permission::ALL.to_vec());
    }
}
