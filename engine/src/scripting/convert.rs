//! Values across the Lua boundary, as Redis converts them: a command's reply
//! (in the script's RESP version, 2 unless `redis.setresp(3)`) becomes Lua
//! values (`redisProtocolToLuaType`), and a script's result becomes the
//! caller's reply (`luaReplyToRedisReply`).

use cachelab_lua::{Lua, LuaError, TableRef, Value};

use crate::protocol::{parse_reply, Reply};

/// Deeper nesting than this is refused as Redis refuses it when the Lua
/// stack cannot grow ("reached lua stack limit").
const MAX_DEPTH: usize = 1000;

/// `luaPushErrorBuff`: the `{err="CODE message"}` table for an error text
/// given as Redis writes errors (`-CODE message`) or as a bare message.
pub fn error_table(lua: &mut Lua, err: &[u8]) -> TableRef {
    let (code, msg): (Vec<u8>, Vec<u8>) = if let Some(rest) = err.strip_prefix(b"-") {
        match rest.iter().position(|&c| c == b' ') {
            Some(i) => (rest[..i].to_vec(), rest[i + 1..].to_vec()),
            None => (b"ERR".to_vec(), rest.to_vec()),
        }
    } else {
        (b"ERR".to_vec(), err.to_vec())
    };
    let msg = trim_crlf(&msg);
    let mut full = code;
    full.push(b' ');
    full.extend_from_slice(msg);
    let t = lua.new_table();
    let v = lua.string(full);
    lua.raw_set_str(t, "err", v);
    t
}

/// `sdstrim(msg, "\r\n")`: CR and LF removed from both ends.
fn trim_crlf(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|c| !matches!(c, b'\r' | b'\n'))
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|c| !matches!(c, b'\r' | b'\n'))
        .map_or(start, |i| i + 1);
    &s[start..end.max(start)]
}

/// A command's reply as the script sees it: encoded in the script client's
/// RESP version and read back, so every type is what the protocol carries.
pub fn reply_to_lua(lua: &mut Lua, reply: &Reply, resp: u8) -> Value {
    let mut bytes = Vec::new();
    reply.encode(resp, &mut bytes);
    let mut out = Vec::new();
    let mut rest = &bytes[..];
    while let Ok(Some((r, n))) = parse_reply(rest) {
        out.push(r);
        rest = &rest[n..];
    }
    // A sequence (several replies for one command) is read as its first.
    match out.first() {
        Some(r) => to_lua(lua, r, resp),
        None => Value::Nil,
    }
}

fn to_lua(lua: &mut Lua, r: &Reply, resp: u8) -> Value {
    match r {
        Reply::Int(n) => Value::Number(*n as f64),
        Reply::Bulk(b) => lua.string(b),
        // RESP2's null bulk and null array are false; RESP3's null is nil.
        Reply::Nil | Reply::NilArray if resp == 3 => Value::Nil,
        Reply::Nil | Reply::NilArray => Value::Boolean(false),
        Reply::Simple(s) => {
            let t = lua.new_table();
            let v = lua.string(s.as_bytes());
            lua.raw_set_str(t, "ok", v);
            Value::Table(t)
        }
        Reply::Error(e) => {
            let mut msg = b"-".to_vec();
            msg.extend_from_slice(e.as_bytes());
            let t = error_table(lua, &msg);
            let yes = Value::Boolean(true);
            lua.raw_set_str(t, "ignore_error_stats_update", yes);
            Value::Table(t)
        }
        Reply::Array(items) | Reply::Push(items) | Reply::Seq(items) => {
            let t = lua.create_table(items.len(), 0);
            for (i, it) in items.iter().enumerate() {
                let v = to_lua(lua, it, resp);
                lua.raw_set_int(t, i as i64 + 1, v);
            }
            Value::Table(t)
        }
        Reply::Map(pairs) => {
            let inner = lua.new_table();
            for (k, v) in pairs {
                let k = to_lua(lua, k, resp);
                let v = to_lua(lua, v, resp);
                let _ = lua.raw_set(inner, k, v);
            }
            wrap(lua, "map", Value::Table(inner))
        }
        Reply::Set(items) => {
            let inner = lua.new_table();
            for it in items {
                let k = to_lua(lua, it, resp);
                let _ = lua.raw_set(inner, k, Value::Boolean(true));
            }
            wrap(lua, "set", Value::Table(inner))
        }
        Reply::Double(d) => wrap(lua, "double", Value::Number(*d)),
        Reply::DoubleText(s) => {
            let d = s.parse().unwrap_or(0.0);
            wrap(lua, "double", Value::Number(d))
        }
        Reply::Bool(b) => Value::Boolean(*b),
        Reply::BigNumber(s) => {
            let v = lua.string(s.as_bytes());
            wrap(lua, "big_number", v)
        }
        Reply::Verbatim(format, text) => {
            let inner = lua.new_table();
            let s = lua.string(text);
            lua.raw_set_str(inner, "string", s);
            let f = lua.string(format.as_bytes());
            lua.raw_set_str(inner, "format", f);
            wrap(lua, "verbatim_string", Value::Table(inner))
        }
    }
}

