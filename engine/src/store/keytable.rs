//! A database's key table: keys → entries in insertion order, positions
//! that only `swap_remove` changes (the last entry moves down into the
//! hole), as `IndexMap` keeps them, for a third less memory a key.
//!
//! `IndexMap` stores each key's 8-byte hash beside it and indexes the
//! entries with `usize`s; this table recomputes a hash when it needs one
//! (growing, or re-pointing the entry a removal moved) and indexes with
//! `u32`s. At 1,000,000 keys that is 16 bytes a key less: 8 in the entry
//! array (no hash beside the key) and 8 in the index (2^21 slots of 4
//! bytes instead of 8), which is what puts a small string's RSS below
//! redis-server's. A database holds fewer than 2^32 keys (that many would
//! take some 300 GB).

use std::hash::BuildHasher;
use std::ops::{Index, IndexMut};

use hashbrown::HashTable;

use crate::store::db::SeededState;
use crate::store::smallbytes::SmallBytes;

#[derive(Clone)]
pub struct KeyTable<V> {
    entries: Vec<(SmallBytes, V)>,
    /// Positions in `entries`, found by their key's hash.
    index: HashTable<u32>,
    state: SeededState,
}

fn hash(state: &SeededState, key: &[u8]) -> u64 {
    state.hash_one(key)
}

fn pos(i: usize) -> u32 {
    u32::try_from(i).expect("fewer than 2^32 keys in a database")
}

impl<V> KeyTable<V> {
    pub fn with_hasher(state: SeededState) -> Self {
        KeyTable {
            entries: Vec::new(),
            index: HashTable::new(),
            state,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.index.clear();
    }

    /// The position of `key`.
    pub fn get_index_of(&self, key: &[u8]) -> Option<usize> {
        let entries = &self.entries;
        self.index
            .find(hash(&self.state, key), |&i| *entries[i as usize].0 == *key)
            .map(|&i| i as usize)
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.get_index_of(key).map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let i = self.get_index_of(key)?;
        Some(&mut self.entries[i].1)
    }

    /// The position, key and value of `key`.
    pub fn get_full_mut(&mut self, key: &[u8]) -> Option<(usize, &SmallBytes, &mut V)> {
        let i = self.get_index_of(key)?;
        let (k, v) = &mut self.entries[i];
        Some((i, k, v))
    }

    pub fn get_index(&self, i: usize) -> Option<(&SmallBytes, &V)> {
        self.entries.get(i).map(|(k, v)| (k, v))
    }

    /// Adds a key that is not in the table, at the end; its position.
    pub fn push_new(&mut self, key: SmallBytes, value: V) -> usize {
        debug_assert!(
            self.get_index_of(&key).is_none(),
            "push_new of a present key"
        );
        let at = self.entries.len();
        let h = hash(&self.state, &key);
        let (entries, state) = (&self.entries, &self.state);
        self.index
            .insert_unique(h, pos(at), |&i| hash(state, &entries[i as usize].0));
        self.entries.push((key, value));
        at
    }

    /// Removes `key`; the last entry moves into its position (returned).
    pub fn swap_remove_full(&mut self, key: &[u8]) -> Option<(usize, SmallBytes, V)> {
        let h = hash(&self.state, key);
        let entries = &self.entries;
        let found = self
            .index
            .find_entry(h, |&i| *entries[i as usize].0 == *key)
            .ok()?;
        let (i, _) = found.remove();
        let i = i as usize;
        let last = self.entries.len() - 1;
        if i != last {
            // Re-point the last entry's index slot at its new position.
            let moved = hash(&self.state, &self.entries[last].0);
            let slot = self
                .index
                .find_mut(moved, |&j| j as usize == last)
                .expect("every entry is indexed");
            *slot = pos(i);
        }
        let (k, v) = self.entries.swap_remove(i);
        Some((i, k, v))
    }

    /// Every entry in position order.
    pub fn iter(&self) -> impl Iterator<Item = (&SmallBytes, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &SmallBytes> {
        self.entries.iter().map(|(k, _)| k)
    }
}

impl<V> Index<usize> for KeyTable<V> {
    type Output = V;
    fn index(&self, i: usize) -> &V {
        &self.entries[i].1
    }
}

impl<V> IndexMut<usize> for KeyTable<V> {
    fn index_mut(&mut self, i: usize) -> &mut V {
        &mut self.entries[i].1
    }
}

impl<V: std::fmt::Debug> std::fmt::Debug for KeyTable<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Positions and lookups agree with a plain model through random
    /// inserts and swap_removes (every removal moves the last entry).
    #[test]
    fn positions_move_only_by_swap_remove() {
        let mut t: KeyTable<u64> = KeyTable::with_hasher(SeededState(3));
        let mut model: Vec<(Vec<u8>, u64)> = Vec::new();
        let mut x = 12345u64;
        for step in 0..50_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = format!("key:{}", (x >> 33) % 2000).into_bytes();
            match model.iter().position(|(m, _)| *m == k) {
                Some(i) if step % 3 != 0 => {
                    let (at, rk, v) = t.swap_remove_full(&k).expect("present");
                    assert_eq!((at, &*rk, v), (i, k.as_slice(), model[i].1));
                    model.swap_remove(i);
                }
                Some(i) => {
                    *t.get_mut(&k).expect("present") = step;
                    model[i].1 = step;
                }
                None => {
                    assert_eq!(t.push_new(SmallBytes::new(&k), step), model.len());
                    model.push((k, step));
                }
            }
        }
        assert_eq!(t.len(), model.len());
        for (i, (k, v)) in model.iter().enumerate() {
            assert_eq!(t.get_index_of(k), Some(i));
            assert_eq!(t[i], *v);
            assert_eq!(&**t.get_index(i).expect("in range").0, k.as_slice());
        }
        assert!(t.get(b"absent").is_none());
        t.clear();
        assert!(t.is_empty() && t.get(b"key:1").is_none());
    }
}
