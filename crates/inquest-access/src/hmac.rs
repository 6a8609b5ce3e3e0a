//! Webhook signatures: `sha256=<hex HMAC-SHA256 of the body>` (GitHub's `X-Hub-Signature-256`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The `sha256=<hex>` signature of `body` under `secret`.
pub fn sign_sha256(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` is the signature of `body` under `secret`, compared in constant time.
pub fn verify_sha256(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else { return false };
    let Ok(sig) = hex::decode(hex_sig) else { return false };
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else { return false };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_its_body_and_secret_only() {
        // GitHub's documented example.
        let sig = sign_sha256(b"It's a Secret to Everybody", b"Hello, World!");
        assert_eq!(sig, "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
        assert!(verify_sha256(b"It's a Secret to Everybody", b"Hello, World!", &sig));
        assert!(!verify_sha256(b"It's a Secret to Everybody", b"Hello, World?", &sig));
        assert!(!verify_sha256(b"another secret", b"Hello, World!", &sig));
        assert!(!verify_sha256(b"It's a Secret to Everybody", b"Hello, World!", &sig[7..]));
        assert!(!verify_sha256(b"It's a Secret to Everybody", b"Hello, World!", "sha256=zz"));
        assert!(!verify_sha256(b"It's a Secret to Everybody", b"Hello, World!", &sig[..20]));
    }
}
