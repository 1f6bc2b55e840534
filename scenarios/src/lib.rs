//! The scenario format: TOML files (docs/scenario-format.md), their validation with positions,
//! variants, compilation into a [`WorldSpec`], and the built-in catalog.

pub mod catalog;
pub mod changes;
pub mod compare;
mod compile;
pub mod error;
pub mod expect;
pub mod explain;
pub mod fault_names;
pub mod replay;
pub mod runner;
pub mod schema;
pub mod shrink;
pub mod sweep;
pub mod testing;

use faultline_models::WorldSpec;
use faultline_sim::Budget;

pub use changes::Changes;
pub use compile::{MAX_DURATION_S, MAX_NODES};
pub use error::{ScenarioError, ScenarioErrors};

/// Scenario text and the name to report it under (a path, or `catalog:NAME`).
#[derive(Clone, Debug)]
pub struct Source {
    pub file: String,
    pub text: String,
}

/// Largest scenario file accepted (a scenario is a page of TOML, not a data set).
pub const MAX_FILE_BYTES: usize = 4 << 20;

impl Source {
    /// Scenario bytes from a file: must be UTF-8 (the error points at the first bad byte).
    pub fn from_bytes(file: &str, bytes: Vec<u8>) -> Result<Source, ScenarioErrors> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(
                ScenarioError::new(file, "", None, format!("file is larger than {MAX_FILE_BYTES} bytes")).into()
            );
        }
        let text = utf8_text(file, bytes, "scenario files are TOML, which must be UTF-8")?;
        Ok(Source { file: file.to_owned(), text })
    }
}

/// A count and a noun whose plural takes an `s`, as text output says them: "1 seed", "2 seeds",
/// "0 seeds".
pub fn count<N: std::fmt::Display + PartialEq + From<u8>>(n: N, noun: &str) -> String {
    if n == N::from(1) { format!("{n} {noun}") } else { format!("{n} {noun}s") }
}

/// `word` as one word of a POSIX shell command line: as it is when it has only characters no
/// shell treats specially, else in single quotes (a `'` inside written `'\''`). Commands the
/// output offers to copy (a worst seed's replay) must run as pasted, whatever the names.
pub fn shell_word(word: &str) -> std::borrow::Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.into()
    } else {
        format!("'{}'", word.replace('\'', r"'\''")).into()
    }
}

/// `name` (a scenario's or a variant's) as part of a file name: letters, digits, `-`, `_` and
/// `.` kept, anything else (a `/`, a space, a control character) `_`. Names are free text, and
/// a file written into a directory must land there (`../../x` must not climb out of it).
pub fn file_name_part(name: &str) -> String {
    name.chars().map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect()
}

/// The bytes of a file as text, or an error at the line and column of the first byte that is
/// not UTF-8, with `help` (scenario, replay and sweep record files alike).
pub fn utf8_text(file: &str, bytes: Vec<u8>, help: &str) -> Result<String, ScenarioErrors> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let good = std::str::from_utf8(&e.as_bytes()[..at]).expect("valid up to here");
        ScenarioError::new(file, good, Some(at..at), "expected UTF-8 text, found a byte that is not")
            .with_help(help)
            .into()
    })
}

#[derive(Clone, Debug, PartialEq)]
pub struct VariantInfo {
    pub name: String,
    pub description: String,
}

/// A scenario that parsed and validated, with every variant checked.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub source: Source,
    /// At least one: `base` when the file defines none.
    pub variants: Vec<VariantInfo>,
    pub default_seed: u64,
    pub max_events: Option<u64>,
    pub max_held: Option<u64>,
    /// `[[expect]]` checks, in file order.
    pub expectations: Vec<expect::Expectation>,
    /// What the file says, as 16 hex digits ([`fingerprint`]): sweep records carry it, so runs
    /// of another scenario, or of this one before an edit, are never pooled with these.
    pub fingerprint: String,
    /// The command line's `--set` and `--vary`, already made in `source` (empty for a file as
    /// it is): sweep records carry them, so that what reproduces a run repeats them.
    pub changes: Changes,
    base: WorldSpec,
    /// Compiled variants, in file order (empty when there are none beyond the base).
    compiled: Vec<WorldSpec>,
}

/// Why [`Scenario::parse_with`] gave no scenario: a mistake in the file (with its position), or
/// one the command line's changes made (no position: the file is not at fault).
#[derive(Debug)]
pub enum ParseError {
    File(ScenarioErrors),
    Changes(String),
}

