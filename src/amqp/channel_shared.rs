//! The delivery side of a channel, shared between the connection that owns the channel and
//! the queues that deliver to it: delivery tags, unacked messages, consumers and prefetch.
//! Guarded by a mutex never held across an `.await`; taken after a queue's lock.

use super::conn_shared::ConnShared;
use super::outbound::Outbound;
use crate::queue::{Consumer, Entry, Queue};
use ahash::HashMap;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// A delivered message awaiting ack.
pub struct Unacked {
    pub queue: Arc<Queue>,
    pub entry: Entry,
    /// The consumer it went to; `None` for `basic.get`.
    pub consumer: Option<Arc<str>>,
    /// When it was delivered, for `consumer_timeout`.
    pub delivered_at: Instant,
}

/// A consumer as its channel sees it.
pub struct ConsumerInfo {
    pub tag: Arc<str>,
    pub queue: Arc<Queue>,
    pub no_ack: bool,
    /// Per-consumer prefetch (0 = unlimited), fixed when the consumer started.
    pub prefetch: u16,
    pub unacked: u32,
}

#[derive(Default)]
pub struct DeliveryState {
    pub next_tag: u64,
    pub unacked: BTreeMap<u64, Unacked>,
    pub consumers: HashMap<Arc<str>, ConsumerInfo>,
    /// `basic.qos global=true`: a limit shared by all consumers of the channel.
    pub global_prefetch: u16,
    pub closed: bool,
    /// Direct reply-to: this channel's reply address and its consumer tag.
    pub reply_address: Option<Arc<str>>,
    pub reply_tag: Option<Arc<str>>,
}

pub struct ChannelShared {
    pub id: u16,
    pub conn: Arc<ConnShared>,
    pub state: Mutex<DeliveryState>,
}

impl ChannelShared {
    pub fn new(id: u16, conn: Arc<ConnShared>) -> Arc<Self> {
        Arc::new(Self {
            id,
            conn,
            state: Mutex::new(DeliveryState {
                next_tag: 1,
                ..Default::default()
            }),
        })
    }

    /// Delivers `entry` to `consumer` if the consumer, the channel and the connection have
    /// room; hands the entry back otherwise.
    pub fn try_deliver(
        &self,
        queue: &Arc<Queue>,
        consumer: &Consumer,
        entry: Entry,
    ) -> Result<(), Entry> {
        if self.conn.backlogged(queue) {
            return Err(entry);
        }
        let mut st = self.state.lock();
        let global = st.global_prefetch as usize;
        let unacked_total = st.unacked.len();
        if st.closed {
            return Err(entry);
        }
        let Some(info) = st.consumers.get_mut(consumer.tag.as_str()) else {
            return Err(entry);
        };
        if !info.no_ack {
            let full = info.prefetch > 0 && info.unacked >= info.prefetch as u32;
            if full || (global > 0 && unacked_total >= global) {
                return Err(entry);
            }
            info.unacked += 1;
        }
        let Some(msg) = entry.msg.clone() else {
            return Err(entry);
        };
        let tag = info.tag.clone();
        let no_ack = info.no_ack;
        let delivery_tag = st.next_tag;
        st.next_tag += 1;
        self.conn.send(Outbound::Deliver {
            channel: self.id,
            consumer_tag: tag.clone(),
            delivery_tag,
            redelivered: entry.redelivered,
            msg,
        });
        if no_ack {
            queue.release(&entry);
        } else {
            st.unacked.insert(
                delivery_tag,
                Unacked {
                    queue: queue.clone(),
                    entry: entry.unpinned(),
                    consumer: Some(tag),
                    delivered_at: Instant::now(),
                },
            );
        }
        Ok(())
    }

    /// Records a `basic.get` delivery and returns its tag.
    pub fn record_get(&self, queue: &Arc<Queue>, entry: Option<Entry>) -> u64 {
        let mut st = self.state.lock();
        let tag = st.next_tag;
        st.next_tag += 1;
        if let Some(entry) = entry {
            st.unacked.insert(
                tag,
                Unacked {
                    queue: queue.clone(),
                    entry: entry.unpinned(),
                    consumer: None,
                    delivered_at: Instant::now(),
                },
            );
        }
        tag
    }

    /// Removes the unacked messages named by an ack/nack/reject. `None` if a tag is unknown.
    pub fn take_unacked(&self, tag: u64, multiple: bool) -> Option<Vec<Unacked>> {
        let mut st = self.state.lock();
        let taken: Vec<Unacked> = if multiple {
            let upto = if tag == 0 { u64::MAX } else { tag };
            let keys: Vec<u64> = st.unacked.range(..=upto).map(|(k, _)| *k).collect();
            if tag != 0 && keys.is_empty() {
                return None;
            }
            keys.iter().filter_map(|k| st.unacked.remove(k)).collect()
        } else {
            vec![st.unacked.remove(&tag)?]
        };
        for u in &taken {
            if let Some(c) = u.consumer.as_ref().and_then(|t| st.consumers.get_mut(t)) {
                c.unacked = c.unacked.saturating_sub(1);
            }
        }
        Some(taken)
    }

    /// Takes every unacked message (channel close, recover).
    pub fn take_all_unacked(&self) -> Vec<Unacked> {
        let mut st = self.state.lock();
        for c in st.consumers.values_mut() {
            c.unacked = 0;
        }
        std::mem::take(&mut st.unacked).into_values().collect()
    }

    /// When the oldest unacked delivery went out (lowest tag: tags grow with time).
    pub fn oldest_delivery(&self) -> Option<Instant> {
        self.state
            .lock()
            .unacked
            .first_key_value()
            .map(|(_, u)| u.delivered_at)
    }

    /// The queues this channel consumes from, for re-dispatch after capacity frees up.
    pub fn consumed_queues(&self) -> Vec<Arc<Queue>> {
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

/// Groups settled messages by queue so each queue is locked once.
pub fn group_by_queue(items: Vec<Unacked>) -> Vec<(Arc<Queue>, Vec<Entry>)> {
    let mut groups: Vec<(Arc<Queue>, Vec<Entry>)> = Vec::new();
    for u in items {
        match groups.iter_mut().find(|(q, _)| Arc::ptr_eq(q, &u.queue)) {
            Some((_, v)) => v.push(u.entry),
            None => groups.push((u.queue, vec![u.entry])),
        }
    }
    groups
}
