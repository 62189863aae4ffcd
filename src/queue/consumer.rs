//! The consumer interface: what a queue needs of whoever consumes from it. An AMQP channel
//! implements it; a link to a consumer on another node will too. The queue knows nothing of
//! channels, frames or sockets.

use super::{Entry, Queue};
use crate::message::Message;
use std::sync::Arc;

pub trait Consumer: Send + Sync {
    /// Takes `entry` from `queue` for the subscription `sub` if the consumer has room
    /// (prefetch, a connection not backlogged); hands it back otherwise.
    fn offer(&self, queue: &Arc<Queue>, sub: &Subscription, entry: Entry) -> Result<(), Entry>;

    /// The queue is gone: the subscription `tag` ended without the consumer asking.
    fn cancelled(&self, tag: &str);

    /// A message for this consumer that no queue holds (direct reply-to).
    fn deliver_direct(&self, msg: &Message);
}

/// A consumer subscribed to a queue, as the queue sees it.
pub struct Subscription {
    pub tag: String,
    pub consumer: Arc<dyn Consumer>,
    pub no_ack: bool,
    pub exclusive: bool,
    pub priority: i32,
}

impl Subscription {
    /// Whether this subscription is `tag` of `consumer`.
    pub fn is(&self, consumer: &dyn Consumer, tag: &str) -> bool {
        self.tag == tag
            && std::ptr::addr_eq(Arc::as_ptr(&self.consumer), consumer as *const dyn Consumer)
    }
}
