//! Differential test: seeded random commands sent to a real redis-server and
//! to a cachelab node; every reply must be byte-identical.
//!
//! Normalised, and only these: KEYS and full SCAN iterations are compared as
//! sorted sets (hash order is each server's own); TTL/PTTL may differ by the
//! milliseconds that pass between the two calls, as may EXPIRETIME and
//! PEXPIRETIME of keys given a relative TTL (±1 s / ±100 ms); RANDOMKEY
//! compares nil-ness. Active expiry is off on both sides (DEBUG
//! SET-ACTIVE-EXPIRE 0; no ticks) so DBSIZE is deterministic; expired keys
//! are made with absolute times in the past.
//!
//! A failure prints the seed and the first differing command. Set
//! CACHELAB_DIFF_SEED / CACHELAB_DIFF_COMMANDS to reproduce or extend.

use cachelab_engine::protocol::{parse_reply, Reply};
use cachelab_engine::rng::Rng;
use cachelab_tests::{args, env_number, show, wall_now, EngineClient, RedisServer, RespConn};

const KEYS: &[&str] = &[
    "k0",
    "k1",
    "k2",
    "k3",
    "k4",
    "counter",
    "f",
    "s",
    "",
    "\u{0}\u{ff}bin key",
];

fn pick<'a>(rng: &mut Rng, xs: &[&'a str]) -> &'a str {
    xs[rng.below(xs.len())]
}

fn key(rng: &mut Rng) -> Vec<u8> {
    let k = pick(rng, KEYS);
    if k.starts_with('\u{0}') {
        vec![0, 0xff, b' ', b'k']
    } else {
        k.as_bytes().to_vec()
    }
}

fn value(rng: &mut Rng) -> Vec<u8> {
    let ints = [
        "0",
        "1",
        "-1",
        "42",
        "9999",
        "10000",
        "-10000",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775806",
    ];
    match rng.below(9) {
        0 => pick(rng, &ints).into(),
        1 => pick(
            rng,
            &[
                "1.5", "-0.25", "3.0e2", "0.1", "1e400", "inf", "abc", "10.", " 1", "007",
            ],
        )
        .into(),
        2 => Vec::new(),
        3 => vec![0, 1, 2, 255, b'\r', b'\n'],
        4 => "x".repeat(40 + rng.below(20)).into_bytes(),
        5 => format!("hello world {}", rng.below(100)).into_bytes(),
        6 => rng.below(100_000).to_string().into_bytes(),
        _ => pick(rng, &["bar", "v", "value", "σ unicode"])
            .as_bytes()
            .to_vec(),
    }
}

fn int_arg(rng: &mut Rng) -> Vec<u8> {
    pick(
        rng,
        &[
            "0",
            "1",
            "-1",
            "5",
            "100",
            "-100",
            "3",
            "abc",
            "1.5",
            "9223372036854775807",
            "-9223372036854775808",
            "",
            "1000000",
        ],
    )
    .as_bytes()
    .to_vec()
}

fn ttl_arg(rng: &mut Rng) -> Vec<u8> {
    // Relative TTLs either expire at once (<= 0) or outlive the whole run even
    // read as milliseconds: a key expiring mid-run would race the two servers.
    // Long ones are spread out (steps of 1000 units) so that GT/LT never
    // compare two equal deadlines whose order depends on each server's clock.
    if rng.below(2) == 0 {
        return (100_000 + 1000 * rng.below(10_000))
            .to_string()
            .into_bytes();
    }
    pick(
        rng,
        &[
            "0",
            "-1",
            "x",
            "9223372036854775807",
            "922337203685477",
            "-5",
        ],
    )
    .as_bytes()
    .to_vec()
}

/// An absolute time: far future, the past, or nonsense.
fn abs_time(rng: &mut Rng, ms: bool) -> Vec<u8> {
    let now = wall_now().0;
    let t = match rng.below(4) {
        0 => now + 3_600_000 + rng.below(1000) as u64 * 1000,
        1 => 1 + rng.below(1_000_000) as u64,
        2 => now - 1000,
        _ => now + 86_400_000,
    };
    let v = if ms { t } else { t / 1000 };
    v.to_string().into_bytes()
}

