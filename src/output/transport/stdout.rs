//! `--dry-run` and text outputs: stdout, or memory until the run writes `--output-file`.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::Transport;
use super::file;

/// Where the text a run prints goes: stdout, or memory until [`super::super::Exporter::commit`] writes it
/// to `--output-file`.
#[derive(Clone, Default)]
pub enum Printed {
    #[default]
    Stdout,
    File {
        /// Its folder held open from the start (see [`file::open`]).
        target: Arc<file::Target>,
        collected: file::Collected,
    },
}

impl Printed {
    pub(in crate::output) fn writer(&self) -> Box<dyn Write + Send> {
        match self {
            // fd 1 itself: a bad descriptor is an error (see `console::stdout_writer`).
            Printed::Stdout => crate::console::stdout_writer(),
            Printed::File { collected, .. } => Box::new(collected.clone()),
        }
    }
}

/// Each chunk is written whole and flushed, so a failed write (a full disk, `/dev/full`)
/// counts its lines as lost. A reader that went away (`| head`) is not an error: that chunk
/// and the rest are dropped quietly, as `BrokenPipe` for the packer to count as unread.
#[derive(Default)]
pub(in crate::output) struct Stdout {
    closed: AtomicBool,
    out: Printed,
}

impl Stdout {
    /// The same lines, to `out`.
    pub(in crate::output) fn to(out: Printed) -> Stdout {
        Stdout {
            closed: AtomicBool::new(false),
            out,
        }
    }
}

impl Transport for Stdout {
    fn send(&self, chunk: &[u8]) -> io::Result<()> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let mut out = self.out.writer();
        let result = out.write_all(chunk).and_then(|()| out.flush());
        if let Err(e) = &result
            && e.kind() == io::ErrorKind::BrokenPipe
        {
            self.closed.store(true, Ordering::Relaxed);
        }
        result
    }

    fn reader_may_leave(&self) -> bool {
        true
    }
}
