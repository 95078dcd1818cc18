//! Fuzzes a memcached node with arbitrary client bytes, split at a point the
//! input chooses: it never panics, and the same bytes split differently
//! give the same replies.
#![no_main]

use cachelab_engine::memcached::McNode;
use cachelab_engine::{ConnId, Input, Millis, Output};
use libfuzzer_sys::fuzz_target;

fn run(chunks: &[&[u8]]) -> Vec<u8> {
    // A small memory limit so allocation, eviction and reclaim are exercised.
    let mut node = McNode::with_memory(1, 2 << 20);
    let now = Millis(1_700_000_000_000);
    node.start(now, 11211);
    node.handle(
        now,
        Input::ConnOpened {
            conn: ConnId(1),
            peer: "f".into(),
            local: "f".into(),
        },
    );
    let mut out = Vec::new();
    for c in chunks {
        node.handle(
            now,
            Input::ClientBytes {
                conn: ConnId(1),
                bytes: c,
            },
        );
        while let Some(o) = node.poll_output() {
            if let Output::ToClient { bytes, .. } = o {
                out.extend_from_slice(&bytes);
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let split = (data[0] as usize * data.len() / 256).min(data.len());
    let (a, b) = data.split_at(split);
    let whole = run(&[data, &[]]);
    let parts = run(&[a, b]);
    // memcached answers per read, but what it answers does not depend on
    // how the bytes arrived — unless a line longer than 2048 bytes without
    // a newline closed the connection in one of them.
    if !whole.is_empty() && !parts.is_empty() && data.len() < 2048 {
        assert_eq!(whole, parts);
    }
});
