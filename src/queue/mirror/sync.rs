//! Synchronising a mirror: the master sends it what it held from before the mirror was
//! placed or last resumed, in batches of `ha-sync-batch-size` messages, while the queue
//! goes on (RabbitMQ stops the queue while a mirror syncs; here publishes, deliveries and
//! acks carry on between batches). A batch covers a range of positions and replaces what
//! the mirror held in that range, so stale copies kept from before a resume go too; it is
//! sent under the queue's lock, in order with the other operations, so the mirror's range
//! ends equal to the master's. Once the mirror holds the last batch it counts as holding
//! everything from the start, and is synchronised as soon as it follows.
//!
//! `ha-sync-mode: automatic` syncs every mirror that needs it when it is placed or resumed;
//! otherwise (`manual`, RabbitMQ's default) a mirror syncs only when asked (the `sync`
//! action), or as old messages leave. `cancel_sync` stops what is under way.

use super::digest::digest;
use super::{MirrorOp, Mirroring};
use crate::message::Message;
use crate::queue::args::QueueArgs;
use crate::queue::state::QueueState;
use crate::queue::Queue;
use crate::store::segment::RecordRef;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// RabbitMQ's default `ha-sync-batch-size`.
const DEFAULT_BATCH: u64 = 4096;
/// A batch also ends once its bodies pass this many bytes (at least one message goes), so
/// a batch of large messages stays a bounded buffer.
const BATCH_BYTES: u64 = 16 << 20;
/// How long a batch may go unacknowledged before the sync is given up (the mirror is
/// resumed or removed meanwhile, in all likelihood).
const HELD_WAIT: Duration = Duration::from_secs(30);
/// How often a sync looks again whether its mirror follows yet, and for how long.
const FOLLOW_POLL: Duration = Duration::from_millis(200);
const FOLLOW_WAIT: Duration = Duration::from_secs(60);

/// A sync under way.
pub(super) struct Syncing {
    node: String,
    /// The mirror's resume number when the sync began: a resume since ends it.
    resume: u64,
    /// The first position not yet sent.
    next: u64,
    /// Where the mirror's own copy begins (its `since` when the sync began).
    upto: u64,
    /// The last position of the batch sent, until the mirror holds it.
    awaiting: Option<u64>,
    /// The batch offered, until it goes.
    offer: Option<Offered>,
    /// Messages sent, and messages the mirror kept (it held them identically).
    sent: u64,
    kept: u64,
    woken: Arc<Notify>,
}

/// A batch offered to the mirror: where it ends, and once the mirror answered, the
/// positions it holds identically.
struct Offered {
    to: u64,
    matched: Option<HashSet<u64>>,
}

/// How a queue's mirrors sync, from its policy.
#[derive(Clone, Copy)]
pub(crate) struct SyncSettings {
    automatic: bool,
    batch: usize,
}

impl SyncSettings {
    pub(crate) fn of(settings: &QueueArgs) -> Self {
        let batch = settings.ha_sync_batch_size.unwrap_or(DEFAULT_BATCH).max(1);
        SyncSettings {
            automatic: settings.ha_sync_automatic,
            batch: usize::try_from(batch).unwrap_or(usize::MAX),
        }
    }
}

/// What a sync does next.
enum Step {
    Over,
    /// Waits for the mirror to hold the last batch (`true`), or to follow.
    Wait(Arc<Notify>, bool),
    /// Reads these paged-out messages, then sends the batch up to `to`.
    Batch {
        to: u64,
        read: Vec<(u64, RecordRef)>,
    },
}

impl Mirroring {
    /// New settings; with `automatic` newly set, every mirror that needs it syncs.
    pub(crate) fn configure(&mut self, settings: SyncSettings, oldest: Option<u64>) {
        let was = std::mem::replace(&mut self.sync_settings, settings);
        if settings.automatic && !was.automatic {
            let lagging: Vec<String> = (self.nodes.iter())
                .filter(|m| oldest.is_some_and(|o| o < m.since))
                .map(|m| m.node.clone())
                .collect();
            self.to_sync.extend(lagging);
        }
    }

