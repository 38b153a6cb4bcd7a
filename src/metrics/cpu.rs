//! CPU: usage ratio (scaled to the applicable limit), cores in use, per-CPU ratio, user and
//! kernel time, throttling, online CPUs.
//!
//! Ratio formula (docker CLI `calculateCPUPercentUnix`, and the ancestor):
//! Δ`cpu_usage.total_usage` / Δ`system_cpu_usage`, a fraction of the whole host. It is scaled to
//! the limit the container actually runs under, following the ancestor's table:
//! scaled = ratio × online_cpus × 1024 / limit_in_cpu_units, where the limit is the container's
//! `Limits.CPU` when set, else the task's `Limits.CPU` × 1024, else no scaling.
//! Cores in use (`cpu_usage_vcpu`) = Δ`total_usage` ns / Δ`read` ns: independent of host size
//! and limits.

use super::{Measured, Metric, Tagger, Value, counter_delta, cpu_baseline, push_spread};
use crate::ecs::Task;
use crate::ecs::stats::{ContainerStats, CpuStats, CpuUsage, ThrottlingData};

/// Docker and Fargate report `Limits.CPU` 2 for a container with no CPU setting (2 is the
/// minimum `cpu.shares`); 0 means the same on EC2. Neither is a limit to scale against: the
/// ancestor divided by 2 and reported values ~500× too high.
const UNSET_CONTAINER_CPU_UNITS: f64 = 2.0;

/// CPU units per vCPU (ECS task definition docs).
const UNITS_PER_VCPU: f64 = 1024.0;

/// The interval figures of one container between two samples.
#[derive(Debug, Default, Clone, Copy)]
struct Figures {
    /// Fraction of the host, unscaled.
    host_ratio: Option<f64>,
    /// Cores in use.
    vcpu: Option<f64>,
}

fn figures(prev: &CpuStats, cur: &CpuStats, seconds: Option<f64>) -> Figures {
    if !is_real_sample(prev) {
        return Figures::default();
    }
    let usage = counter_delta(total_usage(cur), total_usage(prev));
    let system = counter_delta(cur.system_cpu_usage, prev.system_cpu_usage).filter(|&d| d > 0);
    Figures {
        host_ratio: usage.zip(system).map(|(u, s)| u as f64 / s as f64),
        vcpu: usage.zip(seconds).map(|(u, s)| u as f64 / (s * 1e9)),
    }
}

fn total_usage(cpu: &CpuStats) -> Option<u64> {
    cpu.cpu_usage.as_ref()?.total_usage
}

