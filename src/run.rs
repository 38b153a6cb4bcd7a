//! One invocation: metadata → samples (spread over the interval) → metrics → send.
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
use crate::fetch::Fetcher;
use crate::filter::DEFAULT_OWN_CONTAINER_NAME;
use crate::metrics::{self, Input, Metric, Tagger, catalog};
use crate::output::{Batch, Destination, Exporter};
use crate::safe_write;
use crate::signals::Shutdown;
use crate::state;

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
    let shutdown = Shutdown::install()
        .map_err(|e| Failure::usage(format!("cannot install signal handlers: {e}")))?;
    let source = Source::new(
        &config.metadata_url,
        config.capture.as_deref(),
        Some(shutdown.interrupt_flag()),
    )
    .map_err(Failure::usage)?;
    let exporter = Exporter::new(&config.output).map_err(Failure::send)?;
    // A replay is self-contained: it neither reads nor writes the cache or the state.
    let live = !source.is_replay();
    let cache_file = config.cache_file.as_deref().filter(|_| live);
    let state_file = config
        .state_file
        .as_deref()
        .filter(|_| beside_a_usable_cache(cache_file));
    let mut fetcher =
        Fetcher::new(&source, config.timeout, config.fetch_budget).interruptible(&shutdown);

    // A capture records what it reads: /task too, never the cache's copy.
    let cached = cache_file.filter(|_| config.capture.is_none());
    let mut metadata = match load_metadata(&mut fetcher, cached, cache_file) {
        Ok(metadata) => metadata,
        Err(error) => {
            // A signal abandoned the request or its backoff: before the first sample.
            if let Some(signal) = shutdown.received() {
                return Err(Failure::signal(signal));
            }
            let identity = identity_when_failing(&mut fetcher, cache_file);
            let tags = Tagger::new(&identity, config.tags, &config.constant_tags).run();
            let status = [Metric::exporter_status(false, tags)];
            send(&exporter, &batch(&status, &[]))?;
            return Err(Failure::endpoint(&error));
        }
    };

    let collected = if live {
        collect_live(config, state_file, &mut fetcher, &metadata, &shutdown)?
    } else {
        fetcher
            .read(|s, _| s.replay())
            .map(|all| pick_replay(all, config.samples))
            .map_err(|error| (Vec::new(), error))
    };
    let (samples, failure) = match collected {
        Ok(samples) => (samples, None),
        Err((samples, error)) => (samples, Some(error)),
    };

    if let Some(last) = samples.last() {
        refresh_if_unknown(&mut fetcher, cache_file, &mut metadata, last);
    }
    let tagger = Tagger::new(&metadata.task, config.tags, &config.constant_tags);
    let own = metadata.own_container_name.as_str();
    let included = |c: &Container| config.filter.includes(c, own);
    let input = Input {
        task: &metadata.task,
        samples: &samples,
        included: &included,
        tagger: &tagger,
    };
    let mut all = metrics::compute(&input);
    all.push(Metric::exporter_status(
        failure.is_none() && samples.len() >= 2,
        tagger.run(),
    ));
    let measured = samples
        .last()
        .map_or(0, |s| metrics::measured_count(&metadata.task, s));
    all.push(Metric::int(
        &catalog::EXPORTER_CONTAINERS,
        measured as u64,
        tagger.run(),
    ));
    all.push(Metric::int(
        &catalog::EXPORTER_FETCH_ERRORS,
        fetcher.errors,
        tagger.run(),
    ));
    if live {
        // Wall-clock figures describe a live run; a replay must give the same lines every time.
        all.extend(Metric::derived(
            &catalog::EXPORTER_FETCH_SECONDS,
            fetcher.seconds,
            tagger.run(),
        ));
        all.extend(Metric::derived(
            &catalog::EXPORTER_RUN_SECONDS,
            started.elapsed().as_secs_f64(),
            tagger.run(),
        ));
    }
    let sent = send(&exporter, &batch(&all, &samples))?;
    log::info!(
        "sent {sent} metrics in {:.3} s",
        started.elapsed().as_secs_f64()
    );
    if failure.is_none() && live {
        store_last_sample(config, state_file, &fetcher, &metadata, &samples);
    }
    let Some(error) = failure else {
        return Ok(());
    };
    let failure = match fetcher.abandoned {
        // A signal abandoned a stats request after the first sample (not one that cut the
        // interval short, which was acted on): what one sample gives was sent.
        Some(signal) => Failure {
            message: format!("stopped by signal {signal} during a stats request ({error})"),
            ..Failure::signal(signal)
        },
        None => Failure::endpoint(&error),
    };
    Err(Failure {
        message: format!("{}; {}", failure.message, partial_note(samples.len())),
        ..failure
    })
}

