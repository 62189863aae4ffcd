//! Priority queues (`x-max-priority`) and consumer priorities (`x-priority` on
//! basic.consume).
//!
//! Run with `WARREN_TEST_REFERENCE=127.0.0.1:5682` to check the protocol expectations
//! against a reference RabbitMQ (the restart test always runs on an in-process Warren).

use crate::common;
use crate::queue_features;

use common::{unique, Target, TestBroker};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{options::*, BasicProperties, Channel};
use queue_features::*;

fn max_priority(n: i64) -> FieldTable {
    table(&[("x-max-priority", int(n))])
}

/// Publishes `(priority, body)` pairs (`None`: no priority property) and waits for acks.
async fn publish_prioritised(ch: &Channel, q: &str, msgs: &[(Option<u8>, &str)]) {
    for (p, b) in msgs {
        let props = match p {
            Some(p) => with_priority(*p),
            None => BasicProperties::default(),
        };
        assert!(publish_confirmed(ch, "", q, b, props).await);
    }
}

fn consumer_priority(p: i64) -> FieldTable {
    table(&[("x-priority", int(p))])
}

// ---------------------------------------------------------------------------------------
// Priority queues
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn higher_priorities_come_first_and_equal_priorities_stay_fifo() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("prio");
    declare_exclusive(&ch, &q, max_priority(10)).await.unwrap();
    publish_prioritised(
        &ch,
        &q,
        &[
            (Some(1), "a1"),
            (Some(5), "b5"),
            (Some(1), "c1"),
            (Some(5), "d5"),
            (None, "e-none"),
            (Some(0), "f0"),
            (Some(10), "g10"),
        ],
    )
    .await;
    assert_eq!(ready(&ch, &q).await, 7);
    assert_eq!(
        drain(&ch, &q).await,
        vec!["g10", "b5", "d5", "a1", "c1", "e-none", "f0"],
        "no priority counts as 0"
    );
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn priorities_above_the_maximum_count_as_the_maximum() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("prio-cap");
    declare_exclusive(&ch, &q, max_priority(5)).await.unwrap();
    publish_prioritised(
        &ch,
        &q,
        &[
            (Some(5), "a5"),
            (Some(9), "b9"),
            (Some(4), "c4"),
            (Some(255), "d255"),
            (Some(5), "e5"),
        ],
    )
    .await;
    assert_eq!(drain(&ch, &q).await, vec!["a5", "b9", "d255", "e5", "c4"]);
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn the_priority_property_is_delivered_unchanged() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("prio-prop");
    declare_exclusive(&ch, &q, max_priority(3)).await.unwrap();
    publish_prioritised(&ch, &q, &[(Some(200), "high")]).await;
    let d = get(&ch, &q).await.unwrap().delivery;
    assert_eq!(d.properties.priority(), &Some(200));
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn a_queue_without_max_priority_ignores_priorities() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("prio-none");
    declare_exclusive(&ch, &q, FieldTable::default())
        .await
        .unwrap();
    publish_prioritised(&ch, &q, &[(Some(1), "a"), (Some(9), "b"), (None, "c")]).await;
    assert_eq!(drain(&ch, &q).await, vec!["a", "b", "c"]);
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn requeued_messages_return_to_their_place_in_their_priority() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("prio-requeue");
    declare_exclusive(&ch, &q, max_priority(10)).await.unwrap();
    publish_prioritised(
        &ch,
        &q,
        &[(Some(5), "a5"), (Some(5), "b5"), (Some(1), "c1")],
    )
    .await;
    let a = get_unacked(&ch, &q).await.unwrap();
    let b = get_unacked(&ch, &q).await.unwrap();
    assert_eq!(
        (body(&a.delivery), body(&b.delivery)),
        ("a5".into(), "b5".into())
    );
    publish_prioritised(&ch, &q, &[(Some(5), "x5"), (Some(9), "y9")]).await;
    b.delivery
        .nack(BasicNackOptions {
            multiple: true,
            requeue: true,
        })
        .await
        .unwrap();
    let mut order = Vec::new();
    while let Some(m) = get(&ch, &q).await {
        order.push((body(&m.delivery), m.delivery.redelivered));
    }
    assert_eq!(
        order,
        vec![
            ("y9".to_string(), false),
            ("a5".to_string(), true),
            ("b5".to_string(), true),
            ("x5".to_string(), false),
            ("c1".to_string(), false),
        ]
    );
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn a_consumer_freed_from_its_prefetch_limit_gets_the_highest_priority_next() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("prio-consumer");
    declare_exclusive(&ch, &q, max_priority(10)).await.unwrap();
    let cch = conn.create_channel().await.unwrap();
    cch.basic_qos(1, BasicQosOptions::default()).await.unwrap();
    let mut c = consume(&cch, &q, "one-at-a-time", false, FieldTable::default()).await;
    publish_prioritised(&ch, &q, &[(Some(0), "first")]).await;
    let first = next(&mut c).await;
    assert_eq!(body(&first), "first");
    publish_prioritised(
        &ch,
        &q,
        &[(Some(0), "low"), (Some(2), "mid"), (Some(9), "high")],
    )
    .await;
    let mut got = Vec::new();
    let mut last = first;
    for _ in 0..3 {
        last.ack(BasicAckOptions::default()).await.unwrap();
        last = next(&mut c).await;
        got.push(body(&last));
    }
    last.ack(BasicAckOptions::default()).await.unwrap();
    assert_eq!(got, vec!["high", "mid", "low"]);
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn max_length_on_a_priority_queue_drops_the_next_message_to_be_delivered() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("prio-maxlen");
    declare_exclusive(
        &ch,
        &q,
        table(&[("x-max-priority", int(10)), ("x-max-length", int(2))]),
    )
    .await
    .unwrap();
    publish_prioritised(
        &ch,
        &q,
        &[(Some(1), "a1"), (Some(9), "b9"), (Some(5), "c5")],
    )
    .await;
    // As in RabbitMQ, "the head" is the highest priority message, not the oldest.
    assert_eq!(drain(&ch, &q).await, vec!["c5", "a1"]);
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn reject_publish_on_a_priority_queue_refuses_whatever_the_priority() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("prio-reject");
    declare_exclusive(
        &ch,
        &q,
        table(&[
            ("x-max-priority", int(10)),
            ("x-max-length", int(2)),
            ("x-overflow", text_value("reject-publish")),
        ]),
    )
    .await
    .unwrap();
    let mut acks = Vec::new();
    for (p, b) in [(1, "a1"), (9, "b9"), (10, "c10")] {
        acks.push(publish_confirmed(&ch, "", &q, b, with_priority(p)).await);
    }
    assert_eq!(acks, vec![true, true, false]);
    assert_eq!(drain(&ch, &q).await, vec!["b9", "a1"]);
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn invalid_max_priority_is_406_with_rabbitmq_texts() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let q = unique("prio-args");
    let cases = [
        (int(256), "{max_value_exceeded,256}"),
        (int(-1), "{value_negative,-1}"),
        (text_value("5"), "\"expected integer, got longstr\""),
    ];
    for (value, why) in cases {
        let ch = conn.create_channel().await.unwrap();
        expect_406(
            declare(&ch, &q, table(&[("x-max-priority", value)])).await,
            &format!(
                "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '{q}' in vhost '/': {why}"
            ),
        )
        .await;
    }
    // The bounds are accepted.
    let ch = conn.create_channel().await.unwrap();
    for n in [0, 255] {
        let name = unique("prio-bound");
        declare_exclusive(&ch, &name, max_priority(n))
            .await
            .unwrap_or_else(|e| panic!("x-max-priority {n}: {e}"));
    }
}

