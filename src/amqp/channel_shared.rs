//! The delivery side of a channel, shared between the connection that owns the channel and
//! the queues that deliver to it: delivery tags, unacked messages, consumers and prefetch.
//! Guarded by a mutex never held across an `.await`; taken after a queue's lock.

use super::conn_shared::ConnShared;
use super::outbound::Outbound;
use crate::message::Message;
use crate::queue::{new_holder, Consumer, Delivery, Holder, Queue};
use crate::stats::{MessageStats, Stat};
use ahash::HashMap;
use amq_protocol::protocol::{basic, AMQPClass};
use parking_lot::Mutex;
use smallvec::SmallVec;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

/// A delivered message awaiting ack: the queue keeps the message, the channel which queue
/// and position its delivery tag stands for.
pub(crate) struct Unacked {
    pub queue: Arc<Queue>,
    pub seq: u64,
    /// The consumer it went to; `None` for `basic.get`.
    pub consumer: Option<Arc<str>>,
    /// When it was delivered, for `consumer_timeout`.
    pub delivered_at: Instant,
}

/// A consumer as its channel sees it.
pub(crate) struct ConsumerInfo {
    pub tag: Arc<str>,
    pub queue: Arc<Queue>,
    /// Per-consumer prefetch (0 = unlimited), fixed when the consumer started.
    pub prefetch: u16,
    pub unacked: u32,
    pub no_ack: bool,
    pub exclusive: bool,
    pub arguments: amq_protocol::types::FieldTable,
}

/// Settled deliveries: usually one (an ack of one tag).
pub(crate) type Settled = SmallVec<[Unacked; 1]>;

/// Unacked deliveries in tag order. Tags only grow, so a delivery is appended, and acks
/// (which clients mostly send in order) take from the front.
pub(crate) struct UnackedList<T = Unacked> {
    items: VecDeque<(u64, T)>,
}

impl<T> Default for UnackedList<T> {
    fn default() -> Self {
        Self {
            items: VecDeque::new(),
        }
    }
}

impl<T> UnackedList<T> {
    pub(crate) fn insert(&mut self, tag: u64, u: T) {
        debug_assert!(self.items.back().is_none_or(|(t, _)| *t < tag));
        self.items.push_back((tag, u));
    }

    pub(crate) fn remove(&mut self, tag: u64) -> Option<T> {
        if self.items.front().is_some_and(|(t, _)| *t == tag) {
            return self.items.pop_front().map(|(_, u)| u);
        }
        let i = self.items.binary_search_by_key(&tag, |(t, _)| *t).ok()?;
        self.items.remove(i).map(|(_, u)| u)
    }

    /// Removes every delivery with a tag up to `tag`.
    pub(crate) fn take_upto(&mut self, tag: u64) -> SmallVec<[T; 1]> {
        let n = self.items.partition_point(|(t, _)| *t <= tag);
        self.items.drain(..n).map(|(_, u)| u).collect()
    }

    pub(crate) fn first(&self) -> Option<&T> {
        self.items.front().map(|(_, u)| u)
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn take_all(&mut self) -> SmallVec<[T; 1]> {
        self.items.drain(..).map(|(_, u)| u).collect()
    }
}

#[derive(Default)]
pub(crate) struct DeliveryState {
    next_tag: u64,
    pub unacked: UnackedList,
    pub consumers: HashMap<Arc<str>, ConsumerInfo>,
    /// Deliveries reserved and not yet handed over (a queue reserves before it delivers).
    reserved: usize,
    /// `basic.qos global=true`: a limit shared by all consumers of the channel.
    pub global_prefetch: u16,
    pub closed: bool,
    /// Direct reply-to: this channel's reply address and its consumer tag.
    pub reply_address: Option<Arc<str>>,
    pub reply_tag: Option<Arc<str>>,
}

impl DeliveryState {
    /// The channel's next delivery tag (deliveries, gets and direct replies share them).
    fn allocate_tag(&mut self) -> u64 {
        let tag = self.next_tag;
        self.next_tag += 1;
        tag
    }
}

pub(crate) struct ChannelShared {
    pub id: u16,
    /// What this channel's unsettled deliveries are filed under in their queues.
    pub holder: Holder,
    pub conn: Arc<ConnShared>,
    pub state: Mutex<DeliveryState>,
    /// For the management API: confirm mode (bit 0), transactional (bit 1) and the
    /// prefetch new consumers get (bits 16..32). Written by the connection when they change.
    mode: AtomicU32,
    /// The channel's message statistics.
    pub stats: MessageStats,
    /// Set once the channel's counts have gone to its vhost (when it closed).
    retired: AtomicBool,
}

const MODE_CONFIRM: u32 = 1;
const MODE_TX: u32 = 2;

impl ChannelShared {
    pub(crate) fn new(id: u16, conn: Arc<ConnShared>) -> Arc<Self> {
        Arc::new(Self {
            id,
            holder: new_holder(),
            conn,
            state: Mutex::new(DeliveryState {
                next_tag: 1,
                ..Default::default()
            }),
            mode: AtomicU32::new(0),
            stats: MessageStats::default(),
            retired: AtomicBool::new(false),
        })
    }

