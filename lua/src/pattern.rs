//! Lua 5.1 patterns, ported from lstrlib.c: the backtracking matcher with captures,
//! position captures, `%b`, `%f`, back-references and 5.1's error messages.

pub const MAXCAPTURES: usize = 32;
const CAP_UNFINISHED: isize = -1;
pub const CAP_POSITION: isize = -2;
const L_ESC: u8 = b'%';
const MAX_DEPTH: usize = 8000;

pub struct MatchState<'a> {
    pub src: &'a [u8],
    pub pat: &'a [u8],
    pub level: usize,
    pub capture: [(usize, isize); MAXCAPTURES],
    depth: usize,
}

pub type MResult<T> = Result<T, &'static str>;

pub fn isalpha(c: u8) -> bool {
    c.is_ascii_alphabetic()
}
pub fn isspace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}
pub fn ispunct(c: u8) -> bool {
    c.is_ascii_punctuation()
}
pub fn iscntrl(c: u8) -> bool {
    c < 32 || c == 127
}

fn match_class(c: u8, cl: u8) -> bool {
    let res = match cl.to_ascii_lowercase() {
        b'a' => isalpha(c),
        b'c' => iscntrl(c),
        b'd' => c.is_ascii_digit(),
        b'l' => c.is_ascii_lowercase(),
        b'p' => ispunct(c),
        b's' => isspace(c),
        b'u' => c.is_ascii_uppercase(),
        b'w' => c.is_ascii_alphanumeric(),
        b'x' => c.is_ascii_hexdigit(),
        b'z' => c == 0,
        _ => return cl == c,
    };
    if cl.is_ascii_lowercase() {
        res
    } else {
        !res
    }
}

impl<'a> MatchState<'a> {
    pub fn new(src: &'a [u8], pat: &'a [u8]) -> Self {
        // patterns are C strings: they end at the first NUL
        let plen = pat.iter().position(|&c| c == 0).unwrap_or(pat.len());
        MatchState {
            src,
            pat: &pat[..plen],
            level: 0,
            capture: [(0, 0); MAXCAPTURES],
            depth: 0,
        }
    }

    #[inline]
    fn p(&self, i: usize) -> u8 {
        if i < self.pat.len() {
            self.pat[i]
        } else {
            0
        }
    }
    #[inline]
    fn s(&self, i: usize) -> u8 {
        if i < self.src.len() {
            self.src[i]
        } else {
            0
        }
    }

    fn check_capture(&self, l: u8) -> MResult<usize> {
        let l = l as isize - b'1' as isize;
        if l < 0 || l as usize >= self.level || self.capture[l as usize].1 == CAP_UNFINISHED {
            return Err("invalid capture index");
        }
        Ok(l as usize)
    }

    fn capture_to_close(&self) -> MResult<usize> {
        for level in (0..self.level).rev() {
            if self.capture[level].1 == CAP_UNFINISHED {
                return Ok(level);
            }
        }
        Err("invalid pattern capture")
    }

    fn classend(&self, mut p: usize) -> MResult<usize> {
        let c = self.p(p);
        p += 1;
        match c {
            L_ESC => {
                if p >= self.pat.len() {
                    return Err("malformed pattern (ends with '%')");
                }
                Ok(p + 1)
            }
            b'[' => {
                if self.p(p) == b'^' {
                    p += 1;
                }
                loop {
                    if p >= self.pat.len() {
                        return Err("malformed pattern (missing ']')");
                    }
                    let c = self.p(p);
                    p += 1;
                    if c == L_ESC && p < self.pat.len() {
                        p += 1;
                    }
                    if self.p(p) == b']' {
                        break;
                    }
                }
                Ok(p + 1)
            }
            _ => Ok(p),
        }
    }

    fn matchbracketclass(&self, c: u8, mut p: usize, ec: usize) -> bool {
        let mut sig = true;
        if self.p(p + 1) == b'^' {
            sig = false;
            p += 1;
        }
        loop {
            p += 1;
            if p >= ec {
                break;
            }
            if self.p(p) == L_ESC {
                p += 1;
                if match_class(c, self.p(p)) {
                    return sig;
                }
            } else if self.p(p + 1) == b'-' && p + 2 < ec {
                p += 2;
                if self.p(p - 2) <= c && c <= self.p(p) {
                    return sig;
                }
            } else if self.p(p) == c {
                return sig;
            }
        }
        !sig
    }

    fn singlematch(&self, c: u8, p: usize, ep: usize) -> bool {
        match self.p(p) {
            b'.' => true,
            L_ESC => match_class(c, self.p(p + 1)),
            b'[' => self.matchbracketclass(c, p, ep - 1),
            x => x == c,
        }
    }

    fn matchbalance(&self, s: usize, p: usize) -> MResult<Option<usize>> {
        if p >= self.pat.len() || p + 1 >= self.pat.len() {
            return Err("unbalanced pattern");
        }
        if s >= self.src.len() || self.s(s) != self.p(p) {
            return Ok(None);
        }
        let b = self.p(p);
        let e = self.p(p + 1);
        let mut cont = 1;
        let mut s = s;
        loop {
            s += 1;
            if s >= self.src.len() {
                break;
            }
            let c = self.src[s];
            if c == e {
                cont -= 1;
                if cont == 0 {
                    return Ok(Some(s + 1));
                }
            } else if c == b {
                cont += 1;
            }
        }
        Ok(None)
    }

    fn max_expand(&mut self, s: usize, p: usize, ep: usize) -> MResult<Option<usize>> {
        let mut i = 0usize;
        while s + i < self.src.len() && self.singlematch(self.src[s + i], p, ep) {
            i += 1;
        }
        loop {
            if let Some(r) = self.do_match(s + i, ep + 1)? {
                return Ok(Some(r));
            }
            if i == 0 {
                return Ok(None);
            }
            i -= 1;
        }
    }

