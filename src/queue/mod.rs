//! Queues: the ready messages in order, the consumers attached, and dispatch. A queue's
//! state sits behind one `parking_lot::Mutex` that is never held across an `.await`;
//! dispatch runs on whichever task made delivery possible (a publish, an ack, a new
//! consumer, a writer that drained). Lock order is queue, then channel.

mod dispatch;

use crate::amqp::channel_shared::ChannelShared;
use crate::message::Message;
use crate::store::messages::MessageStore;
use crate::store::segment::RecordRef;
use amq_protocol::types::FieldTable;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A message waiting in a queue. `seq` orders the queue, so a requeued message goes back
/// to where it was. The message is in memory, in the store, or both; one paged out to the
/// store (`msg: None`) is read back when it is delivered.
#[derive(Debug, Clone)]
pub struct Entry {
    pub seq: u64,
    pub msg: Option<Arc<Message>>,
    pub stored: Option<RecordRef>,
    pub redelivered: bool,
}

impl Entry {
    /// The entry without its in-memory copy when the store has one: an unacked message
    /// waiting for its ack does not hold memory (a requeue reads it back).
    pub fn unpinned(mut self) -> Self {
        if self.stored.is_some() {
            self.msg = None;
        }
        self
    }
}

/// A consumer as the queue sees it.
pub struct Consumer {
    pub tag: String,
    pub channel: Arc<ChannelShared>,
    pub no_ack: bool,
    pub exclusive: bool,
    pub priority: i32,
}

#[derive(Default)]
pub struct QueueState {
    pub messages: VecDeque<Entry>,
    pub next_seq: u64,
    pub consumers: Vec<Consumer>,
    pub next_consumer: usize,
    pub unacked: usize,
    pub had_consumers: bool,
}

pub struct Queue {
    pub name: String,
    pub vhost: String,
    pub durable: bool,
    pub auto_delete: bool,
    /// The id of the connection that owns an exclusive queue.
    pub exclusive_owner: Option<u64>,
    pub arguments: FieldTable,
    /// The queue's name in store records.
    pub key: u64,
    store: Arc<MessageStore>,
    state: Mutex<QueueState>,
    deleted: AtomicBool,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("name", &self.name).finish()
    }
}

/// What `queue.declare-ok` and the management API report.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueCounts {
    pub ready: u32,
    pub unacked: u32,
    pub consumers: u32,
}

