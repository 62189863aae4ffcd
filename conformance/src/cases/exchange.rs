//! exchange.declare / delete / bind / unbind: types, equivalence, passive,
//! reserved names, the default exchange, predeclared exchanges.

use lapin::options::*;
use lapin::types::FieldTable;
use lapin::ExchangeKind;

use crate::runner::{Case, CaseResult};
use crate::support::*;

/// The cases of this file.
pub fn cases() -> Vec<Case> {
    crate::cases!("exchange";
        declare_each_type,
        declare_durable,
        redeclare_same_ok,
        redeclare_different_type_406,
        redeclare_different_durable_406,
        redeclare_different_auto_delete_406,
        redeclare_different_internal_406,
        passive_existing_ok,
        passive_missing_404,
        passive_ignores_type,
        delete_missing_ok,
        delete_if_unused_with_binding_406,
        delete_if_unused_without_bindings_ok,
        delete_removes_bindings,
        declare_amq_prefix_403,
        redeclare_amq_direct_ok,
        delete_amq_direct_403,
        declare_default_exchange_403,
        delete_default_exchange_403,
        predeclared_exchanges_exist,
        predeclared_types,
        bind_missing_source_404,
        bind_missing_destination_404,
        unbind_missing_binding_ok,
        declare_nowait,
        unknown_arguments_accepted,
        passive_default_exchange_403,
        declare_amq_default_403,
        name_newlines_stripped,
    )
}

fn passive() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions {
        passive: true,
        ..Default::default()
    }
}

async fn declare_each_type(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    for kind in [
        ExchangeKind::Direct,
        ExchangeKind::Fanout,
        ExchangeKind::Topic,
        ExchangeKind::Headers,
    ] {
        let x = ctx.exchange(&ch, "x", kind.clone()).await?;
        ch.exchange_declare(x.as_str().into(), kind, passive(), FieldTable::default())
            .await
            .ctx("passive exchange.declare")?;
    }
    Ok(())
}

async fn declare_durable(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let opts = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let x = ctx
        .exchange_with(&ch, "x", ExchangeKind::Fanout, opts, FieldTable::default())
        .await?;
    ch.exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default())
        .await
        .ctx("exchange.delete")?;
    ensure!(
        !ctx.exchange_exists(&x).await?,
        "exchange still exists after delete"
    );
    Ok(())
}

async fn redeclare_same_ok(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Topic).await?;
    ch.exchange_declare(
        x.as_str().into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .ctx("second identical exchange.declare")
}

async fn redeclare_mismatch(
    ctx: &Ctx,
    opts2: ExchangeDeclareOptions,
    kind2: ExchangeKind,
) -> CaseResult {
    let (conn, ch) = ctx.conn_channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Direct).await?;
    let res = ch
        .exchange_declare(x.as_str().into(), kind2, opts2, FieldTable::default())
        .await;
    expect_code_text(
        res,
        406,
        "PRECONDITION_FAILED - inequivalent arg",
        "redeclare with different properties",
    )?;
    // Soft error: the connection survives.
    let ch2 = conn.create_channel().await.ctx("channel.open after 406")?;
    ch2.exchange_declare(
        x.as_str().into(),
        ExchangeKind::Direct,
        passive(),
        FieldTable::default(),
    )
    .await
    .ctx("passive declare after 406")
}

async fn redeclare_different_type_406(ctx: Ctx) -> CaseResult {
    redeclare_mismatch(
        &ctx,
        ExchangeDeclareOptions::default(),
        ExchangeKind::Fanout,
    )
    .await
}

async fn redeclare_different_durable_406(ctx: Ctx) -> CaseResult {
    let o = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    redeclare_mismatch(&ctx, o, ExchangeKind::Direct).await
}

async fn redeclare_different_auto_delete_406(ctx: Ctx) -> CaseResult {
    let o = ExchangeDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    redeclare_mismatch(&ctx, o, ExchangeKind::Direct).await
}

async fn redeclare_different_internal_406(ctx: Ctx) -> CaseResult {
    let o = ExchangeDeclareOptions {
        internal: true,
        ..Default::default()
    };
    redeclare_mismatch(&ctx, o, ExchangeKind::Direct).await
}

