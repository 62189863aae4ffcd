//! Delivery accounting: which sequence numbers of which producer a consumer saw (to count
//! lost, duplicated and reordered messages), and which publishes the broker confirmed.

use std::collections::BTreeSet;

/// What one consumer saw of one producer.
#[derive(Debug, Clone, Default)]
pub struct Track {
    bits: Vec<u64>,
    /// Highest sequence number seen.
    pub max: Option<u64>,
    /// Distinct sequence numbers seen.
    pub distinct: u64,
    /// Deliveries of a sequence number this consumer had already seen.
    pub duplicated: u64,
    /// Deliveries that arrived after a higher sequence number from the same producer.
    pub reordered: u64,
}

impl Track {
    /// Notes a delivery of `seq`.
    #[inline]
    pub fn record(&mut self, seq: u64) {
        let word = (seq / 64) as usize;
        if word >= self.bits.len() {
            let want = (word + 1).max(self.bits.len() * 2).max(16);
            self.bits.resize(want, 0);
        }
        let mask = 1u64 << (seq % 64);
        if self.bits[word] & mask != 0 {
            self.duplicated += 1;
            return;
        }
        self.bits[word] |= mask;
        self.distinct += 1;
        match self.max {
            Some(m) if seq < m => self.reordered += 1,
            Some(m) if seq == m => {}
            _ => self.max = Some(seq),
        }
    }
}

/// What one consumer saw, per producer id.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    /// Indexed by producer id.
    pub per_producer: Vec<Track>,
}

impl Tracker {
    /// A tracker for `producers` producers.
    pub fn new(producers: usize) -> Tracker {
        Tracker {
            per_producer: vec![Track::default(); producers],
        }
    }

    /// Notes a delivery; ids outside the run's producers are ignored (callers validate).
    #[inline]
    pub fn record(&mut self, producer: usize, seq: u64) {
        if let Some(t) = self.per_producer.get_mut(producer) {
            t.record(seq);
        }
    }
}

/// The combined verdict over the consumers of one queue for one producer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Distinct sequence numbers received by any consumer.
    pub distinct: u64,
    /// Gaps: sequence numbers below the highest one received that nobody received.
    pub lost: u64,
    /// Deliveries of a sequence number already delivered (to the same or another consumer).
    pub duplicated: u64,
    /// Out-of-order deliveries as seen by each consumer.
    pub reordered: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.distinct += o.distinct;
        self.lost += o.lost;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
    }
}

/// Merges what several consumers of the same queue saw of one producer.
pub fn merge(tracks: &[&Track]) -> Tally {
    let mut t = Tally::default();
    let words = tracks.iter().map(|x| x.bits.len()).max().unwrap_or(0);
    for w in 0..words {
        let mut acc = 0u64;
        for tr in tracks {
            let b = tr.bits.get(w).copied().unwrap_or(0);
            t.duplicated += u64::from((acc & b).count_ones());
            acc |= b;
        }
        t.distinct += u64::from(acc.count_ones());
    }
    for tr in tracks {
        t.duplicated += tr.duplicated;
        t.reordered += tr.reordered;
    }
    if let Some(max) = tracks.iter().filter_map(|x| x.max).max() {
        t.lost = (max + 1).saturating_sub(t.distinct);
    }
    t
}

/// Publisher-confirm bookkeeping for one channel: delivery tags 1, 2, 3, … settled by
/// basic.ack / basic.nack, singly or with `multiple`.
#[derive(Debug, Default)]
pub struct Settler {
    watermark: u64,
    pending: BTreeSet<u64>,
}

impl Settler {
    /// Settles `tag` (and, with `multiple`, everything below it); returns how many
    /// publishes this newly settled. Repeated or stale tags settle nothing.
    pub fn settle(&mut self, tag: u64, multiple: bool) -> u64 {
        let mut newly = 0;
        if multiple {
            if tag > self.watermark {
                let rest = self.pending.split_off(&tag.saturating_add(1));
                newly = tag - self.watermark - self.pending.len() as u64;
                self.pending = rest;
                self.watermark = tag;
            }
        } else if tag > self.watermark && self.pending.insert(tag) {
            newly = 1;
        }
        while self.pending.remove(&self.watermark.saturating_add(1)) {
            self.watermark += 1;
        }
        newly
    }

