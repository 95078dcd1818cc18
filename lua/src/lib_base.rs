//! The base library (lbaselib.c) as Redis loads it: assert, collectgarbage, error,
//! gcinfo, getfenv, getmetatable, ipairs, load, loadstring, next, pairs, pcall, print,
//! rawequal, rawget, rawset, select, setfenv, setmetatable, tonumber, tostring, type,
//! unpack, xpcall, _G, _VERSION; plus the minimal `debug` table.

use crate::heap::Func;
use crate::number;
use crate::value::{LuaError, Value};
use crate::vm::Tm;
use crate::{Ctx, Lua, Special};

type R = Result<Vec<Value>, LuaError>;

pub(crate) fn open(lua: &mut Lua) {
    let g = lua.globals;
    lua.set_global("_G", Value::Table(g));
    let v = lua.string("Lua 5.1");
    lua.set_global("_VERSION", v);
    lua.set_global_fn("assert", |ctx| {
        ctx.check_any(1)?;
        if !ctx.arg(0).truthy() {
            let msg = ctx.opt_bytes(2, b"assertion failed!")?;
            return Err(ctx.error(msg));
        }
        Ok(ctx.args())
    });
    lua.set_global_fn("collectgarbage", |ctx| {
        let opt = ctx.opt_bytes(1, b"collect")?;
        let opts: [&[u8]; 7] = [
            b"stop",
            b"restart",
            b"collect",
            b"count",
            b"step",
            b"setpause",
            b"setstepmul",
        ];
        if !opts.contains(&&opt[..]) {
            let mut m = b"invalid option '".to_vec();
            m.extend_from_slice(&opt);
            m.push(b'\'');
            return Err(ctx.arg_error(1, m));
        }
        let _ = ctx.opt_integer(2, 0)?;
        match &opt[..] {
            b"count" => {
                let b = ctx.memory_bytes();
                Ok(vec![Value::Number(b as f64 / 1024.0)])
            }
            b"step" => Ok(vec![Value::Boolean(false)]),
            b"setpause" => Ok(vec![Value::Number(200.0)]),
            b"setstepmul" => Ok(vec![Value::Number(200.0)]),
            _ => Ok(vec![Value::Number(0.0)]),
        }
    });
    lua.set_global_fn("error", |ctx| {
        let level = ctx.opt_int(2, 1)?;
        let v = ctx.arg(0);
        if matches!(v, Value::String(_) | Value::Number(_)) && level > 0 {
            let mut m = ctx.lua.where_(level as usize);
            let s = ctx.to_bytes(v).unwrap();
            m.extend_from_slice(&s);
            let s = ctx.string(m);
            return Err(LuaError::runtime(s));
        }
        Err(LuaError::runtime(v))
    });
    lua.set_global_fn("gcinfo", |ctx| {
        Ok(vec![Value::Number((ctx.memory_bytes() / 1024) as f64)])
    });
    lua.set_global_fn("getfenv", |ctx| Ok(vec![Value::Table(ctx.globals)]));
    lua.set_global_fn("setfenv", |ctx| Ok(vec![ctx.arg(0)]));
    lua.set_global_fn("getmetatable", |ctx| {
        let v = ctx.check_any(1)?;
        match ctx.metatable_of(v) {
            None => Ok(vec![Value::Nil]),
            Some(mt) => {
                let protected = ctx.fasttm(Some(mt), Tm::Metatable);
                if !protected.is_nil() {
                    Ok(vec![protected])
                } else {
                    Ok(vec![Value::Table(mt)])
                }
            }
        }
    });
    let ipairs_aux = lua.create_function(|ctx| {
        let t = ctx.check_table(1)?;
        let i = ctx.check_int(2)? as i64 + 1;
        let v = ctx.heap.table(t).get_int(i);
        if v.is_nil() {
            Ok(vec![Value::Nil])
        } else {
            Ok(vec![Value::Number(i as f64), v])
        }
    });
    // The iterators are the natives' upvalues (as in lbaselib.c), so the
    // collector sees them.
    let ipairs = lua.create_function_with_upvalues(
        |ctx| {
            let t = ctx.check_table(1)?;
            Ok(vec![ctx.upvalue(0), Value::Table(t), Value::Number(0.0)])
        },
        vec![ipairs_aux],
    );
    lua.set_global("ipairs", ipairs);
    let next = lua.create_function(lua_next);
    lua.set_global("next", next);
    let pairs = lua.create_function_with_upvalues(
        |ctx| {
            let t = ctx.check_table(1)?;
            Ok(vec![ctx.upvalue(0), Value::Table(t), Value::Nil])
        },
        vec![next],
    );
    lua.set_global("pairs", pairs);
    lua.set_global_fn("loadstring", |ctx| {
        let s = ctx.check_bytes(1)?;
        let name = ctx.opt_bytes(2, &s)?;
        load_aux(ctx, &s, &name)
    });
    lua.set_global_fn("load", |ctx| {
        let f = ctx.arg(0);
        if !matches!(f, Value::Function(_)) {
            return Err(ctx.type_error(1, "function"));
        }
        let name = ctx.opt_bytes(2, b"=(load)")?;
        let mut src = Vec::new();
        loop {
            let r = ctx.call(f, &[])?;
            match r.first().copied().unwrap_or(Value::Nil) {
                Value::Nil => break,
                Value::String(s) => {
                    if ctx.str_bytes(s).is_empty() {
                        break;
                    }
                    src.extend_from_slice(ctx.str_bytes(s));
                }
                _ => {
                    let m = ctx.string("reader function must return a string");
                    return Ok(vec![Value::Nil, m]);
                }
            }
        }
        load_aux(ctx, &src, &name)
    });
    let pcall = lua.create_special(Special::Pcall);
    lua.set_global("pcall", pcall);
    let xpcall = lua.create_special(Special::Xpcall);
    lua.set_global("xpcall", xpcall);
    lua.set_global_fn("print", |ctx| {
        for i in 0..ctx.nargs() {
            let v = ctx.arg(i);
            let s = ctx.tostring(v)?;
            if !matches!(s, Value::String(_)) {
                return Err(ctx.error("'tostring' must return a string to 'print'"));
            }
        }
        Ok(vec![])
    });
    lua.set_global_fn("rawequal", |ctx| {
        let a = ctx.check_any(1)?;
        let b = ctx.check_any(2)?;
        Ok(vec![Value::Boolean(a == b)])
    });
    lua.set_global_fn("rawget", |ctx| {
        let t = ctx.check_table(1)?;
        let k = ctx.check_any(2)?;
        Ok(vec![ctx.heap.table(t).get(k)])
    });
    lua.set_global_fn("rawset", |ctx| {
        let t = ctx.check_table(1)?;
        let k = ctx.check_any(2)?;
        let v = ctx.check_any(3)?;
        ctx.raw_set(t, k, v)?;
        Ok(vec![Value::Table(t)])
    });
    lua.set_global_fn("select", |ctx| {
        let n = ctx.nargs() as i64;
        if let Value::String(s) = ctx.arg(0) {
            if ctx.str_bytes(s).first() == Some(&b'#') {
                return Ok(vec![Value::Number((n - 1) as f64)]);
            }
        }
        let mut i = ctx.check_int(1)? as i64;
        if i < 0 {
            i += n;
        } else if i > n {
            i = n;
        }
        if i < 1 {
            return Err(ctx.arg_error(1, "index out of range"));
        }
        Ok((i as usize..n as usize).map(|j| ctx.arg(j)).collect())
    });
    lua.set_global_fn("setmetatable", |ctx| {
        let t = ctx.check_table(1)?;
        let mt = ctx.arg(1);
        if !matches!(mt, Value::Nil | Value::Table(_)) {
            return Err(ctx.type_error(2, "nil or table"));
        }
        let old = ctx.heap.table(t).meta;
        if !ctx.fasttm(old, Tm::Metatable).is_nil() {
            return Err(ctx.error("cannot change a protected metatable"));
        }
        if ctx.heap.table(t).readonly {
            return Err(ctx.lua.rt_error(b"Attempt to modify a readonly table"));
        }
        ctx.heap.table_mut(t).meta = mt.as_table();
        Ok(vec![Value::Table(t)])
    });
    lua.set_global_fn("tonumber", |ctx| {
        let base = ctx.opt_int(2, 10)?;
        if base == 10 {
            let v = ctx.check_any(1)?;
            if let Some(n) = ctx.to_number(v) {
                return Ok(vec![Value::Number(n)]);
            }
        } else {
            let s = ctx.check_bytes(1)?;
            if !(2..=36).contains(&base) {
                return Err(ctx.arg_error(2, "base out of range"));
            }
            if let Some(n) = number::str2int_base(&s, base as u32) {
                return Ok(vec![Value::Number(n)]);
            }
        }
        Ok(vec![Value::Nil])
    });
    lua.set_global_fn("tostring", |ctx| {
        let v = ctx.check_any(1)?;
        Ok(vec![ctx.tostring(v)?])
    });
    lua.set_global_fn("type", |ctx| {
        let v = ctx.check_any(1)?;
        Ok(vec![ctx.string(v.type_name())])
    });
    lua.set_global_fn("unpack", |ctx| {
        let t = ctx.check_table(1)?;
        let i = ctx.opt_int(2, 1)? as i64;
        let e = if ctx.arg(2).is_nil() {
            ctx.heap.table(t).len() as i64
        } else {
            ctx.check_int(3)? as i64
        };
        if i > e {
            return Ok(vec![]);
        }
        let n = e - i + 1;
        if n <= 0 || n + ctx.nargs() as i64 > 8000 {
            return Err(ctx.error("too many results to unpack"));
        }
        let tab = ctx.heap.table(t);
        Ok((i..=e).map(|k| tab.get_int(k)).collect())
    });
    lua.set_global_fn("newproxy", |ctx| Ok(vec![Value::Table(ctx.new_table())]));
}

