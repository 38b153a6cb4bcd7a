//! CPU: usage ratio (scaled to the applicable limit), per-CPU ratio, user/kernel time, throttling.
//!
//! Ratio formula (docker CLI `calculateCPUPercentUnix`, and the ancestor):
//! Δ`cpu_usage.total_usage` / Δ`system_cpu_usage`, a fraction of the whole host. It is scaled to
//! the limit the container actually runs under, following the ancestor's table:
//! scaled = ratio × online_cpus × 1024 / limit_in_cpu_units, where the limit is the container's
//! `Limits.CPU` when set, else the task's `Limits.CPU` × 1024, else no scaling.

use super::{Measured, Metric, Value, counter_delta, task_tags};
use crate::ecs::Task;
use crate::ecs::stats::CpuStats;

/// Docker and Fargate report `Limits.CPU` 2 for a container with no CPU setting (2 is the
/// minimum `cpu.shares`); 0 means the same on EC2. Neither is a limit to scale against: the
/// ancestor divided by 2 and reported values ~500× too high.
const UNSET_CONTAINER_CPU_UNITS: f64 = 2.0;

/// CPU units per vCPU (ECS task definition docs).
const UNITS_PER_VCPU: f64 = 1024.0;

pub fn metrics(measured: &[Measured], task: &Task, out: &mut Vec<Metric>) {
    let task_units = task
        .limits
        .as_ref()
        .and_then(|l| l.cpu)
        .filter(|&vcpu| vcpu > 0.0)
        .map(|vcpu| vcpu * UNITS_PER_VCPU);
    let mut task_ratio: Option<f64> = None;
    let mut task_online: Option<u64> = None;

    for m in measured {
        let Some(cur) = m.cur.cpu_stats.as_ref() else {
            continue;
        };
        if m.included {
            throttle_metrics(m, cur, out);
        }
        let Some(prev) = m
            .prev
            .and_then(|p| p.cpu_stats.as_ref())
            .filter(|p| is_real_sample(p))
        else {
            continue;
        };
        let online = online_cpus(cur);
        task_online = task_online.max(online);
        let container_units = m
            .container
            .limits
            .as_ref()
            .and_then(|l| l.cpu)
            .filter(|&units| units > UNSET_CONTAINER_CPU_UNITS);
        let limit_units = container_units.or(task_units);
        let system_delta =
            counter_delta(cur.system_cpu_usage, prev.system_cpu_usage).filter(|&d| d > 0);
        let (cur_usage, prev_usage) = (cur.cpu_usage.as_ref(), prev.cpu_usage.as_ref());

        if let Some(system_delta) = system_delta {
            let usage_delta = counter_delta(
                cur_usage.and_then(|u| u.total_usage),
                prev_usage.and_then(|u| u.total_usage),
            );
            if let Some(usage_delta) = usage_delta {
                let ratio = usage_delta as f64 / system_delta as f64;
                *task_ratio.get_or_insert(0.0) += ratio;
                if m.included
                    && let Some(scaled) = scale(ratio, online, limit_units)
                {
                    out.push(ratio_metric("cpu_usage_ratio", scaled, m.tags()));
                }
            }
            if m.included {
                let cur_percpu = cur_usage.and_then(|u| u.percpu_usage.as_deref());
                let prev_percpu = prev_usage.and_then(|u| u.percpu_usage.as_deref());
                if let (Some(cur_percpu), Some(prev_percpu)) = (cur_percpu, prev_percpu) {
                    for (cpu, (&c, &p)) in cur_percpu.iter().zip(prev_percpu).enumerate() {
                        // An all-zero slot is an offline CPU (cgroup v1 lists every possible CPU).
                        if c == 0 {
                            continue;
                        }
                        let Some(delta) = c.checked_sub(p) else {
                            continue;
                        };
                        let ratio = delta as f64 / system_delta as f64;
                        if let Some(scaled) = scale(ratio, online, limit_units) {
                            let mut tags = m.tags();
                            tags.push(("cpu", cpu.to_string()));
                            out.push(ratio_metric("percpu_usage_ratio", scaled, tags));
                        }
                    }
                }
            }
        }

        if m.included {
            for (name, field) in MODE_TIME {
                let delta = counter_delta(cur_usage.and_then(field), prev_usage.and_then(field));
                if let Some(delta) = delta {
                    out.push(Metric::new(name, Value::Int(delta), m.tags()));
                }
            }
        }
    }

    if let Some(ratio) = task_ratio {
        let value = match task_units {
            Some(units) => scale(ratio, task_online, Some(units)),
            None => Some(ratio),
        };
        if let Some(value) = value {
            out.push(ratio_metric("cpu_usage_ratio", value, task_tags()));
        }
    }
}

