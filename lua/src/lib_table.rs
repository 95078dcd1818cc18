//! The `table` library (ltablib.c): concat, insert, maxn, remove, sort (an exact
//! port of 5.1's auxsort, so ties come out as in real Redis), getn, setn, foreach,
//! foreachi.

use crate::value::{LuaError, TableRef, Value};
use crate::{Ctx, Lua};

type R = Result<Vec<Value>, LuaError>;

fn check_writable(ctx: &mut Ctx, t: TableRef) -> Result<(), LuaError> {
    if ctx.heap.table(t).readonly {
        return Err(ctx.lua.rt_error(b"Attempt to modify a readonly table"));
    }
    Ok(())
}

pub(crate) fn open(lua: &mut Lua) {
    let t = lua.new_table();
    lua.set_field_fn(t, "concat", |ctx| {
        let sep = ctx.opt_bytes(2, b"")?;
        let t = ctx.check_table(1)?;
        let mut i = ctx.opt_int(3, 1)? as i64;
        let last = if ctx.arg(3).is_nil() {
            ctx.heap.table(t).len() as i64
        } else {
            ctx.check_int(4)? as i64
        };
        let mut b = Vec::new();
        while i <= last {
            let v = ctx.heap.table(t).get_int(i);
            match v {
                Value::String(s) => b.extend_from_slice(ctx.str_bytes(s)),
                Value::Number(n) => crate::number::fmt_num(&mut b, n),
                _ => {
                    return Err(ctx.error(format!(
                        "invalid value ({}) at index {} in table for 'concat'",
                        v.type_name(),
                        i
                    )))
                }
            }
            if i != last {
                b.extend_from_slice(&sep);
            }
            i += 1;
        }
        Ok(vec![ctx.string(b)])
    });
    lua.set_field_fn(t, "insert", |ctx| {
        let t = ctx.check_table(1)?;
        let mut e = ctx.heap.table(t).len() as i64 + 1;
        let pos;
        match ctx.nargs() {
            2 => pos = e,
            3 => {
                pos = ctx.check_int(2)? as i64;
                if pos > e {
                    e = pos;
                }
                check_writable(ctx, t)?;
                let mut i = e;
                while i > pos {
                    let v = ctx.heap.table(t).get_int(i - 1);
                    ctx.heap.table_mut(t).set_int(i, v);
                    i -= 1;
                }
            }
            _ => return Err(ctx.error("wrong number of arguments to 'insert'")),
        }
        check_writable(ctx, t)?;
        let v = ctx.arg(ctx.nargs() - 1);
        ctx.heap.table_mut(t).set_int(pos, v);
        Ok(vec![])
    });
    lua.set_field_fn(t, "maxn", |ctx| {
        let t = ctx.check_table(1)?;
        let mut max = 0.0f64;
        let mut k = Value::Nil;
        while let Ok(Some((key, _))) = ctx.heap.table(t).next(k) {
            if let Value::Number(n) = key {
                if n > max {
                    max = n;
                }
            }
            k = key;
        }
        Ok(vec![Value::Number(max)])
    });
    lua.set_field_fn(t, "remove", |ctx| {
        let t = ctx.check_table(1)?;
        let e = ctx.heap.table(t).len() as i64;
        let mut pos = ctx.opt_int(2, e as i32)? as i64;
        if !(1 <= pos && pos <= e) {
            return Ok(vec![]);
        }
        check_writable(ctx, t)?;
        let result = ctx.heap.table(t).get_int(pos);
        while pos < e {
            let v = ctx.heap.table(t).get_int(pos + 1);
            ctx.heap.table_mut(t).set_int(pos, v);
            pos += 1;
        }
        ctx.heap.table_mut(t).set_int(e, Value::Nil);
        Ok(vec![result])
    });
    lua.set_field_fn(t, "getn", |ctx| {
        let t = ctx.check_table(1)?;
        Ok(vec![Value::Number(ctx.heap.table(t).len() as f64)])
    });
    lua.set_field_fn(t, "setn", |ctx| {
        ctx.check_table(1)?;
        Err(ctx.error("'setn' is obsolete"))
    });
    lua.set_field_fn(t, "foreachi", |ctx| {
        let t = ctx.check_table(1)?;
        let f = ctx.arg(1);
        if !matches!(f, Value::Function(_)) {
            return Err(ctx.type_error(2, "function"));
        }
        let n = ctx.heap.table(t).len() as i64;
        for i in 1..=n {
            let v = ctx.heap.table(t).get_int(i);
            let r = ctx.call(f, &[Value::Number(i as f64), v])?;
            let r = r.first().copied().unwrap_or(Value::Nil);
            if !r.is_nil() {
                return Ok(vec![r]);
            }
        }
        Ok(vec![])
    });
    lua.set_field_fn(t, "foreach", |ctx| {
        let t = ctx.check_table(1)?;
        let f = ctx.arg(1);
        if !matches!(f, Value::Function(_)) {
            return Err(ctx.type_error(2, "function"));
        }
        let mut k = Value::Nil;
        while let Some((key, v)) = ctx.next(t, k)? {
            let r = ctx.call(f, &[key, v])?;
            let r = r.first().copied().unwrap_or(Value::Nil);
            if !r.is_nil() {
                return Ok(vec![r]);
            }
            k = key;
        }
        Ok(vec![])
    });
    lua.set_field_fn(t, "sort", sort);
    lua.set_global("table", Value::Table(t));
}

