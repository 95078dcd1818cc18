//! The `string` library (lstrlib.c): byte, char, find, format (every 5.1 conversion
//! including %q), gmatch, gsub, len, lower, match, rep, reverse, sub, upper, and the
//! string metatable so `("x"):upper()` works.

use crate::number::{self, Spec};
use crate::pattern::{self, Capture, MatchState};
use crate::value::{LuaError, Value};
use crate::{Ctx, Lua};

type R = Result<Vec<Value>, LuaError>;

fn posrelat(pos: i64, len: usize) -> i64 {
    let pos = if pos < 0 { pos + len as i64 + 1 } else { pos };
    if pos >= 0 {
        pos
    } else {
        0
    }
}

pub(crate) fn open(lua: &mut Lua) {
    let t = lua.new_table();
    lua.set_field_fn(t, "byte", str_byte);
    lua.set_field_fn(t, "char", str_char);
    // string.dump gives a binary chunk (an opaque one: this interpreter,
    // like Redis's, loads no binary chunks, so none is ever read back).
    lua.set_field_fn(t, "dump", |ctx| {
        let f = ctx.arg(0);
        if !matches!(f, Value::Function(_)) {
            return Err(ctx.type_error(1, "function"));
        }
        Ok(vec![ctx.string(b"\x1bLuaQ\x00\x01\x04\x08\x04\x08\x00")])
    });
    lua.set_field_fn(t, "find", |ctx| str_find_aux(ctx, true));
    lua.set_field_fn(t, "format", str_format);
    lua.set_field_fn(t, "gfind", gmatch);
    lua.set_field_fn(t, "gmatch", gmatch);
    lua.set_field_fn(t, "gsub", str_gsub);
    lua.set_field_fn(t, "len", |ctx| {
        let s = ctx.check_str(1)?;
        Ok(vec![Value::Number(ctx.str_bytes(s).len() as f64)])
    });
    lua.set_field_fn(t, "lower", |ctx| {
        let s = ctx.check_bytes(1)?;
        let r: Vec<u8> = s.iter().map(|c| c.to_ascii_lowercase()).collect();
        Ok(vec![ctx.string(r)])
    });
    lua.set_field_fn(t, "match", |ctx| str_find_aux(ctx, false));
    lua.set_field_fn(t, "rep", |ctx| {
        let s = ctx.check_bytes(1)?;
        let n = ctx.check_int(2)?;
        if n <= 0 || s.is_empty() {
            return Ok(vec![ctx.string(b"")]);
        }
        if s.len().saturating_mul(n as usize) > (1 << 30) {
            return Err(ctx.error("not enough memory"));
        }
        Ok(vec![ctx.string(s.repeat(n as usize))])
    });
    lua.set_field_fn(t, "reverse", |ctx| {
        let mut s = ctx.check_bytes(1)?;
        s.reverse();
        Ok(vec![ctx.string(s)])
    });
    lua.set_field_fn(t, "sub", |ctx| {
        let s = ctx.check_str(1)?;
        let l = ctx.str_bytes(s).len();
        let mut start = posrelat(ctx.check_integer(2)?, l);
        let mut end = posrelat(ctx.opt_integer(3, -1)?, l);
        if start < 1 {
            start = 1;
        }
        if end > l as i64 {
            end = l as i64;
        }
        if start <= end {
            let r = ctx.str_bytes(s)[(start - 1) as usize..end as usize].to_vec();
            Ok(vec![ctx.string(r)])
        } else {
            Ok(vec![ctx.string(b"")])
        }
    });
    lua.set_field_fn(t, "upper", |ctx| {
        let s = ctx.check_bytes(1)?;
        let r: Vec<u8> = s.iter().map(|c| c.to_ascii_uppercase()).collect();
        Ok(vec![ctx.string(r)])
    });
    lua.set_global("string", Value::Table(t));
    let meta = lua.new_table();
    lua.raw_set_str(meta, "__index", Value::Table(t));
    lua.string_meta = Some(meta);
}

