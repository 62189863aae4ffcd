//! Authentication and authorisation.
//!
//! This module owns who a client is and what it may do:
//!
//! * [`User`]: a user record (name, RabbitMQ-style password hash, tags);
//! * [`password`]: RabbitMQ-compatible salted SHA-256 password hashes;
//! * [`permissions`]: per-vhost configure/write/read regex permissions;
//! * [`sasl`]: decoding of PLAIN and AMQPLAIN `connection.start-ok` responses.
//!
//! It holds no state; the user/permission tables live in the broker's
//! metadata store and are persisted through `store::definitions`.

pub(crate) mod password;
pub(crate) mod permissions;
pub(crate) mod sasl;
pub(crate) mod topic;

pub use password::{
    hash_password, verify_password, verify_password_with, SHA256_ALGORITHM, SHA512_ALGORITHM,
};
pub use permissions::{Access, Permission, DEFAULT_EXCHANGE_ALIAS};
pub use sasl::{parse_amqplain, parse_plain, SaslError};
pub use topic::TopicPermission;

/// Tag that grants full management rights.
pub const TAG_ADMINISTRATOR: &str = "administrator";
/// Tag that allows publishing with a forged `user-id` property.
pub const TAG_IMPERSONATOR: &str = "impersonator";

/// A user of the internal user database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// `base64(salt ++ sha256(salt ++ password))`; empty means the user
    /// cannot log in with a password (as in RabbitMQ).
    pub password_hash: String,
    /// Which hash `password_hash` is (RabbitMQ's module name).
    pub hashing_algorithm: String,
    /// Tags such as `administrator`, `management`, `impersonator`.
    pub tags: Vec<String>,
    /// `max-connections` and `max-channels` (absent: no limit).
    pub limits: UserLimits,
}

/// A user's limits, as RabbitMQ's `user-limits` set them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserLimits {
    pub max_connections: Option<i64>,
    pub max_channels: Option<i64>,
}

impl UserLimits {
    /// Reads `{"max-connections": n, "max-channels": n}`; RabbitMQ's text for anything
    /// else.
    pub fn from_json(map: &serde_json::Map<String, serde_json::Value>) -> Result<Self, String> {
        let mut limits = UserLimits::default();
        for (k, v) in map {
            let n = v.as_i64().ok_or_else(|| {
                format!(
                    "{k} should be a number, actually was {}",
                    crate::erlang::json(v)
                )
            })?;
            match k.as_str() {
                "max-connections" => limits.max_connections = Some(n),
                "max-channels" => limits.max_channels = Some(n),
                _ => {
                    return Err(format!(
                        "Unrecognised terms [{{<<\"{k}\">>,{v}}}] in user-limits"
                    ))
                }
            }
        }
        Ok(limits)
    }

    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        if let Some(n) = self.max_connections {
            m.insert("max-connections".into(), n.into());
        }
        if let Some(n) = self.max_channels {
            m.insert("max-channels".into(), n.into());
        }
        m
    }

    /// A limit in force: negative means none.
    pub fn effective(limit: Option<i64>) -> Option<u64> {
        limit.and_then(|n| u64::try_from(n).ok())
    }
}

impl User {
    /// A user whose password is hashed now with a fresh salt.
    pub fn with_password(name: &str, password: &str, tags: Vec<String>) -> Self {
        Self {
            name: name.to_owned(),
            password_hash: hash_password(password),
            hashing_algorithm: SHA256_ALGORITHM.to_string(),
            tags,
            limits: UserLimits::default(),
        }
    }

    /// Whether `password` matches this user's stored hash.
    pub fn check_password(&self, password: &str) -> bool {
        verify_password_with(&self.hashing_algorithm, &self.password_hash, password)
    }

    /// Whether the user carries tag `t` (exact, case-sensitive match).
    pub fn has_tag(&self, t: &str) -> bool {
        self.tags.iter().any(|tag| tag == t)
    }

    /// Whether the user has the `administrator` tag.
    pub fn is_administrator(&self) -> bool {
        self.has_tag(TAG_ADMINISTRATOR)
    }

    /// Whether the user has the `impersonator` tag.
    pub fn is_impersonator(&self) -> bool {
        self.has_tag(TAG_IMPERSONATOR)
    }
}

/// Split a comma-separated tag list as the management API accepts it
/// (`"management, policymaker"`): entries are trimmed, empty ones dropped.
pub fn parse_tags(tags: &str) -> Vec<String> {
    tags.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        let u = User::with_password("bob", "pw", parse_tags("administrator, management"));
        assert!(u.is_administrator());
        assert!(!u.is_impersonator());
        assert!(u.has_tag("management"));
        assert!(!u.has_tag("Management"));
        assert!(u.check_password("pw"));
        assert!(!u.check_password("pw "));
    }

    #[test]
    fn parse_tags_edge_cases() {
        assert!(parse_tags("").is_empty());
        assert!(parse_tags(" , ,").is_empty());
        assert_eq!(parse_tags("impersonator"), vec!["impersonator"]);
        assert_eq!(parse_tags("a,,b "), vec!["a", "b"]);
    }

    #[test]
    fn passwordless_user_cannot_log_in() {
        let u = User {
            name: "svc".into(),
            password_hash: String::new(),
            hashing_algorithm: SHA256_ALGORITHM.into(),
            tags: vec![],
            limits: UserLimits::default(),
        };
        assert!(!u.check_password(""));
    }
}
