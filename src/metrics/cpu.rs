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

mod percpu;

use super::catalog::{
    CPU_KERNELMODE, CPU_ONLINE, CPU_THROTTLE_PERIODS, CPU_THROTTLE_THROTTLED_PERIODS,
    CPU_THROTTLE_THROTTLED_TIME, CPU_USAGE_RATIO, CPU_USAGE_RATIO_SPREAD, CPU_USAGE_VCPU,
    CPU_USAGE_VCPU_SPREAD, CPU_USERMODE,
};
use super::{
    CPU_UNITS_PER_VCPU, Definition, Measured, Metric, TagSet, Tagger, counter_delta, cpu_baseline,
    push_spread,
};
use crate::ecs::Task;
use crate::ecs::stats::{ContainerStats, CpuStats, CpuUsage, ThrottlingData};

/// Docker and Fargate report `Limits.CPU` 2 for a container with no CPU setting (2 is the
/// minimum `cpu.shares`); 0 means the same on EC2. Neither is a limit to scale against: the
/// ancestor divided by 2 and reported values ~500× too high.
const UNSET_CONTAINER_CPU_UNITS: f64 = 2.0;

/// The interval figures of one container between two samples.
#[derive(Debug, Default, Clone, Copy)]
struct Figures {
    /// Fraction of the host, unscaled.
    host_ratio: Option<f64>,
    /// Cores in use.
    vcpu: Option<f64>,
    /// Δ`system_cpu_usage`, when it grew.
    system_delta: Option<u64>,
    /// Host CPUs implied by the samples: Δ`system_cpu_usage` / Δ`read` (docker's system usage
    /// is the host's CPU time over all CPUs, so it grows by CPUs × wall time).
    host_cpus: Option<u64>,
    /// Seconds between the two reads, when known.
    seconds: Option<f64>,
    /// Δ`total_usage` exceeded Δ`system_cpu_usage`: no container uses more CPU time than the
    /// whole host, so the system counter is broken (or was reset) and the figures come from
    /// the read times alone.
    system_broken: bool,
}

