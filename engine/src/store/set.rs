//! The set type in Redis 7.0's two encodings: an `intset` (sorted integers,
//! 2, 4 or 8 bytes each, while every member is an integer and there are at
//! most `set-max-intset-entries`) and a `hashtable`.

use indexmap::IndexSet;

use crate::protocol::request::parse_i64_strict;
use crate::store::hash::EncodingLimits;
use crate::store::mem;
use crate::store::FixedState;

#[derive(Clone, Debug, PartialEq)]
pub enum Set {
    /// Sorted; `width` only grows (intsets never downgrade).
    Intset { ints: Vec<i64>, width: u8 },
    /// `mem` is the bytes of the dict entries and their sds strings.
    Table {
        members: IndexSet<Vec<u8>, FixedState>,
        mem: usize,
    },
}

fn width_of(v: i64) -> u8 {
    if v < i32::MIN as i64 || v > i32::MAX as i64 {
        8
    } else if v < i16::MIN as i64 || v > i16::MAX as i64 {
        4
    } else {
        2
    }
}

fn member_ht(m: &[u8]) -> usize {
    mem::DICT_ENTRY + mem::sds_new_size(m.len())
}

/// An integer member as Redis recognises one (`string2ll`).
pub fn as_int(m: &[u8]) -> Option<i64> {
    if m.len() > 20 {
        return None;
    }
    parse_i64_strict(m)
}

impl Set {
    /// `setTypeCreate`: an intset if the first member is an integer.
    pub fn for_member(first: &[u8]) -> Set {
        if as_int(first).is_some() {
            Set::Intset {
                ints: Vec::new(),
                width: 2,
            }
        } else {
            Set::table()
        }
    }

    pub fn table() -> Set {
        Set::Table {
            members: IndexSet::with_hasher(FixedState::default()),
            mem: 0,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Intset { ints, .. } => ints.len(),
            Set::Table { members, .. } => members.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Intset { .. } => "intset",
            Set::Table { .. } => "hashtable",
        }
    }

    pub fn mem_size(&self) -> usize {
        match self {
            Set::Intset { ints, width } => {
                mem::ROBJ + mem::jemalloc_size(8 + ints.len() * *width as usize)
            }
            Set::Table { members, mem: m } => {
                mem::ROBJ + mem::DICT + mem::dict_slots_size(members.len()) + m
            }
        }
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            Set::Intset { ints, .. } => as_int(m).is_some_and(|v| ints.binary_search(&v).is_ok()),
            Set::Table { members, .. } => members.contains(m),
        }
    }

    fn convert(&mut self) {
        if let Set::Intset { ints, .. } = self {
            let mut members = IndexSet::with_capacity_and_hasher(ints.len(), FixedState::default());
            let mut m = 0;
            for v in ints.iter() {
                let s = v.to_string().into_bytes();
                m += member_ht(&s);
                members.insert(s);
            }
            *self = Set::Table { members, mem: m };
        }
    }

    /// `setTypeAdd`: true if the member is new.
    pub fn add(&mut self, m: &[u8], lim: &EncodingLimits) -> bool {
        if let Set::Intset { ints, width } = self {
            match as_int(m) {
                Some(v) => {
                    let Err(at) = ints.binary_search(&v) else {
                        return false;
                    };
                    ints.insert(at, v);
                    *width = (*width).max(width_of(v));
                    if ints.len() > lim.set_intset_entries {
                        self.convert();
                    }
                    return true;
                }
                None => self.convert(),
            }
        }
        match self {
            Set::Table { members, mem: m2 } => {
                if members.insert(m.to_vec()) {
                    *m2 += member_ht(m);
                    true
                } else {
                    false
                }
            }
            Set::Intset { .. } => unreachable!("converted above"),
        }
    }

    /// `setTypeRemove`: true if the member was there.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            Set::Intset { ints, .. } => match as_int(m).map(|v| ints.binary_search(&v)) {
                Some(Ok(i)) => {
                    ints.remove(i);
                    true
                }
                _ => false,
            },
            Set::Table { members, mem: m2 } => {
                if members.swap_remove(m) {
                    *m2 -= member_ht(m);
                    true
                } else {
                    false
                }
            }
        }
    }

    /// The member at position `i` of the iteration order.
    pub fn get_index(&self, i: usize) -> Option<Vec<u8>> {
        match self {
            Set::Intset { ints, .. } => ints.get(i).map(|v| v.to_string().into_bytes()),
            Set::Table { members, .. } => members.get_index(i).cloned(),
        }
    }

    /// Members in iteration order (ascending for an intset).
    pub fn members(&self) -> Vec<Vec<u8>> {
        match self {
            Set::Intset { ints, .. } => ints.iter().map(|v| v.to_string().into_bytes()).collect(),
            Set::Table { members, .. } => members.iter().cloned().collect(),
        }
    }

    /// Builds a set from members (snapshot loading, *STORE results), as
    /// repeated `setTypeAdd` on `setTypeCreate(first)` would.
    pub fn from_members(ms: impl IntoIterator<Item = Vec<u8>>, lim: &EncodingLimits) -> Set {
        let mut it = ms.into_iter().peekable();
        let mut s = match it.peek() {
            Some(first) => Set::for_member(first),
            None => Set::Intset {
                ints: Vec::new(),
                width: 2,
            },
        };
        for m in it {
            s.add(&m, lim);
        }
        s
    }
}
