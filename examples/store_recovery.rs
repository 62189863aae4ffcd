//! Measures message-store recovery: writes N small persistent messages for one durable
//! queue straight into a store in a temp dir, closes it, then times reopening (checksum
//! scan, ack replay, index rebuild). `cargo run --release --example store_recovery -- 10000000`

use amq_protocol::protocol::BasicProperties;
use std::collections::HashSet;
use std::time::Instant;
use warren::message::Message;
use warren::store::messages::MessageStore;
use warren::store::record::queue_key;

fn main() -> std::io::Result<()> {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let key = queue_key("/", "bench");
    let known: HashSet<u64> = [key].into();
    let props = BasicProperties::default().with_delivery_mode(2);
    let raw = warren::message::props::encode_properties(&props);
    let msg = Message::new("", "bench", &raw, &[b'x'; 16]);
    let (store, _) = MessageStore::open(dir.path(), Some(&known))?;
    let t = Instant::now();
    for _ in 0..n {
        store.append(&msg, &[key], 1, None)?;
    }
    store.close();
    let write = t.elapsed();
    drop(store);
    let bytes: u64 = std::fs::read_dir(dir.path())?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    let t = Instant::now();
    let (_store, recovered) = MessageStore::open(dir.path(), Some(&known))?;
    let recover = t.elapsed();
    let count: usize = recovered.queues.values().map(Vec::len).sum();
    println!(
        "{n} messages of 16 B ({:.0} MiB on disk): written in {:.2} s, recovered {count} in {:.2} s ({:.1} M msg/s)",
        bytes as f64 / 1048576.0,
        write.as_secs_f64(),
        recover.as_secs_f64(),
        count as f64 / recover.as_secs_f64() / 1e6
    );
    Ok(())
}
