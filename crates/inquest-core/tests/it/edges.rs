//! Edge evidence in the ranking: a service whose callers all saw their calls into it
//! degrade ranks above those callers, even when the callers' own metrics moved more;
//! without service-graph series nothing of it shows.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use inquest_core::{InvestigationConfig, investigate};
use inquest_fixtures::FixtureCase;

use crate::loaded;

fn start() -> DateTime<Utc> {
    "2026-11-02T10:00:00Z".parse().expect("time")
}

/// frontend calls api and worker, both call store. From the window on, api and worker
/// are slow (their own latency triples), store's own latency rises a little; with
/// `edges`, the calls into store from api and from worker take 20 times as long, and
/// the calls into api and worker from the frontend five times.
fn write_case(dir: &Path, edges: bool) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let files = [
        (
            "case.json",
            r#"{ "id": "edges-store-slow", "description": "store slow", "cluster": "c1", "namespace": "shop" }"#
                .to_string(),
        ),
        (
            "services.json",
            r#"[{ "name": "frontend", "kind": "service" }, { "name": "api", "kind": "service" },
                { "name": "worker", "kind": "service" }, { "name": "store", "kind": "service" }]"#
                .to_string(),
        ),
        (
            "topology.json",
            r#"[{ "from": "frontend", "to": "api" }, { "from": "frontend", "to": "worker" },
                { "from": "api", "to": "store" }, { "from": "worker", "to": "store" }]"#
                .to_string(),
        ),
        (
            "incident.json",
            format!(
                r#"{{ "service": "frontend", "trigger_type": "custom", "severity": 2, "window_start": "{}", "window_end": "{}" }}"#,
                start().to_rfc3339(),
                (start() + Duration::minutes(20)).to_rfc3339()
            ),
        ),
        (
            "truth.json",
            r#"{ "service": "store", "hypothesis_type": "dependency", "culprit": null, "notes": "" }"#.to_string(),
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("write");
    }
    let mut csv = String::from("ts,service,metric,value\n");
    for m in -90..20i64 {
        let ts = (start() + Duration::minutes(m)).to_rfc3339();
        let noise = (m.rem_euclid(7)) as f64;
        let after = m >= 0;
        for (svc, slow) in [("frontend", 400.0), ("api", 300.0), ("worker", 300.0), ("store", 122.0)] {
            let v = if after { slow + noise } else { 100.0 + noise };
            writeln!(csv, "{ts},{svc},latency_ms,{v}").expect("write");
        }
        // Edge series only around the incident, as traces of a few minutes give them.
        if edges && m >= -1 {
            for (callee, caller, before, slow) in [
                ("store", "api", 0.01, 0.2),
                ("store", "worker", 0.01, 0.2),
                ("api", "frontend", 0.05, 0.25),
                ("worker", "frontend", 0.05, 0.25),
            ] {
                let v = if after { slow } else { before };
                writeln!(csv, "{ts},{callee},\"service_graph_latency_p50_seconds{{client=\"\"{caller}\"\"}}\",{v}")
                    .expect("write");
            }
        }
    }
    std::fs::write(dir.join("metrics.csv"), csv).expect("write metrics");
}

async fn ranked(edges: bool) -> Vec<(String, String, Vec<String>)> {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("case");
    write_case(&dir, edges);
    let case = FixtureCase::read(&dir).expect("case parses");
    let stores = loaded(&case).await;
    let id = case.batch.incidents[0].incident_id;
    let now = case.batch.incidents[0].window_end;
    let inv = investigate(&stores, id, &InvestigationConfig::default(), now).await.expect("investigation");
    inv.hypotheses
        .iter()
        .map(|h| {
            let key = h.details["service_key"].as_str().unwrap_or_default();
            let factors = h.details["factors"]
                .as_array()
                .map(|fs| fs.iter().filter_map(|f| f["name"].as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            (inquest_domain::service_name_of(key).to_string(), h.hypothesis_type.to_string(), factors)
        })
        .collect()
}

#[tokio::test]
async fn a_callee_degraded_from_two_callers_ranks_above_its_callers() {
    let without = ranked(false).await;
    assert!(without.iter().all(|(_, _, fs)| !fs.iter().any(|f| f == "edge_evidence")), "{without:?}");
    let first = &without[0];
    assert!(first.0 == "api" || first.0 == "worker", "metrics alone blame a caller: {without:?}");

    let with = ranked(true).await;
    let (service, t, factors) = &with[0];
    assert_eq!((service.as_str(), t.as_str()), ("store", "dependency"), "{with:?}");
    assert!(factors.iter().any(|f| f == "edge_evidence"));
    let rank = |name: &str| with.iter().position(|(s, t, _)| s == name && t == "dependency").expect("ranked");
    assert!(rank("store") < rank("api") && rank("store") < rank("worker"), "{with:?}");
}
