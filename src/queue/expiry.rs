//! Time in a queue: deadlines, message TTL (`x-message-ttl` and the per-message
//! `expiration`, the lower wins; the state machine expires messages from the head, as
//! RabbitMQ does) with a timer for the head, and `x-expires` (an unused queue deletes
//! itself).

use super::{Queue, QueueArgs};
use crate::message::now_ms;
use std::num::NonZeroU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A point in wall-clock time, in milliseconds since the Unix epoch (as RabbitMQ keeps
/// expiry times: nodes agree on it, a restart keeps it), in 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Deadline(NonZeroU64);

impl Deadline {
    pub(crate) fn at_ms(ms: u64) -> Self {
        Deadline(NonZeroU64::new(ms).unwrap_or(NonZeroU64::MIN))
    }

    pub(crate) fn now() -> Self {
        Self::at_ms(now_ms())
    }

    /// Milliseconds since the Unix epoch.
    pub(crate) fn ms(self) -> u64 {
        self.0.get()
    }

    /// `ms` after `self`, saturating: no TTL a client or policy sets can overflow.
    pub(crate) fn after(self, ms: u64) -> Self {
        Self::at_ms(self.0.get().saturating_add(ms))
    }

    /// The monotonic instant to wake at for this deadline (at most [`FAR_MS`] ahead).
    pub(crate) fn instant(self) -> Instant {
        let wait = self.0.get().saturating_sub(now_ms()).min(FAR_MS);
        let now = Instant::now();
        now.checked_add(Duration::from_millis(wait)).unwrap_or(now)
    }
}

/// When a message published at `published_ms` expires in a queue with these settings.
pub(super) fn expires_at(
    settings: &QueueArgs,
    published_ms: u64,
    msg_ttl: Option<u64>,
) -> Option<Deadline> {
    let ttl = match (settings.message_ttl, msg_ttl) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    Some(Deadline::at_ms(published_ms).after(ttl))
}

/// A hundred years: TTLs set by policy are not bounded (RabbitMQ 3.10 accepts any integer
/// there), so every wait is cut to this before it meets the monotonic clock.
const FAR_MS: u64 = 100 * 365 * 24 * 3600 * 1000;

/// Wakes the queue at `at`, when its head expires ([`super::QueueState::timer_fired`]).
pub(super) fn set_timer(queue: &Arc<Queue>, at: Deadline) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak = Arc::downgrade(queue);
    rt.spawn(async move {
        tokio::time::sleep_until(at.instant().into()).await;
        if let Some(q) = weak.upgrade() {
            q.apply(|st, fx| st.timer_fired(fx, at));
        }
    });
}

/// With `x-expires`, deletes the queue once it has gone unused (no consumers, no get, no
/// declare) for that long.
pub(super) fn watch_unused(queue: &Arc<Queue>) {
    let Some(expires) = queue.state.lock().settings().expires else {
        return;
    };
    if queue.expiry_watched.swap(true, Ordering::AcqRel) {
        return;
    }
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        queue.expiry_watched.store(false, Ordering::Release);
        return;
    };
    let weak = Arc::downgrade(queue);
    let period = Duration::from_millis(expires);
    rt.spawn(async move {
        loop {
            let deadline = {
                let Some(q) = weak.upgrade() else { return };
                // A queue homed on another node expires there.
                if q.is_deleted() || q.is_remote() {
                    q.expiry_watched.store(false, Ordering::Release);
                    return;
                }
                let st = q.state.lock();
                if st.settings().expires.is_none() {
                    q.expiry_watched.store(false, Ordering::Release);
                    return;
                }
                st.unused_deadline()
            };
            match deadline {
                Some(d) if d <= Deadline::now() => {
                    if let Some(q) = weak.upgrade() {
                        expire_queue(&q);
                    }
                    return;
                }
                Some(d) => tokio::time::sleep_until(d.instant().into()).await,
                None => tokio::time::sleep(period.min(Duration::from_secs(1))).await,
            }
        }
    });
}

fn expire_queue(q: &Arc<Queue>) {
    tracing::debug!(
        "queue '{}' in vhost '{}' expired (x-expires)",
        q.name,
        q.vhost
    );
    if let Some(owner) = q.owner.upgrade() {
        owner.expired(q);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TTL near `u64::MAX` (a policy may set one) means "not for a long time", never an
    /// overflow that expires the message at once.
    #[test]
    fn huge_ttls_saturate_far_in_the_future() {
        let year = Duration::from_secs(365 * 24 * 3600);
        for ttl in [1u64 << 61, u64::MAX, super::super::args::MAX_EXPIRY_MS] {
            let settings = QueueArgs {
                message_ttl: Some(ttl),
                ..QueueArgs::default()
            };
            let at = expires_at(&settings, now_ms(), None).unwrap();
            let far = Deadline::now().after(super::super::args::MAX_EXPIRY_MS / 2);
            assert!(at > far, "ttl {ttl}");
            assert!(at.instant() > Instant::now() + year, "ttl {ttl}");
            let at = expires_at(&QueueArgs::default(), now_ms(), Some(ttl)).unwrap();
            assert!(at.instant() > Instant::now() + year, "expiration {ttl}");
        }
    }

    /// Deadlines are wall-clock milliseconds: a message published a minute ago with a
    /// 30 s TTL is already due, whatever this process's clock started at.
    #[test]
    fn deadlines_are_wall_clock_milliseconds() {
        let settings = QueueArgs {
            message_ttl: Some(30_000),
            ..QueueArgs::default()
        };
        let published = now_ms() - 60_000;
        let at = expires_at(&settings, published, None).unwrap();
        assert_eq!(at, Deadline::at_ms(published + 30_000));
        assert!(at <= Deadline::now());
        assert!(at.instant() <= Instant::now());
    }
}
