//! The handshake, authentication, tuning, heartbeats, closing.

use std::time::Duration;

use lapin::protocol::{connection, AMQPClass};
use lapin::types::{AMQPValue, FieldTable};

use crate::raw::{RawConn, FRAME_HEARTBEAT, PROTOCOL_HEADER};
use crate::runner::{Case, CaseResult};
use crate::support::*;

/// The cases of this group.
pub fn cases() -> Vec<Case> {
    crate::cases!("connection";
        lapin_connect_and_close,
        start_version_0_9,
        start_mechanisms_include_plain,
        start_locales,
        start_server_properties,
        start_capabilities,
        tune_defaults,
        plain_login,
        amqplain_login,
        bad_password_with_capability_403,
        bad_password_without_capability_just_closes,
        unknown_mechanism_dropped,
        unknown_vhost_530,
        bad_protocol_header_gets_server_header,
        amqp_0_10_header_gets_server_header,
        close_ok,
        heartbeats_sent_by_server,
        missed_client_heartbeats_close_connection,
        client_heartbeats_keep_connection,
        frame_max_below_minimum_dropped,
        frame_max_above_server_dropped,
        frame_max_zero_dropped,
        channel_max_zero_dropped,
        channel_max_above_server_dropped,
        smaller_tune_values_accepted,
        channel_before_open_dropped,
        many_connections,
        connection_name_shown_in_management,
        silent_client_dropped_after_handshake_timeout,
        garbage_plain_response_dropped,
        unknown_user_403,
        unknown_vhost_text,
    )
}

async fn lapin_connect_and_close(ctx: Ctx) -> CaseResult {
    let conn = ctx.connect().await?;
    ensure!(conn.status().connected(), "not connected");
    conn.close(200, "bye".into())
        .await
        .ctx("connection.close")?;
    Ok(())
}

async fn raw_start(ctx: &Ctx) -> Result<(RawConn, connection::Start), crate::Problem> {
    let mut c = RawConn::connect(ctx.url()).await?;
    c.send_bytes(PROTOCOL_HEADER).await?;
    let start = c.recv_start().await?;
    Ok((c, start))
}

async fn start_version_0_9(ctx: Ctx) -> CaseResult {
    let (_, s) = raw_start(&ctx).await?;
    ensure_eq!(
        (s.version_major, s.version_minor),
        (0, 9),
        "connection.start version"
    );
    Ok(())
}

async fn start_mechanisms_include_plain(ctx: Ctx) -> CaseResult {
    let (_, s) = raw_start(&ctx).await?;
    let mechs = String::from_utf8_lossy(s.mechanisms.as_bytes()).to_string();
    let list: Vec<&str> = mechs.split(' ').collect();
    ensure!(
        list.contains(&"PLAIN") && list.contains(&"AMQPLAIN"),
        "mechanisms '{mechs}' lack PLAIN or AMQPLAIN"
    );
    Ok(())
}

async fn start_locales(ctx: Ctx) -> CaseResult {
    let (_, s) = raw_start(&ctx).await?;
    let locales = String::from_utf8_lossy(s.locales.as_bytes()).to_string();
    ensure!(
        locales.split(' ').any(|l| l == "en_US"),
        "locales '{locales}' lack en_US"
    );
    Ok(())
}

async fn start_server_properties(ctx: Ctx) -> CaseResult {
    let (_, s) = raw_start(&ctx).await?;
    let p = s.server_properties.inner();
    for k in ["product", "version", "platform", "copyright", "information"] {
        match p.get(k) {
            Some(AMQPValue::LongString(_)) => {}
            other => fail!("server property '{k}': expected a longstr, got {other:?}"),
        }
    }
    match p.get("capabilities") {
        Some(AMQPValue::FieldTable(_)) => Ok(()),
        other => fail!("server property 'capabilities': expected a table, got {other:?}"),
    }
}

async fn start_capabilities(ctx: Ctx) -> CaseResult {
    let (_, s) = raw_start(&ctx).await?;
    let Some(AMQPValue::FieldTable(caps)) = s.server_properties.inner().get("capabilities") else {
        fail!("no capabilities table in connection.start");
    };
    for cap in [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "consumer_priorities",
        "authentication_failure_close",
        "per_consumer_qos",
        "direct_reply_to",
    ] {
        ensure_eq!(
            caps.inner().get(cap),
            Some(&AMQPValue::Boolean(true)),
            "capability {cap}"
        );
    }
    Ok(())
}

