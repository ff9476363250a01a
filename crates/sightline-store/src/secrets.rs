//! Encryption at rest for camera credentials.
//!
//! A random 256-bit key is created on first start in `<data>/keys/credentials.key`
//! (mode 0600) and passwords are sealed with ChaCha20-Poly1305 under a fresh random
//! nonce each time. A copied database without the key file reveals no password; a
//! tampered ciphertext fails to open instead of yielding a wrong password.

use std::io::Write;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use crate::StoreError;

const NONCE_LEN: usize = 12;

#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl Sealer {
    pub fn load_or_create(path: &Path) -> Result<Sealer, StoreError> {
        let key_err = |reason: String| StoreError::Key {
            path: path.to_owned(),
            reason,
        };
        let key = match std::fs::read(path) {
            Ok(bytes) if bytes.len() == 32 => bytes,
            Ok(bytes) => return Err(key_err(format!("expected 32 bytes, found {}", bytes.len()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = vec![0u8; 32];
                getrandom::getrandom(&mut key).map_err(|e| key_err(e.to_string()))?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| key_err(e.to_string()))?;
                }
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(|e| key_err(e.to_string()))?;
                file.write_all(&key)
                    .and_then(|_| file.sync_all())
                    .map_err(|e| key_err(e.to_string()))?;
                key
            }
            Err(e) => return Err(key_err(e.to_string())),
        };
        Ok(Sealer {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        })
    }

    pub fn seal(&self, plaintext: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::getrandom(&mut nonce).expect("the operating system's random source failed");
        let mut out = nonce.to_vec();
        out.extend(
            self.cipher
                .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
                .expect("ChaCha20-Poly1305 encryption cannot fail for in-memory input"),
        );
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<String, StoreError> {
        let bad = || {
            StoreError::Corrupt(
                "a sealed credential does not decrypt with this data directory's key".into(),
            )
        };
        if sealed.len() < NONCE_LEN {
            return Err(bad());
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| bad())?;
        String::from_utf8(plain).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_round_trip_and_detect_tampering() {
        let dir = std::env::temp_dir().join(format!("sightline-sealer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("k");
        let sealer = Sealer::load_or_create(&path).unwrap();
        let sealed = sealer.seal("hunter2");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        // Reloading the same key file opens what the first instance sealed.
        let again = Sealer::load_or_create(&path).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), "hunter2");
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(again.open(&tampered).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
