//! Deployment feeds: the generic deployment JSON, GitHub `deployment_status`, Argo CD
//! notifications and Flux events, each parsed into `Rollout`s (a deployment as its
//! sender told it), then turned into one `Delivery` by `deliver`: the services it
//! names, the `deployment_events` rows with ids derived from the feed and the
//! sender's event id, and a `deployment_commit_ranges` row for each deployment with a
//! revision (`range`).

use std::collections::BTreeSet;
use std::sync::Arc;

use inquest_domain::{
    DeployType, DeploymentEvent, DeploymentId, Service, ServiceId, Timestamp, derived_uuid, redact::redact,
    service_key_of,
};
use inquest_ports::{RecordBatch, Stores};
use serde_json::{Map, Value};

use crate::{Delivery, Feed, FeedError, Parsed, Repositories};

pub mod argocd;
#[cfg(test)]
mod deliver_tests;
pub mod flux;
pub mod generic;
pub mod github;
mod range;

pub use range::{LAST_N, looks_like_sha};

/// A deployment as its sender told it, before its commit range is resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// The sender's id of the deployment: with the feed, it derives the row id.
    pub event_id: String,
    /// A name or `cluster/namespace/name`, as alerts name services.
    pub service: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub deploy_type: DeployType,
    pub image_ref: Option<String>,
    pub revision: Option<String>,
    /// As the sender knows it; else the revision of the service's deployment before this one.
    pub previous_revision: Option<String>,
    /// `owner/name`, to read the commit range from a local clone.
    pub repo: Option<String>,
    /// The sender says it is a rollback.
    pub is_rollback: bool,
    /// Where the change came from: the sender's ids and URLs (redacted free text).
    pub metadata: Map<String, Value>,
    /// Record only when `revision` differs from the last one recorded under this key
    /// of the feed's state (a sender that reports every reconciliation, not every change).
    pub once_per: Option<String>,
}

/// What a deployment feed made of a body.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// Deployments to record, all or nothing, under the sender's delivery id.
    Rollouts { delivery_id: String, rollouts: Vec<Rollout> },
    /// An event the feed does not record (counted under `reason`).
    Ignored { reason: &'static str, detail: String },
}

/// Turn `notice` into what `apply` writes: unknown services are created, every
/// deployment gets its row (id derived from the feed and its event id) and, with a
/// revision, its commit range. Reads the records (previous deployments, the feed's
/// state) and, off the async runtime, the local clones of `repos`.
pub async fn deliver(
    stores: &Stores,
    repos: Arc<dyn Repositories>,
    feed: Feed,
    notice: Notice,
    received_at: Timestamp,
) -> Result<Parsed, FeedError> {
    let (delivery_id, rollouts) = match notice {
        Notice::Ignored { reason, detail } => return Ok(Parsed::Ignored { reason, detail }),
        Notice::Rollouts { delivery_id, rollouts } => (delivery_id, rollouts),
    };
    let mut state = Vec::new();
    let mut kept = Vec::new();
    for r in rollouts {
        if let (Some(key), Some(revision)) = (&r.once_per, &r.revision) {
            let last = stores.records.feed_state(feed.as_str(), key).await?;
            if last.as_ref().and_then(Value::as_str) == Some(revision.as_str()) {
                continue;
            }
            state.push((key.clone(), Some(Value::String(revision.clone()))));
        }
        kept.push(r);
    }
    if kept.is_empty() {
        return Ok(Parsed::Ignored {
            reason: "unchanged_revision",
            detail: "the revision was recorded already; nothing changed".into(),
        });
    }
    let known: BTreeSet<ServiceId> = stores.records.list_services().await?.iter().map(|s| s.service_id).collect();
    let mut batch = RecordBatch::default();
    // Earlier deployments first, so a batch's later one finds the earlier as its previous.
    kept.sort_by_key(|r| r.started_at);
    let mut earlier: Vec<DeploymentEvent> = Vec::new();
    for r in kept {
        let key = service_key_of(&r.service);
        let service_id = ServiceId::of_key(&key);
        if !known.contains(&service_id) && !batch.services.iter().any(|s| s.service_id == service_id) {
            batch.services.push(service_row(&key, service_id, received_at));
        }
        let deployment_event_id = DeploymentId::derived(&["deployment", feed.as_str(), &r.event_id]);
        let mut metadata = r.metadata.clone();
        metadata.insert("feed".into(), Value::String(feed.as_str().into()));
        metadata.insert("event_id".into(), Value::String(r.event_id.clone()));
        let mut dep = DeploymentEvent {
            deployment_event_id,
            service_id,
            started_at: r.started_at,
            finished_at: r.finished_at,
            deploy_type: r.deploy_type,
            image_ref: r.image_ref.clone(),
            revision: r.revision.clone(),
            metadata: Value::Null,
        };
        if let Some(revision) = &r.revision {
            let resolved = range::resolve(stores, repos.clone(), &r, &dep, &earlier).await?;
            metadata.insert("commit_range".into(), resolved.note);
            batch.commit_ranges.push(inquest_domain::DeploymentCommitRange {
                deployment_event_id,
                previous_revision: resolved.previous,
                current_revision: revision.clone(),
                is_rollback: resolved.is_rollback,
                commit_shas: resolved.shas,
            });
        }
        dep.metadata = Value::Object(metadata);
        earlier.push(dep.clone());
        batch.deployments.push(dep);
    }
    let mut delivery = Delivery::new(feed, delivery_id, received_at, batch);
    delivery.records.state = state;
    Ok(Parsed::Delivery(Box::new(delivery)))
}

