//! Direct, fanout and default exchanges, exchange-to-exchange bindings,
//! alternate exchanges, sender-selected distribution (CC/BCC).

use lapin::options::*;
use lapin::types::{AMQPValue, FieldArray, FieldTable};
use lapin::{BasicProperties, ExchangeKind};

use crate::runner::{Case, CaseResult};
use crate::support::*;

/// The cases of this group.
pub fn cases() -> Vec<Case> {
    crate::cases!("routing";
        direct_exact_match_only,
        direct_case_sensitive,
        direct_same_key_many_queues,
        direct_many_keys_one_copy,
        direct_empty_key,
        fanout_ignores_routing_key,
        fanout_every_queue_once,
        default_exchange_routes_by_queue_name,
        default_exchange_unknown_queue_dropped,
        amq_direct_predeclared_routes,
        e2e_chain,
        e2e_chain_of_three,
        e2e_cycle_one_copy_per_queue,
        e2e_diamond_one_copy_per_queue,
        e2e_topic_filter,
        e2e_unbind_stops,
        e2e_self_binding,
        ae_receives_unroutable,
        ae_not_used_when_routable,
        ae_chain,
        ae_cycle_terminates,
        ae_counts_as_routed_for_mandatory,
        ae_missing_means_unroutable,
        ae_keeps_routing_key,
        cc_adds_routing_keys,
        bcc_routes_and_is_stripped,
        cc_on_topic_exchange,
        cc_header_is_kept,
        cc_one_copy_when_keys_overlap,
        amq_default_is_not_an_alias,
        e2e_counts_as_routed_for_mandatory,
    )
}

async fn direct_exact_match_only(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Direct).await?;
    let q = ctx.bound_queue(&ch, "q", &x, &["key"]).await?;
    for k in ["key", "key.", "ke", "keys", "key.x", " key"] {
        publish(&ch, &x, k, k).await?;
    }
    expect_bodies(&ch, &q, &["key"]).await
}

async fn direct_case_sensitive(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Direct).await?;
    let q = ctx.bound_queue(&ch, "q", &x, &["Key"]).await?;
    publish(&ch, &x, "key", "lower").await?;
    publish(&ch, &x, "Key", "exact").await?;
    publish(&ch, &x, "KEY", "upper").await?;
    expect_bodies(&ch, &q, &["exact"]).await
}

async fn direct_same_key_many_queues(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Direct).await?;
    let q1 = ctx.bound_queue(&ch, "q1", &x, &["k"]).await?;
    let q2 = ctx.bound_queue(&ch, "q2", &x, &["k"]).await?;
    let q3 = ctx.bound_queue(&ch, "q3", &x, &["other"]).await?;
    publish(&ch, &x, "k", "m").await?;
    expect_bodies(&ch, &q1, &["m"]).await?;
    expect_bodies(&ch, &q2, &["m"]).await?;
    expect_bodies(&ch, &q3, &[]).await
}

async fn direct_many_keys_one_copy(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Direct).await?;
    let q = ctx.bound_queue(&ch, "q", &x, &["a", "b", "a"]).await?;
    publish(&ch, &x, "a", "1").await?;
    publish(&ch, &x, "b", "2").await?;
    expect_bodies(&ch, &q, &["1", "2"]).await
}

async fn direct_empty_key(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Direct).await?;
    let q = ctx.bound_queue(&ch, "q", &x, &[""]).await?;
    publish(&ch, &x, "", "empty").await?;
    publish(&ch, &x, "a", "a").await?;
    expect_bodies(&ch, &q, &["empty"]).await
}

async fn fanout_ignores_routing_key(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Fanout).await?;
    let q = ctx.bound_queue(&ch, "q", &x, &["bound-key"]).await?;
    publish(&ch, &x, "other", "1").await?;
    publish(&ch, &x, "", "2").await?;
    expect_bodies(&ch, &q, &["1", "2"]).await
}

