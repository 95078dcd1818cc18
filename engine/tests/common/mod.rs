//! A node with a few client connections on a virtual clock, shared by the
//! engine-level tests that need several clients (ops, scripting).

#![allow(dead_code)]

use cachelab_engine::protocol::{encode_request, split_args};
use cachelab_engine::{ConnId, Input, Millis, Node, Output};

pub struct Harness {
    pub node: Node,
    pub now: Millis,
    /// Outputs other than client bytes, in order (links, peers, events).
    pub other: Vec<Output>,
}

impl Harness {
    /// A node seeded with `seed` and clients on connections 1..=3 (peers
    /// 127.0.0.1:50001…).
    pub fn new(seed: u64) -> Harness {
        let now = Millis(1_700_000_000_000);
        let mut node = Node::new(seed);
        node.start(now, 6379);
        let mut h = Harness {
            node,
            now,
            other: Vec::new(),
        };
        for c in 1..=3 {
            h.node.handle(
                h.now,
                Input::ConnOpened {
                    conn: ConnId(c),
                    peer: format!("127.0.0.1:{}", 50000 + c),
                    local: "127.0.0.1:6379".into(),
                },
            );
        }
        h
    }

    /// Sends a line (split as redis-cli splits it) on `conn`; returns what
    /// each connection received.
    pub fn send(&mut self, conn: u64, line: &str) -> [String; 4] {
        let argv = split_args(line.as_bytes()).expect("balanced quotes");
        self.node.handle(
            self.now,
            Input::ClientBytes {
                conn: ConnId(conn),
                bytes: &encode_request(&argv),
            },
        );
        self.drain()
    }

    pub fn drain(&mut self) -> [String; 4] {
        let mut out: [String; 4] = Default::default();
        while let Some(o) = self.node.poll_output() {
            match o {
                Output::ToClient { conn, bytes } => {
                    out[conn.0 as usize].push_str(&String::from_utf8_lossy(&bytes))
                }
                o => self.other.push(o),
            }
        }
        out
    }

    /// What `conn` itself got back.
    pub fn on(&mut self, conn: u64, line: &str) -> String {
        self.send(conn, line)[conn as usize].clone()
    }

    /// Advances virtual time by `ms` and ticks the node.
    pub fn advance(&mut self, ms: u64) -> [String; 4] {
        self.now = self.now.plus(ms);
        self.node.handle(self.now, Input::Tick);
        self.drain()
    }

    /// Feeds an input (a link's bytes…) and returns what each connection got.
    pub fn input(&mut self, input: Input<'_>) -> [String; 4] {
        self.node.handle(self.now, input);
        self.drain()
    }

    pub fn info(&mut self, section: &str) -> String {
        self.on(1, &format!("INFO {section}"))
    }
}
