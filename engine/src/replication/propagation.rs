//! What a primary propagates for a command it executed, as Redis 7.0's
//! `call()` → `propagateNow` does: the command itself for a deterministic
//! write (O(size of the command), never of the value), or the rewrite Redis
//! makes so a replica ends identical without re-running time or randomness
//! — relative expiries as `SET … PXAT` / `PEXPIREAT` (a time already past
//! as `DEL`), `GETDEL` as `DEL`, `GETSET` as `SET`, `INCRBYFLOAT` as `SET …
//! KEEPTTL`, `HINCRBYFLOAT` as `HSET`, `SPOP` as `SREM`, a blocking pop
//! served at once as its non-blocking form, `LMPOP`/`ZMPOP` as the pops they
//! did. Commands not listed here (scripts, transactions, streams' generated
//! IDs and trimming, SPOP with a count…) replicate as their effects on the
//! keys they changed (`Server::propagate`), correct but not Redis's bytes.

use crate::node::Server;
use crate::protocol::Reply;

/// One command's arguments.
pub type Argv = Vec<Vec<u8>>;

/// Propagated as they were executed: deterministic writes.
const AS_IS: &[&str] = &[
    "set",
    "setnx",
    "mset",
    "msetnx",
    "append",
    "setrange",
    "incr",
    "decr",
    "incrby",
    "decrby",
    "setbit",
    "bitop",
    "bitfield",
    "pfadd",
    "pfmerge",
    "del",
    "unlink",
    "rename",
    "renamenx",
    "move",
    "copy",
    "persist",
    "pexpireat",
    "lpush",
    "rpush",
    "lpushx",
    "rpushx",
    "linsert",
    "lset",
    "lrem",
    "ltrim",
    "lpop",
    "rpop",
    "rpoplpush",
    "lmove",
    "hset",
    "hmset",
    "hsetnx",
    "hdel",
    "hincrby",
    "sadd",
    "srem",
    "smove",
    "sinterstore",
    "sunionstore",
    "sdiffstore",
    "zadd",
    "zincrby",
    "zrem",
    "zremrangebyrank",
    "zremrangebyscore",
    "zremrangebylex",
    "zpopmin",
    "zpopmax",
    "zunionstore",
    "zinterstore",
    "zdiffstore",
    "zrangestore",
    "geoadd",
    "xdel",
    "xack",
    "xsetid",
];

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn eq(a: &[u8], s: &str) -> bool {
    a.eq_ignore_ascii_case(s.as_bytes())
}

/// The key's expiry now, as a PXAT/PEXPIREAT argument.
fn expiry(srv: &Server, db: usize, key: &[u8]) -> Option<Vec<u8>> {
    srv.ks.dbs[db]
        .expire_at(key)
        .map(|t| t.0.to_string().into_bytes())
}

fn exists(srv: &Server, db: usize, key: &[u8]) -> bool {
    srv.ks.dbs[db].peek(key).is_some()
}

