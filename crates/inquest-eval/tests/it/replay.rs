//! The feedback replay on the bundled fixtures.

use std::path::PathBuf;

use inquest_core::InvestigationConfig;
use inquest_eval::{replay_by_dataset, replay_feedback};
use inquest_fixtures::{FixtureCase, discover_cases};

#[tokio::test]
async fn replay_with_feedback_applies_feedback_and_does_not_lose_accuracy() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let cases: Vec<FixtureCase> =
        discover_cases(&root).expect("fixture cases").iter().map(|d| FixtureCase::read(d).expect("case")).collect();
    assert!(cases.len() >= 16);
    let r = replay_feedback(&cases, &InvestigationConfig::default()).await.expect("replay");
    assert_eq!(r.without.cases.len(), cases.len());
    assert_eq!(r.with.cases.len(), cases.len());
    // Date order: the first replayed case is the earliest one.
    assert_eq!(r.with.cases[0].case_id, "release-checkout-payment-timeout");
    // One confirmation per case whose truth was ranked, one rejection per wrong top.
    let ranked = r.with.cases.iter().filter(|c| c.match_rank.is_some()).count();
    let wrong_top = r.with.cases.iter().filter(|c| c.match_rank != Some(1)).count();
    assert_eq!(r.feedback_events, ranked + wrong_top);
    // The first case has no earlier feedback: both runs rank it identically.
    assert_eq!(r.with.cases[0].ranked, r.without.cases[0].ranked);
    // Feedback must not cost accuracy on the bundled cases.
    assert!(
        r.with.hypotheses.ac1 >= r.without.hypotheses.ac1,
        "{} < {}",
        r.with.hypotheses.ac1,
        r.without.hypotheses.ac1
    );
    assert!(r.without.hypotheses.ac1 >= 0.9);
    // The bundled cases stay right with the learned weights.
    assert_eq!(r.with.hypotheses.ac1, 1.0);
    // The weights were learned from the replayed feedback, within their bounds.
    assert!(r.weights.learned, "{:?}", r.weights);
    // Every judged case but those whose truth is `unknown` (scored apart, never learned from).
    let judged = r
        .with
        .cases
        .iter()
        .filter(|c| c.match_rank.is_some() && c.truth.hypothesis_type != inquest_domain::HypothesisType::Unknown)
        .count();
    assert_eq!(r.weights.incidents, judged);
    assert!(r.weights.factors.iter().all(|f| f.multiplier <= r.weights.bound && f.multiplier >= 1.0 / r.weights.bound));
    // Cases without provenance are one group, `fixtures`, replayed the same way.
    let by = replay_by_dataset(&cases, &InvestigationConfig::default()).await.expect("replay");
    assert_eq!(by.keys().collect::<Vec<_>>(), ["fixtures"]);
    assert_eq!(by["fixtures"].with.hypotheses.ac1, r.with.hypotheses.ac1);
}
