//! A content header's property bytes. `Props::parse` (a hand scan without headers,
//! amq-protocol's parser with them) must accept exactly what amq-protocol's full decode
//! accepts and read the same values; `expiration_of` (the lazy reader used when messages
//! come back from disk) must never panic and must agree on properties that parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warren::message::props::Props;

fuzz_target!(|data: &[u8]| {
    let parsed = Props::parse(data);
    let expiration = Props::expiration_of(data);
    let full = Props::decode_full(data);
    match (&parsed, &full) {
        (Some(p), Some(f)) => {
            // Debug, not PartialEq: a NaN in the headers is not equal to itself.
            assert_eq!(format!("{p:?}"), format!("{:?}", Props::from(f)));
            assert_eq!(expiration.as_deref(), p.expiration());
        }
        (None, None) => {}
        _ => panic!("Props::parse gave {parsed:?}, decode_full {full:?}"),
    }
});
