//! Optional queue arguments: message TTL, max-length and overflow,
//! dead-lettering and x-death, x-expires, priorities.

use lapin::options::*;
use lapin::ExchangeKind;

use crate::runner::{Case, CaseResult};
use crate::support::*;

/// The cases of this file.
pub fn cases() -> Vec<Case> {
    crate::cases!("queue";
        message_ttl_expires,
        max_length_drops_head,
        max_length_reject_publish,
        dead_letter_on_reject,
        dead_letter_x_death,
        dead_letter_routing_key_override,
        expires_deletes_unused_queue,
        priority_queue_orders_by_priority,
        max_length_bytes,
        dead_letter_reason_maxlen,
        dead_letter_reason_expired,
        reject_publish_dlx_dead_letters,
        lower_of_queue_and_message_ttl_wins,
        ttl_and_expires_at_most_ten_years,
        ten_year_ttl_keeps_the_message,
    )
}

async fn message_ttl_expires(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx
        .queue_with(
            &ch,
            "q",
            QueueDeclareOptions::default(),
            table(&[("x-message-ttl", int(100))]),
        )
        .await?;
    publish(&ch, "", &q, "m").await?;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    expect_bodies(&ch, &q, &[]).await
}

async fn max_length_drops_head(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx
        .queue_with(
            &ch,
            "q",
            QueueDeclareOptions::default(),
            table(&[("x-max-length", int(2))]),
        )
        .await?;
    for b in ["1", "2", "3", "4"] {
        publish(&ch, "", &q, b).await?;
    }
    expect_bodies(&ch, &q, &["3", "4"]).await
}

async fn max_length_reject_publish(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx
        .queue_with(
            &ch,
            "q",
            QueueDeclareOptions::default(),
            table(&[
                ("x-max-length", int(1)),
                ("x-overflow", s("reject-publish")),
            ]),
        )
        .await?;
    confirm_select(&ch).await?;
    let mut results = Vec::new();
    for b in ["1", "2"] {
        let c = ch
            .basic_publish(
                "".into(),
                q.as_str().into(),
                BasicPublishOptions::default(),
                b.as_bytes(),
                Default::default(),
            )
            .await
            .ctx("basic.publish")?
            .await
            .ctx("confirm")?;
        results.push(c.is_ack());
    }
    ensure_eq!(results, vec![true, false], "confirms (ack, nack)");
    expect_bodies(&ch, &q, &["1"]).await
}

async fn dlx_pair(
    ctx: &Ctx,
    ch: &lapin::Channel,
    extra: &[(&str, lapin::types::AMQPValue)],
) -> Result<(String, String), crate::Problem> {
    let dlx = ctx.exchange(ch, "dlx", ExchangeKind::Fanout).await?;
    let dlq = ctx.bound_queue(ch, "dlq", &dlx, &[""]).await?;
    let mut args = vec![("x-dead-letter-exchange", s(&dlx))];
    args.extend(extra.iter().cloned());
    let q = ctx
        .queue_with(ch, "q", QueueDeclareOptions::default(), table(&args))
        .await?;
    Ok((q, dlq))
}

async fn dead_letter_on_reject(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let (q, dlq) = dlx_pair(&ctx, &ch, &[]).await?;
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
    eventually("dead-lettered message arrives", WAIT, || async {
        Ok(message_count(&ch, &dlq).await? == 1)
    })
    .await?;
    expect_bodies(&ch, &dlq, &["m"]).await?;
    expect_bodies(&ch, &q, &[]).await
}

