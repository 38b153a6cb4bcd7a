//! CloudWatch Embedded Metric Format for one run's metrics: JSON documents, one per line, that
//! CloudWatch Logs turns into metrics (e.g. written to stdout under the awslogs driver).
//! Formatting only: where the lines go is the caller's business.

use std::collections::HashMap;

use serde_json::{Map, Value as Json, json};

use crate::metrics::{Metric, TASK_CONTAINER_NAME, TagKey, Value};

/// The spec's limit on MetricDefinitions per directive.
const MAX_METRICS: usize = 100;

/// Dimension keys, in this order, when the group has them. The identity keys first (the
/// first three: a colliding container's `container_id` goes after them); then the keys that
/// tell a group's series apart within one container, so per-interface and per-CPU series do
/// not collapse into one CloudWatch metric.
pub const DIMENSION_KEYS: [&str; 5] = [
    "ecs_cluster_name",
    "task_family",
    "container_name",
    "interface",
    "cpu",
];

/// The CloudWatch limit on a dimension value's length, in characters.
const MAX_DIMENSION_VALUE: usize = 1024;

/// One `\n`-terminated JSON document per group of metrics that share a tag set (at most 100
/// metrics each), groups in first-appearance order. Every tag becomes a string member, every
/// metric a number member, and the directive names the group's identity keys as the one
/// dimension set (see [`DIMENSION_KEYS`]).
///
/// A metric without a `container_name` tag (`exporter_status`) is task-level: it joins the
/// task group (`container_name` `_task_`) that carries all of its tags, the one with the
/// fewest tags if several do, or else a new group of its tags plus `container_name: _task_`.
///
/// `namespace` is used as given; checking it (1 to 255 characters) is the caller's job.
pub fn render(metrics: &[Metric], namespace: &str, timestamp_ms: u64) -> String {
    let mut out = String::new();
    for group in groups(metrics) {
        group.write(namespace, timestamp_ms, &mut out);
    }
    out
}

/// The metrics grouped by tag set, groups in first-appearance order (see [`render`]).
fn groups(metrics: &[Metric]) -> Vec<Group<'_>> {
    let mut groups: Vec<Group> = Vec::new();
    let mut by_key: HashMap<Vec<(TagKey, String)>, usize> = HashMap::new();
    let mut repeated = 0usize;
    // Task-level metrics are placed after the others, so which task group they join does not
    // depend on whether they come before or after the task totals.
    let (with_container, task_level): (Vec<_>, Vec<_>) = metrics
        .iter()
        .enumerate()
        .partition(|(_, m)| m.tags.get("container_name").is_some());
    for (index, metric) in with_container {
        let tags = unique_keys(metric);
        let key = sorted(&tags);
        let i = *by_key.entry(key.clone()).or_insert_with(|| {
            groups.push(Group::new(tags, key, metric.tags.apart_by_id()));
            groups.len() - 1
        });
        repeated += usize::from(!groups[i].add(index, metric));
    }
    for (index, metric) in task_level {
        let tags = unique_keys(metric);
        let wanted = sorted(&tags);
        let home = groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.is_task)
            .filter(|(_, g)| wanted.iter().all(|t| g.key.contains(t)))
            .min_by_key(|(i, g)| (g.key.len(), *i))
            .map(|(i, _)| i);
        let i = home.unwrap_or_else(|| {
            let mut tags = tags;
            tags.insert(
                0,
                ("container_name".into(), TASK_CONTAINER_NAME.to_string()),
            );
            let key = sorted(&tags);
            groups.push(Group::new(tags, key, false));
            groups.len() - 1
        });
        repeated += usize::from(!groups[i].add(index, metric));
    }
    // The tagger makes every series' tags unique (`metrics::tags`): this is a last guard.
    if repeated > 0 {
        log::warn!("{repeated} EMF metric(s) left out: their name and tags repeat an earlier one");
    }
    groups.sort_by_key(|g| g.first);
    groups
}

struct Group<'a> {
    /// Input index of its first metric: documents keep first-appearance order.
    first: usize,
    /// The tags of its first metric (keys unique), in their order.
    tags: Vec<(TagKey, String)>,
    /// The tag set, sorted: metrics whose tags are the same set share the group.
    key: Vec<(TagKey, String)>,
    /// A task group (`container_name` `_task_`), where task-level metrics may go.
    is_task: bool,
    /// Its container collides with another (or with the task totals) on the dimension values:
    /// `container_id` is a dimension too, or CloudWatch would merge the two.
    apart_by_id: bool,
    /// (input index, metric) of its metrics.
    metrics: Vec<(usize, &'a Metric)>,
}

