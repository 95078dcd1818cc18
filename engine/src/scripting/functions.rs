//! Redis 7.0 functions: libraries loaded with FUNCTION LOAD (`#!lua
//! name=…` code that calls `redis.register_function`), called with FCALL
//! and FCALL_RO, listed, deleted, flushed, dumped and restored (the RDB
//! function payload with a CRC-64 footer), counted by FUNCTION STATS, and
//! stopped by FUNCTION KILL. Functions run on their own interpreter, apart
//! from EVAL's, with the same `redis` API at call time; while a library
//! loads, `redis` offers only `register_function`, `log` and the versions.

use cachelab_lua::{Ctx as LuaCtx, Host, Lua, LuaError, Step, TableRef, Value};
use indexmap::IndexMap;

use super::{flag, host_id, new_eval_lua, prepare, start, string_array};
use crate::commands::{eq_ic, Ctx, Handler};
use crate::persistence::crc64::crc64;
use crate::protocol::Reply;

/// FUNCTION LOAD's code runs at most this many instructions (Redis stops
/// it after 500 ms: "FUNCTION LOAD timeout").
const LOAD_CAP: u64 = 50_000_000;
/// RDB_OPCODE_FUNCTION2 and the RDB version of FUNCTION DUMP payloads.
const OPCODE_FUNCTION2: u8 = 245;
const RDB_VERSION: u16 = 10;

#[derive(Clone, Debug)]
pub struct Function {
    pub name: String,
    pub desc: Option<Vec<u8>>,
    pub flags: u32,
}

#[derive(Clone, Debug)]
pub struct Library {
    pub name: String,
    pub code: Vec<u8>,
    pub functions: IndexMap<String, Function>,
}

#[derive(Default)]
pub struct Functions {
    /// The functions' interpreter, created on first use.
    lua: Option<Box<Lua>>,
    pub libraries: IndexMap<String, Library>,
    /// Function name (lower-cased: names are case-insensitive, as in
    /// Redis's dict) → its library.
    pub index: IndexMap<String, String>,
}

impl Functions {
    pub fn take_lua(&mut self) -> Box<Lua> {
        self.lua.take().unwrap_or_else(new_eval_lua)
    }
    pub fn put_lua(&mut self, lua: Box<Lua>) {
        self.lua = Some(lua);
    }
    /// The functions' interpreter's heap, in bytes.
    pub fn lua_memory(&self) -> usize {
        self.lua.as_ref().map_or(0, |l| l.memory_bytes())
    }
    pub fn function_count(&self) -> usize {
        self.index.len()
    }
}

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "fcall" => |c, a| fcall(c, a, false),
        "fcall_ro" => |c, a| fcall(c, a, true),
        "function|load" => load_command,
        "function|list" => list,
        "function|delete" => delete,
        "function|flush" => flush,
        "function|kill" => |c, _| super::kill(c, false),
        "function|stats" => stats,
        "function|dump" => dump,
        "function|restore" => restore,
        "function|help" => |c, _| c.table.help["function"].clone(),
        _ => return None,
    })
}

