//! Investigations whose only evidence arrived through the change feeds: a topology
//! upload, a real git repository synced with `inquest git sync`, deployments posted
//! as the generic feed takes them and Kubernetes audit events as an API server posts
//! them, on the embedded store and on Postgres. The top hypothesis must name the
//! change that did it, not a distractor.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::support::{Server, get, migrated_postgres, require_env, wait_until};

/// A git command in `dir`, with a fixed identity and dates; its stdout.
fn git(dir: &Path, args: &[&str], when: DateTime<Utc>) -> String {
    let date = when.to_rfc3339();
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The checkout service's repository: an initial commit, a docs commit, then the
/// commit that cuts the payment client's timeout. Returns the three shas.
fn checkout_repo(dir: &Path, now: DateTime<Utc>) -> [String; 3] {
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    git(dir, &["init", "-q", "-b", "main"], now);
    let client = |ms: u32| {
        format!(
            "use std::time::Duration;\n\n/// The payment provider's client.\npub struct PaymentsClient {{ http: reqwest::Client }}\n\n\
             pub const TIMEOUT: Duration = Duration::from_millis({ms});\npub const RETRIES: u32 = 3;\n"
        )
    };
    std::fs::write(dir.join("src/payments_client.rs"), client(2000)).expect("write");
    std::fs::write(dir.join("README.md"), "# checkout\n").expect("write");
    git(dir, &["add", "-A"], now);
    git(dir, &["commit", "-q", "-m", "checkout: first version"], now - chrono::Duration::days(3));
    let first = git(dir, &["rev-parse", "HEAD"], now);
    std::fs::write(dir.join("README.md"), "# checkout\n\nThe retry budget is three attempts.\n").expect("write");
    git(dir, &["commit", "-q", "-am", "docs: describe the retry budget"], now - chrono::Duration::days(2));
    let docs = git(dir, &["rev-parse", "HEAD"], now);
    std::fs::write(dir.join("src/payments_client.rs"), client(200)).expect("write");
    git(dir, &["commit", "-q", "-am", "payments client: cut the timeout to 200 ms"], now - chrono::Duration::hours(2));
    let timeout = git(dir, &["rev-parse", "HEAD"], now);
    [first, docs, timeout]
}

/// The store a world runs on: the embedded default, or a fresh migrated Postgres database.
enum Backend {
    Embedded,
    Postgres(String),
}

/// `inquest ARGS` against the world's stores; its stdout.
fn inquest(data: &Path, backend: &Backend, args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_inquest"));
    cmd.arg("--data-dir").arg(data).args(args);
    for var in ["INQUEST_POSTGRES_URL", "INQUEST_CONFIG", "INQUEST_DATA_DIR", "INQUEST_CLICKHOUSE_URL"] {
        cmd.env_remove(var);
    }
    if let Backend::Postgres(url) = backend {
        cmd.env("INQUEST_POSTGRES_URL", url);
    }
    let out = cmd.output().expect("inquest runs");
    assert!(out.status.success(), "inquest {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

const TOPOLOGY: &str = "\
services:
  - {name: frontend, depends_on: [checkout]}
  - {name: checkout, depends_on: [payments, search]}
  - {name: payments}
  - {name: search, depends_on: [search-db]}
databases:
  - {name: search-db, engine: postgres}
";

/// An audit event of a Deployment in namespace `default`, as the API server posts it
/// at level RequestResponse.
fn audit_event(id: &str, verb: &str, at: DateTime<Utc>, object: Value) -> Value {
    let name = object["metadata"]["name"].as_str().expect("name").to_string();
    json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse", "auditID": id,
        "stage": "ResponseComplete", "verb": verb,
        "requestURI": format!("/apis/apps/v1/namespaces/default/deployments/{name}"),
        "user": {"username": "ops@example.com", "groups": ["system:authenticated"]},
        "sourceIPs": ["10.0.0.7"], "userAgent": "kubectl/v1.30.2 (linux/amd64) kubernetes/3968350",
        "objectRef": {"resource": "deployments", "namespace": "default", "name": name, "apiGroup": "apps",
            "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": if verb == "create" { 201 } else { 200 }},
        "requestObject": object, "responseObject": object,
        "requestReceivedTimestamp": at.to_rfc3339(), "stageTimestamp": at.to_rfc3339(),
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""}
    })
}

