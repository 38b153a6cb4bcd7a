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
use crate::ecs::{Source, Task};
use crate::metrics::series::{self, Options, RunReport};
use crate::metrics::{Metric, Tagger};
use crate::output::Exporter;
use crate::signals::Shutdown;

use deliver::{batch, destination, send, sends_lines};
pub use failure::{EXIT_ENDPOINT, EXIT_SEND, EXIT_USAGE, Failure};
use failure::{also_unsent, partial_failure};
use metadata::{identity_when_failing, load_metadata, refresh_if_unknown};
use sample::{collect, store_last_sample};

pub fn run(config: &Config) -> Result<(), Failure> {
    let started = Instant::now();
    let shutdown = Shutdown::install()
        .map_err(|e| Failure::usage(format!("cannot install signal handlers: {e}")))?;
    let source = Source::new(
        &config.metadata_url,
        config.capture.as_deref(),
        Some(shutdown.interrupt_flag()),
    )
    .map_err(Failure::usage)?;
    let exporter = Exporter::new(&config.output).map_err(|e| {
        if sends_lines(&config.output) {
            Failure::send(format!("{e} (set by {})", config.output.chosen_by))
        } else {
            Failure::send(e)
        }
    })?;
    let endpoint = source.endpoint();
    // A replay is self-contained: it neither reads nor writes the cache or the state.
    let live = matches!(source, Source::Live(_));
    // Their private folder is opened once, here (one warning when it is not usable).
    let (cache_file, state_file) = match config.cache_file.as_deref().filter(|_| live) {
        Some(path) => cache::open(path, config.state_file.as_deref()).unzip(),
        None => (None, None),
    };
    let (cache_file, state_file) = (cache_file.as_ref(), state_file.flatten());
    let state_file = state_file.as_ref();
    // The run's one time budget: every request, every backoff and the send consult it.
    let deadline = Deadline::new(config.timeout, config.fetch_budget).watching(&shutdown);
    let mut fetcher = Fetcher::new(deadline.clone()).interruptible(&shutdown);

    // A capture records what it reads: /task too, never the cache's copy.
    let cached = cache_file.filter(|_| config.capture.is_none());
    let mut metadata = match load_metadata(&mut fetcher, endpoint, cached, cache_file) {
        Ok(metadata) => metadata,
        Err(error) => {
            // A signal abandoned the request or its backoff: before the first sample.
            if let Some(signal) = shutdown.received() {
                return Err(Failure::signal(signal));
            }
            let identity = identity_when_failing(&mut fetcher, endpoint, cache_file);
            let tags = Tagger::new(&identity, config.tags, &config.constant_tags).run();
            let status = [Metric::exporter_status(false, tags)];
            let delivered = send(&exporter, &batch(&status, &[]), &config.output, &deadline);
            return Err(also_unsent(Failure::endpoint(&error), delivered));
        }
    };

    let (samples, failure) = collect(
        config,
        &source,
        state_file,
        &mut fetcher,
        &metadata.task,
        &shutdown,
    )?;

    if let Some(last) = samples.last() {
        refresh_if_unknown(&mut fetcher, endpoint, cache_file, &mut metadata, last);
    }
    // Stats for none of the running containers: nothing measured that was asked for.
    let unmeasured = match failure {
        None => series::running_without_stats(&metadata.task, &samples),
        Some(_) => Vec::new(),
    };
    let own = metadata.own_container_name.as_str();
    let unknown = config.filter.unknown_includes(&metadata.task);
    if !unknown.is_empty() {
        log::warn!(
            "--include names no container of this task: {} (its containers: {}); only their \
             task totals are sent for them",
            unknown.join(", "),
            container_names(&metadata.task)
        );
    }
    let included = |c: &Container| config.filter.includes(c, own);
    let options = Options {
        tags: config.tags,
        constant_tags: &config.constant_tags,
        included: &included,
    };
    let report = RunReport {
        read_failed: failure.is_some() || !unmeasured.is_empty(),
        fetch_errors: fetcher.errors,
        // Wall-clock figures describe a live run; a replay must give the same lines every time.
        seconds: live.then(|| {
            (
                fetcher.deadline.fetch_seconds(),
                started.elapsed().as_secs_f64(),
            )
        }),
    };
    let all = series::selected_series(
        &metadata.task,
        &samples,
        &options,
        &report,
        &config.selection,
    );
    let delivered = send(&exporter, &batch(&all, &samples), &config.output, &deadline);
    if let Ok(sent) = &delivered {
        log::info!(
            "sent {} metrics to {} in {:.3} s",
            sent.count,
            destination(&config.output),
            started.elapsed().as_secs_f64()
        );
    }
    match failure {
        None if !unmeasured.is_empty() => {
            Err(also_unsent(Failure::unmeasured(&unmeasured), delivered))
        }
        None => {
            let sent = delivered?;
            if live {
                store_last_sample(config, state_file, endpoint, &metadata, &samples, &sent);
            }
            Ok(())
        }
        Some(error) => {
            let failure = partial_failure(&error, fetcher.abandoned, samples.len());
            Err(also_unsent(failure, delivered))
        }
    }
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
