//! Whether the run measured what it was asked to: the one place that decides if the task's
//! interval series (CPU deltas, byte rates) cover every container of the interval, removes
//! them when they do not, and says so in one warning per cause (the README's promise: a run
//! that measures less than asked warns once).
//!
//! A task total over an interval is only right when every container that ran in it is
//! counted over all of it. Three things break that:
//! - a container with stats in the last sample but none in the first (it started, or
//!   restarted under a new Docker ID), or whose counters went backwards (a restart in place):
//!   its CPU is diffed against its own `precpu_stats` when they are a real sample (see
//!   [`cpu_baseline`](super::cpu_baseline)); without one the task's CPU deltas are left out. Its disk and
//!   (bridge) network counters have no earlier reading at all, so the task's byte rates are
//!   left out either way;
//! - a container with stats in the first sample and none in the last (it stopped): it would
//!   count for part of the interval only, so the task's CPU deltas and byte rates are left
//!   out;
//! - samples that span no interval (the same `read` time twice, times going backwards, no
//!   read time): no rate can be had for those containers; this is said, not silently skipped.
//!
//! Levels (memory, counters as read) are not affected: they describe the last sample.

use std::collections::BTreeSet;

use super::catalog::{
    CPU_USAGE_RATIO, CPU_USAGE_RATIO_SPREAD, CPU_USAGE_VCPU, CPU_USAGE_VCPU_SPREAD,
    DISK_READ_BYTES_PER_SEC, DISK_WRITTEN_BYTES_PER_SEC, NETWORK_RX_BYTES_PER_SEC,
    NETWORK_TX_BYTES_PER_SEC,
};
use super::network::TaskTotal;
use super::{Definition, Measured, Metric, TagSet};
use crate::ecs::stats::ContainerStats;
use crate::ecs::{StatsSample, Task};

/// The task series over the interval that a gap leaves out.
const TASK_CPU_DELTAS: [&Definition; 6] = [
    &CPU_USAGE_RATIO,
    &CPU_USAGE_VCPU,
    CPU_USAGE_RATIO_SPREAD.median,
    CPU_USAGE_RATIO_SPREAD.max,
    CPU_USAGE_VCPU_SPREAD.median,
    CPU_USAGE_VCPU_SPREAD.max,
];
const TASK_DISK_RATES: [&Definition; 2] = [&DISK_READ_BYTES_PER_SEC, &DISK_WRITTEN_BYTES_PER_SEC];
const TASK_NETWORK_RATES: [&Definition; 2] = [&NETWORK_RX_BYTES_PER_SEC, &NETWORK_TX_BYTES_PER_SEC];

/// What this run's task totals over the interval lack.
#[derive(Debug, Default, PartialEq)]
pub struct Gaps {
    /// Containers new (or restarted) in the interval without a real `precpu_stats`.
    no_cpu_baseline: Vec<String>,
    /// Containers new in the interval, or restarted in place (counters went backwards).
    restarted: Vec<String>,
    /// Containers with stats in the first sample and none in the last.
    stopped: Vec<String>,
    /// Containers whose two samples span no interval, with the first cause found.
    no_interval: Vec<String>,
    no_interval_cause: Option<String>,
    /// Of `no_interval`, those whose CPU came from `precpu_stats` all the same.
    no_interval_cpu_kept: bool,
}

impl Gaps {
    /// Find the gaps of a run whose samples begin with `first` (`None` with one sample).
    pub fn find(measured: &[Measured], first: Option<&StatsSample>, task: &Task) -> Gaps {
        let mut gaps = Gaps {
            no_interval_cpu_kept: true,
            ..Gaps::default()
        };
        let Some(first) = first else { return gaps };
        for m in measured {
            let name = || name_of(m);
            let baseline = m.baseline;
            let restarted = match m.prev {
                None => true,
                Some(prev) => matches!(
                    (total_usage(m.cur), total_usage(prev)),
                    (Some(cur), Some(prev)) if cur < prev
                ),
            };
            if restarted {
                gaps.restarted.push(name());
                if baseline.is_none() && total_usage(m.cur).is_some_and(|t| t > 0) {
                    gaps.no_cpu_baseline.push(name());
                }
            }
            if let (Some(prev), None) = (m.prev, m.elapsed) {
                gaps.no_interval.push(name());
                gaps.no_interval_cause
                    .get_or_insert_with(|| no_interval_cause(prev, m.cur));
                gaps.no_interval_cpu_kept &= baseline.is_some();
            }
        }
        // Each measured container with stats in the first sample is one of its entries: when
        // they are all of them, none stopped.
        let in_both = measured.iter().filter(|m| m.prev.is_some()).count();
        if in_both == first.containers.len() {
            return gaps;
        }
        let in_last: BTreeSet<&str> = measured.iter().map(|m| m.docker_id).collect();
        let gone = first
            .with_metadata(task)
            .filter(|(id, _, container)| container.is_some() && !in_last.contains(id))
            .map(|(id, _, container)| {
                container
                    .and_then(|c| c.name.clone())
                    .unwrap_or_else(|| id.to_string())
            });
        gaps.stopped.extend(gone);
        gaps
    }

