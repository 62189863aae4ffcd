//! Time in a queue: message TTL (`x-message-ttl` and the per-message `expiration`, the
//! lower wins; expired messages leave only from the head, as in RabbitMQ) with a timer for
//! the head, and `x-expires` (an unused queue deletes itself).

use super::{Queue, QueueArgs, QueueState, Reason};
use crate::message::now_ms;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A point in wall-clock time, in milliseconds since the Unix epoch (as RabbitMQ keeps
/// expiry times: nodes agree on it, a restart keeps it), in 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(NonZeroU64);

impl Deadline {
    pub fn at_ms(ms: u64) -> Self {
        Deadline(NonZeroU64::new(ms).unwrap_or(NonZeroU64::MIN))
    }

    pub fn now() -> Self {
        Self::at_ms(now_ms())
    }

    /// `ms` after `self`, saturating: no TTL a client or policy sets can overflow.
    pub fn after(self, ms: u64) -> Self {
        Self::at_ms(self.0.get().saturating_add(ms))
    }

    /// The monotonic instant to wake at for this deadline (at most [`FAR_MS`] ahead).
    pub fn instant(self) -> Instant {
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

/// Moves expired messages at the head out (to the dead-letter exchange, if any).
pub(super) fn expire_head(_queue: &Arc<Queue>, st: &mut QueueState) {
    // Most heads never expire: read the clock only when this one does.
    if st.messages.front().is_none_or(|h| h.expires_at.is_none()) {
        return;
    }
    let now = Deadline::now();
    while st
        .messages
        .front()
        .is_some_and(|h| h.expires_at.is_some_and(|t| t <= now))
    {
        if let Some(e) = st.messages.pop_front() {
            st.dead.push((e, Reason::Expired));
        }
    }
}

/// Makes sure a timer will wake the queue when its head expires.
pub(super) fn arm_ttl_timer(queue: &Arc<Queue>, st: &mut QueueState) {
    let Some(at) = st.messages.front().and_then(|h| h.expires_at) else {
        return;
    };
    if st.ttl_timer.is_some_and(|t| t <= at) {
        return;
    }
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    st.ttl_timer = Some(at);
    let weak = Arc::downgrade(queue);
    rt.spawn(async move {
        tokio::time::sleep_until(at.instant().into()).await;
        if let Some(q) = weak.upgrade() {
            q.with_state(|st| {
                if st.ttl_timer == Some(at) {
                    st.ttl_timer = None;
                }
                expire_head(&q, st);
            });
        }
    });
}

/// With `x-expires`, deletes the queue once it has gone unused (no consumers, no get, no
/// declare) for that long.
pub(super) fn watch_unused(queue: &Arc<Queue>) {
    let expires = {
        let mut st = queue.state.lock();
        match st.settings.expires {
            Some(e) if !st.expiry_watched => {
                st.expiry_watched = true;
                e
            }
            _ => return,
        }
    };
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak = Arc::downgrade(queue);
    let period = Duration::from_millis(expires);
    rt.spawn(async move {
        loop {
            let deadline = {
                let Some(q) = weak.upgrade() else { return };
                if q.is_deleted() {
                    return;
                }
                let mut st = q.state.lock();
                let Some(e) = st.settings.expires else {
                    st.expiry_watched = false;
                    return;
                };
                st.consumers.is_empty().then(|| st.last_used.after(e))
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
