//! Erlang terms as RabbitMQ prints them in its error texts (`~p`, `~tp`), so Warren's read
//! the same: AMQP field values as RabbitMQ decodes them (with its type names), JSON values
//! (policy and parameter validation), floats, binaries, and `io_lib_pretty`'s line breaks.
//! Printing is bounded: terms nested deeper than [`MAX_DEPTH`] print as `...`.

use amq_protocol::types::AMQPValue;
use serde_json::Value;

/// Nesting depth beyond which nested arrays and tables print as `...` (and, in headers-exchange
/// matching, compare unequal), so hostile input cannot exhaust the stack.
pub(crate) const MAX_DEPTH: usize = 256;

/// RabbitMQ's name for a field type.
pub(crate) fn type_name(v: &AMQPValue) -> &'static str {
    match v {
        AMQPValue::Boolean(_) => "bool",
        AMQPValue::ShortShortInt(_) => "byte",
        AMQPValue::ShortShortUInt(_) => "unsignedbyte",
        AMQPValue::ShortInt(_) => "short",
        AMQPValue::ShortUInt(_) => "unsignedshort",
        AMQPValue::LongInt(_) => "signedint",
        AMQPValue::LongUInt(_) => "unsignedint",
        AMQPValue::LongLongInt(_) => "long",
        AMQPValue::Float(_) => "float",
        AMQPValue::Double(_) => "double",
        AMQPValue::DecimalValue(_) => "decimal",
        AMQPValue::ShortString(_) | AMQPValue::LongString(_) => "longstr",
        AMQPValue::FieldArray(_) => "array",
        AMQPValue::Timestamp(_) => "timestamp",
        AMQPValue::FieldTable(_) => "table",
        AMQPValue::ByteArray(_) => "binary",
        AMQPValue::Void => "void",
    }
}

/// The bytes of a string value (`longstr`, or an in-process `ShortString`).
pub(crate) fn string_bytes(value: &AMQPValue) -> Option<&[u8]> {
    match value {
        AMQPValue::LongString(s) => Some(s.as_bytes()),
        AMQPValue::ShortString(s) => Some(s.as_str().as_bytes()),
        _ => None,
    }
}

/// The bytes of any value RabbitMQ holds as an Erlang binary.
pub(crate) fn binary_bytes(value: &AMQPValue) -> Option<&[u8]> {
    match value {
        AMQPValue::ByteArray(b) => Some(b.as_slice()),
        other => string_bytes(other),
    }
}

/// A numeric value as Erlang holds it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    Int(i128),
    Float(f64),
}

pub(crate) fn number(value: &AMQPValue) -> Option<Num> {
    let n = match value {
        AMQPValue::ShortShortInt(v) => Num::Int((*v).into()),
        AMQPValue::ShortShortUInt(v) => Num::Int((*v).into()),
        AMQPValue::ShortInt(v) => Num::Int((*v).into()),
        AMQPValue::ShortUInt(v) => Num::Int((*v).into()),
        AMQPValue::LongInt(v) => Num::Int((*v).into()),
        AMQPValue::LongUInt(v) => Num::Int((*v).into()),
        AMQPValue::LongLongInt(v) => Num::Int((*v).into()),
        AMQPValue::Timestamp(v) => Num::Int((*v).into()),
        AMQPValue::Float(v) => Num::Float((*v).into()),
        AMQPValue::Double(v) => Num::Float(*v),
        _ => return None,
    };
    Some(n)
}

/// The term RabbitMQ holds for `value`, on one line.
pub(crate) fn term(value: &AMQPValue) -> String {
    let mut out = Vec::new();
    write_term(&mut out, value, 0);
    String::from_utf8_lossy(&out).into_owned()
}

/// Line length `io_lib_pretty` wraps at.
const LINE_LENGTH: usize = 80;

/// Writes `value` as `~tp` would when it starts at 1-based `column`: on one line if it fits,
/// otherwise (arrays and tables only) one element per line, aligned after the `[`. Erlang's
/// pretty printer also breaks elements that are themselves too long; that is not replicated.
pub(crate) fn write_pretty(out: &mut Vec<u8>, value: &AMQPValue, column: usize) {
    let mut line = Vec::new();
    write_term(&mut line, value, 0);
    let fits = line.len() + column < LINE_LENGTH;
    let elements = list_elements(value);
    match elements {
        Some(elements) if !fits && elements.len() > 1 => {
            let indent = " ".repeat(column);
            out.push(b'[');
            for (i, element) in elements.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b",\n");
                    out.extend_from_slice(indent.as_bytes());
                }
                out.extend_from_slice(element);
            }
            out.push(b']');
        }
        _ => out.extend_from_slice(&line),
    }
}

