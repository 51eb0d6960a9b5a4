//! The landing and status page: links to the endpoints, a summary of every probe, then per
//! probe its live charts, state and last run report, then the recent failures. Layout only;
//! every dynamic string is escaped here.
//!
//! The charts are drawn in the browser by `page/chart.js` from `GET /api/v1/history`; the
//! script and `page/style.css` are embedded in the binary (no CDN, no external asset). Every
//! 5 s the script redraws the charts and swaps each `data-live` section for the same
//! section of a freshly rendered page, so this module stays the only place that turns data
//! into markup.

use std::fmt::Write as _;

use crate::guard::GuardState;
use crate::report::RunReport;
use crate::status::{ConfigStatus, FailureRecord, ProbeSnapshot, RunState, snippet};

mod report;

/// The page's style sheet.
const STYLE: &str = include_str!("page/style.css");
/// Draws the charts and refreshes the live sections.
const SCRIPT: &str = include_str!("page/chart.js");

/// The charts of every probe: `data-chart` key, title, subtitle.
const CHARTS: [(&str, &str, &str); 3] = [
    ("rate", "Rate", "iterations per second, planned vs achieved"),
    ("latency", "Latency", "request p50 / p95 / p99, all steps"),
    ("ratios", "Errors and 429s", "share of requests"),
];

/// Renders the page from a snapshot.
pub fn render(
    telemetry_path: &str,
    probes: &[ProbeSnapshot],
    failures: &[FailureRecord],
    config: &ConfigStatus,
) -> String {
    let mut html = String::with_capacity(32 * 1024);
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>loadprobe</title><style>{STYLE}</style></head><body>\
         <header class=\"top\"><h1>loadprobe</h1><span class=\"version\">{}</span><nav>\
         <a href=\"{}\">Metrics</a><a href=\"/api/v1/status\">Status API</a>\
         <a href=\"/api/v1/history\">History API</a><a href=\"/-/healthy\">Health</a>\
         <a href=\"/-/ready\">Readiness</a></nav><span id=\"refreshed\" class=\"refreshed\"></span>\
         </header><main>",
        env!("CARGO_PKG_VERSION"),
        escape(telemetry_path),
    );
    reload_banner(&mut html, config);
    summary(&mut html, probes);
    for (index, probe) in probes.iter().enumerate() {
        probe_section(&mut html, index, probe);
    }
    failure_section(&mut html, failures);
    let _ = writeln!(html, "</main><script>{SCRIPT}</script></body></html>");
    html
}

fn summary(html: &mut String, probes: &[ProbeSnapshot]) {
    html.push_str(
        "<section class=\"card\" id=\"summary\" data-live><h2>Probes</h2><table>\
         <tr><th>probe</th><th>target</th><th>schedule</th><th class=\"num\">rate/s</th>\
         <th>state</th><th class=\"num\">arrivals</th><th class=\"num\">dropped</th>\
         <th class=\"num\">requests</th><th class=\"num\">errors</th><th class=\"num\">throttled</th>\
         <th>last report</th></tr>",
    );
    for p in probes {
        let t = &p.totals;
        let _ = write!(
            html,
            "<tr><td><a href=\"#probe-{name}\">{name}</a></td><td>{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            escape(&p.target),
            escape(&p.schedule),
            p.planned_rate,
            state(p),
            t.arrivals,
            t.dropped,
            t.requests,
            t.errors,
            t.throttled,
            verdict(p.last_report.as_ref(), true),
            name = escape(&p.name),
        );
    }
    html.push_str("</table></section>");
}

/// Says, above everything, that the last reload was rejected and why.
fn reload_banner(html: &mut String, config: &ConfigStatus) {
    if config.last_reload_successful {
        return;
    }
    let _ = write!(
        html,
        "<section class=\"reload-failed\" id=\"reload-failed\"><h2>Configuration reload failed</h2>\
         <p>The running configuration, loaded at {}, is kept.</p><pre>{}</pre></section>",
        jiff::Timestamp::from_second(config.last_success_at as i64)
            .map(|t| t.to_string())
            .unwrap_or_default(),
        escape(config.error.as_deref().unwrap_or_default()),
    );
}

fn probe_section(html: &mut String, index: usize, p: &ProbeSnapshot) {
    let name = escape(&p.name);
    let _ = write!(
        html,
        "<section class=\"card probe\" id=\"probe-{name}\"><div class=\"probe-head\">\
         <h2>{name}</h2><span class=\"meta\">target {} · {} · {} arrivals/s planned</span>\
         <span id=\"state-{index}\" data-live class=\"meta\">{} · {}</span></div>\
         <div class=\"charts\" data-probe=\"{name}\">",
        escape(&p.target),
        escape(&p.schedule),
        p.planned_rate,
        state(p),
        verdict(p.last_report.as_ref(), false),
    );
    for (key, title, subtitle) in CHARTS {
        let _ = write!(
            html,
            "<figure class=\"chart\" data-chart=\"{key}\"><figcaption>{title} <small>{subtitle}</small>\
             </figcaption><svg class=\"plot\" viewBox=\"0 0 440 170\" role=\"img\" \
             aria-label=\"{title} of {name}\"></svg><div class=\"legend\"></div></figure>"
        );
    }
    let _ = write!(
        html,
        "</div><div id=\"report-{index}\" data-live class=\"report\">"
    );
    report::render(html, p.last_report.as_ref());
    html.push_str("</div></section>");
}

