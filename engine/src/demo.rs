//! A realistic example community for demos, manuals and first-run exploration: three
//! communities in Wuhan (two under Zhongnan street in Wuchang, one in Jiang'an) with matters in
//! every state of the `community-issue` workflow and a few micro-wishes.
//!
//! Every command carries an idempotency key, so loading the demo twice writes nothing new: the
//! issue ids and event ids are derived from the keys and the engine answers retries as
//! `replayed`.

use crate::service::{RaiseIssue, RecordStep, StepOutcome};
use crate::{Actor, Engine, EngineError};
use serde::Serialize;
use serde_json::{Value, json};

/// What [`load_demo`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DemoSummary {
    /// Issues in the demo data set (raised now or found from an earlier load).
    pub issues: usize,
    /// Events appended by this load.
    pub events_written: usize,
    /// Events that an earlier load had already written.
    pub events_already_present: usize,
}

impl DemoSummary {
    fn count(&mut self, outcome: &StepOutcome) {
        if outcome.replayed {
            self.events_already_present += 1;
        } else {
            self.events_written += 1;
        }
    }
}

/// Loads a realistic example community into the engine (idempotent: loading twice writes
/// nothing new).
pub async fn load_demo(engine: &Engine) -> Result<DemoSummary, EngineError> {
    load_demo_steps(engine).await.map_err(|e| match e {
        // The demo's keys are fixed, so a reused key means this directory holds the demo an
        // older convene loaded (whose payloads differ): say so instead of a bare 422 text.
        EngineError::IdempotencyKeyReused => EngineError::InvalidRequest(
            "此数据目录中已有旧版本载入的演示数据，请换一个新的 --data 目录 / this data directory holds the demo \
             as an older version of convene loaded it; use a fresh --data directory for the demo"
                .into(),
        ),
        e => e,
    })
}

async fn load_demo_steps(engine: &Engine) -> Result<DemoSummary, EngineError> {
    engine.bootstrap_workflows().await?;
    let mut summary = DemoSummary::default();
    for plan in plans() {
        let raised = engine
            .raise(RaiseIssue {
                workflow_id: plan.workflow.to_string(),
                // Pinned to the shipped version, so reloading after a v2 is published still
                // finds the same issues instead of a payload that names another version.
                workflow_version: Some(1),
                data: plan.raise,
                actor: plan.raised_by,
                idempotency_key: Some(format!("demo:{}", plan.key)),
            })
            .await?;
        summary.count(&raised);
        let issue_id = raised.issue.id;
        for (n, (event_type, actor, data)) in plan.steps.into_iter().enumerate() {
            let key = format!("demo:{}:{n}", plan.key);
            let outcome = step(engine, &issue_id, &key, event_type, data, actor).await?;
            summary.count(&outcome);
        }
        summary.issues += 1;
    }
    crate::demo_meetings::load_demo_meetings(engine, &mut summary).await?;
    Ok(summary)
}

/// Records one step with an idempotency key.
async fn step(
    engine: &Engine,
    issue_id: &str,
    key: &str,
    event_type: &str,
    data: Value,
    actor: Actor,
) -> Result<StepOutcome, EngineError> {
    engine
        .step(RecordStep {
            issue_id: issue_id.to_string(),
            event_type: event_type.to_string(),
            data,
            actor,
            expected_version: None,
            idempotency_key: Some(key.to_string()),
            correlation_id: None,
            causation_id: None,
        })
        .await
}

// ---- the cast ----

/// A person acting in the demo: an engine actor and a `Party` in payloads.
struct Person {
    id: &'static str,
    name: &'static str,
    role: &'static str,
    society: Option<&'static str>,
    organisation: &'static str,
}

impl Person {
    /// The actor, acting for `community` (a community or a street): an account, no name (the
    /// log records accounts; names are personal data and sealed in payloads).
    fn actor(&self, community: &str) -> Actor {
        Actor { community: Some(community.to_string()), ..Actor::new(self.id, self.role) }
    }

    /// The person as a `Party`, with their person id: the engine seals the name with their key.
    fn party(&self) -> Value {
        let mut p =
            json!({"person_id": self.id, "name": self.name, "organisation": self.organisation, "role": self.role});
        if let (Some(s), Some(obj)) = (self.society, p.as_object_mut()) {
            obj.insert("society".into(), json!(s));
        }
        p
    }
}

const fn person(
    id: &'static str,
    name: &'static str,
    role: &'static str,
    society: Option<&'static str>,
    organisation: &'static str,
) -> Person {
    Person { id, name, role, society, organisation }
}

/// The people of one community, one for each part they play.
struct Cast {
    community: &'static str,
    convener: Person,
    staff: Person,
    social_worker: Person,
    organisation: Person,
    volunteer: Person,
    charity: Person,
    representative: Person,
    resident: Person,
}

const COMMUNITY: Option<&str> = Some("community");
const SOCIAL_WORKER: Option<&str> = Some("social_worker");
const SOCIAL_ORG: Option<&str> = Some("social_organisation");
const VOLUNTEER: Option<&str> = Some("volunteer");
const CHARITY: Option<&str> = Some("charity");

static DONGTING: Cast = Cast {
    community: "wuhan/wuchang/zhongnan-street/dongting-community",
    convener: person("dongting-wang-jianhua", "王建华", "convener", COMMUNITY, "东亭社区党委"),
    staff: person("dongting-li-min", "李敏", "community_staff", COMMUNITY, "东亭社区居委会"),
    social_worker: person("dongting-chen-xiaowen", "陈晓雯", "social_worker", SOCIAL_WORKER, "中南路街道社工站"),
    organisation: person("chuxin-zhou", "周志强", "social_organisation", SOCIAL_ORG, "楚心社工服务中心"),
    volunteer: person("dongting-liu-guilan", "刘桂兰", "volunteer", VOLUNTEER, "东亭社区志愿者服务队"),
    charity: person("dongting-wu-haiyan", "吴海燕", "charity", CHARITY, "东亭社区基金"),
    representative: person("dongting-zhang-deming", "张德明", "resident_representative", None, "东亭社区居民代表"),
    resident: person("dongting-zhao-xiuying", "赵秀英", "resident", None, "东亭社区5栋居民"),
};

