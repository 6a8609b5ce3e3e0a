//! Integration tests of the importers: a small RCAEval-layout case round-trips into a
//! fixture case the fixture reader accepts; a bad cell is reported with file and line,
//! and nothing is written; a Nezha case's traces give its call graph and edge series.

use std::fmt::Write as _;
use std::path::Path;

use inquest_fixtures::FixtureCase;
use inquest_import::{import_nezha, import_rcaeval, write_cases};

fn rcaeval_case(root: &Path, bad_line: Option<usize>) -> std::path::PathBuf {
    let dir = root.join("re1").join("cartservice_cpu").join("1");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut csv = String::from("time,frontend_latency-50,cartservice_cpu,cartservice_mem\n");
    for i in 0..200u64 {
        let t = 1_700_000_000 + i * 60;
        let cpu = if i >= 180 { 0.9 } else { 0.1 + (i % 5) as f64 * 0.01 };
        let lat = if i >= 181 { 400.0 } else { 100.0 + (i % 7) as f64 };
        if bad_line == Some(i as usize + 2) {
            writeln!(csv, "{t},{lat},oops,50").expect("write");
        } else {
            writeln!(csv, "{t},{lat},{cpu},50").expect("write");
        }
    }
    std::fs::write(dir.join("data.csv"), csv).expect("write csv");
    std::fs::write(dir.join("inject_time.txt"), (1_700_000_000u64 + 180 * 60).to_string()).expect("write inject");
    root.join("re1")
}

#[test]
fn rcaeval_case_round_trips_into_a_fixture_case() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = rcaeval_case(tmp.path(), None);
    let cases = import_rcaeval(&root).expect("import");
    assert_eq!(cases.len(), 1);
    let c = &cases[0];
    assert_eq!(c.truth_service, "cartservice");
    assert_eq!(c.truth_type, "infra");
    assert_eq!(c.incident_service, "frontend");
    assert_eq!(c.meta.fault_type, "cpu");
    let out = tmp.path().join("out");
    let dirs = write_cases(&cases, &out).expect("write");
    let fixture = FixtureCase::read(&dirs[0]).expect("the fixture reader accepts it");
    assert_eq!(fixture.points.len(), 600);
    assert!(fixture.truth.service_key.ends_with("/cartservice"));
    assert_eq!(fixture.edges.len(), 1, "a star from the front service");
}

#[test]
fn a_bad_cell_names_file_and_line_and_nothing_is_written() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = rcaeval_case(tmp.path(), Some(7));
    let err = import_rcaeval(&root).expect_err("bad cell").to_string();
    assert!(err.contains("data.csv line 7"), "{err}");
    assert!(err.contains("oops"), "{err}");
    assert!(!tmp.path().join("out").exists());
}

