//! The `process_*` metrics every Prometheus client library exports (CPU, memory, open files,
//! start time), read from `/proc/self` at scrape time. On a system without `/proc` they are
//! simply absent: nothing else depends on them.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::{AtomicU64, Ordering};

/// Clock ticks per second of `/proc/<pid>/stat` times: the kernel reports them in USER_HZ,
/// which is 100 on every Linux architecture (CONFIG_HZ may differ; USER_HZ does not).
const USER_HZ: f64 = 100.0;

pub struct ProcessMetrics {
    cpu: Counter<f64, AtomicU64>,
    resident: Gauge,
    virtual_memory: Gauge,
    open_fds: Gauge,
    max_fds: Gauge,
    threads: Gauge,
}

impl ProcessMetrics {
    /// Registers the family under the bare `process_` prefix Prometheus dashboards expect, and
    /// the start time, which never changes.
    pub fn register(registry: &mut Registry) -> Self {
        let p = registry.sub_registry_with_prefix("process");
        let cpu = Counter::<f64, AtomicU64>::default();
        p.register_with_unit("cpu", "用户态与内核态 CPU 时间 / user and system CPU time", Unit::Seconds, cpu.clone());
        let start = Gauge::<f64, AtomicU64>::default();
        start.set(chrono::Utc::now().timestamp_micros() as f64 / 1e6);
        p.register_with_unit(
            "start_time",
            "进程启动时刻（Unix 时间）/ start time since the Unix epoch",
            Unit::Seconds,
            start,
        );
        let gauge = |p: &mut Registry, name: &str, help: &str, unit: Option<Unit>| {
            let g = Gauge::default();
            match unit {
                Some(u) => p.register_with_unit(name, help, u, g.clone()),
                None => p.register(name, help, g.clone()),
            }
            g
        };
        let resident = gauge(p, "resident_memory", "常驻内存 / resident memory size", Some(Unit::Bytes));
        let virtual_memory = gauge(p, "virtual_memory", "虚拟内存 / virtual memory size", Some(Unit::Bytes));
        let open_fds = gauge(p, "open_fds", "打开的文件描述符 / open file descriptors", None);
        let max_fds = gauge(p, "max_fds", "文件描述符上限 / the soft limit of open file descriptors", None);
        let threads = gauge(p, "threads", "线程数 / OS threads", None);
        ProcessMetrics { cpu, resident, virtual_memory, open_fds, max_fds, threads }
    }

    /// Reads `/proc/self`; a file that cannot be read leaves its figures as they were.
    pub fn refresh(&self) {
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
            && let Some(s) = Stat::parse(&stat)
        {
            self.cpu.inner().store(((s.utime + s.stime) as f64 / USER_HZ).to_bits(), Ordering::Relaxed);
            self.threads.set(s.threads);
            self.virtual_memory.set(s.vsize);
        }
        if let Ok(status) = std::fs::read_to_string("/proc/self/status")
            && let Some(kib) = kib_field(&status, "VmRSS:")
        {
            self.resident.set(kib * 1024);
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds.set(dir.count() as i64);
        }
        if let Ok(limits) = std::fs::read_to_string("/proc/self/limits")
            && let Some(n) = soft_limit(&limits, "Max open files")
        {
            self.max_fds.set(n);
        }
    }
}

/// The fields of `/proc/self/stat` used here.
#[derive(Debug, PartialEq)]
struct Stat {
    utime: u64,
    stime: u64,
    threads: i64,
    vsize: i64,
}

impl Stat {
    fn parse(text: &str) -> Option<Stat> {
        // The command name (field 2) is in parentheses and may hold spaces or ')': the fields
        // that follow are counted from the last ')'. After it, field 3 (state) is index 0.
        let rest = &text[text.rfind(')')? + 1..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| f.get(n - 3);
        Some(Stat {
            utime: field(14)?.parse().ok()?,
            stime: field(15)?.parse().ok()?,
            threads: field(20)?.parse().ok()?,
            vsize: field(23)?.parse().ok()?,
        })
    }
}

/// `Name:   123 kB` in `/proc/self/status`.
fn kib_field(status: &str, name: &str) -> Option<i64> {
    status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The soft limit of a `/proc/self/limits` row (`unlimited` reads as absent).
fn soft_limit(limits: &str, name: &str) -> Option<i64> {
    limits.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name_even_with_spaces_and_parentheses_in_it() {
        let line = "4242 (convene (x) y) S 1 4242 4242 0 -1 4194560 3000 0 0 0 1234 567 0 0 20 0 17 0 99 123456789 2048 18446744073709551615";
        assert_eq!(Stat::parse(line), Some(Stat { utime: 1234, stime: 567, threads: 17, vsize: 123456789 }));
        assert_eq!(Stat::parse("garbage"), None);
    }

    #[test]
    fn status_and_limits_rows_are_read_by_name() {
        assert_eq!(kib_field("Name:\tconvene\nVmRSS:\t   51200 kB\n", "VmRSS:"), Some(51200));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n\
                      Max locked memory         unlimited            unlimited            bytes\n";
        assert_eq!(soft_limit(limits, "Max open files"), Some(1024));
        assert_eq!(soft_limit(limits, "Max locked memory"), None);
    }

    #[test]
    fn this_process_reads_as_alive() {
        let mut registry = Registry::default();
        let p = ProcessMetrics::register(&mut registry);
        p.refresh();
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(p.resident.get() > 0 && p.open_fds.get() > 0 && p.threads.get() >= 1);
        }
    }
}