async fn tune_defaults(ctx: Ctx) -> CaseResult {
    let (mut c, _) = raw_start(&ctx).await?;
    let hs = c.handshake.clone();
    c.send_start_ok(&hs).await?;
    let t = c.recv_tune().await?;
    ensure_eq!(
        (t.channel_max, t.frame_max, t.heartbeat),
        (2047, 131072, 60),
        "connection.tune (channel_max, frame_max, heartbeat) with default settings"
    );
    Ok(())
}

async fn plain_login(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw().await?;
    c.close().await?;
    Ok(())
}

async fn amqplain_login(ctx: Ctx) -> CaseResult {
    let mut c = RawConn::open_with(ctx.url(), |h| h.mechanism = "AMQPLAIN".into()).await?;
    c.open_channel(1).await?;
    c.close().await?;
    Ok(())
}

async fn bad_password_with_capability_403(ctx: Ctx) -> CaseResult {
    let mut c = RawConn::connect(ctx.url()).await?;
    let mut hs = c.handshake.clone();
    hs.password = format!("{}-wrong", hs.password);
    c.send_bytes(PROTOCOL_HEADER).await?;
    c.recv_start().await?;
    c.send_start_ok(&hs).await?;
    let close = super::errors::expect_hard(
        &mut c,
        403,
        "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN",
    )
    .await?;
    ensure_eq!(
        (close.class_id, close.method_id),
        (0, 0),
        "class/method in connection.close"
    );
    Ok(())
}

