//! Scenario mistakes, reported with file, line, column, what was found and what was expected.

use std::ops::Range;

use miette::{Diagnostic, NamedSource, SourceSpan};
use thiserror::Error;

/// One mistake in a scenario file.
#[derive(Debug, Error, Diagnostic)]
#[error("{message}")]
pub struct ScenarioError {
    pub message: String,
    pub file: String,
    /// 1-based line and column (in characters) of the start of the offending text.
    pub line: usize,
    pub column: usize,
    #[source_code]
    src: NamedSource<String>,
    #[label("{label}")]
    span: Option<SourceSpan>,
    label: String,
    #[help]
    help: Option<String>,
}

impl ScenarioError {
    pub fn new(file: &str, text: &str, span: Option<Range<usize>>, message: impl Into<String>) -> ScenarioError {
        let span = span.map(|r| clamp(text, r));
        let (line, column) = span.as_ref().map(|r| line_col(text, r.start)).unwrap_or((1, 1));
        ScenarioError {
            message: message.into(),
            file: file.to_owned(),
            line,
            column,
            src: NamedSource::new(file, text.to_owned()),
            label: "here".to_owned(),
            span: span.map(|r| SourceSpan::from(r.start..r.end.max(r.start))),
            help: None,
        }
    }

    pub fn label(&mut self, label: impl Into<String>) -> &mut Self {
        self.label = label.into();
        self
    }

    pub fn help(&mut self, help: impl Into<String>) -> &mut Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// `file:line:column: message` — the one-line form for logs and CI.
    pub fn one_line(&self) -> String {
        format!("{}:{}:{}: {}", self.file, self.line, self.column, self.message)
    }
}

/// Every mistake found in one file (validation keeps going after the first where it can).
#[derive(Debug, Error, Diagnostic)]
#[error("{} in {file}", if errors.len() == 1 { "1 error".to_owned() } else { format!("{} errors", errors.len()) })]
pub struct ScenarioErrors {
    pub file: String,
    #[related]
    pub errors: Vec<ScenarioError>,
}

impl From<ScenarioError> for ScenarioErrors {
    fn from(e: ScenarioError) -> Self {
        ScenarioErrors { file: e.file.clone(), errors: vec![e] }
    }
}

/// Keeps a span inside the text and on character boundaries.
fn clamp(text: &str, r: Range<usize>) -> Range<usize> {
    let fix = |mut i: usize| {
        i = i.min(text.len());
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let (s, e) = (fix(r.start), fix(r.end));
    s..e.max(s)
}

/// 1-based line and character column of byte offset `at`.
pub fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_in_characters() {
        let t = "a = 1\nbé = x\n";
        assert_eq!(line_col(t, 0), (1, 1));
        let x = t.find('x').unwrap();
        assert_eq!(line_col(t, x), (2, 6));
        let e = ScenarioError::new("f.toml", t, Some(x..x + 1), "bad");
        assert_eq!(e.one_line(), "f.toml:2:6: bad");
    }
}