#[tokio::test]
async fn redeclaring_with_another_max_priority_is_inequivalent() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let q = unique("prio-equiv");
    declare_exclusive(&ch, &q, max_priority(10)).await.unwrap();
    declare_exclusive(&ch, &q, max_priority(10))
        .await
        .expect("same value");
    let err = declare_exclusive(&ch, &q, max_priority(5))
        .await
        .expect_err("another value");
    assert_eq!(
        close_reason(&err),
        (
            406,
            format!(
                "PRECONDITION_FAILED - inequivalent arg 'x-max-priority' for queue '{q}' in \
                 vhost '/': received '5' but current is '10'"
            )
        )
    );
}

#[tokio::test]
async fn a_durable_priority_queue_keeps_its_order_across_a_restart() {
    let b = TestBroker::start().await;
    let persistent = |p: u8| with_priority(p).with_delivery_mode(2);
    {
        let conn = b.connect().await;
        let ch = confirm_channel(&conn).await;
        ch.queue_declare(
            "prio-durable".into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            max_priority(10),
        )
        .await
        .unwrap();
        for (p, body) in [
            (1, "a1"),
            (7, "b7"),
            (1, "c1"),
            (10, "d10"),
            (7, "e7"),
            (0, "f0"),
        ] {
            assert!(publish_confirmed(&ch, "", "prio-durable", body, persistent(p)).await);
        }
        conn.close(200, "bye".into()).await.unwrap();
    }
    let dir = b.stop().await;
    let b = TestBroker::start_in(dir).await;
    let conn = b.connect().await;
    let ch = confirm_channel(&conn).await;
    // Still a priority queue after the restart: a new message takes its place.
    assert!(publish_confirmed(&ch, "", "prio-durable", "g7", persistent(7)).await);
    assert_eq!(
        drain(&ch, "prio-durable").await,
        vec!["d10", "b7", "e7", "g7", "a1", "c1", "f0"]
    );
}

