//! Schema changes from a migration tool's hook (a Flyway callback, a Liquibase or
//! Rails hook, a step after `sqlx migrate run`): one generic JSON per applied
//! migration, one `config_change_events` row (`db_schema`, `db_schema_alter`) whose
//! diff goes from the version the feed saw last for that database to this one.
//!
//! The feed's state keeps, per `<service key>/<database>`, the latest version applied
//! (by `applied_at`, so a late hook does not move it back). The delivery id is
//! `(service, database, migration_id)`: running the hook again is a duplicate.

use chrono::{DateTime, Utc};
use inquest_domain::redact::redact;
use inquest_domain::{
    ChangeKind, ConfigChangeEvent, ConfigChangeId, ConfigSource, Service, ServiceId, Timestamp, service_key_of,
};
use inquest_ports::{RecordBatch, RecordStore};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::kubernetes::from_json;
use crate::{Delivery, Feed, FeedError, Parsed};

/// Statements are kept up to this many characters.
pub const STATEMENTS_MAX_CHARS: usize = 8192;

/// The hook's body.
#[derive(Debug, Deserialize)]
pub struct SchemaChange {
    /// The service whose database changed: a name or `cluster/namespace/name`.
    pub service: String,
    /// The database (or schema) migrated; default: the service's.
    pub database: Option<String>,
    /// The migration's version or id (`V3__add_index`, `20240101120000`, `3`).
    #[serde(alias = "version")]
    pub migration_id: Version,
    pub description: Option<String>,
    /// The SQL applied: one text or a list (redacted and truncated before it is stored).
    pub statements: Option<Statements>,
    /// When it was applied (RFC 3339).
    pub applied_at: String,
    pub actor: Option<String>,
    /// `flyway`, `liquibase`, `sqlx`, `rails` ...
    pub tool: Option<String>,
}

/// A version as tools give it: text or a number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Version {
    Text(String),
    Number(u64),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Statements {
    One(String),
    Many(Vec<String>),
}

/// What the state keeps per database.
#[derive(Debug, Serialize, Deserialize)]
struct Applied {
    version: String,
    applied_at: Timestamp,
}

const FEED: Feed = Feed::SchemaChanges;

fn cut(text: &str, max: usize) -> (String, bool) {
    let cut: String = text.chars().take(max).collect();
    let truncated = cut.len() < text.len();
    (cut, truncated)
}

