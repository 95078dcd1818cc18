//! Sorted set commands, as t_zset.c in Redis 7.0 answers them: ZADD (NX XX
//! GT LT CH INCR) ZINCRBY ZSCORE ZMSCORE ZCARD ZCOUNT ZLEXCOUNT ZRANGE
//! (BYSCORE BYLEX REV LIMIT WITHSCORES) ZRANGESTORE ZREVRANGE ZRANGEBYSCORE
//! ZREVRANGEBYSCORE ZRANGEBYLEX ZREVRANGEBYLEX ZRANK ZREVRANK ZREM
//! ZREMRANGEBYRANK/SCORE/LEX ZPOPMIN ZPOPMAX ZMPOP BZPOPMIN BZPOPMAX BZMPOP
//! ZUNION ZINTER ZDIFF (and STORE, WEIGHTS, AGGREGATE) ZINTERCARD
//! ZRANDMEMBER ZSCAN.

use super::blocking::{self, BlockOp};
use super::coll::{self, clamp_range, parse_cursor, parse_scan_opts, scan_reply};
use super::{eq_ic, err_syntax, parse_int, Ctx, Handler};
use crate::protocol::Reply;
use crate::store::zset::{d2string, LexBound, LexRange, ScoreRange};
use crate::store::{Set, Value, ZSet};

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "zadd" => |c, a| zadd(c, a, false),
        "zincrby" => |c, a| zadd(c, a, true),
        "zscore" => zscore,
        "zmscore" => zmscore,
        "zcard" => zcard,
        "zcount" => zcount,
        "zlexcount" => zlexcount,
        "zrange" => |c, a| zrange(c, a, Kind::Auto, Dir::Auto, None),
        "zrangestore" => |c, a| zrange(c, &a[1..], Kind::Auto, Dir::Auto, Some(&a[1])),
        "zrevrange" => |c, a| zrange(c, a, Kind::Rank, Dir::Rev, None),
        "zrangebyscore" => |c, a| zrange(c, a, Kind::Score, Dir::Fwd, None),
        "zrevrangebyscore" => |c, a| zrange(c, a, Kind::Score, Dir::Rev, None),
        "zrangebylex" => |c, a| zrange(c, a, Kind::Lex, Dir::Fwd, None),
        "zrevrangebylex" => |c, a| zrange(c, a, Kind::Lex, Dir::Rev, None),
        "zrank" => |c, a| zrank(c, a, false),
        "zrevrank" => |c, a| zrank(c, a, true),
        "zrem" => zrem,
        "zremrangebyrank" => |c, a| zremrange(c, a, Kind::Rank),
        "zremrangebyscore" => |c, a| zremrange(c, a, Kind::Score),
        "zremrangebylex" => |c, a| zremrange(c, a, Kind::Lex),
        "zpopmin" => |c, a| zpop(c, a, false),
        "zpopmax" => |c, a| zpop(c, a, true),
        "zmpop" => |c, a| zmpop(c, a, 1, false),
        "bzpopmin" => |c, a| bzpop(c, a, false),
        "bzpopmax" => |c, a| bzpop(c, a, true),
        "bzmpop" => |c, a| zmpop(c, a, 2, true),
        "zunion" => |c, a| setop(c, a, 1, None, Op::Union, false),
        "zinter" => |c, a| setop(c, a, 1, None, Op::Inter, false),
        "zdiff" => |c, a| setop(c, a, 1, None, Op::Diff, false),
        "zunionstore" => |c, a| setop(c, a, 2, Some(&a[1]), Op::Union, false),
        "zinterstore" => |c, a| setop(c, a, 2, Some(&a[1]), Op::Inter, false),
        "zdiffstore" => |c, a| setop(c, a, 2, Some(&a[1]), Op::Diff, false),
        "zintercard" => |c, a| setop(c, a, 1, None, Op::Inter, true),
        "zrandmember" => zrandmember,
        "zscan" => zscan,
        _ => return None,
    })
}

