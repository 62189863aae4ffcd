//! Dead lettering (`x-dead-letter-exchange`, `x-dead-letter-routing-key`) on rejection
//! and expiry, the `x-death` header exactly as RabbitMQ 3.10 writes it, CC/BCC handling,
//! cycle detection, a missing DLX, and an end-to-end delayed-retry loop.
//! (Dead lettering on overflow is in `length_limits.rs`.)
//!
//! Run with `WARREN_TEST_REFERENCE=127.0.0.1:5682` to check the expectations against a
//! reference RabbitMQ.

use crate::common;
use crate::queue_features;

use common::{unique, Target, TestBroker};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{options::*, BasicProperties, ExchangeKind};
use queue_features::*;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn dlx(exchange: &str) -> (&'static str, AMQPValue) {
    ("x-dead-letter-exchange", text_value(exchange))
}

fn dlrk(key: &str) -> (&'static str, AMQPValue) {
    ("x-dead-letter-routing-key", text_value(key))
}

fn reject_options() -> BasicRejectOptions {
    BasicRejectOptions { requeue: false }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn rejected_message_is_dead_lettered_with_an_x_death_as_rabbitmq_writes_it() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let x = unique("dlx");
    let q = unique("dl-src");
    let dlq = unique("dl-dst");
    declare_exchange(&ch, &x, ExchangeKind::Direct).await;
    declare_exclusive(&ch, &dlq, FieldTable::default())
        .await
        .unwrap();
    // No dead-letter routing key: the original routing key (the queue name) is used.
    bind(&ch, &dlq, &x, &q).await;
    declare_exclusive(&ch, &q, table(&[dlx(&x)])).await.unwrap();

    let props = BasicProperties::default()
        .with_content_type("text/plain".into())
        .with_correlation_id("corr-1".into())
        .with_headers(table(&[("app", text_value("kept"))]));
    publish(&ch, "", &q, "payload", props).await;
    let m = get_unacked(&ch, &q)
        .await
        .expect("published on this channel before the get");
    assert!(x_death(&m.delivery).is_empty());
    m.delivery.reject(reject_options()).await.unwrap();

    let (c, n) = (&ch, dlq.as_str());
    assert!(wait_until(WAIT, move || async move { ready(c, n).await == 1 }).await);
    let d = get(&ch, &dlq).await.unwrap().delivery;
    assert_eq!(body(&d), "payload");
    assert_eq!(
        d.exchange.as_str(),
        x,
        "delivered from the dead-letter exchange"
    );
    assert_eq!(d.routing_key.as_str(), q, "with the original routing key");
    assert!(!d.redelivered);
    assert_eq!(
        d.properties.content_type().as_ref().map(|s| s.as_str()),
        Some("text/plain")
    );
    assert_eq!(
        d.properties.correlation_id().as_ref().map(|s| s.as_str()),
        Some("corr-1")
    );
    assert_eq!(header_text(&d, "app").as_deref(), Some("kept"));

    let deaths = x_death(&d);
    assert_eq!(deaths.len(), 1, "{deaths:?}");
    let death = &deaths[0];
    let mut keys: Vec<&str> = death.inner().keys().map(|k| k.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "count",
            "exchange",
            "queue",
            "reason",
            "routing-keys",
            "time"
        ],
        "no original-expiration without a per-message TTL"
    );
    assert_eq!(field(death, "count"), Some(&AMQPValue::LongLongInt(1)));
    assert_eq!(
        field(death, "reason"),
        Some(&AMQPValue::LongString("rejected".into()))
    );
    assert_eq!(
        field(death, "queue"),
        Some(&AMQPValue::LongString(q.as_str().into()))
    );
    assert_eq!(
        field(death, "exchange"),
        Some(&AMQPValue::LongString("".into())),
        "the exchange the message was published to (the default one)"
    );
    assert_eq!(routing_keys(death), vec![q.clone()]);
    match field(death, "time") {
        Some(AMQPValue::Timestamp(secs)) => {
            let now = now_secs();
            assert!(
                *secs + 60 >= now && *secs <= now + 60,
                "time is a timestamp in seconds: {secs} vs now {now}"
            );
        }
        other => panic!("time is not a timestamp: {other:?}"),
    }
    for (name, value) in [
        ("x-first-death-reason", "rejected"),
        ("x-first-death-queue", q.as_str()),
        ("x-first-death-exchange", ""),
    ] {
        assert_eq!(
            header(&d, name),
            Some(&AMQPValue::LongString(value.into())),
            "{name}"
        );
    }
    assert!(header(&d, "x-last-death-reason").is_none(), "3.13+ only");
    cleanup(&conn, &[&q, &dlq]).await;
}

