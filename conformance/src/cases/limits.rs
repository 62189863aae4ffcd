//! Sizes and counts: bodies over frame-max, empty bodies, 255-byte and
//! non-ASCII names, many channels/queues/bindings/consumers, big and exotic
//! field tables, concurrency.

use lapin::options::*;
use lapin::protocol::{basic, AMQPClass};
use lapin::types::{AMQPValue, FieldArray, FieldTable};
use lapin::{BasicProperties, ExchangeKind};

use crate::raw::{RawConn, RawFrame, FRAME_HEADER};
use crate::runner::{Case, CaseResult, Problem};
use crate::support::*;

/// The cases of this group.
pub fn cases() -> Vec<Case> {
    crate::cases!("limits";
        body_split_over_many_frames,
        server_splits_by_negotiated_frame_max,
        body_exactly_one_frame,
        body_one_byte_over_one_frame,
        one_megabyte_body,
        zero_length_body_raw,
        zero_length_body_lapin,
        binary_body_all_byte_values,
        queue_name_255_bytes,
        exchange_name_255_bytes,
        routing_key_255_bytes,
        non_ascii_names,
        many_queues,
        many_bindings_on_one_exchange,
        many_consumers_on_one_queue,
        many_publishers_keep_their_order,
        many_messages_fifo,
        large_header_table,
        long_string_header_100kb,
        all_field_table_types_roundtrip_bytes,
        nested_tables_and_arrays_roundtrip,
    )
}

fn get_method(q: &str) -> AMQPClass {
    AMQPClass::Basic(basic::AMQPMethod::Get(basic::Get {
        queue: q.into(),
        no_ack: true,
    }))
}

async fn raw_with_queue(ctx: &Ctx, frame_max: Option<u32>) -> Result<(RawConn, String), Problem> {
    let mut c = RawConn::open_with(ctx.url(), |h| h.frame_max = frame_max).await?;
    c.open_channel(1).await?;
    let q = ctx.name("q");
    ctx.track_queue(&q);
    raw_declare_queue(&mut c, 1, &q, false).await?;
    Ok((c, q))
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

async fn body_split_over_many_frames(ctx: Ctx) -> CaseResult {
    let (mut c, q) = raw_with_queue(&ctx, Some(4096)).await?;
    let body = pattern(100_000);
    c.publish(1, "", &q, false, BasicProperties::default(), &body)
        .await?;
    c.send_method(1, get_method(&q)).await?;
    let m = c.recv_message(1).await?;
    ensure!(
        m.body == body,
        "body differs after reassembly ({} bytes received)",
        m.body.len()
    );
    Ok(())
}

async fn server_splits_by_negotiated_frame_max(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let body = pattern(20_000);
    publish_props(&ch, "", &q, &body, BasicProperties::default()).await?;
    let mut c = RawConn::open_with(ctx.url(), |h| h.frame_max = Some(4096)).await?;
    c.open_channel(1).await?;
    c.send_method(1, get_method(&q)).await?;
    let (ch_id, m) = c.recv_method().await?;
    let mut frames = Vec::new();
    let mut total = 0usize;
    let mut header = true;
    while header || total < body.len() {
        let f = c.recv_frame().await?.ok_or("socket closed")?;
        ensure!(
            f.payload.len() + 8 <= 4096,
            "{} is {} bytes, over the negotiated frame-max 4096",
            f.describe(),
            f.payload.len() + 8
        );
        if header {
            header = false;
            continue;
        }
        total += f.payload.len();
        frames.push(f);
    }
    ensure!(
        frames.len() >= 5,
        "20000 bytes came in {} body frames with frame-max 4096",
        frames.len()
    );
    let _ = (ch_id, m);
    Ok(())
}

async fn body_exactly_one_frame(ctx: Ctx) -> CaseResult {
    let (mut c, q) = raw_with_queue(&ctx, Some(4096)).await?;
    let body = pattern(4096 - 8);
    c.publish(1, "", &q, false, BasicProperties::default(), &body)
        .await?;
    c.send_method(1, get_method(&q)).await?;
    let m = c.recv_message(1).await?;
    ensure_eq!(m.body_frames, 1, "body frames for frame-max - 8 bytes");
    ensure!(m.body == body, "body differs");
    Ok(())
}

async fn body_one_byte_over_one_frame(ctx: Ctx) -> CaseResult {
    let (mut c, q) = raw_with_queue(&ctx, Some(4096)).await?;
    let body = pattern(4096 - 7);
    c.publish(1, "", &q, false, BasicProperties::default(), &body)
        .await?;
    c.send_method(1, get_method(&q)).await?;
    let m = c.recv_message(1).await?;
    ensure_eq!(m.body_frames, 2, "body frames for frame-max - 7 bytes");
    ensure!(m.body == body, "body differs");
    Ok(())
}

async fn one_megabyte_body(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let body = pattern(1 << 20);
    publish_props(&ch, "", &q, &body, BasicProperties::default()).await?;
    let Some(m) = get(&ch, &q).await? else {
        fail!("no message")
    };
    ensure!(
        m.delivery.data == body,
        "1 MiB body differs ({} bytes back)",
        m.delivery.data.len()
    );
    Ok(())
}

async fn zero_length_body_raw(ctx: Ctx) -> CaseResult {
    let (mut c, q) = raw_with_queue(&ctx, None).await?;
    // publish + header with body-size 0 and no body frame at all.
    c.publish(
        1,
        "",
        &q,
        false,
        BasicProperties::default().with_message_id("empty".into()),
        b"",
    )
    .await?;
    c.send_method(1, get_method(&q)).await?;
    let m = c.recv_message(1).await?;
    ensure_eq!(m.body_frames, 0, "body frames for an empty body");
    ensure!(m.body.is_empty(), "body not empty");
    ensure_eq!(
        m.properties.message_id().clone(),
        Some("empty".into()),
        "properties"
    );
    // Nothing else may follow (e.g. a stray empty body frame).
    match c.recv_frame_timeout(QUIET).await {
        Err(_) => Ok(()),
        Ok(Some(f)) => fail!("unexpected {} after an empty message", f.describe()),
        Ok(None) => fail!("server closed the connection"),
    }
}

async fn zero_length_body_lapin(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "").await?;
    let mut c = consume(&ch, &q, true).await?;
    let d = next(&mut c).await?;
    ensure!(d.data.is_empty(), "body not empty");
    Ok(())
}

