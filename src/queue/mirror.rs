//! Mirrored queues, as the queue layer sees them. The master (the queue at its home) sends
//! its mirrors what each operation did to its messages, in order: which came in, which
//! were delivered, which left. A mirror keeps a copy of the messages the master holds,
//! with whether each was delivered, and never delivers itself. Publisher confirms wait
//! until every mirror holds the message (on disk, when persistent in a durable queue).

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
    /// The mirror starts over: what it holds may have missed operations.
    Reset,
}

/// The way from a master to its mirrors (the cluster provides it).
pub(crate) trait MirrorLinks: Send + Sync {
    /// Sends `ops`, in order, to the mirrors of `q` on `nodes`.
    fn send(&self, q: &Queue, nodes: &[String], ops: Vec<MirrorOp>);
}

/// The master's side: its mirrors and the confirms that wait for them.
pub(crate) struct Mirroring {
    links: std::sync::Arc<dyn MirrorLinks>,
    /// Each mirror's node and the first position it was sent: it holds everything the
    /// master holds once no older message is left.
    nodes: Vec<(String, u64)>,
    /// Mirrors to tell to start over before anything else.
    to_reset: Vec<String>,
    /// Mirrors that took operations since they started over, while older ones still wait.
    proven: Vec<String>,
    /// Confirms waiting for mirrors to hold their message, by position.
    waiting: BTreeMap<u64, Waiting>,
    /// The synchronised mirrors as last reported to the cluster, and whether that may
    /// have changed other than by messages leaving.
    reported: Vec<String>,
    dirty: bool,
}

struct Waiting {
    nodes: SmallVec<[String; 2]>,
    done: OnSynced,
}

impl Mirroring {
    pub(crate) fn new(links: std::sync::Arc<dyn MirrorLinks>) -> Self {
        Mirroring {
            links,
            nodes: Vec::new(),
            to_reset: Vec::new(),
            proven: Vec::new(),
            waiting: BTreeMap::new(),
            reported: Vec::new(),
            dirty: true,
        }
    }

    /// Places the mirrors on `nodes`: a new one is sent what comes from `next_seq` on; a
    /// confirm no longer waits for one that went. Returns the confirms now due.
    pub(crate) fn set_nodes(&mut self, nodes: &[String], next_seq: u64) -> Vec<OnSynced> {
        self.nodes.retain(|(n, _)| nodes.contains(n));
        self.to_reset.retain(|n| nodes.contains(n));
        for n in nodes {
            if !self.nodes.iter().any(|(m, _)| m == n) {
                self.nodes.push((n.clone(), next_seq));
                self.to_reset.push(n.clone());
            }
        }
        self.dirty = true;
        let placed: Vec<String> = self.nodes.iter().map(|(n, _)| n.clone()).collect();
        self.settle(.., |n| !placed.contains(n))
    }

