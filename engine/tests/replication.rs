//! Replication between nodes, driven by hand: a tiny FIFO network whose
//! links can be cut, and one client connection per node. Virtual time only.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use cachelab_engine::protocol::{encode_request, parse_reply, Reply};
use cachelab_engine::{ConnId, Input, Millis, Node, Output, PeerMsg};

struct Net {
    nodes: BTreeMap<String, Node>,
    queue: VecDeque<(String, String, PeerMsg)>,
    cut: BTreeSet<String>,
    inbox: BTreeMap<String, Vec<u8>>,
    now: Millis,
    /// Applied to every message before delivery (to corrupt or count them).
    tamper: Option<Tamper>,
}

type Tamper = Box<dyn FnMut(&mut PeerMsg)>;

const C: ConnId = ConnId(1);

impl Net {
    fn new(names: &[&str]) -> Net {
        let mut net = Net {
            nodes: BTreeMap::new(),
            queue: VecDeque::new(),
            cut: BTreeSet::new(),
            inbox: BTreeMap::new(),
            now: Millis(1_000_000),
            tamper: None,
        };
        for (i, name) in names.iter().enumerate() {
            let mut n = Node::new(i as u64 + 1);
            n.start(net.now, 6379);
            n.handle(
                net.now,
                Input::ConnOpened {
                    conn: C,
                    peer: "10.0.0.9:5000".into(),
                    local: format!("{name}:6379"),
                },
            );
            net.nodes.insert(format!("{name}:6379"), n);
        }
        net
    }

    fn drain(&mut self, addr: &str) {
        let node = self.nodes.get_mut(addr).unwrap();
        while let Some(o) = node.poll_output() {
            match o {
                Output::ToPeer { to, msg } => self.queue.push_back((addr.to_string(), to, msg)),
                Output::ToClient { bytes, .. } => self
                    .inbox
                    .entry(addr.to_string())
                    .or_default()
                    .extend(bytes),
                _ => {}
            }
        }
    }

    /// Delivers messages until none are left.
    fn settle(&mut self) {
        for a in self.nodes.keys().cloned().collect::<Vec<_>>() {
            self.drain(&a);
        }
        while let Some((from, to, mut msg)) = self.queue.pop_front() {
            if self.cut.contains(&from) || self.cut.contains(&to) || !self.nodes.contains_key(&to) {
                continue;
            }
            if let Some(t) = self.tamper.as_mut() {
                t(&mut msg);
            }
            let now = self.now;
            self.nodes
                .get_mut(&to)
                .unwrap()
                .handle(now, Input::Peer { from: &from, msg });
            self.drain(&to);
        }
    }

    /// Advances virtual time in 100 ms steps, ticking every node.
    fn advance(&mut self, ms: u64) {
        let end = self.now.plus(ms);
        while self.now < end {
            self.now = self.now.plus(100.min(end.0 - self.now.0));
            for a in self.nodes.keys().cloned().collect::<Vec<_>>() {
                let now = self.now;
                self.nodes.get_mut(&a).unwrap().handle(now, Input::Tick);
                self.drain(&a);
            }
            self.settle();
        }
    }

    fn send(&mut self, node: &str, args: &[&str]) {
        let addr = format!("{node}:6379");
        let argv: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        let bytes = encode_request(&argv);
        let now = self.now;
        self.nodes.get_mut(&addr).unwrap().handle(
            now,
            Input::ClientBytes {
                conn: C,
                bytes: &bytes,
            },
        );
        self.drain(&addr);
        self.settle();
    }

    fn reply(&mut self, node: &str) -> Option<Reply> {
        let buf = self.inbox.entry(format!("{node}:6379")).or_default();
        let (r, n) = parse_reply(buf).unwrap()?;
        buf.drain(..n);
        Some(r)
    }

    fn cmd(&mut self, node: &str, args: &[&str]) -> Reply {
        self.send(node, args);
        self.reply(node).expect("a reply")
    }