#[tokio::test]
async fn nack_without_requeue_dead_letters_and_with_requeue_does_not() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("dl-nack");
    let dlq = unique("dl-nack-dst");
    declare_exclusive(&ch, &dlq, FieldTable::default())
        .await
        .unwrap();
    declare_exclusive(&ch, &q, table(&[dlx(""), dlrk(&dlq)]))
        .await
        .unwrap();
    fill(&ch, &q, &["one", "two", "three"]).await;
    let cch = conn.create_channel().await.unwrap();
    let mut c = consume(&cch, &q, "nacker", false, FieldTable::default()).await;
    let _one = next(&mut c).await;
    let two = next(&mut c).await;
    let three = next(&mut c).await;
    // multiple: one and two.
    two.nack(BasicNackOptions {
        multiple: true,
        requeue: false,
    })
    .await
    .unwrap();
    three
        .nack(BasicNackOptions {
            multiple: false,
            requeue: true,
        })
        .await
        .unwrap();
    let again = next(&mut c).await;
    assert_eq!(body(&again), "three");
    assert!(again.redelivered);
    assert!(x_death(&again).is_empty(), "a requeue is not a death");
    again.ack(BasicAckOptions::default()).await.unwrap();

    let (cc, n) = (&ch, dlq.as_str());
    assert!(wait_until(WAIT, move || async move { ready(cc, n).await == 2 }).await);
    for expected in ["one", "two"] {
        let d = get(&ch, &dlq).await.unwrap().delivery;
        assert_eq!(body(&d), expected, "dead-lettered in order");
        assert_eq!(deaths(&d), vec![(q.clone(), "rejected".into(), 1)]);
        assert_eq!(d.exchange.as_str(), "");
        assert_eq!(d.routing_key.as_str(), dlq, "the dead-letter routing key");
    }
    assert_eq!(ready(&ch, &dlq).await, 0);
    cleanup(&conn, &[&q, &dlq]).await;
}

#[tokio::test]
async fn expired_messages_are_dead_lettered_in_order_and_original_expiration_is_recorded() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let by_msg = unique("dl-exp-msg");
    let by_queue = unique("dl-exp-queue");
    let dlq = unique("dl-exp-dst");
    declare_exclusive(&ch, &dlq, FieldTable::default())
        .await
        .unwrap();
    declare_exclusive(&ch, &by_msg, table(&[dlx(""), dlrk(&dlq)]))
        .await
        .unwrap();
    declare_exclusive(
        &ch,
        &by_queue,
        table(&[dlx(""), dlrk(&dlq), ("x-message-ttl", int(30))]),
    )
    .await
    .unwrap();
    assert!(publish_confirmed(&ch, "", &by_msg, "m", with_expiration("20")).await);
    let (c, n) = (&ch, dlq.as_str());
    assert!(wait_until(WAIT, move || async move { ready(c, n).await == 1 }).await);
    let d = get(&ch, &dlq).await.unwrap().delivery;
    assert_eq!(body(&d), "m");
    assert_eq!(
        d.properties.expiration(),
        &None,
        "the expiration property is removed"
    );
    let death = &x_death(&d)[0];
    assert_eq!(field_text(death, "reason"), "expired");
    assert_eq!(field_text(death, "queue"), by_msg);
    assert_eq!(
        field(death, "original-expiration"),
        Some(&AMQPValue::LongString("20".into()))
    );
    assert_eq!(
        header_text(&d, "x-first-death-reason").as_deref(),
        Some("expired")
    );

    fill(&ch, &by_queue, &["q1", "q2", "q3"]).await;
    assert!(wait_until(WAIT, move || async move { ready(c, n).await == 3 }).await);
    for expected in ["q1", "q2", "q3"] {
        let d = get(&ch, &dlq).await.unwrap().delivery;
        assert_eq!(body(&d), expected);
        let death = &x_death(&d)[0];
        assert_eq!(field_text(death, "reason"), "expired");
        assert_eq!(field_text(death, "queue"), by_queue);
        assert!(
            field(death, "original-expiration").is_none(),
            "a queue TTL is not an original-expiration: {death:?}"
        );
        assert_eq!(routing_keys(death), vec![by_queue.clone()]);
    }
    cleanup(&conn, &[&by_msg, &by_queue, &dlq]).await;
}

