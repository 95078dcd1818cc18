//! The single-pass compiler, ported from lparser.c and lcode.c: parses Lua 5.1
//! source and emits the same register bytecode as the reference implementation
//! (so error variable names and limits match), with 5.1's syntax error texts.

use crate::bytecode::*;
use crate::heap::Heap;
use crate::lexer::*;
use crate::value::Value;
use std::collections::HashMap;
use std::rc::Rc;

const NO_JUMP: i32 = -1;
const LUA_MULTRET: i32 = -1;
const MAXVARS: i32 = 200;
const MAXUPVALUES: i32 = 60;
const MAXCCALLS: u32 = 200;
const MAXSTACK: i32 = 250;

#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd)]
enum K {
    Void,
    Nil,
    True,
    False,
    Kst,
    KNum,
    Local,
    Upval,
    Global,
    Indexed,
    Jmp,
    Relocable,
    NonReloc,
    Call,
    VarArg,
}

#[derive(Clone, Copy, Debug)]
struct ExpDesc {
    k: K,
    info: i32,
    aux: i32,
    nval: f64,
    t: i32,
    f: i32,
}

impl ExpDesc {
    fn new(k: K, info: i32) -> Self {
        ExpDesc {
            k,
            info,
            aux: 0,
            nval: 0.0,
            t: NO_JUMP,
            f: NO_JUMP,
        }
    }
    fn has_jumps(&self) -> bool {
        self.t != self.f
    }
    fn is_numeral(&self) -> bool {
        self.k == K::KNum && self.t == NO_JUMP && self.f == NO_JUMP
    }
}

fn hasmultret(k: K) -> bool {
    k == K::Call || k == K::VarArg
}

#[derive(Hash, PartialEq, Eq)]
enum KKey {
    Str(u32),
    Num(u64),
    Bool(bool),
    Nil,
}

struct BlockCnt {
    breaklist: i32,
    nactvar: i32,
    upval: bool,
    isbreakable: bool,
}

struct FuncState {
    f: Proto,
    h: HashMap<KKey, i32>,
    lasttarget: i32,
    jpc: i32,
    freereg: i32,
    nactvar: i32,
    actvar: Vec<u16>,
    upvalues: Vec<(K, i32)>,
    bl: Vec<BlockCnt>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BinOpr {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Concat,
    Ne,
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    NoBinOpr,
}

const PRIORITY: [(u32, u32); 15] = [
    (6, 6),
    (6, 6),
    (7, 7),
    (7, 7),
    (7, 7),
    (10, 9),
    (5, 4),
    (3, 3),
    (3, 3),
    (3, 3),
    (3, 3),
    (3, 3),
    (3, 3),
    (2, 2),
    (1, 1),
];
const UNARY_PRIORITY: u32 = 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum UnOpr {
    Minus,
    Not,
    Len,
    NoUnOpr,
}

type R<T> = Result<T, Vec<u8>>;

pub struct Parser<'a, 'h> {
    lx: Lexer<'a>,
    fss: Vec<FuncState>,
    heap: &'h mut Heap,
    nccalls: u32,
    source: Rc<Vec<u8>>,
}

/// Compile a chunk. `source` is the Lua chunk name (e.g. `@user_script` or `=stdin`).
/// `nccalls` is the current C-call nesting (counts toward the syntax-level limit).
pub fn compile(
    heap: &mut Heap,
    src: &[u8],
    source: &[u8],
    nccalls: u32,
) -> Result<Rc<Proto>, Vec<u8>> {
    let mut p = Parser {
        lx: Lexer::new(src, source),
        fss: Vec::new(),
        heap,
        nccalls,
        source: Rc::new(source.to_vec()),
    };
    p.open_func();
    p.fs().f.is_vararg = VARARG_ISVARARG;
    p.lx.next()?;
    p.chunk()?;
    p.check(TK_EOS)?;
    let f = p.close_func()?;
    Ok(Rc::new(f))
}

impl<'a, 'h> Parser<'a, 'h> {
    #[inline]
    fn fs(&mut self) -> &mut FuncState {
        self.fss.last_mut().unwrap()
    }
    fn fsr(&self) -> &FuncState {
        self.fss.last().unwrap()
    }
    fn pc(&self) -> i32 {
        self.fsr().f.code.len() as i32
    }

    // ---------------------------------------------------------------- lcode.c

    fn code(&mut self, i: Instr, line: u32) -> i32 {
        self.dischargejpc();
        let fs = self.fs();
        fs.f.code.push(i);
        fs.f.lineinfo.push(line);
        fs.f.code.len() as i32 - 1
    }
    fn code_abc(&mut self, o: Op, a: i32, b: i32, c: i32) -> i32 {
        let line = self.lx.lastline as u32;
        self.code(create_abc(o, a, b, c), line)
    }
    fn code_abx(&mut self, o: Op, a: i32, bx: i32) -> i32 {
        let line = self.lx.lastline as u32;
        self.code(create_abx(o, a, bx), line)
    }
    fn code_asbx(&mut self, o: Op, a: i32, sbx: i32) -> i32 {
        self.code_abx(o, a, sbx + MAXARG_SBX)
    }
    fn fixline(&mut self, line: usize) {
        let fs = self.fs();
        let n = fs.f.lineinfo.len();
        fs.f.lineinfo[n - 1] = line as u32;
    }

    fn knil(&mut self, from: i32, n: i32) {
        let pc = self.pc();
        if pc > self.fsr().lasttarget {
            if pc == 0 {
                if from >= self.fsr().nactvar {
                    return;
                }
            } else {
                let prev = self.fsr().f.code[(pc - 1) as usize];
                if get_op(prev) == Op::LoadNil {
                    let pfrom = arg_a(prev);
                    let pto = arg_b(prev);
                    if pfrom <= from && from <= pto + 1 {
                        if from + n - 1 > pto {
                            set_b(&mut self.fs().f.code[(pc - 1) as usize], from + n - 1);
                        }
                        return;
                    }
                }
            }
        }
        self.code_abc(Op::LoadNil, from, from + n - 1, 0);
    }

