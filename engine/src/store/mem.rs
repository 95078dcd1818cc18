//! Memory accounting that tracks Redis's `used_memory` closely: the sizes of
//! the allocations Redis makes (robj, sds headers, dict entries) rounded up
//! to jemalloc's size classes, so `MEMORY USAGE` answers what Redis answers.

/// `sizeof(robj)`.
pub const ROBJ: usize = 16;
/// `sizeof(dictEntry)`.
pub const DICT_ENTRY: usize = 24;
/// Redis's `used_memory` right after start with an empty dataset (7.0, jemalloc).
pub const BASELINE_USED_MEMORY: usize = 870_000;

/// jemalloc's size class for a request of `n` bytes (x86_64, 16-byte quantum).
pub fn jemalloc_size(n: usize) -> usize {
    if n <= 8 {
        8
    } else if n <= 128 {
        n.div_ceil(16) * 16
    } else {
        let step = n.next_power_of_two() / 8;
        n.div_ceil(step) * step
    }
}

/// Header size of the sds type Redis picks for a string of length `len`.
pub fn sds_hdr(len: usize, allow_type5: bool) -> usize {
    // sdsnewlen never makes an empty type-5 sds: it is expected to grow.
    if len < 32 && len > 0 && allow_type5 {
        1
    } else if len < 256 {
        3
    } else if len < 65536 {
        5
    } else if (len as u64) < (1u64 << 32) {
        9
    } else {
        17
    }
}

/// Bytes jemalloc hands out for an sds of `len` created with `sdsnewlen`.
pub fn sds_new_size(len: usize) -> usize {
    jemalloc_size(sds_hdr(len, true) + len + 1)
}

/// Capacity (`sdsalloc`) of an sds fresh from `sdsnewlen`: the allocator's
/// usable size minus header and terminator; type-5 sds (< 32 bytes) have none spare.
pub fn sds_usable(len: usize) -> usize {
    let hdr = sds_hdr(len, true);
    if hdr == 1 {
        len
    } else {
        type_max(hdr, jemalloc_size(hdr + len + 1) - hdr - 1)
    }
}

/// An sds records at most what its header type can hold (`sdsTypeMaxSize`).
fn type_max(hdr: usize, usable: usize) -> usize {
    match hdr {
        3 => usable.min(0xff),
        5 => usable.min(0xffff),
        9 => (usable as u64).min(0xffff_ffff) as usize,
        _ => usable,
    }
}

/// Usable `alloc` of an sds grown by `sdsMakeRoomFor` to hold `newlen`
/// bytes (greedy: doubled below 1 MiB, +1 MiB above).
pub fn sds_grow_alloc(newlen: usize) -> usize {
    let want = if newlen < 1024 * 1024 {
        newlen * 2
    } else {
        newlen + 1024 * 1024
    };
    let hdr = sds_hdr(want, false);
    type_max(hdr, jemalloc_size(hdr + want + 1) - hdr - 1)
}

/// Bytes an sds with capacity `alloc` occupies (`sdsZmallocSize`).
pub fn sds_alloc_size(alloc: usize) -> usize {
    jemalloc_size(sds_hdr(alloc, false) + alloc + 1)
}

/// Bytes a key occupies in the main dict: its sds plus the dict entry.
pub fn key_size(key: &[u8]) -> usize {
    sds_new_size(key.len()) + DICT_ENTRY
}

/// Bytes of an empty listpack: the 6-byte header and the end byte.
pub const LP_EMPTY: usize = 7;

/// `sizeof(dict)` in Redis 7.0, as jemalloc hands it out.
pub const DICT: usize = 64;

/// Bytes one element takes in a listpack (`lpEncodeGetType` + backlen):
/// integers in canonical form are stored in 1–9 bytes, strings with a
/// 1, 2 or 5-byte length prefix.
pub fn lp_entry_size(b: &[u8]) -> usize {
    let enc = match crate::protocol::request::parse_i64_strict(b).filter(|_| b.len() <= 20) {
        Some(v) if (0..=127).contains(&v) => 1,
        Some(v) if (-4096..=4095).contains(&v) => 2,
        Some(v) if (-32768..=32767).contains(&v) => 3,
        Some(v) if (-8_388_608..=8_388_607).contains(&v) => 4,
        Some(v) if (i32::MIN as i64..=i32::MAX as i64).contains(&v) => 5,
        Some(_) => 9,
        None if b.len() < 64 => 1 + b.len(),
        None if b.len() < 4096 => 2 + b.len(),
        None => 5 + b.len(),
    };
    enc + lp_backlen(enc)
}

/// Bytes of an integer element in a listpack.
pub fn lp_int_size(v: i64) -> usize {
    lp_entry_size(v.to_string().as_bytes())
}

fn lp_backlen(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Bucket-array bytes of a dict holding `n` entries (power-of-two slots, at least 4).
pub fn dict_slots_size(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        8 * n.next_power_of_two().max(4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn size_classes() {
        for (n, want) in [
            (1, 8),
            (8, 8),
            (9, 16),
            (17, 32),
            (33, 48),
            (128, 128),
            (129, 160),
            (257, 320),
            (1025, 1280),
        ] {
            assert_eq!(jemalloc_size(n), want, "{n}");
        }
    }
}