/// `functionsVerifyName`.
fn valid_name(n: &[u8]) -> bool {
    !n.is_empty() && n.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// `functionExtractLibMetaData`: (engine, library name, code after the
/// shebang line — its line feed kept).
fn metadata(payload: &[u8]) -> Result<(String, String, &[u8]), String> {
    if !payload.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let Some(end) = payload.iter().position(|&c| c == b'\n') else {
        return Err("ERR Invalid library metadata".into());
    };
    let parts = crate::protocol::args::split_args(&payload[..end]).unwrap_or_default();
    let Some(first) = parts.first() else {
        return Err("ERR Invalid library metadata".into());
    };
    let engine = String::from_utf8_lossy(&first[2..]).into_owned();
    let mut name: Option<String> = None;
    for p in &parts[1..] {
        if p.len() >= 5 && p[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "ERR Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(String::from_utf8_lossy(&p[5..]).into_owned());
            continue;
        }
        return Err(format!(
            "ERR Invalid metadata value given: {}",
            String::from_utf8_lossy(p)
        ));
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    Ok((engine, name, &payload[end..]))
}

/// What a library's code registered while it loaded.
struct LoadHost {
    registered: Vec<(String, Option<Vec<u8>>, u32, Value)>,
    error: Option<String>,
}

impl Host for LoadHost {
    fn call(&mut self, lua: &mut LuaCtx<'_>, id: u32) -> Result<Vec<Value>, LuaError> {
        match id {
            host_id::REGISTER_FUNCTION => {
                let r = read_registration(lua);
                match r {
                    Ok((name, desc, flags, f)) => {
                        if !valid_name(name.as_bytes()) {
                            return Err(raise(lua, "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"));
                        }
                        if self.registered.iter().any(|(n, ..)| *n == name) {
                            return Err(raise(lua, "Function already exists in the library"));
                        }
                        lua.pin(f);
                        self.registered.push((name, desc, flags, f));
                        Ok(Vec::new())
                    }
                    Err(msg) => Err(raise(lua, msg)),
                }
            }
            host_id::NONEXISTENT_GLOBAL => Err(super::nonexistent_global(lua)),
            host_id::LOG | host_id::SHA1HEX => Ok(Vec::new()),
            _ => {
                self.error = Some("not available while loading".into());
                Err(lua.error("this redis function is not available while loading a library"))
            }
        }
    }
}

fn raise(lua: &mut LuaCtx<'_>, msg: &str) -> LuaError {
    let t = super::convert::error_table(lua, msg.as_bytes());
    lua.error_value(Value::Table(t))
}

/// `luaRegisterFunctionReadArgs`: (name, description, flags, callback).
#[allow(clippy::type_complexity)]
fn read_registration(
    lua: &mut LuaCtx<'_>,
) -> Result<(String, Option<Vec<u8>>, u32, Value), &'static str> {
    let n = lua.nargs();
    if !(1..=2).contains(&n) {
        return Err("wrong number of arguments to redis.register_function");
    }
    if n == 2 {
        let name = lua.arg(0);
        let Some(name) = (match name {
            Value::String(_) | Value::Number(_) => lua.to_bytes(name),
            _ => None,
        }) else {
            return Err("first argument to redis.register_function must be a string");
        };
        let f = lua.arg(1);
        if !matches!(f, Value::Function(_)) {
            return Err("second argument to redis.register_function must be a function");
        }
        return Ok((String::from_utf8_lossy(&name).into_owned(), None, 0, f));
    }
    let Value::Table(t) = lua.arg(0) else {
        return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
    };
    let (mut name, mut desc, mut flags, mut callback) = (None, None, 0u32, None);
    let mut key = Value::Nil;
    while let Ok(Some((k, v))) = lua.next(t, key) {
        key = k;
        let Some(kb) = (match k {
            Value::String(_) | Value::Number(_) => lua.to_bytes(k),
            _ => None,
        }) else {
            return Err("named argument key given to redis.register_function is not a string");
        };
        let is_str = matches!(v, Value::String(_) | Value::Number(_));
        if kb.eq_ignore_ascii_case(b"function_name") {
            if !is_str {
                return Err(
                    "function_name argument given to redis.register_function must be a string",
                );
            }
            name = lua.to_bytes(v);
        } else if kb.eq_ignore_ascii_case(b"description") {
            if !is_str {
                return Err(
                    "description argument given to redis.register_function must be a string",
                );
            }
            desc = lua.to_bytes(v);
        } else if kb.eq_ignore_ascii_case(b"callback") {
            if !matches!(v, Value::Function(_)) {
                return Err(
                    "callback argument given to redis.register_function must be a function",
                );
            }
            callback = Some(v);
        } else if kb.eq_ignore_ascii_case(b"flags") {
            let Value::Table(ft) = v else {
                return Err("flags argument to redis.register_function must be a table representing function flags");
            };
            let mut i = 1;
            loop {
                let fv = lua.raw_get_int(ft, i);
                if fv.is_nil() {
                    break;
                }
                let Some(fb) = (match fv {
                    Value::String(_) | Value::Number(_) => lua.to_bytes(fv),
                    _ => None,
                }) else {
                    return Err("unknown flag given");
                };
                match flag::NAMES
                    .iter()
                    .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(&fb))
                {
                    Some((_, bit)) => flags |= bit,
                    None => return Err("unknown flag given"),
                }
                i += 1;
            }
        } else {
            return Err("unknown argument given to redis.register_function");
        }
    }
    let Some(name) = name else {
        return Err("redis.register_function must get a function name argument");
    };
    let Some(callback) = callback else {
        return Err("redis.register_function must get a callback argument");
    };
    Ok((
        String::from_utf8_lossy(&name).into_owned(),
        desc,
        flags,
        callback,
    ))
}