fn service_row(key: &str, service_id: ServiceId, created_at: Timestamp) -> Service {
    let mut parts = key.splitn(3, '/');
    let (cluster, namespace, name) =
        (parts.next().unwrap_or("default"), parts.next().unwrap_or("default"), parts.next().unwrap_or(key));
    Service {
        service_id,
        cluster_id: cluster.into(),
        namespace: namespace.into(),
        service_name: name.into(),
        created_at,
    }
}

/// A service as a sender names it: a name or `cluster/namespace/name`, each part non-empty.
pub(crate) fn check_service(field: &str, service: &str) -> Result<String, FeedError> {
    let s = service.trim();
    if s.is_empty() {
        return Err(FeedError::invalid(field, "the service is empty"));
    }
    let parts: Vec<&str> = s.split('/').collect();
    if parts.len() != 1 && parts.len() != 3 {
        return Err(FeedError::invalid(field, "a service is a name or cluster/namespace/name"));
    }
    if parts.iter().any(|p| p.trim().is_empty()) {
        return Err(FeedError::invalid(field, "a part of the service key is empty"));
    }
    check_text(field, s)?;
    Ok(s.to_string())
}

/// Text no store refuses: no NUL, at most 2,048 bytes.
pub(crate) fn check_text(field: &str, s: &str) -> Result<(), FeedError> {
    if s.contains('\0') {
        return Err(FeedError::invalid(field, "contains a NUL character"));
    }
    if s.len() > 2048 {
        return Err(FeedError::invalid(field, "longer than 2048 bytes"));
    }
    Ok(())
}

/// `value` with every string redacted and no NUL anywhere (stores refuse it in JSON).
pub(crate) fn clean_metadata(field: &str, value: &Value) -> Result<Value, FeedError> {
    Ok(match value {
        Value::String(s) => {
            if s.contains('\0') {
                return Err(FeedError::invalid(field, "contains a NUL character"));
            }
            Value::String(redact(s))
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| clean_metadata(&format!("{field}[{i}]"), v))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                if k.contains('\0') {
                    return Err(FeedError::invalid(field, "a key contains a NUL character"));
                }
                out.insert(k.clone(), clean_metadata(&format!("{field}.{k}"), v)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// The default event id of a body: a hash of its canonical JSON (keys sorted), so a
/// sender that posts the same deployment twice records it once.
pub fn content_id(value: &Value) -> String {
    let mut canonical = String::new();
    canonical_json(value, &mut canonical);
    derived_uuid(&["body", &canonical]).to_string()
}

fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical_json(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// `owner/name` of a repository URL (`https://github.com/o/n.git`, `git@github.com:o/n`,
/// `ssh://git@host/o/n`), or `None` when it has fewer than two path segments.
pub fn repo_of_url(url: &str) -> Option<String> {
    let s = url.trim().trim_end_matches('/');
    let s = s.strip_suffix(".git").unwrap_or(s);
    let path = match s.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map(|(_, p)| p)?,
        None => s.split_once(':').map(|(_, p)| p).unwrap_or(s),
    };
    let segments: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match segments.as_slice() {
        [.., owner, name] => Some(format!("{owner}/{name}")),
        _ => None,
    }
}

/// A JSON object's fields, read with errors naming `prefix.field`.
pub(crate) struct Fields<'a> {
    pub prefix: String,
    pub map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    pub fn of(prefix: &str, value: &'a Value) -> Result<Fields<'a>, FeedError> {
        match value.as_object() {
            Some(map) => Ok(Fields { prefix: prefix.to_string(), map }),
            None => Err(FeedError::invalid(if prefix.is_empty() { "body" } else { prefix }, "expected an object")),
        }
    }

    pub fn name(&self, field: &str) -> String {
        if self.prefix.is_empty() { field.to_string() } else { format!("{}.{field}", self.prefix) }
    }

    pub fn get(&self, field: &str) -> Option<&'a Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    pub fn object(&self, field: &str) -> Result<Option<Fields<'a>>, FeedError> {
        self.get(field).map(|v| Fields::of(&self.name(field), v)).transpose()
    }

    pub fn require_object(&self, field: &str) -> Result<Fields<'a>, FeedError> {
        self.object(field)?.ok_or_else(|| FeedError::invalid(self.name(field), "is required"))
    }

    /// A string field; an empty one is absent.
    pub fn str(&self, field: &str) -> Result<Option<&'a str>, FeedError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => {
                check_text(&self.name(field), s)?;
                Ok(if s.trim().is_empty() { None } else { Some(s.as_str()) })
            }
            Some(_) => Err(FeedError::invalid(self.name(field), "expected a string")),
        }
    }

    pub fn require_str(&self, field: &str) -> Result<&'a str, FeedError> {
        self.str(field)?.ok_or_else(|| FeedError::invalid(self.name(field), "is required"))
    }

    /// A string or a number, as text (GitHub's numeric ids).
    pub fn id(&self, field: &str) -> Result<Option<String>, FeedError> {
        match self.get(field) {
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            _ => Ok(self.str(field)?.map(str::to_string)),
        }
    }

    pub fn bool(&self, field: &str) -> Result<Option<bool>, FeedError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(FeedError::invalid(self.name(field), "expected true or false")),
        }
    }

    pub fn time(&self, field: &str) -> Result<Option<Timestamp>, FeedError> {
        self.str(field)?.map(|s| parse_time(&self.name(field), s)).transpose()
    }
}

