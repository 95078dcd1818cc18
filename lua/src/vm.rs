//! The virtual machine: an explicit frame stack (no Rust recursion for Lua-to-Lua
//! calls), instruction budget and yielding, pcall/xpcall frames, error unwinding,
//! metamethod dispatch and the semantics of every opcode (ported from lvm.c/ldo.c).

use crate::bytecode::*;
use crate::heap::{Func, LuaClosure, UpVal};
use crate::number;
use crate::value::{ErrorKind, FnRef, LuaError, StrRef, TableRef, Value};
use crate::Host;
use crate::{Ctx, Lua};
use std::rc::Rc;

pub(crate) const LUAI_MAXCALLS: usize = 16000;
pub(crate) const LUAI_MAXCCALLS: u32 = 200;
const MAXTAGLOOP: usize = 100;
/// Instructions a nested (non-yieldable) run may execute per interrupt check.
const NESTED_QUANTUM: u64 = 1_000_000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum Tm {
    Index = 0,
    NewIndex,
    _Gc,
    _Mode,
    Eq,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Unm,
    Len,
    Lt,
    Le,
    Concat,
    Call,
    ToString,
    Metatable,
}

pub(crate) const TM_NAMES: [&str; 19] = [
    "__index",
    "__newindex",
    "__gc",
    "__mode",
    "__eq",
    "__add",
    "__sub",
    "__mul",
    "__div",
    "__mod",
    "__pow",
    "__unm",
    "__len",
    "__lt",
    "__le",
    "__concat",
    "__call",
    "__tostring",
    "__metatable",
];

#[derive(Clone, Debug)]
pub(crate) enum FrameKind {
    Lua,
    /// A `pcall`/`xpcall` level; for xpcall, the handler sits at stack[func + 1].
    Pcall {
        redis: bool,
        xpcall: bool,
    },
    /// A native function that called back into Lua (a C level).
    Native,
    /// The bottom of a running coroutine's frames: the frames below belong to
    /// the thread that resumed it (see `Lua::co_chain` for the details).
    CoResume,
}

#[derive(Clone, Debug)]
pub(crate) struct Frame {
    pub(crate) kind: FrameKind,
    pub(crate) func: usize,
    pub(crate) base: usize,
    pub(crate) top: usize,
    pub(crate) pc: usize,
    pub(crate) nresults: i32,
    pub(crate) tailcalls: u32,
    pub(crate) proto: Option<Rc<Proto>>,
    pub(crate) cl: u32,
}

/// How a (possibly nested) run of the interpreter loop ended.
pub(crate) enum Exec {
    Finished,
    Yielded,
}

#[inline]
pub fn lua_mod(a: f64, b: f64) -> f64 {
    a - (a / b).floor() * b
}

/// `luaO_str2d` on a Lua value: numbers and convertible strings.
#[inline]
pub(crate) fn arith_op(op: Op, a: f64, b: f64) -> f64 {
    match op {
        Op::Add => a + b,
        Op::Sub => a - b,
        Op::Mul => a * b,
        Op::Div => a / b,
        Op::Mod => lua_mod(a, b),
        Op::Pow => a.powf(b),
        Op::Unm => -a,
        _ => 0.0,
    }
}

fn op_tm(op: Op) -> Tm {
    match op {
        Op::Add => Tm::Add,
        Op::Sub => Tm::Sub,
        Op::Mul => Tm::Mul,
        Op::Div => Tm::Div,
        Op::Mod => Tm::Mod,
        Op::Pow => Tm::Pow,
        _ => Tm::Unm,
    }
}

pub(crate) enum Callee {
    /// A Lua frame was pushed (or a coroutine was resumed and its frame is
    /// now on top); the loop must switch to it.
    Lua,
    /// A native ran to completion; its results were delivered.
    Done,
    /// A coroutine yielded: the thread below it runs again, with the results
    /// of its `resume` call at this stack slot; the loop must finish that call.
    Switched(usize),
}

impl Lua {
    // ------------------------------------------------------------ helpers

    #[inline]
    pub(crate) fn ensure_stack(&mut self, n: usize) {
        if self.stack.len() < n {
            let newlen = n.max(self.stack.len() * 2).max(64);
            self.stack.resize(newlen, Value::Nil);
        }
    }

    pub(crate) fn tonumber(&self, v: Value) -> Option<f64> {
        match v {
            Value::Number(n) => Some(n),
            Value::String(s) => number::str2d(self.heap.str(s)),
            _ => None,
        }
    }

    /// Convert a number to its string (`%.14g`).
    pub(crate) fn number_to_str(&mut self, n: f64) -> StrRef {
        let mut buf = Vec::with_capacity(24);
        number::fmt_num(&mut buf, n);
        self.heap.intern(&buf)
    }

    /// `tostring` coercion used by concat: strings stay, numbers convert.
    pub(crate) fn tostr(&mut self, v: Value) -> Option<StrRef> {
        match v {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(self.number_to_str(n)),
            _ => None,
        }
    }

    pub(crate) fn metatable_of(&self, v: Value) -> Option<TableRef> {
        match v {
            Value::Table(t) => self.heap.table(t).meta,
            Value::String(_) => self.string_meta,
            _ => None,
        }
    }

    #[inline]
    pub(crate) fn tm_name(&self, tm: Tm) -> StrRef {
        self.tm_names[tm as usize]
    }

    pub(crate) fn fasttm(&self, mt: Option<TableRef>, tm: Tm) -> Value {
        match mt {
            None => Value::Nil,
            Some(m) => self.heap.table(m).get(Value::String(self.tm_name(tm))),
        }
    }

    pub(crate) fn gettm(&self, v: Value, tm: Tm) -> Value {
        self.fasttm(self.metatable_of(v), tm)
    }

    // ------------------------------------------------------------ errors

    /// An error message string value.
    pub(crate) fn err_msg(&mut self, msg: &[u8]) -> LuaError {
        let s = self.heap.intern(msg);
        LuaError::runtime(Value::String(s))
    }

    /// `luaG_runerror`: message prefixed with the current Lua frame's position.
    pub(crate) fn rt_error(&mut self, msg: &[u8]) -> LuaError {
        if self.native_running {
            return self.err_msg(msg);
        }
        let mut m = self.where_(1);
        m.extend_from_slice(msg);
        self.err_msg(&m)
    }

    /// `luaG_typeerror` for a value that may sit in register `reg` of the current frame.
    pub(crate) fn type_error(&mut self, v: Value, reg: Option<usize>, op: &str) -> LuaError {
        let t = v.type_name();
        let info = reg.and_then(|r| self.obj_name(r));
        let msg = match info {
            Some((kind, name)) => {
                let mut m = format!("attempt to {} {} '", op, kind).into_bytes();
                m.extend_from_slice(&name);
                m.extend_from_slice(format!("' (a {} value)", t).as_bytes());
                m
            }
            None => format!("attempt to {} a {} value", op, t).into_bytes(),
        };
        self.rt_error(&msg)
    }

