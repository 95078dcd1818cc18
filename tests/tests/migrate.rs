//! MIGRATE, differentially: the same MIGRATE commands run on a cachelab
//! source and on a redis-server source, each moving keys into its own
//! real redis-server target; the replies must be byte-identical, and so
//! must what is left on each source and what arrived on each target. Then
//! the other direction: redis-server migrating into cachelab-server (AUTH,
//! SELECT, RESTORE on cachelab's side).

use cachelab_tests::{args, show, CachelabServer, RedisServer, RespConn};

/// The reply, CRLFs shown as ⏎, the last one dropped.
fn call(c: &mut RespConn, line: &[&str]) -> String {
    show(&c.call(&args(line))).trim_end_matches('⏎').to_string()
}

/// What a server holds for `keys` in db `db`: type, value and TTL class.
fn contents(c: &mut RespConn, db: &str, keys: &[&str]) -> Vec<String> {
    call(c, &["SELECT", db]);
    let out = keys
        .iter()
        .map(|k| {
            let ty = call(c, &["TYPE", k]);
            let value = match ty.as_str() {
                "+string" => call(c, &["GET", k]),
                "+list" => call(c, &["LRANGE", k, "0", "-1"]),
                "+hash" => call(c, &["HGETALL", k]),
                "+set" => call(c, &["SORT", k, "ALPHA"]),
                "+zset" => call(c, &["ZRANGE", k, "0", "-1", "WITHSCORES"]),
                "+stream" => call(c, &["XRANGE", k, "-", "+"]),
                _ => String::new(),
            };
            let ttl = match call(c, &["PTTL", k]).as_str() {
                ":-1" => "persistent".to_string(),
                ":-2" => "missing".to_string(),
                _ => "expiring".to_string(),
            };
            format!("{k}: {ty} {value} {ttl}")
        })
        .collect();
    call(c, &["SELECT", "0"]);
    out
}

#[test]
fn migrate_matches_redis() {
    let (Some(redis_src), Some(t1), Some(t2), Some(l1), Some(l2)) = (
        RedisServer::start(),
        RedisServer::start(),
        RedisServer::start(),
        RedisServer::start(),
        RedisServer::start(),
    ) else {
        eprintln!("redis-server not installed; skipped");
        return;
    };
    // Targets with a password, one per source.
    for l in [&l1, &l2] {
        call(
            &mut RespConn::connect(l.port),
            &["CONFIG", "SET", "requirepass", "s3cret"],
        );
    }
    let ours = CachelabServer::start();
    let mut a = RespConn::connect(ours.port);
    let mut b = RespConn::connect(redis_src.port);
    let closed = cachelab_tests::free_port().to_string();
    let (p1, p2) = (t1.port.to_string(), t2.port.to_string());
    let (lp1, lp2) = (l1.port.to_string(), l2.port.to_string());
    let setup: &[&[&str]] = &[
        &["SET", "s", "hello"],
        &["SET", "t", "v", "PX", "100000"],
        &["SET", "n", "12345"],
        &["RPUSH", "l", "a", "b", "c"],
        &["HSET", "h", "f1", "v1", "f2", "v2"],
        &["SADD", "st", "x", "y", "z"],
        &["ZADD", "z", "1", "m1", "2.5", "m2"],
        &["XADD", "x", "1-1", "f", "v"],
        &["SET", "c", "copied"],
        &["SET", "busy", "here"],
        &["SET", "k1", "1"],
        &["SET", "k2", "2"],
        &["SET", "d3", "in db 3"],
        &["SET", "auth1", "a"],
    ];
    for cmd in setup {
        assert_eq!(call(&mut a, cmd), call(&mut b, cmd));
    }
    // The targets already hold `busy`.
    for t in [&t1, &t2] {
        call(&mut RespConn::connect(t.port), &["SET", "busy", "there"]);
    }
    // (line for cachelab, with its target port as TP; the same for redis)
    let cases: &[&[&str]] = &[
        &["MIGRATE"],
        &["MIGRATE", "127.0.0.1", "TP", "s", "0"],
        &["MIGRATE", "127.0.0.1", "TP", "s", "0", "soon"],
        &["MIGRATE", "127.0.0.1", "TP", "s", "zero", "1000"],
        &["MIGRATE", "127.0.0.1", "TP", "s", "0", "1000", "KEYS", "s"],
        &["MIGRATE", "127.0.0.1", "TP", "s", "0", "1000", "AUTH"],
        &["MIGRATE", "127.0.0.1", "TP", "s", "0", "1000", "AUTH2", "u"],
        &["MIGRATE", "127.0.0.1", "TP", "s", "0", "1000", "LATER"],
        &["MIGRATE", "127.0.0.1", "TP", "nosuchkey", "0", "1000"],
        &[
            "MIGRATE",
            "127.0.0.1",
            "TP",
            "",
            "0",
            "1000",
            "KEYS",
            "no1",
            "no2",
        ],
        &["MIGRATE", "127.0.0.1", "TP", "s", "0", "1000"],
        &["MIGRATE", "127.0.0.1", "TP", "t", "0", "1000"],
        &["MIGRATE", "127.0.0.1", "TP", "n", "0", "0"],
        &["MIGRATE", "127.0.0.1", "TP", "c", "0", "1000", "COPY"],
        &["MIGRATE", "127.0.0.1", "TP", "busy", "0", "1000"],
        &["MIGRATE", "127.0.0.1", "TP", "busy", "0", "1000", "COPY"],
        &["MIGRATE", "127.0.0.1", "TP", "busy", "0", "1000", "REPLACE"],
        &[
            "MIGRATE",
            "127.0.0.1",
            "TP",
            "",
            "0",
            "1000",
            "KEYS",
            "l",
            "h",
            "missing",
            "st",
        ],
        &[
            "MIGRATE",
            "127.0.0.1",
            "TP",
            "",
            "0",
            "1000",
            "REPLACE",
            "KEYS",
            "z",
            "x",
        ],
        &["MIGRATE", "127.0.0.1", "TP", "d3", "3", "1000"],
        &[
            "MIGRATE",
            "127.0.0.1",
            "TP",
            "",
            "0",
            "1000",
            "KEYS",
            "k1",
            "k2",
        ],
        &[
            "MIGRATE",
            "127.0.0.1",
            "TP",
            "auth1",
            "0",
            "1000",
            "AUTH",
            "nopass",
        ],
        &["MIGRATE", "127.0.0.1", "LP", "auth1", "0", "1000"],
        &[
            "MIGRATE",
            "127.0.0.1",
            "LP",
            "auth1",
            "0",
            "1000",
            "AUTH",
            "wrong",
        ],
        &[
            "MIGRATE",
            "127.0.0.1",
            "LP",
            "auth1",
            "0",
            "1000",
            "AUTH2",
            "default",
            "s3cret",
        ],
        &["MIGRATE", "127.0.0.1", "CLOSED", "k1", "0", "200"],
        &["MIGRATE", "127.0.0.1", "notaport", "k1", "0", "200"],
    ];
    for case in cases {
        let with = |tp: &str, lp: &str| -> Vec<String> {
            case.iter()
                .map(|a| match *a {
                    "TP" => tp.to_string(),
                    "LP" => lp.to_string(),
                    "CLOSED" => closed.clone(),
                    other => other.to_string(),
                })
                .collect()
        };
        let ours_line = with(&p1, &lp1);
        let theirs_line = with(&p2, &lp2);
        let o: Vec<&str> = ours_line.iter().map(String::as_str).collect();
        let t: Vec<&str> = theirs_line.iter().map(String::as_str).collect();
        assert_eq!(call(&mut a, &o), call(&mut b, &t), "{case:?}");
    }
    let keys = [
        "s", "t", "n", "l", "h", "st", "z", "x", "c", "busy", "k1", "k2", "auth1", "missing",
    ];
    assert_eq!(
        contents(&mut a, "0", &keys),
        contents(&mut b, "0", &keys),
        "sources"
    );
    let (mut c1, mut c2) = (RespConn::connect(t1.port), RespConn::connect(t2.port));
    assert_eq!(
        contents(&mut c1, "0", &keys),
        contents(&mut c2, "0", &keys),
        "targets"
    );
    assert_eq!(
        contents(&mut c1, "3", &["d3"]),
        contents(&mut c2, "3", &["d3"])
    );
    assert_eq!(call(&mut c1, &["GET", "s"]), "$5⏎hello");
    // Replies were the same; the keys really moved.
    assert_eq!(
        call(&mut c1, &["LRANGE", "l", "0", "-1"]),
        call(&mut c2, &["LRANGE", "l", "0", "-1"])
    );
    assert_eq!(call(&mut a, &["EXISTS", "s", "l", "h"]), ":0");
    assert_eq!(
        call(&mut c1, &["EXISTS", "s", "l", "h", "st", "z", "x", "n"]),
        ":7"
    );
}

