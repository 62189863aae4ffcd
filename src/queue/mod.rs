//! Queues: the ready messages in delivery order, the consumers attached, and dispatch. A
//! queue's state sits behind one `parking_lot::Mutex` that is never held across an
//! `.await`; dispatch runs on whichever task made delivery possible (a publish, an ack, a new
//! consumer, a writer that drained). Lock order is queue, then channel. Messages leaving the
//! queue for a dead-letter exchange are collected under the lock and routed after it is
//! released, so a dead-letter cycle back into the same queue cannot deadlock.

pub mod args;
mod consumer;
mod dead_letter;
mod dispatch;
mod expiry;
mod list;
mod owner;

use crate::message::Message;
use crate::store::messages::{MessageStore, Restored};
use crate::store::segment::RecordRef;
use amq_protocol::types::FieldTable;
pub use args::{Overflow, QueueArgs};
pub use consumer::{Consumer, Subscription};
pub use dead_letter::Reason;
use list::MessageList;
pub use owner::{DeadLetter, QueueOwner};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

/// A message waiting in a queue. `seq` orders the queue, so a requeued message goes back
/// to where it was. The message is in memory, in the store, or both; one paged out to the
/// store (`msg: None`) is read back when it is delivered.
#[derive(Debug, Clone)]
pub struct Entry {
    pub seq: u64,
    pub msg: Option<Message>,
    pub stored: Option<RecordRef>,
    pub redelivered: bool,
    /// Priority level (0 in a plain queue).
    pub priority: u8,
    /// Body bytes, for `x-max-length-bytes`.
    pub size: u32,
    /// When the message expires (queue or message TTL), if it does.
    pub expires_at: Option<expiry::Deadline>,
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

/// Entries settled or requeued together: usually one.
pub type Entries = smallvec::SmallVec<[Entry; 1]>;

pub struct QueueState {
    messages: MessageList,
    next_seq: u64,
    pub consumers: Vec<Subscription>,
    pub next_consumer: usize,
    pub unacked: usize,
    pub had_consumers: bool,
    /// The settings in force: the queue's arguments with policies applied.
    pub settings: QueueArgs,
    /// Last declare, get or consumer change, for `x-expires`.
    last_used: expiry::Deadline,
    /// When the armed TTL timer fires, if one is armed.
    ttl_timer: Option<expiry::Deadline>,
    /// Whether an `x-expires` watcher runs.
    expiry_watched: bool,
    /// Messages leaving for the dead-letter exchange once the lock is released.
    dead: Vec<(Entry, Reason)>,
}

pub struct Queue {
    pub name: String,
    pub vhost: String,
    pub durable: bool,
    pub auto_delete: bool,
    /// The id of the connection that owns an exclusive queue.
    pub exclusive_owner: Option<u64>,
    pub arguments: FieldTable,
    /// The parsed arguments (policies apply on top of them).
    pub args: QueueArgs,
    /// The queue's name in store records.
    pub key: u64,
    store: Arc<MessageStore>,
    /// The broker holding the queue: dead letters and `x-expires` go to it.
    owner: Weak<dyn QueueOwner>,
    state: Mutex<QueueState>,
    deleted: AtomicBool,
    /// Set while consumers are attached but the ready backlog is above `FLOW_HIGH`:
    /// publishers pause before reading more until it drains (RabbitMQ's flow state).
    congested: AtomicBool,
    uncongested: tokio::sync::Notify,
}

/// Ready messages (with consumers attached) above which publishers are paused.
const FLOW_HIGH: usize = 10_000;
/// ... and below which they resume.
const FLOW_LOW: usize = FLOW_HIGH / 2;

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

/// How a queue was declared.
pub struct QueueSpec {
    pub name: String,
    pub durable: bool,
    pub auto_delete: bool,
    pub exclusive_owner: Option<u64>,
    pub arguments: FieldTable,
    /// The parsed arguments; policies are applied on top.
    pub args: QueueArgs,
}

impl Queue {
    /// A new queue in `vhost`, running with `settings` (its arguments with policies
    /// applied).
    pub fn new(
        owner: Weak<dyn QueueOwner>,
        store: Arc<MessageStore>,
        vhost: &str,
        spec: QueueSpec,
        settings: QueueArgs,
    ) -> Arc<Self> {
        let state = QueueState {
            messages: MessageList::new(spec.args.max_priority.unwrap_or(0)),
            next_seq: 0,
            consumers: Vec::new(),
            next_consumer: 0,
            unacked: 0,
            had_consumers: false,
            settings,
            last_used: expiry::Deadline::now(),
            ttl_timer: None,
            expiry_watched: false,
            dead: Vec::new(),
        };
        let q = Arc::new(Self {
            key: crate::store::record::queue_key(vhost, &spec.name),
            store,
            owner,
            name: spec.name,
            vhost: vhost.to_string(),
            durable: spec.durable,
            auto_delete: spec.auto_delete,
            exclusive_owner: spec.exclusive_owner,
            arguments: spec.arguments,
            args: spec.args,
            state: Mutex::new(state),
            deleted: AtomicBool::new(false),
            congested: AtomicBool::new(false),
            uncongested: tokio::sync::Notify::new(),
        });
        expiry::watch_unused(&q);
        q
    }