/// The globals a library sees while it loads (Redis's `LIBRARY_API`): only
/// `redis`, offering `register_function`, `log` and the versions; any other
/// name (`math`, `redis.call`…) is refused as a missing global is, and both
/// tables are read-only, so a function that kept `redis` cannot change it.
fn load_globals(lua: &mut Lua) -> TableRef {
    let missing = lua.host_fn(host_id::NONEXISTENT_GLOBAL);
    let refusing = |lua: &mut Lua, t: TableRef| {
        let mt = lua.new_table();
        lua.raw_set_str(mt, "__index", missing);
        lua.set_readonly(mt, true);
        lua.set_metatable(t, Some(mt));
        lua.set_readonly(t, true);
    };
    let api = super::redis_table(lua, false);
    let f = lua.host_fn(host_id::REGISTER_FUNCTION);
    lua.raw_set_str(api, "register_function", f);
    refusing(lua, api);
    let g = lua.new_table();
    lua.raw_set_str(g, "redis", Value::Table(api));
    refusing(lua, g);
    g
}

/// `functionsCreateWithLibraryCtx`: loads a library (replacing one of the
/// same name when asked); its name.
pub fn load(ctx: &mut Ctx, code: &[u8], replace: bool) -> Result<String, String> {
    let (engine, name, body) = metadata(code)?;
    if !valid_name(name.as_bytes()) {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    let fs = &mut ctx.srv.scripting.functions;
    if fs.libraries.contains_key(&name) && !replace {
        return Err(format!("ERR Library '{name}' already exists"));
    }
    let mut lua = fs.take_lua();
    let result = run_library(&mut lua, body);
    let outcome = match result {
        Err(e) => Err(e),
        Ok(registered) if registered.is_empty() => Err("ERR No functions registered".into()),
        Ok(registered) => {
            let fs = &ctx.srv.scripting.functions;
            let clash = registered
                .iter()
                .find(|(n, ..)| fs.index.get(n).is_some_and(|lib| *lib != name || !replace));
            if let Some((n, ..)) = clash {
                Err(format!("ERR Function {n} already exists"))
            } else {
                Ok(registered)
            }
        }
    };
    let registered = match outcome {
        Ok(r) => r,
        Err(e) => {
            ctx.srv.scripting.functions.put_lua(lua);
            return Err(e);
        }
    };
    let fs = &mut ctx.srv.scripting.functions;
    if let Some(old) = fs.libraries.shift_remove(&name) {
        for f in old.functions.keys() {
            let key = f.to_ascii_lowercase();
            fs.index.shift_remove(&key);
            let reg = lua.registry();
            lua.raw_set_str(reg, &format!("fn_{key}"), Value::Nil);
        }
    }
    let mut functions = IndexMap::new();
    for (fname, desc, flags, f) in registered {
        let key = fname.to_ascii_lowercase();
        let reg = lua.registry();
        lua.raw_set_str(reg, &format!("fn_{key}"), f);
        lua.unpin(f);
        fs.index.insert(key, name.clone());
        functions.insert(
            fname.clone(),
            Function {
                name: fname,
                desc,
                flags,
            },
        );
    }
    fs.libraries.insert(
        name.clone(),
        Library {
            name: name.clone(),
            code: code.to_vec(),
            functions,
        },
    );
    fs.put_lua(lua);
    Ok(name)
}

/// Runs a library's code with the load API as `redis`.
#[allow(clippy::type_complexity)]
fn run_library(
    lua: &mut Lua,
    body: &[u8],
) -> Result<Vec<(String, Option<Vec<u8>>, u32, Value)>, String> {
    let f = match lua.load(body, "@user_function") {
        Ok(f) => f,
        Err(e) => {
            return Err(format!(
                "ERR Error compiling function: {}",
                lua.error_string(&e)
            ))
        }
    };
    // The real globals wait in the registry (rooted) while the library
    // runs against its load API.
    let reg = lua.registry();
    let load_g = load_globals(lua);
    let real = lua.set_globals(load_g);
    lua.raw_set_str(reg, "real_globals", Value::Table(real));
    let mut host = LoadHost {
        registered: Vec::new(),
        error: None,
    };
    let mut call = lua.start(f, Vec::new());
    let mut spent = 0;
    let result = loop {
        match lua.resume(&mut call, &mut host, super::SLICE) {
            Step::Done(Ok(_)) => break Ok(()),
            Step::Done(Err(e)) => {
                let msg = match e.value {
                    Value::Table(t) => {
                        let err = lua.raw_get_str(t, "err");
                        lua.as_bytes(err).map(|b| b.to_vec())
                    }
                    _ => None,
                };
                let msg = match msg {
                    Some(m) => String::from_utf8_lossy(&m).into_owned(),
                    None => format!("ERR {}", lua.error_string(&e)),
                };
                break Err(format!("ERR Error registering functions: {msg}"));
            }
            Step::Yielded => {
                spent += super::SLICE;
                if spent >= LOAD_CAP {
                    lua.kill(&mut call, "ERR FUNCTION LOAD timeout");
                }
            }
        }
    };
    lua.set_globals(real);
    lua.raw_set_str(reg, "real_globals", Value::Nil);
    match result {
        Ok(()) => Ok(host.registered),
        Err(e) => {
            for (.., f) in &host.registered {
                lua.unpin(*f);
            }
            Err(e)
        }
    }
}

fn load_command(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let mut replace = false;
    let mut i = 2;
    while i < argv.len() - 1 {
        if eq_ic(&argv[i], "replace") {
            replace = true;
            i += 1;
            continue;
        }
        return Reply::err(format!(
            "ERR Unknown option given: {}",
            String::from_utf8_lossy(&argv[i])
        ));
    }
    if i >= argv.len() {
        return Reply::err("ERR Function code is missing");
    }
    match load(ctx, &argv[i], replace) {
        Ok(name) => {
            replicate(ctx, argv);
            Reply::Bulk(name.into_bytes())
        }
        Err(e) => Reply::Error(e),
    }
}

/// FCALL / FCALL_RO function numkeys key… arg….
fn fcall(ctx: &mut Ctx, argv: &[Vec<u8>], ro: bool) -> Reply {
    super::feed_monitors(ctx, argv);
    let key = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    let fs = &ctx.srv.scripting.functions;
    let Some(lib) = fs.index.get(&key) else {
        return Reply::err("ERR Function not found");
    };
    let Some(f) = fs.libraries[lib]
        .functions
        .values()
        .find(|f| f.name.eq_ignore_ascii_case(&key))
    else {
        return Reply::err("ERR Function not found");
    };
    let (flags, name) = (f.flags, f.name.clone());
    let Some(numkeys) = crate::protocol::request::parse_i64_strict(&argv[2]) else {
        return Reply::err("ERR Bad number of keys provided");
    };
    if numkeys > argv.len() as i64 - 3 {
        return Reply::err("ERR Number of keys can't be greater than number of args");
    }
    if numkeys < 0 {
        return Reply::err("ERR Number of keys can't be negative");
    }
    let state = match prepare(ctx, flags, ro) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let n = numkeys as usize;
    let mut lua = ctx.srv.scripting.functions.take_lua();
    let reg = lua.registry();
    let f = lua.raw_get_str(reg, &format!("fn_{key}"));
    let keys = string_array(&mut lua, &argv[3..3 + n]);
    let args = string_array(&mut lua, &argv[3 + n..]);
    let call = lua.start(f, vec![Value::Table(keys), Value::Table(args)]);
    ctx.srv.scripting.functions.put_lua(lua);
    start(ctx, call, name, false, state, argv)
}

fn list(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let (mut with_code, mut pattern): (bool, Option<&[u8]>) = (false, None);
    let mut i = 2;
    while i < argv.len() {
        if !with_code && eq_ic(&argv[i], "withcode") {
            with_code = true;
        } else if pattern.is_none() && eq_ic(&argv[i], "libraryname") {
            if i >= argv.len() - 1 {
                return Reply::err("ERR library name argument was not given");
            }
            i += 1;
            pattern = Some(&argv[i]);
        } else {
            return Reply::err(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(&argv[i])
            ));
        }
        i += 1;
    }
    let bulk = |s: &str| Reply::bulk(s);
    let libs = ctx
        .srv
        .scripting
        .functions
        .libraries
        .values()
        .filter(|l| pattern.is_none_or(|p| crate::glob::glob_match(p, l.name.as_bytes(), true)))
        .map(|l| {
            let functions = l
                .functions
                .values()
                .map(|f| {
                    Reply::Map(vec![
                        (bulk("name"), bulk(&f.name)),
                        (
                            bulk("description"),
                            f.desc.clone().map_or(Reply::Nil, Reply::Bulk),
                        ),
                        (bulk("flags"), flag_set(f.flags)),
                    ])
                })
                .collect();
            let mut m = vec![
                (bulk("library_name"), bulk(&l.name)),
                (bulk("engine"), bulk("LUA")),
                (bulk("functions"), Reply::Array(functions)),
            ];
            if with_code {
                m.push((bulk("library_code"), Reply::Bulk(l.code.clone())));
            }
            Reply::Map(m)
        })
        .collect();
    Reply::Array(libs)
}