/// Redis's `string2d`: the whole argument is a float (inf allowed, NaN,
/// overflow and leading space not).
pub fn string2d(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_whitespace() || c == '\u{b}') {
        return None;
    }
    let v = parse_c_float(s)?;
    if v.is_nan() {
        return None;
    }
    // strtod's ERANGE: overflow to ±HUGE_VAL, or underflow to zero.
    if v.is_infinite() && !s.to_ascii_lowercase().contains("inf") {
        return None;
    }
    if v == 0.0 && s.bytes().any(|c| (b'1'..=b'9').contains(&c)) && mantissa_nonzero(s) {
        return None;
    }
    Some(v)
}

/// Does the decimal mantissa (before any exponent) have a non-zero digit?
fn mantissa_nonzero(s: &str) -> bool {
    let m = s.split(['e', 'E']).next().unwrap_or("");
    m.bytes().any(|c| (b'1'..=b'9').contains(&c))
}

/// A decimal float as C's strtod reads a whole string (no hex floats).
fn parse_c_float(s: &str) -> Option<f64> {
    let t = s.trim_start_matches(['+', '-']);
    if s.len() - t.len() > 1 {
        return None;
    }
    let lower = t.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(if s.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if lower.starts_with("nan") {
        return Some(f64::NAN);
    }
    if !t
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    s.parse().ok()
}

/// `zslParseRange`'s number: strtod over the rest of the string (leading
/// space allowed, an empty string is 0), NaN refused.
fn range_number(b: &[u8]) -> Option<f64> {
    if b.is_empty() {
        return Some(0.0);
    }
    let s = std::str::from_utf8(b).ok()?;
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\u{b}', '\u{c}']);
    if t.is_empty() {
        return None;
    }
    parse_c_float(t).filter(|v| !v.is_nan())
}

pub fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, Reply> {
    let bad = || Reply::err("ERR min or max is not a float");
    let one = |b: &[u8]| -> Option<(f64, bool)> {
        match b.first() {
            Some(b'(') => range_number(&b[1..]).map(|v| (v, true)),
            _ => range_number(b).map(|v| (v, false)),
        }
    };
    let (min, minex) = one(min).ok_or_else(bad)?;
    let (max, maxex) = one(max).ok_or_else(bad)?;
    Ok(ScoreRange {
        min,
        max,
        minex,
        maxex,
    })
}

pub fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, Reply> {
    let bad = || Reply::err("ERR min or max not valid string range item");
    let one = |b: &[u8]| -> Option<LexBound> {
        match b.first() {
            Some(b'+') if b.len() == 1 => Some(LexBound::PosInf),
            Some(b'-') if b.len() == 1 => Some(LexBound::NegInf),
            Some(b'(') => Some(LexBound::Excl(b[1..].to_vec())),
            Some(b'[') => Some(LexBound::Incl(b[1..].to_vec())),
            _ => None,
        }
    };
    Ok(LexRange {
        min: one(min).ok_or_else(bad)?,
        max: one(max).ok_or_else(bad)?,
    })
}

fn resp3(ctx: &Ctx) -> bool {
    ctx.client().is_some_and(|c| c.resp >= 3)
}

/// Members (and scores) as ZRANGE replies them: flat in RESP2, [m, s]
/// pairs in RESP3 when scores are shown.
fn range_reply(items: Vec<(Vec<u8>, f64)>, withscores: bool, resp3: bool) -> Reply {
    let mut out = Vec::with_capacity(items.len() * if withscores { 2 } else { 1 });
    for (m, s) in items {
        if withscores && resp3 {
            out.push(Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]));
        } else {
            out.push(Reply::Bulk(m));
            if withscores {
                out.push(Reply::Double(s));
            }
        }
    }
    Reply::Array(out)
}