static SHOUYI: Cast = Cast {
    community: "wuhan/wuchang/zhongnan-street/shouyi-community",
    convener: person("shouyi-sun-lijuan", "孙丽娟", "convener", COMMUNITY, "首义社区党委"),
    staff: person("shouyi-ma-jun", "马俊", "community_staff", COMMUNITY, "首义社区居委会（网格员）"),
    social_worker: person("shouyi-huang-jiaqi", "黄佳琪", "social_worker", SOCIAL_WORKER, "中南路街道社工站"),
    organisation: person("pugongying-he", "何文斌", "social_organisation", SOCIAL_ORG, "蒲公英社区服务中心"),
    volunteer: person("shouyi-guo-zhiming", "郭志明", "volunteer", VOLUNTEER, "首义社区时间银行志愿队"),
    charity: person("zhongnan-lin-xiumei", "林秀梅", "charity", CHARITY, "中南路爱心商家联盟"),
    representative: person("shouyi-xu-guoqing", "徐国庆", "resident_representative", None, "首义社区居民代表"),
    resident: person("shouyi-yang-chunhua", "杨春花", "resident", None, "首义社区11栋居民"),
};

static BAIBUTING: Cast = Cast {
    community: "wuhan/jiangan/x-street/baibuting-community",
    convener: person("baibuting-hu-weidong", "胡卫东", "convener", COMMUNITY, "百步亭社区党委"),
    staff: person("baibuting-zhu-ting", "朱婷", "community_staff", COMMUNITY, "百步亭社区居委会"),
    social_worker: person("baibuting-gao-ya", "高雅", "social_worker", SOCIAL_WORKER, "X街道社工站"),
    organisation: person("linli-luo", "罗建国", "social_organisation", SOCIAL_ORG, "邻里守望社工中心"),
    volunteer: person("baibuting-liang-xiaohong", "梁小红", "volunteer", VOLUNTEER, "百步亭社区志愿者协会"),
    charity: person("baibuting-song-guohua", "宋国华", "charity", CHARITY, "百步亭社区基金"),
    representative: person("baibuting-xie-zhenhua", "谢振华", "resident_representative", None, "百步亭社区居民代表"),
    resident: person("baibuting-han-mei", "韩梅", "resident", None, "百步亭社区安居苑居民"),
};

const X_STREET: &str = "wuhan/jiangan/x-street";
static X_STREET_CONVENER: Person =
    person("x-street-zheng-wei", "郑伟", "convener", COMMUNITY, "X街道党工委（五社联动联席会议召集人）");

// ---- plans ----

/// User-facing text: zh-CN first, English second.
fn t(zh: &str, en: &str) -> Value {
    json!({"zh-CN": zh, "en": en})
}

/// One demo issue: how it is raised and the steps recorded on it, in order.
struct Plan {
    key: &'static str,
    workflow: &'static str,
    cast: &'static Cast,
    raise: Value,
    raised_by: Actor,
    steps: Vec<(&'static str, Actor, Value)>,
}

impl Plan {
    /// A matter raised by `by`; `data` is the IssueRaised payload without community and raiser.
    fn new(key: &'static str, workflow: &'static str, cast: &'static Cast, by: &Person, mut data: Value) -> Plan {
        if let Some(obj) = data.as_object_mut() {
            obj.insert("community".into(), json!(cast.community));
            obj.insert("raised_by".into(), by.party());
        }
        Plan { key, workflow, cast, raise: data, raised_by: by.actor(cast.community), steps: Vec::new() }
    }

    fn issue(key: &'static str, cast: &'static Cast, by: &Person, data: Value) -> Plan {
        Plan::new(key, "community-issue", cast, by, data)
    }

    fn wish(key: &'static str, cast: &'static Cast, by: &Person, data: Value) -> Plan {
        Plan::new(key, "micro-wish", cast, by, data)
    }

    /// A step by someone of this community.
    fn then(self, event_type: &'static str, who: &Person, data: Value) -> Plan {
        let actor = who.actor(self.cast.community);
        self.then_as(event_type, actor, data)
    }

    fn then_as(mut self, event_type: &'static str, actor: Actor, data: Value) -> Plan {
        self.steps.push((event_type, actor, data));
        self
    }

    /// NeedAssessed by the community's social worker.
    fn assess(self, method: &str, visited: u32, priority: &str, findings: Value, steps: &[&str]) -> Plan {
        let data = json!({
            "assessor": self.cast.social_worker.party(), "method": method, "households_visited": visited,
            "findings": findings, "priority": priority, "recommended_steps": steps,
        });
        let who = &self.cast.social_worker;
        self.then("NeedAssessed", who, data)
    }

    /// PlacedOnAgenda by the convener.
    fn agenda(self, meeting: &str, kind: &str, at: &str) -> Plan {
        let data = json!({
            "meeting_id": meeting, "meeting_kind": kind, "scheduled_for": at,
            "proposer": self.cast.representative.party(),
        });
        let who = &self.cast.convener;
        self.then("PlacedOnAgenda", who, data)
    }

    /// Deliberated, recorded by the convener.
    fn deliberate(self, meeting: &str, participants: u32, summary: Value) -> Plan {
        let data = json!({"meeting_id": meeting, "participants": participants, "summary": summary});
        let who = &self.cast.convener;
        self.then("Deliberated", who, data)
    }

