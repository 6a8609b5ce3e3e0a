//! `PostgresNotifyStore`: notification channels and their deliveries on the records'
//! pool (tables of `0012_notifications.sql`). Each call is one transaction that first
//! sets `inquest.project` (the row-level security policies read it) and every
//! statement names `project_id` as well. A worker takes due deliveries with
//! `FOR UPDATE SKIP LOCKED`, so two workers never hold the same one; a settled attempt
//! updates the delivery and its channel's health in the same transaction.

use async_trait::async_trait;
use deadpool_postgres::{Pool, Transaction};
use inquest_domain::{IncidentId, ProjectId, Timestamp};
use inquest_ops::channels::*;
use inquest_ops::notify::Notice;
use inquest_ports::{ErrorKind, StoreError, StoreResult};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::{BACKEND, PostgresStore, SET_PROJECT, pg_err, pool_err};

/// The notification port on PostgreSQL; cheap to clone (it shares the pool).
#[derive(Clone)]
pub struct PostgresNotifyStore {
    pool: Pool,
}

impl PostgresStore {
    /// The notification store on the same pool.
    pub fn notify(&self) -> PostgresNotifyStore {
        PostgresNotifyStore { pool: self.pool.clone() }
    }
}

fn corrupt(op: &str, what: impl std::fmt::Display) -> StoreError {
    StoreError::new(ErrorKind::Internal, BACKEND, op, format!("corrupt row: {what}"))
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, col: &str, op: &str) -> StoreResult<T> {
    row.try_get(col).map_err(|e| corrupt(op, e))
}

const CHANNEL_COLS: &str = "project_id, channel_id, name, target, events, enabled, created_at, updated_at, \
     deleted_at, consecutive_failures, last_error, last_failure_at, last_success_at";

const DELIVERY_COLS: &str = "project_id, delivery_id, channel_id, notice, state, attempts, next_attempt_at, \
     lease_owner, lease_until, last_error, created_at, sent_at";

fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn channel_state(row: &Row, op: &str) -> StoreResult<ChannelState> {
    let project: String = get(row, "project_id", op)?;
    let channel = Channel {
        channel_id: get(row, "channel_id", op)?,
        project_id: ProjectId::new(&project).map_err(|e| corrupt(op, e))?,
        name: get(row, "name", op)?,
        target: serde_json::from_value(get(row, "target", op)?).map_err(|e| corrupt(op, e))?,
        events: serde_json::from_value(get(row, "events", op)?).map_err(|e| corrupt(op, e))?,
        enabled: get(row, "enabled", op)?,
        created_at: get(row, "created_at", op)?,
        updated_at: get(row, "updated_at", op)?,
        deleted_at: get(row, "deleted_at", op)?,
    };
    let health = ChannelHealth {
        consecutive_failures: count(get(row, "consecutive_failures", op)?),
        last_error: get(row, "last_error", op)?,
        last_failure_at: get(row, "last_failure_at", op)?,
        last_success_at: get(row, "last_success_at", op)?,
    };
    Ok(ChannelState { channel, health })
}

fn delivery(row: &Row, op: &str) -> StoreResult<Delivery> {
    let project: String = get(row, "project_id", op)?;
    let state: String = get(row, "state", op)?;
    Ok(Delivery {
        delivery_id: get(row, "delivery_id", op)?,
        project_id: ProjectId::new(&project).map_err(|e| corrupt(op, e))?,
        channel_id: get(row, "channel_id", op)?,
        notice: serde_json::from_value(get(row, "notice", op)?).map_err(|e| corrupt(op, e))?,
        state: state.parse().map_err(|e: String| corrupt(op, e))?,
        attempts: count(get(row, "attempts", op)?),
        next_attempt_at: get(row, "next_attempt_at", op)?,
        lease_owner: get(row, "lease_owner", op)?,
        lease_until: get(row, "lease_until", op)?,
        last_error: get(row, "last_error", op)?,
        created_at: get(row, "created_at", op)?,
        sent_at: get(row, "sent_at", op)?,
    })
}

fn json(op: &str, v: &impl serde::Serialize) -> StoreResult<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| StoreError::new(ErrorKind::Internal, BACKEND, op, e))
}

