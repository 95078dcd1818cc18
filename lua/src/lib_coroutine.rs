//! The coroutine library (lbaselib.c's `co_funcs`): create, resume, running,
//! status, wrap, yield. `resume`, `yield` and the functions `wrap` returns
//! are specials that switch threads inside the interpreter loop (see
//! `coroutine.rs`); the others are plain natives.

use crate::heap::{CoStatus, Func, NativeClosure, MAIN_THREAD};
use crate::value::{LuaError, ThreadRef, Value};
use crate::{Ctx, Lua, NativeFn, Special};
use std::rc::Rc;

/// `luaB_cocreate`'s check: a Lua function (not a native).
fn check_lua_function(ctx: &mut Ctx) -> Result<Value, LuaError> {
    let f = ctx.arg(0);
    if let Value::Function(fr) = f {
        if let Func::Lua(_) = ctx.heap.funcs.get(fr.0) {
            return Ok(f);
        }
    }
    Err(ctx.arg_error(1, "Lua function expected"))
}

pub(crate) fn open(lua: &mut Lua) {
    // registered in lbaselib.c's order, into a table sized as luaL_register sizes it
    let t = lua.create_table(0, 6);
    lua.set_field_fn(t, "create", |ctx| {
        let f = check_lua_function(ctx)?;
        let th = ctx.lua.heap.new_thread(f);
        Ok(vec![Value::Thread(th)])
    });
    let resume = lua.create_special(Special::CoResume);
    lua.raw_set_str(t, "resume", resume);
    lua.set_field_fn(t, "running", |ctx| {
        // the main thread is not a coroutine: nil
        Ok(vec![match ctx.lua.cur_thread {
            MAIN_THREAD => Value::Nil,
            th => Value::Thread(ThreadRef(th)),
        }])
    });
    lua.set_field_fn(t, "status", |ctx| {
        let th = match ctx.arg(0) {
            Value::Thread(th) => th,
            _ => return Err(ctx.arg_error(1, "coroutine expected")),
        };
        let name = match ctx.lua.co_status(th.0) {
            CoStatus::Running => "running",
            CoStatus::Suspended => "suspended",
            CoStatus::Normal => "normal",
            CoStatus::Dead => "dead",
        };
        Ok(vec![ctx.string(name)])
    });
    lua.set_field_fn(t, "wrap", |ctx| {
        let f = check_lua_function(ctx)?;
        let th = ctx.lua.heap.new_thread(f);
        let body: NativeFn = Rc::new(|_ctx| Ok(Vec::new()));
        let w = ctx.lua.heap.new_func(Func::Native(NativeClosure {
            f: body,
            upvals: vec![Value::Thread(th)],
            special: Special::CoWrap,
        }));
        Ok(vec![Value::Function(w)])
    });
    let yield_ = lua.create_special(Special::CoYield);
    lua.raw_set_str(t, "yield", yield_);
    lua.set_global("coroutine", Value::Table(t));
}
