//! A queue's figures in the management API (`message_bytes*`, `messages_*_ram`,
//! `messages_persistent`, `memory`, `head_message_timestamp`, `idle_since`), counted from
//! messages of known sizes published by a real client, and lists sorted by them.

use crate::common;
use common::TestBroker;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use serde_json::Value;

async fn publish(ch: &lapin::Channel, queue: &str, body: &[u8], props: BasicProperties) {
    ch.basic_publish(
        "".into(),
        queue.into(),
        BasicPublishOptions::default(),
        body,
        props,
    )
    .await
    .unwrap()
    .await
    .unwrap();
}

async fn declare(ch: &lapin::Channel, queue: &str) {
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare(queue.into(), durable, FieldTable::default())
        .await
        .unwrap();
}

fn num(q: &Value, field: &str) -> u64 {
    q[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} is not a number: {q}"))
}

fn assert_figures(q: &Value, expect: &[(&str, u64)]) {
    for (field, n) in expect {
        assert_eq!(num(q, field), *n, "{field}: {q}");
    }
}

#[tokio::test]
async fn figures_follow_the_bytes_persistence_and_memory_a_queue_holds() {
    let b = TestBroker::start().await;
    let (_conn, ch) = b.confirming_channel().await;
    let api = b.api();
    declare(&ch, "qf").await;
    let show = || async { api.get("/api/queues/%2F/qf").await.unwrap().json() };
    let empty = show().await;
    let zero = [
        ("message_bytes", 0),
        ("messages_ram", 0),
        ("messages_persistent", 0),
    ];
    assert_figures(&empty, &zero);
    assert_eq!(empty["head_message_timestamp"], Value::Null);
    assert_eq!(empty["exclusive_consumer_tag"], Value::Null);
    assert_eq!(empty["single_active_consumer_tag"], Value::Null);
    let memory_empty = num(&empty, "memory");
    assert!(memory_empty > 0);

    // Three persistent messages with timestamps (100, 200 and 300 bytes), one transient
    // without (50 bytes).
    for (i, size) in [100usize, 200, 300].into_iter().enumerate() {
        let props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_timestamp(1_700_000_001 + i as u64);
        publish(&ch, "qf", &vec![b'p'; size], props).await;
    }
    publish(&ch, "qf", &[b't'; 50], BasicProperties::default()).await;
    // What the queue shows after the publishes, and after a get without ack (below).
    let table = [
        ("messages", 4, 4),
        ("messages_ready", 4, 3),
        ("messages_unacknowledged", 0, 1),
        ("message_bytes", 650, 650),
        ("message_bytes_ready", 650, 550),
        ("message_bytes_unacknowledged", 0, 100),
        ("messages_ram", 4, 3),
        ("messages_ready_ram", 4, 3),
        ("messages_unacknowledged_ram", 0, 0),
        ("message_bytes_ram", 650, 550),
        ("messages_persistent", 3, 3),
        ("message_bytes_persistent", 600, 600),
        ("messages_paged_out", 0, 0),
        ("message_bytes_paged_out", 0, 0),
    ];
    let q = show().await;
    let full = table.map(|(field, n, _)| (field, n));
    assert_figures(&q, &full);
    assert_eq!(num(&q, "head_message_timestamp"), 1_700_000_001);
    assert!(
        num(&q, "memory") >= memory_empty + 650,
        "memory grows with the messages held: {} then {q}",
        memory_empty
    );
    assert_eq!(q["backing_queue_status"]["len"], 4);
    assert_eq!(q["backing_queue_status"]["q4"], 4);

    // A get without ack: the head's bytes move to unacknowledged. The unacked persistent
    // message is in the store, so Warren drops its in-memory copy (RabbitMQ keeps it):
    // it is not in RAM, and the head timestamp is the next ready message's.
    let got = ch
        .basic_get("qf".into(), BasicGetOptions { no_ack: false })
        .await
        .unwrap()
        .expect("a message");
    assert_eq!(got.delivery.data.len(), 100);
    let q = show().await;
    let after_get = table.map(|(field, _, n)| (field, n));
    assert_figures(&q, &after_get);
    assert_eq!(num(&q, "head_message_timestamp"), 1_700_000_002);
    got.delivery.ack(BasicAckOptions::default()).await.unwrap();
    let q = show().await;
    assert_eq!(num(&q, "message_bytes"), 550);
    assert_eq!(num(&q, "messages_persistent"), 2);
    assert_eq!(num(&q, "message_bytes_unacknowledged"), 0);

    // Idle once a stats sample passed with no operation since; busy again on the next one.
    b.broker().sample_stats();
    let idle = show().await;
    let since = idle["idle_since"].as_str().expect("idle_since when idle");
    assert!(
        since.len() == 29 && since.ends_with("+00:00") && &since[10..11] == "T",
        "RabbitMQ 3.10's format: {since}"
    );
    publish(&ch, "qf", b"busy", BasicProperties::default()).await;
    assert!(show().await.get("idle_since").is_none());

    // Lists sort by the figures.
    declare(&ch, "small").await;
    publish(&ch, "small", b"x", BasicProperties::default()).await;
    let names = |v: Value| -> Vec<String> {
        let v = v.as_array().cloned().unwrap_or_default();
        v.iter()
            .map(|q| q["name"].as_str().unwrap().to_string())
            .collect()
    };
    for (query, order) in [
        ("sort=message_bytes", ["small", "qf"]),
        ("sort=message_bytes&sort_reverse=true", ["qf", "small"]),
        (
            "sort=message_bytes_persistent&sort_reverse=true",
            ["qf", "small"],
        ),
    ] {
        let listed = api.get(&format!("/api/queues?{query}")).await.unwrap();
        assert_eq!(names(listed.json()), order, "{query}");
    }
    let listed = api
        .get("/api/queues/%2F?columns=name,message_bytes,memory&sort=name")
        .await
        .unwrap()
        .json();
    assert_eq!(listed[0]["message_bytes"], 554);
    assert!(listed[0]["memory"].is_u64());

    // A purge brings the totals back to zero.
    ch.queue_purge("qf".into(), QueuePurgeOptions::default())
        .await
        .unwrap();
    let q = show().await;
    assert_figures(&q, &zero);
    assert_eq!(q["head_message_timestamp"], Value::Null);
}

