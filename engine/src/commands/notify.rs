//! Keyspace notifications (`notify-keyspace-events`): after a command
//! changes keys, each change is published as Redis's
//! `notifyKeyspaceEvent` would — on `__keyspace@<db>__:<key>` with the
//! event name as message (K) and on `__keyevent@<db>__:<event>` with the
//! key as message (E), for the classes the flags select. The event for a
//! changed key comes from the command (`event_for`); a collection emptied
//! by a command also gets `del`, a key past its TTL `expired`, an evicted
//! key `evicted`. The playground subscribes to these to animate changes.

use std::collections::HashSet;

use crate::node::Server;

pub const K: u32 = 1 << 0;
pub const E: u32 = 1 << 1;
pub const GENERIC: u32 = 1 << 2;
pub const STRING: u32 = 1 << 3;
pub const LIST: u32 = 1 << 4;
pub const SET: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const ZSET: u32 = 1 << 7;
pub const EXPIRED: u32 = 1 << 8;
pub const EVICTED: u32 = 1 << 9;
pub const STREAM: u32 = 1 << 10;
pub const KEY_MISS: u32 = 1 << 11;
pub const MODULE: u32 = 1 << 13;
pub const NEW: u32 = 1 << 14;
/// 'A': every class but key-miss and new.
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// The flags of a (validated) `notify-keyspace-events` value.
pub fn parse_flags(s: &str) -> u32 {
    let mut f = 0;
    for c in s.chars() {
        f |= match c {
            'A' => ALL,
            'g' => GENERIC,
            '$' => STRING,
            'l' => LIST,
            's' => SET,
            'h' => HASH,
            'z' => ZSET,
            'x' => EXPIRED,
            'e' => EVICTED,
            'K' => K,
            'E' => E,
            't' => STREAM,
            'm' => KEY_MISS,
            'd' => MODULE,
            'n' => NEW,
            _ => 0,
        };
    }
    f
}

/// `notifyKeyspaceEvent`.
pub fn notify(srv: &mut Server, class: u32, event: &str, key: &[u8], db: usize) {
    let flags = srv.config.notify_flags();
    if flags & class == 0 {
        return;
    }
    if flags & K != 0 {
        let mut ch = format!("__keyspace@{db}__:").into_bytes();
        ch.extend_from_slice(key);
        super::pubsub::deliver(srv, &ch, event.as_bytes(), false);
    }
    if flags & E != 0 {
        let ch = format!("__keyevent@{db}__:{event}").into_bytes();
        super::pubsub::deliver(srv, &ch, key, false);
    }
}

pub fn evicted(srv: &mut Server, db: usize, key: &[u8]) {
    notify(srv, EVICTED, "evicted", key, db);
}