pub(super) fn zadd(ctx: &mut Ctx, argv: &[Vec<u8>], zincrby: bool) -> Reply {
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, zincrby);
    let mut i = 2;
    if !zincrby {
        while i < argv.len() {
            let o = &argv[i];
            if eq_ic(o, "nx") {
                nx = true;
            } else if eq_ic(o, "xx") {
                xx = true;
            } else if eq_ic(o, "ch") {
                ch = true;
            } else if eq_ic(o, "incr") {
                incr = true;
            } else if eq_ic(o, "gt") {
                gt = true;
            } else if eq_ic(o, "lt") {
                lt = true;
            } else {
                break;
            }
            i += 1;
        }
    }
    let rest = &argv[i..];
    if rest.is_empty() || rest.len() % 2 == 1 {
        return err_syntax();
    }
    if nx && xx {
        return Reply::err("ERR XX and NX options at the same time are not compatible");
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return Reply::err("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if incr && rest.len() > 2 {
        return Reply::err("ERR INCR option supports a single increment-element pair");
    }
    let mut scores = Vec::with_capacity(rest.len() / 2);
    for pair in rest.chunks(2) {
        match string2d(&pair[0]) {
            Some(s) => scores.push(s),
            None => return Reply::err("ERR value is not a valid float"),
        }
    }
    let lim = ctx.srv.config.encoding_limits();
    // XX never creates the key (a missing key answers 0, or nil for INCR).
    let create: Option<fn() -> ZSet> = if xx { None } else { Some(ZSet::new) };
    let r = coll::write_if(ctx, &argv[1], create, |z: &mut ZSet| {
        let (mut added, mut updated, mut processed) = (0, 0, 0);
        let mut last = 0.0;
        let mut nan = false;
        for (pair, &score) in rest.chunks(2).zip(&scores) {
            z.upsert(&pair[1], &lim, |cur| match cur {
                Some(cur) => {
                    if nx {
                        return None;
                    }
                    let new = if incr { score + cur } else { score };
                    if new.is_nan() {
                        nan = true;
                        return None;
                    }
                    if (lt && new >= cur) || (gt && new <= cur) {
                        return None;
                    }
                    last = new;
                    processed += 1;
                    if new != cur {
                        updated += 1;
                    }
                    Some(new)
                }
                None if xx => None,
                None => {
                    last = score;
                    added += 1;
                    processed += 1;
                    Some(score)
                }
            });
            if nan {
                return (Err(()), added + updated > 0);
            }
        }
        (Ok((added, updated, processed, last)), added + updated > 0)
    });
    match r {
        Err(e) => e,
        Ok(Some(Err(()))) => Reply::err("ERR resulting score is not a number (NaN)"),
        Ok(Some(Ok((added, updated, processed, last)))) => {
            if incr {
                if processed > 0 {
                    Reply::Double(last)
                } else {
                    Reply::Nil
                }
            } else {
                Reply::Int(if ch { added + updated } else { added })
            }
        }
        Ok(None) if incr => Reply::Nil,
        Ok(None) => Reply::Int(0),
    }
}

fn zscore(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match coll::read::<ZSet>(ctx, &argv[1]) {
        Ok(z) => z
            .and_then(|z| z.score(&argv[2]))
            .map(Reply::Double)
            .unwrap_or(Reply::Nil),
        Err(e) => e,
    }
}

fn zmscore(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match coll::read::<ZSet>(ctx, &argv[1]) {
        Ok(z) => Reply::Array(
            argv[2..]
                .iter()
                .map(|m| {
                    z.and_then(|z| z.score(m))
                        .map(Reply::Double)
                        .unwrap_or(Reply::Nil)
                })
                .collect(),
        ),
        Err(e) => e,
    }
}

fn zcard(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match coll::read::<ZSet>(ctx, &argv[1]) {
        Ok(z) => Reply::Int(z.map_or(0, |z| z.len()) as i64),
        Err(e) => e,
    }
}

fn zcount(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let r = match parse_score_range(&argv[2], &argv[3]) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match coll::read::<ZSet>(ctx, &argv[1]) {
        Ok(Some(z)) if !r.is_empty() => {
            let (lo, hi) = z.score_bounds(&r);
            Reply::Int((hi - lo) as i64)
        }
        Ok(_) => Reply::Int(0),
        Err(e) => e,
    }
}

