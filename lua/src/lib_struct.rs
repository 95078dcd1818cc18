//! The `struct` library (lua_struct.c): `pack`, `unpack`, `size` with endianness
//! (`<`, `>`, `!` alignment) and the b/B/h/H/l/L/T/i/I/f/d/c/s/x options.

use crate::value::{LuaError, Value};
use crate::{Ctx, Lua};

const MAXINTSIZE: usize = 32;
const MAXALIGN: usize = 8;

#[derive(Clone, Copy)]
struct Header {
    little: bool,
    align: usize,
}

fn getnum(ctx: &mut Ctx, fmt: &[u8], i: &mut usize, df: usize) -> Result<usize, LuaError> {
    if *i >= fmt.len() || !fmt[*i].is_ascii_digit() {
        return Ok(df);
    }
    let mut a: usize = 0;
    while *i < fmt.len() && fmt[*i].is_ascii_digit() {
        let d = (fmt[*i] - b'0') as usize;
        if a > (i32::MAX as usize) / 10 || a * 10 > i32::MAX as usize - d {
            return Err(ctx.error("integral size overflow"));
        }
        a = a * 10 + d;
        *i += 1;
    }
    Ok(a)
}

fn optsize(ctx: &mut Ctx, opt: u8, fmt: &[u8], i: &mut usize) -> Result<usize, LuaError> {
    Ok(match opt {
        b'B' | b'b' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' | b'T' | b'd' => 8,
        b'f' => 4,
        b'x' => 1,
        b'c' => getnum(ctx, fmt, i, 1)?,
        b'i' | b'I' => {
            let sz = getnum(ctx, fmt, i, 4)?;
            if sz > MAXINTSIZE {
                return Err(ctx.error(format!(
                    "integral size {} is larger than limit of {}",
                    sz, MAXINTSIZE
                )));
            }
            sz
        }
        _ => 0,
    })
}

