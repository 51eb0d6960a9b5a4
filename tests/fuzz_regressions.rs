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