/// A scenario ready to run.
#[derive(Clone, Debug)]
pub struct Compiled<'a> {
    pub scenario: &'a Scenario,
    pub variant: &'a str,
    pub spec: &'a WorldSpec,
    pub budget: Budget,
}

fn parse_file(src: &Source) -> Result<(schema::ScenarioFile, WorldSpec), ScenarioErrors> {
    if src.text.trim().is_empty() {
        return Err(ScenarioError::new(&src.file, &src.text, Some(0..0), "the file is empty")
            .with_help("a scenario needs at least a [scenario] table with `name` and `duration_s`")
            .into());
    }
    let file: schema::ScenarioFile = toml::from_str(&src.text).map_err(|e| {
        let msg = error::plain(e.message().trim_end());
        ScenarioError::new(&src.file, &src.text, e.span().or(Some(0..0)), msg)
    })?;
    let mut ck = compile::Checker::new(&src.file, &src.text);
    let spec = ck.compile(&file);
    if ck.errors.is_empty() {
        Ok((file, spec))
    } else {
        Err(ScenarioErrors { file: src.file.clone(), errors: ck.errors })
    }
}

impl Scenario {
    /// Parses and validates a scenario and all of its variants.
    pub fn parse(src: &Source) -> Result<Scenario, ScenarioErrors> {
        let (file, base) = parse_file(src)?;
        let mut variants = Vec::new();
        let mut compiled = Vec::new();
        let mut errors = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (i, v) in file.variants.iter().enumerate() {
            let span = v.span();
            // The variant's text: from its header to the next one's (a TOML table's span is its
            // header alone), where its `set` keys are written.
            let text_end = file.variants.get(i + 1).map_or(src.text.len(), |next| next.span().start);
            let v = v.get_ref();
            let name = v.name.get_ref().clone();
            if let Some(e) = compile::control_character(&name) {
                errors.push(ScenarioError::new(&src.file, &src.text, Some(v.name.span()), e));
                continue;
            }
            if !seen.insert(name.clone()) {
                errors.push(ScenarioError::new(
                    &src.file,
                    &src.text,
                    Some(v.name.span()),
                    format!("duplicate variant `{name}`"),
                ));
                continue;
            }
            // Paths a variant cannot change: they are not part of the world it builds, and
            // would be accepted and then ignored.
            let fixed: Vec<ScenarioError> = v
                .set
                .keys()
                .filter_map(|path| {
                    let why = fixed_path(path)?;
                    let at = key_span(&src.text, span.start..text_end.max(span.end), path).unwrap_or(span.clone());
                    Some(
                        ScenarioError::new(
                            &src.file,
                            &src.text,
                            Some(at),
                            format!("`{path}` cannot be set per variant"),
                        )
                        .with_help(why),
                    )
                })
                .collect();
            if !fixed.is_empty() {
                errors.extend(fixed);
                variants.push(VariantInfo { name, description: v.description.clone() });
                continue;
            }
            match apply_variant(src, &v.set) {
                Ok(spec) => compiled.push(spec),
                Err(msg) => errors.push(
                    ScenarioError::new(&src.file, &src.text, Some(span), format!("variant `{name}`: {msg}"))
                        .with_label("in this variant"),
                ),
            }
            variants.push(VariantInfo { name, description: v.description.clone() });
        }
        if variants.is_empty() {
            variants.push(VariantInfo { name: "base".to_owned(), description: "the scenario as written".to_owned() });
        }
        let mut expectations = Vec::new();
        if !file.expects.is_empty() && errors.is_empty() {
            // What a report of each variant holds (names, fields), to check figures exist: a
            // variant may add some (a knob the report shows only when set).
            let skeleton = |spec: &WorldSpec, variant: &str| {
                let world = faultline_models::World::new(spec, 0, Budget::default());
                let report = faultline_models::RunReport::build(&world, file.scenario.name.get_ref(), variant);
                serde_json::to_value(&report).expect("a report serialises")
            };
            let skeletons: Vec<serde_json::Value> = if compiled.len() == variants.len() {
                compiled.iter().zip(&variants).map(|(spec, v)| skeleton(spec, &v.name)).collect()
            } else {
                vec![skeleton(&base, &variants[0].name)]
            };
            let faults: Vec<String> = base.faults.iter().map(|f| f.name.clone()).collect();
            let names: Vec<String> = variants.iter().map(|v| v.name.clone()).collect();
            for cfg in &file.expects {
                let mut err = |span, msg, help| errors.push(expect::error(&src.file, &src.text, span, msg, help));
                if let Some(e) = expect::Expectation::parse(cfg, &skeletons, &faults, &names, &mut err) {
                    // A span that starts after the end of sending holds only the drain's
                    // windows, if any: never what the check means.
                    if let (Some((from_ms, _)), Some(b)) = (e.between, &cfg.between_s)
                        && from_ms * 1e6 >= base.duration as f64
                    {
                        let end = compile::short(base.duration as f64 / 1e9);
                        err(
                            b.span(),
                            format!("`between_s` starts at or after the end of the scenario ({end} s)"),
                            None,
                        );
                        continue;
                    }
                    // Likewise a fault that is never active in a variant the check applies to:
                    // one that lasts 0 s, or starts at or after the end of sending.
                    if let (Some(name), Some(d)) = (&e.during, &cfg.during) {
                        let specs: Vec<(&str, &WorldSpec)> = if compiled.len() == variants.len() {
                            variants.iter().map(|v| v.name.as_str()).zip(compiled.iter()).collect()
                        } else {
                            vec![(variants[0].name.as_str(), &base)]
                        };
                        let never = specs.iter().filter(|(v, _)| e.applies_to(v)).find_map(|(v, spec)| {
                            let f = spec.faults.iter().find(|f| f.name == *name)?;
                            let end = compile::short(spec.duration as f64 / 1e9);
                            if f.end == Some(f.start) {
                                Some(format!("fault `{name}` lasts 0 s, so `during` it has no value"))
                            } else if f.start >= spec.duration {
                                Some(format!("fault `{name}` starts at or after the end of the scenario ({end} s)"))
                            } else {
                                None
                            }
                            .map(|m| if compiled.is_empty() { m } else { format!("{m} in variant `{v}`") })
                        });
                        if let Some(msg) = never {
                            err(d.span(), msg, None);
                            continue;
                        }
                    }
                    expectations.push(e);
                }
            }
        }
        if !errors.is_empty() {
            return Err(ScenarioErrors { file: src.file.clone(), errors });
        }
        Ok(Scenario {
            name: file.scenario.name.get_ref().clone(),
            description: file.scenario.description.clone(),
            source: src.clone(),
            variants,
            default_seed: file.scenario.seed.unwrap_or(1),
            max_events: file.scenario.max_events,
            max_held: file.scenario.max_held,
            expectations,
            fingerprint: fingerprint(&src.text),
            changes: Changes::default(),
            base,
            compiled,
        })
    }

