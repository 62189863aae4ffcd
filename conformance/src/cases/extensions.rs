//! RabbitMQ extensions and deprecated methods: access.request,
//! basic.recover-async, direct reply-to, consumer cancel notification,
//! single active consumer, update-secret, queue arguments, management view.

use std::time::Duration;

use lapin::options::*;
use lapin::protocol::{access, basic, queue, AMQPClass};
use lapin::types::FieldTable;
use lapin::BasicProperties;

use crate::raw::RawConn;
use crate::runner::{Case, CaseResult};
use crate::support::*;

/// The cases of this group.
pub fn cases() -> Vec<Case> {
    crate::cases!("extensions";
        access_request_is_a_noop,
        recover_async_requeues,
        direct_reply_to_roundtrip,
        direct_reply_to_needs_no_ack,
        direct_reply_to_without_consumer_406,
        cancel_notify_on_queue_delete,
        no_cancel_notify_without_capability,
        cancel_after_server_cancel_ok,
        single_active_consumer,
        update_secret,
        lazy_queue_mode_accepted,
        invalid_queue_type_406,
        queue_arguments_in_management,
        exchange_visible_in_management,
    )
}

async fn access_request_is_a_noop(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let reply = c
        .rpc(
            1,
            AMQPClass::Access(access::AMQPMethod::Request(access::Request {
                realm: "/data".into(),
                exclusive: false,
                passive: true,
                active: true,
                write: true,
                read: true,
            })),
        )
        .await?;
    match reply {
        AMQPClass::Access(access::AMQPMethod::RequestOk(_)) => {}
        other => fail!(
            "expected access.request-ok, got {}",
            crate::raw::describe_method(&other)
        ),
    }
    c.check_alive(2).await?;
    Ok(())
}

async fn recover_async_requeues(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "m").await?;
    let mut c = ctx.raw_ch1().await?;
    c.send_method(
        1,
        AMQPClass::Basic(basic::AMQPMethod::Get(basic::Get {
            queue: q.as_str().into(),
            no_ack: false,
        })),
    )
    .await?;
    c.recv_message(1).await?;
    c.send_method(
        1,
        AMQPClass::Basic(basic::AMQPMethod::RecoverAsync(basic::RecoverAsync {
            requeue: true,
        })),
    )
    .await?;
    // No reply is sent; the message goes back to the queue.
    eventually("message requeued by recover-async", WAIT, || async {
        Ok(message_count(&ch, &q).await? == 1)
    })
    .await?;
    let Some(m) = get(&ch, &q).await? else {
        fail!("message lost")
    };
    ensure!(
        m.delivery.redelivered,
        "recovered message not flagged redelivered"
    );
    match c.recv_frame_timeout(QUIET).await {
        Err(_) => Ok(()),
        Ok(Some(f)) => fail!("unexpected {} after basic.recover-async", f.describe()),
        Ok(None) => fail!("connection closed after basic.recover-async"),
    }
}

const REPLY_TO: &str = "amq.rabbitmq.reply-to";

async fn direct_reply_to_roundtrip(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let server_q = ctx.queue(&ch, "rpc").await?;
    let mut replies = consume(&ch, REPLY_TO, true).await?;
    publish_props(
        &ch,
        "",
        &server_q,
        b"ping",
        BasicProperties::default()
            .with_reply_to(REPLY_TO.into())
            .with_correlation_id("c1".into()),
    )
    .await?;
    // The "server" side.
    let srv = ctx.channel().await?;
    let Some(req) = get(&srv, &server_q).await? else {
        fail!("request not delivered")
    };
    let reply_to = req
        .delivery
        .properties
        .reply_to()
        .clone()
        .map(|s| s.to_string())
        .unwrap_or_default();
    ensure!(
        reply_to.starts_with("amq.rabbitmq.reply-to."),
        "reply-to was not rewritten: '{reply_to}'"
    );
    publish_props(
        &srv,
        "",
        &reply_to,
        b"pong",
        BasicProperties::default().with_correlation_id("c1".into()),
    )
    .await?;
    let d = next(&mut replies).await?;
    ensure_eq!(text(&d.data), "pong", "reply body");
    ensure_eq!(
        d.properties.correlation_id().clone(),
        Some("c1".into()),
        "correlation id"
    );
    Ok(())
}

