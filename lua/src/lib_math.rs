//! The `math` library (lmathlib.c), with Redis' deterministic `math.random`
//! (redisLrand48, reseeded by the host via [`crate::Lua::seed_random`]).

use crate::value::Value;
use crate::Lua;

const X0: u64 = 0x330E;
const A: u64 = 0x5DEECE66D;
const C: u64 = 0xB;
const LRAND48_MAX: i64 = i32::MAX as i64;

/// `redisSrand48`.
pub(crate) fn srand48(lua: &mut Lua, seed: i32) {
    let s = seed as u32 as u64;
    let lo = s & 0xffff;
    let hi = (s >> 16) & 0xffff;
    lua.rand_state = X0 | (lo << 16) | (hi << 32);
}

/// `redisLrand48`: the 48-bit LCG, returning the top 31 bits.
fn lrand48(lua: &mut Lua) -> i64 {
    lua.rand_state = (A.wrapping_mul(lua.rand_state).wrapping_add(C)) & ((1u64 << 48) - 1);
    (lua.rand_state >> 17) as i64
}

fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // subnormal
        let (m, e) = frexp(x * (1u64 << 54) as f64);
        return (m, e - 54);
    }
    let e = exp - 1022;
    let m = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (m, e)
}

pub(crate) fn open(lua: &mut Lua) {
    srand48(lua, 0);
    let t = lua.new_table();
    macro_rules! f1 {
        ($name:expr, $f:expr) => {
            lua.set_field_fn(t, $name, |ctx| {
                let x = ctx.check_number(1)?;
                let f: fn(f64) -> f64 = $f;
                Ok(vec![Value::Number(f(x))])
            });
        };
    }
    f1!("abs", f64::abs);
    f1!("ceil", f64::ceil);
    f1!("floor", f64::floor);
    f1!("sqrt", f64::sqrt);
    f1!("sin", f64::sin);
    f1!("cos", f64::cos);
    f1!("tan", f64::tan);
    f1!("asin", f64::asin);
    f1!("acos", f64::acos);
    f1!("atan", f64::atan);
    f1!("sinh", f64::sinh);
    f1!("cosh", f64::cosh);
    f1!("tanh", f64::tanh);
    f1!("exp", f64::exp);
    f1!("log", f64::ln);
    f1!("log10", f64::log10);
    f1!("deg", |x| x * (180.0 / std::f64::consts::PI));
    f1!("rad", |x| x * (std::f64::consts::PI / 180.0));
    lua.set_field_fn(t, "atan2", |ctx| {
        let y = ctx.check_number(1)?;
        let x = ctx.check_number(2)?;
        Ok(vec![Value::Number(y.atan2(x))])
    });
    lua.set_field_fn(t, "pow", |ctx| {
        let x = ctx.check_number(1)?;
        let y = ctx.check_number(2)?;
        Ok(vec![Value::Number(x.powf(y))])
    });
    lua.set_field_fn(t, "fmod", |ctx| {
        let x = ctx.check_number(1)?;
        let y = ctx.check_number(2)?;
        Ok(vec![Value::Number(x % y)])
    });
    lua.set_field_fn(t, "modf", |ctx| {
        let x = ctx.check_number(1)?;
        let ip = x.trunc();
        let fp = if x.is_infinite() {
            0.0 * x.signum()
        } else {
            x - ip
        };
        Ok(vec![Value::Number(ip), Value::Number(fp)])
    });
    lua.set_field_fn(t, "frexp", |ctx| {
        let x = ctx.check_number(1)?;
        let (m, e) = frexp(x);
        Ok(vec![Value::Number(m), Value::Number(e as f64)])
    });
    lua.set_field_fn(t, "ldexp", |ctx| {
        let x = ctx.check_number(1)?;
        let e = ctx.check_int(2)?;
        Ok(vec![Value::Number(x * 2f64.powi(e))])
    });
    lua.set_field_fn(t, "min", |ctx| {
        let n = ctx.nargs();
        let mut dmin = ctx.check_number(1)?;
        for i in 2..=n {
            let d = ctx.check_number(i)?;
            if d < dmin {
                dmin = d;
            }
        }
        Ok(vec![Value::Number(dmin)])
    });
    lua.set_field_fn(t, "max", |ctx| {
        let n = ctx.nargs();
        let mut dmax = ctx.check_number(1)?;
        for i in 2..=n {
            let d = ctx.check_number(i)?;
            if d > dmax {
                dmax = d;
            }
        }
        Ok(vec![Value::Number(dmax)])
    });
    lua.set_field_fn(t, "random", |ctx| {
        let r = (lrand48(ctx.lua) % LRAND48_MAX) as f64 / LRAND48_MAX as f64;
        match ctx.nargs() {
            0 => Ok(vec![Value::Number(r)]),
            1 => {
                let u = ctx.check_int(1)?;
                if u < 1 {
                    return Err(ctx.arg_error(1, "interval is empty"));
                }
                Ok(vec![Value::Number((r * u as f64).floor() + 1.0)])
            }
            2 => {
                let l = ctx.check_int(1)?;
                let u = ctx.check_int(2)?;
                if l > u {
                    return Err(ctx.arg_error(2, "interval is empty"));
                }
                Ok(vec![Value::Number(
                    (r * (u as f64 - l as f64 + 1.0)).floor() + l as f64,
                )])
            }
            _ => Err(ctx.error("wrong number of arguments")),
        }
    });
    lua.set_field_fn(t, "randomseed", |ctx| {
        let s = ctx.check_int(1)?;
        srand48(ctx.lua, s);
        Ok(vec![])
    });
    lua.raw_set_str(t, "pi", Value::Number(std::f64::consts::PI));
    lua.raw_set_str(t, "huge", Value::Number(f64::INFINITY));
    lua.set_global("math", Value::Table(t));
}
