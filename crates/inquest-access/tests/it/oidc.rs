//! OIDC verification against a JWKS served on 127.0.0.1 by the test provider of
//! `inquest-contract`, with EC P-256 key pairs made in the test.

use std::time::Duration;

use anyhow::{Context, Result};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use inquest_access::AccessError;
use inquest_access::oidc::{GroupRole, OidcSettings, Verifier};
use inquest_contract::oidc::{KeyPair, key_pair, provider, sign};
use inquest_domain::{ProjectId, Role};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const ISSUER: &str = "https://login.example.test/realms/ops";
const AUDIENCE: &str = "inquest";

fn settings(jwks_url: &str) -> OidcSettings {
    OidcSettings {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        jwks_url: jwks_url.into(),
        leeway_secs: 60,
        user_claim: "email".into(),
        groups_claim: "groups".into(),
        group_roles: vec![
            GroupRole { group: "sre".into(), project: pid("payments"), role: Role::Engineer },
            GroupRole { group: "leads".into(), project: pid("payments"), role: Role::Admin },
            GroupRole { group: "sre".into(), project: pid("ops"), role: Role::Viewer },
        ],
    }
}

fn pid(s: &str) -> ProjectId {
    ProjectId::new(s).expect("project id")
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims() -> Value {
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "u-123", "email": "alice@example.test",
        "groups": ["sre", "leads"], "iat": now(), "exp": now() + 300,
    })
}

fn with(change: &[(&str, Value)]) -> Value {
    let mut c = claims();
    for (k, v) in change {
        c[*k] = v.clone();
    }
    c
}

async fn rejected(verifier: &Verifier, jwt: &str, case: &str) -> String {
    match verifier.verify(jwt).await {
        Err(e @ AccessError::Token(_)) => e.to_string(),
        other => panic!("{case}: expected a rejected token, got {other:?}"),
    }
}

#[tokio::test]
async fn tokens_are_checked_against_the_providers_keys_and_claims() -> Result<()> {
    let key = key_pair("k1");
    let idp = provider(vec![key.jwk.clone()]).await;
    let verifier = Verifier::new(settings(&idp.url), reqwest::Client::new());

    let id = verifier.verify(&sign(&key, &claims())).await.context("a valid token")?;
    assert_eq!((id.subject.as_str(), id.login.as_str()), ("u-123", "alice@example.test"));
    assert_eq!(id.groups, ["sre", "leads"]);
    assert_eq!(verifier.roles(&id.groups), vec![(pid("ops"), Role::Viewer), (pid("payments"), Role::Admin)]);
    assert!(verifier.roles(&["nobody".into()]).is_empty());

    let within = sign(&key, &with(&[("exp", json!(now() - 30))]));
    verifier.verify(&within).await.context("expired within the leeway")?;

    for (case, jwt) in [
        ("wrong issuer", sign(&key, &with(&[("iss", json!("https://evil.example.test"))]))),
        ("wrong audience", sign(&key, &with(&[("aud", json!("someone-else"))]))),
        ("expired beyond the leeway", sign(&key, &with(&[("exp", json!(now() - 120))]))),
        ("not yet valid", sign(&key, &with(&[("nbf", json!(now() + 600))]))),
        ("no user claim", sign(&key, &with(&[("email", json!(null))]))),
    ] {
        rejected(&verifier, &jwt, case).await;
    }
    let mut no_sub = claims();
    no_sub.as_object_mut().context("claims object")?.remove("sub");
    rejected(&verifier, &sign(&key, &no_sub), "no sub").await;

    // Signed by another key under the same kid.
    let impostor = KeyPair { kid: "k1".into(), ..key_pair("k1") };
    rejected(&verifier, &sign(&impostor, &claims()), "wrong signature").await;

    // `alg: none`, no signature.
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT", "kid": "k1"}).to_string());
    let body = URL_SAFE_NO_PAD.encode(claims().to_string());
    rejected(&verifier, &format!("{header}.{body}."), "alg none").await;

    // HS256 keyed with the public key's bytes: the algorithm comes from the key, not the token.
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("k1".into());
    let confused = jsonwebtoken::encode(&hs, &claims(), &EncodingKey::from_secret(key.jwk.to_string().as_bytes())?)?;
    rejected(&verifier, &confused, "HS256 with the EC key's id").await;

    assert_eq!(idp.fetches(), 1, "the key set is cached");
    Ok(())
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_keys_once() -> Result<()> {
    let (old, new) = (key_pair("old"), key_pair("new"));
    let idp = provider(vec![old.jwk.clone()]).await;
    let verifier = Verifier::new(settings(&idp.url), reqwest::Client::new()).with_min_refetch(Duration::ZERO);
    verifier.verify(&sign(&old, &claims())).await.context("old key")?;
    assert_eq!(idp.fetches(), 1);

    let stranger = key_pair("stranger");
    let why = rejected(&verifier, &sign(&stranger, &claims()), "unknown kid").await;
    assert!(why.contains("unknown key"), "{why}");
    assert_eq!(idp.fetches(), 2, "fetched again once, not more");

    // The provider rotates: the new kid is found after one more fetch.
    idp.keys.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.push(new.jwk.clone());
    verifier.verify(&sign(&new, &claims())).await.context("rotated key")?;
    verifier.verify(&sign(&old, &claims())).await.context("old key still listed")?;
    assert_eq!(idp.fetches(), 3);
    Ok(())
}

#[tokio::test]
async fn unknown_kids_do_not_hit_the_provider_more_than_the_interval_allows() -> Result<()> {
    let key = key_pair("k1");
    let idp = provider(vec![key.jwk.clone()]).await;
    let verifier = Verifier::new(settings(&idp.url), reqwest::Client::new());
    verifier.verify(&sign(&key, &claims())).await.context("valid")?;
    for i in 0..5 {
        let stranger = key_pair(&format!("made-up-{i}"));
        rejected(&verifier, &sign(&stranger, &claims()), "unknown kid").await;
    }
    assert_eq!(idp.fetches(), 1, "within the refetch interval");
    Ok(())
}

#[tokio::test]
async fn an_unreachable_provider_is_a_jwks_error() -> Result<()> {
    let key = key_pair("k1");
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/jwks", listener.local_addr()?);
    drop(listener);
    let verifier = Verifier::new(settings(&url), reqwest::Client::new());
    let err = verifier.verify(&sign(&key, &claims())).await.expect_err("no provider");
    assert!(matches!(err, AccessError::Jwks { .. }), "{err:?}");
    Ok(())
}
