//! The engine-only workload `cargo xtask bench` times natively and in wasm:
//! SET then GET of 1000 keys, round robin, through a node's full request path
//! (parse, execute, encode). No clock here: callers time it.

use crate::{ConnId, Input, Millis, Node};

/// Runs `n` SET+GET pairs; returns the number of commands executed.
pub fn set_get_loop(n: u32) -> u64 {
    let mut node = Node::new(1);
    node.start(Millis(0), 6379);
    let c = ConnId(1);
    node.handle(
        Millis(0),
        Input::ConnOpened {
            conn: c,
            peer: "bench".into(),
            local: "bench".into(),
        },
    );
    let reqs: Vec<Vec<u8>> = (0..1000)
        .map(|i| format!("*3\r\n$3\r\nSET\r\n$8\r\nkey:{i:04}\r\n$3\r\nxyz\r\n*2\r\n$3\r\nGET\r\n$8\r\nkey:{i:04}\r\n").into_bytes())
        .collect();
    for i in 0..n as usize {
        node.handle(
            Millis(0),
            Input::ClientBytes {
                conn: c,
                bytes: &reqs[i % reqs.len()],
            },
        );
        while node.poll_output().is_some() {}
    }
    node.view().commands_processed
}
