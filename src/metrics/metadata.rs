//! Series from the task metadata alone: limits, restarts, Fargate ephemeral storage.
//!
//! Limit units as the ancestor sends them: container `cpu_limit` in CPU units (1024 per vCPU),
//! task `cpu_limit` = task vCPU × 1024; `mem_limit` in MiB. A limit that is absent from the
//! metadata is not sent (the ancestor sent 0).

use super::{Metric, Tagger, Tags, Value};
use crate::ecs::Task;
use crate::ecs::task::{Container, Limits};

const MIB: f64 = 1024.0 * 1024.0;

pub fn metrics(
    task: &Task,
    included: &dyn Fn(&Container) -> bool,
    tagger: &Tagger,
    out: &mut Vec<Metric>,
) {
    limits(task.limits.as_ref(), 1024.0, tagger.task(), out);
    if let Some(storage) = task.ephemeral_storage_metrics.as_ref() {
        // The payload gives MiB.
        let series = [
            ("ephemeral_storage_used_bytes", storage.utilized),
            ("ephemeral_storage_reserved_bytes", storage.reserved),
        ];
        for (name, mib) in series {
            if let Some(mib) = mib.filter(|v| v.is_finite() && *v >= 0.0) {
                out.push(Metric::new(name, number(mib * MIB), tagger.task()));
            }
        }
    }
    for container in task.containers().iter().filter(|c| included(c)) {
        let tags = tagger.container(container, container.docker_id.as_deref().unwrap_or(""));
        if let Some(restarts) = container.restart_count {
            out.push(Metric::new("restarts", Value::Int(restarts), tags.clone()));
        }
        limits(container.limits.as_ref(), 1.0, tags, out);
    }
}

fn limits(limits: Option<&Limits>, cpu_factor: f64, tags: Tags, out: &mut Vec<Metric>) {
    let Some(limits) = limits else { return };
    if let Some(cpu) = limits.cpu.filter(|v| v.is_finite() && *v >= 0.0) {
        out.push(Metric::new(
            "cpu_limit",
            number(cpu * cpu_factor),
            tags.clone(),
        ));
    }
    if let Some(memory) = limits.memory.filter(|v| v.is_finite() && *v >= 0.0) {
        out.push(Metric::new("mem_limit", number(memory), tags));
    }
}

/// Integral values go out as integers (`512`, not `512.0`).
fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v < 9.0e15 {
        Value::Int(v as u64)
    } else {
        Value::Float(v)
    }
}