    /// Runs `f` on the state, then (lock released) dead-letters what it left behind.
    fn with_state<R>(self: &Arc<Self>, f: impl FnOnce(&mut QueueState) -> R) -> R {
        let (r, dead) = {
            let mut st = self.state.lock();
            let r = f(&mut st);
            expiry::arm_ttl_timer(self, &mut st);
            self.update_flow(&st);
            (r, std::mem::take(&mut st.dead))
        };
        dead_letter::dead_letter(self, dead);
        r
    }

    /// Enters or leaves the congested state (called with the state locked).
    fn update_flow(&self, st: &QueueState) {
        let len = st.messages.len();
        if self.congested.load(Ordering::Relaxed) {
            if len < FLOW_LOW || st.consumers.is_empty() || self.is_deleted() {
                self.congested.store(false, Ordering::Release);
                self.uncongested.notify_waiters();
            }
        } else if len >= FLOW_HIGH && !st.consumers.is_empty() {
            self.congested.store(true, Ordering::Release);
        }
    }

    /// True while publishers should pause (see `congested`).
    pub fn is_congested(&self) -> bool {
        self.congested.load(Ordering::Acquire)
    }

    /// Waits until the queue is no longer congested.
    pub async fn uncongested(&self) {
        loop {
            let n = self.uncongested.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if !self.is_congested() {
                return;
            }
            n.await;
        }
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    pub fn settings(&self) -> QueueArgs {
        self.state.lock().settings.clone()
    }

    /// Applies new effective settings (a policy changed); limits take effect at once.
    pub fn set_settings(self: &Arc<Self>, settings: QueueArgs) {
        let watch = settings.expires.is_some();
        self.with_state(|st| {
            st.settings = settings;
            expiry::expire_head(self, st);
            enforce_limits(st);
        });
        if watch {
            expiry::watch_unused(self);
        }
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

    /// Records a use (declare, get, consumer change) for `x-expires`.
    pub fn touch(&self) {
        self.state.lock().last_used = expiry::Deadline::now();
    }

    /// False when `x-overflow` is reject-publish(-dlx) and the queue is full.
    pub fn admits(&self, size: usize) -> bool {
        let st = self.state.lock();
        let s = &st.settings;
        if !matches!(
            s.overflow,
            Some(Overflow::RejectPublish | Overflow::RejectPublishDlx)
        ) {
            return true;
        }
        let count_ok = s.max_length.is_none_or(|m| (st.messages.len() as u64) < m);
        let bytes_ok = s
            .max_length_bytes
            .is_none_or(|m| st.messages.bytes() + size as u64 <= m);
        count_ok && bytes_ok
    }

    /// Appends a message (in memory, stored, or both), delivers what can be delivered, then
    /// applies TTL 0 and the length limits.
    pub fn publish(self: &Arc<Self>, msg: Message, keep_in_ram: bool, stored: Option<RecordRef>) {
        self.with_state(|st| {
            let seq = st.next_seq;
            st.next_seq += 1;
            let entry = Entry {
                seq,
                priority: priority(&st.settings, msg.priority()),
                size: msg.body().len() as u32,
                expires_at: expiry::expires_at(&st.settings, msg.published_ms(), msg.ttl_ms()),
                msg: keep_in_ram.then_some(msg),
                stored,
                redelivered: false,
            };
            // Older messages first; then a message that can go straight to a consumer does,
            // before any TTL (even 0) can expire it.
            dispatch::run(self, st);
            if st.messages.is_empty() && !st.consumers.is_empty() {
                if let Err(Some(back)) = dispatch::offer_one(self, st, entry) {
                    st.messages.push_back(back);
                }
            } else {
                st.messages.push_back(entry);
            }
            expiry::expire_head(self, st);
            enforce_limits(st);
        })
    }

    /// Loads recovered messages (stored only, marked redelivered: they may have been
    /// delivered before the restart).
    pub fn restore(self: &Arc<Self>, refs: Vec<Restored>) {
        self.with_state(|st| {
            for Restored { at, meta, body_len } in refs {
                let seq = st.next_seq;
                st.next_seq += 1;
                let ttl = (meta.ttl_ms != u64::MAX).then_some(meta.ttl_ms);
                st.messages.push_back(Entry {
                    seq,
                    msg: None,
                    stored: Some(at),
                    redelivered: true,
                    priority: priority(&st.settings, meta.priority),
                    size: body_len,
                    expires_at: expiry::expires_at(&st.settings, meta.published_ms, ttl),
                });
            }
            expiry::expire_head(self, st);
        })
    }

    /// Brings a paged-out message back into memory; a record that cannot be read is
    /// dropped (and logged) rather than delivered wrong.
    pub(crate) fn load(&self, entry: &mut Entry) -> Option<Message> {
        if let Some(m) = &entry.msg {
            return Some(m.clone());
        }
        let r = entry.stored?;
        match self.store.read(r) {
            Ok(m) => {
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
    pub fn get(self: &Arc<Self>, no_ack: bool) -> Option<(Entry, Message, u32)> {
        self.with_state(|st| {
            st.last_used = expiry::Deadline::now();
            expiry::expire_head(self, st);
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
                return Some((entry, msg, st.messages.len() as u32));
            }
        })
    }

    /// Frees an entry's stored record.
    pub(crate) fn release(&self, entry: &Entry) {
        if let Some(r) = entry.stored {
            self.store.release(r, self.durable_key());
        }
    }

    /// Settles unacked messages: acked (`None`), or rejected without requeue and so
    /// dead-lettered if the queue has a dead-letter exchange.
    pub fn settle(self: &Arc<Self>, entries: Entries, reject: bool) {
        self.with_state(|st| {
            st.unacked = st.unacked.saturating_sub(entries.len());
            if reject {
                st.dead
                    .extend(entries.into_iter().map(|e| (e, Reason::Rejected)));
            } else {
                for e in &entries {
                    self.release(e);
                }
            }
            dispatch::run(self, st);
        })
    }

    /// Puts unacked messages back at their original positions, marked redelivered.
    pub fn requeue(self: &Arc<Self>, entries: Entries) {
        self.with_state(|st| {
            st.unacked = st.unacked.saturating_sub(entries.len());
            if self.is_deleted() {
                for e in &entries {
                    self.release(e);
                }
                return;
            }
            for mut e in entries {
                e.redelivered = true;
                st.messages.insert_by_seq(e);
            }
            dispatch::run(self, st);
            expiry::expire_head(self, st);
            enforce_limits(st);
        })
    }

    /// Delivers to consumers with capacity; called when capacity may have appeared.
    pub fn dispatch(self: &Arc<Self>) {
        self.with_state(|st| {
            dispatch::run(self, st);
            expiry::expire_head(self, st);
        })
    }

    /// Drops every ready message; returns how many there were.
    pub fn purge(&self) -> u32 {
        let gone = {
            let mut st = self.state.lock();
            let gone = st.messages.take_all();
            self.update_flow(&st);
            gone
        };
        for e in &gone {
            self.release(e);
        }
        gone.len() as u32
    }

    /// Adds a consumer; fails with a reason if exclusivity forbids it. `on_added` runs under
    /// the queue lock before any delivery, so `consume-ok` precedes them.
    pub fn add_consumer(
        self: &Arc<Self>,
        consumer: Subscription,
        on_added: impl FnOnce(),
    ) -> Result<(), String> {
        self.with_state(|st| {
            let exclusive_in_use = st.consumers.iter().any(|c| c.exclusive)
                || (consumer.exclusive
                    && (!st.consumers.is_empty() || st.settings.single_active_consumer));
            if exclusive_in_use {
                return Err(format!(
                    "queue '{}' in vhost '{}' in exclusive use",
                    self.name, self.vhost
                ));
            }
            // Single active consumer: subscription order decides, not priority.
            let pos = if st.settings.single_active_consumer {
                st.consumers.len()
            } else {
                // Higher priority first; equal priorities keep arrival order.
                st.consumers
                    .partition_point(|c| c.priority >= consumer.priority)
            };
            st.consumers.insert(pos, consumer);
            st.had_consumers = true;
            st.last_used = expiry::Deadline::now();
            on_added();
            dispatch::run(self, st);
            expiry::expire_head(self, st);
            Ok(())
        })
    }

    /// Removes a consumer. Returns true when an auto-delete queue has just lost its last one.
    pub fn remove_consumer(self: &Arc<Self>, consumer: &dyn Consumer, tag: &str) -> bool {
        self.with_state(|st| {
            let before = st.consumers.len();
            st.consumers.retain(|c| !c.is(consumer, tag));
            if st.next_consumer >= st.consumers.len() {
                st.next_consumer = 0;
            }
            st.last_used = expiry::Deadline::now();
            // The next single active consumer may take over.
            dispatch::run(self, st);
            before != st.consumers.len() && self.auto_delete && st.consumers.is_empty()
        })
    }

    pub fn consumer_count(&self) -> usize {
        self.state.lock().consumers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.state.lock().messages.is_empty()
    }

    /// Marks the queue deleted and hands back its consumers (to be told) and message count.
    pub fn mark_deleted(&self) -> (Vec<Subscription>, u32) {
        self.deleted.store(true, Ordering::Release);
        let (consumers, gone) = {
            let mut st = self.state.lock();
            let taken = (std::mem::take(&mut st.consumers), st.messages.take_all());
            self.update_flow(&st);
            taken
        };
        for e in &gone {
            self.release(e);
        }
        (consumers, gone.len() as u32)
    }

    /// Writes in-memory ready messages to the store, newest first, and drops their bodies
    /// from memory, until about `budget` bytes were released. Returns the bytes released.
    pub fn page_out(&self, budget: usize) -> usize {
        let mut st = self.state.lock();
        let mut released = 0;
        for e in st.messages.iter_mut_newest_first() {
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
            released += m.body().len() + m.raw_properties().len();
        }
        released
    }

    /// Moves this queue's ready messages out of the given segments (compaction). The
    /// messages are found under the queue's lock, copied without it (reading the store is
    /// disk I/O), and swapped in under the lock again; one delivered or dropped meanwhile
    /// keeps its old copy, and the new one is released.
    pub fn relocate(&self, segments: &[u32]) -> usize {
        let found: Vec<(u64, RecordRef)> = {
            let mut st = self.state.lock();
            st.messages
                .iter_mut()
                .filter_map(|e| {
                    e.stored
                        .filter(|r| segments.contains(&r.segment))
                        .map(|r| (e.seq, r))
                })
                .collect()
        };
        let durable = self.durable_key();
        let mut copies: ahash::HashMap<u64, (RecordRef, RecordRef)> = Default::default();
        for (seq, old) in found {
            match self.store.copy(old, durable) {
                Ok(new) => {
                    copies.insert(seq, (old, new));
                }
                Err(err) => {
                    tracing::warn!("queue '{}': cannot compact a message: {err}", self.name)
                }
            }
        }
        let mut moved = 0;
        {
            let mut st = self.state.lock();
            for e in st.messages.iter_mut() {
                let Some((old, new)) = copies.get(&e.seq).copied() else {
                    continue;
                };
                if e.stored == Some(old) {
                    e.stored = Some(new);
                    copies.remove(&e.seq);
                    self.store.release_after_sync(old, durable);
                    moved += 1;
                }
            }
        }
        for (_, new) in copies.into_values() {
            self.store.release(new, durable);
        }
        moved
    }
}

/// A message's priority level in this queue (0 without `x-max-priority`).
fn priority(settings: &QueueArgs, requested: u8) -> u8 {
    settings.max_priority.map_or(0, |max| requested.min(max))
}

/// `x-max-length` / `x-max-length-bytes` with drop-head: the oldest ready messages go (to
/// the dead-letter exchange, if any) until the queue is within its limits.
fn enforce_limits(st: &mut QueueState) {
    if matches!(
        st.settings.overflow,
        Some(Overflow::RejectPublish | Overflow::RejectPublishDlx)
    ) {
        return;
    }
    loop {
        let over_count = st
            .settings
            .max_length
            .is_some_and(|m| st.messages.len() as u64 > m);
        let over_bytes = st
            .settings
            .max_length_bytes
            .is_some_and(|m| st.messages.bytes() > m);
        if !(over_count || over_bytes) {
            return;
        }
        match st.messages.pop_front() {
            Some(e) => st.dead.push((e, Reason::MaxLen)),
            None => return,
        }
    }
}
