//! cachelab speaks Redis's own replication protocol: a real `redis-server`
//! started with `--replicaof` a cachelab node does the handshake (PING,
//! REPLCONF, PSYNC), loads the full resync's RDB, follows the stream
//! through 20,000 seeded writes of every family, resyncs partially after
//! its link is cut (+CONTINUE, no second full sync), and ends with the
//! same data, key for key, with the same absolute expiries.

use std::time::{Duration, Instant};

use cachelab_engine::protocol::Reply;
use cachelab_tests::{
    args, dataset, encode_request, workload, CachelabServer, RedisServer, RespConn,
};

fn info_field(c: &mut RespConn, section: &str, field: &str) -> String {
    let Reply::Bulk(b) = c.call_str(&["INFO", section]) else {
        panic!("INFO {section}")
    };
    String::from_utf8_lossy(&b)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// No timer deletes keys from here on, and every key of the workload that
/// is past its TTL is deleted now (its DEL sent to the replica): the data
/// stays still while two servers' digests are compared.
fn settle_expired(primary: &mut RespConn) {
    primary.call(&args(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]));
    for db in ["0", "1"] {
        primary.call(&args(&["SELECT", db]));
        let mut argv = vec!["EXISTS".to_string()];
        argv.extend((0..40).map(|i| format!("gone:{i}")));
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        primary.call(&args(&argv));
    }
    primary.call(&args(&["SELECT", "0"]));
}

/// Sends `cmds` pipelined in batches; every command gets its reply.
fn drive(c: &mut RespConn, cmds: &[Vec<Vec<u8>>]) {
    for batch in cmds.chunks(250) {
        let mut bytes = Vec::new();
        for argv in batch {
            bytes.extend_from_slice(&encode_request(argv));
        }
        c.send_raw(&bytes);
        for _ in batch {
            c.read_reply_bytes().expect("a reply");
        }
    }
}

#[test]
fn a_real_redis_server_replicates_from_cachelab() {
    let primary = CachelabServer::start();
    let mut p = RespConn::connect(primary.port);
    // Data before the replica arrives travels in the full resync's RDB.
    let writes = workload::mixed_writes(17, 20_000);
    let (a, b) = (
        workload::boundary(&writes, 2_000),
        workload::boundary(&writes, 10_000),
    );
    drive(&mut p, &writes[..a]);
    let Some(replica) =
        RedisServer::start_with(&["--replicaof", "127.0.0.1", &primary.port.to_string()])
    else {
        eprintln!("redis-server not installed; skipped");
        return;
    };
    let mut r = RespConn::connect(replica.port);
    wait_for("the replica's link", 20, || {
        info_field(&mut r, "replication", "master_link_status") == "up"
    });
    // The primary lists it as Redis does: by its listening port, online
    // once its first REPLCONF ACK says it has loaded the RDB.
    let online = format!("ip=127.0.0.1,port={},state=online", replica.port);
    wait_for("the replica online on the primary", 20, || {
        info_field(&mut p, "replication", "slave0").starts_with(&online)
    });
    assert!(matches!(
        p.call_str(&["CLIENT", "LIST", "TYPE", "replica"]),
        Reply::Bulk(ref b) if String::from_utf8_lossy(b).contains("flags=S")
    ));
    drive(&mut p, &writes[a..b]);

    // The link is cut: the replica comes back with PSYNC <replid> <offset>
    // and continues from the backlog.
    assert_eq!(
        p.call_str(&["CLIENT", "KILL", "TYPE", "replica"]),
        Reply::Int(1)
    );
    drive(&mut p, &writes[b..]);
    wait_for("the replica to catch up", 30, || {
        let mine = info_field(&mut p, "replication", "master_repl_offset");
        info_field(&mut r, "replication", "master_link_status") == "up"
            && info_field(&mut r, "replication", "slave_repl_offset") == mine
    });
    assert_eq!(info_field(&mut p, "stats", "sync_full"), "1");
    assert_eq!(info_field(&mut p, "stats", "sync_partial_ok"), "1");
    // WAIT counts it: its REPLCONF ACKs reach the primary.
    assert_eq!(p.call(&args(&["SET", "last", "one"])), b"+OK\r\n");
    assert_eq!(p.call(&args(&["WAIT", "1", "5000"])), b":1\r\n");

    // Keys written with PX 1 have long expired: the primary's expiry sends
    // their DELs. Both sides hold the same data.
    settle_expired(&mut p);
    wait_for("the last writes", 10, || {
        let mine = info_field(&mut p, "replication", "master_repl_offset");
        info_field(&mut r, "replication", "slave_repl_offset") == mine
    });
    let ours = dataset::read(&mut p, 2);
    let theirs = dataset::read(&mut r, 2);
    assert!(ours.len() > 200, "a real dataset: {} keys", ours.len());
    let diff = dataset::differences(&ours, &theirs, 10);
    assert!(
        diff.is_empty(),
        "cachelab / redis replica:\n{}",
        diff.join("\n")
    );
    // DEBUG DIGEST is Redis's algorithm on both sides: equal.
    let digest = |c: &mut RespConn| c.call(&args(&["DEBUG", "DIGEST"]));
    let d = digest(&mut p);
    assert_ne!(d, b"+0000000000000000000000000000000000000000\r\n");
    assert_eq!(
        cachelab_tests::show(&d),
        cachelab_tests::show(&digest(&mut r))
    );
    for key in [
        "s:1", "l:2", "h:3", "set:4", "z:5", "x:6", "hll:7", "nothing",
    ] {
        let argv = args(&["DEBUG", "DIGEST-VALUE", key]);
        assert_eq!(
            cachelab_tests::show(&p.call(&argv)),
            cachelab_tests::show(&r.call(&argv)),
            "{key}"
        );
    }
}