impl<'a> Group<'a> {
    fn new(
        tags: Vec<(TagKey, String)>,
        key: Vec<(TagKey, String)>,
        apart_by_id: bool,
    ) -> Group<'a> {
        let is_task = tags
            .iter()
            .any(|(k, v)| *k == "container_name" && v == TASK_CONTAINER_NAME);
        Group {
            first: usize::MAX,
            tags,
            key,
            is_task,
            apart_by_id,
            metrics: Vec::new(),
        }
    }

    /// Adds a metric under a name the group does not hold yet: a second value under one name
    /// would be a duplicate JSON member, so the first one wins.
    fn add(&mut self, index: usize, metric: &'a Metric) -> bool {
        let name = metric.name();
        let new = name != "_aws" && self.metrics.iter().all(|(_, m)| m.name() != name);
        if new {
            self.metrics.push((index, metric));
            // Task-level metrics are added last but may come first.
            self.first = self.first.min(index);
        }
        new
    }

    /// The group's documents, at most [`MAX_METRICS`] metrics each.
    fn write(mut self, namespace: &str, timestamp_ms: u64, out: &mut String) {
        self.metrics.sort_by_key(|m| m.0);
        // A tag property is skipped when a metric of the group has its name (a JSON object
        // has one member per name, and the number must win). Decided per group, not per
        // document, so every document of a split group has the same dimensions.
        let properties: Vec<&(TagKey, String)> = self
            .tags
            .iter()
            .filter(|(k, _)| *k != "_aws" && self.metrics.iter().all(|(_, m)| m.name() != *k))
            .collect();
        let by_id = self.apart_by_id.then_some("container_id");
        let dimensions: Vec<&str> = DIMENSION_KEYS[..3]
            .iter()
            .copied()
            .chain(by_id)
            .chain(DIMENSION_KEYS[3..].iter().copied())
            .filter(|d| {
                properties.iter().any(|(k, v)| {
                    // CloudWatch refuses an empty or over-long dimension value; such a tag
                    // stays a plain property instead of failing the whole document.
                    k == d && !v.is_empty() && v.chars().count() <= MAX_DIMENSION_VALUE
                })
            })
            .collect();
        for chunk in self.metrics.chunks(MAX_METRICS) {
            let mut root = Map::new();
            for (key, value) in &properties {
                root.insert(key.to_string(), Json::String(value.clone()));
            }
            let mut definitions = Vec::with_capacity(chunk.len());
            for (_, metric) in chunk {
                let definition = metric.definition;
                root.insert(definition.name.to_string(), number(metric.value));
                let unit = definition.unit.cloudwatch();
                definitions.push(json!({ "Name": definition.name, "Unit": unit }));
            }
            root.insert(
                "_aws".to_string(),
                json!({
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": namespace,
                        "Dimensions": [dimensions],
                        "Metrics": definitions,
                    }],
                }),
            );
            out.push_str(&Json::Object(root).to_string());
            out.push('\n');
        }
    }
}

/// JSON numbers: a u64 exactly (serde_json writes its digits, even above 2^53); a float in
/// its shortest round-trip form (always finite, so always a JSON number).
fn number(value: Value) -> Json {
    match value {
        Value::Int(v) => Json::from(v),
        Value::Float(v) => Json::from(v.get()),
    }
}

/// The first tag of each key: a JSON object holds one member per name.
fn unique_keys(metric: &Metric) -> Vec<(TagKey, String)> {
    let mut out: Vec<(TagKey, String)> = Vec::new();
    for (key, value) in metric.tags.iter() {
        if out.iter().all(|(k, _)| k != key) {
            out.push((key.clone(), value.clone()));
        }
    }
    out
}

