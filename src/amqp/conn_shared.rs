//! The part of a connection other tasks may touch: its outbound queue (with a byte count
//! that bounds it), the queues waiting for that backlog to drain, and what the client said
//! it supports.

use super::outbound::{OutQueue, Outbound};
use crate::queue::Queue;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

/// Above this many queued bytes, consumers on the connection stop receiving until the
/// writer catches up (a slow consumer never grows the broker's memory without bound).
pub(crate) const WRITE_BACKLOG_HIGH: usize = 1024 * 1024;

/// Above this many queued bytes the connection's reader stops reading: a client that
/// publishes but never reads its confirms or returns meets TCP backpressure.
pub(crate) const READ_PAUSE: usize = 4 * WRITE_BACKLOG_HIGH;

/// Capabilities the client advertised in `connection.start-ok`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ClientCapabilities {
    pub consumer_cancel_notify: bool,
    pub connection_blocked: bool,
    pub authentication_failure_close: bool,
}

pub(crate) struct ConnShared {
    pub id: u64,
    pub frame_max: u32,
    pub capabilities: ClientCapabilities,
    pub out: OutQueue,
    pending: AtomicUsize,
    stalled: Mutex<Vec<Weak<Queue>>>,
    drained: tokio::sync::Notify,
    /// What the management API shows and how it closes the connection (`conn_info.rs`).
    pub info: super::conn_info::SharedInfo,
}

impl ConnShared {
    pub(crate) fn new(
        id: u64,
        frame_max: u32,
        capabilities: ClientCapabilities,
        meta: super::conn_info::ConnMeta,
    ) -> Arc<Self> {
        Arc::new(Self {
            id,
            frame_max,
            capabilities,
            out: OutQueue::default(),
            pending: AtomicUsize::new(0),
            stalled: Mutex::new(Vec::new()),
            drained: tokio::sync::Notify::new(),
            info: super::conn_info::SharedInfo::new(meta),
        })
    }

    /// Bytes queued for the socket.
    pub(crate) fn pending_bytes(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Queues an item for the writer (see [`ConnShared::send_counted`]).
    pub(crate) fn send(&self, item: Outbound) {
        self.count_ahead(item.weight());
        self.send_counted(item);
    }

    /// Counts `bytes` against the write backlog ahead of the item that will carry them
    /// ([`ConnShared::send_counted`]): a queue reserves room for a delivery before it
    /// hands it over.
    pub(crate) fn count_ahead(&self, bytes: usize) {
        self.pending.fetch_add(bytes, Ordering::SeqCst);
    }

    /// Queues an item whose weight was already counted. A closed writer means the
    /// connection is going away: the item is dropped and its weight uncounted, without
    /// waking stalled queues (the caller may hold a queue's lock; the connection's clean-up
    /// removes its consumers, which lets those queues move on).
    pub(crate) fn send_counted(&self, item: Outbound) {
        let weight = item.weight();
        if self.out.push(item).is_err() {
            self.pending.fetch_sub(weight, Ordering::SeqCst);
        }
    }

    /// True when the writer is too far behind to take more deliveries. Registers the queue
    /// to be woken when it drains; the re-check closes the race with the writer.
    pub(crate) fn backlogged(&self, queue: &Weak<Queue>) -> bool {
        if self.pending.load(Ordering::SeqCst) < WRITE_BACKLOG_HIGH {
            return false;
        }
        {
            // Each queue is registered once, however often it retries meanwhile.
            let mut stalled = self.stalled.lock();
            if !stalled.iter().any(|w| w.ptr_eq(queue)) {
                stalled.push(queue.clone());
            }
        }
        self.pending.load(Ordering::SeqCst) >= WRITE_BACKLOG_HIGH
    }

    /// Called by the writer after it wrote `bytes`: wakes stalled queues once below the mark.
    pub(crate) fn written(&self, bytes: usize) {
        let left = self.pending.fetch_sub(bytes, Ordering::SeqCst) - bytes;
        if left >= WRITE_BACKLOG_HIGH {
            return;
        }
        self.drained.notify_waiters();
        let stalled = std::mem::take(&mut *self.stalled.lock());
        for q in stalled.iter().filter_map(Weak::upgrade) {
            q.dispatch();
        }
    }

    /// Waits until the write backlog is below `READ_PAUSE`.
    pub(crate) async fn wait_writable(&self) {
        // The common case costs one atomic load: no waiter is registered.
        if self.pending.load(Ordering::SeqCst) < READ_PAUSE {
            return;
        }
        loop {
            let drained = self.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if self.pending.load(Ordering::SeqCst) < READ_PAUSE {
                return;
            }
            drained.await;
        }
    }
}
