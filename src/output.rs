//! What the CLI writes: files, complete or absent (written to a temporary file beside the
//! target, then renamed), and stdout.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use faultline_models::World;
use faultline_models::consistency::HistOp;
use faultline_models::world::{TraceRecord, TraceSink};

/// The writer of a file being written, and the first error writing it (a trace is written
/// event by event, where an error cannot be returned: it is kept for [`Pending::commit`]).
#[derive(Default)]
struct Sink {
    writer: Option<BufWriter<File>>,
    failed: Option<std::io::Error>,
}

type Shared = Rc<RefCell<Sink>>;

/// A file being written; published by [`Pending::commit`], removed when dropped unpublished
/// (no temporary file is left behind on any way out).
pub struct Pending {
    tmp: PathBuf,
    dest: PathBuf,
    writer: Shared,
    done: bool,
}

fn tmp_path(dest: &Path) -> PathBuf {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dest.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Whether `path` can be written as a file: not a directory, in a directory that exists. Checked
/// before a command does its work, so that it does not run for nothing.
pub fn check_destination(path: &str) -> Result<(), String> {
    let dest = Path::new(path);
    if path.is_empty() || path.ends_with('/') || dest.is_dir() {
        return Err(format!("{path}: is a directory; expected the path of a file to write"));
    }
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        let why = if parent.exists() { "is not a directory" } else { "does not exist" };
        return Err(format!("{path}: cannot write: {} {why}", parent.display()));
    }
    Ok(())
}

/// Whether `path` can be the directory an output is written into: a directory, or nothing yet
/// (it is created).
pub fn check_directory(path: &str) -> Result<(), String> {
    let p = Path::new(path);
    if p.exists() && !p.is_dir() {
        return Err(format!("{path}: is a file; expected a directory to write into (or a path where none exists yet)"));
    }
    Ok(())
}

impl Pending {
    /// A temporary file beside `path`, to be published as `path`.
    fn create(path: &str) -> Result<Pending, String> {
        check_destination(path)?;
        let dest = PathBuf::from(path);
        let tmp = tmp_path(&dest);
        let f = File::create(&tmp).map_err(|e| format!("{path}: cannot write: {e}"))?;
        let writer = Rc::new(RefCell::new(Sink { writer: Some(BufWriter::new(f)), failed: None }));
        Ok(Pending { tmp, dest, writer, done: false })
    }

    /// Writes all of `contents` and flushes it: then only [`Pending::commit`]'s rename is left.
    pub fn write(path: &str, contents: &str) -> Result<Pending, String> {
        let p = Pending::create(path)?;
        {
            let mut sink = p.writer.borrow_mut();
            let Sink { writer, failed } = &mut *sink;
            if let Err(e) = writer.as_mut().expect("just created").write_all(contents.as_bytes()) {
                *failed = Some(e);
            }
        }
        p.finish().map(|()| p)
    }

    /// Flushes what was written; the first error writing it, if any, naming the destination.
    fn finish(&self) -> Result<(), String> {
        let mut sink = self.writer.borrow_mut();
        let Sink { writer, failed } = &mut *sink;
        let result = match (failed.take(), writer.as_mut()) {
            (Some(e), _) => Err(e),
            (None, Some(w)) => w.flush(),
            (None, None) => Ok(()),
        };
        result.map_err(|e| format!("{}: cannot write: {e}", self.dest.display()))
    }

