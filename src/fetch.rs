//! Every read of the endpoint in one run goes through a [`Fetcher`]: retries with backoff,
//! each attempt and wait bounded by the run's [`Deadline`] (the request timeout, the fetch
//! budget, the stop deadline after a signal), and the counts the run reports about itself
//! (`exporter_fetch_seconds`, `exporter_fetch_errors`).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::deadline::Deadline;
use crate::ecs::FetchError;
use crate::ecs::client::Retry;
use crate::signals::Shutdown;

/// At most this many attempts per read (the first and two retries).
pub const MAX_ATTEMPTS: u32 = 3;
/// Backoff before retry n (1-based): BASE × 2^(n-1), ±50% jitter so a fleet of tasks on one
/// instance does not retry in step against the agent's rate limit.
const BACKOFF_BASE: Duration = Duration::from_millis(200);

pub struct Fetcher<'a> {
    /// The run's time budget, shared with the send.
    pub deadline: Deadline<'a>,
    /// Failed attempts so far.
    pub errors: u64,
    /// The signal that made a read give up (abandoned, or its backoff cut), if any.
    pub abandoned: Option<i32>,
    /// Signals end backoff waits and abandon reads (see [`Fetcher::interruptible`]).
    shutdown: Option<&'a Shutdown>,
}

