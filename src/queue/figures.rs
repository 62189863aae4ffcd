//! What a queue reports to the management API beyond its counts, read under its lock in
//! one go and never by a scan over its messages: totals kept as messages come and go
//! ([`Tally`]), the memory it holds, the head's timestamp, who consumes, and whether it is
//! idle. Idleness costs one add per operation; the stats sampler, off the publish and
//! deliver paths, notes when the count moved, which dates `idle_since`.

use super::tally::Tally;
use super::{Entry, Queue, QueueCounts, QueueState, Subscription};
use std::mem::size_of;
use std::sync::Arc;
use std::time::Instant;

/// A queue's numbers, as a list sorts and shows them.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct QueueFigures {
    pub(crate) ready: Tally,
    pub(crate) unacked: Tally,
    pub(crate) consumers: u32,
    /// Bytes the queue holds: its entries, consumers and in-memory messages. A message
    /// routed to several queues is counted in each.
    pub(crate) memory: u64,
}

/// What the management API shows of a queue beside its numbers.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct QueueDetails {
    /// The lowest `timestamp` property of the head ready message and of the earliest
    /// unacknowledged one, of those in memory (RabbitMQ's `head_message_timestamp`).
    pub(crate) head_timestamp: Option<u64>,
    pub(crate) exclusive_consumer_tag: Option<Arc<str>>,
    /// With `x-single-active-consumer`, the consumer receiving.
    pub(crate) single_active_consumer_tag: Option<Arc<str>>,
    /// With consumers: 1 when they keep up (nothing waits for one to have room), 0 when
    /// ready messages wait for room. An instant's reading, not RabbitMQ's moving average.
    pub(crate) consumer_utilisation: Option<f64>,
    /// Since when no operation came (unix ms), if none came since the last stats sample.
    pub(crate) idle_since_ms: Option<u64>,
    /// The mirrors that hold everything the master holds.
    #[serde(default)]
    pub(crate) synchronised_mirrors: Vec<String>,
}

/// Counts the operations applied to a queue (an add each); the stats sampler notes when
/// the count last moved. A queue whose count has not moved since has been idle at least
/// since then: at most a sampling interval after its last operation, as RabbitMQ's
/// `idle_since` is some time after it (when the queue process hibernates).
#[derive(Debug)]
pub(crate) struct Activity {
    operations: u64,
    sampled: u64,
    sampled_at_ms: u64,
}

impl Activity {
    pub(super) fn new(now_ms: u64) -> Self {
        Self {
            operations: 0,
            sampled: 0,
            sampled_at_ms: now_ms,
        }
    }

    /// An operation (publish, delivery, settle, get, consumer change, purge, expiry...).
    pub(super) fn note(&mut self) {
        self.operations = self.operations.wrapping_add(1);
    }

    pub(super) fn sample(&mut self, now_ms: u64) {
        if self.operations != self.sampled {
            self.sampled = self.operations;
            self.sampled_at_ms = now_ms;
        }
    }

    pub(super) fn idle_since_ms(&self) -> Option<u64> {
        (self.operations == self.sampled).then_some(self.sampled_at_ms)
    }
}

impl QueueState {
    pub(crate) fn counts(&self) -> QueueCounts {
        QueueCounts {
            ready: self.ready() as u32,
            unacked: self.unacked() as u32,
            consumers: self.consumer_count() as u32,
        }
    }

    pub(crate) fn figures(&self) -> QueueFigures {
        let entries = self.messages.capacity() + self.in_flight.capacity();
        let held = (entries * size_of::<Entry>()
            + self.consumers.capacity() * size_of::<Subscription>()) as u64;
        let (ready, unacked) = (*self.messages.tally(), *self.in_flight.tally());
        QueueFigures {
            ready,
            unacked,
            consumers: self.consumers.len() as u32,
            memory: (size_of::<Queue>() as u64) + held + ready.footprint() + unacked.footprint(),
        }
    }

    pub(crate) fn details(&self) -> QueueDetails {
        // An exclusive consumer is the only one; the single active one is the first.
        let first = self.consumers.first();
        let timestamp = |e: Option<&Entry>| e?.msg.as_ref()?.timestamp();
        let head = timestamp(self.messages.front());
        let unacked = timestamp(self.in_flight.oldest());
        QueueDetails {
            head_timestamp: head.into_iter().chain(unacked).min(),
            exclusive_consumer_tag: first.filter(|c| c.exclusive).map(|c| c.tag.clone()),
            single_active_consumer_tag: first
                .filter(|_| self.settings.single_active_consumer)
                .map(|c| c.tag.clone()),
            consumer_utilisation: first.map(|_| if self.messages.is_empty() { 1.0 } else { 0.0 }),
            idle_since_ms: self.activity.idle_since_ms(),
            synchronised_mirrors: (self.mirroring.as_ref())
                .map(|m| m.synchronised(self.oldest_seq()))
                .unwrap_or_default(),
        }
    }
}

/// Everything the management API shows of a queue's state, in one value that a queue's
/// home node can send to the node asked.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Report {
    pub(crate) figures: QueueFigures,
    pub(crate) details: QueueDetails,
    /// Message statistics: counts and rates.
    pub(crate) stats: crate::stats::Counts,
    pub(crate) rates: Vec<f64>,
    /// Rates of change of messages, ready and unacknowledged.
    pub(crate) lengths: [f64; 3],
}

impl Report {
    pub(crate) fn counts(&self) -> QueueCounts {
        QueueCounts {
            ready: self.figures.ready.len() as u32,
            unacked: self.figures.unacked.len() as u32,
            consumers: self.figures.consumers,
        }
    }

    /// (name, count, rate) of the message statistics, as the API reports them.
    pub(crate) fn message_report(&self) -> Vec<(&'static str, u64, f64)> {
        let mut rates = [0.0; crate::stats::N];
        for (r, v) in rates.iter_mut().zip(&self.rates) {
            *r = *v;
        }
        crate::stats::report(&self.stats, &rates)
    }
}

impl Queue {
    /// The queue's state for the management API, where it lives.
    pub(crate) fn report(&self) -> Report {
        Report {
            figures: self.figures(),
            details: self.details(),
            stats: self.message_counts(),
            rates: self.rates.rates().to_vec(),
            lengths: self.lengths.rates(),
        }
    }

    /// The queue's numbers for the management API.
    pub(crate) fn figures(&self) -> QueueFigures {
        let mut f = self.state.lock().figures();
        f.memory += (self.name.len() + self.vhost.len()) as u64;
        f
    }

    pub(crate) fn details(&self) -> QueueDetails {
        self.state.lock().details()
    }

    /// One round of the stats sampler: message rates, length rates and idleness. Returns
    /// the lengths it sampled: messages, ready, unacknowledged.
    pub(crate) fn sample(&self, now: Instant, now_ms: u64) -> [u64; 3] {
        let (ready, unacked, counts) = {
            let mut st = self.state.lock();
            st.activity.sample(now_ms);
            (st.ready() as u64, st.unacked() as u64, st.stats)
        };
        self.rates.sample(now, counts);
        let lengths = [ready + unacked, ready, unacked];
        self.lengths.sample(now, lengths);
        lengths
    }
}
