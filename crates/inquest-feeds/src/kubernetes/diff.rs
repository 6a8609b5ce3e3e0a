//! The structured diff of two sightings of an object: each object is flattened into
//! the things the feed compares (a container's image, one env var, one resource
//! quantity, the replica count, one ConfigMap or Secret key), kept as the feed's
//! state, and two flattenings are compared field by field.
//!
//! Values that may be secret are kept only as a keyed hash (HMAC-SHA256 under a key
//! derived from the server's keyring): a Secret's values are never kept at all, an env
//! var's or a ConfigMap's value is kept redacted and truncated for display, with its
//! hash to tell a change.

use std::collections::{BTreeMap, BTreeSet};

use hmac::{Hmac, Mac};
use inquest_domain::ChangeKind;
use inquest_domain::redact::redact;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use super::SecretKeys;
use super::audit::Kind;

/// What a diff shows for a Secret's value.
pub(crate) const REDACTED: &str = "<redacted>";
/// A displayed value is cut after this many characters.
const SHOWN_CHARS: usize = 512;

/// One compared thing of an object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub kind: ChangeKind,
    /// The keyed hash of the raw value, when `shown` is not the value itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    pub shown: Value,
}

/// An object as the feed keeps it between sightings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    /// The id of the key the hashes were made with.
    pub hash_key: String,
    /// `app.kubernetes.io/name` and `app`, which may name a ConfigMap's service.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub fields: BTreeMap<String, Entry>,
}

impl Snapshot {
    pub(crate) fn service_label(&self) -> Option<&str> {
        self.labels.get("app.kubernetes.io/name").or_else(|| self.labels.get("app")).map(String::as_str)
    }
}

/// The ConfigMaps and Secrets a workload's pods use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Refs {
    #[serde(default)]
    pub configmaps: BTreeSet<String>,
    #[serde(default)]
    pub secrets: BTreeSet<String>,
}

/// One changed thing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Change {
    pub kind: ChangeKind,
    pub field: String,
    pub old: Value,
    pub new: Value,
}

/// Hashes values under one key of `SecretKeys`, bound to the object and field they
/// belong to (so equal values elsewhere do not hash alike).
pub(crate) struct Hasher<'a> {
    pub key_id: &'a str,
    pub key: &'a [u8; 32],
    /// `cluster/namespace/Kind/name`.
    pub resource: &'a str,
}

impl Hasher<'_> {
    fn hash(&self, field: &str, value: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(self.key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
        for part in [self.resource, field, value] {
            mac.update(part.as_bytes());
            mac.update(b"\x1f");
        }
        hex::encode(mac.finalize().into_bytes())
    }
}

impl SecretKeys {
    /// The hasher for `resource`: with the key `preferred` when the ring still has it
    /// (the key of the last sighting, so its hashes compare), else the current key.
    pub(crate) fn hasher<'a>(&'a self, preferred: Option<&str>, resource: &'a str) -> Hasher<'a> {
        let (key_id, key) = preferred.and_then(|p| self.keys.iter().find(|(id, _)| id == p)).unwrap_or(&self.keys[0]);
        Hasher { key_id, key, resource }
    }
}

/// Where a malformed object went wrong: the path inside the object and why.
pub(crate) type ShapeError = (String, &'static str);

/// A value redacted and cut for display.
fn shown(text: &str) -> Value {
    let mut cut: String = text.chars().take(SHOWN_CHARS).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    Value::String(redact(&cut))
}

/// Names that say their value is a credential, whatever it looks like.
fn sensitive(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["password", "passwd", "secret", "token", "apikey", "api_key", "credential", "private_key", "dsn"]
        .iter()
        .any(|w| n.contains(w))
}

fn str_map<'v>(v: Option<&'v Value>, path: &str) -> Result<Vec<(&'v str, &'v Value)>, ShapeError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => Ok(m.iter().map(|(k, v)| (k.as_str(), v)).collect()),
        Some(_) => Err((path.to_string(), "expected an object")),
    }
}

fn list<'v>(v: Option<&'v Value>, path: &str) -> Result<&'v [Value], ShapeError> {
    match v {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err((path.to_string(), "expected a list")),
    }
}

fn text<'v>(v: Option<&'v Value>, path: &str) -> Result<Option<&'v str>, ShapeError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err((path.to_string(), "expected a string")),
    }
}

