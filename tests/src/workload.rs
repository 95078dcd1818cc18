//! Seeded write workloads of every command family, for replication tests:
//! the same seed gives the same commands, so two servers (or a primary and
//! its replicas) can be driven identically and compared.

use cachelab_engine::rng::Rng;

fn a(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

/// `n` writes over a small keyspace per type (so most commands change an
/// existing value), in two databases. TTLs are either far in the future or
/// already past (1 ms), so a dataset read at rest is the same wherever it
/// is read from. MULTI/EXEC blocks count as their commands.
pub fn mixed_writes(seed: u64, n: usize) -> Vec<Vec<Vec<u8>>> {
    let mut rng = Rng::new(seed);
    let mut out: Vec<Vec<Vec<u8>>> = Vec::with_capacity(n + 16);
    let mut db = 0;
    while out.len() < n {
        let k = rng.below(40);
        let v = rng.below(1000);
        let (k, v) = (k.to_string(), v.to_string());
        let key = |p: &str| format!("{p}:{k}");
        let big = "x".repeat(rng.below(3) * 100);
        let cmd = match rng.below(46) {
            0 => a(&["SET", &key("s"), &format!("{v}{big}")]),
            1 => a(&["SET", &key("s"), &v, "EX", "100000"]),
            2 => a(&["SET", &key("gone"), &v, "PX", "1"]),
            3 => a(&["SET", &key("s"), &v, "KEEPTTL"]),
            4 => a(&["INCRBY", &key("n"), &v]),
            5 => a(&["INCRBYFLOAT", &key("f"), "1.5"]),
            6 => a(&["APPEND", &key("s"), &v]),
            7 => a(&["SETRANGE", &key("s"), "3", &v]),
            8 => a(&["GETDEL", &key("s")]),
            9 => a(&["DEL", &key("s"), &key("l")]),
            10 => a(&["EXPIRE", &key("s"), "200000"]),
            11 => a(&["PERSIST", &key("s")]),
            12 => a(&["LPUSH", &key("l"), &v, &format!("{v}{big}")]),
            13 => a(&["RPUSH", &key("l"), &v]),
            14 => a(&["LPOP", &key("l")]),
            15 => a(&["RPOP", &key("l"), "2"]),
            16 => a(&["LTRIM", &key("l"), "0", "30"]),
            17 => a(&["LMOVE", &key("l"), "l:moved", "LEFT", "RIGHT"]),
            18 => a(&["HSET", &key("h"), &format!("f{v}"), &v, "g", &big]),
            19 => a(&["HDEL", &key("h"), &format!("f{v}")]),
            20 => a(&["HINCRBY", &key("h"), "count", &v]),
            21 => a(&["HINCRBYFLOAT", &key("h"), "avg", "0.25"]),
            22 => a(&["SADD", &key("set"), &v, &format!("m{v}")]),
            23 => a(&["SREM", &key("set"), &v]),
            24 => a(&["SPOP", &key("set")]),
            25 => a(&["SMOVE", &key("set"), "set:moved", &v]),
            26 => a(&["SINTERSTORE", "set:inter", &key("set"), "set:1"]),
            27 => a(&["ZADD", &key("z"), &v, &format!("m{}", rng.below(50))]),
            28 => a(&["ZINCRBY", &key("z"), "2.5", &format!("m{}", rng.below(50))]),
            29 => a(&["ZREM", &key("z"), &format!("m{}", rng.below(50))]),
            30 => a(&["ZPOPMIN", &key("z")]),
            31 => a(&["ZREMRANGEBYRANK", &key("z"), "0", "1"]),
            32 => a(&["ZUNIONSTORE", "z:union", "2", &key("z"), "z:1"]),
            33 => a(&["XADD", &key("x"), "*", "f", &v]),
            34 => a(&["XTRIM", &key("x"), "MAXLEN", "10"]),
            35 => a(&["PFADD", &key("hll"), &v, &format!("e{v}")]),
            36 => a(&["SETBIT", &key("b"), &v, "1"]),
            37 => a(&["RENAME", &key("n"), &format!("n:{}", rng.below(40))]),
            38 => a(&["COPY", &key("h"), "h:copy", "REPLACE"]),
            39 => a(&[
                "EVAL",
                "redis.call('set', KEYS[1], ARGV[1]) return redis.call('incr', KEYS[2])",
                "2",
                &key("ev"),
                &key("evn"),
                &v,
            ]),
            40 => a(&["SPOP", &key("set"), "2"]),
            41 => a(&["SRANDMEMBER", &key("set"), "2"]),
            42 => a(&["PEXPIRE", &key("h"), "300000"]),
            43 => {
                db = 1 - db;
                a(&["SELECT", &db.to_string()])
            }
            44 => {
                out.push(a(&["MULTI"]));
                out.push(a(&["INCR", &key("n")]));
                out.push(a(&["LPUSH", &key("l"), &v]));
                a(&["EXEC"])
            }
            _ => a(&["HSET", &key("h"), "name", &v]),
        };
        out.push(cmd);
    }
    out
}

/// The first index at or after `at` outside any MULTI … EXEC block: where
/// a workload may be cut (to do something else between its parts).
pub fn boundary(cmds: &[Vec<Vec<u8>>], at: usize) -> usize {
    let mut open = false;
    for (i, c) in cmds.iter().enumerate() {
        if i >= at && !open {
            return i;
        }
        let name = c
            .first()
            .map(|n| n.to_ascii_uppercase())
            .unwrap_or_default();
        if name == b"MULTI" {
            open = true;
        } else if name == b"EXEC" || name == b"DISCARD" {
            open = false;
        }
    }
    cmds.len()
}

/// [`mixed_writes`] made replayable on two independent servers: what
/// would draw on each server's own randomness or clock is pinned — SPOP
/// becomes the SREM of a named member, a 1 ms TTL becomes a far one, XADD
/// gets an explicit increasing millisecond (`<ms>-*`) — so the same
/// commands leave the same data, and the same replication stream, on both.
pub fn replayable_writes(seed: u64, n: usize) -> Vec<Vec<Vec<u8>>> {
    let mut ms = 1_000u64;
    let mut out: Vec<Vec<Vec<u8>>> = mixed_writes(seed, n)
        .into_iter()
        .map(|mut argv| {
            let name = argv[0].to_ascii_uppercase();
            match name.as_slice() {
                b"SPOP" => {
                    let member = format!("m{}", argv[1].len() * 7 % 1000);
                    a(&["SREM", &String::from_utf8_lossy(&argv[1]), &member])
                }
                b"SET" if argv.get(3).is_some_and(|o| o.eq_ignore_ascii_case(b"PX")) => {
                    argv[4] = b"100000000".to_vec();
                    argv
                }
                b"XADD" => {
                    ms += 1;
                    argv[2] = format!("{ms}-*").into_bytes();
                    argv
                }
                _ => argv,
            }
        })
        .collect();
    out.truncate(boundary(&out, n));
    out
}
