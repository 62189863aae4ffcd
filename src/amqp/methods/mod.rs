//! One module per AMQP class: the handlers that run each method on an open channel.

mod ack;
mod basic;
mod consume;
mod exchange;
mod queue;
mod reply_to;
mod tx;

use super::connection::Connection;
use super::error::{AmqpError, AmqpResult};
use crate::auth::permissions::Access;
use amq_protocol::types::{AMQPValue, FieldTable};

impl Connection {
    /// RabbitMQ's resource check: `<perm> access to <kind> '<name>' in vhost '<v>' refused`.
    pub(crate) fn check(&self, access: Access, kind: &str, name: &str) -> AmqpResult<()> {
        let resource = if kind == "exchange" && name.is_empty() {
            "amq.default"
        } else {
            name
        };
        if self.permission.allows(access, resource) {
            return Ok(());
        }
        let what = match access {
            Access::Configure => "configure",
            Access::Write => "write",
            Access::Read => "read",
        };
        Err(AmqpError::access_refused(format!(
            "{what} access to {kind} '{resource}' in vhost '{}' refused for user '{}'",
            self.vhost.name, self.user.name
        )))
    }

    pub(crate) fn no_exchange(&self, name: &str) -> AmqpError {
        AmqpError::not_found(format!(
            "no exchange '{name}' in vhost '{}'",
            self.vhost.name
        ))
    }

    pub(crate) fn no_queue(&self, name: &str) -> AmqpError {
        AmqpError::not_found(format!("no queue '{name}' in vhost '{}'", self.vhost.name))
    }
}

/// RabbitMQ silently strips CR and LF from names.
pub(crate) fn clean_name(s: &str) -> String {
    s.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

/// How an argument value is shown in an "inequivalent arg" error.
pub(crate) fn show_value(v: Option<&AMQPValue>) -> String {
    match v {
        None => "none".into(),
        Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        Some(AMQPValue::ShortString(s)) => s.to_string(),
        Some(AMQPValue::Boolean(b)) => b.to_string(),
        Some(AMQPValue::LongLongInt(i)) => i.to_string(),
        Some(AMQPValue::LongInt(i)) => i.to_string(),
        Some(other) => format!("{other:?}"),
    }
}

/// The first argument whose value differs between two tables, for equivalence checks.
pub(crate) fn first_difference<'a>(a: &'a FieldTable, b: &'a FieldTable) -> Option<&'a str> {
    let keys = a.inner().keys().chain(b.inner().keys());
    for k in keys {
        if a.inner().get(k) != b.inner().get(k) {
            return Some(k.as_str());
        }
    }
    None
}
