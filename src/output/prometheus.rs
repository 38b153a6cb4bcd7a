//! Prometheus text exposition format (0.0.4) for one run's metrics, for the node_exporter
//! textfile collector or a Pushgateway. Formatting only: writing the file or pushing is the
//! caller's business.

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;

use crate::metrics::catalog::Kind;
use crate::metrics::{Definition, Metric, TagKey, Value};

/// The whole exposition: one family per metric name (first-appearance order), each with one
/// `# HELP` and one `# TYPE` line (from the series' definition: its help text, `counter` or
/// `gauge`), then its samples. Every line ends with `\n`; no metrics gives an empty string.
///
/// The family name is `prefix` with `.` → `_`, then `_`, then the metric name (no separator
/// when `prefix` is empty). A second sample with the same label set as an earlier one of its
/// family is left out rather than poisoning the whole scrape.
pub fn render(metrics: &[Metric], prefix: &str) -> String {
    let prefix = prefix.replace('.', "_");
    let mut families: Vec<Family> = Vec::new();
    let mut renamed = BTreeSet::new();
    let mut repeated = 0usize;
    for metric in metrics {
        let value = format_value(metric.value);
        let name = family_name(&prefix, metric.name());
        let labels = labels(&metric.tags.to_vec(), &mut renamed);
        let index = match families.iter().position(|f| f.name == name) {
            Some(i) => i,
            None => {
                families.push(Family {
                    name,
                    definition: metric.definition,
                    series: HashSet::new(),
                    samples: Vec::new(),
                });
                families.len() - 1
            }
        };
        let family = &mut families[index];
        // Series identity is the label *set*, so compare order-insensitively.
        let mut key = labels.clone();
        key.sort_unstable();
        if family.series.insert(key) {
            family.samples.push(Sample { labels, value });
        } else {
            repeated += 1;
        }
    }
    // The tagger makes every series' tags unique (`metrics::tags`): this is a last guard.
    if repeated > 0 {
        log::warn!(
            "{repeated} Prometheus sample(s) left out: their label set repeats an earlier one"
        );
    }

    if !renamed.is_empty() {
        log::warn!(
            "Prometheus reserves label names starting with __: tag(s) {} sent as tag__...",
            renamed.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    let mut out = String::new();
    for family in &families {
        let definition = family.definition;
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "# HELP {} {}",
            family.name,
            escape_help(definition.help)
        );
        // Typing the cumulative series `counter` lets rate() work.
        let kind = match definition.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(out, "# TYPE {} {kind}", family.name);
        for sample in &family.samples {
            out.push_str(&family.name);
            if !sample.labels.is_empty() {
                out.push('{');
                for (i, (name, value)) in sample.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{name}=\"{}\"", escape_label_value(value));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", sample.value);
        }
    }
    out
}

struct Family {
    name: String,
    /// What its samples are (help text, kind).
    definition: &'static Definition,
    /// Sorted label sets already printed.
    series: HashSet<Vec<(String, String)>>,
    samples: Vec<Sample>,
}

struct Sample {
    /// Sanitized names, raw (unescaped) values, in tag order.
    labels: Vec<(String, String)>,
    value: String,
}

fn family_name(prefix: &str, name: &str) -> String {
    // Prometheus spells units out (promtool: "metric names should not contain abbreviated
    // units"): the DogStatsD `_per_sec` rates become `_per_second` here.
    let name = match name.strip_suffix("_per_sec") {
        Some(stem) => format!("{stem}_per_second"),
        None => name.to_string(),
    };
    let full = if prefix.is_empty() {
        name
    } else {
        format!("{prefix}_{name}")
    };
    // Our names and the usual prefixes are already valid; this only guards against a prefix
    // with characters like `-`, which would make the whole file unparsable. `:` is allowed in
    // metric names (not in label names).
    sanitize_name(&full, true)
}

/// Tags → labels: names made valid, a name already used by an earlier tag of the same sample
/// dropped (a label set cannot hold one name twice). A name starting with `__` (reserved for
/// Prometheus' own labels, e.g. `__name__`; promtool rejects the file) gets `tag` in front,
/// and its key is added to `renamed`.
fn labels(tags: &[(TagKey, String)], renamed: &mut BTreeSet<String>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(tags.len());
    for (key, value) in tags {
        let name = label_name(key);
        if sanitize_name(key, false).starts_with("__") {
            renamed.insert(key.to_string());
        }
        if out.iter().all(|(n, _)| *n != name) {
            out.push((name, value.clone()));
        }
    }
    out
}

/// The label name a tag key becomes: [`sanitize_name`], and `tag` in front of a name starting
/// with `__`. Two keys spelled differently may become one label (`a.b`, `a_b`): the user's
/// tags are compared under this name (`metrics::tags::user_tags`), so one never hides another.
pub fn label_name(key: &str) -> String {
    let mut name = sanitize_name(key, false);
    if name.starts_with("__") {
        name.insert_str(0, "tag");
    }
    name
}

/// `[a-zA-Z_][a-zA-Z0-9_]*` (plus `:` for metric names): anything else becomes `_`, a leading
/// digit gets a `_` in front, and an empty name becomes `_`.
fn sanitize_name(raw: &str, allow_colon: bool) -> String {
    let mut out = String::with_capacity(raw.len() + 1);
    if raw.is_empty() || raw.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(raw.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' || (allow_colon && c == ':') {
            c
        } else {
            '_'
        }
    }));
    out
}

