//! Every metric ecs-statsd can send, as a typed definition: name, kind, unit and help text,
//! in one table. A series holds a `&'static Definition` (see [`Metric`](super::Metric)), so a
//! series without a definition does not compile; outputs that need more than a name and a
//! value (Prometheus `# HELP`/`# TYPE`, CloudWatch EMF units) read it from the series.

/// What a value measures; each output maps it to its own vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    BytesPerSecond,
    /// Packets, operations, periods, processes, restarts.
    Count,
    /// A fraction: 1.0 is the whole limit (or host).
    Ratio,
    Seconds,
    Nanoseconds,
    /// Cores in use.
    Vcpu,
    /// ECS CPU units (1024 per vCPU).
    CpuUnits,
    Mebibytes,
    /// 1 healthy, 0 not.
    Status,
}

impl Unit {
    /// The CloudWatch unit name (`StandardUnit`); units CloudWatch lacks are `None`.
    pub fn cloudwatch(self) -> &'static str {
        match self {
            Unit::Bytes => "Bytes",
            Unit::BytesPerSecond => "Bytes/Second",
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
            Unit::Mebibytes => "Megabytes",
            Unit::Ratio | Unit::Nanoseconds | Unit::Vcpu | Unit::CpuUnits | Unit::Status => "None",
        }
    }
}

/// How a value behaves over time. DogStatsD sends everything as a gauge (the ancestor's
/// choice); Prometheus types the family with it, so `rate()` works on counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Cumulative since the container started, sent as read, and named `_total` (Prometheus
    /// wants the suffix on counters). The cumulative throttling series keep the ancestor's
    /// names, so they stay gauges.
    Counter,
    Gauge,
}

/// One metric. Outside this crate a definition cannot be made (`non_exhaustive`), only read:
/// every series the library can build names one of [`CATALOG`].
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Definition {
    pub name: &'static str,
    pub kind: Kind,
    pub unit: Unit,
    pub help: &'static str,
}