    fn info(&mut self, node: &str) -> BTreeMap<String, String> {
        let Reply::Bulk(b) = self.cmd(node, &["INFO", "replication"]) else {
            panic!("INFO")
        };
        String::from_utf8(b)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn node(&self, name: &str) -> &Node {
        &self.nodes[&format!("{name}:6379")]
    }
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}
fn ok() -> Reply {
    Reply::Simple("OK".into())
}
fn int(n: i64) -> Reply {
    Reply::Int(n)
}
fn err(s: &str) -> Reply {
    Reply::Error(s.into())
}

fn group(names: &[&str]) -> Net {
    let mut net = Net::new(names);
    for r in &names[1..] {
        assert_eq!(net.cmd(r, &["REPLICAOF", names[0], "6379"]), ok());
    }
    net.settle();
    net
}

#[test]
fn full_sync_carries_data_and_absolute_ttls() {
    let mut net = Net::new(&["p", "r"]);
    net.cmd("p", &["SET", "a", "1"]);
    net.cmd("p", &["SET", "big", &"x".repeat(5000)]);
    net.cmd("p", &["SET", "t", "v", "EX", "100"]);
    assert_eq!(net.cmd("r", &["REPLICAOF", "p", "6379"]), ok());
    assert_eq!(
        net.cmd("r", &["REPLICAOF", "p", "6379"]),
        Reply::Simple("OK Already connected to specified master".into())
    );
    net.settle();
    assert_eq!(net.cmd("r", &["GET", "a"]), bulk("1"));
    assert_eq!(net.cmd("r", &["STRLEN", "big"]), int(5000));
    assert_eq!(net.cmd("r", &["PTTL", "t"]), int(100_000));
    assert_eq!(net.node("p").digest(), net.node("r").digest());
    let i = net.info("r");
    assert_eq!(i["role"], "slave");
    assert_eq!(i["master_link_status"], "up");
    assert_eq!(i["master_host"], "p");
    assert_eq!(i["master_replid"], net.info("p")["master_replid"]);
    assert_eq!(net.info("p")["connected_slaves"], "1");
    assert_eq!(net.info("p")["repl_backlog_active"], "1");
    assert!(net.info("p")["slave0"].starts_with("ip=r,port=6379,state=online,offset="));
}

#[test]
fn the_stream_carries_effects() {
    let mut net = group(&["p", "r"]);
    net.cmd("p", &["SET", "t", "v", "EX", "10"]);
    net.cmd("p", &["INCRBYFLOAT", "f", "0.1"]);
    net.cmd("p", &["INCRBYFLOAT", "f", "0.2"]);
    net.cmd("p", &["APPEND", "s", "abc"]);
    net.cmd("p", &["RENAME", "s", "s2"]);
    net.cmd("p", &["SELECT", "3"]);
    net.cmd("p", &["SET", "in3", "x"]);
    net.cmd("p", &["SWAPDB", "3", "4"]);
    net.cmd("p", &["SELECT", "0"]);
    net.cmd("p", &["GETDEL", "missing"]);
    // Time passes only on the replica's clock reading: the TTL is absolute.
    net.advance(4000);
    assert_eq!(net.cmd("r", &["PTTL", "t"]), int(6000));
    assert_eq!(net.cmd("r", &["GET", "f"]), bulk("0.3"));
    assert_eq!(net.cmd("r", &["GET", "s2"]), bulk("abc"));
    assert_eq!(net.cmd("r", &["EXISTS", "s"]), int(0));
    net.cmd("r", &["SELECT", "4"]);
    assert_eq!(net.cmd("r", &["GET", "in3"]), bulk("x"));
    assert_eq!(net.node("p").digest(), net.node("r").digest());
    assert_eq!(net.node("p").repl_position(), net.node("r").repl_position());
    net.cmd("p", &["FLUSHALL"]);
    assert_eq!(net.cmd("r", &["DBSIZE"]), int(0));
    assert_eq!(net.node("p").digest(), net.node("r").digest());
}

#[test]
fn collections_replicate_through_full_sync_and_the_stream() {
    let mut net = Net::new(&["p", "r"]);
    net.cmd("p", &["HSET", "h", "a", "1", "b", "2"]);
    net.cmd("p", &["RPUSH", "l", "x", "y", "z"]);
    net.cmd("p", &["SADD", "s", "1", "2", "three"]);
    net.cmd("p", &["ZADD", "z", "1", "a", "2.5", "b"]);
    net.cmd("p", &["EXPIRE", "z", "100"]);
    assert_eq!(net.cmd("r", &["REPLICAOF", "p", "6379"]), ok());
    net.settle();
    assert_eq!(net.node("p").digest(), net.node("r").digest());
    assert_eq!(
        net.cmd("r", &["OBJECT", "ENCODING", "s"]),
        bulk("hashtable")
    );
    // Then through the stream: writes, pops, blocking pops, stores, expiry.
    net.cmd("p", &["HDEL", "h", "a"]);
    net.cmd("p", &["HINCRBYFLOAT", "h", "f", "0.1"]);
    net.cmd("p", &["LPOP", "l"]);
    net.cmd("p", &["LMOVE", "l", "l2", "LEFT", "RIGHT"]);
    net.cmd("p", &["SPOP", "s"]);
    net.cmd("p", &["SINTERSTORE", "s2", "s", "s"]);
    net.cmd("p", &["ZINCRBY", "z", "10", "a"]);
    net.cmd(
        "p",
        &["ZUNIONSTORE", "z2", "2", "z", "s2", "WEIGHTS", "2", "1"],
    );
    net.cmd("p", &["BZPOPMIN", "z2", "0"]);
    for i in 0..300 {
        net.cmd("p", &["ZADD", "big", &i.to_string(), &format!("m{i}")]);
    }
    net.cmd("p", &["ZREMRANGEBYRANK", "big", "0", "9"]);
    net.advance(1000);
    assert_eq!(net.node("p").digest(), net.node("r").digest());
    assert_eq!(net.cmd("r", &["ZCARD", "big"]), int(290));
    assert_eq!(
        net.cmd("r", &["OBJECT", "ENCODING", "big"]),
        bulk("skiplist")
    );
    assert_eq!(net.cmd("r", &["ZSCORE", "z", "a"]), bulk("11"));
    assert_eq!(
        net.cmd("r", &["PTTL", "z"]).clone(),
        net.cmd("p", &["PTTL", "z"])
    );
    assert_eq!(
        net.cmd("r", &["LRANGE", "l2", "0", "-1"]),
        Reply::Array(vec![bulk("y")])
    );
}

#[test]
fn streams_and_consumer_groups_replicate() {
    let mut net = Net::new(&["p", "r"]);
    for i in 1..=250 {
        net.cmd("p", &["XADD", "x", &format!("{i}-0"), "f", &i.to_string()]);
    }
    net.cmd("p", &["XGROUP", "CREATE", "x", "g", "0"]);
    net.cmd(
        "p",
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "COUNT",
            "3",
            "STREAMS",
            "x",
            ">",
        ],
    );
    net.cmd("p", &["XDEL", "x", "100-0"]);
    net.cmd("p", &["XGROUP", "CREATE", "e", "g", "$", "MKSTREAM"]);
    // Through the snapshot (the RDB stream type, listpacks and all).
    assert_eq!(net.cmd("r", &["REPLICAOF", "p", "6379"]), ok());
    net.settle();
    assert_eq!(net.node("p").digest(), net.node("r").digest());
    assert_eq!(net.cmd("r", &["XLEN", "x"]), int(249));
    assert_eq!(net.cmd("r", &["XLEN", "e"]), int(0));
    // Then through the stream: group reads, acks, claims, trims.
    net.cmd(
        "p",
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "bob",
            "COUNT",
            "2",
            "STREAMS",
            "x",
            ">",
        ],
    );
    net.cmd("p", &["XACK", "x", "g", "1-0"]);
    net.cmd("p", &["XCLAIM", "x", "g", "carol", "0", "2-0"]);
    net.cmd("p", &["XADD", "x", "MAXLEN", "~", "120", "*", "f", "new"]);
    net.cmd("p", &["XGROUP", "CREATECONSUMER", "x", "g", "dave"]);
    net.cmd("p", &["XADD", "e", "5-5", "a", "b"]);
    net.advance(1000);
    // Pending entries of trimmed entries survive too; the nodes are the
    // same (an approximate trim replicated as the exact one it made). A
    // group's read counter is not: Redis 7.0 propagates group reads as
    // XCLAIM … LASTID, which moves the last ID but not `entries-read`
    // (here invalidated on the primary by the tombstone XDEL left), so a
    // real Redis replica shows its own `entries-read` and `lag` too.
    fn without_read_counters(r: Reply) -> Reply {
        match r {
            Reply::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut skip = false;
                for item in items {
                    if skip {
                        out.push(Reply::Nil);
                        skip = false;
                        continue;
                    }
                    skip = matches!(&item, Reply::Bulk(b) if b == b"entries-read" || b == b"lag");
                    out.push(without_read_counters(item));
                }
                Reply::Array(out)
            }
            other => other,
        }
    }
    for k in ["x", "e"] {
        assert_eq!(
            without_read_counters(net.cmd("p", &["XINFO", "STREAM", k, "FULL"])),
            without_read_counters(net.cmd("r", &["XINFO", "STREAM", k, "FULL"]))
        );
    }
    // (The nodes' whole-state digests differ by that counter, as Redis's
    // would; DEBUG DIGEST, entries only, agrees — `redis_interop.rs`.)
    assert_eq!(
        net.cmd("r", &["XRANGE", "x", "-", "+"]),
        net.cmd("p", &["XRANGE", "x", "-", "+"])
    );
    assert_eq!(net.cmd("r", &["XLEN", "x"]), net.cmd("p", &["XLEN", "x"]));
    let pending = net.cmd("r", &["XPENDING", "x", "g"]);
    assert_eq!(pending, net.cmd("p", &["XPENDING", "x", "g"]));
}

