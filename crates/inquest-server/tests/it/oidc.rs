//! Bearer JWTs of an OIDC provider through the whole router: the provider's keys are
//! served on loopback by the test; groups map to roles per project; a token signed
//! by another key, expired, or for another audience is refused.

use std::sync::Arc;

use axum::http::{StatusCode, header};
use inquest_access::oidc::{GroupRole, OidcSettings, Verifier};
use inquest_contract::oidc::{key_pair, provider, sign};
use inquest_domain::{ProjectId, Role};
use serde_json::{Value, json};

use crate::access::{send, world_with};

const ISSUER: &str = "https://login.example.test/realms/ops";

fn claims(groups: &[&str], exp_in: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": ISSUER, "aud": "inquest", "sub": "u-1", "email": "alice@example.test",
        "groups": groups, "iat": now, "exp": now + exp_in})
}

#[tokio::test]
async fn oidc_groups_map_to_project_roles_and_bad_tokens_are_refused() {
    let key = key_pair("k1");
    let idp = provider(vec![key.jwk.clone()]).await;
    let settings = OidcSettings {
        issuer: ISSUER.into(),
        audience: "inquest".into(),
        jwks_url: idp.url.clone(),
        leeway_secs: 30,
        user_claim: "email".into(),
        groups_claim: "groups".into(),
        group_roles: vec![
            GroupRole { group: "sre".into(), project: ProjectId::default_project(), role: Role::Engineer },
            GroupRole { group: "leads".into(), project: ProjectId::new("bravo").expect("id"), role: Role::Admin },
        ],
    };
    let w = world_with(|access| access.oidc = Some(Arc::new(Verifier::new(settings, reqwest::Client::new())))).await;
    let bearer = |jwt: &str| format!("Bearer {jwt}");

    let sre = sign(&key, &claims(&["sre"], 300));
    let r = send(&w.router, "get", "/api/auth/me", &[("authorization", &bearer(&sre))], None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["actor"], "oidc:alice@example.test");
    assert_eq!(r.body["project"], "default");
    assert_eq!(r.body["role"], "engineer");
    let uri = format!("/api/incidents/{}/feedback", w.incident_a);
    let note = json!({"event_type": "human_note_added", "text": "from oidc"}).to_string();
    let r = send(&w.router, "post", &uri, &[("authorization", &bearer(&sre))], Some(&note)).await;
    assert_eq!(r.status, StatusCode::CREATED, "an engineer may give feedback: {}", r.text);
    assert_eq!(r.body["event"]["actor_id"], "oidc:alice@example.test", "feedback is the caller's: {}", r.text);
    let r = send(&w.router, "get", "/api/tokens", &[("authorization", &bearer(&sre))], None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["error"]["permission"], "manage_integrations");

    // Two projects mapped: the header picks one; one it is not mapped to is not there.
    let both = sign(&key, &claims(&["sre", "leads"], 300));
    let r = send(
        &w.router,
        "get",
        "/api/tokens",
        &[("authorization", &bearer(&both)), ("x-inquest-project", "bravo")],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "an admin of bravo lists its tokens: {}", r.text);
    let r = send(
        &w.router,
        "get",
        "/api/incidents",
        &[("authorization", &bearer(&sre)), ("x-inquest-project", "bravo")],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);

    let other_key = key_pair("k2");
    let expired = sign(&key, &claims(&["sre"], -3600));
    let forged = sign(&other_key, &claims(&["sre"], 300));
    let mut wrong_aud = claims(&["sre"], 300);
    wrong_aud["aud"] = json!("another-app");
    let wrong_aud = sign(&key, &wrong_aud);
    for (case, jwt) in [("expired", expired), ("another key", forged), ("another audience", wrong_aud)] {
        let r = send(&w.router, "get", "/api/incidents", &[("authorization", &bearer(&jwt))], None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{case}: {}", r.text);
        let challenge = r.headers.get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(challenge.contains("invalid_token"), "{case}: {challenge}");
    }
}
