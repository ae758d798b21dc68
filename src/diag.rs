//! Diagnostics: every problem names the file, line, column, key, what was expected and a hint.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// A position inside one of the loaded source files (byte offsets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loc {
    pub file: usize,
    pub start: usize,
    pub end: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The file as the operator knows it (e.g. `/etc/fleetnode.d/10-proxy.toml`).
    pub file: String,
    /// 1-based; 0 when the problem is not tied to a line (e.g. an unreadable file).
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// Dotted key path (`etcd.peers.infra0`), empty when the problem is not about a key.
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
    /// The offending source line and the width of the span on it, for a caret display.
    pub source_line: Option<String>,
    pub span_chars: usize,
}

impl Diagnostic {
    pub fn new(
        file: impl Into<String>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Error,
            file: file.into(),
            line: 0,
            column: 0,
            key: key.into(),
            message: message.into(),
            hint: None,
            source_line: None,
            span_chars: 0,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    /// Sets line, column and source line from a byte span of `text`.
    pub fn at_span(mut self, text: &str, start: usize, end: usize) -> Self {
        let start = floor_char_boundary(text, start.min(text.len()));
        let end = floor_char_boundary(text, end.min(text.len())).max(start);
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        self.line = text[..start].matches('\n').count() + 1;
        self.column = text[line_start..start].chars().count() + 1;
        let line = &text[line_start..line_end];
        // Shown on terminals and in logs: control characters become U+FFFD, one column each,
        // so the caret stays aligned and nothing reaches the terminal raw.
        let shown = line.trim_end_matches('\r').chars().map(|c| {
            if c.is_control() && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        });
        self.source_line = Some(shown.collect());
        self.span_chars = text[start..end.min(line_end)].chars().count().max(1);
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The one-line form used in logs and in fleetnode-config.service:
    /// `FILE:LINE:COL: error: KEY: MESSAGE (hint: HINT)`.
    pub fn one_line(&self) -> String {
        let mut s = self.location();
        s.push_str(match self.severity {
            Severity::Error => "error: ",
            Severity::Warning => "warning: ",
        });
        if !self.key.is_empty() {
            s.push_str(&self.key);
            s.push_str(": ");
        }
        s.push_str(&self.message);
        if let Some(h) = &self.hint {
            s.push_str(" (hint: ");
            s.push_str(h);
            s.push(')');
        }
        s
    }

    fn location(&self) -> String {
        match (self.file.is_empty(), self.line) {
            (true, _) => String::new(),
            (false, 0) => format!("{}: ", self.file),
            (false, l) => format!("{}:{}:{}: ", self.file, l, self.column),
        }
    }
}

impl fmt::Display for Diagnostic {
    /// The rustc-style form: the one-line summary, the source line, and a caret under the span.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.key.is_empty() {
            writeln!(f, "{sev}: {}", self.message)?;
        } else {
            writeln!(f, "{sev}: {}: {}", self.key, self.message)?;
        }
        if !self.file.is_empty() {
            if self.line > 0 {
                writeln!(f, "  --> {}:{}:{}", self.file, self.line, self.column)?;
            } else {
                writeln!(f, "  --> {}", self.file)?;
            }
        }
        if let (Some(src), true) = (&self.source_line, self.line > 0) {
            let num = self.line.to_string();
            let pad = " ".repeat(num.len());
            writeln!(f, "{pad} |")?;
            writeln!(f, "{num} | {src}")?;
            let lead: String = src
                .chars()
                .take(self.column - 1)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            writeln!(f, "{pad} | {lead}{}", "^".repeat(self.span_chars))?;
        }
        if let Some(h) = &self.hint {
            writeln!(f, "  = hint: {h}")?;
        }
        Ok(())
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Levenshtein distance, for "did you mean" hints on unknown keys.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate within a small edit distance, if any.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&lower, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_to_line_and_column() {
        let text = "a = 1\n[etcd]\nrole = \"x\"\n";
        let start = text.find("\"x\"").unwrap();
        let d = Diagnostic::new("/etc/f.toml", "etcd.role", "bad").at_span(text, start, start + 3);
        assert_eq!((d.line, d.column, d.span_chars), (3, 8, 3));
        assert_eq!(d.source_line.as_deref(), Some("role = \"x\""));
        assert_eq!(d.one_line(), "/etc/f.toml:3:8: error: etcd.role: bad");
        let shown = d.to_string();
        assert!(
            shown.contains("3 | role = \"x\"\n  |        ^^^\n"),
            "{shown}"
        );
    }

    #[test]
    fn column_counts_characters_not_bytes() {
        let text = "name = \"ü\" # x\nk = 1";
        let start = text.find('#').unwrap();
        let d = Diagnostic::new("f", "", "m").at_span(text, start, start + 1);
        assert_eq!((d.line, d.column), (1, 12));
    }

    #[test]
    fn did_you_mean() {
        assert_eq!(
            closest("metadat", &["enabled", "metadata"]),
            Some("metadata")
        );
        assert_eq!(closest("peer", &["peers", "role"]), Some("peers"));
        assert_eq!(closest("zzzzzz", &["peers", "role"]), None);
    }
}
