//! The Kubernetes audit feed: the `EventList`s the API server's audit webhook backend
//! posts, turned into `config_change_events` rows, one per changed thing (an image, an
//! env var, a resource quantity, the replica count, a ConfigMap or Secret key).
//!
//! A patch's request is the patch, so the object before a change is the one the feed
//! saw last: the feed keeps, in its state under `<cluster>/<namespace>/<Kind>/<name>`,
//! each object flattened (`diff::Snapshot`, Secret values as keyed hashes only) and
//! diffs the response object against it. The first sighting of an object (an update
//! or patch of something never seen) records it and reports no change; a create of a
//! ConfigMap or Secret reports its keys as added, a delete as removed. Per namespace,
//! `<cluster>/<namespace>/workloads` keeps which ConfigMaps and Secrets each workload
//! uses, so a ConfigMap's change lands on the one workload that uses it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use inquest_domain::{ConfigChangeEvent, ConfigChangeId, ConfigSource, Service, ServiceId, Timestamp, service_key};
use inquest_ports::{RecordBatch, RecordStore};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{Delivery, Feed, FeedError, Parsed};

mod audit;
mod diff;

pub(crate) use audit::from_json;
use audit::{Event, Kind, Verb};
use diff::{Entry, Refs, Snapshot, diff, replicas_field, snapshot};

/// The purpose the keyring derives the secret-hashing keys for.
pub const SECRET_KEY_PURPOSE: &str = "kubernetes audit secret values";

/// The keys of the keyed hash of values that must never be stored (HMAC-SHA256): the
/// first hashes, every one still compares what it hashed. Derived from the server's
/// keyring, so they rotate with it.
pub struct SecretKeys {
    keys: Vec<(String, [u8; 32])>,
}

impl SecretKeys {
    /// Keys by id, the current one first (`Keyring::derive_keys(SECRET_KEY_PURPOSE)`).
    /// No key: an ephemeral one.
    pub fn new(keys: Vec<(String, [u8; 32])>) -> SecretKeys {
        if keys.is_empty() { SecretKeys::ephemeral() } else { SecretKeys { keys } }
    }

    /// A random key for this process only, under an id of its own (so hashes of another
    /// process are never compared with it).
    pub fn ephemeral() -> SecretKeys {
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(Uuid::new_v4().as_bytes());
        SecretKeys { keys: vec![(format!("ephemeral-{}", Uuid::new_v4().simple()), key)] }
    }
}

impl fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("SecretKeys").field("key_ids", &ids).finish()
    }
}

/// What the feed made of one `EventList`.
#[derive(Debug)]
pub struct AuditParse {
    /// The rows and state of the handled events; `None` when every event was ignored.
    pub delivery: Option<Delivery>,
    /// `(reason, detail)` of every ignored event.
    pub ignored: Vec<(&'static str, String)>,
}

impl AuditParse {
    /// As a `Parsed`, with `count` called once per ignored event that the `Parsed`
    /// does not carry itself: every ignored event is counted exactly once.
    pub fn into_parsed(self, mut count: impl FnMut(&'static str)) -> Parsed {
        let mut ignored = self.ignored.into_iter();
        let parsed = match self.delivery {
            Some(d) => Parsed::Delivery(Box::new(d)),
            None => match ignored.next() {
                Some((reason, detail)) => Parsed::Ignored { reason, detail },
                None => Parsed::Ignored { reason: "empty", detail: "the list holds no events".into() },
            },
        };
        for (reason, _) in ignored {
            count(reason);
        }
        parsed
    }
}

const FEED: Feed = Feed::KubernetesAudit;

/// A cluster id as it appears in service keys.
fn check_cluster(cluster: &str) -> Result<(), FeedError> {
    let ok = !cluster.is_empty()
        && cluster.len() <= 63
        && cluster.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok { Ok(()) } else { Err(FeedError::invalid("cluster", "1-63 of a-z, A-Z, 0-9, '-', '_' and '.'")) }
}

/// The feed's state as this delivery reads and changes it.
struct State<'a> {
    records: &'a dyn RecordStore,
    values: BTreeMap<String, Option<Value>>,
    changed: BTreeSet<String>,
}

impl State<'_> {
    async fn get(&mut self, key: &str) -> Result<Option<Value>, FeedError> {
        if let Some(v) = self.values.get(key) {
            return Ok(v.clone());
        }
        let v = self.records.feed_state(FEED.as_str(), key).await?;
        self.values.insert(key.to_string(), v.clone());
        Ok(v)
    }

