//! queue.declare / bind / unbind / purge / delete: server-named queues,
//! equivalence, passive declares, reserved names, the empty queue name.

use lapin::options::*;
use lapin::types::{AMQPValue, DecimalValue, FieldTable};
use lapin::ExchangeKind;

use crate::runner::{Case, CaseResult};
use crate::support::*;

/// The cases of this file.
pub fn cases() -> Vec<Case> {
    crate::cases!("queue";
        server_named,
        server_named_names_are_unique,
        declare_ok_counts,
        redeclare_same_ok,
        redeclare_different_durable_406,
        redeclare_different_auto_delete_406,
        redeclare_different_args_406,
        redeclare_inequivalence_is_checked_before_argument_validity,
        redeclare_shows_structured_values_as_erlang_terms,
        passive_missing_404,
        passive_existing_reports_counts,
        passive_ignores_flags,
        delete_missing_ok,
        delete_returns_message_count,
        delete_if_empty_on_nonempty_406,
        delete_if_unused_with_consumer_406,
        purge_returns_count,
        purge_missing_404,
        purge_keeps_unacked,
        bind_missing_queue_404,
        bind_to_default_exchange_403,
        unbind_from_default_exchange_403,
        unbind_missing_ok,
        declare_amq_prefix_403,
        empty_name_means_last_declared,
        empty_name_without_declare_404,
        invalid_arg_type_406,
        delete_cancels_consumers,
        passive_nowait_missing_still_404,
        name_newlines_stripped,
        get_missing_queue_404,
    )
}

fn passive() -> QueueDeclareOptions {
    QueueDeclareOptions {
        passive: true,
        ..Default::default()
    }
}

async fn server_named(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .ctx("queue.declare with an empty name")?;
    let name = q.name().as_str().to_string();
    ensure!(
        name.starts_with("amq.gen-"),
        "server-named queue '{name}' does not start with amq.gen-"
    );
    publish(&ch, "", &name, "m").await?;
    expect_bodies(&ch, &name, &["m"]).await
}

async fn server_named_names_are_unique(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let mut names = std::collections::HashSet::new();
    for _ in 0..20 {
        let q = ch
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .ctx("queue.declare")?;
        ensure!(
            names.insert(q.name().as_str().to_string()),
            "duplicate server-generated name {}",
            q.name()
        );
    }
    Ok(())
}

