//! Audit trails that prove themselves: verification of every chain and of the checkpoint
//! series, and Ed25519-signed checkpoints.
//!
//! - [`series`]: the rolling hash over the global order (pure);
//! - [`checkpoint`](mod@checkpoint): what is signed and how it verifies (pure);
//! - [`verify`]: the verifier over events in global order (pure);
//! - this module: the IO edges — the key files, the anchor file, reading a store or an
//!   exported JSONL file into the verifier, and appending checkpoints.
//!
//! Files in `<data>/audit/`: `signing.key` (the Ed25519 secret, 64 hex digits, mode 0600,
//! created on first use), `signing.pub` (the public key to hand to auditors), and
//! `anchor.json` (the latest checkpoint, kept outside the database so a cut-off tail is found).

pub mod checkpoint;
pub mod series;
pub mod verify;

pub use checkpoint::{CHECKPOINT_EVENT, CHECKPOINT_STREAM, Checkpoint, CheckpointError, parse_public_key};
pub use ed25519_dalek::VerifyingKey;
pub use series::SeriesHead;
pub use verify::{Break, Report, Verifier};

use crate::event::{Actor, NewEvent, RecordedEvent};
use crate::store::{EventStore, ExpectedVersion, StoreError, read_stream_all};
use ed25519_dalek::SigningKey;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Why an audit operation could not run (not: why a log does not verify — that is a
/// [`Report`]).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The key or anchor file cannot be read or written: fix the file or its permissions.
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    /// The store failed (retry later).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The log does not verify: nothing is signed over a broken log.
    #[error("the log does not verify ({0} problem(s)); no checkpoint signed")]
    Broken(usize),
    /// The log is empty: there is nothing to sign.
    #[error("the log is empty; nothing to sign")]
    Empty,
}

fn file_err(path: &Path, e: impl std::fmt::Display) -> AuditError {
    AuditError::File { path: path.to_path_buf(), message: e.to_string() }
}

/// The server's signing key and where its files live.
#[derive(Clone)]
pub struct AuditKeys {
    dir: PathBuf,
    key: SigningKey,
}

impl AuditKeys {
    /// Loads `<data>/audit/signing.key`, creating it (mode 0600) with a fresh key the first time.
    pub fn load_or_create(data_dir: &Path) -> Result<AuditKeys, AuditError> {
        let dir = data_dir.join("audit");
        std::fs::create_dir_all(&dir).map_err(|e| file_err(&dir, e))?;
        let path = dir.join("signing.key");
        let key = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes: [u8; 32] = hex::decode(text.trim())
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| file_err(&path, "not 64 hex digits"))?;
                SigningKey::from_bytes(&bytes)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let seed = crate::vault::random_bytes().map_err(|e| file_err(&path, e))?;
                let key = SigningKey::from_bytes(&seed);
                write_private(&path, &hex::encode(seed)).map_err(|e| file_err(&path, e))?;
                key
            }
            Err(e) => return Err(file_err(&path, e)),
        };
        let public = dir.join("signing.pub");
        let text = format!("{}\n", hex::encode(key.verifying_key().to_bytes()));
        if std::fs::read_to_string(&public).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&public, text).map_err(|e| file_err(&public, e))?;
        }
        Ok(AuditKeys { dir, key })
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    pub fn public_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    pub fn anchor_path(&self) -> PathBuf {
        self.dir.join("anchor.json")
    }

    /// The latest checkpoint kept outside the database, if any.
    pub fn anchor(&self) -> Result<Option<Checkpoint>, AuditError> {
        read_checkpoint_file(&self.anchor_path())
    }

    fn save_anchor(&self, cp: &Checkpoint) -> Result<(), AuditError> {
        let path = self.anchor_path();
        let tmp = self.dir.join("anchor.json.tmp");
        let text = serde_json::to_string_pretty(cp).map_err(|e| file_err(&path, e))?;
        std::fs::write(&tmp, text).map_err(|e| file_err(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| file_err(&path, e))
    }
}

/// Creates a file readable and writable by its owner only, then writes `text`.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Reads a checkpoint JSON file (absent file: None).
pub fn read_checkpoint_file(path: &Path) -> Result<Option<Checkpoint>, AuditError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| file_err(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(file_err(path, e)),
    }
}

