//! Differential test of the set commands: 20,000 seeded SADD SREM SMEMBERS
//! SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER SMOVE SINTER SINTERCARD
//! SINTERSTORE SUNION SUNIONSTORE SDIFF SDIFFSTORE SSCAN commands — integer
//! sets (intset, 16/32/64-bit) that grow past 512 members or get a string
//! member (hashtable), wrong types, bad arguments, RESP2 and RESP3 — against
//! redis-server. Replies are byte-identical, except the order of a
//! hashtable's members (Redis's depends on its hash seed), compared as a
//! multiset; OBJECT ENCODING after every write and MEMORY USAGE of intsets
//! are compared too. SPOP and SRANDMEMBER are checked by their contract,
//! then both sides are given Redis's resulting set.
//! CACHELAB_SET_SEED / _COMMANDS / _TRACE reproduce, extend, trace.

use cachelab_engine::rng::Rng;
use cachelab_tests::args;
use cachelab_tests::pair::{bulks, Cmp, Pair};

const KEYS: &[&str] = &["s0", "s1", "s2", "ints", "str", "missing"];

fn s(x: &str) -> Vec<u8> {
    x.as_bytes().to_vec()
}

fn pick<'a>(rng: &mut Rng, xs: &[&'a str]) -> &'a str {
    xs[rng.below(xs.len())]
}

fn member(rng: &mut Rng, key: &str) -> Vec<u8> {
    if key == "ints" && rng.below(40) > 0 {
        return rng.below(800).to_string().into_bytes();
    }
    match rng.below(24) {
        0 => s("abc"),
        1 => s("x1"),
        2 => s("9223372036854775807"),
        3 => s("-70000"),
        4 => s("40000"),
        5 => s("007"),
        6 => s(""),
        7 => s("-0"),
        _ => (rng.below(30) as i64 - 5).to_string().into_bytes(),
    }
}

fn step(p: &mut Pair, rng: &mut Rng) {
    let key = pick(rng, KEYS);
    let k = s(key);
    let mut wrote: Vec<Vec<u8>> = Vec::new();
    match rng.below(40) {
        0..=8 => {
            let mut a = vec![s("SADD"), k.clone()];
            let n = if key == "ints" {
                1 + rng.below(30)
            } else {
                1 + rng.below(4)
            };
            for _ in 0..n {
                a.push(member(rng, key));
            }
            p.check(&a, Cmp::Exact);
            wrote.push(k.clone());
        }
        9..=11 => {
            let mut a = vec![s("SREM"), k.clone()];
            for _ in 0..1 + rng.below(if key == "ints" { 12 } else { 3 }) {
                a.push(member(rng, key));
            }
            p.check(&a, Cmp::Exact);
            wrote.push(k.clone());
        }
        12 | 13 => {
            let cmp = order(p, &k);
            p.check(&[s("SMEMBERS"), k.clone()], cmp);
        }
        14 => p.check(&[s("SISMEMBER"), k.clone(), member(rng, key)], Cmp::Exact),
        15 => {
            let mut a = vec![s("SMISMEMBER"), k.clone()];
            for _ in 0..1 + rng.below(4) {
                a.push(member(rng, key));
            }
            p.check(&a, Cmp::Exact);
        }
        16 => p.check(&[s("SCARD"), k.clone()], Cmp::Exact),
        17 | 18 => spop(p, rng, &k),
        19 | 20 => srandmember(p, rng, &k),
        21 | 22 => {
            let dst = s(pick(rng, KEYS));
            p.check(
                &[s("SMOVE"), k.clone(), dst.clone(), member(rng, key)],
                Cmp::Exact,
            );
            wrote.push(k.clone());
            wrote.push(dst);
        }
        23..=28 => {
            let (cmd, store) = match rng.below(6) {
                0 => ("SINTER", false),
                1 => ("SUNION", false),
                2 => ("SDIFF", false),
                3 => ("SINTERSTORE", true),
                4 => ("SUNIONSTORE", true),
                _ => ("SDIFFSTORE", true),
            };
            let mut a = vec![s(cmd)];
            let dst = s(pick(rng, &["dst", "s0", "ints", "str"]));
            if store {
                a.push(dst.clone());
            }
            for _ in 0..1 + rng.below(3) {
                a.push(s(pick(rng, KEYS)));
            }
            if store {
                p.check(&a, Cmp::Exact);
                wrote.push(dst);
            } else {
                p.check(&a, Cmp::Unordered);
            }
        }
        29 => {
            let n = rng.below(5);
            let mut a = vec![s("SINTERCARD"), s(&n.to_string())];
            for _ in 0..1 + rng.below(3) {
                a.push(s(pick(rng, KEYS)));
            }
            match rng.below(4) {
                0 => a.extend([s("LIMIT"), s(pick(rng, &["0", "1", "3", "-1", "x"]))]),
                1 => a.push(s("LIMIT")),
                _ => {}
            }
            p.check(&a, Cmp::Exact);
        }
        30 => {
            let mut opts = Vec::new();
            if rng.below(2) == 0 {
                opts.extend([s("MATCH"), s(pick(rng, &["1*", "*", "?", "[a-z]*"]))]);
            }
            if rng.below(2) == 0 {
                opts.extend([s("COUNT"), s(pick(rng, &["1", "7", "1000"]))]);
            }
            p.check_scan("SSCAN", &k, &opts, false);
        }
        31 => {
            if rng.below(3) == 0 {
                p.check(&[s("SET"), s("str"), s("text")], Cmp::Exact);
            } else {
                p.check(&[s("DEL"), k.clone()], Cmp::Exact);
            }
        }
        32 => p.check(&[s("TYPE"), k.clone()], Cmp::Exact),
        33 => {
            if encoding(p, &k) == "intset" {
                p.check(&[s("MEMORY"), s("USAGE"), k.clone()], Cmp::Exact);
            }
        }
        34 => {
            let cmd = pick(
                rng,
                &[
                    "SADD",
                    "SCARD",
                    "SPOP",
                    "SRANDMEMBER",
                    "SMOVE",
                    "SINTERSTORE",
                ],
            );
            p.check(&args(&[cmd]), Cmp::Exact);
            p.check(&[s(cmd), s("str"), s("1"), s("2")], Cmp::Exact);
        }
        35 => p.hello(if rng.below(2) == 0 { 2 } else { 3 }),
        36 => {
            let bad = pick(rng, &["x", "-1", " 1", "1 2"]);
            p.check(&[s("SPOP"), k.clone(), s(bad)], Cmp::Exact);
            if bad != "-1" {
                p.check(&[s("SRANDMEMBER"), k.clone(), s(bad)], Cmp::Exact);
                p.check(&[s("SSCAN"), k.clone(), s(bad)], Cmp::Exact);
            }
        }
        _ => p.check(&[s("SCARD"), s("dst")], Cmp::Exact),
    }
    for k in wrote {
        encoding(p, &k);
    }
}

