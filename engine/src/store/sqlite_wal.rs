//! Zero-filled space at the end of the write-ahead log, so a commit's sync does not also have
//! to make the file system record a larger file.
//!
//! A durable commit appends frames to the WAL and `fdatasync`s it. While the WAL is still
//! growing (a fresh store, and after every restart, since SQLite deletes the WAL when the last
//! connection closes) each of those syncs also commits the file's new size and block map to
//! the file system's journal: on this host's ext4, 4,040 syncs/s instead of 6,354 for the same
//! write over blocks that already exist (BENCHMARKS.md, session 8). Once SQLite restarts the
//! WAL from its beginning after a checkpoint, commits overwrite blocks in place and are cheap
//! again; this module gives the first pass the same footing, the way PostgreSQL zero-fills a
//! WAL segment before it writes to it.
//!
//! Safety rests on three facts about SQLite's WAL:
//! - The extension happens while this connection holds the WAL's write lock (`BEGIN
//!   IMMEDIATE`), so no connection in any process can append, restart or truncate the log
//!   meanwhile, and the bytes written start at the file's current end: no frame is touched.
//! - Recovery and readers stop at the first frame whose salt and checksum do not match the
//!   header; a zero frame never matches, so zeros read as "end of log".
//! - SQLite never shrinks the WAL unless told to (`journal_size_limit` stays unset; only a
//!   `wal_checkpoint(TRUNCATE)` at a clean shutdown empties it), so the space stays in use.

use super::StoreError;
use rusqlite::Connection;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes of each zero write.
const CHUNK: usize = 1 << 20;

/// The WAL file SQLite keeps beside `db`.
pub(super) fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// WAL bytes that `pages` frames take: a 32-byte header, then per frame a 24-byte frame
/// header and the page.
pub(super) fn wal_bytes_for(conn: &Connection, pages: i64) -> Result<u64, StoreError> {
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(32 + pages.max(0) as u64 * (24 + page_size.max(512) as u64))
}

/// Extends the WAL of `conn`'s database with zeros up to `bytes`, durably. Returns the bytes
/// added (0 when the log is that long already, or when the file system refused: a nearly full
/// disk is logged, not fatal — the store works as before, only its first commits sync slower).
/// `conn` must be in WAL mode and outside any transaction; SQLite's own errors are returned.
pub(super) fn preallocate(conn: &Connection, db: &Path, bytes: u64) -> Result<u64, StoreError> {
    // The write lock is taken here, not at the first write: an IMMEDIATE transaction in WAL
    // mode begins the WAL write transaction at once (and opens the WAL file).
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let added = extend_with_zeros(&wal_path(db), bytes);
    // Nothing was written through SQLite; ending the transaction only drops the lock.
    conn.execute_batch("ROLLBACK")?;
    // Zeros that did get written past the end are harmless (they read as the end of the log).
    Ok(added.unwrap_or_else(|e| {
        tracing::warn!(db = %db.display(), error = %e, "cannot preallocate the write-ahead log; going on without");
        0
    }))
}

fn extend_with_zeros(wal: &Path, bytes: u64) -> std::io::Result<u64> {
    // Never create it: a WAL-mode connection has it open already, and a file made here could
    // race SQLite's own creation.
    let file = match std::fs::OpenOptions::new().write(true).open(wal) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let start = file.metadata()?.len();
    if start >= bytes {
        return Ok(0);
    }
    // Real zero writes, not `fallocate`: ext4 marks fallocated extents unwritten, and the
    // first write into one changes metadata that the next sync must commit, which is the cost
    // this module exists to avoid.
    let zeros = vec![0u8; CHUNK];
    let mut at = start;
    while at < bytes {
        let n = (bytes - at).min(CHUNK as u64) as usize;
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    file.sync_all()?;
    Ok(bytes - start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wal_conn(dir: &Path) -> (Connection, PathBuf) {
        let db = dir.join("t.db");
        let conn = Connection::open(&db).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE t (x TEXT)").unwrap();
        (conn, db)
    }

    #[test]
    fn given_committed_frames_not_yet_checkpointed_when_the_wal_is_extended_then_a_crash_loses_none() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, db) = wal_conn(dir.path());
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        for i in 0..100 {
            conn.execute("INSERT INTO t VALUES (?1)", [format!("row {i}")]).unwrap();
        }
        let before = std::fs::metadata(wal_path(&db)).unwrap().len();
        let target = before + 3 * CHUNK as u64 + 17;
        assert_eq!(preallocate(&conn, &db, target).unwrap(), target - before);
        assert_eq!(std::fs::metadata(wal_path(&db)).unwrap().len(), target);
        conn.execute("INSERT INTO t VALUES ('after')", []).unwrap();
        // A crash: copy the files while the connection is open (nothing checkpointed), then
        // recover from the copy.
        let crashed = tempfile::tempdir().unwrap();
        std::fs::copy(&db, crashed.path().join("t.db")).unwrap();
        std::fs::copy(wal_path(&db), crashed.path().join("t.db-wal")).unwrap();
        let recovered = Connection::open(crashed.path().join("t.db")).unwrap();
        let rows: i64 = recovered.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 101);
        let last: String =
            recovered.query_row("SELECT x FROM t ORDER BY rowid DESC LIMIT 1", [], |r| r.get(0)).unwrap();
        assert_eq!(last, "after");
    }

    #[test]
    fn a_wal_already_that_long_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, db) = wal_conn(dir.path());
        conn.execute("INSERT INTO t VALUES ('a')", []).unwrap();
        let len = std::fs::metadata(wal_path(&db)).unwrap().len();
        assert_eq!(preallocate(&conn, &db, len).unwrap(), 0);
        assert_eq!(preallocate(&conn, &db, 10).unwrap(), 0);
        assert_eq!(std::fs::metadata(wal_path(&db)).unwrap().len(), len);
    }

    #[test]
    fn the_lock_is_released_so_other_connections_write_on() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, db) = wal_conn(dir.path());
        preallocate(&conn, &db, 2 * CHUNK as u64).unwrap();
        let other = Connection::open(&db).unwrap();
        other.execute("INSERT INTO t VALUES ('b')", []).unwrap();
        conn.execute("INSERT INTO t VALUES ('c')", []).unwrap();
        let rows: i64 = other.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 2);
    }
}
