//! `${VAR}` substitution in the config text, before YAML parsing.

use super::ConfigError;

/// Replaces `${NAME}` with its value and `$${` with a literal `${`; full-line comments are
/// left alone, so a commented-out setting never needs its variable.
///
/// Done on the text before parsing so that YAML line numbers stay those of the file.
pub(super) fn expand_variables(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
        } else {
            expand_line(line, index + 1, &lookup, &mut out)?;
        }
    }
    Ok(out)
}

fn expand_line(
    line: &str,
    number: usize,
    lookup: &impl Fn(&str) -> Option<String>,
    out: &mut String,
) -> Result<(), ConfigError> {
    let mut rest = line;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${")
            && let Some(end) = after.find('}')
        {
            let name = &after[..end];
            let value = lookup(name).ok_or_else(|| ConfigError::MissingVariable {
                name: name.to_owned(),
                line: number,
            })?;
            out.push_str(&value);
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cret".to_owned())
    }

    #[test]
    fn expands_variables_and_escapes() {
        let out = expand_variables("a: ${TOKEN}\nb: $${TOKEN}\nc: $5", env).expect("expands");
        assert_eq!(out, "a: s3cret\nb: ${TOKEN}\nc: $5");
    }

    #[test]
    fn comment_lines_are_not_expanded() {
        let out = expand_variables("# token: ${NOPE}\na: ${TOKEN}\n", env).expect("expands");
        assert_eq!(out, "# token: ${NOPE}\na: s3cret\n");
    }

    #[test]
    fn missing_variable_names_its_line() {
        let err = expand_variables("a: 1\nb: ${NOPE}", env).expect_err("must fail");
        assert!(
            matches!(err, ConfigError::MissingVariable { line: 2, .. }),
            "{err}"
        );
    }
}
