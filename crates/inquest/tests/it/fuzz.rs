//! Schemathesis (PyPI) fuzzes every operation of the OpenAPI document of a real
//! `inquest serve` (credentials required, the demo loaded) with a valid owner
//! token: no answer may be a 5xx. The fuzzer comes from `INQUEST_TEST_SCHEMATHESIS`
//! (set by `scripts/ci.d/70-schemathesis.sh`).

use std::process::Command;

use crate::support::{Server, inquest, require_env, token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_with_a_valid_token() {
    let Some(fuzzer) = require_env("INQUEST_TEST_SCHEMATHESIS") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    inquest(&data, &["demo", "--out", dir.path().join("reports").to_str().expect("utf-8")], None);
    let owner = token(&data, "default", "owner");
    let server = Server::start(&data, &[("INQUEST_AUTH_REQUIRED", "true"), ("INQUEST_INTAKE_WORKERS", "0")]).await;
    let out = Command::new(&fuzzer)
        .args(["run", &format!("{}/api/openapi.json", server.url)])
        .args(["--checks", "not_a_server_error", "--max-examples", "15", "--seed", "1", "--request-timeout", "20"])
        .args(["--header", &format!("Authorization: Bearer {owner}")])
        // The two protobuf receivers take bodies schemathesis cannot generate; their
        // malformed-body handling has tests of its own (remote_write, traces).
        .args(["--exclude-path", "/api/v1/write", "--exclude-path", "/v1/traces"])
        .current_dir(dir.path())
        .output()
        .expect("run schemathesis");
    let report = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    drop(server);
    assert!(out.status.success(), "schemathesis found failures:\n{report}");
    // The summary's "N generated, N passed": every case ran and passed, and there were cases.
    let counts: Vec<u64> = report
        .lines()
        .find(|l| l.contains(" generated, "))
        .map(|l| l.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default();
    assert!(
        counts.len() >= 2 && counts[0] > 100 && counts[0] == counts[1],
        "schemathesis ran too few cases:\n{report}"
    );
}