/// Flatten `object` (a whole object of `kind`) and collect the refs of a workload.
pub(crate) fn snapshot(kind: Kind, object: &Value, hasher: &Hasher<'_>) -> Result<(Snapshot, Refs), ShapeError> {
    let mut snap = Snapshot { hash_key: hasher.key_id.to_string(), ..Snapshot::default() };
    let mut refs = Refs::default();
    for (k, v) in str_map(object.pointer("/metadata/labels"), "metadata.labels")? {
        if (k == "app.kubernetes.io/name" || k == "app")
            && let Some(v) = v.as_str()
        {
            snap.labels.insert(k.to_string(), v.to_string());
        }
    }
    let fields = &mut snap.fields;
    match kind {
        Kind::ConfigMap => {
            for (k, v) in str_map(object.get("data"), "data")? {
                let field = format!("data[{k}]");
                let value = text(Some(v), &field)?.unwrap_or("");
                let display = if sensitive(k) { Value::String(REDACTED.into()) } else { shown(value) };
                let hash = Some(hasher.hash(&field, value));
                fields.insert(field, Entry { kind: ChangeKind::ConfigmapKey, hash, shown: display });
            }
            for (k, v) in str_map(object.get("binaryData"), "binaryData")? {
                let field = format!("binaryData[{k}]");
                let value = text(Some(v), &field)?.unwrap_or("");
                let display = json!(format!("<{} bytes of binary data>", value.len() / 4 * 3));
                let hash = Some(hasher.hash(&field, value));
                fields.insert(field, Entry { kind: ChangeKind::ConfigmapKey, hash, shown: display });
            }
        }
        Kind::Secret => {
            // `stringData` is write-only: what the API server answers holds `data`.
            for (k, v) in str_map(object.get("data"), "data")? {
                let field = format!("data[{k}]");
                let value = text(Some(v), &field)?.unwrap_or("");
                let hash = Some(hasher.hash(&field, value));
                fields.insert(field, Entry { kind: ChangeKind::SecretKey, hash, shown: json!(REDACTED) });
            }
        }
        Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet => {
            if kind != Kind::DaemonSet
                && let Some(r) = object.pointer("/spec/replicas").filter(|r| !r.is_null())
            {
                if !r.is_u64() {
                    return Err(("spec.replicas".into(), "expected a count"));
                }
                fields.insert(replicas_field(), Entry { kind: ChangeKind::ReplicaCount, hash: None, shown: r.clone() });
            }
            let Some(pod) = object.pointer("/spec/template/spec").filter(|p| p.is_object()) else {
                return Err(("spec.template.spec".into(), "a workload has a pod template"));
            };
            pod_template(pod, hasher, fields, &mut refs)?;
        }
    }
    Ok((snap, refs))
}

pub(crate) fn replicas_field() -> String {
    "spec.replicas".to_string()
}

