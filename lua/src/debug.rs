//! Debug information: `getobjname`/`symbexec` from ldebug.c, which recover variable
//! descriptions ("global 'x'", "local 't'", "field 'y'", "upvalue 'u'", "method 'm'")
//! for runtime error messages, plus the minimal `debug` library Redis exposes.

use crate::bytecode::*;
use crate::value::Value;

/// The instruction that last set register `reg` before `lastpc` (ldebug.c `symbexec`).
fn symbexec(pt: &Proto, lastpc: i32, reg: i32) -> Instr {
    let code = &pt.code;
    let mut last = code.len() as i32 - 1;
    let mut pc = 0i32;
    while pc < lastpc {
        let i = code[pc as usize];
        let op = get_op(i);
        let a = arg_a(i);
        let (b, c) = match op {
            Op::LoadK | Op::GetGlobal | Op::SetGlobal | Op::Closure => (arg_bx(i), 0),
            Op::Jmp | Op::ForLoop | Op::ForPrep => (arg_sbx(i), 0),
            _ => (arg_b(i), arg_c(i)),
        };
        if test_a_mode(op) && a == reg {
            last = pc;
        }
        match op {
            Op::LoadNil => {
                if a <= reg && reg <= b {
                    last = pc;
                }
            }
            Op::OpSelf => {
                if reg == a + 1 {
                    last = pc;
                }
            }
            Op::TForLoop => {
                if reg >= a + 2 {
                    last = pc;
                }
            }
            Op::ForLoop | Op::ForPrep | Op::Jmp => {
                let dest = pc + 1 + b;
                if pc < dest && dest <= lastpc {
                    pc += b;
                }
            }
            Op::Call | Op::TailCall => {
                if reg >= a {
                    last = pc;
                }
            }
            Op::SetList => {
                if c == 0 {
                    pc += 1;
                }
            }
            Op::Closure => {
                let nup = pt.p[b as usize].nups as i32;
                pc += nup;
            }
            _ => {}
        }
        pc += 1;
    }
    code[last.max(0) as usize]
}

fn kname(p: &Proto, c: i32) -> Vec<u8> {
    if is_k(c) {
        if let Value::String(_) = p.k[(c & !BITRK) as usize] {
            return KNAME_MARK.to_vec();
        }
    }
    b"?".to_vec()
}

const KNAME_MARK: &[u8] = b"\x00k";

/// `getobjname`: a description of register `reg` at instruction `pc`.
/// String constants are resolved by the caller via [`resolve_name`].
pub(crate) fn getobjname_raw(p: &Proto, pc: i32, reg: i32) -> Option<(&'static str, NameRef)> {
    if let Some(n) = p.local_name(reg + 1, pc) {
        return Some(("local", NameRef::Bytes(n.to_vec())));
    }
    let i = symbexec(p, pc, reg);
    match get_op(i) {
        Op::GetGlobal => Some(("global", NameRef::K(arg_bx(i) as usize))),
        Op::Move => {
            let a = arg_a(i);
            let b = arg_b(i);
            if b < a {
                getobjname_raw(p, pc, b)
            } else {
                None
            }
        }
        Op::GetTable | Op::OpSelf => {
            let c = arg_c(i);
            let kind = if get_op(i) == Op::GetTable {
                "field"
            } else {
                "method"
            };
            if kname(p, c) == KNAME_MARK {
                Some((kind, NameRef::K((c & !BITRK) as usize)))
            } else {
                Some((kind, NameRef::Bytes(b"?".to_vec())))
            }
        }
        Op::GetUpval => {
            let u = arg_b(i) as usize;
            Some((
                "upvalue",
                NameRef::Bytes(
                    p.upvalue_names
                        .get(u)
                        .cloned()
                        .unwrap_or_else(|| b"?".to_vec()),
                ),
            ))
        }
        _ => None,
    }
}

pub(crate) enum NameRef {
    Bytes(Vec<u8>),
    K(usize),
}

/// Like `getobjname_raw` with constant names resolved through the heap.
pub(crate) fn getobjname(
    heap: &crate::heap::Heap,
    p: &Proto,
    pc: i32,
    reg: i32,
) -> Option<(&'static str, Vec<u8>)> {
    let (kind, n) = getobjname_raw(p, pc, reg)?;
    let name = match n {
        NameRef::Bytes(b) => b,
        NameRef::K(k) => match p.k[k] {
            Value::String(s) => heap.str(s).to_vec(),
            _ => b"?".to_vec(),
        },
    };
    Some((kind, name))
}
