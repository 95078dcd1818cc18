//! Coroutines: switching threads inside the interpreter loop.
//!
//! Every thread (the main one and each coroutine) has its own value stack,
//! frames and open upvalues, as in Lua 5.1. The running thread's stack and
//! open upvalues are the `Lua` fields the loop already uses (`stack`, `top`,
//! `open_upvals`), so code that never touches a coroutine runs exactly as
//! before; a switch moves those vectors in and out (no copying).
//!
//! Frames are not swapped but stacked: `coroutine.resume` (a special native,
//! handled in `precall` like `pcall`) pushes a `FrameKind::CoResume` marker
//! above the resumer's frames and a [`CoLink`] describing the resume; the
//! coroutine's frames then run above the marker in the same loop, with no
//! Rust recursion. So a coroutine running when the instruction budget is
//! spent is suspended with the whole call ([`crate::Step::Yielded`]) and the
//! next slice continues it, and SCRIPT KILL reaches it. `coroutine.yield`
//! moves the frames above the marker into the thread object, drops the
//! marker and hands its values to the resumer's pending call; a later resume
//! appends them again. A body that returns (`post_return` meets the marker)
//! or fails (`handle_error` meets it) kills the coroutine and resumes its
//! resumer with `true, results…` or `false, error` (`wrap` re-raises).
//!
//! Upvalues: `UpVal::Open(slot)` always means a slot of the running
//! thread's stack. When a thread is switched out its open upvalues are
//! retagged `UpVal::OpenIn(thread, slot)` (read from the saved stack), and
//! retagged back when it runs again; a dead thread closes them, and so does
//! the collector when it frees a suspended thread that closures outlived.
//!
//! Lua 5.1 refuses to yield across a C level: from the main thread, inside
//! pcall/xpcall, a metamethod, a native's callback (sort, gsub, tostring…)
//! or a function called by a generic `for`'s iterator call. Here those are
//! Pcall/Native markers or a `TFORLOOP` caller between the coroutine's base
//! and the yield, or a C-call count (`c_calls`) above the resume's.

use crate::bytecode::{get_op, Op};
use crate::heap::{CoStatus, UpVal, MAIN_THREAD};
use crate::value::{LuaError, Value};
use crate::vm::{Callee, Frame, FrameKind, LUAI_MAXCALLS, LUAI_MAXCCALLS};
use crate::{Host, Lua};

/// A switched-out thread's stack (the main thread's lives in `Lua::main_saved`).
#[derive(Default)]
pub(crate) struct SavedStack {
    pub(crate) stack: Vec<Value>,
    pub(crate) top: usize,
    pub(crate) open_upvals: Vec<(usize, u32)>,
}

/// One resume in progress: coroutine `co` runs above a CoResume marker.
pub(crate) struct CoLink {
    /// The coroutine resumed.
    pub(crate) co: u32,
    /// The thread that resumed it, and where that thread's frames begin.
    pub(crate) resumer: u32,
    pub(crate) resumer_base: usize,
    /// The resume call's slot in the resumer's stack (its results go
    /// there) and how many results that call wants.
    pub(crate) func: usize,
    pub(crate) nresults: i32,
    /// Resumed by a `coroutine.wrap` function: no leading boolean, and
    /// errors are raised again in the resumer.
    pub(crate) wrap: bool,
    /// C levels when resumed: a yield needs the same (no C call between).
    pub(crate) c_calls: u32,
}

const YIELD_BOUNDARY: &[u8] = b"attempt to yield across metamethod/C-call boundary";

impl Lua {
    /// The stack of a switched-out thread (`UpVal::OpenIn`).
    #[inline]
    pub(crate) fn saved_stack(&self, t: u32) -> &[Value] {
        if t == MAIN_THREAD {
            &self.main_saved.stack
        } else {
            &self.heap.thread(t).stack
        }
    }

    #[inline]
    pub(crate) fn saved_stack_mut(&mut self, t: u32) -> &mut [Value] {
        if t == MAIN_THREAD {
            &mut self.main_saved.stack
        } else {
            &mut self.heap.thread_mut(t).stack
        }
    }

    /// `costatus` for coroutine `t`.
    pub(crate) fn co_status(&self, t: u32) -> CoStatus {
        if t == self.cur_thread {
            CoStatus::Running
        } else {
            self.heap.thread(t).status
        }
    }

    /// Moves the running thread's stack and open upvalues into its own
    /// storage (retagging the upvalues), leaving it with `status`.
    fn stash_running(&mut self, status: CoStatus) {
        let t = self.cur_thread;
        let stack = std::mem::take(&mut self.stack);
        let ups = std::mem::take(&mut self.open_upvals);
        for &(i, u) in &ups {
            *self.heap.upvals.get_mut(u) = UpVal::OpenIn(t, i);
        }
        let top = self.top;
        if t == MAIN_THREAD {
            self.main_saved = crate::coroutine::SavedStack {
                stack,
                top,
                open_upvals: ups,
            };
        } else {
            let th = self.heap.thread_mut(t);
            th.stack = stack;
            th.top = top;
            th.open_upvals = ups;
            th.status = status;
        }
    }

