//! Differential test of the stream commands (queues with history): 20,000
//! seeded XADD (explicit, `<ms>-*` and `*` IDs; MAXLEN/MINID with `=`, `~`
//! and LIMIT; NOMKSTREAM) XLEN XRANGE XREVRANGE (exclusive bounds, COUNT)
//! XREAD XDEL XTRIM XSETID XGROUP (CREATE MKSTREAM ENTRIESREAD, SETID,
//! DESTROY, CREATECONSUMER, DELCONSUMER) XREADGROUP (new entries, history,
//! NOACK) XACK XPENDING XCLAIM XAUTOCLAIM XINFO (STREAM [FULL], GROUPS,
//! CONSUMERS) commands — node boundaries (100 entries), tombstones, bad IDs
//! and options, wrong types, RESP2 and RESP3 — against redis-server,
//! byte-identical except the clock: idle times and delivery times are
//! compared within 2 s (each server reads its own clock). Two more clients
//! block in XREAD / XREADGROUP and are woken by XADD, XGROUP DESTROY or
//! DEL in Redis's order.
//! CACHELAB_STREAM_SEED / _COMMANDS / _TRACE reproduce, extend, trace.

use cachelab_engine::protocol::Reply;
use cachelab_engine::rng::Rng;
use cachelab_tests::pair::{parse, Cmp, Pair};

fn s(x: &str) -> Vec<u8> {
    x.as_bytes().to_vec()
}

fn pick<'a>(rng: &mut Rng, xs: &[&'a str]) -> &'a str {
    xs[rng.below(xs.len())]
}

/// Streams: `s0`/`s1` take explicit IDs; `fut` has IDs in the future, so
/// `*` (last ID + 1 there) is the same on both servers.
const KEYS: &[&str] = &["s0", "s1", "fut", "str", "missing"];
const GROUPS: &[&str] = &["g1", "g2", "nogroup"];
const CONSUMERS: &[&str] = &["alice", "bob", "carol"];
const FUTURE_MS: u64 = 9_000_000_000_000;

struct Ids {
    /// Next millisecond part per key, so explicit IDs mostly grow.
    next_ms: [u64; 3],
}

fn key_index(k: &str) -> Option<usize> {
    ["s0", "s1", "fut"].iter().position(|x| *x == k)
}

/// An ID argument for XADD on `key`.
fn add_id(rng: &mut Rng, ids: &mut Ids, key: &str) -> Vec<u8> {
    let i = key_index(key).unwrap_or(0);
    match rng.below(20) {
        0 => s("0-0"),
        1 if rng.below(4) == 0 => s("1-1"),
        2 => s("bad-id"),
        3 => format!("{}-*", ids.next_ms[i]).into_bytes(),
        4 => format!("{}-*", ids.next_ms[i].saturating_sub(1)).into_bytes(),
        5 if rng.below(40) == 0 => s("18446744073709551615-18446744073709551615"),
        6..=8 if key == "fut" => s("*"),
        _ => {
            ids.next_ms[i] += 1 + rng.below(3) as u64;
            let ms = ids.next_ms[i];
            if rng.below(3) == 0 {
                format!("{ms}").into_bytes()
            } else {
                format!("{ms}-{}", rng.below(3)).into_bytes()
            }
        }
    }
}

/// An ID inside (or around) what the key holds.
fn some_id(rng: &mut Rng, ids: &Ids, key: &str) -> Vec<u8> {
    let i = key_index(key).unwrap_or(0);
    let top = ids.next_ms[i];
    let base = if key == "fut" { FUTURE_MS } else { 0 };
    match rng.below(14) {
        0 => s("-"),
        1 => s("+"),
        2 => s("0"),
        3 => s("abc"),
        4 => format!("({}", base + rng.below((top - base + 2) as usize) as u64).into_bytes(),
        5 => format!("{}", base + rng.below((top - base + 2) as usize) as u64).into_bytes(),
        _ => format!(
            "{}-{}",
            base + rng.below((top - base + 2) as usize) as u64,
            rng.below(3)
        )
        .into_bytes(),
    }
}

