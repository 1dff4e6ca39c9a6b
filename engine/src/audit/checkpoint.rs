//! Signed checkpoints: `(position, series head, event at that position, time)` signed with the
//! server's Ed25519 key.
//!
//! The exact bytes signed (UTF-8, each line ending in `\n`):
//!
//! ```text
//! convene-checkpoint-v1
//! position=<decimal>
//! head=<64 lowercase hex: series head at position>
//! stream=<stream of the event at position>
//! version=<its stream version>
//! signed_at=<RFC 3339 UTC, microseconds, Z>
//! ```

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Stream the server appends its checkpoints to (hash-chained like every stream).
pub const CHECKPOINT_STREAM: &str = "audit-checkpoints";
/// Event type of a checkpoint.
pub const CHECKPOINT_EVENT: &str = "AuditCheckpoint";

/// A signed checkpoint: the payload of an `AuditCheckpoint` event, and the file an auditor keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub position: u64,
    pub head: String,
    pub stream: String,
    pub version: u64,
    pub signed_at: String,
    /// Ed25519 public key, 64 hex digits (for orientation: a verifier uses the key it holds).
    pub public_key: String,
    /// Ed25519 signature over [`Checkpoint::signed_bytes`], 128 hex digits.
    pub signature: String,
}

/// Why a checkpoint does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint is signed by another key ({0})")]
    OtherKey(String),
    #[error("checkpoint signature is malformed")]
    Malformed,
    #[error("checkpoint signature does not verify")]
    BadSignature,
}

impl Checkpoint {
    /// The bytes the signature covers (see the module documentation).
    pub fn signed_bytes(position: u64, head: &str, stream: &str, version: u64, signed_at: &str) -> Vec<u8> {
        format!(
            "convene-checkpoint-v1\nposition={position}\nhead={head}\nstream={stream}\nversion={version}\nsigned_at={signed_at}\n"
        )
        .into_bytes()
    }

    /// Signs `(position, head)` as of `at`.
    pub fn sign(
        key: &SigningKey,
        position: u64,
        head: &[u8; 32],
        stream: &str,
        version: u64,
        at: DateTime<Utc>,
    ) -> Checkpoint {
        let head = hex::encode(head);
        let signed_at = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let sig = key.sign(&Self::signed_bytes(position, &head, stream, version, &signed_at));
        Checkpoint {
            position,
            head,
            stream: stream.to_string(),
            version,
            signed_at,
            public_key: hex::encode(key.verifying_key().to_bytes()),
            signature: hex::encode(sig.to_bytes()),
        }
    }

    /// Verifies the signature with the key the verifier trusts (never the one in the payload).
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), CheckpointError> {
        let trusted = hex::encode(key.to_bytes());
        if self.public_key != trusted {
            return Err(CheckpointError::OtherKey(self.public_key.clone()));
        }
        let bytes: [u8; 64] =
            hex::decode(&self.signature).ok().and_then(|b| b.try_into().ok()).ok_or(CheckpointError::Malformed)?;
        let sig = Signature::from_bytes(&bytes);
        let msg = Self::signed_bytes(self.position, &self.head, &self.stream, self.version, &self.signed_at);
        key.verify_strict(&msg, &sig).map_err(|_| CheckpointError::BadSignature)
    }
}

/// Parses a public key written as 64 hex digits (surrounding whitespace ignored).
pub fn parse_public_key(text: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(text.trim()).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_verifies_with_its_key_only_and_not_after_any_change() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let other = SigningKey::from_bytes(&[8u8; 32]);
        let at = DateTime::<Utc>::from_timestamp_micros(1_764_000_000_000_001).unwrap();
        let cp = Checkpoint::sign(&key, 42, &[9u8; 32], "issue-x", 3, at);
        assert_eq!(cp.verify(&key.verifying_key()), Ok(()));
        assert!(matches!(cp.verify(&other.verifying_key()), Err(CheckpointError::OtherKey(_))));
        let mut moved = cp.clone();
        moved.position = 43;
        assert_eq!(moved.verify(&key.verifying_key()), Err(CheckpointError::BadSignature));
        let mut reheaded = cp.clone();
        reheaded.head = hex::encode([8u8; 32]);
        assert_eq!(reheaded.verify(&key.verifying_key()), Err(CheckpointError::BadSignature));
        assert_eq!(
            String::from_utf8(Checkpoint::signed_bytes(42, "ab", "issue-x", 3, &cp.signed_at)).unwrap(),
            "convene-checkpoint-v1\nposition=42\nhead=ab\nstream=issue-x\nversion=3\nsigned_at=2025-11-24T16:00:00.000001Z\n"
        );
        assert_eq!(parse_public_key(&cp.public_key), Some(key.verifying_key()));
    }
}
