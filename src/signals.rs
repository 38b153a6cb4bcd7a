//! The signals that stop a container or a shell job, SIGTERM, SIGINT, SIGHUP and SIGQUIT, all
//! mean the same: the first ends any wait at once (the interval, a retry's backoff, a request
//! that hangs) and the run finishes early, a second exits at once. An image's `STOPSIGNAL`
//! may be any of them (nginx's is SIGQUIT) and `tini -g` forwards it to the whole group, so
//! treating only TERM and INT as a stop would lose the last run of such a task (HUP and QUIT
//! would kill it by their default action with nothing sent).
//!
//! No thread: flags set in the handler say which signal came, a self-pipe wakes the
//! interval and backoff waits, an `interrupt` flag is polled by the HTTP transport while it
//! waits for an answer, and a conditional shutdown armed by the first signal exits on the
//! second.

use std::io::{ErrorKind, Read};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::{flag, low_level::pipe};

/// Every catchable signal a stop sends: one behaviour for all.
pub const SIGNALS: [i32; 4] = [SIGTERM, SIGINT, SIGHUP, SIGQUIT];

pub struct Shutdown {
    /// One flag per signal in [`SIGNALS`], set by its handler.
    seen: [Arc<AtomicBool>; SIGNALS.len()],
    /// Set by every signal and cleared by [`Shutdown::acknowledge`]: a signal the run has not
    /// yet acted on, which ends any wait (see [`Shutdown::interrupt_flag`]).
    interrupt: Arc<AtomicBool>,
    wake: UnixStream,
}

impl Shutdown {
    pub fn install() -> std::io::Result<Shutdown> {
        let armed = Arc::new(AtomicBool::new(false));
        let seen: [Arc<AtomicBool>; SIGNALS.len()] = Default::default();
        let interrupt = Arc::new(AtomicBool::new(false));
        let (wake, notify) = UnixStream::pair()?;
        notify.set_nonblocking(true)?;
        for (i, &signal) in SIGNALS.iter().enumerate() {
            // Order matters: the shutdown runs first and does nothing until `armed` is set
            // by the first signal; the second signal then exits with 128 + signal, as a
            // shell would report it.
            flag::register_conditional_shutdown(signal, 128 + signal, Arc::clone(&armed))?;
            flag::register(signal, Arc::clone(&armed))?;
            flag::register(signal, Arc::clone(&seen[i]))?;
            flag::register(signal, Arc::clone(&interrupt))?;
            pipe::register(signal, notify.try_clone()?)?;
        }
        Ok(Shutdown {
            seen,
            interrupt,
            wake,
        })
    }

    /// No handlers installed: for unit tests of what waits on a `Shutdown`.
    #[cfg(test)]
    pub(crate) fn unarmed() -> Shutdown {
        Shutdown {
            seen: Default::default(),
            interrupt: Arc::default(),
            wake: UnixStream::pair().expect("a socket pair").0,
        }
    }

    /// As if `signal` (one of [`SIGNALS`]) had come: for unit tests.
    #[cfg(test)]
    pub(crate) fn pretend(&self, signal: i32) {
        let i = SIGNALS
            .iter()
            .position(|&s| s == signal)
            .expect("one of SIGNALS");
        self.seen[i].store(true, Ordering::SeqCst);
        self.interrupt.store(true, Ordering::SeqCst);
    }

    /// The flag the HTTP transport polls while it waits: set means "stop waiting".
    pub fn interrupt_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.interrupt)
    }

    /// Whether a signal came that the run has not acted on yet.
    pub fn interrupted(&self) -> bool {
        self.interrupt.load(Ordering::SeqCst)
    }

    /// The run has acted on the signal (cut the interval short) and goes on to its final
    /// sample: waits are no longer cut. A second signal still exits at once.
    pub fn acknowledge(&self) {
        self.interrupt.store(false, Ordering::SeqCst);
    }

    /// The signal received so far, if any.
    pub fn received(&self) -> Option<i32> {
        SIGNALS
            .iter()
            .zip(&self.seen)
            .find(|(_, seen)| seen.load(Ordering::SeqCst))
            .map(|(&signal, _)| signal)
    }

    /// Sleep for `duration`, or less if a signal arrives (or came and was not acknowledged).
    /// Returns the signal, if any.
    pub fn wait(&self, duration: Duration) -> Option<i32> {
        let deadline = Instant::now() + duration;
        let mut buf = [0u8; 16];
        loop {
            if self.interrupted()
                && let Some(signal) = self.received()
            {
                log::warn!("signal {signal}: finishing this run early");
                return Some(signal);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            if self.wake.set_read_timeout(Some(left)).is_err() {
                std::thread::sleep(left);
                continue;
            }
            match (&self.wake).read(&mut buf) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                // The pipe is gone: still honour the interval.
                Err(_) => std::thread::sleep(left),
            }
        }
    }
}
