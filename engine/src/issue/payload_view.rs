//! What the record reads of a payload ([`PayloadView`]), from the payload's JSON or from the
//! view's byte form that the stores keep beside it.
//!
//! Parsing a payload's JSON was over half of a whole-log replay's instructions: string scans,
//! field-name matching and skipping the fields the record does not keep, repeated on every
//! replay of the same immutable event. So the stores keep each event's view in byte form
//! (written once at append, never hashed: the payload's canonical JSON stays the truth the
//! chain covers), and a fold decodes it. A view is used only if it decodes completely, fits
//! its event type, and the event was stored at its type's current schema version (no upcaster
//! applies); otherwise the fold parses the payload, so a missing, older or damaged view can
//! only make a replay slower, never different. Pure: no IO.

use super::ISSUE_STREAM_PREFIX;
use super::record::{Party, Resident, Votes};
use super::view_codec::{Reader, Writer, struct_codec};
use crate::catalog::{UPCASTERS, upcast_version};
use crate::privacy::PersonalText;
use crate::text::LocalizedText;
use crate::workflow::{Bump, DataValue};
use compact_str::CompactString;
use serde::Deserialize;
use serde_json::Value;

/// The first byte of every view: bumped whenever a variant's fields, their order or what is
/// parsed into them changes, so views written by an older build are not misread (they are
/// parsed from the payload instead, and rewritten when the store opens).
pub const VIEW_FORMAT: u8 = 1;

/// The fields of a payload that the issue's state and record keep, by payload shape.
#[derive(Debug, Clone, PartialEq)]
pub enum PayloadView {
    Raised(Opening),
    Assessed {
        assessor: Party,
        method: CompactString,
        priority: CompactString,
        findings: LocalizedText,
        households_visited: u64,
        recommended_steps: Vec<CompactString>,
    },
    WishCollected {
        wish_id: CompactString,
        wish: LocalizedText,
        estimated_cost_fen: u64,
    },
    WishClaimed {
        wish_id: CompactString,
        claimed_by: Party,
    },
    WishFulfilled {
        wish_id: CompactString,
        fulfilled_by: Party,
        value_fen: u64,
        volunteer_hours: f64,
    },
    PactDrafted {
        pact_id: CompactString,
        title: LocalizedText,
        clauses: u64,
    },
    PactPublicized {
        pact_id: CompactString,
        until: CompactString,
    },
    PactAdopted {
        pact_id: CompactString,
        effective_from: CompactString,
        votes: Option<Votes>,
        meeting_id: Option<CompactString>,
    },
    TeamFormed {
        team_id: CompactString,
        name: LocalizedText,
        leader: Party,
        members_count: u64,
        meeting_id: Option<CompactString>,
    },
    ProjectUndertaken {
        project_id: CompactString,
        title: LocalizedText,
        undertaken_by: Party,
        budget_fen: u64,
        funding_source: CompactString,
    },
    /// Progress reported, or the project completed.
    ProjectProgress {
        project_id: CompactString,
        percent: Option<u64>,
        spent_fen: Option<u64>,
    },
    CharityPledged {
        pledge_id: CompactString,
        donor: PersonalText,
        kind: CompactString,
        amount_fen: u64,
        volunteer_hours: f64,
    },
    CharityDelivered {
        pledge_id: CompactString,
        amount_fen: u64,
        volunteer_hours: f64,
    },
    /// Placed on an agenda, or deliberated: only the meeting it came from.
    Meeting {
        meeting_id: Option<CompactString>,
    },
    /// A resolution passed or rejected.
    Resolution {
        meeting_id: CompactString,
        motion_id: CompactString,
        votes: Votes,
        rule: CompactString,
        decided_steps: Vec<CompactString>,
    },
    Evaluated {
        evaluator: Party,
        satisfaction: u64,
        outcome: CompactString,
    },
    Escalated {
        from_level: CompactString,
        to_level: CompactString,
        reason: LocalizedText,
    },
    /// Closed or withdrawn. The reason is kept as it was written (text, or text in two
    /// languages); a payload that does not parse still closes the record, with neither field.
    Closure {
        reason: Value,
        outcome: Option<CompactString>,
    },
    /// A payload that does not parse as its type's view (validation prevents it), or a type
    /// the record does not read.
    Unread,
}

/// An IssueRaised payload, read once: the workflow it pins and what the state starts from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Opening {
    pub(super) community: String,
    pub(super) workflow_id: String,
    pub(super) workflow_version: u32,
    pub(super) title: LocalizedText,
    #[serde(default)]
    pub(super) description: Option<LocalizedText>,
    pub(super) category: String,
    pub(super) households_affected: u64,
    pub(super) raised_by: Resident,
}

