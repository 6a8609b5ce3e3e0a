//! The Kubernetes audit and schema change routes end to end through the `Router`: on
//! the embedded store, and on PostgreSQL when `INQUEST_TEST_POSTGRES_URL` is set.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use inquest_contract::postgres::{FreshDb, server_url};
use inquest_domain::{ChangeKind, ConfigSource, ServiceId};
use inquest_intake::Policy;
use inquest_ports::Stores;
use inquest_store_embedded::{EmbeddedIntakeStore, EmbeddedStore};
use inquest_store_postgres::{PoolSettings, PostgresStore};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{in_memory, intake_app, intake_on};

const AUDIT: &str = "/api/feeds/kubernetes/audit?cluster=prod";
const SECRET_VALUE: &str = "c3VwZXItc2VjcmV0LWRiLXBhc3N3b3Jk";
const NEW_SECRET_VALUE: &str = "cm90YXRlZC1kYi1wYXNzd29yZC0yMDI2";

/// An audit event in the shape the API server posts (level RequestResponse).
fn event(id: &str, verb: &str, resource: &str, name: &str, request: Value, response: Value) -> Value {
    let group = if resource == "deployments" { "apps" } else { "" };
    json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse", "auditID": id,
        "stage": "ResponseComplete", "requestURI": format!("/api/v1/namespaces/shop/{resource}/{name}"), "verb": verb,
        "user": {"username": "bob@example.com", "groups": ["system:authenticated"]},
        "sourceIPs": ["10.0.0.9"], "userAgent": "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350",
        "objectRef": {"resource": resource, "namespace": "shop", "name": name, "apiGroup": group, "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "requestObject": request, "responseObject": response,
        "requestReceivedTimestamp": "2026-03-02T10:15:30.100000Z", "stageTimestamp": "2026-03-02T10:15:30.200000Z",
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""}
    })
}

fn list(items: Vec<Value>) -> String {
    json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items}).to_string()
}

fn deployment(image: &str) -> Value {
    json!({"kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": "checkout", "namespace": "shop", "resourceVersion": image},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "api", "image": image,
            "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "checkout-db", "key": "password"}}}]}]}}}})
}

fn secret(value: &str) -> Value {
    json!({"kind": "Secret", "apiVersion": "v1", "type": "Opaque",
        "metadata": {"name": "checkout-db", "namespace": "shop"}, "data": {"password": value}})
}

async fn post(router: &Router, uri: &str, body: String) -> (StatusCode, String) {
    let req = Request::builder()
        .method("POST")
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("request");
    let res = router.clone().oneshot(req).await.expect("response");
    let status = res.status();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&bytes).to_string())
}

async fn get(router: &Router, uri: &str) -> String {
    let req = Request::builder().uri(uri).body(Body::empty()).expect("request");
    let res = router.clone().oneshot(req).await.expect("response");
    String::from_utf8_lossy(&res.into_body().collect().await.expect("body").to_bytes()).to_string()
}

/// Log lines of the current thread, at every level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The whole flow on `stores`: every answer, row, state and log line checked.
async fn audit_flow(router: &Router, stores: &Stores) {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let first = list(vec![
        event("e1", "update", "deployments", "checkout", deployment("shop/checkout:1"), deployment("shop/checkout:1")),
        event("e2", "create", "secrets", "checkout-db", secret(SECRET_VALUE), secret(SECRET_VALUE)),
        event("e3", "get", "secrets", "checkout-db", Value::Null, secret(SECRET_VALUE)),
    ]);
    let (status, text) = post(router, AUDIT, first.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let receipt: Value = serde_json::from_str(&text).expect("receipt");
    assert_eq!(receipt["outcome"], "stored", "{receipt}");
    // The new secret's key, on the one workload that uses it; the deployment is a first sighting.
    assert_eq!(receipt["rows"], 2, "the service row and one secret key: {receipt}");

    let (status, text) = post(router, AUDIT, first).await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&text).expect("receipt")["outcome"].clone()),
        (StatusCode::ACCEPTED, json!("duplicate"))
    );

    let patch = json!({"data": {"password": NEW_SECRET_VALUE}});
    let second = list(vec![
        event("e4", "patch", "secrets", "checkout-db", patch, secret(NEW_SECRET_VALUE)),
        event("e5", "patch", "deployments", "checkout", json!({}), deployment("shop/checkout:2")),
    ]);
    // The cluster in the path, as a kubeconfig's `server` names it.
    let (status, receipt) = post(router, "/api/feeds/kubernetes/audit/prod", second).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");

    let service = ServiceId::of_key("prod/shop/checkout");
    let from = "2026-03-02T10:00:00Z".parse().expect("time");
    let to = "2026-03-02T11:00:00Z".parse().expect("time");
    let rows = stores.records.config_changes_between(&[service], from, to).await.expect("rows");
    let mut seen: Vec<(ConfigSource, ChangeKind, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r.source,
                r.change_kind,
                r.diff_payload["field"].as_str().unwrap_or("").to_string(),
                r.audit_log_ref.clone().unwrap_or_default(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (
                ConfigSource::K8sDeployment,
                ChangeKind::ImageSwap,
                "spec.template.spec.containers[api].image".into(),
                "e5".into()
            ),
            (ConfigSource::K8sSecret, ChangeKind::SecretKey, "data[password]".into(), "e2".into()),
            (ConfigSource::K8sSecret, ChangeKind::SecretKey, "data[password]".into(), "e4".into()),
        ]
    );
    assert!(rows.iter().all(|r| r.actor.as_deref() == Some("bob@example.com") && r.service_id == Some(service)));

    let state = stores.records.feed_state("kubernetes_audit", "prod/shop/Secret/checkout-db").await.expect("state");
    let mut stored = vec![
        serde_json::to_string(&rows).expect("rows"),
        state.expect("the secret is kept as hashes").to_string(),
        receipt,
        String::from_utf8_lossy(&logs.0.lock().expect("logs")).to_string(),
    ];
    for key in ["prod/shop/Deployment/checkout", "prod/shop/workloads"] {
        stored
            .push(stores.records.feed_state("kubernetes_audit", key).await.expect("state").expect("kept").to_string());
    }
    assert!(stored[3].contains("feed delivery"), "the logs were captured: {}", stored[3]);
    for text in &stored {
        assert!(!text.contains(SECRET_VALUE) && !text.contains(NEW_SECRET_VALUE), "a secret value leaked: {text}");
    }

    let metrics = get(router, "/metrics").await;
    for line in [
        "inquest_feed_ignored_total{feed=\"kubernetes_audit\",reason=\"verb\"} 2",
        "inquest_feed_events_total{feed=\"kubernetes_audit\",outcome=\"duplicate\"} 1",
        "inquest_feed_events_total{feed=\"kubernetes_audit\",outcome=\"stored\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} missing from /metrics");
    }
}

