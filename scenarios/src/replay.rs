//! Replay files: everything needed to reproduce a run bit for bit — the scenario text itself,
//! the variant, the seed, the faultline version, and the faults injected by hand (from the TUI)
//! with the exact event at which each was injected — plus the trace hash it gave, so that
//! `faultline replay` can say whether it was reproduced.
//!
//! The format is JSON (docs/cli.md, "Replay files"). An injected fault is stored as a
//! `[[fault]]` table of the scenario format (without its times), so it is readable and is
//! validated exactly like a scheduled one.

use faultline_models::World;
use faultline_models::report::RunReport;
use faultline_models::world::TraceSink;
use faultline_sim::net::FaultKind;
use faultline_sim::{BudgetExceeded, Nanos};
use serde::{Deserialize, Serialize};

use crate::{ScenarioError, ScenarioErrors, Source, parse_file, schema};

/// Bumped when the format changes incompatibly.
pub const FORMAT: u32 = 1;

/// Largest replay file read: its scenario (at most [`crate::MAX_FILE_BYTES`], escaped as a JSON
/// string) and the commands of a session.
pub const MAX_FILE_BYTES: usize = 64 << 20;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    pub format: u32,
    /// The version that wrote it; a different version may simulate differently.
    pub faultline_version: String,
    /// The simulation revision ([`faultline_models::SIM_REVISION`]) that wrote it: the same
    /// revision runs the same trace. Absent in files written before revisions were recorded.
    #[serde(default)]
    pub sim_revision: Option<u32>,
    /// The scenario's name.
    pub scenario: String,
    /// The scenario file, embedded: the replay does not depend on files that may change.
    pub text: String,
    pub variant: String,
    pub seed: u64,
    /// Interactive commands, in the order they were given.
    #[serde(default)]
    pub commands: Vec<Command>,
    /// The run's trace hash and event count when it was recorded (absent: not known).
    #[serde(default)]
    pub trace_hash: Option<String>,
    #[serde(default)]
    pub events: Option<u64>,
}

/// A command given during a run. `at_event` is the number of events applied before it, which
/// is where a replay applies it again; `t_ns` is the simulated time then (for people).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Command {
    /// Start a fault now. `fault` is a `[[fault]]` table of the scenario format as an inline
    /// TOML table, without `start_s`/`end_s`/`duration_s`, e.g.
    /// `{ name = "us down", kind = "region-outage", region = "us" }`.
    Inject { at_event: u64, t_ns: Nanos, fault: String, duration_ns: Option<Nanos> },
    /// End fault `index` (its index in [`World::faults`]: scheduled faults first, then injected
    /// ones in order) now.
    Heal { at_event: u64, t_ns: Nanos, index: usize },
}

impl Command {
    pub fn at_event(&self) -> u64 {
        match self {
            Command::Inject { at_event, .. } | Command::Heal { at_event, .. } => *at_event,
        }
    }
}

