//! Routing tests for headers exchanges: a table of bindings and messages (each row checked
//! on RabbitMQ 3.10.8), unknown `x-match` values, and hostile nesting.

use super::test_values::*;
use super::*;

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
