//! Where the bytes of a run go, in one module: the agent's sockets ([`socket`]: UDP, a Unix
//! socket), stdout or memory for `--output-file` ([`stdout`]), the file replaced atomically
//! ([`file`]), and the [`Packer`] that joins DogStatsD lines into datagrams and counts what
//! each [`Transport`] accepted. The packing is ours, not cadence's buffered sinks: those report a line
//! as sent once it is buffered; here a line counts as sent only once the datagram (or write)
//! holding it was accepted.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cadence::MetricSink;

pub mod file;
mod socket;
mod stdout;

pub(super) use socket::{Udp, Unix, resolve};
pub use stdout::Printed;
pub(super) use stdout::Stdout;

/// How long a run's whole send may wait for room in a full socket buffer (a slow agent, a
/// traffic-shaped link): once this is spent, or one datagram waited in vain, what does not fit
/// at once is dropped and counted. Less after a stop signal (see [`crate::deadline`]).
pub(crate) const SEND_WAIT: Duration = Duration::from_millis(500);
/// A socket's send timeout is lowered to what is left of the wait only when it overshoots it
/// by more than this, so a send that never blocks costs no extra system call.
pub(super) const WAIT_SLACK: Duration = Duration::from_millis(20);
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Lines accepted and lost by a transport during one export, and the time it may still wait
/// for room in a full socket.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) accepted: usize,
    pub(super) lost: usize,
    pub(super) first_error: Option<String>,
    /// Lines of the last accepted datagram: a late refusal (UDP) is about it.
    pub(super) last_accepted: usize,
    /// The end of this export's wait for room (`None`: the transport's own timeout).
    pub(super) wait_until: Option<Instant>,
    /// The whole wait granted, for the warning.
    pub(super) wait: Duration,
    /// A datagram waited in vain: the rest of the export never waits.
    pub(super) stalled: bool,
    /// Lines written into a pipe whose reader had gone (not an error, not delivered).
    pub(super) unread: usize,
}

impl Tally {
    fn accept(&mut self, lines: usize) {
        self.accepted += lines;
        self.last_accepted = lines;
    }

    fn lose(&mut self, lines: usize, error: &io::Error) {
        self.lost += lines;
        self.first_error.get_or_insert_with(|| error.to_string());
    }

    /// The destination refused what it was last sent: that datagram did not arrive either.
    fn refused_late(&mut self, error: &io::Error) {
        let lines = std::mem::take(&mut self.last_accepted);
        self.accepted -= lines;
        self.lose(lines, error);
    }
}

/// Where packed lines go: one call per datagram (or stdout write).
pub(super) trait Transport: Send + Sync + std::panic::RefUnwindSafe + 'static {
    fn send(&self, datagram: &[u8]) -> io::Result<()>;

    /// From now on, wait at most `wait` for room in a full buffer (zero: never wait, fail
    /// with `WouldBlock` at once). A transport that never waits (stdout) ignores it.
    fn wait_for_room(&self, _wait: Duration) -> io::Result<()> {
        Ok(())
    }

    /// True when a refusal reports on an earlier datagram (connected UDP: ICMP port
    /// unreachable arrives after the datagram left), not on the one being sent.
    fn refusal_is_late(&self) -> bool {
        false
    }

    /// An error the destination reported after the last send.
    fn take_error(&self) -> Option<io::Error> {
        None
    }

    /// True when `BrokenPipe` means a reader that went away (stdout `| head`): not an error,
    /// the lines are counted unread. On a socket it is a loss like any other.
    fn reader_may_leave(&self) -> bool {
        false
    }
}