fn str_byte(ctx: &mut Ctx) -> R {
    let s = ctx.check_str(1)?;
    let l = ctx.str_bytes(s).len();
    let mut posi = posrelat(ctx.opt_integer(2, 1)?, l);
    let mut pose = posrelat(ctx.opt_integer(3, posi)?, l);
    if posi <= 0 {
        posi = 1;
    }
    if pose > l as i64 {
        pose = l as i64;
    }
    if posi > pose {
        return Ok(vec![]);
    }
    let n = (pose - posi + 1) as usize;
    if n > 8000 {
        return Err(ctx.error("string slice too long"));
    }
    let bytes = ctx.str_bytes(s);
    Ok((0..n)
        .map(|i| Value::Number(bytes[posi as usize - 1 + i] as f64))
        .collect())
}

fn str_char(ctx: &mut Ctx) -> R {
    let n = ctx.nargs();
    let mut out = Vec::with_capacity(n);
    for i in 1..=n {
        let c = ctx.check_int(i)?;
        if c as u8 as i32 != c {
            return Err(ctx.arg_error(i, "invalid value"));
        }
        out.push(c as u8);
    }
    Ok(vec![ctx.string(out)])
}

fn capture_value(ctx: &mut Ctx, c: Capture, src: &[u8]) -> Value {
    match c {
        Capture::Str(a, b) => ctx.string(&src[a..b]),
        Capture::Pos(p) => Value::Number(p as f64),
    }
}

/// `push_captures`: all captures (or the whole match when there are none).
fn push_captures(ctx: &mut Ctx, ms: &MatchState, s: Option<usize>, e: usize, src: &[u8]) -> R {
    let nlevels = if ms.level == 0 && s.is_some() {
        1
    } else {
        ms.level
    };
    let mut out = Vec::with_capacity(nlevels);
    for i in 0..nlevels {
        match ms.get_capture(i, s.unwrap_or(0), e) {
            Ok(c) => out.push(capture_value(ctx, c, src)),
            Err(m) => return Err(ctx.error(m)),
        }
    }
    Ok(out)
}

fn str_find_aux(ctx: &mut Ctx, find: bool) -> R {
    let s = ctx.check_bytes(1)?;
    let p = ctx.check_bytes(2)?;
    let l1 = s.len();
    let mut init = posrelat(ctx.opt_integer(3, 1)?, l1) - 1;
    if init < 0 {
        init = 0;
    } else if init as usize > l1 {
        init = l1 as i64;
    }
    let init = init as usize;
    if find && (ctx.arg(3).truthy() || !pattern::has_specials(&p)) {
        if let Some(pos) = pattern::memfind(&s[init..], &p) {
            let st = init + pos;
            return Ok(vec![
                Value::Number((st + 1) as f64),
                Value::Number((st + p.len()) as f64),
            ]);
        }
    } else {
        let (anchor, pat) = if p.first() == Some(&b'^') {
            (true, &p[1..])
        } else {
            (false, &p[..])
        };
        let mut ms = MatchState::new(&s, pat);
        let mut s1 = init;
        loop {
            ms.level = 0;
            match ms.do_match(s1, 0) {
                Err(m) => return Err(ctx.error(m)),
                Ok(Some(e)) => {
                    if find {
                        let mut out = vec![Value::Number((s1 + 1) as f64), Value::Number(e as f64)];
                        out.extend(push_captures(ctx, &ms, None, 0, &s)?);
                        return Ok(out);
                    } else {
                        return push_captures(ctx, &ms, Some(s1), e, &s);
                    }
                }
                Ok(None) => {}
            }
            s1 += 1;
            if s1 > l1 || anchor {
                break;
            }
        }
    }
    Ok(vec![Value::Nil])
}

fn gmatch(ctx: &mut Ctx) -> R {
    let s = ctx.check_str(1)?;
    let p = ctx.check_str(2)?;
    let f = ctx.create_function_with_upvalues(
        gmatch_aux,
        vec![Value::String(s), Value::String(p), Value::Number(0.0)],
    );
    Ok(vec![f])
}

fn gmatch_aux(ctx: &mut Ctx) -> R {
    let s = match ctx.upvalue(0) {
        Value::String(s) => ctx.str_bytes(s).to_vec(),
        _ => return Ok(vec![]),
    };
    let p = match ctx.upvalue(1) {
        Value::String(p) => ctx.str_bytes(p).to_vec(),
        _ => return Ok(vec![]),
    };
    let start = ctx.upvalue(2).as_number().unwrap_or(0.0) as usize;
    let mut ms = MatchState::new(&s, &p);
    let mut src = start;
    while src <= s.len() {
        ms.level = 0;
        match ms.do_match(src, 0) {
            Err(m) => return Err(ctx.error(m)),
            Ok(Some(e)) => {
                let mut newstart = e;
                if e == src {
                    newstart += 1;
                }
                ctx.set_upvalue(2, Value::Number(newstart as f64));
                return push_captures(ctx, &ms, Some(src), e, &s);
            }
            Ok(None) => {}
        }
        src += 1;
    }
    Ok(vec![])
}

