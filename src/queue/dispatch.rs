//! Handing ready messages to consumers: highest priority first, round-robin among equal
//! priorities, skipping consumers without room (prefetch, or a backlogged connection).
//! A single-active-consumer queue offers only to its first consumer. A paged-out head
//! stops dispatch until it has been read back.

use super::consumer::Delivery;
use super::effects::Effects;
use super::entry::Entry;
use super::state::QueueState;
use crate::message::Message;

/// Delivers head messages until the queue is empty or no consumer can take one. Expired
/// heads are dropped first: they are never delivered.
pub(super) fn run(st: &mut QueueState, fx: &mut Effects) {
    if st.consumers.is_empty() {
        return;
    }
    loop {
        st.expire_head(fx);
        match st.messages.front() {
            None => return,
            Some(head) if head.msg.is_none() => return st.request_load(fx),
            Some(_) => {}
        }
        let Some(entry) = st.messages.pop_front() else {
            return;
        };
        if let Err(entry) = offer_one(st, entry, fx) {
            st.messages.push_front(entry);
            return;
        }
    }
}

/// Offers one message to the consumers in turn; hands it back if none has room (or it is
/// not in memory).
pub(super) fn offer_one(st: &mut QueueState, entry: Entry, fx: &mut Effects) -> Result<(), Entry> {
    let Some(msg) = entry.msg.clone() else {
        return Err(entry);
    };
    let n = if st.settings.single_active_consumer {
        st.consumers.len().min(1)
    } else {
        st.consumers.len()
    };
    let mut start = 0;
    while start < n {
        let prio = st.consumers[start].priority;
        let end = start + st.consumers[start..n].partition_point(|c| c.priority == prio);
        if let Some(idx) = room_in_level(st, start, end, &msg) {
            st.next_consumer = idx + 1;
            hand_over(st, idx, entry, msg, fx);
            return Ok(());
        }
        start = end;
    }
    Err(entry)
}

/// The first consumer from the round-robin position within `start..end` that has room
/// (and has reserved it).
fn room_in_level(st: &QueueState, start: usize, end: usize, msg: &Message) -> Option<usize> {
    let len = end - start;
    let first = if (start..end).contains(&st.next_consumer) {
        st.next_consumer - start
    } else {
        0
    };
    (0..len).map(|i| start + (first + i) % len).find(|&idx| {
        let c = &st.consumers[idx];
        c.consumer.reserve(&st.me, &c.tag, c.no_ack, msg)
    })
}

/// The delivery to consumer `idx`; unless it settles on delivery, the entry stays here,
/// unsettled, under the consumer's holder.
fn hand_over(st: &mut QueueState, idx: usize, entry: Entry, msg: Message, fx: &mut Effects) {
    let c = &st.consumers[idx];
    let delivery = Delivery {
        tag: c.tag.clone(),
        seq: entry.seq,
        msg,
        redelivered: entry.redelivered,
        no_ack: c.no_ack,
        gate: None,
    };
    if c.no_ack {
        fx.release(&entry);
    } else {
        let holder = c.consumer.holder();
        st.in_flight.insert(holder, entry.unpinned());
    }
    fx.deliveries.push((c.consumer.clone(), delivery));
}
