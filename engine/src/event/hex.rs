//! Hex for hashes. Written here rather than through the `hex` crate's char iterator, which
//! showed up as the largest Rust item in the writer's and the replay's profiles.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize]);
        out.push(DIGITS[(b & 0x0f) as usize]);
    }
    // cannot fail: every byte pushed is an ASCII hex digit.
    String::from_utf8(out).unwrap_or_default()
}

/// Lower-case hex of 32 bytes into `out`, without allocating.
pub fn encode_into<'a>(bytes: &[u8; 32], out: &'a mut [u8; 64]) -> &'a str {
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[(b >> 4) as usize];
        out[2 * i + 1] = DIGITS[(b & 0x0f) as usize];
    }
    // cannot fail: every byte written is an ASCII hex digit.
    std::str::from_utf8(out).unwrap_or_default()
}

/// The 32 bytes of a 64-digit hex string.
pub fn decode32(s: &str) -> Option<[u8; 32]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let s = s.as_bytes();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nibble(s[2 * i])? << 4) | nibble(s[2 * i + 1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_and_matches_the_hex_crate() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i * 37 + 11) as u8);
        let s = super::encode(&bytes);
        assert_eq!(s, hex::encode(bytes));
        assert_eq!(super::decode32(&s), Some(bytes));
        assert_eq!(super::encode_into(&bytes, &mut [0; 64]), s);
        assert_eq!(super::decode32(&s.to_uppercase()), Some(bytes));
        assert_eq!(super::decode32("zz"), None);
        assert_eq!(super::decode32(&"g".repeat(64)), None);
    }
}
