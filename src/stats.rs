//! Message statistics as the management API reports them (`message_stats`): counters the
//! publish and deliver paths bump (one relaxed atomic add each, nothing else on the hot
//! path), and rates a sampler computes off that path every [`SAMPLE_INTERVAL`]. Memory per
//! object is fixed: the counters, the previous sample and the rates.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often rates are sampled (RabbitMQ's `collect_statistics_interval` default).
pub(crate) const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// What is counted, with RabbitMQ's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stat {
    Publish,
    PublishIn,
    PublishOut,
    Confirm,
    Deliver,
    DeliverNoAck,
    Get,
    GetNoAck,
    GetEmpty,
    Ack,
    Redeliver,
    ReturnUnroutable,
    DropUnroutable,
}

pub(crate) const N: usize = 13;

impl Stat {
    pub(crate) const ALL: [Stat; N] = [
        Stat::Publish,
        Stat::PublishIn,
        Stat::PublishOut,
        Stat::Confirm,
        Stat::Deliver,
        Stat::DeliverNoAck,
        Stat::Get,
        Stat::GetNoAck,
        Stat::GetEmpty,
        Stat::Ack,
        Stat::Redeliver,
        Stat::ReturnUnroutable,
        Stat::DropUnroutable,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Stat::Publish => "publish",
            Stat::PublishIn => "publish_in",
            Stat::PublishOut => "publish_out",
            Stat::Confirm => "confirm",
            Stat::Deliver => "deliver",
            Stat::DeliverNoAck => "deliver_no_ack",
            Stat::Get => "get",
            Stat::GetNoAck => "get_no_ack",
            Stat::GetEmpty => "get_empty",
            Stat::Ack => "ack",
            Stat::Redeliver => "redeliver",
            Stat::ReturnUnroutable => "return_unroutable",
            Stat::DropUnroutable => "drop_unroutable",
        }
    }
}

/// A set of counts, as read at one moment.
pub(crate) type Counts = [u64; N];

/// Counters the hot path bumps.
#[derive(Default)]
pub(crate) struct Counters([AtomicU64; N]);

impl Counters {
    #[inline]
    pub(crate) fn add(&self, stat: Stat, n: u64) {
        self.0[stat as usize].fetch_add(n, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn inc(&self, stat: Stat) {
        self.add(stat, 1);
    }

    pub(crate) fn counts(&self) -> Counts {
        std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed))
    }

    /// Adds counts gathered elsewhere (a closed channel's, into its vhost).
    pub(crate) fn absorb(&self, counts: &Counts) {
        for (c, n) in self.0.iter().zip(counts) {
            c.fetch_add(*n, Ordering::Relaxed);
        }
    }
}

/// Rates from successive samples of some counts.
#[derive(Default)]
pub(crate) struct Rates(Mutex<Sample>);

#[derive(Default)]
struct Sample {
    at: Option<Instant>,
    counts: Counts,
    rates: [f64; N],
}

impl Rates {
    /// Takes a sample: rates are the change since the previous one, per second.
    pub(crate) fn sample(&self, now: Instant, counts: Counts) {
        let mut s = self.0.lock();
        if let Some(at) = s.at {
            let secs = now.duration_since(at).as_secs_f64();
            if secs > 0.0 {
                let Sample {
                    counts: last,
                    rates,
                    ..
                } = &mut *s;
                for ((r, now), then) in rates.iter_mut().zip(&counts).zip(last.iter()) {
                    *r = now.saturating_sub(*then) as f64 / secs;
                }
            }
        }
        s.at = Some(now);
        s.counts = counts;
    }

    pub(crate) fn rates(&self) -> [f64; N] {
        self.0.lock().rates
    }

    /// The counts as of the last sample, and the rates.
    pub(crate) fn last(&self) -> (Counts, [f64; N]) {
        let s = self.0.lock();
        (s.counts, s.rates)
    }
}

/// An object's counters and their rates.
#[derive(Default)]
pub(crate) struct MessageStats {
    pub counters: Counters,
    pub rates: Rates,
}

impl MessageStats {
    #[inline]
    pub(crate) fn add(&self, stat: Stat, n: u64) {
        self.counters.add(stat, n);
    }

    #[inline]
    pub(crate) fn inc(&self, stat: Stat) {
        self.counters.inc(stat);
    }

    pub(crate) fn counts(&self) -> Counts {
        self.counters.counts()
    }

    pub(crate) fn sample(&self, now: Instant) {
        self.rates.sample(now, self.counts());
    }

    pub(crate) fn rates(&self) -> [f64; N] {
        self.rates.rates()
    }

