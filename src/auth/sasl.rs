//! Decoding of the SASL `response` field of `connection.start-ok`.
//!
//! This module owns the two mechanisms RabbitMQ offers by default:
//!
//! * `PLAIN` (RFC 4616): `authzid NUL authcid NUL passwd`. The authzid is
//!   ignored. RabbitMQ 3.10.8 itself insists on an *empty* authzid and
//!   rejects e.g. `"guest\0guest\0guest"`; Warren accepts it.
//! * `AMQPLAIN`: the body of a field table (no 4-byte length prefix) with
//!   long-string entries `LOGIN` and `PASSWORD`. As in RabbitMQ
//!   (`lists:keysearch/3` over the parsed table) the first entry with a
//!   given key wins, other keys are ignored, and the whole table must be
//!   well formed.
//!
//! Nothing here panics on bad input; every malformation is a [`SaslError`].
//! RabbitMQ answers a malformed response by closing the socket without a
//! `connection.close` (after a 3 s delay); a well-formed response with
//! wrong credentials gets 403 ACCESS_REFUSED. Credentials that are not
//! UTF-8 give [`SaslError::InvalidUtf8`]: no Warren user can match them,
//! so callers should treat that like a refused login, not a syntax error.

use thiserror::Error;

/// Nesting limit for tables/arrays inside an AMQPLAIN response.
const MAX_DEPTH: usize = 32;

/// Why a SASL response could not be decoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SaslError {
    /// PLAIN response without exactly three NUL-separated parts.
    #[error("malformed PLAIN response: expected authzid\\0user\\0password")]
    MalformedPlain,
    /// AMQPLAIN response that is not a well-formed field table body.
    #[error("malformed AMQPLAIN response: {0}")]
    MalformedTable(&'static str),
    /// AMQPLAIN response without a `LOGIN` or `PASSWORD` entry.
    #[error("AMQPLAIN response is missing the {0} field")]
    MissingField(&'static str),
    /// AMQPLAIN `LOGIN`/`PASSWORD` that is not a long string.
    #[error("AMQPLAIN {0} field is not a long string")]
    WrongFieldType(&'static str),
    /// A user name or password that is not valid UTF-8.
    #[error("credentials are not valid UTF-8")]
    InvalidUtf8,
}

/// Decode a PLAIN response into `(user, password)`.
pub fn parse_plain(resp: &[u8]) -> Result<(String, String), SaslError> {
    let mut parts = resp.split(|&b| b == 0);
    let (Some(_authzid), Some(user), Some(pass), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::MalformedPlain);
    };
    Ok((utf8(user)?, utf8(pass)?))
}

/// Decode an AMQPLAIN response into `(user, password)`.
pub fn parse_amqplain(resp: &[u8]) -> Result<(String, String), SaslError> {
    let mut login = None;
    let mut password = None;
    let mut cur = Cursor::new(resp);
    while !cur.is_empty() {
        let key = cur.short_str()?;
        let value = cur.value(0)?;
        match key {
            b"LOGIN" => {
                login.get_or_insert(value);
            }
            b"PASSWORD" => {
                password.get_or_insert(value);
            }
            _ => {}
        }
    }
    let login = string_field(login, "LOGIN")?;
    let password = string_field(password, "PASSWORD")?;
    Ok((utf8(login)?, utf8(password)?))
}

fn string_field<'a>(value: Option<Value<'a>>, name: &'static str) -> Result<&'a [u8], SaslError> {
    match value {
        None => Err(SaslError::MissingField(name)),
        Some(Value::LongStr(bytes)) => Ok(bytes),
        Some(Value::Other) => Err(SaslError::WrongFieldType(name)),
    }
}

fn utf8(bytes: &[u8]) -> Result<String, SaslError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| SaslError::InvalidUtf8)
}

/// A decoded field value; only long strings are kept.
enum Value<'a> {
    LongStr(&'a [u8]),
    Other,
}

