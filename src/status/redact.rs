//! Redaction of failure details and response snippets before anything keeps or shows them.

use std::sync::LazyLock;

use regex::Regex;

/// Longest detail or response snippet kept, in bytes.
pub const SNIPPET_BYTES: usize = 200;

/// A failure's detail or response snippet as kept: credentials that look like `key=value`,
/// `"key": "value"` or `Bearer token` masked, control characters dropped, and cut to
/// [`SNIPPET_BYTES`]. Details never hold request headers; this guards against a response
/// echoing a secret.
pub fn snippet(detail: &str) -> String {
    let redacted = redact_secrets(detail);
    let mut out: String = redacted.chars().filter(|c| !c.is_control()).collect();
    if out.len() > SNIPPET_BYTES {
        let mut end = SNIPPET_BYTES;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push('…');
    }
    out
}

/// `text` with credentials that look like `key=value`, `key: value` or `Bearer token`
/// masked; everything else, line breaks included, kept (for config errors, which may quote
/// a line of YAML after `${VAR}` substitution).
pub fn redact_secrets(text: &str) -> String {
    static SECRET: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"(?i)((?:authorization|cookie|password|passwd|secret|token|api[_-]?key|session)[\w-]*"?\s*[:=]\s*"?)(?:bearer\s+|basic\s+)?[^\s"&,;}]+|\b(bearer|basic)\s+[\w.~+/=-]+"#,
        )
        .expect("static regex is valid")
    });
    SECRET
        .replace_all(text, |caps: &regex::Captures<'_>| match caps.get(1) {
            Some(key) => format!("{}[redacted]", key.as_str()),
            None => format!("{} [redacted]", &caps[2]),
        })
        .into_owned()
}
