//! `PostgresAccessStore`: the access port on the records' pool (tables of
//! `0006_access.sql`). Each call is one transaction that first sets the settings its
//! rows' security policies read (`inquest.project`, or the credential hash or id a
//! lookup runs by), and every query filters `project_id` itself as well, so a role
//! that bypasses the policies still sees one project's rows.

use async_trait::async_trait;
use deadpool_postgres::{Pool, Transaction};
use inquest_domain::*;
use inquest_ports::{AccessStore, AuditQuery, ErrorKind, StoreError, StoreResult};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use crate::{BACKEND, PostgresStore, pg_err, pool_err};

/// The access port on PostgreSQL; cheap to clone (it shares the pool).
#[derive(Clone)]
pub struct PostgresAccessStore {
    pool: Pool,
}

impl PostgresStore {
    /// The access store on the same pool.
    pub fn access(&self) -> PostgresAccessStore {
        PostgresAccessStore { pool: self.pool.clone() }
    }
}

/// A unique violation is a taken id or login; anything else as the records port maps it.
fn err(op: &str, e: tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        let what = e.as_db_error().and_then(|d| d.detail()).unwrap_or("the row exists").to_string();
        return StoreError::new(ErrorKind::Conflict, BACKEND, op, what);
    }
    if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) {
        let what = e.as_db_error().and_then(|d| d.detail()).unwrap_or("a referenced row is missing").to_string();
        return StoreError::new(ErrorKind::NotFound, BACKEND, op, what);
    }
    pg_err(op, e)
}

fn corrupt(op: &str, what: impl std::fmt::Display) -> StoreError {
    StoreError::new(ErrorKind::Internal, BACKEND, op, format!("corrupt row: {what}"))
}