/// A cadence sink packing lines into datagrams of at most `capacity` bytes, as cadence's
/// buffered sinks do. Every line ends with `\n`, in every datagram and every stdout chunk:
/// this is the one place lines are joined, so it holds for every output. A line that does not
/// fit alone goes alone, still with its `\n` (cadence's sinks drop it there, and a Datadog
/// agent with `dogstatsd_eol_required` drops a line without one). Every datagram is sent once:
/// a failed one is counted lost, never resent.
///
/// The wait for room is the Packer's too, the same for UDP and the Unix socket: the whole
/// export waits at most the time [`Tally::wait_until`] grants, and the first datagram that
/// waits in vain makes every later one fail at once if it does not fit (counted, one
/// warning), instead of each waiting in turn (1165 datagrams took 10 minutes).
pub(super) struct Packer<T> {
    transport: T,
    capacity: usize,
    pending: Mutex<Pending>,
    tally: Arc<Mutex<Tally>>,
}

#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    lines: usize,
    /// The wait last given to [`Transport::wait_for_room`] (`None`: its own).
    wait_set: Option<Duration>,
}

impl<T: Transport> Packer<T> {
    pub(super) fn new(transport: T, capacity: usize, tally: &Arc<Mutex<Tally>>) -> Packer<T> {
        Packer {
            transport,
            capacity,
            pending: Mutex::new(Pending {
                buf: Vec::with_capacity(capacity),
                lines: 0,
                wait_set: None,
            }),
            tally: Arc::clone(tally),
        }
    }

    fn send_pending(&self, pending: &mut Pending) {
        if pending.lines > 0 {
            self.bound_the_wait(pending);
            let result = self.transport.send(&pending.buf);
            self.count(result, pending);
        }
        pending.buf.clear();
        pending.lines = 0;
    }

    /// Give the transport what is left of the export's wait, when its own is longer.
    fn bound_the_wait(&self, pending: &mut Pending) {
        let (until, stalled) = {
            let tally = lock(&self.tally);
            (tally.wait_until, tally.stalled)
        };
        let Some(until) = until else {
            return;
        };
        let left = if stalled {
            Duration::ZERO
        } else {
            until.saturating_duration_since(Instant::now())
        };
        let set = pending.wait_set.unwrap_or(SEND_WAIT);
        let change = if left.is_zero() {
            !set.is_zero()
        } else {
            set.is_zero() || set > left + WAIT_SLACK
        };
        if change && self.transport.wait_for_room(left).is_ok() {
            pending.wait_set = Some(left);
        }
    }

    fn count(&self, result: io::Result<()>, pending: &mut Pending) {
        let lines = pending.lines;
        let mut tally = lock(&self.tally);
        let e = match result {
            Ok(()) => return tally.accept(lines),
            Err(e)
                if e.kind() == io::ErrorKind::BrokenPipe && self.transport.reader_may_leave() =>
            {
                tally.unread += lines;
                return;
            }
            Err(e) => e,
        };
        if e.kind() == io::ErrorKind::ConnectionRefused && self.transport.refusal_is_late() {
            tally.refused_late(&e);
        }
        let full = matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        );
        if full && !tally.stalled {
            tally.stalled = true;
            log::warn!(
                "DogStatsD socket full: no room within {:?} (the send's one wait); dropping \
                 what does not fit at once for the rest of this run",
                tally.wait
            );
            if self.transport.wait_for_room(Duration::ZERO).is_ok() {
                pending.wait_set = Some(Duration::ZERO);
            }
        }
        tally.lose(lines, &e);
    }
}

impl<T: Transport> MetricSink for Packer<T> {
    fn emit(&self, line: &str) -> io::Result<usize> {
        let mut pending = lock(&self.pending);
        if pending.buf.len() + line.len() + 1 > self.capacity {
            self.send_pending(&mut pending);
        }
        pending.buf.extend_from_slice(line.as_bytes());
        pending.buf.push(b'\n');
        pending.lines += 1;
        // A line too long to share a datagram leaves at once, alone.
        if pending.buf.len() > self.capacity {
            self.send_pending(&mut pending);
        }
        Ok(line.len())
    }

    fn flush(&self) -> io::Result<()> {
        let mut pending = lock(&self.pending);
        self.send_pending(&mut pending);
        if let Some(error) = self.transport.take_error() {
            lock(&self.tally).refused_late(&error);
        }
        Ok(())
    }
}
