//! Listpack serialisation (listpack.c): the byte form RDB files carry for
//! stream nodes. Elements are integers or strings; a string that reads as
//! a canonical 64-bit integer is stored as the integer, as `lpAppend` does.

/// One listpack element.
#[derive(Clone, Debug, PartialEq)]
pub enum Elem {
    Int(i64),
    Str(Vec<u8>),
}

impl Elem {
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Elem::Int(v) => v.to_string().into_bytes(),
            Elem::Str(s) => s.clone(),
        }
    }
    pub fn int(&self) -> Option<i64> {
        match self {
            Elem::Int(v) => Some(*v),
            Elem::Str(s) => crate::protocol::request::parse_i64_strict(s),
        }
    }
}

fn backlen(out: &mut Vec<u8>, l: usize) {
    let l = l as u64;
    if l <= 127 {
        out.push(l as u8);
    } else if l < 16383 {
        out.extend_from_slice(&[(l >> 7) as u8, ((l & 127) | 128) as u8]);
    } else if l < 2097151 {
        out.extend_from_slice(&[
            (l >> 14) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]);
    } else if l < 268435455 {
        out.extend_from_slice(&[
            (l >> 21) as u8,
            (((l >> 14) & 127) | 128) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]);
    } else {
        out.extend_from_slice(&[
            (l >> 28) as u8,
            (((l >> 21) & 127) | 128) as u8,
            (((l >> 14) & 127) | 128) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]);
    }
}

fn encode_int(out: &mut Vec<u8>, v: i64) {
    let start = out.len();
    if (0..=127).contains(&v) {
        out.push(v as u8);
    } else if (-4096..=4095).contains(&v) {
        let u = (v as u64) & 0x1fff;
        out.extend_from_slice(&[0xC0 | (u >> 8) as u8, u as u8]);
    } else if (-32768..=32767).contains(&v) {
        out.push(0xF1);
        out.extend_from_slice(&(v as i16).to_le_bytes());
    } else if (-8388608..=8388607).contains(&v) {
        out.push(0xF2);
        out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
    } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
        out.push(0xF3);
        out.extend_from_slice(&(v as i32).to_le_bytes());
    } else {
        out.push(0xF4);
        out.extend_from_slice(&v.to_le_bytes());
    }
    let l = out.len() - start;
    backlen(out, l);
}

fn encode_str(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= 20 {
        if let Some(v) = crate::protocol::request::parse_i64_strict(s) {
            return encode_int(out, v);
        }
    }
    let start = out.len();
    let n = s.len();
    if n < 64 {
        out.push(0x80 | n as u8);
    } else if n < 4096 {
        out.extend_from_slice(&[0xE0 | (n >> 8) as u8, n as u8]);
    } else {
        out.push(0xF0);
        out.extend_from_slice(&(n as u32).to_le_bytes());
    }
    out.extend_from_slice(s);
    let l = out.len() - start;
    backlen(out, l);
}

/// A whole listpack holding `elems`.
pub fn encode(elems: &[Elem]) -> Vec<u8> {
    let mut out = vec![0u8; 6];
    for e in elems {
        match e {
            Elem::Int(v) => encode_int(&mut out, *v),
            Elem::Str(s) => encode_str(&mut out, s),
        }
    }
    out.push(0xFF);
    let total = out.len() as u32;
    out[..4].copy_from_slice(&total.to_le_bytes());
    let n = elems.len().min(65535) as u16;
    out[4..6].copy_from_slice(&n.to_le_bytes());
    out
}

/// The elements of a listpack, or `None` if it is malformed.
pub fn decode(lp: &[u8]) -> Option<Vec<Elem>> {
    if lp.len() < 7 || u32::from_le_bytes(lp[..4].try_into().ok()?) as usize != lp.len() {
        return None;
    }
    let mut out = Vec::new();
    let mut p = 6;
    loop {
        let b = *lp.get(p)?;
        if b == 0xFF {
            return (p + 1 == lp.len()).then_some(out);
        }
        let take = |from: usize, n: usize| lp.get(from..from + n);
        let (elem, len) = if b & 0x80 == 0 {
            (Elem::Int(i64::from(b)), 1)
        } else if b & 0xC0 == 0x80 {
            let n = usize::from(b & 0x3F);
            (Elem::Str(take(p + 1, n)?.to_vec()), 1 + n)
        } else if b & 0xE0 == 0xC0 {
            let u = (u64::from(b & 0x1F) << 8) | u64::from(*lp.get(p + 1)?);
            let v = if u >= 1 << 12 {
                u as i64 - (1 << 13)
            } else {
                u as i64
            };
            (Elem::Int(v), 2)
        } else if b & 0xF0 == 0xE0 {
            let n = (usize::from(b & 0x0F) << 8) | usize::from(*lp.get(p + 1)?);
            (Elem::Str(take(p + 2, n)?.to_vec()), 2 + n)
        } else {
            match b {
                0xF1 => (
                    Elem::Int(i64::from(i16::from_le_bytes(
                        take(p + 1, 2)?.try_into().ok()?,
                    ))),
                    3,
                ),
                0xF2 => {
                    let t = take(p + 1, 3)?;
                    let v = i32::from_le_bytes([0, t[0], t[1], t[2]]) >> 8;
                    (Elem::Int(i64::from(v)), 4)
                }
                0xF3 => (
                    Elem::Int(i64::from(i32::from_le_bytes(
                        take(p + 1, 4)?.try_into().ok()?,
                    ))),
                    5,
                ),
                0xF4 => (
                    Elem::Int(i64::from_le_bytes(take(p + 1, 8)?.try_into().ok()?)),
                    9,
                ),
                0xF0 => {
                    let n = u32::from_le_bytes(take(p + 1, 4)?.try_into().ok()?) as usize;
                    (Elem::Str(take(p + 5, n)?.to_vec()), 5 + n)
                }
                _ => return None,
            }
        };
        let mut bl = Vec::new();
        backlen(&mut bl, len);
        p += len + bl.len();
        out.push(elem);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_memory_model_and_elements_round_trip() {
        let elems = vec![
            Elem::Int(0),
            Elem::Int(127),
            Elem::Int(-1),
            Elem::Int(4095),
            Elem::Int(-4096),
            Elem::Int(30000),
            Elem::Int(-8388608),
            Elem::Int(1 << 30),
            Elem::Int(i64::MIN),
            Elem::Str(b"".to_vec()),
            Elem::Str(vec![b'x'; 63]),
            Elem::Str(vec![b'y'; 64]),
            Elem::Str(vec![b'z'; 5000]),
            Elem::Str(b"12".to_vec()),
        ];
        let lp = encode(&elems);
        let model: usize = 7 + elems
            .iter()
            .map(|e| crate::store::mem::lp_entry_size(&e.bytes()))
            .sum::<usize>();
        assert_eq!(lp.len(), model);
        let back = decode(&lp).unwrap();
        assert_eq!(back.len(), elems.len());
        for (a, b) in back.iter().zip(&elems) {
            assert_eq!(a.bytes(), b.bytes());
        }
    }
}
