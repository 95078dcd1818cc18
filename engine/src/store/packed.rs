//! Strings packed back to back in one allocation, each behind its length
//! (LEB128): the in-memory form of a small (listpack-encoded) collection,
//! so three fields of a hash cost one heap block, as a listpack does,
//! instead of one per string.

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Packed {
    buf: Vec<u8>,
}

fn put_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn len_size(mut n: usize) -> usize {
    let mut k = 1;
    while n >= 0x80 {
        n >>= 7;
        k += 1;
    }
    k
}

impl Packed {
    /// Every string in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            buf: &self.buf,
            at: 0,
        }
    }

    /// Appends strings, growing the block by exactly what they need.
    pub fn push(&mut self, items: &[&[u8]]) {
        let add: usize = items.iter().map(|s| len_size(s.len()) + s.len()).sum();
        self.buf.reserve_exact(add);
        for s in items {
            put_len(&mut self.buf, s.len());
            self.buf.extend_from_slice(s);
        }
    }

    /// Replaces the `count` strings starting at byte `at` with `items`.
    pub fn splice(&mut self, at: usize, count: usize, items: &[&[u8]]) {
        let mut it = Iter { buf: &self.buf, at };
        for _ in 0..count {
            it.next();
        }
        let end = it.at;
        let mut enc = Vec::new();
        for s in items {
            put_len(&mut enc, s.len());
            enc.extend_from_slice(s);
        }
        self.buf.splice(at..end, enc);
        if self.buf.capacity() > self.buf.len() + 64 {
            self.buf.shrink_to_fit();
        }
    }

    /// The byte offsets of the strings, with the strings.
    pub fn positions(&self) -> impl Iterator<Item = (usize, &[u8])> {
        let mut it = self.iter();
        std::iter::from_fn(move || {
            let at = it.at;
            it.next().map(|s| (at, s))
        })
    }
}

pub struct Iter<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.at >= self.buf.len() {
            return None;
        }
        let mut n = 0usize;
        let mut shift = 0;
        loop {
            let b = self.buf[self.at];
            self.at += 1;
            n |= ((b & 0x7f) as usize) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let s = &self.buf[self.at..self.at + n];
        self.at += n;
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_splice_and_iterate() {
        let mut p = Packed::default();
        let long = vec![b'x'; 300];
        p.push(&[b"a", b"1", &long, b""]);
        assert_eq!(
            p.iter().collect::<Vec<_>>(),
            vec![&b"a"[..], b"1", &long[..], b""]
        );
        let (at, _) = p.positions().nth(2).unwrap();
        p.splice(at, 2, &[b"c", b"33"]);
        assert_eq!(
            p.iter().collect::<Vec<_>>(),
            vec![&b"a"[..], b"1", b"c", b"33"]
        );
        p.splice(0, 2, &[]);
        assert_eq!(p.iter().collect::<Vec<_>>(), vec![&b"c"[..], b"33"]);
    }
}