// ---------------------------------------------------------------------------------------
// Consumer priorities
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_highest_priority_consumer_gets_every_message_while_it_has_capacity() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("cprio");
    declare_exclusive(&ch, &q, FieldTable::default())
        .await
        .unwrap();
    let lo_ch = conn.create_channel().await.unwrap();
    let hi_ch = conn.create_channel().await.unwrap();
    // The low-priority consumer subscribes first.
    let mut lo = consume(&lo_ch, &q, "lo", true, FieldTable::default()).await;
    let mut hi = consume(&hi_ch, &q, "hi", true, consumer_priority(10)).await;
    fill(&ch, &q, &["1", "2", "3", "4", "5"]).await;
    for expected in ["1", "2", "3", "4", "5"] {
        assert_eq!(body(&next(&mut hi).await), expected);
    }
    assert_no_delivery(&mut lo, "the low-priority consumer").await;
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn lower_priority_consumers_get_messages_while_the_higher_ones_are_at_their_prefetch_limit() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("cprio-fallback");
    declare_exclusive(&ch, &q, FieldTable::default())
        .await
        .unwrap();
    let hi_ch = conn.create_channel().await.unwrap();
    hi_ch
        .basic_qos(2, BasicQosOptions::default())
        .await
        .unwrap();
    let lo_ch = conn.create_channel().await.unwrap();
    let mut hi = consume(&hi_ch, &q, "hi", false, consumer_priority(10)).await;
    let mut lo = consume(&lo_ch, &q, "lo", true, consumer_priority(-3)).await;
    fill(&ch, &q, &["1", "2", "3", "4", "5"]).await;
    let h1 = next(&mut hi).await;
    let h2 = next(&mut hi).await;
    assert_eq!((body(&h1), body(&h2)), ("1".into(), "2".into()));
    for expected in ["3", "4", "5"] {
        assert_eq!(
            body(&next(&mut lo).await),
            expected,
            "the full high one is skipped"
        );
    }
    assert_no_delivery(&mut hi, "at its prefetch limit").await;
    // Capacity again: the high-priority consumer is preferred again.
    h1.ack(BasicAckOptions::default()).await.unwrap();
    fill(&ch, &q, &["6"]).await;
    assert_eq!(body(&next(&mut hi).await), "6");
    assert_no_delivery(&mut lo, "the high-priority consumer has capacity").await;
    h2.ack(BasicAckOptions::default()).await.unwrap();
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn ready_messages_go_to_the_high_priority_consumer_when_it_acks() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("cprio-backlog");
    declare_exclusive(&ch, &q, FieldTable::default())
        .await
        .unwrap();
    let hi_ch = conn.create_channel().await.unwrap();
    hi_ch
        .basic_qos(1, BasicQosOptions::default())
        .await
        .unwrap();
    let lo_ch = conn.create_channel().await.unwrap();
    lo_ch
        .basic_qos(1, BasicQosOptions::default())
        .await
        .unwrap();
    let mut hi = consume(&hi_ch, &q, "hi", false, consumer_priority(5)).await;
    let mut lo = consume(&lo_ch, &q, "lo", false, FieldTable::default()).await;
    fill(&ch, &q, &["1", "2", "3", "4"]).await;
    let h = next(&mut hi).await;
    let l = next(&mut lo).await;
    assert_eq!((body(&h), body(&l)), ("1".into(), "2".into()));
    // Both full, two messages ready. The high one acks first and gets the next one.
    h.ack(BasicAckOptions::default()).await.unwrap();
    let h = next(&mut hi).await;
    assert_eq!(body(&h), "3");
    l.ack(BasicAckOptions::default()).await.unwrap();
    let l = next(&mut lo).await;
    assert_eq!(body(&l), "4");
    h.ack(BasicAckOptions::default()).await.unwrap();
    l.ack(BasicAckOptions::default()).await.unwrap();
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn consumers_of_equal_priority_share_round_robin() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("cprio-rr");
    declare_exclusive(&ch, &q, FieldTable::default())
        .await
        .unwrap();
    let cch = conn.create_channel().await.unwrap();
    let mut base = consume(&cch, &q, "base", true, FieldTable::default()).await;
    let mut a = consume(&cch, &q, "a", true, consumer_priority(5)).await;
    let mut b = consume(&cch, &q, "b", true, consumer_priority(5)).await;
    fill(&ch, &q, &["1", "2", "3", "4"]).await;
    assert_eq!(body(&next(&mut a).await), "1");
    assert_eq!(body(&next(&mut b).await), "2");
    assert_eq!(body(&next(&mut a).await), "3");
    assert_eq!(body(&next(&mut b).await), "4");
    assert_no_delivery(&mut base, "priority 0 below two priority-5 consumers").await;
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn negative_priorities_rank_below_the_default_and_take_over_when_it_leaves() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("cprio-neg");
    declare_exclusive(&ch, &q, FieldTable::default())
        .await
        .unwrap();
    let cch = conn.create_channel().await.unwrap();
    let mut neg = consume(&cch, &q, "neg", true, consumer_priority(-5)).await;
    let mut dflt = consume(&cch, &q, "default", true, FieldTable::default()).await;
    fill(&ch, &q, &["1", "2"]).await;
    assert_eq!(body(&next(&mut dflt).await), "1");
    assert_eq!(body(&next(&mut dflt).await), "2");
    assert_no_delivery(&mut neg, "priority -5 below the default 0").await;
    cch.basic_cancel("default".into(), BasicCancelOptions::default())
        .await
        .unwrap();
    fill(&ch, &q, &["3"]).await;
    assert_eq!(body(&next(&mut neg).await), "3");
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn a_non_integer_x_priority_is_406() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let q = unique("cprio-invalid");
    declare_exclusive(&ch, &q, FieldTable::default())
        .await
        .unwrap();
    let cch = conn.create_channel().await.unwrap();
    let err = cch
        .basic_consume(
            q.as_str().into(),
            "bad".into(),
            BasicConsumeOptions::default(),
            table(&[("x-priority", AMQPValue::LongString("high".into()))]),
        )
        .await
        .expect_err("refused");
    assert_eq!(
        close_reason(&err),
        (
            406,
            format!(
                "PRECONDITION_FAILED - invalid arg 'x-priority' for queue '{q}' in vhost '/': \
                 \"expected integer, got longstr\""
            )
        )
    );
    cleanup(&conn, &[&q]).await;
}
