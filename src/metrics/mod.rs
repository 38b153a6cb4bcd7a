//! Pure metric computation: task metadata + two stats samples → tagged gauge values.
//!
//! No I/O and no clocks: everything arrives as data, so every formula is unit-testable on
//! real captures. One module per family (cpu, memory, io, network, limits); each maps its part
//! of the payload to metrics through a small table and adds the task totals.

pub mod catalog;
pub mod cpu;
pub mod io;
pub mod limits;
pub mod memory;
pub mod network;

use crate::ecs::task::Container;
use crate::ecs::{ContainerStats, StatsSample, Task};

/// `container_name` tag value of task-level totals (the ancestor's convention).
pub const TASK_CONTAINER_NAME: &str = "_task_";

/// Values at or above this are cgroup "no value / no limit" sentinels (Fargate reports
/// 9223372036854771712, some hosts u64::MAX), never real usage.
pub const NO_VALUE_THRESHOLD: u64 = 1 << 62;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// Counters and byte counts, kept exact (they may exceed 2^53).
    Int(u64),
    Float(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Name without the prefix, e.g. `mem_usage`.
    pub name: &'static str,
    pub value: Value,
    /// Ordered `key:value` tags; values are already sanitized.
    pub tags: Vec<(&'static str, String)>,
}

impl Metric {
    pub fn new(name: &'static str, value: Value, tags: Vec<(&'static str, String)>) -> Metric {
        Metric { name, value, tags }
    }

    /// `exporter_status`: 1 when both samples were read and parsed, else 0. No tags.
    pub fn exporter_status(healthy: bool) -> Metric {
        Metric::new(
            "exporter_status",
            Value::Int(u64::from(healthy)),
            Vec::new(),
        )
    }
}

/// A container that has stats in the second sample and is known to the task metadata.
pub struct Measured<'a> {
    pub container: &'a Container,
    /// The sanitized `container_name` tag value.
    pub name: String,
    /// Whether its own series are sent (the include/exclude filter). Task totals count every
    /// measured container regardless.
    pub included: bool,
    /// Its stats in the first sample, if any.
    pub prev: Option<&'a ContainerStats>,
    pub cur: &'a ContainerStats,
}

impl Measured<'_> {
    pub fn tags(&self) -> Vec<(&'static str, String)> {
        vec![("container_name", self.name.clone())]
    }
}

pub fn task_tags() -> Vec<(&'static str, String)> {
    vec![("container_name", TASK_CONTAINER_NAME.to_string())]
}

/// Every metric of one run except `exporter_status`. `included` is the filter's verdict on a
/// container; containers in the stats but not in `task` must be dropped by the caller first
/// (they are skipped here).
pub fn compute(
    task: &Task,
    first: &StatsSample,
    second: &StatsSample,
    included: &dyn Fn(&Container) -> bool,
) -> Vec<Metric> {
    let measured: Vec<Measured> = second
        .containers
        .keys()
        .filter_map(|id| {
            let cur = second.get(id)?;
            let container = task.container(id)?;
            Some(Measured {
                container,
                name: container_name_tag(container, id),
                included: included(container),
                prev: first.get(id),
                cur,
            })
        })
        .collect();

    let mut out = Vec::with_capacity(32 * (measured.len() + 1));
    limits::metrics(task, included, &mut out);
    cpu::metrics(&measured, task, &mut out);
    memory::metrics(&measured, &mut out);
    io::metrics(&measured, &mut out);
    network::metrics(&measured, task.shares_network_namespace(), &mut out);
    out
}

pub fn container_name_tag(container: &Container, docker_id: &str) -> String {
    sanitize_tag_value(container.name.as_deref().unwrap_or(docker_id))
}

/// Datadog tag rules: letters, digits and `_ - : . /` are kept, anything else becomes `_`, at
/// most 200 characters. (The ancestor's datadog client applied `[^\w\d_\-:/\.]` → `_`.)
pub fn sanitize_tag_value(raw: &str) -> String {
    raw.chars()
        .take(200)
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '_' | '-' | ':' | '.' | '/') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `cur - prev` for a monotonic counter; `None` when either is missing or the counter went
/// backwards (a container restart), so no negative or wrapped value is ever reported.
pub fn counter_delta(cur: Option<u64>, prev: Option<u64>) -> Option<u64> {
    cur?.checked_sub(prev?)
}

/// Sum that keeps `None` until the first value arrives, so a total over containers that all
/// lack a field is absent rather than 0.
pub fn add(total: &mut Option<u64>, value: u64) {
    *total = Some(total.unwrap_or(0).saturating_add(value));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_like_the_ancestor() {
        assert_eq!(
            sanitize_tag_value("~internal~ecs~pause"),
            "_internal_ecs_pause"
        );
        assert_eq!(sanitize_tag_value("a|b,c#d e\nf"), "a_b_c_d_e_f");
        assert_eq!(sanitize_tag_value("web-1.2/x:y_z"), "web-1.2/x:y_z");
        assert_eq!(sanitize_tag_value(&"x".repeat(500)).len(), 200);
    }

    #[test]
    fn counter_delta_refuses_resets() {
        assert_eq!(counter_delta(Some(10), Some(4)), Some(6));
        assert_eq!(counter_delta(Some(4), Some(10)), None);
        assert_eq!(counter_delta(None, Some(1)), None);
        assert_eq!(counter_delta(Some(5), Some(0)), Some(5));
    }
}