/// The handshake commands answer as redis-server answers them, byte for
/// byte: REPLCONF's options and errors, PSYNC/SYNC argument errors, ACKs
/// never answered, and the full resync's first line.
#[test]
fn the_handshake_answers_as_redis_does() {
    let Some(redis) = RedisServer::start() else {
        eprintln!("redis-server not installed; skipped");
        return;
    };
    let ours = CachelabServer::start();
    let cases: &[&[&str]] = &[
        &["REPLCONF"],
        &["REPLCONF", "listening-port"],
        &["REPLCONF", "listening-port", "6380"],
        &["REPLCONF", "listening-port", "abc"],
        &["REPLCONF", "ip-address", "10.0.0.9"],
        &["REPLCONF", "capa", "eof", "capa", "psync2"],
        &["REPLCONF", "capa", "future-feature"],
        &["REPLCONF", "rdb-only", "1"],
        &["REPLCONF", "rdb-only", "7"],
        &["REPLCONF", "rdb-only", "x"],
        &["REPLCONF", "rdb-filter-only", "functions"],
        &["REPLCONF", "rdb-filter-only", "keys"],
        &["REPLCONF", "no-such-option", "1"],
        &["REPLCONF", "listening-port", "1", "bad-option", "2"],
        &["PSYNC", "?"],
        &["PSYNC", "?", "abc"],
        &["SYNC", "extra"],
        &["PSYNC", "?", "-1", "FAILOVER"],
    ];
    let mut a = RespConn::connect(redis.port);
    let mut b = RespConn::connect(ours.port);
    for case in cases {
        let argv = args(case);
        assert_eq!(
            cachelab_tests::show(&b.call(&argv)),
            cachelab_tests::show(&a.call(&argv)),
            "{case:?}"
        );
    }
    // REPLCONF ACK and GETACK are never answered: the PING behind them is.
    for c in [&mut a, &mut b] {
        let mut bytes = encode_request(&args(&["REPLCONF", "ACK", "10"]));
        bytes.extend(encode_request(&args(&["REPLCONF", "GETACK", "*"])));
        bytes.extend(encode_request(&args(&["PING"])));
        c.send_raw(&bytes);
        assert_eq!(c.read_reply_bytes().unwrap(), b"+PONG\r\n");
    }
    // A PSYNC inside MULTI is refused the same way.
    for c in [&mut a, &mut b] {
        c.call(&args(&["MULTI"]));
    }
    let argv = args(&["PSYNC", "?", "-1"]);
    assert_eq!(
        cachelab_tests::show(&b.call(&argv)),
        cachelab_tests::show(&a.call(&argv))
    );
}

/// The reverse: a cachelab node REPLICAOF a real redis-server (how data
/// migrates in) — the handshake, the RDB in both of Redis's forms (a disk
/// file's `$<len>` and the diskless `$EOF:<mark>`), the stream through
/// 20,000 writes, a cut link resynced partially, the same data.
#[test]
fn cachelab_replicates_from_a_real_redis_server() {
    for diskless in ["no", "yes"] {
        let Some(primary) = RedisServer::start_with(&[
            "--repl-diskless-sync",
            diskless,
            "--repl-diskless-sync-delay",
            "0",
        ]) else {
            eprintln!("redis-server not installed; skipped");
            return;
        };
        let mut p = RespConn::connect(primary.port);
        let writes = workload::mixed_writes(23, 20_000);
        let (a, b) = (
            workload::boundary(&writes, 2_000),
            workload::boundary(&writes, 10_000),
        );
        drive(&mut p, &writes[..a]);
        let replica = CachelabServer::start();
        let mut r = RespConn::connect(replica.port);
        assert_eq!(
            r.call(&args(&[
                "REPLICAOF",
                "127.0.0.1",
                &primary.port.to_string()
            ])),
            b"+OK\r\n"
        );
        wait_for("the link", 20, || {
            info_field(&mut r, "replication", "master_link_status") == "up"
        });
        drive(&mut p, &writes[a..b]);
        // redis-server cuts the link; cachelab asks for PSYNC <replid> <offset>.
        assert_eq!(
            p.call_str(&["CLIENT", "KILL", "TYPE", "replica"]),
            Reply::Int(1)
        );
        drive(&mut p, &writes[b..]);
        wait_for("the replica to catch up", 30, || {
            let theirs = info_field(&mut p, "replication", "master_repl_offset");
            info_field(&mut r, "replication", "master_link_status") == "up"
                && info_field(&mut r, "replication", "slave_repl_offset") == theirs
        });
        assert_eq!(
            info_field(&mut p, "stats", "sync_full"),
            "1",
            "diskless {diskless}"
        );
        assert_eq!(
            info_field(&mut p, "stats", "sync_partial_ok"),
            "1",
            "diskless {diskless}"
        );
        // redis-server's WAIT counts cachelab's ACKs.
        assert_eq!(p.call(&args(&["SET", "last", "one"])), b"+OK\r\n");
        assert_eq!(p.call(&args(&["WAIT", "1", "5000"])), b":1\r\n");
        settle_expired(&mut p);
        wait_for("the last writes", 10, || {
            let theirs = info_field(&mut p, "replication", "master_repl_offset");
            info_field(&mut r, "replication", "slave_repl_offset") == theirs
        });
        let ours = dataset::read(&mut r, 2);
        let theirs = dataset::read(&mut p, 2);
        assert!(theirs.len() > 200, "a real dataset: {} keys", theirs.len());
        let diff = dataset::differences(&theirs, &ours, 10);
        assert!(
            diff.is_empty(),
            "redis primary / cachelab replica (diskless {diskless}):\n{}",
            diff.join("\n")
        );
        let digest = |c: &mut RespConn| c.call(&args(&["DEBUG", "DIGEST"]));
        assert_eq!(
            cachelab_tests::show(&digest(&mut p)),
            cachelab_tests::show(&digest(&mut r)),
            "DEBUG DIGEST, diskless {diskless}"
        );
    }
}

