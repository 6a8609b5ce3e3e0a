//! `EmbeddedTicketStore`: follow-up tickets on their own `redb` file
//! (`<data dir>/tickets.redb`; redb allows one handle per file). Every key leads with
//! the project, so every read scans only its project's prefix. Events are keyed by a
//! sequence number the file hands out, so a ticket's history reads back in the order
//! it was written, and no call rewrites or removes one. Each write is one transaction:
//! a patch reads the ticket it changes, a new dependency reads the project's edges it
//! is checked against.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use inquest_domain::{ProjectId, Timestamp};
use inquest_ops::tickets::{self, *};
use inquest_ports::{ErrorKind, StoreError, StoreResult};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde_json::json;
use uuid::Uuid;

use crate::{BACKEND, MAX_STR, from_json, store_err, to_json};

const META: TableDefinition<&str, u64> = TableDefinition::new("tickets_meta");
/// `(project_id, ticket_id)` -> `Ticket`
const TICKETS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("tickets");
/// `(project_id, ticket_id, sequence)` -> `TicketEvent`
const EVENTS: TableDefinition<(&str, &str, u64), &[u8]> = TableDefinition::new("ticket_events");
/// `(project_id, ticket_id, depends_on_id)` -> created_at, microseconds
const DEPENDENCIES: TableDefinition<(&str, &str, &str), i64> = TableDefinition::new("ticket_dependencies");

/// Bumped when the layout of the file changes incompatibly.
pub const TICKETS_SCHEMA_VERSION: u64 = 1;

/// Tickets on an embedded `redb` file (or in memory).
#[derive(Clone)]
pub struct EmbeddedTicketStore {
    db: Arc<Database>,
}

fn micros(t: Timestamp) -> i64 {
    t.timestamp_micros()
}

fn from_micros(op: &str, m: i64) -> StoreResult<Timestamp> {
    chrono::DateTime::from_timestamp_micros(m).ok_or_else(|| store_err(op, format!("bad time {m}")))
}

impl EmbeddedTicketStore {
    /// Open (or create) the file at `path`.
    pub fn open(path: &Path) -> StoreResult<Self> {
        Self::init(crate::create_database(path)?)
    }

    /// A store that lives only in memory (tests, the open demo).
    pub fn in_memory() -> StoreResult<Self> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| store_err("open", e))?;
        Self::init(db)
    }

    fn init(db: Database) -> StoreResult<Self> {
        let op = "migrate";
        let txn = db.begin_write().map_err(|e| store_err(op, e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| store_err(op, e))?;
            let current = meta.get("schema_version").map_err(|e| store_err(op, e))?.map(|v| v.value());
            if let Some(v) = current.filter(|v| *v > TICKETS_SCHEMA_VERSION) {
                return Err(StoreError::new(
                    ErrorKind::InvalidInput,
                    BACKEND,
                    op,
                    format!("tickets file has schema version {v}, this build knows up to {TICKETS_SCHEMA_VERSION}"),
                ));
            }
            meta.insert("schema_version", TICKETS_SCHEMA_VERSION).map_err(|e| store_err(op, e))?;
            txn.open_table(TICKETS).map_err(|e| store_err(op, e))?;
            txn.open_table(EVENTS).map_err(|e| store_err(op, e))?;
            txn.open_table(DEPENDENCIES).map_err(|e| store_err(op, e))?;
        }
        txn.commit().map_err(|e| store_err(op, e))?;
        Ok(Self { db: Arc::new(db) })
    }

    /// The schema version recorded in the file.
    pub fn schema_version(&self) -> StoreResult<u64> {
        let op = "schema_version";
        let txn = self.db.begin_read().map_err(|e| store_err(op, e))?;
        let meta = txn.open_table(META).map_err(|e| store_err(op, e))?;
        Ok(meta.get("schema_version").map_err(|e| store_err(op, e))?.map(|v| v.value()).unwrap_or(0))
    }

    fn write<T>(&self, op: &str, f: impl FnOnce(&WriteTransaction) -> StoreResult<T>) -> StoreResult<T> {
        let txn = self.db.begin_write().map_err(|e| store_err(op, e))?;
        let out = f(&txn)?;
        txn.commit().map_err(|e| store_err(op, e))?;
        Ok(out)
    }
}