    /// The channel's counts, once: the closing channel hands them to its vhost.
    pub(crate) fn retire_stats(&self) -> Option<crate::stats::Counts> {
        (!self.retired.swap(true, Ordering::Relaxed)).then(|| self.stats.counts())
    }

    /// Records confirm mode, transactions and the consumer prefetch for the management API.
    pub(crate) fn set_mode(&self, confirm: bool, transactional: bool, prefetch: u16) {
        let mut bits = u32::from(prefetch) << 16;
        if confirm {
            bits |= MODE_CONFIRM;
        }
        if transactional {
            bits |= MODE_TX;
        }
        self.mode.store(bits, Ordering::Relaxed);
    }

    /// (confirm, transactional, consumer prefetch) as last recorded.
    pub(crate) fn mode(&self) -> (bool, bool, u16) {
        let bits = self.mode.load(Ordering::Relaxed);
        (
            bits & MODE_CONFIRM != 0,
            bits & MODE_TX != 0,
            (bits >> 16) as u16,
        )
    }

    /// Records a `basic.get` delivery (`seq` unsettled in `queue`, unless no-ack) and
    /// returns its tag.
    pub(crate) fn record_get(&self, queue: &Arc<Queue>, seq: Option<u64>) -> u64 {
        let mut st = self.state.lock();
        let tag = st.allocate_tag();
        if let Some(seq) = seq {
            st.unacked.insert(
                tag,
                Unacked {
                    queue: queue.clone(),
                    seq,
                    consumer: None,
                    delivered_at: Instant::now(),
                },
            );
        }
        tag
    }

    /// Removes the unacked messages named by an ack/nack/reject. `None` if a tag is unknown.
    pub(crate) fn take_unacked(&self, tag: u64, multiple: bool) -> Option<Settled> {
        let mut st = self.state.lock();
        let taken: Settled = if multiple {
            let upto = if tag == 0 { u64::MAX } else { tag };
            let taken = st.unacked.take_upto(upto);
            if tag != 0 && taken.is_empty() {
                return None;
            }
            taken
        } else {
            smallvec::smallvec![st.unacked.remove(tag)?]
        };
        for u in &taken {
            if let Some(c) = u.consumer.as_ref().and_then(|t| st.consumers.get_mut(t)) {
                c.unacked = c.unacked.saturating_sub(1);
            }
        }
        Some(taken)
    }

    /// Forgets every unacked delivery (channel close, recover) and returns the queues
    /// that hold them, each once: the caller hands them back there
    /// ([`Queue::holder_gone`]).
    pub(crate) fn take_all_unacked(&self) -> Vec<Arc<Queue>> {
        let mut st = self.state.lock();
        for c in st.consumers.values_mut() {
            c.unacked = 0;
        }
        let mut queues: Vec<Arc<Queue>> = Vec::new();
        for u in st.unacked.take_all() {
            if !queues.iter().any(|q| Arc::ptr_eq(q, &u.queue)) {
                queues.push(u.queue);
            }
        }
        queues
    }

    /// When the oldest unacked delivery went out (lowest tag: tags grow with time).
    pub(crate) fn oldest_delivery(&self) -> Option<Instant> {
        self.state.lock().unacked.first().map(|u| u.delivered_at)
    }

    /// The queues this channel consumes from, for re-dispatch after capacity frees up.
    pub(crate) fn consumed_queues(&self) -> Vec<Arc<Queue>> {
        let st = self.state.lock();
        let mut qs: Vec<Arc<Queue>> = Vec::with_capacity(st.consumers.len());
        for c in st.consumers.values() {
            if !qs.iter().any(|q| Arc::ptr_eq(q, &c.queue)) {
                qs.push(c.queue.clone());
            }
        }
        qs
    }
}

/// A channel is the consumer for each of its subscriptions.
impl Consumer for ChannelShared {
    fn holder(&self) -> Holder {
        self.holder
    }

