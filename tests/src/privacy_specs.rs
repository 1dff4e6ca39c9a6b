//! Personal data (PIPL) as specs: a resident's name, phone and address are sealed with a key of
//! their own before they enter the log; `privacy erase` deletes the key; afterwards no erased
//! value is found anywhere (API, exports, timelines, a byte search of every file of the data
//! directory, the stored rows on every backend), while every chain verifies and every state
//! replays, showing the fields as erased.

use crate::audit_specs::backends;
use crate::support::{self, COMMUNITY, fresh_engine_in, record_all, to_assessed};
use actix_web::App;
use actix_web::test as web;
use convene_api::http::{AppState, configure};
use convene_engine::catalog::Catalog;
use convene_engine::privacy::{self, ERASED, PersonKeys, PersonalGroup};
use convene_engine::service::{AsOf, RaiseIssue};
use convene_engine::vault::Vault;
use convene_engine::{Actor, Engine, audit, export};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

const NAME: &str = "欧阳秀兰";
const PHONE: &str = "13912345678";
const ADDRESS: &str = "东亭社区7栋2单元301室";
const OTHER: &str = "司马建国";

fn raise(name: &str, phone: &str, address: &str) -> RaiseIssue {
    let mut data = support::payload::raise_data();
    data["raised_by"] = json!({"name": name, "phone": phone, "address": address, "society": "community"});
    // The account that raises it: an id and a role, no name in the envelope.
    let mut actor = Actor::new("acct-77", "resident");
    actor.community = Some(COMMUNITY.into());
    RaiseIssue { workflow_id: "community-issue".into(), workflow_version: None, data, actor, idempotency_key: None }
}

#[test]
fn a_payload_is_sealed_per_person_and_revealed_only_with_that_persons_key() {
    let groups = vec![PersonalGroup::new("/raised_by", &["name", "phone", "address"])];
    assert_eq!(Catalog::shipped().get("IssueRaised").unwrap().personal, groups, "declared by the schema");
    let mut data = support::payload::issue_raised("community-issue", 1);
    data["raised_by"] = json!({"name": NAME, "phone": PHONE, "society": "community"});
    let persons = privacy::assign_person_ids(&mut data, &groups, |p| format!("p-of{}", p.replace('/', "-")));
    assert_eq!(persons, ["p-of-raised_by"]);
    let key = [9u8; privacy::KEY_LEN];
    let mut n = 0u8;
    privacy::seal_payload::<()>(
        &mut data,
        &groups,
        |p| format!("p-of{}", p.replace('/', "-")),
        |_| Ok(key),
        || {
            n += 1;
            [n; privacy::NONCE_LEN]
        },
    )
    .unwrap();
    let text = data.to_string();
    assert!(!text.contains(NAME) && !text.contains(PHONE), "{text}");
    assert_eq!(data["raised_by"]["name"]["$pii"], "p-of-raised_by");
    assert_eq!(data["raised_by"]["society"], "community", "only the personal fields are sealed");
    Catalog::shipped().validate("IssueRaised", &data).expect("the schema accepts the sealed form");

    let mut with_key = data.clone();
    privacy::reveal(&mut with_key, &mut |_| Some(key));
    assert_eq!(
        (with_key["raised_by"]["name"].as_str(), with_key["raised_by"]["phone"].as_str()),
        (Some(NAME), Some(PHONE))
    );
    let mut erased = data.clone();
    privacy::reveal(&mut erased, &mut |_| None);
    assert_eq!(
        (erased["raised_by"]["name"].as_str(), erased["raised_by"]["phone"].as_str()),
        (Some(ERASED), Some(ERASED))
    );
    let mut wrong = data;
    privacy::reveal(&mut wrong, &mut |_| Some([1u8; privacy::KEY_LEN]));
    assert_eq!(wrong["raised_by"]["name"], ERASED, "another key opens nothing");
}

/// Every file below `dir`, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else if let Ok(b) = std::fs::read(&p) {
            out.push((p.display().to_string(), b));
        }
    }
    out
}

fn found_in(dir: &Path, needle: &[u8]) -> Vec<String> {
    files(dir).into_iter().filter(|(_, b)| b.windows(needle.len()).any(|w| w == needle)).map(|(p, _)| p).collect()
}

