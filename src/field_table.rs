//! Field tables as they arrive on the wire (AMQP 0-9-1 with RabbitMQ's type letters, the
//! ones amq-protocol reads), walked without recursion and without decoding any value.
//!
//! amq-protocol's decoder recurses once per nested table or array, so a client nesting a few
//! thousand levels would overflow the stack and abort the process. Every table a client
//! sends (method arguments, client properties, message headers, an AMQPLAIN response) is
//! walked here first and refused past [`MAX_DEPTH`] levels. The limit also keeps whatever is
//! accepted readable back: a durable queue's arguments are stored as JSON, and serde_json
//! reads at most 128 levels (definitions add three around the arguments).

use std::ops::Range;
use thiserror::Error;

/// The deepest nesting accepted, counting the outermost table as level 1 and each nested
/// table or array as one more. Real clients use a handful of levels.
pub const MAX_DEPTH: usize = 64;

/// Why a table was refused.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum ScanError {
    #[error("truncated field table")]
    Truncated,
    #[error("unknown field type {0:#04x}")]
    UnknownType(u8),
    #[error("field table nested more than {MAX_DEPTH} levels")]
    TooDeep,
}

/// One top-level entry of a table: its key, type letter and the value's bytes after the type
/// letter (for a long string, table or array, the contents after the 4-byte length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    pub key: &'a [u8],
    pub kind: u8,
    pub value: &'a [u8],
}

/// The size of the table at the start of `buf`, its 4-byte length included, once every
/// nested value in it has been checked.
pub fn table_len(buf: &[u8]) -> Result<usize, ScanError> {
    let len = be_u32(buf, 0)?;
    let body = buf.get(4..4 + len).ok_or(ScanError::Truncated)?;
    entries(body, |_| ())?;
    Ok(4 + len)
}

/// Walks a table's contents (after its 4-byte length), calling `f` for each top-level
/// entry in wire order. Nested tables and arrays are checked iteratively, at most
/// [`MAX_DEPTH`] levels deep, and each within the bounds of the one around it.
pub fn entries<'a>(body: &'a [u8], mut f: impl FnMut(Entry<'a>)) -> Result<(), ScanError> {
    walk(body, |depth, key, kind, value| {
        if depth == 1 {
            f(Entry {
                key: &body[key],
                kind,
                value: &body[value],
            });
        }
    })
}

/// Replaces every byte of a table key (at any depth) that is not part of valid UTF-8 with
/// `?`, in place. RabbitMQ takes keys as bytes; amq-protocol's decoder wants UTF-8.
pub fn sanitize_keys(body: &mut [u8]) -> Result<(), ScanError> {
    let mut keys = Vec::new();
    walk(body, |_, key, _, _| {
        if std::str::from_utf8(&body[key.clone()]).is_err() {
            keys.push(key);
        }
    })?;
    for key in keys {
        question_marks(&mut body[key]);
    }
    Ok(())
}

/// Each byte of `bytes` that is not part of valid UTF-8 becomes `?` (the length stays).
pub fn question_marks(bytes: &mut [u8]) {
    let mut bad = Vec::new();
    let mut at = 0;
    for chunk in bytes.utf8_chunks() {
        at += chunk.valid().len();
        bad.push(at..at + chunk.invalid().len());
        at += chunk.invalid().len();
    }
    for range in bad {
        bytes[range].fill(b'?');
    }
}

