//! Differential test of COMMAND GETKEYS and COMMAND GETKEYSANDFLAGS against
//! redis-server: for every command and subcommand cachelab lists (COMMAND
//! LIST), argument vectors of the minimal arity, one short and one over
//! (arity errors), and seeded random ones built from the command's own
//! option tokens (COMMAND DOCS), numbers (numkeys that parse, that `atoi`
//! takes but `string2ll` refuses, negative, truncated by `(int)`) and the
//! keywords the getkeys procs scan for (STORE, STOREDIST, STREAMS, KEYS,
//! GET, BY, LIMIT, AUTH, AUTH2, BLOCK, GROUP, SET, INCRBY, OVERFLOW, with a
//! NUL inside as C's strcasecmp sees it); for the movable-keys commands a
//! sweep of numkeys at each leading position and option-heavy lines. Every
//! vector is asked both ways, in RESP2 and (for a share) RESP3, and the
//! replies compared byte for byte; then the lookup errors (unknown command
//! or subcommand, a container alone, a keyless command).
//! CACHELAB_GETKEYS_SEED / _COMMANDS (random vectors per command) / _TRACE.
//!
//! Known, deliberate difference: ZRANK/ZREVRANK take 7.2's WITHSCORE in
//! cachelab (arity -3, Redis 7.0 has 3), so only their 3-argument form is
//! compared.

use cachelab_engine::commands::keyspecs::KeySpecs;
use cachelab_engine::protocol::Reply;
use cachelab_engine::rng::Rng;
use cachelab_tests::pair::{Cmp, Pair};
use cachelab_tests::show;

fn s(x: &str) -> Vec<u8> {
    x.as_bytes().to_vec()
}

fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Reply::Simple(s) => s.clone(),
        _ => String::new(),
    }
}

/// Every `token` in a COMMAND DOCS reply (RESP2: flat key/value arrays).
fn tokens(r: &Reply, out: &mut Vec<String>) {
    match r {
        Reply::Array(v) | Reply::Set(v) => {
            for (i, e) in v.iter().enumerate() {
                if text(e) == "token" {
                    if let Some(t) = v.get(i + 1) {
                        let t = text(t);
                        if !t.is_empty() && !out.contains(&t) {
                            out.push(t);
                        }
                    }
                }
                tokens(e, out);
            }
        }
        Reply::Map(m) => {
            for (k, v) in m {
                if text(k) == "token" {
                    let t = text(v);
                    if !t.is_empty() && !out.contains(&t) {
                        out.push(t);
                    }
                }
                tokens(v, out);
            }
        }
        _ => {}
    }
}

const KEYS: &[&str] = &["k1", "k2", "k3", "{t}a", "", "store", "streams"];
/// Numbers for numkeys and option values. None is large enough to make
/// Redis allocate a huge key array (its `getKeysPrepareResult` sizes the
/// result before checking the bounds).
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "5",
    "-1",
    "01",
    " 2",
    "+1",
    "2x",
    "abc",
    "1000",
    "4294967297",
    "2147483648",
    "-2147483647",
    "99999999999999999999",
    "1.5",
];
const SPECIAL: &[&str] = &[
    "STORE",
    "store",
    "STOREDIST",
    "STREAMS",
    "streams",
    "KEYS",
    "keys",
    "GET",
    "get",
    "BY",
    "LIMIT",
    "AUTH",
    "AUTH2",
    "COPY",
    "REPLACE",
    "BLOCK",
    "COUNT",
    "GROUP",
    "NOACK",
    "SET",
    "INCRBY",
    "OVERFLOW",
    "WEIGHTS",
    "STORE\0x",
    "get\0",
    "KEYS\0",
    "streams\0y",
];

