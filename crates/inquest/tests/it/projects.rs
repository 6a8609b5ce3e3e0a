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
