//! Fitting the ecosystem: where the DogStatsD lines go (precedence, Unix sockets), Datadog tag
//! conventions, the container and timestamp fields, Prometheus and EMF on stdout, and
//! `--capture` replays.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::emf_spec::validate_emf_document;
use crate::common::{
    EXAMPLE, LOG_ROUTER, Line, MAX_WAIT, QUIET, TempDir, UdpListener, UnixDgramListener, WEB,
    example_endpoint, find, lines, parse_all, read, root, run, run_live, run_udp, spawn, value,
    wait_with_timeout,
};

#[test]
fn destination_precedence() {
    let endpoint = example_endpoint();
    let (a, b, c) = (UdpListener::new(), UdpListener::new(), UdpListener::new());
    let (pa, pb, pc) = (
        a.port().to_string(),
        b.port().to_string(),
        c.port().to_string(),
    );
    let got = |l: &UdpListener| !l.datagrams_until_quiet(QUIET, MAX_WAIT).is_empty();
    let url_b = format!("udp://127.0.0.1:{pb}");

    // 1. Flags beat every variable.
    let env = [
        ("DD_DOGSTATSD_URL", url_b.as_str()),
        ("DD_AGENT_HOST", "127.0.0.1"),
        ("DD_DOGSTATSD_PORT", &pc),
    ];
    run_live(&endpoint, &["--statsd-port", &pa], &env).assert_success();
    assert!(got(&a) && !got(&b) && !got(&c), "rule 1");
    // 2. DD_DOGSTATSD_URL beats DD_AGENT_HOST and STATSD_*.
    let env = [
        ("DD_DOGSTATSD_URL", url_b.as_str()),
        ("DD_AGENT_HOST", "127.0.0.1"),
        ("DD_DOGSTATSD_PORT", &pc),
        ("STATSD_HOST", "127.0.0.1"),
        ("STATSD_PORT", &pa),
    ];
    run_live(&endpoint, &[], &env).assert_success();
    assert!(!got(&a) && got(&b) && !got(&c), "rule 2");
    // 3. DD_AGENT_HOST + DD_DOGSTATSD_PORT beat STATSD_*.
    let env = [
        ("DD_AGENT_HOST", "127.0.0.1"),
        ("DD_DOGSTATSD_PORT", &pc),
        ("STATSD_HOST", "127.0.0.1"),
        ("STATSD_PORT", &pa),
    ];
    run_live(&endpoint, &[], &env).assert_success();
    assert!(!got(&a) && !got(&b) && got(&c), "rule 3");
    // 4. The ancestor's STATSD_HOST/STATSD_PORT.
    run_live(
        &endpoint,
        &[],
        &[("STATSD_HOST", "127.0.0.1"), ("STATSD_PORT", &pb)],
    )
    .assert_success();
    assert!(!got(&a) && got(&b) && !got(&c), "rule 4");
    // A malformed URL is a usage error naming the variable.
    let out = run_live(&endpoint, &[], &[("DD_DOGSTATSD_URL", "tcp://x:1")]);
    out.assert_code(1);
    assert!(
        out.stderr.contains("DD_DOGSTATSD_URL"),
        "{}",
        out.describe()
    );
}

#[test]
fn unix_socket_gets_packed_datagrams_of_at_most_8192_bytes() {
    let endpoint = example_endpoint();
    let listener = UnixDgramListener::new();
    let path = listener.path_str();
    run_live(&endpoint, &["--statsd-socket", &path], &[]).assert_success();
    let datagrams = listener.datagrams_until_quiet(QUIET, MAX_WAIT);
    assert!(datagrams.iter().all(|d| d.len() <= 8192));
    let first_run = lines(&datagrams);
    let bytes: usize = first_run.iter().map(|l| l.len() + 1).sum();
    assert!(
        bytes > 8192,
        "the run is large enough to need two datagrams ({bytes} bytes)"
    );
    for pair in datagrams.windows(2) {
        let next = pair[1].lines().next().unwrap();
        assert!(pair[0].len() + next.len() + 1 > 8192, "not packed");
    }
    assert_eq!(
        value(&parse_all(&first_run), "ecs_task.exporter_status", &[]),
        1.0
    );

    // The same through DD_DOGSTATSD_URL=unix://, and --max-packet-size overriding the size.
    // More datagrams than a Unix socket queues by default (10): read while the run sends.
    let url = format!("unix://{path}");
    let endpoint = example_endpoint();
    let endpoint_url = endpoint.url();
    let child = spawn(
        &[
            "--metadata-url",
            &endpoint_url,
            "--interval",
            "0",
            "--no-cache",
            "--max-packet-size",
            "2048",
        ],
        &[("DD_DOGSTATSD_URL", &url)],
    );
    let datagrams = listener.datagrams_until_quiet(Duration::from_secs(1), Duration::from_secs(20));
    wait_with_timeout(child, Duration::from_secs(20)).assert_success();
    assert!(datagrams.len() > 10 && datagrams.iter().all(|d| d.len() <= 2048));
    assert_eq!(lines(&datagrams).len(), first_run.len());
}

