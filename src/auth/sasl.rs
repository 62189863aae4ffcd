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

use crate::field_table::{self, Entry, ScanError};
use thiserror::Error;

/// Why a SASL response could not be decoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SaslError {
    /// PLAIN response without exactly three NUL-separated parts.
    #[error("malformed PLAIN response: expected authzid\\0user\\0password")]
    MalformedPlain,
    /// AMQPLAIN response that is not a well-formed field table body.
    #[error("malformed AMQPLAIN response: {0}")]
    MalformedTable(ScanError),
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
    field_table::entries(resp, |e| match e.key {
        b"LOGIN" => {
            login.get_or_insert(e);
        }
        b"PASSWORD" => {
            password.get_or_insert(e);
        }
        _ => {}
    })
    .map_err(SaslError::MalformedTable)?;
    let login = string_field(login, "LOGIN")?;
    let password = string_field(password, "PASSWORD")?;
    Ok((utf8(login)?, utf8(password)?))
}

fn string_field<'a>(entry: Option<Entry<'a>>, name: &'static str) -> Result<&'a [u8], SaslError> {
    match entry {
        None => Err(SaslError::MissingField(name)),
        Some(e) if e.kind == b'S' => Ok(e.value),
        Some(_) => Err(SaslError::WrongFieldType(name)),
    }
}

fn utf8(bytes: &[u8]) -> Result<String, SaslError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| SaslError::InvalidUtf8)
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
            Err(SaslError::MalformedTable(ScanError::TooDeep))
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
