//! Bitmaps (the analytics use case: daily active users as one bit per user
//! id): SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO — strings
//! addressed by bit, as Redis 7.0's bitops.c does it: bit 0 is the most
//! significant bit of byte 0; writes pad the string with zero bytes (and
//! grow it as `sdsgrowzero` does); int and embstr strings are read through
//! their text and turned raw by a write.

use super::keys::lookup_read;
use super::strings::read_str;
use super::{eq_ic, err_not_int, err_syntax, parse_int, Ctx, Handler};
use crate::protocol::request::parse_i64_strict;
use crate::protocol::Reply;
use crate::store::{StrValue, Value};

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "setbit" => setbit,
        "getbit" => getbit,
        "bitcount" => bitcount,
        "bitpos" => bitpos,
        "bitop" => bitop,
        "bitfield" => |c, a| bitfield(c, a, false),
        "bitfield_ro" => |c, a| bitfield(c, a, true),
        _ => return None,
    })
}

const ERR_OFFSET: &str = "ERR bit offset is not an integer or out of range";

/// `getBitOffsetFromArgument`: a bit offset within proto-max-bulk-len bytes;
/// with `bits` (BITFIELD), `#N` means N × bits.
fn bit_offset(ctx: &Ctx, arg: &[u8], bits: Option<u64>) -> Result<u64, Reply> {
    let hash = bits.is_some() && arg.first() == Some(&b'#');
    let n = parse_i64_strict(&arg[hash as usize..]).ok_or_else(|| Reply::err(ERR_OFFSET))?;
    let n = if hash {
        n.wrapping_mul(bits.unwrap_or(1) as i64)
    } else {
        n
    };
    if n < 0 || (n as u64 >> 3) >= ctx.srv.config.proto_max_bulk_len() {
        return Err(Reply::err(ERR_OFFSET));
    }
    Ok(n as u64)
}

/// `lookupStringForBitCommand`: the key's string made raw and at least long
/// enough to address `maxbit`, created when missing. `Ok(true)` when it was
/// created or grew.
fn string_for_write(ctx: &mut Ctx, key: &[u8], maxbit: u64) -> Result<bool, Reply> {
    let now = ctx.now;
    let byte = (maxbit >> 3) as usize;
    let db = ctx.db();
    // The match is exhaustive: a new value type must decide here.
    match db.get(key, now).map(|e| &e.value) {
        None => {
            db.set(
                key,
                Value::Str(StrValue::raw_new(vec![0; byte + 1])),
                now,
                false,
            );
            Ok(true)
        }
        // Only a string that grows is changed here (Redis's `dirty`).
        Some(Value::Str(_)) => Ok(db
            .modify_if(key, now, |v| {
                let Value::Str(s) = v else {
                    return (false, false);
                };
                let data = s.make_raw();
                let grew = data.len() < byte + 1;
                if grew {
                    data.resize(byte + 1, 0);
                }
                s.note_growth();
                (grew, grew)
            })
            .unwrap_or(false)),
        Some(_) => Err(Reply::err(super::WRONGTYPE)),
    }
}

/// Applies `f` to the raw bytes of the string at `key` (which exists).
/// Runs `f` on the string's bytes; `f` says whether it changed them (a
/// SETBIT of the bit already there changes nothing: no WATCH, no event,
/// no dirty, nothing replicated — as Redis).
fn with_bytes<R>(ctx: &mut Ctx, key: &[u8], f: impl FnOnce(&mut Vec<u8>) -> (R, bool)) -> R {
    let now = ctx.now;
    let mut f = Some(f);
    let mut out = None;
    ctx.db().modify_if(key, now, |v| {
        let mut changed = false;
        if let Value::Str(s) = v {
            if let Some(f) = f.take() {
                let (r, c) = f(s.make_raw());
                out = Some(r);
                changed = c;
            }
        }
        ((), changed)
    });
    out.expect("the string was just looked up")
}

fn setbit(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let offset = match bit_offset(ctx, &argv[2], None) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let on = match parse_i64_strict(&argv[3]) {
        Some(v) if v & !1 == 0 => v as u8,
        _ => return Reply::err("ERR bit is not an integer or out of range"),
    };
    if let Err(e) = string_for_write(ctx, &argv[1], offset) {
        return e;
    }
    let (byte, bit) = ((offset >> 3) as usize, 7 - (offset & 7) as u8);
    let old = with_bytes(ctx, &argv[1], |data| {
        let old = (data[byte] >> bit) & 1;
        data[byte] = (data[byte] & !(1 << bit)) | (on << bit);
        (old, old != on)
    });
    Reply::Int(old as i64)
}

