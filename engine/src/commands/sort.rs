//! SORT and SORT_RO, as sort.c answers them: numeric or ALPHA order, BY a
//! pattern (`*` substituted, `->field` of a hash, a constant pattern meaning
//! "don't sort"), GET patterns (`#` for the element itself), LIMIT, ASC/DESC
//! and STORE into a list.
//!
//! Order is Redis's to the tie: numeric ties break on the elements' bytes;
//! ALPHA ties (equal BY values, or both missing) keep the input order, as
//! glibc's stable merge sort behind Redis's `qsort` keeps it, except under
//! BY with a LIMIT, where Redis uses its unstable `pqsort` (ported in
//! `crate::pqsort`). The work is O(n log n) in the elements plus one lookup
//! per element and GET pattern, as in Redis.

use std::cmp::Ordering;

use super::keys::lookup_read;
use super::zsets::string2d;
use super::{coll, eq_ic, err_syntax, Ctx, Handler, WRONGTYPE};
use crate::pqsort::pqsort;
use crate::protocol::Reply;
use crate::store::{List, Value};

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "sort" => |c, a| sort(c, a, false),
        "sort_ro" => |c, a| sort(c, a, true),
        _ => return None,
    })
}

/// One element being sorted: the element, its numeric score, and the BY
/// value for ALPHA sorting (`None` when the BY key or field is missing).
struct Item {
    obj: Vec<u8>,
    score: f64,
    cmp: Option<Vec<u8>>,
}

/// C strings compare up to their first NUL (`strcoll` in the C locale).
fn c_str(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |i| &b[..i])
}

/// The BY weight as `strtod` reads it: leading blanks skipped, the whole
/// (NUL-terminated) string consumed, no overflow, no NaN; empty is 0.
fn sort_score(b: &[u8]) -> Option<f64> {
    let b = c_str(b);
    if b.is_empty() {
        return Some(0.0);
    }
    let start = b
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))?;
    string2d(&b[start..])
}

/// `lookupKeyByPattern`: `#` is the element itself; otherwise the first `*`
/// is replaced by the element and the key read (a string, or with
/// `->field` a hash field); no `*` or a missing/mistyped key is `None`.
fn lookup_by_pattern(ctx: &mut Ctx, pattern: &[u8], subst: &[u8]) -> Option<Vec<u8>> {
    let spat = c_str(pattern);
    if spat == b"#" {
        return Some(subst.to_vec());
    }
    let star = spat.iter().position(|&c| c == b'*')?;
    let arrow = spat[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| star + 1 + i)
        .filter(|&f| f + 2 < spat.len());
    // Redis measures the suffix against the whole pattern, not the C string.
    let field = arrow.map(|f| &pattern[f + 2..]);
    let postfix_end = match arrow {
        Some(f) => f,
        None => pattern.len(),
    };
    let mut key = pattern[..star].to_vec();
    key.extend_from_slice(subst);
    key.extend_from_slice(&pattern[star + 1..postfix_end.max(star + 1)]);
    let now = ctx.now;
    if !lookup_read(ctx, &key, now) {
        return None;
    }
    match (ctx.db().peek(&key).map(|e| &e.value), field) {
        (Some(Value::Hash(h)), Some(f)) => h.get(f).map(<[u8]>::to_vec),
        (Some(Value::Str(s)), None) => Some(s.to_bytes()),
        _ => None,
    }
}