/// PSYNC2 across the two servers: a cachelab primary with a real
/// redis-server replica and a cachelab replica; the redis replica is
/// promoted (REPLICAOF NO ONE), the cachelab replica and then the old
/// cachelab primary follow it — both continue partially (+CONTINUE, the
/// old history kept as replid2), and all three end with the same data.
#[test]
fn a_failover_to_a_real_redis_replica_keeps_the_history() {
    let primary = CachelabServer::start();
    let mut p = RespConn::connect(primary.port);
    let port = primary.port.to_string();
    let Some(redis) = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]) else {
        eprintln!("redis-server not installed; skipped");
        return;
    };
    let mut r = RespConn::connect(redis.port);
    let replica = CachelabServer::start();
    let mut c = RespConn::connect(replica.port);
    assert_eq!(
        c.call(&args(&["REPLICAOF", "127.0.0.1", &port])),
        b"+OK\r\n"
    );
    let writes = workload::mixed_writes(31, 5_000);
    drive(&mut p, &writes);
    assert_eq!(p.call(&args(&["WAIT", "2", "10000"])), b":2\r\n");
    let old_replid = info_field(&mut p, "replication", "master_replid");
    let offset: u64 = info_field(&mut p, "replication", "master_repl_offset")
        .parse()
        .unwrap();
    wait_for("both replicas at the primary's offset", 20, || {
        [&mut r, &mut c]
            .into_iter()
            .all(|x| info_field(x, "replication", "slave_repl_offset") == offset.to_string())
    });

    // The failover: redis-server becomes the primary.
    assert_eq!(r.call(&args(&["REPLICAOF", "NO", "ONE"])), b"+OK\r\n");
    assert_eq!(
        info_field(&mut r, "replication", "master_replid2"),
        old_replid
    );
    let rport = redis.port.to_string();
    assert_eq!(
        c.call(&args(&["REPLICAOF", "127.0.0.1", &rport])),
        b"+OK\r\n"
    );
    assert_eq!(
        p.call(&args(&["REPLICAOF", "127.0.0.1", &rport])),
        b"+OK\r\n"
    );
    wait_for("both follow redis-server", 20, || {
        [&mut p, &mut c]
            .into_iter()
            .all(|x| info_field(x, "replication", "master_link_status") == "up")
    });
    // Both continued from the old history: no full resync on redis-server.
    assert_eq!(info_field(&mut r, "stats", "sync_full"), "0");
    assert_eq!(info_field(&mut r, "stats", "sync_partial_ok"), "2");
    // Keys past their TTL that the new primary still holds (a replica
    // never expires keys itself) go now, their DELs to both followers.
    for db in ["0", "1"] {
        r.call(&args(&["SELECT", db]));
        let gone: Vec<String> = (0..40).map(|i| format!("gone:{i}")).collect();
        let mut argv = vec!["EXISTS".to_string()];
        argv.extend(gone);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        r.call(&args(&argv));
    }
    r.call(&args(&["SELECT", "0"]));
    // Writes on the new primary reach both.
    assert_eq!(r.call(&args(&["SET", "after", "failover"])), b"+OK\r\n");
    assert_eq!(r.call(&args(&["WAIT", "2", "5000"])), b":2\r\n");
    let digest = |x: &mut RespConn| cachelab_tests::show(&x.call(&args(&["DEBUG", "DIGEST"])));
    let d = digest(&mut r);
    let theirs = dataset::read(&mut r, 2);
    for (name, x) in [
        ("the old primary", &mut p),
        ("the cachelab replica", &mut c),
    ] {
        let diff = dataset::differences(&theirs, &dataset::read(x, 2), 10);
        assert!(diff.is_empty(), "{name}:\n{}", diff.join("\n"));
        assert_eq!(digest(x), d, "{name}");
    }
}