/// The event a command raises on one of the keys it changed (`key` is the
/// key, `pos` its argument index).
fn event_for(cmd: &str, argv: &[Vec<u8>], pos: usize) -> Option<(u32, &'static str)> {
    let side = |i: usize| argv.get(i).is_some_and(|a| a.eq_ignore_ascii_case(b"left"));
    Some(match cmd {
        "set" | "setnx" | "setex" | "psetex" | "getset" | "mset" | "msetnx" | "bitop" => {
            (STRING, "set")
        }
        "append" => (STRING, "append"),
        "setrange" => (STRING, "setrange"),
        "incr" | "decr" | "incrby" | "decrby" => (STRING, "incrby"),
        "incrbyfloat" => (STRING, "incrbyfloat"),
        "setbit" | "bitfield" => (STRING, "setbit"),
        "pfadd" | "pfmerge" => (STRING, "pfadd"),
        "del" | "unlink" | "getdel" => (GENERIC, "del"),
        "expire" | "pexpire" | "expireat" | "pexpireat" => (GENERIC, "expire"),
        "persist" => (GENERIC, "persist"),
        "getex" => (GENERIC, "expire"),
        "rename" | "renamenx" => (GENERIC, if pos == 1 { "rename_from" } else { "rename_to" }),
        "copy" => (GENERIC, "copy_to"),
        "restore" | "restore-asking" => (GENERIC, "restore"),
        "hset" | "hmset" | "hsetnx" => (HASH, "hset"),
        "hdel" => (HASH, "hdel"),
        "hincrby" => (HASH, "hincrby"),
        "hincrbyfloat" => (HASH, "hincrbyfloat"),
        "lpush" | "lpushx" => (LIST, "lpush"),
        "rpush" | "rpushx" => (LIST, "rpush"),
        "lpop" | "blpop" => (LIST, "lpop"),
        "rpop" | "brpop" => (LIST, "rpop"),
        "linsert" => (LIST, "linsert"),
        "lset" => (LIST, "lset"),
        "lrem" => (LIST, "lrem"),
        "ltrim" => (LIST, "ltrim"),
        "rpoplpush" | "brpoplpush" => (LIST, if pos == 1 { "rpop" } else { "lpush" }),
        "lmove" | "blmove" => match pos {
            1 => (LIST, if side(3) { "lpop" } else { "rpop" }),
            _ => (LIST, if side(4) { "lpush" } else { "rpush" }),
        },
        "lmpop" | "blmpop" => {
            let left = argv.iter().any(|a| a.eq_ignore_ascii_case(b"left"));
            (LIST, if left { "lpop" } else { "rpop" })
        }
        "sadd" => (SET, "sadd"),
        "srem" => (SET, "srem"),
        "spop" => (SET, "spop"),
        "smove" => (SET, if pos == 1 { "srem" } else { "sadd" }),
        "sinterstore" | "sunionstore" | "sdiffstore" => (SET, leak(cmd)),
        "sort" => (LIST, "sortstore"),
        "zadd" => {
            let incr = argv.iter().any(|a| a.eq_ignore_ascii_case(b"incr"));
            (ZSET, if incr { "zincr" } else { "zadd" })
        }
        "zincrby" => (ZSET, "zincr"),
        "geoadd" => (ZSET, "zadd"),
        "georadius" | "georadiusbymember" => (ZSET, "georadiusstore"),
        "geosearchstore" => (ZSET, "geosearchstore"),
        "zrem" => (ZSET, "zrem"),
        "zremrangebyrank" | "zremrangebyscore" | "zremrangebylex" | "zunionstore"
        | "zinterstore" | "zdiffstore" | "zrangestore" => (ZSET, leak(cmd)),
        "zpopmin" | "bzpopmin" => (ZSET, "zpopmin"),
        "zpopmax" | "bzpopmax" => (ZSET, "zpopmax"),
        "zmpop" | "bzmpop" => {
            let max = argv.iter().any(|a| a.eq_ignore_ascii_case(b"max"));
            (ZSET, if max { "zpopmax" } else { "zpopmin" })
        }
        _ => return None,
    })
}

/// A command name as a `'static` event name (only ever the fixed names above).
fn leak(cmd: &str) -> &'static str {
    const NAMES: &[&str] = &[
        "sinterstore",
        "sunionstore",
        "sdiffstore",
        "zremrangebyrank",
        "zremrangebyscore",
        "zremrangebylex",
        "zunionstore",
        "zinterstore",
        "zdiffstore",
        "zrangestore",
    ];
    NAMES
        .iter()
        .find(|n| **n == cmd)
        .copied()
        .unwrap_or("unknown")
}

/// What one command did to the keys of a database, in order.
pub struct Changes<'a> {
    /// Keys changed (possibly repeated).
    pub changed: &'a [Vec<u8>],
    /// Keys found past their TTL and deleted.
    pub expired: &'a [Vec<u8>],
    /// Keys created (dbAdd): each raises `new` before the command's event.
    pub created: &'a [Vec<u8>],
}

