//! `GET {endpoint}/task/stats`: docker stats per container, keyed by Docker ID.
//!
//! Field names mirror moby's `api/types/stats.go`. Every field is optional: stopped containers
//! report `null` or `{}`, cgroup v2 hosts fill different memory keys and null blkio lists, and
//! Windows has no `system_cpu_usage` at all and fills `storage_stats` and its own memory keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::lenient::{next_value_alone, parse_object, payload};
use super::task::{Container, Task};

/// One read of `/task/stats`: Docker ID → that container's stats (`None` for `null`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsSample {
    pub containers: BTreeMap<String, Option<ContainerStats>>,
}

impl StatsSample {
    /// Parse a `/task/stats` body. The body must be a JSON object; each value that is not a
    /// stats object (null, a string, ...) or cannot be read at all (`1e400`, a duplicated key)
    /// is kept as `None` so it drops only that container.
    pub fn parse(body: &[u8]) -> Result<StatsSample, String> {
        parse_object::<ByDockerId>(body, "keyed by Docker ID")
            .map(|all| StatsSample { containers: all.0 })
    }

    /// Stats of a container when they hold anything at all (`{}` for a stopped container
    /// counts as no stats).
    pub fn get(&self, docker_id: &str) -> Option<&ContainerStats> {
        self.containers
            .get(docker_id)
            .and_then(Option::as_ref)
            .filter(|s| !s.is_empty())
    }

    /// Each container with stats in this sample (see [`StatsSample::get`]), with its entry in
    /// the task metadata: `None` when the task does not know it (a stale cache, or a task that
    /// changed since `/task` was read). Only known containers are measured.
    pub fn with_metadata<'a>(
        &'a self,
        task: &'a Task,
    ) -> impl Iterator<Item = (&'a str, &'a ContainerStats, Option<&'a Container>)> + 'a {
        // The entries themselves, not each key looked up again: Docker IDs of one Fargate task
        // share a 32-character prefix, and musl compares them byte by byte.
        self.containers.iter().filter_map(move |(id, stats)| {
            let stats = stats.as_ref().filter(|s| !s.is_empty())?;
            Some((id.as_str(), stats, task.container(id)))
        })
    }

    /// The samples of a recording, in time order: a single body gives two, its
    /// `precpu_stats` (docker's previous read, see [`StatsSample::precpu_sample`]) and itself.
    pub fn recorded(mut samples: Vec<StatsSample>) -> Vec<StatsSample> {
        if let [only] = samples.as_slice() {
            samples.insert(0, only.precpu_sample());
        }
        samples
    }

    /// A first sample made of each container's `precpu_stats`: docker's own previous CPU read,
    /// used when a recording has a single stats body.
    pub fn precpu_sample(&self) -> StatsSample {
        let containers = self
            .containers
            .iter()
            .map(|(id, stats)| {
                let prev = stats.as_ref().map(|s| ContainerStats {
                    read: s.preread.clone(),
                    cpu_stats: s.precpu_stats.clone(),
                    ..ContainerStats::default()
                });
                (id.clone(), prev)
            })
            .collect();
        StatsSample { containers }
    }
}