/// `unit_ns`: nanoseconds per unit of the CPU time counters (see the module comment).
fn figures(prev: &CpuStats, cur: &CpuStats, seconds: Option<f64>, unit_ns: u64) -> Figures {
    if !is_real_sample(prev) {
        return Figures::default();
    }
    let usage =
        counter_delta(total_usage(cur), total_usage(prev)).map(|d| d.saturating_mul(unit_ns));
    let system = counter_delta(cur.system_cpu_usage, prev.system_cpu_usage).filter(|&d| d > 0);
    // Datadog's ecs_fargate check falls back to wall time the same way when the system delta
    // is anomalous (DataDog/integrations-core `ecs_fargate/tests/test_unit.py`,
    // `test_cpu_percent_anomalous_branch_computes_exact_value`: 5e9 ns of container CPU against
    // 100 ns of system CPU over 1 s is 500 %, i.e. 5 cores).
    let system_broken = matches!((usage, system), (Some(u), Some(s)) if u > s);
    let system = system.filter(|_| !system_broken);
    // A zeroed previous system counter is docker's "no sample", not a reading at boot.
    let host_cpus = system
        .filter(|_| prev.system_cpu_usage.is_some_and(|s| s > 0))
        .zip(seconds)
        .map(|(s, secs)| (s as f64 / (secs * 1e9)).round())
        .filter(|&n| n >= 1.0 && n.is_finite())
        .map(|n| n as u64);
    Figures {
        host_ratio: usage.zip(system).map(|(u, s)| u as f64 / s as f64),
        system_delta: system,
        vcpu: usage.zip(seconds).map(|(u, s)| u as f64 / (s * 1e9)),
        host_cpus,
        seconds,
        system_broken,
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
        .map(|vcpu| vcpu * CPU_UNITS_PER_VCPU);
    let mut totals = TaskCpu {
        units: task_units,
        ..TaskCpu::default()
    };
    let pairs = measured
        .first()
        .map_or(0, |m| m.history.len().saturating_sub(1));
    // With three samples or more, the figures of each consecutive pair.
    let mut task_pairs = (pairs >= 2).then(|| vec![TaskSums::default(); pairs]);

    // Containers whose CPU time grew more than the host's in some interval.
    let mut broken_system: Vec<&str> = Vec::new();
    for m in measured {
        let Some(reading) = Reading::of(m, task_units, ns_per_unit(task, m.cur)) else {
            continue;
        };
        if reading.figures.system_broken || spread_broken(m, reading.unit_ns) {
            broken_system.push(m.container.name.as_deref().unwrap_or_default());
        }
        if m.included {
            throttle_metrics(m, reading.cur, out);
            if let Some(online) = reading.online {
                out.push(Metric::int(&CPU_ONLINE, online, m.tags()));
            }
        }
        if let Some(task_pairs) = task_pairs.as_deref_mut() {
            spread_metrics(m, &reading, task_pairs, out);
        }
        let Some(prev) = reading.prev else { continue };
        totals.online = totals.online.max(reading.online);
        totals.sums.add(&reading.figures);
        if m.included {
            interval_metrics(m, &reading, prev, out);
        }
    }
    totals.metrics(task_pairs.as_deref(), tagger, out);
    if !broken_system.is_empty() {
        log::warn!(
            "CPU time of {} grew more than the host's system_cpu_usage (a reset or broken system \
             counter): its cpu_usage_ratio comes from the read times (cores in use x 1024 / the \
             CPU limit), for the task total too",
            broken_system.join(", ")
        );
    }
}

/// Some consecutive pair of samples (with three or more) has a broken system counter.
fn spread_broken(m: &Measured, unit_ns: u64) -> bool {
    m.history.len() > 2
        && m.history.windows(2).any(|pair| match (pair[0], pair[1]) {
            (a, Some(b)) => pair_figures(a, b, unit_ns).system_broken,
            _ => false,
        })
}

/// One container's CPU figures for the run, worked out once.
struct Reading<'a> {
    cur: &'a CpuStats,
    /// The baseline (the first sample's `cpu_stats`, or `precpu_stats`) when it is a real
    /// sample; without one there are no interval figures.
    prev: Option<&'a CpuStats>,
    /// Nanoseconds per CPU time unit.
    unit_ns: u64,
    /// Between the baseline and the last sample.
    figures: Figures,
    online: Option<u64>,
    /// The limit the ratio is scaled to, in CPU units.
    limit_units: Option<f64>,
}

