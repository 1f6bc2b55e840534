//! Changes to a scenario given on the command line: `--set PATH=VALUE` edits the document as if
//! its file said so, and `--vary PATH=V1,V2,…` turns it into one variant per value (per
//! combination of values, with several), each of the file's variants once per value. The
//! result is a new document, parsed and validated like a file; it is what a run embeds in its
//! replay file and what its fingerprint is taken of, so runs with and without changes are never
//! pooled, and every command that reproduces a run repeats the changes (docs/cli.md).

use crate::{Source, fixed_path, set_path};

/// The `--set` and `--vary` arguments, as given (in order: later `--set`s win).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub set: Vec<String>,
    pub vary: Vec<String>,
}

/// Most variants `--vary` may make (the product of its value counts, times the file's variants):
/// a sweep runs each on every seed.
pub const MAX_VARIANTS: usize = 256;

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.vary.is_empty()
    }

    /// The changes as command-line words (each quoted for a POSIX shell where it needs it),
    /// each preceded by a space: what a command that reproduces a run must repeat.
    pub fn command_words(&self) -> String {
        let flags = self.set.iter().map(|s| ("--set", s)).chain(self.vary.iter().map(|v| ("--vary", v)));
        flags.map(|(flag, arg)| format!(" {flag} {}", crate::shell_word(arg))).collect()
    }

    /// `src` with the changes made: a source of the same name whose text is the changed
    /// document (TOML, without the file's comments). `src` itself must be a valid scenario; the
    /// result is checked again from scratch by whoever parses it. The error names the argument
    /// at fault.
    pub fn apply(&self, src: &Source) -> Result<Source, String> {
        let mut doc: toml::Table = toml::from_str(&src.text).map_err(|e| e.message().to_owned())?;
        for arg in &self.set {
            let (path, text) = split(arg).map_err(|e| format!("--set {arg}: {e}"))?;
            let value = value(text).map_err(|e| format!("--set {arg}: {e}"))?;
            set_path(&mut doc, path, value).map_err(|e| format!("--set {arg}: {e}"))?;
        }
        if !self.vary.is_empty() {
            vary(&mut doc, &self.vary)?;
        }
        let text = toml::to_string(&doc).map_err(|e| e.to_string())?;
        Ok(Source { file: src.file.clone(), text })
    }
}

/// `PATH=VALUE` split at its first `=`.
fn split(arg: &str) -> Result<(&str, &str), String> {
    match arg.split_once('=') {
        Some((path, value)) if !path.trim().is_empty() => Ok((path.trim(), value.trim())),
        _ => Err("expected PATH=VALUE, e.g. `service.api.workers=8`".to_owned()),
    }
}

/// A value as TOML writes it (`8`, `0.5`, `true`, `"x"`, `{ max_attempts = 3 }`, `[1, 2]`), or a
/// bare word (`round-robin`) as a string: shells eat quotes, and an unquoted policy name is what
/// people type.
fn value(text: &str) -> Result<toml::Value, String> {
    if text.is_empty() {
        return Err("expected a value after `=`".to_owned());
    }
    match toml::from_str::<toml::Table>(&format!("v = {text}")) {
        Ok(mut t) if t.len() == 1 => Ok(t.remove("v").expect("one key, `v`")),
        _ if text.chars().all(|c| c.is_alphanumeric() || "-_.:/".contains(c)) => Ok(toml::Value::String(text.into())),
        Err(e) => Err(format!("`{text}` is not a TOML value ({})", e.message().trim_end())),
        Ok(_) => Err(format!("`{text}` is not one TOML value")),
    }
}

