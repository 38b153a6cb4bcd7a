//! Pure metric computation: task metadata + stats samples (two or more; one gives levels only)
//! → tagged series, each naming its [`catalog`] definition.
//!
//! No I/O and no clocks: everything arrives as data, so every formula is unit-testable on
//! real captures. One module per family (cpu, memory, io, network, pids, and metadata for the
//! limits); each maps its part of the payload to metrics through a small table and adds the
//! task totals.

pub mod catalog;
pub mod coverage;
pub mod cpu;
pub mod io;
pub mod label;
pub mod memory;
pub mod metadata;
pub mod network;
pub mod pids;
pub mod selection;
pub mod series;
pub mod tags;
pub mod user_tags;

use std::borrow::Cow;

use crate::ecs::stats::CpuStats;
use crate::ecs::task::Container;
use crate::ecs::{ContainerStats, StatsSample, Task};
pub use catalog::{Definition, Spread};
pub use selection::Selection;
pub use tags::{TagKey, TagOptions, TagSet, Tagger, Tags};

/// `container_name` tag value of task-level totals (the ancestor's convention).
pub const TASK_CONTAINER_NAME: &str = "_task_";

/// CPU units per vCPU (ECS task definition parameters: "1 vCPU is 1024 CPU units").
pub const CPU_UNITS_PER_VCPU: f64 = 1024.0;

/// Bytes per MiB: the metadata gives `Limits.Memory` and ephemeral storage in MiB.
pub const MIB: u64 = 1 << 20;

/// Values at or above this are cgroup "no value / no limit" sentinels (Fargate reports
/// 9223372036854771712, some hosts u64::MAX), never real usage.
pub const NO_VALUE_THRESHOLD: u64 = 1 << 62;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// Counters and byte counts, kept exact (they may exceed 2^53).
    Int(u64),
    Float(Finite),
}

/// A finite `f64`: NaN and ±Inf cannot be written in DogStatsD, EMF (JSON) or a useful
/// Prometheus sample, so no float becomes a [`Value`] without passing [`Finite::new`].
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Finite(f64);

impl Finite {
    /// `None` for NaN and ±Inf: the one way in.
    pub fn new(value: f64) -> Option<Finite> {
        value.is_finite().then_some(Finite(value))
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

impl Value {
    /// A float value; `None` when it is not finite.
    pub fn float(value: f64) -> Option<Value> {
        Finite::new(value).map(Value::Float)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// What the series is: name (without the prefix), kind, unit, help text.
    pub definition: &'static Definition,
    pub value: Value,
    /// Ordered `key:value` tags; values are already sanitized.
    pub tags: TagSet,
}

impl Metric {
    pub fn new(definition: &'static Definition, value: Value, tags: impl Into<TagSet>) -> Metric {
        Metric {
            definition,
            value,
            tags: tags.into(),
        }
    }

    pub fn int(definition: &'static Definition, value: u64, tags: impl Into<TagSet>) -> Metric {
        Metric::new(definition, Value::Int(value), tags)
    }

    /// The name without the prefix, e.g. `mem_usage`.
    pub fn name(&self) -> &'static str {
        self.definition.name
    }

    /// A derived (non-counter) value rounded to `1 / steps` (`1e6`: 6 decimals), to keep lines
    /// short; `None` when the rounded value is not finite (a ratio over a limit that rounds
    /// to zero) or negative.
    pub fn rounded(
        definition: &'static Definition,
        value: f64,
        steps: f64,
        tags: impl Into<TagSet>,
    ) -> Option<Metric> {
        let Some(finite) = Finite::new((value * steps).round() / steps) else {
            log::debug!(
                "{} not sent: its value {value} could not be computed",
                definition.name
            );
            return None;
        };
        (finite.get() >= 0.0).then(|| Metric::new(definition, Value::Float(finite), tags))
    }

    /// [`rounded`](Metric::rounded) to 6 decimals.
    pub fn derived(
        definition: &'static Definition,
        value: f64,
        tags: impl Into<TagSet>,
    ) -> Option<Metric> {
        Metric::rounded(definition, value, 1e6, tags)
    }

    /// `exporter_status`: 1 when both samples were read and parsed, else 0.
    pub fn exporter_status(healthy: bool, tags: TagSet) -> Metric {
        Metric::int(&catalog::EXPORTER_STATUS, u64::from(healthy), tags)
    }
}

/// Everything one computation needs. No clocks: times come from the payload.
pub struct Input<'a> {
    pub task: &'a Task,
    /// Stats samples in time order. The first and last bound the interval; with more than
    /// two, `_median`/`_max` variants are computed; with one, only levels (no deltas).
    pub samples: &'a [StatsSample],
    /// The filter's verdict: whether a container's own series are sent. Task totals count
    /// every measured container regardless.
    pub included: &'a dyn Fn(&Container) -> bool,
    /// Built from `task`.
    pub tagger: &'a Tagger<'a>,
    /// The ECS agent divides an awsvpc task's ENI counters among its containers (Linux agents
    /// before 1.100.0: `--ecs-agent-divides-network`); see [`network::TaskTotal`].
    pub agent_divides_network: bool,
}

/// A container that has stats in the last sample and is known to the task metadata.
pub struct Measured<'a> {
    pub container: &'a Container,
    pub docker_id: &'a str,
    pub tags: TagSet,
    pub included: bool,
    /// Stats in the last sample.
    pub cur: &'a ContainerStats,
    /// Stats in the first sample (for counter deltas and rates), when there are two.
    pub prev: Option<&'a ContainerStats>,
    /// Seconds from `prev.read` to `cur.read`, when both are real and in order.
    pub elapsed: Option<f64>,
    /// The CPU baseline of the interval ([`cpu_baseline`]), worked out once; `None` without
    /// one, or when the run has no earlier sample.
    pub baseline: Option<(&'a CpuStats, Option<f64>)>,
    /// The run has an earlier sample than the last (so interval figures are asked for), even
    /// where this container had no stats in it.
    pub earlier: bool,
    /// Stats in every sample, in order (`None` where the container had none).
    pub history: Vec<Option<&'a ContainerStats>>,
    /// The tags of its series of each interface, made unique by [`Tagger::own_tags`] (empty
    /// when the container is not included).
    pub own: tags::OwnTags,
}

impl Measured<'_> {
    pub fn tags(&self) -> TagSet {
        self.tags.clone()
    }

