//! Lua scripting and functions against redis-server: 4,000 seeded scripts
//! generated from a grammar of `redis.call` / `redis.pcall` sequences over a
//! few keys of every type — writes, reads, wrong types, unknown commands,
//! wrong arity, `redis.setresp(3)` replies (maps, sets, doubles), every
//! return shape (numbers, strings, nested tables, booleans, nil, status and
//! error tables), runtime errors (nonexistent globals, writes to globals,
//! arithmetic on nil, `error()` with strings and tables), compile errors,
//! shebang flags (`no-writes`, unknown flags) — run by EVAL, EVALSHA,
//! EVAL_RO and EVALSHA_RO in RESP2 and RESP3; SCRIPT LOAD/EXISTS/FLUSH;
//! FUNCTION LOAD/LIST/DELETE/FLUSH/DUMP/RESTORE/STATS and FCALL/FCALL_RO.
//! Every reply must be byte-identical, then the keys are compared.
//! CACHELAB_LUA_SEED / _COMMANDS / _TRACE.

use cachelab_engine::protocol::Reply;
use cachelab_engine::rng::Rng;
use cachelab_tests::pair::{Cmp, Pair};

fn s(x: &str) -> Vec<u8> {
    x.as_bytes().to_vec()
}

fn pick<'a>(rng: &mut Rng, xs: &[&'a str]) -> &'a str {
    xs[rng.below(xs.len())]
}

/// A key reference inside a script.
fn key(rng: &mut Rng) -> String {
    match rng.below(5) {
        0 => "'lit'".into(),
        _ => format!("KEYS[{}]", 1 + rng.below(3)),
    }
}

fn arg(rng: &mut Rng) -> String {
    match rng.below(6) {
        0 => format!("{}", rng.below(100)),
        1 => format!("{}.5", rng.below(10)),
        2 => "'text'".into(),
        _ => format!("ARGV[{}]", 1 + rng.below(2)),
    }
}

/// One `redis.call`/`redis.pcall` expression.
fn call(rng: &mut Rng) -> String {
    let f = if rng.below(3) == 0 {
        "redis.pcall"
    } else {
        "redis.call"
    };
    let (k, a) = (key(rng), arg(rng));
    let body = match rng.below(18) {
        0 => format!("'SET', {k}, {a}"),
        1 => format!("'GET', {k}"),
        2 => format!("'INCR', {k}"),
        3 => format!("'INCRBYFLOAT', {k}, {a}"),
        4 => format!("'LPUSH', {k}, {a}"),
        5 => format!("'LRANGE', {k}, 0, -1"),
        6 => format!("'HSET', {k}, 'f', {a}"),
        7 => format!("'HGETALL', {k}"),
        // One member only: a 7.0 set of strings is a hashtable, whose
        // order Redis takes from its hash seed.
        8 => format!("'SADD', {k}, 'member'"),
        9 => format!("'SMEMBERS', {k}"),
        10 => format!("'ZADD', {k}, 1, {a}"),
        11 => format!("'ZRANGE', {k}, 0, -1, 'WITHSCORES'"),
        12 => format!("'DEL', {k}"),
        13 => format!("'EXISTS', {k}"),
        14 => "'NOSUCHCOMMAND'".into(),
        15 => "'GET'".into(),
        16 => format!("'TYPE', {k}"),
        _ => format!("'EXPIRE', {k}, 100"),
    };
    format!("{f}({body})")
}

fn value(rng: &mut Rng, depth: usize) -> String {
    match rng.below(if depth > 1 { 8 } else { 11 }) {
        0 => format!("{}", rng.below(1000)),
        1 => "3.99".into(),
        2 => "'str'".into(),
        3 => "true".into(),
        4 => "false".into(),
        5 => "nil".into(),
        6 => "v".into(),
        7 => call(rng),
        8 => format!("{{{}, {}}}", value(rng, depth + 1), value(rng, depth + 1)),
        9 => format!("redis.status_reply('{}')", pick(rng, &["OK", "FINE"])),
        _ => format!(
            "redis.error_reply('{}')",
            pick(rng, &["MYERR oops", "bad thing"])
        ),
    }
}

