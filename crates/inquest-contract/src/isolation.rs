//! The project-isolation contract: two projects write the same ids through
//! `scoped` views of one store, and each view reads only its own rows. Written
//! once for every port, run on the embedded store and on each adapter. The
//! projects must exist where the backend checks (Postgres: rows of `projects`).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use inquest_domain::*;
use inquest_intake::{Action, IngestStore, Policy};
use inquest_ports::{
    DeliveryOutcome, InvestigationRecord, MetricStore, PayloadFilter, RecordBatch, RecordStore, SemanticStore,
    TopologyStore,
};
use serde_json::json;
use uuid::Uuid;

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().unwrap_or_default()
}

fn at(minutes: i64) -> Timestamp {
    t0() + Duration::minutes(minutes)
}

/// Two fresh project ids for one run (a shared server may hold earlier runs).
pub fn two_projects() -> (ProjectId, ProjectId) {
    let run = &Uuid::new_v4().simple().to_string()[..12];
    let p = |s: &str| ProjectId::new(&format!("iso-{run}-{s}")).expect("a valid project id");
    (p("a"), p("b"))
}

/// The same ids in both projects, told apart by `tag` in names and texts.
struct Ids {
    service: ServiceId,
    incident: IncidentId,
    deployment: DeploymentId,
    sha: String,
    file: CommitFileId,
    evidence: EvidenceId,
    hypothesis: HypothesisId,
    report: ReportId,
    feedback: FeedbackEventId,
}