/// A replica's view of a primary's stream: `PSYNC ? -1` on a plain
/// connection, the RDB skipped, then every stream byte.
struct StreamTap {
    sock: std::net::TcpStream,
    buf: Vec<u8>,
}

impl StreamTap {
    fn attach(port: u16) -> StreamTap {
        use std::io::{Read, Write};
        let mut sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        sock.write_all(&encode_request(&args(&["PSYNC", "?", "-1"])))
            .unwrap();
        let mut buf = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        // +FULLRESYNC <id> <offset>\r\n, newlines, then $<len>\r\n<payload>.
        loop {
            assert!(
                Instant::now() < deadline,
                "no full resync: {:?}",
                String::from_utf8_lossy(&buf)
            );
            let mut chunk = [0u8; 65536];
            if let Ok(n) = sock.read(&mut chunk) {
                buf.extend_from_slice(&chunk[..n]);
            }
            let text = buf.clone();
            let Some(l1) = text.windows(2).position(|w| w == b"\r\n") else {
                continue;
            };
            assert!(
                text.starts_with(b"+FULLRESYNC "),
                "{:?}",
                String::from_utf8_lossy(&text)
            );
            let rest = &text[l1 + 2..];
            let skip = rest.iter().take_while(|&&b| b == b'\n').count();
            let rest = &rest[skip..];
            let Some(l2) = rest.windows(2).position(|w| w == b"\r\n") else {
                continue;
            };
            let len: usize = std::str::from_utf8(&rest[1..l2]).unwrap().parse().unwrap();
            if rest.len() < l2 + 2 + len {
                continue;
            }
            let used = text.len() - rest.len() + l2 + 2 + len;
            buf.drain(..used);
            break;
        }
        StreamTap { sock, buf }
    }

    /// The commands of the stream so far (until it has been quiet a while).
    fn commands(&mut self) -> Vec<Vec<Vec<u8>>> {
        use std::io::Read;
        let mut quiet = 0;
        while quiet < 3 {
            let mut chunk = [0u8; 65536];
            match self.sock.read(&mut chunk) {
                Ok(n) if n > 0 => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    quiet = 0;
                }
                _ => quiet += 1,
            }
        }
        let limits = cachelab_engine::protocol::RequestLimits {
            max_bulk_len: u64::MAX,
            unauthenticated: false,
        };
        let mut out = Vec::new();
        let mut pos = 0;
        while let Ok(Some((argv, n))) =
            cachelab_engine::protocol::parse_request(&self.buf[pos..], &limits)
        {
            pos += n;
            out.push(argv);
        }
        out
    }
}

/// Absolute times are each server's clock: the same shape, not the same
/// digits. The primary's periodic PING depends on when it ran.
fn normalised(cmds: Vec<Vec<Vec<u8>>>) -> Vec<u8> {
    let mut out = Vec::new();
    for mut argv in cmds {
        if argv.len() == 1 && argv[0].eq_ignore_ascii_case(b"PING") {
            continue;
        }
        for i in 1..argv.len() {
            let prev = argv[i - 1].to_ascii_uppercase();
            let restore_abs = argv[0].eq_ignore_ascii_case(b"RESTORE")
                && i == 2
                && argv.iter().any(|a| a.eq_ignore_ascii_case(b"ABSTTL"));
            // XCLAIM's TIME (when the entry was delivered) is a clock too.
            if (prev == b"PXAT"
                || prev == b"TIME"
                || (argv[0].eq_ignore_ascii_case(b"PEXPIREAT") && i == 2)
                || restore_abs)
                && argv[i].iter().all(u8::is_ascii_digit)
            {
                argv[i] = vec![b'T'; argv[i].len()];
            }
        }
        out.extend(encode_request(&argv));
    }
    out
}