async fn fanout_every_queue_once(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Fanout).await?;
    let q1 = ctx.bound_queue(&ch, "q1", &x, &["a", "b"]).await?;
    let q2 = ctx.bound_queue(&ch, "q2", &x, &[""]).await?;
    publish(&ch, &x, "zzz", "m").await?;
    expect_bodies(&ch, &q1, &["m"]).await?;
    expect_bodies(&ch, &q2, &["m"]).await
}

async fn default_exchange_routes_by_queue_name(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &q, "m").await?;
    expect_bodies(&ch, &q, &["m"]).await
}

async fn default_exchange_unknown_queue_dropped(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    publish(&ch, "", &format!("{q}-nope"), "m").await?;
    // The channel is still fine and the queue got nothing.
    expect_bodies(&ch, &q, &[]).await
}

async fn amq_direct_predeclared_routes(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let q = ctx.queue(&ch, "q").await?;
    bind(&ch, &q, "amq.direct", &q).await?;
    publish(&ch, "amq.direct", &q, "m").await?;
    expect_bodies(&ch, &q, &["m"]).await
}

async fn e2e_chain(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let src = ctx.exchange(&ch, "src", ExchangeKind::Direct).await?;
    let dst = ctx.exchange(&ch, "dst", ExchangeKind::Direct).await?;
    bind_exchange(&ch, &dst, &src, "k").await?;
    let q = ctx.bound_queue(&ch, "q", &dst, &["k"]).await?;
    publish(&ch, &src, "k", "via").await?;
    publish(&ch, &src, "other", "no").await?;
    expect_bodies(&ch, &q, &["via"]).await
}

async fn e2e_chain_of_three(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let a = ctx.exchange(&ch, "a", ExchangeKind::Fanout).await?;
    let b = ctx.exchange(&ch, "b", ExchangeKind::Topic).await?;
    let c = ctx.exchange(&ch, "c", ExchangeKind::Direct).await?;
    bind_exchange(&ch, &b, &a, "").await?;
    bind_exchange(&ch, &c, &b, "x.#").await?;
    let q = ctx.bound_queue(&ch, "q", &c, &["x.y"]).await?;
    publish(&ch, &a, "x.y", "1").await?;
    publish(&ch, &a, "x.z", "2").await?;
    publish(&ch, &a, "y.y", "3").await?;
    expect_bodies(&ch, &q, &["1"]).await
}

async fn e2e_cycle_one_copy_per_queue(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let a = ctx.exchange(&ch, "a", ExchangeKind::Fanout).await?;
    let b = ctx.exchange(&ch, "b", ExchangeKind::Fanout).await?;
    bind_exchange(&ch, &b, &a, "").await?;
    bind_exchange(&ch, &a, &b, "").await?;
    let qa = ctx.bound_queue(&ch, "qa", &a, &[""]).await?;
    let qb = ctx.bound_queue(&ch, "qb", &b, &[""]).await?;
    publish(&ch, &a, "", "1").await?;
    publish(&ch, &b, "", "2").await?;
    expect_bodies(&ch, &qa, &["1", "2"]).await?;
    expect_bodies(&ch, &qb, &["1", "2"]).await
}

async fn e2e_diamond_one_copy_per_queue(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let top = ctx.exchange(&ch, "top", ExchangeKind::Fanout).await?;
    let l = ctx.exchange(&ch, "l", ExchangeKind::Fanout).await?;
    let r = ctx.exchange(&ch, "r", ExchangeKind::Fanout).await?;
    bind_exchange(&ch, &l, &top, "").await?;
    bind_exchange(&ch, &r, &top, "").await?;
    let q = ctx.queue(&ch, "q").await?;
    bind(&ch, &q, &l, "").await?;
    bind(&ch, &q, &r, "").await?;
    bind(&ch, &q, &top, "").await?;
    publish(&ch, &top, "", "m").await?;
    expect_bodies(&ch, &q, &["m"]).await
}

