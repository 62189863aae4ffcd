//! Topic exchange matching, as RabbitMQ's trie does it: a routing key is
//! split on dots ("" has zero words, "." has two empty words), `*` matches
//! exactly one (possibly empty) word, `#` matches zero or more words.

use lapin::types::FieldTable;
use lapin::ExchangeKind;

use crate::runner::{Case, CaseResult};
use crate::support::*;

/// The cases of this group.
pub fn cases() -> Vec<Case> {
    crate::cases!("routing.topic";
        hash_matches_zero_words,
        hash_matches_one_word,
        hash_matches_many_words,
        hash_alone_matches_everything,
        hash_leading,
        hash_middle_matches_zero_words,
        hash_middle_matches_many_words,
        hash_hash,
        star_matches_exactly_one_word,
        star_does_not_match_zero_words,
        star_matches_empty_word,
        star_alone,
        star_star,
        star_hash,
        hash_star,
        empty_binding_matches_only_empty_key,
        exact_words_only,
        case_sensitive,
        many_dots,
        many_words,
        trailing_dot,
        leading_dot,
        wildcards_inside_words_are_literal,
        one_copy_for_overlapping_bindings,
        each_matching_queue_gets_a_copy,
        unbind_stops_matching,
        same_pattern_twice_is_one_binding,
    )
}

/// Bind one queue with `pattern`, publish every key in `keys` (body = key),
/// and expect exactly `matching` (in publish order) in the queue.
async fn check(ctx: &Ctx, patterns: &[&str], keys: &[&str], matching: &[&str]) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Topic).await?;
    let q = ctx.bound_queue(&ch, "q", &x, patterns).await?;
    for k in keys {
        publish(&ch, &x, k, &format!("<{k}>")).await?;
    }
    let expected: Vec<String> = matching.iter().map(|k| format!("<{k}>")).collect();
    let got = drain(&ch, &q).await?;
    ensure_eq!(
        got,
        expected,
        "keys routed by pattern(s) {patterns:?} (published {keys:?})"
    );
    Ok(())
}

async fn hash_matches_zero_words(ctx: Ctx) -> CaseResult {
    check(&ctx, &["a.#"], &["a", "b", "ab"], &["a"]).await
}

async fn hash_matches_one_word(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        &["a.#"],
        &["a.b", "b.a", "a.", "ba.b"],
        &["a.b", "a."],
    )
    .await
}

async fn hash_matches_many_words(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        &["a.#"],
        &["a.b.c", "a.b.c.d.e.f", "x.a.b"],
        &["a.b.c", "a.b.c.d.e.f"],
    )
    .await
}

async fn hash_alone_matches_everything(ctx: Ctx) -> CaseResult {
    let keys = ["", "a", "a.b.c", ".", "..", "#", "*"];
    check(&ctx, &["#"], &keys, &keys).await
}

async fn hash_leading(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        &["#.z"],
        &["z", "a.z", "a.b.z", "z.a", "az", ".z"],
        &["z", "a.z", "a.b.z", ".z"],
    )
    .await
}

async fn hash_middle_matches_zero_words(ctx: Ctx) -> CaseResult {
    check(&ctx, &["a.#.b"], &["a.b", "ab", "a"], &["a.b"]).await
}

async fn hash_middle_matches_many_words(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        &["a.#.b"],
        &[
            "a.x.b",
            "a.x.y.z.b",
            "a.b.b",
            "a.b.x",
            "b.x.a",
            "a.x.b.c",
            "a..b",
        ],
        &["a.x.b", "a.x.y.z.b", "a.b.b", "a..b"],
    )
    .await
}

async fn hash_hash(ctx: Ctx) -> CaseResult {
    let keys = ["", "a", "a.b", "a.b.c.d"];
    check(&ctx, &["#.#"], &keys, &keys).await
}

async fn star_matches_exactly_one_word(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        &["a.*"],
        &["a.b", "a", "a.b.c", "b.a", "a.bcd"],
        &["a.b", "a.bcd"],
    )
    .await
}

async fn star_does_not_match_zero_words(ctx: Ctx) -> CaseResult {
    check(&ctx, &["a.*.b"], &["a.b", "a.x.b", "a.x.y.b"], &["a.x.b"]).await
}

async fn star_matches_empty_word(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        &["a.*.b", "c.*"],
        &["a..b", "c.", "c"],
        &["a..b", "c."],
    )
    .await
}

async fn star_alone(ctx: Ctx) -> CaseResult {
    check(&ctx, &["*"], &["a", "", "a.b", ".", "abc"], &["a", "abc"]).await
}

async fn star_star(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        &["*.*"],
        &["a.b", ".", "a", "a.b.c", "", "a."],
        &["a.b", ".", "a."],
    )
    .await
}

async fn star_hash(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        &["*.#"],
        &["a", "a.b", "a.b.c", ""],
        &["a", "a.b", "a.b.c"],
    )
    .await
}