async fn dead_letter_x_death(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let (q, dlq) = dlx_pair(&ctx, &ch, &[]).await?;
    publish(&ch, "", &q, "m").await?;
    let Some(m) = get_manual(&ch, &q).await? else {
        fail!("no message")
    };
    ch.basic_nack(
        m.delivery.delivery_tag,
        BasicNackOptions {
            requeue: false,
            multiple: false,
        },
    )
    .await
    .ctx("basic.nack")?;
    eventually("dead-lettered message arrives", WAIT, || async {
        Ok(message_count(&ch, &dlq).await? == 1)
    })
    .await?;
    let Some(d) = get(&ch, &dlq).await? else {
        fail!("no dead-lettered message")
    };
    let h = d.delivery.properties.headers().clone().unwrap_or_default();
    let Some(lapin::types::AMQPValue::FieldArray(deaths)) = h.inner().get("x-death") else {
        fail!("x-death header missing or not an array: {h:?}")
    };
    let Some(lapin::types::AMQPValue::FieldTable(first)) = deaths.as_slice().first() else {
        fail!("x-death is empty or not an array of tables")
    };
    let f = first.inner();
    ensure_eq!(f.get("reason"), Some(&s("rejected")), "x-death reason");
    ensure_eq!(f.get("queue"), Some(&s(&q)), "x-death queue");
    ensure_eq!(f.get("count"), Some(&long(1)), "x-death count (a long)");
    ensure_eq!(f.get("exchange"), Some(&s("")), "x-death exchange");
    ensure_eq!(
        h.inner().get("x-first-death-reason"),
        Some(&s("rejected")),
        "x-first-death-reason"
    );
    ensure_eq!(
        h.inner().get("x-first-death-queue"),
        Some(&s(&q)),
        "x-first-death-queue"
    );
    Ok(())
}

async fn dead_letter_routing_key_override(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let dlx = ctx.exchange(&ch, "dlx", ExchangeKind::Direct).await?;
    let dlq = ctx.bound_queue(&ch, "dlq", &dlx, &["dead"]).await?;
    let q = ctx
        .queue_with(
            &ch,
            "q",
            QueueDeclareOptions::default(),
            table(&[
                ("x-dead-letter-exchange", s(&dlx)),
                ("x-dead-letter-routing-key", s("dead")),
                ("x-message-ttl", int(0)),
            ]),
        )
        .await?;
    publish(&ch, "", &q, "m").await?;
    eventually("expired message dead-lettered", WAIT, || async {
        Ok(message_count(&ch, &dlq).await? == 1)
    })
    .await?;
    let Some(d) = get(&ch, &dlq).await? else {
        fail!("no message")
    };
    ensure_eq!(
        d.delivery.routing_key.as_str(),
        "dead",
        "routing key after dead-lettering"
    );
    Ok(())
}

async fn expires_deletes_unused_queue(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx
        .queue_with(
            &ch,
            "q",
            QueueDeclareOptions::default(),
            table(&[("x-expires", int(200))]),
        )
        .await?;
    // Don't poll: a passive declare counts as use and restarts the timer.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    ensure!(
        !ctx.queue_exists(&q).await?,
        "queue with x-expires=200 still exists after 1.5 s"
    );
    Ok(())
}

async fn priority_queue_orders_by_priority(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx
        .queue_with(
            &ch,
            "q",
            QueueDeclareOptions::default(),
            table(&[("x-max-priority", int(10))]),
        )
        .await?;
    for (b, p) in [
        ("low", 1u8),
        ("high", 10),
        ("none", 0),
        ("mid", 5),
        ("over", 200),
    ] {
        let props = lapin::BasicProperties::default().with_priority(p);
        publish_props(&ch, "", &q, b.as_bytes(), props).await?;
    }
    // Priorities above the max count as the max.
    expect_bodies(&ch, &q, &["high", "over", "mid", "low", "none"]).await
}

async fn max_length_bytes(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx
        .queue_with(
            &ch,
            "q",
            QueueDeclareOptions::default(),
            table(&[("x-max-length-bytes", int(10))]),
        )
        .await?;
    for b in ["aaaa", "bbbb", "cccc"] {
        publish(&ch, "", &q, b).await?;
    }
    // 12 bytes > 10: the oldest is dropped.
    expect_bodies(&ch, &q, &["bbbb", "cccc"]).await
}

async fn first_death(
    ch: &lapin::Channel,
    dlq: &str,
) -> Result<lapin::types::FieldTable, crate::Problem> {
    wait_count(ch, dlq, 1).await?;
    let Some(d) = get(ch, dlq).await? else {
        fail!("no dead-lettered message")
    };
    let h = d.delivery.properties.headers().clone().unwrap_or_default();
    match h.inner().get("x-death") {
        Some(lapin::types::AMQPValue::FieldArray(a)) => match a.as_slice().first() {
            Some(lapin::types::AMQPValue::FieldTable(t)) => Ok(t.clone()),
            _ => fail!("x-death is not an array of tables: {a:?}"),
        },
        other => fail!("x-death header missing: {other:?}"),
    }
}