    /// ResolutionPassed by majority, recorded by the convener.
    fn pass(self, meeting: &str, votes: [u32; 3], resolution: Value, steps: &[&str]) -> Plan {
        let data = json!({
            "meeting_id": meeting, "motion_id": format!("{}-m{}", self.key, self.steps.len()),
            "votes": {"for": votes[0], "against": votes[1], "abstain": votes[2]},
            "rule": "majority", "resolution": resolution, "decided_steps": steps,
        });
        let who = &self.cast.convener;
        self.then("ResolutionPassed", who, data)
    }

    /// Evaluated by a resident representative.
    fn evaluate(self, satisfaction: u32, surveyed: u32, outcome: &str, comments: Value) -> Plan {
        let data = json!({
            "evaluator": self.cast.representative.party(), "satisfaction": satisfaction,
            "households_surveyed": surveyed, "outcome": outcome, "comments": comments,
        });
        let who = &self.cast.representative;
        self.then("Evaluated", who, data)
    }

    /// IssueClosed as resolved, by the convener.
    fn close(self, summary: Value) -> Plan {
        let who = &self.cast.convener;
        self.then("IssueClosed", who, json!({"reason": "resolved", "summary": summary}))
    }
}

/// The demo data set: community matters in every state, and micro-wishes.
fn plans() -> Vec<Plan> {
    let mut plans = dongting();
    plans.extend(shouyi());
    plans.extend(baibuting());
    plans
}

/// Every payload of the demo data set with its event type, each matter's IssueRaised as the
/// engine completes it (for specs of what folds read).
#[cfg(test)]
pub(crate) fn payloads() -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    for p in plans() {
        let mut raise = p.raise;
        if let Some(obj) = raise.as_object_mut() {
            obj.insert("workflow_id".into(), json!(p.workflow));
            obj.insert("workflow_version".into(), json!(1));
        }
        out.push(("IssueRaised", raise));
        out.extend(p.steps.into_iter().map(|(t, _, d)| (t, d)));
    }
    out
}

