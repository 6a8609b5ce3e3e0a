//! The records-port contract: every `RecordStore` must behave like this, the embedded
//! store and the Postgres adapter alike. Panics (with the step) on the first breach.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use inquest_domain::*;
use inquest_ports::{DeliveryOutcome, ErrorKind, FeedDelivery, InvestigationRecord, RecordBatch, RecordStore};
use serde_json::json;
use uuid::Uuid;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().expect("a valid time")
}

fn at(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

/// Ids fresh per run, so the suite also passes on a store used before.
struct World {
    checkout: Service,
    payments: Service,
    other: Service,
    incident: Incident,
    sha_a: String,
    sha_b: String,
}

fn sha() -> String {
    Uuid::new_v4().simple().to_string() + "0123abcd"
}

fn service(name: &str) -> Service {
    Service {
        service_id: ServiceId::new_random(),
        cluster_id: "prod".into(),
        namespace: format!("ns-{}", Uuid::new_v4().simple()),
        service_name: name.into(),
        created_at: at(-1000),
    }
}

fn world() -> World {
    let checkout = service("checkout");
    let incident = Incident {
        incident_id: IncidentId::new_random(),
        service_id: checkout.service_id,
        status: IncidentStatus::Open,
        trigger_type: "error_rate_spike".into(),
        severity: 2,
        window_start: at(0),
        window_end: at(30),
        created_at: at(1),
        updated_at: at(1),
        resolved_at: None,
        resolution_kind: None,
        resolution_summary: None,
        resolved_hypothesis_id: None,
    };
    World { payments: service("payments"), other: service("other"), checkout, incident, sha_a: sha(), sha_b: sha() }
}

fn deployment(svc: &Service, minutes: i64) -> DeploymentEvent {
    DeploymentEvent {
        deployment_event_id: DeploymentId::new_random(),
        service_id: svc.service_id,
        started_at: at(minutes),
        finished_at: Some(at(minutes + 2)),
        deploy_type: DeployType::Helm,
        image_ref: Some(format!("registry/{}:1.2.3", svc.service_name)),
        revision: Some("r42".into()),
        metadata: json!({"chart": "checkout-1.2.3", "nested": {"list": [1, 2.5, "x", null]}}),
    }
}

fn batch(w: &World) -> RecordBatch {
    let dep_in = deployment(&w.checkout, -20);
    let dep_late = deployment(&w.checkout, 45);
    let dep_other = deployment(&w.other, -10);
    let commit = |sha: &str, minutes| Commit {
        commit_sha: sha.to_string(),
        repo: "shop/checkout".into(),
        author: Some("ana".into()),
        message: "raise pool timeout\n\nlong body with 'quotes' and \"double\"".into(),
        summary: None,
        authored_at: at(minutes),
        created_at: at(minutes),
    };
    let file = |sha: &str, path: &str, change_type| CommitFile {
        id: CommitFileId::new_random(),
        commit_sha: sha.to_string(),
        file_path: path.into(),
        change_type,
        diff_text: Some("-timeout: 5s\n+timeout: 50s".into()),
        lines_added: 1,
        lines_removed: 1,
    };
    RecordBatch {
        services: vec![w.checkout.clone(), w.payments.clone(), w.other.clone()],
        deployments: vec![dep_late.clone(), dep_in.clone(), dep_other],
        commit_ranges: vec![DeploymentCommitRange {
            deployment_event_id: dep_in.deployment_event_id,
            previous_revision: Some("r41".into()),
            current_revision: "r42".into(),
            is_rollback: false,
            commit_shas: vec![w.sha_a.clone(), w.sha_b.clone()],
        }],
        config_changes: vec![
            ConfigChangeEvent {
                config_change_id: ConfigChangeId::new_random(),
                service_id: Some(w.payments.service_id),
                detected_at: at(-5),
                source: ConfigSource::K8sConfigmap,
                change_kind: ChangeKind::ConfigmapKey,
                resource_name: "payments-config".into(),
                diff_payload: json!({"field": "POOL_SIZE", "old_value": "10", "new_value": "2"}),
                actor: Some("ci-bot".into()),
                audit_log_ref: None,
            },
            ConfigChangeEvent {
                config_change_id: ConfigChangeId::new_random(),
                service_id: None,
                detected_at: at(-3),
                source: ConfigSource::K8sDeployment,
                change_kind: ChangeKind::ResourceLimit,
                resource_name: "cluster-wide-limits".into(),
                diff_payload: json!({"field": "cpu", "old_value": "2", "new_value": "1"}),
                actor: None,
                audit_log_ref: Some("audit/1".into()),
            },
            ConfigChangeEvent {
                config_change_id: ConfigChangeId::new_random(),
                service_id: Some(w.other.service_id),
                detected_at: at(-4),
                source: ConfigSource::K8sSecret,
                change_kind: ChangeKind::SecretKey,
                resource_name: "other-secret".into(),
                diff_payload: json!({"field": "TOKEN"}),
                actor: None,
                audit_log_ref: None,
            },
        ],
        commits: vec![commit(&w.sha_a, -60), commit(&w.sha_b, -50)],
        commit_files: vec![
            file(&w.sha_a, "src/z_client.rs", FileChangeType::HttpClient),
            file(&w.sha_a, "config/a_timeouts.yaml", FileChangeType::TimeoutRetry),
            file(&w.sha_b, "README.md", FileChangeType::Docs),
        ],
        incidents: vec![w.incident.clone()],
        decisions: vec![IncidentDecision {
            decision_id: DecisionId::new_random(),
            incident_id: w.incident.incident_id,
            decided_at: at(2),
            decision: Decision::Approved,
            rationale: "error rate above policy".into(),
            policy_version: "v1".into(),
            details: json!({"threshold": 0.05}),
        }],
    }
}

fn evidence(incident: IncidentId, reference: &str, minutes: i64) -> EvidenceArtifact {
    EvidenceArtifact {
        evidence_id: EvidenceId::new_random(),
        incident_id: incident,
        kind: EvidenceKind::MetricQuery,
        source: "embedded".into(),
        reference: reference.into(),
        created_at: at(minutes),
        metadata: json!({"z": 7.25}),
    }
}

fn hypothesis(incident: IncidentId, rank: i32, confidence: f64, ev: &[&EvidenceArtifact]) -> Hypothesis {
    Hypothesis {
        hypothesis_id: HypothesisId::new_random(),
        incident_id: incident,
        rank,
        hypothesis_type: if rank == 1 { HypothesisType::Release } else { HypothesisType::Unknown },
        title: format!("hypothesis {rank}"),
        confidence,
        evidence_ids: ev.iter().map(|e| e.evidence_id).collect(),
        details: json!({"service_key": "prod/shop/checkout", "factors": {"timing": 0.9}}),
    }
}

fn report(incident: IncidentId, minutes: i64, text: &str, ev: &[&EvidenceArtifact]) -> IncidentReport {
    IncidentReport {
        report_id: ReportId::new_random(),
        incident_id: incident,
        created_at: at(minutes),
        model_info: json!({"writer": "template"}),
        report_markdown: text.into(),
        evidence_ids: ev.iter().map(|e| e.evidence_id).collect(),
    }
}

/// Run the whole contract against `store`.
pub async fn records_contract(store: Arc<dyn RecordStore>) {
    let name = store.backend();
    store.check_connectivity().await.unwrap_or_else(|e| panic!("{name}: connectivity: {e}"));
    let w = world();
    let b = batch(&w);
    let inc = w.incident.incident_id;

    // Loading twice gives the same rows, not duplicates.
    store.apply_batch(&b).await.unwrap_or_else(|e| panic!("{name}: first load: {e}"));
    store.apply_batch(&b).await.unwrap_or_else(|e| panic!("{name}: second load: {e}"));
    let services: Vec<Service> = store
        .list_services()
        .await
        .expect("list_services")
        .into_iter()
        .filter(|s| b.services.iter().any(|x| x.service_id == s.service_id))
        .collect();
    assert_eq!(services.len(), 3, "{name}: services after loading twice");
    let mut expected = b.services.clone();
    expected.sort_by_key(|s| s.service_id);
    assert_eq!(services, expected, "{name}: services round-trip, ordered by id");
    let incidents: Vec<Incident> =
        store.list_incidents().await.expect("list_incidents").into_iter().filter(|i| i.incident_id == inc).collect();
    assert_eq!(incidents, vec![w.incident.clone()], "{name}: one incident after loading twice");
    assert_eq!(store.get_incident(inc).await.expect("get_incident"), Some(w.incident.clone()), "{name}: get_incident");
    assert_eq!(store.list_decisions(inc).await.expect("list_decisions"), b.decisions, "{name}: decisions");

    // An upsert replaces the row's values.
    let mut changed = w.incident.clone();
    changed.status = IncidentStatus::Triaged;
    changed.updated_at = at(5);
    store
        .apply_batch(&RecordBatch { incidents: vec![changed.clone()], ..RecordBatch::default() })
        .await
        .expect("update incident");
    assert_eq!(store.get_incident(inc).await.expect("get_incident"), Some(changed), "{name}: upsert updates");

    // Deployment windows: inclusive bounds, only the services asked for, oldest first.
    let deps = store.deployments_between(&[w.checkout.service_id], at(-20), at(45)).await.expect("deployments_between");
    let starts: Vec<_> = deps.iter().map(|d| d.started_at).collect();
    assert_eq!(starts, vec![at(-20), at(45)], "{name}: deployments in window, ordered, bounds inclusive");
    assert_eq!(deps[0], b.deployments[1], "{name}: deployment round-trip (JSON metadata, options)");
    let narrow = store.deployments_between(&[w.checkout.service_id], at(-19), at(44)).await.expect("window");
    assert!(narrow.is_empty(), "{name}: nothing between two deployments");
    assert!(store.deployments_between(&[], at(-100), at(100)).await.expect("window").is_empty(), "{name}: no services");
    let both = store
        .deployments_between(&[w.checkout.service_id, w.other.service_id], at(-100), at(100))
        .await
        .expect("window");
    assert_eq!(both.len(), 3, "{name}: deployments of two services");

    // Config changes: the services asked for plus cluster-wide ones.
    let changes =
        store.config_changes_between(&[w.payments.service_id], at(-60), at(0)).await.expect("config_changes_between");
    let names: Vec<&str> = changes.iter().map(|c| c.resource_name.as_str()).collect();
    assert_eq!(names, vec!["payments-config", "cluster-wide-limits"], "{name}: config changes, oldest first");
    assert_eq!(changes[0], b.config_changes[0], "{name}: config change round-trip");
    assert_eq!(changes[1].service_id, None, "{name}: cluster-wide change has no service");
    let late = store.config_changes_between(&[w.payments.service_id], at(-4), at(0)).await.expect("window");
    assert_eq!(late.len(), 1, "{name}: window excludes earlier changes");

    // Commit ranges and commits with their files.
    let dep_in = &b.deployments[1];
    let range = store.commit_range(dep_in.deployment_event_id).await.expect("commit_range");
    assert_eq!(range.as_ref(), b.commit_ranges.first(), "{name}: commit range round-trip (TEXT[])");
    assert_eq!(store.commit_range(DeploymentId::new_random()).await.expect("commit_range"), None, "{name}: no range");
    let commits = store
        .commits(&[w.sha_b.clone(), "0000000000000000000000000000000000000000".into(), w.sha_a.clone()])
        .await
        .expect("commits");
    let shas: Vec<&str> = commits.iter().map(|c| c.commit.commit_sha.as_str()).collect();
    assert_eq!(shas, vec![w.sha_b.as_str(), w.sha_a.as_str()], "{name}: commits in the order asked, unknown skipped");
    assert_eq!(commits[1].commit, b.commits[0], "{name}: commit round-trip");
    let paths: Vec<&str> = commits[1].files.iter().map(|f| f.file_path.as_str()).collect();
    assert_eq!(paths, vec!["config/a_timeouts.yaml", "src/z_client.rs"], "{name}: files sorted by path");
    assert_eq!(commits[1].files[0], b.commit_files[1], "{name}: commit file round-trip");
    assert_eq!(commits[0].files.len(), 1, "{name}: files of the other commit");
    assert!(store.commits(&[]).await.expect("commits").is_empty(), "{name}: no shas");

    // Not found.
    assert_eq!(store.get_incident(IncidentId::new_random()).await.expect("get"), None, "{name}: unknown incident");
    let nobody = IncidentId::new_random();
    assert!(store.list_decisions(nobody).await.expect("decisions").is_empty());
    assert!(store.evidence(nobody).await.expect("evidence").is_empty());
    assert!(store.hypotheses(nobody).await.expect("hypotheses").is_empty());
    assert!(store.reports(nobody).await.expect("reports").is_empty());
    assert!(store.feedback(nobody).await.expect("feedback").is_empty());

    // A batch naming an unknown service is refused whole: its valid rows are not written.
    let newcomer = service("newcomer");
    let orphan = deployment(&service("ghost"), 0);
    let bad = RecordBatch { services: vec![newcomer.clone()], deployments: vec![orphan], ..RecordBatch::default() };
    let err = store.apply_batch(&bad).await.expect_err("a deployment of an unknown service must fail");
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{name}: unknown service is invalid input: {err}");
    assert!(
        !store.list_services().await.expect("services").iter().any(|s| s.service_id == newcomer.service_id),
        "{name}: a refused batch wrote nothing"
    );
    let mut orphan_incident = w.incident.clone();
    orphan_incident.incident_id = IncidentId::new_random();
    orphan_incident.service_id = ServiceId::new_random();
    let err = store
        .apply_batch(&RecordBatch { incidents: vec![orphan_incident.clone()], ..RecordBatch::default() })
        .await
        .expect_err("an incident of an unknown service must fail");
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{name}: {err}");
    assert_eq!(store.get_incident(orphan_incident.incident_id).await.expect("get"), None);

    // Saving an investigation: evidence, hypotheses, report.
    let e1 = evidence(inc, "metrics/checkout/error_rate", 10);
    let e2 = evidence(inc, "deployments/checkout", 10);
    let h1 = hypothesis(inc, 1, 0.86, &[&e1, &e2]);
    let h2 = hypothesis(inc, 2, 0.3, &[&e1]);
    let r1 = report(inc, 11, "# first", &[&e1, &e2]);
    let first = InvestigationRecord {
        incident_id: inc,
        evidence: vec![e1.clone(), e2.clone()],
        hypotheses: vec![h2.clone(), h1.clone()],
        report: r1.clone(),
    };
    store.save_investigation(&first).await.unwrap_or_else(|e| panic!("{name}: save: {e}"));
    assert_eq!(
        store.evidence(inc).await.expect("evidence"),
        vec![e2.clone(), e1.clone()],
        "{name}: evidence by time, ref"
    );
    assert_eq!(store.hypotheses(inc).await.expect("hypotheses"), vec![h1.clone(), h2.clone()], "{name}: by rank");
    assert_eq!(store.reports(inc).await.expect("reports"), vec![r1.clone()], "{name}: one report");

    // Saving the same again changes nothing, the same report is kept once.
    store.save_investigation(&first).await.expect("save again");
    assert_eq!(store.evidence(inc).await.expect("evidence").len(), 2, "{name}: evidence not duplicated");
    assert_eq!(store.hypotheses(inc).await.expect("hypotheses").len(), 2, "{name}: hypotheses not duplicated");
    assert_eq!(store.reports(inc).await.expect("reports"), vec![r1.clone()], "{name}: same report id kept once");

    // A re-investigation replaces evidence and hypotheses and adds to the report history.
    let e3 = evidence(inc, "topology/checkout", 20);
    let h3 = hypothesis(inc, 1, 0.5, &[&e3]);
    let r2 = report(inc, 21, "# second", &[&e3]);
    let second = InvestigationRecord {
        incident_id: inc,
        evidence: vec![e3.clone()],
        hypotheses: vec![h3.clone()],
        report: r2.clone(),
    };
    store.save_investigation(&second).await.expect("save second");
    assert_eq!(store.evidence(inc).await.expect("evidence"), vec![e3], "{name}: evidence replaced");
    assert_eq!(store.hypotheses(inc).await.expect("hypotheses"), vec![h3], "{name}: hypotheses replaced");
    assert_eq!(
        store.reports(inc).await.expect("reports"),
        vec![r1.clone(), r2.clone()],
        "{name}: history, oldest first"
    );

    // Confidence keeps two decimals (NUMERIC(3,2)).
    let h_round = hypothesis(inc, 1, 0.57, &[]);
    let third = InvestigationRecord {
        incident_id: inc,
        evidence: vec![],
        hypotheses: vec![h_round.clone()],
        report: r2.clone(),
    };
    store.save_investigation(&third).await.expect("save third");
    let stored = store.hypotheses(inc).await.expect("hypotheses");
    assert_eq!(stored.len(), 1);
    assert!((stored[0].confidence - 0.57).abs() < 1e-9, "{name}: confidence {}", stored[0].confidence);
    assert!(store.evidence(inc).await.expect("evidence").is_empty(), "{name}: empty evidence replaces");
    assert_eq!(store.reports(inc).await.expect("reports").len(), 2, "{name}: same report id not appended");

    // Saving for an unknown incident is refused.
    let ghost = IncidentId::new_random();
    let err = store
        .save_investigation(&InvestigationRecord {
            incident_id: ghost,
            evidence: vec![],
            hypotheses: vec![],
            report: report(ghost, 0, "# none", &[]),
        })
        .await
        .expect_err("saving for an unknown incident must fail");
    assert_eq!(err.kind, ErrorKind::NotFound, "{name}: {err}");

    // Feedback is append-only, oldest first.
    let fb = |minutes, kind: &str| FeedbackEvent {
        feedback_event_id: FeedbackEventId::new_random(),
        incident_id: inc,
        created_at: at(minutes),
        actor_type: ActorType::User,
        actor_id: Some("ana".into()),
        event_type: kind.into(),
        payload: json!({"hypothesis_id": h1.hypothesis_id.to_string()}),
    };
    let later = fb(40, "root_cause_set");
    let earlier = fb(35, "hypothesis_confirmed");
    store.append_feedback(&later).await.expect("append");
    store.append_feedback(&earlier).await.expect("append");
    assert_eq!(store.feedback(inc).await.expect("feedback"), vec![earlier, later.clone()], "{name}: feedback by time");
    let err = store.append_feedback(&later).await.expect_err("the same feedback event twice must fail");
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{name}: {err}");
    assert_eq!(store.feedback(inc).await.expect("feedback").len(), 2, "{name}: nothing appended twice");
    let mut stray = fb(1, "human_note_added");
    stray.incident_id = IncidentId::new_random();
    let err = store.append_feedback(&stray).await.expect_err("feedback for an unknown incident must fail");
    assert_eq!(err.kind, ErrorKind::NotFound, "{name}: {err}");

    deliveries(store.as_ref()).await;
    commits_between(store.as_ref()).await;
}

/// A feed's delivery named `id`, with `batch` and `state`.
pub fn delivery(
    feed: &str,
    id: &str,
    batch: RecordBatch,
    state: Vec<(&str, Option<serde_json::Value>)>,
) -> FeedDelivery {
    FeedDelivery {
        feed: feed.to_string(),
        delivery_id: id.to_string(),
        received_at: at(100),
        batch,
        state: state.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    }
}

fn has_service(services: &[Service], s: &Service) -> bool {
    services.iter().any(|x| x.service_id == s.service_id)
}

/// Deliveries: stored once, a redelivery writes nothing, the state follows the
/// deliveries, and a refused batch leaves neither rows nor delivery id nor state.
async fn deliveries(store: &dyn RecordStore) {
    let name = store.backend();
    let run = Uuid::new_v4().simple().to_string();
    let (feed, other_feed) = (format!("contract-{run}"), format!("contract-{run}-other"));
    let first = service("fed");
    let commit_sha = sha();
    let commit = Commit {
        commit_sha: commit_sha.clone(),
        repo: "github.com/acme/fed".into(),
        author: None,
        message: "delivered".into(),
        summary: None,
        authored_at: at(90),
        created_at: at(90),
    };
    let batch = RecordBatch { services: vec![first.clone()], commits: vec![commit.clone()], ..RecordBatch::default() };
    let d1 = delivery(&feed, "d-1", batch, vec![("cursor", Some(json!({"sha": "a1"}))), ("seen", Some(json!(1)))]);
    let outcome = store.apply_delivery(&d1).await.unwrap_or_else(|e| panic!("{name}: first delivery: {e}"));
    assert_eq!(outcome, DeliveryOutcome::Stored, "{name}: a new delivery is stored");
    assert!(has_service(&store.list_services().await.expect("services"), &first), "{name}: its rows are written");
    let commits = store.commits(std::slice::from_ref(&commit_sha)).await.expect("commits");
    assert_eq!(commits.first().map(|c| &c.commit), Some(&commit), "{name}: its commit is written");
    assert_eq!(store.feed_state(&feed, "cursor").await.expect("state"), Some(json!({"sha": "a1"})), "{name}: state");
    assert_eq!(store.feed_state(&feed, "seen").await.expect("state"), Some(json!(1)), "{name}: state");
    assert_eq!(store.feed_state(&feed, "never").await.expect("state"), None, "{name}: an unknown key");
    assert_eq!(store.feed_state(&other_feed, "cursor").await.expect("state"), None, "{name}: state is per feed");

    // The same delivery id again, even with other rows and state: nothing is written.
    let late = service("late");
    let again = delivery(
        &feed,
        "d-1",
        RecordBatch { services: vec![late.clone()], ..RecordBatch::default() },
        vec![("cursor", Some(json!({"sha": "zz"}))), ("seen", None)],
    );
    let outcome = store.apply_delivery(&again).await.unwrap_or_else(|e| panic!("{name}: redelivery: {e}"));
    assert_eq!(outcome, DeliveryOutcome::Duplicate, "{name}: a delivery id seen before is a duplicate");
    assert!(!has_service(&store.list_services().await.expect("services"), &late), "{name}: a duplicate writes no row");
    assert_eq!(store.feed_state(&feed, "cursor").await.expect("state"), Some(json!({"sha": "a1"})), "{name}: kept");
    assert_eq!(store.feed_state(&feed, "seen").await.expect("state"), Some(json!(1)), "{name}: not removed");
    // Delivery ids are per feed.
    let elsewhere = delivery(&other_feed, "d-1", RecordBatch::default(), vec![("cursor", Some(json!("b")))]);
    assert_eq!(store.apply_delivery(&elsewhere).await.expect("other feed"), DeliveryOutcome::Stored, "{name}");
    assert_eq!(store.feed_state(&other_feed, "cursor").await.expect("state"), Some(json!("b")), "{name}");
    assert_eq!(store.feed_state(&feed, "cursor").await.expect("state"), Some(json!({"sha": "a1"})), "{name}");

    // State: overwritten, removed, added, each by a later delivery.
    let d2 = delivery(
        &feed,
        "d-2",
        RecordBatch::default(),
        vec![("cursor", Some(json!({"sha": "b2", "list": [1, "x", null]}))), ("seen", None), ("new", Some(json!("n")))],
    );
    assert_eq!(store.apply_delivery(&d2).await.expect("second delivery"), DeliveryOutcome::Stored, "{name}");
    let cursor = store.feed_state(&feed, "cursor").await.expect("state");
    assert_eq!(cursor, Some(json!({"sha": "b2", "list": [1, "x", null]})), "{name}: state overwritten");
    assert_eq!(store.feed_state(&feed, "seen").await.expect("state"), None, "{name}: state removed");
    assert_eq!(store.feed_state(&feed, "new").await.expect("state"), Some(json!("n")), "{name}: state added");
    let removing_nothing = delivery(&feed, "d-3", RecordBatch::default(), vec![("absent", None)]);
    assert_eq!(store.apply_delivery(&removing_nothing).await.expect("remove absent"), DeliveryOutcome::Stored);

    // A refused batch: no row, no delivery id (the same id is new afterwards), no state.
    let newcomer = service("newcomer");
    let bad = delivery(
        &feed,
        "d-4",
        RecordBatch {
            services: vec![newcomer.clone()],
            deployments: vec![deployment(&service("ghost"), 0)],
            ..RecordBatch::default()
        },
        vec![("cursor", Some(json!("broken"))), ("new", None), ("bad", Some(json!(true)))],
    );
    let err = store.apply_delivery(&bad).await.expect_err("a delivery with a deployment of an unknown service");
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{name}: a refused batch is invalid input: {err}");
    assert!(!has_service(&store.list_services().await.expect("services"), &newcomer), "{name}: no row written");
    let cursor = store.feed_state(&feed, "cursor").await.expect("state");
    assert_eq!(cursor, Some(json!({"sha": "b2", "list": [1, "x", null]})), "{name}: state not overwritten");
    assert_eq!(store.feed_state(&feed, "new").await.expect("state"), Some(json!("n")), "{name}: state not removed");
    assert_eq!(store.feed_state(&feed, "bad").await.expect("state"), None, "{name}: state not added");
    let fixed = delivery(
        &feed,
        "d-4",
        RecordBatch { services: vec![newcomer.clone()], ..RecordBatch::default() },
        vec![("bad", Some(json!(false)))],
    );
    let outcome = store.apply_delivery(&fixed).await.expect("the refused delivery again, fixed");
    assert_eq!(outcome, DeliveryOutcome::Stored, "{name}: a refused delivery did not record its id");
    assert!(has_service(&store.list_services().await.expect("services"), &newcomer), "{name}: now written");
    assert_eq!(store.feed_state(&feed, "bad").await.expect("state"), Some(json!(false)), "{name}");
}

/// Commits by authored time: inclusive bounds, newest first, at most `limit`.
async fn commits_between(store: &dyn RecordStore) {
    let name = store.backend();
    // A window of its own (far from the other cases' times), so other rows do not interfere.
    let offset = i64::from(Uuid::new_v4().as_fields().1) * 10;
    let base = Utc.with_ymd_and_hms(2031, 1, 1, 0, 0, 0).single().expect("a valid time") + Duration::minutes(offset);
    let minute = |m: i64| base + Duration::minutes(m);
    let commit = |m: i64, sha: String| Commit {
        commit_sha: sha,
        repo: "github.com/acme/window".into(),
        author: Some("dev".into()),
        message: format!("at {m}"),
        summary: Some("s".into()),
        authored_at: minute(m),
        created_at: minute(m + 1),
    };
    let (c0, c5, c5b, c9, c20) =
        (commit(0, sha()), commit(5, sha()), commit(5, sha()), commit(9, sha()), commit(20, sha()));
    let batch = RecordBatch {
        commits: vec![c5.clone(), c20.clone(), c0.clone(), c9.clone(), c5b.clone()],
        ..RecordBatch::default()
    };
    store.apply_batch(&batch).await.unwrap_or_else(|e| panic!("{name}: commits: {e}"));
    let got = store.commits_between(minute(0), minute(9), 10).await.expect("commits_between");
    let mut same_minute = [c5.clone(), c5b.clone()];
    same_minute.sort_by(|a, b| a.commit_sha.cmp(&b.commit_sha));
    assert_eq!(got.len(), 4, "{name}: the commits inside the bounds, both included: {got:?}");
    assert_eq!(got[0], c9, "{name}: newest first, the row round-trips");
    assert_eq!(got[3], c0, "{name}: oldest last");
    let mut middle = vec![got[1].clone(), got[2].clone()];
    middle.sort_by(|a, b| a.commit_sha.cmp(&b.commit_sha));
    assert_eq!(middle, same_minute.to_vec(), "{name}: the two of the same minute in between");
    let limited = store.commits_between(minute(0), minute(30), 2).await.expect("commits_between limit");
    assert_eq!(limited, vec![c20.clone(), c9.clone()], "{name}: the limit keeps the newest");
    assert!(
        store.commits_between(minute(10), minute(19), 10).await.expect("commits_between").is_empty(),
        "{name}: none between two commits"
    );
    assert!(store.commits_between(minute(0), minute(30), 0).await.expect("limit 0").is_empty(), "{name}: limit 0");
}

/// Two identical deliveries at once: exactly one is stored, the other is a duplicate.
pub async fn concurrent_deliveries(store: Arc<dyn RecordStore>) {
    let name = store.backend();
    let run = Uuid::new_v4().simple().to_string();
    let feed = format!("contract-{run}-race");
    for round in 0..5 {
        let s = service("raced");
        let d = delivery(
            &feed,
            &format!("race-{round}"),
            RecordBatch { services: vec![s.clone()], ..RecordBatch::default() },
            vec![("round", Some(json!(round)))],
        );
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (store, d) = (store.clone(), d.clone());
                tokio::spawn(async move { store.apply_delivery(&d).await })
            })
            .collect();
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.expect("task").unwrap_or_else(|e| panic!("{name}: concurrent delivery: {e}")));
        }
        let stored = outcomes.iter().filter(|o| **o == DeliveryOutcome::Stored).count();
        assert_eq!(stored, 1, "{name}: exactly one of four identical deliveries is stored: {outcomes:?}");
        assert_eq!(store.feed_state(&feed, "round").await.expect("state"), Some(json!(round)), "{name}");
        let services = store.list_services().await.expect("services");
        assert_eq!(services.iter().filter(|x| x.service_id == s.service_id).count(), 1, "{name}");
    }
}
