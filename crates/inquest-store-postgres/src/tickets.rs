//! `PostgresTicketStore`: follow-up tickets on the records' pool (tables of
//! `0010_tickets.sql`). Each call is one transaction that first sets
//! `inquest.project` (the row-level security policies read it) and every statement
//! names `project_id` as well. A patch locks the ticket's row; a new dependency takes
//! the project's ticket-graph lock before reading the edges it is checked against, so
//! two concurrent dependencies cannot close a cycle between them.

use async_trait::async_trait;
use deadpool_postgres::{Pool, Transaction};
use inquest_domain::{ProjectId, Timestamp};
use inquest_ops::tickets::{self, *};
use inquest_ports::{ErrorKind, StoreError, StoreResult};
use serde_json::json;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::{BACKEND, PostgresStore, pg_err, pool_err};

/// The ticket port on PostgreSQL; cheap to clone (it shares the pool).
#[derive(Clone)]
pub struct PostgresTicketStore {
    pool: Pool,
}

impl PostgresStore {
    /// The ticket store on the same pool.
    pub fn tickets(&self) -> PostgresTicketStore {
        PostgresTicketStore { pool: self.pool.clone() }
    }
}

fn corrupt(op: &str, what: impl std::fmt::Display) -> StoreError {
    StoreError::new(ErrorKind::Internal, BACKEND, op, format!("corrupt row: {what}"))
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, col: &str, op: &str) -> StoreResult<T> {
    row.try_get(col).map_err(|e| corrupt(op, e))
}

const COLS: &str = "t.project_id, t.ticket_id, t.objective, t.success_criteria, t.context, t.status, t.priority, \
     t.source_type, t.source_id, t.created_at, t.updated_at, t.resolved_at";

/// Pending, and nothing it waits on is anything but completed.
const READY: &str = "(t.status = 'pending' AND NOT EXISTS (SELECT 1 FROM ticket_dependencies d \
     JOIN tickets dt ON dt.project_id = d.project_id AND dt.ticket_id = d.depends_on_id \
     WHERE d.project_id = t.project_id AND d.ticket_id = t.ticket_id AND dt.status <> 'completed')) AS ready";

const ORDER: &str = "ORDER BY t.priority DESC, t.created_at, t.ticket_id";

fn ticket(row: &Row, op: &str) -> StoreResult<Ticket> {
    let text = |col: &str| -> StoreResult<String> { get(row, col, op) };
    let priority: i16 = get(row, "priority", op)?;
    Ok(Ticket {
        id: get(row, "ticket_id", op)?,
        project_id: ProjectId::new(&text("project_id")?).map_err(|e| corrupt(op, e))?,
        objective: text("objective")?,
        success_criteria: serde_json::from_value(get(row, "success_criteria", op)?).map_err(|e| corrupt(op, e))?,
        context: get(row, "context", op)?,
        status: text("status")?.parse().map_err(|e: String| corrupt(op, e))?,
        priority: TicketPriority::from_rank(priority).ok_or_else(|| corrupt(op, format!("priority {priority}")))?,
        source_type: text("source_type")?.parse().map_err(|e: String| corrupt(op, e))?,
        source_id: get(row, "source_id", op)?,
        created_at: get(row, "created_at", op)?,
        updated_at: get(row, "updated_at", op)?,
        resolved_at: get(row, "resolved_at", op)?,
    })
}

fn listed(row: &Row, op: &str) -> StoreResult<ListedTicket> {
    Ok(ListedTicket { ticket: ticket(row, op)?, ready: get(row, "ready", op)? })
}

fn event(row: &Row, op: &str) -> StoreResult<TicketEvent> {
    Ok(TicketEvent {
        id: get(row, "event_id", op)?,
        ticket_id: get(row, "ticket_id", op)?,
        event_type: get(row, "event_type", op)?,
        data: get(row, "data", op)?,
        created_at: get(row, "created_at", op)?,
    })
}

