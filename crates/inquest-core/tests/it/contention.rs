//! A release in contention: a deploy on a service shortly before the onset, which its
//! callers then see as a failing dependency, stays the leading explanation; the same
//! symptoms without the deploy stay `dependency` on that service.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use inquest_core::{InvestigationConfig, investigate};
use inquest_fixtures::FixtureCase;

use crate::loaded;

fn start() -> DateTime<Utc> {
    "2026-11-03T14:00:00Z".parse().expect("time")
}

/// frontend calls api, api calls auth and catalog. `auth` is deployed `deploy` minutes
/// before the onset with a library bump (`go.sum`, labelled `other` by its commit) and
/// a stricter token check; from the onset the calls from api into auth fail (25 points
/// more), api and frontend return errors, auth's own error rate rises a little (it
/// answers 401s quickly, its latency stays flat). With `deploy` `None` the same symptoms
/// come without any change.
fn write_case(dir: &Path, deploy: Option<i64>) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let at = |m: i64| (start() + Duration::minutes(m)).to_rfc3339();
    let mut files = vec![
        (
            "case.json",
            r#"{ "id": "release-auth-token-check", "description": "auth release", "cluster": "c1", "namespace": "shop" }"#
                .to_string(),
        ),
        (
            "services.json",
            r#"[{ "name": "frontend", "kind": "service" }, { "name": "api", "kind": "service" },
                { "name": "auth", "kind": "service" }, { "name": "catalog", "kind": "service" }]"#
                .to_string(),
        ),
        (
            "topology.json",
            r#"[{ "from": "frontend", "to": "api" }, { "from": "api", "to": "auth" }, { "from": "api", "to": "catalog" }]"#
                .to_string(),
        ),
        (
            "incident.json",
            format!(
                r#"{{ "service": "frontend", "trigger_type": "custom", "severity": 2, "window_start": "{}", "window_end": "{}" }}"#,
                at(0),
                at(25)
            ),
        ),
        (
            "truth.json",
            if deploy.is_some() {
                r#"{ "service": "auth", "hypothesis_type": "release", "culprit": { "deployment": "dep-auth-2-4-0" }, "notes": "" }"#
            } else {
                r#"{ "service": "auth", "hypothesis_type": "dependency", "culprit": null, "notes": "" }"#
            }
            .to_string(),
        ),
    ];
    if let Some(before) = deploy {
        files.push((
            "deployments.json",
            format!(
                r#"[{{ "id": "dep-auth-2-4-0", "service": "auth", "started_at": "{}", "finished_at": "{}",
                     "deploy_type": "argo", "image_ref": "registry.example.com/shop/auth:2.4.0",
                     "revision": "a1b2c3d", "previous_revision": "9f8e7d6", "is_rollback": false,
                     "commits": ["a1b2c3d"], "metadata": {{}} }}]"#,
                at(-before),
                at(3 - before)
            ),
        ));
        files.push((
            "commits.json",
            format!(
                r#"[{{ "sha": "a1b2c3d", "repo": "shop/auth", "author": "dev", "authored_at": "{}",
                     "message": "bump jwt library; reject tokens without audience",
                     "files": [
                       {{ "path": "go.sum", "change_type": "other", "diff": "-github.com/golang-jwt/jwt/v4 v4.5.0\n+github.com/golang-jwt/jwt/v5 v5.2.1\n", "lines_added": 1, "lines_removed": 1 }},
                       {{ "path": "internal/token/verify.go", "change_type": "auth", "diff": "+\tif claims.Audience == nil {{\n+\t\treturn ErrNoAudience\n+\t}}\n", "lines_added": 3, "lines_removed": 0 }}
                     ] }}]"#,
                at(-60)
            ),
        ));
    }
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("write");
    }
    let mut csv = String::from("ts,service,metric,value\n");
    for m in -120..25i64 {
        let ts = at(m);
        let noise = (m.rem_euclid(5)) as f64 * 0.001;
        let after = m >= 0;
        for (svc, broken) in [("frontend", 0.18), ("api", 0.22), ("auth", 0.04), ("catalog", 0.01)] {
            let v = if after { broken + noise } else { 0.01 + noise };
            writeln!(csv, "{ts},{svc},error_rate,{v}").expect("write");
            let lat = 80.0 + (m.rem_euclid(7)) as f64;
            writeln!(csv, "{ts},{svc},latency_p99_ms,{lat}").expect("write");
        }
        if m >= -5 {
            let v = if after { 0.26 } else { 0.01 };
            writeln!(csv, "{ts},auth,\"service_graph_error_ratio{{client=\"\"api\"\"}}\",{v}").expect("write");
            writeln!(csv, "{ts},catalog,\"service_graph_error_ratio{{client=\"\"api\"\"}}\",0.01").expect("write");
        }
    }
    std::fs::write(dir.join("metrics.csv"), csv).expect("write metrics");
}

async fn ranked(deploy: Option<i64>) -> Vec<(String, String, f64)> {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("case");
    write_case(&dir, deploy);
    let case = FixtureCase::read(&dir).expect("case parses");
    let stores = loaded(&case).await;
    let id = case.batch.incidents[0].incident_id;
    let now = case.batch.incidents[0].window_end;
    let inv = investigate(&stores, id, &InvestigationConfig::default(), now).await.expect("investigation");
    inv.hypotheses
        .iter()
        .map(|h| {
            let key = h.details["service_key"].as_str().unwrap_or_default();
            (
                inquest_domain::service_name_of(key).to_string(),
                h.hypothesis_type.to_string(),
                h.details["score"].as_f64().unwrap_or(0.0),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_deploy_its_callers_see_failing_stays_ahead_of_dependency_on_it() {
    for before in [5, 12] {
        let with = ranked(Some(before)).await;
        assert_eq!((with[0].0.as_str(), with[0].1.as_str()), ("auth", "release"), "{before} min: {with:?}");
        assert_eq!((with[1].0.as_str(), with[1].1.as_str()), ("auth", "dependency"), "{before} min: {with:?}");
    }
    // Further back the deploy's timing weighs less: it stays in contention, right
    // behind auth failing as a dependency and ahead of everything else.
    let with = ranked(Some(40)).await;
    let release = with.iter().position(|(s, t, _)| s == "auth" && t == "release").expect("release ranked");
    assert_eq!(release, 1, "{with:?}");
}

#[tokio::test]
async fn the_same_symptoms_without_a_change_are_dependency_on_that_service() {
    let without = ranked(None).await;
    assert_eq!((without[0].0.as_str(), without[0].1.as_str()), ("auth", "dependency"), "{without:?}");
}
