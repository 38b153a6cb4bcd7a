//! Memory of the last sample: the ancestor's usage and cache, and the working set, RSS,
//! effective limit and utilization that docker stats and Kubernetes report (the working set
//! differs from the ECS agent's on cgroup v1: see [`working_set`]).
//!
//! Windows (recognized from the payload: `privateworkingset`, `commitbytes`, `storage_stats`)
//! has no cgroup: memory in use is `privateworkingset` (ECS agent `utils_windows.go`), usage
//! is `usage` (Fargate) else `commitbytes` (Docker), and the limit comes from the metadata.

use super::catalog::{
    MEM_AVAILABLE_BYTES, MEM_CACHE, MEM_LIMIT_BYTES, MEM_MAX_USAGE_BYTES, MEM_RSS_BYTES, MEM_USAGE,
    MEM_UTILIZATION_RATIO, MEM_WORKING_SET_BYTES, MEM_WORKING_SET_BYTES_SPREAD,
};
use super::{
    Definition, MIB, Measured, Metric, NO_VALUE_THRESHOLD, TagSet, Tagger, add, push_spread,
};
use crate::ecs::Task;
use crate::ecs::stats::{ContainerStats, MemoryStats};

type MemoryField = fn(&MemoryStats) -> Option<u64>;

/// (definition, source) of the values read as they are, summed for the task.
/// `mem_usage` is `memory_stats.usage` (includes page cache, as the ancestor reported it), on
/// Docker for Windows `commitbytes`; `mem_cache` is cgroup v1 `stats.cache`, or cgroup v2
/// `stats.file`.
const LEVELS: [(&Definition, MemoryField); 4] = [
    (&MEM_USAGE, usage),
    (&MEM_CACHE, |m| m.stat("cache").or_else(|| m.stat("file"))),
    (&MEM_WORKING_SET_BYTES, working_set),
    // cgroup v1 `rss` (or `total_rss`), cgroup v2 `anon`.
    (&MEM_RSS_BYTES, |m| {
        m.stat("rss")
            .or_else(|| m.stat("total_rss"))
            .or_else(|| m.stat("anon"))
    }),
];

/// The memory the container is charged for: `usage` (cgroup v1 counts page cache in it too),
/// on Docker for Windows `commitbytes` (the job object's limit bounds the commit charge).
fn usage(m: &MemoryStats) -> Option<u64> {
    m.usage.or(m.commitbytes)
}

/// Usage minus inactive file pages: what docker stats shows as memory in use (docker CLI
/// `calculateMemUsageUnixNoCache`) and the working set kubelet and cAdvisor report.
/// The subtrahend is cgroup v1 `total_inactive_file`, else `inactive_file`, else `cache`
/// (cgroup v2 has `inactive_file` only), the first that is a real value below usage: a value
/// at or above 2^62 is a cgroup "no value" sentinel, and one at or above usage cannot be
/// inactive pages of that usage (the docker CLI subtracts only a value below usage). With
/// none left, the working set is usage. Windows: `privateworkingset`.
///
/// Not what the ECS agent sends to CloudWatch: its `getMemUsage` (amazon-ecs-agent
/// `agent/stats/utils_unix.go`) subtracts `cache` on cgroup v1, which counts active page
/// cache too, so the agent's figure is lower; on cgroup v2 it subtracts `inactive_file`, as
/// here.
pub fn working_set(m: &MemoryStats) -> Option<u64> {
    if let Some(private) = m
        .privateworkingset
        .filter(|&v| v > 0 && v < NO_VALUE_THRESHOLD)
    {
        return Some(private);
    }
    let usage = m.usage.filter(|&u| u < NO_VALUE_THRESHOLD)?;
    let inactive = ["total_inactive_file", "inactive_file", "cache"]
        .into_iter()
        .filter_map(|key| m.stat(key))
        .find(|&v| v < usage)
        .unwrap_or(0);
    Some(usage - inactive)
}