fn attempts(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

async fn execute(txn: &Transaction<'_>, op: &str, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<u64> {
    txn.execute(sql, params).await.map_err(|e| pg_err(op, e))
}

async fn rows(txn: &Transaction<'_>, op: &str, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<Row>> {
    txn.query(sql, params).await.map_err(|e| pg_err(op, e))
}

async fn insert_delivery(txn: &Transaction<'_>, op: &str, d: &Delivery) -> StoreResult<()> {
    let notice = json(op, &d.notice)?;
    execute(
        txn,
        op,
        "INSERT INTO notification_deliveries (project_id, delivery_id, channel_id, incident_id, notice, state, \
         attempts, next_attempt_at, lease_owner, lease_until, last_error, created_at, sent_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            &d.project_id.as_str(),
            &d.delivery_id,
            &d.channel_id,
            &d.notice.incident_id.0,
            &notice,
            &d.state.as_str(),
            &attempts(d.attempts),
            &d.next_attempt_at,
            &d.lease_owner,
            &d.lease_until,
            &d.last_error,
            &d.created_at,
            &d.sent_at,
        ],
    )
    .await
    .map(|_| ())
}

async fn write_delivery(txn: &Transaction<'_>, op: &str, d: &Delivery) -> StoreResult<()> {
    execute(
        txn,
        op,
        "UPDATE notification_deliveries SET state = $3, attempts = $4, next_attempt_at = $5, lease_owner = $6, \
         lease_until = $7, last_error = $8, sent_at = $9 WHERE project_id = $1 AND delivery_id = $2",
        &[
            &d.project_id.as_str(),
            &d.delivery_id,
            &d.state.as_str(),
            &attempts(d.attempts),
            &d.next_attempt_at,
            &d.lease_owner,
            &d.lease_until,
            &d.last_error,
            &d.sent_at,
        ],
    )
    .await
    .map(|_| ())
}

async fn locked_delivery(
    txn: &Transaction<'_>,
    op: &str,
    project: &ProjectId,
    id: Uuid,
) -> StoreResult<Option<Delivery>> {
    let sql = format!(
        "SELECT {DELIVERY_COLS} FROM notification_deliveries WHERE project_id = $1 AND delivery_id = $2 FOR UPDATE"
    );
    rows(txn, op, &sql, &[&project.as_str(), &id]).await?.first().map(|r| delivery(r, op)).transpose()
}

impl PostgresNotifyStore {
    /// Runs `f` in a transaction scoped to `project`.
    async fn in_project<R>(
        &self,
        project: &ProjectId,
        op: &str,
        f: impl for<'t> AsyncFnOnce(&'t Transaction<'_>) -> StoreResult<R>,
    ) -> StoreResult<R> {
        let mut client = self.pool.get().await.map_err(|e| pool_err(op, e))?;
        let txn = client.transaction().await.map_err(|e| pg_err(op, e))?;
        txn.execute(SET_PROJECT, &[&project.as_str()]).await.map_err(|e| pg_err(op, e))?;
        let out = f(&txn).await?;
        txn.commit().await.map_err(|e| pg_err(op, e))?;
        Ok(out)
    }

    async fn channels(&self, project: &ProjectId, op: &str) -> StoreResult<Vec<ChannelState>> {
        self.in_project(project, op, async |txn| {
            let sql = format!(
                "SELECT {CHANNEL_COLS} FROM notification_channels WHERE project_id = $1 AND deleted_at IS NULL \
                 ORDER BY created_at, channel_id"
            );
            rows(txn, op, &sql, &[&project.as_str()]).await?.iter().map(|r| channel_state(r, op)).collect()
        })
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn settle(
        &self,
        op: &str,
        project: &ProjectId,
        id: Uuid,
        worker: &str,
        attempt: u32,
        change: impl FnOnce(&mut Delivery) + Send,
        health: impl FnOnce(&mut ChannelHealth) + Send,
    ) -> StoreResult<Settled> {
        self.in_project(project, op, async |txn| {
            let Some(mut d) = locked_delivery(txn, op, project, id).await? else { return Ok(None) };
            if !d.held_by(worker, attempt) {
                return Ok(None);
            }
            change(&mut d);
            write_delivery(txn, op, &d).await?;
            let sql = format!(
                "SELECT {CHANNEL_COLS} FROM notification_channels WHERE project_id = $1 AND channel_id = $2 FOR UPDATE"
            );
            let found = rows(txn, op, &sql, &[&project.as_str(), &d.channel_id]).await?;
            let Some(mut state) = found.first().map(|r| channel_state(r, op)).transpose()? else {
                return Ok(Some(ChannelHealth::default()));
            };
            health(&mut state.health);
            let h = &state.health;
            execute(
                txn,
                op,
                "UPDATE notification_channels SET consecutive_failures = $3, last_error = $4, last_failure_at = $5, \
                 last_success_at = $6 WHERE project_id = $1 AND channel_id = $2",
                &[
                    &project.as_str(),
                    &d.channel_id,
                    &attempts(h.consecutive_failures),
                    &h.last_error,
                    &h.last_failure_at,
                    &h.last_success_at,
                ],
            )
            .await?;
            Ok(Some(state.health))
        })
        .await
    }
}

#[async_trait]
impl NotifyStore for PostgresNotifyStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn check_connectivity(&self) -> StoreResult<()> {
        let op = "check_connectivity";
        let client = self.pool.get().await.map_err(|e| pool_err(op, e))?;
        for table in ["notification_channels", "notification_deliveries"] {
            let sql = format!("SELECT count(*) FROM {table} WHERE false");
            client.query_one(&sql, &[]).await.map_err(|e| pg_err(op, e))?;
        }
        Ok(())
    }