    fn jump(&mut self) -> i32 {
        let jpc = self.fsr().jpc;
        self.fs().jpc = NO_JUMP;
        let mut j = self.code_asbx(Op::Jmp, 0, NO_JUMP);
        self.concat(&mut j, jpc).ok();
        j
    }
    fn ret(&mut self, first: i32, nret: i32) {
        self.code_abc(Op::Return, first, nret + 1, 0);
    }
    fn condjump(&mut self, op: Op, a: i32, b: i32, c: i32) -> i32 {
        self.code_abc(op, a, b, c);
        self.jump()
    }
    fn fixjump(&mut self, pc: i32, dest: i32) -> R<()> {
        let offset = dest - (pc + 1);
        if offset.abs() > MAXARG_SBX {
            return Err(self.lx.syntaxerror(b"control structure too long"));
        }
        set_sbx(&mut self.fs().f.code[pc as usize], offset);
        Ok(())
    }
    fn getlabel(&mut self) -> i32 {
        let pc = self.pc();
        self.fs().lasttarget = pc;
        pc
    }
    fn getjump(&self, pc: i32) -> i32 {
        let offset = arg_sbx(self.fsr().f.code[pc as usize]);
        if offset == NO_JUMP {
            NO_JUMP
        } else {
            pc + 1 + offset
        }
    }
    fn getjumpcontrol(&self, pc: i32) -> usize {
        let code = &self.fsr().f.code;
        if pc >= 1 && test_t_mode(get_op(code[(pc - 1) as usize])) {
            (pc - 1) as usize
        } else {
            pc as usize
        }
    }
    fn need_value(&self, mut list: i32) -> bool {
        while list != NO_JUMP {
            let i = self.fsr().f.code[self.getjumpcontrol(list)];
            if get_op(i) != Op::TestSet {
                return true;
            }
            list = self.getjump(list);
        }
        false
    }
    fn patchtestreg(&mut self, node: i32, reg: i32) -> bool {
        let idx = self.getjumpcontrol(node);
        let i = self.fsr().f.code[idx];
        if get_op(i) != Op::TestSet {
            return false;
        }
        if reg != NO_REG && reg != arg_b(i) {
            set_a(&mut self.fs().f.code[idx], reg);
        } else {
            self.fs().f.code[idx] = create_abc(Op::Test, arg_b(i), 0, arg_c(i));
        }
        true
    }
    fn removevalues(&mut self, mut list: i32) {
        while list != NO_JUMP {
            self.patchtestreg(list, NO_REG);
            list = self.getjump(list);
        }
    }
    fn patchlistaux(&mut self, mut list: i32, vtarget: i32, reg: i32, dtarget: i32) -> R<()> {
        while list != NO_JUMP {
            let next = self.getjump(list);
            if self.patchtestreg(list, reg) {
                self.fixjump(list, vtarget)?;
            } else {
                self.fixjump(list, dtarget)?;
            }
            list = next;
        }
        Ok(())
    }
    fn dischargejpc(&mut self) {
        let jpc = self.fsr().jpc;
        let pc = self.pc();
        let _ = self.patchlistaux(jpc, pc, NO_REG, pc);
        self.fs().jpc = NO_JUMP;
    }
    fn patchlist(&mut self, list: i32, target: i32) -> R<()> {
        if target == self.pc() {
            self.patchtohere(list)
        } else {
            self.patchlistaux(list, target, NO_REG, target)
        }
    }
    fn patchtohere(&mut self, list: i32) -> R<()> {
        self.getlabel();
        let mut jpc = self.fsr().jpc;
        self.concat(&mut jpc, list)?;
        self.fs().jpc = jpc;
        Ok(())
    }
    fn concat(&mut self, l1: &mut i32, l2: i32) -> R<()> {
        if l2 == NO_JUMP {
            return Ok(());
        }
        if *l1 == NO_JUMP {
            *l1 = l2;
        } else {
            let mut list = *l1;
            loop {
                let next = self.getjump(list);
                if next == NO_JUMP {
                    break;
                }
                list = next;
            }
            self.fixjump(list, l2)?;
        }
        Ok(())
    }
    fn checkstack(&mut self, n: i32) -> R<()> {
        let newstack = self.fsr().freereg + n;
        if newstack > self.fsr().f.maxstacksize as i32 {
            if newstack >= MAXSTACK {
                return Err(self.lx.syntaxerror(b"function or expression too complex"));
            }
            self.fs().f.maxstacksize = newstack as u8;
        }
        Ok(())
    }
    fn reserveregs(&mut self, n: i32) -> R<()> {
        self.checkstack(n)?;
        self.fs().freereg += n;
        Ok(())
    }
    fn freereg(&mut self, reg: i32) {
        if !is_k(reg) && reg >= self.fsr().nactvar {
            self.fs().freereg -= 1;
        }
    }
    fn freeexp(&mut self, e: &ExpDesc) {
        if e.k == K::NonReloc {
            self.freereg(e.info);
        }
    }
    fn addk(&mut self, key: KKey, v: Value) -> R<i32> {
        if let Some(&i) = self.fsr().h.get(&key) {
            return Ok(i);
        }
        let n = self.fsr().f.k.len() as i32;
        if n >= MAXARG_BX {
            return Err(self.lx.lexerror(b"constant table overflow", 0));
        }
        let fs = self.fs();
        fs.h.insert(key, n);
        fs.f.k.push(v);
        Ok(n)
    }
    fn string_k(&mut self, s: &[u8]) -> R<i32> {
        let r = self.heap.intern(s);
        self.addk(KKey::Str(r.0), Value::String(r))
    }
    fn number_k(&mut self, r: f64) -> R<i32> {
        let bits = if r == 0.0 { 0 } else { r.to_bits() };
        self.addk(KKey::Num(bits), Value::Number(r))
    }
    fn bool_k(&mut self, b: bool) -> R<i32> {
        self.addk(KKey::Bool(b), Value::Boolean(b))
    }
    fn nil_k(&mut self) -> R<i32> {
        self.addk(KKey::Nil, Value::Nil)
    }
    fn setreturns(&mut self, e: &ExpDesc, nresults: i32) -> R<()> {
        if e.k == K::Call {
            set_c(&mut self.fs().f.code[e.info as usize], nresults + 1);
        } else if e.k == K::VarArg {
            let fr = self.fsr().freereg;
            let c = &mut self.fs().f.code[e.info as usize];
            set_b(c, nresults + 1);
            set_a(c, fr);
            self.reserveregs(1)?;
        }
        Ok(())
    }
    fn setmultret(&mut self, e: &ExpDesc) -> R<()> {
        self.setreturns(e, LUA_MULTRET)
    }
    fn setoneret(&mut self, e: &mut ExpDesc) {
        if e.k == K::Call {
            e.k = K::NonReloc;
            e.info = arg_a(self.fsr().f.code[e.info as usize]);
        } else if e.k == K::VarArg {
            set_b(&mut self.fs().f.code[e.info as usize], 2);
            e.k = K::Relocable;
        }
    }
    fn dischargevars(&mut self, e: &mut ExpDesc) {
        match e.k {
            K::Local => e.k = K::NonReloc,
            K::Upval => {
                e.info = self.code_abc(Op::GetUpval, 0, e.info, 0);
                e.k = K::Relocable;
            }
            K::Global => {
                e.info = self.code_abx(Op::GetGlobal, 0, e.info);
                e.k = K::Relocable;
            }
            K::Indexed => {
                self.freereg(e.aux);
                self.freereg(e.info);
                e.info = self.code_abc(Op::GetTable, 0, e.info, e.aux);
                e.k = K::Relocable;
            }
            K::VarArg | K::Call => self.setoneret(e),
            _ => {}
        }
    }
    fn code_label(&mut self, a: i32, b: i32, jump: i32) -> i32 {
        self.getlabel();
        self.code_abc(Op::LoadBool, a, b, jump)
    }
    fn discharge2reg(&mut self, e: &mut ExpDesc, reg: i32) -> R<()> {
        self.dischargevars(e);
        match e.k {
            K::Nil => self.knil(reg, 1),
            K::False | K::True => {
                self.code_abc(Op::LoadBool, reg, (e.k == K::True) as i32, 0);
            }
            K::Kst => {
                self.code_abx(Op::LoadK, reg, e.info);
            }
            K::KNum => {
                let k = self.number_k(e.nval)?;
                self.code_abx(Op::LoadK, reg, k);
            }
            K::Relocable => {
                set_a(&mut self.fs().f.code[e.info as usize], reg);
            }
            K::NonReloc => {
                if reg != e.info {
                    self.code_abc(Op::Move, reg, e.info, 0);
                }
            }
            _ => return Ok(()),
        }
        e.info = reg;
        e.k = K::NonReloc;
        Ok(())
    }
    fn discharge2anyreg(&mut self, e: &mut ExpDesc) -> R<()> {
        if e.k != K::NonReloc {
            self.reserveregs(1)?;
            let r = self.fsr().freereg - 1;
            self.discharge2reg(e, r)?;
        }
        Ok(())
    }
    fn exp2reg(&mut self, e: &mut ExpDesc, reg: i32) -> R<()> {
        self.discharge2reg(e, reg)?;
        if e.k == K::Jmp {
            let mut t = e.t;
            self.concat(&mut t, e.info)?;
            e.t = t;
        }
        if e.has_jumps() {
            let mut p_f = NO_JUMP;
            let mut p_t = NO_JUMP;
            if self.need_value(e.t) || self.need_value(e.f) {
                let fj = if e.k == K::Jmp { NO_JUMP } else { self.jump() };
                p_f = self.code_label(reg, 0, 1);
                p_t = self.code_label(reg, 1, 0);
                self.patchtohere(fj)?;
            }
            let fin = self.getlabel();
            self.patchlistaux(e.f, fin, reg, p_f)?;
            self.patchlistaux(e.t, fin, reg, p_t)?;
        }
        e.f = NO_JUMP;
        e.t = NO_JUMP;
        e.info = reg;
        e.k = K::NonReloc;
        Ok(())
    }
    fn exp2nextreg(&mut self, e: &mut ExpDesc) -> R<()> {
        self.dischargevars(e);
        self.freeexp(e);
        self.reserveregs(1)?;
        let r = self.fsr().freereg - 1;
        self.exp2reg(e, r)
    }
    fn exp2anyreg(&mut self, e: &mut ExpDesc) -> R<i32> {
        self.dischargevars(e);
        if e.k == K::NonReloc {
            if !e.has_jumps() {
                return Ok(e.info);
            }
            if e.info >= self.fsr().nactvar {
                let r = e.info;
                self.exp2reg(e, r)?;
                return Ok(e.info);
            }
        }
        self.exp2nextreg(e)?;
        Ok(e.info)
    }
    fn exp2val(&mut self, e: &mut ExpDesc) -> R<()> {
        if e.has_jumps() {
            self.exp2anyreg(e)?;
        } else {
            self.dischargevars(e);
        }
        Ok(())
    }
    fn exp2rk(&mut self, e: &mut ExpDesc) -> R<i32> {
        self.exp2val(e)?;
        match e.k {
            K::KNum | K::True | K::False | K::Nil => {
                if self.fsr().f.k.len() as i32 <= MAXINDEXRK {
                    e.info = match e.k {
                        K::Nil => self.nil_k()?,
                        K::KNum => self.number_k(e.nval)?,
                        _ => self.bool_k(e.k == K::True)?,
                    };
                    e.k = K::Kst;
                    return Ok(e.info | BITRK);
                }
            }
            K::Kst => {
                if e.info <= MAXINDEXRK {
                    return Ok(e.info | BITRK);
                }
            }
            _ => {}
        }
        self.exp2anyreg(e)
    }
    fn storevar(&mut self, var: &ExpDesc, ex: &mut ExpDesc) -> R<()> {
        match var.k {
            K::Local => {
                self.freeexp(ex);
                return self.exp2reg(ex, var.info);
            }
            K::Upval => {
                let e = self.exp2anyreg(ex)?;
                self.code_abc(Op::SetUpval, e, var.info, 0);
            }
            K::Global => {
                let e = self.exp2anyreg(ex)?;
                self.code_abx(Op::SetGlobal, e, var.info);
            }
            K::Indexed => {
                let e = self.exp2rk(ex)?;
                self.code_abc(Op::SetTable, var.info, var.aux, e);
            }
            _ => {}
        }
        self.freeexp(ex);
        Ok(())
    }
    fn kself(&mut self, e: &mut ExpDesc, key: &mut ExpDesc) -> R<()> {
        self.exp2anyreg(e)?;
        self.freeexp(e);
        let func = self.fsr().freereg;
        self.reserveregs(2)?;
        let k = self.exp2rk(key)?;
        self.code_abc(Op::OpSelf, func, e.info, k);
        self.freeexp(key);
        e.info = func;
        e.k = K::NonReloc;
        Ok(())
    }
    fn invertjump(&mut self, e: &ExpDesc) {
        let idx = self.getjumpcontrol(e.info);
        let i = &mut self.fs().f.code[idx];
        let a = arg_a(*i);
        set_a(i, (a == 0) as i32);
    }
    fn jumponcond(&mut self, e: &mut ExpDesc, cond: i32) -> R<i32> {
        if e.k == K::Relocable {
            let ie = self.fsr().f.code[e.info as usize];
            if get_op(ie) == Op::Not {
                let fs = self.fs();
                fs.f.code.pop();
                fs.f.lineinfo.pop();
                return Ok(self.condjump(Op::Test, arg_b(ie), 0, (cond == 0) as i32));
            }
        }
        self.discharge2anyreg(e)?;
        self.freeexp(e);
        Ok(self.condjump(Op::TestSet, NO_REG, e.info, cond))
    }
    fn goiftrue(&mut self, e: &mut ExpDesc) -> R<()> {
        self.dischargevars(e);
        let pc = match e.k {
            K::Kst | K::KNum | K::True => NO_JUMP,
            K::Jmp => {
                self.invertjump(e);
                e.info
            }
            _ => self.jumponcond(e, 0)?,
        };
        let mut f = e.f;
        self.concat(&mut f, pc)?;
        e.f = f;
        self.patchtohere(e.t)?;
        e.t = NO_JUMP;
        Ok(())
    }
    fn goiffalse(&mut self, e: &mut ExpDesc) -> R<()> {
        self.dischargevars(e);
        let pc = match e.k {
            K::Nil | K::False => NO_JUMP,
            K::Jmp => e.info,
            _ => self.jumponcond(e, 1)?,
        };
        let mut t = e.t;
        self.concat(&mut t, pc)?;
        e.t = t;
        self.patchtohere(e.f)?;
        e.f = NO_JUMP;
        Ok(())
    }
    fn codenot(&mut self, e: &mut ExpDesc) -> R<()> {
        self.dischargevars(e);
        match e.k {
            K::Nil | K::False => e.k = K::True,
            K::Kst | K::KNum | K::True => e.k = K::False,
            K::Jmp => self.invertjump(e),
            K::Relocable | K::NonReloc => {
                self.discharge2anyreg(e)?;
                self.freeexp(e);
                e.info = self.code_abc(Op::Not, 0, e.info, 0);
                e.k = K::Relocable;
            }
            _ => {}
        }
        std::mem::swap(&mut e.f, &mut e.t);
        self.removevalues(e.f);
        self.removevalues(e.t);
        Ok(())
    }
    fn indexed(&mut self, t: &mut ExpDesc, k: &mut ExpDesc) -> R<()> {
        t.aux = self.exp2rk(k)?;
        t.k = K::Indexed;
        Ok(())
    }
    fn constfolding(op: Op, e1: &mut ExpDesc, e2: &ExpDesc) -> bool {
        if !e1.is_numeral() || !e2.is_numeral() {
            return false;
        }
        let (v1, v2) = (e1.nval, e2.nval);
        let r = match op {
            Op::Add => v1 + v2,
            Op::Sub => v1 - v2,
            Op::Mul => v1 * v2,
            Op::Div => {
                if v2 == 0.0 {
                    return false;
                }
                v1 / v2
            }
            Op::Mod => {
                if v2 == 0.0 {
                    return false;
                }
                crate::vm::lua_mod(v1, v2)
            }
            Op::Pow => v1.powf(v2),
            Op::Unm => -v1,
            _ => return false,
        };
        if r.is_nan() {
            return false;
        }
        e1.nval = r;
        true
    }
    fn codearith(&mut self, op: Op, e1: &mut ExpDesc, e2: &mut ExpDesc) -> R<()> {
        if Self::constfolding(op, e1, e2) {
            return Ok(());
        }
        let o2 = if op != Op::Unm && op != Op::Len {
            self.exp2rk(e2)?
        } else {
            0
        };
        let o1 = self.exp2rk(e1)?;
        if o1 > o2 {
            self.freeexp(e1);
            self.freeexp(e2);
        } else {
            self.freeexp(e2);
            self.freeexp(e1);
        }
        e1.info = self.code_abc(op, 0, o1, o2);
        e1.k = K::Relocable;
        Ok(())
    }
    fn codecomp(&mut self, op: Op, mut cond: i32, e1: &mut ExpDesc, e2: &mut ExpDesc) -> R<()> {
        let mut o1 = self.exp2rk(e1)?;
        let mut o2 = self.exp2rk(e2)?;
        self.freeexp(e2);
        self.freeexp(e1);
        if cond == 0 && op != Op::Eq {
            std::mem::swap(&mut o1, &mut o2);
            cond = 1;
        }
        e1.info = self.condjump(op, cond, o1, o2);
        e1.k = K::Jmp;
        Ok(())
    }
    fn prefix(&mut self, op: UnOpr, e: &mut ExpDesc) -> R<()> {
        let mut e2 = ExpDesc::new(K::KNum, 0);
        match op {
            UnOpr::Minus => {
                if !e.is_numeral() {
                    self.exp2anyreg(e)?;
                }
                self.codearith(Op::Unm, e, &mut e2)
            }
            UnOpr::Not => self.codenot(e),
            UnOpr::Len => {
                self.exp2anyreg(e)?;
                self.codearith(Op::Len, e, &mut e2)
            }
            UnOpr::NoUnOpr => Ok(()),
        }
    }
    fn infix(&mut self, op: BinOpr, v: &mut ExpDesc) -> R<()> {
        match op {
            BinOpr::And => self.goiftrue(v),
            BinOpr::Or => self.goiffalse(v),
            BinOpr::Concat => self.exp2nextreg(v),
            BinOpr::Add | BinOpr::Sub | BinOpr::Mul | BinOpr::Div | BinOpr::Mod | BinOpr::Pow => {
                if !v.is_numeral() {
                    self.exp2rk(v)?;
                }
                Ok(())
            }
            _ => {
                self.exp2rk(v)?;
                Ok(())
            }
        }
    }
    fn posfix(&mut self, op: BinOpr, e1: &mut ExpDesc, e2: &mut ExpDesc) -> R<()> {
        match op {
            BinOpr::And => {
                self.dischargevars(e2);
                let mut f = e2.f;
                self.concat(&mut f, e1.f)?;
                e2.f = f;
                *e1 = *e2;
            }
            BinOpr::Or => {
                self.dischargevars(e2);
                let mut t = e2.t;
                self.concat(&mut t, e1.t)?;
                e2.t = t;
                *e1 = *e2;
            }
            BinOpr::Concat => {
                self.exp2val(e2)?;
                if e2.k == K::Relocable && get_op(self.fsr().f.code[e2.info as usize]) == Op::Concat
                {
                    self.freeexp(e1);
                    set_b(&mut self.fs().f.code[e2.info as usize], e1.info);
                    e1.k = K::Relocable;
                    e1.info = e2.info;
                } else {
                    self.exp2nextreg(e2)?;
                    self.codearith(Op::Concat, e1, e2)?;
                }
            }
            BinOpr::Add => self.codearith(Op::Add, e1, e2)?,
            BinOpr::Sub => self.codearith(Op::Sub, e1, e2)?,
            BinOpr::Mul => self.codearith(Op::Mul, e1, e2)?,
            BinOpr::Div => self.codearith(Op::Div, e1, e2)?,
            BinOpr::Mod => self.codearith(Op::Mod, e1, e2)?,
            BinOpr::Pow => self.codearith(Op::Pow, e1, e2)?,
            BinOpr::Eq => self.codecomp(Op::Eq, 1, e1, e2)?,
            BinOpr::Ne => self.codecomp(Op::Eq, 0, e1, e2)?,
            BinOpr::Lt => self.codecomp(Op::Lt, 1, e1, e2)?,
            BinOpr::Le => self.codecomp(Op::Le, 1, e1, e2)?,
            BinOpr::Gt => self.codecomp(Op::Lt, 0, e1, e2)?,
            BinOpr::Ge => self.codecomp(Op::Le, 0, e1, e2)?,
            BinOpr::NoBinOpr => {}
        }
        Ok(())
    }
    fn setlist(&mut self, base: i32, nelems: i32, tostore: i32) {
        let c = (nelems - 1) / LFIELDS_PER_FLUSH + 1;
        let b = if tostore == LUA_MULTRET { 0 } else { tostore };
        if c <= MAXARG_C {
            self.code_abc(Op::SetList, base, b, c);
        } else {
            self.code_abc(Op::SetList, base, b, 0);
            let line = self.lx.lastline as u32;
            self.code(c as u32, line);
        }
        self.fs().freereg = base + 1;
    }