fn zlexcount(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let r = match parse_lex_range(&argv[2], &argv[3]) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match coll::read::<ZSet>(ctx, &argv[1]) {
        Ok(Some(z)) => {
            let (lo, hi) = z.lex_bounds(&r);
            Reply::Int((hi - lo) as i64)
        }
        Ok(None) => Reply::Int(0),
        Err(e) => e,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq)]
enum Dir {
    Auto,
    Fwd,
    Rev,
}

/// The ranks `[lo, hi)` a BYSCORE/BYLEX range with LIMIT selects, in the
/// order they are walked.
fn limited(lo: usize, hi: usize, rev: bool, offset: i64, limit: i64) -> Vec<usize> {
    if offset < 0 || lo >= hi {
        return Vec::new();
    }
    let n = hi - lo;
    let skip = (offset as u64).min(n as u64) as usize;
    let take = if limit < 0 {
        n - skip
    } else {
        (limit as u64).min((n - skip) as u64) as usize
    };
    (0..take)
        .map(|i| {
            if rev {
                hi - 1 - skip - i
            } else {
                lo + skip + i
            }
        })
        .collect()
}

/// ZRANGE and its relatives; `argv[1]` is the key (for ZRANGESTORE the
/// caller passes argv from the destination, so the source is at 1 too).
fn zrange(ctx: &mut Ctx, argv: &[Vec<u8>], kind: Kind, dir: Dir, store: Option<&Vec<u8>>) -> Reply {
    let (mut kind, mut dir) = (kind, dir);
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = 4;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        if store.is_none() && eq_ic(&argv[j], "withscores") {
            withscores = true;
        } else if eq_ic(&argv[j], "limit") && left >= 2 {
            match (parse_int(&argv[j + 1]), parse_int(&argv[j + 2])) {
                (Ok(o), Ok(l)) => {
                    offset = o;
                    limit = l;
                }
                (Err(e), _) | (_, Err(e)) => return e,
            }
            j += 2;
        } else if dir == Dir::Auto && eq_ic(&argv[j], "rev") {
            dir = Dir::Rev;
        } else if kind == Kind::Auto && eq_ic(&argv[j], "bylex") {
            kind = Kind::Lex;
        } else if kind == Kind::Auto && eq_ic(&argv[j], "byscore") {
            kind = Kind::Score;
        } else {
            return err_syntax();
        }
        j += 1;
    }
    let rev = dir == Dir::Rev;
    if kind == Kind::Auto {
        kind = Kind::Rank;
    }
    if limit != -1 && kind == Kind::Rank {
        return Reply::err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
    }
    if withscores && kind == Kind::Lex {
        return Reply::err("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    let (a, b) = if rev && kind != Kind::Rank {
        (&argv[3], &argv[2])
    } else {
        (&argv[2], &argv[3])
    };
    enum Sel {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange),
    }
    let sel = match kind {
        Kind::Score => match parse_score_range(a, b) {
            Ok(r) => Sel::Score(r),
            Err(e) => return e,
        },
        Kind::Lex => match parse_lex_range(a, b) {
            Ok(r) => Sel::Lex(r),
            Err(e) => return e,
        },
        _ => match (parse_int(a), parse_int(b)) {
            (Ok(s), Ok(e)) => Sel::Rank(s, e),
            (Err(e), _) | (_, Err(e)) => return e,
        },
    };
    let resp3 = resp3(ctx);
    let z = match coll::read::<ZSet>(ctx, &argv[1]) {
        Ok(Some(z)) => z,
        Ok(None) => {
            return match store {
                Some(d) => {
                    ctx.db().remove(d);
                    Reply::Int(0)
                }
                None => Reply::Array(Vec::new()),
            }
        }
        Err(e) => return e,
    };
    let items: Vec<(Vec<u8>, f64)> = match sel {
        Sel::Rank(s, e) => match clamp_range(s, e, z.len()) {
            Some((s, e)) if rev => {
                let len = z.len();
                z.range(len - 1 - e, len - s, true)
            }
            Some((s, e)) => z.range(s, e + 1, false),
            None => Vec::new(),
        },
        Sel::Score(r) => {
            let (lo, hi) = if r.is_empty() {
                (0, 0)
            } else {
                z.score_bounds(&r)
            };
            pick_ranks(z, limited(lo, hi, rev, offset, limit))
        }
        Sel::Lex(r) => {
            let (lo, hi) = z.lex_bounds(&r);
            pick_ranks(z, limited(lo, hi, rev, offset, limit))
        }
    };
    match store {
        Some(d) => {
            let lim = ctx.srv.config.encoding_limits();
            let n = items.len();
            coll::store(ctx, d, ZSet::from_pairs(items, &lim));
            Reply::Int(n as i64)
        }
        None => range_reply(items, withscores, resp3),
    }
}