async fn e2e_topic_filter(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let src = ctx.exchange(&ch, "src", ExchangeKind::Topic).await?;
    let dst = ctx.exchange(&ch, "dst", ExchangeKind::Fanout).await?;
    bind_exchange(&ch, &dst, &src, "logs.*.error").await?;
    let q = ctx.bound_queue(&ch, "q", &dst, &[""]).await?;
    publish(&ch, &src, "logs.web.error", "1").await?;
    publish(&ch, &src, "logs.web.info", "2").await?;
    publish(&ch, &src, "logs.error", "3").await?;
    expect_bodies(&ch, &q, &["1"]).await
}

async fn e2e_unbind_stops(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let src = ctx.exchange(&ch, "src", ExchangeKind::Fanout).await?;
    let dst = ctx.exchange(&ch, "dst", ExchangeKind::Fanout).await?;
    bind_exchange(&ch, &dst, &src, "").await?;
    let q = ctx.bound_queue(&ch, "q", &dst, &[""]).await?;
    publish(&ch, &src, "", "1").await?;
    ch.exchange_unbind(
        dst.as_str().into(),
        src.as_str().into(),
        "".into(),
        ExchangeUnbindOptions::default(),
        FieldTable::default(),
    )
    .await
    .ctx("exchange.unbind")?;
    publish(&ch, &src, "", "2").await?;
    expect_bodies(&ch, &q, &["1"]).await
}

async fn e2e_self_binding(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Fanout).await?;
    bind_exchange(&ch, &x, &x, "").await?;
    let q = ctx.bound_queue(&ch, "q", &x, &[""]).await?;
    publish(&ch, &x, "", "m").await?;
    expect_bodies(&ch, &q, &["m"]).await
}

async fn ae_exchange(
    ctx: &Ctx,
    ch: &lapin::Channel,
    tag: &str,
    ae: &str,
    kind: ExchangeKind,
) -> Result<String, crate::Problem> {
    ctx.exchange_with(
        ch,
        tag,
        kind,
        ExchangeDeclareOptions::default(),
        table(&[("alternate-exchange", s(ae))]),
    )
    .await
}

async fn ae_receives_unroutable(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let ae = ctx.exchange(&ch, "ae", ExchangeKind::Fanout).await?;
    let aq = ctx.bound_queue(&ch, "aq", &ae, &[""]).await?;
    let x = ae_exchange(&ctx, &ch, "x", &ae, ExchangeKind::Direct).await?;
    let q = ctx.bound_queue(&ch, "q", &x, &["k"]).await?;
    publish(&ch, &x, "k", "routed").await?;
    publish(&ch, &x, "nope", "unroutable").await?;
    expect_bodies(&ch, &q, &["routed"]).await?;
    expect_bodies(&ch, &aq, &["unroutable"]).await
}

async fn ae_not_used_when_routable(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let ae = ctx.exchange(&ch, "ae", ExchangeKind::Fanout).await?;
    let aq = ctx.bound_queue(&ch, "aq", &ae, &[""]).await?;
    let x = ae_exchange(&ctx, &ch, "x", &ae, ExchangeKind::Fanout).await?;
    let q = ctx.bound_queue(&ch, "q", &x, &[""]).await?;
    publish(&ch, &x, "any", "m").await?;
    expect_bodies(&ch, &q, &["m"]).await?;
    expect_bodies(&ch, &aq, &[]).await
}

async fn ae_chain(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let last = ctx.exchange(&ch, "last", ExchangeKind::Fanout).await?;
    let lq = ctx.bound_queue(&ch, "lq", &last, &[""]).await?;
    let mid = ae_exchange(&ctx, &ch, "mid", &last, ExchangeKind::Direct).await?;
    let mq = ctx.bound_queue(&ch, "mq", &mid, &["m"]).await?;
    let first = ae_exchange(&ctx, &ch, "first", &mid, ExchangeKind::Direct).await?;
    publish(&ch, &first, "m", "to-mid").await?;
    publish(&ch, &first, "z", "to-last").await?;
    expect_bodies(&ch, &mq, &["to-mid"]).await?;
    expect_bodies(&ch, &lq, &["to-last"]).await
}