/// The command's propagation form, read after it ran (its reply and the
/// data now); `None`: replicate its effects instead.
pub fn form(srv: &Server, db: usize, argv: &[Vec<u8>], reply: &Reply) -> Option<Vec<Argv>> {
    let name = String::from_utf8_lossy(argv.first()?).to_ascii_lowercase();
    let key = argv.get(1).cloned().unwrap_or_default();
    let one = |v: Argv| Some(vec![v]);
    match name.as_str() {
        "set" => {
            let relative = argv[3..]
                .iter()
                .any(|a| eq(a, "ex") || eq(a, "px") || eq(a, "exat"));
            if !relative {
                return one(argv.to_vec());
            }
            let at = expiry(srv, db, &key)?;
            one(vec![b("SET"), key, argv[2].clone(), b("PXAT"), at])
        }
        "setex" | "psetex" => {
            let at = expiry(srv, db, &key)?;
            one(vec![b("SET"), key, argv.get(3)?.clone(), b("PXAT"), at])
        }
        "getset" => one(vec![b("SET"), key, argv.get(2)?.clone()]),
        "getdel" => one(vec![b("DEL"), key]),
        "getex" => {
            if !exists(srv, db, &key) {
                return one(vec![b("DEL"), key]);
            }
            if argv[2..].iter().any(|a| eq(a, "persist")) {
                return one(vec![b("PERSIST"), key]);
            }
            let at = expiry(srv, db, &key)?;
            one(vec![b("PEXPIREAT"), key, at])
        }
        "expire" | "pexpire" | "expireat" | "pexpireat" => {
            if !exists(srv, db, &key) {
                return one(vec![b("DEL"), key]);
            }
            if name == "pexpireat" {
                return one(argv.to_vec());
            }
            // The command becomes PEXPIREAT, the time absolute; its flags
            // (NX XX GT LT) stay, as Redis rewrites it.
            let at = expiry(srv, db, &key)?;
            let mut v = argv.to_vec();
            v[0] = b("PEXPIREAT");
            v[2] = at;
            one(v)
        }
        "incrbyfloat" => {
            let v = srv.ks.dbs[db].peek(&key)?;
            let crate::store::value::Value::Str(s) = &v.value else {
                return None;
            };
            one(vec![b("SET"), key, s.to_bytes(), b("KEEPTTL")])
        }
        "hincrbyfloat" => {
            let Reply::Bulk(v) = reply else {
                return None;
            };
            one(vec![b("HSET"), key, argv.get(2)?.clone(), v.clone()])
        }
        "spop" if argv.len() == 2 => {
            let Reply::Bulk(m) = reply else {
                return None;
            };
            one(vec![b("SREM"), key, m.clone()])
        }
        // Blocking pops served at once: the pop of the key they took from.
        "blpop" | "brpop" | "bzpopmin" | "bzpopmax" => {
            let Reply::Array(kv) = reply else {
                return None;
            };
            let Some(Reply::Bulk(k)) = kv.first() else {
                return None;
            };
            let pop = match name.as_str() {
                "blpop" => "LPOP",
                "brpop" => "RPOP",
                "bzpopmin" => "ZPOPMIN",
                _ => "ZPOPMAX",
            };
            one(vec![b(pop), k.clone()])
        }
        "brpoplpush" => one(vec![b("RPOPLPUSH"), key, argv.get(2)?.clone()]),
        "blmove" => one(vec![
            b("LMOVE"),
            key,
            argv.get(2)?.clone(),
            argv.get(3)?.clone(),
            argv.get(4)?.clone(),
        ]),
        // LMPOP/ZMPOP (and their blocking forms served at once): the pop of
        // the key they took from, with the count they took.
        "lmpop" | "blmpop" | "zmpop" | "bzmpop" => {
            let Reply::Array(kv) = reply else {
                return None;
            };
            let (Some(Reply::Bulk(k)), Some(Reply::Array(items))) = (kv.first(), kv.get(1)) else {
                return None;
            };
            let left = argv.iter().any(|a| eq(a, "left") || eq(a, "min"));
            let pop = match (name.ends_with("lmpop"), left) {
                (true, true) => "LPOP",
                (true, false) => "RPOP",
                (false, true) => "ZPOPMIN",
                (false, false) => "ZPOPMAX",
            };
            one(vec![
                b(pop),
                k.clone(),
                items.len().to_string().into_bytes(),
            ])
        }
        // Not propagated themselves: the commands they ran are (in order,
        // wrapped in MULTI/EXEC when more than one).
        "exec" | "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" => {
            Some(Vec::new())
        }
        // XADD with a generated ID (`*`, `<ms>-*`): the ID it got, as Redis
        // rewrites it. Approximate trimming (`~`) is rewritten by Redis to
        // the exact length it left: replicated as effects here, for now.
        "xadd" => {
            let Reply::Bulk(id) = reply else {
                return None;
            };
            let mut i = 2;
            while i < argv.len() {
                let a = &argv[i];
                if eq(a, "nomkstream") {
                    i += 1;
                } else if eq(a, "maxlen") || eq(a, "minid") {
                    i += 1;
                    match argv.get(i).map(Vec::as_slice) {
                        Some(b"~") => return None,
                        Some(b"=") => i += 1,
                        _ => {}
                    }
                    i += 1;
                } else if eq(a, "limit") {
                    i += 2;
                } else {
                    break;
                }
            }
            let mut v = argv.to_vec();
            let given = v.get_mut(i)?;
            if given.as_slice() == b"*" || given.ends_with(b"-*") {
                *given = id.clone();
            }
            one(v)
        }
        "xtrim" if !argv.iter().any(|a| a.as_slice() == b"~") => one(argv.to_vec()),
        n if AS_IS.contains(&n) => one(argv.to_vec()),
        _ => None,
    }
}
