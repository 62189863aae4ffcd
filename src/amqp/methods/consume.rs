//! basic.consume and basic.cancel.

use super::queue::generated_name;
use crate::amqp::channel_shared::ConsumerInfo;
use crate::amqp::connection::Connection;
use crate::amqp::error::{AmqpError, AmqpResult};
use crate::amqp::outbound::Outbound;
use crate::auth::permissions::Access;
use crate::queue::Subscription;
use amq_protocol::protocol::{basic, AMQPClass};
use std::sync::Arc;

impl Connection {
    pub(crate) fn basic_consume(&mut self, ch: u16, c: basic::Consume) -> AmqpResult<()> {
        if c.queue.as_str() == super::reply_to::PSEUDO_QUEUE {
            return self.consume_reply_to(ch, &c);
        }
        let name = self.queue_name(ch, c.queue.as_str())?;
        self.check(Access::Read, "queue", &name)?;
        let q = self.find_queue(&name)?;
        let what = format!("queue '{name}' in vhost '{}'", self.vhost.name);
        let priority = priority(&c, &what)?;
        let chan = self.chan(ch);
        let tag: Arc<str> = if c.consumer_tag.as_str().is_empty() {
            generated_name("amq.ctag-").into()
        } else {
            c.consumer_tag.as_str().into()
        };
        let shared = chan.shared.clone();
        let prefetch = chan.consumer_prefetch;
        {
            let mut st = shared.state.lock();
            if st.consumers.contains_key(&tag) {
                return Err(AmqpError::not_allowed(format!(
                    "attempt to reuse consumer tag '{tag}'"
                )));
            }
            st.consumers.insert(
                tag.clone(),
                ConsumerInfo {
                    tag: tag.clone(),
                    queue: q.clone(),
                    prefetch,
                    unacked: 0,
                    no_ack: c.no_ack,
                    exclusive: c.exclusive,
                    arguments: c.arguments.clone(),
                },
            );
        }
        let consumer = Subscription {
            tag: tag.clone(),
            consumer: shared.clone(),
            no_ack: c.no_ack,
            exclusive: c.exclusive,
            priority,
            cancel_on_failover: matches!(
                c.arguments.inner().get("x-cancel-on-ha-failover"),
                Some(amq_protocol::types::AMQPValue::Boolean(true))
            ),
        };
        let ok = (!c.nowait).then(|| {
            let ok = basic::ConsumeOk {
                consumer_tag: crate::amqp::codec::short(&tag),
            };
            Outbound::method(ch, AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(ok)))
        });
        let conn = self.shared.clone();
        let on_added = move || {
            if let Some(ok) = ok {
                conn.send(ok);
            }
        };
        if let Some(home) = q.remote() {
            // The home sends at most a window of deliveries ahead of what the channel took.
            let window = match prefetch {
                p if p > 0 && !c.no_ack => u32::from(p).min(REMOTE_WINDOW),
                _ => REMOTE_WINDOW,
            };
            let answer = home.consume(&q, consumer, window, Box::new(on_added));
            self.after_remote(ch, answer, move |_, added| {
                added.map_err(|reason| {
                    shared.state.lock().consumers.remove(&tag);
                    AmqpError::access_refused(reason)
                })
            });
            return Ok(());
        }
        let added = q.add_consumer(consumer, on_added);
        if let Err(reason) = added {
            shared.state.lock().consumers.remove(&tag);
            return Err(AmqpError::access_refused(reason));
        }
        Ok(())
    }

    pub(crate) fn basic_cancel(&mut self, ch: u16, c: basic::Cancel) -> AmqpResult<()> {
        let shared = self.chan(ch).shared.clone();
        self.drop_reply_to(&shared, Some(c.consumer_tag.as_str()));
        let info = shared
            .state
            .lock()
            .consumers
            .remove(c.consumer_tag.as_str());
        let ok = (!c.nowait).then(|| basic::CancelOk {
            consumer_tag: c.consumer_tag.clone(),
        });
        let send_ok = move |conn: &mut Connection| {
            if let Some(ok) = ok {
                conn.send_method(ch, AMQPClass::Basic(basic::AMQPMethod::CancelOk(ok)));
            }
        };
        if let Some(info) = info {
            if let Some(home) = info.queue.remote() {
                // cancel-ok once the home is done: an auto-delete queue left without
                // consumers is gone by then, as on its own node.
                let done = home.cancel(&info.queue, shared.holder, &info.tag);
                self.after_remote(ch, done, move |conn, _| {
                    send_ok(conn);
                    Ok(())
                });
                return Ok(());
            }
            if info.queue.remove_consumer(shared.holder, &info.tag) {
                self.delete_queue_as_broker(&info.queue, true);
            }
        }
        send_ok(self);
        Ok(())
    }
}

/// Deliveries a queue's home on another node sends ahead of what a consumer here took.
const REMOTE_WINDOW: u32 = 256;

/// The `x-priority` consumer argument (any integer type), default 0; anything else is 406
/// as in RabbitMQ.
fn priority(c: &basic::Consume, what: &str) -> AmqpResult<i32> {
    let v = match c.arguments.inner().get("x-priority") {
        None => return Ok(0),
        Some(v) => v,
    };
    let n = crate::queue::args::as_integer(v).ok_or_else(|| {
        AmqpError::precondition(format!(
            "invalid arg 'x-priority' for {what}: {}",
            crate::queue::args::expected_integer(v)
        ))
    })?;
    Ok(n.clamp(i32::MIN as i64, i32::MAX as i64) as i32)
}