#[tokio::test]
async fn cc_is_kept_bcc_is_stripped_and_a_dead_letter_routing_key_removes_cc() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let src = unique("dl-cc-src");
    let x = unique("dl-cc-dlx");
    let keep_key = unique("dl-cc-keep");
    let new_key = unique("dl-cc-new");
    let to_cc = unique("dl-cc-bycc");
    let to_new = unique("dl-cc-bynew");
    declare_exchange(&ch, &src, ExchangeKind::Direct).await;
    declare_exchange(&ch, &x, ExchangeKind::Direct).await;
    declare_exclusive(&ch, &to_cc, FieldTable::default())
        .await
        .unwrap();
    declare_exclusive(&ch, &to_new, FieldTable::default())
        .await
        .unwrap();
    bind(&ch, &to_cc, &x, "cc1").await;
    bind(&ch, &to_new, &x, "dk").await;
    // Both source queues are bound on "k" only; CC and BCC keys match nothing else.
    declare_exclusive(&ch, &keep_key, table(&[dlx(&x)]))
        .await
        .unwrap();
    declare_exclusive(&ch, &new_key, table(&[dlx(&x), dlrk("dk")]))
        .await
        .unwrap();
    bind(&ch, &keep_key, &src, "k").await;
    bind(&ch, &new_key, &src, "k").await;

    let headers = table(&[
        ("CC", string_array(&["cc1"])),
        ("BCC", string_array(&["bcc1"])),
    ]);
    assert!(
        publish_confirmed(
            &ch,
            &src,
            "k",
            "cc",
            BasicProperties::default().with_headers(headers)
        )
        .await
    );
    for q in [&keep_key, &new_key] {
        let m = get_unacked(&ch, q).await.expect("routed by k");
        assert_eq!(header(&m.delivery, "CC"), Some(&string_array(&["cc1"])));
        assert!(
            header(&m.delivery, "BCC").is_none(),
            "BCC is never delivered"
        );
        m.delivery.reject(reject_options()).await.unwrap();
    }
    let c = &ch;
    let (a, b) = (to_cc.as_str(), to_new.as_str());
    assert!(
        wait_until(WAIT, move || async move {
            ready(c, a).await == 1 && ready(c, b).await == 1
        })
        .await,
        "one copy routed by the CC key, one by the dead-letter routing key"
    );

    // Without a dead-letter routing key the original keys route, CC included.
    let d = get(&ch, &to_cc).await.unwrap().delivery;
    assert_eq!(d.routing_key.as_str(), "k");
    assert_eq!(header(&d, "CC"), Some(&string_array(&["cc1"])), "CC kept");
    assert!(header(&d, "BCC").is_none());
    let death = &x_death(&d)[0];
    assert_eq!(field_text(death, "queue"), keep_key);
    assert_eq!(field_text(death, "exchange"), src);
    assert_eq!(
        routing_keys(death),
        vec!["k", "cc1"],
        "CC in routing-keys, BCC not"
    );

    // With one, the key is replaced and CC removed; x-death still has the original keys.
    let d = get(&ch, &to_new).await.unwrap().delivery;
    assert_eq!(d.routing_key.as_str(), "dk");
    assert!(
        header(&d, "CC").is_none(),
        "CC removed with a dead-letter routing key"
    );
    assert!(header(&d, "BCC").is_none());
    let death = &x_death(&d)[0];
    assert_eq!(field_text(death, "queue"), new_key);
    assert_eq!(routing_keys(death), vec!["k", "cc1"]);
    assert_eq!(ready(&ch, &to_cc).await, 0);
    cleanup(&conn, &[&keep_key, &new_key, &to_cc, &to_new]).await;
}

