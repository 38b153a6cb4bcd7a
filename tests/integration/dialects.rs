//! Each dialect spoken exactly (issue 11): Datadog's tag and name limits applied once for
//! every output, startup rules for the prefix, packet size, EMF namespace and tag format,
//! plain StatsD names (`--tag-format graphite`), and one identity for `exporter_status:0` when
//! the task metadata cannot be read.

use std::collections::BTreeSet;

use serde_json::{Value as Json, json};

use crate::common::{
    EXAMPLE, FakeEndpoint, LOG_ROUTER, Line, MAX_WAIT, QUIET, Response, TempDir, UdpListener, WEB,
    example_endpoint, example_json, example_with, lines, parse_all, read, replay_example, run,
};

/// Datadog's limits (docs.datadoghq.com "Getting started with tags", "Metrics: naming").
const MAX_TAG: usize = 200;

/// `--tag` arguments and environment breaking every rule, and what must survive.
fn hostile_tags(long: &str) -> (Vec<String>, Vec<(&'static str, String)>) {
    let args = [
        "_x:1",
        "9z",
        "container_name:evil",
        "task_family:evil",
        "team:a",
        "team:a",
        long,
    ]
    .iter()
    .flat_map(|t| ["--tag".to_string(), t.to_string()])
    .collect();
    let env = vec![("DD_TAGS", "team:b,__name__:x,-dash".to_string())];
    (args, env)
}

/// The user's tags on a series: everything but the keys ecs-statsd sets.
const BUILT_IN: [&str; 19] = [
    "container_name",
    "interface",
    "cpu",
    "ecs_cluster_name",
    "task_family",
    "task_version",
    "region",
    "aws_account",
    "availability_zone",
    "launch_type",
    "ecs_service",
    "task_name",
    "cluster_name",
    "availability-zone",
    "image_name",
    "image_tag",
    "short_image",
    "docker_image",
    "ecs_container_name",
];

fn user_tags<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> BTreeSet<(String, String)> {
    tags.into_iter()
        .filter(|(k, _)| !BUILT_IN.contains(k) && !k.starts_with('_'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn a_hostile_tag_set_gives_the_same_tags_in_every_format() {
    let long = format!("note:{}", "v".repeat(300));
    let (args, env) = hostile_tags(&long);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let with = |extra: &[&str]| {
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        all.extend_from_slice(extra);
        all.extend_from_slice(&["--log-level", "warn"]);
        let out = replay_example(&all, &env);
        out.assert_success();
        out
    };
    // The user's tags that survive: team:a once, the long one cut to 200 characters whole.
    let wanted: BTreeSet<(String, String)> = [
        ("team".to_string(), "a".to_string()),
        ("note".to_string(), "v".repeat(MAX_TAG - "note:".len())),
    ]
    .into();

    let statsd = with(&["--dry-run"]);
    // One warning per dropped tag, naming it: _x:1, 9z, container_name, task_family,
    // team:b, __name__, -dash (the second team:a is identical and simply sent once).
    let dropped: Vec<&str> = statsd
        .stderr
        .lines()
        .filter(|l| l.contains("dropped"))
        .collect();
    assert_eq!(dropped.len(), 7, "{}", statsd.stderr);
    for name in [
        "_x:1",
        "9z",
        "container_name:evil",
        "task_family:evil",
        "team:b",
        "__name__:x",
        "-dash",
    ] {
        assert_eq!(
            dropped
                .iter()
                .filter(|l| l.contains(&format!("\"{name}\"")))
                .count(),
            1,
            "{name}: {}",
            statsd.stderr
        );
    }
    let plain = parse_all(
        &replay_example(&["--dry-run"], &[])
            .stdout
            .lines()
            .map(String::from)
            .collect::<Vec<_>>(),
    );
    let lines = parse_all(&statsd.stdout.lines().map(String::from).collect::<Vec<_>>());
    assert_eq!(lines.len(), plain.len());
    for (line, plain) in lines.iter().zip(&plain) {
        for (k, v) in &line.tags {
            let whole = if v.is_empty() {
                k.len()
            } else {
                k.len() + 1 + v.len()
            };
            assert!(whole <= MAX_TAG, "{k}: {whole} characters in {line}");
            assert!(k.starts_with(|c: char| c.is_alphabetic()), "{k} in {line}");
        }
        let keys: Vec<&str> = line.tags.iter().map(|(k, _)| k.as_str()).collect();
        let unique: BTreeSet<&str> = keys.iter().copied().collect();
        assert_eq!(keys.len(), unique.len(), "a key twice in {line}");
        // The built-in tags are untouched.
        let builtin = |l: &Line| -> Vec<(String, String)> {
            l.tags
                .iter()
                .filter(|(k, _)| BUILT_IN.contains(&k.as_str()))
                .cloned()
                .collect()
        };
        assert_eq!(builtin(line), builtin(plain));
        assert_eq!(
            user_tags(line.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            wanted,
            "{line}"
        );
    }

    let text = with(&["--format", "prometheus"]).stdout;
    let mut samples = 0;
    for sample in text.lines().filter(|l| !l.starts_with('#')) {
        let labels = sample
            .split_once('{')
            .and_then(|(_, rest)| rest.rsplit_once('}'))
            .map_or("", |(labels, _)| labels);
        let pairs: Vec<(&str, &str)> = labels
            .split("\",")
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once("=\"").unwrap();
                (k, v.trim_end_matches('"'))
            })
            .collect();
        assert!(pairs.iter().all(|(k, _)| !k.starts_with("__")), "{sample}");
        assert_eq!(user_tags(pairs), wanted, "{sample}");
        samples += 1;
    }
    assert!(samples > 50);

    let emf = with(&["--format", "emf"]).stdout;
    let plain_emf = replay_example(&["--format", "emf"], &[]).stdout;
    let dims = |text: &str| -> Vec<Json> {
        text.lines()
            .map(|l| serde_json::from_str::<Json>(l).unwrap()["_aws"]["CloudWatchMetrics"][0]["Dimensions"].clone())
            .collect()
    };
    // Same documents, same dimension sets: the hostile tags neither split nor merge any.
    assert_eq!(dims(&emf), dims(&plain_emf));
    for line in emf.lines() {
        let doc: Json = serde_json::from_str(line).unwrap();
        let strings = doc
            .as_object()
            .unwrap()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)));
        assert_eq!(user_tags(strings), wanted, "{line}");
        assert_ne!(doc["container_name"], "evil");
    }
}

