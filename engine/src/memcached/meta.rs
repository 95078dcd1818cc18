//! memcached's meta protocol (1.6): `mg` `ms` `md` `ma` `mn` `me`, their
//! one-letter flags, and their two-letter answers (HD VA EN NF NS EX MN ME),
//! as memcached 1.6.18's proto_text.c answers them — including its quirks
//! (the data-length token read as a flag by `ms`, `ma`'s TTL lost when the
//! number grows into a new item, quiet mode hiding only nominal answers).

use super::*;

/// A return flag of `ms`, in the order given.
#[derive(Clone, Debug)]
pub(super) enum Ret {
    Opaque(Vec<u8>),
    Key,
    Cas,
}

/// What `ms` needs after its data block.
#[derive(Clone, Debug)]
pub(super) struct MetaStore {
    pub key_binary: bool,
    pub set_stale: bool,
    pub ret: Vec<Ret>,
}

/// memcached's `MFLAG_MAX_OPT_LENGTH` (tokens, counting the terminal one).
const MAX_OPT: usize = 20;
/// `MFLAG_MAX_OPAQUE_LENGTH`.
const MAX_OPAQUE: usize = 32;
const BAD_FORMAT: &[u8] = b"CLIENT_ERROR bad command line format";

/// The flags of a meta command (memcached's `struct _meta_flags`).
#[derive(Default)]
struct Flags {
    no_update: bool,
    locked: bool,
    vivify: bool,
    value: bool,
    set_stale: bool,
    no_reply: bool,
    has_cas: bool,
    new_ttl: bool,
    key_binary: bool,
    mode: u8,
    exptime: Option<i64>,
    autoviv_exptime: Option<i64>,
    recache_time: Option<i64>,
    client_flags: u32,
    req_cas: u64,
    delta: Option<u64>,
    initial: u64,
    /// The key, base64-decoded with `b`.
    key: Vec<u8>,
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// memcached's base64_encode (padded, no line breaks for keys).
pub fn base64_encode(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len().div_ceil(3) * 4);
    for c in src.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        out.push(B64[(b[0] >> 2) as usize]);
        out.push(B64[(((b[0] & 3) << 4) | (b[1] >> 4)) as usize]);
        out.push(if c.len() > 1 {
            B64[(((b[1] & 0xf) << 2) | (b[2] >> 6)) as usize]
        } else {
            b'='
        });
        out.push(if c.len() > 2 {
            B64[(b[2] & 0x3f) as usize]
        } else {
            b'='
        });
    }
    out
}

