//! Values and their encodings as Redis reports them (`OBJECT ENCODING`).

use crate::limits::{EMBSTR_SIZE_LIMIT, OBJ_SHARED_INTEGERS};
use crate::protocol::request::parse_i64_strict;
use crate::store::mem;
use crate::store::smallbytes::SmallBytes;
use crate::store::stream::{Stream, StreamId};
use crate::store::{Hash, List, Set, ZSet};

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(StrValue),
    /// Collections larger than a string are boxed, so every entry (strings
    /// included) stays small: `Value` is 40 bytes, not the 120 of a zset. A
    /// hash fits in place (its listpack is one block, its table boxed):
    /// the commonest small object (a session) costs no extra allocation.
    /// A string and a hash are 32 bytes each (`Raw`'s capacity and the
    /// listpack's counts are u32), so the tag makes 40.
    Hash(Hash),
    List(Box<List>),
    Set(Box<Set>),
    ZSet(Box<ZSet>),
    Stream(Box<Stream>),
}

/// A string value in one of Redis's three encodings.
#[derive(Clone, Debug, PartialEq)]
pub enum StrValue {
    /// `int`: a 64-bit integer; `shared` mirrors Redis's shared integer objects (0..9999).
    Int { v: i64, shared: bool },
    /// `embstr`: up to 44 bytes, allocated with its object header (here
    /// inline up to 22 bytes: a short value costs no allocation).
    Embstr(SmallBytes),
    /// `raw`: any length; `alloc` is the sds capacity, which APPEND grows
    /// greedily (4 bytes, so that a `Value` is 40: past 4 GiB it reads as
    /// the length), and `hdr` the sds header size (1 for Redis's type-5
    /// sds).
    Raw { data: Vec<u8>, alloc: u32, hdr: u8 },
}

impl StrValue {
    /// Redis's `tryObjectEncoding` for a freshly written string.
    pub fn from_bytes(b: &[u8], share_ints: bool) -> StrValue {
        if b.len() <= 20 {
            if let Some(v) = parse_i64_strict(b) {
                return StrValue::int(v, share_ints);
            }
        }
        if b.len() <= EMBSTR_SIZE_LIMIT {
            StrValue::Embstr(SmallBytes::new(b))
        } else {
            // sdsnewlen's usable capacity, trimmed by tryObjectEncoding when the
            // slack exceeds a tenth of the length.
            let usable = mem::sds_usable(b.len());
            let alloc = if usable - b.len() > b.len() / 10 {
                b.len()
            } else {
                usable
            };
            StrValue::Raw {
                data: b.to_vec(),
                alloc: clamp(alloc),
                hdr: mem::sds_hdr(b.len(), true) as u8,
            }
        }
    }
    /// A raw string fresh from `sdsnewlen` (no spare room beyond the allocator's).
    pub fn raw_new(data: Vec<u8>) -> StrValue {
        let alloc = clamp(mem::sds_usable(data.len()));
        let hdr = mem::sds_hdr(data.len(), true) as u8;
        StrValue::Raw { data, alloc, hdr }
    }
    pub fn int(v: i64, share_ints: bool) -> StrValue {
        StrValue::Int {
            v,
            shared: share_ints && (0..OBJ_SHARED_INTEGERS).contains(&v),
        }
    }
    /// A string that Redis keeps `embstr` when short (e.g. INCRBYFLOAT results).
    pub fn embstr_or_raw(b: Vec<u8>) -> StrValue {
        if b.len() <= EMBSTR_SIZE_LIMIT {
            StrValue::Embstr(SmallBytes::from_vec(b))
        } else {
            StrValue::raw_new(b)
        }
    }
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            StrValue::Int { v, .. } => v.to_string().into_bytes(),
            StrValue::Embstr(b) => b.to_vec(),
            StrValue::Raw { data, .. } => data.clone(),
        }
    }
    pub fn len(&self) -> usize {
        match self {
            StrValue::Int { v, .. } => int_len(*v),
            StrValue::Embstr(b) => b.len(),
            StrValue::Raw { data, .. } => data.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Converts to `raw` for an in-place edit (APPEND, SETRANGE), as Redis's
    /// `dbUnshareStringValue` does, and returns the bytes.
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        if !matches!(self, StrValue::Raw { .. }) {
            *self = StrValue::raw_new(self.to_bytes());
        }
        match self {
            StrValue::Raw { data, .. } => data,
            _ => unreachable!("converted to raw above"),
        }
    }
    /// Records that a raw string grew to its current length through
    /// `sdsMakeRoomFor` (greedy preallocation).
    pub fn note_growth(&mut self) {
        if let StrValue::Raw { data, alloc, hdr } = self {
            if data.len() > *alloc as usize {
                let grown = mem::sds_grow_alloc(data.len());
                *alloc = clamp(grown);
                *hdr = mem::sds_hdr(grown, false) as u8;
            }
        }
    }
    /// `sdsMakeRoomFor(s, add)` on a raw string: room for `add` more bytes
    /// beyond its length, grown greedily when there is not enough (a type-5
    /// sds has no spare room at all).
    pub fn reserve(&mut self, add: usize) {
        if let StrValue::Raw { data, alloc, hdr } = self {
            let avail = if *hdr == 1 {
                0
            } else {
                (*alloc as usize).saturating_sub(data.len())
            };
            if avail < add {
                let grown = mem::sds_grow_alloc(data.len() + add);
                *alloc = clamp(grown);
                *hdr = mem::sds_hdr(grown, false) as u8;
            }
        }
    }
    pub fn encoding(&self) -> &'static str {
        match self {
            StrValue::Int { .. } => "int",
            StrValue::Embstr(_) => "embstr",
            StrValue::Raw { .. } => "raw",
        }
    }
    /// Bytes of the object and its payload (`objectComputeSize`).
    pub fn mem_size(&self) -> usize {
        match self {
            StrValue::Int { .. } => mem::ROBJ,
            StrValue::Embstr(b) => mem::jemalloc_size(mem::ROBJ + 3 + b.len() + 1),
            StrValue::Raw { data, alloc, hdr } => {
                let alloc = (*alloc as usize).max(data.len());
                mem::ROBJ + mem::jemalloc_size(*hdr as usize + alloc + 1)
            }
        }
    }
}

