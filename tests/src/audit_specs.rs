//! Audit trails that prove themselves: tamper tests on every backend (edit a payload byte,
//! delete an event, swap two, insert a forged but correctly chained event, truncate the tail —
//! each found and located by stream, version and position), and offline verification of an
//! exported trail against a signed checkpoint.
//!
//! # The tamper helper a backend supplies
//!
//! [`Tamper`] is the whole interface: five raw edits of the backend's own tables, made while
//! no store is open on them, by event position. A backend implements it with plain SQL on its
//! events table (see [`SqliteTamper`]); the generic cases in [`tamper_cases`] do the rest.

use crate::support::{COMMUNITY, fresh_engine_in, record_all, to_assessed};
use convene_engine::audit::{self, AuditKeys, Report};
use convene_engine::export::{self, Format};
use convene_engine::store::{EventStore, SqliteOptions, SqliteStore};
use convene_engine::{Engine, RecordedEvent};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Raw edits of a backend's stored events, for tamper tests only.
pub trait Tamper {
    /// Changes one byte of the payload text of the event at `position` (JSON stays valid).
    fn edit_payload_byte(&self, position: u64);
    /// Deletes the event at `position`.
    fn delete(&self, position: u64);
    /// Exchanges the events at positions `a` and `b` (each takes the other's position).
    fn swap(&self, a: u64, b: u64);
    /// Deletes every event after `position`.
    fn truncate_after(&self, position: u64);
    /// Inserts `e` at `e.position`, moving every event at or after it one place up, so the
    /// positions stay gap-free.
    fn insert(&self, e: &RecordedEvent);
    /// The stored schema version and payload text of the event at `position`, read with SQL
    /// (what a byte comparison of stored rows compares).
    fn stored(&self, position: u64) -> (u32, String);
}

/// The embedded store's tamper helper: SQL on `convene.db`.
pub struct SqliteTamper {
    pub path: PathBuf,
}

impl SqliteTamper {
    fn conn(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.path).unwrap()
    }
}

/// Toggles the case of the first ASCII letter of a string value: still valid JSON.
fn flip_one_byte(data: &str) -> String {
    let start = data.find(":\"").map(|i| i + 2).expect("a string value in the payload");
    let mut bytes = data.as_bytes().to_vec();
    let i = (start..bytes.len()).find(|&i| bytes[i].is_ascii_alphabetic()).expect("a letter");
    bytes[i] ^= 0x20;
    String::from_utf8(bytes).unwrap()
}

impl Tamper for SqliteTamper {
    fn edit_payload_byte(&self, position: u64) {
        let c = self.conn();
        let data: String =
            c.query_row("SELECT data FROM events WHERE position = ?1", [position as i64], |r| r.get(0)).unwrap();
        c.execute(
            "UPDATE events SET data = ?1 WHERE position = ?2",
            rusqlite::params![flip_one_byte(&data), position as i64],
        )
        .unwrap();
    }

    fn delete(&self, position: u64) {
        assert_eq!(self.conn().execute("DELETE FROM events WHERE position = ?1", [position as i64]).unwrap(), 1);
    }

    fn swap(&self, a: u64, b: u64) {
        self.conn()
            .execute_batch(&format!(
                "BEGIN; UPDATE events SET position = -1 WHERE position = {a};
                 UPDATE events SET position = {a} WHERE position = {b};
                 UPDATE events SET position = {b} WHERE position = -1; COMMIT;"
            ))
            .unwrap();
    }

    fn truncate_after(&self, position: u64) {
        self.conn().execute("DELETE FROM events WHERE position > ?1", [position as i64]).unwrap();
    }

