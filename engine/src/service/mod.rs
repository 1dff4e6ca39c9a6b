//! The engine: the imperative shell around the pure core. It turns commands (raise an issue,
//! record a step, publish a workflow) into decisions and appends, keeps the issue index
//! current, and answers time-travel queries by replaying from the store.

mod error;
mod log_replay;
mod meetings;
mod privacy;
mod timelines;

pub use error::EngineError;
pub use log_replay::{LogReplay, read_log, replay_log};
pub use meetings::{
    FAILPOINT_ENV, MeetingCommand, MeetingDesk, MeetingOutcome, ScheduleMeeting, meeting_json, today_cst,
};

use crate::catalog::{Catalog, embedded};
use crate::event::{Actor, NewEvent, RecordedEvent};
use crate::issue::{self, IssueState, Refusal, Step};
use crate::projection::{IssueFilter, IssueIndex, Page};
use crate::store::{Direction, EventStore, ExpectedVersion, StoreError, SubscribeExt, Subscription, read_stream_all};
use crate::workflow::{CompiledWorkflow, Diagnostic, OPENING_EVENT};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::sync::{Arc, RwLock};
use uuid::Uuid;

/// Namespace for ids derived from idempotency keys (UUID v5), so a retried command produces
/// the same event id and the store's idempotency makes the retry harmless.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6d0f_3c1e_55a4_4c0b_9d7e_c05e_e51a_7e01);

/// How many times a command without If-Match re-decides after losing a race.
const MAX_RETRIES: usize = 8;

/// Raise a new issue.
#[derive(Debug, Clone)]
pub struct RaiseIssue {
    pub workflow_id: String,
    /// None: the latest published version (the issue is pinned to it from now on).
    pub workflow_version: Option<u32>,
    /// The IssueRaised payload without `workflow_id`/`workflow_version` (the engine adds them).
    pub data: Value,
    pub actor: Actor,
    pub idempotency_key: Option<String>,
}

/// Record one step on an issue.
#[derive(Debug, Clone)]
pub struct RecordStep {
    pub issue_id: String,
    pub event_type: String,
    pub data: Value,
    pub actor: Actor,
    /// If-Match: the stream version the client saw.
    pub expected_version: Option<u64>,
    pub idempotency_key: Option<String>,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
}

/// The result of a command: the event written (or found, on a retry) and the issue after it.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    pub event: RecordedEvent,
    pub issue: IssueState,
    /// True when the command was a retry and nothing new was written.
    pub replayed: bool,
}

/// Which past state of an issue to show.
#[derive(Debug, Clone, Copy)]
pub enum AsOf {
    Version(u64),
    Time(DateTime<Utc>),
}

/// Result of publishing a workflow version.
#[derive(Debug, Clone)]
pub struct Published {
    pub workflow: Arc<CompiledWorkflow>,
    /// False when exactly this version was already published.
    pub created: bool,
    pub diagnostics: Vec<Diagnostic>,
}

pub struct Engine {
    store: Arc<dyn EventStore>,
    catalog: &'static Catalog,
    index: RwLock<IssueIndex>,
    meetings: MeetingDesk,
    /// The keyring personal fields are sealed with (see `privacy`); none: appended as given.
    person_keys: std::sync::OnceLock<crate::privacy::PersonKeys>,
}

impl Engine {
    /// An engine over a store, with its index caught up to the store's head.
    pub async fn open(store: Arc<dyn EventStore>) -> Result<Engine, EngineError> {
        Engine::open_with_keys(store, None).await
    }

    /// An engine over a store that seals personal data with `keys` from the start (the
    /// process manager, which runs while opening, seals what it carries too).
    pub async fn open_with_keys(
        store: Arc<dyn EventStore>,
        keys: Option<crate::privacy::PersonKeys>,
    ) -> Result<Engine, EngineError> {
        let person_keys = std::sync::OnceLock::new();
        if let Some(k) = keys {
            let _ = person_keys.set(k);
        }
        // The log so far is folded the way `convene replay` folds it (parallel, pages without
        // the payloads views stand in for): a first start on a large log then takes a
        // fraction of folding it page by page on one thread. `catch_up` folds what came since.
        let index = replay_log(store.clone(), None, false, &|_| {}).await?.index;
        let engine = Engine {
            store,
            catalog: Catalog::shipped(),
            index: RwLock::new(index),
            meetings: MeetingDesk::default(),
            person_keys,
        };
        engine.catch_up().await?;
        // Meeting outcomes a crash left without their issue events reach their issues now.
        engine.run_process_manager().await?;
        Ok(engine)
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    pub fn catalog(&self) -> &'static Catalog {
        self.catalog
    }