struct_codec!(Opening {
    community,
    workflow_id,
    workflow_version,
    title,
    description,
    category,
    households_affected,
    raised_by,
});

/// Whether what a fold reads of an event of `event_type` stored at `schema_version` differs
/// from its stored bytes (an upcaster applies): anything derived from the bytes alone is then
/// out of date.
fn upcast_changes(event_type: &str, schema_version: u32) -> bool {
    upcast_version(event_type, schema_version) != schema_version
}

/// Where a view is read from: a payload's JSON text, or the JSON value it was made from.
trait Source<'d>: Copy {
    fn get<T: Deserialize<'d>>(self) -> Option<T>;
}

impl<'d> Source<'d> for &'d str {
    fn get<T: Deserialize<'d>>(self) -> Option<T> {
        serde_json::from_str(self).ok()
    }
}

impl<'d> Source<'d> for &'d Value {
    fn get<T: Deserialize<'d>>(self) -> Option<T> {
        T::deserialize(self).ok()
    }
}

/// The length of a JSON array, counted without keeping its elements.
struct Count(u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Count;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
                let mut n = 0;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(Count(n))
            }
        }
        d.deserialize_seq(V)
    }
}

// The JSON forms: only the fields the record keeps (serde skips the others).

#[derive(Deserialize)]
struct AssessedJson {
    assessor: Party,
    method: CompactString,
    priority: CompactString,
    findings: LocalizedText,
    #[serde(default)]
    households_visited: u64,
    #[serde(default)]
    recommended_steps: Vec<CompactString>,
}

#[derive(Deserialize)]
struct WishCollectedJson {
    wish_id: CompactString,
    wish: LocalizedText,
    #[serde(default)]
    estimated_cost_fen: u64,
}

#[derive(Deserialize)]
struct WishClaimedJson {
    wish_id: CompactString,
    claimed_by: Party,
}

#[derive(Deserialize)]
struct WishFulfilledJson {
    wish_id: CompactString,
    fulfilled_by: Party,
    #[serde(default)]
    value_fen: u64,
    #[serde(default)]
    volunteer_hours: f64,
}

#[derive(Deserialize)]
struct PactDraftedJson {
    pact_id: CompactString,
    title: LocalizedText,
    clauses: Count,
}

#[derive(Deserialize)]
struct PactPublicizedJson {
    pact_id: CompactString,
    until: CompactString,
}

#[derive(Deserialize)]
struct PactAdoptedJson {
    pact_id: CompactString,
    effective_from: CompactString,
    #[serde(default)]
    votes: Option<Votes>,
    #[serde(default)]
    meeting_id: Option<CompactString>,
}

#[derive(Deserialize)]
struct TeamFormedJson {
    team_id: CompactString,
    name: LocalizedText,
    leader: Party,
    members_count: u64,
    #[serde(default)]
    meeting_id: Option<CompactString>,
}

#[derive(Deserialize)]
struct ProjectUndertakenJson {
    project_id: CompactString,
    title: LocalizedText,
    undertaken_by: Party,
    budget_fen: u64,
    funding_source: CompactString,
}

#[derive(Deserialize)]
struct ProjectProgressJson {
    project_id: CompactString,
    #[serde(default)]
    percent: Option<u64>,
    #[serde(default)]
    spent_fen: Option<u64>,
}

#[derive(Deserialize)]
struct Donor {
    name: PersonalText,
}

#[derive(Deserialize)]
struct CharityPledgedJson {
    pledge_id: CompactString,
    donor: Donor,
    kind: CompactString,
    #[serde(default)]
    amount_fen: u64,
    #[serde(default)]
    volunteer_hours: f64,
}

#[derive(Deserialize)]
struct CharityDeliveredJson {
    pledge_id: CompactString,
    #[serde(default)]
    amount_fen: u64,
    #[serde(default)]
    volunteer_hours: f64,
}

#[derive(Deserialize)]
struct MeetingJson {
    #[serde(default)]
    meeting_id: Option<CompactString>,
}

#[derive(Deserialize)]
struct ResolutionJson {
    meeting_id: CompactString,
    motion_id: CompactString,
    votes: Votes,
    rule: CompactString,
    #[serde(default)]
    decided_steps: Vec<CompactString>,
}

#[derive(Deserialize)]
struct EvaluatedJson {
    evaluator: Party,
    satisfaction: u64,
    outcome: CompactString,
}

#[derive(Deserialize)]
struct EscalatedJson {
    from_level: CompactString,
    to_level: CompactString,
    reason: LocalizedText,
}

#[derive(Deserialize, Default)]
struct ClosureJson {
    #[serde(default)]
    reason: Value,
    #[serde(default)]
    outcome: Option<Value>,
}

