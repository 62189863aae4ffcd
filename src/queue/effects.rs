//! What an operation on a queue's state asks the world to do. The state machine
//! (`state.rs`) decides; the queue (`mod.rs`) carries the effects out: deliveries in
//! order before its lock is released, everything else after.

use super::consumer::{Consumer, Delivery, Subscription};
use super::dead_letter::Reason;
use super::entry::Entry;
use super::expiry::Deadline;
use crate::store::segment::RecordRef;
use smallvec::SmallVec;
use std::sync::Arc;

#[derive(Default)]
pub(crate) struct Effects {
    /// Messages to hand to consumers, in this order.
    pub deliveries: SmallVec<[(Arc<dyn Consumer>, Delivery); 1]>,
    /// Messages leaving for the dead-letter exchange (dropped without one).
    pub dead: Vec<(Entry, Reason)>,
    /// Stored copies the queue no longer needs.
    pub released: SmallVec<[RecordRef; 1]>,
    /// Paged-out messages to read back from the store ([`super::QueueState::loaded`]).
    pub load: Vec<Load>,
    /// A timer to set: the head expires then ([`super::QueueState::timer_fired`]).
    pub timer: Option<Deadline>,
    /// Subscriptions ended by the queue (it was deleted): their consumers are told.
    pub cancelled: Vec<Subscription>,
    /// The queue has mirrors: what the operation did to its messages is noted for them.
    pub track: bool,
    /// Messages that came in (noted with `track`).
    pub enqueued: Vec<(u64, crate::message::Message)>,
    /// Messages handed out to be settled later (noted with `track`).
    pub delivered: Vec<u64>,
    /// Messages that left, other than dead-lettered ones (noted with `track`).
    pub gone: Vec<u64>,
    /// Publisher confirms now due (every mirror holds their message).
    pub confirmed: Vec<crate::store::messages::OnSynced>,
    /// The synchronised mirrors changed: the cluster is told.
    pub synchronised: Option<Vec<String>>,
}

/// A paged-out message to read back: its position and where the store holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Load {
    pub seq: u64,
    pub priority: u8,
    pub at: RecordRef,
}

impl Effects {
    /// Whether anything needs doing once the queue's lock is released.
    pub(crate) fn needs_finishing(&self) -> bool {
        !(self.dead.is_empty()
            && self.released.is_empty()
            && self.load.is_empty()
            && self.timer.is_none()
            && self.cancelled.is_empty()
            && self.confirmed.is_empty()
            && self.synchronised.is_none())
    }

    /// A message leaves the queue (not to the dead-letter exchange).
    pub(super) fn release(&mut self, e: &Entry) {
        if let Some(r) = e.stored {
            self.released.push(r);
        }
        if self.track {
            self.gone.push(e.seq);
        }
    }

    /// What the operation did to the messages, for the mirrors.
    pub(super) fn mirror_ops(&mut self) -> Vec<super::mirror::MirrorOp> {
        use super::mirror::MirrorOp;
        let mut ops: Vec<MirrorOp> = (self.enqueued.drain(..))
            .map(|(seq, msg)| MirrorOp::Enqueue { seq, msg })
            .collect();
        if !self.delivered.is_empty() {
            let seqs = std::mem::take(&mut self.delivered);
            ops.push(MirrorOp::Delivered { seqs });
        }
        let mut gone = std::mem::take(&mut self.gone);
        gone.extend(self.dead.iter().map(|(e, _)| e.seq));
        if !gone.is_empty() {
            ops.push(MirrorOp::Gone { seqs: gone });
        }
        ops
    }
}