fn batch(ids: &Ids, tag: &str) -> RecordBatch {
    let service = Service {
        service_id: ids.service,
        cluster_id: "prod".into(),
        namespace: "shop".into(),
        service_name: "checkout".into(),
        created_at: at(-100),
    };
    let incident = Incident {
        incident_id: ids.incident,
        service_id: ids.service,
        status: IncidentStatus::Open,
        trigger_type: format!("spike-{tag}"),
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
    RecordBatch {
        services: vec![service],
        deployments: vec![DeploymentEvent {
            deployment_event_id: ids.deployment,
            service_id: ids.service,
            started_at: at(-10),
            finished_at: None,
            deploy_type: DeployType::Helm,
            image_ref: Some(format!("registry/checkout:{tag}")),
            revision: Some(tag.into()),
            metadata: json!({}),
        }],
        commit_ranges: vec![DeploymentCommitRange {
            deployment_event_id: ids.deployment,
            previous_revision: None,
            current_revision: tag.into(),
            is_rollback: false,
            commit_shas: vec![ids.sha.clone()],
        }],
        config_changes: vec![],
        commits: vec![Commit {
            commit_sha: ids.sha.clone(),
            repo: "github.com/acme/shop".into(),
            author: None,
            message: format!("change of {tag}"),
            summary: None,
            authored_at: at(-20),
            created_at: at(-20),
        }],
        commit_files: vec![CommitFile {
            id: ids.file,
            commit_sha: ids.sha.clone(),
            file_path: format!("src/{tag}.rs"),
            change_type: FileChangeType::Other,
            diff_text: None,
            lines_added: 1,
            lines_removed: 0,
        }],
        incidents: vec![incident],
        decisions: vec![],
    }
}

fn investigation(ids: &Ids, tag: &str) -> InvestigationRecord {
    InvestigationRecord {
        incident_id: ids.incident,
        evidence: vec![EvidenceArtifact {
            evidence_id: ids.evidence,
            incident_id: ids.incident,
            kind: EvidenceKind::MetricQuery,
            source: "test".into(),
            reference: format!("ref-{tag}"),
            created_at: at(2),
            metadata: json!({}),
        }],
        hypotheses: vec![Hypothesis {
            hypothesis_id: ids.hypothesis,
            incident_id: ids.incident,
            rank: 1,
            hypothesis_type: HypothesisType::Release,
            title: format!("release of {tag}"),
            confidence: 0.5,
            evidence_ids: vec![ids.evidence],
            details: json!({}),
        }],
        report: IncidentReport {
            report_id: ids.report,
            incident_id: ids.incident,
            created_at: at(3),
            model_info: json!({}),
            report_markdown: format!("# report of {tag}"),
            evidence_ids: vec![ids.evidence],
        },
    }
}

/// Records: the same ids loaded into two projects; each view sees only its rows.
pub async fn records_isolation(store: Arc<dyn RecordStore>, a: &ProjectId, b: &ProjectId) {
    let ids = Ids {
        service: ServiceId::new_random(),
        incident: IncidentId::new_random(),
        deployment: DeploymentId::new_random(),
        sha: format!("{}cafe", Uuid::new_v4().simple()),
        file: CommitFileId(Uuid::new_v4()),
        evidence: EvidenceId(Uuid::new_v4()),
        hypothesis: HypothesisId(Uuid::new_v4()),
        report: ReportId(Uuid::new_v4()),
        feedback: FeedbackEventId(Uuid::new_v4()),
    };
    let (sa, sb) = (store.scoped(a), store.scoped(b));
    assert_eq!((sa.project(), sb.project()), (a, b), "a scoped view acts in the project it was given");
    sa.apply_batch(&batch(&ids, "a")).await.expect("load into a");
    sb.apply_batch(&batch(&ids, "b")).await.expect("the same ids load into b too");
    for (view, tag) in [(&sa, "a"), (&sb, "b")] {
        let services = view.list_services().await.expect("services");
        assert_eq!(services.iter().filter(|s| s.service_id == ids.service).count(), 1, "{tag}: one service");
        let incident = view.get_incident(ids.incident).await.expect("read").expect("its incident");
        assert_eq!(incident.trigger_type, format!("spike-{tag}"), "{tag} reads its own incident");
        let listed: Vec<Incident> =
            view.list_incidents().await.expect("list").into_iter().filter(|i| i.incident_id == ids.incident).collect();
        assert_eq!(listed.len(), 1, "{tag}: listed once");
        let deps = view.deployments_between(&[ids.service], at(-60), at(60)).await.expect("deployments");
        assert_eq!(deps.len(), 1, "{tag}: one deployment");
        assert_eq!(deps[0].revision.as_deref(), Some(tag));
        let range = view.commit_range(ids.deployment).await.expect("range").expect("its range");
        assert_eq!(range.current_revision, tag);
        let commits = view.commits(std::slice::from_ref(&ids.sha)).await.expect("commits");
        assert_eq!(commits.len(), 1, "{tag}: one commit");
        assert_eq!(commits[0].commit.message, format!("change of {tag}"));
        assert_eq!(commits[0].files.len(), 1, "{tag}: its file only");
        assert_eq!(commits[0].files[0].file_path, format!("src/{tag}.rs"));
    }
    // An investigation saved in a stays in a.
    sa.save_investigation(&investigation(&ids, "a")).await.expect("save in a");
    assert_eq!(sa.evidence(ids.incident).await.expect("evidence").len(), 1);
    assert!(sb.evidence(ids.incident).await.expect("evidence").is_empty(), "b sees no evidence of a");
    assert!(sb.hypotheses(ids.incident).await.expect("hypotheses").is_empty(), "b sees no hypothesis of a");
    assert!(sb.reports(ids.incident).await.expect("reports").is_empty(), "b sees no report of a");
    sb.save_investigation(&investigation(&ids, "b")).await.expect("the same ids save in b");
    let ha = sa.hypotheses(ids.incident).await.expect("hypotheses");
    assert_eq!(ha.len(), 1);
    assert_eq!(ha[0].title, "release of a", "b's save did not overwrite a's");
    let reports = sb.reports(ids.incident).await.expect("reports");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].report_markdown, "# report of b");
    let feedback = FeedbackEvent {
        feedback_event_id: ids.feedback,
        incident_id: ids.incident,
        created_at: at(5),
        actor_type: ActorType::User,
        actor_id: Some("oncall".into()),
        event_type: "human_note_added".into(),
        payload: json!({"note": "a"}),
    };
    sa.append_feedback(&feedback).await.expect("feedback in a");
    assert!(sb.feedback(ids.incident).await.expect("feedback").is_empty(), "b sees no feedback of a");
    sb.append_feedback(&feedback).await.expect("the same feedback id is new in b");
    // Deliveries and feed state: the same feed and delivery id are new in each project.
    let feed = format!("iso-{}", Uuid::new_v4().simple());
    for (view, tag) in [(&sa, "a"), (&sb, "b")] {
        let d = crate::records::delivery(&feed, "d-1", RecordBatch::default(), vec![("cursor", Some(json!(tag)))]);
        let outcome = view.apply_delivery(&d).await.expect("delivery");
        assert_eq!(outcome, DeliveryOutcome::Stored, "{tag}: another project's delivery id is not seen");
        assert_eq!(view.apply_delivery(&d).await.expect("again"), DeliveryOutcome::Duplicate, "{tag}: its own is");
    }
    assert_eq!(sa.feed_state(&feed, "cursor").await.expect("state"), Some(json!("a")), "b did not overwrite a");
    assert_eq!(sb.feed_state(&feed, "cursor").await.expect("state"), Some(json!("b")), "b reads its own state");
    let only_a = crate::records::delivery(&feed, "d-2", RecordBatch::default(), vec![("only_a", Some(json!(1)))]);
    sa.apply_delivery(&only_a).await.expect("a's delivery");
    assert_eq!(sb.feed_state(&feed, "only_a").await.expect("state"), None, "b sees none of a's state");
    let remove = crate::records::delivery(&feed, "d-3", RecordBatch::default(), vec![("only_a", None)]);
    sb.apply_delivery(&remove).await.expect("b removes its own key");
    assert_eq!(sa.feed_state(&feed, "only_a").await.expect("state"), Some(json!(1)), "b cannot remove a's state");
    // Commits by time: each project its own commit of the same sha.
    for (view, tag) in [(&sa, "a"), (&sb, "b")] {
        let commits = view.commits_between(at(-21), at(-19), 100).await.expect("commits_between");
        let ours: Vec<&Commit> = commits.iter().filter(|c| c.commit_sha == ids.sha).collect();
        assert_eq!(ours.len(), 1, "{tag}: one commit of that sha");
        assert_eq!(ours[0].message, format!("change of {tag}"), "{tag}: its own commit");
    }
    // A project with nothing loaded sees none of it.
    let (empty, _) = two_projects();
    if store.project() != a && store.project() != b && store.project() != &empty {
        let other = store.scoped(store.project());
        assert!(other.get_incident(ids.incident).await.expect("read").is_none(), "another project sees nothing");
    }
}