    /// Room for one more delivery: the connection is not backlogged, the channel is open,
    /// and neither the consumer's prefetch nor the channel-wide one is used up.
    fn reserve(&self, queue: &Weak<Queue>, tag: &str, no_ack: bool, msg: &Message) -> bool {
        if self.conn.backlogged(queue) {
            return false;
        }
        let mut st = self.state.lock();
        let global = st.global_prefetch as usize;
        let unacked_total = st.unacked.len() + st.reserved;
        if st.closed {
            return false;
        }
        let Some(info) = st.consumers.get_mut(tag) else {
            return false;
        };
        if !no_ack {
            let full = info.prefetch > 0 && info.unacked >= info.prefetch as u32;
            if full || (global > 0 && unacked_total >= global) {
                return false;
            }
            info.unacked += 1;
            st.reserved += 1;
        }
        // The delivery's bytes count against the backlog now, so one dispatch cannot
        // reserve more than the backlog allows.
        self.conn.count_ahead(Outbound::content_weight(msg));
        true
    }

    /// Sends the delivery with the channel's next tag and remembers which queue and
    /// position the tag stands for.
    fn deliver(&self, queue: &Arc<Queue>, d: Delivery) {
        self.stats.inc(if d.no_ack {
            Stat::DeliverNoAck
        } else {
            Stat::Deliver
        });
        if d.redelivered {
            self.stats.inc(Stat::Redeliver);
        }
        let mut st = self.state.lock();
        let delivery_tag = st.allocate_tag();
        if !d.no_ack {
            st.reserved = st.reserved.saturating_sub(1);
            st.unacked.insert(
                delivery_tag,
                Unacked {
                    queue: queue.clone(),
                    seq: d.seq,
                    consumer: Some(d.tag.clone()),
                    delivered_at: Instant::now(),
                },
            );
        }
        // Sent under the channel's lock: tags reach the client in the order they grow.
        self.conn.send_counted(Outbound::Deliver {
            channel: self.id,
            consumer_tag: d.tag,
            delivery_tag,
            redelivered: d.redelivered,
            msg: d.msg,
            gate: d.gate,
        });
    }

    /// The queue was deleted: the consumer is forgotten, and the client told with
    /// `basic.cancel` if it announced `consumer_cancel_notify`.
    fn subscribed(&self, tag: &str) -> bool {
        let st = self.state.lock();
        !st.closed && st.consumers.contains_key(tag)
    }

    fn cancelled(&self, tag: &str) {
        self.state.lock().consumers.remove(tag);
        if self.conn.capabilities.consumer_cancel_notify {
            let cancel = basic::Cancel {
                consumer_tag: super::codec::short(tag),
                nowait: true,
            };
            let m = AMQPClass::Basic(basic::AMQPMethod::Cancel(cancel));
            self.conn.send(Outbound::method(self.id, m));
        }
    }

    /// A message no queue holds goes to the channel's direct reply-to consumer, if it still
    /// has one.
    fn deliver_direct(&self, msg: &Message) {
        let mut st = self.state.lock();
        let Some(tag) = st.reply_tag.clone() else {
            return;
        };
        let delivery_tag = st.allocate_tag();
        self.conn.send(Outbound::Deliver {
            channel: self.id,
            consumer_tag: tag,
            delivery_tag,
            redelivered: false,
            msg: msg.clone(),
            gate: None,
        });
    }
}

/// Positions settled together in one queue: usually one.
pub(crate) type Seqs = SmallVec<[u64; 1]>;

/// Groups settled deliveries by queue so each queue is locked once.
pub(crate) fn group_by_queue(items: Settled) -> SmallVec<[(Arc<Queue>, Seqs); 1]> {
    let mut groups: SmallVec<[(Arc<Queue>, Seqs); 1]> = SmallVec::new();
    for u in items {
        match groups.iter_mut().find(|(q, _)| Arc::ptr_eq(q, &u.queue)) {
            Some((_, v)) => v.push(u.seq),
            None => groups.push((u.queue, smallvec::smallvec![u.seq])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &UnackedList<char>) -> Vec<u64> {
        list.items.iter().map(|(t, _)| *t).collect()
    }

    #[test]
    fn unacked_list_removes_in_any_order_and_takes_ranges() {
        let mut list = UnackedList::default();
        for (tag, v) in [(1, 'a'), (2, 'b'), (4, 'c'), (7, 'd'), (9, 'e')] {
            list.insert(tag, v);
        }
        assert_eq!(list.first(), Some(&'a'));
        assert_eq!(list.remove(4), Some('c'));
        assert!(list.remove(4).is_none());
        assert!(list.remove(3).is_none());
        assert_eq!(tags(&list), vec![1, 2, 7, 9]);
        assert!(list.remove(1).is_some());
        assert_eq!(list.take_upto(7).as_slice(), &['b', 'd']);
        assert_eq!(tags(&list), vec![9]);
        assert_eq!(list.take_upto(8).len(), 0);
        assert_eq!(list.take_all().len(), 1);
        assert_eq!(list.len(), 0);
    }
}