impl Replay {
    /// A replay of a plain run (no commands yet).
    pub fn new(scenario: &crate::Scenario, variant: &str, seed: u64) -> Replay {
        Replay {
            format: FORMAT,
            faultline_version: env!("CARGO_PKG_VERSION").to_owned(),
            sim_revision: Some(faultline_models::SIM_REVISION),
            scenario: scenario.name.clone(),
            text: scenario.source.text.clone(),
            variant: variant.to_owned(),
            seed,
            commands: Vec::new(),
            trace_hash: None,
            events: None,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a replay serialises")
    }

    /// Reads a replay file's bytes; errors (a byte that is not UTF-8 included) name the line
    /// and column.
    pub fn from_bytes(file: &str, bytes: Vec<u8>) -> Result<Replay, ScenarioErrors> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(ScenarioError::new(
                file,
                "",
                None,
                format!("file is larger than {MAX_FILE_BYTES} bytes (a replay file is a scenario and its commands)"),
            )
            .into());
        }
        let text = crate::utf8_text(file, bytes, "replay files are JSON, which must be UTF-8")?;
        Replay::from_json(file, &text)
    }

    /// Parses a replay file; errors name the line and column.
    pub fn from_json(file: &str, text: &str) -> Result<Replay, ScenarioErrors> {
        let r: Replay = serde_json::from_str(text).map_err(|e| {
            let at = offset(text, e.line(), e.column());
            ScenarioError::new(file, text, Some(at..at), format!("not a replay file: {e}"))
        })?;
        if r.format != FORMAT {
            return Err(ScenarioError::new(
                file,
                text,
                None,
                format!("replay format {} (this faultline reads {FORMAT})", r.format),
            )
            .into());
        }
        Ok(r)
    }

    /// Why a replay may have given another trace than the one it recorded: the model changed
    /// in between (another simulation revision), or, at the same revision, nothing should
    /// have — a determinism bug.
    pub fn mismatch_note(&self) -> String {
        let here = faultline_models::SIM_REVISION;
        let version = env!("CARGO_PKG_VERSION");
        match self.sim_revision {
            Some(r) if r != here => format!(
                "recorded at simulation revision {r} (faultline {}); this build simulates revision {here} \
                 (faultline {version}): the model changed in between, so another trace is expected",
                self.faultline_version
            ),
            Some(_) => format!(
                "recorded at this build's simulation revision ({here}), so it should have reproduced: \
                 unless the file was edited, a determinism bug (`faultline check-determinism` on the \
                 scenario may show where)"
            ),
            None => format!(
                "written by faultline {} before replay files recorded the simulation revision; this \
                 build simulates revision {here}: the model may have changed since",
                self.faultline_version
            ),
        }
    }

    /// The commands (index in file order, command) that a replay which applied `events` events
    /// never applied: [`run`] applies each when exactly its `at_event` events have been, so
    /// those past the run's last event never were — nor one at its last event: an applied
    /// command schedules its fault's start or end, one event more. A run recorded at this
    /// revision has none; an edited file, or one from another model, may.
    pub fn unapplied(&self, events: u64) -> Vec<(usize, &Command)> {
        self.commands.iter().enumerate().filter(|(_, c)| c.at_event() >= events).collect()
    }

    /// The scenario it embeds.
    pub fn scenario(&self) -> Result<crate::Scenario, ScenarioErrors> {
        crate::Scenario::parse(&Source { file: format!("replay:{}", self.scenario), text: self.text.clone() })
    }
}

/// Byte offset of a 1-based line and column.
fn offset(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    (start + column.saturating_sub(1)).min(text.len())
}

impl crate::Scenario {
    /// Compiles one `[[fault]]` table (inline TOML, no times) against variant `variant` of the
    /// scenario: its name and kind, ready for [`World::inject`].
    pub fn fault_kind(&self, variant: Option<&str>, fault: &str) -> Result<(String, FaultKind), ScenarioErrors> {
        let origin = "injected fault";
        let err = |msg: String| -> ScenarioErrors { ScenarioError::new(origin, fault, None, msg).into() };
        let wrapped: toml::Table = toml::from_str(&format!("fault = {fault}"))
            .map_err(|e| err(format!("expected an inline TOML table: {}", e.message())))?;
        let Some(toml::Value::Table(mut table)) = wrapped.get("fault").cloned() else {
            return Err(err(
                "expected an inline TOML table like `{ kind = \"region-outage\", region = \"us\" }`".into()
            ));
        };
        for key in ["start_s", "end_s", "duration_s"] {
            if table.contains_key(key) {
                return Err(err(format!(
                    "`{key}`: an injected fault starts when it is injected; give its duration separately"
                )));
            }
        }
        table.insert("start_s".into(), toml::Value::Integer(0));
        // The variant's document with this fault as its only one.
        let mut doc: toml::Table = toml::from_str(&self.source.text).map_err(|e| err(e.message().to_owned()))?;
        let file: schema::ScenarioFile = toml::from_str(&self.source.text).map_err(|e| err(e.message().to_owned()))?;
        doc.remove("variant");
        if let Some(name) = variant.or(self.variants.first().map(|v| v.name.as_str()))
            && let Some(v) = file.variants.iter().find(|v| v.get_ref().name.get_ref() == name)
        {
            for (path, value) in &v.get_ref().set {
                crate::set_path(&mut doc, path, value.clone())
                    .map_err(|e| err(format!("variant `{name}`: `{path}`: {e}")))?;
            }
        }
        doc.insert("fault".into(), toml::Value::Array(vec![toml::Value::Table(table)]));
        let text = toml::to_string(&doc).map_err(|e| err(e.to_string()))?;
        let (_, spec) = parse_file(&Source { file: origin.into(), text }).map_err(|e| {
            let msgs: Vec<String> = e.errors.iter().map(|e| e.message.clone()).collect();
            err(msgs.join("; "))
        })?;
        let f = spec.faults.into_iter().next().expect("the one fault compiled");
        Ok((f.name, f.kind))
    }
}

