//! A probe's last run report on the status page: the window, each SLO's verdict, the
//! percentiles of each step, responses by code and failures by reason.

use std::fmt::Write as _;

use super::{escape, timestamp};
use crate::report::{Objective, RunReport, SloVerdict};

/// Renders `report` (or why there is none yet) into `html`.
pub(super) fn render(html: &mut String, report: Option<&RunReport>) {
    let Some(r) = report else {
        html.push_str(
            "<p class=\"muted\">No report yet: a continuous probe reports every \
             <code>report_interval</code>, a scheduled one at the end of each run.</p>",
        );
        return;
    };
    let c = &r.counts;
    let _ = write!(
        html,
        "<h3>Last report <small>from {} for {:.0} s · planned {}/s, achieved {}/s · {} requests, \
         {} dropped arrivals</small></h3><div class=\"blocks\">",
        timestamp(r.started),
        r.duration_seconds,
        number(r.planned_rate),
        number(r.achieved_rate),
        c.requests,
        c.dropped,
    );
    verdicts(html, &r.slos);
    steps(html, r);
    counts(
        html,
        "Responses by code",
        "code",
        c.responses_by_code.iter().map(|(k, v)| (k.to_string(), *v)),
    );
    counts(
        html,
        "Failures by reason",
        "reason",
        c.failures_by_reason
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v)),
    );
    html.push_str("</div>");
}

fn verdicts(html: &mut String, slos: &[SloVerdict]) {
    html.push_str(
        "<table><caption>SLOs</caption><tr><th>SLO</th><th>step</th>\
         <th class=\"num\">objective</th><th class=\"num\">measured</th><th>verdict</th></tr>",
    );
    for v in slos {
        let verdict = if v.met {
            "<span class=\"ok\">✓ met</span>"
        } else {
            "<span class=\"bad\">✗ missed</span>"
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{verdict}</td></tr>",
            escape(v.slo.as_str()),
            escape(v.step.as_deref().unwrap_or("")),
            slo_value(v.slo, v.objective),
            slo_value(v.slo, v.measured),
        );
    }
    html.push_str("</table>");
}

fn steps(html: &mut String, r: &RunReport) {
    html.push_str(
        "<table><caption>Latency by step</caption><tr><th>step</th><th class=\"num\">count</th>\
         <th class=\"num\">p50</th><th class=\"num\">p90</th><th class=\"num\">p95</th>\
         <th class=\"num\">p99</th><th class=\"num\">p99.9</th><th class=\"num\">max</th></tr>",
    );
    for s in &r.steps {
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>",
            escape(&s.step),
            s.count,
            seconds(s.p50),
            seconds(s.p90),
            seconds(s.p95),
            seconds(s.p99),
            seconds(s.p999),
            seconds(s.max),
        );
    }
    html.push_str("</table>");
}

fn counts(
    html: &mut String,
    caption: &str,
    key: &str,
    rows: impl ExactSizeIterator<Item = (String, u64)>,
) {
    let _ = write!(
        html,
        "<table><caption>{caption}</caption><tr><th>{key}</th><th class=\"num\">count</th></tr>"
    );
    if rows.len() == 0 {
        html.push_str("<tr><td colspan=\"2\" class=\"muted\">none</td></tr>");
    }
    for (label, count) in rows {
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"num\">{count}</td></tr>",
            escape(&label)
        );
    }
    html.push_str("</table>");
}

/// An SLO's objective or measurement in its unit.
fn slo_value(slo: Objective, value: f64) -> String {
    match slo {
        Objective::P95 | Objective::P99 | Objective::Recovery => seconds(value),
        Objective::ErrorRatio | Objective::ThrottledRatio => {
            format!("{} %", number(value * 100.0))
        }
        Objective::MinRate => format!("{}/s", number(value)),
    }
}

/// A duration in seconds, in ms below one second.
fn seconds(value: f64) -> String {
    if value < 1.0 {
        format!("{} ms", number(value * 1000.0))
    } else {
        format!("{} s", number(value))
    }
}

/// Three significant digits at most, without trailing zeros.
fn number(value: f64) -> String {
    let decimals = match value.abs() {
        v if v >= 100.0 || v == 0.0 => 0,
        v if v >= 10.0 => 1,
        v if v >= 1.0 => 2,
        _ => 3,
    };
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_shown_in_their_unit() {
        assert_eq!(slo_value(Objective::P95, 0.025), "25 ms");
        assert_eq!(slo_value(Objective::P99, 1.5), "1.5 s");
        assert_eq!(slo_value(Objective::ErrorRatio, 0.0123), "1.23 %");
        assert_eq!(slo_value(Objective::MinRate, 19.0), "19/s");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(0.00042), "0");
        assert_eq!(number(123.456), "123");
    }
}
