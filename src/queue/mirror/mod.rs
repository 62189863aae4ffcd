//! Mirrored queues, as the queue layer sees them. The master (the queue at its home) sends
//! its mirrors what each operation did to its messages, in order: which came in, which
//! were delivered, which left. A mirror keeps a copy of the messages the master holds,
//! with whether each was delivered, and never delivers itself. Publisher confirms wait
//! until every mirror holds the message (on disk, when persistent in a durable queue).
//!
//! A mirror that may have missed operations (its link dropped, or it refused some) is
//! resumed, not wiped: it keeps what it holds, marked delivered (it may have left the
//! master meanwhile, so a promotion hands it out again as a redelivery), until the master
//! has nothing older left and trims it. While the cluster still counts it synchronised it
//! may be promoted, and its copy then still holds every message it ever confirmed.

mod copy;
mod digest;
mod gate;
mod sync;

pub(crate) use copy::{Copied, MirrorCopy};
#[cfg(test)]
pub(crate) use digest::digest;
pub(crate) use digest::Digest;
pub(crate) use gate::{Gate, Written};
pub(crate) use sync::SyncSettings;

use super::Queue;
use crate::message::Message;
use crate::stats::Stat;
use crate::store::messages::OnSynced;
use crate::store::segment::RecordRef;
use smallvec::SmallVec;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// What an operation did to the master's messages, as its mirrors apply it.
#[derive(Debug, Clone)]
pub(crate) enum MirrorOp {
    /// A message came in at position `seq`.
    Enqueue { seq: u64, msg: Message },
    /// Messages went to consumers that settle them later.
    Delivered { seqs: Vec<u64> },
    /// Messages left the queue (acknowledged, dropped, expired, dead-lettered, purged).
    Gone { seqs: Vec<u64> },
    /// The mirror may have missed operations: what it holds stays, marked delivered. It
    /// answers with the number `id`.
    Resume { id: u64 },
    /// Nothing before position `below` is left at the master.
    Trim { below: u64 },
    /// What the master holds at positions `from..to`, before a sync sends it: position
    /// and digest. The mirror answers which it holds identically.
    Offer {
        from: u64,
        to: u64,
        digests: Vec<(u64, Digest)>,
    },
    /// What the master holds at positions `from..to`, in place of what the mirror holds
    /// there (a sync): position, message, and whether it may have been delivered; and the
    /// positions of `kept`, which the mirror showed it holds identically (after an
    /// `Offer`), with whether each may have been delivered.
    Fill {
        from: u64,
        to: u64,
        msgs: Vec<(u64, Message, bool)>,
        kept: Vec<(u64, bool)>,
    },
}

/// The way from a master to its mirrors (the cluster provides it).
pub(crate) trait MirrorLinks: Send + Sync {
    /// Sends `ops`, in order, to the mirrors of `q` on `nodes`: what passes once they
    /// are written.
    fn send(&self, q: &Queue, nodes: &[String], ops: Vec<MirrorOp>) -> Option<Gate>;
}

/// The master's side: its mirrors and the confirms that wait for them.
pub(crate) struct Mirroring {
    links: std::sync::Arc<dyn MirrorLinks>,
    /// Oldest first.
    nodes: Vec<Mirror>,
    /// Mirrors to tell they may have missed operations, before anything else; sent at
    /// once after a placement, else with the next operations.
    to_resume: Vec<String>,
    resume_now: bool,
    /// Mirrors whose resume is to be sent again until they follow (`retrying` set).
    to_retry: Vec<String>,
    /// The last resume's number.
    resumes: u64,
    /// Confirms waiting for mirrors to hold their message, by position.
    waiting: BTreeMap<u64, Waiting>,
    /// The synchronised mirrors as last reported to the cluster, and whether that may
    /// have changed other than by messages leaving.
    reported: Vec<String>,
    dirty: bool,
    /// A report is on its way to the cluster: the next waits for it, so the cluster takes
    /// them in the order they were made.
    reporting: bool,
    sync_settings: SyncSettings,
    /// Mirrors to sync, not yet under way.
    to_sync: Vec<String>,
    syncs: Vec<sync::Syncing>,
}