#[derive(Debug)]
pub enum ReplayError {
    /// The embedded scenario or a command's fault does not compile.
    Scenario(ScenarioErrors),
    /// The event budget ran out.
    Budget(BudgetExceeded),
}

impl From<ScenarioErrors> for ReplayError {
    fn from(e: ScenarioErrors) -> Self {
        ReplayError::Scenario(e)
    }
}

impl From<BudgetExceeded> for ReplayError {
    fn from(e: BudgetExceeded) -> Self {
        ReplayError::Budget(e)
    }
}

/// Runs a replay: the scenario's variant and seed, each command applied when exactly
/// `at_event` events have been applied, then on to the end.
pub fn run(replay: &Replay, sink: Option<Box<dyn TraceSink>>) -> Result<(RunReport, World), ReplayError> {
    let scenario = replay.scenario()?;
    let c = scenario.variant(Some(&replay.variant)).map_err(|msg| {
        ScenarioErrors::from(ScenarioError::new(&format!("replay:{}", replay.scenario), &replay.text, None, msg))
    })?;
    let mut world = World::new(c.spec, replay.seed, c.budget);
    if let Some(s) = sink {
        world.set_trace_sink(s);
    }
    let mut commands: Vec<&Command> = replay.commands.iter().collect();
    // Stable: commands given at the same event keep their order.
    commands.sort_by_key(|c| c.at_event());
    for cmd in commands {
        while world.events() < cmd.at_event() && world.step()? {}
        if world.events() < cmd.at_event() || world.finished() {
            // The run ended first (or with that event): the command is not applied anywhere
            // else ([`Replay::unapplied`] names it).
            continue;
        }
        match cmd {
            Command::Inject { fault, duration_ns, .. } => {
                let (name, kind) = scenario.fault_kind(Some(&replay.variant), fault)?;
                world.inject(&name, kind, *duration_ns);
            }
            Command::Heal { index, at_event, .. } => {
                let n = world.faults().len();
                if *index >= n {
                    // Only an edited file can name a fault that does not exist yet.
                    let msg = format!(
                        "`heal` of fault {index} at event {at_event}: the run has {} then",
                        crate::count(n, "fault")
                    );
                    let file = format!("replay:{}", replay.scenario);
                    return Err(ScenarioErrors::from(ScenarioError::new(&file, "", None, msg)).into());
                }
                world.heal(*index);
            }
        }
    }
    world.run()?;
    let report = RunReport::build(&world, &scenario.name, &replay.variant);
    Ok((report, world))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    fn scenario(name: &str) -> crate::Scenario {
        crate::Scenario::parse(&Source { file: name.into(), text: catalog::get(name).unwrap().text.into() }).unwrap()
    }

    #[test]
    fn a_replay_without_commands_is_the_plain_run() {
        let sc = scenario("cross-region-outage");
        let c = sc.variant(None).unwrap();
        let (plain, _) = crate::runner::run(&c, 5, None).unwrap();
        let r = Replay::new(&sc, c.variant, 5);
        let back = Replay::from_json("f", &r.to_json()).unwrap();
        assert_eq!(back, r);
        let (replayed, _) = run(&back, None).unwrap();
        assert_eq!(replayed.trace_hash, plain.trace_hash);
    }

    #[test]
    fn healing_a_fault_that_does_not_exist_is_an_error() {
        // cross-region-outage schedules one fault (index 0); nothing was injected.
        let sc = scenario("cross-region-outage");
        let mut r = Replay::new(&sc, &sc.variants[0].name, 5);
        r.commands.push(Command::Heal { at_event: 100, t_ns: 0, index: 1 });
        match run(&r, None) {
            Err(ReplayError::Scenario(e)) => {
                let msg = e.errors[0].one_line();
                assert!(msg.contains("`heal` of fault 1 at event 100: the run has 1 fault then"), "{msg}");
            }
            other => panic!("expected an error, got {:?}", other.map(|(r, _)| r.trace_hash)),
        }
        r.commands[0] = Command::Heal { at_event: 100, t_ns: 0, index: 0 };
        assert!(run(&r, None).is_ok());
    }

    #[test]
    fn injected_faults_replay_at_the_same_event() {
        let sc = scenario("cross-region-outage");
        let c = sc.variant(None).unwrap();
        let mut world = World::new(c.spec, 9, c.budget);
        let mut replay = Replay::new(&sc, c.variant, 9);
        let fault = r#"{ name = "by hand", kind = "latency", from = ["us-east"], to = ["eu-west"], added_ms = 30 }"#;
        while world.events() < 5_000 && world.step().unwrap() {}
        let (name, kind) = sc.fault_kind(None, fault).unwrap();
        replay.commands.push(Command::Inject {
            at_event: world.events(),
            t_ns: world.now(),
            fault: fault.into(),
            duration_ns: Some(2_000_000_000),
        });
        let index = world.inject(&name, kind, Some(2_000_000_000));
        while world.events() < 9_000 && world.step().unwrap() {}
        replay.commands.push(Command::Heal { at_event: world.events(), t_ns: world.now(), index });
        world.heal(index);
        world.run().unwrap();
        let live = world.trace_hash().hex();
        let (replayed, w2) = run(&Replay::from_json("f", &replay.to_json()).unwrap(), None).unwrap();
        assert_eq!(replayed.trace_hash, live);
        assert_eq!(w2.fault_log, world.fault_log);
        assert!(w2.fault_log.iter().any(|f| f.injected && f.name == "by hand"));
        // Without the commands it is another run.
        let (plain, _) = run(&Replay { commands: vec![], ..replay }, None).unwrap();
        assert_ne!(plain.trace_hash, live);
    }

    #[test]
    fn a_command_past_the_runs_end_is_not_applied_and_is_named() {
        let sc = scenario("cross-region-outage");
        let c = sc.variant(None).unwrap();
        let (plain, _) = crate::runner::run(&c, 5, None).unwrap();
        let mut r = Replay::new(&sc, c.variant, 5);
        let fault = r#"{ kind = "region-outage", region = "us-east" }"#;
        r.commands.push(Command::Inject { at_event: 1_000, t_ns: 0, fault: fault.into(), duration_ns: None });
        r.commands.push(Command::Inject { at_event: u64::MAX / 2, t_ns: 0, fault: fault.into(), duration_ns: None });
        r.commands.push(Command::Heal { at_event: u64::MAX, t_ns: 0, index: 0 });
        let (replayed, _) = run(&r, None).unwrap();
        assert_ne!(replayed.trace_hash, plain.trace_hash, "the first command applied");
        let unapplied: Vec<usize> = r.unapplied(replayed.events).iter().map(|(i, _)| *i).collect();
        assert_eq!(unapplied, [1, 2], "the run ended after {} events", replayed.events);
        // Only the applied one changed the run.
        let (first_only, _) = run(&Replay { commands: r.commands[..1].to_vec(), ..r.clone() }, None).unwrap();
        assert_eq!(first_only.trace_hash, replayed.trace_hash);
        // A command at the run's very last event: the run is over, so it was never applied
        // either (it was dropped in silence, as if reproduced).
        let mut at_end = Replay { commands: Vec::new(), ..r.clone() };
        let fault = fault.to_owned();
        at_end.commands.push(Command::Inject { at_event: plain.events, t_ns: 0, fault, duration_ns: None });
        let (ended, _) = run(&at_end, None).unwrap();
        assert_eq!((ended.trace_hash, ended.events), (plain.trace_hash, plain.events));
        assert_eq!(at_end.unapplied(ended.events).len(), 1);
    }

    #[test]
    fn bad_faults_and_bad_files_are_errors_with_positions() {
        let sc = scenario("cross-region-outage");
        let e = sc.fault_kind(None, r#"{ kind = "region-outage", region = "mars" }"#).unwrap_err();
        assert!(e.errors[0].message.contains("mars"), "{}", e.errors[0].message);
        let e = sc.fault_kind(None, r#"{ kind = "region-outage", region = "us-east", start_s = 3 }"#).unwrap_err();
        assert!(e.errors[0].message.contains("start_s"));
        assert!(sc.fault_kind(None, "not a table").is_err());
        let e = Replay::from_json("r.json", "{\n  \"format\": 1,\n  \"bogus\": 2\n}").unwrap_err();
        assert_eq!((e.errors[0].line, e.errors[0].file.as_str()), (3, "r.json"));
        let mut bytes = Replay::new(&sc, "retry-once", 1).to_json().into_bytes();
        let at = bytes.iter().position(|&b| b == b'\n').unwrap() + 4;
        bytes[at] = 0xff;
        let e = Replay::from_bytes("r.json", bytes).unwrap_err();
        let e = &e.errors[0];
        assert_eq!((e.file.as_str(), e.line, e.column), ("r.json", 2, 4), "{}", e.one_line());
        assert!(e.message.contains("UTF-8"), "{}", e.message);
    }
}