fn dongting() -> Vec<Plan> {
    let c = &DONGTING;
    let sept = "dongting-2026-09-consultation-day";
    let oct = "dongting-2026-10-consultation-day";
    let nov = "dongting-2026-11-consultation-day";
    let pact = "dongting-square-dance-pact";
    vec![
        // Closed: the whole cycle, from complaint to evaluation (民事民提、民议、民决、民评).
        Plan::issue("dongting-square-dance", c, &c.resident, json!({
            "title": t("广场舞音响扰民", "Square-dance loudspeakers disturb residents"),
            "description": t(
                "每晚七点到十点，中心广场的广场舞音响音量过大，3栋、5栋临近住户反映影响老人休息和孩子学习。",
                "Every evening from 7 to 10 pm the square-dance loudspeakers on the central square are too loud; households in buildings 3 and 5 say the elderly cannot rest and children cannot study."),
            "category": "noise", "households_affected": 120, "channel": "mini_program",
            "location": "东亭社区中心广场（3栋、5栋之间）", "tags": ["广场舞", "噪音"],
        }))
        .assess("door_to_door", 86, "high", t(
            "入户走访86户：七成居民支持跳舞但希望限时限音；舞蹈队约40人，愿意坐下来协商。",
            "86 households visited: 70% support the dancing but want limits on hours and volume; the dance team (about 40 people) is willing to talk."),
            &["micro_pact", "micro_team"])
        .agenda(sept, "consultation_day", "2026-09-18T19:00:00+08:00")
        .deliberate(sept, 37, t(
            "舞蹈队、居民代表、社工和物业共同协商，提出限定时段、限定音量、轮换场地三种方案。",
            "The dance team, resident representatives, the social worker and the property company discussed three options: fixed hours, a volume limit, rotating venues."))
        .pass(sept, [33, 2, 2], t(
            "由居民代表与舞蹈队共同起草《广场舞文明公约》，公示后提交下次协商民主日表决；组建调解微团队。",
            "Resident representatives and the dance team draft a square-dance pact, publicise it and put it to the next consultation day; a mediation micro-team is formed."),
            &["micro_pact", "micro_team"])
        .then("MicroPactDrafted", &c.representative, json!({
            "pact_id": pact,
            "title": t("东亭社区广场舞文明公约", "Dongting community square-dance pact"),
            "clauses": [
                t("跳舞时间为每日19:00至21:00，周末可延长至21:30。", "Dancing from 19:00 to 21:00 daily, until 21:30 at weekends."),
                t("音响音量不超过55分贝，由调解队用分贝仪抽测。", "Loudspeakers stay below 55 dB, spot-checked by the mediation team with a sound meter."),
                t("中考、高考期间暂停使用音响。", "No loudspeakers during the high-school and college entrance exams."),
                t("发生争议先由调解微团队上门协调。", "Disputes go first to the mediation micro-team."),
            ],
            "drafted_by": [c.representative.party(), {"name": "钱凤英", "role": "dance_team_leader", "organisation": "东亭夕阳红舞蹈队", "society": "social_organisation"}],
        }))
        .then("MicroPactPublicized", &c.staff, json!({
            "pact_id": pact, "channels": ["notice_board", "wechat_group", "door_to_door"],
            "from": "2026-09-20", "until": "2026-10-09",
        }))
        .then("MicroTeamFormed", &c.social_worker, json!({
            "team_id": "dongting-dance-mediation-team",
            "name": t("广场舞调解微团队", "Square-dance mediation micro-team"),
            "purpose": t("巡查音量，上门调解舞蹈队与居民的矛盾。", "Check the volume and mediate between the dancers and their neighbours."),
            "leader": c.volunteer.party(), "members_count": 9, "society": "volunteer", "meeting_id": sept,
        }))
        .agenda(oct, "consultation_day", "2026-10-14T19:00:00+08:00")
        .then("MicroPactAdopted", &c.convener, json!({
            "pact_id": pact, "meeting_id": oct, "votes": {"for": 31, "against": 4, "abstain": 2},
            "effective_from": "2026-10-15",
        }))
        .evaluate(4, 80, "resolved", t(
            "公约实施一个月，晚间音量明显下降，投诉由每周十余起降为零星一两起。",
            "A month into the pact the evening volume is clearly lower; complaints fell from over ten a week to one or two."))
        .close(t(
            "广场舞公约已通过并实施，调解微团队常态化巡查，议题办结。",
            "The square-dance pact is adopted and in force, the mediation team patrols regularly; the matter is closed.")),
        // Acting: a micro-project within the community's 50,000-yuan limit, a team and a pledge.
        Plan::issue("dongting-parking", c, &c.representative, json!({
            "title": t("晚间停车难，消防通道被占用", "No parking at night; fire lanes blocked"),
            "description": t(
                "小区约300辆车只有140个车位，晚上车辆占用消防通道和绿地。",
                "About 300 cars share 140 spaces; at night cars block the fire lanes and park on the green."),
            "category": "parking", "households_affected": 260, "channel": "meeting",
            "location": "东亭社区老旧小区内部道路",
        }))
        .assess("survey", 210, "high", t(
            "问卷调查210户：夜间缺口约160个车位；周边两栋写字楼夜间空置车位约120个。",
            "Survey of 210 households: about 160 spaces short at night; two nearby office buildings leave about 120 spaces empty at night."),
            &["micro_project", "micro_team", "micro_charity"])
        .agenda("dongting-2026-10-tripartite", "tripartite", "2026-10-10T15:00:00+08:00")
        .deliberate("dongting-2026-10-tripartite", 18, t(
            "居委会、业委会、物业三方联动协商错时共享停车和闲置地块改造。",
            "Residents' committee, owners' committee and property company discussed shared off-peak parking and converting an idle plot."))
        .pass("dongting-2026-10-tripartite", [17, 1, 0], t(
            "与周边写字楼签订错时停车协议；社区基金支持改造闲置地块；组建停车引导志愿队。",
            "Sign off-peak parking agreements with nearby offices; the community fund converts the idle plot; a parking-guide volunteer team is formed."),
            &["micro_project", "micro_team", "micro_charity"])
        .then("MicroProjectUndertaken", &c.organisation, json!({
            "project_id": "dongting-shared-parking",
            "title": t("错时共享停车与闲置地块改造", "Off-peak shared parking and idle-plot conversion"),
            "undertaken_by": c.organisation.party(), "budget_fen": 4_800_000, "funding_source": "community_fund",
            "start": "2026-10-20", "end": "2027-01-31",
            "goals": [t("新增夜间车位100个以上", "At least 100 more night-time spaces"), t("消防通道全天畅通", "Fire lanes clear at all hours")],
        }))
        .then("MicroTeamFormed", &c.staff, json!({
            "team_id": "dongting-parking-guides",
            "name": t("停车引导志愿队", "Parking-guide volunteer team"),
            "purpose": t("晚高峰引导车辆停放，劝离占用消防通道的车辆。", "Guide parking at the evening peak and move cars out of fire lanes."),
            "leader": c.volunteer.party(), "members_count": 12, "society": "volunteer",
        }))
        .then("MicroCharityPledged", &c.charity, json!({
            "pledge_id": "dongting-parking-signs",
            "donor": {"name": "湖北楚天物业服务有限公司", "kind": "company"}, "kind": "goods", "amount_fen": 800_000,
            "description": t("捐赠停车指引标识牌和减速带", "Parking signs and speed bumps"),
        }))
        .then("MicroProjectProgressReported", &c.organisation, json!({
            "project_id": "dongting-shared-parking", "percent": 45, "spent_fen": 2_150_000, "disclosed": true,
            "summary": t(
                "已与两家写字楼签订错时停车协议，新增夜间车位86个；闲置地块已平整。进展已在公示栏公开。",
                "Off-peak agreements signed with two offices, 86 night-time spaces added; the idle plot is levelled. Progress posted on the notice board."),
        })),
        // Evaluated: a building-heads' meeting, a cleaning team and pledged volunteer hours.
        Plan::issue("dongting-stairwell", c, &c.staff, json!({
            "title": t("楼道堆放杂物存在消防隐患", "Clutter in stairwells is a fire hazard"),
            "category": "stairwell", "households_affected": 96, "channel": "grid_worker",
            "location": "东亭社区12栋、15栋",
        }))
        .assess("observation", 48, "medium", t(
            "12栋、15栋8个单元楼道堆放旧家具、纸箱，其中3处堵塞安全出口。",
            "Old furniture and boxes in 8 stairwells of buildings 12 and 15; 3 block emergency exits."),
            &["micro_team", "micro_charity"])
        .agenda("dongting-2026-10-building-heads", "building_heads", "2026-10-08T19:30:00+08:00")
        .deliberate("dongting-2026-10-building-heads", 15, t(
            "楼栋长会议商定先劝导后清理，物业免费清运大件。",
            "The building heads agreed to persuade first, then clear; the property company removes bulky items free."))
        .pass("dongting-2026-10-building-heads", [14, 0, 1], t(
            "开展“楼道清洁日”，楼栋长带队清理，志愿者提供服务时长。",
            "Hold a stairwell cleaning day led by the building heads, with volunteer hours."),
            &["micro_team", "micro_charity"])
        .then("MicroTeamFormed", &c.staff, json!({
            "team_id": "dongting-stairwell-team",
            "name": t("楼栋清洁微团队", "Stairwell cleaning micro-team"),
            "purpose": t("劝导住户清理楼道杂物并每月巡查。", "Persuade households to clear stairwells and inspect monthly."),
            "leader": c.representative.party(), "members_count": 16, "society": "volunteer",
        }))
        .then("MicroCharityPledged", &c.charity, json!({
            "pledge_id": "dongting-stairwell-hours",
            "donor": {"name": "东亭社区志愿者服务队", "kind": "other"}, "kind": "volunteer_hours", "volunteer_hours": 120,
        }))
        .then("MicroCharityDelivered", &c.volunteer, json!({
            "pledge_id": "dongting-stairwell-hours", "volunteer_hours": 136,
            "delivered_to": t("12栋、15栋8个单元楼道", "8 stairwells in buildings 12 and 15"),
        }))
        .evaluate(5, 60, "resolved", t("楼道已清空，安全出口畅通。", "Stairwells are clear and exits open.")),
        // Deliberated: the vote is due at the next consultation day.
        Plan::issue("dongting-pets", c, &c.resident, json!({
            "title": t("遛狗不拴绳、粪便不清理", "Dogs off the leash and droppings left behind"),
            "category": "pets", "households_affected": 180, "channel": "suggestion_box",
        }))
        .assess("forum", 35, "medium", t(
            "社区登记犬只约90只；养犬居民也希望有固定的遛狗区域。",
            "About 90 registered dogs; dog owners also want a fixed dog-walking area."),
            &["micro_pact", "micro_team"])
        .agenda(nov, "consultation_day", "2026-11-20T19:00:00+08:00")
        .deliberate(nov, 42, t(
            "讨论了文明养犬公约草案和在绿地一角设置宠物便便箱，意见尚未统一，待下次表决。",
            "A draft dog-keeping pact and dog-waste bins on the green were discussed; no agreement yet, the vote is deferred.")),
        // Withdrawn: neighbours settled it themselves.
        Plan::issue("dongting-aircon-drip", c, &c.resident, json!({
            "title": t("空调外机滴水影响楼下住户", "Air-conditioner drip onto the neighbour's balcony"),
            "category": "other", "households_affected": 2, "channel": "hotline",
        }))
        .then("IssueWithdrawn", &c.resident, json!({
            "reason": t("经楼栋长调解，邻居已加装导水管。", "After the building head mediated, the neighbour fitted a drain pipe."),
            "outcome": "settled_by_residents",
            "withdrawn_by": c.resident.party(),
        })),
        // Micro-wish, acknowledged: a hearing aid for a lonely elderly neighbour.
        Plan::wish("dongting-hearing-aid", c, &c.social_worker, json!({
            "title": t("独居老人想要一副助听器", "A lonely elderly neighbour wishes for a hearing aid"),
            "category": "elderly_care", "households_affected": 1, "channel": "door_to_door", "location": "东亭社区9栋",
        }))
        .then("MicroWishCollected", &c.social_worker, json!({
            "wish_id": "dongting-wish-hearing-aid",
            "wish": t("希望有一副助听器，能听清邻居说话和子女的电话。", "A hearing aid, to hear the neighbours and the children's phone calls."),
            "beneficiary": {"description": t("82岁独居老人，子女在外地", "82 years old, lives alone, children live elsewhere"), "group": "elderly"},
            "estimated_cost_fen": 180_000, "collected_by": c.social_worker.party(),
        }))
        .then("MicroWishClaimed", &c.volunteer, json!({
            "wish_id": "dongting-wish-hearing-aid", "claimed_by": c.volunteer.party(),
            "pledge": t("联系爱心药店购买助听器，并陪同老人验配。", "Buy a hearing aid through a caring pharmacy and accompany the fitting."),
        }))
        .then("MicroWishFulfilled", &c.volunteer, json!({
            "wish_id": "dongting-wish-hearing-aid", "fulfilled_by": c.volunteer.party(),
            "value_fen": 168_000, "volunteer_hours": 6,
        }))
        .then("Evaluated", &c.social_worker, json!({
            "evaluator": c.social_worker.party(), "satisfaction": 5, "outcome": "resolved",
            "comments": t("回访时老人已能正常接听电话。", "At the follow-up visit she could take phone calls again."),
        })),
    ]
}

