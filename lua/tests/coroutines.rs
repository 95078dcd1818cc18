//! Coroutines under the instruction budget: a script inside a coroutine is
//! suspended and continued slice by slice, can be killed there, and dead
//! coroutines are collected. (Their Lua semantics are in differential.rs.)
use cachelab_lua::{ErrorKind, Lua, Step, Value};

/// Runs `src` in slices of `budget` instructions; its results and how many
/// slices it took.
fn run_sliced(lua: &mut Lua, src: &str, budget: u64) -> (Result<Vec<Value>, String>, usize) {
    let f = lua.load(src.as_bytes(), "@user_script").unwrap();
    let mut call = lua.start(f, vec![]);
    let mut slices = 0;
    loop {
        slices += 1;
        match lua.resume(&mut call, &mut (), budget) {
            Step::Yielded => continue,
            Step::Done(Ok(v)) => return (Ok(v), slices),
            Step::Done(Err(e)) => return (Err(lua.error_string(&e)), slices),
        }
    }
}

fn texts(lua: &mut Lua, vals: &[Value]) -> Vec<String> {
    vals.iter()
        .map(|v| match lua.to_bytes(*v) {
            Some(b) => String::from_utf8_lossy(&b).into_owned(),
            None => format!("{:?}", v),
        })
        .collect()
}

const PROGRAM: &str = r#"
local function gen(n)
  return coroutine.wrap(function()
    for i = 1, n do
      local inner = coroutine.create(function(x) local y = coroutine.yield(x * 2) return x + y end)
      local _, d = coroutine.resume(inner, i)
      local _, s = coroutine.resume(inner, d)
      coroutine.yield(s)
    end
  end)