    fn min_expand(&mut self, mut s: usize, p: usize, ep: usize) -> MResult<Option<usize>> {
        loop {
            if let Some(r) = self.do_match(s, ep + 1)? {
                return Ok(Some(r));
            } else if s < self.src.len() && self.singlematch(self.src[s], p, ep) {
                s += 1;
            } else {
                return Ok(None);
            }
        }
    }

    fn start_capture(&mut self, s: usize, p: usize, what: isize) -> MResult<Option<usize>> {
        let level = self.level;
        if level >= MAXCAPTURES {
            return Err("too many captures");
        }
        self.capture[level] = (s, what);
        self.level = level + 1;
        let res = self.do_match(s, p)?;
        if res.is_none() {
            self.level -= 1;
        }
        Ok(res)
    }

    fn end_capture(&mut self, s: usize, p: usize) -> MResult<Option<usize>> {
        let l = self.capture_to_close()?;
        self.capture[l].1 = (s - self.capture[l].0) as isize;
        let res = self.do_match(s, p)?;
        if res.is_none() {
            self.capture[l].1 = CAP_UNFINISHED;
        }
        Ok(res)
    }

    fn match_capture(&self, s: usize, l: u8) -> MResult<Option<usize>> {
        let l = self.check_capture(l)?;
        let (init, len) = self.capture[l];
        let len = len as usize;
        if self.src.len() - s >= len && self.src[init..init + len] == self.src[s..s + len] {
            Ok(Some(s + len))
        } else {
            Ok(None)
        }
    }

    /// `match`: try to match pattern position `p` at source position `s`.
    pub fn do_match(&mut self, s: usize, p: usize) -> MResult<Option<usize>> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.depth -= 1;
            return Err("pattern too complex");
        }
        let r = self.match_inner(s, p);
        self.depth -= 1;
        r
    }

    fn match_inner(&mut self, mut s: usize, mut p: usize) -> MResult<Option<usize>> {
        loop {
            if p >= self.pat.len() {
                return Ok(Some(s));
            }
            match self.pat[p] {
                b'(' => {
                    return if self.p(p + 1) == b')' {
                        self.start_capture(s, p + 2, CAP_POSITION)
                    } else {
                        self.start_capture(s, p + 1, CAP_UNFINISHED)
                    };
                }
                b')' => return self.end_capture(s, p + 1),
                b'$' if p + 1 == self.pat.len() => {
                    return Ok(if s == self.src.len() { Some(s) } else { None });
                }
                L_ESC if self.p(p + 1) == b'b' => match self.matchbalance(s, p + 2)? {
                    None => return Ok(None),
                    Some(ns) => {
                        s = ns;
                        p += 4;
                        continue;
                    }
                },
                L_ESC if self.p(p + 1) == b'f' => {
                    p += 2;
                    if self.p(p) != b'[' {
                        return Err("missing '[' after '%f' in pattern");
                    }
                    let ep = self.classend(p)?;
                    let previous = if s == 0 { 0 } else { self.s(s - 1) };
                    if self.matchbracketclass(previous, p, ep - 1)
                        || !self.matchbracketclass(self.s(s), p, ep - 1)
                    {
                        return Ok(None);
                    }
                    p = ep;
                    continue;
                }
                L_ESC if self.p(p + 1).is_ascii_digit() => {
                    match self.match_capture(s, self.p(p + 1))? {
                        None => return Ok(None),
                        Some(ns) => {
                            s = ns;
                            p += 2;
                            continue;
                        }
                    }
                }
                _ => {
                    let ep = self.classend(p)?;
                    let m = s < self.src.len() && self.singlematch(self.src[s], p, ep);
                    match self.p(ep) {
                        b'?' => {
                            if m {
                                if let Some(r) = self.do_match(s + 1, ep + 1)? {
                                    return Ok(Some(r));
                                }
                            }
                            p = ep + 1;
                            continue;
                        }
                        b'*' => return self.max_expand(s, p, ep),
                        b'+' => {
                            return if m {
                                self.max_expand(s + 1, p, ep)
                            } else {
                                Ok(None)
                            };
                        }
                        b'-' => return self.min_expand(s, p, ep),
                        _ => {
                            if !m {
                                return Ok(None);
                            }
                            s += 1;
                            p = ep;
                            continue;
                        }
                    }
                }
            }
        }
    }

    /// A capture: Ok(Err(position)) for position captures, Ok(Ok(range)) otherwise.
    pub fn get_capture(&self, i: usize, s: usize, e: usize) -> MResult<Capture> {
        if i >= self.level {
            if i == 0 {
                return Ok(Capture::Str(s, e));
            }
            return Err("invalid capture index");
        }
        let (init, l) = self.capture[i];
        if l == CAP_UNFINISHED {
            return Err("unfinished capture");
        }
        if l == CAP_POSITION {
            return Ok(Capture::Pos(init + 1));
        }
        Ok(Capture::Str(init, init + l as usize))
    }
}

pub enum Capture {
    Str(usize, usize),
    Pos(usize),
}

/// Does the pattern contain any special character (`strpbrk(p, SPECIALS)`)?
pub fn has_specials(p: &[u8]) -> bool {
    p.iter()
        .take_while(|&&c| c != 0)
        .any(|c| b"^$*+?.([%-".contains(c))
}

/// `lmemfind`.
pub fn memfind(s: &[u8], p: &[u8]) -> Option<usize> {
    if p.is_empty() {
        return Some(0);
    }
    if p.len() > s.len() {
        return None;
    }
    s.windows(p.len()).position(|w| w == p)
}
