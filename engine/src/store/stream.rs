//! The stream type, laid out as Redis 7.0's t_stream.c lays it out: entries
//! in nodes ("macro nodes", each a listpack keyed in a radix tree by its
//! first — master — ID), a node full after `stream-node-max-entries`
//! entries or `stream-node-max-bytes` bytes; deletions only flag an entry
//! (a tombstone) until its node has no live entry left; trimming removes
//! whole nodes, and with `~` nothing else. The node layout is visible to
//! users (approximate trimming, XINFO's radix-tree-keys), so each node
//! keeps the exact byte size its listpack would have.
//!
//! Consumer groups keep their pending entries lists (PEL) and consumers in
//! ordered maps, so XPENDING, XINFO and XAUTOCLAIM walk them in Redis's
//! (radix tree) order.

use std::collections::{BTreeMap, BTreeSet};

use super::hash::EncodingLimits;
use super::listpack::{self, Elem};
use super::mem::{jemalloc_size, lp_entry_size, lp_int_size};

/// A stream entry ID, `<ms>-<seq>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };
    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }
    /// `streamIncrID`: the successor, or `None` past the last ID.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }
    /// `streamDecrID`: the predecessor, or `None` before 0-0.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }
    pub fn is_zero(self) -> bool {
        self.ms == 0 && self.seq == 0
    }
    pub fn to_bytes(self) -> Vec<u8> {
        format!("{}-{}", self.ms, self.seq).into_bytes()
    }
    /// The 16-byte big-endian key a radix tree stores it under.
    pub fn encode(self) -> [u8; 16] {
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&self.ms.to_be_bytes());
        k[8..].copy_from_slice(&self.seq.to_be_bytes());
        k
    }
    pub fn decode(b: &[u8]) -> Option<StreamId> {
        if b.len() != 16 {
            return None;
        }
        Some(StreamId::new(
            u64::from_be_bytes(b[..8].try_into().ok()?),
            u64::from_be_bytes(b[8..].try_into().ok()?),
        ))
    }
}

/// An entry's field-value pairs, in the order they were added.
pub type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// One entry (live, or a tombstone left by XDEL/XTRIM).
#[derive(Clone, Debug, PartialEq)]
pub struct StreamEntry {
    pub id: StreamId,
    pub deleted: bool,
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A macro node: the entries one listpack would hold.
#[derive(Clone, Debug, PartialEq)]
struct Node {
    master_fields: Vec<Vec<u8>>,
    entries: Vec<StreamEntry>,
    live: u64,
    deleted: u64,
    /// `lpBytes` of the listpack.
    bytes: usize,
}

fn lpi(v: i64) -> usize {
    lp_int_size(v)
}

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;

impl Node {
    fn first_live(&self) -> Option<&StreamEntry> {
        self.entries.iter().find(|e| !e.deleted)
    }
    fn last_live(&self) -> Option<&StreamEntry> {
        self.entries.iter().rev().find(|e| !e.deleted)
    }
    /// Replaces the live/deleted counters, keeping `bytes` exact.
    fn set_counts(&mut self, live: u64, deleted: u64) {
        self.bytes = self.bytes + lpi(live as i64) + lpi(deleted as i64)
            - lpi(self.live as i64)
            - lpi(self.deleted as i64);
        self.live = live;
        self.deleted = deleted;
    }
    /// Flags entry `i` deleted (its flags stay one byte: 0–3).
    fn kill(&mut self, i: usize) {
        debug_assert!(!self.entries[i].deleted);
        self.entries[i].deleted = true;
        self.set_counts(self.live - 1, self.deleted + 1);
    }
    fn find(&self, id: StreamId) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| e.id.cmp(&id))
    }

    /// The node's listpack, element by element as t_stream.c writes it.
    fn listpack(&self, master: StreamId) -> Vec<u8> {
        let mut el = vec![
            Elem::Int(self.live as i64),
            Elem::Int(self.deleted as i64),
            Elem::Int(self.master_fields.len() as i64),
        ];
        el.extend(self.master_fields.iter().map(|f| Elem::Str(f.clone())));
        el.push(Elem::Int(0));
        for e in &self.entries {
            let same = self.master_fields.len() == e.fields.len()
                && self
                    .master_fields
                    .iter()
                    .zip(&e.fields)
                    .all(|(m, (f, _))| m == f);
            let flags =
                if same { FLAG_SAMEFIELDS } else { 0 } | if e.deleted { FLAG_DELETED } else { 0 };
            el.push(Elem::Int(flags));
            el.push(Elem::Int(e.id.ms.wrapping_sub(master.ms) as i64));
            el.push(Elem::Int(e.id.seq.wrapping_sub(master.seq) as i64));
            let nf = e.fields.len() as i64;
            if same {
                el.extend(e.fields.iter().map(|(_, v)| Elem::Str(v.clone())));
                el.push(Elem::Int(nf + 3));
            } else {
                el.push(Elem::Int(nf));
                for (f, v) in &e.fields {
                    el.push(Elem::Str(f.clone()));
                    el.push(Elem::Str(v.clone()));
                }
                el.push(Elem::Int(2 * nf + 4));
            }
        }
        listpack::encode(&el)
    }

    /// A node read back from its listpack.
    fn from_listpack(master: StreamId, lp: &[u8]) -> Option<Node> {
        let el = listpack::decode(lp)?;
        let mut it = el.iter();
        let int = |it: &mut std::slice::Iter<Elem>| it.next().and_then(Elem::int);
        let live = u64::try_from(int(&mut it)?).ok()?;
        let deleted = u64::try_from(int(&mut it)?).ok()?;
        let nf = usize::try_from(int(&mut it)?).ok()?;
        let mut master_fields = Vec::with_capacity(nf);
        for _ in 0..nf {
            master_fields.push(it.next()?.bytes());
        }
        if int(&mut it)? != 0 {
            return None;
        }
        let mut entries = Vec::new();
        while let Some(flags) = it.next() {
            let flags = flags.int()?;
            let ms = master.ms.wrapping_add(int(&mut it)? as u64);
            let seq = master.seq.wrapping_add(int(&mut it)? as u64);
            let fields: Vec<(Vec<u8>, Vec<u8>)> = if flags & FLAG_SAMEFIELDS != 0 {
                let mut f = Vec::with_capacity(nf);
                for m in &master_fields {
                    f.push((m.clone(), it.next()?.bytes()));
                }
                f
            } else {
                let n = usize::try_from(int(&mut it)?).ok()?;
                let mut f = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = it.next()?.bytes();
                    f.push((k, it.next()?.bytes()));
                }
                f
            };
            int(&mut it)?;
            entries.push(StreamEntry {
                id: StreamId::new(ms, seq),
                deleted: flags & FLAG_DELETED != 0,
                fields,
            });
        }
        let counted = entries.iter().filter(|e| !e.deleted).count() as u64;
        if counted != live || entries.len() as u64 != live + deleted || entries.is_empty() {
            return None;
        }
        Some(Node {
            master_fields,
            entries,
            live,
            deleted,
            bytes: lp.len(),
        })
    }
}

