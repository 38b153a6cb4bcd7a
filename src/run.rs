//! One invocation: metadata → samples (spread over the interval) → metrics → send.
//!
//! Data flows one way; every failure becomes a [`Failure`] carrying its exit status, and
//! `main` prints it once.

use std::fmt;
use std::time::{Duration, Instant};

use crate::cache::{self, CacheEntry};
use crate::config::Config;
use crate::deadline::Deadline;
use crate::ecs::task::Container;
use crate::ecs::{Endpoint, FetchError, LiveEndpoint, Source, StatsSample, Task};
use crate::fetch::Fetcher;
use crate::filter::DEFAULT_OWN_CONTAINER_NAME;
use crate::folder::PrivateFile;
use crate::metrics::{Metric, Tagger};
use crate::output::{self, Batch, Destination, Exporter, Format};
use crate::pipeline::{self, Options, RunReport};
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
    /// The stats held none of the containers `/task` lists as running.
    fn unmeasured(running: &[&str]) -> Failure {
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
        None => pipeline::running_without_stats(&metadata.task, &samples),
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
        agent_divides_network: config.ecs_agent_divides_network,
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
    let all = pipeline::selected_series(
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

/// The endpoint failure stays the run's failure (its exit status) when what could still be
/// sent was not delivered either; the one error line names both.
fn also_unsent(failure: Failure, delivered: Result<Sent, Failure>) -> Failure {
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

/// The samples of this run, live or replayed, and the error that stopped the reading early
/// (the samples read before it are kept: what one sample gives is still sent).
fn collect(
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
                samples: config.samples,
                interval: config.interval,
                max_age: config.max_age,
                state_file,
            };
            collect_live(&plan, http, fetcher, task, shutdown)?
        }
        Source::Replay(replay) => fetcher
            .read(|_| replay.samples())
            .map(|all| pick_replay(all, config.samples))
            .map_err(|error| (Vec::new(), error)),
    };
    Ok(match collected {
        Ok(samples) => (samples, None),
        Err((samples, error)) => (samples, Some(error)),
    })
}

