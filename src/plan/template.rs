//! `{{name}}` templates, parsed once at load time into text and variable parts, so a
//! request is rendered by a single pass of string pushes and an unknown name is a config
//! error, never a surprise at run time.

/// A variable a template can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// A value extracted by an earlier step (index into the probe's variables).
    Extracted(usize),
    /// The iteration's number (0-based, per probe and run).
    Iteration,
    /// The probe's name.
    Probe,
    /// A random UUID, one per iteration (so steps can share it).
    Uuid,
    /// Milliseconds since the Unix epoch at the time of sending.
    UnixMs,
    /// A column of the iteration's data row (index into the feeder's columns).
    Data(usize),
}

impl Var {
    /// The built-in variable called `name`, if any.
    pub fn builtin(name: &str) -> Option<Var> {
        match name {
            "iteration" => Some(Var::Iteration),
            "probe" => Some(Var::Probe),
            "uuid" => Some(Var::Uuid),
            "unix_ms" => Some(Var::UnixMs),
            _ => None,
        }
    }
}

/// How values are escaped where they are inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// As they are (headers, raw bodies, expected values).
    None,
    /// Percent-encoded outside unreserved characters (paths and queries).
    Url,
    /// Escaped for the inside of a JSON string (JSON bodies).
    Json,
}

/// A string with variable holes.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
    escape: Escape,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Var(Var),
}

impl Template {
    /// Parses `text`, resolving each `{{name}}` with `resolve`; the error names the unknown
    /// variable or the unclosed brace.
    pub fn parse(
        text: &str,
        escape: Escape,
        resolve: impl Fn(&str) -> Option<Var>,
    ) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| format!("unclosed `{{{{` in {text:?}"))?;
            let name = after[..close].trim();
            let var = resolve(name).ok_or_else(|| match name.strip_prefix("data.") {
                Some(column) => format!("unknown data column `{column}`: the probe's `data` has no such column"),
                None => format!("unknown variable `{name}`: extract it in an earlier step, or use iteration, probe, uuid or unix_ms"),
            })?;
            parts.push(Part::Var(var));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self { parts, escape })
    }

    /// Whether the template has no variables (then it is sent as parsed at load time).
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// The variables it uses.
    pub fn vars(&self) -> impl Iterator<Item = Var> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(var) => Some(*var),
            Part::Text(_) => None,
        })
    }

    /// Renders it with `value` giving each variable's text; `None` when one has no value.
    pub fn render<'v>(
        &self,
        value: impl Fn(Var) -> Option<std::borrow::Cow<'v, str>>,
    ) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Var(var) => push_escaped(&mut out, &value(*var)?, self.escape),
            }
        }
        Some(out)
    }

    /// The template with each variable written as `{name}` (named by `name`) and no value:
    /// how traces show a templated path without leaking what was rendered into it.
    pub fn outline(&self, name: impl Fn(Var) -> String) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Var(var) => {
                    out.push('{');
                    out.push_str(&name(*var));
                    out.push('}');
                }
            }
        }
        out
    }
}

fn push_escaped(out: &mut String, value: &str, escape: Escape) {
    match escape {
        Escape::None => out.push_str(value),
        Escape::Json => {
            let quoted = serde_json::Value::String(value.to_owned()).to_string();
            out.push_str(&quoted[1..quoted.len() - 1]);
        }
        Escape::Url => {
            for byte in value.bytes() {
                if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                    out.push(char::from(byte));
                } else {
                    out.push_str(&format!("%{byte:02X}"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn resolve(name: &str) -> Option<Var> {
        (name == "id")
            .then_some(Var::Extracted(0))
            .or_else(|| Var::builtin(name))
    }

    #[test]
    fn parses_and_renders_with_escaping() {
        let t =
            Template::parse("/s/{{ id }}/x?n={{iteration}}", Escape::Url, resolve).expect("valid");
        assert!(!t.is_literal());
        let value = |v: Var| match v {
            Var::Extracted(0) => Some(Cow::Borrowed("a b/c")),
            Var::Iteration => Some(Cow::Borrowed("7")),
            _ => None,
        };
        assert_eq!(t.render(value).as_deref(), Some("/s/a%20b%2Fc/x?n=7"));
        let json = Template::parse(r#"{"v":"{{id}}"}"#, Escape::Json, resolve).expect("valid");
        assert_eq!(
            json.render(|_| Some(Cow::Borrowed("say \"hi\"")))
                .as_deref(),
            Some(r#"{"v":"say \"hi\""}"#)
        );
    }

    #[test]
    fn unknown_variables_and_missing_values() {
        let err = Template::parse("/{{nope}}", Escape::Url, resolve).expect_err("unknown");
        assert!(err.contains("unknown variable `nope`"), "{err}");
        assert!(Template::parse("/{{id", Escape::Url, resolve).is_err());
        let t = Template::parse("/{{id}}", Escape::Url, resolve).expect("valid");
        assert_eq!(
            t.render(|_| None),
            None,
            "a missing value leaves nothing to send"
        );
        assert!(
            Template::parse("/plain", Escape::Url, resolve)
                .expect("valid")
                .is_literal()
        );
    }
}
