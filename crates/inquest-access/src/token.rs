//! API token text (`inq_` and 32 random bytes) and the hash the stores keep of it;
//! session ids and integration secrets are hashed the same way.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::random_bytes;

/// What every API token starts with, so a bearer credential can be told from a JWT.
pub const PREFIX: &str = "inq_";

/// A new API token: `inq_` and 32 random bytes, base64url without padding.
pub fn generate() -> String {
    format!("{PREFIX}{}", random_text(32))
}

/// `n` random bytes, base64url without padding (session ids, CSRF tokens, secrets).
pub fn random_text(n: usize) -> String {
    let mut buf = vec![0u8; n];
    random_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The lowercase hex SHA-256 of `text`: what a store keeps instead of the credential.
pub fn hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Whether `text` looks like an API token (has the prefix).
pub fn is_api_token(text: &str) -> bool {
    text.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_prefix_and_43_characters_of_randomness() {
        let t = generate();
        assert!(is_api_token(&t));
        assert_eq!(t.len(), PREFIX.len() + 43, "{t}");
        assert!(t[PREFIX.len()..].chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(t, generate());
        assert!(!is_api_token("eyJhbGciOi.x.y"));
    }

    #[test]
    fn the_hash_is_lowercase_hex_sha256() {
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
