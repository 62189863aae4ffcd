//! queue.declare / bind / unbind / purge / delete, and queue deletion with its effects
//! (bindings dropped, consumers told with `basic.cancel`).

use super::exchange::default_exchange_refused;
use super::{check_args, clean_name, QUEUE_ARGS};
use crate::amqp::connection::Connection;
use crate::amqp::error::{AmqpError, AmqpResult};
use crate::auth::permissions::Access;
use crate::broker::exchange::Dest;
use crate::queue::{Queue, QueueArgs, QueueSpec};
use amq_protocol::protocol::{queue, AMQPClass};
use rand::Rng;
use std::sync::Arc;

impl Connection {
    pub(crate) fn queue_method(&mut self, ch: u16, m: queue::AMQPMethod) -> AmqpResult<()> {
        match m {
            queue::AMQPMethod::Declare(d) => self.queue_declare(ch, d),
            queue::AMQPMethod::Bind(b) => self.queue_bind(ch, b),
            queue::AMQPMethod::Unbind(u) => self.queue_unbind(ch, u),
            queue::AMQPMethod::Purge(p) => self.queue_purge(ch, p),
            queue::AMQPMethod::Delete(d) => self.queue_delete(ch, d),
            _ => Err(AmqpError::command_invalid("server-only queue method")),
        }
    }

    /// The queue a method names; `""` means the channel's last declared queue.
    pub(crate) fn queue_name(&mut self, ch: u16, name: &str) -> AmqpResult<String> {
        let name = clean_name(name);
        if !name.is_empty() {
            return Ok(name);
        }
        self.chan(ch)
            .last_queue
            .clone()
            .ok_or_else(|| AmqpError::not_found("no previously declared queue"))
    }

    /// Looks a queue up and checks exclusivity (which RabbitMQ checks first).
    pub(crate) fn find_queue(&self, name: &str) -> AmqpResult<Arc<Queue>> {
        let q = self.vhost.queue(name).ok_or_else(|| self.no_queue(name))?;
        self.check_exclusive(&q)?;
        Ok(q)
    }

    fn check_exclusive(&self, q: &Queue) -> AmqpResult<()> {
        match q.exclusive_owner {
            Some(owner) if owner != self.shared.id => Err(self.locked(q)),
            _ => Ok(()),
        }
    }

    /// A redeclare must also match the queue's exclusivity, checked before the other
    /// properties: RabbitMQ answers a mismatch either way with 405, not 406.
    fn check_exclusive_redeclare(&self, q: &Queue, exclusive: bool) -> AmqpResult<()> {
        self.check_exclusive(q)?;
        if q.exclusive_owner.is_some() != exclusive {
            return Err(self.locked(q));
        }
        Ok(())
    }

    fn locked(&self, q: &Queue) -> AmqpError {
        AmqpError::resource_locked(format!(
            "cannot obtain exclusive access to locked queue '{}' in vhost '{}'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.",
            q.name, self.vhost.name
        ))
    }

    fn queue_declare(&mut self, ch: u16, d: queue::Declare) -> AmqpResult<()> {
        let mut name = clean_name(d.queue.as_str());
        if d.passive {
            let name = self.queue_name(ch, &name)?;
            if super::reply_to::is_reply_address(&name) {
                let (message_count, consumer_count) = self
                    .declare_reply_address(&name)
                    .ok_or_else(|| self.no_queue(&name))?;
                if !d.nowait {
                    let ok = queue::DeclareOk {
                        queue: crate::amqp::codec::short(&name),
                        message_count,
                        consumer_count,
                    };
                    self.send_method(ch, AMQPClass::Queue(queue::AMQPMethod::DeclareOk(ok)));
                }
                return Ok(());
            }
            let q = self.find_queue(&name)?;
            q.touch();
            return self.queue_declare_ok(ch, &q, d.nowait);
        }
        if name.is_empty() {
            name = generated_name("amq.gen-");
        } else if name.starts_with("amq.") {
            return Err(AmqpError::access_refused(format!(
                "queue name '{name}' contains reserved prefix 'amq.*'"
            )));
        }
        self.check(Access::Configure, "queue", &name)?;
        let what = format!("queue '{name}' in vhost '{}'", self.vhost.name);
        let settings =
            crate::queue::args::parse(&d.arguments, &what).map_err(AmqpError::precondition)?;
        let q = match self.vhost.queue(&name) {
            Some(q) => {
                self.check_exclusive_redeclare(&q, d.exclusive)?;
                self.queue_equivalent(&q, &d)?;
                q
            }
            None => self.create_queue(name, &d, settings),
        };
        q.touch();
        self.queue_declare_ok(ch, &q, d.nowait)
    }

    fn create_queue(
        &mut self,
        name: String,
        d: &queue::Declare,
        settings: QueueArgs,
    ) -> Arc<Queue> {
        let spec = QueueSpec {
            name,
            durable: d.durable,
            auto_delete: d.auto_delete,
            exclusive_owner: d.exclusive.then_some(self.shared.id),
            arguments: d.arguments.clone(),
            args: settings,
        };
        let q = Queue::new(&self.broker, &self.vhost, spec);
        let q = self.vhost.add_queue(q);
        if d.exclusive && q.exclusive_owner == Some(self.shared.id) {
            self.exclusive.push(q.clone());
        }
        if q.durable {
            self.broker.save_definitions();
        }
        q
    }

