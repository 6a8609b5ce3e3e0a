//! `PostgresOpsStore`: SLOs and invariants on the records' pool (tables of
//! `0009_ops.sql`). Each call is one transaction that first sets `inquest.project`
//! (the row-level security policies read it) and every statement names `project_id`
//! as well. Definitions and last evaluations are separate columns: `put_*` writes
//! only the first, `record_*` only the second.

use async_trait::async_trait;
use deadpool_postgres::{Pool, Transaction};
use inquest_domain::{ProjectId, Timestamp};
use inquest_ops::*;
use inquest_ports::{ErrorKind, StoreError, StoreResult};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::{BACKEND, PostgresStore, pg_err, pool_err};

/// The SLO and invariant port on PostgreSQL; cheap to clone (it shares the pool).
#[derive(Clone)]
pub struct PostgresOpsStore {
    pool: Pool,
}

impl PostgresStore {
    /// The SLO and invariant store on the same pool.
    pub fn ops(&self) -> PostgresOpsStore {
        PostgresOpsStore { pool: self.pool.clone() }
    }
}

fn corrupt(op: &str, what: impl std::fmt::Display) -> StoreError {
    StoreError::new(ErrorKind::Internal, BACKEND, op, format!("corrupt row: {what}"))
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, col: &str, op: &str) -> StoreResult<T> {
    row.try_get(col).map_err(|e| corrupt(op, e))
}

fn json<T: Serialize>(op: &str, v: &T) -> StoreResult<Value> {
    serde_json::to_value(v).map_err(|e| StoreError::new(ErrorKind::Internal, BACKEND, op, e))
}

fn from<T: DeserializeOwned>(op: &str, v: Value) -> StoreResult<T> {
    serde_json::from_value(v).map_err(|e| corrupt(op, e))
}

fn project_of(op: &str, s: String) -> StoreResult<ProjectId> {
    ProjectId::new(&s).map_err(|e| corrupt(op, e))
}

const SLO_COLS: &str = "project_id, slo_id, name, description, target, window_days, metric_query, \
     burn_rate_thresholds, enabled, created_at, updated_at, deleted_at, last_result";
const INVARIANT_COLS: &str = "project_id, invariant_id, name, description, query, condition, severity, enabled, \
     created_at, updated_at, deleted_at, last_result";

fn slo(row: &Row, op: &str) -> StoreResult<Slo> {
    let window_days: i32 = get(row, "window_days", op)?;
    Ok(Slo {
        slo_id: get(row, "slo_id", op)?,
        project_id: project_of(op, get(row, "project_id", op)?)?,
        spec: SloSpec {
            name: get(row, "name", op)?,
            description: get(row, "description", op)?,
            target: get(row, "target", op)?,
            window_days: u32::try_from(window_days).map_err(|e| corrupt(op, e))?,
            metric_query: from(op, get(row, "metric_query", op)?)?,
            burn_rate_thresholds: from(op, get(row, "burn_rate_thresholds", op)?)?,
            enabled: get(row, "enabled", op)?,
        },
        created_at: get(row, "created_at", op)?,
        updated_at: get(row, "updated_at", op)?,
        deleted_at: get(row, "deleted_at", op)?,
        last: get::<Option<Value>>(row, "last_result", op)?.map(|v| from(op, v)).transpose()?,
    })
}

fn invariant(row: &Row, op: &str) -> StoreResult<Invariant> {
    Ok(Invariant {
        invariant_id: get(row, "invariant_id", op)?,
        project_id: project_of(op, get(row, "project_id", op)?)?,
        spec: InvariantSpec {
            name: get(row, "name", op)?,
            description: get(row, "description", op)?,
            query: from(op, get(row, "query", op)?)?,
            condition: from(op, get(row, "condition", op)?)?,
            severity: from(op, Value::String(get(row, "severity", op)?))?,
            enabled: get(row, "enabled", op)?,
        },
        created_at: get(row, "created_at", op)?,
        updated_at: get(row, "updated_at", op)?,
        deleted_at: get(row, "deleted_at", op)?,
        last: get::<Option<Value>>(row, "last_result", op)?.map(|v| from(op, v)).transpose()?,
    })
}