/// RabbitMQ 3.10 strips the BCC header at publish time but keeps the BCC keys among the
/// message's routing keys, and dead-letters (without a dead-letter routing key) with those
/// keys: a queue bound to the dead-letter exchange by a BCC key gets a copy.
#[tokio::test]
async fn dead_lettering_without_a_routing_key_also_routes_by_the_original_bcc_keys() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let x = unique("dl-bcc-dlx");
    let q = unique("dl-bcc-src");
    let by_bcc = unique("dl-bcc-dst");
    declare_exchange(&ch, &x, ExchangeKind::Direct).await;
    declare_exclusive(&ch, &by_bcc, FieldTable::default())
        .await
        .unwrap();
    bind(&ch, &by_bcc, &x, "bcc1").await;
    declare_exclusive(&ch, &q, table(&[dlx(&x)])).await.unwrap();
    let headers = table(&[("BCC", string_array(&["bcc1"]))]);
    assert!(
        publish_confirmed(
            &ch,
            "",
            &q,
            "bcc",
            BasicProperties::default().with_headers(headers)
        )
        .await
    );
    let m = get_unacked(&ch, &q).await.unwrap();
    assert!(header(&m.delivery, "BCC").is_none());
    m.delivery.reject(reject_options()).await.unwrap();
    let (c, n) = (&ch, by_bcc.as_str());
    assert!(
        wait_until(Duration::from_secs(2), move || async move {
            ready(c, n).await == 1
        })
        .await,
        "routed to the dead-letter exchange by the BCC key"
    );
    let d = get(&ch, &by_bcc).await.unwrap().delivery;
    assert_eq!(d.routing_key.as_str(), q);
    assert!(header(&d, "BCC").is_none());
    assert_eq!(
        routing_keys(&x_death(&d)[0]),
        vec![q.clone()],
        "BCC not in routing-keys"
    );
    cleanup(&conn, &[&q, &by_bcc]).await;
}

#[tokio::test]
async fn a_missing_dead_letter_exchange_drops_the_message_silently() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("dl-missing");
    declare_exclusive(&ch, &q, table(&[dlx(&unique("no-such-exchange"))]))
        .await
        .unwrap();
    fill(&ch, &q, &["doomed", "expires"]).await;
    let m = get_unacked(&ch, &q).await.unwrap();
    m.delivery.reject(reject_options()).await.unwrap();
    let m = get_unacked(&ch, &q).await.unwrap();
    m.delivery
        .nack(BasicNackOptions {
            requeue: false,
            multiple: false,
        })
        .await
        .unwrap();
    assert_eq!(ready(&ch, &q).await, 0, "dropped");
    // Nothing went wrong on the channel or the connection.
    fill(&ch, &q, &["after"]).await;
    assert_eq!(get_text(&ch, &q).await.as_deref(), Some("after"));
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn repeated_rejections_merge_into_one_x_death_entry_with_a_growing_count() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("dl-self");
    // Rejected messages come straight back to the same queue.
    declare_exclusive(&ch, &q, table(&[dlx(""), dlrk(&q)]))
        .await
        .unwrap();
    fill(&ch, &q, &["boomerang"]).await;
    let cch = conn.create_channel().await.unwrap();
    let mut c = consume(&cch, &q, "rejecter", false, FieldTable::default()).await;
    let mut first_time = None;
    for round in 0..4i64 {
        let d = next(&mut c).await;
        assert_eq!(body(&d), "boomerang");
        let xd = x_death(&d);
        if round == 0 {
            assert!(xd.is_empty());
        } else {
            assert_eq!(deaths(&d), vec![(q.clone(), "rejected".into(), round)]);
            let time = field(&xd[0], "time").cloned();
            match &first_time {
                None => first_time = time,
                Some(t) => assert_eq!(Some(t), time.as_ref(), "time is the first death's"),
            }
            assert_eq!(header_text(&d, "x-first-death-queue"), Some(q.clone()));
        }
        if round < 3 {
            d.reject(reject_options()).await.unwrap();
        } else {
            d.ack(BasicAckOptions::default()).await.unwrap();
        }
    }
    assert_no_delivery(&mut c, "acked").await;
    cleanup(&conn, &[&q]).await;
}

