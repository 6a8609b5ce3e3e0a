//! A test OpenID Connect provider: EC P-256 key pairs made in the test, their JWKS
//! served on 127.0.0.1 (counting fetches), and JWTs signed with them, for the tests
//! of the OIDC verifier and of the server's bearer JWTs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use serde_json::{Value, json};

/// A P-256 key pair: the private key for signing, the public one as a JWK.
pub struct KeyPair {
    pub kid: String,
    pub signing: EncodingKey,
    pub jwk: Value,
}

/// A fresh key pair with the key id `kid`.
pub fn key_pair(kid: &str) -> KeyPair {
    let secret = loop {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("random bytes");
        // A few 32-byte strings are not scalars of the curve: draw again.
        if let Ok(s) = p256::SecretKey::from_slice(&bytes) {
            break s;
        }
    };
    let der = secret.to_pkcs8_der().expect("pkcs8");
    let point = secret.public_key().to_encoded_point(false);
    let (x, y) = (point.x().expect("x"), point.y().expect("y"));
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "use": "sig", "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
    });
    KeyPair { kid: kid.into(), signing: EncodingKey::from_ec_der(der.as_bytes()), jwk }
}

/// `claims` signed with `key` (ES256, its key id in the header).
pub fn sign(key: &KeyPair, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.signing).expect("sign")
}

/// The JWKS endpoint: serves whatever keys the test puts in, counting the requests.
pub struct Provider {
    pub keys: Arc<Mutex<Vec<Value>>>,
    pub fetches: Arc<AtomicUsize>,
    pub url: String,
}

impl Provider {
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// Serve `keys` as a JWKS at `http://127.0.0.1:<port>/jwks` until the runtime ends.
pub async fn provider(keys: Vec<Value>) -> Provider {
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/jwks", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Provider { keys, fetches, url }
}
