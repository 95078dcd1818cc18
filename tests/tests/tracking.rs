//! Differential test of client-side caching (CLIENT TRACKING) against
//! redis-server: seeded steps from two writers (RESP2), a RESP3 tracking
//! client (default, OPTIN, OPTOUT, NOLOOP, BCAST with prefixes, CLIENT
//! CACHING) and a RESP2 tracking client redirecting to a RESP2 subscriber
//! of `__redis__:invalidate` (default, NOLOOP, OPTIN, BCAST), over reads,
//! writes of several keys, MULTI/EXEC, expiry (short TTLs, lazily expired),
//! FLUSHDB/FLUSHALL, option errors and prefix collisions; then a redirect
//! whose client went away (`tracking-redir-broken`). After every step
//! each connection is read up to the answer of a PING sent after it, and
//! everything it received — replies and invalidation pushes or messages —
//! must be byte-identical. CLIENT TRACKINGINFO, GETREDIR and INFO's
//! tracking counters are compared too.
//! CACHELAB_TRACKING_SEED / _COMMANDS / _TRACE reproduce, extend, trace.

use cachelab_engine::protocol::{encode_request, parse_reply, Reply};
use cachelab_engine::rng::Rng;
use cachelab_engine::ConnId;
use cachelab_tests::pair::{line, Pair};
use cachelab_tests::{show, wall_now};

/// Client slots: 0 is the pair's main connection.
const W0: usize = 0;
const W1: usize = 1;
const T3: usize = 2;
const T2: usize = 3;
const SUB: usize = 4;

const KEYS: &[&str] = &["a:1", "a:2", "ab", "b:1", "b:2", "c:1", "k1", "k2"];

fn s(x: &str) -> Vec<u8> {
    x.as_bytes().to_vec()
}

fn argv(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| s(p)).collect()
}

fn key(rng: &mut Rng) -> &'static str {
    KEYS[rng.below(KEYS.len())]
}

struct T {
    p: Pair,
    /// Engine bytes each connection received and the test has not compared.
    stash: std::collections::HashMap<ConnId, Vec<u8>>,
    /// Slots whose connection was closed.
    dead: Vec<usize>,
    /// Other-client index of each slot (slot 0 is the main connection).
    slot: Vec<usize>,
}

impl T {
    fn conn(&self, c: usize) -> ConnId {
        if c == W0 {
            ConnId(1)
        } else {
            self.p.others[self.slot[c]].1
        }
    }

    /// Sends commands as one write on both sides; nothing is read yet.
    fn send(&mut self, c: usize, cmds: &[Vec<Vec<u8>>]) {
        let mut bytes = Vec::new();
        for a in cmds {
            bytes.extend(encode_request(a));
            self.p.last.push(format!("[{c}] {}", line(a)));
            if std::env::var("CACHELAB_TRACKING_TRACE").is_ok() {
                eprintln!("#{} [{c}] {}", self.p.step, line(a));
            }
        }
        while self.p.last.len() > 40 {
            self.p.last.remove(0);
        }
        let conn = self.conn(c);
        if c == W0 {
            self.p.redis.send_raw(&bytes);
        } else {
            self.p.others[self.slot[c]].0.send_raw(&bytes);
        }
        let got = self.p.engine.send_on(wall_now(), conn, &bytes);
        self.stash.entry(conn).or_default().extend(got);
    }

    /// PINGs client `c` on both sides and compares everything it received
    /// up to the PING's answer, byte for byte. For the client that just
    /// sent commands, Redis's answers to them are read first (as many as
    /// the engine gave, pushes aside): a PING read along with them would be
    /// answered before the BCAST messages Redis sends after the input.
    fn sync(&mut self, c: usize, actor: bool) {
        if self.dead.contains(&c) {
            return;
        }
        let ping = encode_request(&[s("PING")]);
        let conn = self.conn(c);
        let replies = if actor {
            let mut rest: &[u8] = self.stash.get(&conn).map_or(&[], |v| v.as_slice());
            let mut n = 0;
            while let Ok(Some((_, used))) = parse_reply(rest) {
                if rest[0] != b'>' {
                    n += 1;
                }
                rest = &rest[used..];
            }
            n
        } else {
            0
        };
        let r = if c == W0 {
            &mut self.p.redis
        } else {
            &mut self.p.others[self.slot[c]].0
        };
        let mut want = Vec::new();
        let mut seen = 0;
        while seen < replies {
            let Some(b) = r.try_read_reply(std::time::Duration::from_secs(5)) else {
                break;
            };
            if b[0] != b'>' {
                seen += 1;
            }
            want.extend(b);
        }
        r.send_raw(&ping);
        while let Some(b) = r.try_read_reply(std::time::Duration::from_secs(5)) {
            let pong = b == b"+PONG\r\n" || b == b"*2\r\n$4\r\npong\r\n$0\r\n\r\n";
            want.extend(b);
            if pong {
                break;
            }
        }
        let got_now = self.p.engine.send_on(wall_now(), conn, &ping);
        let mut got = self.stash.remove(&conn).unwrap_or_default();
        got.extend(self.p.engine.take(conn));
        got.extend(got_now);
        if want != got {
            self.p.fail(
                &format!("client {c} received different bytes"),
                &show(&want),
                &show(&got),
            );
        }
    }

