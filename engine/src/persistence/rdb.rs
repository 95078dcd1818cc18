//! The RDB snapshot format (version 10, as Redis 7.0 writes it): a header,
//! auxiliary fields, per database a SELECTDB / RESIZEDB preamble and its keys
//! (each optionally preceded by an absolute expiry in milliseconds), EOF and
//! a CRC-64 of everything before it.
//!
//! [`load`] checks the checksum before it builds anything and returns a
//! whole new [`Keyspace`] or an error, so a corrupt or truncated payload is
//! never half-loaded. Every value type adds its encoding here, in
//! [`write_value`] and [`read_value`]; snapshots and full resynchronisation
//! then carry it with no further work.

use crate::persistence::crc64::crc64;
use crate::store::listpack;
use crate::store::stream::{Consumer, Group, Nack, Stream, StreamId};
use crate::store::value::{StrValue, Value};
use crate::store::{EncodingLimits, Hash, Keyspace, List, Set, ZSet};
use crate::time::Millis;

const MAGIC: &[u8] = b"REDIS0010";
const OP_AUX: u8 = 0xFA;
const OP_RESIZEDB: u8 = 0xFB;
const OP_EXPIRETIME_MS: u8 = 0xFC;
const OP_SELECTDB: u8 = 0xFE;
const OP_EOF: u8 = 0xFF;
const TYPE_STRING: u8 = 0;
const TYPE_LIST: u8 = 1;
const TYPE_SET: u8 = 2;
const TYPE_HASH: u8 = 4;
const TYPE_ZSET_2: u8 = 5;
const TYPE_SET_INTSET: u8 = 11;
const TYPE_HASH_LISTPACK: u8 = 16;
const TYPE_ZSET_LISTPACK: u8 = 17;
const TYPE_LIST_QUICKLIST_2: u8 = 18;
const TYPE_STREAM_LISTPACKS: u8 = 15;
const TYPE_STREAM_LISTPACKS_2: u8 = 19;

/// Replication metadata stored with a snapshot (Redis's `repl-id` and
/// `repl-offset` aux fields).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    pub repl_id: String,
    pub repl_offset: u64,
}

/// Why a payload was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RdbError(pub String);

fn write_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

