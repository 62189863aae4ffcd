//! Message TTL (`x-message-ttl`, per-message `expiration`) and queue TTL (`x-expires`),
//! with RabbitMQ 3.10 semantics.
//!
//! Run with `WARREN_TEST_REFERENCE=127.0.0.1:5682` to check the protocol expectations
//! against a reference RabbitMQ (the restart test always runs on an in-process Warren).

use crate::common;
use crate::queue_features;

use common::{unique, Target, TestBroker};
use lapin::types::FieldTable;
use lapin::{options::*, BasicProperties, Channel, Connection};
use queue_features::*;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// x-message-ttl and expiration
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn queue_ttl_removes_messages_once_the_ttl_has_passed_without_anyone_asking() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("ttl-queue");
    declare_exclusive(&ch, &q, table(&[("x-message-ttl", int(150))]))
        .await
        .unwrap();
    let start = Instant::now();
    fill(&ch, &q, &["a", "b"]).await;
    let (c, n) = (&ch, q.as_str());
    assert!(
        wait_until(WAIT, move || async move { ready(c, n).await == 0 }).await,
        "the messages expire (the ready count drops to 0 without a consumer or get)"
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(140),
        "expired after {took:?}, before the 150 ms TTL"
    );
    assert_eq!(get_text(&ch, &q).await, None);
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn the_lower_of_queue_ttl_and_message_expiration_wins() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let short_queue_ttl = unique("ttl-short-queue");
    let long_queue_ttl = unique("ttl-long-queue");
    declare_exclusive(&ch, &short_queue_ttl, table(&[("x-message-ttl", int(100))]))
        .await
        .unwrap();
    declare_exclusive(
        &ch,
        &long_queue_ttl,
        table(&[("x-message-ttl", int(60_000))]),
    )
    .await
    .unwrap();
    // The queue's 100 ms beats the message's 60 s.
    assert!(
        publish_confirmed(
            &ch,
            "",
            &short_queue_ttl,
            "q-wins",
            with_expiration("60000")
        )
        .await
    );
    // The message's 100 ms beats the queue's 60 s; the next message has only the queue's.
    assert!(publish_confirmed(&ch, "", &long_queue_ttl, "m-wins", with_expiration("100")).await);
    assert!(
        publish_confirmed(
            &ch,
            "",
            &long_queue_ttl,
            "stays",
            BasicProperties::default()
        )
        .await
    );
    let (c, a, b) = (&ch, short_queue_ttl.as_str(), long_queue_ttl.as_str());
    assert!(
        wait_until(WAIT, move || async move {
            ready(c, a).await == 0 && ready(c, b).await == 1
        })
        .await,
        "both short-lived messages expire, the 60 s one stays"
    );
    assert_eq!(drain(&ch, &long_queue_ttl).await, vec!["stays"]);
    cleanup(&conn, &[&short_queue_ttl, &long_queue_ttl]).await;
}

