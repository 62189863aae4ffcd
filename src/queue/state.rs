//! A queue's state machine. The state changes only through the operations below (publish,
//! get, settle, requeue, a holder gone, dispatch, a timer fired, messages loaded, purge,
//! consumers added and removed, settings changed, delete); each records the [`Effects`] to
//! carry out in the buffer its caller passes: deliveries to hand over, dead letters to route, stored copies to release,
//! paged-out messages to read back, a timer to set, consumers to tell they were cancelled.
//! Nothing here touches a socket, the store or the broker, so tests drive it alone.
//!
//! Unsettled deliveries stay here ([`InFlight`]), filed by holder: an ack, a reject or a
//! requeue names them by position, and a holder that goes away returns them all.

use super::args::{Overflow, QueueArgs};
use super::consumer::{Holder, Subscription};
use super::dead_letter::Reason;
use super::effects::{Effects, Load};
use super::entry::Entry;
use super::expiry::{self, Deadline};
use super::figures::Activity;
use super::in_flight::InFlight;
use super::list::MessageList;
use super::{dispatch, Queue};
use crate::message::Message;
use crate::store::messages::Restored;
use crate::store::segment::RecordRef;
use std::sync::Weak;

/// How many paged-out messages one read-back fetches.
const LOAD_BATCH: usize = 128;

pub(crate) struct QueueState {
    /// The queue this state belongs to, so a consumer without room can wake it later
    /// (empty in tests).
    pub(super) me: Weak<Queue>,
    pub(super) messages: MessageList,
    next_seq: u64,
    pub(super) consumers: Vec<Subscription>,
    pub(super) next_consumer: usize,
    pub(super) in_flight: InFlight,
    /// The settings in force: the queue's arguments with policies applied.
    pub(super) settings: QueueArgs,
    /// Whether the queue is durable: its `delivery_mode` 2 messages are persistent.
    durable: bool,
    /// Operations counted for `idle_since`.
    pub(super) activity: Activity,
    /// Last declare, get or consumer change, for `x-expires`.
    last_used: Deadline,
    /// When the armed TTL timer fires, if one is armed.
    ttl_timer: Option<Deadline>,
    /// Paged-out messages at the head are being read back; dispatch waits for them.
    loading: bool,
    /// Reads the time (the wall clock; tests set their own).
    pub(super) clock: fn() -> Deadline,
    /// Message statistics (publish, deliveries, gets, acks), counted under the lock the
    /// operation holds anyway: plain numbers, no extra shared cache line per message.
    pub(super) stats: crate::stats::Counts,
    /// At the master of a mirrored queue: its mirrors.
    pub(super) mirroring: Option<super::mirror::Mirroring>,
}

/// What `get` found.
#[derive(Debug)]
pub enum Got {
    Empty,
    /// The head message, its redelivered flag, its position (what settles it) and how
    /// many messages remain ready.
    Message {
        msg: Message,
        redelivered: bool,
        seq: u64,
        remaining: u32,
    },
    /// The head is paged out and being read back: ask again once it is loaded
    /// ([`super::Queue::wait_loaded`]).
    Loading,
}

/// How unsettled deliveries are settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Settle {
    Ack,
    /// Rejected without requeue: dead-lettered if the queue has a dead-letter exchange.
    Reject,
    /// Back to their original positions, marked redelivered.
    Requeue,
}

/// Why a consumer cannot subscribe: an exclusive consumer is in the way.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ExclusiveInUse;

impl QueueState {
    /// An empty queue with these settings; `max_priority` fixes its priority levels.
    pub(crate) fn new(
        me: Weak<Queue>,
        settings: QueueArgs,
        max_priority: u8,
        durable: bool,
    ) -> Self {
        Self::with_clock(me, settings, max_priority, durable, Deadline::now)
    }

    /// As `new`, reading the time from `clock`.
    pub(crate) fn with_clock(
        me: Weak<Queue>,
        settings: QueueArgs,
        max_priority: u8,
        durable: bool,
        clock: fn() -> Deadline,
    ) -> Self {
        let now = clock();
        Self {
            me,
            messages: MessageList::new(max_priority),
            next_seq: 0,
            consumers: Vec::new(),
            next_consumer: 0,
            in_flight: InFlight::default(),
            settings,
            durable,
            activity: Activity::new(now.ms()),
            last_used: now,
            ttl_timer: None,
            loading: false,
            clock,
            stats: [0; crate::stats::N],
            mirroring: None,
        }
    }

    pub(crate) fn ready(&self) -> usize {
        self.messages.len()
    }

    pub(crate) fn unacked(&self) -> usize {
        self.in_flight.len()
    }