/// A mirror as its master sees it.
struct Mirror {
    node: String,
    /// The first position it was sent since it was last resumed: it holds everything the
    /// master holds once no older message is left (and it follows).
    since: u64,
    /// The number of its last resume.
    resume: u64,
    /// It took that resume or a message sent since: it takes this node as master.
    following: bool,
    /// What was sent before `since` stopped waiting for it.
    released: bool,
    /// Its resume is sent again every so often until it follows.
    retrying: bool,
}

/// How often a resume goes again to a mirror that does not follow yet.
const RESUME_AGAIN: std::time::Duration = std::time::Duration::from_millis(500);

struct Waiting {
    nodes: SmallVec<[String; 2]>,
    done: OnSynced,
}

impl Mirroring {
    pub(crate) fn new(links: std::sync::Arc<dyn MirrorLinks>, sync_settings: SyncSettings) -> Self {
        Mirroring {
            links,
            nodes: Vec::new(),
            to_resume: Vec::new(),
            resume_now: false,
            to_retry: Vec::new(),
            resumes: 0,
            waiting: BTreeMap::new(),
            reported: Vec::new(),
            dirty: true,
            reporting: false,
            sync_settings,
            to_sync: Vec::new(),
            syncs: Vec::new(),
        }
    }

    fn mirror(&mut self, node: &str) -> Option<&mut Mirror> {
        self.nodes.iter_mut().find(|m| m.node == node)
    }

    /// Places the mirrors on `nodes`: a new one is resumed from `next_seq` on; a confirm
    /// no longer waits for one that went. Returns the confirms now due.
    pub(crate) fn set_nodes(&mut self, nodes: &[String], next_seq: u64) -> Vec<OnSynced> {
        self.nodes.retain(|m| nodes.contains(&m.node));
        self.to_resume.retain(|n| nodes.contains(n));
        self.stop_syncs(|n| !nodes.iter().any(|m| m == n));
        for n in nodes {
            if self.mirror(n).is_none() {
                self.resumes += 1;
                self.nodes.push(Mirror {
                    node: n.clone(),
                    since: next_seq,
                    resume: self.resumes,
                    following: false,
                    released: false,
                    retrying: true,
                });
                self.to_retry.push(n.clone());
                self.to_resume.push(n.clone());
                self.resume_now = true;
                self.lagging(n);
            }
        }
        self.dirty = true;
        let placed: Vec<String> = self.nodes.iter().map(|m| m.node.clone()).collect();
        let due = self.settle(.., |n| !placed.contains(n));
        tracing::debug!(target: "warren::mirror_trace", "mirrors set to {placed:?} from {next_seq}: {} confirms due", due.len());
        due
    }

    /// The mirrors that hold everything the master holds, given its oldest position.
    pub(crate) fn synchronised(&self, oldest: Option<u64>) -> Vec<String> {
        (self.nodes.iter())
            .filter(|m| m.following && oldest.is_none_or(|o| o >= m.since))
            .map(|m| m.node.clone())
            .collect()
    }

    /// Holds `done` until every mirror has the message at `seq` (given back when there
    /// is none to wait for).
    pub(crate) fn wait(&mut self, seq: u64, done: OnSynced) -> Option<OnSynced> {
        let nodes: SmallVec<[String; 2]> = self.nodes.iter().map(|m| m.node.clone()).collect();
        if nodes.is_empty() {
            return Some(done);
        }
        self.waiting.insert(seq, Waiting { nodes, done });
        None
    }