#[tokio::test]
async fn consumer_tags_show_who_consumes() {
    let b = TestBroker::start().await;
    let (_conn, ch) = b.confirming_channel().await;
    let api = b.api();
    let mut sac = FieldTable::default();
    sac.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
    ch.queue_declare("sac".into(), QueueDeclareOptions::default(), sac)
        .await
        .unwrap();
    declare(&ch, "excl").await;
    // Kept: a dropped lapin consumer is cancelled.
    let mut consumers = Vec::new();
    for (queue, tag, exclusive) in [
        ("sac", "first", false),
        ("sac", "second", false),
        ("excl", "only", true),
    ] {
        let opts = BasicConsumeOptions {
            exclusive,
            ..Default::default()
        };
        let c = ch
            .basic_consume(queue.into(), tag.into(), opts, FieldTable::default())
            .await
            .unwrap();
        consumers.push(c);
    }
    let q = api.get("/api/queues/%2F/sac").await.unwrap().json();
    assert_eq!(q["single_active_consumer_tag"], "first", "{q}");
    assert_eq!(q["exclusive_consumer_tag"], Value::Null);
    assert_eq!(q["consumer_utilisation"], 1.0);
    let q = api.get("/api/queues/%2F/excl").await.unwrap().json();
    assert_eq!(q["exclusive_consumer_tag"], "only");
    assert_eq!(q["single_active_consumer_tag"], Value::Null);
    drop(consumers);
}
