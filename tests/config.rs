//! Config loading: every shipped config is valid, and each invalid fixture fails with a
//! message that names its YAML path (and the line, where the parser gives one).

use std::path::{Path, PathBuf};

use loadprobe::config::Config;
use loadprobe::plan::Plan;

/// Loads and validates a file, returning the whole error chain as text.
fn check(path: &Path) -> Result<Plan, String> {
    let config = Config::load(path).map_err(|e| chain(&e))?;
    Plan::try_from(config).map_err(|e| chain(&e))
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shipped_config_is_valid() {
    let mut files = yaml_files("config/examples");
    // A --web.config.file, not a loadprobe config: tests/web.rs loads it.
    files.retain(|p| !p.ends_with("web-config.yml"));
    files.push(PathBuf::from("config/loadprobe.yml"));
    for file in files {
        if let Err(error) = check(&file) {
            panic!("{}: {error}", file.display());
        }
    }
}

/// Each fixture under tests/testdata/invalid/ and what its error must say.
const INVALID: &[(&str, &[&str])] = &[
    (
        "replay_with_steps",
        &["probes[0].replay", "no `steps`, `request`, `mix` or `data`"],
    ),
    (
        "missing_replay_log",
        &["probes[0].replay", "no-such-access.log"],
    ),
    (
        "missing_data_column",
        &["probes[0].request.path", "unknown data column `plan`"],
    ),
    (
        "missing_data_file",
        &["probes[0].data", "no-such-users.csv"],
    ),
    ("zero_weight", &["probes[0].mix[0].weight", "at least 1"]),
    (
        "bad_guard_ratio",
        &["probes[0].guard.pause_above.error_ratio", "between 0 and 1"],
    ),
    ("zero_max_rate", &["global.max_rate", "above 0"]),
    (
        "all_stages_zero",
        &[
            "probes[0].load.stages",
            "at least one stage needs a rate above 0",
        ],
    ),
    (
        "bad_arrivals",
        &[
            "probes[0].load.arrivals",
            "unknown variant `bursty`",
            "line 7",
        ],
    ),
    ("empty_burst", &["probes[0].load.burst.size", "at least 1"]),
    (
        "no_load",
        &["probes[0].load", "needs `rate`, `stages` or `burst`"],
    ),
    (
        "rate_and_stages",
        &["probes[0].load", "either `rate` or `stages`"],
    ),
    (
        "bad_cron",
        &[
            "probes[0].schedule.cron",
            "invalid cron expression `61 * * * *`",
        ],
    ),
    ("bad_duration", &["targets.api.timeout", "line 5 column 14"]),
    (
        "bad_header",
        &[
            "probes[0].request.headers.Bad Header",
            "invalid HTTP header name",
        ],
    ),
    ("bad_indent", &["line 5 column 4"]),
    (
        "bad_method",
        &["probes[0].request.method", "invalid HTTP method"],
    ),
    (
        "bad_path",
        &["probes[0].request.path", "must start with `/`"],
    ),
    (
        "bad_probe_name",
        &["probes[0].name", "must match [a-z][a-z0-9_]*"],
    ),
    (
        "bad_ratio",
        &["probes[0].slo.error_ratio", "between 0 and 1"],
    ),
    (
        "bad_schedule_word",
        &["probes[0].schedule", "\"sometimes\"", "line 7"],
    ),
    (
        "bad_status_code",
        &["probes[0].request.expect.status[1]", "999"],
    ),
    (
        "bad_url",
        &["targets.api.url", "`ftp//nowhere` is not a URL"],
    ),
    (
        "body_and_json",
        &["probes[0].request", "either `body` or `json`"],
    ),
    (
        "ca_file_missing",
        &["targets.api.tls.ca_file", "/nonexistent/ca.pem"],
    ),
    ("demo_not_loopback", &["demo.listen", "loopback only"]),
    (
        "duplicate_probe",
        &["probes[1].name", "duplicate probe name `p`"],
    ),
    (
        "duplicate_step",
        &["probes[0].steps[1].name", "duplicate step name `a`"],
    ),
    (
        "every_and_cron",
        &[
            "probes[0].schedule",
            "exactly one of `every` or `cron`",
            "line 7",
        ],
    ),
    (
        "for_longer_than_every",
        &["probes[0].schedule.for", "must not be longer than `every`"],
    ),
    (
        "missing_variable",
        &["line 5", "`LOADPROBE_TEST_UNSET_TOKEN` is not set"],
    ),
    ("negative_rate", &["probes[0].load.rate", "above 0"]),
    (
        "no_steps",
        &["probes[0]", "needs `steps`, `request` or `mix`"],
    ),
    (
        "step_without_name",
        &["probes[0].steps[0].name", "needs a name"],
    ),
    (
        "steps_and_request",
        &["probes[0]", "give one of `steps`, `request` or `mix`"],
    ),
    (
        "unknown_key",
        &[
            "probes[0].load",
            "unknown field `ratee`",
            "line 7 column 12",
        ],
    ),
    (
        "unknown_target",
        &["probes[0].target", "unknown target `nope`"],
    ),
    (
        "zero_max_in_flight",
        &["probes[0].load.max_in_flight", "at least 1"],
    ),
    ("zero_rate", &["probes[0].load.rate", "above 0"]),
    (
        "zero_report_interval",
        &["global.report_interval", "above zero"],
    ),
    (
        "zero_max_connections",
        &["targets.api.pool.max_connections", "at least 1"],
    ),
    (
        "max_connections_with_http2",
        &["targets.api.pool.max_connections", "http2"],
    ),
];

#[test]
fn each_invalid_fixture_fails_with_its_message() {
    let files = yaml_files("tests/testdata/invalid");
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_stem().expect("stem").to_string_lossy().into_owned())
        .collect();
    let mut listed: Vec<&str> = INVALID.iter().map(|(name, _)| *name).collect();
    listed.sort_unstable();
    assert_eq!(
        names, listed,
        "every fixture has a row in the table and every row a fixture"
    );
    for (file, name) in files.iter().zip(&names) {
        let expected = INVALID
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| *e)
            .expect("listed");
        let error = match check(file) {
            Ok(_) => panic!("{name}: loaded, but it must be rejected"),
            Err(error) => error,
        };
        for needle in expected {
            assert!(
                error.contains(needle),
                "{name}: {error:?} should contain {needle:?}"
            );
        }
    }
}
