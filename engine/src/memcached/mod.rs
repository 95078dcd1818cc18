//! A Memcached node as a sans-IO state machine, with the same shape as
//! [`crate::Node`]: `handle(now, Input)`, `poll_output()`, `poll_timeout()`.
//!
//! The ASCII protocol as memcached 1.6 speaks it: storage commands (set add
//! replace append prepend cas) with their data blocks, retrieval (get gets
//! gat gats), delete, incr/decr (in place, space-padded, as memcached does),
//! touch, flush_all (with delay), version, verbosity, quit, stats (general,
//! items, settings), `noreply` wherever memcached honours it — and its exact
//! error words. Item sizes are accounted as memcached's `ITEM_ntotal` (48-byte
//! header, key + 1, data + 2, 8-byte CAS), which is what `stats` reports as
//! `bytes`. Nothing persists, replicates or snapshots: by design, as in
//! ElastiCache for Memcached.

pub mod hashing;

use std::collections::{BTreeMap, VecDeque};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::node::{ConnId, Input, Machine, Output};
use crate::store::db::SeededState;
use crate::time::Millis;

/// memcached's `KEY_MAX_LENGTH`.
pub const KEY_MAX: usize = 250;
/// `item_size_max` (-I), 1 MB by default.
pub const ITEM_SIZE_MAX: usize = 1024 * 1024;
/// `limit_maxbytes` (-m 64).
pub const LIMIT_MAXBYTES: usize = 64 * 1024 * 1024;
/// Relative expiry times above this many seconds are absolute unix times.
pub const REALTIME_MAXDELTA: i64 = 60 * 60 * 24 * 30;
/// `sizeof(item)` on 64-bit, plus the CAS field.
const ITEM_HEADER: usize = 48;
const CAS_SIZE: usize = 8;
/// The version string `version` and `stats` report.
pub const VERSION: &str = "1.6.18";
/// Commands are at most this many tokens (memcached's MAX_TOKENS - 1).
const MAX_TOKENS: usize = 24;
/// A command line longer than this (other than get/gets) closes the connection.
const MAX_LINE: usize = 2048;
/// memcached's read size.
const READ_SIZE: usize = 16 * 1024;

#[derive(Clone, Debug)]
struct Item {
    flags: u32,
    /// Unix seconds; `None`: never.
    expire: Option<i64>,
    data: Vec<u8>,
    cas: u64,
    /// Unix seconds of the last store (for flush_all's cut-off).
    time: i64,
}

impl Item {
    /// memcached's `ITEM_ntotal`: the header, the key and its NUL, the data
    /// and its CRLF, the CAS, and 4 bytes of client flags when they are not 0.
    fn ntotal(key: &[u8], data_len: usize, flags: u32) -> usize {
        ITEM_HEADER + key.len() + 1 + data_len + 2 + CAS_SIZE + if flags != 0 { 4 } else { 0 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StoreKind {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    Cas,
}

#[derive(Clone, Debug)]
struct PendingStore {
    kind: StoreKind,
    key: Vec<u8>,
    flags: u32,
    exptime: i64,
    len: usize,
    cas: u64,
    noreply: bool,
}

#[derive(Clone, Debug, Default)]
struct Client {
    buf: Vec<u8>,
    store: Option<PendingStore>,
    /// Bytes of a refused data block still to discard.
    swallow: usize,
}

/// Counters `stats` reports.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct McStats {
    pub cmd_get: u64,
    pub cmd_set: u64,
    pub cmd_flush: u64,
    pub cmd_touch: u64,
    pub get_hits: u64,
    pub get_misses: u64,
    pub get_expired: u64,
    pub get_flushed: u64,
    pub delete_misses: u64,
    pub delete_hits: u64,
    pub incr_misses: u64,
    pub incr_hits: u64,
    pub decr_misses: u64,
    pub decr_hits: u64,
    pub cas_misses: u64,
    pub cas_hits: u64,
    pub cas_badval: u64,
    pub touch_hits: u64,
    pub touch_misses: u64,
    pub store_too_large: u64,
    pub total_items: u64,
    pub total_connections: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub evictions: u64,
    pub expired_unfetched: u64,
}

/// What a UI shows of a memcached node.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct McView {
    pub items: usize,
    pub bytes: usize,
    pub stats: McStats,
    pub connections: usize,
}

/// The cluster as the ElastiCache configuration endpoint describes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterConfig {
    /// Grows by one on every node added or removed.
    pub version: u64,
    /// (host name, IP address, port) of each node.
    pub nodes: Vec<(String, String, u16)>,
}

