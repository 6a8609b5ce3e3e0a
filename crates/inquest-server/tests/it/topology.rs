//! Declarative topology through the router: a source's upload replaces that source's
//! edges only (another source's and unsourced edges stay), the same graph again is a
//! duplicate delivery, a bad document is refused naming the path and writes nothing.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use inquest_domain::{DependsOn, NodeKind, TopologyNode};
use inquest_intake::Policy;
use inquest_ports::Stores;
use inquest_store_embedded::EmbeddedStore;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{in_memory, intake_app};

const CATALOG: &str = "
# generated from the service catalogue
cluster: prod
namespace: shop
services:
  - name: frontend
    depends_on: [checkout]
  - name: checkout
    depends_on: [payments, orders-db]
  - name: payments
databases:
  - name: orders-db
    engine: postgres
    used_by: [checkout]
";

/// The catalogue with `checkout -> payments` and `checkout -> orders-db` gone.
const CATALOG_V2: &str = "
cluster: prod
namespace: shop
services:
  - name: frontend
    depends_on: [checkout]
  - name: checkout
  - name: payments
databases:
  - name: orders-db
    engine: postgres
";

async fn put(router: &Router, source: &str, content_type: Option<&str>, body: &str) -> (StatusCode, Value) {
    let mut req = Request::builder().method("PUT").uri(format!("/api/topology/sources/{source}"));
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    let res = router.clone().oneshot(req.body(Body::from(body.to_string())).expect("request")).await.expect("response");
    let status = res.status();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn get(router: &Router, uri: &str) -> (StatusCode, Value) {
    let req = Request::builder().uri(uri).body(Body::empty()).expect("request");
    let res = router.clone().oneshot(req).await.expect("response");
    let status = res.status();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into())))
}

/// The keys one hop from `key`, sorted.
async fn neighbours(stores: &Stores, key: &str) -> Vec<String> {
    let radius = stores.topology.blast_radius(key, 1).await.expect("blast radius");
    let mut keys: Vec<String> = radius.nodes.into_iter().filter(|r| r.key != key).map(|r| r.key).collect();
    keys.sort();
    keys
}

fn app() -> (Router, Stores) {
    // The stores unwrapped: `replace_source` is what is under test here.
    let stores = EmbeddedStore::in_memory().expect("store").stores();
    let (ingest, _) = in_memory(Policy::default_policy());
    (intake_app(&ingest, &stores), stores)
}

