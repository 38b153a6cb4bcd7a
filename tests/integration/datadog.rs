//! Datadog as it is (issue 18 §3, §4): the agent's 8192-byte datagram buffer, the Datadog
//! client libraries' variables, where a failed send was going and who chose it, a typo in
//! `--include`, and `--metrics` / `--skip-metrics` with their self-telemetry counts.

use std::collections::BTreeSet;

use crate::common::{
    Line, MAX_WAIT, QUIET, UdpListener, example_endpoint, lines, parse_all, replay_example, run,
    run_live,
};

fn dry_lines(args: &[&str], env: &[(&str, &str)]) -> (Vec<Line>, String) {
    let mut all = vec!["--dry-run"];
    all.extend_from_slice(args);
    let out = replay_example(&all, env);
    out.assert_success();
    let lines: Vec<String> = out.stdout.lines().map(String::from).collect();
    (parse_all(&lines), out.stderr.clone())
}

fn only_line_of_stderr(out: &crate::common::Run) -> String {
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
    out.stderr.lines().next().unwrap().to_string()
}

/// The agent reads 8192 bytes of a datagram: a larger DogStatsD packet size is refused (exit
/// 1, naming the flag or the variable); plain StatsD keeps the UDP maximum.
#[test]
fn a_dogstatsd_packet_size_over_the_agent_buffer_is_refused() {
    for (args, env, named) in [
        (
            &["--max-packet-size", "8193"][..],
            &[][..],
            "--max-packet-size",
        ),
        (
            &[][..],
            &[("MAX_PACKET_SIZE", "65507")][..],
            "MAX_PACKET_SIZE",
        ),
    ] {
        let out = replay_example(args, env);
        out.assert_code(1);
        let error = only_line_of_stderr(&out);
        assert!(
            error.contains(named) && error.contains("8192") && error.contains("graphite"),
            "{error}"
        );
    }
    replay_example(&["--dry-run", "--max-packet-size", "8192"], &[]).assert_success();
    replay_example(
        &[
            "--dry-run",
            "--tag-format",
            "graphite",
            "--max-packet-size",
            "65507",
        ],
        &[],
    )
    .assert_success();
    // Prometheus and EMF send no datagrams: the size does not concern them.
    replay_example(
        &["--format", "prometheus", "--max-packet-size", "65507"],
        &[],
    )
    .assert_success();
}

/// 60 user tags of 195 characters make every line about 12 kB: the last user tags are left
/// out until the line fits in 8191 bytes (8192 with its newline), the identity tags and the
/// first user tags stay, and one warning names what was left out.
#[test]
fn no_dogstatsd_line_is_longer_than_the_agent_reads() {
    let value = "v".repeat(190);
    let tags: Vec<String> = (0..60).map(|i| format!("u{i:02}:{value}")).collect();
    let mut args: Vec<&str> = Vec::new();
    for tag in &tags {
        args.extend(["--tag", tag.as_str()]);
    }
    let (all, stderr) = dry_lines(&args, &[]);
    let (plain, _) = dry_lines(&[], &[]);
    assert_eq!(all.len(), plain.len(), "no series lost");
    for line in &all {
        assert!(line.raw.len() < 8192, "{} bytes", line.raw.len());
        assert!(
            line.has_tag("u00", &value),
            "the first user tag stays: {line}"
        );
        // Every identity tag stays.
        let plain = plain
            .iter()
            .find(|p| {
                p.name == line.name
                    && p.tag("container_name") == line.tag("container_name")
                    && p.tag("interface") == line.tag("interface")
                    && p.tag("cpu") == line.tag("cpu")
            })
            .unwrap();
        for (k, v) in &plain.tags {
            assert!(line.has_tag(k, v), "{k}:{v} lost from {}", line.name);
        }
        // What is left out is a run of the last user tags.
        let kept: Vec<usize> = (0..60)
            .filter(|i| line.tag(&format!("u{i:02}")).is_some())
            .collect();
        assert_eq!(kept, (0..kept.len()).collect::<Vec<_>>(), "{}", line.name);
        assert!(kept.len() < 60);
    }
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("8192")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains(&format!("{} line(s)", all.len()))
            && warnings[0].contains("\"u59:vvv"),
        "{}",
        warnings[0]
    );
    // Plain StatsD lines carry no tags: nothing to leave out, nothing to say.
    let mut graphite = args.clone();
    graphite.extend(["--tag-format", "graphite", "--dry-run"]);
    let out = replay_example(&graphite, &[]);
    out.assert_success();
    assert!(!out.stderr.contains("8192"), "{}", out.stderr);
}