async fn direct_reply_to_needs_no_ack(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let res = ch
        .basic_consume(
            REPLY_TO.into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: false,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await;
    expect_code_text(
        res.map(|_| ()),
        406,
        "PRECONDITION_FAILED - reply consumer cannot acknowledge",
        "consume amq.rabbitmq.reply-to without no-ack",
    )
}

async fn direct_reply_to_without_consumer_406(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    raw_declare_queue(&mut c, 1, &q, false).await?;
    c.publish(
        1,
        "",
        &q,
        false,
        BasicProperties::default().with_reply_to(REPLY_TO.into()),
        b"m",
    )
    .await?;
    super::errors::expect_soft(
        &mut c,
        1,
        406,
        "PRECONDITION_FAILED - fast reply consumer does not exist",
    )
    .await
}

async fn raw_consume(c: &mut RawConn, q: &str, tag: &str) -> CaseResult {
    c.rpc(
        1,
        AMQPClass::Basic(basic::AMQPMethod::Consume(basic::Consume {
            queue: q.into(),
            consumer_tag: tag.into(),
            no_local: false,
            no_ack: true,
            exclusive: false,
            nowait: false,
            arguments: FieldTable::default(),
        })),
    )
    .await?;
    Ok(())
}

async fn cancel_notify_on_queue_delete(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    raw_declare_queue(&mut c, 1, &q, false).await?;
    raw_consume(&mut c, &q, "watcher").await?;
    let ch = ctx.channel().await?;
    ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await
        .ctx("queue.delete")?;
    let (chn, m) = c.recv_method().await?;
    match m {
        AMQPClass::Basic(basic::AMQPMethod::Cancel(cn)) => {
            ensure_eq!(
                (chn, cn.consumer_tag.as_str()),
                (1, "watcher"),
                "basic.cancel channel/tag"
            );
            Ok(())
        }
        other => fail!(
            "expected basic.cancel, got {}",
            crate::raw::describe_method(&other)
        ),
    }
}

async fn no_cancel_notify_without_capability(ctx: Ctx) -> CaseResult {
    let mut c = RawConn::open_with(ctx.url(), |h| h.capabilities = false).await?;
    c.open_channel(1).await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    raw_declare_queue(&mut c, 1, &q, false).await?;
    raw_consume(&mut c, &q, "watcher").await?;
    let ch = ctx.channel().await?;
    ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await
        .ctx("queue.delete")?;
    match c.recv_frame_timeout(Duration::from_millis(500)).await {
        Err(_) => Ok(()),
        Ok(Some(f)) => fail!("client without consumer_cancel_notify got {}", f.describe()),
        Ok(None) => fail!("connection closed"),
    }
}

async fn cancel_after_server_cancel_ok(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    raw_declare_queue(&mut c, 1, &q, false).await?;
    raw_consume(&mut c, &q, "watcher").await?;
    let ch = ctx.channel().await?;
    ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await
        .ctx("queue.delete")?;
    c.expect_method(1, 60, 30).await?;
    c.rpc(
        1,
        AMQPClass::Basic(basic::AMQPMethod::Cancel(basic::Cancel {
            consumer_tag: "watcher".into(),
            nowait: false,
        })),
    )
    .await?;
    Ok(())
}

async fn single_active_consumer(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx
        .queue_with(
            &ch,
            "sac",
            QueueDeclareOptions::default(),
            table(&[(
                "x-single-active-consumer",
                lapin::types::AMQPValue::Boolean(true),
            )]),
        )
        .await?;
    let ch1 = ctx.channel().await?;
    let ch2 = ctx.channel().await?;
    let mut c1 = consume(&ch1, &q, true).await?;
    let mut c2 = consume(&ch2, &q, true).await?;
    for i in 0..4 {
        publish(&ch, "", &q, &i.to_string()).await?;
    }
    ensure_eq!(
        bodies(&next_n(&mut c1, 4).await?),
        vec!["0", "1", "2", "3"],
        "active consumer"
    );
    expect_no_delivery(&mut c2).await?;
    ch1.basic_cancel(c1.tag(), BasicCancelOptions::default())
        .await
        .ctx("basic.cancel")?;
    publish(&ch, "", &q, "after").await?;
    let d = next(&mut c2).await?;
    ensure_eq!(text(&d.data), "after", "delivery to the next consumer");
    Ok(())
}

async fn update_secret(ctx: Ctx) -> CaseResult {
    let conn = ctx.connect().await?;
    let password = crate::raw::Handshake::from_url(ctx.url())?.password;
    conn.update_secret(password.as_str().into(), "rotation".into())
        .await
        .ctx("connection.update-secret")?;
    let ch = conn
        .create_channel()
        .await
        .ctx("channel.open after update-secret")?;
    ctx.queue(&ch, "q").await.map(|_| ())
}

async fn lazy_queue_mode_accepted(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx
        .queue_with(
            &ch,
            "q",
            QueueDeclareOptions::default(),
            table(&[("x-queue-mode", s("lazy"))]),
        )
        .await?;
    publish(&ch, "", &q, "m").await?;
    expect_bodies(&ch, &q, &["m"]).await
}

async fn invalid_queue_type_406(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    c.send_method(
        1,
        AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
            queue: q.as_str().into(),
            passive: false,
            durable: true,
            exclusive: false,
            auto_delete: false,
            nowait: false,
            arguments: table(&[("x-queue-type", s("no-such-type"))]),
        })),
    )
    .await?;
    super::errors::expect_soft(&mut c, 1, 406, "PRECONDITION_FAILED").await
}

async fn queue_arguments_in_management(ctx: Ctx) -> CaseResult {
    let mgmt = ctx.mgmt()?;
    let ch = ctx.channel().await?;
    let q = ctx
        .queue_with(
            &ch,
            "q",
            QueueDeclareOptions::default(),
            table(&[("x-max-length", int(7))]),
        )
        .await?;
    let path = format!(
        "/api/queues/{}/{}",
        crate::mgmt::encode_segment(&ctx.vhost()),
        crate::mgmt::encode_segment(&q)
    );
    let v = mgmt.get_json(&path).await.map_err(crate::Problem::Fail)?;
    ensure_eq!(v["name"].as_str(), Some(q.as_str()), "name");
    ensure_eq!(
        v["arguments"]["x-max-length"].as_i64(),
        Some(7),
        "arguments.x-max-length"
    );
    ensure_eq!(v["durable"].as_bool(), Some(false), "durable");
    Ok(())
}

async fn exchange_visible_in_management(ctx: Ctx) -> CaseResult {
    let mgmt = ctx.mgmt()?;
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", lapin::ExchangeKind::Topic).await?;
    let path = format!(
        "/api/exchanges/{}/{}",
        crate::mgmt::encode_segment(&ctx.vhost()),
        crate::mgmt::encode_segment(&x)
    );
    let v = mgmt.get_json(&path).await.map_err(crate::Problem::Fail)?;
    ensure_eq!(v["type"].as_str(), Some("topic"), "type");
    ensure_eq!(v["auto_delete"].as_bool(), Some(false), "auto_delete");
    Ok(())
}
