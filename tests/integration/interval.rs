//! Issue 16 §2-§5: counters that cannot be right (a CPU delta above the host's, a "no value"
//! cache), containers that start, restart or stop during the interval, and samples that
//! span no interval. Every payload is derived from a real capture; each test says what it
//! changes. Expected values are computed here from the capture JSON.

use serde_json::{Value, json};

use crate::common::{
    FARGATE, FakeEndpoint, Line, Run, TempDir, capture, docker_id, find, json_file, json_u64,
    parse_all, run, seconds_between, value,
};

/// The 2023 Fargate capture: dd-agent and apmtest-ping, one read each, with `precpu_stats`.
const FARGATE_2023: &str = "datadog-integrations-core/fargate-v4-2023-two-containers-cgroupv1";
const TASK: [(&str, &str); 1] = [("container_name", "_task_")];
/// The cgroup "no value" sentinel Fargate writes (9223372036854771712).
const NO_VALUE: u64 = 9_223_372_036_854_771_712;

fn close(got: f64, want: f64, tolerance: f64, what: &str) {
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: got {got}, want {want}"
    );
}

/// Replay `task` with these stats bodies in order (`stats1.json`, ...), `--dry-run`.
fn replay(task: &Value, samples: &[&Value], args: &[&str]) -> Run {
    let dir = TempDir::new();
    dir.write("task.json", task.to_string());
    for (i, stats) in samples.iter().enumerate() {
        dir.write(format!("stats{}.json", i + 1), stats.to_string());
    }
    let mut all = vec!["--metadata-url", dir.path().to_str().unwrap(), "--dry-run"];
    all.extend_from_slice(args);
    let out = run(&all, &[]);
    out.assert_success();
    assert!(!out.stderr.contains("panicked"), "{}", out.describe());
    out
}

fn parsed(out: &Run) -> Vec<Line> {
    parse_all(&out.stdout.lines().map(String::from).collect::<Vec<_>>())
}

fn sent(lines: &[Line], name: &str, tags: &[(&str, &str)]) -> bool {
    !find(lines, &format!("ecs_task.{name}"), tags).is_empty()
}

fn fargate_2023() -> (Value, Value) {
    let dir = capture(FARGATE_2023);
    (
        json_file(&dir.join("task.json")),
        json_file(&dir.join("stats.json")),
    )
}

/// The capture as docker read it one interval earlier: each entry's `read` is its `preread`
/// and its `cpu_stats` its `precpu_stats` (the other counters as they are, so byte rates
/// are 0).
fn earlier(stats: &Value) -> Value {
    let mut first = stats.clone();
    for entry in first.as_object_mut().unwrap().values_mut() {
        entry["read"] = entry["preread"].clone();
        entry["cpu_stats"] = entry["precpu_stats"].clone();
    }
    first
}

/// Cores in use of one entry of the capture, from its `precpu_stats` to its `cpu_stats`.
fn vcpu(entry: &Value) -> f64 {
    let delta = json_u64(entry, "/cpu_stats/cpu_usage/total_usage")
        - json_u64(entry, "/precpu_stats/cpu_usage/total_usage");
    let wall = seconds_between(
        entry["preread"].as_str().unwrap(),
        entry["read"].as_str().unwrap(),
    );
    delta as f64 / (wall * 1e9)
}