    /// The mirrors that hold everything the master holds, given its oldest position.
    pub(crate) fn synchronised(&self, oldest: Option<u64>) -> Vec<String> {
        (self.nodes.iter())
            .filter(|(_, since)| oldest.is_none_or(|o| o >= *since))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Holds `done` until every mirror has the message at `seq` (given back when there
    /// is none to wait for).
    pub(crate) fn wait(&mut self, seq: u64, done: OnSynced) -> Option<OnSynced> {
        let nodes: SmallVec<[String; 2]> = self.nodes.iter().map(|(n, _)| n.clone()).collect();
        if nodes.is_empty() {
            return Some(done);
        }
        self.waiting.insert(seq, Waiting { nodes, done });
        None
    }

    /// Mirror `node` holds the messages at `seqs`: the confirms now due. Holding one sent
    /// since it last started over proves it takes this node as the master: what was sent
    /// before no longer waits for it, once the cluster no longer counts it synchronised
    /// (`synchronised`, as committed), so no promotion can pick it for what it lacks.
    pub(crate) fn holds(
        &mut self,
        node: &str,
        seqs: &[u64],
        synchronised: &[String],
    ) -> Vec<OnSynced> {
        let since = self.nodes.iter().find(|(n, _)| n == node).map(|(_, s)| *s);
        let proof = since.is_some_and(|s| seqs.iter().any(|q| *q >= s));
        if proof && !self.proven.iter().any(|n| n == node) {
            self.proven.push(node.to_string());
        }
        let mut due = self.release_proven(synchronised);
        due.extend(self.holds_only(node, seqs));
        due
    }

    /// What waits for mirrors that proved they take this node as master, and that the
    /// cluster does not count synchronised, stops waiting for them.
    pub(crate) fn release_proven(&mut self, synchronised: &[String]) -> Vec<OnSynced> {
        let mut due = Vec::new();
        let proven = std::mem::take(&mut self.proven);
        for node in proven {
            let since = self.nodes.iter().find(|(n, _)| *n == node).map(|(_, s)| *s);
            match since {
                Some(since) if !synchronised.contains(&node) => {
                    due.extend(self.settle(..since, |n| *n == node));
                }
                Some(_) => self.proven.push(node),
                None => {}
            }
        }
        due
    }

    fn holds_only(&mut self, node: &str, seqs: &[u64]) -> Vec<OnSynced> {
        let mut due = Vec::new();
        for seq in seqs {
            due.extend(self.settle(*seq..=*seq, |n| n == node));
        }
        due
    }

    /// Mirror `node` is unreachable, or refused operations: it starts over, and what waits
    /// for it keeps waiting until it takes operations from here again or is no longer a
    /// mirror.
    pub(crate) fn suspect(&mut self, node: &str, next_seq: u64) {
        tracing::info!("mirror on {node} starts over from {next_seq}");
        self.proven.retain(|n| n != node);
        for (n, since) in &mut self.nodes {
            if n == node {
                *since = next_seq;
                if !self.to_reset.iter().any(|r| r == node) {
                    self.to_reset.push(n.clone());
                }
            }
        }
        self.dirty = true;
    }

    /// The synchronised mirrors, when they changed since last reported.
    pub(crate) fn report(&mut self, oldest: impl FnOnce() -> Option<u64>) -> Option<Vec<String>> {
        if !self.dirty && self.reported.len() == self.nodes.len() {
            return None;
        }
        let now = self.synchronised(oldest());
        self.dirty = false;
        if now == self.reported {
            return None;
        }
        tracing::info!(
            "synchronised mirrors now {now:?} (were {:?})",
            self.reported
        );
        self.reported = now.clone();
        Some(now)
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

    /// Sends `ops` to every mirror (after a reset, to those that start over).
    pub(crate) fn send(&mut self, q: &Queue, ops: Vec<MirrorOp>) {
        if ops.is_empty() {
            return;
        }
        if !self.to_reset.is_empty() {
            let reset = std::mem::take(&mut self.to_reset);
            self.links.send(q, &reset, vec![MirrorOp::Reset]);
        }
        let nodes: Vec<String> = self.nodes.iter().map(|(n, _)| n.clone()).collect();
        self.links.send(q, &nodes, ops);
    }
}

/// What a mirror holds: the master's messages by position.
#[derive(Default)]
pub(crate) struct MirrorCopy {
    entries: BTreeMap<u64, Copied>,
}

pub(crate) struct Copied {
    pub msg: Message,
    pub delivered: bool,
    /// Where this node's store holds it (persistent messages of durable queues).
    pub stored: Option<RecordRef>,
}

impl MirrorCopy {
    pub(crate) fn insert(&mut self, seq: u64, c: Copied) {
        self.entries.insert(seq, c);
    }

    pub(crate) fn delivered(&mut self, seqs: &[u64]) {
        for s in seqs {
            if let Some(c) = self.entries.get_mut(s) {
                c.delivered = true;
            }
        }
    }

    /// Removes the messages at `seqs`; returns the stored copies to release.
    pub(crate) fn gone(&mut self, seqs: &[u64]) -> Vec<RecordRef> {
        let removed = seqs.iter().filter_map(|s| self.entries.remove(s));
        removed.filter_map(|c| c.stored).collect()
    }

    /// Everything, oldest first (for a promotion, or to release it all).
    pub(crate) fn take_all(&mut self) -> Vec<(u64, Copied)> {
        std::mem::take(&mut self.entries).into_iter().collect()
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
                self.drop_copy();
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
                let m = st.mirroring.get_or_insert_with(|| Mirroring::new(links));
                fx.confirmed.extend(m.set_nodes(&nodes, next));
            }
        });
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
    /// mirrors left, which start over.
    pub(crate) fn become_master(
        self: &Arc<Self>,
        node: &str,
        rest: Vec<String>,
        links: Option<Arc<dyn MirrorLinks>>,
    ) {
        let copied = self.copy.lock().take().unwrap_or_default().take_all();
        tracing::info!(
            "queue '{}' in vhost '{}': promoted here with {} messages ({:?} to {:?})",
            self.name,
            self.vhost,
            copied.len(),
            copied.first().map(|c| c.0),
            copied.last().map(|c| c.0)
        );
        self.set_home(node.to_string(), None);
        *self.mirrors.lock() = rest.clone();
        self.synchronised.lock().clear();
        let links = links.filter(|_| !rest.is_empty());
        self.mirrored.store(links.is_some(), Ordering::Release);
        self.apply(|st, fx| {
            st.adopt(fx, copied);
            st.mirroring = links.map(|l| {
                let mut m = Mirroring::new(l);
                let _ = m.set_nodes(&rest, st.peek_seq());
                m
            });
        });
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
        // A copy here missed what the old master sent last: the new master resets it.
        self.drop_copy();
    }

    /// At the master: mirror `node` is unreachable, or refused operations.
    pub(crate) fn mirror_suspect(self: &Arc<Self>, node: &str) {
        self.apply(|st, _| {
            let next = st.peek_seq();
            if let Some(m) = &mut st.mirroring {
                m.suspect(node, next);
            }
        })
    }

    /// At the master: whether publishes wait for mirrors.
    pub(crate) fn is_mirrored(&self) -> bool {
        self.mirrored.load(Ordering::Acquire)
    }

    /// Enqueues a message at a mirrored master; `done` runs once every mirror holds it.
    pub(crate) fn publish_mirrored(
        self: &Arc<Self>,
        msg: Message,
        keep_in_ram: bool,
        stored: Option<RecordRef>,
        done: OnSynced,
    ) {
        self.apply(|st, fx| {
            st.stats[Stat::Publish as usize] += 1;
            let seq = st.peek_seq();
            st.publish(fx, msg, keep_in_ram, stored);
            let due = match &mut st.mirroring {
                Some(m) => m.wait(seq, done),
                None => Some(done),
            };
            fx.confirmed.extend(due);
        })
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

    /// On a mirror's node: applies the master's operations to the copy. `held` gets the
    /// positions of the messages that came in, once they are held (on disk, for persistent
    /// messages of a durable queue), or an error when one could not be stored (the copy
    /// is then incomplete: the master must reset it).
    pub(crate) fn mirror_apply(
        &self,
        ops: Vec<MirrorOp>,
        held: Box<dyn FnOnce(Result<Vec<u64>, ()>) + Send>,
    ) {
        let durable = self.durable_key();
        // Stored first, outside the copy's lock.
        let mut stored = Vec::with_capacity(ops.len());
        for op in &ops {
            let at = match op {
                MirrorOp::Enqueue { msg, .. } => match durable.filter(|_| msg.persistent()) {
                    Some(key) => match self.store.append(msg, &[key], 1, None) {
                        Ok(r) => Some(Ok(r)),
                        Err(e) => {
                            tracing::error!(
                                "queue '{}': cannot store a mirrored message: {e}",
                                self.name
                            );
                            Some(Err(()))
                        }
                    },
                    None => None,
                },
                _ => None,
            };
            stored.push(at);
        }
        if stored.iter().any(|s| matches!(s, Some(Err(())))) {
            for r in stored.into_iter().flatten().flatten() {
                self.store.release(r, durable);
            }
            return held(Err(()));
        }
        let mut positions = Vec::new();
        let mut released = Vec::new();
        {
            let mut copy = self.copy.lock();
            let copy = copy.get_or_insert_with(MirrorCopy::default);
            for (op, at) in ops.into_iter().zip(stored.iter().copied()) {
                match op {
                    MirrorOp::Enqueue { seq, msg } => {
                        let Ok(stored) = at.transpose() else {
                            continue;
                        };
                        positions.push(seq);
                        let c = Copied {
                            msg,
                            delivered: false,
                            stored,
                        };
                        copy.insert(seq, c);
                    }
                    MirrorOp::Delivered { seqs } => copy.delivered(&seqs),
                    MirrorOp::Gone { seqs } => released.extend(copy.gone(&seqs)),
                    MirrorOp::Reset => {
                        released.extend(copy.take_all().into_iter().filter_map(|(_, c)| c.stored));
                    }
                }
            }
        }
        for r in released {
            self.store.release(r, durable);
        }
        if positions.is_empty() {
            return;
        }
        if stored.iter().any(|s| matches!(s, Some(Ok(_)))) {
            self.store.after_sync(Box::new(move |ok| {
                held(if ok { Ok(positions) } else { Err(()) })
            }));
        } else {
            held(Ok(positions));
        }
    }

    /// Drops this node's copy (it no longer holds a mirror, or the queue is gone).
    pub(crate) fn drop_copy(&self) {
        let Some(mut copy) = self.copy.lock().take() else {
            return;
        };
        let durable = self.durable_key();
        for (_, c) in copy.take_all() {
            if let Some(r) = c.stored {
                self.store.release(r, durable);
            }
        }
    }
}
