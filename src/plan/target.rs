//! Building targets (and the demo target): base URL, headers, timeouts, pool and TLS roots.

use std::net::SocketAddr;

use http::Uri;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::{
    Demo, MemoryPlan, MemorySource, Problems, ProcessSelector, Target, check_name, check_ratio,
    header_map,
};
use crate::config::{DemoConfig, MemoryConfig, TargetConfig};

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
    Some(Target {
        name: name.to_owned(),
        url,
        headers,
        timeout: t.timeout,
        max_idle_per_host: t.pool.max_idle_per_host,
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
