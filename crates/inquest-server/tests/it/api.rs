//! Read endpoints, errors, health, OpenAPI and the dashboard.

use axum::http::StatusCode;

use crate::*;

#[tokio::test]
async fn health_and_readiness_report_every_store() {
    let app = test_app().await;
    let (s, v) = call(&app.router, "GET", "/health", None).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, v) = call(&app.router, "GET", "/health/ready", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["ready"], true);
    let ports: Vec<&str> = v["stores"].as_array().expect("stores").iter().filter_map(|c| c["port"].as_str()).collect();
    assert_eq!(ports, ["records", "metrics", "topology", "semantic"]);
}

#[tokio::test]
async fn incident_list_filters_and_paginates() {
    let app = test_app().await;
    let (s, v) = call(&app.router, "GET", "/api/incidents", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["total"], 3);
    let first = &v["items"][0];
    assert!(first["top_hypothesis"]["confidence"].as_f64().is_some(), "{first}");
    // Newest first: the traffic case is on the latest date.
    assert_eq!(first["service"], "catalog");

    let (_, v) = call(&app.router, "GET", "/api/incidents?service=checkout", None).await;
    assert_eq!(v["total"], 2);
    let (_, v) = call(&app.router, "GET", "/api/incidents?service=checkout&limit=1&offset=1", None).await;
    assert_eq!((v["total"].as_u64(), v["items"].as_array().map(Vec::len)), (Some(2), Some(1)));
    assert_eq!(v["items"][0]["incident_id"], app.incident("release-checkout-payment-timeout").to_string());
    let (_, v) = call(&app.router, "GET", "/api/incidents?status=resolved", None).await;
    assert_eq!(v["total"], 0);
    let (_, v) =
        call(&app.router, "GET", "/api/incidents?from=2026-09-03T00:00:00Z&to=2026-09-07T00:00:00Z", None).await;
    assert_eq!(v["total"], 1, "only the config case (2026-09-05) is in range: {v}");
}

