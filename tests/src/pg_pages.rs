//! PostgreSQL pages of the log (`read_all_page`, read with `COPY … (FORMAT binary)` over the
//! range `(after, after + limit]`): what whole-log replay's parallel readers rely on while
//! other processes keep appending.

use crate::pg;
use convene_engine::event::PageFields;
use convene_engine::store::read_stream_all;
use convene_engine::{Actor, ExpectedVersion, NewEvent};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const WRITERS: usize = 8;
const PER_WRITER: u64 = 150;
const PAGE: usize = 64;

/// Readers taking turns over pages while 8 writers append: each page holds exactly the
/// positions after its start, with no hole, up to some head; the pages read once the writers
/// have stopped join into exactly `read_all`; a range past the head is short, then empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_read_while_writers_append_are_gap_free_prefixes_and_join_into_the_log() {
    let Some(url) = pg::url() else { return };
    let store = pg::open(&url, &pg::unique_schema("pages")).await;
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let stream = format!("test-pages-{w}");
                for i in 0..PER_WRITER {
                    let e = NewEvent::new(
                        "NeedAssessed",
                        &json!({"w": w, "i": i, "说明": "广场舞 ✓"}),
                        Actor::new(format!("社工-{w}"), "social_worker").named("王秀英"),
                    );
                    let expected = if i == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(i - 1) };
                    store.append(&stream, expected, vec![e]).await.expect("append");
                }
            })
        })
        .collect();
    // Two readers taking turns over the pages, as the replay does, again and again while the
    // writers run: every page must be a gap-free run of positions starting right after `after`.
    let readers: Vec<_> = (0..2u64)
        .map(|r| {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move {
                let mut pages = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut i = r;
                    loop {
                        let after = i * PAGE as u64;
                        let fields = if i % 3 == 0 { PageFields::All } else { PageFields::Fold };
                        let page = store.read_all_page(after, PAGE, fields).await.expect("read_all_page");
                        pages += 1;
                        for (k, e) in page.iter().enumerate() {
                            assert_eq!(e.position, after + 1 + k as u64, "a hole or a reordering in a page");
                        }
                        if page.len() < PAGE {
                            break;
                        }
                        i += 2;
                    }
                }
                pages
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.await.expect("reader") > 0);
    }

    let total = WRITERS as u64 * PER_WRITER;
    assert_eq!(*store.head().borrow(), total);
    let owned = store.read_all(0, total as usize + 10).await.expect("read_all");
    let mut joined = Vec::new();
    for i in 0.. {
        let page = store.read_all_page(i * PAGE as u64, PAGE, PageFields::All).await.expect("page");
        joined.extend(page.iter().map(|e| e.to_recorded()));
        if page.len() < PAGE {
            break;
        }
    }
    assert_eq!(joined, owned, "the pages join into exactly read_all");
    // Streams decode the same from pages as from read_stream.
    let s = read_stream_all(store.as_ref(), "test-pages-3").await.expect("stream");
    let from_pages: Vec<_> = joined.iter().filter(|e| e.stream == "test-pages-3").cloned().collect();
    assert_eq!(from_pages, s);

    let short = store.read_all_page(total - 5, PAGE, PageFields::Fold).await.expect("short page");
    assert_eq!((short.len(), short.last_position()), (5, Some(total)));
    assert!(store.read_all_page(total, PAGE, PageFields::Fold).await.expect("empty").is_empty());
    assert!(store.read_all_page(u64::MAX - 1, PAGE, PageFields::Fold).await.expect("far past").is_empty());
    store.close().await;
}
