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

pub mod client;
pub mod control;
pub mod hashing;
mod meta;
pub mod slabs;

pub use meta::{base64_decode, base64_encode};

use std::collections::{BTreeMap, VecDeque};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::node::{ConnId, Input, Machine, Output};
use crate::store::db::SeededState;
use crate::time::Millis;
use slabs::{ClassStats, Slabs, CHUNK_HEADER, CHUNK_MAX};

/// memcached's `KEY_MAX_LENGTH`.
pub const KEY_MAX: usize = 250;
/// `item_size_max` (-I), 1 MB by default.
pub const ITEM_SIZE_MAX: usize = 1024 * 1024;
/// `limit_maxbytes` (-m 64).
pub const LIMIT_MAXBYTES: usize = 64 * 1024 * 1024;
/// Relative expiry times above this many seconds are absolute unix times.
pub const REALTIME_MAXDELTA: i64 = 60 * 60 * 24 * 30;
/// memcached bumps an item in its LRU on a fetch only if it has not been
/// bumped for this long.
const ITEM_UPDATE_INTERVAL: i64 = 60;
/// `sizeof(item)` on 64-bit, plus the CAS field.
const ITEM_HEADER: usize = 48;
const CAS_SIZE: usize = 8;
/// The version string `version` and `stats` report.
pub const VERSION: &str = "1.6.18";
/// memcached's MAX_TOKENS: a command line is cut into at most one fewer.
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
    /// Unix seconds of the link, or of the last access that bumped it
    /// (memcached's `it->time`: flush_all's cut-off and the LRU age).
    time: i64,
    /// Fetched at least once (`ITEM_FETCHED`).
    fetched: bool,
    /// Marked stale by `md I` / `ms I` (`ITEM_STALE`).
    stale: bool,
    /// A client was handed the win token (`ITEM_TOKEN_SENT`).
    token_sent: bool,
    /// The key arrived base64-encoded (`ITEM_KEY_BINARY`).
    key_binary: bool,
    /// The item's memory, and its place in its slab class's LRU.
    mem: Alloc,
    lru: u64,
}

/// Chunks taken from the slab allocator for one item.
#[derive(Clone, Debug, Default)]
struct Alloc {
    /// The slab class whose LRU holds the item.
    class: usize,
    /// The class of the item's own chunk (its header, when chunked).
    hdr: u8,
    /// Larger than a chunk: the data is in `chunks`, after the header's
    /// own empty chunk.
    chunked: bool,
    chunks: Vec<Chunk>,
    ntotal: usize,
}

/// A data chunk of a chunked item (memcached's `item_chunk`).
#[derive(Clone, Copy, Debug)]
struct Chunk {
    class: u8,
    cap: usize,
    used: usize,
}

enum AllocError {
    TooLarge,
    NoMemory,
}

/// What `do_store_item` answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StoreResult {
    Stored,
    NotStored,
    Exists,
    NotFound,
}

impl StoreResult {
    fn text(self) -> &'static [u8] {
        match self {
            StoreResult::Stored => b"STORED\r\n",
            StoreResult::NotStored => b"NOT_STORED\r\n",
            StoreResult::Exists => b"EXISTS\r\n",
            StoreResult::NotFound => b"NOT_FOUND\r\n",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CasRes {
    None,
    Match,
    Stale,
    BadVal,
}

/// What `do_add_delta` answered.
enum Delta {
    /// The new value's text; true when it went into a new item.
    Ok(Vec<u8>, bool),
    NotFound,
    NonNumeric,
    NoMemory,
    CasMismatch,
}

/// memcached's `ITEM_ntotal`: the header, the key and its NUL, the data
/// and its CRLF, the CAS, and 4 bytes of client flags when they are not 0.
fn ntotal(nkey: usize, data_len: usize, flags: u32) -> usize {
    ITEM_HEADER + nkey + 1 + data_len + 2 + CAS_SIZE + if flags != 0 { 4 } else { 0 }
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
    /// Unix seconds, as `realtime()` made it.
    expire: Option<i64>,
    len: usize,
    cas: u64,
    noreply: bool,
    /// The chunks taken for the item when the command was read.
    mem: Alloc,
    /// Set for `ms`: how to answer.
    meta: Option<meta::MetaStore>,
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
    pub store_no_memory: u64,
    pub total_items: u64,
    pub total_connections: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub evictions: u64,
    pub evicted_unfetched: u64,
    pub reclaimed: u64,
    pub expired_unfetched: u64,
}

/// What a UI shows of a memcached node.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct McView {
    pub items: usize,
    pub bytes: usize,
    pub stats: McStats,
    pub connections: usize,
    /// The memory limit (`-m`) and the slab pages taken so far.
    pub limit: usize,
    pub malloced: usize,
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
    /// Per slab class, its LRU: position → key (lowest = least recent).
    lrus: Vec<BTreeMap<u64, Vec<u8>>>,
    lru_seq: u64,
    slabs: Slabs,
    bytes: usize,
    cas: u64,
    clients: BTreeMap<ConnId, Client>,
    outputs: VecDeque<Output>,
    /// Counters kept for the whole node; the per-class ones are in `slabs`.
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
    meta_cmds: u64,
    /// The key whose item lock an allocation is made under.
    held: Option<Vec<u8>>,
}

fn unix(now: Millis) -> i64 {
    (now.0 / 1000) as i64
}

/// The C number parsers' common ground: leading whitespace, a sign, the
/// digits' value (`None` on overflow of `max`), then only whitespace or the
/// end. Returns (negative, magnitude); `None` when no digit was read or
/// something else follows.
fn c_number(b: &[u8], max: u64) -> Option<(bool, u64)> {
    let s = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let rest = &b[s..];
    let (neg, at) = match rest.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let digits = rest[at..].iter().take_while(|c| c.is_ascii_digit()).count();
    // strtoull/strtol consumed nothing (endptr == str): refused.
    if digits == 0 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in &rest[at..at + digits] {
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
        if v > max {
            return None;
        }
    }
    match b.get(s + at + digits) {
        Some(c) if !c.is_ascii_whitespace() => None,
        _ => Some((neg, v)),
    }
}

/// memcached's `safe_strtoull`: strtoull, then only whitespace may follow;
/// a negative number is refused.
pub fn strtoull(b: &[u8]) -> Option<u64> {
    let (neg, v) = c_number(b, u64::MAX)?;
    if !neg {
        return Some(v);
    }
    // strtoull negates; memcached refuses any result that looks negative.
    let n = v.wrapping_neg();
    ((n as i64) >= 0).then_some(n)
}

/// memcached's `safe_strtol`: strtol into a 64-bit long, stored into an
/// `int32_t` (so it wraps), only whitespace may follow.
fn strtol(b: &[u8]) -> Option<i32> {
    // strtol's range: ERANGE beyond i64 (the magnitude of i64::MIN allowed).
    let (neg, v) = c_number(b, 1 << 63)?;
    let v = if neg {
        (v as i64).wrapping_neg()
    } else {
        i64::try_from(v).ok()?
    };
    Some(v as i32)
}

impl McNode {
    pub fn new(seed: u64) -> McNode {
        McNode::with_memory(seed, LIMIT_MAXBYTES)
    }

