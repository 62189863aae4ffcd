//! The latency floor of this machine for L1's traffic shape, with no broker work at all.
//!
//! `relay_floor relay ADDR` forwards bytes: what the producer connection sends goes to the
//! consumer connection, and each read is answered to the producer with an 8-byte "confirm".
//! `relay_floor client ADDR [RATE] [SECONDS]` is a producer and a consumer, each on its own
//! thread and current-thread runtime and paced the way warren-perf paces `-r` (tokio's
//! `sleep_until`). Messages are 16 bytes (send time, sequence); the consumer answers each read
//! with an 8-byte "ack". It prints p50/p99/max of the send-to-receive time in ms as JSON.
//!
//! Run the relay on the broker's core and the client on the tool's core (bench/compare.py's
//! L0 scenario does): whatever latency this shows, a broker on this machine cannot go below.

use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use warren_perf::body::now_ns;

const MSG: usize = 16;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

async fn relay(addr: &str) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    let (mut producer, _) = listener.accept().await?;
    let (mut consumer, _) = listener.accept().await?;
    producer.set_nodelay(true)?;
    consumer.set_nodelay(true)?;
    let (mut p_rd, mut p_wr) = producer.split();
    let (mut c_rd, mut c_wr) = consumer.split();
    let mut buf = vec![0u8; 64 * 1024];
    let mut acks = [0u8; 1024];
    loop {
        tokio::select! {
            n = p_rd.read(&mut buf) => {
                let n = n?;
                if n == 0 {
                    return Ok(());
                }
                c_wr.write_all(&buf[..n]).await?;
                p_wr.write_all(&(n as u64).to_be_bytes()).await?;
            }
            n = c_rd.read(&mut acks) => {
                if n? == 0 {
                    return Ok(());
                }
            }
        }
    }
}

async fn produce(conn: TcpStream, rate: u64, run_for: Duration) -> std::io::Result<u64> {
    conn.set_nodelay(true)?;
    let (mut rd, mut wr) = conn.into_split();
    let confirms = tokio::spawn(async move {
        let mut b = [0u8; 1024];
        while matches!(rd.read(&mut b).await, Ok(n) if n > 0) {}
    });
    // The consumer connects meanwhile: no message waits for it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let start = Instant::now();
    let mut seq = 0u64;
    let mut buf = Vec::new();
    while start.elapsed() < run_for {
        let allowed = (start.elapsed().as_secs_f64() * rate as f64) as u64 + 1;
        if allowed <= seq {
            let due = start + Duration::from_secs_f64(seq as f64 / rate as f64);
            tokio::time::sleep_until(due.into()).await;
            continue;
        }
        let ts = now_ns();
        buf.clear();
        for k in seq..allowed {
            buf.extend_from_slice(&ts.to_be_bytes());
            buf.extend_from_slice(&k.to_be_bytes());
        }
        wr.write_all(&buf).await?;
        seq = allowed;
    }
    wr.shutdown().await?;
    confirms.abort();
    Ok(seq)
}

async fn consume(
    addr: String,
    expect: std::sync::mpsc::Receiver<u64>,
) -> std::io::Result<Vec<u64>> {
    let mut conn = TcpStream::connect(&addr).await?;
    conn.set_nodelay(true)?;
    let mut lat = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut have = 0;
    loop {
        let n =
            match tokio::time::timeout(Duration::from_secs(2), conn.read(&mut buf[have..])).await {
                Ok(n) => n?,
                Err(_) => break,
            };
        if n == 0 {
            break;
        }
        let now = now_ns();
        have += n;
        let whole = have / MSG * MSG;
        for m in buf[..whole].chunks_exact(MSG) {
            let ts = u64::from_be_bytes(m[..8].try_into().expect("8 bytes"));
            lat.push(now.saturating_sub(ts));
        }
        buf.copy_within(whole..have, 0);
        have -= whole;
        conn.write_all(&(n as u64).to_be_bytes()).await?;
        if let Ok(total) = expect.try_recv() {
            if lat.len() as u64 >= total {
                break;
            }
        }
    }
    Ok(lat)
}

fn client(addr: &str, rate: u64, seconds: u64) -> Result<(), String> {
    // The relay takes the producer first: connect it before the consumer thread starts.
    let (tx, rx) = std::sync::mpsc::channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let a = addr.to_string();
    let producer = std::thread::spawn(move || {
        runtime().block_on(async move {
            let conn = TcpStream::connect(&a).await;
            let _ = ready_tx.send(());
            produce(conn?, rate, Duration::from_secs(seconds)).await
        })
    });
    ready_rx.recv().map_err(|e| e.to_string())?;
    let a = addr.to_string();
    let consumer = std::thread::spawn(move || runtime().block_on(consume(a, rx)));
    let sent = producer
        .join()
        .map_err(|_| "producer panicked")?
        .map_err(|e| format!("producer: {e}"))?;
    let _ = tx.send(sent);
    let mut lat = consumer
        .join()
        .map_err(|_| "consumer panicked")?
        .map_err(|e| format!("consumer: {e}"))?;
    if lat.is_empty() {
        return Err("no message came through the relay".into());
    }
    lat.sort_unstable();
    let at = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize] as f64 / 1e6;
    println!(
        "{{\"sent\": {sent}, \"received\": {}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}, \"max_ms\": {:.3}}}",
        lat.len(),
        at(0.50),
        at(0.99),
        at(1.0)
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    let result = match (args.first().map(String::as_str), args.get(1)) {
        (Some("relay"), Some(addr)) => runtime().block_on(relay(addr)).map_err(|e| e.to_string()),
        (Some("client"), Some(addr)) => client(addr, num(2, 10_000), num(3, 6)),
        _ => Err("usage: relay_floor relay ADDR | relay_floor client ADDR [RATE] [SECONDS]".into()),
    };
    if let Err(e) = result {
        eprintln!("relay_floor: {e}");
        std::process::exit(1);
    }
}