/// What a transaction reads of a project: its tickets and its edges.
trait Snapshot {
    fn ticket(&self, op: &str, project: &str, id: &str) -> StoreResult<Option<Ticket>>;
    fn tickets(&self, op: &str, project: &str) -> StoreResult<Vec<Ticket>>;
    /// `(ticket, depends_on, created_at)` of the project.
    fn edges(&self, op: &str, project: &str) -> StoreResult<Vec<(Uuid, Uuid, Timestamp)>>;
}

macro_rules! snapshot {
    ($txn:ty) => {
        impl Snapshot for $txn {
            fn ticket(&self, op: &str, project: &str, id: &str) -> StoreResult<Option<Ticket>> {
                let t = self.open_table(TICKETS).map_err(|e| store_err(op, e))?;
                match t.get((project, id)).map_err(|e| store_err(op, e))? {
                    Some(v) => Ok(Some(from_json(op, v.value())?)),
                    None => Ok(None),
                }
            }
            fn tickets(&self, op: &str, project: &str) -> StoreResult<Vec<Ticket>> {
                let t = self.open_table(TICKETS).map_err(|e| store_err(op, e))?;
                let mut out = Vec::new();
                for row in t.range((project, "")..=(project, MAX_STR)).map_err(|e| store_err(op, e))? {
                    let (_, v) = row.map_err(|e| store_err(op, e))?;
                    out.push(from_json(op, v.value())?);
                }
                Ok(out)
            }
            fn edges(&self, op: &str, project: &str) -> StoreResult<Vec<(Uuid, Uuid, Timestamp)>> {
                let t = self.open_table(DEPENDENCIES).map_err(|e| store_err(op, e))?;
                let mut out = Vec::new();
                for row in t.range((project, "", "")..=(project, MAX_STR, MAX_STR)).map_err(|e| store_err(op, e))? {
                    let (k, v) = row.map_err(|e| store_err(op, e))?;
                    let (_, a, b) = k.value();
                    let parse = |s: &str| s.parse::<Uuid>().map_err(|e| store_err(op, e));
                    out.push((parse(a)?, parse(b)?, from_micros(op, v.value())?));
                }
                Ok(out)
            }
        }
    };
}

snapshot!(redb::ReadTransaction);
snapshot!(WriteTransaction);

/// Every ticket of the project with its readiness.
fn listed(snap: &impl Snapshot, op: &str, project: &str) -> StoreResult<Vec<ListedTicket>> {
    let all = snap.tickets(op, project)?;
    let edges: Vec<(Uuid, Uuid)> = snap.edges(op, project)?.into_iter().map(|(a, b, _)| (a, b)).collect();
    let statuses: BTreeMap<Uuid, TicketStatus> = all.iter().map(|t| (t.id, t.status)).collect();
    let ready = tickets::readiness(&statuses, &edges);
    Ok(all.into_iter().map(|t| ListedTicket { ready: ready.get(&t.id).copied().unwrap_or(false), ticket: t }).collect())
}

fn put_ticket(txn: &WriteTransaction, op: &str, t: &Ticket) -> StoreResult<()> {
    let mut table = txn.open_table(TICKETS).map_err(|e| store_err(op, e))?;
    let bytes = to_json(op, t)?;
    let id = t.id.to_string();
    table.insert((t.project_id.as_str(), id.as_str()), bytes.as_slice()).map_err(|e| store_err(op, e))?;
    Ok(())
}

fn append(txn: &WriteTransaction, op: &str, project: &str, events: &[TicketEvent]) -> StoreResult<()> {
    let mut meta = txn.open_table(META).map_err(|e| store_err(op, e))?;
    let mut seq = meta.get("event_seq").map_err(|e| store_err(op, e))?.map(|v| v.value()).unwrap_or(0);
    let mut table = txn.open_table(EVENTS).map_err(|e| store_err(op, e))?;
    for e in events {
        seq += 1;
        let bytes = to_json(op, e)?;
        let id = e.ticket_id.to_string();
        table.insert((project, id.as_str(), seq), bytes.as_slice()).map_err(|e| store_err(op, e))?;
    }
    meta.insert("event_seq", seq).map_err(|e| store_err(op, e))?;
    Ok(())
}