/// A Deployment object with one container and its environment.
fn deployment(name: &str, env: &[(&str, &str)]) -> Value {
    let env: Vec<Value> = env.iter().map(|(k, v)| json!({"name": k, "value": v})).collect();
    json!({"kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
        "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "app",
            "image": format!("registry.example.com/{name}:1.4.2"), "env": env,
            "resources": {"limits": {"memory": "512Mi", "cpu": "500m"}}}]}}}})
}

/// A running world: `inquest serve` over the chosen store with the checkout clone configured.
struct World {
    server: Server,
    client: reqwest::Client,
    shas: [String; 3],
    now: DateTime<Utc>,
    _db: Option<inquest_contract::postgres::FreshDb>,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start(postgres: Option<&str>) -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = Utc::now();
        let repo = dir.path().join("checkout.git");
        let shas = checkout_repo(&repo, now);
        let data = dir.path().join("data");
        let (backend, db) = match postgres {
            Some(admin) => {
                let db = migrated_postgres(admin, dir.path()).await;
                (Backend::Postgres(db.url.clone()), Some(db))
            }
            None => (Backend::Embedded, None),
        };
        // The commits and their diffs come from the clone, before serve holds the store.
        let repo_path = repo.to_str().expect("utf-8 path");
        let synced = inquest(&data, &backend, &["git", "sync", "--repo", "shop/checkout", "--path", repo_path]);
        assert!(synced.contains("3 commits"), "{synced}");
        let config = dir.path().join("inquest.toml");
        std::fs::write(&config, format!("[[feeds.git]]\nrepo = \"shop/checkout\"\npath = \"{repo_path}\"\n"))
            .expect("config");
        let config = config.to_str().expect("utf-8 path").to_string();
        let mut env = vec![("INQUEST_CONFIG", config.clone())];
        if let Backend::Postgres(url) = &backend {
            env.push(("INQUEST_POSTGRES_URL", url.clone()));
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let server = Server::start(&data, &env).await;
        let world = World { server, client: reqwest::Client::new(), shas, now, _db: db, _dir: dir };
        let r = world
            .client
            .put(format!("{}/api/topology/sources/catalog", world.server.url))
            .header("content-type", "application/yaml")
            .body(TOPOLOGY)
            .send()
            .await
            .expect("topology upload");
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
        world
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self.client.post(format!("{}{path}", self.server.url)).json(&body).send().await.expect("post");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert_eq!(status, 202, "POST {path}: {text}");
        serde_json::from_str(&text).expect("a JSON receipt")
    }

    fn minutes_ago(&self, m: i64) -> DateTime<Utc> {
        self.now - chrono::Duration::minutes(m)
    }

    /// Two critical alerts on `service` (the default policy approves at two), then the
    /// investigation's top hypothesis.
    async fn investigate(&self, service: &str) -> (String, Value) {
        for message in ["p99 latency above 2 s", "error rate above 5%"] {
            let alert = json!({"service": service, "severity": "critical", "message": message,
                "timestamp": self.minutes_ago(2).to_rfc3339()});
            let r = self.client.post(format!("{}/api/alerts", self.server.url)).json(&alert).send().await;
            assert!(r.expect("alert").status().is_success());
        }
        let url = self.server.url.clone();
        wait_until("the incident is investigated", Duration::from_secs(120), || async {
            let jobs = get(&self.client, format!("{url}/api/jobs")).await;
            jobs.as_array().is_some_and(|j| !j.is_empty() && j.iter().all(|j| j["state"] == "succeeded"))
        })
        .await;
        let jobs = get(&self.client, format!("{url}/api/jobs")).await;
        let id = jobs[0]["incident_id"].as_str().expect("incident id").to_string();
        let detail = get(&self.client, format!("{url}/api/incidents/{id}")).await;
        let hypotheses = detail["hypotheses"].as_array().expect("hypotheses");
        let top = hypotheses.iter().min_by_key(|h| h["rank"].as_i64().unwrap_or(i64::MAX)).expect("a hypothesis");
        (id, top.clone())
    }
}

