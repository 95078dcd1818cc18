//! Differential test of the sorted set commands (the leaderboard use case):
//! 20,000 seeded ZADD (NX XX GT LT CH INCR) ZINCRBY ZSCORE ZMSCORE ZCARD
//! ZCOUNT ZLEXCOUNT ZRANGE (BYSCORE BYLEX REV LIMIT WITHSCORES) ZRANGESTORE
//! ZREVRANGE ZRANGEBYSCORE ZREVRANGEBYSCORE ZRANGEBYLEX ZREVRANGEBYLEX ZRANK
//! ZREVRANK ZREM ZREMRANGEBY* ZPOPMIN ZPOPMAX ZMPOP ZUNION ZINTER ZDIFF (and
//! STORE, WEIGHTS, AGGREGATE, sets as sources) ZINTERCARD ZRANDMEMBER ZSCAN
//! commands — listpack sets that grow past 128 members or get a member over
//! 64 bytes (skiplist), infinite and fractional scores, bad ranges, RESP2
//! and RESP3 — against redis-server, byte-identical (ZRANDMEMBER by its
//! contract); OBJECT ENCODING after writes and MEMORY USAGE of listpacks are
//! compared too. Blocking BZPOPMIN BZPOPMAX BZMPOP from two more clients are
//! woken by ZADD in the order they blocked.
//! CACHELAB_ZSET_SEED / _COMMANDS / _TRACE reproduce, extend, trace.

use cachelab_engine::protocol::Reply;
use cachelab_engine::rng::Rng;
use cachelab_tests::pair::{bulks, Cmp, Pair};

const KEYS: &[&str] = &["z0", "z1", "big", "lex", "set", "str", "missing"];

fn s(x: &str) -> Vec<u8> {
    x.as_bytes().to_vec()
}

fn pick<'a>(rng: &mut Rng, xs: &[&'a str]) -> &'a str {
    xs[rng.below(xs.len())]
}

fn member(rng: &mut Rng, key: &str) -> Vec<u8> {
    match rng.below(30) {
        0 => vec![b'M'; 65],
        1 => s(""),
        2 => s("12"),
        _ if key == "big" => format!("m{}", rng.below(300)).into_bytes(),
        _ if key == "lex" => [b'a' + rng.below(12) as u8].to_vec(),
        _ => format!("m{}", rng.below(12)).into_bytes(),
    }
}

fn score(rng: &mut Rng) -> Vec<u8> {
    s(match rng.below(24) {
        0 => "inf",
        1 => "-inf",
        2 => "+inf",
        3 => "1.5",
        4 => "-2.25",
        5 => "0.1",
        6 => "1e3",
        7 => "abc",
        8 => "nan",
        9 => "(1",
        10 => "-0",
        11 => "9007199254740993",
        _ => return (rng.below(20) as i64 - 5).to_string().into_bytes(),
    })
}

fn range_score(rng: &mut Rng) -> Vec<u8> {
    s(match rng.below(14) {
        0 => "-inf",
        1 => "+inf",
        2 => "(1",
        3 => "(5",
        4 => "1.5",
        5 => "x",
        6 => "",
        7 => "(-inf",
        8 => " 3",
        _ => return (rng.below(16) as i64 - 4).to_string().into_bytes(),
    })
}

fn range_lex(rng: &mut Rng) -> Vec<u8> {
    match rng.below(10) {
        0 => s("-"),
        1 => s("+"),
        2 => s("a"),
        3 => s("(+"),
        _ => {
            let c = b'a' + rng.below(13) as u8;
            vec![if rng.below(2) == 0 { b'[' } else { b'(' }, c]
        }
    }
}

fn index(rng: &mut Rng) -> Vec<u8> {
    match rng.below(9) {
        0 => s("x"),
        1 => s("9223372036854775807"),
        2..=4 => format!("-{}", rng.below(12)).into_bytes(),
        _ => rng.below(12).to_string().into_bytes(),
    }
}