async fn hash_star(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        &["#.*"],
        &["a", "a.b", "a.b.c", ""],
        &["a", "a.b", "a.b.c"],
    )
    .await
}

async fn empty_binding_matches_only_empty_key(ctx: Ctx) -> CaseResult {
    check(&ctx, &[""], &["", "a", ".", "#"], &[""]).await
}

async fn exact_words_only(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        &["a.b.c"],
        &["a.b.c", "a.b", "a.b.c.d", "x.a.b.c", "a.bc"],
        &["a.b.c"],
    )
    .await
}

async fn case_sensitive(ctx: Ctx) -> CaseResult {
    check(&ctx, &["a.B.*"], &["a.B.c", "A.B.c", "a.b.c"], &["a.B.c"]).await
}

async fn many_dots(ctx: Ctx) -> CaseResult {
    // "a.....b" is six words: a, four empty words, b.
    check(
        &ctx,
        &["a.*.*.*.*.b"],
        &["a.....b", "a....b", "a......b", "a.w.x.y.z.b"],
        &["a.....b", "a.w.x.y.z.b"],
    )
    .await?;
    check(&ctx, &["a.#.b"], &["a.....b", "....."], &["a.....b"]).await?;
    check(&ctx, &["a.*.b"], &["a.....b", "a..b"], &["a..b"]).await
}

async fn many_words(ctx: Ctx) -> CaseResult {
    // 120 one-letter words: a 239-byte routing key.
    let words: Vec<String> = (0..120)
        .map(|i| ((b'a' + (i % 26) as u8) as char).to_string())
        .collect();
    let key = words.join(".");
    let last = words[119].clone();
    let hash_pattern = format!("a.#.{last}");
    let mut stars = vec!["*"; 120];
    stars[0] = "a";
    let star_pattern = stars.join(".");
    let shorter = words[..119].join(".");
    check(
        &ctx,
        &[hash_pattern.as_str()],
        &[key.as_str(), shorter.as_str()],
        &[key.as_str()],
    )
    .await?;
    check(
        &ctx,
        &[star_pattern.as_str()],
        &[key.as_str(), shorter.as_str()],
        &[key.as_str()],
    )
    .await
}

async fn trailing_dot(ctx: Ctx) -> CaseResult {
    check(&ctx, &["a.b.*"], &["a.b.", "a.b", "a.b.."], &["a.b."]).await
}

async fn leading_dot(ctx: Ctx) -> CaseResult {
    check(&ctx, &["*.a"], &[".a", "a", "x.a", "..a"], &[".a", "x.a"]).await
}

async fn wildcards_inside_words_are_literal(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        &["a#", "b*.c"],
        &["a#", "ab", "a.b", "b*.c", "bx.c", "b.c"],
        &["a#", "b*.c"],
    )
    .await
}

async fn one_copy_for_overlapping_bindings(ctx: Ctx) -> CaseResult {
    check(
        &ctx,
        &["a.*", "*.b", "#", "a.b", "a.#"],
        &["a.b", "c.d"],
        &["a.b", "c.d"],
    )
    .await
}

async fn each_matching_queue_gets_a_copy(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Topic).await?;
    let q1 = ctx.bound_queue(&ch, "q1", &x, &["stock.*"]).await?;
    let q2 = ctx.bound_queue(&ch, "q2", &x, &["#.nyse"]).await?;
    let q3 = ctx.bound_queue(&ch, "q3", &x, &["fx.#"]).await?;
    publish(&ch, &x, "stock.nyse", "m").await?;
    expect_bodies(&ch, &q1, &["m"]).await?;
    expect_bodies(&ch, &q2, &["m"]).await?;
    expect_bodies(&ch, &q3, &[]).await
}

async fn unbind_stops_matching(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Topic).await?;
    let q = ctx.bound_queue(&ch, "q", &x, &["a.#", "#.b"]).await?;
    ch.queue_unbind(
        q.as_str().into(),
        x.as_str().into(),
        "a.#".into(),
        FieldTable::default(),
    )
    .await
    .ctx("queue.unbind")?;
    publish(&ch, &x, "a.x", "1").await?;
    publish(&ch, &x, "x.b", "2").await?;
    expect_bodies(&ch, &q, &["2"]).await
}

async fn same_pattern_twice_is_one_binding(ctx: Ctx) -> CaseResult {
    let ch = ctx.channel().await?;
    let x = ctx.exchange(&ch, "x", ExchangeKind::Topic).await?;
    let q = ctx.bound_queue(&ch, "q", &x, &["a.*", "a.*"]).await?;
    // One unbind removes the (single) binding.
    ch.queue_unbind(
        q.as_str().into(),
        x.as_str().into(),
        "a.*".into(),
        FieldTable::default(),
    )
    .await
    .ctx("queue.unbind")?;
    publish(&ch, &x, "a.b", "1").await?;
    expect_bodies(&ch, &q, &[]).await
}