fn v(parts: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    parts
}

fn s(x: &str) -> Vec<u8> {
    x.as_bytes().to_vec()
}

/// One random command line.
fn gen(rng: &mut Rng) -> Vec<Vec<u8>> {
    let k = key(rng);
    match rng.below(48) {
        0 | 1 => v(vec![s("GET"), k]),
        2..=4 => {
            let mut a = vec![s("SET"), k, value(rng)];
            for _ in 0..rng.below(3) {
                match rng.below(10) {
                    0 => a.push(s("NX")),
                    1 => a.push(s("XX")),
                    2 => a.push(s("GET")),
                    3 => a.push(s("KEEPTTL")),
                    4 => a.extend([s(pick(rng, &["EX", "ex", "PX"])), ttl_arg(rng)]),
                    5 => a.extend([s("EXAT"), abs_time(rng, false)]),
                    6 => a.extend([s("PXAT"), abs_time(rng, true)]),
                    7 => a.push(s("EX")),
                    8 => a.push(s("BOGUS")),
                    _ => a.push(s("get")),
                }
            }
            a
        }
        5 => v(vec![s("SETNX"), k, value(rng)]),
        6 => v(vec![
            s(pick(rng, &["SETEX", "PSETEX"])),
            k,
            ttl_arg(rng),
            value(rng),
        ]),
        7 => v(vec![s("GETSET"), k, value(rng)]),
        8 => v(vec![s("GETDEL"), k]),
        9 => {
            let mut a = vec![s("GETEX"), k];
            match rng.below(6) {
                0 => a.push(s("PERSIST")),
                1 => a.extend([s("EX"), ttl_arg(rng)]),
                2 => a.extend([s("PXAT"), abs_time(rng, true)]),
                3 => a.extend([s("PERSIST"), s("EX"), s("10")]),
                4 => a.push(s("EX")),
                _ => {}
            }
            a
        }
        10 => {
            let mut a = vec![s("MGET")];
            for _ in 0..1 + rng.below(4) {
                a.push(key(rng));
            }
            a
        }
        11 | 12 => {
            let mut a = vec![s(pick(rng, &["MSET", "MSETNX"]))];
            for _ in 0..1 + rng.below(3) {
                a.push(key(rng));
                a.push(value(rng));
            }
            if rng.below(10) == 0 {
                a.pop();
            }
            a
        }
        13 | 14 => v(vec![s("APPEND"), k, value(rng)]),
        15 => v(vec![s("STRLEN"), k]),
        16 => v(vec![
            s(pick(rng, &["GETRANGE", "SUBSTR"])),
            k,
            int_arg(rng),
            int_arg(rng),
        ]),
        17 => {
            let off = pick(rng, &["0", "1", "5", "-1", "x", "50", "536870912"]);
            v(vec![s("SETRANGE"), k, s(off), value(rng)])
        }
        18 | 19 => v(vec![s(pick(rng, &["INCR", "DECR"])), k]),
        20 | 21 => v(vec![s(pick(rng, &["INCRBY", "DECRBY"])), k, int_arg(rng)]),
        22 => {
            let by = pick(
                rng,
                &[
                    "0.1", "-1.5", "1e3", "3", "abc", "inf", "-inf", "1e400", "5.0e-3", "", "0x10",
                    "2.5e+2",
                ],
            );
            v(vec![s("INCRBYFLOAT"), k, s(by)])
        }
        23 => {
            let mut a = vec![s(pick(rng, &["DEL", "UNLINK", "EXISTS", "TOUCH"]))];
            for _ in 0..1 + rng.below(3) {
                a.push(key(rng));
            }
            a
        }
        24 => v(vec![s("TYPE"), k]),
        25 => v(vec![
            s("KEYS"),
            s(pick(
                rng,
                &["*", "k*", "k[0-2]", "?", "*e*", "\\*", "[^k]*"],
            )),
        ]),
        26 => v(vec![
            s("__SCAN__"),
            s(pick(rng, &["*", "k*", "c*"])),
            s(pick(rng, &["1", "3", "10"])),
        ]),
        27 => v(vec![s(pick(rng, &["RENAME", "RENAMENX"])), k, key(rng)]),
        28 => {
            let mut a = vec![s("COPY"), k, key(rng)];
            if rng.below(2) == 0 {
                a.push(s("REPLACE"));
            }
            if rng.below(3) == 0 {
                a.extend([s("DB"), s(pick(rng, &["0", "1", "16", "x", "-1"]))]);
            }
            a
        }
        29 => v(vec![
            s("MOVE"),
            k,
            s(pick(rng, &["0", "1", "2", "16", "x", "-1"])),
        ]),
        30 | 31 => {
            let (cmd, t) = match rng.below(4) {
                0 => ("EXPIRE", ttl_arg(rng)),
                1 => ("PEXPIRE", ttl_arg(rng)),
                2 => ("EXPIREAT", abs_time(rng, false)),
                _ => ("PEXPIREAT", abs_time(rng, true)),
            };
            let mut a = vec![s(cmd), k, t];
            for _ in 0..rng.below(3) {
                a.push(s(pick(rng, &["NX", "XX", "GT", "LT", "gt", "ZZ"])));
            }
            a
        }
        32 | 33 => v(vec![
            s(pick(rng, &["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"])),
            k,
        ]),
        34 => v(vec![s("PERSIST"), k]),
        35 => v(vec![s("DBSIZE")]),
        36 => v(vec![
            s("OBJECT"),
            s(pick(
                rng,
                &["ENCODING", "encoding", "REFCOUNT", "FREQ", "NOPE"],
            )),
            k,
        ]),
        37 => v(vec![s("MEMORY"), s("USAGE"), k]),
        38 => v(vec![
            s("SELECT"),
            s(pick(rng, &["0", "0", "1", "2", "16", "-1", "x"])),
        ]),
        39 => v(vec![
            s("SWAPDB"),
            s(pick(rng, &["0", "1", "x"])),
            s(pick(rng, &["1", "2", "99"])),
        ]),
        40 => v(vec![s(pick(rng, &["ECHO", "PING"])), value(rng)]),
        41 => {
            if rng.below(8) == 0 {
                v(vec![s(pick(rng, &["FLUSHDB", "FLUSHALL"]))])
            } else {
                v(vec![s("EXISTS"), k])
            }
        }
        42 => {
            // wrong arity and unknown commands
            match rng.below(5) {
                0 => v(vec![s("GET")]),
                1 => v(vec![s("SET"), k]),
                2 => v(vec![s("NOSUCHCMD"), k, value(rng)]),
                3 => v(vec![s("OBJECT"), s("BOGUS"), k]),
                _ => v(vec![s("ttl"), k, s("x")]),
            }
        }
        43 => v(vec![
            s("COMMAND"),
            s(pick(rng, &["INFO", "DOCS"])),
            s(pick(
                rng,
                &[
                    "get",
                    "set",
                    "expire",
                    "scan",
                    "incrbyfloat",
                    "nosuch",
                    "copy",
                ],
            )),
        ]),
        44 => {
            let name = pick(
                rng,
                &[
                    "maxmemory-samples",
                    "hz",
                    "lfu-log-factor",
                    "maxmemory",
                    "proto-max-bulk-len",
                    "nosuch",
                    "databases",
                    "timeout",
                ],
            );
            if rng.below(2) == 0 {
                v(vec![s("CONFIG"), s("GET"), s(name)])
            } else if name == "maxmemory" {
                // Small limits would compare the two servers' allocators, not their logic.
                v(vec![
                    s("CONFIG"),
                    s("SET"),
                    s(name),
                    s(pick(rng, &["0", "100mb", "abc", "-1"])),
                ])
            } else {
                let val = pick(rng, &["5", "10", "abc", "1mb", "-1", "yes", "0"]);
                v(vec![s("CONFIG"), s("SET"), s(name), s(val)])
            }
        }
        46 => v(vec![s("DEBUG"), s("DIGEST-VALUE"), k, key(rng)]),
        47 => v(vec![s("DEBUG"), s("DIGEST")]),
        _ => v(vec![s("RANDOMKEY")]),
    }
}