#[tokio::test]
async fn audit_events_become_config_changes_on_the_embedded_store() {
    let (ingest, stores) = in_memory(Policy::default_policy());
    audit_flow(&intake_app(&ingest, &stores), &stores).await;
}

#[tokio::test]
async fn audit_events_become_config_changes_on_postgres() {
    let Some(url) = server_url("audit_events_become_config_changes_on_postgres") else { return };
    let db = FreshDb::create(&url).await;
    let pg = PostgresStore::connect(&db.url, &PoolSettings::default()).expect("pool");
    pg.migrate().await.expect("migrate");
    let embedded = EmbeddedStore::in_memory().expect("store").stores();
    let stores = Stores { records: Arc::new(pg), ..embedded };
    let (ingest, stores) = intake_on(stores, Arc::new(EmbeddedIntakeStore::in_memory().expect("ingest store")));
    audit_flow(&intake_app(&ingest, &stores), &stores).await;
}

#[tokio::test]
async fn refusals_name_the_field_and_count() {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let router = intake_app(&ingest, &stores);
    for (uri, body, field) in [
        (AUDIT, "{\"kind\": \"EventList\"".to_string(), "body"),
        (AUDIT, json!({"kind": "Policy", "apiVersion": "audit.k8s.io/v1"}).to_string(), "kind"),
        (AUDIT, list(vec![json!({"stage": "ResponseComplete", "verb": "get"})]), "items[0].auditID"),
        ("/api/feeds/kubernetes/audit?cluster=a/b", list(vec![]), "cluster"),
        (
            "/api/feeds/schema-changes",
            json!({"service": "checkout", "migration_id": "1", "applied_at": "soon"}).to_string(),
            "applied_at",
        ),
    ] {
        let (status, text) = post(&router, uri, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {text}");
        let v: Value = serde_json::from_str(&text).expect("error body");
        assert_eq!(v["error"]["field"], field, "{text}");
    }
    let big = list(vec![event(
        "big",
        "update",
        "configmaps",
        "huge",
        Value::Null,
        json!({"kind": "ConfigMap", "metadata": {"name": "huge"}, "data": {"blob": "x".repeat(3 * 1024 * 1024)}}),
    )]);
    let (status, text) = post(&router, AUDIT, big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    let metrics = get(&router, "/metrics").await;
    for line in [
        "inquest_feed_rejected_total{feed=\"kubernetes_audit\",reason=\"invalid\"} 4",
        "inquest_feed_rejected_total{feed=\"kubernetes_audit\",reason=\"too_large\"} 1",
        "inquest_feed_rejected_total{feed=\"schema_changes\",reason=\"invalid\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from /metrics");
    }
    let (status, text) =
        post(&router, AUDIT, list(vec![event("w", "watch", "deployments", "", Value::Null, Value::Null)])).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(serde_json::from_str::<Value>(&text).expect("receipt")["outcome"], "ignored");
}

#[tokio::test]
async fn a_migration_hook_records_each_schema_change_once() {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let router = intake_app(&ingest, &stores);
    let hook = |id: &str, at: &str| {
        json!({"service": "prod/shop/checkout", "database": "orders", "migration_id": id, "description": "add column",
            "statements": "ALTER TABLE orders ADD COLUMN note text", "applied_at": at, "tool": "flyway", "actor": "ci"})
        .to_string()
    };
    let (status, text) = post(&router, "/api/feeds/schema-changes", hook("V1", "2026-03-02T10:00:00Z")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let (_, text) = post(&router, "/api/feeds/schema-changes", hook("V1", "2026-03-02T10:00:00Z")).await;
    assert_eq!(serde_json::from_str::<Value>(&text).expect("receipt")["outcome"], "duplicate");
    let (_, text) = post(&router, "/api/feeds/schema-changes", hook("V2", "2026-03-02T10:30:00Z")).await;
    assert_eq!(serde_json::from_str::<Value>(&text).expect("receipt")["outcome"], "stored");
    let service = ServiceId::of_key("prod/shop/checkout");
    let from = "2026-03-02T09:00:00Z".parse().expect("time");
    let to = "2026-03-02T11:00:00Z".parse().expect("time");
    let mut rows = stores.records.config_changes_between(&[service], from, to).await.expect("rows");
    rows.sort_by_key(|r| r.detected_at);
    let versions: Vec<(Value, Value)> =
        rows.iter().map(|r| (r.diff_payload["old_value"].clone(), r.diff_payload["new_value"].clone())).collect();
    assert_eq!(versions, vec![(Value::Null, json!("V1")), (json!("V1"), json!("V2"))]);
    assert!(rows.iter().all(|r| r.source == ConfigSource::DbSchema && r.resource_name == "orders"));
}

/// The YAML documents of `file` as JSON, parsed by Python's PyYAML (no YAML crate in the
/// workspace); `None` with a printed reason when it is not installed, a failure under CI.
fn yaml(file: &str) -> Option<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/k8s/audit").join(file);
    let script = "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)";
    let out = std::process::Command::new("python3").args(["-c", script]).arg(&path).output();
    match out {
        Ok(o) if o.status.success() => Some(serde_json::from_slice(&o.stdout).expect("the parser prints JSON")),
        Ok(o)
            if String::from_utf8_lossy(&o.stderr).contains("No module named 'yaml'")
                || o.status.code() == Some(127) =>
        {
            skip_yaml(file)
        }
        Ok(o) => panic!("{file} does not parse: {}", String::from_utf8_lossy(&o.stderr)),
        Err(_) => skip_yaml(file),
    }
}

fn skip_yaml(file: &str) -> Option<Value> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{file}: python3 with PyYAML is needed under CI=true");
    }
    eprintln!("skipping the check of {file}: python3 with PyYAML is not installed");
    None
}