/// Metrics: the same series and features in two projects; each reads its own.
pub async fn metrics_isolation(store: Arc<dyn MetricStore>, a: &ProjectId, b: &ProjectId) {
    let key = format!("c{}/shop/checkout", Uuid::new_v4().simple());
    let incident = Uuid::new_v4().to_string();
    let (sa, sb) = (store.scoped(a), store.scoped(b));
    for (view, value) in [(&sa, 1.0), (&sb, 2.0)] {
        let points: Vec<MetricPoint> = (0..5)
            .map(|i| MetricPoint {
                ts: at(i),
                service_key: key.clone(),
                metric_name: "error_rate".into(),
                value,
                labels: BTreeMap::new(),
            })
            .collect();
        view.insert_points(&points).await.expect("insert");
        let feature = AnomalyFeature {
            incident_id: incident.clone(),
            ts: at(1),
            service_key: key.clone(),
            feature_name: "z".into(),
            feature_value: value,
        };
        view.write_anomaly_features(&[feature]).await.expect("features");
    }
    for (view, value) in [(&sa, 1.0), (&sb, 2.0)] {
        let window = view.window(&key, at(0), at(10)).await.expect("window");
        assert_eq!(window.series.len(), 1);
        assert_eq!(window.series[0].points.len(), 5, "only its own points");
        assert!(window.series[0].points.iter().all(|(_, v)| *v == value), "only its own values");
        let baselines = view.baselines(&key, at(0), at(10)).await.expect("baselines");
        assert_eq!(baselines.baselines.get("error_rate").map(|b| b.median), Some(value));
        let features = view.anomaly_features(&incident).await.expect("features");
        assert_eq!(features.len(), 1, "only its own features");
        assert_eq!(features[0].feature_value, value);
        assert_eq!(features[0].incident_id, incident, "the incident id reads back as written");
    }
}

