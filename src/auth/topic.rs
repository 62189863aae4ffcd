//! Topic permissions: per exchange, write and read patterns on routing keys, checked when
//! a message is published to a topic exchange (write) and when a queue or exchange is
//! bound from one (read), as RabbitMQ's internal backend checks them. A user without a
//! topic permission for the exchange is not restricted. `{username}` and `{vhost}` in a
//! pattern stand for the user's name and the vhost.

use super::permissions::Access;
use regex::Regex;

/// One user's topic permission in one vhost, for one exchange.
#[derive(Clone, Debug)]
pub struct TopicPermission {
    pub exchange: String,
    write_source: String,
    read_source: String,
    write: Regex,
    read: Regex,
}

impl TopicPermission {
    pub fn new(
        exchange: &str,
        write: &str,
        read: &str,
        user: &str,
        vhost: &str,
    ) -> Result<Self, regex::Error> {
        let compile = |p: &str| {
            let p = p.replace("{username}", user).replace("{vhost}", vhost);
            Regex::new(if p.is_empty() { "^$" } else { &p })
        };
        Ok(Self {
            exchange: exchange.to_string(),
            write: compile(write)?,
            read: compile(read)?,
            write_source: write.to_string(),
            read_source: read.to_string(),
        })
    }

    pub fn write(&self) -> &str {
        &self.write_source
    }

    pub fn read(&self) -> &str {
        &self.read_source
    }
}

/// Checks `routing_key` against the user's topic permission for `exchange`, if any;
/// the error is RabbitMQ's text.
pub(crate) fn check_topic(
    perms: &[TopicPermission],
    access: Access,
    exchange: &str,
    routing_key: &str,
    vhost: &str,
    user: &str,
) -> Result<(), String> {
    let Some(p) = perms.iter().find(|p| p.exchange == exchange) else {
        return Ok(());
    };
    let re = if access == Access::Read {
        &p.read
    } else {
        &p.write
    };
    if re.is_match(routing_key) {
        return Ok(());
    }
    Err(format!(
        "access to topic '{routing_key}' in exchange '{exchange}' in vhost '{vhost}' refused for user '{user}'"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_keys_are_checked_against_the_exchange_s_patterns() {
        let p = TopicPermission::new("amq.topic", "^a", "^{username}\\.", "ann", "/").unwrap();
        let perms = [p];
        let check = |a, x, rk| check_topic(&perms, a, x, rk, "/", "ann");
        assert!(check(Access::Write, "amq.topic", "a.b").is_ok());
        assert_eq!(
            check(Access::Write, "amq.topic", "b.x").unwrap_err(),
            "access to topic 'b.x' in exchange 'amq.topic' in vhost '/' refused for user 'ann'"
        );
        assert!(check(Access::Read, "amq.topic", "ann.x").is_ok());
        assert!(check(Access::Read, "amq.topic", "bob.x").is_err());
        assert!(check(Access::Write, "other", "anything").is_ok());
    }
}
