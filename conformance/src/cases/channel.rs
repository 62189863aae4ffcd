//! channel.open / close / flow, channel numbers, isolation between channels.

use lapin::protocol::{channel, AMQPClass};

use crate::raw::RawConn;
use crate::runner::{Case, CaseResult};
use crate::support::*;

/// The cases of this group.
pub fn cases() -> Vec<Case> {
    crate::cases!("channel";
        open_close,
        close_ok_echoes,
        reopen_same_number,
        open_many_numbers_out_of_order,
        highest_channel_number,
        more_channels_than_channel_max_530,
        channel_number_above_channel_max_allowed,
        flow_active_true,
        flow_active_false_540,
        many_channels_lapin,
        error_on_one_channel_leaves_others,
        close_with_error_code_from_client,
        server_closed_channel_can_be_reopened,
    )
}

fn close(code: u16) -> AMQPClass {
    AMQPClass::Channel(channel::AMQPMethod::Close(channel::Close {
        reply_code: code,
        reply_text: "client close".into(),
        class_id: 0,
        method_id: 0,
    }))
}

async fn open_close(ctx: Ctx) -> CaseResult {
    let (conn, ch) = ctx.conn_channel().await?;
    ch.close(200, "bye".into()).await.ctx("channel.close")?;
    ensure!(
        conn.status().connected(),
        "connection closed with the channel"
    );
    Ok(())
}

async fn close_ok_echoes(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.rpc(1, close(200)).await?;
    c.check_alive(2).await?;
    Ok(())
}

async fn reopen_same_number(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.rpc(1, close(200)).await?;
    c.open_channel(1).await?;
    c.rpc(1, close(200)).await?;
    Ok(())
}

async fn open_many_numbers_out_of_order(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw().await?;
    for n in [7u16, 3, 100, 1, 2000] {
        c.open_channel(n).await?;
    }
    for n in [3u16, 2000, 1, 7, 100] {
        c.rpc(n, close(200)).await?;
    }
    Ok(())
}

async fn highest_channel_number(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw().await?;
    let max = c.channel_max;
    ensure!(max > 0, "server proposed channel_max 0");
    c.open_channel(max).await?;
    c.rpc(max, close(200)).await?;
    Ok(())
}

async fn more_channels_than_channel_max_530(ctx: Ctx) -> CaseResult {
    let mut c = RawConn::open_with(ctx.url(), |h| h.channel_max = Some(2)).await?;
    c.open_channel(1).await?;
    c.open_channel(2).await?;
    c.send_method(
        3,
        AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})),
    )
    .await?;
    let close = super::errors::expect_hard(
        &mut c,
        530,
        "NOT_ALLOWED - number of channels opened (2) has reached the negotiated channel_max (2)",
    )
    .await?;
    ensure_eq!(
        (close.class_id, close.method_id),
        (0, 0),
        "class/method in connection.close"
    );
    Ok(())
}

async fn channel_number_above_channel_max_allowed(ctx: Ctx) -> CaseResult {
    // RabbitMQ limits the number of open channels, not the channel numbers.
    let mut c = RawConn::open_with(ctx.url(), |h| h.channel_max = Some(10)).await?;
    c.open_channel(11).await?;
    c.open_channel(2047).await?;
    Ok(())
}

async fn flow_active_true(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    let reply = c
        .rpc(
            1,
            AMQPClass::Channel(channel::AMQPMethod::Flow(channel::Flow { active: true })),
        )
        .await?;
    match reply {
        AMQPClass::Channel(channel::AMQPMethod::FlowOk(f)) => {
            ensure!(f.active, "flow-ok active=false");
            Ok(())
        }
        other => fail!(
            "expected channel.flow-ok, got {}",
            crate::raw::describe_method(&other)
        ),
    }
}

async fn flow_active_false_540(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_method(
        1,
        AMQPClass::Channel(channel::AMQPMethod::Flow(channel::Flow { active: false })),
    )
    .await?;
    super::errors::expect_hard(&mut c, 540, "NOT_IMPLEMENTED - active=false")
        .await
        .map(|_| ())
}

async fn many_channels_lapin(ctx: Ctx) -> CaseResult {
    let conn = ctx.connect().await?;
    let mut chans = Vec::new();
    for _ in 0..200 {
        chans.push(conn.create_channel().await.ctx("channel.open")?);
    }
    let q = ctx.queue(&chans[0], "q").await?;
    for (i, ch) in chans.iter().enumerate() {
        publish(ch, "", &q, &i.to_string()).await?;
    }
    wait_count(&chans[199], &q, 200).await?;
    for ch in chans {
        ch.close(200, "bye".into()).await.ctx("channel.close")?;
    }
    Ok(())
}

async fn error_on_one_channel_leaves_others(ctx: Ctx) -> CaseResult {
    let conn = ctx.connect().await?;
    let ch1 = conn.create_channel().await.ctx("channel.open")?;
    let ch2 = conn.create_channel().await.ctx("channel.open")?;
    let q = ctx.queue(&ch2, "q").await?;
    let res = ch1
        .queue_declare(
            ctx.name("missing").as_str().into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await;
    expect_code(res, 404, "passive declare")?;
    publish(&ch2, "", &q, "m").await?;
    expect_bodies(&ch2, &q, &["m"]).await?;
    ensure!(
        conn.status().connected(),
        "connection closed after a channel error"
    );
    Ok(())
}

async fn close_with_error_code_from_client(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    // A client may close a channel with any code; the server answers close-ok.
    c.rpc(1, close(406)).await?;
    c.check_alive(2).await?;
    Ok(())
}

async fn server_closed_channel_can_be_reopened(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.send_method(
        1,
        AMQPClass::Queue(lapin::protocol::queue::AMQPMethod::Declare(
            lapin::protocol::queue::Declare {
                queue: ctx.name("missing").as_str().into(),
                passive: true,
                durable: false,
                exclusive: false,
                auto_delete: false,
                nowait: false,
                arguments: Default::default(),
            },
        )),
    )
    .await?;
    let cl = c.expect_channel_close(1).await?;
    ensure_eq!(cl.reply_code, 404, "reply code");
    c.open_channel(1).await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    raw_declare_queue(&mut c, 1, &q, false).await
}