/// A deploy of checkout carrying the timeout cut, 12 minutes before the alerts; a
/// harmless env change on search 70 minutes before and a payments deploy 55 minutes
/// before. The deploy is the top hypothesis, with its commit range from the clone.
async fn a_release_is_found(postgres: Option<&str>) {
    let w = World::start(postgres).await;
    let [first, _, timeout] = &w.shas;
    let receipt = w
        .post(
            "/api/feeds/deployments",
            json!([
                {"service": "checkout", "started_at": w.minutes_ago(12).to_rfc3339(),
                 "finished_at": w.minutes_ago(10).to_rfc3339(), "deploy_type": "argo",
                 "image_ref": "registry.example.com/checkout:2.0.0", "revision": timeout,
                 "previous_revision": first, "repo": "shop/checkout", "event_id": "rollout-1"},
                {"service": "payments", "started_at": w.minutes_ago(55).to_rfc3339(), "deploy_type": "helm",
                 "image_ref": "registry.example.com/payments:7.1.0", "event_id": "rollout-2"}
            ]),
        )
        .await;
    assert_eq!(receipt["outcome"], "stored", "{receipt}");
    let path = "/api/feeds/kubernetes/audit/default";
    let before = deployment("search", &[("LOG_LEVEL", "info")]);
    let after = deployment("search", &[("LOG_LEVEL", "debug")]);
    let events = json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": [
        audit_event("a-1", "create", w.minutes_ago(200), before),
        audit_event("a-2", "update", w.minutes_ago(70), after),
    ]});
    let receipt = w.post(path, events).await;
    assert_eq!(receipt["outcome"], "stored", "{receipt}");

    let (id, top) = w.investigate("checkout").await;
    assert_eq!(top["hypothesis_type"], "release", "{top}");
    assert_eq!(top["details"]["service_key"], "default/default/checkout", "{top}");
    let culprit = top["details"]["culprit"].as_str().expect("a culprit");
    assert!(culprit.starts_with("deployment:"), "{top}");
    // The range came from the clone: the docs commit and the timeout cut, not the first one.
    let changes = get(&w.client, format!("{}/api/incidents/{id}/changes", w.server.url)).await;
    let items = changes["items"].as_array().expect("items");
    let deploy = items.iter().find(|c| c["culprit"] == true).expect("the culprit is on the timeline");
    assert_eq!(deploy["kind"], "deployment", "{deploy}");
    let shas: Vec<&str> =
        deploy["commits"].as_array().expect("commits").iter().filter_map(|c| c["sha"].as_str()).collect();
    assert!(shas.contains(&timeout.as_str()) && !shas.contains(&first.as_str()), "{deploy}");
    assert!(items.iter().any(|c| c["kind"] == "config_change"), "the search change is on the timeline: {changes}");
}

/// The search Deployment's database pool cut from 50 to 5, six minutes before the
/// alerts on search; a docs-only checkout deploy 30 minutes before. The config change
/// is the top hypothesis.
async fn a_config_change_is_found(postgres: Option<&str>) {
    let w = World::start(postgres).await;
    let [first, docs, _] = &w.shas;
    w.post(
        "/api/feeds/deployments",
        json!({"service": "checkout", "started_at": w.minutes_ago(30).to_rfc3339(), "deploy_type": "k8s",
               "revision": docs, "previous_revision": first, "repo": "shop/checkout", "event_id": "rollout-docs"}),
    )
    .await;
    let before = deployment("search", &[("DB_POOL_MAX", "50"), ("LOG_LEVEL", "info")]);
    let after = deployment("search", &[("DB_POOL_MAX", "5"), ("LOG_LEVEL", "info")]);
    let events = json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": [
        audit_event("b-1", "create", w.minutes_ago(300), before),
        audit_event("b-2", "update", w.minutes_ago(6), after),
    ]});
    let receipt = w.post("/api/feeds/kubernetes/audit/default", events).await;
    assert_eq!(receipt["outcome"], "stored", "{receipt}");

    let (_, top) = w.investigate("search").await;
    assert_eq!(top["details"]["service_key"], "default/default/search", "{top}");
    let culprit = top["details"]["culprit"].as_str().expect("a culprit");
    assert!(culprit.starts_with("config_change:"), "{top}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_that_arrived_through_the_feeds_is_the_top_hypothesis() {
    a_release_is_found(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_change_that_arrived_through_the_feeds_is_the_top_hypothesis() {
    a_config_change_is_found(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feeds_alone_find_the_release_and_the_config_change_on_postgres() {
    let Some(admin) = require_env("INQUEST_TEST_POSTGRES_URL") else { return };
    a_release_is_found(Some(&admin)).await;
    a_config_change_is_found(Some(&admin)).await;
}