payload! {
    pub struct ContainerStats {
        pub read: Option<String>,
        pub preread: Option<String>,
        pub cpu_stats: Option<CpuStats>,
        pub precpu_stats: Option<CpuStats>,
        pub memory_stats: Option<MemoryStats>,
        pub blkio_stats: Option<BlkioStats>,
        /// Interface name → counters. The older singular `"network"` key never holds
        /// per-interface data in the captures we have (`{}`), so it is not read.
        pub networks: Option<BTreeMap<String, NetworkStats>>,
        pub pids_stats: Option<PidsStats>,
        /// Windows only: the host's processor count (Docker for Windows fills it; Linux sends 0).
        pub num_procs: Option<u64>,
        /// Windows only: disk I/O of the container's storage (Linux sends `{}`).
        pub storage_stats: Option<StorageStats>,
    }

    /// moby `StorageStats`: the Windows counterpart of `blkio_stats`.
    pub struct StorageStats {
        pub read_count_normalized: Option<u64>,
        pub read_size_bytes: Option<u64>,
        pub write_count_normalized: Option<u64>,
        pub write_size_bytes: Option<u64>,
    }

    pub struct PidsStats {
        pub current: Option<u64>,
    }

    pub struct CpuStats {
        pub cpu_usage: Option<CpuUsage>,
        pub system_cpu_usage: Option<u64>,
        pub online_cpus: Option<u64>,
        pub throttling_data: Option<ThrottlingData>,
    }

    pub struct CpuUsage {
        pub total_usage: Option<u64>,
        pub percpu_usage: Option<Vec<u64>>,
        pub usage_in_kernelmode: Option<u64>,
        pub usage_in_usermode: Option<u64>,
    }

    pub struct ThrottlingData {
        pub periods: Option<u64>,
        pub throttled_periods: Option<u64>,
        pub throttled_time: Option<u64>,
    }

    pub struct MemoryStats {
        pub usage: Option<u64>,
        pub max_usage: Option<u64>,
        pub limit: Option<u64>,
        /// Windows: committed bytes (Docker), its peak, and the private working set (what the
        /// ECS agent reports for Windows and Task Manager shows as memory in use).
        pub commitbytes: Option<u64>,
        pub commitpeakbytes: Option<u64>,
        pub privateworkingset: Option<u64>,
        /// cgroup v1 (`cache`, `rss`, `total_*`) or v2 (`anon`, `file`, `inactive_file`)
        /// counters.
        pub stats: Option<MemoryCounters>,
    }

    /// The `memory_stats.stats` counters the metrics use; the other forty-odd are skipped
    /// unread (a map of them all cost an allocation per key per container per sample).
    pub struct MemoryCounters {
        pub cache: Option<u64>,
        pub file: Option<u64>,
        pub rss: Option<u64>,
        pub total_rss: Option<u64>,
        pub anon: Option<u64>,
        pub inactive_file: Option<u64>,
        pub total_inactive_file: Option<u64>,
        pub hierarchical_memory_limit: Option<u64>,
    }

    pub struct BlkioStats {
        pub io_service_bytes_recursive: Option<Vec<BlkioEntry>>,
        pub io_serviced_recursive: Option<Vec<BlkioEntry>>,
    }

    pub struct BlkioEntry {
        pub op: Option<BlkioOp>,
        /// Absent for zero-valued entries in some captures.
        pub value: Option<u64>,
    }

    pub struct NetworkStats {
        pub rx_bytes: Option<u64>,
        pub rx_packets: Option<u64>,
        pub rx_errors: Option<u64>,
        pub rx_dropped: Option<u64>,
        pub tx_bytes: Option<u64>,
        pub tx_packets: Option<u64>,
        pub tx_errors: Option<u64>,
        pub tx_dropped: Option<u64>,
    }
}

impl StorageStats {
    fn is_empty(&self) -> bool {
        self.read_count_normalized.is_none()
            && self.read_size_bytes.is_none()
            && self.write_count_normalized.is_none()
            && self.write_size_bytes.is_none()
    }
}

impl ContainerStats {
    /// The `read` time, when it is a real one.
    pub fn read_at(&self) -> Option<super::timestamp::Timestamp> {
        super::timestamp::Timestamp::parse(self.read.as_deref()?)
    }

    /// The `preread` time (docker's previous read, the time of `precpu_stats`).
    pub fn preread_at(&self) -> Option<super::timestamp::Timestamp> {
        super::timestamp::Timestamp::parse(self.preread.as_deref()?)
    }

    fn is_empty(&self) -> bool {
        self.cpu_stats.is_none()
            && self.memory_stats.is_none()
            && self.blkio_stats.is_none()
            && self.networks.is_none()
            && self
                .storage_stats
                .as_ref()
                .is_none_or(StorageStats::is_empty)
    }