    /// Mirror `node` holds the messages at `seqs`: the confirms now due. Holding one sent
    /// since it was last resumed shows it follows this node as master.
    pub(crate) fn holds(
        &mut self,
        node: &str,
        seqs: &[u64],
        synchronised: &[String],
    ) -> Vec<OnSynced> {
        self.sync_held(node, seqs);
        if let Some(m) = self.mirror(node) {
            if !m.following && seqs.iter().any(|q| *q >= m.since) {
                m.following = true;
                self.dirty = true;
            }
        }
        let mut due = self.release_proven(synchronised);
        for seq in seqs {
            due.extend(self.settle(*seq..=*seq, |n| n == node));
        }
        due
    }

    /// Mirror `node` took its resume number `resume`: if that is its last, it follows this
    /// node as master. Returns the confirms now due.
    pub(crate) fn resumed(
        &mut self,
        node: &str,
        resume: u64,
        synchronised: &[String],
    ) -> Vec<OnSynced> {
        if let Some(m) = self.mirror(node) {
            if m.resume == resume && !m.following {
                m.following = true;
                self.dirty = true;
            }
        }
        self.release_proven(synchronised)
    }

    /// What waits for mirrors that follow this node as master, and that the cluster
    /// (`synchronised`, as committed) does not count synchronised, stops waiting for them
    /// for what was sent before they were resumed: no promotion can pick them for what
    /// they may lack.
    pub(crate) fn release_proven(&mut self, synchronised: &[String]) -> Vec<OnSynced> {
        let mut due = Vec::new();
        for i in 0..self.nodes.len() {
            let m = &self.nodes[i];
            if !m.following || m.released || synchronised.contains(&m.node) {
                continue;
            }
            let (node, since) = (m.node.clone(), m.since);
            self.nodes[i].released = true;
            let n = due.len();
            due.extend(self.settle(..since, |n| *n == node));
            tracing::debug!(target: "warren::mirror_trace", "mirror on {node} follows from {since}: {} confirms due", due.len() - n);
        }
        due
    }

    /// Mirror `node` is unreachable, or refused operations: it is resumed, and what waits
    /// for it keeps waiting until it follows this node again, or is no longer a mirror.
    pub(crate) fn suspect(&mut self, node: &str, next_seq: u64) {
        self.resumes += 1;
        let resume = self.resumes;
        let Some(m) = self.mirror(node) else {
            return;
        };
        if m.following {
            tracing::info!("mirror on {node} resumes from {next_seq}");
        }
        m.since = next_seq;
        m.resume = resume;
        m.following = false;
        m.released = false;
        if !std::mem::replace(&mut m.retrying, true) {
            self.to_retry.push(node.to_string());
        }
        self.stop_syncs(|n| n == node);
        if !self.to_resume.iter().any(|r| r == node) {
            self.to_resume.push(node.to_string());
        }
        self.dirty = true;
        self.lagging(node);
    }

    /// Sends mirror `node` its last resume again, unless it follows (or went): whether
    /// to try again later.
    pub(crate) fn resume_again(&mut self, node: &str) -> bool {
        let Some(m) = self.mirror(node) else {
            return false;
        };
        if m.following {
            m.retrying = false;
            return false;
        }
        if !self.to_resume.iter().any(|r| r == node) {
            self.to_resume.push(node.to_string());
        }
        self.resume_now = true;
        true
    }

    /// The synchronised mirrors, when they changed since last reported (and the last
    /// report has reached the cluster, see [`Mirroring::reported`]). A mirror newly
    /// synchronised is trimmed of what it kept from before it was last resumed.
    pub(crate) fn report(
        &mut self,
        q: &Queue,
        oldest: impl FnOnce() -> Option<u64>,
    ) -> Option<Vec<String>> {
        if self.reporting || (!self.dirty && self.reported.len() == self.nodes.len()) {
            return None;
        }
        let now = self.synchronised(oldest());
        self.dirty = false;
        if now == self.reported {
            return None;
        }
        for m in &self.nodes {
            if now.contains(&m.node) && !self.reported.contains(&m.node) {
                let trim = vec![MirrorOp::Trim { below: m.since }];
                self.links.send(q, std::slice::from_ref(&m.node), trim);
            }
        }
        tracing::info!(
            "synchronised mirrors now {now:?} (were {:?})",
            self.reported
        );
        self.reported = now.clone();
        self.reporting = true;
        Some(now)
    }

