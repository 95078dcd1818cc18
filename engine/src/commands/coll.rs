//! What the collection families share: typed lookups that answer
//! WRONGTYPE as Redis does, writes that create a key on first use and
//! delete it when it becomes empty, and Redis's range/count argument rules.

use super::keys::lookup_read;
use super::{Ctx, WRONGTYPE};
use crate::protocol::Reply;
use crate::store::{Hash, List, Set, Stream, Value, ZSet};

/// A collection type stored in a [`Value`].
pub trait Coll: Sized {
    fn of(v: &Value) -> Option<&Self>;
    fn of_mut(v: &mut Value) -> Option<&mut Self>;
    fn wrap(self) -> Value;
    fn is_empty_coll(&self) -> bool;
}

macro_rules! coll {
    ($t:ty, $variant:ident) => {
        impl Coll for $t {
            fn of(v: &Value) -> Option<&Self> {
                match v {
                    Value::$variant(x) => Some(x.as_ref()),
                    _ => None,
                }
            }
            fn of_mut(v: &mut Value) -> Option<&mut Self> {
                match v {
                    Value::$variant(x) => Some(x.as_mut()),
                    _ => None,
                }
            }
            fn wrap(self) -> Value {
                Value::$variant(Box::new(self))
            }
            fn is_empty_coll(&self) -> bool {
                self.is_empty()
            }
        }
    };
}
coll!(List, List);
coll!(Set, Set);
coll!(ZSet, ZSet);

/// A hash is stored in place, not boxed.
impl Coll for Hash {
    fn of(v: &Value) -> Option<&Self> {
        match v {
            Value::Hash(h) => Some(h),
            _ => None,
        }
    }
    fn of_mut(v: &mut Value) -> Option<&mut Self> {
        match v {
            Value::Hash(h) => Some(h),
            _ => None,
        }
    }
    fn wrap(self) -> Value {
        Value::Hash(self)
    }
    fn is_empty_coll(&self) -> bool {
        self.is_empty()
    }
}

/// A stream is not deleted when it becomes empty (XDEL, XTRIM keep the key
/// and its groups).
impl Coll for Stream {
    fn of(v: &Value) -> Option<&Self> {
        match v {
            Value::Stream(x) => Some(x.as_ref()),
            _ => None,
        }
    }
    fn of_mut(v: &mut Value) -> Option<&mut Self> {
        match v {
            Value::Stream(x) => Some(x.as_mut()),
            _ => None,
        }
    }
    fn wrap(self) -> Value {
        Value::Stream(Box::new(self))
    }
    fn is_empty_coll(&self) -> bool {
        false
    }
}

pub fn wrongtype() -> Reply {
    Reply::err(WRONGTYPE)
}

/// `lookupKeyRead` + `checkType`: the value (counting a keyspace hit or
/// miss), `Ok(None)` if missing, WRONGTYPE if another type.
pub fn read<'a, T: Coll>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a T>, Reply> {
    let now = ctx.now;
    if !lookup_read(ctx, key, now) {
        return Ok(None);
    }
    match ctx.db().peek(key) {
        Some(e) => T::of(&e.value).map(Some).ok_or_else(wrongtype),
        None => Ok(None),
    }
}

/// `lookupKeyWrite` + `checkType`: does the key exist (no stats), or WRONGTYPE.
pub fn exists_for_write<T: Coll>(ctx: &mut Ctx, key: &[u8]) -> Result<bool, Reply> {
    let now = ctx.now;
    match ctx.db().get(key, now) {
        Some(e) => match T::of(&e.value) {
            Some(_) => Ok(true),
            None => Err(wrongtype()),
        },
        None => Ok(false),
    }
}

/// Like [`read`] but without statistics or access time (`lookupKeyWrite`).
pub fn peek_for_write<'a, T: Coll>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a T>, Reply> {
    let now = ctx.now;
    match ctx.db().get(key, now) {
        Some(e) => T::of(&e.value).map(Some).ok_or_else(wrongtype),
        None => Ok(None),
    }
}

/// Applies `f` to the collection at `key`, creating it with `create` when
/// missing (or answering `Ok(None)` when `create` is `None`), deleting the
/// key if `f` leaves it empty. WRONGTYPE for another type.
pub fn write<T: Coll, R>(
    ctx: &mut Ctx,
    key: &[u8],
    create: Option<fn() -> T>,
    f: impl FnOnce(&mut T) -> R,
) -> Result<Option<R>, Reply> {
    write_if(ctx, key, create, |t| (f(t), true))
}

/// [`write`] where `f` also says whether it changed the collection; a
/// no-op (SADD of a member already there…) is not signalled as a change.
/// A key created for a no-op is removed again.
pub fn write_if<T: Coll, R>(
    ctx: &mut Ctx,
    key: &[u8],
    create: Option<fn() -> T>,
    f: impl FnOnce(&mut T) -> (R, bool),
) -> Result<Option<R>, Reply> {
    write_with(ctx, key, create, f)
}

