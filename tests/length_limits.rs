//! `x-max-length` / `x-max-length-bytes` with each `x-overflow` behaviour: drop-head
//! (the default; drops or dead-letters the oldest), reject-publish (nack with confirms;
//! other target queues still get the message) and reject-publish-dlx (also dead-letters).
//!
//! Run with `WARREN_TEST_REFERENCE=127.0.0.1:5682` to check the expectations against a
//! reference RabbitMQ.

use crate::common;
use crate::queue_features;

use common::{unique, Target};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{options::*, BasicProperties, ExchangeKind};
use queue_features::*;

fn max_len(n: i64) -> (&'static str, AMQPValue) {
    ("x-max-length", int(n))
}

fn max_bytes(n: i64) -> (&'static str, AMQPValue) {
    ("x-max-length-bytes", int(n))
}

fn overflow(how: &str) -> (&'static str, AMQPValue) {
    ("x-overflow", text_value(how))
}

/// Publishes each body through the default exchange; returns which were acked.
async fn publish_all(ch: &lapin::Channel, q: &str, bodies: &[&str]) -> Vec<bool> {
    let mut out = Vec::new();
    for b in bodies {
        out.push(publish_confirmed(ch, "", q, b, BasicProperties::default()).await);
    }
    out
}

#[tokio::test]
async fn drop_head_is_the_default_and_keeps_the_newest_messages() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let default = unique("maxlen-default");
    let explicit = unique("maxlen-drophead");
    declare_exclusive(&ch, &default, table(&[max_len(2)]))
        .await
        .unwrap();
    declare_exclusive(&ch, &explicit, table(&[max_len(2), overflow("drop-head")]))
        .await
        .unwrap();
    for q in [&default, &explicit] {
        assert_eq!(
            publish_all(&ch, q, &["1", "2", "3", "4"]).await,
            vec![true; 4],
            "drop-head acks every publish"
        );
        assert_eq!(ready(&ch, q).await, 2);
        assert_eq!(drain(&ch, q).await, vec!["3", "4"]);
    }
    cleanup(&conn, &[&default, &explicit]).await;
}

#[tokio::test]
async fn drop_head_dead_letters_the_oldest_with_reason_maxlen() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("maxlen-dl");
    let dlq = unique("maxlen-dl-dst");
    declare_exclusive(&ch, &dlq, FieldTable::default())
        .await
        .unwrap();
    declare_exclusive(
        &ch,
        &q,
        table(&[
            max_len(2),
            ("x-dead-letter-exchange", text_value("")),
            ("x-dead-letter-routing-key", text_value(&dlq)),
        ]),
    )
    .await
    .unwrap();
    fill(&ch, &q, &["1", "2", "3", "4"]).await;
    let (c, n) = (&ch, dlq.as_str());
    assert!(wait_until(WAIT, move || async move { ready(c, n).await == 2 }).await);
    for expected in ["1", "2"] {
        let d = get(&ch, &dlq).await.unwrap().delivery;
        assert_eq!(body(&d), expected, "the oldest are dead-lettered, in order");
        assert_eq!(deaths(&d), vec![(q.clone(), "maxlen".into(), 1)]);
        assert_eq!(
            header_text(&d, "x-first-death-reason").as_deref(),
            Some("maxlen")
        );
        assert_eq!(routing_keys(&x_death(&d)[0]), vec![q.clone()]);
    }
    assert_eq!(drain(&ch, &q).await, vec!["3", "4"]);
    cleanup(&conn, &[&q, &dlq]).await;
}