/// An agent that stops reading: the socket queue fills, each blocked datagram waits briefly,
/// is counted as dropped, and the run exits 3 saying how many were lost, instead of hanging.
#[test]
fn a_full_socket_queue_drops_counts_and_exits_3() {
    let endpoint = example_endpoint();
    let listener = UnixDgramListener::new();
    let out = run_live(
        &endpoint,
        &[
            "--statsd-socket",
            &listener.path_str(),
            "--max-packet-size",
            "512",
        ],
        &[],
    );
    out.assert_code(3);
    assert!(
        out.stderr.contains("could not be sent"),
        "{}",
        out.describe()
    );
    // One error line; the stall itself is one warning (the default level is warn).
    let count = |prefix: &str| out.stderr.lines().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(
        count("ecs-statsd: error"),
        1,
        "reported once: {}",
        out.describe()
    );
    assert_eq!(count("WARN"), 1, "{}", out.describe());
    assert_eq!(out.stderr.lines().count(), 2, "{}", out.describe());
}

#[test]
fn a_missing_socket_is_exit_3_naming_the_path() {
    let dir = TempDir::new();
    let path = dir.join("dsd.socket");
    let endpoint = example_endpoint();
    let out = run_live(&endpoint, &["--statsd-socket", path.to_str().unwrap()], &[]);
    out.assert_code(3);
    assert!(
        out.stderr.contains(path.to_str().unwrap()),
        "{}",
        out.describe()
    );
    assert!(
        out.stderr.contains("DD_DOGSTATSD_SOCKET"),
        "{}",
        out.describe()
    );
    assert_eq!(
        endpoint.total_requests(),
        0,
        "fails before reading the endpoint"
    );
    // A path that exists but has no listener: the same.
    std::fs::write(&path, b"").unwrap();
    run_live(&endpoint, &["--statsd-socket", path.to_str().unwrap()], &[]).assert_code(3);
}

#[test]
fn unified_and_constant_tags_on_every_line() {
    let endpoint = example_endpoint();
    let listener = UdpListener::new();
    let port = listener.port().to_string();
    let env = [
        ("DD_ENV", "prod"),
        ("DD_SERVICE", "checkout api"),
        ("DD_VERSION", "1.4.2"),
        ("DD_TAGS", "team:payments,tier:1 canary"),
        ("DATADOG_TAGS", "cost-center:42"),
        ("DD_ENTITY_ID", "abc-123"),
    ];
    run_live(
        &endpoint,
        &[
            "--statsd-port",
            &port,
            "--tag",
            "owner:a|b",
            "--tag",
            "zone:x,y",
        ],
        &env,
    )
    .assert_success();
    let got = parse_all(&lines(&listener.datagrams_until_quiet(QUIET, MAX_WAIT)));
    assert!(got.len() > 50);
    for line in &got {
        for (k, v) in [
            ("env", "prod"),
            ("service", "checkout_api"),
            ("version", "1.4.2"),
            ("team", "payments"),
            ("tier", "1"),
            ("canary", ""),
            ("cost-center", "42"),
            ("owner", "a_b"),
            ("zone", "x_y"),
            ("dd.internal.entity_id", "abc-123"),
        ] {
            assert!(line.has_tag(k, v), "{k}:{v} missing on {line}");
        }
    }
}

