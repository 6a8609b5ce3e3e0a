//! Feedback through the API: append-only, derived resolution, undo, priors.

use axum::http::StatusCode;
use serde_json::json;

use crate::*;

#[tokio::test]
async fn confirm_resolves_and_undo_unresolves_without_deleting() {
    let app = test_app().await;
    let id = app.incident("config-checkout-pool-size");
    let uri = format!("/api/incidents/{id}");
    let (_, d) = call(&app.router, "GET", &uri, None).await;
    let top = d["hypotheses"][0]["hypothesis_id"].as_str().expect("id").to_string();
    let title = d["hypotheses"][0]["title"].as_str().expect("title").to_string();

    let (s, v) = call(
        &app.router,
        "POST",
        &format!("{uri}/feedback"),
        Some(json!({ "event_type": "hypothesis_confirmed", "hypothesis_id": top, "actor_id": "oncall" })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["event"]["actor_type"], "user");
    assert_eq!(v["event"]["actor_id"], "oncall");
    let confirm_id = v["event"]["feedback_event_id"].as_str().expect("event id").to_string();

    let (_, d) = call(&app.router, "GET", &uri, None).await;
    assert_eq!(d["incident"]["status"], "resolved");
    assert_eq!(d["incident"]["resolved_hypothesis_id"], top);
    assert_eq!(d["incident"]["resolution_kind"], "hypothesis_confirmed");
    assert_eq!(d["incident"]["resolution_summary"], title);
    assert_eq!(d["verdicts"][&top], "confirmed");
    let (_, list) = call(&app.router, "GET", "/api/incidents?status=resolved", None).await;
    assert_eq!(list["total"], 1);

    let (s, v) = call(
        &app.router,
        "POST",
        &format!("{uri}/feedback"),
        Some(json!({ "event_type": "feedback_retracted", "retracts": confirm_id })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, d) = call(&app.router, "GET", &uri, None).await;
    assert!(d["incident"]["resolved_at"].is_null(), "{}", d["incident"]);
    assert_eq!(d["incident"]["status"], "triaged");
    assert_eq!(d["feedback"].as_array().map(Vec::len), Some(2), "nothing deleted");
    assert_eq!(d["retracted"], json!([confirm_id]));
    assert!(d["verdicts"].as_object().is_some_and(|m| m.is_empty()));

    // Retracting twice conflicts.
    let (s, v) = call(
        &app.router,
        "POST",
        &format!("{uri}/feedback"),
        Some(json!({ "event_type": "feedback_retracted", "retracts": confirm_id })),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    error_message(&v, s);
}

#[tokio::test]
async fn free_text_root_cause_and_notes() {
    let app = test_app().await;
    let id = app.incident("traffic-catalog-flash-sale");
    let uri = format!("/api/incidents/{id}");
    let (s, _) = call(
        &app.router,
        "POST",
        &format!("{uri}/feedback"),
        Some(json!({ "event_type": "human_note_added", "text": "marketing sent a newsletter" })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, d) = call(&app.router, "GET", &uri, None).await;
    assert!(d["incident"]["resolved_at"].is_null(), "a note does not resolve");
    let (s, _) = call(
        &app.router,
        "POST",
        &format!("{uri}/feedback"),
        Some(json!({ "event_type": "root_cause_set", "text": "flash sale traffic" })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, d) = call(&app.router, "GET", &uri, None).await;
    assert_eq!(d["incident"]["resolution_kind"], "root_cause_text");
    assert_eq!(d["incident"]["resolution_summary"], "flash sale traffic");
    assert!(d["incident"]["resolved_hypothesis_id"].is_null());
}

#[tokio::test]
async fn malformed_feedback_gets_a_4xx_naming_the_field() {
    let app = test_app().await;
    let uri = format!("/api/incidents/{}/feedback", app.incident("config-checkout-pool-size"));
    for (body, field) in [
        (json!({ "hypothesis_id": "x" }), "event_type"),
        (json!({ "event_type": "hypothesis_loved" }), "event_type"),
        (json!({ "event_type": "hypothesis_confirmed" }), "hypothesis_id"),
        (json!({ "event_type": "hypothesis_confirmed", "hypothesis_id": "nope" }), "hypothesis_id"),
        (
            json!({ "event_type": "hypothesis_rejected", "hypothesis_id": IncidentId::new_random().to_string() }),
            "hypothesis_id",
        ),
        (json!({ "event_type": "human_note_added", "text": "  " }), "text"),
        (json!({ "event_type": "feedback_retracted" }), "retracts"),
        (json!({ "event_type": "feedback_retracted", "retracts": IncidentId::new_random().to_string() }), "retracts"),
        (json!({ "event_type": "human_note_added", "text": "x", "mood": "grumpy" }), "mood"),
    ] {
        let (s, v) = call(&app.router, "POST", &uri, Some(body.clone())).await;
        assert!(s.is_client_error(), "{body}: {s} {v}");
        let msg = error_message(&v, s);
        assert!(msg.contains(field), "{body}: '{msg}' does not name {field}");
    }
    let (s, body, _) = raw(&app.router, "POST", &uri, None).await;
    assert!(s.is_client_error(), "a body-less POST is a client error");
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json error");
    error_message(&v, s);
}

#[tokio::test]
async fn priors_come_from_earlier_incidents_only_and_show_in_the_breakdown() {
    let app = test_app().await;
    // Confirm the release on checkout (2026-09-01).
    let early = app.incident("release-checkout-payment-timeout");
    let (_, d) = call(&app.router, "GET", &format!("/api/incidents/{early}"), None).await;
    let top = d["hypotheses"][0]["hypothesis_id"].as_str().expect("id").to_string();
    let (s, _) = call(
        &app.router,
        "POST",
        &format!("/api/incidents/{early}/feedback"),
        Some(json!({ "event_type": "hypothesis_confirmed", "hypothesis_id": top })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);

    let (_, p) = call(&app.router, "GET", "/api/priors", None).await;
    assert_eq!(p["incidents_with_feedback"], 1);
    let svc = p["by_service"].as_object().expect("by_service").keys().next().expect("a service").clone();
    assert!(svc.ends_with("/checkout"));
    assert_eq!(p["by_service"][&svc]["release"]["confirmed"], 1);
    assert_eq!(p["by_change_type"]["timeout_retry"]["confirmed"], 1, "{p}");
    let (_, none) = call(&app.router, "GET", "/api/priors?before=2026-09-01T00:00:00Z", None).await;
    assert_eq!(none["incidents_with_feedback"], 0, "no leakage from later incidents");

    // The later checkout incident, re-investigated, shows the prior on its release hypotheses.
    let later = app.incident("config-checkout-pool-size");
    let (s, d) = call(&app.router, "POST", &format!("/api/incidents/{later}/investigate"), None).await;
    assert_eq!(s, StatusCode::OK);
    let explained: Vec<String> = d["hypotheses"]
        .as_array()
        .expect("hyps")
        .iter()
        .flat_map(|h| h["details"]["factors"].as_array().cloned().unwrap_or_default())
        .filter(|f| f["name"] == "feedback_prior")
        .filter_map(|f| f["explanation"].as_str().map(str::to_string))
        .collect();
    assert!(
        explained.iter().any(|e| e.contains("precedent: 1 of 1 confirmed incidents on checkout were release")),
        "{explained:?}"
    );

    // The earlier incident never sees the prior of its own feedback.
    let (_, d) = call(&app.router, "POST", &format!("/api/incidents/{early}/investigate"), None).await;
    let own = d["hypotheses"]
        .as_array()
        .expect("hyps")
        .iter()
        .flat_map(|h| h["details"]["factors"].as_array().cloned().unwrap_or_default())
        .filter(|f| f["name"] == "feedback_prior")
        .count();
    assert_eq!(own, 0);
}

#[tokio::test]
async fn resolution_is_rederived_after_a_fixture_reload_resets_it() {
    use inquest_core::feedback::{FeedbackInput, record_feedback, rederive_all};
    let store = inquest_store_embedded::EmbeddedStore::in_memory().expect("store");
    let stores = store.stores();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let case = FixtureCase::read(&root.join(CASES[1])).expect("case");
    load_case(&stores, &case).await.expect("load");
    let (inv, _) =
        investigate_and_save(&stores, &TemplateReport, case.incident_id, &InvestigationConfig::default(), Utc::now())
            .await
            .expect("investigate");
    let event = FeedbackInput::Confirm { hypothesis: inv.hypotheses[0].hypothesis_id }.into_event(
        case.incident_id,
        inquest_domain::ActorType::User,
        None,
        Utc::now(),
    );
    record_feedback(&stores, &event, Utc::now()).await.expect("feedback");
    load_case(&stores, &case).await.expect("reload");
    let reset = stores.records.get_incident(case.incident_id).await.expect("get").expect("incident");
    assert!(reset.resolved_at.is_none(), "the reload overwrote the row");
    assert_eq!(rederive_all(&stores, Utc::now()).await.expect("rederive"), 1);
    let fixed = stores.records.get_incident(case.incident_id).await.expect("get").expect("incident");
    assert_eq!(fixed.resolved_hypothesis_id, Some(inv.hypotheses[0].hypothesis_id));
    assert_eq!(rederive_all(&stores, Utc::now()).await.expect("rederive"), 0, "idempotent");
}

#[tokio::test]
async fn ranking_weights_are_learned_from_feedback_and_retractions_restore_the_defaults() {
    let app = test_app().await;
    let (s, w) = call(&app.router, "GET", "/api/ranking/weights", None).await;
    assert_eq!(s, StatusCode::OK, "{w}");
    assert_eq!((w["pairs"].as_u64(), w["learned"].as_bool()), (Some(0), Some(false)), "{w}");
    let timing = w["factors"].as_array().and_then(|fs| fs.iter().find(|f| f["factor"] == "timing")).cloned();
    assert_eq!(
        timing.as_ref().map(|f| (f["default_weight"].clone(), f["learned_weight"].clone())),
        Some((json!(3.0), json!(3.0)))
    );

    let mut confirmations = Vec::new();
    for case in CASES {
        let id = app.incident(case);
        let (_, d) = call(&app.router, "GET", &format!("/api/incidents/{id}"), None).await;
        let top = d["hypotheses"][0]["hypothesis_id"].as_str().expect("id").to_string();
        let (s, v) = call(
            &app.router,
            "POST",
            &format!("/api/incidents/{id}/feedback"),
            Some(json!({ "event_type": "hypothesis_confirmed", "hypothesis_id": top })),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        confirmations.push((id, v["event"]["feedback_event_id"].as_str().expect("event id").to_string()));
    }

    let (s, w) = call(&app.router, "GET", "/api/ranking/weights", None).await;
    assert_eq!(s, StatusCode::OK, "{w}");
    assert_eq!(w["incidents"], 3, "{w}");
    assert!(w["pairs"].as_u64().unwrap_or(0) >= w["min_pairs"].as_u64().unwrap_or(u64::MAX), "{w}");
    assert_eq!(w["learned"], true, "{w}");
    let factors = w["factors"].as_array().expect("factors");
    assert!(factors.iter().any(|f| f["learned_weight"] != f["default_weight"]), "{w}");
    for f in factors {
        let (d, l, m) = (
            f["default_weight"].as_f64().expect("default"),
            f["learned_weight"].as_f64().expect("learned"),
            f["multiplier"].as_f64().expect("multiplier"),
        );
        assert!(l >= d / 4.0 - 1e-9 && l <= d * 4.0 + 1e-9, "{f}");
        assert!((l - d * m).abs() < 0.01, "{f}");
    }
    // Feedback given now never reaches incidents that started before it.
    let (_, old) = call(&app.router, "GET", "/api/ranking/weights?before=2026-09-01T00:00:00Z", None).await;
    assert_eq!((old["pairs"].as_u64(), old["learned"].as_bool()), (Some(0), Some(false)), "{old}");

    for (id, event) in confirmations {
        let (s, v) = call(
            &app.router,
            "POST",
            &format!("/api/incidents/{id}/feedback"),
            Some(json!({ "event_type": "feedback_retracted", "retracts": event })),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let (_, w) = call(&app.router, "GET", "/api/ranking/weights", None).await;
    assert_eq!((w["pairs"].as_u64(), w["learned"].as_bool()), (Some(0), Some(false)), "{w}");
    assert!(w["factors"].as_array().expect("factors").iter().all(|f| f["learned_weight"] == f["default_weight"]));
}
