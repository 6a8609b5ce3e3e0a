//! A topology double that fails or stalls: errors are counted with the right labels
//! and a stalled call becomes a `Timeout` naming the backend and the operation.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use inquest_domain::*;
use inquest_ports::{BlastRadius, ErrorKind, SourceReplaced, StoreError, StoreResult, TopologyStore};
use inquest_telemetry::{ObservedTopology, StoreMetrics};
use prometheus::Registry;

use crate::render;

/// Fails `blast_radius` with `Unavailable`, stalls `commits_touching`, answers the
/// rest, in its project.
struct Double(ProjectId);

#[async_trait]
impl TopologyStore for Double {
    fn backend(&self) -> &'static str {
        "double"
    }
    fn project(&self) -> &ProjectId {
        &self.0
    }
    fn scoped(&self, project: &ProjectId) -> Arc<dyn TopologyStore> {
        Arc::new(Double(project.clone()))
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        Ok(())
    }
    async fn upsert_nodes(&self, _: &[TopologyNode]) -> StoreResult<()> {
        Ok(())
    }
    async fn upsert_edges(&self, _: &[DependsOn]) -> StoreResult<()> {
        Err(StoreError::new(ErrorKind::InvalidInput, "double", "upsert_edges", "edge to nowhere"))
    }
    async fn record_calls(&self, _: &[EdgeCalls]) -> StoreResult<()> {
        Err(StoreError::new(ErrorKind::Unavailable, "double", "record_calls", "connection refused"))
    }
    async fn edge_calls(&self, _: &[String]) -> StoreResult<Vec<EdgeCalls>> {
        Ok(Vec::new())
    }
    async fn link_deployment(&self, _: &str, _: &DeploymentEvent, _: &[Commit]) -> StoreResult<()> {
        Ok(())
    }
    async fn blast_radius(&self, _: &str, _: u32) -> StoreResult<BlastRadius> {
        Err(StoreError::new(ErrorKind::Unavailable, "double", "blast_radius", "connection refused"))
    }
    async fn commits_touching(&self, _: &[String]) -> StoreResult<Vec<(String, String)>> {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(Vec::new())
    }
    async fn replace_source(&self, _: &str, _: &[TopologyNode], _: &[DependsOn]) -> StoreResult<SourceReplaced> {
        Ok(SourceReplaced::default())
    }
}

fn observed(timeout: Duration) -> (ObservedTopology, Registry) {
    let registry = Registry::new();
    let metrics = StoreMetrics::new(&registry).expect("register store metrics");
    (ObservedTopology::new(Arc::new(Double(ProjectId::default_project())), &metrics, timeout), registry)
}

#[tokio::test]
async fn a_scoped_view_is_observed_by_the_same_series_and_timeout() {
    let (topology, registry) = observed(Duration::from_millis(50));
    assert_eq!(topology.project(), &ProjectId::default_project(), "project() is the inner store's");
    let p = ProjectId::new("other").expect("project id");
    let scoped = topology.scoped(&p);
    assert_eq!(scoped.project(), &p, "the view acts in the project asked for");
    scoped.blast_radius("prod/shop/api", 2).await.expect_err("the double fails");
    let e = scoped.commits_touching(&[]).await.expect_err("stalls past the timeout");
    assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
    let text = render(&registry);
    let line = r#"inquest_store_calls_total{operation="blast_radius",outcome="unavailable",store="topology/double"} 1"#;
    assert!(text.contains(line), "missing {line} in\n{text}");
}

#[tokio::test]
async fn the_error_series_exists_before_any_call() {
    let (_topology, registry) = observed(Duration::from_secs(1));
    let text = render(&registry);
    assert!(text.contains(r#"inquest_store_errors_total{store="topology/double"} 0"#), "{text}");
}

#[tokio::test]
async fn errors_are_counted_by_store_operation_and_kind() {
    let (topology, registry) = observed(Duration::from_secs(1));
    assert_eq!(topology.backend(), "double", "backend() names the inner backend");
    let e = topology.blast_radius("prod/shop/api", 2).await.expect_err("the double fails");
    assert_eq!(e.kind, ErrorKind::Unavailable, "the inner error is returned unchanged");
    topology.blast_radius("prod/shop/api", 2).await.expect_err("the double fails");
    topology.upsert_edges(&[]).await.expect_err("the double refuses edges");
    topology.upsert_nodes(&[]).await.expect("the double accepts nodes");

    let text = render(&registry);
    for line in [
        r#"inquest_store_errors_total{store="topology/double"} 3"#,
        r#"inquest_store_calls_total{operation="blast_radius",outcome="unavailable",store="topology/double"} 2"#,
        r#"inquest_store_calls_total{operation="upsert_edges",outcome="invalid_input",store="topology/double"} 1"#,
        r#"inquest_store_calls_total{operation="upsert_nodes",outcome="ok",store="topology/double"} 1"#,
        r#"inquest_store_call_duration_seconds_count{operation="blast_radius",store="topology/double"} 2"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

#[tokio::test]
async fn a_stalled_call_times_out_naming_the_backend_and_operation() {
    let (topology, registry) = observed(Duration::from_millis(200));
    let e = topology.commits_touching(&["prod/shop/api".to_string()]).await.expect_err("the double stalls");
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert!(e.retryable());
    assert_eq!(e.store, "double", "the store is the backend, as in adapters' errors and evidence gaps");
    assert_eq!(e.operation, "commits_touching");
    assert!(e.to_string().contains("200ms"), "{e}");

    let text = render(&registry);
    assert!(
        text.contains(
            r#"inquest_store_calls_total{operation="commits_touching",outcome="timeout",store="topology/double"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"inquest_store_errors_total{store="topology/double"} 1"#), "{text}");
}

#[tokio::test]
async fn one_registry_takes_the_store_metrics_once() {
    let registry = Registry::new();
    StoreMetrics::new(&registry).expect("first registration");
    assert!(StoreMetrics::new(&registry).is_err(), "a second set would collide");
}

#[tokio::test]
async fn recorded_calls_are_observed_as_their_own_operation() {
    let (topology, registry) = observed(Duration::from_secs(1));
    let calls = [EdgeCalls { edge: DependsOn { from: "a".into(), to: "b".into() }, calls: 3, errors: 1 }];
    let e = topology.record_calls(&calls).await.expect_err("the double is down for calls");
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert!(topology.edge_calls(&["a".to_string()]).await.expect("reads").is_empty());
    let text = render(&registry);
    for line in [
        r#"inquest_store_calls_total{operation="record_calls",outcome="unavailable",store="topology/double"} 1"#,
        r#"inquest_store_calls_total{operation="edge_calls",outcome="ok",store="topology/double"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}