fn fields(rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let same = rng.below(3) > 0;
    let n = if same { 2 } else { 1 + rng.below(3) };
    for j in 0..n {
        let f = if same {
            ["temp", "hum"][j].to_string()
        } else {
            format!("f{}", rng.below(4))
        };
        out.push(f.into_bytes());
        out.push(match rng.below(6) {
            0 => s("12"),
            1 => vec![b'v'; 1 + rng.below(200)],
            _ => format!("v{}", rng.below(1000)).into_bytes(),
        });
    }
    out
}

fn trim_opts(rng: &mut Rng, ids: &Ids, key: &str, a: &mut Vec<Vec<u8>>) {
    match rng.below(6) {
        0 | 1 => {
            a.push(s(pick(rng, &["MAXLEN", "maxlen"])));
            let t = pick(rng, &["", "=", "~", "~"]);
            if !t.is_empty() {
                a.push(s(t));
            }
            a.push(s(pick(rng, &["0", "5", "50", "150", "300", "-1", "x"])));
            if t == "~" && rng.below(2) == 0 {
                a.push(s("LIMIT"));
                a.push(s(pick(rng, &["0", "10", "100", "-1"])));
            }
        }
        2 => {
            a.push(s("MINID"));
            if rng.below(2) == 0 {
                a.push(s(pick(rng, &["=", "~"])));
            }
            a.push(some_id(rng, ids, key));
        }
        3 if rng.below(6) == 0 => {
            a.push(s("LIMIT"));
            a.push(s("10"));
        }
        _ => {}
    }
}

