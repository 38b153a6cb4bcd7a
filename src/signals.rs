//! SIGTERM/SIGINT: the first ends the interval wait early, a second exits at once.

use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

pub struct Shutdown {
    rx: Receiver<i32>,
    received: Option<i32>,
}

impl Shutdown {
    /// Install the handlers. A background thread forwards the first signal; on the second it
    /// exits the process immediately with 128 + signal, as a shell would report.
    pub fn install() -> std::io::Result<Shutdown> {
        let mut signals = Signals::new([SIGTERM, SIGINT])?;
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut seen = 0;
            for signal in signals.forever() {
                seen += 1;
                if seen > 1 {
                    log::error!("second signal {signal}: exiting now");
                    std::process::exit(128 + signal);
                }
                log::warn!("signal {signal}: finishing this run early");
                let _ = tx.send(signal);
            }
        });
        Ok(Shutdown { rx, received: None })
    }

    /// The signal received so far, if any (non-blocking).
    pub fn received(&mut self) -> Option<i32> {
        if self.received.is_none() {
            self.received = self.rx.try_recv().ok();
        }
        self.received
    }

    /// Sleep for `duration`, or less if a signal arrives. Returns the signal, if any.
    pub fn wait(&mut self, duration: Duration) -> Option<i32> {
        if self.received().is_some() {
            return self.received;
        }
        match self.rx.recv_timeout(duration) {
            Ok(signal) => self.received = Some(signal),
            Err(RecvTimeoutError::Timeout) => {}
            // The forwarding thread is gone: still honour the interval.
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(duration),
        }
        self.received
    }
}
