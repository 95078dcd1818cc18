//! The object heap and garbage collector: typed arenas addressed by handles, the
//! string intern table (with Redis' `luaS_hash`), closures and upvalues, and a
//! mark-and-sweep collector driven by allocation debt.

use crate::bytecode::Proto;
use crate::table::Table;
use crate::value::{FnRef, StrRef, TableRef, ThreadRef, Value};
use crate::vm::Frame;
use crate::NativeFn;
use std::rc::Rc;

pub(crate) struct Arena<T> {
    slots: Vec<Option<T>>,
    marks: Vec<bool>,
    free: Vec<u32>,
}

impl<T> Arena<T> {
    fn new() -> Self {
        Arena {
            slots: Vec::new(),
            marks: Vec::new(),
            free: Vec::new(),
        }
    }
    fn alloc(&mut self, v: T) -> u32 {
        if let Some(i) = self.free.pop() {
            self.slots[i as usize] = Some(v);
            i
        } else {
            self.slots.push(Some(v));
            self.marks.push(false);
            (self.slots.len() - 1) as u32
        }
    }
    #[inline(always)]
    pub(crate) fn get(&self, i: u32) -> &T {
        match &self.slots[i as usize] {
            Some(v) => v,
            None => panic!("dangling heap handle"),
        }
    }
    #[inline(always)]
    pub(crate) fn get_mut(&mut self, i: u32) -> &mut T {
        match &mut self.slots[i as usize] {
            Some(v) => v,
            None => panic!("dangling heap handle"),
        }
    }
    /// Mark slot `i`; returns true if it was not marked before.
    #[inline]
    fn mark(&mut self, i: u32) -> bool {
        let m = &mut self.marks[i as usize];
        if *m {
            false
        } else {
            *m = true;
            true
        }
    }
    fn sweep(&mut self, mut size: impl FnMut(&T) -> usize) -> usize {
        let mut live = 0;
        for i in 0..self.slots.len() {
            if self.marks[i] {
                self.marks[i] = false;
                if let Some(v) = &self.slots[i] {
                    live += size(v);
                }
            } else if self.slots[i].is_some() {
                self.slots[i] = None;
                self.free.push(i as u32);
            }
        }
        live
    }
    pub(crate) fn live_count(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

pub(crate) struct LStr {
    pub(crate) bytes: Box<[u8]>,
    hash: u32,
}

/// An upvalue. `Open` points into the running thread's stack (`Lua::stack`);
/// when that thread is switched out its open upvalues are retagged `OpenIn`
/// (thread id, slot) and retagged back when it runs again, so the common
/// case stays one indexed load. `MAIN_THREAD` names the main thread.
#[derive(Clone, Copy, Debug)]
pub(crate) enum UpVal {
    Open(usize),
    Closed(Value),
    OpenIn(u32, usize),
}

/// The id `UpVal::OpenIn` and `Lua::cur_thread` use for the main thread
/// (coroutines use their arena index).
pub(crate) const MAIN_THREAD: u32 = u32::MAX;

/// What `coroutine.status` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CoStatus {
    /// Created and never run, or stopped in `coroutine.yield`.
    Suspended,
    /// The thread now executing.
    Running,
    /// It resumed another coroutine and waits for it.
    Normal,
    /// Returned or failed.
    Dead,
}

/// A coroutine. While it is the running thread its stack and open upvalues
/// live in `Lua::stack`/`Lua::open_upvals` and its frames on top of
/// `Lua::frames` (above a `FrameKind::CoResume` marker); otherwise they are
/// kept here.
pub(crate) struct Thread {
    pub(crate) status: CoStatus,
    /// False until the first resume calls the body (which is `stack[0]`).
    pub(crate) started: bool,
    pub(crate) stack: Vec<Value>,
    pub(crate) top: usize,
    /// Sorted by stack slot, like `Lua::open_upvals`.
    pub(crate) open_upvals: Vec<(usize, u32)>,
    /// The frames of a coroutine stopped in `yield`.
    pub(crate) frames: Vec<Frame>,
    /// Where the next resume's values go (the `yield` call's slot) and how
    /// many the yielding call wants.
    pub(crate) resume_to: usize,
    pub(crate) resume_nresults: i32,
}

/// Initial slots of a coroutine's stack (it grows like the main one).
const THREAD_STACK: usize = 48;

impl Thread {
    fn bytes(&self) -> usize {
        128 + self.stack.len() * 16 + self.frames.len() * 80 + self.open_upvals.len() * 16
    }
}

pub(crate) struct LuaClosure {
    pub(crate) proto: Rc<Proto>,
    pub(crate) upvals: Vec<u32>,
}

pub(crate) struct NativeClosure {
    pub(crate) f: NativeFn,
    pub(crate) upvals: Vec<Value>,
    pub(crate) special: crate::Special,
}

pub(crate) enum Func {
    Lua(LuaClosure),
    Native(NativeClosure),
}

/// Redis' `luaS_hash` (Lua 5.1 with every byte hashed).
pub fn str_hash(s: &[u8]) -> u32 {
    let mut h = s.len() as u32;
    for &c in s.iter().rev() {
        h ^= (h << 5).wrapping_add(h >> 2).wrapping_add(c as u32);
    }
    h
}

pub struct Heap {
    pub(crate) strings: Arena<LStr>,
    buckets: Vec<Vec<u32>>,
    pub(crate) tables: Arena<Table>,
    pub(crate) funcs: Arena<Func>,
    pub(crate) upvals: Arena<UpVal>,
    pub(crate) threads: Arena<Thread>,
    gray: Vec<Value>,
    epoch: u32,
    /// Bytes allocated since the last collection (estimate).
    pub(crate) debt: usize,
    /// Live bytes found by the last collection.
    pub(crate) live: usize,
    pub(crate) threshold: usize,
}

const MIN_THRESHOLD: usize = 1 << 20;

impl Heap {
    pub(crate) fn new() -> Self {
        Heap {
            strings: Arena::new(),
            buckets: vec![Vec::new(); 256],
            tables: Arena::new(),
            funcs: Arena::new(),
            upvals: Arena::new(),
            threads: Arena::new(),
            gray: Vec::new(),
            epoch: 1,
            debt: 0,
            live: 0,
            threshold: MIN_THRESHOLD,
        }
    }

