//! List commands: LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET
//! LINSERT LREM LTRIM LPOS LMOVE RPOPLPUSH LMPOP and the blocking BLPOP BRPOP
//! BLMOVE BRPOPLPUSH BLMPOP, as t_list.c in Redis 7.0 answers them.

use super::blocking::{self, BlockOp};
use super::coll::{self, clamp_range, Coll};
use super::{eq_ic, err_syntax, parse_int, Ctx, Handler};
use crate::protocol::Reply;
use crate::store::List;

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "lpush" => |c, a| push(c, a, true, false),
        "rpush" => |c, a| push(c, a, false, false),
        "lpushx" => |c, a| push(c, a, true, true),
        "rpushx" => |c, a| push(c, a, false, true),
        "lpop" => |c, a| pop(c, a, true),
        "rpop" => |c, a| pop(c, a, false),
        "llen" => llen,
        "lrange" => lrange,
        "lindex" => lindex,
        "lset" => lset,
        "linsert" => linsert,
        "lrem" => lrem,
        "ltrim" => ltrim,
        "lpos" => lpos,
        "lmove" => lmove,
        "rpoplpush" => |c, a| lmove_generic(c, &a[1], &a[2], false, true),
        "lmpop" => |c, a| lmpop(c, a, 1, false),
        "blpop" => |c, a| bpop(c, a, true),
        "brpop" => |c, a| bpop(c, a, false),
        "blmove" => blmove,
        "brpoplpush" => brpoplpush,
        "blmpop" => |c, a| lmpop(c, a, 2, true),
        _ => return None,
    })
}

fn bulks(v: Vec<Vec<u8>>) -> Reply {
    Reply::Array(v.into_iter().map(Reply::Bulk).collect())
}

/// `getLongFromObjectOrReply`.
fn long(b: &[u8]) -> Result<i64, Reply> {
    parse_int(b)
}

fn push(ctx: &mut Ctx, argv: &[Vec<u8>], left: bool, xx: bool) -> Reply {
    let create = if xx {
        None
    } else {
        Some(List::new as fn() -> List)
    };
    let r = coll::write(ctx, &argv[1], create, |l: &mut List| {
        for e in &argv[2..] {
            if left {
                l.push_front(e.clone());
            } else {
                l.push_back(e.clone());
            }
        }
        l.len()
    });
    match r {
        Ok(n) => Reply::Int(n.unwrap_or(0) as i64),
        Err(e) => e,
    }
}

/// Pops up to `count` elements from one end (in pop order).
fn take(l: &mut List, left: bool, count: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(count.min(l.len()));
    for _ in 0..count {
        match if left { l.pop_front() } else { l.pop_back() } {
            Some(e) => out.push(e),
            None => break,
        }
    }
    out
}

fn pop(ctx: &mut Ctx, argv: &[Vec<u8>], left: bool) -> Reply {
    if argv.len() > 3 {
        return super::wrong_args(if left { "lpop" } else { "rpop" });
    }
    let count = if argv.len() == 3 {
        match coll::positive(&argv[2], None) {
            Ok(n) => Some(n),
            Err(e) => return e,
        }
    } else {
        None
    };
    match coll::exists_for_write::<List>(ctx, &argv[1]) {
        Err(e) => return e,
        Ok(false) => {
            return if count.is_some() {
                Reply::NilArray
            } else {
                Reply::Nil
            }
        }
        Ok(true) => {}
    }
    if count == Some(0) {
        return Reply::Array(Vec::new());
    }
    let r = coll::write(ctx, &argv[1], None, |l: &mut List| {
        take(l, left, count.unwrap_or(1))
    });
    match (r, count) {
        (Ok(Some(v)), Some(_)) => bulks(v),
        (Ok(Some(mut v)), None) => v.pop().map(Reply::Bulk).unwrap_or(Reply::Nil),
        (Ok(None), _) => Reply::Nil,
        (Err(e), _) => e,
    }
}

fn llen(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match coll::read::<List>(ctx, &argv[1]) {
        Ok(l) => Reply::Int(l.map_or(0, |l| l.len()) as i64),
        Err(e) => e,
    }
}

fn lrange(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let (start, end) = match (long(&argv[2]), long(&argv[3])) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    match coll::read::<List>(ctx, &argv[1]) {
        Ok(Some(l)) => match clamp_range(start, end, l.len()) {
            Some((s, e)) => Reply::Array(l.items.range(s..=e).map(Reply::bulk).collect()),
            None => Reply::Array(Vec::new()),
        },
        Ok(None) => Reply::Array(Vec::new()),
        Err(e) => e,
    }
}

/// A list index (negative from the tail) resolved against `len`.
fn index(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { len as i64 + i } else { i };
    (0..len as i64).contains(&i).then_some(i as usize)
}

fn lindex(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let l = match coll::read::<List>(ctx, &argv[1]) {
        Ok(Some(l)) => l,
        Ok(None) => return Reply::Nil,
        Err(e) => return e,
    };
    let i = match long(&argv[2]) {
        Ok(i) => i,
        Err(e) => return e,
    };
    match index(i, l.len()) {
        Some(i) => Reply::bulk(&l.items[i]),
        None => Reply::Nil,
    }
}