    fn set(&mut self, key: String, value: Option<Value>) {
        self.changed.insert(key.clone());
        self.values.insert(key, value);
    }

    fn writes(self) -> Vec<(String, Option<Value>)> {
        let mut values = self.values;
        self.changed.into_iter().map(|k| (k.clone(), values.remove(&k).flatten())).collect()
    }
}

/// Parse one audit webhook body (`EventList`) for `cluster`, diffing each handled
/// object against the one the feed's state holds; the delivery carries the rows and
/// the new state, to be applied in one transaction. The delivery id is the SHA-256 of
/// the list's `auditID`s, so a resent list is a duplicate.
pub async fn parse_audit(
    records: &dyn RecordStore,
    keys: &SecretKeys,
    cluster: &str,
    body: &[u8],
    received_at: Timestamp,
) -> Result<AuditParse, FeedError> {
    check_cluster(cluster)?;
    let list = audit::parse(body)?;
    if list.events.is_empty() {
        return Ok(AuditParse { delivery: None, ignored: list.ignored });
    }
    let known: HashSet<ServiceId> = records.list_services().await?.into_iter().map(|s| s.service_id).collect();
    let mut run = Run {
        cluster,
        keys,
        known,
        state: State { records, values: BTreeMap::new(), changed: BTreeSet::new() },
        batch: RecordBatch::default(),
    };
    for ev in &list.events {
        run.event(ev).await?;
    }
    let mut hash = Sha256::new();
    for id in &list.audit_ids {
        hash.update(id.as_bytes());
        hash.update(b"\n");
    }
    let mut delivery = Delivery::new(FEED, hex::encode(hash.finalize()), received_at, run.batch);
    delivery.records.state = run.state.writes();
    Ok(AuditParse { delivery: Some(delivery), ignored: list.ignored })
}

struct Run<'a> {
    cluster: &'a str,
    keys: &'a SecretKeys,
    known: HashSet<ServiceId>,
    state: State<'a>,
    batch: RecordBatch,
}

