//! Lua scripting as Redis 7.0 runs it: EVAL, EVALSHA and their read-only
//! forms, SCRIPT LOAD|EXISTS|FLUSH|KILL, and (in `functions`) FUNCTION and
//! FCALL — on `cachelab-lua`, a Lua 5.1 interpreter in Rust, so the same
//! scripts run natively and in the browser's workers.
//!
//! A script runs in slices of VM instructions. One that is still running
//! after a slice blocks its caller ([`crate::node::Blocked::Script`]); the
//! node continues it at its next tick, holds other clients' commands
//! meanwhile, answers them `BUSY` once the script has run for
//! `busy-reply-threshold` milliseconds, and lets SCRIPT KILL / FUNCTION KILL
//! end a script that has not written. Scripts inside MULTI/EXEC (or applied
//! on a replica) cannot be suspended and run to completion, bounded by an
//! instruction cap. Scripts have Lua 5.1's `coroutine` library, as Redis's
//! do (the interpreter opens it with the base library; it is on the globals
//! allow list and read-only like the others); a script stopped inside a
//! coroutine at the end of a slice continues there, and SCRIPT KILL ends it. `redis.call` runs commands through
//! [`crate::commands::script_call`] with the checks of Redis's `scriptCall`;
//! their effects replicate like any command's.
//!
//! Must not touch: sockets, clocks (time is the node's `now`).

pub mod convert;
pub mod functions;

use cachelab_lua::{Call, Ctx as LuaCtx, Host, Lua, LuaError, Step, Value};
use indexmap::IndexMap;

use crate::commands::{eq_ic, parse_int, Ctx, Handler};
use crate::protocol::Reply;
use crate::sha1::sha1_hex;
use crate::time::Millis;
use crate::ConnId;

/// VM instructions a script runs before the node looks at the clock and at
/// other clients again (Redis's count hook runs every 100,000).
pub const SLICE: u64 = 100_000;
/// A script that cannot be suspended (inside EXEC, on a replica) is killed
/// after this many instructions, so no request stalls the node for good.
pub const UNSUSPENDABLE_CAP: u64 = 2_000_000_000;

pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";
pub const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";

/// Script flags (shebang `flags=`, `register_function{flags=…}`).
pub mod flag {
    pub const NO_WRITES: u32 = 1;
    pub const ALLOW_OOM: u32 = 2;
    pub const ALLOW_STALE: u32 = 4;
    pub const NO_CLUSTER: u32 = 8;
    pub const ALLOW_CROSS_SLOT: u32 = 16;
    /// An EVAL script without a shebang: the command's own flags apply.
    pub const EVAL_COMPAT: u32 = 1 << 31;
    pub const NAMES: &[(&str, u32)] = &[
        ("no-writes", NO_WRITES),
        ("allow-oom", ALLOW_OOM),
        ("allow-stale", ALLOW_STALE),
        ("no-cluster", NO_CLUSTER),
        ("allow-cross-slot-keys", ALLOW_CROSS_SLOT),
    ];
}

/// One cached EVAL script.
#[derive(Clone, Debug)]
pub struct Script {
    pub body: Vec<u8>,
    pub flags: u32,
}

/// The state of a script in progress.
pub struct Running {
    pub conn: ConnId,
    pub call: Call,
    /// When it started (engine time), for `busy-reply-threshold`.
    pub started: Millis,
    /// The SHA (EVAL) or function name (FCALL), for error texts.
    pub name: String,
    /// EVAL (true) or FCALL (false): which KILL may stop it, which BUSY text.
    pub eval: bool,
    pub state: RunState,
    /// The caller's database when the script started (SELECT inside a
    /// script changes only the script's own client).
    pub caller_db: usize,
    pub killed: bool,
    /// Instructions run so far.
    pub spent: u64,
    /// The command that started it (FUNCTION STATS shows it).
    pub command: Vec<Vec<u8>>,
    /// The caller disconnected: its client is kept until the script ends
    /// (Redis's protectClient), then removed.
    pub orphaned: bool,
    /// Interrupt checks made inside nested runs (callbacks of sort/gsub,
    /// metamethods), which cannot be suspended: see [`NESTED_CAP_CHECKS`].
    pub nested_checks: std::rc::Rc<std::cell::Cell<u64>>,
}

