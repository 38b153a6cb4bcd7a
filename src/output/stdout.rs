//! `--dry-run`: stdout as the transport of the DogStatsD lines, so the printed lines are
//! formatted and packed by exactly the code that sends them.

use std::io::{self, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::statsd::Transport;

/// Each chunk is written whole and flushed, so a failed write (a full disk, `/dev/full`)
/// counts its lines as lost. A reader that went away (`| head`) is not an error: the rest is
/// dropped quietly.
pub(super) struct Stdout {
    /// fd 1 itself, so a bad descriptor is an error (see [`crate::console::stdout_writer`]).
    out: Mutex<Box<dyn Write + Send>>,
    closed: AtomicBool,
}

impl Default for Stdout {
    fn default() -> Stdout {
        Stdout {
            out: Mutex::new(crate::console::stdout_writer()),
            closed: AtomicBool::new(false),
        }
    }
}

impl Transport for Stdout {
    fn send(&self, chunk: &[u8]) -> io::Result<()> {
        if self.closed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        match out.write_all(chunk).and_then(|()| out.flush()) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed.store(true, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => Err(io::Error::new(e.kind(), format!("writing to stdout: {e}"))),
            Ok(()) => Ok(()),
        }
    }
}
