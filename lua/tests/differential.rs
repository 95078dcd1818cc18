//! Differential tests: every snippet runs through this crate and through the
//! reference `lua5.1` binary; printed output (and error texts) must be identical.
mod common;

const CORPUS: &[&str] = &[
    // numbers and formatting
    r##"print(1, -1, 0.1, 1/3, 2/3, 1e15, 1e14, 123456789012345, 2^63, -2^63, 1e-5, 5e-324, 1/0, -1/0, 3 % -2, -3 % 2, 5.5 % 2, 2^0.5, 10/2)"##,
    r##"print(0x10, 0xff, 1e2, .5, 5., 3e-2, 0x7fffffff, 100000000000000, 99999999999999)"##,
    r##"print("10" + 5, "3" * "4", 10 .. 20, "0x10" + 0, " 5 " * 2, -"2", "1e1" + 0)"##,
    r##"print(pcall(function() return "abc" + 1 end))"##,
    r##"print(pcall(function() return {} .. "x" end))"##,
    r##"print(math.floor(3.7), math.ceil(3.2), math.abs(-4), math.max(1, 5, 3), math.min(4, 2, 8), math.huge, -math.huge, math.pi)"##,
    r##"print(math.fmod(7, 3), math.fmod(-7, 3), math.modf(3.7), math.modf(-3.7), math.sqrt(16), math.pow(2, 10), math.exp(0), math.log(1), math.log10(1000))"##,
    r##"print(math.frexp(8), math.ldexp(0.5, 4), math.deg(math.pi), math.rad(180))"##,
    r##"print(tonumber("10"), tonumber("10.5"), tonumber("  0x1A  "), tonumber("1e"), tonumber(""), tonumber(" "), tonumber("abc"), tonumber(nil), tonumber(true))"##,
    r##"print(tonumber("ff", 16), tonumber("777", 8), tonumber("zz", 36), tonumber("102", 2), tonumber("11", 2), tonumber("-ff", 16), tonumber("8", 8))"##,
    r##"print(pcall(tonumber, "1", 1)) print(pcall(tonumber)) print(tonumber("1e500"), tonumber("-1e500"), tonumber("0x"), tonumber("1 2"))"##,
    r##"print(2^31, 2^32 + 1, -2^31 - 1, 1e300 * 1e10, 123.456e2, 0.1 + 0.2, 100 / 3)"##,
    r##"print(string.format("%d %5d %-5d| %05d %+d %x %X %o %#x %c%c", 42, 42, 42, 42, 42, 255, 255, 8, 255, 72, 105))"##,
    r##"print(string.format("%f %.2f %10.3f %-10.1f| %e %.3E %g %g %g %G", 3.14159, 3.14159, 3.14159, 3.14159, 12345.678, 0.00012, 100000, 1e20, 0.0001, 1e-10))"##,
    r##"print(string.format("%s %10s %-10s| %.2s %q", "hi", "hi", "hi", "hello", 'a"b\\c\0d\r\n'))"##,
    r##"print(string.format("%5.1s|%%|%i", "abc", 7), pcall(string.format, "%y", 1)) print(pcall(string.format, "%d")) print(string.format("%d", 3.9), string.format("%d", -3.9))"##,
    r##"print(string.format("%.14g", 0.1), string.format("%.3f", 2.0005), string.format("%5.2g", 0.000123456), string.format("%#o %#.3g", 8, 1))"##,
    // strings
    r##"print(("hello"):len(), #"", ("abc"):rep(3), ("abc"):rep(0), ("Hello"):lower(), ("Hello"):upper(), ("abc"):reverse())"##,
    r##"print(("hello"):sub(2), ("hello"):sub(2, 3), ("hello"):sub(-3), ("hello"):sub(-3, -2), ("hello"):sub(0), ("hello"):sub(10), ("hello"):sub(3, 1), ("hello"):sub(-100, 2))"##,
    r##"print(("hello"):byte(), ("hello"):byte(2, 4), ("hello"):byte(-1), ("hello"):byte(10), string.char(72, 101, 108), pcall(string.char, 256))"##,
    r##"print(string.find("hello", "l"), string.find("hello", "xyz"), string.find("hello", ""), string.find("hello", "", 10), string.find("a.b", ".", 1, true), string.find("abc", "b", -1))"##,
    r##"print(string.find("hello world", "(o)(r)"), string.find("abc", "()b()"), string.match("hello", ".-(l+)(.*)"), string.match("  trim  ", "^%s*(.-)%s*$"))"##,
    r##"print(string.match("2024-01-15", "(%d+)-(%d+)-(%d+)"), string.match("abc", "%a+"), string.match("x=1, y=2", "y=(%d)"), string.match("hello", "^h"), string.match("hello", "^e"))"##,
    r##"print(string.gsub("hello world", "(%w+)", "<%1>"), string.gsub("abc", "", "-"), string.gsub("abc", "b*", "X"), string.gsub("hello", "l", "L", 1))"##,
    r##"print(string.gsub("$name is $age", "%$(%w+)", {name="bob", age=42}), string.gsub("abc", "%w", function(c) return c:upper() .. "." end), string.gsub("abc", "(a)(b)", "%2%1%0%%"))"##,
    r##"print(string.gsub("hello", "(l)", function() return nil end), string.gsub("hello", "l", false), pcall(string.gsub, "x", "x", "%2"))"##,
    r##"for w in string.gmatch("one two  three", "%a+") do io.write(w, ";") end print() for k, v in string.gmatch("a=1, b=2", "(%w+)=(%w+)") do print(k, v) end"##,
    r##"print(string.find("THE (quick) fox", "%((%a+)%)"), string.match("[[x]]", "%[%[(.-)%]%]"), string.match("f(a(b)c)d", "%b()"), string.find("THE", "%u+"), string.match("a1b2", "%d"), string.match("x", "[%a_][%w_]*"))"##,
    r##"print(string.match("hello", "l?l"), string.match("aaab", "a-b"), string.match("aaa", "a*"), string.match("", "a*"), string.match("abc", "[^a]+"), string.match("a-b", "[a-]+"), string.match("]]", "[]]+"))"##,
    r##"print(string.find("THE (quick) fox", "%f[%a]%a+"), string.gsub("THE (quick) fox", "%f[%a]%a+", "W"), string.match("hello", "(h)(e)(l)(l)(o)"))"##,
    r##"print(pcall(string.find, "a", "%")) print(pcall(string.find, "a", "[a")) print(pcall(string.find, "a", "(a")) print(pcall(string.find, "a", "a)")) print(pcall(string.match, "a", "%1")) print(pcall(string.find, "a", "%f"))"##,
    r##"print(pcall(string.rep)) print(pcall(string.sub)) print(pcall(("x").rep, "x")) print(pcall(string.upper, {}))"##,
    r##"print(("%d items"):format(5), ("x"):rep(3, ","), #string.format("%s", string.rep("a", 150)), string.format("%-5s|", "ab"), string.format("[%10.4f]", math.pi))"##,
    r##"print("a\tb\\n\"", 'single\'s', "\65\066\0067", "\x", [[long
string]], [==[with ]] inside]==], "\z")"##,
    r##"print("abc" < "abd", "abc" < "ab", "" < "a", "Z" < "a", "a\0b" < "a\0c", "10" < "9")"##,
    // tables, length, pairs order
    r##"local t = {1, 2, 3, nil, 5} print(#t) t = {1, 2, nil, 4} print(#t) t = {nil, nil, 3} print(#t) t = {} t[1]=1 t[2]=2 t[4]=4 print(#t)"##,
    r##"local t = {} for i = 1, 10 do t[i] = i end t[5] = nil print(#t) t[10] = nil print(#t) t[9] = nil t[8] = nil print(#t)"##,
    r##"local t = {10, 20, 30, x = 1, y = 2, z = 3, [1.5] = "f", [-1] = "neg", [0] = "zero"} for k, v in pairs(t) do print(k, v) end"##,
    r##"local t = {} for i = 1, 20 do t["k" .. i] = i end for k, v in pairs(t) do io.write(k, "=", v, " ") end print()"##,
    r##"local t = {} for i = 20, 1, -1 do t[i * 3] = i end for k, v in pairs(t) do io.write(k, "=", v, " ") end print()"##,
    r##"local t = {a = 1, b = 2, c = 3, d = 4, e = 5} t.b = nil t.f = 6 t.g = 7 for k, v in pairs(t) do io.write(k, v, " ") end print() print(next({}), next({5}))"##,
    r##"local t = {"a", "b", "c", d = "x", [100] = "h", [3.5] = "q"} for i, v in ipairs(t) do io.write(i, v, " ") end print() print(table.maxn(t), #t)"##,
    r##"local t = {} t[1] = 1 t[100] = 100 t[2] = 2 t[50] = 50 t[3] = 3 for k, v in pairs(t) do io.write(k, " ") end print(#t)"##,
    r##"local t = {} for i = 1, 100 do t[i] = i end for i = 1, 90 do t[i] = nil end for k in pairs(t) do io.write(k, " ") end print(#t)"##,
    r##"local keys = {"apple", "banana", "cherry", "date", "elderberry", "fig", "grape", "KEYS", "ARGV", "redis", "x", "y", "foo:bar", "user:1000"} local t = {} for i, k in ipairs(keys) do t[k] = i end for k, v in pairs(t) do io.write(k, " ") end print()"##,
    r##"local t = {1, 2, 3} table.insert(t, 4) table.insert(t, 1, 0) print(table.concat(t, ",")) print(table.remove(t), table.remove(t, 1), table.concat(t, ",")) print(table.remove({}), #t)"##,
    r##"print(pcall(table.insert, {}, 1, 2, 3)) print(pcall(table.concat, {1, {}, 3})) print(table.concat({}, "x"), table.concat({1, 2, 3}, ", ", 2, 3), table.concat({"a"}, ",", 1, 1))"##,
    r##"local t = {5, 3, 8, 1, 9, 2, 7, 4, 6, 0} table.sort(t) print(table.concat(t, " ")) table.sort(t, function(a, b) return a > b end) print(table.concat(t, " "))"##,
    r##"local t = {} for i = 1, 30 do t[i] = {k = i % 4, id = i} end table.sort(t, function(a, b) return a.k < b.k end) for _, v in ipairs(t) do io.write(v.k, ":", v.id, " ") end print()"##,
    r##"local t = {"banana", "apple", "Cherry", "apple", "date", "Apple"} table.sort(t) print(table.concat(t, " ")) print(pcall(table.sort, {1, "x", 2}))"##,
    r##"local t = {3, 1, 2} print(pcall(table.sort, t, function(a, b) return true end)) local u = {} for i = 1, 50 do u[i] = (i * 7) % 13 end table.sort(u, function(a, b) return a <= b end) print(table.concat(u, ","))"##,
    r##"print(unpack({1, 2, 3})) print(unpack({1, 2, 3}, 2)) print(unpack({1, 2, 3}, 2, 3)) print(unpack({}, 1, 0)) print(select("#", unpack({1, nil, 3})))"##,
    // metatables
    r##"local mt = {__index = function(t, k) return k .. "!" end} local t = setmetatable({}, mt) print(t.foo, t[1], rawget(t, "foo"))"##,
    r##"local base = {greet = function(self) return "hi " .. self.name end} local obj = setmetatable({name = "bob"}, {__index = base}) print(obj:greet())"##,
    r##"local log = {} local t = setmetatable({}, {__newindex = function(t, k, v) rawset(t, k, v * 2) end}) t.a = 5 print(t.a) local p = {} local u = setmetatable({}, {__newindex = p}) u.x = 1 print(rawget(u, "x"), p.x)"##,
    r##"local V = {} V.__index = V V.__add = function(a, b) return setmetatable({x = a.x + b.x}, V) end V.__eq = function(a, b) return a.x == b.x end V.__lt = function(a, b) return a.x < b.x end V.__le = function(a, b) return a.x <= b.x end V.__tostring = function(v) return "V(" .. v.x .. ")" end V.__concat = function(a, b) return tostring(a) .. "|" .. tostring(b) end V.__unm = function(a) return setmetatable({x = -a.x}, V) end V.__call = function(self, y) return self.x + y end local a, b = setmetatable({x = 1}, V), setmetatable({x = 2}, V) print(tostring(a + b), a == b, a < b, a <= b, a > b, tostring(-a), a .. b, a .. "s", a(10))"##,
    r##"local t = setmetatable({}, {__metatable = "locked"}) print(getmetatable(t), pcall(setmetatable, t, {})) print(getmetatable("abc").__index == string)"##,
    r##"local t = setmetatable({}, {__index = function(t, k) return k * 2 end, __len = function() return 99 end}) print(t[21], #t)"##,
    r##"local mt = {__mul = function(a, b) return "mul" end, __div = function() return "div" end, __mod = function() return "mod" end, __pow = function() return "pow" end, __sub = function() return "sub" end} local t = setmetatable({}, mt) print(t * 2, 2 / t, t % 1, t ^ 2, 1 - t)"##,
    r##"local a = setmetatable({}, {__eq = function() return true end}) local b = setmetatable({}, {__eq = function() return true end}) print(a == b, a ~= b, a == a) local c = setmetatable({}, getmetatable(a)) print(a == c)"##,
    r##"print(rawequal("a", "a"), rawequal({}, {}), rawlen == nil, rawset({}, "a", 1).a, pcall(rawset, {}, nil, 1))"##,
    // closures, upvalues, varargs
    r##"local function counter() local n = 0 return function() n = n + 1 return n end end local c1, c2 = counter(), counter() print(c1(), c1(), c2(), c1())"##,
    r##"local fs = {} for i = 1, 3 do fs[i] = function() return i end end print(fs[1](), fs[2](), fs[3]()) local gs = {} local j = 0 while j < 3 do j = j + 1 local k = j gs[j] = function() return k end end print(gs[1](), gs[3]())"##,
    r##"local function shared() local x = 0 local function inc() x = x + 1 end local function get() return x end return inc, get end local inc, get = shared() inc() inc() print(get())"##,
    r##"local function f(...) return select("#", ...), ... end print(f()) print(f(nil)) print(f(1, nil, 3)) print((f(1, 2)))"##,
    r##"local function f(a, b, ...) local t = {...} return a, b, #t, ... end print(f(1)) print(f(1, 2, 3, 4)) local function g(...) local a, b = ... return a, b end print(g(9))"##,
    r##"local function f(...) return arg end print(f) local function h(...) local t = arg return t and t.n end print(h(1, 2, 3))"##,
    r##"local function mr() return 1, 2, 3 end local t = {mr(), mr()} print(#t) t = {mr(), (mr())} print(#t) print(mr(), "x") print((mr())) local a, b, c, d = mr() print(a, b, c, d)"##,
    r##"local a, b, c = (function() return 1, 2 end)() print(a, b, c) local x, y = 1 print(x, y) local p, q = 1, 2, 3 print(p, q) a, b = b, a print(a, b)"##,
    r##"local t = {} t.x, t.y = 1, 2 local i = 1 i, t[i] = i + 1, 20 print(i, t[1], t[2], t.x, t.y)"##,
    // control flow
    r##"for i = 10, 1, -3 do io.write(i, " ") end print() for i = 1, 0 do print("never") end for i = 1, 3, 0.5 do io.write(i, " ") end print() for i = 1.0, 2 do io.write(i, " ") end print()"##,
    r##"local i = 0 repeat local j = i i = i + 1 until j >= 3 print(i) while true do i = i + 1 if i > 10 then break end end print(i)"##,
    r##"for i = 1, 3 do for j = 1, 3 do if j == 2 then break end io.write(i, j, " ") end end print() local n = 0 for k, v in pairs({1, 2, 3}) do n = n + v end print(n)"##,
    r##"local x = 5 if x > 3 then print("big") elseif x > 1 then print("mid") else print("small") end print(x > 3 and "yes" or "no", nil and 1, false or nil, 1 and 2, nil or false, not nil, not 0)"##,
    r##"print(1 < 2, 1 <= 1, 2 > 1, "a" == "a", 1 == 1.0, nil == false, 1 ~= 2, not (1 == 2), 2^3^2, -2^2, 1 .. 2 == "12", 1 + 2 * 3 - 4 / 2, (1 + 2) * 3, 7 % 3 * 2, "a" .. "b" .. "c" == "abc")"##,
    r##"print(pcall(function() for i = "a", 2 do end end)) print(pcall(function() for i = 1, {} do end end)) print(pcall(function() for i = 1, 2, nil do end end)) for i = "1", "2" do io.write(i, " ") end print()"##,
    r##"local t = {} local function f() return t end f().x = 1 print(t.x) local s = "x" print(#s, s:len(), ("%s"):format(1))"##,
    // errors
    r##"print(pcall(error, "msg")) print(pcall(error, "msg", 0)) print(pcall(error, "msg", 2)) print(pcall(error)) print(pcall(error, nil)) print(pcall(error, {code = 1}))"##,
    r##"local function lvl1() error("deep", 1) end local function lvl2() error("deeper", 2) end print(pcall(lvl1)) print(pcall(lvl2)) print(pcall(function() lvl2() end))"##,
    r##"print(pcall(function() local t = nil; t.x = 1 end)) print(pcall(function() undefinedfn() end)) print(pcall(function() local t = {} t.a.b = 1 end))"##,
    r##"print(pcall(function() local a = {} return a.b.c end)) print(pcall(function() return 1 + nil end)) print(pcall(function() return {} < {} end)) print(pcall(function() return 1 < "2" end))"##,
    r##"local up = {} print(pcall(function() return "x" .. up end)) print(pcall(function() return #nil end)) print(pcall(function() return -{} end)) print(pcall(function() local s = "x" return s.y.z end))"##,
    r##"t = {} print(pcall(function() return t.x.y end)) print(pcall(function() return t:nomethod() end)) print(pcall(function() return ("x"):nomethod() end)) print(pcall(function() t[nil] = 1 end)) print(pcall(function() t[0/0] = 1 end))"##,
    r##"print(pcall(function() local a = 1 return a.x end)) print(pcall(function() return math.foo.bar end)) print(pcall(function() return nil .. "x" end)) print(pcall(function() return 2 ^ {} end)) print(pcall(function() local t = {} return t[1][2] end))"##,
    r##"print(select(2, pcall(error, setmetatable({}, {__tostring = function() return "custom" end)))) print(xpcall(function() error("oops") end, function(m) return "handled: " .. m end)) print(xpcall(function() return 1, 2 end, print))"##,
    r##"print(pcall(pcall)) print(pcall(pcall, error, "x")) print(pcall(function() error() end)) print(pcall(assert, false)) print(pcall(assert, nil, "custom msg")) print(pcall(assert, 1, 2, 3))"##,
    r##"print(pcall(ipairs)) print(pcall(setmetatable, 1, {})) print(pcall(string.rep, "x", "y")) print(pcall(table.insert, nil, 1)) print(pcall(select, 0)) print(pcall(("x").bad))"##,
    r##"local ok, e = pcall(function() local x = {} + 1 end) print(e) ok, e = pcall(function() local y = 1 y() end) print(e) ok, e = pcall(function() local z = {} z.f() end) print(e)"##,
    r##"local u = nil local function f() return u.field end print(pcall(f)) local function g() u() end print(pcall(g)) print(pcall(function() return #u end))"##,
    r##"print(pcall(next, {}, "nokey")) print(pcall(function() return 1 .. {} end)) print(pcall(string.format, "%d", "x")) print(pcall(math.floor, "a"))"##,
    // syntax errors
    r##"print(loadstring("x = = 1")) print(loadstring("x = 1 +")) print(loadstring("function f() return 1")) print(loadstring("if x then")) print(loadstring("local 1 = 2"))"##,
    r##"print(loadstring("x = 'unfinished")) print(loadstring("x = [[unfinished")) print(loadstring("x = 1 1")) print(loadstring("return return")) print(loadstring("for i = 1 do end")) print(loadstring("x = }"))"##,
    r##"print(loadstring("f(\n)")) print(loadstring("break")) print(loadstring("x = '\\300'")) print(loadstring("x = 3..2")) print(loadstring("local t = {1, 2,, 3}")) print(loadstring("a.b:c = 1"))"##,
    r##"print(loadstring("x = (1")) print(loadstring("do local x")) print(loadstring("while true do")) print(loadstring("repeat x = 1")) print(loadstring("return ...", "=name")) print(loadstring("function f() return ... end"))"##,
    r##"print(loadstring(string.rep("(", 300) .. "1" .. string.rep(")", 300))) print(loadstring("x = " .. string.rep("{", 300))) print(loadstring("--[[ unfinished")) print(loadstring("x = [==[ a ]=] ]==] print(x)"))"##,
    r##"local f = loadstring("return 1 + 1") print(f()) print(loadstring("syntax error here", "=custom")) print(loadstring("x = ", "@file.lua")) print(loadstring("x = !"))"##,
    // misc builtins
    r##"print(type(nil), type(1), type("s"), type({}), type(print), type(true), pcall(type)) print(select(-1, 1, 2, 3), pcall(select, -5, 1))"##,
    r##"print(tostring(1e15), tostring(-0), tostring(1/0), tostring(true), tostring("x"), #tostring(print) > 0, #tostring({}) > 0)"##,
    r##"local t = {} t[1.0] = "a" t[2] = "b" print(t[1], #t, t[2.0]) t[2^53] = "big" print(t[2^53]) local k = {} t[k] = "tbl" print(t[k])"##,
    r##"print(string.format("%s", 1.5), string.format("%s", 10), 7 // 1)"##,
    r##"local a = {} a[1], a[2], a[3] = 1, 2, 3 print(#a) local s = 0 for _, v in ipairs(a) do s = s + v end print(s) print(_VERSION, _G._G == _G, _G.print == print)"##,
    r##"x = 10 local function f() return x end print(f(), _G.x) _G.y = 5 print(y) print(rawget(_G, "x"))"##,
    r##"print(string.format("%q", 1/3), string.format("%.20f", 0.1), string.format("%5s|%-5d|%5.1f", "ab", 3, 2.25))"##,
    r##"local t = setmetatable({}, {__index = string}) print(t.format("%d", 5)) print(("test"):find("t", 2), ("a,b,c"):gsub(",", ";"))"##,
    r##"print(math.max(0/0, 1) ~= math.max(0/0, 1), math.floor(-0.5), math.ceil(-0.5), 0/0 ~= 0/0, math.huge > 1e308)"##,
    r##"local n = 0 for k, v in next, {1, 2, 3} do n = n + k end print(n) print(pcall(function() for k in next, 5 do end end))"##,
    // coroutines
    // resume/yield passing values both ways, statuses
    r##"local co = coroutine.create(function(a, b) print("start", a, b) local c = coroutine.yield(a + b) print("got", c) local d, e = coroutine.yield(c * 2) print("got2", d, e) return "end", 99 end)
