//! A field table: the input is the table's contents (its 4-byte length is added here, so
//! every input is a well-framed table). Warren walks every table a client sends with
//! `field_table::table_len` (iterative, depth-limited) before amq-protocol's recursive
//! parser sees it; this target checks that walk against the parser:
//! * a table nested too deep never reaches the parser (it would overflow the stack);
//! * otherwise the parser runs, as in Warren's method decoder, which leaves faults other
//!   than depth to it, and whatever the parser accepts the walk accepts, with the same size;
//! * an accepted table survives amq-protocol's encoder and parser unchanged;
//! * `Props::parse` of a content header carrying it as `headers` agrees.
#![no_main]

use amq_protocol::types::parsing::parse_field_table;
use libfuzzer_sys::fuzz_target;
use warren::message::props::Props;
use warren::field_table::{table_len, ScanError};
use warren_fuzz::check_table_round_trip;

/// Property flags with only `headers` set.
const HEADERS_ONLY: [u8; 2] = [0x20, 0x00];

fuzz_target!(|data: &[u8]| {
    let Ok(len) = u32::try_from(data.len()) else {
        return;
    };
    let mut table = Vec::with_capacity(4 + data.len());
    table.extend_from_slice(&len.to_be_bytes());
    table.extend_from_slice(data);

    let walked = table_len(&table);
    let mut raw = HEADERS_ONLY.to_vec();
    raw.extend_from_slice(&table);
    let props = Props::parse(&raw);
    if walked == Err(ScanError::TooDeep) {
        assert!(props.is_none(), "headers nested too deep were accepted");
        return;
    }
    // Keys that are not UTF-8 are read with `?` (RabbitMQ takes them as bytes): amq-protocol
    // reads the table with its keys made valid so.
    let mut valid_keys = table.clone();
    let _ = warren::field_table::sanitize_keys(&mut valid_keys[4..]);
    let parsed = match parse_field_table(&valid_keys[..]) {
        Ok((rest, t)) => {
            assert!(rest.is_empty(), "a table read past its own length");
            Some(t)
        }
        Err(_) => None,
    };
    if let Some(t) = &parsed {
        assert_eq!(
            walked,
            Ok(table.len()),
            "amq-protocol read a table the walk refuses"
        );
        check_table_round_trip(t);
    }
    assert_eq!(
        props.as_ref().map(|p| format!("{:?}", p.headers())),
        parsed.as_ref().map(|t| format!("{:?}", Some(t))),
        "Props::parse disagrees with amq-protocol on headers"
    );
});
