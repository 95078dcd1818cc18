//! cachelab-lua: a Lua 5.1 interpreter in pure Rust, as Redis 7.0 embeds it.
//!
//! * [`Lua`] owns the heap, globals and the (single) execution stack.
//! * Scripts run as resumable calls: [`Lua::start`] + [`Lua::resume`] with an
//!   instruction budget, returning [`Step::Yielded`] when the budget is spent;
//!   [`Lua::kill`] ends a call with an error `pcall` cannot catch.
//! * Host functions are Rust closures receiving a [`Ctx`] (arguments, the
//!   interpreter, and the `&mut dyn Host` host value passed to `resume`).
//!
//! Module map: `lexer` (tokens), `compiler` (parser and code generator),
//! `bytecode` (opcodes/protos), `vm` (execution), `debug` (error variable names),
//! `heap` (arena and GC), `table` (ltable.c port), `value` (values/errors),
//! `number` (numeric formatting/parsing), `coroutine` (thread switching for
//! coroutines), `lib_*` (standard and Redis libraries), `pattern` (Lua patterns).

#![allow(
    clippy::collapsible_match,
    clippy::needless_range_loop,
    clippy::excessive_precision,
    clippy::enum_variant_names
)]

mod bytecode;
mod compiler;
mod coroutine;
mod debug;
mod heap;
mod lexer;
mod lib_base;
mod lib_bit;
mod lib_cjson;
mod lib_cmsgpack;
mod lib_coroutine;
mod lib_math;
mod lib_string;
mod lib_struct;
mod lib_table;
mod number;
mod pattern;
mod table;
mod value;
mod vm;

pub use value::{ErrorKind, FnRef, LuaError, StrRef, TableRef, ThreadRef, Value};

use coroutine::{CoLink, SavedStack};
use heap::{Func, Heap, NativeClosure, MAIN_THREAD};
use std::any::Any;
use std::rc::Rc;
use vm::{Callee, Exec, Frame};

/// A host (native) function. It receives a [`Ctx`] and returns its results.
pub type NativeFn = Rc<dyn Fn(&mut Ctx<'_>) -> Result<Vec<Value>, LuaError>>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Special {
    None,
    Pcall,
    Xpcall,
    RedisPcall,
    /// `coroutine.resume`, a `coroutine.wrap` function (its upvalue is the
    /// thread) and `coroutine.yield`: they switch threads inside the loop.
    CoResume,
    CoWrap,
    CoYield,
}

/// The outcome of [`Lua::resume`].
#[derive(Debug)]
pub enum Step {
    /// The call finished with its results or its error.
    Done(Result<Vec<Value>, LuaError>),
    /// The instruction budget was spent; call `resume` again to continue.
    Yielded,
}

/// A suspended top-level call created by [`Lua::start`].
#[derive(Debug)]
pub struct Call {
    started: bool,
    finished: bool,
    killed: Option<Vec<u8>>,
}