#[tokio::test]
async fn an_expired_message_behind_a_live_one_is_removed_only_when_it_reaches_the_head() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("ttl-head");
    declare_exclusive(&ch, &q, FieldTable::default())
        .await
        .unwrap();
    assert!(publish_confirmed(&ch, "", &q, "live", BasicProperties::default()).await);
    assert!(publish_confirmed(&ch, "", &q, "dead", with_expiration("30")).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        ready(&ch, &q).await,
        2,
        "the expired message is still counted while a live message is ahead of it"
    );
    assert_eq!(get_text(&ch, &q).await.as_deref(), Some("live"));
    assert_eq!(
        get_text(&ch, &q).await,
        None,
        "at the head, the expired message is dropped instead of delivered"
    );
    assert_eq!(ready(&ch, &q).await, 0);
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn a_requeued_message_keeps_its_original_expiry() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("ttl-requeue");
    declare_exclusive(&ch, &q, table(&[("x-message-ttl", int(100))]))
        .await
        .unwrap();
    fill(&ch, &q, &["m"]).await;
    let m = get_unacked(&ch, &q)
        .await
        .expect("fetched before it expires");
    // Unacked messages do not expire; wait past the TTL, then give it back.
    tokio::time::sleep(Duration::from_millis(250)).await;
    m.delivery
        .nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let (c, n) = (&ch, q.as_str());
    assert!(
        wait_until(WAIT, move || async move { ready(c, n).await == 0 }).await,
        "the requeued message is past its TTL and expires"
    );
    assert_eq!(get_text(&ch, &q).await, None);
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn ttl_zero_without_a_waiting_consumer_expires_at_once() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let by_queue = unique("ttl-zero");
    let plain = unique("exp-zero");
    declare_exclusive(&ch, &by_queue, table(&[("x-message-ttl", int(0))]))
        .await
        .unwrap();
    declare_exclusive(&ch, &plain, FieldTable::default())
        .await
        .unwrap();
    fill(&ch, &by_queue, &["nobody"]).await;
    assert!(publish_confirmed(&ch, "", &plain, "nobody", with_expiration("0")).await);
    assert_eq!(get_text(&ch, &by_queue).await, None, "x-message-ttl 0");
    assert_eq!(get_text(&ch, &plain).await, None, "expiration 0");
    assert_eq!(ready(&ch, &by_queue).await, 0);
    assert_eq!(ready(&ch, &plain).await, 0);
    cleanup(&conn, &[&by_queue, &plain]).await;
}

#[tokio::test]
async fn ttl_zero_is_delivered_to_a_waiting_consumer_with_capacity() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let by_queue = unique("ttl-zero");
    let plain = unique("exp-zero");
    declare_exclusive(&ch, &by_queue, table(&[("x-message-ttl", int(0))]))
        .await
        .unwrap();
    declare_exclusive(&ch, &plain, FieldTable::default())
        .await
        .unwrap();
    let cch = conn.create_channel().await.unwrap();
    let mut c1 = consume(&cch, &by_queue, "zero-q", true, FieldTable::default()).await;
    let mut c2 = consume(&cch, &plain, "zero-m", true, FieldTable::default()).await;
    fill(&ch, &by_queue, &["now"]).await;
    assert!(publish_confirmed(&ch, "", &plain, "now too", with_expiration("0")).await);
    assert_eq!(body(&next(&mut c1).await), "now", "x-message-ttl 0");
    let d = next(&mut c2).await;
    assert_eq!(body(&d), "now too", "expiration 0");
    assert_eq!(
        d.properties.expiration().as_ref().map(|e| e.as_str()),
        Some("0"),
        "the expiration property is delivered as published"
    );
    cleanup(&conn, &[&by_queue, &plain]).await;
}

#[tokio::test]
async fn ttl_zero_message_expires_when_the_consumer_is_at_its_prefetch_limit() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("exp-zero-full");
    declare_exclusive(&ch, &q, FieldTable::default())
        .await
        .unwrap();
    let cch = conn.create_channel().await.unwrap();
    cch.basic_qos(1, BasicQosOptions::default()).await.unwrap();
    let mut c = consume(&cch, &q, "full", false, FieldTable::default()).await;
    fill(&ch, &q, &["first"]).await;
    let d = next(&mut c).await;
    assert_eq!(body(&d), "first");
    // The consumer is at its prefetch limit: the TTL-0 message cannot be delivered now.
    assert!(publish_confirmed(&ch, "", &q, "blocked", with_expiration("0")).await);
    assert_no_delivery(&mut c, "prefetch limit reached").await;
    d.ack(BasicAckOptions::default()).await.unwrap();
    assert_no_delivery(
        &mut c,
        "the TTL-0 message expired while the consumer was full",
    )
    .await;
    assert_eq!(ready(&ch, &q).await, 0);
    cleanup(&conn, &[&q]).await;
}

