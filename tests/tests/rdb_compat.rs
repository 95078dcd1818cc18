//! RDB files both ways between cachelab and redis-server: a snapshot
//! cachelab writes (strings, lists, sets, hashes, sorted sets, geo sets and
//! streams — several stream nodes, tombstones, consumer groups with pending
//! entries, an empty stream with a group) loads in redis-server and reads
//! back the same; the file redis-server then saves (LZF-compressed, its
//! default) loads in cachelab and reads back the same.

use cachelab_engine::protocol::Reply;
use cachelab_engine::Millis;
use cachelab_tests::pair::parse;
use cachelab_tests::{args, EngineClient, RedisServer, RespConn};

const NOW: u64 = 1_700_000_000_000;

fn build(e: &mut EngineClient) {
    let now = Millis(NOW);
    let mut run = |parts: &[&str]| {
        let r = parse(&e.call(now, &args(parts)));
        assert!(!matches!(r, Reply::Error(_)), "{parts:?}: {r:?}");
    };
    run(&["SET", "s", "hello"]);
    run(&["SET", "long", &"abcabcabc-".repeat(200)]);
    run(&["SET", "n", "12345"]);
    run(&["RPUSH", "l", "a", "b", "c"]);
    run(&["SADD", "set", "1", "2", "70000"]);
    run(&["HSET", "h", "f", "v", "g", "w"]);
    run(&["ZADD", "z", "1.5", "a", "-2", "b"]);
    run(&[
        "GEOADD",
        "geo",
        "13.361389",
        "38.115556",
        "Palermo",
        "15.087269",
        "37.502669",
        "Catania",
    ]);
    for i in 1..=260 {
        let v = i.to_string();
        if i % 9 == 0 {
            run(&["XADD", "x", &format!("{i}-1"), "temp", &v, "extra", "yes"]);
        } else {
            run(&["XADD", "x", &format!("{i}-1"), "temp", &v, "hum", "40"]);
        }
    }
    run(&["XDEL", "x", "5-1", "150-1"]);
    run(&["XGROUP", "CREATE", "x", "workers", "0"]);
    run(&[
        "XREADGROUP",
        "GROUP",
        "workers",
        "alice",
        "COUNT",
        "4",
        "STREAMS",
        "x",
        ">",
    ]);
    run(&[
        "XREADGROUP",
        "GROUP",
        "workers",
        "bob",
        "COUNT",
        "2",
        "STREAMS",
        "x",
        ">",
    ]);
    run(&["XACK", "x", "workers", "2-1"]);
    run(&["XGROUP", "CREATE", "x", "audit", "$", "ENTRIESREAD", "3"]);
    run(&["XGROUP", "CREATECONSUMER", "x", "audit", "carol"]);
    run(&["XGROUP", "CREATE", "empty", "g", "$", "MKSTREAM"]);
}

const READS: &[&[&str]] = &[
    &["GET", "s"],
    &["GET", "long"],
    &["OBJECT", "ENCODING", "n"],
    &["LRANGE", "l", "0", "-1"],
    &["SMEMBERS", "set"],
    &["HGETALL", "h"],
    &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
    &["GEOPOS", "geo", "Palermo", "Catania"],
    &["XINFO", "STREAM", "x", "FULL"],
    &["XINFO", "STREAM", "x"],
    &["XINFO", "GROUPS", "x"],
    &["XPENDING", "x", "workers"],
    &["XRANGE", "x", "-", "+", "COUNT", "20"],
    &["XINFO", "STREAM", "empty", "FULL"],
    &["DBSIZE"],
];

#[test]
fn redis_server_loads_cachelab_rdb_and_back() {
    let mut e = EngineClient::new(1, Millis(NOW));
    build(&mut e);
    let dir = std::env::temp_dir();
    let name = format!("cachelab-compat-{}.rdb", std::process::id());
    let path = dir.join(&name);
    std::fs::write(&path, e.node.rdb(Millis(NOW))).expect("write the snapshot");
    let Some(server) = RedisServer::start_with(&["--dbfilename", &name]) else {
        panic!("redis-server is not installed: run `cargo xtask test`");
    };
    let mut r = RespConn::connect(server.port);
    for q in READS {
        let want = parse(&e.call(Millis(NOW), &args(q)));
        let got = parse(&r.call(&args(q)));
        assert_eq!(
            got, want,
            "{q:?}: redis-server after loading cachelab's RDB"
        );
    }
    // And back: redis-server's own file, loaded by a fresh node.
    let _ = std::fs::remove_file(&path);
    assert_eq!(r.call_str(&["SAVE"]), Reply::Simple("OK".into()));
    let theirs = std::fs::read(&path).expect("redis-server saved");
    let _ = std::fs::remove_file(&path);
    let mut fresh = EngineClient::new(2, Millis(NOW));
    fresh
        .node
        .load_rdb(&theirs, Millis(NOW))
        .expect("cachelab loads redis-server's RDB");
    for q in READS {
        let want = parse(&r.call(&args(q)));
        let got = parse(&fresh.call(Millis(NOW), &args(q)));
        assert_eq!(
            got, want,
            "{q:?}: cachelab after loading redis-server's RDB"
        );
    }
}