    fn order_error(&mut self, a: Value, b: Value) -> LuaError {
        let t1 = a.type_name();
        let t2 = b.type_name();
        if t1.as_bytes()[2] == t2.as_bytes()[2] {
            self.rt_error(format!("attempt to compare two {} values", t1).as_bytes())
        } else {
            self.rt_error(format!("attempt to compare {} with {}", t1, t2).as_bytes())
        }
    }

    /// Name description of register `reg` in the current Lua frame (`getobjname`).
    fn obj_name(&self, reg: usize) -> Option<(&'static str, Vec<u8>)> {
        if self.native_running {
            return None;
        }
        let f = self.frames.last()?;
        if !matches!(f.kind, FrameKind::Lua) {
            return None;
        }
        let proto = f.proto.as_ref()?;
        if reg < f.base || reg >= f.top {
            return None;
        }
        crate::debug::getobjname(&self.heap, proto, f.pc as i32 - 1, (reg - f.base) as i32)
    }

    // ------------------------------------------------------------ upvalues

    pub(crate) fn find_upval(&mut self, idx: usize) -> u32 {
        // open_upvals is sorted by stack index
        let pos = self.open_upvals.partition_point(|&(i, _)| i < idx);
        if pos < self.open_upvals.len() && self.open_upvals[pos].0 == idx {
            return self.open_upvals[pos].1;
        }
        let u = self.heap.new_upval(UpVal::Open(idx));
        self.open_upvals.insert(pos, (idx, u));
        u
    }

    pub(crate) fn close_upvals(&mut self, level: usize) {
        while let Some(&(i, u)) = self.open_upvals.last() {
            if i < level {
                break;
            }
            self.open_upvals.pop();
            *self.heap.upvals.get_mut(u) = UpVal::Closed(self.stack[i]);
        }
    }

    #[inline]
    fn get_upval(&self, u: u32) -> Value {
        match *self.heap.upvals.get(u) {
            UpVal::Open(i) => self.stack[i],
            UpVal::Closed(v) => v,
            UpVal::OpenIn(t, i) => self.saved_stack(t)[i],
        }
    }

    #[inline]
    fn set_upval(&mut self, u: u32, v: Value) {
        match self.heap.upvals.get_mut(u) {
            UpVal::Open(i) => {
                let i = *i;
                self.stack[i] = v;
            }
            UpVal::Closed(c) => *c = v,
            UpVal::OpenIn(t, i) => {
                let (t, i) = (*t, *i);
                self.saved_stack_mut(t)[i] = v;
            }
        }
    }

    // ------------------------------------------------------------ table access

    /// `luaV_gettable`. `reg` names the operand for error messages.
    pub(crate) fn index(
        &mut self,
        host: &mut dyn Host,
        mut t: Value,
        key: Value,
        reg: Option<usize>,
    ) -> Result<Value, LuaError> {
        let mut reg = reg;
        for _ in 0..MAXTAGLOOP {
            let tm;
            if let Value::Table(h) = t {
                let tab = self.heap.table(h);
                let res = tab.get(key);
                if !res.is_nil() {
                    return Ok(res);
                }
                tm = self.fasttm(tab.meta, Tm::Index);
                if tm.is_nil() {
                    return Ok(res);
                }
            } else {
                tm = self.gettm(t, Tm::Index);
                if tm.is_nil() {
                    return Err(self.type_error(t, reg, "index"));
                }
            }
            if let Value::Function(_) = tm {
                let r = self.call_meta(host, tm, &[t, key], 1)?;
                return Ok(r.first().copied().unwrap_or(Value::Nil));
            }
            t = tm;
            reg = None;
        }
        Err(self.rt_error(b"loop in gettable"))
    }

    /// `luaV_settable`.
    pub(crate) fn set_index(
        &mut self,
        host: &mut dyn Host,
        mut t: Value,
        key: Value,
        val: Value,
        reg: Option<usize>,
    ) -> Result<(), LuaError> {
        let mut reg = reg;
        for _ in 0..MAXTAGLOOP {
            let tm;
            if let Value::Table(h) = t {
                let tab = self.heap.table(h);
                if tab.readonly {
                    return Err(self.rt_error(b"Attempt to modify a readonly table"));
                }
                let old = tab.get(key);
                let mt = tab.meta;
                if !old.is_nil() || {
                    tm = self.fasttm(mt, Tm::NewIndex);
                    tm.is_nil()
                } {
                    return match self.heap.table_mut(h).set(key, val) {
                        Ok(()) => Ok(()),
                        Err(m) => Err(self.rt_error(m.as_bytes())),
                    };
                }
            } else {
                tm = self.gettm(t, Tm::NewIndex);
                if tm.is_nil() {
                    return Err(self.type_error(t, reg, "index"));
                }
            }
            if let Value::Function(_) = tm {
                self.call_meta(host, tm, &[t, key, val], 0)?;
                return Ok(());
            }
            t = tm;
            reg = None;
        }
        Err(self.rt_error(b"loop in settable"))
    }

    // ------------------------------------------------------------ arithmetic & comparison

    fn arith_slow(
        &mut self,
        host: &mut dyn Host,
        op: Op,
        a: Value,
        b: Value,
        ra: Option<usize>,
        rb: Option<usize>,
    ) -> Result<Value, LuaError> {
        if let (Some(x), Some(y)) = (self.tonumber(a), self.tonumber(b)) {
            return Ok(Value::Number(arith_op(op, x, y)));
        }
        let event = op_tm(op);
        let mut tm = self.gettm(a, event);
        if tm.is_nil() {
            tm = self.gettm(b, event);
        }
        if !tm.is_nil() {
            let r = self.call_meta(host, tm, &[a, b], 1)?;
            return Ok(r.first().copied().unwrap_or(Value::Nil));
        }
        // luaG_aritherror
        if self.tonumber(a).is_none() {
            Err(self.type_error(a, ra, "perform arithmetic on"))
        } else {
            Err(self.type_error(b, rb, "perform arithmetic on"))
        }
    }

    fn str_less(&self, a: StrRef, b: StrRef) -> std::cmp::Ordering {
        self.heap.str(a).cmp(self.heap.str(b))
    }

    fn comp_tm(&self, a: Value, b: Value, event: Tm) -> Value {
        let mt1 = self.metatable_of(a);
        let tm1 = self.fasttm(mt1, event);
        if tm1.is_nil() {
            return Value::Nil;
        }
        let mt2 = self.metatable_of(b);
        if mt1 == mt2 {
            return tm1;
        }
        let tm2 = self.fasttm(mt2, event);
        if tm2.is_nil() {
            return Value::Nil;
        }
        if tm1 == tm2 {
            tm1
        } else {
            Value::Nil
        }
    }

    fn call_order_tm(
        &mut self,
        host: &mut dyn Host,
        a: Value,
        b: Value,
        event: Tm,
    ) -> Result<Option<bool>, LuaError> {
        let tm1 = self.gettm(a, event);
        if tm1.is_nil() {
            return Ok(None);
        }
        let tm2 = self.gettm(b, event);
        if tm1 != tm2 {
            return Ok(None);
        }
        let r = self.call_meta(host, tm1, &[a, b], 1)?;
        Ok(Some(r.first().copied().unwrap_or(Value::Nil).truthy()))
    }