    pub(crate) fn consumer_count(&self) -> usize {
        self.consumers.len()
    }

    /// Whether paged-out messages are being read back.
    pub(crate) fn is_loading(&self) -> bool {
        self.loading
    }

    pub(crate) fn settings(&self) -> &QueueArgs {
        &self.settings
    }

    /// When an unused queue with `x-expires` is due, if it is unused (no consumers).
    pub(crate) fn unused_deadline(&self) -> Option<Deadline> {
        let e = self.settings.expires?;
        self.consumers.is_empty().then(|| self.last_used.after(e))
    }

    /// Records a use (declare, get, consumer change) for `x-expires`.
    pub(crate) fn touch(&mut self) {
        self.last_used = (self.clock)();
    }

    /// False when `x-overflow` is reject-publish(-dlx) and a message of `size` bytes would
    /// not fit.
    pub(crate) fn admits(&self, size: usize) -> bool {
        let s = &self.settings;
        if !matches!(
            s.overflow,
            Some(Overflow::RejectPublish | Overflow::RejectPublishDlx)
        ) {
            return true;
        }
        let count_ok = s
            .max_length
            .is_none_or(|m| (self.messages.len() as u64) < m);
        let bytes_ok = s
            .max_length_bytes
            .is_none_or(|m| self.messages.bytes() + size as u64 <= m);
        count_ok && bytes_ok
    }

    /// The position the next message will take.
    pub(super) fn peek_seq(&self) -> u64 {
        self.next_seq
    }

    /// The oldest position the queue still holds, ready or unsettled.
    pub(super) fn oldest_seq(&self) -> Option<u64> {
        let ready = self.messages.oldest_seq();
        let held = self.in_flight.oldest().map(|e| e.seq);
        ready.into_iter().chain(held).min()
    }

    fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Enqueues a message (kept in memory when `keep_in_ram`, stored when `stored`);
    /// older messages go first, then this one straight to a consumer if one has room,
    /// before any TTL (even 0) can expire it. Then TTL and length limits apply.
    pub(crate) fn publish(
        &mut self,
        fx: &mut Effects,
        msg: Message,
        keep_in_ram: bool,
        stored: Option<RecordRef>,
    ) {
        let seq = self.next_seq();
        if fx.track {
            fx.enqueued.push((seq, msg.clone()));
        }
        let mut entry = self.entry(seq, msg, stored, false);
        dispatch::run(self, fx);
        if self.messages.is_empty() && !self.consumers.is_empty() && !self.loading {
            match dispatch::offer_one(self, entry, fx) {
                Ok(()) => {
                    self.finish(fx);
                    return;
                }
                Err(back) => entry = back,
            }
        }
        if !keep_in_ram && entry.stored.is_some() {
            entry.msg = None;
        }
        self.messages.push_back(entry);
        self.expire_head(fx);
        self.enforce_limits(fx);
        self.finish(fx);
    }

    /// The queue's entry for a message at position `seq`.
    fn entry(&self, seq: u64, msg: Message, stored: Option<RecordRef>, redelivered: bool) -> Entry {
        Entry {
            seq,
            priority: self.priority(msg.priority()),
            size: msg.body().len() as u32,
            expires_at: expiry::expires_at(&self.settings, msg.published_ms(), msg.ttl_ms()),
            persistent: self.durable && msg.persistent(),
            msg: Some(msg),
            stored,
            redelivered,
        }
    }

    /// Loads messages recovered from the store (paged out, marked redelivered: they may
    /// have been delivered before the restart).
    pub(crate) fn restore(&mut self, fx: &mut Effects, refs: Vec<Restored>) {
        for Restored { at, meta, body_len } in refs {
            let seq = self.next_seq();
            let ttl = (meta.ttl_ms != u64::MAX).then_some(meta.ttl_ms);
            self.messages.push_back(Entry {
                seq,
                msg: None,
                stored: Some(at),
                redelivered: true,
                // Only persistent messages of a durable queue are recovered.
                persistent: self.durable,
                priority: self.priority(meta.priority),
                size: body_len,
                expires_at: expiry::expires_at(&self.settings, meta.published_ms, ttl),
            });
        }
        self.expire_head(fx);
        self.finish(fx);
    }

    /// Takes a promoted mirror's copy as the queue's messages, in their positions; those
    /// delivered before come back marked redelivered.
    pub(crate) fn adopt(&mut self, fx: &mut Effects, copied: Vec<(u64, super::mirror::Copied)>) {
        for (seq, c) in copied {
            self.next_seq = self.next_seq.max(seq + 1);
            let entry = self.entry(seq, c.msg, c.stored, c.delivered);
            self.messages.push_back(entry);
        }
        dispatch::run(self, fx);
        self.expire_head(fx);
        self.enforce_limits(fx);
        self.finish(fx);
    }