fn script(rng: &mut Rng) -> Vec<u8> {
    let mut body = String::new();
    match rng.below(12) {
        0 => body.push_str("#!lua flags=no-writes\n"),
        1 => body.push_str("#!lua\n"),
        _ => {}
    }
    if rng.below(6) == 0 {
        body.push_str("redis.setresp(3)\n");
    }
    body.push_str("local v = nil\n");
    for _ in 0..rng.below(4) {
        match rng.below(10) {
            0 => body.push_str(&format!("v = {}\n", call(rng))),
            1 => body.push_str("v = undefined_global\n"),
            2 => body.push_str("global_write = 1\n"),
            3 => body.push_str("error('boom')\n"),
            4 => body.push_str("error({err='CUSTOM failure'})\n"),
            5 => body.push_str("local t = nil; v = t.x\n"),
            6 => body.push_str("if v then v = type(v) end\n"),
            _ => body.push_str(&format!("{}\n", call(rng))),
        }
    }
    if rng.below(25) == 0 {
        body.push_str("return ((\n");
    } else {
        body.push_str(&format!("return {}\n", value(rng, 0)));
    }
    body.into_bytes()
}

fn library(rng: &mut Rng, name: &str) -> Vec<u8> {
    let flags = pick(rng, &["", "flags={'no-writes'}, ", "flags={'allow-oom'}, "]);
    let body = format!(
        "#!lua name={name}\nredis.register_function{{function_name='{name}_get', {flags}callback=function(keys, args) return redis.call('GET', keys[1]) end}}\nredis.register_function('{name}_set', function(keys, args) return redis.call('SET', keys[1], args[1]) end)\n"
    );
    match rng.below(13) {
        0 => b"no shebang".to_vec(),
        // A library sees only its load API: no `math`, no `getmetatable`,
        // and the `redis` it kept stays read-only when its function runs.
        4 => format!("#!lua name={name}\nreturn math.random()").into_bytes(),
        5 => format!("#!lua name={name}\nmt = getmetatable(_G)").into_bytes(),
        6 => format!("#!lua name={name}\nlocal lib = redis\nlib.register_function('{name}_set', function() lib.redis = redis return 1 end)\nlib.register_function('{name}_get', function() return redis.math end)").into_bytes(),
        1 => format!("#!lua name={name}\nreturn 1").into_bytes(),
        2 => format!("#!lua name={name}\nredis.register_function('x', 5)").into_bytes(),
        3 => format!("#!lua name={name}\nredis.call('set','a','b')").into_bytes(),
        _ => body.into_bytes(),
    }
}

