//! The SLO and invariant port (`OpsStore`) contract: definitions written and replaced,
//! the last evaluation kept apart from edits, soft deletes, and that a project never
//! sees another's rows. Written once, run on `EmbeddedOpsStore` and `PostgresOpsStore`.
//! The two projects must exist where the store requires it (Postgres).

use chrono::Duration;
use inquest_domain::{ProjectId, Timestamp};
use inquest_intake::model::Severity;
use inquest_ops::*;
use inquest_ports::ErrorKind;
use uuid::Uuid;

fn t0() -> Timestamp {
    "2026-03-01T10:00:00Z".parse().expect("time")
}

fn secs(n: i64) -> Timestamp {
    t0() + Duration::seconds(n)
}

pub fn slo(project: &ProjectId, name: &str, created: i64) -> Slo {
    Slo {
        slo_id: Uuid::new_v4(),
        project_id: project.clone(),
        spec: SloSpec {
            name: name.into(),
            description: "checkout answers".into(),
            target: 0.999,
            window_days: 30,
            metric_query: SloQuery::Ratio { service: "checkout".into(), good: "ok".into(), total: "all".into() },
            burn_rate_thresholds: default_thresholds(),
            enabled: true,
        },
        created_at: secs(created),
        updated_at: secs(created),
        deleted_at: None,
        last: None,
    }
}

pub fn invariant(project: &ProjectId, name: &str, created: i64) -> Invariant {
    Invariant {
        invariant_id: Uuid::new_v4(),
        project_id: project.clone(),
        spec: InvariantSpec {
            name: name.into(),
            description: String::new(),
            query: InvariantQuery {
                service: "worker".into(),
                metric: "queue_depth".into(),
                aggregation: Aggregation::Max,
                window_minutes: 10,
            },
            condition: Condition { op: Op::Lt, value: 1000.0 },
            severity: Severity::High,
            enabled: true,
        },
        created_at: secs(created),
        updated_at: secs(created),
        deleted_at: None,
        last: None,
    }
}

fn status(at: i64, state: SloState) -> SloStatus {
    SloStatus {
        at: secs(at),
        state,
        error_ratio: Some(0.02),
        budget_remaining: Some(-19.0),
        conditions: vec![ConditionStatus {
            threshold: default_thresholds().remove(0),
            long_burn: Some(20.0),
            short_burn: Some(30.0),
            firing: true,
        }],
        signalled: true,
        message: "burning".into(),
    }
}

pub async fn ops_contract(store: &dyn OpsStore, a: &ProjectId, b: &ProjectId) {
    store.check_connectivity().await.expect("connectivity");

    // SLOs: written, listed by creation, read back whole.
    let first = slo(a, "availability", 10);
    let second = slo(a, "latency", 5);
    store.put_slo(&first).await.expect("put");
    store.put_slo(&second).await.expect("put");
    let listed = store.list_slos(a).await.expect("list");
    assert_eq!(listed.iter().map(|s| s.spec.name.as_str()).collect::<Vec<_>>(), ["latency", "availability"]);
    assert_eq!(store.get_slo(a, first.slo_id).await.expect("get"), Some(first.clone()));

    // Another project sees none of them, by list or by id, and cannot change them.
    assert!(store.list_slos(b).await.expect("list b").is_empty());
    assert_eq!(store.get_slo(b, first.slo_id).await.expect("get from b"), None);
    assert!(!store.delete_slo(b, first.slo_id, secs(20)).await.expect("delete from b"));
    assert!(!store.record_slo(b, first.slo_id, &status(20, SloState::Ok)).await.expect("record from b"));
    assert!(store.get_slo(a, first.slo_id).await.expect("get").is_some(), "b's delete did nothing");

    // The last evaluation is kept apart: an edit keeps it, the evaluator writes it.
    let burning = status(30, SloState::Burning);
    assert!(store.record_slo(a, first.slo_id, &burning).await.expect("record"));
    let mut edited = first.clone();
    edited.spec.target = 0.99;
    edited.spec.burn_rate_thresholds.truncate(1);
    edited.updated_at = secs(40);
    edited.last = None;
    store.put_slo(&edited).await.expect("replace");
    let got = store.get_slo(a, first.slo_id).await.expect("get").expect("there");
    assert_eq!((got.spec.target, got.spec.burn_rate_thresholds.len(), got.updated_at), (0.99, 1, secs(40)));
    assert_eq!(got.last, Some(burning), "the edit kept the last evaluation");
    assert_eq!(got.created_at, secs(10));

    // Soft delete: gone from lists and reads, not twice, not recordable, not replaceable.
    assert!(store.delete_slo(a, first.slo_id, secs(50)).await.expect("delete"));
    assert!(!store.delete_slo(a, first.slo_id, secs(51)).await.expect("delete again"));
    assert_eq!(store.get_slo(a, first.slo_id).await.expect("get"), None);
    assert_eq!(store.list_slos(a).await.expect("list").len(), 1);
    assert!(!store.record_slo(a, first.slo_id, &status(60, SloState::Ok)).await.expect("record deleted"));
    let err = store.put_slo(&edited).await.expect_err("a deleted SLO is not written again");
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(!store.delete_slo(a, Uuid::new_v4(), secs(50)).await.expect("unknown id"));

    // The same for invariants.
    let inv = invariant(a, "queue drains", 1);
    store.put_invariant(&inv).await.expect("put invariant");
    store.put_invariant(&invariant(b, "b's own", 2)).await.expect("put b's invariant");
    assert_eq!(store.list_invariants(a).await.expect("list").len(), 1);
    assert_eq!(store.list_invariants(b).await.expect("list b").len(), 1);
    assert_eq!(store.get_invariant(b, inv.invariant_id).await.expect("get from b"), None);
    let result = InvariantResult {
        at: secs(70),
        state: CheckState::Fail,
        value: Some(1200.0),
        signalled: true,
        message: "max(queue_depth) over 10 min is 1200".into(),
    };
    assert!(!store.record_invariant(b, inv.invariant_id, &result).await.expect("record from b"));
    assert!(store.record_invariant(a, inv.invariant_id, &result).await.expect("record"));
    let mut changed = inv.clone();
    changed.spec.condition.value = 2000.0;
    store.put_invariant(&changed).await.expect("replace invariant");
    let got = store.get_invariant(a, inv.invariant_id).await.expect("get").expect("there");
    assert_eq!((got.spec.condition.value, got.last), (2000.0, Some(result)));
    assert!(store.delete_invariant(a, inv.invariant_id, secs(80)).await.expect("delete"));
    assert!(store.list_invariants(a).await.expect("list").is_empty());
    assert_eq!(store.get_invariant(a, inv.invariant_id).await.expect("get"), None);
    assert_eq!(store.list_invariants(b).await.expect("list b").len(), 1, "b's invariant stays");
}
