//! Acknowledgements and flow: ack/nack/reject (with multiple), where
//! requeued messages land, redelivered flags, prefetch (per consumer vs
//! global), round-robin, unacked messages on cancel/close.

use lapin::options::*;

use crate::runner::{Case, CaseResult};
use crate::support::*;

/// The cases of this file (group `basic`).
pub fn cases() -> Vec<Case> {
    crate::cases!("basic";
        ack_removes,
        ack_multiple,
        ack_multiple_tag_zero_acks_all,
        ack_unknown_tag_406,
        double_ack_406,
        ack_on_other_channel_406,
        reject_requeue_redelivers_with_flag,
        reject_no_requeue_discards,
        nack_multiple_requeue,
        nack_multiple_no_requeue,
        requeued_message_returns_to_head,
        nack_requeue_keeps_original_order,
        requeue_goes_to_another_consumer,
        recover_requeue_redelivers,
        prefetch_limits_unacked,
        prefetch_zero_is_unlimited,
        prefetch_per_consumer_not_global,
        prefetch_global_shared_on_channel,
        round_robin_between_consumers,
        unacked_requeued_on_channel_close,
        unacked_requeued_on_connection_close,
        unacked_requeued_in_original_order,
        recover_requeue_returns_to_head,
    )
}

async fn ack_removes(ctx: Ctx) -> CaseResult {
    let (conn, ch) = ctx.conn_channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "m").await?;
    let Some(m) = get_manual(&ch, &q).await? else {
        fail!("no message")
    };
    ch.basic_ack(m.delivery.delivery_tag, BasicAckOptions::default())
        .await
        .ctx("basic.ack")?;
    ch.close(200, "bye".into()).await.ctx("channel.close")?;
    let ch2 = conn.create_channel().await.ctx("channel.open")?;
    expect_bodies(&ch2, &q, &[]).await
}

async fn ack_multiple(ctx: Ctx) -> CaseResult {
    let (conn, ch) = ctx.conn_channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    for i in 1..=5 {
        publish(&ch, "", &q, &i.to_string()).await?;
    }
    let mut c = consume(&ch, &q, false).await?;
    let ds = next_n(&mut c, 5).await?;
    // Ack 1..=3 in one go; 4 and 5 stay unacked and come back on close.
    ch.basic_ack(ds[2].delivery_tag, BasicAckOptions { multiple: true })
        .await
        .ctx("basic.ack multiple")?;
    ch.close(200, "bye".into()).await.ctx("channel.close")?;
    let ch2 = conn.create_channel().await.ctx("channel.open")?;
    expect_bodies(&ch2, &q, &["4", "5"]).await
}

async fn ack_multiple_tag_zero_acks_all(ctx: Ctx) -> CaseResult {
    let (conn, ch) = ctx.conn_channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    for i in 1..=3 {
        publish(&ch, "", &q, &i.to_string()).await?;
    }
    let mut c = consume(&ch, &q, false).await?;
    next_n(&mut c, 3).await?;
    ch.basic_ack(0, BasicAckOptions { multiple: true })
        .await
        .ctx("basic.ack 0 multiple")?;
    ch.close(200, "bye".into()).await.ctx("channel.close")?;
    let ch2 = conn.create_channel().await.ctx("channel.open")?;
    expect_bodies(&ch2, &q, &[]).await
}

async fn ack_unknown_tag_406(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_method(
        1,
        lapin::protocol::AMQPClass::Basic(lapin::protocol::basic::AMQPMethod::Ack(
            lapin::protocol::basic::Ack {
                delivery_tag: 99,
                multiple: false,
            },
        )),
    )
    .await?;
    super::errors::expect_soft(
        &mut c,
        1,
        406,
        "PRECONDITION_FAILED - unknown delivery tag 99",
    )
    .await
}

async fn double_ack_406(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "m").await?;
    let mut c = ctx.raw_ch1().await?;
    use lapin::protocol::{basic, AMQPClass};
    c.send_method(
        1,
        AMQPClass::Basic(basic::AMQPMethod::Get(basic::Get {
            queue: q.as_str().into(),
            no_ack: false,
        })),
    )
    .await?;
    let m = c.recv_message(1).await?;
    let tag = match &m.method {
        AMQPClass::Basic(basic::AMQPMethod::GetOk(g)) => g.delivery_tag,
        other => fail!(
            "expected get-ok, got {}",
            crate::raw::describe_method(other)
        ),
    };
    let ack = AMQPClass::Basic(basic::AMQPMethod::Ack(basic::Ack {
        delivery_tag: tag,
        multiple: false,
    }));
    c.send_method(1, ack.clone()).await?;
    c.send_method(1, ack).await?;
    super::errors::expect_soft(
        &mut c,
        1,
        406,
        &format!("PRECONDITION_FAILED - unknown delivery tag {tag}"),
    )
    .await
}