    /// One step on client `c`: its commands, then every connection compared
    /// (the actor first: its answer means Redis's BCAST messages are out).
    fn step(&mut self, c: usize, cmds: &[Vec<Vec<u8>>]) {
        self.p.step += 1;
        self.send(c, cmds);
        self.sync(c, true);
        for o in [W0, W1, T3, T2, SUB] {
            if o != c {
                self.sync(o, false);
            }
        }
    }

    /// The same step with a client id that differs between the sides
    /// substituted (REDIRECT): `{id}` in the commands is the slot's id.
    fn step_redirect(&mut self, c: usize, cmds: &[Vec<Vec<u8>>], target: usize) {
        let (rid, eid) = self.ids(target);
        assert_eq!(rid, eid, "client ids are aligned at start");
        let cmds: Vec<Vec<Vec<u8>>> = cmds
            .iter()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        if x == b"{id}" {
                            rid.to_string().into_bytes()
                        } else {
                            x.clone()
                        }
                    })
                    .collect()
            })
            .collect();
        self.step(c, &cmds);
    }

    fn ids(&mut self, c: usize) -> (i64, i64) {
        self.p.other_ids_cached(self.slot[c])
    }

    /// INFO's tracking counters on both sides.
    fn check_info(&mut self) {
        let pick = |r: Reply| -> Vec<String> {
            let text = match r {
                Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
                other => panic!("INFO: {other:?}"),
            };
            text.lines()
                .filter(|l| l.starts_with("tracking_"))
                .map(str::to_string)
                .collect()
        };
        let a = pick(self.p.redis_call(&argv(&["INFO", "everything"])));
        let b = pick(self.p.engine_call(&argv(&["INFO", "everything"])));
        if a != b {
            self.p
                .fail("INFO tracking counters differ", &a.join(" "), &b.join(" "));
        }
    }
}

fn read_cmd(rng: &mut Rng) -> Vec<Vec<u8>> {
    let k = key(rng);
    match rng.below(9) {
        0 | 1 => argv(&["GET", k]),
        2 => argv(&["MGET", k, key(rng), key(rng)]),
        3 => argv(&["EXISTS", k, key(rng)]),
        4 => argv(&["STRLEN", k]),
        5 => argv(&["TTL", k]),
        6 => argv(&["TYPE", k]),
        7 => argv(&["LRANGE", k, "0", "-1"]),
        _ => argv(&["HGET", k, "f"]),
    }
}

fn write_cmd(rng: &mut Rng) -> Vec<Vec<u8>> {
    let k = key(rng);
    let v = rng.below(100).to_string();
    match rng.below(16) {
        0 | 1 => argv(&["SET", k, &v]),
        2 => argv(&["DEL", k, key(rng)]),
        3 => argv(&["INCR", k]),
        4 => argv(&["APPEND", k, &v]),
        5 => argv(&["EXPIRE", k, "100"]),
        6 => argv(&["PERSIST", k]),
        7 => argv(&["MSET", k, &v, key(rng), &v, key(rng), "x"]),
        8 => argv(&["HSET", k, "f", &v]),
        9 => argv(&["HDEL", k, "f"]),
        10 => argv(&["LPUSH", k, &v]),
        11 => argv(&["RPOP", k]),
        12 => argv(&["RENAME", k, key(rng)]),
        13 => argv(&["SETNX", k, &v]),
        14 => argv(&["GETDEL", k]),
        _ => argv(&["EXPIRE", k, "0"]),
    }
}

