//! Queues. A queue's state (`state.rs`) is a state machine: operations change it and return
//! the effects to carry out. [`Queue`] owns that state behind one `parking_lot::Mutex`
//! (never held across an `.await`) and carries the effects out: deliveries in order while
//! the lock is held (lock order is queue, then consumer), then, with the lock released,
//! store releases, dead letters (routed by the queue's owner, so a dead-letter cycle back
//! into the same queue cannot deadlock), read-backs of paged-out messages (on the blocking
//! pool, never on an async worker) and TTL timers.

pub(crate) mod args;
mod consumer;
mod dead_letter;
mod dispatch;
mod effects;
mod entry;
mod expiry;
mod figures;
mod in_flight;
mod list;
pub(crate) mod mirror;
mod owner;
mod remote;
mod state;
mod tally;
#[cfg(test)]
mod tests;

use crate::message::Message;
use crate::stats::{Counts, Gauges, Rates, Stat};
use crate::store::messages::{MessageStore, Restored};
use crate::store::segment::RecordRef;
use amq_protocol::types::FieldTable;
pub(crate) use args::{Overflow, QueueArgs};
pub(crate) use consumer::{new_holder, Consumer, Delivery, Holder, Subscription};
pub(crate) use effects::{Effects, Load};
pub(crate) use entry::Entry;
pub(crate) use figures::{QueueDetails, QueueFigures, Report};
pub(crate) use owner::{DeadLetter, QueueOwner};
use parking_lot::Mutex;
pub(crate) use remote::{Answer, Home};
pub(crate) use state::{ExclusiveInUse, Got, QueueState, Settle};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
pub(crate) use tally::Tally;

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
    /// Where the queue lives; it moves when a mirror is promoted.
    placement: parking_lot::RwLock<Placement>,
    /// Whether the home is another node (read first, so a local queue's operations take
    /// no lock for it).
    is_remote: AtomicBool,
    /// In a cluster: the nodes holding its mirrors, oldest first.
    mirrors: Mutex<Vec<String>>,
    /// At the master: it has mirrors (publishes wait for them to confirm).
    mirrored: AtomicBool,
    /// The mirrors that hold everything the master holds, as the cluster knows them.
    synchronised: Mutex<Vec<String>>,
    /// On a mirror's node: the copy of the master's messages.
    copy: Mutex<Option<mirror::MirrorCopy>>,
    store: Arc<MessageStore>,
    /// The broker holding the queue: dead letters and `x-expires` go to it.
    owner: Weak<dyn QueueOwner>,
    state: Mutex<QueueState>,
    deleted: AtomicBool,
    /// Whether an `x-expires` watcher runs.
    expiry_watched: AtomicBool,
    /// Set while consumers are attached but the ready backlog is above `FLOW_HIGH`:
    /// publishers pause before reading more until it drains (RabbitMQ's flow state).
    congested: AtomicBool,
    uncongested: tokio::sync::Notify,
    /// Woken when paged-out messages have been read back.
    loaded: tokio::sync::Notify,
    /// Rates of the message statistics (the counts are in the state).
    rates: Rates,
    /// Messages, ready and unacknowledged, sampled for their rates of change.
    pub(crate) lengths: Gauges<3>,
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

/// Where a queue lives: its home node (in a cluster) and, when that is another node, the
/// way to it (the state here then stays empty).
struct Placement {
    node: Option<String>,
    remote: Option<Arc<dyn Home>>,
}

/// How a queue was declared.
pub(crate) struct QueueSpec {
    pub name: String,
    pub durable: bool,
    pub auto_delete: bool,
    pub exclusive_owner: Option<u64>,
    pub arguments: FieldTable,
    /// The parsed arguments; policies are applied on top.
    pub args: QueueArgs,
    /// In a cluster: the node the queue lives on.
    pub home_node: Option<String>,
}

