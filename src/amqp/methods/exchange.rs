//! exchange.declare / delete / bind / unbind.

use super::{check_args, clean_name, EXCHANGE_ARGS};
use crate::amqp::connection::Connection;
use crate::amqp::error::{AmqpError, AmqpResult};
use crate::auth::permissions::Access;
use crate::broker::exchange::{Dest, Exchange, ExchangeKind};
use crate::broker::headers::validate_binding_args;
use amq_protocol::protocol::{exchange, AMQPClass};
use std::sync::Arc;

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
        if name.is_empty() {
            return Err(default_exchange_refused());
        }
        let existing = self.vhost.exchange(&name);
        if d.passive {
            existing.ok_or_else(|| self.no_exchange(&name))?;
            return self.exchange_declare_ok(ch, d.nowait);
        }
        let kind = ExchangeKind::parse(d.kind.as_str()).ok_or_else(|| {
            AmqpError::command_invalid(format!("unknown exchange type '{}'", d.kind))
        })?;
        if existing.is_none() && name.starts_with("amq.") {
            return Err(AmqpError::access_refused(format!(
                "exchange name '{name}' contains reserved prefix 'amq.*'"
            )));
        }
        self.check(Access::Configure, "exchange", &name)?;
        let ex = match existing {
            Some(ex) => ex,
            None => {
                let ex = self.vhost.add_exchange(Exchange::new(
                    name.clone(),
                    kind,
                    d.durable,
                    d.auto_delete,
                    d.internal,
                    d.arguments.clone(),
                ));
                ex.set_alternate(crate::broker::effective::alternate_exchange(
                    &self.broker.policies.read(),
                    &self.vhost.name,
                    &ex.name,
                    ex.alternate_arg.as_deref(),
                ));
                if ex.durable {
                    self.broker.save_definitions();
                }
                ex
            }
        };
        self.exchange_equivalent(&ex, kind, &d)?;
        self.exchange_declare_ok(ch, d.nowait)
    }

    fn exchange_equivalent(
        &self,
        ex: &Exchange,
        kind: ExchangeKind,
        d: &exchange::Declare,
    ) -> AmqpResult<()> {
        let diff = |field: &str, got: String, cur: String| {
            AmqpError::precondition(format!(
                "inequivalent arg '{field}' for exchange '{}' in vhost '{}': received '{got}' but current is '{cur}'",
                ex.name, self.vhost.name
            ))
        };
        if ex.kind != kind {
            return Err(diff("type", kind.as_str().into(), ex.kind.as_str().into()));
        }
        if ex.durable != d.durable {
            return Err(diff(
                "durable",
                d.durable.to_string(),
                ex.durable.to_string(),
            ));
        }
        if ex.auto_delete != d.auto_delete {
            return Err(diff(
                "auto_delete",
                d.auto_delete.to_string(),
                ex.auto_delete.to_string(),
            ));
        }
        if ex.internal != d.internal {
            return Err(diff(
                "internal",
                d.internal.to_string(),
                ex.internal.to_string(),
            ));
        }
        let what = format!("exchange '{}' in vhost '{}'", ex.name, self.vhost.name);
        check_args(EXCHANGE_ARGS, &d.arguments, &ex.arguments, &what)
    }

    fn exchange_declare_ok(&self, ch: u16, nowait: bool) -> AmqpResult<()> {
        if !nowait {
            let ok = exchange::AMQPMethod::DeclareOk(exchange::DeclareOk {});
            self.send_method(ch, AMQPClass::Exchange(ok));
        }
        Ok(())
    }

    fn exchange_delete(&mut self, ch: u16, d: exchange::Delete) -> AmqpResult<()> {
        let name = clean_name(d.exchange.as_str());
        if name.is_empty() {
            return Err(default_exchange_refused());
        }
        if name.starts_with("amq.") {
            return Err(AmqpError::access_refused(format!(
                "deletion of system exchange '{name}' in vhost '{}' not allowed",
                self.vhost.name
            )));
        }
        self.check(Access::Configure, "exchange", &name)?;
        if let Some(ex) = self.vhost.exchange(&name) {
            if d.if_unused && ex.has_bindings() {
                return Err(AmqpError::precondition(format!(
                    "exchange '{name}' in vhost '{}' in use",
                    self.vhost.name
                )));
            }
            self.vhost.remove_exchange(&name);
            if ex.durable {
                self.broker.save_definitions();
            }
        }
        if !d.nowait {
            let ok = exchange::AMQPMethod::DeleteOk(exchange::DeleteOk {});
            self.send_method(ch, AMQPClass::Exchange(ok));
        }
        Ok(())
    }

    /// Checks an exchange-to-exchange (un)bind's ends: neither the default exchange, and
    /// the user may write to the destination and read from the source.
    fn e2e_allowed(&self, src: &str, dst: &str) -> AmqpResult<()> {
        if src.is_empty() || dst.is_empty() {
            return Err(default_exchange_refused());
        }
        self.check(Access::Write, "exchange", dst)?;
        self.check(Access::Read, "exchange", src)
    }

    /// Resolves source and destination of an exchange-to-exchange bind.
    fn e2e_ends(&self, src: &str, dst: &str) -> AmqpResult<(Arc<Exchange>, Arc<Exchange>)> {
        self.e2e_allowed(src, dst)?;
        let s = self
            .vhost
            .exchange(src)
            .ok_or_else(|| self.no_exchange(src))?;
        let d = self
            .vhost
            .exchange(dst)
            .ok_or_else(|| self.no_exchange(dst))?;
        Ok((s, d))
    }

    fn exchange_bind(&mut self, ch: u16, b: exchange::Bind) -> AmqpResult<()> {
        let (src, dst) = (
            clean_name(b.source.as_str()),
            clean_name(b.destination.as_str()),
        );
        let (s, d) = self.e2e_ends(&src, &dst)?;
        if s.kind == ExchangeKind::Headers {
            validate_binding_args(&b.arguments).map_err(AmqpError::precondition)?;
        }
        let added = s.bind(Dest::Exchange(dst), b.routing_key.as_str(), &b.arguments);
        if added && s.durable && d.durable {
            self.broker.save_definitions();
        }
        if !b.nowait {
            let ok = exchange::AMQPMethod::BindOk(exchange::BindOk {});
            self.send_method(ch, AMQPClass::Exchange(ok));
        }
        Ok(())
    }

    fn exchange_unbind(&mut self, ch: u16, u: exchange::Unbind) -> AmqpResult<()> {
        let (src, dst) = (
            clean_name(u.source.as_str()),
            clean_name(u.destination.as_str()),
        );
        self.e2e_allowed(&src, &dst)?;
        // As in RabbitMQ, unbinding what is not there (either end missing, or no such
        // binding) succeeds: clean-up code relies on it.
        let ends = (self.vhost.exchange(&src), self.vhost.exchange(&dst));
        if let (Some(s), Some(d)) = ends {
            if s.unbind(&Dest::Exchange(dst), u.routing_key.as_str(), &u.arguments) {
                self.vhost.auto_delete_exchange(&s);
                if s.durable && d.durable {
                    self.broker.save_definitions();
                }
            }
        }
        if !u.nowait {
            let ok = exchange::AMQPMethod::UnbindOk(exchange::UnbindOk {});
            self.send_method(ch, AMQPClass::Exchange(ok));
        }
        Ok(())
    }
}

pub(crate) fn default_exchange_refused() -> AmqpError {
    AmqpError::access_refused("operation not permitted on the default exchange")
}
