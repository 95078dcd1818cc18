//! Differential test of the hash commands (the session-store use case):
//! 20,000 seeded HSET HMSET HSETNX HGET HMGET HGETALL HKEYS HVALS HDEL
//! HEXISTS HLEN HSTRLEN HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN commands —
//! small hashes (listpack) that grow past 128 fields or get a value over 64
//! bytes (hashtable), integers, floats, wrong types, bad arguments, RESP2 and
//! RESP3 — against redis-server. Replies are byte-identical, except the order
//! of a `hashtable`'s elements (Redis's depends on its hash seed), compared as
//! a multiset; OBJECT ENCODING after every write and MEMORY USAGE of listpack
//! hashes are compared too. HRANDFIELD is checked by its contract.
//! CACHELAB_HASH_SEED / _COMMANDS / _TRACE reproduce, extend, trace.

use cachelab_engine::protocol::Reply;
use cachelab_engine::rng::Rng;
use cachelab_tests::args;
use cachelab_tests::pair::{bulks, Cmp, Pair};

const KEYS: &[&str] = &["h0", "h1", "h2", "big", "str", "missing"];

fn s(x: &str) -> Vec<u8> {
    x.as_bytes().to_vec()
}

fn pick<'a>(rng: &mut Rng, xs: &[&'a str]) -> &'a str {
    xs[rng.below(xs.len())]
}

fn field(rng: &mut Rng, key: &str) -> Vec<u8> {
    match rng.below(20) {
        0 => vec![b'F'; 65],
        1 => s(""),
        2 => s("123"),
        _ if key == "big" => format!("f{}", rng.below(220)).into_bytes(),
        _ => format!("f{}", rng.below(12)).into_bytes(),
    }
}

fn value(rng: &mut Rng) -> Vec<u8> {
    match rng.below(14) {
        0 => vec![b'v'; 65 + rng.below(10)],
        1 => s(""),
        2 => s("-17"),
        3 => s("9223372036854775807"),
        4 => s("3.5"),
        5 => s("1e3"),
        6 => s("007"),
        7 => s("abc"),
        _ => rng.below(1000).to_string().into_bytes(),
    }
}

fn int_arg(rng: &mut Rng) -> Vec<u8> {
    s(match rng.below(10) {
        0 => "x",
        1 => "9223372036854775807",
        2 => "-9223372036854775808",
        3 => "1.5",
        _ => return (rng.below(200) as i64 - 100).to_string().into_bytes(),
    })
}

fn float_arg(rng: &mut Rng) -> Vec<u8> {
    s(match rng.below(12) {
        0 => "x",
        1 => "inf",
        2 => "nan",
        3 => "1e308",
        4 => "-0.1",
        5 => "2.5e-3",
        6 => "10",
        _ => return format!("{}.{}", rng.below(50), rng.below(100)).into_bytes(),
    })
}

fn step(p: &mut Pair, rng: &mut Rng) {
    let key = pick(rng, KEYS);
    let k = s(key);
    let mut wrote = false;
    match rng.below(40) {
        0..=7 => {
            let mut a = vec![
                s(pick(rng, &["HSET", "HSET", "HSET", "HMSET", "hset"])),
                k.clone(),
            ];
            let n = if key == "big" {
                1 + rng.below(12)
            } else {
                1 + rng.below(3)
            };
            for _ in 0..n {
                a.push(field(rng, key));
                a.push(value(rng));
            }
            if rng.below(30) == 0 {
                a.pop(); // odd: wrong number of arguments
            }
            p.check(&a, Cmp::Exact);
            wrote = true;
        }
        8 => {
            let a = vec![s("HSETNX"), k.clone(), field(rng, key), value(rng)];
            p.check(&a, Cmp::Exact);
            wrote = true;
        }
        9..=11 => p.check(&[s("HGET"), k.clone(), field(rng, key)], Cmp::Exact),
        12 | 13 => {
            let mut a = vec![s("HMGET"), k.clone()];
            for _ in 0..1 + rng.below(4) {
                a.push(field(rng, key));
            }
            p.check(&a, Cmp::Exact);
        }
        14..=16 => {
            let cmd = pick(rng, &["HGETALL", "HKEYS", "HVALS"]);
            let ordered = encoding(p, &k) == "listpack";
            let cmp = match (ordered, cmd) {
                (true, _) => Cmp::Exact,
                (false, "HGETALL") => Cmp::UnorderedPairs,
                _ => Cmp::Unordered,
            };
            p.check(&[s(cmd), k.clone()], cmp);
        }
        17..=20 => {
            let mut a = vec![s("HDEL"), k.clone()];
            for _ in 0..1 + rng.below(if key == "big" { 8 } else { 3 }) {
                a.push(field(rng, key));
            }
            p.check(&a, Cmp::Exact);
            wrote = true;
        }
        21 => p.check(&[s("HEXISTS"), k.clone(), field(rng, key)], Cmp::Exact),
        22 => p.check(&[s("HLEN"), k.clone()], Cmp::Exact),
        23 => p.check(&[s("HSTRLEN"), k.clone(), field(rng, key)], Cmp::Exact),
        24..=26 => {
            p.check(
                &[s("HINCRBY"), k.clone(), field(rng, key), int_arg(rng)],
                Cmp::Exact,
            );
            wrote = true;
        }
        27 | 28 => {
            p.check(
                &[
                    s("HINCRBYFLOAT"),
                    k.clone(),
                    field(rng, key),
                    float_arg(rng),
                ],
                Cmp::Exact,
            );
            wrote = true;
        }
        29 | 30 => hrandfield(p, rng, &k),
        31 => {
            let mut opts = Vec::new();
            if rng.below(2) == 0 {
                opts.extend([s("MATCH"), s(pick(rng, &["f1*", "*", "f?", "[a-f]*"]))]);
            }
            if rng.below(2) == 0 {
                opts.extend([s("COUNT"), s(pick(rng, &["1", "5", "100"]))]);
            }
            p.check_scan("HSCAN", &k, &opts, true);
        }
        32 => {
            // Bad HSCAN arguments: an invalid cursor, an unknown option.
            let a = match rng.below(3) {
                0 => vec![s("HSCAN"), k.clone(), s(pick(rng, &["x", " 1", "1x", "-"]))],
                1 => vec![s("HSCAN"), k.clone(), s("0"), s("TYPE"), s("hash")],
                _ => vec![s("HSCAN"), k.clone(), s("0"), s("COUNT"), s("0")],
            };
            p.check(&a, Cmp::Exact);
        }
        33 => {
            if rng.below(3) == 0 {
                p.check(&[s("SET"), s("str"), s("text")], Cmp::Exact);
            } else {
                p.check(&[s("DEL"), k.clone()], Cmp::Exact);
            }
        }
        34 => p.check(&[s("TYPE"), k.clone()], Cmp::Exact),
        35 => {
            if encoding(p, &k) == "listpack" {
                p.check(&[s("MEMORY"), s("USAGE"), k.clone()], Cmp::Exact);
            }
        }
        36 => {
            // Wrong arity / wrong types on every command.
            let cmd = pick(
                rng,
                &["HGET", "HLEN", "HINCRBY", "HSTRLEN", "HKEYS", "HRANDFIELD"],
            );
            p.check(&args(&[cmd]), Cmp::Exact);
            p.check(&[s(cmd), s("str"), s("f1"), s("1")], Cmp::Exact);
        }
        37 => p.hello(if rng.below(2) == 0 { 2 } else { 3 }),
        38 => p.check(&[s("EXPIRE"), k.clone(), s("100")], Cmp::Exact),
        _ => p.check(&[s("HLEN"), s("missing")], Cmp::Exact),
    }
    if wrote {
        encoding(p, &k);
    }
}