fn shouyi() -> Vec<Plan> {
    let c = &SHOUYI;
    let oct = "shouyi-2026-10-consultation-day";
    let joint = "shouyi-2026-07-joint-meeting";
    vec![
        // Acting: a sorting team, a pact in publicity, a time-bank pledge.
        Plan::issue("shouyi-garbage-sorting", c, &c.staff, json!({
            "title": t("垃圾分类投放准确率低", "Household waste is poorly sorted"),
            "category": "garbage_sorting", "households_affected": 540, "channel": "grid_worker",
        }))
        .assess("survey", 320, "high", t(
            "厨余垃圾混投率约40%；定时定点投放时段与上班族作息不匹配。",
            "About 40% of kitchen waste is mixed; drop-off hours do not fit commuters' schedules."),
            &["micro_pact", "micro_team", "micro_charity"])
        .agenda(oct, "consultation_day", "2026-10-16T19:00:00+08:00")
        .deliberate(oct, 34, t("讨论调整投放时段和督导方式。", "Drop-off hours and supervision were discussed."))
        .pass(oct, [27, 3, 1], t(
            "投放时段调整为早7—9点、晚18—21点；组建督导微团队；制定垃圾分类公约。",
            "Drop-off from 7–9 am and 6–9 pm; a supervision micro-team; a waste-sorting pact."),
            &["micro_pact", "micro_team", "micro_charity"])
        .then("MicroTeamFormed", &c.social_worker, json!({
            "team_id": "shouyi-sorting-guides",
            "name": t("垃圾分类督导队", "Waste-sorting guides"),
            "purpose": t("投放时段值守桶边，指导居民分类。", "Stand by the bins at drop-off hours and show residents how to sort."),
            "leader": c.volunteer.party(), "members_count": 20, "society": "volunteer", "meeting_id": oct,
        }))
        .then("MicroPactDrafted", &c.representative, json!({
            "pact_id": "shouyi-sorting-pact",
            "title": t("首义社区垃圾分类公约", "Shouyi community waste-sorting pact"),
            "clauses": [
                t("按时段定点投放，破袋投放厨余垃圾。", "Drop off at the set hours; empty kitchen waste out of the bag."),
                t("大件垃圾预约清运，不得堆放在楼道。", "Book bulky-waste pick-ups; never leave them in stairwells."),
            ],
        }))
        .then("MicroPactPublicized", &c.staff, json!({
            "pact_id": "shouyi-sorting-pact", "channels": ["notice_board", "mini_program"],
            "from": "2026-11-10", "until": "2026-11-24",
        }))
        .then("MicroCharityPledged", &c.charity, json!({
            "pledge_id": "shouyi-sorting-timebank",
            "donor": {"name": "中南路爱心商家联盟", "kind": "merchant_alliance"}, "kind": "services", "amount_fen": 300_000,
            "description": t("督导志愿者时间银行积分可兑换理发、洗衣等服务。", "Guides' time-bank points can be redeemed for haircuts, laundry and the like."),
        })),
        // On the agenda of December's consultation day.
        Plan::issue("shouyi-laundry", c, &c.resident, json!({
            "title": t("公共绿地拉绳晾晒被褥", "Bedding hung on ropes across the shared green"),
            "category": "laundry", "households_affected": 70, "channel": "mini_program",
        }))
        .assess("door_to_door", 40, "low", t(
            "老旧楼栋没有阳台，老人只能在公共区域晾晒；可设置统一晾衣架。",
            "The old buildings have no balconies, so the elderly dry laundry outside; shared drying racks would help."),
            &["micro_project", "micro_pact"])
        .agenda("shouyi-2026-12-consultation-day", "consultation_day", "2026-12-10T19:00:00+08:00"),
        // Closed: a funded micro-project and a delivered pledge turned a blind spot into a garden.
        Plan::issue("shouyi-back-alley", c, &c.staff, json!({
            "title": t("18栋后巷卫生死角长期堆积垃圾", "Rubbish piles up in the blind spot behind building 18"),
            "category": "sanitation", "households_affected": 150, "channel": "grid_worker", "location": "首义社区18栋后巷",
        }))
        .assess("observation", 25, "high", t(
            "后巷长期无人管理，堆积建筑垃圾和生活垃圾，夏季蚊虫滋生。",
            "Nobody looks after the alley; building and household waste pile up and breed mosquitoes in summer."),
            &["micro_project", "micro_team", "micro_charity"])
        .agenda(joint, "joint_meeting", "2026-07-08T15:00:00+08:00")
        .deliberate(joint, 12, t("五社联席会议研究后巷改造方案。", "The five societies' joint meeting discussed redoing the alley."))
        .pass(joint, [12, 0, 0], t(
            "清理后巷并改造为口袋花园，由社会组织承接微项目，爱心企业捐赠绿植。",
            "Clear the alley and make it a pocket garden: a micro-project by a social organisation, plants donated by a company."),
            &["micro_project", "micro_team", "micro_charity"])
        .then("MicroProjectUndertaken", &c.organisation, json!({
            "project_id": "shouyi-pocket-garden",
            "title": t("后巷口袋花园改造", "Back-alley pocket garden"),
            "undertaken_by": c.organisation.party(), "budget_fen": 3_500_000, "funding_source": "micro_venture",
            "start": "2026-07-20", "end": "2026-09-30",
        }))
        .then("MicroCharityPledged", &c.charity, json!({
            "pledge_id": "shouyi-garden-plants",
            "donor": {"name": "武汉绿源园林绿化有限公司", "kind": "company"}, "kind": "goods", "amount_fen": 600_000,
            "description": t("捐赠绿植和花箱", "Plants and planters"),
        }))
        .then("MicroProjectProgressReported", &c.organisation, json!({
            "project_id": "shouyi-pocket-garden", "percent": 60, "spent_fen": 2_000_000, "disclosed": true,
            "summary": t("垃圾已清运，地面硬化完成。", "Rubbish removed and the ground paved."),
        }))
        .then("MicroCharityDelivered", &c.charity, json!({
            "pledge_id": "shouyi-garden-plants", "amount_fen": 600_000,
            "delivered_to": t("18栋后巷口袋花园", "The pocket garden behind building 18"),
        }))
        .then("MicroTeamFormed", &c.staff, json!({
            "team_id": "shouyi-garden-keepers",
            "name": t("口袋花园养护队", "Pocket-garden keepers"),
            "purpose": t("浇水、修剪、保洁。", "Watering, pruning and cleaning."),
            "leader": c.resident.party(), "members_count": 8, "society": "volunteer",
        }))
        .then("MicroProjectCompleted", &c.organisation, json!({
            "project_id": "shouyi-pocket-garden", "spent_fen": 3_420_000, "beneficiaries": 150,
            "outcome": t("清运垃圾约12吨，建成120平方米口袋花园，增设照明2处。", "About 12 tonnes of rubbish removed, a 120 m² pocket garden built, 2 lights added."),
        }))
        .evaluate(5, 50, "resolved", t("后巷变成了居民休闲的小花园。", "The alley is now a small garden where residents sit."))
        .close(t("卫生死角改造完成并由养护队长期管护，议题办结。", "The blind spot is redone and looked after by the keepers; closed.")),
        // Assessed: ready for an agenda.
        Plan::issue("shouyi-after-school", c, &c.representative, json!({
            "title": t("双职工家庭孩子放学后无人照看", "No one looks after working parents' children after school"),
            "category": "children", "households_affected": 65, "channel": "meeting",
        }))
        .assess("interview", 30, "medium", t(
            "65户双职工家庭中，约40名小学生放学后独自在家，家长希望有课后托管和作业辅导。",
            "About 40 primary pupils of 65 working families are home alone after school; parents want after-school care and homework help."),
            &["micro_project", "micro_team", "micro_charity"]),
        // Raised: awaiting an assessment.
        Plan::issue("shouyi-elder-canteen", c, &c.resident, json!({
            "title": t("空巢老人吃饭难，希望开设长者食堂", "Empty-nest elders want a community canteen"),
            "category": "elderly_care", "households_affected": 110, "channel": "door_to_door",
        })),
        // Micro-wish, claimed: a desk lamp and books for a left-behind child.
        Plan::wish("shouyi-desk-lamp", c, &c.staff, json!({
            "title": t("留守儿童想要一盏护眼台灯和课外书", "A left-behind child wishes for a desk lamp and books"),
            "category": "children", "households_affected": 1, "channel": "grid_worker",
        }))
        .then("MicroWishCollected", &c.volunteer, json!({
            "wish_id": "shouyi-wish-desk-lamp",
            "wish": t("一盏护眼台灯和一套课外书。", "An eye-friendly desk lamp and a set of books."),
            "beneficiary": {"description": t("10岁留守儿童，与祖母同住", "10-year-old living with the grandmother"), "group": "children"},
            "estimated_cost_fen": 30_000, "collected_by": c.volunteer.party(),
        }))
        .then("MicroWishClaimed", &c.charity, json!({"wish_id": "shouyi-wish-desk-lamp", "claimed_by": c.charity.party()}))
        .then("MicroCharityPledged", &c.charity, json!({
            "pledge_id": "shouyi-desk-lamp-goods",
            "donor": {"name": "首义路新华书店", "kind": "company"}, "kind": "goods", "amount_fen": 30_000,
        })),
    ]
}

