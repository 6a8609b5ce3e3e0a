//! `EmbeddedNotifyStore`: notification channels and their deliveries on their own
//! `redb` file (`<data dir>/notify.redb`; redb allows one handle per file). Every key
//! leads with the project. A channel's row holds its health beside it, so a settled
//! attempt changes both in one transaction; the deliveries not yet sent or given up
//! are also keyed in `notify_pending`, so a worker's poll reads only those.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use inquest_domain::{ProjectId, Timestamp};
use inquest_ops::channels::{self, *};
use inquest_ops::notify::Notice;
use inquest_ports::{ErrorKind, StoreError, StoreResult};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use uuid::Uuid;

use crate::{BACKEND, MAX_STR, from_json, store_err, to_json};

const META: TableDefinition<&str, u64> = TableDefinition::new("notify_meta");
/// `(project_id, channel_id)` -> `ChannelState`
const CHANNELS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("notify_channels");
/// `(project_id, delivery_id)` -> `Delivery`
const DELIVERIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("notify_deliveries");
/// `(project_id, delivery_id)` of the deliveries queued or sending.
const PENDING: TableDefinition<(&str, &str), ()> = TableDefinition::new("notify_pending");

/// Bumped when the layout of the file changes incompatibly.
pub const NOTIFY_SCHEMA_VERSION: u64 = 1;

/// Channels and deliveries on an embedded `redb` file (or in memory).
#[derive(Clone)]
pub struct EmbeddedNotifyStore {
    db: Arc<Database>,
}

impl EmbeddedNotifyStore {
    /// Open (or create) the file at `path`.
    pub fn open(path: &Path) -> StoreResult<Self> {
        Self::init(crate::create_database(path)?)
    }

    /// A store that lives only in memory (tests).
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
            if let Some(v) = current.filter(|v| *v > NOTIFY_SCHEMA_VERSION) {
                return Err(StoreError::new(
                    ErrorKind::InvalidInput,
                    BACKEND,
                    op,
                    format!("notify file has schema version {v}, this build knows up to {NOTIFY_SCHEMA_VERSION}"),
                ));
            }
            meta.insert("schema_version", NOTIFY_SCHEMA_VERSION).map_err(|e| store_err(op, e))?;
            txn.open_table(CHANNELS).map_err(|e| store_err(op, e))?;
            txn.open_table(DELIVERIES).map_err(|e| store_err(op, e))?;
            txn.open_table(PENDING).map_err(|e| store_err(op, e))?;
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

/// What a transaction reads of a project.
trait Snapshot {
    fn channel(&self, op: &str, project: &str, id: &str) -> StoreResult<Option<ChannelState>>;
    fn channels(&self, op: &str, project: &str) -> StoreResult<Vec<ChannelState>>;
    fn delivery(&self, op: &str, project: &str, id: &str) -> StoreResult<Option<Delivery>>;
    fn deliveries(&self, op: &str, project: &str) -> StoreResult<Vec<Delivery>>;
}

macro_rules! snapshot {
    ($txn:ty) => {
        impl Snapshot for $txn {
            fn channel(&self, op: &str, project: &str, id: &str) -> StoreResult<Option<ChannelState>> {
                let t = self.open_table(CHANNELS).map_err(|e| store_err(op, e))?;
                match t.get((project, id)).map_err(|e| store_err(op, e))? {
                    Some(v) => Ok(Some(from_json(op, v.value())?)),
                    None => Ok(None),
                }
            }
            fn channels(&self, op: &str, project: &str) -> StoreResult<Vec<ChannelState>> {
                let t = self.open_table(CHANNELS).map_err(|e| store_err(op, e))?;
                let mut out = Vec::new();
                for row in t.range((project, "")..=(project, MAX_STR)).map_err(|e| store_err(op, e))? {
                    let (_, v) = row.map_err(|e| store_err(op, e))?;
                    out.push(from_json(op, v.value())?);
                }
                Ok(out)
            }
            fn delivery(&self, op: &str, project: &str, id: &str) -> StoreResult<Option<Delivery>> {
                let t = self.open_table(DELIVERIES).map_err(|e| store_err(op, e))?;
                match t.get((project, id)).map_err(|e| store_err(op, e))? {
                    Some(v) => Ok(Some(from_json(op, v.value())?)),
                    None => Ok(None),
                }
            }
            fn deliveries(&self, op: &str, project: &str) -> StoreResult<Vec<Delivery>> {
                let t = self.open_table(DELIVERIES).map_err(|e| store_err(op, e))?;
                let mut out = Vec::new();
                for row in t.range((project, "")..=(project, MAX_STR)).map_err(|e| store_err(op, e))? {
                    let (_, v) = row.map_err(|e| store_err(op, e))?;
                    out.push(from_json(op, v.value())?);
                }
                Ok(out)
            }
        }
    };
}

snapshot!(redb::ReadTransaction);
snapshot!(WriteTransaction);

fn live(state: Option<ChannelState>) -> Option<ChannelState> {
    state.filter(|s| s.channel.deleted_at.is_none())
}

fn put_channel(txn: &WriteTransaction, op: &str, s: &ChannelState) -> StoreResult<()> {
    let mut t = txn.open_table(CHANNELS).map_err(|e| store_err(op, e))?;
    let bytes = to_json(op, s)?;
    let id = s.channel.channel_id.to_string();
    t.insert((s.channel.project_id.as_str(), id.as_str()), bytes.as_slice()).map_err(|e| store_err(op, e))?;
    Ok(())
}

fn put_delivery(txn: &WriteTransaction, op: &str, d: &Delivery) -> StoreResult<()> {
    let (project, id) = (d.project_id.as_str(), d.delivery_id.to_string());
    let bytes = to_json(op, d)?;
    txn.open_table(DELIVERIES)
        .map_err(|e| store_err(op, e))?
        .insert((project, id.as_str()), bytes.as_slice())
        .map_err(|e| store_err(op, e))?;
    let mut pending = txn.open_table(PENDING).map_err(|e| store_err(op, e))?;
    if d.state.pending() {
        pending.insert((project, id.as_str()), ()).map_err(|e| store_err(op, e))?;
    } else {
        pending.remove((project, id.as_str())).map_err(|e| store_err(op, e))?;
    }
    Ok(())
}

impl EmbeddedNotifyStore {
    /// Settles the attempt `worker` holds with `change`, and the channel's health with `health`.
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &self,
        op: &str,
        project: &ProjectId,
        id: Uuid,
        worker: &str,
        attempt: u32,
        change: impl FnOnce(&mut Delivery),
        health: impl FnOnce(&mut ChannelHealth),
    ) -> StoreResult<Settled> {
        self.write(op, |txn| {
            let p = project.as_str();
            let Some(mut d) = txn.delivery(op, p, &id.to_string())? else { return Ok(None) };
            if !d.held_by(worker, attempt) {
                return Ok(None);
            }
            change(&mut d);
            put_delivery(txn, op, &d)?;
            let Some(mut state) = txn.channel(op, p, &d.channel_id.to_string())? else {
                return Ok(Some(ChannelHealth::default()));
            };
            health(&mut state.health);
            put_channel(txn, op, &state)?;
            Ok(Some(state.health))
        })
    }
}