fn gettoalign(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

fn controloptions(
    ctx: &mut Ctx,
    opt: u8,
    fmt: &[u8],
    i: &mut usize,
    h: &mut Header,
) -> Result<(), LuaError> {
    match opt {
        b' ' => Ok(()),
        b'>' => {
            h.little = false;
            Ok(())
        }
        b'<' => {
            h.little = true;
            Ok(())
        }
        b'!' => {
            let a = getnum(ctx, fmt, i, MAXALIGN)?;
            if !a.is_power_of_two() {
                return Err(ctx.error(format!("alignment {} is not a power of 2", a)));
            }
            h.align = a;
            Ok(())
        }
        _ => {
            let mut m = b"invalid format option '".to_vec();
            m.push(opt);
            m.push(b'\'');
            Err(ctx.arg_error(1, m))
        }
    }
}

fn fmt_str(ctx: &mut Ctx) -> Result<Vec<u8>, LuaError> {
    let mut f = ctx.check_bytes(1)?;
    if let Some(p) = f.iter().position(|&c| c == 0) {
        f.truncate(p);
    }
    Ok(f)
}

fn pack(ctx: &mut Ctx) -> Result<Vec<Value>, LuaError> {
    let fmt = fmt_str(ctx)?;
    let mut h = Header {
        little: true,
        align: 1,
    };
    let mut arg = 2;
    let mut out: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < fmt.len() {
        let opt = fmt[i];
        i += 1;
        let mut size = optsize(ctx, opt, &fmt, &mut i)?;
        let toalign = gettoalign(out.len(), &h, opt, size);
        out.resize(out.len() + toalign, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = ctx.check_number(arg)?;
                arg += 1;
                let mut value: u64 = if n < 0.0 {
                    crate::to_integer(n) as u64
                } else if n >= 1.8446744073709552e19 {
                    0
                } else {
                    n as u64
                };
                let mut buf = vec![0u8; size];
                if h.little {
                    for b in buf.iter_mut() {
                        *b = value as u8;
                        value = value.checked_shr(8).unwrap_or(0);
                    }
                } else {
                    for b in buf.iter_mut().rev() {
                        *b = value as u8;
                        value = value.checked_shr(8).unwrap_or(0);
                    }
                }
                out.extend_from_slice(&buf);
            }
            b'x' => out.push(0),
            b'f' => {
                let f = ctx.check_number(arg)? as f32;
                arg += 1;
                out.extend_from_slice(&if h.little {
                    f.to_le_bytes()
                } else {
                    f.to_be_bytes()
                });
            }
            b'd' => {
                let d = ctx.check_number(arg)?;
                arg += 1;
                out.extend_from_slice(&if h.little {
                    d.to_le_bytes()
                } else {
                    d.to_be_bytes()
                });
            }
            b'c' | b's' => {
                let s = ctx.check_bytes(arg)?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(ctx.arg_error(arg, "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => controloptions(ctx, opt, &fmt, &mut i, &mut h)?,
        }
    }
    Ok(vec![ctx.string(out)])
}

fn unpack(ctx: &mut Ctx) -> Result<Vec<Value>, LuaError> {
    let fmt = fmt_str(ctx)?;
    let data = ctx.check_bytes(2)?;
    let ld = data.len();
    let pos0 = ctx.opt_integer(3, 1)?;
    if pos0 <= 0 {
        return Err(ctx.arg_error(3, "offset must be 1 or greater"));
    }
    let mut pos = (pos0 - 1) as usize;
    let mut h = Header {
        little: true,
        align: 1,
    };
    let mut res: Vec<Value> = Vec::new();
    let mut i = 0;
    while i < fmt.len() {
        let opt = fmt[i];
        i += 1;
        let mut size = optsize(ctx, opt, &fmt, &mut i)?;
        pos += gettoalign(pos, &h, opt, size);
        if !(size <= ld && pos <= ld - size) {
            return Err(ctx.arg_error(2, "data string too short"));
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let bytes = &data[pos..pos + size];
                let mut l: u64 = 0;
                if h.little {
                    for &b in bytes.iter().rev() {
                        l = (l << 8) | b as u64;
                    }
                } else {
                    for &b in bytes {
                        l = (l << 8) | b as u64;
                    }
                }
                let v = if opt.is_ascii_lowercase() {
                    let bits = size * 8;
                    if bits < 64 && bits > 0 {
                        let mask = u64::MAX << (bits - 1);
                        if l & mask != 0 {
                            l |= mask;
                        }
                    }
                    l as i64 as f64
                } else {
                    l as f64
                };
                res.push(Value::Number(v));
            }
            b'x' => {}
            b'f' => {
                let b: [u8; 4] = data[pos..pos + 4].try_into().unwrap();
                let f = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                res.push(Value::Number(f as f64));
            }
            b'd' => {
                let b: [u8; 8] = data[pos..pos + 8].try_into().unwrap();
                let d = if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                res.push(Value::Number(d));
            }
            b'c' => {
                if size == 0 {
                    match res.last().copied() {
                        Some(Value::Number(n)) => {
                            size = n as usize;
                            res.pop();
                        }
                        _ => return Err(ctx.error("format 'c0' needs a previous size")),
                    }
                    if !(size <= ld && pos <= ld - size) {
                        return Err(ctx.arg_error(2, "data string too short"));
                    }
                }
                let s = ctx.string(&data[pos..pos + size]);
                res.push(s);
            }
            b's' => {
                let e = match data[pos..].iter().position(|&c| c == 0) {
                    Some(e) => e,
                    None => return Err(ctx.error("unfinished string in data")),
                };
                size = e + 1;
                let s = ctx.string(&data[pos..pos + e]);
                res.push(s);
            }
            _ => controloptions(ctx, opt, &fmt, &mut i, &mut h)?,
        }
        pos += size;
    }
    res.push(Value::Number((pos + 1) as f64));
    Ok(res)
}

fn size(ctx: &mut Ctx) -> Result<Vec<Value>, LuaError> {
    let fmt = fmt_str(ctx)?;
    let mut h = Header {
        little: true,
        align: 1,
    };
    let mut pos = 0usize;
    let mut i = 0;
    while i < fmt.len() {
        let opt = fmt[i];
        i += 1;
        let size = optsize(ctx, opt, &fmt, &mut i)?;
        pos += gettoalign(pos, &h, opt, size);
        if opt == b's' {
            return Err(ctx.arg_error(1, "option 's' has no fixed size"));
        } else if opt == b'c' && size == 0 {
            return Err(ctx.arg_error(1, "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            controloptions(ctx, opt, &fmt, &mut i, &mut h)?;
        }
        pos += size;
    }
    Ok(vec![Value::Number(pos as f64)])
}

pub(crate) fn open(lua: &mut Lua) {
    let t = lua.new_table();
    lua.set_field_fn(t, "pack", pack);
    lua.set_field_fn(t, "unpack", unpack);
    lua.set_field_fn(t, "size", size);
    lua.set_global("struct", Value::Table(t));
}