/// A pending entry: delivered to a consumer, not yet acknowledged.
#[derive(Clone, Debug, PartialEq)]
pub struct Nack {
    /// Unix time of the last delivery, in milliseconds.
    pub delivery_time: i64,
    pub delivery_count: u64,
    pub consumer: Vec<u8>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Consumer {
    pub seen_time: i64,
    pub pel: BTreeSet<StreamId>,
}

/// `SCG_INVALID_ENTRIES_READ`.
pub const INVALID_ENTRIES_READ: i64 = -1;

#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub last_id: StreamId,
    /// The logical read counter, or [`INVALID_ENTRIES_READ`].
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Vec<u8>, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }
    /// Drops a pending entry from the group and its consumer's PEL.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(n) => {
                if let Some(c) = self.consumers.get_mut(&n.consumer) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }
}

/// How XADD/XTRIM trim (`streamAddTrimArgs`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trim {
    None,
    MaxLen(u64),
    MinId(StreamId),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Node>,
    pub length: u64,
    pub last_id: StreamId,
    /// The first live ID (0-0 when empty), as `s->first_id`.
    pub first_id: StreamId,
    pub max_deleted: StreamId,
    pub entries_added: u64,
    pub groups: BTreeMap<Vec<u8>, Group>,
    /// Sum of the nodes' listpack bytes (memory accounting).
    lp_bytes: usize,
}

