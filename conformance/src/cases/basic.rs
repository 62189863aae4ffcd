//! basic.publish / get / consume / cancel / return: properties, tags,
//! ordering, mandatory, user-id and expiration validation.

use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, ExchangeKind};

use crate::runner::{Case, CaseResult};
use crate::support::*;

/// The cases of this group (see also `basic_flow`).
pub fn cases() -> Vec<Case> {
    crate::cases!("basic";
        publish_get_roundtrip,
        get_empty,
        get_reports_remaining_count,
        get_no_ack_removes,
        get_fields,
        properties_roundtrip,
        consume_fifo,
        consume_server_generated_tag,
        consume_client_tag_echoed,
        consume_missing_queue_404,
        consume_no_ack,
        cancel_stops_delivery,
        cancel_unknown_tag_ok,
        cancel_keeps_unacked_ackable,
        exclusive_consumer_blocks_others_403,
        exclusive_consume_needs_no_other_consumers_403,
        mandatory_unroutable_returned,
        mandatory_routable_not_returned,
        unroutable_without_mandatory_dropped,
        publish_missing_exchange_404,
        user_id_must_match,
        user_id_matching_ok,
        per_message_expiration,
        invalid_expiration_406,
        expiration_too_large_406,
        delivery_tags_per_channel,
        redelivered_false_first_time,
        consumer_priority_wins,
        consume_nowait,
    )
}

async fn publish_get_roundtrip(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "hello").await?;
    expect_bodies(&ch, &q, &["hello"]).await
}

async fn get_empty(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    ensure!(
        get(&ch, &q).await?.is_none(),
        "basic.get on an empty queue returned a message"
    );
    Ok(())
}

async fn get_reports_remaining_count(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    for i in 0..3 {
        publish(&ch, "", &q, &i.to_string()).await?;
    }
    let mut counts = Vec::new();
    while let Some(m) = get(&ch, &q).await? {
        counts.push(m.message_count);
    }
    ensure_eq!(counts, vec![2, 1, 0], "get-ok message-count sequence");
    Ok(())
}

async fn get_no_ack_removes(ctx: Ctx) -> CaseResult {
    let (conn, ch) = ctx.conn_channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "m").await?;
    ensure!(get(&ch, &q).await?.is_some(), "no message");
    ch.close(200, "bye".into()).await.ctx("channel.close")?;
    let ch2 = conn.create_channel().await.ctx("channel.open")?;
    expect_bodies(&ch2, &q, &[]).await
}

async fn get_fields(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Topic).await?;
    let q = ctx.bound_queue(&ch, "q", &x, &["a.*"]).await?;
    publish(&ch, &x, "a.b", "m").await?;
    let Some(m) = get_manual(&ch, &q).await? else {
        fail!("no message")
    };
    ensure_eq!(m.delivery.exchange.as_str(), x.as_str(), "get-ok exchange");
    ensure_eq!(m.delivery.routing_key.as_str(), "a.b", "get-ok routing-key");
    ensure!(!m.delivery.redelivered, "first get is not redelivered");
    ensure_eq!(
        m.delivery.delivery_tag,
        1,
        "first delivery tag on a channel"
    );
    Ok(())
}

async fn properties_roundtrip(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let headers = table(&[
        ("k", s("v")),
        ("n", int(-5)),
        ("t", AMQPValue::Boolean(true)),
    ]);
    let props = BasicProperties::default()
        .with_content_type("text/plain".into())
        .with_content_encoding("utf-8".into())
        .with_headers(headers)
        .with_delivery_mode(2)
        .with_priority(3)
        .with_correlation_id("corr".into())
        .with_reply_to("replies".into())
        .with_expiration("60000".into())
        .with_message_id("mid".into())
        .with_timestamp(1_700_000_000)
        .with_type("kind".into())
        .with_user_id("guest".into())
        .with_app_id("app".into())
        .with_cluster_id("cluster".into());
    publish_props(&ch, "", &q, b"body", props.clone()).await?;
    let Some(m) = get(&ch, &q).await? else {
        fail!("no message")
    };
    ensure_eq!(m.delivery.properties, props, "properties");
    Ok(())
}