fn usage_error(args: &[&str], env: &[(&str, &str)], says: &[&str]) {
    let out = replay_example(args, env);
    out.assert_code(1);
    assert!(out.stdout.is_empty(), "{}", out.describe());
    let first = out.stderr.lines().next().unwrap_or_default();
    for part in says {
        assert!(first.contains(part), "{args:?}: {part:?} not in {first:?}");
    }
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
}

#[test]
fn names_packets_namespaces_and_tag_formats_are_checked_at_startup() {
    let long = format!("a{}", "b".repeat(249));
    usage_error(&["--prefix", &long], &[], &["--prefix", "200"]);
    usage_error(
        &["--prefix", "a..b", "--dry-run"],
        &[],
        &["--prefix", "'..'"],
    );
    usage_error(
        &["--dry-run"],
        &[("STATSD_PREFIX", "9z")],
        &["STATSD_PREFIX", "letter"],
    );
    usage_error(
        &["--max-packet-size", "511"],
        &[],
        &["--max-packet-size", "512 to 65507"],
    );
    usage_error(
        &["--format", "emf", "--emf-namespace", "AWS/ECS"],
        &[],
        &["--emf-namespace", "AWS/"],
    );
    usage_error(
        &["--format", "emf"],
        &[("EMF_NAMESPACE", ":x")],
        &["EMF_NAMESPACE", "':'"],
    );
    usage_error(
        &["--tag-format", "graphite", "--timestamps"],
        &[],
        &["--tag-format graphite", "--timestamps"],
    );
    usage_error(
        &["--origin-detection"],
        &[("TAG_FORMAT", "graphite")],
        &["TAG_FORMAT", "--origin-detection"],
    );
    usage_error(
        &["--tag-format", "influx"],
        &[],
        &["--tag-format", "dogstatsd or graphite"],
    );
}