/// `functionListReplyFlags`: the flag names, as a set.
fn flag_set(flags: u32) -> Reply {
    Reply::Set(
        flag::NAMES
            .iter()
            .filter(|(_, bit)| flags & bit != 0)
            .map(|(n, _)| Reply::Simple(n.to_string()))
            .collect(),
    )
}

fn delete(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let name = String::from_utf8_lossy(&argv[2]).into_owned();
    let fs = &mut ctx.srv.scripting.functions;
    let Some(lib) = fs.libraries.shift_remove(&name) else {
        return Reply::err("ERR Library not found");
    };
    let mut lua = fs.take_lua();
    for f in lib.functions.keys() {
        let key = f.to_ascii_lowercase();
        fs.index.shift_remove(&key);
        let reg = lua.registry();
        lua.raw_set_str(reg, &format!("fn_{key}"), Value::Nil);
    }
    fs.put_lua(lua);
    replicate(ctx, argv);
    Reply::ok()
}

/// Libraries are not keys: the command itself goes to the replicas, as
/// Redis propagates FUNCTION LOAD / DELETE / FLUSH / RESTORE.
fn replicate(ctx: &mut Ctx, argv: &[Vec<u8>]) {
    if ctx.client().is_some() {
        ctx.srv.repl.propagate_command(None, argv.to_vec());
    }
}

