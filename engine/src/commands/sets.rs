//! Set commands: SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP
//! SRANDMEMBER SMOVE SINTER SINTERCARD SINTERSTORE SUNION SUNIONSTORE SDIFF
//! SDIFFSTORE SSCAN, as t_set.c in Redis 7.0 answers them.

use super::coll::{self, parse_cursor, parse_scan_opts, scan_reply, scan_table, wrongtype};
use super::{err_syntax, Ctx, Handler};
use crate::protocol::Reply;
use crate::store::{Set, Value};

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "sadd" => sadd,
        "srem" => srem,
        "smembers" => |c, a| sinter(c, &a[1..], None),
        "sismember" => sismember,
        "smismember" => smismember,
        "scard" => scard,
        "spop" => spop,
        "srandmember" => srandmember,
        "smove" => smove,
        "sinter" => |c, a| sinter(c, &a[1..], None),
        "sinterstore" => |c, a| sinter(c, &a[2..], Some(&a[1])),
        "sintercard" => sintercard,
        "sunion" => |c, a| union_diff(c, &a[1..], None, false),
        "sunionstore" => |c, a| union_diff(c, &a[2..], Some(&a[1]), false),
        "sdiff" => |c, a| union_diff(c, &a[1..], None, true),
        "sdiffstore" => |c, a| union_diff(c, &a[2..], Some(&a[1]), true),
        "sscan" => sscan,
        _ => return None,
    })
}

fn sadd(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let lim = ctx.srv.config.encoding_limits();
    let first = argv[2].clone();
    let create = Set::for_member(&first);
    // `write` takes a constructor; the first member decides the encoding.
    let mut slot = Some(create);
    let r = write_set(ctx, &argv[1], &mut slot, |s| {
        let n = argv[2..].iter().filter(|m| s.add(m, &lim)).count();
        (n, n > 0)
    });
    match r {
        Ok(n) => Reply::Int(n.unwrap_or(0) as i64),
        Err(e) => e,
    }
}

/// [`coll::write`] for sets, creating the key from `create` when missing.
fn write_set<R>(
    ctx: &mut Ctx,
    key: &[u8],
    create: &mut Option<Set>,
    f: impl FnOnce(&mut Set) -> (R, bool),
) -> Result<Option<R>, Reply> {
    coll::write_with(ctx, key, create.take().map(|s| move || s), f)
}

fn srem(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let r = coll::write_if(ctx, &argv[1], None, |s: &mut Set| {
        let mut n = 0;
        for m in &argv[2..] {
            if s.remove(m) {
                n += 1;
                if s.is_empty() {
                    break;
                }
            }
        }
        (n, n > 0)
    });
    match r {
        Ok(n) => Reply::Int(n.unwrap_or(0)),
        Err(e) => e,
    }
}

fn sismember(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match coll::read::<Set>(ctx, &argv[1]) {
        Ok(s) => Reply::Int(s.is_some_and(|s| s.contains(&argv[2])) as i64),
        Err(e) => e,
    }
}

fn smismember(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match coll::read::<Set>(ctx, &argv[1]) {
        Ok(s) => Reply::Array(
            argv[2..]
                .iter()
                .map(|m| Reply::Int(s.is_some_and(|s| s.contains(m)) as i64))
                .collect(),
        ),
        Err(e) => e,
    }
}

fn scard(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match coll::read::<Set>(ctx, &argv[1]) {
        Ok(s) => Reply::Int(s.map_or(0, |s| s.len()) as i64),
        Err(e) => e,
    }
}

fn bulks(ms: Vec<Vec<u8>>) -> Vec<Reply> {
    ms.into_iter().map(Reply::Bulk).collect()
}