struct Sorter {
    t: TableRef,
    cmp: Value,
}

impl Sorter {
    fn get(&self, ctx: &mut Ctx, i: i64) -> Value {
        ctx.heap.table(self.t).get_int(i)
    }
    fn set(&self, ctx: &mut Ctx, i: i64, v: Value) {
        ctx.heap.table_mut(self.t).set_int(i, v);
    }
    fn lt(&self, ctx: &mut Ctx, a: Value, b: Value) -> Result<bool, LuaError> {
        if self.cmp.is_nil() {
            if let (Value::Number(x), Value::Number(y)) = (a, b) {
                return Ok(x < y);
            }
            let host: &mut dyn crate::Host = &mut *ctx.host;
            let top = ctx.base + ctx.nargs;
            if ctx.lua.top < top {
                ctx.lua.top = top;
            }
            ctx.lua.less_than(host, a, b)
        } else {
            let r = ctx.call(self.cmp, &[a, b])?;
            Ok(r.first().copied().unwrap_or(Value::Nil).truthy())
        }
    }

    fn auxsort(&self, ctx: &mut Ctx, mut l: i64, mut u: i64) -> Result<(), LuaError> {
        while l < u {
            let al = self.get(ctx, l);
            let au = self.get(ctx, u);
            if self.lt(ctx, au, al)? {
                self.set(ctx, l, au);
                self.set(ctx, u, al);
            }
            if u - l == 1 {
                break;
            }
            let mut i = (l + u) / 2;
            let ai = self.get(ctx, i);
            let al = self.get(ctx, l);
            if self.lt(ctx, ai, al)? {
                self.set(ctx, i, al);
                self.set(ctx, l, ai);
            } else {
                let au = self.get(ctx, u);
                if self.lt(ctx, au, ai)? {
                    self.set(ctx, i, au);
                    self.set(ctx, u, ai);
                }
            }
            if u - l == 2 {
                break;
            }
            let p = self.get(ctx, i);
            let au1 = self.get(ctx, u - 1);
            self.set(ctx, i, au1);
            self.set(ctx, u - 1, p);
            i = l;
            let mut j = u - 1;
            loop {
                loop {
                    i += 1;
                    let ai = self.get(ctx, i);
                    if !self.lt(ctx, ai, p)? {
                        break;
                    }
                    if i > u {
                        return Err(ctx.error("invalid order function for sorting"));
                    }
                }
                loop {
                    j -= 1;
                    let aj = self.get(ctx, j);
                    if !self.lt(ctx, p, aj)? {
                        break;
                    }
                    if j < l {
                        return Err(ctx.error("invalid order function for sorting"));
                    }
                }
                if j < i {
                    break;
                }
                let ai = self.get(ctx, i);
                let aj = self.get(ctx, j);
                self.set(ctx, i, aj);
                self.set(ctx, j, ai);
            }
            let au1 = self.get(ctx, u - 1);
            let ai = self.get(ctx, i);
            self.set(ctx, u - 1, ai);
            self.set(ctx, i, au1);
            let (lo, hi);
            if i - l < u - i {
                lo = l;
                hi = i - 1;
                l = i + 1;
            } else {
                lo = i + 1;
                hi = u;
                u = i - 1;
            }
            self.auxsort(ctx, lo, hi)?;
        }
        Ok(())
    }
}

fn sort(ctx: &mut Ctx) -> R {
    let t = ctx.check_table(1)?;
    let n = ctx.heap.table(t).len() as i64;
    let cmp = ctx.arg(1);
    if !cmp.is_nil() && !matches!(cmp, Value::Function(_)) {
        return Err(ctx.type_error(2, "function"));
    }
    if n > 1 {
        check_writable(ctx, t)?;
    }
    let s = Sorter { t, cmp };
    s.auxsort(ctx, 1, n)?;
    Ok(vec![])
}