fn flush(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if argv.len() > 3 {
        return Reply::err(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
            String::from_utf8_lossy(&argv[1])
        ));
    }
    if argv.len() == 3 && !eq_ic(&argv[2], "sync") && !eq_ic(&argv[2], "async") {
        return Reply::err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
    }
    ctx.srv.scripting.functions = Functions::default();
    replicate(ctx, argv);
    Reply::ok()
}

fn stats(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    let running = match ctx.srv.scripting.running.as_ref() {
        Some(r) if !r.eval => Reply::Map(vec![
            (Reply::bulk("name"), Reply::bulk(&r.name)),
            (
                Reply::bulk("command"),
                Reply::Array(r.command.iter().cloned().map(Reply::Bulk).collect()),
            ),
            (
                Reply::bulk("duration_ms"),
                Reply::Int(ctx.now.saturating_sub(r.started) as i64),
            ),
        ]),
        _ => Reply::Nil,
    };
    let fs = &ctx.srv.scripting.functions;
    Reply::Map(vec![
        (Reply::bulk("running_script"), running),
        (
            Reply::bulk("engines"),
            Reply::Map(vec![(
                Reply::bulk("LUA"),
                Reply::Map(vec![
                    (
                        Reply::bulk("libraries_count"),
                        Reply::Int(fs.libraries.len() as i64),
                    ),
                    (
                        Reply::bulk("functions_count"),
                        Reply::Int(fs.function_count() as i64),
                    ),
                ]),
            )]),
        ),
    ])
}