#[test]
fn replicas_never_expire_keys_themselves() {
    let mut net = group(&["p", "r"]);
    net.cmd("p", &["SET", "k", "v", "PX", "100"]);
    net.cmd("p", &["SET", "keep", "v"]);
    // Only the replica's clock moves: it must not delete, only hide.
    net.now = net.now.plus(500);
    let now = net.now;
    net.nodes
        .get_mut("r:6379")
        .unwrap()
        .handle(now, Input::Tick);
    assert_eq!(net.cmd("r", &["GET", "k"]), Reply::Nil);
    assert_eq!(net.cmd("r", &["EXISTS", "k"]), int(0));
    assert_eq!(net.cmd("r", &["TTL", "k"]), int(-2));
    assert_eq!(net.cmd("r", &["DBSIZE"]), int(2));
    // As Redis: MEMORY USAGE does not look at expiry (64 on redis-server too).
    assert_eq!(net.cmd("r", &["MEMORY", "USAGE", "k"]), int(64));
    // The primary expires it and sends DEL.
    net.advance(200);
    assert_eq!(net.cmd("r", &["DBSIZE"]), int(1));
    assert_eq!(net.node("p").digest(), net.node("r").digest());
}

#[test]
fn readonly_noreplicas_and_wait() {
    let mut net = group(&["p", "r"]);
    assert_eq!(
        net.cmd("r", &["SET", "x", "1"]),
        err("READONLY You can't write against a read only replica.")
    );
    assert_eq!(net.cmd("r", &["GET", "x"]), Reply::Nil);
    assert_eq!(
        net.cmd("r", &["WAIT", "1", "0"]),
        err("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.")
    );
    net.cmd("p", &["SET", "x", "1"]);
    // The replica acknowledges on GETACK, during the same settle.
    assert_eq!(net.cmd("p", &["WAIT", "1", "0"]), int(1));
    assert_eq!(net.cmd("p", &["WAIT", "0", "0"]), int(1));
    // Two replicas asked for, one exists: blocks until the timeout, then 1.
    net.send("p", &["WAIT", "2", "500"]);
    net.send("p", &["GET", "x"]);
    assert_eq!(
        net.reply("p"),
        None,
        "WAIT blocks, and the GET behind it waits"
    );
    net.advance(400);
    assert_eq!(net.reply("p"), None);
    net.advance(200);
    assert_eq!(net.reply("p"), Some(int(1)));
    assert_eq!(net.reply("p"), Some(bulk("1")));
    assert_eq!(
        net.cmd("p", &["WAIT", "a", "1"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        net.cmd("p", &["WAIT", "1", "-1"]),
        err("ERR timeout is negative")
    );
    assert_eq!(
        net.cmd("p", &["WAIT", "1", "x"]),
        err("ERR timeout is not an integer or out of range")
    );
    // A replica that stops acknowledging is not counted (WAIT never overcounts).
    net.cut.insert("r:6379".into());
    net.cmd("p", &["SET", "y", "2"]);
    net.send("p", &["WAIT", "1", "300"]);
    net.advance(400);
    assert_eq!(net.reply("p"), Some(int(0)));
    // min-replicas-to-write: the replica's last ACK is too old.
    net.cmd("p", &["CONFIG", "SET", "min-replicas-to-write", "1"]);
    net.cmd("p", &["CONFIG", "SET", "min-replicas-max-lag", "2"]);
    net.advance(3000);
    assert_eq!(
        net.cmd("p", &["SET", "z", "3"]),
        err("NOREPLICAS Not enough good replicas to write.")
    );
    assert_eq!(net.cmd("p", &["GET", "y"]), bulk("2"));
    net.cut.clear();
    net.advance(1500);
    assert_eq!(net.cmd("p", &["SET", "z", "3"]), ok());
}

#[test]
fn short_disconnects_resync_partially_long_ones_fully() {
    let mut net = group(&["p", "r"]);
    // A cut shorter than repl-timeout is bridged by retransmission alone;
    // a longer one drops the link, and the replica asks to continue.
    net.cmd("p", &["CONFIG", "SET", "repl-timeout", "1"]);
    net.cmd("r", &["CONFIG", "SET", "repl-timeout", "1"]);
    net.cmd("p", &["SET", "a", "1"]);
    net.cut.insert("r:6379".into());
    for i in 0..50 {
        net.cmd("p", &["SET", &format!("k{i}"), "v"]);
    }
    net.advance(3000);
    assert_eq!(net.info("r")["master_link_status"], "down");
    net.cut.clear();
    net.advance(3000);
    assert_eq!(net.node("p").digest(), net.node("r").digest());
    let Reply::Bulk(stats) = net.cmd("p", &["INFO", "stats"]) else {
        panic!()
    };
    let stats = String::from_utf8(stats).unwrap();
    assert!(stats.contains("sync_full:1\r\n"), "{stats}");
    assert!(!stats.contains("sync_partial_ok:0\r\n"), "{stats}");
    // Past the backlog: a full resync, never a silent gap.
    net.cmd("p", &["CONFIG", "SET", "repl-backlog-size", "16384"]);
    net.advance(1100);
    net.cut.insert("r:6379".into());
    for i in 0..100 {
        net.cmd("p", &["SET", &format!("big{i}"), &"y".repeat(500)]);
    }
    net.advance(3000);
    net.cut.clear();
    net.advance(3000);
    assert_eq!(net.node("p").digest(), net.node("r").digest());
    let Reply::Bulk(stats) = net.cmd("p", &["INFO", "stats"]) else {
        panic!()
    };
    assert!(String::from_utf8(stats)
        .unwrap()
        .contains("sync_full:2\r\n"));
}

#[test]
fn promotion_keeps_history_and_others_continue_partially() {
    let mut net = group(&["p", "r1", "r2"]);
    for i in 0..20 {
        net.cmd("p", &["SET", &format!("k{i}"), &i.to_string()]);
    }
    net.advance(1000);
    let old = net.info("p")["master_replid"].clone();
    let offset: i64 = net.info("r1")["master_repl_offset"].parse().unwrap();
    net.nodes.remove("p:6379");
    assert_eq!(net.cmd("r1", &["REPLICAOF", "NO", "ONE"]), ok());
    let i = net.info("r1");
    assert_eq!(i["role"], "master");
    assert_eq!(i["master_replid2"], old);
    assert_eq!(i["second_repl_offset"], (offset + 1).to_string());
    assert_ne!(i["master_replid"], old);
    assert_eq!(net.cmd("r2", &["REPLICAOF", "r1", "6379"]), ok());
    net.settle();
    net.cmd("r1", &["SET", "after", "1"]);
    assert_eq!(net.cmd("r2", &["GET", "after"]), bulk("1"));
    assert_eq!(net.cmd("r2", &["GET", "k19"]), bulk("19"));
    let Reply::Bulk(stats) = net.cmd("r1", &["INFO", "stats"]) else {
        panic!()
    };
    let stats = String::from_utf8(stats).unwrap();
    assert!(stats.contains("sync_partial_ok:1\r\n"), "{stats}");
    assert!(stats.contains("sync_full:0\r\n"), "{stats}");
    assert_eq!(net.node("r1").digest(), net.node("r2").digest());
}

#[test]
fn a_corrupt_snapshot_is_refused_and_retried() {
    let mut net = Net::new(&["p", "r"]);
    net.cmd("p", &["SET", "a", "1"]);
    net.cmd("r", &["SET", "mine", "old"]);
    let mut corrupted = 0;
    net.tamper = Some(Box::new(move |m: &mut PeerMsg| {
        if let PeerMsg::FullResync { rdb, .. } = m {
            if corrupted < 2 {
                let mid = rdb.len() / 2;
                rdb[mid] ^= 0xff;
                corrupted += 1;
            }
        }
    }));
    net.cmd("r", &["REPLICAOF", "p", "6379"]);
    net.settle();
    // Refused: the old data is intact, not half-replaced, and the link is down.
    assert_eq!(net.info("r")["master_link_status"], "down");
    assert_eq!(net.cmd("r", &["GET", "mine"]), bulk("old"));
    assert_eq!(net.cmd("r", &["GET", "a"]), Reply::Nil);
    net.advance(3000);
    assert_eq!(net.info("r")["master_link_status"], "up");
    assert_eq!(net.cmd("r", &["GET", "a"]), bulk("1"));
    assert_eq!(net.cmd("r", &["GET", "mine"]), Reply::Nil);
}

#[test]
fn an_unreachable_primary_keeps_the_link_down_and_retrying() {
    let mut net = Net::new(&["r"]);
    net.cmd("r", &["REPLICAOF", "nowhere", "6379"]);
    net.advance(3000);
    let i = net.info("r");
    assert_eq!(i["master_link_status"], "down");
    assert_eq!(i["master_host"], "nowhere");
    assert_eq!(
        net.cmd("r", &["ROLE"]),
        Reply::Array(vec![
            bulk("slave"),
            bulk("nowhere"),
            int(6379),
            bulk("sync"),
            int(-1)
        ])
    );
    assert_eq!(
        net.cmd("r", &["REPLICAOF", "x", "99999"]),
        err("ERR Invalid master port")
    );
    assert_eq!(net.cmd("r", &["REPLICAOF", "NO", "ONE"]), ok());
    assert_eq!(net.info("r")["role"], "master");
    assert_eq!(net.cmd("r", &["SET", "x", "1"]), ok());
}

#[test]
fn role_on_a_primary_lists_replicas() {
    let mut net = group(&["p", "r"]);
    net.cmd("p", &["SET", "a", "1"]);
    net.advance(1100);
    let Reply::Array(v) = net.cmd("p", &["ROLE"]) else {
        panic!()
    };
    assert_eq!(v[0], bulk("master"));
    let off = match v[1] {
        Reply::Int(n) => n,
        _ => panic!(),
    };
    assert!(off > 0);
    assert_eq!(
        v[2],
        Reply::Array(vec![Reply::Array(vec![
            bulk("r"),
            bulk("6379"),
            bulk(&off.to_string())
        ])])
    );
}
