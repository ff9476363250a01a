//! Secrets that people and scripts present: passwords (stored as Argon2id hashes) and
//! random session and API tokens (stored only as their SHA-256, since a 256-bit random
//! secret needs no slow hash).

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};

use crate::StoreError;

/// Shortest password a person may choose (NCSC guidance favours length over rules).
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Prefix of API tokens, so a leaked one is recognisable in logs and secret scanners.
pub const TOKEN_PREFIX: &str = "slt_";

/// Refuses passwords too short to resist guessing.
pub fn check_password_strength(password: &str) -> Result<(), StoreError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(StoreError::Invalid(format!(
            "a password must have at least {MIN_PASSWORD_CHARS} characters; this one has {chars}"
        )));
    }
    if password.chars().all(|c| password.starts_with(c)) {
        return Err(StoreError::Invalid(
            "a password must not repeat one character".into(),
        ));
    }
    Ok(())
}

/// An Argon2id hash (PHC string, with its own random salt and parameters). CPU-heavy:
/// call from a blocking thread.
pub fn hash_password(password: &str) -> Result<String, StoreError> {
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt)
        .map_err(|e| StoreError::Invalid(format!("no randomness for a password salt: {e}")))?;
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Invalid(format!("hashing a password: {e}")))
}

/// Whether `password` matches `hash`. A damaged hash never matches. CPU-heavy.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash no password matches, checked for unknown user names so that a wrong name
/// costs the same time as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let mut random = [0u8; 32];
        let _ = getrandom::getrandom(&mut random);
        hash_password(&hex::encode(random)).expect("hashing a random string")
    })
}

/// A fresh 256-bit secret, hex-encoded, after `prefix`.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the operating system's random source");
    format!("{prefix}{}", hex::encode(bytes))
}

/// What the database keeps of a session or API token.
pub fn secret_digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let a = hash_password("correct horse battery").unwrap();
        let b = hash_password("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b);
        assert!(verify_password(&a, "correct horse battery"));
        assert!(!verify_password(&a, "correct horse batterx"));
        assert!(!verify_password("garbage", "x"));
        assert!(!verify_password(decoy_hash(), ""));
    }

    #[test]
    fn weak_passwords_are_refused_with_the_reason() {
        let e = check_password_strength("short").unwrap_err().to_string();
        assert!(e.contains("12") && e.contains("5"), "{e}");
        assert!(check_password_strength("aaaaaaaaaaaaaaaa").is_err());
        assert!(check_password_strength("a long pass phrase").is_ok());
    }
}
