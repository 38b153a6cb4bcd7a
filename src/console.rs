//! Log lines and messages on stderr (and `--help`/`-V` on stdout) that can never end the run.
//!
//! `eprintln!`/`println!` panic when the write fails (a closed pipe, EIO), and with the
//! release profile's `panic = "abort"` that is SIGABRT before anything is sent. A log line
//! or a message that cannot be written is lost, which is not an error: every write here
//! ignores its result. (simple_logger writes with `eprintln!`, so this module is the logger.)

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};

use log::{LevelFilter, Log, Metadata, Record};

/// `LEVEL [target] message` on stderr, one write per line.
struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let target = if record.target().is_empty() {
            record.module_path().unwrap_or_default()
        } else {
            record.target()
        };
        let line = format!("{:<5} [{target}] {}\n", record.level(), record.args());
        let _ = io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

/// Install the logger at `level` (once; a second call changes only the level).
pub fn init_logger(level: LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// Write `text` and a newline to stderr; a failed write is ignored.
pub fn print_err(text: &str) {
    let _ = writeln!(io::stderr().lock(), "{text}");
}

/// Write `text` and a newline to stdout; a failed write (`| head` gone) is ignored.
pub fn print_out(text: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

/// Set before `main` when fd 1 was closed at exec (`>&-`). Rust's start-up code then reopens
/// it on /dev/null, after which a closed stdout can no longer be told from a deliberate one.
static STDOUT_CLOSED_AT_EXEC: AtomicBool = AtomicBool::new(false);

/// Record whether fd 1 is open. Called from `.init_array` (see main.rs), before Rust's
/// start-up code runs.
pub fn note_stdout_at_exec() {
    if io::stdout().as_fd().try_clone_to_owned().is_err() {
        STDOUT_CLOSED_AT_EXEC.store(true, Ordering::Relaxed);
    }
}

/// A writer on fd 1 that reports every failure. `std::io::Stdout` pretends writes to a bad
/// descriptor (`1</dev/null`: EBADF) succeed; a duplicate of fd 1 as a `File` does not. A
/// broken pipe comes back as `ErrorKind::BrokenPipe` for the caller to absorb.
pub fn stdout_writer() -> Box<dyn Write + Send> {
    if STDOUT_CLOSED_AT_EXEC.load(Ordering::Relaxed) {
        return Box::new(ClosedStdout);
    }
    match io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => Box::new(StdoutFd(File::from(fd))),
        Err(_) => Box::new(ClosedStdout),
    }
}

/// fd 1 as a file, its errors saying they are stdout's (the kind is kept: a caller tells a
/// broken pipe by it).
struct StdoutFd(File);

fn on_stdout(e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("stdout: {e}"))
}

impl Write for StdoutFd {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.write(data).map_err(on_stdout)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(on_stdout)
    }
}

struct ClosedStdout;

impl Write for ClosedStdout {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::other("stdout is closed"))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