/// §2. Derived from the prometheus-community Fargate capture: prometheus's previous
/// `system_cpu_usage` is set 100 ns below its current one (Datadog's anomalous case has
/// 5e9 ns of CPU against 100 ns of system), nothing else. Its ratio then comes from the read
/// times, as `cpu_usage_vcpu` does (cores x 1024 / the task's 256 units), for the container,
/// each CPU and the task total; one warning names it; before, the ratio was millions.
#[test]
fn a_cpu_delta_above_the_hosts_comes_from_the_read_times() {
    let dir = capture(FARGATE);
    let task = json_file(&dir.join("task.json"));
    let mut stats = json_file(&dir.join("stats.json"));
    let prometheus = docker_id(&task, "prometheus");
    let entry = &mut stats[prometheus.as_str()];
    let system = json_u64(entry, "/cpu_stats/system_cpu_usage");
    entry["precpu_stats"]["system_cpu_usage"] = json!(system - 100);
    let out = replay(&task, &[&stats], &[]);
    let got = parsed(&out);
    let units = task["Limits"]["CPU"].as_f64().unwrap() * 1024.0;

    let entry = &stats[prometheus.as_str()];
    let me = [("container_name", "prometheus")];
    close(
        value(&got, "ecs_task.cpu_usage_ratio", &me),
        vcpu(entry) * 1024.0 / units,
        5e-5,
        "prometheus ratio",
    );
    let wall = seconds_between(
        entry["preread"].as_str().unwrap(),
        entry["read"].as_str().unwrap(),
    );
    for cpu in 0..2 {
        let pointer = format!("/cpu_stats/cpu_usage/percpu_usage/{cpu}");
        let pre = format!("/precpu_stats/cpu_usage/percpu_usage/{cpu}");
        let delta = json_u64(entry, &pointer) - json_u64(entry, &pre);
        let tags = [("container_name", "prometheus"), ("cpu", &cpu.to_string())];
        close(
            value(&got, "ecs_task.percpu_usage_ratio", &tags),
            delta as f64 / (wall * 1e9) * 1024.0 / units,
            5e-5,
            "prometheus per CPU",
        );
    }
    // The task: the other container's host fraction cannot be added to read-time figures,
    // so the task ratio is the cores in use of both over the task's units.
    let exporter = &stats[docker_id(&task, "ecs-exporter").as_str()];
    close(
        value(&got, "ecs_task.cpu_usage_ratio", &TASK),
        (vcpu(entry) + vcpu(exporter)) * 1024.0 / units,
        5e-5,
        "task ratio",
    );
    for line in find(&got, "ecs_task.cpu_usage_ratio", &[]) {
        assert!(line.value <= 4.0, "{line:?}");
    }
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("system_cpu_usage"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert!(warnings[0].contains("prometheus") && !warnings[0].contains("ecs-exporter"));
}

/// §3. Derived from the 2023 Fargate capture (cgroup v1): dd-agent's `cache`,
/// `total_inactive_file` and `inactive_file` set to the "no value" sentinel; then, second
/// case, `total_inactive_file` set above usage and `inactive_file` to the sentinel, `cache`
/// as read. A sentinel or a value at or above usage is not subtracted: the working set is
/// usage, else usage minus the first real subtrahend; before, it read 0.
#[test]
fn a_no_value_cache_is_not_subtracted_from_the_working_set() {
    let (task, stats) = fargate_2023();
    let id = docker_id(&task, "dd-agent");
    let me = [("container_name", "dd-agent")];
    let usage = json_u64(&stats[id.as_str()], "/memory_stats/usage");
    let cache = json_u64(&stats[id.as_str()], "/memory_stats/stats/cache");
    let cases = [
        ([NO_VALUE, NO_VALUE, NO_VALUE], usage),
        ([cache, usage + 1, NO_VALUE], usage - cache),
    ];
    for ([cache, total_inactive, inactive], working_set) in cases {
        let mut stats = stats.clone();
        let counters = &mut stats[id.as_str()]["memory_stats"]["stats"];
        counters["cache"] = json!(cache);
        counters["total_inactive_file"] = json!(total_inactive);
        counters["inactive_file"] = json!(inactive);
        let got = parsed(&replay(&task, &[&stats], &[]));
        assert_eq!(
            value(&got, "ecs_task.mem_working_set_bytes", &me),
            working_set as f64
        );
        let limit = value(&got, "ecs_task.mem_limit_bytes", &me);
        close(
            value(&got, "ecs_task.mem_utilization_ratio", &me),
            working_set as f64 / limit,
            1e-6,
            "utilization",
        );
        assert_eq!(
            sent(&got, "mem_cache", &me),
            cache < NO_VALUE,
            "a sentinel cache is not sent"
        );
    }
}

/// §4, a container that started during the interval. Derived from the 2023 Fargate capture:
/// a first sample one docker interval earlier ([`earlier`]) without apmtest-ping, the
/// capture itself as the last. apmtest-ping's own `precpu_stats` are a real sample: the
/// task's cores in use count it (before: dd-agent alone). Its disk counters have no earlier
/// reading, so the task's disk byte rates are left out, with one warning naming it; network
/// rates stay (awsvpc: every container reads the task's interface).
#[test]
fn a_container_that_started_is_diffed_against_its_own_precpu_stats() {
    let (task, stats) = fargate_2023();
    let ping = docker_id(&task, "apmtest-ping");
    let both = earlier(&stats);
    let expected =
        vcpu(&stats[docker_id(&task, "dd-agent").as_str()]) + vcpu(&stats[ping.as_str()]);

    // Both containers in both samples: the totals as always, quietly.
    let out = replay(&task, &[&both, &stats], &[]);
    let got = parsed(&out);
    close(
        value(&got, "ecs_task.cpu_usage_vcpu", &TASK),
        expected,
        1e-6,
        "task",
    );
    assert!(sent(&got, "disk_read_bytes_per_sec", &TASK));
    assert_eq!(out.stderr, "");

    let mut without = both.clone();
    without.as_object_mut().unwrap().remove(ping.as_str());
    let out = replay(&task, &[&without, &stats], &[]);
    let got = parsed(&out);
    close(
        value(&got, "ecs_task.cpu_usage_vcpu", &TASK),
        expected,
        1e-6,
        "task with a new container",
    );
    assert!(sent(&got, "cpu_usage_ratio", &TASK));
    assert!(!sent(&got, "disk_read_bytes_per_sec", &TASK));
    assert!(!sent(&got, "disk_written_bytes_per_sec", &TASK));
    assert!(sent(&got, "network_rx_bytes_per_sec", &TASK));
    let warnings: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert!(
        warnings[0].contains("apmtest-ping") && warnings[0].contains("byte rates"),
        "{}",
        out.stderr
    );
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 1.0);
}

