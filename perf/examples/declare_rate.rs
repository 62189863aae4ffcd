//! Declare rate: clients declare durable queues and bind each one, one round trip per
//! method (no pipelining), as an application setting up its topology does. Prints the rate
//! (queues per second, each a declare and a bind) over each block of `block` queues, so the
//! rate at 1,000 existing queues can be compared with the rate at 10,000. With `clients` > 1,
//! that many connections share the queues (queue `i` goes to client `i % clients`), each
//! still one round trip at a time. The queues are deleted afterwards (not timed).
//!
//!     cargo run --release -p warren-perf --example declare_rate -- URL [COUNT] [BLOCK] [CLIENTS]
//!
//! Output: one line per block, `queues=N rate=R/s`, then `total=... rate=R/s`.

use lapin::options::{QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Progress shared by the clients: queues done, and when the current block began.
struct Progress {
    done: AtomicUsize,
    block: usize,
    block_start: Mutex<Instant>,
}

impl Progress {
    fn one_more(&self) {
        let n = self.done.fetch_add(1, Ordering::AcqRel) + 1;
        if n.is_multiple_of(self.block) {
            let mut start = self.block_start.lock().unwrap_or_else(|e| e.into_inner());
            let secs = start.elapsed().as_secs_f64();
            println!("queues={n} rate={:.0}/s", self.block as f64 / secs);
            *start = Instant::now();
        }
    }
}

async fn declare_share(ch: Channel, names: Vec<String>, progress: Arc<Progress>) -> Res<()> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    for name in names {
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
        progress.one_more();
    }
    Ok(())
}

fn main() -> Res<()> {
    let clients: usize = std::env::args().nth(4).map_or(Ok(1), |s| s.parse())?;
    // One client: one thread, the fewest wake-ups between the client's steps. Several: a
    // thread per core, or lapin handles their connections one at a time (four clients on
    // one thread declared no faster than one).
    let runtime = if clients > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    };
    runtime.block_on(run())
}

async fn run() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let count: usize = args.next().map_or(Ok(10_000), |s| s.parse())?;
    let block: usize = args.next().map_or(Ok(1_000), |s| s.parse())?;
    let clients: usize = args.next().map_or(Ok(1), |s| s.parse())?;
    let clients = clients.max(1);
    let prefix = format!("declare-rate-{}", std::process::id());
    let names: Vec<String> = (0..count).map(|i| format!("{prefix}-{i:06}")).collect();
    let mut conns = Vec::new();
    let mut channels = Vec::new();
    for _ in 0..clients {
        let conn = Connection::connect(&url, ConnectionProperties::default()).await?;
        channels.push(conn.create_channel().await?);
        conns.push(conn);
    }
    let progress = Arc::new(Progress {
        done: AtomicUsize::new(0),
        block: block.max(1),
        block_start: Mutex::new(Instant::now()),
    });
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (c, ch) in channels.iter().enumerate() {
        let share = (names.iter().skip(c).step_by(clients)).cloned().collect();
        tasks.push(tokio::spawn(declare_share(
            ch.clone(),
            share,
            progress.clone(),
        )));
    }
    for t in tasks {
        t.await??;
    }
    let secs = start.elapsed().as_secs_f64();
    println!("total={count} rate={:.0}/s", count as f64 / secs);
    for name in &names {
        channels[0]
            .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
            .await?;
    }
    for conn in conns {
        conn.close(200, "done".into()).await?;
    }
    Ok(())
}