impl Queue {
    pub fn new(
        name: String,
        vhost: String,
        durable: bool,
        auto_delete: bool,
        exclusive_owner: Option<u64>,
        arguments: FieldTable,
        store: Arc<MessageStore>,
    ) -> Arc<Self> {
        Arc::new(Self {
            key: crate::store::record::queue_key(&vhost, &name),
            store,
            name,
            vhost,
            durable,
            auto_delete,
            exclusive_owner,
            arguments,
            state: Mutex::new(QueueState::default()),
            deleted: AtomicBool::new(false),
        })
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    pub fn counts(&self) -> QueueCounts {
        let st = self.state.lock();
        QueueCounts {
            ready: st.messages.len() as u32,
            unacked: st.unacked as u32,
            consumers: st.consumers.len() as u32,
        }
    }

    /// The store key under which this queue's messages must survive a restart.
    pub fn durable_key(&self) -> Option<u64> {
        self.durable.then_some(self.key)
    }

    /// Appends a message (in memory, stored, or both) and delivers what can be delivered.
    pub fn publish(self: &Arc<Self>, msg: Option<Arc<Message>>, stored: Option<RecordRef>) {
        let mut st = self.state.lock();
        let seq = st.next_seq;
        st.next_seq += 1;
        st.messages.push_back(Entry {
            seq,
            msg,
            stored,
            redelivered: false,
        });
        dispatch::run(self, &mut st);
    }

    /// Loads recovered messages (stored only, marked redelivered: they may have been
    /// delivered before the restart).
    pub fn restore(&self, refs: Vec<RecordRef>) {
        let mut st = self.state.lock();
        for r in refs {
            let seq = st.next_seq;
            st.next_seq += 1;
            st.messages.push_back(Entry {
                seq,
                msg: None,
                stored: Some(r),
                redelivered: true,
            });
        }
    }

    /// Brings a paged-out message back into memory; a record that cannot be read is
    /// dropped (and logged) rather than delivered wrong.
    pub(crate) fn load(&self, entry: &mut Entry) -> Option<Arc<Message>> {
        if let Some(m) = &entry.msg {
            return Some(m.clone());
        }
        let r = entry.stored?;
        match self.store.read(r) {
            Ok(m) => {
                let m = Arc::new(m);
                entry.msg = Some(m.clone());
                Some(m)
            }
            Err(e) => {
                tracing::error!(
                    "queue '{}': message lost, cannot read it back: {e}",
                    self.name
                );
                self.store.release(r, self.durable_key());
                None
            }
        }
    }

    /// Takes the head message for `basic.get`; the caller records it as unacked if needed.
    pub fn get(self: &Arc<Self>, no_ack: bool) -> Option<(Entry, Arc<Message>, u32)> {
        let mut st = self.state.lock();
        loop {
            let mut entry = st.messages.pop_front()?;
            let Some(msg) = self.load(&mut entry) else {
                continue;
            };
            if no_ack {
                self.release(&entry);
            } else {
                st.unacked += 1;
            }
            let remaining = st.messages.len() as u32;
            return Some((entry, msg, remaining));
        }
    }

    /// Writes in-memory ready messages to the store, newest first, and drops their bodies
    /// from memory, until about `budget` bytes were released. Returns the bytes released.
    pub fn page_out(&self, budget: usize) -> usize {
        let mut st = self.state.lock();
        let mut released = 0;
        for e in st.messages.iter_mut().rev() {
            if released >= budget {
                break;
            }
            let Some(m) = e.msg.take() else { continue };
            if e.stored.is_none() {
                match self.store.append(&m, &[], 1, None) {
                    Ok(r) => e.stored = Some(r),
                    Err(err) => {
                        tracing::error!("queue '{}': cannot page out: {err}", self.name);
                        e.msg = Some(m);
                        break;
                    }
                }
            }
            released += m.body.len() + m.raw_properties.len();
        }
        released
    }

    /// Moves this queue's ready messages out of the given segments (compaction).
    pub fn relocate(&self, segments: &[u32]) -> usize {
        let mut st = self.state.lock();
        let mut moved = 0;
        for e in st.messages.iter_mut() {
            let Some(r) = e.stored.filter(|r| segments.contains(&r.segment)) else {
                continue;
            };
            match self.store.relocate(r, self.durable_key()) {
                Ok(new) => {
                    e.stored = Some(new);
                    moved += 1;
                }
                Err(err) => {
                    tracing::warn!("queue '{}': cannot compact a message: {err}", self.name)
                }
            }
        }
        moved
    }

    /// Frees an entry's stored record.
    pub(crate) fn release(&self, entry: &Entry) {
        if let Some(r) = entry.stored {
            self.store.release(r, self.durable_key());
        }
    }

    /// Settles unacked messages (acked, or rejected without requeue).
    pub fn settle(self: &Arc<Self>, entries: Vec<Entry>) {
        for e in &entries {
            self.release(e);
        }
        let mut st = self.state.lock();
        st.unacked = st.unacked.saturating_sub(entries.len());
        dispatch::run(self, &mut st);
    }

    /// Puts unacked messages back at their original positions, marked redelivered.
    pub fn requeue(self: &Arc<Self>, entries: Vec<Entry>) {
        let mut st = self.state.lock();
        st.unacked = st.unacked.saturating_sub(entries.len());
        if self.is_deleted() {
            drop(st);
            for e in &entries {
                self.release(e);
            }
            return;
        }
        for mut e in entries {
            e.redelivered = true;
            let pos = st.messages.partition_point(|m| m.seq < e.seq);
            st.messages.insert(pos, e);
        }
        dispatch::run(self, &mut st);
    }

    /// Delivers to consumers with capacity; called when capacity may have appeared.
    pub fn dispatch(self: &Arc<Self>) {
        let mut st = self.state.lock();
        dispatch::run(self, &mut st);
    }

    /// Drops every ready message; returns how many there were.
    pub fn purge(&self) -> u32 {
        let gone = std::mem::take(&mut self.state.lock().messages);
        for e in &gone {
            self.release(e);
        }
        gone.len() as u32
    }

    /// Adds a consumer; fails with a reason if exclusivity forbids it.
    /// `on_added` runs under the queue lock before any delivery, so `consume-ok` precedes them.
    pub fn add_consumer(
        self: &Arc<Self>,
        consumer: Consumer,
        on_added: impl FnOnce(),
    ) -> Result<(), String> {
        let mut st = self.state.lock();
        if st.consumers.iter().any(|c| c.exclusive)
            || (consumer.exclusive && !st.consumers.is_empty())
        {
            return Err(format!(
                "queue '{}' in vhost '{}' in exclusive use",
                self.name, self.vhost
            ));
        }
        // Higher priority first; equal priorities keep arrival order (round-robin among them).
        let pos = st
            .consumers
            .partition_point(|c| c.priority >= consumer.priority);
        st.consumers.insert(pos, consumer);
        st.had_consumers = true;
        on_added();
        dispatch::run(self, &mut st);
        Ok(())
    }

    /// Removes a consumer. Returns true when an auto-delete queue has just lost its last one.
    pub fn remove_consumer(&self, channel: &ChannelShared, tag: &str) -> bool {
        let mut st = self.state.lock();
        let before = st.consumers.len();
        st.consumers
            .retain(|c| !(c.tag == tag && std::ptr::eq(Arc::as_ptr(&c.channel), channel)));
        if st.next_consumer >= st.consumers.len() {
            st.next_consumer = 0;
        }
        before != st.consumers.len() && self.auto_delete && st.consumers.is_empty()
    }

    pub fn consumer_count(&self) -> usize {
        self.state.lock().consumers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.state.lock().messages.is_empty()
    }

    /// Marks the queue deleted and hands back its consumers (to be told) and message count.
    pub fn mark_deleted(&self) -> (Vec<Consumer>, u32) {
        self.deleted.store(true, Ordering::Release);
        let (consumers, gone) = {
            let mut st = self.state.lock();
            (
                std::mem::take(&mut st.consumers),
                std::mem::take(&mut st.messages),
            )
        };
        for e in &gone {
            self.release(e);
        }
        (consumers, gone.len() as u32)
    }
}
