//! The meeting rules: quorum from attendance, the voting snapshot, and the outcome of a vote.
//! Integer arithmetic only, so "exactly half" and "exactly two thirds" are decided exactly.

use super::kind::{MeetingKind, Requirement, VotingBase, VotingRule};
use super::state::{Attendance, Participant, Quorum, RequirementCheck, Voter};
use crate::issue::Votes;
use crate::text::LocalizedText;

/// Whom a participant can represent, with labels (the five societies first).
pub const BODIES: &[(&str, &str, &str)] = &[
    ("community", "社区", "community"),
    ("social_worker", "社会工作者", "social workers"),
    ("social_organisation", "社区社会组织", "community social organisations"),
    ("volunteer", "社区志愿者", "community volunteers"),
    ("charity", "社区公益慈善资源", "community charity resources"),
    ("residents_committee", "居民委员会", "residents' committee"),
    ("owners_committee", "业主委员会", "owners' committee"),
    ("property_company", "物业服务企业", "property company"),
    ("party_organisation", "社区党组织", "community Party organisation"),
    ("street", "街道", "sub-district"),
    ("resident", "居民", "resident"),
];

/// Label of a body, zh-CN and English.
pub fn body_text(body: &str) -> LocalizedText {
    BODIES
        .iter()
        .find(|(k, _, _)| *k == body)
        .map(|(_, zh, en)| LocalizedText::new(*zh, *en))
        .unwrap_or_else(|| LocalizedText::new(body, body))
}

fn is_present(p: &Participant) -> bool {
    p.attendance == Some(Attendance::Present)
}

/// The present participant holding `p`'s proxy, if `p` gave one to someone present.
fn proxy_holder<'a>(p: &Participant, all: &'a [Participant]) -> Option<&'a Participant> {
    match &p.attendance {
        Some(Attendance::Proxy { proxy_to }) => all.iter().find(|h| &h.person_id == proxy_to && is_present(h)),
        _ => None,
    }
}

/// Present, or (when the kind counts proxies) represented by a present proxy holder.
fn represented(p: &Participant, all: &[Participant], proxies_count: bool) -> bool {
    is_present(p) || (proxies_count && proxy_holder(p, all).is_some())
}

/// `have / total >= n / d`, exactly.
pub fn at_least_share(have: u64, total: u64, (n, d): (u64, u64)) -> bool {
    u128::from(have) * u128::from(d) >= u128::from(n) * u128::from(total)
}

/// The smallest count that reaches `n / d` of `total`.
pub fn needed_for_share(total: u64, (n, d): (u64, u64)) -> u64 {
    (u128::from(n) * u128::from(total)).div_ceil(u128::from(d.max(1))) as u64
}

/// Checks every requirement of the kind against the participants' attendance and computes
/// who may vote. `reached()` on the result says whether quorum holds.
pub fn assess_quorum(kind: &MeetingKind, participants: &[Participant]) -> Quorum {
    let pc = kind.quorum.proxies_count;
    let mut checks = Vec::new();
    for r in &kind.quorum.requirements {
        match r {
            Requirement::ShareOfInvited { who, at_least } => {
                let invited: Vec<&Participant> =
                    participants.iter().filter(|p| who.matches(&p.body, p.resident_representative)).collect();
                let have = invited.iter().filter(|p| represented(p, participants, pc)).count() as u64;
                let total = invited.len() as u64;
                let needed = needed_for_share(total, *at_least).max(1);
                let whom = if who.resident_representative {
                    ("受邀居民代表".to_string(), "invited resident representatives".to_string())
                } else {
                    ("受邀参会人".to_string(), "invited participants".to_string())
                };
                checks.push(RequirementCheck {
                    code: "share_of_invited".into(),
                    met: total > 0 && at_least_share(have, total, *at_least),
                    have,
                    needed,
                    description: LocalizedText::new(
                        format!("{}中至少 {}/{} 出席（共 {total} 人，需 {needed} 人）", whom.0, at_least.0, at_least.1),
                        format!(
                            "at least {}/{} of the {total} {} present (needs {needed})",
                            at_least.0, at_least.1, whom.1
                        ),
                    ),
                });
            }
            Requirement::EachBodyPresent { bodies } => {
                for b in bodies {
                    let have = participants.iter().filter(|p| &p.body == b && is_present(p)).count() as u64;
                    let label = body_text(b);
                    checks.push(RequirementCheck {
                        code: format!("body_present:{b}"),
                        met: have >= 1,
                        have,
                        needed: 1,
                        description: LocalizedText::new(
                            format!("{}须有代表出席", label.zh),
                            format!("{} represented in person", label.en.unwrap_or_default()),
                        ),
                    });
                }
            }
            Requirement::MinimumPresent { count } => {
                let have = participants.iter().filter(|p| is_present(p)).count() as u64;
                checks.push(RequirementCheck {
                    code: "minimum_present".into(),
                    met: have >= *count,
                    have,
                    needed: *count,
                    description: LocalizedText::new(
                        format!("至少 {count} 人出席"),
                        format!("at least {count} participants present"),
                    ),
                });
            }
        }
    }
    let voters = participants
        .iter()
        .filter(|p| kind.voting.voters.matches(&p.body, p.resident_representative))
        .filter_map(|p| {
            if is_present(p) {
                Some(Voter { person_id: p.person_id.clone(), name: p.name.clone(), cast_by: None })
            } else if kind.voting.proxies {
                proxy_holder(p, participants).map(|h| Voter {
                    person_id: p.person_id.clone(),
                    name: p.name.clone(),
                    cast_by: Some(h.person_id.clone()),
                })
            } else {
                None
            }
        })
        .collect();
    Quorum {
        invited: participants.len() as u64,
        present: participants.iter().filter(|p| is_present(p)).count() as u64,
        represented: participants.iter().filter(|p| represented(p, participants, pc)).count() as u64,
        requirements: checks,
        voters,
        version: 0,
        at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
    }
}

