//! Integration tests of the importers: a small RCAEval-layout case round-trips into a
//! fixture case the fixture reader accepts; a bad cell is reported with file and line,
//! and nothing is written.

use std::fmt::Write as _;
use std::path::Path;

use inquest_fixtures::FixtureCase;
use inquest_import::{import_rcaeval, write_cases};

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
