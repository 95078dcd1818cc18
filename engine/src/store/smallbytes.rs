//! `SmallBytes`: a byte string kept inline when short (up to 22 bytes, as
//! most keys and sorted-set members are) and boxed when longer, so a short string
//! costs no allocation of its own and no pointer to follow when compared.

use std::ops::Deref;

const INLINE: usize = 22;

#[derive(Clone)]
pub enum SmallBytes {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl SmallBytes {
    pub fn new(b: &[u8]) -> SmallBytes {
        if b.len() <= INLINE {
            let mut buf = [0; INLINE];
            buf[..b.len()].copy_from_slice(b);
            SmallBytes::Inline {
                len: b.len() as u8,
                buf,
            }
        } else {
            SmallBytes::Heap(b.into())
        }
    }

    /// Takes `v`'s allocation when the string is too long to sit inline.
    pub fn from_vec(v: Vec<u8>) -> SmallBytes {
        if v.len() <= INLINE {
            SmallBytes::new(&v)
        } else {
            SmallBytes::Heap(v.into_boxed_slice())
        }
    }
}

impl Default for SmallBytes {
    fn default() -> SmallBytes {
        SmallBytes::Inline {
            len: 0,
            buf: [0; INLINE],
        }
    }
}

impl Deref for SmallBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            SmallBytes::Inline { len, buf } => &buf[..*len as usize],
            SmallBytes::Heap(b) => b,
        }
    }
}

impl PartialEq for SmallBytes {
    fn eq(&self, other: &SmallBytes) -> bool {
        **self == **other
    }
}

impl Eq for SmallBytes {}

/// Hashes as the slice does, so a map keyed by `SmallBytes` is searched
/// with a `&[u8]` (`Borrow`).
impl std::hash::Hash for SmallBytes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl std::borrow::Borrow<[u8]> for SmallBytes {
    fn borrow(&self) -> &[u8] {
        self
    }
}

impl std::fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_sit_inline_long_ones_are_boxed() {
        assert_eq!(std::mem::size_of::<SmallBytes>(), 24);
        for n in [0, 1, 21, 22, 23, 100] {
            let v: Vec<u8> = (0..n as u8).collect();
            for s in [SmallBytes::new(&v), SmallBytes::from_vec(v.clone())] {
                assert_eq!(&*s, v.as_slice());
                assert_eq!(matches!(s, SmallBytes::Inline { .. }), n <= INLINE);
            }
        }
        assert_eq!(SmallBytes::new(b"ab"), SmallBytes::from_vec(b"ab".to_vec()));
        assert_ne!(SmallBytes::new(b"ab"), SmallBytes::new(b"abc"));
    }
}
