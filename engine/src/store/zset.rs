//! The sorted set type in Redis 7.0's two encodings: a `listpack` (member,
//! score pairs kept in order, while small) and a `skiplist` (a dict from
//! member to score plus the [`SkipList`] ordered by score then member).
//! The dict holds node indices hashed by member, so each member is stored
//! once, in its skip list node.
//!
//! Every range operation is expressed as a range of ranks (0-based, half
//! open): bounds are found in O(log n) on the skip list, then elements are
//! walked from the node at the first rank.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::store::hash::EncodingLimits;
use crate::store::mem;
use crate::store::skiplist::{SkipList, NIL};
use crate::store::smallbytes::SmallBytes;
use crate::store::FixedState;

#[derive(Clone, Debug)]
pub enum ZSet {
    /// Sorted by (score, member); `lp` is the listpack's byte length.
    Listpack {
        items: Vec<(Vec<u8>, f64)>,
        lp: usize,
    },
    Skiplist {
        /// Member → node, hashed by the member stored in the node.
        dict: HashTable<u32>,
        sl: SkipList,
        /// Bytes of the nodes, dict entries and member strings.
        mem: usize,
    },
}

/// A score interval (`zrangespec`).
#[derive(Clone, Copy, Debug)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

impl ScoreRange {
    pub fn gte_min(&self, s: f64) -> bool {
        if self.minex {
            s > self.min
        } else {
            s >= self.min
        }
    }
    pub fn lte_max(&self, s: f64) -> bool {
        if self.maxex {
            s < self.max
        } else {
            s <= self.max
        }
    }
    /// `zslIsInRange`'s emptiness test.
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// One end of a lex interval (`zlexrangespec`).
#[derive(Clone, Debug)]
pub enum LexBound {
    NegInf,
    PosInf,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

#[derive(Clone, Debug)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn gte_min(&self, e: &[u8]) -> bool {
        match &self.min {
            LexBound::NegInf => true,
            LexBound::PosInf => false,
            LexBound::Incl(m) => e >= m.as_slice(),
            LexBound::Excl(m) => e > m.as_slice(),
        }
    }
    pub fn lte_max(&self, e: &[u8]) -> bool {
        match &self.max {
            LexBound::PosInf => true,
            LexBound::NegInf => false,
            LexBound::Incl(m) => e <= m.as_slice(),
            LexBound::Excl(m) => e < m.as_slice(),
        }
    }
}

/// `d2string`: how a score is written into a listpack (integers as integers).
pub fn d2string(d: f64) -> String {
    if d.is_nan() {
        "nan".into()
    } else if d.is_infinite() {
        if d > 0.0 { "inf" } else { "-inf" }.into()
    } else if d == 0.0 {
        if d.is_sign_negative() { "-0" } else { "0" }.into()
    } else if d.fract() == 0.0 && d >= (-(i64::MAX / 2)) as f64 && d <= (i64::MAX / 2) as f64 {
        format!("{}", d as i64)
    } else {
        crate::store::number::format_g17(d)
    }
}

fn pair_lp(m: &[u8], s: f64) -> usize {
    mem::lp_entry_size(m) + mem::lp_entry_size(d2string(s).as_bytes())
}

/// `sizeof(zskiplistNode)` with `levels` levels, as allocated, plus the
/// member's sds and its dict entry.
fn node_mem(m: &[u8], levels: usize) -> usize {
    mem::jemalloc_size(32 + 16 * levels) + mem::sds_new_size(m.len()) + mem::DICT_ENTRY
}

fn cmp(a: &(Vec<u8>, f64), s: f64, m: &[u8]) -> std::cmp::Ordering {
    a.1.partial_cmp(&s)
        .unwrap_or(std::cmp::Ordering::Equal)
        .then_with(|| a.0.as_slice().cmp(m))
}

fn hash_of(m: &[u8]) -> u64 {
    FixedState::default().hash_one(m)
}

/// The node of member `m`, if present.
fn find(dict: &HashTable<u32>, sl: &SkipList, m: &[u8]) -> Option<u32> {
    dict.find(hash_of(m), |&n| sl.ele(n) == m).copied()
}

