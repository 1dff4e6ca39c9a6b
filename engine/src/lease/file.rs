//! Leases for the embedded store: an exclusive OS lock on `<data dir>/leases/<name>.lock`.
//! Processes sharing one data directory on one machine exclude each other; the OS drops the
//! lock when the holder exits or dies, so a waiting process takes over at its next try.

use super::{Lease, LeaseError, LeaseProvider};
use async_trait::async_trait;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;

pub struct FileLeases {
    dir: PathBuf,
}

impl FileLeases {
    /// Leases kept under `data_dir/leases/`.
    pub fn new(data_dir: impl Into<PathBuf>) -> FileLeases {
        FileLeases { dir: data_dir.into().join("leases") }
    }
}

struct FileLease {
    // Held for its lock; closing the file releases it.
    _file: File,
}

#[async_trait]
impl Lease for FileLease {
    async fn still_held(&mut self) -> bool {
        // An OS lock on an open file cannot be taken away from its holder.
        true
    }
}

#[async_trait]
impl LeaseProvider for FileLeases {
    async fn try_acquire(&self, name: &str) -> Result<Option<Box<dyn Lease>>, LeaseError> {
        let safe: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        let path = self.dir.join(format!("{safe}.lock"));
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)
                .map_err(|e| LeaseError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| LeaseError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
            match file.try_lock() {
                Ok(()) => Ok(Some(Box::new(FileLease { _file: file }) as Box<dyn Lease>)),
                Err(TryLockError::WouldBlock) => Ok(None),
                Err(TryLockError::Error(e)) => {
                    Err(LeaseError::Unavailable(format!("cannot lock {}: {e}", path.display())))
                }
            }
        })
        .await
        .map_err(|e| LeaseError::Unavailable(format!("lease task failed: {e}")))?
    }

    fn kind(&self) -> &'static str {
        "file"
    }
}