    fn stored(&self, position: u64) -> (u32, String) {
        self.conn()
            .query_row("SELECT schema_version, data FROM events WHERE position = ?1", [position as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap()
    }

    fn insert(&self, e: &RecordedEvent) {
        let mut c = self.conn();
        let tx = c.transaction().unwrap();
        // Through negative positions: the primary key must hold after every row.
        let p = e.position as i64;
        tx.execute("UPDATE events SET position = -(position + 1) WHERE position >= ?1", [p]).unwrap();
        tx.execute("UPDATE events SET position = -position WHERE position < 0", []).unwrap();
        tx.execute(
            "INSERT INTO events (position, id, stream, version, type, schema_version, recorded_at, actor_id, \
             actor_role, actor_name, actor_community, correlation_id, causation_id, data, prev_hash, hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL, NULL, ?12, ?13, ?14)",
            rusqlite::params![
                p,
                e.id.as_bytes().as_slice(),
                e.stream,
                e.version as i64,
                e.event_type,
                e.schema_version,
                e.recorded_at.timestamp_micros(),
                e.actor.id,
                e.actor.role,
                e.actor.name,
                e.actor.community,
                e.data.get(),
                hex::decode(&e.prev_hash).unwrap(),
                hex::decode(&e.hash).unwrap(),
            ],
        )
        .unwrap();
        tx.commit().unwrap();
    }
}

/// A backend under test: builds an engine in `dir`, reopens its store, gives its tamper helper.
pub struct Backend {
    pub name: &'static str,
    pub open: fn(&Path) -> Arc<dyn EventStore>,
    pub tamper: fn(&Path) -> Box<dyn Tamper>,
}

fn sqlite_backend() -> Backend {
    Backend {
        name: "sqlite",
        open: |dir| Arc::new(SqliteStore::open(SqliteOptions::in_dir(dir)).unwrap()),
        tamper: |dir| Box::new(SqliteTamper { path: dir.join("convene.db") }),
    }
}

/// The PostgreSQL store's tamper helper: SQL on `convene_events` in the test's schema.
pub struct PgTamper {
    pub url: String,
    pub schema: String,
}

impl PgTamper {
    fn exec(&self, sql: &str, position: i64) -> u64 {
        let (url, schema, sql) = (self.url.clone(), self.schema.clone(), sql.to_string());
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async move {
                let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
                let task = tokio::spawn(conn);
                client.batch_execute(&format!("SET search_path TO {schema}")).await.unwrap();
                let n = if sql.contains("$1") {
                    client.execute(sql.as_str(), &[&position]).await.unwrap()
                } else {
                    client.batch_execute(&sql).await.unwrap();
                    0
                };
                drop(client);
                let _ = task.await;
                n
            })
        })
    }

    fn data(&self, position: i64) -> String {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async move {
                let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
                let task = tokio::spawn(conn);
                client.batch_execute(&format!("SET search_path TO {schema}")).await.unwrap();
                let row = client
                    .query_one("SELECT data FROM convene_events WHERE position = $1", &[&position])
                    .await
                    .unwrap();
                drop(client);
                let _ = task.await;
                row.get::<_, String>(0)
            })
        })
    }
}

impl Tamper for PgTamper {
    fn edit_payload_byte(&self, position: u64) {
        let edited = flip_one_byte(&self.data(position as i64)).replace('\'', "''");
        self.exec(&format!("UPDATE convene_events SET data = '{edited}' WHERE position = $1"), position as i64);
    }

    fn delete(&self, position: u64) {
        assert_eq!(self.exec("DELETE FROM convene_events WHERE position = $1", position as i64), 1);
    }

    fn swap(&self, a: u64, b: u64) {
        // The position must stay positive (a CHECK constraint): park one row far above the log.
        let park = 1_000_000_000;
        self.exec(
            &format!(
                "BEGIN; UPDATE convene_events SET position = {park} WHERE position = {a};
                 UPDATE convene_events SET position = {a} WHERE position = {b};
                 UPDATE convene_events SET position = {b} WHERE position = {park}; COMMIT;"
            ),
            0,
        );
    }

    fn truncate_after(&self, position: u64) {
        self.exec("DELETE FROM convene_events WHERE position > $1", position as i64);
    }

    fn stored(&self, position: u64) -> (u32, String) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async move {
                let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
                let task = tokio::spawn(conn);
                client.batch_execute(&format!("SET search_path TO {schema}")).await.unwrap();
                let row = client
                    .query_one(
                        "SELECT schema_version, data FROM convene_events WHERE position = $1",
                        &[&(position as i64)],
                    )
                    .await
                    .unwrap();
                drop(client);
                let _ = task.await;
                (row.get::<_, i32>(0) as u32, row.get::<_, String>(1))
            })
        })
    }

    fn insert(&self, e: &RecordedEvent) {
        let text = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let opt = |s: &Option<String>| s.as_deref().map(text).unwrap_or_else(|| "NULL".into());
        // Unique positions are checked row by row: move the tail far up, then back one above.
        let park = 1_000_000_000;
        self.exec(
            &format!(
                "BEGIN; UPDATE convene_events SET position = position + {park} WHERE position >= {p};
                 UPDATE convene_events SET position = position - {park} + 1 WHERE position > {park};
                 INSERT INTO convene_events (position, id, stream, version, type, schema_version, recorded_at,
                   actor_id, actor_role, actor_name, actor_community, data, prev_hash, hash)
                 VALUES ({p}, '{id}', {stream}, {version}, {ty}, {sv}, '{at}', {aid}, {arole}, {aname}, {acomm},
                   {data}, decode('{prev}', 'hex'), decode('{hash}', 'hex'));
                 COMMIT;",
                p = e.position,
                id = e.id,
                stream = text(&e.stream),
                version = e.version,
                ty = text(&e.event_type),
                sv = e.schema_version,
                at = e.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                aid = text(&e.actor.id),
                arole = text(&e.actor.role),
                aname = opt(&e.actor.name),
                acomm = opt(&e.actor.community),
                data = text(e.data.get()),
                prev = e.prev_hash,
                hash = e.hash,
            ),
            0,
        );
    }
}