/// The checkpoints recorded in the log (payloads of `audit-checkpoints`).
fn checkpoints_of(events: &[RecordedEvent]) -> Vec<Checkpoint> {
    events
        .iter()
        .filter(|e| e.stream == CHECKPOINT_STREAM && e.event_type == CHECKPOINT_EVENT)
        .filter_map(|e| serde_json::from_str(e.data.get()).ok())
        .collect()
}

const PAGE: usize = 4096;

/// Verifies the whole log of a store: every chain, positions, times, and the series against
/// every checkpoint in the log and the anchor.
pub async fn verify_store(
    store: &dyn EventStore,
    key: Option<VerifyingKey>,
    anchor: Option<Checkpoint>,
) -> Result<Report, AuditError> {
    let claims = checkpoints_of(&read_stream_all(store, CHECKPOINT_STREAM).await?);
    let mut v = Verifier::new(key, claims, anchor);
    let mut after = 0;
    loop {
        let page = store.read_all(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.position;
        for e in &page {
            v.feed(e);
        }
    }
    Ok(v.finish())
}

/// Verifies one stream's chain (versions from 0, links, hashes, canonical payloads).
pub async fn verify_stream(store: &dyn EventStore, stream: &str) -> Result<Report, AuditError> {
    let events = read_stream_all(store, stream).await?;
    let mut chain = Verifier::new(None, Vec::new(), None);
    for e in &events {
        // Only the chain matters for one stream: positions of other streams lie between.
        chain.check_chain(e);
    }
    let mut r = chain.finish();
    r.head_position = events.last().map(|e| e.position).unwrap_or(0);
    r.events = events.len() as u64;
    r.streams = usize::from(!events.is_empty());
    r.unsigned_tail = 0;
    Ok(r)
}

/// Verifies an exported JSONL trail (one event per line, global order) with the public key an
/// auditor holds, and optionally a checkpoint kept apart from the file.
pub fn verify_jsonl(reader: impl BufRead, key: Option<VerifyingKey>, anchor: Option<Checkpoint>) -> Report {
    let mut events = Vec::new();
    let mut unreadable = Vec::new();
    for (i, line) in reader.split(b'\n').enumerate() {
        let line_no = i as u64 + 1;
        match line {
            Ok(bytes) if bytes.is_empty() => unreadable.push((line_no, "empty line".to_string())),
            Ok(bytes) => match std::str::from_utf8(&bytes)
                .map_err(|e| e.to_string())
                .and_then(|s| serde_json::from_str::<RecordedEvent>(s).map_err(|e| e.to_string()))
            {
                Ok(e) => events.push(e),
                Err(e) => unreadable.push((line_no, e)),
            },
            Err(e) => unreadable.push((line_no, e.to_string())),
        }
    }
    let mut v = Verifier::new(key, checkpoints_of(&events), anchor);
    for (line, why) in unreadable {
        v.unreadable(line, why);
    }
    for e in &events {
        v.feed(e);
    }
    v.finish()
}

/// Verifies the log, then signs a checkpoint at its head and appends it to
/// `audit-checkpoints` (and writes the anchor file). Refuses to sign a log that does not
/// verify.
pub async fn checkpoint(store: &dyn EventStore, keys: &AuditKeys) -> Result<(Checkpoint, Report), AuditError> {
    let report = verify_store(store, Some(keys.verifying_key()), keys.anchor()?).await?;
    if !report.ok {
        return Err(AuditError::Broken(report.breaks.len()));
    }
    let last = store.read_all(report.head_position.saturating_sub(1), 1).await?;
    let Some(last) = last.into_iter().next() else { return Err(AuditError::Empty) };
    let head: [u8; 32] = hex::decode(&report.series_head).ok().and_then(|b| b.try_into().ok()).unwrap_or([0u8; 32]);
    let cp = Checkpoint::sign(&keys.key, last.position, &head, &last.stream, last.version, chrono::Utc::now());
    let data = serde_json::to_value(&cp).map_err(|e| file_err(&keys.anchor_path(), e))?;
    let event = NewEvent::new(CHECKPOINT_EVENT, &data, Actor::system());
    store.append(CHECKPOINT_STREAM, ExpectedVersion::Any, vec![event]).await?;
    keys.save_anchor(&cp)?;
    Ok((cp, report))
}