fn step(p: &mut Pair, rng: &mut Rng, ids: &mut Ids) {
    let key = if rng.below(8) == 0 {
        pick(rng, KEYS)
    } else {
        pick(rng, &["s0", "s1", "fut"])
    };
    let k = s(key);
    let g = s(if rng.below(10) == 0 {
        pick(rng, GROUPS)
    } else {
        pick(rng, &GROUPS[..2])
    });
    let c = s(pick(rng, CONSUMERS));
    let a: Vec<Vec<u8>> = match rng.below(46) {
        0..=9 => {
            let mut a = vec![s("XADD"), k.clone()];
            if rng.below(12) == 0 {
                a.push(s("NOMKSTREAM"));
            }
            if rng.below(3) == 0 {
                trim_opts(rng, ids, key, &mut a);
            }
            a.push(add_id(rng, ids, key));
            a.extend(fields(rng));
            if rng.below(30) == 0 {
                a.pop();
            }
            a
        }
        10 => vec![s("XLEN"), k.clone()],
        11..=13 => {
            let rev = rng.below(2) == 0;
            let mut a = vec![
                s(if rev { "XREVRANGE" } else { "XRANGE" }),
                k.clone(),
                some_id(rng, ids, key),
                some_id(rng, ids, key),
            ];
            if rng.below(2) == 0 {
                a.push(s("COUNT"));
                a.push(s(pick(rng, &["1", "3", "10", "0", "-1", "x"])));
            }
            a
        }
        14 | 15 => {
            let mut a = vec![s("XREAD")];
            if rng.below(2) == 0 {
                a.extend([s("COUNT"), s(pick(rng, &["1", "2", "5", "0"]))]);
            }
            if rng.below(8) == 0 {
                a.extend([s("BLOCK"), s(pick(rng, &["x", "-1"]))]);
            }
            a.push(s("STREAMS"));
            let k2 = s(pick(rng, KEYS));
            a.extend([k.clone(), k2.clone()]);
            a.push(if rng.below(5) == 0 {
                s("$")
            } else {
                some_id(rng, ids, key)
            });
            a.push(some_id(rng, ids, key));
            if rng.below(25) == 0 {
                a.pop();
            }
            a
        }
        16 | 17 => {
            let mut a = vec![s("XDEL"), k.clone()];
            for _ in 0..1 + rng.below(3) {
                a.push(some_id(rng, ids, key));
            }
            a
        }
        18 => {
            let mut a = vec![s("XTRIM"), k.clone()];
            trim_opts(rng, ids, key, &mut a);
            a
        }
        19..=21 => {
            let mut a = vec![s("XGROUP"), s("CREATE"), k.clone(), g.clone()];
            a.push(match rng.below(4) {
                0 => s("$"),
                1 => s("0"),
                _ => some_id(rng, ids, key),
            });
            if rng.below(3) == 0 {
                a.push(s("MKSTREAM"));
            }
            if rng.below(4) == 0 {
                a.extend([s("ENTRIESREAD"), s(pick(rng, &["0", "3", "-1", "-5"]))]);
            }
            a
        }
        22 => {
            let mut a = vec![s("XGROUP"), s("SETID"), k.clone(), g.clone()];
            a.push(if rng.below(3) == 0 {
                s("$")
            } else {
                some_id(rng, ids, key)
            });
            if rng.below(3) == 0 {
                a.extend([s("ENTRIESREAD"), s(pick(rng, &["0", "2", "-1"]))]);
            }
            a
        }
        23 => match rng.below(4) {
            0 => vec![s("XGROUP"), s("DESTROY"), k.clone(), g.clone()],
            1 => vec![
                s("XGROUP"),
                s("CREATECONSUMER"),
                k.clone(),
                g.clone(),
                c.clone(),
            ],
            2 => vec![
                s("XGROUP"),
                s("DELCONSUMER"),
                k.clone(),
                g.clone(),
                c.clone(),
            ],
            _ => vec![s("XGROUP"), s(pick(rng, &["HELP", "bogus"]))],
        },
        24..=29 => {
            let mut a = vec![s("XREADGROUP"), s("GROUP"), g.clone(), c.clone()];
            if rng.below(2) == 0 {
                a.extend([s("COUNT"), s(pick(rng, &["1", "2", "5", "0"]))]);
            }
            if rng.below(5) == 0 {
                a.push(s("NOACK"));
            }
            a.push(s("STREAMS"));
            a.push(k.clone());
            a.push(match rng.below(6) {
                0 => s("0"),
                1 => some_id(rng, ids, key),
                2 if rng.below(4) == 0 => s("$"),
                _ => s(">"),
            });
            a
        }
        30 | 31 => {
            let mut a = vec![s("XACK"), k.clone(), g.clone()];
            for _ in 0..1 + rng.below(3) {
                a.push(some_id(rng, ids, key));
            }
            a
        }
        32 | 33 => {
            let mut a = vec![s("XPENDING"), k.clone(), g.clone()];
            if rng.below(3) > 0 {
                if rng.below(3) == 0 {
                    a.extend([s("IDLE"), s(pick(rng, &["0", "3600000", "x"]))]);
                }
                a.extend([s("-"), s("+"), s(pick(rng, &["1", "3", "10", "0"]))]);
                if rng.below(2) == 0 {
                    a.push(c.clone());
                }
            }
            return check_timed(p, &a);
        }
        34 | 35 => {
            let mut a = vec![
                s("XCLAIM"),
                k.clone(),
                g.clone(),
                c.clone(),
                s(pick(rng, &["0", "3600000", "x", "-5"])),
            ];
            for _ in 0..1 + rng.below(3) {
                a.push(some_id(rng, ids, key));
            }
            for _ in 0..rng.below(3) {
                match rng.below(7) {
                    0 => a.extend([s("IDLE"), s(pick(rng, &["0", "7200000", "x"]))]),
                    1 => a.extend([s("TIME"), s(pick(rng, &["1000", "99999999999999"]))]),
                    2 => a.extend([s("RETRYCOUNT"), s(pick(rng, &["0", "5", "x"]))]),
                    3 => a.push(s("FORCE")),
                    4 => a.push(s("JUSTID")),
                    5 => a.extend([s("LASTID"), some_id(rng, ids, key)]),
                    _ => a.push(s("BOGUS")),
                }
            }
            a
        }
        36 | 37 => {
            let mut a = vec![
                s("XAUTOCLAIM"),
                k.clone(),
                g.clone(),
                c.clone(),
                s(pick(rng, &["0", "3600000", "x"])),
                some_id(rng, ids, key),
            ];
            if rng.below(2) == 0 {
                a.extend([s("COUNT"), s(pick(rng, &["1", "2", "10", "0"]))]);
            }
            if rng.below(3) == 0 {
                a.push(s("JUSTID"));
            }
            a
        }
        38 => {
            let a = match rng.below(6) {
                0 => vec![s("XINFO"), s("GROUPS"), k.clone()],
                1 => vec![s("XINFO"), s("CONSUMERS"), k.clone(), g.clone()],
                2 => vec![s("XINFO"), s("STREAM"), k.clone(), s("FULL")],
                3 => vec![
                    s("XINFO"),
                    s("STREAM"),
                    k.clone(),
                    s("FULL"),
                    s("COUNT"),
                    s(pick(rng, &["0", "2", "-1"])),
                ],
                4 => vec![s("XINFO"), s(pick(rng, &["HELP", "bogus"]))],
                _ => vec![s("XINFO"), s("STREAM"), k.clone()],
            };
            return check_timed(p, &a);
        }
        39 => {
            let i = key_index(key).unwrap_or(0);
            let target = if rng.below(4) == 0 {
                some_id(rng, ids, key)
            } else {
                ids.next_ms[i] += 2;
                format!("{}-0", ids.next_ms[i] - 1).into_bytes()
            };
            let mut a = vec![s("XSETID"), k.clone(), target];
            if rng.below(3) == 0 {
                a.extend([s("ENTRIESADDED"), s(pick(rng, &["0", "1000", "-1"]))]);
            }
            if rng.below(3) == 0 {
                a.extend([s("MAXDELETEDID"), some_id(rng, ids, key)]);
            }
            if key == "fut" {
                // Keep `fut`'s last ID in the future.
                a[2] = format!("{}-0", FUTURE_MS + 5_000_000).into_bytes();
            }
            a
        }
        40 => {
            if key == "fut" || rng.below(3) > 0 {
                vec![s("XLEN"), k.clone()]
            } else {
                ids.next_ms[key_index(key).unwrap_or(0)] = 0;
                vec![s("DEL"), k.clone()]
            }
        }
        41 => {
            p.hello(if rng.below(2) == 0 { 2 } else { 3 });
            return;
        }
        42 => vec![s("TYPE"), k.clone()],
        43 => vec![s("OBJECT"), s("ENCODING"), k.clone()],
        44 => vec![s("XADD"), s("str"), s("1-1"), s("f"), s("v")],
        _ => vec![s("XRANGE"), k.clone(), s("-"), s("+")],
    };
    p.check(&a, Cmp::Exact);
}