pub(crate) fn parse_time(field: &str, s: &str) -> Result<Timestamp, FeedError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| FeedError::invalid(field, format!("{e} (expected RFC 3339, e.g. 2026-09-01T10:00:00Z)")))
}

/// Parse a body as JSON, refusing it as `body` when it is not.
pub(crate) fn json_body(body: &[u8]) -> Result<Value, FeedError> {
    serde_json::from_slice(body).map_err(|e| FeedError::invalid("body", format!("not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn content_id_ignores_key_order_and_sees_values() {
        let a = json!({"service": "checkout", "started_at": "2026-03-01T10:00:00Z", "metadata": {"a": 1, "b": 2}});
        let b = json!({"metadata": {"b": 2, "a": 1}, "started_at": "2026-03-01T10:00:00Z", "service": "checkout"});
        assert_eq!(content_id(&a), content_id(&b));
        let c = json!({"service": "checkout", "started_at": "2026-03-01T10:00:01Z", "metadata": {"a": 1, "b": 2}});
        assert_ne!(content_id(&a), content_id(&c));
    }

    #[test]
    fn repositories_are_named_owner_slash_name_from_their_urls() {
        assert_eq!(repo_of_url("https://github.com/acme/shop.git").as_deref(), Some("acme/shop"));
        assert_eq!(repo_of_url("git@github.com:acme/shop.git").as_deref(), Some("acme/shop"));
        assert_eq!(repo_of_url("ssh://git@gitlab.example.com/group/acme/shop").as_deref(), Some("acme/shop"));
        assert_eq!(repo_of_url("https://github.com/acme/shop/").as_deref(), Some("acme/shop"));
        assert_eq!(repo_of_url("https://github.com/acme"), None);
    }

    #[test]
    fn services_are_names_or_full_keys() {
        assert_eq!(check_service("service", " checkout ").expect("name"), "checkout");
        assert_eq!(check_service("service", "prod/shop/checkout").expect("key"), "prod/shop/checkout");
        for bad in ["", "a/b", "prod//checkout", "a/b/c/d", "x\0y"] {
            let e = check_service("[1].service", bad).expect_err(bad);
            assert!(matches!(e, FeedError::Invalid { ref field, .. } if field == "[1].service"), "{bad}: {e}");
        }
    }

    #[test]
    fn metadata_is_redacted_and_nul_is_refused() {
        let m = clean_metadata("metadata", &json!({"note": "password=hunter2", "n": [1, "ok"]})).expect("clean");
        assert_eq!(m["n"], json!([1, "ok"]));
        assert!(!m["note"].as_str().expect("note").contains("hunter2"), "{m}");
        let e = clean_metadata("metadata", &json!({"a": ["x", "b\u{0}"]})).expect_err("nul");
        assert!(matches!(e, FeedError::Invalid { ref field, .. } if field == "metadata.a[1]"), "{e}");
    }
}
