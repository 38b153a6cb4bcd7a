//! `--dry-run`: stdout (or, with `--output-file`, memory) as the transport of the DogStatsD
//! lines, so the printed lines are formatted and packed by exactly the code that sends them.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use super::Printed;
use super::statsd::Transport;

/// Each chunk is written whole and flushed, so a failed write (a full disk, `/dev/full`)
/// counts its lines as lost. A reader that went away (`| head`) is not an error: that chunk
/// and the rest are dropped quietly, as `BrokenPipe` for the packer to count as unread.
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