/// A script inside a callback of a native function (a `table.sort`
/// comparator, a `gsub` function, a metamethod) cannot be suspended and
/// the node cannot serve SCRIPT KILL meanwhile, so such a nested run is
/// killed after this many interrupt checks (each every 1,000,000
/// instructions: the same 2·10⁹ instructions as a script inside EXEC).
/// Redis would keep answering BUSY until SCRIPT KILL; a sans-IO node
/// cannot, so it bounds the stall instead.
pub const NESTED_CAP_CHECKS: u64 = UNSUSPENDABLE_CAP / 1_000_000;

/// What a script run carries between its `redis.*` calls.
#[derive(Clone, Copy, Debug)]
pub struct RunState {
    pub readonly: bool,
    pub allow_oom: bool,
    /// A write command ran: the script can no longer be killed.
    pub wrote: bool,
    /// The script client's RESP version (`redis.setresp`).
    pub resp: u8,
    /// `redis.set_repl` flags (1 AOF, 2 replicas).
    pub repl: u8,
    /// The script's own client's database (SELECT inside the script).
    pub db: usize,
}

/// The scripting engine's state on a node.
#[derive(Default)]
pub struct Scripting {
    /// The EVAL interpreter, created on first use; out of here while a
    /// script runs on it.
    pub lua: Option<Box<Lua>>,
    pub scripts: IndexMap<String, Script>,
    /// Bytes of cached script bodies and their SHAs (INFO used_memory_scripts_eval).
    pub scripts_mem: usize,
    pub running: Option<Box<Running>>,
    /// Clients whose commands wait for the running script to end.
    pub waiting: Vec<ConnId>,
    pub functions: functions::Functions,
    /// A lower cap than [`NESTED_CAP_CHECKS`] (tests); 0: that one.
    pub nested_cap_checks: u64,
    /// Scripts finished since the last collection (Redis steps its Lua
    /// collector every `LUA_GC_CYCLE_PERIOD` = 50 scripts).
    pub since_gc: u32,
}

/// Scripts between two collections of an interpreter's garbage, so a run
/// of small scripts does not grow the heap up to the VM's own threshold.
const GC_PERIOD: u32 = 50;

impl std::fmt::Debug for Scripting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripting")
            .field("scripts", &self.scripts.len())
            .field("running", &self.running.is_some())
            .finish()
    }
}

/// Host function ids: what `redis.*` natives ask the engine for.
pub mod host_id {
    pub const CALL: u32 = 1;
    pub const PCALL: u32 = 2;
    pub const SHA1HEX: u32 = 3;
    pub const ERROR_REPLY: u32 = 4;
    pub const STATUS_REPLY: u32 = 5;
    pub const LOG: u32 = 6;
    pub const SETRESP: u32 = 7;
    pub const SET_REPL: u32 = 8;
    pub const REPLICATE_COMMANDS: u32 = 9;
    pub const BREAKPOINT: u32 = 10;
    pub const DEBUG: u32 = 11;
    pub const ACL_CHECK_CMD: u32 = 12;
    pub const NONEXISTENT_GLOBAL: u32 = 13;
    pub const REGISTER_FUNCTION: u32 = 14;
}

/// Builds the `redis` table (shared by EVAL's and FUNCTION's interpreters).
pub fn redis_table(lua: &mut Lua, with_calls: bool) -> cachelab_lua::TableRef {
    use host_id::*;
    let t = lua.new_table();
    let set = |lua: &mut Lua, name: &str, id: u32| {
        let f = lua.host_fn(id);
        lua.raw_set_str(t, name, f);
    };
    if with_calls {
        set(lua, "call", CALL);
        set(lua, "pcall", PCALL);
        set(lua, "setresp", SETRESP);
        set(lua, "set_repl", SET_REPL);
        set(lua, "replicate_commands", REPLICATE_COMMANDS);
        set(lua, "breakpoint", BREAKPOINT);
        set(lua, "debug", DEBUG);
        set(lua, "acl_check_cmd", ACL_CHECK_CMD);
    }
    set(lua, "sha1hex", SHA1HEX);
    set(lua, "error_reply", ERROR_REPLY);
    set(lua, "status_reply", STATUS_REPLY);
    set(lua, "log", LOG);
    for (name, v) in [
        ("LOG_DEBUG", 0.0),
        ("LOG_VERBOSE", 1.0),
        ("LOG_NOTICE", 2.0),
        ("LOG_WARNING", 3.0),
        ("REPL_NONE", 0.0),
        ("REPL_AOF", 1.0),
        ("REPL_SLAVE", 2.0),
        ("REPL_REPLICA", 2.0),
        ("REPL_ALL", 3.0),
        ("REDIS_VERSION_NUM", 0x0007_000f as f64),
    ] {
        lua.raw_set_str(t, name, Value::Number(v));
    }
    let v = lua.string(crate::commands::server::REDIS_VERSION);
    lua.raw_set_str(t, "REDIS_VERSION", v);
    t
}

