//! Differential test of pub/sub (the chat use case): 20,000 seeded
//! commands from a publisher and two subscribers (each RESP2 or RESP3 at
//! random) against redis-server: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE
//! PUNSUBSCRIBE SSUBSCRIBE SUNSUBSCRIBE (with and without arguments),
//! PUBLISH SPUBLISH, PUBSUB CHANNELS NUMSUB NUMPAT SHARDCHANNELS
//! SHARDNUMSUB HELP, CLIENT LIST TYPE pubsub/normal (lines counted), PING
//! and other commands in subscriber mode (refused in RESP2), RESET, and a RESP3 subscriber publishing to itself. Every
//! confirmation and every delivered message — channel, then pattern
//! messages, in order — must be byte-identical; where Redis's order comes
//! from a hash table (UNSUBSCRIBE without arguments, PUBSUB CHANNELS) the
//! elements are compared as a multiset and the counts in order.
//! CACHELAB_PUBSUB_SEED / _COMMANDS / _TRACE reproduce, extend, trace.

use cachelab_engine::protocol::Reply;
use cachelab_engine::rng::Rng;
use cachelab_tests::pair::{Cmp, Pair};

const CHANNELS: &[&str] = &["news", "news.tech", "sport", "chat:1", "chat:2"];
const PATTERNS: &[&str] = &["news*", "chat:?", "sp*t", "nomatch*"];

fn s(x: &str) -> Vec<u8> {
    x.as_bytes().to_vec()
}

fn pick<'a>(rng: &mut Rng, xs: &[&'a str]) -> &'a str {
    xs[rng.below(xs.len())]
}

/// What the test knows about a subscriber.
#[derive(Default)]
struct Sub {
    resp3: bool,
    channels: Vec<String>,
    pattern: Option<String>,
    shard: Vec<String>,
}

/// Compares what client `i` got; `relaxed` tolerates Redis's hash-table
/// order among (un)subscribe confirmations of one command.
fn expect(p: &mut Pair, i: usize, what: &str, relaxed: bool) {
    let (want, got) = p.other_replies_synced(i);
    if want == got {
        return;
    }
    if relaxed && want.len() == got.len() {
        let key = |r: &Reply| format!("{r:?}");
        let names = |v: &[Reply]| {
            let mut n: Vec<String> = v
                .iter()
                .map(|r| match r {
                    Reply::Push(x) | Reply::Array(x) if x.len() == 3 => key(&x[1]),
                    o => key(o),
                })
                .collect();
            n.sort();
            n
        };
        let counts = |v: &[Reply]| -> Vec<String> {
            v.iter()
                .map(|r| match r {
                    Reply::Push(x) | Reply::Array(x) if x.len() == 3 => {
                        format!("{:?}{:?}", x[0], x[2])
                    }
                    o => key(o),
                })
                .collect()
        };
        if names(&want) == names(&got) && counts(&want) == counts(&got) {
            return;
        }
    }
    p.fail(
        &format!("client {i}: {what}"),
        &format!("{want:?}"),
        &format!("{got:?}"),
    );
}

fn subscriber_step(p: &mut Pair, rng: &mut Rng, i: usize, st: &mut Sub) {
    let mut relaxed = false;
    let cmd: Vec<Vec<u8>> = match rng.below(14) {
        0..=2 => {
            let mut a = vec![s("SUBSCRIBE")];
            for _ in 0..1 + rng.below(2) {
                let c = pick(rng, CHANNELS);
                a.push(s(c));
                if !st.channels.iter().any(|x| x == c) {
                    st.channels.push(c.to_string());
                }
            }
            a
        }
        3 | 4 => {
            if rng.below(3) == 0 || st.channels.is_empty() {
                relaxed = st.channels.len() > 1;
                st.channels.clear();
                vec![s("UNSUBSCRIBE")]
            } else {
                let c = pick(rng, CHANNELS);
                st.channels.retain(|x| x != c);
                vec![s("UNSUBSCRIBE"), s(c)]
            }
        }
        5 => {
            // One pattern per client: Redis orders pattern deliveries by its dict.
            let pat = pick(rng, PATTERNS).to_string();
            if let Some(old) = &st.pattern {
                if *old != pat {
                    return;
                }
            }
            st.pattern = Some(pat.clone());
            vec![s("PSUBSCRIBE"), s(&pat)]
        }
        6 => {
            st.pattern = None;
            if rng.below(2) == 0 {
                vec![s("PUNSUBSCRIBE")]
            } else {
                vec![s("PUNSUBSCRIBE"), s(pick(rng, PATTERNS))]
            }
        }
        7 => {
            let c = pick(rng, CHANNELS);
            if !st.shard.iter().any(|x| x == c) {
                st.shard.push(c.to_string());
            }
            vec![s("SSUBSCRIBE"), s(c)]
        }
        8 => {
            relaxed = st.shard.len() > 1;
            st.shard.clear();
            vec![s("SUNSUBSCRIBE")]
        }
        9 => match rng.below(3) {
            0 => vec![s("PING")],
            1 => vec![s("PING"), s("hi")],
            _ => vec![s("GET"), s("k")],
        },
        10 if st.resp3 && !st.channels.is_empty() => {
            // A RESP3 subscriber publishing to its own channel.
            let c = st.channels[0].clone();
            vec![s("PUBLISH"), s(&c), s("to myself")]
        }
        11 if rng.below(10) == 0 => {
            *st = Sub {
                resp3: false,
                ..Sub::default()
            };
            vec![s("RESET")]
        }
        12 if rng.below(6) == 0
            && st.channels.is_empty()
            && st.pattern.is_none()
            && st.shard.is_empty() =>
        {
            st.resp3 = !st.resp3;
            vec![s("HELLO"), s(if st.resp3 { "3" } else { "2" })]
        }
        _ => vec![s("PING")],
    };
    let is_hello = cmd[0] == b"HELLO";
    p.send_other(i, &cmd);
    if is_hello {
        // HELLO's map carries a client id: compare its shape only.
        let (a, b) = p.other_replies(i);
        if a.len() != b.len() {
            p.fail("HELLO answers differ", &format!("{a:?}"), &format!("{b:?}"));
        }
        return;
    }
    expect(p, i, "after its own command", relaxed);
}

