//! Sending a run's series, and the words for where they went: any loss is exit 3, reported
//! once with the count, the destination and what chose it.

use std::time::Instant;

use crate::deadline::Deadline;
use crate::ecs::StatsSample;
use crate::metrics::Metric;
use crate::output::{self, Batch, Destination, Exporter, Format};
use crate::state;

use super::failure::Failure;

pub(super) fn batch<'a>(metrics: &'a [Metric], samples: &[StatsSample]) -> Batch<'a> {
    // A read time before 1970 (a clock never set) is no time at all: no `|T` field, and EMF
    // falls back to the time of the run, rather than a timestamp of 0.
    let timestamp_ms = samples
        .last()
        .and_then(state::sample_time)
        .filter(|t| t.unix_seconds() > 0)
        .map(|t| t.unix_millis());
    Batch {
        metrics,
        timestamp_ms,
    }
}

/// What a send delivered, when nothing was lost.
pub(super) struct Sent {
    pub(super) count: usize,
    /// Every byte reached its destination ([`output::SendReport::delivered`]), which a
    /// reader that went away (a broken pipe, no error) makes false.
    pub(super) complete: bool,
}

/// Send (and write `--output-file`) and turn any loss into exit status 3, reported once with
/// the count.
pub(super) fn send(
    exporter: &Exporter,
    batch: &Batch,
    output: &output::Options,
    deadline: &Deadline,
) -> Result<Sent, Failure> {
    let report = exporter.export(batch, deadline);
    exporter
        .commit()
        .map_err(|e| Failure::send(format!("output not written: {e}")))?;
    if report.failed > 0 {
        return Err(Failure::send(format!(
            "{} of {} metrics could not be sent to {} ({}); {}",
            batch.metrics.len().saturating_sub(report.sent),
            batch.metrics.len(),
            destination(output),
            report.first_error.unwrap_or_default(),
            what_to_check(output)
        )));
    }
    Ok(Sent {
        count: report.sent,
        complete: report.delivered(),
    })
}

/// The `info` summary of a delivered run: how many, where (and what chose it), how long.
pub(super) fn log_sent(
    delivered: &Result<Sent, Failure>,
    output: &output::Options,
    started: Instant,
) {
    if let Ok(sent) = delivered {
        let seconds = started.elapsed().as_secs_f64();
        let to = destination(output);
        log::info!("sent {} metrics to {to} in {seconds:.3} s", sent.count);
    }
}

/// Whether the run sends DogStatsD lines to a socket (not stdout or a file).
pub(super) fn sends_lines(output: &output::Options) -> bool {
    output.format == Format::Statsd && output.destination != Destination::Stdout
}

/// Where the run's output goes, and for a socket the settings that chose it:
/// `UDP 10.0.0.5:8125 (set by DD_AGENT_HOST)`, `--output-file /srv/m.prom`, `stdout`.
pub(super) fn destination(output: &output::Options) -> String {
    if sends_lines(output) {
        format!("{} (set by {})", output.destination, output.chosen_by)
    } else if let Some(path) = &output.output_file {
        format!("--output-file {}", path.display())
    } else {
        "stdout".to_string()
    }
}

/// The hint of a send error: where the lines were going.
pub(super) fn what_to_check(output: &output::Options) -> &'static str {
    let to_stdout = output.format != Format::Statsd || output.destination == Destination::Stdout;
    if !to_stdout {
        "check that the StatsD/Datadog agent is listening and keeping up"
    } else if output.output_file.is_some() {
        "check that the --output-file folder is writable and has room"
    } else {
        "check that stdout is open for writing and has room"
    }
}

/// The endpoint failure stays the run's failure (its exit status) when what could still be
/// sent was not delivered either; the one error line names both.
pub(super) fn also_unsent(failure: Failure, delivered: Result<Sent, Failure>) -> Failure {
    match delivered {
        Ok(_) => failure,
        Err(unsent) => Failure {
            message: format!(
                "{}; and sending failed too: {}",
                failure.message, unsent.message
            ),
            ..failure
        },
    }
}
