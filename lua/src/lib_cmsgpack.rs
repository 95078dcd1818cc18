//! The `cmsgpack` library (lua_cmsgpack.c): `pack`, `unpack`, `unpack_one`,
//! `unpack_limit`, with its smallest-encoding rules, array detection and errors.

use crate::value::{LuaError, TableRef, Value};
use crate::{Ctx, Lua};

const MAX_NESTING: usize = 16;

fn is_int64_equivalent(n: f64) -> bool {
    n.is_finite() && n == (crate::to_integer(n) as f64)
}

fn encode_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2147483648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_len(out: &mut Vec<u8>, len: usize, fix: u8, fixmax: usize, h16: u8, h32: u8) {
    if len <= fixmax {
        out.push(fix | len as u8);
    } else if len <= 0xffff {
        out.push(h16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(h32);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn is_array(ctx: &mut Ctx, t: TableRef) -> bool {
    let mut count = 0.0;
    let mut max = 0.0f64;
    let mut k = Value::Nil;
    while let Ok(Some((key, _))) = ctx.heap.table(t).next(k) {
        match key {
            Value::Number(n) if n > 0.0 && is_int64_equivalent(n) => {
                max = max.max(n);
                count += 1.0;
            }
            _ => return false,
        }
        k = key;
    }
    max == count
}

fn encode(ctx: &mut Ctx, v: Value, level: usize, out: &mut Vec<u8>) -> Result<(), LuaError> {
    let v = if matches!(v, Value::Table(_)) && level == MAX_NESTING {
        Value::Nil
    } else {
        v
    };
    match v {
        Value::String(s) => {
            let b = ctx.str_bytes(s);
            let len = b.len();
            if len < 32 {
                out.push(0xa0 | len as u8);
            } else if len <= 0xff {
                out.extend_from_slice(&[0xd9, len as u8]);
            } else if len <= 0xffff {
                out.push(0xda);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                out.push(0xdb);
                out.extend_from_slice(&(len as u32).to_be_bytes());
            }
            out.extend_from_slice(ctx.str_bytes(s));
        }
        Value::Boolean(b) => out.push(if b { 0xc3 } else { 0xc2 }),
        Value::Number(n) => {
            if is_int64_equivalent(n) {
                encode_int(out, crate::to_integer(n));
            } else {
                let f = n as f32;
                if f as f64 == n {
                    out.push(0xca);
                    out.extend_from_slice(&f.to_be_bytes());
                } else {
                    out.push(0xcb);
                    out.extend_from_slice(&n.to_be_bytes());
                }
            }
        }
        Value::Table(t) => {
            if is_array(ctx, t) {
                let len = ctx.heap.table(t).len();
                encode_len(out, len, 0x90, 15, 0xdc, 0xdd);
                for j in 1..=len {
                    let e = ctx.heap.table(t).get_int(j as i64);
                    encode(ctx, e, level + 1, out)?;
                }
            } else {
                let mut n = 0;
                let mut k = Value::Nil;
                while let Ok(Some((key, _))) = ctx.heap.table(t).next(k) {
                    n += 1;
                    k = key;
                }
                encode_len(out, n, 0x80, 15, 0xde, 0xdf);
                let mut k = Value::Nil;
                while let Ok(Some((key, val))) = ctx.heap.table(t).next(k) {
                    encode(ctx, key, level + 1, out)?;
                    encode(ctx, val, level + 1, out)?;
                    k = key;
                }
            }
        }
        _ => out.push(0xc0),
    }
    Ok(())
}

enum DErr {
    Eof,
    BadFmt,
}

struct Cur<'a> {
    d: &'a [u8],
    p: usize,
}

impl Cur<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DErr> {
        if self.d.len() - self.p < n {
            return Err(DErr::Eof);
        }
        let s = &self.d[self.p..self.p + n];
        self.p += n;
        Ok(s)
    }
    fn be(&mut self, n: usize) -> Result<u64, DErr> {
        Ok(self.take(n)?.iter().fold(0u64, |a, &b| (a << 8) | b as u64))
    }
}

fn decode(ctx: &mut Ctx, c: &mut Cur) -> Result<Value, DErr> {
    let b = c.take(1)?[0];
    let v = match b {
        0x00..=0x7f => Value::Number(b as f64),
        0xe0..=0xff => Value::Number(b as i8 as f64),
        0xc0 => Value::Nil,
        0xc2 => Value::Boolean(false),
        0xc3 => Value::Boolean(true),
        0xcc => Value::Number(c.be(1)? as f64),
        0xcd => Value::Number(c.be(2)? as f64),
        0xce => Value::Number(c.be(4)? as f64),
        0xcf => Value::Number(c.be(8)? as f64),
        0xd0 => Value::Number(c.be(1)? as u8 as i8 as f64),
        0xd1 => Value::Number(c.be(2)? as u16 as i16 as f64),
        0xd2 => Value::Number(c.be(4)? as u32 as i32 as f64),
        0xd3 => Value::Number(c.be(8)? as i64 as f64),
        0xca => Value::Number(f32::from_bits(c.be(4)? as u32) as f64),
        0xcb => Value::Number(f64::from_bits(c.be(8)?)),
        0xa0..=0xbf | 0xd9 | 0xda | 0xdb | 0xc4 | 0xc5 | 0xc6 => {
            let len = match b {
                0xd9 | 0xc4 => c.be(1)? as usize,
                0xda | 0xc5 => c.be(2)? as usize,
                0xdb | 0xc6 => c.be(4)? as usize,
                _ => (b & 0x1f) as usize,
            };
            let s = c.take(len)?.to_vec();
            ctx.string(s)
        }
        0x90..=0x9f | 0xdc | 0xdd => {
            let len = match b {
                0xdc => c.be(2)? as usize,
                0xdd => c.be(4)? as usize,
                _ => (b & 0x0f) as usize,
            };
            let t = ctx.create_table(len.min(1 << 16), 0);
            for j in 1..=len {
                let v = decode(ctx, c)?;
                ctx.heap.table_mut(t).set_int(j as i64, v);
            }
            Value::Table(t)
        }
        0x80..=0x8f | 0xde | 0xdf => {
            let len = match b {
                0xde => c.be(2)? as usize,
                0xdf => c.be(4)? as usize,
                _ => (b & 0x0f) as usize,
            };
            let t = ctx.new_table();
            for _ in 0..len {
                let k = decode(ctx, c)?;
                let v = decode(ctx, c)?;
                let _ = ctx.heap.table_mut(t).set(k, v);
            }
            Value::Table(t)
        }
        _ => return Err(DErr::BadFmt),
    };
    Ok(v)
}

fn unpack_full(ctx: &mut Ctx, limit: i64, offset: i64) -> Result<Vec<Value>, LuaError> {
    let s = ctx.check_bytes(1)?;
    let len = s.len();
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        return Err(ctx.error(format!(
            "Invalid request to unpack with offset of {} and limit of {}.",
            offset, len
        )));
    } else if offset as usize > len {
        return Err(ctx.error(format!(
            "Start offset {} greater than input length {}.",
            offset, len
        )));
    }
    let limit = if decode_all { i64::MAX } else { limit };
    let mut c = Cur {
        d: &s[offset as usize..],
        p: 0,
    };
    let mut out = Vec::new();
    let mut cnt = 0;
    while c.p < c.d.len() && cnt < limit {
        match decode(ctx, &mut c) {
            Ok(v) => out.push(v),
            Err(DErr::Eof) => return Err(ctx.error("Missing bytes in input.")),
            Err(DErr::BadFmt) => return Err(ctx.error("Bad data format in input.")),
        }
        cnt += 1;
    }
    if !decode_all {
        let left = c.d.len() - c.p;
        let new_offset = if left == 0 { -1 } else { (len - left) as i64 };
        out.insert(0, Value::Number(new_offset as f64));
    }
    Ok(out)
}

pub(crate) fn open(lua: &mut Lua) {
    let t = lua.new_table();
    lua.set_field_fn(t, "pack", |ctx| {
        let n = ctx.nargs();
        if n == 0 {
            return Err(ctx.arg_error(0, "MessagePack pack needs input."));
        }
        let mut out = Vec::new();
        for i in 0..n {
            encode(ctx, ctx.arg(i), 0, &mut out)?;
        }
        Ok(vec![ctx.string(out)])
    });
    lua.set_field_fn(t, "unpack", |ctx| unpack_full(ctx, 0, 0));
    lua.set_field_fn(t, "unpack_one", |ctx| {
        let off = ctx.opt_integer(2, 0)?;
        unpack_full(ctx, 1, off)
    });
    lua.set_field_fn(t, "unpack_limit", |ctx| {
        let limit = ctx.check_integer(2)?;
        let off = ctx.opt_integer(3, 0)?;
        unpack_full(ctx, limit, off)
    });
    let name = lua.string("cmsgpack");
    lua.raw_set_str(t, "_NAME", name);
    lua.set_global("cmsgpack", Value::Table(t));
}