async fn dead_letter_reason_maxlen(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let (q, dlq) = dlx_pair(&ctx, &ch, &[("x-max-length", int(1))]).await?;
    publish(&ch, "", &q, "old").await?;
    publish(&ch, "", &q, "new").await?;
    let death = first_death(&ch, &dlq).await?;
    ensure_eq!(
        death.inner().get("reason"),
        Some(&s("maxlen")),
        "x-death reason"
    );
    expect_bodies(&ch, &q, &["new"]).await
}

async fn dead_letter_reason_expired(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let (q, dlq) = dlx_pair(&ctx, &ch, &[]).await?;
    let props = lapin::BasicProperties::default().with_expiration("10".into());
    publish_props(&ch, "", &q, b"m", props).await?;
    let death = first_death(&ch, &dlq).await?;
    ensure_eq!(
        death.inner().get("reason"),
        Some(&s("expired")),
        "x-death reason"
    );
    ensure_eq!(
        death.inner().get("original-expiration"),
        Some(&s("10")),
        "x-death original-expiration"
    );
    Ok(())
}

async fn reject_publish_dlx_dead_letters(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let (q, dlq) = dlx_pair(
        &ctx,
        &ch,
        &[
            ("x-max-length", int(1)),
            ("x-overflow", s("reject-publish-dlx")),
        ],
    )
    .await?;
    publish(&ch, "", &q, "kept").await?;
    publish(&ch, "", &q, "rejected").await?;
    let death = first_death(&ch, &dlq).await?;
    ensure_eq!(
        death.inner().get("reason"),
        Some(&s("maxlen")),
        "x-death reason"
    );
    expect_bodies(&ch, &q, &["kept"]).await
}

async fn lower_of_queue_and_message_ttl_wins(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx
        .queue_with(
            &ch,
            "q",
            QueueDeclareOptions::default(),
            table(&[("x-message-ttl", int(60_000))]),
        )
        .await?;
    let short = lapin::BasicProperties::default().with_expiration("20".into());
    publish_props(&ch, "", &q, b"short", short).await?;
    let long = lapin::BasicProperties::default().with_expiration("600000".into());
    publish_props(&ch, "", &q, b"long", long).await?;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    expect_bodies(&ch, &q, &["long"]).await
}

/// RabbitMQ 3.10 accepts TTLs and expiries up to ten years in ms and refuses larger ones
/// with `value_too_large` (a huge TTL must never wrap around and expire a message at once).
async fn ttl_and_expires_at_most_ten_years(ctx: Ctx) -> CaseResult {
    const TEN_YEARS: i64 = 315_360_000_000;
    for key in ["x-message-ttl", "x-expires"] {
        let ch = ctx.channel().await?;
        ctx.queue_with(
            &ch,
            key,
            QueueDeclareOptions::default(),
            table(&[(key, long(TEN_YEARS))]),
        )
        .await?;
        for bad in [TEN_YEARS + 1, 1 << 61] {
            let ch = ctx.channel().await?;
            let q = ctx.name("too-large");
            let res = ch
                .queue_declare(
                    q.as_str().into(),
                    QueueDeclareOptions::default(),
                    table(&[(key, long(bad))]),
                )
                .await;
            expect_code_text(
                res,
                406,
                &format!("PRECONDITION_FAILED - invalid arg '{key}' for queue '{q}' in vhost '{}': {{value_too_large,{bad}}}", ctx.vhost()),
                &format!("{key} = {bad}"),
            )?;
        }
    }
    Ok(())
}

async fn ten_year_ttl_keeps_the_message(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx
        .queue_with(
            &ch,
            "q",
            QueueDeclareOptions::default(),
            table(&[("x-message-ttl", long(315_360_000_000))]),
        )
        .await?;
    confirm_select(&ch).await?;
    publish(&ch, "", &q, "kept").await?;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    expect_bodies(&ch, &q, &["kept"]).await
}