// ---------------------------------------------------------------------------------------
// Invalid values
// ---------------------------------------------------------------------------------------

/// Publishes with `expiration` on a fresh confirm channel; returns how the channel closed.
async fn publish_expiration_error(conn: &Connection, q: &str, expiration: &str) -> (u16, String) {
    let ch = confirm_channel(conn).await;
    let confirm = ch
        .basic_publish(
            "".into(),
            q.into(),
            BasicPublishOptions::default(),
            b"x",
            with_expiration(expiration),
        )
        .await;
    let err = match confirm {
        Err(e) => e,
        Ok(confirm) => match tokio::time::timeout(WAIT, confirm).await.expect("in time") {
            Err(e) => e,
            Ok(c) => panic!("expiration {expiration:?} was accepted: {c:?}"),
        },
    };
    close_reason(&err)
}

#[tokio::test]
async fn invalid_expiration_closes_the_channel_with_rabbitmq_texts() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let q = unique("exp-invalid");
    declare_exclusive(&ch, &q, FieldTable::default())
        .await
        .unwrap();
    for (expiration, text) in [
        (
            "soon",
            "PRECONDITION_FAILED - invalid expiration 'soon': no_integer",
        ),
        (
            "-1",
            "PRECONDITION_FAILED - invalid expiration '-1': {value_negative,-1}",
        ),
        (
            "10s",
            "PRECONDITION_FAILED - invalid expiration '10s': {leftover_string,\"s\"}",
        ),
        (
            "",
            "PRECONDITION_FAILED - invalid expiration '': no_integer",
        ),
        (
            " 5",
            "PRECONDITION_FAILED - invalid expiration ' 5': no_integer",
        ),
    ] {
        assert_eq!(
            publish_expiration_error(&conn, &q, expiration).await,
            (406, text.to_string()),
            "expiration {expiration:?}"
        );
    }
    // The connection survives and nothing was enqueued.
    assert_eq!(ready(&ch, &q).await, 0);
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn unusual_but_valid_expirations_are_accepted() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("exp-valid");
    declare_exclusive(&ch, &q, FieldTable::default())
        .await
        .unwrap();
    for expiration in ["+60000", "060000", "4294967295"] {
        assert!(
            publish_confirmed(&ch, "", &q, expiration, with_expiration(expiration)).await,
            "expiration {expiration:?}"
        );
    }
    assert_eq!(drain(&ch, &q).await, vec!["+60000", "060000", "4294967295"]);
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn an_expiration_above_u32_max_is_accepted_like_rabbitmq_3_10() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("exp-huge");
    declare_exclusive(&ch, &q, FieldTable::default())
        .await
        .unwrap();
    let confirm = ch
        .basic_publish(
            "".into(),
            q.as_str().into(),
            BasicPublishOptions::default(),
            b"huge",
            with_expiration("4294967296"),
        )
        .await
        .unwrap();
    let confirm = tokio::time::timeout(WAIT, confirm).await.unwrap();
    assert!(
        matches!(&confirm, Ok(c) if c.is_ack()),
        "accepted: {:?}",
        confirm.as_ref().map_err(close_reason)
    );
    assert_eq!(get_text(&ch, &q).await.as_deref(), Some("huge"));
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn invalid_ttl_arguments_are_406_with_rabbitmq_texts() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let q = unique("ttl-args");
    let cases = [
        ("x-message-ttl", int(-1), "{value_negative,-1}".to_string()),
        (
            "x-message-ttl",
            text_value("100"),
            "\"expected integer, got longstr\"".to_string(),
        ),
        ("x-expires", int(0), "{value_zero,0}".to_string()),
        ("x-expires", int(-5), "{value_negative,-5}".to_string()),
    ];
    for (arg, value, why) in cases {
        let ch = conn.create_channel().await.unwrap();
        expect_406(
            declare(&ch, &q, table(&[(arg, value)])).await,
            &format!(
                "PRECONDITION_FAILED - invalid arg '{arg}' for queue '{q}' in vhost '/': {why}"
            ),
        )
        .await;
    }
    // None of them created the queue.
    let ch = conn.create_channel().await.unwrap();
    let err = ch
        .queue_declare(
            q.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect_err("not created");
    assert_eq!(close_reason(&err).0, 404);
}

