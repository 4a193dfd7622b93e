//! Counters and latency histograms in memory, rendered in the Prometheus text format at
//! `GET /metrics`. Queue depths and ledger totals are read from the store at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
pub const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default, Clone)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.buckets[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (i, le) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {}", self.buckets[i]);
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Default)]
struct Inner {
    /// (endpoint, status) → count
    requests: BTreeMap<(&'static str, u16), u64>,
    request_latency: BTreeMap<&'static str, Histogram>,
    /// (upstream, call, outcome) → count
    upstream: BTreeMap<(&'static str, &'static str, &'static str), u64>,
    upstream_latency: BTreeMap<(&'static str, &'static str), Histogram>,
}

/// The server's in-memory metrics.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// Values read from the store when scraped.
#[derive(Debug, Default, Clone)]
pub struct Gauges {
    pub due_jobs: i64,
    pub submitting_jobs: i64,
    pub unknown_orders: i64,
    pub purchases_needing_attention: i64,
    /// (ledger kind, sum of amounts, rows)
    pub ledger: Vec<(String, i64, i64)>,
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn request(&self, endpoint: &'static str, status: u16, took: Duration) {
        self.with(|m| {
            *m.requests.entry((endpoint, status)).or_default() += 1;
            m.request_latency.entry(endpoint).or_default().observe(took);
        });
    }

    /// An upstream call: `upstream` (`smm`, `kcp`), `call` (`add`, `status`, `approve`, …),
    /// `outcome` (`ok`, `rejected`, `not_sent`, `throttled`, `refused`, `unknown`, `error`).
    pub fn upstream(
        &self,
        upstream: &'static str,
        call: &'static str,
        outcome: &'static str,
        took: Duration,
    ) {
        self.with(|m| {
            *m.upstream.entry((upstream, call, outcome)).or_default() += 1;
            m.upstream_latency.entry((upstream, call)).or_default().observe(took);
        });
    }

    /// The exposition text.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        self.with(|m| {
            out.push_str("# HELP snspmt_requests_total HTTP requests by endpoint and status.\n");
            out.push_str("# TYPE snspmt_requests_total counter\n");
            for ((endpoint, status), n) in &m.requests {
                let _ = writeln!(out, "snspmt_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {n}");
            }
            out.push_str("# HELP snspmt_request_duration_seconds HTTP request latency by endpoint.\n");
            out.push_str("# TYPE snspmt_request_duration_seconds histogram\n");
            for (endpoint, h) in &m.request_latency {
                h.render(&mut out, "snspmt_request_duration_seconds", &format!("endpoint=\"{endpoint}\""));
            }
            out.push_str("# HELP snspmt_upstream_calls_total Upstream calls by service, call and outcome.\n");
            out.push_str("# TYPE snspmt_upstream_calls_total counter\n");
            for ((upstream, call, outcome), n) in &m.upstream {
                let _ = writeln!(
                    out,
                    "snspmt_upstream_calls_total{{upstream=\"{upstream}\",call=\"{call}\",outcome=\"{outcome}\"}} {n}"
                );
            }
            out.push_str("# HELP snspmt_upstream_duration_seconds Upstream call latency.\n");
            out.push_str("# TYPE snspmt_upstream_duration_seconds histogram\n");
            for ((upstream, call), h) in &m.upstream_latency {
                h.render(
                    &mut out,
                    "snspmt_upstream_duration_seconds",
                    &format!("upstream=\"{upstream}\",call=\"{call}\""),
                );
            }
        });
        let gauge = |out: &mut String, name: &str, help: &str, v: i64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge(&mut out, "snspmt_due_jobs", "Submission jobs waiting to be sent.", gauges.due_jobs);
        gauge(
            &mut out,
            "snspmt_submitting_jobs",
            "Submission jobs claimed, not yet settled.",
            gauges.submitting_jobs,
        );
        gauge(
            &mut out,
            "snspmt_unknown_orders",
            "Orders whose submission outcome is unknown.",
            gauges.unknown_orders,
        );
        gauge(
            &mut out,
            "snspmt_purchases_needing_attention",
            "Purchases approving too long, with an amount mismatch or an unknown approval.",
            gauges.purchases_needing_attention,
        );
        out.push_str("# HELP snspmt_ledger_amount_total Sum of ledger amounts by kind (points).\n");
        out.push_str("# TYPE snspmt_ledger_amount_total gauge\n");
        for (kind, sum, _) in &gauges.ledger {
            let _ = writeln!(out, "snspmt_ledger_amount_total{{kind=\"{kind}\"}} {sum}");
        }
        out.push_str("# HELP snspmt_ledger_rows_total Ledger rows by kind.\n");
        out.push_str("# TYPE snspmt_ledger_rows_total gauge\n");
        for (kind, _, rows) in &gauges.ledger {
            let _ = writeln!(out, "snspmt_ledger_rows_total{{kind=\"{kind}\"}} {rows}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.request("points", 200, Duration::from_micros(700));
        m.request("points", 200, Duration::from_millis(30));
        m.upstream("smm", "add", "ok", Duration::from_millis(3));
        let text =
            m.render(&Gauges { due_jobs: 4, ledger: vec![("deduct".into(), -10, 2)], ..Default::default() });
        assert!(text.contains("snspmt_requests_total{endpoint=\"points\",status=\"200\"} 2\n"));
        assert!(text.contains("snspmt_request_duration_seconds_bucket{endpoint=\"points\",le=\"0.001\"} 1\n"));
        assert!(text.contains("snspmt_request_duration_seconds_bucket{endpoint=\"points\",le=\"+Inf\"} 2\n"));
        assert!(
            text.contains("snspmt_upstream_calls_total{upstream=\"smm\",call=\"add\",outcome=\"ok\"} 1\n")
        );
        assert!(text.contains("snspmt_due_jobs 4\n"));
        assert!(text.contains("snspmt_ledger_amount_total{kind=\"deduct\"} -10\n"));
    }
}