/// Replaces clock-derived integers (idle times; delivery and seen times,
/// which are Unix milliseconds, the only integers past 10^12 here) with 0
/// once both servers agree on them within 2 s.
fn mask(a: &Reply, b: &Reply, label: &str, ok: &mut bool) -> (Reply, Reply) {
    match (a, b) {
        (Reply::Int(x), Reply::Int(y)) if x != y => {
            let timed = label == "idle" || (*x > 1_000_000_000_000 && *y > 1_000_000_000_000);
            if !timed || (x - y).abs() > 2000 {
                *ok = false;
            }
            (Reply::Int(0), Reply::Int(0))
        }
        (Reply::Array(xs), Reply::Array(ys)) if xs.len() == ys.len() => {
            let mut ma = Vec::new();
            let mut mb = Vec::new();
            let mut prev = String::new();
            for (x, y) in xs.iter().zip(ys) {
                // In a flat RESP2 map a bulk label names the next value.
                let (u, v) = mask(x, y, &prev, ok);
                prev = match x {
                    Reply::Bulk(t) => String::from_utf8_lossy(t).into_owned(),
                    _ => String::new(),
                };
                ma.push(u);
                mb.push(v);
            }
            (Reply::Array(ma), Reply::Array(mb))
        }
        (Reply::Map(xs), Reply::Map(ys)) if xs.len() == ys.len() => {
            let mut ma = Vec::new();
            let mut mb = Vec::new();
            for ((kx, x), (ky, y)) in xs.iter().zip(ys) {
                let l = match kx {
                    Reply::Bulk(t) => String::from_utf8_lossy(t).into_owned(),
                    _ => String::new(),
                };
                let (u, v) = mask(x, y, &l, ok);
                ma.push((kx.clone(), u));
                mb.push((ky.clone(), v));
            }
            (Reply::Map(ma), Reply::Map(mb))
        }
        _ => (a.clone(), b.clone()),
    }
}

