//! Headers exchange matching: `x-match` all (default) / any, binding keys
//! starting with `x-` ignored, a void binding value meaning "present",
//! values compared with their AMQP type.

use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, ExchangeKind};

use crate::runner::{Case, CaseResult};
use crate::support::*;

/// The cases of this group.
pub fn cases() -> Vec<Case> {
    crate::cases!("routing.headers";
        all_matches_when_every_key_matches,
        all_fails_when_a_key_is_missing,
        all_fails_when_a_value_differs,
        any_matches_when_one_key_matches,
        any_fails_when_no_key_matches,
        default_is_all,
        x_keys_in_binding_are_ignored_all,
        x_keys_in_binding_are_ignored_any,
        empty_binding_matches_everything,
        any_with_only_x_keys_matches_nothing,
        message_without_headers,
        extra_message_headers_ignored,
        type_mismatch_does_not_match,
        numbers_compare_by_value,
        float_widths_compare_by_value,
        void_binding_value_means_present,
        bool_values,
        routing_key_ignored,
        invalid_x_match_rejected,
        two_bindings_one_copy,
    )
}

fn hdrs(pairs: &[(&str, AMQPValue)]) -> BasicProperties {
    BasicProperties::default().with_headers(table(pairs))
}

/// Bind a queue with `args`, publish each message (body = label), expect the labels that match.
async fn check(
    ctx: &Ctx,
    args: FieldTable,
    messages: &[(&str, Option<BasicProperties>)],
    matching: &[&str],
) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Headers).await?;
    let q = ctx.queue(&ch, "q").await?;
    bind_args(&ch, &q, &x, "", args.clone()).await?;
    for (label, props) in messages {
        publish_props(
            &ch,
            &x,
            "",
            label.as_bytes(),
            props.clone().unwrap_or_default(),
        )
        .await?;
    }
    let got = drain(&ch, &q).await?;
    ensure_eq!(got, matching, "messages matching binding {args:?}");
    Ok(())
}

async fn all_matches_when_every_key_matches(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        table(&[("x-match", s("all")), ("a", s("1")), ("b", s("2"))]),
        &[("m", Some(hdrs(&[("a", s("1")), ("b", s("2"))])))],
        &["m"],
    )
    .await
}

async fn all_fails_when_a_key_is_missing(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        table(&[("x-match", s("all")), ("a", s("1")), ("b", s("2"))]),
        &[("m", Some(hdrs(&[("a", s("1"))])))],
        &[],
    )
    .await
}

async fn all_fails_when_a_value_differs(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        table(&[("x-match", s("all")), ("a", s("1")), ("b", s("2"))]),
        &[("m", Some(hdrs(&[("a", s("1")), ("b", s("3"))])))],
        &[],
    )
    .await
}

async fn any_matches_when_one_key_matches(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        table(&[("x-match", s("any")), ("a", s("1")), ("b", s("2"))]),
        &[
            ("only-a", Some(hdrs(&[("a", s("1"))]))),
            ("only-b", Some(hdrs(&[("b", s("2")), ("a", s("9"))]))),
            ("both", Some(hdrs(&[("a", s("1")), ("b", s("2"))]))),
        ],
        &["only-a", "only-b", "both"],
    )
    .await
}

async fn any_fails_when_no_key_matches(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        table(&[("x-match", s("any")), ("a", s("1")), ("b", s("2"))]),
        &[
            ("wrong", Some(hdrs(&[("a", s("2")), ("b", s("1"))]))),
            ("other", Some(hdrs(&[("c", s("1"))]))),
        ],
        &[],
    )
    .await
}

async fn default_is_all(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        table(&[("a", s("1")), ("b", s("2"))]),
        &[
            ("one", Some(hdrs(&[("a", s("1"))]))),
            ("both", Some(hdrs(&[("a", s("1")), ("b", s("2"))]))),
        ],
        &["both"],
    )
    .await
}

async fn x_keys_in_binding_are_ignored_all(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        table(&[("x-match", s("all")), ("x-foo", s("bar")), ("a", s("1"))]),
        &[
            ("no-x", Some(hdrs(&[("a", s("1"))]))),
            (
                "other-x",
                Some(hdrs(&[("a", s("1")), ("x-foo", s("nope"))])),
            ),
        ],
        &["no-x", "other-x"],
    )
    .await
}

async fn x_keys_in_binding_are_ignored_any(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        table(&[("x-match", s("any")), ("x-foo", s("bar")), ("a", s("1"))]),
        &[
            ("x-only", Some(hdrs(&[("x-foo", s("bar"))]))),
            ("a", Some(hdrs(&[("a", s("1"))]))),
        ],
        &["a"],
    )
    .await
}