/// A Nezha layout with two dates: one fault with traces on the first, one without on the
/// second. Services: the gateway (entry of every trace), travel (called by it, slow
/// after the injection) and an admin service that no trace reaches.
fn nezha_layout(root: &Path) {
    let pods = [
        "ts-gateway-service-6f6cfc45b-h5m2n",
        "ts-travel-service-64469b5b48-25zj6",
        "ts-admin-service-5f55b6cf68-77cfw",
    ];
    for (date, hour) in [("2023-01-29", "09"), ("2023-01-30", "11")] {
        let dir = root.join("rca_data").join(date);
        let metric = dir.join("metric");
        std::fs::create_dir_all(&metric).expect("mkdir");
        let fault = format!(
            r#"{{"{hour}": [{{"inject_time": "{date} {hour}:30:04", "inject_timestamp": "0", "inject_pod": "{}", "inject_type": "network_delay"}}]}}"#,
            pods[1]
        );
        std::fs::write(dir.join(format!("{date}-fault_list.json")), fault).expect("write faults");
        let mut front = String::from("Time,TimeStamp,ServiceName,SuccessRate(%),LatencyP50(s)\n");
        let mut pod_rows = String::from("Time,TimeStamp,PodName,CpuUsage(m)\n");
        let start = chrono::NaiveDateTime::parse_from_str(&format!("{date} {hour}:00:09"), "%Y-%m-%d %H:%M:%S")
            .expect("time")
            - chrono::Duration::minutes(40);
        for m in 0..80 {
            let time = (start + chrono::Duration::minutes(m)).format("%Y-%m-%d %H:%M:%S%.9f +0000 UTC m=+0.1");
            writeln!(front, "{time},0,Frontend,100,0.1").expect("write");
            writeln!(pod_rows, "{time},0,pod,{}", 100 + m % 3).expect("write");
        }
        std::fs::write(metric.join("front_service.csv"), front).expect("write front");
        for pod in pods {
            std::fs::write(metric.join(format!("{pod}_metric.csv")), &pod_rows).expect("write pod");
        }
    }
    // Three minute files of traces around the first fault, cut on the metric clock
    // (09:29:09 to 09:32:09); travel answers in 20 ms before and 400 ms after 09:30:04.
    let trace_dir = root.join("rca_data").join("2023-01-29").join("trace");
    std::fs::create_dir_all(&trace_dir).expect("mkdir");
    let t0 = 1_674_984_549i64; // 2023-01-29 09:29:09 UTC
    for file in 0..3i64 {
        let mut body =
            String::from("TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration\n");
        for i in 0..60i64 {
            let s = (t0 + file * 60 + i) * 1_000_000_000;
            let slow = s >= 1_674_984_604 * 1_000_000_000;
            let ms = if slow { 400 } else { 20 } * 1_000_000;
            let id = format!("t{file}x{i}");
            // The callee's span first: its parent arrives after it.
            writeln!(body, "{id},c,g2,{},/api/v1/trips,{},{},0", pods[1], s + 2_000_000, s + 2_000_000 + ms)
                .expect("w");
            writeln!(body, "{id},g1,root,{},/*,{s},{},0", pods[0], s + ms + 5_000_000).expect("w");
            writeln!(body, "{id},g2,g1,{},HTTP POST,{},{},0", pods[0], s + 1_000_000, s + ms + 4_000_000).expect("w");
        }
        std::fs::write(trace_dir.join(format!("09_{:02}_trace.csv", 30 + file)), body).expect("write trace");
    }
}

#[test]
fn nezha_traces_replace_the_star_with_the_call_graph_and_its_edge_series() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("nezha-mini");
    nezha_layout(&root);
    let cases = import_nezha(&root).expect("import");
    assert_eq!(cases.len(), 2);
    let edge = |a: &str, b: &str| (a.to_string(), b.to_string());
    let traced = &cases[0];
    assert_eq!(
        traced.edges,
        vec![edge("frontend", "ts-gateway-service"), edge("ts-gateway-service", "ts-travel-service")],
        "the derived call graph, not the star"
    );
    let p50: Vec<(chrono::DateTime<chrono::Utc>, f64)> = traced
        .metrics
        .iter()
        .filter(|(_, s, m, _)| {
            s == "ts-travel-service" && m == r#"service_graph_latency_p50_seconds{client="ts-gateway-service"}"#
        })
        .map(|(t, _, _, v)| (*t, *v))
        .collect();
    let (before, after): (Vec<(chrono::DateTime<chrono::Utc>, f64)>, Vec<_>) =
        p50.iter().partition(|(t, _)| *t < traced.window_start);
    assert_eq!((before.len(), after.len()), (1, 2), "{p50:?}");
    assert!(before[0].1 < 0.05 && after.iter().all(|(_, v)| *v > 0.3), "{p50:?}");
    // A day without traces keeps the star over every service.
    let star = &cases[1];
    assert_eq!(star.edges.len(), 3);
    assert!(star.edges.iter().all(|(from, _)| from == "frontend"));
    assert!(!star.metrics.iter().any(|(_, _, m, _)| m.starts_with("service_graph_")));
    // The labelled series names survive writing and reading a fixture case.
    let dirs = write_cases(&cases, &tmp.path().join("out")).expect("write");
    let fixture = FixtureCase::read(&dirs[0]).expect("the fixture reader accepts it");
    assert_eq!(fixture.edges.len(), 2);
    assert!(fixture.points.iter().any(|p| p.metric_name.starts_with("service_graph_latency_p99_seconds{client=")));
}
