//! The hash type in Redis 7.0's two encodings: a `listpack` (field/value
//! pairs in insertion order, while small) and a `hashtable`. The memory
//! figure Redis would hold is kept up to date on every change, so reading
//! it is O(1).

use indexmap::IndexMap;

use crate::store::mem;
use crate::store::packed::Packed;
use crate::store::FixedState;

/// The thresholds that decide an encoding (`*-max-listpack-*`, `set-max-intset-entries`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodingLimits {
    pub hash_entries: usize,
    pub hash_value: usize,
    pub set_intset_entries: usize,
    pub zset_entries: usize,
    pub zset_value: usize,
    /// `stream-node-max-bytes` (0: no limit but listpacks' own).
    pub stream_node_bytes: usize,
    /// `stream-node-max-entries` (0: no limit).
    pub stream_node_entries: usize,
}

impl Default for EncodingLimits {
    fn default() -> Self {
        // Redis 7.0's defaults (hash-max-listpack-entries is 512).
        EncodingLimits {
            hash_entries: 512,
            hash_value: 64,
            set_intset_entries: 512,
            zset_entries: 128,
            zset_value: 64,
            stream_node_bytes: 4096,
            stream_node_entries: 100,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Hash {
    /// Pairs in listpack order, packed in one block (`n` pairs); `lp` is
    /// the listpack's byte length.
    Listpack {
        data: Packed,
        n: u32,
        lp: u32,
    },
    Table(Box<Table>),
}

/// A `hashtable`-encoded hash; `mem` is the bytes of the dict entries and
/// their sds strings.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub map: IndexMap<Vec<u8>, Vec<u8>, FixedState>,
    pub mem: usize,
}

/// A listpack's byte length in the 4 bytes `Listpack` keeps it in (a
/// listpack stays under 4 GiB: Redis converts one past 1 GiB).
fn lp_bytes(n: usize) -> u32 {
    n.min(u32::MAX as usize) as u32
}

fn pair_lp(f: &[u8], v: &[u8]) -> usize {
    mem::lp_entry_size(f) + mem::lp_entry_size(v)
}

fn pair_ht(f: &[u8], v: &[u8]) -> usize {
    mem::DICT_ENTRY + mem::sds_new_size(f.len()) + mem::sds_new_size(v.len())
}

/// The listpack's pairs with the byte offset of each field.
fn pairs(data: &Packed) -> impl Iterator<Item = (usize, &[u8], &[u8])> {
    let mut it = data.positions();
    std::iter::from_fn(move || {
        let (at, f) = it.next()?;
        let (_, v) = it.next()?;
        Some((at, f, v))
    })
}

impl Default for Hash {
    fn default() -> Self {
        Hash::new()
    }
}

impl Hash {
    pub fn new() -> Hash {
        Hash::Listpack {
            data: Packed::default(),
            n: 0,
            lp: mem::LP_EMPTY as u32,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Hash::Listpack { n, .. } => *n as usize,
            Hash::Table(t) => t.map.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Listpack { .. } => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn mem_size(&self) -> usize {
        match self {
            Hash::Listpack { lp, .. } => mem::ROBJ + mem::jemalloc_size(*lp as usize),
            Hash::Table(t) => mem::ROBJ + mem::DICT + mem::dict_slots_size(t.map.len()) + t.mem,
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Listpack { data, .. } => {
                pairs(data).find(|(_, f, _)| *f == field).map(|(_, _, v)| v)
            }
            Hash::Table(t) => t.map.get(field).map(Vec::as_slice),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// `hashTypeConvert` to a hash table (never back).
    pub fn convert(&mut self) {
        if let Hash::Listpack { data, n, .. } = self {
            let mut map = IndexMap::with_capacity_and_hasher(*n as usize, FixedState::default());
            let mut m = 0;
            for (_, f, v) in pairs(data) {
                m += pair_ht(f, v);
                map.insert(f.to_vec(), v.to_vec());
            }
            *self = Hash::Table(Box::new(Table { map, mem: m }));
        }
    }

    /// `hashTypeTryConversion`: any argument longer than the listpack limit
    /// turns the hash into a table before anything is written.
    pub fn try_conversion<'a>(
        &mut self,
        args: impl IntoIterator<Item = &'a [u8]>,
        lim: &EncodingLimits,
    ) {
        if matches!(self, Hash::Listpack { .. })
            && args.into_iter().any(|a| a.len() > lim.hash_value)
        {
            self.convert();
        }
    }

    /// `hashTypeSet`: true if the field existed (its value was replaced).
    pub fn set(&mut self, field: &[u8], value: Vec<u8>, lim: &EncodingLimits) -> bool {
        if matches!(self, Hash::Listpack { .. })
            && (field.len() > lim.hash_value || value.len() > lim.hash_value)
        {
            self.convert();
        }
        match self {
            Hash::Listpack { data, n, lp } => {
                let found = pairs(data)
                    .find(|(_, f, _)| *f == field)
                    .map(|(at, _, v)| (at, mem::lp_entry_size(v)));
                let update = match found {
                    Some((at, old)) => {
                        *lp = lp_bytes(
                            (*lp as usize).saturating_sub(old) + mem::lp_entry_size(&value),
                        );
                        data.splice(at, 2, &[field, &value]);
                        true
                    }
                    None => {
                        *lp = lp_bytes(*lp as usize + pair_lp(field, &value));
                        data.push(&[field, &value]);
                        *n += 1;
                        false
                    }
                };
                if *n as usize > lim.hash_entries {
                    self.convert();
                }
                update
            }
            Hash::Table(t) => {
                t.mem += pair_ht(field, &value);
                match t.map.get_mut(field) {
                    Some(old) => {
                        t.mem -= pair_ht(field, old);
                        *old = value;
                        true
                    }
                    None => {
                        t.map.insert(field.to_vec(), value);
                        false
                    }
                }
            }
        }
    }

    /// `hashTypeDelete`: true if the field was there.
    pub fn delete(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack { data, n, lp } => {
                let found = pairs(data)
                    .find(|(_, f, _)| *f == field)
                    .map(|(at, f, v)| (at, pair_lp(f, v)));
                match found {
                    Some((at, size)) => {
                        data.splice(at, 2, &[]);
                        *lp = lp_bytes((*lp as usize).saturating_sub(size));
                        *n -= 1;
                        true
                    }
                    None => false,
                }
            }
            Hash::Table(t) => match t.map.swap_remove_entry(field) {
                Some((f, v)) => {
                    t.mem -= pair_ht(&f, &v);
                    true
                }
                None => false,
            },
        }
    }

    /// Pairs in the encoding's iteration order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Listpack { data, .. } => Box::new(pairs(data).map(|(_, f, v)| (f, v))),
            Hash::Table(t) => Box::new(t.map.iter().map(|(f, v)| (f.as_slice(), v.as_slice()))),
        }
    }

    /// The pair at position `i` of the iteration order (random sampling).
    pub fn get_index(&self, i: usize) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Listpack { data, .. } => pairs(data).nth(i).map(|(_, f, v)| (f, v)),
            Hash::Table(t) => t
                .map
                .get_index(i)
                .map(|(f, v)| (f.as_slice(), v.as_slice())),
        }
    }

    /// The table of a `hashtable` encoding (HSCAN's cursor walk).
    pub fn table(&self) -> Option<&IndexMap<Vec<u8>, Vec<u8>, FixedState>> {
        match self {
            Hash::Table(t) => Some(&t.map),
            Hash::Listpack { .. } => None,
        }
    }

    /// Builds a hash from pairs (snapshot loading), choosing the encoding as
    /// repeated `hashTypeSet` would.
    pub fn from_pairs(pairs: Vec<(Vec<u8>, Vec<u8>)>, lim: &EncodingLimits) -> Hash {
        let mut h = Hash::new();
        for (f, v) in pairs {
            h.set(&f, v, lim);
        }
        h
    }
}
