//! `--project`: the CLI loads, lists and reports in one project; another sees none
//! of it; with Postgres the project must exist.

use std::path::Path;
use std::process::{Command, Output};

fn inquest(data: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inquest"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("inquest runs")
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_case_loaded_in_one_project_is_not_seen_from_another() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/dependency-stripe-latency");
    let case = case.to_str().expect("utf-8");
    ok(inquest(&data, &[], &["--project", "team-a", "load", case]), "load in team-a");
    ok(inquest(&data, &[], &["--project", "team-a", "investigate", "dependency-stripe-latency"]), "investigate");
    let listed = ok(inquest(&data, &[], &["incidents", "--project", "team-a"]), "incidents in team-a");
    assert!(listed.contains("stripe"), "{listed}");
    // The same project from the environment.
    let report =
        ok(inquest(&data, &[("INQUEST_PROJECT", "team-a")], &["report", "dependency-stripe-latency"]), "report");
    assert!(report.starts_with("# Incident report"), "{report}");
    let default = ok(inquest(&data, &[], &["incidents"]), "incidents in default");
    assert!(!default.contains("stripe"), "the default project sees nothing of team-a: {default}");
    let other = inquest(&data, &[], &["--project", "team-b", "report", "dependency-stripe-latency"]);
    assert!(!other.status.success(), "team-b has no report of team-a's incident");
    let bad = inquest(&data, &[], &["--project", "Not A Slug", "incidents"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("not a project id"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[tokio::test]
async fn with_postgres_the_project_must_exist() {
    let Some(admin) = crate::support::require_env("INQUEST_TEST_POSTGRES_URL") else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = crate::support::migrated_postgres(&admin, tmp.path()).await;
    let env = [("INQUEST_POSTGRES_URL", db.url.as_str())];
    let missing = inquest(&tmp.path().join("data"), &env, &["--project", "ghost", "incidents"]);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("project 'ghost' does not exist"), "{stderr}");
    ok(inquest(&tmp.path().join("data"), &env, &["incidents"]), "the default project exists");
}

/// The production setup: `inquest migrate` as the owner (`postgres.owner_url`), every
/// other command as a login role that is a member of `inquest_app`; doctor says
/// whether row-level security applies to the role of `postgres.url`.
#[tokio::test]
async fn migrate_as_the_owner_then_work_as_a_member_of_inquest_app() {
    let Some(admin) = crate::support::require_env("INQUEST_TEST_POSTGRES_URL") else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let db = inquest_contract::postgres::FreshDb::create(&admin).await;
    let role = format!("inquest_cli_app_{}", uuid::Uuid::new_v4().simple());
    let mut config: tokio_postgres::Config = db.url.parse().expect("url");
    config.user(&role).password("app-password");
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".to_string(),
    };
    let app_url = format!(
        "postgres://{role}:app-password@{host}:{}/{}",
        config.get_ports().first().copied().unwrap_or(5432),
        config.get_dbname().unwrap_or_default()
    );
    // The application's URL is the role's; migrate reaches the owner through owner_url.
    let env = [("INQUEST_POSTGRES_URL", app_url.as_str()), ("INQUEST_POSTGRES_OWNER_URL", db.url.as_str())];
    ok(inquest(&data, &env, &["migrate"]), "migrate as the owner");
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.expect("owner");
    tokio::spawn(conn);
    client
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'app-password' IN ROLE inquest_app;
             INSERT INTO projects (project_id, name) VALUES ('team-a', 'Team A')"
        ))
        .await
        .expect("the login role and a project");
    let doctor = ok(inquest(&data, &env, &["doctor"]), "doctor as the application role");
    assert!(doctor.contains("row-level security: applies to this role"), "{doctor}");
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/dependency-stripe-latency");
    ok(inquest(&data, &env, &["--project", "team-a", "load", case.to_str().expect("utf-8")]), "load as the role");
    ok(inquest(&data, &env, &["--project", "team-a", "investigate", "dependency-stripe-latency"]), "investigate");
    let listed = ok(inquest(&data, &env, &["--project", "team-a", "incidents"]), "incidents");
    assert!(listed.contains("stripe"), "{listed}");
    let default = ok(inquest(&data, &env, &["incidents"]), "incidents in default");
    assert!(!default.contains("stripe"), "{default}");
    // As the owner, doctor warns that the policies do not hold for it.
    let owner_env = [("INQUEST_POSTGRES_URL", db.url.as_str())];
    let doctor = ok(inquest(&data, &owner_env, &["doctor"]), "doctor as the owner");
    assert!(doctor.contains("warning: row-level security is bypassed by role"), "{doctor}");
    drop(db);
    let (admin_client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await.expect("admin");
    tokio::spawn(conn);
    admin_client.batch_execute(&format!("DROP ROLE IF EXISTS {role}")).await.expect("drop the role");
}
