//! Property tests: arbitrary mutations of the real captures (fields removed, nulled, retyped,
//! set to extremes) through parse → compute → format never panic, and every value sent is
//! finite and not negative, in every output format.

use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::{Value, json};

use ecs_statsd::ecs::{StatsSample, Task};
use ecs_statsd::metrics::series::{self, Options, RunReport};
use ecs_statsd::metrics::{self, TagOptions};
use ecs_statsd::output::{emf, prometheus, statsd_lines};

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
            series_key: None,
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
        let out = series::series(&task, window, &options, &RunReport::default());
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

/// Issue 17 §4: one uniqueness rule for every value that is part of a series' identity.
/// Arbitrary container names and interface names (from characters the tag and graphite rules
/// replace or keep, some past the 200-character cut), CPUs, and user tags (some on keys
/// ecs-statsd sets, some spelled alike as Prometheus labels), with and without the identity
/// tags and `--tag-container-id`, go through the whole pipeline;
/// in every format no two series share an identity and none is lost: as many DogStatsD lines
/// (tags as a set), graphite names, Prometheus samples (label sets) and EMF (dimension set and
/// values, metric name) pairs as series, each value sent once under its own identity.
mod identity {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;
    use serde_json::{Value, json};

    use ecs_statsd::ecs::{StatsSample, Task};
    use ecs_statsd::metrics::series::{self, Options, RunReport};
    use ecs_statsd::metrics::{self, Metric, TagOptions, user_tags};
    use ecs_statsd::output::{emf, graphite, prometheus, statsd_lines};

    use crate::common::{WEB, example_json, parse_line, prometheus_spec};

    /// A value that the tag rules (`_` for most), the graphite rules (`_` for `.` `:` `/`
    /// too) or the 200-character cut may make equal to another.
    fn value() -> impl Strategy<Value = String> {
        (any::<bool>(), "[aA_.:/#! é-]{1,3}").prop_map(|(long, tail)| {
            if long {
                format!("{}{tail}", "n".repeat(190))
            } else {
                tail
            }
        })
    }

    /// Keys for user tags: ecs-statsd's own ones, and spellings of one Prometheus label.
    const USER_KEYS: [&str; 10] = [
        "container_id",
        "mem_usage",
        "container.id",
        "interface",
        "cpu",
        "container-name",
        "team",
        "team.x",
        "team_x",
        "team-x",
    ];

    /// (options, name) of each output: the tagger compares what that output tells apart.
    /// `identity` off leaves names alone to tell containers apart.
    fn outputs(identity: bool, container_id: bool) -> [(TagOptions, &'static str); 4] {
        let base = TagOptions {
            identity,
            container_id,
            ..TagOptions::default()
        };
        [
            (base, "dogstatsd"),
            (
                TagOptions {
                    series_key: Some(graphite::series_key),
                    ..base
                },
                "graphite",
            ),
            (base, "prometheus"),
            (
                TagOptions {
                    series_key: Some(emf::series_key),
                    ..base
                },
                "emf",
            ),
        ]
    }

    /// A task of `containers` (name, interfaces) built on the example's web container, in both
    /// stats samples, each interface's counters distinct so a lost one shows.
    fn payloads(containers: &[(String, Vec<String>)]) -> (Task, Vec<StatsSample>) {
        let task = json!({
            "Cluster": "default",
            "TaskARN": "arn:aws:ecs:us-west-2:111122223333:task/default/abc",
            "Family": "f",
            "Revision": "1",
            "Containers": containers.iter().enumerate().map(|(i, (name, _))| json!({
                "DockerId": format!("c{i}"), "Name": name, "Image": "img:1", "Type": "NORMAL",
            })).collect::<Vec<_>>(),
        });
        let samples = ["stats1.json", "stats2.json"].map(|file| {
            let web = example_json(file)[WEB].clone();
            let mut body = serde_json::Map::new();
            for (i, (_, interfaces)) in containers.iter().enumerate() {
                let mut stats = web.clone();
                let template = stats["networks"]["eth1"].clone();
                let networks: serde_json::Map<String, Value> = interfaces
                    .iter()
                    .enumerate()
                    .map(|(n, name)| {
                        let mut counters = template.clone();
                        for v in counters.as_object_mut().unwrap().values_mut() {
                            *v = json!(v.as_u64().unwrap() * (n as u64 + 2) + i as u64);
                        }
                        (name.clone(), counters)
                    })
                    .collect();
                stats["networks"] = Value::Object(networks);
                body.insert(format!("c{i}"), stats);
            }
            StatsSample::parse(&serde_json::to_vec(&body).unwrap()).unwrap()
        });
        (
            Task::parse(&serde_json::to_vec(&task).unwrap()).unwrap(),
            samples.to_vec(),
        )
    }

    /// Each series' identity as `output` tells it apart, with the value sent under it.
    fn identities(output: &str, series: &[Metric]) -> Vec<(String, String)> {
        match output {
            "dogstatsd" => statsd_lines(series, "ecs_task")
                .iter()
                .map(|line| {
                    let line = parse_line(line).unwrap_or_else(|e| panic!("{e}: {line}"));
                    // As Datadog stores a tag: lowercase, one `_` for a run of them, no
                    // trailing `_` (docs.datadoghq.com, "naming metrics and tags").
                    let stored = |v: String| {
                        let lower = v.to_lowercase();
                        let parts: Vec<&str> = lower.split('_').collect();
                        let mut out = String::new();
                        for (i, part) in parts.iter().enumerate() {
                            if i > 0 && !out.ends_with('_') {
                                out.push('_');
                            }
                            out.push_str(part);
                        }
                        out.trim_end_matches('_').to_string()
                    };
                    let tags: BTreeSet<_> =
                        line.tags.into_iter().map(|(k, v)| (k, stored(v))).collect();
                    (format!("{} {tags:?}", line.name), line.raw_value)
                })
                .collect(),
            "graphite" => series
                .iter()
                .map(|m| (graphite::name(m), format!("{:?}", m.value)))
                .collect(),
            "prometheus" => {
                let text = prometheus::render(series, "ecs_task");
                prometheus_spec::parse(&text)
                    .unwrap_or_else(|e| panic!("{e}:\n{text}"))
                    .into_iter()
                    .map(|(name, labels, value)| {
                        let labels: BTreeSet<_> = labels.into_iter().collect();
                        (format!("{name} {labels:?}"), value)
                    })
                    .collect()
            }
            _ => emf::render(series, "ECS/Test", 0)
                .lines()
                .flat_map(|doc| {
                    let doc: Value = serde_json::from_str(doc).unwrap();
                    crate::common::emf_spec::validate_emf_document(&doc).unwrap();
                    let directive = &doc["_aws"]["CloudWatchMetrics"][0];
                    let dimensions: Vec<String> = directive["Dimensions"][0]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|k| format!("{k}={}", doc[k.as_str().unwrap()]))
                        .collect();
                    let names: Vec<String> = directive["Metrics"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|m| m["Name"].as_str().unwrap().to_string())
                        .collect();
                    names
                        .into_iter()
                        .map(|name| (format!("{name} {dimensions:?}"), doc[&name].to_string()))
                        .collect::<Vec<_>>()
                })
                .collect(),
        }
    }

