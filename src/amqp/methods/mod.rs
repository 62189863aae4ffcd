//! One module per AMQP class: the handlers that run each method on an open channel.

mod ack;
mod basic;
pub(crate) mod command_reply;
mod consume;
mod exchange;
mod queue;
mod reply_to;
mod tx;

use super::connection::Connection;
use super::error::{AmqpError, AmqpResult};
use crate::auth::permissions::{check_resource, Access};
use crate::broker::command::CommandError;

impl Connection {
    /// RabbitMQ's resource check for this connection's user in its vhost.
    pub(crate) fn check(&self, access: Access, kind: &str, name: &str) -> AmqpResult<()> {
        let (vhost, user) = (&self.vhost.name, &self.user.name);
        check_resource(Some(&self.permission), access, kind, name, vhost, user)
            .map_err(AmqpError::access_refused)
    }

    pub(crate) fn no_exchange(&self, name: &str) -> AmqpError {
        CommandError::no_exchange(&self.vhost.name, name).into()
    }

    pub(crate) fn no_queue(&self, name: &str) -> AmqpError {
        CommandError::no_queue(&self.vhost.name, name).into()
    }
}

/// RabbitMQ silently strips CR and LF from names.
pub(crate) fn clean_name(s: &str) -> String {
    s.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}
