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

use crate::erlang::{
    binary_bytes, number, string_bytes, type_name, write_binary, write_pretty, Num,
};
use amq_protocol::types::{AMQPValue, FieldTable};

/// Nesting depth beyond which nested arrays/tables are treated as unequal (and printed as
/// `...`), so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 256;

/// The four `x-match` kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchKind {
    All,
    Any,
    AllWithX,
    AnyWithX,
}

impl MatchKind {
    fn parse(value: &[u8]) -> Option<MatchKind> {
        match value {
            b"all" => Some(MatchKind::All),
            b"any" => Some(MatchKind::Any),
            b"all-with-x" => Some(MatchKind::AllWithX),
            b"any-with-x" => Some(MatchKind::AnyWithX),
            _ => None,
        }
    }

    /// The kind a binding routes with: anything but a valid string value means `all`.
    fn of(args: &FieldTable) -> MatchKind {
        args.inner()
            .get("x-match")
            .and_then(string_bytes)
            .and_then(MatchKind::parse)
            .unwrap_or(MatchKind::All)
    }

    fn is_any(self) -> bool {
        matches!(self, MatchKind::Any | MatchKind::AnyWithX)
    }

    fn with_x(self) -> bool {
        matches!(self, MatchKind::AllWithX | MatchKind::AnyWithX)
    }
}

/// Does a message with `message_headers` match a headers-exchange binding with arguments
/// `binding_args`? `None` headers behave as an empty table.
pub fn headers_match(binding_args: &FieldTable, message_headers: Option<&FieldTable>) -> bool {
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

/// Checks a headers binding's `x-match` argument as RabbitMQ does at bind time. The error is
/// the detail text of RabbitMQ's 406 PRECONDITION_FAILED (without the `PRECONDITION_FAILED - `
/// prefix). Binary values are printed byte for byte as Erlang's `~tp` does, so a value that
/// is not valid UTF-8 comes back with replacement characters.
pub fn validate_binding_args(args: &FieldTable) -> Result<(), String> {
    let Some(value) = args.inner().get("x-match") else {
        return Ok(());
    };
    match string_bytes(value) {
        Some(bytes) if MatchKind::parse(bytes).is_some() => Ok(()),
        Some(bytes) => {
            let mut text = b"Invalid x-match field value ".to_vec();
            write_binary(&mut text, bytes);
            text.extend_from_slice(b"; expected all, any, all-with-x, or any-with-x");
            Err(String::from_utf8_lossy(&text).into_owned())
        }
        None => {
            let type_name = type_name(value);
            let mut text = format!("Invalid x-match field type {type_name} (value ").into_bytes();
            let column = text.len() + 1;
            write_pretty(&mut text, value, column);
            text.extend_from_slice(b"); expected longstr");
            Err(String::from_utf8_lossy(&text).into_owned())
        }
    }
}

// ---------------------------------------------------------------------------------------
// Values as RabbitMQ sees them
// ---------------------------------------------------------------------------------------

/// Erlang's `==` on numbers: exact, across integers and floats.
fn num_eq(a: Num, b: Num) -> bool {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x == y,
        (Num::Float(x), Num::Float(y)) => x == y,
        (Num::Int(i), Num::Float(f)) | (Num::Float(f), Num::Int(i)) => int_eq_float(i, f),
    }
}

fn int_eq_float(i: i128, f: f64) -> bool {
    // Every i128 we build fits in ±2^65, well inside the range where `as` is exact for
    // integral floats.
    f.is_finite() && f.fract() == 0.0 && f.abs() < 1e30 && f as i128 == i
}

/// Erlang's `==` between the terms RabbitMQ decodes `a` and `b` into.
fn erl_eq(a: &AMQPValue, b: &AMQPValue, depth: usize) -> bool {
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        return num_eq(x, y);
    }
    if let (Some(x), Some(y)) = (binary_bytes(a), binary_bytes(b)) {
        return x == y;
    }
    if depth >= MAX_DEPTH {
        return false;
    }
    match (a, b) {
        (AMQPValue::Boolean(x), AMQPValue::Boolean(y)) => x == y,
        (AMQPValue::DecimalValue(x), AMQPValue::DecimalValue(y)) => x == y,
        (AMQPValue::Void, AMQPValue::Void) => true,
        (AMQPValue::FieldArray(x), AMQPValue::FieldArray(y)) => {
            let (x, y) = (x.as_slice(), y.as_slice());
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| typed_eq(p, q, depth + 1))
        }
        (AMQPValue::FieldTable(x), AMQPValue::FieldTable(y)) => tables_eq(x, y, depth + 1),
        // Both are Erlang lists: only the empty ones are equal.
        (AMQPValue::FieldArray(x), AMQPValue::FieldTable(y))
        | (AMQPValue::FieldTable(y), AMQPValue::FieldArray(x)) => {
            x.as_slice().is_empty() && y.inner().is_empty()
        }
        _ => false,
    }
}