/// The schema a test directory maps to (the same directory reopens the same log).
pub(crate) fn pg_schema(dir: &Path) -> String {
    let digest = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, dir.to_string_lossy().as_bytes()).simple().to_string();
    format!("convene_t_{}", &digest[..20])
}

fn postgres_backend() -> Backend {
    Backend {
        name: "postgres",
        open: |dir| {
            let url = crate::pg::url().expect("the postgres backend runs only when the URL is set");
            let schema = pg_schema(dir);
            tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(crate::pg::open(&url, &schema)))
        },
        tamper: |dir| {
            let url = crate::pg::url().expect("the postgres backend runs only when the URL is set");
            Box::new(PgTamper { url, schema: pg_schema(dir) })
        },
    }
}

/// Every backend CI runs: the embedded store, and PostgreSQL when the test database is set
/// (CI requires it).
pub fn backends() -> Vec<Backend> {
    let mut all = vec![sqlite_backend()];
    if crate::pg::url().is_some() {
        all.push(postgres_backend());
    }
    all
}

/// Three issues moved a few steps, interleaved, then a signed checkpoint at the head.
async fn build_log(engine: &Engine, keys: &AuditKeys) -> Vec<RecordedEvent> {
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(engine.raise(crate::support::raise_community_issue()).await.unwrap().issue.id);
    }
    for id in &ids {
        record_all(engine, id, &to_assessed()).await;
    }
    audit::checkpoint(engine.store().as_ref(), keys).await.unwrap();
    let all = engine.store().read_all(0, 100_000).await.unwrap();
    assert!(all.iter().any(|e| e.stream.ends_with(COMMUNITY)) || !all.is_empty());
    all
}

async fn verify(store: &dyn EventStore, keys: &AuditKeys) -> Report {
    audit::verify_store(store, Some(keys.verifying_key()), keys.anchor().unwrap()).await.unwrap()
}

/// One tamper case on a fresh log: returns the events before tampering and the report after.
async fn tampered(b: &Backend, edit: impl FnOnce(&dyn Tamper, &[RecordedEvent])) -> (Vec<RecordedEvent>, Report) {
    let dir = tempfile::tempdir().unwrap();
    let keys = AuditKeys::load_or_create(dir.path()).unwrap();
    let events = {
        let engine = fresh_engine_in(dir.path(), (b.open)(dir.path())).await;
        let events = build_log(&engine, &keys).await;
        let clean = verify(engine.store().as_ref(), &keys).await;
        assert!(clean.ok && clean.unsigned_tail == 0, "{} before tampering: {clean:#?}", b.name);
        engine.store().close().await;
        events
    };
    edit((b.tamper)(dir.path()).as_ref(), &events);
    let store = (b.open)(dir.path());
    let report = verify(store.as_ref(), &keys).await;
    store.close().await;
    (events, report)
}

/// The issue events of the log (version > 0, so each has a predecessor and a successor).
fn middle_issue_event(events: &[RecordedEvent]) -> &RecordedEvent {
    events
        .iter()
        .find(|e| {
            e.stream.starts_with("issue-")
                && e.version == 0
                && events.iter().any(|n| n.stream == e.stream && n.version == 1)
        })
        .expect("an issue with two events")
}

/// The last event of an issue stream that is followed by other issue events in the log.
fn last_event_of_an_issue_before_others(events: &[RecordedEvent]) -> &RecordedEvent {
    events
        .iter()
        .enumerate()
        .find(|(i, e)| {
            e.stream.starts_with("issue-")
                && !events.iter().any(|n| n.stream == e.stream && n.version > e.version)
                && events[i + 1..].iter().any(|n| n.stream.starts_with("issue-"))
        })
        .map(|(_, e)| e)
        .expect("an issue whose last event is followed by another issue's")
}