/// A bounds-checked reader over field-table bytes.
struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], SaslError> {
        if self.buf.len() < n {
            return Err(SaslError::MalformedTable("truncated"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, SaslError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<usize, SaslError> {
        let b = self.take(4)?;
        let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        usize::try_from(n).map_err(|_| SaslError::MalformedTable("length overflow"))
    }

    fn short_str(&mut self) -> Result<&'a [u8], SaslError> {
        let len = usize::from(self.u8()?);
        self.take(len)
    }

    fn long_bytes(&mut self) -> Result<&'a [u8], SaslError> {
        let len = self.u32()?;
        self.take(len)
    }

    /// Read one typed value (type octet + payload), validating nested
    /// tables and arrays up to [`MAX_DEPTH`].
    fn value(&mut self, depth: usize) -> Result<Value<'a>, SaslError> {
        let kind = self.u8()?;
        match kind {
            b'S' => return self.long_bytes().map(Value::LongStr),
            b'x' => self.long_bytes().map(|_| ())?,
            b'F' => nested(self.long_bytes()?, depth, true)?,
            b'A' => nested(self.long_bytes()?, depth, false)?,
            _ => self.take(fixed_size(kind)?).map(|_| ())?,
        }
        Ok(Value::Other)
    }
}

/// Validate the body of a nested table (`is_table`) or array.
fn nested(body: &[u8], depth: usize, is_table: bool) -> Result<(), SaslError> {
    if depth >= MAX_DEPTH {
        return Err(SaslError::MalformedTable("nested too deeply"));
    }
    let mut cur = Cursor::new(body);
    while !cur.is_empty() {
        if is_table {
            cur.short_str()?;
        }
        cur.value(depth + 1)?;
    }
    Ok(())
}

