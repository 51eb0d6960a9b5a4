//! Targets (and the demo target): base URL, headers, timeouts, pool, TLS roots and memory
//! sampling, validated.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::Uri;
use http::header::HeaderMap;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::fingerprint::Fingerprint;
use super::{Problems, check_name, check_ratio, header_map};
use crate::config::{DemoConfig, MemoryConfig, TargetConfig};

/// The demo target's validated settings.
#[derive(Debug, Clone)]
pub struct Demo {
    /// Where it listens (always a loopback address).
    pub listen: SocketAddr,
    /// Its behaviour knobs.
    pub settings: DemoConfig,
}

/// A service under test.
#[derive(Debug)]
pub struct Target {
    /// Config name.
    pub name: String,
    /// Base URL as written, used to resolve step paths.
    pub url: Uri,
    /// Headers of every request (values marked sensitive, so `Debug` hides them).
    pub headers: HeaderMap,
    /// Request deadline, from the intended start to the last body byte.
    pub timeout: Duration,
    /// Idle connections kept per host.
    pub max_idle_per_host: usize,
    /// Connections open at once (HTTP/1.1 only), when bounded.
    pub max_connections: Option<usize>,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
    /// HTTP/2 only.
    pub http2: bool,
    /// Extra trusted CA certificates, read at load time.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Accept any server certificate.
    pub insecure_skip_verify: bool,
    /// How its memory is sampled, if at all.
    pub memory: Option<MemoryPlan>,
    /// Highest acceptable memory growth per hour, as a fraction of the baseline.
    pub memory_growth_per_hour: Option<f64>,
    /// Equal for two loads of the same configuration (see `fingerprint.rs`).
    pub fingerprint: u64,
}

/// How a target's memory is sampled.
#[derive(Debug, Clone)]
pub struct MemoryPlan {
    /// Where the value comes from.
    pub source: MemorySource,
    /// Time between samples.
    pub interval: Duration,
}

/// Where a target's memory is read.
#[derive(Debug, Clone)]
pub enum MemorySource {
    /// A gauge on the target's Prometheus endpoint.
    Prometheus {
        /// Endpoint URL.
        uri: Uri,
        /// Metric name.
        metric: String,
        /// Labels the series must carry.
        labels: BTreeMap<String, String>,
    },
    /// A local process, from /proc.
    Process {
        /// Which process.
        selector: ProcessSelector,
        /// Pss from `smaps_rollup` instead of VmRSS.
        pss: bool,
    },
    /// A cgroup v2 `memory.current` file.
    Cgroup {
        /// The file (the directory is resolved at load time).
        path: PathBuf,
    },
}

/// How the sampled process is found.
#[derive(Debug, Clone)]
pub enum ProcessSelector {
    /// Read the pid from this file at each sample (it changes when the process restarts).
    PidFile(PathBuf),
    /// The oldest process with this name.
    Name(String),
}

pub(super) fn build_demo(demo: DemoConfig, problems: &mut Problems) -> Option<Demo> {
    let listen = problems.check("demo.listen", demo.listen.parse::<SocketAddr>())?;
    if !listen.ip().is_loopback() {
        problems.add(
            "demo.listen",
            "the demo target listens on loopback only (127.0.0.0/8 or ::1)",
        );
    }
    for (key, ratio) in [
        ("tail_ratio", demo.tail_ratio),
        ("failure_ratio", demo.failure_ratio),
        ("session_mixup_ratio", demo.session_mixup_ratio),
    ] {
        check_ratio(&format!("demo.{key}"), Some(ratio), problems);
    }
    if demo.pool_size == 0 {
        problems.add("demo.pool_size", "must be at least 1");
    }
    Some(Demo {
        listen,
        settings: demo,
    })
}

