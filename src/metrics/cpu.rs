//! CPU: usage ratio (scaled to the applicable limit), cores in use, per-CPU ratio, user and
//! kernel time, throttling, online CPUs.
//!
//! Ratio formula (docker CLI `calculateCPUPercentUnix`, and the ancestor):
//! Δ`cpu_usage.total_usage` / Δ`system_cpu_usage`, a fraction of the whole host. It is scaled to
//! the limit the container actually runs under, following the ancestor's table:
//! scaled = ratio × online_cpus × 1024 / limit_in_cpu_units, where the limit is the container's
//! `Limits.CPU` when set, else the task's `Limits.CPU` × 1024, else no scaling.
//! Without `system_cpu_usage` (Fargate platform 1.4.0 at launch, Windows) the ratio is
//! cores in use × 1024 / the same limit, and is not sent without a limit.
//! Cores in use (`cpu_usage_vcpu`) = Δ`total_usage` ns / Δ`read` ns: independent of host size
//! and limits.
//!
//! Units: Linux and Fargate Windows report CPU times in ns; Docker on Windows (ECS on EC2
//! Windows passes Docker's stats through) in 100 ns units (moby's Windows stats copy HCS's
//! `TotalRuntime100ns`, `RuntimeKernel100ns`, `RuntimeUser100ns` as they are). Every CPU
//! time is converted to ns before any series is computed.

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
    /// Host CPUs implied by the samples: Δ`system_cpu_usage` / Δ`read` (docker's system usage
    /// is the host's CPU time over all CPUs, so it grows by CPUs × wall time).
    host_cpus: Option<u64>,
}

/// `unit_ns`: nanoseconds per unit of the CPU time counters (see the module comment).
fn figures(prev: &CpuStats, cur: &CpuStats, seconds: Option<f64>, unit_ns: u64) -> Figures {
    if !is_real_sample(prev) {
        return Figures::default();
    }
    let usage =
        counter_delta(total_usage(cur), total_usage(prev)).map(|d| d.saturating_mul(unit_ns));
    let system = counter_delta(cur.system_cpu_usage, prev.system_cpu_usage).filter(|&d| d > 0);
    // A zeroed previous system counter is docker's "no sample", not a reading at boot.
    let host_cpus = system
        .filter(|_| prev.system_cpu_usage.is_some_and(|s| s > 0))
        .zip(seconds)
        .map(|(s, secs)| (s as f64 / (secs * 1e9)).round())
        .filter(|&n| n >= 1.0 && n.is_finite())
        .map(|n| n as u64);
    Figures {
        host_ratio: usage.zip(system).map(|(u, s)| u as f64 / s as f64),
        vcpu: usage.zip(seconds).map(|(u, s)| u as f64 / (s * 1e9)),
        host_cpus,
    }
}

/// Nanoseconds per CPU time unit: 100 for Docker on Windows (every launch type but Fargate),
/// else 1. Fargate Windows reports ns: in the DataDog Fargate Windows capture Δ`total_usage`
/// over its 9.95 s read interval is 0.12 vCPU read as ns but 12 vCPU read as 100 ns, on a
/// platform whose largest task has 4 vCPU; and its counters are whole multiples of
/// 15 625 000, the 15.625 ms Windows clock tick in ns.
fn ns_per_unit(task: &Task, stats: &ContainerStats) -> u64 {
    if stats.is_windows() && !task.is_fargate() {
        100
    } else {
        1
    }
}

fn total_usage(cpu: &CpuStats) -> Option<u64> {
    cpu.cpu_usage.as_ref()?.total_usage
}

/// Task sums over containers for one interval.
#[derive(Debug, Default, Clone, Copy)]
struct TaskSums {
    host_ratio: Option<f64>,
    vcpu: Option<f64>,
    /// Some container had cores in use but no host fraction (no `system_cpu_usage`): the
    /// host sum is incomplete, so the task ratio comes from cores in use.
    host_missing: bool,
}

impl TaskSums {
    fn add(&mut self, f: &Figures) {
        if let Some(r) = f.host_ratio {
            *self.host_ratio.get_or_insert(0.0) += r;
        } else if f.vcpu.is_some() {
            self.host_missing = true;
        }
        if let Some(v) = f.vcpu {
            *self.vcpu.get_or_insert(0.0) += v;
        }
    }
}