#[tokio::test]
async fn the_shipped_policy_and_kubeconfig_send_what_the_feed_handles() {
    let (Some(policy), Some(kubeconfig)) = (yaml("policy.yaml"), yaml("webhook-kubeconfig.yaml")) else { return };
    assert_eq!((policy["apiVersion"].as_str(), policy["kind"].as_str()), (Some("audit.k8s.io/v1"), Some("Policy")));
    assert_eq!(policy["omitStages"], json!(["RequestReceived"]));
    let rules = policy["rules"].as_array().expect("rules");
    assert_eq!(rules.last(), Some(&json!({"level": "None"})), "nothing else is logged");
    let logged = &rules[0];
    assert_eq!(logged["level"], "RequestResponse");
    assert_eq!(logged["verbs"], json!(["create", "update", "patch", "delete"]));
    let mut resources: Vec<String> = logged["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .flat_map(|g| {
            let group = g["group"].as_str().expect("group").to_string();
            g["resources"]
                .as_array()
                .expect("names")
                .iter()
                .map(move |r| format!("{group}/{}", r.as_str().expect("name")))
        })
        .collect();
    resources.sort();
    assert_eq!(
        resources,
        [
            "/configmaps",
            "/secrets",
            "apps/daemonsets",
            "apps/deployments",
            "apps/deployments/scale",
            "apps/statefulsets",
            "apps/statefulsets/scale"
        ]
    );
    assert_eq!(rules.len(), 2);

    assert_eq!((kubeconfig["apiVersion"].as_str(), kubeconfig["kind"].as_str()), (Some("v1"), Some("Config")));
    let server = kubeconfig["clusters"][0]["cluster"]["server"].as_str().expect("server");
    assert_eq!(server, "https://inquest.example/api/feeds/kubernetes/audit/prod");
    assert!(kubeconfig["users"][0]["user"]["token"].is_string());
    let context = &kubeconfig["contexts"][0];
    assert_eq!(kubeconfig["current-context"], context["name"]);
    assert_eq!(context["context"]["cluster"], kubeconfig["clusters"][0]["name"]);
    assert_eq!(context["context"]["user"], kubeconfig["users"][0]["name"]);

    // The route the kubeconfig names answers an EventList.
    let (ingest, stores) = in_memory(Policy::default_policy());
    let path = server.trim_start_matches("https://inquest.example");
    let (status, text) = post(&intake_app(&ingest, &stores), path, list(vec![])).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
}