fn spop(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if argv.len() > 3 {
        return err_syntax();
    }
    let count = if argv.len() == 3 {
        match coll::positive(&argv[2], None) {
            Ok(n) => Some(n),
            Err(e) => return e,
        }
    } else {
        None
    };
    let lim = ctx.srv.config.encoding_limits();
    let size = match coll::peek_for_write::<Set>(ctx, &argv[1]) {
        Err(e) => return e,
        Ok(None) => {
            return if count.is_some() {
                Reply::Set(Vec::new())
            } else {
                Reply::Nil
            }
        }
        Ok(Some(s)) => s.len(),
    };
    let Some(count) = count else {
        let i = ctx.srv.rng.below(size);
        let r = coll::write(ctx, &argv[1], None, |s: &mut Set| {
            let m = s.get_index(i).expect("index below len");
            s.remove(&m);
            m
        });
        return match r {
            Ok(Some(m)) => Reply::Bulk(m),
            Ok(None) => Reply::Nil,
            Err(e) => e,
        };
    };
    if count == 0 {
        return Reply::Set(Vec::new());
    }
    if count >= size {
        // The whole set, in the order of a union into a fresh intset-first set.
        let all = coll::peek_for_write::<Set>(ctx, &argv[1])
            .ok()
            .flatten()
            .map(|s| Set::from_members(s.members(), &lim).members())
            .unwrap_or_default();
        ctx.db().remove(&argv[1]);
        return Reply::Set(bulks(all));
    }
    let remaining = size - count;
    let rng_seed = ctx.srv.rng.next_u64();
    let r = coll::write(ctx, &argv[1], None, |s: &mut Set| {
        let mut rng = crate::rng::Rng::new(rng_seed);
        if remaining * 5 > count {
            let mut out = Vec::with_capacity(count);
            for _ in 0..count {
                let m = s.get_index(rng.below(s.len())).expect("index below len");
                s.remove(&m);
                out.push(m);
            }
            out
        } else {
            // Keep `remaining` random members in a new set; return the rest.
            let mut kept = Vec::with_capacity(remaining);
            for _ in 0..remaining {
                let m = s.get_index(rng.below(s.len())).expect("index below len");
                s.remove(&m);
                kept.push(m);
            }
            let popped = s.members();
            *s = Set::from_members(kept, &lim);
            popped
        }
    });
    match r {
        Ok(v) => Reply::Set(bulks(v.unwrap_or_default())),
        Err(e) => e,
    }
}

fn srandmember(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if argv.len() > 3 {
        return err_syntax();
    }
    if argv.len() == 2 {
        let s = match coll::read::<Set>(ctx, &argv[1]) {
            Ok(Some(s)) => s.clone(),
            Ok(None) => return Reply::Nil,
            Err(e) => return e,
        };
        let i = ctx.srv.rng.below(s.len());
        return s.get_index(i).map(Reply::Bulk).unwrap_or(Reply::Nil);
    }
    let (count, uniq, _) = match coll::parse_rand_count(argv, "") {
        Ok(c) => c,
        Err(e) => return e,
    };
    let s = match coll::read::<Set>(ctx, &argv[1]) {
        Ok(Some(s)) => s.clone(),
        Ok(None) => return Reply::Array(Vec::new()),
        Err(e) => return e,
    };
    Reply::Array(
        coll::rand_positions(&mut ctx.srv.rng, s.len(), count, uniq, false)
            .into_iter()
            .map(|i| Reply::Bulk(s.get_index(i).expect("index below len")))
            .collect(),
    )
}

fn smove(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let (src, dst, m) = (&argv[1], &argv[2], &argv[3]);
    let lim = ctx.srv.config.encoding_limits();
    let now = ctx.now;
    let src_is_set = match ctx.db().get(src, now) {
        None => return Reply::Int(0),
        Some(e) => matches!(e.value, Value::Set(_)),
    };
    let dst_kind = ctx
        .db()
        .get(dst, now)
        .map(|e| matches!(e.value, Value::Set(_)));
    if !src_is_set || dst_kind == Some(false) {
        return wrongtype();
    }
    if src == dst {
        let has = coll::peek_for_write::<Set>(ctx, src)
            .ok()
            .flatten()
            .is_some_and(|s| s.contains(m));
        return Reply::Int(has as i64);
    }
    let removed = matches!(
        coll::write_if(ctx, src, None, |s: &mut Set| {
            let r = s.remove(m);
            (r, r)
        }),
        Ok(Some(true))
    );
    if !removed {
        return Reply::Int(0);
    }
    let mut create = Some(Set::for_member(m));
    match write_set(ctx, dst, &mut create, |s| {
        let added = s.add(m, &lim);
        (added, added)
    }) {
        Ok(_) => Reply::Int(1),
        Err(e) => e,
    }
}

/// The sets at `keys` (read lookups); `None` for a missing key.
fn load_sets(ctx: &mut Ctx, keys: &[Vec<u8>]) -> Result<Vec<Option<Set>>, Reply> {
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        out.push(coll::read::<Set>(ctx, k)?.cloned());
    }
    Ok(out)
}