    /// A Windows container, recognized from the payload itself: moby fills
    /// `memory_stats.privateworkingset`/`commitbytes` and `storage_stats` only on Windows.
    /// Linux daemons send `storage_stats: {}` and, in some versions, those memory keys as 0
    /// or null, so only a non-zero memory key or a filled `storage_stats` counts.
    pub fn is_windows(&self) -> bool {
        let memory = self.memory_stats.as_ref().is_some_and(|m| {
            m.privateworkingset.is_some_and(|v| v > 0) || m.commitbytes.is_some_and(|v| v > 0)
        });
        memory || self.storage_stats.as_ref().is_some_and(|s| !s.is_empty())
    }
}

impl MemoryStats {
    /// One of the `memory_stats.stats` counters we read, by its wire name.
    pub fn stat(&self, key: &str) -> Option<u64> {
        let c = self.stats.as_ref()?;
        match key {
            "cache" => c.cache,
            "file" => c.file,
            "rss" => c.rss,
            "total_rss" => c.total_rss,
            "anon" => c.anon,
            "inactive_file" => c.inactive_file,
            "total_inactive_file" => c.total_inactive_file,
            "hierarchical_memory_limit" => c.hierarchical_memory_limit,
            _ => None,
        }
    }
}

/// The top-level `/task/stats` object: every entry kept, `None` where the value is not an
/// object (`null` for a stopped container) or cannot be read at all. Each container's value
/// is taken as raw text and parsed on its own, so a value serde_json refuses outright (a
/// number past f64 such as `1e400`, a duplicated key) drops that container's sample, never
/// the other containers' or the run.
struct ByDockerId(BTreeMap<String, Option<ContainerStats>>);

impl<'de> Deserialize<'de> for ByDockerId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = ByDockerId;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object keyed by Docker ID")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ByDockerId, A::Error> {
                let mut all = BTreeMap::new();
                while let Some(id) = map.next_key::<String>()? {
                    let what = format_args!("the stats of container {id}");
                    let stats = next_value_alone(&mut map, &what)?;
                    all.insert(id, stats);
                }
                Ok(ByDockerId(all))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// A blkio `op`: cgroup v1 writes `Read`/`Write`, cgroup v2 `read`/`write`; matched ignoring
/// case, without allocating. `Sync`, `Async`, `Total`, `Discard` are `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlkioOp {
    Read,
    Write,
    Other,
}

impl<'de> Deserialize<'de> for BlkioOp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Op;
        impl serde::de::Visitor<'_> for Op {
            type Value = BlkioOp;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a blkio op string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<BlkioOp, E> {
                Ok(if v.eq_ignore_ascii_case("read") {
                    BlkioOp::Read
                } else if v.eq_ignore_ascii_case("write") {
                    BlkioOp::Write
                } else {
                    BlkioOp::Other
                })
            }
        }
        deserializer.deserialize_str(Op)
    }
}