async fn binary_body_all_byte_values(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let body: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    publish_props(&ch, "", &q, &body, BasicProperties::default()).await?;
    let Some(m) = get(&ch, &q).await? else {
        fail!("no message")
    };
    ensure!(m.delivery.data == body, "binary body differs");
    Ok(())
}

fn name_of_len(ctx: &Ctx, tag: &str, len: usize) -> String {
    let mut n = ctx.name(tag);
    while n.len() < len {
        n.push('x');
    }
    n.truncate(len);
    n
}

async fn queue_name_255_bytes(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = name_of_len(&ctx, "q", 255);
    ctx.track_queue(&q);
    ch.queue_declare(
        q.as_str().into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .ctx("queue.declare (255 bytes)")?;
    publish(&ch, "", &q, "m").await?;
    expect_bodies(&ch, &q, &["m"]).await
}

async fn exchange_name_255_bytes(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = name_of_len(&ctx, "x", 255);
    ctx.track_exchange(&x);
    ch.exchange_declare(
        x.as_str().into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .ctx("exchange.declare (255 bytes)")?;
    let q = ctx.bound_queue(&ch, "q", &x, &[""]).await?;
    publish(&ch, &x, "", "m").await?;
    expect_bodies(&ch, &q, &["m"]).await
}

async fn routing_key_255_bytes(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let key = "k".repeat(255);
    let x = ctx.exchange(&ch, "x", ExchangeKind::Direct).await?;
    let q = ctx.bound_queue(&ch, "q", &x, &[key.as_str()]).await?;
    publish(&ch, &x, &key, "m").await?;
    let Some(m) = get(&ch, &q).await? else {
        fail!("no message")
    };
    ensure_eq!(m.delivery.routing_key.as_str(), key.as_str(), "routing key");
    Ok(())
}

async fn non_ascii_names(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx
        .exchange(&ch, "échange-交換", ExchangeKind::Topic)
        .await?;
    let q = ctx.queue(&ch, "очередь-キュー-🐇").await?;
    bind(&ch, &q, &x, "ключ.*").await?;
    publish(&ch, &x, "ключ.значение", "m").await?;
    let Some(m) = get(&ch, &q).await? else {
        fail!("no message via non-ASCII names")
    };
    ensure_eq!(
        m.delivery.routing_key.as_str(),
        "ключ.значение",
        "routing key"
    );
    ensure_eq!(m.delivery.exchange.as_str(), x.as_str(), "exchange");
    Ok(())
}

async fn many_queues(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Fanout).await?;
    let mut qs = Vec::new();
    for i in 0..200 {
        qs.push(ctx.bound_queue(&ch, &format!("q{i}-"), &x, &[""]).await?);
    }
    publish(&ch, &x, "", "m").await?;
    for q in &qs {
        wait_count(&ch, q, 1).await?;
    }
    Ok(())
}

async fn many_bindings_on_one_exchange(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Direct).await?;
    let q = ctx.queue(&ch, "q").await?;
    for i in 0..500 {
        bind(&ch, &q, &x, &format!("k{i}")).await?;
    }
    for i in [0, 250, 499] {
        publish(&ch, &x, &format!("k{i}"), &i.to_string()).await?;
    }
    publish(&ch, &x, "k500", "none").await?;
    expect_bodies(&ch, &q, &["0", "250", "499"]).await
}