/// Equality of `{Type, Value}` pairs, as nested values are held.
fn typed_eq(a: &AMQPValue, b: &AMQPValue, depth: usize) -> bool {
    type_name(a) == type_name(b) && erl_eq(a, b, depth)
}

/// Equality of `[{Key, Type, Value}]` lists.
fn tables_eq(a: &FieldTable, b: &FieldTable, depth: usize) -> bool {
    let (a, b) = (a.inner(), b.inner());
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ka, va), (kb, vb))| ka == kb && typed_eq(va, vb, depth))
}

#[cfg(test)]
mod tests {
    use super::*;
    use amq_protocol::types::{ByteArray, DecimalValue, FieldArray, LongString};

    fn s(v: &str) -> AMQPValue {
        AMQPValue::LongString(LongString::from(v))
    }
    fn i32v(v: i32) -> AMQPValue {
        AMQPValue::LongInt(v)
    }
    fn i64v(v: i64) -> AMQPValue {
        AMQPValue::LongLongInt(v)
    }
    fn f64v(v: f64) -> AMQPValue {
        AMQPValue::Double(v)
    }
    fn f32v(v: f32) -> AMQPValue {
        AMQPValue::Float(v)
    }
    fn bytes(v: &[u8]) -> AMQPValue {
        AMQPValue::ByteArray(ByteArray::from(v))
    }
    fn dec(scale: u8, value: u32) -> AMQPValue {
        AMQPValue::DecimalValue(DecimalValue { scale, value })
    }
    fn arr(v: Vec<AMQPValue>) -> AMQPValue {
        AMQPValue::FieldArray(FieldArray::from(v))
    }
    fn tbl(entries: Vec<(&str, AMQPValue)>) -> FieldTable {
        let mut t = FieldTable::default();
        for (k, v) in entries {
            t.insert(k.into(), v);
        }
        t
    }
    fn tv(entries: Vec<(&str, AMQPValue)>) -> AMQPValue {
        AMQPValue::FieldTable(tbl(entries))
    }
    const V: AMQPValue = AMQPValue::Void;

