//! `GET /metrics`: what an operator's Prometheus scrapes from each instance (OpenMetrics text).
//!
//! Two kinds of figures. Requests are counted as they happen, by the [`observe`] middleware,
//! labelled by the route's *pattern* (`/v1/issues/{id}`, never an issue id) so a city's worth
//! of issues does not become a city's worth of time series. Everything else is read when the
//! scrape comes: the store's head and group-commit counters, the leader lease, the background
//! auditor, live SSE clients, how many issues stand in each state of each workflow, meetings
//! by kind and status with overdue action items, and the
//! usual `process_*` figures (`metrics_process.rs`).
//!
//! Like `/readyz` it needs no token (scrapers run inside the deployment's network): it holds
//! counts only, never a community, a person or an issue.

use super::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The OpenMetrics text format, which Prometheus asks for and understands.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Route label of a request no route matched (404s of arbitrary paths share one series).
pub const UNMATCHED: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    workflow: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MeetingLabels {
    kind: String,
    status: &'static str,
}

type Durations = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 0.5 ms to ~8 s: a cached read is well under a millisecond, a durable append a few, an
    // export of a large log seconds.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

/// The metrics of one server process.
pub struct Metrics {
    registry: Registry,
    process: super::metrics_process::ProcessMetrics,
    requests: Family<RequestLabels, Counter>,
    durations: Durations,
    head: Gauge,
    /// Absent for a store that does not group-commit (KurrentDB): a 0 there would read as idle.
    commits: Option<(Counter, Counter)>,
    /// Free and total bytes of the disk holding the embedded log (absent for a database
    /// server's log: its disk is watched where it runs).
    disk: Option<(Gauge, Gauge)>,
    /// A store out of reach: tries made again on a new connection, operations given up (503).
    outages: (Counter, Counter),
    leader: Gauge,
    leader_terms: Counter,
    audited: Gauge,
    broken_chains: Gauge,
    live_clients: Gauge,
    live_events: Counter,
    issues: Family<StateLabels, Gauge>,
    overdue: Gauge,
    meetings: Family<MeetingLabels, Gauge>,
    action_items_overdue: Gauge,
    process_manager_problems: Gauge,
    /// One scrape refreshes the read-at-scrape figures at a time (the issue gauges are
    /// cleared and refilled, and two interleaved refills could drop a state).
    refresh: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Metrics of a process serving `store`.
    pub fn new(store: &dyn convene_engine::EventStore) -> Self {
        let backend = store.backend();
        let mut root = Registry::default();
        let process = super::metrics_process::ProcessMetrics::register(&mut root);
        let registry = root.sub_registry_with_prefix("convene");
        registry.register(
            "build",
            "版本与存储后端 / version and event-store backend",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION").to_string()), ("backend", backend.to_string())]),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP 请求数 / HTTP requests by route pattern and status", requests.clone());
        let durations = Durations::new_with_constructor(duration_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "http_request_duration",
            "HTTP 请求耗时 / time to the response head, by route pattern",
            Unit::Seconds,
            durations.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let head = gauge(
            registry,
            "store_head_position",
            "本实例所见日志末位 / last global position this instance has seen committed",
        );
        let commits = store.commit_counts().map(|_| {
            let commits = counter(
                registry,
                "store_commits",
                "本进程的持久事务数（组提交）/ durable transactions this process committed (group commit)",
            );
            let appends =
                counter(registry, "store_appends", "这些事务承载的追加数 / appends those transactions carried");
            (commits, appends)
        });
        let disk = store.local_file().map(|_| {
            let gauge_bytes = |registry: &mut Registry, name: &str, help: &str| {
                let g = Gauge::default();
                registry.register_with_unit(name, help, Unit::Bytes, g.clone());
                g
            };
            let available = gauge_bytes(
                registry,
                "store_disk_available",
                "事件日志所在磁盘的可用空间 / space left for the log on the disk holding it (what an unprivileged \
                 process may use)",
            );
            let size =
                gauge_bytes(registry, "store_disk_size", "事件日志所在磁盘的容量 / size of the disk holding the log");
            (available, size)
        });
        let outages = (
            counter(
                registry,
                "store_connection_retries",
                "与数据库的连接中断后重试的次数 / reads, connections and group commits tried again on a new \
                 connection after the database connection was lost (PostgreSQL)",
            ),
            counter(
                registry,
                "store_unavailable",
                "存储无法访问而放弃的操作（答复 503）/ operations given up because the store stayed out of reach \
                 (PostgreSQL past --db-outage-wait, the embedded log locked by another process): answered 503",
            ),
        );
        let leader = gauge(
            registry,
            "leader",
            "本实例是否持有领导租约（1 是）/ 1 while this instance holds the leader lease and runs background work",
        );
        let leader_terms =
            counter(registry, "leader_terms", "本实例成为领导的次数 / times this instance became the leader");
        let audited = gauge(
            registry,
            "audit_position",
            "后台审计已核验到的位置 / position the background chain auditor has verified up to",
        );
        let broken_chains = gauge(
            registry,
            "audit_broken_chains",
            "审计发现的断链或篡改 / broken links or altered events the auditor found",
        );
        let live_clients = gauge(registry, "live_clients", "实时事件流连接数 / clients connected to /v1/events/live");
        let live_events = counter(registry, "live_events_sent", "实时流已发送事件 / events sent on live streams");
        let issues = Family::<StateLabels, Gauge>::default();
        registry.register("issues", "各工作流各状态的议题数 / issues in each state of each workflow", issues.clone());
        let overdue = gauge(
            registry,
            "issues_overdue",
            "超过当前状态期限且未结束的议题 / open issues past their current state's deadline",
        );
        let meetings = Family::<MeetingLabels, Gauge>::default();
        registry.register("meetings", "各类会议按状态计数 / meetings by kind and status", meetings.clone());
        let action_items_overdue = gauge(
            registry,
            "action_items_overdue",
            "逾期未完成的会议待办 / meeting action items past their due day and not done",
        );
        let process_manager_problems = gauge(
            registry,
            "process_manager_problems",
            "会议结果未能送达议题的次数 / meeting outcomes the process manager could not carry to their issues",
        );
        Metrics {
            registry: root,
            process,
            requests,
            durations,
            head,
            commits,
            outages,
            disk,
            leader,
            leader_terms,
            audited,
            broken_chains,
            live_clients,
            live_events,
            issues,
            overdue,
            meetings,
            action_items_overdue,
            process_manager_problems,
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// Counts one answered request.
    pub fn observe_request(&self, method: &'static str, route: String, status: u16, took: Duration) {
        self.durations.get_or_create(&RouteLabels { method, route: route.clone() }).observe(took.as_secs_f64());
        self.requests.get_or_create(&RequestLabels { method, route, status }).inc();
    }

    /// A live SSE client, counted while the value lives (it travels inside the response body).
    pub fn live_client(self: &Arc<Self>) -> LiveClient {
        self.live_clients.inc();
        LiveClient(self.clone())
    }

    /// Reads the figures that are looked up rather than counted, then encodes everything.
    pub async fn render(&self, state: &AppState) -> String {
        let _one_at_a_time = self.refresh.lock().await;
        self.process.refresh();
        let store = state.engine.store();
        self.head.set(*store.head().borrow() as i64);
        if let (Some((c, a)), Some((commits, appends))) = (&self.commits, store.commit_counts()) {
            c.inner().store(commits, Ordering::Relaxed);
            a.inner().store(appends, Ordering::Relaxed);
        }
        let outages = convene_engine::store::outage_counts();
        self.outages.0.inner().store(outages.retried, Ordering::Relaxed);
        self.outages.1.inner().store(outages.gave_up, Ordering::Relaxed);
        if let (Some((available, size)), Some(file)) = (&self.disk, store.local_file()) {
            match disk_space(file) {
                Ok((free, total)) => {
                    available.set(free);
                    size.set(total);
                }
                Err(e) => {
                    tracing::warn!(error = %e, file = %file.display(), "metrics: cannot read the disk's free space")
                }
            }
        }
        self.leader.set(i64::from(*state.leader.borrow()));
        let bg = &state.background;
        self.leader_terms.inner().store(bg.terms.load(Ordering::Relaxed), Ordering::Relaxed);
        self.audited.set(bg.audited_position.load(Ordering::Relaxed) as i64);
        self.broken_chains.set(bg.broken_chains.load(Ordering::Relaxed) as i64);
        let now = chrono::Utc::now();
        // Over every issue and meeting: the issues counted by state only (`/v1/stats` adds much
        // more per issue), the meetings with the figures `/v1/stats` gives.
        match state.engine.issue_state_counts(now).await {
            Ok((by_state, overdue)) => {
                let by_state = by_state
                    .into_iter()
                    .map(|c| (StateLabels { workflow: c.workflow, state: c.state }, c.count as i64));
                refill(&self.issues, by_state.collect());
                self.overdue.set(overdue as i64);
            }
            // The last counts stay; the store's trouble shows on /readyz and in the log.
            Err(e) => tracing::warn!(error = %e, "metrics: cannot count issues by state"),
        }
        match state.engine.meeting_stats(&Default::default(), now).await {
            Ok(stats) => {
                let mut by_status = HashMap::<MeetingLabels, i64>::new();
                for k in &stats.by_kind {
                    // Only the statuses some meeting is in: no series of zeros.
                    for (status, n) in k.by_status().into_iter().filter(|(_, n)| *n > 0) {
                        by_status.insert(MeetingLabels { kind: k.kind.clone(), status: status.as_str() }, n as i64);
                    }
                }
                refill(&self.meetings, by_status);
                self.action_items_overdue.set(stats.action_items.overdue as i64);
            }
            Err(e) => tracing::warn!(error = %e, "metrics: cannot count meetings"),
        }
        self.process_manager_problems.set(state.engine.process_manager_problems().len() as i64);
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// (available, total) bytes of the file system holding `file`, as `df` shows them: the blocks
/// an unprivileged process may still use (ext4 keeps ~5 % for root), and the size.
fn disk_space(file: &std::path::Path) -> std::io::Result<(i64, i64)> {
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let st = rustix::fs::statvfs(dir)?;
    let bytes = |blocks: u64| i64::try_from(blocks.saturating_mul(st.f_frsize)).unwrap_or(i64::MAX);
    Ok((bytes(st.f_bavail), bytes(st.f_blocks)))
}

/// Replaces a gauge family's series with `counts`. Cleared first, so a label set nothing has
/// any more (a state no issue is in) drops out of the scrape instead of staying at its last count.
fn refill<L>(family: &Family<L, Gauge>, counts: HashMap<L, i64>)
where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
{
    family.clear();
    for (labels, n) in counts {
        family.get_or_create(&labels).set(n);
    }
}

/// Keeps `convene_live_clients` up by one until dropped.
pub struct LiveClient(Arc<Metrics>);

impl LiveClient {
    /// Counts one event sent on the stream.
    pub fn sent(&self) {
        self.0.live_events.inc();
    }
}

impl Drop for LiveClient {
    fn drop(&mut self) {
        self.0.live_clients.dec();
    }
}

/// The method as a label: the ones HTTP defines, anything else as `other`.
fn method_label(m: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method as M;
    match *m {
        M::GET => "GET",
        M::HEAD => "HEAD",
        M::POST => "POST",
        M::PUT => "PUT",
        M::PATCH => "PATCH",
        M::DELETE => "DELETE",
        M::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware: counts each request by method, route pattern and status, and times it. The
/// body comes back boxed, so the app's service type stays the plain `ServiceResponse`.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse, actix_web::Error> {
    let metrics = req.app_data::<web::Data<AppState>>().map(|s| s.metrics.clone());
    let route = req.match_pattern().unwrap_or_else(|| UNMATCHED.to_string());
    let method = method_label(req.method());
    let start = Instant::now();
    let res = next.call(req).await;
    if let Some(metrics) = metrics {
        let status = match &res {
            Ok(r) => r.status().as_u16(),
            Err(e) => e.as_response_error().status_code().as_u16(),
        };
        metrics.observe_request(method, route, status, start.elapsed());
    }
    res.map(ServiceResponse::map_into_boxed_body)
}

/// Prometheus metrics of this instance.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let text = state.metrics.render(&state).await;
    HttpResponse::Ok().content_type(CONTENT_TYPE).body(text)
}