async fn empty_binding_matches_everything(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        FieldTable::default(),
        &[("none", None), ("some", Some(hdrs(&[("a", s("1"))])))],
        &["none", "some"],
    )
    .await
}

async fn any_with_only_x_keys_matches_nothing(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        table(&[("x-match", s("any")), ("x-foo", s("bar"))]),
        &[
            ("none", None),
            ("x", Some(hdrs(&[("x-foo", s("bar"))]))),
            ("a", Some(hdrs(&[("a", s("1"))]))),
        ],
        &[],
    )
    .await
}

async fn message_without_headers(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        table(&[("x-match", s("any")), ("a", s("1"))]),
        &[("none", None), ("empty", Some(hdrs(&[])))],
        &[],
    )
    .await
}

async fn extra_message_headers_ignored(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        table(&[("a", s("1"))]),
        &[(
            "m",
            Some(hdrs(&[("a", s("1")), ("z", s("9")), ("y", int(3))])),
        )],
        &["m"],
    )
    .await
}

async fn type_mismatch_does_not_match(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        table(&[("x-match", s("any")), ("n", int(1))]),
        &[
            ("string", Some(hdrs(&[("n", s("1"))]))),
            ("int", Some(hdrs(&[("n", int(1))]))),
        ],
        &["int"],
    )
    .await
}

async fn numbers_compare_by_value(ctx: Ctx) -> CaseResult {
    // RabbitMQ compares numbers by value, whatever their width or type
    // (Erlang `==`: 7 == 7.0).
    check(
        &ctx,
        table(&[("x-match", s("any")), ("n", int(7))]),
        &[
            ("i64", Some(hdrs(&[("n", long(7))]))),
            ("i16", Some(hdrs(&[("n", AMQPValue::ShortInt(7))]))),
            ("u8", Some(hdrs(&[("n", AMQPValue::ShortShortUInt(7))]))),
            ("i32", Some(hdrs(&[("n", int(7))]))),
            ("i64-8", Some(hdrs(&[("n", long(8))]))),
            ("f64", Some(hdrs(&[("n", AMQPValue::Double(7.0))]))),
            ("f64-7.5", Some(hdrs(&[("n", AMQPValue::Double(7.5))]))),
        ],
        &["i64", "i16", "u8", "i32", "f64"],
    )
    .await
}

async fn float_widths_compare_by_value(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        table(&[("x-match", s("any")), ("f", AMQPValue::Double(1.5))]),
        &[
            ("f32", Some(hdrs(&[("f", AMQPValue::Float(1.5))]))),
            ("f64", Some(hdrs(&[("f", AMQPValue::Double(1.5))]))),
            ("other", Some(hdrs(&[("f", AMQPValue::Double(2.5))]))),
        ],
        &["f32", "f64"],
    )
    .await
}

async fn void_binding_value_means_present(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        table(&[("x-match", s("all")), ("k", AMQPValue::Void)]),
        &[
            ("str", Some(hdrs(&[("k", s("anything"))]))),
            ("int", Some(hdrs(&[("k", int(5))]))),
            ("absent", Some(hdrs(&[("j", s("x"))]))),
        ],
        &["str", "int"],
    )
    .await
}

async fn bool_values(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        table(&[("flag", AMQPValue::Boolean(true))]),
        &[
            ("t", Some(hdrs(&[("flag", AMQPValue::Boolean(true))]))),
            ("f", Some(hdrs(&[("flag", AMQPValue::Boolean(false))]))),
            ("s", Some(hdrs(&[("flag", s("true"))]))),
        ],
        &["t"],
    )
    .await
}

async fn routing_key_ignored(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Headers).await?;
    let q = ctx.queue(&ch, "q").await?;
    bind_args(&ch, &q, &x, "some-key", table(&[("a", s("1"))])).await?;
    publish_props(&ch, &x, "other-key", b"m", hdrs(&[("a", s("1"))])).await?;
    expect_bodies(&ch, &q, &["m"]).await
}

async fn invalid_x_match_rejected(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Headers).await?;
    let q = ctx.queue(&ch, "q").await?;
    let res = ch
        .queue_bind(
            q.as_str().into(),
            x.as_str().into(),
            "".into(),
            Default::default(),
            table(&[("x-match", s("some"))]),
        )
        .await;
    expect_code(res, 406, "queue.bind with x-match=some")
}

async fn two_bindings_one_copy(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Headers).await?;
    let q = ctx.queue(&ch, "q").await?;
    bind_args(&ch, &q, &x, "", table(&[("a", s("1"))])).await?;
    bind_args(&ch, &q, &x, "", table(&[("b", s("2"))])).await?;
    publish_props(&ch, &x, "", b"m", hdrs(&[("a", s("1")), ("b", s("2"))])).await?;
    expect_bodies(&ch, &q, &["m"]).await
}