    /// Intern a byte string.
    pub(crate) fn intern(&mut self, s: &[u8]) -> StrRef {
        let h = str_hash(s);
        let mask = self.buckets.len() - 1;
        for &i in &self.buckets[h as usize & mask] {
            let ls = self.strings.get(i);
            if ls.hash == h && &*ls.bytes == s {
                return StrRef(i, h);
            }
        }
        self.debt += s.len() + 40;
        let i = self.strings.alloc(LStr {
            bytes: s.into(),
            hash: h,
        });
        self.buckets[h as usize & mask].push(i);
        if self.strings.live_count() > self.buckets.len() * 2 {
            self.grow_buckets();
        }
        StrRef(i, h)
    }

    fn grow_buckets(&mut self) {
        let n = self.buckets.len() * 2;
        let mut nb = vec![Vec::new(); n];
        for b in self.buckets.drain(..) {
            for i in b {
                let h = self.strings.get(i).hash;
                nb[h as usize & (n - 1)].push(i);
            }
        }
        self.buckets = nb;
    }

    #[inline(always)]
    pub(crate) fn str(&self, s: StrRef) -> &[u8] {
        &self.strings.get(s.0).bytes
    }
    #[inline(always)]
    pub(crate) fn table(&self, t: TableRef) -> &Table {
        self.tables.get(t.0)
    }
    #[inline(always)]
    pub(crate) fn table_mut(&mut self, t: TableRef) -> &mut Table {
        self.tables.get_mut(t.0)
    }
    pub(crate) fn new_table(&mut self, narr: usize, nhash: usize) -> TableRef {
        self.debt += 64 + narr * 16 + nhash * 40;
        TableRef(self.tables.alloc(Table::new(narr, nhash)))
    }
    pub(crate) fn new_func(&mut self, f: Func) -> FnRef {
        self.debt += 64;
        FnRef(self.funcs.alloc(f))
    }
    pub(crate) fn new_upval(&mut self, u: UpVal) -> u32 {
        self.debt += 32;
        self.upvals.alloc(u)
    }
    /// A suspended coroutine that will call `body` (a Lua function).
    pub(crate) fn new_thread(&mut self, body: Value) -> ThreadRef {
        let mut stack = vec![Value::Nil; THREAD_STACK];
        stack[0] = body;
        let t = Thread {
            status: CoStatus::Suspended,
            started: false,
            stack,
            top: 1,
            open_upvals: Vec::new(),
            frames: Vec::new(),
            resume_to: 0,
            resume_nresults: 0,
        };
        self.debt += t.bytes();
        ThreadRef(self.threads.alloc(t))
    }
    #[inline(always)]
    pub(crate) fn thread(&self, t: u32) -> &Thread {
        self.threads.get(t)
    }
    #[inline(always)]
    pub(crate) fn thread_mut(&mut self, t: u32) -> &mut Thread {
        self.threads.get_mut(t)
    }

    pub(crate) fn should_collect(&self) -> bool {
        self.debt > self.threshold
    }

    pub(crate) fn mark_value(&mut self, v: Value) {
        match v {
            Value::String(s) => {
                self.strings.mark(s.0);
            }
            Value::Table(t) => {
                if self.tables.mark(t.0) {
                    self.gray.push(v);
                }
            }
            Value::Function(f) => {
                if self.funcs.mark(f.0) {
                    self.gray.push(v);
                }
            }
            Value::Thread(t) => {
                if self.threads.mark(t.0) {
                    self.gray.push(v);
                }
            }
            _ => {}
        }
    }

