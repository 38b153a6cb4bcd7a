//! The metadata and sampling policy of a run, through an in-memory endpoint.

use std::time::Duration;

use super::metadata::*;
use super::sample::*;
use super::*;
use crate::cache::CacheEntry;
use crate::config::filter::DEFAULT_OWN_CONTAINER_NAME;
use crate::ecs::{Endpoint, StatsSample};
use crate::folder::PrivateFile;
use crate::state;
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
        .map(|id| format!(r#""{id}":{{"read":"2024-05-14T10:00:{second:02}Z","cpu_stats":{{}}}}"#))
        .collect();
    StatsSample::parse(format!("{{{}}}", entries.join(",")).as_bytes()).unwrap()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ecs-statsd-run-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn plan(samples: usize, state_file: Option<&PrivateFile>) -> Sampling<'_> {
    let config = crate::config::sampling::Sampling {
        samples,
        interval: Duration::ZERO,
        max_age: Duration::from_secs(600),
        state_file: None,
        filter: Default::default(),
        selection: Default::default(),
    };
    Sampling {
        config: Box::leak(Box::new(config)),
        state_file,
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
        let metadata = load_metadata(&mut fetcher(), &endpoint, Some(&path), Some(&path)).unwrap();
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
