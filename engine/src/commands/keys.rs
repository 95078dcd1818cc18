//! Generic key commands: DEL UNLINK EXISTS TYPE KEYS SCAN RANDOMKEY RENAME
//! RENAMENX COPY MOVE EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL EXPIRETIME
//! PEXPIRETIME PERSIST TOUCH DBSIZE FLUSHDB FLUSHALL OBJECT.

use super::{eq_ic, err_not_int, err_syntax, parse_int, Ctx, Handler};
use crate::glob::glob_match;
use crate::protocol::Reply;
use crate::time::Millis;
use crate::NodeEvent;

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "del" | "unlink" => del,
        "exists" => exists,
        "type" => type_,
        "keys" => keys,
        "scan" => scan,
        "randomkey" => randomkey,
        "rename" => rename,
        "renamenx" => renamenx,
        "copy" => copy,
        "move" => move_,
        "expire" => |c, a| expire(c, a, 1000, false),
        "pexpire" => |c, a| expire(c, a, 1, false),
        "expireat" => |c, a| expire(c, a, 1000, true),
        "pexpireat" => |c, a| expire(c, a, 1, true),
        "ttl" => |c, a| ttl(c, a, false, false),
        "pttl" => |c, a| ttl(c, a, true, false),
        "expiretime" => |c, a| ttl(c, a, false, true),
        "pexpiretime" => |c, a| ttl(c, a, true, true),
        "persist" => persist,
        "touch" => touch,
        "dbsize" => dbsize,
        "flushdb" => flushdb,
        "flushall" => flushall,
        "object|encoding" => object_encoding,
        "object|refcount" => object_refcount,
        "object|idletime" => object_idletime,
        "object|freq" => object_freq,
        "object|help" => |c, _| c.table.help["object"].clone(),
        _ => return None,
    })
}

fn del(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let now = ctx.now;
    // UNLINK (or DEL with lazyfree-lazy-user-del) frees big values "in the
    // background": counted as lazily freed, as `dbAsyncDelete` counts them.
    let lazy =
        eq_ic(&argv[0], "unlink") || ctx.srv.config.get("lazyfree-lazy-user-del") == Some("yes");
    let db = ctx.db();
    let mut n = 0;
    let mut lazily = 0;
    for k in &argv[1..] {
        if db.expire_if_needed(k, now) {
            continue;
        }
        if let Some(e) = db.remove(k) {
            n += 1;
            if lazy && e.value.free_effort() > 64 {
                lazily += 1;
            }
        }
    }
    ctx.srv.stats.lazyfreed_objects += lazily;
    Reply::Int(n)
}

/// FLUSHDB / FLUSHALL ASYNC (or lazyfree-lazy-user-flush): every key of
/// the flushed databases counts as lazily freed (`emptyDbAsync`).
fn count_lazy_flush(ctx: &mut Ctx, argv: &[Vec<u8>], dbs: std::ops::Range<usize>) {
    let lazy = match argv.get(1) {
        Some(a) => eq_ic(a, "async"),
        None => ctx.srv.config.get("lazyfree-lazy-user-flush") == Some("yes"),
    };
    if lazy {
        let keys: usize = dbs.map(|i| ctx.srv.ks.dbs[i].len()).sum();
        ctx.srv.stats.lazyfreed_objects += keys as u64;
    }
}

fn exists(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let now = ctx.now;
    let mut n = 0;
    for k in &argv[1..] {
        if lookup_read_notouch(ctx, k, now) {
            n += 1;
        }
    }
    Reply::Int(n)
}

/// `lookupKeyReadWithFlags(LOOKUP_NOTOUCH)` (EXISTS, TYPE, TTL and its
/// family): expires lazily and counts a hit or miss, but leaves the key's
/// access time and LFU counter alone.
pub fn lookup_read_notouch(ctx: &mut Ctx, key: &[u8], now: Millis) -> bool {
    let found = ctx.db().get(key, now).is_some();
    if found {
        ctx.srv.stats.keyspace_hits += 1;
    } else {
        ctx.srv.stats.keyspace_misses += 1;
    }
    found
}