    /// The last report reached the cluster: the next may go.
    pub(crate) fn reported(&mut self) {
        self.reporting = false;
        self.dirty = true;
    }

    /// Stops waiting for the nodes `gone` picks, for the positions in `seqs`: the confirms
    /// now due.
    fn settle(
        &mut self,
        seqs: impl std::ops::RangeBounds<u64>,
        gone: impl Fn(&String) -> bool,
    ) -> Vec<OnSynced> {
        let mut emptied = Vec::new();
        for (seq, w) in self.waiting.range_mut(seqs) {
            w.nodes.retain(|n| !gone(n));
            if w.nodes.is_empty() {
                emptied.push(*seq);
            }
        }
        (emptied.iter())
            .filter_map(|s| self.waiting.remove(s))
            .map(|w| w.done)
            .collect()
    }

    /// Sends `ops` to every mirror, after a resume to those that may have missed some:
    /// what passes once they are written.
    pub(crate) fn send(&mut self, q: &Queue, ops: Vec<MirrorOp>) -> Option<Gate> {
        if ops.is_empty() && !self.resume_now {
            return None;
        }
        self.resume_now = false;
        for node in std::mem::take(&mut self.to_resume) {
            // One that follows took its resume meanwhile: sent again, it would land after
            // the trim that made it synchronised.
            let Some(m) = self.mirror(&node).filter(|m| !m.following) else {
                continue;
            };
            let op = vec![MirrorOp::Resume { id: m.resume }];
            self.links.send(q, std::slice::from_ref(&node), op);
        }
        if ops.is_empty() {
            return None;
        }
        let nodes: Vec<String> = self.nodes.iter().map(|m| m.node.clone()).collect();
        self.links.send(q, &nodes, ops)
    }
}

impl Queue {
    /// Places the mirrors (the replicated metadata says where), `here` being this node. At
    /// the master, `links` reach them; a node that no longer holds a mirror drops its copy.
    pub(crate) fn set_mirrors(
        self: &Arc<Self>,
        nodes: Vec<String>,
        here: &str,
        links: Option<Arc<dyn MirrorLinks>>,
    ) {
        *self.mirrors.lock() = nodes.clone();
        self.synchronised.lock().retain(|n| nodes.contains(n));
        if self.is_remote() {
            if !nodes.iter().any(|n| n == here) {
                self.retire_copy();
            }
            return;
        }
        let links = links.filter(|_| !nodes.is_empty());
        self.mirrored.store(links.is_some(), Ordering::Release);
        self.apply(|st, fx| match links {
            None => {
                if let Some(mut m) = st.mirroring.take() {
                    fx.confirmed.extend(m.set_nodes(&[], 0));
                }
            }
            Some(links) => {
                let next = st.peek_seq();
                let settings = SyncSettings::of(st.settings());
                let m = st
                    .mirroring
                    .get_or_insert_with(|| Mirroring::new(links, settings));
                fx.confirmed.extend(m.set_nodes(&nodes, next));
            }
        });
        self.resume_until_followed();
        self.start_syncs();
    }

    /// At the master: tells the cluster which mirrors hold everything it holds. Reports
    /// go one at a time (two on their way at once could land in either order), the
    /// next once this one is applied.
    pub(crate) fn report_synchronised(self: &Arc<Self>, nodes: Vec<String>) {
        let ticket = self
            .owner
            .upgrade()
            .and_then(|o| o.synchronised(self, nodes));
        let q = Arc::downgrade(self);
        let reported = move || {
            if let Some(q) = q.upgrade() {
                q.apply(|st, _| st.mirroring.as_mut().map(Mirroring::reported));
            }
        };
        match (ticket, tokio::runtime::Handle::try_current()) {
            (Some(t), Ok(rt)) => drop(rt.spawn(async move {
                let _ = t.written().await;
                reported();
            })),
            _ => reported(),
        }
    }

