//! The hash type in Redis 7.0's two encodings: a `listpack` (field/value
//! pairs in insertion order, while small) and a `hashtable`. The memory
//! figure Redis would hold is kept up to date on every change, so reading
//! it is O(1).

use indexmap::IndexMap;

use crate::store::mem;
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
        EncodingLimits {
            hash_entries: 128,
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
    /// Pairs in listpack order; `lp` is the listpack's byte length.
    Listpack {
        items: Vec<(Vec<u8>, Vec<u8>)>,
        lp: usize,
    },
    /// `mem` is the bytes of the dict entries and their sds strings.
    Table {
        map: IndexMap<Vec<u8>, Vec<u8>, FixedState>,
        mem: usize,
    },
}

fn pair_lp(f: &[u8], v: &[u8]) -> usize {
    mem::lp_entry_size(f) + mem::lp_entry_size(v)
}

fn pair_ht(f: &[u8], v: &[u8]) -> usize {
    mem::DICT_ENTRY + mem::sds_new_size(f.len()) + mem::sds_new_size(v.len())
}

impl Default for Hash {
    fn default() -> Self {
        Hash::new()
    }
}

impl Hash {
    pub fn new() -> Hash {
        Hash::Listpack {
            items: Vec::new(),
            lp: mem::LP_EMPTY,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Hash::Listpack { items, .. } => items.len(),
            Hash::Table { map, .. } => map.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Listpack { .. } => "listpack",
            Hash::Table { .. } => "hashtable",
        }
    }

    pub fn mem_size(&self) -> usize {
        match self {
            Hash::Listpack { lp, .. } => mem::ROBJ + mem::jemalloc_size(*lp),
            Hash::Table { map, mem: m } => {
                mem::ROBJ + mem::DICT + mem::dict_slots_size(map.len()) + m
            }
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Listpack { items, .. } => items
                .iter()
                .find(|(f, _)| f.as_slice() == field)
                .map(|(_, v)| v.as_slice()),
            Hash::Table { map, .. } => map.get(field).map(Vec::as_slice),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// `hashTypeConvert` to a hash table (never back).
    pub fn convert(&mut self) {
        if let Hash::Listpack { items, .. } = self {
            let mut map = IndexMap::with_capacity_and_hasher(items.len(), FixedState::default());
            let mut m = 0;
            for (f, v) in items.drain(..) {
                m += pair_ht(&f, &v);
                map.insert(f, v);
            }
            *self = Hash::Table { map, mem: m };
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
            Hash::Listpack { items, lp } => {
                let update = if let Some(slot) = items.iter_mut().find(|(f, _)| f == field) {
                    *lp = *lp - mem::lp_entry_size(&slot.1) + mem::lp_entry_size(&value);
                    slot.1 = value;
                    true
                } else {
                    *lp += pair_lp(field, &value);
                    items.push((field.to_vec(), value));
                    false
                };
                if items.len() > lim.hash_entries {
                    self.convert();
                }
                update
            }
            Hash::Table { map, mem: m } => {
                *m += pair_ht(field, &value);
                match map.get_mut(field) {
                    Some(old) => {
                        *m -= pair_ht(field, old);
                        *old = value;
                        true
                    }
                    None => {
                        map.insert(field.to_vec(), value);
                        false
                    }
                }
            }
        }
    }

    /// `hashTypeDelete`: true if the field was there.
    pub fn delete(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack { items, lp } => match items.iter().position(|(f, _)| f == field) {
                Some(i) => {
                    let (f, v) = items.remove(i);
                    *lp -= pair_lp(&f, &v);
                    true
                }
                None => false,
            },
            Hash::Table { map, mem: m } => match map.swap_remove_entry(field) {
                Some((f, v)) => {
                    *m -= pair_ht(&f, &v);
                    true
                }
                None => false,
            },
        }
    }

    /// Pairs in the encoding's iteration order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Listpack { items, .. } => {
                Box::new(items.iter().map(|(f, v)| (f.as_slice(), v.as_slice())))
            }
            Hash::Table { map, .. } => {
                Box::new(map.iter().map(|(f, v)| (f.as_slice(), v.as_slice())))
            }
        }
    }

    /// The pair at position `i` of the iteration order (random sampling).
    pub fn get_index(&self, i: usize) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Listpack { items, .. } => items.get(i).map(|(f, v)| (f.as_slice(), v.as_slice())),
            Hash::Table { map, .. } => map.get_index(i).map(|(f, v)| (f.as_slice(), v.as_slice())),
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
