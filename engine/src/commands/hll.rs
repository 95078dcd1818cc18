//! HyperLogLog (unique visitors with 12 KB at most): PFADD PFCOUNT PFMERGE,
//! as Redis 7.0's hyperloglog.c does them. The value is a string holding
//! Redis's own representation — a 16-byte header ("HYLL", encoding, cached
//! cardinality) and 16,384 six-bit registers, sparse (ZERO / XZERO / VAL
//! run opcodes, edited in place exactly as `hllSparseSet` does, so GET shows
//! the same bytes) until it passes `hll-sparse-max-bytes`, then dense. The
//! estimate is Ertl's improved estimator Redis uses, in the same floating
//! point steps, so counts are identical.

use super::keys::lookup_read;
use super::{Ctx, Handler};
use crate::protocol::Reply;
use crate::store::{StrValue, Value};

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "pfadd" => pfadd,
        "pfcount" => pfcount,
        "pfmerge" => pfmerge,
        "pfdebug" => pfdebug,
        "pfselftest" => pfselftest,
        _ => return None,
    })
}

const P: u32 = 14;
const Q: u32 = 64 - P;
const REGISTERS: usize = 1 << P;
const HDR: usize = 16;
const DENSE_SIZE: usize = HDR + (REGISTERS * 6).div_ceil(8);
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
const INVALID: &str = "INVALIDOBJ Corrupted HLL object detected";
const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";

pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, &b) in rest.iter().enumerate() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// `hllPatLen`: the register an element goes to and its run of zeros + 1.
fn pat_len(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let mut h = hash >> P;
    h |= 1 << Q;
    let mut count = 1u8;
    let mut bit = 1u64;
    while h & bit == 0 {
        count += 1;
        bit <<= 1;
    }
    (index, count)
}

fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = regs[byte] as u32;
    let b1 = *regs.get(byte + 1).unwrap_or(&0) as u32;
    (((b0 >> fb) | (b1 << (8 - fb))) & 63) as u8
}

fn dense_set(regs: &mut [u8], i: usize, val: u8) {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let v = val as u32;
    regs[byte] &= !((63u32 << fb) as u8);
    regs[byte] |= (v << fb) as u8;
    if byte + 1 < regs.len() {
        regs[byte + 1] &= !((63u32 >> (8 - fb)) as u8);
        regs[byte + 1] |= (v >> (8 - fb)) as u8;
    }
}

/// One sparse opcode at `p`: (registers it spans, its value, its length in bytes).
fn opcode(s: &[u8], p: usize) -> (usize, u8, usize) {
    let b = s[p];
    if b & 0xc0 == 0 {
        ((b & 0x3f) as usize + 1, 0, 1)
    } else if b & 0xc0 == 0x40 {
        let len = ((((b & 0x3f) as usize) << 8) | *s.get(p + 1).unwrap_or(&0) as usize) + 1;
        (len, 0, 2)
    } else {
        ((b & 3) as usize + 1, ((b >> 2) & 0x1f) + 1, 1)
    }
}

fn val_op(val: u8, len: usize) -> u8 {
    0x80 | ((val - 1) << 2) | (len as u8 - 1)
}

fn zero_ops(len: usize, out: &mut Vec<u8>) {
    if len > ZERO_MAX_LEN {
        let l = len - 1;
        out.push(0x40 | (l >> 8) as u8);
        out.push((l & 0xff) as u8);
    } else {
        out.push((len - 1) as u8);
    }
}

/// All registers of a valid HLL string; `None` when its sparse runs do not
/// cover exactly 16,384 registers (or overflow them).
fn registers(s: &[u8]) -> Option<Vec<u8>> {
    let mut regs = vec![0u8; REGISTERS];
    if s[4] == DENSE {
        for (i, r) in regs.iter_mut().enumerate() {
            *r = dense_get(&s[HDR..], i);
        }
        return Some(regs);
    }
    let mut i = 0;
    let mut p = HDR;
    while p < s.len() {
        let (span, val, oplen) = opcode(s, p);
        if val > 0 {
            if i + span > REGISTERS {
                return None;
            }
            regs[i..i + span].fill(val);
        }
        i += span;
        p += oplen;
    }
    (i == REGISTERS).then_some(regs)
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let zp = z;
        z += x * y;
        y += y;
        if zp == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let zp = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if zp == z {
            return z / 3.0;
        }
    }
}

