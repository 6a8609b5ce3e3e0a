//! Local users' passwords: argon2id PHC strings with the crate's default parameters,
//! and the one-time passwords the CLI and the first start hand out.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::{AccessError, random_bytes};

/// The argon2id PHC string of `plain` (a fresh random salt each time).
pub fn hash(plain: &str) -> Result<String, AccessError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(plain.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccessError::Hash(e.to_string()))
}

/// Whether `plain` is the password of `phc`; false for a malformed hash.
pub fn verify(plain: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(plain.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Letters and digits that cannot be mistaken for each other when read aloud or typed.
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// Length of a generated password: 24 characters of 54, about 138 bits.
const GENERATED_LEN: usize = 24;

/// A random one-time password.
pub fn generate() -> String {
    let mut out = String::with_capacity(GENERATED_LEN);
    // Rejection sampling keeps every character equally likely.
    let limit = 256 - 256 % ALPHABET.len();
    while out.len() < GENERATED_LEN {
        let mut buf = [0u8; 32];
        random_bytes(&mut buf);
        for b in buf {
            if (b as usize) < limit && out.len() < GENERATED_LEN {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let phc = hash("correct horse").expect("hash");
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify("correct horse", &phc));
        assert!(!verify("correct hose", &phc));
        assert!(!verify("correct horse", "not a phc string"));
        assert_ne!(phc, hash("correct horse").expect("hash"), "salts differ");
    }

    #[test]
    fn generated_passwords_are_long_and_different() {
        let (a, b) = (generate(), generate());
        assert!(a.len() >= 20 && a.chars().all(|c| ALPHABET.contains(&(c as u8))), "{a}");
        assert_ne!(a, b);
    }
}