/// The one-line renderings of the elements of an array or table.
fn list_elements(value: &AMQPValue) -> Option<Vec<Vec<u8>>> {
    let render = |write: &dyn Fn(&mut Vec<u8>)| {
        let mut v = Vec::new();
        write(&mut v);
        v
    };
    match value {
        AMQPValue::FieldArray(a) => Some(
            a.as_slice()
                .iter()
                .map(|e| render(&|out| write_typed(out, e, 1)))
                .collect(),
        ),
        AMQPValue::FieldTable(t) => Some(
            t.inner()
                .iter()
                .map(|(k, v)| render(&|out| write_entry(out, k.as_str(), v, 1)))
                .collect(),
        ),
        _ => None,
    }
}

/// Writes the Erlang term RabbitMQ holds for `value`, on one line.
pub(crate) fn write_term(out: &mut Vec<u8>, value: &AMQPValue, depth: usize) {
    if depth >= MAX_DEPTH {
        out.extend_from_slice(b"...");
        return;
    }
    if let Some(bytes) = binary_bytes(value) {
        write_binary(out, bytes);
        return;
    }
    match value {
        AMQPValue::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        AMQPValue::Void => out.extend_from_slice(b"undefined"),
        AMQPValue::DecimalValue(d) => {
            out.extend_from_slice(format!("{{{},{}}}", d.scale, d.value).as_bytes())
        }
        AMQPValue::FieldArray(a) => {
            write_list(out, a.as_slice().iter(), |out, e| {
                write_typed(out, e, depth + 1)
            });
        }
        AMQPValue::FieldTable(t) => {
            write_list(out, t.inner().iter(), |out, (k, v)| {
                write_entry(out, k.as_str(), v, depth + 1)
            });
        }
        other => match number(other) {
            Some(Num::Int(i)) => out.extend_from_slice(i.to_string().as_bytes()),
            Some(Num::Float(f)) => out.extend_from_slice(float(f).as_bytes()),
            None => {}
        },
    }
}

fn write_list<T>(
    out: &mut Vec<u8>,
    items: impl Iterator<Item = T>,
    mut write: impl FnMut(&mut Vec<u8>, T),
) {
    out.push(b'[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(out, item);
    }
    out.push(b']');
}

/// `{Type,Value}`, an array element.
fn write_typed(out: &mut Vec<u8>, value: &AMQPValue, depth: usize) {
    out.push(b'{');
    out.extend_from_slice(type_name(value).as_bytes());
    out.push(b',');
    write_term(out, value, depth);
    out.push(b'}');
}

/// `{<<"Key">>,Type,Value}`, a table entry.
fn write_entry(out: &mut Vec<u8>, key: &str, value: &AMQPValue, depth: usize) {
    out.push(b'{');
    write_binary(out, key.as_bytes());
    out.push(b',');
    out.extend_from_slice(type_name(value).as_bytes());
    out.push(b',');
    write_term(out, value, depth);
    out.push(b'}');
}

/// A binary as `~tp` prints it: `<<"text">>` when every byte is printable Latin-1 (the bytes
/// are copied as they are, so UTF-8 text stays readable), `<<1,2,3>>` otherwise.
pub(crate) fn write_binary(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(b"<<");
    if !bytes.is_empty() && bytes.iter().all(|&b| latin1_printable(b)) {
        out.push(b'"');
        for &b in bytes {
            write_escaped(out, b);
        }
        out.push(b'"');
    } else {
        let numbers: Vec<String> = bytes.iter().map(u8::to_string).collect();
        out.extend_from_slice(numbers.join(",").as_bytes());
    }
    out.extend_from_slice(b">>");
}

/// `io_lib:printable_latin1_list/1` for one character.
fn latin1_printable(b: u8) -> bool {
    matches!(b, 32..=126 | 160..=255 | 8..=13 | 27)
}