impl PayloadView {
    /// Reads the view of a payload in its type's current shape (upcast already).
    pub fn parse(event_type: &str, data: &str) -> PayloadView {
        Self::read(event_type, data)
    }

    fn read<'d>(event_type: &str, data: impl Source<'d>) -> PayloadView {
        use PayloadView as V;
        let view = match event_type {
            "IssueRaised" => data.get::<Opening>().map(V::Raised),
            "NeedAssessed" => data.get::<AssessedJson>().map(|p| V::Assessed {
                assessor: p.assessor,
                method: p.method,
                priority: p.priority,
                findings: p.findings,
                households_visited: p.households_visited,
                recommended_steps: p.recommended_steps,
            }),
            "MicroWishCollected" => data.get::<WishCollectedJson>().map(|p| V::WishCollected {
                wish_id: p.wish_id,
                wish: p.wish,
                estimated_cost_fen: p.estimated_cost_fen,
            }),
            "MicroWishClaimed" => {
                data.get::<WishClaimedJson>().map(|p| V::WishClaimed { wish_id: p.wish_id, claimed_by: p.claimed_by })
            }
            "MicroWishFulfilled" => data.get::<WishFulfilledJson>().map(|p| V::WishFulfilled {
                wish_id: p.wish_id,
                fulfilled_by: p.fulfilled_by,
                value_fen: p.value_fen,
                volunteer_hours: p.volunteer_hours,
            }),
            "MicroPactDrafted" => data.get::<PactDraftedJson>().map(|p| V::PactDrafted {
                pact_id: p.pact_id,
                title: p.title,
                clauses: p.clauses.0,
            }),
            "MicroPactPublicized" => {
                data.get::<PactPublicizedJson>().map(|p| V::PactPublicized { pact_id: p.pact_id, until: p.until })
            }
            "MicroPactAdopted" => data.get::<PactAdoptedJson>().map(|p| V::PactAdopted {
                pact_id: p.pact_id,
                effective_from: p.effective_from,
                votes: p.votes,
                meeting_id: p.meeting_id,
            }),
            "MicroTeamFormed" => data.get::<TeamFormedJson>().map(|p| V::TeamFormed {
                team_id: p.team_id,
                name: p.name,
                leader: p.leader,
                members_count: p.members_count,
                meeting_id: p.meeting_id,
            }),
            "MicroProjectUndertaken" => data.get::<ProjectUndertakenJson>().map(|p| V::ProjectUndertaken {
                project_id: p.project_id,
                title: p.title,
                undertaken_by: p.undertaken_by,
                budget_fen: p.budget_fen,
                funding_source: p.funding_source,
            }),
            "MicroProjectProgressReported" | "MicroProjectCompleted" => data
                .get::<ProjectProgressJson>()
                .map(|p| V::ProjectProgress { project_id: p.project_id, percent: p.percent, spent_fen: p.spent_fen }),
            "MicroCharityPledged" => data.get::<CharityPledgedJson>().map(|p| V::CharityPledged {
                pledge_id: p.pledge_id,
                donor: p.donor.name,
                kind: p.kind,
                amount_fen: p.amount_fen,
                volunteer_hours: p.volunteer_hours,
            }),
            "MicroCharityDelivered" => data.get::<CharityDeliveredJson>().map(|p| V::CharityDelivered {
                pledge_id: p.pledge_id,
                amount_fen: p.amount_fen,
                volunteer_hours: p.volunteer_hours,
            }),
            "PlacedOnAgenda" | "Deliberated" => {
                data.get::<MeetingJson>().map(|p| V::Meeting { meeting_id: p.meeting_id })
            }
            "ResolutionPassed" | "ResolutionRejected" => data.get::<ResolutionJson>().map(|p| V::Resolution {
                meeting_id: p.meeting_id,
                motion_id: p.motion_id,
                votes: p.votes,
                rule: p.rule,
                decided_steps: p.decided_steps,
            }),
            "Evaluated" => data.get::<EvaluatedJson>().map(|p| V::Evaluated {
                evaluator: p.evaluator,
                satisfaction: p.satisfaction,
                outcome: p.outcome,
            }),
            "Escalated" => data.get::<EscalatedJson>().map(|p| V::Escalated {
                from_level: p.from_level,
                to_level: p.to_level,
                reason: p.reason,
            }),
            "IssueClosed" | "IssueWithdrawn" => {
                let p = data.get::<ClosureJson>().unwrap_or_default();
                Some(V::Closure {
                    reason: p.reason,
                    outcome: p.outcome.as_ref().and_then(Value::as_str).map(CompactString::from),
                })
            }
            _ => None,
        };
        view.unwrap_or(V::Unread)
    }

    /// The view decoded from its stored byte form, if that can be used (see the module's note).
    pub fn stored(event_type: &str, schema_version: u32, stored: &[u8]) -> Option<PayloadView> {
        if stored.is_empty() || upcast_changes(event_type, schema_version) {
            return None;
        }
        PayloadView::decode(stored).filter(|v| v.fits(event_type))
    }

    /// The value of a top-level payload field as a guard reads it (`event.data.<field>`),
    /// where this view holds it exactly as the payload does: a field the schema requires, kept
    /// without a default or a conversion (a string, or an integer a guard reads as one). `None`
    /// for any other field: the guard then reads the payload itself. [`PayloadView::answers`]
    /// names the same fields by event type.
    pub fn guard_value(&self, field: &str) -> Option<DataValue<'_>> {
        use PayloadView as V;
        fn text(s: &str) -> Option<DataValue<'_>> {
            Some(DataValue::String(s))
        }
        // The payload parser reads an integer above i64::MAX as a float: leave those to it.
        let int = |n: u64| i64::try_from(n).ok().map(DataValue::from_i64);
        match (self, field) {
            (V::Raised(o), "community") => text(&o.community),
            (V::Raised(o), "workflow_id") => text(&o.workflow_id),
            (V::Raised(o), "workflow_version") => int(o.workflow_version.into()),
            (V::Raised(o), "category") => text(&o.category),
            (V::Raised(o), "households_affected") => int(o.households_affected),
            (V::Assessed { method, .. }, "method") => text(method),
            (V::Assessed { priority, .. }, "priority") => text(priority),
            (
                V::WishCollected { wish_id, .. } | V::WishClaimed { wish_id, .. } | V::WishFulfilled { wish_id, .. },
                "wish_id",
            ) => text(wish_id),
            (
                V::PactDrafted { pact_id, .. } | V::PactPublicized { pact_id, .. } | V::PactAdopted { pact_id, .. },
                "pact_id",
            ) => text(pact_id),
            (V::PactPublicized { until, .. }, "until") => text(until),
            (V::PactAdopted { effective_from, .. }, "effective_from") => text(effective_from),
            (V::TeamFormed { team_id, .. }, "team_id") => text(team_id),
            (V::TeamFormed { members_count, .. }, "members_count") => int(*members_count),
            (V::ProjectUndertaken { project_id, .. } | V::ProjectProgress { project_id, .. }, "project_id") => {
                text(project_id)
            }
            (V::ProjectUndertaken { budget_fen, .. }, "budget_fen") => int(*budget_fen),
            (V::ProjectUndertaken { funding_source, .. }, "funding_source") => text(funding_source),
            (V::CharityPledged { pledge_id, .. } | V::CharityDelivered { pledge_id, .. }, "pledge_id") => {
                text(pledge_id)
            }
            (V::CharityPledged { kind, .. }, "kind") => text(kind),
            (V::Resolution { meeting_id, .. }, "meeting_id") => text(meeting_id),
            (V::Resolution { motion_id, .. }, "motion_id") => text(motion_id),
            (V::Resolution { rule, .. }, "rule") => text(rule),
            (V::Evaluated { satisfaction, .. }, "satisfaction") => int(*satisfaction),
            (V::Evaluated { outcome, .. }, "outcome") => text(outcome),
            (V::Escalated { from_level, .. }, "from_level") => text(from_level),
            (V::Escalated { to_level, .. }, "to_level") => text(to_level),
            // Kept as written; only a text reason is handed out (an object's keys could come
            // out in another order than the payload's).
            (V::Closure { reason: Value::String(r), .. }, "reason") => text(r),
            _ => None,
        }
    }

    /// Whether [`PayloadView::guard_value`] can answer `field` for events of `event_type`
    /// (for values in range: an integer above i64::MAX, or a reason that is not text, still
    /// leaves it to the payload).
    pub fn answers(event_type: &str, field: &str) -> bool {
        let fields: &[&str] = match event_type {
            "IssueRaised" => &["community", "workflow_id", "workflow_version", "category", "households_affected"],
            "NeedAssessed" => &["method", "priority"],
            "MicroWishCollected" | "MicroWishClaimed" | "MicroWishFulfilled" => &["wish_id"],
            "MicroPactDrafted" => &["pact_id"],
            "MicroPactPublicized" => &["pact_id", "until"],
            "MicroPactAdopted" => &["pact_id", "effective_from"],
            "MicroTeamFormed" => &["team_id", "members_count"],
            "MicroProjectUndertaken" => &["project_id", "budget_fen", "funding_source"],
            "MicroProjectProgressReported" | "MicroProjectCompleted" => &["project_id"],
            "MicroCharityPledged" => &["pledge_id", "kind"],
            "MicroCharityDelivered" => &["pledge_id"],
            "ResolutionPassed" | "ResolutionRejected" => &["meeting_id", "motion_id", "rule"],
            "Evaluated" => &["satisfaction", "outcome"],
            "Escalated" => &["from_level", "to_level"],
            "IssueClosed" | "IssueWithdrawn" => &["reason"],
            _ => &[],
        };
        fields.contains(&field)
    }

    /// The payload a guard reads (`event.data`) built from this view, with just `fields`;
    /// `None` if the view does not hold one of them exactly.
    pub fn guard_payload<'a>(&'a self, fields: &[String], arena: &'a Bump) -> Option<DataValue<'a>> {
        let mut pairs = Vec::with_capacity(fields.len());
        for f in fields {
            pairs.push((&*arena.alloc_str(f), self.guard_value(f)?));
        }
        Some(DataValue::Object(arena.alloc_slice_clone(&pairs)))
    }

    /// Whether a whole-log replay of issues reads this event's payload
    /// ([`crate::event::PageFields::Views`]): a workflow document's (it is compiled), and an
    /// issue event's unless its stored view stands in for it (in this build's format, and not
    /// outdated by an upcaster). Events of other streams are not folded by the replay at all.
    /// Bytes, as a store reads them; a view that turns out not to decode makes the fold ask for
    /// the event again, so this can only err on the side of speed.
    pub fn read_by_replay(stream: &[u8], event_type: &[u8], schema_version: u32, stored: &[u8]) -> bool {
        if stream.starts_with(b"workflow-") {
            return true;
        }
        stream.starts_with(ISSUE_STREAM_PREFIX.as_bytes())
            && (stored.first() != Some(&VIEW_FORMAT)
                || UPCASTERS.iter().any(|u| u.from == schema_version && u.event_type.as_bytes() == event_type))
    }

    /// The byte form a store keeps for an event: empty for a type the record does not read,
    /// or for an event stored at an older schema version (what an upcaster makes of it can
    /// change with every upcaster added, so it is always parsed).
    pub fn stored_form(event_type: &str, schema_version: u32, data: &str, out: &mut Vec<u8>) {
        Self::store(event_type, schema_version, data, out);
    }

    /// [`PayloadView::stored_form`] from the payload as a JSON value (an event being built has
    /// it so: no text to scan).
    pub fn stored_form_of_value(event_type: &str, schema_version: u32, data: &Value, out: &mut Vec<u8>) {
        Self::store(event_type, schema_version, data, out);
    }

    fn store<'d>(event_type: &str, schema_version: u32, data: impl Source<'d>, out: &mut Vec<u8>) {
        out.clear();
        if Self::tag_of_type(event_type).is_some() && !upcast_changes(event_type, schema_version) {
            Self::read(event_type, data).encode(out);
        }
    }

    /// Whether a fold reading `stored` beside this payload would read what the payload says: a
    /// verifying read checks it, since no hash covers the stored form. A stored form a fold
    /// would not use (missing, of another format, passed over for an upcast) is never wrong.
    pub fn agrees(event_type: &str, schema_version: u32, data: &str, stored: &[u8]) -> bool {
        Self::stored(event_type, schema_version, stored).is_none_or(|v| v == PayloadView::parse(event_type, data))
    }

    fn tag_of_type(event_type: &str) -> Option<u8> {
        Some(match event_type {
            "IssueRaised" => 1,
            "NeedAssessed" => 2,
            "MicroWishCollected" => 3,
            "MicroWishClaimed" => 4,
            "MicroWishFulfilled" => 5,
            "MicroPactDrafted" => 6,
            "MicroPactPublicized" => 7,
            "MicroPactAdopted" => 8,
            "MicroTeamFormed" => 9,
            "MicroProjectUndertaken" => 10,
            "MicroProjectProgressReported" | "MicroProjectCompleted" => 11,
            "MicroCharityPledged" => 12,
            "MicroCharityDelivered" => 13,
            "PlacedOnAgenda" | "Deliberated" => 14,
            "ResolutionPassed" | "ResolutionRejected" => 15,
            "Evaluated" => 16,
            "Escalated" => 17,
            "IssueClosed" | "IssueWithdrawn" => 18,
            _ => return None,
        })
    }

    fn tag(&self) -> u8 {
        use PayloadView as V;
        match self {
            V::Unread => 0,
            V::Raised(_) => 1,
            V::Assessed { .. } => 2,
            V::WishCollected { .. } => 3,
            V::WishClaimed { .. } => 4,
            V::WishFulfilled { .. } => 5,
            V::PactDrafted { .. } => 6,
            V::PactPublicized { .. } => 7,
            V::PactAdopted { .. } => 8,
            V::TeamFormed { .. } => 9,
            V::ProjectUndertaken { .. } => 10,
            V::ProjectProgress { .. } => 11,
            V::CharityPledged { .. } => 12,
            V::CharityDelivered { .. } => 13,
            V::Meeting { .. } => 14,
            V::Resolution { .. } => 15,
            V::Evaluated { .. } => 16,
            V::Escalated { .. } => 17,
            V::Closure { .. } => 18,
        }
    }

    /// Whether this view can be the view of an `event_type` payload.
    fn fits(&self, event_type: &str) -> bool {
        match self {
            // A payload that did not parse: never for a closure, which always parses.
            PayloadView::Unread => Self::tag_of_type(event_type).is_some_and(|t| t != 18),
            v => Self::tag_of_type(event_type) == Some(v.tag()),
        }
    }

    /// Appends the byte form: the format byte, the tag, then the fields in declaration order.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let w = &mut Writer(out);
        w.u8(VIEW_FORMAT);
        w.u8(self.tag());
        use PayloadView as V;
        match self {
            V::Unread => {}
            V::Raised(o) => w.put(o),
            V::Assessed { assessor, method, priority, findings, households_visited, recommended_steps } => {
                w.put(assessor);
                w.put(method);
                w.put(priority);
                w.put(findings);
                w.u64(*households_visited);
                w.put(recommended_steps);
            }
            V::WishCollected { wish_id, wish, estimated_cost_fen } => {
                w.put(wish_id);
                w.put(wish);
                w.u64(*estimated_cost_fen);
            }
            V::WishClaimed { wish_id, claimed_by } => {
                w.put(wish_id);
                w.put(claimed_by);
            }
            V::WishFulfilled { wish_id, fulfilled_by, value_fen, volunteer_hours } => {
                w.put(wish_id);
                w.put(fulfilled_by);
                w.u64(*value_fen);
                w.f64(*volunteer_hours);
            }
            V::PactDrafted { pact_id, title, clauses } => {
                w.put(pact_id);
                w.put(title);
                w.u64(*clauses);
            }
            V::PactPublicized { pact_id, until } => {
                w.put(pact_id);
                w.put(until);
            }
            V::PactAdopted { pact_id, effective_from, votes, meeting_id } => {
                w.put(pact_id);
                w.put(effective_from);
                w.put(votes);
                w.put(meeting_id);
            }
            V::TeamFormed { team_id, name, leader, members_count, meeting_id } => {
                w.put(team_id);
                w.put(name);
                w.put(leader);
                w.u64(*members_count);
                w.put(meeting_id);
            }
            V::ProjectUndertaken { project_id, title, undertaken_by, budget_fen, funding_source } => {
                w.put(project_id);
                w.put(title);
                w.put(undertaken_by);
                w.u64(*budget_fen);
                w.put(funding_source);
            }
            V::ProjectProgress { project_id, percent, spent_fen } => {
                w.put(project_id);
                w.put(percent);
                w.put(spent_fen);
            }
            V::CharityPledged { pledge_id, donor, kind, amount_fen, volunteer_hours } => {
                w.put(pledge_id);
                w.put(donor);
                w.put(kind);
                w.u64(*amount_fen);
                w.f64(*volunteer_hours);
            }
            V::CharityDelivered { pledge_id, amount_fen, volunteer_hours } => {
                w.put(pledge_id);
                w.u64(*amount_fen);
                w.f64(*volunteer_hours);
            }
            V::Meeting { meeting_id } => w.put(meeting_id),
            V::Resolution { meeting_id, motion_id, votes, rule, decided_steps } => {
                w.put(meeting_id);
                w.put(motion_id);
                w.put(votes);
                w.put(rule);
                w.put(decided_steps);
            }
            V::Evaluated { evaluator, satisfaction, outcome } => {
                w.put(evaluator);
                w.u64(*satisfaction);
                w.put(outcome);
            }
            V::Escalated { from_level, to_level, reason } => {
                w.put(from_level);
                w.put(to_level);
                w.put(reason);
            }
            V::Closure { reason, outcome } => {
                // The reason's own JSON (canonical, so the form does not depend on how the
                // value was built): one event per issue, and its shape is the payload's.
                w.str(crate::event::canonical_json(reason).get());
                w.put(outcome);
            }
        }
    }

    /// Reads a byte form back; `None` unless it is of this [`VIEW_FORMAT`] and every byte is
    /// read.
    pub fn decode(bytes: &[u8]) -> Option<PayloadView> {
        let r = &mut Reader::new(bytes);
        if r.u8()? != VIEW_FORMAT {
            return None;
        }
        use PayloadView as V;
        let v = match r.u8()? {
            0 => V::Unread,
            1 => V::Raised(r.take()?),
            2 => V::Assessed {
                assessor: r.take()?,
                method: r.take()?,
                priority: r.take()?,
                findings: r.take()?,
                households_visited: r.u64()?,
                recommended_steps: r.take()?,
            },
            3 => V::WishCollected { wish_id: r.take()?, wish: r.take()?, estimated_cost_fen: r.u64()? },
            4 => V::WishClaimed { wish_id: r.take()?, claimed_by: r.take()? },
            5 => V::WishFulfilled {
                wish_id: r.take()?,
                fulfilled_by: r.take()?,
                value_fen: r.u64()?,
                volunteer_hours: r.f64()?,
            },
            6 => V::PactDrafted { pact_id: r.take()?, title: r.take()?, clauses: r.u64()? },
            7 => V::PactPublicized { pact_id: r.take()?, until: r.take()? },
            8 => V::PactAdopted {
                pact_id: r.take()?,
                effective_from: r.take()?,
                votes: r.take()?,
                meeting_id: r.take()?,
            },
            9 => V::TeamFormed {
                team_id: r.take()?,
                name: r.take()?,
                leader: r.take()?,
                members_count: r.u64()?,
                meeting_id: r.take()?,
            },
            10 => V::ProjectUndertaken {
                project_id: r.take()?,
                title: r.take()?,
                undertaken_by: r.take()?,
                budget_fen: r.u64()?,
                funding_source: r.take()?,
            },
            11 => V::ProjectProgress { project_id: r.take()?, percent: r.take()?, spent_fen: r.take()? },
            12 => V::CharityPledged {
                pledge_id: r.take()?,
                donor: r.take()?,
                kind: r.take()?,
                amount_fen: r.u64()?,
                volunteer_hours: r.f64()?,
            },
            13 => V::CharityDelivered { pledge_id: r.take()?, amount_fen: r.u64()?, volunteer_hours: r.f64()? },
            14 => V::Meeting { meeting_id: r.take()? },
            15 => V::Resolution {
                meeting_id: r.take()?,
                motion_id: r.take()?,
                votes: r.take()?,
                rule: r.take()?,
                decided_steps: r.take()?,
            },
            16 => V::Evaluated { evaluator: r.take()?, satisfaction: r.u64()?, outcome: r.take()? },
            17 => V::Escalated { from_level: r.take()?, to_level: r.take()?, reason: r.take()? },
            18 => V::Closure { reason: serde_json::from_str(r.str()?).ok()?, outcome: r.take()? },
            _ => return None,
        };
        r.is_done().then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The view a fold reads: the stored form when it can be used, else the payload parsed
    /// (upcast to the current shape first), as `replay::apply_with` does.
    fn of(event_type: &str, schema_version: u32, data: &str, stored: &[u8]) -> PayloadView {
        PayloadView::stored(event_type, schema_version, stored).unwrap_or_else(|| {
            PayloadView::parse(event_type, &crate::catalog::upcast(event_type, schema_version, data))
        })
    }

    /// Payloads of every type the record reads: the demo data set, the bench's lifecycle, and
    /// what those lack (a sealed name, a rejected resolution, a closure's two-language reason,
    /// payloads missing what the record needs).
    fn payloads() -> Vec<(&'static str, Value)> {
        let mut all = crate::demo::payloads();
        all.extend(crate::bench::lifecycle(7).into_iter().map(|(t, d, _)| (t, d)));
        let sealed = json!({"$pii": "p-9", "ct": "c2VhbGVk"});
        all.extend([
            ("MicroWishClaimed", json!({"wish_id": "w", "claimed_by": {"name": sealed, "society": "volunteers"}})),
            ("MicroCharityPledged", json!({"pledge_id": "p", "donor": {"name": sealed}, "kind": "money"})),
            (
                "ResolutionRejected",
                json!({"meeting_id": "m", "motion_id": "x", "votes": {"for": 1, "against": 5, "abstain": 0},
                       "rule": "majority"}),
            ),
            (
                "IssueWithdrawn",
                json!({"reason": {"zh-CN": "已自行解决", "en": "solved"}, "outcome": "resolved_elsewhere"}),
            ),
            ("IssueClosed", json!(["not", "an", "object"])),
            ("MicroWishFulfilled", json!({"wish_id": "w", "volunteer_hours": 2.5, "fulfilled_by": {"name": "李"}})),
            ("MicroTeamFormed", json!({"team_id": "t"})),
            ("MicroPactDrafted", json!({"pact_id": "p", "title": "not in two languages", "clauses": []})),
            ("Deliberated", json!({})),
        ]);
        all
    }

    #[test]
    fn every_payload_reads_the_same_from_its_stored_form_from_its_text_and_from_its_value() {
        let (mut kinds, mut unread) = (std::collections::BTreeSet::new(), 0);
        for (t, value) in payloads() {
            let text = crate::event::canonical_json(&value).get().to_string();
            let parsed = PayloadView::parse(t, &text);
            assert_eq!(PayloadView::read(t, &value), parsed, "{t}: {text}");
            // Written at the type's current schema version, as the engine writes.
            let v = crate::catalog::upcast_version(t, 1);
            let (mut from_text, mut from_value) = (Vec::new(), Vec::new());
            PayloadView::stored_form(t, v, &text, &mut from_text);
            PayloadView::stored_form_of_value(t, v, &value, &mut from_value);
            // A store writes the same bytes whether it was given the text or the value.
            assert_eq!(from_text, from_value, "{t}");
            assert_eq!(PayloadView::stored(t, v, &from_text).as_ref(), Some(&parsed), "{t}");
            assert_eq!(of(t, v, "{}", &from_text), parsed, "{t}: the stored form is used");
            if parsed == PayloadView::Unread {
                unread += 1;
            } else {
                kinds.insert(parsed.tag());
            }
        }
        // Every shape is covered, and so are payloads the record cannot read.
        assert_eq!(kinds, (1..=18).collect());
        assert!(unread >= 2);
    }

    #[test]
    fn a_stored_form_that_cannot_be_trusted_is_not_used_and_the_payload_is_parsed_instead() {
        let text = r#"{"wish":{"zh-CN":"修好路灯"},"wish_id":"w-1"}"#;
        let parsed = PayloadView::parse("MicroWishCollected", text);
        let mut good = Vec::new();
        PayloadView::stored_form("MicroWishCollected", 1, text, &mut good);
        let mut other_format = good.clone();
        other_format[0] = VIEW_FORMAT.wrapping_add(1);
        let mut longer = good.clone();
        longer.push(0);
        let cut = &good[..good.len() - 1];
        for bad in [&other_format[..], &longer, cut, &[]] {
            assert_eq!(PayloadView::stored("MicroWishCollected", 1, bad), None);
            assert_eq!(of("MicroWishCollected", 1, text, bad), parsed);
        }
        // A view of another type's shape.
        assert_eq!(PayloadView::stored("MicroPactDrafted", 1, &good), None);
    }

    #[test]
    fn a_stored_form_that_says_other_than_its_payload_is_caught_by_agrees() {
        let text = r#"{"pact_id":"p","title":{"zh-CN":"公约"},"clauses":[1,2]}"#;
        let mut stored = Vec::new();
        PayloadView::stored_form("MicroPactDrafted", 1, text, &mut stored);
        assert!(PayloadView::agrees("MicroPactDrafted", 1, text, &stored));
        let forged =
            PayloadView::PactDrafted { pact_id: "p".into(), title: LocalizedText::new("假", "fake"), clauses: 2 };
        let mut bytes = Vec::new();
        forged.encode(&mut bytes);
        assert!(!PayloadView::agrees("MicroPactDrafted", 1, text, &bytes));
        // What a fold would not use cannot mislead it.
        assert!(PayloadView::agrees("MicroPactDrafted", 1, text, &[]));
        assert!(PayloadView::agrees("MicroPactDrafted", 1, text, &[VIEW_FORMAT + 1, 6]));
    }

    #[test]
    fn an_event_stored_under_an_older_schema_version_is_always_read_through_its_upcasters() {
        // IssueWithdrawn v1 had no outcome; its upcaster reads it as `not_recorded`.
        let text = r#"{"reason":"moved away"}"#;
        let mut stored = Vec::new();
        PayloadView::stored_form("IssueWithdrawn", 1, text, &mut stored);
        assert!(stored.is_empty(), "no stored form for an event an upcaster reads");
        // Even a stored form written before the upcaster existed is passed over.
        PayloadView::parse("IssueWithdrawn", text).encode(&mut stored);
        let read = of("IssueWithdrawn", 1, text, &stored);
        assert_eq!(read, PayloadView::Closure { reason: json!("moved away"), outcome: Some("not_recorded".into()) });
    }

    #[test]
    fn the_byte_form_is_pinned_so_a_change_to_it_bumps_the_format() {
        // If this fails, the stored form changed: raise VIEW_FORMAT (stores then write every
        // view again when they open) and update the bytes here.
        let view = PayloadView::PactAdopted {
            pact_id: "p-1".into(),
            effective_from: "2026-12-01".into(),
            votes: Some(Votes { yes: 9, against: 1, abstain: 200 }),
            meeting_id: None,
        };
        let mut b = Vec::new();
        view.encode(&mut b);
        let mut expected = vec![VIEW_FORMAT, 8, 3, b'p', b'-', b'1', 10];
        expected.extend_from_slice(b"2026-12-01");
        expected.extend_from_slice(&[1, 9, 1, 0xc8, 0x01, 0]);
        assert_eq!(b, expected);
        assert_eq!(VIEW_FORMAT, 1);
    }
}