fn str_gsub(ctx: &mut Ctx) -> R {
    let src = ctx.check_bytes(1)?;
    let p = ctx.check_bytes(2)?;
    let repl = ctx.arg(2);
    let srcl = src.len();
    let max_s = ctx.opt_int(4, (srcl + 1) as i32)?;
    let (anchor, pat) = if p.first() == Some(&b'^') {
        (true, &p[1..])
    } else {
        (false, &p[..])
    };
    if !matches!(
        repl,
        Value::Number(_) | Value::String(_) | Value::Function(_) | Value::Table(_)
    ) {
        return Err(ctx.arg_error(3, "string/function/table expected"));
    }
    let repl_bytes = match repl {
        Value::Number(_) | Value::String(_) => Some(ctx.to_bytes(repl).unwrap()),
        _ => None,
    };
    let mut ms = MatchState::new(&src, pat);
    let mut b: Vec<u8> = Vec::with_capacity(srcl);
    let mut s = 0usize;
    let mut n = 0;
    while n < max_s {
        ms.level = 0;
        let e = match ms.do_match(s, 0) {
            Err(m) => return Err(ctx.error(m)),
            Ok(e) => e,
        };
        if let Some(e) = e {
            n += 1;
            // add_value
            let val = match &repl_bytes {
                Some(news) => {
                    let mut i = 0;
                    while i < news.len() {
                        let c = news[i];
                        if c != b'%' {
                            b.push(c);
                        } else {
                            i += 1;
                            let d = if i < news.len() { news[i] } else { 0 };
                            if !d.is_ascii_digit() {
                                if i < news.len() {
                                    b.push(d);
                                } else {
                                    b.push(0);
                                }
                            } else if d == b'0' {
                                b.extend_from_slice(&src[s..e]);
                            } else {
                                match ms.get_capture((d - b'1') as usize, s, e) {
                                    Ok(Capture::Str(x, y)) => b.extend_from_slice(&src[x..y]),
                                    Ok(Capture::Pos(pp)) => {
                                        let mut t = Vec::new();
                                        number::fmt_num(&mut t, pp as f64);
                                        b.extend_from_slice(&t);
                                    }
                                    Err(m) => return Err(ctx.error(m)),
                                }
                            }
                        }
                        i += 1;
                    }
                    None
                }
                None => {
                    let v = if let Value::Function(_) = repl {
                        let caps = push_captures(ctx, &ms, Some(s), e, &src)?;
                        ctx.call(repl, &caps)?
                            .first()
                            .copied()
                            .unwrap_or(Value::Nil)
                    } else {
                        let c = match ms.get_capture(0, s, e) {
                            Ok(c) => capture_value(ctx, c, &src),
                            Err(m) => return Err(ctx.error(m)),
                        };
                        let host: &mut dyn crate::Host = &mut *ctx.host;
                        let top = ctx.base + ctx.nargs;
                        if ctx.lua.top < top {
                            ctx.lua.top = top;
                        }
                        ctx.lua.index(host, repl, c, None)?
                    };
                    Some(v)
                }
            };
            if let Some(v) = val {
                if !v.truthy() {
                    b.extend_from_slice(&src[s..e]);
                } else {
                    match ctx.to_bytes(v) {
                        Some(bytes) => b.extend_from_slice(&bytes),
                        None => {
                            let m = format!("invalid replacement value (a {})", v.type_name());
                            return Err(ctx.error(m));
                        }
                    }
                }
            }
            if e > s {
                s = e;
            } else if s < srcl {
                b.push(src[s]);
                s += 1;
            } else {
                break;
            }
        } else if s < srcl {
            b.push(src[s]);
            s += 1;
        } else {
            break;
        }
        if anchor {
            break;
        }
    }
    b.extend_from_slice(&src[s..]);
    Ok(vec![ctx.string(b), Value::Number(n as f64)])
}

