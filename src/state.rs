//! `--since-last-run`: the previous run's last stats sample, kept beside the metadata cache
//! (same private, atomic writes), so a run can take one sample and still compute deltas.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ecs::StatsSample;
use crate::ecs::stats::ContainerStats;
use crate::ecs::timestamp::Timestamp;
use crate::folder::PrivateFile;

pub const FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    endpoint: String,
    task_arn: String,
    sample: BTreeMap<String, Option<ContainerStats>>,
}

/// `--since-last-run` keeps its sample beside the metadata cache: `metadata.json.last-sample`.
pub fn file_beside(cache_file: &Path) -> std::path::PathBuf {
    let name = cache_file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("metadata.json");
    cache_file.with_file_name(format!("{name}.last-sample"))
}

/// The time of a sample: the latest `read` of its containers.
pub fn sample_time(sample: &StatsSample) -> Option<Timestamp> {
    sample
        .containers
        .values()
        .flatten()
        .filter_map(ContainerStats::read_at)
        .max()
}

/// The stored sample, if it can be the first sample for `new`: same endpoint and task, older
/// than `new` by at most `max_age`, and holding every container `new` has stats for.
/// Otherwise `None`, with the reason as a warning (the run falls back to two samples and
/// takes the whole interval); the first run, which has no previous sample yet, says so at
/// info level only.
pub fn load(
    file: &PrivateFile,
    endpoint: &str,
    task_arn: &str,
    max_age: Duration,
    new: &StatsSample,
) -> Option<StatsSample> {
    let fallback = |why: String| {
        log::warn!(
            "previous sample {} not used: {why}; taking two samples",
            file.path().display()
        );
        None
    };
    let body = match file.read() {
        Ok(Some(body)) => body,
        Ok(None) => {
            log::info!(
                "no previous sample yet at {}; taking two samples",
                file.path().display()
            );
            return None;
        }
        Err(why) => return fallback(why),
    };
    let stored: Stored = match serde_json::from_slice(&body) {
        Ok(stored) => stored,
        Err(e) => return fallback(format!("damaged ({e})")),
    };
    if stored.version != FORMAT_VERSION
        || stored.endpoint != endpoint
        || stored.task_arn != task_arn
    {
        return fallback("it is from another task, endpoint or format version".into());
    }
    let previous = StatsSample {
        containers: stored.sample,
    };
    let (Some(then), Some(now)) = (sample_time(&previous), sample_time(new)) else {
        return fallback("a sample has no read time".into());
    };
    let age = now.seconds_since(then);
    if age <= 0.0 {
        return fallback(format!("it is not older than the new sample ({age:.1} s)"));
    }
    if age > max_age.as_secs_f64() {
        return fallback(format!(
            "it is {age:.0} s old (--max-age {} s)",
            max_age.as_secs()
        ));
    }
    let new_ids: Vec<&String> = new
        .containers
        .keys()
        .filter(|id| new.get(id).is_some())
        .collect();
    if let Some(id) = new_ids.iter().find(|id| previous.get(id).is_none()) {
        return fallback(format!("container {id} is new since then"));
    }
    Some(previous)
}

pub fn store(
    file: &PrivateFile,
    endpoint: &str,
    task_arn: &str,
    sample: &StatsSample,
) -> Result<(), String> {
    let stored = Stored {
        version: FORMAT_VERSION,
        endpoint: endpoint.to_string(),
        task_arn: task_arn.to_string(),
        sample: sample.containers.clone(),
    };
    let body = serde_json::to_vec(&stored).map_err(|e| e.to_string())?;
    file.write(&body).map_err(|e| e.to_string())
}
