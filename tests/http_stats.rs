//! Message statistics in the management API, counted from real client traffic: channels,
//! queues, exchanges, vhosts and the overview, with rates between samples.

mod common;
use common::TestBroker;
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::BasicProperties;
use serde_json::Value;
use std::time::Duration;

fn stat(v: &Value, name: &str) -> u64 {
    v["message_stats"][name].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn traffic_is_counted_per_channel_queue_exchange_vhost_and_node() {
    let b = TestBroker::start().await;
    let api = b.api();
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    ch.queue_declare(
        "q".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.exchange_declare(
        "x".into(),
        lapin::ExchangeKind::Direct,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.queue_bind(
        "q".into(),
        "x".into(),
        "k".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    b.broker().sample_stats();
    for _ in 0..10 {
        ch.basic_publish(
            "x".into(),
            "k".into(),
            BasicPublishOptions::default(),
            b"m",
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    let mandatory = BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    ch.basic_publish(
        "x".into(),
        "nowhere".into(),
        mandatory,
        b"r",
        BasicProperties::default(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    ch.basic_publish(
        "x".into(),
        "nowhere".into(),
        BasicPublishOptions::default(),
        b"d",
        BasicProperties::default(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    // Four consumed and acked, one consumed and rejected back (redelivered), one got.
    let sub = conn.create_channel().await.unwrap();
    sub.basic_qos(5, BasicQosOptions::default()).await.unwrap();
    let mut consumer = sub
        .basic_consume(
            "q".into(),
            "c".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut delivered = Vec::new();
    for _ in 0..5 {
        delivered.push(consumer.next().await.unwrap().unwrap());
    }
    sub.basic_cancel("c".into(), BasicCancelOptions::default())
        .await
        .unwrap();
    let last = delivered.pop().unwrap();
    for d in delivered {
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    last.nack(BasicNackOptions {
        requeue: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let got = ch
        .basic_get("q".into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap();
    assert!(got.is_some());
    tokio::time::sleep(Duration::from_millis(100)).await;

    let chans = api.get("/api/channels").await.unwrap().json();
    let (pubc, subc) = (&chans[0], &chans[1]);
    assert_eq!(stat(pubc, "publish"), 12, "{pubc}");
    assert_eq!(stat(pubc, "confirm"), 12);
    assert_eq!(stat(pubc, "return_unroutable"), 1);
    assert_eq!(stat(pubc, "drop_unroutable"), 1);
    assert_eq!(stat(pubc, "get_no_ack"), 1);
    assert_eq!(
        stat(pubc, "redeliver"),
        1,
        "the get took the requeued message"
    );
    assert_eq!(stat(subc, "deliver"), 5, "{subc}");
    assert_eq!(stat(subc, "ack"), 4);
    assert_eq!(stat(subc, "deliver_get"), 5);

    let q = api.get("/api/queues/%2F/q").await.unwrap().json();
    assert_eq!(stat(&q, "publish"), 10, "{q}");
    assert_eq!(stat(&q, "deliver"), 5);
    assert_eq!(stat(&q, "ack"), 4);
    assert_eq!(stat(&q, "get_no_ack"), 1);
    assert_eq!(q["messages"], 5);
    let x = api.get("/api/exchanges/%2F/x").await.unwrap().json();
    assert_eq!(
        (stat(&x, "publish_in"), stat(&x, "publish_out")),
        (12, 10),
        "{x}"
    );

    // Vhost and node figures come from the sampler; rates from two samples.
    b.broker().sample_stats();
    let v = api.get("/api/vhosts/%2F").await.unwrap().json();
    assert_eq!(stat(&v, "publish"), 12, "{v}");
    assert_eq!(stat(&v, "ack"), 4);
    let o = api.get("/api/overview").await.unwrap().json();
    assert_eq!(stat(&o, "publish"), 12, "{o}");
    let rate = o["message_stats"]["publish_details"]["rate"]
        .as_f64()
        .unwrap();
    assert!(rate > 0.0, "12 publishes since the first sample: {o}");
    let qrate = q["message_stats"]["publish_details"]["rate"]
        .as_f64()
        .unwrap();
    assert_eq!(qrate, 0.0, "no second sample of the queue before this read");

    let o = api
        .get("/api/overview?msg_rates_age=60&msg_rates_incr=5&lengths_age=60&lengths_incr=5")
        .await
        .unwrap()
        .json();
    let samples = o["message_stats"]["publish_details"]["samples"]
        .as_array()
        .unwrap();
    assert_eq!(samples[0]["sample"], 12, "the newest sample first: {o}");
    assert!(samples
        .iter()
        .all(|s| s["timestamp"].as_u64().unwrap() % 5000 == 0));
    let lengths = &o["queue_totals"]["messages_details"];
    assert_eq!(lengths["samples"][0]["sample"], 5, "{o}");
    assert!(lengths["avg"].is_number() && lengths["avg_rate"].is_number());

    let bare = api
        .get("/api/queues/%2F?disable_stats=true")
        .await
        .unwrap()
        .json();
    assert!(bare[0].get("message_stats").is_none(), "{bare}");
    assert!(bare[0].get("messages_details").is_none(), "{bare}");
    assert_eq!(bare[0]["messages"], 5);

    // A closed channel's counts stay with its vhost.
    ch.close(200, "bye".into()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    b.broker().sample_stats();
    let v = api.get("/api/vhosts/%2F").await.unwrap().json();
    assert_eq!(stat(&v, "publish"), 12, "{v}");
}

/// Resident memory of this process (broker and test), from /proc.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test]
async fn single_objects_keep_bounded_sample_histories_once_asked() {
    let b = TestBroker::start().await;
    let api = b.api();
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    const QUEUES: usize = 1200;
    for i in 0..QUEUES {
        ch.queue_declare(
            format!("q{i}").as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    }
    let ask = "?lengths_age=600&lengths_incr=5&msg_rates_age=600&msg_rates_incr=5";
    // Nothing is kept for objects nobody asked about.
    for _ in 0..20 {
        b.broker().sample_stats();
    }
    let before = rss_bytes();

    // The first request starts a history: it has one sample, of the state then.
    for _ in 0..3 {
        ch.basic_publish(
            "".into(),
            "q0".into(),
            BasicPublishOptions::default(),
            b"m",
            BasicProperties::default(),
        )
        .await
        .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let q = api
        .get(&format!("/api/queues/%2F/q0{ask}"))
        .await
        .unwrap()
        .json();
    let samples = q["messages_details"]["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 1, "{q}");
    assert_eq!(samples[0]["sample"], 3, "{q}");
    assert_eq!(
        q["message_stats"]["publish_details"]["samples"][0]["sample"],
        3
    );
    let v = api
        .get(&format!("/api/vhosts/%2F{ask}"))
        .await
        .unwrap()
        .json();
    assert_eq!(v["messages_details"]["samples"][0]["sample"], 3, "{v}");

    // Watch every queue, more than the broker keeps histories for, and fill them all.
    for i in 0..QUEUES {
        let r = api
            .get(&format!("/api/queues/%2F/q{i}{ask}"))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
    }
    for _ in 0..130 {
        b.broker().sample_stats();
    }
    let full = rss_bytes();
    for _ in 0..300 {
        b.broker().sample_stats();
    }
    let after = rss_bytes();
    let mib = |n: u64| n as f64 / (1 << 20) as f64;
    eprintln!(
        "RSS: {:.1} MiB before watching, {:.1} MiB with full histories, {:.1} MiB 300 rounds later",
        mib(before),
        mib(full),
        mib(after)
    );
    // 1000 histories of 120 snapshots (about 140 bytes each) are about 16 MiB.
    assert!(
        full.saturating_sub(before) < 48 << 20,
        "histories took {:.1} MiB",
        mib(full.saturating_sub(before))
    );
    assert!(
        after.saturating_sub(full) < 4 << 20,
        "memory kept growing with samples: {:.1} MiB more",
        mib(after.saturating_sub(full))
    );
}
