//! A whole consultation day over REST, taken from the domain: square-dance noise (广场舞扰民)
//! raised → assessed → on the agenda → quorum → pact motion carried 31/4/2 → pact adopted →
//! a mediation micro-team formed → action item → evaluated → closed, with the generated
//! minutes checked for every number and name in them; and the meeting routes' statuses.

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{App, test};
use convene_api::http::{AppState, configure};
use convene_engine::Engine;
use serde_json::{Value, json};
use std::sync::Arc;

const COMMUNITY: &str = "wuhan/wuchang/zhongnan-street/dongting-community";
const MEETING: &str = "dongting-2026-05-consultation-day";

/// An engine that seals personal data with a keyring in its directory, as `convene` does.
async fn engine() -> (tempfile::TempDir, Arc<Engine>) {
    let (dir, engine) = crate::support::fresh_engine().await;
    let keys = convene_engine::vault::Vault::open_in(dir.path()).unwrap();
    assert!(engine.set_person_keys(convene_engine::privacy::PersonKeys::new(keys)));
    (dir, Arc::new(engine))
}

async fn call<S>(app: &S, req: test::TestRequest) -> (StatusCode, Value, actix_web::http::header::HeaderMap)
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let resp = test::call_service(app, req.to_request()).await;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = test::read_body(resp).await;
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, body, headers)
}

fn convener() -> Value {
    json!({"id": "c-1", "name": "张书记", "role": "convener", "community": COMMUNITY})
}

fn mstep(t: &str, data: Value) -> Value {
    json!({"type": t, "data": data, "actor": convener()})
}

macro_rules! ok {
    ($app:expr, $req:expr) => {{
        let (s, b, _) = call(&$app, $req).await;
        assert!(s.is_success(), "{s}: {b:#}");
        b
    }};
}

fn post(uri: &str, body: Value) -> test::TestRequest {
    test::TestRequest::post().uri(uri).set_json(body)
}

fn get(uri: &str) -> test::TestRequest {
    test::TestRequest::get().uri(uri)
}

fn text(zh: &str, en: &str) -> Value {
    json!({"zh-CN": zh, "en": en})
}