/// SINTER / SINTERSTORE / SMEMBERS.
fn sinter(ctx: &mut Ctx, keys: &[Vec<u8>], dst: Option<&Vec<u8>>) -> Reply {
    let lim = ctx.srv.config.encoding_limits();
    let sets = match load_sets(ctx, keys) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let result = intersect(&sets, 0);
    match dst {
        Some(d) => {
            let out = Set::from_members(result, &lim);
            let n = out.len();
            coll::store(ctx, d, out);
            Reply::Int(n as i64)
        }
        None => Reply::Set(bulks(result)),
    }
}

/// Members of the smallest set present in every other (up to `limit`, 0 = all).
fn intersect(sets: &[Option<Set>], limit: usize) -> Vec<Vec<u8>> {
    if sets.iter().any(Option::is_none) {
        return Vec::new();
    }
    let mut sets: Vec<&Set> = sets.iter().flatten().collect();
    sets.sort_by_key(|s| s.len());
    let mut out = Vec::new();
    for m in sets[0].members() {
        if sets[1..].iter().all(|s| s.contains(&m)) {
            out.push(m);
            if limit > 0 && out.len() >= limit {
                break;
            }
        }
    }
    out
}

fn sintercard(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let numkeys = match crate::protocol::request::parse_i64_strict(&argv[1]) {
        Some(n) if n >= 1 => n as usize,
        _ => return Reply::err("ERR numkeys should be greater than 0"),
    };
    if numkeys > argv.len() - 2 {
        return Reply::err("ERR Number of keys can't be greater than number of args");
    }
    let mut limit = 0usize;
    let mut j = 2 + numkeys;
    while j < argv.len() {
        if super::eq_ic(&argv[j], "limit") && j + 1 < argv.len() {
            j += 1;
            match coll::positive(&argv[j], Some("LIMIT can't be negative")) {
                Ok(n) => limit = n,
                Err(e) => return e,
            }
        } else {
            return err_syntax();
        }
        j += 1;
    }
    let sets = match load_sets(ctx, &argv[2..2 + numkeys]) {
        Ok(s) => s,
        Err(e) => return e,
    };
    Reply::Int(intersect(&sets, limit).len() as i64)
}

fn union_diff(ctx: &mut Ctx, keys: &[Vec<u8>], dst: Option<&Vec<u8>>, diff: bool) -> Reply {
    let lim = ctx.srv.config.encoding_limits();
    let sets = match load_sets(ctx, keys) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let mut out = Set::Intset {
        ints: Vec::new(),
        width: 2,
    };
    if !diff {
        for s in sets.iter().flatten() {
            for m in s.members() {
                out.add(&m, &lim);
            }
        }
    } else if let Some(first) = &sets[0] {
        let sameset = keys[1..].iter().any(|k| *k == keys[0]);
        // Redis picks one of two algorithms by estimated work; the second
        // copies the first set whole before removing, which can leave the
        // result a hashtable although only integers remain.
        let present = sets.iter().flatten().count();
        let one = first.len() * present / 2;
        let two: usize = sets.iter().flatten().map(Set::len).sum();
        if sameset {
            // SDIFF k … k: nothing survives.
        } else if one <= two {
            for m in first.members() {
                if !sets[1..].iter().flatten().any(|s| s.contains(&m)) {
                    out.add(&m, &lim);
                }
            }
        } else {
            for m in first.members() {
                out.add(&m, &lim);
            }
            for s in sets[1..].iter().flatten() {
                if out.is_empty() {
                    break;
                }
                for m in s.members() {
                    out.remove(&m);
                }
            }
        }
    }
    match dst {
        Some(d) => {
            let n = out.len();
            coll::store(ctx, d, out);
            Reply::Int(n as i64)
        }
        None => Reply::Set(bulks(out.members())),
    }
}

fn sscan(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let cursor = match parse_cursor(&argv[2]) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let s = match coll::read::<Set>(ctx, &argv[1]) {
        Ok(Some(s)) => s,
        Ok(None) => return scan_reply(0, Vec::new()),
        Err(e) => return e,
    };
    let opts = match parse_scan_opts(&argv[3..]) {
        Ok(o) => o,
        Err(e) => return e,
    };
    match s {
        Set::Intset { ints, .. } => scan_reply(
            0,
            ints.iter()
                .map(|v| v.to_string().into_bytes())
                .filter(|m| opts.matches(m))
                .map(Reply::Bulk)
                .collect(),
        ),
        Set::Table { members, .. } => scan_table(cursor, members.len(), &opts, |i| {
            let m = members.get_index(i).expect("index below len");
            if opts.matches(m) {
                vec![Reply::bulk(m)]
            } else {
                Vec::new()
            }
        }),
    }
}