impl PartialEq for ZSet {
    fn eq(&self, other: &ZSet) -> bool {
        self.encoding() == other.encoding() && self.all() == other.all()
    }
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::new()
    }
}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet::Listpack {
            items: Vec::new(),
            lp: mem::LP_EMPTY,
        }
    }

    /// The encoding `zsetTypeCreate` picks for `size` members whose longest
    /// is `maxlen` bytes.
    pub fn with_hint(size: usize, maxlen: usize, lim: &EncodingLimits) -> ZSet {
        if size <= lim.zset_entries && maxlen <= lim.zset_value {
            ZSet::new()
        } else {
            ZSet::Skiplist {
                dict: HashTable::with_capacity(size.min(1024)),
                sl: SkipList::new(),
                mem: 0,
            }
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZSet::Listpack { items, .. } => items.len(),
            ZSet::Skiplist { sl, .. } => sl.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Listpack { .. } => "listpack",
            ZSet::Skiplist { .. } => "skiplist",
        }
    }

    pub fn mem_size(&self) -> usize {
        match self {
            ZSet::Listpack { lp, .. } => mem::ROBJ + mem::jemalloc_size(*lp),
            ZSet::Skiplist { dict, mem: m, .. } => {
                // robj + zset + zskiplist + dict + header node (32 levels).
                mem::ROBJ + 16 + 32 + mem::DICT + 544 + mem::dict_slots_size(dict.len()) + m
            }
        }
    }

    pub fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            ZSet::Listpack { items, .. } => items.iter().find(|(e, _)| e == m).map(|(_, s)| *s),
            ZSet::Skiplist { dict, sl, .. } => find(dict, sl, m).map(|n| sl.score(n)),
        }
    }

    /// `zsetConvert` to a skip list.
    pub fn convert_to_skiplist(&mut self) {
        if let ZSet::Listpack { items, .. } = self {
            let mut dict = HashTable::with_capacity(items.len());
            let mut sl = SkipList::new();
            let mut m = 0;
            for (e, s) in items.drain(..) {
                let n = sl.insert(s, SmallBytes::from_vec(e));
                m += node_mem(sl.ele(n), sl.node_levels(n));
                dict.insert_unique(hash_of(sl.ele(n)), n, |&k| hash_of(sl.ele(k)));
            }
            *self = ZSet::Skiplist { dict, sl, mem: m };
        }
    }

    /// `zsetConvertToListpackIfNeeded` (results of *STORE commands).
    pub fn shrink_if_fits(&mut self, lim: &EncodingLimits) {
        if let ZSet::Skiplist { sl, .. } = self {
            let maxlen = sl.iter().map(|(e, _)| e.len()).max().unwrap_or(0);
            if sl.len() <= lim.zset_entries && maxlen <= lim.zset_value {
                let items: Vec<(Vec<u8>, f64)> = sl
                    .iter()
                    .map(|(e, s)| (e.to_vec(), if s == 0.0 { 0.0 } else { s }))
                    .collect();
                let lp = mem::LP_EMPTY + items.iter().map(|(e, s)| pair_lp(e, *s)).sum::<usize>();
                *self = ZSet::Listpack { items, lp };
            }
        }
    }

    /// Inserts a new member or moves an existing one to `score` (the caller
    /// has applied NX/XX/GT/LT). Converts as `zsetAdd` does.
    pub fn set(&mut self, m: &[u8], score: f64, lim: &EncodingLimits) {
        if let ZSet::Listpack { items, .. } = self {
            let exists = items.iter().any(|(e, _)| e == m);
            if !exists && (items.len() + 1 > lim.zset_entries || m.len() > lim.zset_value) {
                self.convert_to_skiplist();
            }
        }
        match self {
            ZSet::Listpack { items, lp } => {
                // zzlInsertAt stores integral scores as integers: -0 reads back as 0.
                let score = if score == 0.0 { 0.0 } else { score };
                if let Some(i) = items.iter().position(|(e, _)| e == m) {
                    let (e, old) = items.remove(i);
                    *lp -= pair_lp(&e, old);
                }
                let at = items.partition_point(|x| cmp(x, score, m).is_lt());
                *lp += pair_lp(m, score);
                items.insert(at, (m.to_vec(), score));
            }
            ZSet::Skiplist { .. } => self.upsert(m, lim, |_| Some(score)),
        }
    }

    /// Looks member `m` up once: `decide(its score, if present)` returns
    /// the score to give it (`None`: leave the set as it is). ZADD's path,
    /// one dict probe per member instead of a read then a write.
    pub fn upsert(
        &mut self,
        m: &[u8],
        lim: &EncodingLimits,
        decide: impl FnOnce(Option<f64>) -> Option<f64>,
    ) {
        if let ZSet::Skiplist { dict, sl, mem: mm } = self {
            let h = hash_of(m);
            if let Some(slot) = dict.find_mut(h, |&n| sl.ele(n) == m) {
                let old = sl.score(*slot);
                if let Some(score) = decide(Some(old)).filter(|&s| s != old) {
                    let levels = sl.delete(old, m).unwrap_or(1);
                    let n = sl.insert(score, SmallBytes::new(m));
                    *slot = n;
                    *mm = *mm - node_mem(m, levels) + node_mem(m, sl.node_levels(n));
                }
            } else if let Some(score) = decide(None) {
                let n = sl.insert(score, SmallBytes::new(m));
                dict.insert_unique(h, n, |&k| hash_of(sl.ele(k)));
                *mm += node_mem(m, sl.node_levels(n));
            }
            return;
        }
        if let Some(score) = decide(self.score(m)) {
            self.set(m, score, lim);
        }
    }

    /// Removes a member; true if it was there.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            ZSet::Listpack { items, lp } => match items.iter().position(|(e, _)| e == m) {
                Some(i) => {
                    let (e, s) = items.remove(i);
                    *lp -= pair_lp(&e, s);
                    true
                }
                None => false,
            },
            ZSet::Skiplist { dict, sl, mem: mm } => {
                match dict.find_entry(hash_of(m), |&n| sl.ele(n) == m) {
                    Ok(entry) => {
                        let (n, _) = entry.remove();
                        let levels = sl.delete(sl.score(n), m).unwrap_or(1);
                        *mm -= node_mem(m, levels);
                        true
                    }
                    Err(_) => false,
                }
            }
        }
    }

    /// 0-based rank of a member in ascending order.
    pub fn rank(&self, m: &[u8]) -> Option<usize> {
        match self {
            ZSet::Listpack { items, .. } => items.iter().position(|(e, _)| e == m),
            ZSet::Skiplist { dict, sl, .. } => {
                find(dict, sl, m).map(|n| sl.rank(sl.score(n), m) - 1)
            }
        }
    }

    /// Number of elements that sort before the first one satisfying `pred`
    /// (which must be monotone over the order).
    fn count_before(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSet::Listpack { items, .. } => items.partition_point(|(e, s)| !pred(*s, e)),
            ZSet::Skiplist { sl, .. } => {
                let n = sl.first_where(&pred);
                if n == NIL {
                    sl.len()
                } else {
                    sl.rank(sl.score(n), sl.ele(n)) - 1
                }
            }
        }
    }

    /// Ranks `[lo, hi)` of the elements within a score range.
    pub fn score_bounds(&self, r: &ScoreRange) -> (usize, usize) {
        let lo = self.count_before(|s, _| r.gte_min(s));
        let hi = self.count_before(|s, _| !r.lte_max(s));
        (lo, hi.max(lo))
    }

    /// Ranks `[lo, hi)` of the elements within a lex range. Lex ranges
    /// assume equal scores; as Redis does, the range is empty unless the
    /// last element is ≥ min and the first ≤ max, and a listpack is then
    /// scanned from its head (so mixed scores give Redis's answers there).
    pub fn lex_bounds(&self, r: &LexRange) -> (usize, usize) {
        let len = self.len();
        let (Some((first, _)), Some((last, _))) =
            (self.get_index(0), self.get_index(len.wrapping_sub(1)))
        else {
            return (0, 0);
        };
        if !r.gte_min(&last) || !r.lte_max(&first) {
            return (0, 0);
        }
        if let ZSet::Listpack { items, .. } = self {
            let Some(lo) = items.iter().position(|(e, _)| r.gte_min(e)) else {
                return (0, 0);
            };
            let hi = items[lo..]
                .iter()
                .position(|(e, _)| !r.lte_max(e))
                .map_or(len, |n| lo + n);
            return (lo, hi);
        }
        let lo = self.count_before(|_, e| r.gte_min(e));
        let hi = self.count_before(|_, e| !r.lte_max(e));
        (lo, hi.max(lo))
    }

    /// Elements at ranks `[lo, hi)`, ascending, or descending from `hi - 1`.
    pub fn range(&self, lo: usize, hi: usize, rev: bool) -> Vec<(Vec<u8>, f64)> {
        let hi = hi.min(self.len());
        if lo >= hi {
            return Vec::new();
        }
        match self {
            ZSet::Listpack { items, .. } => {
                let slice = &items[lo..hi];
                if rev {
                    slice.iter().rev().cloned().collect()
                } else {
                    slice.to_vec()
                }
            }
            ZSet::Skiplist { sl, .. } => {
                let mut out = Vec::with_capacity(hi - lo);
                let mut n = sl.by_rank(if rev { hi } else { lo + 1 });
                while n != NIL && out.len() < hi - lo {
                    out.push((sl.ele(n).to_vec(), sl.score(n)));
                    n = if rev { sl.prev(n) } else { sl.next(n) };
                }
                out
            }
        }
    }

    /// Every element in ascending order.
    pub fn all(&self) -> Vec<(Vec<u8>, f64)> {
        self.range(0, self.len(), false)
    }

    /// Removes the elements at ranks `[lo, hi)`; returns how many.
    pub fn remove_ranks(&mut self, lo: usize, hi: usize) -> usize {
        let gone = self.range(lo, hi, false);
        for (e, _) in &gone {
            self.remove(e);
        }
        gone.len()
    }

    /// The element at position `i` of the dict / listpack (random sampling).
    pub fn get_index(&self, i: usize) -> Option<(Vec<u8>, f64)> {
        match self {
            ZSet::Listpack { items, .. } => items.get(i).cloned(),
            ZSet::Skiplist { sl, .. } => {
                let n = sl.by_rank(i + 1);
                (n != NIL).then(|| (sl.ele(n).to_vec(), sl.score(n)))
            }
        }
    }

    /// Builds a sorted set (snapshot loading, *STORE results) with the
    /// encoding its size and longest member call for.
    pub fn from_pairs(pairs: Vec<(Vec<u8>, f64)>, lim: &EncodingLimits) -> ZSet {
        let maxlen = pairs.iter().map(|(e, _)| e.len()).max().unwrap_or(0);
        let mut z = ZSet::with_hint(pairs.len(), maxlen, lim);
        for (e, s) in pairs {
            z.set(&e, s, lim);
        }
        z
    }
}
