//! Integration secrets at rest: AES-256-GCM under a keyring of named keys. The first
//! key seals, every key opens, so keys rotate without downtime: put a new key first,
//! keep the old ones, run `inquest integrations reseal`, then drop the old lines.
//!
//! A key source (the file of `auth.secret_key_file`, the value of `auth.secret_keys`)
//! holds one key per line, `<id>:<base64 of 32 bytes>`; the value may separate them by
//! commas. A sealed value is `v1:<key id>:<base64 of nonce || ciphertext>`, its prefix
//! bound into the ciphertext as associated data.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::{AccessError, random_bytes};

const VERSION: &str = "v1";
const NONCE_LEN: usize = 12;

/// Named AES-256-GCM keys; the first one is current.
pub struct Keyring {
    keys: Vec<(String, Aes256Gcm)>,
    /// The raw key bytes, in the same order, for `derive_keys`.
    raw: Vec<[u8; 32]>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keyring").field("key_ids", &ids).finish()
    }
}

/// A key line `<id>:<base64 of 32 fresh random bytes>`, for a new keyring or a rotation.
pub fn new_key_line(id: &str) -> String {
    let mut key = [0u8; 32];
    random_bytes(&mut key);
    format!("{id}:{}", STANDARD.encode(key))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

type Parsed = (Vec<(String, Aes256Gcm)>, Vec<[u8; 32]>);

fn parse_keys(text: &str, source: &str, (into, raw): &mut Parsed) -> Result<(), AccessError> {
    let bad = |reason: String| AccessError::Key { origin: source.to_string(), reason };
    for (n, line) in text.split(['\n', ',']).map(str::trim).enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((id, b64)) = line.split_once(':') else {
            return Err(bad(format!("entry {} is not `<id>:<base64 key>`", n + 1)));
        };
        let id = id.trim();
        if !valid_id(id) {
            return Err(bad(format!("entry {}: the key id must be 1-64 of a-z, A-Z, 0-9, '-' and '_'", n + 1)));
        }
        let bytes = STANDARD.decode(b64.trim()).map_err(|_| bad(format!("key '{id}' is not valid base64")))?;
        if bytes.len() != 32 {
            return Err(bad(format!("key '{id}' has {} bytes, AES-256 needs 32", bytes.len())));
        }
        if into.iter().any(|(known, _)| known == id) {
            return Err(bad(format!("key id '{id}' appears twice")));
        }
        into.push((id.to_string(), Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes))));
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes);
        raw.push(key);
    }
    Ok(())
}