fn getbit(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let offset = match bit_offset(ctx, &argv[2], None) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let data = match read_str(ctx, &argv[1]) {
        Ok(Some(d)) => d,
        Ok(None) => return Reply::Int(0),
        Err(e) => return e,
    };
    let (byte, bit) = ((offset >> 3) as usize, 7 - (offset & 7));
    Reply::Int(data.get(byte).map(|b| (b >> bit) & 1).unwrap_or(0) as i64)
}

/// BITCOUNT/BITPOS's range: `start end [BYTE|BIT]` made absolute. Returns
/// (first byte, last byte, mask of bits to drop in the first byte, in the
/// last byte), or `None` for an empty range.
fn range(len: usize, mut start: i64, mut end: i64, isbit: bool) -> Option<(usize, usize, u8, u8)> {
    let total = if isbit { (len as i64) << 3 } else { len as i64 };
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    if isbit && start <= end {
        first_mask = !((1u16 << (8 - (start & 7))) - 1) as u8;
        last_mask = ((1u16 << (7 - (end & 7))) - 1) as u8;
        start >>= 3;
        end >>= 3;
    }
    (start <= end).then_some((start as usize, end as usize, first_mask, last_mask))
}

fn unit(arg: &[u8]) -> Result<bool, Reply> {
    if eq_ic(arg, "bit") {
        Ok(true)
    } else if eq_ic(arg, "byte") {
        Ok(false)
    } else {
        Err(err_syntax())
    }
}

fn bitcount(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let p = match read_str(ctx, &argv[1]) {
        Ok(Some(d)) => d,
        Ok(None) => return Reply::Int(0),
        Err(e) => return e,
    };
    let r = match argv.len() {
        2 => range(p.len(), 0, p.len() as i64 - 1, false),
        4 | 5 => {
            let (start, end) = match (parse_int(&argv[2]), parse_int(&argv[3])) {
                (Ok(s), Ok(e)) => (s, e),
                (Err(e), _) | (_, Err(e)) => return e,
            };
            if start < 0 && end < 0 && start > end {
                return Reply::Int(0);
            }
            let isbit = match argv.get(4).map(|a| unit(a)) {
                Some(Err(e)) => return e,
                Some(Ok(b)) => b,
                None => false,
            };
            range(p.len(), start, end, isbit)
        }
        _ => return err_syntax(),
    };
    let Some((start, end, first, last)) = r else {
        return Reply::Int(0);
    };
    let mut count: u64 = p[start..=end].iter().map(|b| b.count_ones() as u64).sum();
    count -= (p[start] & first).count_ones() as u64;
    count -= (p[end] & last).count_ones() as u64;
    Reply::Int(count as i64)
}

/// `redisBitpos`: the first `bit` in `bytes`; for a 0 not found, the
/// position just past them; for a 1 not found, -1.
fn first_bit(bytes: &[u8], bit: bool) -> i64 {
    for (i, &b) in bytes.iter().enumerate() {
        let b = if bit { b } else { !b };
        if b != 0 {
            return (i * 8) as i64 + b.leading_zeros() as i64;
        }
    }
    if bit {
        -1
    } else {
        (bytes.len() * 8) as i64
    }
}

fn bitpos(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let bit = match parse_int(&argv[2]) {
        Ok(b @ (0 | 1)) => b == 1,
        Ok(_) => return Reply::err("ERR The bit argument must be 1 or 0."),
        Err(e) => return e,
    };
    let p = match read_str(ctx, &argv[1]) {
        Ok(Some(d)) => d,
        Ok(None) => return Reply::Int(if bit { -1 } else { 0 }),
        Err(e) => return e,
    };
    let mut end_given = false;
    let r = match argv.len() {
        3 => range(p.len(), 0, p.len() as i64 - 1, false),
        4..=6 => {
            let start = match parse_int(&argv[3]) {
                Ok(s) => s,
                Err(e) => return e,
            };
            let isbit = match argv.get(5).map(|a| unit(a)) {
                Some(Err(e)) => return e,
                Some(Ok(b)) => b,
                None => false,
            };
            let end = if argv.len() >= 5 {
                end_given = true;
                match parse_int(&argv[4]) {
                    Ok(e) => e,
                    Err(e) => return e,
                }
            } else if isbit {
                ((p.len() as i64) << 3) + 7
            } else {
                p.len() as i64 - 1
            };
            range(p.len(), start, end, isbit)
        }
        _ => return err_syntax(),
    };
    let Some((start, end, first, last)) = r else {
        return Reply::Int(-1);
    };
    // The range's bytes, with the bits outside it set to what is not sought.
    let mut bytes = p[start..=end].to_vec();
    let fix = |b: &mut u8, mask: u8| {
        if bit {
            *b &= !mask;
        } else {
            *b |= mask;
        }
    };
    fix(&mut bytes[0], first);
    let n = bytes.len();
    fix(&mut bytes[n - 1], last);
    let pos = first_bit(&bytes, bit);
    if end_given && !bit && pos == (n * 8) as i64 {
        return Reply::Int(-1);
    }
    Reply::Int(if pos == -1 {
        -1
    } else {
        pos + (start as i64) * 8
    })
}

