//! The audit webhook's body: an `audit.k8s.io/v1` `EventList` as the API server posts
//! it, read into the events this feed handles and, for every other event, the reason
//! it is ignored.

use chrono::{DateTime, Utc};
use inquest_domain::Timestamp;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::FeedError;

/// The kinds of object the feed follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    ConfigMap,
    Secret,
    Deployment,
    StatefulSet,
    DaemonSet,
}

impl Kind {
    fn of_resource(group: &str, resource: &str) -> Option<Kind> {
        match (group, resource) {
            ("", "configmaps") => Some(Kind::ConfigMap),
            ("", "secrets") => Some(Kind::Secret),
            ("apps", "deployments") => Some(Kind::Deployment),
            ("apps", "statefulsets") => Some(Kind::StatefulSet),
            ("apps", "daemonsets") => Some(Kind::DaemonSet),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
        }
    }

    /// A workload: its name is a service, it references ConfigMaps and Secrets.
    pub(crate) fn is_workload(self) -> bool {
        matches!(self, Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Create,
    Update,
    Patch,
    Delete,
}

/// One event the feed handles.
#[derive(Debug)]
pub(crate) struct Event {
    /// Its position in `items`, for error fields.
    pub index: usize,
    pub audit_id: String,
    pub verb: Verb,
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    /// A request to the `scale` subresource: `object` is a `Scale`.
    pub scale: bool,
    pub username: Option<String>,
    pub at: Timestamp,
    /// The object after the request: the response's, else an update's or a create's
    /// request (both whole objects); `None` for a delete.
    pub object: Option<Value>,
    /// Which of the two `object` is, for error fields.
    pub object_field: &'static str,
}

/// What a body holds.
#[derive(Debug)]
pub(crate) struct EventList {
    /// Every item's `auditID`, handled or not: the delivery id is made of them.
    pub audit_ids: Vec<String>,
    pub events: Vec<Event>,
    /// `(reason, detail)` per ignored item.
    pub ignored: Vec<(&'static str, String)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawList {
    kind: String,
    api_version: String,
    items: Option<Vec<RawEvent>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEvent {
    #[serde(rename = "auditID")]
    audit_id: String,
    stage: String,
    verb: String,
    #[serde(rename = "requestURI", default)]
    request_uri: String,
    #[serde(default)]
    user: RawUser,
    object_ref: Option<RawRef>,
    response_status: Option<RawStatus>,
    request_object: Option<Value>,
    response_object: Option<Value>,
    stage_timestamp: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawUser {
    username: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRef {
    #[serde(default)]
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
    #[serde(default)]
    api_group: String,
    subresource: Option<String>,
}

#[derive(Deserialize)]
struct RawStatus {
    code: Option<i64>,
}

/// Deserialize `bytes`; the error names the failing field (`body` for the whole).
pub(crate) fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, FeedError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        if e.inner().is_syntax() || e.inner().is_eof() {
            return FeedError::invalid("body", format!("not JSON: {}", e.inner()));
        }
        let message = e.inner().to_string();
        let mut field = e.path().to_string();
        // serde names a missing field in the message, at its parent's path.
        if let Some(missing) = message.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
            field = if field == "." { missing.to_string() } else { format!("{field}.{missing}") };
        }
        FeedError::invalid(if field == "." { "body" } else { &field }, message)
    })
}

/// Read an `EventList`. A malformed list or a handled event missing what it needs is
/// an error naming the field; events of other kinds, verbs or stages are ignored.
pub(crate) fn parse(body: &[u8]) -> Result<EventList, FeedError> {
    let list: RawList = from_json(body)?;
    if list.kind != "EventList" {
        return Err(FeedError::invalid("kind", format!("expected EventList, got '{}'", list.kind)));
    }
    if list.api_version != "audit.k8s.io/v1" {
        return Err(FeedError::invalid("apiVersion", format!("expected audit.k8s.io/v1, got '{}'", list.api_version)));
    }
    let items = list.items.unwrap_or_default();
    let mut out = EventList { audit_ids: Vec::new(), events: Vec::new(), ignored: Vec::new() };
    for (index, raw) in items.into_iter().enumerate() {
        if raw.audit_id.trim().is_empty() {
            return Err(FeedError::invalid(format!("items[{index}].auditID"), "must not be empty"));
        }
        out.audit_ids.push(raw.audit_id.clone());
        match event(index, raw)? {
            Ok(e) => out.events.push(e),
            Err(ignored) => out.ignored.push(ignored),
        }
    }
    Ok(out)
}

fn event(index: usize, raw: RawEvent) -> Result<Result<Event, (&'static str, String)>, FeedError> {
    let at = |reason: &'static str, what: String| Ok(Err((reason, format!("items[{index}]: {what}"))));
    if raw.stage != "ResponseComplete" {
        return at("stage", format!("stage {}", raw.stage));
    }
    let verb = match raw.verb.as_str() {
        "create" => Verb::Create,
        "update" => Verb::Update,
        "patch" => Verb::Patch,
        "delete" => Verb::Delete,
        other => return at("verb", format!("verb {other}")),
    };
    let Some(oref) = raw.object_ref else { return at("resource", "no objectRef".into()) };
    let Some(kind) = Kind::of_resource(&oref.api_group, &oref.resource) else {
        return at("resource", format!("{} of {}", raw.verb, oref.resource));
    };
    let scale = match oref.subresource.as_deref() {
        None | Some("") => false,
        Some("scale") if matches!(kind, Kind::Deployment | Kind::StatefulSet) && verb != Verb::Create => true,
        Some(sub) => return at("subresource", format!("{} of {}/{sub}", raw.verb, oref.resource)),
    };
    // A dry run changes nothing.
    if raw.request_uri.split(['?', '&']).any(|p| p.starts_with("dryRun=")) {
        return at("dry_run", format!("{} of {} (dry run)", raw.verb, oref.resource));
    }
    if let Some(code) = raw.response_status.and_then(|s| s.code)
        && code >= 300
    {
        return at("failed", format!("{} of {} answered {code}", raw.verb, oref.resource));
    }
    let (object, object_field) = match verb {
        Verb::Delete => (None, "responseObject"),
        _ => match (raw.response_object, raw.request_object) {
            (Some(o), _) if o.get("kind").and_then(Value::as_str) != Some("Status") => (Some(o), "responseObject"),
            // A patch's request is the patch, not the object.
            (_, Some(o)) if verb != Verb::Patch => (Some(o), "requestObject"),
            _ => {
                return at(
                    "no_object",
                    format!("{} of {} without the object (level below RequestResponse)", raw.verb, oref.resource),
                );
            }
        },
    };
    if let Some(o) = &object
        && !o.is_object()
    {
        return Err(FeedError::invalid(format!("items[{index}].{object_field}"), "expected an object"));
    }
    let Some(namespace) = oref.namespace.filter(|n| !n.is_empty()) else {
        return Err(FeedError::invalid(format!("items[{index}].objectRef.namespace"), "a namespaced object needs one"));
    };
    // A create may name its object only in the object (`generateName`).
    let from_object = object.as_ref().and_then(|o| o.pointer("/metadata/name")).and_then(Value::as_str);
    let Some(name) = oref.name.filter(|n| !n.is_empty()).or(from_object.map(str::to_string)) else {
        return Err(FeedError::invalid(format!("items[{index}].objectRef.name"), "the object has no name"));
    };
    let field = format!("items[{index}].stageTimestamp");
    let Some(ts) = raw.stage_timestamp else { return Err(FeedError::invalid(field, "missing")) };
    let at = DateTime::parse_from_rfc3339(&ts)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| FeedError::invalid(field, format!("{e} (expected RFC 3339)")))?;
    Ok(Ok(Event {
        index,
        audit_id: raw.audit_id,
        verb,
        kind,
        namespace,
        name,
        scale,
        username: raw.user.username.filter(|u| !u.is_empty()),
        at,
        object,
        object_field,
    }))
}