    /// The tags of its series whose own `key` tag (`interface`, `cpu`) is `raw` as read:
    /// sanitized, and marked if another value would show the same (see [`Tagger::own_tags`]).
    pub fn tags_with(&self, key: &'static str, raw: &str) -> TagSet {
        self.own.get(&self.tags, key, raw)
    }

    /// The tags of its series of CPU `cpu`. CPU numbers are digits, which every output and
    /// receiver shows as read (see [`Tagger::own_tags`]): distinct, never marked.
    pub fn cpu_tags(&self, cpu: usize) -> TagSet {
        self.tags.with("cpu", cpu.to_string())
    }
}

/// Every metric of one run except the `exporter_*` ones. Containers in the stats but not in
/// the task metadata are skipped (the caller re-reads `/task` first).
pub fn compute(input: &Input) -> Vec<Metric> {
    compute_measured(input).0
}

/// [`compute`], and how many containers were measured (`exporter_containers`).
pub fn compute_measured(input: &Input) -> (Vec<Metric>, usize) {
    let first = (input.samples.len() > 1).then(|| &input.samples[0]);
    let measured = measure(input);

    let mut out = Vec::with_capacity(48 * (measured.len() + 1));
    metadata::metrics(input.task, input.included, input.tagger, &mut out);
    cpu::metrics(&measured, input.task, input.tagger, &mut out);
    memory::metrics(&measured, input.task, input.tagger, &mut out);
    io::metrics(&measured, input.tagger, &mut out);
    let windows = measured.iter().any(|m| m.cur.is_windows());
    let task_network = network::TaskTotal::of(input.task, windows, input.agent_divides_network);
    network::metrics(&measured, task_network, input.tagger, &mut out);
    pids::metrics(&measured, input.tagger, &mut out);
    coverage::Gaps::find(&measured, first, input.task).apply(
        task_network,
        &input.tagger.task(),
        &mut out,
    );
    (out, measured.len())
}