    /// The mirrors that hold everything the master holds, as the cluster knows them.
    pub fn synchronised(&self) -> Vec<String> {
        self.synchronised.lock().clone()
    }

    /// The cluster's word on which mirrors are synchronised; at the master, what waited for
    /// mirrors it no longer counts may go.
    pub(crate) fn set_synchronised(self: &Arc<Self>, nodes: Vec<String>) {
        *self.synchronised.lock() = nodes.clone();
        if !self.is_remote() {
            self.apply(|st, fx| {
                if let Some(m) = &mut st.mirroring {
                    fx.confirmed.extend(m.release_proven(&nodes));
                }
            })
        }
    }

    /// This node's mirror becomes the master (the old master's node is down): its copy
    /// becomes the queue, what was delivered coming back as redelivered; `rest` are the
    /// mirrors left, which are resumed.
    pub(crate) fn become_master(
        self: &Arc<Self>,
        node: &str,
        rest: Vec<String>,
        links: Option<Arc<dyn MirrorLinks>>,
    ) {
        let mut copy = self.copy.lock().take().unwrap_or_default();
        self.release_copies(copy.take_pool());
        let copied = copy.take_all();
        tracing::info!(
            "queue '{}' in vhost '{}': promoted here with {} messages ({:?} to {:?})",
            self.name,
            self.vhost,
            copied.len(),
            copied.first().map(|c| c.0),
            copied.last().map(|c| c.0)
        );
        if tracing::enabled!(target: "warren::mirror_trace", tracing::Level::DEBUG) {
            let bodies: Vec<String> = (copied.iter())
                .map(|(seq, c)| {
                    let b = c.msg.body();
                    format!("{seq}={}", String::from_utf8_lossy(&b[..b.len().min(24)]))
                })
                .collect();
            tracing::debug!(target: "warren::mirror_trace", "promoted mirror copy: {}", bodies.join(" "));
        }
        self.set_home(node.to_string(), None);
        *self.mirrors.lock() = rest.clone();
        self.synchronised.lock().clear();
        let links = links.filter(|_| !rest.is_empty());
        self.mirrored.store(links.is_some(), Ordering::Release);
        self.apply(|st, fx| {
            st.adopt(fx, copied);
            let settings = SyncSettings::of(st.settings());
            st.mirroring = links.map(|l| {
                let mut m = Mirroring::new(l, settings);
                let _ = m.set_nodes(&rest, st.peek_seq());
                m
            });
        });
        self.resume_until_followed();
        self.start_syncs();
        super::expiry::watch_unused(self);
    }

    /// Another node's mirror became the master (`remote` is the way to it). A master here
    /// steps down: its consumers are cancelled and its messages dropped (the new master has
    /// its own copies), and publishes waiting for its mirrors are refused.
    pub(crate) fn rehome(
        self: &Arc<Self>,
        node: &str,
        remote: Option<Arc<dyn super::Home>>,
        rest: Vec<String>,
    ) {
        let was_master = !self.is_remote();
        self.set_home(node.to_string(), remote);
        *self.mirrors.lock() = rest;
        self.synchronised.lock().clear();
        self.mirrored.store(false, Ordering::Release);
        if was_master {
            // Its state goes as a deleted queue's does (consumers told, copies released).
            let mut refused = Vec::new();
            let dropped = self.apply(|st, fx| {
                refused = (st.mirroring.take())
                    .map(|mut m| m.set_nodes(&[], 0))
                    .unwrap_or_default();
                st.delete(fx)
            });
            tracing::info!(
                "queue '{}' in vhost '{}': master now on {node}; {} publishes refused, {dropped} ready messages dropped here",
                self.name,
                self.vhost,
                refused.len()
            );
            for done in refused {
                done(false);
            }
        }
        // A copy here may lack what the old master sent last, or hold what the new master
        // never had: it proves nothing until the new master's sync has compared it.
        self.retire_copy();
    }