/// A read lookup as Redis's `lookupKeyRead`: expires lazily, counts a hit or
/// miss, and touches the key's access time.
pub fn lookup_read(ctx: &mut Ctx, key: &[u8], now: Millis) -> bool {
    // Like Redis: the LFU counter moves only under an LFU policy.
    let factor = ctx.srv.config.lfu_policy().then(|| {
        let decay = ctx
            .srv
            .config
            .get("lfu-decay-time")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1u64);
        (ctx.srv.config.lfu_log_factor(), decay)
    });
    let i = ctx.db_index();
    let srv = &mut *ctx.srv;
    let found = srv.ks.dbs[i]
        .get_touch(key, now, factor, &mut srv.rng)
        .is_some();
    if found {
        srv.stats.keyspace_hits += 1;
    } else {
        srv.stats.keyspace_misses += 1;
    }
    found
}

fn type_(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let now = ctx.now;
    lookup_read_notouch(ctx, &argv[1], now);
    let t = ctx
        .db()
        .get(&argv[1], now)
        .map(|e| e.value.type_name())
        .unwrap_or("none");
    Reply::Simple(t.into())
}

fn keys(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let now = ctx.now;
    let pat = &argv[1];
    let all = pat.as_slice() == b"*";
    let db = ctx.db();
    let found: Vec<Reply> = db
        .live_keys(now)
        .filter(|k| all || glob_match(pat, k, false))
        .map(|k| Reply::Bulk(k.to_vec()))
        .collect();
    Reply::Array(found)
}

fn scan(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let cursor = match super::coll::parse_cursor(&argv[1]) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut typ: Option<String> = None;
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        if eq_ic(&argv[i], "count") && more >= 1 {
            match parse_int(&argv[i + 1]) {
                Ok(n) if n >= 1 => count = n as usize,
                Ok(_) => return err_syntax(),
                Err(e) => return e,
            }
            i += 2;
        } else if eq_ic(&argv[i], "match") && more >= 1 {
            pattern = Some(&argv[i + 1]);
            i += 2;
        } else if eq_ic(&argv[i], "type") && more >= 1 {
            typ = Some(String::from_utf8_lossy(&argv[i + 1]).to_ascii_lowercase());
            i += 2;
        } else {
            return err_syntax();
        }
    }
    let now = ctx.now;
    let page = ctx.db().scan(
        cursor,
        count,
        now,
        |k| pattern.is_none_or(|p| p == b"*" || glob_match(p, k, false)),
        |e| typ.as_deref().is_none_or(|t| e.value.type_name() == t),
    );
    Reply::Array(vec![
        Reply::Bulk(page.cursor.to_string().into_bytes()),
        Reply::Array(page.keys.into_iter().map(Reply::Bulk).collect()),
    ])
}

fn randomkey(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    let now = ctx.now;
    let i = ctx.db_index();
    let srv = &mut *ctx.srv;
    match srv.ks.dbs[i].random_key(now, &mut srv.rng) {
        Some(k) => Reply::Bulk(k),
        None => Reply::Nil,
    }
}

fn rename_generic(ctx: &mut Ctx, argv: &[Vec<u8>], nx: bool) -> Reply {
    let now = ctx.now;
    let (src, dst) = (&argv[1], &argv[2]);
    let db = ctx.db();
    if db.get(src, now).is_none() {
        return Reply::err("ERR no such key");
    }
    if src == dst {
        return if nx { Reply::Int(0) } else { Reply::ok() };
    }
    if db.get(dst, now).is_some() {
        if nx {
            return Reply::Int(0);
        }
        db.remove(dst);
    }
    let ttl = db.expire_at(src);
    let e = db.remove(src).expect("looked up above");
    db.set(dst, e.value, now, false);
    if let Some(at) = ttl {
        db.set_expire(dst, at);
    }
    let i = ctx.db_index();
    signal_new_key(ctx.srv, i, dst);
    if nx {
        Reply::Int(1)
    } else {
        Reply::ok()
    }
}

