//! `client-output-buffer-limit` in virtual time: the runtime reports what
//! it has not written (`Input::Unwritten`); a client over its class's hard
//! limit, or over the soft limit for longer than its seconds, is dropped —
//! and only that client (Redis's tests/unit/obuf-limits.tcl, in the node).

use cachelab_engine::protocol::{encode_request, split_args};
use cachelab_engine::{ConnId, Input, Millis, Node, NodeEvent, Output};

const SUB: ConnId = ConnId(2);
const OTHER: ConnId = ConnId(3);

struct H {
    node: Node,
    now: Millis,
}

impl H {
    fn new() -> H {
        let now = Millis(1_700_000_000_000);
        let mut node = Node::new(7);
        node.start(now, 6379);
        let mut h = H { node, now };
        for c in [ConnId(1), SUB, OTHER] {
            h.node.handle(
                now,
                Input::ConnOpened {
                    conn: c,
                    peer: format!("127.0.0.1:{}", 50000 + c.0),
                    local: "127.0.0.1:6379".into(),
                },
            );
        }
        h.outputs();
        h
    }

    fn outputs(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.node.poll_output()).collect()
    }

    /// Sends `line` on `conn`; every output.
    fn send(&mut self, conn: ConnId, line: &str) -> Vec<Output> {
        let argv = split_args(line.as_bytes()).expect("balanced");
        self.node.handle(
            self.now,
            Input::ClientBytes {
                conn,
                bytes: &encode_request(&argv),
            },
        );
        self.outputs()
    }

    /// The bytes `conn` was sent by `line`.
    fn reply(&mut self, conn: ConnId, line: &str) -> String {
        let outs = self.send(conn, line);
        text_to(&outs, conn)
    }

    fn unwritten(&mut self, conn: ConnId, bytes: usize) -> Vec<Output> {
        self.node.handle(self.now, Input::Unwritten { conn, bytes });
        self.outputs()
    }

    fn tick_after(&mut self, ms: u64) -> Vec<Output> {
        self.now = self.now.plus(ms);
        self.node.handle(self.now, Input::Tick);
        self.outputs()
    }

    fn client_list(&mut self) -> String {
        self.reply(ConnId(1), "CLIENT LIST")
    }
}