end
local acc, parts = 0, {}
for v in gen(40) do acc = acc + v parts[#parts + 1] = v end
local shared = 0
local co = coroutine.create(function()
  local function deep(n) if n == 0 then shared = shared + 1 coroutine.yield(shared) return 0 end return 1 + deep(n - 1) end
  for r = 1, 5 do deep(200) end
  return "end"
end)
local seen = {}
while true do
  local ok, v = coroutine.resume(co)
  if coroutine.status(co) == "dead" then seen[#seen + 1] = tostring(v) break end
  seen[#seen + 1] = v
end
local ok, err = coroutine.resume(coroutine.create(function() local t = nil return t.x end))
return acc, table.concat(parts, ","), table.concat(seen, ","), err, coroutine.status(co)
"#;

#[test]
fn coroutines_continue_across_budget_slices() {
    let mut lua = Lua::new();
    let (whole, n) = run_sliced(&mut lua, PROGRAM, 100_000_000);
    assert_eq!(n, 1);
    let whole = whole.unwrap();
    let expect = texts(&mut lua, &whole);
    assert_eq!(expect[0], "2460");
    assert_eq!(expect[2], "1,2,3,4,5,end");
    assert_eq!(
        expect[3],
        "user_script:26: attempt to index local 't' (a nil value)"
    );
    assert_eq!(expect[4], "dead");
    // every budget size cuts the run at different instructions, inside and
    // outside the coroutines: the results do not change
    for budget in [1, 2, 3, 5, 7, 11, 64, 997] {
        let (r, slices) = run_sliced(&mut lua, PROGRAM, budget);
        let r = r.unwrap();
        assert!(slices >= 5, "budget {budget}: {slices} slices");
        assert_eq!(texts(&mut lua, &r), expect, "budget {budget}");
    }
}

#[test]
fn a_loop_inside_a_coroutine_yields_and_is_killed() {
    for src in [
        "local co = coroutine.create(function() while true do end end) coroutine.resume(co) return 'not reached'",
        "local w = coroutine.wrap(function() coroutine.yield(1) local i = 0 while true do i = i + 1 end end) w() w()",
        // nested three levels deep, under pcall
        "return pcall(coroutine.wrap(function() return coroutine.wrap(function() return coroutine.resume(coroutine.create(function() while true do end end)) end)() end))",
    ] {
        let mut lua = Lua::new();
        let f = lua.load(src.as_bytes(), "@user_script").unwrap();
        let mut call = lua.start(f, vec![]);
        for _ in 0..5 {
            assert!(matches!(lua.resume(&mut call, &mut (), 10_000), Step::Yielded));
        }
        // where it stopped: inside the coroutine's loop
        assert_eq!(
            lua.current_position(),
            Some((b"@user_script".to_vec(), 1))
        );
        lua.kill(&mut call, "ERR Script killed by user with SCRIPT KILL...");
        match lua.resume(&mut call, &mut (), 10_000) {
            Step::Done(Err(e)) => assert_eq!(e.kind, ErrorKind::Killed),
            other => panic!("unexpected {:?}", other),
        }
        // the interpreter is whole again: the main thread runs, and new
        // coroutines work
        let (r, _) = run_sliced(
            &mut lua,
            "local w = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end) return w(1), w(21), coroutine.running()",
            1_000,
        );
        assert_eq!(
            r.unwrap(),
            vec![Value::Number(2.0), Value::Number(42.0), Value::Nil]
        );
    }
}

#[test]
fn dead_and_dropped_coroutines_are_collected() {
    let mut lua = Lua::new();
    let src = r#"
        local n = 0
        for i = 1, 5000 do
          local co = coroutine.create(function(a) local t = {a, {}} coroutine.yield(t) return a end)
          coroutine.resume(co, i)              -- left suspended
          local w = coroutine.wrap(function() return i end)
          n = n + w()                          -- dead
        end
        return n
    "#;
    let f = lua.load(src.as_bytes(), "@user_script").unwrap();
    lua.pin(f);
    let r = lua.call(f, vec![], &mut ()).unwrap();
    assert_eq!(r, vec![Value::Number(12502500.0)]);
    lua.collect();
    let first = lua.memory_bytes();
    for _ in 0..20 {
        lua.call(f, vec![], &mut ()).unwrap();
    }
    lua.collect();
    let end = lua.memory_bytes();
    assert!(
        end < first + (64 << 10),
        "memory grew from {first} to {end}"
    );
}

#[test]
fn a_closure_outliving_its_suspended_coroutine_keeps_the_value() {
    let mut lua = Lua::new();
    let src = r#"
        local fs = {}
        for i = 1, 300 do
          local co = coroutine.create(function() local v = i * 10 fs[i] = function() v = v + 1 return v end coroutine.yield() end)
          coroutine.resume(co)
        end
        return function() local s = 0 for i = 1, 300 do s = s + fs[i]() end return s end
    "#;
    let f = lua.load(src.as_bytes(), "@user_script").unwrap();
    let r = lua.call(f, vec![], &mut ()).unwrap();
    let sum = r[0];
    lua.pin(sum);
    // the suspended coroutines are unreachable now: collected, their open
    // upvalues closed over the last values
    lua.collect();
    let r = lua.call(sum, vec![], &mut ()).unwrap();
    assert_eq!(
        r,
        vec![Value::Number(
            (1..=300).map(|i| i * 10 + 1).sum::<i64>() as f64
        )]
    );
    lua.collect();
    let r = lua.call(sum, vec![], &mut ()).unwrap();
    assert_eq!(
        r,
        vec![Value::Number(
            (1..=300).map(|i| i * 10 + 2).sum::<i64>() as f64
        )]
    );
}

#[test]
fn the_host_drives_a_generator() {
    let mut lua = Lua::new();
    let r = lua
        .exec(
            b"return coroutine.wrap(function(a) while true do a = coroutine.yield(a * 2) end end), coroutine.yield",
            "=host",
            &mut (),
        )
        .unwrap();
    let (gen, yield_) = (r[0], r[1]);
    lua.pin(gen);
    for i in 1..=5 {
        let r = lua
            .call(gen, vec![Value::Number(i as f64)], &mut ())
            .unwrap();
        assert_eq!(r, vec![Value::Number(2.0 * i as f64)]);
    }
    // the main thread cannot yield
    let e = lua.call(yield_, vec![], &mut ()).unwrap_err();
    assert_eq!(
        lua.error_string(&e),
        "attempt to yield across metamethod/C-call boundary"
    );
}
