//! Differential test of transactions: 20,000 seeded commands around MULTI
//! EXEC DISCARD WATCH UNWATCH from two clients against redis-server,
//! byte-identical: queued commands of every family (some failing at run
//! time with WRONGTYPE, which does not abort), commands refused while
//! queueing (unknown, wrong arity — EXECABORT), nested MULTI, WATCH inside
//! MULTI, EXEC/DISCARD without MULTI, blocking pops inside MULTI (answered
//! at once), and WATCHed keys changed — or not — by the other client
//! (writes, no-op writes, DEL, EXPIRE, FLUSHDB, a key expiring) before
//! EXEC, which must then answer a null array exactly when Redis does.
//! CACHELAB_TX_SEED / _COMMANDS / _TRACE reproduce, extend, trace.

use cachelab_engine::rng::Rng;
use cachelab_tests::pair::{Cmp, Pair};

const KEYS: &[&str] = &["k0", "k1", "list", "h", "z"];

fn s(x: &str) -> Vec<u8> {
    x.as_bytes().to_vec()
}

fn pick<'a>(rng: &mut Rng, xs: &[&'a str]) -> &'a str {
    xs[rng.below(xs.len())]
}

/// A command to queue or to run from the other client.
fn command(rng: &mut Rng) -> Vec<Vec<u8>> {
    let k = s(pick(rng, KEYS));
    match rng.below(16) {
        0 => vec![s("SET"), k, s(pick(rng, &["1", "v", "10"]))],
        1 => vec![s("INCR"), k],
        2 => vec![s("GET"), k],
        3 => vec![s("LPUSH"), s("list"), s("a")],
        4 => vec![s("RPOP"), s("list")],
        5 => vec![s("HSET"), s("h"), s("f"), s(pick(rng, &["1", "2"]))],
        6 => vec![s("ZADD"), s("z"), s(pick(rng, &["1", "2"])), s("m")],
        7 => vec![s("DEL"), k],
        8 => vec![s("EXPIRE"), k, s("100")],
        9 => vec![s("BLPOP"), s("nolist"), s("0")],
        10 => vec![s("NOSUCHCOMMAND"), k],
        11 => vec![s("GET")],
        12 => vec![s("SADD"), s("k0"), s("x")],
        13 => vec![s("EXISTS"), k],
        14 => vec![s("HINCRBY"), s("h"), s("f"), s("1")],
        _ => vec![s("PING")],
    }
}

/// A write by the other client that changes a key — or does not (Redis
/// does not signal a no-op like SADD of an existing member).
fn other_write(rng: &mut Rng) -> Vec<Vec<u8>> {
    let k = s(pick(rng, KEYS));
    match rng.below(9) {
        0 => vec![s("SET"), k, s("other")],
        1 => vec![s("DEL"), k],
        2 => vec![s("EXPIRE"), k, s("50")],
        3 => vec![s("PERSIST"), k],
        4 => vec![s("SADD"), s("k1"), s("dup")],
        5 => vec![s("HSET"), s("h"), s("f"), s("1")],
        6 => vec![s("ZADD"), s("z"), s("1"), s("m")],
        7 => vec![s("LPUSH"), s("list"), s("o")],
        _ => vec![s("GET"), k],
    }
}

fn transaction(p: &mut Pair, rng: &mut Rng) {
    if rng.below(3) > 0 {
        let mut w = vec![s("WATCH")];
        for _ in 0..1 + rng.below(2) {
            w.push(s(pick(rng, KEYS)));
        }
        p.check(&w, Cmp::Exact);
    }
    if rng.below(2) == 0 {
        let c = other_write(rng);
        p.check_other(0, &c);
    }
    if rng.below(8) == 0 {
        p.check(&[s("UNWATCH")], Cmp::Exact);
    }
    p.check(&[s("MULTI")], Cmp::Exact);
    for _ in 0..rng.below(6) {
        match rng.below(20) {
            0 => p.check(&[s("MULTI")], Cmp::Exact),
            1 => p.check(&[s("WATCH"), s("k0")], Cmp::Exact),
            2 => {
                let c = other_write(rng);
                p.check_other(0, &c);
            }
            _ => {
                let c = command(rng);
                p.check(&c, Cmp::Exact);
            }
        }
    }
    if rng.below(6) == 0 {
        p.check(&[s("DISCARD")], Cmp::Exact);
    } else {
        p.check(&[s("EXEC")], Cmp::Exact);
    }
}

#[test]
fn transactions_match_redis() {
    let mut p = Pair::start("transactions", "CACHELAB_TX", 0x7A5C);
    let total = p.total(20_000);
    let mut rng = p.rng();
    p.open_client();
    let mut sent = 0;
    let mut expiries = 0;
    while sent < total {
        p.step = sent;
        match rng.below(40) {
            0 => {
                p.check(
                    &[s(pick(&mut rng, &["EXEC", "DISCARD", "UNWATCH"]))],
                    Cmp::Exact,
                );
            }
            1 if expiries < 25 => {
                // A watched key expiring before EXEC aborts it.
                expiries += 1;
                p.check(&[s("SET"), s("k0"), s("v"), s("PX"), s("30")], Cmp::Exact);
                p.check(&[s("WATCH"), s("k0")], Cmp::Exact);
                p.check(&[s("MULTI")], Cmp::Exact);
                p.check(&[s("INCR"), s("k1")], Cmp::Exact);
                std::thread::sleep(std::time::Duration::from_millis(60));
                p.check(&[s("EXEC")], Cmp::Exact);
            }
            2 => {
                p.check(&[s("WATCH"), s("k1")], Cmp::Exact);
                p.check_other(0, &[s("FLUSHDB")]);
                p.check(&[s("MULTI")], Cmp::Exact);
                p.check(&[s("PING")], Cmp::Exact);
                p.check(&[s("EXEC")], Cmp::Exact);
            }
            3..=8 => {
                let c = command(&mut rng);
                // Outside MULTI a blocking pop would block this client.
                if c[0] != b"BLPOP" {
                    p.check(&c, Cmp::Exact);
                }
            }
            _ => transaction(&mut p, &mut rng),
        }
        sent = p.commands_sent();
    }
}