#[async_trait]
impl NotifyStore for EmbeddedNotifyStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn check_connectivity(&self) -> StoreResult<()> {
        self.schema_version().map(|_| ())
    }

    async fn create_channel(&self, channel: &Channel) -> StoreResult<()> {
        let op = "create_channel";
        self.write(op, |txn| {
            let id = channel.channel_id.to_string();
            if txn.channel(op, channel.project_id.as_str(), &id)?.is_some() {
                return Err(StoreError::new(ErrorKind::Conflict, BACKEND, op, format!("channel {id} exists")));
            }
            put_channel(txn, op, &ChannelState { channel: channel.clone(), health: ChannelHealth::default() })
        })
    }

    async fn get_channel(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<ChannelState>> {
        let op = "get_channel";
        let txn = self.db.begin_read().map_err(|e| store_err(op, e))?;
        Ok(live(txn.channel(op, project.as_str(), &id.to_string())?))
    }

    async fn list_channels(&self, project: &ProjectId) -> StoreResult<Vec<ChannelState>> {
        let op = "list_channels";
        let txn = self.db.begin_read().map_err(|e| store_err(op, e))?;
        let mut out: Vec<ChannelState> =
            txn.channels(op, project.as_str())?.into_iter().filter(|s| s.channel.deleted_at.is_none()).collect();
        out.sort_by(|a, b| {
            a.channel.created_at.cmp(&b.channel.created_at).then(a.channel.channel_id.cmp(&b.channel.channel_id))
        });
        Ok(out)
    }

    async fn replace_channel(&self, channel: &Channel) -> StoreResult<bool> {
        let op = "replace_channel";
        self.write(op, |txn| {
            let id = channel.channel_id.to_string();
            let Some(mut state) = live(txn.channel(op, channel.project_id.as_str(), &id)?) else { return Ok(false) };
            state.channel = Channel { created_at: state.channel.created_at, deleted_at: None, ..channel.clone() };
            put_channel(txn, op, &state)?;
            Ok(true)
        })
    }

    async fn delete_channel(&self, project: &ProjectId, id: Uuid, at: Timestamp) -> StoreResult<bool> {
        let op = "delete_channel";
        self.write(op, |txn| {
            let Some(mut state) = live(txn.channel(op, project.as_str(), &id.to_string())?) else { return Ok(false) };
            state.channel.deleted_at = Some(at);
            state.channel.updated_at = at;
            put_channel(txn, op, &state)?;
            Ok(true)
        })
    }

    async fn enqueue(&self, project: &ProjectId, notice: &Notice, at: Timestamp) -> StoreResult<Vec<Delivery>> {
        let op = "enqueue";
        self.write(op, |txn| {
            let mut out = Vec::new();
            for s in txn.channels(op, project.as_str())?.into_iter().filter(|s| s.channel.wants(notice.event)) {
                let d = Delivery::new(&s.channel, notice, at);
                put_delivery(txn, op, &d)?;
                out.push(d);
            }
            Ok(out)
        })
    }

    async fn enqueue_to(
        &self,
        project: &ProjectId,
        channel: Uuid,
        notice: &Notice,
        at: Timestamp,
    ) -> StoreResult<Option<Delivery>> {
        let op = "enqueue_to";
        self.write(op, |txn| {
            let Some(s) = live(txn.channel(op, project.as_str(), &channel.to_string())?) else { return Ok(None) };
            let d = Delivery::new(&s.channel, notice, at);
            put_delivery(txn, op, &d)?;
            Ok(Some(d))
        })
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
        self.write(op, |txn| {
            let p = project.as_str();
            let ids: Vec<String> = {
                let t = txn.open_table(PENDING).map_err(|e| store_err(op, e))?;
                let mut ids = Vec::new();
                for row in t.range((p, "")..=(p, MAX_STR)).map_err(|e| store_err(op, e))? {
                    let (k, _) = row.map_err(|e| store_err(op, e))?;
                    ids.push(k.value().1.to_string());
                }
                ids
            };
            let mut due = Vec::new();
            for id in ids {
                if let Some(d) = txn.delivery(op, p, &id)?.filter(|d| d.due(now)) {
                    due.push(d);
                }
            }
            due.sort_by(|a, b| a.next_attempt_at.cmp(&b.next_attempt_at).then(a.delivery_id.cmp(&b.delivery_id)));
            let mut taken = Vec::new();
            for mut d in due {
                if taken.len() >= limit {
                    break;
                }
                let leased = d.take(worker, lease, max_attempts, now);
                put_delivery(txn, op, &d)?;
                if leased {
                    taken.push(d);
                }
            }
            Ok(taken)
        })
    }

    async fn complete(
        &self,
        project: &ProjectId,
        delivery: Uuid,
        worker: &str,
        attempt: u32,
        now: Timestamp,
    ) -> StoreResult<Settled> {
        self.settle("complete", project, delivery, worker, attempt, |d| d.sent(now), |h| h.succeeded(now))
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
        self.settle("fail", project, delivery, worker, attempt, |d| d.failed(error, retry_at), |h| h.failed(error, now))
    }

    async fn get_delivery(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<Delivery>> {
        let op = "get_delivery";
        let txn = self.db.begin_read().map_err(|e| store_err(op, e))?;
        txn.delivery(op, project.as_str(), &id.to_string())
    }

    async fn list_deliveries(&self, project: &ProjectId, query: &DeliveryQuery) -> StoreResult<DeliveryPage> {
        let op = "list_deliveries";
        let txn = self.db.begin_read().map_err(|e| store_err(op, e))?;
        let mut kept: Vec<Delivery> =
            txn.deliveries(op, project.as_str())?.into_iter().filter(|d| query.keeps(d)).collect();
        kept.sort_by(channels::list_order);
        let total = kept.len();
        let deliveries = kept.into_iter().skip(query.offset).take(query.limit).collect();
        Ok(DeliveryPage { deliveries, total })
    }

    async fn retry(&self, project: &ProjectId, id: Uuid, now: Timestamp) -> StoreResult<Retried> {
        let op = "retry";
        self.write(op, |txn| {
            let Some(mut d) = txn.delivery(op, project.as_str(), &id.to_string())? else {
                return Ok(Retried::NotFound);
            };
            if d.state != DeliveryState::Failed {
                return Ok(Retried::NotFailed(d.state));
            }
            d.retried(now);
            put_delivery(txn, op, &d)?;
            Ok(Retried::Queued(Box::new(d)))
        })
    }
}