/// Runs `script` against a real redis-server and against cachelab (given
/// each one's port; a `PSYNC ? -1` tap attached to both first) and asserts
/// the two replication streams are the same bytes — absolute times
/// normalised — showing the first command where they part.
fn assert_same_stream(script: impl Fn(u16)) {
    let Some(redis) = RedisServer::start() else {
        eprintln!("redis-server not installed; skipped");
        return;
    };
    let ours = CachelabServer::start();
    let mut taps = [StreamTap::attach(redis.port), StreamTap::attach(ours.port)];
    for port in [redis.port, ours.port] {
        script(port);
    }
    let [theirs, ours] = [taps[0].commands(), taps[1].commands()];
    let (theirs, ours) = (normalised(theirs), normalised(ours));
    let split = |b: &[u8]| -> Vec<Vec<u8>> {
        let limits = cachelab_engine::protocol::RequestLimits {
            max_bulk_len: u64::MAX,
            unauthenticated: false,
        };
        let mut out = Vec::new();
        let mut pos = 0;
        while let Ok(Some((_, n))) = cachelab_engine::protocol::parse_request(&b[pos..], &limits) {
            out.push(b[pos..pos + n].to_vec());
            pos += n;
        }
        out
    };
    let (t, o) = (split(&theirs), split(&ours));
    if let Some(i) = (0..t.len().max(o.len())).find(|&i| t.get(i) != o.get(i)) {
        let show = |v: &[Vec<u8>]| {
            v.iter()
                .map(|c| cachelab_tests::show(c))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let from = i.saturating_sub(3);
        panic!(
            "the streams differ at command {i} of {}/{}:\nredis-server:\n{}\ncachelab:\n{}",
            t.len(),
            o.len(),
            show(&t[from.min(t.len())..(i + 3).min(t.len())]),
            show(&o[from.min(o.len())..(i + 3).min(o.len())])
        );
    }
    assert_eq!(ours.len(), theirs.len(), "equal offsets");
}

/// The replication stream of a cachelab primary is redis-server's, byte
/// for byte (absolute times normalised): the same commands run on both,
/// each propagated as Redis propagates it — as executed, or rewritten
/// (relative expiries as PXAT/PEXPIREAT, an expiry in the past as DEL,
/// GETDEL/GETSET/INCRBYFLOAT/HINCRBYFLOAT/SPOP/blocking and multi-key pops
/// in their replayable forms, a lazily expired key's DEL wrapped with the
/// command in MULTI/EXEC), SELECT where the database changes, nothing for
/// a write that changed nothing.
#[test]
fn the_stream_is_redis_servers_byte_for_byte() {
    let script: &[&[&str]] = &[
        // Only a lookup expires `short` below (no timer races the test).
        &["DEBUG", "SET-ACTIVE-EXPIRE", "0"],
        &["SET", "a", "1"],
        &["SET", "a", "1", "NX"],
        &["SET", "b", "2", "EX", "100"],
        &["SET", "b2", "2", "PX", "100000", "GET"],
        &["SET", "b3", "2", "EXAT", "4000000000"],
        &["SET", "b4", "2", "PXAT", "4000000000000"],
        &["SET", "b5", "x", "KEEPTTL"],
        &["SETEX", "c", "100", "v"],
        &["PSETEX", "c2", "100000", "v"],
        &["GETSET", "a", "10"],
        &["GETDEL", "c2"],
        &["GETEX", "c", "EX", "50"],
        &["GETEX", "c", "PERSIST"],
        &["GETEX", "c"],
        &["EXPIRE", "a", "100"],
        &["PEXPIRE", "a", "200000", "GT"],
        &["EXPIRE", "a", "300", "XX"],
        &["EXPIREAT", "b3", "4000000001"],
        &["PEXPIREAT", "b4", "4000000000001"],
        &["EXPIRE", "nothing", "10"],
        &["PERSIST", "a"],
        &["INCR", "n"],
        &["INCRBY", "n", "5"],
        &["INCRBYFLOAT", "f", "1.5"],
        &["INCRBYFLOAT", "f", "2.25"],
        &["APPEND", "a", "x"],
        &["SETRANGE", "a", "1", "yz"],
        &["MSET", "m1", "1", "m2", "2"],
        &["RPUSH", "l", "a", "b", "c", "d", "e", "f"],
        &["LPUSH", "l", "z"],
        &["LPOP", "l"],
        &["RPOP", "l", "2"],
        &["LMOVE", "l", "l2", "LEFT", "RIGHT"],
        &["BLPOP", "l", "0"],
        &["BRPOPLPUSH", "l", "l2", "0"],
        &["BLMOVE", "l2", "l", "RIGHT", "LEFT", "0"],
        &["LMPOP", "2", "empty", "l2", "LEFT", "COUNT", "5"],
        &["HSET", "h", "f", "1", "g", "2"],
        &["HINCRBY", "h", "f", "3"],
        &["HINCRBYFLOAT", "h", "g", "0.5"],
        &["HDEL", "h", "g"],
        &["SADD", "s", "x", "y", "z"],
        &["SREM", "s", "x"],
        &["SADD", "one", "m"],
        &["SPOP", "one"],
        &["SMOVE", "s", "s2", "y"],
        &["SINTERSTORE", "s3", "s", "s2"],
        &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"],
        &["ZINCRBY", "z", "1.5", "a"],
        &["ZREM", "z", "b"],
        &["ZPOPMIN", "z"],
        &["BZPOPMAX", "z", "0"],
        &["ZMPOP", "1", "z", "MIN", "COUNT", "10"],
        &["ZADD", "z2", "1", "q"],
        &["ZUNIONSTORE", "zu", "2", "z", "z2"],
        &["SELECT", "1"],
        &["SET", "in-db-1", "v"],
        &["SELECT", "0"],
        &["RENAME", "m1", "m3"],
        &["COPY", "h", "h2"],
        &["DEL", "m2", "nothing"],
        &["SETBIT", "bits", "7", "1"],
        &["PFADD", "hll", "a", "b"],
        &["XADD", "st", "1-1", "f", "v"],
        &["XADD", "st", "5-*", "f", "v"],
        &["XADD", "st", "MAXLEN", "=", "3", "6-1", "g", "w"],
        &["XADD", "st", "NOMKSTREAM", "7-*", "a", "b"],
        &["XADD", "nost", "NOMKSTREAM", "*", "a", "b"],
        &["XDEL", "st", "1-1"],
        &["XTRIM", "st", "MAXLEN", "2"],
        &["SET", "short", "v", "PX", "1"],
    ];
    assert_same_stream(|port| {
        let mut c = RespConn::connect(port);
        for argv in script {
            c.call(&args(argv));
        }
        // A key past its TTL met by a write: its DEL and the write, wrapped.
        std::thread::sleep(Duration::from_millis(20));
        c.call(&args(&["APPEND", "short", "x"]));
        c.call(&args(&["EXPIRE", "a", "-1"]));
    });
}

/// 20,000 seeded writes of every family (strings, lists, hashes, sets,
/// sorted sets, streams, HyperLogLog, bitmaps, keyspace, scripts,
/// transactions, two databases) give a stream byte-identical to
/// redis-server's (absolute times normalised), with equal offsets.
#[test]
fn twenty_thousand_seeded_writes_stream_as_redis_servers() {
    let writes = workload::replayable_writes(29, 20_000);
    assert!(writes.len() >= 20_000);
    assert_same_stream(|port| {
        let mut c = RespConn::connect(port);
        c.call(&args(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]));
        drive(&mut c, &writes);
    });
}