fn limit(rng: &mut Rng, a: &mut Vec<Vec<u8>>) {
    if rng.below(3) == 0 {
        a.push(s("LIMIT"));
        a.push(s(pick(rng, &["0", "1", "2", "-1", "5", "x"])));
        a.push(s(pick(rng, &["1", "3", "-1", "0", "10"])));
    }
}

fn step(p: &mut Pair, rng: &mut Rng) {
    let key = pick(rng, KEYS);
    let k = s(key);
    let mut wrote: Vec<Vec<u8>> = Vec::new();
    let a: Vec<Vec<u8>> = match rng.below(44) {
        0..=7 => {
            let mut a = vec![s("ZADD"), k.clone()];
            for _ in 0..rng.below(3) {
                a.push(s(pick(
                    rng,
                    &["NX", "XX", "GT", "LT", "CH", "INCR", "ch", "gt"],
                )));
            }
            let n = if key == "big" {
                1 + rng.below(15)
            } else {
                1 + rng.below(3)
            };
            for _ in 0..n {
                // Lex ranges assume equal scores (Redis leaves mixed ones undefined).
                a.push(if key == "lex" { s("0") } else { score(rng) });
                a.push(member(rng, key));
            }
            if rng.below(25) == 0 {
                a.pop();
            }
            wrote.push(k.clone());
            a
        }
        8 => {
            wrote.push(k.clone());
            let by = if key == "lex" { s("0") } else { score(rng) };
            vec![s("ZINCRBY"), k.clone(), by, member(rng, key)]
        }
        9 => vec![s("ZSCORE"), k.clone(), member(rng, key)],
        10 => {
            let mut a = vec![s("ZMSCORE"), k.clone()];
            for _ in 0..1 + rng.below(3) {
                a.push(member(rng, key));
            }
            a
        }
        11 => vec![s("ZCARD"), k.clone()],
        12 => vec![s("ZCOUNT"), k.clone(), range_score(rng), range_score(rng)],
        13 => vec![s("ZLEXCOUNT"), s("lex"), range_lex(rng), range_lex(rng)],
        14..=17 => {
            let mut a = vec![s("ZRANGE"), k.clone()];
            match rng.below(3) {
                0 => {
                    a.extend([index(rng), index(rng)]);
                }
                1 => {
                    a.extend([range_score(rng), range_score(rng), s("BYSCORE")]);
                    limit(rng, &mut a);
                }
                _ => {
                    a[1] = s("lex");
                    a.extend([range_lex(rng), range_lex(rng), s("BYLEX")]);
                    limit(rng, &mut a);
                }
            }
            if rng.below(3) == 0 {
                a.push(s("REV"));
            }
            if rng.below(2) == 0 {
                a.push(s("WITHSCORES"));
            }
            if rng.below(20) == 0 {
                a.push(s("bogus"));
            }
            a
        }
        18 => {
            let mut a = vec![s("ZRANGESTORE"), s("dst"), k.clone()];
            if rng.below(2) == 0 {
                a.extend([index(rng), index(rng)]);
            } else {
                a.extend([range_score(rng), range_score(rng), s("BYSCORE")]);
                limit(rng, &mut a);
            }
            if rng.below(3) == 0 {
                a.push(s("REV"));
            }
            wrote.push(s("dst"));
            a
        }
        19 => {
            let mut a = vec![s("ZREVRANGE"), k.clone(), index(rng), index(rng)];
            if rng.below(2) == 0 {
                a.push(s("WITHSCORES"));
            }
            a
        }
        20 | 21 => {
            let mut a = vec![
                s(pick(rng, &["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"])),
                k.clone(),
                range_score(rng),
                range_score(rng),
            ];
            if rng.below(2) == 0 {
                a.push(s("WITHSCORES"));
            }
            limit(rng, &mut a);
            a
        }
        22 => {
            let mut a = vec![
                s(pick(rng, &["ZRANGEBYLEX", "ZREVRANGEBYLEX"])),
                s("lex"),
                range_lex(rng),
                range_lex(rng),
            ];
            limit(rng, &mut a);
            a
        }
        23 | 24 => {
            let a = vec![
                s(pick(rng, &["ZRANK", "ZREVRANK"])),
                k.clone(),
                member(rng, key),
            ];
            if rng.below(3) == 0 {
                return withscore(p, rng, a);
            }
            a
        }
        25 | 26 => {
            let mut a = vec![s("ZREM"), k.clone()];
            for _ in 0..1 + rng.below(if key == "big" { 8 } else { 3 }) {
                a.push(member(rng, key));
            }
            wrote.push(k.clone());
            a
        }
        27 => {
            wrote.push(k.clone());
            match rng.below(3) {
                0 => vec![s("ZREMRANGEBYRANK"), k.clone(), index(rng), index(rng)],
                1 => vec![
                    s("ZREMRANGEBYSCORE"),
                    k.clone(),
                    range_score(rng),
                    range_score(rng),
                ],
                _ => vec![
                    s("ZREMRANGEBYLEX"),
                    s("lex"),
                    range_lex(rng),
                    range_lex(rng),
                ],
            }
        }
        28 | 29 => {
            let mut a = vec![s(pick(rng, &["ZPOPMIN", "ZPOPMAX"])), k.clone()];
            if rng.below(2) == 0 {
                a.push(s(pick(rng, &["0", "1", "3", "200", "-1", "x"])));
            }
            wrote.push(k.clone());
            a
        }
        30 => {
            let n = rng.below(3);
            let mut a = vec![s("ZMPOP"), n.to_string().into_bytes()];
            for _ in 0..n.max(1) {
                a.push(s(pick(rng, KEYS)));
            }
            a.push(s(pick(rng, &["MIN", "max", "middle"])));
            if rng.below(2) == 0 {
                a.extend([s("COUNT"), s(pick(rng, &["1", "3", "0", "x"]))]);
            }
            a
        }
        31..=34 => {
            let (cmd, store) = match rng.below(7) {
                0 => ("ZUNION", false),
                1 => ("ZINTER", false),
                2 => ("ZDIFF", false),
                3 => ("ZUNIONSTORE", true),
                4 => ("ZINTERSTORE", true),
                5 => ("ZDIFFSTORE", true),
                _ => ("ZINTERCARD", false),
            };
            let mut a = vec![s(cmd)];
            if store {
                a.push(s(pick(rng, &["dst", "z0", "str"])));
                wrote.push(a[1].clone());
            }
            let n = 1 + rng.below(3);
            a.push(s(&if rng.below(25) == 0 {
                "0".to_string()
            } else {
                n.to_string()
            }));
            for _ in 0..n {
                a.push(s(pick(
                    rng,
                    &["z0", "z1", "big", "set", "missing", "z0", "str"],
                )));
            }
            if cmd == "ZINTERCARD" {
                if rng.below(2) == 0 {
                    a.extend([s("LIMIT"), s(pick(rng, &["0", "1", "2", "-1"]))]);
                }
            } else {
                if rng.below(3) == 0 && !cmd.starts_with("ZDIFF") {
                    a.push(s("WEIGHTS"));
                    for _ in 0..n {
                        a.push(s(pick(rng, &["1", "2", "0.5", "-1", "0", "inf", "x"])));
                    }
                }
                if rng.below(3) == 0 && !cmd.starts_with("ZDIFF") {
                    a.extend([s("AGGREGATE"), s(pick(rng, &["SUM", "min", "MAX", "avg"]))]);
                }
                if !store && rng.below(2) == 0 {
                    a.push(s("WITHSCORES"));
                }
            }
            a
        }
        35 => {
            zrandmember(p, rng, &k);
            return;
        }
        36 => {
            let mut opts = Vec::new();
            if rng.below(2) == 0 {
                opts.extend([s("MATCH"), s(pick(rng, &["m1*", "*", "?", "[a-c]*"]))]);
            }
            if rng.below(2) == 0 {
                opts.extend([s("COUNT"), s(pick(rng, &["1", "10", "500"]))]);
            }
            p.check_scan("ZSCAN", &k, &opts, true);
            return;
        }
        37 => {
            if encoding(p, &k) == "listpack" {
                vec![s("MEMORY"), s("USAGE"), k.clone()]
            } else {
                vec![s("ZCARD"), k.clone()]
            }
        }
        38 => {
            let mut a = vec![s("SADD"), s("set")];
            for _ in 0..1 + rng.below(3) {
                a.push(member(rng, "z0"));
            }
            a
        }
        39 => {
            if rng.below(3) == 0 {
                vec![s("SET"), s("str"), s("v")]
            } else {
                vec![s("DEL"), k.clone()]
            }
        }
        40 => {
            p.hello(if rng.below(2) == 0 { 2 } else { 3 });
            return;
        }
        41 => {
            // BZPOP* with data (or an error) answers at once.
            let ok = p.engine_call(&[s("EXISTS"), k.clone()]) == Reply::Int(1);
            let t = if ok {
                pick(rng, &["0", "0.5"])
            } else {
                pick(rng, &["-1", "x"])
            };
            if rng.below(2) == 0 {
                vec![s(pick(rng, &["BZPOPMIN", "BZPOPMAX"])), k.clone(), s(t)]
            } else {
                vec![
                    s("BZMPOP"),
                    s(t),
                    s("1"),
                    k.clone(),
                    s("MAX"),
                    s("COUNT"),
                    s("2"),
                ]
            }
        }
        _ => vec![s("ZRANGE"), k.clone(), s("0"), s("-1"), s("WITHSCORES")],
    };
    p.check(&a, Cmp::Exact);
    for k in wrote {
        encoding(p, &k);
    }
}

