//! The lexer, ported from llex.c: tokens, long strings/comments with levels, escapes,
//! numerals via `luaO_str2d`, and Lua 5.1's lexical error messages.

use crate::number::str2d;

pub const FIRST_RESERVED: i32 = 257;
pub const TK_AND: i32 = 257;
pub const TK_BREAK: i32 = 258;
pub const TK_DO: i32 = 259;
pub const TK_ELSE: i32 = 260;
pub const TK_ELSEIF: i32 = 261;
pub const TK_END: i32 = 262;
pub const TK_FALSE: i32 = 263;
pub const TK_FOR: i32 = 264;
pub const TK_FUNCTION: i32 = 265;
pub const TK_IF: i32 = 266;
pub const TK_IN: i32 = 267;
pub const TK_LOCAL: i32 = 268;
pub const TK_NIL: i32 = 269;
pub const TK_NOT: i32 = 270;
pub const TK_OR: i32 = 271;
pub const TK_REPEAT: i32 = 272;
pub const TK_RETURN: i32 = 273;
pub const TK_THEN: i32 = 274;
pub const TK_TRUE: i32 = 275;
pub const TK_UNTIL: i32 = 276;
pub const TK_WHILE: i32 = 277;
pub const TK_CONCAT: i32 = 278;
pub const TK_DOTS: i32 = 279;
pub const TK_EQ: i32 = 280;
pub const TK_GE: i32 = 281;
pub const TK_LE: i32 = 282;
pub const TK_NE: i32 = 283;
pub const TK_NUMBER: i32 = 284;
pub const TK_NAME: i32 = 285;
pub const TK_STRING: i32 = 286;
pub const TK_EOS: i32 = 287;

const TOKENS: [&str; 31] = [
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "if", "in", "local",
    "nil", "not", "or", "repeat", "return", "then", "true", "until", "while", "..", "...", "==",
    ">=", "<=", "~=", "<number>", "<name>", "<string>", "<eof>",
];
const NUM_RESERVED: usize = 21;

#[derive(Clone, Debug, Default)]
pub struct Token {
    pub token: i32,
    pub num: f64,
    pub s: Vec<u8>,
}

const EOZ: i32 = -1;

pub struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    current: i32,
    pub linenumber: usize,
    pub lastline: usize,
    pub t: Token,
    pub lookahead: Token,
    buff: Vec<u8>,
    pub chunkid: Vec<u8>,
}

pub type LexResult<T> = Result<T, Vec<u8>>;

/// `luaO_chunkid` with the given buffer length.
pub fn chunkid(source: &[u8], bufflen: usize) -> Vec<u8> {
    if let Some(rest) = source.strip_prefix(b"=") {
        let mut v = rest.to_vec();
        v.truncate(bufflen - 1);
        v
    } else if let Some(rest) = source.strip_prefix(b"@") {
        let b = bufflen - 8;
        let mut out = Vec::new();
        let mut s = rest;
        if s.len() > b {
            s = &s[s.len() - b..];
            out.extend_from_slice(b"...");
        }
        out.extend_from_slice(s);
        out
    } else {
        let len = source
            .iter()
            .position(|&c| c == b'\n' || c == b'\r')
            .unwrap_or(source.len());
        let b = bufflen - 17;
        let len = len.min(b);
        let mut out = b"[string \"".to_vec();
        if len < source.len() {
            out.extend_from_slice(&source[..len]);
            out.extend_from_slice(b"...");
        } else {
            out.extend_from_slice(source);
        }
        out.extend_from_slice(b"\"]");
        out
    }
}

