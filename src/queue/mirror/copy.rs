//! A mirror's side: its copy of the master's messages by position, with whether each may
//! have been delivered (a promotion hands those out again as redeliveries), the master's
//! operations applied to it (stored first, for persistent messages of a durable queue), and
//! whether it holds what the master last counted it synchronised for.

use super::digest::{digest, Digest};
use super::MirrorOp;
use crate::message::Message;
use crate::queue::Queue;
use crate::store::segment::RecordRef;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// How long a copy that is no mirror's is kept for its node's return as a mirror.
const RETIRED_FOR: Duration = Duration::from_secs(60);

/// What a mirror holds: the master's messages by position.
#[derive(Default)]
pub(crate) struct MirrorCopy {
    entries: BTreeMap<u64, Copied>,
    /// The master counted it synchronised since it was last resumed (it sent a trim):
    /// only then may it be promoted. A node that restarts has no copy at all.
    in_sync: bool,
    /// The number of the last resume applied: the same resume again (the master repeats
    /// it until it hears back) changes nothing, even after the trim that followed the
    /// first. A copy lives under one master (a promotion drops the others' copies), whose
    /// resume numbers only grow (a copy kept across a change of master forgets it).
    last_resume: Option<u64>,
    /// Set while the copy is no mirror's (see `Queue::retire_copy`), until a resume adopts
    /// it: which retirement this is.
    retired: Option<u64>,
    retirements: u64,
    /// What this node had stored for the queue before it restarted, by digest: positions
    /// are not stored, so a sync's offer places one wherever the master holds an identical
    /// message. What is left goes with the trim that ends the sync.
    pool: HashMap<Digest, Vec<Copied>>,
    /// A resume came that this node could not take yet (see `Queue::mirror_behind`):
    /// nothing is taken until a resume is.
    behind: bool,
}

pub(crate) struct Copied {
    pub msg: Message,
    pub delivered: bool,
    /// Where this node's store holds it (persistent messages of durable queues).
    pub stored: Option<RecordRef>,
}

impl MirrorCopy {
    /// Keeps `c` at `seq`; returns the stored copy of what was there to release.
    pub(crate) fn insert(&mut self, seq: u64, c: Copied) -> Option<RecordRef> {
        self.entries.insert(seq, c).and_then(|old| old.stored)
    }

    /// Resume `id`: everything held may have left the master meanwhile (unless this
    /// resume was applied already).
    pub(crate) fn resume(&mut self, id: u64) {
        self.retired = None;
        self.behind = false;
        if self.last_resume.replace(id) == Some(id) {
            return;
        }
        self.unprove();
    }

    /// The copy proves nothing until the master counts it synchronised again: it is not
    /// promoted, and what it holds may have been delivered meanwhile.
    fn unprove(&mut self) {
        self.in_sync = false;
        for c in self.entries.values_mut() {
            c.delivered = true;
        }
    }

    /// A resume came that this node cannot take yet: as a resume does, the copy proves
    /// nothing (never promoted, everything marked delivered) until it takes one, and it
    /// takes nothing else meanwhile.
    pub(crate) fn fall_behind(&mut self) {
        self.behind = true;
        self.unprove();
    }

    /// The copy is no mirror's for now: it proves nothing (never promoted, everything
    /// marked delivered) until a master resumes it. Returns the retirement's number.
    pub(crate) fn retire(&mut self) -> u64 {
        self.unprove();
        self.last_resume = None;
        self.retirements += 1;
        self.retired = Some(self.retirements);
        self.retirements
    }

    /// Still retired by retirement `n` (no resume since)?
    pub(crate) fn retired_by(&self, n: u64) -> bool {
        self.retired == Some(n)
    }

    /// Whether the master counted it synchronised since its last resume.
    pub(crate) fn in_sync(&self) -> bool {
        self.in_sync
    }

    /// Removes what is held from before `below` (the master counts this mirror
    /// synchronised); returns the stored copies to release.
    pub(crate) fn trim(&mut self, below: u64) -> Vec<RecordRef> {
        self.in_sync = true;
        let kept = self.entries.split_off(&below);
        let old = std::mem::replace(&mut self.entries, kept);
        let mut released: Vec<RecordRef> = old.into_values().filter_map(|c| c.stored).collect();
        released.extend(self.take_pool());
        released
    }

    /// Adds messages stored before a restart to the pool.
    pub(crate) fn pool(&mut self, stored: Vec<Copied>) {
        for c in stored {
            self.pool.entry(digest(&c.msg)).or_default().push(c);
        }
    }

    /// Empties the pool; returns the stored copies to release.
    pub(crate) fn take_pool(&mut self) -> Vec<RecordRef> {
        let pool = std::mem::take(&mut self.pool).into_values().flatten();
        pool.filter_map(|c| c.stored).collect()
    }