    fn mark_proto(&mut self, p: &Proto) {
        if p.gc_mark.get() == self.epoch {
            return;
        }
        p.gc_mark.set(self.epoch);
        for k in &p.k {
            if let Value::String(s) = k {
                self.strings.mark(s.0);
            }
        }
        for c in &p.p {
            self.mark_proto(c);
        }
    }

    pub(crate) fn mark_upval(&mut self, u: u32) {
        if self.upvals.mark(u) {
            match *self.upvals.get(u) {
                UpVal::Closed(v) => self.mark_value(v),
                // A slot of a switched-out coroutine: keep the value (as Lua
                // does, not the whole thread); if the thread dies unreferenced,
                // `sweep` closes the upvalue over it. The main thread's stack
                // is a root.
                UpVal::OpenIn(t, i) if t != MAIN_THREAD => {
                    let v = self.threads.get(t).stack[i];
                    self.mark_value(v);
                }
                _ => {}
            }
        }
    }

    /// Propagate marks from the gray stack until it is empty.
    pub(crate) fn propagate(&mut self) {
        while let Some(v) = self.gray.pop() {
            match v {
                Value::Table(t) => {
                    let Heap {
                        tables,
                        strings,
                        funcs,
                        threads,
                        gray,
                        ..
                    } = self;
                    let Arena {
                        slots,
                        marks: tmarks,
                        ..
                    } = tables;
                    let smarks = &mut strings.marks;
                    let fmarks = &mut funcs.marks;
                    let thmarks = &mut threads.marks;
                    let tab = slots[t.0 as usize].as_ref().unwrap();
                    tab.for_each_ref(|v| match v {
                        Value::String(s) => smarks[s.0 as usize] = true,
                        Value::Table(t) => {
                            if !tmarks[t.0 as usize] {
                                tmarks[t.0 as usize] = true;
                                gray.push(v);
                            }
                        }
                        Value::Function(f) => {
                            if !fmarks[f.0 as usize] {
                                fmarks[f.0 as usize] = true;
                                gray.push(v);
                            }
                        }
                        Value::Thread(th) => {
                            if !thmarks[th.0 as usize] {
                                thmarks[th.0 as usize] = true;
                                gray.push(v);
                            }
                        }
                        _ => {}
                    });
                }
                Value::Function(f) => match self.funcs.get(f.0) {
                    Func::Lua(c) => {
                        let proto = c.proto.clone();
                        let ups = c.upvals.clone();
                        self.mark_proto(&proto);
                        for u in ups {
                            self.mark_upval(u);
                        }
                    }
                    Func::Native(n) => {
                        let ups = n.upvals.clone();
                        for v in ups {
                            self.mark_value(v);
                        }
                    }
                },
                Value::Thread(t) => {
                    // A switched-out thread: its saved stack, frames and open
                    // upvalues (a running one keeps them in `Lua`, marked there).
                    // (mark_value only queues, so the parts can be lent out.)
                    let th = self.threads.get_mut(t.0);
                    let stack = std::mem::take(&mut th.stack);
                    let frames = std::mem::take(&mut th.frames);
                    for v in &stack {
                        self.mark_value(*v);
                    }
                    for f in &frames {
                        if matches!(f.kind, crate::vm::FrameKind::Lua) {
                            self.mark_value(Value::Function(FnRef(f.cl)));
                        }
                    }
                    let th = self.threads.get_mut(t.0);
                    th.stack = stack;
                    th.frames = frames;
                    let n = th.open_upvals.len();
                    for j in 0..n {
                        let u = self.threads.get(t.0).open_upvals[j].1;
                        self.mark_upval(u);
                    }
                }
                _ => {}
            }
        }
    }

    /// Free everything unmarked, reset marks; returns the live byte estimate.
    pub(crate) fn sweep(&mut self) {
        let mut live = 0;
        live += self.strings.sweep(|s| s.bytes.len() + 40);
        // rebuild intern buckets without dead strings
        let strings = &self.strings;
        for b in self.buckets.iter_mut() {
            b.retain(|&i| strings.slots[i as usize].is_some());
        }
        live += self.tables.sweep(|t| t.bytes());
        live += self.funcs.sweep(|f| match f {
            Func::Lua(c) => 64 + c.upvals.len() * 8,
            Func::Native(n) => 64 + n.upvals.len() * 16,
        });
        // A coroutine about to be freed closes its open upvalues first (their
        // values were kept by `mark_upval`), as luaE_freethread does.
        for i in 0..self.threads.slots.len() {
            if self.threads.marks[i] {
                continue;
            }
            if let Some(th) = &self.threads.slots[i] {
                for &(slot, u) in &th.open_upvals {
                    if let Some(uv) = self.upvals.slots[u as usize].as_mut() {
                        *uv = UpVal::Closed(th.stack[slot]);
                    }
                }
            }
        }
        live += self.threads.sweep(|t| t.bytes());
        live += self.upvals.sweep(|_| 32);
        self.live = live;
        self.debt = 0;
        self.threshold = live.max(MIN_THRESHOLD);
        self.epoch = self.epoch.wrapping_add(1).max(1);
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.live + self.debt
    }
}