    /// (name, count, rate) for the stats that ever counted, in RabbitMQ's order.
    pub(crate) fn report(&self) -> Vec<(&'static str, u64, f64)> {
        report(&self.counts(), &self.rates())
    }
}

/// (name, count, rate) for every stat that counted something, plus RabbitMQ's
/// `deliver_get` (all deliveries and gets).
pub(crate) fn report(counts: &Counts, rates: &[f64; N]) -> Vec<(&'static str, u64, f64)> {
    let mut out: Vec<_> = Stat::ALL
        .iter()
        .filter(|s| counts[**s as usize] > 0)
        .map(|s| (s.name(), counts[*s as usize], rates[*s as usize]))
        .collect();
    let dg = [Stat::Deliver, Stat::DeliverNoAck, Stat::Get, Stat::GetNoAck];
    let n: u64 = dg.iter().map(|s| counts[*s as usize]).sum();
    if n > 0 {
        let r: f64 = dg.iter().map(|s| rates[*s as usize]).sum();
        out.push(("deliver_get", n, r));
    }
    out
}

/// Sums of several objects' counts and rates (a vhost's channels, the node's vhosts).
#[derive(Default, Clone, Debug)]
pub(crate) struct Totals {
    pub counts: Counts,
    pub rates: [f64; N],
}

impl Totals {
    pub(crate) fn add(&mut self, s: &MessageStats) {
        self.add_parts(&s.counts(), &s.rates());
    }

    pub(crate) fn add_parts(&mut self, counts: &Counts, rates: &[f64; N]) {
        for i in 0..N {
            self.counts[i] += counts[i];
            self.rates[i] += rates[i];
        }
    }

    pub(crate) fn report(&self) -> Vec<(&'static str, u64, f64)> {
        report(&self.counts, &self.rates)
    }
}

/// A gauge's value (a queue's length, say) and its rate of change per second.
#[derive(Default)]
pub(crate) struct Gauges<const G: usize> {
    sampled: Mutex<GaugeSample<G>>,
}

struct GaugeSample<const G: usize> {
    at: Option<Instant>,
    values: [u64; G],
    rates: [f64; G],
}

impl<const G: usize> Default for GaugeSample<G> {
    fn default() -> Self {
        Self {
            at: None,
            values: [0; G],
            rates: [0.0; G],
        }
    }
}

impl<const G: usize> Gauges<G> {
    pub(crate) fn sample(&self, now: Instant, values: [u64; G]) {
        let mut s = self.sampled.lock();
        if let Some(at) = s.at {
            let secs = now.duration_since(at).as_secs_f64();
            if secs > 0.0 {
                let GaugeSample {
                    values: last,
                    rates,
                    ..
                } = &mut *s;
                for ((r, now), then) in rates.iter_mut().zip(&values).zip(last.iter()) {
                    *r = (*now as f64 - *then as f64) / secs;
                }
            }
        }
        s.at = Some(now);
        s.values = values;
    }

    pub(crate) fn rates(&self) -> [f64; G] {
        self.sampled.lock().rates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_the_change_between_samples_per_second() {
        let s = MessageStats::default();
        let t0 = Instant::now();
        s.sample(t0);
        s.add(Stat::Publish, 50);
        s.inc(Stat::Ack);
        s.sample(t0 + Duration::from_secs(5));
        let r = s.report();
        assert_eq!(r[0], ("publish", 50, 10.0));
        assert_eq!(r[1], ("ack", 1, 0.2));
        assert_eq!(r.len(), 2, "only what counted is reported: {r:?}");
        s.sample(t0 + Duration::from_secs(10));
        assert_eq!(s.report()[0], ("publish", 50, 0.0));
    }

    #[test]
    fn deliver_get_sums_deliveries_and_gets() {
        let s = MessageStats::default();
        s.add(Stat::Deliver, 2);
        s.add(Stat::GetNoAck, 3);
        let r = s.report();
        assert_eq!(r.last(), Some(&("deliver_get", 5, 0.0)));
    }

    #[test]
    fn gauges_rate_can_be_negative() {
        let g = Gauges::<1>::default();
        let t0 = Instant::now();
        g.sample(t0, [10]);
        g.sample(t0 + Duration::from_secs(2), [4]);
        assert_eq!(g.rates(), [-3.0]);
    }
}

/// Recent samples of one object (the node, or a watched queue, exchange or vhost), newest
/// last, for charts (`msg_rates_age`, `lengths_age`): at most `cap` samples, one per
/// sampling round.
pub(crate) struct History {
    cap: usize,
    ring: Mutex<std::collections::VecDeque<Snapshot>>,
}

/// One hour at one sample every five seconds.
pub(crate) const HISTORY_LEN: usize = 720;

impl Default for History {
    /// The node's: an hour.
    fn default() -> Self {
        Self::with_capacity(HISTORY_LEN)
    }
}

/// An object's counts and lengths at one moment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Snapshot {
    /// Unix ms.
    pub at_ms: u64,
    pub counts: Counts,
    /// Messages, ready, unacknowledged.
    pub lengths: [u64; 3],
}

