//! The changes view through the router: one timeline of deployments (with their
//! commit ranges), config changes and commits, newest first, filtered by service,
//! kind and time, capped, the culprit of an incident's top hypothesis marked, and
//! another project's changes invisible; on the embedded store and on PostgreSQL.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use inquest_domain::*;
use inquest_feeds::{Delivery, Feed};
use inquest_intake::Policy;
use inquest_ports::{AccessStore, InvestigationRecord, RecordBatch, Stores};
use inquest_report::TemplateReport;
use inquest_server::{Access, AppState};
use inquest_store_embedded::{EmbeddedAccessStore, EmbeddedStore};
use serde_json::{Value, json};

use crate::access::send;
use crate::in_memory;

fn t0() -> DateTime<Utc> {
    "2026-11-01T12:00:00Z".parse().expect("time")
}

fn service(name: &str) -> Service {
    let key = service_key("default", "default", name);
    Service {
        service_id: ServiceId::of_key(&key),
        cluster_id: "default".into(),
        namespace: "default".into(),
        service_name: name.into(),
        created_at: t0() - Duration::days(30),
    }
}

fn commit(sha: &str, repo: &str, message: &str, at: DateTime<Utc>) -> Commit {
    Commit {
        commit_sha: sha.into(),
        repo: repo.into(),
        author: Some("ci-bot".into()),
        message: message.into(),
        summary: None,
        authored_at: at,
        created_at: at,
    }
}

fn file(sha: &str, path: &str, added: i32) -> CommitFile {
    CommitFile {
        id: CommitFileId::derived(&[sha, path]),
        commit_sha: sha.into(),
        file_path: path.into(),
        change_type: FileChangeType::Config,
        diff_text: None,
        lines_added: added,
        lines_removed: 1,
    }
}

fn deployment(id: &str, svc: &Service, at: DateTime<Utc>, image: &str, feed: &str) -> DeploymentEvent {
    DeploymentEvent {
        deployment_event_id: DeploymentId::derived(&["changes-test", id]),
        service_id: svc.service_id,
        started_at: at,
        finished_at: Some(at + Duration::minutes(2)),
        deploy_type: DeployType::Argo,
        image_ref: Some(image.into()),
        revision: Some(format!("{id}0000000000000000")),
        metadata: json!({"feed": feed, "url": format!("https://argocd.example/applications/{id}")}),
    }
}

fn range(d: &DeploymentEvent, shas: &[&str]) -> DeploymentCommitRange {
    DeploymentCommitRange {
        deployment_event_id: d.deployment_event_id,
        previous_revision: Some("prev".into()),
        current_revision: d.revision.clone().unwrap_or_default(),
        is_rollback: false,
        commit_shas: shas.iter().map(|s| s.to_string()).collect(),
    }
}

fn config(id: &str, svc: Option<&Service>, at: DateTime<Utc>, resource: &str) -> ConfigChangeEvent {
    ConfigChangeEvent {
        config_change_id: ConfigChangeId::derived(&["changes-test", id]),
        service_id: svc.map(|s| s.service_id),
        detected_at: at,
        source: ConfigSource::K8sConfigmap,
        change_kind: ChangeKind::ConfigmapKey,
        resource_name: resource.into(),
        diff_payload: json!({"field": "data.POOL_SIZE", "old_value": "20", "new_value": "2"}),
        actor: Some("system:serviceaccount:ops:deployer".into()),
        audit_log_ref: Some(format!("audit-{id}")),
    }
}

/// What project A holds: two services, two deployments with their ranges, a
/// config change of checkout, a cluster-wide one, a commit nothing deployed, and an
/// incident of checkout whose top hypothesis blames the checkout deployment.
struct Seeded {
    d_checkout: String,
    d_payments: String,
    k_checkout: String,
    k_cluster: String,
    incident: IncidentId,
}