fn bitop(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let op = &argv[1];
    let op = if eq_ic(op, "and") {
        0
    } else if eq_ic(op, "or") {
        1
    } else if eq_ic(op, "xor") {
        2
    } else if eq_ic(op, "not") {
        3
    } else {
        return err_syntax();
    };
    if op == 3 && argv.len() != 4 {
        return Reply::err("ERR BITOP NOT must be called with a single source key.");
    }
    let mut srcs = Vec::new();
    for k in &argv[3..] {
        match read_str(ctx, k) {
            Ok(v) => srcs.push(v.unwrap_or_default()),
            Err(e) => return e,
        }
    }
    let maxlen = srcs.iter().map(Vec::len).max().unwrap_or(0);
    let now = ctx.now;
    if maxlen == 0 {
        ctx.db().remove(&argv[2]);
        return Reply::Int(0);
    }
    let byte = |s: &Vec<u8>, j: usize| s.get(j).copied().unwrap_or(0);
    let res: Vec<u8> = (0..maxlen)
        .map(|j| {
            let mut out = byte(&srcs[0], j);
            if op == 3 {
                return !out;
            }
            for s in &srcs[1..] {
                let b = byte(s, j);
                match op {
                    0 => out &= b,
                    1 => out |= b,
                    _ => out ^= b,
                }
            }
            out
        })
        .collect();
    ctx.db()
        .set(&argv[2], Value::Str(StrValue::raw_new(res)), now, false);
    Reply::Int(maxlen as i64)
}

#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

struct FieldOp {
    offset: u64,
    value: i64,
    /// 0 GET, 1 SET, 2 INCRBY.
    op: u8,
    overflow: Overflow,
    bits: u64,
    signed: bool,
}

fn get_unsigned(p: &[u8], offset: u64, bits: u64) -> u64 {
    let mut v = 0u64;
    for j in 0..bits {
        let o = offset + j;
        let b = p.get((o >> 3) as usize).copied().unwrap_or(0);
        v = (v << 1) | ((b >> (7 - (o & 7))) & 1) as u64;
    }
    v
}

fn get_signed(p: &[u8], offset: u64, bits: u64) -> i64 {
    let v = get_unsigned(p, offset, bits);
    if bits < 64 && v & (1 << (bits - 1)) != 0 {
        (v | (u64::MAX << bits)) as i64
    } else {
        v as i64
    }
}

fn set_unsigned(p: &mut [u8], offset: u64, bits: u64, value: u64) {
    for j in 0..bits {
        let bitval = ((value >> (bits - 1 - j)) & 1) as u8;
        let o = offset + j;
        let (byte, bit) = ((o >> 3) as usize, 7 - (o & 7) as u8);
        p[byte] = (p[byte] & !(1 << bit)) | (bitval << bit);
    }
}

/// `checkUnsignedBitfieldOverflow`: 0, or ±1 with the value to store.
fn unsigned_overflow(value: u64, incr: i64, bits: u64, ow: Overflow) -> (i32, u64) {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = (value as i64).wrapping_neg();
    let wrap =
        || value.wrapping_add(incr as u64) & !(u64::MAX.checked_shl(bits as u32).unwrap_or(0));
    if value > max || (incr > 0 && incr > maxincr) {
        (1, if ow == Overflow::Wrap { wrap() } else { max })
    } else if incr < 0 && incr < minincr {
        (-1, if ow == Overflow::Wrap { wrap() } else { 0 })
    } else {
        (0, 0)
    }
}

/// `checkSignedBitfieldOverflow`.
fn signed_overflow(value: i64, incr: i64, bits: u64, ow: Overflow) -> (i32, i64) {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1 << (bits - 1)) != 0 {
                (c | mask) as i64
            } else {
                (c & !mask) as i64
            }
        } else {
            c as i64
        }
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        (1, if ow == Overflow::Wrap { wrap() } else { max })
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        (-1, if ow == Overflow::Wrap { wrap() } else { min })
    } else {
        (0, 0)
    }
}

fn bitfield_type(arg: &[u8]) -> Result<(bool, u64), Reply> {
    const ERR: &str = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(Reply::err(ERR)),
    };
    match parse_i64_strict(&arg[1..]) {
        Some(b) if b >= 1 && b <= if signed { 64 } else { 63 } => Ok((signed, b as u64)),
        _ => Err(Reply::err(ERR)),
    }
}

