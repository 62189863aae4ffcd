//! basic.ack / nack / reject / recover: settling delivered messages.

use crate::amqp::channel::TxAck;
use crate::amqp::channel_shared::group_by_queue;
use crate::amqp::connection::Connection;
use crate::amqp::error::{AmqpError, AmqpResult};
use crate::queue::Settle;
use amq_protocol::protocol::{basic, AMQPClass};

impl Connection {
    pub(crate) fn basic_ack(&mut self, ch: u16, tag: u64, multiple: bool) -> AmqpResult<()> {
        if let Some(tx) = self.chan(ch).tx.as_mut() {
            tx.acks.push(TxAck::Ack { tag, multiple });
            return Ok(());
        }
        self.settle(ch, tag, multiple, None)
    }

    pub(crate) fn basic_reject(
        &mut self,
        ch: u16,
        tag: u64,
        multiple: bool,
        requeue: bool,
    ) -> AmqpResult<()> {
        if let Some(tx) = self.chan(ch).tx.as_mut() {
            tx.acks.push(TxAck::Reject {
                tag,
                multiple,
                requeue,
            });
            return Ok(());
        }
        self.settle(ch, tag, multiple, Some(requeue))
    }

    /// Acks (`requeue: None`) or rejects the named deliveries.
    pub(crate) fn settle(
        &mut self,
        ch: u16,
        tag: u64,
        multiple: bool,
        requeue: Option<bool>,
    ) -> AmqpResult<()> {
        let shared = self.chan(ch).shared.clone();
        let taken = shared
            .take_unacked(tag, multiple)
            .ok_or_else(|| AmqpError::precondition(format!("unknown delivery tag {tag}")))?;
        let how = match requeue {
            Some(true) => Settle::Requeue,
            Some(false) => Settle::Reject,
            None => Settle::Ack,
        };
        if how == Settle::Ack {
            shared
                .stats
                .add(crate::stats::Stat::Ack, taken.len() as u64);
        }
        for (q, seqs) in group_by_queue(taken) {
            q.settle(shared.holder, &seqs, how);
        }
        // Room under a channel-wide (global) prefetch may let the channel's other queues
        // deliver; each settled queue already re-dispatched itself.
        if shared.state.lock().global_prefetch > 0 {
            for q in shared.consumed_queues() {
                q.dispatch();
            }
        }
        Ok(())
    }

    pub(crate) fn basic_recover(&mut self, ch: u16, requeue: bool, reply: bool) -> AmqpResult<()> {
        if !requeue {
            return Err(AmqpError::not_implemented("requeue=false"));
        }
        // recover-ok goes out before the redeliveries, as RabbitMQ does: clients discard
        // deliveries that arrive before it.
        if reply {
            let ok = basic::AMQPMethod::RecoverOk(basic::RecoverOk {});
            self.send_method(ch, AMQPClass::Basic(ok));
        }
        let shared = self.chan(ch).shared.clone();
        for q in shared.take_all_unacked() {
            q.holder_gone(shared.holder);
        }
        Ok(())
    }
}
