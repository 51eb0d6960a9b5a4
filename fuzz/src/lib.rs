//! The fuzz harnesses of loadprobe, one function per cargo-fuzz target.
//!
//! Each takes the raw bytes libFuzzer generates, so a crash file replays byte for byte:
//! the fuzz targets in `fuzz_targets/` call these functions, and `tests/fuzz_regressions.rs`
//! includes this very file (`#[path]`) and replays each minimized crash through the same
//! function, so `cargo test` covers it forever. No `arbitrary`: structured inputs are split
//! at NUL bytes ([`fields`]), which keeps crash files readable and this file free of
//! dependencies the main package does not have.
//!
//! Besides "no panic", the harnesses assert properties that must hold for every input
//! (an escaped value decodes back to itself, a literal template renders as written, ...).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use loadprobe::arrival::Arrivals;
use loadprobe::config::Config;
use loadprobe::guard::Guard;
use loadprobe::memory::source::pick_series;
use loadprobe::plan::{
    Action, Escape, ExtractFrom, JsonExpect, Plan, Probe, Schedule, Shard, Template, Var,
};
use loadprobe::runner::{Context, render_request};
use serde_json::Value;
use serde_json_path::JsonPath;

/// Arrivals taken from each accepted probe's load profile.
const ARRIVALS_PER_PROBE: usize = 64;

/// The input split at NUL bytes, each part as (lossy) UTF-8.
pub fn fields(data: &[u8]) -> Vec<Cow<'_, str>> {
    data.split(|b| *b == 0)
        .map(String::from_utf8_lossy)
        .collect()
}

/// Target `config_plan`: config text → `Config::parse` (no environment) → `Plan::try_from`,
/// then the pure consumers of an accepted plan: arrival offsets, sharding, the guard, and
/// rendering every step's request with every variable set.
pub fn config_plan(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config = match Config::parse(text, |_| None) {
        Ok(config) => config,
        Err(error) => {
            error_chain(&error);
            return;
        }
    };
    let plan = match Plan::try_from(config) {
        Ok(plan) => plan,
        Err(error) => {
            assert!(
                !error.problems.is_empty(),
                "a rejected plan names a problem"
            );
            error_chain(&error);
            return;
        }
    };
    assert!(
        plan.latency_buckets.windows(2).all(|w| w[0] < w[1]),
        "latency buckets strictly increase: {:?}",
        plan.latency_buckets
    );
    for probe in &plan.probes {
        exercise_probe(probe);
    }
    let sharded = plan.with_shard(Shard { index: 1, count: 3 });
    for probe in &sharded.probes {
        assert!(probe.max_in_flight >= 1, "a shard keeps one slot in flight");
        take_arrivals(probe);
    }
}

fn exercise_probe(probe: &Probe) {
    assert!(!probe.steps.is_empty(), "an accepted probe has a step");
    let _ = probe.replica_rate();
    take_arrivals(probe);
    let _ = Guard::for_probe(probe);
    if let Some(data) = &probe.data {
        for n in [0, 1, 7, u64::MAX] {
            let _ = data.row(n);
        }
    }
    let row = probe.data.as_ref().and_then(|data| data.row(7));
    let mut context = Context::new(probe, 7, row);
    for index in 0..probe.variables.len() {
        context.set(index, format!("v{index} a/b?c=\"d\"&{{e}}%"));
    }
    for step in &probe.steps {
        // `None` is a valid answer (a rendered URL or header that is not valid is not sent).
        match &step.action {
            Action::Http(request) => {
                let _ = render_request(request, &context);
            }
        }
        for (_, template) in &step.expect.header {
            let _ = context.render(template);
        }
        for check in &step.expect.json {
            if let JsonExpect::EqualsTemplate(template) = &check.expect {
                let _ = context.render(template);
            }
        }
    }
}

