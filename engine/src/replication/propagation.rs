//! What a primary propagates for a command it executed, as Redis 7.0's
//! `call()` → `propagateNow` does: the command itself for a deterministic
//! write (O(size of the command), never of the value), or the rewrite Redis
//! makes so a replica ends identical without re-running time or randomness
//! — relative expiries as `SET … PXAT` / `PEXPIREAT` (a time already past
//! as `DEL`), `GETDEL` as `DEL`, `GETSET` as `SET`, `INCRBYFLOAT` as `SET …
//! KEEPTTL`, `HINCRBYFLOAT` as `HSET`, `SPOP` as `SREM`, a blocking pop
//! served at once as its non-blocking form, `LMPOP`/`ZMPOP` as the pops they
//! did, SPOP with a count as one SREM per member (or DEL when it took the
//! whole set), approximate stream trimming as the exact length or first ID
//! it left, RESTORE's relative TTL as ABSTTL, GEOADD as the ZADD it ran (a
//! blocked pop served later: `Node::served_form`). XREADGROUP, XCLAIM and
//! XAUTOCLAIM say what they propagate themselves ([`also`]: an XCLAIM per
//! entry delivered or claimed, XGROUP CREATECONSUMER / SETID with NOACK),
//! as Redis's `alsoPropagate`. Anything else replicates as its effects on
//! the keys it changed (`Server::propagate`).

use crate::node::Server;
use crate::protocol::Reply;

/// One command's arguments.
pub type Argv = Vec<Vec<u8>>;

/// A propagated command: the executed argv itself, borrowed (most writes),
/// or a rewrite.
pub type Form<'a> = std::borrow::Cow<'a, [Vec<u8>]>;

/// Propagated as they were executed: deterministic writes (kept sorted,
/// looked up through `as_is`). Not here: commands with an arm in `form` (SET's
/// relative expiries, PEXPIREAT of a key gone…).
const AS_IS: &[&str] = &[
    "append",
    "bitfield",
    "bitop",
    "copy",
    "decr",
    "decrby",
    "del",
    "georadius",
    "georadiusbymember",
    "geosearchstore",
    "hdel",
    "hincrby",
    "hmset",
    "hset",
    "hsetnx",
    "incr",
    "incrby",
    "linsert",
    "lmove",
    "lpop",
    "lpush",
    "lpushx",
    "lrem",
    "lset",
    "ltrim",
    "move",
    "mset",
    "msetnx",
    "persist",
    "pfadd",
    "pfmerge",
    "rename",
    "renamenx",
    "rpop",
    "rpoplpush",
    "rpush",
    "rpushx",
    "sadd",
    "sdiffstore",
    "setbit",
    "setnx",
    "setrange",
    "sinterstore",
    "smove",
    "sort",
    "srem",
    "sunionstore",
    "unlink",
    "xack",
    "xdel",
    "xgroup",
    "xsetid",
    "zadd",
    "zdiffstore",
    "zincrby",
    "zinterstore",
    "zpopmax",
    "zpopmin",
    "zrangestore",
    "zrem",
    "zremrangebylex",
    "zremrangebyrank",
    "zremrangebyscore",
    "zunionstore",
];

/// `name` is in [`AS_IS`] (one hash probe: every write asks).
fn as_is(name: &str) -> bool {
    use std::collections::HashSet;
    static SET: std::sync::OnceLock<HashSet<&str, crate::store::FixedState>> =
        std::sync::OnceLock::new();
    SET.get_or_init(|| AS_IS.iter().copied().collect())
        .contains(name)
}

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

/// The running command propagates `argv` (Redis's `alsoPropagate`), in
/// place of itself.
pub fn also(srv: &mut Server, argv: Argv) {
    srv.repl.also.get_or_insert_with(Vec::new).push(argv);
}

/// The running command propagates only what it passes to [`also`] —
/// nothing if it passes nothing.
pub fn declare_also(srv: &mut Server) {
    srv.repl.also.get_or_insert_with(Vec::new);
}

/// XCLAIM as `streamPropagateXCLAIM` sends it: idempotent on a replica.
#[allow(clippy::too_many_arguments)]
pub fn xclaim_form(
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    id: Vec<u8>,
    time: i64,
    count: u64,
    last_id: Vec<u8>,
) -> Argv {
    vec![
        b("XCLAIM"),
        key.to_vec(),
        group.to_vec(),
        consumer.to_vec(),
        b("0"),
        id,
        b("TIME"),
        time.to_string().into_bytes(),
        b("RETRYCOUNT"),
        count.to_string().into_bytes(),
        b("FORCE"),
        b("JUSTID"),
        b("LASTID"),
        last_id,
    ]
}