#[test]
fn a_line_longer_than_the_packet_size_is_sent_alone_counted_and_warned_once() {
    let endpoint = example_endpoint();
    let listener = UdpListener::new();
    let port = listener.port().to_string();
    let url = endpoint.url();
    // A tag of 200 characters makes nearly every line 550 to 700 bytes (with the identity
    // tags). One tag, not two: the listener reads after the run, so every datagram waits in
    // its receive buffer (212992 bytes by default), which two such tags overflowed.
    let a = format!("a:{}", "x".repeat(198));
    let args = [
        "--metadata-url",
        &url,
        "--statsd-port",
        &port,
        "--interval",
        "0",
        "--no-cache",
        "--max-packet-size",
        "512",
        "--tag",
        &a,
        "--log-level",
        "warn",
    ];
    let out = run(&args, &[]);
    out.assert_success();
    let datagrams = listener.datagrams_until_quiet(QUIET, MAX_WAIT);
    let longer: usize = datagrams
        .iter()
        .flat_map(|d| d.split('\n'))
        .filter(|l| l.len() > 512)
        .count();
    assert!(longer > 50, "{datagrams:?}");
    for datagram in &datagrams {
        // Every datagram ends with its newline, a long line's too (Datadog agents with
        // `dogstatsd_eol_required` drop a line without one).
        assert!(datagram.ends_with('\n'), "no newline: {datagram}");
        if datagram.len() > 512 {
            assert_eq!(
                datagram.matches('\n').count(),
                1,
                "a long line shares its datagram: {datagram}"
            );
        }
    }
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("512-byte"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert!(
        warnings[0].contains(&format!("{longer} line(s) do not fit")),
        "{}",
        warnings[0]
    );
    let all = parse_all(&lines(&datagrams));
    assert_eq!(
        all.len(),
        datagrams.iter().map(|d| d.lines().count()).sum::<usize>()
    );
}

/// The graphite name of a DogStatsD line, by the documented order: prefix, container_name,
/// container_id, interface, `cpu` + cpu, metric name; values path-safe.
pub fn graphite_name(line: &Line) -> String {
    let (prefix, metric) = line.name.split_once('.').unwrap();
    let mut name = prefix.to_string();
    for key in ["container_name", "container_id", "interface", "cpu"] {
        if let Some(v) = line.tag(key) {
            let safe: String = v
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "_-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            name.push('.');
            if key == "cpu" {
                name.push_str("cpu");
            }
            name.push_str(&safe);
        }
    }
    name.push('.');
    name.push_str(metric);
    name
}

#[test]
fn graphite_names_carry_every_series_without_tags() {
    let dogstatsd = parse_all(
        &replay_example(&["--dry-run"], &[])
            .stdout
            .lines()
            .map(String::from)
            .collect::<Vec<_>>(),
    );
    let out = replay_example(
        &["--dry-run", "--tag-format", "graphite", "--tag", "team:a"],
        &[],
    );
    out.assert_success();
    assert!(
        !out.stdout.contains("|#") && !out.stdout.contains("|c:") && !out.stdout.contains("|T")
    );
    let graphite = parse_all(&out.stdout.lines().map(String::from).collect::<Vec<_>>());
    assert_eq!(graphite.len(), dogstatsd.len());
    let names: BTreeSet<&str> = graphite.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names.len(), graphite.len(), "two series share a name");
    for (g, d) in graphite.iter().zip(&dogstatsd) {
        assert!(g.tags.is_empty());
        assert_eq!(g.name, graphite_name(d));
        assert_eq!(g.raw_value, d.raw_value, "{g}");
    }
    for example in [
        "ecs_task.web.mem_usage",
        "ecs_task._task_.mem_usage",
        "ecs_task.web.eth1.network_rx_bytes_total",
        "ecs_task.web.cpu0.percpu_usage_ratio",
        "ecs_task.exporter_status",
    ] {
        assert!(names.contains(example), "{example} not in {names:?}");
    }
}

