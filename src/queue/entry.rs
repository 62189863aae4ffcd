//! A message's place in a queue: its position, where its copy lives (memory, the store or
//! both), and what limits and TTL need to know about it.

use super::expiry::Deadline;
use crate::message::Message;
use crate::store::segment::RecordRef;

/// A message waiting in a queue, or delivered and not yet settled. `seq` orders the queue,
/// so a requeued message goes back to where it was, and names a delivery while it is in
/// flight. The message is in memory, in the store, or both; one paged out to the store
/// (`msg: None`) is read back before it is delivered.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub seq: u64,
    pub msg: Option<Message>,
    pub stored: Option<RecordRef>,
    pub redelivered: bool,
    /// Persistent in this queue: a `delivery_mode` 2 message in a durable queue.
    pub persistent: bool,
    /// Priority level (0 in a plain queue).
    pub priority: u8,
    /// Body bytes, for `x-max-length-bytes`.
    pub size: u32,
    /// When the message expires (queue or message TTL), if it does.
    pub expires_at: Option<Deadline>,
}

impl Entry {
    /// The entry without its in-memory copy when the store has one: an unacked message
    /// waiting for its ack does not hold memory (a requeue reads it back).
    pub(crate) fn unpinned(mut self) -> Self {
        if self.stored.is_some() {
            self.msg = None;
        }
        self
    }
}
