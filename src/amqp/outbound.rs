//! What a connection's writer task is asked to send. Content-carrying items hold the
//! shared message; the writer encodes everything into one buffer per batch.

use crate::message::Message;
use amq_protocol::protocol::AMQPClass;
use std::sync::Arc;

pub enum Outbound {
    /// A method without content.
    Method(u16, AMQPClass),
    /// `basic.deliver` with its content; encoded by hand as it is the hot path.
    Deliver {
        channel: u16,
        consumer_tag: Arc<str>,
        delivery_tag: u64,
        redelivered: bool,
        msg: Arc<Message>,
    },
    /// A publisher confirm (`basic.ack`, or `basic.nack` when `ok` is false), encoded by hand.
    Confirm { channel: u16, tag: u64, ok: bool },
    /// `basic.get-ok` or `basic.return` followed by the message content.
    Content(u16, AMQPClass, Arc<Message>),
    /// Flush what is queued, then close the socket.
    Close,
}

impl Outbound {
    /// Bytes this item will occupy, counted against the connection's write backlog.
    pub fn weight(&self) -> usize {
        match self {
            Outbound::Deliver { msg, .. } | Outbound::Content(_, _, msg) => {
                msg.body().len() + msg.raw_properties().len() + 64
            }
            _ => 64,
        }
    }
}