fn encoding(p: &mut Pair, k: &[u8]) -> String {
    p.encoding(k)
}

/// Exact for an intset (ascending), a multiset for a hashtable.
fn order(p: &mut Pair, k: &[u8]) -> Cmp {
    if encoding(p, k) == "hashtable" {
        Cmp::Unordered
    } else {
        Cmp::Exact
    }
}

fn members(p: &mut Pair, k: &[u8]) -> Vec<Vec<u8>> {
    let mut m = bulks(&p.engine_call(&[s("SMEMBERS"), k.to_vec()]));
    m.sort();
    m
}

/// SPOP: errors and whole-set pops compared; partial pops by contract, then
/// both sides get Redis's remaining members (same order, same encoding).
fn spop(p: &mut Pair, rng: &mut Rng, k: &[u8]) {
    let mut a = vec![s("SPOP"), k.to_vec()];
    if rng.below(3) > 0 {
        a.push(s(pick(rng, &["0", "1", "2", "5", "20", "600"])));
    }
    let before = members(p, k);
    let (ra, rb) = p.both(&a);
    let (ga, gb) = (bulks(&ra), bulks(&rb));
    let same_shape =
        std::mem::discriminant(&ra) == std::mem::discriminant(&rb) && ga.len() == gb.len();
    if !same_shape {
        p.fail("SPOP shape differs", &format!("{ra:?}"), &format!("{rb:?}"));
    }
    let mut sorted = gb.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != gb.len() || gb.iter().any(|m| before.binary_search(m).is_err()) {
        p.fail(
            "SPOP popped a non-member or a member twice",
            &format!("{ra:?}"),
            &format!("{rb:?}"),
        );
    }
    if ga != gb {
        let rest = bulks(&p.redis_call(&[s("SMEMBERS"), k.to_vec()]));
        p.both(&[s("DEL"), k.to_vec()]);
        if !rest.is_empty() {
            let mut add = vec![s("SADD"), k.to_vec()];
            add.extend(rest);
            p.both(&add);
        }
    }
}

/// SRANDMEMBER by contract: same shape, members only, distinct for a positive count.
fn srandmember(p: &mut Pair, rng: &mut Rng, k: &[u8]) {
    let mut a = vec![s("SRANDMEMBER"), k.to_vec()];
    let count: i64 = match rng.below(6) {
        0 => 0,
        1 => -(rng.below(30) as i64) - 1,
        2 => 900,
        _ => rng.below(30) as i64 + 1,
    };
    if rng.below(4) > 0 {
        a.push(count.to_string().into_bytes());
    }
    let all = members(p, k);
    let (ra, rb) = p.both(&a);
    let (ga, gb) = (bulks(&ra), bulks(&rb));
    if std::mem::discriminant(&ra) != std::mem::discriminant(&rb) || ga.len() != gb.len() {
        p.fail(
            "SRANDMEMBER shape differs",
            &format!("{ra:?}"),
            &format!("{rb:?}"),
        );
    }
    if gb.iter().any(|m| all.binary_search(m).is_err()) {
        p.fail("SRANDMEMBER returned a non-member", "", &format!("{rb:?}"));
    }
    if a.len() == 3 && count > 0 {
        let mut d = gb.clone();
        d.sort();
        d.dedup();
        if d.len() != gb.len() {
            p.fail(
                "SRANDMEMBER with a positive count repeated a member",
                "",
                &format!("{rb:?}"),
            );
        }
    }
}

#[test]
fn random_set_commands_match_redis() {
    let mut p = Pair::start("sets", "CACHELAB_SET", 0x5E75);
    let total = p.total(20_000);
    let mut rng = p.rng();
    for i in 0..total {
        p.step = i;
        step(&mut p, &mut rng);
    }
    for k in KEYS.iter().chain(&["dst"]) {
        p.check(&[s("SMEMBERS"), s(k)], Cmp::Unordered);
    }
}
