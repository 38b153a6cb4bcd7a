//! Issue 12 (part B): never report healthy while failing, never freeze or mix up numbers.
//! Each test is one recipe of the issue made into a run of the built binary against the fake
//! endpoint and real sockets; expected values come from the served JSON.

use std::fs;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{
    EXAMPLE, FakeEndpoint, LOG_ROUTER, Line, MAX_WAIT, MIB, QUIET, Response, Run, TempDir,
    UdpListener, UnixDgramListener, WEB, example_endpoint, example_json, example_with, lines,
    parse_all, prometheus_spec, read, run, run_udp, spawn, value, wait_with_timeout,
};

/// A UDP port with nothing bound to it (bound, read, released).
fn dead_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn quiet(listener: &UdpListener) -> Vec<Line> {
    parse_all(&lines(&listener.datagrams_until_quiet(QUIET, MAX_WAIT)))
}

/// The `N of M` counts of the run's one send error line.
fn lost_of(out: &Run) -> (usize, usize) {
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("could not be sent"))
        .unwrap_or_else(|| panic!("no send error line\n{}", out.describe()));
    let words: Vec<&str> = line.split_whitespace().collect();
    let of = words.iter().position(|w| *w == "of").expect("`N of M`");
    (
        words[of - 1].parse().unwrap(),
        words[of + 1].parse().unwrap(),
    )
}

/// How many lines a healthy `--dry-run` of the example prints (the same metrics a run sends).
fn example_line_count() -> usize {
    let endpoint = example_endpoint();
    let cache = TempDir::new();
    let out = run(
        &[
            "--metadata-url",
            &endpoint.url(),
            "--interval",
            "0",
            "--dry-run",
            "--cache-file",
            cache.join("m.json").to_str().unwrap(),
        ],
        &[],
    );
    out.assert_success();
    out.stdout.lines().count()
}

// Item 5: a crashed agent (nothing on the UDP port) must not look healthy.
#[test]
fn udp_to_a_port_with_no_listener_exits_3() {
    let endpoint = example_endpoint();
    let port = dead_udp_port().to_string();
    let out = run(
        &[
            "--metadata-url",
            &endpoint.url(),
            "--statsd-port",
            &port,
            "--interval",
            "0",
            "--no-cache",
            // Several datagrams, so a refusal is seen on a later send or as the pending error.
            "--max-packet-size",
            "512",
        ],
        &[],
    );
    out.assert_code(3);
    let last = out.stderr.lines().last().unwrap_or("");
    assert!(last.contains("refused"), "{}", out.describe());
    let (lost, of) = lost_of(&out);
    assert!(lost > 0 && lost <= of, "{}", out.describe());
}

// The endpoint and the agent both down: the endpoint failure stays the run's (exit 2, the URL
// named), and the one error line says the exporter_status:0 was not delivered either.
#[test]
fn endpoint_and_agent_both_down_is_exit_2_naming_both() {
    let endpoint = FakeEndpoint::new().route("/task", [Response::not_found()]);
    let port = dead_udp_port().to_string();
    let out = run(
        &[
            "--metadata-url",
            &endpoint.url(),
            "--statsd-port",
            &port,
            "--interval",
            "0",
            "--no-cache",
        ],
        &[],
    );
    out.assert_code(2);
    let last = out.stderr.lines().last().unwrap_or("");
    assert!(
        last.contains("metadata endpoint failed")
            && last.contains(&endpoint.url())
            && last.contains("sending failed too")
            && last.contains("could not be sent"),
        "{}",
        out.describe()
    );
}