    // ---------------------------------------------------------------- lparser.c

    fn error_expected(&self, token: i32) -> Vec<u8> {
        let mut m = b"'".to_vec();
        m.extend_from_slice(&Lexer::token2str(token));
        m.extend_from_slice(b"' expected");
        self.lx.syntaxerror(&m)
    }
    fn errorlimit(&self, limit: i32, what: &str) -> Vec<u8> {
        let fs = self.fsr();
        let msg = if fs.f.linedefined == 0 {
            format!("main function has more than {} {}", limit, what)
        } else {
            format!(
                "function at line {} has more than {} {}",
                fs.f.linedefined, limit, what
            )
        };
        self.lx.lexerror(msg.as_bytes(), 0)
    }
    fn testnext(&mut self, c: i32) -> R<bool> {
        if self.lx.t.token == c {
            self.lx.next()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }
    fn check(&self, c: i32) -> R<()> {
        if self.lx.t.token != c {
            return Err(self.error_expected(c));
        }
        Ok(())
    }
    fn checknext(&mut self, c: i32) -> R<()> {
        self.check(c)?;
        self.lx.next()
    }
    fn check_match(&mut self, what: i32, who: i32, where_: usize) -> R<()> {
        if !self.testnext(what)? {
            if where_ == self.lx.linenumber {
                return Err(self.error_expected(what));
            }
            let mut m = b"'".to_vec();
            m.extend_from_slice(&Lexer::token2str(what));
            m.extend_from_slice(b"' expected (to close '");
            m.extend_from_slice(&Lexer::token2str(who));
            m.extend_from_slice(format!("' at line {})", where_).as_bytes());
            return Err(self.lx.syntaxerror(&m));
        }
        Ok(())
    }
    fn str_checkname(&mut self) -> R<Vec<u8>> {
        self.check(TK_NAME)?;
        let s = std::mem::take(&mut self.lx.t.s);
        self.lx.next()?;
        Ok(s)
    }
    fn codestring(&mut self, s: &[u8]) -> R<ExpDesc> {
        Ok(ExpDesc::new(K::Kst, self.string_k(s)?))
    }
    fn checkname(&mut self) -> R<ExpDesc> {
        let s = self.str_checkname()?;
        self.codestring(&s)
    }
    fn new_localvar(&mut self, name: Vec<u8>, n: i32) -> R<()> {
        if self.fsr().nactvar + n + 1 > MAXVARS {
            return Err(self.errorlimit(MAXVARS, "local variables"));
        }
        let fs = self.fs();
        fs.f.locvars.push(LocVar {
            name,
            startpc: 0,
            endpc: 0,
        });
        let idx = (fs.f.locvars.len() - 1) as u16;
        let pos = (fs.nactvar + n) as usize;
        if fs.actvar.len() <= pos {
            fs.actvar.resize(pos + 1, 0);
        }
        fs.actvar[pos] = idx;
        Ok(())
    }
    fn adjustlocalvars(&mut self, nvars: i32) {
        let pc = self.pc();
        let fs = self.fs();
        fs.nactvar += nvars;
        for i in (fs.nactvar - nvars)..fs.nactvar {
            let idx = fs.actvar[i as usize] as usize;
            fs.f.locvars[idx].startpc = pc;
        }
    }
    fn removevars(&mut self, tolevel: i32) {
        let pc = self.pc();
        let fs = self.fs();
        while fs.nactvar > tolevel {
            fs.nactvar -= 1;
            let idx = fs.actvar[fs.nactvar as usize] as usize;
            fs.f.locvars[idx].endpc = pc;
        }
    }
    fn indexupvalue(&mut self, level: usize, name: &[u8], v: &ExpDesc) -> R<i32> {
        let fs = &self.fss[level];
        for (i, u) in fs.upvalues.iter().enumerate() {
            if u.0 == v.k && u.1 == v.info {
                return Ok(i as i32);
            }
        }
        if fs.f.nups as i32 + 1 > MAXUPVALUES {
            let msg = if fs.f.linedefined == 0 {
                format!("main function has more than {} {}", MAXUPVALUES, "upvalues")
            } else {
                format!(
                    "function at line {} has more than {} {}",
                    fs.f.linedefined, MAXUPVALUES, "upvalues"
                )
            };
            return Err(self.lx.lexerror(msg.as_bytes(), 0));
        }
        let fs = &mut self.fss[level];
        fs.f.upvalue_names.push(name.to_vec());
        fs.upvalues.push((v.k, v.info));
        fs.f.nups += 1;
        Ok(fs.f.nups as i32 - 1)
    }
    fn searchvar(&self, level: usize, n: &[u8]) -> i32 {
        let fs = &self.fss[level];
        for i in (0..fs.nactvar).rev() {
            if fs.f.locvars[fs.actvar[i as usize] as usize].name == n {
                return i;
            }
        }
        -1
    }
    fn markupval(&mut self, level: usize, v: i32) {
        let fs = &mut self.fss[level];
        for bl in fs.bl.iter_mut().rev() {
            if bl.nactvar <= v {
                bl.upval = true;
                return;
            }
        }
    }
    fn singlevaraux(
        &mut self,
        level: Option<usize>,
        n: &[u8],
        var: &mut ExpDesc,
        base: bool,
    ) -> R<K> {
        let level = match level {
            None => {
                *var = ExpDesc::new(K::Global, NO_REG);
                return Ok(K::Global);
            }
            Some(l) => l,
        };
        let v = self.searchvar(level, n);
        if v >= 0 {
            *var = ExpDesc::new(K::Local, v);
            if !base {
                self.markupval(level, v);
            }
            return Ok(K::Local);
        }
        let up = if level == 0 { None } else { Some(level - 1) };
        if self.singlevaraux(up, n, var, false)? == K::Global {
            return Ok(K::Global);
        }
        var.info = self.indexupvalue(level, n, var)?;
        var.k = K::Upval;
        Ok(K::Upval)
    }
    fn singlevar(&mut self) -> R<ExpDesc> {
        let name = self.str_checkname()?;
        let mut var = ExpDesc::new(K::Void, 0);
        let lvl = self.fss.len() - 1;
        if self.singlevaraux(Some(lvl), &name, &mut var, true)? == K::Global {
            var.info = self.string_k(&name)?;
        }
        Ok(var)
    }
    fn adjust_assign(&mut self, nvars: i32, nexps: i32, e: &mut ExpDesc) -> R<()> {
        let mut extra = nvars - nexps;
        if hasmultret(e.k) {
            extra += 1;
            if extra < 0 {
                extra = 0;
            }
            self.setreturns(e, extra)?;
            if extra > 1 {
                self.reserveregs(extra - 1)?;
            }
        } else {
            if e.k != K::Void {
                self.exp2nextreg(e)?;
            }
            if extra > 0 {
                let reg = self.fsr().freereg;
                self.reserveregs(extra)?;
                self.knil(reg, extra);
            }
        }
        Ok(())
    }
    fn enterlevel(&mut self) -> R<()> {
        self.nccalls += 1;
        if self.nccalls > MAXCCALLS {
            return Err(self.lx.lexerror(b"chunk has too many syntax levels", 0));
        }
        Ok(())
    }
    fn leavelevel(&mut self) {
        self.nccalls -= 1;
    }
    fn enterblock(&mut self, isbreakable: bool) {
        let fs = self.fs();
        let nactvar = fs.nactvar;
        fs.bl.push(BlockCnt {
            breaklist: NO_JUMP,
            nactvar,
            upval: false,
            isbreakable,
        });
    }
    fn leaveblock(&mut self) -> R<()> {
        let bl = self.fs().bl.pop().unwrap();
        self.removevars(bl.nactvar);
        if bl.upval {
            self.code_abc(Op::Close, bl.nactvar, 0, 0);
        }
        let fs = self.fs();
        fs.freereg = fs.nactvar;
        self.patchtohere(bl.breaklist)
    }
    fn pushclosure(&mut self, func: FuncState) -> R<ExpDesc> {
        let np = self.fsr().f.p.len() as i32;
        if np >= MAXARG_BX {
            return Err(self.lx.lexerror(b"constant table overflow", 0));
        }
        let ups = func.upvalues.clone();
        self.fs().f.p.push(Rc::new(func.f));
        let v = ExpDesc::new(K::Relocable, self.code_abx(Op::Closure, 0, np));
        for (k, info) in ups {
            let o = if k == K::Local {
                Op::Move
            } else {
                Op::GetUpval
            };
            self.code_abc(o, 0, info, 0);
        }
        Ok(v)
    }
    fn open_func(&mut self) {
        let mut f = Proto {
            source: self.source.clone(),
            maxstacksize: 2,
            ..Default::default()
        };
        f.source = self.source.clone();
        self.fss.push(FuncState {
            f,
            h: HashMap::new(),
            lasttarget: -1,
            jpc: NO_JUMP,
            freereg: 0,
            nactvar: 0,
            actvar: Vec::new(),
            upvalues: Vec::new(),
            bl: Vec::new(),
        });
    }
    fn close_func(&mut self) -> R<Proto> {
        self.removevars(0);
        self.ret(0, 0);
        let fs = self.fss.pop().unwrap();
        Ok(fs.f)
    }
    fn field(&mut self, v: &mut ExpDesc) -> R<()> {
        self.exp2anyreg(v)?;
        self.lx.next()?;
        let mut key = self.checkname()?;
        self.indexed(v, &mut key)
    }
    fn yindex(&mut self) -> R<ExpDesc> {
        self.lx.next()?;
        let mut v = self.expr()?;
        self.exp2val(&mut v)?;
        self.checknext(b']' as i32)?;
        Ok(v)
    }
    fn recfield(&mut self, t: &ExpDesc, nh: &mut i32) -> R<()> {
        let reg = self.fsr().freereg;
        let mut key = if self.lx.t.token == TK_NAME {
            self.checkname()?
        } else {
            self.yindex()?
        };
        *nh += 1;
        self.checknext(b'=' as i32)?;
        let rkkey = self.exp2rk(&mut key)?;
        let mut val = self.expr()?;
        let rv = self.exp2rk(&mut val)?;
        self.code_abc(Op::SetTable, t.info, rkkey, rv);
        self.fs().freereg = reg;
        Ok(())
    }
    fn constructor(&mut self) -> R<ExpDesc> {
        let line = self.lx.linenumber;
        let pc = self.code_abc(Op::NewTable, 0, 0, 0);
        let (mut na, mut nh, mut tostore) = (0i32, 0i32, 0i32);
        let mut t = ExpDesc::new(K::Relocable, pc);
        let mut v = ExpDesc::new(K::Void, 0);
        self.exp2nextreg(&mut t)?;
        self.checknext(b'{' as i32)?;
        loop {
            if self.lx.t.token == b'}' as i32 {
                break;
            }
            // closelistfield
            if v.k != K::Void {
                self.exp2nextreg(&mut v)?;
                v.k = K::Void;
                if tostore == LFIELDS_PER_FLUSH {
                    self.setlist(t.info, na, tostore);
                    tostore = 0;
                }
            }
            let tok = self.lx.t.token;
            if tok == TK_NAME {
                self.lx.do_lookahead()?;
                if self.lx.lookahead.token != b'=' as i32 {
                    v = self.expr()?;
                    na += 1;
                    tostore += 1;
                } else {
                    self.recfield(&t, &mut nh)?;
                }
            } else if tok == b'[' as i32 {
                self.recfield(&t, &mut nh)?;
            } else {
                v = self.expr()?;
                na += 1;
                tostore += 1;
            }
            if !(self.testnext(b',' as i32)? || self.testnext(b';' as i32)?) {
                break;
            }
        }
        self.check_match(b'}' as i32, b'{' as i32, line)?;
        // lastlistfield
        if tostore != 0 {
            if hasmultret(v.k) {
                self.setmultret(&v)?;
                self.setlist(t.info, na, LUA_MULTRET);
                na -= 1;
            } else {
                if v.k != K::Void {
                    self.exp2nextreg(&mut v)?;
                }
                self.setlist(t.info, na, tostore);
            }
        }
        let code = &mut self.fs().f.code[pc as usize];
        set_b(code, int2fb(na as u32));
        set_c(code, int2fb(nh as u32));
        Ok(t)
    }
    fn parlist(&mut self) -> R<()> {
        let mut nparams = 0;
        self.fs().f.is_vararg = 0;
        if self.lx.t.token != b')' as i32 {
            loop {
                match self.lx.t.token {
                    TK_NAME => {
                        let n = self.str_checkname()?;
                        self.new_localvar(n, nparams)?;
                        nparams += 1;
                    }
                    TK_DOTS => {
                        self.lx.next()?;
                        self.new_localvar(b"arg".to_vec(), nparams)?;
                        nparams += 1;
                        self.fs().f.is_vararg = VARARG_HASARG | VARARG_NEEDSARG | VARARG_ISVARARG;
                    }
                    _ => return Err(self.lx.syntaxerror(b"<name> or '...' expected")),
                }
                if self.fsr().f.is_vararg != 0 || !self.testnext(b',' as i32)? {
                    break;
                }
            }
        }
        self.adjustlocalvars(nparams);
        let fs = self.fs();
        fs.f.numparams = (fs.nactvar - (fs.f.is_vararg & VARARG_HASARG) as i32) as u8;
        let n = fs.nactvar;
        self.reserveregs(n)
    }
    fn body(&mut self, needself: bool, line: usize) -> R<ExpDesc> {
        self.open_func();
        self.fs().f.linedefined = line as u32;
        self.checknext(b'(' as i32)?;
        if needself {
            self.new_localvar(b"self".to_vec(), 0)?;
            self.adjustlocalvars(1);
        }
        self.parlist()?;
        self.checknext(b')' as i32)?;
        self.chunk()?;
        self.fs().f.lastlinedefined = self.lx.linenumber as u32;
        self.check_match(TK_END, TK_FUNCTION, line)?;
        self.removevars(0);
        self.ret(0, 0);
        let fs = self.fss.pop().unwrap();
        self.pushclosure(fs)
    }
    fn explist1(&mut self, v: &mut ExpDesc) -> R<i32> {
        let mut n = 1;
        *v = self.expr()?;
        while self.testnext(b',' as i32)? {
            self.exp2nextreg(v)?;
            *v = self.expr()?;
            n += 1;
        }
        Ok(n)
    }
    fn funcargs(&mut self, f: &mut ExpDesc) -> R<()> {
        let line = self.lx.linenumber;
        let mut args;
        match self.lx.t.token {
            c if c == b'(' as i32 => {
                if line != self.lx.lastline {
                    return Err(self
                        .lx
                        .syntaxerror(b"ambiguous syntax (function call x new statement)"));
                }
                self.lx.next()?;
                if self.lx.t.token == b')' as i32 {
                    args = ExpDesc::new(K::Void, 0);
                } else {
                    args = ExpDesc::new(K::Void, 0);
                    self.explist1(&mut args)?;
                    self.setmultret(&args)?;
                }
                self.check_match(b')' as i32, b'(' as i32, line)?;
            }
            c if c == b'{' as i32 => {
                args = self.constructor()?;
            }
            TK_STRING => {
                let s = std::mem::take(&mut self.lx.t.s);
                args = self.codestring(&s)?;
                self.lx.t.s = s;
                self.lx.next()?;
            }
            _ => return Err(self.lx.syntaxerror(b"function arguments expected")),
        }
        let base = f.info;
        let nparams = if hasmultret(args.k) {
            LUA_MULTRET
        } else {
            if args.k != K::Void {
                self.exp2nextreg(&mut args)?;
            }
            self.fsr().freereg - (base + 1)
        };
        *f = ExpDesc::new(K::Call, self.code_abc(Op::Call, base, nparams + 1, 2));
        self.fixline(line);
        self.fs().freereg = base + 1;
        Ok(())
    }
    fn prefixexp(&mut self) -> R<ExpDesc> {
        match self.lx.t.token {
            c if c == b'(' as i32 => {
                let line = self.lx.linenumber;
                self.lx.next()?;
                let mut v = self.expr()?;
                self.check_match(b')' as i32, b'(' as i32, line)?;
                self.dischargevars(&mut v);
                Ok(v)
            }
            TK_NAME => self.singlevar(),
            _ => Err(self.lx.syntaxerror(b"unexpected symbol")),
        }
    }
    fn primaryexp(&mut self) -> R<ExpDesc> {
        let mut v = self.prefixexp()?;
        loop {
            match self.lx.t.token {
                c if c == b'.' as i32 => self.field(&mut v)?,
                c if c == b'[' as i32 => {
                    self.exp2anyreg(&mut v)?;
                    let mut key = self.yindex()?;
                    self.indexed(&mut v, &mut key)?;
                }
                c if c == b':' as i32 => {
                    self.lx.next()?;
                    let mut key = self.checkname()?;
                    self.kself(&mut v, &mut key)?;
                    self.funcargs(&mut v)?;
                }
                c if c == b'(' as i32 || c == TK_STRING || c == b'{' as i32 => {
                    self.exp2nextreg(&mut v)?;
                    self.funcargs(&mut v)?;
                }
                _ => return Ok(v),
            }
        }
    }
    fn simpleexp(&mut self) -> R<ExpDesc> {
        let v = match self.lx.t.token {
            TK_NUMBER => {
                let mut v = ExpDesc::new(K::KNum, 0);
                v.nval = self.lx.t.num;
                v
            }
            TK_STRING => {
                let s = std::mem::take(&mut self.lx.t.s);
                let v = self.codestring(&s)?;
                self.lx.t.s = s;
                v
            }
            TK_NIL => ExpDesc::new(K::Nil, 0),
            TK_TRUE => ExpDesc::new(K::True, 0),
            TK_FALSE => ExpDesc::new(K::False, 0),
            TK_DOTS => {
                if self.fsr().f.is_vararg == 0 {
                    return Err(self
                        .lx
                        .syntaxerror(b"cannot use '...' outside a vararg function"));
                }
                self.fs().f.is_vararg &= !VARARG_NEEDSARG;
                ExpDesc::new(K::VarArg, self.code_abc(Op::VarArg, 0, 1, 0))
            }
            c if c == b'{' as i32 => return self.constructor(),
            TK_FUNCTION => {
                self.lx.next()?;
                let line = self.lx.linenumber;
                return self.body(false, line);
            }
            _ => return self.primaryexp(),
        };
        self.lx.next()?;
        Ok(v)
    }
    fn getunopr(op: i32) -> UnOpr {
        match op {
            TK_NOT => UnOpr::Not,
            c if c == b'-' as i32 => UnOpr::Minus,
            c if c == b'#' as i32 => UnOpr::Len,
            _ => UnOpr::NoUnOpr,
        }
    }
    fn getbinopr(op: i32) -> BinOpr {
        match op {
            TK_CONCAT => BinOpr::Concat,
            TK_NE => BinOpr::Ne,
            TK_EQ => BinOpr::Eq,
            TK_LE => BinOpr::Le,
            TK_GE => BinOpr::Ge,
            TK_AND => BinOpr::And,
            TK_OR => BinOpr::Or,
            c if (0..256).contains(&c) => match c as u8 {
                b'+' => BinOpr::Add,
                b'-' => BinOpr::Sub,
                b'*' => BinOpr::Mul,
                b'/' => BinOpr::Div,
                b'%' => BinOpr::Mod,
                b'^' => BinOpr::Pow,
                b'<' => BinOpr::Lt,
                b'>' => BinOpr::Gt,
                _ => BinOpr::NoBinOpr,
            },
            _ => BinOpr::NoBinOpr,
        }
    }
    fn subexpr(&mut self, v: &mut ExpDesc, limit: u32) -> R<BinOpr> {
        self.enterlevel()?;
        let uop = Self::getunopr(self.lx.t.token);
        if uop != UnOpr::NoUnOpr {
            self.lx.next()?;
            self.subexpr(v, UNARY_PRIORITY)?;
            self.prefix(uop, v)?;
        } else {
            *v = self.simpleexp()?;
        }
        let mut op = Self::getbinopr(self.lx.t.token);
        while op != BinOpr::NoBinOpr && PRIORITY[op as usize].0 > limit {
            self.lx.next()?;
            self.infix(op, v)?;
            let mut v2 = ExpDesc::new(K::Void, 0);
            let nextop = self.subexpr(&mut v2, PRIORITY[op as usize].1)?;
            self.posfix(op, v, &mut v2)?;
            op = nextop;
        }
        self.leavelevel();
        Ok(op)
    }
    fn expr(&mut self) -> R<ExpDesc> {
        let mut v = ExpDesc::new(K::Void, 0);
        self.subexpr(&mut v, 0)?;
        Ok(v)
    }
    fn block_follow(token: i32) -> bool {
        matches!(token, TK_ELSE | TK_ELSEIF | TK_END | TK_UNTIL | TK_EOS)
    }
    fn block(&mut self) -> R<()> {
        self.enterblock(false);
        self.chunk()?;
        self.leaveblock()
    }
    fn check_conflict(&mut self, lh: &mut [ExpDesc], v: &ExpDesc) -> R<()> {
        let extra = self.fsr().freereg;
        let mut conflict = false;
        for l in lh.iter_mut() {
            if l.k == K::Indexed {
                if l.info == v.info {
                    conflict = true;
                    l.info = extra;
                }
                if l.aux == v.info {
                    conflict = true;
                    l.aux = extra;
                }
            }
        }
        if conflict {
            let fr = self.fsr().freereg;
            self.code_abc(Op::Move, fr, v.info, 0);
            self.reserveregs(1)?;
        }
        Ok(())
    }
    fn assignment(&mut self, lhs: &mut Vec<ExpDesc>, nvars: i32) -> R<()> {
        let lk = lhs.last().unwrap().k;
        if !(K::Local <= lk && lk <= K::Indexed) {
            return Err(self.lx.syntaxerror(b"syntax error"));
        }
        let mut e = ExpDesc::new(K::Void, 0);
        if self.testnext(b',' as i32)? {
            let nv = self.primaryexp()?;
            if nv.k == K::Local {
                self.check_conflict(lhs, &nv)?;
            }
            if nvars > MAXCCALLS as i32 - self.nccalls as i32 {
                return Err(self.errorlimit(
                    MAXCCALLS as i32 - self.nccalls as i32,
                    "variables in assignment",
                ));
            }
            lhs.push(nv);
            self.assignment(lhs, nvars + 1)?;
            lhs.pop();
        } else {
            self.checknext(b'=' as i32)?;
            let nexps = self.explist1(&mut e)?;
            if nexps != nvars {
                self.adjust_assign(nvars, nexps, &mut e)?;
                if nexps > nvars {
                    self.fs().freereg -= nexps - nvars;
                }
            } else {
                self.setoneret(&mut e);
                let var = *lhs.last().unwrap();
                return self.storevar(&var, &mut e);
            }
        }
        let mut e = ExpDesc::new(K::NonReloc, self.fsr().freereg - 1);
        let var = *lhs.last().unwrap();
        self.storevar(&var, &mut e)
    }
    fn cond(&mut self) -> R<i32> {
        let mut v = self.expr()?;
        if v.k == K::Nil {
            v.k = K::False;
        }
        self.goiftrue(&mut v)?;
        Ok(v.f)
    }
    fn breakstat(&mut self) -> R<()> {
        let mut upval = false;
        let mut idx = None;
        for (i, bl) in self.fsr().bl.iter().enumerate().rev() {
            if bl.isbreakable {
                idx = Some(i);
                break;
            }
            upval |= bl.upval;
        }
        let idx = match idx {
            Some(i) => i,
            None => return Err(self.lx.syntaxerror(b"no loop to break")),
        };
        if upval {
            let n = self.fsr().bl[idx].nactvar;
            self.code_abc(Op::Close, n, 0, 0);
        }
        let j = self.jump();
        let mut bl = self.fsr().bl[idx].breaklist;
        self.concat(&mut bl, j)?;
        self.fs().bl[idx].breaklist = bl;
        Ok(())
    }
    fn whilestat(&mut self, line: usize) -> R<()> {
        self.lx.next()?;
        let whileinit = self.getlabel();
        let condexit = self.cond()?;
        self.enterblock(true);
        self.checknext(TK_DO)?;
        self.block()?;
        let j = self.jump();
        self.patchlist(j, whileinit)?;
        self.check_match(TK_END, TK_WHILE, line)?;
        self.leaveblock()?;
        self.patchtohere(condexit)
    }
    fn repeatstat(&mut self, line: usize) -> R<()> {
        let repeat_init = self.getlabel();
        self.enterblock(true);
        self.enterblock(false);
        self.lx.next()?;
        self.chunk()?;
        self.check_match(TK_UNTIL, TK_REPEAT, line)?;
        let condexit = self.cond()?;
        if !self.fsr().bl.last().unwrap().upval {
            self.leaveblock()?;
            self.patchlist(condexit, repeat_init)?;
        } else {
            self.breakstat()?;
            self.patchtohere(condexit)?;
            self.leaveblock()?;
            let j = self.jump();
            self.patchlist(j, repeat_init)?;
        }
        self.leaveblock()
    }
    fn exp1(&mut self) -> R<()> {
        let mut e = self.expr()?;
        self.exp2nextreg(&mut e)
    }
    fn forbody(&mut self, base: i32, line: usize, nvars: i32, isnum: bool) -> R<()> {
        self.adjustlocalvars(3);
        self.checknext(TK_DO)?;
        let prep = if isnum {
            self.code_asbx(Op::ForPrep, base, NO_JUMP)
        } else {
            self.jump()
        };
        self.enterblock(false);
        self.adjustlocalvars(nvars);
        self.reserveregs(nvars)?;
        self.block()?;
        self.leaveblock()?;
        self.patchtohere(prep)?;
        let endfor = if isnum {
            self.code_asbx(Op::ForLoop, base, NO_JUMP)
        } else {
            self.code_abc(Op::TForLoop, base, 0, nvars)
        };
        self.fixline(line);
        let l = if isnum { endfor } else { self.jump() };
        self.patchlist(l, prep + 1)
    }
    fn fornum(&mut self, varname: Vec<u8>, line: usize) -> R<()> {
        let base = self.fsr().freereg;
        self.new_localvar(b"(for index)".to_vec(), 0)?;
        self.new_localvar(b"(for limit)".to_vec(), 1)?;
        self.new_localvar(b"(for step)".to_vec(), 2)?;
        self.new_localvar(varname, 3)?;
        self.checknext(b'=' as i32)?;
        self.exp1()?;
        self.checknext(b',' as i32)?;
        self.exp1()?;
        if self.testnext(b',' as i32)? {
            self.exp1()?;
        } else {
            let fr = self.fsr().freereg;
            let k = self.number_k(1.0)?;
            self.code_abx(Op::LoadK, fr, k);
            self.reserveregs(1)?;
        }
        self.forbody(base, line, 1, true)
    }
    fn forlist(&mut self, indexname: Vec<u8>) -> R<()> {
        let base = self.fsr().freereg;
        let mut nvars = 0;
        self.new_localvar(b"(for generator)".to_vec(), nvars)?;
        nvars += 1;
        self.new_localvar(b"(for state)".to_vec(), nvars)?;
        nvars += 1;
        self.new_localvar(b"(for control)".to_vec(), nvars)?;
        nvars += 1;
        self.new_localvar(indexname, nvars)?;
        nvars += 1;
        while self.testnext(b',' as i32)? {
            let n = self.str_checkname()?;
            self.new_localvar(n, nvars)?;
            nvars += 1;
        }
        self.checknext(TK_IN)?;
        let line = self.lx.linenumber;
        let mut e = ExpDesc::new(K::Void, 0);
        let n = self.explist1(&mut e)?;
        self.adjust_assign(3, n, &mut e)?;
        self.checkstack(3)?;
        self.forbody(base, line, nvars - 3, false)
    }
    fn forstat(&mut self, line: usize) -> R<()> {
        self.enterblock(true);
        self.lx.next()?;
        let varname = self.str_checkname()?;
        match self.lx.t.token {
            c if c == b'=' as i32 => self.fornum(varname, line)?,
            c if c == b',' as i32 || c == TK_IN => self.forlist(varname)?,
            _ => return Err(self.lx.syntaxerror(b"'=' or 'in' expected")),
        }
        self.check_match(TK_END, TK_FOR, line)?;
        self.leaveblock()
    }
    fn test_then_block(&mut self) -> R<i32> {
        self.lx.next()?;
        let condexit = self.cond()?;
        self.checknext(TK_THEN)?;
        self.block()?;
        Ok(condexit)
    }
    fn ifstat(&mut self, line: usize) -> R<()> {
        let mut escapelist = NO_JUMP;
        let mut flist = self.test_then_block()?;
        while self.lx.t.token == TK_ELSEIF {
            let j = self.jump();
            self.concat(&mut escapelist, j)?;
            self.patchtohere(flist)?;
            flist = self.test_then_block()?;
        }
        if self.lx.t.token == TK_ELSE {
            let j = self.jump();
            self.concat(&mut escapelist, j)?;
            self.patchtohere(flist)?;
            self.lx.next()?;
            self.block()?;
        } else {
            self.concat(&mut escapelist, flist)?;
        }
        self.patchtohere(escapelist)?;
        self.check_match(TK_END, TK_IF, line)
    }
    fn localfunc(&mut self) -> R<()> {
        let name = self.str_checkname()?;
        self.new_localvar(name, 0)?;
        let v = ExpDesc::new(K::Local, self.fsr().freereg);
        self.reserveregs(1)?;
        self.adjustlocalvars(1);
        let line = self.lx.linenumber;
        let mut b = self.body(false, line)?;
        self.storevar(&v, &mut b)?;
        let pc = self.pc();
        let fs = self.fs();
        let idx = fs.actvar[(fs.nactvar - 1) as usize] as usize;
        fs.f.locvars[idx].startpc = pc;
        Ok(())
    }
    fn localstat(&mut self) -> R<()> {
        let mut nvars = 0;
        loop {
            let n = self.str_checkname()?;
            self.new_localvar(n, nvars)?;
            nvars += 1;
            if !self.testnext(b',' as i32)? {
                break;
            }
        }
        let mut e = ExpDesc::new(K::Void, 0);
        let nexps = if self.testnext(b'=' as i32)? {
            self.explist1(&mut e)?
        } else {
            0
        };
        self.adjust_assign(nvars, nexps, &mut e)?;
        self.adjustlocalvars(nvars);
        Ok(())
    }
    fn funcstat(&mut self, line: usize) -> R<()> {
        self.lx.next()?;
        let mut v = self.singlevar()?;
        let mut needself = false;
        while self.lx.t.token == b'.' as i32 {
            self.field(&mut v)?;
        }
        if self.lx.t.token == b':' as i32 {
            needself = true;
            self.field(&mut v)?;
        }
        let mut b = self.body(needself, line)?;
        self.storevar(&v, &mut b)?;
        self.fixline(line);
        Ok(())
    }
    fn exprstat(&mut self) -> R<()> {
        let v = self.primaryexp()?;
        if v.k == K::Call {
            set_c(&mut self.fs().f.code[v.info as usize], 1);
            Ok(())
        } else {
            let mut lhs = vec![v];
            self.assignment(&mut lhs, 1)
        }
    }
    fn retstat(&mut self) -> R<()> {
        self.lx.next()?;
        let (first, nret);
        if Self::block_follow(self.lx.t.token) || self.lx.t.token == b';' as i32 {
            first = 0;
            nret = 0;
        } else {
            let mut e = ExpDesc::new(K::Void, 0);
            let n = self.explist1(&mut e)?;
            if hasmultret(e.k) {
                self.setmultret(&e)?;
                if e.k == K::Call && n == 1 {
                    set_op(&mut self.fs().f.code[e.info as usize], Op::TailCall);
                }
                first = self.fsr().nactvar;
                nret = LUA_MULTRET;
            } else if n == 1 {
                first = self.exp2anyreg(&mut e)?;
                nret = 1;
            } else {
                self.exp2nextreg(&mut e)?;
                first = self.fsr().nactvar;
                nret = n;
            }
        }
        self.ret(first, nret);
        Ok(())
    }
    fn statement(&mut self) -> R<bool> {
        let line = self.lx.linenumber;
        match self.lx.t.token {
            TK_IF => self.ifstat(line)?,
            TK_WHILE => self.whilestat(line)?,
            TK_DO => {
                self.lx.next()?;
                self.block()?;
                self.check_match(TK_END, TK_DO, line)?;
            }
            TK_FOR => self.forstat(line)?,
            TK_REPEAT => self.repeatstat(line)?,
            TK_FUNCTION => self.funcstat(line)?,
            TK_LOCAL => {
                self.lx.next()?;
                if self.testnext(TK_FUNCTION)? {
                    self.localfunc()?;
                } else {
                    self.localstat()?;
                }
            }
            TK_RETURN => {
                self.retstat()?;
                return Ok(true);
            }
            TK_BREAK => {
                self.lx.next()?;
                self.breakstat()?;
                return Ok(true);
            }
            _ => self.exprstat()?,
        }
        Ok(false)
    }
    fn chunk(&mut self) -> R<()> {
        let mut islast = false;
        self.enterlevel()?;
        while !islast && !Self::block_follow(self.lx.t.token) {
            islast = self.statement()?;
            self.testnext(b';' as i32)?;
            let fs = self.fs();
            fs.freereg = fs.nactvar;
        }
        self.leavelevel();
        Ok(())
    }
}

/// `luaO_int2fb`: encode a size as a "floating point byte".
pub fn int2fb(mut x: u32) -> i32 {
    let mut e = 0;
    while x >= 16 {
        x = (x + 1) >> 1;
        e += 1;
    }
    if x < 8 {
        x as i32
    } else {
        ((e + 1) << 3) | (x as i32 - 8)
    }
}

/// `luaO_fb2int`.
pub fn fb2int(x: i32) -> usize {
    let e = (x >> 3) & 31;
    if e == 0 {
        x as usize
    } else {
        (((x & 7) + 8) as usize) << (e - 1)
    }
}