/// The task identity for `exporter_status:0` when the task metadata could not be read, so a
/// monitor scoped like the normal series sees it: the cache for this endpoint whatever its
/// age (the endpoint URL is per container, so it is the same task), else the ECS labels in
/// the container metadata at the endpoint root, else none (the constant tags only).
fn identity_when_failing(fetcher: &mut Fetcher, cache_file: Option<&Path>) -> Task {
    // Quietly: a cache that is not used was reported when the metadata was loaded.
    let endpoint = fetcher.source.location();
    if let Some(entry) = cache_file.and_then(|path| cache::read_entry(path, &endpoint).ok()?) {
        return entry.task;
    }
    match fetcher.read(Source::fetch_root_identity) {
        Ok(Some(task)) => task,
        Ok(None) => Task::default(),
        Err(e) => {
            log::info!("no task identity for exporter_status either: {e}");
            Task::default()
        }
    }
}

/// What a run that failed part-way still sent, for its one error line.
fn partial_note(samples: usize) -> String {
    match samples {
        0 => "sent only the limits and exporter_status:0".to_string(),
        1 => "sent only one-sample series (limits; memory, IO and network levels) and \
              exporter_status:0, no CPU deltas or rates"
            .to_string(),
        n => format!("sent series over the {n} samples read, and exporter_status:0"),
    }
}

type Collected = Result<Vec<StatsSample>, (Vec<StatsSample>, FetchError)>;

/// Take the live samples: one, then (unless `--since-last-run` found a usable previous
/// sample) `samples - 1` more, spread evenly over the interval. A signal cuts the wait short
/// and the final sample is taken at once. On a failed read, the samples read so far come
/// back with the error, so what needs one sample is still sent.
fn collect_live(
    config: &Config,
    state_file: Option<&Path>,
    fetcher: &mut Fetcher,
    metadata: &Metadata,
    shutdown: &Shutdown,
) -> Result<Collected, Failure> {
    if let Some(signal) = shutdown.received() {
        return Err(Failure::signal(signal));
    }
    let first = fetcher.read(Source::fetch_stats);
    if let Some(signal) = shutdown.received() {
        return Err(Failure::signal(signal));
    }
    let first = match first {
        Ok(sample) => sample,
        Err(error) => return Ok(Err((Vec::new(), error))),
    };
    let endpoint = fetcher.source.location();
    let task_arn = metadata.task.task_arn.clone().unwrap_or_default();
    let previous =
        state_file.and_then(|path| state::load(path, &endpoint, &task_arn, config.max_age, &first));
    let mut samples = Vec::with_capacity(config.samples);
    let more = if let Some(previous) = previous {
        fetcher.source.capture_previous(&previous);
        samples.push(previous);
        0
    } else {
        config.samples - 1
    };
    samples.push(first);
    let step = config.interval.div_f64(more.max(1) as f64);
    for taken in 1..=more {
        if shutdown.wait(step).is_some() {
            // `Shutdown::wait` has warned once, naming the signal.
            log::info!("interval cut short by a signal; taking the last sample now");
            // Acted on: the last sample is read and its retries waited for (a second signal
            // still exits at once).
            shutdown.acknowledge();
        }
        match fetcher.read(Source::fetch_stats) {
            Ok(sample) => samples.push(sample),
            Err(error) => return Ok(Err((samples, error))),
        }
        if shutdown.received().is_some() && taken < more {
            break;
        }
    }
    Ok(Ok(samples))
}

