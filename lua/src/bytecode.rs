//! Lua 5.1 bytecode: opcodes, the 32-bit instruction encoding of lopcodes.h, and
//! function prototypes (`Proto`) produced by the compiler.

use crate::value::Value;
use std::cell::Cell;
use std::rc::Rc;

pub type Instr = u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    Move = 0,
    LoadK,
    LoadBool,
    LoadNil,
    GetUpval,
    GetGlobal,
    GetTable,
    SetGlobal,
    SetUpval,
    SetTable,
    NewTable,
    OpSelf,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Unm,
    Not,
    Len,
    Concat,
    Jmp,
    Eq,
    Lt,
    Le,
    Test,
    TestSet,
    Call,
    TailCall,
    Return,
    ForLoop,
    ForPrep,
    TForLoop,
    SetList,
    Close,
    Closure,
    VarArg,
}

pub const NUM_OPCODES: usize = 38;

const OPS: [Op; NUM_OPCODES] = [
    Op::Move,
    Op::LoadK,
    Op::LoadBool,
    Op::LoadNil,
    Op::GetUpval,
    Op::GetGlobal,
    Op::GetTable,
    Op::SetGlobal,
    Op::SetUpval,
    Op::SetTable,
    Op::NewTable,
    Op::OpSelf,
    Op::Add,
    Op::Sub,
    Op::Mul,
    Op::Div,
    Op::Mod,
    Op::Pow,
    Op::Unm,
    Op::Not,
    Op::Len,
    Op::Concat,
    Op::Jmp,
    Op::Eq,
    Op::Lt,
    Op::Le,
    Op::Test,
    Op::TestSet,
    Op::Call,
    Op::TailCall,
    Op::Return,
    Op::ForLoop,
    Op::ForPrep,
    Op::TForLoop,
    Op::SetList,
    Op::Close,
    Op::Closure,
    Op::VarArg,
];

pub const SIZE_C: u32 = 9;
pub const SIZE_B: u32 = 9;
pub const SIZE_BX: u32 = SIZE_C + SIZE_B;
pub const SIZE_A: u32 = 8;
pub const POS_A: u32 = 6;
pub const POS_C: u32 = POS_A + SIZE_A;
pub const POS_B: u32 = POS_C + SIZE_C;
pub const POS_BX: u32 = POS_C;
pub const MAXARG_BX: i32 = (1 << SIZE_BX) - 1;
pub const MAXARG_SBX: i32 = MAXARG_BX >> 1;
pub const MAXARG_A: i32 = (1 << SIZE_A) - 1;
pub const MAXARG_C: i32 = (1 << SIZE_C) - 1;
pub const BITRK: i32 = 1 << (SIZE_B - 1);
pub const MAXINDEXRK: i32 = BITRK - 1;
pub const NO_REG: i32 = MAXARG_A;
pub const LFIELDS_PER_FLUSH: i32 = 50;

#[inline(always)]
pub fn get_op(i: Instr) -> Op {
    OPS[(i & 0x3f) as usize]
}
#[inline(always)]
pub fn arg_a(i: Instr) -> i32 {
    ((i >> POS_A) & 0xff) as i32
}
#[inline(always)]
pub fn arg_b(i: Instr) -> i32 {
    ((i >> POS_B) & 0x1ff) as i32
}
#[inline(always)]
pub fn arg_c(i: Instr) -> i32 {
    ((i >> POS_C) & 0x1ff) as i32
}
#[inline(always)]
pub fn arg_bx(i: Instr) -> i32 {
    (i >> POS_BX) as i32
}
#[inline(always)]
pub fn arg_sbx(i: Instr) -> i32 {
    arg_bx(i) - MAXARG_SBX
}
pub fn set_a(i: &mut Instr, v: i32) {
    *i = (*i & !(0xff << POS_A)) | ((v as u32 & 0xff) << POS_A);
}
pub fn set_b(i: &mut Instr, v: i32) {
    *i = (*i & !(0x1ff << POS_B)) | ((v as u32 & 0x1ff) << POS_B);
}
pub fn set_c(i: &mut Instr, v: i32) {
    *i = (*i & !(0x1ff << POS_C)) | ((v as u32 & 0x1ff) << POS_C);
}
pub fn set_bx(i: &mut Instr, v: i32) {
    *i = (*i & 0x3fff) | ((v as u32) << POS_BX);
}
pub fn set_sbx(i: &mut Instr, v: i32) {
    set_bx(i, v + MAXARG_SBX)
}
pub fn set_op(i: &mut Instr, op: Op) {
    *i = (*i & !0x3f) | op as u32;
}
pub fn create_abc(op: Op, a: i32, b: i32, c: i32) -> Instr {
    (op as u32) | ((a as u32) << POS_A) | ((b as u32) << POS_B) | ((c as u32) << POS_C)
}
pub fn create_abx(op: Op, a: i32, bx: i32) -> Instr {
    (op as u32) | ((a as u32) << POS_A) | ((bx as u32) << POS_BX)
}
#[inline(always)]
pub fn is_k(x: i32) -> bool {
    x & BITRK != 0
}

/// `testTMode`: instruction is a test followed by a jump.
pub fn test_t_mode(op: Op) -> bool {
    matches!(
        op,
        Op::Eq | Op::Lt | Op::Le | Op::Test | Op::TestSet | Op::TForLoop
    )
}
/// `testAMode`: instruction sets register A.
pub fn test_a_mode(op: Op) -> bool {
    !matches!(
        op,
        Op::SetGlobal
            | Op::SetUpval
            | Op::SetTable
            | Op::Jmp
            | Op::Eq
            | Op::Lt
            | Op::Le
            | Op::Return
            | Op::TForLoop
            | Op::SetList
            | Op::Close
    )
}

pub const VARARG_HASARG: u8 = 1;
pub const VARARG_ISVARARG: u8 = 2;
pub const VARARG_NEEDSARG: u8 = 4;

#[derive(Debug, Clone)]
pub struct LocVar {
    pub name: Vec<u8>,
    pub startpc: i32,
    pub endpc: i32,
}

/// A compiled function prototype.
#[derive(Debug, Default)]
pub struct Proto {
    pub code: Vec<Instr>,
    pub lineinfo: Vec<u32>,
    pub k: Vec<Value>,
    pub p: Vec<Rc<Proto>>,
    pub locvars: Vec<LocVar>,
    pub upvalue_names: Vec<Vec<u8>>,
    pub source: Rc<Vec<u8>>,
    pub linedefined: u32,
    pub lastlinedefined: u32,
    pub nups: u8,
    pub numparams: u8,
    pub is_vararg: u8,
    pub maxstacksize: u8,
    /// GC cycle in which this proto's constants were last marked.
    pub(crate) gc_mark: Cell<u32>,
}

impl Proto {
    /// `luaF_getlocalname`: name of the `local_number`-th (1-based) active local at `pc`.
    pub fn local_name(&self, mut local_number: i32, pc: i32) -> Option<&[u8]> {
        for v in &self.locvars {
            if v.startpc > pc {
                break;
            }
            if pc < v.endpc {
                local_number -= 1;
                if local_number == 0 {
                    return Some(&v.name);
                }
            }
        }
        None
    }
}