// ---------------------------------------------------------------------------------------
// x-expires
// ---------------------------------------------------------------------------------------

/// Whether queue `q` still exists, found without "using" it: a mandatory publish through
/// the default exchange is returned only when the queue is gone. (Publishing does not
/// reset the x-expires timer.)
async fn exists(probe: &Channel, q: &str) -> bool {
    let confirm = probe
        .basic_publish(
            "".into(),
            q.into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            b"probe",
            BasicProperties::default(),
        )
        .await
        .unwrap();
    let confirm = tokio::time::timeout(WAIT, confirm)
        .await
        .expect("confirm in time")
        .unwrap();
    assert!(confirm.is_ack(), "{confirm:?}");
    confirm.take_message().is_none()
}

async fn wait_gone(probe: &Channel, q: &str, limit: Duration) -> bool {
    wait_until(limit, move || async move { !exists(probe, q).await }).await
}

#[tokio::test]
async fn an_unused_queue_is_deleted_after_x_expires_and_not_before() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let probe = confirm_channel(&conn).await;
    let q = unique("expires");
    let start = Instant::now();
    declare(&ch, &q, table(&[("x-expires", int(400))]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(exists(&probe, &q).await, "still there after 100 of 400 ms");
    assert!(
        wait_gone(&probe, &q, WAIT).await,
        "deleted once unused for 400 ms"
    );
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(390), "deleted after {took:?}");
    let err = ch
        .queue_declare(
            q.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect_err("gone");
    assert_eq!(close_reason(&err).0, 404);
}

#[tokio::test]
async fn a_consumer_keeps_an_expiring_queue_alive_until_it_cancels() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let probe = confirm_channel(&conn).await;
    let q = unique("expires-consumer");
    declare(&ch, &q, table(&[("x-expires", int(60))]))
        .await
        .unwrap();
    let _c = consume(&ch, &q, "keeper", true, FieldTable::default()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        exists(&probe, &q).await,
        "a queue with a consumer does not expire"
    );
    ch.basic_cancel("keeper".into(), BasicCancelOptions::default())
        .await
        .unwrap();
    assert!(
        wait_gone(&probe, &q, WAIT).await,
        "expires once the consumer is gone"
    );
}

#[tokio::test]
async fn closing_the_consumers_channel_starts_the_x_expires_clock() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let probe = confirm_channel(&conn).await;
    let q = unique("expires-close");
    declare(&ch, &q, table(&[("x-expires", int(60))]))
        .await
        .unwrap();
    let cch = conn.create_channel().await.unwrap();
    let _c = consume(&cch, &q, "keeper", false, FieldTable::default()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(exists(&probe, &q).await);
    cch.close(200, "bye".into()).await.unwrap();
    assert!(wait_gone(&probe, &q, WAIT).await);
}

#[derive(Clone, Copy, Debug)]
enum Use {
    BasicGet,
    Redeclare,
    PassiveDeclare,
}