thread_local! {
    /// `rdbcompression` for the file or payload being written (set by
    /// [`with_compression`] around each save).
    static COMPRESS: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
    /// `rdbchecksum` for the file being written (see [`with_checksum`]).
    static CHECKSUM: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// Runs `f` (a save) with `rdbchecksum` on or off: off, the file ends in
/// eight zero bytes, which loaders take as "no check".
pub fn with_checksum<R>(on: bool, f: impl FnOnce() -> R) -> R {
    let before = CHECKSUM.with(|c| c.replace(on));
    let r = f();
    CHECKSUM.with(|c| c.set(before));
    r
}

/// Runs `f` (a save, a DUMP) with `rdbcompression` on or off.
pub fn with_compression<R>(on: bool, f: impl FnOnce() -> R) -> R {
    let before = COMPRESS.with(|c| c.replace(on));
    let r = f();
    COMPRESS.with(|c| c.set(before));
    r
}

/// `rdbSaveRawString`: with `rdbcompression`, a string over 20 bytes is
/// stored LZF-compressed when that saves at least 4 bytes
/// (`rdbSaveLzfStringObject`); otherwise a length, then the bytes.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() > 20 && COMPRESS.with(|c| c.get()) {
        if let Some(packed) = super::lzf::compress(s, s.len() - 4) {
            out.push(0xC3);
            write_len(out, packed.len() as u64);
            write_len(out, s.len() as u64);
            out.extend_from_slice(&packed);
            return;
        }
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Redis stores integer-looking strings of up to 11 characters as integers.
fn write_string_value(out: &mut Vec<u8>, s: &StrValue) {
    if let StrValue::Int { v, .. } = s {
        if let Ok(b) = i8::try_from(*v) {
            out.extend_from_slice(&[0xC0, b as u8]);
            return;
        }
        if let Ok(h) = i16::try_from(*v) {
            out.push(0xC1);
            out.extend_from_slice(&h.to_le_bytes());
            return;
        }
        if let Ok(w) = i32::try_from(*v) {
            out.push(0xC2);
            out.extend_from_slice(&w.to_le_bytes());
            return;
        }
    }
    write_string(out, &s.to_bytes());
}

fn write_value(out: &mut Vec<u8>, key: &[u8], v: &Value) {
    out.push(object_type(v));
    write_string(out, key);
    write_object(out, v);
}

/// The RDB type byte `write_object` writes under (`rdbSaveObjectType`):
/// compact encodings as their blobs (listpack, intset, quicklist of
/// listpacks), as Redis 7.0 writes them; the others in their plain forms.
fn object_type(v: &Value) -> u8 {
    match v {
        Value::Str(_) => TYPE_STRING,
        Value::List(_) => TYPE_LIST_QUICKLIST_2,
        Value::Set(s) if s.encoding() == "intset" => TYPE_SET_INTSET,
        Value::Set(_) => TYPE_SET,
        Value::Hash(h) if h.encoding() == "listpack" => TYPE_HASH_LISTPACK,
        Value::Hash(_) => TYPE_HASH,
        Value::ZSet(z) if z.encoding() == "listpack" => TYPE_ZSET_LISTPACK,
        Value::ZSet(_) => TYPE_ZSET_2,
        Value::Stream(_) => TYPE_STREAM_LISTPACKS_2,
    }
}

/// quicklist's node limit under `list-max-listpack-size -2` (8 KB), with
/// `SIZE_ESTIMATE_OVERHEAD`'s 8 bytes per insert.
const QUICKLIST_NODE_BYTES: usize = 8192;

/// A quicklist's nodes: listpacks filled greedily from the head up to the
/// 8 KB limit, as pushes at the tail fill them.
fn quicklist_nodes(items: &std::collections::VecDeque<Vec<u8>>) -> Vec<Vec<listpack::Elem>> {
    let mut nodes: Vec<Vec<listpack::Elem>> = Vec::new();
    let mut size = 0usize;
    for e in items {
        let add = e.len() + 8;
        if nodes.is_empty() || size + add > QUICKLIST_NODE_BYTES {
            nodes.push(Vec::new());
            size = 7;
        }
        size += crate::store::mem::lp_entry_size(e);
        nodes
            .last_mut()
            .expect("a node")
            .push(listpack::Elem::Str(e.clone()));
    }
    nodes
}

/// An intset's bytes: its width, its length, the sorted integers.
fn intset_bytes(ints: &[i64]) -> Vec<u8> {
    let width: u32 = if ints
        .iter()
        .any(|&v| v < i32::MIN as i64 || v > i32::MAX as i64)
    {
        8
    } else if ints
        .iter()
        .any(|&v| v < i16::MIN as i64 || v > i16::MAX as i64)
    {
        4
    } else {
        2
    };
    let mut out = Vec::with_capacity(8 + ints.len() * width as usize);
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&(ints.len() as u32).to_le_bytes());
    for &v in ints {
        out.extend_from_slice(&v.to_le_bytes()[..width as usize]);
    }
    out
}