    /// `basic.get`: takes the head message, unsettled under `holder` (or settled at once
    /// without one, `no_ack`).
    pub(crate) fn get(&mut self, fx: &mut Effects, holder: Option<Holder>) -> Got {
        self.touch();
        self.expire_head(fx);
        let got = match self.messages.pop_front() {
            None => Got::Empty,
            Some(entry) => match entry.msg.clone() {
                None => {
                    self.messages.push_front(entry);
                    self.request_load(fx);
                    Got::Loading
                }
                Some(msg) => {
                    let (redelivered, seq) = (entry.redelivered, entry.seq);
                    match holder {
                        Some(h) => {
                            if fx.track {
                                fx.delivered.push(seq);
                            }
                            self.in_flight.insert(h, entry.unpinned())
                        }
                        None => fx.release(&entry),
                    }
                    Got::Message {
                        msg,
                        redelivered,
                        seq,
                        remaining: self.messages.len() as u32,
                    }
                }
            },
        };
        self.finish(fx);
        got
    }

    /// Settles deliveries `holder` holds at positions `seqs`; positions no longer
    /// unsettled (the queue was purged of them by a delete, say) are skipped.
    pub(crate) fn settle(&mut self, fx: &mut Effects, holder: Holder, seqs: &[u64], how: Settle) {
        for &seq in seqs {
            let Some(mut e) = self.in_flight.take(holder, seq) else {
                continue;
            };
            match how {
                Settle::Ack => fx.release(&e),
                Settle::Reject => fx.dead.push((e, Reason::Rejected)),
                Settle::Requeue => {
                    e.redelivered = true;
                    self.messages.insert_by_seq(e);
                }
            }
        }
        self.after_return(how == Settle::Requeue, fx);
        self.finish(fx);
    }

    /// `holder` went away (its channel closed, its link broke): everything it held goes
    /// back to its original position, marked redelivered.
    pub(crate) fn holder_gone(&mut self, fx: &mut Effects, holder: Holder) {
        let returned = self.in_flight.take_holder(holder);
        let any = !returned.is_empty();
        for mut e in returned {
            e.redelivered = true;
            self.messages.insert_by_seq(e);
        }
        self.after_return(any, fx);
        self.finish(fx);
    }

    /// Every holder `gone` picks went away (the node they were on is down).
    pub(crate) fn holders_gone(&mut self, fx: &mut Effects, gone: impl Fn(Holder) -> bool) {
        for h in self.in_flight.holders().into_iter().filter(|h| gone(*h)) {
            self.holder_gone(fx, h);
        }
    }

    /// After deliveries were settled: room may have appeared; messages that came back may
    /// be due or over a limit.
    fn after_return(&mut self, requeued: bool, fx: &mut Effects) {
        dispatch::run(self, fx);
        if requeued {
            self.expire_head(fx);
            self.enforce_limits(fx);
        }
    }

    /// Delivers to consumers with room; called when room may have appeared.
    pub(crate) fn dispatch(&mut self, fx: &mut Effects) {
        dispatch::run(self, fx);
        self.expire_head(fx);
        self.finish(fx);
    }

    /// The TTL timer set for `at` went off.
    pub(crate) fn timer_fired(&mut self, fx: &mut Effects, at: Deadline) {
        if self.ttl_timer == Some(at) {
            self.ttl_timer = None;
        }
        self.expire_head(fx);
        self.finish(fx);
    }

    /// Paged-out messages read back (`None`: the record could not be read, and the
    /// message is dropped rather than delivered wrong).
    pub(crate) fn loaded(&mut self, fx: &mut Effects, results: Vec<(Load, Option<Message>)>) {
        self.loading = false;
        for (load, msg) in results {
            match msg {
                Some(m) => {
                    self.messages.update(load.priority, load.seq, |e| {
                        if e.stored == Some(load.at) {
                            e.msg.get_or_insert(m);
                        }
                    });
                }
                None => {
                    if let Some(e) = self.messages.remove(load.priority, load.seq) {
                        fx.release(&e);
                    }
                }
            }
        }
        dispatch::run(self, fx);
        self.expire_head(fx);
        self.finish(fx);
    }

    /// Asks for the paged-out messages at the head to be read back, once at a time.
    pub(super) fn request_load(&mut self, fx: &mut Effects) {
        if self.loading {
            return;
        }
        fx.load.extend(
            self.messages
                .iter()
                .take(LOAD_BATCH)
                .filter(|e| e.msg.is_none())
                .filter_map(|e| {
                    Some(Load {
                        seq: e.seq,
                        priority: e.priority,
                        at: e.stored?,
                    })
                }),
        );
        self.loading = !fx.load.is_empty();
    }