/// The elements at the given ranks (consecutive, ascending or descending).
fn pick_ranks(z: &ZSet, ranks: Vec<usize>) -> Vec<(Vec<u8>, f64)> {
    match (ranks.first(), ranks.last()) {
        (Some(&a), Some(&b)) if a <= b => z.range(a, b + 1, false),
        (Some(&a), Some(&b)) => z.range(b, a + 1, true),
        _ => Vec::new(),
    }
}

/// ZRANK/ZREVRANK key member [WITHSCORE] (WITHSCORE as in Redis 7.2).
fn zrank(ctx: &mut Ctx, argv: &[Vec<u8>], rev: bool) -> Reply {
    if argv.len() > 4 {
        return super::wrong_args(if rev { "zrevrank" } else { "zrank" });
    }
    let withscore = match argv.get(3) {
        None => false,
        Some(a) if eq_ic(a, "withscore") => true,
        Some(_) => return err_syntax(),
    };
    let none = if withscore {
        Reply::NilArray
    } else {
        Reply::Nil
    };
    match coll::read::<ZSet>(ctx, &argv[1]) {
        Ok(Some(z)) => match z.rank(&argv[2]) {
            Some(r) => {
                let rank = Reply::Int(if rev { z.len() - 1 - r } else { r } as i64);
                if withscore {
                    let score = z.score(&argv[2]).expect("ranked members have scores");
                    Reply::Array(vec![rank, Reply::Double(score)])
                } else {
                    rank
                }
            }
            None => none,
        },
        Ok(None) => none,
        Err(e) => e,
    }
}