fn name_of(cmd: &[Vec<u8>]) -> String {
    String::from_utf8_lossy(&cmd[0]).to_ascii_uppercase()
}

/// Replies equal after the documented normalisations.
fn same(cmd: &[Vec<u8>], a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    let (Ok(Some((ra, _))), Ok(Some((rb, _)))) = (parse_reply(a), parse_reply(b)) else {
        return false;
    };
    match (name_of(cmd).as_str(), &ra, &rb) {
        ("KEYS", Reply::Array(x), Reply::Array(y)) => sorted(x) == sorted(y),
        ("TTL" | "EXPIRETIME", Reply::Int(x), Reply::Int(y)) => {
            *x >= 0 && *y >= 0 && (x - y).abs() <= 1
        }
        ("PTTL" | "PEXPIRETIME", Reply::Int(x), Reply::Int(y)) => {
            *x >= 0 && *y >= 0 && (x - y).abs() <= 100
        }
        ("RANDOMKEY", Reply::Bulk(_), Reply::Bulk(_)) => true,
        _ => false,
    }
}

fn sorted(x: &[Reply]) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = x
        .iter()
        .map(|r| {
            if let Reply::Bulk(b) = r {
                b.clone()
            } else {
                Vec::new()
            }
        })
        .collect();
    v.sort();
    v
}

