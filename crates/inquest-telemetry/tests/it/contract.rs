//! The contract suites through the wrappers over the embedded store: delegation
//! returns the same data, and every call is counted.

use std::sync::Arc;

use inquest_contract::{
    metrics::metrics_contract, records::records_contract, semantic::semantic_contract, topology::topology_contract,
};
use inquest_ports::RecordStore;
use inquest_store_embedded::EmbeddedStore;
use inquest_telemetry::{ObservedRecords, StoreMetrics, Timeouts, observe};
use prometheus::Registry;

use crate::render;

#[tokio::test]
async fn every_contract_passes_through_the_wrappers() {
    let registry = Registry::new();
    let metrics = StoreMetrics::new(&registry).expect("register store metrics");
    let store = EmbeddedStore::in_memory().expect("in-memory store");
    let stores = observe(store.stores(), &metrics, Timeouts::default());
    assert_eq!(stores.records.backend(), "embedded", "backend() stays the inner backend name");
    assert_eq!(stores.embedder.model(), store.stores().embedder.model());

    records_contract(stores.records.clone()).await;
    metrics_contract(stores.metrics.clone()).await;
    topology_contract(stores.topology.clone()).await;
    let created = semantic_contract(stores.semantic.clone()).await;
    assert_eq!(created.len(), 2);

    let text = render(&registry);
    for store in ["records/embedded", "metrics/embedded", "topology/embedded", "semantic/embedded"] {
        assert!(text.contains(&format!(r#"outcome="ok",store="{store}"}}"#)), "no ok call of {store} in\n{text}");
    }
    assert!(text.contains(r#"inquest_store_call_duration_seconds_bucket{operation="apply_batch""#), "{text}");
    // The feed calls are delegated and counted too.
    for (operation, store) in [
        ("apply_delivery", "records/embedded"),
        ("feed_state", "records/embedded"),
        ("commits_between", "records/embedded"),
        ("replace_source", "topology/embedded"),
        ("points", "semantic/embedded"),
        ("delete", "semantic/embedded"),
    ] {
        let ok = format!(r#"inquest_store_calls_total{{operation="{operation}",outcome="ok",store="{store}"}}"#);
        assert!(text.contains(&ok), "no ok {operation} of {store} in\n{text}");
    }
    let refused =
        r#"inquest_store_calls_total{operation="apply_delivery",outcome="invalid_input",store="records/embedded"}"#;
    assert!(text.contains(refused), "a refused delivery is counted as invalid input in\n{text}");
}

#[tokio::test]
async fn records_contract_on_a_wrapped_file_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let registry = Registry::new();
    let metrics = StoreMetrics::new(&registry).expect("register store metrics");
    let store = EmbeddedStore::open(&dir.path().join("inquest.redb")).expect("file store");
    let records: Arc<dyn RecordStore> =
        Arc::new(ObservedRecords::new(Arc::new(store), &metrics, Timeouts::default().records));
    records_contract(records).await;
}
