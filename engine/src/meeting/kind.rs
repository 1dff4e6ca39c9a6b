//! Meeting kinds as data (`workflows/meeting-kinds/*.json`, shape in
//! `schemas/meeting-kind.schema.json`): which issue states a kind may act on, who must be
//! present, the voting rule and who may vote. Compiled once; the engine never hard-codes a kind.

use crate::catalog::embedded;
use crate::text::LocalizedText;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// A share as a fraction; compared with integer arithmetic only (no rounding at boundaries).
pub type Fraction = (u64, u64);

/// Whose issues the agenda builder proposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgendaScope {
    /// The meeting's own community.
    Community,
    /// Every community of the meeting's sub-district (街道).
    Street,
}

/// Which participants a rule talks about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selector {
    #[serde(default)]
    pub resident_representative: bool,
    #[serde(default)]
    pub bodies: Vec<String>,
}

impl Selector {
    pub fn matches(&self, body: &str, resident_representative: bool) -> bool {
        (self.resident_representative && resident_representative) || self.bodies.iter().any(|b| b == body)
    }
}

/// One presence requirement; all of a kind's must hold for quorum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Requirement {
    /// At least `at_least` of the invited participants matching `who` present (or represented).
    ShareOfInvited { who: Selector, at_least: Fraction },
    /// Each body has at least one representative present.
    EachBodyPresent { bodies: Vec<String> },
    /// At least `count` participants present.
    MinimumPresent { count: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumRule {
    pub proxies_count: bool,
    pub requirements: Vec<Requirement>,
}

/// How a motion is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VotingRule {
    /// More than half of the base.
    Majority,
    /// At least two thirds of the base.
    TwoThirds,
    /// No vote against, and at least one in favour.
    Consensus,
}

impl VotingRule {
    pub fn as_str(self) -> &'static str {
        match self {
            VotingRule::Majority => "majority",
            VotingRule::TwoThirds => "two_thirds",
            VotingRule::Consensus => "consensus",
        }
    }

    pub fn label(self) -> LocalizedText {
        match self {
            VotingRule::Majority => LocalizedText::new("过半数通过", "majority"),
            VotingRule::TwoThirds => LocalizedText::new("三分之二以上通过", "two-thirds"),
            VotingRule::Consensus => LocalizedText::new("协商一致（无人反对）", "consensus (no objection)"),
        }
    }
}

/// What a rule's share is taken of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VotingBase {
    /// Votes cast: for + against + abstain.
    Cast,
    /// Every voting member of the quorum snapshot, voting or not.
    VotingMembers,
}

impl VotingBase {
    pub fn as_str(self) -> &'static str {
        match self {
            VotingBase::Cast => "cast",
            VotingBase::VotingMembers => "voting_members",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voting {
    pub rule: VotingRule,
    pub base: VotingBase,
    pub voters: Selector,
    pub proxies: bool,
}

/// A meeting kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingKind {
    pub id: String,
    pub title: LocalizedText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<LocalizedText>,
    pub agenda_scope: AgendaScope,
    /// Workflow id → issue states this kind may act on.
    pub actionable: BTreeMap<String, Vec<String>>,
    pub quorum: QuorumRule,
    pub voting: Voting,
    /// Roles that may record the meeting's steps.
    pub recorded_by: Vec<String>,
}

impl MeetingKind {
    /// May this kind of meeting act on an issue of `workflow` in `state`?
    pub fn is_actionable(&self, workflow: &str, state: &str) -> bool {
        self.actionable.get(workflow).is_some_and(|s| s.iter().any(|x| x == state))
    }
}

/// Why a kind document is not usable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("meeting kind {name}: {problems:?}")]
pub struct KindError {
    pub name: String,
    /// `(JSON pointer, message)` per problem.
    pub problems: Vec<(String, String)>,
}

fn kind_validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        // cannot fail at run time: the schema is embedded and `shipped_kinds_compile` in
        // tests/ compiles it on every test run.
        let schema: Value = serde_json::from_str(embedded::MEETING_KIND_SCHEMA).expect("cannot fail: tested JSON");
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&schema)
            .expect("cannot fail: the embedded schema compiles (tested)")
    })
}

/// Validates a kind document (shape, then meaning) and compiles it.
pub fn compile_kind(name: &str, doc: &Value) -> Result<MeetingKind, KindError> {
    let mut problems: Vec<(String, String)> =
        kind_validator().iter_errors(doc).map(|e| (e.instance_path().to_string(), e.to_string())).collect();
    if !problems.is_empty() {
        return Err(KindError { name: name.into(), problems });
    }
    let kind: MeetingKind = serde_json::from_value(doc.clone())
        .map_err(|e| KindError { name: name.into(), problems: vec![(String::new(), e.to_string())] })?;
    for (i, r) in kind.quorum.requirements.iter().enumerate() {
        if let Requirement::ShareOfInvited { at_least: (n, d), .. } = r
            && (*d == 0 || n > d)
        {
            problems
                .push((format!("/quorum/requirements/{i}/at_least"), "share must be n/d with 0 < d and n ≤ d".into()));
        }
    }
    for r in &kind.recorded_by {
        if !crate::vocab::is_role(r) {
            problems.push(("/recorded_by".into(), format!("unknown role {r}")));
        }
    }
    if problems.is_empty() { Ok(kind) } else { Err(KindError { name: name.into(), problems }) }
}

/// The kinds shipped in `workflows/meeting-kinds/`, compiled once per process.
pub fn shipped_kinds() -> &'static BTreeMap<String, Arc<MeetingKind>> {
    static KINDS: OnceLock<BTreeMap<String, Arc<MeetingKind>>> = OnceLock::new();
    KINDS.get_or_init(|| {
        embedded::SHIPPED_MEETING_KINDS
            .iter()
            .map(|(name, text)| {
                // cannot fail at run time: the files are embedded and the test
                // `every_shipped_meeting_kind_validates` compiles each of them.
                let doc: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("meeting kind {name}: {e}"));
                let kind = compile_kind(name, &doc).unwrap_or_else(|e| panic!("{e}"));
                (kind.id.clone(), Arc::new(kind))
            })
            .collect()
    })
}

/// A shipped kind by id.
pub fn kind(id: &str) -> Option<Arc<MeetingKind>> {
    shipped_kinds().get(id).cloned()
}
