//! Handing ready messages to consumers: highest priority first, round-robin among equal
//! priorities, skipping consumers without capacity (prefetch, or a backlogged connection).
//! A single-active-consumer queue offers only to its first consumer.

use super::{expiry, Entry, Queue, QueueState};
use std::sync::Arc;

/// Delivers head messages until the queue is empty or no consumer can take one. Expired
/// heads are dropped first: they are never delivered.
pub(super) fn run(queue: &Arc<Queue>, st: &mut QueueState) {
    if st.consumers.is_empty() {
        return;
    }
    loop {
        expiry::expire_head(queue, st);
        let Some(entry) = st.messages.pop_front() else {
            return;
        };
        if let Err(entry) = offer_one(queue, st, entry) {
            if let Some(entry) = entry {
                st.messages.push_front(entry);
            }
            return;
        }
    }
}

/// Offers one message; on failure hands it back (`None` if it could not be read at all).
pub(super) fn offer_one(
    queue: &Arc<Queue>,
    st: &mut QueueState,
    mut entry: Entry,
) -> Result<(), Option<Entry>> {
    if queue.load(&mut entry).is_none() {
        return Ok(());
    }
    let n = if st.settings.single_active_consumer {
        st.consumers.len().min(1)
    } else {
        st.consumers.len()
    };
    let mut start = 0;
    while start < n {
        let prio = st.consumers[start].priority;
        let end = start + st.consumers[start..n].partition_point(|c| c.priority == prio);
        entry = match offer_in_level(queue, st, start, end, entry) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        start = end;
    }
    Err(Some(entry))
}

fn offer_in_level(
    queue: &Arc<Queue>,
    st: &mut QueueState,
    start: usize,
    end: usize,
    mut entry: Entry,
) -> Result<(), Entry> {
    let len = end - start;
    let first = if (start..end).contains(&st.next_consumer) {
        st.next_consumer - start
    } else {
        0
    };
    for i in 0..len {
        let idx = start + (first + i) % len;
        let consumer = &st.consumers[idx];
        let no_ack = consumer.no_ack;
        match consumer.consumer.offer(queue, consumer, entry) {
            Ok(()) => {
                if !no_ack {
                    st.unacked += 1;
                }
                st.next_consumer = idx + 1;
                return Ok(());
            }
            Err(e) => entry = e,
        }
    }
    Err(entry)
}