/// Parse one hook body: the row, and the database's new latest version as state.
pub async fn parse(records: &dyn RecordStore, body: &[u8], received_at: Timestamp) -> Result<Parsed, FeedError> {
    let hook: SchemaChange = from_json(body)?;
    let service = hook.service.trim();
    if service.is_empty() || service.split('/').count() > 3 || service.split('/').any(str::is_empty) {
        return Err(FeedError::invalid("service", "a service name or cluster/namespace/name"));
    }
    let key = service_key_of(service);
    let database = match hook.database.as_deref().map(str::trim) {
        Some("") => return Err(FeedError::invalid("database", "must not be empty")),
        Some(d) if d.len() > 256 => return Err(FeedError::invalid("database", "at most 256 characters")),
        other => other,
    };
    let version = match hook.migration_id {
        Version::Text(t) => t.trim().to_string(),
        Version::Number(n) => n.to_string(),
    };
    if version.is_empty() || version.len() > 256 {
        return Err(FeedError::invalid("migration_id", "1-256 characters"));
    }
    let applied_at = DateTime::parse_from_rfc3339(&hook.applied_at)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| FeedError::invalid("applied_at", format!("{e} (expected RFC 3339, e.g. 2026-09-01T10:00:00Z)")))?;
    let statements = hook.statements.map(|s| match s {
        Statements::One(t) => t,
        Statements::Many(list) => list.join(";\n"),
    });
    let (statements, truncated) = match statements.as_deref() {
        Some(s) => {
            let (t, truncated) = cut(s, STATEMENTS_MAX_CHARS);
            (Some(redact(&t)), truncated)
        }
        None => (None, false),
    };
    let service_id = ServiceId::of_key(&key);
    let target = format!("{key}/{}", database.unwrap_or(""));
    let previous: Option<Applied> =
        records.feed_state(FEED.as_str(), &target).await?.and_then(|v| serde_json::from_value(v).ok());
    let (old_value, newer) = match &previous {
        Some(p) if p.applied_at <= applied_at => (Value::String(p.version.clone()), true),
        // A hook arriving after a later migration's: its row, but the later version stays.
        Some(_) => (Value::Null, false),
        None => (Value::Null, true),
    };
    let mut batch = RecordBatch::default();
    if !records.list_services().await?.iter().any(|s| s.service_id == service_id) {
        let mut parts = key.splitn(3, '/');
        let (cluster, namespace, name) = (parts.next(), parts.next(), parts.next());
        batch.services.push(Service {
            service_id,
            cluster_id: cluster.unwrap_or("default").to_string(),
            namespace: namespace.unwrap_or("default").to_string(),
            service_name: name.unwrap_or(service).to_string(),
            created_at: applied_at,
        });
    }
    let name = inquest_domain::service_name_of(&key);
    let mut diff = json!({
        "field": "schema",
        "old_value": old_value,
        "new_value": version,
        "description": hook.description.as_deref().map(|d| redact(&cut(d, 1024).0)),
        "statements": statements,
        "database": database,
        "tool": hook.tool,
    });
    if truncated {
        diff["statements_truncated"] = json!(true);
    }
    batch.config_changes.push(ConfigChangeEvent {
        config_change_id: ConfigChangeId::derived(&[FEED.as_str(), &target, &version]),
        service_id: Some(service_id),
        detected_at: applied_at,
        source: ConfigSource::DbSchema,
        change_kind: ChangeKind::DbSchemaAlter,
        resource_name: database.unwrap_or(name).to_string(),
        diff_payload: diff,
        actor: hook.actor.map(|a| redact(&a)).filter(|a| !a.is_empty()),
        audit_log_ref: None,
    });
    let delivery_id = format!("{target}\u{1f}{version}");
    let mut delivery = Delivery::new(FEED, delivery_id, received_at, batch);
    if newer {
        delivery.records.state = vec![(target, Some(json!(Applied { version, applied_at })))];
    }
    Ok(Parsed::Delivery(Box::new(delivery)))
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use inquest_ports::{DeliveryOutcome, Stores};
    use inquest_store_embedded::EmbeddedStore;

    use super::*;

    fn store() -> Stores {
        EmbeddedStore::in_memory().expect("in-memory store").stores()
    }

    async fn delivery(stores: &Stores, body: Value) -> Result<Delivery, FeedError> {
        match parse(stores.records.as_ref(), body.to_string().as_bytes(), Utc::now()).await? {
            Parsed::Delivery(d) => Ok(*d),
            Parsed::Ignored { .. } => panic!("a schema change is never ignored"),
        }
    }

    async fn applied(stores: &Stores, body: Value) -> (DeliveryOutcome, Vec<ConfigChangeEvent>) {
        let d = delivery(stores, body).await.expect("parses");
        let a = crate::apply(stores, &d).await.expect("applied");
        (a.outcome, d.records.batch.config_changes)
    }

    #[tokio::test]
    async fn each_migration_goes_from_the_last_version_seen() {
        let stores = store();
        let flyway = json!({"service": "checkout", "database": "orders", "migration_id": "V3__add_index",
            "description": "add index on orders.created_at", "statements": ["CREATE INDEX orders_created ON orders(created_at)"],
            "applied_at": "2026-03-02T10:00:00Z", "actor": "deploy-bot", "tool": "flyway"});
        let (outcome, rows) = applied(&stores, flyway.clone()).await;
        assert_eq!(outcome, DeliveryOutcome::Stored);
        let r = &rows[0];
        assert_eq!((r.source, r.change_kind), (ConfigSource::DbSchema, ChangeKind::DbSchemaAlter));
        assert_eq!(r.resource_name, "orders");
        assert_eq!(r.service_id, Some(ServiceId::of_key("default/default/checkout")));
        assert_eq!(r.diff_payload["field"], "schema");
        assert_eq!(r.diff_payload["old_value"], Value::Null);
        assert_eq!(r.diff_payload["new_value"], "V3__add_index");
        assert_eq!(r.diff_payload["statements"], "CREATE INDEX orders_created ON orders(created_at)");
        assert_eq!(r.actor.as_deref(), Some("deploy-bot"));
        assert!(stores.records.list_services().await.expect("services").iter().any(|s| s.service_name == "checkout"));

        let (outcome, _) = applied(&stores, flyway).await;
        assert_eq!(outcome, DeliveryOutcome::Duplicate, "the hook ran again");

        let sqlx = json!({"service": "checkout", "database": "orders", "version": 20260302110000u64,
            "applied_at": "2026-03-02T11:00:00Z", "tool": "sqlx"});
        let (_, rows) = applied(&stores, sqlx).await;
        assert_eq!(rows[0].diff_payload["old_value"], "V3__add_index");
        assert_eq!(rows[0].diff_payload["new_value"], "20260302110000");

        // A hook that arrives late does not move the version back.
        let late = json!({"service": "checkout", "database": "orders", "migration_id": "V2",
            "applied_at": "2026-03-01T09:00:00Z"});
        let (_, rows) = applied(&stores, late).await;
        assert_eq!(rows[0].diff_payload["old_value"], Value::Null);
        let next = json!({"service": "checkout", "database": "orders", "migration_id": "V5", "applied_at": "2026-03-02T12:00:00Z"});
        let (_, rows) = applied(&stores, next).await;
        assert_eq!(rows[0].diff_payload["old_value"], "20260302110000");
    }

    #[tokio::test]
    async fn statements_are_redacted_and_truncated() {
        let stores = store();
        let long = format!("CREATE USER app PASSWORD 'password=hunter2hunter2';\n{}", "-- x\n".repeat(3000));
        let body = json!({"service": "prod/shop/checkout", "migration_id": "7", "statements": long, "applied_at": "2026-03-02T10:00:00Z"});
        let d = delivery(&stores, body).await.expect("parses");
        let r = &d.records.batch.config_changes[0];
        let statements = r.diff_payload["statements"].as_str().expect("statements");
        assert!(!statements.contains("hunter2hunter2"), "{statements}");
        assert!(statements.chars().count() <= STATEMENTS_MAX_CHARS + 16);
        assert_eq!(r.diff_payload["statements_truncated"], true);
        assert_eq!(r.resource_name, "checkout", "no database: the service");
        assert_eq!(r.service_id, Some(ServiceId::of_key("prod/shop/checkout")));
    }

    #[tokio::test]
    async fn bad_bodies_name_their_field() {
        let stores = store();
        let ok = json!({"service": "checkout", "migration_id": "1", "applied_at": "2026-03-02T10:00:00Z"});
        let with = |k: &str, v: Value| {
            let mut b = ok.clone();
            b[k] = v;
            b
        };
        let mut missing = ok.clone();
        missing.as_object_mut().expect("object").remove("migration_id");
        for (body, field) in [
            (with("service", json!("")), "service"),
            (with("service", json!("a/b/c/d")), "service"),
            (with("applied_at", json!("monday")), "applied_at"),
            (with("migration_id", json!("  ")), "migration_id"),
            (with("database", json!("")), "database"),
            (with("service", json!(3)), "service"),
            (missing, "migration_id"),
        ] {
            match delivery(&stores, body.clone()).await {
                Err(FeedError::Invalid { field: got, .. }) => assert_eq!(got, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        let err = parse(stores.records.as_ref(), b"{\"service\": ", Utc::now()).await.expect_err("not json");
        assert!(matches!(err, FeedError::Invalid { ref field, .. } if field == "body"), "{err:?}");
    }
}
