//! Cluster mode against a real `redis-server --cluster-enabled yes`: one
//! node assigned slots by hand, then the same commands sent to both — slot
//! assignment and its errors, CLUSTER INFO / NODES / SLOTS / SHARDS /
//! KEYSLOT / COUNTKEYSINSLOT / GETKEYSINSLOT / SETSLOT / epochs / RESET,
//! CROSSSLOT and CLUSTERDOWN, a transaction across slots, and the commands
//! cluster mode refuses — every reply identical once each node's own id
//! and port are written as placeholders, in RESP2 and RESP3.

use std::time::{Duration, Instant};

use cachelab_engine::protocol::{parse_reply, Reply};
use cachelab_engine::rng::Rng;
use cachelab_tests::{args, free_port, CachelabServer, RedisServer, RespConn};

struct Side {
    conn: RespConn,
    id: String,
    port: u16,
    cport: u16,
}

impl Side {
    fn call(&mut self, argv: &[Vec<u8>]) -> Reply {
        let bytes = self.conn.call(argv);
        let reply = parse_reply(&bytes).expect("valid").expect("complete").0;
        norm(reply, &self.id, self.port, self.cport)
    }

    fn refresh_id(&mut self) {
        self.id = match self.conn.call_str(&["CLUSTER", "MYID"]) {
            Reply::Bulk(b) => String::from_utf8(b).expect("hex id"),
            r => panic!("CLUSTER MYID: {r:?}"),
        };
    }

    fn state_ok(&mut self) -> bool {
        match self.conn.call_str(&["CLUSTER", "INFO"]) {
            Reply::Bulk(b) | Reply::Verbatim(_, b) => {
                String::from_utf8_lossy(&b).contains("cluster_state:ok")
            }
            _ => false,
        }
    }
}

/// The node's own id and ports as placeholders.
fn norm(r: Reply, id: &str, port: u16, cport: u16) -> Reply {
    let text = |s: &str| {
        s.replace(id, "<id>")
            .replace(&format!(":{port}@{cport}"), ":<port>@<cport>")
    };
    match r {
        Reply::Bulk(b) => Reply::Bulk(text(&String::from_utf8_lossy(&b)).into_bytes()),
        Reply::Verbatim(f, b) => {
            Reply::Verbatim(f, text(&String::from_utf8_lossy(&b)).into_bytes())
        }
        Reply::Simple(s) => Reply::Simple(text(&s)),
        Reply::Error(s) => Reply::Error(text(&s)),
        // The node's port where CLUSTER SLOTS and SHARDS give one (after
        // its address, or after "port"), never any integer that equals it
        // (a KEYSLOT of 13423 on a node at port 13423).
        Reply::Array(v) => {
            let port_at: Vec<bool> = (0..v.len())
                .map(|i| {
                    i > 0
                        && v[i] == Reply::Int(port as i64)
                        && matches!(&v[i - 1], Reply::Bulk(b)
                            if b == b"port" || b.starts_with(b"127.") || b.is_empty())
                })
                .collect();
            Reply::Array(
                v.into_iter()
                    .zip(port_at)
                    .map(|(x, p)| {
                        if p {
                            Reply::Int(-1)
                        } else {
                            norm(x, id, port, cport)
                        }
                    })
                    .collect(),
            )
        }
        Reply::Set(v) => Reply::Set(v.into_iter().map(|x| norm(x, id, port, cport)).collect()),
        Reply::Map(v) => Reply::Map(
            v.into_iter()
                .map(|(k, x)| {
                    let x = match (&k, x) {
                        (Reply::Bulk(b), Reply::Int(n)) if b == b"port" && n == port as i64 => {
                            Reply::Int(-1)
                        }
                        (_, x) => norm(x, id, port, cport),
                    };
                    (norm(k, id, port, cport), x)
                })
                .collect(),
        ),
        other => other,
    }
}