    /// Puts `msgs` in place of what is held at positions `from..to`, keeping the copies
    /// at the positions of `kept` (with the master's delivered flags); returns the stored
    /// copies to release, and whether every kept one was there.
    pub(crate) fn fill(
        &mut self,
        (from, to): (u64, u64),
        msgs: Vec<(u64, Copied)>,
        kept: &[(u64, bool)],
    ) -> (Vec<RecordRef>, bool) {
        let mut range = self.entries.split_off(&from);
        let mut after = range.split_off(&to);
        self.entries.append(&mut after);
        let mut complete = true;
        for (seq, delivered) in kept {
            match range.remove(seq) {
                Some(mut c) => {
                    c.delivered = *delivered;
                    self.entries.insert(*seq, c);
                }
                None => complete = false,
            }
        }
        self.entries.extend(msgs);
        (
            range.into_values().filter_map(|c| c.stored).collect(),
            complete,
        )
    }

    /// The positions among `offered` whose message this copy holds identically: at that
    /// position, or in the pool (it is put there). Also returns the stored copies to
    /// release (stale ones a pooled message replaced).
    pub(crate) fn matching(&mut self, offered: &[(u64, Digest)]) -> (Vec<u64>, Vec<RecordRef>) {
        let (mut matched, mut released) = (Vec::new(), Vec::new());
        for (seq, d) in offered {
            if (self.entries.get(seq)).is_some_and(|c| digest(&c.msg) == *d) {
                matched.push(*seq);
                continue;
            }
            let Some(same) = self.pool.get_mut(d) else {
                continue;
            };
            if let Some(c) = same.pop() {
                released.extend(self.entries.insert(*seq, c).and_then(|old| old.stored));
                matched.push(*seq);
            }
            if same.is_empty() {
                self.pool.remove(d);
            }
        }
        (matched, released)
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

/// What a mirror answers its master, besides which messages it holds.
#[derive(Default)]
pub(crate) struct MirrorAnswers {
    /// The number of the last resume applied.
    pub resumed: Option<u64>,
    /// For each offer (by its first position): the positions held identically.
    pub matched: Vec<(u64, Vec<u64>)>,
}

impl Queue {
    /// On a mirror's node: applies the master's operations to the copy. `held` gets the
    /// positions of the messages that came in, once they are held (on disk, for persistent
    /// messages of a durable queue), or an error when one could not be stored (the copy
    /// is then incomplete: the master must resume it).
    pub(crate) fn mirror_apply(
        &self,
        ops: Vec<MirrorOp>,
        held: Box<dyn FnOnce(Result<Vec<u64>, ()>) + Send>,
    ) -> MirrorAnswers {
        // Operations come from one master in order: none is taken here between a check
        // and the apply below.
        let resumes = matches!(ops.first(), Some(MirrorOp::Resume { .. }));
        if !resumes && self.copy.lock().as_ref().is_some_and(|c| c.behind) {
            held(Err(()));
            return MirrorAnswers::default();
        }
        let durable = self.durable_key();
        // Stored first, outside the copy's lock: a slot for each message an operation brings.
        let mut stored: Vec<Vec<Option<RecordRef>>> = Vec::with_capacity(ops.len());
        let mut failed = false;
        for op in &ops {
            let msgs: Vec<&Message> = match op {
                MirrorOp::Enqueue { msg, .. } => vec![msg],
                MirrorOp::Fill { msgs, .. } => msgs.iter().map(|(_, m, _)| m).collect(),
                _ => Vec::new(),
            };
            let mut slots = Vec::with_capacity(msgs.len());
            for msg in msgs {
                let key = durable.filter(|_| msg.persistent() && !failed);
                slots.push(
                    key.and_then(|key| match self.store.append(msg, &[key], 1, None) {
                        Ok(r) => Some(r),
                        Err(e) => {
                            tracing::error!(
                                "queue '{}': cannot store a mirrored message: {e}",
                                self.name
                            );
                            failed = true;
                            None
                        }
                    }),
                );
            }
            stored.push(slots);
        }
        if failed {
            for r in stored.into_iter().flatten().flatten() {
                self.store.release(r, durable);
            }
            held(Err(()));
            return MirrorAnswers::default();
        }
        let any_stored = stored.iter().flatten().any(Option::is_some);
        let mut positions = Vec::new();
        let mut released = Vec::new();
        let mut answers = MirrorAnswers::default();
        let mut complete = true;
        {
            let mut copy = self.copy.lock();
            let copy = copy.get_or_insert_with(MirrorCopy::default);
            for (op, slots) in ops.into_iter().zip(stored) {
                match op {
                    MirrorOp::Enqueue { seq, msg } => {
                        positions.push(seq);
                        let c = Copied {
                            msg,
                            delivered: false,
                            stored: slots.into_iter().next().flatten(),
                        };
                        released.extend(copy.insert(seq, c));
                    }
                    MirrorOp::Fill {
                        from,
                        to,
                        msgs,
                        kept,
                    } => {
                        positions.extend(kept.iter().map(|(seq, _)| *seq));
                        let copied = (msgs.into_iter().zip(slots))
                            .map(|((seq, msg, delivered), stored)| {
                                positions.push(seq);
                                let c = Copied {
                                    msg,
                                    delivered,
                                    stored,
                                };
                                (seq, c)
                            })
                            .collect();
                        let (old, all_kept) = copy.fill((from, to), copied, &kept);
                        released.extend(old);
                        complete &= all_kept;
                    }
                    MirrorOp::Offer { from, digests, .. } => {
                        let (matched, replaced) = copy.matching(&digests);
                        released.extend(replaced);
                        answers.matched.push((from, matched));
                    }
                    MirrorOp::Delivered { seqs } => copy.delivered(&seqs),
                    MirrorOp::Gone { seqs } => released.extend(copy.gone(&seqs)),
                    MirrorOp::Resume { id } => {
                        copy.resume(id);
                        answers.resumed = Some(id);
                    }
                    MirrorOp::Trim { below } => released.extend(copy.trim(below)),
                }
            }
        }
        self.release_copies(released);
        if !complete {
            // A kept message was not there: the copy lacks what the master counts on.
            held(Err(()));
            return answers;
        }
        if positions.is_empty() {
            return answers;
        }
        if any_stored {
            self.store.after_sync(Box::new(move |ok| {
                held(if ok { Ok(positions) } else { Err(()) })
            }));
        } else {
            held(Ok(positions));
        }
        answers
    }

    /// Resume `id` came before this node had applied the log as far as its master had:
    /// unless the copy took that resume already (the master repeats it until it hears
    /// back), the copy refuses the master's operations (which resumes it again, soon)
    /// until it takes a resume. Whether it refuses.
    pub(crate) fn mirror_behind(&self, id: u64) -> bool {
        let mut copy = self.copy.lock();
        let copy = copy.get_or_insert_with(MirrorCopy::default);
        if copy.last_resume == Some(id) {
            return false;
        }
        copy.fall_behind();
        true
    }

    /// Whether this node's copy holds what the master counted it synchronised for.
    pub(crate) fn mirror_in_sync(&self) -> bool {
        self.copy.lock().as_ref().is_some_and(MirrorCopy::in_sync)
    }

    /// Drops this node's copy (the queue is gone).
    pub(crate) fn drop_copy(&self) {
        self.drop_copy_if(|_| true);
    }

    /// Drops this node's copy if `drop` says so.
    fn drop_copy_if(&self, drop: impl FnOnce(&MirrorCopy) -> bool) {
        let copy = {
            let mut copy = self.copy.lock();
            if !copy.as_ref().is_some_and(drop) {
                return;
            }
            copy.take()
        };
        let Some(mut copy) = copy else { return };
        self.release_copies(copy.take_pool());
        self.release_copies(copy.take_all().into_iter().filter_map(|(_, c)| c.stored));
    }

    /// Releases this node's stored records of copies it no longer keeps.
    pub(super) fn release_copies(&self, stored: impl IntoIterator<Item = RecordRef>) {
        let durable = self.durable_key();
        for r in stored {
            self.store.release(r, durable);
        }
    }

    /// On a restarted node: what it had stored for this queue, homed elsewhere (its
    /// mirror's copy before the restart), read back into the copy's pool, for the master's
    /// next sync to keep what matches. A copy that no master adopts goes after
    /// [`RETIRED_FOR`]. Reads from disk on the blocking pool.
    pub(crate) fn pool_stored(self: &Arc<Self>, refs: Vec<crate::store::messages::Restored>) {
        let q = self.clone();
        let job = move || {
            let durable = q.durable_key();
            let mut stored = Vec::with_capacity(refs.len());
            for r in refs {
                match q.read(r.at) {
                    Some(msg) => stored.push(Copied {
                        msg,
                        delivered: true,
                        stored: Some(r.at),
                    }),
                    None => q.store.release(r.at, durable),
                }
            }
            let n = stored.len();
            let retired = {
                let mut copy = q.copy.lock();
                let copy = copy.get_or_insert_with(MirrorCopy::default);
                copy.pool(stored);
                // Under the lock: a resume (and what follows it) may come any time.
                (copy.last_resume.is_none()).then(|| copy.retire())
            };
            tracing::info!(
                "queue '{}' in vhost '{}': {n} messages stored here before the restart kept for a sync",
                q.name,
                q.vhost
            );
            if let Some(n) = retired {
                q.drop_unless_adopted(n);
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(job)),
            Err(_) => job(),
        }
    }

    /// This node's copy is no mirror's for now: its node left the mirrors, or another
    /// node's mirror became the master. It stays, unproven, for [`RETIRED_FOR`]: should
    /// this node be a mirror again by then, the master's sync keeps what it proves the copy
    /// holds (same position, same digest) instead of sending it all again. Otherwise it
    /// goes.
    pub(crate) fn retire_copy(self: &Arc<Self>) {
        if let Some(n) = self.copy.lock().as_mut().map(MirrorCopy::retire) {
            self.drop_unless_adopted(n);
        }
    }

    /// Drops the copy after [`RETIRED_FOR`] if it is still retired by retirement `n`.
    fn drop_unless_adopted(self: &Arc<Self>, n: u64) {
        let q = Arc::downgrade(self);
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            tokio::time::sleep(RETIRED_FOR).await;
            if let Some(q) = q.upgrade() {
                q.drop_copy_if(|c| c.retired_by(n));
            }
        });
    }
}