#[tokio::test]
async fn max_length_bytes_counts_body_bytes_and_drops_from_the_head() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("maxbytes");
    declare_exclusive(&ch, &q, table(&[max_bytes(10)]))
        .await
        .unwrap();
    fill(&ch, &q, &["aaaa", "bbbb", "cccc"]).await;
    assert_eq!(ready(&ch, &q).await, 2, "12 bytes > 10: the head goes");
    fill(&ch, &q, &["dd"]).await;
    assert_eq!(ready(&ch, &q).await, 3, "exactly 10 bytes fit");
    assert_eq!(drain(&ch, &q).await, vec!["bbbb", "cccc", "dd"]);
    // A message larger than the limit on its own pushes everything out, itself included.
    fill(&ch, &q, &["eeee", "0123456789A"]).await;
    assert_eq!(ready(&ch, &q).await, 0);
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn with_both_limits_whichever_is_hit_first_applies() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("maxboth");
    declare_exclusive(&ch, &q, table(&[max_len(3), max_bytes(6)]))
        .await
        .unwrap();
    fill(&ch, &q, &["aa", "bb", "cc", "dd"]).await;
    // Four messages would break both limits; three of 2 bytes fit both.
    assert_eq!(ready(&ch, &q).await, 3);
    fill(&ch, &q, &["e"]).await;
    // 7 bytes and four messages: one drop satisfies both.
    assert_eq!(ready(&ch, &q).await, 3);
    fill(&ch, &q, &["fffff"]).await;
    // Bytes now bind: dd(2)+e(1)+fffff(5) = 8 > 6, so dd goes too.
    assert_eq!(drain(&ch, &q).await, vec!["e", "fffff"]);
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn only_ready_messages_count_towards_the_limit() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("maxlen-ready");
    declare_exclusive(&ch, &q, table(&[max_len(1)]))
        .await
        .unwrap();
    let cch = conn.create_channel().await.unwrap();
    cch.basic_qos(2, BasicQosOptions::default()).await.unwrap();
    let mut c = consume(&cch, &q, "holder", false, FieldTable::default()).await;
    fill(&ch, &q, &["a", "b"]).await;
    let a = next(&mut c).await;
    let b = next(&mut c).await;
    assert_eq!((body(&a), body(&b)), ("a".into(), "b".into()));
    // Two unacked messages do not fill a queue of max length 1.
    fill(&ch, &q, &["c"]).await;
    assert_eq!(ready(&ch, &q).await, 1);
    fill(&ch, &q, &["d"]).await;
    assert_eq!(ready(&ch, &q).await, 1, "c was dropped for d");
    cch.basic_cancel("holder".into(), BasicCancelOptions::default())
        .await
        .unwrap();
    a.ack(BasicAckOptions::default()).await.unwrap();
    b.ack(BasicAckOptions::default()).await.unwrap();
    assert_eq!(drain(&ch, &q).await, vec!["d"]);
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn a_consumer_with_capacity_receives_everything_even_at_max_length_zero() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("maxlen-zero");
    declare_exclusive(&ch, &q, table(&[max_len(0)]))
        .await
        .unwrap();
    fill(&ch, &q, &["nobody"]).await;
    assert_eq!(ready(&ch, &q).await, 0, "max-length 0 keeps nothing ready");
    let cch = conn.create_channel().await.unwrap();
    let mut c = consume(&cch, &q, "taker", true, FieldTable::default()).await;
    fill(&ch, &q, &["1", "2", "3"]).await;
    for expected in ["1", "2", "3"] {
        assert_eq!(body(&next(&mut c).await), expected);
    }
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn a_requeue_over_the_limit_drops_from_the_head() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("maxlen-requeue");
    declare_exclusive(&ch, &q, table(&[max_len(1)]))
        .await
        .unwrap();
    fill(&ch, &q, &["a"]).await;
    let a = get_unacked(&ch, &q).await.unwrap();
    fill(&ch, &q, &["b"]).await;
    a.delivery
        .nack(BasicNackOptions {
            requeue: true,
            multiple: false,
        })
        .await
        .unwrap();
    // a goes back to the head, the queue is over its limit, the head goes.
    assert_eq!(drain(&ch, &q).await, vec!["b"]);
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn reject_publish_nacks_new_messages_while_the_queue_is_full() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("reject-publish");
    declare_exclusive(&ch, &q, table(&[max_len(2), overflow("reject-publish")]))
        .await
        .unwrap();
    assert_eq!(
        publish_all(&ch, &q, &["1", "2", "3", "4"]).await,
        vec![true, true, false, false]
    );
    assert_eq!(get_text(&ch, &q).await.as_deref(), Some("1"));
    assert_eq!(publish_all(&ch, &q, &["5", "6"]).await, vec![true, false]);
    assert_eq!(drain(&ch, &q).await, vec!["2", "5"]);
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn reject_publish_without_confirms_drops_silently() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let q = unique("reject-publish-plain");
    declare_exclusive(&ch, &q, table(&[max_len(1), overflow("reject-publish")]))
        .await
        .unwrap();
    for b in ["1", "2", "3"] {
        publish(&ch, "", &q, b, BasicProperties::default()).await;
    }
    assert_eq!(ready(&ch, &q).await, 1);
    assert_eq!(drain(&ch, &q).await, vec!["1"]);
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn reject_publish_with_max_length_bytes_refuses_what_would_not_fit() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("reject-publish-bytes");
    declare_exclusive(&ch, &q, table(&[max_bytes(10), overflow("reject-publish")]))
        .await
        .unwrap();
    assert_eq!(
        publish_all(&ch, &q, &["aaaa", "bbbb", "ccc", "cc"]).await,
        vec![true, true, false, true],
        "11 bytes would not fit, 10 do"
    );
    assert_eq!(drain(&ch, &q).await, vec!["aaaa", "bbbb", "cc"]);
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn reject_publish_nacks_but_the_other_target_queues_still_get_the_message() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let fan = unique("reject-fan");
    let full = unique("reject-full");
    let free = unique("reject-free");
    declare_exchange(&ch, &fan, ExchangeKind::Fanout).await;
    declare_exclusive(&ch, &full, table(&[max_len(1), overflow("reject-publish")]))
        .await
        .unwrap();
    declare_exclusive(&ch, &free, FieldTable::default())
        .await
        .unwrap();
    bind(&ch, &full, &fan, "").await;
    bind(&ch, &free, &fan, "").await;
    assert!(publish_confirmed(&ch, &fan, "", "a", BasicProperties::default()).await);
    assert!(
        !publish_confirmed(&ch, &fan, "", "b", BasicProperties::default()).await,
        "nacked: one target queue refused it"
    );
    assert_eq!(drain(&ch, &full).await, vec!["a"]);
    assert_eq!(drain(&ch, &free).await, vec!["a", "b"]);
    cleanup(&conn, &[&full, &free]).await;
}

