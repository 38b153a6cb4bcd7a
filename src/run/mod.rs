//! One invocation: metadata → samples (spread over the interval) → metrics → send.
//!
//! Data flows one way; every failure becomes a [`Failure`] carrying its exit status, and
//! `main` prints it once. The steps live beside this file: [`metadata`], [`sample`], [`deliver`],
//! [`failure`].

mod deliver;
mod failure;
mod metadata;
mod sample;

use std::time::Instant;

use crate::cache;
use crate::config::Config;
use crate::deadline::Deadline;
use crate::ecs::retry::Fetcher;
use crate::ecs::task::Container;
use crate::ecs::{FetchError, Source, StatsSample, Task};
use crate::folder::PrivateFile;
use crate::metrics::series::{self, Options, RunReport};
use crate::metrics::{Metric, Tagger};
use crate::output::Exporter;
use crate::signals::Shutdown;

use deliver::{also_unsent, batch, log_sent, send, sends_lines};
use failure::shortfall;
pub use failure::{EXIT_ENDPOINT, EXIT_SEND, EXIT_USAGE, Failure};
use metadata::{Metadata, identity_when_failing, load_metadata, refresh_if_unknown};
use sample::{collect, store_last_sample};

pub fn run(config: &Config) -> Result<(), Failure> {
    let started = Instant::now();
    let shutdown = Shutdown::install()
        .map_err(|e| Failure::usage(format!("cannot install signal handlers: {e}")))?;
    let source = open_source(config, &shutdown)?;
    let exporter = open_output(config)?;
    let endpoint = source.endpoint();
    // A replay is self-contained: it neither reads nor writes the cache or the state.
    let live = matches!(source, Source::Live(_));
    let (cache_file, state_file) = private_files(config, live);
    let (cache_file, state_file) = (cache_file.as_ref(), state_file.as_ref());
    // The run's one time budget: every request, every backoff and the send consult it.
    let deadline =
        Deadline::new(config.fetch.timeout, config.fetch.fetch_budget).watching(&shutdown);
    let mut fetcher = Fetcher::new(deadline.clone()).interruptible(&shutdown);

    // A capture records what it reads: /task too, never the cache's copy.
    let cached = cache_file.filter(|_| config.fetch.capture.is_none());
    let mut metadata = match load_metadata(&mut fetcher, endpoint, cached, cache_file) {
        Ok(metadata) => metadata,
        Err(error) => {
            // A signal abandoned the request or its backoff: before the first sample.
            if let Some(signal) = shutdown.received() {
                return Err(Failure::signal(signal));
            }
            let identity = identity_when_failing(&mut fetcher, endpoint, cache_file);
            return Err(send_status_zero(
                config, &exporter, &deadline, &identity, &error,
            ));
        }
    };

    let task = &metadata.task;
    let (samples, failure) = collect(config, &source, state_file, &mut fetcher, task, &shutdown)?;
    if let Some(last) = samples.last() {
        refresh_if_unknown(&mut fetcher, endpoint, cache_file, &mut metadata, last);
    }
    let shortfall = shortfall(failure, fetcher.abandoned, &metadata.task, &samples);
    let report = RunReport {
        read_failed: shortfall.is_some(),
        fetch_errors: fetcher.errors,
        // Wall-clock figures describe a live run; a replay must give the same lines every time.
        seconds: live.then(|| {
            (
                fetcher.deadline.fetch_seconds(),
                started.elapsed().as_secs_f64(),
            )
        }),
    };
    let all = series_of(config, &metadata, &samples, &report);
    let delivered = send(&exporter, &batch(&all, &samples), &config.output, &deadline);
    log_sent(&delivered, &config.output, started);
    if let Some(failure) = shortfall {
        return Err(also_unsent(failure, delivered));
    }
    // A replay has no state file: it stores nothing.
    let sent = delivered?;
    store_last_sample(config, state_file, endpoint, &metadata, &samples, &sent);
    Ok(())
}

/// A run that could not read the task metadata still sends `exporter_status:0`, tagged with
/// the identity it could find, so a monitor scoped like the normal series sees it.
fn send_status_zero(
    config: &Config,
    exporter: &Exporter,
    deadline: &Deadline,
    identity: &Task,
    error: &FetchError,
) -> Failure {
    let tags = Tagger::new(identity, config.tags.options, &config.tags.constant).run();
    let status = [Metric::exporter_status(false, tags)];
    let delivered = send(exporter, &batch(&status, &[]), &config.output, deadline);
    also_unsent(Failure::endpoint(error), delivered)
}

/// The endpoint or capture a run reads; a request in flight is abandoned at a signal.
fn open_source(config: &Config, shutdown: &Shutdown) -> Result<Source, Failure> {
    let interrupt = Some(shutdown.interrupt_flag());
    Source::new(
        &config.fetch.metadata_url,
        config.fetch.capture.as_deref(),
        interrupt,
    )
    .map_err(Failure::usage)
}

/// The output, checked before any sampling: a wrong host, socket or `--output-file` fails
/// fast, naming the setting that chose it.
fn open_output(config: &Config) -> Result<Exporter, Failure> {
    Exporter::new(&config.output).map_err(|e| {
        if sends_lines(&config.output) {
            Failure::send(format!("{e} (set by {})", config.output.chosen_by))
        } else {
            Failure::send(e)
        }
    })
}

/// The cache and the state of a live run: their private folder is opened once, here (one
/// warning when it is not usable, and the run goes on without them).
fn private_files(config: &Config, live: bool) -> (Option<PrivateFile>, Option<PrivateFile>) {
    match config.fetch.cache_file.as_deref().filter(|_| live) {
        Some(path) => match cache::open(path, config.sampling.state_file.as_deref()) {
            Some((cache_file, state_file)) => (Some(cache_file), state_file),
            None => (None, None),
        },
        None => (None, None),
    }
}

/// Every series of the run, for the containers the filter includes (one warning for an
/// `--include` that names no container of the task).
fn series_of(
    config: &Config,
    metadata: &Metadata,
    samples: &[StatsSample],
    report: &RunReport,
) -> Vec<Metric> {
    let unknown = config.sampling.filter.unknown_includes(&metadata.task);
    if !unknown.is_empty() {
        log::warn!(
            "--include names no container of this task: {} (its containers: {}); only their \
             task totals are sent for them",
            unknown.join(", "),
            container_names(&metadata.task)
        );
    }
    let own = metadata.own_container_name.as_str();
    let included = |c: &Container| config.sampling.filter.includes(c, own);
    let options = Options {
        tags: config.tags.options,
        constant_tags: &config.tags.constant,
        included: &included,
        agent_divides_network: config.ecs_agent_divides_network,
    };
    series::selected_series(
        &metadata.task,
        samples,
        &options,
        report,
        &config.sampling.selection,
    )
}

/// The task's container names, for a warning: `"web", "log-router"`.
fn container_names(task: &Task) -> String {
    let names: Vec<String> = task
        .containers()
        .iter()
        .filter_map(|c| c.name.as_deref())
        .map(|name| format!("{name:?}"))
        .collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests;
