//! Commands proposed on the leader while its previous write is in flight go out together,
//! as one log entry. openraft 0.9's leader flushes each entry before it takes the next, so
//! without this, concurrent commands (several clients declaring at once, commands forwarded
//! by other nodes) would wait for one log flush each, one after the other.
//!
//! One writer task at a time takes what is queued (up to [`MAX_BATCH`] commands), writes it
//! as one entry, and hands each command its own outcome; the wait for every running member
//! to apply the entry runs beside the next write.

use super::propose::Retry;
use super::Cluster;
use crate::broker::command::CommandResult;
use crate::broker::replicated::{Logged, Reply};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Commands in one log entry at most.
const MAX_BATCH: usize = 256;

/// A command's outcome on the leader: the log index of its entry and what applying it gave.
pub(super) type Written = Result<(u64, CommandResult<Reply>), Retry>;

/// Commands waiting for the writer. Each waiting caller has one at most (it awaits its
/// outcome), so the queue is bounded by the commands in flight on this node.
#[derive(Default)]
pub(super) struct Batcher {
    state: parking_lot::Mutex<Queued>,
}

#[derive(Default)]
struct Queued {
    commands: Vec<(Logged, oneshot::Sender<Written>)>,
    /// A writer task is running.
    writing: bool,
}

impl Batcher {
    /// Queues a command; true if no writer runs, and the caller must start one.
    fn queue(&self, entry: Logged, tx: oneshot::Sender<Written>) -> bool {
        let mut q = self.state.lock();
        q.commands.push((entry, tx));
        !std::mem::replace(&mut q.writing, true)
    }

    /// The next batch, or none (and the writer stops).
    fn next(&self) -> Option<Vec<(Logged, oneshot::Sender<Written>)>> {
        let mut q = self.state.lock();
        if q.commands.is_empty() {
            q.writing = false;
            return None;
        }
        let n = q.commands.len().min(MAX_BATCH);
        Some(q.commands.drain(..n).collect())
    }
}

impl Cluster {
    /// Appends a command on this node, if it leads (with whatever else is waiting): its
    /// entry's index and its outcome, once every running member applied the entry.
    pub(super) async fn on_leader(&self, entry: Logged) -> Written {
        let Some(me) = self.this() else {
            return Err(Retry::Fatal("the cluster stopped".into()));
        };
        let (tx, rx) = oneshot::channel();
        if self.batcher.queue(entry, tx) {
            tokio::spawn(me.write_batches());
        }
        rx.await
            .unwrap_or_else(|_| Err(Retry::Fatal("the cluster stopped".into())))
    }

    async fn write_batches(self: Arc<Self>) {
        while let Some(batch) = self.batcher.next() {
            let (entries, waiting): (Vec<Logged>, Vec<_>) = batch.into_iter().unzip();
            match self.append(entries).await {
                Ok((index, replies)) => {
                    let me = self.clone();
                    tokio::spawn(async move {
                        me.applied_everywhere(index).await;
                        for (tx, reply) in waiting.into_iter().zip(replies) {
                            let _ = tx.send(Ok((index, reply)));
                        }
                    });
                }
                Err(e) => {
                    for tx in waiting {
                        let _ = tx.send(Err(e.clone()));
                    }
                }
            }
        }
    }
}
