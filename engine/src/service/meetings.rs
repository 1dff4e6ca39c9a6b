//! Meeting commands and queries, and the process manager that carries meeting outcomes to
//! their issues. This is the IO edge around the pure `meeting` core.
//!
//! The process manager is a catch-up reader over the log: for each AgendaItemAdded,
//! AgendaItemDeliberated, MotionCarried and MotionFailed it appends the implied issue events
//! (see `meeting::effects`) with ids derived by UUID v5 from the meeting, the motion and the
//! event's index, after checking whether they are stored already, with the issue's expected
//! version. So however often it runs over the same log — after each meeting command, at
//! start-up, after a crash between the meeting's event and the issue's — each resolution
//! reaches its issue exactly once. Its position is kept in memory: a new process starts again
//! from 0, which costs one lookup by id per past effect and writes nothing.

use super::{AsOf, Engine, EngineError, ID_NAMESPACE, MAX_RETRIES};
use crate::event::{Actor, NewEvent, RecordedEvent};
use crate::issue::IssueState;
use crate::meeting::agenda::{self, AgendaSuggestion};
use crate::meeting::effects::{IssueEffect, dry_run, effect_of};
use crate::meeting::index::cst_date;
use crate::meeting::minutes::{self, Format, Lang};
use crate::meeting::{
    self, ActionItemRecord, MeetingFilter, MeetingIndex, MeetingKind, MeetingRefusal, MeetingState, MeetingStep,
};
use crate::store::{Direction, ExpectedVersion, StoreError, read_stream_all};
use crate::text::LocalizedText;
use crate::workflow::CompiledWorkflow;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use uuid::Uuid;

/// Environment variable naming a fail point, for crash tests of the real binary:
/// `after-meeting-event:<EventType>` aborts the process right after a meeting event of that
/// type is durable and before the process manager carries it to the issue.
pub const FAILPOINT_ENV: &str = "CONVENE_FAILPOINT";

/// The engine's meeting side: the index and the process manager's position.
pub struct MeetingDesk {
    index: RwLock<MeetingIndex>,
    /// Serialises process-manager runs; holds the position it has carried up to.
    pm_position: tokio::sync::Mutex<u64>,
    /// When false, meeting commands do not drive the process manager (tests use this to
    /// leave a meeting event without its issue event, as a crash would).
    pm_inline: AtomicBool,
    pm_problems: std::sync::Mutex<Vec<String>>,
}

impl Default for MeetingDesk {
    fn default() -> Self {
        MeetingDesk {
            index: RwLock::new(MeetingIndex::new()),
            pm_position: tokio::sync::Mutex::new(0),
            pm_inline: AtomicBool::new(true),
            pm_problems: std::sync::Mutex::new(Vec::new()),
        }
    }
}

/// Schedule a meeting.
#[derive(Debug, Clone)]
pub struct ScheduleMeeting {
    /// A readable id (`dongting-2026-05-consultation-day`); default: derived from the
    /// idempotency key, else a new UUID.
    pub meeting_id: Option<String>,
    /// The MeetingScheduled payload (kind, community, title, scheduled_for, venue, convener).
    pub data: Value,
    pub actor: Actor,
    pub idempotency_key: Option<String>,
}

/// Record one step on a meeting.
#[derive(Debug, Clone)]
pub struct MeetingCommand {
    pub meeting_id: String,
    /// An event type, or EstablishQuorum / CloseVote / PublishMinutes.
    pub step_type: String,
    pub data: Value,
    pub actor: Actor,
    pub expected_version: Option<u64>,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct MeetingOutcome {
    pub event: RecordedEvent,
    pub meeting: MeetingState,
    pub replayed: bool,
}

fn refused(r: MeetingRefusal) -> EngineError {
    EngineError::MeetingRefused(Box::new(r))
}

fn kind_of(id: &str) -> Result<Arc<MeetingKind>, EngineError> {
    meeting::kind(id).ok_or_else(|| {
        let known: Vec<&str> = meeting::shipped_kinds().keys().map(String::as_str).collect();
        refused(MeetingRefusal::Rule {
            code: "unknown_kind",
            message: LocalizedText::new(
                format!("没有会议类型 {id} 的定义（可用：{}）", known.join("、")),
                format!("no meeting kind {id} is defined (available: {})", known.join(", ")),
            ),
            allowed: vec![],
        })
    })
}

impl Engine {
    /// Folds every event the meeting index has not seen yet.
    pub async fn catch_up_meetings(&self) -> Result<u64, EngineError> {
        loop {
            let after = self.meetings.index.read().map_err(|_| EngineError::Poisoned)?.position();
            let events = self.store.read_all(after, 8192).await?;
            if events.is_empty() {
                return Ok(after);
            }
            let mut idx = self.meetings.index.write().map_err(|_| EngineError::Poisoned)?;
            for e in &events {
                idx.apply(e);
            }
        }
    }

