//! Access-log replay: the log is read when the config loads into bounded, filtered entries
//! with their offsets and route; the runner sends entry `n` as iteration `n`, and the
//! arrival maths spaces iterations by the entries' (scaled) times or at a fixed rate.
//!
//! Requests are labelled by route name (or `other`), never by raw URL, so metric cardinality
//! is bounded by the config whatever the log holds.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Method, Uri};
use regex::Regex;

use super::data::{MAX_FILE_BYTES, MAX_ROWS};
use super::load::ReplayTiming;
use super::problems::{At, check_name};
use super::rate::Rate;
use super::steps::{Action, Expect, HttpRequest, Step};
use super::target::Target;
use crate::config::{ProbeConfig, ReplayConfig, ReplayFormat};

/// Unparseable lines logged with their number at load (the rest are only counted).
const LOGGED_BAD_LINES: usize = 5;

/// One request of the log.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Time since the first kept entry.
    pub offset: Duration,
    /// Its method.
    pub method: Method,
    /// Absolute URI: the target URL joined with the logged path.
    pub uri: Uri,
    /// Logged headers (JSON Lines only).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Logged body (JSON Lines only).
    pub body: Bytes,
    /// Index of its route; the last route is `other`.
    pub route: usize,
}

/// A loaded log, ready to replay.
#[derive(Debug, Clone)]
pub struct Replay {
    /// The entries, in time order.
    pub entries: Arc<Vec<Entry>>,
    /// Route names; the last is `other`.
    pub routes: Vec<String>,
    /// Lines that could not be parsed.
    pub skipped_lines: u64,
    /// Scale of the logged timing (ignored with `rate`).
    pub speed: f64,
    /// Fixed rate instead of the logged timing (above zero).
    pub rate: Option<Rate>,
    /// Start over at the end.
    pub looped: bool,
}

/// The log of replay probe `p`, which must not also have steps, a mix or data (nor a
/// load shape: see `load::check_replay_load`).
pub(super) fn build_replay(
    mut at: At<'_>,
    p: &ProbeConfig,
    config: &ReplayConfig,
    target: &Target,
    base_dir: &Path,
) -> Option<Replay> {
    if p.request.is_some() || !p.steps.is_empty() || !p.mix.is_empty() || p.data.is_some() {
        at.add("a replay takes its requests from the log: no `steps`, `request`, `mix` or `data`");
        return None;
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, route) in config.routes.iter().enumerate() {
        let mut route_at = at.index("routes", i);
        let mut name = route_at.key("name");
        check_name(name.reborrow(), &route.name);
        if !seen.insert(&route.name) {
            name.add(format!("duplicate route name `{}`", route.name));
        }
        if route.name == "other" {
            name.add("`other` is the fallback route's name");
        }
    }
    at.check(Replay::load(config, base_dir, &target.url))
}