async fn bad_password_without_capability_just_closes(ctx: Ctx) -> CaseResult {
    let mut c = RawConn::connect(ctx.url()).await?;
    let mut hs = c.handshake.clone();
    hs.password = format!("{}-wrong", hs.password);
    hs.capabilities = false;
    c.send_bytes(PROTOCOL_HEADER).await?;
    c.recv_start().await?;
    c.send_start_ok(&hs).await?;
    let frames = c.expect_eof(Duration::from_secs(10)).await?;
    ensure!(
        frames.is_empty(),
        "expected the socket to close silently, got [{}]",
        frames
            .iter()
            .map(|f| f.describe())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

async fn unknown_mechanism_dropped(ctx: Ctx) -> CaseResult {
    let mut c = RawConn::connect(ctx.url()).await?;
    let mut hs = c.handshake.clone();
    hs.mechanism = "NO-SUCH-MECH".into();
    c.send_bytes(PROTOCOL_HEADER).await?;
    c.recv_start().await?;
    c.send_start_ok(&hs).await?;
    expect_dropped(&mut c).await
}

async fn unknown_vhost_530(ctx: Ctx) -> CaseResult {
    let mut c = RawConn::connect(ctx.url()).await?;
    let mut hs = c.handshake.clone();
    hs.vhost = ctx.name("no-such-vhost");
    match c.do_handshake(&hs).await {
        Ok(()) => fail!("connection.open to a missing vhost succeeded"),
        Err(e) if e.contains("connection.close(530") && e.contains("NOT_ALLOWED") => Ok(()),
        Err(e) => fail!("expected connection.close 530 NOT_ALLOWED, got: {e}"),
    }
}

async fn bad_protocol_header_gets_server_header(ctx: Ctx) -> CaseResult {
    let mut c = RawConn::connect(ctx.url()).await?;
    c.send_bytes(b"HTTP/1.1").await?;
    let got = c.recv_raw_bytes(8, Duration::from_secs(5)).await;
    ensure_eq!(
        got,
        PROTOCOL_HEADER.to_vec(),
        "reply to a bad protocol header"
    );
    Ok(())
}

async fn amqp_0_10_header_gets_server_header(ctx: Ctx) -> CaseResult {
    let mut c = RawConn::connect(ctx.url()).await?;
    c.send_bytes(b"AMQP\x01\x01\x00\x0a").await?;
    let got = c.recv_raw_bytes(8, Duration::from_secs(5)).await;
    ensure_eq!(
        got,
        PROTOCOL_HEADER.to_vec(),
        "reply to an AMQP 0-10 header"
    );
    Ok(())
}

async fn close_ok(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.close().await?;
    // RabbitMQ leaves closing the socket to the client (or closes it after
    // 30 s); nothing more may be sent after close-ok.
    match c.recv_frame_timeout(QUIET).await {
        Ok(Some(f)) => fail!("{} after connection.close-ok", f.describe()),
        _ => Ok(()),
    }
}

async fn heartbeats_sent_by_server(ctx: Ctx) -> CaseResult {
    let mut c = RawConn::open_with(ctx.url(), |h| h.heartbeat = Some(1)).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    loop {
        c.send_heartbeat().await?;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c
            .recv_frame_timeout(left.min(Duration::from_millis(500)))
            .await
        {
            Ok(Some(f)) if f.frame_type == FRAME_HEARTBEAT => {
                ensure_eq!(f.channel, 0, "heartbeat channel");
                ensure!(f.payload.is_empty(), "heartbeat payload not empty");
                return Ok(());
            }
            Ok(Some(f)) => fail!("unexpected {}", f.describe()),
            Ok(None) => fail!("server closed the connection"),
            Err(_) if tokio::time::Instant::now() < deadline => continue,
            Err(_) => fail!("no heartbeat within 4s with heartbeat=1"),
        }
    }
}

async fn missed_client_heartbeats_close_connection(ctx: Ctx) -> CaseResult {
    let mut c = RawConn::open_with(ctx.url(), |h| h.heartbeat = Some(1)).await?;
    // Send nothing; the server gives up after about two intervals.
    let started = std::time::Instant::now();
    c.expect_eof(Duration::from_secs(8)).await?;
    ensure!(
        started.elapsed() >= Duration::from_millis(1500),
        "closed too early ({}ms)",
        started.elapsed().as_millis()
    );
    Ok(())
}

async fn client_heartbeats_keep_connection(ctx: Ctx) -> CaseResult {
    let mut c = RawConn::open_with(ctx.url(), |h| h.heartbeat = Some(1)).await?;
    let end = tokio::time::Instant::now() + Duration::from_secs(4);
    while tokio::time::Instant::now() < end {
        c.send_heartbeat().await?;
        match c.recv_frame_timeout(Duration::from_millis(400)).await {
            Ok(Some(f)) if f.frame_type == FRAME_HEARTBEAT => {}
            Ok(Some(f)) => fail!("unexpected {}", f.describe()),
            Ok(None) => fail!("server closed a connection that kept sending heartbeats"),
            Err(_) => {}
        }
    }
    c.open_channel(1).await?;
    Ok(())
}

/// Send tune-ok with the given values (None = the server's) and connection.open.
async fn tune_and_open(
    ctx: &Ctx,
    channel_max: Option<u16>,
    frame_max: Option<u32>,
) -> Result<RawConn, crate::Problem> {
    let mut c = RawConn::connect(ctx.url()).await?;
    let hs = c.handshake.clone();
    c.send_bytes(PROTOCOL_HEADER).await?;
    c.recv_start().await?;
    c.send_start_ok(&hs).await?;
    let t = c.recv_tune().await?;
    c.send_tune_ok(
        channel_max.unwrap_or(t.channel_max),
        frame_max.unwrap_or(t.frame_max),
        0,
    )
    .await?;
    c.send_method(
        0,
        AMQPClass::Connection(connection::AMQPMethod::Open(connection::Open {
            virtual_host: hs.vhost.as_str().into(),
        })),
    )
    .await?;
    Ok(c)
}

async fn frame_max_below_minimum_dropped(ctx: Ctx) -> CaseResult {
    let mut c = tune_and_open(&ctx, None, Some(4095)).await?;
    expect_dropped(&mut c).await
}

async fn frame_max_above_server_dropped(ctx: Ctx) -> CaseResult {
    let (c0, _) = raw_start(&ctx).await?;
    drop(c0);
    let mut probe = RawConn::connect(ctx.url()).await?;
    let hs = probe.handshake.clone();
    probe.send_bytes(PROTOCOL_HEADER).await?;
    probe.recv_start().await?;
    probe.send_start_ok(&hs).await?;
    let t = probe.recv_tune().await?;
    drop(probe);
    let mut c = tune_and_open(&ctx, None, Some(t.frame_max + 1)).await?;
    expect_dropped(&mut c).await
}

async fn frame_max_zero_dropped(ctx: Ctx) -> CaseResult {
    let mut c = tune_and_open(&ctx, None, Some(0)).await?;
    expect_dropped(&mut c).await
}

async fn channel_max_zero_dropped(ctx: Ctx) -> CaseResult {
    let mut c = tune_and_open(&ctx, Some(0), None).await?;
    expect_dropped(&mut c).await
}

async fn channel_max_above_server_dropped(ctx: Ctx) -> CaseResult {
    let mut c = tune_and_open(&ctx, Some(u16::MAX), None).await?;
    expect_dropped(&mut c).await
}

async fn smaller_tune_values_accepted(ctx: Ctx) -> CaseResult {
    let mut c = RawConn::open_with(ctx.url(), |h| {
        h.channel_max = Some(1);
        h.frame_max = Some(4096);
        h.heartbeat = Some(0);
    })
    .await?;
    c.open_channel(1).await?;
    Ok(())
}

async fn channel_before_open_dropped(ctx: Ctx) -> CaseResult {
    let mut c = RawConn::connect(ctx.url()).await?;
    let hs = c.handshake.clone();
    c.send_bytes(PROTOCOL_HEADER).await?;
    c.recv_start().await?;
    c.send_start_ok(&hs).await?;
    c.recv_tune().await?;
    c.send_tune_ok(0, 131072, 0).await?;
    c.send_method(
        1,
        AMQPClass::Channel(lapin::protocol::channel::AMQPMethod::Open(
            lapin::protocol::channel::Open {},
        )),
    )
    .await?;
    expect_dropped(&mut c).await
}

async fn many_connections(ctx: Ctx) -> CaseResult {
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            let conn = ctx.connect().await?;
            let ch = conn.create_channel().await.ctx("channel.open")?;
            ch.queue_declare(
                "".into(),
                lapin::options::QueueDeclareOptions {
                    exclusive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .ctx("queue.declare")?;
            Ok::<_, crate::Problem>(())
        }));
    }
    for t in tasks {
        t.await.ctx("connection task")??;
    }
    Ok(())
}

