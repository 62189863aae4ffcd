//! What the broker reads from a message's properties, taken from the publisher's encoded
//! bytes without building amq-protocol's `BasicProperties` (a String per property) on every
//! publish. Properties with a `headers` table go through amq-protocol's parser, which also
//! validates the table; without one, a scan that accepts exactly what that parser accepts.

use amq_protocol::frame::WriteContext;
use amq_protocol::protocol::basic::{gen_properties, parse_properties};
use amq_protocol::protocol::BasicProperties;
use amq_protocol::types::FieldTable;
use bytes::Bytes;
use smallvec::SmallVec;
use std::borrow::Cow;
use std::ops::Range;

/// The properties routing, queues and checks need. Kept small (it travels with every
/// content header): the ones most messages lack sit behind one box.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Props {
    pub delivery_mode: Option<u8>,
    pub priority: Option<u8>,
    rare: Option<Box<Rare>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Rare {
    expiration: Option<String>,
    user_id: Option<String>,
    reply_to: Option<String>,
    headers: Option<FieldTable>,
}

const HEADERS: u16 = 1 << 13;
const EXPIRATION: u16 = 1 << 8;
const TIMESTAMP: u16 = 1 << 6;

/// Property flags in wire order, with the width of a fixed-size value (0: a short string).
const FIELDS: [(u16, usize); 14] = [
    (1 << 15, 0),    // content-type
    (1 << 14, 0),    // content-encoding
    (HEADERS, 0),    // headers (not scanned)
    (1 << 12, 1),    // delivery-mode
    (1 << 11, 1),    // priority
    (1 << 10, 0),    // correlation-id
    (1 << 9, 0),     // reply-to
    (EXPIRATION, 0), // expiration
    (1 << 7, 0),     // message-id
    (TIMESTAMP, 8),  // timestamp
    (1 << 5, 0),     // type
    (1 << 4, 0),     // user-id
    (1 << 3, 0),     // app-id
    (1 << 2, 0),     // cluster-id
];

impl Props {
    /// Reads encoded properties; `None` if they are malformed. Short strings and header keys
    /// that are not UTF-8 are read with `?` for each bad byte (RabbitMQ takes them as bytes).
    pub fn parse(raw: &[u8]) -> Option<Props> {
        Self::parse_utf8(raw).or_else(|| Self::parse_utf8(&sanitized(raw)?))
    }

    fn parse_utf8(raw: &[u8]) -> Option<Props> {
        let flags = u16::from_be_bytes([*raw.first()?, *raw.get(1)?]);
        if flags & HEADERS != 0 {
            // amq-protocol's table decoder recurses: walk the headers first (bounded).
            crate::field_table::table_len(raw.get(headers_at(raw, flags)?..)?).ok()?;
            return match parse_properties(raw) {
                Ok((&[], p)) => Some(Props::from(&p)),
                _ => None,
            };
        }
        let mut props = Props::default();
        let mut rare = Rare::default();
        let mut pos = 2;
        for (bit, width) in FIELDS {
            if flags & bit == 0 {
                continue;
            }
            if width > 0 {
                let v = raw.get(pos..pos + width)?;
                match bit {
                    0x1000 => props.delivery_mode = Some(v[0]),
                    0x0800 => props.priority = Some(v[0]),
                    _ => {}
                }
                pos += width;
                continue;
            }
            let len = *raw.get(pos)? as usize;
            let s = std::str::from_utf8(raw.get(pos + 1..pos + 1 + len)?).ok()?;
            pos += 1 + len;
            let slot = match bit {
                0x0200 => &mut rare.reply_to,
                EXPIRATION => &mut rare.expiration,
                0x0010 => &mut rare.user_id,
                _ => continue,
            };
            *slot = Some(s.to_owned());
        }
        if rare != Rare::default() {
            props.rare = Some(Box::new(rare));
        }
        (pos == raw.len()).then_some(props)
    }

    /// The full decode (for the rare paths that rewrite properties), with `?` for bytes that
    /// are not UTF-8 as in [`Props::parse`].
    pub fn decode_full(raw: &[u8]) -> Option<BasicProperties> {
        Self::decode_utf8(raw).or_else(|| Self::decode_utf8(&sanitized(raw)?))
    }

    fn decode_utf8(raw: &[u8]) -> Option<BasicProperties> {
        let flags = u16::from_be_bytes([*raw.first()?, *raw.get(1)?]);
        if flags & HEADERS != 0 {
            crate::field_table::table_len(raw.get(headers_at(raw, flags)?..)?).ok()?;
        }
        match parse_properties(raw) {
            Ok((&[], p)) => Some(p),
            _ => None,
        }
    }

