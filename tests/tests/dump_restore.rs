//! DUMP and RESTORE against redis-server, payloads exchanged both ways:
//! every type in every encoding (int/embstr/raw and LZF-sized strings,
//! lists, intset and hashtable sets, listpack and hashtable hashes, listpack
//! and skiplist sorted sets, streams with consumer groups and pending
//! entries) is DUMPed on each server, and each payload is RESTOREd into
//! both servers, which must then hold the same value in the same encoding.
//! Then 3,000 seeded RESTOREs with every option (REPLACE ABSTTL IDLETIME
//! FREQ, TTLs past and future) and every refusal (BUSYKEY, bad TTL, bad
//! option, flipped byte, cut payload, newer RDB version, unknown type)
//! compared byte for byte. Small strings' payloads must be byte-identical
//! too. CACHELAB_DUMP_SEED / _COMMANDS.

use cachelab_engine::persistence::crc64::crc64;
use cachelab_engine::protocol::Reply;
use cachelab_tests::pair::{Cmp, Pair};

fn s(x: &str) -> Vec<u8> {
    x.as_bytes().to_vec()
}

/// Commands that build one key of each shape, named after its shape.
fn fixtures() -> Vec<Vec<Vec<u8>>> {
    let mut c: Vec<Vec<Vec<u8>>> = vec![
        vec![s("SET"), s("str:int"), s("12345")],
        vec![s("SET"), s("str:neg"), s("-70000")],
        vec![s("SET"), s("str:big"), s("5000000000")],
        vec![s("SET"), s("str:short"), s("hello")],
        vec![s("SET"), s("str:lzf"), s(&"abcabcabc".repeat(40))],
        vec![
            s("SET"),
            s("str:lzf2"),
            s(&"the cache in front of the database; ".repeat(30)),
        ],
        vec![
            s("SET"),
            s("str:noise"),
            (0..200u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
        ],
        vec![s("SET"), s("str:bin"), vec![0, 255, 13, 10, 7]],
        vec![s("RPUSH"), s("list:small"), s("a"), s("1"), s("bb")],
        vec![s("SADD"), s("set:int"), s("1"), s("-5"), s("300000")],
        vec![s("SADD"), s("set:str"), s("x"), s("y"), s("zz")],
        vec![s("HSET"), s("hash:lp"), s("f1"), s("v1"), s("f2"), s("2")],
        vec![s("ZADD"), s("zset:lp"), s("1.5"), s("a"), s("-2"), s("b")],
        vec![s("XADD"), s("stream"), s("1-1"), s("f"), s("v")],
        vec![s("XADD"), s("stream"), s("2-1"), s("g"), s("w")],
        vec![s("XGROUP"), s("CREATE"), s("stream"), s("grp"), s("0")],
        vec![
            s("XREADGROUP"),
            s("GROUP"),
            s("grp"),
            s("alice"),
            s("COUNT"),
            s("1"),
            s("STREAMS"),
            s("stream"),
            s(">"),
        ],
    ];
    let mut big_list = vec![s("RPUSH"), s("list:big")];
    let mut big_set = vec![s("SADD"), s("set:table")];
    let mut big_hash = vec![s("HSET"), s("hash:table")];
    let mut big_zset = vec![s("ZADD"), s("zset:skip")];
    for i in 0..300 {
        big_list.push(format!("element-{i}").into_bytes());
        big_set.push(format!("member-{i}").into_bytes());
        big_hash.push(format!("field-{i}").into_bytes());
        big_hash.push(format!("{}", i * 7).into_bytes());
        big_zset.push(format!("{}", i % 17).into_bytes());
        big_zset.push(format!("m{i}").into_bytes());
    }
    c.extend([big_list, big_set, big_hash, big_zset]);
    c
}

const KEYS: &[&str] = &[
    "str:int",
    "str:neg",
    "str:big",
    "str:short",
    "str:lzf",
    "str:lzf2",
    "str:noise",
    "str:bin",
    "list:small",
    "list:big",
    "set:int",
    "set:str",
    "set:table",
    "hash:lp",
    "hash:table",
    "zset:lp",
    "zset:skip",
    "stream",
];

/// Reads a key back in a form both servers must agree on.
fn readback(p: &mut Pair, key: &[u8]) {
    let ty = match p.redis_call(&[s("TYPE"), key.to_vec()]) {
        Reply::Simple(t) => t,
        other => panic!("TYPE: {other:?}"),
    };
    let k = key.to_vec();
    match ty.as_str() {
        "string" => p.check(&[s("GET"), k.clone()], Cmp::Exact),
        "list" => p.check(&[s("LRANGE"), k.clone(), s("0"), s("-1")], Cmp::Exact),
        "set" => p.check(&[s("SMEMBERS"), k.clone()], Cmp::Unordered),
        "hash" => p.check(&[s("HGETALL"), k.clone()], Cmp::UnorderedPairs),
        "zset" => p.check(
            &[s("ZRANGE"), k.clone(), s("0"), s("-1"), s("WITHSCORES")],
            Cmp::Exact,
        ),
        "stream" => {
            p.check(&[s("XRANGE"), k.clone(), s("-"), s("+")], Cmp::Exact);
            p.check(&[s("XINFO"), s("GROUPS"), k.clone()], Cmp::Exact);
            p.check(&[s("XPENDING"), k.clone(), s("grp")], Cmp::Exact);
        }
        "none" => {}
        other => panic!("type {other}"),
    }
    p.check(&[s("TYPE"), k.clone()], Cmp::Exact);
    p.check(&[s("OBJECT"), s("ENCODING"), k], Cmp::Exact);
}

fn bulk(r: Reply) -> Vec<u8> {
    match r {
        Reply::Bulk(b) => b,
        other => panic!("expected a payload, got {other:?}"),
    }
}

#[test]
fn payloads_cross_both_ways() {
    let mut p = Pair::start("dump_restore", "CACHELAB_DUMP", 0xd0);
    for c in fixtures() {
        p.check(&c, Cmp::Exact);
    }
    for k in KEYS {
        let from_redis = bulk(p.redis_call(&[s("DUMP"), s(k)]));
        let from_us = bulk(p.engine_call(&[s("DUMP"), s(k)]));
        // Strings, LZF-compressed ones included, byte for byte.
        if k.starts_with("str:") && from_redis != from_us {
            p.fail(
                &format!("DUMP {k} differs"),
                &format!("{from_redis:?}"),
                &format!("{from_us:?}"),
            );
        }
        for (tag, payload) in [("r", &from_redis), ("c", &from_us)] {
            let dst = format!("{k}:{tag}").into_bytes();
            p.check(
                &[s("RESTORE"), dst.clone(), s("0"), payload.clone()],
                Cmp::Exact,
            );
            readback(&mut p, &dst);
            // Busy without REPLACE; REPLACE with a TTL.
            p.check(
                &[s("RESTORE"), dst.clone(), s("0"), payload.clone()],
                Cmp::Exact,
            );
            p.check(
                &[
                    s("RESTORE"),
                    dst.clone(),
                    s("100000"),
                    payload.clone(),
                    s("REPLACE"),
                ],
                Cmp::Exact,
            );
            let (a, b) = p.both(&[s("PTTL"), dst.clone()]);
            match (a, b) {
                (Reply::Int(a), Reply::Int(b))
                    if (99_000..=100_000).contains(&a) && (99_000..=100_000).contains(&b) => {}
                (a, b) => p.fail("PTTL after RESTORE", &format!("{a:?}"), &format!("{b:?}")),
            }
            readback(&mut p, &dst);
        }
    }
    p.check(&[s("DUMP"), s("nokey")], Cmp::Exact);
}

#[test]
fn random_restores_match_redis() {
    let mut p = Pair::start("dump_restore", "CACHELAB_DUMP", 0xd1);
    for c in fixtures() {
        p.check(&c, Cmp::Exact);
    }
    // Payloads from both servers, and damaged ones.
    let mut payloads: Vec<Vec<u8>> = Vec::new();
    for k in KEYS {
        payloads.push(bulk(p.redis_call(&[s("DUMP"), s(k)])));
        payloads.push(bulk(p.engine_call(&[s("DUMP"), s(k)])));
    }
    let mut rng = p.rng();
    let total = p.total(3_000);
    for i in 0..total {
        p.step = i;
        let mut payload = payloads[rng.below(payloads.len())].clone();
        match rng.below(14) {
            0 => {
                let at = rng.below(payload.len());
                payload[at] ^= 1 << rng.below(8);
            }
            1 => payload.truncate(rng.below(payload.len())),
            2 => payload = refooter(&payload, 11),
            3 => payload = refooter(&[200, 1, 2, 3], 10),
            4 => {
                payload = refooter(
                    &payload[..payload.len() - 10 - rng.below(3).min(payload.len() - 11)],
                    10,
                )
            }
            5 => payload = refooter(&payload[..payload.len() - 10], 9),
            _ => {}
        }
        let key = s(["k1", "k2", "k3", "str:int"][rng.below(4)]);
        let ttl = match rng.below(8) {
            0 => s("-1"),
            1 => s("x"),
            // A relative TTL of a millisecond or two would race the clock.
            2 | 3 => s("500000"),
            4 => s("1000000000000"),
            5 => s("4000000000000"),
            _ => s("0"),
        };
        let mut argv = vec![s("RESTORE"), key.clone(), ttl, payload];
        for _ in 0..rng.below(4) {
            match rng.below(9) {
                0 | 1 => argv.push(s(["REPLACE", "replace"][rng.below(2)])),
                2 => argv.push(s("ABSTTL")),
                3 => argv.extend([s("IDLETIME"), s(["100", "-1", "x", "0"][rng.below(4)])]),
                4 => argv.extend([s("FREQ"), s(["3", "256", "-1", "y"][rng.below(4)])]),
                5 => argv.push(s(["BOGUS", "IDLETIME", "FREQ"][rng.below(3)])),
                _ => {}
            }
        }
        p.check(&argv, Cmp::Exact);
        readback(&mut p, &key);
        if argv.iter().any(|a| a == b"IDLETIME") {
            // Redis's LRU clock ticks once a second: allow one second.
            let (a, b) = p.both(&[s("OBJECT"), s("IDLETIME"), key.clone()]);
            let close = match (&a, &b) {
                (Reply::Int(x), Reply::Int(y)) => (x - y).abs() <= 1,
                _ => a == b,
            };
            if !close {
                p.fail(
                    "OBJECT IDLETIME after RESTORE",
                    &format!("{a:?}"),
                    &format!("{b:?}"),
                );
            }
        }
        if rng.below(5) == 0 {
            p.check(&[s("DEL"), key], Cmp::Exact);
        }
    }
}

/// `payload`'s object with a new footer: RDB `version` and a valid CRC.
fn refooter(payload: &[u8], version: u16) -> Vec<u8> {
    let body = if payload.len() >= 10 {
        &payload[..payload.len() - 10]
    } else {
        payload
    };
    let mut out = body.to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}