impl PostgresTicketStore {
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

/// Serializes the writes that read a whole part of the project's graph: `key` names it.
async fn lock(txn: &Transaction<'_>, op: &str, project: &ProjectId, key: &str) -> StoreResult<()> {
    let name = format!("tickets:{}:{key}", project.as_str());
    execute(txn, op, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[&name]).await.map(|_| ())
}

async fn insert_ticket(txn: &Transaction<'_>, op: &str, t: &Ticket) -> StoreResult<()> {
    let criteria = json!(t.success_criteria);
    let (status, source_type, priority) = (t.status.as_str(), t.source_type.as_str(), t.priority.rank());
    execute(
        txn,
        op,
        "INSERT INTO tickets (project_id, ticket_id, objective, success_criteria, context, status, priority, \
         source_type, source_id, created_at, updated_at, resolved_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            &t.project_id.as_str(),
            &t.id,
            &t.objective,
            &criteria,
            &t.context,
            &status,
            &priority,
            &source_type,
            &t.source_id,
            &t.created_at,
            &t.updated_at,
            &t.resolved_at,
        ],
    )
    .await
    .map(|_| ())
}

async fn append(txn: &Transaction<'_>, op: &str, project: &ProjectId, events: &[TicketEvent]) -> StoreResult<()> {
    for e in events {
        execute(
            txn,
            op,
            "INSERT INTO ticket_events (project_id, event_id, ticket_id, event_type, data, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&project.as_str(), &e.id, &e.ticket_id, &e.event_type, &e.data, &e.created_at],
        )
        .await?;
    }
    Ok(())
}

async fn exists(txn: &Transaction<'_>, op: &str, project: &ProjectId, id: Uuid) -> StoreResult<bool> {
    let r = rows(txn, op, "SELECT 1 FROM tickets WHERE project_id = $1 AND ticket_id = $2", &[&project.as_str(), &id])
        .await?;
    Ok(!r.is_empty())
}

