//! Consumers: round-robin, per-consumer and per-channel prefetch, consumer tag reuse,
//! server-sent cancel, exclusive consumers, and nack/reject/recover.
//!
//! Run with `WARREN_TEST_REFERENCE=127.0.0.1:5682` to check the expectations against a
//! reference RabbitMQ.

use crate::common;
use common::raw::{RawClient, RawFrame};
use common::{amqp_code, unique, Target};
use futures_lite::StreamExt;
use lapin::message::Delivery;
use lapin::protocol::{basic, AMQPClass};
use lapin::{options::*, types::FieldTable, BasicProperties, Channel, Consumer};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);
/// How long a test watches for a delivery that must not happen.
const QUIET: Duration = Duration::from_millis(400);

async fn declare(ch: &Channel, q: &str) {
    ch.queue_declare(
        q.into(),
        QueueDeclareOptions {
            auto_delete: false,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
}

/// Publishes with confirms so the messages are in the queue when this returns.
async fn fill(ch: &Channel, q: &str, bodies: &[&str]) {
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    for b in bodies {
        let c = ch
            .basic_publish(
                "".into(),
                q.into(),
                BasicPublishOptions::default(),
                b.as_bytes(),
                BasicProperties::default(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(c.is_ack());
    }
}

async fn consume(ch: &Channel, q: &str, tag: &str, no_ack: bool) -> Consumer {
    ch.basic_consume(
        q.into(),
        tag.into(),
        BasicConsumeOptions {
            no_ack,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap()
}

async fn next(c: &mut Consumer) -> Delivery {
    tokio::time::timeout(WAIT, c.next())
        .await
        .expect("a delivery in time")
        .expect("the consumer is still active")
        .expect("no error")
}

/// No delivery arrives within `QUIET`.
async fn assert_no_delivery(c: &mut Consumer, what: &str) {
    if let Ok(d) = tokio::time::timeout(QUIET, c.next()).await {
        panic!("{what}: unexpected delivery {d:?}");
    }
}

fn text(d: &Delivery) -> String {
    String::from_utf8(d.data.clone()).unwrap()
}

async fn ready(ch: &Channel, q: &str) -> u32 {
    ch.queue_declare(
        q.into(),
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap()
    .message_count()
}

async fn cleanup(ch: &Channel, queues: &[&str]) {
    for q in queues {
        let _ = ch
            .queue_delete((*q).into(), QueueDeleteOptions::default())
            .await;
    }
}

#[tokio::test]
async fn two_consumers_get_messages_in_strict_alternation() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let q = unique("rr");
    declare(&ch, &q).await;
    let c1ch = conn.create_channel().await.unwrap();
    let c2ch = conn.create_channel().await.unwrap();
    let mut c1 = consume(&c1ch, &q, "c1", true).await;
    let mut c2 = consume(&c2ch, &q, "c2", true).await;
    let bodies: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
    fill(&ch, &q, &refs).await;
    let mut got1 = Vec::new();
    let mut got2 = Vec::new();
    for _ in 0..5 {
        got1.push(text(&next(&mut c1).await).parse::<u32>().unwrap());
        got2.push(text(&next(&mut c2).await).parse::<u32>().unwrap());
    }
    assert_no_delivery(&mut c1, "c1 after 5").await;
    let (evens, odds) = if got1[0] == 0 {
        (got1, got2)
    } else {
        (got2, got1)
    };
    assert_eq!(evens, vec![0, 2, 4, 6, 8]);
    assert_eq!(odds, vec![1, 3, 5, 7, 9]);
    cleanup(&ch, &[&q]).await;
}

#[tokio::test]
async fn per_consumer_prefetch_limits_each_consumer_separately() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let setup = conn.create_channel().await.unwrap();
    let (q1, q2) = (unique("pc1"), unique("pc2"));
    for q in [&q1, &q2] {
        declare(&setup, q).await;
    }
    let five = ["m0", "m1", "m2", "m3", "m4"];
    fill(&setup, &q1, &five).await;
    fill(&setup, &q2, &five).await;

    let ch = conn.create_channel().await.unwrap();
    ch.basic_qos(2, BasicQosOptions { global: false })
        .await
        .unwrap();
    let mut a = consume(&ch, &q1, "a", false).await;
    let mut b = consume(&ch, &q2, "b", false).await;
    let a1 = next(&mut a).await;
    next(&mut a).await;
    next(&mut b).await;
    next(&mut b).await;
    assert_no_delivery(&mut a, "a holds 2 unacked").await;
    assert_no_delivery(&mut b, "b holds 2 unacked").await;
    // Each consumer has its own limit of 2 (RabbitMQ's global=false), not a shared one.
    assert_eq!(ready(&setup, &q1).await, 3);
    assert_eq!(ready(&setup, &q2).await, 3);
    // An ack makes room for exactly one more on that consumer.
    a1.ack(BasicAckOptions::default()).await.unwrap();
    assert_eq!(text(&next(&mut a).await), "m2");
    assert_no_delivery(&mut a, "a is at its limit again").await;
    assert_no_delivery(&mut b, "b's limit is untouched").await;
    cleanup(&setup, &[&q1, &q2]).await;
}

#[tokio::test]
async fn global_prefetch_limits_the_whole_channel() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let setup = conn.create_channel().await.unwrap();
    let (q1, q2) = (unique("gc1"), unique("gc2"));
    for q in [&q1, &q2] {
        declare(&setup, q).await;
    }
    let five = ["m0", "m1", "m2", "m3", "m4"];
    fill(&setup, &q1, &five).await;
    fill(&setup, &q2, &five).await;

    let ch = conn.create_channel().await.unwrap();
    ch.basic_qos(3, BasicQosOptions { global: true })
        .await
        .unwrap();
    let mut a = consume(&ch, &q1, "a", false).await;
    let mut b = consume(&ch, &q2, "b", false).await;
    let mut held = Vec::new();
    while held.len() < 3 {
        tokio::select! {
            d = a.next() => held.push(d.unwrap().unwrap()),
            d = b.next() => held.push(d.unwrap().unwrap()),
            _ = tokio::time::sleep(WAIT) => panic!("only {} deliveries", held.len()),
        }
    }
    assert_no_delivery(&mut a, "the channel holds 3 unacked").await;
    assert_no_delivery(&mut b, "the channel holds 3 unacked").await;
    assert_eq!(ready(&setup, &q1).await + ready(&setup, &q2).await, 7);
    // Acking one frees one slot on the channel, for either consumer.
    held.remove(0)
        .ack(BasicAckOptions::default())
        .await
        .unwrap();
    tokio::select! {
        d = a.next() => { d.unwrap().unwrap(); }
        d = b.next() => { d.unwrap().unwrap(); }
        _ = tokio::time::sleep(WAIT) => panic!("no delivery after the ack"),
    }
    assert_eq!(ready(&setup, &q1).await + ready(&setup, &q2).await, 6);
    cleanup(&setup, &[&q1, &q2]).await;
}

#[tokio::test]
async fn reusing_a_consumer_tag_on_a_channel_closes_the_connection_with_530() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let q = unique("reuse");
    ch.queue_declare(
        q.as_str().into(),
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    let _c = consume(&ch, &q, "same-tag", true).await;
    let err = ch
        .basic_consume(
            q.as_str().into(),
            "same-tag".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect_err("a reused tag is refused");
    assert_eq!(amqp_code(&err), Some(530), "{err}");
    assert!(err.is_amqp_hard_error(), "a connection error: {err}");
    assert!(
        conn.create_channel().await.is_err(),
        "the connection is closed"
    );
}

#[tokio::test]
async fn deleting_the_queue_cancels_its_consumers() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let q = unique("del");
    declare(&ch, &q).await;
    let cch = conn.create_channel().await.unwrap();
    let mut c = consume(&cch, &q, "doomed", true).await;
    ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    let end = tokio::time::timeout(WAIT, c.next())
        .await
        .expect("the server cancels the consumer");
    assert!(end.is_none(), "the stream ends on basic.cancel: {end:?}");
    // Only the consumer ended: its channel is still open.
    let q2 = unique("after-cancel");
    declare(&cch, &q2).await;
    cleanup(&ch, &[&q2]).await;
}

#[tokio::test]
async fn exclusive_consumer_locks_out_other_consumers_with_403() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let q = unique("excl");
    declare(&ch, &q).await;
    let _owner = ch
        .basic_consume(
            q.as_str().into(),
            "owner".into(),
            BasicConsumeOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let other = conn.create_channel().await.unwrap();
    let err = other
        .basic_consume(
            q.as_str().into(),
            "intruder".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect_err("the queue is in exclusive use");
    assert_eq!(amqp_code(&err), Some(403), "{err}");
    assert!(err.is_amqp_soft_error(), "a channel error: {err}");
    // The other way round: an exclusive consume while a consumer exists is refused too.
    let q2 = unique("excl2");
    declare(&ch, &q2).await;
    let _plain = consume(&ch, &q2, "plain", true).await;
    let ch3 = conn
        .create_channel()
        .await
        .expect("the connection survived");
    let err = ch3
        .basic_consume(
            q2.as_str().into(),
            "wants-exclusive".into(),
            BasicConsumeOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect_err("a consumer already exists");
    assert_eq!(amqp_code(&err), Some(403), "{err}");
    cleanup(&ch, &[&q, &q2]).await;
}

async fn get(ch: &Channel, q: &str) -> Option<Delivery> {
    ch.basic_get(q.into(), BasicGetOptions { no_ack: false })
        .await
        .unwrap()
        .map(|m| m.delivery)
}

#[tokio::test]
async fn nack_with_requeue_puts_the_message_back_at_the_head_marked_redelivered() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let q = unique("nack");
    declare(&ch, &q).await;
    fill(&ch, &q, &["a", "b", "c"]).await;
    let a = get(&ch, &q).await.unwrap();
    assert_eq!(text(&a), "a");
    assert!(!a.redelivered);
    a.nack(BasicNackOptions {
        requeue: true,
        multiple: false,
    })
    .await
    .unwrap();
    let again = get(&ch, &q).await.expect("requeued");
    assert_eq!(text(&again), "a", "back at the head, before b");
    assert!(again.redelivered);
    again.ack(BasicAckOptions::default()).await.unwrap();
    let b = get(&ch, &q).await.unwrap();
    assert_eq!(text(&b), "b");
    assert!(!b.redelivered);
    b.ack(BasicAckOptions::default()).await.unwrap();
    cleanup(&ch, &[&q]).await;
}

#[tokio::test]
async fn reject_without_requeue_drops_the_message() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let q = unique("reject");
    declare(&ch, &q).await;
    fill(&ch, &q, &["a", "b"]).await;
    let a = get(&ch, &q).await.unwrap();
    a.reject(BasicRejectOptions { requeue: false })
        .await
        .unwrap();
    let b = get(&ch, &q).await.expect("b is next");
    assert_eq!(text(&b), "b");
    b.ack(BasicAckOptions::default()).await.unwrap();
    assert!(get(&ch, &q).await.is_none(), "a is gone for good");
    assert_eq!(ready(&ch, &q).await, 0);
    cleanup(&ch, &[&q]).await;
}

#[tokio::test]
async fn basic_recover_redelivers_unacked_messages_in_order() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let setup = conn.create_channel().await.unwrap();
    let q = unique("recover");
    declare(&setup, &q).await;
    fill(&setup, &q, &["a", "b", "c"]).await;
    let ch = conn.create_channel().await.unwrap();
    let mut c = consume(&ch, &q, "r", false).await;
    for want in ["a", "b", "c"] {
        let d = next(&mut c).await;
        assert_eq!(text(&d), want);
        assert!(!d.redelivered);
    }
    ch.basic_recover(BasicRecoverOptions { requeue: true })
        .await
        .unwrap();
    for want in ["a", "b", "c"] {
        let d = next(&mut c).await;
        assert_eq!(text(&d), want);
        assert!(d.redelivered, "{want} is marked redelivered");
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    assert_no_delivery(&mut c, "everything acked").await;
    assert_eq!(ready(&setup, &q).await, 0);
    cleanup(&setup, &[&q]).await;
}

/// On the wire: `basic.recover-ok` answers the recover before any redelivery arrives, as
/// RabbitMQ does (it requeues asynchronously). Clients such as lapin discard deliveries
/// they buffered before recover-ok, so redeliveries sent earlier are lost to them.
#[tokio::test]
async fn recover_ok_comes_before_the_redeliveries() {
    let t = Target::start().await;
    let mut c = RawClient::open(t.addr).await;
    c.open_channel(1).await;
    let q = unique("recover-raw");
    c.queue_declare(1, &q).await;
    c.publish(1, "", &q, b"a").await;
    c.publish(1, "", &q, b"b").await;
    let consume = basic::Consume {
        queue: q.as_str().into(),
        consumer_tag: "raw".into(),
        ..Default::default()
    };
    c.send_method(1, AMQPClass::Basic(basic::AMQPMethod::Consume(consume)))
        .await;
    let mut methods = Vec::new();
    // consume-ok + 2 deliveries (each with header and body).
    while methods.len() < 3 {
        if let RawFrame::Method(_, m) = c.recv().await {
            methods.push(m);
        }
    }
    assert!(matches!(
        methods[0],
        AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(_))
    ));
    let recover = basic::Recover { requeue: true };
    c.send_method(1, AMQPClass::Basic(basic::AMQPMethod::Recover(recover)))
        .await;
    let first = loop {
        if let RawFrame::Method(_, m) = c.recv().await {
            break m;
        }
    };
    assert!(
        matches!(first, AMQPClass::Basic(basic::AMQPMethod::RecoverOk(_))),
        "expected basic.recover-ok first, got {first:?}"
    );
    let redelivery = loop {
        if let RawFrame::Method(_, m) = c.recv().await {
            break m;
        }
    };
    match redelivery {
        AMQPClass::Basic(basic::AMQPMethod::Deliver(d)) => assert!(d.redelivered),
        other => panic!("expected a redelivery, got {other:?}"),
    }
    let del = lapin::protocol::queue::Delete {
        queue: q.as_str().into(),
        ..Default::default()
    };
    c.send_method(
        1,
        AMQPClass::Queue(lapin::protocol::queue::AMQPMethod::Delete(del)),
    )
    .await;
}