fn failure_section(html: &mut String, failures: &[FailureRecord]) {
    html.push_str("<section class=\"card\" id=\"failures\" data-live><h2>Recent failures</h2>");
    if failures.is_empty() {
        html.push_str("<p class=\"muted\">None.</p></section>");
        return;
    }
    html.push_str(
        "<table class=\"failures\"><tr><th>last seen</th><th>probe</th><th>step</th><th>reason</th>\
         <th class=\"num\">status</th><th class=\"num\">count</th><th>detail</th><th>response</th></tr>",
    );
    for (f, count) in group(failures) {
        let status = f.status.map(|s| s.to_string()).unwrap_or_default();
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><span class=\"reason\">{}</span></td>\
             <td class=\"num\">{status}</td><td class=\"num\">{count}</td>\
             <td><code class=\"snippet\">{}</code></td><td><code class=\"snippet\">{}</code></td></tr>",
            timestamp(f.at),
            escape(&f.probe),
            escape(&f.step),
            escape(f.reason),
            escape(&snippet(&f.detail)),
            escape(&f.response.as_deref().map(snippet).unwrap_or_default()),
        );
    }
    html.push_str("</table></section>");
}

/// Runs of consecutive failures alike in all but their time, as (the first, how many): a
/// throttled probe fills the ring with one failure repeated, which reads better as one row.
fn group(failures: &[FailureRecord]) -> Vec<(&FailureRecord, usize)> {
    let mut groups: Vec<(&FailureRecord, usize)> = Vec::new();
    for f in failures {
        match groups.last_mut() {
            Some((first, count))
                if (
                    &first.probe,
                    &first.step,
                    first.reason,
                    first.status,
                    &first.detail,
                ) == (&f.probe, &f.step, f.reason, f.status, &f.detail) =>
            {
                *count += 1;
            }
            _ => groups.push((f, 1)),
        }
    }
    groups
}

/// The run state, and the guard's when it holds the probe back.
fn state(p: &ProbeSnapshot) -> String {
    let run = match &p.state {
        RunState::Running { since } => format!("running since {}", timestamp(*since)),
        RunState::Waiting { next_run: Some(at) } => format!("next run {}", timestamp(*at)),
        RunState::Waiting { next_run: None } => "waiting".to_owned(),
        RunState::Stopped => "stopped".to_owned(),
    };
    match p.guard.filter(|g| *g != GuardState::Running) {
        Some(guard) => format!("{run} · guard: {}", guard.as_str()),
        None => run,
    }
}

/// The last report's verdict as a badge; `detailed` lists the missed SLOs.
fn verdict(report: Option<&RunReport>, detailed: bool) -> String {
    match report {
        None => "<span class=\"badge\">no report yet</span>".to_owned(),
        Some(r) if r.success => "<span class=\"badge ok\">met SLOs</span>".to_owned(),
        Some(r) if detailed => format!(
            "<span class=\"badge bad\">missed</span> {}",
            escape(&r.violations().join("; "))
        ),
        Some(_) => "<span class=\"badge bad\">missed SLOs</span>".to_owned(),
    }
}

/// Unix seconds as an RFC 3339 UTC time.
fn timestamp(unix_seconds: f64) -> String {
    jiff::Timestamp::from_millisecond((unix_seconds * 1000.0) as i64)
        .map(|t| {
            t.round(jiff::Unit::Second)
                .map(|t| t.to_string())
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn failure_details_are_escaped_on_the_page() {
        let failure = FailureRecord {
            at: 0.0,
            probe: "p".into(),
            step: "s".into(),
            reason: "status",
            status: Some(500),
            detail: "<script>".into(),
            response: None,
        };
        let html = render("/metrics", &[], &[failure], &ConfigStatus::default());
        assert!(html.contains("&lt;script&gt;"));
        assert_eq!(html.matches("<script>").count(), 1, "only the chart script");
    }

    #[test]
    fn repeated_failures_are_one_row_with_a_count() {
        let failure = |at: f64, detail: &str| FailureRecord {
            at,
            probe: "pool".into(),
            step: "request".into(),
            reason: "throttled",
            status: Some(429),
            detail: detail.into(),
            response: None,
        };
        let failures = [
            failure(3.0, "unexpected status 429"),
            failure(2.0, "unexpected status 429"),
            failure(1.0, "other"),
            failure(0.0, "unexpected status 429"),
        ];
        let groups: Vec<(f64, usize)> = group(&failures).iter().map(|(f, n)| (f.at, *n)).collect();
        assert_eq!(groups, [(3.0, 2), (1.0, 1), (0.0, 1)]);
    }

    #[test]
    fn snippet_masks_credentials() {
        let masked = snippet(
            r#"body {"token": "abc123", "user": "ann"} Authorization: Bearer xyz.1 api_key=k9&x=1"#,
        );
        assert!(!masked.contains("abc123"), "{masked}");
        assert!(!masked.contains("xyz.1"), "{masked}");
        assert!(!masked.contains("k9"), "{masked}");
        assert!(masked.contains("\"user\": \"ann\""), "{masked}");
        assert!(masked.contains("[redacted]"), "{masked}");
    }

    #[test]
    fn snippet_is_capped_on_a_character_boundary() {
        let long = "é".repeat(300);
        let cut = snippet(&long);
        assert!(cut.len() <= crate::status::SNIPPET_BYTES + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(snippet("unexpected status 500"), "unexpected status 500");
    }
}