/// The serialised object (`rdbSaveObject`).
fn write_object(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Str(s) => write_string_value(out, s),
        Value::List(l) => {
            let nodes = quicklist_nodes(&l.items);
            write_len(out, nodes.len() as u64);
            for n in &nodes {
                write_len(out, 2); // QUICKLIST_NODE_CONTAINER_PACKED
                write_string(out, &listpack::encode(n));
            }
        }
        Value::Set(set) if set.encoding() == "intset" => {
            let ints: Vec<i64> = set
                .members()
                .iter()
                .filter_map(|m| crate::protocol::request::parse_i64_strict(m))
                .collect();
            write_string(out, &intset_bytes(&ints));
        }
        Value::Set(set) => {
            write_len(out, set.len() as u64);
            for m in set.members() {
                write_string(out, &m);
            }
        }
        Value::Hash(h) if h.encoding() == "listpack" => {
            let elems: Vec<listpack::Elem> = h
                .iter()
                .flat_map(|(f, v)| {
                    [
                        listpack::Elem::Str(f.to_vec()),
                        listpack::Elem::Str(v.to_vec()),
                    ]
                })
                .collect();
            write_string(out, &listpack::encode(&elems));
        }
        Value::Hash(h) => {
            write_len(out, h.len() as u64);
            for (f, v) in h.iter() {
                write_string(out, f);
                write_string(out, v);
            }
        }
        Value::ZSet(z) if z.encoding() == "listpack" => {
            let elems: Vec<listpack::Elem> = z
                .all()
                .into_iter()
                .flat_map(|(m, sc)| {
                    [
                        listpack::Elem::Str(m),
                        listpack::Elem::Str(crate::store::zset::d2string(sc).into_bytes()),
                    ]
                })
                .collect();
            write_string(out, &listpack::encode(&elems));
        }
        Value::ZSet(z) => {
            // Greatest first, as Redis writes a skiplist (loading then
            // inserts at the head).
            write_len(out, z.len() as u64);
            for (m, sc) in z.all().into_iter().rev() {
                write_string(out, &m);
                out.extend_from_slice(&sc.to_le_bytes());
            }
        }
        Value::Stream(x) => write_stream(out, x),
    }
}

/// One RDB string (plain, integer-encoded or LZF-compressed) at `*pos` of
/// `p`, advancing `pos` (FUNCTION RESTORE's library codes).
pub fn read_string_at(p: &[u8], pos: &mut usize) -> Option<Vec<u8>> {
    let mut r = Reader { b: p, pos: *pos };
    let s = r.string().ok()?;
    *pos = r.pos;
    Some(s)
}

/// The RDB version DUMP payloads carry (Redis 7.0's `RDB_VERSION`).
const RDB_VERSION: u16 = 10;

/// DUMP's payload (`createDumpPayload`): the object's type byte and body,
/// then the RDB version and a CRC-64 of everything before it, both little
/// endian.
pub fn dump_payload(v: &Value) -> Vec<u8> {
    let mut out = vec![object_type(v)];
    write_object(&mut out, v);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Why RESTORE refused a payload, in Redis's two cases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayloadError {
    /// `verifyDumpPayload` failed: "DUMP payload version or checksum are wrong".
    VersionOrChecksum,
    /// The object did not load: "Bad data format".
    BadFormat,
}

/// Reads a DUMP payload (from cachelab or any Redis up to RDB version 10):
/// the footer is checked first, then the object is read from the whole
/// buffer, footer included, as Redis's `rioInitWithBuffer` reads it; no
/// length in it is trusted beyond the bytes actually there.
pub fn restore_payload(p: &[u8], lim: &EncodingLimits) -> Result<Value, PayloadError> {
    if p.len() < 10 {
        return Err(PayloadError::VersionOrChecksum);
    }
    let footer = &p[p.len() - 10..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..].try_into().expect("8 bytes"));
    if version > RDB_VERSION || crc64(0, &p[..p.len() - 8]) != crc {
        return Err(PayloadError::VersionOrChecksum);
    }
    let mut r = Reader { b: p, pos: 0 };
    let ty = r.byte().map_err(|_| PayloadError::BadFormat)?;
    read_value(&mut r, ty, lim).map_err(|_| PayloadError::BadFormat)
}