fn sorted(tags: &[(TagKey, String)]) -> Vec<(TagKey, String)> {
    let mut v = tags.to_vec();
    v.sort_unstable();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::metrics::catalog::{CATALOG, Definition, Kind, Unit};

    /// The catalog's definition of `name`, or (for names the tests need that no series has:
    /// a tag's name, `_aws`) a made-up gauge.
    fn definition(name: &'static str) -> &'static Definition {
        CATALOG
            .iter()
            .copied()
            .find(|d| d.name == name)
            .unwrap_or_else(|| {
                Box::leak(Box::new(Definition {
                    name,
                    kind: Kind::Gauge,
                    unit: Unit::Count,
                    help: "",
                }))
            })
    }

    fn tags(pairs: &[(&'static str, &str)]) -> Vec<(TagKey, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), v.to_string()))
            .collect()
    }

    fn metric(name: &'static str, value: Value, pairs: &[(&'static str, &str)]) -> Metric {
        Metric::new(definition(name), value, tags(pairs))
    }

    fn float(v: f64) -> Value {
        Value::float(v).unwrap()
    }

    /// Every line parsed; each must be one JSON object and pass the spec check.
    fn documents(text: &str) -> Vec<Json> {
        assert!(text.is_empty() || text.ends_with('\n'), "{text:?}");
        text.lines()
            .map(|line| {
                let doc: Json = serde_json::from_str(line).expect(line);
                validate_emf_document(&doc).unwrap_or_else(|e| panic!("{e}: {line}"));
                doc
            })
            .collect()
    }

    fn dimensions(doc: &Json) -> Vec<Vec<&str>> {
        doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|set| {
                set.as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_str().unwrap())
                    .collect()
            })
            .collect()
    }

    fn metric_names(doc: &Json) -> Vec<&str> {
        doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect()
    }

    /// A realistic run: identity tags everywhere, two containers, per-interface and per-CPU
    /// series, task totals, and `exporter_status` with no tags at all.
    fn run() -> Vec<Metric> {
        let id = [("ecs_cluster_name", "prod"), ("task_family", "web")];
        let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
            id.iter().chain(extra).copied().collect()
        };
        let mut out = Vec::new();
        for c in ["app", "envoy"] {
            out.push(metric(
                "cpu_usage_ratio",
                float(0.25),
                &with(&[("container_name", c)]),
            ));
            out.push(metric(
                "mem_usage",
                Value::Int(1 << 60),
                &with(&[("container_name", c)]),
            ));
            for cpu in ["0", "1"] {
                let tags = with(&[("container_name", c), ("cpu", cpu)]);
                out.push(metric("percpu_usage_ratio", float(0.5), &tags));
            }
            let tags = with(&[("container_name", c), ("interface", "eth0")]);
            out.push(metric("network_rx_bytes_total", Value::Int(7), &tags));
        }
        let task = with(&[("container_name", "_task_")]);
        out.push(metric("cpu_limit", float(2048.0), &task));
        out.push(metric("mem_limit", Value::Int(4096), &task));
        out.push(metric("exporter_status", Value::Int(1), &[]));
        out
    }

    #[test]
    fn exact_document() {
        let metrics = [
            metric(
                "mem_usage",
                Value::Int(u64::MAX),
                &[("container_name", "web"), ("image_tag", "1.2")],
            ),
            metric(
                "cpu_usage_ratio",
                float(0.25),
                &[("image_tag", "1.2"), ("container_name", "web")],
            ),
            metric("exporter_status", Value::Int(1), &[]),
        ];
        let text = render(&metrics, "ECS/Sidecar", 1_700_000_000_123);
        let docs = documents(&text);
        assert_eq!(docs.len(), 2);
        assert_eq!(
            docs[0],
            json!({
                "_aws": {
                    "Timestamp": 1_700_000_000_123_u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "ECS/Sidecar",
                        "Dimensions": [["container_name"]],
                        "Metrics": [
                            {"Name": "mem_usage", "Unit": "Bytes"},
                            {"Name": "cpu_usage_ratio", "Unit": "None"},
                        ],
                    }],
                },
                "container_name": "web",
                "image_tag": "1.2",
                "mem_usage": u64::MAX,
                "cpu_usage_ratio": 0.25,
            })
        );
        assert_eq!(
            docs[1],
            json!({
                "_aws": {
                    "Timestamp": 1_700_000_000_123_u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "ECS/Sidecar",
                        "Dimensions": [["container_name"]],
                        "Metrics": [{"Name": "exporter_status", "Unit": "None"}],
                    }],
                },
                "container_name": "_task_",
                "exporter_status": 1,
            })
        );
        // Exact: u64::MAX is written digit for digit, not as a float.
        assert!(text.contains("\"mem_usage\":18446744073709551615"));
    }

    #[test]
    fn groups_by_tag_set_with_identity_and_series_dimensions() {
        let docs = documents(&render(&run(), "ECS", 1));
        let summary: Vec<(Vec<Vec<&str>>, Vec<&str>)> = docs
            .iter()
            .map(|d| (dimensions(d), metric_names(d)))
            .collect();
        let base = ["ecs_cluster_name", "task_family", "container_name"];
        let with =
            |extra: &'static str| vec![base.iter().copied().chain([extra]).collect::<Vec<_>>()];
        assert_eq!(
            summary,
            [
                (vec![base.to_vec()], vec!["cpu_usage_ratio", "mem_usage"]),
                (with("cpu"), vec!["percpu_usage_ratio"]),
                (with("cpu"), vec!["percpu_usage_ratio"]),
                (with("interface"), vec!["network_rx_bytes_total"]),
                (vec![base.to_vec()], vec!["cpu_usage_ratio", "mem_usage"]),
                (with("cpu"), vec!["percpu_usage_ratio"]),
                (with("cpu"), vec!["percpu_usage_ratio"]),
                (with("interface"), vec!["network_rx_bytes_total"]),
                // exporter_status joined the task totals, identity dimensions and all.
                (
                    vec![base.to_vec()],
                    vec!["cpu_limit", "mem_limit", "exporter_status"]
                ),
            ]
        );
        assert_eq!(docs[1]["cpu"], "0");
        assert_eq!(docs[2]["cpu"], "1");
        assert_eq!(docs[7]["container_name"], "envoy");
        assert_eq!(docs[7]["interface"], "eth0");
        assert_eq!(docs[8]["container_name"], "_task_");
        assert_eq!(docs[8]["cpu_limit"], 2048.0);
        assert_eq!(docs[8]["mem_limit"], 4096);
    }

    #[test]
    fn task_level_metrics_find_their_task_group_wherever_they_are() {
        let task = [("container_name", "_task_"), ("task_family", "web")];
        // Before the task totals, with part of their tags.
        let metrics = [
            metric("exporter_status", Value::Int(0), &[("task_family", "web")]),
            metric("mem_usage", Value::Int(5), &[("container_name", "app")]),
            metric("mem_limit", Value::Int(512), &task),
        ];
        let docs = documents(&render(&metrics, "ECS", 1));
        assert_eq!(docs.len(), 2);
        // One task document, holding both in input order, first as its first metric was.
        assert_eq!(metric_names(&docs[0]), ["exporter_status", "mem_limit"]);
        assert_eq!(docs[0]["task_family"], "web");
        assert_eq!(metric_names(&docs[1]), ["mem_usage"]);

        // A tag no task group has: a group of its own rather than losing the tag.
        let metrics = [
            metric("mem_limit", Value::Int(512), &task),
            metric(
                "exporter_status",
                Value::Int(1),
                &[("task_family", "other")],
            ),
        ];
        let docs = documents(&render(&metrics, "ECS", 1));
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["container_name"], "_task_");
        assert_eq!(docs[1]["task_family"], "other");

        // No task totals at all (a failed run): exporter_status alone, as `_task_`.
        let only = [metric("exporter_status", Value::Int(0), &[])];
        let docs = documents(&render(&only, "ECS", 1));
        assert_eq!(docs.len(), 1);
        assert_eq!(dimensions(&docs[0]), [["container_name"]]);
        assert_eq!(docs[0]["container_name"], "_task_");
        assert_eq!(docs[0]["exporter_status"], 0);
    }

    #[test]
    fn large_groups_split_at_100_with_the_same_dimensions() {
        let tags = [("container_name", "app"), ("task_family", "web")];
        let metrics: Vec<Metric> = (0..250)
            .map(|i| {
                let name: &'static str = Box::leak(format!("m{i:03}").into_boxed_str());
                metric(name, Value::Int(i), &tags)
            })
            .collect();
        let docs = documents(&render(&metrics, "ECS", 1));
        let sizes: Vec<usize> = docs.iter().map(|d| metric_names(d).len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
        for doc in &docs {
            assert_eq!(dimensions(doc), [["task_family", "container_name"]]);
            assert_eq!(doc["container_name"], "app");
        }
        let names: Vec<&str> = docs.iter().flat_map(metric_names).collect();
        let want: Vec<String> = (0..250).map(|i| format!("m{i:03}")).collect();
        assert_eq!(names, want);
        assert_eq!(docs[2]["m249"], 249);
    }

    #[test]
    fn no_metrics_no_documents() {
        assert_eq!(render(&[], "ECS", 1), "");
    }

    #[test]
    fn names_never_collide() {
        let metrics = [
            // A metric named like a tag: the tag property (and dimension) goes.
            metric(
                "cpu",
                Value::Int(1),
                &[("container_name", "a"), ("cpu", "3")],
            ),
            // The same series twice: the first wins.
            metric("mem_usage", Value::Int(1), &[("container_name", "b")]),
            metric("mem_usage", Value::Int(2), &[("container_name", "b")]),
            // A key twice in one tag list: the first wins.
            metric(
                "mem_cache",
                Value::Int(1),
                &[("container_name", "c"), ("container_name", "d")],
            ),
            // Nothing may replace the metadata.
            metric(
                "mem_limit",
                Value::Int(1),
                &[("container_name", "e"), ("_aws", "x")],
            ),
            metric("_aws", Value::Int(1), &[("container_name", "e")]),
        ];
        let docs = documents(&render(&metrics, "ECS", 1));
        assert_eq!(docs.len(), 4);
        assert_eq!(docs[0]["cpu"], 1);
        assert_eq!(dimensions(&docs[0]), [["container_name"]]);
        assert_eq!(docs[1]["mem_usage"], 1);
        assert_eq!(docs[2]["container_name"], "c");
        assert!(docs[3]["_aws"].is_object());
        assert_eq!(metric_names(&docs[3]), ["mem_limit"]);
    }

    #[test]
    fn unusable_dimension_values_stay_plain_properties() {
        let long = "x".repeat(1025);
        let metrics = [
            metric(
                "mem_usage",
                Value::Int(1),
                &[("container_name", "a"), ("task_family", "")],
            ),
            metric(
                "mem_usage",
                Value::Int(1),
                &[("container_name", "a"), ("task_family", &long)],
            ),
        ];
        let docs = documents(&render(&metrics, "ECS", 1));
        assert_eq!(docs.len(), 2);
        for doc in &docs {
            assert_eq!(dimensions(doc), [["container_name"]]);
        }
        assert_eq!(docs[1]["task_family"], long.as_str());
    }

    #[test]
    fn hostile_tag_values_survive_as_json_strings() {
        let value = "a\"b\\c\nd|,#ü日本\u{0}";
        let metrics = [metric(
            "mem_usage",
            Value::Int(1),
            &[("container_name", value)],
        )];
        let text = render(&metrics, "ECS", 1);
        assert_eq!(text.lines().count(), 1);
        assert_eq!(documents(&text)[0]["container_name"], value);
    }

    #[test]
    fn every_catalog_metric_has_a_valid_unit() {
        let metrics: Vec<Metric> = CATALOG
            .iter()
            .map(|d| Metric::new(d, Value::Int(1), tags(&[("container_name", "a")])))
            .collect();
        let docs = documents(&render(&metrics, "ECS", 1));
        let units: Vec<&str> = docs
            .iter()
            .flat_map(|d| {
                d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                    .as_array()
                    .unwrap()
            })
            .map(|m| m["Unit"].as_str().unwrap())
            .collect();
        assert_eq!(units.len(), CATALOG.len());
        assert!(units.contains(&"Bytes") && units.contains(&"Megabytes"));
    }

    #[test]
    fn the_validator_rejects_what_the_spec_forbids() {
        let good = json!({
            "_aws": {
                "Timestamp": 1,
                "CloudWatchMetrics": [{
                    "Namespace": "N",
                    "Dimensions": [["d"]],
                    "Metrics": [{"Name": "m", "Unit": "Count", "StorageResolution": 60}],
                }],
            },
            "d": "v",
            "m": 1,
        });
        assert_eq!(validate_emf_document(&good), Ok(()));
        let mut arrays = good.clone();
        arrays["m"] = json!([1, 2.5]);
        assert_eq!(validate_emf_document(&arrays), Ok(()));

        let broken = |edit: &dyn Fn(&mut Json)| {
            let mut doc = good.clone();
            edit(&mut doc);
            doc
        };
        fn directive(doc: &mut Json) -> &mut Json {
            &mut doc["_aws"]["CloudWatchMetrics"][0]
        }
        let cases: Vec<(&str, Json)> = vec![
            ("not an object", json!([1])),
            (
                "no _aws",
                broken(&|d| drop(d.as_object_mut().unwrap().remove("_aws"))),
            ),
            ("_aws not an object", broken(&|d| d["_aws"] = json!("x"))),
            ("extra _aws member", broken(&|d| d["_aws"]["X"] = json!(1))),
            (
                "no Timestamp",
                broken(&|d| drop(d["_aws"].as_object_mut().unwrap().remove("Timestamp"))),
            ),
            (
                "float Timestamp",
                broken(&|d| d["_aws"]["Timestamp"] = json!(1.5)),
            ),
            (
                "negative Timestamp",
                broken(&|d| d["_aws"]["Timestamp"] = json!(-1)),
            ),
            (
                "string Timestamp",
                broken(&|d| d["_aws"]["Timestamp"] = json!("1")),
            ),
            (
                "no CloudWatchMetrics",
                broken(&|d| {
                    drop(
                        d["_aws"]
                            .as_object_mut()
                            .unwrap()
                            .remove("CloudWatchMetrics"),
                    )
                }),
            ),
            (
                "directive not an object",
                broken(&|d| d["_aws"]["CloudWatchMetrics"] = json!([1])),
            ),
            (
                "extra directive member",
                broken(&|d| directive(d)["X"] = json!(1)),
            ),
            (
                "empty Namespace",
                broken(&|d| directive(d)["Namespace"] = json!("")),
            ),
            (
                "long Namespace",
                broken(&|d| directive(d)["Namespace"] = json!("n".repeat(256))),
            ),
            (
                "numeric Namespace",
                broken(&|d| directive(d)["Namespace"] = json!(1)),
            ),
            (
                "Dimensions not an array",
                broken(&|d| directive(d)["Dimensions"] = json!(["d"])),
            ),
            (
                "no DimensionSet",
                broken(&|d| directive(d)["Dimensions"] = json!([])),
            ),
            (
                "31 dimensions",
                broken(&|d| {
                    let keys: Vec<String> = (0..31).map(|i| format!("d{i}")).collect();
                    for k in &keys {
                        d[k.as_str()] = json!("v");
                    }
                    directive(d)["Dimensions"] = json!([keys]);
                }),
            ),
            (
                "dimension not a member",
                broken(&|d| directive(d)["Dimensions"] = json!([["e"]])),
            ),
            ("numeric dimension", broken(&|d| d["d"] = json!(1))),
            ("empty dimension value", broken(&|d| d["d"] = json!(""))),
            (
                "long dimension value",
                broken(&|d| d["d"] = json!("v".repeat(1025))),
            ),
            (
                "101 metrics",
                broken(&|d| {
                    directive(d)["Metrics"] = json!(vec![json!({"Name": "m"}); 101]);
                }),
            ),
            (
                "definition not an object",
                broken(&|d| directive(d)["Metrics"] = json!(["m"])),
            ),
            (
                "extra definition member",
                broken(&|d| directive(d)["Metrics"][0]["X"] = json!(1)),
            ),
            (
                "no Name",
                broken(&|d| directive(d)["Metrics"] = json!([{"Unit": "Count"}])),
            ),
            (
                "metric not a member",
                broken(&|d| directive(d)["Metrics"][0]["Name"] = json!("n")),
            ),
            ("string metric", broken(&|d| d["m"] = json!("1"))),
            ("101 values", broken(&|d| d["m"] = json!(vec![1; 101]))),
            (
                "bad unit",
                broken(&|d| directive(d)["Metrics"][0]["Unit"] = json!("Ratio")),
            ),
            (
                "unit case",
                broken(&|d| directive(d)["Metrics"][0]["Unit"] = json!("bytes")),
            ),
            (
                "bad resolution",
                broken(&|d| directive(d)["Metrics"][0]["StorageResolution"] = json!(5)),
            ),
        ];
        for (what, doc) in cases {
            assert!(validate_emf_document(&doc).is_err(), "accepted: {what}");
        }
    }

    // One validator for these unit tests and the integration tests.
    use crate::output::emf::spec::validate_emf_document;
}

#[cfg(test)]
#[path = "../../tests/integration/common/emf_spec.rs"]
mod spec;