    /// Runs `f` over the meeting index after catching up.
    pub async fn with_meetings<T>(&self, f: impl FnOnce(&MeetingIndex) -> T) -> Result<T, EngineError> {
        self.catch_up_meetings().await?;
        Ok(f(&*self.meetings.index.read().map_err(|_| EngineError::Poisoned)?))
    }

    /// Whether meeting commands drive the process manager themselves (default true). Tests
    /// switch it off to leave a meeting outcome without its issue events, as a crash would.
    pub fn set_process_manager_inline(&self, on: bool) {
        self.meetings.pm_inline.store(on, Ordering::SeqCst);
    }

    /// Resolutions the process manager could not carry to their issue (the issue's workflow
    /// refused them: e.g. the issue was withdrawn between tabling and the vote).
    pub fn process_manager_problems(&self) -> Vec<String> {
        self.meetings.pm_problems.lock().map(|p| p.clone()).unwrap_or_default()
    }

    // ---- commands ----

    /// Schedules a meeting (MeetingScheduled opens its stream).
    pub async fn schedule_meeting(&self, mut cmd: ScheduleMeeting) -> Result<MeetingOutcome, EngineError> {
        cmd.actor = super::privacy::account(&cmd.actor);
        let kind = kind_of(cmd.data["kind"].as_str().unwrap_or_default())?;
        if !kind.recorded_by.iter().any(|r| r == &cmd.actor.role) {
            return Err(refused(MeetingRefusal::WrongRole {
                step_type: "MeetingScheduled".into(),
                role: cmd.actor.role.clone(),
                roles: kind.recorded_by.clone(),
                allowed: vec![],
            }));
        }
        if let Err(errors) = self.catalog.validate("MeetingScheduled", &cmd.data) {
            return Err(refused(MeetingRefusal::InvalidPayload {
                step_type: "MeetingScheduled".into(),
                errors,
                allowed: vec![],
            }));
        }
        let community = cmd.data["community"].as_str().unwrap_or_default();
        if let Some(c) = &cmd.actor.community
            && !crate::vocab::community_within(community, c)
        {
            return Err(refused(MeetingRefusal::OutOfCommunity {
                actor_community: c.clone(),
                meeting_community: community.to_string(),
                allowed: vec![],
            }));
        }
        let id = match (&cmd.meeting_id, &cmd.idempotency_key) {
            (Some(id), _) => id.clone(),
            (None, Some(k)) => Uuid::new_v5(&ID_NAMESPACE, format!("meeting:{k}").as_bytes()).to_string(),
            (None, None) => Uuid::now_v7().to_string(),
        };
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id.chars().all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c))
            && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        if !id_ok {
            return Err(refused(MeetingRefusal::InvalidPayload {
                step_type: "MeetingScheduled".into(),
                errors: vec![crate::catalog::FieldError {
                    pointer: "/meeting_id".into(),
                    message: "letters, digits and _.:- only, at most 64".into(),
                }],
                allowed: vec![],
            }));
        }
        let stream = meeting::stream_of(&id);
        let event_id = Uuid::new_v5(&ID_NAMESPACE, format!("scheduled:{id}").as_bytes());
        let mut sealed = cmd.data.clone();
        self.seal_personal("MeetingScheduled", event_id, &mut sealed).await?;
        let event = NewEvent::new("MeetingScheduled", &sealed, cmd.actor.clone())
            .with_id(event_id)
            .with_schema_version(self.schema_version("MeetingScheduled"));
        match self.store.append(&stream, ExpectedVersion::NoStream, vec![event]).await {
            Ok(o) if o.already_present => {
                let found = self
                    .store
                    .read_event(event_id)
                    .await?
                    .ok_or_else(|| EngineError::NotFound(format!("event {event_id}")))?;
                if !self.same_payload(&found, &cmd.data).await? {
                    return Err(EngineError::IdempotencyKeyReused);
                }
                let meeting = self.meeting(&id).await?;
                return Ok(MeetingOutcome { event: found, meeting, replayed: true });
            }
            Ok(_) => {}
            Err(StoreError::WrongExpectedVersion { .. }) => {
                // The same request again (same id, same payload) is answered as the first was.
                let same = match self.store.read_event(event_id).await? {
                    Some(found) if cmd.idempotency_key.is_some() || cmd.meeting_id.is_some() => {
                        self.same_payload(&found, &cmd.data).await?.then_some(found)
                    }
                    _ => None,
                };
                if let Some(found) = same {
                    let meeting = self.meeting(&id).await?;
                    return Ok(MeetingOutcome { event: found, meeting, replayed: true });
                }
                return Err(refused(MeetingRefusal::Rule {
                    code: "meeting_exists",
                    message: LocalizedText::new(format!("会议 {id} 已存在"), format!("meeting {id} already exists")),
                    allowed: vec![],
                }));
            }
            Err(e) => return Err(e.into()),
        }
        let recorded =
            self.store.read_event(event_id).await?.ok_or_else(|| EngineError::NotFound(format!("event {event_id}")))?;
        let meeting = meeting::start(&recorded).map_err(|e| EngineError::InvalidRequest(e.to_string()))?;
        Ok(MeetingOutcome { event: recorded, meeting, replayed: false })
    }

    /// Records a step on a meeting, if the meeting's status, its kind's rules and (for agenda
    /// items and motions) the issue's workflow allow it; then carries any outcome to the issue.
    pub async fn meeting_step(&self, mut cmd: MeetingCommand) -> Result<MeetingOutcome, EngineError> {
        cmd.actor = super::privacy::account(&cmd.actor);
        let stream = meeting::stream_of(&cmd.meeting_id);
        let keyed_id = cmd
            .idempotency_key
            .as_ref()
            .map(|k| Uuid::new_v5(&ID_NAMESPACE, format!("meeting-step:{}:{k}", cmd.meeting_id).as_bytes()));
        // A keyed retry of CloseVote finds the motion's outcome, whose id does not depend on
        // the key (so two conveners closing the same vote cannot produce two outcomes).
        let keyed_id = match (keyed_id, cmd.step_type.as_str(), cmd.data["motion_id"].as_str()) {
            (Some(_), "CloseVote", Some(motion)) => Some(outcome_id(&cmd.meeting_id, motion)),
            (k, ..) => k,
        };
        for _attempt in 0..MAX_RETRIES {
            let m = self.meeting(&cmd.meeting_id).await?;
            if let Some(id) = keyed_id
                && let Some(found) = self.store.read_event(id).await?
            {
                if found.stream != stream || found.actor != cmd.actor {
                    return Err(EngineError::IdempotencyKeyReused);
                }
                let meeting = self.meeting_as_of(&cmd.meeting_id, AsOf::Version(found.version)).await?;
                return Ok(MeetingOutcome { event: found, meeting, replayed: true });
            }
            if let Some(v) = cmd.expected_version
                && v != m.version
            {
                return Err(EngineError::PreconditionFailed { expected: v, current: m.version });
            }
            let kind = kind_of(&m.kind)?;
            let issue_id = cmd.data.get("issue_id").and_then(Value::as_str).map(str::to_string).or_else(|| {
                // Steps naming a motion act on the motion's issue.
                let motion = cmd.data.get("motion_id").and_then(Value::as_str)?;
                m.motion(motion).map(|x| x.issue_id.clone())
            });
            let issue = match &issue_id {
                Some(id) => self.with_index(|i| i.issue_with_workflow(id).map(|(s, w)| (s.clone(), w.clone()))).await?,
                None => None,
            };
            let lookup = |id: &str| -> Option<(IssueState, Arc<CompiledWorkflow>)> {
                issue.as_ref().filter(|(s, _)| s.id == id).cloned()
            };
            let step = MeetingStep { step_type: &cmd.step_type, data: &cmd.data, actor: &cmd.actor };
            let decided = meeting::decide(&kind, &m, &step, &lookup, self.catalog).map_err(refused)?;
            // A motion's outcome has one id whoever closes the vote: a second close is a no-op.
            let event_id = match (decided.event_type.as_str(), keyed_id) {
                ("MotionCarried" | "MotionFailed", _) => {
                    outcome_id(&m.id, decided.data["motion_id"].as_str().unwrap_or_default())
                }
                (_, Some(id)) => id,
                (_, None) => Uuid::now_v7(),
            };
            let mut sealed = decided.data;
            self.seal_personal(&decided.event_type, event_id, &mut sealed).await?;
            let event = NewEvent::new(decided.event_type.clone(), &sealed, cmd.actor.clone())
                .with_id(event_id)
                .with_schema_version(self.schema_version(&decided.event_type));
            match self.store.append(&stream, ExpectedVersion::Exact(m.version), vec![event]).await {
                Ok(outcome) => {
                    let recorded = self
                        .store
                        .read_stream(&stream, outcome.first_version, Direction::Forward, 1)
                        .await?
                        .pop()
                        .ok_or_else(|| EngineError::NotFound(format!("event {event_id}")))?;
                    failpoint(&recorded.event_type);
                    if self.meetings.pm_inline.load(Ordering::SeqCst) {
                        self.run_process_manager().await?;
                    }
                    let mut meeting = m;
                    meeting::apply(&mut meeting, &recorded);
                    return Ok(MeetingOutcome { event: recorded, meeting, replayed: outcome.already_present });
                }
                Err(StoreError::WrongExpectedVersion { actual, .. }) => {
                    if let Some(v) = cmd.expected_version {
                        return Err(EngineError::PreconditionFailed { expected: v, current: actual.unwrap_or(0) });
                    }
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(EngineError::TooMuchContention)
    }

    // ---- the process manager ----

    /// Carries every meeting outcome in the log that has not reached its issue yet. Returns
    /// how many issue events it appended.
    pub async fn run_process_manager(&self) -> Result<usize, EngineError> {
        let mut position = self.meetings.pm_position.lock().await;
        let mut appended = 0;
        loop {
            // The narrowest page (no payloads, no hashes): most events are not meeting events
            // with an effect, and `carry` reads the meeting's stream, the event whole at its
            // end, anyway. On a large log this scan runs at every start, so it must not parse
            // or check what it does not use.
            let page = self.store.read_all_page(*position, 4096, crate::event::PageFields::Views).await?;
            if page.is_empty() {
                return Ok(appended);
            }
            for e in page.iter() {
                if meeting::id_of(e.stream).is_some()
                    && matches!(
                        e.event_type,
                        "AgendaItemAdded" | "AgendaItemDeliberated" | "MotionCarried" | "MotionFailed"
                    )
                {
                    appended += self.carry(e.stream, e.version).await?;
                }
                *position = e.position;
            }
        }
    }

    /// Carries the effect of the meeting event at `version` of `stream` to its issue (read
    /// whole here, with the meeting's events before it).
    async fn carry(&self, stream: &str, version: u64) -> Result<usize, EngineError> {
        let events = self.store.read_stream(stream, 0, Direction::Forward, (version + 1) as usize).await?;
        let Some(e) = events.last().filter(|e| e.version == version) else {
            return Err(StoreError::Backend(format!("{stream} version {version} vanished while being read")).into());
        };
        let Ok(m) = meeting::replay(&events) else { return Ok(0) };
        let Some(effect) = effect_of(&m, e, self.catalog) else { return Ok(0) };
        let Some((first_id, ..)) = effect.events.first() else { return Ok(0) };
        if self.store.read_event(*first_id).await?.is_some() {
            return Ok(0); // carried before (by this process or an earlier one)
        }
        for _attempt in 0..MAX_RETRIES {
            let Some((issue, wf)) = self
                .with_index(|i| i.issue_with_workflow(&effect.issue_id).map(|(s, w)| (s.clone(), w.clone())))
                .await?
            else {
                return Ok(0);
            };
            if let Err(refusal) = dry_run(&wf, &issue, &effect.events, &effect.actor, self.catalog) {
                if effect.required {
                    self.pm_problem(e, &effect, &refusal.to_string());
                }
                return Ok(0);
            }
            // The effect copies personal values from the meeting's events as they are stored
            // (sealed); anything still plain (a log written before sealing) is sealed here.
            let mut batch = Vec::with_capacity(effect.events.len());
            for (id, t, d) in &effect.events {
                let mut sealed = d.clone();
                self.seal_personal(t, *id, &mut sealed).await?;
                batch.push(
                    NewEvent::new(t.clone(), &sealed, super::privacy::account(&effect.actor))
                        .with_id(*id)
                        .with_schema_version(self.schema_version(t))
                        .correlated(Some(e.id), Some(e.id)),
                );
            }
            match self.store.append(&issue.stream, ExpectedVersion::Exact(issue.version), batch).await {
                Ok(o) => return Ok(if o.already_present { 0 } else { effect.events.len() }),
                Err(StoreError::WrongExpectedVersion { .. }) => {
                    // Someone else wrote to the issue (possibly this very effect): look again.
                    if self.store.read_event(*first_id).await?.is_some() {
                        return Ok(0);
                    }
                    continue;
                }
                Err(err) => return Err(err.into()),
            }
        }
        Err(EngineError::TooMuchContention)
    }

    fn pm_problem(&self, e: &RecordedEvent, effect: &IssueEffect, why: &str) {
        let msg = format!("{} {} (position {}) → issue {}: {why}", e.stream, e.event_type, e.position, effect.issue_id);
        tracing::warn!(%msg, "a meeting outcome could not be carried to its issue");
        if let Ok(mut p) = self.meetings.pm_problems.lock()
            && !p.contains(&msg)
        {
            p.push(msg);
        }
    }

    // ---- queries ----

    /// The current state of a meeting.
    pub async fn meeting(&self, id: &str) -> Result<MeetingState, EngineError> {
        self.with_meetings(|i| i.meeting(id).cloned())
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("meeting {id}")))
    }

    /// A meeting as it was at a version or a time, replayed from its stream.
    pub async fn meeting_as_of(&self, id: &str, as_of: AsOf) -> Result<MeetingState, EngineError> {
        let mut events = self.meeting_events(id).await?;
        match as_of {
            AsOf::Version(v) => events.retain(|e| e.version <= v),
            AsOf::Time(t) => events.retain(|e| e.recorded_at <= t),
        }
        if events.is_empty() {
            return Err(EngineError::NotYetRaised(format!("meeting {id}")));
        }
        meeting::replay(&events).map_err(|e| EngineError::InvalidRequest(e.to_string()))
    }

    pub async fn meeting_events(&self, id: &str) -> Result<Vec<RecordedEvent>, EngineError> {
        let events = read_stream_all(self.store.as_ref(), &meeting::stream_of(id)).await?;
        if events.is_empty() {
            return Err(EngineError::NotFound(format!("meeting {id}")));
        }
        Ok(events)
    }

    pub async fn list_meetings(&self, filter: &MeetingFilter) -> Result<Vec<MeetingState>, EngineError> {
        self.with_meetings(|i| i.list(filter).into_iter().cloned().collect()).await
    }

    /// Meetings by kind and status, and their action items, for a dashboard; "overdue" judged
    /// at `now`.
    pub async fn meeting_stats(
        &self,
        filter: &MeetingFilter,
        now: DateTime<Utc>,
    ) -> Result<crate::meeting::MeetingStats, EngineError> {
        self.with_meetings(|i| i.stats(filter, now)).await
    }

    /// Action items in (or below) `community`; only the overdue ones at `now` if asked.
    pub async fn action_items(
        &self,
        community: Option<&str>,
        overdue_only: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<(ActionItemRecord, bool)>, EngineError> {
        self.with_meetings(|i| {
            i.action_items_within(community)
                .into_iter()
                .map(|a| (a.clone(), a.overdue_at(now)))
                .filter(|(_, overdue)| !overdue_only || *overdue)
                .collect()
        })
        .await
    }

    /// Proposes an agenda for a meeting (nothing is written; the convener accepts or edits it).
    pub async fn suggest_agenda(&self, id: &str, now: DateTime<Utc>) -> Result<AgendaSuggestion, EngineError> {
        let m = self.meeting(id).await?;
        let kind = kind_of(&m.kind)?;
        // Only the area's issues and open action items are looked at (a city's index holds
        // every community's): the suggestion itself filters the same way.
        let area = agenda::agenda_area(&kind, &m.community);
        let (items, last) = self
            .with_meetings(|i| {
                let last = i.last_meeting(&m.kind, &m.community, &m.id, m.scheduled_for).map(|x| x.id.clone());
                let open = i
                    .action_items_within(Some(&area))
                    .into_iter()
                    .filter(|a| a.done.is_none() && crate::vocab::community_within(&a.issue_community, &area))
                    .cloned()
                    .collect::<Vec<_>>();
                (open, last)
            })
            .await?;
        self.with_index(|i| {
            let issues = i.issues_within(&area).map(|s| (s, s.workflow.id.as_str()));
            agenda::suggest(&kind, &m, issues, &items, last.as_deref(), now)
        })
        .await
    }

    /// The minutes of a meeting (at a version or time, or now), generated from its events,
    /// personal values revealed (erased ones shown as erased) — or, with `sealed_form`, in the
    /// sealed form the published digest covers (`minutes::digest`).
    pub async fn minutes(
        &self,
        id: &str,
        as_of: Option<AsOf>,
        lang: Lang,
        format: Format,
        sealed_form: bool,
    ) -> Result<(MeetingState, String), EngineError> {
        let m = match as_of {
            Some(a) => self.meeting_as_of(id, a).await?,
            None => self.meeting(id).await?,
        };
        let kind = kind_of(&m.kind)?;
        let names = if sealed_form { crate::privacy::Names::sealed_form() } else { self.names_for(&m).await? };
        let text = minutes::render(&m, &kind, lang, format, &names);
        Ok((m, text))
    }

    /// For each decided motion: did its resolution reach the issue?
    pub async fn resolutions_applied(&self, m: &MeetingState) -> Result<Vec<(String, bool)>, EngineError> {
        let decided: Vec<(String, String)> = m
            .motions
            .iter()
            .filter(|x| x.status != meeting::MotionStatus::Tabled)
            .map(|x| (x.motion_id.clone(), x.issue_id.clone()))
            .collect();
        self.with_index(|i| {
            decided
                .into_iter()
                .map(|(motion, issue)| {
                    let done = i.issue(&issue).is_some_and(|s| {
                        s.record.resolutions.iter().any(|r| r.meeting_id == m.id && r.motion_id == motion)
                    });
                    (motion, done)
                })
                .collect()
        })
        .await
    }
}

/// The id of a motion's MotionCarried / MotionFailed.
fn outcome_id(meeting_id: &str, motion_id: &str) -> Uuid {
    Uuid::new_v5(&ID_NAMESPACE, format!("motion-outcome:{meeting_id}:{motion_id}").as_bytes())
}

/// Today's date in China Standard Time (where due dates are read).
pub fn today_cst(now: DateTime<Utc>) -> chrono::NaiveDate {
    cst_date(now)
}

/// Aborts the process if the fail point names this event type (crash tests only).
fn failpoint(event_type: &str) {
    if let Ok(v) = std::env::var(FAILPOINT_ENV)
        && v.strip_prefix("after-meeting-event:") == Some(event_type)
    {
        eprintln!("convene: fail point {v} reached; aborting");
        std::process::abort();
    }
}

/// JSON of a meeting for clients: the state, the steps allowed now, and (for decided
/// motions) whether the resolution reached its issue.
pub fn meeting_json(m: &MeetingState, applied: &[(String, bool)]) -> Value {
    let mut v = serde_json::to_value(m).unwrap_or_default();
    v["allowed_steps"] = serde_json::to_value(meeting::steps_now(m)).unwrap_or_default();
    if let Some(motions) = v["motions"].as_array_mut() {
        for mo in motions {
            if let Some((_, done)) = applied.iter().find(|(id, _)| mo["motion_id"] == json!(id)) {
                mo["applied_to_issue"] = json!(done);
            }
        }
    }
    v
}