async fn ae_cycle_terminates(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let a_name = ctx.name("a");
    let b_name = ctx.name("b");
    ctx.track_exchange(&a_name);
    ctx.track_exchange(&b_name);
    for (n, ae) in [(&a_name, &b_name), (&b_name, &a_name)] {
        ch.exchange_declare(
            n.as_str().into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions::default(),
            table(&[("alternate-exchange", s(ae))]),
        )
        .await
        .ctx("exchange.declare")?;
    }
    let q = ctx.bound_queue(&ch, "q", &b_name, &["b"]).await?;
    confirm_select(&ch).await?;
    let c = ch
        .basic_publish(
            a_name.as_str().into(),
            "nowhere".into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            b"lost",
            BasicProperties::default(),
        )
        .await
        .ctx("basic.publish")?
        .await
        .ctx("confirm")?;
    ensure!(
        c.is_ack(),
        "unroutable publish through an AE cycle: expected ack, got {c:?}"
    );
    let returned = c.take_message();
    ensure!(
        returned.is_some(),
        "mandatory publish through an AE cycle: expected basic.return"
    );
    publish(&ch, &a_name, "b", "via-ae").await?;
    expect_bodies(&ch, &q, &["via-ae"]).await
}

async fn ae_counts_as_routed_for_mandatory(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let ae = ctx.exchange(&ch, "ae", ExchangeKind::Fanout).await?;
    let aq = ctx.bound_queue(&ch, "aq", &ae, &[""]).await?;
    let x = ae_exchange(&ctx, &ch, "x", &ae, ExchangeKind::Direct).await?;
    confirm_select(&ch).await?;
    let c = ch
        .basic_publish(
            x.as_str().into(),
            "nope".into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            b"m",
            BasicProperties::default(),
        )
        .await
        .ctx("basic.publish")?
        .await
        .ctx("confirm")?;
    ensure!(c.is_ack(), "expected ack, got {c:?}");
    ensure!(
        c.take_message().is_none(),
        "message routed via the AE was returned"
    );
    expect_bodies(&ch, &aq, &["m"]).await
}

async fn ae_missing_means_unroutable(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let ghost = ctx.name("ghost");
    let x = ae_exchange(&ctx, &ch, "x", &ghost, ExchangeKind::Direct).await?;
    confirm_select(&ch).await?;
    let c = ch
        .basic_publish(
            x.as_str().into(),
            "nope".into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            b"m",
            BasicProperties::default(),
        )
        .await
        .ctx("basic.publish")?
        .await
        .ctx("confirm")?;
    ensure!(c.is_ack(), "expected ack, got {c:?}");
    match c.take_message() {
        Some(r) => ensure_eq!(r.reply_code, 312, "basic.return reply code"),
        None => fail!("expected basic.return 312 NO_ROUTE (AE does not exist)"),
    }
    Ok(())
}

async fn ae_keeps_routing_key(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let ae = ctx.exchange(&ch, "ae", ExchangeKind::Topic).await?;
    let aq = ctx.bound_queue(&ch, "aq", &ae, &["orig.*"]).await?;
    let x = ae_exchange(&ctx, &ch, "x", &ae, ExchangeKind::Direct).await?;
    publish(&ch, &x, "orig.key", "m").await?;
    match get(&ch, &aq).await? {
        Some(m) => {
            ensure_eq!(m.delivery.routing_key.as_str(), "orig.key", "routing key");
            ensure_eq!(
                m.delivery.exchange.as_str(),
                x.as_str(),
                "exchange in get-ok"
            );
        }
        None => fail!("message not routed via the alternate exchange"),
    }
    Ok(())
}

fn cc(key: &str, keys: &[&str]) -> BasicProperties {
    let arr: Vec<AMQPValue> = keys.iter().map(|k| s(k)).collect();
    BasicProperties::default().with_headers(table(&[(
        key,
        AMQPValue::FieldArray(FieldArray::from(arr)),
    )]))
}