/// Transactions and scripts propagate as Redis 7.0 propagates them: not
/// EXEC or EVAL themselves, but the writes they ran, each in its own form,
/// wrapped in MULTI/EXEC when there is more than one (one write alone goes
/// unwrapped; a read-only transaction sends nothing).
#[test]
fn transactions_and_scripts_stream_as_redis_servers() {
    let script: &[&[&str]] = &[
        &["SET", "k", "1"],
        &["MULTI"],
        &["INCR", "k"],
        &["SET", "t", "v", "EX", "100"],
        &["GET", "k"],
        &["EXEC"],
        &["MULTI"],
        &["GET", "k"],
        &["EXEC"],
        &["MULTI"],
        &["LPUSH", "l", "a"],
        &["EXEC"],
        &["MULTI"],
        &["SELECT", "1"],
        &["SET", "in1", "x"],
        &["SELECT", "0"],
        &["INCRBYFLOAT", "f", "1.5"],
        &["EXEC"],
        &[
            "EVAL",
            "redis.call('set', KEYS[1], ARGV[1]) redis.call('expire', KEYS[1], 100) return 1",
            "1",
            "sk",
            "v",
        ],
        &["EVAL", "return redis.call('get', KEYS[1])", "1", "sk"],
        &[
            "EVAL",
            "redis.call('hset', KEYS[1], 'f', 'v') return 1",
            "1",
            "h",
        ],
        &[
            "EVAL",
            "redis.set_repl(redis.REPL_NONE) redis.call('set', KEYS[1], 'local') return 1",
            "1",
            "only-here",
        ],
    ];
    assert_same_stream(|port| {
        let mut c = RespConn::connect(port);
        for argv in script {
            c.call(&args(argv));
        }
    });
}

