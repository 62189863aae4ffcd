//! Running totals of a set of queue entries (the ready ones, or the unacknowledged ones):
//! how many, how many body bytes, and of those which are held in memory and which are
//! persistent. The management API reports them (`message_bytes`, `messages_ram`,
//! `message_bytes_persistent`, ...) and length limits read the count and bytes, so they
//! are kept as entries come and go (a pair of adds each time) and never counted by a scan.

use super::Entry;

/// Totals by class: bit 0 of the index says the message is in memory, bit 1 that it is
/// persistent (a `delivery_mode` 2 message in a durable queue, as RabbitMQ counts it).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Tally {
    count: [u64; 4],
    bytes: [u64; 4],
    /// What the in-memory messages' allocations take (data and header), for `memory`.
    footprint: u64,
}

const RAM: usize = 1;
const PERSISTENT: usize = 2;

fn class(e: &Entry) -> usize {
    usize::from(e.msg.is_some()) * RAM + usize::from(e.persistent) * PERSISTENT
}

impl Tally {
    pub(super) fn add(&mut self, e: &Entry) {
        let c = class(e);
        self.count[c] += 1;
        self.bytes[c] += u64::from(e.size);
        if let Some(m) = &e.msg {
            self.footprint += m.footprint() as u64;
        }
    }

    pub(super) fn remove(&mut self, e: &Entry) {
        let c = class(e);
        self.count[c] -= 1;
        self.bytes[c] -= u64::from(e.size);
        if let Some(m) = &e.msg {
            self.footprint -= m.footprint() as u64;
        }
    }

    /// Sums over the classes `keep` accepts: (messages, body bytes).
    fn sum(&self, keep: impl Fn(usize) -> bool) -> (u64, u64) {
        (0..4)
            .filter(|&c| keep(c))
            .fold((0, 0), |(n, b), c| (n + self.count[c], b + self.bytes[c]))
    }

    pub(crate) fn len(&self) -> u64 {
        self.count.iter().sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Body bytes of every message.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.iter().sum()
    }

    /// Messages (and their body bytes) held in memory.
    pub(crate) fn ram(&self) -> (u64, u64) {
        self.sum(|c| c & RAM != 0)
    }

    /// Persistent messages (and their body bytes), in memory or not.
    pub(crate) fn persistent(&self) -> (u64, u64) {
        self.sum(|c| c & PERSISTENT != 0)
    }

    /// Transient messages that only the store holds (paged out to make room in memory), as
    /// RabbitMQ's `messages_paged_out`: a persistent message on disk is not "paged out".
    pub(crate) fn paged_out(&self) -> (u64, u64) {
        self.sum(|c| c == 0)
    }

    /// Bytes the in-memory messages' allocations take.
    pub(crate) fn footprint(&self) -> u64 {
        self.footprint
    }
}
