//! The outcomes a node waits for: a command proposed here is answered with what applying
//! it here gave (the leader's outcome can differ where a queue's contents matter). Each
//! proposal carries this node's id and a number from a random start, so entries of an
//! earlier run of the node, replayed after a restart, never match a new proposal. It also
//! tells how far this node has applied the log (a mirror waits for that, see
//! `Remotes::serve_mirror`).

use crate::broker::command::CommandResult;
use crate::broker::replicated::{Logged, Reply};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{oneshot, watch};

pub(crate) struct Waiters {
    node: u64,
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, oneshot::Sender<CommandResult<Reply>>>>,
    /// The index of the last entry applied here (entirely).
    last_applied: watch::Sender<u64>,
}

impl Waiters {
    pub(crate) fn new(node: u64) -> Waiters {
        Waiters {
            node,
            next: AtomicU64::new(rand::random::<u64>() >> 1),
            waiting: Mutex::new(HashMap::new()),
            last_applied: watch::Sender::new(0),
        }
    }

    /// This node has applied the log up to `index`.
    pub(crate) fn set_last_applied(&self, index: u64) {
        self.last_applied.send_replace(index);
    }

    /// The index of the last entry applied here.
    pub(crate) fn last_applied(&self) -> u64 {
        *self.last_applied.borrow()
    }

    /// Waits up to `limit` until this node has applied the log up to `index`; false if it
    /// has not by then.
    pub(crate) async fn applied_at_least(&self, index: u64, limit: Duration) -> bool {
        let mut rx = self.last_applied.subscribe();
        let reached = rx.wait_for(|&at| at >= index);
        let outcome = tokio::time::timeout(limit, reached).await;
        matches!(outcome, Ok(Ok(_)))
    }

    /// Marks an entry as proposed here; the receiver gets this node's outcome.
    pub(crate) fn register(
        &self,
        entry: &mut Logged,
    ) -> (u64, oneshot::Receiver<CommandResult<Reply>>) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().insert(n, tx);
        entry.origin = Some((self.node, n));
        (n, rx)
    }

    /// Forgets a proposal that failed before it was applied.
    pub(crate) fn forget(&self, n: u64) {
        self.waiting.lock().remove(&n);
    }

    /// Hands an applied entry's outcome to its proposer, if that is this node.
    pub(crate) fn applied(&self, origin: Option<(u64, u64)>, reply: &CommandResult<Reply>) {
        let Some((node, n)) = origin else { return };
        if node != self.node {
            return;
        }
        if let Some(tx) = self.waiting.lock().remove(&n) {
            let _ = tx.send(reply.clone());
        }
    }
}