    /// Mirror `node` was placed or resumed: with `automatic`, it syncs.
    pub(super) fn lagging(&mut self, node: &str) {
        if self.sync_settings.automatic {
            self.to_sync.push(node.to_string());
        }
    }

    /// Syncs every mirror that lacks messages the master holds (given its oldest): how
    /// many.
    pub(crate) fn sync_all(&mut self, oldest: Option<u64>) -> usize {
        let lagging = (self.nodes.iter()).filter(|m| oldest.is_some_and(|o| o < m.since));
        let nodes: Vec<String> = lagging.map(|m| m.node.clone()).collect();
        let n = nodes.len();
        self.to_sync.extend(nodes);
        n
    }

    /// Stops every sync under way: how many.
    pub(crate) fn cancel_syncs(&mut self) -> usize {
        self.to_sync.clear();
        self.stop_syncs(|_| true)
    }

    /// Registers the syncs asked for and not yet under way (one begun before the mirror's
    /// last resume is over); returns their mirrors, with the resume each began at.
    fn begin_syncs(&mut self) -> Vec<(String, u64)> {
        let mut begun = Vec::new();
        for node in std::mem::take(&mut self.to_sync) {
            let Some(m) = self.nodes.iter().find(|m| m.node == node) else {
                continue;
            };
            let (resume, upto) = (m.resume, m.since);
            if self
                .syncs
                .iter()
                .any(|s| s.node == node && s.resume == resume)
            {
                continue;
            }
            self.stop_syncs(|n| n == node);
            self.syncs.push(Syncing {
                node: node.clone(),
                resume,
                next: 0,
                upto,
                awaiting: None,
                offer: None,
                sent: 0,
                kept: 0,
                woken: Arc::new(Notify::new()),
            });
            begun.push((node, resume));
        }
        begun
    }

    /// Ends the syncs of the mirrors `which` picks; their tasks wake to find them gone.
    pub(super) fn stop_syncs(&mut self, which: impl Fn(&str) -> bool) -> usize {
        let before = self.syncs.len();
        self.syncs.retain(|s| {
            let stop = which(&s.node);
            if stop {
                s.woken.notify_one();
            }
            !stop
        });
        before - self.syncs.len()
    }

    /// Mirror `node` holds `seqs`: a sync waiting for them goes on.
    pub(super) fn sync_held(&mut self, node: &str, seqs: &[u64]) {
        let s = self.syncs.iter_mut().find(|s| s.node == node);
        if let Some(s) = s.filter(|s| s.awaiting.is_some_and(|a| seqs.contains(&a))) {
            s.awaiting = None;
            s.woken.notify_one();
        }
    }

    /// Mirror `node` holds identically the positions `seqs` of the batch offered from
    /// `from`: the sync sends it the rest.
    pub(super) fn sync_matched(&mut self, node: &str, from: u64, seqs: Vec<u64>) {
        let s = self
            .syncs
            .iter_mut()
            .find(|s| s.node == node && s.next == from);
        let Some(s) = s else { return };
        if let Some(o) = s.offer.as_mut().filter(|o| o.matched.is_none()) {
            o.matched = Some(seqs.into_iter().collect());
            s.woken.notify_one();
        }
    }

    fn end_sync(&mut self, node: &str, resume: u64) {
        self.syncs.retain(|s| s.node != node || s.resume != resume);
    }

    /// The sync of `node` begun at its resume `resume`, if it is still on (the mirror not
    /// resumed since).
    fn current_sync(
        &mut self,
        node: &str,
        resume: u64,
    ) -> Option<(&mut Syncing, &mut super::Mirror)> {
        let m = self
            .nodes
            .iter_mut()
            .find(|m| m.node == node && m.resume == resume)?;
        let s = self
            .syncs
            .iter_mut()
            .find(|s| s.node == node && s.resume == resume)?;
        Some((s, m))
    }
}