pub(super) fn build_target(
    name: &str,
    t: &TargetConfig,
    problems: &mut Problems,
) -> Option<Target> {
    let field = format!("targets.{name}");
    check_name(&field, name, problems);
    let url = problems.check(&format!("{field}.url"), parse_base_url(&t.url))?;
    if t.timeout.is_zero() {
        problems.add(format!("{field}.timeout"), "must be above zero");
    }
    let extra_roots = match &t.tls.ca_file {
        None => Vec::new(),
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path).and_then(|it| it.collect());
            problems.check(
                &format!("{field}.tls.ca_file"),
                certs.map_err(|e| format!("{}: {e}", path.display())),
            )?
        }
    };
    let headers = header_map(&format!("{field}.headers"), &t.headers, problems)?;
    let fingerprint = Fingerprint::default()
        .debug(&(name, t))
        .hash(&extra_roots)
        .finish();
    Some(Target {
        fingerprint,
        name: name.to_owned(),
        url,
        headers,
        timeout: t.timeout,
        max_idle_per_host: t.pool.max_idle_per_host,
        max_connections: build_max_connections(&field, t, problems),
        idle_timeout: t.pool.idle_timeout,
        http2: t.pool.http2,
        extra_roots,
        insecure_skip_verify: t.tls.insecure_skip_verify,
        memory: t
            .memory
            .as_ref()
            .and_then(|m| build_memory(&format!("{field}.memory"), m, problems)),
        memory_growth_per_hour: build_growth(&field, t, problems),
    })
}

fn parse_base_url(url: &str) -> Result<Uri, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.authority().is_some() => Ok(uri),
        _ => Err(format!(
            "`{url}` must be an absolute http:// or https:// URL"
        )),
    }
}

fn build_max_connections(field: &str, t: &TargetConfig, problems: &mut Problems) -> Option<usize> {
    let max = t.pool.max_connections?;
    if max == 0 {
        problems.add(
            format!("{field}.pool.max_connections"),
            "must be at least 1",
        );
    } else if t.pool.http2 {
        problems.add(
            format!("{field}.pool.max_connections"),
            "bounds HTTP/1.1 connections; an http2 target multiplexes one connection",
        );
    }
    Some(max)
}

fn build_growth(field: &str, t: &TargetConfig, problems: &mut Problems) -> Option<f64> {
    let growth = t.slo.as_ref()?.memory_growth_per_hour?;
    if !(growth.is_finite() && growth >= 0.0) {
        problems.add(
            format!("{field}.slo.memory_growth_per_hour"),
            "must be a fraction of 0 or more (0.05 = 5% per hour)",
        );
    } else if t.memory.is_none() {
        problems.add(
            format!("{field}.slo.memory_growth_per_hour"),
            "needs `memory` to say how the target's memory is sampled",
        );
    }
    Some(growth)
}

fn build_memory(field: &str, m: &MemoryConfig, problems: &mut Problems) -> Option<MemoryPlan> {
    if m.interval.is_zero() {
        problems.add(format!("{field}.interval"), "must be above zero");
    }
    let source = match (&m.prometheus, &m.process, &m.cgroup) {
        (Some(p), None, None) => {
            let uri = problems.check(&format!("{field}.prometheus.url"), parse_base_url(&p.url))?;
            MemorySource::Prometheus {
                uri,
                metric: p.metric.clone(),
                labels: p.labels.clone(),
            }
        }
        (None, Some(p), None) => {
            let selector = match (&p.pid_file, &p.name) {
                (Some(path), None) => ProcessSelector::PidFile(path.clone()),
                (None, Some(name)) => ProcessSelector::Name(name.clone()),
                _ => {
                    problems.add(
                        format!("{field}.process"),
                        "give exactly one of `pid_file` or `name`",
                    );
                    return None;
                }
            };
            MemorySource::Process {
                selector,
                pss: p.pss,
            }
        }
        (None, None, Some(c)) => {
            let path = if c.path.is_dir() {
                c.path.join("memory.current")
            } else {
                c.path.clone()
            };
            MemorySource::Cgroup { path }
        }
        _ => {
            problems.add(
                field,
                "give exactly one of `prometheus`, `process` or `cgroup`",
            );
            return None;
        }
    };
    Some(MemoryPlan {
        source,
        interval: m.interval,
    })
}