/// A queue with `x-message-ttl` 20 whose dead-letter exchange is a fanout to itself and to
/// an observer queue. When the message expires, the copy for the queue itself closes a
/// cycle without a rejection and is dropped; the observer's copy is delivered. Without
/// cycle detection the observer would get a new copy every 20 ms.
#[tokio::test]
async fn an_automatic_dead_letter_cycle_is_dropped() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let fan = unique("dl-cycle-fan");
    let q = unique("dl-cycle");
    let observer = unique("dl-cycle-obs");
    declare_exchange(&ch, &fan, ExchangeKind::Fanout).await;
    declare_exclusive(&ch, &observer, FieldTable::default())
        .await
        .unwrap();
    declare_exclusive(&ch, &q, table(&[dlx(&fan), ("x-message-ttl", int(20))]))
        .await
        .unwrap();
    bind(&ch, &q, &fan, "").await;
    bind(&ch, &observer, &fan, "").await;
    fill(&ch, &q, &["loop"]).await;
    let (c, n) = (&ch, observer.as_str());
    assert!(wait_until(WAIT, move || async move { ready(c, n).await >= 1 }).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        ready(&ch, &observer).await,
        1,
        "one expiry, then the cycle is cut"
    );
    assert_eq!(ready(&ch, &q).await, 0);
    let d = get(&ch, &observer).await.unwrap().delivery;
    assert_eq!(deaths(&d), vec![(q.clone(), "expired".into(), 1)]);
    cleanup(&conn, &[&q, &observer]).await;
}

/// Two queues that expire into each other: a → b → (a: cycle, dropped). An observer bound
/// to b's fanout dead-letter exchange sees the one b-expiry.
#[tokio::test]
async fn a_two_queue_expiry_cycle_is_dropped_when_it_comes_round() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let fan = unique("dl-cycle2-fan");
    let a = unique("dl-cycle2-a");
    let b = unique("dl-cycle2-b");
    let observer = unique("dl-cycle2-obs");
    declare_exchange(&ch, &fan, ExchangeKind::Fanout).await;
    declare_exclusive(&ch, &observer, FieldTable::default())
        .await
        .unwrap();
    declare_exclusive(
        &ch,
        &a,
        table(&[dlx(""), dlrk(&b), ("x-message-ttl", int(20))]),
    )
    .await
    .unwrap();
    declare_exclusive(&ch, &b, table(&[dlx(&fan), ("x-message-ttl", int(20))]))
        .await
        .unwrap();
    bind(&ch, &a, &fan, "").await;
    bind(&ch, &observer, &fan, "").await;
    fill(&ch, &a, &["round"]).await;
    let (c, n) = (&ch, observer.as_str());
    assert!(wait_until(WAIT, move || async move { ready(c, n).await >= 1 }).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ready(&ch, &observer).await, 1);
    assert_eq!(ready(&ch, &a).await, 0);
    assert_eq!(ready(&ch, &b).await, 0);
    let d = get(&ch, &observer).await.unwrap().delivery;
    assert_eq!(
        deaths(&d),
        vec![
            (b.clone(), "expired".into(), 1),
            (a.clone(), "expired".into(), 1)
        ],
        "most recent first"
    );
    assert_eq!(header_text(&d, "x-first-death-queue"), Some(a.clone()));
    cleanup(&conn, &[&a, &b, &observer]).await;
}