/// Topology: the same node keys in two projects with different edges.
pub async fn topology_isolation(store: Arc<dyn TopologyStore>, a: &ProjectId, b: &ProjectId) {
    let run = Uuid::new_v4().simple().to_string();
    let k = |name: &str| format!("c{run}/shop/{name}");
    let node = |key: String| TopologyNode { key, kind: NodeKind::Service, detail: None };
    let (sa, sb) = (store.scoped(a), store.scoped(b));
    for (view, dep) in [(&sa, "payments"), (&sb, "ledger")] {
        view.upsert_nodes(&[node(k("api")), node(k(dep))]).await.expect("nodes");
        view.upsert_edges(&[DependsOn { from: k("api"), to: k(dep) }]).await.expect("edges");
        let deployment = DeploymentEvent {
            deployment_event_id: DeploymentId(Uuid::new_v4()),
            service_id: ServiceId(Uuid::new_v4()),
            started_at: at(0),
            finished_at: None,
            deploy_type: DeployType::K8s,
            image_ref: None,
            revision: None,
            metadata: json!({}),
        };
        let commit = Commit {
            commit_sha: format!("{run}{dep}"),
            repo: "github.com/acme/shop".into(),
            author: None,
            message: "m".into(),
            summary: None,
            authored_at: at(0),
            created_at: at(0),
        };
        view.link_deployment(&k("api"), &deployment, &[commit]).await.expect("link");
    }
    for (view, dep, other) in [(&sa, "payments", "ledger"), (&sb, "ledger", "payments")] {
        let radius = view.blast_radius(&k("api"), 3).await.expect("blast radius");
        let keys: Vec<&str> = radius.nodes.iter().map(|r| r.key.as_str()).collect();
        assert!(keys.contains(&k(dep).as_str()), "its own edge: {keys:?}");
        assert!(!keys.contains(&k(other).as_str()), "not the other project's edge: {keys:?}");
        let touching = view.commits_touching(&[k("api")]).await.expect("commits touching");
        assert_eq!(touching, vec![(format!("{run}{dep}"), k("api"))], "only its own commits");
    }
    // Sourced edges: the same source in both projects declares different edges, and
    // neither can take the other's away.
    let source = format!("iso-{run}");
    let declared = sa
        .replace_source(&source, &[node(k("web"))], &[DependsOn { from: k("web"), to: k("api") }])
        .await
        .expect("a's source");
    assert_eq!((declared.edges, declared.removed), (1, 0));
    let cleared = sb.replace_source(&source, &[], &[]).await.expect("b's source, empty");
    assert_eq!(cleared.removed, 0, "b has no edge of that source to remove");
    let radius = sa.blast_radius(&k("web"), 1).await.expect("blast radius");
    assert!(radius.nodes.iter().any(|r| r.key == k("api")), "b's replace left a's sourced edge");
    sb.replace_source(&source, &[], &[DependsOn { from: k("web"), to: k("ledger") }]).await.expect("b's source");
    let radius = sa.blast_radius(&k("web"), 1).await.expect("blast radius");
    let keys: Vec<&str> = radius.nodes.iter().map(|r| r.key.as_str()).collect();
    assert!(!keys.contains(&k("ledger").as_str()), "a sees none of b's sourced edges: {keys:?}");
    let radius = sb.blast_radius(&k("web"), 1).await.expect("blast radius");
    let keys: Vec<&str> = radius.nodes.iter().map(|r| r.key.as_str()).collect();
    assert!(!keys.contains(&k("api").as_str()), "b sees none of a's sourced edges: {keys:?}");
    let removed = sa.replace_source(&source, &[], &[]).await.expect("a clears its source");
    assert_eq!(removed.removed, 1, "a removes its own edge only");
    let radius = sb.blast_radius(&k("web"), 1).await.expect("blast radius");
    assert!(radius.nodes.iter().any(|r| r.key == k("ledger")), "a's replace left b's edge");
}

/// Semantic: the same point id in two projects of one collection; each finds its own.
pub async fn semantic_isolation(store: Arc<dyn SemanticStore>, a: &ProjectId, b: &ProjectId, collection: &str) {
    let id = Uuid::new_v4();
    let (sa, sb) = (store.scoped(a), store.scoped(b));
    for (view, tag) in [(&sa, "a"), (&sb, "b")] {
        view.ensure_collection(collection, 4).await.expect("collection");
        let mut payload = serde_json::Map::new();
        payload.insert("text".into(), json!(format!("runbook of {tag}")));
        payload.insert("kind".into(), json!("runbook"));
        let point = VectorPoint { id, vector: vec![0.5, 0.5, 0.5, 0.5], payload };
        view.upsert(collection, &[point]).await.expect("upsert");
    }
    for (view, tag) in [(&sa, "a"), (&sb, "b")] {
        let any = view.search(collection, &[0.5, 0.5, 0.5, 0.5], &PayloadFilter::default(), 10).await.expect("search");
        assert_eq!(any.len(), 1, "{tag}: one point, its own");
        assert_eq!(any[0].id, id);
        assert_eq!(any[0].payload.get("text"), Some(&json!(format!("runbook of {tag}"))));
        let filter = PayloadFilter::default().any_of("kind", vec![json!("runbook")]);
        let filtered = view.search(collection, &[0.5, 0.5, 0.5, 0.5], &filter, 10).await.expect("search");
        assert_eq!(filtered.len(), 1, "{tag}: a filter keeps the project condition");
        let points = view.points(collection, &PayloadFilter::default(), 10).await.expect("points");
        assert_eq!(points.len(), 1, "{tag}: points lists its own point only");
        assert_eq!(points[0].payload.get("text"), Some(&json!(format!("runbook of {tag}"))));
    }
    // Deleting everything b may see leaves a's point.
    assert_eq!(sb.delete(collection, &PayloadFilter::default()).await.expect("delete in b"), 1, "b deletes its own");
    assert!(sb.points(collection, &PayloadFilter::default(), 10).await.expect("points").is_empty());
    let left = sa.points(collection, &PayloadFilter::default(), 10).await.expect("points");
    assert_eq!(left.len(), 1, "b could not delete a's point");
    let kind = PayloadFilter::default().any_of("kind", vec![json!("runbook")]);
    assert_eq!(sb.delete(collection, &kind).await.expect("delete again"), 0, "nothing of b is left to delete");
    assert_eq!(sa.points(collection, &kind, 10).await.expect("points").len(), 1, "a's point is still there");
}