async fn seed(stores: &Stores) -> Seeded {
    let (checkout, payments) = (service("checkout"), service("payments"));
    let t = t0();
    let d1 = deployment("d1", &checkout, t - Duration::hours(3), "registry/checkout:1.4.0", "argocd");
    let d2 = deployment("d2", &payments, t - Duration::hours(1), "registry/payments:2.0.1", "github");
    let k1 = config("k1", Some(&checkout), t - Duration::minutes(30), "checkout-config");
    let k2 = config("k2", None, t - Duration::minutes(10), "cluster-dns");
    let batch = RecordBatch {
        services: vec![checkout.clone(), payments.clone()],
        deployments: vec![d1.clone(), d2.clone()],
        commit_ranges: vec![range(&d1, &["c2", "c1"]), range(&d2, &["c3"])],
        config_changes: vec![k1.clone(), k2.clone()],
        commits: vec![
            commit("c1", "shop/checkout", "lower the pool size\n\nbody", t - Duration::hours(5)),
            commit("c2", "shop/checkout", "retry twice", t - Duration::hours(4)),
            commit("c3", "shop/payments", "new client", t - Duration::hours(2)),
            commit("c4", "shop/docs", "typo", t - Duration::minutes(20)),
        ],
        commit_files: vec![file("c1", "config/pool.yaml", 3), file("c2", "src/retry.rs", 5), file("c2", "src/a.rs", 2)],
        ..RecordBatch::default()
    };
    // Through a feed delivery, as the deploy feeds write: the deployments' commits are
    // linked to their services in the graph.
    let delivery = Delivery::new(Feed::Deployments, "changes-seed", t, batch);
    inquest_feeds::apply(stores, &delivery).await.expect("seed delivery");
    stores
        .topology
        .upsert_edges(&[DependsOn { from: checkout.service_key(), to: payments.service_key() }])
        .await
        .expect("edge");
    let incident = Incident {
        incident_id: IncidentId::derived(&["changes-test", "incident"]),
        service_id: checkout.service_id,
        status: IncidentStatus::Open,
        trigger_type: "error_rate_spike".into(),
        severity: 2,
        window_start: t,
        window_end: t + Duration::minutes(30),
        created_at: t,
        updated_at: t,
        resolved_at: None,
        resolution_kind: None,
        resolution_summary: None,
        resolved_hypothesis_id: None,
    };
    stores
        .records
        .apply_batch(&RecordBatch { incidents: vec![incident.clone()], ..RecordBatch::default() })
        .await
        .expect("incident");
    let hypothesis = |rank: i32, culprit: String| Hypothesis {
        hypothesis_id: HypothesisId::derived(&["changes-test", &culprit]),
        incident_id: incident.incident_id,
        rank,
        hypothesis_type: HypothesisType::Release,
        title: format!("hypothesis {rank}"),
        confidence: 0.5,
        evidence_ids: vec![],
        details: json!({"culprit": culprit, "service_key": checkout.service_key(), "score": 1.0 / f64::from(rank)}),
    };
    let record = InvestigationRecord {
        incident_id: incident.incident_id,
        evidence: vec![],
        hypotheses: vec![
            hypothesis(2, format!("config_change:{}", k1.config_change_id)),
            hypothesis(1, format!("deployment:{}", d1.deployment_event_id)),
        ],
        report: IncidentReport {
            report_id: ReportId::derived(&["changes-test", "report"]),
            incident_id: incident.incident_id,
            created_at: t,
            model_info: json!({}),
            report_markdown: "report".into(),
            evidence_ids: vec![],
        },
    };
    stores.records.save_investigation(&record).await.expect("investigation");
    Seeded {
        d_checkout: d1.deployment_event_id.to_string(),
        d_payments: d2.deployment_event_id.to_string(),
        k_checkout: k1.config_change_id.to_string(),
        k_cluster: k2.config_change_id.to_string(),
        incident: incident.incident_id,
    }
}

/// Project B: the same service key with a deployment of its own, inside A's range.
async fn seed_other(stores: &Stores) -> String {
    let checkout = service("checkout");
    let d = deployment("b1", &checkout, t0() - Duration::hours(2), "registry/checkout:bravo", "argocd");
    let batch = RecordBatch { services: vec![checkout], deployments: vec![d.clone()], ..RecordBatch::default() };
    stores.records.apply_batch(&batch).await.expect("project b");
    d.deployment_event_id.to_string()
}