/// Locks the globals as Redis does: reading a missing global is an error,
/// writing one is refused (the table is read-only), and every table
/// reachable from the globals is read-only too.
pub fn protect_globals(lua: &mut Lua) {
    let g = lua.globals();
    let mt = lua.new_table();
    let f = lua.host_fn(host_id::NONEXISTENT_GLOBAL);
    lua.raw_set_str(mt, "__index", f);
    lua.set_metatable(g, Some(mt));
    let mut stack = vec![g];
    while let Some(t) = stack.pop() {
        if lua.is_readonly(t) {
            continue;
        }
        lua.set_readonly(t, true);
        let mut key = Value::Nil;
        while let Ok(Some((k, v))) = lua.next(t, key) {
            if let Value::Table(inner) = v {
                stack.push(inner);
            }
            key = k;
        }
        if let Some(m) = lua.get_metatable(t) {
            stack.push(m);
        }
    }
}

/// The globals a script sees (script_lua.c's allow lists): anything else
/// the libraries define (print, dofile, loadfile, debug…) is removed.
const GLOBALS_ALLOWED: &[&str] = &[
    "string",
    "cjson",
    "bit",
    "cmsgpack",
    "math",
    "table",
    "struct",
    "redis",
    "xpcall",
    "tostring",
    "getfenv",
    "setmetatable",
    "next",
    "assert",
    "tonumber",
    "rawequal",
    "collectgarbage",
    "getmetatable",
    "rawset",
    "pcall",
    "coroutine",
    "type",
    "_G",
    "select",
    "unpack",
    "gcinfo",
    "pairs",
    "rawget",
    "loadstring",
    "ipairs",
    "_VERSION",
    "setfenv",
    "load",
    "error",
    "newproxy",
];

/// A fresh EVAL interpreter: Redis's libraries, the `redis` API, its
/// `pcall`, only the allowed globals, protected.
pub fn new_eval_lua() -> Box<Lua> {
    let mut lua = Box::new(Lua::new());
    let redis = redis_table(&mut lua, true);
    lua.set_global("redis", Value::Table(redis));
    let pcall = lua.redis_pcall();
    lua.set_global("pcall", pcall);
    let g = lua.globals();
    let mut key = Value::Nil;
    let mut remove = Vec::new();
    while let Ok(Some((k, _))) = lua.next(g, key) {
        let name = lua.as_bytes(k).map(|b| b.to_vec()).unwrap_or_default();
        if !GLOBALS_ALLOWED.iter().any(|a| a.as_bytes() == name) {
            remove.push(k);
        }
        key = k;
    }
    for k in remove {
        let _ = lua.raw_set(g, k, Value::Nil);
    }
    protect_globals(&mut lua);
    lua
}

/// `evalExtractShebangFlags`: the flags and the shebang's length (kept
/// out of the compiled body, its newline kept so line numbers hold).
pub fn shebang(body: &[u8]) -> Result<(u32, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((flag::EVAL_COMPAT, 0));
    }
    let Some(end) = body.iter().position(|&c| c == b'\n') else {
        return Err("ERR Invalid script shebang".into());
    };
    let parts = crate::protocol::args::split_args(&body[..end]).unwrap_or_default();
    let Some(engine) = parts.first() else {
        return Err("ERR Invalid engine in script shebang".into());
    };
    if engine.as_slice() != b"#!lua" {
        return Err(format!(
            "ERR Unexpected engine in script shebang: {}",
            String::from_utf8_lossy(engine)
        ));
    }
    let mut flags = 0;
    for p in &parts[1..] {
        let Some(list) = p.strip_prefix(b"flags=") else {
            return Err(format!(
                "ERR Unknown lua shebang option: {}",
                String::from_utf8_lossy(p)
            ));
        };
        for f in list
            .split(|&c| c == b',')
            .filter(|f| !list.is_empty() || !f.is_empty())
        {
            match flag::NAMES.iter().find(|(n, _)| n.as_bytes() == f) {
                Some((_, v)) => flags |= v,
                None => {
                    return Err(format!(
                        "ERR Unexpected flag in script shebang: {}",
                        String::from_utf8_lossy(f)
                    ))
                }
            }
        }
    }
    Ok((flags, end))
}

