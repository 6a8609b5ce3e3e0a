//! Real clients against a running `inquest serve`: Debian's Alertmanager posting its
//! webhook (fed alerts through its own HTTP API) with an integration's bearer secret
//! (`http_config.authorization`, credentials required on the server) creates,
//! attaches, suppresses and resolves incidents as the policy file says, and approved incidents are
//! investigated; Debian's Prometheus scrapes `/metrics`. Alertmanager and Prometheus
//! are started here on free loopback ports (paths from `INQUEST_TEST_ALERTMANAGER_BIN`
//! and `INQUEST_TEST_PROMETHEUS_BIN`, set by `scripts/ci.d/50-alerting.sh`) and killed
//! by their handles at the end.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use crate::support::{Server, free_port, require_env, wait_until};

/// Kills the process (by its handle) when dropped, also when an assertion fails.
pub struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn spawn(bin: &str, args: &[String], dir: &Path) -> Proc {
    let log = std::fs::File::create(dir.join("server.log")).expect("log");
    let child = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    Proc(child)
}

async fn get(client: &reqwest::Client, url: String) -> Value {
    let r = client.get(&url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(r.status().is_success(), "GET {url}: {}", r.status());
    r.json().await.expect("json")
}

/// The lifecycle of `service`'s incidents, from the intake's API.
async fn incidents_of(client: &reqwest::Client, base: &str, service: &str) -> Vec<Value> {
    let all = get(client, format!("{base}/api/lifecycle")).await;
    all.as_array().expect("list").iter().filter(|i| i["service"] == service).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_firing_at_inquest_serve_follows_the_policy() {
    let Some(bin) = require_env("INQUEST_TEST_ALERTMANAGER_BIN") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    // The default rules, plus a maintenance window for `search` around now.
    let policy = dir.path().join("policy.toml");
    let now = Utc::now();
    std::fs::write(
        &policy,
        format!(
            "{}\n[[maintenance]]\nservice = \"search\"\nfrom = \"{}\"\nuntil = \"{}\"\n",
            inquest_intake::DEFAULT_POLICY,
            (now - chrono::Duration::hours(1)).to_rfc3339(),
            (now + chrono::Duration::hours(1)).to_rfc3339()
        ),
    )
    .expect("policy");
    let policy_path = policy.display().to_string();
    let data = dir.path().join("data");
    let admin = crate::support::token(&data, "default", "admin");
    let inquest = Server::start(
        &data,
        &[
            ("INQUEST_INTAKE_POLICY_FILE", &policy_path),
            ("INQUEST_INTAKE_WORKERS", "1"),
            ("INQUEST_AUTH_REQUIRED", "true"),
        ],
    )
    .await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {admin}").parse().expect("header"));
    let client = reqwest::Client::builder().default_headers(headers).build().expect("client");
    // The webhook's own credential: an integration of the project, its secret shown once.
    let created: Value = client
        .post(format!("{}/api/integrations", inquest.url))
        .json(&json!({"kind": "alertmanager", "name": "alertmanager", "webhook_auth": "bearer"}))
        .send()
        .await
        .expect("create the integration")
        .json()
        .await
        .expect("json");
    let secret = created["secret"].as_str().expect("the integration's secret").to_string();
    let refused = reqwest::Client::new().post(format!("{}/api/alertmanager", inquest.url)).body("{}").send().await;
    assert_eq!(refused.expect("post").status(), reqwest::StatusCode::UNAUTHORIZED, "a webhook without the secret");
    let config = format!(
        "route:\n  receiver: inquest\n  group_by: ['alertname', 'service']\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
         receivers:\n  - name: inquest\n    webhook_configs:\n      - url: {}/api/alertmanager\n        send_resolved: true\n\
         \x20       http_config:\n          authorization:\n            type: Bearer\n            credentials: {secret}\n",
        inquest.url
    );
    std::fs::write(dir.path().join("alertmanager.yml"), config).expect("config");
    let port = free_port();
    let am = format!("http://127.0.0.1:{port}");
    let _alertmanager = spawn(
        &bin,
        &[
            format!("--config.file={}", dir.path().join("alertmanager.yml").display()),
            format!("--storage.path={}", dir.path().join("am").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--cluster.listen-address=".into(),
        ],
        dir.path(),
    );
    wait_until("alertmanager ready", Duration::from_secs(30), || async {
        client.get(format!("{am}/-/ready")).send().await.is_ok_and(|r| r.status().is_success())
    })
    .await;

    let started = (Utc::now() - chrono::Duration::seconds(5)).to_rfc3339();
    let alert = |name: &str, service: &str, severity: &str, ends: Option<String>| {
        let mut a = json!({
            "labels": {"alertname": name, "service": service, "severity": severity},
            "annotations": {"summary": format!("{name} on {service}")},
            "startsAt": started,
        });
        if let Some(e) = ends {
            a["endsAt"] = json!(e);
        }
        a
    };
    let post = |alerts: Value| {
        let (client, am) = (client.clone(), am.clone());
        async move {
            let r =
                client.post(format!("{am}/api/v2/alerts")).json(&alerts).send().await.expect("post to alertmanager");
            let status = r.status();
            assert!(
                status.is_success(),
                "alertmanager refused alerts: {status} {}",
                r.text().await.unwrap_or_default()
            );
        }
    };
    post(json!([alert("HighErrorRate", "checkout", "critical", None)])).await;
    wait_until("checkout incident opened", Duration::from_secs(30), || async {
        !incidents_of(&client, &inquest.url, "checkout").await.is_empty()
    })
    .await;
    post(json!([
        alert("HighLatency", "checkout", "critical", None),
        alert("DiskFilling", "cart", "info", None),
        alert("Down", "search", "critical", None)
    ]))
    .await;
    wait_until("four alerts in three incidents", Duration::from_secs(30), || async {
        let all = get(&client, format!("{}/api/lifecycle", inquest.url)).await;
        all.as_array().expect("list").iter().map(|i| i["alert_count"].as_u64().unwrap_or(0)).sum::<u64>() >= 4
    })
    .await;

    // checkout: opened, then attached (not a second incident), then approved (2 alerts in 10 min).
    let checkout = incidents_of(&client, &inquest.url, "checkout").await;
    assert_eq!(checkout.len(), 1, "the second checkout alert attaches: {checkout:?}");
    let checkout = &checkout[0];
    assert_eq!((checkout["status"].as_str(), checkout["alert_count"].as_u64()), (Some("open"), Some(2)));
    let decisions: Vec<&str> = checkout["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .map(|d| d["decision"].as_str().expect("d"))
        .collect();
    // Correlation's decisions in order; once the investigation ran, the response
    // policy's (it tells the channels the diagnosis) follow them.
    assert_eq!(decisions[..3], ["opened", "attached", "approved"], "{decisions:?}");
    assert!(decisions[3..].iter().all(|d| *d == "notified"), "{decisions:?}");
    let id = checkout["incident_id"].as_str().expect("id").to_string();
    // cart is below the minimum severity; search is in its maintenance window.
    let cart = &incidents_of(&client, &inquest.url, "cart").await[0];
    assert_eq!(cart["status"], "suppressed");
    assert!(cart["decisions"][0]["rationale"].as_str().expect("r").contains("below the minimum"), "{cart}");
    let search = &incidents_of(&client, &inquest.url, "search").await[0];
    assert_eq!(search["status"], "suppressed");
    assert!(search["decisions"][0]["rationale"].as_str().expect("r").contains("maintenance"), "{search}");
    assert_eq!(search["approved"], false);

    // The approved incident is investigated by a worker and its report is on the dashboard's API.
    wait_until("checkout investigated", Duration::from_secs(120), || async {
        let jobs = get(&client, format!("{}/api/jobs", inquest.url)).await;
        jobs.as_array().expect("jobs").iter().any(|j| j["incident_id"] == id.as_str() && j["state"] == "succeeded")
    })
    .await;
    let jobs = get(&client, format!("{}/api/jobs", inquest.url)).await;
    assert_eq!(jobs.as_array().expect("jobs").len(), 1, "only the approved incident is investigated: {jobs}");
    let detail = get(&client, format!("{}/api/incidents/{id}", inquest.url)).await;
    assert_eq!(detail["incident"]["status"], "open", "{detail}");
    assert!(detail["report"].is_object(), "a report was written: {detail}");

    // Alertmanager's resolved notifications resolve the incident (the policy says so).
    let past = Utc::now().to_rfc3339();
    post(json!([
        alert("HighErrorRate", "checkout", "critical", Some(past.clone())),
        alert("HighLatency", "checkout", "critical", Some(past))
    ]))
    .await;
    wait_until("checkout resolved by alertmanager", Duration::from_secs(60), || async {
        get(&client, format!("{}/api/incidents/{id}/lifecycle", inquest.url)).await["status"] == "resolved"
    })
    .await;
    let lifecycle = get(&client, format!("{}/api/incidents/{id}/lifecycle", inquest.url)).await;
    assert!(lifecycle["time_to_resolve_seconds"].as_f64().is_some_and(|s| s > 0.0), "{lifecycle}");
    wait_until("the resolution reaches the records store", Duration::from_secs(30), || async {
        get(&client, format!("{}/api/incidents/{id}", inquest.url)).await["incident"]["status"] == "resolved"
    })
    .await;
    let metrics =
        client.get(format!("{}/metrics", inquest.url)).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("inquest_incident_mttr_seconds_count 1"), "{metrics}");
    assert!(metrics.contains("inquest_alert_correlations_total{outcome=\"attached\"} 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_inquest_serve() {
    let Some(bin) = require_env("INQUEST_TEST_PROMETHEUS_BIN") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let inquest = Server::start(&dir.path().join("data"), &[("INQUEST_INTAKE_WORKERS", "0")]).await;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/api/alerts", inquest.url))
        .json(&json!([{"service": "checkout", "severity": "high", "message": "m1"}, {"service": "checkout", "severity": "high", "message": "m2"}]))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 202);
    let target = inquest.url.trim_start_matches("http://");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: inquest\n    static_configs:\n      - targets: ['{target}']\n"
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).expect("config");
    let port = free_port();
    let prom = format!("http://127.0.0.1:{port}");
    let _prometheus = spawn(
        &bin,
        &[
            format!("--config.file={}", dir.path().join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        dir.path(),
    );
    wait_until("prometheus target up", Duration::from_secs(60), || async {
        let Ok(r) = client.get(format!("{prom}/api/v1/targets")).send().await else { return false };
        let Ok(v) = r.json::<Value>().await else { return false };
        v["data"]["activeTargets"].as_array().is_some_and(|t| t.iter().any(|t| t["health"] == "up"))
    })
    .await;
    for (query, want) in [
        ("sum(inquest_alerts_received_total{severity=\"high\",source=\"generic\"})", "2"),
        ("sum(inquest_incidents{status=\"open\"})", "1"),
    ] {
        wait_until(query, Duration::from_secs(30), || {
            let (client, url) = (client.clone(), format!("{prom}/api/v1/query"));
            async move {
                let Ok(r) = client.get(url).query(&[("query", query)]).send().await else { return false };
                let Ok(v) = r.json::<Value>().await else { return false };
                v["status"] == "success" && v["data"]["result"][0]["value"][1] == want
            }
        })
        .await;
    }
}