    /// [`Scenario::parse`] of `src` with `changes` made ([`Changes::apply`]). `src` must be
    /// valid as it is (its mistakes are reported with their positions); a mistake the changes
    /// make has no place in the file, so it is said after the changes that made it.
    pub fn parse_with(src: &Source, changes: &Changes) -> Result<Scenario, ParseError> {
        let plain = Scenario::parse(src).map_err(ParseError::File)?;
        if changes.is_empty() {
            return Ok(plain);
        }
        let changed = changes.apply(src).map_err(ParseError::Changes)?;
        let mut sc = Scenario::parse(&changed).map_err(|e| {
            let msgs: Vec<String> = e.errors.iter().map(|e| e.message.clone()).collect();
            ParseError::Changes(format!("after{}: {}", changes.command_words(), msgs.join("; ")))
        })?;
        sc.changes = changes.clone();
        Ok(sc)
    }

    /// The named variant (the first when `None`).
    pub fn variant(&self, name: Option<&str>) -> Result<Compiled<'_>, String> {
        let i = match name {
            None => 0,
            Some(n) => self.variants.iter().position(|v| v.name == n).ok_or_else(|| {
                let known: Vec<&str> = self.variants.iter().map(|v| v.name.as_str()).collect();
                format!("scenario `{}` has no variant `{n}` (variants: {})", self.name, known.join(", "))
            })?,
        };
        let spec = if self.compiled.is_empty() { &self.base } else { &self.compiled[i] };
        let mut budget = Budget::default();
        if let Some(m) = self.max_events {
            budget.max_events = m;
        }
        if let Some(m) = self.max_held {
            budget.max_held = m;
        }
        Ok(Compiled { scenario: self, variant: &self.variants[i].name, spec, budget })
    }
}

