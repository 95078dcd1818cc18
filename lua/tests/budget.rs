//! Resumable execution: budgets, yields, kill, stack overflow, deep syntax, GC.
use cachelab_lua::{ErrorKind, Lua, Step, Value};

fn run_to_end(lua: &mut Lua, src: &str) -> Result<Vec<Value>, String> {
    let f = lua
        .load(src.as_bytes(), "@user_script")
        .map_err(|e| lua.error_string(&e))?;
    let mut call = lua.start(f, vec![]);
    loop {
        match lua.resume(&mut call, &mut (), 1_000_000) {
            Step::Yielded => continue,
            Step::Done(Ok(v)) => return Ok(v),
            Step::Done(Err(e)) => return Err(lua.error_string(&e)),
        }
    }
}

fn kill_after_yields(src: &str) {
    let mut lua = Lua::new();
    let f = lua.load(src.as_bytes(), "@user_script").unwrap();
    let mut call = lua.start(f, vec![]);
    for _ in 0..5 {
        assert!(matches!(
            lua.resume(&mut call, &mut (), 10_000),
            Step::Yielded
        ));
    }
    lua.kill(&mut call, "ERR Script killed by user with SCRIPT KILL...");
    match lua.resume(&mut call, &mut (), 10_000) {
        Step::Done(Err(e)) => {
            assert_eq!(e.kind, ErrorKind::Killed);
            assert_eq!(
                lua.error_string(&e),
                "ERR Script killed by user with SCRIPT KILL..."
            );
        }
        other => panic!("unexpected {:?}", other),
    }
    // the interpreter is reusable afterwards
    assert_eq!(
        run_to_end(&mut lua, "return 1 + 1").unwrap(),
        vec![Value::Number(2.0)]
    );
}

#[test]
fn infinite_loop_yields_and_is_killed() {
    kill_after_yields("while true do end");
}

#[test]
fn pcall_wrapped_loop_is_killed() {
    kill_after_yields("pcall(function() while true do end end) return 'not reached'");
    kill_after_yields("local ok = pcall(function() local t = {} for i = 1, 1e12 do t[i % 10] = i end end) return ok");
}

#[test]
fn infinite_tail_calls_yield() {
    kill_after_yields("local function f() return f() end return f()");
}

#[test]
fn stack_overflow_is_a_lua_error() {
    // nested metamethod calls use the Rust stack (about 2.5 KB per level in release,
    // much more in debug builds), so give the debug test binary room.
    std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(stack_overflow_body)
        .unwrap()
        .join()
        .unwrap();
}

fn stack_overflow_body() {
    let mut lua = Lua::new();
    let e = run_to_end(&mut lua, "local function f() return 1 + f() end return f()").unwrap_err();
    assert!(e.ends_with("stack overflow"), "{}", e);
    assert!(e.starts_with("user_script:1:"), "{}", e);
    let r = run_to_end(
        &mut lua,
        "local function f() return 1 + f() end local ok, e = pcall(f) return ok, e",
    )
    .unwrap();
    assert_eq!(r[0], Value::Boolean(false));
    // nested natives: C stack overflow through metamethods
    let e = run_to_end(
        &mut lua,
        "local t = setmetatable({}, {__index = function(t, k) return t[k] end}) return t.x",
    )
    .unwrap_err();
    assert!(e.contains("stack overflow"), "{}", e);
    // tostring recursion through __tostring
    let e = run_to_end(&mut lua, "local t t = setmetatable({}, {__tostring = function(x) return tostring(x) end}) return tostring(t)").unwrap_err();
    assert!(e.contains("stack overflow"), "{}", e);
}

#[test]
fn deep_syntax_nesting() {
    let mut lua = Lua::new();
    let src = format!("return {}1{}", "(".repeat(100_000), ")".repeat(100_000));
    let e = lua.load(src.as_bytes(), "@user_script").unwrap_err();
    assert_eq!(
        lua.error_string(&e),
        "user_script:1: chunk has too many syntax levels"
    );
    let src = format!("x = {}", "{".repeat(100_000));
    assert!(lua.load(src.as_bytes(), "@user_script").is_err());
    let src = "local a = 1 ".to_string() + &"a = -".repeat(50_000) + "1";
    assert!(lua.load(src.as_bytes(), "@user_script").is_err());
}

