//! The records port on PostgreSQL: a `deadpool-postgres` pool of `tokio-postgres`
//! connections, the data model's tables of `schemas/postgres`, and the migration runner
//! behind `inquest migrate`; and the alert intake's port on the same pool
//! (`PostgresStore::intake`, `intake`), the access port (`PostgresStore::access`, `access`),
//! SLOs (`ops`), tickets (`tickets`) and on-call (`PostgresStore::oncall`, `oncall`).

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime, TimeoutType};
use inquest_domain::ProjectId;
use inquest_ports::{ErrorKind, StoreError};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

pub mod access;
pub mod intake;
pub mod migrate;
pub mod notify;
pub mod oncall;
pub mod ops;
mod records;
pub mod tickets;

pub use access::PostgresAccessStore;
pub use intake::PostgresIntakeStore;
pub use migrate::{
    MIGRATIONS, MIGRATIONS_TABLE, MigrateOutcome, Migration, MigrationState, MigrationStatus, latest_version,
};
pub use notify::PostgresNotifyStore;
pub use oncall::PostgresOncallStore;
pub use ops::PostgresOpsStore;
pub use tickets::PostgresTicketStore;

/// Name reported as the backend and used as evidence `source`.
pub const BACKEND: &str = "postgres";

/// Pool size and timeouts.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSettings {
    /// Most connections open at once.
    pub max_size: usize,
    /// How long to open a new connection before giving up.
    pub connect_timeout: Duration,
    /// How long a caller waits for a free connection.
    pub wait_timeout: Duration,
    /// Server-side limit on one statement (`statement_timeout`); zero means none.
    pub statement_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_size: 8,
            connect_timeout: Duration::from_secs(5),
            wait_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// Records of one project on one PostgreSQL database. Every operation is a
/// transaction that first sets `inquest.project` (row-level security keeps the
/// session to it) and every statement also names `project_id` itself, since the
/// owner and superusers bypass row-level security.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    project: ProjectId,
}

impl std::fmt::Debug for PostgresStore {
    // The pool holds the connection settings, password included: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("pool", &self.pool.status()).field("project", &self.project).finish()
    }
}

impl PostgresStore {
    /// A pool for `url` (`postgres://user:password@host:port/db` or key=value form),
    /// acting in the default project (`in_project` for another one).
    /// Connections are opened on first use, so this does not fail when the server is down.
    pub fn connect(url: &str, settings: &PoolSettings) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| {
            // The parser's message names the bad part, never the password.
            StoreError::new(ErrorKind::InvalidInput, BACKEND, "connect", format!("invalid postgres url: {e}"))
        })?;
        config.connect_timeout(settings.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("inquest");
        }
        if !settings.statement_timeout.is_zero() {
            let options = format!("-c statement_timeout={}", settings.statement_timeout.as_millis());
            let options = match config.get_options() {
                Some(existing) => format!("{existing} {options}"),
                None => options,
            };
            config.options(&options);
        }
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(settings.max_size.max(1))
            .wait_timeout(Some(settings.wait_timeout))
            .create_timeout(Some(settings.connect_timeout))
            .recycle_timeout(Some(settings.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::new(ErrorKind::InvalidInput, BACKEND, "connect", e))?;
        Ok(Self { pool, project: ProjectId::default_project() })
    }

    /// The same pool acting in `project`.
    pub fn in_project(&self, project: &ProjectId) -> PostgresStore {
        PostgresStore { pool: self.pool.clone(), project: project.clone() }
    }

    /// The project this handle acts in.
    pub fn project_id(&self) -> &ProjectId {
        &self.project
    }

    pub(crate) async fn client(&self, op: &str) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| pool_err(op, e))
    }

    /// Whether `project` is a row of `projects` (every project-scoped row references it).
    pub async fn project_exists(&self, project: &ProjectId) -> Result<bool, StoreError> {
        let op = "project_exists";
        let client = self.client(op).await?;
        let row = client
            .query_opt("SELECT 1 FROM projects WHERE project_id = $1", &[&project.as_str()])
            .await
            .map_err(|e| pg_err(op, e))?;
        Ok(row.is_some())
    }

    /// Why row-level security does not hold for the role this pool connects as:
    /// `Some((role, reason))` when it is a superuser, has `BYPASSRLS` or owns the
    /// project-scoped tables (the owner is not subject to their policies); `None`
    /// when the policies apply to it.
    pub async fn rls_bypass(&self) -> Result<Option<(String, String)>, StoreError> {
        let op = "rls_bypass";
        let client = self.client(op).await?;
        let row = client
            .query_one(
                "SELECT current_user::text, r.rolsuper, r.rolbypassrls, \
                   EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     JOIN information_schema.columns col \
                       ON col.table_schema = n.nspname AND col.table_name = c.relname AND col.column_name = 'project_id' \
                     WHERE n.nspname = current_schema() AND c.relkind = 'r' \
                       AND pg_has_role(current_user, c.relowner, 'USAGE')) \
                 FROM pg_roles r WHERE r.rolname = current_user",
                &[],
            )
            .await
            .map_err(|e| pg_err(op, e))?;
        let get = |i: usize| -> Result<bool, StoreError> { row.try_get(i).map_err(|e| pg_err(op, e)) };
        let role: String = row.try_get(0).map_err(|e| pg_err(op, e))?;
        let reason = if get(1)? {
            "it is a superuser"
        } else if get(2)? {
            "it has BYPASSRLS"
        } else if get(3)? {
            "it owns the tables"
        } else {
            return Ok(None);
        };
        Ok(Some((role, reason.to_string())))
    }

    /// The name of the database the pool connects to, as the server reports it.
    pub async fn database_name(&self) -> Result<String, StoreError> {
        let op = "database_name";
        let client = self.client(op).await?;
        let row = client.query_one("SELECT current_database()", &[]).await.map_err(|e| pg_err(op, e))?;
        row.try_get(0).map_err(|e| pg_err(op, e))
    }
}

