//! queue.declare / bind / unbind / purge / delete: each becomes a broker command; a passive
//! declare is a lookup.

use super::clean_name;
use super::command_reply::Then;
use crate::amqp::connection::Connection;
use crate::amqp::error::{AmqpError, AmqpResult};
use crate::broker::command::{BindingSpec, Command, Destination, QueueDecl};
use crate::queue::Queue;
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
        Ok(self.broker.find_queue(&self.actor(), &self.vhost, name)?)
    }

    fn queue_declare(&mut self, ch: u16, d: queue::Declare) -> AmqpResult<()> {
        let name = clean_name(d.queue.as_str());
        if d.passive {
            return self.queue_declare_passive(ch, &name, d.nowait);
        }
        let server_named = name.is_empty();
        let decl = QueueDecl {
            vhost: self.vhost.name.clone(),
            name: if server_named {
                generated_name("amq.gen-")
            } else {
                name
            },
            server_named,
            durable: d.durable,
            auto_delete: d.auto_delete,
            exclusive_owner: d.exclusive.then_some(self.shared.id),
            arguments: d.arguments,
            home: None,
        };
        let then = Then::QueueDeclared { nowait: d.nowait };
        self.command_then(ch, Command::DeclareQueue(decl), then)
    }

    fn queue_declare_passive(&mut self, ch: u16, name: &str, nowait: bool) -> AmqpResult<()> {
        let name = self.queue_name(ch, name)?;
        if super::reply_to::is_reply_address(&name) {
            let (message_count, consumer_count) = self
                .declare_reply_address(&name)
                .ok_or_else(|| self.no_queue(&name))?;
            if !nowait {
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
        self.queue_declare_ok(ch, &q, nowait)
    }

    pub(super) fn queue_declare_ok(
        &mut self,
        ch: u16,
        q: &Arc<Queue>,
        nowait: bool,
    ) -> AmqpResult<()> {
        self.chan(ch).last_queue = Some(q.name.clone());
        if nowait {
            return Ok(());
        }
        if let Some(home) = q.remote() {
            // The counts are the home's.
            let (report, q) = (home.report(q), q.clone());
            self.after_remote(ch, report, move |conn, report| {
                let c = report.map_err(AmqpError::not_found)?.counts();
                conn.send_declare_ok(ch, &q, c);
                Ok(())
            });
            return Ok(());
        }
        self.send_declare_ok(ch, q, q.counts());
        Ok(())
    }

    fn send_declare_ok(&mut self, ch: u16, q: &Queue, c: crate::queue::QueueCounts) {
        let ok = queue::DeclareOk {
            queue: crate::amqp::codec::short(&q.name),
            message_count: c.ready,
            consumer_count: c.consumers,
        };
        self.send_method(ch, AMQPClass::Queue(queue::AMQPMethod::DeclareOk(ok)));
    }

    fn binding(
        &mut self,
        ch: u16,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: amq_protocol::types::FieldTable,
    ) -> AmqpResult<BindingSpec> {
        Ok(BindingSpec {
            vhost: self.vhost.name.clone(),
            source: clean_name(exchange),
            destination: Destination::Queue(self.queue_name(ch, queue)?),
            routing_key: routing_key.to_string(),
            arguments,
        })
    }

    fn queue_bind(&mut self, ch: u16, b: queue::Bind) -> AmqpResult<()> {
        let spec = self.binding(
            ch,
            b.queue.as_str(),
            b.exchange.as_str(),
            b.routing_key.as_str(),
            b.arguments,
        )?;
        self.command_then(
            ch,
            Command::Bind(spec),
            Then::QueueBound { nowait: b.nowait },
        )
    }

    fn queue_unbind(&mut self, ch: u16, u: queue::Unbind) -> AmqpResult<()> {
        let spec = self.binding(
            ch,
            u.queue.as_str(),
            u.exchange.as_str(),
            u.routing_key.as_str(),
            u.arguments,
        )?;
        self.command_then(ch, Command::Unbind(spec), Then::QueueUnbound)
    }

    fn queue_purge(&mut self, ch: u16, p: queue::Purge) -> AmqpResult<()> {
        let name = self.queue_name(ch, p.queue.as_str())?;
        let vhost = self.vhost.name.clone();
        let then = Then::QueuePurged { nowait: p.nowait };
        self.command_then(ch, Command::PurgeQueue { vhost, name }, then)
    }

    fn queue_delete(&mut self, ch: u16, d: queue::Delete) -> AmqpResult<()> {
        let name = self.queue_name(ch, d.queue.as_str())?;
        let cmd = Command::DeleteQueue {
            vhost: self.vhost.name.clone(),
            name,
            if_unused: d.if_unused,
            if_empty: d.if_empty,
        };
        self.command_then(ch, cmd, Then::QueueDeleted { nowait: d.nowait })
    }
}

impl Connection {
    /// Deletes a queue as the broker does on its own: an exclusive queue whose connection
    /// closes, an auto-delete queue that lost its last consumer (`if_unused`: unless a new
    /// one came meanwhile).
    pub(crate) fn delete_queue_as_broker(&mut self, q: &Arc<Queue>, if_unused: bool) {
        self.exclusive.retain(|x| !Arc::ptr_eq(x, q));
        if q.is_deleted() {
            return;
        }
        let cmd = Command::DeleteQueue {
            vhost: self.vhost.name.clone(),
            name: q.name.clone(),
            if_unused,
            if_empty: false,
        };
        if let Some(t) = self.broker.run_as_broker(cmd) {
            self.hold_until(t);
        }
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