/// An sds capacity in `Raw`'s 4 bytes.
fn clamp(alloc: usize) -> u32 {
    alloc.min(u32::MAX as usize) as u32
}

fn int_len(v: i64) -> usize {
    let mut n = if v < 0 { 2 } else { 1 };
    let mut x = v.unsigned_abs();
    while x >= 10 {
        x /= 10;
        n += 1;
    }
    n
}

impl Value {
    /// `lazyfreeGetFreeEffort`: how many allocations freeing it takes, as
    /// Redis estimates (a value above 64 is freed in the background by
    /// UNLINK / FLUSHDB ASYNC, counted by INFO's lazyfreed_objects).
    pub fn free_effort(&self) -> usize {
        match self {
            Value::List(l) => l.nodes(),
            Value::Set(s) if s.encoding() == "hashtable" => s.len(),
            Value::ZSet(z) if z.encoding() == "skiplist" => z.len(),
            Value::Hash(h) if h.encoding() == "hashtable" => h.len(),
            Value::Stream(x) => {
                let groups = x.groups.len();
                let first_pel = x.groups.values().next().map_or(0, |g| g.pel.len());
                x.rax_nodes() + groups * (1 + first_pel)
            }
            _ => 1,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::List(l) => l.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(_) => "stream",
        }
    }
    pub fn mem_size(&self) -> usize {
        match self {
            Value::Str(s) => s.mem_size(),
            Value::Hash(h) => h.mem_size(),
            Value::List(l) => l.mem_size(),
            Value::Set(s) => s.mem_size(),
            Value::ZSet(z) => z.mem_size(),
            Value::Stream(x) => x.mem_size(),
        }
    }
    /// A canonical byte form of the contents, independent of encoding and
    /// iteration order (digests: equal data gives equal bytes).
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut put = |tag: u8, parts: &[&[u8]]| {
            out.push(tag);
            for p in parts {
                out.extend_from_slice(&(p.len() as u64).to_le_bytes());
                out.extend_from_slice(p);
            }
        };
        match self {
            Value::Str(s) => put(b's', &[&s.to_bytes()]),
            Value::List(l) => {
                for e in &l.items {
                    put(b'l', &[e]);
                }
            }
            Value::Set(s) => {
                let mut ms = s.members();
                ms.sort();
                for m in &ms {
                    put(b'e', &[m]);
                }
            }
            Value::Hash(h) => {
                let mut ps: Vec<(&[u8], &[u8])> = h.iter().collect();
                ps.sort();
                for (f, v) in ps {
                    put(b'h', &[f, v]);
                }
            }
            Value::ZSet(z) => {
                for (m, sc) in z.all() {
                    put(b'z', &[&m, &sc.to_bits().to_le_bytes()]);
                }
            }
            Value::Stream(x) => {
                for e in x.range(StreamId::MIN, StreamId::MAX, false) {
                    put(b'x', &[&e.id.to_bytes()]);
                    for (f, v) in &e.fields {
                        put(b'f', &[f, v]);
                    }
                }
                let meta = format!(
                    "{} {:?} {:?} {}",
                    x.length, x.last_id, x.max_deleted, x.entries_added
                );
                put(b'm', &[meta.as_bytes()]);
                for (name, g) in &x.groups {
                    let gm = format!("{:?} {}", g.last_id, g.entries_read);
                    put(b'g', &[name, gm.as_bytes()]);
                    for (id, n) in &g.pel {
                        let nm = format!("{:?} {}", id, n.delivery_count);
                        put(b'p', &[&n.consumer, nm.as_bytes()]);
                    }
                    for c in g.consumers.keys() {
                        put(b'c', &[c]);
                    }
                }
            }
        }
        out
    }

    /// Commands that rebuild this value at `key` on an empty key (a
    /// replica applying a whole-value effect), in chunks of at most 512
    /// elements; element order is kept, so a listpack keeps its order.
    pub fn rebuild_commands(&self, key: &[u8]) -> Vec<Vec<Vec<u8>>> {
        const CHUNK: usize = 512;
        let mut cmds = Vec::new();
        let start = |name: &str| vec![name.as_bytes().to_vec(), key.to_vec()];
        match self {
            Value::Str(s) => cmds.push({
                let mut c = start("SET");
                c.push(s.to_bytes());
                c
            }),
            Value::List(l) => {
                let items: Vec<&Vec<u8>> = l.items.iter().collect();
                for chunk in items.chunks(CHUNK) {
                    let mut c = start("RPUSH");
                    c.extend(chunk.iter().map(|e| e.to_vec()));
                    cmds.push(c);
                }
            }
            Value::Set(s) => {
                for chunk in s.members().chunks(CHUNK) {
                    let mut c = start("SADD");
                    c.extend(chunk.iter().cloned());
                    cmds.push(c);
                }
            }
            Value::Hash(h) => {
                let pairs: Vec<(&[u8], &[u8])> = h.iter().collect();
                for chunk in pairs.chunks(CHUNK) {
                    let mut c = start("HSET");
                    for (f, v) in chunk {
                        c.push(f.to_vec());
                        c.push(v.to_vec());
                    }
                    cmds.push(c);
                }
            }
            Value::Stream(x) => cmds.extend(stream_rebuild(x, key)),
            Value::ZSet(z) => {
                for chunk in z.all().chunks(CHUNK) {
                    let mut c = start("ZADD");
                    for (m, sc) in chunk {
                        c.push(crate::store::number::format_g17(*sc).into_bytes());
                        c.push(m.clone());
                    }
                    cmds.push(c);
                }
            }
        }
        cmds
    }

    /// Number of elements of a collection (1 for a string): the unit of
    /// Redis's lazy-free effort and of the playground's key table.
    pub fn elements(&self) -> usize {
        match self {
            Value::Str(_) => 1,
            Value::Hash(h) => h.len(),
            Value::List(l) => l.len(),
            Value::Set(s) => s.len(),
            Value::ZSet(z) => z.len(),
            Value::Stream(x) => x.len(),
        }
    }
    pub fn refcount(&self) -> i64 {
        match self {
            Value::Str(StrValue::Int { shared: true, .. }) => i32::MAX as i64,
            _ => 1,
        }
    }
}

