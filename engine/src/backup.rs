//! A consistent copy of an embedded store's data directory, taken while `convene serve` runs.
//!
//! What a data directory holds and what a backup keeps of it:
//! - `convene.db`, the event log: copied with `VACUUM INTO`, which reads inside one read
//!   transaction, so the copy is the log exactly as it stood at one commit. In WAL mode a
//!   reader never blocks the writer, so the server keeps acknowledging appends meanwhile.
//! - `secrets.db`, token hashes and per-person keys: copied the same way. Without it, the
//!   sealed personal values in the copied log could not be read again.
//! - `audit/signing.key`, `signing.pub` and `anchor.json`: the checkpoint key and the latest
//!   checkpoint kept outside the database.
//! - `leases/` is left out: it only says which process leads now.
//!
//! The copy is written into a hidden directory beside the target, synced, and renamed into
//! place only by [`Staged::commit`]; until then a failure or a dropped [`Staged`] removes it,
//! so a target either holds a whole backup or does not exist. `VACUUM INTO` itself does not
//! sync what it writes (SQLite's documentation says so), hence the explicit syncs here.

use crate::vault::restrict_permissions;
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The event log's file in a data directory.
pub const LOG_FILE: &str = "convene.db";
/// Token hashes and per-person keys, beside an embedded log.
pub const SECRETS_FILE: &str = "secrets.db";
/// The audit files a backup carries, under `audit/`.
const AUDIT_FILES: [&str; 3] = ["signing.key", "signing.pub", "anchor.json"];

/// Why a backup could not be taken. Nothing is left at the target in every case.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} 中没有嵌入式事件存储 / no embedded event store in {0} (convene.db is missing)")]
    NoStore(PathBuf),
    #[error("目标已存在且非空，不会覆盖 / the target {0} exists and is not empty; it is never overwritten")]
    TargetExists(PathBuf),
    #[error("无法复制 {path} / cannot copy {path}: {message}")]
    Copy { path: PathBuf, message: String },
    #[error("读写 {path} 失败 / cannot read or write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.to_path_buf(), source }
}

fn copy_err(path: &Path) -> impl FnOnce(rusqlite::Error) -> BackupError + '_ {
    move |e| BackupError::Copy { path: path.to_path_buf(), message: e.to_string() }
}

/// What a backup holds.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BackupReport {
    /// The global position of the last event in the copy: every event up to it, none after.
    pub position: u64,
    /// Events in the copy.
    pub events: u64,
    /// Streams in the copy.
    pub streams: u64,
    /// API tokens not revoked, and per-person keys, in the copied `secrets.db` (0 without one).
    pub tokens: u64,
    pub person_keys: u64,
    /// Files in the backup, relative to its directory.
    pub files: Vec<String>,
    /// Their size in bytes.
    pub bytes: u64,
}

/// A backup written and synced in a hidden directory beside its target, not yet in place.
/// Dropping it removes the directory.
pub struct Staged {
    dir: tempfile::TempDir,
    target: PathBuf,
    report: BackupReport,
}

impl Staged {
    /// Where the copy is now: open it here to check it before [`Staged::commit`].
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn report(&self) -> &BackupReport {
        &self.report
    }

