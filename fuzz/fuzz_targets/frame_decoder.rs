//! Arbitrary bytes as a connection's stream after the protocol header: Warren's frame
//! reader (frame header checks, the hand-written `basic.publish`, `basic.ack` and content
//! header decoders, amq-protocol's method decoders), then a round trip of every frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warren_fuzz::{check_frame, decode_all, FRAME_MAX};

fuzz_target!(|data: &[u8]| {
    let (frames, _end) = decode_all(data, FRAME_MAX);
    frames.iter().for_each(check_frame);
});