fn rename(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    rename_generic(ctx, argv, false)
}
fn renamenx(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    rename_generic(ctx, argv, true)
}

fn copy(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let now = ctx.now;
    let src_db = ctx.db_index();
    let mut dst_db = src_db;
    let mut replace = false;
    let mut i = 3;
    while i < argv.len() {
        if eq_ic(&argv[i], "replace") {
            replace = true;
            i += 1;
        } else if eq_ic(&argv[i], "db") && i + 1 < argv.len() {
            // Redis parses with getIntFromObjectOrReply, then checks the range.
            match parse_int(&argv[i + 1]) {
                Ok(n) if n >= i32::MIN as i64 && n <= i32::MAX as i64 => {
                    if n < 0 || n as usize >= ctx.srv.ks.dbs.len() {
                        return Reply::err("ERR DB index is out of range");
                    }
                    dst_db = n as usize;
                }
                _ => return err_not_int(),
            }
            i += 2;
        } else {
            return err_syntax();
        }
    }
    if ctx.srv.cluster.is_some() && (src_db != 0 || dst_db != 0) {
        return Reply::err("ERR Copying to another database is not allowed in cluster mode");
    }
    let (src, dst) = (&argv[1], &argv[2]);
    if src_db == dst_db && src == dst {
        return Reply::err("ERR source and destination objects are the same");
    }
    let dbs = &mut ctx.srv.ks.dbs;
    let Some(entry) = dbs[src_db].get(src, now) else {
        return Reply::Int(0);
    };
    let mut value = entry.value.clone();
    // dupStringObject: a shared integer becomes a private one; a raw string
    // gets a fresh sds with no spare capacity beyond the allocator's.
    match &mut value {
        crate::store::Value::Str(crate::store::StrValue::Int { shared, .. }) => *shared = false,
        crate::store::Value::Str(s @ crate::store::StrValue::Raw { .. }) => {
            *s = crate::store::StrValue::raw_new(s.to_bytes())
        }
        _ => {}
    }
    let ttl = dbs[src_db].expire_at(src);
    if dbs[dst_db].get(dst, now).is_some() {
        if !replace {
            return Reply::Int(0);
        }
        dbs[dst_db].remove(dst);
    }
    dbs[dst_db].set(dst, value, now, false);
    if let Some(at) = ttl {
        dbs[dst_db].set_expire(dst, at);
    }
    signal_new_key(ctx.srv, dst_db, dst);
    Reply::Int(1)
}

/// `dbAdd`'s `signalKeyAsReady`: a stream that appears under a key (RENAME,
/// COPY, MOVE, RESTORE) wakes the XREAD/XREADGROUP clients blocked on it.
pub(super) fn signal_new_key(srv: &mut crate::node::Server, db: usize, key: &[u8]) {
    let id = (db, key.to_vec());
    let is_stream = matches!(
        srv.ks.dbs[db].peek(key).map(|e| &e.value),
        Some(crate::store::Value::Stream(_))
    );
    if is_stream && srv.blocking.contains_key(&id) && !srv.stream_ready.contains(&id) {
        srv.stream_ready.push(id);
    }
}

