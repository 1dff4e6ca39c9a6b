//! The byte form of a payload view ([`super::PayloadView`]): what the record reads of a
//! payload, written once when the event is appended so a replay decodes it instead of
//! parsing the payload's JSON again for every replay.
//!
//! Written by hand rather than with a serde binary format: the record's types skip absent
//! fields when they serialise to JSON (`skip_serializing_if`), which a schemaless binary
//! format cannot read back, and a personal text is read from JSON through `deserialize_any`.
//! The form is simple on purpose: unsigned integers as LEB128, floats as their 8 bytes
//! little-endian, text as its byte length then its UTF-8 bytes, an optional value as 0 or 1
//! then the value, a list as its length then its items. Pure: no IO.

use super::record::{Party, Resident, Votes};
use crate::privacy::PersonalText;
use crate::text::LocalizedText;

/// Appends values to a view's bytes.
pub(crate) struct Writer<'a>(pub &'a mut Vec<u8>);

impl Writer<'_> {
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    pub fn u64(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    pub fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    pub fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    pub fn put<T: Codec>(&mut self, v: &T) {
        v.put(self);
    }
}

/// Reads values back; every read is `None` on bytes that end early or are not what was
/// written (a view that does not decode is not used: the fold parses the payload instead).
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    /// Whether every byte was read.
    pub fn is_done(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(b)
    }

    pub fn u64(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            // The tenth byte holds bit 63 only: anything more would not fit.
            if shift == 63 && b > 1 {
                return None;
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    pub fn f64(&mut self) -> Option<f64> {
        let (b, rest) = self.bytes.split_first_chunk::<8>()?;
        self.bytes = rest;
        Some(f64::from_le_bytes(*b))
    }

    pub fn str(&mut self) -> Option<&'a str> {
        let n = usize::try_from(self.u64()?).ok()?;
        let (s, rest) = self.bytes.split_at_checked(n)?;
        self.bytes = rest;
        std::str::from_utf8(s).ok()
    }

    pub fn take<T: Codec>(&mut self) -> Option<T> {
        T::take(self)
    }
}