fn write_escaped(out: &mut Vec<u8>, b: u8) {
    let escape = match b {
        b'"' => b'"',
        b'\\' => b'\\',
        8 => b'b',
        9 => b't',
        10 => b'n',
        11 => b'v',
        12 => b'f',
        13 => b'r',
        27 => b'e',
        _ => {
            out.push(b);
            return;
        }
    };
    out.push(b'\\');
    out.push(escape);
}

/// A float as Erlang prints it: the shortest digits that read back exactly, in fixed notation
/// (`123.0`, `0.001`) unless scientific notation (`1.0e16`, `1.0e-5`) is strictly shorter.
pub(crate) fn float(f: f64) -> String {
    if !f.is_finite() {
        // Erlang has no such floats; RabbitMQ cannot decode them. Print something sane.
        return format!("{f}");
    }
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let fixed = fixed_notation(&digits, exp);
    let scientific = scientific_notation(&digits, exp);
    let body = if scientific.len() < fixed.len() {
        scientific
    } else {
        fixed
    };
    let sign = if f.is_sign_negative() { "-" } else { "" };
    format!("{sign}{body}")
}

/// `digits` (d.ddd × 10^exp) in fixed notation with at least one fractional digit.
fn fixed_notation(digits: &str, exp: i64) -> String {
    let len = digits.len() as i64;
    if exp < 0 {
        let zeros = "0".repeat((-exp - 1) as usize);
        format!("0.{zeros}{digits}")
    } else if len <= exp + 1 {
        let zeros = "0".repeat((exp + 1 - len) as usize);
        format!("{digits}{zeros}.0")
    } else {
        let (int, frac) = digits.split_at((exp + 1) as usize);
        format!("{int}.{frac}")
    }
}

/// `digits` (d.ddd × 10^exp) as `d.ddde±x`, with at least one fractional digit.
fn scientific_notation(digits: &str, exp: i64) -> String {
    let (first, rest) = digits.split_at(digits.len().min(1));
    let rest = if rest.is_empty() { "0" } else { rest };
    format!("{first}.{rest}e{exp}")
}

/// Prints a JSON value the way RabbitMQ's `~p` prints its decoded form:
/// strings as `<<"...">>`, objects as `#{K => V}`, `null` as `null`.
/// (Erlang's line wrapping of long terms is not reproduced.)
pub(crate) fn json(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => float(f),
            _ => n.to_string(),
        },
        Value::String(s) => ascii_binary(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(json).collect();
            format!("[{}]", items.join(","))
        }
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{} => {}", ascii_binary(k), json(v)))
                .collect();
            format!("#{{{}}}", entries.join(","))
        }
    }
}

/// `<<"text">>` for printable ASCII, else the bytes: `<<195,169>>`.
pub(crate) fn ascii_binary(s: &str) -> String {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        let escaped = s.replace('\\', "\\\\").replace('"', "\\\"");
        return format!("<<\"{escaped}\">>");
    }
    let bytes: Vec<String> = s.bytes().map(|b| b.to_string()).collect();
    format!("<<{}>>", bytes.join(","))
}

/// A `{tag,value}` term as Erlang's `~p` prints it after `column` characters of text: a term
/// that would pass column 78 breaks after its first comma, the rest indented under it
/// (observed on RabbitMQ 3.10.8 for an `expiration` of 19 digits and more).
pub(crate) fn pretty_tuple(column: usize, term: &str) -> String {
    match term.split_once(',') {
        Some((head, tail)) if term.starts_with('{') && column + term.len() > 78 => {
            format!("{head},\n{:indent$}{tail}", "", indent = column + 1)
        }
        _ => term.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_values_print_as_decoded_terms() {
        assert_eq!(json(&json!(1e20)), "1.0e20");
        assert_eq!(json(&json!(-0.5)), "-0.5");
        assert_eq!(json(&json!("a\"b\\")), "<<\"a\\\"b\\\\\">>");
        assert_eq!(json(&json!("é")), "<<195,169>>");
        assert_eq!(
            json(&json!({"b": false, "a": [true]})),
            "#{<<\"a\">> => [true],<<\"b\">> => false}"
        );
        assert_eq!(json(&json!(u64::MAX)), "18446744073709551615");
    }
}