/// The rest of Redis's rewrites: approximate stream trimming as the exact
/// length or first ID it left, RESTORE's relative TTL as ABSTTL (an already
/// expired one as DEL), SPOP with a count as SREMs (the whole set as DEL),
/// GEOADD as the ZADD it ran, the STORE forms of GEO and SORT and XGROUP
/// as executed; and a client
/// blocked in BLPOP/BLMOVE/BZPOPMIN/BLMPOP served later by another's push:
/// the push, then the pop it was served, as redis-server streams them.
#[test]
fn rewrites_and_blocked_clients_stream_as_redis_servers() {
    assert_same_stream(|port| {
        let mut c = RespConn::connect(port);
        c.call(&args(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]));
        for i in 1..=300 {
            let id = format!("{i}-1");
            c.call(&args(&["XADD", "st", "MAXLEN", "~", "5", &id, "f", "v"]));
        }
        for cmd in [
            &["XADD", "st", "MINID", "~", "250", "301-*", "f", "v"][..],
            &["XTRIM", "st", "MAXLEN", "~", "10"],
            &["XTRIM", "st", "MAXLEN", "~", "1000"],
            &["XTRIM", "st", "MINID", "~", "280"],
            &["XGROUP", "CREATE", "st", "g", "$"],
            &["XGROUP", "CREATECONSUMER", "st", "g", "alice"],
            &["SET", "src", "value"],
        ] {
            c.call(&args(cmd));
        }
        let Reply::Bulk(dump) = ({
            let r = c.call(&args(&["DUMP", "src"]));
            cachelab_engine::protocol::parse_reply(&r)
                .unwrap()
                .unwrap()
                .0
        }) else {
            panic!("DUMP")
        };
        let restore = |c: &mut RespConn, key: &str, ttl: &str, more: &[&str]| {
            let mut argv = vec![b"RESTORE".to_vec(), key.into(), ttl.into(), dump.clone()];
            argv.extend(more.iter().map(|m| m.as_bytes().to_vec()));
            c.call(&argv);
        };
        restore(&mut c, "r1", "0", &[]);
        restore(&mut c, "r2", "100000", &[]);
        restore(&mut c, "r3", "4000000000000", &["ABSTTL"]);
        restore(&mut c, "r1", "1", &["REPLACE", "ABSTTL"]);
        for cmd in [
            &["SADD", "s", "a", "b", "c"][..],
            &["SPOP", "s", "5"],
            &["SADD", "one", "x"],
            &["SPOP", "one", "1"],
            &["SPOP", "none", "3"],
            &[
                "GEOADD",
                "g",
                "13.361389",
                "38.115556",
                "Palermo",
                "15.087269",
                "37.502669",
                "Catania",
            ],
            &[
                "GEOSEARCHSTORE",
                "gs",
                "g",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "200",
                "km",
                "ASC",
            ],
            &["GEORADIUS", "g", "15", "37", "200", "km", "STORE", "gr"],
            &["RPUSH", "nums", "3", "1", "2"],
            &["SORT", "nums", "STORE", "sorted"],
            &["SORT", "nums"],
        ] {
            c.call(&args(cmd));
        }
        // Blocked clients, served by a later push.
        for (block, push) in [
            (&["BLPOP", "q1", "0"][..], &["RPUSH", "q1", "a", "b"][..]),
            (
                &["BLMOVE", "q2", "dst", "LEFT", "RIGHT", "0"],
                &["LPUSH", "q2", "x"],
            ),
            (
                &["BZPOPMIN", "z1", "0"],
                &["ZADD", "z1", "1", "m", "2", "n"],
            ),
            (
                &["BLMPOP", "0", "1", "q3", "RIGHT", "COUNT", "2"],
                &["RPUSH", "q3", "1", "2", "3"],
            ),
        ] {
            let mut waiter = RespConn::connect(port);
            waiter.send_raw(&encode_request(&args(block)));
            // The block is in place before the push.
            std::thread::sleep(Duration::from_millis(50));
            c.call(&args(push));
            waiter.read_reply_bytes().expect("served");
        }
    });
}

/// Consumer groups as Redis propagates them: XREADGROUP's deliveries as
/// one XCLAIM each (TIME, RETRYCOUNT, FORCE JUSTID LASTID), with NOACK as
/// XGROUP CREATECONSUMER and XGROUP SETID … ENTRIESREAD; a history read
/// nothing; XCLAIM and XAUTOCLAIM as XCLAIMs too.
#[test]
fn consumer_groups_stream_as_redis_servers() {
    assert_same_stream(|port| {
        let mut c = RespConn::connect(port);
        for i in 1..=6 {
            let id = format!("{i}-1");
            c.call(&args(&["XADD", "st", &id, "f", "v"]));
        }
        for cmd in [
            &["XGROUP", "CREATE", "st", "g", "0"][..],
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "alice",
                "COUNT",
                "2",
                "STREAMS",
                "st",
                ">",
            ],
            &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "st", "0"],
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "bob",
                "COUNT",
                "1",
                "NOACK",
                "STREAMS",
                "st",
                ">",
            ],
            &["XCLAIM", "st", "g", "carol", "0", "1-1"],
            &["XCLAIM", "st", "g", "carol", "0", "2-1", "JUSTID"],
            &["XAUTOCLAIM", "st", "g", "dave", "0", "0-0", "COUNT", "5"],
            &["XDEL", "st", "2-1"],
            &["XAUTOCLAIM", "st", "g", "erin", "0", "0-0"],
            &["XREADGROUP", "GROUP", "g", "frank", "STREAMS", "st", ">"],
        ] {
            c.call(&args(cmd));
        }
    });
}

/// DEBUG is a protected command in Redis 7: refused unless
/// `enable-debug-command` allows it, in Redis's words; `local` lets
/// loopback clients run it; the setting is fixed at start.
#[test]
fn debug_is_refused_unless_enabled_as_redis_refuses_it() {
    for setting in ["no", "local"] {
        let Some(redis) = RedisServer::start_with(&["--enable-debug-command", setting]) else {
            return;
        };
        let ours = CachelabServer::start_with(cachelab_server::Options {
            config: vec![("enable-debug-command".into(), setting.into())],
            ..Default::default()
        });
        let mut replies = Vec::new();
        for port in [redis.port, ours.port] {
            let mut c = RespConn::connect(port);
            let mut got = Vec::new();
            for cmd in [
                &["DEBUG", "DIGEST"][..],
                &["DEBUG"][..],
                &["DEBUG", "SLEEP", "0"][..],
                &["CONFIG", "SET", "enable-debug-command", "yes"][..],
            ] {
                got.push(String::from_utf8_lossy(&c.call(&args(cmd))).into_owned());
            }
            replies.push(got);
        }
        assert_eq!(replies[0], replies[1], "enable-debug-command {setting}");
        let refused = replies[1][0].starts_with("-ERR DEBUG command not allowed");
        assert_eq!(refused, setting == "no", "{:?}", replies[1]);
    }
}