fn text_to(outs: &[Output], conn: ConnId) -> String {
    let mut b = Vec::new();
    for o in outs {
        if let Output::ToClient { conn: c, bytes } = o {
            if *c == conn {
                b.extend_from_slice(bytes);
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

fn closed(outs: &[Output], conn: ConnId) -> bool {
    outs.contains(&Output::CloseConn { conn })
}

fn warning(outs: &[Output]) -> Option<String> {
    outs.iter().find_map(|o| match o {
        Output::Event(NodeEvent::Warning { text }) => Some(text.clone()),
        _ => None,
    })
}

#[test]
fn config_set_and_get_as_redis() {
    let mut h = H::new();
    assert_eq!(
        h.reply(ConnId(1), "CONFIG GET client-output-buffer-limit"),
        "*2\r\n$26\r\nclient-output-buffer-limit\r\n$67\r\nnormal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60\r\n"
    );
    for (value, reason) in [
        (
            "wrong number",
            "Wrong number of arguments in buffer limit configuration.",
        ),
        (
            "master 10mb 10mb 60",
            "Invalid client class specified in buffer limit configuration.",
        ),
        (
            "normal 10mbs 10mb 60",
            "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
        ),
    ] {
        assert_eq!(
            h.reply(ConnId(1), &format!("CONFIG SET client-output-buffer-limit \"{value}\"")),
            format!("-ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - {reason}\r\n")
        );
    }
    assert_eq!(
        h.reply(
            ConnId(1),
            "CONFIG SET client-output-buffer-limit \"normal 1mb 2mb 60 replica 3mb 4mb 70\""
        ),
        "+OK\r\n"
    );
    assert!(h
        .reply(ConnId(1), "CONFIG GET client-output-buffer-limit")
        .contains("normal 1048576 2097152 60 slave 3145728 4194304 70 pubsub 33554432 8388608 60"));
}

#[test]
fn a_subscriber_over_the_hard_limit_is_dropped_and_only_it() {
    let mut h = H::new();
    h.reply(
        ConnId(1),
        "CONFIG SET client-output-buffer-limit \"pubsub 100000 0 0\"",
    );
    assert!(h.reply(SUB, "SUBSCRIBE foo").contains("subscribe"));
    // A normal client with as much unwritten is not a subscriber: no limit.
    assert!(!closed(&h.unwritten(OTHER, 1 << 20), OTHER));
    // Under the limit (past the 16 KiB static buffer) it stays; omem shows it.
    assert!(h.unwritten(SUB, 16384 + 80_000).is_empty());
    let list = h.client_list();
    assert!(
        list.contains("flags=P") && list.contains("obl=16384 oll=5 omem=80000"),
        "{list}"
    );
    // At the limit: dropped, with Redis's warning.
    let outs = h.unwritten(SUB, 16384 + 100_000);
    assert!(closed(&outs, SUB), "{outs:?}");
    let w = warning(&outs).expect("a warning");
    assert!(
        w.starts_with("Client id=")
            && w.ends_with("scheduled to be closed ASAP for overcoming of output buffer limits."),
        "{w}"
    );
    assert!(!h.client_list().contains("flags=P"));
    // A PUBLISH no longer reaches it; the others are served.
    assert_eq!(h.reply(ConnId(1), "PUBLISH foo bar"), ":0\r\n");
    assert_eq!(h.reply(OTHER, "PING"), "+PONG\r\n");
}

#[test]
fn the_soft_limit_drops_after_its_seconds_even_with_no_traffic() {
    let mut h = H::new();
    h.reply(
        ConnId(1),
        "CONFIG SET client-output-buffer-limit \"pubsub 0 100000 3\"",
    );
    h.reply(SUB, "SUBSCRIBE foo");
    assert!(h.unwritten(SUB, 16384 + 150_000).is_empty());
    // Within its seconds (and a dip below resets the clock).
    assert!(!closed(&h.tick_after(2_000), SUB));
    assert!(h.unwritten(SUB, 16384 + 50_000).is_empty());
    assert!(h.unwritten(SUB, 16384 + 150_000).is_empty());
    assert!(!closed(&h.tick_after(3_000), SUB));
    // More than 3 s over it since the dip: the cron drops it.
    let outs = h.tick_after(1_100);
    assert!(closed(&outs, SUB), "{outs:?}");
    assert!(warning(&outs)
        .unwrap()
        .ends_with("closed for overcoming of output buffer limits."));
    // A client that writes its output in time keeps its connection.
    h.reply(OTHER, "SUBSCRIBE foo");
    assert!(h.unwritten(OTHER, 16384 + 150_000).is_empty());
    assert!(h.unwritten(OTHER, 0).is_empty());
    assert!(!closed(&h.tick_after(10_000), OTHER));
}

/// `key`: a list of 150 items of 1,000 bytes, whose LRANGE is over the
/// normal class's limit, set to 100,000 bytes.
fn list_over_the_normal_limit(h: &mut H, key: &str) {
    let item = "x".repeat(1000);
    for _ in 0..150 {
        h.reply(ConnId(1), &format!("LPUSH {key} {item}"));
    }
    h.reply(
        ConnId(1),
        "CONFIG SET client-output-buffer-limit \"normal 100000 0 0\"",
    );
}

#[test]
fn no_response_for_a_reply_over_the_normal_limit() {
    let mut h = H::new();
    list_over_the_normal_limit(&mut h, "mylist");
    h.reply(OTHER, "CLIENT SETNAME mybiglist");
    let outs = h.send(OTHER, "LRANGE mylist 0 -1");
    assert_eq!(text_to(&outs, OTHER), "", "no reply at all");
    assert!(closed(&outs, OTHER));
    assert!(!h.client_list().contains("mybiglist"));
    // A pipeline stops where the limit is reached: nothing after it runs.
    let value = "x".repeat(10_000);
    h.reply(ConnId(1), &format!("SET bigkey {value}"));
    let mut pipe = Vec::new();
    for i in 0..15 {
        pipe.extend(encode_request(&[
            b"SET".to_vec(),
            format!("k{i}").into_bytes(),
            b"v".to_vec(),
        ]));
        pipe.extend(encode_request(&[b"GET".to_vec(), b"bigkey".to_vec()]));
    }
    h.node.handle(
        h.now,
        Input::ClientBytes {
            conn: SUB,
            bytes: &pipe,
        },
    );
    let outs = h.outputs();
    assert_eq!(text_to(&outs, SUB), "");
    assert!(closed(&outs, SUB));
    // 12 GETs (120,156 bytes) pass 16 KiB + 100,000: SET k12 never ran.
    assert_eq!(h.reply(ConnId(1), "EXISTS k0 k11 k12 k14"), ":2\r\n");
}

#[test]
fn a_transaction_runs_to_its_end_before_the_client_is_dropped() {
    let mut h = H::new();
    list_over_the_normal_limit(&mut h, "mylist2");
    h.reply(OTHER, "SET k1 v1");
    for cmd in [
        "MULTI",
        "SET k2 v2",
        "GET k2",
        "LRANGE mylist2 0 -1",
        "SET k3 v3",
        "DEL k1",
    ] {
        h.reply(OTHER, cmd);
    }
    let outs = h.send(OTHER, "EXEC");
    assert_eq!(text_to(&outs, OTHER), "");
    assert!(closed(&outs, OTHER));
    assert_eq!(
        h.reply(ConnId(1), "MGET k1 k2 k3"),
        "*3\r\n$-1\r\n$2\r\nv2\r\n$2\r\nv3\r\n"
    );
}

#[test]
fn limits_off_and_small_output_cost_nothing() {
    let mut h = H::new();
    // Defaults: normal clients have no limit, whatever waits.
    assert!(h.unwritten(ConnId(1), 1 << 30).is_empty());
    assert_eq!(h.reply(ConnId(1), "PING"), "+PONG\r\n");
    assert!(h.unwritten(ConnId(1), 0).is_empty());
    // A report for a client that is gone is ignored.
    assert!(h.unwritten(ConnId(99), 1 << 30).is_empty());
    // Fully written: the client is no longer watched by the cron.
    h.reply(
        ConnId(1),
        "CONFIG SET client-output-buffer-limit \"normal 0 1 1\"",
    );
    assert!(h.unwritten(OTHER, 16384 + 10).is_empty());
    assert!(h.unwritten(OTHER, 0).is_empty());
    assert!(!closed(&h.tick_after(5_000), OTHER));
    assert!(h.client_list().contains("obl=0 oll=0 omem=0"));
}

#[test]
fn a_replica_is_held_to_the_stream_after_its_rdb_not_the_rdb() {
    let mut h = H::new();
    h.reply(
        ConnId(1),
        "CONFIG SET client-output-buffer-limit \"replica 1mb 0 0\"",
    );
    let outs = h.send(SUB, "PSYNC ? -1");
    assert!(text_to(&outs, SUB).starts_with("+FULLRESYNC"), "{outs:?}");
    // However large the RDB still unwritten, nothing was streamed after it.
    assert!(!closed(&h.unwritten(SUB, 300 << 20), SUB));
    assert!(h.client_list().contains("flags=S"));
    // 1.2 MB of writes streamed behind it, unread: over the hard limit
    // (never below repl-backlog-size, 1 MB here).
    let value = "v".repeat(200_000);
    for i in 0..6 {
        h.reply(ConnId(1), &format!("SET k{i} {value}"));
    }
    let outs = h.unwritten(SUB, (300 << 20) + 1_200_100);
    assert!(closed(&outs, SUB), "{outs:?}");
    assert!(!h.client_list().contains("flags=S"));
}