    /// Drops every ready message; returns how many there were.
    pub(crate) fn purge(&mut self, fx: &mut Effects) -> u32 {
        let gone = self.messages.take_all();
        for e in &gone {
            fx.release(e);
        }
        self.finish(fx);
        gone.len() as u32
    }

    /// Subscribes a consumer, unless an exclusive consumer is in the way.
    pub(crate) fn add_consumer(
        &mut self,
        fx: &mut Effects,
        sub: Subscription,
    ) -> Result<(), ExclusiveInUse> {
        let exclusive_in_use = self.consumers.iter().any(|c| c.exclusive)
            || (sub.exclusive
                && (!self.consumers.is_empty() || self.settings.single_active_consumer));
        if exclusive_in_use {
            return Err(ExclusiveInUse);
        }
        // Single active consumer: subscription order decides, not priority.
        let pos = if self.settings.single_active_consumer {
            self.consumers.len()
        } else {
            // Higher priority first; equal priorities keep arrival order.
            self.consumers
                .partition_point(|c| c.priority >= sub.priority)
        };
        self.consumers.insert(pos, sub);
        self.touch();
        self.dispatch(fx);
        Ok(())
    }

    /// Unsubscribes `tag` of `holder`. Also says whether that was the last consumer.
    pub(crate) fn remove_consumer(&mut self, fx: &mut Effects, holder: Holder, tag: &str) -> bool {
        let before = self.consumers.len();
        self.consumers.retain(|c| !c.is(holder, tag));
        if self.next_consumer >= self.consumers.len() {
            self.next_consumer = 0;
        }
        self.touch();
        // The next single active consumer may take over.
        self.dispatch(fx);
        before != self.consumers.len() && self.consumers.is_empty()
    }

    /// The queue is deleted: consumers are cancelled, messages (ready and unsettled)
    /// dropped. Returns how many were ready.
    pub(crate) fn delete(&mut self, fx: &mut Effects) -> u32 {
        fx.cancelled = std::mem::take(&mut self.consumers);
        let ready = self.messages.take_all();
        for e in ready.iter().chain(self.in_flight.take_all().iter()) {
            fx.release(e);
        }
        ready.len() as u32
    }

    /// New effective settings (a policy changed): limits and TTL apply at once.
    pub(crate) fn set_settings(&mut self, fx: &mut Effects, settings: QueueArgs) {
        self.settings = settings;
        self.expire_head(fx);
        self.enforce_limits(fx);
        self.finish(fx);
    }

    /// A message's priority level in this queue (0 without `x-max-priority`).
    fn priority(&self, requested: u8) -> u8 {
        self.settings
            .max_priority
            .map_or(0, |max| requested.min(max))
    }

    /// Moves expired messages at the head out (to the dead-letter exchange, if any): as in
    /// RabbitMQ, messages expire only from the head.
    pub(super) fn expire_head(&mut self, fx: &mut Effects) {
        // Most heads never expire: read the clock only when this one does.
        if self.messages.front().is_none_or(|h| h.expires_at.is_none()) {
            return;
        }
        let now = (self.clock)();
        while self
            .messages
            .front()
            .is_some_and(|h| h.expires_at.is_some_and(|t| t <= now))
        {
            if let Some(e) = self.messages.pop_front() {
                fx.dead.push((e, Reason::Expired));
            }
        }
    }

    /// `x-max-length` / `x-max-length-bytes` with drop-head: the oldest ready messages go
    /// (to the dead-letter exchange, if any) until the queue is within its limits.
    fn enforce_limits(&mut self, fx: &mut Effects) {
        let s = &self.settings;
        if matches!(
            s.overflow,
            Some(Overflow::RejectPublish | Overflow::RejectPublishDlx)
        ) {
            return;
        }
        let (max_len, max_bytes) = (s.max_length, s.max_length_bytes);
        loop {
            let over_count = max_len.is_some_and(|m| self.messages.len() as u64 > m);
            let over_bytes = max_bytes.is_some_and(|m| self.messages.bytes() > m);
            if !(over_count || over_bytes) {
                return;
            }
            match self.messages.pop_front() {
                Some(e) => fx.dead.push((e, Reason::MaxLen)),
                None => return,
            }
        }
    }

    /// Every operation ends here: a timer is asked for when the head will expire before
    /// any timer already set.
    fn finish(&mut self, fx: &mut Effects) {
        if let Some(at) = self.messages.front().and_then(|h| h.expires_at) {
            if self.ttl_timer.is_none_or(|t| t > at) {
                self.ttl_timer = Some(at);
                fx.timer = Some(at);
            }
        }
    }
}