async fn many_consumers_on_one_queue(ctx: Ctx) -> CaseResult {
    let conn = ctx.connect().await?;
    let ch = conn.create_channel().await.ctx("channel.open")?;
    let q = ctx.queue(&ch, "q").await?;
    let mut consumers = Vec::new();
    for _ in 0..50 {
        let c = conn.create_channel().await.ctx("channel.open")?;
        consumers.push((consume(&c, &q, true).await?, c));
    }
    for i in 0..50 {
        publish(&ch, "", &q, &i.to_string()).await?;
    }
    // Round-robin: every consumer gets exactly one.
    for (i, (c, _)) in consumers.iter_mut().enumerate() {
        next(c)
            .await
            .map_err(|p| Problem::Fail(format!("consumer {i}: {p}")))?;
    }
    Ok(())
}

async fn many_publishers_keep_their_order(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let mut tasks = Vec::new();
    for p in 0..8 {
        let conn = ctx.connect().await?;
        let q = q.clone();
        tasks.push(tokio::spawn(async move {
            let ch = conn.create_channel().await?;
            ch.confirm_select(ConfirmSelectOptions::default()).await?;
            for i in 0..200 {
                ch.basic_publish(
                    "".into(),
                    q.as_str().into(),
                    BasicPublishOptions::default(),
                    format!("{p}:{i}").as_bytes(),
                    BasicProperties::default(),
                )
                .await?;
            }
            ch.wait_for_confirms().await?;
            Ok::<_, lapin::Error>(())
        }));
    }
    for t in tasks {
        t.await.ctx("publisher task")?.ctx("publisher")?;
    }
    let got = drain(&ch, &q).await?;
    ensure_eq!(got.len(), 1600, "message count");
    let mut last = [-1i64; 8];
    for m in &got {
        let (p, i) = m.split_once(':').ok_or("bad body")?;
        let (p, i): (usize, i64) = (
            p.parse().map_err(|_| "bad body")?,
            i.parse().map_err(|_| "bad body")?,
        );
        ensure!(
            i == last[p] + 1,
            "publisher {p}: message {i} came after {}",
            last[p]
        );
        last[p] = i;
    }
    Ok(())
}

async fn many_messages_fifo(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    for i in 0..2000 {
        publish(&ch, "", &q, &i.to_string()).await?;
    }
    let mut c = consume(&ch, &q, true).await?;
    for i in 0..2000 {
        let d = next(&mut c).await?;
        ensure_eq!(text(&d.data), i.to_string(), "message {i}");
    }
    Ok(())
}

async fn large_header_table(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let mut h = FieldTable::default();
    for i in 0..1000 {
        h.insert(
            format!("header-{i:04}").into(),
            AMQPValue::LongString(format!("value-{i}").into()),
        );
    }
    publish_props(
        &ch,
        "",
        &q,
        b"m",
        BasicProperties::default().with_headers(h.clone()),
    )
    .await?;
    let Some(m) = get(&ch, &q).await? else {
        fail!("no message")
    };
    ensure!(
        m.delivery.properties.headers().as_ref() == Some(&h),
        "1000-entry header table differs"
    );
    Ok(())
}

async fn long_string_header_100kb(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let big = "y".repeat(100_000);
    let h = table(&[("big", s(&big))]);
    publish_props(
        &ch,
        "",
        &q,
        b"m",
        BasicProperties::default().with_headers(h.clone()),
    )
    .await?;
    let Some(m) = get(&ch, &q).await? else {
        fail!("no message")
    };
    ensure!(
        m.delivery.properties.headers().as_ref() == Some(&h),
        "100 kB header value differs"
    );
    Ok(())
}