/// Commands that rebuild a stream on an empty key: its entries (XADD with
/// their IDs), its counters (XSETID), its groups, consumers and pending
/// entries (XGROUP CREATE/CREATECONSUMER, XCLAIM … FORCE JUSTID).
fn stream_rebuild(x: &Stream, key: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let b = |s: &str| s.as_bytes().to_vec();
    let mut cmds = Vec::new();
    // Pending entries whose stream entry is gone (trimmed or deleted) can
    // only be claimed while an entry with their ID exists: such IDs get a
    // placeholder entry, removed again once the PELs are rebuilt.
    let live: Vec<&crate::store::stream::StreamEntry> =
        x.range(StreamId::MIN, StreamId::MAX, false).collect();
    let mut ghosts: Vec<StreamId> = x
        .groups
        .values()
        .flat_map(|g| g.pel.keys().copied())
        .filter(|id| x.get(*id).is_none())
        .collect();
    ghosts.sort();
    ghosts.dedup();
    let mut all: Vec<(StreamId, Option<&crate::store::stream::Fields>)> =
        live.iter().map(|e| (e.id, Some(&e.fields))).collect();
    all.extend(ghosts.iter().map(|id| (*id, None)));
    all.sort_by_key(|(id, _)| *id);
    for (id, fields) in &all {
        let mut c = vec![b("XADD"), key.to_vec(), id.to_bytes()];
        match fields {
            Some(fs) => {
                for (f, v) in fs.iter() {
                    c.push(f.clone());
                    c.push(v.clone());
                }
            }
            None => c.extend([b("_"), b("_")]),
        }
        cmds.push(c);
    }
    if all.is_empty() {
        // An empty stream still exists: make it with a group, then drop it.
        cmds.push(vec![
            b("XGROUP"),
            b("CREATE"),
            key.to_vec(),
            b("__rebuild__"),
            b("0"),
            b("MKSTREAM"),
        ]);
        cmds.push(vec![
            b("XGROUP"),
            b("DESTROY"),
            key.to_vec(),
            b("__rebuild__"),
        ]);
    }
    for (name, g) in &x.groups {
        cmds.push(vec![
            b("XGROUP"),
            b("CREATE"),
            key.to_vec(),
            name.clone(),
            g.last_id.to_bytes(),
            b("ENTRIESREAD"),
            g.entries_read.to_string().into_bytes(),
        ]);
        for c in g.consumers.keys() {
            cmds.push(vec![
                b("XGROUP"),
                b("CREATECONSUMER"),
                key.to_vec(),
                name.clone(),
                c.clone(),
            ]);
        }
        for (id, n) in &g.pel {
            cmds.push(vec![
                b("XCLAIM"),
                key.to_vec(),
                name.clone(),
                n.consumer.clone(),
                b("0"),
                id.to_bytes(),
                b("TIME"),
                n.delivery_time.to_string().into_bytes(),
                b("RETRYCOUNT"),
                n.delivery_count.to_string().into_bytes(),
                b("FORCE"),
                b("JUSTID"),
            ]);
        }
    }
    // Placeholders before the first live entry go by trimming (which
    // leaves max-deleted-entry-id alone), later ones by XDEL.
    let first_live = live.first().map(|e| e.id);
    let (before, after): (Vec<StreamId>, Vec<StreamId>) = ghosts
        .iter()
        .partition(|id| first_live.is_none_or(|f| **id < f));
    if !before.is_empty() {
        let mut c = vec![b("XTRIM"), key.to_vec()];
        match first_live {
            Some(f) => c.extend([b("MINID"), f.to_bytes()]),
            None => c.extend([b("MAXLEN"), b("0")]),
        }
        cmds.push(c);
    }
    if !after.is_empty() {
        let mut c = vec![b("XDEL"), key.to_vec()];
        c.extend(after.iter().map(|id| id.to_bytes()));
        cmds.push(c);
    }
    let mut setid = vec![
        b("XSETID"),
        key.to_vec(),
        x.last_id.to_bytes(),
        b("ENTRIESADDED"),
        x.entries_added.to_string().into_bytes(),
    ];
    if !x.max_deleted.is_zero() {
        setid.extend([b("MAXDELETEDID"), x.max_deleted.to_bytes()]);
    }
    cmds.push(setid);
    cmds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_entries_stay_small() {
        assert!(std::mem::size_of::<Value>() <= 40);
        assert!(std::mem::size_of::<crate::store::Entry>() <= 64);
    }
    #[test]
    fn memory_usage_matches_redis_7_0() {
        // MEMORY USAGE = value + key sds + dictEntry, figures read off redis-server 7.0.15.
        let usage = |k: &str, v: &StrValue| v.mem_size() + mem::key_size(k.as_bytes());
        assert_eq!(usage("foo", &StrValue::from_bytes(b"bar", true)), 64);
        assert_eq!(usage("foo", &StrValue::from_bytes(b"12345", true)), 48);
        assert_eq!(usage("foo", &StrValue::from_bytes(&[b'a'; 61], true)), 128);
        assert_eq!(
            usage(&"k".repeat(36), &StrValue::from_bytes(b"v", true)),
            104
        );
        let mut s = StrValue::from_bytes(&[b'a'; 61], true);
        s.make_raw().push(b'x');
        s.note_growth();
        assert_eq!(usage("foo", &s), 176);
        // Greedy growth past 255 bytes of capacity: a type-8 sds records at
        // most 255 (SETBIT growing a 44-byte string to 127 bytes).
        let mut s = StrValue::raw_new(vec![0; 44]);
        s.make_raw().resize(127, 0);
        s.note_growth();
        assert_eq!(usage("missing", &s), 376);
    }
}