/// C `(unsigned long)d` on x86-64.
fn to_unsigned(d: f64) -> u64 {
    if d >= 9.223372036854775807e18 {
        if d >= 1.8446744073709552e19 || d.is_nan() {
            0x8000_0000_0000_0000
        } else {
            ((d - 9.223372036854775808e18) as i64 as u64).wrapping_add(0x8000_0000_0000_0000)
        }
    } else {
        crate::to_integer(d) as u64
    }
}

fn str_format(ctx: &mut Ctx) -> R {
    let top = ctx.nargs();
    let mut arg = 1;
    let fmt = ctx.check_bytes(1)?;
    let mut b: Vec<u8> = Vec::with_capacity(fmt.len() + 16);
    let mut i = 0;
    let at = |i: usize| if i < fmt.len() { fmt[i] } else { 0 };
    while i < fmt.len() {
        if fmt[i] != b'%' {
            b.push(fmt[i]);
            i += 1;
            continue;
        }
        i += 1;
        if at(i) == b'%' {
            b.push(b'%');
            i += 1;
            continue;
        }
        arg += 1;
        if arg > top {
            return Err(ctx.arg_error(arg, "no value"));
        }
        // scanformat
        let start = i;
        let mut spec = Spec::default();
        while at(i) != 0 && b"-+ #0".contains(&at(i)) {
            match at(i) {
                b'-' => spec.minus = true,
                b'+' => spec.plus = true,
                b' ' => spec.space = true,
                b'#' => spec.alt = true,
                _ => spec.zero = true,
            }
            i += 1;
        }
        if i - start >= 6 {
            return Err(ctx.error("invalid format (repeated flags)"));
        }
        let mut width = 0usize;
        for _ in 0..2 {
            if at(i).is_ascii_digit() {
                width = width * 10 + (at(i) - b'0') as usize;
                i += 1;
            }
        }
        spec.width = width;
        let mut has_prec = false;
        if at(i) == b'.' {
            has_prec = true;
            i += 1;
            let mut p = 0usize;
            for _ in 0..2 {
                if at(i).is_ascii_digit() {
                    p = p * 10 + (at(i) - b'0') as usize;
                    i += 1;
                }
            }
            spec.prec = Some(p);
        }
        if at(i).is_ascii_digit() {
            return Err(ctx.error("invalid format (width or precision too long)"));
        }
        let conv = at(i);
        i += 1;
        match conv {
            b'c' => {
                let n = ctx.check_number(arg)?;
                let c = crate::to_integer(n) as u8;
                if c != 0 {
                    let mut sp = spec;
                    sp.prec = None;
                    number::fmt_str(&mut b, &[c], &sp);
                } else if spec.width > 1 {
                    // sprintf wrote padding then NUL (or NUL then padding); strlen stops at NUL
                    if !spec.minus {
                        b.resize(b.len() + spec.width - 1, b' ');
                    }
                }
            }
            b'd' | b'i' => {
                let n = ctx.check_number(arg)?;
                number::fmt_int(&mut b, crate::to_integer(n), conv, &spec);
            }
            b'o' | b'u' | b'x' | b'X' => {
                let n = ctx.check_number(arg)?;
                number::fmt_int(&mut b, to_unsigned(n) as i64, conv, &spec);
            }
            b'e' | b'E' | b'f' | b'g' | b'G' => {
                let n = ctx.check_number(arg)?;
                number::fmt_float(&mut b, n, conv, &spec);
            }
            b'q' => {
                let s = ctx.check_bytes(arg)?;
                b.push(b'"');
                for &c in &s {
                    match c {
                        b'"' | b'\\' | b'\n' => {
                            b.push(b'\\');
                            b.push(c);
                        }
                        b'\r' => b.extend_from_slice(b"\\r"),
                        0 => b.extend_from_slice(b"\\000"),
                        _ => b.push(c),
                    }
                }
                b.push(b'"');
            }
            b's' => {
                let s = ctx.check_bytes(arg)?;
                if !has_prec && s.len() >= 100 {
                    b.extend_from_slice(&s);
                } else {
                    let cut = s.iter().position(|&c| c == 0).unwrap_or(s.len());
                    number::fmt_str(&mut b, &s[..cut], &spec);
                }
            }
            _ => {
                let mut m = b"invalid option '%".to_vec();
                m.push(conv);
                m.extend_from_slice(b"' to 'format'");
                return Err(ctx.error(m));
            }
        }
    }
    Ok(vec![ctx.string(b)])
}