/// §4, a container new in the last sample whose `precpu_stats` are docker's zeroed first read
/// (derived as above, and apmtest-ping's `precpu_stats`/`preread` zeroed the way docker
/// writes them for a container's first read): the task's CPU deltas and rates are left out
/// (not dd-agent's alone sent as the task's), with one warning naming the container.
#[test]
fn a_new_container_without_an_earlier_cpu_reading_leaves_the_task_cpu_out() {
    let (task, mut stats) = fargate_2023();
    let ping = docker_id(&task, "apmtest-ping");
    let mut first = earlier(&stats);
    first.as_object_mut().unwrap().remove(ping.as_str());
    let entry = &mut stats[ping.as_str()];
    entry["preread"] = json!("0001-01-01T00:00:00Z");
    entry["precpu_stats"] = json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0,
        "usage_in_usermode": 0}, "throttling_data": {"periods": 0, "throttled_periods": 0,
        "throttled_time": 0}});
    let out = replay(&task, &[&first, &stats], &[]);
    let got = parsed(&out);
    for name in [
        "cpu_usage_ratio",
        "cpu_usage_vcpu",
        "disk_read_bytes_per_sec",
    ] {
        assert!(!sent(&got, name, &TASK), "task {name}");
    }
    assert!(sent(
        &got,
        "cpu_usage_vcpu",
        &[("container_name", "dd-agent")]
    ));
    assert!(sent(&got, "mem_working_set_bytes", &TASK));
    let warnings: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert!(
        warnings[0].contains("apmtest-ping") && warnings[0].contains("no earlier CPU reading"),
        "{}",
        out.stderr
    );
}

