//! cjson / cmsgpack / bit / struct: fixed outputs (from the C sources' formats, as
//! real Redis produces them) and round trips.
use cachelab_lua::{Lua, Value};

fn eval(lua: &mut Lua, src: &str) -> Vec<Value> {
    let f = lua
        .load(src.as_bytes(), "@user_script")
        .unwrap_or_else(|e| panic!("{}", lua.error_string(&e)));
    match lua.call(f, vec![], &mut ()) {
        Ok(v) => v,
        Err(e) => panic!("{}: {}", src, lua.error_string(&e)),
    }
}

fn s(lua: &mut Lua, src: &str) -> String {
    let v = eval(lua, src);
    String::from_utf8_lossy(
        &lua.to_bytes(v[0])
            .unwrap_or_else(|| b"<non-string>".to_vec()),
    )
    .into_owned()
}

fn err(lua: &mut Lua, src: &str) -> String {
    let f = lua.load(src.as_bytes(), "@user_script").unwrap();
    let e = lua.call(f, vec![], &mut ()).unwrap_err();
    lua.error_string(&e)
}

#[test]
fn cjson_encode() {
    let mut lua = Lua::new();
    assert_eq!(s(&mut lua, "return cjson.encode({1,2,3})"), "[1,2,3]");
    assert_eq!(s(&mut lua, "return cjson.encode({a=1})"), r#"{"a":1}"#);
    assert_eq!(s(&mut lua, "return cjson.encode(1/3)"), "0.33333333333333");
    assert_eq!(s(&mut lua, "return cjson.encode({})"), "{}");
    assert_eq!(
        s(&mut lua, "return cjson.encode('a/b\"c\\\\d\\n\\1\\127')"),
        r#""a\/b\"c\\d\n\u0001\u007f""#
    );
    assert_eq!(
        s(&mut lua, "return cjson.encode({1, nil, 3})"),
        "[1,null,3]"
    );
    assert_eq!(
        s(&mut lua, "return cjson.encode({true, false, cjson.null})"),
        "[true,false,null]"
    );
    assert_eq!(
        s(&mut lua, "return cjson.encode({[1]=1, [2]=2, [4]=4})"),
        "[1,2,null,4]"
    );
    assert_eq!(s(&mut lua, "return cjson.encode(1e100)"), "1e+100");
    assert_eq!(
        s(&mut lua, "return cjson.encode(123456789012)"),
        "123456789012"
    );
    assert_eq!(
        s(&mut lua, "return cjson.encode({[1.5]=1})"),
        r#"{"1.5":1}"#
    );
    assert_eq!(
        s(&mut lua, "return cjson.encode({a={b={c={}}}})"),
        r#"{"a":{"b":{"c":{}}}}"#
    );
    assert_eq!(
        err(&mut lua, "return cjson.encode({[20]=1})"),
        "user_script:1: Cannot serialise table: excessively sparse array"
    );
    assert_eq!(
        err(&mut lua, "return cjson.encode(print)"),
        "user_script:1: Cannot serialise function: type not supported"
    );
    assert_eq!(
        err(&mut lua, "return cjson.encode(1/0)"),
        "user_script:1: Cannot serialise number: must not be NaN or Inf"
    );
    assert_eq!(
        err(&mut lua, "return cjson.encode({[true]=1})"),
        "user_script:1: Cannot serialise boolean: table key must be a number or string"
    );
    assert_eq!(
        err(&mut lua, "return cjson.encode()"),
        "user_script:1: bad argument #1 to 'encode' (expected 1 argument)"
    );
    assert_eq!(
        err(&mut lua, "local t = {} t[1] = t return cjson.encode(t)"),
        "user_script:1: Cannot serialise, excessive nesting (1001)"
    );
}

#[test]
fn cjson_decode() {
    let mut lua = Lua::new();
    let r = eval(
        &mut lua,
        r#"local t = cjson.decode('{"a":[1,2,{"b":null}],"c":"x\\u00e9\\n","d":1.5e3,"e":true}') return t.a[1], t.a[2], t.a[3].b == cjson.null, t.c, t.d, t.e, #t.a"#,
    );
    assert_eq!(r[0], Value::Number(1.0));
    assert_eq!(r[2], Value::Boolean(true));
    assert_eq!(lua.as_bytes(r[3]), Some("xé\n".as_bytes()));
    assert_eq!(r[4], Value::Number(1500.0));
    assert_eq!(r[5], Value::Boolean(true));
    assert_eq!(r[6], Value::Number(3.0));
    assert_eq!(
        err(&mut lua, "return cjson.decode('{1}')"),
        "user_script:1: Expected object key string but found T_NUMBER at character 2"
    );
    assert_eq!(
        err(&mut lua, "return cjson.decode('[1,2')"),
        "user_script:1: Expected comma or array end but found T_END at character 5"
    );
    assert_eq!(
        err(&mut lua, "return cjson.decode('x')"),
        "user_script:1: Expected value but found invalid token at character 1"
    );
    assert_eq!(
        err(&mut lua, "return cjson.decode('[1] x')"),
        "user_script:1: Expected the end but found invalid token at character 5"
    );
    assert_eq!(
        err(&mut lua, "return cjson.decode('\"abc')"),
        "user_script:1: Expected value but found unexpected end of string at character 5"
    );
    assert_eq!(
        s(
            &mut lua,
            r#"return cjson.encode(cjson.decode('{"k":[1,"two",3.25,{"x":false}]}'))"#
        ),
        r#"{"k":[1,"two",3.25,{"x":false}]}"#
    );
}

#[test]
fn cmsgpack_roundtrip_and_format() {
    let mut lua = Lua::new();
    let hex = |lua: &mut Lua, src: &str| -> String {
        s(lua, src).bytes().map(|b| format!("{:02x}", b)).collect()
    };
    // hex of the packed bytes via string.byte in Lua
    let h = |lua: &mut Lua, expr: &str| -> String {
        let _ = hex;
        s(lua, &format!("local p = {} local o = {{}} for i = 1, #p do o[i] = string.format('%02x', p:byte(i)) end return table.concat(o)", expr))
    };
    assert_eq!(
        h(
            &mut lua,
            "cmsgpack.pack(1, -1, 200, -200, 70000, 'ab', true, nil)"
        ),
        "01ffccc8d1ff38ce00011170a26162c3c0"
    );
    assert_eq!(h(&mut lua, "cmsgpack.pack({1,2,3})"), "93010203");
    assert_eq!(h(&mut lua, "cmsgpack.pack({a=1})"), "81a16101");
    assert_eq!(
        h(&mut lua, "cmsgpack.pack(1.5, 0.1)"),
        "ca3fc00000cb3fb999999999999a"
    );
    assert_eq!(
        h(&mut lua, "cmsgpack.pack(string.rep('x', 40))").len(),
        2 * 42
    );
    let r = eval(&mut lua, "local a, b, c = cmsgpack.unpack(cmsgpack.pack({1, {x = 'y'}, -5.25}, 'str', 2^40)) return a[1], a[2].x, a[3], b, c");
    assert_eq!(r[0], Value::Number(1.0));
    assert_eq!(lua.as_bytes(r[1]), Some(&b"y"[..]));
    assert_eq!(r[2], Value::Number(-5.25));
    assert_eq!(lua.as_bytes(r[3]), Some(&b"str"[..]));
    assert_eq!(r[4], Value::Number(2f64.powi(40)));
    assert_eq!(
        err(&mut lua, "return cmsgpack.unpack('\\205\\1')"),
        "user_script:1: Missing bytes in input."
    );
    assert_eq!(
        err(&mut lua, "return cmsgpack.unpack('\\193')"),
        "user_script:1: Bad data format in input."
    );
    let r = eval(&mut lua, "return cmsgpack.unpack_one(cmsgpack.pack(1, 2))");
    assert_eq!(r, vec![Value::Number(1.0), Value::Number(1.0)]);
}

#[test]
fn bit_ops() {
    let mut lua = Lua::new();
    let r = eval(&mut lua, "return bit.band(0xff, 0x0f), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0), bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-16, 2), bit.rol(0x80000001, 1), bit.ror(1, 1), bit.bswap(0x12345678), bit.tobit(2^32 + 5), bit.tobit(-1)");
    let want = [
        15.0,
        7.0,
        6.0,
        -1.0,
        -2147483648.0,
        15.0,
        -4.0,
        3.0,
        -2147483648.0,
        2018915346.0,
        5.0,
        -1.0,
    ];
    for (i, w) in want.iter().enumerate() {
        assert_eq!(r[i], Value::Number(*w), "item {}", i);
    }
    assert_eq!(s(&mut lua, "return bit.tohex(255)"), "000000ff");
    assert_eq!(s(&mut lua, "return bit.tohex(255, -4)"), "00FF");
    assert_eq!(s(&mut lua, "return bit.tohex(-1, 2)"), "ff");
    assert_eq!(
        err(&mut lua, "return bit.band('x')"),
        "user_script:1: bad argument #1 to 'band' (number expected, got string)"
    );
}

#[test]
fn struct_pack_unpack() {
    let mut lua = Lua::new();
    let h = |lua: &mut Lua, expr: &str| -> String {
        s(lua, &format!("local p = {} local o = {{}} for i = 1, #p do o[i] = string.format('%02x', p:byte(i)) end return table.concat(o)", expr))
    };
    assert_eq!(h(&mut lua, "struct.pack('>I2', 258)"), "0102");
    assert_eq!(h(&mut lua, "struct.pack('<i4', -2)"), "feffffff");
    assert_eq!(
        h(&mut lua, "struct.pack('>bBhH', -1, 255, -2, 65535)"),
        "fffffffeffff"
    );
    assert_eq!(h(&mut lua, "struct.pack('s', 'ab')"), "616200");
    assert_eq!(
        h(&mut lua, "struct.pack('!4 b i4', 1, 2)"),
        "0100000002000000"
    );
    assert_eq!(h(&mut lua, "struct.pack('>d', 1.5)"), "3ff8000000000000");
    let r = eval(
        &mut lua,
        "return struct.unpack('>I2 i4 c3 s', struct.pack('>I2 i4 c3 s', 513, -7, 'xyz', 'hi'))",
    );
    assert_eq!(r[0], Value::Number(513.0));
    assert_eq!(r[1], Value::Number(-7.0));
    assert_eq!(lua.as_bytes(r[2]), Some(&b"xyz"[..]));
    assert_eq!(lua.as_bytes(r[3]), Some(&b"hi"[..]));
    assert_eq!(r[4], Value::Number(13.0));
    let r = eval(&mut lua, "return struct.size('>i4 h b d')");
    assert_eq!(r[0], Value::Number(15.0));
    assert_eq!(
        err(&mut lua, "return struct.unpack('i4', 'ab')"),
        "user_script:1: bad argument #2 to 'unpack' (data string too short)"
    );
    assert_eq!(
        err(&mut lua, "return struct.pack('y', 1)"),
        "user_script:1: bad argument #1 to 'pack' (invalid format option 'y')"
    );
}
