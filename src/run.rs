//! One invocation: metadata → first sample → wait → second sample → metrics → send.
//!
//! Data flows one way; every failure becomes a [`Failure`] carrying its exit status, and
//! `main` prints it once.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::time::Instant;

use crate::cache::{self, CacheEntry};
use crate::config::Config;
use crate::ecs::task::Container;
use crate::ecs::{FetchError, Source, StatsSample, Task};
use crate::filter::DEFAULT_OWN_CONTAINER_NAME;
use crate::metrics::{self, Metric};
use crate::output::Sender;
use crate::signals::Shutdown;

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
    fn endpoint(error: &FetchError) -> Failure {
        Failure {
            status: EXIT_ENDPOINT,
            message: format!(
                "metadata endpoint failed: {error}; check that the task metadata endpoint is \
                 reachable from this container"
            ),
        }
    }
    fn send(message: impl Into<String>) -> Failure {
        Failure {
            status: EXIT_SEND,
            message: message.into(),
        }
    }
    fn signal(signal: i32) -> Failure {
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

/// The task metadata in use, and where it came from.
struct Metadata {
    task: Task,
    own_container_name: String,
    /// Logged when a stale cache is detected.
    from_cache: bool,
}

pub fn run(config: &Config) -> Result<(), Failure> {
    let started = Instant::now();
    let mut shutdown = Shutdown::install()
        .map_err(|e| Failure::usage(format!("cannot install signal handlers: {e}")))?;
    let source = Source::new(&config.metadata_url, config.timeout).map_err(Failure::usage)?;
    let sender = Sender::new(&config.destination, &config.prefix).map_err(Failure::send)?;
    // A replay is self-contained: it neither reads nor writes the cache.
    let cache_file = config.cache_file.as_deref().filter(|_| !source.is_replay());

    let mut metadata = match load_metadata(&source, cache_file) {
        Ok(metadata) => metadata,
        Err(error) => {
            send(&sender, &[Metric::exporter_status(false)])?;
            return Err(Failure::endpoint(&error));
        }
    };

    let first = source.fetch_stats(0);
    if let Some(signal) = shutdown.received() {
        return Err(Failure::signal(signal));
    }
    let first = match first {
        Ok(sample) => sample,
        Err(error) => {
            let mut partial = compute(
                config,
                &metadata,
                &StatsSample::default(),
                &StatsSample::default(),
            );
            partial.push(Metric::exporter_status(false));
            send(&sender, &partial)?;
            return Err(Failure::endpoint(&error));
        }
    };

    if !source.is_replay() && shutdown.wait(config.interval).is_some() {
        log::warn!(
            "interval cut short after {:.1} s by a signal; sampling now",
            started.elapsed().as_secs_f64()
        );
    }

    let second = match source.fetch_stats(1) {
        Ok(sample) => sample,
        Err(error) => {
            // What needs one sample only (limits, memory, IO and network levels) still goes.
            let mut partial = compute(config, &metadata, &StatsSample::default(), &first);
            partial.push(Metric::exporter_status(false));
            send(&sender, &partial)?;
            return Err(Failure::endpoint(&error));
        }
    };

    refresh_if_unknown(&source, cache_file, &mut metadata, &second);

    let mut all = compute(config, &metadata, &first, &second);
    all.push(Metric::exporter_status(true));
    let report = send(&sender, &all)?;
    log::info!(
        "sent {} metrics in {:.3} s",
        report,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn compute(
    config: &Config,
    metadata: &Metadata,
    first: &StatsSample,
    second: &StatsSample,
) -> Vec<Metric> {
    let own = metadata.own_container_name.as_str();
    let included = |c: &Container| config.filter.includes(c, own);
    metrics::compute(&metadata.task, first, second, &included)
}

/// Send and turn any loss into exit status 3, reported once with the count.
fn send(sender: &Sender, metrics: &[Metric]) -> Result<usize, Failure> {
    let report = sender.send(metrics);
    if report.failed > 0 {
        return Err(Failure::send(format!(
            "{} of {} metrics could not be sent: {}; check that the StatsD/Datadog agent is \
             listening",
            report.failed,
            metrics.len(),
            report.first_error.unwrap_or_default()
        )));
    }
    Ok(report.sent)
}

fn load_metadata(source: &Source, cache_file: Option<&Path>) -> Result<Metadata, FetchError> {
    if let Some(entry) = cache_file.and_then(|path| cache::load(path, &source.location())) {
        log::debug!("using cached task metadata for {}", entry.task_arn);
        return Ok(Metadata {
            task: entry.task,
            own_container_name: entry
                .own_container_name
                .unwrap_or_else(|| DEFAULT_OWN_CONTAINER_NAME.into()),
            from_cache: true,
        });
    }
    fetch_metadata(source, cache_file)
}

fn fetch_metadata(source: &Source, cache_file: Option<&Path>) -> Result<Metadata, FetchError> {
    let task = source.fetch_task()?;
    let own = source.fetch_own_container_name();
    if let Some(path) = cache_file {
        store_cache(path, source, &task, own.clone());
    }
    Ok(Metadata {
        task,
        own_container_name: own.unwrap_or_else(|| DEFAULT_OWN_CONTAINER_NAME.into()),
        from_cache: false,
    })
}

/// Cache only a RUNNING task with an ARN: a PENDING answer may still change (the ancestor
/// cached it and used it forever).
fn store_cache(path: &Path, source: &Source, task: &Task, own: Option<String>) {
    let Some(task_arn) = task.task_arn.clone().filter(|_| task.is_running()) else {
        log::info!("task is not RUNNING (or has no ARN): metadata not cached");
        return;
    };
    let entry = CacheEntry {
        version: cache::FORMAT_VERSION,
        endpoint: source.location(),
        task_arn,
        own_container_name: own,
        task: task.clone(),
    };
    if let Err(e) = cache::store(path, &entry) {
        log::warn!("metadata cache not written: {e}");
    }
}

/// A container in the stats but not in the metadata means the cache is stale or the task
/// changed since `/task` was read: re-read it once. Containers still unknown are skipped with a warning.
fn refresh_if_unknown(
    source: &Source,
    cache_file: Option<&Path>,
    metadata: &mut Metadata,
    second: &StatsSample,
) {
    let unknown = |task: &Task| -> BTreeSet<String> {
        second
            .containers
            .keys()
            .filter(|id| second.get(id).is_some() && task.container(id).is_none())
            .cloned()
            .collect()
    };
    if unknown(&metadata.task).is_empty() {
        return;
    }
    log::info!(
        "stats name containers missing from the {} metadata: re-reading /task",
        if metadata.from_cache {
            "cached"
        } else {
            "fetched"
        }
    );
    match fetch_metadata(source, cache_file) {
        Ok(fresh) => *metadata = fresh,
        Err(e) => log::warn!("re-reading the task metadata failed: {e}"),
    }
    let still = unknown(&metadata.task);
    if !still.is_empty() {
        log::warn!(
            "skipping {} container(s) with stats but absent from the task metadata: {}",
            still.len(),
            still.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
}
