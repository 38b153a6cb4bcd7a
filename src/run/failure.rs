//! How a run fails: the exit statuses and the one error line `main` prints.

use std::fmt;

use crate::ecs::{FetchError, StatsSample, Task};
use crate::metrics::series;

/// Exit statuses, documented in the README and in `--help`.
pub const EXIT_USAGE: u8 = 1;

pub const EXIT_ENDPOINT: u8 = 2;

pub const EXIT_SEND: u8 = 3;

#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub status: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            status: EXIT_USAGE,
            message: message.into(),
        }
    }
    pub(super) fn endpoint(error: &FetchError) -> Failure {
        Failure {
            status: EXIT_ENDPOINT,
            message: format!(
                "metadata endpoint failed: {error}; check that the task metadata endpoint is \
                 reachable from this container"
            ),
        }
    }
    pub(super) fn send(message: impl Into<String>) -> Failure {
        Failure {
            status: EXIT_SEND,
            message: message.into(),
        }
    }
    /// The stats held none of the containers `/task` lists as running.
    pub(super) fn unmeasured(running: &[&str]) -> Failure {
        Failure {
            status: EXIT_ENDPOINT,
            message: format!(
                "metadata endpoint failed: /task/stats holds no stats for any of the {} \
                 container(s) /task lists as RUNNING ({}): each is missing or null, so nothing \
                 was measured; sent exporter_status:0 with what the task metadata alone gives \
                 (limits); check that the ECS agent collects stats for this task (a task whose \
                 containers all stopped lists none as RUNNING and is no failure)",
                running.len(),
                running.join(", ")
            ),
        }
    }
    pub(super) fn signal(signal: i32) -> Failure {
        Failure {
            status: u8::try_from(128 + signal).unwrap_or(u8::MAX),
            message: format!("stopped by signal {signal} before the first sample; nothing sent"),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What a run could not measure: a read that failed part-way (`failure`, after `samples`
/// samples), or stats for none of the containers `/task` lists as running (nothing measured
/// that was asked for). `None`: it measured what it was asked.
pub(super) fn shortfall(
    failure: Option<FetchError>,
    abandoned: Option<i32>,
    task: &Task,
    samples: &[StatsSample],
) -> Option<Failure> {
    match failure {
        Some(error) => Some(partial_failure(&error, abandoned, samples.len())),
        None => Some(series::running_without_stats(task, samples))
            .filter(|running| !running.is_empty())
            .map(|running| Failure::unmeasured(&running)),
    }
}

/// The failure of a run whose reading stopped after `samples` samples.
pub(super) fn partial_failure(
    error: &FetchError,
    abandoned: Option<i32>,
    samples: usize,
) -> Failure {
    let failure = match abandoned {
        // A signal abandoned a stats request after the first sample (not one that cut the
        // interval short, which was acted on): what one sample gives was sent.
        Some(signal) => Failure {
            message: format!("stopped by signal {signal} during a stats request ({error})"),
            ..Failure::signal(signal)
        },
        None => Failure::endpoint(error),
    };
    Failure {
        message: format!("{}; {}", failure.message, partial_note(samples)),
        ..failure
    }
}

/// What a run that failed part-way still sent, for its one error line.
pub(super) fn partial_note(samples: usize) -> String {
    match samples {
        0 => "sent only the limits and exporter_status:0".to_string(),
        1 => "sent only one-sample series (limits; memory, IO and network levels) and \
              exporter_status:0, no CPU deltas or rates"
            .to_string(),
        n => format!("sent series over the {n} samples read, and exporter_status:0"),
    }
}