    /// The `expiration` property of encoded properties already validated (a headers
    /// table is skipped by its length, not decoded); `None` if absent or malformed.
    pub fn expiration_of(raw: &[u8]) -> Option<Cow<'_, str>> {
        let (_, span) = spans(raw)?
            .into_iter()
            .find(|(bit, _)| *bit == EXPIRATION)?;
        let bytes = raw.get(span.start + 1..span.end)?;
        Some(match std::str::from_utf8(bytes) {
            Ok(s) => Cow::Borrowed(s),
            // As `parse` reads it: `?` for each byte that is not UTF-8.
            Err(_) => {
                let mut owned = bytes.to_vec();
                crate::field_table::question_marks(&mut owned);
                Cow::Owned(String::from_utf8(owned).ok()?)
            }
        })
    }

    /// The `timestamp` property of encoded properties already validated; `None` if
    /// absent or malformed.
    pub fn timestamp_of(raw: &[u8]) -> Option<u64> {
        let (_, span) = spans(raw)?.into_iter().find(|(bit, _)| *bit == TIMESTAMP)?;
        Some(u64::from_be_bytes(raw.get(span)?.try_into().ok()?))
    }

    pub fn expiration(&self) -> Option<&str> {
        self.rare.as_ref()?.expiration.as_deref()
    }

    pub fn user_id(&self) -> Option<&str> {
        self.rare.as_ref()?.user_id.as_deref()
    }

    pub fn reply_to(&self) -> Option<&str> {
        self.rare.as_ref()?.reply_to.as_deref()
    }

    pub fn headers(&self) -> Option<&FieldTable> {
        self.rare.as_ref()?.headers.as_ref()
    }

    pub fn take_headers(&mut self) -> Option<FieldTable> {
        self.rare.as_mut()?.headers.take()
    }

    pub fn set_reply_to(&mut self, to: String) {
        self.rare.get_or_insert_with(Default::default).reply_to = Some(to);
    }
}

/// A copy of encoded properties whose short strings and header keys (at any depth) are
/// valid UTF-8, each bad byte made `?` (lengths stay); `None` if the properties are
/// malformed in any other way.
fn sanitized(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = raw.to_vec();
    for (bit, span) in spans(raw)? {
        let value = out.get_mut(span.clone())?;
        match (bit, value.len()) {
            (HEADERS, _) => {
                crate::field_table::table_len(value).ok()?;
                crate::field_table::sanitize_keys(&mut value[4..]).ok()?;
            }
            (_, n) if FIELDS.iter().any(|f| f.0 == bit && f.1 == 0) && n > 0 => {
                crate::field_table::question_marks(&mut value[1..]);
            }
            _ => {}
        }
    }
    Some(out)
}

/// Each present property's flag bit and byte range (at most the 14 properties).
type Spans = SmallVec<[(u16, Range<usize>); 14]>;

/// Where each property present in `raw` lies, in wire order: its flag bit and its bytes
/// (with the length prefix of a short string or of the headers table, whose contents are
/// not checked here); `None` if a length runs past the end.
fn spans(raw: &[u8]) -> Option<Spans> {
    let flags = u16::from_be_bytes([*raw.first()?, *raw.get(1)?]);
    let mut out = SmallVec::new();
    let mut pos = 2;
    for (bit, width) in FIELDS {
        if flags & bit == 0 {
            continue;
        }
        let len = match (bit, width) {
            (HEADERS, _) => {
                4 + u32::from_be_bytes(raw.get(pos..pos + 4)?.try_into().ok()?) as usize
            }
            (_, 0) => 1 + usize::from(*raw.get(pos)?),
            _ => width,
        };
        raw.get(pos..pos + len)?;
        out.push((bit, pos..pos + len));
        pos += len;
    }
    Some(out)
}

/// Where the headers table starts: after the flags and, if present, content-type and
/// content-encoding (the only properties before it).
fn headers_at(raw: &[u8], flags: u16) -> Option<usize> {
    let mut pos = 2;
    for bit in [1 << 15, 1 << 14] {
        if flags & bit != 0 {
            pos += 1 + usize::from(*raw.get(pos)?);
        }
    }
    Some(pos)
}

impl From<&BasicProperties> for Props {
    fn from(p: &BasicProperties) -> Self {
        let s = |v: &Option<amq_protocol::types::ShortString>| v.as_ref().map(|v| v.to_string());
        let rare = Rare {
            expiration: s(p.expiration()),
            user_id: s(p.user_id()),
            reply_to: s(p.reply_to()),
            headers: p.headers().clone(),
        };
        Props {
            delivery_mode: *p.delivery_mode(),
            priority: *p.priority(),
            rare: (rare != Rare::default()).then(|| Box::new(rare)),
        }
    }
}