fn lset(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match coll::exists_for_write::<List>(ctx, &argv[1]) {
        Err(e) => return e,
        Ok(false) => return Reply::err("ERR no such key"),
        Ok(true) => {}
    }
    let i = match long(&argv[2]) {
        Ok(i) => i,
        Err(e) => return e,
    };
    let r = coll::write(ctx, &argv[1], None, |l: &mut List| {
        match index(i, l.len()) {
            Some(i) => {
                l.replace(i, argv[3].clone());
                true
            }
            None => false,
        }
    });
    match r {
        Ok(Some(true)) => Reply::ok(),
        Ok(_) => Reply::err("ERR index out of range"),
        Err(e) => e,
    }
}

fn linsert(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let after = if eq_ic(&argv[2], "after") {
        true
    } else if eq_ic(&argv[2], "before") {
        false
    } else {
        return err_syntax();
    };
    let r = coll::write_if(ctx, &argv[1], None, |l: &mut List| {
        match l.items.iter().position(|e| *e == argv[3]) {
            Some(i) => {
                l.insert(if after { i + 1 } else { i }, argv[4].clone());
                (l.len() as i64, true)
            }
            None => (-1, false),
        }
    });
    match r {
        Ok(n) => Reply::Int(n.unwrap_or(0)),
        Err(e) => e,
    }
}

fn lrem(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let count = match long(&argv[2]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    match coll::write_if(ctx, &argv[1], None, |l: &mut List| {
        let n = l.remove_matching(&argv[3], count);
        (n, n > 0)
    }) {
        Ok(n) => Reply::Int(n.unwrap_or(0) as i64),
        Err(e) => e,
    }
}

fn ltrim(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let (start, end) = match (long(&argv[2]), long(&argv[3])) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    // Nothing to trim: Redis still signals the key (WATCH) and fires the
    // event, but the dirty counter does not move, so nothing replicates.
    let now = ctx.now;
    let len = match ctx
        .db()
        .get(&argv[1], now)
        .map(|e| List::of(&e.value).map(|l| l.len()))
    {
        Some(Some(n)) => Some(n),
        Some(None) => return Reply::err(super::WRONGTYPE),
        None => None,
    };
    if len.is_some_and(|n| n > 0 && clamp_range(start, end, n) == Some((0, n - 1))) {
        let db = ctx.db_index();
        super::multi::touch_watched(ctx.srv, db, &argv[1]);
        super::notify::notify(ctx.srv, super::notify::LIST, "ltrim", &argv[1], db);
        return Reply::ok();
    }
    let r = coll::write(ctx, &argv[1], None, |l: &mut List| {
        match clamp_range(start, end, l.len()) {
            Some((s, e)) => l.keep_range(s, e),
            None => l.keep_range(1, 0),
        }
    });
    match r {
        Ok(_) => Reply::ok(),
        Err(e) => e,
    }
}

fn lpos(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let mut rank: i64 = 1;
    let mut count: Option<usize> = None;
    let mut maxlen = 0usize;
    let mut j = 3;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        if eq_ic(&argv[j], "rank") && more {
            j += 1;
            rank = match long(&argv[j]) {
                Ok(0) => return Reply::err(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ),
                Ok(r) => r,
                Err(e) => return e,
            };
        } else if eq_ic(&argv[j], "count") && more {
            j += 1;
            count = match coll::positive(&argv[j], Some("COUNT can't be negative")) {
                Ok(n) => Some(n),
                Err(e) => return e,
            };
        } else if eq_ic(&argv[j], "maxlen") && more {
            j += 1;
            maxlen = match coll::positive(&argv[j], Some("MAXLEN can't be negative")) {
                Ok(n) => n,
                Err(e) => return e,
            };
        } else {
            return err_syntax();
        }
        j += 1;
    }
    let l = match coll::read::<List>(ctx, &argv[1]) {
        Ok(Some(l)) => l,
        Ok(None) => {
            return if count.is_some() {
                Reply::Array(Vec::new())
            } else {
                Reply::Nil
            }
        }
        Err(e) => return e,
    };
    let from_tail = rank < 0;
    let rank = rank.unsigned_abs();
    let len = l.len();
    let mut matches = 0u64;
    let mut found = Vec::new();
    for i in 0..len {
        if maxlen != 0 && i >= maxlen {
            break;
        }
        let at = if from_tail { len - 1 - i } else { i };
        if l.items[at] == argv[2] {
            matches += 1;
            if matches >= rank {
                found.push(Reply::Int(at as i64));
                match count {
                    None => break,
                    Some(c) if c != 0 && found.len() >= c => break,
                    _ => {}
                }
            }
        }
    }
    match count {
        Some(_) => Reply::Array(found),
        None => found.pop().unwrap_or(Reply::Nil),
    }
}