    /// Remove the task series the gaps make wrong (`task_tags`: the task totals' tags) and
    /// warn once for each cause.
    pub fn apply(&self, network: TaskTotal, task_tags: &TagSet, out: &mut Vec<Metric>) {
        let cpu_gap = !self.no_cpu_baseline.is_empty() || !self.stopped.is_empty();
        let rate_gap = !self.restarted.is_empty() || !self.stopped.is_empty();
        if cpu_gap || rate_gap {
            // In a shared namespace each container reports the task's interface: one that
            // came or went leaves the others' readings whole.
            let network_summed = network == TaskTotal::Sum;
            let left_out = |d: &Definition| {
                (cpu_gap && TASK_CPU_DELTAS.contains(&d))
                    || (rate_gap && TASK_DISK_RATES.contains(&d))
                    || (rate_gap && network_summed && TASK_NETWORK_RATES.contains(&d))
            };
            out.retain(|m| !(left_out(m.definition) && m.tags == *task_tags));
            let rates = if network_summed {
                "byte rates"
            } else {
                "disk byte rates"
            };
            log::warn!("{}", self.task_totals_warning(cpu_gap, rate_gap, rates));
        }
        if let Some(cause) = &self.no_interval_cause {
            let cpu = if self.no_interval_cpu_kept {
                "their CPU deltas come from docker's precpu_stats"
            } else {
                "nor CPU deltas"
            };
            log::warn!(
                "no byte rates over the interval for {}: {cause}; {cpu}",
                self.no_interval.join(", ")
            );
        }
    }

    fn task_totals_warning(&self, cpu_gap: bool, rate_gap: bool, rates: &str) -> String {
        let series = match (cpu_gap, rate_gap) {
            (true, true) => format!("CPU deltas and {rates}"),
            (true, false) => "CPU deltas".to_string(),
            _ => rates.to_string(),
        };
        let mut why = Vec::new();
        if !self.no_cpu_baseline.is_empty() {
            why.push(format!(
                "{} started or restarted during the interval with no earlier CPU reading \
                 (precpu_stats empty)",
                self.no_cpu_baseline.join(", ")
            ));
        }
        let with_cpu: Vec<&str> = self
            .restarted
            .iter()
            .filter(|n| !self.no_cpu_baseline.contains(n))
            .map(String::as_str)
            .collect();
        if !with_cpu.is_empty() {
            why.push(format!(
                "{} started or restarted during the interval (its CPU is diffed against its own \
                 precpu_stats; its disk and network counters have no earlier reading)",
                with_cpu.join(", ")
            ));
        }
        if !self.stopped.is_empty() {
            why.push(format!(
                "{} stopped during the interval",
                self.stopped.join(", ")
            ));
        }
        format!(
            "task {series} not sent this run, as they would count a container for part of the \
             interval only: {}",
            why.join("; ")
        )
    }
}

fn name_of(m: &Measured) -> String {
    m.container
        .name
        .clone()
        .unwrap_or_else(|| m.docker_id.to_string())
}

fn total_usage(stats: &ContainerStats) -> Option<u64> {
    stats.cpu_stats.as_ref()?.cpu_usage.as_ref()?.total_usage
}

/// Why two reads of a container span no interval.
fn no_interval_cause(prev: &ContainerStats, cur: &ContainerStats) -> String {
    match (prev.read_at(), cur.read_at()) {
        (Some(a), Some(b)) if a == b => format!(
            "both samples carry the same read time {} (the endpoint served the same stats \
             twice; a longer --interval gives it time to refresh)",
            cur.read.as_deref().unwrap_or_default()
        ),
        (Some(_), Some(_)) => format!(
            "the read time went backwards ({} then {})",
            prev.read.as_deref().unwrap_or_default(),
            cur.read.as_deref().unwrap_or_default()
        ),
        _ => format!(
            "a sample has no usable read time ({:?} then {:?})",
            prev.read.as_deref().unwrap_or_default(),
            cur.read.as_deref().unwrap_or_default()
        ),
    }
}
