//! String commands: GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX MGET MSET
//! MSETNX APPEND STRLEN GETRANGE SUBSTR SETRANGE INCR DECR INCRBY DECRBY
//! INCRBYFLOAT LCS.

use super::keys::lookup_read;
use super::{eq_ic, err_not_int, err_syntax, parse_int, Ctx, Handler};
use crate::protocol::Reply;
use crate::store::number::LongDouble;
use crate::store::{StrValue, Value};
use crate::time::Millis;

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "get" => get,
        "set" => set,
        "setnx" => setnx,
        "setex" => |c, a| setex(c, a, 1000),
        "psetex" => |c, a| setex(c, a, 1),
        "getset" => getset,
        "getdel" => getdel,
        "getex" => getex,
        "mget" => mget,
        "mset" => |c, a| mset(c, a, false),
        "msetnx" => |c, a| mset(c, a, true),
        "append" => append,
        "strlen" => strlen,
        "getrange" | "substr" => getrange,
        "setrange" => setrange,
        "incr" => |c, a| incr_by(c, &a[1], 1),
        "decr" => |c, a| incr_by(c, &a[1], -1),
        "incrby" => |c, a| match parse_int(&a[2]) {
            Ok(n) => incr_by(c, &a[1], n),
            Err(e) => e,
        },
        "decrby" => |c, a| match parse_int(&a[2]) {
            Ok(i64::MIN) => Reply::err("ERR decrement would overflow"),
            Ok(n) => incr_by(c, &a[1], -n),
            Err(e) => e,
        },
        "incrbyfloat" => incrbyfloat,
        "lcs" => lcs,
        _ => return None,
    })
}