print(type(co), coroutine.status(co)) print(coroutine.resume(co, 1, 2)) print(coroutine.status(co)) print(coroutine.resume(co, 10)) print(coroutine.resume(co, "x", "y")) print(coroutine.status(co)) print(coroutine.resume(co)) print(coroutine.resume(co))"##,
    // varargs and nils through resume/yield/wrap
    r##"local co = coroutine.create(function(...) print("args", select('#', ...), ...) local x, y = coroutine.yield(1, nil, 3) print("got", x, y) local t = {coroutine.yield()} return #t, select('#', coroutine.yield(unpack(t))) end)
print(coroutine.resume(co, "a", nil, "b", nil)) print(coroutine.resume(co, "c")) print(coroutine.resume(co, 1, 2, 3)) print(coroutine.resume(co, nil, nil, nil)) print(coroutine.status(co))
local w = coroutine.wrap(function(...) return ... end) print(w(1, nil, 3)) print(select('#', coroutine.wrap(function() end)()))
local yy = coroutine.wrap(function() return coroutine.yield(coroutine.yield(1)) end) print(yy(), yy(2), yy(3))"##,
    // generators: ranges, pipelines, permutations, an endless generator
    r##"local function range(n) return coroutine.wrap(function() for i = 1, n do coroutine.yield(i, i * i) end end) end