/// A parsed line before filtering.
struct Logged {
    at: jiff::Timestamp,
    method: Method,
    path: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl Replay {
    /// Reads and filters the log of `config`, joining paths onto `base` (the target URL).
    pub fn load(config: &ReplayConfig, base_dir: &Path, base: &Uri) -> Result<Self, String> {
        if !(config.speed.is_finite() && config.speed > 0.0) {
            return Err("speed must be a number above 0".to_owned());
        }
        let rate = config
            .rate
            .map(|r| Rate::positive(r).ok_or("rate must be a number above 0"))
            .transpose()?;
        let filter = Filter::new(config)?;
        let path = base_dir.join(&config.file);
        let shown = path.display().to_string();
        let size = std::fs::metadata(&path)
            .map_err(|e| format!("cannot read {shown}: {e}"))?
            .len();
        if size > MAX_FILE_BYTES {
            return Err(format!("{shown} is {size} bytes; at most {MAX_FILE_BYTES}"));
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let (mut logged, skipped_lines) = parse_lines(&text, config.format, &shown)?;
        logged.retain(|l| filter.keeps(l));
        if logged.is_empty() {
            return Err(format!("{shown} has no entries to replay after filtering"));
        }
        logged.sort_by_key(|l| l.at);
        let first = logged[0].at;
        let mut routes: Vec<String> = config.routes.iter().map(|r| r.name.clone()).collect();
        routes.push("other".to_owned());
        let entries = logged
            .into_iter()
            .map(|l| {
                let uri = join(base, &l.path)
                    .ok_or_else(|| format!("{shown}: `{}` does not make a valid URL", l.path))?;
                let offset = Duration::try_from(l.at.duration_since(first)).unwrap_or_default();
                let route = filter
                    .routes
                    .iter()
                    .position(|r| r.is_match(&l.path))
                    .unwrap_or(filter.routes.len());
                Ok(Entry {
                    offset,
                    method: l.method,
                    uri,
                    headers: l.headers,
                    body: l.body,
                    route,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            entries: Arc::new(entries),
            routes,
            skipped_lines,
            speed: config.speed,
            rate,
            looped: config.looped,
        })
    }

    /// One step per route (and `other`), labelled with the route's name; the runner fills
    /// in each entry's method, URL, headers and body.
    pub fn steps(&self, target: &Target) -> Vec<Step> {
        let mut headers = target.headers.clone();
        headers
            .entry(http::header::USER_AGENT)
            .or_insert(HeaderValue::from_static(concat!(
                "loadprobe/",
                env!("CARGO_PKG_VERSION")
            )));
        self.routes
            .iter()
            .map(|name| Step {
                name: name.clone(),
                action: Action::Http(HttpRequest::get(target.url.clone(), headers.clone())),
                expect: Expect::default(),
                extract: Vec::new(),
                always: false,
            })
            .collect()
    }

    /// When its entries are sent: the load model of a replay probe.
    pub fn timing(&self) -> ReplayTiming {
        ReplayTiming {
            offsets: Arc::new(self.entries.iter().map(|e| e.offset).collect()),
            speed: self.speed,
            rate: self.rate,
            looped: self.looped,
        }
    }
}

/// Which entries are kept, and the routes.
struct Filter {
    methods: Vec<Method>,
    allowed: Vec<Method>,
    path: Option<Regex>,
    from: Option<jiff::Timestamp>,
    to: Option<jiff::Timestamp>,
    routes: Vec<Regex>,
}

impl Filter {
    fn new(c: &ReplayConfig) -> Result<Self, String> {
        let method = |m: &String| {
            Method::from_bytes(m.to_uppercase().as_bytes())
                .map_err(|_| format!("`{m}` is not an HTTP method"))
        };
        let regex = |r: &str| Regex::new(r).map_err(|e| format!("bad path_regex `{r}`: {e}"));
        let time = |t: &String| {
            t.parse::<jiff::Timestamp>()
                .map_err(|e| format!("`{t}` is not an RFC 3339 time: {e}"))
        };
        let mut allowed = vec![Method::GET, Method::HEAD];
        allowed.extend(
            c.allow_methods
                .iter()
                .map(method)
                .collect::<Result<Vec<_>, _>>()?,
        );
        Ok(Self {
            methods: c.methods.iter().map(method).collect::<Result<_, _>>()?,
            allowed,
            path: c.path_regex.as_deref().map(regex).transpose()?,
            from: c.from.as_ref().map(time).transpose()?,
            to: c.to.as_ref().map(time).transpose()?,
            routes: c
                .routes
                .iter()
                .map(|r| regex(&r.path_regex))
                .collect::<Result<_, _>>()?,
        })
    }

    fn keeps(&self, l: &Logged) -> bool {
        self.allowed.contains(&l.method)
            && (self.methods.is_empty() || self.methods.contains(&l.method))
            && self.path.as_ref().is_none_or(|r| r.is_match(&l.path))
            && self.from.is_none_or(|from| l.at >= from)
            && self.to.is_none_or(|to| l.at < to)
    }
}

/// Parses every line; bad ones are counted (and the first few logged), never fatal.
fn parse_lines(
    text: &str,
    format: ReplayFormat,
    shown: &str,
) -> Result<(Vec<Logged>, u64), String> {
    let combined = Regex::new(r#"^\S+ \S+ \S+ \[([^\]]+)\] "([A-Z]+) (\S+)(?: [^"]*)?" \d{3} "#)
        .expect("static regex is valid");
    let mut logged = Vec::new();
    let mut skipped = 0u64;
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        if logged.len() == MAX_ROWS {
            return Err(format!("{shown} has more than {MAX_ROWS} entries"));
        }
        let parsed = match format {
            ReplayFormat::Combined => parse_combined(&combined, line),
            ReplayFormat::Jsonl => parse_json(line),
        };
        match parsed {
            Some(entry) => logged.push(entry),
            None => {
                skipped += 1;
                if skipped as usize <= LOGGED_BAD_LINES {
                    tracing::warn!(
                        file = shown,
                        line = i + 1,
                        "skipping an access-log line that does not parse"
                    );
                }
            }
        }
    }
    Ok((logged, skipped))
}

fn parse_combined(pattern: &Regex, line: &str) -> Option<Logged> {
    let captures = pattern.captures(line)?;
    let at = jiff::Timestamp::strptime("%d/%b/%Y:%H:%M:%S %z", &captures[1]).ok()?;
    let method = Method::from_bytes(captures[2].as_bytes()).ok()?;
    let path = captures[3].to_owned();
    path.starts_with('/').then(|| Logged {
        at,
        method,
        path,
        headers: Vec::new(),
        body: Bytes::new(),
    })
}

fn parse_json(line: &str) -> Option<Logged> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let at = match &value["ts"] {
        serde_json::Value::String(text) => text.parse().ok()?,
        serde_json::Value::Number(n) => {
            // Whole seconds and the fraction apart: multiplying by 1e9 first loses precision.
            let seconds = n.as_f64()?;
            let nanos = ((seconds - seconds.trunc()) * 1e9).round() as i32;
            jiff::Timestamp::new(seconds.trunc() as i64, nanos).ok()?
        }
        _ => return None,
    };
    let method = Method::from_bytes(value["method"].as_str()?.as_bytes()).ok()?;
    let path = value["path"].as_str()?.to_owned();
    let headers = match value.get("headers") {
        Some(serde_json::Value::Object(map)) => map
            .iter()
            .map(|(k, v)| {
                Some((
                    HeaderName::from_bytes(k.as_bytes()).ok()?,
                    HeaderValue::from_str(v.as_str()?).ok()?,
                ))
            })
            .collect::<Option<Vec<_>>>()?,
        _ => Vec::new(),
    };
    let body = Bytes::from(
        value
            .get("body")
            .and_then(|b| b.as_str())
            .unwrap_or_default()
            .to_owned(),
    );
    path.starts_with('/').then_some(Logged {
        at,
        method,
        path,
        headers,
        body,
    })
}

fn join(base: &Uri, path: &str) -> Option<Uri> {
    let prefix = base.path().trim_end_matches('/');
    format!(
        "{}://{}{prefix}{path}",
        base.scheme_str()?,
        base.authority()?.as_str()
    )
    .parse()
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_combined_lines_and_counts_bad_ones() {
        let log = "127.0.0.1 - - [10/Oct/2026:13:55:36 -0700] \"GET /a?x=1 HTTP/1.1\" 200 2326 \"-\" \"curl\"\n\
                   garbage\n\
                   127.0.0.1 - frank [10/Oct/2026:13:55:37 -0700] \"POST /b HTTP/1.1\" 201 5 \"-\" \"-\"\n";
        let (logged, skipped) = parse_lines(log, ReplayFormat::Combined, "log").expect("parses");
        assert_eq!(skipped, 1);
        assert_eq!(
            logged
                .iter()
                .map(|l| (l.method.as_str(), l.path.as_str()))
                .collect::<Vec<_>>(),
            [("GET", "/a?x=1"), ("POST", "/b")]
        );
        assert_eq!(logged[1].at.as_second() - logged[0].at.as_second(), 1);
    }

    #[test]
    fn parses_json_lines_with_fractional_times() {
        let log = "{\"ts\": 1700000000.25, \"method\": \"GET\", \"path\": \"/x\", \"headers\": {\"x-a\": \"1\"}}\n{\"ts\": \"2026-01-01T00:00:00Z\"}\n";
        let (logged, skipped) = parse_lines(log, ReplayFormat::Jsonl, "log").expect("parses");
        assert_eq!((logged.len(), skipped), (1, 1));
        assert_eq!(logged[0].at.as_millisecond(), 1_700_000_000_250);
        assert_eq!(logged[0].headers.len(), 1);
    }
}
