//! Ranking behaviour on bundled fixtures: determinism, evidence, honesty.

use inquest_core::{InvestigationConfig, investigate, investigate_and_save};
use inquest_domain::*;
use inquest_report::TemplateReport;

use crate::{loaded, now, read_case};

#[tokio::test]
async fn same_evidence_gives_the_same_ranking_and_ids() {
    let case = read_case("config-checkout-pool-size");
    let stores = loaded(&case).await;
    let cfg = InvestigationConfig::default();
    let a = investigate(&stores, case.incident_id, &cfg, now(&case)).await.expect("a");
    let b = investigate(&stores, case.incident_id, &cfg, now(&case)).await.expect("b");
    assert_eq!(a.hypotheses, b.hypotheses);
    assert_eq!(a.evidence, b.evidence);
}

#[tokio::test]
async fn every_hypothesis_cites_existing_evidence_with_followable_refs() {
    let case = read_case("release-checkout-payment-timeout");
    let stores = loaded(&case).await;
    let (inv, report) =
        investigate_and_save(&stores, &TemplateReport, case.incident_id, &InvestigationConfig::default(), now(&case))
            .await
            .expect("investigates");
    let stored = stores.records.evidence(case.incident_id).await.expect("evidence");
    let ids: std::collections::HashSet<_> = stored.iter().map(|e| e.evidence_id).collect();
    for h in &inv.hypotheses {
        assert!(
            !h.evidence_ids.is_empty() || h.hypothesis_type == HypothesisType::Unknown,
            "{} cites nothing",
            h.title
        );
        for id in &h.evidence_ids {
            assert!(ids.contains(id), "{} cites missing evidence {id}", h.title);
        }
        let factors = h.details.get("factors").and_then(|f| f.as_array()).expect("factor breakdown stored");
        assert!(!factors.is_empty());
    }
    for id in &report.evidence_ids {
        assert!(ids.contains(id));
    }
    for e in &stored {
        let ok = match e.kind {
            EvidenceKind::Record => {
                e.reference.starts_with("deployment_events/") || e.reference.starts_with("config_change_events/")
            }
            EvidenceKind::GitDiff => e.reference.starts_with("commit_files/"),
            EvidenceKind::SemanticMatch => collections::ALL.iter().any(|c| e.reference.starts_with(&format!("{c}/"))),
            EvidenceKind::MetricQuery => e.reference.contains("service_key=") && e.reference.contains("metric="),
            EvidenceKind::TopologyQuery => e.reference.contains("origin="),
            _ => true,
        };
        assert!(ok, "evidence ref not followable: {:?} {}", e.kind, e.reference);
    }
    // Anomaly features were written back to the metrics store.
    let features = stores.metrics.anomaly_features(&case.incident_id.to_string()).await.expect("features");
    assert!(features.iter().any(|f| f.feature_name.ends_with(".robust_z")));
}

#[tokio::test]
async fn release_culprit_is_blamed_and_decoys_rank_below() {
    let case = read_case("release-checkout-payment-timeout");
    let stores = loaded(&case).await;
    let inv = investigate(&stores, case.incident_id, &InvestigationConfig::default(), now(&case)).await.expect("ok");
    let top = &inv.hypotheses[0];
    assert_eq!(top.hypothesis_type, HypothesisType::Release);
    assert!(case.truth.culprits.iter().any(|c| Some(c.as_str()) == top.culprit()), "top culprit {:?}", top.culprit());
    let factor = |name: &str| {
        top.details["factors"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["name"] == name)
            .and_then(|f| f["value"].as_f64())
    };
    assert!(factor("timing").unwrap_or(0.0) > 0.5);
    assert!(factor("change_risk").unwrap_or(0.0) > 0.5);
    // Other releases in the window rank below the culprit.
    for h in inv.hypotheses.iter().skip(1).filter(|h| h.hypothesis_type == HypothesisType::Release) {
        assert!(h.confidence <= top.confidence);
    }
}

#[tokio::test]
async fn with_no_metrics_movement_the_answer_is_unknown() {
    // Replace every point of a case with a flat series: nothing moved, nothing is decisive.
    let mut case = read_case("traffic-search-bot-scrape");
    for p in &mut case.points {
        p.value = 10.0 + (p.ts.timestamp() % 7) as f64 * 0.1;
    }
    case.batch.deployments.clear();
    case.batch.commit_ranges.clear();
    case.batch.config_changes.clear();
    let stores = loaded(&case).await;
    let inv = investigate(&stores, case.incident_id, &InvestigationConfig::default(), now(&case)).await.expect("ok");
    assert_eq!(inv.hypotheses[0].hypothesis_type, HypothesisType::Unknown);
    assert!(inv.hypotheses[0].confidence < 0.7);
    assert!(inv.onset.is_none());
}