async fn declare_ok_counts(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    for i in 0..3 {
        publish(&ch, "", &q, &i.to_string()).await?;
    }
    let ch2 = ctx.channel().await?;
    let _c = consume(&ch2, &q, false).await?;
    // The consumer takes the messages; wait until they are all unacked.
    eventually("messages delivered", WAIT, || async {
        Ok(message_count(&ch, &q).await? == 0)
    })
    .await?;
    let ok = ch
        .queue_declare(
            q.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .ctx("redeclare")?;
    ensure_eq!(
        ok.message_count(),
        0,
        "declare-ok message-count (ready only)"
    );
    ensure_eq!(ok.consumer_count(), 1, "declare-ok consumer-count");
    Ok(())
}

async fn redeclare_same_ok(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let args = table(&[("x-message-ttl", int(60000))]);
    let q = ctx
        .queue_with(&ch, "q", QueueDeclareOptions::default(), args.clone())
        .await?;
    ch.queue_declare(q.as_str().into(), QueueDeclareOptions::default(), args)
        .await
        .ctx("identical redeclare")
        .map(|_| ())
}

async fn redeclare_mismatch(
    ctx: &Ctx,
    opts: QueueDeclareOptions,
    args1: FieldTable,
    args2: FieldTable,
) -> CaseResult {
    let (conn, ch) = ctx.conn_channel().await?;
    let q = ctx
        .queue_with(&ch, "q", QueueDeclareOptions::default(), args1)
        .await?;
    let res = ch.queue_declare(q.as_str().into(), opts, args2).await;
    expect_code_text(
        res,
        406,
        "PRECONDITION_FAILED - inequivalent arg",
        "redeclare with different properties",
    )?;
    let ch2 = conn.create_channel().await.ctx("channel.open after 406")?;
    ch2.queue_declare(q.as_str().into(), passive(), FieldTable::default())
        .await
        .ctx("queue still exists")
        .map(|_| ())
}

async fn redeclare_different_durable_406(ctx: Ctx) -> CaseResult {
    let o = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    redeclare_mismatch(&ctx, o, FieldTable::default(), FieldTable::default()).await
}

async fn redeclare_different_auto_delete_406(ctx: Ctx) -> CaseResult {
    let o = QueueDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    redeclare_mismatch(&ctx, o, FieldTable::default(), FieldTable::default()).await
}

async fn redeclare_different_args_406(ctx: Ctx) -> CaseResult {
    redeclare_mismatch(
        &ctx,
        QueueDeclareOptions::default(),
        table(&[("x-message-ttl", int(1000))]),
        table(&[("x-message-ttl", int(2000))]),
    )
    .await
}

/// Redeclares a fresh plain queue with `x-dead-letter-exchange` set to `value`: RabbitMQ's
/// inequivalence error must show it as `shown`.
async fn redeclare_with_dlx(ctx: &Ctx, value: AMQPValue, shown: &str) -> CaseResult {
    let ch = ctx.channel().await?;
    let none = FieldTable::default();
    let q = ctx
        .queue_with(&ch, "q", QueueDeclareOptions::default(), none)
        .await?;
    let args = table(&[("x-dead-letter-exchange", value)]);
    let res = ch
        .queue_declare(q.as_str().into(), QueueDeclareOptions::default(), args)
        .await;
    let text = format!(
        "PRECONDITION_FAILED - inequivalent arg 'x-dead-letter-exchange' for queue '{q}' in vhost '/': received the value {shown} but current is none"
    );
    expect_code_text(res, 406, &text, shown)
}

/// On an existing queue RabbitMQ compares the arguments before it validates them: an
/// argument of a type the queue would refuse is reported as inequivalent.
async fn redeclare_inequivalence_is_checked_before_argument_validity(ctx: Ctx) -> CaseResult {
    redeclare_with_dlx(&ctx, AMQPValue::Boolean(true), "'true' of type 'bool'").await
}

/// Arrays, tables, decimals and void read as the Erlang terms RabbitMQ holds for them.
async fn redeclare_shows_structured_values_as_erlang_terms(ctx: Ctx) -> CaseResult {
    let array = AMQPValue::FieldArray(vec![int(1), s("a")].into());
    let nested = AMQPValue::FieldTable(table(&[("k", int(1))]));
    let decimal = AMQPValue::DecimalValue(DecimalValue {
        scale: 1,
        value: 15,
    });
    for (value, shown) in [
        (
            array,
            r#"'[{signedint,1},{longstr,<<"a">>}]' of type 'array'"#,
        ),
        (nested, r#"'[{<<"k">>,signedint,1}]' of type 'table'"#),
        (decimal, "'{1,15}' of type 'decimal'"),
        (AMQPValue::Void, "'undefined' of type 'void'"),
    ] {
        redeclare_with_dlx(&ctx, value, shown).await?;
    }
    Ok(())
}

async fn passive_missing_404(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let res = ch
        .queue_declare(
            ctx.name("missing").as_str().into(),
            passive(),
            FieldTable::default(),
        )
        .await;
    expect_code_text(
        res,
        404,
        "NOT_FOUND - no queue",
        "passive declare of a missing queue",
    )
}

async fn passive_existing_reports_counts(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "a").await?;
    publish(&ch, "", &q, "b").await?;
    wait_count(&ch, &q, 2).await?;
    let ok = ch
        .queue_declare(q.as_str().into(), passive(), FieldTable::default())
        .await
        .ctx("passive declare")?;
    ensure_eq!(ok.message_count(), 2, "message-count");
    ensure_eq!(ok.consumer_count(), 0, "consumer-count");
    ensure_eq!(ok.name().as_str(), q.as_str(), "queue name in declare-ok");
    Ok(())
}

async fn passive_ignores_flags(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let opts = QueueDeclareOptions {
        passive: true,
        durable: true,
        auto_delete: true,
        ..Default::default()
    };
    ch.queue_declare(q.as_str().into(), opts, table(&[("x-message-ttl", int(5))]))
        .await
        .ctx("passive declare with different flags/args")
        .map(|_| ())
}

async fn delete_missing_ok(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let n = ch
        .queue_delete(
            ctx.name("missing").as_str().into(),
            QueueDeleteOptions::default(),
        )
        .await
        .ctx("queue.delete of a missing queue")?;
    ensure_eq!(n, 0, "delete-ok message-count");
    Ok(())
}

async fn delete_returns_message_count(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    for i in 0..4 {
        publish(&ch, "", &q, &i.to_string()).await?;
    }
    let n = ch
        .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await
        .ctx("queue.delete")?;
    ensure_eq!(n, 4, "delete-ok message-count");
    ensure!(!ctx.queue_exists(&q).await?, "queue still exists");
    Ok(())
}

async fn delete_if_empty_on_nonempty_406(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "m").await?;
    let res = ch
        .queue_delete(
            q.as_str().into(),
            QueueDeleteOptions {
                if_empty: true,
                ..Default::default()
            },
        )
        .await;
    expect_code_text(res, 406, "PRECONDITION_FAILED", "queue.delete if-empty")?;
    ensure!(ctx.queue_exists(&q).await?, "queue deleted despite 406");
    Ok(())
}