/// RDB_TYPE_STREAM_LISTPACKS_2 as rdb.c writes it: the nodes (master ID,
/// listpack), the counters, then each group with its PEL and consumers.
fn write_stream(out: &mut Vec<u8>, x: &Stream) {
    let nodes = x.raw_nodes();
    write_len(out, nodes.len() as u64);
    for (k, lp) in &nodes {
        write_string(out, k);
        write_string(out, lp);
    }
    for v in [
        x.length,
        x.last_id.ms,
        x.last_id.seq,
        x.first_id.ms,
        x.first_id.seq,
        x.max_deleted.ms,
        x.max_deleted.seq,
        x.entries_added,
    ] {
        write_len(out, v);
    }
    write_len(out, x.groups.len() as u64);
    for (name, g) in &x.groups {
        write_string(out, name);
        write_len(out, g.last_id.ms);
        write_len(out, g.last_id.seq);
        write_len(out, g.entries_read as u64);
        write_len(out, g.pel.len() as u64);
        for (id, n) in &g.pel {
            out.extend_from_slice(&id.encode());
            out.extend_from_slice(&n.delivery_time.to_le_bytes());
            write_len(out, n.delivery_count);
        }
        write_len(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            write_string(out, cname);
            out.extend_from_slice(&c.seen_time.to_le_bytes());
            write_len(out, c.pel.len() as u64);
            for id in &c.pel {
                out.extend_from_slice(&id.encode());
            }
        }
    }
}

/// A stream in RDB_TYPE_STREAM_LISTPACKS_2 (7.0) or, with `legacy`, the
/// RDB_TYPE_STREAM_LISTPACKS of Redis 5–6.2, whose missing counters are
/// derived as rdb.c derives them (entries added = length, a group's entries
/// read estimated from its last ID).
fn read_stream(r: &mut Reader, legacy: bool) -> Result<Value, RdbError> {
    let bad = |what: &str| RdbError(format!("Bad stream in RDB: {what}"));
    let n = r.len()?;
    let mut raw = Vec::new();
    for _ in 0..n {
        let k = r.string()?;
        let lp = r.string()?;
        raw.push((k, lp));
    }
    let mut x = Stream::from_raw_nodes(raw).ok_or_else(|| bad("a malformed node"))?;
    let id =
        |r: &mut Reader| -> Result<StreamId, RdbError> { Ok(StreamId::new(r.len()?, r.len()?)) };
    x.length = r.len()?;
    x.last_id = id(r)?;
    if legacy {
        x.max_deleted = StreamId::MIN;
        x.entries_added = x.length;
        x.first_id = if x.length == 0 {
            StreamId::MIN
        } else {
            x.first_live_id()
        };
    } else {
        x.first_id = id(r)?;
        x.max_deleted = id(r)?;
        x.entries_added = r.len()?;
    }
    if x.length != x.count_live() {
        return Err(bad("its length differs from its entries"));
    }
    let groups = r.len()?;
    for _ in 0..groups {
        let name = r.string()?;
        let last = id(r)?;
        let entries_read = if legacy {
            x.estimate_distance(last)
                .map_or(crate::store::stream::INVALID_ENTRIES_READ, |d| d as i64)
        } else {
            r.len()? as i64
        };
        let mut g = Group::new(last, entries_read);
        let pel = r.len()?;
        for _ in 0..pel {
            let pid = StreamId::decode(r.take(16)?).ok_or_else(|| bad("a PEL ID"))?;
            let time = i64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"));
            let count = r.len()?;
            g.pel.insert(
                pid,
                Nack {
                    delivery_time: time,
                    delivery_count: count,
                    consumer: Vec::new(),
                },
            );
        }
        let consumers = r.len()?;
        for _ in 0..consumers {
            let cname = r.string()?;
            let seen = i64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"));
            let mut c = Consumer {
                seen_time: seen,
                ..Consumer::default()
            };
            let n = r.len()?;
            for _ in 0..n {
                let pid = StreamId::decode(r.take(16)?).ok_or_else(|| bad("a consumer PEL ID"))?;
                let nack = g
                    .pel
                    .get_mut(&pid)
                    .ok_or_else(|| bad("a consumer's entry missing from the group PEL"))?;
                nack.consumer = cname.clone();
                c.pel.insert(pid);
            }
            g.consumers.insert(cname, c);
        }
        if g.pel
            .values()
            .any(|n| n.consumer.is_empty() && !g.consumers.contains_key(&n.consumer))
        {
            return Err(bad("a pending entry without a consumer"));
        }
        x.groups.insert(name, g);
    }
    Ok(Value::Stream(Box::new(x)))
}