/// FUNCTION DUMP: each library's code under RDB_OPCODE_FUNCTION2, then the
/// RDB version and a CRC-64, as `functionDumpCommand` writes them.
fn dump(ctx: &mut Ctx, _: &[Vec<u8>]) -> Reply {
    let mut out = Vec::new();
    for lib in ctx.srv.scripting.functions.libraries.values() {
        out.push(OPCODE_FUNCTION2);
        crate::persistence::rdb::write_string(&mut out, &lib.code);
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    Reply::Bulk(out)
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE].
fn restore(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let payload = &argv[2];
    #[derive(PartialEq)]
    enum Policy {
        Flush,
        Append,
        Replace,
    }
    let policy = if argv.len() > 3 {
        if argv.len() != 4 {
            return Reply::err(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
                String::from_utf8_lossy(&argv[1])
            ));
        }
        if eq_ic(&argv[3], "flush") {
            Policy::Flush
        } else if eq_ic(&argv[3], "append") {
            Policy::Append
        } else if eq_ic(&argv[3], "replace") {
            Policy::Replace
        } else {
            return Reply::err(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            );
        }
    } else {
        Policy::Append
    };
    let bad = || Reply::err("ERR payload version or checksum are wrong");
    if payload.len() < 10 {
        return bad();
    }
    let footer = &payload[payload.len() - 10..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..].try_into().expect("8 bytes"));
    if version > RDB_VERSION || crc64(0, &payload[..payload.len() - 8]) != crc {
        return bad();
    }
    let body = &payload[..payload.len() - 10];
    let mut codes = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        if body[pos] != OPCODE_FUNCTION2 {
            return Reply::err("ERR given type is not a function");
        }
        pos += 1;
        match crate::persistence::rdb::read_string_at(body, &mut pos) {
            Some(code) => codes.push(code),
            None => return Reply::err("ERR failed loading the given functions payload"),
        }
    }
    // Load into a fresh set of libraries first; apply only if all load.
    let saved = std::mem::take(&mut ctx.srv.scripting.functions);
    let mut errors = None;
    for code in &codes {
        if let Err(e) = load(ctx, code, false) {
            errors = Some(e);
            break;
        }
    }
    let fresh = std::mem::replace(&mut ctx.srv.scripting.functions, saved);
    if let Some(e) = errors {
        return Reply::Error(e);
    }
    if policy == Policy::Flush {
        ctx.srv.scripting.functions = Functions::default();
    }
    let existing: Vec<String> = ctx
        .srv
        .scripting
        .functions
        .libraries
        .keys()
        .cloned()
        .collect();
    if policy == Policy::Append {
        if let Some(clash) = fresh.libraries.keys().find(|n| existing.contains(n)) {
            return Reply::err(format!("ERR Library {clash} already exists"));
        }
        for (f, lib) in &fresh.index {
            if ctx.srv.scripting.functions.index.contains_key(f) {
                return Reply::err(format!("ERR Function {f} already exists (library {lib})"));
            }
        }
    }
    // Install: reload each library's code on the live interpreter.
    for lib in fresh.libraries.values() {
        if let Err(e) = load(ctx, &lib.code, true) {
            return Reply::Error(e);
        }
    }
    replicate(ctx, argv);
    Reply::ok()
}
