//! The `bit` library (lua_bit.c, LuaBitOp 1.0): 32-bit bitwise operations with
//! LuaBitOp's number normalisation (add 2^52+2^51, keep the low 32 bits).

use crate::value::{LuaError, Value};
use crate::{Ctx, Lua};

fn barg(ctx: &mut Ctx, i: usize) -> Result<u32, LuaError> {
    let n = match ctx.to_number(ctx.arg(i - 1)) {
        Some(n) => n,
        None => return Err(ctx.type_error(i, "number")),
    };
    Ok((n + 6755399441055744.0).to_bits() as u32)
}

fn ret(b: u32) -> Result<Vec<Value>, LuaError> {
    Ok(vec![Value::Number(b as i32 as f64)])
}

pub(crate) fn open(lua: &mut Lua) {
    let t = lua.new_table();
    lua.set_field_fn(t, "tobit", |ctx| ret(barg(ctx, 1)?));
    lua.set_field_fn(t, "bnot", |ctx| ret(!barg(ctx, 1)?));
    lua.set_field_fn(t, "band", |ctx| {
        let mut b = barg(ctx, 1)?;
        for i in (2..=ctx.nargs()).rev() {
            b &= barg(ctx, i)?;
        }
        ret(b)
    });
    lua.set_field_fn(t, "bor", |ctx| {
        let mut b = barg(ctx, 1)?;
        for i in (2..=ctx.nargs()).rev() {
            b |= barg(ctx, i)?;
        }
        ret(b)
    });
    lua.set_field_fn(t, "bxor", |ctx| {
        let mut b = barg(ctx, 1)?;
        for i in (2..=ctx.nargs()).rev() {
            b ^= barg(ctx, i)?;
        }
        ret(b)
    });
    lua.set_field_fn(t, "lshift", |ctx| {
        let b = barg(ctx, 1)?;
        let n = barg(ctx, 2)? & 31;
        ret(b << n)
    });
    lua.set_field_fn(t, "rshift", |ctx| {
        let b = barg(ctx, 1)?;
        let n = barg(ctx, 2)? & 31;
        ret(b >> n)
    });
    lua.set_field_fn(t, "arshift", |ctx| {
        let b = barg(ctx, 1)?;
        let n = barg(ctx, 2)? & 31;
        ret(((b as i32) >> n) as u32)
    });
    lua.set_field_fn(t, "rol", |ctx| {
        let b = barg(ctx, 1)?;
        let n = barg(ctx, 2)? & 31;
        ret(b.rotate_left(n))
    });
    lua.set_field_fn(t, "ror", |ctx| {
        let b = barg(ctx, 1)?;
        let n = barg(ctx, 2)? & 31;
        ret(b.rotate_right(n))
    });
    lua.set_field_fn(t, "bswap", |ctx| ret(barg(ctx, 1)?.swap_bytes()));
    lua.set_field_fn(t, "tohex", |ctx| {
        let mut b = barg(ctx, 1)?;
        let mut n: i32 = if ctx.arg(1).is_nil() {
            8
        } else {
            barg(ctx, 2)? as i32
        };
        let digits: &[u8] = if n < 0 {
            n = -n;
            b"0123456789ABCDEF"
        } else {
            b"0123456789abcdef"
        };
        if n > 8 {
            n = 8;
        }
        let mut buf = vec![0u8; n as usize];
        for i in (0..n as usize).rev() {
            buf[i] = digits[(b & 15) as usize];
            b >>= 4;
        }
        Ok(vec![ctx.string(buf)])
    });
    lua.set_global("bit", Value::Table(t));
}