/// ZRANK/ZREVRANK … WITHSCORE is Redis 7.2's (redis-server here is 7.0):
/// cachelab's answer must be what 7.2 returns, built from 7.0's ZRANK and
/// ZSCORE — [rank, score], or a null array for a missing member or key.
fn withscore(p: &mut Pair, rng: &mut Rng, mut a: Vec<Vec<u8>>) {
    if rng.below(10) == 0 {
        a.push(s(pick(rng, &["WITHSCORES", "x"])));
        let got = p.engine_call(&a);
        if got != Reply::err("ERR syntax error") {
            p.fail(
                "ZRANK with a bad option",
                "ERR syntax error",
                &format!("{got:?}"),
            );
        }
        return;
    }
    let rank = p.redis_call(&a);
    let score = p.redis_call(&[s("ZSCORE"), a[1].clone(), a[2].clone()]);
    a.push(s("withscore"));
    let want = match (&rank, &score) {
        (Reply::Error(_), _) => rank.clone(),
        (Reply::Int(_), _) => Reply::Array(vec![rank.clone(), score.clone()]),
        _ => Reply::NilArray,
    };
    let got = p.engine_call(&a);
    // RESP2 has one null for both shapes on the wire but parses them apart.
    let same = got == want
        || (matches!(want, Reply::NilArray) && matches!(got, Reply::Nil | Reply::NilArray));
    if !same {
        p.fail(
            "ZRANK … WITHSCORE",
            &format!("{want:?}"),
            &format!("{got:?}"),
        );
    }
}