async fn delete_if_unused_with_consumer_406(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let _c = consume(&ch, &q, false).await?;
    let ch2 = ctx.channel().await?;
    let res = ch2
        .queue_delete(
            q.as_str().into(),
            QueueDeleteOptions {
                if_unused: true,
                ..Default::default()
            },
        )
        .await;
    expect_code_text(res, 406, "PRECONDITION_FAILED", "queue.delete if-unused")
}

async fn purge_returns_count(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    for i in 0..5 {
        publish(&ch, "", &q, &i.to_string()).await?;
    }
    let n = ch
        .queue_purge(q.as_str().into(), QueuePurgeOptions::default())
        .await
        .ctx("queue.purge")?;
    ensure_eq!(n, 5, "purge-ok message-count");
    expect_bodies(&ch, &q, &[]).await
}

async fn purge_missing_404(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let res = ch
        .queue_purge(
            ctx.name("missing").as_str().into(),
            QueuePurgeOptions::default(),
        )
        .await;
    expect_code(res, 404, "queue.purge of a missing queue")
}

async fn purge_keeps_unacked(ctx: Ctx) -> CaseResult {
    let conn = ctx.connect().await?;
    let ch = conn.create_channel().await.ctx("channel.open")?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "unacked").await?;
    publish(&ch, "", &q, "ready").await?;
    let got = get_manual(&ch, &q).await?;
    ensure!(got.is_some(), "basic.get returned nothing");
    let n = ch
        .queue_purge(q.as_str().into(), QueuePurgeOptions::default())
        .await
        .ctx("queue.purge")?;
    ensure_eq!(n, 1, "purge count (ready messages only)");
    ch.close(200, "bye".into()).await.ctx("channel.close")?;
    let ch2 = conn.create_channel().await.ctx("channel.open")?;
    expect_bodies(&ch2, &q, &["unacked"]).await
}

