//! The definitions file (RabbitMQ's export JSON) through `store::definitions::from_json`.
//! Loaded definitions must save and load back to the same value (less users' clear-text
//! `password`, an import-only field hashed on import and never written), and every
//! `arguments` map must convert to a field table that amq-protocol encodes and parses back
//! unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warren::store::definitions::{from_json, json_to_field_table};
use warren_fuzz::check_table_round_trip;

fuzz_target!(|data: &[u8]| {
    let Ok(mut defs) = from_json(data) else { return };
    let saved = serde_json::to_vec(&defs).expect("definitions serialize");
    let loaded = from_json(&saved).expect("saved definitions load");
    assert!(loaded.users.iter().all(|u| u.password.is_none()));
    for user in &mut defs.users {
        user.password = None;
    }
    assert_eq!(loaded, defs);
    let arguments = defs
        .queues
        .iter()
        .map(|q| &q.arguments)
        .chain(defs.exchanges.iter().map(|e| &e.arguments))
        .chain(defs.bindings.iter().map(|b| &b.arguments));
    for args in arguments {
        check_table_round_trip(&json_to_field_table(args));
    }
});
