//! Rough speed figures (run: cargo test --release -p cachelab-lua --test bench -- --ignored --nocapture).
use cachelab_lua::Lua;
use std::time::Instant;

const PROGRAMS: &[(&str, &str)] = &[
    ("loop 10M additions", "local s = 0 for i = 1, 10000000 do s = s + i end return s"),
    ("fib(25)", "local function fib(n) if n < 2 then return n end return fib(n-1) + fib(n-2) end return fib(25)"),
    ("string concat/format 200k", "local t = {} for i = 1, 200000 do t[#t+1] = string.format('%d:%s', i, 'x' .. i) end return #table.concat(t)"),
    ("table insert/sort 200k", "local t = {} for i = 1, 200000 do t[i] = (i * 7919) % 100003 end table.sort(t) return t[1]"),
    ("5-call script x100k", "local function call(...) return select('#', ...) end for i = 1, 100000 do local n = 0 for j = 1, 5 do n = n + call('GET', 'key:' .. j) end end return 1"),
    ("coroutine generator 200k", "local gen = coroutine.wrap(function() for i = 1, 200000 do coroutine.yield(i) end end) local s = 0 for v in gen do s = s + v end return s"),
    ("100k coroutines created", "local n = 0 for i = 1, 100000 do local co = coroutine.create(function(a) return a + 1 end) local _, v = coroutine.resume(co, i) n = n + v end return n"),
];

#[test]
#[ignore]
fn bench_vs_lua51() {
    for (name, src) in PROGRAMS {
        let mut lua = Lua::new();
        let f = lua.load(src.as_bytes(), "@bench").unwrap();
        let t0 = Instant::now();
        let r = lua.call(f, vec![], &mut ()).unwrap();
        let ours = t0.elapsed();
        let t1 = Instant::now();
        let out = std::process::Command::new("lua5.1")
            .arg("-e")
            .arg(format!("print((function() {} end)())", src))
            .output();
        let theirs = t1.elapsed();
        let theirs_out = out
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        println!(
            "{:28} ours {:>8.1} ms   lua5.1 {:>8.1} ms   (result {:?} / {})",
            name,
            ours.as_secs_f64() * 1e3,
            theirs.as_secs_f64() * 1e3,
            lua.to_bytes(r[0])
                .map(|b| String::from_utf8_lossy(&b).into_owned()),
            theirs_out
        );
    }
}