/// What a stream entry costs outside its listpack (radix tree share).
const NODE_OVERHEAD: usize = 48;
const NACK_SIZE: usize = 64;

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }
    pub fn len(&self) -> usize {
        self.length as usize
    }
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }
    /// Number of macro nodes (XINFO's radix-tree-keys).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Bytes of the object (approximately `objectComputeSize`).
    pub fn mem_size(&self) -> usize {
        let groups: usize = self
            .groups
            .iter()
            .map(|(n, g)| {
                jemalloc_size(n.len() + 1) + 96 + g.pel.len() * NACK_SIZE + g.consumers.len() * 80
            })
            .sum();
        16 + 64 + self.lp_bytes + self.nodes.len() * NODE_OVERHEAD + groups
    }

    /// `rax->numnodes` for the nodes' 16-byte keys: the nodes of the
    /// compressed radix tree holding them (XINFO's radix-tree-nodes).
    pub fn rax_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|k| k.encode()).collect();
        if keys.is_empty() {
            return 1;
        }
        fn count(keys: &[[u8; 16]], depth: usize) -> usize {
            if depth == 16 {
                return 1;
            }
            // Longest common prefix from `depth`.
            let (first, last) = (&keys[0], &keys[keys.len() - 1]);
            let mut d = depth;
            while d < 16 && first[d] == last[d] {
                d += 1;
            }
            if d > depth {
                return 1 + count(keys, d);
            }
            let mut n = 1;
            let mut i = 0;
            while i < keys.len() {
                let b = keys[i][depth];
                let j = i + keys[i..].iter().take_while(|k| k[depth] == b).count();
                n += count(&keys[i..j], depth + 1);
                i = j;
            }
            n
        }
        count(&keys, 0)
    }

    /// `streamAppendItem` once the ID is known to be above `last_id`.
    pub fn append(&mut self, id: StreamId, fields: Vec<(Vec<u8>, Vec<u8>)>, lim: &EncodingLimits) {
        let totelelen: usize = fields.iter().map(|(f, v)| f.len() + v.len()).sum();
        let max_bytes = match lim.stream_node_bytes {
            0 => 1 << 30,
            b if b > 1 << 30 => 1 << 30,
            b => b,
        };
        let mut tail = self.nodes.iter_mut().next_back().map(|(k, n)| (*k, n));
        if let Some((_, n)) = &tail {
            let full = n.bytes + totelelen >= max_bytes
                || (lim.stream_node_entries > 0
                    && (n.live + n.deleted) as usize >= lim.stream_node_entries);
            if full {
                tail = None;
            }
        }
        let numfields = fields.len() as i64;
        let (master, before, node) = match tail {
            Some((m, n)) => {
                let before = n.bytes;
                let (live, deleted) = (n.live, n.deleted);
                n.set_counts(live + 1, deleted);
                (m, before, n)
            }
            None => {
                let master_fields: Vec<Vec<u8>> = fields.iter().map(|(f, _)| f.clone()).collect();
                let bytes = 6
                    + 1
                    + lpi(1)
                    + lpi(0)
                    + lpi(numfields)
                    + master_fields
                        .iter()
                        .map(|f| lp_entry_size(f))
                        .sum::<usize>()
                    + lpi(0);
                let node = Node {
                    master_fields,
                    entries: Vec::new(),
                    live: 1,
                    deleted: 0,
                    bytes,
                };
                (id, 0, self.nodes.entry(id).or_insert(node))
            }
        };
        let same = node.master_fields.len() == fields.len()
            && node
                .master_fields
                .iter()
                .zip(&fields)
                .all(|(m, (f, _))| m == f);
        let flags = if same { FLAG_SAMEFIELDS } else { 0 };
        let mut bytes = lpi(flags)
            + lpi(id.ms.wrapping_sub(master.ms) as i64)
            + lpi(id.seq.wrapping_sub(master.seq) as i64);
        let mut lp_count = numfields + 3;
        if !same {
            bytes += lpi(numfields) + fields.iter().map(|(f, _)| lp_entry_size(f)).sum::<usize>();
            lp_count += numfields + 1;
        }
        bytes += fields.iter().map(|(_, v)| lp_entry_size(v)).sum::<usize>() + lpi(lp_count);
        node.bytes += bytes;
        node.entries.push(StreamEntry {
            id,
            deleted: false,
            fields,
        });
        self.lp_bytes = self.lp_bytes + node.bytes - before;
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
    }

    /// Live entries with `start <= id <= end`, ascending or descending.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
    ) -> Box<dyn Iterator<Item = &StreamEntry> + '_> {
        if start > end {
            return Box::new(std::iter::empty());
        }
        // The node holding `start` begins at or before it.
        let from = self
            .nodes
            .range(..=start)
            .next_back()
            .map(|(k, _)| *k)
            .unwrap_or(start);
        let nodes = self.nodes.range(from..=end);
        let live = move |e: &&StreamEntry| !e.deleted && e.id >= start && e.id <= end;
        if rev {
            Box::new(
                nodes
                    .rev()
                    .flat_map(|(_, n)| n.entries.iter().rev())
                    .skip_while(move |e| e.id > end)
                    .take_while(move |e| e.id >= start)
                    .filter(live),
            )
        } else {
            Box::new(
                nodes
                    .flat_map(|(_, n)| n.entries.iter())
                    .skip_while(move |e| e.id < start)
                    .take_while(move |e| e.id <= end)
                    .filter(live),
            )
        }
    }

    pub fn get(&self, id: StreamId) -> Option<&StreamEntry> {
        let (_, n) = self.nodes.range(..=id).next_back()?;
        n.find(id)
            .ok()
            .map(|i| &n.entries[i])
            .filter(|e| !e.deleted)
    }

    /// The last live ID (`streamLastValidID`), 0-0 when empty.
    pub fn last_valid_id(&self) -> StreamId {
        self.nodes
            .values()
            .rev()
            .find_map(|n| n.last_live())
            .map_or(StreamId::MIN, |e| e.id)
    }

    /// The first ID, counting tombstones (`streamGetEdgeID(s,1,0)`).
    pub fn first_id_with_tombstones(&self) -> StreamId {
        self.nodes
            .values()
            .next()
            .and_then(|n| n.entries.first())
            .map_or(StreamId::MAX, |e| e.id)
    }

    pub fn first_live_id(&self) -> StreamId {
        self.nodes
            .values()
            .find_map(|n| n.first_live())
            .map_or(StreamId::MAX, |e| e.id)
    }

    /// `streamDeleteItem`: flags a live entry deleted; a node left without
    /// live entries goes. Does not touch `first_id`/`max_deleted`.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&k, n)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let Ok(i) = n.find(id) else { return false };
        if n.entries[i].deleted {
            return false;
        }
        let before = n.bytes;
        if n.live == 1 {
            self.nodes.remove(&k);
            self.lp_bytes -= before;
        } else {
            n.kill(i);
            self.lp_bytes = self.lp_bytes + n.bytes - before;
        }
        self.length -= 1;
        true
    }

    /// XDEL of several IDs, keeping `first_id` and `max_deleted` as Redis does.
    pub fn xdel(&mut self, ids: &[StreamId]) -> usize {
        let mut deleted = 0;
        let mut first_entry = false;
        for &id in ids {
            if self.delete(id) {
                if id == self.first_id {
                    first_entry = true;
                }
                if id > self.max_deleted {
                    self.max_deleted = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.length == 0 {
                self.first_id = StreamId::MIN;
            } else if first_entry {
                self.first_id = self.first_live_id();
            }
        }
        deleted
    }

    /// `streamTrim`: returns the number of entries removed. `approx` only
    /// removes whole nodes; `limit` (0: none) caps the work.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        if how == Trim::None {
            return 0;
        }
        let mut deleted: u64 = 0;
        let keys: Vec<StreamId> = self.nodes.keys().copied().collect();
        for k in keys {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let node = self.nodes.get_mut(&k).expect("listed above");
            let entries = node.live;
            if limit > 0 && deleted + entries > limit {
                break;
            }
            let remove = match how {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => node.entries.last().is_some_and(|e| e.id < min),
                Trim::None => false,
            };
            if remove {
                self.lp_bytes -= node.bytes;
                self.nodes.remove(&k);
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            let mut from_lp = 0;
            for i in 0..node.entries.len() {
                let stop = match how {
                    Trim::MaxLen(max) => self.length <= max,
                    Trim::MinId(min) => node.entries[i].id >= min,
                    Trim::None => true,
                };
                if stop {
                    break;
                }
                if !node.entries[i].deleted {
                    node.entries[i].deleted = true;
                    from_lp += 1;
                    self.length -= 1;
                }
            }
            let before = node.bytes;
            node.set_counts(node.live - from_lp, node.deleted + from_lp);
            self.lp_bytes = self.lp_bytes + node.bytes - before;
            deleted += from_lp;
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.first_live_id();
        }
        deleted
    }

    /// Whether `[start, +inf)` holds a tombstone (`streamRangeHasTombstones`).
    pub fn range_has_tombstones(&self, start: StreamId) -> bool {
        if self.length == 0 || self.max_deleted.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted {
            return false;
        }
        start <= self.max_deleted
    }

    /// `streamEstimateDistanceFromFirstEverEntry`, or `None` when unknown.
    pub fn estimate_distance(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.length == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        if id == self.last_id {
            return Some(self.entries_added);
        } else if id > self.last_id {
            return None;
        }
        if self.max_deleted.is_zero() || self.max_deleted < self.first_id {
            if id < self.first_id {
                return Some(self.entries_added - self.length);
            } else if id == self.first_id {
                return Some(self.entries_added - self.length + 1);
            }
        }
        None
    }

    /// A group's lag (`streamReplyWithCGLag`), `None` when unknown.
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != INVALID_ENTRIES_READ && !self.range_has_tombstones(g.last_id) {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        self.estimate_distance(g.last_id)
            .map(|r| self.entries_added as i64 - r as i64)
    }

    /// The nodes as an RDB file carries them: (16-byte master ID, listpack).
    pub fn raw_nodes(&self) -> Vec<([u8; 16], Vec<u8>)> {
        self.nodes
            .iter()
            .map(|(k, n)| (k.encode(), n.listpack(*k)))
            .collect()
    }

    /// Rebuilds the entries from RDB nodes; the counters and groups are
    /// set by the caller. `None` for a malformed node.
    pub fn from_raw_nodes(raw: Vec<(Vec<u8>, Vec<u8>)>) -> Option<Stream> {
        let mut s = Stream::new();
        for (k, lp) in raw {
            let master = StreamId::decode(&k)?;
            let n = Node::from_listpack(master, &lp)?;
            if n.live == 0 {
                continue;
            }
            s.lp_bytes += n.bytes;
            if s.nodes.insert(master, n).is_some() {
                return None;
            }
        }
        Some(s)
    }

    /// Live entries counted (to check a loaded `length`).
    pub fn count_live(&self) -> u64 {
        self.nodes.values().map(|n| n.live).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        vec![(b"f".to_vec(), n.to_string().into_bytes())]
    }

    #[test]
    fn nodes_fill_at_100_entries_and_approximate_trim_removes_whole_nodes() {
        let lim = EncodingLimits::default();
        let mut s = Stream::new();
        for i in 1..=250 {
            s.append(StreamId::new(i, 0), f(i as usize), &lim);
        }
        assert_eq!((s.len(), s.node_count()), (250, 3));
        // ~ 120 may only drop the first node (100 entries).
        assert_eq!(s.trim(Trim::MaxLen(120), true, 10_000), 100);
        assert_eq!(s.len(), 150);
        assert_eq!(s.first_id, StreamId::new(101, 0));
        // Exact trimming flags entries inside a node.
        assert_eq!(s.trim(Trim::MaxLen(120), false, 0), 30);
        assert_eq!((s.len(), s.node_count()), (120, 2));
        assert_eq!(
            s.range(StreamId::MIN, StreamId::MAX, false)
                .next()
                .unwrap()
                .id,
            StreamId::new(131, 0)
        );
        assert_eq!(
            s.range(StreamId::MIN, StreamId::MAX, true)
                .next()
                .unwrap()
                .id,
            StreamId::new(250, 0)
        );
    }

    #[test]
    fn deleting_every_live_entry_of_a_node_removes_it() {
        let lim = EncodingLimits::default();
        let mut s = Stream::new();
        for i in 1..=3 {
            s.append(StreamId::new(i, 0), f(1), &lim);
        }
        assert_eq!(s.xdel(&[StreamId::new(1, 0), StreamId::new(9, 0)]), 1);
        assert_eq!(
            (s.first_id, s.max_deleted),
            (StreamId::new(2, 0), StreamId::new(1, 0))
        );
        assert_eq!(s.xdel(&[StreamId::new(2, 0), StreamId::new(3, 0)]), 2);
        assert_eq!((s.len(), s.node_count(), s.first_id), (0, 0, StreamId::MIN));
    }

    #[test]
    fn node_bytes_are_the_listpack_size_and_nodes_round_trip() {
        let lim = EncodingLimits::default();
        let mut s = Stream::new();
        for i in 1..=150u64 {
            let mut fields = f(i as usize * 1000);
            if i % 7 == 0 {
                fields.push((b"other".to_vec(), vec![b'v'; (i * 3) as usize]));
            }
            s.append(
                StreamId::new(1_700_000_000_000 + i / 3, i % 3),
                fields,
                &lim,
            );
        }
        s.xdel(&[
            StreamId::new(1_700_000_000_001, 0),
            StreamId::new(1_700_000_000_010, 2),
        ]);
        let raw = s.raw_nodes();
        for ((_, lp), n) in raw.iter().zip(s.nodes.values()) {
            assert_eq!(lp.len(), n.bytes);
        }
        let back = Stream::from_raw_nodes(raw.into_iter().map(|(k, l)| (k.to_vec(), l)).collect())
            .unwrap();
        assert_eq!(back.nodes, s.nodes);
    }

    #[test]
    fn radix_tree_nodes_of_one_and_two_keys() {
        let lim = EncodingLimits::default();
        let mut s = Stream::new();
        s.append(StreamId::new(1, 0), f(1), &lim);
        assert_eq!(s.rax_nodes(), 2);
    }
}
