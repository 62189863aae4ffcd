//! Validation of a parsed configuration: each rule returns a [`Problem`] naming the
//! offending key; policies are checked with the broker's own policy rules.

use std::net::SocketAddr;

use super::errors::Problem;
use super::tls::validate_listeners;
use super::{
    AmqpConfig, Config, MemoryWatermark, PermissionDef, PolicyDef, ResourcesConfig, UserDef,
    VhostDef, FRAME_MIN_SIZE, MAX_MESSAGE_SIZE_CEILING,
};
use crate::policy_rules as policy;

impl Config {
    pub(super) fn validate(&self) -> Result<(), Problem> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(Problem::new("data_dir", "must not be empty"));
        }
        if self.node_name.trim().is_empty() {
            return Err(Problem::new("node_name", "must not be empty"));
        }
        self.amqp.validate()?;
        validate_listeners("http", &self.http.listen, self.http.tls.as_ref())?;
        self.resources.validate()?;
        if let Some(c) = &self.cluster {
            c.validate()?;
        }
        validate_users(&self.users)?;
        validate_vhosts(&self.vhosts)?;
        validate_permissions(&self.permissions)?;
        validate_policies("policies", &self.policies, policy::validate_definition)?;
        validate_policies(
            "operator_policies",
            &self.operator_policies,
            policy::validate_operator_definition,
        )
    }
}

impl AmqpConfig {
    fn validate(&self) -> Result<(), Problem> {
        validate_listeners("amqp", &self.listen, self.tls.as_ref())?;
        if self.max_message_size.0 == 0 || self.max_message_size.0 > MAX_MESSAGE_SIZE_CEILING {
            return Err(Problem::new(
                "amqp.max_message_size",
                format!(
                    "must be between 1 byte and 512MiB ({MAX_MESSAGE_SIZE_CEILING}), got {}",
                    self.max_message_size.0
                ),
            ));
        }
        if self.frame_max < FRAME_MIN_SIZE {
            return Err(Problem::new(
                "amqp.frame_max",
                format!(
                    "must be at least {FRAME_MIN_SIZE} bytes, got {}",
                    self.frame_max
                ),
            ));
        }
        Ok(())
    }
}

impl ResourcesConfig {
    fn validate(&self) -> Result<(), Problem> {
        let key = "resources.memory_high_watermark";
        match self.memory_high_watermark {
            MemoryWatermark::Fraction(f) if !(f > 0.0 && f <= 1.0) => Err(Problem::new(
                key,
                format!("fraction must be greater than 0 and at most 1, got {f}"),
            )),
            MemoryWatermark::Absolute(0) => Err(Problem::new(key, "must be greater than 0")),
            _ if !(self.memory_paging_ratio > 0.0 && self.memory_paging_ratio.is_finite()) => {
                Err(Problem::new(
                    "resources.memory_paging_ratio",
                    format!("must be greater than 0, got {}", self.memory_paging_ratio),
                ))
            }
            _ => Ok(()),
        }
    }
}

fn validate_users(users: &[UserDef]) -> Result<(), Problem> {
    for (i, user) in users.iter().enumerate() {
        let key = format!("users[{i}]");
        if user.name.is_empty() {
            return Err(Problem::new(format!("{key}.name"), "must not be empty"));
        }
        if user.password.is_some() == user.password_hash.is_some() {
            return Err(Problem::new(
                key,
                format!(
                    "user '{}' must set exactly one of password or password_hash",
                    user.name
                ),
            ));
        }
        if users[..i].iter().any(|u| u.name == user.name) {
            return Err(Problem::new(
                format!("{key}.name"),
                format!("user '{}' is defined more than once", user.name),
            ));
        }
    }
    Ok(())
}

fn validate_vhosts(vhosts: &[VhostDef]) -> Result<(), Problem> {
    for (i, vhost) in vhosts.iter().enumerate() {
        let key = format!("vhosts[{i}].name");
        if vhost.name.is_empty() {
            return Err(Problem::new(key, "must not be empty"));
        }
        if vhosts[..i].iter().any(|v| v.name == vhost.name) {
            return Err(Problem::new(
                key,
                format!("vhost '{}' is defined more than once", vhost.name),
            ));
        }
    }
    Ok(())
}

fn validate_permissions(permissions: &[PermissionDef]) -> Result<(), Problem> {
    for (i, perm) in permissions.iter().enumerate() {
        if perm.user.is_empty() {
            return Err(Problem::new(
                format!("permissions[{i}].user"),
                "must not be empty",
            ));
        }
        if perm.vhost.is_empty() {
            return Err(Problem::new(
                format!("permissions[{i}].vhost"),
                "must not be empty",
            ));
        }
        let duplicate = permissions[..i]
            .iter()
            .any(|p| p.user == perm.user && p.vhost == perm.vhost);
        if duplicate {
            return Err(Problem::new(
                format!("permissions[{i}]"),
                format!(
                    "permissions for user '{}' in vhost '{}' are defined more than once",
                    perm.user, perm.vhost
                ),
            ));
        }
    }
    Ok(())
}