type UsageField = fn(&crate::ecs::stats::CpuUsage) -> Option<u64>;

/// Nanoseconds spent in each mode during the interval.
const MODE_TIME: [(&str, UsageField); 2] = [
    ("cpu_kernelmode", |u| u.usage_in_kernelmode),
    ("cpu_usermode", |u| u.usage_in_usermode),
];

type ThrottleField = fn(&crate::ecs::stats::ThrottlingData) -> Option<u64>;

/// Cumulative CFS throttling counters of the second sample, as read (the ancestor's meaning).
const THROTTLE: [(&str, ThrottleField); 3] = [
    ("cpu_throttle_periods", |t| t.periods),
    ("cpu_throttle_throttled_periods", |t| t.throttled_periods),
    ("cpu_throttle_throttled_time", |t| t.throttled_time),
];

fn throttle_metrics(m: &Measured, cur: &CpuStats, out: &mut Vec<Metric>) {
    let Some(throttling) = cur.throttling_data.as_ref() else {
        return;
    };
    for (name, field) in THROTTLE {
        if let Some(value) = field(throttling) {
            out.push(Metric::new(name, Value::Int(value), m.tags()));
        }
    }
}

/// docker's zeroed `precpu_stats` (first read of a container) is not a sample to diff against.
fn is_real_sample(cpu: &CpuStats) -> bool {
    cpu.cpu_usage
        .as_ref()
        .and_then(|u| u.total_usage)
        .is_some_and(|t| t > 0)
}

/// `online_cpus`, or on older daemons the length of `percpu_usage` (docker CLI does the same).
fn online_cpus(cpu: &CpuStats) -> Option<u64> {
    cpu.online_cpus.filter(|&n| n > 0).or_else(|| {
        let n = cpu.cpu_usage.as_ref()?.percpu_usage.as_ref()?.len() as u64;
        (n > 0).then_some(n)
    })
}

/// Host fraction → fraction of the limit in CPU units; unscaled when there is no limit.
/// `None` when a limit applies but the host CPU count is unknown.
fn scale(ratio: f64, online_cpus: Option<u64>, limit_units: Option<f64>) -> Option<f64> {
    match limit_units {
        None => Some(ratio),
        Some(units) => Some(ratio * online_cpus? as f64 * UNITS_PER_VCPU / units),
    }
}

/// Ratios are rounded to 4 decimals, as the ancestor sends them.
fn ratio_metric(name: &'static str, value: f64, tags: Vec<(&'static str, String)>) -> Metric {
    let rounded = (value * 10_000.0).round() / 10_000.0;
    Metric::new(name, Value::Float(rounded), tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_follows_the_limit_table() {
        // No limit anywhere: the host fraction as is.
        assert_eq!(scale(0.25, Some(2), None), Some(0.25));
        // 512 units on a 2-CPU host: 0.25 of the host is a full 1024-unit share → 1.0.
        assert_eq!(scale(0.25, Some(2), Some(512.0)), Some(1.0));
        assert_eq!(scale(0.25, None, Some(512.0)), None);
    }
}