    type Row = (
        Vec<(&'static str, AMQPValue)>,
        Option<Vec<(&'static str, AMQPValue)>>,
        bool,
    );

    /// (binding arguments, message headers, routed?). Every row was verified on RabbitMQ
    /// 3.10.8 by binding a queue to a headers exchange and publishing one message.
    fn table() -> Vec<Row> {
        vec![
            // no binding keys: all matches everything, any nothing
            (vec![], None, true),
            (vec![], Some(vec![]), true),
            (vec![], Some(vec![("a", s("1"))]), true),
            (vec![("x-match", s("all"))], None, true),
            (vec![("x-match", s("any"))], None, false),
            (
                vec![("x-match", s("any"))],
                Some(vec![("a", s("1"))]),
                false,
            ),
            (vec![("x-match", s("all-with-x"))], None, true),
            (
                vec![("x-match", s("any-with-x"))],
                Some(vec![("a", s("1"))]),
                false,
            ),
            (
                vec![("x-match", s("any"))],
                Some(vec![("x-match", s("any"))]),
                false,
            ),
            // all / any
            (vec![("a", s("1"))], Some(vec![("a", s("1"))]), true),
            (vec![("a", s("1"))], Some(vec![("a", s("2"))]), false),
            (vec![("a", s("1"))], None, false),
            (vec![("a", s("1"))], Some(vec![("b", s("1"))]), false),
            (
                vec![("a", s("1")), ("b", s("2"))],
                Some(vec![("a", s("1"))]),
                false,
            ),
            (
                vec![("a", s("1")), ("b", s("2"))],
                Some(vec![("a", s("1")), ("b", s("2")), ("c", s("3"))]),
                true,
            ),
            (
                vec![("x-match", s("any")), ("a", s("1")), ("b", s("2"))],
                Some(vec![("a", s("1"))]),
                true,
            ),
            (
                vec![("x-match", s("any")), ("a", s("1")), ("b", s("2"))],
                Some(vec![("a", s("3")), ("b", s("3"))]),
                false,
            ),
            // x- keys
            (vec![("x-foo", s("1"))], None, true),
            (vec![("x-foo", s("1"))], Some(vec![("x-foo", s("2"))]), true),
            (vec![("x-", s("1"))], Some(vec![]), true),
            (vec![("x", s("1"))], Some(vec![]), false),
            (
                vec![("X-foo", s("1"))],
                Some(vec![("X-foo", s("2"))]),
                false,
            ),
            (
                vec![("x-match", s("all-with-x")), ("x-foo", s("1"))],
                Some(vec![("x-foo", s("1"))]),
                true,
            ),
            (
                vec![("x-match", s("all-with-x")), ("x-foo", s("1"))],
                Some(vec![("x-foo", s("2"))]),
                false,
            ),
            (
                vec![("x-match", s("all-with-x")), ("x-foo", s("1"))],
                None,
                false,
            ),
            (
                vec![("x-match", s("all-with-x"))],
                Some(vec![("x-match", s("zzz"))]),
                true,
            ),
            (
                vec![("x-match", s("any")), ("x-foo", s("1"))],
                Some(vec![("x-foo", s("1"))]),
                false,
            ),
            (
                vec![("x-match", s("any-with-x")), ("x-foo", s("1"))],
                Some(vec![("x-foo", s("1"))]),
                true,
            ),
            (
                vec![
                    ("x-match", s("any-with-x")),
                    ("x-foo", s("1")),
                    ("a", s("1")),
                ],
                Some(vec![("a", s("1"))]),
                true,
            ),
            (
                vec![("x-match", s("any-with-x")), ("x-match2", s("1"))],
                Some(vec![("x-match", s("any-with-x"))]),
                false,
            ),
            (
                vec![("x-match", s("any")), ("x-foo", s("1")), ("a", s("2"))],
                Some(vec![("x-foo", s("1"))]),
                false,
            ),
            (
                vec![("x-match", s("all")), ("x-foo", s("1")), ("a", s("2"))],
                Some(vec![("a", s("2"))]),
                true,
            ),
            // void: presence only
            (vec![("a", V)], Some(vec![("a", s("x"))]), true),
            (vec![("a", V)], Some(vec![("a", V)]), true),
            (vec![("a", V)], Some(vec![("b", s("x"))]), false),
            (vec![("a", s("x"))], Some(vec![("a", V)]), false),
            (
                vec![("x-match", s("any")), ("a", V)],
                Some(vec![("a", i32v(7))]),
                true,
            ),
            (
                vec![("x-match", s("any")), ("a", s("1")), ("b", V)],
                Some(vec![("b", s("zz"))]),
                true,
            ),
            (
                vec![("a", V), ("b", V)],
                Some(vec![("b", s("zz")), ("a", i32v(3))]),
                true,
            ),
            // numbers compare across types, strings never equal numbers
            (vec![("a", s("1"))], Some(vec![("a", i32v(1))]), false),
            (vec![("a", i32v(1))], Some(vec![("a", s("1"))]), false),
            (vec![("a", i32v(1))], Some(vec![("a", i64v(1))]), true),
            (
                vec![("a", i32v(1))],
                Some(vec![("a", AMQPValue::ShortShortInt(1))]),
                true,
            ),
            (
                vec![("a", i32v(1))],
                Some(vec![("a", AMQPValue::ShortShortUInt(1))]),
                true,
            ),
            (
                vec![("a", i32v(1))],
                Some(vec![("a", AMQPValue::ShortInt(1))]),
                true,
            ),
            (
                vec![("a", i32v(1))],
                Some(vec![("a", AMQPValue::ShortUInt(1))]),
                true,
            ),
            (
                vec![("a", i32v(1))],
                Some(vec![("a", AMQPValue::LongUInt(1))]),
                true,
            ),
            (
                vec![("a", i32v(1))],
                Some(vec![("a", AMQPValue::Timestamp(1))]),
                true,
            ),
            (vec![("a", i32v(1))], Some(vec![("a", f64v(1.0))]), true),
            (vec![("a", i32v(1))], Some(vec![("a", f32v(1.0))]), true),
            (vec![("a", f64v(0.5))], Some(vec![("a", f32v(0.5))]), true),
            (vec![("a", f64v(0.1))], Some(vec![("a", f32v(0.1))]), false),
            (vec![("a", f64v(1.5))], Some(vec![("a", i32v(1))]), false),
            (
                vec![("a", i64v(1 << 40))],
                Some(vec![("a", f64v((1u64 << 40) as f64))]),
                true,
            ),
            (
                vec![("a", i64v((1 << 53) + 1))],
                Some(vec![("a", f64v(((1u64 << 53) + 1) as f64))]),
                false,
            ),
            (
                vec![("a", i64v(-1))],
                Some(vec![("a", AMQPValue::LongUInt(u32::MAX))]),
                false,
            ),
            (
                vec![("a", i64v(-1))],
                Some(vec![("a", AMQPValue::Timestamp(u64::MAX))]),
                false,
            ),
            (vec![("a", f64v(0.0))], Some(vec![("a", f64v(-0.0))]), true),
            (vec![("a", i32v(0))], Some(vec![("a", f64v(-0.0))]), true),
            // booleans, decimals
            (
                vec![("a", i32v(1))],
                Some(vec![("a", AMQPValue::Boolean(true))]),
                false,
            ),
            (
                vec![("a", AMQPValue::Boolean(true))],
                Some(vec![("a", AMQPValue::Boolean(true))]),
                true,
            ),
            (
                vec![("a", AMQPValue::Boolean(true))],
                Some(vec![("a", AMQPValue::Boolean(false))]),
                false,
            ),
            (vec![("a", dec(0, 1))], Some(vec![("a", i32v(1))]), false),
            (vec![("a", dec(1, 10))], Some(vec![("a", dec(0, 1))]), false),
            (vec![("a", dec(2, 5))], Some(vec![("a", dec(2, 5))]), true),
            // longstr and byte array are both binaries
            (
                vec![("a", s("abc"))],
                Some(vec![("a", bytes(b"abc"))]),
                true,
            ),
            (
                vec![("a", bytes(b"abc"))],
                Some(vec![("a", s("abc"))]),
                true,
            ),
            (vec![("a", s(""))], Some(vec![("a", bytes(b""))]), true),
            (vec![("a", s(""))], Some(vec![("a", arr(vec![]))]), false),
            (
                vec![("a", s("1"))],
                Some(vec![("a", arr(vec![s("1")]))]),
                false,
            ),
            // arrays and tables: nested values keep their type
            (
                vec![("a", arr(vec![i32v(1)]))],
                Some(vec![("a", arr(vec![i32v(1)]))]),
                true,
            ),
            (
                vec![("a", arr(vec![i32v(1)]))],
                Some(vec![("a", arr(vec![i64v(1)]))]),
                false,
            ),
            (
                vec![("a", arr(vec![f64v(1.0)]))],
                Some(vec![("a", arr(vec![i32v(1)]))]),
                false,
            ),
            (
                vec![("a", arr(vec![f32v(0.5)]))],
                Some(vec![("a", arr(vec![f64v(0.5)]))]),
                false,
            ),
            (
                vec![("a", arr(vec![bytes(b"a")]))],
                Some(vec![("a", arr(vec![s("a")]))]),
                false,
            ),
            (
                vec![("a", arr(vec![AMQPValue::ShortShortInt(1)]))],
                Some(vec![("a", arr(vec![AMQPValue::ShortShortUInt(1)]))]),
                false,
            ),
            (
                vec![("a", arr(vec![AMQPValue::Timestamp(1)]))],
                Some(vec![("a", arr(vec![i64v(1)]))]),
                false,
            ),
            (
                vec![("a", arr(vec![i32v(1), s("x")]))],
                Some(vec![("a", arr(vec![i32v(1), s("x")]))]),
                true,
            ),
            (
                vec![("a", arr(vec![i32v(1), s("x")]))],
                Some(vec![("a", arr(vec![s("x"), i32v(1)]))]),
                false,
            ),
            (
                vec![("a", arr(vec![V]))],
                Some(vec![("a", arr(vec![V]))]),
                true,
            ),
            (
                vec![("a", arr(vec![V]))],
                Some(vec![("a", arr(vec![s("x")]))]),
                false,
            ),
            (
                vec![("a", tv(vec![("k", i32v(1))]))],
                Some(vec![("a", tv(vec![("k", i32v(1))]))]),
                true,
            ),
            (
                vec![("a", tv(vec![("k", i32v(1))]))],
                Some(vec![("a", tv(vec![("k", i64v(1))]))]),
                false,
            ),
            (
                vec![("a", tv(vec![("k", f64v(1.0))]))],
                Some(vec![("a", tv(vec![("k", f64v(1.0))]))]),
                true,
            ),
            (vec![("a", tv(vec![]))], Some(vec![("a", tv(vec![]))]), true),
            (
                vec![("a", arr(vec![]))],
                Some(vec![("a", arr(vec![]))]),
                true,
            ),
            (
                vec![("a", arr(vec![]))],
                Some(vec![("a", tv(vec![]))]),
                true,
            ),
            (
                vec![("a", arr(vec![arr(vec![])]))],
                Some(vec![("a", arr(vec![tv(vec![])]))]),
                false,
            ),
            (
                vec![("a", tv(vec![("k", arr(vec![]))]))],
                Some(vec![("a", tv(vec![("k", tv(vec![]))]))]),
                false,
            ),
        ]
    }

    #[test]
    fn match_table() {
        for (i, (args, headers, expected)) in table().into_iter().enumerate() {
            let args = tbl(args);
            let headers = headers.map(tbl);
            assert_eq!(
                headers_match(&args, headers.as_ref()),
                expected,
                "row {i}: args {args:?} headers {headers:?}"
            );
        }
    }

    #[test]
    fn unknown_x_match_routes_as_all() {
        // RabbitMQ rejects these at bind time, but routes legacy bindings as `all`.
        let args = tbl(vec![("x-match", s("bogus")), ("a", s("1"))]);
        assert!(headers_match(&args, Some(&tbl(vec![("a", s("1"))]))));
        assert!(!headers_match(&args, None));
        let args = tbl(vec![("x-match", i32v(1))]);
        assert!(headers_match(&args, None));
    }

    fn nested_arrays(levels: usize) -> AMQPValue {
        let mut v = arr(vec![]);
        for _ in 0..levels {
            v = arr(vec![v]);
        }
        v
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        // Deeper than MAX_DEPTH; built twice because the derived `Clone` itself recurses.
        let args = tbl(vec![
            ("a", nested_arrays(2_000)),
            ("x-match", nested_arrays(2_000)),
        ]);
        let headers = tbl(vec![("a", nested_arrays(2_000))]);
        assert!(!headers_match(&args, Some(&headers)));
        assert!(validate_binding_args(&args).is_err());
    }

    const VALUE_TAIL: &str = "; expected all, any, all-with-x, or any-with-x";

    /// (x-match value, RabbitMQ's detail text after `PRECONDITION_FAILED - `, or None when
    /// the bind succeeds). Every row was verified on RabbitMQ 3.10.8.
    fn validation_table() -> Vec<(AMQPValue, Option<String>)> {
        let value_err =
            |shown: &str| Some(format!("Invalid x-match field value {shown}{VALUE_TAIL}"));
        let type_err = |ty: &str, shown: &str| {
            Some(format!(
                "Invalid x-match field type {ty} (value {shown}); expected longstr"
            ))
        };
        vec![
            (s("all"), None),
            (s("any"), None),
            (s("all-with-x"), None),
            (s("any-with-x"), None),
            (s("foo"), value_err("<<\"foo\">>")),
            (s(""), value_err("<<>>")),
            (s("ALL"), value_err("<<\"ALL\">>")),
            (s("all "), value_err("<<\"all \">>")),
            (s("héllo"), value_err("<<\"héllo\">>")),
            (s("ÿ"), value_err("<<\"ÿ\">>")),
            (s("€"), value_err("<<226,130,172>>")),
            (s("\u{1}"), value_err("<<1>>")),
            (s("\u{7f}"), value_err("<<127>>")),
            (s("a\"b\\c"), value_err("<<\"a\\\"b\\\\c\">>")),
            (s("tab\there"), value_err("<<\"tab\\there\">>")),
            (
                s("a\nb\rc\u{1b}d\u{b}\u{8}\u{c}"),
                value_err("<<\"a\\nb\\rc\\ed\\v\\b\\f\">>"),
            ),
            (
                s(&"a".repeat(100)),
                value_err(&format!("<<\"{}\">>", "a".repeat(100))),
            ),
            (i32v(1), type_err("signedint", "1")),
            (i32v(i32::MIN), type_err("signedint", "-2147483648")),
            (
                AMQPValue::LongUInt(u32::MAX),
                type_err("unsignedint", "4294967295"),
            ),
            (i64v(5), type_err("long", "5")),
            (i64v(i64::MIN), type_err("long", "-9223372036854775808")),
            (AMQPValue::ShortShortInt(-3), type_err("byte", "-3")),
            (
                AMQPValue::ShortShortUInt(200),
                type_err("unsignedbyte", "200"),
            ),
            (AMQPValue::ShortInt(-5), type_err("short", "-5")),
            (
                AMQPValue::ShortUInt(65535),
                type_err("unsignedshort", "65535"),
            ),
            (AMQPValue::Timestamp(7), type_err("timestamp", "7")),
            (
                AMQPValue::Timestamp(u64::MAX),
                type_err("timestamp", "18446744073709551615"),
            ),
            (AMQPValue::Boolean(true), type_err("bool", "true")),
            (V, type_err("void", "undefined")),
            (dec(2, 5), type_err("decimal", "{2,5}")),
            (bytes(b"all"), type_err("binary", "<<\"all\">>")),
            (bytes(b"\x01\x02"), type_err("binary", "<<1,2>>")),
            (f64v(1.5), type_err("double", "1.5")),
            (f64v(0.1), type_err("double", "0.1")),
            (f32v(0.1), type_err("float", "0.10000000149011612")),
            (f64v(100.0), type_err("double", "100.0")),
            (f64v(1e15), type_err("double", "1.0e15")),
            (f64v(1e16), type_err("double", "1.0e16")),
            (f64v(123456789.0), type_err("double", "123456789.0")),
            (
                f64v(1234567890123456.0),
                type_err("double", "1234567890123456.0"),
            ),
            (f64v(0.001), type_err("double", "0.001")),
            (f64v(0.0001), type_err("double", "0.0001")),
            (f64v(1e-5), type_err("double", "1.0e-5")),
            (f64v(1e20), type_err("double", "1.0e20")),
            (f64v(-2.5), type_err("double", "-2.5")),
            (f64v(0.0), type_err("double", "0.0")),
            (f64v(-0.0), type_err("double", "-0.0")),
            (f64v(5e-324), type_err("double", "5.0e-324")),
            (f64v(f64::MAX), type_err("double", "1.7976931348623157e308")),
            (f64v(12345.678), type_err("double", "12345.678")),
            (arr(vec![]), type_err("array", "[]")),
            (AMQPValue::FieldTable(tbl(vec![])), type_err("table", "[]")),
            (arr(vec![i32v(1)]), type_err("array", "[{signedint,1}]")),
            (
                arr(vec![s("a"), i32v(2)]),
                type_err("array", "[{longstr,<<\"a\">>},{signedint,2}]"),
            ),
            (
                arr(vec![bytes(b"\x01\x02"), bytes("é".as_bytes())]),
                type_err("array", "[{binary,<<1,2>>},{binary,<<\"é\">>}]"),
            ),
            (
                tv(vec![("k", s("v"))]),
                type_err("table", "[{<<\"k\">>,longstr,<<\"v\">>}]"),
            ),
            (
                arr(vec![s(&"a".repeat(20))]),
                type_err(
                    "array",
                    &format!("[{{longstr,<<\"{}\">>}}]", "a".repeat(20)),
                ),
            ),
            (
                arr(vec![AMQPValue::Boolean(true); 3]),
                type_err("array", "[{bool,true},{bool,true},{bool,true}]"),
            ),
            // Too long for one line: io_lib_pretty puts one element per line.
            (
                arr(vec![i32v(1_111_111); 2]),
                type_err(
                    "array",
                    &format!(
                        "[{{signedint,1111111}},\n{}{{signedint,1111111}}]",
                        " ".repeat(41)
                    ),
                ),
            ),
            (
                arr(vec![i32v(1); 3]),
                type_err(
                    "array",
                    &format!(
                        "[{{signedint,1}},\n{0}{{signedint,1}},\n{0}{{signedint,1}}]",
                        " ".repeat(41)
                    ),
                ),
            ),
        ]
    }

    #[test]
    fn validation() {
        for (value, expected) in validation_table() {
            let args = tbl(vec![("x-match", value.clone()), ("a", s("1"))]);
            assert_eq!(
                validate_binding_args(&args).err(),
                expected,
                "x-match {value:?}"
            );
        }
        assert_eq!(validate_binding_args(&tbl(vec![("a", s("1"))])), Ok(()));
        assert_eq!(validate_binding_args(&FieldTable::default()), Ok(()));
    }
}
