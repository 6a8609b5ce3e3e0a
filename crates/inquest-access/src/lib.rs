//! Inquest's access primitives below the HTTP edge: password hashes (argon2id), API
//! token text and hashes, sealed integration secrets (AES-256-GCM keyring), webhook
//! signatures (HMAC-SHA256), the in-memory sign-in throttle, the first owner of a fresh
//! install and OIDC token verification. No HTTP framework, no store client.

pub mod bootstrap;
pub mod hmac;
pub mod oidc;
pub mod password;
pub mod seal;
pub mod throttle;
pub mod token;

use inquest_ports::StoreError;

/// What went wrong. Messages say what was wrong, never a secret or a key.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// A key of the integration-secret keyring could not be used (`origin` names the file or setting).
    #[error("secret keys from {origin}: {reason}")]
    Key { origin: String, reason: String },
    #[error("no secret key is configured: set auth.secret_key_file or auth.secret_keys")]
    NoKey,
    #[error("cannot open a sealed secret: {0}")]
    Sealed(String),
    /// A bearer JWT that does not prove an identity.
    #[error("token rejected: {0}")]
    Token(String),
    /// The identity provider's keys could not be fetched.
    #[error("cannot fetch the signing keys from {url}: {reason}")]
    Jwks { url: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Fills `buf` from the operating system's random source.
pub(crate) fn random_bytes(buf: &mut [u8]) {
    // The OS source failing leaves no safe way to go on: no secret may be made without it.
    getrandom::fill(buf).expect("the operating system's random source failed");
}