/// The string at `key` (read lookup with stats), `Ok(None)` if missing,
/// `Err(WRONGTYPE)` if it is not a string (the match below is exhaustive, so
/// each new value type must decide here).
pub(super) fn read_str(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Vec<u8>>, Reply> {
    let now = ctx.now;
    if !lookup_read(ctx, key, now) {
        return Ok(None);
    }
    match ctx.db().peek(key).map(|e| &e.value) {
        Some(Value::Str(s)) => Ok(Some(s.to_bytes())),
        Some(_) => Err(Reply::err(super::WRONGTYPE)),
        None => Ok(None),
    }
}

fn bulk_or_nil(v: Option<Vec<u8>>) -> Reply {
    v.map(Reply::Bulk).unwrap_or(Reply::Nil)
}

fn get(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match read_str(ctx, &argv[1]) {
        Ok(v) => bulk_or_nil(v),
        Err(e) => e,
    }
}

/// A parsed expiry option of SET / GETEX.
#[derive(Clone, Copy, PartialEq)]
enum Expiry {
    None,
    At(Millis),
    KeepTtl,
    Persist,
}

/// Parses `EX|PX|EXAT|PXAT n` into an absolute time, with Redis's checks.
fn parse_expire_value(ctx: &Ctx, opt: &[u8], val: &[u8], cmd: &str) -> Result<Millis, Reply> {
    let n = parse_int(val)?;
    let invalid = || Reply::err(format!("ERR invalid expire time in '{cmd}' command"));
    let seconds = eq_ic(opt, "ex") || eq_ic(opt, "exat");
    if n <= 0 || (seconds && n > i64::MAX / 1000) {
        return Err(invalid());
    }
    let mut ms = if seconds { n * 1000 } else { n };
    if eq_ic(opt, "ex") || eq_ic(opt, "px") {
        ms = ms.wrapping_add(ctx.now.0 as i64);
    }
    if ms <= 0 {
        return Err(invalid());
    }
    Ok(Millis(ms as u64))
}

/// An expiry option and its value, as given (`EX`, `10`).
type ExpiryArg<'a> = (&'a [u8], &'a [u8]);

const F_NX: u16 = 1;
const F_XX: u16 = 2;
const F_GET: u16 = 4;
const F_KEEPTTL: u16 = 8;
const F_PERSIST: u16 = 16;
const F_EX: u16 = 32;
const F_PX: u16 = 64;
const F_EXAT: u16 = 128;
const F_PXAT: u16 = 256;

/// Redis's `parseExtendedStringArgumentsOrReply` for SET (`is_set`) and
/// GETEX: the flags and the last expiry option with its value. Repeating an
/// option is allowed; combining conflicting ones is a syntax error.
fn parse_extended(
    argv: &[Vec<u8>],
    start: usize,
    is_set: bool,
) -> Result<(u16, Option<ExpiryArg<'_>>), Reply> {
    let mut flags = 0u16;
    let mut expire = None;
    let mut j = start;
    while j < argv.len() {
        let a = argv[j].as_slice();
        let next = argv.get(j + 1);
        let expiry_flags =
            |f: u16| flags & (F_KEEPTTL | F_PERSIST | F_EX | F_PX | F_EXAT | F_PXAT) & !f == 0;
        let timed: Option<u16> = if eq_ic(a, "ex") {
            Some(F_EX)
        } else if eq_ic(a, "px") {
            Some(F_PX)
        } else if eq_ic(a, "exat") {
            Some(F_EXAT)
        } else if eq_ic(a, "pxat") {
            Some(F_PXAT)
        } else {
            None
        };
        if is_set && eq_ic(a, "nx") && flags & F_XX == 0 {
            flags |= F_NX;
        } else if is_set && eq_ic(a, "xx") && flags & F_NX == 0 {
            flags |= F_XX;
        } else if is_set && eq_ic(a, "get") {
            flags |= F_GET;
        } else if is_set && eq_ic(a, "keepttl") && expiry_flags(F_KEEPTTL) {
            flags |= F_KEEPTTL;
        } else if !is_set && eq_ic(a, "persist") && expiry_flags(F_PERSIST) {
            flags |= F_PERSIST;
        } else if let (Some(f), Some(v)) = (timed, next) {
            if !expiry_flags(f) {
                return Err(err_syntax());
            }
            flags |= f;
            expire = Some((a, v.as_slice()));
            j += 1;
        } else {
            return Err(err_syntax());
        }
        j += 1;
    }
    Ok((flags, expire))
}

fn set(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let (flags, expiry_opt) = match parse_extended(argv, 3, true) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let (nx, xx, want_get) = (flags & F_NX != 0, flags & F_XX != 0, flags & F_GET != 0);
    let mut expiry = if flags & F_KEEPTTL != 0 {
        Expiry::KeepTtl
    } else {
        Expiry::None
    };
    if let Some((opt, val)) = expiry_opt {
        match parse_expire_value(ctx, opt, val, "set") {
            Ok(at) => expiry = Expiry::At(at),
            Err(e) => return e,
        }
    }
    let key = &argv[1];
    let now = ctx.now;
    let old = if want_get {
        match read_str(ctx, key) {
            Ok(v) => v,
            Err(e) => return e,
        }
    } else {
        None
    };
    let exists = ctx.db().contains(key, now);
    if (nx && exists) || (xx && !exists) {
        return if want_get {
            bulk_or_nil(old)
        } else {
            Reply::Nil
        };
    }
    let share = ctx.srv.config.share_integers();
    let db = ctx.db();
    db.set(
        key,
        Value::Str(StrValue::from_bytes(&argv[2], share)),
        now,
        expiry == Expiry::KeepTtl,
    );
    if let Expiry::At(at) = expiry {
        db.set_expire(key, at);
    }
    if want_get {
        bulk_or_nil(old)
    } else {
        Reply::ok()
    }
}

fn setnx(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let now = ctx.now;
    let share = ctx.srv.config.share_integers();
    let db = ctx.db();
    if db.contains(&argv[1], now) {
        return Reply::Int(0);
    }
    db.set(
        &argv[1],
        Value::Str(StrValue::from_bytes(&argv[2], share)),
        now,
        false,
    );
    Reply::Int(1)
}

fn setex(ctx: &mut Ctx, argv: &[Vec<u8>], unit: i64) -> Reply {
    let name = if unit == 1000 { "setex" } else { "psetex" };
    let n = match parse_int(&argv[2]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let invalid = Reply::err(format!("ERR invalid expire time in '{name}' command"));
    if n <= 0 || (unit == 1000 && n > i64::MAX / 1000) {
        return invalid;
    }
    let ms = (n * unit).wrapping_add(ctx.now.0 as i64);
    if ms <= 0 {
        return invalid;
    }
    let now = ctx.now;
    let share = ctx.srv.config.share_integers();
    let db = ctx.db();
    db.set(
        &argv[1],
        Value::Str(StrValue::from_bytes(&argv[3], share)),
        now,
        false,
    );
    db.set_expire(&argv[1], Millis(ms as u64));
    Reply::ok()
}

fn getset(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let old = match read_str(ctx, &argv[1]) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let now = ctx.now;
    let share = ctx.srv.config.share_integers();
    ctx.db().set(
        &argv[1],
        Value::Str(StrValue::from_bytes(&argv[2], share)),
        now,
        false,
    );
    bulk_or_nil(old)
}

fn getdel(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match read_str(ctx, &argv[1]) {
        Ok(Some(v)) => {
            ctx.db().remove(&argv[1]);
            Reply::Bulk(v)
        }
        Ok(None) => Reply::Nil,
        Err(e) => e,
    }
}

fn getex(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let (flags, expiry_opt) = match parse_extended(argv, 2, false) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let mut expiry = if flags & F_PERSIST != 0 {
        Expiry::Persist
    } else {
        Expiry::None
    };
    // Redis looks the key up before validating the expiry value.
    let v = match read_str(ctx, &argv[1]) {
        Ok(Some(v)) => v,
        Ok(None) => return Reply::Nil,
        Err(e) => return e,
    };
    if let Some((opt, val)) = expiry_opt {
        match parse_expire_value(ctx, opt, val, "getex") {
            Ok(at) => expiry = Expiry::At(at),
            Err(e) => return e,
        }
    }
    let now = ctx.now;
    let db = ctx.db();
    match expiry {
        Expiry::At(at) if at <= now => {
            db.remove(&argv[1]);
        }
        Expiry::At(at) => db.set_expire(&argv[1], at),
        Expiry::Persist => {
            db.persist(&argv[1]);
        }
        _ => {}
    }
    Reply::Bulk(v)
}

fn mget(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let mut out = Vec::with_capacity(argv.len() - 1);
    for k in &argv[1..] {
        out.push(bulk_or_nil(read_str(ctx, k).unwrap_or(None)));
    }
    Reply::Array(out)
}

fn mset(ctx: &mut Ctx, argv: &[Vec<u8>], nx: bool) -> Reply {
    if argv.len().is_multiple_of(2) {
        return super::wrong_args(if nx { "msetnx" } else { "mset" });
    }
    let now = ctx.now;
    let share = ctx.srv.config.share_integers();
    let db = ctx.db();
    if nx && argv[1..].chunks(2).any(|kv| db.contains(&kv[0], now)) {
        return Reply::Int(0);
    }
    for kv in argv[1..].chunks(2) {
        db.set(
            &kv[0],
            Value::Str(StrValue::from_bytes(&kv[1], share)),
            now,
            false,
        );
    }
    if nx {
        Reply::Int(1)
    } else {
        Reply::ok()
    }
}

fn too_big() -> Reply {
    Reply::err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
}

fn append(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let now = ctx.now;
    let max = ctx.srv.config.proto_max_bulk_len();
    let share = ctx.srv.config.share_integers();
    let db = ctx.db();
    if db.get(&argv[1], now).is_none() {
        db.set(
            &argv[1],
            Value::Str(StrValue::from_bytes(&argv[2], share)),
            now,
            false,
        );
        return Reply::Int(argv[2].len() as i64);
    }
    let cur = match db.peek(&argv[1]).map(|e| &e.value) {
        Some(Value::Str(s)) => Some(s.len()),
        Some(_) => return Reply::err(super::WRONGTYPE),
        None => None,
    };
    if cur.unwrap_or(0) as u64 + argv[2].len() as u64 > max {
        return too_big();
    }
    let len = db.modify(&argv[1], now, |v| {
        let Value::Str(s) = v else { return 0 };
        s.make_raw().extend_from_slice(&argv[2]);
        s.note_growth();
        s.len()
    });
    Reply::Int(len.unwrap_or(0) as i64)
}

fn strlen(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let now = ctx.now;
    if !lookup_read(ctx, &argv[1], now) {
        return Reply::Int(0);
    }
    match ctx.db().peek(&argv[1]).map(|e| &e.value) {
        Some(Value::Str(s)) => Reply::Int(s.len() as i64),
        Some(_) => Reply::err(super::WRONGTYPE),
        None => Reply::Int(0),
    }
}

fn getrange(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let (mut start, mut end) = match (parse_int(&argv[2]), parse_int(&argv[3])) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let v = match read_str(ctx, &argv[1]) {
        Ok(Some(v)) => v,
        Ok(None) => return Reply::bulk(""),
        Err(e) => return e,
    };
    let len = v.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Reply::bulk("");
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return Reply::bulk("");
    }
    Reply::Bulk(v[start as usize..=end as usize].to_vec())
}

fn setrange(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let offset = match parse_int(&argv[2]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    if offset < 0 {
        return Reply::err("ERR offset is out of range");
    }
    let now = ctx.now;
    let max = ctx.srv.config.proto_max_bulk_len();
    let value = &argv[3];
    let db = ctx.db();
    let cur_len = match db.get(&argv[1], now).map(|e| &e.value) {
        Some(Value::Str(s)) => Some(s.len()),
        Some(_) => return Reply::err(super::WRONGTYPE),
        None => None,
    };
    if value.is_empty() {
        return Reply::Int(cur_len.unwrap_or(0) as i64);
    }
    if offset as u64 + value.len() as u64 > max {
        return too_big();
    }
    let offset = offset as usize;
    if cur_len.is_none() {
        let mut data = vec![0u8; offset + value.len()];
        data[offset..].copy_from_slice(value);
        db.set(&argv[1], Value::Str(StrValue::raw_new(data)), now, false);
        return Reply::Int((offset + value.len()) as i64);
    }
    let len = db.modify(&argv[1], now, |v| {
        let Value::Str(s) = v else { return 0 };
        let data = s.make_raw();
        if data.len() < offset + value.len() {
            data.resize(offset + value.len(), 0);
        }
        data[offset..offset + value.len()].copy_from_slice(value);
        s.note_growth();
        s.len()
    });
    Reply::Int(len.unwrap_or(0) as i64)
}

fn incr_by(ctx: &mut Ctx, key: &[u8], by: i64) -> Reply {
    let now = ctx.now;
    let share = ctx.srv.config.share_integers();
    let db = ctx.db();
    let cur = match db.get(key, now).map(|e| &e.value) {
        None => 0,
        Some(Value::Str(StrValue::Int { v, .. })) => *v,
        Some(Value::Str(s)) => match crate::protocol::request::parse_i64_strict(&s.to_bytes()) {
            Some(v) => v,
            None => return err_not_int(),
        },
        Some(_) => return Reply::err(super::WRONGTYPE),
    };
    let Some(new) = cur.checked_add(by) else {
        return Reply::err("ERR increment or decrement would overflow");
    };
    if db.peek(key).is_some() {
        db.modify(key, now, |v| *v = Value::Str(StrValue::int(new, share)));
    } else {
        db.set(key, Value::Str(StrValue::int(new, share)), now, false);
    }
    Reply::Int(new)
}

fn incrbyfloat(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let now = ctx.now;
    let not_float = || Reply::err("ERR value is not a valid float");
    let db = ctx.db();
    let cur = match db.get(&argv[1], now).map(|e| &e.value) {
        None => LongDouble::from_i64(0),
        Some(Value::Str(StrValue::Int { v, .. })) => LongDouble::from_i64(*v),
        Some(Value::Str(s)) => match LongDouble::parse(&s.to_bytes()) {
            Ok(v) => v,
            Err(_) => return not_float(),
        },
        Some(_) => return Reply::err(super::WRONGTYPE),
    };
    let Ok(incr) = LongDouble::parse(&argv[2]) else {
        return not_float();
    };
    let sum = match cur.add(&incr) {
        Some(s) if s.is_finite() => s,
        _ => return Reply::err("ERR increment would produce NaN or Infinity"),
    };
    let text = sum.to_human_string().into_bytes();
    let value = Value::Str(StrValue::embstr_or_raw(text.clone()));
    if db.peek(&argv[1]).is_some() {
        db.modify(&argv[1], now, |v| *v = value);
    } else {
        db.set(&argv[1], value, now, false);
    }
    Reply::Bulk(text)
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]: Redis's
/// dynamic-programming table (bounded by `proto-max-bulk-len`, as Redis
/// bounds it) and its backward walk, which emits matches last-first.
fn lcs(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let now = ctx.now;
    let side = |ctx: &mut Ctx, key: &[u8]| -> Result<Vec<u8>, ()> {
        if !lookup_read(ctx, key, now) {
            return Ok(Vec::new());
        }
        match ctx.db().peek(key).map(|e| &e.value) {
            Some(Value::Str(s)) => Ok(s.to_bytes()),
            Some(_) => Err(()),
            None => Ok(Vec::new()),
        }
    };
    let (a, b) = (side(ctx, &argv[1]), side(ctx, &argv[2]));
    let (Ok(a), Ok(b)) = (a, b) else {
        return Reply::err("ERR The specified keys must contain string values");
    };
    let (mut getlen, mut getidx, mut withmatchlen) = (false, false, false);
    let mut minmatchlen: i64 = 0;
    let mut j = 3;
    while j < argv.len() {
        let opt = &argv[j];
        let more = argv.len() - 1 - j;
        if eq_ic(opt, "idx") {
            getidx = true;
        } else if eq_ic(opt, "len") {
            getlen = true;
        } else if eq_ic(opt, "withmatchlen") {
            withmatchlen = true;
        } else if eq_ic(opt, "minmatchlen") && more > 0 {
            minmatchlen = match parse_int(&argv[j + 1]) {
                Ok(n) => n.max(0),
                Err(e) => return e,
            };
            j += 1;
        } else {
            return err_syntax();
        }
        j += 1;
    }
    if getlen && getidx {
        return Reply::err("ERR If you want both the length and indexes, please just use IDX.");
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells.saturating_mul(4) > ctx.srv.config.proto_max_bulk_len() {
        return Reply::err(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        );
    }
    let w = blen + 1;
    let mut t = vec![0u32; cells as usize];
    // Row by row over slices (no index arithmetic or bounds checks in the
    // inner loop): cell (i, j) from the row above and the cell to its left.
    for i in 1..=alen {
        let (done, rest) = t.split_at_mut(i * w);
        let prev = &done[(i - 1) * w..];
        let cur = &mut rest[..w];
        let ai = a[i - 1];
        let mut left = 0u32;
        for ((up, &bj), c) in prev.windows(2).zip(b.iter()).zip(cur[1..].iter_mut()) {
            let v = if ai == bj { up[0] + 1 } else { up[1].max(left) };
            *c = v;
            left = v;
        }
    }
    let total = t[alen * w + blen];
    if getlen {
        return Reply::Int(total as i64);
    }
    let mut result = vec![0u8; total as usize];
    let mut idx = total as usize;
    let mut matches = Vec::new();
    // `arange_start == alen` means "no range open", as in Redis.
    let (mut ars, mut are, mut brs, mut bre) = (alen, 0usize, 0usize, 0usize);
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            if ars == alen {
                (ars, are, brs, bre) = (i - 1, i - 1, j - 1, j - 1);
            } else if ars == i && brs == j {
                ars -= 1;
                brs -= 1;
            } else {
                emit = true;
            }
            if ars == 0 || brs == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if t[(i - 1) * w + j] > t[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if ars != alen {
                emit = true;
            }
        }
        if emit {
            let match_len = (are - ars + 1) as i64;
            if getidx && (minmatchlen == 0 || match_len >= minmatchlen) {
                let mut m = vec![
                    Reply::Array(vec![Reply::Int(ars as i64), Reply::Int(are as i64)]),
                    Reply::Array(vec![Reply::Int(brs as i64), Reply::Int(bre as i64)]),
                ];
                if withmatchlen {
                    m.push(Reply::Int(match_len));
                }
                matches.push(Reply::Array(m));
            }
            ars = alen;
        }
    }
    if getidx {
        return Reply::Map(vec![
            (Reply::Bulk(b"matches".to_vec()), Reply::Array(matches)),
            (Reply::Bulk(b"len".to_vec()), Reply::Int(total as i64)),
        ]);
    }
    Reply::Bulk(result)
}