fn aux(out: &mut Vec<u8>, k: &str, v: &str) {
    out.push(OP_AUX);
    write_string(out, k.as_bytes());
    write_string(out, v.as_bytes());
}

/// Serialises every key of `ks` (expired-but-present keys included, as
/// Redis's BGSAVE does on a replica).
pub fn save(ks: &Keyspace, meta: &Meta, now: Millis) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + ks.used_memory());
    out.extend_from_slice(MAGIC);
    aux(
        &mut out,
        "redis-ver",
        crate::commands::server::REDIS_VERSION,
    );
    aux(&mut out, "redis-bits", "64");
    aux(&mut out, "ctime", &(now.0 / 1000).to_string());
    aux(&mut out, "used-mem", &ks.used_memory().to_string());
    aux(&mut out, "repl-stream-db", "0");
    aux(&mut out, "repl-id", &meta.repl_id);
    aux(&mut out, "repl-offset", &meta.repl_offset.to_string());
    aux(&mut out, "aof-base", "0");
    for (i, db) in ks.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        out.push(OP_SELECTDB);
        write_len(&mut out, i as u64);
        out.push(OP_RESIZEDB);
        write_len(&mut out, db.len() as u64);
        write_len(&mut out, db.expires_len() as u64);
        for (k, e) in db.entries() {
            if let Some(at) = db.expire_at(k) {
                out.push(OP_EXPIRETIME_MS);
                out.extend_from_slice(&at.0.to_le_bytes());
            }
            write_value(&mut out, k, &e.value);
        }
    }
    out.push(OP_EOF);
    let crc = if CHECKSUM.with(|c| c.get()) {
        crc64(0, &out)
    } else {
        0
    };
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

