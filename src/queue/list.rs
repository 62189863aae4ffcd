//! The ready messages of a queue, in delivery order: one FIFO, or for a priority queue
//! (`x-max-priority`) one FIFO per priority level, highest first. Requeued messages go back
//! to their original position (ordered by `seq`) within their level. Keeps the totals
//! (count, bytes, in memory, persistent) that length limits and the management API need:
//! every change to an entry goes through a method here, so they never drift.

use super::tally::Tally;
use super::Entry;
use crate::store::segment::RecordRef;
use std::collections::VecDeque;
use std::ops::ControlFlow;

pub(super) struct MessageList {
    /// Level 0 is the lowest priority; a plain queue has one level.
    levels: Vec<VecDeque<Entry>>,
    tally: Tally,
}

impl MessageList {
    /// A list for priorities 0..=max (0 for a plain queue).
    pub(super) fn new(max_priority: u8) -> Self {
        Self {
            levels: (0..=max_priority).map(|_| VecDeque::new()).collect(),
            tally: Tally::default(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.tally.len() as usize
    }

    pub(super) fn is_empty(&self) -> bool {
        self.tally.is_empty()
    }

    pub(super) fn bytes(&self) -> u64 {
        self.tally.bytes()
    }

    pub(super) fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Entries the list has room for without growing (what its memory holds).
    pub(super) fn capacity(&self) -> usize {
        self.levels.iter().map(VecDeque::capacity).sum()
    }

    fn level(&self, e: &Entry) -> usize {
        (e.priority as usize).min(self.levels.len() - 1)
    }

    pub(super) fn push_back(&mut self, e: Entry) {
        self.tally.add(&e);
        let l = self.level(&e);
        self.levels[l].push_back(e);
    }

    /// Puts a message taken from the head back at the head.
    pub(super) fn push_front(&mut self, e: Entry) {
        self.tally.add(&e);
        let l = self.level(&e);
        self.levels[l].push_front(e);
    }

    /// Puts a requeued message back where its `seq` says.
    pub(super) fn insert_by_seq(&mut self, e: Entry) {
        self.tally.add(&e);
        let l = self.level(&e);
        let level = &mut self.levels[l];
        let pos = level.partition_point(|m| m.seq < e.seq);
        level.insert(pos, e);
    }

    pub(super) fn front(&self) -> Option<&Entry> {
        self.levels.iter().rev().find_map(|l| l.front())
    }

    pub(super) fn pop_front(&mut self) -> Option<Entry> {
        let e = self.levels.iter_mut().rev().find_map(|l| l.pop_front())?;
        self.tally.remove(&e);
        Some(e)
    }

    /// Visits entries newest (lowest level, last) first, the order to page out in, until
    /// `f` breaks. `f` may drop or restore an entry's in-memory copy: the totals follow.
    pub(super) fn visit_newest_first(&mut self, mut f: impl FnMut(&mut Entry) -> ControlFlow<()>) {
        for e in self.levels.iter_mut().flat_map(|l| l.iter_mut().rev()) {
            self.tally.remove(e);
            let flow = f(e);
            self.tally.add(e);
            if flow.is_break() {
                return;
            }
        }
    }

    /// Visits each entry's `seq` and store position, which compaction moves (the totals do
    /// not depend on it, and `f` can change nothing else).
    pub(super) fn for_each_stored(&mut self, mut f: impl FnMut(u64, &mut Option<RecordRef>)) {
        for e in self.levels.iter_mut().flat_map(|l| l.iter_mut()) {
            f(e.seq, &mut e.stored);
        }
    }

    /// Every entry in delivery order.
    /// The lowest position held (each level is in `seq` order: a look at each front).
    pub(super) fn oldest_seq(&self) -> Option<u64> {
        self.levels
            .iter()
            .filter_map(|l| l.front())
            .map(|e| e.seq)
            .min()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.levels.iter().rev().flat_map(|l| l.iter())
    }

    /// The entries at positions `from..to`, each level's in position order.
    pub(super) fn between(&self, from: u64, to: u64) -> impl Iterator<Item = &Entry> {
        self.levels.iter().flat_map(move |l| {
            let i = l.partition_point(|e| e.seq < from);
            l.range(i..).take_while(move |e| e.seq < to)
        })
    }

    /// The position of `seq` in its level (entries of a level are in `seq` order).
    fn position(&self, priority: u8, seq: u64) -> Option<(usize, usize)> {
        let l = (priority as usize).min(self.levels.len() - 1);
        let level = &self.levels[l];
        let i = level.partition_point(|m| m.seq < seq);
        (level.get(i)?.seq == seq).then_some((l, i))
    }

    /// Changes the entry at `seq`, if it is here; the totals follow.
    pub(super) fn update<R>(
        &mut self,
        priority: u8,
        seq: u64,
        f: impl FnOnce(&mut Entry) -> R,
    ) -> Option<R> {
        let (l, i) = self.position(priority, seq)?;
        let e = self.levels[l].get_mut(i)?;
        self.tally.remove(e);
        let r = f(e);
        self.tally.add(e);
        Some(r)
    }

    pub(super) fn remove(&mut self, priority: u8, seq: u64) -> Option<Entry> {
        let (l, i) = self.position(priority, seq)?;
        let e = self.levels[l].remove(i)?;
        self.tally.remove(&e);
        Some(e)
    }

    /// Removes everything.
    pub(super) fn take_all(&mut self) -> Vec<Entry> {
        self.tally = Tally::default();
        self.levels
            .iter_mut()
            .rev()
            .flat_map(|l| l.drain(..))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(seq: u64, priority: u8) -> Entry {
        Entry {
            seq,
            msg: None,
            stored: None,
            redelivered: false,
            persistent: false,
            priority,
            size: 10,
            expires_at: None,
        }
    }

    #[test]
    fn higher_priority_first_fifo_within_a_level_and_capped_at_max() {
        let mut l = MessageList::new(5);
        for (seq, p) in [(0, 0), (1, 9), (2, 3), (3, 5), (4, 3)] {
            l.push_back(e(seq, p));
        }
        assert_eq!(l.bytes(), 50);
        let order: Vec<u64> = std::iter::from_fn(|| l.pop_front().map(|e| e.seq)).collect();
        assert_eq!(order, vec![1, 3, 2, 4, 0]);
        assert_eq!((l.len(), l.bytes()), (0, 0));
    }

    #[test]
    fn requeue_returns_to_the_original_position() {
        let mut l = MessageList::new(0);
        for seq in [1, 3, 4] {
            l.push_back(e(seq, 0));
        }
        l.insert_by_seq(e(2, 0));
        l.insert_by_seq(e(0, 0));
        let order: Vec<u64> = std::iter::from_fn(|| l.pop_front().map(|e| e.seq)).collect();
        assert_eq!(order, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn an_entry_takes_40_bytes() {
        // A backlog of small messages is mostly entries and messages (see `Message`).
        assert_eq!(std::mem::size_of::<Entry>(), 40);
    }
}
