//! `EmbeddedAccessStore`: the access port on its own `redb` file (`<data dir>/access.redb`,
//! beside `inquest.redb` and `ingest.redb`; redb allows one handle per file). Rows are
//! JSON; credential hashes and sealed secrets, which the domain types never serialize,
//! are added to the stored JSON and read back by their `Deserialize`. Index tables map
//! token, session and secret hashes and bare ids to their rows. The `default` project is
//! created on open.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use inquest_domain::*;
use inquest_ports::{AccessStore, AuditQuery, ErrorKind, StoreError, StoreResult};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{BACKEND, MAX_STR, from_json, store_err};

type Json = TableDefinition<'static, &'static str, &'static [u8]>;
type PairJson = TableDefinition<'static, (&'static str, &'static str), &'static [u8]>;
type Index = TableDefinition<'static, &'static str, (&'static str, &'static str)>;

const META: TableDefinition<&str, u64> = TableDefinition::new("access_meta");
/// project_id -> `Project`
const PROJECTS: Json = TableDefinition::new("projects");
/// user_id -> `User` (with its password hash)
const USERS: Json = TableDefinition::new("users");
/// login -> user_id
const LOGINS: TableDefinition<&str, &str> = TableDefinition::new("user_logins");
/// `(project_id, user_id)` -> `Member`
const MEMBERS: PairJson = TableDefinition::new("project_members");
/// `(user_id, project_id)`
const MEMBERSHIPS: TableDefinition<(&str, &str), ()> = TableDefinition::new("user_memberships");
/// `(project_id, token_id)` -> `ApiToken` (with its hash)
const TOKENS: PairJson = TableDefinition::new("api_tokens");
/// token hash -> `(project_id, token_id)`
const TOKEN_HASHES: Index = TableDefinition::new("api_token_hashes");
/// token_id -> project_id
const TOKEN_IDS: TableDefinition<&str, &str> = TableDefinition::new("api_token_ids");
/// session hash -> `Session`
const SESSIONS: Json = TableDefinition::new("sessions");
/// `(project_id, integration_id)` -> `Integration` (with its sealed secret and hash)
const INTEGRATIONS: PairJson = TableDefinition::new("integrations");
/// secret hash -> `(project_id, integration_id)`
const SECRET_HASHES: Index = TableDefinition::new("integration_secret_hashes");
/// integration_id -> project_id
const INTEGRATION_IDS: TableDefinition<&str, &str> = TableDefinition::new("integration_ids");
/// `(project_id or "", "<at micros, zero-padded>/<audit_id>")` -> `AuditEntry`
const AUDIT: PairJson = TableDefinition::new("audit_log");

/// Bumped when the layout of the file changes incompatibly.
pub const ACCESS_SCHEMA_VERSION: u64 = 1;

/// The access port on an embedded `redb` file (or in memory).
#[derive(Clone)]
pub struct EmbeddedAccessStore {
    db: Arc<Database>,
}

fn err(op: &str, e: impl std::fmt::Display) -> StoreError {
    store_err(op, e)
}

fn conflict(op: &str, what: String) -> StoreError {
    StoreError::new(ErrorKind::Conflict, BACKEND, op, what)
}

/// `value` as JSON with `extra` fields added (the ones its type does not serialize).
fn encode<T: Serialize>(op: &str, value: &T, extra: &[(&str, serde_json::Value)]) -> StoreResult<Vec<u8>> {
    let mut json = serde_json::to_value(value).map_err(|e| err(op, e))?;
    if let Some(map) = json.as_object_mut() {
        for (k, v) in extra {
            map.insert((*k).to_string(), v.clone());
        }
    }
    serde_json::to_vec(&json).map_err(|e| err(op, e))
}

fn decode<T: DeserializeOwned>(op: &str, bytes: &[u8]) -> StoreResult<T> {
    from_json(op, bytes)
}

/// Audit keys sort by time, then id: the order of `(at, audit_id)`.
fn audit_key(at: Timestamp, id: uuid::Uuid) -> String {
    format!("{:020}/{id}", at.timestamp_micros().max(0))
}

