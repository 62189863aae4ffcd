//! RabbitMQ's sample histories in the `*_details` of lengths and message stats: with
//! `msg_rates_age` and `lengths_age` (plus their `_incr`), each gets `samples`, `avg` and
//! `avg_rate`. The overview reads the node's history; single queues, exchanges and vhosts
//! are watched from the first request that asks (see `broker::watched`).

use super::Ctx;
use crate::broker::watched::Kind;
use crate::stats::{History, Series, Stat};
use serde_json::{json, Value};

const LENGTHS: [&str; 3] = ["messages", "messages_ready", "messages_unacknowledged"];

/// The overview's: the node's length rates in `queue_totals`, and samples when asked.
pub(crate) fn add_node(ctx: &Ctx, v: &mut Value) {
    let h = &ctx.broker.history;
    add_lengths(ctx, h, &mut v["queue_totals"]);
    add_rates(ctx, h, &mut v["message_stats"]);
}

/// One object's samples, when the request asks for them (`with_lengths` for the objects
/// that hold messages).
pub(crate) fn add_object(ctx: &Ctx, kind: Kind, vhost: &str, name: &str, v: &mut Value) {
    let (lengths, rates) = (age(ctx, "lengths_age"), age(ctx, "msg_rates_age"));
    if lengths.is_none() && rates.is_none() {
        return;
    }
    let h = ctx.broker.watched.history(&ctx.broker, kind, vhost, name);
    if kind != Kind::Exchange {
        add_lengths(ctx, &h, v);
    }
    add_rates(ctx, &h, &mut v["message_stats"]);
}

fn age(ctx: &Ctx, key: &str) -> Option<u64> {
    ctx.req.query(key).and_then(|a| a.parse::<u64>().ok())
}

fn incr(ctx: &Ctx, key: &str) -> u64 {
    age(ctx, key).unwrap_or(5)
}

/// `messages_details` and the like in `target` (made from the history's rates where the
/// object has none yet), with their samples if `lengths_age` is given.
fn add_lengths(ctx: &Ctx, h: &History, target: &mut Value) {
    let rates = h.length_rates();
    for (i, key) in LENGTHS.iter().enumerate() {
        let d = &mut target[format!("{key}_details")];
        if d.is_null() {
            *d = super::rate_json(rates[i]);
        }
        if let Some(a) = age(ctx, "lengths_age") {
            add_series(d, h.series(a, incr(ctx, "lengths_incr"), |s| s.lengths[i]));
        }
    }
}

/// Samples in each `*_details` of `stats`, if `msg_rates_age` is given.
fn add_rates(ctx: &Ctx, h: &History, stats: &mut Value) {
    let Some(a) = age(ctx, "msg_rates_age") else {
        return;
    };
    let Some(stats) = stats.as_object_mut() else {
        return;
    };
    for stat in Stat::ALL {
        if let Some(d) = stats.get_mut(&format!("{}_details", stat.name())) {
            let series = h.series(a, incr(ctx, "msg_rates_incr"), |s| s.counts[stat as usize]);
            add_series(d, series);
        }
    }
}

fn add_series(details: &mut Value, s: Series) {
    let samples: Vec<Value> = s
        .samples
        .iter()
        .map(|(t, v)| json!({"sample": v, "timestamp": t}))
        .collect();
    details["samples"] = Value::Array(samples);
    details["avg_rate"] = json!(s.avg_rate);
    details["avg"] = json!(s.avg);
}
