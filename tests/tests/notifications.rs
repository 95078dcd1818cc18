//! Differential test of keyspace notifications: a subscriber on
//! `__key*__:*` while the main client runs 10,000 seeded writes of every
//! family (new keys, strings, keys, hashes, lists, sets, sorted sets, streams and
//! their consumer groups, geo stores, blocking pops
//! served at once, keys expiring on access) under random
//! `notify-keyspace-events` settings; every notification the subscriber
//! receives — channel, event, key, order — must be identical to
//! redis-server's. Active expiry is switched off on both
//! (DEBUG SET-ACTIVE-EXPIRE 0) so expirations happen on access, where
//! both servers see them at the same command.
//! CACHELAB_NOTIFY_SEED / _COMMANDS / _TRACE reproduce, extend, trace.

use cachelab_engine::rng::Rng;
use cachelab_tests::pair::{Cmp, Pair};

fn s(x: &str) -> Vec<u8> {
    x.as_bytes().to_vec()
}

fn pick<'a>(rng: &mut Rng, xs: &[&'a str]) -> &'a str {
    xs[rng.below(xs.len())]
}

fn command(rng: &mut Rng) -> Vec<Vec<u8>> {
    let line = match rng.below(55) {
        0 => "SET s1 v",
        1 => "SET s1 v EX 100",
        2 => "INCR n1",
        3 => "INCRBYFLOAT n1 1.5",
        4 => "APPEND s1 x",
        5 => "SETRANGE s1 2 yy",
        6 => "DEL s1 h1",
        7 => "EXPIRE s1 100",
        8 => "EXPIRE s1 -1",
        9 => "PERSIST s1",
        10 => "RENAME s1 s2",
        11 => "HSET h1 f1 v1 f2 v2",
        12 => "HDEL h1 f1 f2",
        13 => "HINCRBY h1 f3 2",
        14 => "LPUSH l1 a b",
        15 => "RPUSH l1 c",
        16 => "LPOP l1",
        17 => "RPOP l1 5",
        18 => "LMOVE l1 l2 LEFT RIGHT",
        19 => "LREM l1 0 a",
        20 => "LTRIM l1 0 0",
        21 => "SADD st1 a b",
        22 => "SREM st1 a",
        23 => "SMOVE st1 st2 b",
        24 => "SINTERSTORE st3 st1 st2",
        25 => "ZADD z1 1 a 2 b",
        26 => "ZINCRBY z1 1 a",
        27 => "ZREM z1 a",
        28 => "ZPOPMIN z1",
        29 => "ZREMRANGEBYSCORE z1 0 10",
        30 => "ZUNIONSTORE z2 1 z1",
        31 => "SET t1 v PX 20",
        32 => "GET t1",
        33 => "BLPOP l1 0.5",
        34 => "SADD st1 a",
        35 => "SETNX s1 q",
        36 => "MSET m1 1 m2 2",
        37 => "PFADD hll a b",
        38 => "SPOP st1 10",
        // Streams (`<ms>-*` IDs are the same on both servers) and geo.
        39 | 40 => "XADD x1 MAXLEN 3 99999999999999-* f v",
        41 => "XDEL x1 99999999999999-1 99999999999999-2",
        42 => "XTRIM x1 MAXLEN 1",
        43 => "XGROUP CREATE x1 g1 $ MKSTREAM",
        44 => "XGROUP CREATECONSUMER x1 g1 c1",
        45 => "XGROUP DELCONSUMER x1 g1 c1",
        46 => "XGROUP SETID x1 g1 0",
        47 => "XGROUP DESTROY x1 g1",
        48 => "XREADGROUP GROUP g1 c2 COUNT 1 STREAMS x1 >",
        49 => "XSETID x1 99999999999999-100",
        50 => "GEOADD geo1 13.361389 38.115556 a 15.087269 37.502669 b",
        51 => "GEOSEARCHSTORE geo2 geo1 FROMLONLAT 14 38 BYRADIUS 150 km",
        52 => "GEORADIUS geo1 14 38 100 km STOREDIST geo3",
        53 => "COPY s1 s3",
        54 => "DEL s3 m1 m2 st3 z2",
        _ => "HSET h1 f1 v1",
    };
    line.split(' ').map(s).collect()
}

#[test]
fn keyspace_notifications_match_redis() {
    let mut p = Pair::start("notifications", "CACHELAB_NOTIFY", 0x2077);
    let total = p.total(10_000);
    let mut rng = p.rng();
    p.check(&[s("DEBUG"), s("SET-ACTIVE-EXPIRE"), s("0")], Cmp::Exact);
    let sub = p.open_client();
    p.check_other(sub, &[s("PSUBSCRIBE"), s("__key*__:*")]);
    let mut events = 0usize;
    while p.commands_sent() < total {
        p.step = p.commands_sent();
        if rng.below(60) == 0 {
            let flags = pick(
                &mut rng,
                &[
                    "KEA", "AKE", "Elg", "Kz$", "Ex", "Klshz", "KEg$x", "E$lshzxg", "", "Kt",
                    "Etz", "KEAn", "En", "Kn$g",
                ],
            );
            p.check(
                &[s("CONFIG"), s("SET"), s("notify-keyspace-events"), s(flags)],
                Cmp::Exact,
            );
            continue;
        }
        let cmd = command(&mut rng);
        if cmd[0] == b"BLPOP"
            && p.engine_call(&[s("EXISTS"), s("l1")]) != cachelab_engine::protocol::Reply::Int(1)
        {
            continue; // it would block
        }
        if cmd[1] == b"t1" {
            // Any command on t1 (PX 20) comes 30 ms after the last one, so
            // both servers find it expired: never a race on its deadline.
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
        // SPOP of the whole set: the same members, in hash-table order.
        let cmp = if cmd[0] == b"SPOP" {
            Cmp::Unordered
        } else {
            Cmp::Exact
        };
        p.check(&cmd, cmp);
        let (want, got) = p.other_replies_synced(sub);
        if want != got {
            p.fail(
                "notifications differ",
                &format!("{want:?}"),
                &format!("{got:?}"),
            );
        }
        events += got.len().saturating_sub(1);
    }
    assert!(events > 2_000, "only {events} notifications");
}