/// XPENDING's entries are [id, consumer, idle, count]: the idle time is
/// labelled so [`mask`] knows it.
fn label_idle(r: &Reply) -> Reply {
    match r {
        Reply::Array(items)
            if items
                .iter()
                .all(|i| matches!(i, Reply::Array(e) if e.len() == 4)) =>
        {
            Reply::Array(
                items
                    .iter()
                    .map(|it| match it {
                        Reply::Array(e) => {
                            let mut e = e.clone();
                            e[2] = Reply::Map(vec![(Reply::bulk("idle"), e[2].clone())]);
                            Reply::Array(e)
                        }
                        o => o.clone(),
                    })
                    .collect(),
            )
        }
        o => o.clone(),
    }
}

/// XPENDING / XINFO: equal but for clock-derived numbers.
fn check_timed(p: &mut Pair, argv: &[Vec<u8>]) {
    let (ra, rb) = p.both_raw(argv);
    if ra == rb {
        return;
    }
    let (mut a, mut b) = (parse(&ra), parse(&rb));
    if argv[0] == b"XPENDING" {
        (a, b) = (label_idle(&a), label_idle(&b));
    }
    let mut ok = true;
    let (ma, mb) = mask(&a, &b, "", &mut ok);
    if !ok || ma != mb {
        p.fail(
            &format!("{} differs", cachelab_tests::pair::line(argv)),
            &format!("{a:?}"),
            &format!("{b:?}"),
        );
    }
}