/// Payload size of the fixed-width field types RabbitMQ understands.
fn fixed_size(kind: u8) -> Result<usize, SaslError> {
    match kind {
        b'V' => Ok(0),
        b't' | b'b' | b'B' => Ok(1),
        b's' | b'u' | b'U' => Ok(2),
        b'I' | b'i' | b'f' => Ok(4),
        b'D' => Ok(5),
        b'l' | b'L' | b'd' | b'T' => Ok(8),
        _ => Err(SaslError::MalformedTable("unknown field type")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amq_protocol::types::generation::gen_field_table;
    use amq_protocol::types::{AMQPValue, FieldArray, FieldTable, LongString};

    fn ok(user: &str, pass: &str) -> Result<(String, String), SaslError> {
        Ok((user.to_owned(), pass.to_owned()))
    }

    fn long(k: &str, v: &[u8]) -> Vec<u8> {
        let mut out = vec![k.len() as u8];
        out.extend_from_slice(k.as_bytes());
        out.push(b'S');
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v);
        out
    }

    /// What amq-protocol (lapin) sends: a table body without its length.
    fn encoded(table: &FieldTable) -> Vec<u8> {
        let buf = match gen_field_table(table)(Vec::new().into()) {
            Ok(w) => w.into_inner().0,
            Err(e) => panic!("encode: {e:?}"),
        };
        buf[4..].to_vec()
    }

    #[test]
    fn plain_basic() {
        assert_eq!(parse_plain(b"\0guest\0guest"), ok("guest", "guest"));
        assert_eq!(parse_plain(b"authz\0user\0pw"), ok("user", "pw"));
        assert_eq!(parse_plain(b"\0user\0"), ok("user", ""));
        assert_eq!(parse_plain(b"\0\0pw"), ok("", "pw"));
        assert_eq!(parse_plain("\0ü\0ß".as_bytes()), ok("ü", "ß"));
    }

    #[test]
    fn plain_malformed() {
        for bad in [
            &b""[..],
            b"\0",
            b"guest",
            b"\0guest",
            b"\0guest\0guest\0",
            b"\0a\0b\0c",
        ] {
            assert_eq!(parse_plain(bad), Err(SaslError::MalformedPlain), "{bad:?}");
        }
        assert_eq!(parse_plain(b"\0\xff\0pw"), Err(SaslError::InvalidUtf8));
    }

    #[test]
    fn amqplain_from_amq_protocol_client() {
        let creds = amq_protocol::auth::Credentials::new("guest".into(), "guest".into());
        let resp = creds.sasl_auth_string(amq_protocol::auth::SASLMechanism::AMQPlain);
        assert_eq!(parse_amqplain(resp.as_bytes()), ok("guest", "guest"));
    }

    #[test]
    fn amqplain_ignores_other_fields_and_first_wins() {
        let mut t = FieldTable::default();
        t.insert("LOGIN".into(), AMQPValue::LongString("u".into()));
        t.insert("PASSWORD".into(), AMQPValue::LongString("p".into()));
        t.insert("a".into(), AMQPValue::LongLongInt(7));
        let arr = FieldArray::from(vec![AMQPValue::Boolean(true), AMQPValue::Void]);
        t.insert("b".into(), AMQPValue::FieldArray(arr));
        t.insert("c".into(), AMQPValue::FieldTable(FieldTable::default()));
        assert_eq!(parse_amqplain(&encoded(&t)), ok("u", "p"));

        let mut dup = long("LOGIN", b"first");
        dup.extend(long("LOGIN", b"second"));
        dup.extend(long("PASSWORD", b"pw"));
        assert_eq!(parse_amqplain(&dup), ok("first", "pw"));
    }

    #[test]
    fn amqplain_missing_or_wrong_type() {
        assert_eq!(parse_amqplain(b""), Err(SaslError::MissingField("LOGIN")));
        assert_eq!(
            parse_amqplain(&long("LOGIN", b"u")),
            Err(SaslError::MissingField("PASSWORD"))
        );
        let mut t = FieldTable::default();
        t.insert("LOGIN".into(), AMQPValue::LongInt(1));
        t.insert(
            "PASSWORD".into(),
            AMQPValue::LongString(LongString::from("p")),
        );
        assert_eq!(
            parse_amqplain(&encoded(&t)),
            Err(SaslError::WrongFieldType("LOGIN"))
        );
        let mut bad = long("LOGIN", b"\xff");
        bad.extend(long("PASSWORD", b"p"));
        assert_eq!(parse_amqplain(&bad), Err(SaslError::InvalidUtf8));
    }

    #[test]
    fn amqplain_every_truncation_is_an_error() {
        let mut t = FieldTable::default();
        t.insert("LOGIN".into(), AMQPValue::LongString("guest".into()));
        t.insert("PASSWORD".into(), AMQPValue::LongString("guest".into()));
        let mut inner = FieldTable::default();
        inner.insert(
            "k".into(),
            AMQPValue::DecimalValue(amq_protocol::types::DecimalValue { scale: 1, value: 7 }),
        );
        // "A" sorts first, so every proper prefix lacks PASSWORD or is cut.
        t.insert("A".into(), AMQPValue::FieldTable(inner));
        let full = encoded(&t);
        assert_eq!(parse_amqplain(&full), ok("guest", "guest"));
        for n in 1..full.len() {
            assert!(parse_amqplain(&full[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn amqplain_rejects_garbage() {
        let mut with_len = (0u32).to_be_bytes().to_vec();
        with_len.extend(long("LOGIN", b"u"));
        assert!(parse_amqplain(&with_len).is_err());
        let mut unknown = long("LOGIN", b"u");
        unknown.extend(long("PASSWORD", b"p"));
        unknown.extend(b"\x01kZ");
        assert!(parse_amqplain(&unknown).is_err());
        // Huge declared length must not allocate or panic.
        assert!(parse_amqplain(b"\x05LOGINS\xff\xff\xff\xff").is_err());
    }

    #[test]
    fn amqplain_deep_nesting_is_bounded() {
        let mut body: Vec<u8> = Vec::new();
        for _ in 0..10_000 {
            let mut outer = vec![1, b'k', b'F'];
            outer.extend_from_slice(&(body.len() as u32).to_be_bytes());
            outer.extend_from_slice(&body);
            body = outer;
        }
        assert_eq!(
            parse_amqplain(&body),
            Err(SaslError::MalformedTable("nested too deeply"))
        );
    }

    #[test]
    fn fuzzish_never_panics() {
        let mut seed = 0x1234_5678_u32;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let len = (seed % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| {
                    let b = (seed.rotate_left(i as u32 * 3) & 0xff) as u8;
                    if b < 0x33 {
                        0
                    } else {
                        b
                    }
                })
                .collect();
            let _ = parse_plain(&bytes);
            let _ = parse_amqplain(&bytes);
        }
    }
}