// Item 7: /dev/full accepts nothing, so nothing was sent.
#[test]
fn dry_run_into_dev_full_counts_every_line_as_lost() {
    let total = example_line_count();
    let endpoint = example_endpoint();
    let cache = TempDir::new();
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut cmd = Command::new(crate::common::bin());
    cmd.args([
        "--metadata-url",
        &endpoint.url(),
        "--interval",
        "0",
        "--dry-run",
        "--cache-file",
        cache.join("m.json").to_str().unwrap(),
    ])
    .env_clear()
    .stdin(Stdio::null())
    .stdout(full)
    .stderr(Stdio::piped());
    let out = wait_with_timeout(cmd.spawn().unwrap(), Duration::from_secs(30));
    out.assert_code(3);
    assert_eq!(lost_of(&out), (total, total), "{}", out.describe());
    // The hint points at stdout, not at an agent this run never talked to.
    assert!(
        out.stderr.contains("check that stdout") && !out.stderr.contains("agent"),
        "{}",
        out.describe()
    );
}

/// 42 tags of 200 characters (the issue's case): every line as long as a DogStatsD line may
/// be, near a stdout chunk (8 KiB) and far over the UDP packet size.
fn long_tags() -> Vec<String> {
    (0..42)
        .flat_map(|i| ["--tag".to_string(), format!("t{i:02}:{}", "v".repeat(196))])
        .collect()
}

/// Every line ends with a newline in every output: `--dry-run` on stdout, into
/// `--output-file`, and in every datagram, also for lines longer than the packet size (each
/// then goes alone, with its newline). Before, stdout and the file ran the long lines
/// together with no newline, and a datagram holding one line alone had none.
#[test]
fn every_line_ends_with_a_newline_in_every_output() {
    let dir = TempDir::new();
    let tags = long_tags();
    // A fresh endpoint per run: it serves each sample once (then repeats the last).
    let endpoints = [example_endpoint(), example_endpoint(), example_endpoint()];
    let next = std::cell::Cell::new(0);
    let base = |extra: &[&str]| {
        let endpoint = &endpoints[next.replace(next.get() + 1)];
        let mut args = vec![
            "--metadata-url".to_string(),
            endpoint.url(),
            "--interval".into(),
            "0".into(),
            "--no-cache".into(),
        ];
        args.extend(tags.iter().cloned());
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let dry = run(&crate::common::as_args(&base(&["--dry-run"])), &[]);
    dry.assert_success();
    let printed = dry.stdout.clone();
    let file = dir.join("out.txt");
    run(
        &crate::common::as_args(&base(&[
            "--dry-run",
            "--output-file",
            file.to_str().unwrap(),
        ])),
        &[],
    )
    .assert_success();
    let written = fs::read_to_string(&file).unwrap();
    // About 100 datagrams of 9 KiB arrive before the test reads any.
    let listener = UdpListener::with_receive_buffer(4 << 20);
    let port = listener.port().to_string();
    run(
        &crate::common::as_args(&base(&["--statsd-port", &port])),
        &[],
    )
    .assert_success();
    let datagrams = listener.datagrams_until_quiet(QUIET, MAX_WAIT);

    for (what, text) in [("stdout", &printed), ("--output-file", &written)] {
        assert!(text.ends_with('\n'), "{what}");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() > 20, "{what}: {} lines", lines.len());
        for line in &lines {
            // Longer than the UDP packet size (1432), at most the 8191 bytes a DogStatsD
            // line may have (the last user tags are left out beyond).
            assert!(
                line.len() > 1432 && line.len() < 8192,
                "{what}: one line each: {}",
                line.len()
            );
            assert_eq!(
                line.matches("|g|#").count(),
                1,
                "{what}: one gauge per line"
            );
        }
        assert_eq!(
            parse_all(&lines.iter().map(|l| l.to_string()).collect::<Vec<_>>()).len(),
            lines.len()
        );
    }
    // The same series in each (the run's own timings differ from run to run).
    let names = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.split(':').next().unwrap_or_default().to_string())
            .collect()
    };
    assert!(
        names(&written) == names(&printed),
        "the file holds what stdout gets"
    );
    assert!(
        names(&datagrams.concat()) == names(&printed),
        "one datagram per line, the same series"
    );
    assert!(
        datagrams
            .iter()
            .all(|d| d.ends_with('\n') && d.matches('\n').count() == 1),
        "every datagram ends with its newline"
    );
}