fn lua_next(ctx: &mut Ctx) -> R {
    let t = ctx.check_table(1)?;
    let k = ctx.arg(1);
    match ctx.heap.table(t).next(k) {
        Ok(Some((k, v))) => Ok(vec![k, v]),
        Ok(None) => Ok(vec![Value::Nil]),
        Err(()) => Err(ctx.error("invalid key to 'next'")),
    }
}

fn load_aux(ctx: &mut Ctx, src: &[u8], name: &[u8]) -> R {
    // Binary chunks (LUA_SIGNATURE, "\x1bLua") are refused, as Redis's
    // Lua refuses them: load and loadstring answer nil and a message.
    if src.first() == Some(&0x1b) {
        let m = ctx.string("binary chunks are not allowed");
        return Ok(vec![Value::Nil, m]);
    }
    let saved = ctx.c_calls;
    ctx.lua.c_calls = saved + 1;
    let r = ctx.lua.load_raw(src, name);
    ctx.lua.c_calls = saved;
    match r {
        Ok(f) => Ok(vec![f]),
        Err(e) => Ok(vec![Value::Nil, e.value]),
    }
}

/// A minimal `debug` library (Redis loads the full one; scripts rarely need it).
pub(crate) fn open_debug(lua: &mut Lua) {
    let t = lua.new_table();
    lua.set_field_fn(t, "traceback", |ctx| {
        let v = ctx.arg(0);
        if matches!(v, Value::String(_) | Value::Number(_)) {
            let mut m = ctx.to_bytes(v).unwrap();
            m.extend_from_slice(b"\nstack traceback:\n\t[C]: ?");
            return Ok(vec![ctx.string(m)]);
        }
        if v.is_nil() {
            return Ok(vec![ctx.string("stack traceback:\n\t[C]: ?")]);
        }
        Ok(vec![v])
    });
    lua.set_field_fn(t, "getinfo", |ctx| {
        let r = ctx.new_table();
        let what = ctx.string("Lua");
        ctx.raw_set_str(r, "what", what);
        let src = ctx.string("@user_script");
        ctx.raw_set_str(r, "source", src);
        let ss = ctx.string("user_script");
        ctx.raw_set_str(r, "short_src", ss);
        let line = ctx.lua.where_(1);
        let n = line
            .split(|&c| c == b':')
            .nth(1)
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(-1.0);
        ctx.raw_set_str(r, "currentline", Value::Number(n));
        if let Value::Function(f) = ctx.arg(0) {
            ctx.raw_set_str(r, "func", Value::Function(f));
            if let Func::Native(_) = ctx.heap.funcs.get(f.0) {
                let c = ctx.string("C");
                ctx.raw_set_str(r, "what", c);
            }
        }
        Ok(vec![Value::Table(r)])
    });
    lua.set_field_fn(t, "sethook", |_ctx| Ok(vec![]));
    lua.set_field_fn(t, "gethook", |_ctx| Ok(vec![]));
    lua.set_field_fn(t, "getregistry", |ctx| Ok(vec![Value::Table(ctx.registry)]));
    lua.set_field_fn(t, "getmetatable", |ctx| {
        let v = ctx.check_any(1)?;
        Ok(vec![ctx
            .metatable_of(v)
            .map(Value::Table)
            .unwrap_or(Value::Nil)])
    });
    lua.set_field_fn(t, "setmetatable", |ctx| {
        let v = ctx.arg(0);
        let mt = ctx.arg(1);
        if let Value::Table(t) = v {
            ctx.heap.table_mut(t).meta = mt.as_table();
        }
        Ok(vec![Value::Boolean(true)])
    });
    lua.set_global("debug", Value::Table(t));
}
