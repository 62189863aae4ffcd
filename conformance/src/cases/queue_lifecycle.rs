//! Queue lifecycles: exclusive queues (405 from other connections, deleted
//! with their connection) and auto-delete queues.

use lapin::options::*;
use lapin::types::FieldTable;

use crate::runner::{Case, CaseResult};
use crate::support::*;

/// The cases of this file.
pub fn cases() -> Vec<Case> {
    crate::cases!("queue";
        exclusive_passive_from_other_connection_405,
        exclusive_consume_from_other_connection_405,
        exclusive_get_from_other_connection_405,
        exclusive_delete_from_other_connection_405,
        exclusive_usable_by_other_channel_same_connection,
        exclusive_deleted_on_connection_close,
        exclusive_kept_on_channel_close,
        auto_delete_deleted_after_last_consumer_cancel,
        auto_delete_kept_before_first_consumer,
        auto_delete_kept_while_a_consumer_remains,
        auto_delete_deleted_on_consumer_channel_close,
        exclusive_redeclare_from_other_connection_405,
        exclusive_purge_from_other_connection_405,
        exclusive_bind_from_other_connection_405,
    )
}

fn passive() -> QueueDeclareOptions {
    QueueDeclareOptions {
        passive: true,
        ..Default::default()
    }
}

