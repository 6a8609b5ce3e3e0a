//! `inquest demo` leaves one report per fixture, is idempotent, and every evidence
//! id a report cites exists in the store.

use std::path::{Path, PathBuf};
use std::process::Command;

use inquest_store_embedded::EmbeddedStore;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn inquest(data: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_inquest"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .expect("inquest runs");
    assert!(
        out.status.success(),
        "inquest {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test]
async fn demo_twice_writes_reports_without_duplicating_data() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let reports = tmp.path().join("reports");
    let fx = fixtures();
    let args = ["demo", "--fixtures", fx.to_str().expect("utf-8 path"), "--out", reports.to_str().expect("utf-8 path")];
    let first = inquest(&data, &args);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(stdout.contains("AC@1"), "{stdout}");
    let cases = std::fs::read_dir(&fx)
        .expect("fixtures")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().join("case.json").is_file()))
        .count();
    let written = std::fs::read_dir(&reports).expect("reports").count();
    assert_eq!(written, cases, "one report per fixture");

    let count = |data: &Path| {
        let data = data.to_path_buf();
        async move {
            let stores = EmbeddedStore::open(&data.join("inquest.redb")).expect("open").stores();
            let incidents = stores.records.list_incidents().await.expect("incidents");
            let mut rows = (incidents.len(), 0, 0, 0);
            for i in &incidents {
                rows.1 += stores.records.hypotheses(i.incident_id).await.expect("h").len();
                rows.2 += stores.records.evidence(i.incident_id).await.expect("e").len();
                rows.3 += stores.records.reports(i.incident_id).await.expect("r").len();
            }
            (rows, stores)
        }
    };
    let (before, _) = count(&data).await;
    inquest(&data, &args);
    let (after, stores) = count(&data).await;
    assert_eq!(before, after, "(incidents, hypotheses, evidence, reports) changed on a second demo");
    assert_eq!(after.0, cases);
    assert_eq!(after.3, cases, "an identical report is kept once");

    for i in stores.records.list_incidents().await.expect("incidents") {
        let evidence: std::collections::HashSet<_> =
            stores.records.evidence(i.incident_id).await.expect("e").into_iter().map(|e| e.evidence_id).collect();
        let reports = stores.records.reports(i.incident_id).await.expect("r");
        let latest = reports.last().expect("a report");
        assert!(!latest.evidence_ids.is_empty());
        for id in &latest.evidence_ids {
            assert!(evidence.contains(id), "report cites {id}, which is not in the store");
            assert!(latest.report_markdown.contains(&id.to_string()));
        }
    }
}

#[test]
fn investigate_and_report_by_case_id_and_clear_error_for_unknown_incident() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let case = fixtures().join("dependency-stripe-latency");
    inquest(&data, &["load", case.to_str().expect("utf-8")]);
    let out = inquest(&data, &["investigate", "dependency-stripe-latency"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("stripe-api"));
    let out = inquest(&data, &["report", "dependency-stripe-latency"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("# Incident report"));

    let bad = Command::new(env!("CARGO_BIN_EXE_inquest"))
        .arg("--data-dir")
        .arg(&data)
        .args(["investigate", "00000000-0000-0000-0000-000000000000"])
        .output()
        .expect("runs");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not found"));
}
