//! A mirror's side: its copy of the master's messages by position, with whether each may
//! have been delivered (a promotion hands those out again as redeliveries), the master's
//! operations applied to it (stored first, for persistent messages of a durable queue), and
//! whether it holds what the master last counted it synchronised for.

use super::MirrorOp;
use crate::message::Message;
use crate::queue::Queue;
use crate::store::segment::RecordRef;
use std::collections::BTreeMap;

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
    /// resume numbers only grow.
    last_resume: Option<u64>,
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
        if self.last_resume.replace(id) == Some(id) {
            return;
        }
        self.in_sync = false;
        for c in self.entries.values_mut() {
            c.delivered = true;
        }
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
        old.into_values().filter_map(|c| c.stored).collect()
    }

    /// Puts `msgs` in place of what is held at positions `from..to`; returns the stored
    /// copies to release.
    pub(crate) fn fill(&mut self, from: u64, to: u64, msgs: Vec<(u64, Copied)>) -> Vec<RecordRef> {
        let mut tail = self.entries.split_off(&from);
        let mut after = tail.split_off(&to);
        self.entries.append(&mut after);
        self.entries.extend(msgs);
        tail.into_values().filter_map(|c| c.stored).collect()
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
    /// On a mirror's node: applies the master's operations to the copy. `held` gets the
    /// positions of the messages that came in, once they are held (on disk, for persistent
    /// messages of a durable queue), or an error when one could not be stored (the copy
    /// is then incomplete: the master must resume it). Returns the number of the last
    /// resume applied.
    pub(crate) fn mirror_apply(
        &self,
        ops: Vec<MirrorOp>,
        held: Box<dyn FnOnce(Result<Vec<u64>, ()>) + Send>,
    ) -> Option<u64> {
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
            return None;
        }
        let any_stored = stored.iter().flatten().any(Option::is_some);
        let mut positions = Vec::new();
        let mut released = Vec::new();
        let mut resumed = None;
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
                    MirrorOp::Fill { from, to, msgs } => {
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
                        released.extend(copy.fill(from, to, copied));
                    }
                    MirrorOp::Delivered { seqs } => copy.delivered(&seqs),
                    MirrorOp::Gone { seqs } => released.extend(copy.gone(&seqs)),
                    MirrorOp::Resume { id } => {
                        copy.resume(id);
                        resumed = Some(id);
                    }
                    MirrorOp::Trim { below } => released.extend(copy.trim(below)),
                }
            }
        }
        for r in released {
            self.store.release(r, durable);
        }
        if positions.is_empty() {
            return resumed;
        }
        if any_stored {
            self.store.after_sync(Box::new(move |ok| {
                held(if ok { Ok(positions) } else { Err(()) })
            }));
        } else {
            held(Ok(positions));
        }
        resumed
    }

    /// Whether this node's copy holds what the master counted it synchronised for.
    pub(crate) fn mirror_in_sync(&self) -> bool {
        self.copy.lock().as_ref().is_some_and(MirrorCopy::in_sync)
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