/// Clients blocked in XREAD / XREADGROUP, woken by XADD, XGROUP DESTROY or
/// DEL, or left to time out.
fn scenario(p: &mut Pair, rng: &mut Rng, ids: &mut Ids, n: usize) {
    let keys = ["w0", "w1"];
    for k in keys {
        p.check(&[s("DEL"), s(k)], Cmp::Exact);
        p.check(&[s("XADD"), s(k), s("1-1"), s("f"), s("v")], Cmp::Exact);
        p.check(
            &[s("XGROUP"), s("CREATE"), s(k), s("wg"), s("$")],
            Cmp::Exact,
        );
    }
    let mut seq = 2;
    let mut blocked = vec![false; n];
    for (i, b) in blocked.iter_mut().enumerate() {
        let k = s(keys[rng.below(2)]);
        let cmd = match rng.below(4) {
            0 => vec![s("XREAD"), s("BLOCK"), s("0"), s("STREAMS"), k, s("$")],
            1 => vec![
                s("XREAD"),
                s("COUNT"),
                s("2"),
                s("BLOCK"),
                s("0"),
                s("STREAMS"),
                s(keys[0]),
                s(keys[1]),
                s("$"),
                s("$"),
            ],
            _ => vec![
                s("XREADGROUP"),
                s("GROUP"),
                s("wg"),
                s(pick(rng, CONSUMERS)),
                s("BLOCK"),
                s("0"),
                s("STREAMS"),
                k,
                s(">"),
            ],
        };
        p.send_other(i, &cmd);
        *b = !p.expect_other(i, "answered before any XADD");
    }
    for _ in 0..1 + rng.below(3) {
        let k = s(keys[rng.below(2)]);
        let a = match rng.below(8) {
            0 => vec![s("XGROUP"), s("DESTROY"), k, s("wg")],
            1 => vec![s("DEL"), k],
            2 => vec![s("XTRIM"), k, s("MAXLEN"), s("0")],
            _ => {
                seq += 1;
                vec![
                    s("XADD"),
                    k,
                    format!("1-{seq}").into_bytes(),
                    s("f"),
                    s("v"),
                ]
            }
        };
        p.check(&a, Cmp::Exact);
        for (i, b) in blocked.iter_mut().enumerate() {
            if *b && p.expect_other(i, "after a write") {
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
    let _ = ids;
}

/// A long stream across many nodes (100 entries or 4 KB each): deletions
/// leave tombstones, `~` trimming removes whole nodes only, LIMIT caps the
/// work; XINFO STREAM (node and radix tree counts included) after each.
fn big_stream(p: &mut Pair, rng: &mut Rng) {
    let mut ms = 1_000u64;
    for _ in 0..1500 {
        ms += 1 + rng.below(2) as u64;
        let mut a = vec![
            s("XADD"),
            s("big"),
            format!("{ms}-{}", rng.below(2)).into_bytes(),
        ];
        a.extend(fields(rng));
        if rng.below(50) == 0 {
            a.push(s("blob"));
            a.push(vec![b'x'; 1000 + rng.below(3000)]);
        }
        p.check(&a, Cmp::Exact);
    }
    p.check(&[s("XINFO"), s("STREAM"), s("big")], Cmp::Exact);
    for _ in 0..300 {
        let a = match rng.below(5) {
            0 | 1 => {
                let mut a = vec![s("XDEL"), s("big")];
                let from = 1_000 + rng.below((ms - 1_000) as usize) as u64;
                for d in 0..rng.below(40) as u64 {
                    a.push(format!("{}-{}", from + d, rng.below(2)).into_bytes());
                }
                if a.len() == 2 {
                    a.push(format!("{from}-0").into_bytes());
                }
                a
            }
            2 => {
                let mut a = vec![
                    s("XTRIM"),
                    s("big"),
                    s("MAXLEN"),
                    s(pick(rng, &["~", "~", "="])),
                ];
                a.push(rng.below(1500).to_string().into_bytes());
                if a[3] == b"~" && rng.below(3) == 0 {
                    a.extend([s("LIMIT"), s(pick(rng, &["0", "50", "150", "1000"]))]);
                }
                a
            }
            3 => {
                let mut a = vec![s("XTRIM"), s("big"), s("MINID"), s(pick(rng, &["~", "="]))];
                a.push(format!("{}-0", 1_000 + rng.below((ms - 900) as usize)).into_bytes());
                a
            }
            _ => {
                ms += 1;
                let mut a = vec![s("XADD"), s("big"), s("MAXLEN"), s("~"), s("1200")];
                a.push(format!("{ms}-0").into_bytes());
                a.extend(fields(rng));
                a
            }
        };
        p.check(&a, Cmp::Exact);
        p.check(&[s("XINFO"), s("STREAM"), s("big")], Cmp::Exact);
    }
    p.check(&[s("XRANGE"), s("big"), s("-"), s("+")], Cmp::Exact);
}

#[test]
fn random_stream_commands_match_redis() {
    let mut p = Pair::start("streams", "CACHELAB_STREAM", 0x57E4);
    let total = p.total(20_000);
    let mut rng = p.rng();
    for _ in 0..2 {
        let i = p.open_client();
        p.other_ids(i);
    }
    let mut ids = Ids {
        next_ms: [0, 0, FUTURE_MS],
    };
    p.check(&[s("SET"), s("str"), s("v")], Cmp::Exact);
    p.check(
        &[
            s("XADD"),
            s("fut"),
            format!("{FUTURE_MS}-0").into_bytes(),
            s("f"),
            s("v"),
        ],
        Cmp::Exact,
    );
    // Fill s0 past a few nodes (100 entries each).
    for _ in 0..350 {
        ids.next_ms[0] += 1;
        let mut a = vec![
            s("XADD"),
            s("s0"),
            format!("{}-0", ids.next_ms[0]).into_bytes(),
        ];
        a.extend(fields(&mut rng));
        p.check(&a, Cmp::Exact);
    }
    for i in 0..total {
        p.step = i;
        if rng.below(100) == 0 {
            scenario(&mut p, &mut rng, &mut ids, 2);
        } else {
            step(&mut p, &mut rng, &mut ids);
        }
    }
    for k in KEYS {
        p.check(&[s("XRANGE"), s(k), s("-"), s("+")], Cmp::Exact);
        check_timed(&mut p, &[s("XINFO"), s("STREAM"), s(k), s("FULL")]);
    }
    big_stream(&mut p, &mut rng);
}
