//! Putting a routed message into its queues, shared by client publishes and dead-lettering:
//! length limits that refuse it, the store for persistent messages bound for durable queues
//! (and for any message when memory is short), and when its confirm may be sent.

use super::Broker;
use crate::message::Message;
use crate::queue::{Overflow, Queue};
use crate::store::messages::OnSynced;
use smallvec::SmallVec;
use std::sync::Arc;

type Targets<'a> = SmallVec<[&'a Arc<Queue>; 4]>;

/// When the publisher's confirm can go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Confirm {
    /// Now, positive.
    AckNow,
    /// Now, negative: a queue refused it (`x-overflow: reject-publish`) or it could not be
    /// stored.
    NackNow,
    /// The store runs the callback once the message is on disk.
    Deferred,
}

/// Enqueues `msg` in `queues` (already routed and deduplicated). A queue whose home is
/// another node gets it over the link; the confirm then waits for every home.
pub(crate) fn enqueue(
    broker: &Broker,
    msg: Message,
    queues: &[Arc<Queue>],
    on_synced: Option<OnSynced>,
) -> Confirm {
    if queues.iter().all(|q| !q.is_remote()) {
        return enqueue_here(broker, msg, queues, on_synced);
    }
    let (remote, local): (Vec<Arc<Queue>>, Vec<Arc<Queue>>) =
        queues.iter().cloned().partition(|q| q.is_remote());
    let Some(done) = on_synced else {
        for q in &remote {
            q.publish(msg.clone(), true, None);
        }
        return enqueue_here(broker, msg, &local, None);
    };
    let joint = Joint::new(remote.len() + 1, done);
    for q in &remote {
        if let Some(home) = q.remote() {
            home.publish(q, msg.clone(), Some(joint.part()));
        }
    }
    match enqueue_here(broker, msg, &local, Some(joint.part())) {
        Confirm::AckNow => joint.settle(true),
        Confirm::NackNow => joint.settle(false),
        Confirm::Deferred => {}
    }
    Confirm::Deferred
}

/// One confirm made of several parts (this node's store, each remote home): positive once
/// every part is, negative if any is not.
pub(crate) struct Joint {
    left: std::sync::atomic::AtomicUsize,
    ok: std::sync::atomic::AtomicBool,
    done: parking_lot::Mutex<Option<OnSynced>>,
}

impl Joint {
    pub(crate) fn new(parts: usize, done: OnSynced) -> Arc<Joint> {
        Arc::new(Joint {
            left: parts.into(),
            ok: true.into(),
            done: parking_lot::Mutex::new(Some(done)),
        })
    }

    pub(crate) fn part(self: &Arc<Self>) -> OnSynced {
        let joint = self.clone();
        Box::new(move |ok| joint.settle(ok))
    }

    pub(crate) fn settle(&self, ok: bool) {
        use std::sync::atomic::Ordering;
        if !ok {
            self.ok.store(false, Ordering::Release);
        }
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            if let Some(done) = self.done.lock().take() {
                done(self.ok.load(Ordering::Acquire));
            }
        }
    }
}

/// Enqueues `msg` in queues of this node. The confirm of a message for mirrored queues
/// also waits for their mirrors to hold it.
fn enqueue_here(
    broker: &Broker,
    msg: Message,
    queues: &[Arc<Queue>],
    on_synced: Option<OnSynced>,
) -> Confirm {
    let size = msg.body().len();
    let (accepting, refusing): (Targets, Targets) = queues.iter().partition(|q| q.admits(size));
    // Read once: the parts of the confirm must match the queues that wait for mirrors. A
    // queue whose master was deposed since it was routed here (marked remote before its
    // mirroring stops) goes that way too, and refuses the message.
    let mirrored: SmallVec<[bool; 4]> = (accepting.iter())
        .map(|q| q.is_mirrored() || q.is_remote())
        .collect();
    let parts = mirrored.iter().filter(|m| **m).count();
    let (joint, on_synced) = match on_synced {
        Some(done) if parts > 0 => {
            let joint = Joint::new(parts + 1, done);
            let store_part = joint.part();
            (Some(joint), Some(store_part))
        }
        other => (None, other),
    };
    for q in &refusing {
        if q.settings().overflow == Some(Overflow::RejectPublishDlx) {
            q.dead_letter_refused(msg.clone());
        }
    }
    let durable: SmallVec<[u64; 4]> = if msg.persistent() {
        accepting.iter().filter_map(|q| q.durable_key()).collect()
    } else {
        SmallVec::new()
    };
    let page = crate::message::ram_bytes() > broker.paging_limit;
    let mut confirm = if refusing.is_empty() {
        Confirm::AckNow
    } else {
        Confirm::NackNow
    };
    let mut stored = None;
    if !accepting.is_empty() && (!durable.is_empty() || page) {
        let callback = on_synced.filter(|_| !durable.is_empty() && refusing.is_empty());
        let deferred = callback.is_some();
        match broker
            .store
            .append(&msg, &durable, accepting.len() as u64, callback)
        {
            Ok(r) => {
                stored = Some(r);
                if deferred {
                    confirm = Confirm::Deferred;
                }
            }
            Err(e) => {
                tracing::error!("cannot store a message: {e}");
                confirm = Confirm::NackNow;
            }
        }
    }
    let keep_in_ram = stored.is_none() || !page;
    let Some(joint) = joint else {
        for q in accepting {
            q.publish(msg.clone(), keep_in_ram, stored);
        }
        return confirm;
    };
    for (q, mirrored) in accepting.into_iter().zip(mirrored) {
        if mirrored {
            q.publish_mirrored(msg.clone(), keep_in_ram, stored, joint.part());
        } else {
            q.publish(msg.clone(), keep_in_ram, stored);
        }
    }
    // The store's part, when it had none to call back.
    match confirm {
        Confirm::AckNow => joint.settle(true),
        Confirm::NackNow => joint.settle(false),
        Confirm::Deferred => {}
    }
    Confirm::Deferred
}
