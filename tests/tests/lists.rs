//! Differential test of the list commands (the queue use case): 20,000
//! seeded LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LINSERT
//! LREM LTRIM LPOS LMOVE RPOPLPUSH LMPOP commands with good and bad
//! arguments against redis-server, byte-identical — and the blocking BLPOP
//! BRPOP BLMOVE BRPOPLPUSH BLMPOP from two more clients: blocked on empty or
//! missing keys, woken by pushes from the first client in the order they
//! blocked (several on one key; BLMOVE onto a wrong-type destination), with
//! commands pipelined behind them, timed out, or released by CLIENT
//! UNBLOCK … TIMEOUT | ERROR. What each client receives, and when, must
//! be the same. CLIENT_LIST_SEED / _COMMANDS / _TRACE reproduce, extend, trace.

use cachelab_engine::rng::Rng;
use cachelab_tests::encode_request;
use cachelab_tests::pair::{Cmp, Pair};

const KEYS: &[&str] = &["l0", "l1", "l2", "str", "missing"];

fn s(x: &str) -> Vec<u8> {
    x.as_bytes().to_vec()
}

fn pick<'a>(rng: &mut Rng, xs: &[&'a str]) -> &'a str {
    xs[rng.below(xs.len())]
}

fn elem(rng: &mut Rng) -> Vec<u8> {
    match rng.below(12) {
        0 => s(""),
        1 => vec![b'x'; 70],
        2 => s("12345678901"),
        3 => s("-1"),
        _ => format!("e{}", rng.below(8)).into_bytes(),
    }
}

fn index(rng: &mut Rng) -> Vec<u8> {
    match rng.below(10) {
        0 => s("x"),
        1 => s("9223372036854775807"),
        2 => s("-9223372036854775808"),
        3..=5 => format!("-{}", rng.below(12)).into_bytes(),
        _ => rng.below(12).to_string().into_bytes(),
    }
}

fn side(rng: &mut Rng) -> Vec<u8> {
    s(pick(rng, &["LEFT", "right", "RIGHT", "left", "up"]))
}

fn step(p: &mut Pair, rng: &mut Rng) {
    let k = s(pick(rng, KEYS));
    let a: Vec<Vec<u8>> = match rng.below(36) {
        0..=5 => {
            let mut a = vec![
                s(pick(
                    rng,
                    &["LPUSH", "RPUSH", "LPUSH", "RPUSH", "LPUSHX", "RPUSHX"],
                )),
                k,
            ];
            for _ in 0..1 + rng.below(4) {
                a.push(elem(rng));
            }
            a
        }
        6..=8 => {
            let mut a = vec![s(pick(rng, &["LPOP", "RPOP"])), k];
            match rng.below(4) {
                0 => a.push(s(pick(rng, &["0", "1", "3", "100", "-1", "x"]))),
                1 => a.extend([s("1"), s("2")]),
                _ => {}
            }
            a
        }
        9 => vec![s("LLEN"), k],
        10..=12 => vec![s("LRANGE"), k, index(rng), index(rng)],
        13 => vec![s("LINDEX"), k, index(rng)],
        14 => vec![s("LSET"), k, index(rng), elem(rng)],
        15 => vec![
            s("LINSERT"),
            k,
            s(pick(rng, &["BEFORE", "after", "middle"])),
            elem(rng),
            elem(rng),
        ],
        16 => vec![
            s("LREM"),
            k,
            s(pick(rng, &["0", "1", "-1", "2", "-2", "x"])),
            elem(rng),
        ],
        17 => vec![s("LTRIM"), k, index(rng), index(rng)],
        18 | 19 => {
            let mut a = vec![s("LPOS"), k, elem(rng)];
            for _ in 0..rng.below(4) {
                match rng.below(4) {
                    0 => a.extend([s("RANK"), s(pick(rng, &["1", "2", "-1", "-3", "0", "x"]))]),
                    1 => a.extend([s("COUNT"), s(pick(rng, &["0", "1", "2", "-1"]))]),
                    2 => a.extend([s("MAXLEN"), s(pick(rng, &["0", "2", "5", "-1"]))]),
                    _ => a.push(s(pick(rng, &["RANK", "bogus"]))),
                }
            }
            a
        }
        20 | 21 => vec![s("LMOVE"), k, s(pick(rng, KEYS)), side(rng), side(rng)],
        22 => vec![s("RPOPLPUSH"), k, s(pick(rng, KEYS))],
        23 | 24 => {
            let n = rng.below(4);
            let mut a = vec![s("LMPOP"), n.to_string().into_bytes()];
            for _ in 0..n.max(1) {
                a.push(s(pick(rng, KEYS)));
            }
            a.push(side(rng));
            match rng.below(4) {
                0 => a.extend([s("COUNT"), s(pick(rng, &["1", "2", "10", "0", "-1", "x"]))]),
                1 => a.push(s("COUNT")),
                _ => {}
            }
            a
        }
        25 => vec![s("SET"), s("str"), s("v")],
        26 => vec![s("DEL"), k],
        27 => vec![s("OBJECT"), s("ENCODING"), k],
        28 => vec![s("TYPE"), k],
        29 => {
            // Non-blocking uses of the blocking commands (data present) and their errors.
            let timeout = s(pick(rng, &["0", "0.01", "-1", "x", "1e400"]));
            match rng.below(3) {
                0 => vec![s("BLPOP"), k, s(pick(rng, KEYS)), timeout],
                1 => vec![
                    s("BLMOVE"),
                    k,
                    s(pick(rng, KEYS)),
                    side(rng),
                    side(rng),
                    timeout,
                ],
                _ => vec![s("BLMPOP"), timeout, s("1"), k, side(rng)],
            }
        }
        30 => {
            p.hello(if rng.below(2) == 0 { 2 } else { 3 });
            return;
        }
        _ => vec![s("LRANGE"), k, s("0"), s("-1")],
    };
    // A blocking command with data (or an error) must not block: both
    // answer now; one that would block is skipped here.
    if matches!(a[0].as_slice(), b"BLPOP" | b"BLMOVE" | b"BLMPOP") {
        let has_data = p.engine_call(&[
            s("EXISTS"),
            a[if a[0] == b"BLMPOP" { 3 } else { 1 }].clone(),
        ]);
        let timeout = if a[0] == b"BLMPOP" {
            &a[1]
        } else {
            &a[a.len() - 1]
        };
        if has_data != cachelab_engine::protocol::Reply::Int(1)
            && matches!(timeout.as_slice(), b"0" | b"0.01")
        {
            return;
        }
    }
    p.check(&a, Cmp::Exact);
}

