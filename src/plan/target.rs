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
use super::problems::{At, check_name, check_ratio, header_map};
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

/// The demo target of `demo`, or `None` when its address does not parse.
pub(super) fn build_demo(mut at: At<'_>, demo: DemoConfig) -> Option<Demo> {
    let listen = at.key("listen").check(demo.listen.parse::<SocketAddr>())?;
    if !listen.ip().is_loopback() {
        at.key("listen")
            .add("the demo target listens on loopback only (127.0.0.0/8 or ::1)");
    }
    for (key, ratio) in [
        ("tail_ratio", demo.tail_ratio),
        ("failure_ratio", demo.failure_ratio),
        ("session_mixup_ratio", demo.session_mixup_ratio),
    ] {
        check_ratio(at.key(key), Some(ratio));
    }
    if demo.pool_size == 0 {
        at.key("pool_size").add("must be at least 1");
    }
    Some(Demo {
        listen,
        settings: demo,
    })
}

/// Target `name` (at `targets.<name>`), or `None` after recording what is wrong with it.
pub(super) fn build_target(mut at: At<'_>, name: &str, t: &TargetConfig) -> Option<Target> {
    check_name(at.reborrow(), name);
    let url = at.key("url").check(parse_base_url(&t.url))?;
    if t.timeout.is_zero() {
        at.key("timeout").add("must be above zero");
    }
    let extra_roots = match &t.tls.ca_file {
        None => Vec::new(),
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path).and_then(|it| it.collect());
            at.key("tls")
                .key("ca_file")
                .check(certs.map_err(|e| format!("{}: {e}", path.display())))?
        }
    };
    let headers = header_map(at.key("headers"), &t.headers)?;
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
        max_connections: build_max_connections(at.key("pool").key("max_connections"), t),
        idle_timeout: t.pool.idle_timeout,
        http2: t.pool.http2,
        extra_roots,
        insecure_skip_verify: t.tls.insecure_skip_verify,
        memory: t
            .memory
            .as_ref()
            .and_then(|m| build_memory(at.key("memory"), m)),
        memory_growth_per_hour: build_growth(at.key("slo").key("memory_growth_per_hour"), t),
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

/// `pool.max_connections` (at `at`), if set.
fn build_max_connections(mut at: At<'_>, t: &TargetConfig) -> Option<usize> {
    let max = t.pool.max_connections?;
    if max == 0 {
        at.add("must be at least 1");
    } else if t.pool.http2 {
        at.add("bounds HTTP/1.1 connections; an http2 target multiplexes one connection");
    }
    Some(max)
}

/// `slo.memory_growth_per_hour` (at `at`), if set.
fn build_growth(mut at: At<'_>, t: &TargetConfig) -> Option<f64> {
    let growth = t.slo.as_ref()?.memory_growth_per_hour?;
    if !(growth.is_finite() && growth >= 0.0) {
        at.add("must be a fraction of 0 or more (0.05 = 5% per hour)");
    } else if t.memory.is_none() {
        at.add("needs `memory` to say how the target's memory is sampled");
    }
    Some(growth)
}

fn build_memory(mut at: At<'_>, m: &MemoryConfig) -> Option<MemoryPlan> {
    if m.interval.is_zero() {
        at.key("interval").add("must be above zero");
    }
    let source = match (&m.prometheus, &m.process, &m.cgroup) {
        (Some(p), None, None) => {
            let uri = at
                .key("prometheus")
                .key("url")
                .check(parse_base_url(&p.url))?;
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
                    at.key("process")
                        .add("give exactly one of `pid_file` or `name`");
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
            at.add("give exactly one of `prometheus`, `process` or `cgroup`");
            return None;
        }
    };
    Some(MemoryPlan {
        source,
        interval: m.interval,
    })
}