pub fn metrics(measured: &[Measured], task: &Task, tagger: &Tagger, out: &mut Vec<Metric>) {
    let task_units = task
        .limits
        .as_ref()
        .and_then(|l| l.cpu)
        .filter(|&vcpu| vcpu > 0.0)
        .map(|vcpu| vcpu * UNITS_PER_VCPU);
    let mut task_sums = TaskSums::default();
    let mut task_online: Option<u64> = None;
    let pairs = measured
        .first()
        .map_or(0, |m| m.history.len().saturating_sub(1));
    let spread = pairs >= 2;
    let mut task_pairs: Vec<TaskSums> = vec![TaskSums::default(); pairs];

    for m in measured {
        let Some(cur) = m.cur.cpu_stats.as_ref() else {
            continue;
        };
        let unit_ns = ns_per_unit(task, m.cur);
        let baseline = cpu_baseline(m.prev, m.cur).filter(|(prev, _)| is_real_sample(prev));
        let f = baseline.map_or_else(Figures::default, |(prev, seconds)| {
            figures(prev, cur, seconds, unit_ns)
        });
        let online = online_cpus(m.cur, cur, &f);
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
                let pf = pair_figures(a, b, unit_ns);
                task_pairs[i].add(&pf);
                ratios.extend(container_ratio(&pf, online, limit_units));
                vcpus.extend(pf.vcpu);
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

        let Some((prev, _)) = baseline else {
            continue;
        };
        task_online = task_online.max(online);
        task_sums.add(&f);
        if !m.included {
            continue;
        }
        if let Some(ratio) = container_ratio(&f, online, limit_units) {
            out.push(ratio_metric("cpu_usage_ratio", ratio, m.tags()));
        }
        if let Some(vcpu) = f.vcpu {
            out.extend(Metric::derived("cpu_usage_vcpu", vcpu, m.tags()));
        }
        let (cur_usage, prev_usage) = (cur.cpu_usage.as_ref(), prev.cpu_usage.as_ref());
        let system_delta =
            counter_delta(cur.system_cpu_usage, prev.system_cpu_usage).filter(|&d| d > 0);
        if let Some(system_delta) = system_delta {
            percpu_metrics(
                m,
                (cur_usage, prev_usage),
                system_delta,
                unit_ns,
                online,
                limit_units,
                out,
            );
        }
        for (name, field) in MODE_TIME {
            let delta = counter_delta(cur_usage.and_then(field), prev_usage.and_then(field));
            if let Some(delta) = delta {
                out.push(Metric::new(
                    name,
                    Value::Int(delta.saturating_mul(unit_ns)),
                    m.tags(),
                ));
            }
        }
    }

    let task_ratio = |sums: &TaskSums| match (sums.host_ratio, task_units) {
        (Some(ratio), Some(units)) if !sums.host_missing => scale(ratio, task_online, Some(units)),
        (Some(ratio), None) if !sums.host_missing => Some(ratio),
        // No system_cpu_usage: cores in use over the task limit; nothing without one.
        _ => Some(sums.vcpu? * UNITS_PER_VCPU / task_units?),
    };
    if let Some(value) = task_ratio(&task_sums) {
        out.push(ratio_metric("cpu_usage_ratio", value, tagger.task()));
    }
    if let Some(vcpu) = task_sums.vcpu {
        out.extend(Metric::derived("cpu_usage_vcpu", vcpu, tagger.task()));
    }
    if spread {
        let ratios = task_pairs.iter().filter_map(task_ratio).collect();
        let vcpus = task_pairs.iter().filter_map(|p| p.vcpu).collect();
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

/// A container's `cpu_usage_ratio`: the host fraction scaled to the limit (docker CLI), or,
/// without `system_cpu_usage`, cores in use × 1024 / the limit in CPU units. `None` without
/// a limit in the second case: a host fraction cannot be had there.
fn container_ratio(f: &Figures, online: Option<u64>, limit_units: Option<f64>) -> Option<f64> {
    match f.host_ratio {
        Some(ratio) => scale(ratio, online, limit_units),
        None => Some(f.vcpu? * UNITS_PER_VCPU / limit_units?),
    }
}

/// Figures between two consecutive samples of one container.
fn pair_figures(a: &ContainerStats, b: &ContainerStats, unit_ns: u64) -> Figures {
    match (cpu_baseline(Some(a), b), b.cpu_stats.as_ref()) {
        (Some((prev, seconds)), Some(cur)) => figures(prev, cur, seconds, unit_ns),
        _ => Figures::default(),
    }
}

fn percpu_metrics(
    m: &Measured,
    (cur, prev): (Option<&CpuUsage>, Option<&CpuUsage>),
    system_delta: u64,
    unit_ns: u64,
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
        let ratio = delta.saturating_mul(unit_ns) as f64 / system_delta as f64;
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

/// The host's CPU count, in this order: `online_cpus` when above 0; on Windows `num_procs`
/// (Docker for Windows' processor count) when above 0; the count implied by the samples
/// (Δ`system_cpu_usage` / Δ`read`, rounded, at least 1); the non-zero `percpu_usage` slots.
/// Older EC2 daemons and Fargate platform 1.x omit `online_cpus` and pad `percpu_usage` to
/// 15 slots, mostly 0, so the list length (docker CLI's fallback) would say 15 on a 1-CPU
/// host. `None` when none is known: no series that needs a CPU count is sent.
fn online_cpus(stats: &ContainerStats, cpu: &CpuStats, f: &Figures) -> Option<u64> {
    let positive = |n: &u64| *n > 0;
    cpu.online_cpus
        .filter(positive)
        .or_else(|| {
            stats
                .is_windows()
                .then_some(stats.num_procs)
                .flatten()
                .filter(positive)
        })
        .or(f.host_cpus)
        .or_else(|| {
            let slots = cpu.cpu_usage.as_ref()?.percpu_usage.as_ref()?;
            Some(slots.iter().filter(|&&n| n > 0).count() as u64).filter(positive)
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

    fn stats(v: serde_json::Value) -> ContainerStats {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn online_cpus_fall_back_in_order() {
        let padded = |online: serde_json::Value| {
            stats(serde_json::json!({"cpu_stats": {"online_cpus": online,
                "cpu_usage": {"total_usage": 9, "percpu_usage": [5, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]}}}))
        };
        let with_host = Figures {
            host_cpus: Some(3),
            ..Figures::default()
        };
        let none = Figures::default();
        let cpu = |s: &ContainerStats| s.cpu_stats.clone().unwrap();
        let s = padded(serde_json::json!(4));
        assert_eq!(online_cpus(&s, &cpu(&s), &with_host), Some(4));
        // online_cpus 0 or absent: Δsystem / Δread, then the non-zero slots, never 15.
        let s = padded(serde_json::json!(0));
        assert_eq!(online_cpus(&s, &cpu(&s), &with_host), Some(3));
        assert_eq!(online_cpus(&s, &cpu(&s), &none), Some(2));
        let s = stats(serde_json::json!({"cpu_stats": {"cpu_usage": {"percpu_usage": [0, 0]}}}));
        assert_eq!(online_cpus(&s, &cpu(&s), &none), None);
        // Windows: num_procs is the host's processor count; 0 on Linux means nothing.
        let windows = stats(serde_json::json!({"num_procs": 8, "cpu_stats": {},
            "memory_stats": {"privateworkingset": 1}}));
        assert_eq!(online_cpus(&windows, &cpu(&windows), &none), Some(8));
        let linux =
            stats(serde_json::json!({"num_procs": 8, "cpu_stats": {}, "storage_stats": {}}));
        assert_eq!(online_cpus(&linux, &cpu(&linux), &none), None);
    }

    #[test]
    fn host_cpus_come_from_system_usage_over_wall_time() {
        let cpu = |total: u64, system: u64| -> CpuStats {
            serde_json::from_value(serde_json::json!({"cpu_usage": {"total_usage": total},
                "system_cpu_usage": system}))
            .unwrap()
        };
        // 4 CPUs for 1.003 s: system grows by 4.012e9.
        let f = figures(
            &cpu(10, 1_000),
            &cpu(20, 1_000 + 4_012_000_000),
            Some(1.003),
            1,
        );
        assert_eq!(f.host_cpus, Some(4));
        // A zeroed previous system counter is no reading.
        let f = figures(&cpu(10, 0), &cpu(20, 4_012_000_000), Some(1.003), 1);
        assert_eq!(f.host_cpus, None);
        // 100 ns units: Δ10 units over 1 s is 1000 ns of CPU.
        let f = figures(&cpu(10, 1), &cpu(20, 1), Some(1.0), 100);
        assert_eq!(f.vcpu, Some(1e-6));
    }
}
