//! Erlang's `==` between header values as RabbitMQ decodes them: numbers compare across
//! integer and float types, strings and byte arrays are both binaries, and nested values
//! keep their type tags. Comparison stops at [`MAX_DEPTH`], where nested values are unequal.

use crate::erlang::{binary_bytes, number, type_name, Num, MAX_DEPTH};
use amq_protocol::types::{AMQPValue, FieldTable};

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
pub(super) fn erl_eq(a: &AMQPValue, b: &AMQPValue, depth: usize) -> bool {
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