/// Uses queue `q` (x-expires 250 ms) every 40 ms for 600 ms: it must survive; then it
/// must expire once the use stops.
async fn use_keeps_the_queue_alive(how: Use) {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let probe = confirm_channel(&conn).await;
    let q = unique("expires-use");
    let args = table(&[("x-expires", int(250))]);
    declare(&ch, &q, args.clone()).await.unwrap();
    let until = Instant::now() + Duration::from_millis(600);
    while Instant::now() < until {
        match how {
            Use::BasicGet => {
                ch.basic_get(q.as_str().into(), BasicGetOptions { no_ack: true })
                    .await
                    .unwrap();
            }
            Use::Redeclare => {
                declare(&ch, &q, args.clone()).await.unwrap();
            }
            Use::PassiveDeclare => {
                ready(&ch, &q).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert!(
        exists(&probe, &q).await,
        "{how:?} every 40 ms kept the queue (x-expires 250 ms) alive for 600 ms"
    );
    assert!(
        wait_gone(&probe, &q, WAIT).await,
        "once the {how:?} calls stop the queue expires"
    );
}

#[tokio::test]
async fn basic_get_counts_as_use_for_x_expires() {
    use_keeps_the_queue_alive(Use::BasicGet).await;
}

#[tokio::test]
async fn redeclare_counts_as_use_for_x_expires() {
    use_keeps_the_queue_alive(Use::Redeclare).await;
}

#[tokio::test]
async fn passive_declare_counts_as_use_for_x_expires() {
    use_keeps_the_queue_alive(Use::PassiveDeclare).await;
}

#[tokio::test]
async fn the_messages_of_an_expired_queue_are_not_dead_lettered() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let dlq = unique("expires-dlq");
    let q = unique("expires-dl");
    declare_exclusive(&ch, &dlq, FieldTable::default())
        .await
        .unwrap();
    declare(
        &ch,
        &q,
        table(&[
            ("x-expires", int(80)),
            ("x-dead-letter-exchange", text_value("")),
            ("x-dead-letter-routing-key", text_value(&dlq)),
        ]),
    )
    .await
    .unwrap();
    fill(&ch, &q, &["lost"]).await;
    assert!(wait_gone(&ch, &q, WAIT).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        ready(&ch, &dlq).await,
        0,
        "queue expiry does not dead-letter"
    );
    cleanup(&conn, &[&dlq]).await;
}

// ---------------------------------------------------------------------------------------
// Persistence (in-process Warren only: needs a restart)
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn persistent_messages_with_a_ttl_expire_on_schedule_across_a_restart() {
    let b = TestBroker::start().await;
    let persistent = || BasicProperties::default().with_delivery_mode(2);
    let t0 = Instant::now();
    {
        let conn = b.connect().await;
        let ch = confirm_channel(&conn).await;
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        ch.queue_declare(
            "by-queue-ttl".into(),
            durable,
            table(&[("x-message-ttl", int(1200))]),
        )
        .await
        .unwrap();
        ch.queue_declare("by-expiration".into(), durable, FieldTable::default())
            .await
            .unwrap();
        assert!(publish_confirmed(&ch, "", "by-queue-ttl", "q", persistent()).await);
        assert!(
            publish_confirmed(
                &ch,
                "",
                "by-expiration",
                "m",
                persistent().with_expiration("1200".into())
            )
            .await
        );
        assert!(publish_confirmed(&ch, "", "by-expiration", "keep", persistent()).await);
        conn.close(200, "bye".into()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let dir = b.stop().await;
    let b = TestBroker::start_in(dir).await;
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    if t0.elapsed() < Duration::from_millis(1100) {
        assert_eq!(ready(&ch, "by-queue-ttl").await, 1, "not expired early");
        assert_eq!(ready(&ch, "by-expiration").await, 2, "not expired early");
    }
    let c = &ch;
    assert!(
        wait_until(WAIT, move || async move {
            ready(c, "by-queue-ttl").await == 0 && ready(c, "by-expiration").await == 1
        })
        .await,
        "both TTL messages expire after the restart"
    );
    let at = t0.elapsed();
    assert!(
        at >= Duration::from_millis(1190),
        "expired {at:?} after publishing, before the 1200 ms TTL"
    );
    assert!(
        at < Duration::from_millis(1850),
        "expired {at:?} after publishing: the TTL must count from publish time, not from the restart"
    );
    assert_eq!(drain(&ch, "by-expiration").await, vec!["keep"]);
}
