//! One personal value sealed with its person's key: ChaCha20-Poly1305, the person id bound as
//! associated data (a value sealed for one person cannot be passed off as another's), stored
//! as `{"$pii": person, "ct": base64(nonce ‖ ciphertext)}`. Pure: the caller gives the nonce.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde_json::{Value, json};

pub const KEY_LEN: usize = 32;
pub const NONCE_LEN: usize = 12;

/// The sealed form of `plain` for `person`.
pub fn seal(key: &[u8; KEY_LEN], person: &str, plain: &str, nonce: &[u8; NONCE_LEN]) -> Value {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    // cannot fail: encryption fails only for messages beyond 2^38 bytes.
    let ct = cipher
        .encrypt(Nonce::from_slice(nonce), Payload { msg: plain.as_bytes(), aad: person.as_bytes() })
        .expect("cannot fail: a short message");
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(nonce);
    out.extend_from_slice(&ct);
    json!({"$pii": person, "ct": STANDARD.encode(out)})
}

/// The plain text of a sealed value, or None if the key does not open it (wrong key or
/// person, or altered bytes).
pub fn open(key: &[u8; KEY_LEN], person: &str, ct: &str) -> Option<String> {
    let bytes = STANDARD.decode(ct).ok()?;
    if bytes.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ct) = bytes.split_at(NONCE_LEN);
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    let plain = cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: person.as_bytes() }).ok()?;
    String::from_utf8(plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_person() {
        let (k, other) = ([7u8; KEY_LEN], [8u8; KEY_LEN]);
        let v = seal(&k, "p-1", "王秀英", &[1; NONCE_LEN]);
        let ct = v["ct"].as_str().unwrap();
        assert!(!ct.contains("王秀英"));
        assert_eq!(open(&k, "p-1", ct).as_deref(), Some("王秀英"));
        assert_eq!(open(&other, "p-1", ct), None, "another key");
        assert_eq!(open(&k, "p-2", ct), None, "another person");
        let mut bytes = STANDARD.decode(ct).unwrap();
        bytes[NONCE_LEN] ^= 1;
        assert_eq!(open(&k, "p-1", &STANDARD.encode(bytes)), None, "altered");
    }
}
