//! The resource alarms of the real binary, driven by real memory use and a real disk limit:
//! a flooding publisher is told `connection.blocked` and stopped while the broker stays
//! alive with bounded memory; draining the queue from another connection clears the alarm
//! and the publisher hears `connection.unblocked` and gets its confirms. A disk limit larger
//! than the free space blocks publishers ("low on disk") but not consumers.

use crate::common;
use common::raw::{Login, Next, RawClient, RawFrame};
use common::ChildBroker;
use futures_lite::StreamExt;
use lapin::protocol::{basic, connection, AMQPClass};
use lapin::{options::*, types::FieldTable, BasicProperties, Connection};
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;
/// The memory watermark: a drained broker (about 7 MiB, most of it the binary's code) is
/// well under it.
const WATERMARK: u64 = 16 * MIB;
/// Messages stay in memory up to twice the watermark, so the flood reaches the watermark
/// before any is paged to disk (at the default half, paging alone would hold it below).
const PAGING_RATIO: f64 = 2.0;
/// Transient messages of this size, one body frame each (frame_max is 128 KiB).
const BODY: usize = 100 * 1024;
/// The flood gives up (and the test fails) after this many messages without a block.
const MAX_FLOOD: u64 = 3000;
const WAIT: Duration = Duration::from_secs(15);

