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

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use inquest_domain::ChangeKind;
    use inquest_ports::{DeliveryOutcome, Stores};
    use inquest_store_embedded::EmbeddedStore;

    use super::*;

    const AT: &str = "2026-03-02T10:15:30.123456Z";
    const SECRET_VALUE: &str = "aHVudGVyMi1kYi1wYXNzd29yZA==";

    /// An audit event as the API server writes it (the shape of the Kubernetes
    /// auditing documentation's examples), at level RequestResponse.
    fn event(id: &str, verb: &str, resource: &str, name: &str, request: Value, response: Value) -> Value {
        let group = if resource.ends_with("sets") || resource == "deployments" { "apps" } else { "" };
        let base = if group.is_empty() { "/api/v1".to_string() } else { format!("/apis/{group}/v1") };
        json!({
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse", "auditID": id,
            "stage": "ResponseComplete",
            "requestURI": format!("{base}/namespaces/shop/{resource}/{name}?fieldManager=kubectl-edit"),
            "verb": verb,
            "user": {"username": "alice@example.com", "groups": ["system:masters", "system:authenticated"]},
            "sourceIPs": ["10.0.0.5"], "userAgent": "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350",
            "objectRef": {"resource": resource, "namespace": "shop", "name": name, "apiGroup": group, "apiVersion": "v1"},
            "responseStatus": {"metadata": {}, "code": 200},
            "requestObject": request, "responseObject": response,
            "requestReceivedTimestamp": "2026-03-02T10:15:30.100000Z", "stageTimestamp": AT,
            "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""}
        })
    }

    fn list(items: Vec<Value>) -> Vec<u8> {
        json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items})
            .to_string()
            .into_bytes()
    }

    fn deployment(image: &str, replicas: u64, env: Value, cpu: &str) -> Value {
        json!({
            "kind": "Deployment", "apiVersion": "apps/v1",
            "metadata": {"name": "checkout", "namespace": "shop", "resourceVersion": format!("{replicas}{cpu}"),
                "generation": 4, "labels": {"app": "checkout"},
                "managedFields": [{"manager": "kubectl-edit", "operation": "Update"}]},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "checkout"}},
                "template": {"metadata": {"labels": {"app": "checkout"}}, "spec": {
                    "containers": [{"name": "api", "image": image, "env": env,
                        "envFrom": [{"configMapRef": {"name": "checkout-config"}}],
                        "resources": {"limits": {"cpu": cpu, "memory": "512Mi"}, "requests": {"cpu": "250m"}}}],
                    "volumes": [{"name": "tls", "secret": {"secretName": "checkout-tls"}}]}}},
            "status": {"observedGeneration": 4, "replicas": replicas, "readyReplicas": replicas}
        })
    }

    fn configmap(name: &str, data: Value, labels: Value) -> Value {
        json!({"kind": "ConfigMap", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": "shop", "resourceVersion": "77", "labels": labels}, "data": data})
    }

    fn secret(data: Value) -> Value {
        json!({"kind": "Secret", "apiVersion": "v1", "type": "Opaque",
            "metadata": {"name": "checkout-db", "namespace": "shop", "resourceVersion": "78",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": format!("{{\"data\":{{\"password\":\"{SECRET_VALUE}\"}}}}")}},
            "data": data})
    }

    async fn parse(stores: &Stores, keys: &SecretKeys, body: &[u8]) -> AuditParse {
        parse_audit(stores.records.as_ref(), keys, "prod", body, Utc::now()).await.expect("parses")
    }

    /// Parse and apply; the rows of the delivery.
    async fn deliver(stores: &Stores, keys: &SecretKeys, body: &[u8]) -> Vec<ConfigChangeEvent> {
        let parsed = parse(stores, keys, body).await;
        let d = parsed.delivery.expect("a delivery");
        let applied = crate::apply(stores, &d).await.expect("applied");
        assert_eq!(applied.outcome, DeliveryOutcome::Stored);
        d.records.batch.config_changes
    }

    fn fields(rows: &[ConfigChangeEvent]) -> Vec<(ChangeKind, String, Value, Value)> {
        rows.iter()
            .map(|r| {
                let p = &r.diff_payload;
                (
                    r.change_kind,
                    p["field"].as_str().expect("field").to_string(),
                    p["old_value"].clone(),
                    p["new_value"].clone(),
                )
            })
            .collect()
    }

    fn store() -> Stores {
        EmbeddedStore::in_memory().expect("in-memory store").stores()
    }

    #[tokio::test]
    async fn a_workload_is_recorded_first_then_each_change_is_a_row() {
        let (stores, keys) = (store(), SecretKeys::ephemeral());
        let env = json!([{"name": "POOL_SIZE", "value": "20"}, {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "checkout-db", "key": "password"}}}]);
        let first = deployment("registry.example/checkout:1.4.0", 3, env, "500m");
        let rows = deliver(
            &stores,
            &keys,
            &list(vec![event("a1", "update", "deployments", "checkout", first.clone(), first)]),
        )
        .await;
        assert!(rows.is_empty(), "a first sighting reports no change: {rows:?}");
        let state =
            stores.records.feed_state("kubernetes_audit", "prod/shop/Deployment/checkout").await.expect("state");
        assert!(state.is_some(), "the object is kept");

        let env = json!([{"name": "POOL_SIZE", "value": "5"}, {"name": "FEATURE_X", "value": "on"},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "checkout-db-v2", "key": "password"}}}]);
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "api", "image": "registry.example/checkout:1.5.0"}]}}}});
        let after = deployment("registry.example/checkout:1.5.0", 6, env, "1");
        let rows =
            deliver(&stores, &keys, &list(vec![event("a2", "patch", "deployments", "checkout", patch, after)])).await;
        let c = "spec.template.spec.containers[api]";
        assert_eq!(
            fields(&rows),
            vec![
                (ChangeKind::ReplicaCount, "spec.replicas".into(), json!(3), json!(6)),
                (
                    ChangeKind::EnvVar,
                    format!("{c}.env[DB_PASSWORD]"),
                    json!({"valueFrom": {"secretKeyRef": {"name": "checkout-db", "key": "password"}}}),
                    json!({"valueFrom": {"secretKeyRef": {"name": "checkout-db-v2", "key": "password"}}})
                ),
                (ChangeKind::EnvVar, format!("{c}.env[FEATURE_X]"), Value::Null, json!("on")),
                (ChangeKind::EnvVar, format!("{c}.env[POOL_SIZE]"), json!("20"), json!("5")),
                (
                    ChangeKind::ImageSwap,
                    format!("{c}.image"),
                    json!("registry.example/checkout:1.4.0"),
                    json!("registry.example/checkout:1.5.0")
                ),
                (ChangeKind::ResourceLimit, format!("{c}.resources.limits.cpu"), json!("500m"), json!("1")),
            ]
        );
        let service = ServiceId::of_key("prod/shop/checkout");
        for r in &rows {
            assert_eq!(r.service_id, Some(service));
            assert_eq!(r.source, ConfigSource::K8sDeployment);
            assert_eq!(r.resource_name, "checkout");
            assert_eq!(r.actor.as_deref(), Some("alice@example.com"));
            assert_eq!(r.audit_log_ref.as_deref(), Some("a2"));
            assert_eq!(r.detected_at.to_rfc3339(), "2026-03-02T10:15:30.123456+00:00");
        }
        assert!(stores.records.list_services().await.expect("services").iter().any(|s| s.service_id == service));
        let from = "2026-03-02T10:00:00Z".parse().expect("time");
        let to = "2026-03-02T11:00:00Z".parse().expect("time");
        let stored = stores.records.config_changes_between(&[service], from, to).await.expect("rows");
        assert_eq!(stored.len(), 6);
    }

    #[tokio::test]
    async fn a_configmap_lands_on_the_one_workload_using_it_else_its_label_else_nowhere() {
        let (stores, keys) = (store(), SecretKeys::ephemeral());
        let d = deployment("registry.example/checkout:1.4.0", 2, json!([]), "500m");
        let cm = configmap("checkout-config", json!({"TIMEOUT_MS": "800", "RETRIES": "3"}), json!({}));
        let body = list(vec![
            event("b1", "create", "deployments", "checkout", d.clone(), d),
            event("b2", "create", "configmaps", "checkout-config", cm.clone(), cm),
        ]);
        let rows = deliver(&stores, &keys, &body).await;
        assert_eq!(
            fields(&rows),
            vec![
                (ChangeKind::ConfigmapKey, "data[RETRIES]".into(), Value::Null, json!("3")),
                (ChangeKind::ConfigmapKey, "data[TIMEOUT_MS]".into(), Value::Null, json!("800")),
            ],
            "a created ConfigMap's keys are added"
        );
        assert!(rows.iter().all(|r| r.service_id == Some(ServiceId::of_key("prod/shop/checkout"))));
        assert!(rows.iter().all(|r| r.source == ConfigSource::K8sConfigmap));

        let patch = json!({"data": {"TIMEOUT_MS": "5000", "RETRIES": null}});
        let cm = configmap("checkout-config", json!({"TIMEOUT_MS": "5000"}), json!({}));
        let rows =
            deliver(&stores, &keys, &list(vec![event("b3", "patch", "configmaps", "checkout-config", patch, cm)]))
                .await;
        assert_eq!(
            fields(&rows),
            vec![
                (ChangeKind::ConfigmapKey, "data[RETRIES]".into(), json!("3"), Value::Null),
                (ChangeKind::ConfigmapKey, "data[TIMEOUT_MS]".into(), json!("800"), json!("5000")),
            ]
        );

        // Unused: the label names the workload.
        let shared = configmap("shared", json!({"A": "1"}), json!({"app.kubernetes.io/name": "checkout"}));
        let rows =
            deliver(&stores, &keys, &list(vec![event("b4", "create", "configmaps", "shared", shared.clone(), shared)]))
                .await;
        assert_eq!(rows[0].service_id, Some(ServiceId::of_key("prod/shop/checkout")));
        // Unused, a label naming nothing known: cluster-wide.
        let other = configmap("other", json!({"A": "1"}), json!({"app": "nobody"}));
        let rows =
            deliver(&stores, &keys, &list(vec![event("b5", "create", "configmaps", "other", other.clone(), other)]))
                .await;
        assert_eq!(rows[0].service_id, None);

        let rows = deliver(&stores, &keys, &list(vec![event("b6", "delete", "configmaps", "checkout-config", Value::Null,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "details": {"name": "checkout-config", "kind": "configmaps"}}))])).await;
        assert_eq!(
            fields(&rows),
            vec![(ChangeKind::ConfigmapKey, "data[TIMEOUT_MS]".into(), json!("5000"), Value::Null)]
        );
        let gone =
            stores.records.feed_state("kubernetes_audit", "prod/shop/ConfigMap/checkout-config").await.expect("state");
        assert!(gone.is_none(), "a deleted object leaves the state");
    }

    #[tokio::test]
    async fn secret_values_are_never_in_rows_state_or_debug_output() {
        let (stores, keys) = (store(), SecretKeys::ephemeral());
        let created = secret(json!({"password": SECRET_VALUE, "user": "Y2hlY2tvdXQ="}));
        let body = list(vec![event("s1", "create", "secrets", "checkout-db", created.clone(), created)]);
        let rows = deliver(&stores, &keys, &body).await;
        assert_eq!(
            fields(&rows),
            vec![
                (ChangeKind::SecretKey, "data[password]".into(), Value::Null, json!("<redacted>")),
                (ChangeKind::SecretKey, "data[user]".into(), Value::Null, json!("<redacted>")),
            ]
        );
        // A patch's request holds the new value in clear; only the response is read.
        let patch = json!({"data": {"password": "bmV3LXNlY3JldC12YWx1ZQ=="}});
        let after = secret(json!({"password": "bmV3LXNlY3JldC12YWx1ZQ==", "user": "Y2hlY2tvdXQ="}));
        let parsed =
            parse(&stores, &keys, &list(vec![event("s2", "patch", "secrets", "checkout-db", patch, after)])).await;
        let d = parsed.delivery.expect("delivery");
        let rows = d.records.batch.config_changes.clone();
        assert_eq!(
            fields(&rows),
            vec![(ChangeKind::SecretKey, "data[password]".into(), json!("<redacted>"), json!("<redacted>"))]
        );
        assert!(rows.iter().all(|r| r.source == ConfigSource::K8sSecret));
        for shown in [format!("{d:?}"), serde_json::to_string(&d.records).expect("json")] {
            assert!(!shown.contains(SECRET_VALUE) && !shown.contains("bmV3LXNlY3JldC12YWx1ZQ=="), "{shown}");
        }
        crate::apply(&stores, &d).await.expect("applied");
        let state = stores.records.feed_state("kubernetes_audit", "prod/shop/Secret/checkout-db").await.expect("state");
        let state = state.expect("kept").to_string();
        assert!(!state.contains(SECRET_VALUE) && !state.contains("bmV3LXNlY3JldC12YWx1ZQ=="), "{state}");
        assert!(state.contains("\"hash\""), "{state}");
        let from = "2026-03-02T10:00:00Z".parse().expect("time");
        let to = "2026-03-02T11:00:00Z".parse().expect("time");
        let stored = stores.records.config_changes_between(&[], from, to).await.expect("rows");
        assert_eq!(stored.len(), 3, "cluster-wide rows");
        let stored = serde_json::to_string(&stored).expect("json");
        assert!(!stored.contains(SECRET_VALUE) && !stored.contains("bmV3LXNlY3JldC12YWx1ZQ=="));

        // The same value again: no change.
        let same = secret(json!({"password": "bmV3LXNlY3JldC12YWx1ZQ==", "user": "Y2hlY2tvdXQ="}));
        let rows =
            deliver(&stores, &keys, &list(vec![event("s3", "update", "secrets", "checkout-db", same.clone(), same)]))
                .await;
        assert!(rows.is_empty(), "{rows:?}");
    }

    #[tokio::test]
    async fn hashes_keep_comparing_across_a_key_rotation() {
        let stores = store();
        let (k1, k2) = (("k1".to_string(), [1u8; 32]), ("k2".to_string(), [2u8; 32]));
        let s = secret(json!({"password": SECRET_VALUE}));
        let before = SecretKeys::new(vec![k1.clone()]);
        deliver(&stores, &before, &list(vec![event("r1", "create", "secrets", "checkout-db", s.clone(), s.clone())]))
            .await;
        let rotated = SecretKeys::new(vec![k2.clone(), k1]);
        let rows = deliver(
            &stores,
            &rotated,
            &list(vec![event("r2", "update", "secrets", "checkout-db", s.clone(), s.clone())]),
        )
        .await;
        assert!(rows.is_empty(), "the old key still compares: {rows:?}");
        let changed = secret(json!({"password": "Y2hhbmdlZA=="}));
        let r = event("r2b", "update", "secrets", "checkout-db", changed.clone(), changed);
        let rows = deliver(&stores, &rotated, &list(vec![r])).await;
        assert_eq!(rows.len(), 1, "a change under the old key is seen");
        deliver(&stores, &rotated, &list(vec![event("r2c", "update", "secrets", "checkout-db", s.clone(), s.clone())]))
            .await;
        let dropped = SecretKeys::new(vec![("k3".to_string(), [3u8; 32])]);
        let rows =
            deliver(&stores, &dropped, &list(vec![event("r3", "update", "secrets", "checkout-db", s.clone(), s)]))
                .await;
        assert!(rows.is_empty(), "hashes of a dropped key are not compared: {rows:?}");
    }

    #[tokio::test]
    async fn a_scale_changes_the_replica_count() {
        let (stores, keys) = (store(), SecretKeys::ephemeral());
        let d = deployment("registry.example/checkout:1.4.0", 2, json!([]), "500m");
        deliver(&stores, &keys, &list(vec![event("c1", "update", "deployments", "checkout", d.clone(), d)])).await;
        let mut scale = event(
            "c2",
            "patch",
            "deployments",
            "checkout",
            json!({"spec": {"replicas": 10}}),
            json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": "checkout", "namespace": "shop"},
                "spec": {"replicas": 10}, "status": {"replicas": 2, "selector": "app=checkout"}}),
        );
        scale["objectRef"]["subresource"] = json!("scale");
        let rows = deliver(&stores, &keys, &list(vec![scale])).await;
        assert_eq!(fields(&rows), vec![(ChangeKind::ReplicaCount, "spec.replicas".into(), json!(2), json!(10))]);
    }

    #[tokio::test]
    async fn other_events_are_ignored_each_counted_once() {
        let (stores, keys) = (store(), SecretKeys::ephemeral());
        let pod = json!({"kind": "Pod", "metadata": {"name": "p"}});
        let mut received = event("i1", "get", "deployments", "checkout", Value::Null, Value::Null);
        received["verb"] = json!("update");
        received["stage"] = json!("RequestReceived");
        let mut conflict = event("i2", "update", "configmaps", "x", json!({}), json!({"kind": "Status", "code": 409}));
        conflict["responseStatus"] = json!({"metadata": {}, "status": "Failure", "reason": "Conflict", "code": 409});
        let mut dry = event("i3", "patch", "configmaps", "x", json!({}), configmap("x", json!({}), json!({})));
        dry["requestURI"] = json!("/api/v1/namespaces/shop/configmaps/x?dryRun=All&fieldManager=kubectl-patch");
        let mut status = event("i4", "update", "deployments", "checkout", json!({}), json!({}));
        status["objectRef"]["subresource"] = json!("status");
        let mut metadata_only = event("i5", "patch", "configmaps", "x", Value::Null, Value::Null);
        metadata_only["level"] = json!("Metadata");
        let body = list(vec![
            event("i0", "list", "deployments", "", Value::Null, Value::Null),
            event("i6", "update", "pods", "p", pod.clone(), pod),
            received,
            conflict,
            dry,
            status,
            metadata_only,
        ]);
        let parsed = parse(&stores, &keys, &body).await;
        assert!(parsed.delivery.is_none());
        let reasons: Vec<&str> = parsed.ignored.iter().map(|(r, _)| *r).collect();
        assert_eq!(reasons, ["verb", "resource", "stage", "failed", "dry_run", "subresource", "no_object"]);
        let mut counted = Vec::new();
        let Parsed::Ignored { reason, .. } = parsed.into_parsed(|r| counted.push(r)) else { panic!("ignored") };
        counted.push(reason);
        assert_eq!(counted.len(), 7, "each event once: {counted:?}");
        let Parsed::Ignored { reason, .. } = parse(&stores, &keys, &list(vec![])).await.into_parsed(|_| {}) else {
            panic!("ignored")
        };
        assert_eq!(reason, "empty");
    }

    #[tokio::test]
    async fn bad_bodies_name_their_field() {
        let (stores, keys) = (store(), SecretKeys::ephemeral());
        let d = deployment("img:1", 1, json!([]), "1");
        let mut nameless = d.clone();
        nameless["spec"]["template"]["spec"]["containers"][0]["name"] = Value::Null;
        let mut no_id = event("x", "update", "deployments", "checkout", d.clone(), d.clone());
        no_id.as_object_mut().expect("object").remove("auditID");
        let mut bad_time = event("x", "update", "deployments", "checkout", d.clone(), d.clone());
        bad_time["stageTimestamp"] = json!("yesterday");
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"{not json".to_vec(), "body"),
            (json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1"}).to_string().into_bytes(), "kind"),
            (
                json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1beta1", "items": []})
                    .to_string()
                    .into_bytes(),
                "apiVersion",
            ),
            (list(vec![no_id]), "items[0].auditID"),
            (list(vec![bad_time]), "items[0].stageTimestamp"),
            (
                list(vec![event("x", "update", "deployments", "checkout", nameless.clone(), nameless)]),
                "items[0].responseObject.spec.template.spec.containers[0].name",
            ),
            (
                list(vec![event(
                    "x",
                    "update",
                    "configmaps",
                    "c",
                    json!({}),
                    configmap("c", json!({"k": 3}), json!({})),
                )]),
                "items[0].responseObject.data[k]",
            ),
        ];
        for (body, want) in cases {
            match parse_audit(stores.records.as_ref(), &keys, "prod", &body, Utc::now()).await {
                Err(FeedError::Invalid { field, .. }) => assert_eq!(field, want),
                other => panic!("{want}: {other:?}"),
            }
        }
        let err =
            parse_audit(stores.records.as_ref(), &keys, "a/b", &list(vec![]), Utc::now()).await.expect_err("cluster");
        assert!(matches!(err, FeedError::Invalid { ref field, .. } if field == "cluster"), "{err:?}");
    }

    #[tokio::test]
    async fn a_resent_list_is_a_duplicate() {
        let (stores, keys) = (store(), SecretKeys::ephemeral());
        let cm = configmap("c", json!({"k": "v"}), json!({}));
        let body = list(vec![event("d1", "create", "configmaps", "c", cm.clone(), cm)]);
        deliver(&stores, &keys, &body).await;
        let again = parse(&stores, &keys, &body).await.delivery.expect("delivery");
        let applied = crate::apply(&stores, &again).await.expect("applied");
        assert_eq!(applied.outcome, DeliveryOutcome::Duplicate);
    }
}