/// Begin a transaction acting in `project`: `inquest.project` is set for it alone
/// (`set_config(.., true)`), so a pooled connection never carries it to the next user.
pub(crate) async fn begin<'a>(
    client: &'a mut deadpool_postgres::Object,
    project: &ProjectId,
    op: &str,
) -> Result<deadpool_postgres::Transaction<'a>, StoreError> {
    let txn = client.transaction().await.map_err(|e| pg_err(op, e))?;
    let stmt = txn.prepare_cached(SET_PROJECT).await.map_err(|e| pg_err(op, e))?;
    txn.execute(&stmt, &[&project.as_str()]).await.map_err(|e| pg_err(op, e))?;
    Ok(txn)
}

/// Sets the project row-level security admits for the current transaction.
pub const SET_PROJECT: &str = "SELECT set_config('inquest.project', $1, true)";

/// Map a pool error to a store error.
pub(crate) fn pool_err(op: &str, e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => pg_err(op, e),
        PoolError::Timeout(TimeoutType::Wait) => {
            StoreError::new(ErrorKind::Timeout, BACKEND, op, "timed out waiting for a free connection from the pool")
        }
        PoolError::Timeout(_) => StoreError::new(ErrorKind::Timeout, BACKEND, op, "timed out connecting to the server"),
        PoolError::Closed => StoreError::new(ErrorKind::Unavailable, BACKEND, op, "the connection pool is closed"),
        other => StoreError::new(ErrorKind::Internal, BACKEND, op, other),
    }
}

/// Map a `tokio-postgres` error to a store error with a closed kind.
pub(crate) fn pg_err(op: &str, e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        let class = &code.code()[..2];
        let kind = if *code == SqlState::QUERY_CANCELED {
            ErrorKind::Timeout
        } else if *code == SqlState::UNDEFINED_TABLE || *code == SqlState::UNDEFINED_COLUMN {
            // The schema is missing or older than this build.
            let message = format!("{} (is the schema applied? run `inquest migrate`)", db.message());
            return StoreError::new(ErrorKind::Unavailable, BACKEND, op, message);
        } else {
            match class {
                // integrity constraint violation, data exception
                "23" | "22" => ErrorKind::InvalidInput,
                // connection exception, insufficient resources, operator intervention,
                // invalid authorization, unknown database, serialization failure
                "08" | "53" | "57" | "28" | "3D" | "40" => ErrorKind::Unavailable,
                _ => ErrorKind::Internal,
            }
        };
        let mut message = db.message().to_string();
        if let Some(detail) = db.detail() {
            message.push_str(": ");
            message.push_str(detail);
        }
        return StoreError::new(kind, BACKEND, op, message);
    }
    let is_io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    let kind = if e.is_closed() || is_io {
        ErrorKind::Unavailable
    } else if e.to_string().contains("timeout") {
        ErrorKind::Timeout
    } else {
        ErrorKind::Internal
    };
    let message = match std::error::Error::source(&e) {
        Some(source) => format!("{e}: {source}"),
        None => e.to_string(),
    };
    StoreError::new(kind, BACKEND, op, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_url_is_invalid_input_and_does_not_echo_the_password() {
        let err = PostgresStore::connect("postgres://u:hunter2@host:notaport/db", &PoolSettings::default())
            .expect_err("must fail");
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let store = PostgresStore::connect("postgres://u:hunter2@127.0.0.1:1/db", &PoolSettings::default())
            .expect("a well-formed url builds a pool without connecting");
        assert!(!format!("{store:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn a_refused_connection_is_unavailable() {
        // Port 1 on loopback: nothing listens there, the connection is refused.
        let settings = PoolSettings { connect_timeout: Duration::from_secs(2), ..PoolSettings::default() };
        let store = PostgresStore::connect("postgres://u:hunter2@127.0.0.1:1/db", &settings).expect("pool");
        let err = store.database_name().await.expect_err("must fail");
        assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
        assert!(err.retryable());
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