for i, sq in range(5) do io.write(i, ":", sq, " ") end print()
local function filter(pred, gen) return coroutine.wrap(function() for v in gen do if pred(v) then coroutine.yield(v) end end end) end
local function map(f, gen) return coroutine.wrap(function() for v in gen do coroutine.yield(f(v)) end end) end
local t = {} for v in map(function(x) return x * 10 end, filter(function(x) return x % 2 == 0 end, range(12))) do t[#t + 1] = v end print(table.concat(t, ","))
local function permgen(a, n) n = n or #a if n <= 1 then coroutine.yield(a) else for i = 1, n do a[n], a[i] = a[i], a[n] permgen(a, n - 1) a[n], a[i] = a[i], a[n] end end end
for p in coroutine.wrap(function() permgen({"a", "b", "c"}) end) do io.write(table.concat(p), " ") end print()
local fib = coroutine.wrap(function() local a, b = 0, 1 while true do coroutine.yield(a) a, b = b, a + b end end) for i = 1, 15 do io.write(fib(), " ") end print()"##,
    // status from inside and outside: running, normal, suspended, dead; running()
    r##"local co co = coroutine.create(function() print("inside", coroutine.status(co), coroutine.running() == co) return coroutine.resume(co) end)
print(coroutine.resume(co)) print(coroutine.status(co), coroutine.running())
local a, b
a = coroutine.create(function() return coroutine.resume(b) end)
b = coroutine.create(function() print("b sees", coroutine.status(a), coroutine.status(b)) return coroutine.resume(a) end)
print(coroutine.resume(a)) print(coroutine.status(a), coroutine.status(b))
local C3, B3, A3
C3 = coroutine.create(function() print("C:", coroutine.status(A3), coroutine.status(B3), coroutine.status(C3)) coroutine.yield("c") return "c-done" end)
B3 = coroutine.create(function() print("B:", coroutine.resume(C3)) coroutine.yield("b") print("B:", coroutine.resume(C3)) return "b-done" end)
A3 = coroutine.create(function() print("A:", coroutine.resume(B3)) print("A:", coroutine.resume(B3)) return coroutine.running() == A3 end)
print(coroutine.resume(A3)) print(coroutine.status(A3), coroutine.status(B3), coroutine.status(C3))
print(select('#', coroutine.running()), coroutine.running())"##,
    // errors: dead coroutines, wrap re-raising with position, error objects, levels
    r##"local f = coroutine.wrap(function() end) f()
print(pcall(f)) print(pcall(function() f() end))
local g = coroutine.wrap(function() error("boom") end) print(pcall(function() g() end))
local h = coroutine.wrap(function() error("boom", 0) end) print(pcall(function() h() end))
local h2 = coroutine.wrap(function() error({code = 7}) end) local ok, e = pcall(function() h2() end) print(ok, type(e), e.code)
local h3 = coroutine.wrap(function() error(42) end) print(pcall(function() h3() end))
local h4 = coroutine.wrap(function() error(42, 0) end) print(pcall(function() h4() end))
local h5 = coroutine.wrap(function() local x x() end) print(pcall(h5))
print(coroutine.resume(coroutine.create(function() error("x", 2) end)))
print(coroutine.resume(coroutine.create(function() error() end)))
print(coroutine.resume(coroutine.create(function() local t = nil return t.field end)))
print(coroutine.resume(coroutine.create(function() error(setmetatable({}, {__tostring = function() return "custom" end})) end)))
for x in coroutine.wrap(function() coroutine.yield(1) error("in loop") end) do print("x", x) end"##,
    // argument errors, yield from the main thread, threads in expressions
    r##"print(pcall(coroutine.status)) print(pcall(coroutine.status, {})) print(pcall(coroutine.resume)) print(pcall(coroutine.resume, 1))
print(pcall(coroutine.wrap)) print(pcall(coroutine.create)) print(pcall(coroutine.create, print)) print(pcall(coroutine.wrap, string.len))
print(pcall(function() coroutine.create(1) end)) print(pcall(function() coroutine.wrap({}) end)) print(pcall(function() coroutine.resume("x") end)) print(pcall(function() coroutine.status(nil) end))
print(pcall(coroutine.yield, 1)) print(pcall(function() coroutine.yield() end)) print(pcall(function() local t = coroutine.create(print ~= nil and function() end) return t .. "x" end))
local c = coroutine.create(function() end) print(pcall(function() return c < c end)) print(pcall(function() return c.x end)) print(pcall(function() c() end)) print(pcall(function() return #c end)) print(pcall(function() return -c end))"##,
    // yields refused across metamethods (__call is not a C boundary)
    r##"local function try(f) local co = coroutine.create(f) print(coroutine.resume(co)) print(coroutine.status(co)) end
try(function() local t = setmetatable({}, {__index = function(t, k) return coroutine.yield(k) end}) return t.x end)
try(function() local t = setmetatable({}, {__add = function(a, b) coroutine.yield() end}) return t + 1 end)
try(function() local t = setmetatable({}, {__newindex = function() coroutine.yield() end}) t.x = 1 end)
try(function() local t = setmetatable({}, {__eq = function() coroutine.yield() end}) return t == setmetatable({}, getmetatable(t)) end)
try(function() local t = setmetatable({}, {__concat = function() coroutine.yield() end}) return t .. "x" end)
try(function() local t = setmetatable({}, {__lt = function() coroutine.yield() end}) return t < t end)
try(function() local t = setmetatable({}, {__index = coroutine.yield}) return t.x end)
try(function() local t = setmetatable({}, {__call = function(self, a) return coroutine.yield(a) end}) return t(5) end)
try(function() return tostring(setmetatable({}, {__tostring = function() coroutine.yield() return "x" end})) end)"##,
    // yields refused across sort/gsub callbacks, pcall, xpcall, for iterators
    r##"local function try(f) local co = coroutine.create(f) print(coroutine.resume(co)) print(coroutine.status(co)) end
try(function() table.sort({3, 2, 1}, function(a, b) coroutine.yield() return a < b end) end)
try(function() return string.gsub("abc", "%w", function(c) coroutine.yield(c) end) end)
try(function() return string.gsub("abc", "%w", coroutine.yield) end)
try(function() return pcall(coroutine.yield, 1) end)
try(function() return pcall(function() coroutine.yield(1) end) end)
try(function() return xpcall(function() coroutine.yield(1) end, function(m) return "H:" .. m end) end)
try(function() return select(2, coroutine.yield(7)) end)
try(function() return loadstring("coroutine.yield(1) return 2")() end)
try(function() for x in coroutine.yield do return x end end)
try(function() for x in function() return coroutine.yield(1) end do return x end end)
try(function() for x in coroutine.wrap(function() coroutine.yield(1) end) do print("it", x) end return "ok" end)
try(function() return pcall(coroutine.wrap(function() coroutine.yield(1, 2) end)) end)
try(function() return pcall(coroutine.wrap(function() error("in") end)) end)"##,
    // upvalues shared between threads, closed when a coroutine ends or fails
    r##"local get, set
local co = coroutine.create(function() local x = 1 get = function() return x end set = function(v) x = v end coroutine.yield() print("in co x =", x) x = x + 100 coroutine.yield() print("in co again x =", x) return x end)
coroutine.resume(co) print(get()) set(5) print(get()) coroutine.resume(co) print(get()) set(7) print(coroutine.resume(co)) print(get()) set(9) print(get(), coroutine.status(co))
local m = 10 local function bump() m = m + 1 return m end
local c2 = coroutine.wrap(function() print("co sees", m) m = 20 coroutine.yield(bump()) print("co sees", m) return bump() end)
print(c2(), m) m = 50 print(c2(), m)
local ga local A = coroutine.create(function() local v = "a1" ga = function(n) if n then v = n end return v end coroutine.yield() return v end)
coroutine.resume(A) local B = coroutine.create(function() print("B reads", ga()) ga("a2") coroutine.yield() print("B reads", ga()) end)
coroutine.resume(B) print(coroutine.resume(A)) print(coroutine.resume(B)) print(ga())
local fs = {} local gen = coroutine.wrap(function() for i = 1, 3 do local j = i * 10 fs[i] = function() j = j + 1 return i, j end coroutine.yield(i) end end)
gen() gen() print(fs[1](), fs[2]()) gen() print(fs[1](), fs[2](), fs[3]())
local peek local E = coroutine.create(function() local z = "before" peek = function() return z end z = "after" error("fail") end)
print(coroutine.resume(E)) print(peek())"##,
    // deep recursion, yields from deep frames, tail calls, stack overflows
    r##"local function sum(n) if n == 0 then return 0 end return n + sum(n - 1) end
local co = coroutine.create(function(n) coroutine.yield(sum(n)) return sum(n * 2) end)
print(coroutine.resume(co, 5000)) print(coroutine.resume(co))
local function walk(n) if n == 0 then local v = coroutine.yield("bottom") return v end return 1 + walk(n - 1) end
local w = coroutine.create(walk) print(coroutine.resume(w, 3000)) print(coroutine.resume(w, 5))
local function tail(n) if n == 0 then return coroutine.yield("tail-bottom") end return tail(n - 1) end
local tc = coroutine.create(tail) print(coroutine.resume(tc, 100000)) print(coroutine.resume(tc, "back")) print(coroutine.status(tc))
local function inf(n) return 1 + inf(n) end
print(coroutine.resume(coroutine.create(inf))) print(coroutine.resume(coroutine.create(function() return pcall(inf) end)))
local function chain(n) if n == 0 then return "bottom" end return coroutine.wrap(function() return chain(n - 1) end)() end
print(chain(150)) local ok, e = pcall(chain, 1000) print(ok, e:match("C stack overflow$"))
local function depth(n) local co = coroutine.create(function() return depth(n + 1) end) local ok, r = coroutine.resume(co) if ok then return r else return n .. ":" .. tostring(r) end end
print(depth(0):match(":(.*)$"))"##,
    // coroutines resumed from callbacks and metamethods; threads as keys
    r##"local gen = coroutine.wrap(function() local i = 0 while true do i = i + 1 coroutine.yield("<" .. i .. ">") end end)
print(string.gsub("a b c", "%a", gen))
local t = setmetatable({}, {__index = function(t, k) local co = coroutine.create(function(x) coroutine.yield(x .. "!") end) local ok, v = coroutine.resume(co, k) return v end})
print(t.foo, t.bar)
local order = coroutine.wrap(function() while true do coroutine.yield() end end)
local arr = {5, 2, 8, 1} table.sort(arr, function(a, b) order() return a < b end) print(table.concat(arr, " "))
local bad = setmetatable({}, {__index = function(t, k) return coroutine.wrap(function() error("inner " .. k) end)() end})
print(pcall(function() return bad.zz end))
print(xpcall(function() local w = coroutine.wrap(function() error("oops") end) w() end, function(m) return "handled: " .. m end))
print(xpcall(function() error("e1") end, function(m) local co = coroutine.create(function() coroutine.yield(m .. "+co") end) return select(2, coroutine.resume(co)) end))
local tt = {} local c3 = coroutine.create(function() end) tt[c3] = "v" print(tt[c3], rawequal(c3, c3), c3 == coroutine.create(function() end), #tostring(c3) > 8, tostring(c3):match("^thread: ") ~= nil)
for k2 in pairs(coroutine) do io.write(k2, " ") end print()"##,
    // many coroutines created and dropped: memory stays bounded
    r##"local maxc = 0
for i = 1, 30000 do
  local co = coroutine.create(function(a) local t = {a, a * 2} coroutine.yield(t) return a end)
  coroutine.resume(co, i)
  if i % 3 == 0 then coroutine.resume(co) end
  local w = coroutine.wrap(function() coroutine.yield(i) end) w()
  if i % 1000 == 0 then local c = collectgarbage("count") if c > maxc then maxc = c end end
end
print(maxc < 20000, collectgarbage("count") < 20000)
local keep = {}
for i = 1, 2000 do
  local co = coroutine.create(function() local v = i local f = function() v = v + 1 return v end coroutine.yield(f) end)
  local _, f = coroutine.resume(co)
  if i % 100 == 0 then keep[#keep + 1] = f end
end
local s = 0 for _, f in ipairs(keep) do s = s + f() + f() end print(s)
local big = {} for i = 1, 100000 do big[i] = {i} end big = nil
s = 0 for _, f in ipairs(keep) do s = s + f() end print(s)"##,
    // yield at the top level
    r##"coroutine.yield(1)
print("not reached")"##,
    // a wrap error escaping the script
    r##"local w = coroutine.wrap(function() error("wrapped failure") end)
w()"##,
    // pcall inside coroutines, errors crossing coroutine levels, metamethods from a coroutine
    r##"local A = coroutine.create(function()
  local ok, e = pcall(function() error("caught inside") end) print("A pcall", ok, e)
  local B = coroutine.create(function() local ok2, e2 = pcall(function() local C = coroutine.wrap(function() coroutine.yield("c1") error("c-err") end) print("C gives", C()) C() end) print("B pcall", ok2, e2) coroutine.yield("from B") error({tag = "B"}) end)
  print("A resumes B", coroutine.resume(B))
  local ok3, e3 = coroutine.resume(B) print("A resumes B again", ok3, type(e3), e3 and e3.tag)
  print(pcall(coroutine.yield, "nope"))
  local r = coroutine.yield("A yields")
  print("A got", r)
  return pcall(function() local W = coroutine.wrap(function(x) return coroutine.yield(x + 1) + 1 end) return W(1), W(10) end)
end)
print(coroutine.resume(A))
print(coroutine.resume(A, "r"))
print(coroutine.status(A))
local depth = 0
local function nest(n) if n == 0 then return coroutine.yield("deep") end local co = coroutine.wrap(nest) local v = co(n - 1) depth = depth + 1 return v end
local top = coroutine.wrap(nest) print(top(50), depth)
local errs = coroutine.wrap(function() local inner = coroutine.wrap(function() local t = {} return t.a.b end) return inner() end)
print(pcall(errs))
local log = {}
local t = setmetatable({}, {__index = function(t, k) log[#log + 1] = k return k * 2 end})
local co = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(t[i]) end end)
print(co(), co(), co(), table.concat(log, ","))
local s = 0 for i = 1, 200 do local c = coroutine.wrap(function(a, b) local x = coroutine.yield(a + b) local y = coroutine.yield(x * 2) return x + y end) s = s + c(i, 1) + c(3) + c(4) end print(s)"##,
    // nested pcall frames; iterators after a collection
    r##"print(pcall(pcall, function() return 1 end)) print(pcall(pcall, function() error("x") end)) print(pcall(pcall, pcall, function() error("x") end)) print(select('#', pcall(pcall, function() return 1, 2 end)))
print(pcall(xpcall, function() error("y") end, function(m) return "h:" .. m end)) print(xpcall(pcall, print, error))
local big = {} for i = 1, 100000 do big[i] = {i} end big = nil for i, v in ipairs({"a", "b"}) do io.write(i, v, " ") end for k, v in pairs({z = 1}) do io.write(k, v) end print()"##,
];

#[test]
fn differential_against_lua51() {
    assert!(
        common::have_reference(),
        "the differential tests need the reference interpreter: apt-get install lua5.1"
    );
    let mut failures = Vec::new();
    for (i, src) in CORPUS.iter().enumerate() {
        let ours = common::normalize(&common::run_ours(src));
        let reference = common::normalize(&common::run_reference(src));
        if ours != reference {
            failures.push(format!(
                "#{} {}\n--- ours:\n{}--- lua5.1:\n{}",
                i, src, ours, reference
            ));
        }
    }
    if !failures.is_empty() {
        panic!(
            "{} of {} snippets differ:\n\n{}",
            failures.len(),
            CORPUS.len(),
            failures.join("\n")
        );
    }
}