/// PUBLISH on a primary reaches subscribers on its replicas, as Redis
/// propagates it in the replication stream (outside cluster mode): on a
/// real redis-server replica and on a cachelab one.
#[test]
fn publish_reaches_subscribers_on_replicas() {
    let primary = CachelabServer::start();
    let Some(real) =
        RedisServer::start_with(&["--replicaof", "127.0.0.1", &primary.port.to_string()])
    else {
        eprintln!("redis-server not installed; skipped");
        return;
    };
    let ours = CachelabServer::start_with(cachelab_server::Options {
        replicaof: Some(("127.0.0.1".into(), primary.port)),
        ..Default::default()
    });
    let mut subs = Vec::new();
    for port in [real.port, ours.port] {
        let mut r = RespConn::connect(port);
        wait_for("the replica's link", 20, || {
            info_field(&mut r, "replication", "master_link_status") == "up"
        });
        let mut s = RespConn::connect(port);
        assert_eq!(
            s.call(&cachelab_tests::args(&["SUBSCRIBE", "news"])),
            b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"
        );
        subs.push(s);
    }
    let mut p = RespConn::connect(primary.port);
    assert_eq!(p.call_str(&["PUBLISH", "news", "hello"]), Reply::Int(0));
    for s in &mut subs {
        assert_eq!(
            s.try_read_reply(Duration::from_secs(10))
                .expect("delivered"),
            b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n"
        );
    }
}

/// A replica's output buffer limit holds the stream sent after its RDB,
/// not the RDB (Redis sends it apart): a real redis-server follows a
/// cachelab primary whose RDB (incompressible values, more than the
/// kernel's socket buffers take at once) is twelve times the replica
/// class's hard limit, in one full sync, and the stream after it.
/// `big:0` … `big:{keys-1}`, 100 KB each that LZF cannot shrink:
/// printable bytes from an xorshift seeded with `seed`.
fn set_incompressible(p: &mut RespConn, keys: usize, seed: u64) {
    let mut x = seed;
    for i in 0..keys {
        let v: String = (0..100_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (b'!' + (x % 90) as u8) as char
            })
            .collect();
        p.call_str(&["SET", &format!("big:{i}"), &v]);
    }
}

/// A real redis-server replicating from `port` (`None`, said, when
/// redis-server is not installed).
fn redis_replica_of(port: u16) -> Option<RedisServer> {
    let r = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port.to_string()]);
    if r.is_none() {
        eprintln!("redis-server not installed; skipped");
    }
    r
}

#[test]
fn an_rdb_larger_than_the_replica_limit_still_syncs() {
    let primary = CachelabServer::start();
    let mut p = RespConn::connect(primary.port);
    // The hard limit is never below repl-backlog-size (1 MB).
    assert_eq!(
        p.call_str(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "replica 1mb 0 0"
        ]),
        Reply::Simple("OK".into())
    );
    // The RDB as `$<length>` here (the diskless form under writes is the
    // next test's).
    p.call_str(&["CONFIG", "SET", "repl-diskless-sync", "no"]);
    set_incompressible(&mut p, 120, 0x9E37_79B9_7F4A_7C15);
    let Some(replica) = redis_replica_of(primary.port) else {
        return;
    };
    let mut r = RespConn::connect(replica.port);
    wait_for("the replica's link", 20, || {
        info_field(&mut r, "replication", "master_link_status") == "up"
    });
    for i in 0..10 {
        p.call_str(&["SET", &format!("more:{i}"), "small"]);
    }
    wait_for("the stream on the replica", 20, || {
        r.call_str(&["DBSIZE"]) == Reply::Int(130)
    });
    assert_eq!(
        info_field(&mut p, "stats", "sync_full"),
        "1",
        "one full sync, never dropped and redone"
    );
}

/// A diskless (`$EOF:`) full resync while writes keep coming: the stream
/// waits for the replica's first ACK, as Redis 7.0's primary waits
/// (`repl_start_cmd_stream_on_ack`) — a real redis-server replica finds
/// the end of the RDB by its last 40 bytes, and stream bytes right behind
/// them left it waiting for ever.
#[test]
fn a_diskless_full_resync_under_writes_completes() {
    let primary = CachelabServer::start();
    let mut p = RespConn::connect(primary.port);
    set_incompressible(&mut p, 60, 0x2545_F491_4F6C_DD1D);
    let Some(replica) = redis_replica_of(primary.port) else {
        return;
    };
    let mut r = RespConn::connect(replica.port);
    // Writes throughout the transfer and the replica's load.
    let mut n = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while info_field(&mut r, "replication", "master_link_status") != "up" {
        assert!(
            Instant::now() < deadline,
            "the replica never finished its sync"
        );
        for _ in 0..20 {
            p.call_str(&["SET", &format!("w:{n}"), "x"]);
            n += 1;
        }
    }
    wait_for("every write on the replica", 20, || {
        r.call_str(&["DBSIZE"]) == Reply::Int(60 + n)
    });
    assert_eq!(info_field(&mut p, "stats", "sync_full"), "1");
}