fn pick<'a>(rng: &mut Rng, xs: &'a [&'a str]) -> &'a str {
    xs[rng.below(xs.len())]
}

struct Cmd {
    /// The words that name it: ["get"], ["object", "encoding"].
    prefix: Vec<String>,
    arity: i64,
    /// Its COMMAND INFO entry (RESP2).
    info: Reply,
    tokens: Vec<String>,
    movable: bool,
    /// It has subcommands (CONFIG, OBJECT…).
    container: bool,
}

fn word(rng: &mut Rng, c: &Cmd) -> Vec<u8> {
    match rng.below(20) {
        0..=6 => s(pick(rng, KEYS)),
        7..=11 => s(pick(rng, NUMBERS)),
        12..=16 if !c.tokens.is_empty() => s(&c.tokens[rng.below(c.tokens.len())]),
        _ => s(pick(rng, SPECIAL)),
    }
}

/// Sends the line as COMMAND GETKEYS and COMMAND GETKEYSANDFLAGS.
fn ask(p: &mut Pair, line: &[Vec<u8>]) {
    for sub in ["GETKEYS", "GETKEYSANDFLAGS"] {
        let mut argv = vec![s("COMMAND"), s(sub)];
        argv.extend(line.iter().cloned());
        p.check(&argv, Cmp::Exact);
        p.step += 1;
    }
}

fn min_len(c: &Cmd) -> usize {
    c.arity.unsigned_abs() as usize
}

/// ZRANK/ZREVRANK: cachelab's arity is 7.2's (see the module doc). A
/// container's subcommand name with a NUL in it: Redis's subcommand dict
/// hashes the whole word but compares with strcasecmp (up to the NUL), so
/// whether "get\0" finds GET depends on its random hash seed.
fn comparable(c: &Cmd, line: &[Vec<u8>]) -> bool {
    if c.container && line.get(1).is_some_and(|w| w.contains(&0)) {
        return false;
    }
    !matches!(c.prefix[0].as_str(), "zrank" | "zrevrank") || line.len() == 3
}

fn line_of(c: &Cmd, rest: impl IntoIterator<Item = Vec<u8>>) -> Vec<Vec<u8>> {
    c.prefix.iter().map(|w| s(w)).chain(rest).collect()
}

/// A COMMAND LIST reply's names, sorted.
fn names(r: Reply) -> Vec<String> {
    let Reply::Array(v) = r else {
        panic!("COMMAND LIST: {r:?}")
    };
    let mut names: Vec<String> = v.iter().map(text).collect();
    names.sort();
    names
}

/// Each command's arity, flags and docs tokens, from redis-server.
fn commands(p: &mut Pair, names: Vec<String>) -> Vec<Cmd> {
    let mut out = Vec::new();
    for name in names {
        let info = p.redis_call(&[s("COMMAND"), s("INFO"), s(&name)]);
        let Reply::Array(entries) = &info else {
            panic!("COMMAND INFO {name}: {info:?}")
        };
        let Some(Reply::Array(fields)) = entries.first() else {
            panic!("redis-server does not know {name}")
        };
        let Reply::Int(arity) = fields[1] else {
            panic!("arity of {name}")
        };
        let container = matches!(fields.get(9), Some(Reply::Array(v)) if !v.is_empty());
        let movable = match &fields[2] {
            Reply::Array(f) | Reply::Set(f) => f.iter().any(|x| text(x) == "movablekeys"),
            _ => false,
        };
        let mut toks = Vec::new();
        tokens(
            &p.redis_call(&[s("COMMAND"), s("DOCS"), s(&name)]),
            &mut toks,
        );
        out.push(Cmd {
            prefix: name.split('|').map(str::to_string).collect(),
            arity,
            info: entries[0].clone(),
            tokens: toks,
            movable,
            container,
        });
    }
    out
}

/// The argument vectors asked for one command (see the module doc).
fn lines_for(c: &Cmd, rng: &mut Rng, per_command: usize) -> Vec<Vec<Vec<u8>>> {
    let min = min_len(c);
    let pre = c.prefix.len();
    // The minimal line, all keys; one short; one over.
    let fill = |n: usize| (0..n).map(|i| s(&format!("k{i}"))).collect::<Vec<_>>();
    let mut lines = vec![line_of(c, fill(min.saturating_sub(pre)))];
    if min > pre {
        lines.push(line_of(c, fill(min - pre - 1)));
    }
    lines.push(line_of(c, fill(min + 1 - pre.min(min + 1))));
    // Random lines around the arity.
    for _ in 0..per_command {
        let len = if c.arity > 0 && rng.below(4) != 0 {
            min
        } else {
            (min + rng.below(8)).saturating_sub(usize::from(rng.below(10) == 0))
        };
        let rest = (0..len.saturating_sub(pre))
            .map(|_| word(rng, c))
            .collect::<Vec<_>>();
        lines.push(line_of(c, rest));
    }
    if c.movable {
        // numkeys (or any number) at each leading position.
        for at in 0..3 {
            for n in NUMBERS {
                for extra in 0..5 {
                    let len = min.max(pre + at + 1) + extra;
                    let mut rest: Vec<Vec<u8>> =
                        (0..len - pre).map(|i| s(&format!("k{i}"))).collect();
                    rest[at] = s(n);
                    lines.push(line_of(c, rest));
                }
            }
        }
        // Option-heavy lines: the procs' keywords and the docs' tokens.
        for _ in 0..per_command * 2 {
            let len = min + rng.below(10);
            let rest = (0..len.saturating_sub(pre))
                .map(|i| {
                    if i == 0 && rng.below(2) == 0 {
                        s("k0")
                    } else if rng.below(3) == 0 {
                        s(pick(rng, SPECIAL))
                    } else {
                        word(rng, c)
                    }
                })
                .collect::<Vec<_>>();
            lines.push(line_of(c, rest));
        }
    }
    lines
}

#[test]
fn getkeys_matches_redis_for_every_command() {
    let mut p = Pair::start("getkeys", "CACHELAB_GETKEYS", 0x6e7c);
    let mut rng = p.rng();
    let per_command = p.total(40);
    let listed = names(p.engine_call(&[s("COMMAND"), s("LIST")]));
    let cmds = commands(&mut p, listed);
    assert!(
        cmds.len() > 150,
        "COMMAND LIST lists {} commands",
        cmds.len()
    );
    for c in &cmds {
        let lines = lines_for(c, &mut rng, per_command);
        for line in lines {
            if !comparable(c, &line) {
                continue;
            }
            let resp3 = rng.below(5) == 0;
            if resp3 {
                p.hello(3);
            }
            ask(&mut p, &line);
            if resp3 {
                p.hello(2);
            }
        }
    }
}

/// Lookup and the errors before any key is searched, and the shapes the
/// procs decide (checked by hand against 7.0.15's db.c).
#[test]
fn getkeys_errors_and_proc_cases() {
    let mut p = Pair::start("getkeys", "CACHELAB_GETKEYS", 0x6e7c);
    let lines: &[&[&str]] = &[
        &["nosuchcommand", "a"],
        &["config"],
        &["config", "nosuch", "x"],
        &["object"],
        &["object", "nosuch", "k"],
        &["OBJECT", "ENCODING", "k"],
        &["ping"],
        &["ping", "x"],
        &["get"],
        &["get", "a", "b"],
        &["GeT", "a"],
        &["spublish", "ch", "msg"],
        &["publish", "ch", "msg"],
        &["eval", "return 1", "0"],
        &["eval", "return 1", "2", "a"],
        &["eval", "return 1", " 1", "a"],
        &["eval", "return 1", "4294967297", "a", "b"],
        &["fcall", "f", "1", "a", "b"],
        &["zunionstore", "d", "2", "a", "b", "WEIGHTS", "1", "2"],
        &["zunionstore", "d", "0", "a"],
        &["zinter", "2", "a", "b", "withscores"],
        &["sintercard", "2", "a", "b", "LIMIT", "3"],
        &["lmpop", "2", "a", "b", "LEFT", "COUNT", "2"],
        &["blmpop", "0", "3", "a", "b", "c", "RIGHT"],
        &["bzmpop", "0", "1", "a", "MIN"],
        &["zmpop", "1", "a", "MAX"],
        &[
            "sort", "k", "BY", "w_*", "GET", "#", "STORE", "d", "LIMIT", "0", "1",
        ],
        &["sort", "k", "STORE", "d1", "STORE", "d2"],
        &["sort", "k", "STORE"],
        &["sort", "k", "LIMIT", "STORE", "x", "STORE", "d"],
        &["sort_ro", "k", "BY", "x", "GET", "y"],
        &[
            "georadius",
            "k",
            "0",
            "0",
            "1",
            "km",
            "STORE",
            "d",
            "STOREDIST",
            "e",
        ],
        &["georadiusbymember", "k", "m", "1", "km", "STOREDIST", "d"],
        &["georadius", "k", "0", "0", "1", "km", "STORE"],
        &["xread", "COUNT", "2", "STREAMS", "a", "b", "0", "0"],
        &["xread", "STREAMS", "a", "b", "c"],
        &["xread", "COUNT", "1", "STREAMS", "a"],
        &["xreadgroup", "GROUP", "g", "c", "STREAMS", "a", ">"],
        &[
            "xreadgroup",
            "GROUP",
            "g",
            "c",
            "NOACK",
            "STREAMS",
            "a",
            "b",
            ">",
            ">",
        ],
        &["set", "k", "v", "GET"],
        &["set", "k", "v", "EX", "10"],
        &["set", "k", "v", "get\0"],
        &["bitfield", "k", "GET", "u8", "0"],
        &["bitfield", "k", "GET", "u8", "0", "SET", "u8", "0", "1"],
        &["bitfield", "k", "OVERFLOW", "SAT", "GET", "u8", "0"],
        &["bitfield", "k", "GET", "u8"],
        &["bitfield_ro", "k", "GET", "u8", "0"],
        &["mset", "a", "1", "b", "2", "c"],
        &["msetnx", "a", "1", "b", "2"],
        &["xinfo", "stream", "s", "FULL"],
        &["memory", "usage", "k", "SAMPLES", "5"],
        &["lmove", "a", "b", "LEFT", "RIGHT"],
        &["object", "freq", "k"],
    ];
    let listed = match p.engine_call(&[s("COMMAND"), s("LIST")]) {
        Reply::Array(v) => v.iter().map(text).collect::<Vec<_>>(),
        r => panic!("COMMAND LIST: {r:?}"),
    };
    // A command cachelab does not implement is unknown to it: compare only
    // the lines of listed commands, and the ones meant to be unknown.
    let known = |line: &[&str]| {
        let name = line[0].to_ascii_lowercase();
        let container = listed.iter().any(|l| l.starts_with(&format!("{name}|")));
        if container && line.len() > 1 {
            let sub = format!("{name}|{}", line[1].to_ascii_lowercase());
            listed.contains(&sub) || line[1] == "nosuch"
        } else {
            listed.contains(&name) || name == "nosuchcommand"
        }
    };
    for line in lines {
        if !known(line) {
            continue;
        }
        let line: Vec<Vec<u8>> = line.iter().map(|w| s(w)).collect();
        ask(&mut p, &line);
        p.hello(3);
        ask(&mut p, &line);
        p.hello(2);
    }
    // Too few words for COMMAND GETKEYS itself.
    p.check(&[s("COMMAND"), s("GETKEYS")], Cmp::Exact);
    p.check(&[s("COMMAND"), s("GETKEYSANDFLAGS")], Cmp::Exact);
}

/// The key search itself for every command redis-server has, implemented
/// in cachelab or not (MIGRATE, OBJECT FREQ, the cluster commands…): the
/// key specs parsed from redis-server's own COMMAND INFO entry (RESP2, flat
/// maps), `KeySpecs::get_keys` on each line, the answer encoded as COMMAND
/// GETKEYSANDFLAGS (and GETKEYS) would be, compared with redis-server's
/// bytes. Containers are left to the test above (their lines need lookup).
#[test]
fn keyspecs_match_redis_for_all_redis_commands() {
    let mut p = Pair::start("getkeys", "CACHELAB_GETKEYS", 0x6e7c);
    let mut rng = p.rng();
    let per_command = p.total(40);
    let all = names(p.redis_call(&[s("COMMAND"), s("LIST")]));
    let containers: Vec<String> = all
        .iter()
        .filter_map(|n| n.split_once('|').map(|(c, _)| c.to_string()))
        .collect();
    let all = all
        .into_iter()
        .filter(|n| !containers.contains(n))
        .collect();
    let cmds = commands(&mut p, all);
    assert!(cmds.len() > 300, "redis lists {} commands", cmds.len());
    for c in &cmds {
        let name = c.prefix.join("|");
        let specs = KeySpecs::parse(&name, &c.info);
        for line in lines_for(c, &mut rng, per_command) {
            // COMMAND GETKEYS itself needs a command and one argument.
            if line.len() < c.prefix.len().max(2) {
                continue;
            }
            compare_specs(&mut p, c, &specs, &line);
        }
    }
    // The procs' special forms, for the commands cachelab lacks too.
    let fixed: &[&[&str]] = &[
        &["migrate", "h", "1", "", "0", "5", "KEYS", "a", "b"],
        &["migrate", "h", "1", "k", "0", "5", "KEYS", "a", "b"],
        &[
            "migrate", "h", "1", "", "0", "5", "COPY", "AUTH", "keys", "KEYS", "a",
        ],
        &[
            "migrate", "h", "1", "", "0", "5", "AUTH2", "u", "keys", "KEYS", "a",
        ],
        &["migrate", "h", "1", "", "0", "5", "REPLACE", "KEYS"],
        &["migrate", "h", "1", "", "0", "5", "KEYS", "a", "KEYS"],
        &["migrate", "h", "1", "k", "0", "5"],
        &["migrate", "h", "1", "", "0", "KEYS", "a"],
        &["sort", "k", "STORE", "limit", "x", "STORE", "d"],
        &[
            "sort", "k", "LIMIT", "0", "1", "STORE", "d", "BY", "STORE", "GET", "x",
        ],
        &[
            "xreadgroup",
            "GROUP",
            "streams",
            "c",
            "STREAMS",
            "streams",
            "0",
        ],
        &["xread", "BLOCK", "0", "STREAMS", "STREAMS", "a", "0", "0"],
        &[
            "bitfield", "k", "GET", "u8", "0", "OVERFLOW", "WRAP", "INCRBY", "u8", "0", "1",
        ],
        &["bitfield", "k", "INCRBY", "u8", "0"],
        &["set", "k", "v", "NX", "GET", "EX", "1"],
        &["set", "k", "v", "gEt"],
        &["set", "k", "v", "getx"],
    ];
    for words in fixed {
        let line: Vec<Vec<u8>> = words.iter().map(|w| s(w)).collect();
        let c = cmds
            .iter()
            .find(|c| c.prefix == [words[0]])
            .expect("a redis command");
        let specs = KeySpecs::parse(words[0], &c.info);
        compare_specs(&mut p, c, &specs, &line);
    }
}

/// COMMAND GETKEYS and GETKEYSANDFLAGS from redis-server against
/// `KeySpecs::get_keys`, encoded as the handler encodes it (RESP2).
fn compare_specs(p: &mut Pair, c: &Cmd, specs: &KeySpecs, line: &[Vec<u8>]) {
    for with_flags in [false, true] {
        let mut argv = vec![
            s("COMMAND"),
            s(if with_flags {
                "GETKEYSANDFLAGS"
            } else {
                "GETKEYS"
            }),
        ];
        argv.extend(line.iter().cloned());
        let want = p.redis.call(&argv);
        let reply = match specs.get_keys(c.arity, line) {
            Err(e) => Reply::err(e.message()),
            Ok(keys) => Reply::Array(
                keys.into_iter()
                    .map(|(pos, flags)| {
                        let key = Reply::Bulk(line[pos].clone());
                        if with_flags {
                            let flags = flags.into_iter().map(Reply::Simple).collect();
                            Reply::Array(vec![key, Reply::Set(flags)])
                        } else {
                            key
                        }
                    })
                    .collect(),
            ),
        };
        let mut got = Vec::new();
        reply.encode(2, &mut got);
        p.step += 1;
        if want != got {
            p.fail(
                &format!("{} differs", cachelab_tests::pair::line(&argv)),
                &show(&want),
                &show(&got),
            );
        }
    }
}