async fn cc_adds_routing_keys(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Direct).await?;
    let q1 = ctx.bound_queue(&ch, "q1", &x, &["main"]).await?;
    let q2 = ctx.bound_queue(&ch, "q2", &x, &["cc1"]).await?;
    let q3 = ctx.bound_queue(&ch, "q3", &x, &["cc2"]).await?;
    let q4 = ctx.bound_queue(&ch, "q4", &x, &["other"]).await?;
    publish_props(&ch, &x, "main", b"m", cc("CC", &["cc1", "cc2"])).await?;
    for q in [&q1, &q2, &q3] {
        expect_bodies(&ch, q, &["m"]).await?;
    }
    expect_bodies(&ch, &q4, &[]).await
}

async fn bcc_routes_and_is_stripped(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Direct).await?;
    let q1 = ctx.bound_queue(&ch, "q1", &x, &["main"]).await?;
    let q2 = ctx.bound_queue(&ch, "q2", &x, &["hidden"]).await?;
    publish_props(&ch, &x, "main", b"m", cc("BCC", &["hidden"])).await?;
    for q in [&q1, &q2] {
        match get(&ch, q).await? {
            None => fail!("queue {q} got nothing"),
            Some(m) => {
                let has_bcc = m
                    .delivery
                    .properties
                    .headers()
                    .as_ref()
                    .map(|h| h.contains_key("BCC"))
                    .unwrap_or(false);
                ensure!(!has_bcc, "BCC header was delivered to {q}");
            }
        }
    }
    Ok(())
}

async fn cc_on_topic_exchange(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Topic).await?;
    let q = ctx.bound_queue(&ch, "q", &x, &["audit.#"]).await?;
    publish_props(&ch, &x, "orders.new", b"m", cc("CC", &["audit.orders"])).await?;
    expect_bodies(&ch, &q, &["m"]).await
}

async fn cc_header_is_kept(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Direct).await?;
    let q = ctx.bound_queue(&ch, "q", &x, &["cc1"]).await?;
    publish_props(&ch, &x, "main", b"m", cc("CC", &["cc1"])).await?;
    let Some(m) = get(&ch, &q).await? else {
        fail!("message not routed by CC");
    };
    ensure_eq!(
        m.delivery.routing_key.as_str(),
        "main",
        "delivered routing key"
    );
    let h = m.delivery.properties.headers().clone().unwrap_or_default();
    let expected = AMQPValue::FieldArray(FieldArray::from(vec![s("cc1")]));
    ensure_eq!(
        h.inner().get("CC"),
        Some(&expected),
        "CC header on delivery"
    );
    Ok(())
}

async fn cc_one_copy_when_keys_overlap(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Direct).await?;
    let q = ctx.bound_queue(&ch, "q", &x, &["a", "b"]).await?;
    publish_props(&ch, &x, "a", b"m", cc("CC", &["a", "b"])).await?;
    expect_bodies(&ch, &q, &["m"]).await
}

async fn amq_default_is_not_an_alias(ctx: Ctx) -> CaseResult {
    let mut c = ctx.raw_ch1().await?;
    c.publish(
        1,
        "amq.default",
        "k",
        false,
        BasicProperties::default(),
        b"m",
    )
    .await?;
    super::errors::expect_soft(&mut c, 1, 404, "NOT_FOUND - no exchange 'amq.default'").await
}

async fn e2e_counts_as_routed_for_mandatory(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let src = ctx.exchange(&ch, "src", ExchangeKind::Direct).await?;
    let dst = ctx.exchange(&ch, "dst", ExchangeKind::Fanout).await?;
    bind_exchange(&ch, &dst, &src, "k").await?;
    let q = ctx.bound_queue(&ch, "q", &dst, &[""]).await?;
    confirm_select(&ch).await?;
    let c = ch
        .basic_publish(
            src.as_str().into(),
            "k".into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            b"m",
            BasicProperties::default(),
        )
        .await
        .ctx("basic.publish")?
        .await
        .ctx("confirm")?;
    ensure!(c.is_ack(), "expected ack, got {c:?}");
    ensure!(
        c.take_message().is_none(),
        "message routed through an e2e binding was returned"
    );
    expect_bodies(&ch, &q, &["m"]).await
}