/// Each container with stats in the last sample that the task metadata knows, with its
/// stats in every sample (each looked up once) and its tags.
fn measure<'a>(input: &Input<'a>) -> Vec<Measured<'a>> {
    let Some((last, earlier)) = input.samples.split_last() else {
        return Vec::new();
    };
    let mut collisions = Vec::new();
    let measured = (last.with_metadata(input.task))
        .filter_map(|(id, cur, container)| {
            let container = container?;
            let mut history: Vec<Option<&ContainerStats>> = Vec::with_capacity(earlier.len() + 1);
            history.extend(earlier.iter().map(|s| s.get(id)));
            let prev = history.first().copied().flatten();
            history.push(Some(cur));
            let elapsed = prev.and_then(|p| elapsed(p, cur));
            let baseline = (!earlier.is_empty())
                .then(|| baseline_over(prev.map(|p| (p, elapsed)), cur))
                .flatten();
            let tags = input.tagger.task_container(container);
            let included = (input.included)(container);
            let mut own = tags::OwnTags::default();
            // The own tags that may collide: interface names (CPU numbers cannot, see
            // `Measured::cpu_tags`).
            if let Some(networks) = cur.networks.as_ref().filter(|_| included) {
                let interfaces = networks.keys().map(String::as_str);
                (input.tagger).own_tags(&tags, "interface", interfaces, &mut own, &mut collisions);
            }
            Some(Measured {
                container,
                docker_id: id,
                tags,
                included,
                cur,
                prev,
                elapsed,
                baseline,
                earlier: !earlier.is_empty(),
                history,
                own,
            })
        })
        .collect();
    tags::warn_collisions(&collisions);
    measured
}

/// Seconds from `prev.read` to `cur.read`; `None` unless both are real and `cur` is later.
pub fn elapsed(prev: &ContainerStats, cur: &ContainerStats) -> Option<f64> {
    let seconds = cur.read_at()?.seconds_since(prev.read_at()?);
    (seconds > 0.0).then_some(seconds)
}

/// The CPU baseline for `cur`, given its stats in the earlier sample (`None` when it had
/// none there: it started, or restarted under a new Docker ID, during the interval); call it
/// only when the run has an earlier sample.
///
/// The earlier sample's `cpu_stats` and the seconds between the reads, when that is a real
/// sample read before `cur` whose `total_usage` is not above `cur`'s. Otherwise `cur`'s own
/// `precpu_stats` (docker's previous read, `preread`), when it is a real sample: both samples
/// share one `read` time (the endpoint had not refreshed), the times go backwards or are
/// unknown, the counter went backwards (a restart in place), or the container is new. Last,
/// with read times unknown, the earlier sample without seconds (a host fraction can still
/// be had). `None` when there is no real sample: no CPU figures for the interval.
pub fn cpu_baseline<'a>(
    earlier: Option<&'a ContainerStats>,
    cur: &'a ContainerStats,
) -> Option<(&'a CpuStats, Option<f64>)> {
    baseline_over(earlier.map(|prev| (prev, elapsed(prev, cur))), cur)
}

/// [`cpu_baseline`], the earlier stats given with their [`elapsed`] seconds to `cur`.
fn baseline_over<'a>(
    earlier: Option<(&'a ContainerStats, Option<f64>)>,
    cur: &'a ContainerStats,
) -> Option<(&'a CpuStats, Option<f64>)> {
    let cur_total = total_usage(cur.cpu_stats.as_ref()?);
    let below_cur = |cpu: &&CpuStats| {
        let total = total_usage(cpu);
        // Without a current total there is nothing to compare (kernel and user time may
        // still be diffed).
        total.is_some_and(|t| t > 0 && cur_total.is_none_or(|c| t <= c))
    };
    let mut unknown_times = None;
    if let Some((prev, elapsed)) = earlier {
        let usable = prev.cpu_stats.as_ref().filter(below_cur);
        if let (Some(cpu), Some(seconds)) = (usable, elapsed) {
            return Some((cpu, Some(seconds)));
        }
        log::debug!(
            "the earlier sample is no CPU baseline for the read of {:?}: using precpu_stats",
            cur.read
        );
        unknown_times = usable.filter(|_| prev.read_at().is_none() || cur.read_at().is_none());
    }
    let Some(own) = cur.precpu_stats.as_ref().filter(below_cur) else {
        return unknown_times.map(|cpu| (cpu, None));
    };
    let seconds = cur
        .read_at()
        .zip(cur.preread_at())
        .map(|(read, preread)| read.seconds_since(preread))
        .filter(|&s| s > 0.0);
    Some((own, seconds))
}

fn total_usage(cpu: &CpuStats) -> Option<u64> {
    cpu.cpu_usage.as_ref()?.total_usage
}

/// Median of the values (mean of the middle two for an even count); `None` when empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

/// Push `<name>_median` and `<name>_max` of `values` (used with three or more samples).
pub fn push_spread(spread: &Spread, mut values: Vec<f64>, tags: TagSet, out: &mut Vec<Metric>) {
    let max = values.iter().copied().reduce(f64::max);
    if let Some(median) = median(&mut values) {
        out.extend(Metric::derived(spread.median, median, tags.clone()));
    }
    if let Some(max) = max {
        out.extend(Metric::derived(spread.max, max, tags));
    }
}