/// An exclusive queue owned by one connection; returns its name.
async fn exclusive_queue(ctx: &Ctx) -> Result<String, crate::Problem> {
    let ch = ctx.channel().await?;
    ctx.queue_with(
        &ch,
        "excl",
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
}

async fn exclusive_passive_from_other_connection_405(ctx: Ctx) -> CaseResult {
    let q = exclusive_queue(&ctx).await?;
    let ch = ctx.channel().await?;
    let res = ch
        .queue_declare(q.as_str().into(), passive(), FieldTable::default())
        .await;
    expect_code_text(
        res,
        405,
        "RESOURCE_LOCKED",
        "passive declare from another connection",
    )
}

async fn exclusive_consume_from_other_connection_405(ctx: Ctx) -> CaseResult {
    let q = exclusive_queue(&ctx).await?;
    let ch = ctx.channel().await?;
    let res = ch
        .basic_consume(
            q.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await;
    expect_code(
        res.map(|_| ()),
        405,
        "basic.consume from another connection",
    )
}

async fn exclusive_get_from_other_connection_405(ctx: Ctx) -> CaseResult {
    let q = exclusive_queue(&ctx).await?;
    let ch = ctx.channel().await?;
    let res = ch
        .basic_get(q.as_str().into(), BasicGetOptions::default())
        .await;
    expect_code(res.map(|_| ()), 405, "basic.get from another connection")
}

async fn exclusive_delete_from_other_connection_405(ctx: Ctx) -> CaseResult {
    let q = exclusive_queue(&ctx).await?;
    let ch = ctx.channel().await?;
    let res = ch
        .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await;
    expect_code(res.map(|_| ()), 405, "queue.delete from another connection")
}

async fn exclusive_usable_by_other_channel_same_connection(ctx: Ctx) -> CaseResult {
    let conn = ctx.connect().await?;
    let ch1 = conn.create_channel().await.ctx("channel.open")?;
    let q = ctx
        .queue_with(
            &ch1,
            "excl",
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let ch2 = conn.create_channel().await.ctx("channel.open")?;
    publish(&ch2, "", &q, "m").await?;
    expect_bodies(&ch2, &q, &["m"]).await
}

async fn exclusive_deleted_on_connection_close(ctx: Ctx) -> CaseResult {
    let conn = ctx.connect().await?;
    let ch = conn.create_channel().await.ctx("channel.open")?;
    let q = ctx
        .queue_with(
            &ch,
            "excl",
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    conn.close(200, "bye".into())
        .await
        .ctx("connection.close")?;
    ensure!(
        !ctx.queue_exists(&q).await?,
        "exclusive queue survived its connection"
    );
    Ok(())
}

async fn exclusive_kept_on_channel_close(ctx: Ctx) -> CaseResult {
    let conn = ctx.connect().await?;
    let ch = conn.create_channel().await.ctx("channel.open")?;
    let q = ctx
        .queue_with(
            &ch,
            "excl",
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    ch.close(200, "bye".into()).await.ctx("channel.close")?;
    let ch2 = conn.create_channel().await.ctx("channel.open")?;
    ch2.queue_declare(q.as_str().into(), passive(), FieldTable::default())
        .await
        .ctx("exclusive queue after its declaring channel closed")
        .map(|_| ())
}

fn auto_delete() -> QueueDeclareOptions {
    QueueDeclareOptions {
        auto_delete: true,
        ..Default::default()
    }
}

async fn auto_delete_deleted_after_last_consumer_cancel(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx
        .queue_with(&ch, "ad", auto_delete(), FieldTable::default())
        .await?;
    let c = consume(&ch, &q, false).await?;
    ch.basic_cancel(c.tag(), BasicCancelOptions::default())
        .await
        .ctx("basic.cancel")?;
    ensure!(
        !ctx.queue_exists(&q).await?,
        "auto-delete queue survived its last consumer"
    );
    Ok(())
}

async fn auto_delete_kept_before_first_consumer(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx
        .queue_with(&ch, "ad", auto_delete(), FieldTable::default())
        .await?;
    publish(&ch, "", &q, "m").await?;
    // basic.get does not count as a consumer.
    expect_bodies(&ch, &q, &["m"]).await?;
    ensure!(
        ctx.queue_exists(&q).await?,
        "auto-delete queue vanished without ever having a consumer"
    );
    Ok(())
}

async fn auto_delete_kept_while_a_consumer_remains(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx
        .queue_with(&ch, "ad", auto_delete(), FieldTable::default())
        .await?;
    let c1 = consume(&ch, &q, false).await?;
    let _c2 = consume(&ch, &q, false).await?;
    ch.basic_cancel(c1.tag(), BasicCancelOptions::default())
        .await
        .ctx("basic.cancel")?;
    ensure!(
        ctx.queue_exists(&q).await?,
        "auto-delete queue deleted while a consumer remained"
    );
    Ok(())
}

async fn auto_delete_deleted_on_consumer_channel_close(ctx: Ctx) -> CaseResult {
    let conn = ctx.connect().await?;
    let ch = conn.create_channel().await.ctx("channel.open")?;
    let q = ctx
        .queue_with(&ch, "ad", auto_delete(), FieldTable::default())
        .await?;
    let ch2 = conn.create_channel().await.ctx("channel.open")?;
    let _c = consume(&ch2, &q, false).await?;
    ch2.close(200, "bye".into()).await.ctx("channel.close")?;
    // RabbitMQ's queue hears of the closed channel after close-ok has gone out: the deletion
    // follows shortly, not before close-ok.
    eventually(
        "the auto-delete queue to go with its consumer's channel",
        WAIT,
        || async { Ok(!ctx.queue_exists(&q).await?) },
    )
    .await
}

async fn exclusive_redeclare_from_other_connection_405(ctx: Ctx) -> CaseResult {
    let q = exclusive_queue(&ctx).await?;
    let ch = ctx.channel().await?;
    let res = ch
        .queue_declare(
            q.as_str().into(),
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await;
    expect_code_text(
        res,
        405,
        "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue",
        "redeclare from another connection",
    )
}

async fn exclusive_purge_from_other_connection_405(ctx: Ctx) -> CaseResult {
    let q = exclusive_queue(&ctx).await?;
    let ch = ctx.channel().await?;
    let res = ch
        .queue_purge(q.as_str().into(), QueuePurgeOptions::default())
        .await;
    expect_code(res, 405, "queue.purge from another connection")
}

async fn exclusive_bind_from_other_connection_405(ctx: Ctx) -> CaseResult {
    let q = exclusive_queue(&ctx).await?;
    let ch = ctx.channel().await?;
    let res = ch
        .queue_bind(
            q.as_str().into(),
            "amq.fanout".into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await;
    expect_code(res, 405, "queue.bind from another connection")
}