    /// Every user tag that survived reaches every series, in every format that has tags
    /// (graphite names leave them out): none hidden by a built-in tag or another user tag.
    fn check_user_tags(output: &str, series: &[Metric], constant: &[(String, String)]) {
        match output {
            "dogstatsd" => {
                for line in statsd_lines(series, "ecs_task") {
                    let line = parse_line(&line).unwrap();
                    for tag in constant {
                        assert!(line.tags.contains(tag), "{tag:?} missing: {line}");
                    }
                }
            }
            "prometheus" => {
                let text = prometheus::render(series, "ecs_task");
                for (name, labels, _) in prometheus_spec::parse(&text).unwrap() {
                    for (k, v) in constant {
                        let label = (metrics::label::label_name(k), v.clone());
                        assert!(
                            labels.contains(&label),
                            "{label:?} missing: {name} {labels:?}"
                        );
                    }
                }
            }
            "emf" => {
                for doc in emf::render(series, "ECS/Test", 0).lines() {
                    let doc: Value = serde_json::from_str(doc).unwrap();
                    for (k, v) in constant {
                        assert_eq!(doc[k].as_str(), Some(v.as_str()), "{k}: {doc}");
                    }
                }
            }
            _ => {}
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 64,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x17_0004),
            ..ProptestConfig::default()
        })]

        #[test]
        fn no_two_series_share_an_identity_in_any_format(
            containers in proptest::collection::vec(
                (prop_oneof![value(), Just("_task_".to_string())],
                 proptest::collection::btree_set(value(), 1..4)),
                1..4,
            ),
            user in proptest::collection::vec(
                (proptest::sample::select(&USER_KEYS[..]), "[ab]{1,2}"),
                0..4,
            ),
            identity in any::<bool>(),
            container_id in proptest::bool::weighted(0.2),
        ) {
            let containers: Vec<(String, Vec<String>)> = containers
                .into_iter()
                .map(|(name, interfaces)| (name, interfaces.into_iter().collect()))
                .collect();
            let (task, samples) = payloads(&containers);
            let raw_user: Vec<(user_tags::TagSource, String)> =
                user.iter().map(|(k, v)| ("--tag", format!("{k}:{v}"))).collect();
            let included = |_: &ecs_statsd::ecs::task::Container| true;
            for (options, output) in outputs(identity, container_id) {
                let (constant, _) = user_tags::user_tags(&raw_user, options);
                let run = Options {
                    tags: options,
                    constant_tags: &constant,
                    included: &included,
                    agent_divides_network: false,
                };
                let series = series::series(&task, &samples, &run, &RunReport::default());
                // Every container's own series are there: one per interface and counter.
                let rx = series.iter().filter(|m| m.name() == "network_rx_bytes_total");
                let interfaces: usize = containers.iter().map(|(_, i)| i.len()).sum();
                prop_assert_eq!(rx.count(), interfaces + 1, "{}", output);
                check_user_tags(output, &series, &constant);
                let sent = identities(output, &series);
                let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
                for (identity, value) in &sent {
                    let earlier = seen.insert(identity, value);
                    prop_assert!(earlier.is_none(), "{} sends {} twice: {:?} and {}", output, identity, earlier, value);
                }
                prop_assert_eq!(sent.len(), series.len(), "{}: a series lost", output);
            }
        }
    }
}
