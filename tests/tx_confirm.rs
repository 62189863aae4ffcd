//! Transactions (publishes and acks take effect on commit only), the tx/confirm exclusion,
//! and the order of `basic.return` and `basic.ack` for an unroutable mandatory publish.
//!
//! Run with `WARREN_TEST_REFERENCE=127.0.0.1:5682` to check the expectations against a
//! reference RabbitMQ.

use crate::common;
use common::raw::{body_frame, header_frame, publish_frame, RawClient, RawFrame};
use common::{amqp_code, unique, Target};
use lapin::protocol::{basic, AMQPClass};
use lapin::{options::*, types::FieldTable, BasicProperties, Channel};

/// Ready messages, asked on `ch` itself so the answer reflects every earlier method on it.
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

async fn publish(ch: &Channel, q: &str, body: &[u8]) {
    // On a tx channel there is no confirm to wait for.
    let confirm = ch
        .basic_publish(
            "".into(),
            q.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default(),
        )
        .await
        .unwrap();
    drop(confirm);
}

async fn delete(ch: &Channel, q: &str) {
    let _ = ch
        .queue_delete(q.into(), QueueDeleteOptions::default())
        .await;
}

#[tokio::test]
async fn tx_commit_makes_publishes_visible() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let q = unique("tx-commit");
    common::declare_queue(&ch, &q).await;
    ch.tx_select().await.unwrap();
    publish(&ch, &q, b"one").await;
    publish(&ch, &q, b"two").await;
    assert_eq!(
        ready(&ch, &q).await,
        0,
        "nothing is routed before the commit"
    );
    ch.tx_commit().await.unwrap();
    assert_eq!(ready(&ch, &q).await, 2);
    for want in [&b"one"[..], b"two"] {
        let m = ch
            .basic_get(q.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
            .expect("committed");
        assert_eq!(m.delivery.data, want);
    }
    delete(&ch, &q).await;
}

#[tokio::test]
async fn tx_rollback_discards_publishes_and_the_channel_stays_transactional() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let q = unique("tx-rollback");
    common::declare_queue(&ch, &q).await;
    ch.tx_select().await.unwrap();
    publish(&ch, &q, b"discarded").await;
    ch.tx_rollback().await.unwrap();
    assert_eq!(ready(&ch, &q).await, 0);
    ch.tx_commit().await.unwrap();
    assert_eq!(ready(&ch, &q).await, 0, "a later commit does not revive it");
    publish(&ch, &q, b"kept").await;
    assert_eq!(
        ready(&ch, &q).await,
        0,
        "still transactional after the rollback"
    );
    ch.tx_commit().await.unwrap();
    let m = ch
        .basic_get(q.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
        .expect("committed");
    assert_eq!(m.delivery.data, b"kept");
    delete(&ch, &q).await;
}

/// Takes the queue's head message on a fresh transactional channel, acks it inside the
/// transaction, finishes with `end` (commit, rollback or nothing) and closes the channel.
/// Returns whether the message came back to the queue.
async fn ack_in_tx_then(conn: &lapin::Connection, q: &str, end: &str) -> bool {
    let ch = conn.create_channel().await.unwrap();
    ch.tx_select().await.unwrap();
    let m = ch
        .basic_get(q.into(), BasicGetOptions { no_ack: false })
        .await
        .unwrap()
        .expect("a message to ack");
    m.delivery.ack(BasicAckOptions::default()).await.unwrap();
    match end {
        "commit" => ch.tx_commit().await.unwrap(),
        "rollback" => ch.tx_rollback().await.unwrap(),
        _ => {}
    }
    // Unacked messages go back to the queue when their channel closes.
    ch.close(200, "done".into()).await.unwrap();
    let check = conn.create_channel().await.unwrap();
    let back = ready(&check, q).await == 1;
    check.close(200, "done".into()).await.unwrap();
    back
}

#[tokio::test]
async fn acks_in_a_transaction_take_effect_only_on_commit() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = conn.create_channel().await.unwrap();
    let q = unique("tx-ack");
    common::declare_queue(&ch, &q).await;
    publish(&ch, &q, b"m").await;
    assert_eq!(ready(&ch, &q).await, 1);
    assert!(
        ack_in_tx_then(&conn, &q, "nothing").await,
        "an uncommitted ack is not applied"
    );
    assert!(
        ack_in_tx_then(&conn, &q, "rollback").await,
        "a rolled-back ack is not applied"
    );
    assert!(
        !ack_in_tx_then(&conn, &q, "commit").await,
        "a committed ack removes the message"
    );
    delete(&ch, &q).await;
}

#[tokio::test]
async fn tx_select_on_a_confirm_channel_is_precondition_failed() {
    let t = Target::start().await;
    let conn = t.connect().await;
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let err = ch
        .tx_select()
        .await
        .expect_err("confirm and tx exclude each other");
    assert_eq!(amqp_code(&err), Some(406), "{err}");
    assert!(err.is_amqp_soft_error(), "a channel error: {err}");
    // And the other way round.
    let ch = conn
        .create_channel()
        .await
        .expect("the connection survived");
    ch.tx_select().await.unwrap();
    let err = ch
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect_err("confirm and tx exclude each other");
    assert_eq!(amqp_code(&err), Some(406), "{err}");
}

#[tokio::test]
async fn unroutable_mandatory_publish_is_returned_before_it_is_confirmed() {
    let t = Target::start().await;
    let mut c = RawClient::open(t.addr).await;
    c.open_channel(1).await;
    c.confirm_select(1).await;
    let mut bytes = publish_frame(1, "amq.direct", &unique("nobody-bound"), true, false);
    bytes.extend(header_frame(1, 3, &BasicProperties::default()));
    bytes.extend(body_frame(1, b"ret"));
    c.send(&bytes).await.unwrap();

    match c.recv().await {
        RawFrame::Method(1, AMQPClass::Basic(basic::AMQPMethod::Return(r))) => {
            assert_eq!(r.reply_code, 312);
            assert_eq!(r.reply_text.as_str(), "NO_ROUTE");
            assert_eq!(r.exchange.as_str(), "amq.direct");
        }
        other => panic!("expected basic.return first, got {other:?}"),
    }
    match c.recv().await {
        RawFrame::Header { body_size: 3, .. } => {}
        other => panic!("expected the returned message's header, got {other:?}"),
    }
    assert_eq!(c.recv().await, RawFrame::Body(1, b"ret".to_vec()));
    match c.recv().await {
        RawFrame::Method(1, AMQPClass::Basic(basic::AMQPMethod::Ack(a))) => {
            assert_eq!(a.delivery_tag, 1);
        }
        other => panic!("expected basic.ack after the return, got {other:?}"),
    }

    // A routable mandatory publish is only acked.
    let q = unique("routable");
    c.queue_declare(1, &q).await;
    let mut bytes = publish_frame(1, "", &q, true, false);
    bytes.extend(header_frame(1, 2, &BasicProperties::default()));
    bytes.extend(body_frame(1, b"ok"));
    c.send(&bytes).await.unwrap();
    match c.recv().await {
        RawFrame::Method(1, AMQPClass::Basic(basic::AMQPMethod::Ack(a))) => {
            assert_eq!(a.delivery_tag, 2);
        }
        other => panic!("expected basic.ack, got {other:?}"),
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