impl Run<'_> {
    async fn event(&mut self, ev: &Event) -> Result<(), FeedError> {
        let resource = format!("{}/{}/{}/{}", self.cluster, ev.namespace, ev.kind.as_str(), ev.name);
        // A state written by another version of the feed that no longer reads is a first sighting.
        let old: Option<Snapshot> = self.state.get(&resource).await?.and_then(|v| serde_json::from_value(v).ok());
        let hasher = self.keys.hasher(old.as_ref().map(|o| o.hash_key.as_str()), &resource);
        let object_error = |(path, message): (String, &'static str)| {
            FeedError::invalid(format!("items[{}].{}.{path}", ev.index, ev.object_field), message)
        };
        let (new, refs) = match &ev.object {
            None => (None, None),
            Some(scale) if ev.scale => {
                let replicas = scale.pointer("/spec/replicas").filter(|r| r.is_u64());
                let Some(replicas) = replicas else {
                    return Err(object_error(("spec.replicas".into(), "expected a count")));
                };
                let Some(old) = &old else {
                    // A Scale is not the workload: nothing to keep until the workload is seen.
                    tracing::debug!(%resource, "scale of a workload not seen yet: nothing recorded");
                    return Ok(());
                };
                let mut new = old.clone();
                let entry =
                    Entry { kind: inquest_domain::ChangeKind::ReplicaCount, hash: None, shown: replicas.clone() };
                new.fields.insert(replicas_field(), entry);
                (Some(new), None)
            }
            Some(object) => {
                let (s, r) = snapshot(ev.kind, object, &hasher).map_err(object_error)?;
                (Some(s), Some(r))
            }
        };
        let nothing = |key: &str| Snapshot { hash_key: key.to_string(), ..Snapshot::default() };
        let changes = match (ev.verb, &old, &new) {
            // A new ConfigMap or Secret: a complete old/new pair, every key added.
            (Verb::Create, _, Some(n)) if !ev.kind.is_workload() => diff(&nothing(&n.hash_key), n),
            (Verb::Delete, Some(o), None) if !ev.kind.is_workload() => diff(o, &nothing(&o.hash_key)),
            (Verb::Update | Verb::Patch, Some(o), Some(n)) => diff(o, n),
            (Verb::Update | Verb::Patch, None, Some(_)) => {
                tracing::debug!(%resource, "first sighting: the object is recorded, no change reported");
                Vec::new()
            }
            _ => Vec::new(),
        };
        let index_key = format!("{}/{}/workloads", self.cluster, ev.namespace);
        let mut index: BTreeMap<String, Refs> =
            self.state.get(&index_key).await?.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default();
        let service_id = if changes.is_empty() {
            None
        } else if ev.kind.is_workload() {
            Some(self.service(&ev.namespace, &ev.name, ev.at))
        } else {
            let label = new.as_ref().or(old.as_ref()).and_then(Snapshot::service_label);
            self.user_of(ev, &index, label).map(|name| self.service(&ev.namespace, &name, ev.at))
        };
        let source = match ev.kind {
            Kind::ConfigMap => ConfigSource::K8sConfigmap,
            Kind::Secret => ConfigSource::K8sSecret,
            Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet => ConfigSource::K8sDeployment,
        };
        for c in changes {
            self.batch.config_changes.push(ConfigChangeEvent {
                config_change_id: ConfigChangeId::derived(&[FEED.as_str(), &ev.audit_id, &c.field]),
                service_id,
                detected_at: ev.at,
                source,
                change_kind: c.kind,
                resource_name: ev.name.clone(),
                diff_payload: json!({
                    "field": c.field,
                    "old_value": c.old,
                    "new_value": c.new,
                    "kind": ev.kind.as_str(),
                    "namespace": ev.namespace,
                    "cluster": self.cluster,
                }),
                actor: ev.username.clone(),
                audit_log_ref: Some(ev.audit_id.clone()),
            });
        }
        if ev.kind.is_workload() && !ev.scale {
            let workload = format!("{}/{}", ev.kind.as_str(), ev.name);
            let before = index.clone();
            match refs {
                Some(r) => index.insert(workload, r),
                None => index.remove(&workload),
            };
            if index != before {
                let value = if index.is_empty() { None } else { Some(json!(index)) };
                self.state.set(index_key, value);
            }
        }
        self.state.set(resource, new.map(|n| json!(n)));
        Ok(())
    }

    /// The workload a ConfigMap or Secret belongs to: the one of its namespace that
    /// uses it, when exactly one does; else the one its `app.kubernetes.io/name` (or
    /// `app`) label names, when that is a known workload or service; else none.
    fn user_of(&self, ev: &Event, index: &BTreeMap<String, Refs>, label: Option<&str>) -> Option<String> {
        let users: BTreeSet<&str> = index
            .iter()
            .filter(|(_, r)| match ev.kind {
                Kind::Secret => r.secrets.contains(&ev.name),
                _ => r.configmaps.contains(&ev.name),
            })
            .filter_map(|(w, _)| w.split_once('/').map(|(_, name)| name))
            .collect();
        if users.len() == 1 {
            return users.first().map(|u| u.to_string());
        }
        let label = label?;
        let workload = index.keys().any(|w| w.split_once('/').is_some_and(|(_, name)| name == label));
        let service = self.known.contains(&ServiceId::of_key(&service_key(self.cluster, &ev.namespace, label)));
        (workload || service).then(|| label.to_string())
    }

    /// The id of service `cluster/namespace/name`, its row added when unknown.
    fn service(&mut self, namespace: &str, name: &str, at: Timestamp) -> ServiceId {
        let id = ServiceId::of_key(&service_key(self.cluster, namespace, name));
        if self.known.insert(id) {
            self.batch.services.push(Service {
                service_id: id,
                cluster_id: self.cluster.to_string(),
                namespace: namespace.to_string(),
                service_name: name.to_string(),
                created_at: at,
            });
        }
        id
    }
}