/// The classic delayed-retry topology: the work queue's consumer rejects a failing job
/// into a retry queue (via the retry exchange) whose 100 ms TTL dead-letters it back to
/// the work exchange. The job comes back after the delay, twice, with x-death counts 1
/// then 2, and the third attempt acks it.
#[tokio::test]
async fn delayed_retry_through_a_ttl_queue_ends_to_end() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let work_x = unique("retry-work-x");
    let retry_x = unique("retry-retry-x");
    let work = unique("retry-work");
    let retry = unique("retry-wait");
    declare_exchange(&ch, &work_x, ExchangeKind::Direct).await;
    declare_exchange(&ch, &retry_x, ExchangeKind::Direct).await;
    declare_exclusive(&ch, &work, table(&[dlx(&retry_x)]))
        .await
        .unwrap();
    declare_exclusive(
        &ch,
        &retry,
        table(&[dlx(&work_x), ("x-message-ttl", int(100))]),
    )
    .await
    .unwrap();
    bind(&ch, &work, &work_x, "job").await;
    bind(&ch, &retry, &retry_x, "job").await;

    let cch = conn.create_channel().await.unwrap();
    cch.basic_qos(1, BasicQosOptions::default()).await.unwrap();
    let mut c = consume(&cch, &work, "worker", false, FieldTable::default()).await;
    assert!(
        publish_confirmed(
            &ch,
            &work_x,
            "job",
            "job-1",
            BasicProperties::default()
                .with_delivery_mode(2)
                .with_message_id("id-1".into())
        )
        .await
    );

    let mut rejected_at: Option<Instant> = None;
    for attempt in 1..=3i64 {
        let d = next(&mut c).await;
        if let Some(at) = rejected_at {
            let delay = at.elapsed();
            assert!(
                delay >= Duration::from_millis(95),
                "attempt {attempt} came back after {delay:?}, before the 100 ms retry delay"
            );
        }
        assert_eq!(body(&d), "job-1");
        assert_eq!(
            d.properties.message_id().as_ref().map(|s| s.as_str()),
            Some("id-1")
        );
        assert_eq!(d.exchange.as_str(), work_x);
        assert_eq!(d.routing_key.as_str(), "job");
        assert!(!d.redelivered, "a dead-lettered message is a new message");
        let retries = attempt - 1;
        if retries == 0 {
            assert!(x_death(&d).is_empty());
        } else {
            assert_eq!(
                deaths(&d),
                vec![
                    (retry.clone(), "expired".into(), retries),
                    (work.clone(), "rejected".into(), retries),
                ],
                "attempt {attempt}"
            );
            let xd = x_death(&d);
            assert_eq!(field_text(&xd[0], "exchange"), retry_x);
            assert_eq!(field_text(&xd[1], "exchange"), work_x);
            assert_eq!(routing_keys(&xd[0]), vec!["job"]);
            assert_eq!(routing_keys(&xd[1]), vec!["job"]);
            assert_eq!(
                header_text(&d, "x-first-death-reason").as_deref(),
                Some("rejected")
            );
            assert_eq!(header_text(&d, "x-first-death-queue"), Some(work.clone()));
            assert_eq!(
                header_text(&d, "x-first-death-exchange"),
                Some(work_x.clone())
            );
        }
        if attempt < 3 {
            // Work on it for longer than the retry delay: the retry queue's TTL must count
            // from when the message entered it, not from the original publish.
            tokio::time::sleep(Duration::from_millis(150)).await;
            d.reject(reject_options()).await.unwrap();
            rejected_at = Some(Instant::now());
        } else {
            d.ack(BasicAckOptions::default()).await.unwrap();
        }
    }
    assert_no_delivery(&mut c, "the job was acked").await;
    assert_eq!(ready(&ch, &work).await, 0);
    assert_eq!(ready(&ch, &retry).await, 0);
    cleanup(&conn, &[&work, &retry]).await;
}

#[tokio::test]
async fn purging_or_deleting_a_queue_does_not_dead_letter() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let dlq = unique("dl-purge-dst");
    let q = unique("dl-purge");
    declare_exclusive(&ch, &dlq, FieldTable::default())
        .await
        .unwrap();
    declare_exclusive(&ch, &q, table(&[dlx(""), dlrk(&dlq)]))
        .await
        .unwrap();
    fill(&ch, &q, &["a", "b"]).await;
    let purged = ch
        .queue_purge(q.as_str().into(), QueuePurgeOptions::default())
        .await
        .unwrap();
    assert_eq!(purged, 2);
    fill(&ch, &q, &["c"]).await;
    ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    tokio::time::sleep(QUIET).await;
    assert_eq!(ready(&ch, &dlq).await, 0);
    cleanup(&conn, &[&dlq]).await;
}

