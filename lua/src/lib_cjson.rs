//! The `cjson` library (lua_cjson.c as vendored by Redis): `encode` with the exact
//! number formatting (`%.14g` via fpconv), escaping table, sparse-array rules and
//! error texts; `decode` with its tokenizer and error messages; `cjson.null`.

use crate::number;
use crate::value::{LuaError, TableRef, Value};
use crate::{Ctx, Lua};

pub(crate) struct Config {
    sparse_convert: bool,
    sparse_ratio: i32,
    sparse_safe: i32,
    encode_max_depth: i32,
    decode_max_depth: i32,
    precision: usize,
    /// 0 off (error), 1 on ("nan", "inf" as fpconv writes them), 2 "null".
    encode_invalid_numbers: u8,
    decode_invalid_numbers: bool,
    encode_keep_buffer: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            precision: 14,
            encode_invalid_numbers: 0,
            decode_invalid_numbers: true,
            encode_keep_buffer: true,
        }
    }
}

type R = Result<Vec<Value>, LuaError>;

pub(crate) fn open(lua: &mut Lua) {
    let t = lua.new_table();
    lua.set_field_fn(t, "encode", |ctx| {
        if ctx.nargs() != 1 {
            return Err(ctx.arg_error(1, "expected 1 argument"));
        }
        let mut out = Vec::new();
        encode(ctx, ctx.arg(0), 0, &mut out)?;
        Ok(vec![ctx.string(out)])
    });
    lua.set_field_fn(t, "decode", |ctx| {
        if ctx.nargs() != 1 {
            return Err(ctx.arg_error(1, "expected 1 argument"));
        }
        let s = ctx.check_bytes(1)?;
        decode(ctx, &s)
    });
    lua.raw_set_str(t, "null", Value::LightUserData(0));
    lua.set_field_fn(t, "encode_sparse_array", |ctx| {
        if !ctx.arg(0).is_nil() {
            ctx.lua.cjson.sparse_convert = ctx.arg(0).truthy();
        }
        if !ctx.arg(1).is_nil() {
            ctx.lua.cjson.sparse_ratio = ctx.check_int(2)?;
        }
        if !ctx.arg(2).is_nil() {
            ctx.lua.cjson.sparse_safe = ctx.check_int(3)?;
        }
        let c = &ctx.lua.cjson;
        Ok(vec![
            Value::Boolean(c.sparse_convert),
            Value::Number(c.sparse_ratio as f64),
            Value::Number(c.sparse_safe as f64),
        ])
    });
    lua.set_field_fn(t, "encode_max_depth", |ctx| {
        if !ctx.arg(0).is_nil() {
            ctx.lua.cjson.encode_max_depth = ctx.check_int(1)?;
        }
        Ok(vec![Value::Number(ctx.lua.cjson.encode_max_depth as f64)])
    });
    lua.set_field_fn(t, "decode_max_depth", |ctx| {
        if !ctx.arg(0).is_nil() {
            ctx.lua.cjson.decode_max_depth = ctx.check_int(1)?;
        }
        Ok(vec![Value::Number(ctx.lua.cjson.decode_max_depth as f64)])
    });
    lua.set_field_fn(t, "encode_number_precision", |ctx| {
        if !ctx.arg(0).is_nil() {
            let p = ctx.check_int(1)?;
            if !(1..=14).contains(&p) {
                return Err(ctx.arg_error(1, "expected integer between 1 and 14"));
            }
            ctx.lua.cjson.precision = p as usize;
        }
        Ok(vec![Value::Number(ctx.lua.cjson.precision as f64)])
    });
    // json_enum_option: a boolean, or one of the option names; answers
    // the setting as a boolean (or its name when not a boolean value).
    lua.set_field_fn(t, "encode_keep_buffer", |ctx| {
        let v = enum_option(ctx, ctx.lua.cjson.encode_keep_buffer as u8, &["off", "on"])?;
        ctx.lua.cjson.encode_keep_buffer = v != 0;
        Ok(vec![Value::Boolean(v != 0)])
    });
    lua.set_field_fn(t, "encode_invalid_numbers", |ctx| {
        let v = enum_option(
            ctx,
            ctx.lua.cjson.encode_invalid_numbers,
            &["off", "on", "null"],
        )?;
        ctx.lua.cjson.encode_invalid_numbers = v;
        Ok(vec![if v <= 1 {
            Value::Boolean(v == 1)
        } else {
            ctx.string("null")
        }])
    });
    lua.set_field_fn(t, "decode_invalid_numbers", |ctx| {
        let v = enum_option(
            ctx,
            ctx.lua.cjson.decode_invalid_numbers as u8,
            &["off", "on"],
        )?;
        ctx.lua.cjson.decode_invalid_numbers = v != 0;
        Ok(vec![Value::Boolean(v != 0)])
    });
    let name = lua.string("cjson");
    lua.raw_set_str(t, "_NAME", name);
    let ver = lua.string("2.1.0");
    lua.raw_set_str(t, "_VERSION", ver);
    lua.set_global("cjson", Value::Table(t));
}

