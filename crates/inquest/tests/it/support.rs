//! What the tests that run `inquest serve` share: a server on a free loopback
//! port, killed by its handle when dropped, waiting for a condition, and a load
//! of alerts whose acknowledged ids are recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A running `inquest serve`; SIGKILLed (only this child) when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Start `inquest --data-dir <data> serve` with `env` and wait until the intake answers.
    /// It is open (`INQUEST_AUTH_REQUIRED=false`, allowed on loopback) unless `env` says
    /// otherwise: these tests are about what happens behind the credential check.
    pub async fn start(data: &Path, env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_inquest"));
        cmd.arg("--data-dir").arg(data).args(["serve", "--bind", &format!("127.0.0.1:{port}")]);
        // Only what the test gives: no store or policy from the developer's environment.
        for var in [
            "INQUEST_POSTGRES_URL",
            "INQUEST_CONFIG",
            "INQUEST_DATA_DIR",
            "INQUEST_CLICKHOUSE_URL",
            "INQUEST_INTAKE_POLICY_FILE",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("INQUEST_AUTH_REQUIRED", "false");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(data.with_extension("log")).expect("server log");
        let out = log.try_clone().expect("server log");
        let child = cmd.stdout(out).stderr(log).spawn().expect("inquest serve starts");
        let mut server = Server { child, url: format!("http://127.0.0.1:{port}") };
        let client = reqwest::Client::new();
        let url = format!("{}/health/intake", server.url);
        let started = Instant::now();
        loop {
            if client.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            // A server that exited will never answer: say why at once.
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = std::fs::read_to_string(data.with_extension("log")).unwrap_or_default();
                panic!("inquest serve exited with {status} before it was ready:\n{log}");
            }
            assert!(started.elapsed() < Duration::from_secs(60), "timed out after 60s waiting for inquest serve ready");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// SIGTERM and wait: the workers stop and the files are closed.
    pub fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// Under `CI=true` a missing server is a failure; locally the test is skipped.
pub fn require_env(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{var} is not set under CI=true: its scripts/ci.d hook should have set it");
            }
            eprintln!("skipping: {var} is not set (run scripts/test.sh, or source its scripts/ci.d hook)");
            None
        }
    }
}

/// Request `i` of the load: three alerts over ten services, fingerprints repeating across requests.
pub fn request(i: usize) -> Value {
    json!([
        {"service": format!("svc-{}", i % 10), "severity": "high", "message": format!("error rate {}", i % 4)},
        {"service": format!("svc-{}", (i + 3) % 10), "severity": "critical", "message": format!("latency {}", i % 2)},
        {"service": format!("svc-{}", i % 10), "severity": "low", "message": "disk 80%"}
    ])
}

/// fingerprint -> alert ids acknowledged for it.
pub type Acked = Arc<Mutex<BTreeMap<String, BTreeSet<String>>>>;

/// Post request `i` to `url`; on a 202, record the acknowledged alert ids. False when not acknowledged.
pub async fn post(client: &reqwest::Client, url: &str, i: usize, acked: &Acked) -> bool {
    let Ok(r) = client.post(format!("{url}/api/alerts")).json(&request(i)).send().await else { return false };
    if r.status().as_u16() != 202 {
        return false;
    }
    let Ok(v) = r.json::<Value>().await else { return false };
    let mut a = acked.lock().expect("lock");
    for res in v["results"].as_array().expect("results") {
        let fp = res["fingerprint"].as_str().expect("fingerprint").to_string();
        a.entry(fp).or_default().insert(res["alert_id"].as_str().expect("alert id").to_string());
    }
    true
}

/// `GET url` as JSON; the test fails with the URL when the request does.
pub async fn get(client: &reqwest::Client, url: String) -> Value {
    client.get(&url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}")).json().await.expect("json")
}

/// A fresh database on the test server of `admin`, migrated by `inquest migrate` run
/// with its own data folder under `dir`.
pub async fn migrated_postgres(admin: &str, dir: &Path) -> inquest_contract::postgres::FreshDb {
    let db = inquest_contract::postgres::FreshDb::create(admin).await;
    let migrate = Command::new(env!("CARGO_BIN_EXE_inquest"))
        .arg("--data-dir")
        .arg(dir.join("migrate"))
        .arg("migrate")
        .env("INQUEST_POSTGRES_URL", &db.url)
        .output()
        .expect("inquest migrate");
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    db
}

/// Run `inquest --data-dir <data> ARGS` (the embedded store, nothing from the
/// developer's environment), feeding `stdin`; its stdout, or a panic with its stderr.
pub fn inquest(data: &Path, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_inquest"));
    cmd.arg("--data-dir").arg(data).args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for var in ["INQUEST_POSTGRES_URL", "INQUEST_CONFIG", "INQUEST_DATA_DIR", "INQUEST_CLICKHOUSE_URL"] {
        cmd.env_remove(var);
    }
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().expect("run inquest");
    if let Some(text) = stdin {
        child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("inquest ran");
    assert!(out.status.success(), "inquest {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A new API token of `project` with `role`, made with the CLI (before `serve` holds the file).
pub fn token(data: &Path, project: &str, role: &str) -> String {
    let out = inquest(data, &["tokens", "create", "--project", project, "--role", role, "--name", role], None);
    out.split_whitespace().find(|w| w.starts_with("inq_")).expect("the token is printed").to_string()
}
