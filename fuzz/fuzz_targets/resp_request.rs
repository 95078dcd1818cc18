//! Fuzzes the request parser with the invariants that matter, not only "no
//! panic": consumption never exceeds the input; a split anywhere parses to the
//! same commands; re-encoding what was parsed parses back to the same argv;
//! and a whole node fed the bytes never panics.
#![no_main]

use cachelab_engine::protocol::{encode_request, parse_request, RequestLimits};
use cachelab_engine::{ConnId, Input, Millis, Node};
use libfuzzer_sys::fuzz_target;

fn parse_all(buf: &[u8]) -> (Vec<Vec<Vec<u8>>>, bool) {
    let limits = RequestLimits::default();
    let mut pos = 0;
    let mut out = Vec::new();
    loop {
        match parse_request(&buf[pos..], &limits) {
            Ok(Some((argv, n))) => {
                assert!(n > 0 && pos + n <= buf.len(), "consumed past the input");
                pos += n;
                out.push(argv);
            }
            Ok(None) => return (out, false),
            Err(_) => return (out, true),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (whole, errored) = parse_all(data);
    if !errored && data.len() > 1 {
        let cut = data[0] as usize % data.len();
        // Parsing a prefix yields a prefix of the commands.
        let (prefix, _) = parse_all(&data[..cut]);
        assert!(prefix.len() <= whole.len());
        assert_eq!(&whole[..prefix.len()], &prefix[..]);
    }
    for argv in whole.iter().filter(|a| !a.is_empty()) {
        let enc = encode_request(argv);
        let (back, err) = parse_all(&enc);
        assert!(!err);
        assert_eq!(back, vec![argv.clone()]);
    }
    let mut node = Node::new(1);
    node.handle(Millis(0), Input::ConnOpened { conn: ConnId(1), peer: "f".into(), local: "f".into() });
    node.handle(Millis(0), Input::ClientBytes { conn: ConnId(1), bytes: data });
    while node.poll_output().is_some() {}
});