    async fn create_channel(&self, c: &Channel) -> StoreResult<()> {
        let op = "create_channel";
        let (target, events) = (json(op, &c.target)?, json(op, &c.events)?);
        self.in_project(&c.project_id, op, async |txn| {
            execute(
                txn,
                op,
                "INSERT INTO notification_channels (project_id, channel_id, name, kind, target, events, enabled, \
                 created_at, updated_at, deleted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &c.project_id.as_str(),
                    &c.channel_id,
                    &c.name,
                    &c.target.kind().as_str(),
                    &target,
                    &events,
                    &c.enabled,
                    &c.created_at,
                    &c.updated_at,
                    &c.deleted_at,
                ],
            )
            .await
            .map(|_| ())
        })
        .await
    }

    async fn get_channel(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<ChannelState>> {
        let op = "get_channel";
        self.in_project(project, op, async |txn| {
            let sql = format!(
                "SELECT {CHANNEL_COLS} FROM notification_channels WHERE project_id = $1 AND channel_id = $2 \
                 AND deleted_at IS NULL"
            );
            rows(txn, op, &sql, &[&project.as_str(), &id]).await?.first().map(|r| channel_state(r, op)).transpose()
        })
        .await
    }

    async fn list_channels(&self, project: &ProjectId) -> StoreResult<Vec<ChannelState>> {
        self.channels(project, "list_channels").await
    }

    async fn replace_channel(&self, c: &Channel) -> StoreResult<bool> {
        let op = "replace_channel";
        let (target, events) = (json(op, &c.target)?, json(op, &c.events)?);
        self.in_project(&c.project_id, op, async |txn| {
            let n = execute(
                txn,
                op,
                "UPDATE notification_channels SET name = $3, kind = $4, target = $5, events = $6, enabled = $7, \
                 updated_at = $8 WHERE project_id = $1 AND channel_id = $2 AND deleted_at IS NULL",
                &[
                    &c.project_id.as_str(),
                    &c.channel_id,
                    &c.name,
                    &c.target.kind().as_str(),
                    &target,
                    &events,
                    &c.enabled,
                    &c.updated_at,
                ],
            )
            .await?;
            Ok(n == 1)
        })
        .await
    }

    async fn delete_channel(&self, project: &ProjectId, id: Uuid, at: Timestamp) -> StoreResult<bool> {
        let op = "delete_channel";
        self.in_project(project, op, async |txn| {
            let n = execute(
                txn,
                op,
                "UPDATE notification_channels SET deleted_at = $3, updated_at = $3 \
                 WHERE project_id = $1 AND channel_id = $2 AND deleted_at IS NULL",
                &[&project.as_str(), &id, &at],
            )
            .await?;
            Ok(n == 1)
        })
        .await
    }

    async fn enqueue(&self, project: &ProjectId, notice: &Notice, at: Timestamp) -> StoreResult<Vec<Delivery>> {
        let op = "enqueue";
        self.in_project(project, op, async |txn| {
            // A channel changed or deleted meanwhile waits for this transaction (or it for them).
            let sql = format!(
                "SELECT {CHANNEL_COLS} FROM notification_channels WHERE project_id = $1 AND deleted_at IS NULL \
                 AND enabled ORDER BY created_at, channel_id FOR SHARE"
            );
            let mut out = Vec::new();
            for row in rows(txn, op, &sql, &[&project.as_str()]).await? {
                let s = channel_state(&row, op)?;
                if s.channel.wants(notice.event) {
                    let d = Delivery::new(&s.channel, notice, at);
                    insert_delivery(txn, op, &d).await?;
                    out.push(d);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn enqueue_to(
        &self,
        project: &ProjectId,
        channel: Uuid,
        notice: &Notice,
        at: Timestamp,
    ) -> StoreResult<Option<Delivery>> {
        let op = "enqueue_to";
        self.in_project(project, op, async |txn| {
            let sql = format!(
                "SELECT {CHANNEL_COLS} FROM notification_channels WHERE project_id = $1 AND channel_id = $2 \
                 AND deleted_at IS NULL FOR SHARE"
            );
            let found = rows(txn, op, &sql, &[&project.as_str(), &channel]).await?;
            let Some(s) = found.first().map(|r| channel_state(r, op)).transpose()? else { return Ok(None) };
            let d = Delivery::new(&s.channel, notice, at);
            insert_delivery(txn, op, &d).await?;
            Ok(Some(d))
        })
        .await
    }

    async fn take_due(
        &self,
        project: &ProjectId,
        worker: &str,
        lease: chrono::Duration,
        max_attempts: u32,
        limit: usize,
        now: Timestamp,
    ) -> StoreResult<Vec<Delivery>> {
        let op = "take_due";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.in_project(project, op, async |txn| {
            let sql = format!(
                "SELECT {DELIVERY_COLS} FROM notification_deliveries WHERE project_id = $1 \
                 AND ((state = 'queued' AND next_attempt_at <= $2) \
                   OR (state = 'sending' AND (lease_until IS NULL OR lease_until < $2))) \
                 ORDER BY next_attempt_at, delivery_id LIMIT $3 FOR UPDATE SKIP LOCKED"
            );
            let mut taken = Vec::new();
            for row in rows(txn, op, &sql, &[&project.as_str(), &now, &limit]).await? {
                let mut d = delivery(&row, op)?;
                let leased = d.take(worker, lease, max_attempts, now);
                write_delivery(txn, op, &d).await?;
                if leased {
                    taken.push(d);
                }
            }
            Ok(taken)
        })
        .await
    }

    async fn complete(
        &self,
        project: &ProjectId,
        delivery: Uuid,
        worker: &str,
        attempt: u32,
        now: Timestamp,
    ) -> StoreResult<Settled> {
        self.settle("complete", project, delivery, worker, attempt, move |d| d.sent(now), move |h| h.succeeded(now))
            .await
    }

    async fn fail(
        &self,
        project: &ProjectId,
        delivery: Uuid,
        worker: &str,
        attempt: u32,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<Settled> {
        self.settle(
            "fail",
            project,
            delivery,
            worker,
            attempt,
            move |d| d.failed(error, retry_at),
            move |h| h.failed(error, now),
        )
        .await
    }

    async fn get_delivery(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<Delivery>> {
        let op = "get_delivery";
        self.in_project(project, op, async |txn| {
            let sql = format!(
                "SELECT {DELIVERY_COLS} FROM notification_deliveries WHERE project_id = $1 AND delivery_id = $2"
            );
            rows(txn, op, &sql, &[&project.as_str(), &id]).await?.first().map(|r| delivery(r, op)).transpose()
        })
        .await
    }

    async fn list_deliveries(&self, project: &ProjectId, q: &DeliveryQuery) -> StoreResult<DeliveryPage> {
        let op = "list_deliveries";
        let incident: Option<Uuid> = q.incident.map(|i: IncidentId| i.0);
        let state = q.state.map(|s| s.as_str());
        let (limit, offset) = (i64::try_from(q.limit).unwrap_or(i64::MAX), i64::try_from(q.offset).unwrap_or(i64::MAX));
        self.in_project(project, op, async |txn| {
            let filter = "project_id = $1 AND ($2::uuid IS NULL OR channel_id = $2) \
                 AND ($3::uuid IS NULL OR incident_id = $3) AND ($4::text IS NULL OR state = $4)";
            let params: [&(dyn ToSql + Sync); 4] = [&project.as_str(), &q.channel, &incident, &state];
            let total_sql = format!("SELECT count(*) FROM notification_deliveries WHERE {filter}");
            let total: i64 = txn.query_one(&total_sql, &params).await.map_err(|e| pg_err(op, e))?.get(0);
            let sql = format!(
                "SELECT {DELIVERY_COLS} FROM notification_deliveries WHERE {filter} \
                 ORDER BY created_at DESC, delivery_id LIMIT $5 OFFSET $6"
            );
            let page =
                rows(txn, op, &sql, &[&project.as_str(), &q.channel, &incident, &state, &limit, &offset]).await?;
            Ok(DeliveryPage {
                deliveries: page.iter().map(|r| delivery(r, op)).collect::<StoreResult<_>>()?,
                total: usize::try_from(total).unwrap_or(0),
            })
        })
        .await
    }

    async fn retry(&self, project: &ProjectId, id: Uuid, now: Timestamp) -> StoreResult<Retried> {
        let op = "retry";
        self.in_project(project, op, async |txn| {
            let Some(mut d) = locked_delivery(txn, op, project, id).await? else { return Ok(Retried::NotFound) };
            if d.state != DeliveryState::Failed {
                return Ok(Retried::NotFailed(d.state));
            }
            d.retried(now);
            write_delivery(txn, op, &d).await?;
            Ok(Retried::Queued(Box::new(d)))
        })
        .await
    }
}
