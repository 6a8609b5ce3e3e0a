//! The embedded store keeps its data in one file across a restart, and refuses half-valid batches.

use std::collections::BTreeMap;

use chrono::{Duration, TimeZone, Utc};
use inquest_domain::*;
use inquest_ports::{PayloadFilter, RecordBatch};
use inquest_store_embedded::{EmbeddedStore, SCHEMA_VERSION};
use serde_json::json;

#[tokio::test]
async fn data_survives_reopening_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("nested/inquest.redb");
    let t0 = Utc.with_ymd_and_hms(2026, 9, 1, 12, 0, 0).single().expect("time");
    let service = Service {
        service_id: ServiceId::derived(&["service", "prod/shop/checkout"]),
        cluster_id: "prod".into(),
        namespace: "shop".into(),
        service_name: "checkout".into(),
        created_at: t0,
    };
    {
        let stores = EmbeddedStore::open(&path).expect("create").stores();
        stores
            .records
            .apply_batch(&RecordBatch { services: vec![service.clone()], ..Default::default() })
            .await
            .expect("batch");
        let points: Vec<MetricPoint> = (0..100)
            .map(|i| MetricPoint {
                ts: t0 + Duration::minutes(i),
                service_key: service.service_key(),
                metric_name: "latency_p99_ms".into(),
                value: i as f64,
                labels: BTreeMap::from([("pod".to_string(), "a".to_string())]),
            })
            .collect();
        stores.metrics.insert_points(&points).await.expect("points");
        stores.semantic.ensure_collection(collections::RUNBOOKS, 3).await.expect("collection");
        let mut payload = serde_json::Map::new();
        payload.insert("title".into(), json!("pool exhaustion"));
        stores
            .semantic
            .upsert(
                collections::RUNBOOKS,
                &[VectorPoint { id: uuid::Uuid::nil(), vector: vec![1.0, 0.0, 0.0], payload }],
            )
            .await
            .expect("upsert");
    }
    let store = EmbeddedStore::open(&path).expect("reopen");
    assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
    let stores = store.stores();
    assert_eq!(stores.records.list_services().await.expect("services"), vec![service.clone()]);
    let w = stores
        .metrics
        .window(&service.service_key(), t0 + Duration::minutes(10), t0 + Duration::minutes(20))
        .await
        .expect("window");
    assert_eq!(w.series.len(), 1);
    assert_eq!(w.series[0].points.len(), 10, "half-open [from, to)");
    let b = stores.metrics.baselines(&service.service_key(), t0, t0 + Duration::minutes(100)).await.expect("baselines");
    assert!((b.baselines["latency_p99_ms"].median - 49.5).abs() < 1e-9);
    let hits = stores
        .semantic
        .search(collections::RUNBOOKS, &[1.0, 0.0, 0.0], &PayloadFilter::default(), 5)
        .await
        .expect("search");
    assert_eq!(hits.len(), 1);
    assert!((hits[0].score - 1.0).abs() < 1e-6);
    assert_eq!(hits[0].reference(), format!("runbooks/{}", uuid::Uuid::nil()));
}

#[tokio::test]
async fn a_batch_with_an_unknown_service_writes_nothing() {
    let store = EmbeddedStore::in_memory().expect("store").stores();
    let t0 = Utc::now();
    let ghost = ServiceId::derived(&["service", "ghost"]);
    let real = Service {
        service_id: ServiceId::derived(&["service", "real"]),
        cluster_id: "c".into(),
        namespace: "n".into(),
        service_name: "real".into(),
        created_at: t0,
    };
    let batch = RecordBatch {
        services: vec![real],
        incidents: vec![Incident {
            incident_id: IncidentId::derived(&["i"]),
            service_id: ghost,
            status: IncidentStatus::Open,
            trigger_type: "custom".into(),
            severity: 3,
            window_start: t0,
            window_end: t0 + Duration::minutes(5),
            created_at: t0,
            updated_at: t0,
            resolved_at: None,
            resolution_kind: None,
            resolution_summary: None,
            resolved_hypothesis_id: None,
        }],
        ..Default::default()
    };
    let err = store.records.apply_batch(&batch).await.expect_err("refused");
    assert!(err.to_string().contains(&ghost.to_string()), "{err}");
    assert!(store.records.list_services().await.expect("services").is_empty(), "nothing half-written");
}
