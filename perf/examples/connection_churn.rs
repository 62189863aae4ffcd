//! Connection churn: opens AMQP connections and closes them again, as fast as the broker
//! lets it, with CONCURRENCY in flight, for SECONDS. Each one is a TCP connect, with an
//! `amqps://` URI a full TLS handshake (no session resumption: see warren_perf::tls), the
//! AMQP handshake (PLAIN, tune, open) and a clean close (close-ok awaited), through the same
//! client warren-perf's producers and consumers use. Prints one JSON line:
//! `{"connections": N, "seconds": S, "rate": N/S, "errors": E, "tls": "TLSv1_3 <suite> <group>"}`
//! (`"none"` over plain TCP); exits non-zero if any connection failed (the first error goes
//! to stderr).
//!
//!     cargo run --release -p warren-perf --example connection_churn -- URI [SECONDS] [CONCURRENCY]
//!     # e.g. 'amqps://guest:guest@localhost:5671/%2f?cacertfile=/tmp/ca.crt' 5 8

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use warren_perf::client::Conn;

#[derive(Default)]
struct Counts {
    opened: AtomicU64,
    errors: AtomicU64,
}

async fn churn(uri: Arc<warren_perf::uri::Uri>, until: Instant, counts: Arc<Counts>) {
    while Instant::now() < until {
        match Conn::open(&uri, "connection churn").await {
            Ok(c) => {
                if c.close().await {
                    counts.opened.fetch_add(1, Relaxed);
                } else if counts.errors.fetch_add(1, Relaxed) == 0 {
                    eprintln!("connection_churn: no close-ok from the server");
                }
            }
            Err(e) => {
                if counts.errors.fetch_add(1, Relaxed) == 0 {
                    eprintln!("connection_churn: {e}");
                }
                // Not a busy loop against a broker that refuses.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let uri = args
        .next()
        .unwrap_or_else(|| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let parse = |s: Option<String>, default: u64| s.map_or(Ok(default), |s| s.parse::<u64>());
    let (seconds, concurrency) = match (parse(args.next(), 5), parse(args.next(), 8)) {
        (Ok(s), Ok(c)) if s > 0 && c > 0 => (s, c),
        _ => {
            eprintln!("usage: connection_churn URI [SECONDS > 0] [CONCURRENCY > 0]");
            return std::process::ExitCode::from(2);
        }
    };
    let uri = match warren_perf::uri::parse(&uri) {
        Ok(u) => Arc::new(u),
        Err(e) => {
            eprintln!("connection_churn: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let counts = Arc::new(Counts::default());
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| tokio::spawn(churn(uri.clone(), until, counts.clone())))
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let secs = start.elapsed().as_secs_f64();
    let (n, errors) = (counts.opened.load(Relaxed), counts.errors.load(Relaxed));
    let tls = warren_perf::tls::first_session().unwrap_or("none");
    println!(
        "{{\"connections\": {n}, \"seconds\": {secs:.3}, \"rate\": {:.1}, \"errors\": {errors}, \"tls\": \"{tls}\"}}",
        n as f64 / secs
    );
    if errors > 0 || n == 0 {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
