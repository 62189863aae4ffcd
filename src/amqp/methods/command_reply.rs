//! Methods that are broker commands (declare, delete, bind, unbind of exchanges and queues)
//! answer once the command ran: at once on a single node, and on a cluster node after the
//! command went through the cluster's log, which the connection awaits between frames
//! (`pending_command`), so the replies keep the order of the methods.

use crate::amqp::connection::Connection;
use crate::amqp::error::{AmqpError, AmqpResult};
use crate::broker::command::{Command, Outcome};
use amq_protocol::protocol::{exchange, queue, AMQPClass};

/// The reply a command's method sends with its outcome.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Then {
    ExchangeDeclared { nowait: bool },
    ExchangeDeleted { nowait: bool },
    ExchangeBound { nowait: bool },
    ExchangeUnbound { nowait: bool },
    QueueDeclared { nowait: bool },
    QueueBound { nowait: bool },
    QueueUnbound,
    QueuePurged { nowait: bool },
    QueueDeleted { nowait: bool },
}

impl Then {
    /// The class and method ids of the method this replies to (for `channel.close`).
    pub(crate) fn method_ids(self) -> (u16, u16) {
        match self {
            Then::ExchangeDeclared { .. } => (40, 10),
            Then::ExchangeDeleted { .. } => (40, 20),
            Then::ExchangeBound { .. } => (40, 30),
            Then::ExchangeUnbound { .. } => (40, 40),
            Then::QueueDeclared { .. } => (50, 10),
            Then::QueueBound { .. } => (50, 20),
            Then::QueuePurged { .. } => (50, 30),
            Then::QueueDeleted { .. } => (50, 40),
            Then::QueueUnbound => (50, 50),
        }
    }
}

impl Connection {
    /// Runs a command for a method on channel `ch` and sends the reply `then` describes.
    pub(crate) fn command_then(&mut self, ch: u16, cmd: Command, then: Then) -> AmqpResult<()> {
        // On a cluster node a command goes through the log (a purge to the queue's home):
        // the connection waits for it before the next frame.
        if self.broker.is_clustered() {
            self.pending_command = Some((ch, cmd, then));
            return Ok(());
        }
        let outcome = self.command(cmd)?;
        self.command_done(ch, then, outcome)
    }

    /// Sends a command's reply.
    pub(crate) fn command_done(&mut self, ch: u16, then: Then, outcome: Outcome) -> AmqpResult<()> {
        let messages = match outcome {
            Outcome::Messages(n) => n,
            _ => 0,
        };
        let (nowait, reply) = match then {
            Then::ExchangeDeclared { nowait } => (
                nowait,
                AMQPClass::Exchange(exchange::AMQPMethod::DeclareOk(exchange::DeclareOk {})),
            ),
            Then::ExchangeDeleted { nowait } => (
                nowait,
                AMQPClass::Exchange(exchange::AMQPMethod::DeleteOk(exchange::DeleteOk {})),
            ),
            Then::ExchangeBound { nowait } => (
                nowait,
                AMQPClass::Exchange(exchange::AMQPMethod::BindOk(exchange::BindOk {})),
            ),
            Then::ExchangeUnbound { nowait } => (
                nowait,
                AMQPClass::Exchange(exchange::AMQPMethod::UnbindOk(exchange::UnbindOk {})),
            ),
            Then::QueueDeclared { nowait } => {
                let Outcome::Queue { queue, created } = outcome else {
                    return Err(AmqpError::internal("queue.declare without a queue"));
                };
                if created && queue.exclusive_owner == Some(self.shared.id) {
                    self.exclusive.push(queue.clone());
                }
                return self.queue_declare_ok(ch, &queue, nowait);
            }
            Then::QueueBound { nowait } => (
                nowait,
                AMQPClass::Queue(queue::AMQPMethod::BindOk(queue::BindOk {})),
            ),
            // queue.unbind has no nowait.
            Then::QueueUnbound => (
                false,
                AMQPClass::Queue(queue::AMQPMethod::UnbindOk(queue::UnbindOk {})),
            ),
            Then::QueuePurged { nowait } => (
                nowait,
                AMQPClass::Queue(queue::AMQPMethod::PurgeOk(queue::PurgeOk {
                    message_count: messages,
                })),
            ),
            Then::QueueDeleted { nowait } => {
                self.exclusive.retain(|q| !q.is_deleted());
                (
                    nowait,
                    AMQPClass::Queue(queue::AMQPMethod::DeleteOk(queue::DeleteOk {
                        message_count: messages,
                    })),
                )
            }
        };
        if !nowait {
            self.send_method(ch, reply);
        }
        Ok(())
    }
}
