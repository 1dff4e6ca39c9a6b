//! Personal data (PIPL) as specs: the name, phone and address of every natural person named in
//! an event — a resident raising an issue, a meeting participant, a voter, a speaker, a
//! volunteer claiming a wish, a team leader, a proposer, an assignee — are sealed with a key of
//! that person's own before they enter the log; `privacy erase` deletes the key; afterwards no
//! erased value is found anywhere (API, SSE, exports, timelines, minutes, a byte search of
//! every file of the data directory, every row of every table on PostgreSQL), while every
//! chain verifies and every state replays, showing the fields as erased.

use crate::audit_specs::{Backend, backends, pg_schema};
use crate::support::{self, COMMUNITY, fresh_engine_in};
use actix_web::App;
use actix_web::test as web;
use convene_api::http::{AppState, configure};
use convene_engine::catalog::Catalog;
use convene_engine::privacy::{self, ERASED, PersonKeys, PersonalGroup};
use convene_engine::secrets::Secrets;
use convene_engine::service::{AsOf, RaiseIssue};
use convene_engine::store::PgSecrets;
use convene_engine::vault::Vault;
use convene_engine::{Actor, Engine, audit, export};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The person who is erased: raiser, participant, voter, speaker, proposer, team leader,
/// volunteer claiming a wish and assignee of an action item.
const PERSON: &str = "p-ouyang-xiulan";
const NAME: &str = "欧阳秀兰";
const PHONE: &str = "13912345678";
const ADDRESS: &str = "东亭社区7栋2单元301室";
/// Another resident, who is not erased.
const OTHER: &str = "司马建国";
const MEETING: &str = "privacy-consultation-day";

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
    let derive = |p: &str| format!("p-of{}", p.replace('/', "-"));
    let persons = privacy::assign_person_ids(&mut data, &groups, derive);
    assert_eq!(persons, ["p-of-raised_by"]);
    let key = [9u8; privacy::KEY_LEN];
    let mut n = 0u8;
    privacy::seal_payload::<()>(
        &mut data,
        &groups,
        derive,
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

/// Where the schemas put a person's name, phone or address: (instance pointer of the object, `*`
/// for array elements, field). A `Party` or `Resident` names its person in `name`; a `Speaker`
/// is one too; a `PersonalText` property is personal in the object that holds it.
fn personal_places(props: &Value, at: &str, out: &mut Vec<(String, String)>, plain: &mut Vec<String>) {
    let Some(props) = props.as_object() else { return };
    for (k, sub) in props {
        let here = format!("{at}/{k}");
        let refers = |s: &Value, def: &str| s["$ref"].as_str().is_some_and(|r| r.ends_with(&format!("/{def}")));
        if refers(sub, "Party") || refers(sub, "Resident") {
            out.push((here.clone(), "name".into()));
        } else if refers(sub, "PersonalText") {
            out.push((at.to_string(), k.clone()));
        } else if sub["type"] == "array" {
            let items = &sub["items"];
            let each = format!("{here}/*");
            if refers(items, "Party") || refers(items, "Speaker") {
                out.push((each.clone(), "name".into()));
            }
            personal_places(&items["properties"], &each, out, plain);
        } else if ["name", "phone", "address"].contains(&k.as_str()) && sub["type"] == "string" {
            plain.push(here.clone());
        }
        personal_places(&sub["properties"], &here, out, plain);
    }
}

#[test]
fn every_name_phone_and_address_in_the_event_schemas_is_declared_personal() {
    let mut checked = 0;
    for t in Catalog::shipped().types() {
        let (mut places, mut plain) = (Vec::new(), Vec::new());
        personal_places(&t.schema["properties"], "", &mut places, &mut plain);
        assert_eq!(plain, Vec::<String>::new(), "{}: a name, phone or address as a plain string", t.name);
        for (at, field) in places {
            assert!(
                t.personal.iter().any(|g| g.at == at && g.fields.contains(&field)),
                "{}: {at} {field} is a person's value but not in x-convene.personal ({:?})",
                t.name,
                t.personal
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "every Party, Resident, participant, voter, speaker, donor and assignee: {checked}");
    // A body is not a natural person: its name stays plain; an individual donor's is sealed.
    let party = &Catalog::shipped().get("NeedAssessed").unwrap().personal[0];
    assert_eq!(party.except_kind, ["body"]);
    let donor = &Catalog::shipped().get("MicroCharityPledged").unwrap().personal[0];
    assert!(donor.except_kind.contains(&"company".into()) && !donor.except_kind.contains(&"individual".into()));
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

/// The keyring that goes with a backend, as `convene` opens it: PostgreSQL tables in the log's
/// schema, or `secrets.db` in the data directory.
async fn secrets_of(b: &Backend, dir: &Path) -> Arc<dyn Secrets> {
    if b.name == "postgres" {
        let url = crate::pg::url().expect("the postgres backend runs only when the URL is set");
        Arc::new(PgSecrets::open(&crate::pg::options(&url, &pg_schema(dir))).await.unwrap())
    } else {
        Arc::new(Vault::open_in(dir).unwrap())
    }
}

/// What `SELECT` returns from every table of the test's PostgreSQL schema, as text (bytea as
/// hex), and whether the person's key row is still there.
async fn pg_rows(dir: &Path) -> (String, i64) {
    let url = crate::pg::url().expect("the postgres backend runs only when the URL is set");
    let schema = pg_schema(dir);
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    let task = tokio::spawn(conn);
    let tables: Vec<String> = client
        .query("SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY 1", &[&schema])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(tables.iter().any(|t| t == "convene_person_keys") && tables.iter().any(|t| t == "convene_tokens"));
    let mut all = String::new();
    for t in &tables {
        for r in client.query(&format!("SELECT t::text FROM {schema}.{t} t"), &[]).await.unwrap() {
            all.push_str(r.get::<_, &str>(0));
            all.push('\n');
        }
    }
    let left: i64 = client
        .query_one(&format!("SELECT count(*) FROM {schema}.convene_person_keys WHERE person_id = $1"), &[&PERSON])
        .await
        .unwrap()
        .get(0);
    drop(client);
    let _ = task.await;
    (all, left)
}

/// The in-process app the specs call.
trait TestApp:
    actix_web::dev::Service<actix_http::Request, Response = actix_web::dev::ServiceResponse, Error = actix_web::Error>
{
}
impl<T> TestApp for T where
    T: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
        >
{
}

async fn get(app: &impl TestApp, uri: &str) -> String {
    let r = web::call_service(app, web::TestRequest::get().uri(uri).to_request()).await;
    assert_eq!(r.status(), 200, "{uri}");
    String::from_utf8(web::read_body(r).await.to_vec()).unwrap()
}

async fn get_json(app: &impl TestApp, uri: &str) -> Value {
    serde_json::from_str(&get(app, uri).await).unwrap()
}

async fn post(app: &impl TestApp, uri: &str, body: Value) -> Value {
    let r = web::call_service(app, web::TestRequest::post().uri(uri).set_json(body).to_request()).await;
    let status = r.status();
    let out: Value = serde_json::from_slice(&web::read_body(r).await).unwrap_or(Value::Null);
    assert!(status.is_success(), "{uri}: {status} {out:#}");
    out
}

/// The first `events` messages of a Server-Sent Events feed.
async fn sse(app: &impl TestApp, uri: &str, events: usize) -> String {
    use actix_web::body::MessageBody;
    let r = web::call_service(app, web::TestRequest::get().uri(uri).to_request()).await;
    assert_eq!(r.status(), 200, "{uri}");
    let mut body = Box::pin(r.into_body());
    let mut text = String::new();
    while text.matches("\nevent: ").count() < events {
        let next = std::future::poll_fn(|cx| body.as_mut().poll_next(cx));
        let chunk = tokio::time::timeout(Duration::from_secs(10), next)
            .await
            .expect("the live feed delivers the log")
            .expect("the live feed goes on")
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    text
}

fn text(zh: &str) -> Value {
    json!({"zh-CN": zh, "en": zh})
}

fn convener() -> Value {
    json!({"id": "c-1", "role": "convener", "community": COMMUNITY})
}

fn mstep(t: &str, data: Value) -> Value {
    json!({"type": t, "data": data, "actor": convener()})
}

fn istep(t: &str, role: &str, data: Value) -> Value {
    json!({"type": t, "data": data, "actor": {"id": format!("{role}-1"), "role": role, "community": COMMUNITY}})
}

/// Given the person raising an issue, invited to the consultation day as a resident
/// representative, speaking, moving the motion, voting, named team leader by the carried motion,
/// assigned an action item, and claiming a micro-wish as a volunteer; and another resident
/// raising an issue of their own. Returns (the issue, the other issue).
async fn the_persons_matter(app: &impl TestApp) -> (String, String) {
    let residents = |name: &str, person: Option<&str>| {
        let mut by = json!({"name": name, "phone": PHONE, "address": ADDRESS, "society": "community"});
        if let Some(p) = person {
            by["person_id"] = json!(p);
        }
        let mut body = support::payload::raise_data();
        body["raised_by"] = by;
        body["actor"] = json!({"id": "acct-77", "role": "resident", "community": COMMUNITY});
        body
    };
    let issue =
        post(app, "/v1/issues", residents(NAME, Some(PERSON))).await["issue"]["id"].as_str().unwrap().to_string();
    let mut other_body = residents(OTHER, None);
    other_body["raised_by"] = json!({"name": OTHER, "society": "community"});
    let other = post(app, "/v1/issues", other_body).await["issue"]["id"].as_str().unwrap().to_string();
    let is = format!("/v1/issues/{issue}/steps");
    post(app, &is, istep("NeedAssessed", "social_worker", support::payload::need_assessed())).await;

    let body_party = json!({"kind": "body", "name": "水果湖社区居委会", "society": "community"});
    post(
        app,
        "/v1/meetings",
        json!({"meeting_id": MEETING, "actor": convener(), "kind": "consultation_day", "community": COMMUNITY,
            "title": text("水果湖社区协商民主日"), "scheduled_for": "2026-05-20T11:00:00Z", "venue": text("社区议事厅"),
            "convener": body_party}),
    )
    .await;
    let ms = format!("/v1/meetings/{MEETING}/steps");
    let me = json!({"person_id": PERSON, "name": NAME, "role": "resident_representative"});
    let mut steps = vec![
        mstep("AgendaItemAdded", json!({"issue_id": issue, "proposer": body_party})),
        mstep(
            "ParticipantInvited",
            json!({"person_id": PERSON, "name": NAME, "body": "resident", "resident_representative": true}),
        ),
        mstep(
            "ParticipantInvited",
            json!({"person_id": "rr-2", "name": "居民代表二", "body": "resident", "resident_representative": true}),
        ),
        mstep(
            "ParticipantInvited",
            json!({"person_id": "rr-3", "name": "居民代表三", "body": "resident", "resident_representative": true}),
        ),
        mstep("MeetingOpened", json!({"chair": body_party})),
    ];
    for p in [PERSON, "rr-2", "rr-3"] {
        steps.push(mstep("AttendanceRecorded", json!({"person_id": p, "status": "present"})));
    }
    steps.extend([
        mstep(
            "AgendaItemDeliberated",
            json!({"issue_id": issue, "summary": text("居民同意组建清洁队"), "speakers": [{"person_id": PERSON}, "居民代表二"]}),
        ),
        mstep("EstablishQuorum", json!({})),
        mstep(
            "MotionTabled",
            json!({"motion_id": "motion-1", "issue_id": issue, "text": text("组建楼道清洁微团队"), "proposer": me,
                "steps": [{"type": "MicroTeamFormed", "data": {"team_id": "clean-team", "name": text("楼道清洁队"),
                    "purpose": text("每月清理楼道"), "members_count": 5, "society": "volunteer",
                    "leader": {"person_id": PERSON, "name": NAME, "society": "volunteer"}}}]}),
        ),
        mstep("VoteRecorded", json!({"motion_id": "motion-1", "voter": PERSON, "choice": "for"})),
        mstep("VoteRecorded", json!({"motion_id": "motion-1", "voter": "rr-2", "choice": "for"})),
        mstep("VoteRecorded", json!({"motion_id": "motion-1", "voter": "rr-3", "choice": "against"})),
        mstep("CloseVote", json!({"motion_id": "motion-1"})),
        mstep(
            "ActionItemAssigned",
            json!({"action_item_id": "ai-1", "issue_id": issue, "task": text("一个月后回访"), "due": "2026-06-30",
                "assignee": {"person_id": PERSON, "name": NAME, "body": "resident"}}),
        ),
        mstep("MeetingClosed", json!({})),
        mstep("PublishMinutes", json!({})),
    ]);
    for s in steps {
        post(app, &ms, s).await;
    }
    let mut collected = support::payload::micro_wish_collected("wish-1");
    collected["collected_by"] = body_party.clone();
    post(app, &is, istep("MicroWishCollected", "social_worker", collected)).await;
    let mut claimed = support::payload::micro_wish_claimed("wish-1");
    claimed["claimed_by"] = json!({"person_id": PERSON, "name": NAME, "society": "volunteer"});
    post(app, &is, istep("MicroWishClaimed", "volunteer", claimed)).await;
    (issue, other)
}

/// Every place the person's name shows in the issue and the meeting, as read through the API.
fn the_persons_fields(issue: &Value, meeting: &Value) -> Vec<Value> {
    let voter = meeting["quorum"]["voters"].as_array().unwrap().iter().find(|v| v["person_id"] == PERSON).unwrap();
    vec![
        issue["raised_by"]["name"].clone(),
        issue["raised_by"]["phone"].clone(),
        issue["raised_by"]["address"].clone(),
        issue["record"]["teams"][0]["leader"]["name"].clone(),
        issue["record"]["wishes"][0]["claimed_by"]["name"].clone(),
        meeting["participants"][0]["name"].clone(),
        voter["name"].clone(),
        meeting["agenda"][0]["deliberations"][0]["speakers"][0]["name"].clone(),
        meeting["motions"][0]["proposer"]["name"].clone(),
        meeting["action_items"][0]["assignee"]["name"].clone(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_erasing_a_person_no_value_of_theirs_is_found_anywhere_while_chains_verify_and_states_replay() {
    for b in backends() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = secrets_of(&b, dir.path()).await;
        let engine = Arc::new(fresh_engine_in(dir.path(), (b.open)(dir.path())).await);
        assert!(engine.set_person_keys(PersonKeys::new(secrets.clone())));
        let app = web::init_service(App::new().configure(configure(AppState::insecure_dev(engine.clone())))).await;
        let app = &app;

        // Given the person's matter, from raising to the minutes.
        let (issue, other) = the_persons_matter(app).await;
        let meeting_uri = format!("/v1/meetings/{MEETING}");
        let (before_issue, before_meeting) =
            (get_json(app, &format!("/v1/issues/{issue}")).await, get_json(app, &meeting_uri).await);
        let expected = [NAME, PHONE, ADDRESS, NAME, NAME, NAME, NAME, NAME, NAME, NAME];
        assert_eq!(
            the_persons_fields(&before_issue, &before_meeting),
            expected.map(|s| json!(s)),
            "{}: every read reveals the person while the key exists",
            b.name
        );
        assert!(get(app, &format!("{meeting_uri}/minutes")).await.contains(NAME), "the minutes name them");
        assert!(get(app, &format!("/v1/issues/{issue}/events?reveal=true")).await.contains(NAME));
        let published = engine.meeting(MEETING).await.unwrap().minutes.unwrap().sha256;

        // The log holds them only sealed, and only for this person: the voter's name copied by
        // the engine from the invitation, the team leader copied from the motion to the issue.
        let log = engine.store().read_all(0, 100_000).await.unwrap();
        for e in &log {
            for plain in [NAME, PHONE, ADDRESS] {
                assert!(!e.data.get().contains(plain), "{}: {} {} holds {plain}", b.name, e.stream, e.event_type);
            }
            if e.actor != Actor::system() {
                assert_eq!(e.actor.name, None, "{}: the envelope names an account, not a person", b.name);
            }
        }
        let stored = |t: &str| log.iter().find(|e| e.event_type == t).unwrap().data_value();
        assert_eq!(stored("QuorumEstablished")["voters"][0]["name"]["$pii"], PERSON);
        assert_eq!(stored("MicroTeamFormed")["leader"]["name"]["$pii"], PERSON);
        assert_eq!(stored("MeetingScheduled")["convener"]["name"], "水果湖社区居委会", "a body stays plain");
        let key = PersonKeys::new(secrets.clone()).get(PERSON).await.unwrap().expect("a key");
        let key_hex = hex::encode(key);
        if b.name == "postgres" {
            let (rows, left) = pg_rows(dir.path()).await;
            assert!(rows.contains(&key_hex) && left == 1, "the search finds the key before erasure");
        } else {
            assert!(!found_in(dir.path(), &key).is_empty(), "the byte search finds the key before erasure");
        }

        // When the person is erased, through another handle on the keyring (as the CLI does).
        let keyring = PersonKeys::new(secrets_of(&b, dir.path()).await);
        assert!(keyring.erase(PERSON).await.unwrap());
        assert!(!keyring.erase(PERSON).await.unwrap(), "nothing left to erase");

        // Then every field reads as erased; the other resident is untouched.
        let (after_issue, after_meeting) =
            (get_json(app, &format!("/v1/issues/{issue}")).await, get_json(app, &meeting_uri).await);
        assert_eq!(the_persons_fields(&after_issue, &after_meeting), vec![json!(ERASED); 10], "{}", b.name);
        assert_eq!(after_issue["raised_by"]["person_id"], PERSON);
        assert_eq!(after_issue["state"], "acting");
        assert_eq!(get_json(app, &format!("/v1/issues/{other}")).await["raised_by"]["name"], OTHER);
        let head = *engine.store().head().borrow() as usize;
        let mut seen = String::new();
        for uri in [
            format!("/v1/issues/{issue}"),
            "/v1/issues".to_string(),
            format!("/v1/issues/{issue}/events"),
            format!("/v1/issues/{issue}/events?reveal=true"),
            format!("/v1/issues/{issue}/timeline"),
            format!("/v1/issues/{issue}/timeline?format=html"),
            format!("/v1/issues/{issue}/timeline?lang=en&format=json"),
            meeting_uri.clone(),
            "/v1/meetings".to_string(),
            format!("{meeting_uri}/events"),
            format!("{meeting_uri}/events?reveal=true"),
            format!("{meeting_uri}/minutes"),
            format!("{meeting_uri}/minutes?format=html"),
            format!("{meeting_uri}/minutes?lang=en"),
            format!("{meeting_uri}/minutes?sealed=true"),
            format!("{meeting_uri}/timeline?format=html"),
            "/v1/action-items".to_string(),
            "/v1/events?limit=1000".to_string(),
            "/v1/events?limit=1000&reveal=true".to_string(),
            "/v1/export?format=jsonl".to_string(),
            "/v1/export?format=csv".to_string(),
        ] {
            seen += &get(app, &uri).await;
        }
        seen += &sse(app, "/v1/events/live?after=0", head).await;
        seen += &sse(app, "/v1/events/live?after=0&reveal=true", head).await;
        assert!(seen.contains(OTHER) && seen.contains(ERASED), "the search does see what is still readable");
        for plain in [NAME, PHONE, ADDRESS] {
            assert!(!seen.contains(plain), "{}: {plain} still served", b.name);
        }
        // The published minutes still match their digest: it covers the sealed form.
        let sealed = get(app, &format!("{meeting_uri}/minutes?sealed=true")).await;
        assert_eq!(convene_engine::meeting::minutes::digest(&sealed), published);

        // Chains verify over the unchanged bytes, and states replay in a fresh process.
        let report = audit::verify_store(engine.store().as_ref(), None, None).await.unwrap();
        assert!(report.ok, "{}: {report:#?}", b.name);
        let mut trail = Vec::new();
        export::export(engine.store().as_ref(), None, export::Format::Jsonl, None, &mut trail).await.unwrap();
        assert!(audit::verify_jsonl(&trail[..], None, None).ok);
        engine.store().close().await;
        drop(engine);
        let reopened = Engine::open((b.open)(dir.path())).await.unwrap();
        reopened.set_person_keys(PersonKeys::new(secrets_of(&b, dir.path()).await));
        let s = reopened.issue_as_of(&issue, AsOf::Version(1)).await.unwrap();
        assert_eq!(s.state, "assessed");
        assert_eq!(reopened.revealed(&s).await.unwrap()["raised_by"]["name"], ERASED);
        let m = reopened.meeting_as_of(MEETING, AsOf::Version(5)).await.unwrap();
        assert_eq!(reopened.revealed(&m).await.unwrap()["participants"][0]["name"], ERASED);
        let o = reopened.revealed(&reopened.current(&other).await.unwrap()).await.unwrap();
        assert_eq!(o["raised_by"]["name"], OTHER);
        reopened.store().close().await;

        // A byte search of every file of the data directory (the embedded log with its -wal
        // and -shm files, secrets.db, the audit keys) and, on PostgreSQL, of every row of
        // every table: neither the values nor the key; the key's row is gone.
        for needle in [NAME.as_bytes(), PHONE.as_bytes(), ADDRESS.as_bytes(), &key[..]] {
            assert_eq!(found_in(dir.path(), needle), Vec::<String>::new(), "{}: found after erasure", b.name);
        }
        if b.name == "postgres" {
            let (rows, left) = pg_rows(dir.path()).await;
            assert_eq!(left, 0, "the key row is gone");
            for needle in [NAME, PHONE, ADDRESS, key_hex.as_str()] {
                assert!(!rows.contains(needle), "postgres: {needle} in a table after erasure");
            }
            assert!(rows.contains(OTHER) || rows.contains("$pii"), "the rows were read");
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

#[tokio::test]
async fn names_stored_plain_before_sealing_stay_readable_and_new_ones_are_sealed() {
    // Given a log written by an engine without a keyring (as before sealing): plain names.
    let (dir, plain) = support::fresh_engine().await;
    let id = plain.raise(raise(OTHER, PHONE, ADDRESS)).await.unwrap().issue.id;
    plain.store().close().await;
    drop(plain);
    // When an engine with a keyring reads it and records a step naming a person.
    let store = support::open_sqlite(dir.path());
    let keys = PersonKeys::new(Vault::open_in(dir.path()).unwrap());
    let engine = Engine::open_with_keys(store, Some(keys)).await.unwrap();
    let mut assessed = support::payload::need_assessed();
    assessed["assessor"] = json!({"name": NAME, "society": "social_worker"});
    let o = engine.step(support::step(&id, "NeedAssessed", assessed, "social_worker")).await.unwrap();
    // Then the old plain name reads as it was, and the new one is sealed in the log.
    let shown = engine.revealed(&o.issue).await.unwrap();
    assert_eq!(shown["raised_by"]["name"], OTHER);
    assert_eq!(shown["record"]["assessment"]["assessor"]["name"], NAME);
    assert!(!o.event.data.get().contains(NAME), "{}", o.event.data.get());
    assert!(o.issue.record.assessment.unwrap().assessor.person_id.is_some(), "the engine gave the assessor an id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_tokens_left_in_the_data_directory_move_into_postgres_once() {
    let Some(url) = crate::pg::url() else { return };
    // Given a data directory of a PostgreSQL deployment from before, with a token and a key in
    // its secrets.db.
    let data = tempfile::tempdir().unwrap();
    let vault = Vault::open_in(data.path()).unwrap();
    let tokens = convene_engine::auth::TokenStore::new(vault.clone());
    let (info, secret) = tokens.create("admin", "*", Some("运维")).await.unwrap();
    let key = PersonKeys::new(vault).key_or_create(PERSON).await.unwrap();
    // When the secrets of the PostgreSQL log are opened with that directory.
    let schema = crate::pg::unique_schema("adopt");
    let target = convene_engine::store::StoreUrl::Postgres(Box::new(crate::pg::options(&url, &schema)));
    let secrets = convene_engine::secrets::open(&target, data.path()).await.unwrap();
    // Then the database has them, and the file no longer does: an erasure in the database is
    // the only one needed.
    assert_eq!(PersonKeys::new(secrets.clone()).get(PERSON).await.unwrap(), Some(key));
    let moved = convene_engine::auth::TokenStore::new(secrets.clone());
    assert_eq!(moved.resolve(&secret).await.unwrap().map(|p| p.id), Some(info.id));
    assert_eq!(found_in(data.path(), &key), Vec::<String>::new(), "the key left the data directory");
    assert_eq!(PersonKeys::new(Vault::open_in(data.path()).unwrap()).count().await.unwrap(), 0);
    // Opening again moves nothing and loses nothing.
    let again = convene_engine::secrets::open(&target, data.path()).await.unwrap();
    assert_eq!(PersonKeys::new(again).get(PERSON).await.unwrap(), Some(key));
}
