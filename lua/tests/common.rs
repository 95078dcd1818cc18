#![allow(dead_code)]
//! Shared helpers: run a snippet the way the differential tests expect.

use cachelab_lua::{Lua, Step, Value};

pub struct Out(pub Vec<u8>);

impl cachelab_lua::Host for Out {
    fn as_any(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

/// A Lua state whose `print` appends to the host's `Out` buffer (like lua5.1's stdout).
pub fn new_lua() -> Lua {
    let mut lua = Lua::new();
    lua.set_global_fn("print", |ctx| {
        let n = ctx.nargs();
        let mut line = Vec::new();
        for i in 0..n {
            if i > 0 {
                line.push(b'\t');
            }
            let v = ctx.arg(i);
            let s = ctx.tostring(v)?;
            match ctx.as_bytes(s) {
                Some(b) => line.extend_from_slice(b),
                None => return Err(ctx.error("'tostring' must return a string to 'print'")),
            }
        }
        line.push(b'\n');
        ctx.host::<Out>().unwrap().0.extend_from_slice(&line);
        Ok(vec![])
    });
    let io = lua.new_table();
    lua.set_field_fn(io, "write", |ctx| {
        for i in 0..ctx.nargs() {
            let b = ctx.check_bytes(i + 1)?;
            ctx.host::<Out>().unwrap().0.extend_from_slice(&b);
        }
        Ok(vec![])
    });
    lua.set_global("io", cachelab_lua::Value::Table(io));
    lua
}

/// Replace `0x<hex>` addresses (which differ between implementations) with `ADDR`.
pub fn normalize(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'0' && i + 1 < b.len() && b[i + 1] == b'x' && i >= 2 && &b[i - 2..i] == b": " {
            let mut j = i + 2;
            while j < b.len() && b[j].is_ascii_hexdigit() {
                j += 1;
            }
            out.push_str("ADDR");
            i = j;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Run `src` as chunk `=user_script`; returns everything printed, plus
/// `SYNTAX: msg` / `ERROR: msg` lines on failure.
pub fn run_ours(src: &str) -> String {
    let mut lua = new_lua();
    let mut out = Out(Vec::new());
    match lua.load(src.as_bytes(), "=user_script") {
        Err(e) => {
            let m = lua.error_bytes(&e);
            out.0.extend_from_slice(b"SYNTAX: ");
            out.0.extend_from_slice(&m);
            out.0.push(b'\n');
        }
        Ok(f) => {
            let mut call = lua.start(f, vec![]);
            loop {
                match lua.resume(&mut call, &mut out, 100_000) {
                    Step::Yielded => continue,
                    Step::Done(Ok(_)) => break,
                    Step::Done(Err(e)) => {
                        let m = match e.value {
                            Value::String(_) | Value::Number(_) => lua.error_bytes(&e),
                            Value::Nil => b"nil".to_vec(),
                            other => format!("({})", other.type_name()).into_bytes(),
                        };
                        out.0.extend_from_slice(b"ERROR: ");
                        out.0.extend_from_slice(&m);
                        out.0.push(b'\n');
                        break;
                    }
                }
            }
        }
    }
    String::from_utf8_lossy(&out.0).into_owned()
}

const DRIVER: &str = r#"
local src = io.read('*a')
local f, e = loadstring(src, '=user_script')
if not f then print('SYNTAX: ' .. e) return end
local ok, err = pcall(f)
if not ok then
  local t = type(err)
  if t == 'string' or t == 'number' then print('ERROR: ' .. err)
  elseif t == 'nil' then print('ERROR: nil')
  else print('ERROR: (' .. t .. ')') end
end
"#;

/// Run `src` through the reference `lua5.1` interpreter.
pub fn run_reference(src: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("lua5.1")
        .arg("-e")
        .arg(DRIVER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lua5.1 is required for the differential tests: apt-get install lua5.1");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(src.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn have_reference() -> bool {
    std::process::Command::new("lua5.1")
        .arg("-v")
        .output()
        .is_ok()
}