/// The walk behind [`entries`]: `f(depth, key, kind, value)` for every entry and array item
/// at every depth, with key and value as ranges of `body` (an array item's key is empty).
fn walk(
    body: &[u8],
    mut f: impl FnMut(usize, Range<usize>, u8, Range<usize>),
) -> Result<(), ScanError> {
    // The open containers, innermost last: where each one ends and whether its items have
    // keys (a table) or not (an array). A fixed array: the walk allocates nothing.
    let mut open = [(0usize, false); MAX_DEPTH];
    open[0] = (body.len(), true);
    let mut depth = 1;
    let mut pos = 0;
    while depth > 0 {
        let (end, keyed) = open[depth - 1];
        if pos == end {
            depth -= 1;
            continue;
        }
        let within = &body[..end];
        let key = if keyed {
            let n = usize::from(*within.get(pos).ok_or(ScanError::Truncated)?);
            if pos + 1 + n > end {
                return Err(ScanError::Truncated);
            }
            pos += 1 + n;
            pos - n..pos
        } else {
            pos..pos
        };
        let kind = *within.get(pos).ok_or(ScanError::Truncated)?;
        pos += 1;
        let (start, next) = match kind {
            b'S' | b'x' | b'F' | b'A' => (pos + 4, pos + 4 + be_u32(within, pos)?),
            _ => (pos, pos + fixed_size(kind)?),
        };
        if next > end {
            return Err(ScanError::Truncated);
        }
        f(depth, key, kind, start..next);
        if matches!(kind, b'F' | b'A') {
            if depth == MAX_DEPTH {
                return Err(ScanError::TooDeep);
            }
            open[depth] = (next, kind == b'F');
            depth += 1;
            pos = start;
        } else {
            pos = next;
        }
    }
    Ok(())
}

/// An encoded table (with its length) nested `levels` deep in total, `{k: {k: ...}}`, or
/// `{k: [[...[7]]]}` with arrays under the outermost table: for tests and fuzz seeds.
/// Written front to back, so a deep one is cheap to build.
pub fn encode_nested(levels: usize, arrays: bool) -> Vec<u8> {
    let levels = levels.max(1);
    let n = levels - 1;
    // Bytes each nested level adds before its contents, and what the innermost holds.
    let (head, innermost): (usize, &[u8]) = if arrays {
        (5, b"I\0\0\0\x07")
    } else {
        (7, b"")
    };
    let content = |j: usize| (n - 1 - j) * head + innermost.len();
    let mut out = Vec::new();
    let body_len = if n == 0 {
        0
    } else {
        content(0) + head + if arrays { 2 } else { 0 }
    };
    out.extend_from_slice(&(body_len as u32).to_be_bytes());
    for j in 0..n {
        match (arrays, j) {
            (false, _) => out.extend_from_slice(&[1, b'k', b'F']),
            (true, 0) => out.extend_from_slice(&[1, b'k', b'A']),
            (true, _) => out.push(b'A'),
        }
        out.extend_from_slice(&(content(j) as u32).to_be_bytes());
    }
    if n > 0 {
        out.extend_from_slice(innermost);
    }
    out
}