fn move_(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if ctx.srv.cluster.is_some() {
        return Reply::err("ERR MOVE is not allowed in cluster mode");
    }
    let now = ctx.now;
    let src_db = ctx.db_index();
    let dst_db = match parse_int(&argv[2]) {
        Ok(n) if n >= i32::MIN as i64 && n <= i32::MAX as i64 => {
            if n < 0 || n as usize >= ctx.srv.ks.dbs.len() {
                return Reply::err("ERR DB index is out of range");
            }
            n as usize
        }
        _ => return err_not_int(),
    };
    if src_db == dst_db {
        return Reply::err("ERR source and destination objects are the same");
    }
    let dbs = &mut ctx.srv.ks.dbs;
    if dbs[src_db].get(&argv[1], now).is_none() {
        return Reply::Int(0);
    }
    if dbs[dst_db].get(&argv[1], now).is_some() {
        return Reply::Int(0);
    }
    let ttl = dbs[src_db].expire_at(&argv[1]);
    let e = dbs[src_db].remove(&argv[1]).expect("looked up above");
    dbs[dst_db].set(&argv[1], e.value, now, false);
    if let Some(at) = ttl {
        dbs[dst_db].set_expire(&argv[1], at);
    }
    signal_new_key(ctx.srv, dst_db, &argv[1]);
    Reply::Int(1)
}

const NX: u8 = 1;
const XX: u8 = 2;
const GT: u8 = 4;
const LT: u8 = 8;

fn expire(ctx: &mut Ctx, argv: &[Vec<u8>], unit_ms: i64, absolute: bool) -> Reply {
    let mut flags = 0u8;
    for a in &argv[3..] {
        flags |= match String::from_utf8_lossy(a).to_ascii_lowercase().as_str() {
            "nx" => NX,
            "xx" => XX,
            "gt" => GT,
            "lt" => LT,
            _ => {
                return Reply::err(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(a)
                ))
            }
        };
    }
    if flags & NX != 0 && flags & (XX | GT | LT) != 0 {
        return Reply::err("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if flags & GT != 0 && flags & LT != 0 {
        return Reply::err("ERR GT and LT options at the same time are not compatible");
    }
    let mut when = match parse_int(&argv[2]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
    let invalid = || Reply::err(format!("ERR invalid expire time in '{name}' command"));
    if unit_ms == 1000 {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return invalid();
        }
        when *= 1000;
    }
    let base = if absolute { 0 } else { ctx.now.0 as i64 };
    if when > i64::MAX - base {
        return invalid();
    }
    when += base;
    let now = ctx.now;
    let db = ctx.db();
    if db.get(&argv[1], now).is_none() {
        return Reply::Int(0);
    }
    let current = db.expire_at(&argv[1]).map(|m| m.0 as i64);
    if flags & NX != 0 && current.is_some() {
        return Reply::Int(0);
    }
    if flags & XX != 0 && current.is_none() {
        return Reply::Int(0);
    }
    if flags & GT != 0 && current.is_none_or(|c| when <= c) {
        return Reply::Int(0);
    }
    if flags & LT != 0 && current.is_some_and(|c| when >= c) {
        return Reply::Int(0);
    }
    if when <= now.0 as i64 {
        db.remove(&argv[1]);
    } else {
        db.set_expire(&argv[1], Millis(when as u64));
    }
    Reply::Int(1)
}

fn ttl(ctx: &mut Ctx, argv: &[Vec<u8>], ms: bool, absolute: bool) -> Reply {
    let now = ctx.now;
    if !lookup_read_notouch(ctx, &argv[1], now) {
        return Reply::Int(-2);
    }
    let db = ctx.db();
    let Some(at) = db.expire_at(&argv[1]) else {
        return Reply::Int(-1);
    };
    let v = if absolute {
        at.0 as i64
    } else {
        (at.0 as i64 - now.0 as i64).max(0)
    };
    Reply::Int(if ms { v } else { (v + 500) / 1000 })
}

fn persist(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let now = ctx.now;
    let db = ctx.db();
    if db.get(&argv[1], now).is_none() {
        return Reply::Int(0);
    }
    Reply::Int(db.persist(&argv[1]) as i64)
}