/// A field table using every RabbitMQ type tag, encoded by hand.
fn every_type_table() -> Vec<u8> {
    fn key(out: &mut Vec<u8>, k: &str, tag: u8) {
        out.push(k.len() as u8);
        out.extend_from_slice(k.as_bytes());
        out.push(tag);
    }
    let mut t = Vec::new();
    key(&mut t, "bool", b't');
    t.push(1);
    key(&mut t, "i8", b'b');
    t.push(0x80);
    key(&mut t, "u8", b'B');
    t.push(0xff);
    key(&mut t, "i16", b's');
    t.extend_from_slice(&(-2i16).to_be_bytes());
    key(&mut t, "u16", b'u');
    t.extend_from_slice(&65535u16.to_be_bytes());
    key(&mut t, "i32", b'I');
    t.extend_from_slice(&(-3i32).to_be_bytes());
    key(&mut t, "u32", b'i');
    t.extend_from_slice(&4_000_000_000u32.to_be_bytes());
    key(&mut t, "i64", b'l');
    t.extend_from_slice(&(-5i64).to_be_bytes());
    key(&mut t, "f32", b'f');
    t.extend_from_slice(&1.5f32.to_be_bytes());
    key(&mut t, "f64", b'd');
    t.extend_from_slice(&(-2.25f64).to_be_bytes());
    key(&mut t, "decimal", b'D');
    t.push(2);
    t.extend_from_slice(&(-12345i32).to_be_bytes());
    key(&mut t, "longstr", b'S');
    t.extend_from_slice(&5u32.to_be_bytes());
    t.extend_from_slice(b"h\0llo");
    key(&mut t, "array", b'A');
    let mut arr = vec![b'I'];
    arr.extend_from_slice(&7i32.to_be_bytes());
    arr.push(b'S');
    arr.extend_from_slice(&1u32.to_be_bytes());
    arr.push(b'z');
    arr.push(b'V');
    t.extend_from_slice(&(arr.len() as u32).to_be_bytes());
    t.extend_from_slice(&arr);
    key(&mut t, "timestamp", b'T');
    t.extend_from_slice(&1_700_000_000u64.to_be_bytes());
    key(&mut t, "table", b'F');
    let mut inner = Vec::new();
    key(&mut inner, "x", b't');
    inner.push(0);
    t.extend_from_slice(&(inner.len() as u32).to_be_bytes());
    t.extend_from_slice(&inner);
    key(&mut t, "void", b'V');
    key(&mut t, "bytes", b'x');
    t.extend_from_slice(&3u32.to_be_bytes());
    t.extend_from_slice(&[0, 1, 255]);
    let mut out = (t.len() as u32).to_be_bytes().to_vec();
    out.extend(t);
    out
}

async fn all_field_table_types_roundtrip_bytes(ctx: Ctx) -> CaseResult {
    let (mut c, q) = raw_with_queue(&ctx, None).await?;
    let tbl = every_type_table();
    let mut bytes = crate::raw::encode_frame(&crate::raw::method_frame(
        1,
        AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish {
            exchange: "".into(),
            routing_key: q.as_str().into(),
            mandatory: false,
            immediate: false,
        })),
    ))?;
    let header = crate::raw::header_payload_with_raw_headers(1, &tbl);
    bytes.extend(
        RawFrame {
            frame_type: FRAME_HEADER,
            channel: 1,
            payload: header.clone(),
        }
        .to_bytes(),
    );
    bytes.extend(
        RawFrame {
            frame_type: crate::raw::FRAME_BODY,
            channel: 1,
            payload: b"m".to_vec(),
        }
        .to_bytes(),
    );
    c.send_bytes(&bytes).await?;
    c.send_method(1, get_method(&q)).await?;
    let m = c.recv_message(1).await?;
    ensure!(
        m.header_payload == header,
        "content header changed in transit:\n sent {:02x?}\n  got {:02x?}",
        header,
        m.header_payload
    );
    Ok(())
}

async fn nested_tables_and_arrays_roundtrip(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let inner = table(&[(
        "deep",
        AMQPValue::FieldArray(FieldArray::from(vec![
            int(1),
            s("two"),
            AMQPValue::FieldTable(table(&[("three", AMQPValue::Boolean(true))])),
        ])),
    )]);
    let h = table(&[
        ("outer", AMQPValue::FieldTable(inner)),
        (
            "list",
            AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::FieldArray(
                FieldArray::from(vec![long(-1)]),
            )])),
        ),
    ]);
    publish_props(
        &ch,
        "",
        &q,
        b"m",
        BasicProperties::default().with_headers(h.clone()),
    )
    .await?;
    let Some(m) = get(&ch, &q).await? else {
        fail!("no message")
    };
    ensure_eq!(
        m.delivery.properties.headers().clone(),
        Some(h),
        "nested headers"
    );
    Ok(())
}