/// A value is always finite (NaN and ±Inf are valid in the format, but the metrics never
/// produce them: see [`Finite`](crate::metrics::Finite)).
fn format_value(value: Value) -> String {
    match value {
        // Exact, even above 2^53; Prometheus parses it as a float, which is its problem.
        Value::Int(v) => v.to_string(),
        // `{}` is Rust's shortest round-trip form (`0.25`, `1e-7` as `0.0000001`), which
        // Go's ParseFloat reads back to the same bits.
        Value::Float(v) => format!("{}", v.get()),
    }
}

/// HELP text escapes only `\` and newline (a `"` stays as is).
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::catalog::*;
    // One strict reader for these unit tests, the integration tests and the fuzz target.
    use crate::output::prometheus::spec::{parse, parse_float};

    fn float(v: f64) -> Value {
        Value::float(v).unwrap()
    }

    fn tags(pairs: &[(&'static str, &str)]) -> Vec<(TagKey, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), v.to_string()))
            .collect()
    }

    fn metric(
        definition: &'static Definition,
        value: Value,
        pairs: &[(&'static str, &str)],
    ) -> Metric {
        Metric::new(definition, value, tags(pairs))
    }

    #[test]
    fn exact_text_for_a_small_set() {
        let metrics = [
            metric(
                &NETWORK_RX_BYTES_TOTAL,
                Value::Int(1234),
                &[("container_name", "web"), ("interface", "eth0")],
            ),
            metric(&EXPORTER_STATUS, Value::Int(1), &[]),
            metric(
                &NETWORK_RX_BYTES_TOTAL,
                Value::Int(u64::MAX),
                &[("container_name", "_task_"), ("interface", "eth1")],
            ),
        ];
        assert_eq!(
            render(&metrics, "ecs.task"),
            "# HELP ecs_task_network_rx_bytes_total Bytes received (cumulative)\n\
             # TYPE ecs_task_network_rx_bytes_total counter\n\
             ecs_task_network_rx_bytes_total{container_name=\"web\",interface=\"eth0\"} 1234\n\
             ecs_task_network_rx_bytes_total{container_name=\"_task_\",interface=\"eth1\"} 18446744073709551615\n\
             # HELP ecs_task_exporter_status 1 when both stats samples were read and parsed, else 0\n\
             # TYPE ecs_task_exporter_status gauge\n\
             ecs_task_exporter_status 1\n"
        );
    }

    #[test]
    fn floats_are_shortest_round_trip() {
        let metrics = [
            metric(&CPU_USAGE_RATIO, float(0.25), &[("cpu", "0")]),
            metric(&CPU_USAGE_RATIO, float(1e-7), &[("cpu", "2")]),
            metric(&CPU_USAGE_RATIO, float(1.0), &[("cpu", "3")]),
            metric(&CPU_USAGE_RATIO, float(0.1 + 0.2), &[("cpu", "4")]),
        ];
        let text = render(&metrics, "p");
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "p_cpu_usage_ratio{cpu=\"0\"} 0.25",
                "p_cpu_usage_ratio{cpu=\"2\"} 0.0000001",
                "p_cpu_usage_ratio{cpu=\"3\"} 1",
                "p_cpu_usage_ratio{cpu=\"4\"} 0.30000000000000004",
            ]
        );
        assert_eq!(render(&[], "p"), "");
    }

    #[test]
    fn hostile_label_values_are_escaped() {
        let long = "x".repeat(500);
        let metrics = [
            metric(
                &MEM_USAGE,
                Value::Int(1),
                &[("container_name", "a\"b\\c\nd")],
            ),
            metric(&MEM_USAGE, Value::Int(2), &[("container_name", "|")]),
            metric(&MEM_USAGE, Value::Int(3), &[("container_name", ",")]),
            metric(&MEM_USAGE, Value::Int(4), &[("container_name", "#")]),
            metric(
                &MEM_USAGE,
                Value::Int(5),
                &[("container_name", "zürich-日本")],
            ),
            metric(&MEM_USAGE, Value::Int(6), &[("container_name", &long)]),
            metric(&MEM_USAGE, Value::Int(7), &[("container_name", "}{= ")]),
        ];
        let text = render(&metrics, "ecs_task");
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples[..6],
            [
                r#"ecs_task_mem_usage{container_name="a\"b\\c\nd"} 1"#,
                r#"ecs_task_mem_usage{container_name="|"} 2"#,
                r#"ecs_task_mem_usage{container_name=","} 3"#,
                r##"ecs_task_mem_usage{container_name="#"} 4"##,
                r#"ecs_task_mem_usage{container_name="zürich-日本"} 5"#,
                &format!(r#"ecs_task_mem_usage{{container_name="{long}"}} 6"#),
            ]
        );
        assert_eq!(samples[6], r#"ecs_task_mem_usage{container_name="}{= "} 7"#);
        // The newline inside the value did not split the line.
        assert_eq!(text.lines().count(), 2 + 7);
        assert_round_trip(&metrics, "ecs_task");
    }

    #[test]
    fn help_text_is_escaped() {
        assert_eq!(escape_help("a\\b\nc \"q\""), "a\\\\b\\nc \"q\"");
    }

    #[test]
    fn label_and_metric_names_are_sanitized() {
        let metrics = [metric(
            &MEM_USAGE,
            Value::Int(1),
            &[
                ("container-name", "a"),
                ("1cpu", "b"),
                ("container_name", "dup of the first, dropped"),
                ("", "c"),
                ("ok:no", "d"),
                ("__name__", "e"),
                ("éé", "f"),
            ],
        )];
        assert_eq!(
            render(&metrics, "my-app.ecs"),
            "# HELP my_app_ecs_mem_usage Memory usage including page cache (memory_stats.usage)\n\
             # TYPE my_app_ecs_mem_usage gauge\n\
             my_app_ecs_mem_usage{container_name=\"a\",_1cpu=\"b\",_=\"c\",ok_no=\"d\",\
             tag__name__=\"e\",tag__=\"f\"} 1\n"
        );
        assert!(render(&metrics, "").starts_with("# HELP mem_usage "));
        assert!(render(&metrics, "9lives").starts_with("# HELP _9lives_mem_usage "));
    }

    #[test]
    fn duplicate_series_keep_the_first() {
        let metrics = [
            metric(&MEM_USAGE, Value::Int(1), &[("a", "1"), ("b", "2")]),
            metric(&MEM_USAGE, Value::Int(2), &[("b", "2"), ("a", "1")]),
            metric(&MEM_USAGE, Value::Int(3), &[]),
            metric(&MEM_USAGE, Value::Int(4), &[]),
            // Same set once the duplicated name is dropped.
            metric(
                &MEM_USAGE,
                Value::Int(5),
                &[("a", "1"), ("b", "2"), ("a", "9")],
            ),
            metric(&MEM_USAGE, Value::Int(6), &[("a", "1"), ("b", "3")]),
        ];
        let text = render(&metrics, "p");
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "p_mem_usage{a=\"1\",b=\"2\"} 1",
                "p_mem_usage 3",
                "p_mem_usage{a=\"1\",b=\"3\"} 6",
            ]
        );
    }

    #[test]
    fn one_help_and_type_per_family_with_many_containers() {
        let names: Vec<String> = (0..40).map(|i| format!("container-{i}")).collect();
        let mut metrics = Vec::new();
        // Interleaved, as the metric modules produce them: family by family, but with the
        // task totals and exporter_status in between.
        for family in [&CPU_USAGE_RATIO, &MEM_USAGE, &NETWORK_RX_BYTES_TOTAL] {
            for (i, name) in names.iter().enumerate() {
                metrics.push(metric(
                    family,
                    Value::Int(i as u64),
                    &[("container_name", name)],
                ));
                metrics.push(metric(
                    &PERCPU_USAGE_RATIO,
                    float(i as f64 / 8.0),
                    &[("container_name", name), ("cpu", family.name)],
                ));
            }
            metrics.push(metric(
                family,
                Value::Int(7),
                &[("container_name", "_task_")],
            ));
        }
        metrics.push(metric(&EXPORTER_STATUS, Value::Int(1), &[]));
        let text = render(&metrics, "ecs_task");
        let count = |start: &str| text.lines().filter(|l| l.starts_with(start)).count();
        assert_eq!(count("# HELP "), 5);
        assert_eq!(count("# TYPE "), 5);
        assert_eq!(count("ecs_task_percpu_usage_ratio{"), 3 * 40);
        assert_eq!(count("ecs_task_mem_usage{"), 41);
        // Families in first-appearance order, each one contiguous.
        let order: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        assert_eq!(
            order,
            [
                "ecs_task_cpu_usage_ratio gauge",
                "ecs_task_percpu_usage_ratio gauge",
                "ecs_task_mem_usage gauge",
                "ecs_task_network_rx_bytes_total counter",
                "ecs_task_exporter_status gauge",
            ]
        );
        assert_round_trip(&metrics, "ecs_task");
    }

    #[test]
    fn parses_back_to_the_input() {
        let metrics = [
            metric(
                &CPU_USAGE_RATIO,
                float(0.123456789012345),
                &[("container_name", "web")],
            ),
            metric(
                &PERCPU_USAGE_RATIO,
                float(3.5e-9),
                &[("container_name", "web"), ("cpu", "11")],
            ),
            metric(
                &NETWORK_TX_BYTES_TOTAL,
                Value::Int(9_223_372_036_854_775_807),
                &[("container_name", "side\"car\\"), ("interface", "eth0\n")],
            ),
            metric(&CPU_LIMIT, float(2048.0), &[("container_name", "_task_")]),
            metric(&MEM_LIMIT, Value::Int(0), &[("container_name", "_task_")]),
            metric(&CPU_USAGE_RATIO, float(1e300), &[("container_name", "x")]),
            metric(&EXPORTER_STATUS, Value::Int(0), &[]),
        ];
        assert_round_trip(&metrics, "ecs.task");
    }

    #[test]
    fn the_parser_is_strict() {
        for bad in [
            "m 1",                                             // no trailing newline
            "m{a=\"1\",} 1\n",                                 // trailing comma
            "m{a=\"\\t\"} 1\n",                                // unknown escape
            "m{a=\"1\" 1\n",                                   // unterminated label set
            "m{1a=\"1\"} 1\n",                                 // invalid label name
            "m{a=\"1\",a=\"2\"} 1\n",                          // duplicate label
            "m 1 2 3\n",                                       // junk after the timestamp
            "# TYPE m gauge\n# TYPE m gauge\nm 1\n",           // two TYPE lines
            "# HELP m x\nm 1\n",                               // samples without TYPE
            "# TYPE m gauge\nm 1\n# TYPE n gauge\nn 1\nm 2\n", // family not contiguous
            "# TYPE m gauge\nm 1\nm 1\n",                      // duplicate series
        ] {
            assert!(parse(bad).is_err(), "accepted {bad:?}");
        }
        assert_eq!(parse(""), Ok(Vec::new()));
    }

    /// One sample as sent: (family name, labels in order, value).
    type Triple = (String, Vec<(String, String)>, Value);

    /// Renders `metrics`, parses the text back strictly and asserts it holds exactly the
    /// input's (name, labels, value) triples, computed here without `render`: samples
    /// grouped by family in first-appearance order.
    fn assert_round_trip(metrics: &[Metric], prefix: &str) {
        let mut want: Vec<Triple> = metrics
            .iter()
            .map(|m| {
                let labels = m
                    .tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect();
                (
                    format!("{}_{}", prefix.replace('.', "_"), m.name()),
                    labels,
                    m.value,
                )
            })
            .collect();
        let order: Vec<String> = want.iter().fold(Vec::new(), |mut names, t| {
            if !names.contains(&t.0) {
                names.push(t.0.clone());
            }
            names
        });
        // Stable: first appearance within a family is kept.
        want.sort_by_key(|t| order.iter().position(|n| *n == t.0));

        let parsed = parse(&render(metrics, prefix)).unwrap();
        assert_eq!(parsed.len(), want.len());
        // The text format has one number type; read each value back as the type it was sent
        // as. An Int must come back exactly (even above 2^53), a Float to the same bits.
        let got: Vec<Triple> = parsed
            .into_iter()
            .zip(&want)
            .map(|((name, labels, text), (_, _, sent))| {
                let value = match sent {
                    Value::Int(_) => Value::Int(text.parse().expect(&text)),
                    Value::Float(_) => float(parse_float(&text).unwrap()),
                };
                (name, labels, value)
            })
            .collect();
        assert_eq!(got, want);
        for ((_, _, a), (_, _, b)) in got.iter().zip(&want) {
            if let (Value::Float(a), Value::Float(b)) = (a, b) {
                assert_eq!(a.get().to_bits(), b.get().to_bits());
            }
        }
    }

    #[test]
    fn rates_spell_out_per_second() {
        let text = render(
            &[metric(&NETWORK_RX_BYTES_PER_SEC, float(1.5), &[])],
            "ecs_task",
        );
        assert!(
            text.contains("\necs_task_network_rx_bytes_per_second 1.5\n"),
            "{text}"
        );
    }
}

#[cfg(test)]
#[path = "../../tests/integration/common/prometheus_spec.rs"]
mod spec;