fn side(b: &[u8]) -> Result<bool, Reply> {
    if eq_ic(b, "left") {
        Ok(true)
    } else if eq_ic(b, "right") {
        Ok(false)
    } else {
        Err(err_syntax())
    }
}

fn lmove(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let (from, to) = match (side(&argv[3]), side(&argv[4])) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    lmove_generic(ctx, &argv[1], &argv[2], from, to)
}

fn lmove_generic(ctx: &mut Ctx, src: &[u8], dst: &[u8], from_left: bool, to_left: bool) -> Reply {
    match coll::exists_for_write::<List>(ctx, src) {
        Err(e) => return e,
        Ok(false) => return Reply::Nil,
        Ok(true) => {}
    }
    if let Err(e) = coll::exists_for_write::<List>(ctx, dst) {
        return e;
    }
    move_one(ctx, src, dst, from_left, to_left)
}

/// Pops from `src` (a non-empty list) and pushes onto `dst` (a list or missing).
fn move_one(ctx: &mut Ctx, src: &[u8], dst: &[u8], from_left: bool, to_left: bool) -> Reply {
    let v = match coll::write(ctx, src, None, |l: &mut List| take(l, from_left, 1)) {
        Ok(Some(mut v)) if !v.is_empty() => v.remove(0),
        Ok(_) => return Reply::Nil,
        Err(e) => return e,
    };
    let r = coll::write(ctx, dst, Some(List::new), |l: &mut List| {
        if to_left {
            l.push_front(v.clone());
        } else {
            l.push_back(v.clone());
        }
    });
    match r {
        Ok(_) => Reply::Bulk(v),
        Err(e) => e,
    }
}

/// LMPOP / BLMPOP: `numkeys_at` is the index of numkeys in argv.
fn lmpop(ctx: &mut Ctx, argv: &[Vec<u8>], numkeys_at: usize, blocking: bool) -> Reply {
    let a = match coll::parse_mpop(argv, numkeys_at, ["left", "right"], blocking, ctx.now) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let op = BlockOp::ListPop {
        left: a.end == 0,
        count: Some(a.count),
    };
    blocking::pop_or_block::<List>(ctx, a.keys, a.deadline, op)
}

/// BLPOP / BRPOP.
fn bpop(ctx: &mut Ctx, argv: &[Vec<u8>], left: bool) -> Reply {
    let deadline = match blocking::parse_timeout(&argv[argv.len() - 1], ctx.now) {
        Ok(d) => d,
        Err(e) => return e,
    };
    let keys = &argv[1..argv.len() - 1];
    let op = BlockOp::ListPop { left, count: None };
    blocking::pop_or_block::<List>(ctx, keys, Some(deadline), op)
}

fn blmove(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let (from, to) = match (side(&argv[3]), side(&argv[4])) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    blmove_generic(ctx, &argv[1], &argv[2], from, to, &argv[5])
}

fn brpoplpush(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    blmove_generic(ctx, &argv[1], &argv[2], false, true, &argv[3])
}

fn blmove_generic(
    ctx: &mut Ctx,
    src: &[u8],
    dst: &[u8],
    from_left: bool,
    to_left: bool,
    timeout: &[u8],
) -> Reply {
    let deadline = match blocking::parse_timeout(timeout, ctx.now) {
        Ok(d) => d,
        Err(e) => return e,
    };
    match coll::exists_for_write::<List>(ctx, src) {
        Err(e) => e,
        Ok(true) => lmove_generic(ctx, src, dst, from_left, to_left),
        Ok(false) if !blocking::may_block(ctx) => Reply::Nil,
        Ok(false) => blocking::block(
            ctx,
            &[src.to_vec()],
            deadline,
            BlockOp::ListMove {
                dst: dst.to_vec(),
                from_left,
                to_left,
            },
        ),
    }
}

/// Pops for a (possibly woken) BLPOP/BRPOP (`count` None: `[key, value]`)
/// or LMPOP/BLMPOP (`[key, [values…]]`) from `key`, a non-empty list.
pub fn serve_pop(ctx: &mut Ctx, key: &[u8], left: bool, count: Option<usize>) -> Reply {
    let r = coll::write(ctx, key, None, |l: &mut List| {
        take(l, left, count.unwrap_or(1))
    });
    let v = match r {
        Ok(Some(v)) => v,
        Ok(None) => return Reply::NilArray,
        Err(e) => return e,
    };
    match count {
        Some(_) => Reply::Array(vec![Reply::bulk(key), bulks(v)]),
        None => Reply::Array(
            std::iter::once(Reply::bulk(key))
                .chain(v.into_iter().map(Reply::Bulk))
                .collect(),
        ),
    }
}

/// BLMOVE/BRPOPLPUSH woken on `key`: the destination is checked first.
pub fn serve_move(ctx: &mut Ctx, key: &[u8], dst: &[u8], from_left: bool, to_left: bool) -> Reply {
    if let Err(e) = coll::exists_for_write::<List>(ctx, dst) {
        return e;
    }
    move_one(ctx, key, dst, from_left, to_left)
}