#[tokio::test]
async fn malformed_queries_get_a_4xx_naming_the_field() {
    let app = test_app().await;
    for (uri, field) in [
        ("/api/incidents?status=burning", "status"),
        ("/api/incidents?limit=lots", "limit"),
        ("/api/incidents?limit=0", "limit"),
        ("/api/incidents?severity=9", "severity"),
        ("/api/incidents?from=yesterday", "from"),
        ("/api/incidents?colour=red", "colour"),
        ("/api/incidents/not-a-uuid", "incident_id"),
        ("/api/priors?before=soon", "before"),
        ("/api/ranking/weights?before=soon", "before"),
        ("/api/ranking/weights?since=2026-09-01T00:00:00Z", "since"),
    ] {
        let (s, v) = call(&app.router, "GET", uri, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}: {v}");
        let msg = error_message(&v, s);
        assert!(msg.contains(field), "{uri}: '{msg}' does not name {field}");
    }
    let (s, v) = call(&app.router, "GET", &format!("/api/incidents/{}", IncidentId::new_random()), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(error_message(&v, s).contains("not found"));
    let (s, v) = call(&app.router, "GET", "/api/nothing-here", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    error_message(&v, s);
}

#[tokio::test]
async fn incident_detail_has_hypotheses_evidence_and_rendered_report() {
    let app = test_app().await;
    let id = app.incident("release-checkout-payment-timeout");
    let (s, v) = call(&app.router, "GET", &format!("/api/incidents/{id}"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let hyps = v["hypotheses"].as_array().expect("hypotheses");
    assert!(hyps.len() >= 2);
    assert_eq!(hyps[0]["rank"], 1);
    assert_eq!(hyps[0]["hypothesis_type"], "release");
    let factors = hyps[0]["details"]["factors"].as_array().expect("factor breakdown");
    assert!(factors.iter().any(|f| f["name"] == "timing"), "{factors:?}");
    let action = &hyps[0]["details"]["recommendation"];
    assert_eq!(
        (action["rank"].as_u64(), action["action_type"].as_str()),
        (Some(1), Some("rollback_deployment")),
        "{action}"
    );
    assert!(action["expected_ttr_minutes"].as_u64().is_some_and(|m| m > 0), "{action}");
    assert!(["low", "medium", "high"].contains(&action["risk_level"].as_str().unwrap_or_default()), "{action}");
    let evidence = v["evidence"].as_array().expect("evidence");
    for e in hyps[0]["evidence_ids"].as_array().expect("ids") {
        assert!(evidence.iter().any(|x| &x["evidence_id"] == e), "cited evidence {e} is listed");
    }
    assert!(evidence.iter().all(|e| e["ref"].as_str().is_some_and(|r| !r.is_empty())));
    let html = v["report"]["html"].as_str().expect("html");
    assert!(html.contains("<h1>") || html.contains("<h2>"), "{html}");
    assert!(html.contains("Recommended actions"), "{html}");
    assert_eq!(v["report_history"].as_array().map(Vec::len), Some(1));
    assert!(v["runbooks"].as_array().is_some());
    assert_eq!(v["feedback"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn metrics_endpoint_gives_series_changes_and_blast_radius() {
    let app = test_app().await;
    let id = app.incident("release-checkout-payment-timeout");
    let (s, v) = call(&app.router, "GET", &format!("/api/incidents/{id}/metrics"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let series = v["series"].as_array().expect("series");
    assert!(series.iter().any(|x| x["service_key"].as_str().is_some_and(|k| k.ends_with("/checkout"))
        && x["points"].as_array().is_some_and(|p| p.len() > 30)));
    let changes = v["changes"].as_array().expect("changes");
    assert!(changes.iter().any(|c| c["kind"] == "deployment"), "{changes:?}");
    assert!(v["onset"].is_string(), "onset from the investigation's anomaly features");
    let radius = v["blast_radius"].as_array().expect("radius");
    assert!(radius.iter().any(|r| r["direction"] == "origin"));
    assert!(radius.len() > 1);
}

#[tokio::test]
async fn reinvestigate_adds_nothing_when_data_is_unchanged() {
    let app = test_app().await;
    let id = app.incident("config-checkout-pool-size");
    let (s, v) = call(&app.router, "POST", &format!("/api/incidents/{id}/investigate"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["hypotheses"][0]["hypothesis_type"], "config");
    let (s, _) =
        call(&app.router, "POST", &format!("/api/incidents/{}/investigate", IncidentId::new_random()), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn openapi_document_is_generated_and_served() {
    let app = test_app().await;
    let (s, v) = call(&app.router, "GET", "/api/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["openapi"].as_str().is_some_and(|x| x.starts_with("3.")));
    for p in [
        "/health",
        "/health/ready",
        "/api/incidents",
        "/api/incidents/{id}",
        "/api/incidents/{id}/feedback",
        "/api/incidents/{id}/metrics",
        "/api/incidents/{id}/investigate",
        "/api/priors",
        "/api/ranking/weights",
    ] {
        assert!(v["paths"][p].is_object(), "{p} missing from the OpenAPI document");
    }
    let params: Vec<&str> = v["paths"]["/api/incidents"]["get"]["parameters"]
        .as_array()
        .expect("params")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for q in ["status", "service", "severity", "from", "to", "limit", "offset"] {
        assert!(params.contains(&q), "{q} not documented: {params:?}");
    }
    assert_eq!(inquest_server::openapi().paths.paths.len(), v["paths"].as_object().map(|m| m.len()).unwrap_or(0));
}

#[tokio::test]
async fn dashboard_is_served_without_external_assets() {
    let app = test_app().await;
    for uri in ["/", &format!("/incidents/{}", app.incident("config-checkout-pool-size"))] {
        let (s, body, ctype) = raw(&app.router, "GET", uri, None).await;
        assert_eq!(s, StatusCode::OK);
        assert!(ctype.starts_with("text/html"), "{ctype}");
        let html = String::from_utf8_lossy(&body);
        assert!(html.contains("/assets/app.js"));
        assert!(!html.contains("http://") && !html.contains("https://"), "no CDN");
    }
    let (s, body, ctype) = raw(&app.router, "GET", "/assets/app.js", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(ctype.contains("javascript"));
    let js = String::from_utf8_lossy(&body);
    assert!(js.contains("hypothesis_confirmed"));
    assert!(js.contains("Recommended actions") && js.contains("expected_ttr_minutes"), "the incident page shows them");
    let (s, _, ctype) = raw(&app.router, "GET", "/assets/style.css", None).await;
    assert_eq!((s, ctype.starts_with("text/css")), (StatusCode::OK, true));
}