async fn connection_name_shown_in_management(ctx: Ctx) -> CaseResult {
    let mgmt = ctx.mgmt()?;
    let name = ctx.name("conn");
    let mut c = RawConn::open_with(ctx.url(), |h| {
        h.client_properties.insert(
            "connection_name".into(),
            AMQPValue::LongString(name.as_str().into()),
        );
    })
    .await?;
    mgmt.find_connection(&name, Duration::from_secs(15)).await?;
    c.close().await?;
    Ok(())
}

async fn silent_client_dropped_after_handshake_timeout(ctx: Ctx) -> CaseResult {
    // RabbitMQ's handshake_timeout is 10 s.
    let mut c = RawConn::connect(ctx.url()).await?;
    let frames = c.expect_eof(Duration::from_secs(20)).await?;
    ensure!(
        frames.is_empty(),
        "frames sent to a client that never sent the protocol header"
    );
    Ok(())
}

async fn garbage_plain_response_dropped(ctx: Ctx) -> CaseResult {
    let mut c = RawConn::connect(ctx.url()).await?;
    let mut hs = c.handshake.clone();
    hs.response = Some(b"no-separators".to_vec());
    c.send_bytes(PROTOCOL_HEADER).await?;
    c.recv_start().await?;
    c.send_start_ok(&hs).await?;
    expect_dropped(&mut c).await
}

async fn unknown_user_403(ctx: Ctx) -> CaseResult {
    let mut c = RawConn::connect(ctx.url()).await?;
    let mut hs = c.handshake.clone();
    hs.user = ctx.name("nobody");
    c.send_bytes(PROTOCOL_HEADER).await?;
    c.recv_start().await?;
    c.send_start_ok(&hs).await?;
    super::errors::expect_hard(
        &mut c,
        403,
        "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN",
    )
    .await
    .map(|_| ())
}

async fn unknown_vhost_text(ctx: Ctx) -> CaseResult {
    let vhost = ctx.name("vh");
    let mut c = RawConn::connect(ctx.url()).await?;
    let mut hs = c.handshake.clone();
    hs.vhost = vhost.clone();
    c.send_bytes(PROTOCOL_HEADER).await?;
    c.recv_start().await?;
    c.send_start_ok(&hs).await?;
    let t = c.recv_tune().await?;
    c.send_tune_ok(t.channel_max, t.frame_max, 0).await?;
    c.send_method(
        0,
        AMQPClass::Connection(connection::AMQPMethod::Open(connection::Open {
            virtual_host: vhost.as_str().into(),
        })),
    )
    .await?;
    let close = super::errors::expect_hard(
        &mut c,
        530,
        &format!("NOT_ALLOWED - vhost {vhost} not found"),
    )
    .await?;
    ensure_eq!(
        (close.class_id, close.method_id),
        (10, 40),
        "class/method in connection.close"
    );
    Ok(())
}
