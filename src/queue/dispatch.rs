//! Handing ready messages to consumers: highest priority first, round-robin among equal
//! priorities, skipping consumers without capacity (prefetch, or a backlogged connection).

use super::{Entry, Queue, QueueState};
use std::sync::Arc;

/// Delivers head messages until the queue is empty or no consumer can take one.
pub(super) fn run(queue: &Arc<Queue>, st: &mut QueueState) {
    if st.consumers.is_empty() {
        return;
    }
    while let Some(mut entry) = st.messages.pop_front() {
        if queue.load(&mut entry).is_none() {
            continue;
        }
        match offer(queue, st, entry) {
            Ok(()) => {}
            Err(entry) => {
                st.messages.push_front(entry);
                return;
            }
        }
    }
}

/// Offers one message to the consumers, priority level by priority level.
fn offer(queue: &Arc<Queue>, st: &mut QueueState, mut entry: Entry) -> Result<(), Entry> {
    let n = st.consumers.len();
    let mut start = 0;
    while start < n {
        let prio = st.consumers[start].priority;
        let end = start + st.consumers[start..].partition_point(|c| c.priority == prio);
        entry = match offer_in_level(queue, st, start, end, entry) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        start = end;
    }
    Err(entry)
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
        match consumer.channel.try_deliver(queue, consumer, entry) {
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