// Graphite names keep only container_name of a container's tags: two containers whose
// names share their first 200 characters collide there even when their images differ.
#[test]
fn graphite_names_keep_containers_apart_that_only_their_tags_told_apart() {
    let stem = "a".repeat(200);
    let dir = example_with(|task| {
        task["Containers"][0]["Name"] = json!(format!("{stem}{}", "x".repeat(55)));
        task["Containers"][1]["Name"] = json!(format!("{stem}{}", "y".repeat(55)));
    });
    let dir = dir.path().to_str().unwrap();
    let args = ["--metadata-url", dir, "--dry-run", "--log-level", "warn"];
    let dogstatsd = run(&args, &[]);
    dogstatsd.assert_success();
    assert!(
        !dogstatsd.stdout.contains("container_id:"),
        "tags told them apart"
    );
    let out = run(&[&args[..], &["--tag-format", "graphite"]].concat(), &[]);
    out.assert_success();
    let got = parse_all(&out.stdout.lines().map(String::from).collect::<Vec<_>>());
    let mut seen = BTreeSet::new();
    for line in &got {
        assert!(seen.insert(line.name.as_str()), "sent twice: {line}");
    }
    let sent_name = &stem[..MAX_TAG - "container_name:".len()];
    let stats2 = example_json("stats2.json");
    for id in [WEB, LOG_ROUTER] {
        let usage = stats2[id]["memory_stats"]["usage"].as_u64().unwrap() as f64;
        let name = format!("ecs_task.{sent_name}.{id}.mem_usage");
        let line = got.iter().find(|l| l.name == name);
        assert_eq!(line.map(|l| l.value), Some(usage), "{name}: {}", out.stdout);
    }
    let warnings = out.stderr.lines().filter(|l| l.contains("collide")).count();
    assert_eq!(warnings, 1, "{}", out.describe());
}

/// `exporter_status` as a normal run and a failing one send it: the DogStatsD tags and the
/// EMF dimension set (with their values).
struct Status {
    code: Option<i32>,
    value: f64,
    tags: BTreeSet<(String, String)>,
    dimensions: Vec<(String, String)>,
}

fn status(endpoint: &FakeEndpoint, cache: &TempDir) -> Status {
    let cache_file = cache.join("metadata.json");
    let url = endpoint.url();
    let common = [
        "--metadata-url",
        url.as_str(),
        "--interval",
        "0",
        "--cache-file",
        cache_file.to_str().unwrap(),
        "--tag",
        "team:a",
        "--timeout",
        "1",
    ];
    let mut statsd = common.to_vec();
    statsd.push("--dry-run");
    let out = run(&statsd, &[]);
    let line = parse_all(&out.stdout.lines().map(String::from).collect::<Vec<_>>())
        .into_iter()
        .find(|l| l.name == "ecs_task.exporter_status")
        .unwrap_or_else(|| panic!("no exporter_status\n{}", out.describe()));
    let mut emf = common.to_vec();
    emf.extend(["--format", "emf"]);
    let doc: Json = run(&emf, &[])
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Json>(l).unwrap())
        .find(|d| d.get("exporter_status").is_some())
        .expect("no EMF document with exporter_status");
    let dimensions = doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let d = d.as_str().unwrap();
            (d.to_string(), doc[d].as_str().unwrap().to_string())
        })
        .collect();
    Status {
        code: out.status,
        value: line.value,
        tags: line.tags.into_iter().collect(),
        dimensions,
    }
}

