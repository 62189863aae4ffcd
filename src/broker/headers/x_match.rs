//! The `x-match` binding argument: its four kinds ([`MatchKind`]) and their bind-time
//! validation ([`validate_binding_args`]), with RabbitMQ's error texts.

use crate::erlang::{string_bytes, type_name, write_binary, write_pretty};
use amq_protocol::types::FieldTable;

/// The four `x-match` kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MatchKind {
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
    pub(super) fn of(args: &FieldTable) -> MatchKind {
        args.inner()
            .get("x-match")
            .and_then(string_bytes)
            .and_then(MatchKind::parse)
            .unwrap_or(MatchKind::All)
    }

    pub(super) fn is_any(self) -> bool {
        matches!(self, MatchKind::Any | MatchKind::AnyWithX)
    }

    pub(super) fn with_x(self) -> bool {
        matches!(self, MatchKind::AllWithX | MatchKind::AnyWithX)
    }
}

/// Checks a headers binding's `x-match` argument as RabbitMQ does at bind time. The error is
/// the detail text of RabbitMQ's 406 PRECONDITION_FAILED (without the `PRECONDITION_FAILED - `
/// prefix). Binary values are printed byte for byte as Erlang's `~tp` does, so a value that
/// is not valid UTF-8 comes back with replacement characters.
pub(crate) fn validate_binding_args(args: &FieldTable) -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::headers::test_values::*;
    use amq_protocol::types::AMQPValue;

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