impl Queue {
    /// A new queue in `vhost`, running with `settings` (its arguments with policies
    /// applied).
    pub(crate) fn new(
        owner: Weak<dyn QueueOwner>,
        store: Arc<MessageStore>,
        vhost: &str,
        spec: QueueSpec,
        settings: QueueArgs,
        remote: Option<Arc<dyn Home>>,
    ) -> Arc<Self> {
        let max_priority = spec.args.max_priority.unwrap_or(0);
        let q = Arc::new_cyclic(|me| Self {
            key: crate::store::record::queue_key(vhost, &spec.name),
            store,
            owner,
            is_remote: AtomicBool::new(remote.is_some()),
            placement: parking_lot::RwLock::new(Placement {
                node: spec.home_node,
                remote,
            }),
            mirrors: Mutex::new(Vec::new()),
            mirrored: AtomicBool::new(false),
            synchronised: Mutex::new(Vec::new()),
            copy: Mutex::new(None),
            name: spec.name,
            vhost: vhost.to_string(),
            durable: spec.durable,
            auto_delete: spec.auto_delete,
            exclusive_owner: spec.exclusive_owner,
            arguments: spec.arguments,
            args: spec.args,
            state: Mutex::new(QueueState::new(
                me.clone(),
                settings,
                max_priority,
                spec.durable,
            )),
            deleted: AtomicBool::new(false),
            expiry_watched: AtomicBool::new(false),
            congested: AtomicBool::new(false),
            uncongested: tokio::sync::Notify::new(),
            loaded: tokio::sync::Notify::new(),
            rates: Rates::default(),
            lengths: Gauges::default(),
        });
        if !q.is_remote() {
            expiry::watch_unused(&q);
        }
        q
    }

    /// The queue's home, when it is another node.
    pub(crate) fn remote(&self) -> Option<Arc<dyn Home>> {
        if !self.is_remote() {
            return None;
        }
        self.placement.read().remote.clone()
    }

    /// Whether the queue's home is another node.
    pub(crate) fn is_remote(&self) -> bool {
        self.is_remote.load(Ordering::Acquire)
    }

    /// In a cluster: the node the queue lives on.
    pub fn home_node(&self) -> Option<String> {
        self.placement.read().node.clone()
    }

    /// Moves the queue's home (a mirror was promoted): `remote` is the way to it, `None`
    /// when it is this node.
    pub(crate) fn set_home(&self, node: String, remote: Option<Arc<dyn Home>>) {
        let mut p = self.placement.write();
        self.is_remote.store(remote.is_some(), Ordering::Release);
        *p = Placement {
            node: Some(node),
            remote,
        };
    }

    /// Why the queue cannot be used now: its home node is down (RabbitMQ's text).
    pub(crate) fn home_down(&self) -> Option<String> {
        let home = self.remote().filter(|h| !h.is_up())?;
        Some(format!(
            "home node '{}' of {} queue '{}' in vhost '{}' is down or inaccessible",
            home.node(),
            if self.durable { "durable" } else { "transient" },
            self.name,
            self.vhost
        ))
    }

    /// Applies an operation to the state and carries out its effects: deliveries before
    /// the lock is released (so they leave in the order the state chose), the rest after.
    fn apply<R>(self: &Arc<Self>, op: impl FnOnce(&mut QueueState, &mut Effects) -> R) -> R {
        let mut fx = Effects::default();
        let r = {
            let mut st = self.state.lock();
            st.activity.note();
            fx.track = st.mirroring.is_some();
            let r = op(&mut st, &mut fx);
            let deliveries = std::mem::take(&mut fx.deliveries);
            for (_, d) in &deliveries {
                count_delivery(
                    &mut st.stats,
                    d.no_ack,
                    d.redelivered,
                    Stat::Deliver,
                    Stat::DeliverNoAck,
                );
                if fx.track && !d.no_ack {
                    fx.delivered.push(d.seq);
                }
            }
            // In order: the mirrors hear of operations as the state applied them, and
            // before the deliveries leave (they wait until the mirrors' notice is written).
            let mut gate = None;
            if let Some(mut m) = st.mirroring.take() {
                gate = m.send(self, fx.mirror_ops());
                fx.synchronised = m.report(self, || st.oldest_seq());
                st.mirroring = Some(m);
            }
            for (consumer, mut d) in deliveries {
                d.gate = gate.clone();
                consumer.deliver(self, d);
            }
            self.update_flow(&st);
            r
        };
        if fx.needs_finishing() {
            self.finish(&mut fx);
        }
        r
    }

    /// The message statistics' counts.
    pub(crate) fn message_counts(&self) -> Counts {
        self.state.lock().stats
    }