    /// Folds every event the index has not seen yet.
    pub async fn catch_up(&self) -> Result<u64, EngineError> {
        loop {
            let after = self.read_index()?.position();
            let page = self.store.read_all_page(after, 8192, crate::event::PageFields::Fold).await?;
            if page.is_empty() {
                return Ok(after);
            }
            let mut idx = self.index.write().map_err(|_| EngineError::Poisoned)?;
            for e in page.iter() {
                idx.apply(&e, self.catalog);
            }
        }
    }

    /// For a process about to exit: empties the index without freeing what it held, since the
    /// exit returns that memory at once, while freeing every issue state one by one took ~0.1 s
    /// per 200,000 events (a quarter of a `convene issue show` on such a log). The engine stays
    /// usable: its next read folds the log again, from the start.
    pub fn leave_index_to_exit(&self) {
        if let Ok(mut index) = self.index.write() {
            std::mem::forget(std::mem::take(&mut *index));
        }
    }

    fn read_index(&self) -> Result<std::sync::RwLockReadGuard<'_, IssueIndex>, EngineError> {
        self.index.read().map_err(|_| EngineError::Poisoned)
    }

    /// Runs `f` over the index after catching up (read-your-writes for this process).
    pub async fn with_index<T>(&self, f: impl FnOnce(&IssueIndex) -> T) -> Result<T, EngineError> {
        self.catch_up().await?;
        Ok(f(&*self.read_index()?))
    }

    // ---- workflows ----

    /// Publishes a workflow definition version (an event in `workflow-<id>`).
    pub async fn publish_workflow(&self, doc: &Value, actor: &Actor) -> Result<Published, EngineError> {
        let (wf, diagnostics) =
            CompiledWorkflow::compile_reporting(doc, self.catalog).map_err(EngineError::InvalidWorkflow)?;
        let id = wf.id().to_string();
        let version = wf.version();
        let (latest, existing) = self.with_index(|i| (i.latest_workflow(&id), i.workflow(&id, version))).await?;
        if let Some(existing) = existing {
            if existing.content_hash == wf.content_hash {
                return Ok(Published { workflow: existing, created: false, diagnostics });
            }
            return Err(EngineError::WorkflowVersionExists { id, version });
        }
        let next = latest.as_ref().map(|w| w.version() + 1).unwrap_or(1);
        if version != next {
            return Err(EngineError::WorkflowVersionGap { id, version, next });
        }
        let expected =
            if version == 1 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(u64::from(version) - 2) };
        let event_id = Uuid::new_v5(&ID_NAMESPACE, format!("workflow:{id}:{version}:{}", wf.content_hash).as_bytes());
        let event =
            NewEvent::new("WorkflowPublished", &json!({"definition": doc}), privacy::account(actor)).with_id(event_id);
        match self.store.append(&format!("workflow-{id}"), expected, vec![event]).await {
            Ok(_) => {}
            Err(StoreError::WrongExpectedVersion { .. }) => {
                return Err(EngineError::WorkflowVersionExists { id, version });
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Published { workflow: Arc::new(wf), created: true, diagnostics })
    }

    /// Publishes the workflows shipped in `workflows/` that are not published yet.
    pub async fn bootstrap_workflows(&self) -> Result<Vec<Published>, EngineError> {
        let mut out = Vec::new();
        for (name, text) in embedded::SHIPPED_WORKFLOWS {
            let doc: Value = serde_json::from_str(text)
                .map_err(|e| EngineError::InvalidRequest(format!("shipped workflow {name}: {e}")))?;
            match self.publish_workflow(&doc, &Actor::system()).await {
                Ok(p) => out.push(p),
                // A newer or locally changed version is already there: keep what is published.
                Err(EngineError::WorkflowVersionExists { .. } | EngineError::WorkflowVersionGap { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    pub async fn workflows(&self) -> Result<Vec<Arc<CompiledWorkflow>>, EngineError> {
        self.with_index(|i| i.workflows().cloned().collect()).await
    }

    pub async fn workflow(&self, id: &str, version: u32) -> Result<Arc<CompiledWorkflow>, EngineError> {
        self.with_index(|i| i.workflow(id, version))
            .await?
            .ok_or_else(|| EngineError::UnknownWorkflow { id: id.into(), version: Some(version) })
    }

    // ---- issues ----

    /// Raises a new issue under a workflow.
    pub async fn raise(&self, mut cmd: RaiseIssue) -> Result<StepOutcome, EngineError> {
        cmd.actor = privacy::account(&cmd.actor);
        let wf = match cmd.workflow_version {
            Some(v) => self.with_index(|i| i.workflow(&cmd.workflow_id, v)).await?,
            None => self.with_index(|i| i.latest_workflow(&cmd.workflow_id)).await?,
        }
        .ok_or_else(|| EngineError::UnknownWorkflow { id: cmd.workflow_id.clone(), version: cmd.workflow_version })?;
        let mut data = cmd.data.clone();
        let Some(obj) = data.as_object_mut() else {
            return Err(EngineError::InvalidRequest("issue data must be a JSON object".into()));
        };
        obj.insert("workflow_id".into(), json!(wf.id()));
        obj.insert("workflow_version".into(), json!(wf.version()));

        let issue_id = match &cmd.idempotency_key {
            Some(k) => Uuid::new_v5(&ID_NAMESPACE, format!("raise:{k}").as_bytes()),
            None => Uuid::now_v7(),
        };
        let event_id = Uuid::new_v5(&ID_NAMESPACE, format!("raised:{issue_id}").as_bytes());
        if let Some(found) = self.store.read_event(event_id).await? {
            return self.replayed_outcome(found, OPENING_EVENT, &data).await;
        }
        // A refused raise leaves no issue, so no step is allowed now: its refusal lists none.
        let allowed = Vec::new();
        issue::check_actor(&wf, OPENING_EVENT, &cmd.actor, data["community"].as_str(), &allowed)
            .map_err(EngineError::Refused)?;
        if let Err(errors) = self.catalog.validate(OPENING_EVENT, &data) {
            return Err(EngineError::Refused(Refusal::InvalidPayload {
                event_type: OPENING_EVENT.into(),
                errors,
                allowed,
            }));
        }
        let stream = issue::stream_of(&issue_id.to_string());
        let mut sealed = data.clone();
        self.seal_personal(OPENING_EVENT, event_id, &mut sealed).await?;
        let event = NewEvent::new(OPENING_EVENT, &sealed, cmd.actor.clone())
            .with_id(event_id)
            .with_schema_version(self.schema_version(OPENING_EVENT));
        let appended = match self.store.append(&stream, ExpectedVersion::NoStream, vec![event]).await {
            Ok(o) => Some(o),
            // The same key raced us and won: answer as its raise was answered.
            Err(StoreError::WrongExpectedVersion { .. }) if cmd.idempotency_key.is_some() => None,
            Err(e) => return Err(e.into()),
        };
        let recorded =
            self.store.read_event(event_id).await?.ok_or_else(|| EngineError::NotFound(format!("event {event_id}")))?;
        if appended.is_none_or(|o| o.already_present) {
            return self.replayed_outcome(recorded, OPENING_EVENT, &data).await;
        }
        let issue = issue::start(&wf, &recorded.view())?;
        Ok(StepOutcome { event: recorded, issue, replayed: false })
    }

    fn schema_version(&self, event_type: &str) -> u32 {
        self.catalog.get(event_type).map(|t| t.schema_version).unwrap_or(1)
    }

    /// An earlier command with the same idempotency key: answer as it was answered, if the
    /// request is the same; refuse if the key was reused for something else.
    async fn replayed_outcome(
        &self,
        found: RecordedEvent,
        event_type: &str,
        data: &Value,
    ) -> Result<StepOutcome, EngineError> {
        if found.event_type != event_type || !self.same_payload(&found, data).await? {
            return Err(EngineError::IdempotencyKeyReused);
        }
        let id = issue::id_of(&found.stream).unwrap_or(&found.stream).to_string();
        let issue = self.issue_as_of(&id, AsOf::Version(found.version)).await?;
        Ok(StepOutcome { event: found, issue, replayed: true })
    }

    /// Records a step, if the issue's workflow allows it now.
    pub async fn step(&self, mut cmd: RecordStep) -> Result<StepOutcome, EngineError> {
        cmd.actor = privacy::account(&cmd.actor);
        let event_id = match &cmd.idempotency_key {
            Some(k) => Uuid::new_v5(&ID_NAMESPACE, format!("step:{}:{k}", cmd.issue_id).as_bytes()),
            None => Uuid::now_v7(),
        };
        let stream = issue::stream_of(&cmd.issue_id);
        for _attempt in 0..MAX_RETRIES {
            let (state, wf) = self.current_with_workflow(&cmd.issue_id).await?;
            // A keyed retry (also one racing its original, which may have landed only now) is
            // answered as the original was answered instead of being decided again.
            if cmd.idempotency_key.is_some()
                && let Some(found) = self.store.read_event(event_id).await?
            {
                return self.replayed_outcome(found, &cmd.event_type, &cmd.data).await;
            }
            if let Some(v) = cmd.expected_version
                && v != state.version
            {
                return Err(EngineError::PreconditionFailed { expected: v, current: state.version });
            }
            let step = Step { event_type: &cmd.event_type, data: &cmd.data, actor: &cmd.actor };
            issue::decide(&wf, &state, &step, self.catalog).map_err(EngineError::Refused)?;
            let mut sealed = cmd.data.clone();
            self.seal_personal(&cmd.event_type, event_id, &mut sealed).await?;
            let event = NewEvent::new(cmd.event_type.clone(), &sealed, cmd.actor.clone())
                .with_id(event_id)
                .with_schema_version(self.schema_version(&cmd.event_type))
                .correlated(cmd.correlation_id, cmd.causation_id);
            match self.store.append(&stream, ExpectedVersion::Exact(state.version), vec![event]).await {
                Ok(outcome) => {
                    let recorded = self
                        .store
                        .read_stream(&stream, outcome.first_version, Direction::Forward, 1)
                        .await?
                        .pop()
                        .ok_or_else(|| EngineError::NotFound(format!("event {event_id}")))?;
                    if outcome.already_present {
                        return self.replayed_outcome(recorded, &cmd.event_type, &cmd.data).await;
                    }
                    // The append succeeded at exactly the version decided against, so folding the
                    // recorded event onto that state is the issue as of this step.
                    let mut issue = state;
                    issue::apply(&mut issue, &wf, &recorded.view());
                    return Ok(StepOutcome { event: recorded, issue, replayed: false });
                }
                Err(StoreError::WrongExpectedVersion { actual, .. }) => {
                    if let Some(v) = cmd.expected_version {
                        return Err(EngineError::PreconditionFailed { expected: v, current: actual.unwrap_or(0) });
                    }
                    // Lost a race with another writer: re-read, re-decide.
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(EngineError::TooMuchContention)
    }

    /// The current state of an issue and its pinned workflow, from one catch-up of the index.
    async fn current_with_workflow(&self, issue_id: &str) -> Result<(IssueState, Arc<CompiledWorkflow>), EngineError> {
        self.with_index(|i| i.issue_with_workflow(issue_id).map(|(s, wf)| (s.clone(), wf.clone())))
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("issue {issue_id}")))
    }

    /// The current state of an issue.
    pub async fn current(&self, issue_id: &str) -> Result<IssueState, EngineError> {
        self.with_index(|i| i.issue(issue_id).cloned())
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("issue {issue_id}")))
    }

    /// The state of an issue as it was at a version or a time, replayed from the store.
    pub async fn issue_as_of(&self, issue_id: &str, as_of: AsOf) -> Result<IssueState, EngineError> {
        let stream = issue::stream_of(issue_id);
        let mut events = read_stream_all(self.store.as_ref(), &stream).await?;
        if events.is_empty() {
            return Err(EngineError::NotFound(format!("issue {issue_id}")));
        }
        match as_of {
            AsOf::Version(v) => events.retain(|e| e.version <= v),
            AsOf::Time(t) => events.retain(|e| e.recorded_at <= t),
        }
        if events.is_empty() {
            return Err(EngineError::NotYetRaised(issue_id.to_string()));
        }
        let pin = issue::pinned_workflow(&events[0].view())?;
        let wf = self.workflow(&pin.id, pin.version).await?;
        Ok(issue::replay(&wf, &events)?)
    }

    /// The events of an issue's stream.
    pub async fn issue_events(&self, issue_id: &str) -> Result<Vec<RecordedEvent>, EngineError> {
        let events = read_stream_all(self.store.as_ref(), &issue::stream_of(issue_id)).await?;
        if events.is_empty() {
            return Err(EngineError::NotFound(format!("issue {issue_id}")));
        }
        Ok(events)
    }

    pub async fn list_issues(
        &self,
        filter: &IssueFilter,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<Page<IssueState>, EngineError> {
        self.with_index(|i| i.list(filter, cursor, limit)).await
    }

    /// Dashboard figures of the issues `filter` keeps, as of the index's position (returned
    /// beside them), judging "overdue" at `now`.
    pub async fn issue_stats(
        &self,
        filter: &IssueFilter,
        now: DateTime<Utc>,
    ) -> Result<(crate::projection::Stats, u64), EngineError> {
        self.with_index(|i| (i.stats(filter, now), i.position())).await
    }

    /// Every issue by workflow and state, and how many are overdue at `now`: what `/metrics`
    /// shows.
    pub async fn issue_state_counts(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(Vec<crate::projection::StateCount>, u64), EngineError> {
        self.with_index(|i| i.state_counts(now)).await
    }

    /// Catch-up-then-live subscription to the whole log.
    pub fn subscribe(&self, after: u64) -> Subscription {
        self.store.subscribe(after)
    }
}
