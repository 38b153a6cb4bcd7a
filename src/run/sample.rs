//! The samples of a run: live ones spread over the interval (a signal cuts the wait short),
//! a replay's pick, and the `--since-last-run` state read before and stored after.

use crate::config::{self, Config};
use crate::ecs::retry::Fetcher;
use crate::ecs::{Endpoint, FetchError, LiveEndpoint, Source, StatsSample, Task};
use crate::folder::PrivateFile;
use crate::output::Destination;
use crate::signals::Shutdown;
use crate::state;

use super::deliver::Sent;
use super::failure::Failure;
use super::metadata::Metadata;

/// The samples of this run, live or replayed, and the error that stopped the reading early
/// (the samples read before it are kept: what one sample gives is still sent).
pub(super) fn collect(
    config: &Config,
    source: &Source,
    state_file: Option<&PrivateFile>,
    fetcher: &mut Fetcher,
    task: &Task,
    shutdown: &Shutdown,
) -> Result<(Vec<StatsSample>, Option<FetchError>), Failure> {
    let collected = match source {
        Source::Live(http) => {
            let plan = Sampling {
                config: &config.sampling,
                state_file,
            };
            collect_live(&plan, http, fetcher, task, shutdown)?
        }
        Source::Replay(replay) => fetcher
            .read(|_| replay.samples())
            .map(|all| pick_replay(all, config.sampling.samples))
            .map_err(|error| (Vec::new(), error)),
    };
    Ok(match collected {
        Ok(samples) => (samples, None),
        Err((samples, error)) => (samples, Some(error)),
    })
}

pub(super) type Collected = Result<Vec<StatsSample>, (Vec<StatsSample>, FetchError)>;

/// How a live run takes its samples.
pub(super) struct Sampling<'a> {
    /// The configured samples per run (at least 2), interval and `--max-age`.
    pub(super) config: &'a config::sampling::Sampling,
    /// `--since-last-run`: the state file opened for this run.
    pub(super) state_file: Option<&'a PrivateFile>,
}

/// Take the live samples: one, then (unless `--since-last-run` found a usable previous
/// sample) `samples - 1` more, spread evenly over the interval. A signal cuts the wait short
/// and the final sample is taken at once. On a failed read, the samples read so far come
/// back with the error, so what needs one sample is still sent.
pub(super) fn collect_live(
    plan: &Sampling,
    endpoint: &dyn LiveEndpoint,
    fetcher: &mut Fetcher,
    task: &Task,
    shutdown: &Shutdown,
) -> Result<Collected, Failure> {
    if let Some(signal) = shutdown.received() {
        return Err(Failure::signal(signal));
    }
    let first = fetcher.read(|timeout| endpoint.fetch_stats(timeout));
    if let Some(signal) = shutdown.received() {
        return Err(Failure::signal(signal));
    }
    let first = match first {
        Ok(sample) => sample,
        Err(error) => return Ok(Err((Vec::new(), error))),
    };
    let task_arn = task.task_arn.as_deref().unwrap_or_default();
    let previous = plan.state_file.and_then(|path| {
        state::load(
            path,
            &endpoint.location(),
            task_arn,
            plan.config.max_age,
            &first,
        )
    });
    let mut samples = Vec::with_capacity(plan.config.samples);
    let more = if let Some(previous) = previous {
        endpoint.capture_previous(&previous);
        samples.push(previous);
        0
    } else {
        plan.config.samples - 1
    };
    samples.push(first);
    let step = plan.config.interval.div_f64(more.max(1) as f64);
    for taken in 1..=more {
        if shutdown.wait(step).is_some() {
            // `Shutdown::wait` has warned once, naming the signal.
            log::info!("interval cut short by a signal; taking the last sample now");
            // Acted on: the last sample is read, in one attempt bounded by the request
            // timeout (no retry after a signal); a second signal still exits at once.
            shutdown.acknowledge();
        }
        match fetcher.read(|timeout| endpoint.fetch_stats(timeout)) {
            Ok(sample) => samples.push(sample),
            Err(error) => return Ok(Err((samples, error))),
        }
        if shutdown.received().is_some() && taken < more {
            break;
        }
    }
    Ok(Ok(samples))
}

/// `--since-last-run`: keep the last sample for the next run, only once every byte of this
/// run's output was delivered (an undelivered interval is reported by the next run instead of
/// lost). A `--dry-run` reads the stored sample but never stores one: debugging must not take
/// an interval away from the cron job.
pub(super) fn store_last_sample(
    config: &Config,
    state_file: Option<&PrivateFile>,
    endpoint: &dyn Endpoint,
    metadata: &Metadata,
    samples: &[StatsSample],
    sent: &Sent,
) {
    let (Some(path), Some(last)) = (state_file, samples.last()) else {
        return;
    };
    if config.output.destination == Destination::Stdout {
        log::debug!("--dry-run: the previous-sample state is left as it was");
        return;
    }
    if !sent.complete {
        // A broken pipe stays exit 0 for a plain run, but that interval did not arrive: the
        // next run reports it.
        log::warn!(
            "the output was not read to the end (its reader went away): the --since-last-run \
             state is left as it was, for the next run to report this interval"
        );
        return;
    }
    let task_arn = metadata.task.task_arn.as_deref().unwrap_or_default();
    if let Err(e) = state::store(path, &endpoint.location(), task_arn, last) {
        log::warn!("previous-sample state not written: {e}");
    }
}

/// A replay's samples: the first and last file, or all of them with `--samples` 3 or more.
pub(super) fn pick_replay(mut all: Vec<StatsSample>, samples: usize) -> Vec<StatsSample> {
    if samples <= 2 && all.len() > 2 {
        let last = all.pop();
        all.truncate(1);
        all.extend(last);
    }
    all
}