impl Keyring {
    /// The keys of the file, then those of the setting's value. `NoKey` when neither has one.
    pub fn from_sources(file: Option<&Path>, env_value: Option<&str>) -> Result<Keyring, AccessError> {
        let mut keys = (Vec::new(), Vec::new());
        if let Some(path) = file {
            let source = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|e| AccessError::Key { origin: source.clone(), reason: format!("cannot read: {e}") })?;
            parse_keys(&text, &source, &mut keys)?;
        }
        if let Some(value) = env_value {
            parse_keys(value, "auth.secret_keys", &mut keys)?;
        }
        if keys.0.is_empty() {
            return Err(AccessError::NoKey);
        }
        Ok(Keyring { keys: keys.0, raw: keys.1 })
    }

    /// One random key that lives as long as the process (tests, an open loopback server).
    pub fn ephemeral() -> Keyring {
        let line = new_key_line("ephemeral");
        let mut keys = (Vec::new(), Vec::new());
        // The line was just made in the right form.
        parse_keys(&line, "ephemeral", &mut keys).unwrap_or_else(|_| unreachable!("a generated key line parses"));
        Keyring { keys: keys.0, raw: keys.1 }
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> &str {
        &self.keys[0].0
    }

    /// `plain` sealed with the current key.
    pub fn seal(&self, plain: &str) -> String {
        let (id, cipher) = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce);
        let aad = format!("{VERSION}:{id}");
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain.as_bytes(), aad: aad.as_bytes() })
            .unwrap_or_else(|_| unreachable!("AES-GCM encrypts any message this size"));
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{aad}:{}", STANDARD.encode(out))
    }

    /// The plain text of a value sealed with any key of the ring.
    pub fn open(&self, sealed: &str) -> Result<String, AccessError> {
        let bad = |why: &str| AccessError::Sealed(why.to_string());
        let mut parts = sealed.splitn(3, ':');
        let (Some(version), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("not a sealed value"));
        };
        if version != VERSION {
            return Err(bad("unknown format version"));
        }
        let Some((_, cipher)) = self.keys.iter().find(|(known, _)| known == id) else {
            return Err(AccessError::Sealed(format!("sealed with key '{id}', which is not configured")));
        };
        let bytes = STANDARD.decode(body).map_err(|_| bad("not valid base64"))?;
        if bytes.len() < NONCE_LEN + 16 {
            return Err(bad("too short"));
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let aad = format!("{version}:{id}");
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: aad.as_bytes() })
            .map_err(|_| bad("the key does not open it (wrong key or altered value)"))?;
        String::from_utf8(plain).map_err(|_| bad("not text"))
    }

    /// One key per key of the ring, in its order (the first is current), each the
    /// HMAC-SHA256 of `purpose` under that key: keys for other uses (a keyed hash of
    /// values that must never be stored) that rotate with the ring and never reveal it.
    pub fn derive_keys(&self, purpose: &str) -> Vec<(String, [u8; 32])> {
        use hmac::{Hmac, Mac};
        self.keys
            .iter()
            .zip(&self.raw)
            .map(|((id, _), raw)| {
                let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(raw)
                    .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
                mac.update(b"inquest derived key v1\x1f");
                mac.update(purpose.as_bytes());
                (id.clone(), mac.finalize().into_bytes().into())
            })
            .collect()
    }

    /// Whether `sealed` was sealed with the current key (else `reseal` should redo it).
    pub fn is_current(&self, sealed: &str) -> bool {
        let mut parts = sealed.splitn(3, ':');
        parts.next() == Some(VERSION) && parts.next() == Some(self.current_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_and_does_not_show_its_text() {
        let ring = Keyring::ephemeral();
        let sealed = ring.seal("hunter2-webhook-secret");
        assert!(sealed.starts_with("v1:ephemeral:"), "{sealed}");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(ring.open(&sealed).expect("open"), "hunter2-webhook-secret");
        assert_ne!(sealed, ring.seal("hunter2-webhook-secret"), "fresh nonce each time");
        assert!(ring.is_current(&sealed));
    }

    #[test]
    fn rotation_keeps_old_values_readable_and_seals_with_the_new_key() {
        let (old, new) = (new_key_line("k1"), new_key_line("k2"));
        let before = Keyring::from_sources(None, Some(&old)).expect("old ring");
        let sealed = before.seal("s3cret");
        let after = Keyring::from_sources(None, Some(&format!("{new},{old}"))).expect("rotated ring");
        assert_eq!(after.open(&sealed).expect("old key still opens"), "s3cret");
        assert!(!after.is_current(&sealed));
        let resealed = after.seal(&after.open(&sealed).expect("open"));
        assert!(after.is_current(&resealed) && resealed.starts_with("v1:k2:"));
        let dropped = Keyring::from_sources(None, Some(&new)).expect("new only");
        let err = dropped.open(&sealed).expect_err("old key gone").to_string();
        assert!(err.contains("'k1'"), "{err}");
    }

    #[test]
    fn derived_keys_follow_the_ring_and_differ_by_purpose() {
        let (k1, k2) = (new_key_line("k1"), new_key_line("k2"));
        let ring = Keyring::from_sources(None, Some(&format!("{k2},{k1}"))).expect("ring");
        let a = ring.derive_keys("kubernetes secret values");
        let ids: Vec<&str> = a.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["k2", "k1"]);
        assert_ne!(a[0].1, a[1].1);
        assert_eq!(a, ring.derive_keys("kubernetes secret values"), "deterministic");
        assert_ne!(a[0].1, ring.derive_keys("another purpose")[0].1);
        let old = Keyring::from_sources(None, Some(&k1)).expect("old ring");
        assert_eq!(old.derive_keys("kubernetes secret values")[0], a[1], "a key derives the same in any ring");
        let raw = STANDARD.decode(k1.split_once(':').expect("line").1).expect("base64");
        assert_ne!(a[1].1.as_slice(), raw.as_slice(), "not the key itself");
    }

    #[test]
    fn altered_or_foreign_values_do_not_open() {
        let ring = Keyring::ephemeral();
        let sealed = ring.seal("abc");
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).expect("ascii");
        assert!(ring.open(&altered).is_err());
        assert!(Keyring::ephemeral().open(&sealed).is_err(), "another key with the same id");
        for bad in ["", "v1:x", "v2:ephemeral:AAAA", "v1:ephemeral:!!!", "v1:ephemeral:AAAA"] {
            assert!(ring.open(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn key_sources_are_checked_and_merged_file_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("keys");
        std::fs::write(&file, format!("# current first\n{}\n{}\n", new_key_line("a"), new_key_line("b")))
            .expect("write");
        let ring = Keyring::from_sources(Some(&file), Some(&new_key_line("c"))).expect("ring");
        assert_eq!(ring.current_id(), "a");
        assert_eq!(ring.keys.len(), 3);
        assert_eq!(ring.raw.len(), 3);
        assert!(matches!(Keyring::from_sources(None, None), Err(AccessError::NoKey)));
        let short = format!("k:{}", STANDARD.encode([0u8; 16]));
        for (value, says) in
            [("nocolon", "entry 1"), ("bad id:AAAA", "key id"), ("k:***", "base64"), (short.as_str(), "16 bytes")]
        {
            let err = Keyring::from_sources(None, Some(value)).expect_err(value).to_string();
            assert!(err.contains(says) && err.contains("auth.secret_keys"), "{value}: {err}");
        }
        let twice = format!("{},{}", new_key_line("d"), new_key_line("d"));
        assert!(Keyring::from_sources(None, Some(&twice)).expect_err("twice").to_string().contains("twice"));
        let missing = dir.path().join("none");
        let err = Keyring::from_sources(Some(&missing), None).expect_err("missing").to_string();
        assert!(err.contains("cannot read"), "{err}");
    }
}
