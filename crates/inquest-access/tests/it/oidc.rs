//! OIDC verification against a JWKS served on 127.0.0.1 by the test, with EC P-256 key
//! pairs the test generates and tokens signed by `jsonwebtoken::encode`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use inquest_access::AccessError;
use inquest_access::oidc::{GroupRole, OidcSettings, Verifier};
use inquest_domain::{ProjectId, Role};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use serde_json::{Value, json};

const ISSUER: &str = "https://login.example.test/realms/ops";
const AUDIENCE: &str = "inquest";

/// A P-256 key pair: the private key for signing, the public one as a JWK.
struct KeyPair {
    kid: String,
    signing: EncodingKey,
    jwk: Value,
}

fn key_pair(kid: &str) -> Result<KeyPair> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("random bytes: {e}"))?;
    let secret = p256::SecretKey::from_slice(&bytes).context("a P-256 scalar")?;
    let der = secret.to_pkcs8_der().context("pkcs8")?;
    let point = secret.public_key().to_encoded_point(false);
    let (x, y) = (point.x().context("x")?, point.y().context("y")?);
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "use": "sig", "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
    });
    Ok(KeyPair { kid: kid.into(), signing: EncodingKey::from_ec_der(der.as_bytes()), jwk })
}

/// The JWKS endpoint: serves whatever keys the test puts in, counting the requests.
struct Provider {
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
    url: String,
}

async fn provider(keys: Vec<Value>) -> Result<Provider> {
    let keys = Arc::new(Mutex::new(keys));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (k, f) = (keys.clone(), fetches.clone());
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let (k, f) = (k.clone(), f.clone());
            async move {
                f.fetch_add(1, Ordering::SeqCst);
                let keys = k.lock().map(|k| k.clone()).unwrap_or_default();
                axum::Json(json!({ "keys": keys }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("bind")?;
    let url = format!("http://{}/jwks", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Provider { keys, fetches, url })
}

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

fn sign(key: &KeyPair, claims: &Value) -> Result<String> {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.signing).context("encode")
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
    let key = key_pair("k1")?;
    let idp = provider(vec![key.jwk.clone()]).await?;
    let verifier = Verifier::new(settings(&idp.url), reqwest::Client::new());

    let id = verifier.verify(&sign(&key, &claims())?).await.context("a valid token")?;
    assert_eq!((id.subject.as_str(), id.login.as_str()), ("u-123", "alice@example.test"));
    assert_eq!(id.groups, ["sre", "leads"]);
    assert_eq!(verifier.roles(&id.groups), vec![(pid("ops"), Role::Viewer), (pid("payments"), Role::Admin)]);
    assert!(verifier.roles(&["nobody".into()]).is_empty());

    let within = sign(&key, &with(&[("exp", json!(now() - 30))]))?;
    verifier.verify(&within).await.context("expired within the leeway")?;

    for (case, jwt) in [
        ("wrong issuer", sign(&key, &with(&[("iss", json!("https://evil.example.test"))]))?),
        ("wrong audience", sign(&key, &with(&[("aud", json!("someone-else"))]))?),
        ("expired beyond the leeway", sign(&key, &with(&[("exp", json!(now() - 120))]))?),
        ("not yet valid", sign(&key, &with(&[("nbf", json!(now() + 600))]))?),
        ("no user claim", sign(&key, &with(&[("email", json!(null))]))?),
    ] {
        rejected(&verifier, &jwt, case).await;
    }
    let mut no_sub = claims();
    no_sub.as_object_mut().context("claims object")?.remove("sub");
    rejected(&verifier, &sign(&key, &no_sub)?, "no sub").await;

    // Signed by another key under the same kid.
    let impostor = KeyPair { kid: "k1".into(), ..key_pair("k1")? };
    rejected(&verifier, &sign(&impostor, &claims())?, "wrong signature").await;

    // `alg: none`, no signature.
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT", "kid": "k1"}).to_string());
    let body = URL_SAFE_NO_PAD.encode(claims().to_string());
    rejected(&verifier, &format!("{header}.{body}."), "alg none").await;

    // HS256 keyed with the public key's bytes: the algorithm comes from the key, not the token.
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("k1".into());
    let confused = jsonwebtoken::encode(&hs, &claims(), &EncodingKey::from_secret(key.jwk.to_string().as_bytes())?)?;
    rejected(&verifier, &confused, "HS256 with the EC key's id").await;

    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1, "the key set is cached");
    Ok(())
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_keys_once() -> Result<()> {
    let (old, new) = (key_pair("old")?, key_pair("new")?);
    let idp = provider(vec![old.jwk.clone()]).await?;
    let verifier = Verifier::new(settings(&idp.url), reqwest::Client::new()).with_min_refetch(Duration::ZERO);
    verifier.verify(&sign(&old, &claims())?).await.context("old key")?;
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1);

    let stranger = key_pair("stranger")?;
    let why = rejected(&verifier, &sign(&stranger, &claims())?, "unknown kid").await;
    assert!(why.contains("unknown key"), "{why}");
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 2, "fetched again once, not more");

    // The provider rotates: the new kid is found after one more fetch.
    idp.keys.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.push(new.jwk.clone());
    verifier.verify(&sign(&new, &claims())?).await.context("rotated key")?;
    verifier.verify(&sign(&old, &claims())?).await.context("old key still listed")?;
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 3);
    Ok(())
}

#[tokio::test]
async fn unknown_kids_do_not_hit_the_provider_more_than_the_interval_allows() -> Result<()> {
    let key = key_pair("k1")?;
    let idp = provider(vec![key.jwk.clone()]).await?;
    let verifier = Verifier::new(settings(&idp.url), reqwest::Client::new());
    verifier.verify(&sign(&key, &claims())?).await.context("valid")?;
    for i in 0..5 {
        let stranger = key_pair(&format!("made-up-{i}"))?;
        rejected(&verifier, &sign(&stranger, &claims())?, "unknown kid").await;
    }
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1, "within the refetch interval");
    Ok(())
}

#[tokio::test]
async fn an_unreachable_provider_is_a_jwks_error() -> Result<()> {
    let key = key_pair("k1")?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/jwks", listener.local_addr()?);
    drop(listener);
    let verifier = Verifier::new(settings(&url), reqwest::Client::new());
    let err = verifier.verify(&sign(&key, &claims())?).await.expect_err("no provider");
    assert!(matches!(err, AccessError::Jwks { .. }), "{err:?}");
    Ok(())
}