/// The items of `V1,V2,…`: split at the commas outside brackets, braces and quotes, so that
/// `{ a = 1, b = 2 },[1, 2]` is two values.
fn items(list: &str) -> Vec<&str> {
    let (mut depth, mut quote, mut start, mut out) = (0i32, None, 0, Vec::new());
    for (i, c) in list.char_indices() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth -= 1,
            (None, ',') if depth == 0 => {
                out.push(list[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(list[start..].trim());
    out
}

/// One `--vary`: its path, and each value with its text as given (the variants' names).
struct Axis<'a> {
    arg: &'a str,
    path: &'a str,
    values: Vec<(&'a str, toml::Value)>,
}

/// Replaces the document's variants by one per (file variant, combination of the axes' values),
/// and points each `[[expect]]`'s `variants` at the new variants made from the ones it named.
fn vary(doc: &mut toml::Table, args: &[String]) -> Result<(), String> {
    let mut axes: Vec<Axis> = Vec::new();
    for arg in args {
        let bad = |e: String| format!("--vary {arg}: {e}");
        let (path, list) =
            split(arg).map_err(|_| bad("expected PATH=V1,V2,…, e.g. `service.api.workers=4,8,16`".into()))?;
        if let Some(why) = fixed_path(path) {
            return Err(bad(format!("`{path}` cannot be varied: {why}")));
        }
        if let Some(other) = axes.iter().find(|a| overlap(a.path, path)) {
            return Err(bad(format!("it overlaps --vary {}", other.arg)));
        }
        let mut values: Vec<(&str, toml::Value)> = Vec::new();
        for text in items(list) {
            let v = value(text).map_err(bad)?;
            if values.iter().any(|(t, _)| *t == text) {
                return Err(bad(format!("`{text}` is listed twice")));
            }
            values.push((text, v));
        }
        axes.push(Axis { arg, path, values });
    }
    // Names say each value under its path's last part, or the whole path where two axes share it.
    let label = |a: &Axis, text: &str| {
        let last = a.path.rsplit('.').next().unwrap_or(a.path);
        let shared = axes.iter().filter(|b| b.path.rsplit('.').next() == Some(last)).count() > 1;
        format!("{}={text}", if shared { a.path } else { last })
    };
    let file_variants = match doc.remove("variant") {
        Some(toml::Value::Array(vs)) => vs,
        _ => Vec::new(),
    };
    let combos = axes.iter().map(|a| a.values.len()).product::<usize>() * file_variants.len().max(1);
    if combos > MAX_VARIANTS {
        return Err(format!("--vary makes {combos} variants; at most {MAX_VARIANTS} are allowed"));
    }
    let mut made: Vec<toml::Value> = Vec::new();
    // Per file variant's name, the names made from it: for `[[expect]] variants`.
    let mut from: Vec<(String, Vec<String>)> = Vec::new();
    let bases: Vec<Option<&toml::Table>> =
        if file_variants.is_empty() { vec![None] } else { file_variants.iter().map(|v| v.as_table()).collect() };
    for base in bases {
        let base_name = base.and_then(|b| b.get("name")).and_then(|n| n.as_str());
        let base_set = base.and_then(|b| b.get("set")).and_then(|s| s.as_table());
        if let (Some(set), Some(name)) = (base_set, base_name) {
            for key in set.keys() {
                if let Some(a) = axes.iter().find(|a| overlap(a.path, key)) {
                    return Err(format!(
                        "--vary {}: variant `{name}` sets `{key}` itself, so varying it there would undo the variant",
                        a.arg
                    ));
                }
            }
        }
        let mut names = Vec::new();
        let mut pick = vec![0usize; axes.len()];
        loop {
            let labels: Vec<String> = axes.iter().zip(&pick).map(|(a, &i)| label(a, a.values[i].0)).collect();
            let name =
                base_name.into_iter().map(str::to_owned).chain(labels.iter().cloned()).collect::<Vec<_>>().join(" ");
            let mut set = base_set.cloned().unwrap_or_default();
            for (a, &i) in axes.iter().zip(&pick) {
                set.insert(a.path.to_owned(), a.values[i].1.clone());
            }
            // The file variant's words, or (the name saying the values under short names) the
            // whole paths.
            let said = base.and_then(|b| b.get("description")).and_then(|d| d.as_str()).map(str::to_owned);
            let whole = || axes.iter().zip(&pick).map(|(a, &i)| format!("{} = {}", a.path, a.values[i].0));
            let mut v = toml::Table::new();
            v.insert("name".into(), toml::Value::String(name.clone()));
            let description = said.unwrap_or_else(|| whole().collect::<Vec<_>>().join(", "));
            v.insert("description".into(), toml::Value::String(description));
            v.insert("set".into(), toml::Value::Table(set));
            made.push(toml::Value::Table(v));
            names.push(name);
            // The next combination, the last axis fastest (so values appear in the order given).
            let mut k = axes.len();
            loop {
                if k == 0 {
                    break;
                }
                k -= 1;
                pick[k] += 1;
                if pick[k] < axes[k].values.len() {
                    break;
                }
                pick[k] = 0;
            }
            if pick.iter().all(|&i| i == 0) {
                break;
            }
        }
        if let Some(n) = base_name {
            from.push((n.to_owned(), names));
        }
    }
    if let Some(toml::Value::Array(expects)) = doc.get_mut("expect") {
        for e in expects.iter_mut().filter_map(|e| e.as_table_mut()) {
            if let Some(toml::Value::Array(vs)) = e.get_mut("variants") {
                // A name that is no file variant's stays, for validation to report.
                *vs = vs
                    .iter()
                    .flat_map(|v| match from.iter().find(|(n, _)| Some(n.as_str()) == v.as_str()) {
                        Some((_, names)) => names.iter().map(|n| toml::Value::String(n.clone())).collect(),
                        None => vec![v.clone()],
                    })
                    .collect();
            }
        }
    }
    doc.insert("variant".into(), toml::Value::Array(made));
    Ok(())
}

/// Whether one dotted path is the other or lies inside it.
fn overlap(a: &str, b: &str) -> bool {
    let inside = |x: &str, y: &str| x == y || x.strip_prefix(y).is_some_and(|rest| rest.starts_with('.'));
    inside(a, b) || inside(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[scenario]\nname = \"s\"\nduration_s = 10\n\n[[region]]\nname = \"r\"\nzones = [\"z\"]\n\n\
        [[service]]\nname = \"api\"\nzones = [\"z\"]\nworkers = 4\nservice_time = { dist = \"exponential\", mean_ms = 5 }\n\n\
        [[workload]]\nname = \"users\"\nzone = \"z\"\ntarget = \"api\"\ntimeout_ms = 1000\narrival = { process = \"poisson\", rate_per_s = 100 }\n";

    fn src(text: &str) -> Source {
        Source { file: "s.toml".into(), text: text.into() }
    }

    fn changes(set: &[&str], vary: &[&str]) -> Changes {
        Changes { set: set.iter().map(|s| s.to_string()).collect(), vary: vary.iter().map(|s| s.to_string()).collect() }
    }

    fn doc(c: &Changes, text: &str) -> toml::Table {
        toml::from_str(&c.apply(&src(text)).unwrap().text).unwrap()
    }

    fn variant_names(t: &toml::Table) -> Vec<String> {
        t["variant"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn values_are_toml_or_bare_words() {
        assert_eq!(value("8").unwrap(), toml::Value::Integer(8));
        assert_eq!(value("0.5").unwrap(), toml::Value::Float(0.5));
        assert_eq!(value("true").unwrap(), toml::Value::Boolean(true));
        assert_eq!(value("\"a b\"").unwrap(), toml::Value::String("a b".into()));
        assert_eq!(value("round-robin").unwrap(), toml::Value::String("round-robin".into()));
        assert_eq!(value("{ max_attempts = 3 }").unwrap()["max_attempts"], toml::Value::Integer(3));
        // Not a value, and not a word: said, not taken as a string.
        assert!(value("{ max_attempts = ").unwrap_err().contains("is not a TOML value"));
        assert!(value("a b").is_err());
        assert!(value("").is_err());
    }

    #[test]
    fn lists_split_at_top_level_commas_only() {
        assert_eq!(items("1, 2,3"), ["1", "2", "3"]);
        assert_eq!(items("{ a = 1, b = 2 },[1, 2],\"x,y\""), ["{ a = 1, b = 2 }", "[1, 2]", "\"x,y\""]);
        assert_eq!(items("round-robin"), ["round-robin"]);
    }

    #[test]
    fn set_edits_the_document_and_later_sets_win() {
        let t = doc(
            &changes(&["service.api.workers=8", "workload.0.arrival.rate_per_s=50", "service.api.workers=9"], &[]),
            TEXT,
        );
        assert_eq!(t["service"][0]["workers"].as_integer(), Some(9));
        assert_eq!(t["workload"][0]["arrival"]["rate_per_s"].as_integer(), Some(50));
        assert!(t.get("variant").is_none());
        let e = changes(&["service.nope.workers=8"], &[]).apply(&src(TEXT)).unwrap_err();
        assert_eq!(e, "--set service.nope.workers=8: no `service` named `nope`");
        let e = changes(&["workers"], &[]).apply(&src(TEXT)).unwrap_err();
        assert!(e.starts_with("--set workers: expected PATH=VALUE"), "{e}");
    }

    #[test]
    fn vary_makes_a_variant_per_value_per_file_variant_in_order() {
        let one = doc(&changes(&[], &["service.api.workers=2,4"]), TEXT);
        assert_eq!(variant_names(&one), ["workers=2", "workers=4"]);
        assert_eq!(one["variant"][1]["set"]["service.api.workers"].as_integer(), Some(4));
        assert_eq!(one["variant"][1]["description"].as_str(), Some("service.api.workers = 4"));
        // Two axes: every combination, the last fastest; a shared last part says whole paths.
        let two = doc(&changes(&[], &["service.api.workers=2,4", "workload.users.arrival.rate_per_s=50,100"]), TEXT);
        assert_eq!(
            variant_names(&two),
            [
                "workers=2 rate_per_s=50",
                "workers=2 rate_per_s=100",
                "workers=4 rate_per_s=50",
                "workers=4 rate_per_s=100"
            ]
        );
        let shared = doc(&changes(&[], &["service.api.workers=2", "service.0.queue.workers=3"]), TEXT);
        assert_eq!(variant_names(&shared), ["service.api.workers=2 service.0.queue.workers=3"]);
        // File variants: each once per value, keeping its own `set` and description.
        let text = format!(
            "{TEXT}\n[[variant]]\nname = \"a\"\ndescription = \"as is\"\n\n[[variant]]\nname = \"b\"\nset = {{ \"service.api.service_time.mean_ms\" = 2 }}\n\n\
             [[expect]]\ncheck = \"success_rate > 0.5\"\nvariants = [\"b\"]\n"
        );
        let t = doc(&changes(&[], &["service.api.workers=2,4"]), &text);
        assert_eq!(variant_names(&t), ["a workers=2", "a workers=4", "b workers=2", "b workers=4"]);
        assert_eq!(t["variant"][1]["description"].as_str(), Some("as is"));
        assert_eq!(t["variant"][3]["set"]["service.api.service_time.mean_ms"].as_integer(), Some(2));
        assert_eq!(t["expect"][0]["variants"], toml::Value::try_from(["b workers=2", "b workers=4"]).unwrap());
    }

    #[test]
    fn vary_refuses_what_it_cannot_mean() {
        let err = |vary: &[&str], text: &str| changes(&[], vary).apply(&src(text)).unwrap_err();
        assert!(err(&["scenario.seed=1,2"], TEXT).contains("`scenario.seed` cannot be varied"));
        assert!(err(&["service.api.workers=2,2"], TEXT).ends_with("`2` is listed twice"));
        assert!(err(&["service.api=1", "service.api.workers=2"], TEXT).ends_with("it overlaps --vary service.api=1"));
        let text = format!("{TEXT}\n[[variant]]\nname = \"b\"\nset = {{ \"service.api.workers\" = 2 }}\n");
        let e = err(&["service.api.workers=4,8"], &text);
        assert!(e.contains("variant `b` sets `service.api.workers` itself"), "{e}");
        let many: Vec<String> = (0..17).map(|i| i.to_string()).collect();
        let list = format!("service.api.workers={}", many.join(","));
        let e = err(&[&list, &list.replace("service.api.workers", "workload.users.arrival.rate_per_s")], TEXT);
        assert!(e.contains("makes 289 variants; at most 256"), "{e}");
    }

    #[test]
    fn the_changed_scenario_validates_again_and_carries_its_changes() {
        let c = changes(&["service.api.workers=8"], &["workload.users.arrival.rate_per_s=50,100"]);
        let sc = crate::Scenario::parse_with(&src(TEXT), &c).unwrap();
        assert_eq!(sc.changes, c);
        assert_eq!(sc.variants.len(), 2);
        assert_ne!(sc.fingerprint, crate::Scenario::parse(&src(TEXT)).unwrap().fingerprint);
        assert_eq!(sc.variant(Some("rate_per_s=100")).unwrap().spec.services[0].workers, 8);
        // A mistake the changes make is said after them, with the validator's words.
        let bad = changes(&["service.api.workers=0"], &[]);
        match crate::Scenario::parse_with(&src(TEXT), &bad) {
            Err(crate::ParseError::Changes(m)) => assert!(m.starts_with("after --set service.api.workers=0: "), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(c.command_words(), " --set service.api.workers=8 --vary workload.users.arrival.rate_per_s=50,100");
        assert_eq!(changes(&["a.b=x y"], &[]).command_words(), " --set 'a.b=x y'");
    }
}