pub fn metrics(measured: &[Measured], task: &Task, tagger: &Tagger, out: &mut Vec<Metric>) {
    let mut task_working_set = None;
    for (definition, field) in LEVELS {
        let total = level_metrics(measured, definition, field, out);
        if let Some(total) = total {
            out.push(Metric::int(definition, total, tagger.task()));
        }
        if *definition == MEM_WORKING_SET_BYTES {
            task_working_set = total;
        }
    }

    // Each container's working set in every sample (`None` where it had none), read once.
    let working_sets: Vec<Vec<Option<u64>>> = measured
        .iter()
        .map(|m| {
            let samples = m.history.iter();
            samples
                .map(|s| s.and_then(memory).and_then(working_set))
                .collect()
        })
        .collect();
    let task_limit = task_limit(task);
    for (m, history) in measured.iter().zip(&working_sets) {
        if let Some(stats) = memory(m.cur).filter(|_| m.included) {
            container_metrics(m, stats, history, task_limit, out);
        }
    }
    headroom(task_limit, task_working_set, tagger.task(), out);
    let samples = measured.first().map_or(0, |m| m.history.len());
    if samples > 2 {
        // The task's working set in each sample: the sum over the containers read in it.
        let per_sample = (0..samples)
            .filter_map(|i| {
                let mut sum = None;
                for ws in working_sets.iter().filter_map(|history| history[i]) {
                    add(&mut sum, ws);
                }
                sum.map(|v| v as f64)
            })
            .collect();
        push_spread(
            &MEM_WORKING_SET_BYTES_SPREAD,
            per_sample,
            tagger.task(),
            out,
        );
    }
}

/// One row of [`LEVELS`]: each container's value, pushed when it is included; the task total
/// (over every measured container) is returned.
fn level_metrics(
    measured: &[Measured],
    definition: &'static Definition,
    field: MemoryField,
    out: &mut Vec<Metric>,
) -> Option<u64> {
    let mut total = None;
    for m in measured {
        let Some(value) = memory(m.cur)
            .and_then(field)
            .filter(|&v| v < NO_VALUE_THRESHOLD)
        else {
            continue;
        };
        add(&mut total, value);
        if m.included {
            out.push(Metric::int(definition, value, m.tags()));
        }
    }
    total
}

/// An included container's peak, limit and headroom, and with three samples or more its
/// working set `_median`/`_max`. `working_sets`: its working set in every sample, the last
/// one being `stats`'.
fn container_metrics(
    m: &Measured,
    stats: &MemoryStats,
    working_sets: &[Option<u64>],
    task_limit: Option<u64>,
    out: &mut Vec<Metric>,
) {
    let max = stats.max_usage.or(stats.commitpeakbytes);
    if let Some(max) = max.filter(|&v| v < NO_VALUE_THRESHOLD) {
        out.push(Metric::int(&MEM_MAX_USAGE_BYTES, max, m.tags()));
    }
    let container_limit = m
        .container
        .limits
        .as_ref()
        .and_then(|l| l.memory)
        .and_then(mib_to_bytes);
    let name = m.container.name.as_deref().unwrap_or_default();
    let limit = effective_limit(name, stats, [container_limit, task_limit]);
    let working_set = working_sets.last().copied().flatten();
    headroom(limit, working_set, m.tags(), out);
    if working_sets.len() > 2 {
        let samples = working_sets.iter().flatten().map(|&v| v as f64);
        push_spread(
            &MEM_WORKING_SET_BYTES_SPREAD,
            samples.collect(),
            m.tags(),
            out,
        );
    }
}

fn memory(stats: &ContainerStats) -> Option<&MemoryStats> {
    stats.memory_stats.as_ref()
}