/// `json_enum_option`: argument 1 as a boolean or an option name, else the
/// current setting unchanged.
fn enum_option(ctx: &mut Ctx, current: u8, options: &[&str]) -> Result<u8, LuaError> {
    match ctx.arg(0) {
        Value::Nil => Ok(current),
        Value::Boolean(b) => Ok(b as u8),
        v => {
            let s = ctx.to_bytes(v).unwrap_or_default();
            match options.iter().position(|o| o.as_bytes() == s.as_slice()) {
                Some(i) => Ok(i as u8),
                None => Err(ctx.arg_error(
                    1,
                    format!("invalid option '{}'", String::from_utf8_lossy(&s)),
                )),
            }
        }
    }
}

fn encode_exception(ctx: &mut Ctx, v: Value, reason: &str) -> LuaError {
    ctx.error(format!("Cannot serialise {}: {}", v.type_name(), reason))
}

fn append_number(ctx: &mut Ctx, n: f64, out: &mut Vec<u8>) -> Result<(), LuaError> {
    match ctx.lua.cjson.encode_invalid_numbers {
        0 if n.is_infinite() || n.is_nan() => {
            return Err(encode_exception(
                ctx,
                Value::Number(n),
                "must not be NaN or Inf",
            ))
        }
        1 if n.is_nan() => {
            out.extend_from_slice(b"nan");
            return Ok(());
        }
        2 if n.is_infinite() || n.is_nan() => {
            out.extend_from_slice(b"null");
            return Ok(());
        }
        _ => {}
    }
    let p = ctx.lua.cjson.precision;
    if p == 14 {
        number::fmt_num(out, n);
    } else {
        number::fmt_g(out, n, p, false, false);
    }
    Ok(())
}

