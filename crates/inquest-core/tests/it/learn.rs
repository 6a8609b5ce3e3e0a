//! Feedback-learned factor weights end to end on the embedded store: confirmations of
//! earlier incidents reweigh a later investigation's factors (the default kept beside
//! the learned weight), feedback given after the incident started does not, and
//! retracting it restores the defaults.

use chrono::Duration;
use inquest_core::feedback::{FeedbackInput, record_feedback};
use inquest_core::learn::learned_weights;
use inquest_core::{InvestigationConfig, investigate, investigate_and_save};
use inquest_domain::*;
use inquest_fixtures::load_case;
use inquest_report::TemplateReport;
use inquest_store_embedded::EmbeddedStore;

use crate::read_case;

const EARLIER: [&str; 6] = [
    "release-checkout-payment-timeout",
    "release-payments-http-client",
    "release-catalog-cache-ttl",
    "config-checkout-pool-size",
    "config-search-memory-limit",
    "config-payments-stripe-key",
];
const LATER: &str = "dependency-inventory-degraded";

fn reweighed(h: &Hypothesis) -> Vec<(String, f64, f64)> {
    h.details["factors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| Some((f["name"].as_str()?.to_string(), f["weight"].as_f64()?, f["default_weight"].as_f64()?)))
        .collect()
}

#[tokio::test]
async fn confirmations_of_earlier_incidents_reweigh_later_ones_until_retracted() {
    let stores = EmbeddedStore::in_memory().expect("store").stores();
    let cfg = InvestigationConfig::default();
    let mut given = Vec::new();
    for id in EARLIER {
        let case = read_case(id);
        load_case(&stores, &case).await.expect("loads");
        let end = case.batch.incidents[0].window_end;
        let (inv, _) = investigate_and_save(&stores, &TemplateReport, case.incident_id, &cfg, end).await.expect("ok");
        let at = end + Duration::minutes(5);
        let event = FeedbackInput::Confirm { hypothesis: inv.hypotheses[0].hypothesis_id }.into_event(
            case.incident_id,
            ActorType::User,
            Some("oncall".into()),
            at,
        );
        record_feedback(&stores, &event, at).await.expect("recorded");
        given.push(event);
    }
    let later = read_case(LATER);
    load_case(&stores, &later).await.expect("loads");
    let start = later.batch.incidents[0].window_start;
    let end = later.batch.incidents[0].window_end;

    let w = learned_weights(&stores, start, Some(later.incident_id)).await.expect("weights");
    assert!(w.learned, "{w:?}");
    assert_eq!(w.incidents, EARLIER.len());
    assert!(w.pairs >= w.min_pairs);
    let moved: Vec<&str> = w.factors.iter().filter(|f| f.multiplier != 1.0).map(|f| f.factor.as_str()).collect();
    assert!(!moved.is_empty(), "{w:?}");

    let inv = investigate(&stores, later.incident_id, &cfg, end).await.expect("ok");
    let ranked: Vec<&Hypothesis> =
        inv.hypotheses.iter().filter(|h| h.hypothesis_type != HypothesisType::Unknown).collect();
    let shown: Vec<(String, f64, f64)> = ranked.iter().flat_map(|h| reweighed(h)).collect();
    assert!(!shown.is_empty(), "the breakdown shows learned weights beside the defaults");
    for (name, weight, default) in &shown {
        let m = w.multiplier(name);
        assert!((weight - (default * m * 1000.0).round() / 1000.0).abs() < 1e-9, "{name} {weight} {default} {m}");
    }
    // The markdown report shows them too.
    let md = inquest_report::render(&inv);
    assert!(md.contains("(learned; default "), "{md}");
    // The scores are the weighted means with the learned weights.
    for h in &ranked {
        let fs: Vec<inquest_core::factors::Factor> =
            serde_json::from_value(h.details["factors"].clone()).expect("factors parse");
        assert!((inquest_core::factors::combine(&fs) - h.details["score"].as_f64().unwrap_or(-1.0)).abs() < 1e-9);
    }

    // Feedback counts only once given: as of the first incident's end, before its
    // confirmation, nothing was learned.
    let first_end = read_case(EARLIER[0]).batch.incidents[0].window_end;
    let w0 = learned_weights(&stores, first_end, None).await.expect("weights");
    assert_eq!((w0.pairs, w0.learned), (0, false));

    // Retracting every confirmation restores the default weights.
    for e in &given {
        let at = start - Duration::hours(1);
        let undo = FeedbackInput::Retract { event: e.feedback_event_id }.into_event(
            e.incident_id,
            ActorType::User,
            Some("oncall".into()),
            at,
        );
        record_feedback(&stores, &undo, at).await.expect("retracted");
    }
    let w = learned_weights(&stores, start, Some(later.incident_id)).await.expect("weights");
    assert_eq!((w.pairs, w.learned), (0, false));
    let inv = investigate(&stores, later.incident_id, &cfg, end).await.expect("ok");
    assert!(inv.hypotheses.iter().all(|h| reweighed(h).is_empty()), "defaults everywhere after the retractions");
    assert!(!inquest_report::render(&inv).contains("(learned; default "));
}
