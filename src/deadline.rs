//! The run's time budget, as one value every phase consults: each request, each retry's
//! backoff and the send ask it how long they may take, so no phase can outlast it.
//!
//! Two bounds make it up:
//! - the fetch budget (`--fetch-budget`): time spent on requests and backoff, whatever the
//!   interval;
//! - the stop deadline: from the moment the run sees a stop signal, everything left (the last
//!   sample, a `/task` re-read, the own-container lookup, the send) shares one `--timeout`,
//!   so the whole stop fits a container's grace period (`docker stop` and ECS give 10 s)
//!   however many requests are still to come. Before, each of them had its own `--timeout`
//!   (13.5 s from SIGTERM to exit against a slow endpoint).
//!
//! A request also never takes more than `--timeout`. The handle is cheap to clone: the
//! fetcher and the send hold the same budget.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::signals::Shutdown;

#[derive(Clone)]
pub struct Deadline<'a> {
    state: Rc<State>,
    /// Signals start the stop deadline (see [`Deadline::until_stop`]).
    shutdown: Option<&'a Shutdown>,
}

struct State {
    /// `--timeout`: per request, and the time from a stop signal to the end of the run.
    request_timeout: Duration,
    /// `--fetch-budget`.
    fetch_budget: Duration,
    /// Spent so far on requests and backoff.
    fetch_spent: Cell<Duration>,
    /// Set when the run first sees a signal.
    stop_by: Cell<Option<Instant>>,
}

/// Why a phase gets no time at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spent {
    /// `--fetch-budget` is used up.
    FetchBudget,
    /// `--timeout` has passed since the stop signal.
    StopDeadline,
}

impl Deadline<'static> {
    pub fn new(request_timeout: Duration, fetch_budget: Duration) -> Deadline<'static> {
        Deadline {
            state: Rc::new(State {
                request_timeout,
                fetch_budget,
                fetch_spent: Cell::new(Duration::ZERO),
                stop_by: Cell::new(None),
            }),
            shutdown: None,
        }
    }
}

impl<'a> Deadline<'a> {
    /// Start the stop deadline when a signal from `shutdown` is first seen.
    pub fn watching(self, shutdown: &'a Shutdown) -> Deadline<'a> {
        Deadline {
            state: self.state,
            shutdown: Some(shutdown),
        }
    }

    pub fn fetch_budget(&self) -> Duration {
        self.state.fetch_budget
    }

    /// Start the stop deadline now, if a signal came and it has not started yet. Every
    /// question below asks this first, so the deadline starts when the run first looks after
    /// the signal: at once in a wait, within 25 ms in a request (see `ecs::client`).
    fn notice_signal(&self) {
        let state = &self.state;
        if state.stop_by.get().is_none() && self.shutdown.and_then(Shutdown::received).is_some() {
            state
                .stop_by
                .set(Some(Instant::now() + state.request_timeout));
        }
    }

    /// Start the stop deadline now, as a signal would (for unit tests).
    #[cfg(test)]
    pub(crate) fn stop_now(&self) {
        let state = &self.state;
        if state.stop_by.get().is_none() {
            state
                .stop_by
                .set(Some(Instant::now() + state.request_timeout));
        }
    }

    /// Time left before the stop deadline; `None` while no signal came.
    pub fn until_stop(&self) -> Option<Duration> {
        self.notice_signal();
        self.state
            .stop_by
            .get()
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// What is left of the fetch budget, and of the stop deadline once it runs.
    pub fn fetch_left(&self) -> Duration {
        let state = &self.state;
        let budget = state.fetch_budget.saturating_sub(state.fetch_spent.get());
        self.until_stop().map_or(budget, |stop| budget.min(stop))
    }

    /// How long the next request may take: `--timeout`, within what is left; `Err` when
    /// nothing is left, saying which bound ran out (no request is then made).
    pub fn for_request(&self) -> Result<Duration, Spent> {
        let stop = self.until_stop();
        if stop.is_some_and(|left| left.is_zero()) {
            return Err(Spent::StopDeadline);
        }
        let left = self.fetch_left();
        if left.is_zero() {
            return Err(Spent::FetchBudget);
        }
        Ok(self.state.request_timeout.min(left))
    }

    /// Count `took` against the fetch budget.
    pub fn charge_fetch(&self, took: Duration) {
        let spent = &self.state.fetch_spent;
        spent.set(spent.get().saturating_add(took));
    }

    /// Seconds spent fetching (`exporter_fetch_seconds`).
    pub fn fetch_seconds(&self) -> f64 {
        self.state.fetch_spent.get().as_secs_f64()
    }

    /// How long the send phase may wait for room in a full socket buffer: `wait`, or what is
    /// left of the stop deadline when that is less (zero: never wait).
    pub fn for_send(&self, wait: Duration) -> Duration {
        self.until_stop().map_or(wait, |left| wait.min(left))
    }
}

impl std::fmt::Display for Spent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Spent::FetchBudget => "the run's fetch budget (--fetch-budget) is spent",
            Spent::StopDeadline => {
                "the stop deadline is reached (--timeout after the signal, shared by every \
                 request and the send left)"
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_request_gets_the_timeout_within_the_fetch_budget() {
        let deadline = Deadline::new(5 * SECOND, 30 * SECOND);
        assert_eq!(deadline.for_request(), Ok(5 * SECOND));
        deadline.charge_fetch(28 * SECOND);
        assert_eq!(deadline.for_request(), Ok(2 * SECOND));
        assert_eq!(deadline.fetch_seconds(), 28.0);
        deadline.charge_fetch(3 * SECOND);
        assert_eq!(deadline.for_request(), Err(Spent::FetchBudget));
        // No signal: the send waits what it asks.
        assert_eq!(deadline.for_send(SECOND / 2), SECOND / 2);
    }

    /// After a signal every request and the send share one `--timeout` from the signal: what
    /// one phase takes, the next does not get.
    #[test]
    fn after_a_signal_every_phase_shares_one_timeout() {
        let deadline = Deadline::new(60 * SECOND, 300 * SECOND);
        let clone = deadline.clone();
        deadline.stop_now();
        let first = clone.for_request().unwrap();
        assert!(first <= 60 * SECOND && first > 59 * SECOND, "{first:?}");
        assert!(
            clone.until_stop().is_some(),
            "one budget, seen by every holder"
        );
        assert_eq!(clone.for_send(SECOND / 2), SECOND / 2);

        let short = Deadline::new(Duration::from_millis(30), 300 * SECOND);
        short.stop_now();
        // Bounded: the deadline passes within a few sleeps of 30 ms.
        for _ in 0..100 {
            if short.for_request().is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(short.for_request(), Err(Spent::StopDeadline));
        assert_eq!(short.for_send(SECOND / 2), Duration::ZERO, "no wait left");
        assert_eq!(short.fetch_left(), Duration::ZERO);
    }
}