    /// Carries out what an operation asked for once the lock is released.
    fn finish(self: &Arc<Self>, fx: &mut Effects) {
        for done in fx.confirmed.drain(..) {
            done(true);
        }
        if let Some(nodes) = fx.synchronised.take() {
            self.report_synchronised(nodes);
        }
        let durable = self.durable_key();
        for r in fx.released.drain(..) {
            self.store.release(r, durable);
        }
        for sub in fx.cancelled.drain(..) {
            sub.consumer.cancelled(&sub.tag);
        }
        if let Some(at) = fx.timer.take() {
            expiry::set_timer(self, at);
        }
        if !fx.load.is_empty() {
            self.read_back(std::mem::take(&mut fx.load));
        }
        dead_letter::dead_letter(self, std::mem::take(&mut fx.dead));
    }

    /// Reads paged-out messages back on the blocking pool, then hands them to the state.
    fn read_back(self: &Arc<Self>, loads: Vec<Load>) {
        let q = self.clone();
        let job = move || {
            let results = loads.into_iter().map(|l| (l, q.read(l.at))).collect();
            q.apply(|st, fx| st.loaded(fx, results));
            q.loaded.notify_waiters();
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(job)),
            Err(_) => job(),
        }
    }

    /// Reads a stored message; one that cannot be read is logged and counted lost.
    fn read(&self, at: RecordRef) -> Option<Message> {
        match self.store.read(at) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::error!(
                    "queue '{}': message lost, cannot read it back: {e}",
                    self.name
                );
                None
            }
        }
    }

    /// Waits until the read-back of paged-out messages in progress finishes (or a second
    /// passes: the caller asks again either way).
    pub async fn wait_loaded(&self) {
        let loaded = self.loaded.notified();
        tokio::pin!(loaded);
        loaded.as_mut().enable();
        if !self.state.lock().is_loading() {
            return;
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), loaded).await;
    }

    /// Enters or leaves the congested state (called with the state locked).
    fn update_flow(&self, st: &QueueState) {
        let len = st.ready();
        let consumers = st.consumer_count();
        if self.congested.load(Ordering::Relaxed) {
            if len < FLOW_LOW || consumers == 0 || self.is_deleted() {
                self.congested.store(false, Ordering::Release);
                self.uncongested.notify_waiters();
            }
        } else if len >= FLOW_HIGH && consumers > 0 {
            self.congested.store(true, Ordering::Release);
        }
    }

    /// True while publishers should pause (see `congested`).
    pub fn is_congested(&self) -> bool {
        if let Some(home) = self.remote() {
            return self.congested.load(Ordering::Acquire) || home.is_congested();
        }
        self.congested.load(Ordering::Acquire)
    }

    /// Waits until the queue is no longer congested.
    pub async fn uncongested(&self) {
        if let Some(home) = self.remote() {
            home.uncongested().await;
        }
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

    /// For a queue on another node: whether its home says it is congested (publishers
    /// here pause as for a local one).
    pub(crate) fn set_home_congested(&self, on: bool) {
        self.congested.store(on, Ordering::Release);
        if !on {
            self.uncongested.notify_waiters();
        }
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    pub fn settings(&self) -> QueueArgs {
        self.state.lock().settings().clone()
    }

    /// Applies new effective settings (a policy changed); limits take effect at once.
    pub fn set_settings(self: &Arc<Self>, settings: QueueArgs) {
        let watch = settings.expires.is_some();
        let sync = mirror::SyncSettings::of(&settings);
        self.apply(|st, fx| {
            st.set_settings(fx, settings);
            let oldest = st.oldest_seq();
            if let Some(m) = &mut st.mirroring {
                m.configure(sync, oldest);
            }
        });
        self.start_syncs();
        if watch {
            expiry::watch_unused(self);
        }
    }

    /// `sync` (`start`) or `cancel_sync` at the queue's master, wherever it is: how many
    /// mirrors it concerned.
    pub(crate) async fn sync_anywhere(self: &Arc<Self>, start: bool) -> Result<usize, String> {
        match self.remote() {
            Some(home) => home.sync(self, start).await,
            None if start => Ok(self.sync_mirrors()),
            None => Ok(self.cancel_sync()),
        }
    }

    pub fn counts(&self) -> QueueCounts {
        if let Some(home) = self.remote() {
            return home.counts(self);
        }
        self.state.lock().counts()
    }

    /// The store key under which this queue's messages must survive a restart.
    pub fn durable_key(&self) -> Option<u64> {
        self.durable.then_some(self.key)
    }

    /// The nodes holding the queue's mirrors, oldest first.
    pub fn mirrors(&self) -> Vec<String> {
        self.mirrors.lock().clone()
    }

    /// Records a use (declare, get, consumer change) for `x-expires`.
    pub fn touch(&self) {
        self.state.lock().touch();
    }

    /// False when `x-overflow` is reject-publish(-dlx) and the queue is full.
    pub fn admits(&self, size: usize) -> bool {
        self.state.lock().admits(size)
    }

    /// Enqueues a message (in memory, stored, or both) and delivers what can be delivered.
    pub fn publish(self: &Arc<Self>, msg: Message, keep_in_ram: bool, stored: Option<RecordRef>) {
        if let Some(home) = self.remote() {
            return home.publish(self, msg, None);
        }
        self.apply(|st, fx| {
            st.stats[Stat::Publish as usize] += 1;
            st.publish(fx, msg, keep_in_ram, stored)
        })
    }

    /// Loads recovered messages (stored only, marked redelivered).
    pub fn restore(self: &Arc<Self>, refs: Vec<Restored>) {
        self.apply(|st, fx| st.restore(fx, refs))
    }

    /// Takes the head message for `basic.get`, unsettled under `holder` (settled at once
    /// without one).
    pub fn get(self: &Arc<Self>, holder: Option<Holder>) -> Got {
        self.apply(|st, fx| {
            let got = st.get(fx, holder);
            match &got {
                Got::Message { redelivered, .. } => {
                    let no_ack = holder.is_none();
                    count_delivery(
                        &mut st.stats,
                        no_ack,
                        *redelivered,
                        Stat::Get,
                        Stat::GetNoAck,
                    )
                }
                Got::Empty => st.stats[Stat::GetEmpty as usize] += 1,
                Got::Loading => {}
            }
            got
        })
    }

    /// `get` wherever the queue lives, waiting for a paged-out head or the home's answer.
    pub(crate) async fn fetch(self: &Arc<Self>, holder: Option<Holder>) -> Result<Got, String> {
        if let Some(home) = self.remote() {
            return home.get(self, holder).await;
        }
        loop {
            match self.get(holder) {
                Got::Loading => self.wait_loaded().await,
                got => return Ok(got),
            }
        }
    }

    /// `purge` wherever the queue lives.
    pub(crate) async fn purge_anywhere(self: &Arc<Self>) -> Result<u32, String> {
        match self.remote() {
            Some(home) => home.purge(self).await,
            None => Ok(self.purge()),
        }
    }

    /// Settles deliveries held by `holder`: acked, rejected (dead-lettered if the queue
    /// has a dead-letter exchange) or requeued.
    pub fn settle(self: &Arc<Self>, holder: Holder, seqs: &[u64], how: Settle) {
        if let Some(home) = self.remote() {
            return home.settle(self, holder, seqs, how);
        }
        self.apply(|st, fx| {
            if how == Settle::Ack {
                st.stats[Stat::Ack as usize] += seqs.len() as u64;
            }
            st.settle(fx, holder, seqs, how)
        })
    }

    /// `holder` went away: what it held goes back to the queue.
    pub fn holder_gone(self: &Arc<Self>, holder: Holder) {
        if let Some(home) = self.remote() {
            return home.holder_gone(self, holder);
        }
        self.apply(|st, fx| st.holder_gone(fx, holder))
    }

    /// What holders `gone` picks held goes back to the queue (their node is down).
    pub(crate) fn holders_gone(self: &Arc<Self>, gone: impl Fn(Holder) -> bool) {
        self.apply(|st, fx| st.holders_gone(fx, gone))
    }

    /// Delivers to consumers with room; called when room may have appeared.
    pub fn dispatch(self: &Arc<Self>) {
        if let Some(home) = self.remote() {
            return home.dispatch(self);
        }
        self.apply(|st, fx| st.dispatch(fx))
    }

    /// Drops every ready message; returns how many there were.
    pub fn purge(self: &Arc<Self>) -> u32 {
        self.apply(|st, fx| st.purge(fx))
    }

    /// Adds a consumer; fails with a reason if exclusivity forbids it. `on_added` runs under
    /// the queue lock before any delivery, so `consume-ok` precedes them.
    pub fn add_consumer(
        self: &Arc<Self>,
        consumer: Subscription,
        on_added: impl FnOnce(),
    ) -> Result<(), String> {
        self.apply(|st, fx| match st.add_consumer(fx, consumer) {
            Ok(()) => {
                on_added();
                Ok(())
            }
            Err(ExclusiveInUse) => Err(format!(
                "queue '{}' in vhost '{}' in exclusive use",
                self.name, self.vhost
            )),
        })
    }

    /// Removes a consumer. Returns true when an auto-delete queue has just lost its last one.
    pub fn remove_consumer(self: &Arc<Self>, holder: Holder, tag: &str) -> bool {
        if let Some(home) = self.remote() {
            // The home deletes an auto-delete queue that lost its last consumer.
            drop(home.cancel(self, holder, tag));
            return false;
        }
        let last = self.apply(|st, fx| st.remove_consumer(fx, holder, tag));
        last && self.auto_delete
    }

    pub fn consumer_count(&self) -> usize {
        if let Some(home) = self.remote() {
            return home.counts(self).consumers as usize;
        }
        self.state.lock().consumer_count()
    }

    pub fn is_empty(&self) -> bool {
        self.state.lock().ready() == 0
    }

    /// Marks the queue deleted: its consumers are told, its messages dropped. Returns how
    /// many messages were ready.
    pub fn mark_deleted(self: &Arc<Self>) -> u32 {
        self.deleted.store(true, Ordering::Release);
        if let Some(home) = self.remote() {
            self.drop_copy();
            home.deleted(self);
            return home.counts(self).ready;
        }
        self.apply(|st, fx| {
            // Publishes waiting for mirrors are confirmed: they reached the queue.
            if let Some(mut m) = st.mirroring.take() {
                fx.confirmed.extend(m.set_nodes(&[], 0));
            }
            st.delete(fx)
        })
    }

    /// Writes in-memory ready messages to the store, newest first, and drops their bodies
    /// from memory, until about `budget` bytes were released. Returns the bytes released.
    pub fn page_out(&self, budget: usize) -> usize {
        let mut st = self.state.lock();
        let mut released = 0;
        st.messages.visit_newest_first(|e| {
            if released >= budget {
                return ControlFlow::Break(());
            }
            let Some(m) = e.msg.take() else {
                return ControlFlow::Continue(());
            };
            if e.stored.is_none() {
                match self.store.append(&m, &[], 1, None) {
                    Ok(r) => e.stored = Some(r),
                    Err(err) => {
                        tracing::error!("queue '{}': cannot page out: {err}", self.name);
                        e.msg = Some(m);
                        return ControlFlow::Break(());
                    }
                }
            }
            released += m.body().len() + m.raw_properties().len();
            ControlFlow::Continue(())
        });
        released
    }

    /// Moves this queue's ready messages out of the given segments (compaction). The
    /// messages are found under the queue's lock, copied without it (reading the store is
    /// disk I/O), and swapped in under the lock again; one delivered or dropped meanwhile
    /// keeps its old copy, and the new one is released.
    pub fn relocate(&self, segments: &[u32]) -> usize {
        let found: Vec<(u64, RecordRef)> = {
            let st = self.state.lock();
            st.messages
                .iter()
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
            st.messages.for_each_stored(|seq, stored| {
                let Some((old, new)) = copies.get(&seq).copied() else {
                    return;
                };
                if *stored == Some(old) {
                    *stored = Some(new);
                    copies.remove(&seq);
                    self.store.release_after_sync(old, durable);
                    moved += 1;
                }
            });
        }
        for (_, new) in copies.into_values() {
            self.store.release(new, durable);
        }
        moved
    }
}

/// Counts a delivery or a get (and a redelivery).
fn count_delivery(stats: &mut Counts, no_ack: bool, redelivered: bool, acked: Stat, unacked: Stat) {
    stats[if no_ack { unacked } else { acked } as usize] += 1;
    if redelivered {
        stats[Stat::Redeliver as usize] += 1;
    }
}