/// Validates `[[policies]]` (or `[[operator_policies]]`, named by `section`)
/// with the broker's policy rules; errors name the offending key.
fn validate_policies(
    section: &str,
    policies: &[PolicyDef],
    check_definition: fn(&serde_json::Map<String, serde_json::Value>) -> Result<(), String>,
) -> Result<(), Problem> {
    for (i, p) in policies.iter().enumerate() {
        let key = |field: &str| format!("{section}[{i}].{field}");
        if p.name.is_empty() {
            return Err(Problem::new(key("name"), "must not be empty"));
        }
        if p.vhost.is_empty() {
            return Err(Problem::new(key("vhost"), "must not be empty"));
        }
        policy::compile_pattern(&p.pattern).map_err(|m| Problem::new(key("pattern"), m))?;
        policy::ApplyTo::parse(&p.apply_to).map_err(|m| Problem::new(key("apply_to"), m))?;
        check_definition(&p.definition).map_err(|m| Problem::new(key("definition"), m))?;
        if policies[..i]
            .iter()
            .any(|q| q.name == p.name && q.vhost == p.vhost)
        {
            return Err(Problem::new(
                key("name"),
                format!(
                    "policy '{}' in vhost '{}' is defined more than once",
                    p.name, p.vhost
                ),
            ));
        }
    }
    Ok(())
}

/// Checks that `s` is a literal socket address such as `127.0.0.1:5672` or `[::]:5672`.
pub(super) fn check_socket_addr(s: &str) -> Result<(), String> {
    s.parse::<SocketAddr>()
        .map(|_| ())
        .map_err(|_| format!("invalid socket address '{s}' (expected IP:PORT, e.g. 0.0.0.0:5672)"))
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::assert_err_contains;
    use crate::config::Config;

    #[test]
    fn user_needs_exactly_one_password_form() {
        assert_err_contains(
            "[[users]]\nname = \"bob\"\n",
            &[
                "users[0]",
                "'bob'",
                "exactly one of password or password_hash",
            ],
        );
        assert_err_contains(
            "[[users]]\nname = \"eve\"\npassword = \"a\"\npassword_hash = \"b\"\n",
            &["'eve'", "exactly one"],
        );
        let c = Config::from_toml_str(
            "[[users]]\nname = \"h\"\npassword_hash = \"abc=\"\ntags = [\"whatever\"]\n",
        )
        .unwrap();
        assert_eq!(c.users[0].password_hash.as_deref(), Some("abc="));
        assert_eq!(c.users[0].tags, ["whatever"]);
    }

    #[test]
    fn duplicate_definitions_are_rejected() {
        assert_err_contains(
            "[[vhosts]]\nname = \"/\"\n[[vhosts]]\nname = \"/\"\n",
            &["vhosts[1].name", "more than once"],
        );
        assert_err_contains(
            "[[users]]\nname = \"a\"\npassword = \"x\"\n[[users]]\nname = \"a\"\npassword = \"y\"\n",
            &["users[1].name", "more than once"],
        );
    }

    #[test]
    fn bad_policies_name_the_key() {
        let policy = |fields: &str| format!("[[policies]]\nname = \"p\"\n{fields}\n");
        let cases: Vec<(String, Vec<&str>)> = vec![
            (
                policy("pattern = \".*\"\ndefinition = { expires = 0 }"),
                vec!["<config>:4:", "policies[0].definition: 0 is not a valid queue expiry"],
            ),
            (
                policy("pattern = \".*\"\ndefinition = { \"message-ttl\" = 1.5 }"),
                vec!["policies[0].definition: 1.5 is not a valid message TTL"],
            ),
            (
                policy("pattern = \".*\"\ndefinition = { bogus = 1 }"),
                vec![r#"policies[0].definition: [{<<"bogus">>,1}] are not recognised policy settings"#],
            ),
            (
                policy("pattern = \".*\"\ndefinition = {}"),
                vec!["policies[0].definition: no policy provided"],
            ),
            (
                policy("pattern = \"(\"\ndefinition = { max-length = 1 }"),
                vec![
                    "<config>:3:11",
                    "policies[0].pattern: pattern should be regular expression but is invalid",
                ],
            ),
            (
                policy("pattern = \".*\"\napply_to = \"topics\"\ndefinition = { max-length = 1 }"),
                vec!["policies[0].apply_to: apply-to 'topics' unrecognised; should be 'queues', 'exchanges' or 'all'"],
            ),
            (
                policy("pattern = \".*\"\npriority = 1.5\ndefinition = { max-length = 1 }"),
                vec!["policies[0].priority", "i32"],
            ),
            (
                policy("pattern = \".*\"\ndefinition = { max-length = 1 }\napply-to = \"all\""),
                vec!["policies[0].apply-to", "unknown field `apply-to`"],
            ),
            (policy("pattern = \".*\""), vec!["policies[0]", "missing field `definition`"]),
            (
                policy("pattern = \".*\"\nvhost = \"\"\ndefinition = { max-length = 1 }"),
                vec!["policies[0].vhost: must not be empty"],
            ),
            (
                format!(
                    "{}{}",
                    policy("pattern = \"a\"\ndefinition = { max-length = 1 }"),
                    policy("pattern = \"b\"\ndefinition = { max-length = 2 }")
                ),
                vec!["policies[1].name: policy 'p' in vhost '/' is defined more than once"],
            ),
            (
                "[[operator_policies]]\nname = \"o\"\npattern = \".*\"\ndefinition = { overflow = \"drop-head\" }\n"
                    .to_string(),
                vec![r#"operator_policies[0].definition: [{<<"overflow">>,<<"drop-head">>}] are not recognised policy settings"#],
            ),
            (
                "[[operator_policies]]\nname = \"o\"\npattern = \".*\"\ndefinition = { expires = -1 }\n"
                    .to_string(),
                vec!["operator_policies[0].definition: -1 is not a valid queue expiry"],
            ),
        ];
        for (src, needles) in &cases {
            assert_err_contains(src, needles);
        }
    }
}
