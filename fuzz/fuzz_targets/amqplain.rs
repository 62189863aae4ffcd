//! A `connection.start-ok` SASL response, through both mechanisms' decoders. Credentials
//! that decode must decode again, unchanged, from their canonical encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warren::auth::{parse_amqplain, parse_plain};

fn amqplain(user: &str, password: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in [("LOGIN", user), ("PASSWORD", password)] {
        out.push(key.len() as u8);
        out.extend_from_slice(key.as_bytes());
        out.push(b'S');
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if let Ok((user, password)) = parse_amqplain(data) {
        let again = parse_amqplain(&amqplain(&user, &password));
        assert_eq!(again, Ok((user, password)));
    }
    if let Ok((user, password)) = parse_plain(data) {
        let again = parse_plain(format!("\0{user}\0{password}").as_bytes());
        assert_eq!(again, Ok((user, password)));
    }
});