async fn ack_on_other_channel_406(ctx: Ctx) -> CaseResult {
    use lapin::protocol::{basic, AMQPClass};
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "m").await?;
    let mut c = ctx.raw_ch1().await?;
    c.open_channel(2).await?;
    c.send_method(
        1,
        AMQPClass::Basic(basic::AMQPMethod::Get(basic::Get {
            queue: q.as_str().into(),
            no_ack: false,
        })),
    )
    .await?;
    let m = c.recv_message(1).await?;
    let tag = match &m.method {
        AMQPClass::Basic(basic::AMQPMethod::GetOk(g)) => g.delivery_tag,
        other => fail!(
            "expected get-ok, got {}",
            crate::raw::describe_method(other)
        ),
    };
    // Delivery tags are scoped to their channel.
    c.send_method(
        2,
        AMQPClass::Basic(basic::AMQPMethod::Ack(basic::Ack {
            delivery_tag: tag,
            multiple: false,
        })),
    )
    .await?;
    super::errors::expect_soft(
        &mut c,
        2,
        406,
        &format!("PRECONDITION_FAILED - unknown delivery tag {tag}"),
    )
    .await
}

async fn reject_requeue_redelivers_with_flag(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "m").await?;
    let Some(m) = get_manual(&ch, &q).await? else {
        fail!("no message")
    };
    ch.basic_reject(
        m.delivery.delivery_tag,
        BasicRejectOptions { requeue: true },
    )
    .await
    .ctx("basic.reject")?;
    let Some(again) = get(&ch, &q).await? else {
        fail!("rejected message not requeued")
    };
    ensure!(
        again.delivery.redelivered,
        "requeued message not flagged redelivered"
    );
    ensure_eq!(text(&again.delivery.data), "m", "body");
    Ok(())
}

async fn reject_no_requeue_discards(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "m").await?;
    let Some(m) = get_manual(&ch, &q).await? else {
        fail!("no message")
    };
    ch.basic_reject(
        m.delivery.delivery_tag,
        BasicRejectOptions { requeue: false },
    )
    .await
    .ctx("basic.reject")?;
    expect_bodies(&ch, &q, &[]).await
}

async fn nack_multiple_requeue(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    for i in 1..=4 {
        publish(&ch, "", &q, &i.to_string()).await?;
    }
    let mut tags = Vec::new();
    for _ in 0..3 {
        let Some(m) = get_manual(&ch, &q).await? else {
            fail!("no message")
        };
        tags.push(m.delivery.delivery_tag);
    }
    ch.basic_nack(
        tags[2],
        BasicNackOptions {
            multiple: true,
            requeue: true,
        },
    )
    .await
    .ctx("basic.nack")?;
    let mut got = Vec::new();
    while let Some(m) = get(&ch, &q).await? {
        got.push((text(&m.delivery.data), m.delivery.redelivered));
    }
    let expected: Vec<(String, bool)> = vec![
        ("1".into(), true),
        ("2".into(), true),
        ("3".into(), true),
        ("4".into(), false),
    ];
    ensure_eq!(got, expected, "(body, redelivered) after nack multiple");
    Ok(())
}

async fn nack_multiple_no_requeue(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    for i in 1..=3 {
        publish(&ch, "", &q, &i.to_string()).await?;
    }
    let mut last = 0;
    for _ in 0..2 {
        let Some(m) = get_manual(&ch, &q).await? else {
            fail!("no message")
        };
        last = m.delivery.delivery_tag;
    }
    ch.basic_nack(
        last,
        BasicNackOptions {
            multiple: true,
            requeue: false,
        },
    )
    .await
    .ctx("basic.nack")?;
    expect_bodies(&ch, &q, &["3"]).await
}

async fn requeued_message_returns_to_head(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    for b in ["a", "b", "c"] {
        publish(&ch, "", &q, b).await?;
    }
    let Some(m) = get_manual(&ch, &q).await? else {
        fail!("no message")
    };
    ch.basic_reject(
        m.delivery.delivery_tag,
        BasicRejectOptions { requeue: true },
    )
    .await
    .ctx("basic.reject")?;
    expect_bodies(&ch, &q, &["a", "b", "c"]).await
}