fn be_u32(buf: &[u8], pos: usize) -> Result<usize, ScanError> {
    let b = buf.get(pos..pos + 4).ok_or(ScanError::Truncated)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// Payload size of the fixed-width field types (amq-protocol's `AMQPType::from_id`).
fn fixed_size(kind: u8) -> Result<usize, ScanError> {
    match kind {
        b'V' => Ok(0),
        b't' | b'b' | b'B' => Ok(1),
        b's' | b'u' | b'U' => Ok(2),
        b'I' | b'i' | b'f' => Ok(4),
        b'D' => Ok(5),
        b'l' | b'L' | b'd' | b'T' => Ok(8),
        _ => Err(ScanError::UnknownType(kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amq_protocol::types::generation::gen_field_table;
    use amq_protocol::types::parsing::parse_field_table;
    use amq_protocol::types::{AMQPValue, DecimalValue, FieldArray, FieldTable, LongString};

    fn encode(t: &FieldTable) -> Vec<u8> {
        let ctx = gen_field_table(t)(Vec::new().into()).unwrap();
        ctx.write
    }

    fn sample() -> FieldTable {
        let mut inner = FieldTable::default();
        inner.insert(
            "d".into(),
            AMQPValue::DecimalValue(DecimalValue { scale: 2, value: 5 }),
        );
        inner.insert("v".into(), AMQPValue::Void);
        let mut arr = FieldArray::default();
        arr.push(AMQPValue::Boolean(true));
        arr.push(AMQPValue::FieldTable(inner.clone()));
        arr.push(AMQPValue::ByteArray(vec![1u8, 2, 3].into()));
        let mut t = FieldTable::default();
        t.insert("s".into(), AMQPValue::LongString(LongString::from("hello")));
        t.insert("a".into(), AMQPValue::FieldArray(arr));
        t.insert("t".into(), AMQPValue::FieldTable(inner));
        t.insert("n".into(), AMQPValue::LongLongInt(-3));
        t.insert("f".into(), AMQPValue::Double(1.5));
        t.insert("ts".into(), AMQPValue::Timestamp(9));
        t
    }

    #[test]
    fn agrees_with_amq_protocol_on_a_mixed_table() {
        let bytes = encode(&sample());
        assert_eq!(table_len(&bytes), Ok(bytes.len()));
        let mut keys = Vec::new();
        entries(&bytes[4..], |e| keys.push((e.key.to_vec(), e.kind))).unwrap();
        let kinds: Vec<u8> = keys.iter().map(|k| k.1).collect();
        assert_eq!(kinds, b"AdlSFT".to_vec(), "{keys:?}");
        let mut with_tail = bytes.clone();
        with_tail.extend_from_slice(b"tail");
        assert_eq!(table_len(&with_tail), Ok(bytes.len()));
    }

    #[test]
    fn keys_that_are_not_utf8_become_question_marks_at_any_depth() {
        // {"\xff": {"a\xfe": 7}, "ok": [{"\xc3": void}]}
        let mut body: Vec<u8> = vec![1, 0xff, b'F', 0, 0, 0, 5, 2, b'a', 0xfe, b'b', 7];
        body.extend([
            2, b'o', b'k', b'A', 0, 0, 0, 8, b'F', 0, 0, 0, 3, 1, 0xc3, b'V',
        ]);
        sanitize_keys(&mut body).unwrap();
        assert_eq!(&body[1..2], b"?");
        assert_eq!(&body[8..10], b"a?");
        assert_eq!(&body[body.len() - 2..], b"?V");
        let mut table = (body.len() as u32).to_be_bytes().to_vec();
        table.extend(&body);
        assert!(parse_field_table(table.as_slice()).is_ok());
        let mut mixed = "é".as_bytes().to_vec();
        mixed.extend([0xff, b'x', 0xe9]);
        question_marks(&mut mixed);
        assert_eq!(mixed, "é?x?".as_bytes());
    }

    #[test]
    fn every_truncation_is_refused() {
        let bytes = encode(&sample());
        for n in 0..bytes.len() {
            assert!(table_len(&bytes[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn a_nested_length_past_its_container_is_refused() {
        // {k: [ "S" len=100 ]} where the array claims 5 bytes only.
        let body = [1, b'k', b'A', 0, 0, 0, 5, b'S', 0, 0, 0, 100];
        assert_eq!(entries(&body, |_| ()), Err(ScanError::Truncated));
        assert_eq!(
            entries(&[1, b'k', b'Z'], |_| ()),
            Err(ScanError::UnknownType(b'Z'))
        );
    }

    #[test]
    fn depth_limit_is_exact_for_tables_and_arrays() {
        for arrays in [false, true] {
            let ok = encode_nested(MAX_DEPTH, arrays);
            assert_eq!(table_len(&ok), Ok(ok.len()), "arrays {arrays}");
            // What is accepted decodes with amq-protocol.
            let (rest, _) = parse_field_table(ok.as_slice()).unwrap();
            assert!(rest.is_empty());
            let deep = encode_nested(MAX_DEPTH + 1, arrays);
            assert_eq!(table_len(&deep), Err(ScanError::TooDeep), "arrays {arrays}");
        }
    }

    #[test]
    fn very_deep_nesting_is_refused_without_recursion() {
        // Deep enough to overflow a thread's stack in a recursive decoder.
        let deep = encode_nested(200_000, false);
        assert_eq!(table_len(&deep), Err(ScanError::TooDeep));
        let deep = encode_nested(200_000, true);
        assert_eq!(table_len(&deep), Err(ScanError::TooDeep));
    }
}
