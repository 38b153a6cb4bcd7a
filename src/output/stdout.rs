//! `--dry-run`: a cadence `MetricSink` that writes each line to stdout (or, with
//! `--output-file`, to memory), so the printed lines are formatted by exactly the code that
//! formats the sent ones.

use std::io::{self, BufWriter, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use cadence::MetricSink;

pub struct StdoutSink {
    out: Mutex<BufWriter<Box<dyn Write + Send>>>,
    /// The reader went away (`| head`): not an error, stop writing.
    closed: AtomicBool,
}

impl Default for StdoutSink {
    fn default() -> StdoutSink {
        StdoutSink::new()
    }
}

impl StdoutSink {
    pub fn new() -> StdoutSink {
        StdoutSink::to(Box::new(io::stdout()))
    }

    /// The same lines, to `out`.
    pub fn to(out: Box<dyn Write + Send>) -> StdoutSink {
        StdoutSink {
            out: Mutex::new(BufWriter::new(out)),
            closed: AtomicBool::new(false),
        }
    }

    fn absorb_broken_pipe(&self, result: io::Result<()>) -> io::Result<()> {
        match result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed.store(true, Ordering::Relaxed);
                Ok(())
            }
            other => other,
        }
    }
}

impl MetricSink for StdoutSink {
    fn emit(&self, metric: &str) -> io::Result<usize> {
        if self.closed.load(Ordering::Relaxed) {
            return Ok(0);
        }
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let result = writeln!(out, "{metric}");
        drop(out);
        self.absorb_broken_pipe(result).map(|()| metric.len())
    }

    fn flush(&self) -> io::Result<()> {
        if self.closed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let result = out.flush();
        drop(out);
        self.absorb_broken_pipe(result)
    }
}