/// datadogpy uses `DD_DOGSTATSD_PORT` alone with its default host; so does ecs-statsd (on
/// 127.0.0.1), rather than ignoring it.
#[test]
fn dd_dogstatsd_port_alone_is_used_on_the_default_host() {
    let endpoint = example_endpoint();
    let listener = UdpListener::new();
    let port = listener.port().to_string();
    let out = run_live(
        &endpoint,
        &["--log-level", "info"],
        &[("DD_DOGSTATSD_PORT", &port)],
    );
    out.assert_success();
    assert!(!listener.datagrams_until_quiet(QUIET, MAX_WAIT).is_empty());
    assert!(
        out.stderr.contains(&format!(
            "to UDP 127.0.0.1:{port} (set by DD_DOGSTATSD_PORT (on the default host))"
        )),
        "{}",
        out.stderr
    );
}

/// The ancestor's `STATSD_HOST`/`STATSD_PORT` lose to a `DD_*` destination: one warning names
/// both and the variable that won.
#[test]
fn statsd_variables_under_a_dd_destination_are_named_in_one_warning() {
    let endpoint = example_endpoint();
    let (dd, ancestor) = (UdpListener::new(), UdpListener::new());
    let (dd_port, ancestor_port) = (dd.port().to_string(), ancestor.port().to_string());
    let env = [
        ("DD_AGENT_HOST", "127.0.0.1"),
        ("DD_DOGSTATSD_PORT", dd_port.as_str()),
        ("STATSD_HOST", "127.0.0.1"),
        ("STATSD_PORT", ancestor_port.as_str()),
    ];
    let out = run_live(&endpoint, &[], &env);
    out.assert_success();
    assert!(!dd.datagrams_until_quiet(QUIET, MAX_WAIT).is_empty());
    assert!(ancestor.datagrams_until_quiet(QUIET, MAX_WAIT).is_empty());
    let warning = only_line_of_stderr(&out);
    assert!(
        warning.contains(&format!(
            "STATSD_HOST=127.0.0.1 and STATSD_PORT={ancestor_port} ignored"
        )) && warning.contains("DD_AGENT_HOST is set"),
        "{warning}"
    );
    // Alone, the ancestor's variables are used without a word. (A fresh endpoint: the first
    // one would serve its last sample twice, a run that measures no interval and says so.)
    let out = run_live(
        &example_endpoint(),
        &[],
        &[
            ("STATSD_HOST", "127.0.0.1"),
            ("STATSD_PORT", ancestor_port.as_str()),
        ],
    );
    out.assert_success();
    assert!(out.stderr.is_empty(), "{}", out.describe());
    assert!(!ancestor.datagrams_until_quiet(QUIET, MAX_WAIT).is_empty());
}

