//! The list type. Redis 7.0 encodes every list as a `quicklist` (a linked
//! list of listpacks of up to 8 KB each); here it is a deque, with the
//! listpack bytes Redis would use tracked for memory accounting.

use std::collections::VecDeque;

use crate::store::mem;

/// `list-max-listpack-size -2`: 8 KB per quicklist node.
const NODE_BYTES: usize = 8192;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct List {
    pub items: VecDeque<Vec<u8>>,
    /// Sum of the elements' listpack entry sizes.
    lp: usize,
}

impl List {
    pub fn new() -> List {
        List::default()
    }
    pub fn from_items(items: impl IntoIterator<Item = Vec<u8>>) -> List {
        let items: VecDeque<Vec<u8>> = items.into_iter().collect();
        let lp = items.iter().map(|e| mem::lp_entry_size(e)).sum();
        List { items, lp }
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }
    /// Quicklist nodes Redis would have (8 KB listpacks).
    pub fn nodes(&self) -> usize {
        self.lp.div_ceil(NODE_BYTES).max(1)
    }
    pub fn mem_size(&self) -> usize {
        // robj + quicklist header, then per node its header (32) and a listpack.
        let nodes = self.lp.div_ceil(NODE_BYTES).max(1);
        mem::ROBJ + 48 + nodes * 32 + mem::jemalloc_size(self.lp + nodes * mem::LP_EMPTY)
    }
    pub fn push_front(&mut self, e: Vec<u8>) {
        self.lp += mem::lp_entry_size(&e);
        self.items.push_front(e);
    }
    pub fn push_back(&mut self, e: Vec<u8>) {
        self.lp += mem::lp_entry_size(&e);
        self.items.push_back(e);
    }
    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        let e = self.items.pop_front()?;
        self.lp -= mem::lp_entry_size(&e);
        Some(e)
    }
    pub fn pop_back(&mut self) -> Option<Vec<u8>> {
        let e = self.items.pop_back()?;
        self.lp -= mem::lp_entry_size(&e);
        Some(e)
    }
    pub fn insert(&mut self, i: usize, e: Vec<u8>) {
        self.lp += mem::lp_entry_size(&e);
        self.items.insert(i, e);
    }
    pub fn remove(&mut self, i: usize) -> Option<Vec<u8>> {
        let e = self.items.remove(i)?;
        self.lp -= mem::lp_entry_size(&e);
        Some(e)
    }
    pub fn replace(&mut self, i: usize, e: Vec<u8>) {
        self.lp = self.lp + mem::lp_entry_size(&e) - mem::lp_entry_size(&self.items[i]);
        self.items[i] = e;
    }
    /// Keeps only the elements at `[start, end]` (inclusive, in range).
    pub fn keep_range(&mut self, start: usize, end: usize) {
        self.items.truncate(end + 1);
        self.items.drain(..start);
        self.lp = self.items.iter().map(|e| mem::lp_entry_size(e)).sum();
    }
    /// Removes elements matching `f` (LREM); `count` 0 means all, negative from the tail.
    pub fn remove_matching(&mut self, elem: &[u8], count: i64) -> usize {
        let mut removed = 0usize;
        let limit = count.unsigned_abs() as usize;
        if count >= 0 {
            let mut i = 0;
            while i < self.items.len() && (limit == 0 || removed < limit) {
                if self.items[i] == elem {
                    self.remove(i);
                    removed += 1;
                } else {
                    i += 1;
                }
            }
        } else {
            let mut i = self.items.len();
            while i > 0 && removed < limit {
                i -= 1;
                if self.items[i] == elem {
                    self.remove(i);
                    removed += 1;
                }
            }
        }
        removed
    }
}