fn baibuting() -> Vec<Plan> {
    let c = &BAIBUTING;
    let tripartite = "baibuting-2026-06-tripartite";
    let street = "x-street-2026-07-joint-meeting";
    let street_convener = X_STREET_CONVENER.actor(X_STREET);
    vec![
        // Acting at street level: too big for the community (大事不出街道).
        Plan::issue("baibuting-waterlogging", c, &c.representative, json!({
            "title": t("雨季主干道积水严重", "The main road floods every rainy season"),
            "description": t(
                "排水管网建于2002年，管径偏小且多处破损，暴雨时积水深达40厘米。",
                "The drains date from 2002, are too narrow and broken in places; heavy rain leaves 40 cm of water."),
            "category": "environment", "households_affected": 820, "channel": "meeting", "location": "百步亭社区安居苑主干道",
        }))
        .assess("survey", 400, "urgent", t(
            "影响约800户出行；更换管网估算约18万元，超出社区微基金承受能力。",
            "About 800 households affected; new drains cost about 180,000 yuan, beyond the community fund."),
            &["micro_project", "micro_team"])
        .agenda(tripartite, "tripartite", "2026-06-12T15:00:00+08:00")
        .deliberate(tripartite, 16, t(
            "三方一致认为须更换排水管网，但费用超出社区能力。",
            "All three parties agree the drains must be replaced, but the cost is beyond the community."))
        .then("Escalated", &c.convener, json!({
            "from_level": "community", "to_level": "street", "to_body": "江岸区X街道办事处",
            "reason": t(
                "改造预算约18万元，超出社区5万元微项目额度，需街道统筹资金并协调市政部门。",
                "The budget of about 180,000 yuan exceeds the community's 50,000-yuan limit; the street must fund it and bring in the municipal works."),
        }))
        .then_as("Deliberated", street_convener.clone(), json!({
            "meeting_id": street, "participants": 14,
            "summary": t("街道五社联动联席会议研究排水改造立项。", "The street's five-society joint meeting considered the drainage project."),
        }))
        .then_as("ResolutionPassed", street_convener, json!({
            "meeting_id": street, "motion_id": "x-street-2026-07-m3",
            "votes": {"for": 14, "against": 0, "abstain": 0}, "rule": "consensus",
            "resolution": t(
                "街道以政府购买服务方式实施排水管网改造，社区组建雨季巡查微团队，社区基金配套。",
                "The street buys the drainage renewal as a government-purchased service; the community forms a rainy-season patrol and its fund contributes."),
            "decided_steps": ["micro_project", "micro_team", "micro_charity"],
        }))
        .then("MicroProjectUndertaken", &c.organisation, json!({
            "project_id": "baibuting-drainage-renewal",
            "title": t("安居苑排水管网改造", "Anjuyuan drainage renewal"),
            "undertaken_by": c.organisation.party(), "budget_fen": 18_000_000, "funding_source": "government_purchase",
            "start": "2026-08-15", "end": "2026-12-31",
        }))
        .then("MicroTeamFormed", &c.staff, json!({
            "team_id": "baibuting-rain-patrol",
            "name": t("雨季巡查微团队", "Rainy-season patrol"),
            "purpose": t("暴雨时巡查积水点，协助老人出行。", "Check flood spots in storms and help the elderly get about."),
            "leader": c.volunteer.party(), "members_count": 10, "society": "volunteer",
        }))
        .then("MicroCharityPledged", &c.charity, json!({
            "pledge_id": "baibuting-drainage-fund",
            "donor": {"name": "百步亭社区基金", "kind": "community_fund"}, "kind": "money", "amount_fen": 2_000_000,
        }))
        .then("MicroProjectProgressReported", &c.organisation, json!({
            "project_id": "baibuting-drainage-renewal", "percent": 70, "spent_fen": 11_500_000, "disclosed": true,
            "summary": t("已更换主干管道420米，进展在小程序公示。", "420 m of main drain replaced; progress published in the mini-program."),
        })),
        // Assessed again: a motion failed, back for more work.
        Plan::issue("baibuting-vegetable-plots", c, &c.staff, json!({
            "title": t("居民在公共绿地私自种菜", "Residents grow vegetables on the shared green"),
            "category": "environment", "households_affected": 90, "channel": "grid_worker",
        }))
        .assess("observation", 20, "low", t(
            "约15户在绿地种菜，部分居民认可“共享菜园”思路。",
            "About 15 households grow vegetables on the green; some like the idea of a shared garden."),
            &["micro_pact", "micro_team"])
        .agenda("baibuting-2026-10-resident-reps", "resident_representatives", "2026-10-22T19:00:00+08:00")
        .deliberate("baibuting-2026-10-resident-reps", 21, t(
            "讨论一律恢复绿化或改为共享菜园两种方案。",
            "Two options: restore the lawn everywhere, or turn part of it into a shared garden."))
        .then("ResolutionRejected", &c.convener, json!({
            "meeting_id": "baibuting-2026-10-resident-reps", "motion_id": "baibuting-vegetable-plots-m3",
            "votes": {"for": 8, "against": 11, "abstain": 2}, "rule": "majority",
            "reason": t("多数代表认为方案未征求种菜户意见，需重新评估。", "Most representatives felt the growers were not consulted; reassess."),
        })),
        // Raised.
        Plan::issue("baibuting-ebike-charging", c, &c.staff, json!({
            "title": t("电动车在楼道内充电", "E-bikes charged in stairwells"),
            "category": "safety", "households_affected": 300, "channel": "grid_worker",
        })),
        Plan::issue("baibuting-streetlights", c, &c.resident, json!({
            "title": t("小区路灯损坏，夜间出行不安全", "Broken streetlights make walking at night unsafe"),
            "category": "safety", "households_affected": 140, "channel": "hotline",
        })),
        // Micro-wish, collected: a wheelchair for a disabled resident.
        Plan::wish("baibuting-wheelchair", c, &c.representative, json!({
            "title": t("困难家庭希望有一辆轮椅", "A family in hardship wishes for a wheelchair"),
            "category": "hardship", "households_affected": 1, "channel": "door_to_door",
        }))
        .then("MicroWishCollected", &c.social_worker, json!({
            "wish_id": "baibuting-wish-wheelchair",
            "wish": t("一辆轻便轮椅，方便下楼晒太阳。", "A light wheelchair, to get downstairs into the sun."),
            "beneficiary": {"description": t("中风后行动不便的低保户居民", "A resident on subsistence allowance, disabled after a stroke"), "group": "disabled"},
            "estimated_cost_fen": 120_000, "collected_by": c.social_worker.party(),
        })),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::sync::Arc;

    /// An engine on a fresh embedded store in `dir`.
    async fn fresh_engine(dir: &std::path::Path) -> Result<Engine, EngineError> {
        let store: Arc<dyn crate::EventStore> =
            Arc::new(crate::store::SqliteStore::open(crate::store::SqliteOptions::in_dir(dir))?);
        Engine::open(store).await
    }

    #[tokio::test]
    async fn a_directory_with_an_older_demo_is_named_as_such() -> Result<(), EngineError> {
        let dir = tempfile::tempdir().expect("temporary directory");
        async {
            let engine = fresh_engine(dir.path()).await?;
            engine.bootstrap_workflows().await?;
            // Given the first demo issue as an older convene raised it (another title).
            let plan = plans().into_iter().next().expect("the demo has issues");
            let mut older = plan.raise.clone();
            older["title"] = serde_json::json!({"zh-CN": "旧版标题", "en": "an older title"});
            engine
                .raise(RaiseIssue {
                    workflow_id: plan.workflow.to_string(),
                    workflow_version: Some(1),
                    data: older,
                    actor: plan.raised_by.clone(),
                    idempotency_key: Some(format!("demo:{}", plan.key)),
                })
                .await?;
            // When the demo is loaded, then the refusal says what to do.
            match load_demo(&engine).await {
                Err(EngineError::InvalidRequest(m)) => assert!(m.contains("fresh --data directory"), "{m}"),
                other => panic!("expected the older-demo refusal, got {other:?}"),
            }
            Ok(())
        }
        .await
    }

    #[tokio::test]
    async fn demo_loads_every_state_and_is_idempotent() -> Result<(), EngineError> {
        let dir = tempfile::tempdir().expect("temporary directory");
        async {
            let engine = fresh_engine(dir.path()).await?;

            let first = load_demo(&engine).await?;
            assert!(first.issues >= 12, "{first:?}");
            assert!(first.events_written > first.issues, "{first:?}");
            assert_eq!(first.events_already_present, 0, "{first:?}");

            let second = load_demo(&engine).await?;
            assert_eq!(second.issues, first.issues);
            assert_eq!(second.events_written, 0, "{second:?}");
            assert_eq!(second.events_already_present, first.events_written, "{second:?}");

            let page = engine.list_issues(&Default::default(), None, 100).await?;
            assert_eq!(page.items.len(), first.issues);
            let states: BTreeSet<&str> = page.items.iter().map(|i| i.state.as_str()).collect();
            for s in ["raised", "assessed", "on_agenda", "deliberated", "acting", "evaluated", "closed", "withdrawn"] {
                assert!(states.contains(s), "no demo issue in state {s}: {states:?}");
            }
            assert!(page.items.iter().any(|i| i.escalation_level == "street" && i.state == "acting"));
            let day = engine.meeting("dongting-2026-05-consultation-day").await?;
            assert_eq!(day.status.as_str(), "closed");
            assert!(day.minutes.is_some(), "the consultation day's minutes are published");
            assert_eq!(engine.meeting("zhongnan-2026-06-joint-meeting").await?.status.as_str(), "scheduled");
            Ok::<(), EngineError>(())
        }
        .await
    }
}
