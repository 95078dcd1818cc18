mod common;

#[test]
fn smoke() {
    let src = r#"
print(1, 2.5, "x", nil, true, 1/3, 1e100, -0.0, 2^53)
local t = {}
for i = 1, 10 do t[i] = i * i end
print(#t, t[3])
local function fib(n) if n < 2 then return n end return fib(n-1) + fib(n-2) end
print(fib(20))
print(string.format("%5.2f|%d|%s|%q", 3.14159, 42, "hi", "a\nb"))
print(("hello"):upper(), string.rep("ab", 3), ("x"):byte())
print(pcall(error, "boom"))
print(pcall(function() local x = nil; return x.y end))
print(select('#', 1, 2, 3), select(2, 'a', 'b', 'c'))
for k, v in pairs({a=1, b=2, c=3}) do print(k, v) end
print(string.find("hello world", "o w"), string.match("key=val", "(%w+)=(%w+)"))
print(string.gsub("hello world", "o", "0"))
print(tostring(nil), tonumber("0x10"), tonumber("  12  "), tonumber("z", 36))
local s = 0
for i = 1, 100 do s = s + i end
print(s)
print(table.concat({1, 2, 3}, ","))
local tt = {5, 2, 8, 1}
table.sort(tt)
print(table.concat(tt, " "))
print(#"abc", "a" .. 1 .. 2)
"#;
    let ours = common::run_ours(src);
    println!("{}", ours);
    if common::have_reference() {
        assert_eq!(ours, common::run_reference(src));
    }
}