fn truncated() -> RdbError {
    RdbError("Short read or OOM loading DB. Unrecoverable error, aborting now.".into())
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], RdbError> {
        let end = self.pos.checked_add(n).ok_or_else(truncated)?;
        let s = self.b.get(self.pos..end).ok_or_else(truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn byte(&mut self) -> Result<u8, RdbError> {
        Ok(self.take(1)?[0])
    }
    /// A length, or `Err(Ok(kind))` for a special string encoding.
    fn len_or_enc(&mut self) -> Result<Result<u64, u8>, RdbError> {
        let b = self.byte()?;
        Ok(match b >> 6 {
            0 => Ok((b & 0x3f) as u64),
            1 => Ok((((b & 0x3f) as u64) << 8) | self.byte()? as u64),
            2 if b == 0x80 => Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4")) as u64),
            2 if b == 0x81 => Ok(u64::from_be_bytes(self.take(8)?.try_into().expect("8"))),
            3 => Err(b & 0x3f),
            _ => {
                return Err(RdbError(format!(
                    "Unknown length encoding {b} in rdbLoadLen()"
                )))
            }
        })
    }
    fn len(&mut self) -> Result<u64, RdbError> {
        self.len_or_enc()?
            .map_err(|_| RdbError("Unexpected encoded length".into()))
    }
    fn string(&mut self) -> Result<Vec<u8>, RdbError> {
        match self.len_or_enc()? {
            Ok(n) => Ok(self
                .take(usize::try_from(n).map_err(|_| truncated())?)?
                .to_vec()),
            Err(0) => Ok((self.byte()? as i8).to_string().into_bytes()),
            Err(1) => Ok(i16::from_le_bytes(self.take(2)?.try_into().expect("2"))
                .to_string()
                .into_bytes()),
            Err(2) => Ok(i32::from_le_bytes(self.take(4)?.try_into().expect("4"))
                .to_string()
                .into_bytes()),
            Err(3) => {
                let clen = usize::try_from(self.len()?).map_err(|_| truncated())?;
                let len = usize::try_from(self.len()?).map_err(|_| truncated())?;
                let packed = self.take(clen)?;
                super::lzf::decompress(packed, len)
                    .ok_or_else(|| RdbError("Invalid LZF compressed string".into()))
            }
            Err(e) => Err(RdbError(format!("Unknown RDB string encoding type {e}"))),
        }
    }
}

/// One object of type `ty`, encoded by the node's `*-max-*` limits.
fn read_value(r: &mut Reader, ty: u8, lim: &EncodingLimits) -> Result<Value, RdbError> {
    let empty = || RdbError("Empty keys skipped: a collection with no elements".into());
    match ty {
        TYPE_STRING => Ok(Value::Str(StrValue::from_bytes(&r.string()?, true))),
        TYPE_LIST => {
            let n = r.len()?;
            let mut items = Vec::new();
            for _ in 0..n {
                items.push(r.string()?);
            }
            if items.is_empty() {
                return Err(empty());
            }
            Ok(Value::List(Box::new(List::from_items(items))))
        }
        TYPE_SET => {
            let n = r.len()?;
            let mut ms = Vec::new();
            for _ in 0..n {
                ms.push(r.string()?);
            }
            let set = Set::from_members(ms, lim);
            if set.is_empty() || set.len() as u64 != n {
                return Err(RdbError("Duplicate set members detected".into()));
            }
            Ok(Value::Set(Box::new(set)))
        }
        TYPE_HASH => {
            let n = r.len()?;
            let mut pairs = Vec::new();
            for _ in 0..n {
                let f = r.string()?;
                let v = r.string()?;
                pairs.push((f, v));
            }
            let h = Hash::from_pairs(pairs, lim);
            if h.is_empty() || h.len() as u64 != n {
                return Err(RdbError("Duplicate hash fields detected".into()));
            }
            Ok(Value::Hash(h))
        }
        TYPE_ZSET_2 => {
            let n = r.len()?;
            let mut pairs = Vec::new();
            for _ in 0..n {
                let m = r.string()?;
                let sc = f64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"));
                if sc.is_nan() {
                    return Err(RdbError("Zset with NAN score detected".into()));
                }
                pairs.push((m, sc));
            }
            let z = ZSet::from_pairs(pairs, lim);
            if z.is_empty() || z.len() as u64 != n {
                return Err(RdbError("Duplicate zset fields detected".into()));
            }
            Ok(Value::ZSet(Box::new(z)))
        }
        TYPE_STREAM_LISTPACKS_2 => read_stream(r, false),
        TYPE_STREAM_LISTPACKS => read_stream(r, true),
        // The compact encodings redis-server itself writes.
        TYPE_SET_INTSET => {
            let blob = r.string()?;
            let bad = || RdbError("Bad intset in RDB".into());
            if blob.len() < 8 {
                return Err(bad());
            }
            let width = u32::from_le_bytes(blob[..4].try_into().expect("4 bytes")) as usize;
            let n = u32::from_le_bytes(blob[4..8].try_into().expect("4 bytes")) as usize;
            if ![2, 4, 8].contains(&width) || blob.len() != 8 + width * n {
                return Err(bad());
            }
            let ms: Vec<Vec<u8>> = blob[8..]
                .chunks(width)
                .map(|c| {
                    let v = match width {
                        2 => i64::from(i16::from_le_bytes([c[0], c[1]])),
                        4 => i64::from(i32::from_le_bytes(c.try_into().expect("4 bytes"))),
                        _ => i64::from_le_bytes(c.try_into().expect("8 bytes")),
                    };
                    v.to_string().into_bytes()
                })
                .collect();
            let set = Set::from_members(ms, lim);
            if set.is_empty() || set.len() != n {
                return Err(bad());
            }
            Ok(Value::Set(Box::new(set)))
        }
        TYPE_HASH_LISTPACK | TYPE_ZSET_LISTPACK => {
            let el = listpack::decode(&r.string()?)
                .ok_or_else(|| RdbError("Bad listpack in RDB".into()))?;
            if el.is_empty() || el.len() % 2 != 0 {
                return Err(empty());
            }
            if ty == TYPE_HASH_LISTPACK {
                let pairs: Vec<(Vec<u8>, Vec<u8>)> =
                    el.chunks(2).map(|p| (p[0].bytes(), p[1].bytes())).collect();
                let n = pairs.len();
                let h = Hash::from_pairs(pairs, lim);
                if h.len() != n {
                    return Err(RdbError("Duplicate hash fields detected".into()));
                }
                return Ok(Value::Hash(h));
            }
            let mut pairs = Vec::with_capacity(el.len() / 2);
            for p in el.chunks(2) {
                let sc = crate::commands::zsets::string2d(&p[1].bytes())
                    .ok_or_else(|| RdbError("Bad zset score in RDB".into()))?;
                pairs.push((p[0].bytes(), sc));
            }
            let n = pairs.len();
            let z = ZSet::from_pairs(pairs, lim);
            if z.len() != n {
                return Err(RdbError("Duplicate zset fields detected".into()));
            }
            Ok(Value::ZSet(Box::new(z)))
        }
        TYPE_LIST_QUICKLIST_2 => {
            let nodes = r.len()?;
            let mut items = Vec::new();
            for _ in 0..nodes {
                let container = r.len()?;
                let data = r.string()?;
                match container {
                    1 => items.push(data),
                    2 => items.extend(
                        listpack::decode(&data)
                            .ok_or_else(|| RdbError("Bad listpack in RDB".into()))?
                            .iter()
                            .map(|e| e.bytes()),
                    ),
                    c => return Err(RdbError(format!("Unknown quicklist container {c}"))),
                }
            }
            if items.is_empty() {
                return Err(empty());
            }
            Ok(Value::List(Box::new(List::from_items(items))))
        }
        t => Err(RdbError(format!("Unknown RDB encoding type {t}"))),
    }
}

/// Checks and loads a snapshot into a fresh keyspace built by `fresh`.
pub fn load(
    payload: &[u8],
    fresh: impl FnOnce() -> Keyspace,
    lim: &EncodingLimits,
    now: Millis,
) -> Result<(Keyspace, Meta), RdbError> {
    if payload.len() < MAGIC.len() + 9 || !payload.starts_with(b"REDIS") {
        return Err(RdbError(
            "Wrong signature trying to load DB from file".into(),
        ));
    }
    let (body, tail) = payload.split_at(payload.len() - 8);
    let expected = u64::from_le_bytes(tail.try_into().expect("8 bytes"));
    // A file saved with `rdbchecksum no` ends in zeros: not checked, as
    // rdbLoad ("RDB file was saved with checksum disabled").
    if body.last() != Some(&OP_EOF) || (expected != 0 && crc64(0, body) != expected) {
        return Err(RdbError("Wrong RDB checksum. Aborting now.".into()));
    }
    let mut ks = fresh();
    let mut meta = Meta::default();
    let mut r = Reader {
        b: body,
        pos: MAGIC.len(),
    };
    let mut db = 0usize;
    let mut expire: Option<Millis> = None;
    loop {
        let op = r.byte()?;
        match op {
            OP_EOF => break,
            OP_AUX => {
                let k = r.string()?;
                let v = r.string()?;
                match k.as_slice() {
                    b"repl-id" => meta.repl_id = String::from_utf8_lossy(&v).into_owned(),
                    b"repl-offset" => {
                        meta.repl_offset = std::str::from_utf8(&v)
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0)
                    }
                    _ => {}
                }
            }
            OP_SELECTDB => {
                let n = r.len()? as usize;
                if n >= ks.dbs.len() {
                    return Err(RdbError(format!(
                        "FATAL: Data file was created with a Redis server configured to handle more than {} databases. Exiting",
                        ks.dbs.len()
                    )));
                }
                db = n;
            }
            OP_RESIZEDB => {
                r.len()?;
                r.len()?;
            }
            OP_EXPIRETIME_MS => {
                expire = Some(Millis(u64::from_le_bytes(
                    r.take(8)?.try_into().expect("8"),
                )))
            }
            ty => {
                let key = r.string()?;
                let value = read_value(&mut r, ty, lim)?;
                let d = &mut ks.dbs[db];
                d.set(&key, value, now, false);
                if let Some(at) = expire.take() {
                    d.set_expire(&key, at);
                }
            }
        }
    }
    Ok((ks, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Keyspace {
        let mut ks = Keyspace::new(16, 7);
        for (i, v) in [
            "1",
            "-200",
            "70000",
            "5000000000",
            "hello",
            &"x".repeat(20_000),
        ]
        .iter()
        .enumerate()
        {
            let k = format!("k{i}");
            ks.dbs[i % 3].set(
                k.as_bytes(),
                Value::Str(StrValue::from_bytes(v.as_bytes(), true)),
                Millis(0),
                false,
            );
            if i % 2 == 0 {
                ks.dbs[i % 3].set_expire(k.as_bytes(), Millis(1_000_000 + i as u64));
            }
        }
        ks
    }

    type Row = (usize, Vec<u8>, Vec<u8>, Option<Millis>);

    fn digest(ks: &Keyspace) -> Vec<Row> {
        let mut v = Vec::new();
        for (i, db) in ks.dbs.iter().enumerate() {
            for (k, e) in db.entries() {
                v.push((i, k.to_vec(), e.value.canonical(), db.expire_at(k)));
            }
        }
        v.sort();
        v
    }

    #[test]
    fn round_trips() {
        let ks = sample();
        let meta = Meta {
            repl_id: "a".repeat(40),
            repl_offset: 1234,
        };
        let bytes = save(&ks, &meta, Millis(5000));
        let (back, m) = load(
            &bytes,
            || Keyspace::new(16, 7),
            &EncodingLimits::default(),
            Millis(0),
        )
        .unwrap();
        assert_eq!(m, meta);
        assert_eq!(digest(&back), digest(&ks));
        assert_eq!(back.used_memory(), ks.used_memory());
    }

    #[test]
    fn refuses_every_truncation_and_corruption() {
        let bytes = save(&sample(), &Meta::default(), Millis(0));
        for n in 0..bytes.len() {
            assert!(
                load(
                    &bytes[..n],
                    || Keyspace::new(16, 7),
                    &EncodingLimits::default(),
                    Millis(0)
                )
                .is_err(),
                "len {n}"
            );
        }
        for i in (0..bytes.len()).step_by(7) {
            let mut b = bytes.clone();
            b[i] ^= 0x20;
            assert!(
                load(
                    &b,
                    || Keyspace::new(16, 7),
                    &EncodingLimits::default(),
                    Millis(0)
                )
                .is_err(),
                "flip {i}"
            );
        }
    }

    #[test]
    fn reads_redis_s_own_empty_file_shape() {
        // The header of an empty RDB as Redis 7.0 writes it, re-checksummed.
        let mut b = b"REDIS0010".to_vec();
        b.push(OP_EOF);
        let crc = crc64(0, &b);
        b.extend_from_slice(&crc.to_le_bytes());
        let (ks, _) = load(
            &b,
            || Keyspace::new(16, 0),
            &EncodingLimits::default(),
            Millis(0),
        )
        .unwrap();
        assert_eq!(ks.total_keys(), 0);
    }
}
