//! Publisher confirms: numbering, ack after routing, unroutable messages,
//! mandatory returns before the ack, multiple acks, many channels, nacks.

use lapin::options::*;
use lapin::protocol::{basic, confirm, tx, AMQPClass};
use lapin::types::FieldTable;
use lapin::BasicProperties;

use crate::raw::RawConn;
use crate::runner::{Case, CaseResult, Problem};
use crate::support::*;

/// The cases of this group.
pub fn cases() -> Vec<Case> {
    crate::cases!("confirm";
        select_ok,
        select_twice_ok,
        select_nowait,
        routed_message_acked,
        unroutable_message_acked,
        mandatory_return_before_ack,
        tags_count_from_one,
        every_publish_confirmed_exactly_once,
        multiple_flag_covers_lower_tags,
        many_channels,
        persistent_to_durable_queue_acked,
        nack_on_reject_publish,
        tx_select_after_confirm_406,
        confirm_on_fanout_to_many_queues,
        publish_to_missing_exchange_closes_channel,
    )
}

fn select(nowait: bool) -> AMQPClass {
    AMQPClass::Confirm(confirm::AMQPMethod::Select(confirm::Select { nowait }))
}

/// Collect confirms on channel 1 until `n` publishes are covered; returns
/// (acked tags, nacked tags, frames seen as descriptions).
async fn collect_confirms(
    c: &mut RawConn,
    n: u64,
) -> Result<(Vec<u64>, Vec<u64>, Vec<String>), Problem> {
    let mut acked = Vec::new();
    let mut nacked = Vec::new();
    let mut seen = Vec::new();
    let mut covered = std::collections::BTreeSet::new();
    while (covered.len() as u64) < n {
        let (ch, m) = c.recv_method().await?;
        seen.push(crate::raw::describe_method(&m));
        let (tag, multiple, is_ack) = match &m {
            AMQPClass::Basic(basic::AMQPMethod::Ack(a)) => (a.delivery_tag, a.multiple, true),
            AMQPClass::Basic(basic::AMQPMethod::Nack(a)) => (a.delivery_tag, a.multiple, false),
            AMQPClass::Basic(basic::AMQPMethod::Return(_)) => {
                c.recv_content(m.clone(), ch).await?;
                continue;
            }
            _ => fail!(
                "unexpected {} while waiting for confirms",
                crate::raw::describe_method(&m)
            ),
        };
        let tags: Vec<u64> = if multiple {
            (1..=tag).filter(|t| !covered.contains(t)).collect()
        } else {
            vec![tag]
        };
        for t in tags {
            ensure!(covered.insert(t), "delivery tag {t} confirmed twice");
            if is_ack {
                acked.push(t);
            } else {
                nacked.push(t);
            }
        }
    }
    Ok((acked, nacked, seen))
}

async fn select_ok(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.rpc(1, select(false)).await?;
    Ok(())
}

async fn select_twice_ok(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.rpc(1, select(false)).await?;
    c.rpc(1, select(false)).await?;
    Ok(())
}

async fn select_nowait(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_method(1, select(true)).await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    raw_declare_queue(&mut c, 1, &q, false).await?;
    c.publish(1, "", &q, false, BasicProperties::default(), b"m")
        .await?;
    let (acked, _, _) = collect_confirms(&mut c, 1).await?;
    ensure_eq!(acked, vec![1], "acked tags after confirm.select nowait");
    Ok(())
}

async fn routed_message_acked(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    confirm_select(&ch).await?;
    let conf = ch
        .basic_publish(
            "".into(),
            q.as_str().into(),
            BasicPublishOptions::default(),
            b"m",
            BasicProperties::default(),
        )
        .await
        .ctx("basic.publish")?
        .await
        .ctx("confirm")?;
    ensure!(conf.is_ack(), "expected ack, got {conf:?}");
    expect_bodies(&ch, &q, &["m"]).await
}