fn text_enum<T: serde::Serialize>(v: T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn parse_enum<T: serde::de::DeserializeOwned>(op: &str, s: String) -> StoreResult<T> {
    serde_json::from_value(serde_json::Value::String(s)).map_err(|e| corrupt(op, e))
}

fn project_of(op: &str, s: String) -> StoreResult<ProjectId> {
    ProjectId::new(&s).map_err(|e| corrupt(op, e))
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, col: &str, op: &str) -> StoreResult<T> {
    row.try_get(col).map_err(|e| corrupt(op, e))
}

const PROJECT_COLS: &str = "project_id, name, created_at";
const USER_COLS: &str = "user_id, login, display_name, password_hash, disabled, created_at";
const MEMBER_COLS: &str = "project_id, user_id, role, added_at";
const TOKEN_COLS: &str =
    "token_id, project_id, name, role, token_hash, created_by, created_at, expires_at, revoked_at, last_used_at";
const SESSION_COLS: &str = "session_hash, user_id, project_id, csrf_token, created_at, expires_at";
const INTEGRATION_COLS: &str = "integration_id, project_id, kind, name, webhook_auth, settings, secret_sealed, secret_hash, created_at, updated_at";
const AUDIT_COLS: &str = "audit_id, at, actor, project_id, action, resource_type, resource_id, details, client_addr, user_agent, outcome, status";

fn project(row: &Row, op: &str) -> StoreResult<Project> {
    Ok(Project {
        project_id: project_of(op, get(row, "project_id", op)?)?,
        name: get(row, "name", op)?,
        created_at: get(row, "created_at", op)?,
    })
}

fn user(row: &Row, op: &str) -> StoreResult<User> {
    Ok(User {
        user_id: UserId(get(row, "user_id", op)?),
        login: get(row, "login", op)?,
        display_name: get(row, "display_name", op)?,
        password_hash: get(row, "password_hash", op)?,
        disabled: get(row, "disabled", op)?,
        created_at: get(row, "created_at", op)?,
    })
}

fn member(row: &Row, op: &str) -> StoreResult<Member> {
    Ok(Member {
        project_id: project_of(op, get(row, "project_id", op)?)?,
        user_id: UserId(get(row, "user_id", op)?),
        role: parse_enum(op, get(row, "role", op)?)?,
        added_at: get(row, "added_at", op)?,
    })
}

fn token(row: &Row, op: &str) -> StoreResult<ApiToken> {
    Ok(ApiToken {
        token_id: TokenId(get(row, "token_id", op)?),
        project_id: project_of(op, get(row, "project_id", op)?)?,
        name: get(row, "name", op)?,
        role: parse_enum(op, get(row, "role", op)?)?,
        token_hash: get(row, "token_hash", op)?,
        created_by: get::<Option<uuid::Uuid>>(row, "created_by", op)?.map(UserId),
        created_at: get(row, "created_at", op)?,
        expires_at: get(row, "expires_at", op)?,
        revoked_at: get(row, "revoked_at", op)?,
        last_used_at: get(row, "last_used_at", op)?,
    })
}

fn session(row: &Row, op: &str) -> StoreResult<Session> {
    Ok(Session {
        session_hash: get(row, "session_hash", op)?,
        user_id: UserId(get(row, "user_id", op)?),
        project_id: project_of(op, get(row, "project_id", op)?)?,
        csrf_token: get(row, "csrf_token", op)?,
        created_at: get(row, "created_at", op)?,
        expires_at: get(row, "expires_at", op)?,
    })
}

fn integration(row: &Row, op: &str) -> StoreResult<Integration> {
    Ok(Integration {
        integration_id: IntegrationId(get(row, "integration_id", op)?),
        project_id: project_of(op, get(row, "project_id", op)?)?,
        kind: get(row, "kind", op)?,
        name: get(row, "name", op)?,
        webhook_auth: parse_enum(op, get(row, "webhook_auth", op)?)?,
        settings: get(row, "settings", op)?,
        secret_sealed: get(row, "secret_sealed", op)?,
        secret_hash: get(row, "secret_hash", op)?,
        created_at: get(row, "created_at", op)?,
        updated_at: get(row, "updated_at", op)?,
    })
}

fn audit_entry(row: &Row, op: &str) -> StoreResult<AuditEntry> {
    let status: i32 = get(row, "status", op)?;
    Ok(AuditEntry {
        audit_id: get(row, "audit_id", op)?,
        at: get(row, "at", op)?,
        actor: get(row, "actor", op)?,
        project_id: get::<Option<String>>(row, "project_id", op)?.map(|p| project_of(op, p)).transpose()?,
        action: get(row, "action", op)?,
        resource_type: get(row, "resource_type", op)?,
        resource_id: get(row, "resource_id", op)?,
        details: get(row, "details", op)?,
        client_addr: get(row, "client_addr", op)?,
        user_agent: get(row, "user_agent", op)?,
        outcome: parse_enum(op, get(row, "outcome", op)?)?,
        status: u16::try_from(status).map_err(|e| corrupt(op, e))?,
    })
}

impl PostgresAccessStore {
    async fn client(&self, op: &str) -> StoreResult<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| pool_err(op, e))
    }

    /// Statements on tables without row security (projects, users), outside a transaction.
    async fn plain(&self, op: &str) -> StoreResult<deadpool_postgres::Object> {
        self.client(op).await
    }
}

/// A transaction whose row-security settings are `scope` (`(name, value)`).
async fn begin<'c>(
    client: &'c mut deadpool_postgres::Object,
    op: &str,
    scope: &[(&str, &str)],
) -> StoreResult<Transaction<'c>> {
    let txn = client.transaction().await.map_err(|e| err(op, e))?;
    for (name, value) in scope {
        txn.execute("SELECT set_config($1, $2, true)", &[name, value]).await.map_err(|e| err(op, e))?;
    }
    Ok(txn)
}

async fn commit<R>(txn: Transaction<'_>, op: &str, out: StoreResult<R>) -> StoreResult<R> {
    let out = out?;
    txn.commit().await.map_err(|e| err(op, e))?;
    Ok(out)
}

async fn execute(txn: &Transaction<'_>, op: &str, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<u64> {
    txn.execute(sql, params).await.map_err(|e| err(op, e))
}

async fn rows(txn: &Transaction<'_>, op: &str, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<Row>> {
    txn.query(sql, params).await.map_err(|e| err(op, e))
}