fn step(p: &mut Pair, rng: &mut Rng) {
    let keys = ["k1", "k2", "k3"];
    match rng.below(20) {
        0..=11 => {
            let body = script(rng);
            let ro = rng.below(5) == 0;
            let by_sha = rng.below(3) == 0;
            if by_sha {
                p.check(&[s("SCRIPT"), s("LOAD"), body.clone()], Cmp::Exact);
            }
            let sha = cachelab_engine::sha1::sha1_hex(&body);
            let mut argv = match (by_sha, ro) {
                (false, false) => vec![s("EVAL"), body],
                (false, true) => vec![s("EVAL_RO"), body],
                (true, false) => vec![s("EVALSHA"), s(&sha)],
                (true, true) => vec![s("EVALSHA_RO"), s(&sha)],
            };
            argv.push(s("3"));
            argv.extend(keys.iter().map(|k| s(k)));
            argv.push(s(&rng.below(50).to_string()));
            argv.push(s("word"));
            p.check(&argv, Cmp::Exact);
        }
        12 => {
            let k = pick(rng, &keys);
            p.check(
                &[
                    s(pick(rng, &["SET", "LPUSH", "ZADD"])),
                    s(k),
                    s("7"),
                    s("m"),
                ][..if rng.below(2) == 0 { 3 } else { 4 }],
                Cmp::Exact,
            );
        }
        13 => p.check(&[s("DEL"), s("k1"), s("k2"), s("k3"), s("lit")], Cmp::Exact),
        14 => p.check(
            &[
                s("SCRIPT"),
                s("EXISTS"),
                s("e0e1f9fabfc9d4800c877a703b823ac0578ff8db"),
                s("nope"),
            ],
            Cmp::Exact,
        ),
        15 => p.hello(if rng.below(2) == 0 { 2 } else { 3 }),
        16 => {
            let name = pick(rng, &["liba", "libb"]);
            let code = library(rng, name);
            let mut argv = vec![s("FUNCTION"), s("LOAD")];
            if rng.below(2) == 0 {
                argv.push(s("REPLACE"));
            }
            argv.push(code);
            p.check(&argv, Cmp::Exact);
        }
        17 => {
            let f = pick(
                rng,
                &["liba_get", "liba_set", "libb_get", "libb_set", "nofn"],
            );
            let cmd = pick(rng, &["FCALL", "FCALL", "FCALL_RO"]);
            p.check(&[s(cmd), s(f), s("1"), s("k1"), s("v")], Cmp::Exact);
        }
        18 => match rng.below(5) {
            0 => p.check(
                &[s("FUNCTION"), s("DELETE"), s(pick(rng, &["liba", "nolib"]))],
                Cmp::Exact,
            ),
            1 => p.check(&[s("FUNCTION"), s("STATS")], Cmp::Exact),
            2 => {
                // A library's functions come out of a hash table in Redis:
                // compared in any order.
                let argv = [
                    s("FUNCTION"),
                    s("LIST"),
                    s("LIBRARYNAME"),
                    s("liba"),
                    s("WITHCODE"),
                ];
                let (a, b) = p.both(&argv);
                let (a, b) = (functions_sorted(a), functions_sorted(b));
                if a != b {
                    p.fail(
                        "FUNCTION LIST differs",
                        &format!("{a:?}"),
                        &format!("{b:?}"),
                    );
                }
            }
            3 => {
                // A dump from redis-server restores into both.
                let dump = p.redis_call(&[s("FUNCTION"), s("DUMP")]);
                if let Reply::Bulk(payload) = dump {
                    let policy = pick(rng, &["FLUSH", "APPEND", "REPLACE"]);
                    // Which clashing library Redis names first is its
                    // hash table's order.
                    let (a, b) = p.both(&[s("FUNCTION"), s("RESTORE"), payload, s(policy)]);
                    let clash = |r: &Reply| matches!(r, Reply::Error(e) if e.starts_with("ERR Library") && e.ends_with("already exists"));
                    if a != b && !(clash(&a) && clash(&b)) {
                        p.fail(
                            "FUNCTION RESTORE differs",
                            &format!("{a:?}"),
                            &format!("{b:?}"),
                        );
                    }
                }
            }
            _ => p.check(&[s("FUNCTION"), s("FLUSH")], Cmp::Exact),
        },
        _ => {
            if rng.below(4) == 0 {
                p.check(&[s("SCRIPT"), s("FLUSH")], Cmp::Exact);
            }
        }
    }
}

/// FUNCTION LIST with each library's "functions" sorted.
fn functions_sorted(r: Reply) -> Reply {
    let sort = |v: &mut Reply| {
        if let Reply::Array(items) = v {
            items.sort_by_key(|i| format!("{i:?}"));
        }
    };
    match r {
        Reply::Array(mut v) => {
            for i in 0..v.len() {
                if v[i] == Reply::Bulk(b"functions".to_vec()) && i + 1 < v.len() {
                    sort(&mut v[i + 1]);
                }
            }
            Reply::Array(v.into_iter().map(functions_sorted).collect())
        }
        Reply::Map(pairs) => Reply::Map(
            pairs
                .into_iter()
                .map(|(k, mut val)| {
                    if k == Reply::Bulk(b"functions".to_vec()) {
                        sort(&mut val);
                    }
                    (k, functions_sorted(val))
                })
                .collect(),
        ),
        other => other,
    }
}

#[test]
fn random_scripts_match_redis() {
    let mut p = Pair::start("scripting", "CACHELAB_LUA", 0x1a5);
    let total = p.total(4_000);
    let mut rng = p.rng();
    for i in 0..total {
        p.step = i;
        step(&mut p, &mut rng);
    }
    for k in ["k1", "k2", "k3", "lit"] {
        p.check(&[s("TYPE"), s(k)], Cmp::Exact);
        let read = "local t = redis.call('TYPE', KEYS[1]).ok
            if t == 'string' then return redis.call('GET', KEYS[1]) end
            if t == 'hash' then return redis.call('HGETALL', KEYS[1]) end
            if t == 'none' then return nil end
            return redis.call('SORT', KEYS[1], 'ALPHA')";
        p.check(&[s("EVAL"), s(read), s("1"), s(k)], Cmp::Exact);
    }
}