    /// Renames the copy to its target (atomic within one file system) and syncs the parent
    /// directory, so the rename survives a crash. Refused if the target appeared meanwhile.
    pub fn commit(self) -> Result<BackupReport, BackupError> {
        let Staged { dir, target, report } = self;
        check_target(&target)?;
        std::fs::rename(dir.path(), &target).map_err(|e| match e.kind() {
            std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::AlreadyExists => {
                BackupError::TargetExists(target.clone())
            }
            _ => BackupError::Io { path: target.clone(), source: e },
        })?;
        // The directory now lives at `target`; the TempDir must not remove what was its path.
        let _ = dir.keep();
        sync_dir(parent_of(&target))?;
        Ok(report)
    }
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A target may not exist yet, or be an empty directory (which the rename replaces).
fn check_target(target: &Path) -> Result<(), BackupError> {
    match std::fs::read_dir(target) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(BackupError::TargetExists(target.to_path_buf())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        // A file, or something unreadable: not ours to replace.
        Err(_) => Err(BackupError::TargetExists(target.to_path_buf())),
    }
}

/// Copies the log in `log_dir` and the secrets and audit files of the data directory
/// `data_dir` (the same directory unless `--database-url sqlite://…` put the log elsewhere)
/// into a hidden directory beside `target`, and syncs it. The backup is one data directory
/// either way. Blocking (file IO and SQLite): call it from a blocking thread.
pub fn stage(log_dir: &Path, data_dir: &Path, target: &Path) -> Result<Staged, BackupError> {
    let log = log_dir.join(LOG_FILE);
    if !log.is_file() {
        return Err(BackupError::NoStore(log_dir.to_path_buf()));
    }
    check_target(target)?;
    let parent = parent_of(target);
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let dir = tempfile::Builder::new().prefix(".convene-backup-").tempdir_in(parent).map_err(io(parent))?;
    let mut files = Vec::new();

    let copied_log = dir.path().join(LOG_FILE);
    vacuum_into(&log, &copied_log)?;
    files.push(LOG_FILE.to_string());
    let (position, events, streams) = {
        let c = Connection::open_with_flags(&copied_log, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(copy_err(&copied_log))?;
        c.query_row(
            "SELECT coalesce(max(position), 0), count(*), (SELECT count(*) FROM events WHERE version = 0) FROM events",
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64)),
        )
        .map_err(copy_err(&copied_log))?
    };

    let (mut tokens, mut person_keys) = (0, 0);
    let secrets = data_dir.join(SECRETS_FILE);
    if secrets.is_file() {
        let copied = dir.path().join(SECRETS_FILE);
        vacuum_into(&secrets, &copied)?;
        files.push(SECRETS_FILE.to_string());
        let c = Connection::open_with_flags(&copied, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(copy_err(&copied))?;
        (tokens, person_keys) = c
            .query_row(
                "SELECT (SELECT count(*) FROM tokens WHERE revoked_at IS NULL), (SELECT count(*) FROM person_keys)",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .map_err(copy_err(&copied))?;
    }

    let audit = data_dir.join("audit");
    let copied_audit = dir.path().join("audit");
    for name in AUDIT_FILES {
        let from = audit.join(name);
        if !from.is_file() {
            continue;
        }
        std::fs::create_dir_all(&copied_audit).map_err(io(&copied_audit))?;
        let to = copied_audit.join(name);
        std::fs::copy(&from, &to).map_err(io(&from))?;
        files.push(format!("audit/{name}"));
    }

    // Everything owner-only: the backup holds the signing key and every person's key.
    let mut bytes = 0;
    for f in &files {
        let path = dir.path().join(f);
        restrict_permissions(&path).map_err(io(&path))?;
        let file = std::fs::File::open(&path).map_err(io(&path))?;
        file.sync_all().map_err(io(&path))?;
        bytes += file.metadata().map_err(io(&path))?.len();
    }
    if copied_audit.is_dir() {
        restrict_dir(&copied_audit)?;
        sync_dir(&copied_audit)?;
    }
    restrict_dir(dir.path())?;
    sync_dir(dir.path())?;
    Ok(Staged {
        dir,
        target: target.to_path_buf(),
        report: BackupReport { position, events, streams, tokens, person_keys, files, bytes },
    })
}

/// `VACUUM INTO`: one read transaction of `from`, written compacted to the new file `to`.
fn vacuum_into(from: &Path, to: &Path) -> Result<(), BackupError> {
    // Read-write, not read-only: a read-only connection cannot create the `-shm` file a WAL
    // database needs when no server has it open. Nothing is written through it.
    let c = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(copy_err(from))?;
    // A writer holds its lock only for a commit; waiting beats failing the backup.
    c.busy_timeout(Duration::from_secs(30)).map_err(copy_err(from))?;
    let target = to.to_str().ok_or_else(|| BackupError::Copy {
        path: to.to_path_buf(),
        message: "路径不是 UTF-8 / the path is not UTF-8".into(),
    })?;
    c.execute("VACUUM INTO ?1", [target]).map_err(copy_err(from))?;
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

fn restrict_dir(dir: &Path) -> Result<(), BackupError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Actor;
    use crate::store::{EventStore, ExpectedVersion, SqliteOptions, SqliteStore};
    use crate::{NewEvent, vault::Vault};
    use serde_json::json;

    fn event(n: u64) -> NewEvent {
        NewEvent::new("IssueWithdrawn", &json!({"reason": {"zh": format!("撤回 {n}")}}), Actor::system())
    }

    async fn store_with(dir: &Path, streams: u64) -> SqliteStore {
        let s = SqliteStore::open(SqliteOptions::in_dir(dir)).unwrap();
        for n in 0..streams {
            s.append(&format!("issue-{n}"), ExpectedVersion::NoStream, vec![event(n)]).await.unwrap();
        }
        s
    }

    #[tokio::test]
    async fn given_an_open_store_when_staged_and_committed_then_the_target_holds_every_event_and_the_secrets() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("data");
        let store = store_with(&src, 3).await;
        Vault::open_in(&src).unwrap();
        let target = tmp.path().join("backups/monday");

        let staged = stage(&src, &src, &target).unwrap();
        assert!(!target.exists(), "nothing at the target before the commit");
        let report = staged.commit().unwrap();

        assert_eq!((report.position, report.events, report.streams), (3, 3, 3));
        assert_eq!(report.files, vec![LOG_FILE.to_string(), SECRETS_FILE.to_string()]);
        let copy = SqliteStore::open(SqliteOptions::in_dir(&target)).unwrap();
        assert_eq!(copy.read_all(0, 10).await.unwrap(), store.read_all(0, 10).await.unwrap());
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path().join("backups")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no staging directory is left beside the target");
    }

    #[tokio::test]
    async fn a_staged_backup_that_is_dropped_leaves_nothing_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("data");
        let _store = store_with(&src, 1).await;
        let target = tmp.path().join("b");
        let staging = {
            let staged = stage(&src, &src, &target).unwrap();
            staged.path().to_path_buf()
        };
        assert!(!staging.exists() && !target.exists());
    }

