//! The OpenAPI document lists every route of the router, and every route the dashboard calls.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use inquest_domain::IncidentId;
use inquest_intake::Policy;
use serde_json::Value;
use tower::ServiceExt;

use crate::{in_memory, intake_app};

/// Every route of the app except the dashboard's pages and assets and the document itself.
const ROUTES: [(&str, &str); 92] = [
    ("get", "/health"),
    ("get", "/health/ready"),
    ("get", "/health/intake"),
    ("get", "/metrics"),
    ("get", "/api/incidents"),
    ("get", "/api/incidents/{id}"),
    ("post", "/api/incidents/{id}/investigate"),
    ("get", "/api/incidents/{id}/metrics"),
    ("post", "/api/incidents/{id}/feedback"),
    ("get", "/api/priors"),
    ("get", "/api/ranking/weights"),
    ("post", "/api/alerts"),
    ("post", "/api/alertmanager"),
    ("get", "/api/lifecycle"),
    ("get", "/api/incidents/{id}/lifecycle"),
    ("post", "/api/incidents/{id}/transition"),
    ("post", "/api/incidents/{id}/notes"),
    ("get", "/api/jobs"),
    ("get", "/api/auth/me"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/logout"),
    ("post", "/api/auth/project"),
    ("post", "/api/projects"),
    ("get", "/api/members"),
    ("put", "/api/members/{login}"),
    ("delete", "/api/members/{login}"),
    ("get", "/api/tokens"),
    ("post", "/api/tokens"),
    ("delete", "/api/tokens/{id}"),
    ("get", "/api/integrations"),
    ("post", "/api/integrations"),
    ("get", "/api/integrations/{id}"),
    ("delete", "/api/integrations/{id}"),
    ("post", "/api/integrations/{id}/test"),
    ("get", "/api/audit"),
    ("post", "/api/feeds/kubernetes/audit"),
    ("post", "/api/feeds/kubernetes/audit/{cluster}"),
    ("post", "/api/feeds/schema-changes"),
    ("post", "/api/feeds/deployments"),
    ("post", "/api/feeds/argocd"),
    ("post", "/api/feeds/flux"),
    ("post", "/api/feeds/github"),
    ("put", "/api/topology/sources/{source}"),
    ("get", "/api/topology"),
    ("get", "/api/changes"),
    ("get", "/api/incidents/{id}/changes"),
    ("get", "/api/runbooks"),
    ("post", "/api/runbooks"),
    ("get", "/api/runbooks/{id}"),
    ("put", "/api/runbooks/{id}"),
    ("delete", "/api/runbooks/{id}"),
    ("get", "/api/slos"),
    ("post", "/api/slos"),
    ("get", "/api/slos/{id}"),
    ("put", "/api/slos/{id}"),
    ("delete", "/api/slos/{id}"),
    ("get", "/api/slos/{id}/burn"),
    ("get", "/api/invariants"),
    ("post", "/api/invariants"),
    ("get", "/api/invariants/{id}"),
    ("put", "/api/invariants/{id}"),
    ("delete", "/api/invariants/{id}"),
    ("post", "/api/invariants/{id}/run"),
    ("post", "/v1/traces"),
    ("post", "/api/v1/write"),
    ("get", "/api/tickets"),
    ("post", "/api/tickets"),
    ("get", "/api/tickets/{id}"),
    ("patch", "/api/tickets/{id}"),
    ("get", "/api/tickets/{id}/events"),
    ("post", "/api/tickets/{id}/events"),
    ("get", "/api/tickets/{id}/dependencies"),
    ("post", "/api/tickets/{id}/dependencies"),
    ("delete", "/api/tickets/{id}/dependencies/{dep_id}"),
    ("post", "/api/incidents/{id}/tickets"),
    ("get", "/api/stats"),
    ("get", "/api/oncall/schedules"),
    ("post", "/api/oncall/schedules"),
    ("get", "/api/oncall/schedules/{id}"),
    ("put", "/api/oncall/schedules/{id}"),
    ("delete", "/api/oncall/schedules/{id}"),
    ("post", "/api/oncall/schedules/{id}/overrides"),
    ("get", "/api/oncall/now"),
    ("get", "/api/incidents/{id}/assignment"),
    ("get", "/api/channels"),
    ("post", "/api/channels"),
    ("get", "/api/channels/{id}"),
    ("put", "/api/channels/{id}"),
    ("delete", "/api/channels/{id}"),
    ("post", "/api/channels/{id}/test"),
    ("get", "/api/notifications"),
    ("post", "/api/notifications/{id}/retry"),
];

async fn document(app: &axum::Router) -> Value {
    let req = Request::builder().uri("/api/openapi.json").body(Body::empty()).expect("request");
    let res = app.clone().oneshot(req).await.expect("response");
    assert_eq!(res.status(), StatusCode::OK);
    serde_json::from_slice(&res.into_body().collect().await.expect("body").to_bytes()).expect("json")
}

#[tokio::test]
async fn every_route_is_routed_and_documented_with_its_method() {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let app = intake_app(&ingest, &stores);
    let doc = document(&app).await;
    let id = IncidentId::new_random().to_string();
    for (method, path) in ROUTES {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} missing from the OpenAPI document");
        assert!(doc["paths"][path][method]["responses"].is_object(), "{method} {path} has no responses");
        // Routed: the answer is the route's own, not the fallback's.
        let req = Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(path.replace("{id}", &id).replace("{dep_id}", &id))
            .body(Body::from("{}"))
            .expect("request");
        let res = app.clone().oneshot(req).await.expect("response");
        let status = res.status();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&bytes);
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(!text.contains("no such route"), "{method} {path} is not routed: {text}");
    }
    let documented: usize = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|p| {
            p.as_object().map_or(0, |ops| {
                ops.keys().filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str())).count()
            })
        })
        .sum();
    assert_eq!(documented, ROUTES.len(), "the document and the route list differ");
    let req = Request::builder().uri("/api/not-a-route").body(Body::empty()).expect("request");
    let res = app.clone().oneshot(req).await.expect("response");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_api_path_the_dashboard_calls_is_documented() {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let doc = document(&intake_app(&ingest, &stores)).await;
    let js = include_str!("../../assets/app.js");
    let mut seen = 0;
    for call in js.split("api(").skip(1) {
        let Some(quote) = call.chars().next().filter(|c| ['"', '`'].contains(c)) else { continue };
        let literal: String = call[1..].chars().take_while(|c| *c != quote && *c != '?').collect();
        // `${encodeURIComponent(id)}` and a trailing `"/" + id` are the id parameter.
        let mut path = String::new();
        let mut rest = literal.as_str();
        while let Some(start) = rest.find("${") {
            path.push_str(&rest[..start]);
            path.push_str("{id}");
            rest = rest[start..].split_once('}').map_or("", |(_, r)| r);
        }
        path.push_str(rest);
        if path.ends_with('/') {
            path.push_str("{id}");
        }
        assert!(doc["paths"][&path].is_object(), "the dashboard calls {path}, which is not documented");
        seen += 1;
    }
    assert!(seen >= 7, "found only {seen} api calls in app.js");
}

#[tokio::test]
async fn request_and_response_schemas_are_documented() {
    let doc = serde_json::to_value(inquest_server::openapi()).expect("document");
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "ErrorBody",
        "GenericAlert",
        "GenericAlerts",
        "AlertmanagerWebhook",
        "AlertsAccepted",
        "TransitionRequest",
        "NoteRequest",
        "FeedbackRequest",
        "IncidentDetail",
    ] {
        assert!(schemas.contains_key(name), "{name} missing from the schemas");
    }
    let alerts = &doc["paths"]["/api/alerts"]["post"];
    assert!(alerts["requestBody"].is_object(), "{alerts}");
    assert!(alerts["responses"]["202"].is_object(), "{alerts}");
    assert!(doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]["text/plain"].is_object());
}