impl Call {
    /// True once `resume` has returned `Step::Done`.
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

/// A Lua 5.1 interpreter state.
pub struct Lua {
    pub(crate) heap: Heap,
    pub(crate) stack: Vec<Value>,
    pub(crate) top: usize,
    pub(crate) frames: Vec<Frame>,
    pub(crate) open_upvals: Vec<(usize, u32)>,
    pub(crate) globals: TableRef,
    pub(crate) registry: TableRef,
    pub(crate) string_meta: Option<TableRef>,
    pub(crate) tm_names: Vec<StrRef>,
    pub(crate) pins: Vec<Value>,
    pub(crate) call_roots: Vec<Value>,
    pub(crate) budget: u64,
    pub(crate) budget_overrun: bool,
    pub(crate) c_calls: u32,
    pub(crate) native_running: bool,
    pub(crate) pending_kill: Option<LuaError>,
    pub(crate) interrupt: Option<Box<dyn FnMut() -> bool>>,
    pub(crate) rand_state: u64,
    pub(crate) cjson: lib_cjson::Config,
    /// Where the last error was raised: the innermost Lua function's source
    /// and current line (what Redis's error handler reads with getinfo).
    pub(crate) error_at: Option<(Vec<u8>, u32)>,
    // ---- coroutines (see `coroutine.rs`): `stack`, `top`, `open_upvals` are
    // the running thread's; `frames` holds the running thread's frames on top
    // of those of the threads that resumed it, each above a CoResume marker.
    /// The running thread: `MAIN_THREAD` or a coroutine's arena index.
    pub(crate) cur_thread: u32,
    /// Index in `frames` of the running thread's first frame.
    pub(crate) co_base: usize,
    /// `co_base + LUAI_MAXCALLS`: where the running thread overflows.
    pub(crate) frames_limit: usize,
    /// One link per coroutine being resumed (innermost last).
    pub(crate) co_chain: Vec<CoLink>,
    /// The main thread's stack while a coroutine runs.
    pub(crate) main_saved: SavedStack,
    /// Values passed through resume/yield (reused buffer).
    pub(crate) xfer: Vec<Value>,
}

impl Default for Lua {
    fn default() -> Self {
        Self::new()
    }
}

/// What the embedding program lends a running script: natives created with
/// [`Lua::host_fn`] are answered by [`Host::call`] with the host's own state
/// (which may borrow anything: it need not be `'static`), and
/// [`Ctx::host`] reaches a `'static` host's concrete type.
pub trait Host {
    /// A call to the native registered as `Lua::host_fn(id)`.
    fn call(&mut self, ctx: &mut Ctx<'_>, id: u32) -> Result<Vec<Value>, LuaError> {
        let _ = id;
        Err(ctx.error("no host function is available here"))
    }
    /// The host as `Any`, for [`Ctx::host`] (only a `'static` host can be).
    fn as_any(&mut self) -> Option<&mut dyn Any> {
        None
    }
}

/// No host: scripts run on their own.
impl Host for () {}

/// A host that lends nothing to host functions (used while one runs).
struct NoHost;
impl Host for NoHost {}

/// The context handed to a native function.
pub struct Ctx<'a> {
    /// The interpreter (create strings/tables, read/write fields, call functions).
    pub lua: &'a mut Lua,
    /// The host value passed to [`Lua::resume`] / [`Lua::call`].
    pub host: &'a mut dyn Host,
    pub(crate) base: usize,
    pub(crate) nargs: usize,
    pub(crate) func: FnRef,
}

impl std::ops::Deref for Ctx<'_> {
    type Target = Lua;
    fn deref(&self) -> &Lua {
        self.lua
    }
}
impl std::ops::DerefMut for Ctx<'_> {
    fn deref_mut(&mut self) -> &mut Lua {
        self.lua
    }
}

/// C `(long)d` on x86-64: truncation, out of range gives `LONG_MIN`.
pub(crate) fn to_integer(d: f64) -> i64 {
    if d.is_nan() || !(-9.223372036854775808e18..9.223372036854775807e18).contains(&d) {
        i64::MIN
    } else {
        d as i64
    }
}

