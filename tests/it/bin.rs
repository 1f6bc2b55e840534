//! Running the `faultline` binary from tests: shared by the test modules that drive the CLI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};

pub const BIN: &str = env!("CARGO_BIN_EXE_faultline");
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs the binary from the workspace root (so relative paths in messages stay short).
pub fn faultline(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(ROOT)
        .env_remove("RUST_LOG")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("spawn faultline")
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or_else(|| panic!("faultline was killed by a signal: {:?}", o.status))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn describe(args: &[&str], o: &Output) -> String {
    format!(
        "faultline {}\nexit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        args.join(" "),
        o.status,
        stdout(o),
        stderr(o)
    )
}

/// Runs and requires exit code `want`.
pub fn expect_code(args: &[&str], want: i32) -> Output {
    let o = faultline(args);
    assert_eq!(code(&o), want, "{}", describe(args, &o));
    assert!(!stderr(&o).contains("panicked"), "{}", describe(args, &o));
    o
}

/// A fresh path under the target's temporary directory (unique per process and call).
pub fn temp_path(tag: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{n}-{tag}", std::process::id()))
}