fn failing(endpoint: &FakeEndpoint, root: Response) {
    endpoint.set_route("/task", [Response::not_found()]);
    endpoint.set_route("/task/stats", [Response::not_found()]);
    endpoint.set_route("/", [root]);
}

#[test]
fn exporter_status_0_carries_the_normal_identity() {
    let normal = status(&example_endpoint(), &TempDir::new());
    assert_eq!((normal.code, normal.value), (Some(0), 1.0));
    let dims: Vec<&str> = normal.dimensions.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(dims, ["ecs_cluster_name", "task_family", "container_name"]);

    // A cache for this endpoint (written by a normal run): the very same tags and dimensions.
    let endpoint = example_endpoint();
    let cache = TempDir::new();
    status(&endpoint, &cache);
    failing(&endpoint, Response::not_found());
    let cached = status(&endpoint, &cache);
    assert_eq!((cached.code, cached.value), (Some(2), 0.0));
    assert_eq!(cached.tags, normal.tags);
    assert_eq!(cached.dimensions, normal.dimensions);

    // A first run, only the endpoint root answering (this container's metadata, as ECS
    // serves it: one of the task's containers): the identity its ECS labels give, the
    // same EMF dimensions.
    let task: Json = serde_json::from_str(&read(&format!("{EXAMPLE}/task.json"))).unwrap();
    let root = task["Containers"][0].to_string();
    let endpoint = example_endpoint();
    failing(&endpoint, Response::ok(root));
    let labelled = status(&endpoint, &TempDir::new());
    assert_eq!((labelled.code, labelled.value), (Some(2), 0.0));
    assert_eq!(labelled.dimensions, normal.dimensions);
    assert!(labelled.tags.is_subset(&normal.tags), "{:?}", labelled.tags);
    let keys: BTreeSet<&str> = labelled.tags.iter().map(|(k, _)| k.as_str()).collect();
    let from_labels = [
        "ecs_cluster_name",
        "cluster_name",
        "task_family",
        "task_name",
        "task_version",
        "region",
        "aws_account",
        "team",
    ];
    assert_eq!(keys, from_labels.into());

    // Nothing answering and no cache: the documented minimal set, the constant tags.
    let endpoint = example_endpoint();
    failing(&endpoint, Response::not_found());
    let bare = status(&endpoint, &TempDir::new());
    assert_eq!((bare.code, bare.value), (Some(2), 0.0));
    assert_eq!(bare.tags, [("team".to_string(), "a".to_string())].into());
    assert_eq!(
        bare.dimensions,
        [("container_name".to_string(), "_task_".to_string())]
    );
}

#[test]
fn reserved_prometheus_label_names_never_reach_the_file() {
    // `__name__` breaks Datadog's first-letter rule (dropped with a warning); `éé` starts with
    // a letter, but is `__` as a label name: renamed, with a warning.
    let out = replay_example(
        &[
            "--format",
            "prometheus",
            "--tag",
            "__name__:x",
            "--tag",
            "éé:y",
            "--log-level",
            "warn",
        ],
        &[],
    );
    out.assert_success();
    let warned = |what: &str| out.stderr.lines().filter(|l| l.contains(what)).count();
    assert_eq!(
        warned("\"__name__:x\" from --tag dropped"),
        1,
        "{}",
        out.stderr
    );
    assert_eq!(
        warned("reserves label names starting with __: tag(s) éé"),
        1,
        "{}",
        out.stderr
    );
    for sample in out.stdout.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            !sample.contains("{__") && !sample.contains(",__"),
            "{sample}"
        );
        assert!(sample.contains("tag__=\"y\""), "{sample}");
    }
    // promtool, when installed (.ci/run installs it), accepts the file.
    let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    if let Some(promtool) = promtool {
        use std::io::Write;
        let mut child = std::process::Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(out.stdout.as_bytes())
            .unwrap();
        let checked = child.wait_with_output().unwrap();
        assert!(
            checked.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
    }
}