fn pod_template(
    pod: &Value,
    hasher: &Hasher<'_>,
    fields: &mut BTreeMap<String, Entry>,
    refs: &mut Refs,
) -> Result<(), ShapeError> {
    const POD: &str = "spec.template.spec";
    for list_name in ["initContainers", "containers"] {
        for (i, c) in list(pod.get(list_name), &format!("{POD}.{list_name}"))?.iter().enumerate() {
            let at = format!("{POD}.{list_name}[{i}]");
            let Some(name) = text(c.get("name"), &format!("{at}.name"))? else {
                return Err((format!("{at}.name"), "a container has a name"));
            };
            let prefix = format!("{POD}.{list_name}[{name}]");
            if let Some(image) = text(c.get("image"), &format!("{at}.image"))? {
                let e = Entry { kind: ChangeKind::ImageSwap, hash: None, shown: json!(image) };
                fields.insert(format!("{prefix}.image"), e);
            }
            for (j, env) in list(c.get("env"), &format!("{at}.env"))?.iter().enumerate() {
                let Some(var) = text(env.get("name"), &format!("{at}.env[{j}].name"))? else {
                    return Err((format!("{at}.env[{j}].name"), "an env var has a name"));
                };
                let field = format!("{prefix}.env[{var}]");
                let entry = match env.get("valueFrom").filter(|v| !v.is_null()) {
                    // A reference is compared as a reference: it holds no value.
                    Some(from) => {
                        if let Some(n) = from.pointer("/configMapKeyRef/name").and_then(Value::as_str) {
                            refs.configmaps.insert(n.to_string());
                        }
                        if let Some(n) = from.pointer("/secretKeyRef/name").and_then(Value::as_str) {
                            refs.secrets.insert(n.to_string());
                        }
                        Entry { kind: ChangeKind::EnvVar, hash: None, shown: json!({ "valueFrom": from }) }
                    }
                    None => {
                        let value = text(env.get("value"), &format!("{at}.env[{j}].value"))?.unwrap_or("");
                        let display = if sensitive(var) { json!(REDACTED) } else { shown(value) };
                        Entry { kind: ChangeKind::EnvVar, hash: Some(hasher.hash(&field, value)), shown: display }
                    }
                };
                fields.insert(field, entry);
            }
            for (j, from) in list(c.get("envFrom"), &format!("{at}.envFrom"))?.iter().enumerate() {
                let pre = text(from.get("prefix"), &format!("{at}.envFrom[{j}].prefix"))?.unwrap_or("");
                let (source, name) = if let Some(n) = from.pointer("/configMapRef/name").and_then(Value::as_str) {
                    refs.configmaps.insert(n.to_string());
                    ("configMapRef", n)
                } else if let Some(n) = from.pointer("/secretRef/name").and_then(Value::as_str) {
                    refs.secrets.insert(n.to_string());
                    ("secretRef", n)
                } else {
                    continue;
                };
                let field = format!("{prefix}.envFrom[{pre}{source}:{name}]");
                fields.insert(field, Entry { kind: ChangeKind::EnvVar, hash: None, shown: from.clone() });
            }
            for bound in ["limits", "requests"] {
                let path = format!("{at}.resources.{bound}");
                for (res, q) in str_map(c.pointer(&format!("/resources/{bound}")), &path)? {
                    let e = Entry { kind: ChangeKind::ResourceLimit, hash: None, shown: q.clone() };
                    fields.insert(format!("{prefix}.resources.{bound}.{res}"), e);
                }
            }
        }
    }
    for v in list(pod.get("volumes"), &format!("{POD}.volumes"))? {
        if let Some(n) = v.pointer("/configMap/name").and_then(Value::as_str) {
            refs.configmaps.insert(n.to_string());
        }
        if let Some(n) = v.pointer("/secret/secretName").and_then(Value::as_str) {
            refs.secrets.insert(n.to_string());
        }
        for source in v.pointer("/projected/sources").and_then(Value::as_array).into_iter().flatten() {
            if let Some(n) = source.pointer("/configMap/name").and_then(Value::as_str) {
                refs.configmaps.insert(n.to_string());
            }
            if let Some(n) = source.pointer("/secret/name").and_then(Value::as_str) {
                refs.secrets.insert(n.to_string());
            }
        }
    }
    for s in pod.get("imagePullSecrets").and_then(Value::as_array).into_iter().flatten() {
        if let Some(n) = s.get("name").and_then(Value::as_str) {
            refs.secrets.insert(n.to_string());
        }
    }
    Ok(())
}

/// What changed from `old` to `new`, field by field, in field order. Two hashes made
/// with different keys (the old key left the ring) cannot be compared: such a value
/// is not reported as changed.
pub(crate) fn diff(old: &Snapshot, new: &Snapshot) -> Vec<Change> {
    let mut fields: BTreeSet<&String> = old.fields.keys().collect();
    fields.extend(new.fields.keys());
    let mut out = Vec::new();
    for field in fields {
        let (kind, before, after) = match (old.fields.get(field), new.fields.get(field)) {
            (Some(o), Some(n)) => {
                let changed = match (&o.hash, &n.hash) {
                    (Some(a), Some(b)) => old.hash_key == new.hash_key && a != b,
                    _ => o.shown != n.shown,
                };
                if !changed {
                    continue;
                }
                (n.kind, o.shown.clone(), n.shown.clone())
            }
            (Some(o), None) => (o.kind, o.shown.clone(), Value::Null),
            (None, Some(n)) => (n.kind, Value::Null, n.shown.clone()),
            (None, None) => continue,
        };
        out.push(Change { kind, field: field.clone(), old: before, new: after });
    }
    out
}
