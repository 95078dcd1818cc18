//! memcached's slab allocator, as a ledger: memory comes in 1 MB pages,
//! each page is cut into chunks of one slab class (96 bytes, then ×1.25,
//! 8-byte aligned, up to half a page), and an item takes a chunk of the
//! smallest class it fits. A class takes a new page while the memory limit
//! allows — and always its first one — and otherwise its own LRU must give
//! a chunk back (see `McNode::alloc_pull`). Items larger than the largest
//! chunk are stored as a header chunk plus a chain of data chunks, as
//! memcached's "chunked items".
//!
//! Only the accounting is kept (pages, free chunks, per-class counters):
//! item data lives in the node's hash table.

use serde::{Deserialize, Serialize};

/// `settings.slab_page_size` (-o slab_chunk_max's page).
pub const PAGE_SIZE: usize = 1024 * 1024;
/// `settings.slab_chunk_size_max`: half a page.
pub const CHUNK_MAX: usize = PAGE_SIZE / 2;
/// `sizeof(item)` + `settings.chunk_size` (48 + 48).
const SMALLEST: usize = 96;
/// `-f 1.25`.
const FACTOR: f64 = 1.25;
/// `MAX_NUMBER_OF_SLAB_CLASSES`.
const MAX_CLASSES: usize = 64;
/// `sizeof(item_chunk)` on 64-bit.
pub const CHUNK_HEADER: usize = 48;

/// Counters memcached keeps per slab class (`stats slabs`, `stats items`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ClassStats {
    pub get_hits: u64,
    pub set_cmds: u64,
    pub delete_hits: u64,
    pub incr_hits: u64,
    pub decr_hits: u64,
    pub cas_hits: u64,
    pub cas_badval: u64,
    pub touch_hits: u64,
    pub evicted: u64,
    pub evicted_nonzero: u64,
    /// Seconds the last evicted item had gone unaccessed.
    pub evicted_time: i64,
    pub evicted_unfetched: u64,
    pub outofmemory: u64,
    pub reclaimed: u64,
    pub expired_unfetched: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Class {
    /// Chunk size in bytes.
    pub size: usize,
    pub perslab: usize,
    pub pages: usize,
    /// Free chunks (memcached's `sl_curr`).
    pub free: usize,
    /// Items whose LRU is this class, and the sum of their `ntotal`.
    pub items: usize,
    pub requested: usize,
    pub stats: ClassStats,
}

#[derive(Clone, Debug)]
pub struct Slabs {
    /// Index 0 is memcached's global page pool (unused here); classes are
    /// 1..=largest.
    pub classes: Vec<Class>,
    pub largest: usize,
    /// Bytes of pages handed out (`total_malloced`).
    pub malloced: usize,
    /// `-m` in bytes; 0: no limit.
    pub limit: usize,
}

impl Slabs {
    /// memcached's `slabs_init` with the default factor and chunk sizes.
    pub fn new(limit: usize) -> Slabs {
        let mut classes = vec![Class::default()];
        let mut size = SMALLEST;
        let mut i = 0;
        while i + 1 < MAX_CLASSES - 1 {
            i += 1;
            if size as f64 >= CHUNK_MAX as f64 / FACTOR {
                break;
            }
            if !size.is_multiple_of(8) {
                size += 8 - size % 8;
            }
            classes.push(Class {
                size,
                perslab: PAGE_SIZE / size,
                ..Class::default()
            });
            size = (size as f64 * FACTOR) as usize;
        }
        // The last class holds the largest chunks.
        classes.push(Class {
            size: CHUNK_MAX,
            perslab: PAGE_SIZE / CHUNK_MAX,
            ..Class::default()
        });
        let largest = classes.len() - 1;
        Slabs {
            classes,
            largest,
            malloced: 0,
            limit,
        }
    }

    /// memcached's `slabs_clsid`: the class an object of `size` bytes goes
    /// to; 0 when it is larger than `item_size_max`.
    pub fn clsid(&self, size: usize, item_size_max: usize) -> usize {
        if size == 0 || size > item_size_max {
            return 0;
        }
        let mut res = 1;
        while size > self.classes[res].size {
            if res == self.largest {
                return self.largest;
            }
            res += 1;
        }
        res
    }

    /// A chunk from the class's free list, taking a new page if none is
    /// free and the limit allows (a class always gets its first page).
    pub fn alloc(&mut self, id: usize) -> bool {
        let limit = self.limit;
        let malloced = self.malloced;
        let c = &mut self.classes[id];
        if c.free == 0 {
            if limit != 0 && malloced + PAGE_SIZE > limit && c.pages > 0 {
                return false;
            }
            c.pages += 1;
            c.free += c.perslab;
            self.malloced += PAGE_SIZE;
        }
        c.free -= 1;
        true
    }

    pub fn free(&mut self, id: usize) {
        self.classes[id].free += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_memcacheds() {
        // `memcached -vv` prints: class 1 96 bytes, 2 120, 3 152, ..., 39 524288.
        let s = Slabs::new(64 << 20);
        assert_eq!(s.classes[1].size, 96);
        assert_eq!(s.classes[1].perslab, 10922);
        assert_eq!(s.classes[2].size, 120);
        assert_eq!(s.classes[3].size, 152);
        assert_eq!(s.largest, 39);
        assert_eq!(s.classes[38].size, 394_840);
        assert_eq!(s.classes[39].size, 524_288);
        assert_eq!(s.clsid(96, 1 << 20), 1);
        assert_eq!(s.clsid(97, 1 << 20), 2);
        assert_eq!(s.clsid(600_000, 1 << 20), 39);
        assert_eq!(s.clsid((1 << 20) + 1, 1 << 20), 0);
    }
}