async fn unroutable_message_acked(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    confirm_select(&ch).await?;
    let conf = ch
        .basic_publish(
            "amq.direct".into(),
            ctx.name("nowhere").as_str().into(),
            BasicPublishOptions::default(),
            b"m",
            BasicProperties::default(),
        )
        .await
        .ctx("basic.publish")?
        .await
        .ctx("confirm")?;
    ensure!(
        conf.is_ack(),
        "unroutable message: expected ack, got {conf:?}"
    );
    Ok(())
}

async fn mandatory_return_before_ack(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.rpc(1, select(false)).await?;
    c.publish(
        1,
        "amq.direct",
        &ctx.name("nowhere"),
        true,
        BasicProperties::default(),
        b"m",
    )
    .await?;
    let (ch, first) = c.recv_method().await?;
    match &first {
        AMQPClass::Basic(basic::AMQPMethod::Return(r)) => {
            ensure_eq!(r.reply_code, 312, "basic.return reply code");
            c.recv_content(first.clone(), ch).await?;
        }
        other => fail!(
            "expected basic.return before the ack, got {}",
            crate::raw::describe_method(other)
        ),
    }
    let (_, second) = c.recv_method().await?;
    match second {
        AMQPClass::Basic(basic::AMQPMethod::Ack(a)) => {
            ensure_eq!(a.delivery_tag, 1, "ack delivery tag");
            Ok(())
        }
        other => fail!(
            "expected basic.ack after the return, got {}",
            crate::raw::describe_method(&other)
        ),
    }
}

async fn tags_count_from_one(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    raw_declare_queue(&mut c, 1, &q, false).await?;
    c.rpc(1, select(false)).await?;
    for _ in 0..3 {
        c.publish(1, "", &q, false, BasicProperties::default(), b"m")
            .await?;
    }
    let (mut acked, nacked, _) = collect_confirms(&mut c, 3).await?;
    acked.sort();
    ensure_eq!(acked, vec![1, 2, 3], "acked tags");
    ensure!(nacked.is_empty(), "nacked tags {nacked:?}");
    Ok(())
}

async fn every_publish_confirmed_exactly_once(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    raw_declare_queue(&mut c, 1, &q, false).await?;
    c.rpc(1, select(false)).await?;
    for i in 0..200u32 {
        // Mix routable and unroutable publishes.
        let key = if i % 3 == 0 { "nowhere" } else { q.as_str() };
        c.publish(
            1,
            "",
            key,
            false,
            BasicProperties::default(),
            &i.to_be_bytes(),
        )
        .await?;
    }
    let (acked, nacked, _) = collect_confirms(&mut c, 200).await?;
    ensure_eq!(acked.len(), 200, "acked count");
    ensure!(nacked.is_empty(), "nacked tags {nacked:?}");
    Ok(())
}

async fn multiple_flag_covers_lower_tags(ctx: Ctx) -> CaseResult {
    // Whether the broker uses multiple=true is its choice; if it does, the
    // tags it covers must be exactly the unconfirmed ones. Publishing a
    // burst makes RabbitMQ coalesce.
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    raw_declare_queue(&mut c, 1, &q, false).await?;
    c.rpc(1, select(false)).await?;
    let mut burst = Vec::new();
    for _ in 0..500 {
        burst.extend(crate::raw::encode_frame(&crate::raw::method_frame(
            1,
            AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish {
                exchange: "".into(),
                routing_key: q.as_str().into(),
                mandatory: false,
                immediate: false,
            })),
        ))?);
        burst.extend(crate::raw::encode_frame(&crate::raw::header_frame(1, 0))?);
    }
    c.send_bytes(&burst).await?;
    let (acked, _, _) = collect_confirms(&mut c, 500).await?;
    let mut sorted = acked.clone();
    sorted.sort();
    ensure_eq!(sorted, (1..=500).collect::<Vec<u64>>(), "confirmed tags");
    Ok(())
}

