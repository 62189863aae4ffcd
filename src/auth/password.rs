//! Password hashing compatible with RabbitMQ's internal user database.
//!
//! This module owns the stored password format. RabbitMQ's default module,
//! `rabbit_password_hashing_sha256`, stores
//! `base64(salt ++ sha256(salt ++ utf8(password)))` with a 4-byte random
//! salt. Hashes made here can be imported into RabbitMQ and the other way
//! round. `rabbit_password_hashing_sha512` (same layout, SHA-512) is also
//! accepted for verification, because definitions exported from brokers
//! configured that way use it.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256, Sha512};

/// Length of the random salt prepended to every hash.
pub(crate) const SALT_LEN: usize = 4;

/// RabbitMQ's name for the default (and Warren's only generated) algorithm.
pub const SHA256_ALGORITHM: &str = "rabbit_password_hashing_sha256";

/// RabbitMQ's name for the SHA-512 variant (verification only).
pub const SHA512_ALGORITHM: &str = "rabbit_password_hashing_sha512";

/// The algorithms stored hashes may use.
pub(crate) const HASHING_ALGORITHMS: &[&str] = &[SHA256_ALGORITHM, SHA512_ALGORITHM];

/// Hash `password` with a fresh random salt, RabbitMQ SHA-256 style.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; SALT_LEN];
    rand::thread_rng().fill_bytes(&mut salt);
    hash_with_salt(&salt, password)
}

/// Check `password` against a base64 SHA-256 hash as stored by RabbitMQ.
///
/// Returns false for anything malformed (bad base64, too short), including
/// the empty hash RabbitMQ uses for users that may not log in by password.
pub fn verify_password(stored_b64: &str, password: &str) -> bool {
    verify_password_with(SHA256_ALGORITHM, stored_b64, password)
}

/// Like [`verify_password`], for a named RabbitMQ hashing algorithm.
///
/// Unknown algorithms (including `rabbit_password_hashing_md5`, which
/// Warren does not implement) never verify.
pub fn verify_password_with(algorithm: &str, stored_b64: &str, password: &str) -> bool {
    let Ok(stored) = BASE64.decode(stored_b64.trim()) else {
        return false;
    };
    if stored.len() < SALT_LEN {
        return false;
    }
    let (salt, expected) = stored.split_at(SALT_LEN);
    match algorithm {
        SHA256_ALGORITHM => constant_time_eq(&salted::<Sha256>(salt, password), expected),
        SHA512_ALGORITHM => constant_time_eq(&salted::<Sha512>(salt, password), expected),
        _ => false,
    }
}

fn hash_with_salt(salt: &[u8; SALT_LEN], password: &str) -> String {
    let mut out = Vec::with_capacity(SALT_LEN + 32);
    out.extend_from_slice(salt);
    out.extend_from_slice(&salted::<Sha256>(salt, password));
    BASE64.encode(out)
}

fn salted<D: Digest>(salt: &[u8], password: &str) -> Vec<u8> {
    let mut hasher = D::new();
    hasher.update(salt);
    hasher.update(password.as_bytes());
    hasher.finalize().to_vec()
}

/// Compare without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by RabbitMQ 3.10.8 for password "pw1" (PUT /api/users/hashcheck).
    const RABBIT_PW1: &str = "Yz5hd3T05AoQ+g6KefUCkiLlHgqMA/6UHcBfCSepT1uBaUes";
    /// The stock `guest` user's hash on the same broker (password "guest").
    const RABBIT_GUEST: &str = "HOQL5FSHVFDdHknz/iRW27qIdobSpT0jn31XTo5MWzidkeil";

    #[test]
    fn verifies_rabbitmq_hashes() {
        assert!(verify_password(RABBIT_PW1, "pw1"));
        assert!(!verify_password(RABBIT_PW1, "pw2"));
        assert!(!verify_password(RABBIT_PW1, ""));
        assert!(verify_password(RABBIT_GUEST, "guest"));
        assert!(!verify_password(RABBIT_GUEST, "Guest"));
    }

    #[test]
    fn hash_then_verify() {
        let h = hash_password("s3cret ünïcode");
        assert!(verify_password(&h, "s3cret ünïcode"));
        assert!(!verify_password(&h, "s3cret"));
        assert_eq!(BASE64.decode(&h).map(|b| b.len()).ok(), Some(36));
    }

    #[test]
    fn salts_differ() {
        assert_ne!(hash_password("x"), hash_password("x"));
    }

    #[test]
    fn deterministic_with_salt() {
        let salt = [1, 2, 3, 4];
        let h = hash_with_salt(&salt, "pw");
        assert_eq!(h, hash_with_salt(&salt, "pw"));
        assert!(verify_password(&h, "pw"));
    }

    #[test]
    fn malformed_hashes_never_verify() {
        for bad in ["", "!!!", "AAA", "AAAA", "AAAAAA==", "not base64 at all"] {
            assert!(!verify_password(bad, ""), "{bad:?}");
            assert!(!verify_password(bad, "pw"), "{bad:?}");
        }
        // Right salt, truncated digest.
        let h = hash_password("pw");
        let mut raw = BASE64.decode(&h).unwrap_or_default();
        raw.truncate(20);
        assert!(!verify_password(&BASE64.encode(raw), "pw"));
    }

    #[test]
    fn sha512_and_unknown_algorithms() {
        let salt = [9u8, 8, 7, 6];
        let mut raw = salt.to_vec();
        raw.extend(salted::<Sha512>(&salt, "pw"));
        let h = BASE64.encode(raw);
        assert!(verify_password_with(SHA512_ALGORITHM, &h, "pw"));
        assert!(!verify_password_with(SHA512_ALGORITHM, &h, "px"));
        assert!(!verify_password(&h, "pw"));
        assert!(!verify_password_with(
            "rabbit_password_hashing_md5",
            RABBIT_PW1,
            "pw1"
        ));
    }
}