impl QueueState {
    /// The messages held at positions `from..to`, ready or delivered, in position order
    /// (at most `max`), with whether each may have been delivered.
    fn held_between(
        &self,
        from: u64,
        to: u64,
        max: usize,
    ) -> Vec<(&crate::queue::entry::Entry, bool)> {
        let ready = self.messages.between(from, to).map(|e| (e, e.redelivered));
        let out = self.in_flight.between(from, to).map(|e| (e, true));
        let mut all: Vec<_> = ready.chain(out).collect();
        all.sort_unstable_by_key(|(e, _)| e.seq);
        all.truncate(max);
        all
    }

    fn sync_step(&mut self, node: &str, resume: u64) -> Step {
        let Some(mut m) = self.mirroring.take() else {
            return Step::Over;
        };
        let step = self.plan_sync(&mut m, node, resume);
        self.mirroring = Some(m);
        step
    }

    fn plan_sync(&self, mirroring: &mut Mirroring, node: &str, resume: u64) -> Step {
        let batch = mirroring.sync_settings.batch;
        let Some((s, m)) = mirroring.current_sync(node, resume) else {
            mirroring.end_sync(node, resume);
            return Step::Over;
        };
        if s.awaiting.is_some() {
            return Step::Wait(s.woken.clone(), true);
        }
        if !m.following {
            return Step::Wait(s.woken.clone(), false);
        }
        if let Some(o) = &s.offer {
            let Some(matched) = &o.matched else {
                return Step::Wait(s.woken.clone(), true);
            };
            // The offered batch goes with what the mirror lacks: only that is read.
            let read = (self.held_between(s.next, o.to, usize::MAX).iter())
                .filter(|(e, _)| e.msg.is_none() && !matched.contains(&e.seq))
                .filter_map(|(e, _)| Some((e.seq, e.stored?)))
                .collect();
            return Step::Batch { to: o.to, read };
        }
        let mut held = self.held_between(s.next, s.upto, batch);
        let mut bytes = 0;
        let full = held.len() == batch;
        let within = held.iter().take_while(|(e, _)| {
            bytes += u64::from(e.size);
            bytes <= BATCH_BYTES
        });
        let fits = within.count().max(1);
        let cut = fits < held.len();
        held.truncate(fits);
        if held.is_empty() {
            // It holds everything the master holds from the start.
            tracing::info!(
                "mirror on {node} synchronised up to {}: {} messages sent, {} it held kept",
                s.upto,
                s.sent,
                s.kept
            );
            m.since = 0;
            mirroring.dirty = true;
            mirroring.end_sync(node, resume);
            return Step::Over;
        }
        let to = match held.last() {
            Some((last, _)) if full || cut => last.seq + 1,
            _ => s.upto,
        };
        let read = (held.iter())
            .filter(|(e, _)| e.msg.is_none())
            .filter_map(|(e, _)| Some((e.seq, e.stored?)))
            .collect();
        Step::Batch { to, read }
    }

    /// The batch `..to` of the sync of `node` (the paged-out messages in it `read` back)
    /// and the way to its mirror; none when the sync is over (cancelled, the mirror
    /// resumed, or a message unreadable).
    fn sync_batch(
        &mut self,
        (node, resume): (&str, u64),
        to: u64,
        read: &HashMap<u64, Message>,
    ) -> Option<(MirrorOp, Arc<dyn super::MirrorLinks>)> {
        let mut mirroring = self.mirroring.take()?;
        let batch = self.fill(&mut mirroring, (node, resume), to, read);
        if batch.is_none() {
            mirroring.end_sync(node, resume);
        }
        let links = mirroring.links.clone();
        self.mirroring = Some(mirroring);
        Some((batch?, links))
    }