/// EMF: CloudWatch tells metrics apart by their dimensions alone, so containers whose
/// dimension values are equal (two names equal in their first 185 characters, images
/// different; a container named `_task_` beside the task totals) would share one CloudWatch
/// metric. Such a container gets `container_id` as a dimension too, with one warning; the
/// others keep the usual dimension set, and no (dimensions, metric) pair is sent twice.
#[test]
fn emf_keeps_containers_apart_that_only_their_properties_told_apart() {
    let stem = "a".repeat(200);
    let long_names = example_with(|task| {
        task["Containers"][0]["Name"] = json!(format!("{stem}{}", "x".repeat(55)));
        task["Containers"][1]["Name"] = json!(format!("{stem}{}", "y".repeat(55)));
    });
    let named_task = example_with(|task| task["Containers"][0]["Name"] = json!("_task_"));
    let stats2 = example_json("stats2.json");
    for (dir, apart) in [
        (&long_names, vec![WEB, LOG_ROUTER]),
        (&named_task, vec![WEB]),
    ] {
        let dir = dir.path().to_str().unwrap();
        let args = [
            "--metadata-url",
            dir,
            "--format",
            "emf",
            "--log-level",
            "warn",
        ];
        let out = run(&args, &[]);
        out.assert_success();
        let warnings = out.stderr.lines().filter(|l| l.contains("collide")).count();
        assert_eq!(warnings, 1, "{}", out.describe());
        let docs: Vec<Json> = out
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let mut seen = BTreeSet::new();
        for doc in &docs {
            crate::common::emf_spec::validate_emf_document(doc).unwrap();
            let directive = &doc["_aws"]["CloudWatchMetrics"][0];
            let keys: Vec<String> = directive["Dimensions"][0]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap().to_string())
                .collect();
            let values: Vec<String> = keys.iter().map(|k| doc[k].to_string()).collect();
            let by_id = keys.iter().any(|k| k == "container_id");
            let id = doc["container_id"].as_str();
            assert_eq!(by_id, id.is_some_and(|id| apart.contains(&id)), "{doc}");
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap().to_string();
                assert!(
                    seen.insert((keys.clone(), values.clone(), name.clone())),
                    "one CloudWatch metric twice: {name} {keys:?} {values:?}"
                );
            }
            // Each container's own value under its own dimensions.
            if let (Some(id), Some(usage)) = (id, doc["mem_usage"].as_f64()) {
                assert_eq!(usage, stats2[id]["memory_stats"]["usage"].as_f64().unwrap());
            }
        }
    }
}