pub fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "eval" => |c, a| eval(c, a, false, false),
        "evalsha" => |c, a| eval(c, a, true, false),
        "eval_ro" => |c, a| eval(c, a, false, true),
        "evalsha_ro" => |c, a| eval(c, a, true, true),
        "script|load" => script_load,
        "script|exists" => script_exists,
        "script|flush" => script_flush,
        "script|kill" => |c, _| kill(c, true),
        "script|help" => |c, _| c.table.help["script"].clone(),
        _ => return functions::handler(name),
    })
}

/// Compiles and caches an EVAL script (`luaCreateFunction`); its SHA.
fn create_script(ctx: &mut Ctx, body: &[u8]) -> Result<String, Reply> {
    let sha = sha1_hex(body);
    if ctx.srv.scripting.scripts.contains_key(&sha) {
        return Ok(sha);
    }
    let (flags, skip) = shebang(body).map_err(Reply::Error)?;
    let lua = ctx.srv.scripting.lua.get_or_insert_with(new_eval_lua);
    // The shebang is left out, its line feed kept.
    let f = match lua.load(&body[skip..], "@user_script") {
        Ok(f) => f,
        Err(e) => {
            let msg = lua.error_string(&e);
            return Err(Reply::err(format!(
                "ERR Error compiling script (new function): {msg}"
            )));
        }
    };
    let reg = lua.registry();
    lua.raw_set_str(reg, &format!("f_{sha}"), f);
    let s = &mut ctx.srv.scripting;
    s.scripts_mem += 40 + body.len();
    s.scripts.insert(
        sha.clone(),
        Script {
            body: body.to_vec(),
            flags,
        },
    );
    Ok(sha)
}

/// `scriptPrepareForRun`'s refusals, and the run's starting state.
pub fn prepare(ctx: &mut Ctx, flags: u32, ro: bool) -> Result<RunState, Reply> {
    let compat = flags & flag::EVAL_COMPAT != 0;
    let replica = ctx.srv.repl.is_replica();
    let repl = ctx.srv.config.repl();
    if !compat && flags & flag::NO_WRITES == 0 {
        if replica && repl.read_only {
            return Err(Reply::err(
                "READONLY Can not run script with write flag on readonly replica",
            ));
        }
        if ro {
            return Err(Reply::err(
                "ERR Can not execute a script with write flag using *_ro command.",
            ));
        }
        if repl.min_replicas_max_lag > 0 && ctx.srv.too_few_replicas(ctx.now) {
            return Err(Reply::err("NOREPLICAS Not enough good replicas to write."));
        }
    }
    if !compat
        && flags & (flag::ALLOW_OOM | flag::NO_WRITES) == 0
        && ctx.srv.config.maxmemory() > 0
        && crate::commands::server::used_memory(ctx.srv) as u64 > ctx.srv.config.maxmemory()
    {
        return Err(Reply::err(
            "OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'",
        ));
    }
    Ok(RunState {
        readonly: ro || (!compat && flags & flag::NO_WRITES != 0),
        allow_oom: !compat && flags & flag::ALLOW_OOM != 0,
        wrote: false,
        resp: 2,
        repl: 3,
        db: ctx.db_index(),
    })
}

/// Lua strings for KEYS/ARGV.
fn string_array(lua: &mut Lua, items: &[Vec<u8>]) -> cachelab_lua::TableRef {
    let t = lua.create_table(items.len(), 0);
    for (i, it) in items.iter().enumerate() {
        let v = lua.string(it);
        lua.raw_set_int(t, i as i64 + 1, v);
    }
    t
}