    /// Publishes the file (renames it into place); on any error it is removed and the error
    /// names the destination.
    pub fn commit(mut self) -> Result<(), String> {
        self.finish()?;
        self.writer.borrow_mut().writer.take();
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| format!("{}: cannot write: {e}", self.dest.display()))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.done {
            self.writer.borrow_mut().writer.take();
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Publishes files written completely, or none of them if one cannot be: all are ready (written
/// and flushed) before the first is renamed into place.
pub fn commit_all(files: Vec<Pending>) -> Result<(), String> {
    for f in &files {
        f.finish()?;
    }
    files.into_iter().try_for_each(Pending::commit)
}

/// Writes each applied event as one JSON object per line.
pub struct JsonlTrace {
    writer: Shared,
}

impl JsonlTrace {
    pub fn create(path: &str) -> Result<(JsonlTrace, Pending), String> {
        let file = Pending::create(path)?;
        Ok((JsonlTrace { writer: file.writer.clone() }, file))
    }
}

impl TraceSink for JsonlTrace {
    fn record(&mut self, r: &TraceRecord<'_>) {
        let mut sink = self.writer.borrow_mut();
        let Sink { writer: Some(w), failed: failed @ None } = &mut *sink else { return };
        let line = serde_json::json!({
            "i": r.index, "t_ns": r.t, "kind": r.kind, "actor": r.actor, "peer": r.peer, "detail": r.detail,
        });
        if let Err(e) = writeln!(w, "{line}") {
            *failed = Some(e);
        }
    }
}

/// Writes the recorded history of every database as JSON Lines, in time order. With one
/// database keys are its integer keys; with several they become strings `"DATABASE/KEY"` (so
/// the histories do not mix keys), and each database's processes are numbered after those of
/// the databases before it (each history numbers its own from 0: merged as they are, two
/// databases' operations would share a process, which may have one operation pending).
pub fn write_history(path: &str, world: &World) -> Result<Pending, String> {
    let dbs = &world.spec.databases;
    let mut lines: Vec<(u64, usize, String)> = Vec::new();
    let mut first_process = 0;
    for (d, db) in dbs.iter().enumerate() {
        let history = world.history(d);
        for (i, op) in history.iter().enumerate() {
            let mut line = HistOp { process: first_process + op.process, ..*op }.to_json();
            if dbs.len() > 1 {
                line =
                    line.replacen(&format!(r#""key":{},"#, op.key), &format!(r#""key":"{}/{}","#, db.name, op.key), 1);
            }
            lines.push((op.time, d << 40 | i, line));
        }
        first_process += history.iter().map(|op| op.process + 1).max().unwrap_or(0);
    }
    // Merge the databases' histories by time (each is already in order).
    lines.sort_by_key(|&(t, order, _)| (t, order));
    let mut text = String::with_capacity(lines.iter().map(|l| l.2.len() + 1).sum());
    for (_, _, line) in lines {
        text.push_str(&line);
        text.push('\n');
    }
    Pending::write(path, &text)
}

/// Writes `contents` to `path` completely or not at all.
pub fn write_atomic(path: &str, contents: &str) -> Result<(), String> {
    Pending::write(path, contents)?.commit()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("faultline-output-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn listing(d: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn a_trace_whose_write_failed_is_not_published_even_if_the_flush_succeeds() {
        let d = dir("trace-failed");
        let path = d.join("t.jsonl");
        let (_sink, file) = JsonlTrace::create(path.to_str().unwrap()).unwrap();
        // What `record` keeps of a failed write; the buffer itself flushes fine.
        file.writer.borrow_mut().failed = Some(std::io::Error::other("disk full"));
        let err = file.commit().unwrap_err();
        assert!(err.starts_with(&format!("{}: cannot write: disk full", path.display())), "{err}");
        assert!(listing(&d).is_empty(), "left behind: {:?}", listing(&d));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn outputs_are_published_all_or_none_and_no_temporary_file_stays() {
        let d = dir("all-or-none");
        let a = d.join("a.json");
        let ready = Pending::write(a.to_str().unwrap(), "a").unwrap();
        let (_sink, failing) = JsonlTrace::create(d.join("b.jsonl").to_str().unwrap()).unwrap();
        failing.writer.borrow_mut().failed = Some(std::io::Error::other("disk full"));
        assert!(commit_all(vec![ready, failing]).is_err());
        assert!(listing(&d).is_empty(), "left behind: {:?}", listing(&d));
        commit_all(vec![Pending::write(a.to_str().unwrap(), "a").unwrap()]).unwrap();
        assert_eq!(listing(&d), ["a.json"]);
        // A directory is no destination: nothing is created beside it.
        assert!(write_atomic(d.to_str().unwrap(), "x").unwrap_err().contains("is a directory"));
        assert_eq!(listing(&d), ["a.json"]);
        let _ = std::fs::remove_dir_all(&d);
    }
}