    /// Makes `t` the running thread, its frames starting at `frames[base]`.
    fn enter(&mut self, t: u32, base: usize) {
        let (stack, top, ups) = if t == MAIN_THREAD {
            let s = std::mem::take(&mut self.main_saved);
            (s.stack, s.top, s.open_upvals)
        } else {
            let th = self.heap.thread_mut(t);
            th.status = CoStatus::Running;
            (
                std::mem::take(&mut th.stack),
                th.top,
                std::mem::take(&mut th.open_upvals),
            )
        };
        for &(i, u) in &ups {
            *self.heap.upvals.get_mut(u) = UpVal::Open(i);
        }
        self.stack = stack;
        self.top = top;
        self.open_upvals = ups;
        self.cur_thread = t;
        self.co_base = base;
        self.frames_limit = base + LUAI_MAXCALLS;
    }

    /// The running coroutine is dead: close its upvalues, free its stack.
    /// (Its frames and marker are already gone; `enter` must follow.)
    fn kill_running(&mut self) {
        self.close_upvals(0);
        self.stack = Vec::new();
        self.top = 0;
        let th = self.heap.thread_mut(self.cur_thread);
        th.status = CoStatus::Dead;
        th.stack = Vec::new();
        th.frames = Vec::new();
        th.open_upvals = Vec::new();
    }

    /// Places `[flag] ++ xfer` at stack[func..], adjusted to `nresults`.
    fn deliver_xfer(&mut self, func: usize, nresults: i32, flag: Option<bool>) {
        let extra = flag.is_some() as usize;
        let n = self.xfer.len() + extra;
        let want = if nresults < 0 { n } else { nresults as usize };
        self.ensure_stack(func + want + 1);
        if let (Some(b), true) = (flag, want > 0) {
            self.stack[func] = Value::Boolean(b);
        }
        for i in extra..want {
            self.stack[func + i] = if i < n {
                self.xfer[i - extra]
            } else {
                Value::Nil
            };
        }
        self.top = func + want;
    }

    /// `coroutine.resume(co, ...)` (`wrap` = None) or a `coroutine.wrap`
    /// function of thread `wrap` called at stack[func] with args up to top.
    pub(crate) fn co_resume(
        &mut self,
        host: &mut dyn Host,
        func: usize,
        nresults: i32,
        wrap: Option<u32>,
    ) -> Result<Callee, LuaError> {
        let (t, first) = match wrap {
            Some(t) => (t, func + 1),
            None => {
                let v = if self.top > func + 1 {
                    self.stack[func + 1]
                } else {
                    Value::Nil
                };
                match v {
                    Value::Thread(t) => (t.0, func + 2),
                    _ => return Err(self.arg_error_at(func, 1, b"coroutine expected")),
                }
            }
        };
        let refusal: Option<&[u8]> = match self.co_status(t) {
            CoStatus::Suspended => {
                // lua_resume: each coroutine level is a C level in Lua 5.1
                if self.c_calls + self.co_chain.len() as u32 >= LUAI_MAXCCALLS {
                    Some(b"C stack overflow")
                } else {
                    None
                }
            }
            CoStatus::Running => Some(b"cannot resume running coroutine"),
            CoStatus::Normal => Some(b"cannot resume normal coroutine"),
            CoStatus::Dead => Some(b"cannot resume dead coroutine"),
        };
        if let Some(msg) = refusal {
            if wrap.is_some() {
                // luaB_auxwrap: the message gets the caller's position
                let mut m = self.where_(1);
                m.extend_from_slice(msg);
                return Err(self.err_msg(&m));
            }
            let s = self.heap.intern(msg);
            self.deliver(func, &[Value::Boolean(false), Value::String(s)], nresults);
            return Ok(Callee::Done);
        }
        self.xfer.clear();
        let top = self.top.max(first);
        self.xfer.extend_from_slice(&self.stack[first..top]);
        self.co_chain.push(CoLink {
            co: t,
            resumer: self.cur_thread,
            resumer_base: self.co_base,
            func,
            nresults,
            wrap: wrap.is_some(),
            c_calls: self.c_calls,
        });
        self.frames.push(Frame {
            kind: FrameKind::CoResume,
            func,
            base: func,
            top: func,
            pc: 0,
            nresults,
            tailcalls: 0,
            proto: None,
            cl: t,
        });
        self.top = func;
        self.stash_running(CoStatus::Normal);
        let base = self.frames.len();
        self.enter(t, base);
        if !self.heap.thread(t).started {
            // the first resume calls the body (stack[0]) with the values
            self.heap.thread_mut(t).started = true;
            let n = self.xfer.len();
            self.ensure_stack(n + 2);
            self.stack[1..1 + n].copy_from_slice(&self.xfer);
            self.top = 1 + n;
            match self.precall(host, 0, -1, 0) {
                Ok(Callee::Lua) => Ok(Callee::Lua),
                // (the body is a Lua function: it cannot finish at once)
                Ok(_) => Ok(Callee::Switched(self.co_finish(0))),
                Err(e) => self.co_error(e).map(Callee::Switched),
            }
        } else {
            // continue after its yield, which returns the values
            let th = self.heap.thread_mut(t);
            let (to, nres) = (th.resume_to, th.resume_nresults);
            let mut saved = std::mem::take(&mut th.frames);
            self.charge_frames(saved.len());
            self.frames.append(&mut saved);
            self.heap.thread_mut(t).frames = saved;
            self.deliver_xfer(to, nres, None);
            self.after_call_in_lua();
            Ok(Callee::Lua)
        }
    }