/// Intake: the same alert in two projects opens one incident in each; lifecycle,
/// outbox and jobs stay in their project; `projects_with_work` names both.
pub async fn ingest_isolation(store: Arc<dyn IngestStore>, a: &ProjectId, b: &ProjectId) {
    let policy = Policy::default_policy();
    let (sa, sb) = (store.scoped(a), store.scoped(b));
    let now = t0();
    let alert = crate::ingest::alert("checkout", "critical", "errors");
    let second = crate::ingest::alert("checkout", "critical", "latency");
    let ia = sa.ingest(&[alert.clone(), second], &policy, now).await.expect("ingest in a");
    let ib = sb.ingest(std::slice::from_ref(&alert), &policy, now).await.expect("ingest in b");
    let (inc_a, inc_b) = (ia[0].incident_id.expect("incident in a"), ib[0].incident_id.expect("incident in b"));
    assert_ne!(inc_a, inc_b, "the same alert opens an incident of each project");
    assert_eq!(sa.list_incidents().await.expect("list").len(), 1);
    assert_eq!(sb.list_incidents().await.expect("list").len(), 1);
    assert!(sb.get_incident(inc_a).await.expect("read").is_none(), "b cannot read a's incident");
    assert!(sb.alerts_of(inc_a).await.expect("alerts").is_empty(), "b cannot read a's alerts");
    assert_eq!(sa.alert_count().await.expect("count"), 2);
    assert_eq!(sb.alert_count().await.expect("count"), 1);
    assert_eq!(sa.incident_counts().await.expect("counts")["open"], 1);
    assert_eq!(sb.incident_counts().await.expect("counts")["open"], 1);
    // a's second alert approved its incident: the job is a's alone.
    let job = ia[1].job_id.expect("a job in a");
    assert!(sb.get_job(job).await.expect("read").is_none(), "b cannot read a's job");
    assert!(sb.list_jobs().await.expect("jobs").is_empty());
    let taken = sb.take_job("w", Duration::seconds(30), 5, now).await.expect("take in b");
    assert!(taken.job.is_none(), "b's worker cannot take a's job");
    let with_work = store.projects_with_work().await.expect("projects with work");
    assert!(with_work.contains(a) && with_work.contains(b), "both have outbox entries: {with_work:?}");
    // A lifecycle change in b cannot reach a's incident.
    let refused = sb.transition(inc_a, Action::Triage, "oncall", None, &policy, now).await;
    assert!(refused.is_err(), "b cannot triage a's incident");
    assert_eq!(sa.get_incident(inc_a).await.expect("read").expect("a's").status, IncidentStatus::Open);
    let pending_b = sb.pending_records(100).await.expect("pending");
    assert_eq!(pending_b.len(), 1);
    assert_eq!(pending_b[0].incident.incident_id, inc_b, "b's outbox holds b's incident only");
    let done: Vec<(IncidentId, u64)> = pending_b.iter().map(|p| (p.incident.incident_id, p.version)).collect();
    sb.clear_pending(&done).await.expect("clear b");
    assert_eq!(sa.pending_records(100).await.expect("pending").len(), 1, "clearing b left a's outbox");
    let taken = sa.take_job("w", Duration::seconds(30), 5, now).await.expect("take in a");
    assert_eq!(taken.job.map(|j| j.job_id), Some(job), "a's worker takes a's job");
}
