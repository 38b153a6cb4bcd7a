//! The task metadata a run uses: the cache when it holds a usable entry for this endpoint,
//! else `/task`; the run's own container; one re-read when the stats name a container the
//! metadata does not; the identity a failed run still tags `exporter_status:0` with.

use crate::cache::{self, CacheEntry};
use crate::config::filter::DEFAULT_OWN_CONTAINER_NAME;
use crate::ecs::retry::Fetcher;
use crate::ecs::{Endpoint, FetchError, StatsSample, Task};
use crate::folder::PrivateFile;

/// The task metadata in use, and where it came from.
pub(super) struct Metadata {
    pub(super) task: Task,
    pub(super) own_container_name: String,
    /// Logged when a stale cache is detected.
    pub(super) from_cache: bool,
}

/// The task identity for `exporter_status:0` when the task metadata could not be read, so a
/// monitor scoped like the normal series sees it: the cache for this endpoint whatever its
/// age (the endpoint URL is per container, so it is the same task), else the ECS labels in
/// the container metadata at the endpoint root, else none (the constant tags only).
pub(super) fn identity_when_failing(
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

/// The task metadata: from `cached` when it holds a usable entry, else fetched (and stored
/// in `cache_file`).
pub(super) fn load_metadata(
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
pub(super) fn lookup_own_container_name(
    fetcher: &mut Fetcher,
    endpoint: &dyn Endpoint,
) -> Option<String> {
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

pub(super) fn fetch_metadata(
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
pub(super) fn store_cache(
    path: &PrivateFile,
    endpoint: &dyn Endpoint,
    task: &Task,
    own: Option<String>,
) {
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
pub(super) fn refresh_if_unknown(
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
