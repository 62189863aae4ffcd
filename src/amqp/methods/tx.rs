//! confirm.select and tx.select / commit / rollback. The two modes exclude each other.

use crate::amqp::channel::{Tx, TxAck};
use crate::amqp::connection::Connection;
use crate::amqp::error::{AmqpError, AmqpResult};
use crate::amqp::methods::basic::Confirmed;
use crate::amqp::outbound::Outbound;
use crate::broker::publish::Joint;
use amq_protocol::protocol::{confirm, tx, AMQPClass};

impl Connection {
    pub(crate) fn confirm_method(&mut self, ch: u16, m: confirm::AMQPMethod) -> AmqpResult<()> {
        let confirm::AMQPMethod::Select(s) = m else {
            return Err(AmqpError::command_invalid(
                "confirm.select-ok is server-only",
            ));
        };
        let chan = self.chan(ch);
        if chan.tx.is_some() {
            return Err(AmqpError::precondition(
                "cannot switch from tx to confirm mode",
            ));
        }
        chan.confirm = true;
        chan.mode_changed();
        if !s.nowait {
            let ok = confirm::AMQPMethod::SelectOk(confirm::SelectOk {});
            self.send_method(ch, AMQPClass::Confirm(ok));
        }
        Ok(())
    }

    pub(crate) fn tx_method(&mut self, ch: u16, m: tx::AMQPMethod) -> AmqpResult<()> {
        let reply = match m {
            tx::AMQPMethod::Select(_) => {
                let chan = self.chan(ch);
                if chan.confirm {
                    return Err(AmqpError::precondition(
                        "cannot switch from confirm to tx mode",
                    ));
                }
                if chan.tx.is_none() {
                    chan.tx = Some(Tx::default());
                    chan.mode_changed();
                }
                tx::AMQPMethod::SelectOk(tx::SelectOk {})
            }
            tx::AMQPMethod::Commit(_) => return self.commit(ch),
            tx::AMQPMethod::Rollback(_) => {
                let chan = self.chan(ch);
                let tx = chan.tx.as_mut().ok_or_else(not_transactional)?;
                *tx = Tx::default();
                tx::AMQPMethod::RollbackOk(tx::RollbackOk {})
            }
            _ => return Err(AmqpError::command_invalid("server-only tx method")),
        };
        self.send_method(ch, AMQPClass::Tx(reply));
        Ok(())
    }

    /// Applies the transaction's publishes, then its acks, in the order they were made.
    /// `commit-ok` means the broker has taken responsibility: with persistent messages it
    /// waits until the store has them on disk.
    fn commit(&mut self, ch: u16) -> AmqpResult<()> {
        let tx = self.chan(ch).tx.as_mut().ok_or_else(not_transactional)?;
        let work = std::mem::take(tx);
        let ok = AMQPClass::Tx(tx::AMQPMethod::CommitOk(tx::CommitOk {}));
        let chan = self.chan(ch).shared.clone();
        // commit-ok goes once every publish is taken: by this node's store, on disk when
        // persistent, and by the homes of queues on other nodes.
        let committed = Joint::new(
            work.publishes.len() + 1,
            Box::new(move |_| {
                if !chan.state.lock().closed {
                    chan.conn.send(Outbound::method(chan.id, ok));
                }
            }),
        );
        for p in work.publishes {
            let then = Confirmed::Then(committed.part());
            self.route_publish(ch, p.mandatory, p.msg, p.headers.as_ref(), Some(then));
        }
        for a in work.acks {
            match a {
                TxAck::Ack { tag, multiple } => self.settle(ch, tag, multiple, None)?,
                TxAck::Reject {
                    tag,
                    multiple,
                    requeue,
                } => self.settle(ch, tag, multiple, Some(requeue))?,
            }
        }
        committed.settle(true);
        Ok(())
    }
}

fn not_transactional() -> AmqpError {
    AmqpError::precondition("channel is not transactional")
}