/// The failure of a run whose reading stopped after `samples` samples.
fn partial_failure(error: &FetchError, abandoned: Option<i32>, samples: usize) -> Failure {
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

/// The task identity for `exporter_status:0` when the task metadata could not be read, so a
/// monitor scoped like the normal series sees it: the cache for this endpoint whatever its
/// age (the endpoint URL is per container, so it is the same task), else the ECS labels in
/// the container metadata at the endpoint root, else none (the constant tags only).
fn identity_when_failing(
    fetcher: &mut Fetcher,
    endpoint: &dyn Endpoint,
    cache_file: Option<&PrivateFile>,
) -> Task {
    // Quietly: a cache that is not used was reported when the metadata was loaded.
    let location = endpoint.location();
    if let Some(entry) = cache_file.and_then(|path| cache::read_entry(path, &location).ok()?) {
        return entry.task;
    }
    match fetcher.read(|timeout| endpoint.fetch_container(timeout)) {
        Ok(root) => root.and_then(|root| root.identity()).unwrap_or_default(),
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

/// How a live run takes its samples.
struct Sampling<'a> {
    /// Samples per run (at least 2).
    samples: usize,
    interval: Duration,
    /// `--since-last-run`: the state file, and how old its sample may be.
    state_file: Option<&'a PrivateFile>,
    max_age: Duration,
}

/// Take the live samples: one, then (unless `--since-last-run` found a usable previous
/// sample) `samples - 1` more, spread evenly over the interval. A signal cuts the wait short
/// and the final sample is taken at once. On a failed read, the samples read so far come
/// back with the error, so what needs one sample is still sent.
fn collect_live(
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
    let previous = plan
        .state_file
        .and_then(|path| state::load(path, &endpoint.location(), task_arn, plan.max_age, &first));
    let mut samples = Vec::with_capacity(plan.samples);
    let more = if let Some(previous) = previous {
        endpoint.capture_previous(&previous);
        samples.push(previous);
        0
    } else {
        plan.samples - 1
    };
    samples.push(first);
    let step = plan.interval.div_f64(more.max(1) as f64);
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
fn store_last_sample(
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

/// What a send delivered, when nothing was lost.
struct Sent {
    count: usize,
    /// Every byte reached its destination ([`output::SendReport::delivered`]), which a
    /// reader that went away (a broken pipe, no error) makes false.
    complete: bool,
}

/// Send (and write `--output-file`) and turn any loss into exit status 3, reported once with
/// the count.
fn send(
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

/// Whether the run sends DogStatsD lines to a socket (not stdout or a file).
fn sends_lines(output: &output::Options) -> bool {
    output.format == Format::Statsd && output.destination != Destination::Stdout
}

/// Where the run's output goes, and for a socket the settings that chose it:
/// `UDP 10.0.0.5:8125 (set by DD_AGENT_HOST)`, `--output-file /srv/m.prom`, `stdout`.
fn destination(output: &output::Options) -> String {
    if sends_lines(output) {
        format!("{} (set by {})", output.destination, output.chosen_by)
    } else if let Some(path) = &output.output_file {
        format!("--output-file {}", path.display())
    } else {
        "stdout".to_string()
    }
}

/// The hint of a send error: where the lines were going.
fn what_to_check(output: &output::Options) -> &'static str {
    let to_stdout = output.format != Format::Statsd || output.destination == Destination::Stdout;
    if !to_stdout {
        "check that the StatsD/Datadog agent is listening and keeping up"
    } else if output.output_file.is_some() {
        "check that the --output-file folder is writable and has room"
    } else {
        "check that stdout is open for writing and has room"
    }
}

/// The task metadata: from `cached` when it holds a usable entry, else fetched (and stored
/// in `cache_file`).
fn load_metadata(
    fetcher: &mut Fetcher,
    endpoint: &dyn Endpoint,
    cached: Option<&PrivateFile>,
    cache_file: Option<&PrivateFile>,
) -> Result<Metadata, FetchError> {
    let Some((path, entry)) =
        cached.and_then(|path| cache::load(path, &endpoint.location()).map(|e| (path, e)))
    else {
        return fetch_metadata(fetcher, endpoint, cache_file);
    };
    log::debug!("using cached task metadata for {}", entry.task_arn);
    // Only answers are cached: a lookup that failed is tried again.
    let own = match entry.own_container_name {
        Some(own) => Some(own),
        None => {
            let own = lookup_own_container_name(fetcher, endpoint);
            if own.is_some() {
                store_cache(path, endpoint, &entry.task, own.clone());
            }
            own
        }
    };
    // Values the agent updates while the task runs are never served from the cache.
    let task = if entry.task.changes_while_running() {
        log::debug!("the task carries values that change while it runs: re-reading /task");
        match fetcher.read(|timeout| endpoint.fetch_task(timeout)) {
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
fn lookup_own_container_name(fetcher: &mut Fetcher, endpoint: &dyn Endpoint) -> Option<String> {
    fetcher
        .read(|timeout| {
            endpoint
                .fetch_container(timeout)?
                .map(|c| c.name())
                .transpose()
        })
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
    endpoint: &dyn Endpoint,
    cache_file: Option<&PrivateFile>,
) -> Result<Metadata, FetchError> {
    let task = fetcher.read(|timeout| endpoint.fetch_task(timeout))?;
    let own = lookup_own_container_name(fetcher, endpoint);
    if let Some(path) = cache_file {
        store_cache(path, endpoint, &task, own.clone());
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
fn store_cache(path: &PrivateFile, endpoint: &dyn Endpoint, task: &Task, own: Option<String>) {
    let Some(task_arn) = task.task_arn.clone().filter(|_| task.is_running()) else {
        log::info!("task is not RUNNING (or has no ARN): metadata not cached");
        return;
    };
    let entry = CacheEntry {
        version: cache::FORMAT_VERSION,
        endpoint: endpoint.location(),
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
    endpoint: &dyn Endpoint,
    cache_file: Option<&PrivateFile>,
    metadata: &mut Metadata,
    last: &StatsSample,
) {
    let unknown = |task: &Task| -> Vec<String> {
        last.with_metadata(task)
            .filter(|(_, _, container)| container.is_none())
            .map(|(id, _, _)| id.to_string())
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
    match fetch_metadata(fetcher, endpoint, cache_file) {
        Ok(fresh) => *metadata = fresh,
        Err(e) => log::warn!("re-reading the task metadata failed: {e}"),
    }
    let still = unknown(&metadata.task);
    if !still.is_empty() {
        log::warn!(
            "skipping {} container(s) with stats but absent from the task metadata: {}",
            still.len(),
            still.join(", ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    use crate::ecs::ContainerMetadata;
    use crate::ecs::endpoint::fake::{Fake, fails, named};

    const ARN: &str = "arn:aws:ecs:us-west-2:111122223333:task/prod/abc";

    fn fetcher<'a>() -> Fetcher<'a> {
        Fetcher::new(Deadline::new(
            Duration::from_secs(1),
            Duration::from_secs(30),
        ))
    }

    /// A RUNNING task holding containers with these Docker IDs (named like them), and
    /// `extra` JSON fields.
    fn task(ids: &[&str], extra: &str) -> Task {
        let containers: Vec<String> = ids
            .iter()
            .map(|id| format!(r#"{{"DockerId":"{id}","Name":"{id}"{extra}}}"#))
            .collect();
        let body = format!(
            r#"{{"TaskARN":"{ARN}","KnownStatus":"RUNNING","Containers":[{}]}}"#,
            containers.join(",")
        );
        Task::parse(body.as_bytes()).unwrap()
    }

    /// A stats read holding these containers, read at second `second`.
    fn stats(ids: &[&str], second: u32) -> StatsSample {
        let entries: Vec<String> = ids
            .iter()
            .map(|id| {
                format!(r#""{id}":{{"read":"2024-05-14T10:00:{second:02}Z","cpu_stats":{{}}}}"#)
            })
            .collect();
        StatsSample::parse(format!("{{{}}}", entries.join(",")).as_bytes()).unwrap()
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ecs-statsd-run-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn plan(samples: usize, state_file: Option<&PrivateFile>) -> Sampling<'_> {
        Sampling {
            samples,
            interval: Duration::ZERO,
            state_file,
            max_age: Duration::from_secs(600),
        }
    }

    /// The cache branch: a cache for this endpoint gives the identity, quietly and whatever
    /// its age, before any request.
    #[test]
    fn a_cache_for_this_endpoint_gives_the_identity_when_failing() {
        let dir = temp_dir("identity");
        let path = PrivateFile::open(&dir.join("metadata.json")).unwrap();
        let endpoint = Fake::new([Err(fails("/task"))]).container([Err(fails("/"))]);
        let task = Task {
            cluster: Some("prod".into()),
            family: Some("web".into()),
            task_arn: Some(ARN.into()),
            ..Task::default()
        };
        let entry = CacheEntry {
            version: cache::FORMAT_VERSION,
            endpoint: endpoint.location(),
            task_arn: ARN.into(),
            own_container_name: None,
            task: task.clone(),
        };
        cache::store(&path, &entry).unwrap();
        let mut fetcher = fetcher();
        assert_eq!(
            identity_when_failing(&mut fetcher, &endpoint, Some(&path)),
            task
        );
        assert_eq!(
            (endpoint.container_reads.get(), fetcher.errors),
            (0, 0),
            "no request"
        );
        // Another endpoint's cache is not this task's identity: the labels at the root are
        // read, and a failed read leaves none.
        let other = CacheEntry {
            endpoint: "http://169.254.170.2/v4/other".into(),
            ..entry
        };
        cache::store(&path, &other).unwrap();
        assert_eq!(
            identity_when_failing(&mut fetcher, &endpoint, Some(&path)),
            Task::default()
        );
        assert_eq!(endpoint.container_reads.get(), 1);
        let labelled = ContainerMetadata::parse(
            "GET fake/".into(),
            format!(r#"{{"Labels":{{"com.amazonaws.ecs.task-arn":"{ARN}"}}}}"#).into_bytes(),
        )
        .unwrap();
        let endpoint = Fake::new([]).container([Ok(Some(labelled))]);
        let identity = identity_when_failing(&mut fetcher, &endpoint, Some(&path));
        assert_eq!(identity.task_arn.as_deref(), Some(ARN));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A failed stats read returns the samples read before it with the error; a failed first
    /// read returns none. No read is made after the failure.
    #[test]
    fn a_failed_stats_read_keeps_the_samples_read_before_it() {
        let shutdown = Shutdown::unarmed();
        let task = task(&["a"], "");
        let endpoint = Fake::new([]).stats([
            Ok(stats(&["a"], 1)),
            Ok(stats(&["a"], 2)),
            Err(fails("/task/stats")),
        ]);
        let collected =
            collect_live(&plan(5, None), &endpoint, &mut fetcher(), &task, &shutdown).unwrap();
        let (samples, error) = collected.unwrap_err();
        assert_eq!(samples, [stats(&["a"], 1), stats(&["a"], 2)]);
        assert_eq!(error, fails("/task/stats"));
        assert_eq!(endpoint.stats_reads.get(), 3);

        let endpoint = Fake::new([]).stats([Err(fails("/task/stats"))]);
        let collected =
            collect_live(&plan(2, None), &endpoint, &mut fetcher(), &task, &shutdown).unwrap();
        assert_eq!(collected.unwrap_err().0, []);
        assert_eq!(endpoint.stats_reads.get(), 1);
    }

    /// `--samples N` reads N samples, in order; with a usable `--since-last-run` state the
    /// stored sample is the first and one read is made (and the capture records it).
    #[test]
    fn live_samples_are_read_in_order_or_once_after_a_stored_one() {
        let shutdown = Shutdown::unarmed();
        let task = task(&["a"], "");
        let reads: Vec<StatsSample> = (1..=4).map(|s| stats(&["a"], s)).collect();
        let endpoint = Fake::new([]).stats(reads.iter().cloned().map(Ok));
        let collected =
            collect_live(&plan(4, None), &endpoint, &mut fetcher(), &task, &shutdown).unwrap();
        assert_eq!(collected.unwrap(), reads);

        let dir = temp_dir("state");
        let state_file = PrivateFile::open(&dir.join("metadata.json.last-sample")).unwrap();
        let endpoint = Fake::new([]).stats([Ok(stats(&["a"], 9))]);
        state::store(&state_file, &endpoint.location(), ARN, &stats(&["a"], 5)).unwrap();
        let collected = collect_live(
            &plan(3, Some(&state_file)),
            &endpoint,
            &mut fetcher(),
            &task,
            &shutdown,
        )
        .unwrap();
        assert_eq!(collected.unwrap(), [stats(&["a"], 5), stats(&["a"], 9)]);
        assert_eq!(endpoint.stats_reads.get(), 1);
        assert_eq!(*endpoint.previous.borrow(), [stats(&["a"], 5)]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A signal received before the first sample is exit 128+N, with no read.
    #[test]
    fn a_signal_before_the_first_sample_reads_nothing() {
        let shutdown = Shutdown::unarmed();
        shutdown.pretend(signal_hook::consts::SIGTERM);
        let endpoint = Fake::new([]).stats([Ok(stats(&["a"], 1))]);
        let failure = collect_live(
            &plan(2, None),
            &endpoint,
            &mut fetcher(),
            &task(&["a"], ""),
            &shutdown,
        )
        .unwrap_err();
        assert_eq!(failure.status, 128 + 15);
        assert_eq!(endpoint.stats_reads.get(), 0);
    }

    /// Stats naming a container the metadata lacks: `/task` is read again once (and the own
    /// container with it); when the fresh metadata knows it, it replaces the old.
    #[test]
    fn a_container_unknown_to_the_task_makes_one_re_read() {
        let endpoint = Fake::new([Ok(task(&["a", "b"], ""))]);
        let mut metadata = Metadata {
            task: task(&["a"], ""),
            own_container_name: "x".into(),
            from_cache: true,
        };
        let mut fetcher = fetcher();
        refresh_if_unknown(
            &mut fetcher,
            &endpoint,
            None,
            &mut metadata,
            &stats(&["a", "b"], 1),
        );
        assert_eq!(endpoint.task_reads.get(), 1);
        assert!(metadata.task.container("b").is_some());
        assert_eq!(metadata.own_container_name, "ecs-statsd");
        assert!(!metadata.from_cache);

        // Known containers (and one without stats): no read.
        let mut null_stats = stats(&["a"], 1);
        null_stats.containers.insert("c".into(), None);
        refresh_if_unknown(&mut fetcher, &endpoint, None, &mut metadata, &null_stats);
        assert_eq!(endpoint.task_reads.get(), 1);

        // Still unknown after the re-read, or the re-read fails: one read each, the
        // metadata kept.
        for answer in [Ok(task(&["a"], "")), Err(fails("/task"))] {
            let endpoint = Fake::new([answer]);
            let before = task(&["a"], "");
            let mut metadata = Metadata {
                task: before.clone(),
                own_container_name: "x".into(),
                from_cache: false,
            };
            refresh_if_unknown(
                &mut fetcher,
                &endpoint,
                None,
                &mut metadata,
                &stats(&["a", "z"], 1),
            );
            assert_eq!(endpoint.task_reads.get(), 1);
            assert_eq!(metadata.task, before);
        }
    }

    fn cache_with(dir: &Path, endpoint: &Fake, task: &Task, own: Option<&str>) -> PrivateFile {
        let path = PrivateFile::open(&dir.join("metadata.json")).unwrap();
        let entry = CacheEntry {
            version: cache::FORMAT_VERSION,
            endpoint: endpoint.location(),
            task_arn: ARN.into(),
            own_container_name: own.map(String::from),
            task: task.clone(),
        };
        cache::store(&path, &entry).unwrap();
        path
    }

    /// A cached task is used without a request; one carrying values that change while it
    /// runs (`RestartCount`) is read again; when that read fails the cached task is sent
    /// without those values.
    #[test]
    fn a_cached_task_with_changing_values_is_read_again() {
        let dir = temp_dir("changing");
        let steady = task(&["a"], "");
        let endpoint = Fake::new([Err(fails("/task"))]);
        let path = cache_with(&dir, &endpoint, &steady, Some("me"));
        let metadata = load_metadata(&mut fetcher(), &endpoint, Some(&path), Some(&path)).unwrap();
        assert_eq!((metadata.task, metadata.from_cache), (steady, true));
        assert_eq!(metadata.own_container_name, "me");
        assert_eq!(
            endpoint.task_reads.get() + endpoint.container_reads.get(),
            0
        );

        let cached = task(&["a"], r#","RestartCount":1"#);
        let fresh = task(&["a"], r#","RestartCount":4"#);
        let endpoint = Fake::new([Ok(fresh.clone())]);
        let path = cache_with(&dir, &endpoint, &cached, Some("me"));
        let metadata = load_metadata(&mut fetcher(), &endpoint, Some(&path), Some(&path)).unwrap();
        assert_eq!(metadata.task, fresh);
        assert_eq!(endpoint.task_reads.get(), 1);

        let endpoint = Fake::new([Err(fails("/task"))]);
        let metadata = load_metadata(&mut fetcher(), &endpoint, Some(&path), Some(&path)).unwrap();
        assert_eq!(metadata.task, cached.clone().without_changing_values());
        assert_eq!(metadata.task.containers()[0].restart_count, None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The own container: looked up at the root; a failed lookup (or one without a name)
    /// assumes the default name and is cached as unknown, so the next run with a warm cache
    /// looks it up again and stores the answer.
    #[test]
    fn the_own_container_is_looked_up_until_known() {
        let no_name =
            ContainerMetadata::parse("GET fake/".into(), br#"{"DockerId":"x"}"#.to_vec()).unwrap();
        for answer in [Err(fails("/")), Ok(Some(no_name)), Ok(None)] {
            let dir = temp_dir("own");
            let path = PrivateFile::open(&dir.join("metadata.json")).unwrap();
            let endpoint = Fake::new([Ok(task(&["a"], ""))]).container([answer]);
            let metadata = load_metadata(&mut fetcher(), &endpoint, None, Some(&path)).unwrap();
            assert_eq!(metadata.own_container_name, DEFAULT_OWN_CONTAINER_NAME);
            let entry = cache::load(&path, &endpoint.location()).unwrap();
            assert_eq!(entry.own_container_name, None);

            let endpoint = Fake::new([Err(fails("/task"))]).container([Ok(named("sidecar"))]);
            let metadata =
                load_metadata(&mut fetcher(), &endpoint, Some(&path), Some(&path)).unwrap();
            assert_eq!(metadata.own_container_name, "sidecar");
            assert_eq!(
                (endpoint.task_reads.get(), endpoint.container_reads.get()),
                (0, 1)
            );
            let entry = cache::load(&path, &endpoint.location()).unwrap();
            assert_eq!(entry.own_container_name.as_deref(), Some("sidecar"));
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    /// A replay gives its first and last sample, or every one with `--samples` 3 or more.
    #[test]
    fn a_replay_picks_the_first_and_last_or_all() {
        let all: Vec<StatsSample> = (1..=5).map(|s| stats(&["a"], s)).collect();
        assert_eq!(
            pick_replay(all.clone(), 2),
            [all[0].clone(), all[4].clone()]
        );
        assert_eq!(pick_replay(all.clone(), 3), all);
        assert_eq!(pick_replay(all[..2].to_vec(), 2), all[..2]);
    }
}