pub fn metrics(measured: &[Measured], task: &Task, tagger: &Tagger, out: &mut Vec<Metric>) {
    let task_units = task
        .limits
        .as_ref()
        .and_then(|l| l.cpu)
        .filter(|&vcpu| vcpu > 0.0)
        .map(|vcpu| vcpu * UNITS_PER_VCPU);
    let mut task_ratio: Option<f64> = None;
    let mut task_vcpu: Option<f64> = None;
    let mut task_online: Option<u64> = None;
    let pairs = measured
        .first()
        .map_or(0, |m| m.history.len().saturating_sub(1));
    let spread = pairs >= 2;
    // Per sample pair: (sum of host ratios, sum of vCPU) over containers.
    let mut task_pairs: Vec<(Option<f64>, Option<f64>)> = vec![(None, None); pairs];

    for m in measured {
        let Some(cur) = m.cur.cpu_stats.as_ref() else {
            continue;
        };
        let online = online_cpus(cur);
        if m.included {
            throttle_metrics(m, cur, out);
            if let Some(online) = online {
                out.push(Metric::new("cpu_online", Value::Int(online), m.tags()));
            }
        }
        let limit_units = m
            .container
            .limits
            .as_ref()
            .and_then(|l| l.cpu)
            .filter(|&units| units > UNSET_CONTAINER_CPU_UNITS)
            .or(task_units);

        if spread {
            let (mut ratios, mut vcpus) = (Vec::new(), Vec::new());
            for (i, pair) in m.history.windows(2).enumerate() {
                let (Some(a), Some(b)) = (pair[0], pair[1]) else {
                    continue;
                };
                let f = pair_figures(a, b);
                if let Some(r) = f.host_ratio {
                    *task_pairs[i].0.get_or_insert(0.0) += r;
                    ratios.extend(scale(r, online, limit_units));
                }
                if let Some(v) = f.vcpu {
                    *task_pairs[i].1.get_or_insert(0.0) += v;
                    vcpus.push(v);
                }
            }
            if m.included {
                push_spread(
                    ("cpu_usage_ratio_median", "cpu_usage_ratio_max"),
                    ratios,
                    m.tags(),
                    out,
                );
                push_spread(
                    ("cpu_usage_vcpu_median", "cpu_usage_vcpu_max"),
                    vcpus,
                    m.tags(),
                    out,
                );
            }
        }

        let Some((prev, seconds)) = cpu_baseline(m.prev, m.cur) else {
            continue;
        };
        if !is_real_sample(prev) {
            continue;
        }
        task_online = task_online.max(online);
        let f = figures(prev, cur, seconds);
        if let Some(ratio) = f.host_ratio {
            *task_ratio.get_or_insert(0.0) += ratio;
            if m.included
                && let Some(scaled) = scale(ratio, online, limit_units)
            {
                out.push(ratio_metric("cpu_usage_ratio", scaled, m.tags()));
            }
        }
        if let Some(vcpu) = f.vcpu {
            *task_vcpu.get_or_insert(0.0) += vcpu;
            if m.included {
                out.extend(Metric::derived("cpu_usage_vcpu", vcpu, m.tags()));
            }
        }
        if !m.included {
            continue;
        }
        let (cur_usage, prev_usage) = (cur.cpu_usage.as_ref(), prev.cpu_usage.as_ref());
        let system_delta =
            counter_delta(cur.system_cpu_usage, prev.system_cpu_usage).filter(|&d| d > 0);
        if let Some(system_delta) = system_delta {
            percpu_metrics(
                m,
                cur_usage,
                prev_usage,
                system_delta,
                online,
                limit_units,
                out,
            );
        }
        for (name, field) in MODE_TIME {
            let delta = counter_delta(cur_usage.and_then(field), prev_usage.and_then(field));
            if let Some(delta) = delta {
                out.push(Metric::new(name, Value::Int(delta), m.tags()));
            }
        }
    }

    let scale_task = |ratio: f64| match task_units {
        Some(units) => scale(ratio, task_online, Some(units)),
        None => Some(ratio),
    };
    if let Some(value) = task_ratio.and_then(scale_task) {
        out.push(ratio_metric("cpu_usage_ratio", value, tagger.task()));
    }
    if let Some(vcpu) = task_vcpu {
        out.extend(Metric::derived("cpu_usage_vcpu", vcpu, tagger.task()));
    }
    if spread {
        let ratios = task_pairs
            .iter()
            .filter_map(|p| p.0.and_then(scale_task))
            .collect();
        let vcpus = task_pairs.iter().filter_map(|p| p.1).collect();
        push_spread(
            ("cpu_usage_ratio_median", "cpu_usage_ratio_max"),
            ratios,
            tagger.task(),
            out,
        );
        push_spread(
            ("cpu_usage_vcpu_median", "cpu_usage_vcpu_max"),
            vcpus,
            tagger.task(),
            out,
        );
    }
}

/// Figures between two consecutive samples of one container.
fn pair_figures(a: &ContainerStats, b: &ContainerStats) -> Figures {
    match (cpu_baseline(Some(a), b), b.cpu_stats.as_ref()) {
        (Some((prev, seconds)), Some(cur)) => figures(prev, cur, seconds),
        _ => Figures::default(),
    }
}

fn percpu_metrics(
    m: &Measured,
    cur: Option<&CpuUsage>,
    prev: Option<&CpuUsage>,
    system_delta: u64,
    online: Option<u64>,
    limit_units: Option<f64>,
    out: &mut Vec<Metric>,
) {
    let cur_percpu = cur.and_then(|u| u.percpu_usage.as_deref());
    let prev_percpu = prev.and_then(|u| u.percpu_usage.as_deref());
    let (Some(cur_percpu), Some(prev_percpu)) = (cur_percpu, prev_percpu) else {
        return;
    };
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
            out.push(ratio_metric(
                "percpu_usage_ratio",
                scaled,
                m.tags_with("cpu", cpu.to_string()),
            ));
        }
    }
}

type UsageField = fn(&CpuUsage) -> Option<u64>;

/// Nanoseconds spent in each mode during the interval.
const MODE_TIME: [(&str, UsageField); 2] = [
    ("cpu_kernelmode", |u| u.usage_in_kernelmode),
    ("cpu_usermode", |u| u.usage_in_usermode),
];

type ThrottleField = fn(&ThrottlingData) -> Option<u64>;

/// Cumulative CFS throttling counters of the last sample, as read (the ancestor's meaning).
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
    total_usage(cpu).is_some_and(|t| t > 0)
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
fn ratio_metric(name: &'static str, value: f64, tags: super::TagSet) -> Metric {
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