fn token_row(token: &ApiToken, op: &str) -> StoreResult<Vec<u8>> {
    encode(op, token, &[("token_hash", token.token_hash.clone().into())])
}

fn integration_row(i: &Integration, op: &str) -> StoreResult<Vec<u8>> {
    encode(op, i, &[("secret_sealed", i.secret_sealed.clone().into()), ("secret_hash", i.secret_hash.clone().into())])
}

fn matches(e: &AuditEntry, q: &AuditQuery) -> bool {
    q.actor.as_ref().is_none_or(|a| &e.actor == a)
        && q.action.as_ref().is_none_or(|a| &e.action == a)
        && q.outcome.is_none_or(|o| e.outcome == o)
        && q.resource_type.as_ref().is_none_or(|r| &e.resource_type == r)
        && q.from.is_none_or(|f| e.at >= f)
        && q.to.is_none_or(|t| e.at <= t)
}

impl EmbeddedAccessStore {
    /// Open (or create) the access file at `path`.
    pub fn open(path: &Path) -> StoreResult<Self> {
        Self::init(crate::create_database(path)?)
    }

    /// An access store that lives only in memory (tests, the open demo).
    pub fn in_memory() -> StoreResult<Self> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| err("open", e))?;
        Self::init(db)
    }

    fn init(db: Database) -> StoreResult<Self> {
        let op = "migrate";
        let txn = db.begin_write().map_err(|e| err(op, e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| err(op, e))?;
            let current = meta.get("schema_version").map_err(|e| err(op, e))?.map(|v| v.value());
            if let Some(v) = current.filter(|v| *v > ACCESS_SCHEMA_VERSION) {
                return Err(StoreError::new(
                    ErrorKind::InvalidInput,
                    BACKEND,
                    op,
                    format!("access file has schema version {v}, this build knows up to {ACCESS_SCHEMA_VERSION}"),
                ));
            }
            meta.insert("schema_version", ACCESS_SCHEMA_VERSION).map_err(|e| err(op, e))?;
            macro_rules! create {
                ($($t:expr),+) => { $( txn.open_table($t).map_err(|e| err(op, e))?; )+ };
            }
            create!(PROJECTS, USERS, SESSIONS, MEMBERS, TOKENS, INTEGRATIONS, AUDIT);
            create!(LOGINS, TOKEN_IDS, INTEGRATION_IDS, TOKEN_HASHES, SECRET_HASHES, MEMBERSHIPS);
            let mut projects = txn.open_table(PROJECTS).map_err(|e| err(op, e))?;
            if projects.get(DEFAULT_PROJECT).map_err(|e| err(op, e))?.is_none() {
                let project = Project {
                    project_id: ProjectId::default_project(),
                    name: "Default".into(),
                    created_at: chrono::Utc::now(),
                };
                let row = encode(op, &project, &[])?;
                projects.insert(DEFAULT_PROJECT, row.as_slice()).map_err(|e| err(op, e))?;
            }
        }
        txn.commit().map_err(|e| err(op, e))?;
        Ok(Self { db: Arc::new(db) })
    }

    /// The schema version recorded in the file.
    pub fn schema_version(&self) -> StoreResult<u64> {
        let op = "schema_version";
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let meta = txn.open_table(META).map_err(|e| err(op, e))?;
        Ok(meta.get("schema_version").map_err(|e| err(op, e))?.map(|v| v.value()).unwrap_or(0))
    }

    fn write<R>(&self, op: &str, f: impl FnOnce(&WriteTransaction) -> StoreResult<R>) -> StoreResult<R> {
        let txn = self.db.begin_write().map_err(|e| err(op, e))?;
        // Dropping an uncommitted transaction aborts it: nothing half-written.
        let out = f(&txn)?;
        txn.commit().map_err(|e| err(op, e))?;
        Ok(out)
    }

    fn read<R>(&self, op: &str, f: impl FnOnce(&redb::ReadTransaction) -> StoreResult<R>) -> StoreResult<R> {
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        f(&txn)
    }

    fn get_json<T: DeserializeOwned>(&self, table: Json, key: &str, op: &str) -> StoreResult<Option<T>> {
        self.read(op, |txn| {
            let t = txn.open_table(table).map_err(|e| err(op, e))?;
            match t.get(key).map_err(|e| err(op, e))? {
                Some(v) => Ok(Some(decode(op, v.value())?)),
                None => Ok(None),
            }
        })
    }

    fn get_pair<T: DeserializeOwned>(&self, table: PairJson, key: (&str, &str), op: &str) -> StoreResult<Option<T>> {
        self.read(op, |txn| {
            let t = txn.open_table(table).map_err(|e| err(op, e))?;
            match t.get(key).map_err(|e| err(op, e))? {
                Some(v) => Ok(Some(decode(op, v.value())?)),
                None => Ok(None),
            }
        })
    }

    /// Every row of `table` whose first key element is `first`.
    fn list_pair<T: DeserializeOwned>(&self, table: PairJson, first: &str, op: &str) -> StoreResult<Vec<T>> {
        self.read(op, |txn| {
            let t = txn.open_table(table).map_err(|e| err(op, e))?;
            let mut out = Vec::new();
            for row in t.range((first, "")..=(first, MAX_STR)).map_err(|e| err(op, e))? {
                let (_, v) = row.map_err(|e| err(op, e))?;
                out.push(decode(op, v.value())?);
            }
            Ok(out)
        })
    }

    /// The row an index names, `(project, id)`.
    fn by_index<T: DeserializeOwned>(
        &self,
        index: Index,
        rows: PairJson,
        key: &str,
        op: &str,
    ) -> StoreResult<Option<T>> {
        self.read(op, |txn| {
            let idx = txn.open_table(index).map_err(|e| err(op, e))?;
            let Some(at) = idx.get(key).map_err(|e| err(op, e))? else { return Ok(None) };
            let (project, id) = at.value();
            let t = txn.open_table(rows).map_err(|e| err(op, e))?;
            match t.get((project, id)).map_err(|e| err(op, e))? {
                Some(v) => Ok(Some(decode(op, v.value())?)),
                None => Ok(None),
            }
        })
    }
}