/// `{field = v}`.
fn wrap(lua: &mut Lua, field: &str, v: Value) -> Value {
    let t = lua.new_table();
    lua.raw_set_str(t, field, v);
    Value::Table(t)
}

/// Newlines would break a status or error line: Redis maps them to spaces.
fn one_line(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace(['\r', '\n'], " ")
}

/// Whether a script's result or error is an error table a command already
/// counted in the error statistics (`ignore_error_stats_update`).
pub fn stats_counted(lua: &mut Lua, v: Value) -> bool {
    let Value::Table(t) = v else {
        return false;
    };
    let err = lua.raw_get_str(t, "err");
    matches!(err, Value::String(_))
        && lua.raw_get_str(t, "ignore_error_stats_update") == Value::Boolean(true)
}

/// The script's result as the caller's reply (`luaReplyToRedisReply`);
/// `resp` is the script client's protocol (booleans differ).
pub fn lua_to_reply(lua: &mut Lua, v: Value, resp: u8) -> Reply {
    convert(lua, v, resp, 0)
}

fn convert(lua: &mut Lua, v: Value, resp: u8, depth: usize) -> Reply {
    if depth > MAX_DEPTH {
        return Reply::err("ERR reached lua stack limit");
    }
    match v {
        Value::String(_) => Reply::Bulk(lua.as_bytes(v).unwrap_or_default().to_vec()),
        Value::Boolean(b) => {
            if resp == 2 {
                if b {
                    Reply::Int(1)
                } else {
                    Reply::Nil
                }
            } else {
                Reply::Bool(b)
            }
        }
        Value::Number(n) => Reply::Int(n as i64),
        Value::Table(t) => {
            let field = |lua: &mut Lua, name: &str| lua.raw_get_str(t, name);
            let err = field(lua, "err");
            if let Value::String(_) = err {
                let msg = lua.as_bytes(err).unwrap_or_default().to_vec();
                return Reply::Error(one_line(&msg));
            }
            let ok = field(lua, "ok");
            if let Value::String(_) = ok {
                let s = lua.as_bytes(ok).unwrap_or_default().to_vec();
                return Reply::Simple(one_line(&s));
            }
            if let Value::Number(d) = field(lua, "double") {
                return Reply::Double(d);
            }
            let big = field(lua, "big_number");
            if let Value::String(_) = big {
                let s = lua.as_bytes(big).unwrap_or_default().to_vec();
                return Reply::BigNumber(one_line(&s));
            }
            if let Value::Table(vt) = field(lua, "verbatim_string") {
                let (f, s) = (lua.raw_get_str(vt, "format"), lua.raw_get_str(vt, "string"));
                if let (Value::String(_), Value::String(_)) = (f, s) {
                    let format = lua.as_bytes(f).unwrap_or_default().to_vec();
                    let text = lua.as_bytes(s).unwrap_or_default().to_vec();
                    return Reply::Verbatim(verbatim_format(&format), text);
                }
            }
            if let Value::Table(mt) = field(lua, "map") {
                let mut pairs = Vec::new();
                let mut key = Value::Nil;
                while let Ok(Some((k, val))) = lua.next(mt, key) {
                    pairs.push((
                        convert(lua, k, resp, depth + 1),
                        convert(lua, val, resp, depth + 1),
                    ));
                    key = k;
                }
                return Reply::Map(pairs);
            }
            if let Value::Table(st) = field(lua, "set") {
                let mut items = Vec::new();
                let mut key = Value::Nil;
                while let Ok(Some((k, _))) = lua.next(st, key) {
                    items.push(convert(lua, k, resp, depth + 1));
                    key = k;
                }
                return Reply::Set(items);
            }
            let mut items = Vec::new();
            let mut i = 1;
            loop {
                let e = lua.raw_get_int(t, i);
                if e.is_nil() {
                    break;
                }
                items.push(convert(lua, e, resp, depth + 1));
                i += 1;
            }
            Reply::Array(items)
        }
        _ => Reply::Nil,
    }
}

/// A verbatim string's three-letter format, as the reply type holds it.
fn verbatim_format(f: &[u8]) -> &'static str {
    match f {
        b"mkd" => "mkd",
        _ => "txt",
    }
}

/// The error text of a failed script call (`luaExtractErrorInformation` and
/// luaCallFunction's formatting): `{err=…}` tables give their message, plus
/// " script: NAME, on SOURCE:LINE." when the failing line is known; other
/// values are stringified with "ERR " before them.
pub fn error_reply(lua: &mut Lua, e: &LuaError, name: &str, at: Option<(Vec<u8>, u32)>) -> Reply {
    let msg = match e.value {
        Value::Table(t) => {
            let err = lua.raw_get_str(t, "err");
            match lua.as_bytes(err) {
                Some(b) => b.to_vec(),
                None => b"ERR execution failure".to_vec(),
            }
        }
        _ => {
            let mut m = b"ERR ".to_vec();
            m.extend(lua.error_bytes(e));
            m
        }
    };
    let mut text = one_line(&msg);
    if let Some((source, line)) = at {
        text.push_str(&format!(
            " script: {name}, on {}:{line}.",
            String::from_utf8_lossy(&source)
        ));
    }
    Reply::Error(text)
}