fn ids(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {v}"))
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_string())
        .collect()
}

async fn get(router: &Router, uri: &str, project: &str) -> (StatusCode, Value) {
    let r = send(router, "get", uri, &[("x-inquest-project", project)], None).await;
    (r.status, r.body)
}

fn range_query() -> String {
    let from = (t0() - Duration::hours(6)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = (t0() + Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    format!("from={from}&to={to}")
}

async fn the_timeline_orders_filters_caps_and_isolates(router: Router, s: Seeded, other: String) {
    let q = range_query();
    let (status, v) = get(&router, &format!("/api/changes?service=checkout&{q}"), "default").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // Newest first; payments' deployment and the commit nothing shipped are not checkout's.
    assert_eq!(
        ids(&v),
        vec![s.k_cluster.clone(), s.k_checkout.clone(), s.d_checkout.clone(), "c2".into(), "c1".into()]
    );
    assert_eq!(v["services"], json!(["default/default/checkout"]));
    assert_eq!(v["truncated"], false);
    let items = v["items"].as_array().expect("items");
    let dep = &items[2];
    assert_eq!(dep["kind"], "deployment");
    assert_eq!(dep["ref"], format!("deployment_events/{}", s.d_checkout));
    assert_eq!(dep["title"], "deploy registry/checkout:1.4.0");
    assert_eq!(
        dep["source"],
        json!({"kind": "argo", "feed": "argocd", "url": "https://argocd.example/applications/d1"})
    );
    let range: Vec<(&str, u64, i64)> = dep["commits"]
        .as_array()
        .expect("range")
        .iter()
        .map(|c| {
            (c["sha"].as_str().unwrap_or(""), c["files"].as_u64().unwrap_or(0), c["lines_added"].as_i64().unwrap_or(0))
        })
        .collect();
    assert_eq!(range, vec![("c2", 2, 7), ("c1", 1, 3)]);
    assert_eq!(dep["details"]["previous_revision"], "prev");
    let cfg = &items[1];
    assert_eq!(cfg["title"], "configmap_key checkout-config data.POOL_SIZE");
    assert_eq!(cfg["service_key"], "default/default/checkout");
    assert_eq!(cfg["source"]["kind"], "k8s_configmap");
    assert_eq!(cfg["source"]["actor"], "system:serviceaccount:ops:deployer");
    assert_eq!(cfg["source"]["audit_log_ref"], "audit-k1");
    assert!(items[0]["service_key"].is_null(), "the cluster-wide change has no service");
    let c1 = &items[4];
    assert_eq!((c1["kind"].as_str(), c1["title"].as_str()), (Some("commit"), Some("lower the pool size")));
    assert_eq!(c1["source"], json!({"kind": "git", "actor": "ci-bot", "repo": "shop/checkout"}));
    assert_eq!(c1["details"]["deployed_in"], json!([s.d_checkout]));
    assert!(items.iter().all(|i| i["culprit"] == false), "no incident, no culprit");
    let times: Vec<DateTime<Utc>> =
        items.iter().map(|i| i["at"].as_str().expect("at").parse().expect("rfc3339")).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");

    // Every service: payments' deployment and range, and the unshipped commit.
    let (_, all) = get(&router, &format!("/api/changes?{q}"), "default").await;
    let all = ids(&all);
    for want in [&s.d_payments, &"c3".to_string(), &"c4".to_string(), &s.d_checkout] {
        assert!(all.contains(want), "{want} missing from {all:?}");
    }
    assert!(!all.contains(&other), "project B's deployment shows in A: {all:?}");
    assert_eq!(all.len(), 8, "{all:?}");

    // Kinds, time and the cap.
    let (_, deps) =
        get(&router, &format!("/api/changes?service=default/default/checkout&kind=deployment&{q}"), "default").await;
    assert_eq!(ids(&deps), vec![s.d_checkout.clone()]);
    let (_, two) = get(&router, &format!("/api/changes?kind=config_change,commit&limit=2&{q}"), "default").await;
    assert_eq!(ids(&two), vec![s.k_cluster.clone(), "c4".to_string()]);
    assert_eq!((two["truncated"].as_bool(), two["limit"].as_u64()), (Some(true), Some(2)));
    let recent = (t0() - Duration::minutes(45)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (_, late) =
        get(&router, &format!("/api/changes?service=checkout&from={recent}&to=2026-11-01T13:00:00Z"), "default").await;
    assert_eq!(ids(&late), vec![s.k_cluster.clone(), s.k_checkout.clone()]);
    for (query, field) in [
        ("from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", "from"),
        ("from=yesterday", "from"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("kind=deploy", "kind"),
        ("service=", "service"),
    ] {
        let (status, e) = get(&router, &format!("/api/changes?{query}"), "default").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {e}");
        assert_eq!(e["error"]["field"], field, "{query}: {e}");
    }
    let (status, _) = get(&router, "/api/changes?service=nowhere", "default").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The incident: checkout's radius (payments is one hop away), its window minus
    // the lookback (240 min: 08:00 to 12:30), the top hypothesis's deployment marked.
    let (status, inc) = get(&router, &format!("/api/incidents/{}/changes", s.incident), "default").await;
    assert_eq!(status, StatusCode::OK, "{inc}");
    assert_eq!(inc["from"], "2026-11-01T08:00:00+00:00");
    assert_eq!(inc["to"], "2026-11-01T12:30:00+00:00");
    assert_eq!(inc["culprit"], format!("deployment:{}", s.d_checkout));
    assert_eq!(
        ids(&inc),
        vec![
            s.k_cluster.clone(),
            s.k_checkout.clone(),
            s.d_payments.clone(),
            "c3".into(),
            s.d_checkout.clone(),
            "c2".into()
        ]
    );
    let marked: Vec<&str> = inc["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["culprit"] == true)
        .map(|i| i["id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(marked, vec![s.d_checkout.as_str()]);

    // Project B sees its own deployment only, and not A's incident.
    let (_, b) = get(&router, &format!("/api/changes?service=checkout&{q}"), "bravo").await;
    assert_eq!(ids(&b), vec![other]);
    let (status, _) = get(&router, &format!("/api/incidents/{}/changes", s.incident), "bravo").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn bravo() -> ProjectId {
    ProjectId::new("bravo").expect("project id")
}

/// The open app (the local owner of every project) on `stores`, with project B.
async fn app_on(stores: &Stores) -> Router {
    let (ingest, _) = in_memory(Policy::default_policy());
    let access_store = Arc::new(EmbeddedAccessStore::in_memory().expect("access store"));
    let project = Project { project_id: bravo(), name: "bravo".into(), created_at: Utc::now() };
    access_store.create_project(&project).await.expect("project b");
    let access = Access::open(access_store, &prometheus::Registry::new()).expect("access metrics");
    inquest_server::app(AppState::new(stores.clone(), Arc::new(TemplateReport), ingest, Arc::new(access)))
}

#[tokio::test]
async fn changes_on_the_embedded_store() {
    let stores = EmbeddedStore::in_memory().expect("store").stores();
    let s = seed(&stores).await;
    let other = seed_other(&stores.for_project(&bravo())).await;
    the_timeline_orders_filters_caps_and_isolates(app_on(&stores).await, s, other).await;
}

#[tokio::test]
async fn changes_on_postgres() {
    let Some(url) = inquest_contract::postgres::server_url("changes_on_postgres") else { return };
    let db = inquest_contract::postgres::FreshDb::create(&url).await;
    let pg = inquest_store_postgres::PostgresStore::connect(&db.url, &inquest_store_postgres::PoolSettings::default())
        .expect("pool");
    pg.migrate().await.expect("migrate");
    let project = Project { project_id: bravo(), name: "bravo".into(), created_at: Utc::now() };
    pg.access().create_project(&project).await.expect("project b");
    let mut stores = EmbeddedStore::in_memory().expect("store").stores();
    stores.records = Arc::new(pg);
    let s = seed(&stores).await;
    let other = seed_other(&stores.for_project(&bravo())).await;
    the_timeline_orders_filters_caps_and_isolates(app_on(&stores).await, s, other).await;
}
