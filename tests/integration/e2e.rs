//! End to end: the built binary against a fake metadata endpoint on 127.0.0.1 and a real UDP
//! listener. Expected values are computed here from the served JSON, not copied from output.

use serde_json::Value;

use crate::common::{
    EXAMPLE, FakeEndpoint, MAX_WAIT, QUIET, Response, TempDir, UdpListener, WEB, assert_lines_eq,
    example_endpoint, find, lines, parse_all, parsed, read, root, run, run_udp, value,
};

#[test]
fn every_metric_arrives_over_udp_with_hand_computed_values() {
    let endpoint = example_endpoint();
    let cache = TempDir::new();
    let (out, datagrams) = run_udp(&endpoint, &[], &cache);
    out.assert_success();
    let got = parsed(&datagrams);

    let s1: Value = serde_json::from_str(&read(&format!("{EXAMPLE}/stats1.json"))).unwrap();
    let s2: Value = serde_json::from_str(&read(&format!("{EXAMPLE}/stats2.json"))).unwrap();
    let web = [("container_name", "web")];
    let u = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_u64).unwrap();

    // Memory: straight from the second sample.
    assert_eq!(
        value(&got, "ecs_task.mem_usage", &web),
        u(&s2[WEB], "/memory_stats/usage") as f64
    );
    assert_eq!(
        value(&got, "ecs_task.mem_cache", &web),
        u(&s2[WEB], "/memory_stats/stats/cache") as f64
    );
    // CPU: Δtotal / Δsystem × online × 1024 / 512 (web's Limits.CPU), rounded to 4 places.
    let d_total = u(&s2[WEB], "/cpu_stats/cpu_usage/total_usage")
        - u(&s1[WEB], "/cpu_stats/cpu_usage/total_usage");
    let d_system =
        u(&s2[WEB], "/cpu_stats/system_cpu_usage") - u(&s1[WEB], "/cpu_stats/system_cpu_usage");
    let online = u(&s2[WEB], "/cpu_stats/online_cpus") as f64;
    let expected = d_total as f64 / d_system as f64 * online * 1024.0 / 512.0;
    assert!((value(&got, "ecs_task.cpu_usage_ratio", &web) - expected).abs() < 1e-4);
    let d_kernel = u(&s2[WEB], "/cpu_stats/cpu_usage/usage_in_kernelmode")
        - u(&s1[WEB], "/cpu_stats/cpu_usage/usage_in_kernelmode");
    assert_eq!(
        value(&got, "ecs_task.cpu_kernelmode", &web),
        d_kernel as f64
    );
    // Network: tagged by interface.
    let rx = u(&s2[WEB], "/networks/eth1/rx_bytes") as f64;
    assert_eq!(
        value(
            &got,
            "ecs_task.network_rx_bytes_total",
            &[("container_name", "web"), ("interface", "eth1")]
        ),
        rx
    );
    // Limits from /task.
    assert_eq!(
        value(&got, "ecs_task.cpu_limit", &[("container_name", "_task_")]),
        1024.0
    );
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 1.0);

    // What went over UDP is exactly what --dry-run prints (the golden file).
    // The live run adds two wall-clock lines a replay leaves out.
    let timing = [
        "ecs_task.exporter_fetch_seconds:",
        "ecs_task.exporter_run_seconds:",
    ];
    for prefix in timing {
        assert!(
            lines(&datagrams).iter().any(|l| l.starts_with(prefix)),
            "{prefix} missing"
        );
    }
    // exporter_series counts every line sent, the two wall-clock ones too.
    assert_eq!(
        value(&got, "ecs_task.exporter_series", &[]),
        lines(&datagrams).len() as f64
    );
    let mut sorted: Vec<String> = lines(&datagrams)
        .into_iter()
        .filter(|l| !timing.iter().any(|p| l.starts_with(p)) && !l.contains("exporter_series:"))
        .collect();
    sorted.sort();
    let actual: String = sorted.iter().map(|l| format!("{l}\n")).collect();
    let golden: String = read("testdata/golden/reference__ancestor-example.txt")
        .lines()
        .filter(|l| !l.contains("exporter_series:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_lines_eq(&golden, &actual, "UDP vs golden");
}

#[test]
fn lines_are_packed_into_few_datagrams_of_at_most_1432_bytes() {
    let endpoint = example_endpoint();
    let cache = TempDir::new();
    let (out, datagrams) = run_udp(&endpoint, &[], &cache);
    out.assert_success();
    let all = lines(&datagrams);
    assert!(
        datagrams.iter().all(|d| d.len() <= 1432),
        "a datagram exceeds 1432 bytes"
    );
    assert!(
        datagrams
            .iter()
            .all(|d| d.lines().count() > 1 || d == datagrams.last().unwrap())
    );
    // Minimal packing: each datagram but the last was closed only because the next line
    // would not fit.
    for pair in datagrams.windows(2) {
        let next = pair[1].lines().next().unwrap();
        assert!(
            pair[0].len() + next.len() + 1 > 1432,
            "{} + {} would have fit",
            pair[0].len(),
            next.len()
        );
    }
    let bytes: usize = all.iter().map(|l| l.len() + 1).sum();
    assert!(
        datagrams.len() < bytes / 700 + 2,
        "{} datagrams for {bytes} bytes",
        datagrams.len()
    );
    assert!(datagrams.len() >= 2, "65 lines cannot fit one datagram");
}

#[test]
fn cache_is_written_then_used_when_task_fails() {
    let cache = TempDir::new();
    let first = example_endpoint().with_root(r#"{"Name":"log-router"}"#);
    let (out, _) = run_udp(&first, &[], &cache);
    out.assert_success();
    assert_eq!(first.requests("/task"), 1);
    let file = cache.join("metadata.json");
    let body = std::fs::read_to_string(&file).unwrap();
    assert!(body.contains("158d1c8083dd49d6b527399fd6414f5c"), "{body}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Same endpoint URL, /task now failing: the cache serves, own container still excluded.
    // The example task carries `EphemeralStorageMetrics`, which the agent updates, so the run
    // tries /task again and, when that fails, sends everything but the updated value.
    let stats = [
        read(&format!("{EXAMPLE}/stats1.json")),
        read(&format!("{EXAMPLE}/stats2.json")),
    ];
    let second = FakeEndpoint::new()
        .route("/task", [Response::new(500, "boom")])
        .route(
            "/task/stats",
            stats.iter().map(|s| Response::ok(s.as_str())),
        );
    // The cache is keyed by endpoint URL: rewrite the stored one to the new port.
    let rewritten = body.replace(&first.url(), &second.url());
    std::fs::write(&file, rewritten).unwrap();
    let (out, datagrams) = run_udp(&second, &[], &cache);
    out.assert_success();
    assert!(second.requests("/task") >= 1);
    assert_eq!(
        second.requests("/"),
        0,
        "own container name comes from the cache"
    );
    let got = parsed(&datagrams);
    assert!(
        !got.iter()
            .any(|l| l.has_tag("container_name", "log-router")),
        "own container excluded"
    );
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 1.0);
    let task_tag = [("container_name", "_task_")];
    assert!(find(&got, "ecs_task.ephemeral_storage_used_bytes", &task_tag).is_empty());
    assert_eq!(
        value(&got, "ecs_task.ephemeral_storage_reserved_bytes", &task_tag),
        20496.0 * 1024.0 * 1024.0
    );
}

#[test]
fn a_container_missing_from_the_metadata_rereads_task_once() {
    let cache = TempDir::new();
    let task: Value = serde_json::from_str(&read(&format!("{EXAMPLE}/task.json"))).unwrap();
    let mut only_web = task.clone();
    only_web["Containers"]
        .as_array_mut()
        .unwrap()
        .retain(|c| c["Name"] == "web");
    let stats = [
        read(&format!("{EXAMPLE}/stats1.json")),
        read(&format!("{EXAMPLE}/stats2.json")),
    ];
    let endpoint = FakeEndpoint::new()
        .route(
            "/task",
            [only_web.to_string(), only_web.to_string(), task.to_string()].map(Response::ok),
        )
        .route(
            "/task/stats",
            stats.iter().map(|s| Response::ok(s.as_str())),
        );
    // Run 1: log-router is in the stats, not in /task; one re-read still lacks it, so it is
    // skipped with a warning (and the run still succeeds).
    let (out, datagrams) = run_udp(&endpoint, &["--log-level", "warn"], &cache);
    out.assert_success();
    assert_eq!(endpoint.requests("/task"), 2, "{}", out.describe());
    assert!(
        out.stderr.contains("absent from the task metadata"),
        "{}",
        out.describe()
    );
    assert!(
        !parsed(&datagrams)
            .iter()
            .any(|l| l.has_tag("container_name", "log-router"))
    );

    // Run 2 starts from the stale cache: one re-read of /task finds the container.
    let stats_again = stats.iter().map(|s| Response::ok(s.as_str()));
    endpoint.set_route("/task/stats", stats_again);
    let (out, datagrams) = run_udp(&endpoint, &[], &cache);
    out.assert_success();
    assert_eq!(endpoint.requests("/task"), 3, "{}", out.describe());
    let got = parsed(&datagrams);
    assert!(
        got.iter()
            .any(|l| l.has_tag("container_name", "log-router"))
    );
}

#[test]
fn include_and_exclude_choose_container_series_not_task_totals() {
    let cache = TempDir::new();
    let (_, all) = run_udp(&example_endpoint(), &["--no-cache"], &cache);
    let (out, some) = run_udp(
        &example_endpoint(),
        &["--no-cache", "--include", "log-router"],
        &cache,
    );
    out.assert_success();
    let (all, some) = (parsed(&all), parsed(&some));
    assert!(some.iter().all(|l| !l.has_tag("container_name", "web")));
    assert!(
        some.iter()
            .any(|l| l.has_tag("container_name", "log-router"))
    );
    let task = [("container_name", "_task_")];
    assert_eq!(
        value(&some, "ecs_task.mem_usage", &task),
        value(&all, "ecs_task.mem_usage", &task)
    );

    let (out, excluded) = run_udp(&example_endpoint(), &["--no-cache"], &cache);
    out.assert_success();
    assert!(
        parsed(&excluded)
            .iter()
            .any(|l| l.has_tag("container_name", "web"))
    );
    let env_exclude = {
        let listener = UdpListener::new();
        let endpoint = example_endpoint();
        let out = run(
            &["--interval", "0", "--no-cache"],
            &[
                ("ECS_CONTAINER_METADATA_URI", &endpoint.url()),
                ("STATSD_PORT", &listener.port().to_string()),
                ("EXCLUDE", "web"),
            ],
        );
        out.assert_success();
        parsed(&listener.datagrams_until_quiet(QUIET, MAX_WAIT))
    };
    assert!(
        !env_exclude
            .iter()
            .any(|l| l.has_tag("container_name", "web"))
    );
    assert!(
        env_exclude
            .iter()
            .any(|l| l.has_tag("container_name", "log-router"))
    );
}

#[test]
fn v4_endpoint_variable_wins_over_v3() {
    let v4 = example_endpoint();
    let v3 = example_endpoint();
    let listener = UdpListener::new();
    let port = listener.port().to_string();
    let out = run(
        &["--interval", "0", "--no-cache", "--statsd-port", &port],
        &[
            ("ECS_CONTAINER_METADATA_URI_V4", &v4.url()),
            ("ECS_CONTAINER_METADATA_URI", &v3.url()),
        ],
    );
    out.assert_success();
    assert_eq!(v4.requests("/task/stats"), 2);
    assert_eq!(v3.total_requests(), 0);
}

#[test]
fn no_endpoint_is_a_usage_error_naming_the_variables() {
    let out = run(&["--dry-run"], &[]);
    out.assert_code(1);
    assert!(
        out.stderr.contains("ECS_CONTAINER_METADATA_URI_V4"),
        "{}",
        out.describe()
    );
    assert!(
        out.stderr.contains("ECS_CONTAINER_METADATA_URI "),
        "{}",
        out.describe()
    );
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "one line: {}",
        out.describe()
    );
}

/// Logs go to stderr (the logger in console.rs): stdout carries only the lines, even
/// at trace level.
#[test]
fn logs_never_mix_with_dry_run_output() {
    let example = root().join(EXAMPLE);
    let out = run(
        &[
            "--metadata-url",
            example.to_str().unwrap(),
            "--dry-run",
            "--log-level",
            "trace",
        ],
        &[],
    );
    out.assert_success();
    let lines: Vec<String> = out.stdout.lines().map(String::from).collect();
    assert_eq!(parse_all(&lines).len(), lines.len());
    assert!(
        out.stderr.contains("TRACE") || out.stderr.contains("INFO"),
        "{}",
        out.describe()
    );
    // RUST_LOG works too; LOG_LEVEL beats it.
    let quiet = run(
        &["--metadata-url", example.to_str().unwrap(), "--dry-run"],
        &[("RUST_LOG", "info"), ("LOG_LEVEL", "error")],
    );
    assert!(quiet.stderr.is_empty(), "{}", quiet.describe());
    let chatty = run(
        &["--metadata-url", example.to_str().unwrap(), "--dry-run"],
        &[("RUST_LOG", "ecs_statsd=info")],
    );
    assert!(chatty.stderr.contains("INFO"), "{}", chatty.describe());
}
