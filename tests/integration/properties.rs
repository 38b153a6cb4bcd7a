//! Property tests: arbitrary mutations of the real captures (fields removed, nulled, retyped,
//! set to extremes) through parse → compute → format never panic, and every value sent is
//! finite and not negative, in every output format.

use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::{Value, json};

use ecs_statsd::ecs::{StatsSample, Task};
use ecs_statsd::metrics::{self, TagOptions};
use ecs_statsd::output::{emf, prometheus, statsd_lines};
use ecs_statsd::pipeline::{self, Options, RunReport};

use crate::common::{json_file, parse_line, prometheus_spec, root};

/// (task.json, stats bodies) of every two-file capture and the ancestor's example, read once.
fn captures() -> &'static [(Value, Vec<Value>)] {
    static CAPTURES: std::sync::OnceLock<Vec<(Value, Vec<Value>)>> = std::sync::OnceLock::new();
    CAPTURES.get_or_init(load_captures)
}

fn load_captures() -> Vec<(Value, Vec<Value>)> {
    let root = root();
    let load = |p: PathBuf| json_file(&p);
    crate::common::replay_dirs()
        .into_iter()
        .map(|dir| {
            let mut stats: Vec<PathBuf> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("stats"))
                .collect();
            stats.sort();
            (load(dir.join("task.json")), stats.into_iter().map(load).collect())
        })
        .chain(std::iter::once((
            json!({"Containers": [{"DockerId": "w", "Name": "win", "Type": "NORMAL"}]}),
            vec![load(root.join("testdata/ecs/datadog-integrations-core/fargate-windows-stats-python-none-strings.json"))],
        )))
        .collect()
}

/// Every node of a JSON tree, as a path of object keys / array indices.
fn paths(value: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                prefix.push(Value::String(k.clone()));
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                prefix.push(json!(i));
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn node<'a>(root: &'a mut Value, path: &[Value]) -> Option<&'a mut Value> {
    path.iter().try_fold(root, |v, step| match step {
        Value::String(k) => v.get_mut(k.as_str()),
        Value::Number(i) => v.get_mut(i.as_u64()? as usize),
        _ => None,
    })
}

/// The replacements a mutation may put at a node (or `None` to remove it).
fn replacement(kind: u8) -> Option<Value> {
    Some(match kind % 16 {
        0 => return None,
        1 => Value::Null,
        2 => json!("None"),
        3 => json!([]),
        4 => json!({}),
        5 => json!(true),
        6 => json!(0),
        7 => json!(u64::MAX),
        8 => json!(-1),
        9 => json!(1e308),
        10 => json!(0.5),
        11 => json!(-0.0),
        12 => json!("2024-05-14T10:00:00Z"),
        13 => json!("0001-01-01T00:00:00Z"),
        14 => json!(9223372036854771712u64),
        _ => json!("ünï|co,de#:"),
    })
}

fn mutate(root: &mut Value, picks: &[(usize, u8)]) {
    for &(pick, kind) in picks {
        let mut all = Vec::new();
        paths(root, &mut Vec::new(), &mut all);
        let path = &all[pick % all.len()];
        let Some((last, parent_path)) = path.split_last() else {
            if let Some(v) = replacement(kind) {
                *root = v;
            }
            continue;
        };
        let Some(parent) = node(root, parent_path) else {
            continue;
        };
        match (replacement(kind), last, parent) {
            (None, Value::String(k), Value::Object(map)) => {
                map.remove(k);
            }
            (None, Value::Number(i), Value::Array(items)) => {
                items.remove(i.as_u64().unwrap() as usize);
            }
            (Some(v), Value::String(k), Value::Object(map)) => {
                map.insert(k.clone(), v);
            }
            (Some(v), Value::Number(i), Value::Array(items)) => {
                items[i.as_u64().unwrap() as usize] = v;
            }
            _ => {}
        }
    }
}

fn check(task_body: &[u8], stats_bodies: &[Vec<u8>]) {
    // Parsing may refuse a body (that is an exit-2 error, not a panic); whatever parses must
    // compute and format cleanly.
    let task = Task::parse(task_body).unwrap_or_default();
    let samples: Vec<StatsSample> = stats_bodies
        .iter()
        .filter_map(|b| StatsSample::parse(b).ok())
        .collect();
    let all = StatsSample::recorded(samples);
    let included = |_: &ecs_statsd::ecs::task::Container| true;
    let options = Options {
        tags: TagOptions {
            identity: true,
            task_arn: true,
            container_id: true,
            graphite_names: false,
            emf_dimensions: false,
        },
        constant_tags: &[],
        included: &included,
        agent_divides_network: false,
    };
    for window in [
        &all[..],
        &all[all.len().saturating_sub(1)..],
        &[all.clone(), all.clone()].concat()[..],
    ] {
        let out = pipeline::series(&task, window, &options, &RunReport::default());
        for m in &out {
            // Finite by type (`metrics::Finite`); never negative.
            if let metrics::Value::Float(v) = m.value {
                assert!(v.get() >= 0.0, "{} = {v:?}", m.name());
            }
        }
        for line in statsd_lines(&out, "ecs_task") {
            parse_line(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        }
        let text = prometheus::render(&out, "ecs_task");
        let samples = prometheus_spec::parse(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
        for (name, _, value) in samples {
            let value = prometheus_spec::parse_float(&value).unwrap();
            assert!(value.is_finite() && value >= 0.0, "{name} {value}");
        }
        for doc in emf::render(&out, "ECS/Test", 0).lines() {
            let doc: Value = serde_json::from_str(doc).unwrap();
            crate::common::emf_spec::validate_emf_document(&doc).unwrap();
        }
    }
}

proptest! {
    // A fixed seed: the same cases on every run (CI never flakes); the fuzz target explores.
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x05ee_dec5),
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_captures_never_panic_and_stay_finite(
        capture in 0usize..64,
        task_picks in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        stats_picks in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..10),
    ) {
        let all = captures();
        let (mut task, mut stats) = all[capture % all.len()].clone();
        mutate(&mut task, &task_picks);
        for (i, s) in stats.iter_mut().enumerate() {
            let picks: Vec<(usize, u8)> = stats_picks.iter().skip(i).step_by(2).copied().collect();
            mutate(s, &picks);
        }
        let bodies: Vec<Vec<u8>> = stats.iter().map(|s| serde_json::to_vec(s).unwrap()).collect();
        check(&serde_json::to_vec(&task).unwrap(), &bodies);
    }

    #[test]
    fn arbitrary_bytes_never_panic(task in proptest::collection::vec(any::<u8>(), 0..256), stats in proptest::collection::vec(any::<u8>(), 0..256)) {
        check(&task, &[stats]);
    }
}