/// [`write_if`] with any constructor (a set's encoding is chosen by its
/// first member). One key lookup when the key exists: the type is checked
/// where `f` is applied, WRONGTYPE changing nothing.
pub fn write_with<T: Coll, R>(
    ctx: &mut Ctx,
    key: &[u8],
    create: Option<impl FnOnce() -> T>,
    f: impl FnOnce(&mut T) -> (R, bool),
) -> Result<Option<R>, Reply> {
    let now = ctx.now;
    let db = ctx.db();
    let mut f = Some(f);
    let mut empty = false;
    let mut apply = |v: &mut Value| match T::of_mut(v) {
        None => (Err(wrongtype()), false),
        Some(t) => {
            let f = f.take().expect("applied once");
            let (r, changed) = f(t);
            empty = t.is_empty_coll();
            (Ok(r), changed)
        }
    };
    let r = match db.modify_if(key, now, &mut apply) {
        Some(r) => r?,
        None => {
            let Some(new) = create else {
                return Ok(None);
            };
            db.set(key, new().wrap(), now, false);
            db.modify_if(key, now, &mut apply)
                .expect("the key was just set")?
        }
    };
    if empty {
        db.remove(key);
    }
    Ok(Some(r))
}

/// Stores `value` at `key` (a *STORE result): an empty collection deletes
/// the key instead. Any TTL on the key is dropped.
pub fn store<T: Coll>(ctx: &mut Ctx, key: &[u8], value: T) {
    let now = ctx.now;
    let db = ctx.db();
    if value.is_empty_coll() {
        db.remove(key);
    } else {
        db.set(key, value.wrap(), now, false);
    }
}

/// Normalises a start/end index pair against `len` as LRANGE, ZRANGE and
/// friends do: negative counts from the end; `None` when the range is empty.
pub fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return None;
    }
    if end >= len {
        end = len - 1;
    }
    Some((start as usize, end as usize))
}

/// `getPositiveLongFromObjectOrReply`: a non-negative integer, or one
/// error for both a non-integer and a negative number (`msg`, or Redis's
/// default).
pub fn positive(b: &[u8], msg: Option<&str>) -> Result<usize, Reply> {
    match crate::protocol::request::parse_i64_strict(b) {
        Some(n) if n >= 0 => Ok(n as usize),
        _ => Err(Reply::err(format!(
            "ERR {}",
            msg.unwrap_or("value is out of range, must be positive")
        ))),
    }
}

/// The reply to a SCAN-family page over an in-memory list of elements:
/// a listpack/intset/small collection answers everything at cursor 0.
pub fn scan_reply(cursor: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(cursor.to_string().into_bytes()),
        Reply::Array(items),
    ])
}

/// SSCAN/HSCAN/ZSCAN options (after the cursor), parsed as
/// `scanGenericCommand` does: COUNT ≥ 1, MATCH; TYPE is a syntax error.
pub struct ScanOpts {
    pub count: usize,
    pub pattern: Option<Vec<u8>>,
}

/// `parseScanCursorOrReply`: C's `strtoul` with no leading space, nothing
/// after the digits, no overflow — so "" is cursor 0 and "-1" wraps.
pub fn parse_cursor(b: &[u8]) -> Result<u64, Reply> {
    let invalid = || Reply::err("ERR invalid cursor");
    if b.is_empty() {
        return Ok(0);
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let mut v: u64 = 0;
    for d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add((d - b'0') as u64))
            .ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

pub fn parse_scan_opts(argv: &[Vec<u8>]) -> Result<ScanOpts, Reply> {
    let mut o = ScanOpts {
        count: 10,
        pattern: None,
    };
    let mut i = 0;
    while i < argv.len() {
        let more = argv.len() - i;
        if super::eq_ic(&argv[i], "count") && more >= 2 {
            match crate::protocol::request::parse_i64_strict(&argv[i + 1]) {
                Some(n) if n >= 1 => o.count = n as usize,
                Some(_) => return Err(super::err_syntax()),
                None => return Err(super::err_not_int()),
            }
            i += 2;
        } else if super::eq_ic(&argv[i], "match") && more >= 2 {
            let p = argv[i + 1].clone();
            o.pattern = (p.as_slice() != b"*").then_some(p);
            i += 2;
        } else {
            return Err(super::err_syntax());
        }
    }
    Ok(o)
}

impl ScanOpts {
    pub fn matches(&self, e: &[u8]) -> bool {
        self.pattern
            .as_ref()
            .is_none_or(|p| p == b"*" || crate::glob::glob_match(p, e, false))
    }
}

/// One page over a table-encoded collection of `len` elements, walking
/// positions from high to low (a removal only moves the last element into
/// the hole, so a full iteration misses nothing present throughout).
/// `visit(i)` returns the reply items for position `i` (the element first)
/// or nothing if filtered out.
pub fn scan_table(
    cursor: u64,
    len: usize,
    opts: &ScanOpts,
    mut visit: impl FnMut(usize) -> Vec<Reply>,
) -> Reply {
    let mut next = if cursor == 0 {
        len as u64
    } else {
        cursor.min(len as u64)
    };
    let mut out = Vec::new();
    let mut steps = 0;
    while next > 0 && steps < opts.count {
        out.extend(visit((next - 1) as usize));
        next -= 1;
        steps += 1;
    }
    scan_reply(next, out)
}

/// The arguments LMPOP/BLMPOP and ZMPOP/BZMPOP share: `numkeys key…
/// <end> [COUNT n]` from `numkeys_at`, where `end` is one of `ends`
/// (case-insensitive); the timeout of the blocking forms (at 1) is read
/// last, as Redis does. Returns (keys, index of the end, count, deadline).
pub struct MpopArgs<'a> {
    pub keys: &'a [Vec<u8>],
    pub end: usize,
    pub count: usize,
    pub deadline: Option<Option<crate::time::Millis>>,
}

