//! The data flow stays one way in the source: metrics and status never import each other,
//! and the report stage imports neither, nor tokio (its functions take instants, they do
//! not read a clock or take locks). A `use` that breaks this fails here, naming the file.

use std::path::{Path, PathBuf};

/// Every `.rs` file of module `module`: `src/<module>.rs` and everything under `src/<module>/`.
fn module_files(module: &str) -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src.join(format!("{module}.rs"))];
    let mut dirs = vec![src.join(module)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// The lines of `module`'s files that name any of `forbidden` (as `crate::x` or `x::` at
/// the start of a path), with file and line number.
fn offending_lines(module: &str, forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in module_files(module) {
        let text = std::fs::read_to_string(&file).expect("source file is readable");
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for name in forbidden {
                let crate_path = format!("crate::{name}");
                let external = format!("{name}::");
                let starts_path = code
                    .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .any(|word| word.starts_with(&external));
                if code.contains(&crate_path) || (*name == "tokio" && starts_path) {
                    found.push(format!(
                        "{}:{}: {}",
                        file.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    found
}

#[test]
fn metrics_does_not_import_status() {
    assert_eq!(
        offending_lines("metrics", &["status"]),
        Vec::<String>::new()
    );
}

#[test]
fn status_does_not_import_metrics() {
    assert_eq!(
        offending_lines("status", &["metrics"]),
        Vec::<String>::new()
    );
}

#[test]
fn the_report_stage_imports_neither_metrics_nor_status_nor_tokio() {
    let found = offending_lines("report", &["metrics", "status", "recorder", "tokio"]);
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn the_check_sees_a_forbidden_import() {
    // The scanner itself: the recorder is where metrics and status meet, so it names both.
    assert!(!offending_lines("recorder", &["metrics"]).is_empty());
    assert!(!offending_lines("recorder", &["status"]).is_empty());
    assert!(!offending_lines("scheduler", &["tokio"]).is_empty());
}