// Item 7: the agent's socket goes away while the run samples: none of its lines arrived.
#[test]
fn unix_socket_gone_mid_run_counts_every_line_as_lost() {
    let total = example_line_count();
    let endpoint = FakeEndpoint::new()
        .route(
            "/task",
            [Response::ok(read(&format!("{EXAMPLE}/task.json")))],
        )
        .route(
            "/task/stats",
            [
                Response::ok(read(&format!("{EXAMPLE}/stats1.json"))),
                // Time to take the listener away while the run waits for its second sample.
                Response::ok(read(&format!("{EXAMPLE}/stats2.json")))
                    .delay(Duration::from_millis(1500)),
            ],
        )
        .with_root(r#"{"Name":"ecs-statsd","DockerId":"self"}"#);
    let listener = UnixDgramListener::new();
    let child = spawn(
        &[
            "--metadata-url",
            &endpoint.url(),
            "--statsd-socket",
            &listener.path_str(),
            "--interval",
            "0",
            "--no-cache",
        ],
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while endpoint.requests("/task/stats") < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(listener);
    let out = wait_with_timeout(child, Duration::from_secs(30));
    out.assert_code(3);
    assert_eq!(lost_of(&out), (total, total), "{}", out.describe());
}

// Item 8: a value that cannot be computed is not sent and is nobody's error.
#[test]
fn a_non_finite_value_is_left_out_and_the_run_succeeds() {
    let mut task = example_json("task.json");
    task["Limits"]["CPU"] = json!(1e-320);
    let endpoint = FakeEndpoint::serve(
        &task.to_string(),
        &[
            &read(&format!("{EXAMPLE}/stats1.json")),
            &read(&format!("{EXAMPLE}/stats2.json")),
        ],
    );
    let (out, datagrams) = run_udp(&endpoint, &["--no-cache"], &TempDir::new());
    out.assert_success();
    let got = parse_all(&lines(&datagrams));
    let task_tag = [("container_name", "_task_")];
    assert!(
        crate::common::find(&got, "ecs_task.cpu_usage_ratio", &task_tag).is_empty(),
        "{got:?}"
    );
    assert!(got.iter().all(|l| l.value.is_finite()));
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 1.0);
    let web = [("container_name", "web")];
    assert!(!crate::common::find(&got, "ecs_task.cpu_usage_ratio", &web).is_empty());
}

// Item 9: values the task updates are never served from the cache.
#[test]
fn ephemeral_storage_and_restarts_follow_the_task_across_cached_runs() {
    let cache = TempDir::new();
    let endpoint = example_endpoint();
    for run_number in 0..3u64 {
        let utilized = 100.0 + 250.0 * run_number as f64;
        let mut task = example_json("task.json");
        task["EphemeralStorageMetrics"] = json!({"Utilized": utilized, "Reserved": 20496});
        task["Containers"][0]["RestartCount"] = json!(run_number);
        endpoint.set_route("/task", [Response::ok(task.to_string())]);
        let (out, datagrams) = run_udp(&endpoint, &[], &cache);
        out.assert_success();
        let got = parse_all(&lines(&datagrams));
        let task_tag = [("container_name", "_task_")];
        assert_eq!(
            value(&got, "ecs_task.ephemeral_storage_used_bytes", &task_tag),
            utilized * MIB as f64,
            "run {run_number}"
        );
        assert_eq!(
            value(&got, "ecs_task.restarts", &[("container_name", "web")]),
            run_number as f64,
            "run {run_number}"
        );
    }
    // The own-container lookup is still cached: asked once in three runs.
    assert_eq!(endpoint.requests("/"), 1);
}

// Item 9, the other side: a task without such values is still served from the cache.
#[test]
fn a_task_without_updated_values_is_served_from_the_cache() {
    let cache = TempDir::new();
    let mut task = example_json("task.json");
    task.as_object_mut()
        .unwrap()
        .remove("EphemeralStorageMetrics");
    let endpoint = example_endpoint().route("/task", [Response::ok(task.to_string())]);
    for _ in 0..2 {
        let (out, _) = run_udp(&endpoint, &[], &cache);
        out.assert_success();
    }
    assert_eq!(endpoint.requests("/task"), 1);
}

// Item 10: a failed own-container lookup is retried next run, never cached.
#[test]
fn a_failed_own_container_lookup_is_not_cached() {
    let cache = TempDir::new();
    // This tool runs as `log-router` here; its own series are left out once that is known.
    let endpoint = example_endpoint().route(
        "/",
        [
            Response::not_found(),
            Response::ok(r#"{"Name":"log-router","DockerId":"x"}"#),
        ],
    );
    let router = [("container_name", "log-router")];
    let (out, first) = run_udp(&endpoint, &[], &cache);
    out.assert_success();
    let first = parse_all(&lines(&first));
    assert!(!crate::common::find(&first, "ecs_task.mem_usage", &router).is_empty());
    for _ in 0..2 {
        let (out, later) = run_udp(&endpoint, &[], &cache);
        out.assert_success();
        let later = parse_all(&lines(&later));
        assert!(
            crate::common::find(&later, "ecs_task.mem_usage", &router).is_empty(),
            "{later:?}"
        );
        assert!(
            !crate::common::find(&later, "ecs_task.mem_usage", &[("container_name", "web")])
                .is_empty()
        );
    }
    // Failed once, answered once, then served from the cache.
    assert_eq!(endpoint.requests("/"), 2);
}

// Item 11: two names equal after sanitizing stay two containers.
#[test]
fn colliding_container_names_stay_distinct_and_keep_their_own_origin() {
    let stem = "a".repeat(200);
    let mut task = example_json("task.json");
    let image = task["Containers"][0]["Image"].clone();
    task["Containers"][0]["Name"] = json!(format!("{stem}{}", "x".repeat(55)));
    task["Containers"][1]["Name"] = json!(format!("{stem}{}", "y".repeat(55)));
    task["Containers"][1]["Image"] = image;
    task["Containers"][1]["Limits"] = task["Containers"][0]["Limits"].clone();
    let endpoint = FakeEndpoint::serve(
        &task.to_string(),
        &[
            &read(&format!("{EXAMPLE}/stats1.json")),
            &read(&format!("{EXAMPLE}/stats2.json")),
        ],
    );
    let (out, datagrams) = run_udp(
        &endpoint,
        &["--no-cache", "--origin-detection", "--log-level", "warn"],
        &TempDir::new(),
    );
    out.assert_success();
    let got = parse_all(&lines(&datagrams));
    // Datadog's limit is on the whole tag: `container_name:` + the value within 200 characters.
    let sent_name = &stem[..200 - "container_name:".len()];
    let mine: Vec<&Line> = got
        .iter()
        .filter(|l| l.tag("container_name") == Some(sent_name))
        .collect();
    assert!(!mine.is_empty(), "{got:?}");
    for line in &mine {
        let id = line
            .tag("container_id")
            .unwrap_or_else(|| panic!("{line:?}"));
        assert!(id == WEB || id == LOG_ROUTER, "{line:?}");
        assert_eq!(line.container.as_deref(), Some(id), "origin: {line:?}");
    }
    let stats2 = example_json("stats2.json");
    for id in [WEB, LOG_ROUTER] {
        let usage = stats2[id]["memory_stats"]["usage"].as_u64().unwrap() as f64;
        assert_eq!(
            value(&got, "ecs_task.mem_usage", &[("container_id", id)]),
            usage
        );
    }
    let mut seen = std::collections::HashSet::new();
    for line in &got {
        assert!(
            seen.insert((line.name.clone(), line.tags.clone())),
            "sent twice: {line:?}"
        );
    }
    let warnings = out.stderr.lines().filter(|l| l.contains("collide")).count();
    assert_eq!(warnings, 1, "{}", out.describe());
}

// A container validly named `_task_` (ECS names: letters, digits, `_` and `-`) never shares
// a series with the task totals, in any output: it is told apart by its Docker ID.
#[test]
fn a_container_named_task_never_shares_a_series_with_the_task_totals() {
    let renamed = example_with(|task| task["Containers"][0]["Name"] = json!("_task_"));
    let dry_run = |dir: &str, extra: &[&str]| {
        let args = [
            &["--metadata-url", dir, "--dry-run", "--log-level", "warn"],
            extra,
        ];
        let out = run(&args.concat(), &[]);
        out.assert_success();
        out
    };
    let one_warning = |out: &Run| {
        let warnings = out.stderr.lines().filter(|l| l.contains("collide")).count();
        assert_eq!(warnings, 1, "{}", out.describe());
    };
    let example = crate::common::example_dir();
    let dir = renamed.path().to_str().unwrap();
    let web_usage = example_json("stats2.json")[WEB]["memory_stats"]["usage"]
        .as_u64()
        .unwrap() as f64;
    let task = [("container_name", "_task_")];
    let web = [("container_name", "_task_"), ("container_id", WEB)];

    // DogStatsD without identity tags: nothing but the name told them apart.
    let dogstatsd = |dir: &str| {
        let out = dry_run(dir, &["--no-identity-tags"]);
        let got = parse_all(&out.stdout.lines().map(String::from).collect::<Vec<_>>());
        (out, got)
    };
    let (_, original) = dogstatsd(&example);
    let (out, got) = dogstatsd(dir);
    let mut seen = std::collections::HashSet::new();
    for line in &got {
        assert!(
            seen.insert((line.name.clone(), line.tags.clone())),
            "sent twice: {line}"
        );
    }
    assert_eq!(value(&got, "ecs_task.mem_usage", &web), web_usage);
    let totals = |lines: &[Line]| -> Vec<f64> {
        crate::common::find(lines, "ecs_task.mem_usage", &task)
            .iter()
            .filter(|l| l.tag("container_id").is_none())
            .map(|l| l.value)
            .collect()
    };
    assert_eq!(totals(&got), totals(&original));
    one_warning(&out);

    // Graphite names: `_task_.<id>.` beside the totals' `_task_.`.
    let out = dry_run(dir, &["--tag-format", "graphite"]);
    let got = parse_all(&out.stdout.lines().map(String::from).collect::<Vec<_>>());
    let mut seen = std::collections::HashSet::new();
    for line in &got {
        assert!(seen.insert(line.name.clone()), "sent twice: {line}");
    }
    let mine = got
        .iter()
        .find(|l| l.name == format!("ecs_task._task_.{WEB}.mem_usage"));
    assert_eq!(mine.map(|l| l.value), Some(web_usage), "{}", out.stdout);
    assert_eq!(
        totals(&original),
        got.iter()
            .filter(|l| l.name == "ecs_task._task_.mem_usage")
            .map(|l| l.value)
            .collect::<Vec<_>>()
    );
    one_warning(&out);

    // Prometheus keeps the first of two samples with one label set: the totals were lost.
    let out = dry_run(dir, &["--format", "prometheus", "--no-identity-tags"]);
    let samples = prometheus_spec::parse(&out.stdout).unwrap();
    let usage: Vec<(&Vec<(String, String)>, f64)> = samples
        .iter()
        .filter(|(family, _, _)| family == "ecs_task_mem_usage")
        .map(|(_, labels, v)| (labels, prometheus_spec::parse_float(v).unwrap()))
        .collect();
    let labelled = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert!(usage.contains(&(&labelled(&web), web_usage)), "{usage:?}");
    let total = totals(&original)[0];
    assert!(usage.contains(&(&labelled(&task), total)), "{usage:?}");
    one_warning(&out);
}

// Item 13 in `/task`: a container whose metadata cannot be read is left out, not the task.
#[test]
fn one_unreadable_container_in_the_task_drops_only_that_container() {
    let mut task = example_json("task.json");
    task["Containers"][1]["Limits"] = json!("BAD");
    let task = task
        .to_string()
        .replace(r#""BAD""#, r#"{"CPU": 1e400, "Memory": 256}"#);
    let endpoint = FakeEndpoint::serve(
        &task,
        &[
            &read(&format!("{EXAMPLE}/stats1.json")),
            &read(&format!("{EXAMPLE}/stats2.json")),
        ],
    );
    let (out, datagrams) = run_udp(
        &endpoint,
        &["--no-cache", "--log-level", "warn"],
        &TempDir::new(),
    );
    out.assert_success();
    let got = parse_all(&lines(&datagrams));
    let web_usage = example_json("stats2.json")[WEB]["memory_stats"]["usage"]
        .as_u64()
        .unwrap() as f64;
    assert_eq!(
        value(&got, "ecs_task.mem_usage", &[("container_name", "web")]),
        web_usage
    );
    assert!(
        !got.iter()
            .any(|l| l.has_tag("container_name", "log-router"))
    );
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 1.0);
    assert!(out.stderr.contains("cannot be read"), "{}", out.describe());
}

/// The example stats with every container's `read` set to `read_at`.
fn stats_read_at(file: &str, read_at: &str) -> String {
    let mut stats = example_json(file);
    for (_, container) in stats.as_object_mut().unwrap() {
        container["read"] = json!(read_at);
    }
    stats.to_string()
}

fn since_last_run(endpoint: &FakeEndpoint, cache: &TempDir, extra: &[&str]) -> Run {
    let mut args = vec![
        "--metadata-url".to_string(),
        endpoint.url(),
        "--interval".into(),
        "0".into(),
        "--since-last-run".into(),
        "--max-age".into(),
        "3600".into(),
        "--cache-file".into(),
        cache.join("metadata.json").to_str().unwrap().into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    run(&crate::common::as_args(&args), &[])
}

// Item 12: the stored sample advances only when the run's output was delivered.
#[test]
fn since_last_run_keeps_the_sample_of_an_undelivered_run_and_of_dry_runs() {
    let cache = TempDir::new();
    let state = cache.join("metadata.json.last-sample");
    let endpoint = example_endpoint().route(
        "/task/stats",
        [
            Response::ok(stats_read_at("stats1.json", "2024-05-14T10:00:00Z")),
            Response::ok(stats_read_at("stats2.json", "2024-05-14T10:00:10Z")),
        ],
    );
    let listener = UdpListener::new();
    let port = listener.port().to_string();
    since_last_run(&endpoint, &cache, &["--statsd-port", &port]).assert_success();
    let stored = fs::read(&state).unwrap();
    assert!(String::from_utf8_lossy(&stored).contains("10:00:10"));

    // Not delivered: nothing listens on the port.
    endpoint.set_route(
        "/task/stats",
        [Response::ok(stats_read_at(
            "stats2.json",
            "2024-05-14T10:01:00Z",
        ))],
    );
    let dead = dead_udp_port().to_string();
    let out = since_last_run(
        &endpoint,
        &cache,
        &["--statsd-port", &dead, "--max-packet-size", "512"],
    );
    out.assert_code(3);
    assert_eq!(fs::read(&state).unwrap(), stored, "an undelivered run");

    // A dry run reads the stored sample but never advances it.
    endpoint.set_route(
        "/task/stats",
        [Response::ok(stats_read_at(
            "stats2.json",
            "2024-05-14T10:02:00Z",
        ))],
    );
    since_last_run(&endpoint, &cache, &["--dry-run"]).assert_success();
    assert_eq!(fs::read(&state).unwrap(), stored, "a dry run");

    // The next delivered run covers the whole interval since the stored sample.
    endpoint.set_route(
        "/task/stats",
        [Response::ok(stats_read_at(
            "stats2.json",
            "2024-05-14T10:03:00Z",
        ))],
    );
    since_last_run(&endpoint, &cache, &["--statsd-port", &port]).assert_success();
    assert!(String::from_utf8_lossy(&fs::read(&state).unwrap()).contains("10:03:00"));
    drop(quiet(&listener));
}

/// "Delivered" means every byte reached its reader, for every output: `--format prometheus`
/// (and `emf`) into a pipe whose reader has gone is still exit 0 for a plain run, but the
/// `--since-last-run` state stays where it was, so the next run reports that interval. Before,
/// the broken pipe counted as delivered and the interval was never reported.
#[test]
fn since_last_run_does_not_advance_when_the_reader_has_gone() {
    let cache = TempDir::new();
    let state = cache.join("metadata.json.last-sample");
    let endpoint = example_endpoint().route(
        "/task/stats",
        [
            Response::ok(stats_read_at("stats1.json", "2024-05-14T10:00:00Z")),
            Response::ok(stats_read_at("stats2.json", "2024-05-14T10:00:10Z")),
        ],
    );
    let listener = UdpListener::new();
    let port = listener.port().to_string();
    since_last_run(&endpoint, &cache, &["--statsd-port", &port]).assert_success();
    let stored = fs::read(&state).unwrap();
    drop(quiet(&listener));

    for format in ["prometheus", "emf"] {
        endpoint.set_route(
            "/task/stats",
            [Response::ok(stats_read_at(
                "stats2.json",
                "2024-05-14T10:01:00Z",
            ))],
        );
        let (url, cache_file) = (endpoint.url(), cache.join("metadata.json"));
        let args = [
            "--metadata-url",
            &url,
            "--interval",
            "0",
            "--since-last-run",
            "--max-age",
            "3600",
            "--cache-file",
            cache_file.to_str().unwrap(),
            "--format",
            format,
        ];
        let mut command = crate::common::bin_command(&args, &[]);
        command.stdout(crate::common::broken_pipe());
        let out = wait_with_timeout(command.spawn().unwrap(), Duration::from_secs(30));
        out.assert_success();
        assert_eq!(fs::read(&state).unwrap(), stored, "{format}: not delivered");
        assert!(
            out.stderr.contains("state is left as it was"),
            "{format}: says so: {}",
            out.describe()
        );
    }
    // The same run read to the end advances it.
    let out = since_last_run(&endpoint, &cache, &["--format", "prometheus"]);
    out.assert_success();
    assert!(String::from_utf8_lossy(&fs::read(&state).unwrap()).contains("10:01:00"));
}

// Item 13: a value serde cannot read drops that container's sample, not the run.
#[test]
fn one_unreadable_value_drops_only_its_container() {
    for bad in [
        r#"{"usage": 1e400, "limit": 4294967296}"#,
        r#"{"usage": 1, "usage": 2, "limit": 4294967296}"#,
    ] {
        let mut stats2 = example_json("stats2.json");
        stats2[LOG_ROUTER]["memory_stats"] = json!("BAD");
        let stats2 = stats2.to_string().replace(r#""BAD""#, bad);
        let endpoint = FakeEndpoint::serve(
            &read(&format!("{EXAMPLE}/task.json")),
            &[&read(&format!("{EXAMPLE}/stats1.json")), &stats2],
        );
        let (out, datagrams) = run_udp(
            &endpoint,
            &["--no-cache", "--log-level", "warn"],
            &TempDir::new(),
        );
        out.assert_success();
        let got = parse_all(&lines(&datagrams));
        let web_usage = example_json("stats2.json")[WEB]["memory_stats"]["usage"]
            .as_u64()
            .unwrap() as f64;
        assert_eq!(
            value(&got, "ecs_task.mem_usage", &[("container_name", "web")]),
            web_usage,
            "{bad}"
        );
        assert!(
            crate::common::find(
                &got,
                "ecs_task.mem_usage",
                &[("container_name", "log-router")]
            )
            .is_empty(),
            "{bad}"
        );
        assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 1.0, "{bad}");
        assert!(
            out.stderr.contains(LOG_ROUTER),
            "the warning names the container: {}",
            out.describe()
        );
    }
}
