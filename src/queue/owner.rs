//! What a queue asks of the broker that holds it, without knowing the broker: where its
//! dead letters go, and its own deletion once unused (`x-expires`).

use super::Queue;
use crate::message::Message;
use crate::store::meta_log::Ticket;
use amq_protocol::types::FieldTable;
use std::sync::Arc;

pub(crate) trait QueueOwner: Send + Sync {
    /// Whether `exchange` exists in `vhost` (dead letters to a missing exchange are dropped
    /// before any work is done on them).
    fn has_exchange(&self, vhost: &str, exchange: &str) -> bool;

    /// Routes each letter from its exchange and enqueues it, skipping target queues where it
    /// would cycle ([`DeadLetter::may_enter`]). At most once: no confirms.
    fn dead_letter(&self, from: &Arc<Queue>, letters: Vec<DeadLetter>);

    /// `queue` went unused for its `x-expires`: delete it (unless it is in use again).
    fn expired(&self, queue: &Arc<Queue>);

    /// At a mirrored queue's master: the mirrors holding everything it holds changed.
    /// Resolves once the cluster has taken it (none when nothing is to wait for).
    fn synchronised(&self, queue: &Arc<Queue>, nodes: Vec<String>) -> Option<Ticket>;
}

/// A message leaving a queue for its dead-letter exchange.
pub(crate) struct DeadLetter {
    /// The copy to publish: its exchange and routing key are the dead-letter ones, its
    /// headers carry `x-death`.
    pub msg: Message,
    /// The headers routing sees (the original's, `BCC` included, without a dead-letter
    /// routing key).
    pub routing_headers: Option<FieldTable>,
    /// (queue, reason) of each death, most recent first.
    pub(super) deaths: Vec<(String, String)>,
}

impl DeadLetter {
    /// RabbitMQ's cycle rule: a letter may not enter a queue it already died in, unless a
    /// death since then (that one included) was a rejection.
    pub(crate) fn may_enter(&self, queue: &str) -> bool {
        let Some(pos) = self.deaths.iter().position(|(q, _)| q == queue) else {
            return true;
        };
        self.deaths[..=pos].iter().any(|(_, r)| r == "rejected")
    }
}
