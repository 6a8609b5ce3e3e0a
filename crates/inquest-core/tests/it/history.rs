//! Baselines from history: normal data recorded days before the incident is found,
//! and an incident with no history says so as a gap.

use chrono::Duration;
use inquest_core::{InvestigationConfig, investigate};
use inquest_domain::*;

use crate::{loaded, now, read_case};

/// The case's baseline points (before the window's look-back) moved `hours` earlier.
fn with_history_moved(id: &str, hours: i64) -> inquest_fixtures::FixtureCase {
    let mut case = read_case(id);
    let cut = case.batch.incidents[0].window_start - Duration::minutes(15);
    for p in case.points.iter_mut().filter(|p| p.ts < cut) {
        p.ts -= Duration::hours(hours);
    }
    case
}

#[tokio::test]
async fn history_recorded_days_before_is_the_baseline() {
    // Three days and eight hours before: not the same time of day, so all of history.
    history_is_found(3 * 24 + 8, "history").await;
    // Exactly three days before: the same hours of an earlier day.
    history_is_found(3 * 24, "same_time_of_day").await;
}

async fn history_is_found(hours: i64, source: &str) {
    let case = with_history_moved("infra-catalog-noisy-neighbour", hours);
    let stores = loaded(&case).await;
    let inv = investigate(&stores, case.incident_id, &InvestigationConfig::default(), now(&case)).await.expect("ok");
    assert!(inv.gaps.is_empty(), "{:?}", inv.gaps);
    let top = &inv.hypotheses[0];
    assert_eq!(top.hypothesis_type, HypothesisType::Infra, "{}", top.title);
    let moved = inv
        .evidence
        .iter()
        .find(|e| e.metadata.get("baseline").is_some_and(|b| b["source"] == source))
        .expect("a signal scored against the history days before");
    assert!(moved.metadata["baseline"]["points"].as_u64().unwrap_or(0) >= 60, "{}", moved.metadata);
    let plan = inv.evidence.iter().find(|e| e.reference.starts_with("baseline_plan?")).expect("plan evidence");
    assert_eq!(plan.metadata["horizon_days"], 14);
}

#[tokio::test]
async fn history_beyond_the_horizon_is_a_gap_and_pre_onset_points_stand_in() {
    let case = with_history_moved("infra-catalog-noisy-neighbour", 30 * 24);
    let stores = loaded(&case).await;
    let inv = investigate(&stores, case.incident_id, &InvestigationConfig::default(), now(&case)).await.expect("ok");
    let gap = inv.gaps.iter().find(|g| g.operation == "baseline_history").expect("a history gap");
    assert!(gap.message.contains("no clean history within 14 days"), "{}", gap.message);
    assert!(inv.evidence.iter().any(|e| e.metadata.get("baseline").is_some_and(|b| b["source"] == "pre_onset")));
}
