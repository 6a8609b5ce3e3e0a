//! Fixture parsing: every bundled case reads; a bad case is refused with the file
//! and the field or line named.

use std::path::{Path, PathBuf};

use inquest_fixtures::{FixtureCase, FixtureError, discover_cases};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// A copy of one bundled case in a temporary folder, to break on purpose.
fn copy_case(id: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(fixtures().join(id)).expect("case dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).expect("copy");
    }
    tmp
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains(from), "{file} has no '{from}'");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
}

fn error_of(dir: &Path) -> String {
    match FixtureCase::read(dir) {
        Ok(_) => panic!("a broken case was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_bundled_case_reads_and_the_mix_is_complete() {
    let dirs = discover_cases(&fixtures()).expect("cases");
    let mut per_type = std::collections::BTreeMap::new();
    for d in &dirs {
        let case = FixtureCase::read(d).unwrap_or_else(|e| panic!("{e}"));
        assert!(!case.points.is_empty());
        *per_type.entry(case.truth.hypothesis_type.to_string()).or_insert(0) += 1;
    }
    assert!(dirs.len() >= 15);
    for t in ["release", "config", "traffic", "dependency", "db", "unknown"] {
        assert!(per_type.get(t).copied().unwrap_or(0) >= 2, "{t}: {per_type:?}");
    }
    assert!(per_type.get("infra").copied().unwrap_or(0) >= 1);
}

#[test]
fn unknown_service_is_named_with_its_file_and_field() {
    let tmp = copy_case("release-checkout-payment-timeout");
    edit(tmp.path(), "incident.json", "\"service\": \"checkout\"", "\"service\": \"chekout\"");
    let msg = error_of(tmp.path());
    assert!(msg.contains("incident.json") && msg.contains("chekout"), "{msg}");
}

#[test]
fn unknown_field_and_bad_enum_are_refused() {
    let tmp = copy_case("config-checkout-pool-size");
    edit(tmp.path(), "config_changes.json", "\"change_kind\"", "\"change_knd\"");
    let msg = error_of(tmp.path());
    assert!(msg.contains("config_changes.json") && msg.contains("change_knd"), "{msg}");

    let tmp = copy_case("config-checkout-pool-size");
    edit(tmp.path(), "truth.json", "\"config\"", "\"configuration\"");
    let msg = error_of(tmp.path());
    assert!(msg.contains("truth.json") && msg.contains("configuration"), "{msg}");
}

#[test]
fn bad_metric_line_is_named_by_line_number() {
    let tmp = copy_case("traffic-search-bot-scrape");
    let path = tmp.path().join("metrics.csv");
    let mut text = std::fs::read_to_string(&path).expect("read");
    text.push_str("2026-09-01T00:00:00Z,search,rps,not-a-number\n");
    let lines = text.lines().count();
    std::fs::write(&path, text).expect("write");
    match FixtureCase::read(tmp.path()) {
        Err(FixtureError::Line { path, line, .. }) => {
            assert!(path.ends_with("metrics.csv"));
            assert_eq!(line as usize, lines);
        }
        other => panic!("expected a line error, got {other:?}"),
    }
}

#[test]
fn truth_culprit_must_exist() {
    let tmp = copy_case("release-checkout-payment-timeout");
    let text = std::fs::read_to_string(tmp.path().join("truth.json")).expect("truth");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let local = v["culprit"]["deployment"].as_str().expect("deployment culprit").to_string();
    edit(tmp.path(), "truth.json", &local, "dep-does-not-exist");
    let msg = error_of(tmp.path());
    assert!(msg.contains("truth.json") && msg.contains("dep-does-not-exist"), "{msg}");
}
