//! A string kept inline when short. Nearly every attribute and text of a domain document
//! ("virtio", "0x0000", "8388608", "/guest/diskimage1") fits in 22 bytes, so reading,
//! copying and dropping a tree costs no allocation for them: the allocator was the larger
//! half of the time a definition took to parse and format.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::ops::Deref;

/// The longest string kept inline: what fits beside the length and the enum's tag in the
/// 24 bytes a `String` takes.
const INLINE: usize = 22;

/// An immutable string, inline up to [`INLINE`] bytes, else on the heap.
#[derive(Clone)]
pub struct SmallStr(Repr);

#[derive(Clone)]
enum Repr {
    /// Invariant: `bytes[..len]` is a whole `str`, copied from one in [`SmallStr::new`].
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    Heap(Box<str>),
}

impl SmallStr {
    pub fn new(s: &str) -> SmallStr {
        if s.len() > INLINE {
            return SmallStr(Repr::Heap(s.into()));
        }
        let mut bytes = [0; INLINE];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        SmallStr(Repr::Inline {
            len: s.len() as u8,
            bytes,
        })
    }

    /// A number in decimal, as libvirt writes counts and sizes, without the allocation
    /// `to_string` makes.
    pub fn from_u64(n: u64) -> SmallStr {
        SmallStr::decimal(false, n)
    }

    pub fn from_i64(n: i64) -> SmallStr {
        SmallStr::decimal(n < 0, n.unsigned_abs())
    }

    fn decimal(negative: bool, n: u64) -> SmallStr {
        let mut digits = [0u8; 21];
        let mut at = digits.len();
        let mut rest = n;
        loop {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        if negative {
            at -= 1;
            digits[at] = b'-';
        }
        let text = std::str::from_utf8(&digits[at..]).expect("ASCII digits");
        SmallStr::new(text)
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => {
                let bytes = &bytes[..usize::from(*len)];
                // SAFETY: by the invariant of `Repr::Inline`, these bytes are a copy of a
                // whole `str`, hence UTF-8. Checking again on every read would cost more
                // than the allocation the inline form saves: names and values are read on
                // every lookup.
                unsafe { std::str::from_utf8_unchecked(bytes) }
            }
            Repr::Heap(s) => s,
        }
    }
}

impl Default for SmallStr {
    fn default() -> Self {
        SmallStr::new("")
    }
}

impl Deref for SmallStr {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for SmallStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for SmallStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for SmallStr {
    fn from(s: &str) -> Self {
        SmallStr::new(s)
    }
}

impl From<&String> for SmallStr {
    fn from(s: &String) -> Self {
        SmallStr::new(s)
    }
}

impl From<String> for SmallStr {
    fn from(s: String) -> Self {
        if s.len() > INLINE {
            return SmallStr(Repr::Heap(s.into_boxed_str()));
        }
        SmallStr::new(&s)
    }
}

impl From<Cow<'_, str>> for SmallStr {
    fn from(s: Cow<'_, str>) -> Self {
        match s {
            Cow::Borrowed(s) => SmallStr::new(s),
            Cow::Owned(s) => SmallStr::from(s),
        }
    }
}

impl From<SmallStr> for String {
    fn from(s: SmallStr) -> Self {
        match s.0 {
            Repr::Heap(s) => s.into(),
            Repr::Inline { .. } => s.as_str().to_owned(),
        }
    }
}

impl PartialEq for SmallStr {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SmallStr {}

impl PartialEq<str> for SmallStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SmallStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for SmallStr {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl fmt::Debug for SmallStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SmallStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_strings_read_back() {
        for s in ["", "a", "0x0000", "é€😀", &"x".repeat(22), &"y".repeat(23)] {
            let small = SmallStr::new(s);
            assert_eq!(small.as_str(), s);
            assert_eq!(String::from(small.clone()), s);
            assert_eq!(SmallStr::from(s.to_owned()), small);
        }
        assert_eq!(
            std::mem::size_of::<SmallStr>(),
            std::mem::size_of::<String>()
        );
    }

    #[test]
    fn numbers_are_decimal() {
        for n in [0, 7, 10, 8388608, u64::MAX] {
            assert_eq!(SmallStr::from_u64(n).as_str(), n.to_string());
        }
        for n in [0, -1, 42, i64::MIN, i64::MAX] {
            assert_eq!(SmallStr::from_i64(n).as_str(), n.to_string());
        }
    }
}
