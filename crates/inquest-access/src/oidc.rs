//! Sign-in with an OpenID Connect provider's JWTs: the signature is checked with the
//! provider's published keys (JWKS, cached, fetched again once when a token names an
//! unknown key), the algorithm comes from the key (RSA or EC only, never `none` or
//! HMAC), and `iss`, `aud`, `exp` and `nbf` are checked with the configured leeway.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::RwLock;

pub use inquest_config::{GroupRole, OidcSettings};
use inquest_domain::{ProjectId, Role};

use crate::AccessError;

/// Who a verified token says the user is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcIdentity {
    /// The token's `sub`.
    pub subject: String,
    /// The configured user claim (`email` by default).
    pub login: String,
    /// The configured groups claim; empty when the token has none.
    pub groups: Vec<String>,
}

/// How long one JWKS request may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The fewest seconds between two fetches caused by unknown key ids, so made-up ids
/// cannot make every request hit the provider.
const DEFAULT_MIN_REFETCH: Duration = Duration::from_secs(30);

struct Cache {
    keys: Option<JwkSet>,
    fetched: Option<Instant>,
}

/// Verifies bearer JWTs of one provider.
pub struct Verifier {
    settings: OidcSettings,
    http: reqwest::Client,
    cache: RwLock<Cache>,
    min_refetch: Duration,
}

/// The one algorithm a key verifies: its `alg` when it names one, else the usual one
/// for its type. Symmetric and unknown keys verify nothing.
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    let named = match jwk.common.key_algorithm {
        Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
        Some(KeyAlgorithm::RS384) => Some(Algorithm::RS384),
        Some(KeyAlgorithm::RS512) => Some(Algorithm::RS512),
        Some(KeyAlgorithm::PS256) => Some(Algorithm::PS256),
        Some(KeyAlgorithm::PS384) => Some(Algorithm::PS384),
        Some(KeyAlgorithm::PS512) => Some(Algorithm::PS512),
        Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
        Some(KeyAlgorithm::ES384) => Some(Algorithm::ES384),
        Some(_) => return None,
        None => None,
    };
    match (&jwk.algorithm, named) {
        (AlgorithmParameters::RSA(_), Some(a @ (Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512))) => Some(a),
        (AlgorithmParameters::RSA(_), Some(a @ (Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512))) => Some(a),
        (AlgorithmParameters::RSA(_), None) => Some(Algorithm::RS256),
        (AlgorithmParameters::EllipticCurve(p), named) => match (&p.curve, named) {
            (EllipticCurve::P256, None | Some(Algorithm::ES256)) => Some(Algorithm::ES256),
            (EllipticCurve::P384, None | Some(Algorithm::ES384)) => Some(Algorithm::ES384),
            _ => None,
        },
        _ => None,
    }
}

fn rejected(why: impl Into<String>) -> AccessError {
    AccessError::Token(why.into())
}

impl Verifier {
    pub fn new(settings: OidcSettings, http: reqwest::Client) -> Self {
        Self {
            settings,
            http,
            cache: RwLock::new(Cache { keys: None, fetched: None }),
            min_refetch: DEFAULT_MIN_REFETCH,
        }
    }

    /// Sets the fewest time between two fetches caused by unknown key ids (tests use zero).
    pub fn with_min_refetch(mut self, interval: Duration) -> Self {
        self.min_refetch = interval;
        self
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// The identity a valid token proves.
    pub async fn verify(&self, jwt: &str) -> Result<OidcIdentity, AccessError> {
        let header = jsonwebtoken::decode_header(jwt).map_err(|e| rejected(format!("malformed header: {e}")))?;
        let kid = header.kid.clone();
        let jwk = match self.key(kid.as_deref(), false).await? {
            Some(k) => k,
            None => self.key(kid.as_deref(), true).await?.ok_or_else(|| rejected("signed with an unknown key"))?,
        };
        let alg = algorithm_of(&jwk).ok_or_else(|| rejected("the provider's key is not an RSA or EC signing key"))?;
        if header.alg != alg {
            return Err(rejected(format!("algorithm {:?} does not match the key's {alg:?}", header.alg)));
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| rejected(format!("unusable provider key: {e}")))?;
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.settings.leeway_secs;
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(jwt, &key, &validation)
            .map_err(|e| rejected(e.to_string()))?;
        let claims = data.claims;
        let subject = claims.get("sub").and_then(|v| v.as_str()).ok_or_else(|| rejected("no `sub` string"))?;
        let user_claim = &self.settings.user_claim;
        let login = claims
            .get(user_claim)
            .and_then(|v| v.as_str())
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| rejected(format!("no `{user_claim}` claim naming the user")))?;
        let groups = match claims.get(&self.settings.groups_claim) {
            Some(serde_json::Value::Array(items)) => {
                items.iter().filter_map(|v| v.as_str()).map(str::to_string).collect()
            }
            Some(serde_json::Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        Ok(OidcIdentity { subject: subject.to_string(), login: login.to_string(), groups })
    }

    /// The highest role per project the configured groups grant to `groups`.
    pub fn roles(&self, groups: &[String]) -> Vec<(ProjectId, Role)> {
        let mut best: BTreeMap<ProjectId, Role> = BTreeMap::new();
        for gr in self.settings.group_roles.iter().filter(|gr| groups.contains(&gr.group)) {
            best.entry(gr.project.clone()).and_modify(|r| *r = (*r).min(gr.role)).or_insert(gr.role);
        }
        best.into_iter().collect()
    }

    /// The key a token names (or the only key, for a token naming none), from the cache;
    /// with `refresh`, after fetching the set again (at most once per `min_refetch`).
    async fn key(&self, kid: Option<&str>, refresh: bool) -> Result<Option<Jwk>, AccessError> {
        let pick = |set: &JwkSet| match kid {
            Some(kid) => set.find(kid).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        };
        if !refresh {
            let cache = self.cache.read().await;
            if let Some(set) = &cache.keys {
                return Ok(pick(set));
            }
        }
        let mut cache = self.cache.write().await;
        if let Some(set) = &cache.keys {
            // Another request may have fetched the key while this one waited for the lock.
            if let Some(found) = pick(set) {
                return Ok(Some(found));
            }
            if refresh && cache.fetched.is_some_and(|at| at.elapsed() < self.min_refetch) {
                return Ok(None);
            }
        }
        let set = self.fetch().await?;
        let found = pick(&set);
        *cache = Cache { keys: Some(set), fetched: Some(Instant::now()) };
        Ok(found)
    }

    async fn fetch(&self) -> Result<JwkSet, AccessError> {
        let url = &self.settings.jwks_url;
        let fail = |reason: String| AccessError::Jwks { url: url.clone(), reason };
        let response = self
            .http
            .get(url)
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| fail(e.to_string()))?;
        let set = response.json::<JwkSet>().await.map_err(|e| fail(format!("not a JWKS: {e}")))?;
        tracing::debug!(url = %url, keys = set.keys.len(), "fetched the provider's signing keys");
        Ok(set)
    }
}