#[async_trait]
impl AccessStore for PostgresAccessStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn check_connectivity(&self) -> StoreResult<()> {
        let op = "check_connectivity";
        let client = self.plain(op).await?;
        client.query_one("SELECT count(*) FROM audit_log WHERE false", &[]).await.map_err(|e| err(op, e))?;
        Ok(())
    }

    async fn create_project(&self, p: &Project) -> StoreResult<()> {
        let op = "create_project";
        let client = self.plain(op).await?;
        client
            .execute(
                "INSERT INTO projects (project_id, name, created_at) VALUES ($1, $2, $3)",
                &[&p.project_id.as_str(), &p.name, &p.created_at],
            )
            .await
            .map_err(|e| err(op, e))?;
        Ok(())
    }

    async fn get_project(&self, id: &ProjectId) -> StoreResult<Option<Project>> {
        let op = "get_project";
        let client = self.plain(op).await?;
        let sql = format!("SELECT {PROJECT_COLS} FROM projects WHERE project_id = $1");
        let row = client.query_opt(&sql, &[&id.as_str()]).await.map_err(|e| err(op, e))?;
        row.map(|r| project(&r, op)).transpose()
    }

    async fn list_projects(&self) -> StoreResult<Vec<Project>> {
        let op = "list_projects";
        let client = self.plain(op).await?;
        let sql = format!("SELECT {PROJECT_COLS} FROM projects ORDER BY project_id");
        let rows = client.query(&sql, &[]).await.map_err(|e| err(op, e))?;
        rows.iter().map(|r| project(r, op)).collect()
    }

    async fn create_user(&self, u: &User) -> StoreResult<()> {
        let op = "create_user";
        let client = self.plain(op).await?;
        client
            .execute(
                "INSERT INTO users (user_id, login, display_name, password_hash, disabled, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&u.user_id.0, &u.login, &u.display_name, &u.password_hash, &u.disabled, &u.created_at],
            )
            .await
            .map_err(|e| err(op, e))?;
        Ok(())
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>> {
        let op = "get_user";
        let client = self.plain(op).await?;
        let sql = format!("SELECT {USER_COLS} FROM users WHERE user_id = $1");
        let row = client.query_opt(&sql, &[&id.0]).await.map_err(|e| err(op, e))?;
        row.map(|r| user(&r, op)).transpose()
    }

    async fn user_by_login(&self, login: &str) -> StoreResult<Option<User>> {
        let op = "user_by_login";
        let client = self.plain(op).await?;
        let sql = format!("SELECT {USER_COLS} FROM users WHERE login = $1");
        let row = client.query_opt(&sql, &[&login]).await.map_err(|e| err(op, e))?;
        row.map(|r| user(&r, op)).transpose()
    }

    async fn count_users(&self) -> StoreResult<u64> {
        let op = "count_users";
        let client = self.plain(op).await?;
        let n: i64 = client.query_one("SELECT count(*) FROM users", &[]).await.map_err(|e| err(op, e))?.get(0);
        Ok(n.max(0) as u64)
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let op = "list_users";
        let client = self.plain(op).await?;
        let sql = format!("SELECT {USER_COLS} FROM users ORDER BY login");
        let rows = client.query(&sql, &[]).await.map_err(|e| err(op, e))?;
        rows.iter().map(|r| user(r, op)).collect()
    }

    async fn set_password(&self, id: UserId, password_hash: &str) -> StoreResult<()> {
        let op = "set_password";
        let client = self.plain(op).await?;
        let n = client
            .execute("UPDATE users SET password_hash = $2 WHERE user_id = $1", &[&id.0, &password_hash])
            .await
            .map_err(|e| err(op, e))?;
        if n == 0 {
            return Err(StoreError::new(ErrorKind::NotFound, BACKEND, op, format!("no user {id}")));
        }
        Ok(())
    }

    async fn put_member(&self, m: &Member) -> StoreResult<()> {
        let op = "put_member";
        let role = m.role.as_str();
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, op, &[("inquest.project", m.project_id.as_str())]).await?;
        let out = async {
            let txn = &txn;
            execute(
                txn,
                op,
                "INSERT INTO project_members (project_id, user_id, role, added_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (project_id, user_id) DO UPDATE SET role = EXCLUDED.role",
                &[&m.project_id.as_str(), &m.user_id.0, &role, &m.added_at],
            )
            .await
            .map(|_| ())
        }
        .await;
        commit(txn, op, out).await
    }

    async fn remove_member(&self, project: &ProjectId, user: UserId) -> StoreResult<bool> {
        let op = "remove_member";
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, op, &[("inquest.project", project.as_str())]).await?;
        let out = async {
            let txn = &txn;
            let sql = "DELETE FROM project_members WHERE project_id = $1 AND user_id = $2";
            Ok(execute(txn, op, sql, &[&project.as_str(), &user.0]).await? > 0)
        }
        .await;
        commit(txn, op, out).await
    }

    async fn members(&self, project: &ProjectId) -> StoreResult<Vec<Member>> {
        let op = "members";
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, op, &[("inquest.project", project.as_str())]).await?;
        let out = async {
            let txn = &txn;
            let sql =
                format!("SELECT {MEMBER_COLS} FROM project_members WHERE project_id = $1 ORDER BY added_at, user_id");
            rows(txn, op, &sql, &[&project.as_str()]).await?.iter().map(|r| member(r, op)).collect()
        }
        .await;
        commit(txn, op, out).await
    }

    async fn memberships(&self, user: UserId) -> StoreResult<Vec<Member>> {
        let op = "memberships";
        let id = user.0.to_string();
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, op, &[("inquest.user", &id)]).await?;
        let out = async {
            let txn = &txn;
            let sql = format!("SELECT {MEMBER_COLS} FROM project_members WHERE user_id = $1 ORDER BY project_id");
            rows(txn, op, &sql, &[&user.0]).await?.iter().map(|r| member(r, op)).collect()
        }
        .await;
        commit(txn, op, out).await
    }

    async fn create_token(&self, t: &ApiToken) -> StoreResult<()> {
        let op = "create_token";
        let role = t.role.as_str();
        let created_by = t.created_by.map(|u| u.0);
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, op, &[("inquest.project", t.project_id.as_str())]).await?;
        let out = async {
            let txn = &txn;
            execute(
                txn,
                op,
                &format!("INSERT INTO api_tokens ({TOKEN_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"),
                &[
                    &t.token_id.0,
                    &t.project_id.as_str(),
                    &t.name,
                    &role,
                    &t.token_hash,
                    &created_by,
                    &t.created_at,
                    &t.expires_at,
                    &t.revoked_at,
                    &t.last_used_at,
                ],
            )
            .await
            .map(|_| ())
        }
        .await;
        commit(txn, op, out).await
    }

    async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiToken>> {
        let op = "token_by_hash";
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, op, &[("inquest.token_hash", token_hash)]).await?;
        let out = async {
            let txn = &txn;
            let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE token_hash = $1");
            rows(txn, op, &sql, &[&token_hash]).await?.first().map(|r| token(r, op)).transpose()
        }
        .await;
        commit(txn, op, out).await
    }

    async fn list_tokens(&self, project: &ProjectId) -> StoreResult<Vec<ApiToken>> {
        let op = "list_tokens";
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, op, &[("inquest.project", project.as_str())]).await?;
        let out = async {
            let txn = &txn;
            let sql =
                format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE project_id = $1 ORDER BY created_at, token_id");
            rows(txn, op, &sql, &[&project.as_str()]).await?.iter().map(|r| token(r, op)).collect()
        }
        .await;
        commit(txn, op, out).await
    }

    async fn revoke_token(&self, project: &ProjectId, id: TokenId, at: Timestamp) -> StoreResult<bool> {
        let op = "revoke_token";
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, op, &[("inquest.project", project.as_str())]).await?;
        let out = async {
            let txn = &txn;
            let sql = "UPDATE api_tokens SET revoked_at = $3
                       WHERE project_id = $1 AND token_id = $2 AND revoked_at IS NULL";
            Ok(execute(txn, op, sql, &[&project.as_str(), &id.0, &at]).await? > 0)
        }
        .await;
        commit(txn, op, out).await
    }

    async fn touch_token(&self, id: TokenId, at: Timestamp) -> StoreResult<()> {
        let op = "touch_token";
        let key = id.0.to_string();
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, op, &[("inquest.token", &key)]).await?;
        let out = async {
            let txn = &txn;
            let sql = "UPDATE api_tokens SET last_used_at = $2 WHERE token_id = $1";
            execute(txn, op, sql, &[&id.0, &at]).await.map(|_| ())
        }
        .await;
        commit(txn, op, out).await
    }

    async fn create_session(&self, s: &Session) -> StoreResult<()> {
        let op = "create_session";
        let mut client = self.client(op).await?;
        let txn = begin(
            &mut client,
            op,
            &[("inquest.project", s.project_id.as_str()), ("inquest.session_hash", &s.session_hash)],
        )
        .await?;
        let out = async {
            let txn = &txn;
            execute(
                txn,
                op,
                &format!("INSERT INTO sessions ({SESSION_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"),
                &[&s.session_hash, &s.user_id.0, &s.project_id.as_str(), &s.csrf_token, &s.created_at, &s.expires_at],
            )
            .await
            .map(|_| ())
        }
        .await;
        commit(txn, op, out).await
    }

    async fn session_by_hash(&self, session_hash: &str) -> StoreResult<Option<Session>> {
        let op = "session_by_hash";
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, op, &[("inquest.session_hash", session_hash)]).await?;
        let out = async {
            let txn = &txn;
            let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE session_hash = $1");
            rows(txn, op, &sql, &[&session_hash]).await?.first().map(|r| session(r, op)).transpose()
        }
        .await;
        commit(txn, op, out).await
    }

    async fn set_session_project(&self, session_hash: &str, project: &ProjectId) -> StoreResult<()> {
        let op = "set_session_project";
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, op, &[("inquest.session_hash", session_hash)]).await?;
        let out = async {
            let txn = &txn;
            let sql = "UPDATE sessions SET project_id = $2 WHERE session_hash = $1";
            if execute(txn, op, sql, &[&session_hash, &project.as_str()]).await? == 0 {
                return Err(StoreError::new(ErrorKind::NotFound, BACKEND, op, "no such session"));
            }
            Ok(())
        }
        .await;
        commit(txn, op, out).await
    }

    async fn delete_session(&self, session_hash: &str) -> StoreResult<()> {
        let op = "delete_session";
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, op, &[("inquest.session_hash", session_hash)]).await?;
        let out = async {
            let txn = &txn;
            execute(txn, op, "DELETE FROM sessions WHERE session_hash = $1", &[&session_hash]).await.map(|_| ())
        }
        .await;
        commit(txn, op, out).await
    }

    async fn put_integration(&self, i: &Integration) -> StoreResult<()> {
        let op = "put_integration";
        let auth = text_enum(i.webhook_auth);
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, op, &[("inquest.project", i.project_id.as_str())]).await?;
        let out = async {
            let txn = &txn;
            let sql = format!(
                "INSERT INTO integrations ({INTEGRATION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (integration_id) DO UPDATE SET
                   kind = EXCLUDED.kind, name = EXCLUDED.name, webhook_auth = EXCLUDED.webhook_auth,
                   settings = EXCLUDED.settings, secret_sealed = EXCLUDED.secret_sealed,
                   secret_hash = EXCLUDED.secret_hash, updated_at = EXCLUDED.updated_at
                 WHERE integrations.project_id = EXCLUDED.project_id"
            );
            let n = execute(
                txn,
                op,
                &sql,
                &[
                    &i.integration_id.0,
                    &i.project_id.as_str(),
                    &i.kind,
                    &i.name,
                    &auth,
                    &i.settings,
                    &i.secret_sealed,
                    &i.secret_hash,
                    &i.created_at,
                    &i.updated_at,
                ],
            )
            .await?;
            if n == 0 {
                let why = format!("integration {} belongs to another project", i.integration_id);
                return Err(StoreError::new(ErrorKind::Conflict, BACKEND, op, why));
            }
            Ok(())
        }
        .await;
        commit(txn, op, out).await
    }

    async fn get_integration(&self, project: &ProjectId, id: IntegrationId) -> StoreResult<Option<Integration>> {
        let op = "get_integration";
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, op, &[("inquest.project", project.as_str())]).await?;
        let out = async {
            let txn = &txn;
            let sql =
                format!("SELECT {INTEGRATION_COLS} FROM integrations WHERE project_id = $1 AND integration_id = $2");
            rows(txn, op, &sql, &[&project.as_str(), &id.0]).await?.first().map(|r| integration(r, op)).transpose()
        }
        .await;
        commit(txn, op, out).await
    }

    async fn list_integrations(&self, project: &ProjectId) -> StoreResult<Vec<Integration>> {
        let op = "list_integrations";
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, op, &[("inquest.project", project.as_str())]).await?;
        let out = async {
            let txn = &txn;
            let sql = format!(
                "SELECT {INTEGRATION_COLS} FROM integrations WHERE project_id = $1 ORDER BY created_at, integration_id"
            );
            rows(txn, op, &sql, &[&project.as_str()]).await?.iter().map(|r| integration(r, op)).collect()
        }
        .await;
        commit(txn, op, out).await
    }

    async fn integration_by_secret_hash(&self, secret_hash: &str) -> StoreResult<Option<Integration>> {
        let op = "integration_by_secret_hash";
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, op, &[("inquest.secret_hash", secret_hash)]).await?;
        let out = async {
            let txn = &txn;
            let sql = format!("SELECT {INTEGRATION_COLS} FROM integrations WHERE secret_hash = $1");
            rows(txn, op, &sql, &[&secret_hash]).await?.first().map(|r| integration(r, op)).transpose()
        }
        .await;
        commit(txn, op, out).await
    }

    async fn integration_by_id(&self, id: IntegrationId) -> StoreResult<Option<Integration>> {
        let op = "integration_by_id";
        let key = id.0.to_string();
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, op, &[("inquest.integration", &key)]).await?;
        let out = async {
            let txn = &txn;
            let sql = format!("SELECT {INTEGRATION_COLS} FROM integrations WHERE integration_id = $1");
            rows(txn, op, &sql, &[&id.0]).await?.first().map(|r| integration(r, op)).transpose()
        }
        .await;
        commit(txn, op, out).await
    }

    async fn delete_integration(&self, project: &ProjectId, id: IntegrationId) -> StoreResult<bool> {
        let op = "delete_integration";
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, op, &[("inquest.project", project.as_str())]).await?;
        let out = async {
            let txn = &txn;
            let sql = "DELETE FROM integrations WHERE project_id = $1 AND integration_id = $2";
            Ok(execute(txn, op, sql, &[&project.as_str(), &id.0]).await? > 0)
        }
        .await;
        commit(txn, op, out).await
    }

    async fn append_audit(&self, e: &AuditEntry) -> StoreResult<()> {
        let op = "append_audit";
        let project = e.project_id.as_ref().map(ProjectId::as_str);
        let outcome = text_enum(e.outcome);
        let status = i32::from(e.status);
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, op, &[("inquest.project", project.unwrap_or(""))]).await?;
        let out = async {
            let txn = &txn;
            execute(
                txn,
                op,
                &format!(
                    "INSERT INTO audit_log ({AUDIT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                ),
                &[
                    &e.audit_id,
                    &e.at,
                    &e.actor,
                    &project,
                    &e.action,
                    &e.resource_type,
                    &e.resource_id,
                    &e.details,
                    &e.client_addr,
                    &e.user_agent,
                    &outcome,
                    &status,
                ],
            )
            .await
            .map(|_| ())
        }
        .await;
        commit(txn, op, out).await
    }

    async fn audit(&self, project: &ProjectId, q: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        let op = "audit";
        if q.limit == 0 {
            return Ok(Vec::new());
        }
        let outcome = q.outcome.map(text_enum);
        let (before_at, before_id) = q.before.map(|(at, id)| (Some(at), Some(id))).unwrap_or((None, None));
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        let mut client = self.client(op).await?;
        let txn = begin(&mut client, op, &[("inquest.project", project.as_str())]).await?;
        let out = async {
            let txn = &txn;
            let sql = format!(
                "SELECT {AUDIT_COLS} FROM audit_log
                 WHERE project_id = $1
                   AND ($2::text IS NULL OR actor = $2)
                   AND ($3::text IS NULL OR action = $3)
                   AND ($4::text IS NULL OR outcome = $4)
                   AND ($5::text IS NULL OR resource_type = $5)
                   AND ($6::timestamptz IS NULL OR at >= $6)
                   AND ($7::timestamptz IS NULL OR at <= $7)
                   AND ($8::timestamptz IS NULL OR (at, audit_id) < ($8, $9::uuid))
                 ORDER BY at DESC, audit_id DESC
                 LIMIT $10"
            );
            rows(
                txn,
                op,
                &sql,
                &[
                    &project.as_str(),
                    &q.actor,
                    &q.action,
                    &outcome,
                    &q.resource_type,
                    &q.from,
                    &q.to,
                    &before_at,
                    &before_id,
                    &limit,
                ],
            )
            .await?
            .iter()
            .map(|r| audit_entry(r, op))
            .collect()
        }
        .await;
        commit(txn, op, out).await
    }
}
