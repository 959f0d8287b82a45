//! Process-wide metrics in the Prometheus text exposition format (version 0.0.4), and the id of
//! the request being served (so calls to other services can carry it).
//!
//! Each metric is a `static` declared here, so any crate can count without plumbing a
//! registry through its types, and [`render`] lists every metric, zero or not. Label values
//! come from small fixed sets (route templates, tool names, status codes), never from user
//! input, so the series stay few.

use std::{fmt::Write, sync::Mutex, time::Duration};

/// Series of one family: label values and state. A handful per family, so a linear scan finds
/// one without allocating; only a series' first use allocates its key.
struct Series<T>(Vec<(Box<[String]>, T)>);

impl<T: Default> Series<T> {
    const fn new() -> Self {
        Self(Vec::new())
    }

    fn get(&mut self, labels: &[&str]) -> &mut T {
        let found = self
            .0
            .iter()
            .position(|(key, _)| key.iter().map(String::as_str).eq(labels.iter().copied()));
        let index = match found {
            Some(i) => i,
            None => {
                self.0
                    .push((labels.iter().map(|s| s.to_string()).collect(), T::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[index].1
    }

    /// In label order, for stable output.
    fn sorted(&self) -> Vec<(&[String], &T)> {
        let mut all: Vec<_> = self.0.iter().map(|(k, v)| (&k[..], v)).collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        all
    }
}

/// A counter (or gauge) per label-value tuple.
pub struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    labels: &'static [&'static str],
    values: Mutex<Series<f64>>,
}

impl Family {
    const fn new(
        name: &'static str,
        help: &'static str,
        kind: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        Self {
            name,
            help,
            kind,
            labels,
            values: Mutex::new(Series::new()),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Series<f64>) -> R) -> R {
        f(&mut self.values.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Adds one to the series `labels` (in the family's label order).
    pub fn inc(&self, labels: &[&str]) {
        self.add(labels, 1.0);
    }

    pub fn add(&self, labels: &[&str], by: f64) {
        debug_assert_eq!(labels.len(), self.labels.len(), "{}", self.name);
        self.with(|v| *v.get(labels) += by);
    }

    /// Sets a gauge.
    pub fn set(&self, labels: &[&str], value: f64) {
        self.with(|v| *v.get(labels) = value);
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        self.with(|values| {
            for (labels, value) in values.sorted() {
                let _ = writeln!(
                    out,
                    "{}{} {value}",
                    self.name,
                    label_text(self.labels, labels, None)
                );
            }
        });
    }
}

/// Latency buckets in seconds: 1 ms to 30 s.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

#[derive(Default, Clone)]
struct Hist {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// A histogram per label-value tuple.
pub struct Histogram {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    values: Mutex<Series<Hist>>,
}

impl Histogram {
    const fn new(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Self {
        Self {
            name,
            help,
            labels,
            values: Mutex::new(Series::new()),
        }
    }

    pub fn observe(&self, labels: &[&str], elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let mut values = self.values.lock().unwrap_or_else(|p| p.into_inner());
        let hist = values.get(labels);
        for (bound, count) in BUCKETS.iter().zip(hist.counts.iter_mut()) {
            if secs <= *bound {
                *count += 1;
            }
        }
        hist.count += 1;
        hist.sum += secs;
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} histogram", self.name);
        let values = self.values.lock().unwrap_or_else(|p| p.into_inner());
        for (labels, hist) in values.sorted() {
            for (bound, count) in BUCKETS.iter().zip(hist.counts) {
                let le = bound.to_string();
                let _ = writeln!(
                    out,
                    "{}_bucket{} {count}",
                    self.name,
                    label_text(self.labels, labels, Some(&le))
                );
            }
            let all = label_text(self.labels, labels, Some("+Inf"));
            let _ = writeln!(out, "{}_bucket{all} {}", self.name, hist.count);
            let plain = label_text(self.labels, labels, None);
            let _ = writeln!(out, "{}_sum{plain} {}", self.name, hist.sum);
            let _ = writeln!(out, "{}_count{plain} {}", self.name, hist.count);
        }
    }
}

fn label_text(names: &[&str], values: &[String], le: Option<&str>) -> String {
    let mut pairs: Vec<String> = names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        pairs.push(format!("le=\"{le}\""));
    }
    if pairs.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", pairs.join(","))
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub static HTTP_REQUESTS: Family = Family::new(
    "portcullis_http_requests_total",
    "HTTP requests by route, method and status.",
    "counter",
    &["route", "method", "status"],
);
pub static HTTP_DURATION: Histogram = Histogram::new(
    "portcullis_http_request_duration_seconds",
    "HTTP request latency by route.",
    &["route"],
);
pub static TOOL_CALLS: Family = Family::new(
    "portcullis_tool_calls_total",
    "MCP tools/call requests by tool and HTTP status.",
    "counter",
    &["tool", "status"],
);
pub static AUTH_DECISIONS: Family = Family::new(
    "portcullis_auth_decisions_total",
    "Authentication and authorization decisions by method and result.",
    "counter",
    &["method", "result"],
);
pub static JWKS_FETCHES: Family = Family::new(
    "portcullis_jwks_fetches_total",
    "Fetches of the issuer's JWKS by result.",
    "counter",
    &["result"],
);
pub static DB_CONNECTIONS: Family = Family::new(
    "portcullis_db_pool_connections",
    "Database pool connections by state.",
    "gauge",
    &["state"],
);
pub static BACKEND_CALLS: Histogram = Histogram::new(
    "portcullis_backend_call_duration_seconds",
    "Calls to the REST backend (microservice mode) by route, method and outcome.",
    &["route", "method", "outcome"],
);

/// Every metric in the text exposition format; `extra` appends families kept elsewhere.
pub fn render(extra: impl FnOnce(&mut String)) -> String {
    let mut out = String::new();
    for family in [
        &HTTP_REQUESTS,
        &TOOL_CALLS,
        &AUTH_DECISIONS,
        &JWKS_FETCHES,
        &DB_CONNECTIONS,
    ] {
        family.render(&mut out);
    }
    for histogram in [&HTTP_DURATION, &BACKEND_CALLS] {
        histogram.render(&mut out);
    }
    extra(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        static C: Family = Family::new("t_total", "T.", "counter", &["a"]);
        static H: Histogram = Histogram::new("t_seconds", "T.", &["a"]);
        C.inc(&["x\"y"]);
        C.add(&["x\"y"], 2.0);
        H.observe(&["z"], Duration::from_millis(3));
        let mut out = String::new();
        C.render(&mut out);
        H.render(&mut out);
        assert!(out.contains("t_total{a=\"x\\\"y\"} 3"), "{out}");
        assert!(
            out.contains("t_seconds_bucket{a=\"z\",le=\"0.0025\"} 0"),
            "{out}"
        );
        assert!(
            out.contains("t_seconds_bucket{a=\"z\",le=\"0.005\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("t_seconds_bucket{a=\"z\",le=\"+Inf\"} 1"),
            "{out}"
        );
        assert!(out.contains("t_seconds_count{a=\"z\"} 1"), "{out}");
    }
}

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `work` with `id` as the current request id (see [`request_id`]).
pub async fn with_request_id<F: std::future::Future>(id: String, work: F) -> F::Output {
    REQUEST_ID.scope(id, work).await
}

/// The id of the HTTP request being served on this task, for passing on to other services.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}