pub fn parse_mpop<'a>(
    argv: &'a [Vec<u8>],
    numkeys_at: usize,
    ends: [&str; 2],
    blocking: bool,
    now: crate::time::Millis,
) -> Result<MpopArgs<'a>, Reply> {
    let numkeys = match crate::protocol::request::parse_i64_strict(&argv[numkeys_at]) {
        Some(n) if n >= 1 => n as usize,
        _ => return Err(Reply::err("ERR numkeys should be greater than 0")),
    };
    let where_at = numkeys_at.saturating_add(numkeys).saturating_add(1);
    if where_at >= argv.len() {
        return Err(super::err_syntax());
    }
    let end = ends
        .iter()
        .position(|e| super::eq_ic(&argv[where_at], e))
        .ok_or_else(super::err_syntax)?;
    let mut count: Option<usize> = None;
    let mut j = where_at + 1;
    while j < argv.len() {
        if count.is_none() && super::eq_ic(&argv[j], "count") && j + 1 < argv.len() {
            j += 1;
            match crate::protocol::request::parse_i64_strict(&argv[j]) {
                Some(n) if n >= 1 => count = Some(n as usize),
                _ => return Err(Reply::err("ERR count should be greater than 0")),
            }
        } else {
            return Err(super::err_syntax());
        }
        j += 1;
    }
    let deadline = if blocking {
        Some(super::blocking::parse_timeout(&argv[1], now)?)
    } else {
        None
    };
    Ok(MpopArgs {
        keys: &argv[numkeys_at + 1..where_at],
        end,
        count: count.unwrap_or(1),
        deadline,
    })
}

/// HRANDFIELD / SRANDMEMBER / ZRANDMEMBER's count: `(count, unique)`;
/// `with` is whether WITHVALUES/WITHSCORES was given (`with_word`, at 3).
pub fn parse_rand_count(argv: &[Vec<u8>], with_word: &str) -> Result<(usize, bool, bool), Reply> {
    let l = match super::parse_int(&argv[2]) {
        Ok(i64::MIN) => {
            return Err(Reply::err(
                "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            ))
        }
        Ok(n) => n,
        Err(e) => return Err(e),
    };
    let with = argv.len() == 4;
    if argv.len() > 4 || (with && !super::eq_ic(&argv[3], with_word)) {
        return Err(super::err_syntax());
    }
    if with && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return Err(Reply::err("ERR value is out of range"));
    }
    // A negative count repeats members: Redis would build a reply of that
    // many elements (-2^63 of them) until it ran out of memory. cachelab
    // refuses a reply that large, so one client cannot take the node down.
    if l < 0 && l.unsigned_abs() > crate::limits::MAX_RANDOM_REPLY {
        return Err(Reply::err("ERR value is out of range"));
    }
    Ok((l.unsigned_abs() as usize, l >= 0, with))
}

/// Which positions of a `size`-element collection a random-member command
/// returns: `count` draws with repetition (negative count, or 1), the whole
/// collection (count ≥ size), or `count` distinct positions — in order for
/// a listpack (`lpRandomPairsUnique`), shuffled otherwise.
pub fn rand_positions(
    rng: &mut crate::rng::Rng,
    size: usize,
    count: usize,
    unique: bool,
    keep_order: bool,
) -> Vec<usize> {
    if count == 0 || size == 0 {
        return Vec::new();
    }
    if !unique || count == 1 {
        return (0..count).map(|_| rng.below(size)).collect();
    }
    if count >= size {
        return (0..size).collect();
    }
    let mut picked: Vec<usize> = (0..size).collect();
    for i in 0..count {
        let j = i + rng.below(size - i);
        picked.swap(i, j);
    }
    picked.truncate(count);
    if keep_order {
        picked.sort_unstable();
    }
    picked
}
