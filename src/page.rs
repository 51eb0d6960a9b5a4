//! The landing and status page: links to the endpoints, each probe's live state, and the
//! recent failures with their reason. Layout only; every dynamic string is escaped.

use std::fmt::Write as _;

use crate::status::{FailureRecord, ProbeSnapshot, RunState};

/// Renders the page from a snapshot.
pub fn render(
    telemetry_path: &str,
    probes: &[ProbeSnapshot],
    failures: &[FailureRecord],
) -> String {
    let mut html = String::with_capacity(8 * 1024);
    html.push_str(HEAD);
    let path = escape(telemetry_path);
    let _ = write!(
        html,
        "<p><a href=\"{path}\">Metrics</a> · <a href=\"/api/v1/status\">Status API</a> · \
         <a href=\"/-/healthy\">Health</a> · <a href=\"/-/ready\">Readiness</a></p>"
    );
    html.push_str("<h2>Probes</h2><table><tr><th>probe</th><th>target</th><th>schedule</th><th>rate/s</th>\
        <th>state</th><th>arrivals</th><th>dropped</th><th>requests</th><th>errors</th><th>throttled</th>\
        <th>last run</th></tr>");
    for probe in probes {
        probe_row(&mut html, probe);
    }
    html.push_str("</table><h2>Recent failures</h2>");
    if failures.is_empty() {
        html.push_str("<p>None.</p>");
    } else {
        html.push_str("<table><tr><th>time</th><th>probe</th><th>step</th><th>reason</th><th>status</th><th>detail</th></tr>");
        for f in failures {
            let status = f.status.map(|s| s.to_string()).unwrap_or_default();
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                timestamp(f.at),
                escape(&f.probe),
                escape(&f.step),
                f.reason,
                status,
                escape(&f.detail)
            );
        }
        html.push_str("</table>");
    }
    html.push_str("</body></html>\n");
    html
}

const HEAD: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>loadprobe</title>\
<meta http-equiv=\"refresh\" content=\"5\"><style>body{font-family:sans-serif;margin:1.5em}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
.ok{color:#080}.bad{color:#b00}</style></head><body><h1>loadprobe</h1>\
<p>Prometheus-native continuous synthetic load exporter.</p>";

fn probe_row(html: &mut String, p: &ProbeSnapshot) {
    let state = match &p.state {
        RunState::Running { since } => format!("running since {}", timestamp(*since)),
        RunState::Waiting { next_run: Some(at) } => format!("next run {}", timestamp(*at)),
        RunState::Waiting { next_run: None } => "waiting".to_owned(),
        RunState::Stopped => "stopped".to_owned(),
    };
    let last = match &p.last_report {
        None => "–".to_owned(),
        Some(r) if r.success => "<span class=\"ok\">met SLOs</span>".to_owned(),
        Some(r) => format!(
            "<span class=\"bad\">failed: {}</span>",
            escape(&r.violations().join("; "))
        ),
    };
    let t = &p.totals;
    let _ = write!(
        html,
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{state}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td>{}</td><td>{}</td><td>{last}</td></tr>",
        escape(&p.name),
        escape(&p.target),
        escape(&p.schedule),
        p.planned_rate,
        t.arrivals,
        t.dropped,
        t.requests,
        t.errors,
        t.throttled
    );
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
        };
        let html = render("/metrics", &[], &[failure]);
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>"));
    }
}
