//! Fuzz target: bytes → task + stats samples → parse → the run's pipeline → every output format.
//!
//! The input is split at NUL bytes: the first part is the `/task` body, each further part a
//! `/task/stats` body (at most four). Parse errors are fine (they are exit-2 errors in a
//! run); a panic, a negative value, a malformed DogStatsD line, a Prometheus exposition the
//! strict reader refuses, or an EMF document the specification checker refuses is a finding.
#![no_main]

use ecs_statsd::ecs::task::Container;
use ecs_statsd::ecs::{StatsSample, Task};
use ecs_statsd::metrics::series::{self, Options, RunReport};
use ecs_statsd::metrics::{TagOptions, Value};
use ecs_statsd::output::{emf, prometheus, statsd_lines};
use libfuzzer_sys::fuzz_target;

// The checkers the integration tests use, one copy each.
#[path = "../../tests/integration/common/emf_spec.rs"]
mod emf_spec;
#[path = "../../tests/integration/common/prometheus_spec.rs"]
mod prometheus_spec;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0);
    let task = Task::parse(parts.next().unwrap_or_default()).unwrap_or_default();
    let parsed = parts.take(4).filter_map(|p| StatsSample::parse(p).ok()).collect();
    let samples = StatsSample::recorded(parsed);
    let included = |c: &Container| c.name.as_deref() != Some("excluded");
    let options = Options {
        tags: TagOptions {
            identity: true,
            task_arn: true,
            container_id: true,
            series_key: None,
        },
        constant_tags: &[("team".into(), "fuzz".into())],
        included: &included,
        agent_divides_network: false,
    };
    let out = series::series(&task, &samples, &options, &RunReport::default());
    for m in &out {
        // Finite by type (`metrics::Finite`); never negative.
        if let Value::Float(v) = m.value {
            assert!(v.get() >= 0.0, "{} = {v:?}", m.name());
        }
    }
    for line in statsd_lines(&out, "ecs_task") {
        assert!(!line.contains('\n') && !line.contains(' '), "{line:?}");
        let (head, tags) = line.split_once("|#").unwrap_or((&line, ""));
        assert!(head.ends_with("|g"), "{line:?}");
        let value = head.split(':').nth(1).and_then(|v| v.strip_suffix("|g")).unwrap();
        assert!(value.parse::<f64>().unwrap().is_finite(), "{line:?}");
        assert!(!tags.contains('|') && !tags.contains('#'), "{line:?}");
    }
    let text = prometheus::render(&out, "ecs_task");
    if let Err(e) = prometheus_spec::parse(&text) {
        panic!("{e}:\n{text}");
    }
    for doc in emf::render(&out, "ECS/Fuzz", 0).lines() {
        let doc: serde_json::Value = serde_json::from_str(doc).unwrap();
        if let Err(e) = emf_spec::validate_emf_document(&doc) {
            panic!("{e}: {doc}");
        }
    }
});