fn sort(ctx: &mut Ctx, argv: &[Vec<u8>], readonly: bool) -> Reply {
    let (mut desc, mut alpha) = (false, false);
    let (mut limit_start, mut limit_count): (i64, i64) = (0, -1);
    let mut sortby: Option<&[u8]> = None;
    let mut store: Option<&[u8]> = None;
    let mut dontsort = false;
    let mut gets: Vec<&[u8]> = Vec::new();
    let mut j = 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let a = &argv[j];
        if eq_ic(a, "asc") {
            desc = false;
        } else if eq_ic(a, "desc") {
            desc = true;
        } else if eq_ic(a, "alpha") {
            alpha = true;
        } else if eq_ic(a, "limit") && left >= 2 {
            match (parse_long(&argv[j + 1]), parse_long(&argv[j + 2])) {
                (Ok(s), Ok(c)) => (limit_start, limit_count) = (s, c),
                (Err(e), _) | (_, Err(e)) => return e,
            }
            j += 2;
        } else if !readonly && eq_ic(a, "store") && left >= 1 {
            store = Some(&argv[j + 1]);
            j += 1;
        } else if eq_ic(a, "by") && left >= 1 {
            sortby = Some(&argv[j + 1]);
            if !c_str(&argv[j + 1]).contains(&b'*') {
                dontsort = true;
            }
            j += 1;
        } else if eq_ic(a, "get") && left >= 1 {
            gets.push(&argv[j + 1]);
            j += 1;
        } else {
            return err_syntax();
        }
        j += 1;
    }

    let now = ctx.now;
    let key = &argv[1];
    let found = lookup_read(ctx, key, now);
    enum Kind {
        List,
        Set,
        ZSet,
    }
    let kind = match ctx.db().peek(key).map(|e| &e.value).filter(|_| found) {
        None => Kind::List,
        Some(Value::List(_)) => Kind::List,
        Some(Value::Set(_)) => Kind::Set,
        Some(Value::ZSet(_)) => Kind::ZSet,
        Some(_) => return Reply::err(WRONGTYPE),
    };
    // A set read without sorting has no stable order to store, replicate
    // or give a script: Redis sorts it ALPHA instead.
    let in_script = ctx.client().is_some_and(|c| c.in_script);
    if dontsort && matches!(kind, Kind::Set) && (store.is_some() || in_script) {
        dontsort = false;
        alpha = true;
        sortby = None;
    }
    // sort.c converts a listpack sorted set to a skip list, for good.
    if matches!(kind, Kind::ZSet) && found {
        ctx.db().modify_if(key, now, |v| {
            if let Value::ZSet(z) = v {
                z.convert_to_skiplist();
            }
            ((), false)
        });
    }
    let vlen = match ctx.db().peek(key).map(|e| &e.value).filter(|_| found) {
        Some(Value::List(l)) => l.len(),
        Some(Value::Set(s)) => s.len(),
        Some(Value::ZSet(z)) => z.len(),
        _ => 0,
    } as i64;

    let mut start = limit_start.max(0).min(vlen);
    let limit_count = limit_count.max(-1).min(vlen);
    let mut end = if limit_count < 0 {
        vlen - 1
    } else {
        start + limit_count - 1
    };
    if start >= vlen {
        start = vlen - 1;
        end = vlen - 2;
    }
    if end >= vlen {
        end = vlen - 1;
    }

    // Load the elements; a list or sorted set read without sorting loads
    // just the LIMIT range, in its own order (reversed for DESC).
    let item = |obj: Vec<u8>| Item {
        obj,
        score: 0.0,
        cmp: None,
    };
    let ranged = dontsort && !matches!(kind, Kind::Set);
    let mut vector: Vec<Item> = match ctx.db().peek(key).map(|e| &e.value).filter(|_| found) {
        None => Vec::new(),
        Some(Value::List(l)) if ranged => {
            let mut v = Vec::new();
            if end >= start {
                let n = (end - start + 1) as usize;
                if desc {
                    let first = (vlen - start - 1) as usize;
                    v = (0..=first)
                        .rev()
                        .take(n)
                        .map(|i| item(l.items[i].clone()))
                        .collect();
                } else {
                    v = l
                        .items
                        .iter()
                        .skip(start as usize)
                        .take(n)
                        .cloned()
                        .map(item)
                        .collect();
                }
                end -= start;
                start = 0;
            }
            v
        }
        Some(Value::List(l)) => l.items.iter().cloned().map(item).collect(),
        Some(Value::Set(s)) => s.members().into_iter().map(item).collect(),
        Some(Value::ZSet(z)) if ranged => {
            let n = (end - start + 1).max(0) as usize;
            let (lo, hi) = if desc {
                (
                    (vlen - start) as usize - n.min((vlen - start) as usize),
                    (vlen - start) as usize,
                )
            } else {
                (start as usize, start as usize + n)
            };
            let v = z
                .range(lo.min(hi), hi, desc)
                .into_iter()
                .map(|(m, _)| item(m))
                .collect();
            end -= start;
            start = 0;
            v
        }
        Some(Value::ZSet(z)) => z.all().into_iter().map(|(m, _)| item(m)).collect(),
        Some(_) => unreachable!("types checked above"),
    };

    let mut conversion_error = false;
    if !dontsort {
        for it in vector.iter_mut() {
            let byval = match sortby {
                Some(p) => match lookup_by_pattern(ctx, p, &it.obj) {
                    Some(v) => v,
                    None => continue,
                },
                None => it.obj.clone(),
            };
            if alpha {
                if sortby.is_some() {
                    it.cmp = Some(byval);
                }
            } else {
                match sort_score(&byval) {
                    Some(s) => it.score = s,
                    None => conversion_error = true,
                }
            }
        }
        let by_pattern = sortby.is_some();
        let binary = store.is_some();
        let cmp = |a: &Item, b: &Item| -> Ordering {
            let c = if !alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.obj.cmp(&b.obj))
            } else if by_pattern {
                match (&a.cmp, &b.cmp) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(x), Some(y)) if binary => x.cmp(y),
                    (Some(x), Some(y)) => c_str(x).cmp(c_str(y)),
                }
            } else if binary {
                a.obj.cmp(&b.obj)
            } else {
                c_str(&a.obj).cmp(c_str(&b.obj))
            };
            if desc {
                c.reverse()
            } else {
                c
            }
        };
        let n = vector.len() as i64;
        if by_pattern && (start != 0 || end != n - 1) && n > 0 && end >= start {
            pqsort(&mut vector, &cmp, start as usize, end as usize);
        } else {
            vector.sort_by(cmp);
        }
    }

    if conversion_error {
        return Reply::err("ERR One or more scores can't be converted into double");
    }
    let range = if end >= start {
        &vector[start as usize..=end as usize]
    } else {
        &vector[..0]
    };
    let mut out: Vec<Option<Vec<u8>>> = Vec::new();
    for it in range {
        if gets.is_empty() {
            out.push(Some(it.obj.clone()));
        }
        for g in &gets {
            out.push(lookup_by_pattern(ctx, g, &it.obj));
        }
    }
    match store {
        None => Reply::Array(
            out.into_iter()
                .map(|v| v.map_or(Reply::Nil, Reply::Bulk))
                .collect(),
        ),
        Some(dst) => {
            let n = out.len() as i64;
            let list = List::from_items(out.into_iter().map(Option::unwrap_or_default));
            coll::store(ctx, dst, list);
            Reply::Int(n)
        }
    }
}

/// `getLongFromObjectOrReply`.
fn parse_long(b: &[u8]) -> Result<i64, Reply> {
    super::parse_int(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_read_as_strtod() {
        assert_eq!(sort_score(b""), Some(0.0));
        assert_eq!(sort_score(b"  1.5"), Some(1.5));
        assert_eq!(sort_score(b"3\0junk"), Some(3.0));
        assert_eq!(sort_score(b"   "), None);
        assert_eq!(sort_score(b"1x"), None);
        assert_eq!(sort_score(b"nan"), None);
        assert_eq!(sort_score(b"1e400"), None);
        assert_eq!(sort_score(b"-inf"), Some(f64::NEG_INFINITY));
    }
}