async fn many_channels(ctx: Ctx) -> CaseResult {
    let conn = ctx.connect().await?;
    let setup = conn.create_channel().await.ctx("channel.open")?;
    let q = ctx.queue(&setup, "q").await?;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let ch = conn.create_channel().await.ctx("channel.open")?;
        let q = q.clone();
        tasks.push(tokio::spawn(async move {
            ch.confirm_select(ConfirmSelectOptions::default()).await?;
            for j in 0..20 {
                ch.basic_publish(
                    "".into(),
                    q.as_str().into(),
                    BasicPublishOptions::default(),
                    format!("{i}-{j}").as_bytes(),
                    BasicProperties::default(),
                )
                .await?;
            }
            ch.wait_for_confirms().await?;
            Ok::<_, lapin::Error>(())
        }));
    }
    for t in tasks {
        t.await
            .ctx("publisher task")?
            .ctx("publish with confirms")?;
    }
    ensure_eq!(
        message_count(&setup, &q).await?,
        200,
        "messages in the queue"
    );
    Ok(())
}

async fn persistent_to_durable_queue_acked(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx
        .queue_with(
            &ch,
            "q",
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    confirm_select(&ch).await?;
    for i in 0..10 {
        ch.basic_publish(
            "".into(),
            q.as_str().into(),
            BasicPublishOptions::default(),
            format!("{i}").as_bytes(),
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .ctx("basic.publish")?;
    }
    ch.wait_for_confirms().await.ctx("wait for confirms")?;
    ensure_eq!(
        message_count(&ch, &q).await?,
        10,
        "messages in the durable queue"
    );
    Ok(())
}

async fn nack_on_reject_publish(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    c.rpc(
        1,
        AMQPClass::Queue(lapin::protocol::queue::AMQPMethod::Declare(
            lapin::protocol::queue::Declare {
                queue: q.as_str().into(),
                passive: false,
                durable: false,
                exclusive: false,
                auto_delete: false,
                nowait: false,
                arguments: table(&[
                    ("x-max-length", int(2)),
                    ("x-overflow", s("reject-publish")),
                ]),
            },
        )),
    )
    .await?;
    c.rpc(1, select(false)).await?;
    for _ in 0..4 {
        c.publish(1, "", &q, false, BasicProperties::default(), b"m")
            .await?;
    }
    let (mut acked, mut nacked, _) = collect_confirms(&mut c, 4).await?;
    acked.sort();
    nacked.sort();
    ensure_eq!(acked, vec![1, 2], "acked tags");
    ensure_eq!(nacked, vec![3, 4], "nacked tags");
    Ok(())
}

async fn tx_select_after_confirm_406(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.rpc(1, select(false)).await?;
    c.send_method(1, AMQPClass::Tx(tx::AMQPMethod::Select(tx::Select {})))
        .await?;
    super::errors::expect_soft(
        &mut c,
        1,
        406,
        "PRECONDITION_FAILED - cannot switch from confirm to tx mode",
    )
    .await
}

async fn confirm_on_fanout_to_many_queues(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", lapin::ExchangeKind::Fanout).await?;
    let mut qs = Vec::new();
    for i in 0..5 {
        qs.push(ctx.bound_queue(&ch, &format!("q{i}"), &x, &[""]).await?);
    }
    confirm_select(&ch).await?;
    let conf = ch
        .basic_publish(
            x.as_str().into(),
            "".into(),
            BasicPublishOptions::default(),
            b"m",
            BasicProperties::default(),
        )
        .await
        .ctx("basic.publish")?
        .await
        .ctx("confirm")?;
    ensure!(conf.is_ack(), "expected ack, got {conf:?}");
    for q in &qs {
        ensure_eq!(message_count(&ch, q).await?, 1, "messages in {q}");
    }
    Ok(())
}

async fn publish_to_missing_exchange_closes_channel(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.rpc(1, select(false)).await?;
    c.publish(
        1,
        &ctx.name("missing"),
        "k",
        false,
        BasicProperties::default(),
        b"m",
    )
    .await?;
    super::errors::expect_soft(&mut c, 1, 404, "NOT_FOUND").await
}