/// A value with a byte form.
pub(crate) trait Codec: Sized {
    fn put(&self, w: &mut Writer<'_>);
    fn take(r: &mut Reader<'_>) -> Option<Self>;
}

impl Codec for u64 {
    fn put(&self, w: &mut Writer<'_>) {
        w.u64(*self);
    }
    fn take(r: &mut Reader<'_>) -> Option<Self> {
        r.u64()
    }
}

impl Codec for f64 {
    fn put(&self, w: &mut Writer<'_>) {
        w.f64(*self);
    }
    fn take(r: &mut Reader<'_>) -> Option<Self> {
        r.f64()
    }
}

impl Codec for String {
    fn put(&self, w: &mut Writer<'_>) {
        w.str(self);
    }
    fn take(r: &mut Reader<'_>) -> Option<Self> {
        r.str().map(str::to_string)
    }
}

// Ids, roles and other short fields: up to 24 bytes are held inline, without an allocation.
impl Codec for compact_str::CompactString {
    fn put(&self, w: &mut Writer<'_>) {
        w.str(self);
    }
    fn take(r: &mut Reader<'_>) -> Option<Self> {
        r.str().map(compact_str::CompactString::new)
    }
}

impl<T: Codec> Codec for Option<T> {
    fn put(&self, w: &mut Writer<'_>) {
        match self {
            None => w.u8(0),
            Some(v) => {
                w.u8(1);
                v.put(w);
            }
        }
    }
    fn take(r: &mut Reader<'_>) -> Option<Self> {
        match r.u8()? {
            0 => Some(None),
            1 => Some(Some(T::take(r)?)),
            _ => None,
        }
    }
}

impl<T: Codec> Codec for Vec<T> {
    fn put(&self, w: &mut Writer<'_>) {
        w.u64(self.len() as u64);
        for v in self {
            v.put(w);
        }
    }
    fn take(r: &mut Reader<'_>) -> Option<Self> {
        let n = r.u64()?;
        // Never trust a length for an allocation: each item takes at least one byte.
        let mut v = Vec::with_capacity(usize::try_from(n).ok()?.min(r.bytes.len()));
        for _ in 0..n {
            v.push(T::take(r)?);
        }
        Some(v)
    }
}

/// A struct's byte form: its fields in the order listed, each in its own form. One list serves
/// both directions, so writing and reading cannot disagree on the order.
macro_rules! struct_codec {
    ($t:ident { $($f:ident),+ $(,)? }) => {
        impl $crate::issue::view_codec::Codec for $t {
            fn put(&self, w: &mut $crate::issue::view_codec::Writer<'_>) {
                $(w.put(&self.$f);)+
            }
            fn take(r: &mut $crate::issue::view_codec::Reader<'_>) -> Option<Self> {
                Some($t { $($f: r.take()?),+ })
            }
        }
    };
}
pub(crate) use struct_codec;

impl Codec for u32 {
    /// As a `u64`; one that does not fit is refused.
    fn put(&self, w: &mut Writer<'_>) {
        w.u64((*self).into());
    }
    fn take(r: &mut Reader<'_>) -> Option<Self> {
        u32::try_from(r.u64()?).ok()
    }
}

struct_codec!(LocalizedText { zh, en });
struct_codec!(Party { kind, person_id, name, society, organisation, role });
struct_codec!(Resident { person_id, name, phone, address, society, organisation, role });
struct_codec!(Votes { yes, against, abstain });

impl Codec for PersonalText {
    fn put(&self, w: &mut Writer<'_>) {
        match self {
            PersonalText::Plain(s) => {
                w.u8(0);
                w.str(s);
            }
            PersonalText::Sealed { person, ct } => {
                w.u8(1);
                w.str(person);
                w.str(ct);
            }
        }
    }
    fn take(r: &mut Reader<'_>) -> Option<Self> {
        match r.u8()? {
            0 => Some(PersonalText::Plain(r.take()?)),
            1 => Some(PersonalText::Sealed { person: r.take()?, ct: r.take()? }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Codec + PartialEq + std::fmt::Debug>(v: T) {
        let mut bytes = Vec::new();
        Writer(&mut bytes).put(&v);
        let mut r = Reader::new(&bytes);
        assert_eq!(r.take::<T>().as_ref(), Some(&v));
        assert!(r.is_done());
        // Every shorter prefix is refused, never misread.
        for n in 0..bytes.len() {
            let mut r = Reader::new(&bytes[..n]);
            assert!(r.take::<T>().is_none() || !r.is_done(), "a prefix of {n} bytes read as whole");
        }
    }

    #[test]
    fn values_read_back_as_written_and_a_cut_form_is_refused() {
        for n in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            round_trip(n);
        }
        round_trip(2.5f64);
        round_trip(String::from("停车难 / parking"));
        round_trip(Some(LocalizedText::new("楼道堆物", "clutter")));
        round_trip(LocalizedText { zh: "只有中文".into(), en: None });
        round_trip(vec![String::from("a"), String::new(), String::from("中")]);
        round_trip(PersonalText::Sealed { person: "p-1".into(), ct: "q83v".into() });
        round_trip(Party {
            kind: None,
            person_id: Some("p-2".into()),
            name: PersonalText::Plain("王阿姨".into()),
            society: Some("volunteers".into()),
            organisation: None,
            role: Some("楼栋长".into()),
        });
        round_trip(Votes { yes: 7, against: 1, abstain: 0 });
    }

    #[test]
    fn text_that_is_not_utf8_or_a_length_past_the_end_is_refused() {
        assert_eq!(Reader::new(&[2, 0xff, 0xfe]).str(), None);
        assert_eq!(Reader::new(&[9, b'a']).str(), None);
        // A varint longer than 64 bits, or whose tenth byte holds more than bit 63.
        assert_eq!(Reader::new(&[0xff; 11]).u64(), None);
        let mut over = [0xff; 10];
        over[9] = 0x02;
        assert_eq!(Reader::new(&over).u64(), None);
        over[9] = 0x01;
        assert_eq!(Reader::new(&over).u64(), Some(u64::MAX));
        // A list claiming more items than bytes does not allocate for them.
        assert_eq!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f]).take::<Vec<u64>>(), None);
    }
}