fn encoding(p: &mut Pair, k: &[u8]) -> String {
    p.encoding(k)
}

/// ZRANDMEMBER by contract: same shape, members with their scores, distinct
/// for a positive count.
fn zrandmember(p: &mut Pair, rng: &mut Rng, k: &[u8]) {
    let mut a = vec![s("ZRANDMEMBER"), k.to_vec()];
    let count: i64 = match rng.below(6) {
        0 => 0,
        1 => -(rng.below(20) as i64) - 1,
        2 => 500,
        _ => rng.below(20) as i64 + 1,
    };
    if rng.below(4) > 0 {
        a.push(count.to_string().into_bytes());
        if rng.below(2) == 0 {
            a.push(s("WITHSCORES"));
        }
    }
    let all = bulks(&p.engine_call(&[s("ZRANGE"), k.to_vec(), s("0"), s("-1"), s("WITHSCORES")]));
    let truth: std::collections::HashMap<Vec<u8>, Vec<u8>> = all
        .chunks(2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect();
    let (ra, rb) = p.both(&a);
    let shape = |r: &Reply| match r {
        Reply::Array(v) => format!("array of {}", v.len()),
        other => format!(
            "{}",
            std::mem::discriminant(other) == std::mem::discriminant(&Reply::Nil)
        ),
    };
    if shape(&ra) != shape(&rb) || bulks(&ra).len() != bulks(&rb).len() {
        p.fail(
            "ZRANDMEMBER shape differs",
            &format!("{ra:?}"),
            &format!("{rb:?}"),
        );
    }
    let got = bulks(&rb);
    let with = a.len() == 4;
    let ms: Vec<Vec<u8>> = if with {
        for c in got.chunks(2) {
            if truth.get(&c[0]) != Some(&c[1]) {
                p.fail("ZRANDMEMBER returned a wrong score", "", &format!("{c:?}"));
            }
        }
        got.chunks(2).map(|c| c[0].clone()).collect()
    } else {
        got.clone()
    };
    if ms.iter().any(|m| !truth.contains_key(m)) {
        p.fail("ZRANDMEMBER returned a non-member", "", &format!("{rb:?}"));
    }
    if a.len() >= 3 && count > 0 {
        let mut d = ms.clone();
        d.sort();
        d.dedup();
        if d.len() != ms.len() {
            p.fail(
                "ZRANDMEMBER with a positive count repeated a member",
                "",
                &format!("{rb:?}"),
            );
        }
    }
}

/// Clients blocked in BZPOPMIN/BZPOPMAX/BZMPOP, woken by ZADD.
fn scenario(p: &mut Pair, rng: &mut Rng, n: usize) {
    let keys = ["w0", "w1"];
    for k in keys {
        p.check(&[s("DEL"), s(k)], Cmp::Exact);
    }
    let mut blocked = vec![false; n];
    for (i, b) in blocked.iter_mut().enumerate() {
        let k = s(keys[rng.below(2)]);
        let cmd = match rng.below(3) {
            0 => vec![s("BZPOPMIN"), k, s(keys[rng.below(2)]), s("0")],
            1 => vec![s("BZPOPMAX"), k, s("0")],
            _ => vec![
                s("BZMPOP"),
                s("0"),
                s("2"),
                k,
                s(keys[rng.below(2)]),
                s("MIN"),
                s("COUNT"),
                s("2"),
            ],
        };
        p.send_other(i, &cmd);
        *b = !p.expect_other(i, "answered before any ZADD");
    }
    for _ in 0..1 + rng.below(3) {
        let mut a = vec![s("ZADD"), s(keys[rng.below(2)])];
        for _ in 0..1 + rng.below(3) {
            a.push(rng.below(10).to_string().into_bytes());
            a.push(format!("m{}", rng.below(6)).into_bytes());
        }
        p.check(&a, Cmp::Exact);
        for (i, b) in blocked.iter_mut().enumerate() {
            if *b && p.expect_other(i, "after a ZADD") {
                *b = false;
            }
        }
    }
    for (i, b) in blocked.iter().enumerate() {
        if *b {
            let (rid, eid) = p.other_ids_cached(i);
            let mk = |id: i64| vec![s("CLIENT"), s("UNBLOCK"), id.to_string().into_bytes()];
            p.check_split(&mk(rid), &mk(eid));
            p.expect_other(i, "after CLIENT UNBLOCK");
        }
    }
}

#[test]
fn random_zset_commands_match_redis() {
    let mut p = Pair::start("zsets", "CACHELAB_ZSET", 0x25E7);
    let total = p.total(20_000);
    let mut rng = p.rng();
    for _ in 0..2 {
        let i = p.open_client();
        p.other_ids(i);
    }
    for i in 0..total {
        p.step = i;
        if rng.below(80) == 0 {
            scenario(&mut p, &mut rng, 2);
        } else {
            step(&mut p, &mut rng);
        }
    }
    for k in KEYS {
        p.check(
            &[s("ZRANGE"), s(k), s("0"), s("-1"), s("WITHSCORES")],
            Cmp::Exact,
        );
    }
}