impl<'a> Ctx<'a> {
    /// Number of arguments passed.
    pub fn nargs(&self) -> usize {
        self.nargs
    }
    /// Argument `i` (0-based); nil when absent.
    pub fn arg(&self, i: usize) -> Value {
        if i < self.nargs {
            self.lua.stack[self.base + i]
        } else {
            Value::Nil
        }
    }
    /// All arguments.
    pub fn args(&self) -> Vec<Value> {
        self.lua.stack[self.base..self.base + self.nargs].to_vec()
    }
    /// The host value downcast to `T`.
    pub fn host<T: 'static>(&mut self) -> Option<&mut T> {
        self.host.as_any()?.downcast_mut::<T>()
    }
    /// Hands this call to the host (`Host::call`), for natives made with
    /// [`Lua::host_fn`].
    pub fn host_call(&mut self, id: u32) -> Result<Vec<Value>, LuaError> {
        // The host is lent out for the call; a ZST box allocates nothing.
        let host = std::mem::replace(&mut self.host, Box::leak(Box::new(NoHost)));
        let r = host.call(self, id);
        self.host = host;
        r
    }
    /// `luaL_error`: a runtime error message prefixed with the caller's position.
    pub fn error(&mut self, msg: impl AsRef<[u8]>) -> LuaError {
        self.lua.native_error(msg.as_ref())
    }
    /// An error whose object is an arbitrary value (e.g. a table `{err="..."}`).
    pub fn error_value(&mut self, v: Value) -> LuaError {
        LuaError::runtime(v)
    }
    /// `luaL_argerror` (1-based argument number).
    pub fn arg_error(&mut self, narg: usize, msg: impl AsRef<[u8]>) -> LuaError {
        self.lua.arg_error_at(self.base - 1, narg, msg.as_ref())
    }
    /// `luaL_typerror`.
    pub fn type_error(&mut self, narg: usize, expected: &str) -> LuaError {
        let got = if narg > self.nargs {
            "no value"
        } else {
            self.arg(narg - 1).type_name()
        };
        let m = format!("{} expected, got {}", expected, got);
        self.arg_error(narg, m)
    }
    /// `luaL_checkany`.
    pub fn check_any(&mut self, narg: usize) -> Result<Value, LuaError> {
        if narg > self.nargs {
            return Err(self.arg_error(narg, "value expected"));
        }
        Ok(self.arg(narg - 1))
    }
    pub fn check_table(&mut self, narg: usize) -> Result<TableRef, LuaError> {
        match self.arg(narg - 1) {
            Value::Table(t) => Ok(t),
            _ => Err(self.type_error(narg, "table")),
        }
    }
    /// `luaL_checknumber` (strings convertible to numbers are accepted).
    pub fn check_number(&mut self, narg: usize) -> Result<f64, LuaError> {
        match self.lua.tonumber(self.arg(narg - 1)) {
            Some(n) => Ok(n),
            None => Err(self.type_error(narg, "number")),
        }
    }
    pub fn opt_number(&mut self, narg: usize, def: f64) -> Result<f64, LuaError> {
        if self.arg(narg - 1).is_nil() {
            Ok(def)
        } else {
            self.check_number(narg)
        }
    }
    /// `luaL_checkinteger` (C `(long)` truncation).
    pub fn check_integer(&mut self, narg: usize) -> Result<i64, LuaError> {
        Ok(to_integer(self.check_number(narg)?))
    }
    pub fn opt_integer(&mut self, narg: usize, def: i64) -> Result<i64, LuaError> {
        if self.arg(narg - 1).is_nil() {
            Ok(def)
        } else {
            self.check_integer(narg)
        }
    }
    /// `luaL_checkint`.
    pub fn check_int(&mut self, narg: usize) -> Result<i32, LuaError> {
        Ok(self.check_integer(narg)? as i32)
    }
    pub fn opt_int(&mut self, narg: usize, def: i32) -> Result<i32, LuaError> {
        Ok(self.opt_integer(narg, def as i64)? as i32)
    }
    /// `luaL_checklstring` as a string handle (numbers are converted).
    pub fn check_str(&mut self, narg: usize) -> Result<StrRef, LuaError> {
        let v = self.arg(narg - 1);
        match self.lua.tostr(v) {
            Some(s) => {
                if narg <= self.nargs {
                    self.lua.stack[self.base + narg - 1] = Value::String(s);
                }
                Ok(s)
            }
            None => Err(self.type_error(narg, "string")),
        }
    }
    /// `luaL_checklstring` copied out as bytes.
    pub fn check_bytes(&mut self, narg: usize) -> Result<Vec<u8>, LuaError> {
        let s = self.check_str(narg)?;
        Ok(self.lua.heap.str(s).to_vec())
    }
    pub fn opt_bytes(&mut self, narg: usize, def: &[u8]) -> Result<Vec<u8>, LuaError> {
        if self.arg(narg - 1).is_nil() {
            Ok(def.to_vec())
        } else {
            self.check_bytes(narg)
        }
    }
    /// Call a Lua value (function or callable) to completion from this native.
    pub fn call(&mut self, f: Value, args: &[Value]) -> Result<Vec<Value>, LuaError> {
        let top = self.base + self.nargs;
        if self.lua.top < top {
            self.lua.top = top;
        }
        let host: &mut dyn Host = &mut *self.host;
        self.lua.call_nested(host, f, args, true)
    }
    /// Upvalue `i` of this native closure (see [`Lua::create_function_with_upvalues`]).
    pub fn upvalue(&self, i: usize) -> Value {
        match self.lua.heap.funcs.get(self.func.0) {
            Func::Native(n) => n.upvals.get(i).copied().unwrap_or(Value::Nil),
            _ => Value::Nil,
        }
    }
    pub fn set_upvalue(&mut self, i: usize, v: Value) {
        if let Func::Native(n) = self.lua.heap.funcs.get_mut(self.func.0) {
            if i < n.upvals.len() {
                n.upvals[i] = v;
            }
        }
    }
    /// `tostring` semantics (calls `__tostring`).
    pub fn tostring(&mut self, v: Value) -> Result<Value, LuaError> {
        let host: &mut dyn Host = &mut *self.host;
        let top = self.base + self.nargs;
        if self.lua.top < top {
            self.lua.top = top;
        }
        self.lua.tostring_meta(host, v)
    }
}