async fn consume_fifo(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let expected: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    for b in &expected {
        publish(&ch, "", &q, b).await?;
    }
    let mut c = consume(&ch, &q, true).await?;
    let got = bodies(&next_n(&mut c, 50).await?);
    ensure_eq!(got, expected, "consume order");
    Ok(())
}

async fn consume_server_generated_tag(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let c = consume(&ch, &q, false).await?;
    ensure!(
        c.tag().as_str().starts_with("amq.ctag-"),
        "generated consumer tag '{}'",
        c.tag()
    );
    Ok(())
}

async fn consume_client_tag_echoed(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let mut c = ch
        .basic_consume(
            q.as_str().into(),
            "my-tag".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .ctx("basic.consume")?;
    ensure_eq!(c.tag().as_str(), "my-tag", "consume-ok tag");
    publish(&ch, "", &q, "m").await?;
    let d = next(&mut c).await?;
    ensure_eq!(text(&d.data), "m", "body");
    Ok(())
}

async fn consume_missing_queue_404(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let res = ch
        .basic_consume(
            ctx.name("missing").as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await;
    expect_code(res.map(|_| ()), 404, "basic.consume of a missing queue")
}

async fn consume_no_ack(ctx: Ctx) -> CaseResult {
    let (conn, ch) = ctx.conn_channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let mut c = consume(&ch, &q, true).await?;
    publish(&ch, "", &q, "m").await?;
    next(&mut c).await?;
    ch.close(200, "bye".into()).await.ctx("channel.close")?;
    let ch2 = conn.create_channel().await.ctx("channel.open")?;
    expect_bodies(&ch2, &q, &[]).await
}

async fn cancel_stops_delivery(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let c = consume(&ch, &q, true).await?;
    ch.basic_cancel(c.tag(), BasicCancelOptions::default())
        .await
        .ctx("basic.cancel")?;
    publish(&ch, "", &q, "m").await?;
    expect_bodies(&ch, &q, &["m"]).await
}

async fn cancel_unknown_tag_ok(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    ch.basic_cancel("no-such-consumer".into(), BasicCancelOptions::default())
        .await
        .ctx("basic.cancel of an unknown tag")?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "m").await?;
    expect_bodies(&ch, &q, &["m"]).await
}

async fn cancel_keeps_unacked_ackable(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "m").await?;
    let mut c = consume(&ch, &q, false).await?;
    let d = next(&mut c).await?;
    ch.basic_cancel(c.tag(), BasicCancelOptions::default())
        .await
        .ctx("basic.cancel")?;
    ch.basic_ack(d.delivery_tag, BasicAckOptions::default())
        .await
        .ctx("basic.ack after cancel")?;
    ensure_eq!(message_count(&ch, &q).await?, 0, "messages ready after ack");
    Ok(())
}