fn write_config(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("warren.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn blocking_login() -> Login {
    Login {
        capabilities: vec!["connection.blocked"],
        ..Default::default()
    }
}

/// Counts the publishes a publisher ack confirms: confirms ready together come as one ack
/// with `multiple` (all in order here, so its tag is the new total).
fn count_ack(acks: &mut u64, a: &basic::Ack) {
    *acks = if a.multiple {
        a.delivery_tag.max(*acks)
    } else {
        *acks + 1
    };
}

/// Reads whatever frames are already waiting (up to `limit` for the first one): counts
/// publisher acks, returns the reason of a `connection.blocked` if one came.
async fn poll_frames(c: &mut RawClient, limit: Duration, acks: &mut u64) -> Option<String> {
    let mut wait = limit;
    loop {
        match c.next(wait).await {
            Next::Frame(RawFrame::Method(
                0,
                AMQPClass::Connection(connection::AMQPMethod::Blocked(b)),
            )) => return Some(b.reason.to_string()),
            Next::Frame(RawFrame::Method(1, AMQPClass::Basic(basic::AMQPMethod::Ack(a)))) => {
                count_ack(acks, &a);
            }
            Next::Frame(RawFrame::Heartbeat(_)) => {}
            Next::Frame(other) => panic!("unexpected frame while publishing: {other:?}"),
            Next::Eof => panic!("the broker closed the publisher's connection"),
            Next::Timeout => return None,
        }
        wait = Duration::from_millis(1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooding_publisher_is_blocked_by_real_memory_use_and_unblocked_after_a_drain() {
    let cfg = tempfile::tempdir().unwrap();
    let config = write_config(
        cfg.path(),
        &format!(
            "[resources]\nmemory_high_watermark = {WATERMARK}\nmemory_paging_ratio = {PAGING_RATIO:?}\n"
        ),
    );
    let mut broker = ChildBroker::spawn(&["--config", &config]);
    let idle_rss = broker.proc_status_bytes("VmRSS").unwrap_or(0);

    let mut publisher = RawClient::open_with(broker.addr, &blocking_login()).await;
    publisher.open_channel(1).await;
    publisher.confirm_select(1).await;
    publisher.queue_declare(1, "flood.q").await;
    let body = vec![0xA5u8; BODY];
    let started = Instant::now();
    let mut sent = 0u64;
    let mut acks = 0u64;
    let reason = loop {
        assert!(
            sent < MAX_FLOOD && started.elapsed() < Duration::from_secs(60),
            "no connection.blocked after {sent} messages ({} MiB) in {:?}; broker VmRSS {:?} \
             MiB, watermark {} MiB",
            sent * BODY as u64 / MIB,
            started.elapsed(),
            broker.proc_status_bytes("VmRSS").map(|r| r / MIB),
            WATERMARK / MIB
        );
        // Once the broker stops reading, a write can only complete while socket buffers
        // have room; the blocked frame arrives long before they fill.
        tokio::time::timeout(WAIT, publisher.publish(1, "", "flood.q", &body))
            .await
            .unwrap_or_else(|_| {
                panic!("publish {sent} stuck, and no connection.blocked was received")
            });
        sent += 1;
        if let Some(reason) = poll_frames(&mut publisher, Duration::ZERO, &mut acks).await {
            break reason;
        }
    };
    assert!(reason.contains("memory"), "blocked reason: {reason:?}");
    let rss_blocked = broker
        .proc_status_bytes("VmRSS")
        .expect("the broker is running");
    assert!(broker.is_running(), "the broker survived the flood");
    assert!(
        rss_blocked < WATERMARK + 32 * MIB,
        "the broker's memory is bounded while the publisher is blocked: VmRSS {} MiB",
        rss_blocked / MIB
    );
    assert!(
        broker
            .wait_for_log("memory alarm raised", WAIT)
            .await
            .is_some(),
        "the broker logs the alarm"
    );
    // No confirm for what was sent after the block until the alarm clears; the rest drains.
    let _ = poll_frames(&mut publisher, Duration::from_millis(300), &mut acks).await;
    assert!(
        acks < sent,
        "the held publish is not confirmed while blocked"
    );

    // Drain from a consumer-only connection: consumers keep working during the alarm.
    let conn = Connection::connect(&broker.url(), lapin::ConnectionProperties::default())
        .await
        .expect("a consumer connects during the alarm");
    let ch = conn.create_channel().await.unwrap();
    let mut consumer = ch
        .basic_consume(
            "flood.q".into(),
            "drain".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let ch2 = ch.clone();
    let drain = tokio::spawn(async move {
        let mut n = 0u64;
        while let Ok(Some(d)) = tokio::time::timeout(Duration::from_secs(2), consumer.next()).await
        {
            let d = d.expect("delivery");
            assert_eq!(d.data.len(), BODY);
            d.acker.ack(BasicAckOptions::default()).await.expect("ack");
            n += 1;
        }
        drop(ch2);
        n
    });

    // The publisher hears connection.unblocked, then the confirms of everything it sent.
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match publisher.next(left).await {
            Next::Frame(RawFrame::Method(
                0,
                AMQPClass::Connection(connection::AMQPMethod::Unblocked(_)),
            )) => break,
            Next::Frame(RawFrame::Method(1, AMQPClass::Basic(basic::AMQPMethod::Ack(a)))) => {
                count_ack(&mut acks, &a)
            }
            Next::Frame(RawFrame::Heartbeat(_)) => {}
            other => panic!(
                "expected connection.unblocked once the queue drained, got {other:?}; broker \
                 VmRSS {:?} MiB",
                broker.proc_status_bytes("VmRSS").map(|r| r / MIB)
            ),
        }
    }
    while acks < sent {
        match publisher.next(WAIT).await {
            Next::Frame(RawFrame::Method(1, AMQPClass::Basic(basic::AMQPMethod::Ack(a)))) => {
                count_ack(&mut acks, &a)
            }
            Next::Frame(RawFrame::Heartbeat(_)) => {}
            other => panic!("expected the remaining confirms ({acks} of {sent}), got {other:?}"),
        }
    }
    let drained = drain.await.unwrap();
    assert_eq!(drained, sent, "every flooded message reached the consumer");
    assert!(
        broker
            .wait_for_log("memory alarm cleared", WAIT)
            .await
            .is_some(),
        "the broker logs that the alarm cleared"
    );
    println!(
        "memory alarm: idle VmRSS {} MiB, blocked after {sent} x {BODY} bytes at VmRSS {} MiB \
         (watermark {} MiB), VmHWM {:?} MiB",
        idle_rss / MIB,
        rss_blocked / MIB,
        WATERMARK / MIB,
        broker.proc_status_bytes("VmHWM").map(|r| r / MIB)
    );
    conn.close(200, "bye".into()).await.unwrap();
    let _ = tokio::task::spawn_blocking(move || broker.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_alarm_blocks_publishers_but_not_consumers() {
    // First boot: 5 persistent messages to consume later.
    let b = ChildBroker::spawn(&[]);
    let conn = Connection::connect(&b.url(), lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare("disk.q".into(), durable, FieldTable::default())
        .await
        .unwrap();
    for i in 0..5 {
        let c = ch
            .basic_publish(
                "".into(),
                "disk.q".into(),
                BasicPublishOptions::default(),
                format!("m{i}").as_bytes(),
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(c.is_ack());
    }
    let dir = tokio::task::spawn_blocking(move || b.stop()).await.unwrap();

    // Second boot: far less free disk than the limit.
    let cfg = tempfile::tempdir().unwrap();
    let config = write_config(cfg.path(), "[resources]\ndisk_free_limit = \"1000TB\"\n");
    let broker = ChildBroker::spawn_in(dir, &["--config", &config]);
    assert!(
        broker
            .wait_for_log("disk alarm raised", WAIT)
            .await
            .is_some(),
        "the disk alarm goes up; log:\n{}",
        broker.log_lines().join("\n")
    );

    let mut publisher = RawClient::open_with(broker.addr, &blocking_login()).await;
    publisher.open_channel(1).await;
    publisher.confirm_select(1).await;
    publisher
        .publish(1, "", "disk.q", b"while low on disk")
        .await;
    let mut acks = 0;
    let reason = poll_frames(&mut publisher, WAIT, &mut acks)
        .await
        .expect("connection.blocked");
    assert!(reason.contains("disk"), "blocked reason: {reason:?}");

    // A consumer-only connection still gets the stored messages.
    let conn = Connection::connect(&broker.url(), lapin::ConnectionProperties::default())
        .await
        .expect("a consumer connects during the disk alarm");
    let ch = conn.create_channel().await.unwrap();
    let mut consumer = ch
        .basic_consume(
            "disk.q".into(),
            "c".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    for i in 0..5 {
        let d = tokio::time::timeout(WAIT, consumer.next())
            .await
            .expect("the consumer is served during the disk alarm")
            .unwrap()
            .unwrap();
        assert_eq!(d.data, format!("m{i}").as_bytes());
        d.acker.ack(BasicAckOptions::default()).await.unwrap();
    }
    // The blocked publish was held, not routed, and not confirmed.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), consumer.next())
            .await
            .is_err(),
        "the held publish must not reach the queue"
    );
    assert!(
        poll_frames(&mut publisher, Duration::from_millis(200), &mut acks)
            .await
            .is_none()
            && acks == 0,
        "no confirm for a held publish"
    );
    conn.close(200, "bye".into()).await.unwrap();
}
