//! Consumers here of a mirrored queue whose master went away (its node died, or handed the
//! queue over as it stopped) follow the queue to its new master, as RabbitMQ's consumers of
//! a mirrored queue on the surviving nodes do: each waits until the queue has a home that
//! can be reached again (a promoted mirror, here or elsewhere, or the old master back) and
//! subscribes there under its tag, with no word to the client. What the old master had
//! delivered and not seen settled comes again from the new one, marked redelivered. A
//! consumer that set `x-cancel-on-ha-failover` is cancelled instead (`basic.cancel`, for
//! clients that take it), as is one whose queue is not mirrored.

use crate::queue::{Queue, Subscription};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often waiting consumers look for their queue's new home.
const LOOK_EVERY: Duration = Duration::from_millis(200);

#[derive(Default)]
pub(super) struct Followers {
    waiting: Mutex<Vec<Waiting>>,
    running: AtomicBool,
}

struct Waiting {
    queue: Arc<Queue>,
    sub: Subscription,
    window: u32,
    /// The node the queue was homed on: it is followed there only once reachable again.
    from: String,
}

impl Followers {
    /// Consumer `sub` of `queue` lost its subscription at `from`: it follows the queue, or
    /// is cancelled.
    pub(super) fn lost(
        self: &Arc<Self>,
        queue: Arc<Queue>,
        sub: Subscription,
        window: u32,
        from: &str,
    ) {
        if sub.cancel_on_failover || queue.mirrors().is_empty() || queue.is_deleted() {
            sub.consumer.cancelled(&sub.tag);
            return;
        }
        self.waiting.lock().push(Waiting {
            queue,
            sub,
            window,
            from: from.to_string(),
        });
        if !self.running.swap(true, Ordering::AcqRel) {
            tokio::spawn(self.clone().follow());
        }
    }

    async fn follow(self: Arc<Self>) {
        loop {
            tokio::time::sleep(LOOK_EVERY).await;
            let waiting = std::mem::take(&mut *self.waiting.lock());
            let still: Vec<Waiting> = waiting.into_iter().filter_map(resubscribe).collect();
            let mut left = self.waiting.lock();
            left.extend(still);
            if left.is_empty() {
                self.running.store(false, Ordering::Release);
                return;
            }
        }
    }
}

/// Subscribes `w` at its queue's home if it can be reached; gives it back to wait longer.
fn resubscribe(w: Waiting) -> Option<Waiting> {
    let Waiting {
        queue,
        sub,
        window,
        from,
    } = w;
    if !sub.consumer.subscribed(&sub.tag) {
        return None;
    }
    if queue.is_deleted() {
        sub.consumer.cancelled(&sub.tag);
        return None;
    }
    let consumer = sub.consumer.clone();
    let tag = sub.tag.clone();
    match queue.remote() {
        None => {
            if queue.add_consumer(sub, || {}).is_err() {
                consumer.cancelled(&tag);
            }
            tracing::info!(
                "consumer '{tag}' follows queue '{}' to this node",
                queue.name
            );
        }
        Some(home) if home.node() == from && !home.is_up() => {
            return Some(Waiting {
                queue,
                sub,
                window,
                from,
            })
        }
        Some(home) => {
            tracing::info!(
                "consumer '{tag}' follows queue '{}' to {}",
                queue.name,
                home.node()
            );
            let answer = home.consume(&queue, sub, window, Box::new(|| {}));
            tokio::spawn(async move {
                if answer.await.is_err() {
                    consumer.cancelled(&tag);
                }
            });
        }
    }
    None
}