    /// A node with `limit` bytes of item memory (memcached's `-m`).
    pub fn with_memory(seed: u64, limit: usize) -> McNode {
        let slabs = Slabs::new(limit);
        McNode {
            cluster: None,
            items: IndexMap::with_hasher(SeededState(seed)),
            lrus: vec![BTreeMap::new(); slabs.classes.len()],
            lru_seq: 0,
            slabs,
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
            meta_cmds: 0,
            held: None,
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
            stats: self.totals(),
            connections: self.clients.len(),
            limit: self.slabs.limit,
            malloced: self.slabs.malloced,
        }
    }

    /// The node's counters with the per-class ones summed, as `stats` shows them.
    fn totals(&self) -> McStats {
        let mut s = self.stats.clone();
        for c in &self.slabs.classes {
            let c = &c.stats;
            s.get_hits += c.get_hits;
            s.cmd_set += c.set_cmds;
            s.delete_hits += c.delete_hits;
            s.incr_hits += c.incr_hits;
            s.decr_hits += c.decr_hits;
            s.cas_hits += c.cas_hits;
            s.cas_badval += c.cas_badval;
            s.touch_hits += c.touch_hits;
            s.evictions += c.evicted;
            s.evicted_unfetched += c.evicted_unfetched;
            s.reclaimed += c.reclaimed;
            s.expired_unfetched += c.expired_unfetched;
        }
        s
    }

    /// memcached's `process_started`: two update intervals before the start.
    fn process_started(&self) -> i64 {
        unix(self.started) - ITEM_UPDATE_INTERVAL - 2
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
            Input::ConnClosed { conn } => self.drop_client(conn),
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
            // memcached has no output limit: a client's own replies wait
            // in its socket, and it reads no more of that client meanwhile.
            Input::Tick
            | Input::Unwritten { .. }
            | Input::Peer { .. }
            | Input::LinkUp { .. }
            | Input::LinkBytes { .. }
            | Input::LinkClosed { .. } => {}
        }
    }