impl ClusterConfig {
    /// The payload: the version, a newline, the nodes as `host|ip|port`
    /// separated by spaces, a newline.
    pub fn payload(&self) -> String {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|(h, ip, p)| format!("{h}|{ip}|{p}"))
            .collect();
        format!("{}\n{}\n", self.version, nodes.join(" "))
    }
}

pub struct McNode {
    /// Set when this node answers as the configuration endpoint.
    pub cluster: Option<ClusterConfig>,
    items: IndexMap<Vec<u8>, Item, SeededState>,
    bytes: usize,
    cas: u64,
    clients: BTreeMap<ConnId, Client>,
    outputs: VecDeque<Output>,
    stats: McStats,
    /// flush_all's cut-off: items stored at or before it are invalid once
    /// it has passed (unix seconds).
    oldest_live: Option<i64>,
    /// Items with a CAS below this were stored before an immediate flush_all.
    oldest_cas: u64,
    now: Millis,
    started: Millis,
    port: u16,
    verbosity: u32,
}

fn unix(now: Millis) -> i64 {
    (now.0 / 1000) as i64
}

/// memcached's `safe_strtoull`: strtoull, then only whitespace may follow;
/// a negative number is refused.
pub fn strtoull(b: &[u8]) -> Option<u64> {
    let s = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let rest = &b[s..];
    let (neg, digits_at) = match rest.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let digits = rest[digits_at..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let end = s + digits_at + digits;
    if digits == 0 {
        // strtoull consumed nothing (endptr == str): refused.
        return None;
    }
    let mut v: u64 = 0;
    for &c in &rest[digits_at..digits_at + digits] {
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        // strtoull negates; memcached refuses any result that looks negative.
        let n = v.wrapping_neg();
        if (n as i64) < 0 {
            return None;
        }
        v = n;
    }
    match b.get(end) {
        None => Some(v),
        Some(c) if c.is_ascii_whitespace() => Some(v),
        _ => None,
    }
}

/// memcached's `safe_strtol` / `safe_strtoul` for command-line numbers.
fn strtol(b: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(b).ok()?;
    let t = s.trim_start();
    let v: i64 = t.parse().ok()?;
    Some(v)
}

fn strtoul32(b: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(b).ok()?;
    let t = s.trim_start();
    if t.starts_with('-') {
        return None;
    }
    t.parse::<u32>().ok()
}

impl McNode {
    pub fn new(seed: u64) -> McNode {
        McNode {
            cluster: None,
            items: IndexMap::with_hasher(SeededState(seed)),
            bytes: 0,
            cas: 0,
            clients: BTreeMap::new(),
            outputs: VecDeque::new(),
            stats: McStats::default(),
            oldest_live: None,
            oldest_cas: 0,
            now: Millis(0),
            started: Millis(0),
            port: 11211,
            verbosity: 0,
        }
    }

    pub fn start(&mut self, now: Millis, port: u16) {
        self.now = now;
        self.started = now;
        self.port = port;
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// memcached has no timers a client can observe: expiry is lazy.
    pub fn poll_timeout(&self) -> Option<Millis> {
        None
    }

    /// The data stored at `key` (live or not), without touching stats.
    pub fn peek(&self, key: &[u8]) -> Option<&[u8]> {
        self.items.get(key).map(|it| it.data.as_slice())
    }

    pub fn view(&self) -> McView {
        McView {
            items: self.items.len(),
            bytes: self.bytes,
            stats: self.stats.clone(),
            connections: self.clients.len(),
        }
    }

    pub fn handle(&mut self, now: Millis, input: Input<'_>) {
        if now > self.now {
            self.now = now;
        }
        match input {
            Input::ConnOpened { conn, .. } => {
                self.stats.total_connections += 1;
                self.clients.insert(conn, Client::default());
            }
            Input::ConnClosed { conn } => {
                self.clients.remove(&conn);
            }
            // memcached reads at most 16 KB at a time, and its line-length
            // rule applies to what one read has buffered: feed it the same way.
            Input::ClientBytes { conn, bytes } => {
                for chunk in bytes
                    .chunks(READ_SIZE)
                    .chain(bytes.is_empty().then_some(&[][..]))
                {
                    if !self.clients.contains_key(&conn) {
                        break;
                    }
                    self.client_bytes(conn, chunk);
                }
            }
            Input::Tick | Input::Peer { .. } => {}
        }
    }

    fn client_bytes(&mut self, conn: ConnId, bytes: &[u8]) {
        let Some(c) = self.clients.get_mut(&conn) else {
            return;
        };
        self.stats.bytes_read += bytes.len() as u64;
        let mut buf = std::mem::take(&mut c.buf);
        buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut pos = 0;
        let mut close = false;
        loop {
            let c = self.clients.get_mut(&conn).expect("client exists");
            if c.swallow > 0 {
                let n = c.swallow.min(buf.len() - pos);
                c.swallow -= n;
                pos += n;
                if c.swallow > 0 {
                    break;
                }
                continue;
            }
            if let Some(st) = c.store.clone() {
                if buf.len() - pos < st.len + 2 {
                    break;
                }
                c.store = None;
                let block = &buf[pos..pos + st.len + 2];
                pos += st.len + 2;
                self.stats.cmd_set += 1;
                if &block[st.len..] != b"\r\n" {
                    self.reply(&mut out, st.noreply, b"CLIENT_ERROR bad data chunk\r\n");
                } else {
                    let data = block[..st.len].to_vec();
                    let r = self.store(&st, data);
                    self.reply(&mut out, st.noreply, r);
                }
                continue;
            }
            let nl = buf[pos..].iter().position(|&b| b == b'\n');
            // memcached drops a connection that has buffered more than 2048
            // bytes of a command line with no newline yet, unless it is a
            // (long) multi-get.
            if nl.is_none() && buf.len() - pos > MAX_LINE {
                let rest = &buf[pos..];
                let lead = rest.iter().take_while(|&&b| b == b' ').count();
                let cmd = &rest[lead..];
                if lead > 100 || !(cmd.starts_with(b"get ") || cmd.starts_with(b"gets ")) {
                    // Closed at once: replies to this read are never sent.
                    out.clear();
                    close = true;
                    break;
                }
            }
            let Some(nl) = nl else {
                break;
            };
            let mut line = &buf[pos..pos + nl];
            pos += nl + 1;
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            let line = line.to_vec();
            if self.command(conn, &line, &mut out) {
                close = true;
                break;
            }
        }
        if let Some(c) = self.clients.get_mut(&conn) {
            buf.drain(..pos);
            c.buf = buf;
        }
        if !out.is_empty() {
            self.stats.bytes_written += out.len() as u64;
            self.outputs
                .push_back(Output::ToClient { conn, bytes: out });
        }
        if close {
            self.clients.remove(&conn);
            self.outputs.push_back(Output::CloseConn { conn });
        }
    }

    fn reply(&self, out: &mut Vec<u8>, noreply: bool, text: &[u8]) {
        if !noreply {
            out.extend_from_slice(text);
        }
    }

    /// An item if present, live and not flushed; counts expired/flushed reads
    /// when `count` is set. Expired items are removed (memcached's lazy expiry).
    fn live(&mut self, key: &[u8], count: bool) -> Option<&mut Item> {
        let now = unix(self.now);
        let (expired, flushed) = match self.items.get(key) {
            None => return None,
            // memcached's `item_is_flushed`.
            Some(it) => (
                it.expire.is_some_and(|e| e <= now),
                self.oldest_live.is_some_and(|ol| {
                    ol <= now
                        && (it.time <= ol || (self.oldest_cas != 0 && it.cas < self.oldest_cas))
                }),
            ),
        };
        if expired || flushed {
            self.unlink(key);
            if count {
                if flushed {
                    self.stats.get_flushed += 1;
                } else {
                    self.stats.get_expired += 1;
                }
            }
            return None;
        }
        self.items.get_mut(key)
    }

    fn unlink(&mut self, key: &[u8]) {
        if let Some(it) = self.items.swap_remove(key) {
            self.bytes -= Item::ntotal(key, it.data.len(), it.flags);
        }
    }

    fn link(&mut self, key: &[u8], mut item: Item) {
        self.unlink(key);
        self.cas += 1;
        item.cas = self.cas;
        item.time = unix(self.now);
        self.bytes += Item::ntotal(key, item.data.len(), item.flags);
        self.stats.total_items += 1;
        self.items.insert(key.to_vec(), item);
    }

    /// memcached's `realtime()`, in unix seconds.
    fn expire_at(&self, exptime: i64) -> Option<i64> {
        let now = unix(self.now);
        if exptime == 0 {
            None
        } else if exptime < 0 {
            Some(i64::MIN)
        } else if exptime > REALTIME_MAXDELTA {
            // Absolute; a time before the server started counts as long past.
            Some(exptime.max(i64::MIN + 1))
        } else {
            Some(now + exptime)
        }
    }

    fn store(&mut self, st: &PendingStore, data: Vec<u8>) -> &'static [u8] {
        let expire = self.expire_at(st.exptime);
        let exists = self
            .live(&st.key, false)
            .map(|it| (it.cas, it.data.clone(), it.flags, it.expire));
        let item = |data: Vec<u8>| Item {
            flags: st.flags,
            expire,
            data,
            cas: 0,
            time: 0,
        };
        match st.kind {
            StoreKind::Set => {
                self.link(&st.key, item(data));
                b"STORED\r\n"
            }
            StoreKind::Add => {
                if exists.is_some() {
                    b"NOT_STORED\r\n"
                } else {
                    self.link(&st.key, item(data));
                    b"STORED\r\n"
                }
            }
            StoreKind::Replace => {
                if exists.is_some() {
                    self.link(&st.key, item(data));
                    b"STORED\r\n"
                } else {
                    b"NOT_STORED\r\n"
                }
            }
            StoreKind::Append | StoreKind::Prepend => match exists {
                None => b"NOT_STORED\r\n",
                Some((_, old, flags, old_expire)) => {
                    let joined = if st.kind == StoreKind::Append {
                        [old, data].concat()
                    } else {
                        [data, old].concat()
                    };
                    // Append/prepend keep the item's flags and expiry.
                    self.link(
                        &st.key,
                        Item {
                            flags,
                            expire: old_expire,
                            data: joined,
                            cas: 0,
                            time: 0,
                        },
                    );
                    b"STORED\r\n"
                }
            },
            StoreKind::Cas => match exists {
                None => {
                    self.stats.cas_misses += 1;
                    b"NOT_FOUND\r\n"
                }
                Some((cas, ..)) if cas == st.cas => {
                    self.stats.cas_hits += 1;
                    self.link(&st.key, item(data));
                    b"STORED\r\n"
                }
                Some(_) => {
                    self.stats.cas_badval += 1;
                    b"EXISTS\r\n"
                }
            },
        }
    }

    /// Runs one command line; true when the connection must close.
    fn command(&mut self, conn: ConnId, line: &[u8], out: &mut Vec<u8>) -> bool {
        let tokens: Vec<&[u8]> = line
            .split(|&b| b == b' ')
            .filter(|t| !t.is_empty())
            .collect();
        if tokens.is_empty() || tokens.len() > MAX_TOKENS {
            out.extend_from_slice(b"ERROR\r\n");
            return false;
        }
        let noreply = tokens.last() == Some(&&b"noreply"[..]);
        let n = tokens.len();
        match tokens[0] {
            // ElastiCache auto discovery: `config get cluster` (engine
            // 1.4.14+) and, before it, `get AmazonElastiCache:cluster`.
            b"config" if self.cluster.is_some() => {
                if n == 3 && tokens[1] == b"get" && tokens[2] == b"cluster" {
                    let payload = self
                        .cluster
                        .as_ref()
                        .map(ClusterConfig::payload)
                        .unwrap_or_default();
                    out.extend_from_slice(
                        format!("CONFIG cluster 0 {}\r\n{payload}\r\nEND\r\n", payload.len())
                            .as_bytes(),
                    );
                } else {
                    out.extend_from_slice(b"ERROR\r\n");
                }
            }
            b"get"
                if n == 2
                    && tokens[1] == b"AmazonElastiCache:cluster"
                    && self.cluster.is_some() =>
            {
                let payload = self
                    .cluster
                    .as_ref()
                    .map(ClusterConfig::payload)
                    .unwrap_or_default();
                out.extend_from_slice(
                    format!(
                        "VALUE AmazonElastiCache:cluster 0 {}\r\n{payload}\r\nEND\r\n",
                        payload.len()
                    )
                    .as_bytes(),
                );
            }
            b"get" | b"gets" if n >= 2 => {
                let cas = tokens[0] == b"gets";
                self.retrieve(&tokens[1..], cas, None, out)
            }
            b"gat" | b"gats" if n >= 3 => {
                let cas = tokens[0] == b"gats";
                match strtol(tokens[1]) {
                    Some(e) => {
                        let exp = e.clamp(i32::MIN as i64, i32::MAX as i64);
                        self.retrieve(&tokens[2..], cas, Some(exp), out)
                    }
                    None => out.extend_from_slice(b"CLIENT_ERROR invalid exptime argument\r\n"),
                }
            }
            b"set" | b"add" | b"replace" | b"append" | b"prepend" if n == 5 || n == 6 => {
                let kind = match tokens[0] {
                    b"set" => StoreKind::Set,
                    b"add" => StoreKind::Add,
                    b"replace" => StoreKind::Replace,
                    b"append" => StoreKind::Append,
                    _ => StoreKind::Prepend,
                };
                self.begin_store(conn, kind, &tokens, noreply, out);
            }
            b"cas" if n == 6 || n == 7 => {
                self.begin_store(conn, StoreKind::Cas, &tokens, noreply, out)
            }
            b"delete" if (2..=4).contains(&n) => {
                // "delete <key> 0" is accepted for old clients; anything else is not.
                let ok = n == 2
                    || (n == 3 && (tokens[2] == b"0" || noreply))
                    || (n == 4 && tokens[2] == b"0" && noreply);
                if !ok {
                    self.reply(
                        out,
                        noreply,
                        b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n",
                    );
                } else if tokens[1].len() > KEY_MAX {
                    self.reply(out, noreply, b"CLIENT_ERROR bad command line format\r\n");
                } else if self.live(tokens[1], false).is_some() {
                    self.unlink(tokens[1]);
                    self.stats.delete_hits += 1;
                    self.reply(out, noreply, b"DELETED\r\n");
                } else {
                    self.stats.delete_misses += 1;
                    self.reply(out, noreply, b"NOT_FOUND\r\n");
                }
            }
            b"incr" | b"decr" if n == 3 || n == 4 => {
                let incr = tokens[0] == b"incr";
                self.delta(tokens[1], tokens[2], incr, noreply, out);
            }
            b"touch" if n == 3 || n == 4 => {
                if tokens[1].len() > KEY_MAX {
                    self.reply(out, noreply, b"CLIENT_ERROR bad command line format\r\n");
                    return false;
                }
                let Some(e) = strtol(tokens[2]) else {
                    self.reply(out, noreply, b"CLIENT_ERROR invalid exptime argument\r\n");
                    return false;
                };
                self.stats.cmd_touch += 1;
                let expire = self.expire_at(e);
                match self.live(tokens[1], false) {
                    Some(it) => {
                        it.expire = expire;
                        self.stats.touch_hits += 1;
                        self.reply(out, noreply, b"TOUCHED\r\n");
                    }
                    None => {
                        self.stats.touch_misses += 1;
                        self.reply(out, noreply, b"NOT_FOUND\r\n");
                    }
                }
            }
            b"flush_all" if n <= 3 => {
                self.stats.cmd_flush += 1;
                let delay = if n >= 2 && !(n == 2 && noreply) {
                    match strtol(tokens[1]) {
                        Some(d) => d,
                        None => {
                            self.reply(out, noreply, b"CLIENT_ERROR invalid exptime argument\r\n");
                            return false;
                        }
                    }
                } else {
                    0
                };
                let now = unix(self.now);
                let new_oldest = if delay > 0 {
                    self.expire_at(delay).unwrap_or(now)
                } else {
                    now
                };
                let oldest = new_oldest.saturating_sub(1);
                self.oldest_live = Some(oldest);
                if oldest <= now {
                    // What was stored this very second goes too: by CAS.
                    self.cas += 1;
                    self.oldest_cas = self.cas;
                }
                // Flushed items stay (counted in curr_items and bytes) until a
                // lookup meets them, as in memcached without its background
                // LRU maintainer.
                self.reply(out, noreply, b"OK\r\n");
            }
            // The meta protocol's no-op: a marker clients pipeline after quiet commands.
            b"mn" => out.extend_from_slice(b"MN\r\n"),
            b"version" => out.extend_from_slice(format!("VERSION {VERSION}\r\n").as_bytes()),
            b"verbosity" if n == 2 || n == 3 => {
                self.verbosity = strtoul32(tokens[1]).unwrap_or(0);
                self.reply(out, noreply, b"OK\r\n");
            }
            b"quit" => return true,
            b"stats" => self.stats_cmd(&tokens[1..], out),
            _ => out.extend_from_slice(b"ERROR\r\n"),
        }
        false
    }

    fn begin_store(
        &mut self,
        conn: ConnId,
        kind: StoreKind,
        tokens: &[&[u8]],
        noreply: bool,
        out: &mut Vec<u8>,
    ) {
        let key = tokens[1];
        // Flags are read as a 64-bit number and kept as 32 bits.
        let flags = strtoull(tokens[2]).map(|f| f as u32);
        let exptime = strtol(tokens[3]);
        let len = strtol(tokens[4]);
        let cas = if kind == StoreKind::Cas {
            strtoull(tokens[5])
        } else {
            Some(0)
        };
        let (Some(flags), Some(exptime), Some(len), Some(cas)) = (flags, exptime, len, cas) else {
            self.reply(out, noreply, b"CLIENT_ERROR bad command line format\r\n");
            return;
        };
        if key.len() > KEY_MAX || len < 0 || len > i32::MAX as i64 - 2 {
            self.reply(out, noreply, b"CLIENT_ERROR bad command line format\r\n");
            return;
        }
        let len = len as usize;
        let c = self.clients.get_mut(&conn).expect("client exists");
        if Item::ntotal(key, len, flags) > ITEM_SIZE_MAX {
            // Refused, and the data block that follows is read and dropped.
            c.swallow = len + 2;
            self.stats.store_too_large += 1;
            if kind == StoreKind::Set {
                // A SET that cannot be stored must not leave the old value behind.
                self.unlink(key);
            }
            self.reply(out, noreply, b"SERVER_ERROR object too large for cache\r\n");
            return;
        }
        c.store = Some(PendingStore {
            kind,
            key: key.to_vec(),
            flags,
            exptime: exptime.clamp(i32::MIN as i64, i32::MAX as i64),
            len,
            cas,
            noreply,
        });
    }

    /// get/gets, and gat/gats when `touch` carries the new exptime. As
    /// memcached: keys are served in order; a key too long ends the command
    /// with an error (what was gathered is dropped, what was counted stays);
    /// gat counts as a touch, not as a get.
    fn retrieve(&mut self, keys: &[&[u8]], cas: bool, touch: Option<i64>, out: &mut Vec<u8>) {
        let expire = touch.map(|e| self.expire_at(e));
        let mut reply = Vec::new();
        for key in keys {
            if key.len() > KEY_MAX {
                out.extend_from_slice(b"CLIENT_ERROR bad command line format\r\n");
                return;
            }
            if touch.is_some() {
                self.stats.cmd_touch += 1;
            } else {
                self.stats.cmd_get += 1;
            }
            let count = touch.is_none();
            match self.live(key, count) {
                Some(it) => {
                    if let Some(e) = expire {
                        it.expire = e;
                    }
                    let it = it.clone();
                    if touch.is_some() {
                        self.stats.touch_hits += 1;
                    } else {
                        self.stats.get_hits += 1;
                    }
                    reply.extend_from_slice(b"VALUE ");
                    reply.extend_from_slice(key);
                    reply.extend_from_slice(format!(" {} {}", it.flags, it.data.len()).as_bytes());
                    if cas {
                        reply.extend_from_slice(format!(" {}", it.cas).as_bytes());
                    }
                    reply.extend_from_slice(b"\r\n");
                    reply.extend_from_slice(&it.data);
                    reply.extend_from_slice(b"\r\n");
                }
                None => {
                    if touch.is_some() {
                        self.stats.touch_misses += 1;
                    } else {
                        self.stats.get_misses += 1;
                    }
                }
            }
        }
        out.extend_from_slice(&reply);
        out.extend_from_slice(b"END\r\n");
    }

    fn delta(&mut self, key: &[u8], by: &[u8], incr: bool, noreply: bool, out: &mut Vec<u8>) {
        if key.len() > KEY_MAX {
            self.reply(out, noreply, b"CLIENT_ERROR bad command line format\r\n");
            return;
        }
        let Some(by) = strtoull(by) else {
            self.reply(
                out,
                noreply,
                b"CLIENT_ERROR invalid numeric delta argument\r\n",
            );
            return;
        };
        let Some(it) = self.live(key, false) else {
            if incr {
                self.stats.incr_misses += 1;
            } else {
                self.stats.decr_misses += 1;
            }
            self.reply(out, noreply, b"NOT_FOUND\r\n");
            return;
        };
        let old = it.clone();
        // memcached parses the item's data with its trailing CRLF.
        let mut data = old.data.clone();
        data.extend_from_slice(b"\r\n");
        let Some(cur) = strtoull(&data) else {
            self.reply(
                out,
                noreply,
                b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
            );
            return;
        };
        let new = if incr {
            cur.wrapping_add(by)
        } else {
            cur.saturating_sub(by)
        };
        if incr {
            self.stats.incr_hits += 1;
        } else {
            self.stats.decr_hits += 1;
        }
        let text = new.to_string().into_bytes();
        if text.len() <= old.data.len() {
            // In place, padded with spaces to the old length; a new CAS.
            let mut data = text.clone();
            data.resize(old.data.len(), b' ');
            self.cas += 1;
            let cas = self.cas;
            if let Some(it) = self.items.get_mut(key) {
                it.data = data;
                it.cas = cas;
            }
        } else {
            let item = Item {
                flags: old.flags,
                expire: old.expire,
                data: text.clone(),
                cas: 0,
                time: 0,
            };
            self.link(key, item);
        }
        let mut line = text;
        line.extend_from_slice(b"\r\n");
        self.reply(out, noreply, &line);
    }

    fn stats_cmd(&mut self, args: &[&[u8]], out: &mut Vec<u8>) {
        let mut lines: Vec<(String, String)> = Vec::new();
        match args.first().copied() {
            None => {
                let s = &self.stats;
                let now = unix(self.now);
                let uptime = self.now.saturating_sub(self.started) / 1000;
                let kv = |k: &str, v: String| (k.to_string(), v);
                lines = vec![
                    kv("pid", "1".into()),
                    kv("uptime", uptime.to_string()),
                    kv("time", now.to_string()),
                    kv("version", VERSION.into()),
                    kv("libevent", "cachelab".into()),
                    kv("pointer_size", "64".into()),
                    kv("rusage_user", "0.000000".into()),
                    kv("rusage_system", "0.000000".into()),
                    kv("max_connections", "1024".into()),
                    kv("curr_connections", self.clients.len().to_string()),
                    kv("total_connections", s.total_connections.to_string()),
                    kv("rejected_connections", "0".into()),
                    kv("connection_structures", self.clients.len().to_string()),
                    kv("response_obj_oom", "0".into()),
                    kv("response_obj_count", "1".into()),
                    kv("response_obj_bytes", "16384".into()),
                    kv("read_buf_count", "8".into()),
                    kv("read_buf_bytes", "131072".into()),
                    kv("read_buf_bytes_free", "0".into()),
                    kv("read_buf_oom", "0".into()),
                    kv("reserved_fds", "20".into()),
                    kv("cmd_get", s.cmd_get.to_string()),
                    kv("cmd_set", s.cmd_set.to_string()),
                    kv("cmd_flush", s.cmd_flush.to_string()),
                    kv("cmd_touch", s.cmd_touch.to_string()),
                    kv("cmd_meta", "0".into()),
                    kv("get_hits", s.get_hits.to_string()),
                    kv("get_misses", s.get_misses.to_string()),
                    kv("get_expired", s.get_expired.to_string()),
                    kv("get_flushed", s.get_flushed.to_string()),
                    kv("delete_misses", s.delete_misses.to_string()),
                    kv("delete_hits", s.delete_hits.to_string()),
                    kv("incr_misses", s.incr_misses.to_string()),
                    kv("incr_hits", s.incr_hits.to_string()),
                    kv("decr_misses", s.decr_misses.to_string()),
                    kv("decr_hits", s.decr_hits.to_string()),
                    kv("cas_misses", s.cas_misses.to_string()),
                    kv("cas_hits", s.cas_hits.to_string()),
                    kv("cas_badval", s.cas_badval.to_string()),
                    kv("touch_hits", s.touch_hits.to_string()),
                    kv("touch_misses", s.touch_misses.to_string()),
                    kv("store_too_large", s.store_too_large.to_string()),
                    kv("store_no_memory", "0".into()),
                    kv("auth_cmds", "0".into()),
                    kv("auth_errors", "0".into()),
                    kv("bytes_read", s.bytes_read.to_string()),
                    kv("bytes_written", s.bytes_written.to_string()),
                    kv("limit_maxbytes", LIMIT_MAXBYTES.to_string()),
                    kv("accepting_conns", "1".into()),
                    kv("listen_disabled_num", "0".into()),
                    kv("time_in_listen_disabled_us", "0".into()),
                    kv("threads", "4".into()),
                    kv("conn_yields", "0".into()),
                    kv("hash_power_level", "16".into()),
                    kv("hash_bytes", "524288".into()),
                    kv("hash_is_expanding", "0".into()),
                ];
                for k in [
                    "slab_reassign_rescues",
                    "slab_reassign_chunk_rescues",
                    "slab_reassign_evictions_nomem",
                    "slab_reassign_inline_reclaim",
                    "slab_reassign_busy_items",
                    "slab_reassign_busy_deletes",
                    "slab_reassign_running",
                    "slabs_moved",
                    "lru_crawler_running",
                ] {
                    lines.push(kv(k, "0".into()));
                }
                lines.extend([
                    kv("lru_crawler_starts", "1".into()),
                    kv("lru_maintainer_juggles", "0".into()),
                    kv("malloc_fails", "0".into()),
                    kv("log_worker_dropped", "0".into()),
                    kv("log_worker_written", "0".into()),
                    kv("log_watcher_skipped", "0".into()),
                    kv("log_watcher_sent", "0".into()),
                    kv("log_watchers", "0".into()),
                    kv("unexpected_napi_ids", "0".into()),
                    kv("round_robin_fallback", "0".into()),
                    kv("bytes", self.bytes.to_string()),
                    kv("curr_items", self.items.len().to_string()),
                    kv("total_items", s.total_items.to_string()),
                    kv("slab_global_page_pool", "0".into()),
                    kv("expired_unfetched", s.expired_unfetched.to_string()),
                    kv("evicted_unfetched", "0".into()),
                    kv("evicted_active", "0".into()),
                    kv("evictions", s.evictions.to_string()),
                    kv("reclaimed", "0".into()),
                ]);
                for k in [
                    "crawler_reclaimed",
                    "crawler_items_checked",
                    "lrutail_reflocked",
                    "moves_to_cold",
                    "moves_to_warm",
                    "moves_within_lru",
                    "direct_reclaims",
                    "lru_bumps_dropped",
                ] {
                    lines.push(kv(k, "0".into()));
                }
            }
            Some(b"settings") => {
                lines = vec![
                    ("maxbytes".into(), LIMIT_MAXBYTES.to_string()),
                    ("maxconns".into(), "1024".into()),
                    ("tcpport".into(), self.port.to_string()),
                    ("verbosity".into(), self.verbosity.to_string()),
                    ("evictions".into(), "on".into()),
                    ("growth_factor".into(), "1.25".into()),
                    ("chunk_size".into(), "48".into()),
                    ("item_size_max".into(), ITEM_SIZE_MAX.to_string()),
                    ("cas_enabled".into(), "yes".into()),
                ];
            }
            Some(b"reset") => {
                let keep = self.stats.total_connections;
                self.stats = McStats {
                    total_connections: keep,
                    ..McStats::default()
                };
                out.extend_from_slice(b"RESET\r\n");
                return;
            }
            Some(b"items") => {
                if !self.items.is_empty() {
                    lines.push(("items:1:number".into(), self.items.len().to_string()));
                    lines.push(("items:1:evicted".into(), self.stats.evictions.to_string()));
                }
            }
            Some(_) => {
                out.extend_from_slice(b"ERROR\r\n");
                return;
            }
        }
        for (k, v) in lines {
            out.extend_from_slice(format!("STAT {k} {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"END\r\n");
    }
}

impl Machine for McNode {
    fn handle(&mut self, now: Millis, input: Input<'_>) {
        McNode::handle(self, now, input)
    }
    fn poll_output(&mut self) -> Option<Output> {
        McNode::poll_output(self)
    }
    fn poll_timeout(&self) -> Option<Millis> {
        McNode::poll_timeout(self)
    }
}

#[cfg(test)]
mod tests {
    use super::strtoull;

    #[test]
    fn strtoull_as_memcached_reads_it() {
        assert_eq!(strtoull(b"12"), Some(12));
        assert_eq!(strtoull(b" 12"), Some(12));
        assert_eq!(strtoull(b"12 "), Some(12));
        assert_eq!(strtoull(b"12a"), None);
        assert_eq!(strtoull(b"-1"), None);
        assert_eq!(strtoull(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(strtoull(b"18446744073709551616"), None);
        assert_eq!(strtoull(b"abc"), None);
    }
}