fn is_alnum(c: i32) -> bool {
    c >= 0 && (c as u8).is_ascii_alphanumeric()
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a [u8], source_name: &[u8]) -> Self {
        let mut l = Lexer {
            src,
            pos: 0,
            current: EOZ,
            linenumber: 1,
            lastline: 1,
            t: Token::default(),
            lookahead: Token {
                token: TK_EOS,
                ..Default::default()
            },
            buff: Vec::new(),
            chunkid: chunkid(source_name, 80),
        };
        l.next_char();
        l
    }

    #[inline]
    fn next_char(&mut self) {
        if self.pos < self.src.len() {
            self.current = self.src[self.pos] as i32;
            self.pos += 1;
        } else {
            self.current = EOZ;
        }
    }

    #[inline]
    fn save(&mut self, c: i32) {
        self.buff.push(c as u8);
    }

    #[inline]
    fn save_and_next(&mut self) {
        self.save(self.current);
        self.next_char();
    }

    fn cur_is_newline(&self) -> bool {
        self.current == b'\n' as i32 || self.current == b'\r' as i32
    }

    pub fn token2str(token: i32) -> Vec<u8> {
        if token < FIRST_RESERVED {
            let c = token as u8;
            if c.is_ascii_control() {
                format!("char({})", token).into_bytes()
            } else {
                vec![c]
            }
        } else {
            TOKENS[(token - FIRST_RESERVED) as usize]
                .as_bytes()
                .to_vec()
        }
    }

    fn txt_token(&self, token: i32) -> Vec<u8> {
        match token {
            TK_NAME | TK_STRING | TK_NUMBER => self.buff.clone(),
            _ => Self::token2str(token),
        }
    }

    pub fn lexerror(&self, msg: &[u8], token: i32) -> Vec<u8> {
        let mut m = self.chunkid.clone();
        m.extend_from_slice(format!(":{}: ", self.linenumber).as_bytes());
        m.extend_from_slice(msg);
        if token != 0 {
            m.extend_from_slice(b" near '");
            m.extend_from_slice(&self.txt_token(token));
            m.push(b'\'');
        }
        m
    }

    pub fn syntaxerror(&self, msg: &[u8]) -> Vec<u8> {
        self.lexerror(msg, self.t.token)
    }

    fn inclinenumber(&mut self) -> LexResult<()> {
        let old = self.current;
        self.next_char();
        if self.cur_is_newline() && self.current != old {
            self.next_char();
        }
        self.linenumber += 1;
        if self.linenumber >= i32::MAX as usize {
            return Err(self.syntaxerror(b"chunk has too many lines"));
        }
        Ok(())
    }

    fn check_next(&mut self, set: &[u8]) -> bool {
        if self.current < 0 || !set.contains(&(self.current as u8)) {
            return false;
        }
        self.save_and_next();
        true
    }

    fn read_numeral(&mut self, tok: &mut Token) -> LexResult<()> {
        loop {
            self.save_and_next();
            if !(self.current >= 0
                && ((self.current as u8).is_ascii_digit() || self.current == b'.' as i32))
            {
                break;
            }
        }
        if self.check_next(b"Ee") {
            self.check_next(b"+-");
        }
        while is_alnum(self.current) || self.current == b'_' as i32 {
            self.save_and_next();
        }
        match str2d(&self.buff) {
            Some(v) => {
                tok.num = v;
                Ok(())
            }
            None => Err(self.lexerror(b"malformed number", TK_NUMBER)),
        }
    }

    fn skip_sep(&mut self) -> i32 {
        let mut count = 0;
        let s = self.current;
        self.save_and_next();
        while self.current == b'=' as i32 {
            self.save_and_next();
            count += 1;
        }
        if self.current == s {
            count
        } else {
            -count - 1
        }
    }

    fn read_long_string(&mut self, tok: Option<&mut Token>, sep: i32) -> LexResult<()> {
        let is_str = tok.is_some();
        self.save_and_next();
        if self.cur_is_newline() {
            self.inclinenumber()?;
        }
        loop {
            match self.current {
                EOZ => {
                    return Err(self.lexerror(
                        if is_str {
                            b"unfinished long string"
                        } else {
                            b"unfinished long comment"
                        },
                        TK_EOS,
                    ))
                }
                c if c == b'[' as i32 => {
                    if self.skip_sep() == sep {
                        self.save_and_next();
                        if sep == 0 {
                            return Err(
                                self.lexerror(b"nesting of [[...]] is deprecated", b'[' as i32)
                            );
                        }
                    }
                }
                c if c == b']' as i32 => {
                    if self.skip_sep() == sep {
                        self.save_and_next();
                        break;
                    }
                }
                c if c == b'\n' as i32 || c == b'\r' as i32 => {
                    self.save(b'\n' as i32);
                    self.inclinenumber()?;
                    if !is_str {
                        self.buff.clear();
                    }
                }
                _ => {
                    if is_str {
                        self.save_and_next();
                    } else {
                        self.next_char();
                    }
                }
            }
        }
        if let Some(tok) = tok {
            let s = (2 + sep) as usize;
            tok.s = self.buff[s..self.buff.len() - s].to_vec();
        }
        Ok(())
    }

    fn read_string(&mut self, del: i32, tok: &mut Token) -> LexResult<()> {
        self.save_and_next();
        while self.current != del {
            match self.current {
                EOZ => return Err(self.lexerror(b"unfinished string", TK_EOS)),
                c if c == b'\n' as i32 || c == b'\r' as i32 => {
                    return Err(self.lexerror(b"unfinished string", TK_STRING))
                }
                c if c == b'\\' as i32 => {
                    self.next_char();
                    let c: i32 = match self.current as u8 {
                        _ if self.current == EOZ => continue,
                        b'a' => 7,
                        b'b' => 8,
                        b'f' => 12,
                        b'n' => 10,
                        b'r' => 13,
                        b't' => 9,
                        b'v' => 11,
                        b'\n' | b'\r' => {
                            self.save(b'\n' as i32);
                            self.inclinenumber()?;
                            continue;
                        }
                        d if d.is_ascii_digit() => {
                            let mut i = 0;
                            let mut c = 0;
                            loop {
                                c = 10 * c + (self.current - b'0' as i32);
                                self.next_char();
                                i += 1;
                                if !(i < 3
                                    && self.current >= 0
                                    && (self.current as u8).is_ascii_digit())
                                {
                                    break;
                                }
                            }
                            if c > 255 {
                                return Err(self.lexerror(b"escape sequence too large", TK_STRING));
                            }
                            self.save(c);
                            continue;
                        }
                        _ => {
                            self.save_and_next();
                            continue;
                        }
                    };
                    self.save(c);
                    self.next_char();
                }
                _ => self.save_and_next(),
            }
        }
        self.save_and_next();
        tok.s = self.buff[1..self.buff.len() - 1].to_vec();
        Ok(())
    }

    fn llex(&mut self, tok: &mut Token) -> LexResult<i32> {
        self.buff.clear();
        loop {
            let c = self.current;
            if c == EOZ {
                return Ok(TK_EOS);
            }
            match c as u8 {
                b'\n' | b'\r' => {
                    self.inclinenumber()?;
                }
                b'-' => {
                    self.next_char();
                    if self.current != b'-' as i32 {
                        return Ok(b'-' as i32);
                    }
                    self.next_char();
                    if self.current == b'[' as i32 {
                        let sep = self.skip_sep();
                        self.buff.clear();
                        if sep >= 0 {
                            self.read_long_string(None, sep)?;
                            self.buff.clear();
                            continue;
                        }
                    }
                    while !self.cur_is_newline() && self.current != EOZ {
                        self.next_char();
                    }
                }
                b'[' => {
                    let sep = self.skip_sep();
                    if sep >= 0 {
                        self.read_long_string(Some(tok), sep)?;
                        return Ok(TK_STRING);
                    } else if sep == -1 {
                        return Ok(b'[' as i32);
                    } else {
                        return Err(self.lexerror(b"invalid long string delimiter", TK_STRING));
                    }
                }
                b'=' => {
                    self.next_char();
                    if self.current != b'=' as i32 {
                        return Ok(b'=' as i32);
                    }
                    self.next_char();
                    return Ok(TK_EQ);
                }
                b'<' => {
                    self.next_char();
                    if self.current != b'=' as i32 {
                        return Ok(b'<' as i32);
                    }
                    self.next_char();
                    return Ok(TK_LE);
                }
                b'>' => {
                    self.next_char();
                    if self.current != b'=' as i32 {
                        return Ok(b'>' as i32);
                    }
                    self.next_char();
                    return Ok(TK_GE);
                }
                b'~' => {
                    self.next_char();
                    if self.current != b'=' as i32 {
                        return Ok(b'~' as i32);
                    }
                    self.next_char();
                    return Ok(TK_NE);
                }
                b'"' | b'\'' => {
                    self.read_string(c, tok)?;
                    return Ok(TK_STRING);
                }
                b'.' => {
                    self.save_and_next();
                    if self.check_next(b".") {
                        if self.check_next(b".") {
                            return Ok(TK_DOTS);
                        }
                        return Ok(TK_CONCAT);
                    } else if !(self.current >= 0 && (self.current as u8).is_ascii_digit()) {
                        return Ok(b'.' as i32);
                    } else {
                        self.read_numeral(tok)?;
                        return Ok(TK_NUMBER);
                    }
                }
                b' ' | b'\t' | 0x0b | 0x0c => self.next_char(),
                d if d.is_ascii_digit() => {
                    self.read_numeral(tok)?;
                    return Ok(TK_NUMBER);
                }
                a if a.is_ascii_alphabetic() || a == b'_' => {
                    loop {
                        self.save_and_next();
                        if !(is_alnum(self.current) || self.current == b'_' as i32) {
                            break;
                        }
                    }
                    if let Some(i) = TOKENS[..NUM_RESERVED]
                        .iter()
                        .position(|t| t.as_bytes() == &self.buff[..])
                    {
                        return Ok(FIRST_RESERVED + i as i32);
                    }
                    tok.s = self.buff.clone();
                    return Ok(TK_NAME);
                }
                _ => {
                    self.next_char();
                    return Ok(c);
                }
            }
        }
    }

    pub fn next(&mut self) -> LexResult<()> {
        self.lastline = self.linenumber;
        if self.lookahead.token != TK_EOS {
            self.t = std::mem::take(&mut self.lookahead);
            self.lookahead.token = TK_EOS;
        } else {
            let mut tok = Token::default();
            tok.token = self.llex(&mut tok)?;
            self.t = tok;
        }
        Ok(())
    }

    pub fn do_lookahead(&mut self) -> LexResult<()> {
        let mut tok = Token::default();
        tok.token = self.llex(&mut tok)?;
        self.lookahead = tok;
        Ok(())
    }
}
