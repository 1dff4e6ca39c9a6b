//! The demo's meetings: a consultation day held in Dongting community on square-dance noise
//! (quorum, a pact motion carried, a mediation team formed, an action item, minutes published)
//! and a joint meeting of Zhongnan street scheduled for the following month. Every command
//! carries an idempotency key (or a fixed meeting id), so loading twice writes nothing new.

use crate::demo::DemoSummary;
use crate::service::{MeetingCommand, RaiseIssue, RecordStep, ScheduleMeeting};
use crate::{Actor, Engine, EngineError};
use serde_json::{Value, json};

const COMMUNITY: &str = "wuhan/wuchang/zhongnan-street/dongting-community";
const STREET: &str = "wuhan/wuchang/zhongnan-street";
const DAY: &str = "dongting-2026-05-consultation-day";
const JOINT: &str = "zhongnan-2026-06-joint-meeting";

fn t(zh: &str, en: &str) -> Value {
    json!({"zh-CN": zh, "en": en})
}

fn convener() -> Actor {
    let mut a = Actor::new("dongting-wang-jianhua", "convener");
    a.community = Some(COMMUNITY.into());
    a
}

async fn meeting_steps(
    engine: &Engine,
    meeting: &str,
    actor: &Actor,
    steps: Vec<(&str, Value)>,
    s: &mut DemoSummary,
) -> Result<(), EngineError> {
    for (n, (step_type, data)) in steps.into_iter().enumerate() {
        let o = engine
            .meeting_step(MeetingCommand {
                meeting_id: meeting.into(),
                step_type: step_type.into(),
                data,
                actor: actor.clone(),
                expected_version: None,
                idempotency_key: Some(format!("demo:{meeting}:{n}")),
            })
            .await?;
        if o.replayed { s.events_already_present += 1 } else { s.events_written += 1 }
    }
    Ok(())
}

async fn schedule(
    engine: &Engine,
    id: &str,
    data: Value,
    actor: Actor,
    s: &mut DemoSummary,
) -> Result<(), EngineError> {
    let o = engine
        .schedule_meeting(ScheduleMeeting { meeting_id: Some(id.into()), data, actor, idempotency_key: None })
        .await?;
    if o.replayed {
        s.events_already_present += 1
    } else {
        s.events_written += 1
    }
    Ok(())
}

