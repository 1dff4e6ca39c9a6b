//! Event schema evolution: an event type's schema version is raised (IssueWithdrawn v2 requires
//! `outcome`); events written at v1 are read through the declared v1→v2 upcaster and never
//! rewritten; new appends validate against v2; every chain still verifies over the stored
//! bytes. On every backend of `audit_specs::backends()`.

use crate::audit_specs::backends;
use crate::support::{self, COMMUNITY, fresh_engine_in, payload};
use convene_engine::audit;
use convene_engine::catalog::{Catalog, UPCASTERS, upcast, upcast_version};
use convene_engine::event::canonical_json;
use convene_engine::issue::{self, Refusal};
use convene_engine::service::AsOf;
use convene_engine::store::{Direction, ExpectedVersion};
use convene_engine::{Actor, Engine, EngineError, NewEvent};
use serde_json::{Value, json};
use std::borrow::Cow;

/// IssueWithdrawn as schema version 1 knew it: no `outcome`.
fn withdrawn_v1() -> Value {
    json!({"reason": {"zh-CN": "问题已自行解决", "en": "the problem resolved itself"},
        "withdrawn_by": {"name": "李阿姨", "role": "resident"}})
}

#[test]
fn every_raised_schema_version_has_a_declared_upcaster_from_each_older_version() {
    let catalog = Catalog::shipped();
    for t in catalog.types() {
        for v in 1..t.schema_version {
            assert_eq!(
                upcast_version(&t.name, v),
                t.schema_version,
                "{} v{v} does not reach the current version",
                t.name
            );
        }
        assert_eq!(upcast_version(&t.name, t.schema_version), t.schema_version, "{}: nothing beyond current", t.name);
    }
    for u in UPCASTERS {
        let t = catalog.get(u.event_type).unwrap_or_else(|| panic!("an upcaster for unknown type {}", u.event_type));
        assert!(
            u.from >= 1 && u.from < t.schema_version,
            "{} from v{} is not older than v{}",
            u.event_type,
            u.from,
            t.schema_version
        );
        assert!(!u.change.is_empty());
    }
    assert_eq!(catalog.get("IssueWithdrawn").map(|t| t.schema_version), Some(2), "the raised schema");
}

#[test]
fn the_issue_withdrawn_upcaster_supplies_the_default_and_its_result_satisfies_the_current_schema() {
    let catalog = Catalog::shipped();
    let v1 = withdrawn_v1();
    let errors = catalog.validate("IssueWithdrawn", &v1).expect_err("a v1 payload is not a valid new append");
    assert!(errors.iter().any(|e| e.pointer.contains("outcome") || e.message.contains("outcome")), "{errors:?}");

    let stored = canonical_json(&v1);
    let read = upcast("IssueWithdrawn", 1, stored.get());
    let up: Value = serde_json::from_str(&read).unwrap();
    assert_eq!(up["outcome"], "not_recorded");
    assert_eq!((&up["reason"], &up["withdrawn_by"]), (&v1["reason"], &v1["withdrawn_by"]), "nothing else changes");
    catalog.validate("IssueWithdrawn", &up).expect("the upcast payload is a valid v2 payload");
    assert_eq!(read.as_ref(), canonical_json(&up).get(), "the upcast payload is canonical JSON");

    // Current-version payloads (and types without upcasters) are read as stored, unparsed.
    let v2 = canonical_json(&payload::issue_withdrawn());
    assert!(matches!(upcast("IssueWithdrawn", 2, v2.get()), Cow::Borrowed(s) if std::ptr::eq(s, v2.get())));
    let other = canonical_json(&payload::need_assessed());
    assert!(matches!(upcast("NeedAssessed", 1, other.get()), Cow::Borrowed(_)));
    // A v1 payload that somehow has an outcome keeps it.
    let mut odd = v1.clone();
    odd["outcome"] = json!("duplicate_text");
    let kept: Value = serde_json::from_str(&upcast("IssueWithdrawn", 1, canonical_json(&odd).get())).unwrap();
    assert_eq!(kept["outcome"], "duplicate_text");
}