/// `hllCount` over the registers.
fn estimate(regs: &[u8]) -> u64 {
    let mut histo = [0i64; 64];
    for &r in regs {
        histo[r as usize] += 1;
    }
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histo[Q as usize + 1] as f64) / m);
    for j in (1..=Q as usize).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// A new, empty HLL: sparse, one XZERO opcode spanning every register.
fn empty() -> Vec<u8> {
    let mut s = b"HYLL".to_vec();
    s.extend_from_slice(&[SPARSE, 0, 0, 0]);
    s.extend_from_slice(&[0; 8]);
    zero_ops(REGISTERS, &mut s);
    s
}

fn is_hll(s: &[u8]) -> bool {
    s.len() >= HDR
        && &s[..4] == b"HYLL"
        && s[4] <= SPARSE
        && !(s[4] == DENSE && s.len() != DENSE_SIZE)
}

fn invalidate(s: &mut [u8]) {
    s[15] |= 1 << 7;
}

enum Set {
    Unchanged,
    Updated,
    Invalid,
}

/// `hllSparseToDense`: the same registers in a fresh dense string that keeps
/// the header (magic, cached cardinality); `None` for a corrupt sparse one.
fn to_dense(sparse: &[u8]) -> Option<Vec<u8>> {
    let regs = registers(sparse)?;
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(&sparse[..HDR]);
    dense[4] = DENSE;
    for (i, &r) in regs.iter().enumerate() {
        if r != 0 {
            dense_set(&mut dense[HDR..], i, r);
        }
    }
    Some(dense)
}

/// `hllSparseSet` (which promotes to dense when the value is too large for
/// a VAL opcode or the string would pass `max_bytes`), or the dense set.
fn set_register(v: &mut StrValue, index: usize, count: u8, max_bytes: usize) -> Set {
    if v.make_raw()[4] == DENSE {
        let s = v.make_raw();
        let regs = &mut s[HDR..];
        if dense_get(regs, index) < count {
            dense_set(regs, index, count);
            return Set::Updated;
        }
        return Set::Unchanged;
    }
    if count <= VAL_MAX_VALUE {
        v.make_raw();
        v.reserve(3);
        let s = v.make_raw();
        // `None`: too large for the sparse form; promoted below.
        if let Some(r) = sparse_set(s, index, count, max_bytes) {
            return r;
        }
    }
    // Promote to dense, then set the register there.
    let Some(mut dense) = to_dense(&v.to_bytes()) else {
        return Set::Invalid;
    };
    let regs = &mut dense[HDR..];
    if dense_get(regs, index) < count {
        dense_set(regs, index, count);
    }
    *v = StrValue::raw_new(dense);
    Set::Updated
}