/// Exit 3 says where the lines were going and which setting said so; so does the info
/// summary of a run that sent them.
#[test]
fn a_send_error_names_the_destination_and_the_setting_that_chose_it() {
    let endpoint = example_endpoint();
    // A port nobody listens on: connected UDP reports the ICMP "port unreachable".
    let closed = UdpListener::new().port().to_string();
    let env = [
        ("DD_AGENT_HOST", "127.0.0.1"),
        ("DD_DOGSTATSD_PORT", closed.as_str()),
    ];
    let out = run_live(&endpoint, &[], &env);
    out.assert_code(3);
    assert!(
        out.stderr.contains(&format!(
            "could not be sent to UDP 127.0.0.1:{closed} (set by DD_AGENT_HOST and \
             DD_DOGSTATSD_PORT)"
        )),
        "{}",
        out.describe()
    );
    // A socket path that does not exist: named with the flag that gave it.
    let out = run_live(
        &endpoint,
        &["--statsd-socket", "/nonexistent/dsd.socket"],
        &[],
    );
    out.assert_code(3);
    assert!(
        out.stderr.contains("/nonexistent/dsd.socket")
            && out.stderr.contains("(set by --statsd-socket)"),
        "{}",
        out.describe()
    );
    let listener = UdpListener::new();
    let port = listener.port().to_string();
    let out = run_live(
        &endpoint,
        &["--statsd-port", &port, "--log-level", "info"],
        &[],
    );
    out.assert_success();
    let sent = lines(&listener.datagrams_until_quiet(QUIET, MAX_WAIT)).len();
    assert!(
        out.stderr.contains(&format!(
            "sent {sent} metrics to UDP 127.0.0.1:{port} (set by --statsd-port) in "
        )),
        "{}",
        out.stderr
    );
}

/// A typo in `--include` would send only the task totals without a word: one warning names
/// the unknown names and the task's containers.
#[test]
fn an_include_naming_no_container_is_warned_once() {
    let (all, stderr) = dry_lines(&["--include", "web,wbe"], &[]);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("--include")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("no container of this task: \"wbe\" (its containers: ")
            && warnings[0].contains("\"log-router\""),
        "{}",
        warnings[0]
    );
    assert!(all.iter().any(|l| l.has_tag("container_name", "web")));
    let (_, stderr) = dry_lines(&[], &[("INCLUDE", "web,log-router")]);
    assert!(!stderr.contains("--include"), "{stderr}");
}

fn names(lines: &[Line]) -> BTreeSet<String> {
    lines
        .iter()
        .map(|l| l.name.trim_start_matches("ecs_task.").to_string())
        .collect()
}

fn count(lines: &[Line], name: &str) -> f64 {
    let found: Vec<&Line> = lines.iter().filter(|l| l.name == name).collect();
    assert_eq!(found.len(), 1, "{name}");
    found[0].value
}

/// `--metrics` keeps metrics and families, `--skip-metrics` (or `SKIP_METRICS`) leaves them
/// out, the `exporter_*` series are always sent, and the counts say what was left out and
/// what was sent.
#[test]
fn metrics_and_skip_metrics_choose_what_is_sent() {
    let (full, _) = dry_lines(&[], &[]);
    assert_eq!(count(&full, "ecs_task.exporter_series"), full.len() as f64);
    assert_eq!(count(&full, "ecs_task.exporter_series_skipped"), 0.0);

    let (only, _) = dry_lines(&["--metrics", "memory,cpu_usage_ratio"], &[]);
    for name in names(&only) {
        assert!(
            name.starts_with("mem_") || name == "cpu_usage_ratio" || name.starts_with("exporter_"),
            "{name}"
        );
    }
    assert!(names(&only).contains("mem_working_set_bytes"));
    assert_eq!(count(&only, "ecs_task.exporter_status"), 1.0);
    assert_eq!(count(&only, "ecs_task.exporter_series"), only.len() as f64);
    assert_eq!(
        count(&only, "ecs_task.exporter_series_skipped"),
        (full.len() - only.len()) as f64
    );

    let percpu = full
        .iter()
        .filter(|l| l.name == "ecs_task.percpu_usage_ratio")
        .count();
    assert!(percpu > 0);
    let (skipped, _) = dry_lines(&[], &[("SKIP_METRICS", "percpu")]);
    assert!(!names(&skipped).contains("percpu_usage_ratio"));
    assert_eq!(skipped.len(), full.len() - percpu);
    assert_eq!(
        count(&skipped, "ecs_task.exporter_series_skipped"),
        percpu as f64
    );
    // Both: --metrics first, then --skip-metrics.
    let (both, _) = dry_lines(
        &[
            "--metrics",
            "cpu,percpu",
            "--skip-metrics",
            "percpu,cpu_limit",
        ],
        &[],
    );
    let both = names(&both);
    assert!(both.contains("cpu_usage_ratio") && !both.contains("percpu_usage_ratio"));
    assert!(!both.contains("cpu_limit") && !both.contains("mem_usage"));

    for (args, env, says) in [
        (
            &["--metrics", "memroy,mem_usage"][..],
            &[][..],
            &["--metrics", "\"memroy\"", "percpu"][..],
        ),
        (
            &[][..],
            &[("METRICS", "ecs_task.mem_usage")][..],
            &["METRICS", "without the prefix"][..],
        ),
        (
            &["--skip-metrics", "exporter_status"][..],
            &[][..],
            &["--skip-metrics", "always sent"][..],
        ),
    ] {
        let out = replay_example(args, env);
        out.assert_code(1);
        let error = only_line_of_stderr(&out);
        for part in says {
            assert!(error.contains(part), "{part:?} not in {error}");
        }
    }
}

