//! A log-linear latency histogram (HdrHistogram-like, 64 sub-buckets per power of two, so
//! a reported value is within 1/64 ≈ 1.6 % of the true one), in nanoseconds.
//!
//! [`Hist`] is recorded into by exactly one thread (a consumer) with plain relaxed loads
//! and stores — no locked instructions on the hot path — and read by the reporter.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
const LINEAR: u64 = 2 * SUB;
/// The largest value kept apart; larger ones land in the last bucket (≈ 18 minutes).
pub const MAX_VALUE: u64 = (1 << 40) - 1;
/// Number of buckets.
pub const BUCKETS: usize = index(MAX_VALUE) + 1;

/// The bucket a value falls in.
#[inline]
pub const fn index(v: u64) -> usize {
    let v = if v > MAX_VALUE { MAX_VALUE } else { v };
    if v < LINEAR {
        v as usize
    } else {
        let msb = 63 - v.leading_zeros();
        let shift = msb - SUB_BITS;
        (LINEAR + (shift as u64 - 1) * SUB + ((v >> shift) - SUB)) as usize
    }
}

/// The largest value that falls in bucket `i`.
#[inline]
pub const fn bucket_high(i: usize) -> u64 {
    let i = i as u64;
    if i < LINEAR {
        i
    } else {
        let j = i - LINEAR;
        let shift = j / SUB + 1;
        let sub = j % SUB + SUB;
        ((sub + 1) << shift) - 1
    }
}

/// The `p`th percentile (0 < p ≤ 100) of a bucket array, as the highest value of the
/// bucket holding that rank; `None` when empty.
pub fn percentile(counts: &[u64], p: f64) -> Option<u64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((p / 100.0) * total as f64).ceil().clamp(1.0, total as f64) as u64;
    let mut seen = 0;
    for (i, &c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return Some(bucket_high(i));
        }
    }
    Some(bucket_high(counts.len().saturating_sub(1)))
}

/// The highest non-empty bucket's high value; `None` when empty.
pub fn highest(counts: &[u64]) -> Option<u64> {
    counts.iter().rposition(|&c| c > 0).map(bucket_high)
}

/// A single-writer histogram.
pub struct Hist {
    buckets: Box<[AtomicU64]>,
    max: AtomicU64,
}

impl Default for Hist {
    fn default() -> Self {
        Self::new()
    }
}

impl Hist {
    /// An empty histogram.
    pub fn new() -> Hist {
        Hist {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
        }
    }

    /// Records one value. Only one thread may call this on a given histogram.
    #[inline]
    pub fn record(&self, v: u64) {
        let b = &self.buckets[index(v)];
        b.store(b.load(Relaxed) + 1, Relaxed);
        if v > self.max.load(Relaxed) {
            self.max.store(v, Relaxed);
        }
    }

    /// Adds the current counts into `acc` (which must have [`BUCKETS`] entries).
    pub fn add_to(&self, acc: &mut [u64]) {
        for (a, b) in acc.iter_mut().zip(self.buckets.iter()) {
            *a += b.load(Relaxed);
        }
    }

    /// The exact largest value recorded.
    pub fn max(&self) -> u64 {
        self.max.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        for v in 0..LINEAR {
            assert_eq!(bucket_high(index(v)), v);
        }
    }

    #[test]
    fn buckets_are_contiguous_and_monotonic() {
        let mut prev_high = None;
        for i in 0..BUCKETS {
            let hi = bucket_high(i);
            if let Some(p) = prev_high {
                assert!(hi > p, "bucket {i}");
                // The value just above the previous bucket lands in this one.
                assert_eq!(index(p + 1), i, "bucket {i}");
            }
            assert_eq!(index(hi), i);
            prev_high = Some(hi);
        }
        assert_eq!(bucket_high(BUCKETS - 1), MAX_VALUE);
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn relative_error_is_bounded() {
        let mut v = 1u64;
        while v < MAX_VALUE {
            let hi = bucket_high(index(v));
            assert!(hi >= v);
            assert!((hi - v) as f64 <= v as f64 / 64.0 + 1.0, "{v} -> {hi}");
            v = v * 3 / 2 + 1;
        }
    }

    #[test]
    fn percentiles_of_a_uniform_distribution() {
        let h = Hist::new();
        for v in 1..=10_000u64 {
            h.record(v * 1000); // 1 us .. 10 ms
        }
        let mut c = vec![0; BUCKETS];
        h.add_to(&mut c);
        let check = |p: f64, want: f64| {
            let got = percentile(&c, p).unwrap() as f64;
            assert!(
                (got - want).abs() / want < 0.02,
                "p{p}: got {got}, want {want}"
            );
        };
        check(50.0, 5_000_000.0);
        check(95.0, 9_500_000.0);
        check(99.0, 9_900_000.0);
        check(100.0, 10_000_000.0);
        assert_eq!(h.max(), 10_000_000);
        let top = highest(&c).unwrap();
        assert!((10_000_000..10_200_000).contains(&top));
    }

    #[test]
    fn percentile_edge_cases() {
        assert_eq!(percentile(&vec![0; BUCKETS], 50.0), None);
        assert_eq!(highest(&vec![0; BUCKETS]), None);
        let mut c = vec![0; BUCKETS];
        c[index(42)] = 1;
        assert_eq!(percentile(&c, 0.0), Some(42));
        assert_eq!(percentile(&c, 50.0), Some(42));
        assert_eq!(percentile(&c, 100.0), Some(42));
        // 99 fast and 1 slow: p99 is fast, p100 slow.
        let mut c = vec![0; BUCKETS];
        c[index(100)] = 99;
        c[index(1_000_000)] = 1;
        assert_eq!(percentile(&c, 99.0), Some(100));
        assert!(percentile(&c, 99.5).unwrap() >= 1_000_000);
    }
}