/// The limit the container really runs under: the smallest hard limit that applies. A
/// container is bounded by its own cgroup (`limit`), by the task's cgroup above it (cgroup v1
/// `hierarchical_memory_limit`; EC2 reports `limit` = host RAM with a 512 MiB task cgroup),
/// and by the container's and the task's `Limits.Memory` (`metadata`, bytes). Values at or
/// above 2^62 (Fargate's 9223372036854771712, u64::MAX, the float-rounded
/// 9223372036854772000) and 0 mean "no limit" and are skipped.
///
/// A value below the memory the container is charged for ([`usage`], else the working set)
/// is not a limit that applies either: the kernel keeps a cgroup's usage within its hard
/// limit (reclaiming or OOM-killing first), so such a value was not read from the cgroup
/// (the 2023 Fargate capture's `limit` was truncated by hand to 922337 with 153 MiB in use).
/// Keeping it would send a utilization far above 1 and no headroom.
fn effective_limit(name: &str, stats: &MemoryStats, metadata: [Option<u64>; 2]) -> Option<u64> {
    let charged = usage(stats)
        .filter(|&v| v < NO_VALUE_THRESHOLD)
        .or_else(|| working_set(stats));
    let [container, task] = metadata;
    let candidates = [
        ("memory_stats.limit", stats.limit),
        (
            "hierarchical_memory_limit",
            stats.stat("hierarchical_memory_limit"),
        ),
        ("the container's Limits.Memory", container),
        ("the task's Limits.Memory", task),
    ];
    candidates
        .into_iter()
        .filter_map(|(source, limit)| {
            let limit = limit.filter(|&v| v > 0 && v < NO_VALUE_THRESHOLD)?;
            match charged {
                Some(charged) if limit < charged => {
                    log::debug!(
                        "{name}: {source} {limit} is below the {charged} bytes in use: \
                         not a limit that applies, skipped"
                    );
                    None
                }
                _ => Some(limit),
            }
        })
        .min()
}

fn task_limit(task: &Task) -> Option<u64> {
    task.limits.as_ref()?.memory.and_then(mib_to_bytes)
}

fn mib_to_bytes(mib: f64) -> Option<u64> {
    let bytes = mib * MIB as f64;
    (bytes.is_finite() && bytes > 0.0 && bytes < NO_VALUE_THRESHOLD as f64).then_some(bytes as u64)
}