    /// The next message of the sync: the batch `..to` offered (positions and digests),
    /// or, once the mirror said which of them it holds, sent without those.
    fn fill(
        &self,
        mirroring: &mut Mirroring,
        (node, resume): (&str, u64),
        to: u64,
        read: &HashMap<u64, Message>,
    ) -> Option<MirrorOp> {
        let (s, _) = mirroring.current_sync(node, resume)?;
        let from = s.next;
        let held = self.held_between(from, to, usize::MAX);
        let Some(offered) = s.offer.take() else {
            let mut digests = Vec::with_capacity(held.len());
            for (e, _) in held {
                let msg = e.msg.as_ref().or_else(|| read.get(&e.seq))?;
                digests.push((e.seq, digest(msg)));
            }
            s.offer = Some(Offered { to, matched: None });
            return Some(MirrorOp::Offer { from, to, digests });
        };
        let matched = offered.matched.unwrap_or_default();
        let (mut msgs, mut kept) = (Vec::new(), Vec::new());
        for (e, delivered) in held {
            if matched.contains(&e.seq) {
                kept.push((e.seq, delivered));
                continue;
            }
            let msg = e.msg.clone().or_else(|| read.get(&e.seq).cloned())?;
            msgs.push((e.seq, msg, delivered));
        }
        s.next = to;
        s.sent += msgs.len() as u64;
        s.kept += kept.len() as u64;
        let last_sent = msgs.last().map(|(seq, _, _)| *seq);
        s.awaiting = last_sent.max(kept.last().map(|(seq, _)| *seq));
        Some(MirrorOp::Fill {
            from,
            to,
            msgs,
            kept,
        })
    }
}

impl Queue {
    /// `sync` (at the master): every mirror lacking messages the master holds syncs; how
    /// many.
    pub(crate) fn sync_mirrors(self: &Arc<Self>) -> usize {
        let n = self.apply(|st, _| {
            let oldest = st.oldest_seq();
            st.mirroring.as_mut().map_or(0, |m| m.sync_all(oldest))
        });
        self.start_syncs();
        n
    }

    /// `cancel_sync` (at the master): how many syncs stopped.
    pub(crate) fn cancel_sync(self: &Arc<Self>) -> usize {
        self.apply(|st, _| st.mirroring.as_mut().map_or(0, Mirroring::cancel_syncs))
    }

    /// Starts the syncs asked for since last called.
    pub(in crate::queue) fn start_syncs(self: &Arc<Self>) {
        let begun = {
            let mut st = self.state.lock();
            st.mirroring
                .as_mut()
                .map(Mirroring::begin_syncs)
                .unwrap_or_default()
        };
        for (node, resume) in begun {
            tracing::info!(
                "queue '{}' in vhost '{}': synchronising the mirror on {node}",
                self.name,
                self.vhost
            );
            tokio::spawn(self.clone().run_sync(node, resume));
        }
    }

    async fn run_sync(self: Arc<Self>, node: String, resume: u64) {
        let began = Instant::now();
        loop {
            let step = self.apply(|st, _| st.sync_step(&node, resume));
            match step {
                Step::Over => return,
                Step::Wait(woken, held) => {
                    let limit = if held { HELD_WAIT } else { FOLLOW_POLL };
                    let timed_out = tokio::time::timeout(limit, woken.notified()).await.is_err();
                    if timed_out && (held || began.elapsed() > FOLLOW_WAIT) {
                        tracing::warn!(
                            "queue '{}': the sync of the mirror on {node} gave up waiting for it",
                            self.name
                        );
                        let end = |m: &mut Mirroring| m.end_sync(&node, resume);
                        self.apply(|st, _| st.mirroring.as_mut().map(end));
                        return;
                    }
                }
                Step::Batch { to, read } => {
                    let q = self.clone();
                    let loaded = tokio::task::spawn_blocking(move || {
                        (read.into_iter())
                            .filter_map(|(seq, at)| Some((seq, q.read(at)?)))
                            .collect::<HashMap<u64, Message>>()
                    });
                    let Ok(loaded) = loaded.await else { return };
                    // Sent under the queue's lock: in order with the other operations.
                    let sent =
                        self.apply(|st, _| match st.sync_batch((&node, resume), to, &loaded) {
                            Some((batch, links)) => {
                                links.send(&self, std::slice::from_ref(&node), vec![batch]);
                                true
                            }
                            None => false,
                        });
                    if !sent {
                        return;
                    }
                }
            }
        }
    }
}
