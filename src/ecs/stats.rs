//! `GET {endpoint}/task/stats`: docker stats per container, keyed by Docker ID.
//!
//! Field names mirror moby's `api/types/stats.go`. Every field is optional: stopped containers
//! report `null` or `{}`, cgroup v2 hosts fill different memory keys and null blkio lists, and
//! Windows has no `system_cpu_usage` at all and fills `storage_stats` and its own memory keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::lenient::{alone, parse_object, payload};

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

    /// A first sample made of each container's `precpu_stats`: docker's own previous CPU read,
    /// used when a replay has a single stats file.
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
                while let Some((id, raw)) = map.next_entry::<String, &'de RawValue>()? {
                    let stats = alone(raw, &format_args!("the stats of container {id}"));
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