impl Lua {
    /// A fresh interpreter with Redis' libraries loaded (base with coroutine, table,
    /// string, math, debug (minimal), cjson, struct, cmsgpack, bit).
    pub fn new() -> Lua {
        let mut lua = Lua::new_bare();
        lib_base::open(&mut lua);
        // luaopen_base registers `coroutine` too
        lib_coroutine::open(&mut lua);
        lib_table::open(&mut lua);
        lib_string::open(&mut lua);
        lib_math::open(&mut lua);
        lib_base::open_debug(&mut lua);
        lib_cjson::open(&mut lua);
        lib_struct::open(&mut lua);
        lib_cmsgpack::open(&mut lua);
        lib_bit::open(&mut lua);
        lua
    }

    /// An interpreter with no libraries at all.
    pub fn new_bare() -> Lua {
        let mut heap = Heap::new();
        let globals = heap.new_table(0, 64);
        let registry = heap.new_table(0, 8);
        let tm_names = vm::TM_NAMES
            .iter()
            .map(|n| heap.intern(n.as_bytes()))
            .collect();
        Lua {
            heap,
            stack: vec![Value::Nil; 256],
            top: 0,
            frames: Vec::new(),
            open_upvals: Vec::new(),
            globals,
            registry,
            string_meta: None,
            tm_names,
            pins: Vec::new(),
            call_roots: Vec::new(),
            budget: 0,
            budget_overrun: false,
            c_calls: 0,
            native_running: false,
            pending_kill: None,
            interrupt: None,
            rand_state: 0,
            cjson: lib_cjson::Config::default(),
            error_at: None,
            cur_thread: MAIN_THREAD,
            co_base: 0,
            frames_limit: vm::LUAI_MAXCALLS,
            co_chain: Vec::new(),
            main_saved: SavedStack::default(),
            xfer: Vec::new(),
        }
    }

    /// Compile `src`. `chunkname` follows Lua conventions: `@user_script` and
    /// `=user_script` both display as `user_script`; other names are shown verbatim.
    pub fn load(&mut self, src: &[u8], chunkname: &str) -> Result<Value, LuaError> {
        let name = if chunkname.starts_with('@') || chunkname.starts_with('=') {
            chunkname.as_bytes().to_vec()
        } else {
            let mut n = b"=".to_vec();
            n.extend_from_slice(chunkname.as_bytes());
            n
        };
        self.load_raw(src, &name)
    }

    /// Compile with a raw Lua chunk name (`luaL_loadbuffer` semantics).
    pub(crate) fn load_raw(&mut self, src: &[u8], name: &[u8]) -> Result<Value, LuaError> {
        match compiler::compile(&mut self.heap, src, name, self.c_calls) {
            Ok(p) => {
                let f = self.heap.new_func(Func::Lua(heap::LuaClosure {
                    proto: p,
                    upvals: Vec::new(),
                }));
                Ok(Value::Function(f))
            }
            Err(msg) => {
                let s = self.heap.intern(&msg);
                Err(LuaError {
                    kind: ErrorKind::Syntax,
                    value: Value::String(s),
                })
            }
        }
    }

    /// Begin a top-level call of `f(args...)`. Only one top-level call may be in
    /// progress at a time; run it with [`Lua::resume`].
    pub fn start(&mut self, f: Value, args: Vec<Value>) -> Call {
        assert!(self.frames.is_empty(), "a call is already in progress");
        self.top = 0;
        self.ensure_stack(args.len() + 2);
        self.stack[0] = f;
        self.stack[1..1 + args.len()].copy_from_slice(&args);
        self.top = 1 + args.len();
        Call {
            started: false,
            finished: false,
            killed: None,
        }
    }

    fn finish_call(&mut self, call: &mut Call) {
        call.finished = true;
        // a call killed inside coroutines: they die, the main stack returns
        self.abandon_threads();
        self.close_upvals(0);
        self.frames.clear();
        self.top = 0;
        self.c_calls = 0;
        self.native_running = false;
        let n = self.stack.len().min(4096);
        self.stack.truncate(n);
        for v in self.stack.iter_mut() {
            *v = Value::Nil;
        }
    }