impl<'a> Fetcher<'a> {
    pub fn new(deadline: Deadline<'a>) -> Fetcher<'a> {
        Fetcher {
            deadline,
            errors: 0,
            abandoned: None,
            shutdown: None,
        }
    }

    /// A signal ends a backoff wait at once, and a read that failed while a signal was
    /// pending (the transport abandons it) is not retried.
    pub fn interruptible(mut self, shutdown: &'a Shutdown) -> Fetcher<'a> {
        self.shutdown = Some(shutdown);
        self
    }

    /// A signal the run has not acted on yet.
    fn pending_signal(&self) -> Option<i32> {
        self.shutdown
            .filter(|s| s.interrupted())
            .and_then(Shutdown::received)
    }

    fn remaining(&self) -> Duration {
        self.deadline.fetch_left()
    }

    /// Run `read` until it succeeds, fails for good, has been tried [`MAX_ATTEMPTS`] times, or
    /// the run's deadline leaves no time. `read` gets the time it may take; when none is left
    /// it is not called at all.
    pub fn read<T>(
        &mut self,
        mut read: impl FnMut(Duration) -> Result<T, FetchError>,
    ) -> Result<T, FetchError> {
        let mut attempt = 1;
        loop {
            let timeout = match self.deadline.for_request() {
                Ok(timeout) => timeout,
                Err(spent) => {
                    return Err(FetchError {
                        what: "the metadata endpoint".into(),
                        reason: format!("no request made: {spent}"),
                        retry: Retry::No,
                    });
                }
            };
            let started = Instant::now();
            let result = read(timeout);
            self.deadline.charge_fetch(started.elapsed());
            let error = match result {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            self.errors += 1;
            if let Some(signal) = self.pending_signal() {
                self.abandoned = Some(signal);
                let mut error = note(error, format!("stopped by signal {signal}"));
                error.retry = Retry::No;
                return Err(error);
            }
            if let Some(signal) = self.shutdown.and_then(Shutdown::received) {
                // The run is finishing on a signal it acted on (the interval was cut short):
                // its last sample gets one attempt, bounded by the request timeout, so the stop
                // fits in a container's grace period (`docker stop` gives 10 s).
                return Err(note(
                    error,
                    format!("no retry: finishing on signal {signal}"),
                ));
            }
            let Retry::Yes { after } = error.retry else {
                return Err(error);
            };
            if attempt >= MAX_ATTEMPTS {
                return Err(note(
                    error,
                    format!("gave up after {MAX_ATTEMPTS} attempts"),
                ));
            }
            let wait = after.unwrap_or_else(|| backoff(attempt));
            // Waiting must leave time for the next attempt to get an answer.
            if wait + Duration::from_millis(100) >= self.remaining() {
                let budget = self.deadline.fetch_budget().as_secs_f64();
                let why = match after {
                    // The budget may be nearly whole: the server's wait is the reason.
                    Some(asked) => format!(
                        "no retry: the server asked to wait {} s (Retry-After), too long for \
                         the {:.2} s left of the run's fetch budget ({budget} s)",
                        asked.as_secs_f64(),
                        self.remaining().as_secs_f64()
                    ),
                    None => format!("no retry: the run's fetch budget ({budget} s) is spent"),
                };
                return Err(note(error, why));
            }
            log::info!(
                "{error}; retrying in {:.2} s (attempt {} of {MAX_ATTEMPTS})",
                wait.as_secs_f64(),
                attempt + 1
            );
            let waited = Instant::now();
            let signal = match self.shutdown {
                Some(shutdown) => shutdown.wait(wait),
                None => {
                    std::thread::sleep(wait);
                    None
                }
            };
            self.deadline.charge_fetch(waited.elapsed());
            if let Some(signal) = signal {
                self.abandoned = Some(signal);
                return Err(note(error, format!("no retry: stopped by signal {signal}")));
            }
            attempt += 1;
        }
    }
}

fn note(mut error: FetchError, why: String) -> FetchError {
    error.reason = format!("{} ({why})", error.reason);
    error
}

fn backoff(attempt: u32) -> Duration {
    let nominal = BACKOFF_BASE * 2u32.pow(attempt.saturating_sub(1).min(8));
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    // 0.5 .. 1.5 of nominal.
    nominal.mul_f64(0.5 + f64::from(nanos % 1000) / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(retry: Retry) -> FetchError {
        FetchError {
            what: "GET x".into(),
            reason: "HTTP 503".into(),
            retry,
        }
    }

    #[test]
    fn retries_transient_errors_at_most_three_times() {
        let mut fetcher = Fetcher::new(Deadline::new(
            Duration::from_secs(1),
            Duration::from_secs(30),
        ));
        let mut calls = 0;
        let result: Result<(), _> = fetcher.read(|_| {
            calls += 1;
            Err(error(Retry::Yes {
                after: Some(Duration::ZERO),
            }))
        });
        assert_eq!(calls, 3);
        assert_eq!(fetcher.errors, 3);
        assert!(
            result
                .unwrap_err()
                .reason
                .contains("gave up after 3 attempts")
        );
    }

    #[test]
    fn no_retry_on_final_errors_and_success_stops() {
        let mut fetcher = Fetcher::new(Deadline::new(
            Duration::from_secs(1),
            Duration::from_secs(30),
        ));
        let mut calls = 0;
        let _ = fetcher.read::<()>(|_| {
            calls += 1;
            Err(error(Retry::No))
        });
        assert_eq!(calls, 1);
        let mut calls = 0;
        let ok = fetcher.read(|_| {
            calls += 1;
            if calls < 2 {
                Err(error(Retry::Yes {
                    after: Some(Duration::ZERO),
                }))
            } else {
                Ok(7)
            }
        });
        assert_eq!((ok, calls), (Ok(7), 2));
    }

    #[test]
    fn retry_after_beyond_the_budget_is_not_waited_for() {
        let mut fetcher = Fetcher::new(Deadline::new(
            Duration::from_secs(1),
            Duration::from_secs(2),
        ));
        let started = Instant::now();
        let result: Result<(), _> = fetcher.read(|_| {
            Err(error(Retry::Yes {
                after: Some(Duration::from_secs(60)),
            }))
        });
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(result.unwrap_err().reason.contains("budget"));
    }

    /// Past the run's deadline (here the fetch budget; the stop deadline after a signal the
    /// same way) no request is made at all, and the error says which bound ran out.
    #[test]
    fn no_request_once_the_deadline_leaves_no_time() {
        let deadline = Deadline::new(Duration::from_secs(5), Duration::from_secs(3));
        deadline.charge_fetch(Duration::from_secs(3));
        let mut fetcher = Fetcher::new(deadline);
        let mut calls = 0;
        let result: Result<(), _> = fetcher.read(|_| {
            calls += 1;
            Ok(())
        });
        assert_eq!(calls, 0);
        let error = result.unwrap_err();
        assert!(error.reason.contains("no request made"), "{error}");
        assert!(error.reason.contains("--fetch-budget"), "{error}");
        assert_eq!(error.retry, Retry::No);
    }

    #[test]
    fn per_request_timeout_never_exceeds_what_is_left() {
        let mut fetcher = Fetcher::new(Deadline::new(
            Duration::from_secs(5),
            Duration::from_secs(3),
        ));
        fetcher.deadline.charge_fetch(Duration::from_millis(2500));
        let mut given = Duration::ZERO;
        let _ = fetcher.read(|timeout| {
            given = timeout;
            Ok(())
        });
        assert!(given <= Duration::from_millis(500), "{given:?}");
    }
}
