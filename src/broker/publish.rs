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

/// Enqueues `msg` in `queues` (already routed and deduplicated).
pub(crate) fn enqueue(
    broker: &Broker,
    msg: Message,
    queues: &[Arc<Queue>],
    on_synced: Option<OnSynced>,
) -> Confirm {
    let size = msg.body().len();
    let (accepting, refusing): (Targets, Targets) = queues.iter().partition(|q| q.admits(size));
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
    for q in accepting {
        q.publish(msg.clone(), keep_in_ram, stored);
    }
    confirm
}
