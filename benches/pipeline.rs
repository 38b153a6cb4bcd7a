//! Parse + compute + format for one run, on the ancestor's two-sample example scaled to 1, 10
//! and 100 containers (each copy a new Docker ID and name with the same payload).
//!
//! `cargo bench --bench pipeline`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

use ecs_statsd::ecs::task::Container;
use ecs_statsd::ecs::{StatsSample, Task};
use ecs_statsd::metrics::series::{self, Options, RunReport};
use ecs_statsd::metrics::{Metric, TagOptions};
use ecs_statsd::output::{emf, prometheus, statsd_send_to};

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/testdata/parity/ancestor-example"
);

/// The example's task and two stats bodies with `n` containers (copies of `web`).
pub fn scaled(n: usize) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let read = |f: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(format!("{EXAMPLE}/{f}")).unwrap()).unwrap()
    };
    let task = read("task.json");
    let (s1, s2) = (read("stats1.json"), read("stats2.json"));
    let web = task["Containers"][0].clone();
    let web_id = web["DockerId"].as_str().unwrap().to_string();
    let mut containers = Vec::new();
    let (mut stats1, mut stats2) = (json!({}), json!({}));
    for i in 0..n {
        let id = format!("{web_id}-{i}");
        let mut c = web.clone();
        c["DockerId"] = json!(id);
        c["Name"] = json!(format!("web-{i}"));
        containers.push(c);
        stats1[&id] = s1[&web_id].clone();
        stats2[&id] = s2[&web_id].clone();
    }
    let mut task = task;
    task["Containers"] = json!(containers);
    (
        serde_json::to_vec(&task).unwrap(),
        serde_json::to_vec(&stats1).unwrap(),
        serde_json::to_vec(&stats2).unwrap(),
    )
}

/// The series of a parsed task and samples, as a run makes them (every container included,
/// default tags, a replay's report: no wall-clock series).
fn series(task: &Task, samples: &[StatsSample]) -> Vec<Metric> {
    let included = |_: &Container| true;
    let options = Options {
        tags: TagOptions::default(),
        constant_tags: &[],
        included: &included,
        agent_divides_network: false,
    };
    series::series(task, samples, &options, &RunReport::default())
}

fn parse(task: &[u8], s1: &[u8], s2: &[u8]) -> (Task, [StatsSample; 2]) {
    (
        Task::parse(task).unwrap(),
        [
            StatsSample::parse(s1).unwrap(),
            StatsSample::parse(s2).unwrap(),
        ],
    )
}

fn run_once(task: &[u8], s1: &[u8], s2: &[u8]) -> usize {
    let (task, samples) = parse(task, s1, s2);
    let out = series(&task, &samples);
    // Formatted by cadence into a sink that drops the lines: the formatting without the
    // socket.
    statsd_send_to(&out, "ecs_task", cadence::NopMetricSink).sent
}

fn pipeline(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_compute_format");
    for n in [1, 10, 100] {
        let (task, s1, s2) = scaled(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("statsd", n), &n, |b, _| {
            b.iter(|| run_once(black_box(&task), black_box(&s1), black_box(&s2)))
        });
    }
    group.finish();

    // The stages, for 10 containers.
    let (task_body, s1, s2) = scaled(10);
    let mut stages = c.benchmark_group("stages_10_containers");
    stages.bench_function("parse", |b| {
        b.iter(|| {
            (
                Task::parse(black_box(&task_body)).unwrap(),
                StatsSample::parse(black_box(&s1)).unwrap(),
            )
        })
    });
    let (task, samples) = parse(&task_body, &s1, &s2);
    stages.bench_function("compute", |b| {
        b.iter(|| series(black_box(&task), black_box(&samples)))
    });
    let out = series(&task, &samples);
    stages.bench_function("format_statsd", |b| {
        b.iter(|| statsd_send_to(black_box(&out), "ecs_task", cadence::NopMetricSink))
    });
    stages.bench_function("format_prometheus", |b| {
        b.iter(|| prometheus::render(black_box(&out), "ecs_task"))
    });
    stages.bench_function("format_emf", |b| {
        b.iter(|| emf::render(black_box(&out), "ECS/ContainerMetrics", 0))
    });
    stages.finish();

    // The floor: serde_json reading the same bytes into nothing (validation only).
    let mut floor = c.benchmark_group("floor_10_containers");
    floor.bench_function("serde_json_ignored_any_task_and_two_samples", |b| {
        b.iter(|| {
            for body in [&task_body, &s1, &s2] {
                black_box(
                    serde_json::from_slice::<serde::de::IgnoredAny>(black_box(body)).unwrap(),
                );
            }
        })
    });
    floor.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = pipeline
}
criterion_main!(benches);