async fn nack_requeue_keeps_original_order(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    for b in ["a", "b", "c", "d"] {
        publish(&ch, "", &q, b).await?;
    }
    let mut tags = Vec::new();
    for _ in 0..3 {
        let Some(m) = get_manual(&ch, &q).await? else {
            fail!("no message")
        };
        tags.push(m.delivery.delivery_tag);
    }
    // Nack them out of order, one by one.
    for t in [tags[1], tags[2], tags[0]] {
        ch.basic_nack(
            t,
            BasicNackOptions {
                multiple: false,
                requeue: true,
            },
        )
        .await
        .ctx("basic.nack")?;
    }
    expect_bodies(&ch, &q, &["a", "b", "c", "d"]).await
}

async fn requeue_goes_to_another_consumer(ctx: Ctx) -> CaseResult {
    let ch1 = ctx.channel().await?;
    let q = ctx.queue(&ch1, "q").await?;
    ch1.basic_qos(1, BasicQosOptions::default())
        .await
        .ctx("basic.qos")?;
    let mut c1 = consume(&ch1, &q, false).await?;
    publish(&ch1, "", &q, "m").await?;
    let d = next(&mut c1).await?;
    let ch2 = ctx.channel().await?;
    let mut c2 = consume(&ch2, &q, false).await?;
    ch1.basic_cancel(c1.tag(), BasicCancelOptions::default())
        .await
        .ctx("basic.cancel")?;
    ch1.basic_reject(d.delivery_tag, BasicRejectOptions { requeue: true })
        .await
        .ctx("basic.reject")?;
    let d2 = next(&mut c2).await?;
    ensure_eq!(text(&d2.data), "m", "body");
    ensure!(d2.redelivered, "redelivered flag");
    Ok(())
}

async fn recover_requeue_redelivers(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "m").await?;
    let mut c = consume(&ch, &q, false).await?;
    let d = next(&mut c).await?;
    ensure!(!d.redelivered, "first delivery flagged redelivered");
    ch.basic_recover(BasicRecoverOptions { requeue: true })
        .await
        .ctx("basic.recover")?;
    let d2 = next(&mut c).await?;
    ensure_eq!(text(&d2.data), "m", "body");
    ensure!(d2.redelivered, "recovered message not flagged redelivered");
    Ok(())
}

async fn prefetch_limits_unacked(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    for i in 0..5 {
        publish(&ch, "", &q, &i.to_string()).await?;
    }
    ch.basic_qos(2, BasicQosOptions::default())
        .await
        .ctx("basic.qos")?;
    let mut c = consume(&ch, &q, false).await?;
    let ds = next_n(&mut c, 2).await?;
    expect_no_delivery(&mut c).await?;
    ch.basic_ack(ds[0].delivery_tag, BasicAckOptions::default())
        .await
        .ctx("basic.ack")?;
    let d = next(&mut c).await?;
    ensure_eq!(text(&d.data), "2", "next delivery after one ack");
    expect_no_delivery(&mut c).await
}

async fn prefetch_zero_is_unlimited(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    for i in 0..20 {
        publish(&ch, "", &q, &i.to_string()).await?;
    }
    ch.basic_qos(0, BasicQosOptions::default())
        .await
        .ctx("basic.qos")?;
    let mut c = consume(&ch, &q, false).await?;
    next_n(&mut c, 20).await.map(|_| ())
}

async fn prefetch_per_consumer_not_global(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q1 = ctx.queue(&ch, "q1").await?;
    let q2 = ctx.queue(&ch, "q2").await?;
    for i in 0..3 {
        publish(&ch, "", &q1, &format!("a{i}")).await?;
        publish(&ch, "", &q2, &format!("b{i}")).await?;
    }
    // global=false: each consumer created afterwards gets its own limit of 1.
    ch.basic_qos(1, BasicQosOptions { global: false })
        .await
        .ctx("basic.qos")?;
    let mut c1 = consume(&ch, &q1, false).await?;
    let mut c2 = consume(&ch, &q2, false).await?;
    next(&mut c1).await?;
    next(&mut c2).await?;
    expect_no_delivery(&mut c1).await?;
    expect_no_delivery(&mut c2).await
}