/// A blocking scenario: waiters block, the main client pushes, each
/// waiter's answers are compared after every push.
fn scenario(p: &mut Pair, rng: &mut Rng, ids: &[(i64, i64)]) {
    let keys = ["q0", "q1"];
    for k in keys {
        p.check(&[s("DEL"), s(k)], Cmp::Exact);
    }
    let mut blocked = vec![false; ids.len()];
    for (i, b) in blocked.iter_mut().enumerate() {
        if rng.below(4) == 0 {
            continue;
        }
        let k = s(keys[rng.below(2)]);
        let other = s(keys[rng.below(2)]);
        let cmd = match rng.below(6) {
            0 => vec![s("BLPOP"), k, other, s("0")],
            1 => vec![s("BRPOP"), k, s("0")],
            2 => vec![
                s("BLMOVE"),
                k,
                s(pick(rng, &["q1", "dst", "str"])),
                side(rng),
                side(rng),
                s("0"),
            ],
            3 => vec![
                s("BRPOPLPUSH"),
                k,
                s(pick(rng, &["q0", "dst", "str"])),
                s("0"),
            ],
            _ => vec![
                s("BLMPOP"),
                s("0"),
                s("2"),
                k,
                other,
                side(rng),
                s("COUNT"),
                s("2"),
            ],
        };
        let mut bytes = encode_request(&cmd);
        if rng.below(3) == 0 {
            // A command pipelined behind the blocking one runs once it is served.
            bytes.extend(encode_request(&[s("LLEN"), s("q0")]));
        }
        p.send_other_raw(i, &bytes, &cmd);
        *b = !p.expect_other(i, "answered before any push");
    }
    for _ in 0..1 + rng.below(4) {
        let k = s(keys[rng.below(2)]);
        let mut push = vec![s(pick(rng, &["LPUSH", "RPUSH"])), k];
        for _ in 0..1 + rng.below(3) {
            push.push(elem(rng));
        }
        if rng.below(5) == 0 {
            p.check(&[s("SET"), s("str"), s("v")], Cmp::Exact);
        }
        p.check(&push, Cmp::Exact);
        for (i, b) in blocked.iter_mut().enumerate() {
            if *b && p.expect_other(i, "after a push") {
                *b = false;
            }
        }
    }
    // Release whoever is still blocked: CLIENT UNBLOCK or a timeout.
    for (i, &(rid, eid)) in ids.iter().enumerate() {
        if !blocked[i] {
            continue;
        }
        let how = pick(rng, &["TIMEOUT", "ERROR", ""]);
        let mk = |id: i64| {
            let mut a = vec![s("CLIENT"), s("UNBLOCK"), id.to_string().into_bytes()];
            if !how.is_empty() {
                a.push(s(how));
            }
            a
        };
        p.check_split(&mk(rid), &mk(eid));
        p.expect_other(i, "after CLIENT UNBLOCK");
    }
    for k in keys {
        p.check(&[s("LRANGE"), s(k), s("0"), s("-1")], Cmp::Exact);
    }
}

/// A blocking pop with a real timeout: both answer with a null array.
fn timeout(p: &mut Pair, rng: &mut Rng) {
    let cmd = match rng.below(3) {
        0 => vec![s("BLPOP"), s("nothing"), s("0.05")],
        1 => vec![
            s("BLMOVE"),
            s("nothing"),
            s("dst"),
            s("LEFT"),
            s("RIGHT"),
            s("0.05"),
        ],
        _ => vec![s("BLMPOP"), s("0.05"), s("1"), s("nothing"), s("LEFT")],
    };
    p.send_other(0, &cmd);
    std::thread::sleep(std::time::Duration::from_millis(120));
    p.tick();
    p.expect_other(0, "after the timeout");
}

#[test]
fn random_list_commands_match_redis() {
    let mut p = Pair::start("lists", "CACHELAB_LIST", 0x1157);
    let total = p.total(20_000);
    let mut rng = p.rng();
    let ids: Vec<(i64, i64)> = (0..3)
        .map(|_| {
            let i = p.open_client();
            p.other_ids(i)
        })
        .collect();
    let mut scenarios = 0;
    for i in 0..total {
        p.step = i;
        match rng.below(60) {
            0 | 1 => {
                scenario(&mut p, &mut rng, &ids);
                scenarios += 1;
            }
            2 if rng.below(8) == 0 => timeout(&mut p, &mut rng),
            _ => step(&mut p, &mut rng),
        }
    }
    assert!(scenarios > 300, "only {scenarios} blocking scenarios ran");
    for k in KEYS {
        p.check(&[s("LRANGE"), s(k), s("0"), s("-1")], Cmp::Exact);
    }
}