async fn body(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    uri: &str,
) -> String {
    let r = web::call_service(app, web::TestRequest::get().uri(uri).to_request()).await;
    assert_eq!(r.status(), 200, "{uri}");
    String::from_utf8(web::read_body(r).await.to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_erasure_no_personal_value_is_found_anywhere_while_chains_verify_and_states_replay() {
    for b in backends() {
        let dir = tempfile::tempdir().unwrap();
        let keyring = || PersonKeys::new(Vault::open_in(dir.path()).unwrap());
        let engine = Arc::new(fresh_engine_in(dir.path(), (b.open)(dir.path())).await);
        assert!(engine.set_person_keys(keyring()));
        let raised = engine.raise(raise(NAME, PHONE, ADDRESS)).await.unwrap();
        let id = raised.issue.id.clone();
        record_all(&engine, &id, &to_assessed()).await;
        let other = engine.raise(raise(OTHER, "13800001111", "东亭社区1栋")).await.unwrap().issue.id;
        let person = raised.issue.raised_by.person_id.clone().expect("the engine gave the resident a person id");
        let stored = raised.event.data.get().to_string();
        for plain in [NAME, PHONE, ADDRESS] {
            assert!(!stored.contains(plain), "{}: {plain} in the stored payload {stored}", b.name);
        }
        assert!(stored.contains("\"$pii\""));

        let app = web::init_service(App::new().configure(configure(AppState::insecure_dev(engine.clone())))).await;
        let before: Value = serde_json::from_str(&body(&app, &format!("/v1/issues/{id}")).await).unwrap();
        assert_eq!(
            (
                before["raised_by"]["name"].as_str(),
                before["raised_by"]["phone"].as_str(),
                before["raised_by"]["address"].as_str()
            ),
            (Some(NAME), Some(PHONE), Some(ADDRESS)),
            "{}: readable while the key exists",
            b.name
        );
        let key = keyring().get(&person).await.unwrap().expect("a key");
        assert!(!found_in(dir.path(), &key).is_empty(), "the byte search finds the key before erasure");
        for plain in [NAME, PHONE, ADDRESS] {
            assert_eq!(
                found_in(dir.path(), plain.as_bytes()),
                Vec::<String>::new(),
                "{plain} was never written in plain"
            );
        }

        // Erasure, by another process's view of the vault (as `convene privacy erase` does).
        assert!(keyring().erase(&person).await.unwrap());
        assert!(!keyring().erase(&person).await.unwrap(), "nothing left to erase");

        // The API: the fields read as erased; the other resident is untouched.
        let after: Value = serde_json::from_str(&body(&app, &format!("/v1/issues/{id}")).await).unwrap();
        for f in ["name", "phone", "address"] {
            assert_eq!(after["raised_by"][f], ERASED, "{}: {f}", b.name);
        }
        assert_eq!(
            (after["state"].as_str(), after["raised_by"]["person_id"].as_str()),
            (Some("assessed"), Some(person.as_str()))
        );
        let o: Value = serde_json::from_str(&body(&app, &format!("/v1/issues/{other}")).await).unwrap();
        assert_eq!(o["raised_by"]["name"], OTHER);
        let mut seen = String::new();
        for uri in [
            format!("/v1/issues/{id}"),
            "/v1/issues".to_string(),
            format!("/v1/issues/{id}/events"),
            format!("/v1/issues/{id}/timeline?format=html"),
            format!("/v1/issues/{id}/timeline?lang=en&format=json"),
            "/v1/events".to_string(),
            "/v1/export?format=jsonl".to_string(),
            "/v1/export?format=csv".to_string(),
        ] {
            seen += &body(&app, &uri).await;
        }
        assert!(seen.contains(OTHER), "the search does see plain values that are still readable");
        for plain in [NAME, PHONE, ADDRESS] {
            assert!(!seen.contains(plain), "{}: {plain} still served", b.name);
        }

        // Chains verify over the unchanged bytes, and states replay in a fresh process.
        let report = audit::verify_store(engine.store().as_ref(), None, None).await.unwrap();
        assert!(report.ok, "{}: {report:#?}", b.name);
        let mut trail = Vec::new();
        export::export(engine.store().as_ref(), None, export::Format::Jsonl, None, &mut trail).await.unwrap();
        assert!(audit::verify_jsonl(&trail[..], None, None).ok);
        for e in engine.store().read_all(0, 100_000).await.unwrap() {
            for plain in [NAME, PHONE, ADDRESS] {
                assert!(!e.data.get().contains(plain), "{}: stored row {} holds {plain}", b.name, e.position);
            }
        }
        engine.store().close().await;
        drop(app);
        drop(engine);
        let reopened = Engine::open((b.open)(dir.path())).await.unwrap();
        reopened.set_person_keys(keyring());
        let s = reopened.issue_as_of(&id, AsOf::Version(1)).await.unwrap();
        assert_eq!(s.state, "assessed");
        let shown = reopened.revealed(&s).await.unwrap();
        assert_eq!(shown["raised_by"]["name"], ERASED);
        assert_eq!(
            reopened.revealed(&reopened.current(&other).await.unwrap()).await.unwrap()["raised_by"]["name"],
            OTHER
        );
        reopened.store().close().await;

        // A byte search of every file of the data directory (the embedded log with its -wal
        // and -shm files, secrets.db, the audit keys): neither the values nor the key.
        for needle in [NAME.as_bytes(), PHONE.as_bytes(), ADDRESS.as_bytes(), &key[..]] {
            assert_eq!(found_in(dir.path(), needle), Vec::<String>::new(), "{}: found after erasure", b.name);
        }
    }
}

#[tokio::test]
async fn a_retried_raise_with_sealed_personal_data_is_recognised_as_the_same_request() {
    let (dir, engine) = support::fresh_engine().await;
    engine.set_person_keys(PersonKeys::new(Vault::open_in(dir.path()).unwrap()));
    let keyed = |name: &str| RaiseIssue { idempotency_key: Some("raise-1".into()), ..raise(name, PHONE, ADDRESS) };
    let first = engine.raise(keyed(NAME)).await.unwrap();
    let again = engine.raise(keyed(NAME)).await.unwrap();
    assert!(again.replayed, "the same request again writes nothing");
    assert_eq!(
        (again.event.id, again.issue.raised_by.person_id.clone()),
        (first.event.id, first.issue.raised_by.person_id)
    );
    let err = engine.raise(keyed(OTHER)).await.unwrap_err();
    assert!(matches!(err, convene_engine::EngineError::IdempotencyKeyReused), "{err:?}");
}
