//! Fuzzing's findings, kept: every input a fuzz target (fuzz/, scripts/fuzz.sh) crashed on,
//! minimized and replayed through the very harness function the target calls
//! (fuzz/src/lib.rs, included below), so `cargo test` covers it forever. The seed inputs
//! are replayed too, which keeps the harnesses compiling and their properties true.

use std::path::Path;

#[path = "../fuzz/src/lib.rs"]
mod harness;

/// One fuzz target's entry point.
type Harness = fn(&[u8]);

/// Every file under `dir` (recursively), through `target`.
fn replay_dir(dir: &str, target: Harness) -> usize {
    fn walk(dir: &Path, target: Harness, count: &mut usize) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("dir entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, target, count);
            } else {
                let data = std::fs::read(&path).expect("readable seed");
                target(&data);
                *count += 1;
            }
        }
    }
    let mut count = 0;
    walk(Path::new(dir), target, &mut count);
    count
}

#[test]
fn seeds_replay_through_every_harness() {
    for dir in ["config", "tests/testdata/invalid"] {
        assert!(
            replay_dir(dir, harness::config_plan) > 0,
            "{dir} has configs"
        );
    }
    let targets: [(&str, Harness); 3] = [
        ("template", harness::template),
        ("json_path", harness::json_path),
        ("metrics_page", harness::metrics_page),
    ];
    for (name, target) in targets {
        let dir = format!("fuzz/seeds/{name}");
        assert!(replay_dir(&dir, target) > 0, "{dir} has seeds");
    }
}

#[test]
fn empty_and_odd_inputs() {
    let inputs: [&[u8]; 5] = [b"", b"\0", b"\0\0\0\0", b"\xff\xfe", b"{{"];
    for data in inputs {
        harness::config_plan(data);
        harness::template(data);
        harness::json_path(data);
        harness::metrics_page(data);
    }
}

/// Found by `json_path` (minimized input `$['\u`): serde_json_path 0.7.2 panics with
/// "internal error: entered unreachable code: we do not use streaming parsers" (its
/// src/path.rs:56) on a JSONPath that ends inside a `\u` escape of a quoted name or string,
/// because its string parser uses nom's *streaming* `one_of` (src/parser/primitive/string.rs
/// line 3), which answers "incomplete" at the end of the input. Plan validation calls
/// `JsonPath::parse` for `expect.json[].path` and `extract.*.json`
/// (src/plan/steps/checks.rs), so such a config panicked at load instead of failing with
/// the field named.
#[test]
fn json_path_ending_inside_a_unicode_escape_is_a_config_error() {
    use loadprobe::config::Config;
    use loadprobe::plan::Plan;

    for path in [
        r"$['\u",
        r"$['\uD",
        r"$['\uD800\u",
        r#"$.a[?@ == "\uD"#,
        r"$[?@.a=='\u",
    ] {
        // The raw fuzz input: the harness asserts both fields are reported.
        harness::json_path(path.as_bytes());
        // The same path in a config file, through the config_plan harness and directly.
        let quoted = serde_json::to_string(path).expect("a JSON string is YAML too");
        let yaml = format!(
            "targets: {{t: {{url: 'http://127.0.0.1:1'}}}}\n\
             probes:\n\
             - name: p\n  target: t\n  load: {{rate: 1}}\n  steps:\n\
             \x20 - name: s\n    expect: {{json: [{{path: {quoted}, exists: true}}]}}\n\
             \x20   extract: {{v: {{json: {quoted}}}}}\n"
        );
        harness::config_plan(yaml.as_bytes());
        let config = Config::parse(&yaml, |_| None).expect("valid YAML");
        let error = Plan::try_from(config).expect_err("an unterminated escape is invalid");
        let text = error.to_string();
        assert!(
            text.contains("probes[0].steps[0].expect.json[0].path"),
            "{path}: {text}"
        );
        assert!(
            text.contains("probes[0].steps[0].extract.v.json"),
            "{path}: {text}"
        );
    }
}
