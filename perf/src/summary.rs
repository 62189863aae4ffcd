//! The end-of-run summary, as text or JSON.

use serde_json::{json, Value};

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// Everything a run reports.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// What the broker called itself.
    pub broker: String,
    /// "standard" or "pre-publish".
    pub mode: &'static str,
    /// Producers, consumers, queues, body size.
    pub producers: u32,
    /// Consumers.
    pub consumers: u32,
    /// Queues.
    pub queues: u32,
    /// Body size.
    pub body_size: usize,
    /// Length of the measurement window (for pre-publish: of the drain).
    pub seconds: f64,
    /// Published within the window (pre-publish: the backlog).
    pub published: u64,
    /// Confirmed within the window.
    pub confirmed: u64,
    /// Nacked within the window.
    pub nacked: u64,
    /// Consumed within the window (pre-publish: drained).
    pub consumed: u64,
    /// Consumed in all, including the drain after the window.
    pub consumed_total: u64,
    /// published / seconds (pre-publish: over the publishing phase).
    pub publish_rate: f64,
    /// confirmed / seconds (pre-publish: over the publishing phase).
    pub confirm_rate: f64,
    /// consumed / seconds (pre-publish: the drain rate).
    pub consume_rate: f64,
    /// Latency of every delivery with a valid stamp (including the drain).
    pub latency_us: Option<Latency>,
    /// Sequence gaps: messages missing below the highest one received.
    pub lost: u64,
    /// Messages delivered more than once.
    pub duplicated: u64,
    /// Messages delivered after a later one of the same producer (per consumer).
    pub reordered: u64,
    /// Deliveries whose body was not a stamp of this run.
    pub invalid: u64,
    /// Messages published (to queues with consumers) but never delivered by the end.
    pub unconsumed: u64,
    /// basic.return received.
    pub returned: u64,
    /// The tool's user+sys CPU seconds over the window.
    pub tool_cpu_seconds: f64,
    /// tool_cpu_seconds / (published + consumed) in microseconds.
    pub tool_cpu_us_per_msg: f64,
    /// Pre-publish: how long publishing the backlog took.
    pub prepublish_seconds: Option<f64>,
}

fn round(v: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (v * m).round() / m
}

impl Summary {
    /// The summary as one JSON object.
    pub fn to_json(&self) -> Value {
        let lat = self.latency_us.map(|l| {
            json!({
                "p50": round(l.p50, 1),
                "p95": round(l.p95, 1),
                "p99": round(l.p99, 1),
                "max": round(l.max, 1),
            })
        });
        let mut v = json!({
            "broker": self.broker,
            "mode": self.mode,
            "producers": self.producers,
            "consumers": self.consumers,
            "queues": self.queues,
            "body_size": self.body_size,
            "seconds": round(self.seconds, 3),
            "published": self.published,
            "confirmed": self.confirmed,
            "nacked": self.nacked,
            "consumed": self.consumed,
            "consumed_total": self.consumed_total,
            "publish_rate": round(self.publish_rate, 1),
            "confirm_rate": round(self.confirm_rate, 1),
            "consume_rate": round(self.consume_rate, 1),
            "latency_us": lat,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "reordered": self.reordered,
            "invalid": self.invalid,
            "unconsumed": self.unconsumed,
            "returned": self.returned,
            "tool_cpu_seconds": round(self.tool_cpu_seconds, 3),
            "tool_cpu_us_per_msg": round(self.tool_cpu_us_per_msg, 3),
        });
        if let (Some(s), Value::Object(m)) = (self.prepublish_seconds, &mut v) {
            m.insert("prepublish_seconds".into(), json!(round(s, 3)));
            m.insert("drain_rate".into(), json!(round(self.consume_rate, 1)));
        }
        v
    }

    /// The summary as text.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let mut line = |l: String| {
            s.push_str(&l);
            s.push('\n');
        };
        line(format!(
            "summary ({}; {} producer(s), {} consumer(s), {} queue(s), {} B bodies; broker {})",
            self.mode,
            self.producers,
            self.consumers,
            self.queues,
            self.body_size,
            if self.broker.is_empty() {
                "?"
            } else {
                &self.broker
            }
        ));
        if let Some(pp) = self.prepublish_seconds {
            line(format!(
                "  backlog     {:>12} published in {:.3} s = {:.0} msg/s ({} confirmed = {:.0} msg/s)",
                self.published, pp, self.publish_rate, self.confirmed, self.confirm_rate
            ));
            line(format!(
                "  drained     {:>12} in {:.3} s = {:.0} msg/s",
                self.consumed, self.seconds, self.consume_rate
            ));
        } else {
            line(format!("  window      {:>12.3} s", self.seconds));
            line(format!(
                "  published   {:>12}  {:>10.0} msg/s",
                self.published, self.publish_rate
            ));
            line(format!(
                "  confirmed   {:>12}  {:>10.0} msg/s{}",
                self.confirmed,
                self.confirm_rate,
                if self.nacked > 0 {
                    format!("  ({} nacked)", self.nacked)
                } else {
                    String::new()
                }
            ));
            line(format!(
                "  consumed    {:>12}  {:>10.0} msg/s  ({} in all, with the drain after the window)",
                self.consumed, self.consume_rate, self.consumed_total
            ));
        }
        match self.latency_us {
            Some(l) => line(format!(
                "  latency     p50 {:.0} us  p95 {:.0} us  p99 {:.0} us  max {:.0} us",
                l.p50, l.p95, l.p99, l.max
            )),
            None => line("  latency     (no deliveries)".into()),
        }
        line(format!(
            "  integrity   lost {}  duplicated {}  reordered {}  invalid {}  unconsumed {}{}",
            self.lost,
            self.duplicated,
            self.reordered,
            self.invalid,
            self.unconsumed,
            if self.returned > 0 {
                format!("  returned {}", self.returned)
            } else {
                String::new()
            }
        ));
        line(format!(
            "  tool cpu    {:.3} s user+sys = {:.3} us per message handled (published + consumed), {:.0}% of a core",
            self.tool_cpu_seconds,
            self.tool_cpu_us_per_msg,
            if self.seconds > 0.0 {
                100.0 * self.tool_cpu_seconds
                    / (self.seconds + self.prepublish_seconds.unwrap_or(0.0))
            } else {
                0.0
            }
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_the_documented_keys() {
        let s = Summary {
            mode: "standard",
            seconds: 5.0,
            published: 100,
            consumed: 100,
            publish_rate: 20.0,
            consume_rate: 20.0,
            latency_us: Some(Latency {
                p50: 1.0,
                p95: 2.0,
                p99: 3.0,
                max: 4.0,
            }),
            ..Default::default()
        };
        let v = s.to_json();
        for k in [
            "published",
            "confirmed",
            "consumed",
            "publish_rate",
            "confirm_rate",
            "consume_rate",
            "latency_us",
            "lost",
            "duplicated",
            "reordered",
            "tool_cpu_us_per_msg",
            "seconds",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        assert_eq!(v["latency_us"]["p99"], 3.0);
        assert!(s.to_text().contains("p99 3 us"));
    }
}
