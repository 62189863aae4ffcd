//! Headers-exchange routing: whether a message's headers satisfy a binding's arguments.
//!
//! This module owns the `x-match` semantics ([`headers_match`]), the bind-time validation of
//! `x-match` ([`validate_binding_args`]), and the value equality RabbitMQ applies between
//! binding values and header values. It follows `rabbit_exchange_type_headers` of RabbitMQ
//! 3.10 (checked against a RabbitMQ 3.10.8 broker):
//!
//! * `x-match` is `all` (the default, also used for any unrecognised value), `any`,
//!   `all-with-x` or `any-with-x`. The `x-match` key itself is never matched; other binding
//!   keys starting with `x-` are ignored by `all`/`any` and matched by the `-with-x` kinds.
//! * `all` with no binding keys left matches every message; `any` with none matches nothing.
//! * A binding value of type void matches on presence of the header alone.
//! * Other values compare with Erlang's `==` on RabbitMQ's decoded terms: every integer type
//!   (and timestamps) and both float types compare numerically across types (`I32 1` equals
//!   `I64 1`, `u8 1`, timestamp 1 and double 1.0; the f32 nearest 0.1 is not the f64 0.1);
//!   long strings and byte arrays are both binaries and compare by bytes; booleans, decimals
//!   and void only equal themselves; a string never equals a number.
//! * Inside arrays and tables RabbitMQ keeps each value's type tag, so nested values must
//!   also have the same AMQP type (`[I32 1]` is not `[I64 1]`). An empty array equals an
//!   empty table (both are Erlang's `[]`). Tables compare in key order (RabbitMQ compares
//!   nested tables in wire order; decoded [`FieldTable`]s no longer have one).

mod equality;
#[cfg(test)]
mod routing_tests;
#[cfg(test)]
mod test_values;
mod x_match;

use amq_protocol::types::{AMQPValue, FieldTable};
use equality::erl_eq;
pub(crate) use x_match::validate_binding_args;
use x_match::MatchKind;

/// Does a message with `message_headers` match a headers-exchange binding with arguments
/// `binding_args`? `None` headers behave as an empty table.
pub(crate) fn headers_match(
    binding_args: &FieldTable,
    message_headers: Option<&FieldTable>,
) -> bool {
    let kind = MatchKind::of(binding_args);
    let mut any_matched = false;
    for (key, pattern) in binding_args.inner() {
        if !is_matched_key(key.as_str(), kind) {
            continue;
        }
        let header = message_headers.and_then(|h| h.inner().get(key.as_str()));
        let matched = header.is_some_and(|value| pattern_matches(pattern, value));
        match (matched, kind.is_any()) {
            (true, true) => return true,
            (false, false) => return false,
            (true, false) => any_matched = true,
            (false, true) => {}
        }
    }
    if kind.is_any() {
        any_matched
    } else {
        true
    }
}

/// Whether binding key `key` takes part in matching under `kind`.
fn is_matched_key(key: &str, kind: MatchKind) -> bool {
    key != "x-match" && (kind.with_x() || !key.starts_with("x-"))
}

/// A void binding value only asks for the header to be present.
fn pattern_matches(pattern: &AMQPValue, value: &AMQPValue) -> bool {
    matches!(pattern, AMQPValue::Void) || erl_eq(pattern, value, 0)
}