fn bitfield(ctx: &mut Ctx, argv: &[Vec<u8>], ro: bool) -> Reply {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut readonly = true;
    let mut highest = 0u64;
    let mut j = 2;
    while j < argv.len() {
        let rem = argv.len() - j - 1;
        let sub = &argv[j];
        let op = if eq_ic(sub, "get") && rem >= 2 {
            0
        } else if eq_ic(sub, "set") && rem >= 3 {
            1
        } else if eq_ic(sub, "incrby") && rem >= 3 {
            2
        } else if eq_ic(sub, "overflow") && rem >= 1 {
            let t = &argv[j + 1];
            overflow = if eq_ic(t, "wrap") {
                Overflow::Wrap
            } else if eq_ic(t, "sat") {
                Overflow::Sat
            } else if eq_ic(t, "fail") {
                Overflow::Fail
            } else {
                return Reply::err("ERR Invalid OVERFLOW type specified");
            };
            j += 2;
            continue;
        } else {
            return err_syntax();
        };
        let (signed, bits) = match bitfield_type(&argv[j + 1]) {
            Ok(t) => t,
            Err(e) => return e,
        };
        let offset = match bit_offset(ctx, &argv[j + 2], Some(bits)) {
            Ok(o) => o,
            Err(e) => return e,
        };
        let mut value = 0;
        if op != 0 {
            readonly = false;
            highest = highest.max(offset + bits - 1);
            value = match parse_i64_strict(&argv[j + 3]) {
                Some(v) => v,
                None => return err_not_int(),
            };
        }
        ops.push(FieldOp {
            offset,
            value,
            op,
            overflow,
            bits,
            signed,
        });
        j += if op == 0 { 3 } else { 4 };
    }
    let key = &argv[1];
    let now = ctx.now;
    if readonly {
        // A read: the string as it is (text for an int), or nothing.
        let p = if lookup_read(ctx, key, now) {
            // The match is exhaustive: a new value type must decide here.
            match ctx.db().peek(key).map(|e| &e.value) {
                Some(Value::Str(s)) => s.to_bytes(),
                Some(_) => return Reply::err(super::WRONGTYPE),
                None => Vec::new(),
            }
        } else {
            Vec::new()
        };
        return Reply::Array(
            ops.iter()
                .map(|o| {
                    Reply::Int(if o.signed {
                        get_signed(&p, o.offset, o.bits)
                    } else {
                        get_unsigned(&p, o.offset, o.bits) as i64
                    })
                })
                .collect(),
        );
    }
    if ro {
        return Reply::err("ERR BITFIELD_RO only supports the GET subcommand");
    }
    if let Err(e) = string_for_write(ctx, key, highest) {
        return e;
    }
    let replies = with_bytes(ctx, key, |p| {
        let mut changed = false;
        let replies = ops
            .iter()
            .map(|o| {
                if o.op == 0 {
                    return Reply::Int(if o.signed {
                        get_signed(p, o.offset, o.bits)
                    } else {
                        get_unsigned(p, o.offset, o.bits) as i64
                    });
                }
                let (overflowed, newval, retval) = if o.signed {
                    let old = get_signed(p, o.offset, o.bits);
                    if o.op == 2 {
                        let (ov, w) = signed_overflow(old, o.value, o.bits, o.overflow);
                        let new = if ov != 0 {
                            w
                        } else {
                            old.wrapping_add(o.value)
                        };
                        (ov, new as u64, new)
                    } else {
                        let (ov, w) = signed_overflow(o.value, 0, o.bits, o.overflow);
                        let new = if ov != 0 { w } else { o.value };
                        (ov, new as u64, old)
                    }
                } else {
                    let old = get_unsigned(p, o.offset, o.bits);
                    if o.op == 2 {
                        let (ov, w) = unsigned_overflow(old, o.value, o.bits, o.overflow);
                        let new = if ov != 0 {
                            w
                        } else {
                            old.wrapping_add(o.value as u64)
                        };
                        (ov, new, new as i64)
                    } else {
                        let (ov, w) = unsigned_overflow(o.value as u64, 0, o.bits, o.overflow);
                        let new = if ov != 0 { w } else { o.value as u64 };
                        (ov, new, old as i64)
                    }
                };
                if overflowed != 0 && o.overflow == Overflow::Fail {
                    return Reply::Nil;
                }
                let before = get_unsigned(p, o.offset, o.bits);
                set_unsigned(p, o.offset, o.bits, newval);
                changed |= before != get_unsigned(p, o.offset, o.bits);
                Reply::Int(retval)
            })
            .collect();
        (replies, changed)
    });
    Reply::Array(replies)
}
