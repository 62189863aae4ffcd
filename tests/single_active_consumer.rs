//! `x-single-active-consumer`: one consumer at a time gets messages; when it cancels or
//! its channel closes, the next in subscription order takes over, and the unacked messages
//! of a closed channel are redelivered to it.
//!
//! Run with `WARREN_TEST_REFERENCE=127.0.0.1:5682` to check the expectations against a
//! reference RabbitMQ.

use crate::common;
use crate::queue_features;

use common::{unique, Target};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{options::*, Channel, Connection};
use queue_features::*;

fn sac() -> FieldTable {
    table(&[("x-single-active-consumer", AMQPValue::Boolean(true))])
}

async fn sac_queue(conn: &Connection, prefix: &str) -> (Channel, String) {
    let ch = confirm_channel(conn).await;
    let q = unique(prefix);
    declare_exclusive(&ch, &q, sac()).await.unwrap();
    (ch, q)
}

async fn cancel(ch: &Channel, tag: &str) {
    ch.basic_cancel(tag.into(), BasicCancelOptions::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn only_the_first_consumer_receives_messages() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let (ch, q) = sac_queue(&conn, "sac").await;
    let ch1 = conn.create_channel().await.unwrap();
    let ch2 = conn.create_channel().await.unwrap();
    let mut c1 = consume(&ch1, &q, "c1", true, FieldTable::default()).await;
    let mut c2 = consume(&ch2, &q, "c2", true, FieldTable::default()).await;
    fill(&ch, &q, &["1", "2", "3", "4"]).await;
    for expected in ["1", "2", "3", "4"] {
        assert_eq!(body(&next(&mut c1).await), expected);
    }
    assert_no_delivery(&mut c2, "the waiting consumer").await;
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn the_next_consumer_in_subscription_order_takes_over_when_the_active_one_cancels() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let (ch, q) = sac_queue(&conn, "sac-cancel").await;
    let cch = conn.create_channel().await.unwrap();
    let mut c1 = consume(&cch, &q, "c1", true, FieldTable::default()).await;
    let mut c2 = consume(&cch, &q, "c2", true, FieldTable::default()).await;
    let mut c3 = consume(&cch, &q, "c3", true, FieldTable::default()).await;
    fill(&ch, &q, &["1"]).await;
    assert_eq!(body(&next(&mut c1).await), "1");
    cancel(&cch, "c1").await;
    fill(&ch, &q, &["2", "3"]).await;
    assert_eq!(body(&next(&mut c2).await), "2");
    assert_eq!(body(&next(&mut c2).await), "3");
    assert_no_delivery(&mut c3, "c2 is active, c3 waits").await;
    cancel(&cch, "c2").await;
    fill(&ch, &q, &["4"]).await;
    assert_eq!(body(&next(&mut c3).await), "4");
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn cancelling_a_waiting_consumer_leaves_the_active_one_and_the_order_alone() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let (ch, q) = sac_queue(&conn, "sac-waiting").await;
    let cch = conn.create_channel().await.unwrap();
    let mut c1 = consume(&cch, &q, "c1", true, FieldTable::default()).await;
    let mut c2 = consume(&cch, &q, "c2", true, FieldTable::default()).await;
    let mut c3 = consume(&cch, &q, "c3", true, FieldTable::default()).await;
    cancel(&cch, "c2").await;
    fill(&ch, &q, &["1"]).await;
    assert_eq!(body(&next(&mut c1).await), "1");
    cancel(&cch, "c1").await;
    fill(&ch, &q, &["2"]).await;
    assert_eq!(body(&next(&mut c3).await), "2");
    assert!(
        tokio::time::timeout(QUIET, futures_lite::StreamExt::next(&mut c2))
            .await
            .map(|d| d.is_none())
            .unwrap_or(true),
        "the cancelled c2 gets nothing"
    );
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn unacked_messages_of_a_closed_channel_are_redelivered_to_the_next_consumer() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let (ch, q) = sac_queue(&conn, "sac-close").await;
    let ch1 = conn.create_channel().await.unwrap();
    let ch2 = conn.create_channel().await.unwrap();
    let mut c1 = consume(&ch1, &q, "c1", false, FieldTable::default()).await;
    let mut c2 = consume(&ch2, &q, "c2", false, FieldTable::default()).await;
    fill(&ch, &q, &["1", "2"]).await;
    assert_eq!(body(&next(&mut c1).await), "1");
    assert_eq!(body(&next(&mut c1).await), "2");
    assert_no_delivery(&mut c2, "c1 is active").await;
    ch1.close(200, "gone".into()).await.unwrap();
    for expected in ["1", "2"] {
        let d = next(&mut c2).await;
        assert_eq!(body(&d), expected, "redelivered in order");
        assert!(d.redelivered);
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    fill(&ch, &q, &["3"]).await;
    let d = next(&mut c2).await;
    assert_eq!(body(&d), "3");
    assert!(!d.redelivered);
    d.ack(BasicAckOptions::default()).await.unwrap();
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn closing_the_active_consumers_connection_hands_over_too() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let q = unique("sac-conn");
    let ch = confirm_channel(&conn).await;
    declare(&ch, &q, sac()).await.unwrap();
    let other = t.connect().await;
    let och = other.create_channel().await.unwrap();
    let mut c1 = consume(&och, &q, "c1", false, FieldTable::default()).await;
    let cch = conn.create_channel().await.unwrap();
    let mut c2 = consume(&cch, &q, "c2", false, FieldTable::default()).await;
    fill(&ch, &q, &["1"]).await;
    assert_eq!(body(&next(&mut c1).await), "1");
    other.close(200, "bye".into()).await.unwrap();
    let d = next(&mut c2).await;
    assert_eq!(body(&d), "1");
    assert!(d.redelivered);
    d.ack(BasicAckOptions::default()).await.unwrap();
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn after_a_cancel_the_old_consumers_unacked_messages_stay_with_its_channel() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let (ch, q) = sac_queue(&conn, "sac-cancel-unacked").await;
    let ch1 = conn.create_channel().await.unwrap();
    let ch2 = conn.create_channel().await.unwrap();
    let mut c1 = consume(&ch1, &q, "c1", false, FieldTable::default()).await;
    let mut c2 = consume(&ch2, &q, "c2", false, FieldTable::default()).await;
    fill(&ch, &q, &["1", "2"]).await;
    let one = next(&mut c1).await;
    let two = next(&mut c1).await;
    cancel(&ch1, "c1").await;
    assert_no_delivery(&mut c2, "a cancel does not requeue the unacked messages").await;
    // They can still be settled on the old channel: ack one, requeue the other.
    one.ack(BasicAckOptions::default()).await.unwrap();
    two.nack(BasicNackOptions {
        requeue: true,
        multiple: false,
    })
    .await
    .unwrap();
    let d = next(&mut c2).await;
    assert_eq!(body(&d), "2");
    assert!(d.redelivered);
    d.ack(BasicAckOptions::default()).await.unwrap();
    assert_no_delivery(&mut c2, "1 was acked").await;
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn an_active_consumer_at_its_prefetch_limit_holds_the_queue() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let (ch, q) = sac_queue(&conn, "sac-prefetch").await;
    let ch1 = conn.create_channel().await.unwrap();
    ch1.basic_qos(1, BasicQosOptions::default()).await.unwrap();
    let ch2 = conn.create_channel().await.unwrap();
    let mut c1 = consume(&ch1, &q, "c1", false, FieldTable::default()).await;
    let mut c2 = consume(&ch2, &q, "c2", true, FieldTable::default()).await;
    fill(&ch, &q, &["1", "2", "3"]).await;
    let d = next(&mut c1).await;
    assert_eq!(body(&d), "1");
    assert_no_delivery(
        &mut c2,
        "the waiting consumer gets nothing even when c1 is full",
    )
    .await;
    assert_eq!(ready(&ch, &q).await, 2);
    d.ack(BasicAckOptions::default()).await.unwrap();
    let d = next(&mut c1).await;
    assert_eq!(body(&d), "2");
    d.ack(BasicAckOptions::default()).await.unwrap();
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn single_active_consumer_false_is_ordinary_round_robin() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("sac-false");
    declare_exclusive(
        &ch,
        &q,
        table(&[("x-single-active-consumer", AMQPValue::Boolean(false))]),
    )
    .await
    .unwrap();
    let cch = conn.create_channel().await.unwrap();
    let mut c1 = consume(&cch, &q, "c1", true, FieldTable::default()).await;
    let mut c2 = consume(&cch, &q, "c2", true, FieldTable::default()).await;
    fill(&ch, &q, &["1", "2"]).await;
    assert_eq!(body(&next(&mut c1).await), "1");
    assert_eq!(body(&next(&mut c2).await), "2");
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn an_exclusive_consume_on_a_single_active_consumer_queue_is_refused() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let (_ch, q) = sac_queue(&conn, "sac-exclusive").await;
    let cch = conn.create_channel().await.unwrap();
    let err = cch
        .basic_consume(
            q.as_str().into(),
            "ex".into(),
            BasicConsumeOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect_err("refused");
    assert_eq!(
        close_reason(&err),
        (
            403,
            format!("ACCESS_REFUSED - queue '{q}' in vhost '/' in exclusive use")
        )
    );
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn a_non_boolean_single_active_consumer_argument_is_406() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let q = unique("sac-args");
    let ch = conn.create_channel().await.unwrap();
    expect_406(
        declare(
            &ch,
            &q,
            table(&[("x-single-active-consumer", text_value("true"))]),
        )
        .await,
        &format!(
            "PRECONDITION_FAILED - invalid arg 'x-single-active-consumer' for queue '{q}' in \
             vhost '/': {{unacceptable_type,longstr}}"
        ),
    )
    .await;
}