/// A stable hash (FNV-1a, 64 bits) of a scenario's parsed TOML document, variants and
/// expectations included: comments, whitespace, key order and the way a value is spelled
/// (`5` or `0x5`, quoted or literal strings) leave it as it was; any changed value moves it.
/// The document is walked by hand rather than hashed as `toml`'s output, so a new version of
/// that crate cannot change it. Text that is not TOML is hashed as it is.
pub fn fingerprint(text: &str) -> String {
    fn walk(v: &toml::Value, out: &mut Vec<u8>) {
        // Each value: a tag, then its content; strings and containers length-first, so no two
        // documents encode alike.
        let bytes = |out: &mut Vec<u8>, b: &[u8]| {
            out.extend_from_slice(&(b.len() as u64).to_le_bytes());
            out.extend_from_slice(b);
        };
        match v {
            toml::Value::String(s) => {
                out.push(b's');
                bytes(out, s.as_bytes());
            }
            toml::Value::Integer(i) => {
                out.push(b'i');
                out.extend_from_slice(&i.to_le_bytes());
            }
            toml::Value::Float(x) => {
                out.push(b'f');
                out.extend_from_slice(&x.to_bits().to_le_bytes());
            }
            toml::Value::Boolean(b) => out.extend_from_slice(&[b'b', u8::from(*b)]),
            toml::Value::Datetime(d) => {
                out.push(b'd');
                bytes(out, d.to_string().as_bytes());
            }
            toml::Value::Array(items) => {
                out.push(b'a');
                out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                items.iter().for_each(|it| walk(it, out));
            }
            toml::Value::Table(t) => {
                out.push(b't');
                out.extend_from_slice(&(t.len() as u64).to_le_bytes());
                let mut keys: Vec<&String> = t.keys().collect();
                keys.sort();
                for k in keys {
                    bytes(out, k.as_bytes());
                    walk(&t[k], out);
                }
            }
        }
    }
    let h = match toml::from_str::<toml::Table>(text) {
        Ok(doc) => {
            let mut out = Vec::with_capacity(text.len());
            walk(&toml::Value::Table(doc), &mut out);
            faultline_sim::rng::fnv1a64(&out)
        }
        Err(_) => faultline_sim::rng::fnv1a64(text.as_bytes()),
    };
    format!("{h:016x}")
}

/// Why `set` path `path` cannot be set per variant, if it cannot: what is the scenario's own
/// (its name, seed, budgets, description), expectations and variants themselves.
pub(crate) fn fixed_path(path: &str) -> Option<&'static str> {
    let mut parts = path.split('.');
    match (parts.next(), parts.next()) {
        (Some("scenario"), Some("duration_s" | "window_ms")) => None,
        (Some("scenario"), Some("max_events" | "max_held")) => Some(
            "the budgets are the scenario's, the same for every variant (`--max-events` overrides the event budget)",
        ),
        (Some("scenario"), _) => Some(
            "of `[scenario]` a variant can set `duration_s` and `window_ms`; its name, seed and budgets are the scenario's",
        ),
        (Some("expect"), _) => Some("an `[[expect]]` names the variants it applies to with `variants = [...]`"),
        (Some("variant"), _) => Some("a variant cannot change variants"),
        _ => None,
    }
}

/// Where `set` key `path` is written inside `within` (a variant's text).
fn key_span(text: &str, within: std::ops::Range<usize>, path: &str) -> Option<std::ops::Range<usize>> {
    text.get(within.clone()).and_then(|t| t.find(path)).map(|i| {
        // Include the key's quotes when it has them.
        let (start, end) = (within.start + i, within.start + i + path.len());
        let quoted = start > 0
            && matches!(text.as_bytes()[start - 1], b'"' | b'\'')
            && matches!(text.as_bytes().get(end), Some(b'"' | b'\''));
        if quoted { start - 1..end + 1 } else { start..end }
    })
}

/// Applies a variant's `set` entries to the scenario document and compiles the result.
fn apply_variant(src: &Source, set: &toml::Table) -> Result<WorldSpec, String> {
    let mut doc: toml::Table = toml::from_str(&src.text).map_err(|e| e.message().to_owned())?;
    doc.remove("variant");
    for (path, value) in set {
        set_path(&mut doc, path, value.clone()).map_err(|e| format!("`{path}`: {e}"))?;
    }
    let text = toml::to_string(&doc).map_err(|e| e.to_string())?;
    let patched = Source { file: src.file.clone(), text };
    parse_file(&patched).map(|(_, spec)| spec).map_err(|e| {
        let msgs: Vec<String> = e.errors.iter().map(|e| e.message.clone()).collect();
        // The patched text has no place in the file to point at: name what was set instead.
        let paths: Vec<String> = set.keys().map(|p| format!("`{p}`")).collect();
        format!("after applying `set` ({}): {}", paths.join(", "), msgs.join("; "))
    })
}