async fn prefetch_global_shared_on_channel(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q1 = ctx.queue(&ch, "q1").await?;
    let q2 = ctx.queue(&ch, "q2").await?;
    for i in 0..3 {
        publish(&ch, "", &q1, &format!("a{i}")).await?;
        publish(&ch, "", &q2, &format!("b{i}")).await?;
    }
    // global=true: the channel as a whole may have 3 unacked.
    ch.basic_qos(3, BasicQosOptions { global: true })
        .await
        .ctx("basic.qos global")?;
    let mut c1 = consume(&ch, &q1, false).await?;
    let mut c2 = consume(&ch, &q2, false).await?;
    let mut n = 0;
    loop {
        tokio::select! {
            r = next_within(&mut c1, QUIET) => { if r.is_err() { break } n += 1; }
            r = next_within(&mut c2, QUIET) => { if r.is_err() { break } n += 1; }
        }
        if n > 6 {
            break;
        }
    }
    // Drain anything else that is already in flight.
    while next_within(&mut c1, QUIET).await.is_ok() {
        n += 1;
    }
    while next_within(&mut c2, QUIET).await.is_ok() {
        n += 1;
    }
    ensure_eq!(
        n,
        3,
        "unacked deliveries on a channel with global prefetch 3"
    );
    Ok(())
}

async fn round_robin_between_consumers(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let cha = ctx.channel().await?;
    let chb = ctx.channel().await?;
    let mut a = consume(&cha, &q, true).await?;
    let mut b = consume(&chb, &q, true).await?;
    for i in 0..6 {
        publish(&ch, "", &q, &i.to_string()).await?;
    }
    let ga = bodies(&next_n(&mut a, 3).await?);
    let gb = bodies(&next_n(&mut b, 3).await?);
    ensure_eq!(ga, vec!["0", "2", "4"], "consumer A");
    ensure_eq!(gb, vec!["1", "3", "5"], "consumer B");
    Ok(())
}

async fn unacked_requeued_on_channel_close(ctx: Ctx) -> CaseResult {
    let (conn, ch) = ctx.conn_channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "m").await?;
    let mut c = consume(&ch, &q, false).await?;
    next(&mut c).await?;
    ch.close(200, "bye".into()).await.ctx("channel.close")?;
    let ch2 = conn.create_channel().await.ctx("channel.open")?;
    let Some(m) = get(&ch2, &q).await? else {
        fail!("unacked message not requeued on channel close")
    };
    ensure!(
        m.delivery.redelivered,
        "requeued message not flagged redelivered"
    );
    Ok(())
}

async fn unacked_requeued_on_connection_close(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "m").await?;
    let conn2 = ctx.connect().await?;
    let ch2 = conn2.create_channel().await.ctx("channel.open")?;
    let mut c = consume(&ch2, &q, false).await?;
    next(&mut c).await?;
    conn2
        .close(200, "bye".into())
        .await
        .ctx("connection.close")?;
    eventually("message requeued", WAIT, || async {
        Ok(message_count(&ch, &q).await? == 1)
    })
    .await?;
    let Some(m) = get(&ch, &q).await? else {
        fail!("message lost")
    };
    ensure!(
        m.delivery.redelivered,
        "requeued message not flagged redelivered"
    );
    Ok(())
}

async fn unacked_requeued_in_original_order(ctx: Ctx) -> CaseResult {
    let (conn, ch) = ctx.conn_channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    for b in ["1", "2", "3", "4", "5"] {
        publish(&ch, "", &q, b).await?;
    }
    let mut c = consume(&ch, &q, false).await?;
    let ds = next_n(&mut c, 5).await?;
    // Ack 2 and 4; 1, 3, 5 go back in their original order.
    ch.basic_ack(ds[1].delivery_tag, BasicAckOptions::default())
        .await
        .ctx("basic.ack")?;
    ch.basic_ack(ds[3].delivery_tag, BasicAckOptions::default())
        .await
        .ctx("basic.ack")?;
    ch.close(200, "bye".into()).await.ctx("channel.close")?;
    let ch2 = conn.create_channel().await.ctx("channel.open")?;
    expect_bodies(&ch2, &q, &["1", "3", "5"]).await
}

async fn recover_requeue_returns_to_head(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    for b in ["a", "b", "c"] {
        publish(&ch, "", &q, b).await?;
    }
    for _ in 0..2 {
        ensure!(get_manual(&ch, &q).await?.is_some(), "no message");
    }
    ch.basic_recover(BasicRecoverOptions { requeue: true })
        .await
        .ctx("basic.recover")?;
    let mut got = Vec::new();
    while let Some(m) = get(&ch, &q).await? {
        got.push((text(&m.delivery.data), m.delivery.redelivered));
    }
    let expected: Vec<(String, bool)> =
        vec![("a".into(), true), ("b".into(), true), ("c".into(), false)];
    ensure_eq!(got, expected, "(body, redelivered) after basic.recover");
    Ok(())
}