/// The `container_name` tag value, cut so the whole tag fits Datadog's 200 characters.
pub fn container_name_tag(container: &Container, docker_id: &str) -> String {
    tags::tag_value(
        "container_name",
        container.name.as_deref().unwrap_or(docker_id),
    )
}

/// Datadog tag rules: letters, digits and `_ - : . /` are kept, anything else becomes `_`, at
/// most 200 characters. (The ancestor's datadog client applied `[^\w\d_\-:/\.]` → `_`.)
pub fn sanitize_tag_value(raw: &str) -> String {
    sanitized_tag_value(raw).into_owned()
}

/// [`sanitize_tag_value`], borrowed when nothing changes (short ASCII values of kept
/// characters, as most are).
pub fn sanitized_tag_value(raw: &str) -> Cow<'_, str> {
    let kept = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':' | b'.' | b'/');
    if raw.len() <= 200 && raw.bytes().all(kept) {
        return Cow::Borrowed(raw);
    }
    let sanitized = raw
        .chars()
        .take(200)
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '_' | '-' | ':' | '.' | '/') {
                c
            } else {
                '_'
            }
        })
        .collect();
    Cow::Owned(sanitized)
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
        // A clean value is not copied.
        assert!(matches!(
            sanitized_tag_value("web-1.2"),
            Cow::Borrowed("web-1.2")
        ));
        assert_eq!(sanitize_tag_value("été"), "été");
    }

    #[test]
    fn no_float_value_is_ever_non_finite() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(Finite::new(bad), None);
            assert_eq!(Value::float(bad), None);
            assert_eq!(Metric::derived(&catalog::CPU_USAGE_VCPU, bad, vec![]), None);
        }
        assert_eq!(Finite::new(0.5).map(Finite::get), Some(0.5));
        // Finite before rounding, not after: 1e303 × 1e6 overflows.
        assert_eq!(
            Metric::derived(&catalog::CPU_USAGE_VCPU, 1e303, vec![]),
            None
        );
        assert_eq!(
            Metric::rounded(&catalog::CPU_USAGE_RATIO, 0.123_456, 1e4, vec![]).map(|m| m.value),
            Value::float(0.1235)
        );
        assert_eq!(
            Metric::derived(&catalog::CPU_USAGE_VCPU, -1.0, vec![]),
            None
        );
    }

    /// Every way to a CPU baseline: the earlier sample when it is a real one read before;
    /// else docker's own previous read; else, with read times unknown, the earlier sample
    /// without seconds; else none.
    #[test]
    fn the_cpu_baseline_is_the_earlier_sample_else_precpu_stats() {
        let stats = |read: &str, total: u64, pre_total: u64| -> ContainerStats {
            serde_json::from_value(serde_json::json!({
                "read": read, "preread": "2024-05-14T10:00:59Z",
                "cpu_stats": {"cpu_usage": {"total_usage": total}},
                "precpu_stats": {"cpu_usage": {"total_usage": pre_total}}}))
            .unwrap()
        };
        let total = |b: Option<(&CpuStats, Option<f64>)>| b.map(|(c, s)| (total_usage(c), s));
        let cur = stats("2024-05-14T10:01:00Z", 900, 800);
        let first = stats("2024-05-14T10:00:00Z", 100, 50);
        assert_eq!(
            total(cpu_baseline(Some(&first), &cur)),
            Some((Some(100), Some(60.0)))
        );
        let own = Some((Some(800), Some(1.0)));
        // The same read, times backwards, a counter backwards, a new container.
        let same = stats("2024-05-14T10:01:00Z", 100, 50);
        let later = stats("2024-05-14T10:02:00Z", 100, 50);
        let restarted = stats("2024-05-14T10:00:00Z", 5_000, 50);
        for earlier in [Some(&same), Some(&later), Some(&restarted), None] {
            assert_eq!(total(cpu_baseline(earlier, &cur)), own);
        }
        // docker's zeroed first read is no sample; without read times, the earlier sample
        // still gives a host fraction.
        let zeroed = stats("2024-05-14T10:01:00Z", 900, 0);
        assert_eq!(total(cpu_baseline(None, &zeroed)), None);
        let unread = stats("", 100, 50);
        assert_eq!(
            total(cpu_baseline(Some(&unread), &zeroed)),
            Some((Some(100), None))
        );
    }

    #[test]
    fn counter_delta_refuses_resets() {
        assert_eq!(counter_delta(Some(10), Some(4)), Some(6));
        assert_eq!(counter_delta(Some(4), Some(10)), None);
        assert_eq!(counter_delta(None, Some(1)), None);
        assert_eq!(counter_delta(Some(5), Some(0)), Some(5));
    }
}