    /// How many publishes are settled.
    pub fn settled(&self) -> u64 {
        self.watermark + self.pending.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(seqs: &[u64]) -> Track {
        let mut t = Track::default();
        for &s in seqs {
            t.record(s);
        }
        t
    }

    #[test]
    fn in_order_stream_is_clean() {
        let t = track(&(0..1000).collect::<Vec<_>>());
        assert_eq!(
            merge(&[&t]),
            Tally {
                distinct: 1000,
                lost: 0,
                duplicated: 0,
                reordered: 0
            }
        );
    }

    #[test]
    fn gaps_below_the_highest_are_lost_the_tail_is_not() {
        // 0..10 minus 3 and 7; nothing after 9 counts as lost (it may still be queued).
        let t = track(&[0, 1, 2, 4, 5, 6, 8, 9]);
        let m = merge(&[&t]);
        assert_eq!(m.lost, 2);
        assert_eq!(m.distinct, 8);
        assert_eq!(m.duplicated, 0);
    }

    #[test]
    fn duplicates_and_reorders() {
        let t = track(&[0, 1, 2, 2, 5, 3, 4, 6, 1]);
        let m = merge(&[&t]);
        assert_eq!(m.duplicated, 2); // 2 again, 1 again
        assert_eq!(m.reordered, 2); // 3 and 4 after 5
        assert_eq!(m.lost, 0);
        assert_eq!(m.distinct, 7);
    }

    #[test]
    fn two_consumers_of_one_queue_split_the_stream() {
        let a = track(&(0..200).filter(|s| s % 2 == 0).collect::<Vec<_>>());
        let b = track(&(0..200).filter(|s| s % 2 == 1).collect::<Vec<_>>());
        let m = merge(&[&a, &b]);
        assert_eq!(
            m,
            Tally {
                distinct: 200,
                lost: 0,
                duplicated: 0,
                reordered: 0
            }
        );
        // The same message delivered to both is a duplicate.
        let c = track(&[0, 1, 2, 3]);
        let d = track(&[3, 4, 5]);
        let m = merge(&[&c, &d]);
        assert_eq!((m.distinct, m.duplicated, m.lost), (6, 1, 0));
        // A message nobody got, below the highest anyone got, is lost.
        let e = track(&[0, 2, 4]);
        let f = track(&[1, 5]);
        assert_eq!(merge(&[&e, &f]).lost, 1);
    }

    #[test]
    fn empty_merge() {
        assert_eq!(merge(&[]), Tally::default());
        let t = Track::default();
        assert_eq!(merge(&[&t]), Tally::default());
    }

    #[test]
    fn tracker_ignores_unknown_producers() {
        let mut tr = Tracker::new(2);
        tr.record(1, 0);
        tr.record(5, 0);
        assert_eq!(tr.per_producer[1].distinct, 1);
        assert_eq!(tr.per_producer.len(), 2);
    }

    #[test]
    fn settler_single_and_multiple() {
        let mut s = Settler::default();
        assert_eq!(s.settle(1, false), 1);
        assert_eq!(s.settle(3, false), 1);
        assert_eq!(s.settled(), 2);
        assert_eq!(s.settle(3, false), 0); // repeated
        assert_eq!(s.settle(2, false), 1);
        assert_eq!(s.settled(), 3);
        // multiple up to 10 settles 4..=10
        assert_eq!(s.settle(10, true), 7);
        assert_eq!(s.settled(), 10);
        assert_eq!(s.settle(5, true), 0); // stale
                                          // out-of-order singles above the watermark, then a multiple covering them
        assert_eq!(s.settle(12, false), 1);
        assert_eq!(s.settle(14, false), 1);
        assert_eq!(s.settle(15, true), 3); // 11, 13, 15
        assert_eq!(s.settled(), 15);
        assert_eq!(s.settle(17, false), 1);
        assert_eq!(s.settle(16, false), 1);
        assert_eq!(s.settled(), 17);
    }
}
