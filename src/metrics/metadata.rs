//! Series from the task metadata alone: limits, restarts, Fargate ephemeral storage.
//!
//! Limit units as the ancestor sends them: container `cpu_limit` in CPU units (1024 per vCPU),
//! task `cpu_limit` = task vCPU × 1024; `mem_limit` in MiB. A limit that is absent from the
//! metadata, or 0, is not sent (the ancestor sent 0): ECS writes 0 for a limit the task
//! definition does not set (`Limits` `{"CPU": 0, "Memory": 0}` of EC2 containers without a
//! reservation and of the pause container), so 0 means "none", not "no capacity".

use super::catalog::{
    CPU_LIMIT, EPHEMERAL_STORAGE_RESERVED_BYTES, EPHEMERAL_STORAGE_USED_BYTES, MEM_LIMIT, RESTARTS,
};
use super::{CPU_UNITS_PER_VCPU, Finite, MIB, Metric, TagSet, Tagger, Value};
use crate::ecs::Task;
use crate::ecs::task::{Container, Limits};

pub fn metrics(
    task: &Task,
    included: &dyn Fn(&Container) -> bool,
    tagger: &Tagger,
    out: &mut Vec<Metric>,
) {
    limits(task.limits.as_ref(), CPU_UNITS_PER_VCPU, tagger.task(), out);
    if let Some(storage) = task.ephemeral_storage_metrics.as_ref() {
        // The payload gives MiB.
        let series = [
            (&EPHEMERAL_STORAGE_USED_BYTES, storage.utilized),
            (&EPHEMERAL_STORAGE_RESERVED_BYTES, storage.reserved),
        ];
        for (definition, mib) in series {
            if let Some(bytes) = mib.and_then(|mib| number(mib * MIB as f64)) {
                out.push(Metric::new(definition, bytes, tagger.task()));
            }
        }
    }
    for container in task.containers().iter().filter(|c| included(c)) {
        let tags = tagger.task_container(container);
        if let Some(restarts) = container.restart_count {
            out.push(Metric::int(&RESTARTS, restarts, tags.clone()));
        }
        limits(container.limits.as_ref(), 1.0, tags, out);
    }
}

fn limits(limits: Option<&Limits>, cpu_factor: f64, tags: TagSet, out: &mut Vec<Metric>) {
    let Some(limits) = limits else { return };
    let set = |limit: &f64| *limit > 0.0;
    if let Some(cpu) = limits
        .cpu
        .filter(set)
        .and_then(|cpu| number(cpu * cpu_factor))
    {
        out.push(Metric::new(&CPU_LIMIT, cpu, tags.clone()));
    }
    if let Some(memory) = limits.memory.filter(set).and_then(number) {
        out.push(Metric::new(&MEM_LIMIT, memory, tags));
    }
}

/// Integral values go out as integers (`512`, not `512.0`). `None` for a value that is
/// negative or not finite (including one a unit conversion pushed past f64: found by the
/// property tests with `Limits.CPU` 1e308).
fn number(v: f64) -> Option<Value> {
    let v = Finite::new(v).filter(|v| v.get() >= 0.0)?;
    if v.get().fract() == 0.0 && v.get() < 9.0e15 {
        Some(Value::Int(v.get() as u64))
    } else {
        Some(Value::Float(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::TagOptions;

    /// Regression (found by the property tests): `Limits.CPU` 1e308 × 1024 is inf, and
    /// `EphemeralStorageMetrics` 1e308 MiB in bytes too; neither may be sent.
    #[test]
    fn limits_past_f64_after_conversion_are_not_sent() {
        let task: Task = serde_json::from_str(
            r#"{"Limits": {"CPU": 1e308, "Memory": 512}, "EphemeralStorageMetrics": {"Utilized": 1e308, "Reserved": 20}}"#,
        )
        .unwrap();
        let tagger = Tagger::new(&task, TagOptions::default(), &[]);
        let mut out = Vec::new();
        metrics(&task, &|_| true, &tagger, &mut out);
        let names: Vec<&str> = out.iter().map(Metric::name).collect();
        assert_eq!(names, ["mem_limit", "ephemeral_storage_reserved_bytes"]);
        assert_eq!(number(-1.0), None);
        assert_eq!(number(0.25 * 1024.0), Some(Value::Int(256)));
        assert_eq!(number(0.5), Value::float(0.5));
    }

    /// A limit of 0 is ECS's "not set" (the telegraf capture's nginx `Limits` 0/0): neither
    /// `cpu_limit` nor `mem_limit` is sent for it, for a container or the task.
    #[test]
    fn a_limit_of_zero_is_not_sent() {
        let task: Task = serde_json::from_str(
            r#"{"Limits": {"CPU": 0, "Memory": 0}, "Containers": [
                {"DockerId": "a", "Name": "nginx", "Limits": {"CPU": 0, "Memory": 0}},
                {"DockerId": "b", "Name": "web", "Limits": {"CPU": 0, "Memory": 256}}]}"#,
        )
        .unwrap();
        let tagger = Tagger::new(&task, TagOptions::default(), &[]);
        let mut out = Vec::new();
        metrics(&task, &|_| true, &tagger, &mut out);
        let sent: Vec<(&str, Value)> = out.iter().map(|m| (m.name(), m.value)).collect();
        assert_eq!(sent, [("mem_limit", Value::Int(256))]);
    }
}
