//! Memory: usage and page cache of the second sample, per container and summed for the task.

use super::{Measured, Metric, NO_VALUE_THRESHOLD, Value, add, task_tags};
use crate::ecs::stats::MemoryStats;

type MemoryField = fn(&MemoryStats) -> Option<u64>;

/// (name, source). `mem_usage` is `memory_stats.usage` (includes page cache, as the ancestor
/// reports it); `mem_cache` is cgroup v1 `stats.cache`, or cgroup v2 `stats.file`.
const MEMORY: [(&str, MemoryField); 2] = [
    ("mem_usage", |m| m.usage),
    ("mem_cache", |m| m.stat("cache").or_else(|| m.stat("file"))),
];

pub fn metrics(measured: &[Measured], out: &mut Vec<Metric>) {
    for (name, field) in MEMORY {
        let mut total = None;
        for m in measured {
            let value = m
                .cur
                .memory_stats
                .as_ref()
                .and_then(field)
                .filter(|&v| v < NO_VALUE_THRESHOLD);
            let Some(value) = value else { continue };
            add(&mut total, value);
            if m.included {
                out.push(Metric::new(name, Value::Int(value), m.tags()));
            }
        }
        if let Some(total) = total {
            out.push(Metric::new(name, Value::Int(total), task_tags()));
        }
    }
}