#[tokio::test]
async fn an_upload_replaces_its_source_only() {
    let (router, stores) = app();
    // An edge from traces or fixtures (no source), and one the platform team declares.
    let cache =
        TopologyNode { key: "prod/shop/cart-cache".into(), kind: NodeKind::Database, detail: Some("redis".into()) };
    stores.topology.upsert_nodes(&[cache]).await.expect("node");
    let traced = DependsOn { from: "prod/shop/checkout".into(), to: "prod/shop/cart-cache".into() };
    stores.topology.upsert_edges(std::slice::from_ref(&traced)).await.expect("edge");

    let (status, r) = put(&router, "catalog", Some("application/yaml"), CATALOG).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{r}");
    assert_eq!(
        (r["outcome"].as_str(), r["nodes"].as_u64(), r["edges"].as_u64(), r["removed"].as_u64()),
        (Some("stored"), Some(4), Some(3), Some(0)),
        "{r}"
    );
    assert_eq!(
        (r["feed"].as_str(), r["source"].as_str(), r["services_added"].as_u64()),
        (Some("topology"), Some("catalog"), Some(4))
    );
    let platform = json!({"databases": [{"name": "prod/shop/orders-db", "engine": "postgres", "used_by": ["prod/shop/checkout"]}],
        "services": [{"name": "prod/shop/checkout"}]});
    let (status, p) = put(&router, "platform", Some("application/json"), &platform.to_string()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{p}");
    assert_eq!(
        (p["edges"].as_u64(), p["services_added"].as_u64()),
        (Some(1), Some(0)),
        "known services keep their rows: {p}"
    );
    assert_eq!(
        neighbours(&stores, "prod/shop/checkout").await,
        vec!["prod/shop/cart-cache", "prod/shop/frontend", "prod/shop/orders-db", "prod/shop/payments"]
    );

    // The catalogue drops two edges: payments goes; orders-db stays (the platform
    // declares it), as does the traced cache.
    let (status, r) = put(&router, "catalog", Some("text/yaml"), CATALOG_V2).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{r}");
    assert_eq!(
        (r["outcome"].as_str(), r["edges"].as_u64(), r["removed"].as_u64()),
        (Some("stored"), Some(1), Some(1)),
        "{r}"
    );
    assert_eq!(
        neighbours(&stores, "prod/shop/checkout").await,
        vec!["prod/shop/cart-cache", "prod/shop/frontend", "prod/shop/orders-db"]
    );
    assert!(neighbours(&stores, "prod/shop/payments").await.is_empty(), "payments keeps no edge");

    // The blast radius route sees the same graph.
    let (status, radius) = get(&router, "/api/topology?service=prod/shop/checkout&depth=1").await;
    assert_eq!(status, StatusCode::OK, "{radius}");
    let mut keys: Vec<&str> =
        radius["nodes"].as_array().expect("nodes").iter().filter_map(|n| n["key"].as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, vec!["prod/shop/cart-cache", "prod/shop/checkout", "prod/shop/frontend", "prod/shop/orders-db"]);
    let (_, by_name) = get(&router, "/api/topology?service=checkout").await;
    assert_eq!((by_name["service_key"].as_str(), by_name["depth"].as_u64()), (Some("prod/shop/checkout"), Some(5)));
    let (status, e) = get(&router, "/api/topology?service=checkout&depth=0").await;
    assert_eq!((status, e["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("depth")));

    // The new services are services of the records store now.
    let mut services: Vec<String> =
        stores.records.list_services().await.expect("services").iter().map(|s| s.service_key()).collect();
    services.sort();
    assert_eq!(services, vec!["prod/shop/checkout", "prod/shop/frontend", "prod/shop/orders-db", "prod/shop/payments"]);
}

#[tokio::test]
async fn the_same_graph_again_is_a_duplicate_and_still_restores_it() {
    let (router, stores) = app();
    let (_, first) = put(&router, "catalog", None, CATALOG).await;
    assert_eq!(first["outcome"], "stored", "{first}");
    // The same graph in JSON, in another order: one canonical document.
    let json = json!({"namespace": "shop", "cluster": "prod",
        "databases": [{"name": "orders-db", "engine": "postgres"}],
        "services": [{"name": "payments"}, {"name": "checkout", "depends_on": ["orders-db", "payments"]},
                     {"name": "frontend", "depends_on": ["checkout"]}]});
    let (status, again) = put(&router, "catalog", None, &json.to_string()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_eq!((again["outcome"].as_str(), again["services_added"].as_u64()), (Some("duplicate"), Some(0)), "{again}");
    assert_eq!(again["delivery_id"], first["delivery_id"]);
    assert_eq!((again["edges"].as_u64(), again["removed"].as_u64()), (Some(3), Some(0)));

    // v2, then the first file again: a duplicate delivery, and the graph is v1's.
    let (_, v2) = put(&router, "catalog", None, CATALOG_V2).await;
    assert_eq!((v2["outcome"].as_str(), v2["removed"].as_u64()), (Some("stored"), Some(2)), "{v2}");
    let (_, back) = put(&router, "catalog", Some("application/yaml"), CATALOG).await;
    assert_eq!((back["outcome"].as_str(), back["edges"].as_u64()), (Some("duplicate"), Some(3)), "{back}");
    assert_eq!(
        neighbours(&stores, "prod/shop/checkout").await,
        vec!["prod/shop/frontend", "prod/shop/orders-db", "prod/shop/payments"]
    );

    // The same graph under another source is another delivery.
    let (_, other) = put(&router, "catalog-copy", None, CATALOG).await;
    assert_eq!(other["outcome"], "stored", "{other}");
    assert_ne!(other["delivery_id"], first["delivery_id"]);

    let (_, metrics) = get(&router, "/metrics").await;
    let text = metrics.as_str().expect("metrics text");
    assert!(text.contains(r#"inquest_feed_events_total{feed="topology",outcome="duplicate"} 2"#), "{text}");
    assert!(text.contains(r#"inquest_feed_events_total{feed="topology",outcome="stored"} 3"#), "{text}");
}

#[tokio::test]
async fn a_bad_document_is_refused_naming_the_path_and_writes_nothing() {
    let (router, stores) = app();
    let (_, ok) = put(&router, "catalog", None, CATALOG).await;
    assert_eq!(ok["outcome"], "stored");
    let before = neighbours(&stores, "prod/shop/checkout").await;
    let cases = [
        (
            "catalog",
            Some("application/yaml"),
            "services:\n  - name: a\n  - name: b\n    depends_on: [a, nowhere]\n",
            "services[1].depends_on[1]",
        ),
        (
            "catalog",
            Some("application/yaml"),
            "services:\n  - {name: a, depends_on: [a]}\n",
            "services[0].depends_on[0]",
        ),
        ("catalog", Some("application/json"), r#"{"services": [{"name": "a"}, {"name": "a"}]}"#, "services[1].name"),
        (
            "catalog",
            Some("application/json"),
            r#"{"services": [{"name": "a"}], "edges": [{"from": "a", "to": "b"}]}"#,
            "edges[0].to",
        ),
        ("catalog", Some("application/json"), "{\"services\": [", "body"),
        ("catalog", None, "", "body"),
        ("bad%20source", None, "{}", "source"),
    ];
    for (source, ct, body, field) in cases {
        let (status, e) = put(&router, source, ct, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {e}");
        assert_eq!(e["error"]["field"], field, "{body}: {e}");
    }
    assert_eq!(neighbours(&stores, "prod/shop/checkout").await, before, "a refused upload changed the graph");
    assert_eq!(stores.records.list_services().await.expect("services").len(), 4, "a refused upload wrote services");
    let (_, metrics) = get(&router, "/metrics").await;
    let text = metrics.as_str().expect("metrics text");
    assert!(text.contains(r#"inquest_feed_rejected_total{feed="topology",reason="invalid"} 7"#), "{text}");

    // An empty object is a valid document: the source declares nothing any more.
    let (status, cleared) = put(&router, "catalog", Some("application/json"), "{}").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{cleared}");
    assert_eq!((cleared["edges"].as_u64(), cleared["removed"].as_u64()), (Some(0), Some(3)), "{cleared}");
    assert!(neighbours(&stores, "prod/shop/checkout").await.is_empty());
}
