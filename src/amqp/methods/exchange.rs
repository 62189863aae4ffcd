//! exchange.declare / delete / bind / unbind: each becomes a broker command; a passive
//! declare is a lookup.

use super::clean_name;
use super::command_reply::Then;
use crate::amqp::connection::Connection;
use crate::amqp::error::{AmqpError, AmqpResult};
use crate::broker::command::{BindingSpec, Command, Destination, ExchangeDecl};
use amq_protocol::protocol::{exchange, AMQPClass};

impl Connection {
    pub(crate) fn exchange_method(&mut self, ch: u16, m: exchange::AMQPMethod) -> AmqpResult<()> {
        match m {
            exchange::AMQPMethod::Declare(d) => self.exchange_declare(ch, d),
            exchange::AMQPMethod::Delete(d) => self.exchange_delete(ch, d),
            exchange::AMQPMethod::Bind(b) => self.exchange_bind(ch, b),
            exchange::AMQPMethod::Unbind(u) => self.exchange_unbind(ch, u),
            _ => Err(AmqpError::command_invalid("server-only exchange method")),
        }
    }

    fn exchange_declare(&mut self, ch: u16, d: exchange::Declare) -> AmqpResult<()> {
        let name = clean_name(d.exchange.as_str());
        if d.passive {
            if name.is_empty() {
                return Err(crate::broker::default_exchange_refused().into());
            }
            self.vhost
                .exchange(&name)
                .ok_or_else(|| self.no_exchange(&name))?;
        } else {
            let cmd = Command::DeclareExchange(ExchangeDecl {
                vhost: self.vhost.name.clone(),
                name,
                kind: d.kind.to_string(),
                durable: d.durable,
                auto_delete: d.auto_delete,
                internal: d.internal,
                arguments: d.arguments,
            });
            return self.command_then(ch, cmd, Then::ExchangeDeclared { nowait: d.nowait });
        }
        if !d.nowait {
            let ok = exchange::AMQPMethod::DeclareOk(exchange::DeclareOk {});
            self.send_method(ch, AMQPClass::Exchange(ok));
        }
        Ok(())
    }

    fn exchange_delete(&mut self, ch: u16, d: exchange::Delete) -> AmqpResult<()> {
        let cmd = Command::DeleteExchange {
            vhost: self.vhost.name.clone(),
            name: clean_name(d.exchange.as_str()),
            if_unused: d.if_unused,
        };
        self.command_then(ch, cmd, Then::ExchangeDeleted { nowait: d.nowait })
    }

    fn e2e(
        &self,
        source: &str,
        destination: &str,
        routing_key: &str,
        arguments: amq_protocol::types::FieldTable,
    ) -> BindingSpec {
        BindingSpec {
            vhost: self.vhost.name.clone(),
            source: clean_name(source),
            destination: Destination::Exchange(clean_name(destination)),
            routing_key: routing_key.to_string(),
            arguments,
        }
    }

    fn exchange_bind(&mut self, ch: u16, b: exchange::Bind) -> AmqpResult<()> {
        let spec = self.e2e(
            b.source.as_str(),
            b.destination.as_str(),
            b.routing_key.as_str(),
            b.arguments,
        );
        self.command_then(
            ch,
            Command::Bind(spec),
            Then::ExchangeBound { nowait: b.nowait },
        )
    }

    fn exchange_unbind(&mut self, ch: u16, u: exchange::Unbind) -> AmqpResult<()> {
        let spec = self.e2e(
            u.source.as_str(),
            u.destination.as_str(),
            u.routing_key.as_str(),
            u.arguments,
        );
        let then = Then::ExchangeUnbound { nowait: u.nowait };
        self.command_then(ch, Command::Unbind(spec), then)
    }
}