fn append_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            8 => out.extend_from_slice(b"\\b"),
            9 => out.extend_from_slice(b"\\t"),
            10 => out.extend_from_slice(b"\\n"),
            12 => out.extend_from_slice(b"\\f"),
            13 => out.extend_from_slice(b"\\r"),
            c if c < 32 || c == 127 => out.extend_from_slice(format!("\\u{:04x}", c).as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

/// `lua_array_length`: Some(max) if the table is an array, None for objects.
fn array_length(ctx: &mut Ctx, t: TableRef) -> Result<Option<usize>, LuaError> {
    let mut max = 0.0f64;
    let mut items = 0usize;
    let mut k = Value::Nil;
    while let Ok(Some((key, _))) = ctx.heap.table(t).next(k) {
        match key {
            Value::Number(n) if n != 0.0 && n.floor() == n && n >= 1.0 => {
                if n > max {
                    max = n;
                }
                items += 1;
            }
            _ => return Ok(None),
        }
        k = key;
    }
    let c = &ctx.lua.cjson;
    let max_i = max as i64;
    if c.sparse_ratio > 0
        && max_i > items as i64 * c.sparse_ratio as i64
        && max_i > c.sparse_safe as i64
    {
        if !c.sparse_convert {
            return Err(encode_exception(
                ctx,
                Value::Table(t),
                "excessively sparse array",
            ));
        }
        return Ok(None);
    }
    Ok(Some(max_i as usize))
}

fn encode(ctx: &mut Ctx, v: Value, depth: i32, out: &mut Vec<u8>) -> Result<(), LuaError> {
    match v {
        Value::String(s) => append_string(ctx.str_bytes(s), out),
        Value::Number(n) => append_number(ctx, n, out)?,
        Value::Boolean(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(0) => out.extend_from_slice(b"null"),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > ctx.lua.cjson.encode_max_depth {
                return Err(ctx.error(format!("Cannot serialise, excessive nesting ({})", depth)));
            }
            match array_length(ctx, t)? {
                Some(len) if len > 0 => {
                    out.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            out.push(b',');
                        }
                        let e = ctx.heap.table(t).get_int(i as i64);
                        encode(ctx, e, depth, out)?;
                    }
                    out.push(b']');
                }
                _ => {
                    out.push(b'{');
                    let mut k = Value::Nil;
                    let mut comma = false;
                    while let Ok(Some((key, val))) = ctx.heap.table(t).next(k) {
                        if comma {
                            out.push(b',');
                        }
                        comma = true;
                        match key {
                            Value::Number(n) => {
                                out.push(b'"');
                                append_number(ctx, n, out)?;
                                out.extend_from_slice(b"\":");
                            }
                            Value::String(s) => {
                                append_string(ctx.str_bytes(s), out);
                                out.push(b':');
                            }
                            _ => {
                                return Err(encode_exception(
                                    ctx,
                                    key,
                                    "table key must be a number or string",
                                ))
                            }
                        }
                        encode(ctx, val, depth, out)?;
                        k = key;
                    }
                    out.push(b'}');
                }
            }
        }
        _ => return Err(encode_exception(ctx, v, "type not supported")),
    }
    Ok(())
}

// ------------------------------------------------------------------ decoding

#[derive(Clone, Copy, PartialEq, Debug)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Num,
    Bool,
    Null,
    Colon,
    Comma,
    End,
    Error,
}

fn tok_name(t: Tok) -> &'static str {
    match t {
        Tok::ObjBegin => "T_OBJ_BEGIN",
        Tok::ObjEnd => "T_OBJ_END",
        Tok::ArrBegin => "T_ARR_BEGIN",
        Tok::ArrEnd => "T_ARR_END",
        Tok::Str => "T_STRING",
        Tok::Num => "T_NUMBER",
        Tok::Bool => "T_BOOLEAN",
        Tok::Null => "T_NULL",
        Tok::Colon => "T_COLON",
        Tok::Comma => "T_COMMA",
        Tok::End => "T_END",
        Tok::Error => "T_ERROR",
    }
}

struct Token {
    t: Tok,
    index: usize,
    num: f64,
    b: bool,
    s: Vec<u8>,
    err: &'static str,
}

struct Parser<'a> {
    data: &'a [u8],
    ptr: usize,
    depth: i32,
    max_depth: i32,
    decode_invalid_numbers: bool,
}