/// redis-server moves keys into cachelab-server: AUTH against cachelab's
/// requirepass, SELECT, and RESTORE of every type.
#[test]
fn redis_server_migrates_into_cachelab() {
    let Some(src) = RedisServer::start() else {
        return;
    };
    let ours = CachelabServer::start();
    let mut o = RespConn::connect(ours.port);
    assert_eq!(call(&mut o, &["CONFIG", "SET", "requirepass", "pw"]), "+OK");
    let mut r = RespConn::connect(src.port);
    for cmd in [
        &["RPUSH", "l", "1", "2"][..],
        &["HSET", "h", "a", "1"],
        &["ZADD", "z", "3", "m"],
        &["SET", "t", "x", "EX", "500"],
    ] {
        call(&mut r, cmd);
    }
    let port = ours.port.to_string();
    assert_eq!(
        call(
            &mut r,
            &[
                "MIGRATE",
                "127.0.0.1",
                &port,
                "",
                "5",
                "1000",
                "AUTH",
                "pw",
                "KEYS",
                "l",
                "h",
                "z",
                "t"
            ]
        ),
        "+OK"
    );
    assert_eq!(
        call(
            &mut r,
            &[
                "MIGRATE",
                "127.0.0.1",
                &port,
                "",
                "5",
                "1000",
                "AUTH",
                "bad",
                "KEYS",
                "l"
            ]
        ),
        "+NOKEY"
    );
    call(&mut r, &["SET", "again", "1"]);
    let wrong = call(
        &mut r,
        &[
            "MIGRATE",
            "127.0.0.1",
            &port,
            "again",
            "5",
            "1000",
            "AUTH",
            "bad",
        ],
    );
    assert!(
        wrong.starts_with("-ERR Target instance replied with error: WRONGPASS"),
        "{wrong}"
    );
    assert_eq!(call(&mut o, &["AUTH", "pw"]), "+OK");
    assert_eq!(call(&mut o, &["SELECT", "5"]), "+OK");
    assert_eq!(call(&mut o, &["LRANGE", "l", "0", "-1"]), "*2⏎$1⏎1⏎$1⏎2");
    assert_eq!(call(&mut o, &["HGET", "h", "a"]), "$1⏎1");
    assert_eq!(call(&mut o, &["ZSCORE", "z", "m"]), "$1⏎3");
    let ttl = call(&mut o, &["TTL", "t"]);
    assert!(ttl == ":500" || ttl == ":499", "{ttl}");
}