/// Encodes properties into the raw form used in content headers.
pub fn encode_properties(props: &BasicProperties) -> Bytes {
    match gen_properties(props)(WriteContext::from(Vec::new())) {
        Ok(ctx) => Bytes::from(ctx.write),
        Err(e) => {
            tracing::error!("cannot encode properties: {e:?}");
            Bytes::from_static(&[0, 0])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::encode_properties;
    use super::*;
    use amq_protocol::types::{AMQPValue, ShortString};

    fn all_fields() -> BasicProperties {
        BasicProperties::default()
            .with_content_type("text/plain".into())
            .with_content_encoding("gzip".into())
            .with_delivery_mode(2)
            .with_priority(7)
            .with_correlation_id("c-1".into())
            .with_reply_to("replies".into())
            .with_expiration("6000".into())
            .with_message_id("m-9".into())
            .with_timestamp(1_700_000_000)
            .with_type("k".into())
            .with_user_id("guest".into())
            .with_app_id("app".into())
            .with_cluster_id("cl".into())
    }

    #[test]
    fn scan_matches_amq_protocol_for_every_field() {
        let p = all_fields();
        let raw = encode_properties(&p);
        assert_eq!(Props::parse(&raw), Some(Props::from(&p)));
        let got = Props::parse(&raw).expect("parses");
        assert_eq!(got.delivery_mode, Some(2));
        assert_eq!(got.priority, Some(7));
        assert_eq!(got.expiration(), Some("6000"));
        assert_eq!(got.user_id(), Some("guest"));
        assert_eq!(got.reply_to(), Some("replies"));
    }

    #[test]
    fn headers_go_through_the_full_parser() {
        let mut h = FieldTable::default();
        h.insert(ShortString::from("x"), AMQPValue::LongInt(5));
        let p = all_fields().with_headers(h.clone());
        let got = Props::parse(&encode_properties(&p)).expect("parses");
        assert_eq!(got.headers(), Some(&h));
        assert_eq!(got.priority, Some(7));
    }

    #[test]
    fn expiration_is_found_past_a_headers_table() {
        let mut h = FieldTable::default();
        h.insert(
            ShortString::from("x"),
            AMQPValue::LongString("a long value".into()),
        );
        let with_headers = encode_properties(&all_fields().with_headers(h));
        assert_eq!(Props::expiration_of(&with_headers).as_deref(), Some("6000"));
        assert_eq!(
            Props::expiration_of(&encode_properties(&all_fields())).as_deref(),
            Some("6000")
        );
        let none = BasicProperties::default().with_message_id("m".into());
        assert_eq!(Props::expiration_of(&encode_properties(&none)), None);
        assert_eq!(Props::expiration_of(&[0, 0]), None);
        let raw = encode_properties(&all_fields());
        for cut in 0..raw.len() {
            let _ = Props::expiration_of(&raw[..cut]);
        }
    }

    #[test]
    fn timestamp_is_read_as_amq_protocol_reads_it_past_a_headers_table() {
        let mut h = FieldTable::default();
        h.insert(ShortString::from("x"), AMQPValue::LongInt(5));
        for p in [all_fields(), all_fields().with_headers(h)] {
            let raw = encode_properties(&p);
            assert_eq!(Props::timestamp_of(&raw), *p.timestamp());
            for cut in 0..raw.len() {
                let _ = Props::timestamp_of(&raw[..cut]);
            }
        }
        let none = BasicProperties::default().with_message_id("m".into());
        assert_eq!(Props::timestamp_of(&encode_properties(&none)), None);
        assert_eq!(Props::timestamp_of(&[0, 0]), None);
    }

    #[test]
    fn malformed_properties_are_refused_like_amq_protocol() {
        let raw = encode_properties(&all_fields());
        for cut in 0..raw.len() {
            let short = &raw[..cut];
            assert_eq!(
                Props::parse(short).is_some(),
                Props::decode_full(short).is_some()
            );
            assert!(Props::parse(short).is_none(), "cut at {cut}");
        }
        let mut trailing = raw.to_vec();
        trailing.push(0);
        assert!(Props::parse(&trailing).is_none());
        // Empty properties.
        assert_eq!(Props::parse(&[0, 0]), Some(Props::default()));
    }

    /// RabbitMQ takes short strings and header keys as bytes: what is not UTF-8 is read with
    /// `?` for each bad byte, with or without headers (amq-protocol alone refuses it).
    #[test]
    fn short_strings_and_header_keys_that_are_not_utf8_are_read() {
        // content-type "\xff", reply-to "r\xfe".
        let bad = [0x82, 0x00, 1, 0xff, 2, b'r', 0xfe];
        let p = Props::parse(&bad).expect("read");
        assert_eq!(p.reply_to(), Some("r?"));
        assert_eq!(
            Props::decode_full(&bad).expect("decoded").content_type(),
            &Some("?".into())
        );
        // Headers {"k\xff": {"\xe9": void}} and content-type "\xc3".
        let table = [0, 0, 0, 11, 2, b'k', 0xff, b'F', 0, 0, 0, 3, 1, 0xe9, b'V'];
        let mut raw = vec![0xa0, 0x00, 1, 0xc3];
        raw.extend(table);
        let p = Props::parse(&raw).expect("read with headers");
        let headers = p.headers().expect("headers");
        assert!(headers.contains_key("k?"));
        assert!(Props::decode_full(&raw).is_some());
        // Still refused: a table that is malformed for other reasons.
        raw[7] = b'Z';
        assert!(Props::parse(&raw).is_none());
    }
}