    /// At the master: mirror `node` is unreachable, or refused operations.
    /// Its resume goes with the next operations, and again every so often until it
    /// follows (an idle queue sends none).
    pub(crate) fn mirror_suspect(self: &Arc<Self>, node: &str) {
        self.apply(|st, _| {
            let next = st.peek_seq();
            if let Some(m) = &mut st.mirroring {
                m.suspect(node, next);
            }
        });
        self.resume_until_followed();
        self.start_syncs();
    }

    /// Sends their resume again, every so often, to the mirrors resumed since last called,
    /// until each follows.
    fn resume_until_followed(self: &Arc<Self>) {
        let nodes = (self.state.lock().mirroring.as_mut())
            .map(|m| std::mem::take(&mut m.to_retry))
            .unwrap_or_default();
        for node in nodes {
            let q = Arc::downgrade(self);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(RESUME_AGAIN).await;
                    let Some(q) = q.upgrade() else { return };
                    let again = q.apply(|st, _| {
                        (st.mirroring.as_mut()).is_some_and(|m| m.resume_again(&node))
                    });
                    if !again {
                        return;
                    }
                }
            });
        }
    }

    /// At the master: whether publishes wait for mirrors.
    pub(crate) fn is_mirrored(&self) -> bool {
        self.mirrored.load(Ordering::Acquire)
    }

    /// Enqueues a message at a mirrored master; `done` runs once every mirror holds it.
    /// A master deposed since the publish was routed refuses it: its state is going (see
    /// [`Queue::rehome`], which marks the queue remote before it takes the state).
    pub(crate) fn publish_mirrored(
        self: &Arc<Self>,
        msg: Message,
        keep_in_ram: bool,
        stored: Option<RecordRef>,
        done: OnSynced,
    ) {
        let mut deposed = None;
        self.apply(|st, fx| {
            if self.is_remote() {
                deposed = Some(done);
                return;
            }
            st.stats[Stat::Publish as usize] += 1;
            let seq = st.peek_seq();
            st.publish(fx, msg, keep_in_ram, stored);
            let due = match &mut st.mirroring {
                Some(m) => m.wait(seq, done),
                None => Some(done),
            };
            fx.confirmed.extend(due);
        });
        if let Some(done) = deposed {
            self.release_copies(stored);
            done(false);
        }
    }

    /// At the master: mirror `node` holds the messages at `seqs`.
    pub(crate) fn mirror_holds(self: &Arc<Self>, node: &str, seqs: &[u64]) {
        let synchronised = self.synchronised();
        self.apply(|st, fx| {
            if let Some(m) = &mut st.mirroring {
                fx.confirmed.extend(m.holds(node, seqs, &synchronised));
            }
        })
    }

    /// At the master: mirror `node` holds identically the positions `seqs` of the sync
    /// batch offered from `from`.
    pub(crate) fn mirror_matched(self: &Arc<Self>, node: &str, from: u64, seqs: Vec<u64>) {
        self.apply(|st, _| {
            if let Some(m) = &mut st.mirroring {
                m.sync_matched(node, from, seqs);
            }
        })
    }

    /// At the master: mirror `node` took its resume number `resume`.
    pub(crate) fn mirror_resumed(self: &Arc<Self>, node: &str, resume: u64) {
        let synchronised = self.synchronised();
        self.apply(|st, fx| {
            if let Some(m) = &mut st.mirroring {
                fx.confirmed.extend(m.resumed(node, resume, &synchronised));
            }
        })
    }
}