/// EVAL / EVALSHA / EVAL_RO / EVALSHA_RO script numkeys key… arg….
fn eval(ctx: &mut Ctx, argv: &[Vec<u8>], evalsha: bool, ro: bool) -> Reply {
    feed_monitors(ctx, argv);
    let numkeys = match parse_int(&argv[2]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    if numkeys > argv.len() as i64 - 3 {
        return Reply::err("ERR Number of keys can't be greater than number of args");
    }
    if numkeys < 0 {
        return Reply::err("ERR Number of keys can't be negative");
    }
    let sha = if evalsha {
        if argv[1].len() != 40 {
            return Reply::err(NOSCRIPT);
        }
        String::from_utf8_lossy(&argv[1]).to_ascii_lowercase()
    } else {
        sha1_hex(&argv[1])
    };
    if !ctx.srv.scripting.scripts.contains_key(&sha) {
        if evalsha {
            return Reply::err(NOSCRIPT);
        }
        if let Err(e) = create_script(ctx, &argv[1]) {
            return e;
        }
    }
    let flags = ctx.srv.scripting.scripts[&sha].flags;
    let state = match prepare(ctx, flags, ro) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let n = numkeys as usize;
    let lua = ctx.srv.scripting.lua.get_or_insert_with(new_eval_lua);
    let reg = lua.registry();
    let f = lua.raw_get_str(reg, &format!("f_{sha}"));
    let keys = string_array(lua, &argv[3..3 + n]);
    let args = string_array(lua, &argv[3 + n..]);
    let g = lua.globals();
    lua.set_readonly(g, false);
    lua.raw_set_str(g, "KEYS", Value::Table(keys));
    lua.raw_set_str(g, "ARGV", Value::Table(args));
    lua.set_readonly(g, true);
    let call = lua.start(f, Vec::new());
    start(ctx, call, sha, true, state, argv)
}

/// EVAL and FCALL show themselves to MONITOR before their calls (they are
/// flagged skip_monitor so `call()` does not show them again).
pub fn feed_monitors(ctx: &mut Ctx, argv: &[Vec<u8>]) {
    if ctx.srv.monitors.is_empty() {
        return;
    }
    if let Some(peer) = ctx.client().map(|c| c.peer.clone()) {
        let db = ctx.db_index();
        crate::commands::monitor::feed(ctx.srv, ctx.now, db, Some(&peer), argv);
    }
}

/// Starts a script run: runs its first slice, and either answers or leaves
/// it running (the caller blocked) for the node to continue.
pub fn start(
    ctx: &mut Ctx,
    call: Call,
    name: String,
    eval: bool,
    state: RunState,
    command: &[Vec<u8>],
) -> Reply {
    let conn = ctx.conn;
    let caller_db = ctx.db_index();
    let run = Box::new(Running {
        conn,
        call,
        started: ctx.now,
        name,
        eval,
        state,
        caller_db,
        killed: false,
        spent: 0,
        orphaned: false,
        command: Vec::new(),
        nested_checks: Default::default(),
    });
    // Inside EXEC, or with no client (a replica applying effects), the
    // script cannot be suspended.
    let suspendable = ctx.client().is_some_and(|c| !c.in_multi);
    let mut run = run;
    run.command = command.to_vec();
    if let Some(c) = ctx.srv.clients.get_mut(&ctx.conn) {
        c.script_argv = command.to_vec();
    }
    match step(ctx, run, suspendable) {
        Ok(reply) => reply,
        Err(run) => {
            ctx.srv.scripting.running = Some(run);
            ctx.block(crate::node::Blocked::Script);
            Reply::Nil
        }
    }
}

/// Runs slices of `run`: its reply when it ends, or the run back when it
/// yielded and may be suspended.
pub fn step(
    ctx: &mut Ctx,
    mut run: Box<Running>,
    suspendable: bool,
) -> Result<Reply, Box<Running>> {
    let eval = run.eval;
    let mut lua = if eval {
        ctx.srv.scripting.lua.take().unwrap_or_else(new_eval_lua)
    } else {
        ctx.srv.scripting.functions.take_lua()
    };
    // Nested runs ask this hook every million instructions whether to stop.
    let checks = run.nested_checks.clone();
    let cap = match ctx.srv.scripting.nested_cap_checks {
        0 => NESTED_CAP_CHECKS,
        n => n,
    };
    lua.set_interrupt(Some(Box::new(move || {
        checks.set(checks.get() + 1);
        checks.get() >= cap
    })));
    let outcome = loop {
        if run.killed {
            let at = lua.current_position();
            lua.kill(&mut run.call, "Script killed by user with SCRIPT KILL...");
            let mut host = ScriptHost {
                ctx,
                state: &mut run.state,
            };
            let _ = lua.resume(&mut run.call, &mut host, 1);
            let mut text = KILLED.to_string();
            if let Some((source, line)) = at {
                text.push_str(&format!(
                    " script: {}, on {}:{line}.",
                    run.name,
                    String::from_utf8_lossy(&source)
                ));
            }
            break Some(Reply::Error(text));
        }
        let step = {
            let mut host = ScriptHost {
                ctx,
                state: &mut run.state,
            };
            lua.resume(&mut run.call, &mut host, SLICE)
        };
        match step {
            // An error that a command the script called already counted
            // is not counted again (the script still failed).
            Step::Done(Ok(values)) => {
                let v = values.first().copied().unwrap_or(Value::Nil);
                ctx.srv.stats.error_counted = convert::stats_counted(&mut lua, v);
                break Some(convert::lua_to_reply(&mut lua, v, run.state.resp));
            }
            Step::Done(Err(e)) => {
                let at = lua.error_position();
                ctx.srv.stats.error_counted = convert::stats_counted(&mut lua, e.value);
                break Some(convert::error_reply(&mut lua, &e, &run.name, at));
            }
            Step::Yielded => {
                run.spent += SLICE;
                if suspendable {
                    break None;
                }
                if run.spent >= UNSUSPENDABLE_CAP {
                    run.killed = true;
                }
            }
        }
    };
    if outcome.is_some() {
        let sc = &mut ctx.srv.scripting;
        sc.since_gc += 1;
        if sc.since_gc >= GC_PERIOD {
            sc.since_gc = 0;
            lua.collect();
        }
    }
    if eval {
        ctx.srv.scripting.lua = Some(lua);
    } else {
        ctx.srv.scripting.functions.put_lua(lua);
    }
    match outcome {
        Some(reply) => {
            restore_caller(ctx, &run);
            Ok(reply)
        }
        None => Err(run),
    }
}

/// After a script: the caller's own client state is its own again.
fn restore_caller(ctx: &mut Ctx, run: &Running) {
    if let Some(c) = ctx.srv.clients.get_mut(&run.conn) {
        c.db = run.caller_db;
        c.script_argv.clear();
    }
}

/// SCRIPT KILL / FUNCTION KILL (`scriptKill`).
pub fn kill(ctx: &mut Ctx, is_eval: bool) -> Reply {
    let Some(run) = ctx.srv.scripting.running.as_mut() else {
        return Reply::err("NOTBUSY No scripts in execution right now.");
    };
    if run.state.wrote {
        return Reply::err("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
    }
    if is_eval && !run.eval {
        return Reply::err(BUSY_FUNCTION);
    }
    if !is_eval && run.eval {
        return Reply::err(BUSY_EVAL);
    }
    run.killed = true;
    Reply::ok()
}

fn script_load(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match create_script(ctx, &argv[2]) {
        Ok(sha) => Reply::Bulk(sha.into_bytes()),
        Err(e) => e,
    }
}

fn script_exists(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    Reply::Array(
        argv[2..]
            .iter()
            .map(|sha| {
                let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
                Reply::Int(ctx.srv.scripting.scripts.contains_key(&sha) as i64)
            })
            .collect(),
    )
}

fn script_flush(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if argv.len() > 3 || (argv.len() == 3 && !eq_ic(&argv[2], "sync") && !eq_ic(&argv[2], "async"))
    {
        return Reply::err("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
    }
    let s = &mut ctx.srv.scripting;
    s.scripts.clear();
    s.scripts_mem = 0;
    s.lua = None;
    Reply::ok()
}

/// The engine's side of a running script: `redis.*` calls reach the
/// command table and the data through the caller's context.
pub struct ScriptHost<'c, 'a> {
    pub ctx: &'c mut Ctx<'a>,
    pub state: &'c mut RunState,
}

/// A Lua runtime error carrying Redis's `{err=…}` table.
fn raise(lua: &mut LuaCtx<'_>, err: &[u8]) -> LuaError {
    let t = convert::error_table(lua, err);
    lua.error_value(Value::Table(t))
}

/// `luaArgsToRedisArgv`: strings as they are, numbers as `%.17g`.
fn command_args(lua: &mut LuaCtx<'_>) -> Result<Vec<Vec<u8>>, LuaError> {
    let n = lua.nargs();
    if n == 0 {
        return Err(raise(
            lua,
            b"Please specify at least one argument for this redis lib call",
        ));
    }
    let mut argv = Vec::with_capacity(n);
    for i in 0..n {
        match lua.arg(i) {
            Value::Number(x) => argv.push(crate::store::number::format_g17(x).into_bytes()),
            v @ Value::String(_) => argv.push(lua.as_bytes(v).unwrap_or_default().to_vec()),
            _ => {
                return Err(raise(
                    lua,
                    b"Lua redis lib command arguments must be strings or integers",
                ))
            }
        }
    }
    Ok(argv)
}

impl Host for ScriptHost<'_, '_> {
    fn call(&mut self, lua: &mut LuaCtx<'_>, id: u32) -> Result<Vec<Value>, LuaError> {
        use host_id::*;
        match id {
            CALL | PCALL => {
                let argv = command_args(lua)?;
                let reply = match crate::commands::script_call(self.ctx, self.state, &argv) {
                    Ok(r) => r,
                    Err(e) => {
                        // `afterErrorReply` in scriptCall: counted here, once.
                        let counted = match e.strip_prefix('-') {
                            Some(rest) => Reply::Error(rest.to_string()),
                            None => Reply::Error(format!("ERR {e}")),
                        };
                        self.ctx.srv.stats.error_reply(&counted);
                        let t = convert::error_table(lua, e.as_bytes());
                        lua.raw_set_str(t, "ignore_error_stats_update", Value::Boolean(true));
                        if id == CALL {
                            return Err(lua.error_value(Value::Table(t)));
                        }
                        return Ok(vec![Value::Table(t)]);
                    }
                };
                let v = convert::reply_to_lua(lua, &reply, self.state.resp);
                if id == CALL && reply.is_error() {
                    return Err(lua.error_value(v));
                }
                Ok(vec![v])
            }
            SHA1HEX => {
                if lua.nargs() != 1 {
                    return Err(raise(lua, b"wrong number of arguments"));
                }
                let a = lua.arg(0);
                let bytes = lua.to_bytes(a).unwrap_or_default();
                Ok(vec![lua.string(sha1_hex(&bytes))])
            }
            ERROR_REPLY | STATUS_REPLY => {
                let a = lua.arg(0);
                if lua.nargs() != 1 || !matches!(a, Value::String(_)) {
                    let t = convert::error_table(lua, b"wrong number or type of arguments");
                    return Ok(vec![Value::Table(t)]);
                }
                let s = lua.as_bytes(a).unwrap_or_default().to_vec();
                if id == STATUS_REPLY {
                    let t = lua.new_table();
                    lua.raw_set_str(t, "ok", a);
                    return Ok(vec![Value::Table(t)]);
                }
                let mut e = s;
                if !e.starts_with(b"-") {
                    e.insert(0, b'-');
                }
                Ok(vec![Value::Table(convert::error_table(lua, &e))])
            }
            LOG => {
                let n = lua.nargs();
                if n < 2 {
                    return Err(raise(lua, b"redis.log() requires two arguments or more."));
                }
                let level = match lua.arg(0) {
                    Value::Number(x) => x,
                    v => match lua.to_number(v) {
                        Some(x) => x,
                        None => {
                            return Err(raise(lua, b"First argument must be a number (log level)."))
                        }
                    },
                };
                if !(0.0..=3.0).contains(&(level as i64 as f64)) {
                    return Err(raise(lua, b"Invalid debug level."));
                }
                // The log goes nowhere a client can see (redis-server's own
                // log file); the call is accepted.
                Ok(Vec::new())
            }
            SETRESP => {
                if lua.nargs() != 1 {
                    return Err(raise(lua, b"redis.setresp() requires one argument."));
                }
                let a = lua.arg(0);
                let r = lua.to_number(a).unwrap_or(0.0) as i64;
                if r != 2 && r != 3 {
                    return Err(raise(lua, b"RESP version must be 2 or 3."));
                }
                self.state.resp = r as u8;
                Ok(Vec::new())
            }
            SET_REPL => {
                if lua.nargs() != 1 {
                    return Err(raise(lua, b"redis.set_repl() requires two arguments."));
                }
                let a = lua.arg(0);
                let f = lua.to_number(a).unwrap_or(0.0) as i64;
                if f & !3 != 0 {
                    return Err(raise(
                        lua,
                        b"Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                    ));
                }
                self.state.repl = f as u8;
                Ok(Vec::new())
            }
            REPLICATE_COMMANDS => Ok(vec![Value::Boolean(true)]),
            BREAKPOINT => Ok(vec![Value::Boolean(false)]),
            DEBUG => Ok(Vec::new()),
            ACL_CHECK_CMD => {
                let argv = command_args(lua)?;
                if self.ctx.table.lookup(&argv).is_none() {
                    return Err(raise(
                        lua,
                        b"Invalid command passed to redis.acl_check_cmd()",
                    ));
                }
                // One user with every permission (ACL is not modelled yet).
                Ok(vec![Value::Boolean(true)])
            }
            NONEXISTENT_GLOBAL => Err(nonexistent_global(lua)),
            REGISTER_FUNCTION => Err(raise(
                lua,
                b"redis.register_function can only be called on FUNCTION LOAD command",
            )),
            _ => Err(lua.error("unknown host function")),
        }
    }
}

/// `evalGetCommandFlags` / FCALL's: whether a script command may write,
/// when the script declared its flags (a shebang, or a function's flags);
/// `None` leaves the command's own flags in force (a plain EVAL, an
/// unknown script or function).
pub fn declared_writes(s: &Scripting, argv: &[Vec<u8>]) -> Option<bool> {
    let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
    let flags = match name.as_str() {
        "eval" | "eval_ro" => {
            let sha = sha1_hex(argv.get(1)?);
            match s.scripts.get(&sha) {
                Some(script) => script.flags,
                None => shebang(argv.get(1)?).ok()?.0,
            }
        }
        "evalsha" | "evalsha_ro" => {
            let sha = String::from_utf8_lossy(argv.get(1)?).to_ascii_lowercase();
            s.scripts.get(&sha)?.flags
        }
        "fcall" | "fcall_ro" => {
            let f = String::from_utf8_lossy(argv.get(1)?).to_ascii_lowercase();
            let lib = s.functions.index.get(&f)?;
            s.functions
                .libraries
                .get(lib)?
                .functions
                .values()
                .find(|x| x.name.eq_ignore_ascii_case(&f))?
                .flags
        }
        _ => return None,
    };
    if flags & flag::EVAL_COMPAT != 0 {
        return None;
    }
    Some(flags & flag::NO_WRITES == 0)
}

/// The protected globals' `__index` (`luaProtectedTableError`).
pub fn nonexistent_global(lua: &mut LuaCtx<'_>) -> LuaError {
    let name = lua.arg(1);
    let name = lua.to_bytes(name).unwrap_or_default();
    let mut msg = b"Script attempted to access nonexistent global variable '".to_vec();
    msg.extend_from_slice(&name);
    msg.push(b'\'');
    lua.error(msg)
}

/// Is `run` past `busy-reply-threshold`? Then other clients get BUSY.
pub fn is_busy(run: &Running, now: Millis, threshold_ms: u64) -> bool {
    threshold_ms > 0 && now.saturating_sub(run.started) >= threshold_ms
}

#[cfg(test)]
mod tests {
    use crate::protocol::encode_request;
    use crate::{ConnId, Input, Millis, Node, Output};

    /// A loop inside a `table.sort` comparator runs in a nested run that
    /// cannot be suspended: it is killed at the cap instead of stalling the
    /// node for good.
    #[test]
    fn an_endless_loop_in_a_callback_is_bounded() {
        let mut node = Node::new(1);
        let now = Millis(1_000);
        node.start(now, 6379);
        node.srv.scripting.nested_cap_checks = 3;
        let conn = ConnId(1);
        node.handle(
            now,
            Input::ConnOpened {
                conn,
                peer: "127.0.0.1:5000".into(),
                local: "127.0.0.1:6379".into(),
            },
        );
        let script = "table.sort({3, 1, 2}, function(a, b) while true do end end) return 1";
        let argv: Vec<Vec<u8>> = ["EVAL", script, "0"]
            .iter()
            .map(|a| a.as_bytes().to_vec())
            .collect();
        node.handle(
            now,
            Input::ClientBytes {
                conn,
                bytes: &encode_request(&argv),
            },
        );
        let mut out = Vec::new();
        for _ in 0..1000 {
            node.handle(now, Input::Tick);
            while let Some(o) = node.poll_output() {
                if let Output::ToClient { bytes, .. } = o {
                    out.extend(bytes);
                }
            }
            if !out.is_empty() {
                break;
            }
        }
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.starts_with("-ERR") && text.contains("killed"),
            "{text}"
        );
        // The node serves on.
        let ping = encode_request(&[b"PING".to_vec()]);
        node.handle(now, Input::ClientBytes { conn, bytes: &ping });
        let mut out = Vec::new();
        while let Some(o) = node.poll_output() {
            if let Output::ToClient { bytes, .. } = o {
                out.extend(bytes);
            }
        }
        assert_eq!(out, b"+PONG\r\n");
    }
}