    /// Run a started call for at most `budget` VM instructions.
    pub fn resume(&mut self, call: &mut Call, host: &mut dyn Host, budget: u64) -> Step {
        if call.finished {
            return Step::Done(Ok(Vec::new()));
        }
        if let Some(msg) = call.killed.take() {
            self.finish_call(call);
            let s = self.heap.intern(&msg);
            return Step::Done(Err(LuaError {
                kind: ErrorKind::Killed,
                value: Value::String(s),
            }));
        }
        self.budget = budget.max(1);
        self.budget_overrun = false;
        if !call.started {
            call.started = true;
            match self.precall(host, 0, -1, 0) {
                Ok(Callee::Done | Callee::Switched(_)) => {
                    let res = self.stack[0..self.top].to_vec();
                    self.finish_call(call);
                    return Step::Done(Ok(res));
                }
                Ok(Callee::Lua) => {}
                Err(e) => {
                    self.finish_call(call);
                    return Step::Done(Err(e));
                }
            }
        }
        match self.execute(host, 0) {
            Ok(Exec::Finished) => {
                let res = self.stack[0..self.top].to_vec();
                self.finish_call(call);
                Step::Done(Ok(res))
            }
            Ok(Exec::Yielded) => Step::Yielded,
            Err(e) => {
                self.finish_call(call);
                Step::Done(Err(e))
            }
        }
    }

    /// End a call: the next `resume` returns `Done(Err)` with `message` (kind `Killed`).
    pub fn kill(&mut self, call: &mut Call, message: &str) {
        if !call.finished {
            call.killed = Some(message.as_bytes().to_vec());
        }
    }

    /// Call `f(args)` to completion (no yielding). From inside a native this runs nested.
    pub fn call(
        &mut self,
        f: Value,
        args: Vec<Value>,
        host: &mut dyn Host,
    ) -> Result<Vec<Value>, LuaError> {
        if !self.frames.is_empty() || self.native_running {
            return self.call_nested(host, f, &args, true);
        }
        let mut c = self.start(f, args);
        loop {
            match self.resume(&mut c, host, 10_000_000) {
                Step::Done(r) => return r,
                Step::Yielded => continue,
            }
        }
    }

    /// Load and run a chunk to completion (host setup code).
    pub fn exec(
        &mut self,
        src: &[u8],
        chunkname: &str,
        host: &mut dyn Host,
    ) -> Result<Vec<Value>, LuaError> {
        let f = self.load(src, chunkname)?;
        self.call(f, Vec::new(), host)
    }

    /// Install a hook consulted when a nested (non-yieldable) run spends its budget
    /// quantum; returning true kills the script.
    pub fn set_interrupt(&mut self, hook: Option<Box<dyn FnMut() -> bool>>) {
        self.interrupt = hook;
    }

    // ---------------------------------------------------------------- values

    /// The source name (e.g. `@user_script`) and line of the innermost Lua
    /// function when the last error was raised, as Redis's
    /// `__redis__err__handler` reports them; `None` if no Lua frame was running.
    pub fn error_position(&self) -> Option<(Vec<u8>, u32)> {
        self.error_at.clone()
    }

    /// The source name and current line of the innermost Lua function of a
    /// suspended call (where a killed script stopped).
    pub fn current_position(&self) -> Option<(Vec<u8>, u32)> {
        self.innermost_position()
    }

    /// Create (intern) a Lua string.
    pub fn string(&mut self, s: impl AsRef<[u8]>) -> Value {
        Value::String(self.heap.intern(s.as_ref()))
    }
    pub fn intern(&mut self, s: impl AsRef<[u8]>) -> StrRef {
        self.heap.intern(s.as_ref())
    }
    /// The bytes of a string handle.
    pub fn str_bytes(&self, s: StrRef) -> &[u8] {
        self.heap.str(s)
    }
    /// The bytes of a string value (None for other types).
    pub fn as_bytes(&self, v: Value) -> Option<&[u8]> {
        match v {
            Value::String(s) => Some(self.heap.str(s)),
            _ => None,
        }
    }
    /// `lua_tonumber`: numbers and numeric strings.
    pub fn to_number(&self, v: Value) -> Option<f64> {
        self.tonumber(v)
    }
    /// `lua_tolstring` without metamethods: strings, and numbers formatted with %.14g.
    pub fn to_bytes(&mut self, v: Value) -> Option<Vec<u8>> {
        let s = self.tostr(v)?;
        Some(self.heap.str(s).to_vec())
    }
    /// The message of an error as bytes (non-string error objects are described).
    pub fn error_bytes(&mut self, e: &LuaError) -> Vec<u8> {
        match self.tostr(e.value) {
            Some(s) => self.heap.str(s).to_vec(),
            None => format!("(error object is a {} value)", e.value.type_name()).into_bytes(),
        }
    }
    pub fn error_string(&mut self, e: &LuaError) -> String {
        String::from_utf8_lossy(&self.error_bytes(e)).into_owned()
    }

