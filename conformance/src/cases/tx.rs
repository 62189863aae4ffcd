//! Transactions: commit/rollback of publishes and acks.

use lapin::options::*;
use lapin::protocol::{confirm, tx, AMQPClass};

use crate::runner::{Case, CaseResult};
use crate::support::*;

/// The cases of this group.
pub fn cases() -> Vec<Case> {
    crate::cases!("tx";
        select_ok,
        commit_publishes,
        publish_invisible_before_commit,
        rollback_discards_publishes,
        commit_acks,
        rollback_acks_keeps_messages_unacked,
        commit_rejects,
        several_commits,
        empty_commit_ok,
        commit_without_select_406,
        rollback_without_select_406,
        confirm_select_after_tx_406,
        close_discards_uncommitted,
        mandatory_return_on_commit,
    )
}

async fn select_ok(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    ch.tx_select().await.ctx("tx.select")
}

async fn commit_publishes(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    ch.tx_select().await.ctx("tx.select")?;
    publish(&ch, "", &q, "1").await?;
    publish(&ch, "", &q, "2").await?;
    ch.tx_commit().await.ctx("tx.commit")?;
    expect_bodies(&ch, &q, &["1", "2"]).await
}

async fn publish_invisible_before_commit(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    ch.tx_select().await.ctx("tx.select")?;
    publish(&ch, "", &q, "1").await?;
    let other = ctx.channel().await?;
    ensure_eq!(
        message_count(&other, &q).await?,
        0,
        "messages visible before commit"
    );
    ch.tx_commit().await.ctx("tx.commit")?;
    wait_count(&other, &q, 1).await?;
    Ok(())
}

async fn rollback_discards_publishes(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    ch.tx_select().await.ctx("tx.select")?;
    publish(&ch, "", &q, "gone").await?;
    ch.tx_rollback().await.ctx("tx.rollback")?;
    publish(&ch, "", &q, "kept").await?;
    ch.tx_commit().await.ctx("tx.commit")?;
    expect_bodies(&ch, &q, &["kept"]).await
}

async fn commit_acks(ctx: Ctx) -> CaseResult {
    let (conn, ch) = ctx.conn_channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "m").await?;
    ch.tx_select().await.ctx("tx.select")?;
    let Some(m) = get_manual(&ch, &q).await? else {
        fail!("no message")
    };
    ch.basic_ack(m.delivery.delivery_tag, BasicAckOptions::default())
        .await
        .ctx("basic.ack")?;
    ch.tx_commit().await.ctx("tx.commit")?;
    ch.close(200, "bye".into()).await.ctx("channel.close")?;
    let ch2 = conn.create_channel().await.ctx("channel.open")?;
    expect_bodies(&ch2, &q, &[]).await
}

async fn rollback_acks_keeps_messages_unacked(ctx: Ctx) -> CaseResult {
    let (conn, ch) = ctx.conn_channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "m").await?;
    ch.tx_select().await.ctx("tx.select")?;
    let Some(m) = get_manual(&ch, &q).await? else {
        fail!("no message")
    };
    ch.basic_ack(m.delivery.delivery_tag, BasicAckOptions::default())
        .await
        .ctx("basic.ack")?;
    ch.tx_rollback().await.ctx("tx.rollback")?;
    // Still unacked (not ready) after the rollback...
    ensure_eq!(
        message_count(&ch, &q).await?,
        0,
        "ready messages after rollback"
    );
    // ...and back in the queue when the channel closes.
    ch.close(200, "bye".into()).await.ctx("channel.close")?;
    let ch2 = conn.create_channel().await.ctx("channel.open")?;
    expect_bodies(&ch2, &q, &["m"]).await
}

async fn commit_rejects(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "m").await?;
    ch.tx_select().await.ctx("tx.select")?;
    let Some(m) = get_manual(&ch, &q).await? else {
        fail!("no message")
    };
    ch.basic_reject(
        m.delivery.delivery_tag,
        BasicRejectOptions { requeue: true },
    )
    .await
    .ctx("basic.reject")?;
    ensure_eq!(
        message_count(&ch, &q).await?,
        0,
        "ready messages before commit"
    );
    ch.tx_commit().await.ctx("tx.commit")?;
    expect_bodies(&ch, &q, &["m"]).await
}

async fn several_commits(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    ch.tx_select().await.ctx("tx.select")?;
    for i in 0..3 {
        publish(&ch, "", &q, &i.to_string()).await?;
        ch.tx_commit().await.ctx("tx.commit")?;
    }
    publish(&ch, "", &q, "rolled-back").await?;
    ch.tx_rollback().await.ctx("tx.rollback")?;
    expect_bodies(&ch, &q, &["0", "1", "2"]).await
}

async fn empty_commit_ok(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    ch.tx_select().await.ctx("tx.select")?;
    ch.tx_commit().await.ctx("empty tx.commit")?;
    ch.tx_rollback().await.ctx("empty tx.rollback")
}

async fn commit_without_select_406(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_method(1, AMQPClass::Tx(tx::AMQPMethod::Commit(tx::Commit {})))
        .await?;
    super::errors::expect_soft(
        &mut c,
        1,
        406,
        "PRECONDITION_FAILED - channel is not transactional",
    )
    .await
}

async fn rollback_without_select_406(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_method(1, AMQPClass::Tx(tx::AMQPMethod::Rollback(tx::Rollback {})))
        .await?;
    super::errors::expect_soft(
        &mut c,
        1,
        406,
        "PRECONDITION_FAILED - channel is not transactional",
    )
    .await
}

async fn confirm_select_after_tx_406(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.rpc(1, AMQPClass::Tx(tx::AMQPMethod::Select(tx::Select {})))
        .await?;
    c.send_method(
        1,
        AMQPClass::Confirm(confirm::AMQPMethod::Select(confirm::Select {
            nowait: false,
        })),
    )
    .await?;
    super::errors::expect_soft(
        &mut c,
        1,
        406,
        "PRECONDITION_FAILED - cannot switch from tx to confirm mode",
    )
    .await
}

async fn close_discards_uncommitted(ctx: Ctx) -> CaseResult {
    let (conn, ch) = ctx.conn_channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    ch.tx_select().await.ctx("tx.select")?;
    publish(&ch, "", &q, "uncommitted").await?;
    ch.close(200, "bye".into()).await.ctx("channel.close")?;
    let ch2 = conn.create_channel().await.ctx("channel.open")?;
    expect_bodies(&ch2, &q, &[]).await
}

async fn mandatory_return_on_commit(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.rpc(1, AMQPClass::Tx(tx::AMQPMethod::Select(tx::Select {})))
        .await?;
    c.publish(
        1,
        "amq.direct",
        &ctx.name("nowhere"),
        true,
        Default::default(),
        b"m",
    )
    .await?;
    c.send_method(1, AMQPClass::Tx(tx::AMQPMethod::Commit(tx::Commit {})))
        .await?;
    let (ch, first) = c.recv_method().await?;
    match &first {
        AMQPClass::Basic(lapin::protocol::basic::AMQPMethod::Return(r)) => {
            ensure_eq!(r.reply_code, 312, "basic.return code");
            c.recv_content(first.clone(), ch).await?;
        }
        other => fail!(
            "expected basic.return before commit-ok, got {}",
            crate::raw::describe_method(other)
        ),
    }
    c.expect_method(1, 90, 21).await?;
    Ok(())
}
