//! Prometheus text exposition format (0.0.4) for one run's metrics, for the node_exporter
//! textfile collector or a Pushgateway. Formatting only: writing the file or pushing is the
//! caller's business.

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;

use crate::metrics::catalog;
use crate::metrics::{Metric, TagKey, Value};

/// The whole exposition: one family per metric name (first-appearance order), each with one
/// `# HELP` and one `# TYPE` line (`counter` for the cumulative `_total` series, else
/// `gauge`), then its samples. Every line ends with `\n`; no
/// metrics (or only non-finite ones) gives an empty string.
///
/// The family name is `prefix` with `.` → `_`, then `_`, then the metric name (no separator
/// when `prefix` is empty). Samples that Prometheus would reject are left out rather than
/// poisoning the whole scrape: non-finite values, and a second sample with the same label set
/// as an earlier one of its family.
pub fn render(metrics: &[Metric], prefix: &str) -> String {
    let prefix = prefix.replace('.', "_");
    let mut families: Vec<Family> = Vec::new();
    let mut renamed = BTreeSet::new();
    for metric in metrics {
        let Some(value) = format_value(metric.value) else {
            continue;
        };
        let name = family_name(&prefix, metric.name);
        let labels = labels(&metric.tags.to_vec(), &mut renamed);
        let index = match families.iter().position(|f| f.name == name) {
            Some(i) => i,
            None => {
                families.push(Family {
                    name,
                    metric: metric.name,
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
        }
    }

    if !renamed.is_empty() {
        log::warn!(
            "Prometheus reserves label names starting with __: tag(s) {} sent as tag__...",
            renamed.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    let mut out = String::new();
    for family in &families {
        let help = catalog::describe(family.metric).map_or(family.metric, |d| d.help);
        // Writing to a String cannot fail.
        let _ = writeln!(out, "# HELP {} {}", family.name, escape_help(help));
        // The `_total` series are cumulative counters (the ancestor's names); typing them
        // `counter` lets rate() work and keeps promtool's lint quiet.
        let kind = if family.name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
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
    /// The unprefixed metric name, the catalog key for the help text.
    metric: &'static str,
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
        let mut name = sanitize_name(key, false);
        if name.starts_with("__") {
            renamed.insert(key.to_string());
            name.insert_str(0, "tag");
        }
        if out.iter().all(|(n, _)| *n != name) {
            out.push((name, value.clone()));
        }
    }
    out
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

/// `None` for NaN and ±Inf: they are valid in the format, but a gauge that reads `NaN` is a
/// computation failure, and the DogStatsD output refuses them too.
fn format_value(value: Value) -> Option<String> {
    match value {
        // Exact, even above 2^53; Prometheus parses it as a float, which is its problem.
        Value::Int(v) => Some(v.to_string()),
        // `{}` is Rust's shortest round-trip form (`0.25`, `1e-7` as `0.0000001`), which
        // Go's ParseFloat reads back to the same bits.
        Value::Float(v) if v.is_finite() => Some(format!("{v}")),
        Value::Float(_) => None,
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

    fn tags(pairs: &[(&'static str, &str)]) -> Vec<(TagKey, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), v.to_string()))
            .collect()
    }

    fn metric(name: &'static str, value: Value, pairs: &[(&'static str, &str)]) -> Metric {
        Metric::new(name, value, tags(pairs))
    }

    #[test]
    fn exact_text_for_a_small_set() {
        let metrics = [
            metric(
                "network_rx_bytes_total",
                Value::Int(1234),
                &[("container_name", "web"), ("interface", "eth0")],
            ),
            metric("exporter_status", Value::Int(1), &[]),
            metric(
                "network_rx_bytes_total",
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
    fn floats_are_shortest_round_trip_and_non_finite_are_skipped() {
        let metrics = [
            metric("cpu_usage_ratio", Value::Float(0.25), &[("cpu", "0")]),
            metric("cpu_usage_ratio", Value::Float(f64::NAN), &[("cpu", "1")]),
            metric("cpu_usage_ratio", Value::Float(1e-7), &[("cpu", "2")]),
            metric("cpu_usage_ratio", Value::Float(1.0), &[("cpu", "3")]),
            metric("cpu_usage_ratio", Value::Float(0.1 + 0.2), &[("cpu", "4")]),
            // A family whose only sample is skipped is not printed at all.
            metric("mem_usage", Value::Float(f64::INFINITY), &[]),
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
        assert!(!text.contains("mem_usage"));
        assert_eq!(render(&[], "p"), "");
    }

    #[test]
    fn hostile_label_values_are_escaped() {
        let long = "x".repeat(500);
        let metrics = [
            metric(
                "mem_usage",
                Value::Int(1),
                &[("container_name", "a\"b\\c\nd")],
            ),
            metric("mem_usage", Value::Int(2), &[("container_name", "|")]),
            metric("mem_usage", Value::Int(3), &[("container_name", ",")]),
            metric("mem_usage", Value::Int(4), &[("container_name", "#")]),
            metric(
                "mem_usage",
                Value::Int(5),
                &[("container_name", "zürich-日本")],
            ),
            metric("mem_usage", Value::Int(6), &[("container_name", &long)]),
            metric("mem_usage", Value::Int(7), &[("container_name", "}{= ")]),
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
    fn unknown_metric_uses_its_name_as_help() {
        let text = render(&[metric("not_in_catalog", Value::Int(0), &[])], "p");
        assert!(text.starts_with("# HELP p_not_in_catalog not_in_catalog\n"));
    }

    #[test]
    fn label_and_metric_names_are_sanitized() {
        let metrics = [metric(
            "mem_usage",
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
            metric("mem_usage", Value::Int(1), &[("a", "1"), ("b", "2")]),
            metric("mem_usage", Value::Int(2), &[("b", "2"), ("a", "1")]),
            metric("mem_usage", Value::Int(3), &[]),
            metric("mem_usage", Value::Int(4), &[]),
            // Same set once the duplicated name is dropped.
            metric(
                "mem_usage",
                Value::Int(5),
                &[("a", "1"), ("b", "2"), ("a", "9")],
            ),
            metric("mem_usage", Value::Int(6), &[("a", "1"), ("b", "3")]),
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
        for family in ["cpu_usage_ratio", "mem_usage", "network_rx_bytes_total"] {
            for (i, name) in names.iter().enumerate() {
                metrics.push(metric(
                    family,
                    Value::Int(i as u64),
                    &[("container_name", name)],
                ));
                metrics.push(metric(
                    "percpu_usage_ratio",
                    Value::Float(i as f64 / 8.0),
                    &[("container_name", name), ("cpu", family)],
                ));
            }
            metrics.push(metric(
                family,
                Value::Int(7),
                &[("container_name", "_task_")],
            ));
        }
        metrics.push(metric("exporter_status", Value::Int(1), &[]));
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
                "cpu_usage_ratio",
                Value::Float(0.123456789012345),
                &[("container_name", "web")],
            ),
            metric(
                "percpu_usage_ratio",
                Value::Float(3.5e-9),
                &[("container_name", "web"), ("cpu", "11")],
            ),
            metric(
                "network_tx_bytes_total",
                Value::Int(9_223_372_036_854_775_807),
                &[("container_name", "side\"car\\"), ("interface", "eth0\n")],
            ),
            metric(
                "cpu_limit",
                Value::Float(2048.0),
                &[("container_name", "_task_")],
            ),
            metric("mem_limit", Value::Int(0), &[("container_name", "_task_")]),
            metric(
                "cpu_usage_ratio",
                Value::Float(1e300),
                &[("container_name", "x")],
            ),
            metric("exporter_status", Value::Int(0), &[]),
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
    }

    /// One parsed sample: (family name, labels in order, value text).
    type Parsed = (String, Vec<(String, String)>, String);
    /// One sample as sent: (family name, labels in order, value).
    type Triple = (String, Vec<(String, String)>, Value);

    /// Renders `metrics`, parses the text back strictly and asserts it holds exactly the
    /// input's (name, labels, value) triples, computed here without `render`: non-finite
    /// values dropped, samples grouped by family in first-appearance order.
    fn assert_round_trip(metrics: &[Metric], prefix: &str) {
        let mut want: Vec<Triple> = metrics
            .iter()
            .filter(|m| !matches!(m.value, Value::Float(v) if !v.is_finite()))
            .map(|m| {
                let labels = m
                    .tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect();
                (
                    format!("{}_{}", prefix.replace('.', "_"), m.name),
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
                    Value::Float(_) => Value::Float(parse_float(&text).unwrap()),
                };
                (name, labels, value)
            })
            .collect();
        assert_eq!(got, want);
        for ((_, _, a), (_, _, b)) in got.iter().zip(&want) {
            if let (Value::Float(a), Value::Float(b)) = (a, b) {
                assert_eq!(a.to_bits(), b.to_bits());
            }
        }
    }

    fn parse_float(text: &str) -> Result<f64, String> {
        match text {
            "NaN" => Ok(f64::NAN),
            "+Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            _ => text.parse().map_err(|e| format!("{text:?}: {e}")),
        }
    }

    /// A strict reader of the text format, 0.0.4: `# HELP`/`# TYPE` at most once per family
    /// and before its samples, families contiguous, names and escapes exactly as specified,
    /// no duplicate series, every line `\n`-terminated. Values are checked and kept as text,
    /// so the caller can read an integer exactly.
    fn parse(text: &str) -> Result<Vec<Parsed>, String> {
        let body = text
            .strip_suffix('\n')
            .ok_or("the text must end with a newline")?;
        let mut out: Vec<Parsed> = Vec::new();
        let mut helped: Vec<String> = Vec::new();
        let mut typed: Vec<String> = Vec::new();
        let mut finished: Vec<String> = Vec::new();
        let mut current: Option<String> = None;
        for line in body.split('\n') {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').ok_or("HELP without text")?;
                check_name(name, true)?;
                unescape(help, false)?;
                if helped.iter().any(|n| n == name) || finished.iter().any(|n| n == name) {
                    return Err(format!("second HELP for {name}"));
                }
                helped.push(name.to_string());
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').ok_or("TYPE without type")?;
                check_name(name, true)?;
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                    return Err(format!("bad type {kind:?}"));
                }
                if typed.iter().any(|n| n == name) {
                    return Err(format!("second TYPE for {name}"));
                }
                typed.push(name.to_string());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (name, labels, value) = parse_sample(line)?;
            if !typed.contains(&name) {
                return Err(format!("sample of {name} before its TYPE"));
            }
            if current.as_ref() != Some(&name) {
                if finished.contains(&name) {
                    return Err(format!("family {name} is not contiguous"));
                }
                if let Some(done) = current.replace(name.clone()) {
                    finished.push(done);
                }
            }
            let mut set = labels.clone();
            set.sort();
            let duplicate = out.iter().any(|(n, l, _)| {
                let mut other = l.clone();
                other.sort();
                *n == name && other == set
            });
            if duplicate {
                return Err(format!("duplicate series in {line:?}"));
            }
            out.push((name, labels, value));
        }
        Ok(out)
    }

    fn parse_sample(line: &str) -> Result<Parsed, String> {
        let end = line
            .find(['{', ' '])
            .ok_or_else(|| format!("no value in {line:?}"))?;
        let name = &line[..end];
        check_name(name, true)?;
        let mut rest = &line[end..];
        let mut labels: Vec<(String, String)> = Vec::new();
        if let Some(after) = rest.strip_prefix('{') {
            rest = after;
            // `{}` is allowed; after a comma another label must follow.
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
            } else {
                loop {
                    let eq = rest.find('=').ok_or("label without =")?;
                    let label = &rest[..eq];
                    check_name(label, false)?;
                    if labels.iter().any(|(l, _)| l == label) {
                        return Err(format!("label {label} twice in {line:?}"));
                    }
                    let quoted = rest[eq + 1..]
                        .strip_prefix('"')
                        .ok_or("label value must be quoted")?;
                    let (value, after) = take_quoted(quoted)?;
                    labels.push((label.to_string(), value));
                    if let Some(after) = after.strip_prefix(',') {
                        rest = after;
                        if rest.starts_with('}') {
                            return Err(format!("trailing comma in {line:?}"));
                        }
                    } else if let Some(after) = after.strip_prefix('}') {
                        rest = after;
                        break;
                    } else {
                        return Err(format!("expected , or }} in {line:?}"));
                    }
                }
            }
        }
        let rest = rest
            .strip_prefix(' ')
            .ok_or_else(|| format!("no space before the value in {line:?}"))?;
        let mut fields = rest.split(' ');
        let value = fields.next().ok_or("no value")?;
        if let Some(timestamp) = fields.next() {
            timestamp
                .parse::<i64>()
                .map_err(|_| format!("bad timestamp in {line:?}"))?;
        }
        if fields.next().is_some() {
            return Err(format!("junk after the sample in {line:?}"));
        }
        // Any float Go's ParseFloat takes (an integer text is one too).
        parse_float(value)?;
        Ok((name.to_string(), labels, value.to_string()))
    }

    /// The escaped text up to the closing `"`, unescaped, and what follows it.
    fn take_quoted(s: &str) -> Result<(String, &str), String> {
        let mut chars = s.char_indices();
        let mut escaped = false;
        for (i, c) in chars.by_ref() {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => return Ok((unescape(&s[..i], true)?, &s[i + 1..])),
                _ => escaped = false,
            }
        }
        Err(format!("unterminated label value {s:?}"))
    }

    /// Label values know `\\`, `\"` and `\n`; HELP text only `\\` and `\n`.
    fn unescape(s: &str, quote: bool) -> Result<String, String> {
        let mut out = String::with_capacity(s.len());
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\n' || (quote && c == '"') {
                return Err(format!("raw {c:?} in {s:?}"));
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('"') if quote => out.push('"'),
                other => return Err(format!("bad escape \\{other:?} in {s:?}")),
            }
        }
        Ok(out)
    }

    fn check_name(name: &str, metric: bool) -> Result<(), String> {
        let ok_first = |c: char| c.is_ascii_alphabetic() || c == '_' || (metric && c == ':');
        let ok = |c: char| ok_first(c) || c.is_ascii_digit();
        let mut chars = name.chars();
        match chars.next() {
            Some(c) if ok_first(c) && chars.all(ok) => Ok(()),
            _ => Err(format!("invalid name {name:?}")),
        }
    }

    #[test]
    fn rates_spell_out_per_second() {
        let text = render(
            &[metric("network_rx_bytes_per_sec", Value::Float(1.5), &[])],
            "ecs_task",
        );
        assert!(
            text.contains("\necs_task_network_rx_bytes_per_second 1.5\n"),
            "{text}"
        );
    }
}
