//! A backlog four times the memory watermark: with `memory_high_watermark = "64MiB"`, about
//! 256 MiB of messages (persistent and transient mixed) go into a durable queue with no
//! consumer. The broker must page messages to its store instead of holding them (so the
//! publisher is never stuck behind the memory alarm for good), deliver every one of them
//! intact and in order afterwards, and never use much more memory than the watermark.

use crate::common;
use common::ChildBroker;
use futures_lite::StreamExt;
use lapin::{options::*, types::FieldTable, BasicProperties, Connection, Event};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;
const WATERMARK: u64 = 64 * MIB;
/// Confirms outstanding at once: the publisher stays at most this far ahead of the broker.
const WINDOW: usize = 16;
/// How long the publisher may make no progress at all before the test calls it stuck.
const STALL: Duration = Duration::from_secs(30);

/// Body of message `i`: its index, then a pseudo-random block rotated by an amount that
/// depends on `i`, so every message's content is distinct and fully checkable.
fn body(base: &[u8], i: usize) -> Vec<u8> {
    let mut rest = base.to_vec();
    rest.rotate_left((i * 7919) % base.len());
    let mut out = (i as u64).to_be_bytes().to_vec();
    out.extend_from_slice(&rest);
    out
}

fn base_block(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    (0..len - 8)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Every third message is transient, the others persistent.
fn is_transient(i: usize) -> bool {
    i.is_multiple_of(3)
}

/// The broker's memory at the moment (for failure messages): /proc status lines and the
/// biggest mappings.
fn memory_report(broker: &ChildBroker) -> String {
    let pid = broker.pid();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let mut out: Vec<String> = status
        .lines()
        .filter(|l| l.starts_with("Rss") || l.starts_with("Vm") || l.starts_with("Threads"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut mapping = "";
    for l in smaps.lines() {
        if l.starts_with(|c: char| c.is_ascii_hexdigit()) && l.contains('-') {
            mapping = l;
        } else if let Some(kb) = l.strip_prefix("Rss:") {
            let kb: u64 = kb.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
            if kb >= 4096 {
                out.push(format!("mapping with {kb} kB resident: {mapping}"));
            }
        }
    }
    out.join("; ")
}

/// Publishes `messages` bodies of `body_len` bytes (with confirms) to a durable queue with no
/// consumer on a broker with a 64 MiB watermark, then drains and checks them all and the
/// broker's peak memory.
async fn backlog(messages: usize, body_len: usize) {
    let cfg = tempfile::tempdir().unwrap();
    let config = cfg.path().join("warren.toml");
    std::fs::write(&config, "[resources]\nmemory_high_watermark = \"64MiB\"\n").unwrap();
    let broker = ChildBroker::spawn(&["--config", config.to_str().unwrap()]);
    let started = Instant::now();

    let conn = Connection::connect(&broker.url(), lapin::ConnectionProperties::default())
        .await
        .expect("connects");
    // Count connection.blocked / unblocked (lapin advertises the capability).
    let blocked = Arc::new(AtomicU64::new(0));
    let unblocked = Arc::new(AtomicU64::new(0));
    let mut events = conn.events_listener();
    {
        let (blocked, unblocked) = (blocked.clone(), unblocked.clone());
        tokio::spawn(async move {
            while let Some(ev) = events.next().await {
                match ev {
                    Event::ConnectionBlocked(_) => blocked.fetch_add(1, Ordering::Relaxed),
                    Event::ConnectionUnblocked => unblocked.fetch_add(1, Ordering::Relaxed),
                    _ => 0,
                };
            }
        });
    }
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare("backlog.q".into(), durable, FieldTable::default())
        .await
        .unwrap();

    let base = base_block(body_len);
    let mut pending = VecDeque::new();
    let mut confirmed = 0usize;
    let stuck = |what: &str, confirmed: usize, broker: &ChildBroker| -> String {
        format!(
            "{what}: no progress for {STALL:?} after {confirmed} of {messages} publishes were \
             confirmed ({} MiB); connection.blocked received {} times, unblocked {} times: the \
             publisher is blocked by the memory alarm for good. Broker memory: {}",
            (confirmed * body_len) as u64 / MIB,
            blocked.load(Ordering::Relaxed),
            unblocked.load(Ordering::Relaxed),
            memory_report(broker),
        )
    };
    for i in 0..messages {
        let mode = if is_transient(i) { 1 } else { 2 };
        let payload = body(&base, i);
        let publish = ch.basic_publish(
            "".into(),
            "backlog.q".into(),
            BasicPublishOptions::default(),
            &payload,
            BasicProperties::default().with_delivery_mode(mode),
        );
        let confirm = match tokio::time::timeout(STALL, publish).await {
            Ok(r) => r.expect("publish"),
            Err(_) => panic!("{}", stuck("basic.publish", confirmed, &broker)),
        };
        pending.push_back(confirm);
        while pending.len() >= WINDOW || (i + 1 == messages && !pending.is_empty()) {
            let c = pending.pop_front().unwrap();
            match tokio::time::timeout(STALL, c).await {
                Ok(r) => assert!(r.expect("confirm").is_ack(), "publish {confirmed} nacked"),
                Err(_) => panic!("{}", stuck("publisher confirm", confirmed, &broker)),
            }
            confirmed += 1;
        }
    }
    assert_eq!(confirmed, messages);
    let published_after = started.elapsed();
    let rss_after_publish = broker.proc_status_bytes("VmRSS");
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let q = ch
        .queue_declare("backlog.q".into(), passive, FieldTable::default())
        .await
        .unwrap();
    assert_eq!(q.message_count() as usize, messages);

    // Drain on another connection, checking every body.
    let consumer_conn = Connection::connect(&broker.url(), lapin::ConnectionProperties::default())
        .await
        .expect("connects");
    let cch = consumer_conn.create_channel().await.unwrap();
    cch.basic_qos(32, BasicQosOptions::default()).await.unwrap();
    let mut consumer = cch
        .basic_consume(
            "backlog.q".into(),
            "drain".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    for i in 0..messages {
        let d = tokio::time::timeout(STALL, consumer.next())
            .await
            .unwrap_or_else(|_| panic!("only {i} of {messages} messages delivered"))
            .expect("consumer open")
            .expect("delivery");
        assert_eq!(d.data.len(), body_len, "message {i} has the wrong size");
        let index = u64::from_be_bytes(d.data[..8].try_into().unwrap()) as usize;
        assert_eq!(index, i, "messages are delivered in publish order");
        assert!(d.data == body(&base, i), "message {i} came back corrupted");
        let mode = if is_transient(i) { 1 } else { 2 };
        assert_eq!(
            d.properties.delivery_mode(),
            &Some(mode),
            "message {i}'s properties"
        );
        assert!(!d.redelivered, "message {i} was never delivered before");
        if i % 16 == 15 || i + 1 == messages {
            d.acker
                .ack(BasicAckOptions { multiple: true })
                .await
                .unwrap();
        }
    }
    let q = cch
        .queue_declare("backlog.q".into(), passive, FieldTable::default())
        .await
        .unwrap();
    assert_eq!(q.message_count(), 0);

    let hwm = broker.proc_status_bytes("VmHWM").expect("VmHWM");
    println!(
        "backlog of {messages} x {body_len} bytes: published {} MiB in {published_after:?}, \
         drained by {:?}; broker VmRSS after publishing {:?} MiB, VmHWM {} MiB; \
         connection.blocked {} times, unblocked {} times",
        (messages * body_len) as u64 / MIB,
        started.elapsed(),
        rss_after_publish.map(|r| r / MIB),
        hwm / MIB,
        blocked.load(Ordering::Relaxed),
        unblocked.load(Ordering::Relaxed),
    );
    assert!(
        hwm < 2 * WATERMARK,
        "the broker's peak resident memory was {} MiB, over the watermark (64 MiB) + 64 MiB",
        hwm / MIB
    );
    assert_eq!(
        blocked.load(Ordering::Relaxed),
        unblocked.load(Ordering::Relaxed),
        "every connection.blocked was followed by connection.unblocked"
    );
    let _ = tokio::task::spawn_blocking(move || broker.stop()).await;
}

/// 2048 messages of 128 KiB: each body arrives in two frames (frame_max is 128 KiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_two_frame_messages_four_times_the_watermark_is_paged_and_delivered() {
    backlog(2048, 128 * 1024).await;
}

/// 4096 messages of 62.5 KiB: each body fits one frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_one_frame_messages_four_times_the_watermark_is_paged_and_delivered() {
    backlog(4096, 64_000).await;
}