#[test]
fn garbage_cycles_are_reclaimed() {
    let mut lua = Lua::new();
    let f = lua
        .load(b"local t = {} t.self = t local s = {} for i = 1, 20 do s[i] = {t, tostring(i) .. 'x'} end return #s", "@user_script")
        .unwrap();
    lua.pin(f);
    let mut peak = 0;
    for i in 0..100_000 {
        let r = lua.call(f, vec![], &mut ()).unwrap();
        assert_eq!(r, vec![Value::Number(20.0)]);
        if i == 1000 {
            lua.collect();
            peak = lua.memory_bytes();
        }
    }
    lua.collect();
    let end = lua.memory_bytes();
    assert!(
        end < peak * 2 + (1 << 20),
        "memory grew from {} to {}",
        peak,
        end
    );
    assert!(end < 8 << 20, "memory {} too large", end);
}

#[test]
fn host_natives_and_errors() {
    struct Host {
        calls: Vec<String>,
    }
    impl cachelab_lua::Host for Host {
        fn as_any(&mut self) -> Option<&mut dyn std::any::Any> {
            Some(self)
        }
    }
    let mut lua = Lua::new();
    let redis = lua.new_table();
    lua.set_field_fn(redis, "call", |ctx| {
        let name = ctx.check_bytes(1)?;
        ctx.host::<Host>()
            .unwrap()
            .calls
            .push(String::from_utf8_lossy(&name).into_owned());
        if name == b"fail" {
            let t = ctx.new_table();
            let msg = ctx.string("ERR failure");
            ctx.raw_set_str(t, "err", msg);
            return Err(ctx.error_value(Value::Table(t)));
        }
        let t = ctx.new_table();
        let a = ctx.string("a");
        ctx.raw_set_int(t, 1, a);
        ctx.raw_set_int(t, 2, Value::Number(2.0));
        Ok(vec![Value::Table(t)])
    });
    lua.set_global("redis", Value::Table(redis));
    let f = lua
        .load(b"local r = redis.call('get', 'k') local ok, e = pcall(redis.call, 'fail') return r[1], r[2], ok, e.err", "@user_script")
        .unwrap();
    let mut host = Host { calls: vec![] };
    let r = lua.call(f, vec![], &mut host).unwrap();
    assert_eq!(host.calls, vec!["get", "fail"]);
    assert_eq!(lua.as_bytes(r[0]), Some(&b"a"[..]));
    assert_eq!(r[1], Value::Number(2.0));
    assert_eq!(r[2], Value::Boolean(false));
    assert_eq!(lua.as_bytes(r[3]), Some(&b"ERR failure"[..]));
    let f = lua
        .load(b"return redis.call('fail')", "@user_script")
        .unwrap();
    let e = lua.call(f, vec![], &mut host).unwrap_err();
    let t = e.value.as_table().unwrap();
    let msg = lua.raw_get_str(t, "err");
    assert_eq!(lua.as_bytes(msg), Some(&b"ERR failure"[..]));
}

#[test]
fn readonly_tables() {
    let mut lua = Lua::new();
    let g = lua.globals();
    lua.set_readonly(g, true);
    let e = run_to_end(&mut lua, "x = 1").unwrap_err();
    assert_eq!(e, "user_script:1: Attempt to modify a readonly table");
    let e = run_to_end(&mut lua, "rawset(_G, 'x', 1)").unwrap_err();
    assert!(e.ends_with("Attempt to modify a readonly table"), "{}", e);
}

#[test]
fn random_is_deterministic() {
    let mut lua = Lua::new();
    lua.seed_random(0);
    let a = run_to_end(
        &mut lua,
        "return math.random(100), math.random(100), math.random()",
    )
    .unwrap();
    lua.seed_random(0);
    let b = run_to_end(
        &mut lua,
        "return math.random(100), math.random(100), math.random()",
    )
    .unwrap();
    assert_eq!(a, b);
    // redisLrand48 after redisSrand48(0): first draws, as real Redis computes them
    assert_eq!(a[0], Value::Number(18.0));
    assert_eq!(a[1], Value::Number(75.0));
}

#[test]
fn redis_pcall_unwraps_err_tables() {
    let mut lua = Lua::new();
    let p = lua.redis_pcall();
    lua.set_global("pcall", p);
    let r = run_to_end(&mut lua, "return pcall(error, {err = 'ERR boom'})").unwrap();
    assert_eq!(r[0], Value::Boolean(false));
    assert_eq!(lua.as_bytes(r[1]), Some(&b"ERR boom"[..]));
    let r = run_to_end(&mut lua, "return pcall(function(a) return a + 1 end, 41)").unwrap();
    assert_eq!(r, vec![Value::Boolean(true), Value::Number(42.0)]);
}
