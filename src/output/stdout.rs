//! `--dry-run`: stdout (or, with `--output-file`, memory) as the transport of the DogStatsD
//! lines, so the printed lines are formatted and packed by exactly the code that sends them.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use super::Printed;
use super::statsd::Transport;

/// Each chunk is written whole and flushed, so a failed write (a full disk, `/dev/full`)
/// counts its lines as lost. A reader that went away (`| head`) is not an error: the rest is
/// dropped quietly.
#[derive(Default)]
pub(super) struct Stdout {
    closed: AtomicBool,
    out: Printed,
}

impl Stdout {
    /// The same lines, to `out`.
    pub(super) fn to(out: Printed) -> Stdout {
        Stdout {
            closed: AtomicBool::new(false),
            out,
        }
    }
}

impl Transport for Stdout {
    fn send(&self, chunk: &[u8]) -> io::Result<()> {
        if self.closed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut out = self.out.writer();
        match out.write_all(chunk).and_then(|()| out.flush()) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed.store(true, Ordering::Relaxed);
                Ok(())
            }
            other => other,
        }
    }
}