    #[tokio::test]
    async fn a_target_that_is_not_empty_is_refused_and_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("data");
        let _store = store_with(&src, 1).await;
        let target = tmp.path().join("b");
        std::fs::create_dir_all(&target).unwrap();
        std::fs::write(target.join("keep.txt"), "mine").unwrap();
        assert!(matches!(stage(&src, &src, &target), Err(BackupError::TargetExists(_))));
        assert_eq!(std::fs::read_to_string(target.join("keep.txt")).unwrap(), "mine");

        // Appearing between staging and commit is refused too.
        let late = tmp.path().join("late");
        let staged = stage(&src, &src, &late).unwrap();
        std::fs::create_dir_all(&late).unwrap();
        std::fs::write(late.join("x"), "x").unwrap();
        assert!(matches!(staged.commit(), Err(BackupError::TargetExists(_))));
        assert_eq!(std::fs::read_dir(&late).unwrap().count(), 1);
    }

    #[tokio::test]
    async fn a_log_kept_apart_from_its_data_directory_is_backed_up_with_that_directorys_secrets() {
        let tmp = tempfile::tempdir().unwrap();
        let (log_dir, data_dir) = (tmp.path().join("log"), tmp.path().join("data"));
        let _store = store_with(&log_dir, 2).await;
        Vault::open_in(&data_dir).unwrap();
        std::fs::create_dir_all(data_dir.join("audit")).unwrap();
        std::fs::write(data_dir.join("audit/signing.key"), "ab".repeat(32)).unwrap();
        let report = stage(&log_dir, &data_dir, &tmp.path().join("b")).unwrap().commit().unwrap();
        assert_eq!(report.files, [LOG_FILE, SECRETS_FILE, "audit/signing.key"]);
        assert_eq!(report.events, 2);
    }

    #[test]
    fn a_directory_without_a_log_is_no_store() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(matches!(stage(tmp.path(), tmp.path(), &tmp.path().join("b")), Err(BackupError::NoStore(_))));
        assert!(!tmp.path().join("b").exists());
    }
}
