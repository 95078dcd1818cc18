//! Replication against the real thing: a redis-server primary and replica
//! started by the harness, side by side with a cachelab primary and replica
//! replicating over real sockets. Compared: REPLICAOF, ROLE and INFO
//! replication (field names in order, value shapes), READONLY errors, WAIT
//! results, and how a replica treats keys whose TTL has passed.

use std::time::{Duration, Instant};

use cachelab_engine::protocol::Reply;
use cachelab_tests::{CachelabServer, RedisServer, RespConn};

/// A value's shape: numbers, ids and addresses are the servers' own.
fn shape(v: &str) -> String {
    if v.len() == 40 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return if v.bytes().all(|b| b == b'0') {
            "ZERO-ID"
        } else {
            "ID"
        }
        .into();
    }
    if v == "-1" || v == "0" || v == "1" {
        return v.into();
    }
    if v.parse::<i64>().is_ok() {
        return "N".into();
    }
    if v.starts_with("ip=") {
        return v
            .split(',')
            .map(|kv| match kv.split_once('=') {
                Some(("state", s)) => format!("state={s}"),
                Some((k, _)) => format!("{k}=_"),
                None => kv.into(),
            })
            .collect::<Vec<_>>()
            .join(",");
    }
    v.into()
}

fn info(c: &mut RespConn) -> Vec<(String, String)> {
    let Reply::Bulk(b) = c.call_str(&["INFO", "replication"]) else {
        panic!("INFO replication")
    };
    String::from_utf8(b)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn shapes(c: &mut RespConn, port_of_peer: u16) -> Vec<(String, String)> {
    info(c)
        .into_iter()
        .map(|(k, v)| {
            let v = if k == "master_port" {
                assert_eq!(v, port_of_peer.to_string());
                "PORT".into()
            } else {
                shape(&v)
            };
            (k, v)
        })
        .collect()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn link_up(c: &mut RespConn) -> bool {
    info(c)
        .iter()
        .any(|(k, v)| k == "master_link_status" && v == "up")
}

/// Normalises a ROLE reply: offsets and ports become placeholders.
fn role_shape(r: Reply) -> String {
    match r {
        Reply::Int(_) => "N".into(),
        Reply::Bulk(b) => {
            let s = String::from_utf8_lossy(&b).into_owned();
            if s.parse::<u64>().is_ok() {
                "N".into()
            } else {
                s
            }
        }
        Reply::Array(v) => format!(
            "[{}]",
            v.into_iter().map(role_shape).collect::<Vec<_>>().join(", ")
        ),
        other => format!("{other:?}"),
    }
}

struct Pair {
    p: RespConn,
    r: RespConn,
    p_port: u16,
}

fn redis_pair() -> (RedisServer, RedisServer, Pair) {
    let primary = RedisServer::start_with(&["--repl-diskless-sync-delay", "0"])
        .expect("redis-server is not installed: run `cargo xtask test`, which installs it");
    let replica = RedisServer::start().unwrap();
    let mut p = RespConn::connect(primary.port);
    let mut r = RespConn::connect(replica.port);
    assert_eq!(
        p.call_str(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]),
        Reply::Simple("OK".into())
    );
    let port = primary.port;
    (primary, replica, {
        assert_eq!(
            r.call_str(&["REPLICAOF", "127.0.0.1", &port.to_string()]),
            Reply::Simple("OK".into())
        );
        Pair { p, r, p_port: port }
    })
}

fn cachelab_pair() -> (CachelabServer, CachelabServer, Pair) {
    let primary = CachelabServer::start();
    let replica = CachelabServer::start();
    let mut p = RespConn::connect(primary.port);
    let mut r = RespConn::connect(replica.port);
    assert_eq!(
        p.call_str(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]),
        Reply::Simple("OK".into())
    );
    let port = primary.port;
    assert_eq!(
        r.call_str(&["REPLICAOF", "127.0.0.1", &port.to_string()]),
        Reply::Simple("OK".into())
    );
    (primary, replica, Pair { p, r, p_port: port })
}