impl Quorum {
    /// Every requirement met.
    pub fn reached(&self) -> bool {
        self.requirements.iter().all(|r| r.met)
    }
}

/// The outcome of a vote under a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub carried: bool,
    pub explanation: LocalizedText,
}

/// Decides a motion. `eligible` is the number of voting members in the snapshot.
///
/// - majority: `for × 2 > base` (exactly half fails);
/// - two_thirds: `for × 3 ≥ base × 2` (exactly two thirds carries);
/// - consensus: no vote against and at least one in favour.
///
/// The base is the votes cast (for + against + abstain) or every voting member.
pub fn decide_vote(rule: VotingRule, base: VotingBase, votes: &Votes, eligible: u64) -> Outcome {
    let cast = votes.yes + votes.against + votes.abstain;
    let b = match base {
        VotingBase::Cast => cast,
        VotingBase::VotingMembers => eligible,
    };
    let (yes, b128) = (u128::from(votes.yes), u128::from(b));
    let (base_zh, base_en) = match base {
        VotingBase::Cast => ("投票数", "votes cast"),
        VotingBase::VotingMembers => ("应表决人数", "voting members"),
    };
    let counts_zh = format!("赞成 {}，反对 {}，弃权 {}", votes.yes, votes.against, votes.abstain);
    let counts_en = format!("{} for, {} against, {} abstaining", votes.yes, votes.against, votes.abstain);
    let (carried, zh, en) = match rule {
        VotingRule::Majority => {
            let ok = yes * 2 > b128;
            (
                ok,
                format!("{counts_zh}；赞成票{}{base_zh}（{b}）的半数", if ok { "超过" } else { "未超过" }),
                format!("{counts_en}; {} half of the {b} {base_en}", if ok { "more than" } else { "not more than" }),
            )
        }
        VotingRule::TwoThirds => {
            let ok = yes * 3 >= b128 * 2 && b > 0;
            (
                ok,
                format!("{counts_zh}；赞成票{}{base_zh}（{b}）的三分之二", if ok { "达到" } else { "未达到" }),
                format!("{counts_en}; {} two thirds of the {b} {base_en}", if ok { "at least" } else { "less than" }),
            )
        }
        VotingRule::Consensus => {
            let ok = votes.against == 0 && votes.yes > 0;
            (
                ok,
                format!(
                    "{counts_zh}；{}",
                    if ok {
                        "无人反对，协商一致"
                    } else if votes.against > 0 {
                        "有反对意见，未能协商一致"
                    } else {
                        "无人赞成"
                    }
                ),
                format!(
                    "{counts_en}; {}",
                    if ok {
                        "no objection: consensus"
                    } else if votes.against > 0 {
                        "an objection: no consensus"
                    } else {
                        "nobody in favour"
                    }
                ),
            )
        }
    };
    Outcome { carried, explanation: LocalizedText::new(zh, en) }
}