#[tokio::test]
async fn an_unacked_message_returned_after_its_ttl_is_dead_lettered_as_expired() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let dlq = unique("dl-late-dst");
    let q = unique("dl-late");
    declare_exclusive(&ch, &dlq, FieldTable::default())
        .await
        .unwrap();
    declare_exclusive(
        &ch,
        &q,
        table(&[dlx(""), dlrk(&dlq), ("x-message-ttl", int(50))]),
    )
    .await
    .unwrap();
    let cch = conn.create_channel().await.unwrap();
    let mut c = consume(&cch, &q, "slow", false, FieldTable::default()).await;
    fill(&ch, &q, &["held"]).await;
    let _held = next(&mut c).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    // The channel closes without acking: the message is requeued, already expired.
    cch.close(200, "bye".into()).await.unwrap();
    let (cc, n) = (&ch, dlq.as_str());
    assert!(wait_until(WAIT, move || async move { ready(cc, n).await == 1 }).await);
    let d = get(&ch, &dlq).await.unwrap().delivery;
    assert_eq!(body(&d), "held");
    assert_eq!(deaths(&d), vec![(q.clone(), "expired".into(), 1)]);
    assert!(!d.redelivered);
    assert_eq!(ready(&ch, &q).await, 0);
    cleanup(&conn, &[&q, &dlq]).await;
}

/// In-process Warren only: dead-lettered persistent messages (with their x-death) survive
/// a restart in a durable dead-letter queue, and a persistent message whose TTL runs out
/// after a restart is still dead-lettered.
#[tokio::test]
async fn dead_lettered_messages_and_pending_expiries_survive_a_restart() {
    let b = TestBroker::start().await;
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let persistent = || BasicProperties::default().with_delivery_mode(2);
    {
        let conn = b.connect().await;
        let ch = confirm_channel(&conn).await;
        ch.queue_declare("dlq".into(), durable, FieldTable::default())
            .await
            .unwrap();
        ch.queue_declare("rejecting".into(), durable, table(&[dlx(""), dlrk("dlq")]))
            .await
            .unwrap();
        ch.queue_declare(
            "expiring".into(),
            durable,
            table(&[dlx(""), dlrk("dlq"), ("x-message-ttl", int(1000))]),
        )
        .await
        .unwrap();
        assert!(publish_confirmed(&ch, "", "rejecting", "rejected", persistent()).await);
        assert!(publish_confirmed(&ch, "", "expiring", "expired", persistent()).await);
        let m = get_unacked(&ch, "rejecting").await.unwrap();
        m.delivery.reject(reject_options()).await.unwrap();
        let c = &ch;
        assert!(wait_until(WAIT, move || async move { ready(c, "dlq").await == 1 }).await);
        conn.close(200, "bye".into()).await.unwrap();
    }
    let dir = b.stop().await;
    let b = TestBroker::start_in(dir).await;
    let conn = b.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let c = &ch;
    assert!(
        wait_until(WAIT, move || async move { ready(c, "dlq").await == 2 }).await,
        "the rejected message survived and the expiring one was dead-lettered after the restart"
    );
    let first = get(&ch, "dlq").await.unwrap().delivery;
    assert_eq!(body(&first), "rejected");
    assert_eq!(
        deaths(&first),
        vec![("rejecting".into(), "rejected".into(), 1)]
    );
    assert_eq!(
        header_text(&first, "x-first-death-queue").as_deref(),
        Some("rejecting")
    );
    let second = get(&ch, "dlq").await.unwrap().delivery;
    assert_eq!(body(&second), "expired");
    assert_eq!(
        deaths(&second),
        vec![("expiring".into(), "expired".into(), 1)]
    );
    assert_eq!(
        second.properties.delivery_mode(),
        &Some(2),
        "still persistent"
    );
}

#[tokio::test]
async fn invalid_dead_letter_arguments_are_406_with_rabbitmq_texts() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let q = unique("dl-args");
    let cases = [
        (
            table(&[dlrk("k")]),
            format!(
                "PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue '{q}' \
                 in vhost '/': routing_key_but_no_dlx_defined"
            ),
        ),
        (
            table(&[("x-dead-letter-exchange", int(1))]),
            format!(
                "PRECONDITION_FAILED - invalid type 'signedint' for arg 'x-dead-letter-exchange' \
                 in queue '{q}' in vhost '/'"
            ),
        ),
        (
            table(&[dlx("x"), ("x-dead-letter-routing-key", int(1))]),
            format!(
                "PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue '{q}' \
                 in vhost '/': {{unacceptable_type,signedint}}"
            ),
        ),
    ];
    for (args, text) in cases {
        let ch = conn.create_channel().await.unwrap();
        expect_406(declare(&ch, &q, args).await, &text).await;
    }
}