#[actix_web::test]
async fn a_consultation_day_on_square_dance_noise_from_raised_to_closed_with_its_minutes() {
    let (_dir, engine) = engine().await;
    let app = test::init_service(App::new().configure(configure(AppState::insecure_dev(engine.clone())))).await;
    let ms = format!("/v1/meetings/{MEETING}/steps");

    // 民事民提 and 需求评估
    let raised = ok!(
        app,
        post(
            "/v1/issues",
            json!({
                "actor": {"id": "r-1", "name": "王秀英", "role": "resident"},
                "community": COMMUNITY,
                "title": text("广场舞音量过大影响居民休息", "Square-dance music too loud for residents to rest"),
                "category": "noise", "households_affected": 120,
                "raised_by": {"name": "王秀英", "society": "community"}
            })
        )
    );
    let issue = raised["issue"]["id"].as_str().unwrap().to_string();
    let is = format!("/v1/issues/{issue}/steps");
    ok!(
        app,
        post(
            &is,
            json!({"type": "NeedAssessed", "actor": {"id": "sw-1", "name": "李娜", "role": "social_worker"}, "data": {
        "assessor": {"name": "李娜", "society": "social_worker", "organisation": "启航社工站"}, "method": "door_to_door",
        "households_visited": 86, "findings": text("舞队愿意调低音量、缩短时间", "The dance team will turn it down and stop earlier"),
        "priority": "high", "recommended_steps": ["micro_pact", "micro_team"]}})
        )
    );

    // The convener schedules the consultation day and accepts the suggested agenda.
    let (s, m, h) = call(
        &app,
        post(
            "/v1/meetings",
            json!({
                "meeting_id": MEETING, "actor": convener(), "kind": "consultation_day", "community": COMMUNITY,
                "title": text("洞庭社区协商民主日", "Dongting community consultation day"),
                "scheduled_for": "2026-05-20T11:00:00Z", "venue": text("社区议事厅", "the deliberation hall"),
                "convener": {"name": "张书记", "society": "community"}
            }),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{m:#}");
    assert_eq!(h.get("etag").unwrap(), "\"0\"");
    let suggestion = ok!(app, post(&format!("/v1/meetings/{MEETING}/agenda/suggest"), json!({})));
    assert_eq!(suggestion["items"][0]["issue_id"], issue.as_str());
    assert_eq!(suggestion["items"].as_array().unwrap().len(), 1);
    let accepted =
        ok!(app, post(&format!("/v1/meetings/{MEETING}/agenda/suggest"), json!({"accept": true, "actor": convener()})));
    assert_eq!(accepted["added"].as_array().unwrap().len(), 1);
    assert_eq!(ok!(app, get(&format!("/v1/issues/{issue}")))["state"], "on_agenda", "the agenda reached the issue");

    // 40 resident representatives, the social worker and the dance team's leader.
    for i in 1..=40 {
        ok!(
            app,
            post(
                &ms,
                mstep(
                    "ParticipantInvited",
                    json!({"person_id": format!("rr-{i:02}"), "name": format!("居民代表{i:02}"),
            "body": "resident", "resident_representative": true})
                )
            )
        );
    }
    ok!(
        app,
        post(
            &ms,
            mstep(
                "ParticipantInvited",
                json!({"person_id": "sw-1", "name": "李娜", "body": "social_worker", "organisation": "启航社工站"})
            )
        )
    );
    ok!(
        app,
        post(
            &ms,
            mstep(
                "ParticipantInvited",
                json!({"person_id": "dance-1", "name": "刘阿姨", "body": "social_organisation", "organisation": "夕阳红舞蹈队"})
            )
        )
    );
    ok!(app, post(&ms, mstep("MeetingOpened", json!({"chair": {"name": "张书记", "society": "community"}}))));

    // A vote before quorum is refused, with the steps allowed now.
    let (s, p, _) = call(
        &app,
        post(
            &ms,
            mstep("VoteRecorded", json!({"motion_id": "motion-1", "counts": {"for": 1, "against": 0, "abstain": 0}})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{p:#}");
    assert_eq!(p["code"], "no_quorum");
    assert!(p["allowed_steps"].as_array().unwrap().iter().any(|o| o["type"] == "EstablishQuorum"));
    // Quorum cannot be established before attendance is taken.
    let (s, p, _) = call(&app, post(&ms, mstep("EstablishQuorum", json!({})))).await;
    assert_eq!(s, StatusCode::CONFLICT, "{p:#}");
    assert_eq!(p["requirements"][0]["needed"], 20);

    for i in 1..=36 {
        ok!(
            app,
            post(&ms, mstep("AttendanceRecorded", json!({"person_id": format!("rr-{i:02}"), "status": "present"})))
        );
    }
    ok!(
        app,
        post(&ms, mstep("AttendanceRecorded", json!({"person_id": "rr-37", "status": "proxy", "proxy_to": "rr-01"})))
    );
    for i in 38..=40 {
        ok!(
            app,
            post(&ms, mstep("AttendanceRecorded", json!({"person_id": format!("rr-{i:02}"), "status": "absent"})))
        );
    }
    for p in ["sw-1", "dance-1"] {
        ok!(app, post(&ms, mstep("AttendanceRecorded", json!({"person_id": p, "status": "present"}))));
    }
    // A malformed attendance names the field.
    let (s, p, _) =
        call(&app, post(&ms, mstep("AttendanceRecorded", json!({"person_id": "rr-39", "status": "proxy"})))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p:#}");
    assert!(p["errors"].as_array().unwrap().iter().any(|e| e["pointer"] == "/proxy_to"), "{p:#}");

    // 民事民议
    ok!(
        app,
        post(
            &ms,
            mstep(
                "AgendaItemDeliberated",
                json!({"issue_id": issue,
        "summary": text("舞队同意晚上八点半前结束、音量不超过六十分贝，并由居民组成调解小组", "The dance team agrees to stop by 20:30 below 60 dB; residents form a mediation team"),
        "speakers": ["王秀英", "刘阿姨", "李娜"]})
            )
        )
    );
    assert_eq!(ok!(app, get(&format!("/v1/issues/{issue}")))["state"], "deliberated");
    let q = ok!(app, post(&ms, mstep("EstablishQuorum", json!({}))));
    assert_eq!(q["event"]["type"], "QuorumEstablished");
    assert_eq!(q["event"]["data"]["voters"].as_array().unwrap().len(), 37);

    // The pact is drafted and publicised before the vote.
    ok!(
        app,
        post(
            &is,
            json!({"type": "MicroPactDrafted", "actor": {"id": "rr-01", "name": "居民代表01", "role": "resident_representative"}, "data": {
        "pact_id": "dance-pact", "title": text("广场舞文明公约", "Square-dance pact"),
        "clauses": [text("晚上八点半前结束", "stop by 20:30"), text("音量不超过六十分贝", "below 60 dB")]}})
        )
    );
    ok!(
        app,
        post(
            &is,
            json!({"type": "MicroPactPublicized", "actor": {"id": "cs-1", "role": "community_staff"}, "data": {
        "pact_id": "dance-pact", "channels": ["notice_board"], "from": "2026-05-10", "until": "2026-05-17"}})
        )
    );

    // 民事民决: the motion, a show of hands 31/4/2, the engine counts.
    let motion = mstep(
        "MotionTabled",
        json!({"motion_id": "motion-1", "issue_id": issue,
        "text": text("通过《广场舞文明公约》，并组建噪音调解微团队", "Adopt the square-dance pact and form a noise mediation micro-team"),
        "proposer": {"name": "王秀英", "role": "resident_representative"},
        "steps": [
            {"type": "MicroPactAdopted", "data": {"pact_id": "dance-pact", "effective_from": "2026-06-01"}},
            {"type": "MicroTeamFormed", "data": {"team_id": "mediation-team", "name": text("噪音调解小组", "noise mediation team"),
                "purpose": text("劝导舞队遵守公约、调解邻里纠纷", "keep the pact and mediate between neighbours"),
                "leader": {"name": "刘阿姨", "society": "volunteer"}, "members_count": 6, "society": "volunteer"}}
        ]}),
    );
    ok!(app, post(&ms, motion));
    let m_before_vote = ok!(app, get(&format!("/v1/meetings/{MEETING}")));
    let version_before_vote = m_before_vote["version"].as_u64().unwrap();
    let at_before_vote = m_before_vote["updated_at"].as_str().unwrap().to_string();
    // A hand-entered outcome is refused: the engine computes it.
    let (s, p, _) = call(&app, post(&ms, mstep("MotionCarried", json!({"motion_id": "motion-1"})))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p:#}");
    assert_eq!(p["use_instead"], "CloseVote");
    // A stale If-Match is refused.
    let (s, _, _) = call(
        &app,
        post(
            &ms,
            mstep("VoteRecorded", json!({"motion_id": "motion-1", "counts": {"for": 31, "against": 4, "abstain": 2}})),
        )
        .insert_header(("If-Match", "\"3\"")),
    )
    .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED);
    let vote =
        mstep("VoteRecorded", json!({"motion_id": "motion-1", "counts": {"for": 31, "against": 4, "abstain": 2}}));
    let (s, _, h) = call(
        &app,
        post(&ms, vote.clone())
            .insert_header(("Idempotency-Key", "vote-1"))
            .insert_header(("If-Match", format!("\"{version_before_vote}\""))),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert!(h.get("Idempotent-Replayed").is_none());
    let (s, _, h) = call(&app, post(&ms, vote).insert_header(("Idempotency-Key", "vote-1"))).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(h.get("Idempotent-Replayed").unwrap(), "true", "a retried vote is the same vote");
    let carried = ok!(app, post(&ms, mstep("CloseVote", json!({"motion_id": "motion-1"}))));
    assert_eq!(carried["event"]["type"], "MotionCarried");
    assert_eq!(carried["event"]["data"]["votes"], json!({"for": 31, "against": 4, "abstain": 2}));
    assert_eq!(carried["meeting"]["motions"][0]["applied_to_issue"], true);

    // The resolution drove the issue: pact adopted, mediation team formed.
    let s = ok!(app, get(&format!("/v1/issues/{issue}")));
    assert_eq!(s["state"], "acting");
    assert_eq!(s["record"]["pacts"][0]["status"], "adopted");
    assert_eq!(s["record"]["pacts"][0]["votes"], json!({"for": 31, "against": 4, "abstain": 2}));
    assert_eq!(s["record"]["teams"][0]["team_id"], "mediation-team");
    assert_eq!(s["record"]["resolutions"][0]["votes"], json!({"for": 31, "against": 4, "abstain": 2}));

    // Action item, close, publish the minutes.
    ok!(
        app,
        post(
            &ms,
            mstep(
                "ActionItemAssigned",
                json!({"action_item_id": "ai-1", "issue_id": issue,
        "task": text("一个月后入户回访，评估公约执行情况", "Visit households after a month and evaluate the pact"),
        "assignee": {"name": "启航社工站 李娜", "body": "social_worker", "organisation": "启航社工站"},
        "due": "2026-06-30", "done_when": ["Evaluated"]})
            )
        )
    );
    ok!(app, post(&ms, mstep("MeetingClosed", json!({}))));
    let published = ok!(app, post(&ms, mstep("PublishMinutes", json!({}))));
    let sha = published["event"]["data"]["sha256"].as_str().unwrap().to_string();

    // The minutes, generated from the events.
    let (s, zh, h) = call(&app, get(&format!("/v1/meetings/{MEETING}/minutes?lang=zh-CN&format=md"))).await;
    assert_eq!(s, StatusCode::OK);
    assert!(h.get("content-type").unwrap().to_str().unwrap().starts_with("text/markdown"));
    assert_eq!(h.get("Minutes-Published-Sha256").unwrap().to_str().unwrap(), sha);
    let zh = zh.as_str().unwrap().to_string();
    // The digest covers the minutes with personal values in their sealed form: it checks the
    // published minutes without being a way to test guesses of a name once it is erased.
    let sealed = ok!(app, get(&format!("/v1/meetings/{MEETING}/minutes?lang=zh-CN&format=md&sealed=true")));
    let sealed = sealed.as_str().unwrap();
    assert_eq!(
        convene_engine::meeting::minutes::digest(sealed),
        sha,
        "the published hash is the hash of these minutes"
    );
    assert!(!sealed.contains("王秀英") && sealed.contains("⟦"), "{sealed}");
    for needle in [
        "洞庭社区协商民主日 — 会议纪要",
        "社区协商民主日",
        "2026-05-20 19:00 (UTC+8)",
        "社区议事厅",
        "召集人：张书记",
        "主持人：张书记",
        "应到 42 人，实到 38 人，委托 1 人，缺席 3 人。",
        "受邀居民代表中至少 1/2 出席（共 40 人，需 20 人） — 已满足 37/20",
        "有表决权 37 人",
        "居民代表37（由居民代表01代为表决）",
        "| 居民代表37 | 居民（居民代表） | 委托 居民代表01 |",
        "| 李娜 | 社会工作者 | 出席 |",
        "| 刘阿姨 | 社区社会组织 | 出席 |",
        "| 居民代表40 | 居民（居民代表） | 缺席 |",
        "### 1. 广场舞音量过大影响居民休息",
        "协商情况：舞队同意晚上八点半前结束、音量不超过六十分贝，并由居民组成调解小组（发言：王秀英、刘阿姨、李娜）",
        "动议 motion-1：通过《广场舞文明公约》，并组建噪音调解微团队",
        "动议人：王秀英",
        "决定采取的步骤：通过微公约、组建微团队",
        "表决：赞成 31，反对 4，弃权 2（有表决权 37 人；规则：过半数通过）",
        "结果：通过 — 赞成 31，反对 4，弃权 2；赞成票超过投票数（37）的半数",
        "| ai-1 | 一个月后入户回访，评估公约执行情况 | 广场舞音量过大影响居民休息 | 启航社工站 李娜（社会工作者） | 2026-06-30 |",
    ] {
        assert!(zh.contains(needle), "zh-CN minutes lack {needle:?}:\n{zh}");
    }
    let en = ok!(app, get(&format!("/v1/meetings/{MEETING}/minutes?lang=en&format=md")));
    let en = en.as_str().unwrap();
    for needle in [
        "Dongting community consultation day — Minutes",
        "42 invited, 38 present, 1 by proxy, 3 absent.",
        "37 voting members",
        "Vote: 31 for, 4 against, 2 abstaining (37 voting members; rule: majority)",
        "Outcome: carried — 31 for, 4 against, 2 abstaining; more than half of the 37 votes cast",
        "Steps decided: Micro-pact adopted, Micro-team formed",
        "| ai-1 | Visit households after a month and evaluate the pact | Square-dance music too loud for residents to rest | 启航社工站 李娜 (social workers) | 2026-06-30 |",
    ] {
        assert!(en.contains(needle), "English minutes lack {needle:?}:\n{en}");
    }
    let (s, html, h) = call(&app, get(&format!("/v1/meetings/{MEETING}/minutes?lang=zh-CN&format=html"))).await;
    assert_eq!(s, StatusCode::OK);
    assert!(h.get("content-type").unwrap().to_str().unwrap().starts_with("text/html"));
    let html = html.as_str().unwrap();
    assert!(
        html.contains("<html lang=\"zh-CN\">")
            && html.contains("<td>居民代表37</td><td>居民（居民代表）</td><td>委托 居民代表01</td>"),
        "{html}"
    );
    assert!(html.contains("<li>表决：赞成 31，反对 4，弃权 2（有表决权 37 人；规则：过半数通过）</li>"), "{html}");
    let (s, _, _) = call(&app, get(&format!("/v1/meetings/{MEETING}/minutes?lang=fr"))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Time travel: the meeting before the vote.
    let before = ok!(app, get(&format!("/v1/meetings/{MEETING}?at={}", at_before_vote.replace('+', "%2B"))));
    assert_eq!(before["motions"][0]["status"], "tabled");
    assert_eq!(before["status"], "in_session");

    // Follow-up: after the due date the action item is overdue, and the next joint meeting
    // of the sub-district proposes it.
    let overdue = ok!(app, get(&format!("/v1/action-items?community={COMMUNITY}&overdue=true&today=2026-07-01")));
    assert_eq!(overdue["items"].as_array().unwrap().len(), 1, "{overdue:#}");
    assert_eq!(overdue["items"][0]["action_item_id"], "ai-1");
    let on_time = ok!(app, get(&format!("/v1/action-items?community={COMMUNITY}&overdue=true&today=2026-06-30")));
    assert!(on_time["items"].as_array().unwrap().is_empty(), "the due day itself is on time");
    let joint = json!({"meeting_id": "zhongnan-2026-07-joint", "actor": {"id": "so-1", "name": "街道王主任", "role": "street_officer"},
        "kind": "joint_meeting", "community": "wuhan/wuchang/zhongnan-street",
        "title": text("中南街道五社联动联席会议", "Zhongnan sub-district joint meeting"), "scheduled_for": "2026-07-03T02:00:00Z",
        "venue": text("街道党群服务中心", "the sub-district service centre"), "convener": {"name": "街道王主任", "society": "community"}});
    ok!(app, post("/v1/meetings", joint));
    let s = ok!(app, post("/v1/meetings/zhongnan-2026-07-joint/agenda/suggest", json!({"today": "2026-07-01"})));
    assert_eq!(s["area"], "wuhan/wuchang/zhongnan-street");
    assert_eq!(s["follow_ups"][0]["action_item_id"], "ai-1", "{s:#}");
    assert_eq!(s["follow_ups"][0]["reason"], "overdue");
    // The operator's view of the same day: one action item overdue, the consultation day held.
    let (_, metrics, _) = call(&app, get("/metrics")).await;
    let metrics = metrics.as_str().expect("OpenMetrics text");
    assert!(metrics.contains("\nconvene_action_items_overdue 1\n"), "{metrics}");
    assert!(metrics.contains("convene_meetings{kind=\"consultation_day\",status=\"closed\"} 1"), "{metrics}");
    assert!(metrics.contains("convene_meetings{kind=\"joint_meeting\",status=\"scheduled\"} 1"), "{metrics}");
    // And the dashboard's: the same meetings and action item, in the community's figures.
    let stats = ok!(app, get(&format!("/v1/stats?community={COMMUNITY}")));
    let kinds: Vec<(&str, &str, u64, u64)> = stats["meetings"]["by_kind"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["kind"].as_str().unwrap(),
                k["title"]["zh-CN"].as_str().unwrap(),
                k["closed"].as_u64().unwrap(),
                k["scheduled"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [("consultation_day", "社区协商民主日", 1, 0), ("joint_meeting", "五社联动联席会议", 0, 1)],
        "{stats:#}"
    );
    assert_eq!(stats["meetings"]["action_items"], json!({"total": 1, "done": 0, "overdue": 1}), "{stats:#}");
    let before = ok!(app, get(&format!("/v1/stats?community={COMMUNITY}&to=2020-01-01")));
    assert_eq!(before["meetings"]["by_kind"], json!([]), "no meeting was scheduled by 2020");
    assert_eq!(s["items"][0]["issue_id"], issue.as_str(), "an issue being acted on is actionable for a joint meeting");
    let listed = ok!(
        app,
        get("/v1/meetings?community=wuhan/wuchang/zhongnan-street/dongting-community&from=2026-05-01&to=2026-07-31")
    );
    let ids: Vec<&str> = listed["items"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [MEETING, "zhongnan-2026-07-joint"], "the community's meetings and its street's, by time");
    let may = ok!(app, get("/v1/meetings?community=wuhan/wuchang/zhongnan-street&from=2026-05-01&to=2026-05-31"));
    assert_eq!(may["items"].as_array().unwrap().len(), 1);

    // 民事民评 closes the action item; then the matter is closed.
    ok!(
        app,
        post(
            &is,
            json!({"type": "Evaluated", "actor": {"id": "rr-02", "name": "居民代表02", "role": "resident_representative"},
        "data": {"evaluator": {"name": "居民代表02"}, "satisfaction": 5, "outcome": "resolved"}})
        )
    );
    ok!(
        app,
        post(
            &is,
            json!({"type": "IssueClosed", "actor": {"id": "c-1", "role": "convener"},
        "data": {"reason": "resolved", "summary": text("广场舞按公约进行，投诉消失", "Dancing follows the pact; complaints stopped")}})
        )
    );
    assert_eq!(ok!(app, get(&format!("/v1/issues/{issue}")))["state"], "closed");
    let overdue = ok!(app, get(&format!("/v1/action-items?community={COMMUNITY}&overdue=true&today=2026-07-01")));
    assert!(overdue["items"].as_array().unwrap().is_empty(), "{overdue:#}");
    let all = ok!(app, get(&format!("/v1/action-items?community={COMMUNITY}")));
    assert_eq!(all["items"][0]["done"]["type"], "Evaluated");
    let s = ok!(app, post("/v1/meetings/zhongnan-2026-07-joint/agenda/suggest", json!({"today": "2026-07-01"})));
    assert!(s["follow_ups"].as_array().unwrap().is_empty(), "{s:#}");

    // The issue's stream: each meeting-driven step exactly once.
    let events = ok!(app, get(&format!("/v1/issues/{issue}/events")));
    let types: Vec<&str> = events["items"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "IssueRaised",
            "NeedAssessed",
            "PlacedOnAgenda",
            "Deliberated",
            "MicroPactDrafted",
            "MicroPactPublicized",
            "ResolutionPassed",
            "MicroPactAdopted",
            "MicroTeamFormed",
            "Evaluated",
            "IssueClosed"
        ]
    );
}

#[actix_web::test]
async fn meeting_routes_answer_with_problems_naming_what_is_wrong() {
    let (_dir, engine) = engine().await;
    let app = test::init_service(App::new().configure(configure(AppState::insecure_dev(engine.clone())))).await;
    let (s, p, _) = call(&app, get("/v1/meetings/nope")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{p}");
    let base = json!({"actor": convener(), "kind": "consultation_day", "community": COMMUNITY, "title": text("会", "m"),
        "scheduled_for": "2026-05-20T11:00:00Z", "venue": text("议事厅", "hall"), "convener": {"name": "张书记"}});
    let mut bad = base.clone();
    bad["scheduled_for"] = json!("tomorrow");
    let (s, p, _) = call(&app, post("/v1/meetings", bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(p["errors"].as_array().unwrap().iter().any(|e| e["pointer"] == "/scheduled_for"), "{p:#}");
    let mut bad = base.clone();
    bad["kind"] = json!("dialogue");
    let (s, p, _) = call(&app, post("/v1/meetings", bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let mut resident = base.clone();
    resident["actor"] = json!({"id": "r-1", "role": "resident"});
    let (s, _, _) = call(&app, post("/v1/meetings", resident)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, m, _) = call(&app, post("/v1/meetings", base.clone()).insert_header(("Idempotency-Key", "k1"))).await;
    assert_eq!(s, StatusCode::CREATED);
    let id = m["meeting"]["id"].as_str().unwrap().to_string();
    let (s, again, h) = call(&app, post("/v1/meetings", base).insert_header(("Idempotency-Key", "k1"))).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(again["meeting"]["id"], id.as_str());
    assert_eq!(h.get("Idempotent-Replayed").unwrap(), "true");
    let ms = format!("/v1/meetings/{id}/steps");
    let (s, p, _) = call(&app, post(&ms, mstep("MeetingClosed", json!({})))).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(p["status"], "scheduled");
    assert!(p["allowed_steps"].as_array().unwrap().iter().any(|o| o["type"] == "MeetingOpened"), "{p:#}");
    let (s, p, _) = call(&app, post(&ms, mstep("Dance", json!({})))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (s, p, _) = call(
        &app,
        post(&ms, mstep("AgendaItemAdded", json!({"issue_id": "no-such-issue", "proposer": {"name": "x"}}))),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["code"], "unknown_issue");
    ok!(app, post(&ms, mstep("MeetingCancelled", json!({"reason": text("暴雨预警", "rainstorm warning")}))));
    let m = ok!(app, get(&format!("/v1/meetings/{id}")));
    assert_eq!(m["status"], "cancelled");
    assert!(m["allowed_steps"].as_array().unwrap().is_empty());
    let doc = ok!(app, get("/openapi.json"));
    for p in [
        "/v1/meetings",
        "/v1/meetings/{id}/steps",
        "/v1/meetings/{id}/minutes",
        "/v1/meetings/{id}/agenda/suggest",
        "/v1/action-items",
    ] {
        assert!(doc["paths"][p].is_object(), "OpenAPI lacks {p}");
    }
}
