//! Topic routing's worst case, end to end: 2,000 bindings made of `#`, `*` and words on one
//! topic exchange, and publishes with a 127-word routing key. Reports the time from publish
//! to confirm per message, and meanwhile the round-trip time of a cheap request on another
//! connection (routing must not stall other clients).
//!
//!     cargo run --release -p warren-perf --example topic_worst_case -- amqp://guest:guest@127.0.0.1:5672/%2f [bindings] [publishes]

use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use std::time::{Duration, Instant};

/// Deterministic xorshift, so every run (and every broker) gets the same patterns.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// A hostile pattern: 20 to 120 words, mostly wildcards.
fn pattern(rng: &mut Rng) -> String {
    let n = 20 + rng.below(101);
    let words: Vec<&str> = (0..n)
        .map(|_| ["#", "*", "#", "*", "a", "b"][rng.below(6)])
        .collect();
    words.join(".")
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    millis(sorted[i])
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .cloned()
        .unwrap_or("amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let bindings: usize = args.get(2).map_or(Ok(2000), |s| s.parse())?;
    let publishes: usize = args.get(3).map_or(Ok(50), |s| s.parse())?;
    let props = ConnectionProperties::default();
    let conn = Connection::connect(&url, props.clone()).await?;
    let ch = conn.create_channel().await?;
    let x = "topic-worst-case";
    ch.exchange_declare(
        x.into(),
        ExchangeKind::Topic,
        Default::default(),
        FieldTable::default(),
    )
    .await?;
    let q = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let t = Instant::now();
    for _ in 0..bindings {
        let p = pattern(&mut rng);
        ch.queue_bind(
            q.name().clone(),
            x.into(),
            p.as_str().into(),
            Default::default(),
            FieldTable::default(),
        )
        .await?;
    }
    println!("{bindings} bindings made in {:.0} ms", millis(t.elapsed()));

    // Another client's cheap requests, timed while the publishes run.
    let other = Connection::connect(&url, props).await?;
    let och = other.create_channel().await?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let watcher = tokio::spawn(async move {
        let mut worst = Duration::ZERO;
        let mut n = 0u32;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let t = Instant::now();
            let passive = ExchangeDeclareOptions {
                passive: true,
                ..Default::default()
            };
            if och
                .exchange_declare(
                    "amq.direct".into(),
                    ExchangeKind::Direct,
                    passive,
                    FieldTable::default(),
                )
                .await
                .is_err()
            {
                break;
            }
            worst = worst.max(t.elapsed());
            n += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        (n, worst)
    });

    ch.confirm_select(Default::default()).await?;
    let key = (0..127)
        .map(|i| ["a", "b"][i % 2])
        .collect::<Vec<_>>()
        .join(".");
    let mut times = Vec::with_capacity(publishes);
    for _ in 0..publishes {
        let t = Instant::now();
        ch.basic_publish(
            x.into(),
            key.as_str().into(),
            Default::default(),
            b"m",
            BasicProperties::default(),
        )
        .await?
        .await?;
        times.push(t.elapsed());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (requests, worst) = watcher.await?;
    times.sort();
    println!(
        "publish to confirm, {publishes} publishes of a 127-word key: median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        percentile(&times, 0.5),
        percentile(&times, 0.9),
        percentile(&times, 1.0)
    );
    println!(
        "other connection meanwhile: {requests} requests, slowest {:.2} ms",
        millis(worst)
    );
    conn.close(200, "done".into()).await?;
    Ok(())
}
