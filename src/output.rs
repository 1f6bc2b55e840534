//! What the CLI writes: files, complete or absent (written to a temporary file beside the
//! target, then renamed), and stdout.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use faultline_models::World;
use faultline_models::world::{TraceRecord, TraceSink};

type Shared = Rc<RefCell<Option<BufWriter<File>>>>;

/// A file being written; published by [`Pending::commit`], removed by [`Pending::abandon`].
pub struct Pending {
    tmp: PathBuf,
    dest: PathBuf,
    writer: Shared,
}

fn tmp_path(dest: &Path) -> PathBuf {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dest.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

impl Pending {
    pub fn commit(self) -> Result<(), String> {
        let w = self.writer.borrow_mut().take();
        if let Some(mut w) = w {
            w.flush().map_err(|e| format!("{}: {e}", self.tmp.display()))?;
        }
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| format!("{}: {e}", self.dest.display()))
    }

    pub fn abandon(self) {
        self.writer.borrow_mut().take();
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Writes each applied event as one JSON object per line.
pub struct JsonlTrace {
    writer: Shared,
    failed: bool,
}

impl JsonlTrace {
    pub fn create(path: &str) -> Result<(JsonlTrace, Pending), String> {
        let dest = PathBuf::from(path);
        let tmp = tmp_path(&dest);
        let f = File::create(&tmp).map_err(|e| format!("{path}: cannot write: {e}"))?;
        let writer = Rc::new(RefCell::new(Some(BufWriter::new(f))));
        Ok((JsonlTrace { writer: writer.clone(), failed: false }, Pending { tmp, dest, writer }))
    }
}

impl TraceSink for JsonlTrace {
    fn record(&mut self, r: &TraceRecord<'_>) {
        if self.failed {
            return;
        }
        let line = serde_json::json!({
            "i": r.index, "t_ns": r.t, "kind": r.kind, "actor": r.actor, "peer": r.peer, "detail": r.detail,
        });
        if let Some(w) = self.writer.borrow_mut().as_mut()
            && writeln!(w, "{line}").is_err()
        {
            self.failed = true;
        }
    }
}

/// Writes the recorded history of every database as JSON Lines, in time order. With one
/// database keys are its integer keys; with several they become strings `"DATABASE/KEY"` (so
/// the histories do not mix keys).
pub fn write_history(path: &str, world: &World) -> Result<(), String> {
    let dbs = &world.spec.databases;
    let mut lines: Vec<(u64, usize, String)> = Vec::new();
    for (d, db) in dbs.iter().enumerate() {
        for (i, op) in world.history(d).iter().enumerate() {
            let mut line = op.to_json();
            if dbs.len() > 1 {
                line =
                    line.replacen(&format!(r#""key":{},"#, op.key), &format!(r#""key":"{}/{}","#, db.name, op.key), 1);
            }
            lines.push((op.time, d << 40 | i, line));
        }
    }
    // Merge the databases' histories by time (each is already in order).
    lines.sort_by_key(|&(t, order, _)| (t, order));
    let mut text = String::with_capacity(lines.iter().map(|l| l.2.len() + 1).sum());
    for (_, _, line) in lines {
        text.push_str(&line);
        text.push('\n');
    }
    write_atomic(path, &text)
}

/// Writes `contents` to `path` completely or not at all.
pub fn write_atomic(path: &str, contents: &str) -> Result<(), String> {
    let dest = PathBuf::from(path);
    let tmp = tmp_path(&dest);
    let written = File::create(&tmp).and_then(|f| {
        let mut w = BufWriter::new(f);
        w.write_all(contents.as_bytes())?;
        w.flush()
    });
    match written {
        Ok(()) => std::fs::rename(&tmp, &dest).map_err(|e| format!("{path}: {e}")),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(format!("{path}: cannot write: {e}"))
        }
    }
}

/// Writes `text` to stdout: every stdout write of the CLI goes through here. A reader that
/// closed the pipe (`faultline … | head`) has had what it wanted, so the text is dropped
/// without a word and the command goes on to its own exit code; `print!` would panic. Any
/// other failure (a full disk) is an error.
pub fn stdout(text: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => Err(format!("stdout: {e}")),
        _ => Ok(()),
    }
}