/// A series as RabbitMQ reports it: `samples` newest first, `avg_rate`, `avg`.
#[derive(Debug, PartialEq)]
pub(crate) struct Series {
    pub samples: Vec<(u64, u64)>,
    pub avg_rate: f64,
    pub avg: f64,
}

impl History {
    pub(crate) fn with_capacity(cap: usize) -> Self {
        Self {
            cap,
            ring: Mutex::new(std::collections::VecDeque::with_capacity(cap)),
        }
    }

    pub(crate) fn push(&self, s: Snapshot) {
        let mut h = self.ring.lock();
        if h.len() == self.cap {
            h.pop_front();
        }
        h.push_back(s);
    }

    /// Rates of change of the lengths over the last two samples.
    pub(crate) fn length_rates(&self) -> [f64; 3] {
        let h = self.ring.lock();
        let n = h.len();
        if n < 2 {
            return [0.0; 3];
        }
        let (a, b) = (&h[n - 2], &h[n - 1]);
        let secs = b.at_ms.saturating_sub(a.at_ms) as f64 / 1000.0;
        if secs <= 0.0 {
            return [0.0; 3];
        }
        std::array::from_fn(|i| (b.lengths[i] as f64 - a.lengths[i] as f64) / secs)
    }

    /// One value's series over the last `age_s` seconds, every `incr_s` seconds (points
    /// aligned to `incr_s`), each the newest snapshot before the next point.
    pub(crate) fn series(
        &self,
        age_s: u64,
        incr_s: u64,
        value: impl Fn(&Snapshot) -> u64,
    ) -> Series {
        let h = self.ring.lock();
        let Some(newest) = h.back() else {
            return Series {
                samples: Vec::new(),
                avg_rate: 0.0,
                avg: 0.0,
            };
        };
        let incr_ms = incr_s.max(1) * 1000;
        let end = newest.at_ms / incr_ms * incr_ms;
        let start = end.saturating_sub(age_s * 1000);
        let mut samples = Vec::new();
        let mut t = end;
        while t >= start && samples.len() <= self.cap {
            // The state at the end of the interval that starts at `t`.
            match h.iter().rev().find(|s| s.at_ms < t + incr_ms) {
                Some(s) => samples.push((t, value(s))),
                None => break,
            }
            if t < incr_ms {
                break;
            }
            t -= incr_ms;
        }
        let avg = if samples.is_empty() {
            0.0
        } else {
            samples.iter().map(|(_, v)| *v as f64).sum::<f64>() / samples.len() as f64
        };
        let avg_rate = match (samples.first(), samples.last()) {
            (Some((t1, v1)), Some((t0, v0))) if t1 > t0 => {
                (*v1 as f64 - *v0 as f64) / ((t1 - t0) as f64 / 1000.0)
            }
            _ => 0.0,
        };
        Series {
            samples,
            avg_rate,
            avg,
        }
    }
}

#[cfg(test)]
mod history_tests {
    use super::*;

    fn snap(at_ms: u64, publish: u64, messages: u64) -> Snapshot {
        let mut counts = [0; N];
        counts[Stat::Publish as usize] = publish;
        Snapshot {
            at_ms,
            counts,
            lengths: [messages, messages, 0],
        }
    }

    #[test]
    fn series_pick_the_newest_sample_at_each_point_and_average() {
        let h = History::default();
        for i in 0..10u64 {
            h.push(snap(1_000_001 + i * 5000, i * 50, i));
        }
        let s = h.series(20, 5, |s| s.counts[Stat::Publish as usize]);
        assert_eq!(
            s.samples,
            vec![
                (1_045_000, 450),
                (1_040_000, 400),
                (1_035_000, 350),
                (1_030_000, 300),
                (1_025_000, 250)
            ]
        );
        assert_eq!(s.avg_rate, 10.0);
        assert_eq!(s.avg, 350.0);
        assert_eq!(h.length_rates(), [0.2, 0.2, 0.0]);
    }

    #[test]
    fn history_is_bounded() {
        let h = History::default();
        for i in 0..(HISTORY_LEN as u64 + 50) {
            h.push(snap(i * 5000, i, 0));
        }
        assert_eq!(h.ring.lock().len(), HISTORY_LEN);
        assert_eq!(h.ring.lock().front().map(|s| s.at_ms), Some(50 * 5000));
    }
}
