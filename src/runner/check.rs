//! Checks a response against its step's expectations, in order — status, body text,
//! headers, JSON, latency — then extracts the step's variables. The first failure decides
//! the outcome; its detail goes to logs and the status page, never to a label.

use std::time::Duration;

use serde_json::Value;

use super::Context;
use crate::client::Response;
use crate::outcome::{Outcome, Reason, classify_status};
use crate::plan::{ExtractFrom, JsonCheck, JsonExpect, Step};

/// The outcome of `response` for `step`, storing its extractions in `context`.
pub(super) fn check_and_extract(
    step: &Step,
    response: &Response,
    latency: Duration,
    context: &mut Context,
) -> (Outcome, Option<String>) {
    match check(step, response, latency, context)
        .and_then(|json| extract(step, response, json.as_ref(), context))
    {
        Ok(()) => (Outcome::Success, None),
        Err((outcome, detail)) => (outcome, Some(detail)),
    }
}

type Failure = (Outcome, String);

fn check_failed(detail: String) -> Failure {
    (Outcome::Failure(Reason::Check), detail)
}

/// Runs the checks; returns the parsed JSON body when a check or extraction needs it.
fn check(
    step: &Step,
    response: &Response,
    latency: Duration,
    context: &Context,
) -> Result<Option<Value>, Failure> {
    let expect = &step.expect;
    let outcome = classify_status(response.status, expect.accepts_status(response.status));
    if outcome != Outcome::Success {
        return Err((outcome, format!("unexpected status {}", response.status)));
    }
    let body = response.body.as_deref().unwrap_or_default();
    if let Some(needle) = &expect.body_contains
        && !contains(body, needle.as_bytes())
    {
        return Err(check_failed(format!("body does not contain {needle:?}")));
    }
    for (name, template) in &expect.header {
        let wanted = context.render(template).unwrap_or_default();
        let got = response.headers.get(name).and_then(|v| v.to_str().ok());
        if got != Some(wanted.as_str()) {
            return Err(check_failed(format!(
                "header {name} is {got:?}, expected {wanted:?}"
            )));
        }
    }
    let needs_json = !expect.json.is_empty()
        || step
            .extract
            .iter()
            .any(|e| matches!(e.from, ExtractFrom::Json(_)));
    let json = if needs_json {
        Some(
            serde_json::from_slice::<Value>(body)
                .map_err(|e| check_failed(format!("body is not JSON: {e}")))?,
        )
    } else {
        None
    };
    for json_check in &expect.json {
        check_json(json_check, json.as_ref().expect("parsed above"), context)
            .map_err(check_failed)?;
    }
    if let Some(limit) = expect.max_latency
        && latency > limit
    {
        return Err(check_failed(format!(
            "latency {latency:?} above max_latency {limit:?}"
        )));
    }
    Ok(json)
}

fn check_json(check: &JsonCheck, body: &Value, context: &Context) -> Result<(), String> {
    let nodes = check.path.query(body).all();
    let path = &check.text;
    let single = || match nodes.as_slice() {
        [one] => Ok(*one),
        other => Err(format!(
            "{path} selects {} values, expected one",
            other.len()
        )),
    };
    match &check.expect {
        JsonExpect::Exists(wanted) if nodes.is_empty() == *wanted => Err(format!(
            "{path} {}",
            if *wanted {
                "selects nothing"
            } else {
                "selects something"
            }
        )),
        JsonExpect::Exists(_) => Ok(()),
        JsonExpect::Equals(wanted) => {
            let got = single()?;
            if got == wanted {
                Ok(())
            } else {
                Err(format!("{path} is {got}, expected {wanted}"))
            }
        }
        JsonExpect::EqualsTemplate(template) => {
            let wanted = context.render(template).unwrap_or_default();
            let got = single()?;
            if got.as_str() == Some(wanted.as_str()) {
                Ok(())
            } else {
                Err(format!("{path} is {got}, expected {wanted:?}"))
            }
        }
        JsonExpect::Length(wanted) => {
            let got = single()?;
            let length = match got {
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                Value::String(s) => s.chars().count(),
                other => return Err(format!("{path} is {other}, which has no length")),
            };
            if length == *wanted {
                Ok(())
            } else {
                Err(format!("{path} has length {length}, expected {wanted}"))
            }
        }
        JsonExpect::Contains(wanted) => {
            let found = match (single()?, wanted) {
                (Value::Array(items), _) => items.contains(wanted),
                (Value::String(text), Value::String(part)) => text.contains(part.as_str()),
                _ => false,
            };
            if found {
                Ok(())
            } else {
                Err(format!("{path} does not contain {wanted}"))
            }
        }
    }
}

fn extract(
    step: &Step,
    response: &Response,
    json: Option<&Value>,
    context: &mut Context,
) -> Result<(), Failure> {
    for extraction in &step.extract {
        let value = match &extraction.from {
            ExtractFrom::Json(path) => {
                let body = json.expect("parsed by check when a JSON extraction exists");
                match path.query(body).exactly_one() {
                    Ok(Value::String(text)) => Some(text.clone()),
                    Ok(other) => Some(other.to_string()),
                    Err(_) => None,
                }
            }
            ExtractFrom::Header(name) => response
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            ExtractFrom::Regex(regex) => {
                let body = String::from_utf8_lossy(response.body.as_deref().unwrap_or_default());
                regex
                    .captures(&body)
                    .and_then(|c| c.get(1).or_else(|| c.get(0)))
                    .map(|m| m.as_str().to_owned())
            }
        };
        let value = value.ok_or_else(|| {
            check_failed(format!("cannot extract `{}`", describe(&extraction.from)))
        })?;
        context.set(extraction.var, value);
    }
    Ok(())
}

fn describe(from: &ExtractFrom) -> String {
    match from {
        ExtractFrom::Json(path) => path.to_string(),
        ExtractFrom::Header(name) => format!("header {name}"),
        ExtractFrom::Regex(regex) => format!("regex {}", regex.as_str()),
    }
}

/// The wait a 429 or 503 asks for: `Retry-After` in seconds or as an HTTP date.
pub(super) fn retry_after(response: &Response) -> Option<Duration> {
    if !matches!(response.status, 429 | 503) {
        return None;
    }
    let value = response
        .headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    Duration::try_from(at.duration_since(jiff::Timestamp::now())).ok()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}