#[test]
fn origin_detection_and_timestamps_fields() {
    let endpoint = example_endpoint();
    let listener = UdpListener::new();
    let port = listener.port().to_string();
    run_live(
        &endpoint,
        &["--statsd-port", &port, "--origin-detection", "--timestamps"],
        &[],
    )
    .assert_success();
    let got = parse_all(&lines(&listener.datagrams_until_quiet(QUIET, MAX_WAIT)));
    let stats2: Value = serde_json::from_str(&read(&format!("{EXAMPLE}/stats2.json"))).unwrap();
    // The last sample's latest read time in whole seconds: 2024-05-14T10:00:10Z is
    // 1715680800 (10:00:00Z, `date -d ... +%s`) + 10.
    let latest = stats2
        .as_object()
        .unwrap()
        .values()
        .filter_map(|s| s["read"].as_str())
        .max()
        .unwrap()
        .to_string();
    assert!(latest.starts_with("2024-05-14T10:00:10.011"), "{latest}");
    let expected_t = 1_715_680_810;
    for line in &got {
        assert_eq!(line.timestamp, Some(expected_t), "{line}");
        match line.tag("container_name") {
            Some("web") => assert_eq!(line.container.as_deref(), Some(WEB), "{line}"),
            Some("_task_") | None => assert_eq!(line.container, None, "{line}"),
            Some(_) => assert!(line.container.is_some(), "{line}"),
        }
    }
    // Both off by default.
    let (out, plain) = run_udp(&endpoint, &[], &TempDir::new());
    out.assert_success();
    assert!(
        parse_all(&lines(&plain))
            .iter()
            .all(|l| l.container.is_none() && l.timestamp.is_none())
    );
}

/// Issue 17 §5: the `|c:` field is sent only for an ID both Datadog parsers read as that one
/// ID (ASCII letters, digits, `-`; see `src/output/origin.rs` for the agent and saluki
/// sources). A `|` would start fields of its own, `_ . :` make saluki refuse the whole line,
/// `,` makes the Go agent split it, `ci-`/`in-` are prefixes the Go agent strips. Such a
/// container's lines go without the field, its tags intact, with one warning for the run.
#[test]
fn the_container_field_carries_only_ids_every_agent_reads_whole() {
    for bad in [
        "id|with|pipe",
        "id|#injected:tag",
        "a_b.c:d",
        "a,b",
        "ci-158d1c80",
        "in-4026531835",
    ] {
        let dir = crate::common::example_edited(
            |task| task["Containers"][1]["DockerId"] = json!(bad),
            |stats| {
                let map = stats.as_object_mut().unwrap();
                let entry = map.remove(LOG_ROUTER).unwrap();
                map.insert(bad.to_string(), entry);
            },
        );
        let dir = dir.path().to_str().unwrap();
        let args = [
            "--metadata-url",
            dir,
            "--dry-run",
            "--origin-detection",
            "--log-level",
            "warn",
        ];
        let out = run(&args, &[]);
        out.assert_success();
        // Strict: a field the harness reads as saluki does (`c:` of [A-Za-z0-9-] only).
        let got = parse_all(&out.stdout.lines().map(String::from).collect::<Vec<_>>());
        let router: Vec<&Line> = got
            .iter()
            .filter(|l| l.tag("container_name") == Some("log-router"))
            .collect();
        let web: Vec<&Line> = got
            .iter()
            .filter(|l| l.tag("container_name") == Some("web"))
            .collect();
        assert!(router.len() > 20 && web.len() > 20, "{bad}: {}", out.stdout);
        for line in &router {
            assert_eq!(line.container, None, "{bad}: {line}");
            assert!(line.tag("injected").is_none(), "{bad}: {line}");
        }
        for line in &web {
            assert_eq!(line.container.as_deref(), Some(WEB), "{line}");
        }
        let warnings: Vec<&str> = out.stderr.lines().filter(|l| l.contains("|c:")).collect();
        assert_eq!(warnings.len(), 1, "{bad}: {}", out.describe());
        assert!(
            warnings[0].contains(&format!("{bad:?}")),
            "{bad}: {}",
            warnings[0]
        );
    }
}