    /// `luaV_lessthan`.
    pub(crate) fn less_than(
        &mut self,
        host: &mut dyn Host,
        a: Value,
        b: Value,
    ) -> Result<bool, LuaError> {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => Ok(x < y),
            (Value::String(x), Value::String(y)) => {
                Ok(self.str_less(x, y) == std::cmp::Ordering::Less)
            }
            _ => {
                if std::mem::discriminant(&a) == std::mem::discriminant(&b) {
                    if let Some(r) = self.call_order_tm(host, a, b, Tm::Lt)? {
                        return Ok(r);
                    }
                }
                Err(self.order_error(a, b))
            }
        }
    }

    fn less_equal(&mut self, host: &mut dyn Host, a: Value, b: Value) -> Result<bool, LuaError> {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => Ok(x <= y),
            (Value::String(x), Value::String(y)) => {
                Ok(self.str_less(x, y) != std::cmp::Ordering::Greater)
            }
            _ => {
                if std::mem::discriminant(&a) == std::mem::discriminant(&b) {
                    if let Some(r) = self.call_order_tm(host, a, b, Tm::Le)? {
                        return Ok(r);
                    }
                    if let Some(r) = self.call_order_tm(host, b, a, Tm::Lt)? {
                        return Ok(!r);
                    }
                }
                Err(self.order_error(a, b))
            }
        }
    }

    /// `luaV_equalval` (after the raw-equality fast path).
    pub(crate) fn equal(
        &mut self,
        host: &mut dyn Host,
        a: Value,
        b: Value,
    ) -> Result<bool, LuaError> {
        if a == b {
            return Ok(true);
        }
        match (a, b) {
            (Value::Table(_), Value::Table(_)) => {
                let tm = self.comp_tm(a, b, Tm::Eq);
                if tm.is_nil() {
                    return Ok(false);
                }
                let r = self.call_meta(host, tm, &[a, b], 1)?;
                Ok(r.first().copied().unwrap_or(Value::Nil).truthy())
            }
            _ => Ok(false),
        }
    }

    /// `luaV_concat` over registers [first, last] (absolute stack indices); result in `first`.
    fn concat(&mut self, host: &mut dyn Host, first: usize, last: usize) -> Result<(), LuaError> {
        let mut total = last - first + 1;
        let mut last = last;
        while total > 1 {
            let top = last + 1;
            let mut n = 2;
            let a = self.stack[top - 2];
            let b = self.stack[top - 1];
            let a_ok = matches!(a, Value::String(_) | Value::Number(_));
            let b_str = if a_ok { self.tostr(b) } else { None };
            if let (true, Some(bs)) = (a_ok, b_str) {
                self.stack[top - 1] = Value::String(bs);
                if self.heap.str(bs).is_empty() {
                    let s = self.tostr(a).unwrap();
                    self.stack[top - 2] = Value::String(s);
                } else {
                    // collect as many string-convertible values as possible
                    n = 1;
                    while n < total {
                        let v = self.stack[top - n - 1];
                        match self.tostr(v) {
                            Some(s) => {
                                self.stack[top - n - 1] = Value::String(s);
                                n += 1;
                            }
                            None => break,
                        }
                    }
                    let mut buf = Vec::new();
                    for i in (1..=n).rev() {
                        if let Value::String(s) = self.stack[top - i] {
                            buf.extend_from_slice(self.heap.str(s));
                        }
                    }
                    let s = self.heap.intern(&buf);
                    self.stack[top - n] = Value::String(s);
                }
            } else {
                let mut tm = self.gettm(a, Tm::Concat);
                if tm.is_nil() {
                    tm = self.gettm(b, Tm::Concat);
                }
                if tm.is_nil() {
                    // luaG_concaterror
                    let (bad, reg) = if a_ok { (b, top - 1) } else { (a, top - 2) };
                    return Err(self.type_error(bad, Some(reg), "concatenate"));
                }
                let r = self.call_meta(host, tm, &[a, b], 1)?;
                self.stack[top - 2] = r.first().copied().unwrap_or(Value::Nil);
            }
            total -= n - 1;
            last -= n - 1;
        }
        Ok(())
    }

    fn objlen(&mut self, host: &mut dyn Host, v: Value, reg: usize) -> Result<Value, LuaError> {
        match v {
            Value::Table(t) => Ok(Value::Number(self.heap.table(t).len() as f64)),
            Value::String(s) => Ok(Value::Number(self.heap.str(s).len() as f64)),
            _ => {
                let tm = self.gettm(v, Tm::Len);
                if tm.is_nil() {
                    return Err(self.type_error(v, Some(reg), "get length of"));
                }
                let r = self.call_meta(host, tm, &[v, Value::Nil], 1)?;
                Ok(r.first().copied().unwrap_or(Value::Nil))
            }
        }
    }

    // ------------------------------------------------------------ calls

    /// Call a metamethod (or any function) nested, from VM code.
    pub(crate) fn call_meta(
        &mut self,
        host: &mut dyn Host,
        f: Value,
        args: &[Value],
        _nres: i32,
    ) -> Result<Vec<Value>, LuaError> {
        // metamethods run above the current frame's registers
        if let Some(fr) = self.frames.last() {
            if self.top < fr.top {
                self.top = fr.top;
            }
        }
        self.call_nested(host, f, args, false)
    }

    /// Run `f(args)` to completion on top of the current stack (C-level call).
    /// `from_native` pushes a level marker so names and `error` levels see a C function.
    pub(crate) fn call_nested(
        &mut self,
        host: &mut dyn Host,
        f: Value,
        args: &[Value],
        from_native: bool,
    ) -> Result<Vec<Value>, LuaError> {
        self.c_calls += 1;
        // Lua 5.1 counts each coroutine level as a C level (lua_resume nests).
        let levels = self.c_calls + self.co_chain.len() as u32;
        if levels >= LUAI_MAXCCALLS {
            let e = if levels == LUAI_MAXCCALLS {
                self.rt_error(b"C stack overflow")
            } else {
                self.err_msg(b"error in error handling")
            };
            self.c_calls -= 1;
            return Err(e);
        }
        let saved_top = self.top;
        let depth0 = self.frames.len();
        if from_native {
            self.frames.push(Frame {
                kind: FrameKind::Native,
                func: saved_top,
                base: saved_top,
                top: saved_top,
                pc: 0,
                nresults: -1,
                tailcalls: 0,
                proto: None,
                cl: 0,
            });
        }
        let func = self.top;
        self.ensure_stack(func + args.len() + 1 + 20);
        self.stack[func] = f;
        self.stack[func + 1..func + 1 + args.len()].copy_from_slice(args);
        self.top = func + 1 + args.len();
        let entry = self.frames.len();
        let prev_native = self.native_running;
        self.native_running = false;
        let r = match self.precall(host, func, -1, 0) {
            Ok(Callee::Done | Callee::Switched(_)) => Ok(()),
            Ok(Callee::Lua) => match self.execute(host, entry) {
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let out = match r {
            Ok(()) => {
                let res = self.stack[func..self.top].to_vec();
                Ok(res)
            }
            Err(e) => {
                self.close_upvals(func);
                Err(e)
            }
        };
        self.frames.truncate(depth0);
        self.top = saved_top;
        self.c_calls -= 1;
        self.native_running = prev_native;
        out
    }

    /// Prepare a call of the value at stack[func] with args up to self.top.
    /// Lua functions get a frame; natives run now and their results are delivered.
    pub(crate) fn precall(
        &mut self,
        host: &mut dyn Host,
        func: usize,
        nresults: i32,
        tailcalls: u32,
    ) -> Result<Callee, LuaError> {
        let mut fv = self.stack[func];
        let fref = match fv {
            Value::Function(f) => f,
            _ => {
                // __call metamethod: insert it below the arguments
                let tm = self.gettm(fv, Tm::Call);
                if !matches!(tm, Value::Function(_)) {
                    return Err(self.type_error(fv, Some(func), "call"));
                }
                self.ensure_stack(self.top + 1);
                for i in (func..self.top).rev() {
                    self.stack[i + 1] = self.stack[i];
                }
                self.top += 1;
                self.stack[func] = tm;
                fv = tm;
                match fv {
                    Value::Function(f) => f,
                    _ => unreachable!(),
                }
            }
        };
        match self.heap.funcs.get(fref.0) {
            Func::Lua(cl) => {
                let proto = cl.proto.clone();
                // (each thread has its own LUAI_MAXCALLS levels)
                if self.frames.len() >= self.frames_limit {
                    return Err(self.rt_error(b"stack overflow"));
                }
                let nargs = self.top - func - 1;
                let numparams = proto.numparams as usize;
                let maxstack = proto.maxstacksize as usize;
                let base;
                if proto.is_vararg == 0 {
                    base = func + 1;
                    self.ensure_stack(base + maxstack + 1);
                    // nil-fill missing params and the rest of the frame
                    let from = (base + nargs).min(base + maxstack);
                    for v in &mut self.stack[from..base + maxstack] {
                        *v = Value::Nil;
                    }
                } else {
                    // adjust_varargs
                    self.ensure_stack(self.top + numparams + maxstack + 2);
                    let mut actual = nargs;
                    while actual < numparams {
                        self.stack[self.top] = Value::Nil;
                        self.top += 1;
                        actual += 1;
                    }
                    let mut htab = None;
                    if proto.is_vararg & VARARG_NEEDSARG != 0 {
                        let nvar = actual - numparams;
                        let t = self.heap.new_table(nvar, 1);
                        for i in 0..nvar {
                            let v = self.stack[self.top - nvar + i];
                            self.heap.table_mut(t).set_int(i as i64 + 1, v);
                        }
                        let n = self.heap.intern(b"n");
                        let _ = self
                            .heap
                            .table_mut(t)
                            .set(Value::String(n), Value::Number(nvar as f64));
                        htab = Some(t);
                    }
                    let fixed = self.top - actual;
                    base = self.top;
                    for i in 0..numparams {
                        self.stack[self.top] = self.stack[fixed + i];
                        self.stack[fixed + i] = Value::Nil;
                        self.top += 1;
                    }
                    if let Some(t) = htab {
                        self.stack[self.top] = Value::Table(t);
                        self.top += 1;
                    }
                    self.ensure_stack(base + maxstack + 1);
                    let from = self.top.min(base + maxstack);
                    for v in &mut self.stack[from..base + maxstack] {
                        *v = Value::Nil;
                    }
                }
                let top = base + maxstack;
                self.frames.push(Frame {
                    kind: FrameKind::Lua,
                    func,
                    base,
                    top,
                    pc: 0,
                    nresults,
                    tailcalls,
                    proto: Some(proto),
                    cl: fref.0,
                });
                self.top = top;
                Ok(Callee::Lua)
            }
            Func::Native(n) => {
                let special = n.special;
                match special {
                    crate::Special::Pcall | crate::Special::Xpcall | crate::Special::RedisPcall => {
                        return self.start_pcall(host, func, nresults, special)
                    }
                    crate::Special::CoResume => return self.co_resume(host, func, nresults, None),
                    crate::Special::CoWrap => {
                        let t = match n.upvals.first() {
                            Some(Value::Thread(t)) => t.0,
                            _ => return Err(self.err_msg(b"bad coroutine.wrap closure")),
                        };
                        return self.co_resume(host, func, nresults, Some(t));
                    }
                    crate::Special::CoYield => return self.co_yield(func, nresults),
                    crate::Special::None => {}
                }
                let f = n.f.clone();
                let nargs = self.top - func - 1;
                let prev = self.native_running;
                self.native_running = true;
                let results = {
                    let mut ctx = Ctx {
                        lua: self,
                        host,
                        base: func + 1,
                        nargs,
                        func: fref,
                    };
                    f(&mut ctx)
                };
                self.native_running = prev;
                let results = results?;
                self.deliver(func, &results, nresults);
                Ok(Callee::Done)
            }
        }
    }

    /// Place `results` at stack[func..] adjusted to `nresults` (-1 = all; sets top).
    pub(crate) fn deliver(&mut self, func: usize, results: &[Value], nresults: i32) {
        let n = results.len();
        if nresults < 0 {
            self.ensure_stack(func + n + 1);
            self.stack[func..func + n].copy_from_slice(results);
            self.top = func + n;
        } else {
            let want = nresults as usize;
            self.ensure_stack(func + want + 1);
            for i in 0..want {
                self.stack[func + i] = if i < n { results[i] } else { Value::Nil };
            }
            self.top = func + want;
        }
    }

    /// Move `n` results starting at stack[src] to stack[func..] adjusted to `nresults`.
    fn move_results(&mut self, func: usize, src: usize, n: usize, nresults: i32) {
        if nresults < 0 {
            for i in 0..n {
                self.stack[func + i] = self.stack[src + i];
            }
            self.top = func + n;
        } else {
            let want = nresults as usize;
            self.ensure_stack(func + want + 1);
            for i in 0..want {
                self.stack[func + i] = if i < n {
                    self.stack[src + i]
                } else {
                    Value::Nil
                };
            }
            self.top = func + want;
        }
    }

    fn start_pcall(
        &mut self,
        host: &mut dyn Host,
        func: usize,
        nresults: i32,
        special: crate::Special,
    ) -> Result<Callee, LuaError> {
        let xpcall = special == crate::Special::Xpcall;
        let redis = special == crate::Special::RedisPcall;
        let nargs = self.top - func - 1;
        if nargs == 0 {
            return Err(self.arg_error_at(func, 1, b"value expected"));
        }
        let callee;
        if xpcall {
            // xpcall(f, h): keep h at func+1, call f at func+2 with no arguments
            let f = self.stack[func + 1];
            let h = if nargs >= 2 {
                self.stack[func + 2]
            } else {
                Value::Nil
            };
            self.ensure_stack(func + 4);
            self.stack[func + 1] = h;
            self.stack[func + 2] = f;
            self.top = func + 3;
            callee = func + 2;
        } else {
            callee = func + 1;
        }
        self.frames.push(Frame {
            kind: FrameKind::Pcall { xpcall, redis },
            func,
            base: func,
            top: self.top,
            pc: 0,
            nresults,
            tailcalls: 0,
            proto: None,
            cl: 0,
        });
        let marker = self.frames.len() - 1;
        match self.precall(host, callee, -1, 0) {
            Ok(Callee::Lua) => Ok(Callee::Lua),
            Ok(Callee::Done | Callee::Switched(_)) => {
                // native target finished: complete the pcall now
                let n = self.top - callee;
                self.frames.truncate(marker);
                self.finish_pcall_ok(func, callee, n, nresults);
                Ok(Callee::Done)
            }
            Err(e) => {
                if e.kind == ErrorKind::Killed {
                    return Err(e);
                }
                self.frames.truncate(marker + 1);
                self.close_upvals(func + 1);
                self.finish_pcall_err(host, marker, e);
                Ok(Callee::Done)
            }
        }
    }

    fn finish_pcall_ok(&mut self, func: usize, src: usize, n: usize, nresults: i32) {
        self.ensure_stack(src + n + 2);
        // results become (true, ...)
        for i in (0..n).rev() {
            self.stack[func + 1 + i] = self.stack[src + i];
        }
        self.stack[func] = Value::Boolean(true);
        self.move_results(func, func, n + 1, nresults);
    }

    /// Error caught by the pcall marker at `marker` (frames above it already dropped).
    fn finish_pcall_err(&mut self, host: &mut dyn Host, marker: usize, e: LuaError) {
        let fr = self.frames[marker].clone();
        self.frames.truncate(marker);
        let mut errv = e.value;
        if let FrameKind::Pcall { redis: true, .. } = fr.kind {
            if let Value::Table(t) = errv {
                let k = self.heap.intern(b"err");
                if let v @ Value::String(_) = self.heap.table(t).get(Value::String(k)) {
                    errv = v;
                }
            }
        }
        if let FrameKind::Pcall { xpcall: true, .. } = fr.kind {
            let h = self.stack[fr.func + 1];
            self.top = fr.func + 2;
            errv = match self.call_nested(host, h, &[errv], false) {
                Ok(r) => r.first().copied().unwrap_or(Value::Nil),
                Err(e2) if e2.kind == ErrorKind::Killed => {
                    // cannot propagate from here; remember it
                    self.pending_kill = Some(e2);
                    Value::Nil
                }
                Err(_) => {
                    let s = self.heap.intern(b"error in error handling");
                    Value::String(s)
                }
            };
        }
        self.ensure_stack(fr.func + 3);
        self.stack[fr.func] = Value::Boolean(false);
        self.stack[fr.func + 1] = errv;
        self.move_results(fr.func, fr.func, 2, fr.nresults);
    }

    /// After a call initiated by a Lua frame's instruction completes: restore top and
    /// finish a pending TFORLOOP.
    pub(crate) fn after_call_in_lua(&mut self) {
        let fi = self.frames.len() - 1;
        let fr = &self.frames[fi];
        if !matches!(fr.kind, FrameKind::Lua) {
            return;
        }
        let proto = fr.proto.as_ref().unwrap();
        let i = proto.code[fr.pc - 1];
        match get_op(i) {
            Op::TForLoop => {
                let base = fr.base;
                let top = fr.top;
                let ra = base + arg_a(i) as usize;
                let cb = ra + 3;
                let next = proto.code[fr.pc];
                let mut pc = fr.pc;
                if !self.stack[cb].is_nil() {
                    self.stack[cb - 1] = self.stack[cb];
                    pc = (pc as i64 + 1 + arg_sbx(next) as i64) as usize;
                } else {
                    pc += 1;
                }
                self.frames[fi].pc = pc;
                self.top = top;
            }
            Op::Call => {
                if arg_c(i) != 0 {
                    self.top = fr.top;
                }
            }
            _ => {}
        }
    }

    /// Unwind after an error: find a pcall marker above `entry` (or the
    /// bottom of a coroutine, which dies and hands the error to its resumer);
    /// Ok if caught, with true when the run ends there.
    fn handle_error(
        &mut self,
        host: &mut dyn Host,
        mut e: LuaError,
        entry: usize,
    ) -> Result<bool, LuaError> {
        if e.kind == ErrorKind::Killed {
            return Err(e);
        }
        self.error_at = self.innermost_position();
        let mut i = self.frames.len();
        while i > entry {
            i -= 1;
            match self.frames[i].kind {
                FrameKind::Pcall { .. } => {
                    let func = self.frames[i].func;
                    self.close_upvals(func + 1);
                    self.frames.truncate(i + 1);
                    self.finish_pcall_err(host, i, e);
                    if let Some(k) = self.pending_kill.take() {
                        return Err(k);
                    }
                    return Ok(self.post_return(func, entry));
                }
                FrameKind::CoResume => match self.co_error(e) {
                    // resume answers false and the error
                    Ok(func) => return Ok(self.post_return(func, entry)),
                    // wrap raises it again in the resumer
                    Err(e2) => {
                        e = e2;
                        self.error_at = self.innermost_position();
                        i = self.frames.len();
                    }
                },
                _ => {}
            }
        }
        Err(e)
    }

    /// A call finished with its results at stack[func..top] (its own frame,
    /// if any, already popped): complete what waits below it — pcall
    /// markers, a coroutine whose body returned (its resumer continues), or
    /// the calling Lua frame. True when the run ends here (back at `entry`
    /// or at a native's marker).
    pub(crate) fn post_return(&mut self, mut func: usize, entry: usize) -> bool {
        loop {
            if self.frames.len() <= entry {
                return true;
            }
            let li = self.frames.len() - 1;
            match self.frames[li].kind {
                FrameKind::Lua => {
                    self.after_call_in_lua();
                    return false;
                }
                FrameKind::Pcall { .. } => {
                    let m = self.frames.pop().unwrap();
                    let nres = self.top - func;
                    self.finish_pcall_ok(m.func, func, nres, m.nresults);
                    func = m.func;
                }
                FrameKind::CoResume => func = self.co_finish(func),
                FrameKind::Native => return true,
            }
        }
    }

    // ------------------------------------------------------------ the interpreter loop

    /// Run until the frame stack drops back to `entry` frames (or the budget is spent
    /// in a yieldable run).
    pub(crate) fn execute(&mut self, host: &mut dyn Host, entry: usize) -> Result<Exec, LuaError> {
        loop {
            match self.run(host, entry) {
                Ok(x) => return Ok(x),
                Err(e) => {
                    if self.handle_error(host, e, entry)? {
                        return Ok(Exec::Finished);
                    }
                }
            }
            if self.frames.len() <= entry {
                return Ok(Exec::Finished);
            }
        }
    }

    fn budget_spent(&mut self, entry: usize) -> Result<bool, LuaError> {
        if entry == 0 && self.c_calls == 0 {
            return Ok(true);
        }
        // nested run: cannot yield; ask the host's interrupt hook
        if let Some(hook) = self.interrupt.as_mut() {
            if hook() {
                let v = self
                    .heap
                    .intern(b"Script killed by user with SCRIPT KILL...");
                return Err(LuaError {
                    kind: ErrorKind::Killed,
                    value: Value::String(v),
                });
            }
        }
        self.budget = NESTED_QUANTUM;
        self.budget_overrun = true;
        Ok(false)
    }

    fn run(&mut self, host: &mut dyn Host, entry: usize) -> Result<Exec, LuaError> {
        'newframe: loop {
            let fi = self.frames.len() - 1;
            let proto = self.frames[fi].proto.clone().expect("lua frame");
            let cl = self.frames[fi].cl;
            let base = self.frames[fi].base;
            let mut pc = self.frames[fi].pc;
            let code: &[Instr] = &proto.code;
            let k: &[Value] = &proto.k;
            macro_rules! rk {
                ($x:expr) => {{
                    let x = $x;
                    if is_k(x) {
                        k[(x & !BITRK) as usize]
                    } else {
                        self.stack[base + x as usize]
                    }
                }};
            }
            macro_rules! rkreg {
                ($x:expr) => {{
                    let x = $x;
                    if is_k(x) {
                        None
                    } else {
                        Some(base + x as usize)
                    }
                }};
            }
            macro_rules! save {
                () => {
                    self.frames[fi].pc = pc;
                };
            }
            loop {
                if self.budget == 0 {
                    save!();
                    if self.budget_spent(entry)? {
                        // re-execute nothing: pc points at the next instruction
                        return Ok(Exec::Yielded);
                    }
                }
                self.budget -= 1;
                let i = code[pc];
                pc += 1;
                let a = arg_a(i) as usize;
                let ra = base + a;
                match get_op(i) {
                    Op::Move => {
                        self.stack[ra] = self.stack[base + arg_b(i) as usize];
                    }
                    Op::LoadK => {
                        self.stack[ra] = k[arg_bx(i) as usize];
                    }
                    Op::LoadBool => {
                        self.stack[ra] = Value::Boolean(arg_b(i) != 0);
                        if arg_c(i) != 0 {
                            pc += 1;
                        }
                    }
                    Op::LoadNil => {
                        let rb = base + arg_b(i) as usize;
                        for v in &mut self.stack[ra..=rb] {
                            *v = Value::Nil;
                        }
                    }
                    Op::GetUpval => {
                        let u = match self.heap.funcs.get(cl) {
                            Func::Lua(c) => c.upvals[arg_b(i) as usize],
                            _ => unreachable!(),
                        };
                        self.stack[ra] = self.get_upval(u);
                    }
                    Op::GetGlobal => {
                        let key = k[arg_bx(i) as usize];
                        let g = self.globals;
                        let v = self.heap.table(g).get(key);
                        if !v.is_nil() || self.heap.table(g).meta.is_none() {
                            self.stack[ra] = v;
                        } else {
                            save!();
                            let v = self.index(host, Value::Table(g), key, None)?;
                            self.stack[ra] = v;
                        }
                    }
                    Op::GetTable => {
                        let rb = base + arg_b(i) as usize;
                        let t = self.stack[rb];
                        let key = rk!(arg_c(i));
                        if let Value::Table(h) = t {
                            let v = self.heap.table(h).get(key);
                            if !v.is_nil() || self.heap.table(h).meta.is_none() {
                                self.stack[ra] = v;
                                continue;
                            }
                        }
                        save!();
                        let v = self.index(host, t, key, Some(rb))?;
                        self.stack[ra] = v;
                    }
                    Op::SetGlobal => {
                        let key = k[arg_bx(i) as usize];
                        let g = self.globals;
                        let v = self.stack[ra];
                        save!();
                        self.set_index(host, Value::Table(g), key, v, None)?;
                    }
                    Op::SetUpval => {
                        let u = match self.heap.funcs.get(cl) {
                            Func::Lua(c) => c.upvals[arg_b(i) as usize],
                            _ => unreachable!(),
                        };
                        let v = self.stack[ra];
                        self.set_upval(u, v);
                    }
                    Op::SetTable => {
                        let t = self.stack[ra];
                        let key = rk!(arg_b(i));
                        let v = rk!(arg_c(i));
                        if let Value::Table(h) = t {
                            let tab = self.heap.table_mut(h);
                            if tab.meta.is_none() && !tab.readonly {
                                if let Err(m) = tab.set(key, v) {
                                    save!();
                                    return Err(self.rt_error(m.as_bytes()));
                                }
                                continue;
                            }
                        }
                        save!();
                        self.set_index(host, t, key, v, Some(ra))?;
                    }
                    Op::NewTable => {
                        let t = self.heap.new_table(
                            crate::compiler::fb2int(arg_b(i)),
                            crate::compiler::fb2int(arg_c(i)),
                        );
                        self.stack[ra] = Value::Table(t);
                        if self.heap.should_collect() && self.c_calls == 0 {
                            save!();
                            self.top = self.frames[fi].top;
                            self.collect_garbage();
                        }
                    }
                    Op::OpSelf => {
                        let rb = base + arg_b(i) as usize;
                        let t = self.stack[rb];
                        let key = rk!(arg_c(i));
                        self.stack[ra + 1] = t;
                        if let Value::Table(h) = t {
                            let v = self.heap.table(h).get(key);
                            if !v.is_nil() || self.heap.table(h).meta.is_none() {
                                self.stack[ra] = v;
                                continue;
                            }
                        }
                        save!();
                        let v = self.index(host, t, key, Some(rb))?;
                        self.stack[ra] = v;
                    }
                    op @ (Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod | Op::Pow) => {
                        let b = arg_b(i);
                        let c = arg_c(i);
                        let vb = rk!(b);
                        let vc = rk!(c);
                        if let (Value::Number(x), Value::Number(y)) = (vb, vc) {
                            self.stack[ra] = Value::Number(arith_op(op, x, y));
                        } else {
                            save!();
                            let v = self.arith_slow(host, op, vb, vc, rkreg!(b), rkreg!(c))?;
                            self.stack[ra] = v;
                        }
                    }
                    Op::Unm => {
                        let rb = base + arg_b(i) as usize;
                        let vb = self.stack[rb];
                        if let Value::Number(x) = vb {
                            self.stack[ra] = Value::Number(-x);
                        } else {
                            save!();
                            let v = self.arith_slow(host, Op::Unm, vb, vb, Some(rb), Some(rb))?;
                            self.stack[ra] = v;
                        }
                    }
                    Op::Not => {
                        let v = self.stack[base + arg_b(i) as usize];
                        self.stack[ra] = Value::Boolean(!v.truthy());
                    }
                    Op::Len => {
                        let rb = base + arg_b(i) as usize;
                        let v = self.stack[rb];
                        save!();
                        let r = self.objlen(host, v, rb)?;
                        self.stack[ra] = r;
                    }
                    Op::Concat => {
                        let b = arg_b(i) as usize;
                        let c = arg_c(i) as usize;
                        save!();
                        self.concat(host, base + b, base + c)?;
                        self.stack[ra] = self.stack[base + b];
                        if self.heap.should_collect() && self.c_calls == 0 {
                            self.top = self.frames[fi].top;
                            self.collect_garbage();
                        }
                    }
                    Op::Jmp => {
                        pc = (pc as i64 + arg_sbx(i) as i64) as usize;
                    }
                    Op::Eq => {
                        let vb = rk!(arg_b(i));
                        let vc = rk!(arg_c(i));
                        let eq = if vb == vc {
                            true
                        } else if let (Value::Table(_), Value::Table(_)) = (vb, vc) {
                            save!();
                            self.equal(host, vb, vc)?
                        } else {
                            false
                        };
                        if eq == (a != 0) {
                            let j = code[pc];
                            pc = (pc as i64 + 1 + arg_sbx(j) as i64) as usize;
                        } else {
                            pc += 1;
                        }
                    }
                    Op::Lt | Op::Le => {
                        let vb = rk!(arg_b(i));
                        let vc = rk!(arg_c(i));
                        let r = match (vb, vc) {
                            (Value::Number(x), Value::Number(y)) => {
                                if get_op(i) == Op::Lt {
                                    x < y
                                } else {
                                    x <= y
                                }
                            }
                            _ => {
                                save!();
                                if get_op(i) == Op::Lt {
                                    self.less_than(host, vb, vc)?
                                } else {
                                    self.less_equal(host, vb, vc)?
                                }
                            }
                        };
                        if r == (a != 0) {
                            let j = code[pc];
                            pc = (pc as i64 + 1 + arg_sbx(j) as i64) as usize;
                        } else {
                            pc += 1;
                        }
                    }
                    Op::Test => {
                        if self.stack[ra].truthy() == (arg_c(i) != 0) {
                            let j = code[pc];
                            pc = (pc as i64 + 1 + arg_sbx(j) as i64) as usize;
                        } else {
                            pc += 1;
                        }
                    }
                    Op::TestSet => {
                        let vb = self.stack[base + arg_b(i) as usize];
                        if vb.truthy() == (arg_c(i) != 0) {
                            self.stack[ra] = vb;
                            let j = code[pc];
                            pc = (pc as i64 + 1 + arg_sbx(j) as i64) as usize;
                        } else {
                            pc += 1;
                        }
                    }
                    Op::Call | Op::TailCall => {
                        let b = arg_b(i);
                        if b != 0 {
                            self.top = ra + b as usize;
                        }
                        let is_tail = get_op(i) == Op::TailCall;
                        let nresults = if is_tail { -1 } else { arg_c(i) - 1 };
                        save!();
                        if is_tail {
                            if let Value::Function(f) = self.stack[ra] {
                                if let Func::Lua(_) = self.heap.funcs.get(f.0) {
                                    // proper tail call: reuse this frame's slot
                                    let func = self.frames[fi].func;
                                    self.close_upvals(base);
                                    let n = self.top - ra;
                                    for j in 0..n {
                                        self.stack[func + j] = self.stack[ra + j];
                                    }
                                    self.top = func + n;
                                    let fr = self.frames.pop().unwrap();
                                    let tc = fr.tailcalls + 1;
                                    match self.precall(host, func, fr.nresults, tc) {
                                        Ok(_) => continue 'newframe,
                                        Err(e) => {
                                            self.frames.push(fr);
                                            return Err(e);
                                        }
                                    }
                                }
                            }
                        }
                        if self.heap.should_collect() && self.c_calls == 0 {
                            self.collect_garbage();
                        }
                        match self.precall(host, ra, nresults, 0)? {
                            Callee::Lua => continue 'newframe,
                            Callee::Done => {
                                if self.frames.len() - 1 != fi {
                                    // a pcall completed with a Lua error handler etc.
                                    continue 'newframe;
                                }
                                if nresults >= 0 {
                                    self.top = self.frames[fi].top;
                                }
                            }
                            Callee::Switched(func) => {
                                if self.post_return(func, entry) {
                                    return Ok(Exec::Finished);
                                }
                                continue 'newframe;
                            }
                        }
                    }
                    Op::Return => {
                        let b = arg_b(i);
                        let n = if b != 0 {
                            b as usize - 1
                        } else {
                            self.top - ra
                        };
                        self.close_upvals(base);
                        let fr = self.frames.pop().unwrap();
                        self.move_results(fr.func, ra, n, fr.nresults);
                        // the common case: back into the calling Lua function
                        if self.frames.len() > entry {
                            if let FrameKind::Lua = self.frames.last().unwrap().kind {
                                self.after_call_in_lua();
                                continue 'newframe;
                            }
                        }
                        // pcall markers, a finished coroutine, the run's end
                        // (or a Native marker: the nested run ends here)
                        if self.post_return(fr.func, entry) {
                            return Ok(Exec::Finished);
                        }
                        continue 'newframe;
                    }
                    Op::ForLoop => {
                        if let (Value::Number(idx), Value::Number(limit), Value::Number(step)) =
                            (self.stack[ra], self.stack[ra + 1], self.stack[ra + 2])
                        {
                            let idx = idx + step;
                            if if step > 0.0 {
                                idx <= limit
                            } else {
                                limit <= idx
                            } {
                                pc = (pc as i64 + arg_sbx(i) as i64) as usize;
                                self.stack[ra] = Value::Number(idx);
                                self.stack[ra + 3] = Value::Number(idx);
                            }
                        }
                    }
                    Op::ForPrep => {
                        save!();
                        let init = self.tonumber(self.stack[ra]);
                        let limit = self.tonumber(self.stack[ra + 1]);
                        let step = self.tonumber(self.stack[ra + 2]);
                        let init = match init {
                            Some(x) => x,
                            None => {
                                return Err(self.rt_error(b"'for' initial value must be a number"))
                            }
                        };
                        let limit = match limit {
                            Some(x) => x,
                            None => return Err(self.rt_error(b"'for' limit must be a number")),
                        };
                        let step = match step {
                            Some(x) => x,
                            None => return Err(self.rt_error(b"'for' step must be a number")),
                        };
                        self.stack[ra] = Value::Number(init - step);
                        self.stack[ra + 1] = Value::Number(limit);
                        self.stack[ra + 2] = Value::Number(step);
                        pc = (pc as i64 + arg_sbx(i) as i64) as usize;
                    }
                    Op::TForLoop => {
                        let cb = ra + 3;
                        self.stack[cb + 2] = self.stack[ra + 2];
                        self.stack[cb + 1] = self.stack[ra + 1];
                        self.stack[cb] = self.stack[ra];
                        self.top = cb + 3;
                        save!();
                        match self.precall(host, cb, arg_c(i), 0)? {
                            Callee::Lua => continue 'newframe,
                            Callee::Done => {
                                if self.frames.len() - 1 != fi {
                                    continue 'newframe;
                                }
                                self.after_call_in_lua();
                                continue 'newframe;
                            }
                            Callee::Switched(func) => {
                                if self.post_return(func, entry) {
                                    return Ok(Exec::Finished);
                                }
                                continue 'newframe;
                            }
                        }
                    }
                    Op::SetList => {
                        let mut n = arg_b(i) as usize;
                        let mut c = arg_c(i) as usize;
                        if n == 0 {
                            n = self.top - ra - 1;
                        }
                        if c == 0 {
                            c = code[pc] as usize;
                            pc += 1;
                        }
                        if let Value::Table(h) = self.stack[ra] {
                            let last = (c - 1) * LFIELDS_PER_FLUSH as usize + n;
                            let tab = self.heap.table_mut(h);
                            if last > tab.array.len() {
                                let nh = tab.node.len();
                                tab.resize(last, nh);
                            }
                            for j in (1..=n).rev() {
                                let v = self.stack[ra + j];
                                self.heap.table_mut(h).set_int((last - n + j) as i64, v);
                            }
                        }
                        self.top = self.frames[fi].top;
                    }
                    Op::Close => {
                        self.close_upvals(ra);
                    }
                    Op::Closure => {
                        let p = proto.p[arg_bx(i) as usize].clone();
                        let nup = p.nups as usize;
                        let mut ups = Vec::with_capacity(nup);
                        for _ in 0..nup {
                            let pi = code[pc];
                            pc += 1;
                            if get_op(pi) == Op::GetUpval {
                                let u = match self.heap.funcs.get(cl) {
                                    Func::Lua(c) => c.upvals[arg_b(pi) as usize],
                                    _ => unreachable!(),
                                };
                                ups.push(u);
                            } else {
                                let u = self.find_upval(base + arg_b(pi) as usize);
                                ups.push(u);
                            }
                        }
                        let f = self.heap.new_func(Func::Lua(LuaClosure {
                            proto: p,
                            upvals: ups,
                        }));
                        self.stack[ra] = Value::Function(f);
                        if self.heap.should_collect() && self.c_calls == 0 {
                            save!();
                            self.top = self.frames[fi].top;
                            self.collect_garbage();
                        }
                    }
                    Op::VarArg => {
                        let func = self.frames[fi].func;
                        let nvar = base - func - 1 - proto.numparams as usize;
                        let src = base - nvar;
                        let b = arg_b(i) - 1;
                        if b < 0 {
                            self.ensure_stack(ra + nvar + 1);
                            for j in 0..nvar {
                                self.stack[ra + j] = self.stack[src + j];
                            }
                            self.top = ra + nvar;
                        } else {
                            for j in 0..b as usize {
                                self.stack[ra + j] = if j < nvar {
                                    self.stack[src + j]
                                } else {
                                    Value::Nil
                                };
                            }
                        }
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------ GC

    pub(crate) fn collect_garbage(&mut self) {
        let h = &mut self.heap;
        h.mark_value(Value::Table(self.globals));
        h.mark_value(Value::Table(self.registry));
        if let Some(m) = self.string_meta {
            h.mark_value(Value::Table(m));
        }
        for &s in &self.tm_names {
            h.mark_value(Value::String(s));
        }
        for v in &self.stack {
            h.mark_value(*v);
        }
        for v in &self.pins {
            h.mark_value(*v);
        }
        for v in &self.call_roots {
            h.mark_value(*v);
        }
        for f in &self.frames {
            if matches!(f.kind, FrameKind::Lua) {
                h.mark_value(Value::Function(FnRef(f.cl)));
            }
        }
        for &(_, u) in &self.open_upvals {
            h.mark_upval(u);
        }
        // the main thread's stack while a coroutine runs, and every thread
        // of the resume chain (the running one's stack is `self.stack`)
        for v in &self.main_saved.stack {
            h.mark_value(*v);
        }
        for &(_, u) in &self.main_saved.open_upvals {
            h.mark_upval(u);
        }
        for link in &self.co_chain {
            h.mark_value(Value::Thread(crate::value::ThreadRef(link.co)));
        }
        h.propagate();
        h.sweep();
    }

    /// `luaL_error`: message prefixed with the position of the native's caller.
    pub(crate) fn native_error(&mut self, msg: &[u8]) -> LuaError {
        let mut m = self.where_(1);
        m.extend_from_slice(msg);
        self.err_msg(&m)
    }

    /// `luaL_argerror` for a native whose function slot is at `func`.
    pub(crate) fn arg_error_at(&mut self, _func: usize, narg: usize, extramsg: &[u8]) -> LuaError {
        let (namewhat, name) = self.current_native_name();
        let mut narg = narg as i64;
        if namewhat == "method" {
            narg -= 1;
            if narg == 0 {
                let mut m = b"calling '".to_vec();
                m.extend_from_slice(&name);
                m.extend_from_slice(b"' on bad self (");
                m.extend_from_slice(extramsg);
                m.push(b')');
                return self.native_error(&m);
            }
        }
        let mut m = format!("bad argument #{} to '", narg).into_bytes();
        m.extend_from_slice(&name);
        m.extend_from_slice(b"' (");
        m.extend_from_slice(extramsg);
        m.push(b')');
        self.native_error(&m)
    }

    /// `getfuncname` for the native running on top of the frame stack.
    pub(crate) fn current_native_name(&self) -> (&'static str, Vec<u8>) {
        if let Some(f) = self.frames.last() {
            if let FrameKind::Lua = f.kind {
                let proto = f.proto.as_ref().unwrap();
                let pc = f.pc as i32 - 1;
                if pc >= 0 {
                    let i = proto.code[pc as usize];
                    if matches!(get_op(i), Op::Call | Op::TailCall | Op::TForLoop) {
                        if let Some((kind, name)) =
                            crate::debug::getobjname(&self.heap, proto, pc, arg_a(i))
                        {
                            return (kind, name);
                        }
                    }
                }
            }
        }
        ("", b"?".to_vec())
    }

    /// The innermost running Lua function's source name and current line.
    pub(crate) fn innermost_position(&self) -> Option<(Vec<u8>, u32)> {
        self.frames.iter().rev().find_map(|f| match f.kind {
            FrameKind::Lua => {
                let proto = f.proto.as_ref()?;
                let line = proto.lineinfo.get(f.pc.saturating_sub(1)).copied()?;
                Some((proto.source.as_ref().clone(), line))
            }
            _ => None,
        })
    }

    /// `luaL_where(L, level)`: "chunk:line: " for the given level, or empty.
    pub(crate) fn where_(&self, level: usize) -> Vec<u8> {
        // Mirrors lua_getstack: position `len` is the running native (level 0);
        // the levels end at the running thread's first frame.
        let n = self.frames.len() as i64;
        let lo = self.co_base as i64;
        let mut level = level as i64;
        let mut ci = n;
        while level > 0 && ci >= lo {
            level -= 1;
            if ci < n {
                let f = &self.frames[ci as usize];
                if let FrameKind::Lua = f.kind {
                    level -= f.tailcalls as i64;
                }
            }
            ci -= 1;
        }
        if level == 0 && ci >= lo && ci < n {
            let f = &self.frames[ci as usize];
            if let FrameKind::Lua = f.kind {
                let proto = f.proto.as_ref().unwrap();
                let pc = f.pc.saturating_sub(1);
                let line = proto.lineinfo.get(pc).copied().unwrap_or(0);
                let mut m = crate::lexer::chunkid(&proto.source, 60);
                m.extend_from_slice(format!(":{}: ", line).as_bytes());
                return m;
            }
        }
        Vec::new()
    }
}