#[tokio::test]
async fn the_leading_hypotheses_come_with_recommended_actions() {
    let case = read_case("release-payments-http-client");
    let stores = loaded(&case).await;
    let id = case.batch.incidents[0].incident_id;
    let inv = investigate(&stores, id, &InvestigationConfig::default(), now(&case)).await.expect("investigation");
    let recs = &inv.recommendations;
    let n = inquest_core::recommend::RECOMMENDED.min(inv.hypotheses.len());
    assert_eq!(recs.len(), n);
    let first = &recs[0];
    assert_eq!(first.rank, 1);
    assert_eq!(first.hypothesis_id, inv.hypotheses[0].hypothesis_id);
    assert_eq!(first.action_type, inquest_core::ActionType::RollbackDeployment);
    assert_eq!(first.parameters["to_revision"], "4eae278", "{:?}", first.parameters);
    assert_eq!(first.parameters["service"], "payments");
    assert_eq!(first.risk_level, inquest_core::RiskLevel::Low);
    assert!(first.ttr_basis.starts_with("typical"), "no earlier incident was resolved: {}", first.ttr_basis);
    // Stored with its hypothesis, so the API and the dashboard show it.
    assert_eq!(inv.hypotheses[0].details["recommendation"]["action_type"], "rollback_deployment");
    assert!(inv.hypotheses[n..].iter().all(|h| h.details.get("recommendation").is_none()));
}

#[tokio::test]
async fn the_expected_time_to_recover_comes_from_earlier_resolved_incidents() {
    use inquest_core::feedback::{FeedbackInput, record_feedback};
    // Two release incidents in one store, a day apart: the first one confirmed and so
    // resolved 40 minutes after it started; the second one's rollback expects that long.
    let earlier = read_case("release-payments-http-client");
    let later = read_case("release-catalog-cache-ttl");
    let stores = loaded(&earlier).await;
    inquest_fixtures::load_case(&stores, &later).await.expect("second case loads");
    let first = earlier.batch.incidents[0].clone();
    let (inv, _) = investigate_and_save(
        &stores,
        &TemplateReport,
        first.incident_id,
        &InvestigationConfig::default(),
        now(&earlier),
    )
    .await
    .expect("first investigation");
    let at = first.window_start + chrono::Duration::minutes(40);
    let confirm = FeedbackInput::Confirm { hypothesis: inv.hypotheses[0].hypothesis_id }.into_event(
        first.incident_id,
        ActorType::User,
        Some("oncall".into()),
        at,
    );
    record_feedback(&stores, &confirm, at).await.expect("feedback");

    let second = later.batch.incidents[0].incident_id;
    let inv = investigate(&stores, second, &InvestigationConfig::default(), now(&later)).await.expect("second");
    let rollback = inv
        .recommendations
        .iter()
        .find(|r| r.action_type == inquest_core::ActionType::RollbackDeployment)
        .expect("a rollback is recommended");
    assert_eq!(rollback.expected_ttr_minutes, 40, "{rollback:?}");
    assert_eq!(rollback.ttr_basis, "median of 1 earlier release incident(s) resolved");
}

#[tokio::test]
async fn a_hypothesis_confirmed_before_on_the_same_service_carries_its_precedent() {
    use inquest_core::feedback::{FeedbackInput, record_feedback};
    let case = read_case("release-payments-http-client");
    let stores = loaded(&case).await;
    let first = case.batch.incidents[0].clone();
    let (inv, _) =
        investigate_and_save(&stores, &TemplateReport, first.incident_id, &InvestigationConfig::default(), now(&case))
            .await
            .expect("first investigation");
    let confirmed = inv.hypotheses[0].clone();
    assert!(confirmed.details.get("precedent").is_none(), "nothing was judged before: {:?}", confirmed.details);
    let at = first.window_start + chrono::Duration::minutes(20);
    let confirm = FeedbackInput::Confirm { hypothesis: confirmed.hypothesis_id }.into_event(
        first.incident_id,
        ActorType::User,
        Some("oncall".into()),
        at,
    );
    record_feedback(&stores, &confirm, at).await.expect("feedback");
    // The same service breaks again an hour later, on the same evidence.
    let shift = chrono::Duration::minutes(60);
    let again = Incident {
        incident_id: IncidentId::derived(&["again", &first.incident_id.to_string()]),
        window_start: first.window_start + shift,
        window_end: first.window_end + shift,
        created_at: first.created_at + shift,
        updated_at: first.updated_at + shift,
        ..first.clone()
    };
    stores
        .records
        .apply_batch(&inquest_ports::RecordBatch { incidents: vec![again.clone()], ..Default::default() })
        .await
        .expect("second incident");
    let later = investigate(&stores, again.incident_id, &InvestigationConfig::default(), now(&case) + shift)
        .await
        .expect("second investigation");
    let same = later
        .hypotheses
        .iter()
        .find(|h| {
            h.hypothesis_type == confirmed.hypothesis_type
                && h.details["service_key"] == confirmed.details["service_key"]
        })
        .expect("the confirmed kind of cause is ranked again");
    assert_eq!(same.details["precedent"], serde_json::json!({ "confirmed": 1, "rejected": 0 }), "{:?}", same.details);
}