fn stdout_of(args: &[&str]) -> String {
    let example = root().join(EXAMPLE);
    let mut all = vec!["--metadata-url", example.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = run(&all, &[]);
    out.assert_success();
    out.stdout
}

#[test]
fn prometheus_text_has_the_same_values_as_dogstatsd() {
    let statsd: Vec<Line> = parse_all(
        &stdout_of(&["--dry-run"])
            .lines()
            .map(String::from)
            .collect::<Vec<_>>(),
    );
    let text = stdout_of(&["--format", "prometheus"]);
    let mut families = 0;
    let mut samples = 0;
    for line in text.lines() {
        if line.starts_with("# TYPE ") {
            families += 1;
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        samples += 1;
        let (series, number) = line.rsplit_once(' ').unwrap();
        let name = series.split('{').next().unwrap();
        let container = series
            .split("container_name=\"")
            .nth(1)
            .map(|r| r.split('"').next().unwrap());
        let interface = series
            .split("interface=\"")
            .nth(1)
            .map(|r| r.split('"').next().unwrap());
        let statsd_name = name
            .replacen("ecs_task_", "ecs_task.", 1)
            .replace("_per_second", "_per_sec");
        let mut tags = Vec::new();
        if let Some(c) = container {
            tags.push(("container_name", c));
        }
        if let Some(i) = interface {
            tags.push(("interface", i));
        }
        if series.contains("cpu=\"") {
            continue; // per-CPU: checked by the unit round trip
        }
        let same = find(&statsd, &statsd_name, &tags);
        assert!(
            same.iter().any(|l| l.raw_value == number),
            "{line}: {same:?}"
        );
    }
    assert_eq!(samples, statsd.len());
    let names: std::collections::BTreeSet<&str> = statsd.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(families, names.len(), "one # TYPE per family");
}

#[test]
fn emf_documents_meet_the_specification() {
    let text = stdout_of(&["--format", "emf", "--emf-namespace", "Team/ECS"]);
    let docs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let statsd: Vec<Line> = parse_all(
        &stdout_of(&["--dry-run"])
            .lines()
            .map(String::from)
            .collect::<Vec<_>>(),
    );
    assert!(
        docs.len() >= 3,
        "one per container, one for the task (and per interface/CPU)"
    );
    let mut task_doc = None;
    for doc in &docs {
        validate_emf_document(doc).unwrap_or_else(|e| panic!("{e}: {doc}"));
        let aws = &doc["_aws"];
        assert_eq!(aws["CloudWatchMetrics"][0]["Namespace"], "Team/ECS");
        // The last sample's time in ms: 2024-05-14T10:00:10.011029337Z.
        assert_eq!(aws["Timestamp"].as_u64(), Some(1_715_680_810_011), "{doc}");
        let dims: Vec<&str> = aws["CloudWatchMetrics"][0]["Dimensions"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        assert_eq!(
            &dims[..3],
            ["ecs_cluster_name", "task_family", "container_name"],
            "{doc}"
        );
        if doc["container_name"] == "_task_" && dims.len() == 3 {
            task_doc = Some(doc);
        }
    }
    let task_doc = task_doc.expect("a task document");
    let task_mem = value(
        &statsd,
        "ecs_task.mem_usage",
        &[("container_name", "_task_")],
    );
    assert_eq!(task_doc["mem_usage"].as_f64(), Some(task_mem));
    assert_eq!(task_doc["exporter_status"].as_f64(), Some(1.0));
    let units: Vec<(&str, &str)> = task_doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["Name"].as_str().unwrap(), m["Unit"].as_str().unwrap()))
        .collect();
    assert!(units.contains(&("mem_usage", "Bytes")), "{units:?}");
    assert!(units.contains(&("cpu_usage_ratio", "None")), "{units:?}");
    // Every statsd value appears in some document.
    for line in &statsd {
        let name = line.name.trim_start_matches("ecs_task.");
        let found = docs.iter().any(|d| {
            d[name].as_f64() == Some(line.value)
                && line
                    .tags
                    .iter()
                    .all(|(k, v)| d[k.as_str()].as_str() == Some(v.as_str()))
        });
        assert!(found, "{line} not in any EMF document");
    }
}

#[test]
fn capture_then_replay_gives_the_same_lines() {
    let endpoint = example_endpoint();
    let capture = TempDir::new();
    let listener = UdpListener::new();
    let port = listener.port().to_string();
    let dir = capture.join("run");
    run_live(
        &endpoint,
        &[
            "--statsd-port",
            &port,
            "--capture",
            dir.to_str().unwrap(),
            "--timestamps",
        ],
        &[],
    )
    .assert_success();
    let mut live: Vec<String> = lines(&listener.datagrams_until_quiet(QUIET, MAX_WAIT))
        .into_iter()
        // Wall-clock figures of the live run only (documented), and the series count, which
        // counts those two.
        .filter(|l| {
            !l.contains("exporter_fetch_seconds")
                && !l.contains("exporter_run_seconds")
                && !l.contains("exporter_series:")
        })
        .collect();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "container.json",
            "stats001.json",
            "stats002.json",
            "task.json"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("task.json")).unwrap(),
        read(&format!("{EXAMPLE}/task.json"))
    );
    let out = run(
        &[
            "--metadata-url",
            dir.to_str().unwrap(),
            "--dry-run",
            "--timestamps",
        ],
        &[],
    );
    out.assert_success();
    let mut replayed: Vec<String> = (out.stdout.lines())
        .filter(|l| !l.contains("exporter_series:"))
        .map(String::from)
        .collect();
    live.sort();
    replayed.sort();
    assert_eq!(live, replayed);
}