async fn exclusive_consumer_blocks_others_403(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let _c = ch
        .basic_consume(
            q.as_str().into(),
            "".into(),
            BasicConsumeOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .ctx("exclusive basic.consume")?;
    let ch2 = ctx.channel().await?;
    let res = ch2
        .basic_consume(
            q.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await;
    expect_code_text(
        res.map(|_| ()),
        403,
        "ACCESS_REFUSED",
        "second consumer on a queue with an exclusive consumer",
    )
}

async fn exclusive_consume_needs_no_other_consumers_403(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let _c = consume(&ch, &q, false).await?;
    let ch2 = ctx.channel().await?;
    let res = ch2
        .basic_consume(
            q.as_str().into(),
            "".into(),
            BasicConsumeOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await;
    expect_code_text(
        res.map(|_| ()),
        403,
        "ACCESS_REFUSED",
        "exclusive consume on a queue with consumers",
    )
}

async fn mandatory_unroutable_returned(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let key = ctx.name("nowhere");
    c.publish(
        1,
        "amq.direct",
        &key,
        true,
        BasicProperties::default().with_message_id("id1".into()),
        b"back",
    )
    .await?;
    let m = c.recv_message(1).await?;
    match &m.method {
        lapin::protocol::AMQPClass::Basic(lapin::protocol::basic::AMQPMethod::Return(r)) => {
            ensure_eq!(
                (r.reply_code, r.reply_text.as_str()),
                (312, "NO_ROUTE"),
                "basic.return code/text"
            );
            ensure_eq!(r.exchange.as_str(), "amq.direct", "basic.return exchange");
            ensure_eq!(
                r.routing_key.as_str(),
                key.as_str(),
                "basic.return routing key"
            );
        }
        other => fail!(
            "expected basic.return, got {}",
            crate::raw::describe_method(other)
        ),
    }
    ensure_eq!(m.body, b"back".to_vec(), "returned body");
    ensure_eq!(
        m.properties.message_id().clone(),
        Some("id1".into()),
        "returned properties"
    );
    Ok(())
}

async fn mandatory_routable_not_returned(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish_mandatory(&ch, "", &q, "m").await?;
    expect_bodies(&ch, &q, &["m"]).await?;
    let returned = ch.wait_for_confirms().await.ctx("collect returns")?;
    ensure!(
        returned.is_empty(),
        "a routable mandatory message was returned"
    );
    Ok(())
}

async fn unroutable_without_mandatory_dropped(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    publish(&ch, "amq.direct", &ctx.name("nowhere"), "m").await?;
    let q = ctx.queue(&ch, "q").await?;
    expect_bodies(&ch, &q, &[]).await?;
    let returned = ch.wait_for_confirms().await.ctx("collect returns")?;
    ensure!(returned.is_empty(), "a non-mandatory message was returned");
    Ok(())
}

async fn publish_missing_exchange_404(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let x = ctx.name("missing");
    c.publish(1, &x, "k", false, BasicProperties::default(), b"m")
        .await?;
    super::errors::expect_soft(
        &mut c,
        1,
        404,
        &format!("NOT_FOUND - no exchange '{x}' in vhost"),
    )
    .await
}

async fn user_id_must_match(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    raw_declare_queue(&mut c, 1, &q, false).await?;
    c.publish(
        1,
        "",
        &q,
        false,
        BasicProperties::default().with_user_id("not-me".into()),
        b"m",
    )
    .await?;
    super::errors::expect_soft(
        &mut c,
        1,
        406,
        "PRECONDITION_FAILED - user_id property set to 'not-me' but authenticated user was",
    )
    .await
}

async fn user_id_matching_ok(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let user = crate::raw::Handshake::from_url(ctx.url())?.user;
    publish_props(
        &ch,
        "",
        &q,
        b"m",
        BasicProperties::default().with_user_id(user.as_str().into()),
    )
    .await?;
    let Some(m) = get(&ch, &q).await? else {
        fail!("no message")
    };
    ensure_eq!(
        m.delivery.properties.user_id().clone(),
        Some(user.as_str().into()),
        "user-id"
    );
    Ok(())
}

async fn per_message_expiration(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish_props(
        &ch,
        "",
        &q,
        b"short",
        BasicProperties::default().with_expiration("50".into()),
    )
    .await?;
    publish_props(
        &ch,
        "",
        &q,
        b"long",
        BasicProperties::default().with_expiration("600000".into()),
    )
    .await?;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    expect_bodies(&ch, &q, &["long"]).await
}

/// Expirations above ten years are refused, worded as RabbitMQ's `~p` prints the term
/// (it breaks the line once the text passes 78 columns).
async fn expiration_too_large_406(ctx: Ctx) -> CaseResult {
    for (value, term) in [
        ("315360000001", "{value_too_large,315360000001}".to_owned()),
        (
            "9999999999999999999",
            format!(
                "{{value_too_large,\n{}9999999999999999999}}",
                " ".repeat(43)
            ),
        ),
    ] {
        let mut c = ctx.raw_ch1().await?;
        let q = ctx.name("q");
        ctx.track_queue(&q);
        raw_declare_queue(&mut c, 1, &q, false).await?;
        let props = BasicProperties::default().with_expiration(value.into());
        c.publish(1, "", &q, false, props, b"m").await?;
        let text = format!("PRECONDITION_FAILED - invalid expiration '{value}': {term}");
        super::errors::expect_soft(&mut c, 1, 406, &text).await?;
    }
    Ok(())
}

async fn invalid_expiration_406(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    raw_declare_queue(&mut c, 1, &q, false).await?;
    c.publish(
        1,
        "",
        &q,
        false,
        BasicProperties::default().with_expiration("soon".into()),
        b"m",
    )
    .await?;
    super::errors::expect_soft(&mut c, 1, 406, "PRECONDITION_FAILED - invalid expiration").await
}

async fn delivery_tags_per_channel(ctx: Ctx) -> CaseResult {
    let conn = ctx.connect().await?;
    let ch1 = conn.create_channel().await.ctx("channel.open")?;
    let ch2 = conn.create_channel().await.ctx("channel.open")?;
    let q = ctx.queue(&ch1, "q").await?;
    for i in 0..4 {
        publish(&ch1, "", &q, &i.to_string()).await?;
    }
    let mut tags = Vec::new();
    for ch in [&ch1, &ch1, &ch2, &ch2] {
        let Some(m) = get_manual(ch, &q).await? else {
            fail!("no message")
        };
        tags.push(m.delivery.delivery_tag);
    }
    ensure_eq!(
        tags,
        vec![1, 2, 1, 2],
        "delivery tags (per channel, from 1)"
    );
    Ok(())
}

async fn redelivered_false_first_time(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "m").await?;
    let mut c = consume(&ch, &q, false).await?;
    let d = next(&mut c).await?;
    ensure!(!d.redelivered, "first delivery flagged redelivered");
    Ok(())
}

async fn consumer_priority_wins(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let chl = ctx.channel().await?;
    let chh = ctx.channel().await?;
    let mut low = chl
        .basic_consume(
            q.as_str().into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            table(&[("x-priority", int(1))]),
        )
        .await
        .ctx("basic.consume low")?;
    let mut high = chh
        .basic_consume(
            q.as_str().into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            table(&[("x-priority", int(10))]),
        )
        .await
        .ctx("basic.consume high")?;
    for i in 0..5 {
        publish(&ch, "", &q, &i.to_string()).await?;
    }
    let got = bodies(&next_n(&mut high, 5).await?);
    ensure_eq!(
        got,
        vec!["0", "1", "2", "3", "4"],
        "deliveries to the high-priority consumer"
    );
    expect_no_delivery(&mut low).await
}

async fn consume_nowait(ctx: Ctx) -> CaseResult {
    use lapin::protocol::{basic, AMQPClass};
    let mut c = ctx.raw_ch1().await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    raw_declare_queue(&mut c, 1, &q, false).await?;
    c.send_method(
        1,
        AMQPClass::Basic(basic::AMQPMethod::Consume(basic::Consume {
            queue: q.as_str().into(),
            consumer_tag: "nowait-tag".into(),
            no_local: false,
            no_ack: true,
            exclusive: false,
            nowait: true,
            arguments: FieldTable::default(),
        })),
    )
    .await?;
    c.publish(1, "", &q, false, BasicProperties::default(), b"m")
        .await?;
    let m = c.recv_message(1).await?;
    match &m.method {
        AMQPClass::Basic(basic::AMQPMethod::Deliver(d)) => {
            ensure_eq!(d.consumer_tag.as_str(), "nowait-tag", "consumer tag");
        }
        other => fail!(
            "expected basic.deliver (no consume-ok), got {}",
            crate::raw::describe_method(other)
        ),
    }
    Ok(())
}