fn hex4(d: &[u8]) -> Option<u32> {
    if d.len() < 4 {
        return None;
    }
    let mut v = 0;
    for &c in &d[..4] {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

impl Parser<'_> {
    fn at(&self, i: usize) -> u8 {
        if i < self.data.len() {
            self.data[i]
        } else {
            0
        }
    }
    fn error_tok(&self, err: &'static str) -> Token {
        Token {
            t: Tok::Error,
            index: self.ptr,
            num: 0.0,
            b: false,
            s: Vec::new(),
            err,
        }
    }
    fn tok(&self, t: Tok, index: usize) -> Token {
        Token {
            t,
            index,
            num: 0.0,
            b: false,
            s: Vec::new(),
            err: "",
        }
    }

    fn is_invalid_number(&self) -> bool {
        let mut p = self.ptr;
        if self.at(p) == b'+' {
            return true;
        }
        if self.at(p) == b'-' {
            p += 1;
        }
        if self.at(p) == b'0' {
            let c2 = self.at(p + 1);
            return (c2 | 0x20) == b'x' || c2.is_ascii_digit();
        } else if self.at(p) <= b'9' {
            return false;
        }
        let rest: Vec<u8> = self.data[p.min(self.data.len())..]
            .iter()
            .take(3)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        rest == b"inf" || rest == b"nan"
    }

    fn number_token(&mut self, index: usize) -> Token {
        let (v, n) = number::strtod(&self.data[self.ptr..]);
        if n == 0 {
            return self.error_tok("invalid number");
        }
        // strtod also accepts hex with the "0x" handled by luaO-style parsing
        self.ptr += n;
        let mut t = self.tok(Tok::Num, index);
        t.num = v;
        t
    }

    fn next_token(&mut self) -> Token {
        while matches!(self.at(self.ptr), b' ' | b'\t' | b'\n' | b'\r')
            && self.ptr < self.data.len()
        {
            self.ptr += 1;
        }
        let index = self.ptr;
        if self.ptr >= self.data.len() || self.data[self.ptr] == 0 {
            return self.tok(Tok::End, index);
        }
        let ch = self.data[self.ptr];
        let simple = match ch {
            b'{' => Some(Tok::ObjBegin),
            b'}' => Some(Tok::ObjEnd),
            b'[' => Some(Tok::ArrBegin),
            b']' => Some(Tok::ArrEnd),
            b':' => Some(Tok::Colon),
            b',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(t) = simple {
            self.ptr += 1;
            return self.tok(t, index);
        }
        let rest = &self.data[self.ptr..];
        if ch == b'"' {
            return self.string_token(index);
        } else if ch == b'-' || ch.is_ascii_digit() {
            if !self.decode_invalid_numbers && self.is_invalid_number() {
                return self.error_tok("invalid number");
            }
            return self.number_token(index);
        } else if rest.starts_with(b"true") {
            self.ptr += 4;
            let mut t = self.tok(Tok::Bool, index);
            t.b = true;
            return t;
        } else if rest.starts_with(b"false") {
            self.ptr += 5;
            return self.tok(Tok::Bool, index);
        } else if rest.starts_with(b"null") {
            self.ptr += 4;
            return self.tok(Tok::Null, index);
        } else if self.decode_invalid_numbers
            && matches!(ch, b'i' | b'I' | b'n' | b'N' | b'+')
            && self.is_invalid_number()
        {
            return self.number_token(index);
        }
        self.error_tok("invalid token")
    }

    fn string_token(&mut self, index: usize) -> Token {
        self.ptr += 1;
        let mut s = Vec::new();
        loop {
            let ch = self.at(self.ptr);
            if ch == b'"' {
                break;
            }
            if ch == 0 {
                return self.error_tok("unexpected end of string");
            }
            if ch == b'\\' {
                let e = self.at(self.ptr + 1);
                let c = match e {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'b' => 8,
                    b'f' => 12,
                    b'n' => 10,
                    b'r' => 13,
                    b't' => 9,
                    b'u' => match self.unicode_escape(&mut s) {
                        Some(()) => continue,
                        None => return self.error_tok("invalid unicode escape code"),
                    },
                    _ => return self.error_tok("invalid escape code"),
                };
                self.ptr += 1;
                s.push(c);
                self.ptr += 1;
                continue;
            }
            s.push(ch);
            self.ptr += 1;
        }
        self.ptr += 1;
        let mut t = self.tok(Tok::Str, index);
        t.s = s;
        t
    }

    fn unicode_escape(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let mut cp = hex4(&self.data[(self.ptr + 2).min(self.data.len())..])?;
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 {
                return None;
            }
            if self.at(self.ptr + 6) != b'\\' || self.at(self.ptr + 7) != b'u' {
                return None;
            }
            let low = hex4(&self.data[(self.ptr + 8).min(self.data.len())..])?;
            if low & 0xFC00 != 0xDC00 {
                return None;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        if cp < 0x80 {
            out.push(cp as u8);
        } else if cp < 0x800 {
            out.push((0xC0 | (cp >> 6)) as u8);
            out.push((0x80 | (cp & 0x3F)) as u8);
        } else if cp < 0x10000 {
            out.push((0xE0 | (cp >> 12)) as u8);
            out.push((0x80 | ((cp >> 6) & 0x3F)) as u8);
            out.push((0x80 | (cp & 0x3F)) as u8);
        } else if cp < 0x200000 {
            out.push((0xF0 | (cp >> 18)) as u8);
            out.push((0x80 | ((cp >> 12) & 0x3F)) as u8);
            out.push((0x80 | ((cp >> 6) & 0x3F)) as u8);
            out.push((0x80 | (cp & 0x3F)) as u8);
        } else {
            return None;
        }
        self.ptr += len;
        Some(())
    }
}

fn parse_error(ctx: &mut Ctx, exp: &str, tok: &Token) -> LuaError {
    let found = if tok.t == Tok::Error {
        tok.err
    } else {
        tok_name(tok.t)
    };
    ctx.error(format!(
        "Expected {} but found {} at character {}",
        exp,
        found,
        tok.index + 1
    ))
}

fn decode_value(ctx: &mut Ctx, p: &mut Parser, tok: Token) -> Result<Value, LuaError> {
    match tok.t {
        Tok::Str => Ok(ctx.string(&tok.s)),
        Tok::Num => Ok(Value::Number(tok.num)),
        Tok::Bool => Ok(Value::Boolean(tok.b)),
        Tok::Null => Ok(Value::LightUserData(0)),
        Tok::ObjBegin | Tok::ArrBegin => {
            p.depth += 1;
            if p.depth > p.max_depth {
                return Err(ctx.error(format!(
                    "Found too many nested data structures ({}) at character {}",
                    p.depth, p.ptr
                )));
            }
            let t = ctx.new_table();
            if tok.t == Tok::ObjBegin {
                let mut tk = p.next_token();
                if tk.t != Tok::ObjEnd {
                    loop {
                        if tk.t != Tok::Str {
                            return Err(parse_error(ctx, "object key string", &tk));
                        }
                        let key = ctx.string(&tk.s);
                        let colon = p.next_token();
                        if colon.t != Tok::Colon {
                            return Err(parse_error(ctx, "colon", &colon));
                        }
                        let vt = p.next_token();
                        let v = decode_value(ctx, p, vt)?;
                        ctx.heap.table_mut(t).set(key, v).ok();
                        tk = p.next_token();
                        if tk.t == Tok::ObjEnd {
                            break;
                        }
                        if tk.t != Tok::Comma {
                            return Err(parse_error(ctx, "comma or object end", &tk));
                        }
                        tk = p.next_token();
                    }
                }
            } else {
                let mut tk = p.next_token();
                if tk.t != Tok::ArrEnd {
                    let mut i = 1;
                    loop {
                        let v = decode_value(ctx, p, tk)?;
                        ctx.heap.table_mut(t).set_int(i, v);
                        i += 1;
                        tk = p.next_token();
                        if tk.t == Tok::ArrEnd {
                            break;
                        }
                        if tk.t != Tok::Comma {
                            return Err(parse_error(ctx, "comma or array end", &tk));
                        }
                        tk = p.next_token();
                    }
                }
            }
            p.depth -= 1;
            Ok(Value::Table(t))
        }
        _ => Err(parse_error(ctx, "value", &tok)),
    }
}

fn decode(ctx: &mut Ctx, s: &[u8]) -> R {
    if s.len() >= 2 && (s[0] == 0 || s[1] == 0) {
        return Err(ctx.error("JSON parser does not support UTF-16 or UTF-32"));
    }
    let max_depth = ctx.lua.cjson.decode_max_depth;
    let decode_invalid_numbers = ctx.lua.cjson.decode_invalid_numbers;
    let mut p = Parser {
        data: s,
        ptr: 0,
        depth: 0,
        max_depth,
        decode_invalid_numbers,
    };
    let tok = p.next_token();
    let v = decode_value(ctx, &mut p, tok)?;
    let end = p.next_token();
    if end.t != Tok::End {
        return Err(parse_error(ctx, "the end", &end));
    }
    Ok(vec![v])
}
