//! The consumer interface: what a queue needs of whoever consumes from it. An AMQP channel
//! implements it; a link to a consumer on another node will too. The queue knows nothing of
//! channels, frames or sockets.
//!
//! A delivery is made in two steps, both under the queue's lock: the queue's state machine
//! asks [`Consumer::reserve`] whether the consumer has room (prefetch, a connection not
//! backlogged), and the queue then hands the message over with [`Consumer::deliver`].
//! Unsettled deliveries stay with the queue, filed under the consumer's [`Holder`], so a
//! holder that goes away returns all of them at once.

use super::Queue;
use crate::message::Message;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// Who holds unsettled deliveries: an AMQP channel (its consumers and its `basic.get`s
/// share one), later a remote consumer's link.
pub(crate) type Holder = u64;

/// A fresh holder id, unique in this process.
pub(crate) fn new_holder() -> Holder {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub trait Consumer: Send + Sync {
    /// The holder this consumer's unsettled deliveries are filed under.
    fn holder(&self) -> Holder;

    /// Whether subscription `tag` can take `msg` now; if so, room for it is reserved
    /// (prefetch, buffer space) and [`Consumer::deliver`] follows. `queue` is the queue
    /// asking: a consumer without room may wake it later ([`Queue::dispatch`]).
    fn reserve(&self, queue: &Weak<Queue>, tag: &str, no_ack: bool, msg: &Message) -> bool;

    /// Hands over a delivery `reserve` made room for.
    fn deliver(&self, queue: &Arc<Queue>, delivery: Delivery);

    /// The queue is gone: the subscription `tag` ended without the consumer asking.
    fn cancelled(&self, tag: &str);

    /// A message for this consumer that no queue holds (direct reply-to).
    fn deliver_direct(&self, msg: &Message);

    /// Whether subscription `tag` is still on at the consumer's end (its channel open, not
    /// cancelled): a consumer waiting for a new master follows only then.
    fn subscribed(&self, _tag: &str) -> bool {
        true
    }
}

/// A message handed to a consumer.
pub struct Delivery {
    /// The subscription it is for.
    pub tag: Arc<str>,
    /// The message's position in its queue: what settles it ([`Queue::settle`]).
    pub seq: u64,
    pub msg: Message,
    pub redelivered: bool,
    /// Settled on delivery: the queue keeps nothing.
    pub no_ack: bool,
    /// From a mirrored master: written only once this passes (see [`super::mirror::Gate`]).
    pub(crate) gate: Option<super::mirror::Gate>,
}

/// A consumer subscribed to a queue, as the queue sees it.
#[derive(Clone)]
pub struct Subscription {
    pub tag: Arc<str>,
    pub consumer: Arc<dyn Consumer>,
    pub no_ack: bool,
    pub exclusive: bool,
    pub priority: i32,
    /// `x-cancel-on-ha-failover`: cancelled when its mirrored queue fails over, rather
    /// than following the queue to its new master.
    pub cancel_on_failover: bool,
}

impl Subscription {
    /// Whether this subscription is `tag` of the consumer holding under `holder`.
    pub fn is(&self, holder: Holder, tag: &str) -> bool {
        &*self.tag == tag && self.consumer.holder() == holder
    }
}