/// `--since-last-run`: keep the last sample for the next run, only once this run's output was
/// delivered (an undelivered interval is reported by the next run instead of lost). A
/// `--dry-run` reads the stored sample but never stores one: debugging must not take an
/// interval away from the cron job.
fn store_last_sample(
    config: &Config,
    state_file: Option<&Path>,
    fetcher: &Fetcher,
    metadata: &Metadata,
    samples: &[StatsSample],
) {
    let (Some(path), Some(last)) = (state_file, samples.last()) else {
        return;
    };
    if config.output.destination == Destination::Stdout {
        log::debug!("--dry-run: the previous-sample state is left as it was");
        return;
    }
    let task_arn = metadata.task.task_arn.as_deref().unwrap_or_default();
    if let Err(e) = state::store(path, &fetcher.source.location(), task_arn, last) {
        log::warn!("previous-sample state not written: {e}");
    }
}

/// The `--since-last-run` state lives beside the cache: when the cache path is not a regular
/// file (`CACHE_FILE=/dev/null` to switch the cache off), nothing is written beside it either.
fn beside_a_usable_cache(cache_file: Option<&Path>) -> bool {
    match cache_file.and_then(|path| Some((path, safe_write::refuses(path)?))) {
        Some((path, kind)) => {
            log::warn!(
                "--since-last-run state off: the cache path {} is a {kind}",
                path.display()
            );
            false
        }
        None => true,
    }
}

/// A replay's samples: the first and last file, or all of them with `--samples` 3 or more.
fn pick_replay(mut all: Vec<StatsSample>, samples: usize) -> Vec<StatsSample> {
    if samples <= 2 && all.len() > 2 {
        let last = all.pop();
        all.truncate(1);
        all.extend(last);
    }
    all
}

fn batch<'a>(metrics: &'a [Metric], samples: &[StatsSample]) -> Batch<'a> {
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

/// Send (and write `--output-file`) and turn any loss into exit status 3, reported once with
/// the count.
fn send(exporter: &Exporter, batch: &Batch) -> Result<usize, Failure> {
    let report = exporter.export(batch);
    exporter
        .commit()
        .map_err(|e| Failure::send(format!("output not written: {e}")))?;
    if report.failed > 0 {
        return Err(Failure::send(format!(
            "{} of {} metrics could not be sent ({}); check that the StatsD/Datadog agent is \
             listening and keeping up",
            batch.metrics.len().saturating_sub(report.sent),
            batch.metrics.len(),
            report.first_error.unwrap_or_default()
        )));
    }
    Ok(report.sent)
}

/// The task metadata: from `cached` when it holds a usable entry, else fetched (and stored
/// in `cache_file`).
fn load_metadata(
    fetcher: &mut Fetcher,
    cached: Option<&Path>,
    cache_file: Option<&Path>,
) -> Result<Metadata, FetchError> {
    let Some((path, entry)) =
        cached.and_then(|path| cache::load(path, &fetcher.source.location()).map(|e| (path, e)))
    else {
        return fetch_metadata(fetcher, cache_file);
    };
    log::debug!("using cached task metadata for {}", entry.task_arn);
    // Only answers are cached: a lookup that failed is tried again.
    let own = match entry.own_container_name {
        Some(own) => Some(own),
        None => {
            let own = lookup_own_container_name(fetcher);
            if own.is_some() {
                store_cache(path, fetcher.source, &entry.task, own.clone());
            }
            own
        }
    };
    // Values the agent updates while the task runs are never served from the cache.
    let task = if entry.task.changes_while_running() {
        log::debug!("the task carries values that change while it runs: re-reading /task");
        match fetcher.read(Source::fetch_task) {
            Ok(task) => task,
            Err(e) => {
                log::warn!(
                    "re-reading /task failed ({e}); sending the cached metadata without the values it updates"
                );
                entry.task.without_changing_values()
            }
        }
    } else {
        entry.task
    };
    Ok(Metadata {
        task,
        own_container_name: own.unwrap_or_else(|| DEFAULT_OWN_CONTAINER_NAME.into()),
        from_cache: true,
    })
}