/// Runs a whole SCAN iteration on one side and returns the sorted keys.
fn full_scan(
    mut call: impl FnMut(&[Vec<u8>]) -> Vec<u8>,
    pattern: &[u8],
    count: &[u8],
) -> Vec<Vec<u8>> {
    let mut cursor = b"0".to_vec();
    let mut keys = std::collections::BTreeSet::new();
    for _ in 0..10_000 {
        let reply = call(&[
            s("SCAN"),
            cursor.clone(),
            s("MATCH"),
            pattern.to_vec(),
            s("COUNT"),
            count.to_vec(),
        ]);
        let Ok(Some((Reply::Array(parts), _))) = parse_reply(&reply) else {
            panic!("bad SCAN reply {}", show(&reply))
        };
        let (Reply::Bulk(c), Reply::Array(ks)) = (&parts[0], &parts[1]) else {
            panic!("bad SCAN reply")
        };
        keys.extend(ks.iter().map(|k| {
            if let Reply::Bulk(b) = k {
                b.clone()
            } else {
                Vec::new()
            }
        }));
        cursor = c.clone();
        if cursor == b"0" {
            break;
        }
    }
    keys.into_iter().collect()
}

#[test]
fn twenty_thousand_random_commands_match_redis() {
    let Some(redis) = RedisServer::start() else {
        panic!("redis-server is not installed: run `cargo xtask test`, which installs it (apt-get install redis-server)");
    };
    let seed: u64 = env_number("CACHELAB_DIFF_SEED", 0xCAC4E1AB);
    let total: usize = env_number("CACHELAB_DIFF_COMMANDS", 20_000);
    let mut r = RespConn::connect(redis.port);
    assert_eq!(
        r.call(&args(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"])),
        b"+OK\r\n"
    );
    let mut c = EngineClient::new(seed, wall_now());
    let mut rng = Rng::new(seed);
    let mut compared = 0;
    for i in 0..total {
        let cmd = gen(&mut rng);
        if cmd[0] == b"RANDOMKEY" {
            // RANDOMKEY deletes the expired keys it happens to meet, which
            // differ per server: purge expired keys on both sides first (a
            // full SCAN expires what it visits on both).
            full_scan(|argv| r.call(argv), b"*", b"100");
            full_scan(|argv| c.call(wall_now(), argv), b"*", b"100");
        }
        if cmd[0] == b"__SCAN__" {
            let a = full_scan(|argv| r.call(argv), &cmd[1], &cmd[2]);
            let b = full_scan(|argv| c.call(wall_now(), argv), &cmd[1], &cmd[2]);
            assert_eq!(
                a,
                b,
                "seed {seed}, command #{i}: full SCAN MATCH {} differs",
                show(&cmd[1])
            );
            compared += 1;
            continue;
        }
        let want = r.call(&cmd);
        let got = c.call(wall_now(), &cmd);
        if std::env::var("CACHELAB_DIFF_TRACE").is_ok() {
            eprintln!(
                "#{i} {:?} -> {}",
                cmd.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>(),
                show(&want)
            );
        }
        if std::env::var("CACHELAB_DIFF_TRACE").is_ok() {
            let (a, b) = (
                r.call(&args(&["DBSIZE"])),
                c.call(wall_now(), &args(&["DBSIZE"])),
            );
            if a != b {
                eprintln!(
                    "DBSIZE diverged after #{i}: redis {} cachelab {}",
                    show(&a),
                    show(&b)
                );
            }
        }
        if !same(&cmd, &want, &got) {
            let line: Vec<String> = cmd
                .iter()
                .map(|a| format!("{:?}", String::from_utf8_lossy(a)))
                .collect();
            panic!(
                "seed {seed}, command #{i} differs: {}\n  redis:    {}\n  cachelab: {}\n(reproduce: CACHELAB_DIFF_SEED={seed} cargo test -p cachelab-tests --test differential)",
                line.join(" "),
                show(&want),
                show(&got)
            );
        }
        compared += 1;
    }
    assert_eq!(compared, total);
}

#[test]
fn resp3_replies_match_redis() {
    let Some(redis) = RedisServer::start() else {
        panic!("redis-server is not installed: run `cargo xtask test`")
    };
    let mut r = RespConn::connect(redis.port);
    let mut c = EngineClient::new(1, wall_now());
    // HELLO's reply carries the client id, which is each server's own.
    r.call(&args(&["HELLO", "3"]));
    c.call(wall_now(), &args(&["HELLO", "3"]));
    let script: &[&[&str]] = &[
        &["SET", "a", "1"],
        &["GET", "nosuch"],
        &["MGET", "a", "nosuch"],
        &["INCRBYFLOAT", "f", "1.5"],
        &["CONFIG", "GET", "maxmemory"],
        &["COMMAND", "INFO", "get", "nosuch"],
        &["COMMAND", "DOCS", "set"],
        &["OBJECT", "ENCODING", "nosuch"],
        &["TTL", "a"],
    ];
    for cmd in script {
        let cmd = args(cmd);
        let want = r.call(&cmd);
        let got = c.call(wall_now(), &cmd);
        assert_eq!(show(&got), show(&want), "{cmd:?}");
    }
    r.call(&args(&["HELLO", "2"]));
    c.call(wall_now(), &args(&["HELLO", "2"]));
    assert_eq!(
        show(&c.call(wall_now(), &args(&["GET", "nosuch"]))),
        show(&r.call(&args(&["GET", "nosuch"])))
    );
}

#[test]
fn protocol_errors_match_redis_and_close() {
    let Some(redis) = RedisServer::start() else {
        panic!("redis-server is not installed: run `cargo xtask test`")
    };
    let cases: &[&[u8]] = &[
        b"*abc\r\n",
        b"*1\r\n$-5\r\n",
        b"*1\r\n$536870913\r\n",
        b"*2\r\n$3\r\nGET\r\nxyz\r\n",
        b"SET \"a\"b c\r\n",
        b"GET 'x\r\n",
        b"PING\r\n*1\r\n$x\r\n",
        b"*3000000000\r\n",
    ];
    for case in cases {
        let mut r = RespConn::connect(redis.port);
        r.send_raw(case);
        let mut want = Vec::new();
        while let Some(b) = r.read_reply_bytes() {
            want.extend(b);
        }
        let mut c = EngineClient::new(2, wall_now());
        let got = c.send_raw(wall_now(), case);
        assert_eq!(show(&got), show(&want), "{}", show(case));
        assert!(c.closed, "connection must close after {}", show(case));
    }
}
