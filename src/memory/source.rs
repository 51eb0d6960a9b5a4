//! Reading one memory value from a target: its Prometheus endpoint, a local process's
//! /proc entry, or a cgroup v2 `memory.current` file.
//!
//! Adding a new source: add a variant to `plan::MemorySource`, a reader here returning a
//! [`Reading`], an arm in [`read`], and a row in docs/configuration.md.

use std::collections::BTreeMap;
use std::path::Path;

use http::Uri;
use procfs::process::Process;

use crate::client::{self, HttpClient};
use crate::plan::{MemorySource, ProcessSelector};

/// Largest metrics page read from a target (big applications export a lot).
const SCRAPE_LIMIT_BYTES: usize = 16 * 1024 * 1024;

/// One memory value, and what identifies the process incarnation it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Bytes in use.
    pub bytes: u64,
    /// Changes when the process restarts (pid and start time, or the endpoint's
    /// `process_start_time_seconds`); `None` when the source cannot tell.
    pub incarnation: Option<String>,
}

/// Why a sample failed (counted, never fatal).
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// The endpoint could not be fetched.
    #[error("cannot fetch {uri}: {message}")]
    Fetch {
        /// The endpoint.
        uri: Uri,
        /// What went wrong.
        message: String,
    },
    /// The endpoint has no (or more than one) series matching the selector.
    #[error("{0}")]
    Series(String),
    /// A file under /proc or the cgroup could not be read or parsed.
    #[error("cannot read {what}")]
    Read {
        /// What was being read.
        what: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Takes one reading from `source`.
pub async fn read(source: &MemorySource, client: &HttpClient) -> Result<Reading, SampleError> {
    match source {
        MemorySource::Prometheus {
            uri,
            metric,
            labels,
        } => read_prometheus(client, uri, metric, labels).await,
        MemorySource::Process { selector, pss } => read_process(selector, *pss),
        MemorySource::Cgroup { path } => read_cgroup(path),
    }
}

async fn read_prometheus(
    client: &HttpClient,
    uri: &Uri,
    metric: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Reading, SampleError> {
    let fetch_error = |message: String| SampleError::Fetch {
        uri: uri.clone(),
        message,
    };
    let response = client::fetch(client, uri.clone(), SCRAPE_LIMIT_BYTES)
        .await
        .map_err(|e| fetch_error(e.message))?;
    if !(200..300).contains(&response.status) {
        return Err(fetch_error(format!("status {}", response.status)));
    }
    let body = response.body.unwrap_or_default();
    pick_series(&String::from_utf8_lossy(&body), metric, labels)
}

/// Finds the one series of `metric` carrying `labels` in a Prometheus text page, and the
/// page's `process_start_time_seconds` with the same labels as its incarnation.
pub fn pick_series(
    text: &str,
    metric: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Reading, SampleError> {
    let scrape =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).map_err(|e| {
            SampleError::Read {
                what: "the metrics page".to_owned(),
                source: Box::new(e),
            }
        })?;
    let matches = |sample: &&prometheus_parse::Sample, name: &str| {
        sample.metric == name
            && labels
                .iter()
                .all(|(k, v)| sample.labels.get(k) == Some(v.as_str()))
    };
    let found: Vec<&prometheus_parse::Sample> = scrape
        .samples
        .iter()
        .filter(|s| matches(s, metric))
        .collect();
    let sample = match found.as_slice() {
        [one] => *one,
        [] => {
            return Err(SampleError::Series(format!(
                "no series `{metric}` with labels {labels:?}"
            )));
        }
        many => {
            return Err(SampleError::Series(format!(
                "{} series `{metric}` match labels {labels:?}; add labels to pick one",
                many.len()
            )));
        }
    };
    let bytes = match sample.value {
        prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v)
        | prometheus_parse::Value::Counter(v) => v,
        _ => return Err(SampleError::Series(format!("`{metric}` is not a gauge"))),
    };
    let incarnation = scrape
        .samples
        .iter()
        .find(|s| matches(s, "process_start_time_seconds"))
        .and_then(|s| match s.value {
            prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => {
                Some(format!("start {v}"))
            }
            _ => None,
        });
    Ok(Reading {
        bytes: bytes.max(0.0) as u64,
        incarnation,
    })
}

fn read_process(selector: &ProcessSelector, pss: bool) -> Result<Reading, SampleError> {
    let process = find_process(selector)?;
    let proc_error = |what: &str| {
        let what = format!("{what} of pid {}", process.pid);
        move |e: procfs::ProcError| SampleError::Read {
            what,
            source: Box::new(e),
        }
    };
    let start = process
        .stat()
        .map_err(proc_error("/proc/PID/stat"))?
        .starttime;
    let bytes = if pss {
        let rollup = process
            .smaps_rollup()
            .map_err(proc_error("/proc/PID/smaps_rollup"))?;
        rollup
            .memory_map_rollup
            .iter()
            .filter_map(|m| m.extension.map.get("Pss"))
            .sum()
    } else {
        let status = process.status().map_err(proc_error("/proc/PID/status"))?;
        // No VmRSS: a zombie or a process between fork and exec. Not a real 0 bytes.
        status.vmrss.ok_or_else(|| {
            SampleError::Series(format!("pid {} has no resident memory", process.pid))
        })? * 1024
    };
    Ok(Reading {
        bytes,
        incarnation: Some(format!("pid {} start {start}", process.pid)),
    })
}

fn find_process(selector: &ProcessSelector) -> Result<Process, SampleError> {
    match selector {
        ProcessSelector::PidFile(path) => {
            let read_error = |source: Box<dyn std::error::Error + Send + Sync>| SampleError::Read {
                what: path.display().to_string(),
                source,
            };
            let text = std::fs::read_to_string(path).map_err(|e| read_error(Box::new(e)))?;
            let pid: i32 = text.trim().parse().map_err(|e| read_error(Box::new(e)))?;
            Process::new(pid).map_err(|e| read_error(Box::new(e)))
        }
        ProcessSelector::Name(name) => {
            let all = procfs::process::all_processes().map_err(|e| SampleError::Read {
                what: "/proc".to_owned(),
                source: Box::new(e),
            })?;
            all.filter_map(Result::ok)
                .filter(|p| process_has_name(p, name))
                .filter_map(|p| p.stat().ok().map(|stat| (stat.starttime, p)))
                .min_by_key(|(start, _)| *start)
                .map(|(_, p)| p)
                .ok_or_else(|| SampleError::Series(format!("no process named `{name}`")))
        }
    }
}

/// `comm` (truncated to 15 bytes by the kernel), or the base name of the first or second
/// argument (interpreters: `python3 /usr/bin/uvicorn`).
fn process_has_name(process: &Process, name: &str) -> bool {
    let short: String = name.chars().take(15).collect();
    if process.stat().is_ok_and(|s| s.comm == short) {
        return true;
    }
    let base = |arg: &String| Path::new(arg).file_name().is_some_and(|f| f == name);
    process
        .cmdline()
        .is_ok_and(|args| args.iter().take(2).any(base))
}

fn read_cgroup(path: &Path) -> Result<Reading, SampleError> {
    let read_error = |source: Box<dyn std::error::Error + Send + Sync>| SampleError::Read {
        what: path.display().to_string(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(|e| read_error(Box::new(e)))?;
    let bytes = text.trim().parse().map_err(|e| read_error(Box::new(e)))?;
    // A cgroup does not say when its processes restart; the baseline only restarts with loadprobe.
    Ok(Reading {
        bytes,
        incarnation: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "# TYPE process_resident_memory_bytes gauge\n\
        process_resident_memory_bytes{worker=\"a\"} 1000\n\
        process_resident_memory_bytes{worker=\"b\"} 2000\n\
        process_start_time_seconds{worker=\"b\"} 1700000000\n\
        go_memstats_alloc_bytes 5\n";

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn picks_the_series_with_the_given_labels() {
        let reading = pick_series(
            PAGE,
            "process_resident_memory_bytes",
            &labels(&[("worker", "b")]),
        )
        .expect("found");
        assert_eq!(reading.bytes, 2000);
        assert_eq!(reading.incarnation.as_deref(), Some("start 1700000000"));
        let a = pick_series(
            PAGE,
            "process_resident_memory_bytes",
            &labels(&[("worker", "a")]),
        )
        .expect("found");
        assert_eq!((a.bytes, a.incarnation), (1000, None));
    }

    #[test]
    fn ambiguous_or_missing_series_are_errors() {
        let err = pick_series(PAGE, "process_resident_memory_bytes", &BTreeMap::new())
            .expect_err("two match");
        assert!(err.to_string().contains("2 series"), "{err}");
        assert!(pick_series(PAGE, "nope", &BTreeMap::new()).is_err());
    }
}