impl crate::ecs::lenient::Lenient for BlkioOp {
    fn lenient<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Self>, D::Error> {
        crate::ecs::lenient::scalar_or_none(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::lenient::{parse_object_each_alone, parse_object_in_place};

    /// `parse_object` reads a body in one pass, falling back to reading each container alone
    /// when that pass fails: the one pass must give exactly what reading each alone gives.
    #[test]
    fn one_pass_reads_what_reading_each_container_alone_reads() {
        let root = env!("CARGO_MANIFEST_DIR");
        let mut files = vec![format!(
            "{root}/testdata/parity/ancestor-example/stats1.json"
        )];
        let mut dirs = vec![format!("{root}/testdata/ecs")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path.display().to_string());
                } else if path.extension().is_some_and(|e| e == "json") {
                    files.push(path.display().to_string());
                }
            }
        }
        let mut bodies: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|f| {
                let name = f.rsplit('/').next().unwrap().to_string();
                (name, std::fs::read(f).unwrap())
            })
            .collect();
        assert!(bodies.len() > 20, "{files:?}");
        // Bodies the one pass cannot read, but reading each container alone can: a number
        // past f64 and a duplicated key in one container, bytes that are not UTF-8 in a
        // field nobody reads; and a task whose second container has a number past f64.
        let example = String::from_utf8(bodies[0].1.clone()).unwrap();
        let one = |from: &str, to: &str| example.replacen(from, to, 1).into_bytes();
        bodies.push((
            "1e400".into(),
            one(r#""num_procs": 0"#, r#""num_procs": 1e400"#),
        ));
        bodies.push((
            "dup".into(),
            one(r#""num_procs": 0"#, r#""num_procs": 0, "num_procs": 1"#),
        ));
        let mut latin1 = one(r#""name": ""#, r#""nickname": "caf\u00e9", "name": ""#);
        let at = latin1.windows(6).position(|w| w == b"\\u00e9").unwrap();
        latin1.splice(at..at + 6, [0xe9]);
        bodies.push(("latin1 stats".into(), latin1));
        let task =
            std::fs::read_to_string(format!("{root}/testdata/parity/ancestor-example/task.json"))
                .unwrap();
        let at = task.match_indices(r#""DockerId""#).nth(1).unwrap().0;
        let bad_task = format!("{}\"RestartCount\": 1e400, {}", &task[..at], &task[at..]);
        bodies.push(("1e400 task".into(), bad_task.into_bytes()));

        let mut fell_back = 0;
        for (name, body) in &bodies {
            let once;
            let alone;
            if name.contains("stats") || !name.contains("task") {
                once = parse_object::<ByDockerId>(body, "keyed by Docker ID")
                    .map(|s| format!("{:?}", s.0));
                alone = parse_object_each_alone::<ByDockerId>(body, "keyed by Docker ID")
                    .map(|s| format!("{:?}", s.0));
                fell_back += usize::from(parse_object_in_place::<ByDockerId>(body, "").is_err());
            } else {
                once = Task::parse(body).map(|t| format!("{t:?}"));
                alone = parse_object_each_alone::<Task>(body, "with the task metadata")
                    .map(|t| format!("{t:?}"));
                fell_back += usize::from(parse_object_in_place::<Task>(body, "").is_err());
            }
            assert_eq!(once, alone, "{name}");
        }
        // The four bodies built to fail the one pass did, and only a container was lost.
        assert!(fell_back >= 4, "{fell_back}");
        let task = Task::parse(&bodies[bodies.len() - 1].1).unwrap();
        assert_eq!(task.containers().len(), 1);
        let sample = StatsSample::parse(&bodies[bodies.len() - 4].1).unwrap();
        assert_eq!(
            sample.containers.values().filter(|s| s.is_none()).count(),
            1
        );
        assert!(sample.containers.values().filter(|s| s.is_some()).count() >= 1);
    }

    fn capture(path: &str) -> StatsSample {
        let path = format!("{}/testdata/ecs/{path}", env!("CARGO_MANIFEST_DIR"));
        StatsSample::parse(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn windows_is_recognized_from_the_payload() {
        let windows =
            capture("datadog-integrations-core/fargate-windows-stats-python-none-strings.json");
        let entry = windows
            .containers
            .values()
            .next()
            .unwrap()
            .as_ref()
            .unwrap();
        assert!(entry.is_windows());
        let storage = entry.storage_stats.as_ref().unwrap();
        assert_eq!(storage.read_size_bytes, Some(248_714_240));
        assert_eq!(
            entry.memory_stats.as_ref().unwrap().privateworkingset,
            Some(140_673_024)
        );
        // Linux sends storage_stats {} and num_procs 0 (AWS documentation example).
        let linux = capture(
            "awsdocs-ecs-developer-guide/ec2-v4-awsvpc-task-stats-linux-empty-storage-stats.json",
        );
        for entry in linux.containers.values() {
            let entry = entry.as_ref().unwrap();
            assert!(entry.storage_stats.is_some() && !entry.is_windows());
        }
        let zeros: ContainerStats = serde_json::from_str(
            r#"{"memory_stats": {"usage": 5, "commitbytes": 0, "commitpeakbytes": 0, "privateworkingset": 0}}"#,
        )
        .unwrap();
        assert!(!zeros.is_windows());
        // Newer Linux daemons spell every storage_stats field out as null.
        let nulls: ContainerStats = serde_json::from_str(
            r#"{"storage_stats": {"read_count_normalized": null, "read_size_bytes": null,
                "write_count_normalized": null, "write_size_bytes": null}}"#,
        )
        .unwrap();
        assert!(!nulls.is_windows());
    }
}
