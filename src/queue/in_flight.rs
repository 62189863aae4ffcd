//! Deliveries not yet settled, kept by the queue that made them, filed by holder (the
//! channel they went to) and by position. A settle names its holder and positions; a holder
//! that goes away hands all of its deliveries back at once.
//!
//! A holder's deliveries are kept in position order: deliveries mostly go out, and acks
//! mostly come back, in that order, so the common insert is a push at the back and the
//! common settle a pop at the front. Keeps the totals (count, bytes, in memory, persistent)
//! the management API reports for unacknowledged messages.

use super::consumer::Holder;
use super::entry::Entry;
use super::tally::Tally;
use ahash::HashMap;
use std::collections::VecDeque;

#[derive(Default)]
pub(super) struct InFlight {
    by_holder: HashMap<Holder, VecDeque<Entry>>,
    tally: Tally,
}

impl InFlight {
    pub(super) fn len(&self) -> usize {
        self.tally.len() as usize
    }

    pub(super) fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Entries the holders' lists have room for without growing (what their memory holds).
    pub(super) fn capacity(&self) -> usize {
        self.by_holder.values().map(VecDeque::capacity).sum()
    }

    /// The unsettled delivery that came earliest in the queue (the head of the
    /// unacknowledged ones, as RabbitMQ's `head_message_timestamp` reads them); a look at
    /// each holder's first, not at every delivery.
    pub(super) fn oldest(&self) -> Option<&Entry> {
        self.by_holder
            .values()
            .filter_map(VecDeque::front)
            .min_by_key(|e| e.seq)
    }

    /// The deliveries at positions `from..to`, each holder's in position order.
    pub(super) fn between(&self, from: u64, to: u64) -> impl Iterator<Item = &Entry> {
        self.by_holder.values().flat_map(move |held| {
            let i = held.partition_point(|e| e.seq < from);
            held.range(i..).take_while(move |e| e.seq < to)
        })
    }

    pub(super) fn insert(&mut self, holder: Holder, e: Entry) {
        let held = self.by_holder.entry(holder).or_default();
        match held.back() {
            Some(last) if last.seq >= e.seq => {
                let i = held.partition_point(|h| h.seq < e.seq);
                if held.get(i).is_some_and(|h| h.seq == e.seq) {
                    return;
                }
                self.tally.add(&e);
                held.insert(i, e);
            }
            _ => {
                self.tally.add(&e);
                held.push_back(e);
            }
        }
    }

    /// The delivery at `seq` held by `holder`, if it is still unsettled.
    pub(super) fn take(&mut self, holder: Holder, seq: u64) -> Option<Entry> {
        let held = self.by_holder.get_mut(&holder)?;
        let e = if held.front().is_some_and(|h| h.seq == seq) {
            held.pop_front()?
        } else {
            let i = held.binary_search_by_key(&seq, |h| h.seq).ok()?;
            held.remove(i)?
        };
        self.tally.remove(&e);
        Some(e)
    }

    /// Every delivery `holder` holds, in position order.
    pub(super) fn take_holder(&mut self, holder: Holder) -> Vec<Entry> {
        let taken: Vec<Entry> = self
            .by_holder
            .remove(&holder)
            .map(Vec::from)
            .unwrap_or_default();
        for e in &taken {
            self.tally.remove(e);
        }
        taken
    }

    /// The holders with unsettled deliveries.
    pub(super) fn holders(&self) -> Vec<Holder> {
        self.by_holder.keys().copied().collect()
    }

    /// Every delivery.
    pub(super) fn take_all(&mut self) -> Vec<Entry> {
        self.tally = Tally::default();
        std::mem::take(&mut self.by_holder)
            .into_values()
            .flatten()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(seq: u64) -> Entry {
        Entry {
            seq,
            msg: None,
            stored: None,
            redelivered: false,
            persistent: false,
            priority: 0,
            size: 1,
            expires_at: None,
        }
    }

    #[test]
    fn settles_in_any_order_and_keeps_holders_apart() {
        let mut f = InFlight::default();
        for seq in [1, 2, 5, 3, 9] {
            f.insert(7, e(seq));
        }
        f.insert(7, e(5));
        f.insert(8, e(4));
        assert_eq!(f.len(), 6);
        assert_eq!(f.take(7, 1).map(|e| e.seq), Some(1));
        assert_eq!(f.take(7, 5).map(|e| e.seq), Some(5));
        assert!(f.take(7, 5).is_none());
        assert!(f.take(7, 4).is_none(), "4 is held by another holder");
        let rest: Vec<u64> = f.take_holder(7).iter().map(|e| e.seq).collect();
        assert_eq!(rest, vec![2, 3, 9]);
        assert_eq!(f.len(), 1);
        assert_eq!(f.take_all().len(), 1);
        assert_eq!(f.len(), 0);
    }
}