    pub fn new_table(&mut self) -> TableRef {
        self.heap.new_table(0, 0)
    }
    pub fn create_table(&mut self, narr: usize, nhash: usize) -> TableRef {
        self.heap.new_table(narr, nhash)
    }
    pub fn globals(&self) -> TableRef {
        self.globals
    }
    /// Makes `t` the table global names resolve in (Redis's function
    /// engine shows a library only its load API while it loads); returns
    /// the previous one. The collector roots only the current globals, so
    /// a caller keeps the previous table reachable (in the registry) while
    /// it is swapped out.
    pub fn set_globals(&mut self, t: TableRef) -> TableRef {
        std::mem::replace(&mut self.globals, t)
    }
    pub fn registry(&self) -> TableRef {
        self.registry
    }
    pub fn raw_get(&self, t: TableRef, key: Value) -> Value {
        self.heap.table(t).get(key)
    }
    pub fn raw_get_str(&mut self, t: TableRef, key: &str) -> Value {
        let k = self.string(key);
        self.heap.table(t).get(k)
    }
    pub fn raw_get_int(&self, t: TableRef, i: i64) -> Value {
        self.heap.table(t).get_int(i)
    }
    /// `lua_rawset` (errors on nil/NaN keys and read-only tables).
    pub fn raw_set(&mut self, t: TableRef, key: Value, val: Value) -> Result<(), LuaError> {
        if self.heap.table(t).readonly {
            return Err(self.rt_error(b"Attempt to modify a readonly table"));
        }
        match self.heap.table_mut(t).set(key, val) {
            Ok(()) => Ok(()),
            Err(m) => Err(self.rt_error(m.as_bytes())),
        }
    }
    pub fn raw_set_str(&mut self, t: TableRef, key: &str, val: Value) {
        let k = self.string(key);
        let _ = self.heap.table_mut(t).set(k, val);
    }
    pub fn raw_set_int(&mut self, t: TableRef, i: i64, val: Value) {
        self.heap.table_mut(t).set_int(i, val);
    }
    /// `#t` without metamethods (luaH_getn).
    pub fn raw_len(&self, t: TableRef) -> usize {
        self.heap.table(t).len()
    }
    /// `next(t, key)`.
    pub fn next(&mut self, t: TableRef, key: Value) -> Result<Option<(Value, Value)>, LuaError> {
        match self.heap.table(t).next(key) {
            Ok(r) => Ok(r),
            Err(()) => Err(self.rt_error(b"invalid key to 'next'")),
        }
    }
    /// Values t[1..#t].
    pub fn array(&self, t: TableRef) -> Vec<Value> {
        let tab = self.heap.table(t);
        (1..=tab.len() as i64).map(|i| tab.get_int(i)).collect()
    }
    pub fn get_global(&mut self, name: &str) -> Value {
        let g = self.globals;
        self.raw_get_str(g, name)
    }
    pub fn set_global(&mut self, name: &str, v: Value) {
        let g = self.globals;
        self.raw_set_str(g, name, v);
    }
    pub fn set_metatable(&mut self, t: TableRef, mt: Option<TableRef>) {
        self.heap.table_mut(t).meta = mt;
    }
    pub fn get_metatable(&self, t: TableRef) -> Option<TableRef> {
        self.heap.table(t).meta
    }
    /// Redis' `lua_enablereadonlytable`.
    pub fn set_readonly(&mut self, t: TableRef, readonly: bool) {
        self.heap.table_mut(t).readonly = readonly;
    }
    pub fn is_readonly(&self, t: TableRef) -> bool {
        self.heap.table(t).readonly
    }