    /// A connection went away: the item it was uploading is freed.
    fn drop_client(&mut self, conn: ConnId) {
        if let Some(c) = self.clients.remove(&conn) {
            if let Some(st) = c.store {
                self.release(st.mem);
            }
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
            if let Some(st) = &c.store {
                if buf.len() - pos < st.len + 2 {
                    break;
                }
                let st = c.store.take().expect("pending store");
                let block = &buf[pos..pos + st.len + 2];
                pos += st.len + 2;
                self.slabs.classes[st.mem.class].stats.set_cmds += 1;
                if &block[st.len..] != b"\r\n" {
                    self.release(st.mem);
                    // The meta protocol always reports errors.
                    let quiet = st.noreply && st.meta.is_none();
                    self.reply(&mut out, quiet, b"CLIENT_ERROR bad data chunk\r\n");
                } else {
                    let data = block[..st.len].to_vec();
                    // The key is kept for the meta protocol's reply only.
                    let meta = st.meta.clone().map(|m| (st.key.clone(), m));
                    let noreply = st.noreply;
                    let r = self.store(st, data);
                    match meta {
                        None => self.reply(&mut out, noreply, r.text()),
                        Some((key, m)) => self.meta_store_reply(&key, &m, r, noreply, &mut out),
                    }
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
            if self.command(conn, line, &mut out) {
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
            self.drop_client(conn);
            self.outputs.push_back(Output::CloseConn { conn });
        }
    }

    fn reply(&self, out: &mut Vec<u8>, noreply: bool, text: &[u8]) {
        if !noreply {
            out.extend_from_slice(text);
        }
    }

    /// memcached's `item_is_flushed`.
    fn is_flushed(&self, it: &Item) -> bool {
        let now = unix(self.now);
        self.oldest_live.is_some_and(|ol| {
            ol > self.process_started()
                && ol <= now
                && (it.time <= ol || (self.oldest_cas != 0 && it.cas < self.oldest_cas))
        })
    }

    /// memcached's `do_item_get`: an item if present, live and not flushed.
    /// An expired or flushed item met here is unlinked and counted.
    fn live(&mut self, key: &[u8]) -> Option<&mut Item> {
        let now = unix(self.now);
        let it = self.items.get(key)?;
        let flushed = self.is_flushed(it);
        let expired = it.expire.is_some_and(|e| e <= now);
        if flushed || expired {
            self.unlink(key);
            if flushed {
                self.stats.get_flushed += 1;
            } else {
                self.stats.get_expired += 1;
            }
            return None;
        }
        self.items.get_mut(key)
    }

    /// A fetch's LRU bump (memcached without the segmented LRU): the item
    /// is marked fetched, and moved to the head if it has not been moved
    /// for a minute.
    fn bump(&mut self, key: &[u8]) {
        if let Some(it) = self.items.get_mut(key) {
            it.fetched = true;
        }
        self.update(key);
    }

    /// memcached's `do_item_update`.
    fn update(&mut self, key: &[u8]) {
        let now = unix(self.now);
        let Some(it) = self.items.get_mut(key) else {
            return;
        };
        if it.time < now - ITEM_UPDATE_INTERVAL {
            it.time = now;
            let (class, old) = (it.mem.class, it.lru);
            self.lru_seq += 1;
            it.lru = self.lru_seq;
            let k = self.lrus[class].remove(&old).expect("item in its LRU");
            self.lrus[class].insert(self.lru_seq, k);
        }
    }

    fn unlink(&mut self, key: &[u8]) {
        if let Some(it) = self.items.swap_remove(key) {
            self.forget(it);
        }
    }

    /// An item taken out of the table leaves its LRU, its class's counts
    /// and the node's bytes, and gives its chunks back; its LRU entry's key
    /// buffer is returned for reuse.
    fn forget(&mut self, it: Item) -> Option<Vec<u8>> {
        let k = self.lrus[it.mem.class].remove(&it.lru);
        let c = &mut self.slabs.classes[it.mem.class];
        c.items -= 1;
        c.requested -= it.mem.ntotal;
        self.bytes -= it.mem.ntotal;
        self.release(it.mem);
        k
    }

    /// Gives an item's chunks back to their classes.
    fn release(&mut self, mem: Alloc) {
        self.slabs.free(mem.hdr as usize);
        for c in mem.chunks {
            self.slabs.free(c.class as usize);
        }
    }

    /// Links `item` (whose memory was allocated) under `key`, replacing
    /// what was there: a new CAS id, the link time, the head of its LRU.
    ///
    /// A replaced item is swapped in place (one lookup; its key's buffers
    /// are reused) and forgotten as an unlink would.
    fn link(&mut self, key: &[u8], mut item: Item) {
        self.cas += 1;
        item.cas = self.cas;
        item.time = unix(self.now);
        self.lru_seq += 1;
        item.lru = self.lru_seq;
        let (class, ntotal) = (item.mem.class, item.mem.ntotal);
        let lru_key = match self.items.get_mut(key) {
            Some(slot) => {
                let old = std::mem::replace(slot, item);
                self.forget(old).unwrap_or_else(|| key.to_vec())
            }
            None => {
                self.items.insert(key.to_vec(), item);
                key.to_vec()
            }
        };
        self.lrus[class].insert(self.lru_seq, lru_key);
        let c = &mut self.slabs.classes[class];
        c.items += 1;
        c.requested += ntotal;
        self.bytes += ntotal;
        self.stats.total_items += 1;
    }

    /// memcached's `item_alloc`: the chunks for an item of `key`, `flags`
    /// and `len` data bytes — evicting from the LRU of the class when memory
    /// is full. `locked`: the caller holds the key's item lock (append,
    /// incr, the meta protocol's vivify), so the walk of the LRU's tail
    /// steps over the key's current item instead of stopping at it.
    fn alloc(
        &mut self,
        key: &[u8],
        flags: u32,
        len: usize,
        locked: bool,
    ) -> Result<Alloc, AllocError> {
        self.held = locked.then(|| key.to_vec());
        let r = self.alloc_chunks(key.len(), flags, len);
        self.held = None;
        r
    }

    fn alloc_chunks(&mut self, nkey: usize, flags: u32, len: usize) -> Result<Alloc, AllocError> {
        let nt = ntotal(nkey, len, flags);
        let id = self.slabs.clsid(nt, ITEM_SIZE_MAX);
        if id == 0 {
            return Err(AllocError::TooLarge);
        }
        let chunked = nt > CHUNK_MAX;
        // A chunked item starts as a header; its data chunks come as the
        // data is read or copied in.
        let hdr = if chunked {
            let nsuffix = if flags != 0 { 4 } else { 0 };
            let htotal = nkey + 1 + nsuffix + ITEM_HEADER + CHUNK_HEADER + CAS_SIZE;
            self.slabs.clsid(htotal, ITEM_SIZE_MAX)
        } else {
            id
        };
        if !self.alloc_pull(hdr) {
            self.slabs.classes[id].stats.outofmemory += 1;
            return Err(AllocError::NoMemory);
        }
        Ok(Alloc {
            class: id,
            hdr: hdr as u8,
            chunked,
            chunks: Vec::new(),
            ntotal: nt,
        })
    }

    /// memcached's `do_item_alloc_chunk`: room for `remain` more bytes, up
    /// to a full chunk (falling back to a full one when the exact class has
    /// no memory).
    fn alloc_data_chunk(&mut self, remain: usize) -> Option<Chunk> {
        let size = (remain + CHUNK_HEADER).min(CHUNK_MAX);
        let mut class = self.slabs.clsid(size, ITEM_SIZE_MAX);
        let mut cap = size - CHUNK_HEADER;
        if !self.alloc_pull(class) {
            if size == CHUNK_MAX {
                return None;
            }
            class = self.slabs.clsid(CHUNK_MAX, ITEM_SIZE_MAX);
            cap = CHUNK_MAX - CHUNK_HEADER;
            if !self.alloc_pull(class) {
                return None;
            }
        }
        Some(Chunk {
            class: class as u8,
            cap,
            used: 0,
        })
    }

    /// Reads `len` bytes into a chunked item (`read_into_chunked_item`):
    /// a new chunk each time the last one is full.
    fn fill_chunks(&mut self, mem: &mut Alloc, len: usize) -> bool {
        let mut rl = len;
        while rl > 0 {
            let (cap, used) = mem.chunks.last().map(|c| (c.cap, c.used)).unwrap_or((0, 0));
            if cap == used {
                match self.alloc_data_chunk(rl) {
                    Some(c) => mem.chunks.push(c),
                    None => return false,
                }
                continue;
            }
            let n = (cap - used).min(rl);
            mem.chunks.last_mut().expect("a chunk").used += n;
            rl -= n;
        }
        true
    }

    /// The data chunks of a chunked item being uploaded (`len` data bytes
    /// and the CRLF); `None`, with everything freed, when memory runs out.
    fn read_chunks(&mut self, mut mem: Alloc, len: usize) -> Option<Alloc> {
        if !mem.chunked || self.fill_chunks(&mut mem, len + 2) {
            return Some(mem);
        }
        self.release(mem);
        None
    }

    /// memcached's `_store_item_copy_chunks`: copies `len` bytes of `src`
    /// (its chunk fills, or one piece when it is not chunked) into `dest`,
    /// taking a chunk sized for what is left of *this* copy whenever one
    /// fills — so a copy that ends a chunk exactly takes an empty one.
    fn copy_chunks(&mut self, dest: &mut Alloc, src: &Alloc, len: usize) -> bool {
        let pieces: Vec<usize> = if src.chunked {
            std::iter::once(0)
                .chain(src.chunks.iter().map(|c| c.used))
                .collect()
        } else {
            vec![usize::MAX]
        };
        let mut remain = len;
        let mut copied = 0;
        let mut si = 0;
        while si < pieces.len() && remain > 0 {
            let (cap, used) = dest
                .chunks
                .last()
                .map(|c| (c.cap, c.used))
                .unwrap_or((0, 0));
            let todo = (cap - used).min(pieces[si] - copied).min(remain);
            if let Some(c) = dest.chunks.last_mut() {
                c.used += todo;
            }
            copied += todo;
            remain -= todo;
            if cap == used + todo {
                match self.alloc_data_chunk(remain) {
                    Some(c) => dest.chunks.push(c),
                    None => return false,
                }
            }
            if copied == pieces[si] && src.chunked {
                copied = 0;
                si += 1;
            }
        }
        true
    }

    /// memcached's `do_item_alloc_pull` without the segmented LRU: reclaim
    /// what is dead at the tail, take a chunk, else evict the tail and retry.
    fn alloc_pull(&mut self, id: usize) -> bool {
        for _ in 0..10 {
            self.pull_tail(id, false);
            if self.slabs.alloc(id) {
                return true;
            }
            if self.pull_tail(id, true) == 0 {
                break;
            }
        }
        false
    }

    /// memcached's `lru_pull_tail`: up to five items from the tail of the
    /// class's LRU; expired or flushed ones are reclaimed, the first live
    /// one stops the walk — evicted when `evict` is set.
    fn pull_tail(&mut self, id: usize, evict: bool) -> usize {
        let now = unix(self.now);
        let mut removed = 0;
        // Up to five items from the tail; `skip` steps over a locked one.
        let mut skip = 0;
        for _ in 0..5 {
            let Some(key) = self.lrus[id].values().nth(skip) else {
                break;
            };
            // memcached's item_trylock fails on a key whose lock is held.
            if self.held.as_deref() == Some(key.as_slice()) {
                skip += 1;
                continue;
            }
            let it = &self.items[key];
            let dead = it.expire.is_some_and(|e| e < now) || self.is_flushed(it);
            let (fetched, time, has_exp) = (it.fetched, it.time, it.expire.is_some());
            if !dead && !evict {
                break;
            }
            let key = key.clone();
            let st = &mut self.slabs.classes[id].stats;
            if dead {
                st.reclaimed += 1;
                if !fetched {
                    st.expired_unfetched += 1;
                }
                self.unlink(&key);
                removed += 1;
                continue;
            }
            st.evicted += 1;
            st.evicted_time = now - time;
            if has_exp {
                st.evicted_nonzero += 1;
            }
            if !fetched {
                st.evicted_unfetched += 1;
            }
            self.unlink(&key);
            removed += 1;
            break;
        }
        removed
    }

    /// memcached's `realtime()`, in unix seconds: 0 never expires, up to 30
    /// days is relative, above is a unix time (one before the server
    /// started counts as just after it, i.e. long past); negative is past.
    fn expire_at(&self, exptime: i32) -> Option<i64> {
        let e = if exptime < 0 {
            REALTIME_MAXDELTA + 1
        } else {
            exptime as i64
        };
        if e == 0 {
            None
        } else if e > REALTIME_MAXDELTA {
            let ps = self.process_started();
            Some(if e <= ps { ps + 1 } else { e })
        } else {
            Some(unix(self.now) + e)
        }
    }

    /// memcached's `do_store_item`, given the uploaded data.
    fn store(&mut self, st: PendingStore, data: Vec<u8>) -> StoreResult {
        // The old value is copied only when it is to be joined.
        let joins = matches!(st.kind, StoreKind::Append | StoreKind::Prepend);
        let exists = self.live(&st.key).map(|it| {
            let data = if joins { it.data.clone() } else { Vec::new() };
            let mem = joins.then(|| it.mem.clone());
            (it.cas, data, it.flags, it.expire, (it.mem.class, mem))
        });
        let key_binary = st.meta.as_ref().is_some_and(|m| m.key_binary);
        let mut item = meta::new_item(st.flags, st.expire, data, key_binary, st.mem);
        let Some((old_cas, old_data, old_flags, old_expire, (old_class, old_mem))) = exists else {
            // Nothing to replace or compare with.
            return match st.kind {
                StoreKind::Set | StoreKind::Add => {
                    self.link(&st.key, item);
                    StoreResult::Stored
                }
                StoreKind::Cas => {
                    self.stats.cas_misses += 1;
                    self.release(item.mem);
                    StoreResult::NotFound
                }
                _ => {
                    self.release(item.mem);
                    StoreResult::NotStored
                }
            };
        };
        // The CAS check applies to every mode (the meta protocol can ask it
        // of append and add too).
        let stale = st.meta.as_ref().is_some_and(|m| m.set_stale);
        let cas_res = if st.cas == 0 {
            CasRes::None
        } else if st.cas == old_cas {
            CasRes::Match
        } else if stale && st.cas < old_cas {
            CasRes::Stale
        } else {
            CasRes::BadVal
        };
        match st.kind {
            StoreKind::Add => {
                self.update(&st.key);
                self.release(item.mem);
                StoreResult::NotStored
            }
            StoreKind::Cas => match cas_res {
                CasRes::Match | CasRes::Stale => {
                    self.slabs.classes[old_class].stats.cas_hits += 1;
                    if cas_res == CasRes::Stale {
                        // Replaces the value, keeping the TTL, marked stale.
                        let old = &self.items[&st.key];
                        item.expire = old.expire;
                        item.stale = true;
                        item.token_sent = old.token_sent;
                    }
                    self.link(&st.key, item);
                    StoreResult::Stored
                }
                _ => {
                    self.slabs.classes[old_class].stats.cas_badval += 1;
                    self.release(item.mem);
                    StoreResult::Exists
                }
            },
            StoreKind::Append | StoreKind::Prepend => {
                if !matches!(cas_res, CasRes::None | CasRes::Match) {
                    self.release(item.mem);
                    return StoreResult::Exists;
                }
                let append = st.kind == StoreKind::Append;
                let (old_len, add_len) = (old_data.len(), item.data.len());
                let joined = if append {
                    [old_data, std::mem::take(&mut item.data)].concat()
                } else {
                    [std::mem::take(&mut item.data), old_data].concat()
                };
                // A new item holding both, with the old one's flags and TTL;
                // when chunked, its chunks are filled by two copies.
                let Ok(mut mem) = self.alloc(&st.key, old_flags, joined.len(), true) else {
                    self.release(item.mem);
                    return StoreResult::NotStored;
                };
                if mem.chunked {
                    let old_mem = old_mem
                        .as_ref()
                        .expect("the old item's chunks, kept to join");
                    let ((a, a_len), (b, b_len)) = if append {
                        ((old_mem, old_len), (&item.mem, add_len + 2))
                    } else {
                        ((&item.mem, add_len), (old_mem, old_len + 2))
                    };
                    self.held = Some(st.key.clone());
                    let ok = self.copy_chunks(&mut mem, a, a_len)
                        && self.copy_chunks(&mut mem, b, b_len);
                    self.held = None;
                    if !ok {
                        self.release(mem);
                        self.release(item.mem);
                        return StoreResult::NotStored;
                    }
                }
                self.release(item.mem);
                // A fresh item: the key's binary marker is not carried over.
                self.link(
                    &st.key,
                    meta::new_item(old_flags, old_expire, joined, false, mem),
                );
                StoreResult::Stored
            }
            StoreKind::Set | StoreKind::Replace => {
                self.link(&st.key, item);
                StoreResult::Stored
            }
        }
    }

    /// Runs one command line; true when the connection must close.
    fn command(&mut self, conn: ConnId, line: &[u8], out: &mut Vec<u8>) -> bool {
        let tokens: Vec<&[u8]> = line
            .split(|&b| b == b' ')
            .filter(|t| !t.is_empty())
            .collect();
        if tokens.is_empty() || tokens[0].len() < 2 {
            out.extend_from_slice(b"ERROR\r\n");
            return false;
        }
        // memcached's tokenizer stops at 23 tokens; only the multi-key gets
        // read on past them.
        let n = tokens.len().min(MAX_TOKENS - 1);
        let noreply = tokens[n - 1] == b"noreply";
        if tokens[0].len() == 2 && tokens[0][0] == b'm' {
            self.meta(conn, &tokens, out);
            return false;
        }
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
                    Some(e) => self.retrieve(&tokens[2..], cas, Some(e), out),
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
                } else if let Some(it) = self.live(tokens[1]) {
                    let class = it.mem.class;
                    self.slabs.classes[class].stats.delete_hits += 1;
                    self.unlink(tokens[1]);
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
                match self.live(tokens[1]) {
                    Some(it) => {
                        it.expire = expire;
                        let class = it.mem.class;
                        self.bump(tokens[1]);
                        self.slabs.classes[class].stats.touch_hits += 1;
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
                let oldest = new_oldest - 1;
                self.oldest_live = Some(oldest);
                if oldest <= now {
                    // What was stored this very second goes too: by CAS.
                    self.cas += 1;
                    self.oldest_cas = self.cas;
                }
                // Flushed items stay (counted in curr_items and bytes) until a
                // lookup or the allocator meets them, as in memcached without
                // its background LRU crawler.
                self.reply(out, noreply, b"OK\r\n");
            }
            b"version" => out.extend_from_slice(format!("VERSION {VERSION}\r\n").as_bytes()),
            b"verbosity" if n == 2 || n == 3 => match strtoull(tokens[1]) {
                Some(v) => {
                    self.verbosity = (v as u32).min(2);
                    self.reply(out, noreply, b"OK\r\n");
                }
                None => self.reply(out, noreply, b"CLIENT_ERROR bad command line format\r\n"),
            },
            b"quit" => return true,
            b"stats" => self.stats_cmd(&tokens[1..n], out),
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
        if key.len() > KEY_MAX {
            self.reply(out, noreply, b"CLIENT_ERROR bad command line format\r\n");
            return;
        }
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
        if !(0..=i32::MAX - 2).contains(&len) {
            self.reply(out, noreply, b"CLIENT_ERROR bad command line format\r\n");
            return;
        }
        let len = len as usize;
        let expire = self.expire_at(exptime);
        let mem = match self.alloc(key, flags, len, false) {
            Ok(mem) => mem,
            Err(e) => {
                let mut text = self.store_failed(e).to_vec();
                text.extend_from_slice(b"\r\n");
                self.reply(out, noreply, &text);
                // The data block that follows is read and dropped.
                self.clients.get_mut(&conn).expect("client exists").swallow = len + 2;
                if kind == StoreKind::Set && self.live(key).is_some() {
                    // A SET that cannot be stored must not leave the old value behind.
                    self.unlink(key);
                }
                return;
            }
        };
        let Some(mem) = self.read_chunks(mem, len) else {
            self.reply(out, noreply, b"SERVER_ERROR Out of memory during read\r\n");
            self.clients.get_mut(&conn).expect("client exists").swallow = len + 2;
            return;
        };
        self.clients.get_mut(&conn).expect("client exists").store = Some(PendingStore {
            kind,
            key: key.to_vec(),
            flags,
            expire,
            len,
            cas,
            noreply,
            mem,
            meta: None,
        });
    }

    /// Counts a store whose item could not be allocated; memcached's words.
    fn store_failed(&mut self, e: AllocError) -> &'static [u8] {
        match e {
            AllocError::TooLarge => {
                self.stats.store_too_large += 1;
                b"SERVER_ERROR object too large for cache"
            }
            AllocError::NoMemory => {
                self.stats.store_no_memory += 1;
                b"SERVER_ERROR out of memory storing object"
            }
        }
    }

    /// get/gets, and gat/gats when `touch` carries the new exptime. As
    /// memcached: keys are served in order; a key too long ends the command
    /// with an error (what was gathered is dropped, what was counted stays);
    /// gat counts as a touch, not as a get.
    fn retrieve(&mut self, keys: &[&[u8]], cas: bool, touch: Option<i32>, out: &mut Vec<u8>) {
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
            match self.live(key) {
                Some(it) => {
                    if let Some(e) = expire {
                        it.expire = e;
                    }
                    let class = it.mem.class;
                    self.bump(key);
                    let it = &self.items[*key];
                    reply.extend_from_slice(b"VALUE ");
                    reply.extend_from_slice(key);
                    reply.extend_from_slice(format!(" {} {}", it.flags, it.data.len()).as_bytes());
                    if cas {
                        reply.extend_from_slice(format!(" {}", it.cas).as_bytes());
                    }
                    reply.extend_from_slice(b"\r\n");
                    reply.extend_from_slice(&it.data);
                    reply.extend_from_slice(b"\r\n");
                    let st = &mut self.slabs.classes[class].stats;
                    if touch.is_some() {
                        st.touch_hits += 1;
                    } else {
                        st.get_hits += 1;
                    }
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
        match self.add_delta(key, incr, by, 0) {
            Delta::Ok(text, _) => {
                let mut line = text;
                line.extend_from_slice(b"\r\n");
                self.reply(out, noreply, &line);
            }
            Delta::NotFound => {
                if incr {
                    self.stats.incr_misses += 1;
                } else {
                    self.stats.decr_misses += 1;
                }
                self.reply(out, noreply, b"NOT_FOUND\r\n");
            }
            Delta::NonNumeric => self.reply(
                out,
                noreply,
                b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
            ),
            Delta::NoMemory => self.reply(out, noreply, b"SERVER_ERROR out of memory\r\n"),
            Delta::CasMismatch => self.reply(out, noreply, b"EXISTS\r\n"),
        }
    }

    /// memcached's `do_add_delta`: the new value's text. In place (a new
    /// CAS, space-padded to the old length) when it is not longer, else a
    /// new item. `cas`, when not 0, must match the item's.
    fn add_delta(&mut self, key: &[u8], incr: bool, by: u64, cas: u64) -> Delta {
        let Some(it) = self.live(key) else {
            return Delta::NotFound;
        };
        // Empty and chunked values are not numbers to memcached.
        if it.data.is_empty() || it.mem.chunked {
            return Delta::NonNumeric;
        }
        if cas != 0 && it.cas != cas {
            return Delta::CasMismatch;
        }
        // memcached parses the item's data with its trailing CRLF.
        let mut data = it.data.clone();
        data.extend_from_slice(b"\r\n");
        let Some(cur) = strtoull(&data) else {
            return Delta::NonNumeric;
        };
        let new = if incr {
            cur.wrapping_add(by)
        } else {
            cur.saturating_sub(by)
        };
        let class = it.mem.class;
        let st = &mut self.slabs.classes[class].stats;
        if incr {
            st.incr_hits += 1;
        } else {
            st.decr_hits += 1;
        }
        let text = new.to_string().into_bytes();
        let it = &self.items[key];
        if text.len() <= it.data.len() {
            let mut data = text.clone();
            data.resize(it.data.len(), b' ');
            self.cas += 1;
            let cas = self.cas;
            let it = self.items.get_mut(key).expect("live item");
            it.data = data;
            it.cas = cas;
            self.update(key);
        } else {
            let (flags, expire) = (it.flags, it.expire);
            let Ok(mem) = self.alloc(key, flags, text.len(), true) else {
                return Delta::NoMemory;
            };
            // A fresh item: the key's binary marker is not carried over.
            self.link(key, meta::new_item(flags, expire, text.clone(), false, mem));
            return Delta::Ok(text, true);
        }
        Delta::Ok(text, false)
    }

    fn stats_cmd(&mut self, args: &[&[u8]], out: &mut Vec<u8>) {
        let mut lines: Vec<(String, String)> = Vec::new();
        match args.first().copied() {
            None => {
                let s = &self.totals();
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
                    kv("cmd_meta", self.meta_cmds.to_string()),
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
                    kv("store_no_memory", s.store_no_memory.to_string()),
                    kv("auth_cmds", "0".into()),
                    kv("auth_errors", "0".into()),
                    kv("bytes_read", s.bytes_read.to_string()),
                    kv("bytes_written", s.bytes_written.to_string()),
                    kv("limit_maxbytes", self.slabs.limit.to_string()),
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
                    kv("evicted_unfetched", s.evicted_unfetched.to_string()),
                    kv("evicted_active", "0".into()),
                    kv("evictions", s.evictions.to_string()),
                    kv("reclaimed", s.reclaimed.to_string()),
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
                // memcached 1.6.18's list, as run here: flat LRU per slab
                // class, no background maintainer or crawler.
                let oldest = self
                    .oldest_live
                    .map(|o| (o - self.process_started()).max(0))
                    .unwrap_or(0);
                let text = format!(
                    "maxbytes {maxbytes}\n\
                     maxconns 1024\n\
                     tcpport {port}\n\
                     udpport 0\n\
                     inter 127.0.0.1\n\
                     verbosity {verbosity}\n\
                     oldest {oldest}\n\
                     evictions on\n\
                     domain_socket NULL\n\
                     umask 700\n\
                     shutdown_command no\n\
                     growth_factor 1.25\n\
                     chunk_size 48\n\
                     num_threads 4\n\
                     num_threads_per_udp 4\n\
                     stat_key_prefix :\n\
                     detail_enabled no\n\
                     reqs_per_event 20\n\
                     cas_enabled yes\n\
                     tcp_backlog 1024\n\
                     binding_protocol auto-negotiate\n\
                     auth_enabled_sasl no\n\
                     auth_enabled_ascii no\n\
                     item_size_max 1048576\n\
                     maxconns_fast yes\n\
                     hashpower_init 0\n\
                     slab_reassign yes\n\
                     slab_automove 1\n\
                     slab_automove_ratio 0.80\n\
                     slab_automove_window 30\n\
                     slab_chunk_max 524288\n\
                     lru_crawler no\n\
                     lru_crawler_sleep 100\n\
                     lru_crawler_tocrawl 0\n\
                     tail_repair_time 0\n\
                     flush_enabled yes\n\
                     dump_enabled yes\n\
                     hash_algorithm murmur3\n\
                     lru_maintainer_thread no\n\
                     lru_segmented no\n\
                     hot_lru_pct 20\n\
                     warm_lru_pct 40\n\
                     hot_max_factor 0.20\n\
                     warm_max_factor 2.00\n\
                     temp_lru no\n\
                     temporary_ttl 61\n\
                     idle_timeout 0\n\
                     watcher_logbuf_size 262144\n\
                     worker_logbuf_size 65536\n\
                     read_buf_mem_limit 0\n\
                     track_sizes no\n\
                     inline_ascii_response no\n\
                     ext_item_size 512\n\
                     ext_item_age 4294967295\n\
                     ext_low_ttl 0\n\
                     ext_recache_rate 2000\n\
                     ext_wbuf_size 4194304\n\
                     ext_compact_under 0\n\
                     ext_drop_under 0\n\
                     ext_max_sleep 1000000\n\
                     ext_max_frag 0.80\n\
                     slab_automove_freeratio 0.010\n\
                     ext_drop_unread no\n\
                     ssl_enabled no\n\
                     ssl_chain_cert (null)\n\
                     ssl_key (null)\n\
                     ssl_verify_mode 0\n\
                     ssl_keyformat 1\n\
                     ssl_ciphers NULL\n\
                     ssl_ca_cert NULL\n\
                     ssl_wbuf_size 16384\n\
                     ssl_session_cache no\n\
                     ssl_kernel_tls no\n\
                     ssl_min_version tlsv1.2\n\
                     num_napi_ids (null)\n\
                     memory_file (null)",
                    maxbytes = self.slabs.limit,
                    port = self.port,
                    verbosity = self.verbosity,
                );
                for l in text.lines() {
                    let (k, v) = l.split_once(' ').expect("name value");
                    lines.push((k.to_string(), v.to_string()));
                }
            }
            Some(b"reset") => {
                // memcached zeroes its global, per-thread and per-class counters.
                self.stats = McStats::default();
                self.meta_cmds = 0;
                for c in &mut self.slabs.classes {
                    c.stats = ClassStats::default();
                }
                out.extend_from_slice(b"RESET\r\n");
                return;
            }
            Some(b"items") => {
                let now = unix(self.now);
                for (id, c) in self.slabs.classes.iter().enumerate() {
                    if c.items == 0 {
                        continue;
                    }
                    let age = self.lrus[id]
                        .first_key_value()
                        .map(|(_, k)| now - self.items[k].time)
                        .unwrap_or(0);
                    let st = &c.stats;
                    let mut kv = |k: &str, v: String| lines.push((format!("items:{id}:{k}"), v));
                    kv("number", c.items.to_string());
                    kv("age", age.to_string());
                    kv("mem_requested", c.requested.to_string());
                    kv("evicted", st.evicted.to_string());
                    kv("evicted_nonzero", st.evicted_nonzero.to_string());
                    kv("evicted_time", st.evicted_time.to_string());
                    kv("outofmemory", st.outofmemory.to_string());
                    kv("tailrepairs", "0".into());
                    kv("reclaimed", st.reclaimed.to_string());
                    kv("expired_unfetched", st.expired_unfetched.to_string());
                    kv("evicted_unfetched", st.evicted_unfetched.to_string());
                    kv("crawler_reclaimed", "0".into());
                    kv("crawler_items_checked", "0".into());
                    kv("lrutail_reflocked", "0".into());
                }
            }
            // The class's LRU from its head (most recent): key, size, expiry.
            Some(b"cachedump") => {
                if args.len() < 3 {
                    out.extend_from_slice(b"CLIENT_ERROR bad command line\r\n");
                    return;
                }
                let (Some(id), Some(limit)) = (strtoull(args[1]), strtoull(args[2])) else {
                    out.extend_from_slice(b"CLIENT_ERROR bad command line format\r\n");
                    return;
                };
                let (id, limit) = (id as u32 as usize, limit as u32 as usize);
                if id >= 64 {
                    out.extend_from_slice(b"CLIENT_ERROR Illegal slab id\r\n");
                    return;
                }
                let mut shown = 0;
                for key in self.lrus.get(id).into_iter().flat_map(|l| l.values().rev()) {
                    if limit != 0 && shown >= limit {
                        break;
                    }
                    let it = &self.items[key];
                    if it.key_binary {
                        continue;
                    }
                    let shown_key = key.split(|&b| b == 0).next().unwrap_or_default();
                    out.extend_from_slice(b"ITEM ");
                    out.extend_from_slice(shown_key);
                    out.extend_from_slice(
                        format!(" [{} b; {} s]\r\n", it.data.len(), it.expire.unwrap_or(0))
                            .as_bytes(),
                    );
                    shown += 1;
                }
                out.extend_from_slice(b"END\r\n");
                return;
            }
            Some(b"slabs") => {
                let mut active = 0;
                for (id, c) in self.slabs.classes.iter().enumerate().skip(1) {
                    if c.pages == 0 {
                        continue;
                    }
                    active += 1;
                    let st = &c.stats;
                    let total = c.pages * c.perslab;
                    let mut kv = |k: &str, v: String| lines.push((format!("{id}:{k}"), v));
                    kv("chunk_size", c.size.to_string());
                    kv("chunks_per_page", c.perslab.to_string());
                    kv("total_pages", c.pages.to_string());
                    kv("total_chunks", total.to_string());
                    kv("used_chunks", (total - c.free).to_string());
                    kv("free_chunks", c.free.to_string());
                    kv("free_chunks_end", "0".into());
                    kv("get_hits", st.get_hits.to_string());
                    kv("cmd_set", st.set_cmds.to_string());
                    kv("delete_hits", st.delete_hits.to_string());
                    kv("incr_hits", st.incr_hits.to_string());
                    kv("decr_hits", st.decr_hits.to_string());
                    kv("cas_hits", st.cas_hits.to_string());
                    kv("cas_badval", st.cas_badval.to_string());
                    kv("touch_hits", st.touch_hits.to_string());
                }
                lines.push(("active_slabs".into(), active.to_string()));
                lines.push(("total_malloced".into(), self.slabs.malloced.to_string()));
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
    fn set_cluster(&mut self, config: ClusterConfig) {
        self.cluster = Some(config);
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
