//! The migration runner: `schemas/postgres/NNNN_name.sql`, compiled into the binary,
//! applied in version order, each in its own transaction together with its row in
//! `inquest_schema_migrations`. Applied files are checked by SHA-256: a file changed
//! after it was applied is refused, never re-run. The way back: each file has a down
//! script in `schemas/postgres/down/NNNN_name.down.sql`; [`PostgresStore::migrate_to`]
//! reverts in reverse order, each in its own transaction that also removes its row.
//!
//! A small runner rather than `refinery`: the schema files keep the project's
//! `NNNN_name.sql` names, and a transaction-scoped advisory lock makes two
//! `inquest migrate` at once safe.

use chrono::{DateTime, Utc};
use inquest_ports::{ErrorKind, StoreError};
use sha2::{Digest, Sha256};
use tracing::info;

use crate::{BACKEND, PostgresStore, pg_err};

/// The table recording applied migrations.
pub const MIGRATIONS_TABLE: &str = "inquest_schema_migrations";

/// Advisory lock key held while migrating ("inquest" in ASCII).
const LOCK_KEY: i64 = 0x0069_6e71_7565_7374;

/// One schema file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
    /// Undoes `sql`; not part of the checksum, so a down script can be corrected.
    pub down: &'static str,
}

impl Migration {
    /// Hex SHA-256 of the file's text.
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }
}

macro_rules! migration {
    ($version:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../../../schemas/postgres/", $name, ".sql")),
            down: include_str!(concat!("../../../schemas/postgres/down/", $name, ".down.sql")),
        }
    };
}

/// Every file of `schemas/postgres`, in order (a test checks this list against the folder).
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_init"),
    migration!(2, "0002_incident_resolution"),
    migration!(3, "0003_query_indexes"),
    migration!(4, "0004_ingest"),
    migration!(5, "0005_projects"),
    migration!(6, "0006_access"),
    migration!(7, "0007_project_scope"),
    migration!(8, "0008_feeds"),
    migration!(9, "0009_ops"),
    migration!(10, "0010_tickets"),
    migration!(11, "0011_oncall"),
    migration!(12, "0012_notifications"),
];

/// Where one migration stands in a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationState {
    Applied {
        at: DateTime<Utc>,
    },
    Pending,
    /// Applied, but the file now differs from what was applied.
    Changed {
        applied_checksum: String,
    },
    /// Recorded in the database, unknown to this build (the database is newer).
    Unknown {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    pub version: i64,
    pub name: String,
    pub state: MigrationState,
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS inquest_schema_migrations (
  version BIGINT PRIMARY KEY,
  name TEXT NOT NULL,
  checksum TEXT NOT NULL,
  applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)";

fn refuse(op: &str, message: String) -> StoreError {
    StoreError::new(ErrorKind::InvalidInput, BACKEND, op, message)
}

/// What [`PostgresStore::migrate_to`] changed: applied in version order, or reverted
/// in reverse order (never both).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrateOutcome {
    pub applied: Vec<Migration>,
    pub reverted: Vec<Migration>,
}

/// The newest version this build knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Refuses when the database records a migration this build does not know: it has
/// neither its up nor its down script.
async fn refuse_unknown(txn: &tokio_postgres::Transaction<'_>, op: &str) -> Result<(), StoreError> {
    let unknown = txn
        .query(
            "SELECT version, name FROM inquest_schema_migrations WHERE version > $1 ORDER BY version",
            &[&latest_version()],
        )
        .await
        .map_err(|e| pg_err(op, e))?;
    if let Some(row) = unknown.first() {
        let version: i64 = row.try_get(0).map_err(|e| pg_err(op, e))?;
        let name: String = row.try_get(1).map_err(|e| pg_err(op, e))?;
        return Err(refuse(
            op,
            format!("the database has migration {version} ({name}), unknown to this build: upgrade inquest"),
        ));
    }
    Ok(())
}

/// The checksum recorded for `m`, refusing one that differs from the file.
async fn recorded_checksum(
    txn: &tokio_postgres::Transaction<'_>,
    op: &str,
    m: &Migration,
) -> Result<Option<String>, StoreError> {
    let existing = txn
        .query_opt("SELECT checksum FROM inquest_schema_migrations WHERE version = $1", &[&m.version])
        .await
        .map_err(|e| pg_err(op, e))?;
    let Some(row) = existing else { return Ok(None) };
    let checksum: String = row.try_get(0).map_err(|e| pg_err(op, e))?;
    if checksum != m.checksum() {
        return Err(refuse(
            op,
            format!(
                "migration {} ({}) was applied with checksum {checksum} but the file now has {}: \
                 applied migrations must not change, add a new file instead",
                m.version,
                m.name,
                m.checksum()
            ),
        ));
    }
    Ok(Some(checksum))
}

impl PostgresStore {
    /// Apply every pending migration; returns the versions applied now (empty when
    /// the schema was already current).
    pub async fn migrate(&self) -> Result<Vec<Migration>, StoreError> {
        Ok(self.migrate_to(latest_version()).await?.applied)
    }