/// A copy of `last` as the next version of its stream, with a valid link and hash, right
/// after it in the log.
fn forge_next(last: &RecordedEvent) -> RecordedEvent {
    let mut f = last.clone();
    f.id = uuid::Uuid::now_v7();
    f.version = last.version + 1;
    f.position = last.position + 1;
    f.prev_hash = last.hash.clone();
    f.hash = convene_engine::event::chain_hash(&convene_engine::event::HashInput {
        id: f.id,
        stream: &f.stream,
        version: f.version,
        event_type: &f.event_type,
        schema_version: f.schema_version,
        recorded_at: f.recorded_at,
        actor: (&f.actor).into(),
        correlation_id: None,
        causation_id: None,
        data: f.data.get(),
        prev_hash: &f.prev_hash,
    });
    f.correlation_id = None;
    f.causation_id = None;
    f
}

fn located(r: &Report) -> (Option<&str>, Option<u64>, Option<u64>) {
    let b = r.first_break.as_ref().expect("a first break");
    (b.stream.as_deref(), b.version, b.position)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tamper_cases() {
    for b in backends() {
        // An edited payload byte: that event, exactly.
        let mut target = None;
        let (_, r) = tampered(&b, |t, ev| {
            let e = middle_issue_event(ev);
            target = Some((e.stream.clone(), e.version, e.position));
            t.edit_payload_byte(e.position);
        })
        .await;
        let (s, v, p) = target.unwrap();
        assert!(!r.ok, "{}: edit not found", b.name);
        assert_eq!(located(&r), (Some(s.as_str()), Some(v), Some(p)), "{}: {r:#?}", b.name);
        assert!(matches!(r.first_break.as_ref().unwrap().kind, "altered" | "not_canonical"));

        // A deleted event: its position, and its stream's next version misses it.
        let mut target = None;
        let (_, r) = tampered(&b, |t, ev| {
            let e = middle_issue_event(ev);
            target = Some((e.stream.clone(), e.version, e.position));
            t.delete(e.position);
        })
        .await;
        let (s, v, p) = target.unwrap();
        assert!(!r.ok);
        assert_eq!(r.first_break.as_ref().unwrap().kind, "position_gap");
        assert_eq!(located(&r).2, Some(p), "{}: {r:#?}", b.name);
        assert!(
            r.breaks.iter().any(|x| x.kind == "version_gap" && x.stream.as_deref() == Some(&s) && x.version == Some(v))
        );
        assert!(r.breaks.iter().any(|x| x.kind == "checkpoint_mismatch"), "the signed series no longer matches");

        // Two events of different streams swapped: the earlier position, and the signed series.
        let mut target = None;
        let (_, r) = tampered(&b, |t, ev| {
            let a = ev.iter().find(|e| e.stream.starts_with("issue-")).unwrap();
            let c = ev
                .iter()
                .find(|e| e.stream.starts_with("issue-") && e.stream != a.stream && e.recorded_at > a.recorded_at)
                .unwrap();
            target = Some((c.stream.clone(), c.version, a.position));
            t.swap(a.position, c.position);
        })
        .await;
        let (s, v, p) = target.unwrap();
        assert!(!r.ok);
        assert_eq!(located(&r), (Some(s.as_str()), Some(v), Some(p)), "{}: {r:#?}", b.name);
        assert!(r.breaks.iter().any(|x| x.kind == "checkpoint_mismatch"));

        // An event inserted into the signed part of the log, forged with care: the next version
        // of its stream, linked to its stream's last hash with a correct hash of its own, at
        // the recorded time of its predecessor, every later event moved one place up. Every
        // per-stream chain still holds; the signed series does not.
        let mut target = None;
        let (_, r) = tampered(&b, |t, ev| {
            let last = last_event_of_an_issue_before_others(ev);
            let forged = forge_next(last);
            target = Some(forged.position);
            t.insert(&forged);
        })
        .await;
        let p = target.unwrap();
        assert!(!r.ok, "{}: insertion not found: {r:#?}", b.name);
        assert!(
            r.breaks.iter().all(|x| !matches!(x.kind, "altered" | "not_canonical" | "broken_link" | "version_gap")),
            "{}: the forged event is correctly chained, only the series can tell: {r:#?}",
            b.name
        );
        let mismatch = r.breaks.iter().find(|x| x.kind == "checkpoint_mismatch").expect("the signed series breaks");
        assert!(mismatch.position.is_some_and(|cp| cp > p), "{}: the checkpoint after the insertion: {r:#?}", b.name);

        // The tail cut off (the checkpoint event with it): the anchor kept outside finds it.
        let mut cut = 0;
        let (ev, r) = tampered(&b, |t, ev| {
            cut = ev[ev.len() - 4].position;
            t.truncate_after(cut);
        })
        .await;
        assert!(!r.ok);
        let first = r.first_break.as_ref().unwrap();
        assert_eq!(first.kind, "truncated");
        assert_eq!(first.position, Some(cut + 1));
        let signed = &ev[ev.len() - 2];
        assert_eq!((first.stream.as_deref(), first.version), (Some(signed.stream.as_str()), Some(signed.version)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_trail_verifies_offline_against_the_signed_checkpoint_and_no_byte_can_change() {
    let dir = tempfile::tempdir().unwrap();
    let keys = AuditKeys::load_or_create(dir.path()).unwrap();
    let engine = fresh_engine_in(dir.path(), (sqlite_backend().open)(dir.path())).await;
    build_log(&engine, &keys).await;
    let mut trail = Vec::new();
    let n = export::export(engine.store().as_ref(), None, Format::Jsonl, None, &mut trail).await.unwrap();
    // The auditor holds the public key (as text) and the trail; nothing else.
    let public = std::fs::read_to_string(dir.path().join("audit/signing.pub")).unwrap();
    let key = audit::parse_public_key(&public).unwrap();
    let r = audit::verify_jsonl(&trail[..], Some(key), None);
    assert!(r.ok, "{r:#?}");
    assert_eq!((r.events, r.unsigned_tail, r.checkpoints), (n, 0, 1));
    assert_eq!(r.signed_through, n - 1, "the checkpoint covers every event before itself");

    // Another key: the checkpoint is not accepted.
    let other = AuditKeys::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
    assert!(!audit::verify_jsonl(&trail[..], Some(other.verifying_key()), None).ok);

    // Any single-byte edit fails: every byte of the last three lines, a stride over the rest.
    let tail_start = trail.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i).rev().nth(3).unwrap();
    let mut checked = 0;
    for i in (0..trail.len()).filter(|i| *i >= tail_start || i % 97 == 0) {
        let mut edited = trail.clone();
        edited[i] ^= 0x01;
        let r = audit::verify_jsonl(&edited[..], Some(key), None);
        assert!(!r.ok, "an edit of byte {i} ({:?}) went unnoticed", trail[i] as char);
        checked += 1;
    }
    assert!(checked > 500, "{checked}");
    // Dropping the last line (the checkpoint) leaves nothing signed: --require-signed fails.
    let without_checkpoint = &trail[..=trail[..trail.len() - 1].iter().rposition(|b| *b == b'\n').unwrap()];
    let r = audit::verify_jsonl(without_checkpoint, Some(key), None);
    assert_eq!((r.signed_through, r.unsigned_tail), (0, n - 1));
    // The checkpoint the auditor kept apart covers every event before it, so the trail may
    // lose its checkpoint line, but not one signed event more.
    let anchor = keys.anchor().unwrap();
    assert!(audit::verify_jsonl(without_checkpoint, Some(key), anchor.clone()).ok);
    let cut = &without_checkpoint
        [..=without_checkpoint[..without_checkpoint.len() - 1].iter().rposition(|b| *b == b'\n').unwrap()];
    let r = audit::verify_jsonl(cut, Some(key), anchor);
    assert_eq!(r.first_break.map(|b| (b.kind, b.position)), Some(("truncated", Some(n - 1))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_checkpoint_is_signed_over_a_broken_log() {
    let dir = tempfile::tempdir().unwrap();
    let keys = AuditKeys::load_or_create(dir.path()).unwrap();
    let events = {
        let engine = fresh_engine_in(dir.path(), (sqlite_backend().open)(dir.path())).await;
        let ev = build_log(&engine, &keys).await;
        engine.store().close().await;
        ev
    };
    SqliteTamper { path: dir.path().join("convene.db") }.edit_payload_byte(middle_issue_event(&events).position);
    let store = (sqlite_backend().open)(dir.path());
    assert!(matches!(audit::checkpoint(store.as_ref(), &keys).await, Err(audit::AuditError::Broken(_))));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("audit/signing.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
