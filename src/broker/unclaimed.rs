//! A RAM node keeps no metadata on disk, so on start it does not know which durable queues
//! live on it: it recovers the stored messages of every queue, and each queue takes its own
//! back when the cluster's log (or snapshot) declares it here. Once the node has caught up
//! with the cluster, what no queue took belongs to queues deleted meanwhile and is released.

use super::Broker;
use crate::queue::Queue;
use crate::store::messages::Restored;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Default)]
pub(crate) struct Unclaimed(parking_lot::Mutex<HashMap<u64, Vec<Restored>>>);

impl Unclaimed {
    pub(crate) fn keep(&self, queues: HashMap<u64, Vec<Restored>>) {
        self.0.lock().extend(queues);
    }
}

impl Broker {
    /// Gives a durable queue just declared on this node the messages recovered for it.
    pub(crate) fn claim_recovered(&self, q: &Arc<Queue>) {
        if !q.durable || q.remote().is_some() {
            return;
        }
        let refs = self.unclaimed.0.lock().remove(&q.key);
        if let Some(refs) = refs {
            tracing::info!("queue '{}': {} recovered messages", q.name, refs.len());
            q.restore(refs);
        }
    }

    /// Releases the recovered messages no queue claimed (their queues were deleted while
    /// this node was away), but those of queues homed on other nodes: this node's mirror
    /// copies before it stopped, which go to the copies' pools for the masters' syncs to
    /// keep what matches. Called once the node has applied the cluster's log.
    pub fn release_unclaimed(&self) {
        let left = std::mem::take(&mut *self.unclaimed.0.lock());
        if left.is_empty() {
            return;
        }
        let mut remote: HashMap<u64, Arc<Queue>> = HashMap::new();
        for vhost in self.vhosts() {
            for q in vhost.queues().into_iter().filter(|q| q.remote().is_some()) {
                remote.insert(q.key, q);
            }
        }
        let mut n = 0;
        for (key, refs) in left {
            if let Some(q) = remote.get(&key) {
                q.pool_stored(refs);
                continue;
            }
            for r in refs {
                self.store.release(r.at, Some(key));
                n += 1;
            }
        }
        if n > 0 {
            tracing::info!(
                "released {n} stored messages of queues deleted while this node was away"
            );
        }
    }
}