/// The sparse edit itself; `None` to promote.
fn sparse_set(s: &mut Vec<u8>, index: usize, count: u8, max_bytes: usize) -> Option<Set> {
    let end = s.len();
    let mut p = HDR;
    let mut first = 0;
    let mut prev: Option<usize> = None;
    let mut span = 0;
    let mut oplen = 1;
    let mut val = 0;
    while p < end {
        let (sp, v, ol) = opcode(s, p);
        span = sp;
        oplen = ol;
        val = v;
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += oplen;
        first += span;
    }
    if span == 0 || p >= end {
        return Some(Set::Invalid);
    }
    let is_xzero = val == 0 && oplen == 2;
    let is_zero = val == 0 && oplen == 1;
    let runlen = span;
    let mut updated_in_place = false;
    if val > 0 {
        if val >= count {
            return Some(Set::Unchanged);
        }
        if runlen == 1 {
            s[p] = val_op(count, 1);
            updated_in_place = true;
        }
    }
    if is_zero && runlen == 1 {
        s[p] = val_op(count, 1);
        updated_in_place = true;
    }
    if !updated_in_place {
        let last = first + span - 1;
        let mut seq = Vec::with_capacity(5);
        if is_zero || is_xzero {
            if index != first {
                zero_ops(index - first, &mut seq);
            }
            seq.push(val_op(count, 1));
            if index != last {
                zero_ops(last - index, &mut seq);
            }
        } else {
            if index != first {
                seq.push(val_op(val, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(val, last - index));
            }
        }
        let old_len = if is_xzero { 2 } else { 1 };
        if seq.len() > old_len && s.len() + seq.len() - old_len > max_bytes {
            return None;
        }
        s.splice(p..p + old_len, seq);
    }
    // Merge adjacent VAL opcodes of equal value, from the opcode before.
    let mut q = prev.unwrap_or(HDR);
    let mut scan = 5;
    while q < s.len() && scan > 0 {
        scan -= 1;
        let b = s[q];
        if b & 0xc0 == 0x40 {
            q += 2;
            continue;
        }
        if b & 0xc0 == 0 {
            q += 1;
            continue;
        }
        if q + 1 < s.len() && s[q + 1] & 0x80 != 0 {
            let (l1, v1, _) = opcode(s, q);
            let (l2, v2, _) = opcode(s, q + 1);
            if v1 == v2 && l1 + l2 <= VAL_MAX_LEN {
                s[q + 1] = val_op(v1, l1 + l2);
                s.remove(q);
                continue;
            }
        }
        q += 1;
    }
    invalidate(s);
    Some(Set::Updated)
}

fn max_bytes(ctx: &Ctx) -> usize {
    ctx.srv
        .config
        .get("hll-sparse-max-bytes")
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

/// The HLL string at `key` for a read: `Ok(None)` when missing, an error
/// when it is not a string or not an HLL.
fn read_hll(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Vec<u8>>, Reply> {
    let now = ctx.now;
    if !lookup_read(ctx, key, now) {
        return Ok(None);
    }
    // The match is exhaustive: a new value type must decide here.
    let bytes = match ctx.db().peek(key).map(|e| &e.value) {
        Some(Value::Str(s)) => s.to_bytes(),
        Some(_) => return Err(Reply::err(super::WRONGTYPE)),
        None => return Ok(None),
    };
    if !is_hll(&bytes) {
        return Err(Reply::err(NOT_HLL));
    }
    Ok(Some(bytes))
}

fn pfadd(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let key = &argv[1];
    let now = ctx.now;
    let limit = max_bytes(ctx);
    let db = ctx.db();
    let mut updated = 0;
    // The match is exhaustive: a new value type must decide here.
    match db.get(key, now).map(|e| &e.value) {
        None => {
            db.set(key, Value::Str(StrValue::raw_new(empty())), now, false);
            updated += 1;
        }
        Some(Value::Str(s)) => {
            if !is_hll(&s.to_bytes()) {
                return Reply::err(NOT_HLL);
            }
        }
        Some(_) => return Reply::err(super::WRONGTYPE),
    }
    let mut invalid = false;
    // Only a register that changed (or a new key) is a modification.
    db.modify_if(key, now, |v| {
        let Value::Str(s) = v else {
            return ((), false);
        };
        s.make_raw();
        for ele in &argv[2..] {
            let (index, count) = pat_len(ele);
            match set_register(s, index, count, limit) {
                Set::Updated => updated += 1,
                Set::Unchanged => {}
                Set::Invalid => {
                    invalid = true;
                    return ((), updated > 0);
                }
            }
        }
        if updated > 0 {
            invalidate(s.make_raw());
        }
        ((), updated > 0)
    });
    if invalid {
        return Reply::err(INVALID);
    }
    Reply::Int((updated > 0) as i64)
}

fn pfcount(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if argv.len() == 2 {
        let key = &argv[1];
        let bytes = match read_hll(ctx, key) {
            Ok(Some(b)) => b,
            Ok(None) => return Reply::Int(0),
            Err(e) => return e,
        };
        if bytes[15] & 0x80 == 0 {
            let card = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
            // The string is unshared (made raw) even to read the cache.
            let now = ctx.now;
            ctx.db().modify(key, now, |v| {
                let Value::Str(s) = v else { return };
                s.make_raw();
            });
            return Reply::Int(card as i64);
        }
        let Some(regs) = registers(&bytes) else {
            return Reply::err(INVALID);
        };
        let card = estimate(&regs);
        let now = ctx.now;
        ctx.db().modify(key, now, |v| {
            let Value::Str(s) = v else { return };
            s.make_raw()[8..16].copy_from_slice(&card.to_le_bytes());
        });
        return Reply::Int(card as i64);
    }
    let mut max = vec![0u8; REGISTERS];
    for key in &argv[1..] {
        let bytes = match read_hll(ctx, key) {
            Ok(Some(b)) => b,
            Ok(None) => continue,
            Err(e) => return e,
        };
        let Some(regs) = registers(&bytes) else {
            return Reply::err(INVALID);
        };
        for (m, r) in max.iter_mut().zip(regs) {
            *m = (*m).max(r);
        }
    }
    Reply::Int(estimate(&max) as i64)
}

fn pfmerge(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let mut max = vec![0u8; REGISTERS];
    let mut use_dense = false;
    for key in &argv[1..] {
        let bytes = match read_hll(ctx, key) {
            Ok(Some(b)) => b,
            Ok(None) => continue,
            Err(e) => return e,
        };
        if bytes[4] == DENSE {
            use_dense = true;
        }
        let Some(regs) = registers(&bytes) else {
            return Reply::err(INVALID);
        };
        for (m, r) in max.iter_mut().zip(regs) {
            *m = (*m).max(r);
        }
    }
    let key = &argv[1];
    let now = ctx.now;
    let limit = max_bytes(ctx);
    let db = ctx.db();
    if db.get(key, now).is_none() {
        db.set(key, Value::Str(StrValue::raw_new(empty())), now, false);
    }
    let mut invalid = false;
    db.modify(key, now, |v| {
        let Value::Str(s) = v else { return };
        s.make_raw();
        if use_dense && s.make_raw()[4] == SPARSE {
            let Some(dense) = to_dense(&s.to_bytes()) else {
                invalid = true;
                return;
            };
            *s = StrValue::raw_new(dense);
        }
        for (i, &m) in max.iter().enumerate() {
            if m == 0 {
                continue;
            }
            // As Redis: a corrupted sparse destination is left as it is.
            set_register(s, i, m, limit);
        }
        invalidate(s.make_raw());
    });
    if invalid {
        return Reply::err(INVALID);
    }
    Reply::ok()
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key, as `pfdebugCommand`. GETREG
/// and TODENSE turn a sparse HLL dense in place (a real change, replicated).
fn pfdebug(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let now = ctx.now;
    let sub = String::from_utf8_lossy(&argv[1]).into_owned();
    let bytes = match ctx.db().get(&argv[2], now).map(|e| &e.value) {
        None => return Reply::err("ERR The specified key does not exist"),
        Some(Value::Str(s)) => s.to_bytes(),
        Some(_) => return Reply::err(super::WRONGTYPE),
    };
    if !is_hll(&bytes) {
        return Reply::err(NOT_HLL);
    }
    let arity = || {
        Reply::err(format!(
            "ERR Wrong number of arguments for the '{sub}' subcommand"
        ))
    };
    let lower = sub.to_ascii_lowercase();
    // GETREG and TODENSE convert a sparse HLL first.
    let densify = |ctx: &mut Ctx| -> Result<(Vec<u8>, bool), Reply> {
        if bytes[4] != SPARSE {
            return Ok((bytes.clone(), false));
        }
        let Some(dense) = to_dense(&bytes) else {
            return Err(Reply::err(INVALID));
        };
        let d = dense.clone();
        ctx.db()
            .modify(&argv[2], now, |v| *v = Value::Str(StrValue::raw_new(d)));
        Ok((dense, true))
    };
    match lower.as_str() {
        "getreg" => {
            if argv.len() != 3 {
                return arity();
            }
            match densify(ctx) {
                Ok((dense, _)) => Reply::Array(
                    (0..REGISTERS)
                        .map(|i| Reply::Int(dense_get(&dense[HDR..], i) as i64))
                        .collect(),
                ),
                Err(e) => e,
            }
        }
        "decode" => {
            if argv.len() != 3 {
                return arity();
            }
            if bytes[4] != SPARSE {
                return Reply::err("ERR HLL encoding is not sparse");
            }
            let mut out = Vec::new();
            let mut p = HDR;
            while p < bytes.len() {
                let b = bytes[p];
                let (runlen, val, n) = opcode(&bytes, p);
                out.push(if b & 0xc0 == 0 {
                    format!("z:{runlen}")
                } else if b & 0xc0 == 0x40 {
                    format!("Z:{runlen}")
                } else {
                    format!("v:{val},{runlen}")
                });
                p += n;
            }
            Reply::Bulk(out.join(" ").into_bytes())
        }
        "encoding" => {
            if argv.len() != 3 {
                return arity();
            }
            Reply::Simple(
                if bytes[4] == SPARSE {
                    "sparse"
                } else {
                    "dense"
                }
                .into(),
            )
        }
        "todense" => {
            if argv.len() != 3 {
                return arity();
            }
            match densify(ctx) {
                Ok((_, converted)) => Reply::Int(converted as i64),
                Err(e) => e,
            }
        }
        _ => Reply::err(format!("ERR Unknown PFDEBUG subcommand '{sub}'")),
    }
}

/// PFSELFTEST, as `pfselftestCommand`: the dense register accessors on
/// random values, then 10,000,000 elements added to a dense and a sparse
/// HLL at once, checking at every power of ten that the sparse form is
/// used while small, that both estimate the same, and that the error is
/// within six standard errors. A deliberately slow command, as in Redis.
fn pfselftest(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    const CYCLES: usize = 1000;
    let rng = &mut ctx.srv.rng;
    let mut regs = vec![0u8; DENSE_SIZE - HDR];
    let mut expect = vec![0u8; REGISTERS];
    for _ in 0..CYCLES {
        for (i, e) in expect.iter_mut().enumerate() {
            let r = (rng.next_u64() & 63) as u8;
            *e = r;
            dense_set(&mut regs, i, r);
        }
        for (i, &e) in expect.iter().enumerate() {
            let got = dense_get(&regs, i);
            if got != e {
                return Reply::err(format!(
                    "TESTFAILED Register {i} should be {e} but is {got}"
                ));
            }
        }
    }
    let limit = max_bytes(ctx);
    regs.iter_mut().for_each(|r| *r = 0);
    let mut sparse = StrValue::raw_new(empty());
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let seed = ctx.srv.rng.next_u64();
    let mut checkpoint: u64 = 1;
    for j in 1..=10_000_000u64 {
        let ele = (j ^ seed).to_le_bytes();
        let (index, count) = pat_len(&ele);
        if dense_get(&regs, index) < count {
            dense_set(&mut regs, index, count);
        }
        if let Set::Invalid = set_register(&mut sparse, index, count, limit) {
            return Reply::err("TESTFAILED sparse HLL corrupted");
        }
        if j != checkpoint {
            continue;
        }
        let bytes = sparse.to_bytes();
        if (j as usize) < limit / 2 && bytes[4] != SPARSE {
            return Reply::err("TESTFAILED sparse encoding not used");
        }
        let dense_card = estimate(&dense_registers(&regs));
        let Some(sparse_regs) = registers(&bytes) else {
            return Reply::err("TESTFAILED sparse HLL corrupted");
        };
        if dense_card != estimate(&sparse_regs) {
            return Reply::err("TESTFAILED dense/sparse disagree");
        }
        let abserr = (checkpoint as i64 - dense_card as i64).unsigned_abs();
        let maxerr = if j == 10 {
            1
        } else {
            (relerr * 6.0 * checkpoint as f64).ceil() as u64
        };
        if abserr > maxerr {
            return Reply::err(format!(
                "TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"
            ));
        }
        checkpoint *= 10;
    }
    Reply::ok()
}

/// The registers of a dense register array, one byte each.
fn dense_registers(regs: &[u8]) -> Vec<u8> {
    (0..REGISTERS).map(|i| dense_get(regs, i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur_and_estimate_basics() {
        // An empty HLL counts 0; its first opcode spans every register.
        let e = empty();
        assert_eq!(e.len(), 18);
        assert_eq!(estimate(&registers(&e).unwrap()), 0);
        let (i, c) = pat_len(b"a");
        assert!(i < REGISTERS && c >= 1);
    }
}
