//! Limits from the task metadata: per selected container, and for the task.
//!
//! Units as the ancestor sends them: container `cpu_limit` in CPU units (1024 per vCPU),
//! task `cpu_limit` = task vCPU × 1024; `mem_limit` in MiB. A limit that is absent from the
//! metadata is not sent (the ancestor sent 0).

use super::{Metric, Value, container_name_tag, task_tags};
use crate::ecs::Task;
use crate::ecs::task::Container;

pub fn metrics(task: &Task, included: &dyn Fn(&Container) -> bool, out: &mut Vec<Metric>) {
    if let Some(limits) = task.limits.as_ref() {
        if let Some(cpu) = limits.cpu.filter(|v| v.is_finite() && *v >= 0.0) {
            out.push(Metric::new("cpu_limit", number(cpu * 1024.0), task_tags()));
        }
        if let Some(memory) = limits.memory.filter(|v| v.is_finite() && *v >= 0.0) {
            out.push(Metric::new("mem_limit", number(memory), task_tags()));
        }
    }
    for container in task.containers().iter().filter(|c| included(c)) {
        let Some(limits) = container.limits.as_ref() else {
            continue;
        };
        let tags = vec![(
            "container_name",
            container_name_tag(container, container.docker_id.as_deref().unwrap_or("")),
        )];
        if let Some(cpu) = limits.cpu.filter(|v| v.is_finite() && *v >= 0.0) {
            out.push(Metric::new("cpu_limit", number(cpu), tags.clone()));
        }
        if let Some(memory) = limits.memory.filter(|v| v.is_finite() && *v >= 0.0) {
            out.push(Metric::new("mem_limit", number(memory), tags));
        }
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