fn resident() -> Actor {
    let mut a = Actor::new("r-9", "resident").named("李阿姨");
    a.community = Some(COMMUNITY.into());
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_written_at_v1_replays_through_the_upcaster_is_never_rewritten_and_every_chain_verifies() {
    for b in backends() {
        let dir = tempfile::tempdir().unwrap();
        let (old, explicit, position, stored_v1) = {
            let engine = fresh_engine_in(dir.path(), (b.open)(dir.path())).await;
            // An issue withdrawn by an engine of schema v1: appended as that engine did.
            let old = engine.raise(support::raise_community_issue()).await.unwrap().issue.id;
            let v1 = NewEvent::new("IssueWithdrawn", &withdrawn_v1(), resident()).with_schema_version(1);
            let stored_v1 = v1.data().get().to_string();
            let out =
                engine.store().append(&issue::stream_of(&old), ExpectedVersion::Exact(0), vec![v1]).await.unwrap();
            let position = out.first_position;
            // The same withdrawal written today, saying explicitly what v1 could not.
            let explicit = engine.raise(support::raise_community_issue()).await.unwrap().issue.id;
            let mut v2 = withdrawn_v1();
            v2["outcome"] = json!("not_recorded");
            let written = engine.step(support::step(&explicit, "IssueWithdrawn", v2, "resident")).await.unwrap();
            assert_eq!(written.event.schema_version, 2, "new appends are stamped with the current version");

            // New appends validate against v2: without `outcome` the step is refused.
            let third = engine.raise(support::raise_community_issue()).await.unwrap().issue.id;
            let err =
                engine.step(support::step(&third, "IssueWithdrawn", withdrawn_v1(), "resident")).await.unwrap_err();
            assert!(
                matches!(&err, EngineError::Refused(Refusal::InvalidPayload { errors, .. })
                    if errors.iter().any(|e| e.pointer.contains("outcome") || e.message.contains("outcome"))),
                "{}: {err:?}",
                b.name
            );
            engine.store().close().await;
            (old, explicit, position, stored_v1)
        };

        // A fresh process replays the whole log.
        let store = (b.open)(dir.path());
        let engine = Engine::open(store.clone()).await.unwrap();
        let (o, e) = (engine.current(&old).await.unwrap(), engine.current(&explicit).await.unwrap());
        assert_eq!((o.state.as_str(), o.anomalies.len()), ("withdrawn", 0), "{}", b.name);
        let (oc, ec) = (o.record.closure.clone().unwrap(), e.record.closure.clone().unwrap());
        assert_eq!((oc.kind, oc.outcome.as_deref()), ("withdrawn", Some("not_recorded")), "{}", b.name);
        assert_eq!(
            (&oc.kind, &oc.reason, &oc.outcome),
            (&ec.kind, &ec.reason, &ec.outcome),
            "same state as written at v2"
        );
        assert_eq!(engine.issue_as_of(&old, AsOf::Version(1)).await.unwrap(), o, "time travel reads it the same way");
        let tl = engine.issue_timeline(&old, None).await.unwrap();
        assert_eq!(tl.steps.last().map(|s| s.to.name.as_str()), Some("withdrawn"));

        // Nothing was rewritten: the stored row holds v1 bytes and version 1.
        let (version, bytes) = (b.tamper)(dir.path()).stored(position);
        assert_eq!((version, bytes.as_str()), (1, stored_v1.as_str()), "{}: the stored row is untouched", b.name);
        assert!(!bytes.contains("outcome"));
        let read = engine.store().read_stream(&issue::stream_of(&old), 1, Direction::Forward, 1).await.unwrap();
        assert_eq!((read[0].schema_version, read[0].data.get()), (1, stored_v1.as_str()), "reads return stored bytes");

        // Every chain verifies over the stored bytes, in the store and in an exported trail.
        let report = audit::verify_store(store.as_ref(), None, None).await.unwrap();
        assert!(report.ok, "{}: {report:#?}", b.name);
        let mut trail = Vec::new();
        convene_engine::export::export(store.as_ref(), None, convene_engine::export::Format::Jsonl, None, &mut trail)
            .await
            .unwrap();
        assert!(audit::verify_jsonl(&trail[..], None, None).ok);
        assert!(String::from_utf8_lossy(&trail).contains(&stored_v1), "the export carries the v1 bytes");
        store.close().await;
    }
}