#[async_trait]
impl AccessStore for EmbeddedAccessStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn check_connectivity(&self) -> StoreResult<()> {
        self.db
            .begin_read()
            .map(|_| ())
            .map_err(|e| StoreError::new(ErrorKind::Unavailable, BACKEND, "check_connectivity", e))
    }

    async fn create_project(&self, project: &Project) -> StoreResult<()> {
        let op = "create_project";
        self.write(op, |txn| {
            let mut t = txn.open_table(PROJECTS).map_err(|e| err(op, e))?;
            let id = project.project_id.as_str();
            if t.get(id).map_err(|e| err(op, e))?.is_some() {
                return Err(conflict(op, format!("project '{id}' exists")));
            }
            let row = encode(op, project, &[])?;
            t.insert(id, row.as_slice()).map_err(|e| err(op, e))?;
            Ok(())
        })
    }

    async fn get_project(&self, id: &ProjectId) -> StoreResult<Option<Project>> {
        self.get_json(PROJECTS, id.as_str(), "get_project")
    }

    async fn list_projects(&self) -> StoreResult<Vec<Project>> {
        let op = "list_projects";
        self.read(op, |txn| {
            let t = txn.open_table(PROJECTS).map_err(|e| err(op, e))?;
            let mut out = Vec::new();
            for row in t.iter().map_err(|e| err(op, e))? {
                let (_, v) = row.map_err(|e| err(op, e))?;
                out.push(decode(op, v.value())?);
            }
            Ok(out)
        })
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let op = "create_user";
        self.write(op, |txn| {
            let mut logins = txn.open_table(LOGINS).map_err(|e| err(op, e))?;
            if logins.get(user.login.as_str()).map_err(|e| err(op, e))?.is_some() {
                return Err(conflict(op, format!("login '{}' is taken", user.login)));
            }
            let id = user.user_id.to_string();
            let mut users = txn.open_table(USERS).map_err(|e| err(op, e))?;
            if users.get(id.as_str()).map_err(|e| err(op, e))?.is_some() {
                return Err(conflict(op, format!("user {id} exists")));
            }
            logins.insert(user.login.as_str(), id.as_str()).map_err(|e| err(op, e))?;
            let row = encode(op, user, &[("password_hash", user.password_hash.clone().into())])?;
            users.insert(id.as_str(), row.as_slice()).map_err(|e| err(op, e))?;
            Ok(())
        })
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>> {
        self.get_json(USERS, &id.to_string(), "get_user")
    }

    async fn user_by_login(&self, login: &str) -> StoreResult<Option<User>> {
        let op = "user_by_login";
        self.read(op, |txn| {
            let logins = txn.open_table(LOGINS).map_err(|e| err(op, e))?;
            let Some(id) = logins.get(login).map_err(|e| err(op, e))? else { return Ok(None) };
            let users = txn.open_table(USERS).map_err(|e| err(op, e))?;
            match users.get(id.value()).map_err(|e| err(op, e))? {
                Some(v) => Ok(Some(decode(op, v.value())?)),
                None => Ok(None),
            }
        })
    }

    async fn count_users(&self) -> StoreResult<u64> {
        let op = "count_users";
        self.read(op, |txn| {
            use redb::ReadableTableMetadata;
            txn.open_table(USERS).map_err(|e| err(op, e))?.len().map_err(|e| err(op, e))
        })
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let op = "list_users";
        self.read(op, |txn| {
            let logins = txn.open_table(LOGINS).map_err(|e| err(op, e))?;
            let users = txn.open_table(USERS).map_err(|e| err(op, e))?;
            let mut out = Vec::new();
            for row in logins.iter().map_err(|e| err(op, e))? {
                let (_, id) = row.map_err(|e| err(op, e))?;
                if let Some(v) = users.get(id.value()).map_err(|e| err(op, e))? {
                    out.push(decode(op, v.value())?);
                }
            }
            Ok(out)
        })
    }

    async fn set_password(&self, id: UserId, password_hash: &str) -> StoreResult<()> {
        let op = "set_password";
        self.write(op, |txn| {
            let mut users = txn.open_table(USERS).map_err(|e| err(op, e))?;
            let key = id.to_string();
            let mut user: User = match users.get(key.as_str()).map_err(|e| err(op, e))? {
                Some(v) => decode(op, v.value())?,
                None => return Err(StoreError::new(ErrorKind::NotFound, BACKEND, op, format!("no user {id}"))),
            };
            user.password_hash = Some(password_hash.to_string());
            let row = encode(op, &user, &[("password_hash", user.password_hash.clone().into())])?;
            users.insert(key.as_str(), row.as_slice()).map_err(|e| err(op, e))?;
            Ok(())
        })
    }

    async fn put_member(&self, member: &Member) -> StoreResult<()> {
        let op = "put_member";
        self.write(op, |txn| {
            let (project, user) = (member.project_id.as_str(), member.user_id.to_string());
            if txn.open_table(PROJECTS).map_err(|e| err(op, e))?.get(project).map_err(|e| err(op, e))?.is_none() {
                return Err(StoreError::new(ErrorKind::NotFound, BACKEND, op, format!("no project '{project}'")));
            }
            if txn.open_table(USERS).map_err(|e| err(op, e))?.get(user.as_str()).map_err(|e| err(op, e))?.is_none() {
                return Err(StoreError::new(ErrorKind::NotFound, BACKEND, op, format!("no user {user}")));
            }
            let row = encode(op, member, &[])?;
            let mut members = txn.open_table(MEMBERS).map_err(|e| err(op, e))?;
            members.insert((project, user.as_str()), row.as_slice()).map_err(|e| err(op, e))?;
            let mut by_user = txn.open_table(MEMBERSHIPS).map_err(|e| err(op, e))?;
            by_user.insert((user.as_str(), project), ()).map_err(|e| err(op, e))?;
            Ok(())
        })
    }

    async fn remove_member(&self, project: &ProjectId, user: UserId) -> StoreResult<bool> {
        let op = "remove_member";
        self.write(op, |txn| {
            let user = user.to_string();
            let mut members = txn.open_table(MEMBERS).map_err(|e| err(op, e))?;
            let removed = members.remove((project.as_str(), user.as_str())).map_err(|e| err(op, e))?.is_some();
            let mut by_user = txn.open_table(MEMBERSHIPS).map_err(|e| err(op, e))?;
            by_user.remove((user.as_str(), project.as_str())).map_err(|e| err(op, e))?;
            Ok(removed)
        })
    }

    async fn members(&self, project: &ProjectId) -> StoreResult<Vec<Member>> {
        self.list_pair(MEMBERS, project.as_str(), "members")
    }

    async fn memberships(&self, user: UserId) -> StoreResult<Vec<Member>> {
        let op = "memberships";
        self.read(op, |txn| {
            let user = user.to_string();
            let by_user = txn.open_table(MEMBERSHIPS).map_err(|e| err(op, e))?;
            let members = txn.open_table(MEMBERS).map_err(|e| err(op, e))?;
            let mut out = Vec::new();
            for row in by_user.range((user.as_str(), "")..=(user.as_str(), MAX_STR)).map_err(|e| err(op, e))? {
                let (k, _) = row.map_err(|e| err(op, e))?;
                let (_, project) = k.value();
                if let Some(v) = members.get((project, user.as_str())).map_err(|e| err(op, e))? {
                    out.push(decode(op, v.value())?);
                }
            }
            Ok(out)
        })
    }

    async fn create_token(&self, token: &ApiToken) -> StoreResult<()> {
        let op = "create_token";
        self.write(op, |txn| {
            let (project, id) = (token.project_id.as_str(), token.token_id.to_string());
            if txn.open_table(PROJECTS).map_err(|e| err(op, e))?.get(project).map_err(|e| err(op, e))?.is_none() {
                return Err(StoreError::new(ErrorKind::NotFound, BACKEND, op, format!("no project '{project}'")));
            }
            let mut ids = txn.open_table(TOKEN_IDS).map_err(|e| err(op, e))?;
            let mut hashes = txn.open_table(TOKEN_HASHES).map_err(|e| err(op, e))?;
            if ids.get(id.as_str()).map_err(|e| err(op, e))?.is_some()
                || hashes.get(token.token_hash.as_str()).map_err(|e| err(op, e))?.is_some()
            {
                return Err(conflict(op, format!("token {id} exists")));
            }
            ids.insert(id.as_str(), project).map_err(|e| err(op, e))?;
            hashes.insert(token.token_hash.as_str(), (project, id.as_str())).map_err(|e| err(op, e))?;
            let row = token_row(token, op)?;
            txn.open_table(TOKENS)
                .map_err(|e| err(op, e))?
                .insert((project, id.as_str()), row.as_slice())
                .map_err(|e| err(op, e))?;
            Ok(())
        })
    }

    async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiToken>> {
        self.by_index(TOKEN_HASHES, TOKENS, token_hash, "token_by_hash")
    }

    async fn list_tokens(&self, project: &ProjectId) -> StoreResult<Vec<ApiToken>> {
        let mut tokens: Vec<ApiToken> = self.list_pair(TOKENS, project.as_str(), "list_tokens")?;
        tokens.sort_by_key(|t| t.created_at);
        Ok(tokens)
    }

    async fn revoke_token(&self, project: &ProjectId, id: TokenId, at: Timestamp) -> StoreResult<bool> {
        let op = "revoke_token";
        self.write(op, |txn| {
            let id = id.to_string();
            let mut tokens = txn.open_table(TOKENS).map_err(|e| err(op, e))?;
            let mut token: ApiToken = match tokens.get((project.as_str(), id.as_str())).map_err(|e| err(op, e))? {
                Some(v) => decode(op, v.value())?,
                None => return Ok(false),
            };
            if token.revoked_at.is_some() {
                return Ok(false);
            }
            token.revoked_at = Some(at);
            let row = token_row(&token, op)?;
            tokens.insert((project.as_str(), id.as_str()), row.as_slice()).map_err(|e| err(op, e))?;
            Ok(true)
        })
    }

    async fn touch_token(&self, id: TokenId, at: Timestamp) -> StoreResult<()> {
        let op = "touch_token";
        self.write(op, |txn| {
            let id = id.to_string();
            let ids = txn.open_table(TOKEN_IDS).map_err(|e| err(op, e))?;
            let Some(project) = ids.get(id.as_str()).map_err(|e| err(op, e))?.map(|v| v.value().to_string()) else {
                return Ok(());
            };
            let mut tokens = txn.open_table(TOKENS).map_err(|e| err(op, e))?;
            let mut token: ApiToken = match tokens.get((project.as_str(), id.as_str())).map_err(|e| err(op, e))? {
                Some(v) => decode(op, v.value())?,
                None => return Ok(()),
            };
            token.last_used_at = Some(at);
            let row = token_row(&token, op)?;
            tokens.insert((project.as_str(), id.as_str()), row.as_slice()).map_err(|e| err(op, e))?;
            Ok(())
        })
    }

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        let op = "create_session";
        self.write(op, |txn| {
            let row = encode(op, session, &[])?;
            let mut t = txn.open_table(SESSIONS).map_err(|e| err(op, e))?;
            if t.get(session.session_hash.as_str()).map_err(|e| err(op, e))?.is_some() {
                return Err(conflict(op, "the session exists".into()));
            }
            t.insert(session.session_hash.as_str(), row.as_slice()).map_err(|e| err(op, e))?;
            Ok(())
        })
    }

    async fn session_by_hash(&self, session_hash: &str) -> StoreResult<Option<Session>> {
        self.get_json(SESSIONS, session_hash, "session_by_hash")
    }

    async fn set_session_project(&self, session_hash: &str, project: &ProjectId) -> StoreResult<()> {
        let op = "set_session_project";
        self.write(op, |txn| {
            let mut t = txn.open_table(SESSIONS).map_err(|e| err(op, e))?;
            let mut session: Session = match t.get(session_hash).map_err(|e| err(op, e))? {
                Some(v) => decode(op, v.value())?,
                None => return Err(StoreError::new(ErrorKind::NotFound, BACKEND, op, "no such session")),
            };
            session.project_id = project.clone();
            let row = encode(op, &session, &[])?;
            t.insert(session_hash, row.as_slice()).map_err(|e| err(op, e))?;
            Ok(())
        })
    }

    async fn delete_session(&self, session_hash: &str) -> StoreResult<()> {
        let op = "delete_session";
        self.write(op, |txn| {
            txn.open_table(SESSIONS).map_err(|e| err(op, e))?.remove(session_hash).map_err(|e| err(op, e))?;
            Ok(())
        })
    }

    async fn put_integration(&self, integration: &Integration) -> StoreResult<()> {
        let op = "put_integration";
        self.write(op, |txn| {
            let (project, id) = (integration.project_id.as_str(), integration.integration_id.to_string());
            if txn.open_table(PROJECTS).map_err(|e| err(op, e))?.get(project).map_err(|e| err(op, e))?.is_none() {
                return Err(StoreError::new(ErrorKind::NotFound, BACKEND, op, format!("no project '{project}'")));
            }
            let mut ids = txn.open_table(INTEGRATION_IDS).map_err(|e| err(op, e))?;
            if let Some(owner) = ids.get(id.as_str()).map_err(|e| err(op, e))?
                && owner.value() != project
            {
                return Err(conflict(op, format!("integration {id} belongs to another project")));
            }
            let mut rows = txn.open_table(INTEGRATIONS).map_err(|e| err(op, e))?;
            let mut hashes = txn.open_table(SECRET_HASHES).map_err(|e| err(op, e))?;
            if let Some(old) = rows.get((project, id.as_str())).map_err(|e| err(op, e))? {
                let old: Integration = decode(op, old.value())?;
                hashes.remove(old.secret_hash.as_str()).map_err(|e| err(op, e))?;
            }
            if let Some(other) = hashes.get(integration.secret_hash.as_str()).map_err(|e| err(op, e))? {
                let (_, other_id) = other.value();
                if other_id != id {
                    return Err(conflict(op, "another integration has the same secret".into()));
                }
            }
            ids.insert(id.as_str(), project).map_err(|e| err(op, e))?;
            hashes.insert(integration.secret_hash.as_str(), (project, id.as_str())).map_err(|e| err(op, e))?;
            let row = integration_row(integration, op)?;
            rows.insert((project, id.as_str()), row.as_slice()).map_err(|e| err(op, e))?;
            Ok(())
        })
    }

    async fn get_integration(&self, project: &ProjectId, id: IntegrationId) -> StoreResult<Option<Integration>> {
        self.get_pair(INTEGRATIONS, (project.as_str(), &id.to_string()), "get_integration")
    }

    async fn list_integrations(&self, project: &ProjectId) -> StoreResult<Vec<Integration>> {
        let mut all: Vec<Integration> = self.list_pair(INTEGRATIONS, project.as_str(), "list_integrations")?;
        all.sort_by_key(|i| i.created_at);
        Ok(all)
    }

    async fn integration_by_secret_hash(&self, secret_hash: &str) -> StoreResult<Option<Integration>> {
        self.by_index(SECRET_HASHES, INTEGRATIONS, secret_hash, "integration_by_secret_hash")
    }

    async fn integration_by_id(&self, id: IntegrationId) -> StoreResult<Option<Integration>> {
        let op = "integration_by_id";
        self.read(op, |txn| {
            let id = id.to_string();
            let ids = txn.open_table(INTEGRATION_IDS).map_err(|e| err(op, e))?;
            let Some(project) = ids.get(id.as_str()).map_err(|e| err(op, e))? else { return Ok(None) };
            let rows = txn.open_table(INTEGRATIONS).map_err(|e| err(op, e))?;
            match rows.get((project.value(), id.as_str())).map_err(|e| err(op, e))? {
                Some(v) => Ok(Some(decode(op, v.value())?)),
                None => Ok(None),
            }
        })
    }

    async fn delete_integration(&self, project: &ProjectId, id: IntegrationId) -> StoreResult<bool> {
        let op = "delete_integration";
        self.write(op, |txn| {
            let id = id.to_string();
            let mut rows = txn.open_table(INTEGRATIONS).map_err(|e| err(op, e))?;
            let Some(old) = rows.remove((project.as_str(), id.as_str())).map_err(|e| err(op, e))? else {
                return Ok(false);
            };
            let old: Integration = decode(op, old.value())?;
            txn.open_table(SECRET_HASHES)
                .map_err(|e| err(op, e))?
                .remove(old.secret_hash.as_str())
                .map_err(|e| err(op, e))?;
            txn.open_table(INTEGRATION_IDS).map_err(|e| err(op, e))?.remove(id.as_str()).map_err(|e| err(op, e))?;
            Ok(true)
        })
    }

    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        let op = "append_audit";
        self.write(op, |txn| {
            let project = entry.project_id.as_ref().map(ProjectId::as_str).unwrap_or("");
            let key = audit_key(entry.at, entry.audit_id);
            let mut t = txn.open_table(AUDIT).map_err(|e| err(op, e))?;
            if t.get((project, key.as_str())).map_err(|e| err(op, e))?.is_some() {
                return Err(conflict(op, format!("audit entry {} exists", entry.audit_id)));
            }
            let row = encode(op, entry, &[])?;
            t.insert((project, key.as_str()), row.as_slice()).map_err(|e| err(op, e))?;
            Ok(())
        })
    }

    async fn audit(&self, project: &ProjectId, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        let op = "audit";
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        self.read(op, |txn| {
            let t = txn.open_table(AUDIT).map_err(|e| err(op, e))?;
            let p = project.as_str();
            let upper = match query.before {
                Some((at, id)) => audit_key(at, id),
                None => MAX_STR.to_string(),
            };
            let mut out = Vec::new();
            // Strictly before the cursor: the range's end is exclusive.
            for row in t.range((p, "")..(p, upper.as_str())).map_err(|e| err(op, e))?.rev() {
                let (_, v) = row.map_err(|e| err(op, e))?;
                let entry: AuditEntry = decode(op, v.value())?;
                if query.from.is_some_and(|f| entry.at < f) {
                    break;
                }
                if matches(&entry, query) {
                    out.push(entry);
                    if out.len() >= query.limit {
                        break;
                    }
                }
            }
            Ok(out)
        })
    }
}