/// Publishes the events of a command that changed `changed` keys of `db`
/// (in change order), `expired` for keys it found past their TTL, and
/// `new` for the keys it created.
pub fn after_command(srv: &mut Server, cmd: &str, argv: &[Vec<u8>], db: usize, keys: Changes) {
    let Changes {
        changed,
        expired,
        created,
    } = keys;
    for k in expired {
        notify(srv, EXPIRED, "expired", k, db);
    }
    // Sets, not scans: an MSET of a million keys stays linear.
    let mut unannounced: HashSet<&[u8]> = if srv.config.notify_flags() & NEW != 0 {
        created.iter().map(Vec::as_slice).collect()
    } else {
        HashSet::new()
    };
    let mut new_key = |srv: &mut Server, k: &[u8]| {
        if unannounced.remove(k) {
            notify(srv, NEW, "new", k, db);
        }
    };
    if matches!(cmd, "rename" | "renamenx") && argv.len() == 3 {
        // renameGenericCommand: dbAdd of the destination (`new`), then
        // rename_from on the source and rename_to on the destination.
        if changed.iter().any(|k| *k == argv[2]) {
            new_key(srv, &argv[2]);
            notify(srv, GENERIC, "rename_from", &argv[1], db);
            notify(srv, GENERIC, "rename_to", &argv[2], db);
        }
        return;
    }
    let mut changed: Vec<Vec<u8>> = changed.to_vec();
    if matches!(cmd, "lmove" | "blmove" | "rpoplpush" | "brpoplpush") && argv.len() > 2 {
        // lmoveHandlePush notifies the destination before the source's pop.
        changed.sort_by_key(|k| *k != argv[2]);
    }
    let expired: HashSet<&[u8]> = expired.iter().map(Vec::as_slice).collect();
    let mut seen: HashSet<&[u8]> = HashSet::new();
    // Each argument's first position (the event can depend on it).
    let mut arg_pos: std::collections::HashMap<&[u8], usize> = Default::default();
    for (i, a) in argv.iter().enumerate().skip(1) {
        arg_pos.entry(a.as_slice()).or_insert(i);
    }
    for k in &changed {
        let exists = srv.ks.dbs[db].peek(k).is_some();
        // A key that only expired raised `expired` above; one the command
        // then wrote again raises the command's event too.
        if seen.contains(k.as_slice()) || (expired.contains(k.as_slice()) && !exists) {
            continue;
        }
        seen.insert(k);
        new_key(srv, k);
        let pos = arg_pos.get(k.as_slice()).copied().unwrap_or(0);
        // An expiry in the past, or a *STORE with an empty result, deletes
        // the key: only `del` is raised.
        let del_only = matches!(
            cmd,
            "expire"
                | "pexpire"
                | "expireat"
                | "pexpireat"
                | "getex"
                | "sinterstore"
                | "sunionstore"
                | "sdiffstore"
                | "zunionstore"
                | "zinterstore"
                | "zdiffstore"
                | "zrangestore"
                | "georadius"
                | "georadiusbymember"
                | "geosearchstore"
                | "bitop"
                | "sort"
                | "restore"
                | "restore-asking"
        );
        if let Some((class, event)) = event_for(cmd, argv, pos) {
            if !del_only || exists {
                notify(srv, class, event, k, db);
            }
        }
        // SET with an expiry, SETEX, PSETEX: `set`, then `expire`.
        let with_ttl = matches!(cmd, "setex" | "psetex")
            || (cmd == "set"
                && argv[3..].iter().any(|a| {
                    ["ex", "px", "exat", "pxat"]
                        .iter()
                        .any(|o| a.eq_ignore_ascii_case(o.as_bytes()))
                }));
        if with_ttl && exists {
            notify(srv, GENERIC, "expire", k, db);
        }
        // A collection the command emptied is deleted.
        if !exists && !matches!(cmd, "del" | "unlink" | "getdel") {
            notify(srv, GENERIC, "del", k, db);
        }
    }
}