/// §4, a container that stopped during the interval (derived: the last sample's apmtest-ping
/// is `{}`, as the stopped containers of the prometheus-community and OpenTelemetry captures
/// are): counting it for part of the interval would undercount the task, so the task's CPU
/// deltas and byte rates are left out with one warning; and a restart in place (derived:
/// the first sample's apmtest-ping `total_usage` above the last one's) is diffed against
/// its `precpu_stats` and leaves the task's disk rates out.
#[test]
fn a_container_that_stopped_or_restarted_is_never_half_counted() {
    let (task, stats) = fargate_2023();
    let ping = docker_id(&task, "apmtest-ping");
    let first = earlier(&stats);
    let mut last = stats.clone();
    last[ping.as_str()] = json!({});
    let out = replay(&task, &[&first, &last], &[]);
    let got = parsed(&out);
    for name in [
        "cpu_usage_ratio",
        "cpu_usage_vcpu",
        "disk_read_bytes_per_sec",
    ] {
        assert!(!sent(&got, name, &TASK), "task {name}");
    }
    assert!(sent(
        &got,
        "cpu_usage_vcpu",
        &[("container_name", "dd-agent")]
    ));
    let warnings: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert!(
        warnings[0].contains("apmtest-ping stopped"),
        "{}",
        out.stderr
    );

    let mut restarted = first.clone();
    let total = "/cpu_stats/cpu_usage/total_usage";
    let before = json_u64(&stats[ping.as_str()], total) + 1_000_000_000;
    *restarted.pointer_mut(&format!("/{ping}{total}")).unwrap() = json!(before);
    let out = replay(&task, &[&restarted, &stats], &[]);
    let got = parsed(&out);
    let expected =
        vcpu(&stats[docker_id(&task, "dd-agent").as_str()]) + vcpu(&stats[ping.as_str()]);
    close(
        value(&got, "ecs_task.cpu_usage_vcpu", &TASK),
        expected,
        1e-6,
        "task after a restart in place",
    );
    assert!(!sent(&got, "disk_read_bytes_per_sec", &TASK));
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

/// §5. Samples that span no interval drop every byte rate; each cause is said once. Derived
/// from the 2023 Fargate capture: the same body twice (an agent serving cached stats); the
/// first sample read 10 s after the last (times going backwards); the first sample's `read`
/// set to docker's zero time (no read time). CPU still comes from each container's
/// `precpu_stats`, and the run stays healthy (exit 0, `exporter_status` 1).
#[test]
fn samples_spanning_no_interval_say_why_once() {
    let (task, stats) = fargate_2023();
    let mut later = stats.clone();
    let mut zero = earlier(&stats);
    for (id, entry) in later.as_object_mut().unwrap() {
        let read = stats[id.as_str()]["read"].as_str().unwrap();
        // 01:19:45.07 → 01:19:55.07, same minute.
        entry["read"] = json!(read.replacen("01:19:4", "01:19:5", 1));
    }
    for entry in zero.as_object_mut().unwrap().values_mut() {
        entry["read"] = json!("0001-01-01T00:00:00Z");
    }
    let cases = [
        (&stats, "the same read time"),
        (&later, "went backwards"),
        (&zero, "no usable read time"),
    ];
    for (first, cause) in cases {
        let out = replay(&task, &[first, &stats], &[]);
        let got = parsed(&out);
        for name in ["network_rx_bytes_per_sec", "disk_read_bytes_per_sec"] {
            assert!(
                find(&got, &format!("ecs_task.{name}"), &[]).is_empty(),
                "{cause}: {name}"
            );
        }
        assert!(sent(&got, "cpu_usage_vcpu", &TASK), "{cause}");
        let warnings: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.contains("no byte rates"))
            .collect();
        assert_eq!(warnings.len(), 1, "{cause}: {}", out.stderr);
        assert!(warnings[0].contains(cause), "{cause}: {}", out.stderr);
        assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 1.0);
    }

    // The same read twice and docker's zeroed precpu_stats (derived: each entry's
    // `precpu_stats` zeroed, as in a container's first read): no CPU deltas either, said so.
    let mut zeroed = stats.clone();
    for entry in zeroed.as_object_mut().unwrap().values_mut() {
        entry["precpu_stats"] = json!({"cpu_usage": {"total_usage": 0}});
    }
    let out = replay(&task, &[&zeroed, &zeroed], &[]);
    let got = parsed(&out);
    assert!(find(&got, "ecs_task.cpu_usage_vcpu", &[]).is_empty());
    assert!(find(&got, "ecs_task.cpu_usage_ratio", &[]).is_empty());
    let warnings: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert!(warnings[0].contains("nor CPU deltas"), "{}", out.stderr);
}

/// §5 live: `--interval 0` against an endpoint that serves the same stats twice (the fake
/// endpoint, the 2023 Fargate capture): exit 0 and one warning naming the cause.
#[test]
fn interval_zero_against_cached_stats_warns_once() {
    let (task, stats) = fargate_2023();
    let body = stats.to_string();
    let endpoint = FakeEndpoint::serve(&task.to_string(), &[body.as_str(), body.as_str()]);
    let url = endpoint.url();
    let out = run(
        &[
            "--metadata-url",
            &url,
            "--interval",
            "0",
            "--dry-run",
            "--no-cache",
        ],
        &[],
    );
    out.assert_success();
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("same read time"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", out.describe());
    let got = parsed(&out);
    assert!(find(&got, "ecs_task.network_rx_bytes_per_sec", &[]).is_empty());
}