/// Declares each definition as a `pub static` and lists them all in [`CATALOG`], so no
/// definition can be left out of the catalog (and so of the reference's test).
macro_rules! definitions {
    ($($(#[$meta:meta])* $ident:ident = $name:literal, $kind:ident, $unit:ident, $help:literal;)*) => {
        $(
            $(#[$meta])*
            pub static $ident: Definition = Definition {
                name: $name,
                kind: Kind::$kind,
                unit: Unit::$unit,
                help: $help,
            };
        )*

        /// Every definition, in the reference's order.
        pub static CATALOG: &[&Definition] = &[$(&$ident),*];

        /// (constant, name) of every definition, to check the two agree.
        #[cfg(test)]
        const IDENTS: &[(&str, &str)] = &[$((stringify!($ident), $name)),*];
    };
}

definitions! {
    // The ancestor's set (ecs-container-exporter 2.4.0 names).
    CPU_USAGE_RATIO = "cpu_usage_ratio", Gauge, Ratio,
        "CPU used over the interval as a fraction of the applicable limit (container, else task, else host); without system_cpu_usage (Windows, Fargate 1.4.0 at launch) cores in use x 1024 / the limit";
    PERCPU_USAGE_RATIO = "percpu_usage_ratio", Gauge, Ratio,
        "CPU used on one host CPU over the interval, scaled like cpu_usage_ratio";
    CPU_KERNELMODE = "cpu_kernelmode", Gauge, Nanoseconds,
        "CPU time in kernel mode during the interval, ns (Docker for Windows 100 ns units converted)";
    CPU_USERMODE = "cpu_usermode", Gauge, Nanoseconds,
        "CPU time in user mode during the interval, ns (Docker for Windows 100 ns units converted)";
    CPU_THROTTLE_PERIODS = "cpu_throttle_periods", Gauge, Count,
        "CFS enforcement periods elapsed (cumulative)";
    CPU_THROTTLE_THROTTLED_PERIODS = "cpu_throttle_throttled_periods", Gauge, Count,
        "CFS periods in which the container was throttled (cumulative)";
    CPU_THROTTLE_THROTTLED_TIME = "cpu_throttle_throttled_time", Gauge, Nanoseconds,
        "Total time the container was throttled (cumulative)";
    MEM_USAGE = "mem_usage", Gauge, Bytes,
        "Memory usage including page cache (memory_stats.usage)";
    MEM_CACHE = "mem_cache", Gauge, Bytes,
        "Page cache (cgroup v1 cache, v2 file)";
    DISK_READ_BYTES_TOTAL = "disk_read_bytes_total", Counter, Bytes,
        "Bytes read from block devices, summed over devices (cumulative; Windows storage_stats)";
    DISK_WRITTEN_BYTES_TOTAL = "disk_written_bytes_total", Counter, Bytes,
        "Bytes written to block devices, summed over devices (cumulative; Windows storage_stats)";
    DISK_READ_IOPS_TOTAL = "disk_read_iops_total", Counter, Count,
        "Read operations on block devices (cumulative; Windows read_count_normalized)";
    DISK_WRITTEN_IOPS_TOTAL = "disk_written_iops_total", Counter, Count,
        "Write operations on block devices (cumulative; Windows write_count_normalized)";
    NETWORK_RX_BYTES_TOTAL = "network_rx_bytes_total", Counter, Bytes,
        "Bytes received (cumulative)";
    NETWORK_RX_PACKETS_TOTAL = "network_rx_packets_total", Counter, Count,
        "Packets received (cumulative)";
    NETWORK_RX_ERRORS_TOTAL = "network_rx_errors_total", Counter, Count,
        "Receive errors (cumulative)";
    NETWORK_RX_DROPPED_TOTAL = "network_rx_dropped_total", Counter, Count,
        "Received packets dropped (cumulative)";
    NETWORK_TX_BYTES_TOTAL = "network_tx_bytes_total", Counter, Bytes,
        "Bytes sent (cumulative)";
    NETWORK_TX_PACKETS_TOTAL = "network_tx_packets_total", Counter, Count,
        "Packets sent (cumulative)";
    NETWORK_TX_ERRORS_TOTAL = "network_tx_errors_total", Counter, Count,
        "Send errors (cumulative)";
    NETWORK_TX_DROPPED_TOTAL = "network_tx_dropped_total", Counter, Count,
        "Sent packets dropped (cumulative)";
    CPU_LIMIT = "cpu_limit", Gauge, CpuUnits,
        "CPU limit in CPU units (task: vCPU x 1024)";
    MEM_LIMIT = "mem_limit", Gauge, Mebibytes,
        "Memory limit from the task metadata, MiB";
    EXPORTER_STATUS = "exporter_status", Gauge, Status,
        "1 when both stats samples were read and parsed, else 0";
    // Beyond the ancestor: numbers that need no footnote.
    MEM_WORKING_SET_BYTES = "mem_working_set_bytes", Gauge, Bytes,
        "Memory in use: usage minus inactive file pages (docker stats, Kubernetes); Windows privateworkingset";
    MEM_RSS_BYTES = "mem_rss_bytes", Gauge, Bytes,
        "Anonymous memory (cgroup v1 rss, v2 anon)";
    MEM_MAX_USAGE_BYTES = "mem_max_usage_bytes", Gauge, Bytes,
        "Peak memory usage (cgroup v1 max_usage; Docker for Windows commitpeakbytes)";
    MEM_LIMIT_BYTES = "mem_limit_bytes", Gauge, Bytes,
        "Effective memory limit: the smallest of the cgroup limit, the hierarchical (task cgroup) limit and the container and task Limits.Memory";
    MEM_UTILIZATION_RATIO = "mem_utilization_ratio", Gauge, Ratio,
        "Working set as a fraction of the effective memory limit";
    MEM_AVAILABLE_BYTES = "mem_available_bytes", Gauge, Bytes,
        "Effective memory limit minus working set";
    MEM_WORKING_SET_BYTES_MEDIAN = "mem_working_set_bytes_median", Gauge, Bytes,
        "Median working set over the run's samples (--samples 3 or more)";
    MEM_WORKING_SET_BYTES_MAX = "mem_working_set_bytes_max", Gauge, Bytes,
        "Largest working set over the run's samples (--samples 3 or more)";
    CPU_USAGE_VCPU = "cpu_usage_vcpu", Gauge, Vcpu,
        "CPU cores in use over the interval (usage time / wall time between the samples' read times)";
    CPU_USAGE_VCPU_MEDIAN = "cpu_usage_vcpu_median", Gauge, Vcpu,
        "Median cores in use over consecutive sample pairs (--samples 3 or more)";
    CPU_USAGE_VCPU_MAX = "cpu_usage_vcpu_max", Gauge, Vcpu,
        "Largest cores in use over consecutive sample pairs (--samples 3 or more)";
    CPU_USAGE_RATIO_MEDIAN = "cpu_usage_ratio_median", Gauge, Ratio,
        "Median cpu_usage_ratio over consecutive sample pairs (--samples 3 or more)";
    CPU_USAGE_RATIO_MAX = "cpu_usage_ratio_max", Gauge, Ratio,
        "Largest cpu_usage_ratio over consecutive sample pairs (--samples 3 or more)";
    CPU_ONLINE = "cpu_online", Gauge, Count,
        "CPUs online on the host (online_cpus, else Windows num_procs, else system CPU time / wall time, else non-zero percpu slots)";
    NETWORK_RX_BYTES_PER_SEC = "network_rx_bytes_per_sec", Gauge, BytesPerSecond,
        "Bytes received per second over the interval";
    NETWORK_TX_BYTES_PER_SEC = "network_tx_bytes_per_sec", Gauge, BytesPerSecond,
        "Bytes sent per second over the interval";
    DISK_READ_BYTES_PER_SEC = "disk_read_bytes_per_sec", Gauge, BytesPerSecond,
        "Bytes read from block devices per second over the interval";
    DISK_WRITTEN_BYTES_PER_SEC = "disk_written_bytes_per_sec", Gauge, BytesPerSecond,
        "Bytes written to block devices per second over the interval";
    EPHEMERAL_STORAGE_USED_BYTES = "ephemeral_storage_used_bytes", Gauge, Bytes,
        "Fargate ephemeral storage in use";
    EPHEMERAL_STORAGE_RESERVED_BYTES = "ephemeral_storage_reserved_bytes", Gauge, Bytes,
        "Fargate ephemeral storage reserved for the task";
    PIDS = "pids", Gauge, Count,
        "Processes and threads in the container (pids_stats.current)";
    RESTARTS = "restarts", Gauge, Count,
        "Container restarts under the ECS restart policy (RestartCount)";
    // The run itself (the ECS agent seed's metrics engine habit: measure the collector).
    EXPORTER_CONTAINERS = "exporter_containers", Gauge, Count,
        "Containers measured in this run";
    EXPORTER_FETCH_ERRORS = "exporter_fetch_errors", Gauge, Count,
        "Failed metadata endpoint requests in this run";
    EXPORTER_FETCH_SECONDS = "exporter_fetch_seconds", Gauge, Seconds,
        "Time spent on metadata endpoint requests in this run";
    EXPORTER_RUN_SECONDS = "exporter_run_seconds", Gauge, Seconds,
        "Time from start to sending in this run";
    EXPORTER_SERIES = "exporter_series", Gauge, Count,
        "Series this run sends, these self-telemetry series included (Datadog bills each as a custom metric)";
    EXPORTER_SERIES_SKIPPED = "exporter_series_skipped", Gauge, Count,
        "Series this run computed but left out by --metrics / --skip-metrics";
}

/// The `_median` and `_max` of a series over the run's samples (`--samples 3` or more),
/// each its own definition.
pub struct Spread {
    pub of: &'static Definition,
    pub median: &'static Definition,
    pub max: &'static Definition,
}

pub static CPU_USAGE_RATIO_SPREAD: Spread = Spread {
    of: &CPU_USAGE_RATIO,
    median: &CPU_USAGE_RATIO_MEDIAN,
    max: &CPU_USAGE_RATIO_MAX,
};

pub static CPU_USAGE_VCPU_SPREAD: Spread = Spread {
    of: &CPU_USAGE_VCPU,
    median: &CPU_USAGE_VCPU_MEDIAN,
    max: &CPU_USAGE_VCPU_MAX,
};

pub static MEM_WORKING_SET_BYTES_SPREAD: Spread = Spread {
    of: &MEM_WORKING_SET_BYTES,
    median: &MEM_WORKING_SET_BYTES_MEDIAN,
    max: &MEM_WORKING_SET_BYTES_MAX,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_match_their_constants() {
        for (i, d) in CATALOG.iter().enumerate() {
            assert!(
                CATALOG[i + 1..].iter().all(|o| o.name != d.name),
                "{} twice",
                d.name
            );
        }
        for (ident, name) in IDENTS {
            assert_eq!(ident.to_ascii_lowercase(), *name);
        }
    }

    /// Prometheus: counters, and only counters, end in `_total` (promtool's lint).
    #[test]
    fn counters_and_only_counters_are_named_total() {
        for d in CATALOG {
            assert_eq!(
                d.kind == Kind::Counter,
                d.name.ends_with("_total"),
                "{}",
                d.name
            );
        }
    }

    #[test]
    fn spreads_are_named_after_their_series() {
        for s in [
            &CPU_USAGE_RATIO_SPREAD,
            &CPU_USAGE_VCPU_SPREAD,
            &MEM_WORKING_SET_BYTES_SPREAD,
        ] {
            assert_eq!(s.median.name, format!("{}_median", s.of.name));
            assert_eq!(s.max.name, format!("{}_max", s.of.name));
            assert_eq!((s.median.unit, s.max.unit), (s.of.unit, s.of.unit));
            assert_eq!((s.median.kind, s.max.kind), (Kind::Gauge, Kind::Gauge));
        }
    }
}