fn start() -> Option<(Side, Side, RedisServer, CachelabServer)> {
    let file = scratch().join(format!(
        "cachelab-test-nodes-{}-{}.conf",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    // The bus ports are chosen too: port + 10000 may not be a port.
    let (rc, cc) = (free_port(), free_port());
    let redis = RedisServer::start_with(&[
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        &file.to_string_lossy(),
        "--cluster-port",
        &rc.to_string(),
    ])?;
    let mut opts = cachelab_server::Options::default();
    opts.config.push(("cluster-enabled".into(), "yes".into()));
    opts.config.push(("cluster-port".into(), cc.to_string()));
    opts.config
        .push(("cluster-config-file".into(), config_file_name(cc)));
    opts.config.push(("dir".into(), temp_dir()));
    let cachelab = CachelabServer::start_with(opts);
    let mut sides = [(redis.port, rc), (cachelab.port, cc)].map(|(port, cport)| Side {
        conn: RespConn::connect(port),
        id: String::new(),
        port,
        cport,
    });
    for s in &mut sides {
        s.refresh_id();
    }
    let [r, c] = sides;
    Some((r, c, redis, cachelab))
}

fn same(r: &mut Side, c: &mut Side, line: &[&str]) {
    let argv = args(line);
    let (want, got) = (r.call(&argv), c.call(&argv));
    assert_eq!(got, want, "{line:?}");
}

fn wait_ok(s: &mut Side) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.state_ok() {
        assert!(Instant::now() < deadline, "cluster_state never ok");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_single_node_cluster_answers_as_redis() {
    let Some((mut r, mut c, _redis, _cachelab)) = start() else {
        eprintln!("redis-server not installed; skipped");
        return;
    };
    let r = &mut r;
    let c = &mut c;
    for line in [
        &["CLUSTER", "SLOTS"][..],
        &["CLUSTER", "NODES"],
        &["SET", "foo", "bar"],
        &["GET", "foo"],
        &["PING"],
        &["CLUSTER", "KEYSLOT", "foo"],
        &["CLUSTER", "ADDSLOTS", "16384"],
        &["CLUSTER", "ADDSLOTS", "abc"],
        &["CLUSTER", "ADDSLOTS", "-1"],
        &["CLUSTER", "ADDSLOTS", "1", "2", "1"],
        &["CLUSTER", "ADDSLOTSRANGE", "10", "5"],
        &["CLUSTER", "ADDSLOTSRANGE", "0"],
        &["CLUSTER", "ADDSLOTSRANGE", "0", "1", "2"],
        &["CLUSTER", "DELSLOTS", "3"],
        &["CLUSTER", "DELSLOTSRANGE", "3", "4"],
        &["CLUSTER", "ADDSLOTSRANGE", "0", "8000", "8001", "16000"],
        &["CLUSTER", "ADDSLOTS", "5"],
        &["CLUSTER", "ADDSLOTSRANGE", "16001", "16383", "100", "200"],
        &["CLUSTER", "ADDSLOTS", "16001", "16002"],
        &["CLUSTER", "DELSLOTS", "16002"],
        &["CLUSTER", "NODES"],
        &["CLUSTER", "SLOTS"],
        &["CLUSTER", "ADDSLOTSRANGE", "16002", "16383"],
        &["CLUSTER", "NODES"],
    ] {
        same(r, c, line);
    }
    // Both serve every slot: each turns ok after its writable delay.
    wait_ok(r);
    wait_ok(c);
    let tag_slot = cachelab_engine::store::slots::key_slot(b"{a}").to_string();
    for line in [
        &["CLUSTER", "INFO"][..],
        &["SET", "foo", "bar"],
        &["GET", "foo"],
        &["MSET", "a", "1", "b", "2"],
        &["MSET", "{a}1", "1", "{a}2", "2", "{a}3", "3"],
        &["MGET", "{a}1", "{a}2", "{a}3", "{a}4"],
        &["MGET", "{a}1", "{b}1"],
        &["DEL", "{a}1", "foo"],
        &["CLUSTER", "COUNTKEYSINSLOT", &tag_slot],
        &["CLUSTER", "GETKEYSINSLOT", &tag_slot, "10"],
        &["DEL", "{a}2"],
        &["SET", "{a}9", "x"],
        &["RENAME", "{a}3", "{a}0"],
        &["CLUSTER", "GETKEYSINSLOT", &tag_slot, "10"],
        &["CLUSTER", "GETKEYSINSLOT", &tag_slot, "1"],
        &["CLUSTER", "GETKEYSINSLOT", &tag_slot, "0"],
        &["CLUSTER", "GETKEYSINSLOT", &tag_slot, "-1"],
        &["CLUSTER", "GETKEYSINSLOT", "16384", "1"],
        &["CLUSTER", "GETKEYSINSLOT", "x", "1"],
        &["CLUSTER", "COUNTKEYSINSLOT", "16384"],
        &["CLUSTER", "COUNTKEYSINSLOT", "-1"],
        &["CLUSTER", "COUNTKEYSINSLOT", "x"],
        &["CLUSTER", "COUNTKEYSINSLOT", "0"],
        &["SELECT", "1"],
        &["SELECT", "0"],
        &["SELECT", "x"],
        &["SWAPDB", "0", "1"],
        &["MOVE", "{a}9", "1"],
        &["COPY", "{a}9", "{a}8", "DB", "1"],
        &["COPY", "{a}9", "{a}8", "DB", "0"],
        &["COPY", "{a}9", "x"],
        &["REPLICAOF", "127.0.0.1", "1"],
        &["READONLY"],
        &["READWRITE"],
        &["ASKING"],
        &["GET", "{a}9"],
        &["MULTI"],
        &["SET", "{a}1", "x"],
        &["SET", "{b}1", "y"],
        &["EXEC"],
        &["GET", "{a}1"],
        &["MULTI"],
        &["SET", "{a}1", "x"],
        &["MSET", "{a}1", "1", "{b}1", "2"],
        &["EXEC"],
        &["MULTI"],
        &["SET", "{a}1", "x"],
        &["GET", "{a}2"],
        &["EXEC"],
        &["CLUSTER", "SLOTS"],
        &["CLUSTER", "MYID"],
        &["CLUSTER", "LINKS"],
        &["CLUSTER", "COUNT-FAILURE-REPORTS", "nosuchnode"],
        &["CLUSTER", "FORGET", "nosuchnode"],
        &["CLUSTER", "REPLICAS", "nosuchnode"],
        &["CLUSTER", "SLAVES", "nosuchnode"],
        &["CLUSTER", "FAILOVER"],
        &["CLUSTER", "FAILOVER", "FORCE"],
        &["CLUSTER", "FAILOVER", "bogus"],
        &["CLUSTER", "SETSLOT", "5", "STABLE"],
        &["CLUSTER", "SETSLOT", "5", "MIGRATING", "nosuchnode"],
        &["CLUSTER", "SETSLOT", "5", "IMPORTING", "nosuchnode"],
        &["CLUSTER", "SETSLOT", "5", "NODE", "nosuchnode"],
        &["CLUSTER", "SETSLOT", "5", "bogus"],
        &["CLUSTER", "SETSLOT", "5", "STABLE", "extra"],
        &["CLUSTER", "SETSLOT", "99999", "STABLE"],
        &["CLUSTER", "BUMPEPOCH"],
        &["CLUSTER", "BUMPEPOCH"],
        &["CLUSTER", "SET-CONFIG-EPOCH", "7"],
        &["CLUSTER", "SET-CONFIG-EPOCH", "-1"],
        &["CLUSTER", "INFO"],
        &["CLUSTER", "FLUSHSLOTS"],
        &["CLUSTER", "RESET"],
        &["CLUSTER", "RESET", "bogus"],
        &["CLUSTER", "NOSUCH"],
        &["CLUSTER", "KEYSLOT"],
        &["CLUSTER", "HELP"],
    ] {
        same(r, c, line);
    }
    // CLUSTER SHARDS in both protocols; COUNT-FAILURE-REPORTS and
    // REPLICAS of itself, SETSLOT naming itself.
    for side in [&mut *r, &mut *c] {
        let id = side.id.clone();
        side.conn.call_str(&["HELLO", "3"]);
        let _ = id;
    }
    for line in [
        &["CLUSTER", "SHARDS"][..],
        &["CLUSTER", "SLOTS"],
        &["CLUSTER", "INFO"],
        &["CLUSTER", "NODES"],
    ] {
        same(r, c, line);
    }
    for side in [&mut *r, &mut *c] {
        side.conn.call_str(&["HELLO", "2"]);
    }
    let per_side = |s: &mut Side, line: &[&str]| {
        let id = s.id.clone();
        let argv: Vec<Vec<u8>> = line
            .iter()
            .map(|a| {
                if *a == "<id>" {
                    id.clone().into_bytes()
                } else {
                    a.as_bytes().to_vec()
                }
            })
            .collect();
        s.call(&argv)
    };
    for line in [
        &["CLUSTER", "COUNT-FAILURE-REPORTS", "<id>"][..],
        &["CLUSTER", "REPLICAS", "<id>"],
        &["CLUSTER", "FORGET", "<id>"],
        &["CLUSTER", "SETSLOT", "5", "IMPORTING", "<id>"],
        &["CLUSTER", "SETSLOT", "5", "MIGRATING", "<id>"],
        &["CLUSTER", "NODES"],
        &["CLUSTER", "SETSLOT", "5", "STABLE"],
        &["CLUSTER", "SETSLOT", "5", "NODE", "<id>"],
        &["CLUSTER", "NODES"],
    ] {
        assert_eq!(per_side(c, line), per_side(r, line), "{line:?}");
    }
    // Slots given up: the keys' slot is not served, the cluster fails.
    for line in [
        &["CLUSTER", "DELSLOTSRANGE", "0", "16383"][..],
        &["CLUSTER", "INFO"],
        &["GET", "{a}9"],
        &["CLUSTER", "FLUSHSLOTS"],
        &["FLUSHALL"],
        &["CLUSTER", "ADDSLOTS", "0", "1"],
        &["CLUSTER", "FLUSHSLOTS"],
        &["CLUSTER", "NODES"],
        &["CLUSTER", "RESET", "SOFT"],
        &["CLUSTER", "INFO"],
        &["CLUSTER", "RESET", "HARD"],
        &["CLUSTER", "INFO"],
    ] {
        if line == ["CLUSTER", "INFO"] && line.len() == 2 {
            // A hard reset gives each node a new id.
            r.refresh_id();
            c.refresh_id();
        }
        same(r, c, line);
    }
    // Hash slots of many keys, hash tags included.
    let mut rng = Rng::new(0x51075);
    for _ in 0..300 {
        let len = rng.below(12);
        let key: String = (0..len)
            .map(|_| b"ab{}xyz01"[rng.below(9)] as char)
            .collect();
        same(r, c, &["CLUSTER", "KEYSLOT", &key]);
    }
}

#[test]
fn cluster_commands_say_when_cluster_mode_is_off() {
    let Some(redis) = RedisServer::start() else {
        eprintln!("redis-server not installed; skipped");
        return;
    };
    let cachelab = CachelabServer::start();
    let mut r = RespConn::connect(redis.port);
    let mut c = RespConn::connect(cachelab.port);
    for line in [
        &["CLUSTER", "INFO"][..],
        &["CLUSTER", "KEYSLOT", "foo"],
        &["CLUSTER", "NODES"],
        &["CLUSTER", "HELP"],
        &["READONLY"],
        &["READWRITE"],
        &["ASKING"],
        &["SELECT", "1"],
        &["INFO", "cluster"],
    ] {
        assert_eq!(c.call_str(line), r.call_str(line), "{line:?}");
    }
}

/// The bus codec against a real node: a MEET from a node that does not
/// exist is answered with a PONG, which decodes to the real node's id,
/// ports, epochs and slots, and encodes back to the very same bytes.
#[test]
fn the_bus_speaks_redis_clustermsg() {
    use cachelab_engine::cluster::bus::{self, msg_type, node_flag, Body, Header, Message};
    use std::io::{Read, Write};
    let cport = free_port();
    let file = scratch().join(format!(
        "cachelab-test-bus-{}-{cport}.conf",
        std::process::id()
    ));
    let Some(redis) = RedisServer::start_with(&[
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        &file.to_string_lossy(),
        "--cluster-port",
        &cport.to_string(),
    ]) else {
        eprintln!("redis-server not installed; skipped");
        return;
    };
    let mut r = RespConn::connect(redis.port);
    let id = match r.call_str(&["CLUSTER", "MYID"]) {
        Reply::Bulk(b) => String::from_utf8(b).expect("hex"),
        other => panic!("{other:?}"),
    };
    r.call_str(&["CLUSTER", "ADDSLOTSRANGE", "0", "99"]);
    r.call_str(&["CLUSTER", "BUMPEPOCH"]);
    let meet = Message {
        header: Header {
            kind: msg_type::MEET,
            port: free_port(),
            sender: "0123456789abcdef0123456789abcdef01234567".into(),
            myip: "127.0.0.1".into(),
            cport: free_port(),
            flags: node_flag::MASTER | node_flag::MYSELF,
            ..Header::default()
        },
        body: Body::Ping {
            gossip: Vec::new(),
            hostname: None,
        },
    };
    let mut bus_link = std::net::TcpStream::connect(("127.0.0.1", cport)).expect("bus port");
    bus_link
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    bus_link.write_all(&bus::encode(&meet)).expect("send MEET");
    let mut buf = Vec::new();
    let len = loop {
        if let Some(n) = bus::frame(&buf).expect("a valid frame") {
            break n;
        }
        let mut chunk = [0u8; 4096];
        let n = bus_link.read(&mut chunk).expect("read the PONG");
        assert!(n > 0, "the node closed the bus link");
        buf.extend_from_slice(&chunk[..n]);
    };
    let packet = &buf[..len];
    let pong = bus::decode(packet).expect("Redis's PONG decodes");
    let h = &pong.header;
    assert_eq!(h.kind, msg_type::PONG);
    assert_eq!(h.sender, id);
    assert_eq!((h.port, h.cport), (redis.port, cport));
    assert_eq!(h.flags, node_flag::MASTER | node_flag::MYSELF);
    assert_eq!((h.current_epoch, h.config_epoch), (1, 1));
    assert_eq!(h.myslots.count(), 100);
    assert!(h.myslots.get(0) && h.myslots.get(99) && !h.myslots.get(100));
    assert_eq!(h.slaveof, None);
    assert_eq!(h.state, 1, "the cluster is not ok: slots unassigned");
    assert_eq!(bus::encode(&pong), packet, "re-encoded byte for byte");
}

/// Where these tests' nodes keep their files (nodes.conf, dumps): cargo's
/// scratch directory for integration tests, not the system's /tmp.
fn scratch() -> std::path::PathBuf {
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cluster");
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

fn temp_dir() -> String {
    scratch().to_string_lossy().into_owned()
}

/// A node's own nodes.conf (in the scratch dir), fresh: named by this test
/// process and the node's bus port.
fn config_file_name(cport: u16) -> String {
    let name = format!("cachelab-nodes-{}-{cport}.conf", std::process::id());
    let _ = std::fs::remove_file(scratch().join(&name));
    name
}

/// A cachelab node in cluster mode with its bus on a port of its own.
fn cachelab_cluster_node_with(node_timeout: u64) -> (CachelabServer, u16) {
    let cport = free_port();
    let opts = cachelab_cluster_opts(cport, node_timeout, &config_file_name(cport));
    (CachelabServer::start_with(opts), cport)
}

/// A cachelab cluster node's directives: its bus port, node timeout and
/// nodes.conf (in the scratch dir).
fn cachelab_cluster_opts(cport: u16, node_timeout: u64, file: &str) -> cachelab_server::Options {
    let mut opts = cachelab_server::Options::default();
    for (k, v) in [
        ("cluster-enabled", "yes"),
        ("cluster-port", &cport.to_string()),
        ("cluster-config-file", file),
        ("dir", &temp_dir()),
        ("cluster-node-timeout", &node_timeout.to_string()),
    ] {
        opts.config.push((k.into(), v.into()));
    }
    opts
}

fn redis_cluster_node_with(node_timeout: u64) -> Option<RedisServer> {
    let cport = free_port();
    let file = scratch().join(format!(
        "cachelab-test-mixed-{}-{cport}.conf",
        std::process::id()
    ));
    RedisServer::start_with(&[
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        &file.to_string_lossy(),
        "--cluster-port",
        &cport.to_string(),
        "--cluster-node-timeout",
        &node_timeout.to_string(),
    ])
}

/// A cluster client's loop: send to `port`, follow MOVED.
fn cluster_call(port: u16, argv: &[&str]) -> Reply {
    let mut port = port;
    for _ in 0..5 {
        match RespConn::connect(port).call_str(argv) {
            Reply::Error(e) if e.starts_with("MOVED ") => {
                port = e
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("MOVED names a port");
            }
            r => return r,
        }
    }
    panic!("redirected in circles: {argv:?}");
}

/// `redis-cli --cluster create` of the nodes at `ports` (with
/// `--cluster-replicas 1` when `replicas`), waiting until every node sees
/// the replicas; the nodes' addresses.
fn redis_cli_create(ports: &[u16], replicas: bool) -> Vec<String> {
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut cmd = std::process::Command::new("redis-cli");
    cmd.args(["--cluster", "create"]).args(&addrs);
    if replicas {
        cmd.args(["--cluster-replicas", "1"]);
    }
    let out = cmd
        .arg("--cluster-yes")
        .output()
        .expect("redis-cli runs (cargo xtask test installs redis-tools)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("[OK] All 16384 slots covered."), "{text}");
    if replicas {
        // Each node's view: the primaries with slots and their replicas.
        let n = ports.len() / 2;
        for &p in ports {
            wait_until(&format!("node {p} to see {n} replicas"), 30, || {
                nodes_of(p).lines().filter(|l| l.contains("slave")).count() == n
            });
        }
    }
    for &p in ports {
        wait_state_ok(p);
    }
    addrs
}

/// Three redis-server and three cachelab cluster nodes, interleaved, made
/// one cluster by `redis-cli --cluster create` (with `--cluster-replicas
/// 1` when `replicas`); a node is dropped (dies) by taking it out.
struct Mixed {
    redis: Vec<Option<RedisServer>>,
    ours: Vec<Option<CachelabServer>>,
    /// redis, cachelab, redis, cachelab, … (cachelab at odd indices).
    ports: Vec<u16>,
    addrs: Vec<String>,
}

impl Mixed {
    fn create(node_timeout: u64, replicas: bool) -> Option<Mixed> {
        let first = redis_cluster_node_with(node_timeout)?;
        let redis = vec![
            Some(first),
            Some(redis_cluster_node_with(node_timeout).expect("redis")),
            Some(redis_cluster_node_with(node_timeout).expect("redis")),
        ];
        let ours: Vec<Option<CachelabServer>> = (0..3)
            .map(|_| Some(cachelab_cluster_node_with(node_timeout).0))
            .collect();
        let port = |i: usize| {
            if i.is_multiple_of(2) {
                redis[i / 2].as_ref().map_or(0, |s| s.port)
            } else {
                ours[i / 2].as_ref().map_or(0, |s| s.port)
            }
        };
        let ports: Vec<u16> = (0..6).map(port).collect();
        let addrs = redis_cli_create(&ports, replicas);
        Some(Mixed {
            redis,
            ours,
            ports,
            addrs,
        })
    }

    fn is_ours(&self, port: u16) -> bool {
        self.ports
            .iter()
            .position(|&p| p == port)
            .is_some_and(|i| i % 2 == 1)
    }

    /// The node at index `i` dies.
    fn kill(&mut self, i: usize) {
        if i % 2 == 1 {
            self.ours[i / 2] = None;
        } else {
            self.redis[i / 2] = None;
        }
    }
}

/// 3 redis-server and 3 cachelab primaries assembled by `redis-cli
/// --cluster create`, as a user would: MEET, slots, epochs and gossip
/// agree on every node (`redis-cli --cluster check`), keys land on the
/// node serving their slot and are found from any node through MOVED.
#[test]
fn a_mixed_cluster_assembles_with_redis_cli() {
    let Some(m) = Mixed::create(15000, false) else {
        eprintln!("redis-server not installed; skipped");
        return;
    };
    let (ports, addrs) = (m.ports.clone(), m.addrs.clone());
    // Every node, real or not, sees six primaries and an ok cluster.
    for &p in &ports {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let info = match RespConn::connect(p).call_str(&["CLUSTER", "INFO"]) {
                Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
                other => panic!("{other:?}"),
            };
            if info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:6") {
                assert!(info.contains("cluster_size:6"), "{info}");
                break;
            }
            assert!(Instant::now() < deadline, "node {p}: {info}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let check = std::process::Command::new("redis-cli")
        .args(["--cluster", "check", &addrs[1]])
        .output()
        .expect("redis-cli runs");
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{text}");
    assert!(
        text.contains("[OK] All nodes agree about slots configuration."),
        "{text}"
    );
    // Keys spread over all six through MOVED, read back from anywhere.
    for i in 0..300 {
        let key = format!("key:{i}");
        let entry = ports[i % ports.len()];
        assert_eq!(
            cluster_call(entry, &["SET", &key, &i.to_string()]),
            Reply::Simple("OK".into())
        );
    }
    let mut held = 0;
    for &p in &ports {
        match RespConn::connect(p).call_str(&["DBSIZE"]) {
            Reply::Int(n) => {
                assert!(n > 0, "node {p} holds none of 300 keys");
                held += n;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(held, 300);
    for i in 0..300 {
        let key = format!("key:{i}");
        let entry = ports[(i + 3) % ports.len()];
        assert_eq!(
            cluster_call(entry, &["GET", &key]),
            Reply::Bulk(i.to_string().into_bytes())
        );
    }
}

/// A connection to `port` subscribed to `channel` with `verb` (SUBSCRIBE
/// or SSUBSCRIBE), its confirmation checked.
fn subscribed(port: u16, verb: &str, channel: &str) -> RespConn {
    let mut c = RespConn::connect(port);
    let r = parse_reply(&c.call(&args(&[verb, channel])))
        .expect("valid")
        .expect("complete")
        .0;
    assert_eq!(
        r,
        Reply::Array(vec![
            Reply::Bulk(verb.to_lowercase().into_bytes()),
            Reply::Bulk(channel.as_bytes().to_vec()),
            Reply::Int(1)
        ]),
        "{verb} on {port}"
    );
    c
}

/// The line of node `id` in a CLUSTER NODES text ("" if not listed).
fn line_in(nodes: &str, id: &str) -> String {
    nodes
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or("")
        .to_string()
}

/// Waits until the node at `port` says `cluster_state:ok`.
fn wait_state_ok(port: u16) {
    wait_until(&format!("node {port} ok"), 30, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && matches!(RespConn::connect(port).call_str(&["CLUSTER", "INFO"]),
            Reply::Bulk(b) | Reply::Verbatim(_, b) if String::from_utf8_lossy(&b).contains("cluster_state:ok"))
    });
}

/// The primary at `port` has a replica, and every replica's acknowledged
/// offset (INFO's `slaveN:…,offset=`) is the primary's own.
fn replica_acked_all(port: u16) -> bool {
    let info = match RespConn::connect(port).call_str(&["INFO", "replication"]) {
        Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("{other:?}"),
    };
    let field = |l: &str, k: &str| {
        l.split([',', ':'])
            .find_map(|kv| kv.strip_prefix(k))
            .map(|v| v.trim().to_string())
    };
    let mine = info
        .lines()
        .find_map(|l| l.strip_prefix("master_repl_offset:"))
        .map(|v| v.trim().to_string());
    let acked: Vec<Option<String>> = info
        .lines()
        .filter(|l| l.starts_with("slave") && l.contains("offset="))
        .map(|l| field(l, "offset="))
        .collect();
    !acked.is_empty() && acked.iter().all(|a| a.is_some() && *a == mine)
}

fn nodes_of(port: u16) -> String {
    match RespConn::connect(port).call_str(&["CLUSTER", "NODES"]) {
        Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("{other:?}"),
    }
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Primaries and replicas of both kinds, as `redis-cli --cluster create
/// --cluster-replicas 1` pairs them; data reaches the replicas; a replica
/// taking over (CLUSTER FAILOVER TAKEOVER) serves its primary's slots and
/// the old primary follows it — whichever kind each one is.
#[test]
fn a_mixed_cluster_with_replicas_fails_over_by_takeover() {
    let Some(m) = Mixed::create(15000, true) else {
        eprintln!("redis-server not installed; skipped");
        return;
    };
    let (ports, addrs) = (m.ports.clone(), m.addrs.clone());
    let is_ours = |p: u16| m.is_ours(p);
    let replica_of = |p: u16| -> Option<String> {
        let id = my_id(p);
        nodes_of(ports[0])
            .lines()
            .find(|l| l.starts_with(&id))
            .and_then(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                f[2].contains("slave").then(|| f[3].to_string())
            })
    };
    for i in 0..200 {
        let key = format!("key:{i}");
        assert_eq!(
            cluster_call(ports[i % 6], &["SET", &key, &i.to_string()]),
            Reply::Simple("OK".into())
        );
    }
    // Writes reach every replica: a READONLY client reads them there.
    for &p in &ports {
        if replica_of(p).is_none() {
            continue;
        }
        let mut c = RespConn::connect(p);
        assert_eq!(c.call_str(&["READONLY"]), Reply::Simple("OK".into()));
        wait_until(
            &format!("replica {p} to hold its keys"),
            20,
            || matches!(c.call_str(&["DBSIZE"]), Reply::Int(n) if n > 0),
        );
    }
    // A cachelab replica takes over; then a redis-server replica does.
    for ours_first in [true, false] {
        let view = nodes_of(ports[0]);
        let Some(&replica) = ports.iter().find(|&&p| {
            is_ours(p) == ours_first
                && view
                    .lines()
                    .any(|l| l.starts_with(&my_id(p)) && l.contains("slave"))
        }) else {
            continue;
        };
        let old_primary = replica_of(replica).expect("a replica");
        assert_eq!(
            RespConn::connect(replica).call_str(&["CLUSTER", "FAILOVER", "TAKEOVER"]),
            Reply::Simple("OK".into())
        );
        let rid = my_id(replica);
        for &p in &ports {
            wait_until(
                &format!("node {p} to see {replica} as a primary"),
                30,
                || {
                    let v = nodes_of(p);
                    let me = line_in(&v, &rid);
                    let old = line_in(&v, &old_primary);
                    me.contains("master") && old.contains(&format!("slave {rid}"))
                },
            );
        }
        let check = std::process::Command::new("redis-cli")
            .args(["--cluster", "check", &addrs[0]])
            .output()
            .expect("redis-cli runs");
        let text = String::from_utf8_lossy(&check.stdout);
        assert!(text.contains("[OK] All 16384 slots covered."), "{text}");
        for i in 0..200 {
            let key = format!("key:{i}");
            assert_eq!(
                cluster_call(ports[(i + 1) % 6], &["GET", &key]),
                Reply::Bulk(i.to_string().into_bytes()),
                "{key} after {replica} took over"
            );
        }
    }
}

/// Primaries die, a cachelab one and then a redis-server one: the others
/// mark each FAIL, its replica wins the election with the votes of the
/// primaries left (cachelab's among them), serves the slots, and every
/// key written before is still there.
#[test]
fn a_mixed_cluster_elects_replicas_of_dead_primaries() {
    let Some(mut m) = Mixed::create(2000, true) else {
        eprintln!("redis-server not installed; skipped");
        return;
    };
    let ports = m.ports.clone();
    for i in 0..200 {
        let key = format!("key:{i}");
        assert_eq!(
            cluster_call(ports[i % 6], &["SET", &key, &i.to_string()]),
            Reply::Simple("OK".into())
        );
    }
    let ids: Vec<String> = ports.iter().map(|&p| my_id(p)).collect();
    // Every write reached its primary's replica before anyone dies.
    for (k, &p) in ports.iter().enumerate() {
        let line = line_in(&nodes_of(p), &ids[k]);
        if line.contains("master") {
            // (WAIT on a new connection would wait for nothing: it counts
            // the replicas that have that connection's writes.)
            wait_until(&format!("{p}'s replica acknowledging all"), 10, || {
                replica_acked_all(p)
            });
        }
    }
    let mut alive: Vec<bool> = vec![true; 6];
    for kill_ours in [true, false] {
        let view = nodes_of(ports[alive.iter().position(|&a| a).expect("a node")]);
        // A live primary of the kind wanted, with slots.
        let Some(k) = (0..6).find(|&k| {
            alive[k]
                && (k % 2 == 1) == kill_ours
                && view.lines().any(|l| {
                    l.starts_with(&ids[k]) && l.contains("master") && l.split(' ').count() > 8
                })
        }) else {
            panic!(
                "no live {} primary in:\n{view}",
                if kill_ours { "cachelab" } else { "redis" }
            );
        };
        let replica = (0..6)
            .find(|&r| {
                alive[r]
                    && view
                        .lines()
                        .any(|l| l.starts_with(&ids[r]) && l.contains(&format!("slave {}", ids[k])))
            })
            .expect("the dying primary has a replica");
        m.kill(k);
        alive[k] = false;
        for w in (0..6).filter(|&w| alive[w]) {
            wait_until(
                &format!("node {} to see {} elected", ports[w], ports[replica]),
                60,
                || {
                    let v = nodes_of(ports[w]);
                    let dead = line_in(&v, &ids[k]);
                    let new = line_in(&v, &ids[replica]);
                    dead.contains("fail")
                        && !dead.contains("fail?")
                        && new.contains("master")
                        && new.split(' ').count() > 8
                },
            );
            wait_state_ok(ports[w]);
        }
        let entry = ports[(0..6).find(|&w| alive[w]).expect("alive")];
        for i in 0..200 {
            let key = format!("key:{i}");
            assert_eq!(
                cluster_call(entry, &["GET", &key]),
                Reply::Bulk(i.to_string().into_bytes()),
                "{key} after {} died",
                ports[k]
            );
        }
    }
}

/// A cluster client's loop that also follows ASK (ASKING, then the
/// command, on one connection to the importing node), as redis-cli -c and
/// redis-py do while a slot migrates.
fn cluster_call_ask(port: u16, argv: &[&str]) -> Reply {
    let port_of = |e: &str| -> u16 {
        e.rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the redirect names a port")
    };
    let mut port = port;
    for _ in 0..8 {
        match RespConn::connect(port).call_str(argv) {
            Reply::Error(e) if e.starts_with("MOVED ") => port = port_of(&e),
            Reply::Error(e) if e.starts_with("ASK ") => {
                let mut c = RespConn::connect(port_of(&e));
                assert_eq!(c.call_str(&["ASKING"]), Reply::Simple("OK".into()));
                match c.call_str(argv) {
                    Reply::Error(e) if e.starts_with("TRYAGAIN") => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    r => return r,
                }
            }
            Reply::Error(e) if e.starts_with("TRYAGAIN") => {
                std::thread::sleep(Duration::from_millis(20))
            }
            r => return r,
        }
    }
    panic!("redirected in circles: {argv:?}");
}

fn my_id(port: u16) -> String {
    match RespConn::connect(port).call_str(&["CLUSTER", "MYID"]) {
        Reply::Bulk(b) => String::from_utf8(b).expect("hex"),
        other => panic!("{other:?}"),
    }
}

fn cluster_check(addr: &str) -> String {
    let check = std::process::Command::new("redis-cli")
        .args(["--cluster", "check", addr])
        .output()
        .expect("redis-cli runs");
    let text = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(check.status.success(), "{text}");
    assert!(
        text.contains("[OK] All nodes agree about slots configuration.")
            && text.contains("[OK] All 16384 slots covered."),
        "{text}"
    );
    text
}

/// `redis-cli --cluster reshard` moves slots with their keys from a
/// cachelab primary to a redis-server one and back (SETSLOT IMPORTING /
/// MIGRATING, GETKEYSINSLOT, MIGRATE … KEYS, SETSLOT NODE) while a client
/// keeps writing through MOVED and ASK; then `--cluster rebalance` evens
/// the slots out. `--cluster check` agrees after each and no key is lost.
#[test]
fn a_mixed_cluster_reshards_across_kinds_with_redis_cli() {
    let Some(m) = Mixed::create(15000, false) else {
        eprintln!("redis-server not installed; skipped");
        return;
    };
    let (ports, addrs) = (m.ports.clone(), m.addrs.clone());
    const KEYS: usize = 3000;
    for i in 0..KEYS {
        let key = format!("key:{i}");
        assert_eq!(
            cluster_call(ports[i % 6], &["SET", &key, &i.to_string()]),
            Reply::Simple("OK".into())
        );
    }
    // A writer keeps going through the resharding.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let entry = ports[2];
        std::thread::spawn(move || {
            let mut n = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let key = format!("live:{n}");
                assert_eq!(
                    cluster_call_ask(entry, &["SET", &key, &n.to_string()]),
                    Reply::Simple("OK".into()),
                    "{key}"
                );
                n += 1;
            }
            n
        })
    };
    let (ours, theirs) = (ports[1], ports[0]);
    for (from, to) in [(ours, theirs), (theirs, ours)] {
        let slots_before = |p: u16| -> usize {
            let id = my_id(p);
            nodes_of(p)
                .lines()
                .find(|l| l.starts_with(&id))
                .map_or(0, |l| {
                    l.split(' ')
                        .skip(8)
                        .map(|r| match r.split_once('-') {
                            Some((a, b)) => {
                                b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1
                            }
                            None => 1,
                        })
                        .sum()
                })
        };
        let (f0, t0) = (slots_before(from), slots_before(to));
        let out = std::process::Command::new("redis-cli")
            .args(["--cluster", "reshard", &format!("127.0.0.1:{from}")])
            .args(["--cluster-from", &my_id(from), "--cluster-to", &my_id(to)])
            .args(["--cluster-slots", "600", "--cluster-yes"])
            .output()
            .expect("redis-cli runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for &p in &ports {
            wait_until(&format!("node {p} to agree"), 20, || {
                let from_id = my_id(from);
                let to_id = my_id(to);
                let v = nodes_of(p);
                let count = |id: &str| -> usize {
                    v.lines().find(|l| l.starts_with(id)).map_or(0, |l| {
                        l.split(' ')
                            .skip(8)
                            .map(|r| match r.split_once('-') {
                                Some((a, b)) => {
                                    b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1
                                }
                                None => 1,
                            })
                            .sum()
                    })
                };
                count(&from_id) == f0 - 600 && count(&to_id) == t0 + 600
            });
        }
        cluster_check(&addrs[3]);
    }
    let out = std::process::Command::new("redis-cli")
        .args(["--cluster", "rebalance", &addrs[5], "--cluster-yes"])
        .output()
        .expect("redis-cli runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer
        .join()
        .expect("the writer saw every reply it expected");
    assert!(written > 0);
    for &p in &ports {
        wait_until(&format!("node {p} to agree after rebalance"), 20, || {
            std::process::Command::new("redis-cli")
                .args(["--cluster", "check", &format!("127.0.0.1:{p}")])
                .output()
                .is_ok_and(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .contains("[OK] All nodes agree about slots configuration.")
                })
        });
    }
    cluster_check(&addrs[4]);
    let mut held = 0;
    for &p in &ports {
        match RespConn::connect(p).call_str(&["DBSIZE"]) {
            Reply::Int(n) => held += n as usize,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(held, KEYS + written, "keys lost or duplicated");
    for i in 0..KEYS {
        let key = format!("key:{i}");
        assert_eq!(
            cluster_call(ports[(i + 1) % 6], &["GET", &key]),
            Reply::Bulk(i.to_string().into_bytes()),
            "{key}"
        );
    }
    for n in 0..written {
        let key = format!("live:{n}");
        assert_eq!(
            cluster_call(ports[n % 6], &["GET", &key]),
            Reply::Bulk(n.to_string().into_bytes()),
            "{key}"
        );
    }
}

/// One side of the cluster differential: a connection to each of six
/// primaries, in `redis-cli --cluster create`'s order (so both sides give
/// node `i` the same slots).
struct Six {
    conns: Vec<RespConn>,
    ports: Vec<u16>,
}

impl Six {
    fn new(ports: Vec<u16>) -> Six {
        Six {
            conns: ports.iter().map(|&p| RespConn::connect(p)).collect(),
            ports,
        }
    }

    /// A redirect's `host:port` as the node's index.
    fn norm(&self, r: Reply) -> Reply {
        match r {
            Reply::Error(e) if e.starts_with("MOVED ") || e.starts_with("ASK ") => {
                let (head, addr) = e.rsplit_once(' ').expect("a redirect names a node");
                let port: u16 = addr
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("port");
                let i = self
                    .ports
                    .iter()
                    .position(|&p| p == port)
                    .expect("a known node");
                Reply::Error(format!("{head} node#{i}"))
            }
            other => other,
        }
    }

    fn index_of(&self, e: &str) -> usize {
        let port: u16 = e
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        self.ports
            .iter()
            .position(|&p| p == port)
            .expect("a known node")
    }

    /// The command sent to node `at`, then MOVED and ASK followed as a
    /// cluster client does: every reply on the way, redirects normalised.
    fn send(&mut self, at: usize, argv: &[Vec<u8>]) -> Vec<Reply> {
        let mut seen = Vec::new();
        let mut at = at;
        let mut asking = false;
        for _ in 0..4 {
            if asking {
                let ok = self.conns[at].call(&args(&["ASKING"]));
                assert_eq!(ok, b"+OK\r\n");
            }
            let bytes = self.conns[at].call(argv);
            let reply = parse_reply(&bytes).expect("valid").expect("complete").0;
            let next = match &reply {
                Reply::Error(e) if e.starts_with("MOVED ") => Some((self.index_of(e), false)),
                Reply::Error(e) if e.starts_with("ASK ") => Some((self.index_of(e), true)),
                _ => None,
            };
            seen.push(self.norm(reply));
            match next {
                Some((i, ask)) => (at, asking) = (i, ask),
                None => return seen,
            }
        }
        seen
    }
}

const CLUSTER_KEYS: &[&str] = &[
    "a", "b", "c", "k0", "k1", "k2", "counter", "list", "set", "hash", "zset", "{user}:1",
    "{user}:2", "{user}:3", "{tag}x", "{tag}y", "{tag}z", "{}e", "{a}b", "x{a}",
];

fn cluster_gen(rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut key = || {
        CLUSTER_KEYS[rng.below(CLUSTER_KEYS.len())]
            .as_bytes()
            .to_vec()
    };
    let k = key();
    let (k2, k3) = (key(), key());
    let n = (rng.below(40) as i64 - 10).to_string().into_bytes();
    let m = (rng.below(6)).to_string().into_bytes();
    let s = |x: &str| x.as_bytes().to_vec();
    match rng.below(30) {
        0..=2 => vec![s("SET"), k, n],
        3..=4 => vec![s("GET"), k],
        5 => vec![s("DEL"), k, k2],
        6 => vec![s("MGET"), k, k2, k3],
        7 => vec![s("MSET"), k, n.clone(), k2, n],
        8 => vec![s("EXISTS"), k, k2],
        9 => vec![s("INCR"), k],
        10 => vec![s("LPUSH"), k, n, m],
        11 => vec![s("LRANGE"), k, s("0"), s("-1")],
        12 => vec![s("SADD"), k, m],
        13 => vec![s("SCARD"), k],
        14 => vec![s("HSET"), k, m, n],
        15 => vec![s("HGETALL"), k],
        16 => vec![s("ZADD"), k, n, m],
        17 => vec![s("ZRANGE"), k, s("0"), s("-1"), s("WITHSCORES")],
        18 => vec![s("RENAME"), k, k2],
        19 => vec![s("SUNIONSTORE"), k, k2, k3],
        20 => vec![s("EXPIRE"), k, s("1000")],
        21 => vec![s("TYPE"), k],
        22 => vec![s("CLUSTER"), s("KEYSLOT"), k],
        23 => {
            let slot = key_slot_of(&k).to_string().into_bytes();
            vec![s("CLUSTER"), s("COUNTKEYSINSLOT"), slot]
        }
        24 => {
            let slot = key_slot_of(&k).to_string().into_bytes();
            vec![s("CLUSTER"), s("GETKEYSINSLOT"), slot, s("100")]
        }
        25 => vec![s("DBSIZE")],
        26 => vec![s("LMOVE"), k, k2, s("LEFT"), s("RIGHT")],
        27 => vec![s("APPEND"), k, m],
        28 => vec![s("OBJECT"), s("ENCODING"), k],
        _ => vec![s("COPY"), k, k2, s("REPLACE")],
    }
}

fn key_slot_of(k: &[u8]) -> u16 {
    cachelab_engine::store::slots::key_slot(k)
}

/// Six redis-server and six cachelab primaries, each set assembled by
/// `redis-cli --cluster create`, receive the same 20,000 seeded commands
/// through a cluster client (sent to a seeded node, MOVED and ASK
/// followed): every reply on the way is identical, redirects compared by
/// slot and node index. A slot migrates (IMPORTING / MIGRATING, keys
/// moved by MIGRATE, SETSLOT NODE) a third of the way in, on both.
#[test]
fn a_cachelab_cluster_answers_as_a_redis_cluster() {
    let Some(first) = redis_cluster_node_with(15000) else {
        eprintln!("redis-server not installed; skipped");
        return;
    };
    let mut redis = vec![first];
    for _ in 0..5 {
        redis.push(redis_cluster_node_with(15000).expect("redis"));
    }
    let ours: Vec<CachelabServer> = (0..6)
        .map(|_| cachelab_cluster_node_with(15000).0)
        .collect();
    let rports: Vec<u16> = redis.iter().map(|s| s.port).collect();
    let cports: Vec<u16> = ours.iter().map(|s| s.port).collect();
    redis_cli_create(&rports, false);
    redis_cli_create(&cports, false);
    let mut sides = [Six::new(rports), Six::new(cports)];
    let seed: u64 = cachelab_tests::env_number("CACHELAB_DIFF_SEED", 0xC1_0573);
    let total: usize = cachelab_tests::env_number("CACHELAB_DIFF_COMMANDS", 20_000);
    let mut rng = Rng::new(seed);
    // The slot that migrates: "{user}"'s, from its owner to the next node.
    let slot = key_slot_of(b"{user}").to_string();
    let owner = |six: &mut Six| -> usize {
        let r = six.send(0, &args(&["GET", "{user}:1"]));
        match &r[0] {
            Reply::Error(e) if e.starts_with("MOVED ") => e
                .rsplit('#')
                .next()
                .and_then(|i| i.parse().ok())
                .expect("index"),
            _ => 0,
        }
    };
    let from = owner(&mut sides[0]);
    assert_eq!(owner(&mut sides[1]), from, "the same slot map");
    let to = (from + 1) % 6;
    for i in 0..total {
        if i == total / 3 || i == 2 * total / 3 {
            for six in &mut sides {
                let id_of = |six: &mut Six, n: usize| match parse_reply(
                    &six.conns[n].call(&args(&["CLUSTER", "MYID"])),
                ) {
                    Ok(Some((Reply::Bulk(b), _))) => String::from_utf8(b).expect("hex"),
                    other => panic!("{other:?}"),
                };
                let (fid, tid) = (id_of(six, from), id_of(six, to));
                if i == total / 3 {
                    let a = six.conns[to].call(&args(&[
                        "CLUSTER",
                        "SETSLOT",
                        &slot,
                        "IMPORTING",
                        &fid,
                    ]));
                    let b = six.conns[from].call(&args(&[
                        "CLUSTER",
                        "SETSLOT",
                        &slot,
                        "MIGRATING",
                        &tid,
                    ]));
                    assert_eq!(
                        (a.as_slice(), b.as_slice()),
                        (&b"+OK\r\n"[..], &b"+OK\r\n"[..])
                    );
                } else {
                    // Whatever is left moves, then the slot is the target's.
                    let keys = match parse_reply(&six.conns[from].call(&args(&[
                        "CLUSTER",
                        "GETKEYSINSLOT",
                        &slot,
                        "1000",
                    ]))) {
                        Ok(Some((Reply::Array(ks), _))) => ks,
                        other => panic!("{other:?}"),
                    };
                    if !keys.is_empty() {
                        let port = six.ports[to].to_string();
                        let mut argv = args(&[
                            "MIGRATE",
                            "127.0.0.1",
                            &port,
                            "",
                            "0",
                            "5000",
                            "REPLACE",
                            "KEYS",
                        ]);
                        argv.extend(keys.into_iter().map(|k| match k {
                            Reply::Bulk(b) => b,
                            other => panic!("{other:?}"),
                        }));
                        assert_eq!(six.conns[from].call(&argv), b"+OK\r\n");
                    }
                    for n in 0..6 {
                        let r =
                            six.conns[n].call(&args(&["CLUSTER", "SETSLOT", &slot, "NODE", &tid]));
                        assert_eq!(r, b"+OK\r\n", "SETSLOT NODE on node {n}");
                    }
                }
            }
        }
        let cmd = cluster_gen(&mut rng);
        if std::env::var("CACHELAB_DIFF_TRACE").is_ok() {
            eprintln!("#{i} {cmd:?}");
        }
        let at = rng.below(6);
        let want = sides[0].send(at, &cmd);
        let got = sides[1].send(at, &cmd);
        if got != want {
            let line: Vec<String> = cmd
                .iter()
                .map(|a| format!("{:?}", String::from_utf8_lossy(a)))
                .collect();
            panic!(
                "seed {seed}, command #{i} (to node {at}) differs: {}\n  redis:    {want:?}\n  cachelab: {got:?}",
                line.join(" ")
            );
        }
    }
}

/// Six cachelab nodes made a cluster of three shards with a replica each
/// by `redis-cli --cluster create --cluster-replicas 1`; their ports.
fn cachelab_cluster(nodes: usize) -> (Vec<CachelabServer>, Vec<u16>) {
    let ours: Vec<CachelabServer> = (0..nodes)
        .map(|_| cachelab_cluster_node_with(15000).0)
        .collect();
    let ports: Vec<u16> = ours.iter().map(|s| s.port).collect();
    redis_cli_create(&ports, true);
    (ours, ports)
}

/// Clients written for Redis Cluster work against cachelab's, unmodified:
/// redis-py's `RedisCluster` (slot map from CLUSTER SLOTS, keys routed by
/// slot, MOVED followed, replica reads with READONLY, a pipeline, hash
/// tags), `redis-cli -c` following MOVED, and `redis-benchmark --cluster`
/// spreading its keys over the shards.
#[test]
fn cluster_clients_work_unmodified() {
    let (_nodes, ports) = cachelab_cluster(6);
    // A replica is listed in CLUSTER SLOTS once it has replicated
    // something (isReplicaAvailable): a write to every shard first.
    for k in ["a", "b", "c"] {
        cluster_call(ports[0], &["SET", k, "0"]);
    }
    wait_until("every shard to list its replica", 20, || {
        matches!(RespConn::connect(ports[2]).call_str(&["CLUSTER", "SLOTS"]),
            Reply::Array(ranges) if ranges.iter().all(|r| matches!(r, Reply::Array(e) if e.len() == 4)))
    });
    let script = r#"
import sys
from redis.cluster import RedisCluster, ClusterNode
rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]), decode_responses=True)
assert len(rc.get_primaries()) == 3, rc.get_nodes()
assert len(rc.get_replicas()) == 3, rc.get_nodes()
for i in range(500):
    assert rc.set(f"key:{i}", i)
assert all(rc.get(f"key:{i}") == str(i) for i in range(500))
assert rc.keyslot("key:1") == rc.cluster_keyslot("key:1")
sizes = [rc.dbsize(target_nodes=n) for n in rc.get_primaries()]
assert sum(sizes) == 503 and all(v > 100 for v in sizes), sizes
assert rc.mset_nonatomic({"a": 1, "b": 2, "c": 3}) == [True, True, True]
assert rc.mget_nonatomic(["a", "b", "c", "nope"]) == ["1", "2", "3", None]
assert rc.mset({"{u}:1": "x", "{u}:2": "y"})
assert rc.mget(["{u}:1", "{u}:2"]) == ["x", "y"]
try:
    rc.execute_command("MSET", "a", "1", "b", "2")
except Exception as e:
    assert "CROSSSLOT" in str(e) or "same key slot" in str(e), e
else:
    raise SystemExit("MSET across slots accepted")
p = rc.pipeline()
for i in range(100):
    p.incr(f"counter:{i % 7}")
res = p.execute()
assert len(res) == 100 and res[:7] == [1] * 7, res
assert sum(int(rc.get(f"counter:{j}")) for j in range(7)) == 100
ro = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]), decode_responses=True, read_from_replicas=True)
import time
for _ in range(100):
    if all(ro.get(f"key:{i}") == str(i) for i in range(0, 500, 50)):
        break
    time.sleep(0.05)
else:
    raise SystemExit("replica reads never caught up")
print("ok")
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &ports[2].to_string()])
        .output()
        .expect("python3 runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok",
        "redis-py RedisCluster failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // redis-cli -c follows MOVED and says so.
    let out = std::process::Command::new("redis-cli")
        .args(["-c", "-p", &ports[0].to_string(), "SET", "foo", "bar"])
        .output()
        .expect("redis-cli runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
    let mut got = 0;
    for &p in &ports {
        let out = std::process::Command::new("redis-cli")
            .args(["-c", "-p", &p.to_string(), "GET", "foo"])
            .output()
            .expect("redis-cli runs");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "bar");
        got += 1;
    }
    assert_eq!(got, 6);
    // redis-benchmark --cluster: its keys spread over all three shards.
    let out = std::process::Command::new("redis-benchmark")
        .args(["--cluster", "-p", &ports[0].to_string(), "-t", "set,get"])
        .args(["-n", "20000", "-r", "10000", "-c", "10", "-q"])
        .output()
        .expect("redis-benchmark runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("SET:") && text.contains("GET:"), "{text}");
    assert!(!text.to_lowercase().contains("error"), "{text}");
    let mut shards_with_bench_keys = 0;
    for &p in &ports {
        let mut c = RespConn::connect(p);
        let me = my_id(p);
        let primary = nodes_of(p)
            .lines()
            .any(|l| l.starts_with(&me) && l.contains("master"));
        if primary {
            if let Reply::Array(keys) = c.call_str(&["KEYS", "key:{*"]) {
                if !keys.is_empty() {
                    shards_with_bench_keys += 1;
                }
            }
        }
    }
    assert_eq!(
        shards_with_bench_keys, 3,
        "redis-benchmark --cluster spread its keys"
    );
}

/// Replicas of the other kind added with `redis-cli --cluster add-node
/// --cluster-slave` (a cachelab replica of a redis-server primary and a
/// redis-server replica of a cachelab primary), then CLUSTER FAILOVER on
/// each — the primary pauses, the replica catches up and is elected with
/// both kinds' votes — and CLUSTER FAILOVER FORCE back; every write kept.
#[test]
fn a_mixed_cluster_fails_over_manually_both_ways() {
    let Some(r0) = redis_cluster_node_with(15000) else {
        eprintln!("redis-server not installed; skipped");
        return;
    };
    let r1 = redis_cluster_node_with(15000).expect("redis");
    let r_replica = redis_cluster_node_with(15000).expect("redis");
    let c0 = cachelab_cluster_node_with(15000).0;
    let c_replica = cachelab_cluster_node_with(15000).0;
    // Primaries: redis, cachelab, redis.
    let primaries = [r0.port, c0.port, r1.port];
    let addrs = redis_cli_create(&primaries, false);
    let add_replica = |port: u16, of: u16| {
        let out = std::process::Command::new("redis-cli")
            .args([
                "--cluster",
                "add-node",
                &format!("127.0.0.1:{port}"),
                &addrs[0],
            ])
            .args(["--cluster-slave", "--cluster-master-id", &my_id(of)])
            .output()
            .expect("redis-cli runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("[OK] New node added correctly."),
            "{text}"
        );
        let id = my_id(of);
        for p in [r0.port, c0.port, r1.port, port] {
            wait_until(
                &format!("node {p} to see {port} replicate {of}"),
                30,
                || {
                    nodes_of(p)
                        .lines()
                        .any(|l| l.starts_with(&my_id(port)) && l.contains(&format!("slave {id}")))
                },
            );
        }
    };
    add_replica(c_replica.port, r0.port);
    add_replica(r_replica.port, c0.port);
    let all = [r0.port, c0.port, r1.port, c_replica.port, r_replica.port];
    let mut written = 0;
    let mut write = |n: usize| {
        for i in written..written + n {
            let key = format!("key:{i}");
            assert_eq!(
                cluster_call(all[i % 5], &["SET", &key, &i.to_string()]),
                Reply::Simple("OK".into())
            );
        }
        written += n;
        written
    };
    write(300);
    // (replica, its primary, the option): default both ways, then FORCE back.
    let steps = [
        (c_replica.port, r0.port, None),
        (r_replica.port, c0.port, None),
        (r0.port, c_replica.port, Some("FORCE")),
        (c0.port, r_replica.port, Some("FORCE")),
    ];
    for (replica, primary, option) in steps {
        let mut argv = vec!["CLUSTER", "FAILOVER"];
        argv.extend(option);
        // A write the replica may not have yet: the pause makes it wait.
        write(50);
        assert_eq!(
            RespConn::connect(replica).call_str(&argv),
            Reply::Simple("OK".into()),
            "{argv:?} on {replica}"
        );
        let (rid, pid) = (my_id(replica), my_id(primary));
        for p in all {
            wait_until(
                &format!("node {p} to see {replica} take over from {primary}"),
                30,
                || {
                    let v = nodes_of(p);
                    let me = line_in(&v, &rid);
                    let old = line_in(&v, &pid);
                    me.contains("master")
                        && me.split(' ').count() > 8
                        && old.contains(&format!("slave {rid}"))
                },
            );
        }
        cluster_check(&addrs[1]);
        let total = write(50);
        for i in 0..total {
            let key = format!("key:{i}");
            assert_eq!(
                cluster_call(all[(i + 2) % 5], &["GET", &key]),
                Reply::Bulk(i.to_string().into_bytes()),
                "{key} after {argv:?} on {replica}"
            );
        }
    }
}

fn next_push(c: &mut RespConn) -> Reply {
    let bytes = c
        .try_read_reply(Duration::from_secs(10))
        .expect("a message arrives");
    parse_reply(&bytes).expect("valid").expect("complete").0
}

/// Pub/sub across a mixed cluster: PUBLISH on any node reaches the
/// subscribers of every node, either kind (the bus's PUBLISH); SSUBSCRIBE
/// and SPUBLISH go to the channel's shard (MOVED elsewhere, a replica
/// serves them without READONLY) and SPUBLISH reaches the whole shard
/// (PUBLISHSHARD) and no one else.
#[test]
fn pubsub_crosses_a_mixed_cluster() {
    let Some(m) = Mixed::create(15000, true) else {
        eprintln!("redis-server not installed; skipped");
        return;
    };
    let ports = m.ports.clone();
    let mut subs: Vec<RespConn> = ports
        .iter()
        .map(|&p| subscribed(p, "SUBSCRIBE", "news"))
        .collect();
    for (i, &from) in [ports[1], ports[0]].iter().enumerate() {
        let text = format!("hello {i}");
        assert_eq!(
            RespConn::connect(from).call_str(&["PUBLISH", "news", &text]),
            Reply::Int(1),
            "one subscriber on the publishing node itself"
        );
        for (k, s) in subs.iter_mut().enumerate() {
            assert_eq!(
                next_push(s),
                Reply::Array(vec![
                    Reply::Bulk(b"message".to_vec()),
                    Reply::Bulk(b"news".to_vec()),
                    Reply::Bulk(text.clone().into_bytes()),
                ]),
                "subscriber on {} hears {from}",
                ports[k]
            );
        }
    }
    // Shard channels: the owner of "{s}ch"'s slot and its replica.
    let slot = cachelab_engine::store::slots::key_slot(b"{s}ch");
    let owner = match RespConn::connect(ports[0]).call_str(&["SSUBSCRIBE", "{s}ch"]) {
        Reply::Error(e) if e.starts_with("MOVED ") => {
            assert!(e.starts_with(&format!("MOVED {slot} ")), "{e}");
            e.rsplit(':')
                .next()
                .and_then(|p| p.parse::<u16>().ok())
                .expect("port")
        }
        _ => ports[0],
    };
    let owner_id = my_id(owner);
    let replica = *ports
        .iter()
        .find(|&&p| {
            nodes_of(p)
                .lines()
                .any(|l| l.starts_with(&my_id(p)) && l.contains(&format!("slave {owner_id}")))
        })
        .expect("the owner has a replica");
    let outsider = *ports
        .iter()
        .find(|&&p| p != owner && p != replica)
        .expect("a node of another shard");
    assert_eq!(
        RespConn::connect(outsider).call_str(&["SSUBSCRIBE", "{s}ch"]),
        Reply::Error(format!("MOVED {slot} 127.0.0.1:{owner}")),
        "SSUBSCRIBE on {outsider} (cachelab: {})",
        m.is_ours(outsider)
    );
    let mut shard_subs: Vec<RespConn> = [owner, replica]
        .iter()
        .map(|&p| subscribed(p, "SSUBSCRIBE", "{s}ch"))
        .collect();
    for from in [owner, replica] {
        let text = format!("from {from}");
        assert_eq!(
            RespConn::connect(from).call_str(&["SPUBLISH", "{s}ch", &text]),
            Reply::Int(1)
        );
        for s in shard_subs.iter_mut() {
            assert_eq!(
                next_push(s),
                Reply::Array(vec![
                    Reply::Bulk(b"smessage".to_vec()),
                    Reply::Bulk(b"{s}ch".to_vec()),
                    Reply::Bulk(text.clone().into_bytes()),
                ])
            );
        }
    }
    // Nobody outside the shard heard any of it.
    for s in subs.iter_mut() {
        assert_eq!(s.try_read_reply(Duration::from_millis(300)), None);
    }
}

/// A node's bus port, from its own CLUSTER NODES line.
fn cport_of(port: u16) -> u16 {
    let me = my_id(port);
    let v = nodes_of(port);
    let line = v.lines().find(|l| l.starts_with(&me)).expect("myself");
    let addr = line.split(' ').nth(1).expect("address");
    addr.split('@')
        .nth(1)
        .and_then(|c| c.split(',').next())
        .and_then(|c| c.parse().ok())
        .expect("bus port")
}

/// Every node sees node `id` up (not failing) and the cluster agrees.
fn wait_rejoined(ports: &[u16], id: &str, addr: &str) {
    for &p in ports {
        wait_until(&format!("node {p} to see {id} back"), 40, || {
            let v = nodes_of(p);
            let line = line_in(&v, id);
            !line.is_empty() && !line.contains("fail") && line.contains("connected")
        });
        wait_state_ok(p);
    }
    wait_until("redis-cli --cluster check to agree", 20, || {
        std::process::Command::new("redis-cli")
            .args(["--cluster", "check", addr])
            .output()
            .is_ok_and(|o| {
                let t = String::from_utf8_lossy(&o.stdout);
                t.contains("[OK] All nodes agree about slots configuration.")
                    && t.contains("[OK] All 16384 slots covered.")
            })
    });
}

/// nodes.conf: a cachelab node restarted on its ports comes back as the
/// same node (id, epochs, slots) from the file it wrote; a cachelab node
/// started with a redis-server node's file takes that node's place, and a
/// redis-server started with the file cachelab wrote takes it back — the
/// format is Redis's both ways.
#[test]
fn nodes_conf_brings_a_node_back_either_kind() {
    let Some(mut m) = Mixed::create(15000, false) else {
        eprintln!("redis-server not installed; skipped");
        return;
    };
    let ports = m.ports.clone();
    // 1. A cachelab node (index 1) restarts from its own file.
    let (p, cport) = (ports[1], cport_of(ports[1]));
    let id = my_id(p);
    let slots_line = |p: u16, id: &str| -> String {
        let v = nodes_of(p);
        let l = v
            .lines()
            .find(|l| l.starts_with(id))
            .expect("listed")
            .to_string();
        l.split(' ').skip(8).collect::<Vec<_>>().join(" ")
    };
    let slots = slots_line(p, &id);
    assert_eq!(
        RespConn::connect(p).call_str(&["CLUSTER", "SAVECONFIG"]),
        Reply::ok()
    );
    let file = format!("cachelab-nodes-{}-{cport}.conf", std::process::id());
    let path = scratch().join(&file);
    wait_until("nodes.conf written", 10, || {
        std::fs::read_to_string(&path)
            .is_ok_and(|t| t.contains(&format!("{id} ")) && t.contains("vars currentEpoch"))
    });
    m.kill(1);
    let back = CachelabServer::start_on(p, cachelab_cluster_opts(cport, 15000, &file));
    assert_eq!(my_id(p), id, "the same node");
    assert_eq!(slots_line(p, &id), slots, "its slots");
    wait_rejoined(&ports, &id, &m.addrs[3]);
    // 2. A redis-server node's file, loaded by a cachelab node on its ports.
    let (rp, rcport) = (ports[0], cport_of(ports[0]));
    let rid = my_id(rp);
    assert_eq!(
        RespConn::connect(rp).call_str(&["CLUSTER", "SAVECONFIG"]),
        Reply::ok()
    );
    let rfile = format!("cachelab-test-mixed-{}-{rcport}.conf", std::process::id());
    m.kill(0);
    let ours_now = CachelabServer::start_on(rp, cachelab_cluster_opts(rcport, 15000, &rfile));
    assert_eq!(
        my_id(rp),
        rid,
        "cachelab took the redis-server node's identity"
    );
    wait_rejoined(&ports, &rid, &m.addrs[3]);
    // 3. And back: redis-server loads the file cachelab now keeps.
    assert_eq!(
        RespConn::connect(rp).call_str(&["CLUSTER", "SAVECONFIG"]),
        Reply::ok()
    );
    drop(ours_now);
    let rpath = scratch().join(&rfile);
    let redis_again = RedisServer::start_on(
        rp,
        &[
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            &rpath.to_string_lossy(),
            "--cluster-port",
            &rcport.to_string(),
            "--cluster-node-timeout",
            "15000",
        ],
    )
    .expect("redis-server restarts");
    assert_eq!(my_id(rp), rid, "redis-server read cachelab's nodes.conf");
    wait_rejoined(&ports, &rid, &m.addrs[3]);
    // The cluster serves every slot again.
    for i in 0..200 {
        let key = format!("after:{i}");
        assert_eq!(cluster_call(ports[i % 6], &["SET", &key, "v"]), Reply::ok());
    }
    drop((back, redis_again));
}

/// `count` consecutive ports free, with their bus ports (+10000) too.
fn free_run(count: u16) -> u16 {
    let mut rng = Rng::new(std::process::id() as u64 ^ 0x5eed);
    loop {
        // 18000–22767 with the bus ports 28000–32767: clear of
        // `free_port`'s ports and theirs, and below the ephemeral range.
        let base = 18000 + rng.below(4768 - count as usize) as u16;
        let free = (base..base + count).all(|p| {
            std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
                && std::net::TcpListener::bind(("127.0.0.1", p + 10000)).is_ok()
        });
        if free {
            return base;
        }
    }
}

/// `cachelab-server --cluster 3x1`: the control plane assembles three
/// shards with a replica each; redis-py's RedisCluster uses it as it is;
/// `reshard 1 2 300` moves slots and keys online; `failover 2` swaps
/// shard 2's primary and replica; `quit` ends it.
#[test]
fn cachelab_server_cluster_mode_runs_a_cme_group() {
    let base = free_run(6);
    let dir = scratch().join(format!("cachelab-cme-{}-{base}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let d = dir.clone();
    let runner = std::thread::spawn(move || {
        cachelab_server::cme::run_cluster("127.0.0.1", base, 3, 1, &d, rx).expect("runs")
    });
    let ports: Vec<u16> = (base..base + 6).collect();
    for &p in &ports {
        wait_state_ok(p);
        wait_until(&format!("node {p} to see 3 replicas"), 30, || {
            nodes_of(p).lines().filter(|l| l.contains("slave")).count() == 3
        });
    }
    // redis-cli --cluster create's slot split.
    let first = nodes_of(base);
    assert!(
        first
            .lines()
            .any(|l| l.contains("myself,master") && l.ends_with(" 0-5460")),
        "{first}"
    );
    let script = r#"
import sys
from redis.cluster import RedisCluster
rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]), decode_responses=True)
assert len(rc.get_primaries()) == 3, rc.get_nodes()
for i in range(300):
    assert rc.set(f"key:{i}", i)
print("ok")
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &base.to_string()])
        .output()
        .expect("python3 runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Shard 1 is ports base, base+1; shard 2 base+2, base+3.
    tx.send("reshard 1 2 300".into()).expect("admin");
    let id2 = my_id(base + 2);
    wait_until("300 slots to reach shard 2", 60, || {
        nodes_of(base)
            .lines()
            .any(|l| l.starts_with(&id2) && l.split(' ').skip(8).any(|r| r == "5161-10922"))
    });
    for i in 0..300 {
        let key = format!("key:{i}");
        assert_eq!(
            cluster_call(ports[i % 6], &["GET", &key]),
            Reply::Bulk(i.to_string().into_bytes()),
            "{key}"
        );
    }
    // Rebalance evens them out again: 5462 slots for shard 1 (the first
    // shard gets the one left over), 5461 for shard 2.
    tx.send("rebalance".into()).expect("admin");
    let id1 = my_id(base);
    let count = |nodes: &str, id: &str| -> usize {
        let line = line_in(nodes, id);
        line.split(' ')
            .skip(8)
            .map(|r| {
                let (a, b) = r.split_once('-').unwrap_or((r, r));
                b.parse::<usize>().unwrap_or(0) + 1 - a.parse::<usize>().unwrap_or(0)
            })
            .sum()
    };
    wait_until("the slots to be even again", 60, || {
        let nodes = nodes_of(base + 4);
        count(&nodes, &id1) == 5462 && count(&nodes, &id2) == 5461
    });
    tx.send("failover 2".into()).expect("admin");
    let id3 = my_id(base + 3);
    wait_until("shard 2's replica to take over", 30, || {
        nodes_of(base)
            .lines()
            .any(|l| l.starts_with(&id3) && l.contains("master"))
    });
    tx.send("quit".into()).expect("admin");
    runner.join().expect("the group ends");
    let _ = std::fs::remove_dir_all(&dir);
}