/// What real runs send: each metric name (without the prefix) with the tag keys and the
/// `key:value` pairs of its lines, over a dry run of every bundled capture.
#[derive(Default)]
struct Sent {
    keys: std::collections::BTreeMap<String, BTreeSet<String>>,
    pairs: std::collections::BTreeMap<String, BTreeSet<(String, String)>>,
}

fn sent_by_real_runs() -> Sent {
    let mut sent = Sent::default();
    for dir in crate::common::replay_dirs() {
        let out = run(&["--metadata-url", dir.to_str().unwrap(), "--dry-run"], &[]);
        out.assert_success();
        let lines: Vec<String> = out.stdout.lines().map(String::from).collect();
        for line in parse_all(&lines) {
            let name = line.name.trim_start_matches("ecs_task.").to_string();
            for (k, v) in &line.tags {
                sent.keys.entry(name.clone()).or_default().insert(k.clone());
                let pairs = sent.pairs.entry(name.clone()).or_default();
                pairs.insert((k.clone(), v.clone()));
            }
        }
    }
    assert!(sent.keys.len() > 30, "{:?}", sent.keys.keys());
    sent
}

/// A metric a Datadog query reads: `ecs_task.<name>{scope} by {keys}`.
#[derive(Debug)]
struct Queried {
    metric: String,
    /// `key:value` filters (`!` dropped); `$var` and `*` are not filters.
    filters: Vec<(String, String)>,
    /// Group-by keys.
    by: Vec<String>,
}