fn touch(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let now = ctx.now;
    let mut n = 0;
    for k in &argv[1..] {
        if lookup_read(ctx, k, now) {
            n += 1;
        }
    }
    // TOUCH does not count as a keyspace hit or miss in Redis (LOOKUP_NOSTATS
    // is not set, but it uses lookupKeyRead); keep counts as lookup_read set them.
    Reply::Int(n)
}

fn dbsize(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    Reply::Int(ctx.db().len() as i64)
}

fn flush_mode(argv: &[Vec<u8>]) -> Result<(), Reply> {
    match argv.len() {
        1 => Ok(()),
        2 if eq_ic(&argv[1], "async") || eq_ic(&argv[1], "sync") => Ok(()),
        _ => Err(err_syntax()),
    }
}

fn flushdb(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if let Err(e) = flush_mode(argv) {
        return e;
    }
    let i = ctx.db_index();
    super::multi::touch_all_watched(ctx.srv, i);
    // Client-side caching: every tracking client gets a null invalidation.
    super::tracking::flushed(ctx.srv);
    count_lazy_flush(ctx, argv, i..i + 1);
    ctx.db().clear();
    ctx.srv
        .repl
        .propagate_command(Some(i), vec![b"FLUSHDB".to_vec()]);
    ctx.events.push(NodeEvent::Flushed { db: Some(i) });
    Reply::ok()
}

fn flushall(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if let Err(e) = flush_mode(argv) {
        return e;
    }
    for i in 0..ctx.srv.ks.dbs.len() {
        super::multi::touch_all_watched(ctx.srv, i);
    }
    // Client-side caching: every tracking client gets a null invalidation.
    super::tracking::flushed(ctx.srv);
    let all = 0..ctx.srv.ks.dbs.len();
    count_lazy_flush(ctx, argv, all);
    for db in &mut ctx.srv.ks.dbs {
        db.clear();
    }
    // flushAllDataAndResetRDB: a background save in progress is dropped,
    // and with `save` points the (now empty) dump is written at once, so a
    // restart does not bring the flushed data back.
    super::persist::after_flushall(ctx.srv, ctx.now);
    ctx.srv
        .repl
        .propagate_command(None, vec![b"FLUSHALL".to_vec()]);
    ctx.events.push(NodeEvent::Flushed { db: None });
    Reply::ok()
}

/// OBJECT's lookup (`objectCommandLookup`): no access-time touch, but it
/// counts as a keyspace hit or miss.
fn object_entry<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Option<&'a crate::store::Entry> {
    let now = ctx.now;
    if ctx.db().get(key, now).is_some() {
        ctx.srv.stats.keyspace_hits += 1;
    } else {
        ctx.srv.stats.keyspace_misses += 1;
    }
    ctx.db().peek(key)
}

fn object_encoding(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match object_entry(ctx, &argv[2]) {
        Some(e) => Reply::bulk(e.value.encoding()),
        None => Reply::Nil,
    }
}

fn object_refcount(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match object_entry(ctx, &argv[2]) {
        Some(e) => Reply::Int(e.value.refcount()),
        None => Reply::Nil,
    }
}

fn object_idletime(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let now = ctx.now;
    let lfu = ctx.srv.config.lfu_policy();
    match object_entry(ctx, &argv[2]) {
        None => Reply::Nil,
        Some(_) if lfu => Reply::err(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        ),
        Some(e) => Reply::Int((e.atime.idle_ms(now) / 1000) as i64),
    }
}

fn object_freq(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let lfu = ctx.srv.config.lfu_policy();
    let now = ctx.now;
    let ctx_decay = ctx
        .srv
        .config
        .get("lfu-decay-time")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1u64);
    match object_entry(ctx, &argv[2]) {
        None => Reply::Nil,
        Some(_) if !lfu => Reply::err(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        ),
        Some(e) => {
            let decay = ctx_decay;
            Reply::Int(crate::evict::lfu_decayed(e, now, decay) as i64)
        }
    }
}
