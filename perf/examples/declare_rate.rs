//! Declare rate: one client declares durable queues and binds each one, one round trip per
//! method (no pipelining), as an application setting up its topology does. Prints the rate
//! (queues per second, each a declare and a bind) over each block of `block` queues, so the
//! rate at 1,000 existing queues can be compared with the rate at 10,000. The queues are
//! deleted afterwards (not timed).
//!
//!     cargo run --release -p warren-perf --example declare_rate -- URL [COUNT] [BLOCK]
//!
//! Output: one line per block, `queues=N rate=R/s`, then `total=... rate=R/s`.

use lapin::options::{QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use std::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let count: usize = args.next().map_or(Ok(10_000), |s| s.parse())?;
    let block: usize = args.next().map_or(Ok(1_000), |s| s.parse())?;
    let conn = Connection::connect(&url, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    let prefix = format!("declare-rate-{}", std::process::id());
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let start = Instant::now();
    let mut block_start = Instant::now();
    for i in 0..count {
        let name = format!("{prefix}-{i:06}");
        ch.queue_declare(name.as_str().into(), durable, FieldTable::default())
            .await?;
        ch.queue_bind(
            name.as_str().into(),
            "amq.direct".into(),
            name.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
        if (i + 1) % block == 0 {
            let secs = block_start.elapsed().as_secs_f64();
            println!("queues={} rate={:.0}/s", i + 1, block as f64 / secs);
            block_start = Instant::now();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!("total={count} rate={:.0}/s", count as f64 / secs);
    for i in 0..count {
        let name = format!("{prefix}-{i:06}");
        ch.queue_delete(name.as_str().into(), QueueDeleteOptions::default())
            .await?;
    }
    conn.close(200, "done".into()).await?;
    Ok(())
}