async fn passive_existing_ok(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Fanout).await?;
    ch.exchange_declare(
        x.as_str().into(),
        ExchangeKind::Fanout,
        passive(),
        FieldTable::default(),
    )
    .await
    .ctx("passive exchange.declare")
}

async fn passive_missing_404(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let res = ch
        .exchange_declare(
            ctx.name("missing").as_str().into(),
            ExchangeKind::Direct,
            passive(),
            FieldTable::default(),
        )
        .await;
    expect_code_text(
        res,
        404,
        "NOT_FOUND - no exchange",
        "passive declare of a missing exchange",
    )
}

async fn passive_ignores_type(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Fanout).await?;
    let opts = ExchangeDeclareOptions {
        passive: true,
        durable: true,
        auto_delete: true,
        ..Default::default()
    };
    ch.exchange_declare(
        x.as_str().into(),
        ExchangeKind::Topic,
        opts,
        FieldTable::default(),
    )
    .await
    .ctx("passive declare with a different type and flags")
}

async fn delete_missing_ok(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    ch.exchange_delete(
        ctx.name("missing").as_str().into(),
        ExchangeDeleteOptions::default(),
    )
    .await
    .ctx("exchange.delete of a missing exchange")
}

async fn delete_if_unused_with_binding_406(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Direct).await?;
    ctx.bound_queue(&ch, "q", &x, &["k"]).await?;
    let res = ch
        .exchange_delete(
            x.as_str().into(),
            ExchangeDeleteOptions {
                if_unused: true,
                ..Default::default()
            },
        )
        .await;
    expect_code(res, 406, "exchange.delete if-unused with a binding")?;
    ensure!(
        ctx.exchange_exists(&x).await?,
        "exchange was deleted despite the 406"
    );
    Ok(())
}

async fn delete_if_unused_without_bindings_ok(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Direct).await?;
    ch.exchange_delete(
        x.as_str().into(),
        ExchangeDeleteOptions {
            if_unused: true,
            ..Default::default()
        },
    )
    .await
    .ctx("exchange.delete if-unused")?;
    ensure!(!ctx.exchange_exists(&x).await?, "exchange still exists");
    Ok(())
}

async fn delete_removes_bindings(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Fanout).await?;
    let q = ctx.bound_queue(&ch, "q", &x, &[""]).await?;
    ch.exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default())
        .await
        .ctx("exchange.delete")?;
    ch.exchange_declare(
        x.as_str().into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .ctx("exchange.declare again")?;
    publish(&ch, &x, "", "m").await?;
    expect_bodies(&ch, &q, &[]).await
}