#[async_trait]
impl TicketStore for EmbeddedTicketStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn check_connectivity(&self) -> StoreResult<()> {
        self.schema_version().map(|_| ())
    }

    async fn create_ticket(&self, ticket: &Ticket, created: &TicketEvent) -> StoreResult<()> {
        let op = "create_ticket";
        self.write(op, |txn| {
            let project = ticket.project_id.as_str();
            if txn.ticket(op, project, &ticket.id.to_string())?.is_some() {
                return Err(StoreError::new(ErrorKind::Conflict, BACKEND, op, format!("ticket {} exists", ticket.id)));
            }
            put_ticket(txn, op, ticket)?;
            append(txn, op, project, std::slice::from_ref(created))
        })
    }

    async fn create_for_source(
        &self,
        project: &ProjectId,
        source_type: TicketSource,
        source_id: &str,
        new: &[(Ticket, TicketEvent)],
    ) -> StoreResult<(Vec<Ticket>, bool)> {
        let op = "create_for_source";
        self.write(op, |txn| {
            let of_source = |t: &Ticket| t.source_type == source_type && t.source_id.as_deref() == Some(source_id);
            let mut existing: Vec<Ticket> = txn.tickets(op, project.as_str())?.into_iter().filter(of_source).collect();
            if !existing.is_empty() {
                existing.sort_by(tickets::list_order);
                return Ok((existing, false));
            }
            for (t, e) in new {
                if t.project_id != *project || !of_source(t) {
                    return Err(StoreError::new(ErrorKind::InvalidInput, BACKEND, op, "ticket of another source"));
                }
                put_ticket(txn, op, t)?;
                append(txn, op, project.as_str(), std::slice::from_ref(e))?;
            }
            let mut made: Vec<Ticket> = new.iter().map(|(t, _)| t.clone()).collect();
            made.sort_by(tickets::list_order);
            Ok((made, true))
        })
    }

    async fn get_ticket(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<ListedTicket>> {
        let op = "get_ticket";
        let txn = self.db.begin_read().map_err(|e| store_err(op, e))?;
        let Some(ticket) = txn.ticket(op, project.as_str(), &id.to_string())? else { return Ok(None) };
        let mut deps = Vec::new();
        for (_, d, _) in txn.edges(op, project.as_str())?.into_iter().filter(|(t, _, _)| *t == id) {
            deps.push(txn.ticket(op, project.as_str(), &d.to_string())?.map(|t| t.status));
        }
        let ready = ticket.status == TicketStatus::Pending && deps.iter().all(|d| *d == Some(TicketStatus::Completed));
        Ok(Some(ListedTicket { ticket, ready }))
    }

    async fn list_tickets(&self, project: &ProjectId, query: &TicketQuery) -> StoreResult<TicketPage> {
        let op = "list_tickets";
        let txn = self.db.begin_read().map_err(|e| store_err(op, e))?;
        let mut kept: Vec<ListedTicket> =
            listed(&txn, op, project.as_str())?.into_iter().filter(|l| query.keeps(&l.ticket, l.ready)).collect();
        kept.sort_by(|a, b| tickets::list_order(&a.ticket, &b.ticket));
        let total = kept.len();
        let tickets = kept.into_iter().skip(query.offset).take(query.limit).collect();
        Ok(TicketPage { tickets, total })
    }

    async fn patch_ticket(
        &self,
        project: &ProjectId,
        id: Uuid,
        patch: &TicketPatch,
        at: Timestamp,
    ) -> StoreResult<Patched> {
        let op = "patch_ticket";
        self.write(op, |txn| {
            let Some(current) = txn.ticket(op, project.as_str(), &id.to_string())? else {
                return Ok(Patched::NotFound);
            };
            let (next, events) = match tickets::apply(&current, patch, at) {
                Ok(done) => done,
                Err(e) => return Ok(Patched::Refused(e)),
            };
            if !events.is_empty() {
                put_ticket(txn, op, &next)?;
                append(txn, op, project.as_str(), &events)?;
            }
            Ok(Patched::Done(next))
        })
    }

    async fn append_event(&self, project: &ProjectId, event: &TicketEvent) -> StoreResult<bool> {
        let op = "append_event";
        self.write(op, |txn| {
            if txn.ticket(op, project.as_str(), &event.ticket_id.to_string())?.is_none() {
                return Ok(false);
            }
            append(txn, op, project.as_str(), std::slice::from_ref(event))?;
            Ok(true)
        })
    }

    async fn events(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<Vec<TicketEvent>>> {
        let op = "events";
        let txn = self.db.begin_read().map_err(|e| store_err(op, e))?;
        let id = id.to_string();
        if txn.ticket(op, project.as_str(), &id)?.is_none() {
            return Ok(None);
        }
        let t = txn.open_table(EVENTS).map_err(|e| store_err(op, e))?;
        let p = project.as_str();
        let mut out = Vec::new();
        for row in t.range((p, id.as_str(), 0)..=(p, id.as_str(), u64::MAX)).map_err(|e| store_err(op, e))? {
            let (_, v) = row.map_err(|e| store_err(op, e))?;
            out.push(from_json(op, v.value())?);
        }
        Ok(Some(out))
    }

    async fn add_dependency(
        &self,
        project: &ProjectId,
        ticket: Uuid,
        depends_on: Uuid,
        at: Timestamp,
    ) -> StoreResult<AddDependency> {
        let op = "add_dependency";
        self.write(op, |txn| {
            let p = project.as_str();
            for id in [ticket, depends_on] {
                if txn.ticket(op, p, &id.to_string())?.is_none() {
                    return Ok(AddDependency::MissingTicket(id));
                }
            }
            let edges = txn.edges(op, p)?;
            if let Some((_, _, created_at)) = edges.iter().find(|(t, d, _)| *t == ticket && *d == depends_on) {
                return Ok(AddDependency::Exists(TicketDependency {
                    ticket_id: ticket,
                    depends_on_id: depends_on,
                    created_at: *created_at,
                }));
            }
            let pairs: Vec<(Uuid, Uuid)> = edges.iter().map(|(a, b, _)| (*a, *b)).collect();
            if let Some(path) = tickets::cycle(&pairs, ticket, depends_on) {
                return Ok(AddDependency::Cycle(path));
            }
            {
                let mut t = txn.open_table(DEPENDENCIES).map_err(|e| store_err(op, e))?;
                let (a, b) = (ticket.to_string(), depends_on.to_string());
                t.insert((p, a.as_str(), b.as_str()), micros(at)).map_err(|e| store_err(op, e))?;
            }
            let event = TicketEvent::new(ticket, "dependency_added", json!({"depends_on_id": depends_on}), at);
            append(txn, op, p, &[event])?;
            Ok(AddDependency::Added(TicketDependency { ticket_id: ticket, depends_on_id: depends_on, created_at: at }))
        })
    }

    async fn remove_dependency(
        &self,
        project: &ProjectId,
        ticket: Uuid,
        depends_on: Uuid,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let op = "remove_dependency";
        self.write(op, |txn| {
            let p = project.as_str();
            let removed = {
                let mut t = txn.open_table(DEPENDENCIES).map_err(|e| store_err(op, e))?;
                let (a, b) = (ticket.to_string(), depends_on.to_string());
                t.remove((p, a.as_str(), b.as_str())).map_err(|e| store_err(op, e))?.is_some()
            };
            if removed {
                let event = TicketEvent::new(ticket, "dependency_removed", json!({"depends_on_id": depends_on}), at);
                append(txn, op, p, &[event])?;
            }
            Ok(removed)
        })
    }

    async fn dependencies(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<Vec<DependencyOn>>> {
        let op = "dependencies";
        let txn = self.db.begin_read().map_err(|e| store_err(op, e))?;
        let p = project.as_str();
        if txn.ticket(op, p, &id.to_string())?.is_none() {
            return Ok(None);
        }
        let mut out = Vec::new();
        for (t, d, created_at) in txn.edges(op, p)?.into_iter().filter(|(t, _, _)| *t == id) {
            if let Some(ticket) = txn.ticket(op, p, &d.to_string())? {
                out.push(DependencyOn {
                    dependency: TicketDependency { ticket_id: t, depends_on_id: d, created_at },
                    ticket,
                });
            }
        }
        out.sort_by(|a, b| a.dependency.created_at.cmp(&b.dependency.created_at).then(a.ticket.id.cmp(&b.ticket.id)));
        Ok(Some(out))
    }

    async fn count_ready(&self, project: &ProjectId) -> StoreResult<usize> {
        let op = "count_ready";
        let txn = self.db.begin_read().map_err(|e| store_err(op, e))?;
        Ok(listed(&txn, op, project.as_str())?.iter().filter(|l| l.ready).count())
    }
}