/// memcached's base64_decode: characters outside the alphabet are
/// skipped; `None` where it returns 0 (nothing to decode, a length not a
/// multiple of 4, bad padding, or an empty result).
pub fn base64_decode(src: &[u8]) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u8> {
        match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            b'=' => Some(0),
            _ => None,
        }
    };
    let count = src.iter().filter(|&&c| val(c).is_some()).count();
    if count == 0 || count % 4 != 0 {
        return None;
    }
    let mut out = Vec::new();
    let mut block = [0u8; 4];
    let mut n = 0;
    let mut pad = 0;
    for &c in src {
        let Some(v) = val(c) else {
            continue;
        };
        if c == b'=' {
            pad += 1;
        }
        block[n] = v;
        n += 1;
        if n == 4 {
            out.push((block[0] << 2) | (block[1] >> 4));
            out.push((block[1] << 4) | (block[2] >> 2));
            out.push((block[2] << 6) | block[3]);
            n = 0;
            if pad > 0 {
                match pad {
                    1 => out.truncate(out.len() - 1),
                    2 => out.truncate(out.len() - 2),
                    _ => return None,
                }
                break;
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// META_KEY: ` k<key>`, base64 and ` b` for a binary key.
fn meta_key(p: &mut Vec<u8>, key: &[u8], binary: bool) {
    p.extend_from_slice(b" k");
    if binary {
        p.extend_from_slice(&base64_encode(key));
        p.extend_from_slice(b" b");
    } else {
        p.extend_from_slice(key);
    }
}

/// The `O` (opaque) and `k` (key) return flags, echoed in the order given;
/// other flags are left to the caller.
fn echo(p: &mut Vec<u8>, t: &[u8], key: &[u8], binary: bool) -> Result<(), &'static [u8]> {
    match t[0] {
        b'O' if t.len() > MAX_OPAQUE => return Err(b"CLIENT_ERROR opaque token too long"),
        b'O' => {
            p.push(b' ');
            p.extend_from_slice(t);
        }
        b'k' => meta_key(p, key, binary),
        _ => {}
    }
    Ok(())
}

/// The checks every meta command makes before reading its flags: at least
/// a key, not too long, not too many flags. The token count, or the answer.
fn head(tokens: &[&[u8]], too_many: &'static [u8]) -> Result<usize, &'static [u8]> {
    let n = tokens.len().min(MAX_TOKENS - 1);
    if n < 2 {
        Err(b"ERROR")
    } else if tokens[1].len() > KEY_MAX {
        Err(BAD_FORMAT)
    } else if n + 1 > MAX_OPT {
        Err(too_many)
    } else {
        Ok(n)
    }
}

fn line(out: &mut Vec<u8>, text: &[u8]) {
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

impl McNode {
    /// A two-letter command starting with `m`.
    pub(super) fn meta(&mut self, conn: ConnId, tokens: &[&[u8]], out: &mut Vec<u8>) {
        match tokens[0][1] {
            b'n' => line(out, b"MN"),
            b'g' => self.mg(tokens, out),
            b's' => self.ms(conn, tokens, out),
            b'd' => self.md(tokens, out),
            b'a' => self.ma(tokens, out),
            b'e' => self.me(tokens, out),
            _ => line(out, b"ERROR"),
        }
    }

    /// memcached's `_meta_flag_preparse` over `tokens[start..]`.
    fn preparse(&self, tokens: &[&[u8]], start: usize) -> Result<Flags, &'static [u8]> {
        let mut f = Flags {
            key: tokens[1].to_vec(),
            ..Flags::default()
        };
        let mut seen = [false; 127];
        let mut err: Option<&'static [u8]> = None;
        let mut errstr: &'static [u8] = BAD_FORMAT;
        for t in &tokens[start..] {
            let o = t[0];
            if o >= 127 || seen[o as usize] {
                return Err(b"CLIENT_ERROR duplicate flag");
            }
            seen[o as usize] = true;
            let num = &t[1..];
            let mut fail = |s: &'static [u8]| {
                errstr = s;
                err = Some(s);
            };
            const BAD_TOKEN: &[u8] = b"CLIENT_ERROR bad token in command line format";
            match o {
                b'b' => match base64_decode(&f.key) {
                    Some(k) => {
                        f.key = k;
                        f.key_binary = true;
                    }
                    None => {
                        f.key_binary = true;
                        fail(b"CLIENT_ERROR error decoding key");
                    }
                },
                b'N' => {
                    f.locked = true;
                    f.vivify = true;
                    match strtol(num) {
                        Some(v) => f.autoviv_exptime = self.expire_at(v),
                        None => fail(BAD_TOKEN),
                    }
                }
                b'T' => {
                    f.locked = true;
                    match strtol(num) {
                        Some(v) => {
                            f.exptime = self.expire_at(v);
                            f.new_ttl = true;
                        }
                        None => fail(BAD_TOKEN),
                    }
                }
                b'R' => {
                    f.locked = true;
                    match strtol(num) {
                        Some(v) => f.recache_time = self.expire_at(v),
                        None => fail(BAD_TOKEN),
                    }
                }
                b'l' | b'h' => f.locked = true,
                b'O' | b'P' | b'L' | b'k' | b's' | b't' | b'c' | b'f' => {}
                b'v' => f.value = true,
                b'u' => f.no_update = true,
                b'q' => f.no_reply = true,
                b'F' => match strtoull(num) {
                    Some(v) => f.client_flags = v as u32,
                    // An error without its own words.
                    None => err = Some(errstr),
                },
                b'C' => match strtoull(num) {
                    Some(v) => {
                        f.req_cas = v;
                        f.has_cas = true;
                    }
                    None => fail(BAD_TOKEN),
                },
                b'M' => {
                    if t.len() != 2 {
                        fail(b"CLIENT_ERROR incorrect length for M token");
                    } else {
                        f.mode = t[1];
                    }
                }
                b'J' => match strtoull(num) {
                    Some(v) => f.initial = v,
                    None => fail(b"CLIENT_ERROR invalid numeric initial value"),
                },
                b'D' => match strtoull(num) {
                    Some(v) => f.delta = Some(v),
                    None => fail(b"CLIENT_ERROR invalid numeric delta value"),
                },
                b'I' => f.set_stale = true,
                _ => return Err(b"CLIENT_ERROR invalid flag"),
            }
        }
        match err {
            Some(_) => Err(errstr),
            None => Ok(f),
        }
    }

    fn mg(&mut self, tokens: &[&[u8]], out: &mut Vec<u8>) {
        let n = match head(tokens, b"CLIENT_ERROR options flags are too long") {
            Ok(n) => n,
            Err(e) => return line(out, e),
        };
        let f = match self.preparse(&tokens[..n], 2) {
            Ok(f) => f,
            Err(e) => return line(out, e),
        };
        let key = f.key.clone();
        let mut found = self.live(&key).is_some();
        if found && !f.locked && !f.no_update {
            self.bump(&key);
        }
        let mut created = false;
        if !found && f.vivify {
            // A placeholder item, empty, for the client that wins the token.
            if let Ok(mem) = self.alloc(&key, 0, 0, true) {
                self.link(&key, new_item(0, None, Vec::new(), false, mem));
                created = true;
                found = true;
            }
        }
        if !found {
            self.stats.get_misses += 1;
            self.stats.cmd_get += 1;
            let mut p = b"EN".to_vec();
            for t in &tokens[2..n] {
                if let Err(e) = echo(&mut p, t, &key, f.key_binary) {
                    return line(out, e);
                }
            }
            if !f.no_reply {
                line(out, &p);
            }
            return;
        }
        let now = unix(self.now);
        let mut won = false;
        let mut ttl_set = false;
        let mut p = Vec::new();
        {
            let it = self.items.get_mut(&key).expect("found");
            if f.value {
                p.extend_from_slice(format!("VA {}", it.data.len()).as_bytes());
            } else {
                p.extend_from_slice(b"HD");
            }
            for t in &tokens[2..n] {
                match t[0] {
                    b'T' => {
                        ttl_set = true;
                        it.expire = f.exptime;
                    }
                    b'N' if created => {
                        it.expire = f.autoviv_exptime;
                        won = true;
                    }
                    b'R' if !it.token_sent
                        && !created
                        && it
                            .expire
                            .is_some_and(|e| f.recache_time.is_some_and(|r| e < r)) =>
                    {
                        won = true;
                    }
                    b's' => p.extend_from_slice(format!(" s{}", it.data.len()).as_bytes()),
                    b't' => p.extend_from_slice(ttl(it.expire, now).as_bytes()),
                    b'c' => p.extend_from_slice(format!(" c{}", it.cas).as_bytes()),
                    b'f' => p.extend_from_slice(format!(" f{}", it.flags).as_bytes()),
                    b'l' => p.extend_from_slice(format!(" l{}", (now - it.time) as u32).as_bytes()),
                    b'h' => p.extend_from_slice(if it.fetched { b" h1" } else { b" h0" }),
                    _ => {
                        if let Err(e) = echo(&mut p, t, &key, it.key_binary) {
                            return line(out, e);
                        }
                    }
                }
            }
            if it.token_sent {
                p.extend_from_slice(b" Z");
            }
            if it.stale {
                p.extend_from_slice(b" X");
                if !it.token_sent {
                    won = true;
                }
            }
            if won {
                p.extend_from_slice(b" W");
                it.token_sent = true;
            }
            p.extend_from_slice(b"\r\n");
            if f.value {
                p.extend_from_slice(&it.data);
                p.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(&p);
        if f.locked && !f.no_update {
            self.bump(&key);
        }
        let class = self.items[&key].mem.class;
        if ttl_set {
            self.stats.cmd_touch += 1;
            self.slabs.classes[class].stats.touch_hits += 1;
        } else {
            self.slabs.classes[class].stats.get_hits += 1;
            self.stats.cmd_get += 1;
        }
    }

    fn ms(&mut self, conn: ConnId, tokens: &[&[u8]], out: &mut Vec<u8>) {
        let n = match head(tokens, b"CLIENT_ERROR options flags too long") {
            Ok(2) => return line(out, BAD_FORMAT),
            Ok(n) => n,
            Err(e) => return line(out, e),
        };
        let len = match strtol(tokens[2]) {
            Some(l) if (0..=i32::MAX - 2).contains(&l) => l as usize,
            _ => return line(out, BAD_FORMAT),
        };
        // From here on, an error also swallows the data block.
        let mut fail = |node: &mut McNode, e: &[u8]| {
            line(out, e);
            node.clients.get_mut(&conn).expect("client exists").swallow = len + 2;
        };
        let f = match self.preparse(&tokens[..n], 3) {
            Ok(f) => f,
            Err(e) => return fail(self, e),
        };
        let mut ret = Vec::new();
        let mut errstr: Option<&[u8]> = None;
        // The data length's token is looked at too (a digit: no flag).
        for t in &tokens[2..n] {
            match t[0] {
                b'O' if t.len() > MAX_OPAQUE => {
                    errstr = Some(b"CLIENT_ERROR opaque token too long")
                }
                b'O' => ret.push(Ret::Opaque(t.to_vec())),
                b'k' => ret.push(Ret::Key),
                b'c' => ret.push(Ret::Cas),
                _ => {}
            }
        }
        let mut kind = match f.mode {
            0 | b'S' => StoreKind::Set,
            b'E' => StoreKind::Add,
            b'A' => StoreKind::Append,
            b'P' => StoreKind::Prepend,
            b'R' => StoreKind::Replace,
            _ => return fail(self, b"CLIENT_ERROR invalid mode for ms M token"),
        };
        if f.has_cas && matches!(kind, StoreKind::Set | StoreKind::Replace) {
            kind = StoreKind::Cas;
        }
        if let Some(e) = errstr {
            return fail(self, e);
        }
        let key = f.key.clone();
        let mem = match self.alloc(&key, f.client_flags, len, false) {
            Ok(mem) => mem,
            Err(e) => {
                let text = self.store_failed(e);
                // Stale data must not outlive a failed store, whatever the mode.
                if self.live(&key).is_some() {
                    self.unlink(&key);
                }
                return fail(self, text);
            }
        };
        let Some(mem) = self.read_chunks(mem, len) else {
            return fail(self, b"SERVER_ERROR Out of memory during read");
        };
        self.clients.get_mut(&conn).expect("client exists").store = Some(PendingStore {
            kind,
            key,
            flags: f.client_flags,
            expire: f.exptime,
            len,
            cas: f.req_cas,
            noreply: f.no_reply,
            mem,
            meta: Some(MetaStore {
                key_binary: f.key_binary,
                set_stale: f.set_stale && kind == StoreKind::Cas,
                ret,
            }),
        });
    }

    /// `ms`'s answer once its data is stored (memcached's `_finalize_mset`).
    pub(super) fn meta_store_reply(
        &mut self,
        key: &[u8],
        m: &MetaStore,
        r: StoreResult,
        noreply: bool,
        out: &mut Vec<u8>,
    ) {
        let mut p = match r {
            StoreResult::Stored => b"HD".to_vec(),
            StoreResult::Exists => b"EX".to_vec(),
            StoreResult::NotFound => b"NF".to_vec(),
            StoreResult::NotStored => b"NS".to_vec(),
        };
        // The CAS of what was stored; 0 when nothing was.
        let cas = if r == StoreResult::Stored {
            self.items.get(key).map(|it| it.cas).unwrap_or(0)
        } else {
            0
        };
        for ret in &m.ret {
            match ret {
                Ret::Opaque(o) => {
                    p.push(b' ');
                    p.extend_from_slice(o);
                }
                Ret::Key => meta_key(&mut p, key, m.key_binary),
                Ret::Cas => p.extend_from_slice(format!(" c{cas}").as_bytes()),
            }
        }
        // Quiet mode hides only the nominal answer.
        if !(r == StoreResult::Stored && noreply) {
            line(out, &p);
        }
    }

    /// md and ma: the shared start, then the flags.
    fn meta_flags(&self, tokens: &[&[u8]]) -> Result<(usize, Flags), &'static [u8]> {
        let n = head(tokens, b"CLIENT_ERROR options flags too long")?;
        match self.preparse(&tokens[..n], 2) {
            Ok(f) => Ok((n, f)),
            Err(_) => Err(b"CLIENT_ERROR invalid or duplicate flag"),
        }
    }

    fn md(&mut self, tokens: &[&[u8]], out: &mut Vec<u8>) {
        let (n, f) = match self.meta_flags(tokens) {
            Ok(x) => x,
            Err(e) => return line(out, e),
        };
        let key = f.key.clone();
        let mut suffix = Vec::new();
        for t in &tokens[2..n] {
            if let Err(e) = echo(&mut suffix, t, &key, f.key_binary) {
                return line(out, e);
            }
        }
        let next_cas = self.cas + 1;
        let (code, nominal): (&[u8], bool) = match self.live(&key) {
            Some(it) if f.has_cas && it.cas != f.req_cas => {
                self.stats.delete_misses += 1;
                (b"EX", false)
            }
            Some(it) if f.set_stale => {
                // Marked stale instead of deleted: a new CAS, the token free again.
                if f.new_ttl {
                    it.expire = f.exptime;
                }
                it.stale = true;
                it.token_sent = false;
                it.cas = next_cas;
                self.cas = next_cas;
                (b"HD", true)
            }
            Some(it) => {
                let class = it.mem.class;
                self.slabs.classes[class].stats.delete_hits += 1;
                self.unlink(&key);
                (b"HD", true)
            }
            None => {
                self.stats.delete_misses += 1;
                (b"NF", false)
            }
        };
        if !(nominal && f.no_reply) {
            out.extend_from_slice(code);
            line(out, &suffix);
        }
    }

    fn ma(&mut self, tokens: &[&[u8]], out: &mut Vec<u8>) {
        let (n, f) = match self.meta_flags(tokens) {
            Ok(x) => x,
            Err(e) => return line(out, e),
        };
        let key = f.key.clone();
        let incr = match f.mode {
            0 | b'I' | b'+' => true,
            b'D' | b'-' => false,
            _ => return line(out, b"CLIENT_ERROR invalid mode for ma M token"),
        };
        let delta = f.delta.unwrap_or(1);
        let cas = if f.has_cas { f.req_cas } else { 0 };
        let mut p = Vec::new();
        let mut quiet = false;
        // The value's text, and whether the stored item is the one the
        // flags below act on (not so when the number grew into a new item).
        let mut hit: Option<(Vec<u8>, bool)> = None;
        let mut created = false;
        match self.add_delta(&key, incr, delta, cas) {
            Delta::Ok(text, replaced) => {
                quiet = f.no_reply;
                hit = Some((text, !replaced));
            }
            Delta::NonNumeric => {
                return line(
                    out,
                    b"CLIENT_ERROR cannot increment or decrement non-numeric value",
                )
            }
            Delta::NoMemory => return line(out, b"SERVER_ERROR out of memory"),
            Delta::NotFound if f.vivify => {
                let text = f.initial.to_string().into_bytes();
                let Ok(mem) = self.alloc(&key, 0, text.len(), true) else {
                    return line(out, b"SERVER_ERROR Out of memory allocating new item");
                };
                if self.live(&key).is_none() {
                    self.link(&key, new_item(0, None, text.clone(), false, mem));
                    created = true;
                    hit = Some((text, true));
                } else {
                    self.release(mem);
                    p.extend_from_slice(b"NS");
                }
            }
            Delta::NotFound => {
                if incr {
                    self.stats.incr_misses += 1;
                } else {
                    self.stats.decr_misses += 1;
                }
                p.extend_from_slice(b"NF");
            }
            Delta::CasMismatch => p.extend_from_slice(b"EX"),
        }
        let now = unix(self.now);
        if let Some((text, stored)) = hit {
            let it = &self.items[&key];
            // The flags act on a copy; written back only to the stored item.
            let (item_cas, mut expire) = (it.cas, it.expire);
            if f.value {
                p.extend_from_slice(format!("VA {}", text.len()).as_bytes());
            } else {
                p.extend_from_slice(b"HD");
            }
            for t in &tokens[2..n] {
                match t[0] {
                    b'c' => p.extend_from_slice(format!(" c{item_cas}").as_bytes()),
                    b't' => p.extend_from_slice(ttl(expire, now).as_bytes()),
                    b'T' | b'N' if t[0] == b'T' || created => {
                        expire = if t[0] == b'T' {
                            f.exptime
                        } else {
                            f.autoviv_exptime
                        };
                        // Lost when the number grew into a new item.
                        if stored {
                            if let Some(it) = self.items.get_mut(&key) {
                                it.expire = expire;
                            }
                        }
                    }
                    _ => {
                        if let Err(e) = echo(&mut p, t, &key, f.key_binary) {
                            return line(out, e);
                        }
                    }
                }
            }
            if f.value {
                p.extend_from_slice(b"\r\n");
                p.extend_from_slice(&text);
            }
        } else {
            for t in &tokens[2..n] {
                if let Err(e) = echo(&mut p, t, &key, f.key_binary) {
                    return line(out, e);
                }
            }
        }
        if !quiet {
            line(out, &p);
        }
    }

    /// `me`: memcached's debug view of one item.
    fn me(&mut self, tokens: &[&[u8]], out: &mut Vec<u8>) {
        let n = tokens.len().min(MAX_TOKENS - 1);
        if n < 2 || tokens[1].len() > KEY_MAX {
            return line(out, BAD_FORMAT);
        }
        let mut key = tokens[1].to_vec();
        if n >= 3 && tokens[2] == b"b" {
            match base64_decode(&key) {
                Some(k) => key = k,
                None => return line(out, BAD_FORMAT),
            }
        }
        self.meta_cmds += 1;
        let now = unix(self.now);
        match self.live(&key) {
            Some(it) => {
                let mut p = b"ME ".to_vec();
                if it.key_binary {
                    p.extend_from_slice(&base64_encode(&key));
                } else {
                    p.extend_from_slice(&key);
                }
                let exp = match it.expire {
                    None => -1,
                    Some(e) => (now - e) as i32,
                };
                p.extend_from_slice(
                    format!(
                        " exp={exp} la={} cas={} fetch={} cls={} size={}",
                        (now - it.time) as u32,
                        it.cas,
                        if it.fetched { "yes" } else { "no" },
                        it.mem.class,
                        it.mem.ntotal
                    )
                    .as_bytes(),
                );
                line(out, &p);
            }
            None => line(out, b"EN"),
        }
    }
}

/// The `t` flag: seconds left, -1 for none (memcached's unsigned arithmetic).
fn ttl(expire: Option<i64>, now: i64) -> String {
    match expire {
        None => " t-1".into(),
        Some(e) => format!(" t{}", (e - now) as u32),
    }
}

pub(super) fn new_item(
    flags: u32,
    expire: Option<i64>,
    data: Vec<u8>,
    key_binary: bool,
    mem: Alloc,
) -> Item {
    Item {
        flags,
        expire,
        data,
        cas: 0,
        time: 0,
        fetched: false,
        stale: false,
        token_sent: false,
        key_binary,
        mem,
        lru: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_as_memcached() {
        assert_eq!(base64_encode(b"foo"), b"Zm9v");
        assert_eq!(base64_encode(b"fo"), b"Zm8=");
        assert_eq!(base64_encode(b"f"), b"Zg==");
        assert_eq!(base64_decode(b"Zm9v").unwrap(), b"foo");
        assert_eq!(base64_decode(b"Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode(b"Zg==").unwrap(), b"f");
        assert_eq!(base64_decode(b"Zm9"), None);
        assert_eq!(base64_decode(b"Z==="), None);
        assert_eq!(base64_decode(b"!!"), None);
    }
}

#[cfg(test)]
mod lru_tests {
    use super::*;

    fn run(node: &mut McNode, now: u64, bytes: &[u8]) -> String {
        node.handle(
            Millis(now),
            Input::ClientBytes {
                conn: ConnId(1),
                bytes,
            },
        );
        let mut out = Vec::new();
        while let Some(o) = node.poll_output() {
            if let Output::ToClient { bytes, .. } = o {
                out.extend_from_slice(&bytes);
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn dead_items_at_the_tail_are_reclaimed_by_the_next_allocation() {
        let mut node = McNode::new(1);
        let t = 1_700_000_000_000;
        node.start(Millis(t), 11211);
        node.handle(
            Millis(t),
            Input::ConnOpened {
                conn: ConnId(1),
                peer: "t".into(),
                local: "t".into(),
            },
        );
        assert_eq!(run(&mut node, t, b"set b 0 0 1\r\nx\r\n"), "STORED\r\n");
        assert_eq!(run(&mut node, t, b"mg b T-1 u\r\n"), "HD\r\n");
        assert_eq!(run(&mut node, t, b"set n 0 0 1\r\ny\r\n"), "STORED\r\n");
        let dump = run(&mut node, t, b"stats cachedump 1 0\r\n");
        assert_eq!(dump, "ITEM n [1 b; 0 s]\r\nEND\r\n");
        assert!(run(&mut node, t, b"stats items\r\n").contains("items:1:reclaimed 1\r\n"));
    }
}