/// The name of the container this process runs in, or `None` (logged) when the endpoint root
/// does not say.
fn lookup_own_container_name(fetcher: &mut Fetcher) -> Option<String> {
    fetcher
        .read(Source::fetch_own_container_name)
        .unwrap_or_else(|e| {
            // A warning: when this container is not named ecs-statsd, its own series are sent
            // as if they were the application's.
            log::warn!(
                "own container lookup failed ({e}); assuming the name {DEFAULT_OWN_CONTAINER_NAME}"
            );
            None
        })
}

fn fetch_metadata(
    fetcher: &mut Fetcher,
    cache_file: Option<&Path>,
) -> Result<Metadata, FetchError> {
    let task = fetcher.read(Source::fetch_task)?;
    let own = lookup_own_container_name(fetcher);
    if let Some(path) = cache_file {
        store_cache(path, fetcher.source, &task, own.clone());
    }
    Ok(Metadata {
        task,
        own_container_name: own.unwrap_or_else(|| DEFAULT_OWN_CONTAINER_NAME.into()),
        from_cache: false,
    })
}

/// Cache only a RUNNING task with an ARN: a PENDING answer may still change (the ancestor
/// cached it and used it forever). `own: None` (the lookup failed) is cached as "not known
/// yet", and looked up again by the next run.
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
/// changed since `/task` was read: re-read it once. Containers still unknown are skipped with
/// a warning.
fn refresh_if_unknown(
    fetcher: &mut Fetcher,
    cache_file: Option<&Path>,
    metadata: &mut Metadata,
    last: &StatsSample,
) {
    let unknown = |task: &Task| -> BTreeSet<String> {
        last.containers
            .keys()
            .filter(|id| last.get(id).is_some() && task.container(id).is_none())
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
    match fetch_metadata(fetcher, cache_file) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The cache branch: a cache for this endpoint gives the identity, quietly and whatever
    /// its age, before any request (the endpoint here refuses every connection).
    #[test]
    fn a_cache_for_this_endpoint_gives_the_identity_when_failing() {
        let dir = std::env::temp_dir().join(format!("ecs-statsd-run-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("metadata.json");
        let source = Source::new("http://127.0.0.1:9", None, None).unwrap();
        let arn = "arn:aws:ecs:us-west-2:111122223333:task/prod/abc";
        let task = Task {
            cluster: Some("prod".into()),
            family: Some("web".into()),
            task_arn: Some(arn.into()),
            ..Task::default()
        };
        let entry = CacheEntry {
            version: cache::FORMAT_VERSION,
            endpoint: source.location(),
            task_arn: arn.into(),
            own_container_name: None,
            task: task.clone(),
        };
        cache::store(&path, &entry).unwrap();
        let mut fetcher = Fetcher::new(&source, Duration::from_secs(1), Duration::from_secs(1));
        assert_eq!(identity_when_failing(&mut fetcher, Some(&path)), task);
        assert_eq!(fetcher.errors, 0);
        // Another endpoint's cache is not this task's identity.
        let other = CacheEntry {
            endpoint: "http://169.254.170.2/v4/other".into(),
            ..entry
        };
        cache::store(&path, &other).unwrap();
        let mut fetcher = Fetcher::new(&source, Duration::from_secs(1), Duration::ZERO);
        assert_eq!(
            identity_when_failing(&mut fetcher, Some(&path)),
            Task::default()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
