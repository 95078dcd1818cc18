//! Keys by hash slot, for cluster mode: `key_slot` (CRC16 of the key, or of
//! its `{hash tag}`, mod 16384) and [`SlotIndex`], Redis 7.0's
//! `slots_to_keys` — a count and a list per slot, newest key first, so
//! CLUSTER COUNTKEYSINSLOT is O(1) and GETKEYSINSLOT O(count). The lists
//! are doubly linked through the keys' positions in the database's table,
//! kept right as the table moves its last key into a removed key's place.

use crate::crc16::crc16;

pub const SLOTS: usize = 16384;
const NIL: u32 = u32::MAX;

/// `keyHashSlot`: the slot of `key`; only what is between the first `{`
/// and the next `}` is hashed, if that is not empty.
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|&c| c == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            rest.iter()
                .position(|&c| c == b'}')
                .filter(|&close| close > 0)
                .map(|close| &rest[..close])
        })
        .unwrap_or(key);
    crc16(hashed) & (SLOTS as u16 - 1)
}

#[derive(Clone, Debug, PartialEq)]
pub struct SlotIndex {
    head: Vec<u32>,
    count: Vec<u32>,
    /// (previous, next) in its slot's list, by position in the table.
    links: Vec<(u32, u32)>,
}

impl Default for SlotIndex {
    fn default() -> Self {
        SlotIndex::new()
    }
}

impl SlotIndex {
    pub fn new() -> SlotIndex {
        SlotIndex {
            head: vec![NIL; SLOTS],
            count: vec![0; SLOTS],
            links: Vec::new(),
        }
    }

    /// A key was appended to the table at position `pos` (the end).
    pub fn added(&mut self, slot: u16, pos: usize) {
        debug_assert_eq!(pos, self.links.len());
        let s = slot as usize;
        let first = self.head[s];
        self.links.push((NIL, first));
        if first != NIL {
            self.links[first as usize].0 = pos as u32;
        }
        self.head[s] = pos as u32;
        self.count[s] += 1;
    }

    /// The key at `pos` (of `slot`) was removed and the table moved its
    /// last key (of slot `moved`, if `pos` was not the last) into `pos`.
    pub fn removed(&mut self, slot: u16, pos: usize, moved: Option<u16>) {
        let (p, n) = self.links[pos];
        if p != NIL {
            self.links[p as usize].1 = n;
        } else {
            self.head[slot as usize] = n;
        }
        if n != NIL {
            self.links[n as usize].0 = p;
        }
        self.count[slot as usize] -= 1;
        let last = self.links.len() - 1;
        if let Some(ms) = moved.filter(|_| pos != last) {
            let (p, n) = self.links[last];
            self.links[pos] = (p, n);
            if p != NIL {
                self.links[p as usize].1 = pos as u32;
            } else {
                self.head[ms as usize] = pos as u32;
            }
            if n != NIL {
                self.links[n as usize].0 = pos as u32;
            }
        }
        self.links.pop();
    }

    pub fn clear(&mut self) {
        *self = SlotIndex::new();
    }

    pub fn count(&self, slot: u16) -> usize {
        self.count[slot as usize] as usize
    }

    /// Table positions of up to `max` keys of `slot`, newest first.
    pub fn positions(&self, slot: u16, max: usize) -> Vec<usize> {
        let mut out = Vec::with_capacity(max.min(self.count(slot)));
        let mut at = self.head[slot as usize];
        while at != NIL && out.len() < max {
            out.push(at as usize);
            at = self.links[at as usize].1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_tags_as_redis_reads_them() {
        // Values from `redis-cli CLUSTER KEYSLOT`.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_ne!(key_slot(b"foo{}{bar}"), key_slot(b"bar"));
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
        assert_eq!(key_slot(b"foo{bar}{zap}"), key_slot(b"bar"));
        assert_eq!(key_slot(b"{"), crc16(b"{") & 16383);
    }

    /// The index against a model table that removes as IndexMap's
    /// swap_remove does.
    #[test]
    fn lists_follow_a_swap_removing_table() {
        let mut table: Vec<Vec<u8>> = Vec::new();
        let mut idx = SlotIndex::new();
        let mut order: Vec<Vec<u8>> = Vec::new(); // insertion order, newest last
        let mut seed = 11u64;
        for step in 0..20_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = format!("{{t{}}}k{}", (seed >> 40) % 4, (seed >> 20) % 300).into_bytes();
            if let Some(pos) = table.iter().position(|x| *x == k) {
                let slot = key_slot(&k);
                table.swap_remove(pos);
                let moved = table.get(pos).map(|m| key_slot(m));
                idx.removed(slot, pos, moved);
                order.retain(|x| *x != k);
            } else {
                table.push(k.clone());
                idx.added(key_slot(&k), table.len() - 1);
                order.push(k);
            }
            if step % 101 == 0 {
                for tag in 0..4 {
                    let slot = key_slot(format!("t{tag}").as_bytes());
                    let want: Vec<&Vec<u8>> =
                        order.iter().rev().filter(|k| key_slot(k) == slot).collect();
                    assert_eq!(idx.count(slot), want.len());
                    let got: Vec<&Vec<u8>> = idx
                        .positions(slot, usize::MAX)
                        .into_iter()
                        .map(|p| &table[p])
                        .collect();
                    assert_eq!(got, want, "step {step}");
                    assert_eq!(idx.positions(slot, 3).len(), want.len().min(3));
                }
            }
        }
    }
}
