//! Encoding the registry for a scrape: OpenMetrics text when the scraper asks for it,
//! Prometheus text (0.0.4) otherwise.
//!
//! prometheus-client writes only OpenMetrics. The Prometheus format differs in the family
//! names of counters (`x_total`) and info metrics (`x_info`, typed gauge), and has no
//! `# UNIT` or `# EOF` lines, and no exemplars; samples are otherwise written the same way.
//! Rewriting those metadata lines and cutting exemplars off is all the conversion needs, and
//! keeps one encoder as the source of truth.

use prometheus_client::encoding::text;
use prometheus_client::registry::Registry;

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
    /// `text/plain; version=0.0.4`.
    Prometheus,
}

impl Format {
    /// The format a scraper asks for in its `Accept` header.
    pub fn from_accept(accept: Option<&str>) -> Self {
        let wants_openmetrics = accept.is_some_and(|accept| {
            accept.split(',').any(|part| {
                let mut params = part.split(';').map(str::trim);
                let media = params.next().unwrap_or_default();
                let refused = params.any(|p| p.replace(' ', "") == "q=0");
                media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
            })
        });
        if wants_openmetrics {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// Encodes `registry` in `format`.
pub fn encode(registry: &Registry, format: Format) -> String {
    let mut openmetrics = String::with_capacity(16 * 1024);
    text::encode(&mut openmetrics, registry).expect("writing to a String cannot fail");
    match format {
        Format::OpenMetrics => openmetrics,
        Format::Prometheus => to_prometheus_text(&openmetrics),
    }
}

/// Rewrites OpenMetrics metadata into Prometheus text format; samples pass through.
fn to_prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // HELP precedes TYPE, but its name depends on the type: hold it until TYPE arrives.
    let mut pending_help: Option<&str> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            pending_help = Some(rest);
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (family, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (name, kind) = match kind {
                "counter" => (format!("{family}_total"), "counter"),
                "info" => (format!("{family}_info"), "gauge"),
                "unknown" => (family.to_owned(), "untyped"),
                other => (family.to_owned(), other),
            };
            if let Some(help) = pending_help.take() {
                let text = help
                    .split_once(' ')
                    .map(|(_, text)| text)
                    .unwrap_or_default();
                out.push_str(&format!("# HELP {name} {text}\n"));
            }
            out.push_str(&format!("# TYPE {name} {kind}\n"));
        } else if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        } else {
            // ` # {` starts an exemplar: label values (config names, enums) never hold it.
            let sample = line.split_once(" # {").map_or(line, |(sample, _)| sample);
            out.push_str(sample);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_like_prometheus() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::from_accept(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::from_accept(Some("*/*")), Format::Prometheus);
        assert_eq!(Format::from_accept(None), Format::Prometheus);
        assert_eq!(
            Format::from_accept(Some("application/openmetrics-text; q=0")),
            Format::Prometheus
        );
    }

    #[test]
    fn rewrites_counter_info_and_unit_metadata() {
        let om = "# HELP a_requests Requests.\n# TYPE a_requests counter\na_requests_total{p=\"x\"} 3\n\
                  # HELP a_build Build.\n# TYPE a_build info\na_build_info{version=\"1\"} 1\n\
                  # HELP a_lag_seconds Lag.\n# TYPE a_lag_seconds histogram\n# UNIT a_lag_seconds seconds\n\
                  a_lag_seconds_bucket{le=\"0.1\"} 1 # {trace_id=\"4bf9\"} 0.05 1700000000.5\n\
                  a_lag_seconds_sum 0.5\n# EOF\n";
        let expected = "# HELP a_requests_total Requests.\n# TYPE a_requests_total counter\na_requests_total{p=\"x\"} 3\n\
                        # HELP a_build_info Build.\n# TYPE a_build_info gauge\na_build_info{version=\"1\"} 1\n\
                        # HELP a_lag_seconds Lag.\n# TYPE a_lag_seconds histogram\n\
                        a_lag_seconds_bucket{le=\"0.1\"} 1\na_lag_seconds_sum 0.5\n";
        assert_eq!(to_prometheus_text(om), expected);
    }
}