#[test]
fn pubsub_matches_redis() {
    let mut p = Pair::start("pubsub", "CACHELAB_PUBSUB", 0x9B5B);
    let total = p.total(20_000);
    let mut rng = p.rng();
    let mut subs = [Sub::default(), Sub::default()];
    for _ in 0..2 {
        p.open_client();
    }
    let mut delivered = 0usize;
    while p.commands_sent() < total {
        p.step = p.commands_sent();
        match rng.below(10) {
            0..=3 => {
                let i = rng.below(2);
                let mut st = std::mem::take(&mut subs[i]);
                subscriber_step(&mut p, &mut rng, i, &mut st);
                subs[i] = st;
            }
            4..=7 => {
                let shard = rng.below(5) == 0;
                let c = if rng.below(10) == 0 {
                    "other"
                } else {
                    pick(&mut rng, CHANNELS)
                };
                let msg = format!("m{}", rng.below(1000));
                let cmd = if shard { "SPUBLISH" } else { "PUBLISH" };
                let (a, _) = p.both(&[s(cmd), s(c), s(&msg)]);
                if let Reply::Int(n) = a {
                    delivered += n as usize;
                }
                p.step = p.commands_sent();
                for i in 0..2 {
                    expect(&mut p, i, "after a publish", false);
                }
                let (a, b) = (p.redis_call(&[s("PING")]), p.engine_call(&[s("PING")]));
                assert_eq!(a, b);
            }
            8 if rng.below(8) == 0 => {
                // Subscribers are CLIENT LIST's type pubsub (ids, addresses
                // and ages differ: the lines are counted).
                let lines = |r: Reply| match r {
                    Reply::Bulk(b) | Reply::Verbatim(_, b) => {
                        b.split(|&c| c == b'\n').filter(|l| !l.is_empty()).count()
                    }
                    o => panic!("CLIENT LIST answered {o:?}"),
                };
                for t in ["pubsub", "normal"] {
                    let argv = [s("CLIENT"), s("LIST"), s("TYPE"), s(t)];
                    let (a, b) = (p.redis_call(&argv), p.engine_call(&argv));
                    assert_eq!(lines(a), lines(b), "CLIENT LIST TYPE {t}");
                }
            }
            8 => {
                let a = match rng.below(7) {
                    0 => vec![s("PUBSUB"), s("NUMPAT")],
                    1 => vec![
                        s("PUBSUB"),
                        s("NUMSUB"),
                        s(pick(&mut rng, CHANNELS)),
                        s("news"),
                    ],
                    2 => vec![s("PUBSUB"), s("SHARDNUMSUB"), s(pick(&mut rng, CHANNELS))],
                    3 => vec![s("PUBSUB"), s("HELP")],
                    4 => vec![s("PUBSUB"), s("CHANNELS"), s("a"), s("b")],
                    5 => vec![s("PUBSUB"), s("NUMPAT"), s("x")],
                    _ => vec![s("PUBSUB"), s("NOPE")],
                };
                p.check(&a, Cmp::Exact);
            }
            _ => {
                let a = if rng.below(2) == 0 {
                    vec![
                        s("PUBSUB"),
                        s("CHANNELS"),
                        s(pick(&mut rng, &["*", "news*", "chat:?"])),
                    ]
                } else {
                    vec![s("PUBSUB"), s("SHARDCHANNELS")]
                };
                p.check(&a, Cmp::Unordered);
            }
        }
    }
    assert!(delivered > 2_000, "only {delivered} messages delivered");
}