/// Loads the demo meetings (after the demo issues).
pub async fn load_demo_meetings(engine: &Engine, s: &mut DemoSummary) -> Result<(), EngineError> {
    // The matter the consultation day takes up.
    let raised = engine
        .raise(RaiseIssue {
            workflow_id: "community-issue".into(),
            workflow_version: Some(1),
            data: json!({
                "community": COMMUNITY,
                "title": t("东亭广场广场舞音量过大，影响居民夜间休息", "Square-dance music at Dongting square keeps residents awake"),
                "category": "noise", "households_affected": 96,
                "raised_by": {"person_id": "dongting-zhao-xiuying", "name": "赵秀英", "society": "community", "role": "resident"}
            }),
            actor: Actor::new("dongting-zhao-xiuying", "resident"),
            idempotency_key: Some("demo:meeting:square-dance".into()),
        })
        .await?;
    if raised.replayed {
        s.events_already_present += 1
    } else {
        s.events_written += 1
    }
    s.issues += 1;
    let issue = raised.issue.id;
    let issue_steps: Vec<(&str, Value, Actor)> = vec![(
        "NeedAssessed",
        json!({"assessor": {"person_id": "dongting-chen-xiaowen", "name": "陈晓雯", "society": "social_worker", "organisation": "中南路街道社工站"},
            "method": "door_to_door", "households_visited": 64, "priority": "high", "recommended_steps": ["micro_pact", "micro_team"],
            "findings": t("舞队愿意调低音量、提前结束；居民希望有人劝导", "The dance team will turn down and stop earlier; residents want someone to mediate")}),
        Actor::new("dongting-chen-xiaowen", "social_worker"),
    )];
    for (n, (et, data, actor)) in issue_steps.into_iter().enumerate() {
        let o = engine
            .step(RecordStep {
                issue_id: issue.clone(),
                event_type: et.into(),
                data,
                actor,
                expected_version: None,
                idempotency_key: Some(format!("demo:meeting:square-dance:{n}")),
                correlation_id: None,
                causation_id: None,
            })
            .await?;
        if o.replayed { s.events_already_present += 1 } else { s.events_written += 1 }
    }
    schedule(
        engine,
        DAY,
        json!({
            "kind": "consultation_day", "community": COMMUNITY,
            "title": t("东亭社区协商民主日", "Dongting community consultation day"),
            "scheduled_for": "2026-05-20T11:00:00Z", "venue": t("东亭社区议事厅", "Dongting deliberation hall"),
            "convener": {"person_id": "dongting-wang-jianhua", "name": "王建华", "society": "community", "organisation": "东亭社区党委"}
        }),
        convener(),
        s,
    )
    .await?;
    let mut steps: Vec<(&str, Value)> = vec![(
        "AgendaItemAdded",
        json!({"issue_id": issue, "proposer": {"person_id": "dongting-wang-jianhua", "name": "王建华", "society": "community"}}),
    )];
    let reps = [
        "张德明",
        "周桂芳",
        "何志强",
        "孙丽华",
        "钱永康",
        "吴秀兰",
        "郑国平",
        "冯美玲",
        "陈立新",
        "褚爱华",
        "卫建军",
        "蒋淑珍",
    ];
    for (i, name) in reps.iter().enumerate() {
        steps.push(("ParticipantInvited", json!({"person_id": format!("rr-{:02}", i + 1), "name": name, "body": "resident", "resident_representative": true})));
    }
    steps.push((
        "ParticipantInvited",
        json!({"person_id": "dongting-chen-xiaowen", "name": "陈晓雯", "body": "social_worker", "organisation": "中南路街道社工站"}),
    ));
    steps.push(("ParticipantInvited", json!({"person_id": "dongting-liu-guilan", "name": "刘桂兰", "body": "social_organisation", "organisation": "东亭夕阳红舞蹈队"})));
    steps.push((
        "MeetingOpened",
        json!({"chair": {"person_id": "dongting-wang-jianhua", "name": "王建华", "society": "community"}}),
    ));
    for i in 1..=10 {
        steps.push(("AttendanceRecorded", json!({"person_id": format!("rr-{i:02}"), "status": "present"})));
    }
    steps.push(("AttendanceRecorded", json!({"person_id": "rr-11", "status": "proxy", "proxy_to": "rr-01"})));
    steps.push(("AttendanceRecorded", json!({"person_id": "rr-12", "status": "absent"})));
    steps.push(("AttendanceRecorded", json!({"person_id": "dongting-chen-xiaowen", "status": "present"})));
    steps.push(("AttendanceRecorded", json!({"person_id": "dongting-liu-guilan", "status": "present"})));
    steps.push(("AgendaItemDeliberated", json!({"issue_id": issue, "speakers": [{"person_id": "dongting-zhao-xiuying", "name": "赵秀英"}, {"person_id": "dongting-liu-guilan"}, {"person_id": "dongting-chen-xiaowen"}],
        "summary": t("舞队同意晚上八点半前结束、音量不超过六十分贝；居民推举志愿者组成调解小组", "The dance team agrees to stop by 20:30 below 60 dB; residents nominate volunteers to mediate")})));
    steps.push(("EstablishQuorum", json!({})));
    meeting_steps(engine, DAY, &convener(), steps, s).await?;
    // The pact is drafted and publicised before the vote.
    for (n, (et, data, actor)) in [
        ("MicroPactDrafted", json!({"pact_id": "dongting-dance-pact", "title": t("东亭广场舞文明公约", "Dongting square-dance pact"),
            "clauses": [t("晚上八点半前结束", "stop by 20:30"), t("音量不超过六十分贝", "below 60 dB")]}),
            Actor::new("dongting-zhang-deming", "resident_representative")),
        ("MicroPactPublicized", json!({"pact_id": "dongting-dance-pact", "channels": ["notice_board", "wechat_group"], "from": "2026-05-10", "until": "2026-05-17"}),
            Actor::new("dongting-li-min", "community_staff")),
    ]
    .into_iter()
    .enumerate()
    {
        let o = engine
            .step(RecordStep {
                issue_id: issue.clone(),
                event_type: et.into(),
                data,
                actor,
                expected_version: None,
                idempotency_key: Some(format!("demo:meeting:square-dance:pact:{n}")),
                correlation_id: None,
                causation_id: None,
            })
            .await?;
        if o.replayed { s.events_already_present += 1 } else { s.events_written += 1 }
    }
    let steps: Vec<(&str, Value)> = vec![
        (
            "MotionTabled",
            json!({"motion_id": "motion-1", "issue_id": issue,
            "text": t("通过《东亭广场舞文明公约》，并组建噪音调解微团队", "Adopt the Dongting square-dance pact and form a noise mediation micro-team"),
            "proposer": {"person_id": "rr-01", "name": "张德明", "role": "resident_representative"},
            "steps": [
                {"type": "MicroPactAdopted", "data": {"pact_id": "dongting-dance-pact", "effective_from": "2026-06-01"}},
                {"type": "MicroTeamFormed", "data": {"team_id": "dongting-mediation", "name": t("噪音调解小组", "noise mediation team"),
                    "purpose": t("劝导舞队遵守公约、调解邻里纠纷", "keep the pact and mediate between neighbours"),
                    "leader": {"person_id": "dongting-liu-guilan", "name": "刘桂兰", "society": "volunteer"}, "members_count": 6, "society": "volunteer"}}
            ]}),
        ),
        ("VoteRecorded", json!({"motion_id": "motion-1", "counts": {"for": 9, "against": 1, "abstain": 1}})),
        ("CloseVote", json!({"motion_id": "motion-1"})),
        (
            "ActionItemAssigned",
            json!({"action_item_id": "ai-1", "issue_id": issue,
            "task": t("一个月后入户回访，评估公约执行情况", "Visit households after a month and evaluate the pact"),
            "assignee": {"person_id": "dongting-chen-xiaowen", "name": "中南路街道社工站 陈晓雯", "body": "social_worker", "organisation": "中南路街道社工站"},
            "due": "2026-06-30", "done_when": ["Evaluated"]}),
        ),
        ("MeetingClosed", json!({})),
        ("PublishMinutes", json!({})),
    ];
    let n0 = 100; // keys of this second batch must not collide with the first
    for (n, (st, data)) in steps.into_iter().enumerate() {
        let o = engine
            .meeting_step(MeetingCommand {
                meeting_id: DAY.into(),
                step_type: st.into(),
                data,
                actor: convener(),
                expected_version: None,
                idempotency_key: Some(format!("demo:{DAY}:{}", n0 + n)),
            })
            .await?;
        if o.replayed { s.events_already_present += 1 } else { s.events_written += 1 }
    }

    // The street's joint meeting, scheduled, with a representative of each society invited.
    let mut officer = Actor::new("zhongnan-officer", "street_officer");
    officer.community = Some(STREET.into());
    schedule(
        engine,
        JOINT,
        json!({
            "kind": "joint_meeting", "community": STREET,
            "title": t("中南路街道五社联动联席会议", "Zhongnan street joint meeting of the five societies"),
            "scheduled_for": "2026-07-03T02:00:00Z", "venue": t("街道党群服务中心", "the street's service centre"),
            "convener": {"name": "街道王主任", "society": "community"}
        }),
        officer.clone(),
        s,
    )
    .await?;
    let invited: Vec<(&str, Value)> = [
        ("dongting-wang-jianhua", "王建华", "community"),
        ("dongting-chen-xiaowen", "陈晓雯", "social_worker"),
        ("j-org", "武昌区启航社会工作服务中心", "social_organisation"),
        ("dongting-liu-guilan", "刘桂兰", "volunteer"),
        ("j-charity", "东亭社区基金 吴海燕", "charity"),
    ]
    .iter()
    .map(|(id, name, body)| ("ParticipantInvited", json!({"person_id": id, "name": name, "body": body})))
    .collect();
    meeting_steps(engine, JOINT, &officer, invited, s).await
}
