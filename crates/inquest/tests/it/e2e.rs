//! End-to-end: `inquest demo`, a second project with one case, a user who owns the
//! first and views the second, an API token; then `inquest serve` (the built binary,
//! credentials required) on a free loopback port, driven in Debian's chromium by
//! playwright-core (`tests/e2e/dashboard.cjs`): sign in, open the list, open an
//! incident, confirm a hypothesis, reload and see it persisted; post two alerts with
//! the token, acknowledge the incident they open, reload and see it triaged; read the
//! audit log; open a runbook synced from a folder and tick a step; switch project and
//! see only its incidents; save screenshots. Needs
//! `INQUEST_E2E_CHROMIUM` and `INQUEST_E2E_NODE_MODULES` (set by
//! `scripts/ci.d/40-browser.sh`); skips locally without them, fails under CI=true.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        // Stop only the server this test started, by its handle.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn dashboard_confirm_persists_in_a_real_browser() {
    let (Ok(chromium), Ok(node_modules)) =
        (std::env::var("INQUEST_E2E_CHROMIUM"), std::env::var("INQUEST_E2E_NODE_MODULES"))
    else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "INQUEST_E2E_CHROMIUM / INQUEST_E2E_NODE_MODULES unset under CI: scripts/ci.d/40-browser.sh must set them"
            );
        }
        eprintln!(
            "skipping the browser e2e test: INQUEST_E2E_CHROMIUM and INQUEST_E2E_NODE_MODULES are unset (run scripts/test.sh, or source scripts/ci.d/40-browser.sh)"
        );
        return;
    };
    let bin = env!("CARGO_BIN_EXE_inquest");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");

    let demo = Command::new(bin)
        .args(["--data-dir"])
        .arg(&data)
        .args(["demo", "--fixtures"])
        .arg(root.join("fixtures"))
        .arg("--out")
        .arg(tmp.path().join("reports"))
        .output()
        .expect("run inquest demo");
    assert!(demo.status.success(), "inquest demo failed: {}", String::from_utf8_lossy(&demo.stderr));
    let run = |args: &[&str], stdin: Option<&str>| crate::support::inquest(&data, args, stdin);
    let second_case = root.join("fixtures/traffic-search-bot-scrape");
    run(&["projects", "create", "second", "--name", "Second"], None);
    run(&["--project", "second", "load", second_case.to_str().expect("utf-8 path")], None);
    let password = "e2e-password-0123456789";
    run(
        &["users", "add", "ops", "--password-stdin", "--project", "default", "--role", "owner"],
        Some(&format!("{password}\n")),
    );
    run(&["members", "set", "ops", "--project", "second", "--role", "viewer"], None);
    let token = crate::support::token(&data, "default", "engineer");
    let runbooks = tmp.path().join("runbooks");
    std::fs::create_dir_all(runbooks.join("db")).expect("runbook folder");
    std::fs::write(
        runbooks.join("db/postgres-failover.md"),
        "---\ntitle: Postgres failover\nservice: orders\ntags: [db]\n---\n## Promote\n1. promote the replica\n2. repoint the pool\n",
    )
    .expect("runbook file");
    let synced = run(&["runbooks", "sync", runbooks.to_str().expect("utf-8 path")], None);
    assert!(synced.contains("1 created"), "{synced}");

    let mut child = Command::new(bin)
        .arg("--data-dir")
        .arg(&data)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start inquest serve");
    let stdout = child.stdout.take().expect("stdout");
    let server = Server(child);
    let mut lines = BufReader::new(stdout).lines();
    let started = Instant::now();
    let url = loop {
        let line = lines.next().expect("serve printed its address").expect("read stdout");
        if let Some(rest) = line.strip_prefix("dashboard: ") {
            break rest.trim().trim_end_matches('/').to_string();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "server did not start");
    };

    let shots = root.join("e2e-screenshots");
    let status = Command::new("node")
        .arg(root.join("crates/inquest/tests/e2e/dashboard.cjs"))
        .env("INQUEST_E2E_URL", &url)
        .env("INQUEST_E2E_CHROMIUM", &chromium)
        .env("INQUEST_E2E_NODE_MODULES", &node_modules)
        .env("INQUEST_E2E_SCREENSHOTS", &shots)
        .env("INQUEST_E2E_LOGIN", "ops")
        .env("INQUEST_E2E_PASSWORD", password)
        .env("INQUEST_E2E_TOKEN", &token)
        .env("INQUEST_E2E_SECOND", "second")
        .env("INQUEST_E2E_SECOND_TEXT", "search")
        .status()
        .expect("run node");
    drop(server);
    assert!(status.success(), "the browser script failed ({status})");
    for f in [
        "01-incident-list.png",
        "02-incident.png",
        "03-confirmed-after-reload.png",
        "04-narrow.png",
        "05-lifecycle.png",
        "06-audit.png",
        "07-second-project.png",
        "08-runbook.png",
    ] {
        let meta = std::fs::metadata(shots.join(f)).unwrap_or_else(|e| panic!("screenshot {f}: {e}"));
        assert!(meta.len() > 10_000, "screenshot {f} is suspiciously small");
    }
}
