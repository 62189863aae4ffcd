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
            && self.cancelled.is_empty())
    }

    pub(super) fn release(&mut self, e: &Entry) {
        if let Some(r) = e.stored {
            self.released.push(r);
        }
    }
}