#[async_trait]
impl TicketStore for PostgresTicketStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn check_connectivity(&self) -> StoreResult<()> {
        let op = "check_connectivity";
        let client = self.pool.get().await.map_err(|e| pool_err(op, e))?;
        for table in ["tickets", "ticket_events", "ticket_dependencies"] {
            let sql = format!("SELECT count(*) FROM {table} WHERE false");
            client.query_one(&sql, &[]).await.map_err(|e| pg_err(op, e))?;
        }
        Ok(())
    }

    async fn create_ticket(&self, t: &Ticket, created: &TicketEvent) -> StoreResult<()> {
        let op = "create_ticket";
        self.in_project(&t.project_id, op, async |txn| {
            insert_ticket(txn, op, t).await?;
            append(txn, op, &t.project_id, std::slice::from_ref(created)).await
        })
        .await
    }

    async fn create_for_source(
        &self,
        project: &ProjectId,
        source_type: TicketSource,
        source_id: &str,
        new: &[(Ticket, TicketEvent)],
    ) -> StoreResult<(Vec<Ticket>, bool)> {
        let op = "create_for_source";
        self.in_project(project, op, async |txn| {
            lock(txn, op, project, &format!("source:{}:{source_id}", source_type.as_str())).await?;
            let sql = format!(
                "SELECT {COLS} FROM tickets t WHERE t.project_id = $1 AND t.source_type = $2 AND t.source_id = $3 {ORDER}"
            );
            let found = rows(txn, op, &sql, &[&project.as_str(), &source_type.as_str(), &source_id]).await?;
            if !found.is_empty() {
                return Ok((found.iter().map(|r| ticket(r, op)).collect::<StoreResult<_>>()?, false));
            }
            for (t, e) in new {
                if t.project_id != *project || t.source_type != source_type || t.source_id.as_deref() != Some(source_id)
                {
                    return Err(StoreError::new(ErrorKind::InvalidInput, BACKEND, op, "ticket of another source"));
                }
                insert_ticket(txn, op, t).await?;
                append(txn, op, project, std::slice::from_ref(e)).await?;
            }
            let mut made: Vec<Ticket> = new.iter().map(|(t, _)| t.clone()).collect();
            made.sort_by(tickets::list_order);
            Ok((made, true))
        })
        .await
    }

    async fn get_ticket(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<ListedTicket>> {
        let op = "get_ticket";
        self.in_project(project, op, async |txn| {
            let sql = format!("SELECT {COLS}, {READY} FROM tickets t WHERE t.project_id = $1 AND t.ticket_id = $2");
            rows(txn, op, &sql, &[&project.as_str(), &id]).await?.first().map(|r| listed(r, op)).transpose()
        })
        .await
    }

    async fn list_tickets(&self, project: &ProjectId, q: &TicketQuery) -> StoreResult<TicketPage> {
        let op = "list_tickets";
        let (status, ready) = match q.status {
            None => (None, None),
            Some(StatusFilter::Is(s)) => (Some(s.as_str()), None),
            Some(StatusFilter::Ready) => (None, Some(true)),
        };
        let source_type = q.source_type.map(TicketSource::as_str);
        let priority = q.priority.map(TicketPriority::rank);
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(q.offset).unwrap_or(i64::MAX);
        let filtered = "WITH l AS (SELECT t.*, {READY} FROM tickets t WHERE t.project_id = $1) \
             SELECT {COLS}, t.ready FROM l t WHERE ($2::text IS NULL OR t.status = $2) \
             AND ($3::bool IS NULL OR t.ready = $3) AND ($4::text IS NULL OR t.source_type = $4) \
             AND ($5::text IS NULL OR t.source_id = $5) AND ($6::smallint IS NULL OR t.priority = $6)"
            .replace("{READY}", READY)
            .replace("{COLS}", COLS);
        self.in_project(project, op, async |txn| {
            let params: [&(dyn ToSql + Sync); 6] =
                [&project.as_str(), &status, &ready, &source_type, &q.source_id, &priority];
            let count = format!("SELECT count(*) AS n FROM ({filtered}) c");
            let total: i64 = get(&rows(txn, op, &count, &params).await?[0], "n", op)?;
            let page = format!("{filtered} {ORDER} LIMIT $7 OFFSET $8");
            let mut all: Vec<&(dyn ToSql + Sync)> = params.to_vec();
            all.extend([&limit as &(dyn ToSql + Sync), &offset]);
            let tickets =
                rows(txn, op, &page, &all).await?.iter().map(|r| listed(r, op)).collect::<StoreResult<_>>()?;
            Ok(TicketPage { tickets, total: usize::try_from(total).map_err(|e| corrupt(op, e))? })
        })
        .await
    }

    async fn patch_ticket(
        &self,
        project: &ProjectId,
        id: Uuid,
        patch: &TicketPatch,
        at: Timestamp,
    ) -> StoreResult<Patched> {
        let op = "patch_ticket";
        self.in_project(project, op, async |txn| {
            let sql = format!("SELECT {COLS} FROM tickets t WHERE t.project_id = $1 AND t.ticket_id = $2 FOR UPDATE");
            let Some(row) = rows(txn, op, &sql, &[&project.as_str(), &id]).await?.into_iter().next() else {
                return Ok(Patched::NotFound);
            };
            let current = ticket(&row, op)?;
            let (next, events) = match tickets::apply(&current, patch, at) {
                Ok(done) => done,
                Err(e) => return Ok(Patched::Refused(e)),
            };
            if !events.is_empty() {
                let (status, priority) = (next.status.as_str(), next.priority.rank());
                execute(
                    txn,
                    op,
                    "UPDATE tickets SET status = $3, priority = $4, context = $5, updated_at = $6, resolved_at = $7 \
                     WHERE project_id = $1 AND ticket_id = $2",
                    &[&project.as_str(), &id, &status, &priority, &next.context, &next.updated_at, &next.resolved_at],
                )
                .await?;
                append(txn, op, project, &events).await?;
            }
            Ok(Patched::Done(next))
        })
        .await
    }

    async fn append_event(&self, project: &ProjectId, e: &TicketEvent) -> StoreResult<bool> {
        let op = "append_event";
        self.in_project(project, op, async |txn| {
            if !exists(txn, op, project, e.ticket_id).await? {
                return Ok(false);
            }
            append(txn, op, project, std::slice::from_ref(e)).await?;
            Ok(true)
        })
        .await
    }

    async fn events(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<Vec<TicketEvent>>> {
        let op = "events";
        self.in_project(project, op, async |txn| {
            if !exists(txn, op, project, id).await? {
                return Ok(None);
            }
            let found = rows(
                txn,
                op,
                "SELECT event_id, ticket_id, event_type, data, created_at FROM ticket_events \
                 WHERE project_id = $1 AND ticket_id = $2 ORDER BY seq",
                &[&project.as_str(), &id],
            )
            .await?;
            Ok(Some(found.iter().map(|r| event(r, op)).collect::<StoreResult<_>>()?))
        })
        .await
    }

    async fn add_dependency(
        &self,
        project: &ProjectId,
        ticket_id: Uuid,
        depends_on: Uuid,
        at: Timestamp,
    ) -> StoreResult<AddDependency> {
        let op = "add_dependency";
        self.in_project(project, op, async |txn| {
            lock(txn, op, project, "graph").await?;
            for id in [ticket_id, depends_on] {
                if !exists(txn, op, project, id).await? {
                    return Ok(AddDependency::MissingTicket(id));
                }
            }
            let edges = rows(
                txn,
                op,
                "SELECT ticket_id, depends_on_id, created_at FROM ticket_dependencies WHERE project_id = $1",
                &[&project.as_str()],
            )
            .await?;
            let mut pairs = Vec::with_capacity(edges.len());
            for r in &edges {
                let (t, d): (Uuid, Uuid) = (get(r, "ticket_id", op)?, get(r, "depends_on_id", op)?);
                if (t, d) == (ticket_id, depends_on) {
                    let created_at = get(r, "created_at", op)?;
                    return Ok(AddDependency::Exists(TicketDependency { ticket_id, depends_on_id: d, created_at }));
                }
                pairs.push((t, d));
            }
            if let Some(path) = tickets::cycle(&pairs, ticket_id, depends_on) {
                return Ok(AddDependency::Cycle(path));
            }
            execute(
                txn,
                op,
                "INSERT INTO ticket_dependencies (project_id, ticket_id, depends_on_id, created_at) \
                 VALUES ($1, $2, $3, $4)",
                &[&project.as_str(), &ticket_id, &depends_on, &at],
            )
            .await?;
            let e = TicketEvent::new(ticket_id, "dependency_added", json!({"depends_on_id": depends_on}), at);
            append(txn, op, project, &[e]).await?;
            Ok(AddDependency::Added(TicketDependency { ticket_id, depends_on_id: depends_on, created_at: at }))
        })
        .await
    }

    async fn remove_dependency(
        &self,
        project: &ProjectId,
        ticket_id: Uuid,
        depends_on: Uuid,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let op = "remove_dependency";
        self.in_project(project, op, async |txn| {
            let n = execute(
                txn,
                op,
                "DELETE FROM ticket_dependencies WHERE project_id = $1 AND ticket_id = $2 AND depends_on_id = $3",
                &[&project.as_str(), &ticket_id, &depends_on],
            )
            .await?;
            if n == 0 {
                return Ok(false);
            }
            let e = TicketEvent::new(ticket_id, "dependency_removed", json!({"depends_on_id": depends_on}), at);
            append(txn, op, project, &[e]).await?;
            Ok(true)
        })
        .await
    }

    async fn dependencies(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<Vec<DependencyOn>>> {
        let op = "dependencies";
        self.in_project(project, op, async |txn| {
            if !exists(txn, op, project, id).await? {
                return Ok(None);
            }
            let sql = format!(
                "SELECT {COLS}, d.ticket_id AS dependent_id, d.created_at AS dependency_created_at \
                 FROM ticket_dependencies d JOIN tickets t \
                 ON t.project_id = d.project_id AND t.ticket_id = d.depends_on_id \
                 WHERE d.project_id = $1 AND d.ticket_id = $2 ORDER BY d.created_at, t.ticket_id"
            );
            let mut out = Vec::new();
            for r in rows(txn, op, &sql, &[&project.as_str(), &id]).await? {
                let ticket = ticket(&r, op)?;
                let dependency = TicketDependency {
                    ticket_id: get(&r, "dependent_id", op)?,
                    depends_on_id: ticket.id,
                    created_at: get(&r, "dependency_created_at", op)?,
                };
                out.push(DependencyOn { dependency, ticket });
            }
            Ok(Some(out))
        })
        .await
    }

    async fn count_ready(&self, project: &ProjectId) -> StoreResult<usize> {
        let op = "count_ready";
        self.in_project(project, op, async |txn| {
            let sql = format!(
                "SELECT count(*) AS n FROM (SELECT {READY} FROM tickets t WHERE t.project_id = $1) r WHERE r.ready"
            );
            let n: i64 = get(&rows(txn, op, &sql, &[&project.as_str()]).await?[0], "n", op)?;
            usize::try_from(n).map_err(|e| corrupt(op, e))
        })
        .await
    }
}