impl<'a> Reading<'a> {
    fn of(m: &Measured<'a>, task_units: Option<f64>, unit_ns: u64) -> Option<Reading<'a>> {
        let cur = m.cur.cpu_stats.as_ref()?;
        let baseline = m.baseline;
        let figures = baseline.map_or_else(Figures::default, |(prev, seconds)| {
            figures(prev, cur, seconds, unit_ns)
        });
        let limit_units = m
            .container
            .limits
            .as_ref()
            .and_then(|l| l.cpu)
            .filter(|&units| units > UNSET_CONTAINER_CPU_UNITS)
            .or(task_units);
        Some(Reading {
            cur,
            prev: baseline.map(|(prev, _)| prev),
            unit_ns,
            online: online_cpus(m.cur, cur, &figures),
            figures,
            limit_units,
        })
    }

    /// The container's `cpu_usage_ratio` for `figures`: the host fraction scaled to the
    /// limit (docker CLI), or, without `system_cpu_usage`, cores in use × 1024 / the limit in
    /// CPU units. `None` without a limit in the second case: a host fraction cannot be had
    /// there.
    fn ratio(&self, figures: &Figures) -> Option<f64> {
        match figures.host_ratio {
            Some(ratio) => scale(ratio, self.online, self.limit_units),
            None => Some(figures.vcpu? * CPU_UNITS_PER_VCPU / self.limit_units?),
        }
    }
}

/// `cpu_usage_ratio` and `cpu_usage_vcpu` `_median`/`_max` over consecutive sample pairs;
/// each pair's figures are added to the task's.
fn spread_metrics(
    m: &Measured,
    reading: &Reading,
    task_pairs: &mut [TaskSums],
    out: &mut Vec<Metric>,
) {
    let (mut ratios, mut vcpus) = (Vec::new(), Vec::new());
    for (i, pair) in m.history.windows(2).enumerate() {
        // A container new in this pair is diffed against its own precpu_stats.
        let Some(b) = pair[1] else { continue };
        let figures = pair_figures(pair[0], b, reading.unit_ns);
        task_pairs[i].add(&figures);
        ratios.extend(reading.ratio(&figures));
        vcpus.extend(figures.vcpu);
    }
    if m.included {
        push_spread(&CPU_USAGE_RATIO_SPREAD, ratios, m.tags(), out);
        push_spread(&CPU_USAGE_VCPU_SPREAD, vcpus, m.tags(), out);
    }
}

/// A container's series over the interval from `prev` (the baseline) to the last sample.
fn interval_metrics(m: &Measured, reading: &Reading, prev: &CpuStats, out: &mut Vec<Metric>) {
    let f = &reading.figures;
    if let Some(ratio) = reading.ratio(f) {
        out.extend(ratio_metric(&CPU_USAGE_RATIO, ratio, m.tags()));
    }
    if let Some(vcpu) = f.vcpu {
        out.extend(Metric::derived(&CPU_USAGE_VCPU, vcpu, m.tags()));
    }
    let usage = (reading.cur.cpu_usage.as_ref(), prev.cpu_usage.as_ref());
    if let Some(share) = percpu::PercpuShare::of(f) {
        percpu::metrics(m, usage, share, reading, out);
    }
    for (definition, field) in MODE_TIME {
        let delta = counter_delta(usage.0.and_then(field), usage.1.and_then(field));
        if let Some(delta) = delta {
            let ns = delta.saturating_mul(reading.unit_ns);
            out.push(Metric::int(definition, ns, m.tags()));
        }
    }
}

/// The task's figures, summed over its containers.
#[derive(Default)]
struct TaskCpu {
    /// The task's `Limits.CPU` in CPU units.
    units: Option<f64>,
    /// The largest host CPU count among the containers with interval figures.
    online: Option<u64>,
    sums: TaskSums,
}

impl TaskCpu {
    fn ratio(&self, sums: &TaskSums) -> Option<f64> {
        match (sums.host_ratio, self.units) {
            (Some(ratio), Some(units)) if !sums.host_missing => {
                scale(ratio, self.online, Some(units))
            }
            (Some(ratio), None) if !sums.host_missing => Some(ratio),
            // No system_cpu_usage: cores in use over the task limit; nothing without one.
            _ => Some(sums.vcpu? * CPU_UNITS_PER_VCPU / self.units?),
        }
    }