    fn queue_equivalent(&self, q: &Queue, d: &queue::Declare) -> AmqpResult<()> {
        let diff = |field: &str, got: String, cur: String| {
            AmqpError::precondition(format!(
                "inequivalent arg '{field}' for queue '{}' in vhost '{}': received '{got}' but current is '{cur}'",
                q.name, self.vhost.name
            ))
        };
        if q.durable != d.durable {
            return Err(diff(
                "durable",
                d.durable.to_string(),
                q.durable.to_string(),
            ));
        }
        if q.auto_delete != d.auto_delete {
            return Err(diff(
                "auto_delete",
                d.auto_delete.to_string(),
                q.auto_delete.to_string(),
            ));
        }
        let what = format!("queue '{}' in vhost '{}'", q.name, self.vhost.name);
        check_args(QUEUE_ARGS, &d.arguments, &q.arguments, &what)
    }

    fn queue_declare_ok(&mut self, ch: u16, q: &Queue, nowait: bool) -> AmqpResult<()> {
        self.chan(ch).last_queue = Some(q.name.clone());
        if !nowait {
            let c = q.counts();
            let ok = queue::DeclareOk {
                queue: crate::amqp::codec::short(&q.name),
                message_count: c.ready,
                consumer_count: c.consumers,
            };
            self.send_method(ch, AMQPClass::Queue(queue::AMQPMethod::DeclareOk(ok)));
        }
        Ok(())
    }

    fn queue_bind(&mut self, ch: u16, b: queue::Bind) -> AmqpResult<()> {
        let name = self.queue_name(ch, b.queue.as_str())?;
        let ex_name = clean_name(b.exchange.as_str());
        if ex_name.is_empty() {
            return Err(default_exchange_refused());
        }
        self.check(Access::Write, "queue", &name)?;
        self.check(Access::Read, "exchange", &ex_name)?;
        let q = self.find_queue(&name)?;
        let ex = self
            .vhost
            .exchange(&ex_name)
            .ok_or_else(|| self.no_exchange(&ex_name))?;
        if ex.kind == crate::broker::exchange::ExchangeKind::Headers {
            crate::broker::headers::validate_binding_args(&b.arguments)
                .map_err(AmqpError::precondition)?;
        }
        let durable = ex.durable && q.durable;
        if ex.bind(Dest::Queue(q), b.routing_key.as_str(), &b.arguments) && durable {
            self.broker.save_definitions();
        }
        if !b.nowait {
            let ok = queue::AMQPMethod::BindOk(queue::BindOk {});
            self.send_method(ch, AMQPClass::Queue(ok));
        }
        Ok(())
    }

    fn queue_unbind(&mut self, ch: u16, u: queue::Unbind) -> AmqpResult<()> {
        let name = self.queue_name(ch, u.queue.as_str())?;
        let ex_name = clean_name(u.exchange.as_str());
        if ex_name.is_empty() {
            return Err(default_exchange_refused());
        }
        self.check(Access::Write, "queue", &name)?;
        self.check(Access::Read, "exchange", &ex_name)?;
        // As in RabbitMQ, unbinding what is not there (queue or exchange missing, or no
        // such binding) succeeds: RPC helpers and clean-up code rely on it.
        let q = self.vhost.queue(&name);
        if let Some(q) = &q {
            self.check_exclusive(q)?;
        }
        if let (Some(q), Some(ex)) = (q, self.vhost.exchange(&ex_name)) {
            let durable = ex.durable && q.durable;
            if ex.unbind(&Dest::Queue(q), u.routing_key.as_str(), &u.arguments) {
                self.vhost.auto_delete_exchange(&ex);
                if durable {
                    self.broker.save_definitions();
                }
            }
        }
        let ok = queue::AMQPMethod::UnbindOk(queue::UnbindOk {});
        self.send_method(ch, AMQPClass::Queue(ok));
        Ok(())
    }

    fn queue_purge(&mut self, ch: u16, p: queue::Purge) -> AmqpResult<()> {
        let name = self.queue_name(ch, p.queue.as_str())?;
        self.check(Access::Read, "queue", &name)?;
        let q = self.find_queue(&name)?;
        let message_count = q.purge();
        if !p.nowait {
            let ok = queue::AMQPMethod::PurgeOk(queue::PurgeOk { message_count });
            self.send_method(ch, AMQPClass::Queue(ok));
        }
        Ok(())
    }

    fn queue_delete(&mut self, ch: u16, d: queue::Delete) -> AmqpResult<()> {
        let name = self.queue_name(ch, d.queue.as_str())?;
        self.check(Access::Configure, "queue", &name)?;
        let mut message_count = 0;
        if let Some(q) = self.vhost.queue(&name) {
            self.check_exclusive(&q)?;
            let c = q.counts();
            if d.if_unused && c.consumers > 0 {
                return Err(AmqpError::precondition(format!(
                    "queue '{name}' in vhost '{}' in use",
                    self.vhost.name
                )));
            }
            if d.if_empty && c.ready > 0 {
                return Err(AmqpError::precondition(format!(
                    "queue '{name}' in vhost '{}' is not empty",
                    self.vhost.name
                )));
            }
            message_count = self.delete_queue(&q);
        }
        if !d.nowait {
            let ok = queue::AMQPMethod::DeleteOk(queue::DeleteOk { message_count });
            self.send_method(ch, AMQPClass::Queue(ok));
        }
        Ok(())
    }

    /// Deletes a queue (see `Broker::delete_queue`) and forgets it as exclusive.
    pub(crate) fn delete_queue(&mut self, q: &Arc<Queue>) -> u32 {
        self.exclusive.retain(|x| !Arc::ptr_eq(x, q));
        self.broker.delete_queue(&self.vhost, q)
    }
}

/// A server-generated name: `amq.gen-` or `amq.ctag-` and 22 url-safe base64 characters.
pub(crate) fn generated_name(prefix: &str) -> String {
    use base64::Engine;
    let bytes: [u8; 16] = rand::thread_rng().gen();
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}