    /// A resume or yield moves the coroutine's frames: deep ones count
    /// against the instruction budget, so a slice stays short in time.
    #[inline]
    fn charge_frames(&mut self, n: usize) {
        self.budget = self.budget.saturating_sub(n as u64 / 16);
    }

    /// Whether the running thread may yield now (see the module notes).
    fn can_yield(&self) -> bool {
        let Some(link) = self.co_chain.last() else {
            return false;
        };
        if self.c_calls != link.c_calls {
            return false;
        }
        self.frames[self.co_base..].iter().all(|f| match f.kind {
            FrameKind::Lua => {
                // a frame stopped in TFORLOOP called what is above it as a C call
                let p = f.proto.as_ref().unwrap();
                f.pc == 0 || get_op(p.code[f.pc - 1]) != Op::TForLoop
            }
            _ => false,
        })
    }

    /// `coroutine.yield(...)` called at stack[func].
    pub(crate) fn co_yield(&mut self, func: usize, nresults: i32) -> Result<Callee, LuaError> {
        if !self.can_yield() {
            return Err(self.err_msg(YIELD_BOUNDARY));
        }
        let link = self.co_chain.pop().unwrap();
        self.xfer.clear();
        let top = self.top.max(func + 1);
        self.xfer.extend_from_slice(&self.stack[func + 1..top]);
        let base = self.co_base;
        self.charge_frames(self.frames.len() - base);
        let th = self.heap.thread_mut(link.co);
        th.frames.clear();
        th.frames.extend(self.frames.drain(base..));
        th.resume_to = func;
        th.resume_nresults = nresults;
        self.frames.pop(); // the CoResume marker
        self.top = func;
        self.stash_running(CoStatus::Suspended);
        self.enter(link.resumer, link.resumer_base);
        let flag = if link.wrap { None } else { Some(true) };
        self.deliver_xfer(link.func, link.nresults, flag);
        Ok(Callee::Switched(link.func))
    }

    /// The running coroutine's body returned its results at stack[func..top]
    /// onto the CoResume marker: it dies and its resumer gets them. Returns
    /// the slot in the resumer's stack where they now are.
    pub(crate) fn co_finish(&mut self, func: usize) -> usize {
        let link = self.co_chain.pop().unwrap();
        self.frames.pop(); // the CoResume marker
        self.xfer.clear();
        let top = self.top.max(func);
        self.xfer.extend_from_slice(&self.stack[func..top]);
        self.kill_running();
        self.enter(link.resumer, link.resumer_base);
        let flag = if link.wrap { None } else { Some(true) };
        self.deliver_xfer(link.func, link.nresults, flag);
        link.func
    }

    /// An error reached the running coroutine's base: it dies. `resume`
    /// answers `false, error` (Ok: the slot of those results in the
    /// resumer); a `wrap` function raises the error in the resumer (Err),
    /// a string message prefixed with the caller's position.
    pub(crate) fn co_error(&mut self, e: LuaError) -> Result<usize, LuaError> {
        let link = self.co_chain.pop().unwrap();
        self.frames.truncate(self.co_base - 1);
        self.kill_running();
        self.enter(link.resumer, link.resumer_base);
        if link.wrap {
            let s = match e.value {
                Value::String(_) | Value::Number(_) => self.tostr(e.value),
                _ => None,
            };
            return Err(match s {
                Some(s) => {
                    let mut m = self.where_(1);
                    m.extend_from_slice(self.heap.str(s));
                    self.err_msg(&m)
                }
                None => e,
            });
        }
        self.xfer.clear();
        self.xfer.push(e.value);
        self.deliver_xfer(link.func, link.nresults, Some(false));
        Ok(link.func)
    }

    /// A call ends while coroutines run (killed): they all die and the main
    /// thread's stack is the running one again.
    pub(crate) fn abandon_threads(&mut self) {
        while let Some(link) = self.co_chain.pop() {
            self.kill_running();
            self.enter(link.resumer, link.resumer_base);
        }
    }
}