    fn metrics(&self, pairs: Option<&[TaskSums]>, tagger: &Tagger, out: &mut Vec<Metric>) {
        if let Some(ratio) = self.ratio(&self.sums) {
            out.extend(ratio_metric(&CPU_USAGE_RATIO, ratio, tagger.task()));
        }
        if let Some(vcpu) = self.sums.vcpu {
            out.extend(Metric::derived(&CPU_USAGE_VCPU, vcpu, tagger.task()));
        }
        if let Some(pairs) = pairs {
            let ratios = pairs.iter().filter_map(|p| self.ratio(p)).collect();
            let vcpus = pairs.iter().filter_map(|p| p.vcpu).collect();
            push_spread(&CPU_USAGE_RATIO_SPREAD, ratios, tagger.task(), out);
            push_spread(&CPU_USAGE_VCPU_SPREAD, vcpus, tagger.task(), out);
        }
    }
}

/// Figures between two consecutive samples of one container.
fn pair_figures(a: Option<&ContainerStats>, b: &ContainerStats, unit_ns: u64) -> Figures {
    match (cpu_baseline(a, b), b.cpu_stats.as_ref()) {
        (Some((prev, seconds)), Some(cur)) => figures(prev, cur, seconds, unit_ns),
        _ => Figures::default(),
    }
}

type UsageField = fn(&CpuUsage) -> Option<u64>;

/// Nanoseconds spent in each mode during the interval.
const MODE_TIME: [(&Definition, UsageField); 2] = [
    (&CPU_KERNELMODE, |u| u.usage_in_kernelmode),
    (&CPU_USERMODE, |u| u.usage_in_usermode),
];

type ThrottleField = fn(&ThrottlingData) -> Option<u64>;

/// Cumulative CFS throttling counters of the last sample, as read (the ancestor's meaning).
const THROTTLE: [(&Definition, ThrottleField); 3] = [
    (&CPU_THROTTLE_PERIODS, |t| t.periods),
    (&CPU_THROTTLE_THROTTLED_PERIODS, |t| t.throttled_periods),
    (&CPU_THROTTLE_THROTTLED_TIME, |t| t.throttled_time),
];

fn throttle_metrics(m: &Measured, cur: &CpuStats, out: &mut Vec<Metric>) {
    let Some(throttling) = cur.throttling_data.as_ref() else {
        return;
    };
    for (definition, field) in THROTTLE {
        if let Some(value) = field(throttling) {
            out.push(Metric::int(definition, value, m.tags()));
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
        Some(units) => Some(ratio * online_cpus? as f64 * CPU_UNITS_PER_VCPU / units),
    }
}

/// Ratios are rounded to 4 decimals, as the ancestor sends them. `None` when the value is
/// not finite: a `Limits.CPU` of 1e-320 units makes the ratio `inf`.
fn ratio_metric(definition: &'static Definition, value: f64, tags: TagSet) -> Option<Metric> {
    Metric::rounded(definition, value, 10_000.0, tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task `Limits.CPU` of 1e-320 vCPU (subnormal, above 0) scales every ratio to `inf`:
    /// no ratio series leaves compute, and the series that need no limit still do.
    #[test]
    fn a_ratio_past_f64_is_not_sent() {
        use crate::ecs::StatsSample;
        use crate::metrics::{Input, TagOptions, Value, compute};
        let task = Task::parse(
            br#"{"Limits": {"CPU": 1e-320}, "Containers": [{"DockerId": "a", "Name": "web"}]}"#,
        )
        .unwrap();
        let sample = |read: &str, total: u64, system: u64| {
            let body = serde_json::json!({"a": {"read": read, "cpu_stats": {
                "cpu_usage": {"total_usage": total, "percpu_usage": [total]},
                "system_cpu_usage": system, "online_cpus": 1}}});
            StatsSample::parse(body.to_string().as_bytes()).unwrap()
        };
        let samples = [
            sample("2026-01-01T00:00:00Z", 1_000_000, 1_000_000_000),
            sample("2026-01-01T00:00:01Z", 501_000_000, 2_000_000_000),
        ];
        let tagger = Tagger::new(&task, TagOptions::default(), &[]);
        let out = compute(&Input {
            task: &task,
            samples: &samples,
            included: &|_| true,
            tagger: &tagger,
            agent_divides_network: false,
        });
        let names: Vec<&str> = out.iter().map(Metric::name).collect();
        assert!(
            !names.contains(&"cpu_usage_ratio") && !names.contains(&"percpu_usage_ratio"),
            "{names:?}"
        );
        // 0.5 s of CPU in 1 s, for the container and the task.
        let vcpu: Vec<Value> = out
            .iter()
            .filter(|m| m.name() == "cpu_usage_vcpu")
            .map(|m| m.value)
            .collect();
        assert_eq!(vcpu, [Value::float(0.5).unwrap(); 2]);
    }

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
