//! Direct reply-to (`amq.rabbitmq.reply-to`): end-to-end RPC between two connections
//! with lapin, the generated reply address, and the errors RabbitMQ gives.
//!
//! Run with `WARREN_TEST_REFERENCE=127.0.0.1:5682` to check the expectations against a
//! reference RabbitMQ.

use crate::common;
use crate::queue_features;

use common::{unique, Target};
use futures_lite::StreamExt;
use lapin::types::FieldTable;
use lapin::{options::*, BasicProperties, Channel};
use queue_features::*;

const REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// A responder on queue `q`: answers each request with "re:" + body to its reply-to, with
/// the request's correlation id, and records the reply-to addresses it saw.
async fn spawn_responder(ch: Channel, q: String) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut c = consume(&ch, &q, "responder", false, FieldTable::default()).await;
    tokio::spawn(async move {
        while let Some(Ok(d)) = c.next().await {
            let reply_to = d
                .properties
                .reply_to()
                .as_ref()
                .map(|s| s.to_string())
                .unwrap_or_default();
            let _ = tx.send(reply_to.clone());
            let mut props = BasicProperties::default();
            if let Some(id) = d.properties.correlation_id() {
                props = props.with_correlation_id(id.clone());
            }
            let answer = format!("re:{}", body(&d));
            ch.basic_publish(
                "".into(),
                reply_to.as_str().into(),
                BasicPublishOptions::default(),
                answer.as_bytes(),
                props,
            )
            .await
            .unwrap();
            d.ack(BasicAckOptions::default()).await.unwrap();
        }
    });
    rx
}