impl PostgresOpsStore {
    /// Runs `f` in a transaction scoped to `project`.
    async fn in_project<R>(
        &self,
        project: &ProjectId,
        op: &str,
        f: impl for<'t> AsyncFnOnce(&'t Transaction<'_>) -> StoreResult<R>,
    ) -> StoreResult<R> {
        let mut client = self.pool.get().await.map_err(|e| pool_err(op, e))?;
        let txn = client.transaction().await.map_err(|e| pg_err(op, e))?;
        txn.execute("SELECT set_config('inquest.project', $1, true)", &[&project.as_str()])
            .await
            .map_err(|e| pg_err(op, e))?;
        let out = f(&txn).await?;
        txn.commit().await.map_err(|e| pg_err(op, e))?;
        Ok(out)
    }
}

async fn execute(txn: &Transaction<'_>, op: &str, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<u64> {
    txn.execute(sql, params).await.map_err(|e| pg_err(op, e))
}

async fn rows(txn: &Transaction<'_>, op: &str, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<Row>> {
    txn.query(sql, params).await.map_err(|e| pg_err(op, e))
}

fn deleted(op: &str, id: Uuid) -> StoreError {
    StoreError::new(ErrorKind::NotFound, BACKEND, op, format!("{id} was deleted"))
}

#[async_trait]
impl OpsStore for PostgresOpsStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn check_connectivity(&self) -> StoreResult<()> {
        let op = "check_connectivity";
        let client = self.pool.get().await.map_err(|e| pool_err(op, e))?;
        client.query_one("SELECT count(*) FROM slos WHERE false", &[]).await.map_err(|e| pg_err(op, e))?;
        client.query_one("SELECT count(*) FROM invariants WHERE false", &[]).await.map_err(|e| pg_err(op, e))?;
        Ok(())
    }

    async fn put_slo(&self, s: &Slo) -> StoreResult<()> {
        let op = "put_slo";
        let (query, thresholds) = (json(op, &s.spec.metric_query)?, json(op, &s.spec.burn_rate_thresholds)?);
        let window = i32::try_from(s.spec.window_days)
            .map_err(|_| StoreError::new(ErrorKind::InvalidInput, BACKEND, op, "window_days is too large"))?;
        self.in_project(&s.project_id, op, async |txn| {
            // The upsert leaves a deleted row alone (and then writes nothing).
            let n = execute(
                txn,
                op,
                "INSERT INTO slos (project_id, slo_id, name, description, target, window_days, metric_query,
                     burn_rate_thresholds, enabled, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (project_id, slo_id) DO UPDATE SET name = EXCLUDED.name,
                     description = EXCLUDED.description, target = EXCLUDED.target,
                     window_days = EXCLUDED.window_days, metric_query = EXCLUDED.metric_query,
                     burn_rate_thresholds = EXCLUDED.burn_rate_thresholds, enabled = EXCLUDED.enabled,
                     updated_at = EXCLUDED.updated_at
                 WHERE slos.deleted_at IS NULL",
                &[
                    &s.project_id.as_str(),
                    &s.slo_id,
                    &s.spec.name,
                    &s.spec.description,
                    &s.spec.target,
                    &window,
                    &query,
                    &thresholds,
                    &s.spec.enabled,
                    &s.created_at,
                    &s.updated_at,
                ],
            )
            .await?;
            if n == 0 { Err(deleted(op, s.slo_id)) } else { Ok(()) }
        })
        .await
    }

    async fn get_slo(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<Slo>> {
        let op = "get_slo";
        let sql = format!("SELECT {SLO_COLS} FROM slos WHERE project_id = $1 AND slo_id = $2 AND deleted_at IS NULL");
        self.in_project(project, op, async |txn| {
            rows(txn, op, &sql, &[&project.as_str(), &id]).await?.first().map(|r| slo(r, op)).transpose()
        })
        .await
    }

    async fn list_slos(&self, project: &ProjectId) -> StoreResult<Vec<Slo>> {
        let op = "list_slos";
        let sql = format!(
            "SELECT {SLO_COLS} FROM slos WHERE project_id = $1 AND deleted_at IS NULL ORDER BY created_at, slo_id"
        );
        self.in_project(project, op, async |txn| {
            rows(txn, op, &sql, &[&project.as_str()]).await?.iter().map(|r| slo(r, op)).collect()
        })
        .await
    }

    async fn delete_slo(&self, project: &ProjectId, id: Uuid, at: Timestamp) -> StoreResult<bool> {
        let op = "delete_slo";
        self.in_project(project, op, async |txn| {
            let sql = "UPDATE slos SET deleted_at = $3 WHERE project_id = $1 AND slo_id = $2 AND deleted_at IS NULL";
            Ok(execute(txn, op, sql, &[&project.as_str(), &id, &at]).await? > 0)
        })
        .await
    }

    async fn record_slo(&self, project: &ProjectId, id: Uuid, status: &SloStatus) -> StoreResult<bool> {
        let op = "record_slo";
        let result = json(op, status)?;
        self.in_project(project, op, async |txn| {
            let sql = "UPDATE slos SET last_evaluated_at = $3, last_result = $4
                       WHERE project_id = $1 AND slo_id = $2 AND deleted_at IS NULL";
            Ok(execute(txn, op, sql, &[&project.as_str(), &id, &status.at, &result]).await? > 0)
        })
        .await
    }

    async fn put_invariant(&self, i: &Invariant) -> StoreResult<()> {
        let op = "put_invariant";
        let (query, condition) = (json(op, &i.spec.query)?, json(op, &i.spec.condition)?);
        let severity = i.spec.severity.as_str();
        self.in_project(&i.project_id, op, async |txn| {
            let n = execute(
                txn,
                op,
                "INSERT INTO invariants (project_id, invariant_id, name, description, query, condition, severity,
                     enabled, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (project_id, invariant_id) DO UPDATE SET name = EXCLUDED.name,
                     description = EXCLUDED.description, query = EXCLUDED.query, condition = EXCLUDED.condition,
                     severity = EXCLUDED.severity, enabled = EXCLUDED.enabled, updated_at = EXCLUDED.updated_at
                 WHERE invariants.deleted_at IS NULL",
                &[
                    &i.project_id.as_str(),
                    &i.invariant_id,
                    &i.spec.name,
                    &i.spec.description,
                    &query,
                    &condition,
                    &severity,
                    &i.spec.enabled,
                    &i.created_at,
                    &i.updated_at,
                ],
            )
            .await?;
            if n == 0 { Err(deleted(op, i.invariant_id)) } else { Ok(()) }
        })
        .await
    }

    async fn get_invariant(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<Invariant>> {
        let op = "get_invariant";
        let sql = format!(
            "SELECT {INVARIANT_COLS} FROM invariants WHERE project_id = $1 AND invariant_id = $2 AND deleted_at IS NULL"
        );
        self.in_project(project, op, async |txn| {
            rows(txn, op, &sql, &[&project.as_str(), &id]).await?.first().map(|r| invariant(r, op)).transpose()
        })
        .await
    }

    async fn list_invariants(&self, project: &ProjectId) -> StoreResult<Vec<Invariant>> {
        let op = "list_invariants";
        let sql = format!(
            "SELECT {INVARIANT_COLS} FROM invariants WHERE project_id = $1 AND deleted_at IS NULL
             ORDER BY created_at, invariant_id"
        );
        self.in_project(project, op, async |txn| {
            rows(txn, op, &sql, &[&project.as_str()]).await?.iter().map(|r| invariant(r, op)).collect()
        })
        .await
    }

    async fn delete_invariant(&self, project: &ProjectId, id: Uuid, at: Timestamp) -> StoreResult<bool> {
        let op = "delete_invariant";
        self.in_project(project, op, async |txn| {
            let sql = "UPDATE invariants SET deleted_at = $3
                       WHERE project_id = $1 AND invariant_id = $2 AND deleted_at IS NULL";
            Ok(execute(txn, op, sql, &[&project.as_str(), &id, &at]).await? > 0)
        })
        .await
    }

    async fn record_invariant(&self, project: &ProjectId, id: Uuid, result: &InvariantResult) -> StoreResult<bool> {
        let op = "record_invariant";
        let value = json(op, result)?;
        self.in_project(project, op, async |txn| {
            let sql = "UPDATE invariants SET last_checked_at = $3, last_result = $4
                       WHERE project_id = $1 AND invariant_id = $2 AND deleted_at IS NULL";
            Ok(execute(txn, op, sql, &[&project.as_str(), &id, &result.at, &value]).await? > 0)
        })
        .await
    }
}
