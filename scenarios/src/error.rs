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

/// Every mistake found in one file (validation keeps going after the first where it can). As
/// text, each one's one-line form: a property test's `?` or `unwrap` shows this, and "1 error
/// in FILE" said nothing.
#[derive(Debug, Error, Diagnostic)]
#[error("{}", summary(file, errors))]
pub struct ScenarioErrors {
    pub file: String,
    #[related]
    pub errors: Vec<ScenarioError>,
}

fn summary(file: &str, errors: &[ScenarioError]) -> String {
    let lines: Vec<String> = errors.iter().map(ScenarioError::one_line).collect();
    format!("{} in {file}: {}", crate::count(errors.len(), "error"), lines.join("; "))
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

/// A TOML/serde message in the scenario format's words: serde names the Rust types it wanted
/// (`expected f64`, `expected u32`, `expected struct DistCfg`, `integer … as i128`), which mean
/// nothing to whoever writes the file.
pub fn plain(msg: &str) -> String {
    let mut out = msg.replace(" as i128", "").replace(" as u64", "");
    for (rust, words) in [
        ("expected f64", "expected a number"),
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        ("expected u32", "expected a whole number from 0 to 4294967295"),
        ("expected u64", "expected a whole number from 0 to 18446744073709551615"),
        ("expected usize", "expected a whole number ≥ 0"),
        ("expected i64", "expected a whole number"),
        ("expected struct DistCfg", "expected a distribution table, e.g. `{ dist = \"exponential\", mean_ms = 5 }`"),
    ] {
        out = out.replace(rust, words);
    }
    // Any other table type: `expected struct ServiceCfg` → `expected a table`.
    while let Some(i) = out.find("expected struct ") {
        let end = out[i + 16..].find(|c: char| !c.is_alphanumeric()).map_or(out.len(), |e| i + 16 + e);
        out.replace_range(i..end, "expected a table");
    }
    out
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
        // As text, every error says what and where (it was only "1 error in f.toml").
        let two = ScenarioErrors {
            file: "f.toml".into(),
            errors: vec![e, ScenarioError::new("f.toml", t, Some(0..1), "worse")],
        };
        assert_eq!(two.to_string(), "2 errors in f.toml: f.toml:2:6: bad; f.toml:1:1: worse");
    }

    #[test]
    fn serdes_rust_type_names_are_said_in_the_formats_words() {
        for (serde, plain_text) in [
            ("invalid type: string \"30\", expected f64", "invalid type: string \"30\", expected a number"),
            (
                "invalid value: integer `-1`, expected u32",
                "invalid value: integer `-1`, expected a whole number from 0 to 4294967295",
            ),
            (
                "invalid type: integer `99999999999999999999` as i128, expected f64",
                "invalid type: integer `99999999999999999999`, expected a number",
            ),
            (
                "invalid type: integer `5`, expected struct DistCfg",
                "invalid type: integer `5`, expected a distribution table, e.g. `{ dist = \"exponential\", mean_ms = 5 }`",
            ),
            ("invalid type: string \"x\", expected struct RetryCfg", "invalid type: string \"x\", expected a table"),
        ] {
            assert_eq!(plain(serde), plain_text);
        }
    }
}