/// `mem_limit_bytes`, and where a working set is known `mem_utilization_ratio` (the CloudWatch
/// agent's `mem_used_percent` / 100) and `mem_available_bytes`.
fn headroom(limit: Option<u64>, working_set: Option<u64>, tags: TagSet, out: &mut Vec<Metric>) {
    let Some(limit) = limit else { return };
    out.push(Metric::int(&MEM_LIMIT_BYTES, limit, tags.clone()));
    if let Some(ws) = working_set {
        let utilization = ws as f64 / limit as f64;
        out.extend(Metric::derived(
            &MEM_UTILIZATION_RATIO,
            utilization,
            tags.clone(),
        ));
        out.push(Metric::int(
            &MEM_AVAILABLE_BYTES,
            limit.saturating_sub(ws),
            tags,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stats(v: serde_json::Value) -> MemoryStats {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn working_set_prefers_total_inactive_file_and_never_goes_negative() {
        let v1 = stats(
            json!({"usage": 1000, "stats": {"total_inactive_file": 300, "inactive_file": 100, "cache": 500}}),
        );
        assert_eq!(working_set(&v1), Some(700));
        // A cache above usage is not inactive pages of it: nothing is subtracted.
        let cache_only = stats(json!({"usage": 1000, "stats": {"cache": 1500}}));
        assert_eq!(working_set(&cache_only), Some(1000));
        let v2 = stats(
            json!({"usage": 1000, "stats": {"inactive_file": 250, "file": 400, "anon": 600}}),
        );
        assert_eq!(working_set(&v2), Some(750));
        assert_eq!(working_set(&stats(json!({}))), None);
    }

    #[test]
    fn effective_limit_is_the_smallest_hard_limit() {
        let fargate = stats(
            json!({"limit": 9223372036854771712u64, "stats": {"hierarchical_memory_limit": 536870912}}),
        );
        assert_eq!(
            effective_limit("c", &fargate, [None, None]),
            Some(536_870_912)
        );
        // A task Limits.Memory below the cgroup limits wins.
        assert_eq!(
            effective_limit("c", &fargate, [None, Some(256 * MIB)]),
            Some(256 * MIB)
        );
        let uint64_max = stats(json!({"limit": 18446744073709551615u64}));
        assert_eq!(
            effective_limit("c", &uint64_max, [Some(256 * MIB), None]),
            Some(256 * MIB)
        );
        assert_eq!(effective_limit("c", &uint64_max, [None, None]), None);
        // EC2 without a container hard limit: host RAM, but the task's cgroup is 512 MiB.
        let host = stats(
            json!({"limit": 1033658368u64, "stats": {"hierarchical_memory_limit": 536870912}}),
        );
        assert_eq!(effective_limit("c", &host, [None, None]), Some(536_870_912));
        // The float-rounded sentinel of a payload that went through a float64 serializer.
        let rounded = stats(json!({"limit": 9223372036854772000u64}));
        assert_eq!(effective_limit("c", &rounded, [None, Some(MIB)]), Some(MIB));
        assert_eq!(
            effective_limit("c", &stats(json!({"limit": 0})), [None, None]),
            None
        );
    }

    #[test]
    fn a_limit_below_the_charged_usage_does_not_apply() {
        // The 2023 Fargate capture's dd-agent: `limit` truncated by hand below its usage.
        let payload = json!({"usage": 160886784u64, "limit": 922337,
            "stats": {"hierarchical_memory_limit": 3221225472u64, "total_inactive_file": 3919872}});
        let charged = payload["usage"].as_u64().unwrap();
        let hierarchical = payload["stats"]["hierarchical_memory_limit"].as_u64();
        assert!(payload["limit"].as_u64().unwrap() < charged);
        let truncated = stats(payload.clone());
        assert_eq!(
            effective_limit("dd-agent", &truncated, [None, None]),
            hierarchical
        );
        // Metadata limits are held to the same rule; the smallest that applies is kept, and
        // a limit equal to the usage applies (a cgroup at its limit).
        assert_eq!(
            effective_limit("dd-agent", &truncated, [Some(charged - 1), None]),
            hierarchical
        );
        assert_eq!(
            effective_limit("dd-agent", &truncated, [None, Some(charged)]),
            Some(charged)
        );
        // Nothing left that applies: no limit.
        let mut alone = payload.clone();
        alone["stats"].as_object_mut().unwrap().clear();
        assert_eq!(
            effective_limit("dd-agent", &stats(alone), [None, None]),
            None
        );

        // Docker for Windows has no usage: the commit charge is what the job limit bounds.
        let docker = json!({"commitbytes": 77160448, "privateworkingset": 59961344});
        let commit = docker["commitbytes"].as_u64().unwrap();
        let private = docker["privateworkingset"].as_u64().unwrap();
        let docker = stats(docker);
        let between = (commit + private) / 2;
        assert_eq!(effective_limit("w", &docker, [Some(between), None]), None);
        assert_eq!(
            effective_limit("w", &docker, [Some(between), Some(commit)]),
            Some(commit)
        );
        // Only a private working set known: it is the charge.
        let private_only = stats(json!({"privateworkingset": private}));
        assert_eq!(
            effective_limit("w", &private_only, [Some(private - 1), None]),
            None
        );
        assert_eq!(
            effective_limit("w", &private_only, [Some(private), None]),
            Some(private)
        );
    }

    #[test]
    fn windows_memory_is_the_private_working_set() {
        // Docker for Windows: commit counters, no usage; Linux daemons may send the Windows
        // keys as 0, which must not hide the cgroup figures.
        let docker = stats(
            json!({"commitbytes": 77160448, "commitpeakbytes": 105000960, "privateworkingset": 59961344}),
        );
        assert_eq!(working_set(&docker), Some(59_961_344));
        let linux = stats(
            json!({"usage": 1000, "privateworkingset": 0, "commitbytes": 0,
            "stats": {"inactive_file": 100}}),
        );
        assert_eq!(working_set(&linux), Some(900));
    }
}