/// Every `ecs_task.` metric of a Datadog query string.
fn queried(query: &str) -> Vec<Queried> {
    let mut out = Vec::new();
    let mut rest = query;
    while let Some(at) = rest.find("ecs_task.") {
        rest = &rest[at + "ecs_task.".len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let metric = rest[..end].to_string();
        rest = &rest[end..];
        let mut q = Queried {
            metric,
            filters: Vec::new(),
            by: Vec::new(),
        };
        if let Some(scope) = rest.strip_prefix('{') {
            let close = scope.find('}').expect("a closed scope");
            for item in scope[..close].split(',').map(str::trim) {
                let item = item.trim_start_matches('!');
                if item == "*" || item.starts_with('$') || item.is_empty() {
                    continue;
                }
                let (k, v) = item.split_once(':').unwrap_or((item, ""));
                q.filters.push((k.to_string(), v.to_string()));
            }
            rest = &scope[close + 1..];
            if let Some(by) = rest.trim_start().strip_prefix("by {") {
                let close = by.find('}').expect("a closed group");
                q.by = by[..close]
                    .split(',')
                    .map(|k| k.trim().to_string())
                    .collect();
                rest = &by[close + 1..];
            }
        }
        out.push(q);
    }
    out
}

/// Every string under a `q` or `query` key, anywhere in `json`.
fn query_strings(json: &serde_json::Value, out: &mut Vec<String>) {
    match json {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("q" | "query", serde_json::Value::String(q)) => out.push(q.clone()),
                    _ => query_strings(value, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| query_strings(v, out)),
        _ => {}
    }
}

fn example_json(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(crate::common::root().join(path)).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The dashboard and the monitor in examples/datadog/ query only metrics ecs-statsd sends,
/// filtered and grouped only by tags those metrics carry (with the values it sends), and
/// their template variables and `{{key.name}}` message variables are such tags too.
#[test]
fn the_examples_query_only_what_ecs_statsd_sends() {
    let sent = sent_by_real_runs();
    let dashboard = example_json("examples/datadog/dashboard.json");
    let monitor = example_json("examples/datadog/monitor-exporter-status.json");
    let mut checked = 0;
    let mut template_keys = Vec::new();
    for var in dashboard["template_variables"].as_array().unwrap() {
        template_keys.push(var["prefix"].as_str().unwrap().to_string());
    }
    assert!(!template_keys.is_empty());
    for (file, json) in [("dashboard", &dashboard), ("monitor", &monitor)] {
        let mut queries = Vec::new();
        query_strings(json, &mut queries);
        assert!(!queries.is_empty(), "{file}: no query");
        for query in &queries {
            let metrics = queried(query);
            assert!(
                !metrics.is_empty(),
                "{file}: {query} reads no ecs_task metric"
            );
            for q in metrics {
                let keys = sent
                    .keys
                    .get(&q.metric)
                    .unwrap_or_else(|| panic!("{file}: ecs_task.{} is never sent", q.metric));
                for (k, v) in &q.filters {
                    assert!(
                        sent.pairs[&q.metric].contains(&(k.clone(), v.clone())),
                        "{file}: ecs_task.{} never carries {k}:{v}",
                        q.metric
                    );
                }
                for k in &q.by {
                    assert!(
                        keys.contains(k),
                        "{file}: ecs_task.{} has no tag {k}",
                        q.metric
                    );
                }
                // Template variables scope every query that names them.
                if query.contains('$') {
                    for k in &template_keys {
                        let var = dashboard["template_variables"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|v| v["prefix"] == k.as_str())
                            .unwrap();
                        let name = format!("${}", var["name"].as_str().unwrap());
                        if query.contains(&name) {
                            assert!(
                                keys.contains(k),
                                "{file}: ecs_task.{} has no tag {k} ({name})",
                                q.metric
                            );
                        }
                    }
                }
                checked += 1;
            }
        }
    }
    // The monitor's message variables name group-by tags of its query.
    let message =
        monitor["message"].as_str().unwrap().to_string() + monitor["name"].as_str().unwrap();
    let query = monitor["query"].as_str().unwrap();
    assert!(query.contains("ecs_task.exporter_status"), "{query}");
    // Datadog refuses a monitor whose critical threshold is not the query's bound.
    let bound: f64 = query.rsplit('<').next().unwrap().trim().parse().unwrap();
    assert_eq!(
        monitor["options"]["thresholds"]["critical"].as_f64(),
        Some(bound)
    );
    assert_eq!(
        monitor["options"]["notify_no_data"], true,
        "a run that stops sending alerts too"
    );
    for part in message.split("{{").skip(1) {
        let key = part.split("}}").next().unwrap().trim_end_matches(".name");
        assert!(
            queried(query)[0].by.iter().any(|b| b == key),
            "{{{{{key}.name}}}} is not grouped by"
        );
    }
    assert!(checked >= 10, "{checked}");
}

/// docs/datadog.md maps every metric of the ecs_fargate check (its metadata.csv, copied in
/// testdata/datadog/, plus the four the check sends beyond it), each to a metric ecs-statsd
/// really sends, or to "none".
#[test]
fn the_mapping_table_names_every_fargate_metric_and_real_series() {
    let sent = sent_by_real_runs();
    let csv = crate::common::read("testdata/datadog/ecs_fargate_metadata.csv");
    let mut expected: BTreeSet<String> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    // Sent by ecs_fargate.py beyond metadata.csv (integrations-core: the task `Limits`
    // gauges and EPHEMERAL_STORAGE_GAUGE_METRICS).
    for extra in [
        "ecs.fargate.cpu.task.limit",
        "ecs.fargate.mem.task.limit",
        "ecs.fargate.ephemeral_storage.utilized",
        "ecs.fargate.ephemeral_storage.reserved",
    ] {
        expected.insert(extra.to_string());
    }
    let docs = crate::common::read("docs/datadog.md");
    let start = docs.find("| `ecs.fargate.*` |").expect("the mapping table");
    let mut mapped = BTreeSet::new();
    for row in docs[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
    {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let fargate = cells[1].trim_matches('`').to_string();
        assert!(mapped.insert(fargate.clone()), "{fargate} twice");
        let ours = cells[3];
        if ours.starts_with("none") {
            continue;
        }
        let name = ours.split('`').nth(1).unwrap_or_else(|| panic!("{row}"));
        assert!(
            sent.keys.contains_key(name),
            "{fargate}: {name} is never sent"
        );
        assert!(
            !cells[4].is_empty(),
            "{fargate}: say the conversion, or none"
        );
    }
    assert_eq!(mapped, expected);
}

/// The series counts in docs/datadog.md are those of the goldens (real runs on the
/// captures): per container (without per-CPU and network), per CPU, per interface, task
/// totals, self-telemetry.
#[test]
fn the_series_counts_are_those_of_the_captures() {
    let docs = crate::common::read("docs/datadog.md");
    let start = docs
        .find("| capture | platform |")
        .expect("the counts table");
    let mut rows = 0;
    for row in docs[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
    {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let capture = cells[1].trim_matches('`');
        let documented: Vec<usize> = cells[3..8].iter().map(|c| c.parse().unwrap()).collect();
        let golden = crate::common::read(&format!("testdata/golden/{capture}.txt"));
        let lines: Vec<String> = golden.lines().map(String::from).collect();
        let lines = parse_all(&lines);
        let family = |l: &Line| {
            let name = l.name.trim_start_matches("ecs_task.");
            if name.starts_with("percpu_") {
                "percpu"
            } else if name.starts_with("network_") {
                "network"
            } else if name.starts_with("exporter_") {
                "exporter"
            } else {
                "other"
            }
        };
        let containers: BTreeSet<&str> = lines
            .iter()
            .filter_map(|l| l.tag("container_name"))
            .filter(|c| *c != "_task_")
            .collect();
        let per = |c: &str, fam: &str| {
            lines
                .iter()
                .filter(|l| l.tag("container_name") == Some(c) && family(l) == fam)
                .count()
        };
        let per_container = containers.iter().map(|c| per(c, "other")).max().unwrap();
        let per_cpu = containers
            .iter()
            .map(|c| {
                let cpus: BTreeSet<&str> = lines
                    .iter()
                    .filter(|l| l.tag("container_name") == Some(c))
                    .filter_map(|l| l.tag("cpu"))
                    .collect();
                per(c, "percpu").checked_div(cpus.len()).unwrap_or(0)
            })
            .max()
            .unwrap();
        let per_interface = containers
            .iter()
            .map(|c| {
                let ifs: BTreeSet<&str> = lines
                    .iter()
                    .filter(|l| l.tag("container_name") == Some(c))
                    .filter_map(|l| l.tag("interface"))
                    .collect();
                per(c, "network").checked_div(ifs.len()).unwrap_or(0)
            })
            .max()
            .unwrap();
        let task = lines
            .iter()
            .filter(|l| l.tag("container_name") == Some("_task_"))
            .count();
        let run = lines.iter().filter(|l| family(l) == "exporter").count();
        assert_eq!(
            documented,
            [per_container, per_cpu, per_interface, task, run],
            "{capture}"
        );
        rows += 1;
    }
    assert!(rows >= 4, "{rows}");
}

/// Every `--metrics ...` / `--skip-metrics ...` that docs/datadog.md suggests is accepted,
/// and sends fewer series than a run without it.
#[test]
fn the_lists_the_datadog_page_suggests_are_accepted() {
    let docs = crate::common::read("docs/datadog.md");
    let (all, _) = dry_lines(&[], &[]);
    let mut tried = 0;
    for code in docs.split('`').skip(1).step_by(2) {
        let Some((flag, list)) = code.split_once(' ') else {
            continue;
        };
        if flag != "--metrics" && flag != "--skip-metrics" {
            continue;
        }
        let (fewer, _) = dry_lines(&[flag, list], &[]);
        assert!(fewer.len() < all.len(), "{code}");
        tried += 1;
    }
    assert!(tried >= 3, "{tried}");
}