/// Sets `a.b.c` in a TOML document. Arrays of tables are indexed by an element's `name` or by
/// position; missing tables on the way are created.
pub(crate) fn set_path(doc: &mut toml::Table, path: &str, value: toml::Value) -> Result<(), String> {
    let parts: Vec<&str> = path.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err("expected a dotted path like `service.api.workers`".to_owned());
    }
    let mut cur = doc;
    let mut i = 0;
    while i < parts.len() - 1 {
        let key = parts[i];
        // An index into an array the file does not have: a table `{"0": …}` made here would
        // only fail later as "expected a sequence", naming neither.
        if !cur.contains_key(key) && parts[i + 1].parse::<usize>().is_ok() {
            return Err(format!("the scenario has no `{key}`, so no index {}", parts[i + 1]));
        }
        let entry = cur.entry(key.to_owned()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match entry {
            toml::Value::Table(t) => {
                cur = t;
                i += 1;
            }
            toml::Value::Array(items) => {
                let sel = parts[i + 1];
                let idx = match sel.parse::<usize>() {
                    Ok(n) if n < items.len() => n,
                    Ok(n) => return Err(format!("`{key}` has {} entries, no index {n}", items.len())),
                    Err(_) => items
                        .iter()
                        .position(|it| it.get("name").and_then(|n| n.as_str()) == Some(sel))
                        .ok_or_else(|| format!("no `{key}` named `{sel}`"))?,
                };
                if i + 2 > parts.len() - 1 {
                    items[idx] = value;
                    return Ok(());
                }
                cur = match &mut items[idx] {
                    toml::Value::Table(t) => t,
                    _ => return Err(format!("`{key}.{sel}` is not a table")),
                };
                i += 2;
            }
            _ => return Err(format!("`{key}` is not a table")),
        }
    }
    cur.insert(parts[parts.len() - 1].to_owned(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[scenario] # a comment\nname = \"s\"\nduration_s = 10\n\n[[service]]\nname = \"api\"\nworkers = 4\n\n[[service]]\nname = \"db\"\n";

    /// Each word, in `sh -c "printf %s WORD"`, comes back as itself.
    #[cfg(unix)]
    #[test]
    fn a_shell_word_reads_back_as_itself() {
        assert_eq!(shell_word("catalog-name_1.toml"), "catalog-name_1.toml");
        assert_eq!(shell_word("my scenario.toml"), "'my scenario.toml'");
        for word in ["my scenario.toml", "it's", "a;b|c&d", "$(rm -rf x)`y`", "\"q\" <i>", "", "é", "a\nb", "~x", "*"]
        {
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("printf '%s' {}", shell_word(word))])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), word, "{}", shell_word(word));
        }
    }

    #[test]
    fn a_file_name_part_stays_one_path_component() {
        assert_eq!(file_name_part("checkout-outage_2.b"), "checkout-outage_2.b");
        assert_eq!(file_name_part("../../escaped"), ".._.._escaped");
        assert_eq!(file_name_part("fail/fast é\n"), "fail_fast_é_");
        for name in ["../../x", "/abs", "a/../../b", "..", "c:\\x"] {
            let joined = std::path::Path::new("dir").join(format!("{}-v-1.json", file_name_part(name)));
            assert_eq!(joined.parent(), Some(std::path::Path::new("dir")), "{name}");
        }
    }

    #[test]
    fn a_fingerprint_ignores_comments_layout_and_key_order_but_not_values() {
        let same = "[[service]]\nworkers = 4\nname = 'api'\n[[service]]\nname = \"db\"\n[scenario]\nduration_s = 10\nname = \"s\"";
        assert_eq!(fingerprint(TEXT), fingerprint(same));
        assert_eq!(fingerprint(TEXT).len(), 16);
        for changed in [
            TEXT.replace("workers = 4", "workers = 5"),
            TEXT.replace("workers = 4", "workers = 4.0"),
            TEXT.replace("name = \"s\"", "name = \"t\""),
            // Order of array entries is meaningful (instances and actors are numbered by it).
            "[scenario]\nname = \"s\"\nduration_s = 10\n[[service]]\nname = \"db\"\n[[service]]\nname = \"api\"\nworkers = 4\n"
                .to_owned(),
            TEXT.replace("name = \"db\"", "name = \"db\"\nworkers = 1"),
        ] {
            assert_ne!(fingerprint(TEXT), fingerprint(&changed), "{changed}");
        }
        // Pinned (computed independently of this code): a fingerprint must not move between
        // builds, or a sweep would refuse to resume its own file (docs/cli.md).
        assert_eq!(fingerprint(TEXT), "001de2c9ff9fec66");
    }
}