async fn bind_missing_queue_404(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let res = ch
        .queue_bind(
            ctx.name("missing").as_str().into(),
            "amq.direct".into(),
            "k".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await;
    expect_code_text(
        res,
        404,
        "NOT_FOUND - no queue",
        "queue.bind of a missing queue",
    )
}

async fn bind_to_default_exchange_403(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let res = ch
        .queue_bind(
            q.as_str().into(),
            "".into(),
            "k".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await;
    expect_code_text(
        res,
        403,
        "ACCESS_REFUSED",
        "queue.bind to the default exchange",
    )
}

async fn unbind_from_default_exchange_403(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let res = ch
        .queue_unbind(
            q.as_str().into(),
            "".into(),
            q.as_str().into(),
            FieldTable::default(),
        )
        .await;
    expect_code(res, 403, "queue.unbind from the default exchange")
}

async fn unbind_missing_ok(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    ch.queue_unbind(
        q.as_str().into(),
        "amq.direct".into(),
        "nope".into(),
        FieldTable::default(),
    )
    .await
    .ctx("queue.unbind of a missing binding")
}

async fn declare_amq_prefix_403(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let res = ch
        .queue_declare(
            format!("amq.{}", ctx.name("q")).as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await;
    expect_code_text(res, 403, "ACCESS_REFUSED", "queue.declare amq.*")
}

async fn empty_name_means_last_declared(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Fanout).await?;
    let q = ctx.queue(&ch, "q").await?;
    // queue "" = the last queue declared on this channel.
    bind(&ch, "", &x, "").await?;
    publish(&ch, &x, "", "m").await?;
    let n = ch
        .queue_purge("".into(), QueuePurgeOptions::default())
        .await
        .ctx("queue.purge ''")?;
    ensure_eq!(n, 1, "purge '' count");
    publish(&ch, &x, "", "m2").await?;
    expect_bodies(&ch, &q, &["m2"]).await
}

async fn empty_name_without_declare_404(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let res = ch
        .queue_bind(
            "".into(),
            "amq.fanout".into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await;
    expect_code_text(
        res,
        404,
        "NOT_FOUND - no previously declared queue",
        "queue.bind '' on a fresh channel",
    )
}

async fn invalid_arg_type_406(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let name = ctx.name("q");
    ctx.track_queue(&name);
    let res = ch
        .queue_declare(
            name.as_str().into(),
            QueueDeclareOptions::default(),
            table(&[("x-message-ttl", s("soon"))]),
        )
        .await;
    expect_code_text(
        res,
        406,
        "PRECONDITION_FAILED - invalid arg 'x-message-ttl'",
        "x-message-ttl as a string",
    )
}

async fn delete_cancels_consumers(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let mut c = consume(&ch, &q, false).await?;
    let ch2 = ctx.channel().await?;
    ch2.queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await
        .ctx("queue.delete")?;
    // consumer_cancel_notify: the server sends basic.cancel; lapin ends the stream.
    use futures_lite::StreamExt;
    match tokio::time::timeout(WAIT, c.next()).await {
        Ok(None) => Ok(()),
        Ok(Some(Ok(d))) => fail!("unexpected delivery {:?}", text(&d.data)),
        Ok(Some(Err(e))) => fail!("consumer error instead of a cancel: {e}"),
        Err(_) => fail!(
            "no basic.cancel within {}ms of the queue being deleted",
            WAIT.as_millis()
        ),
    }
}

async fn passive_nowait_missing_still_404(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    use lapin::protocol::{queue, AMQPClass};
    let q = ctx.name("missing");
    c.send_method(
        1,
        AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
            queue: q.as_str().into(),
            passive: true,
            durable: false,
            exclusive: false,
            auto_delete: false,
            nowait: true,
            arguments: FieldTable::default(),
        })),
    )
    .await?;
    super::errors::expect_soft(&mut c, 1, 404, &format!("NOT_FOUND - no queue '{q}'")).await
}

async fn name_newlines_stripped(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let clean = ctx.name("q");
    ctx.track_queue(&clean);
    let dirty = format!("{clean}\r\n");
    let ok = ch
        .queue_declare(
            dirty.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .ctx("queue.declare with CR LF")?;
    ensure_eq!(ok.name().as_str(), clean.as_str(), "declared name");
    // Routing keys are not cleaned: a key with a LF does not reach the queue.
    publish(&ch, "", &format!("{clean}\n"), "lf").await?;
    publish(&ch, "", &clean, "m").await?;
    expect_bodies(&ch, &clean, &["m"]).await
}

async fn get_missing_queue_404(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let res = ch
        .basic_get(
            ctx.name("missing").as_str().into(),
            BasicGetOptions::default(),
        )
        .await;
    expect_code_text(
        res.map(|_| ()),
        404,
        "NOT_FOUND - no queue",
        "basic.get of a missing queue",
    )
}
