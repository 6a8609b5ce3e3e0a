//! What an installed binary needs: `inquest demo` from any directory (the bundled
//! fixtures), a bad setting or log format stopping `serve` and `worker` at start with
//! the key named, `/health` naming the build, a bounded graceful stop of `serve`, and
//! `migrate --to` on the real Postgres.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::{Server, free_port};

fn inquest_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_inquest"));
    for var in ["INQUEST_POSTGRES_URL", "INQUEST_CONFIG", "INQUEST_DATA_DIR", "INQUEST_CLICKHOUSE_URL"] {
        cmd.env_remove(var);
    }
    cmd.current_dir(cwd).args(args).envs(env.iter().copied()).output().expect("inquest runs")
}

#[test]
fn demo_runs_from_an_empty_directory_on_the_bundled_fixtures() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = inquest_in(cwd.path(), &["demo"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("AC@1"), "{stdout}");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let cases = inquest_fixtures::discover_cases(&fixtures).expect("fixtures").len();
    let reports = std::fs::read_dir(cwd.path().join("reports")).expect("reports written here").count();
    assert_eq!(reports, cases, "one report per bundled case");
    assert!(cwd.path().join(".inquest/inquest.redb").is_file(), "the embedded store in the current directory");
}

#[test]
fn a_bad_setting_stops_serve_and_worker_at_start_naming_the_key() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let bind = format!("127.0.0.1:{}", free_port());
    for (var, value, named) in [
        ("INQUEST_INTAKE_WORKERS", "many", "intake.workers"),
        ("INQUEST_INTAKE_SHUTDOWN_GRACE_SECS", "soon", "intake.shutdown_grace_secs"),
        ("INQUEST_INTAKE_LEASE_SECS", "0", "intake.lease_secs"),
        ("INQUEST_POSTGRES_POOL_MAX_SIZE", "-1", "postgres.pool_max_size"),
        ("INQUEST_LOG_FORMAT", "yaml", "INQUEST_LOG_FORMAT"),
    ] {
        for args in [&["serve", "--bind", bind.as_str()][..], &["worker"][..]] {
            let started = Instant::now();
            let out = inquest_in(cwd.path(), args, &[(var, value)]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{args:?} with {var}={value} must not start");
            assert!(stderr.contains(named), "{args:?} with {var}={value}: {stderr}");
            assert!(started.elapsed() < Duration::from_secs(10), "stopped at start, not later");
        }
    }
    let out = inquest_in(cwd.path(), &["worker"], &[("INQUEST_INTAKE_WORKERS", "0")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("intake.workers is 0"));
}

#[tokio::test]
async fn health_names_the_build_and_serve_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), &[("INQUEST_INTAKE_SHUTDOWN_GRACE_SECS", "5")]).await;
    let health: serde_json::Value =
        reqwest::get(format!("{}/health", server.url)).await.expect("GET /health").json().await.expect("json");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert!(health["commit"].as_str().is_some_and(|c| !c.is_empty()), "{health}");
    let mut server = server;
    let started = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().expect("kill").success());
    let status = server.child.wait().expect("serve exits");
    assert!(status.success(), "serve stopped with {status}");
    assert!(started.elapsed() < Duration::from_secs(5), "within the grace period: {:?}", started.elapsed());
}

#[tokio::test]
async fn migrate_to_moves_the_postgres_schema_down_and_up() {
    let Some(admin) = crate::support::require_env("INQUEST_TEST_POSTGRES_URL") else { return };
    let db = inquest_contract::postgres::FreshDb::create(&admin).await;
    let cwd = tempfile::tempdir().expect("tempdir");
    let pg = [("INQUEST_POSTGRES_URL", db.url.as_str())];
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = inquest_in(cwd.path(), args, env);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = run(&["migrate"], &pg);
    assert!(ok, "{stdout}{stderr}");
    let (ok, stdout, stderr) = run(&["migrate", "--to", "0"], &pg);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("reverted 0004 0004_ingest") && stdout.contains("reverted 0001 0001_init"), "{stdout}");
    assert!(stdout.contains("at version 0"), "{stdout}");
    let (ok, stdout, stderr) = run(&["migrate", "--to", "4"], &pg);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("applied 0001 0001_init") && stdout.contains("applied 0004 0004_ingest"), "{stdout}");
    let (ok, _, stderr) = run(&["migrate", "--to", "99"], &pg);
    assert!(!ok && stderr.contains("no migration 99"), "{stderr}");
    let (ok, _, stderr) = run(&["migrate", "--to", "0"], &[]);
    assert!(!ok && stderr.contains("postgres.url"), "without Postgres there is no version to move: {stderr}");
}