fn zrem(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let r = coll::write_if(ctx, &argv[1], None, |z: &mut ZSet| {
        let mut n = 0;
        for m in &argv[2..] {
            if z.remove(m) {
                n += 1;
                if z.is_empty() {
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

fn zremrange(ctx: &mut Ctx, argv: &[Vec<u8>], kind: Kind) -> Reply {
    enum Sel {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange),
    }
    let sel = match kind {
        Kind::Score => match parse_score_range(&argv[2], &argv[3]) {
            Ok(r) => Sel::Score(r),
            Err(e) => return e,
        },
        Kind::Lex => match parse_lex_range(&argv[2], &argv[3]) {
            Ok(r) => Sel::Lex(r),
            Err(e) => return e,
        },
        _ => match (parse_int(&argv[2]), parse_int(&argv[3])) {
            (Ok(s), Ok(e)) => Sel::Rank(s, e),
            (Err(e), _) | (_, Err(e)) => return e,
        },
    };
    let r = coll::write_if(ctx, &argv[1], None, |z: &mut ZSet| {
        let (lo, hi) = match &sel {
            Sel::Rank(s, e) => match clamp_range(*s, *e, z.len()) {
                Some((s, e)) => (s, e + 1),
                None => (0, 0),
            },
            Sel::Score(r) if r.is_empty() => (0, 0),
            Sel::Score(r) => z.score_bounds(r),
            Sel::Lex(r) => z.lex_bounds(r),
        };
        let n = z.remove_ranks(lo, hi);
        (n, n > 0)
    });
    match r {
        Ok(n) => Reply::Int(n.unwrap_or(0) as i64),
        Err(e) => e,
    }
}

/// Pops `count` elements from the low (or high) end.
fn take(z: &mut ZSet, max: bool, count: usize) -> Vec<(Vec<u8>, f64)> {
    let n = count.min(z.len());
    let items = if max {
        z.range(z.len() - n, z.len(), true)
    } else {
        z.range(0, n, false)
    };
    for (m, _) in &items {
        z.remove(m);
    }
    items
}

fn zpop(ctx: &mut Ctx, argv: &[Vec<u8>], max: bool) -> Reply {
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
    let nested = resp3(ctx) && count.is_some();
    match coll::exists_for_write::<ZSet>(ctx, &argv[1]) {
        Err(e) => return e,
        Ok(false) => return Reply::Array(Vec::new()),
        Ok(true) => {}
    }
    if count == Some(0) {
        return Reply::Array(Vec::new());
    }
    match coll::write(ctx, &argv[1], None, |z: &mut ZSet| {
        take(z, max, count.unwrap_or(1))
    }) {
        Ok(Some(items)) => {
            let mut out = Vec::new();
            for (m, s) in items {
                if nested {
                    out.push(Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]));
                } else {
                    out.push(Reply::Bulk(m));
                    out.push(Reply::Double(s));
                }
            }
            Reply::Array(out)
        }
        Ok(None) => Reply::Array(Vec::new()),
        Err(e) => e,
    }
}

/// ZMPOP / BZMPOP (`numkeys_at` is numkeys' index).
fn zmpop(ctx: &mut Ctx, argv: &[Vec<u8>], numkeys_at: usize, blocking: bool) -> Reply {
    let a = match coll::parse_mpop(argv, numkeys_at, ["min", "max"], blocking, ctx.now) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let op = BlockOp::ZPop {
        max: a.end == 1,
        count: Some(a.count),
    };
    blocking::pop_or_block::<ZSet>(ctx, a.keys, a.deadline, op)
}

fn bzpop(ctx: &mut Ctx, argv: &[Vec<u8>], max: bool) -> Reply {
    let deadline = match blocking::parse_timeout(&argv[argv.len() - 1], ctx.now) {
        Ok(d) => d,
        Err(e) => return e,
    };
    let keys = &argv[1..argv.len() - 1];
    let op = BlockOp::ZPop { max, count: None };
    blocking::pop_or_block::<ZSet>(ctx, keys, Some(deadline), op)
}

/// BZPOPMIN/BZPOPMAX (`[key, member, score]`) or ZMPOP/BZMPOP
/// (`[key, [[member, score]…]]`) from `key`, a non-empty sorted set.
pub fn serve_pop(ctx: &mut Ctx, key: &[u8], max: bool, count: Option<usize>) -> Reply {
    let items = match coll::write(ctx, key, None, |z: &mut ZSet| {
        take(z, max, count.unwrap_or(1))
    }) {
        Ok(Some(i)) => i,
        Ok(None) => return Reply::NilArray,
        Err(e) => return e,
    };
    match count {
        Some(_) => Reply::Array(vec![
            Reply::bulk(key),
            Reply::Array(
                items
                    .into_iter()
                    .map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
                    .collect(),
            ),
        ]),
        None => {
            let mut out = vec![Reply::bulk(key)];
            for (m, s) in items {
                out.push(Reply::Bulk(m));
                out.push(Reply::Double(s));
            }
            Reply::Array(out)
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Union,
    Inter,
    Diff,
}

/// A source of ZUNION/ZINTER/ZDIFF: a sorted set, or a set (scores 1).
enum Src {
    Missing,
    Z(ZSet),
    S(Set),
}

impl Src {
    fn len(&self) -> usize {
        match self {
            Src::Missing => 0,
            Src::Z(z) => z.len(),
            Src::S(s) => s.len(),
        }
    }
    fn items(&self) -> Vec<(Vec<u8>, f64)> {
        match self {
            Src::Missing => Vec::new(),
            Src::Z(z) => z.all(),
            Src::S(s) => s.members().into_iter().map(|m| (m, 1.0)).collect(),
        }
    }
    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::Missing => None,
            Src::Z(z) => z.score(m),
            Src::S(s) => s.contains(m).then_some(1.0),
        }
    }
}

fn aggregate(target: &mut f64, v: f64, how: u8) {
    match how {
        b's' => {
            *target += v;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        b'n' => {
            if v < *target {
                *target = v;
            }
        }
        _ => {
            if v > *target {
                *target = v;
            }
        }
    }
}

fn setop(
    ctx: &mut Ctx,
    argv: &[Vec<u8>],
    numkeys_at: usize,
    dst: Option<&Vec<u8>>,
    op: Op,
    card_only: bool,
) -> Reply {
    let setnum = match parse_int(&argv[numkeys_at]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    if setnum < 1 {
        let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
        return Reply::err(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        ));
    }
    let setnum = setnum as usize;
    if setnum > argv.len() - (numkeys_at + 1) {
        return err_syntax();
    }
    let keys = &argv[numkeys_at + 1..numkeys_at + 1 + setnum];
    let mut srcs = Vec::with_capacity(setnum);
    for k in keys {
        let now = ctx.now;
        if !super::keys::lookup_read(ctx, k, now) {
            srcs.push(Src::Missing);
            continue;
        }
        match ctx.db().peek(k).map(|e| &e.value) {
            Some(Value::ZSet(z)) => srcs.push(Src::Z((**z).clone())),
            Some(Value::Set(s)) => srcs.push(Src::S((**s).clone())),
            Some(_) => return coll::wrongtype(),
            None => srcs.push(Src::Missing),
        }
    }
    let mut weights = vec![1.0f64; setnum];
    let mut how = b's';
    let mut withscores = false;
    let mut limit = 0usize;
    let mut j = numkeys_at + 1 + setnum;
    while j < argv.len() {
        let remaining = argv.len() - j;
        if op != Op::Diff && !card_only && remaining > setnum && eq_ic(&argv[j], "weights") {
            j += 1;
            for w in weights.iter_mut() {
                match string2d(&argv[j]) {
                    Some(v) => *w = v,
                    None => return Reply::err("ERR weight value is not a float"),
                }
                j += 1;
            }
        } else if op != Op::Diff && !card_only && remaining >= 2 && eq_ic(&argv[j], "aggregate") {
            let a = &argv[j + 1];
            how = if eq_ic(a, "sum") {
                b's'
            } else if eq_ic(a, "min") {
                b'n'
            } else if eq_ic(a, "max") {
                b'x'
            } else {
                return err_syntax();
            };
            j += 2;
        } else if dst.is_none() && !card_only && eq_ic(&argv[j], "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && eq_ic(&argv[j], "limit") {
            match coll::positive(&argv[j + 1], Some("LIMIT can't be negative")) {
                Ok(n) => limit = n,
                Err(e) => return e,
            }
            j += 2;
        } else {
            return err_syntax();
        }
    }
    // Smallest first (glibc's qsort is a stable merge sort), weights along.
    let mut order: Vec<usize> = (0..setnum).collect();
    if op != Op::Diff {
        order.sort_by_key(|&i| srcs[i].len());
    }
    let mut result: Vec<(Vec<u8>, f64)> = Vec::new();
    let mut card = 0usize;
    match op {
        Op::Inter => {
            let first = order[0];
            if srcs[first].len() > 0 {
                for (m, s) in srcs[first].items() {
                    let mut score = weights[first] * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    let mut all = true;
                    for &i in &order[1..] {
                        match srcs[i].score(&m) {
                            Some(v) => aggregate(&mut score, v * weights[i], how),
                            None => {
                                all = false;
                                break;
                            }
                        }
                    }
                    if all {
                        card += 1;
                        if card_only {
                            if limit > 0 && card >= limit {
                                break;
                            }
                        } else {
                            result.push((m, score));
                        }
                    }
                }
            }
        }
        Op::Union => {
            let mut acc: indexmap::IndexMap<Vec<u8>, f64> = indexmap::IndexMap::new();
            for &i in &order {
                for (m, s) in srcs[i].items() {
                    let mut score = weights[i] * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(&m) {
                        Some(t) => aggregate(t, score, how),
                        None => {
                            acc.insert(m, score);
                        }
                    }
                }
            }
            result = acc.into_iter().collect();
        }
        Op::Diff => {
            if srcs[0].len() > 0 {
                for (m, s) in srcs[0].items() {
                    if srcs[1..].iter().all(|o| o.score(&m).is_none()) {
                        result.push((m, s));
                    }
                }
            }
        }
    }
    if card_only {
        return Reply::Int(card as i64);
    }
    let lim = ctx.srv.config.encoding_limits();
    // The result as a sorted set (ordered by score, then member).
    let mut z = ZSet::with_hint(usize::MAX, usize::MAX, &lim);
    for (m, s) in &result {
        z.set(m, *s, &lim);
    }
    match dst {
        Some(d) => {
            z.shrink_if_fits(&lim);
            let n = z.len();
            coll::store(ctx, d, z);
            Reply::Int(n as i64)
        }
        None => {
            let resp3 = resp3(ctx);
            range_reply(z.all(), withscores, resp3)
        }
    }
}

fn zrandmember(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let resp3 = resp3(ctx);
    if argv.len() == 2 {
        let z = match coll::read::<ZSet>(ctx, &argv[1]) {
            Ok(Some(z)) => z.clone(),
            Ok(None) => return Reply::Nil,
            Err(e) => return e,
        };
        let i = ctx.srv.rng.below(z.len());
        return z
            .get_index(i)
            .map(|(m, _)| Reply::Bulk(m))
            .unwrap_or(Reply::Nil);
    }
    let (count, uniq, withscores) = match coll::parse_rand_count(argv, "withscores") {
        Ok(c) => c,
        Err(e) => return e,
    };
    let z = match coll::read::<ZSet>(ctx, &argv[1]) {
        Ok(Some(z)) => z.clone(),
        Ok(None) => return Reply::Array(Vec::new()),
        Err(e) => return e,
    };
    let listpack = matches!(z, ZSet::Listpack { .. });
    let picked: Vec<(Vec<u8>, f64)> =
        coll::rand_positions(&mut ctx.srv.rng, z.len(), count, uniq, listpack)
            .into_iter()
            .map(|i| z.get_index(i).expect("index below len"))
            .collect();
    range_reply(picked, withscores, resp3)
}

fn zscan(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let cursor = match parse_cursor(&argv[2]) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let z = match coll::read::<ZSet>(ctx, &argv[1]) {
        Ok(Some(z)) => z,
        Ok(None) => return scan_reply(0, Vec::new()),
        Err(e) => return e,
    };
    let opts = match parse_scan_opts(&argv[3..]) {
        Ok(o) => o,
        Err(e) => return e,
    };
    match z {
        ZSet::Listpack { items, .. } => scan_reply(
            0,
            items
                .iter()
                .filter(|(m, _)| opts.matches(m))
                .flat_map(|(m, s)| [Reply::bulk(m), Reply::Bulk(d2string(*s).into_bytes())])
                .collect(),
        ),
        ZSet::Skiplist { .. } => coll::scan_table(cursor, z.len(), &opts, |i| {
            let (m, s) = z.get_index(i).expect("index below len");
            if opts.matches(&m) {
                vec![
                    Reply::Bulk(m),
                    Reply::Bulk(crate::protocol::reply::format_double(s).into_bytes()),
                ]
            } else {
                Vec::new()
            }
        }),
    }
}