/// Issue 17 §4, end to end: two Linux interfaces whose names tag alike (`eth#0`, `eth!0`) and
/// two that only graphite names merge (`eth.1`, `eth_1`) in both containers. Each output sends
/// every interface's own counters under its own identity (a mark from the name where they
/// would be equal), and the run warns once.
#[test]
fn interfaces_named_alike_stay_apart_in_every_format() {
    let interfaces = ["eth#0", "eth!0", "eth.1", "eth_1"];
    let dir = crate::common::example_edited(
        |_| {},
        |stats| {
            for entry in stats.as_object_mut().unwrap().values_mut() {
                let template = entry["networks"]["eth1"].clone();
                let mut networks = serde_json::Map::new();
                for (n, name) in interfaces.iter().enumerate() {
                    let mut counters = template.clone();
                    for v in counters.as_object_mut().unwrap().values_mut() {
                        *v = json!(v.as_u64().unwrap() * 10 + n as u64);
                    }
                    networks.insert(name.to_string(), counters);
                }
                entry["networks"] = Json::Object(networks);
            }
        },
    );
    let dir = dir.path().to_str().unwrap();
    // The rx bytes each (container, interface) read, as sent: all of them, each once.
    let stats2 = example_json("stats2.json");
    let wanted: BTreeSet<u64> = [WEB, LOG_ROUTER]
        .iter()
        .flat_map(|id| {
            let rx = stats2[id]["networks"]["eth1"]["rx_bytes"].as_u64().unwrap();
            (0..interfaces.len() as u64).map(move |n| rx * 10 + n)
        })
        .collect();
    let run_with = |extra: &[&str]| {
        let args = [&["--metadata-url", dir, "--log-level", "warn"], extra].concat();
        let out = run(&args, &[]);
        out.assert_success();
        let warnings = out.stderr.lines().filter(|l| l.contains("collide")).count();
        assert_eq!(warnings, 1, "{}", out.describe());
        out
    };
    let check = |what: &str, sent: Vec<(String, u64)>| {
        let identities: BTreeSet<&String> = sent.iter().map(|(i, _)| i).collect();
        assert_eq!(identities.len(), sent.len(), "{what}: {sent:?}");
        let values: BTreeSet<u64> = sent.iter().map(|(_, v)| *v).collect();
        assert_eq!(values, wanted, "{what}: {sent:?}");
    };
    let rx_lines = |out: &crate::common::Run| -> Vec<Line> {
        parse_all(&out.stdout.lines().map(String::from).collect::<Vec<_>>())
            .into_iter()
            .filter(|l| l.name.ends_with("network_rx_bytes_total") && !l.name.contains("_task_"))
            .filter(|l| l.tag("container_name") != Some("_task_"))
            .collect()
    };
    let dogstatsd = rx_lines(&run_with(&["--dry-run"]));
    check(
        "dogstatsd",
        dogstatsd
            .iter()
            .map(|l| (format!("{:?}", l.tags), l.value as u64))
            .collect(),
    );
    // Names untouched where nothing collides in this output: eth.1 and eth_1 as tags.
    for plain in ["eth.1", "eth_1"] {
        assert_eq!(
            dogstatsd
                .iter()
                .filter(|l| l.tag("interface") == Some(plain))
                .count(),
            2,
            "{plain}"
        );
    }
    let graphite = rx_lines(&run_with(&["--dry-run", "--tag-format", "graphite"]));
    check(
        "graphite",
        graphite
            .iter()
            .map(|l| (l.name.clone(), l.value as u64))
            .collect(),
    );
    let text = run_with(&["--format", "prometheus"]).stdout;
    let samples = crate::common::prometheus_spec::parse(&text).unwrap();
    check(
        "prometheus",
        samples
            .into_iter()
            .filter(|(name, labels, _)| {
                name.ends_with("network_rx_bytes_total")
                    && !labels
                        .iter()
                        .any(|(k, v)| k == "container_name" && v == "_task_")
            })
            .map(|(_, labels, value)| (format!("{labels:?}"), value.parse().unwrap()))
            .collect(),
    );
    let emf = run_with(&["--format", "emf"]).stdout;
    let mut sent = Vec::new();
    for doc in emf
        .lines()
        .map(|l| serde_json::from_str::<Json>(l).unwrap())
    {
        let (Some(value), Some(interface)) = (
            doc["network_rx_bytes_total"].as_u64(),
            doc["interface"].as_str(),
        ) else {
            continue;
        };
        let keys = doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0].clone();
        assert!(
            keys.as_array().unwrap().contains(&json!("interface")),
            "{doc}"
        );
        let dimensions: Vec<String> = keys
            .as_array()
            .unwrap()
            .iter()
            .map(|k| doc[k.as_str().unwrap()].to_string())
            .collect();
        assert!(!interface.is_empty());
        sent.push((format!("{dimensions:?}"), value));
    }
    check("emf", sent);
}