async fn declare_amq_prefix_403(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let name = format!("amq.{}", ctx.name("x"));
    let res = ch
        .exchange_declare(
            name.as_str().into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await;
    expect_code_text(res, 403, "ACCESS_REFUSED", "declare an amq.* exchange")
}

async fn redeclare_amq_direct_ok(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let opts = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.exchange_declare(
        "amq.direct".into(),
        ExchangeKind::Direct,
        opts,
        FieldTable::default(),
    )
    .await
    .ctx("redeclare amq.direct with its own properties")
}

async fn delete_amq_direct_403(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let res = ch
        .exchange_delete("amq.direct".into(), ExchangeDeleteOptions::default())
        .await;
    expect_code(res, 403, "exchange.delete amq.direct")?;
    ensure!(
        ctx.exchange_exists("amq.direct").await?,
        "amq.direct is gone"
    );
    Ok(())
}

async fn declare_default_exchange_403(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let res = ch
        .exchange_declare(
            "".into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await;
    expect_code(res, 403, "exchange.declare of the default exchange")
}

async fn delete_default_exchange_403(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let res = ch
        .exchange_delete("".into(), ExchangeDeleteOptions::default())
        .await;
    expect_code(res, 403, "exchange.delete of the default exchange")
}

async fn predeclared_exchanges_exist(ctx: Ctx) -> CaseResult {
    for x in [
        "amq.direct",
        "amq.fanout",
        "amq.topic",
        "amq.headers",
        "amq.match",
        "amq.rabbitmq.trace",
    ] {
        ensure!(
            ctx.exchange_exists(x).await?,
            "predeclared exchange {x} missing"
        );
    }
    Ok(())
}

async fn predeclared_types(ctx: Ctx) -> CaseResult {
    // Redeclaring with the right type and durable=true is accepted; with
    // the wrong type it is a 406.
    let conn = ctx.connect().await?;
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    for (x, kind, wrong) in [
        ("amq.direct", ExchangeKind::Direct, ExchangeKind::Fanout),
        ("amq.fanout", ExchangeKind::Fanout, ExchangeKind::Direct),
        ("amq.topic", ExchangeKind::Topic, ExchangeKind::Direct),
        ("amq.headers", ExchangeKind::Headers, ExchangeKind::Topic),
        ("amq.match", ExchangeKind::Headers, ExchangeKind::Topic),
    ] {
        let ch = conn.create_channel().await.ctx("channel.open")?;
        ch.exchange_declare(x.into(), kind, durable, FieldTable::default())
            .await
            .ctx(&format!("redeclare {x}"))?;
        let res = ch
            .exchange_declare(x.into(), wrong, durable, FieldTable::default())
            .await;
        expect_code(res, 406, &format!("redeclare {x} with another type"))?;
    }
    Ok(())
}

async fn bind_missing_source_404(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    let res = ch
        .queue_bind(
            q.as_str().into(),
            ctx.name("nox").as_str().into(),
            "k".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await;
    expect_code_text(
        res,
        404,
        "NOT_FOUND - no exchange",
        "queue.bind to a missing exchange",
    )
}

async fn bind_missing_destination_404(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Fanout).await?;
    let res = ch
        .exchange_bind(
            ctx.name("nox").as_str().into(),
            x.as_str().into(),
            "".into(),
            ExchangeBindOptions::default(),
            FieldTable::default(),
        )
        .await;
    expect_code(res, 404, "exchange.bind with a missing destination")
}

async fn unbind_missing_binding_ok(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let a = ctx.exchange(&ch, "a", ExchangeKind::Fanout).await?;
    let b = ctx.exchange(&ch, "b", ExchangeKind::Fanout).await?;
    ch.exchange_unbind(
        b.as_str().into(),
        a.as_str().into(),
        "none".into(),
        ExchangeUnbindOptions::default(),
        FieldTable::default(),
    )
    .await
    .ctx("exchange.unbind of a missing binding")
}

async fn declare_nowait(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.name("x");
    ctx.track_exchange(&x);
    ch.exchange_declare(
        x.as_str().into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions {
            nowait: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .ctx("exchange.declare nowait")?;
    ch.exchange_declare(
        x.as_str().into(),
        ExchangeKind::Fanout,
        passive(),
        FieldTable::default(),
    )
    .await
    .ctx("passive declare after nowait declare")
}

async fn unknown_arguments_accepted(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    ctx.exchange_with(
        &ch,
        "x",
        ExchangeKind::Topic,
        ExchangeDeclareOptions::default(),
        table(&[("x-custom", s("v")), ("whatever", int(1))]),
    )
    .await
    .map(|_| ())
}

async fn passive_default_exchange_403(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let res = ch
        .exchange_declare(
            "".into(),
            ExchangeKind::Direct,
            passive(),
            FieldTable::default(),
        )
        .await;
    expect_code_text(
        res,
        403,
        "ACCESS_REFUSED - operation not permitted on the default exchange",
        "passive declare of ''",
    )
}

async fn declare_amq_default_403(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let res = ch
        .exchange_declare(
            "amq.default".into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await;
    expect_code_text(
        res,
        403,
        "ACCESS_REFUSED - exchange name 'amq.default' contains reserved prefix 'amq.*'",
        "declare amq.default",
    )
}

async fn name_newlines_stripped(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let clean = ctx.name("x");
    ctx.track_exchange(&clean);
    ch.exchange_declare(
        format!("{clean}\n").as_str().into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .ctx("exchange.declare with LF")?;
    ensure!(
        ctx.exchange_exists(&clean).await?,
        "exchange not found under its name without the LF"
    );
    Ok(())
}