#[tokio::test]
async fn reject_publish_dlx_nacks_and_dead_letters_the_refused_message() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("reject-dlx");
    let dlq = unique("reject-dlx-dst");
    declare_exclusive(&ch, &dlq, FieldTable::default())
        .await
        .unwrap();
    declare_exclusive(
        &ch,
        &q,
        table(&[
            max_len(1),
            overflow("reject-publish-dlx"),
            ("x-dead-letter-exchange", text_value("")),
            ("x-dead-letter-routing-key", text_value(&dlq)),
        ]),
    )
    .await
    .unwrap();
    assert_eq!(
        publish_all(&ch, &q, &["kept", "refused"]).await,
        vec![true, false]
    );
    let (c, n) = (&ch, dlq.as_str());
    assert!(wait_until(WAIT, move || async move { ready(c, n).await == 1 }).await);
    let d = get(&ch, &dlq).await.unwrap().delivery;
    assert_eq!(
        body(&d),
        "refused",
        "the new message is dead-lettered, not the head"
    );
    assert_eq!(deaths(&d), vec![(q.clone(), "maxlen".into(), 1)]);
    assert_eq!(drain(&ch, &q).await, vec!["kept"]);
    cleanup(&conn, &[&q, &dlq]).await;
}

#[tokio::test]
async fn invalid_length_arguments_are_406_with_rabbitmq_texts() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let q = unique("maxlen-args");
    let cases = [
        (max_len(-1), "x-max-length", "{value_negative,-1}"),
        (
            ("x-max-length", text_value("10")),
            "x-max-length",
            "\"expected integer, got longstr\"",
        ),
        (max_bytes(-2), "x-max-length-bytes", "{value_negative,-2}"),
        (overflow("bogus"), "x-overflow", "invalid_overflow"),
    ];
    for (arg, name, why) in cases {
        let ch = conn.create_channel().await.unwrap();
        expect_406(
            declare(&ch, &q, table(&[arg])).await,
            &format!(
                "PRECONDITION_FAILED - invalid arg '{name}' for queue '{q}' in vhost '/': {why}"
            ),
        )
        .await;
    }
}
