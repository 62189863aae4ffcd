//! Internal and auto-delete exchanges.

use lapin::options::*;
use lapin::types::FieldTable;
use lapin::ExchangeKind;

use crate::runner::{Case, CaseResult};
use crate::support::*;

/// The cases of this file.
pub fn cases() -> Vec<Case> {
    crate::cases!("exchange";
        publish_to_internal_403,
        internal_reachable_through_e2e,
        auto_delete_survives_until_bound,
        auto_delete_deleted_after_last_queue_unbound,
        auto_delete_deleted_after_last_e2e_unbound,
        auto_delete_as_destination_not_deleted,
    )
}

async fn publish_to_internal_403(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let x = ctx.name("internal");
    ctx.track_exchange(&x);
    use lapin::protocol::{exchange, AMQPClass};
    c.rpc(
        1,
        AMQPClass::Exchange(exchange::AMQPMethod::Declare(exchange::Declare {
            exchange: x.as_str().into(),
            kind: "fanout".into(),
            passive: false,
            durable: false,
            auto_delete: false,
            internal: true,
            nowait: false,
            arguments: FieldTable::default(),
        })),
    )
    .await?;
    c.publish(1, &x, "", false, Default::default(), b"m")
        .await?;
    let close = c.expect_channel_close(1).await?;
    ensure_eq!(
        close.reply_code,
        403,
        "reply code for publishing to an internal exchange"
    );
    ensure!(
        close.reply_text.as_str().starts_with("ACCESS_REFUSED"),
        "reply text: {}",
        close.reply_text
    );
    c.check_alive(2).await?;
    Ok(())
}

async fn internal_reachable_through_e2e(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let front = ctx.exchange(&ch, "front", ExchangeKind::Fanout).await?;
    let opts = ExchangeDeclareOptions {
        internal: true,
        ..Default::default()
    };
    let inner = ctx
        .exchange_with(
            &ch,
            "inner",
            ExchangeKind::Fanout,
            opts,
            FieldTable::default(),
        )
        .await?;
    bind_exchange(&ch, &inner, &front, "").await?;
    let q = ctx.bound_queue(&ch, "q", &inner, &[""]).await?;
    publish(&ch, &front, "", "m").await?;
    expect_bodies(&ch, &q, &["m"]).await
}

fn auto_delete() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions {
        auto_delete: true,
        ..Default::default()
    }
}

async fn auto_delete_survives_until_bound(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx
        .exchange_with(
            &ch,
            "x",
            ExchangeKind::Fanout,
            auto_delete(),
            FieldTable::default(),
        )
        .await?;
    ensure!(
        ctx.exchange_exists(&x).await?,
        "auto-delete exchange without bindings vanished"
    );
    Ok(())
}

async fn auto_delete_deleted_after_last_queue_unbound(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx
        .exchange_with(
            &ch,
            "x",
            ExchangeKind::Direct,
            auto_delete(),
            FieldTable::default(),
        )
        .await?;
    let q = ctx.bound_queue(&ch, "q", &x, &["a", "b"]).await?;
    ch.queue_unbind(
        q.as_str().into(),
        x.as_str().into(),
        "a".into(),
        FieldTable::default(),
    )
    .await
    .ctx("queue.unbind a")?;
    ensure!(
        ctx.exchange_exists(&x).await?,
        "deleted while a binding remained"
    );
    ch.queue_unbind(
        q.as_str().into(),
        x.as_str().into(),
        "b".into(),
        FieldTable::default(),
    )
    .await
    .ctx("queue.unbind b")?;
    ensure!(
        !ctx.exchange_exists(&x).await?,
        "auto-delete exchange survived its last unbind"
    );
    Ok(())
}

async fn auto_delete_deleted_after_last_e2e_unbound(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let src = ctx
        .exchange_with(
            &ch,
            "src",
            ExchangeKind::Fanout,
            auto_delete(),
            FieldTable::default(),
        )
        .await?;
    let dst = ctx.exchange(&ch, "dst", ExchangeKind::Fanout).await?;
    bind_exchange(&ch, &dst, &src, "").await?;
    ch.exchange_unbind(
        dst.as_str().into(),
        src.as_str().into(),
        "".into(),
        ExchangeUnbindOptions::default(),
        FieldTable::default(),
    )
    .await
    .ctx("exchange.unbind")?;
    ensure!(
        !ctx.exchange_exists(&src).await?,
        "auto-delete source survived its last unbind"
    );
    ensure!(ctx.exchange_exists(&dst).await?, "destination was deleted");
    Ok(())
}

async fn auto_delete_as_destination_not_deleted(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let src = ctx.exchange(&ch, "src", ExchangeKind::Fanout).await?;
    let dst = ctx
        .exchange_with(
            &ch,
            "dst",
            ExchangeKind::Fanout,
            auto_delete(),
            FieldTable::default(),
        )
        .await?;
    bind_exchange(&ch, &dst, &src, "").await?;
    ch.exchange_unbind(
        dst.as_str().into(),
        src.as_str().into(),
        "".into(),
        ExchangeUnbindOptions::default(),
        FieldTable::default(),
    )
    .await
    .ctx("exchange.unbind")?;
    ensure!(
        ctx.exchange_exists(&dst).await?,
        "auto-delete exchange was deleted when a binding where it is the destination went"
    );
    Ok(())
}