/// A CLIENT TRACKING ON line for the RESP3 client (no redirection).
fn t3_mode(rng: &mut Rng) -> Vec<Vec<Vec<u8>>> {
    let mut on = argv(&["CLIENT", "TRACKING", "on"]);
    match rng.below(7) {
        0 => {}
        1 => on.push(s("OPTIN")),
        2 => on.push(s("OPTOUT")),
        3 => on.push(s("NOLOOP")),
        4 => on.extend(argv(&["BCAST", "PREFIX", "a:", "PREFIX", "b"])),
        5 => on.extend(argv(&["BCAST", "NOLOOP", "PREFIX", "a"])),
        _ => on.push(s("BCAST")),
    }
    vec![argv(&["CLIENT", "TRACKING", "off"]), on]
}

/// A CLIENT TRACKING ON line for the RESP2 client, redirecting to `{id}`.
fn t2_mode(rng: &mut Rng) -> Vec<Vec<Vec<u8>>> {
    let mut on = argv(&["CLIENT", "TRACKING", "on", "REDIRECT", "{id}"]);
    match rng.below(5) {
        0 => {}
        1 => on.push(s("NOLOOP")),
        2 => on.push(s("OPTIN")),
        3 => on.extend(argv(&["BCAST", "PREFIX", "k", "PREFIX", "c:"])),
        _ => on.extend(argv(&["BCAST", "NOLOOP"])),
    }
    vec![argv(&["CLIENT", "TRACKING", "off"]), on]
}

/// Commands that must fail (or half-fail) as Redis's do.
fn bad_option(rng: &mut Rng) -> Vec<Vec<u8>> {
    let opts: &[&[&str]] = &[
        &["CLIENT", "TRACKING", "maybe"],
        &["CLIENT", "TRACKING", "on", "PREFIX", "a"],
        &["CLIENT", "TRACKING", "on", "BCAST", "OPTIN"],
        &["CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"],
        &["CLIENT", "TRACKING", "on", "REDIRECT", "999999"],
        &["CLIENT", "TRACKING", "on", "REDIRECT", "x"],
        &["CLIENT", "TRACKING", "on", "FOO"],
        &["CLIENT", "TRACKING", "on", "PREFIX"],
        &[
            "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "FOOBAR", "PREFIX", "FOO",
        ],
        &[
            "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "x", "PREFIX", "FOO", "PREFIX", "FOOBAR",
        ],
        &["CLIENT", "CACHING", "yes"],
        &["CLIENT", "CACHING", "no"],
        &["CLIENT", "CACHING", "maybe"],
        &["CLIENT", "TRACKINGINFO"],
        &["CLIENT", "GETREDIR"],
        &["CLIENT", "TRACKING"],
        &["CLIENT", "CACHING"],
        &["CLIENT", "TRACKINGINFO", "x"],
    ];
    argv(opts[rng.below(opts.len())])
}

fn setup(seed: u64) -> T {
    let mut p = Pair::start("tracking", "CACHELAB_TRACKING", seed);
    // Align client ids: engine-only connections until the next id is the
    // same on both sides (REDIRECT ids and redir-broken pushes compare).
    let rid = match parse_reply(&p.redis.call(&argv(&["CLIENT", "ID"]))) {
        Ok(Some((Reply::Int(n), _))) => n,
        other => panic!("CLIENT ID: {other:?}"),
    };
    let eid = match p.engine_call(&argv(&["CLIENT", "ID"])) {
        Reply::Int(n) => n,
        other => panic!("CLIENT ID: {other:?}"),
    };
    for k in 0..(rid - eid).max(0) {
        p.engine.connect(wall_now(), 900 + k as u64);
    }
    let mut t = T {
        p,
        stash: Default::default(),
        dead: Vec::new(),
        slot: vec![usize::MAX],
    };
    for _ in 0..4 {
        let i = t.p.open_client();
        t.slot.push(i);
    }
    for c in [W1, T3, T2, SUB] {
        t.p.other_ids(t.slot[c]);
    }
    t.p.redis_call(&argv(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]));
    t.step(T3, &[argv(&["HELLO", "3"])]);
    t.step(SUB, &[argv(&["SUBSCRIBE", "__redis__:invalidate"])]);
    t
}