/// The first arrivals of one run of `probe`, which must come in order.
fn take_arrivals(probe: &Probe) {
    let run_for = match &probe.schedule {
        Schedule::Continuous => None,
        Schedule::Every { run_for, .. } | Schedule::Cron { run_for, .. } => Some(*run_for),
    };
    let arrivals = Arrivals::new(&probe.load, probe.shard, run_for);
    let _ = arrivals.rate_at(Duration::from_secs(1));
    let mut previous = Duration::ZERO;
    for arrival in arrivals.take(ARRIVALS_PER_PROBE) {
        assert!(
            arrival.offset >= previous,
            "arrivals go back in time: {:?} after {previous:?}",
            arrival.offset
        );
        if let Some(limit) = run_for {
            assert!(arrival.offset < limit, "an arrival after the run's end");
        }
        previous = arrival.offset;
    }
}

/// Formats an error and its sources, as `loadprobe check` prints them.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Names a template can use besides the built-ins: `a`, `b`, `c` (extracted 0, 1, 2) and
/// `data.x`, `data.y` (data columns 0, 1).
fn resolve(name: &str) -> Option<Var> {
    let extracted = ["a", "b", "c"].iter().position(|n| *n == name);
    let column = ["data.x", "data.y"].iter().position(|n| *n == name);
    extracted
        .map(Var::Extracted)
        .or(column.map(Var::Data))
        .or_else(|| Var::builtin(name))
}

/// Which value field a variable takes its text from.
fn value_index(var: Var) -> usize {
    match var {
        Var::Extracted(index) => index,
        Var::Iteration => 3,
        Var::Probe => 4,
        Var::Uuid => 5,
        Var::UnixMs => 6,
        Var::Data(column) => 7 + column,
    }
}

fn escape_of(selector: u8) -> Escape {
    match selector % 3 {
        0 => Escape::None,
        1 => Escape::Url,
        _ => Escape::Json,
    }
}

/// Target `template`: byte 0 picks the escape, the rest is `text NUL value0 NUL value1 ...`.
/// Parses `text` as a template (names `a`, `b`, `c`, `data.x`, `data.y` and the built-ins;
/// values 0-2 are `a`-`c`, then iteration, probe, uuid, unix_ms, `data.x`, `data.y`), renders it with
/// the values (a missing field is a variable without a value); then checks that each value
/// inserted alone decodes back to itself under every escape.
pub fn template(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let escape = escape_of(selector);
    let fields = fields(rest);
    let text = fields[0].as_ref();
    let values = &fields[1..];
    let value = |var: Var| {
        values
            .get(value_index(var))
            .map(|v| Cow::Borrowed(v.as_ref()))
    };
    if let Ok(template) = Template::parse(text, escape, resolve) {
        let rendered = template.render(value);
        let all_set = template.vars().all(|var| value(var).is_some());
        assert_eq!(
            rendered.is_some(),
            all_set,
            "render gives text exactly when every variable has a value"
        );
        if template.is_literal() {
            assert_eq!(template.vars().count(), 0);
            assert_eq!(
                template.render(|_| None).as_deref(),
                Some(text),
                "a literal renders as written"
            );
        }
    }
    for value in values {
        check_escape_round_trip(value);
    }
}

fn check_escape_round_trip(value: &str) {
    let render = |escape: Escape| {
        let template = Template::parse("<{{a}}>", escape, resolve).expect("a valid template");
        let rendered = template
            .render(|_| Some(Cow::Borrowed(value)))
            .expect("every variable has a value");
        let inner = rendered
            .strip_prefix('<')
            .and_then(|r| r.strip_suffix('>'))
            .expect("text around a variable is kept");
        inner.to_owned()
    };
    assert_eq!(render(Escape::None), value);
    let url = render(Escape::Url);
    assert!(
        url.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
        "URL escaping leaves only unreserved characters: {url:?}"
    );
    assert_eq!(
        percent_decode(&url).as_deref(),
        Some(value.as_bytes()),
        "URL escaping decodes back"
    );
    let json = render(Escape::Json);
    let decoded: String = serde_json::from_str(&format!("\"{json}\""))
        .unwrap_or_else(|e| panic!("JSON escaping gives a JSON string body {json:?}: {e}"));
    assert_eq!(decoded, value, "JSON escaping decodes back");
}

fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Target `json_path`: `path NUL body NUL expected`. The path goes through plan validation
/// as both a step's `expect.json[].path` and an `extract.*.json` (the config is built as a
/// JSON value, so no YAML quoting stands between the fuzzer and the path); when the plan
/// accepts it, the body gets what the runner does with it (src/runner/check.rs: `check_json`
/// and `extract`): all nodes, exactly one node, lengths, `equals`, `contains`, and the texts
/// of messages and extracted values.
pub fn json_path(data: &[u8]) {
    let fields = fields(data);
    let Some(path) = plan_json_path(&fields[0]) else {
        return;
    };
    let described = path.to_string();
    let Some(body) = fields.get(1) else {
        return;
    };
    let Ok(body) = serde_json::from_str::<Value>(body) else {
        return;
    };
    let wanted = fields
        .get(2)
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .unwrap_or(Value::Null);
    let nodes = path.query(&body).all();
    let single = match nodes.as_slice() {
        [one] => Some(*one),
        _ => None,
    };
    match path.query(&body).exactly_one() {
        Ok(node) => assert_eq!(Some(node), single, "exactly_one agrees with all"),
        Err(_) => assert!(single.is_none(), "exactly_one agrees with all"),
    }
    // expect.json equals / length / contains, and the failure messages.
    if let Some(got) = single {
        let _ = format!("{described} is {got}, expected {wanted}");
        let _ = got == &wanted;
        let _ = match got {
            Value::Array(items) => items.len(),
            Value::Object(fields) => fields.len(),
            Value::String(text) => text.chars().count(),
            _ => 0,
        };
        let _ = match (got, &wanted) {
            (Value::Array(items), _) => items.contains(&wanted),
            (Value::String(text), Value::String(part)) => text.contains(part.as_str()),
            _ => false,
        };
        // extract: strings as they are, anything else as JSON text.
        let extracted = match got {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        if !matches!(got, Value::String(_)) {
            let back: Value = serde_json::from_str(&extracted)
                .unwrap_or_else(|e| panic!("an extracted value is valid JSON: {e}"));
            assert_eq!(&back, got, "an extracted value reads back as itself");
        }
    }
}

/// `path` as plan validation parses it, or `None` when the plan rejects it (both uses must
/// agree).
fn plan_json_path(path: &str) -> Option<JsonPath> {
    let config = serde_json::json!({
        "targets": {"t": {"url": "http://127.0.0.1:1"}},
        "probes": [{
            "name": "p",
            "target": "t",
            "load": {"rate": 1},
            "steps": [{
                "name": "s",
                "expect": {"json": [{"path": path, "exists": true}]},
                "extract": {"v": {"json": path}},
            }],
        }],
    });
    let config: Config = serde_json::from_value(config).expect("a valid config shape");
    let plan = match Plan::try_from(config) {
        Ok(plan) => plan,
        Err(error) => {
            let fields: Vec<&str> = error.problems.iter().map(|p| p.field.as_str()).collect();
            assert_eq!(
                fields,
                [
                    "probes[0].steps[0].expect.json[0].path",
                    "probes[0].steps[0].extract.v.json"
                ],
                "only the path is wrong, in both places: {error}"
            );
            return None;
        }
    };
    let step = &plan.probes[0].steps[0];
    let ExtractFrom::Json(extract) = &step.extract[0].from else {
        panic!("a JSON extraction");
    };
    assert_eq!(extract, &step.expect.json[0].path, "both uses parse alike");
    Some(extract.clone())
}

/// Target `metrics_page`: `page NUL metric NUL key NUL value NUL key NUL value ...`. Picks
/// the memory series as the Prometheus memory source does with a target's metrics page
/// (the body is read as lossy UTF-8 there too).
pub fn metrics_page(data: &[u8]) {
    let fields = fields(data);
    let page = fields[0].as_ref();
    let metric = fields
        .get(1)
        .map_or("process_resident_memory_bytes", |m| m.as_ref());
    let labels: BTreeMap<String, String> = fields
        .get(2..)
        .unwrap_or_default()
        .chunks(2)
        .map(|pair| {
            let value = pair.get(1).map_or("", |v| v.as_ref());
            (pair[0].to_string(), value.to_owned())
        })
        .collect();
    match pick_series(page, metric, &labels) {
        Ok(reading) => {
            let _ = reading.incarnation;
        }
        Err(error) => {
            error_chain(&error);
        }
    }
}
