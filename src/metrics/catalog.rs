//! Every metric ecs-statsd can send: its help text and unit, in one table. Outputs that need
//! more than a name and a value (Prometheus `# HELP`, CloudWatch EMF units) read it here.

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

pub struct Definition {
    pub name: &'static str,
    pub unit: Unit,
    pub help: &'static str,
}

const fn def(name: &'static str, unit: Unit, help: &'static str) -> Definition {
    Definition { name, unit, help }
}

use Unit::*;

pub const CATALOG: &[Definition] = &[
    // The ancestor's set (ecs-container-exporter 2.4.0 names).
    def(
        "cpu_usage_ratio",
        Ratio,
        "CPU used over the interval as a fraction of the applicable limit (container, else task, else host); without system_cpu_usage (Windows, Fargate 1.4.0 at launch) cores in use x 1024 / the limit",
    ),
    def(
        "percpu_usage_ratio",
        Ratio,
        "CPU used on one host CPU over the interval, scaled like cpu_usage_ratio",
    ),
    def(
        "cpu_kernelmode",
        Nanoseconds,
        "CPU time in kernel mode during the interval, ns (Docker for Windows 100 ns units converted)",
    ),
    def(
        "cpu_usermode",
        Nanoseconds,
        "CPU time in user mode during the interval, ns (Docker for Windows 100 ns units converted)",
    ),
    def(
        "cpu_throttle_periods",
        Count,
        "CFS enforcement periods elapsed (cumulative)",
    ),
    def(
        "cpu_throttle_throttled_periods",
        Count,
        "CFS periods in which the container was throttled (cumulative)",
    ),
    def(
        "cpu_throttle_throttled_time",
        Nanoseconds,
        "Total time the container was throttled (cumulative)",
    ),
    def(
        "mem_usage",
        Bytes,
        "Memory usage including page cache (memory_stats.usage)",
    ),
    def("mem_cache", Bytes, "Page cache (cgroup v1 cache, v2 file)"),
    def(
        "disk_read_bytes_total",
        Bytes,
        "Bytes read from block devices, summed over devices (cumulative; Windows storage_stats)",
    ),
    def(
        "disk_written_bytes_total",
        Bytes,
        "Bytes written to block devices, summed over devices (cumulative; Windows storage_stats)",
    ),
    def(
        "disk_read_iops_total",
        Count,
        "Read operations on block devices (cumulative; Windows read_count_normalized)",
    ),
    def(
        "disk_written_iops_total",
        Count,
        "Write operations on block devices (cumulative; Windows write_count_normalized)",
    ),
    def(
        "network_rx_bytes_total",
        Bytes,
        "Bytes received (cumulative)",
    ),
    def(
        "network_rx_packets_total",
        Count,
        "Packets received (cumulative)",
    ),
    def(
        "network_rx_errors_total",
        Count,
        "Receive errors (cumulative)",
    ),
    def(
        "network_rx_dropped_total",
        Count,
        "Received packets dropped (cumulative)",
    ),
    def("network_tx_bytes_total", Bytes, "Bytes sent (cumulative)"),
    def(
        "network_tx_packets_total",
        Count,
        "Packets sent (cumulative)",
    ),
    def("network_tx_errors_total", Count, "Send errors (cumulative)"),
    def(
        "network_tx_dropped_total",
        Count,
        "Sent packets dropped (cumulative)",
    ),
    def(
        "cpu_limit",
        CpuUnits,
        "CPU limit in CPU units (task: vCPU x 1024)",
    ),
    def(
        "mem_limit",
        Mebibytes,
        "Memory limit from the task metadata, MiB",
    ),
    def(
        "exporter_status",
        Status,
        "1 when both stats samples were read and parsed, else 0",
    ),
    // Beyond the ancestor: numbers that need no footnote.
    def(
        "mem_working_set_bytes",
        Bytes,
        "Memory in use: usage minus inactive file pages (docker stats, ECS agent, Kubernetes); Windows privateworkingset",
    ),
    def(
        "mem_rss_bytes",
        Bytes,
        "Anonymous memory (cgroup v1 rss, v2 anon)",
    ),
    def(
        "mem_max_usage_bytes",
        Bytes,
        "Peak memory usage (cgroup v1 max_usage; Docker for Windows commitpeakbytes)",
    ),
    def(
        "mem_limit_bytes",
        Bytes,
        "Effective memory limit: the smallest of the cgroup limit, the hierarchical (task cgroup) limit and the container and task Limits.Memory",
    ),
    def(
        "mem_utilization_ratio",
        Ratio,
        "Working set as a fraction of the effective memory limit",
    ),
    def(
        "mem_available_bytes",
        Bytes,
        "Effective memory limit minus working set",
    ),
    def(
        "mem_working_set_bytes_median",
        Bytes,
        "Median working set over the run's samples (--samples 3 or more)",
    ),
    def(
        "mem_working_set_bytes_max",
        Bytes,
        "Largest working set over the run's samples (--samples 3 or more)",
    ),
    def(
        "cpu_usage_vcpu",
        Vcpu,
        "CPU cores in use over the interval (usage time / wall time between the samples' read times)",
    ),
    def(
        "cpu_usage_vcpu_median",
        Vcpu,
        "Median cores in use over consecutive sample pairs (--samples 3 or more)",
    ),
    def(
        "cpu_usage_vcpu_max",
        Vcpu,
        "Largest cores in use over consecutive sample pairs (--samples 3 or more)",
    ),
    def(
        "cpu_usage_ratio_median",
        Ratio,
        "Median cpu_usage_ratio over consecutive sample pairs (--samples 3 or more)",
    ),
    def(
        "cpu_usage_ratio_max",
        Ratio,
        "Largest cpu_usage_ratio over consecutive sample pairs (--samples 3 or more)",
    ),
    def(
        "cpu_online",
        Count,
        "CPUs online on the host (online_cpus, else Windows num_procs, else system CPU time / wall time, else non-zero percpu slots)",
    ),
    def(
        "network_rx_bytes_per_sec",
        BytesPerSecond,
        "Bytes received per second over the interval",
    ),
    def(
        "network_tx_bytes_per_sec",
        BytesPerSecond,
        "Bytes sent per second over the interval",
    ),
    def(
        "disk_read_bytes_per_sec",
        BytesPerSecond,
        "Bytes read from block devices per second over the interval",
    ),
    def(
        "disk_written_bytes_per_sec",
        BytesPerSecond,
        "Bytes written to block devices per second over the interval",
    ),
    def(
        "ephemeral_storage_used_bytes",
        Bytes,
        "Fargate ephemeral storage in use",
    ),
    def(
        "ephemeral_storage_reserved_bytes",
        Bytes,
        "Fargate ephemeral storage reserved for the task",
    ),
    def(
        "pids",
        Count,
        "Processes and threads in the container (pids_stats.current)",
    ),
    def(
        "restarts",
        Count,
        "Container restarts under the ECS restart policy (RestartCount)",
    ),
    // The run itself (the ECS agent seed's metrics engine habit: measure the collector).
    def(
        "exporter_containers",
        Count,
        "Containers measured in this run",
    ),
    def(
        "exporter_fetch_errors",
        Count,
        "Failed metadata endpoint requests in this run",
    ),
    def(
        "exporter_fetch_seconds",
        Seconds,
        "Time spent on metadata endpoint requests in this run",
    ),
    def(
        "exporter_run_seconds",
        Seconds,
        "Time from start to sending in this run",
    ),
];

/// The definition of `name`, if it is one of ours.
pub fn describe(name: &str) -> Option<&'static Definition> {
    CATALOG.iter().find(|d| d.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        for (i, d) in CATALOG.iter().enumerate() {
            assert!(
                CATALOG[i + 1..].iter().all(|o| o.name != d.name),
                "{} twice",
                d.name
            );
        }
    }
}