/// XADD/XTRIM's trimming options from `i` on: `MAXLEN|MINID ~ x`
/// rewritten as Redis does (`streamRewriteTrimArgument`) to `= <the length
/// left>` or `= <the first ID left>`, so a replica trims exactly as much.
/// Returns the index after the options (XADD's ID).
fn exact_trim(srv: &Server, db: usize, v: &mut Argv, mut i: usize) -> Option<usize> {
    while i < v.len() {
        if eq(&v[i], "nomkstream") {
            i += 1;
        } else if eq(&v[i], "maxlen") || eq(&v[i], "minid") {
            let maxlen = eq(&v[i], "maxlen");
            i += 1;
            match v.get(i).map(Vec::as_slice) {
                Some(b"~") => {
                    let crate::store::value::Value::Stream(s) =
                        &srv.ks.dbs[db].peek(v.get(1)?)?.value
                    else {
                        return None;
                    };
                    v[i] = b("=");
                    v[i + 1] = if maxlen {
                        s.len().to_string().into_bytes()
                    } else {
                        s.first_id_with_tombstones().to_bytes()
                    };
                    i += 1;
                }
                Some(b"=") => i += 1,
                _ => {}
            }
            i += 1;
        } else if eq(&v[i], "limit") {
            i += 2;
        } else {
            break;
        }
    }
    Some(i)
}

/// The command's propagation form, read after it ran (its reply and the
/// data now); `None`: replicate its effects instead.
pub fn form<'a>(
    srv: &Server,
    db: usize,
    argv: &'a [Vec<u8>],
    reply: &Reply,
) -> Option<Vec<Form<'a>>> {
    // The name lower-cased without allocating (every write passes here).
    let raw = argv.first()?;
    let mut buf = [0u8; 24];
    let lower = buf.get_mut(..raw.len())?;
    for (o, c) in lower.iter_mut().zip(raw) {
        *o = c.to_ascii_lowercase();
    }
    let name = std::str::from_utf8(lower).ok()?;
    let same = || Some(vec![Form::Borrowed(argv)]);
    if as_is(name) {
        return same();
    }
    let relative_set = || {
        argv.get(3..)
            .unwrap_or_default()
            .iter()
            .any(|a| eq(a, "ex") || eq(a, "px") || eq(a, "exat"))
    };
    if name == "set" && !relative_set() {
        return same();
    }
    let key = argv.get(1).cloned().unwrap_or_default();
    let one = |v: Argv| Some(vec![Form::Owned(v)]);
    match name {
        "set" => {
            let at = expiry(srv, db, &key)?;
            one(vec![b("SET"), key, argv[2].clone(), b("PXAT"), at])
        }
        "setex" | "psetex" => {
            let at = expiry(srv, db, &key)?;
            one(vec![b("SET"), key, argv.get(3)?.clone(), b("PXAT"), at])
        }
        "getset" => one(vec![b("SET"), key, argv.get(2)?.clone()]),
        // GEOADD is the ZADD it ran (`geoaddCommand` replaces its argv).
        "geoadd" => one(crate::commands::geo::as_zadd(argv).ok()?),
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
                return same();
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
        // spopWithCountCommand: the whole set taken is its DEL; otherwise
        // one SREM per member popped, in the order they were returned.
        "spop" => {
            if !exists(srv, db, &key) {
                return one(vec![b("DEL"), key]);
            }
            let Reply::Array(members) = reply else {
                return None;
            };
            members
                .iter()
                .map(|m| match m {
                    Reply::Bulk(m) => Some(Form::Owned(vec![b("SREM"), key.clone(), m.clone()])),
                    _ => None,
                })
                .collect()
        }
        // The TTL made absolute (ABSTTL); a key that would be born expired
        // was only deleted.
        "restore" | "restore-asking" => {
            if !exists(srv, db, &key) {
                return one(vec![b("DEL"), key]);
            }
            let absttl = argv[4..].iter().any(|a| eq(a, "absttl"));
            if absttl || argv.get(2).is_some_and(|t| t.as_slice() == b"0") {
                return same();
            }
            let mut v = argv.to_vec();
            v[2] = expiry(srv, db, &key)?;
            v.push(b("ABSTTL"));
            one(v)
        }
        // Blocking pops served at once: the pop of the key they took from.
        "blpop" | "brpop" | "bzpopmin" | "bzpopmax" => {
            let Reply::Array(kv) = reply else {
                return None;
            };
            let Some(Reply::Bulk(k)) = kv.first() else {
                return None;
            };
            let pop = match name {
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
        // rewrites it; approximate trimming as the exact result.
        "xadd" => {
            let Reply::Bulk(id) = reply else {
                return None;
            };
            let mut v = argv.to_vec();
            let i = exact_trim(srv, db, &mut v, 2)?;
            let given = v.get_mut(i)?;
            if given.as_slice() == b"*" || given.ends_with(b"-*") {
                *given = id.clone();
            }
            one(v)
        }
        "xtrim" => {
            let mut v = argv.to_vec();
            exact_trim(srv, db, &mut v, 2)?;
            one(v)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_as_is_list_is_sorted_for_its_binary_search() {
        assert!(super::AS_IS.windows(2).all(|w| w[0] < w[1]));
    }
}