fn run(seed: u64) {
    let mut t = setup(seed);
    let mut rng = Rng::new(seed);
    let total = t.p.total(1500);
    let mut short_ttl = false;
    for n in 0..total {
        if n % 150 == 0 {
            let m = t3_mode(&mut rng);
            t.step(T3, &m);
            let m = t2_mode(&mut rng);
            t.step_redirect(T2, &m, SUB);
            t.check_info();
        }
        let actor = [W0, W1, T3, T2][rng.below(4)];
        let roll = rng.below(100);
        let cmds: Vec<Vec<Vec<u8>>> = if roll < 35 {
            vec![read_cmd(&mut rng)]
        } else if roll < 70 {
            vec![write_cmd(&mut rng)]
        } else if roll < 76 {
            // CLIENT CACHING lasts for the next command (or transaction).
            let yes = if rng.below(2) == 0 { "yes" } else { "no" };
            vec![argv(&["CLIENT", "CACHING", yes]), read_cmd(&mut rng)]
        } else if roll < 84 {
            let mut v = vec![argv(&["MULTI"])];
            for _ in 0..1 + rng.below(4) {
                v.push(if rng.below(2) == 0 {
                    read_cmd(&mut rng)
                } else {
                    write_cmd(&mut rng)
                });
            }
            v.push(argv(&["EXEC"]));
            v
        } else if roll < 88 {
            short_ttl = true;
            vec![argv(&["SET", key(&mut rng), "t", "PX", "2"])]
        } else if roll < 90 {
            vec![argv(&[if rng.below(2) == 0 {
                "FLUSHDB"
            } else {
                "FLUSHALL"
            }])]
        } else if roll < 97 {
            vec![bad_option(&mut rng)]
        } else {
            vec![
                argv(&["CLIENT", "TRACKINGINFO"]),
                argv(&["CLIENT", "GETREDIR"]),
            ]
        };
        t.step(actor, &cmds);
        if short_ttl {
            // Let the short TTL pass on both sides (read lazily later:
            // active expiry is off on both).
            std::thread::sleep(std::time::Duration::from_millis(10));
            short_ttl = false;
        }
        if n % 50 == 0 {
            t.check_info();
        }
    }
    t.check_info();
    broken_redirect(&mut t);
}

/// A redirection whose client has gone: the RESP3 client gets the
/// `tracking-redir-broken` push, the RESP2 one nothing; TRACKINGINFO and
/// CLIENT LIST's flags say so.
fn broken_redirect(t: &mut T) {
    t.step(T3, &[argv(&["CLIENT", "TRACKING", "off"])]);
    t.step(T2, &[argv(&["CLIENT", "TRACKING", "off"])]);
    t.step_redirect(
        T3,
        &[argv(&["CLIENT", "TRACKING", "on", "REDIRECT", "{id}"])],
        SUB,
    );
    t.step_redirect(
        T2,
        &[argv(&["CLIENT", "TRACKING", "on", "REDIRECT", "{id}"])],
        SUB,
    );
    t.step(W0, &[argv(&["MSET", "k1", "1", "k2", "2"])]);
    t.step(T3, &[argv(&["GET", "k1"])]);
    t.step(T2, &[argv(&["GET", "k2"])]);
    t.send(SUB, &[argv(&["QUIT"])]);
    let conn = t.conn(SUB);
    let i = t.slot[SUB];
    let want = t.p.others[i]
        .0
        .try_read_reply(std::time::Duration::from_secs(5))
        .unwrap_or_default();
    let mut got = t.stash.remove(&conn).unwrap_or_default();
    got.extend(t.p.engine.take(conn));
    assert_eq!(show(&want), show(&got), "QUIT");
    t.dead.push(SUB);
    t.step(W1, &[argv(&["INCR", "k1"]), argv(&["INCR", "k2"])]);
    for c in [T3, T2] {
        t.step(c, &[argv(&["CLIENT", "TRACKINGINFO"])]);
    }
    let flags = |r: Reply| -> String {
        let text = match r {
            Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
            other => panic!("CLIENT LIST: {other:?}"),
        };
        let mut f: Vec<String> = text
            .lines()
            .map(|l| {
                l.split_whitespace()
                    .filter(|w| w.starts_with("flags=") || w.starts_with("redir="))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        f.sort();
        f.join(" | ")
    };
    let a = flags(t.p.redis_call(&argv(&["CLIENT", "LIST"])));
    let b = flags(t.p.engine_call(&argv(&["CLIENT", "LIST"])));
    // The engine's extra (id-aligning) connections show as flags=N redir=-1.
    let b = b.replace("flags=N redir=-1 | ", "");
    let a = a.replace("flags=N redir=-1 | ", "");
    assert_eq!(a, b, "CLIENT LIST flags");
    t.check_info();
}

#[test]
fn tracking_matches_redis() {
    let seed = cachelab_tests::env_number("CACHELAB_TRACKING_SEED", 7u64);
    run(seed);
}