/// OBJECT ENCODING on both sides (compared), returned.
fn encoding(p: &mut Pair, k: &[u8]) -> String {
    p.encoding(k)
}

/// HRANDFIELD by contract: the same errors and shapes; elements drawn
/// from the hash (distinct for a positive count), values matching.
fn hrandfield(p: &mut Pair, rng: &mut Rng, k: &[u8]) {
    let mut a = vec![s("HRANDFIELD"), k.to_vec()];
    let count: i64 = match rng.below(8) {
        0 => 0,
        1 => -(rng.below(30) as i64) - 1,
        2 => 300,
        _ => rng.below(30) as i64 + 1,
    };
    let withvalues = rng.below(2) == 0;
    if rng.below(5) > 0 {
        a.push(count.to_string().into_bytes());
        if withvalues {
            a.push(s("WITHVALUES"));
        }
    }
    let all = p.engine_call(&[s("HGETALL"), k.to_vec()]);
    let truth: Vec<Vec<u8>> = bulks(&all);
    let (ra, rb) = p.both(&a);
    let shape = |r: &Reply| match r {
        Reply::Array(v) => format!("array of {}", v.len()),
        Reply::Bulk(_) => "bulk".into(),
        other => format!("{other:?}"),
    };
    if shape(&ra) != shape(&rb) {
        p.fail(
            "HRANDFIELD shape differs",
            &format!("{ra:?}"),
            &format!("{rb:?}"),
        );
    }
    let fields: std::collections::HashMap<&[u8], &[u8]> = truth
        .chunks(2)
        .map(|c| (c[0].as_slice(), c[1].as_slice()))
        .collect();
    let got = bulks(&rb);
    let with = a.len() == 4;
    let picked: Vec<&[u8]> = if with {
        for c in got.chunks(2) {
            if fields.get(c[0].as_slice()) != Some(&c[1].as_slice()) {
                p.fail("HRANDFIELD returned a wrong pair", "", &format!("{c:?}"));
            }
        }
        got.chunks(2).map(|c| c[0].as_slice()).collect()
    } else {
        got.iter().map(Vec::as_slice).collect()
    };
    if picked.iter().any(|f| !fields.contains_key(f)) {
        p.fail(
            "HRANDFIELD returned a field not in the hash",
            "",
            &format!("{rb:?}"),
        );
    }
    if a.len() >= 3 && count > 0 {
        let mut d = picked.clone();
        d.sort();
        d.dedup();
        if d.len() != picked.len() {
            p.fail(
                "HRANDFIELD with a positive count repeated a field",
                "",
                &format!("{rb:?}"),
            );
        }
    }
}

#[test]
fn random_hash_commands_match_redis() {
    let mut p = Pair::start("hashes", "CACHELAB_HASH", 0x4A54);
    let total = p.total(20_000);
    let mut rng = p.rng();
    for i in 0..total {
        p.step = i;
        step(&mut p, &mut rng);
    }
    // Both sides end with the same hashes.
    for k in KEYS {
        p.check(&[s("HGETALL"), s(k)], Cmp::UnorderedPairs);
    }
}
