//! What a connection's writer task is asked to send. Content-carrying items hold the
//! shared message; the writer encodes everything into one buffer per batch.

use crate::message::Message;
use crate::queue::mirror::Gate;
use amq_protocol::protocol::AMQPClass;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::Notify;

pub(crate) enum Outbound {
    /// A method without content (boxed: an idle connection's queue stays small).
    Method(u16, Box<AMQPClass>),
    /// `basic.deliver` with its content; encoded by hand as it is the hot path.
    Deliver {
        channel: u16,
        consumer_tag: Arc<str>,
        delivery_tag: u64,
        redelivered: bool,
        msg: Message,
        /// Written only once this passes (a delivery from a mirrored master).
        gate: Option<Gate>,
    },
    /// A publisher confirm (`basic.ack`, or `basic.nack` when `ok` is false), encoded by hand.
    Confirm { channel: u16, tag: u64, ok: bool },
    /// `basic.get-ok` or `basic.return` followed by the message content.
    Content(u16, Box<AMQPClass>, Message),
    /// Flush what is queued, then close the socket.
    Close,
}

impl Outbound {
    pub(crate) fn method(channel: u16, m: AMQPClass) -> Self {
        Outbound::Method(channel, Box::new(m))
    }

    pub(crate) fn content(channel: u16, m: AMQPClass, msg: Message) -> Self {
        Outbound::Content(channel, Box::new(m), msg)
    }

    /// Bytes this item will occupy, counted against the connection's write backlog.
    pub(crate) fn weight(&self) -> usize {
        match self {
            Outbound::Deliver { msg, .. } | Outbound::Content(_, _, msg) => {
                Self::content_weight(msg)
            }
            _ => 64,
        }
    }

    /// What this item must wait for before it is written, if it has not passed yet.
    pub(crate) fn held_by(&self) -> Option<&Gate> {
        match self {
            Outbound::Deliver { gate: Some(g), .. } if !g.passed() => Some(g),
            _ => None,
        }
    }

    /// The weight of a delivery or other content frame set carrying `msg`.
    pub(crate) fn content_weight(msg: &Message) -> usize {
        msg.body().len() + msg.raw_properties().len() + 64
    }
}

/// The connection's outbound queue: many senders (its reader, queues delivering to its
/// channels, store callbacks), one writer that takes everything queued in one go. Holds no
/// memory while empty, so an idle connection costs little.
#[derive(Default)]
pub(crate) struct OutQueue {
    items: Mutex<Pending>,
    ready: Notify,
}

#[derive(Default)]
struct Pending {
    items: VecDeque<Outbound>,
    closed: bool,
}

impl OutQueue {
    /// Queues an item; hands it back if the writer has gone.
    pub(crate) fn push(&self, item: Outbound) -> Result<(), Outbound> {
        let was_empty = {
            let mut p = self.items.lock();
            if p.closed {
                return Err(item);
            }
            p.items.push_back(item);
            p.items.len() == 1
        };
        if was_empty {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Waits until something is queued, then swaps it all into `batch` (which must be
    /// empty; its capacity is reused).
    pub(crate) async fn take_all(&self, batch: &mut VecDeque<Outbound>) {
        loop {
            {
                let mut p = self.items.lock();
                if !p.items.is_empty() {
                    std::mem::swap(&mut p.items, batch);
                    return;
                }
            }
            self.ready.notified().await;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.lock().items.is_empty()
    }

    /// True once the writer has gone (the connection is closing).
    pub(crate) fn is_closed(&self) -> bool {
        self.items.lock().closed
    }

    /// Refuses further items and returns what was never taken.
    pub(crate) fn close(&self) -> VecDeque<Outbound> {
        let mut p = self.items.lock();
        p.closed = true;
        std::mem::take(&mut p.items)
    }
}