#[tokio::test]
async fn rpc_round_trips_through_direct_reply_to() {
    let t = Target::start().await;
    let server = t.connect().await;
    let client = t.connect().await;
    let sch = server.create_channel().await.unwrap();
    let q = unique("rpc");
    declare(&sch, &q, FieldTable::default()).await.unwrap();
    let mut seen = spawn_responder(sch.clone(), q.clone()).await;

    let cch = client.create_channel().await.unwrap();
    let mut replies = consume(&cch, REPLY_TO, "replies", true, FieldTable::default()).await;
    for i in 0..3 {
        let id = format!("req-{i}");
        publish(
            &cch,
            "",
            &q,
            &format!("ping{i}"),
            BasicProperties::default()
                .with_reply_to(REPLY_TO.into())
                .with_correlation_id(id.as_str().into()),
        )
        .await;
        let r = next(&mut replies).await;
        assert_eq!(body(&r), format!("re:ping{i}"));
        assert_eq!(
            r.properties.correlation_id().as_ref().map(|s| s.as_str()),
            Some(id.as_str())
        );
        assert_eq!(r.exchange.as_str(), "");
        let address = tokio::time::timeout(WAIT, seen.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(
            address.starts_with("amq.rabbitmq.reply-to.") && address.len() > REPLY_TO.len() + 1,
            "the broker rewrote reply-to to a generated address: {address:?}"
        );
        assert_eq!(
            r.routing_key.as_str(),
            address,
            "delivered under the address"
        );
        assert!(!r.redelivered);
    }
    cleanup(&server, &[&q]).await;
}

#[tokio::test]
async fn the_generated_address_is_passively_declarable_only_while_its_consumer_lives() {
    let t = Target::start().await;
    let server = t.connect().await;
    let client = t.connect().await;
    let sch = server.create_channel().await.unwrap();
    let q = unique("rpc-passive");
    declare(&sch, &q, FieldTable::default()).await.unwrap();
    let mut seen = spawn_responder(sch.clone(), q.clone()).await;
    let cch = client.create_channel().await.unwrap();
    let mut replies = consume(&cch, REPLY_TO, "replies", true, FieldTable::default()).await;
    publish(
        &cch,
        "",
        &q,
        "hello",
        BasicProperties::default().with_reply_to(REPLY_TO.into()),
    )
    .await;
    next(&mut replies).await;
    let address = seen.recv().await.unwrap();

    let pch = server.create_channel().await.unwrap();
    let ok = pch
        .queue_declare(
            address.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("a live reply address can be declared passively");
    assert_eq!((ok.message_count(), ok.consumer_count()), (0, 1));

    client.close(200, "bye".into()).await.unwrap();
    let (c, a) = (&server, address.as_str());
    assert!(
        wait_until(WAIT, move || async move {
            let ch = c.create_channel().await.unwrap();
            ch.queue_declare(
                a.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .is_err()
        })
        .await,
        "the address is gone with its requester"
    );
    let ch = server.create_channel().await.unwrap();
    let err = ch
        .queue_declare(
            address.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(close_reason(&err).0, 404);
    cleanup(&server, &[&q]).await;
}

#[tokio::test]
async fn publishing_with_reply_to_but_no_reply_consumer_is_406() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("rpc-noconsumer");
    declare_exclusive(&ch, &q, FieldTable::default())
        .await
        .unwrap();
    let confirm = ch
        .basic_publish(
            "".into(),
            q.as_str().into(),
            BasicPublishOptions::default(),
            b"orphan",
            BasicProperties::default().with_reply_to(REPLY_TO.into()),
        )
        .await;
    let err = match confirm {
        Err(e) => e,
        Ok(c) => tokio::time::timeout(WAIT, c)
            .await
            .unwrap()
            .expect_err("the channel is closed"),
    };
    assert_eq!(
        close_reason(&err),
        (
            406,
            "PRECONDITION_FAILED - fast reply consumer does not exist".to_string()
        )
    );
    let ch = conn.create_channel().await.unwrap();
    assert_eq!(ready(&ch, &q).await, 0, "the request was not enqueued");
    cleanup(&conn, &[&q]).await;
}

#[tokio::test]
async fn consuming_the_reply_pseudo_queue_in_ack_mode_is_406() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let err = ch
        .basic_consume(
            REPLY_TO.into(),
            "acking".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect_err("refused");
    assert_eq!(
        close_reason(&err),
        (
            406,
            "PRECONDITION_FAILED - reply consumer cannot acknowledge".to_string()
        )
    );
}

/// Publishes `body` to `address` with mandatory on a confirm channel; returns
/// (acked, returned with 312 NO_ROUTE).
async fn mandatory_publish(ch: &Channel, address: &str, body: &str) -> (bool, bool) {
    let confirm = ch
        .basic_publish(
            "".into(),
            address.into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            body.as_bytes(),
            BasicProperties::default(),
        )
        .await
        .unwrap();
    let confirm = tokio::time::timeout(WAIT, confirm).await.unwrap().unwrap();
    let acked = confirm.is_ack();
    let returned = confirm.take_message().map(|r| r.reply_code);
    if let Some(code) = returned {
        assert_eq!(code, 312);
    }
    (acked, returned.is_some())
}

/// Starts a requester on `client` and has it send one request to a new queue; returns
/// the reply consumer, the queue and the generated reply address the responder sees.
async fn one_request(
    server: &lapin::Connection,
    client: &lapin::Connection,
    prefix: &str,
) -> (lapin::Consumer, String, String) {
    let sch = server.create_channel().await.unwrap();
    let q = unique(prefix);
    declare(&sch, &q, FieldTable::default()).await.unwrap();
    let cch = client.create_channel().await.unwrap();
    let replies = consume(&cch, REPLY_TO, "replies", true, FieldTable::default()).await;
    publish(
        &cch,
        "",
        &q,
        "hello",
        BasicProperties::default().with_reply_to(REPLY_TO.into()),
    )
    .await;
    let (c, n) = (&sch, q.as_str());
    assert!(wait_until(WAIT, move || async move { ready(c, n).await == 1 }).await);
    let req = get(&sch, &q).await.unwrap().delivery;
    let address = req.properties.reply_to().as_ref().unwrap().to_string();
    (replies, q, address)
}

/// RabbitMQ 3.10 quirk: a mandatory publish to a live reply address is delivered, and is
/// also returned as 312 NO_ROUTE (the reply address is not a queue, so routing counts it
/// as not routed).
#[tokio::test]
async fn a_mandatory_reply_is_delivered_and_still_returned_as_unroutable() {
    let t = Target::start().await;
    let server = t.connect().await;
    let client = t.connect().await;
    let (mut replies, q, address) = one_request(&server, &client, "rpc-mandatory").await;
    let pch = confirm_channel(&server).await;
    assert_eq!(
        mandatory_publish(&pch, &address, "answer").await,
        (true, true),
        "acked, and returned as NO_ROUTE"
    );
    assert_eq!(body(&next(&mut replies).await), "answer", "yet delivered");
    cleanup(&server, &[&q]).await;
}

/// Once the requester is gone, a reply is dropped (returned if mandatory), and the
/// responder's channel stays open.
#[tokio::test]
async fn a_reply_after_the_requester_left_is_dropped() {
    let t = Target::start().await;
    let server = t.connect().await;
    let client = t.connect().await;
    let (_replies, q, address) = one_request(&server, &client, "rpc-late").await;
    client.close(200, "bye".into()).await.unwrap();
    let pch = confirm_channel(&server).await;
    let (p, a) = (&pch, address.as_str());
    assert!(
        wait_until(WAIT, move || async move {
            mandatory_publish(p, a, "late").await == (true, true)
        })
        .await,
        "a mandatory late reply is acked and returned"
    );
    publish(&pch, "", &address, "late", BasicProperties::default()).await;
    assert_eq!(ready(&pch, &q).await, 0, "the channel is still open");
    cleanup(&server, &[&q]).await;
}
