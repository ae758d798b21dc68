//! Quoting for the three places a configured value can land: an `Environment=` assignment in a
//! unit file, an argument of an `Exec*=` line, and a line of an `EnvironmentFile=`.
//!
//! Validation has already rejected control characters (newlines above all), so escaping only
//! has to neutralise quotes, backslashes, `%` specifiers and, on Exec lines, `$` expansion.

/// `"NAME=value"` for `Environment=`: systemd unquotes, C-unescapes, then expands `%`
/// specifiers, so `\` and `"` are backslash-escaped and `%` doubled.
pub fn environment(name: &str, value: &str) -> String {
    debug_assert!(name
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'));
    let mut s = String::with_capacity(name.len() + value.len() + 3);
    s.push('"');
    s.push_str(name);
    s.push('=');
    push_unit_quoted(&mut s, value, false);
    s.push('"');
    s
}

/// One argument of an `Exec*=` line, always double-quoted; `$` is doubled so systemd does not
/// substitute environment variables into it.
pub fn exec_arg(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    push_unit_quoted(&mut s, value, true);
    s.push('"');
    s
}

fn push_unit_quoted(s: &mut String, value: &str, dollar: bool) {
    for c in value.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '%' => s.push_str("%%"),
            '$' if dollar => s.push_str("$$"),
            c => s.push(c),
        }
    }
}

/// `NAME="value"` for an `EnvironmentFile=`: inside double quotes systemd removes the
/// backslash before `"`, `\`, `` ` `` and `$`; there is no `%` or `$` expansion in such files.
pub fn env_file_line(name: &str, value: &str) -> String {
    let mut s = String::with_capacity(name.len() + value.len() + 4);
    s.push_str(name);
    s.push_str("=\"");
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '`' | '$') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push_str("\"\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_quoting() {
        assert_eq!(environment("A", r#"x"y\z%n"#), r#""A=x\"y\\z%%n""#);
        assert_eq!(environment("A", "$HOME"), "\"A=$HOME\"");
    }

    #[test]
    fn exec_quoting() {
        assert_eq!(exec_arg("/var/lib/etcd $x%"), "\"/var/lib/etcd $$x%%\"");
    }

    #[test]
    fn env_file_quoting() {
        assert_eq!(
            env_file_line("P", "http://u:p\"$`\\@h"),
            "P=\"http://u:p\\\"\\$\\`\\\\@h\"\n"
        );
    }
}