    /// Wrap a Rust closure as a Lua function value.
    pub fn create_function(
        &mut self,
        f: impl Fn(&mut Ctx<'_>) -> Result<Vec<Value>, LuaError> + 'static,
    ) -> Value {
        self.create_function_with_upvalues(f, Vec::new())
    }
    pub fn create_function_with_upvalues(
        &mut self,
        f: impl Fn(&mut Ctx<'_>) -> Result<Vec<Value>, LuaError> + 'static,
        upvals: Vec<Value>,
    ) -> Value {
        let fr = self.heap.new_func(Func::Native(NativeClosure {
            f: Rc::new(f),
            upvals,
            special: Special::None,
        }));
        Value::Function(fr)
    }
    pub(crate) fn create_special(&mut self, special: Special) -> Value {
        let f: NativeFn = Rc::new(|_ctx| Ok(Vec::new()));
        let fr = self.heap.new_func(Func::Native(NativeClosure {
            f,
            upvals: Vec::new(),
            special,
        }));
        Value::Function(fr)
    }
    /// A `pcall` that behaves like Redis 7's `luaRedisPcall`: a table error object
    /// with a string `err` field is replaced by that string. Install it with
    /// `lua.set_global("pcall", lua.redis_pcall())` to mirror Redis.
    pub fn redis_pcall(&mut self) -> Value {
        self.create_special(Special::RedisPcall)
    }

    /// Register a global native function.
    /// A native whose calls the host answers: `Host::call(ctx, id)`.
    pub fn host_fn(&mut self, id: u32) -> Value {
        self.create_function(move |ctx| ctx.host_call(id))
    }
    pub fn set_global_fn(
        &mut self,
        name: &str,
        f: impl Fn(&mut Ctx<'_>) -> Result<Vec<Value>, LuaError> + 'static,
    ) {
        let v = self.create_function(f);
        self.set_global(name, v);
    }
    /// Register a native function as field `name` of table `t`.
    pub fn set_field_fn(
        &mut self,
        t: TableRef,
        name: &str,
        f: impl Fn(&mut Ctx<'_>) -> Result<Vec<Value>, LuaError> + 'static,
    ) {
        let v = self.create_function(f);
        self.raw_set_str(t, name, v);
    }

    /// Keep `v` alive across collections until [`Lua::unpin`].
    pub fn pin(&mut self, v: Value) {
        self.pins.push(v);
    }
    pub fn unpin(&mut self, v: Value) {
        if let Some(i) = self.pins.iter().rposition(|&p| p == v) {
            self.pins.swap_remove(i);
        }
    }
    /// Estimated bytes used by Lua objects (for `used_memory_lua`).
    pub fn memory_bytes(&self) -> usize {
        self.heap.memory_bytes() + (self.stack.len() + self.main_saved.stack.len()) * 16
    }
    /// Run a full garbage collection now (only between calls or from natives'
    /// callers; values held only in Rust variables must be pinned).
    pub fn collect(&mut self) {
        if self.native_running {
            return;
        }
        self.collect_garbage();
    }
    /// Reseed `math.random` (Redis calls `redisSrand48(0)` before each script).
    pub fn seed_random(&mut self, seed: i32) {
        lib_math::srand48(self, seed);
    }

    /// `tostring(v)` honouring `__tostring`.
    pub(crate) fn tostring_meta(
        &mut self,
        host: &mut dyn Host,
        v: Value,
    ) -> Result<Value, LuaError> {
        let tm = self.gettm(v, vm::Tm::ToString);
        if !tm.is_nil() {
            let r = self.call_nested(host, tm, &[v], true)?;
            return Ok(r.first().copied().unwrap_or(Value::Nil));
        }
        Ok(match v {
            Value::String(_) => v,
            Value::Number(n) => Value::String(self.number_to_str(n)),
            Value::Nil => self.string("nil"),
            Value::Boolean(b) => self.string(if b { "true" } else { "false" }),
            Value::Table(t) => {
                self.string(format!("table: 0x{:08x}", 0x5555_0000u64 + t.0 as u64 * 64))
            }
            Value::Function(f) => {
                let s = format!("function: 0x{:08x}", 0x6666_0000u64 + f.0 as u64 * 64);
                self.string(s)
            }
            Value::LightUserData(0) => self.string("userdata: (nil)"),
            Value::LightUserData(p) => self.string(format!("userdata: 0x{:x}", p)),
            Value::Thread(t) => {
                let s = format!("thread: 0x{:08x}", 0x7777_0000u64 + t.0 as u64 * 64);
                self.string(s)
            }
        })
    }
}
