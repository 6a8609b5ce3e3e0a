//! `PostgresOncallStore`: on-call schedules, their overrides and incidents'
//! assignments on the records' pool (tables of `0011_oncall.sql`). Each call is one
//! transaction that first sets `inquest.project` (the row-level security policies read
//! it) and every statement names `project_id` as well.

use std::collections::BTreeMap;

use async_trait::async_trait;
use deadpool_postgres::{Pool, Transaction};
use inquest_domain::{IncidentId, ProjectId, Timestamp};
use inquest_ops::oncall::*;
use inquest_ports::{ErrorKind, StoreError, StoreResult};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::{BACKEND, PostgresStore, pg_err, pool_err};

/// The on-call port on PostgreSQL; cheap to clone (it shares the pool).
#[derive(Clone)]
pub struct PostgresOncallStore {
    pool: Pool,
}

impl PostgresStore {
    /// The on-call store on the same pool.
    pub fn oncall(&self) -> PostgresOncallStore {
        PostgresOncallStore { pool: self.pool.clone() }
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

const SCHEDULE_COLS: &str = "project_id, schedule_id, name, team, services, rotation_members, rotation_starts_at, \
     shift_hours, escalation, created_at, updated_at, deleted_at";
const OVERRIDE_COLS: &str = "schedule_id, override_id, person, starts_at, ends_at, created_at";
const ASSIGNMENT_COLS: &str = "project_id, incident_id, schedule_id, person, assigned_at, escalations, stopped";

fn schedule(row: &Row, op: &str) -> StoreResult<Schedule> {
    let shift: i32 = get(row, "shift_hours", op)?;
    Ok(Schedule {
        schedule_id: get(row, "schedule_id", op)?,
        project_id: project_of(op, get(row, "project_id", op)?)?,
        name: get(row, "name", op)?,
        team: get(row, "team", op)?,
        services: get(row, "services", op)?,
        rotation: Rotation {
            members: get(row, "rotation_members", op)?,
            starts_at: get(row, "rotation_starts_at", op)?,
            shift_hours: u32::try_from(shift).map_err(|e| corrupt(op, e))?,
        },
        overrides: Vec::new(),
        escalation: from(op, get(row, "escalation", op)?)?,
        created_at: get(row, "created_at", op)?,
        updated_at: get(row, "updated_at", op)?,
        deleted_at: get(row, "deleted_at", op)?,
    })
}

fn override_row(row: &Row, op: &str) -> StoreResult<(Uuid, Override)> {
    Ok((
        get(row, "schedule_id", op)?,
        Override {
            override_id: get(row, "override_id", op)?,
            person: get(row, "person", op)?,
            from: get(row, "starts_at", op)?,
            until: get(row, "ends_at", op)?,
            created_at: get(row, "created_at", op)?,
        },
    ))
}

fn assignment(row: &Row, op: &str) -> StoreResult<Assignment> {
    Ok(Assignment {
        incident_id: IncidentId(get(row, "incident_id", op)?),
        project_id: project_of(op, get(row, "project_id", op)?)?,
        schedule_id: get(row, "schedule_id", op)?,
        person: get(row, "person", op)?,
        assigned_at: get(row, "assigned_at", op)?,
        escalations: from(op, get(row, "escalations", op)?)?,
        stopped: get::<Option<Value>>(row, "stopped", op)?.map(|v| from(op, v)).transpose()?,
    })
}

impl PostgresOncallStore {
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

/// The schedules of `rows` with their overrides (oldest override first).
async fn with_overrides(
    txn: &Transaction<'_>,
    op: &str,
    project: &ProjectId,
    rows_: &[Row],
) -> StoreResult<Vec<Schedule>> {
    let mut out: Vec<Schedule> = rows_.iter().map(|r| schedule(r, op)).collect::<StoreResult<_>>()?;
    if out.is_empty() {
        return Ok(out);
    }
    let ids: Vec<Uuid> = out.iter().map(|s| s.schedule_id).collect();
    let sql = format!(
        "SELECT {OVERRIDE_COLS} FROM oncall_overrides WHERE project_id = $1 AND schedule_id = ANY($2)
         ORDER BY created_at, override_id"
    );
    let mut by: BTreeMap<Uuid, Vec<Override>> = BTreeMap::new();
    for r in rows(txn, op, &sql, &[&project.as_str(), &ids]).await? {
        let (id, o) = override_row(&r, op)?;
        by.entry(id).or_default().push(o);
    }
    for s in &mut out {
        s.overrides = by.remove(&s.schedule_id).unwrap_or_default();
    }
    Ok(out)
}

async fn insert_override(
    txn: &Transaction<'_>,
    op: &str,
    project: &ProjectId,
    schedule: Uuid,
    o: &Override,
) -> StoreResult<u64> {
    execute(
        txn,
        op,
        "INSERT INTO oncall_overrides (project_id, override_id, schedule_id, person, starts_at, ends_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&project.as_str(), &o.override_id, &schedule, &o.person, &o.from, &o.until, &o.created_at],
    )
    .await
}

#[async_trait]
impl OncallStore for PostgresOncallStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn check_connectivity(&self) -> StoreResult<()> {
        let op = "check_connectivity";
        let client = self.pool.get().await.map_err(|e| pool_err(op, e))?;
        for table in ["oncall_schedules", "oncall_overrides", "oncall_assignments"] {
            client
                .query_one(&format!("SELECT count(*) FROM {table} WHERE false"), &[])
                .await
                .map_err(|e| pg_err(op, e))?;
        }
        Ok(())
    }

    async fn put_schedule(&self, s: &Schedule) -> StoreResult<()> {
        let op = "put_schedule";
        let escalation = json(op, &s.escalation)?;
        let shift = i32::try_from(s.rotation.shift_hours)
            .map_err(|_| StoreError::new(ErrorKind::InvalidInput, BACKEND, op, "shift_hours is too large"))?;
        self.in_project(&s.project_id, op, async |txn| {
            let existed = !rows(
                txn,
                op,
                "SELECT 1 FROM oncall_schedules WHERE project_id = $1 AND schedule_id = $2 FOR UPDATE",
                &[&s.project_id.as_str(), &s.schedule_id],
            )
            .await?
            .is_empty();
            // The upsert leaves a deleted row alone (and then writes nothing).
            let n = execute(
                txn,
                op,
                "INSERT INTO oncall_schedules (project_id, schedule_id, name, team, services, rotation_members,
                     rotation_starts_at, shift_hours, escalation, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (project_id, schedule_id) DO UPDATE SET name = EXCLUDED.name, team = EXCLUDED.team,
                     services = EXCLUDED.services, rotation_members = EXCLUDED.rotation_members,
                     rotation_starts_at = EXCLUDED.rotation_starts_at, shift_hours = EXCLUDED.shift_hours,
                     escalation = EXCLUDED.escalation, updated_at = EXCLUDED.updated_at
                 WHERE oncall_schedules.deleted_at IS NULL",
                &[
                    &s.project_id.as_str(),
                    &s.schedule_id,
                    &s.name,
                    &s.team,
                    &s.services,
                    &s.rotation.members,
                    &s.rotation.starts_at,
                    &shift,
                    &escalation,
                    &s.created_at,
                    &s.updated_at,
                ],
            )
            .await?;
            if n == 0 {
                return Err(StoreError::new(
                    ErrorKind::NotFound,
                    BACKEND,
                    op,
                    format!("schedule {} was deleted", s.schedule_id),
                ));
            }
            if !existed {
                for o in &s.overrides {
                    insert_override(txn, op, &s.project_id, s.schedule_id, o).await?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn get_schedule(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<Schedule>> {
        let op = "get_schedule";
        let sql = format!(
            "SELECT {SCHEDULE_COLS} FROM oncall_schedules
             WHERE project_id = $1 AND schedule_id = $2 AND deleted_at IS NULL"
        );
        self.in_project(project, op, async |txn| {
            let found = rows(txn, op, &sql, &[&project.as_str(), &id]).await?;
            Ok(with_overrides(txn, op, project, &found).await?.into_iter().next())
        })
        .await
    }

    async fn list_schedules(&self, project: &ProjectId) -> StoreResult<Vec<Schedule>> {
        let op = "list_schedules";
        let sql = format!(
            "SELECT {SCHEDULE_COLS} FROM oncall_schedules WHERE project_id = $1 AND deleted_at IS NULL
             ORDER BY created_at, schedule_id"
        );
        self.in_project(project, op, async |txn| {
            let found = rows(txn, op, &sql, &[&project.as_str()]).await?;
            with_overrides(txn, op, project, &found).await
        })
        .await
    }

    async fn delete_schedule(&self, project: &ProjectId, id: Uuid, at: Timestamp) -> StoreResult<bool> {
        let op = "delete_schedule";
        self.in_project(project, op, async |txn| {
            let sql = "UPDATE oncall_schedules SET deleted_at = $3
                       WHERE project_id = $1 AND schedule_id = $2 AND deleted_at IS NULL";
            Ok(execute(txn, op, sql, &[&project.as_str(), &id, &at]).await? > 0)
        })
        .await
    }

    async fn add_override(&self, project: &ProjectId, schedule: Uuid, o: &Override) -> StoreResult<bool> {
        let op = "add_override";
        self.in_project(project, op, async |txn| {
            // The schedule row is locked so a concurrent delete cannot slip in between.
            let live = rows(
                txn,
                op,
                "SELECT 1 FROM oncall_schedules
                 WHERE project_id = $1 AND schedule_id = $2 AND deleted_at IS NULL FOR UPDATE",
                &[&project.as_str(), &schedule],
            )
            .await?;
            if live.is_empty() {
                return Ok(false);
            }
            insert_override(txn, op, project, schedule, o).await?;
            Ok(true)
        })
        .await
    }

    async fn get_assignment(&self, project: &ProjectId, incident: IncidentId) -> StoreResult<Option<Assignment>> {
        let op = "get_assignment";
        let sql =
            format!("SELECT {ASSIGNMENT_COLS} FROM oncall_assignments WHERE project_id = $1 AND incident_id = $2");
        self.in_project(project, op, async |txn| {
            rows(txn, op, &sql, &[&project.as_str(), &incident.0]).await?.first().map(|r| assignment(r, op)).transpose()
        })
        .await
    }

    async fn put_assignment(&self, a: &Assignment) -> StoreResult<()> {
        let op = "put_assignment";
        let escalations = json(op, &a.escalations)?;
        let stopped = a.stopped.as_ref().map(|s| json(op, s)).transpose()?;
        self.in_project(&a.project_id, op, async |txn| {
            execute(
                txn,
                op,
                "INSERT INTO oncall_assignments (project_id, incident_id, schedule_id, person, assigned_at,
                     escalations, stopped)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (project_id, incident_id) DO UPDATE SET schedule_id = EXCLUDED.schedule_id,
                     person = EXCLUDED.person, assigned_at = EXCLUDED.assigned_at,
                     escalations = EXCLUDED.escalations, stopped = EXCLUDED.stopped",
                &[
                    &a.project_id.as_str(),
                    &a.incident_id.0,
                    &a.schedule_id,
                    &a.person,
                    &a.assigned_at,
                    &escalations,
                    &stopped,
                ],
            )
            .await
            .map(|_| ())
        })
        .await
    }

    async fn list_assignments(&self, project: &ProjectId) -> StoreResult<Vec<Assignment>> {
        let op = "list_assignments";
        let sql = format!(
            "SELECT {ASSIGNMENT_COLS} FROM oncall_assignments WHERE project_id = $1 ORDER BY assigned_at, incident_id"
        );
        self.in_project(project, op, async |txn| {
            rows(txn, op, &sql, &[&project.as_str()]).await?.iter().map(|r| assignment(r, op)).collect()
        })
        .await
    }
}
