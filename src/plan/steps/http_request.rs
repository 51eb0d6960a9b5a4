//! An HTTP step's request, ready to send: method, URL, headers and body, each literal or a
//! template rendered per iteration.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use http::{Method, Uri};

use crate::config::StepConfig;
use crate::plan::problems::{At, header_map};
use crate::plan::target::Target;
use crate::plan::template::{Escape, Template, Var};

/// One HTTP request of a step.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// HTTP method.
    pub method: Method,
    /// Absolute URI (target URL joined with the step path) when the path has no variables.
    pub uri: Uri,
    /// The absolute URL as a template, when the path has variables.
    pub uri_template: Option<Template>,
    /// Target headers with the step's literal ones on top; values are marked sensitive.
    pub headers: HeaderMap,
    /// Step headers whose values have variables.
    pub header_templates: Vec<(HeaderName, Template)>,
    /// Request body when it has no variables (empty when none).
    pub body: Bytes,
    /// The body as a template, when it has variables.
    pub body_template: Option<Template>,
    /// Largest response body read for checks and extraction.
    pub max_body_bytes: usize,
}

impl HttpRequest {
    /// A GET of `uri` with `headers` and nothing templated (a replayed route's defaults).
    pub fn get(uri: Uri, headers: HeaderMap) -> Self {
        Self {
            method: Method::GET,
            uri,
            uri_template: None,
            headers,
            header_templates: Vec::new(),
            body: Bytes::new(),
            body_template: None,
            max_body_bytes: crate::plan::DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// The request of step `s` against `target`. `None`: a bad path, header or body, and the
/// step's other keys are not checked; `Some(None)`: a bad method, the other keys still are.
pub(super) fn build(
    mut at: At<'_>,
    s: &StepConfig,
    target: &Target,
    resolve: &dyn Fn(&str) -> Option<Var>,
) -> Option<Option<HttpRequest>> {
    let method = at
        .key("method")
        .check(Method::from_bytes(s.method.as_bytes()));
    let (uri, uri_template) = build_uri(at.key("path"), &target.url, &s.path, resolve)?;
    let (mut headers, header_templates) = build_headers(at.key("headers"), target, s, resolve)?;
    let (body, content_type) = match (&s.body, &s.json) {
        (Some(_), Some(_)) => {
            at.add("give either `body` or `json`, not both");
            return None;
        }
        (Some(body), None) => ((body.clone(), Escape::None), None),
        (None, Some(json)) => (
            (json.to_string(), Escape::Json),
            Some(HeaderValue::from_static("application/json")),
        ),
        (None, None) => ((String::new(), Escape::None), None),
    };
    let body_key = if s.json.is_some() { "json" } else { "body" };
    let body_template = at
        .key(body_key)
        .check(Template::parse(&body.0, body.1, resolve))?;
    if let Some(value) = content_type {
        headers.entry(CONTENT_TYPE).or_insert(value);
    }
    // Targets can see who is loading them (and tell it apart in their access logs).
    headers
        .entry(USER_AGENT)
        .or_insert(HeaderValue::from_static(concat!(
            "loadprobe/",
            env!("CARGO_PKG_VERSION")
        )));
    Some(method.map(|method| {
        HttpRequest {
            method,
            uri,
            uri_template,
            headers,
            header_templates,
            body: Bytes::from(body.0),
            body_template: (!body_template.is_literal()).then_some(body_template),
            max_body_bytes: s
                .max_body_bytes
                .unwrap_or(crate::plan::DEFAULT_MAX_BODY_BYTES),
        }
    }))
}

/// The step's URI when its path is literal, or its template (with a placeholder URI).
fn build_uri(
    mut at: At<'_>,
    base: &Uri,
    path: &str,
    resolve: &dyn Fn(&str) -> Option<Var>,
) -> Option<(Uri, Option<Template>)> {
    if !path.starts_with('/') {
        at.add(format!("`{path}` must start with `/`"));
        return None;
    }
    let prefix = base.path().trim_end_matches('/');
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
    let joined = format!("{scheme}://{authority}{prefix}{path}");
    let template = at.check(Template::parse(&joined, Escape::Url, resolve))?;
    if !template.is_literal() {
        return Some((base.clone(), Some(template)));
    }
    let uri = joined
        .parse()
        .map_err(|e| format!("`{path}` does not make a valid URL: {e}"));
    Some((at.check(uri)?, None))
}

/// The target's headers with the step's literal ones on top, and its templated ones.
fn build_headers(
    mut at: At<'_>,
    target: &Target,
    s: &StepConfig,
    resolve: &dyn Fn(&str) -> Option<Var>,
) -> Option<(HeaderMap, Vec<(HeaderName, Template)>)> {
    let mut headers = target.headers.clone();
    let mut templates = Vec::new();
    let (literal, templated): (Vec<_>, Vec<_>) =
        s.headers.iter().partition(|(_, v)| !v.contains("{{"));
    let literal = literal
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, value) in header_map(at.reborrow(), &literal)? {
        headers.insert(
            key.expect("a fresh HeaderMap yields a name for each value"),
            value,
        );
    }
    for (key, value) in templated {
        let mut at = at.key(key);
        let name = at.check(HeaderName::from_bytes(key.as_bytes()));
        let template = at.check(Template::parse(value, Escape::None, resolve));
        templates.push((name?, template?));
    }
    Some((headers, templates))
}
