//! Fuzzes the reply parser: never panics, never recurses without bound, and
//! whatever it parses re-encodes (RESP3) to bytes that parse to the same reply.
#![no_main]

use cachelab_engine::protocol::parse_reply;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((reply, n))) = parse_reply(data) {
        assert!(n <= data.len());
        let enc = reply.to_bytes(3);
        if let Ok(Some((back, m))) = parse_reply(&enc) {
            assert_eq!(m, enc.len());
            // NaN doubles never compare equal; compare encodings instead.
            assert_eq!(back.to_bytes(3), enc);
        } else {
            panic!("re-encoded reply does not parse");
        }
    }
});