    /// Migrate up or down to `target` (0: no schema at all). Up applies the pending
    /// files up to `target`; down runs the down scripts of the applied versions above
    /// it, newest first. Each step is one transaction with its `inquest_schema_migrations`
    /// row, under the advisory lock, so a failed step leaves the schema at the previous
    /// version. Down drops what the up file created, data included.
    pub async fn migrate_to(&self, target: i64) -> Result<MigrateOutcome, StoreError> {
        let op = "migrate";
        if !(0..=latest_version()).contains(&target) {
            return Err(refuse(op, format!("no migration {target}: this build knows 0..={}", latest_version())));
        }
        let mut client = self.client(op).await?;
        {
            let txn = client.transaction().await.map_err(|e| pg_err(op, e))?;
            txn.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY]).await.map_err(|e| pg_err(op, e))?;
            txn.batch_execute(CREATE_TABLE).await.map_err(|e| pg_err(op, e))?;
            txn.commit().await.map_err(|e| pg_err(op, e))?;
        }
        let mut outcome = MigrateOutcome::default();
        for m in MIGRATIONS.iter().filter(|m| m.version <= target) {
            let txn = client.transaction().await.map_err(|e| pg_err(op, e))?;
            // Serialises concurrent runners; released at commit or rollback.
            txn.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY]).await.map_err(|e| pg_err(op, e))?;
            refuse_unknown(&txn, op).await?;
            if recorded_checksum(&txn, op, m).await?.is_some() {
                continue;
            }
            txn.batch_execute(m.sql)
                .await
                .map_err(|e| pg_err(op, e))
                .map_err(|e| StoreError { message: format!("{}: {}", m.name, e.message), ..e })?;
            txn.execute(
                "INSERT INTO inquest_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                &[&m.version, &m.name, &m.checksum()],
            )
            .await
            .map_err(|e| pg_err(op, e))?;
            txn.commit().await.map_err(|e| pg_err(op, e))?;
            info!(version = m.version, name = m.name, "applied migration");
            outcome.applied.push(*m);
        }
        for m in MIGRATIONS.iter().rev().filter(|m| m.version > target) {
            let txn = client.transaction().await.map_err(|e| pg_err(op, e))?;
            txn.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY]).await.map_err(|e| pg_err(op, e))?;
            refuse_unknown(&txn, op).await?;
            // A changed file is refused here too: its down script may not match what was applied.
            if recorded_checksum(&txn, op, m).await?.is_none() {
                continue;
            }
            txn.batch_execute(m.down)
                .await
                .map_err(|e| pg_err(op, e))
                .map_err(|e| StoreError { message: format!("{} (down): {}", m.name, e.message), ..e })?;
            txn.execute("DELETE FROM inquest_schema_migrations WHERE version = $1", &[&m.version])
                .await
                .map_err(|e| pg_err(op, e))?;
            txn.commit().await.map_err(|e| pg_err(op, e))?;
            info!(version = m.version, name = m.name, "reverted migration");
            outcome.reverted.push(*m);
        }
        Ok(outcome)
    }

    /// Every known and recorded migration with its state, without changing anything.
    pub async fn migration_status(&self) -> Result<Vec<MigrationStatus>, StoreError> {
        let op = "migration_status";
        let client = self.client(op).await?;
        let table_exists: bool = client
            .query_one("SELECT to_regclass('inquest_schema_migrations') IS NOT NULL", &[])
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| pg_err(op, e))?;
        let mut recorded = Vec::new();
        if table_exists {
            for row in client
                .query(
                    "SELECT version, name, checksum, applied_at FROM inquest_schema_migrations ORDER BY version",
                    &[],
                )
                .await
                .map_err(|e| pg_err(op, e))?
            {
                let version: i64 = row.try_get(0).map_err(|e| pg_err(op, e))?;
                let name: String = row.try_get(1).map_err(|e| pg_err(op, e))?;
                let checksum: String = row.try_get(2).map_err(|e| pg_err(op, e))?;
                let at: DateTime<Utc> = row.try_get(3).map_err(|e| pg_err(op, e))?;
                recorded.push((version, name, checksum, at));
            }
        }
        let mut out: Vec<MigrationStatus> = MIGRATIONS
            .iter()
            .map(|m| {
                let state = match recorded.iter().find(|r| r.0 == m.version) {
                    None => MigrationState::Pending,
                    Some((_, _, checksum, _)) if *checksum != m.checksum() => {
                        MigrationState::Changed { applied_checksum: checksum.clone() }
                    }
                    Some((_, _, _, at)) => MigrationState::Applied { at: *at },
                };
                MigrationStatus { version: m.version, name: m.name.to_string(), state }
            })
            .collect();
        for (version, name, _, _) in recorded {
            if !MIGRATIONS.iter().any(|m| m.version == version) {
                out.push(MigrationStatus { version, name: name.clone(), state: MigrationState::Unknown { name } });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_list_is_exactly_the_schema_folder_in_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/postgres");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("schemas/postgres exists")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS.iter().map(|m| format!("{}.sql", m.name)).collect();
        assert_eq!(listed, files, "register every schemas/postgres file in MIGRATIONS");
        // Strictly increasing; a gap is allowed (a number taken by a file of another branch).
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].version < pair[1].version, "{} before {}", pair[0].name, pair[1].name);
        }
        for m in MIGRATIONS {
            assert!(m.name.starts_with(&format!("{:04}_", m.version)), "{} does not match its version", m.name);
        }
        let mut downs: Vec<String> = std::fs::read_dir(dir.join("down"))
            .expect("schemas/postgres/down exists")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        downs.sort();
        let listed: Vec<String> = MIGRATIONS.iter().map(|m| format!("{}.down.sql", m.name)).collect();
        assert_eq!(listed, downs, "every migration has exactly one down script");
    }
}