/// The same script on a pair; returns every reply (normalised where the
/// value is the server's own).
fn script(pair: &mut Pair) -> Vec<String> {
    let mut out = Vec::new();
    let Pair { p, r, p_port } = pair;
    wait_for("the replica's link", || link_up(r));
    out.push(format!(
        "{:?}",
        r.call_str(&["REPLICAOF", "127.0.0.1", &p_port.to_string()])
    ));
    out.push(format!(
        "{:?}",
        r.call_str(&["REPLICAOF", "127.0.0.1", "99999"])
    ));
    out.push(format!(
        "{:?}",
        r.call_str(&["REPLICAOF", "127.0.0.1", "x"])
    ));
    out.push(format!("{:?}", p.call_str(&["SET", "a", "1"])));
    out.push(format!("{:?}", p.call_str(&["SET", "k", "v", "PX", "300"])));
    out.push(format!(
        "{:?}",
        p.call_str(&["SET", "keep", "v", "EX", "1000"])
    ));
    out.push(format!("{:?}", p.call_str(&["WAIT", "1", "2000"])));
    out.push(format!("{:?}", p.call_str(&["WAIT", "2", "200"])));
    out.push(format!("{:?}", p.call_str(&["WAIT", "0", "0"])));
    out.push(format!("{:?}", p.call_str(&["WAIT", "x", "0"])));
    out.push(format!("{:?}", p.call_str(&["WAIT", "1", "-5"])));
    out.push(format!("{:?}", r.call_str(&["WAIT", "1", "0"])));
    out.push(format!("{:?}", r.call_str(&["SET", "x", "1"])));
    out.push(format!("{:?}", r.call_str(&["INCR", "a"])));
    out.push(format!("{:?}", r.call_str(&["GET", "a"])));
    // Keys past their TTL on a replica: hidden, never deleted by it.
    std::thread::sleep(Duration::from_millis(500));
    for cmd in [
        &["GET", "k"][..],
        &["EXISTS", "k"],
        &["DBSIZE"],
        &["TTL", "k"],
        &["PTTL", "k"],
        &["TYPE", "k"],
        &["STRLEN", "k"],
        &["GETRANGE", "k", "0", "-1"],
        &["MEMORY", "USAGE", "k"],
        &["TOUCH", "k"],
        &["SCAN", "0", "MATCH", "k*"],
    ] {
        out.push(format!("replica {cmd:?} -> {:?}", r.call_str(cmd)));
    }
    // The TTL replicated as an absolute time (its exact seconds depend on
    // how long the steps above took on each server).
    match r.call_str(&["TTL", "keep"]) {
        Reply::Int(t) => assert!((990..=1000).contains(&t), "TTL keep on the replica: {t}"),
        other => panic!("TTL keep: {other:?}"),
    }
    // The primary deletes it (lazily, here) and the DEL reaches the replica.
    out.push(format!("{:?}", p.call_str(&["GET", "k"])));
    out.push(format!("{:?}", p.call_str(&["WAIT", "1", "2000"])));
    out.push(format!("replica DBSIZE -> {:?}", r.call_str(&["DBSIZE"])));
    out.push(role_shape(p.call_str(&["ROLE"])));
    out.push(role_shape(r.call_str(&["ROLE"])));
    out.push(format!("{:?}", shapes(p, 0)));
    out.push(format!("{:?}", shapes(r, *p_port)));
    // Promotion: the old history becomes replid2.
    let before = info(r);
    out.push(format!("{:?}", r.call_str(&["REPLICAOF", "NO", "ONE"])));
    let after = info(r);
    let get = |i: &[(String, String)], k: &str| i.iter().find(|(n, _)| n == k).unwrap().1.clone();
    assert_eq!(get(&after, "master_replid2"), get(&before, "master_replid"));
    let off: i64 = get(&before, "master_repl_offset").parse().unwrap();
    assert_eq!(get(&after, "second_repl_offset"), (off + 1).to_string());
    out.push(format!("{:?}", shapes(r, 0)));
    out.push(format!("{:?}", r.call_str(&["SET", "x", "1"])));
    out
}

#[test]
fn replication_matches_redis() {
    let (_rp, _rr, mut redis) = redis_pair();
    let (_cp, _cr, mut cachelab) = cachelab_pair();
    let want = script(&mut redis);
    let got = script(&mut cachelab);
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert_eq!(w, g, "step {i} differs\n  redis:    {w}\n  cachelab: {g}");
    }
    assert_eq!(want.len(), got.len());
}
