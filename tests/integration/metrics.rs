//! The series beyond the ancestor's (working set, effective limits, cores in use, rates,
//! identity tags, sampling), on real captures. Expected values are computed here, by hand,
//! from the capture JSON; none is copied from the program's output.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{
    FARGATE, FakeEndpoint, Line, MAX_WAIT, MIB, QUIET, Response, TempDir, UdpListener, capture,
    docker_id, dry_run, find, json_file, json_u64, lines, parse_all, root, run, seconds_between,
    value,
};

const EC2_V2: &str = "prometheus-ecs-exporter/ec2-v4-cgroupv2-stopped-container";

#[test]
fn cgroup_v2_working_set_is_usage_minus_inactive_file() {
    let dir = capture(EC2_V2);
    let (task, stats) = (
        json_file(&dir.join("task.json")),
        json_file(&dir.join("stats.json")),
    );
    let got = dry_run(&dir, &[]);
    let mut task_ws = 0;
    for name in ["prometheus", "ecs-exporter"] {
        let s = &stats[docker_id(&task, name)];
        let ws =
            json_u64(s, "/memory_stats/usage") - json_u64(s, "/memory_stats/stats/inactive_file");
        task_ws += ws;
        let me = [("container_name", name)];
        assert_eq!(
            value(&got, "ecs_task.mem_working_set_bytes", &me),
            ws as f64,
            "{name}"
        );
        assert_eq!(
            value(&got, "ecs_task.mem_rss_bytes", &me),
            json_u64(s, "/memory_stats/stats/anon") as f64
        );
        // EC2 without a container memory reservation: the cgroup limit is the real one.
        let limit = json_u64(s, "/memory_stats/limit");
        assert_eq!(value(&got, "ecs_task.mem_limit_bytes", &me), limit as f64);
        let ratio = value(&got, "ecs_task.mem_utilization_ratio", &me);
        assert!((ratio - ws as f64 / limit as f64).abs() < 1e-6);
        assert_eq!(
            value(&got, "ecs_task.mem_available_bytes", &me),
            (limit - ws) as f64
        );
        assert!(
            find(&got, "ecs_task.disk_read_iops_total", &me).is_empty(),
            "io_serviced_recursive is null"
        );
        assert!(
            find(&got, "ecs_task.mem_max_usage_bytes", &me).is_empty(),
            "no max_usage on v2"
        );
    }
    let task_tags = [("container_name", "_task_")];
    assert_eq!(
        value(&got, "ecs_task.mem_working_set_bytes", &task_tags),
        task_ws as f64
    );
    // No task Limits.Memory on this EC2 task: no task limit, utilization or headroom.
    assert!(find(&got, "ecs_task.mem_limit_bytes", &task_tags).is_empty());
    assert!(find(&got, "ecs_task.mem_utilization_ratio", &task_tags).is_empty());
}

#[test]
fn fargate_no_limit_memory_shared_eth1_and_ephemeral_storage() {
    let dir = capture(FARGATE);
    let (task, stats) = (
        json_file(&dir.join("task.json")),
        json_file(&dir.join("stats.json")),
    );
    let got = dry_run(&dir, &[]);
    let s = &stats[docker_id(&task, "prometheus")];
    let me = [("container_name", "prometheus")];
    // memory_stats.limit is Fargate's "no limit" 9223372036854771712: the hierarchical
    // limit is the effective one.
    assert!(json_u64(s, "/memory_stats/limit") >= 1 << 62);
    let limit = json_u64(s, "/memory_stats/stats/hierarchical_memory_limit");
    assert_eq!(value(&got, "ecs_task.mem_limit_bytes", &me), limit as f64);
    let ws =
        json_u64(s, "/memory_stats/usage") - json_u64(s, "/memory_stats/stats/total_inactive_file");
    assert_eq!(
        value(&got, "ecs_task.mem_working_set_bytes", &me),
        ws as f64
    );
    assert!(
        got.iter().all(|l| l.value < (1u64 << 62) as f64),
        "no sentinel is ever sent"
    );
    // The task: its Limits.Memory MiB.
    let task_limit = task["Limits"]["Memory"].as_f64().unwrap() * MIB as f64;
    let task_tags = [("container_name", "_task_")];
    assert_eq!(
        value(&got, "ecs_task.mem_limit_bytes", &task_tags),
        task_limit
    );
    // Ephemeral storage, MiB → bytes.
    let used = task["EphemeralStorageMetrics"]["Utilized"]
        .as_f64()
        .unwrap()
        * MIB as f64;
    let reserved = task["EphemeralStorageMetrics"]["Reserved"]
        .as_f64()
        .unwrap()
        * MIB as f64;
    assert_eq!(
        value(&got, "ecs_task.ephemeral_storage_used_bytes", &task_tags),
        used
    );
    assert_eq!(
        value(
            &got,
            "ecs_task.ephemeral_storage_reserved_bytes",
            &task_tags
        ),
        reserved
    );
    // Cores in use over docker's own precpu interval (single-file replay), read times from
    // the payload.
    let dt = seconds_between(s["preread"].as_str().unwrap(), s["read"].as_str().unwrap());
    let used_ns = json_u64(s, "/cpu_stats/cpu_usage/total_usage")
        - json_u64(s, "/precpu_stats/cpu_usage/total_usage");
    let vcpu = value(&got, "ecs_task.cpu_usage_vcpu", &me);
    assert!((vcpu - used_ns as f64 / (dt * 1e9)).abs() < 1e-6, "{vcpu}");
    assert_eq!(
        value(&got, "ecs_task.cpu_online", &me),
        json_u64(s, "/cpu_stats/online_cpus") as f64
    );
    // Identity tags from /task.
    let line = &find(&got, "ecs_task.mem_usage", &me)[0];
    assert_eq!(
        line.tag("ecs_cluster_name"),
        Some("prom-ecs-exporter-sandbox")
    );
    assert_eq!(line.tag("region"), Some("us-east-1"));
    assert_eq!(line.tag("aws_account"), Some("829490980523"));
    assert_eq!(line.tag("launch_type"), Some("FARGATE"));
    assert_eq!(line.tag("ecs_container_name"), Some("prometheus"));
    assert!(line.tag("image_name").is_some());
    assert_eq!(
        line.tag("task_arn"),
        None,
        "high cardinality only on request"
    );
}

#[test]
fn stopped_container_sends_only_its_metadata_series() {
    let dir = capture(FARGATE);
    let got = dry_run(&dir, &[]);
    let stopped: Vec<&Line> = got
        .iter()
        .filter(|l| l.has_tag("container_name", "nonessential"))
        .collect();
    assert!(!stopped.is_empty());
    assert!(
        stopped
            .iter()
            .all(|l| l.name.ends_with("_limit") || l.name.ends_with(".restarts")),
        "{stopped:?}"
    );
    assert_eq!(
        value(
            &got,
            "ecs_task.exporter_containers",
            &[("ecs_cluster_name", "prom-ecs-exporter-sandbox")]
        ),
        2.0
    );
}

#[test]
fn identity_tags_can_be_turned_off_or_extended() {
    let dir = capture(FARGATE);
    let plain = dry_run(&dir, &["--no-identity-tags"]);
    for line in &plain {
        for (key, _) in &line.tags {
            assert!(
                ["container_name", "cpu", "interface"].contains(&key.as_str()),
                "{line}"
            );
        }
    }
    let full = dry_run(&dir, &["--tag-task-arn", "--tag-container-id"]);
    let line = &find(
        &full,
        "ecs_task.mem_usage",
        &[("container_name", "prometheus")],
    )[0];
    assert_eq!(
        line.tag("task_arn"),
        Some(
            "arn:aws:ecs:us-east-1:829490980523:task/prom-ecs-exporter-sandbox/bae32def0ab64f06818e8862e58f8d6d"
        )
    );
    assert_eq!(
        line.tag("container_id"),
        Some("bae32def0ab64f06818e8862e58f8d6d-1819985369")
    );
}

/// Two samples carrying the same `read` time (the endpoint had not refreshed): CPU falls back
/// to the second sample's cpu_stats against its precpu_stats.
#[test]
fn same_read_time_falls_back_to_precpu() {
    let src = capture(FARGATE);
    let dir = TempDir::new();
    dir.write("task.json", std::fs::read(src.join("task.json")).unwrap());
    dir.write(
        "stats1.json",
        std::fs::read(src.join("stats.json")).unwrap(),
    );
    dir.write(
        "stats2.json",
        std::fs::read(src.join("stats.json")).unwrap(),
    );
    let (task, stats) = (
        json_file(&src.join("task.json")),
        json_file(&src.join("stats.json")),
    );
    let s = &stats[docker_id(&task, "ecs-exporter")];
    let got = dry_run(dir.path(), &[]);
    let me = [("container_name", "ecs-exporter")];
    let d_total = json_u64(s, "/cpu_stats/cpu_usage/total_usage")
        - json_u64(s, "/precpu_stats/cpu_usage/total_usage");
    let d_system =
        json_u64(s, "/cpu_stats/system_cpu_usage") - json_u64(s, "/precpu_stats/system_cpu_usage");
    // Container Limits.CPU is 2 ("not set"): scaled by the task's 0.25 vCPU = 256 units.
    let expected =
        d_total as f64 / d_system as f64 * json_u64(s, "/cpu_stats/online_cpus") as f64 * 1024.0
            / 256.0;
    let ratio = value(&got, "ecs_task.cpu_usage_ratio", &me);
    assert!((ratio - expected).abs() < 1e-4, "{ratio} vs {expected}");
    assert!(value(&got, "ecs_task.cpu_usage_vcpu", &me) > 0.0);
    // Rates need two distinct reads: none here.
    assert!(find(&got, "ecs_task.network_rx_bytes_per_sec", &[]).is_empty());
}

/// A capture and the same capture 10 s later with known increments: rates over the
/// payload's own read times, and a counter going backwards drops only its rate.
#[test]
fn rates_use_payload_read_times_and_drop_on_reset() {
    let src = capture(FARGATE);
    let (task, stats) = (
        json_file(&src.join("task.json")),
        json_file(&src.join("stats.json")),
    );
    let id = docker_id(&task, "prometheus");
    let other = docker_id(&task, "ecs-exporter");
    let mut later = stats.clone();
    for key in [&id, &other] {
        let s = &mut later[key.as_str()];
        // 10.5 s later by the payload clock, whatever the replay takes.
        s["read"] = json!("2025-02-27T05:22:59.686680233Z");
        let rx = s
            .pointer("/networks/eth1/rx_bytes")
            .unwrap()
            .as_u64()
            .unwrap();
        s["networks"]["eth1"]["rx_bytes"] = json!(rx + 2_100_000);
    }
    // prometheus restarted: its tx counter went backwards.
    later[id.as_str()]["networks"]["eth1"]["tx_bytes"] = json!(5);
    let dir = TempDir::new();
    dir.write("task.json", std::fs::read(src.join("task.json")).unwrap());
    dir.write("stats1.json", stats.to_string());
    dir.write("stats2.json", later.to_string());
    let got = dry_run(dir.path(), &[]);
    let me = [("container_name", "prometheus"), ("interface", "eth1")];
    let dt = seconds_between(
        stats[id.as_str()]["read"].as_str().unwrap(),
        "2025-02-27T05:22:59.686680233Z",
    );
    let rate = value(&got, "ecs_task.network_rx_bytes_per_sec", &me);
    assert!((rate - 2_100_000.0 / dt).abs() < 1e-3, "{rate}");
    assert!(
        find(&got, "ecs_task.network_tx_bytes_per_sec", &me).is_empty(),
        "reset drops the rate"
    );
    // awsvpc: the task's eth1 rate counts the interface once.
    let task_rate = value(
        &got,
        "ecs_task.network_rx_bytes_per_sec",
        &[("container_name", "_task_")],
    );
    assert!(
        task_rate < rate * 1.5,
        "task rate {task_rate} double counts {rate}"
    );
}

fn example(rel: &str) -> String {
    std::fs::read_to_string(root().join("testdata/parity/ancestor-example").join(rel)).unwrap()
}

/// Five different samples from the fake endpoint: plain series over first → last, and
/// `_median`/`_max` over the four pairs (CPU) and five samples (working set).
#[test]
fn five_samples_give_median_and_max() {
    let web = "158d1c8083dd49d6b527399fd6414f5c-1875394283";
    let base: Value = serde_json::from_str(&example("stats1.json")).unwrap();
    // Sample i: web used usage[i] ns of CPU since the start, over i × 2 s of host time (2 CPUs).
    let usage: [u64; 5] = [0, 100_000_000, 900_000_000, 1_000_000_000, 1_200_000_000];
    let ws: [u64; 5] = [100, 300, 200, 500, 400].map(|m| m * 1_000_000);
    let samples: Vec<String> = (0..5)
        .map(|i| {
            let mut s = base.clone();
            let w = &mut s[web];
            let t0 = w["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap();
            let sys0 = w["cpu_stats"]["system_cpu_usage"].as_u64().unwrap();
            w["cpu_stats"]["cpu_usage"]["total_usage"] = json!(t0 + usage[i]);
            w["cpu_stats"]["system_cpu_usage"] = json!(sys0 + i as u64 * 2_000_000_000);
            w["read"] = json!(format!("2024-05-14T10:00:{:02}.000000000Z", 10 + i));
            w["memory_stats"]["usage"] = json!(ws[i] + 20_971_520);
            s.to_string()
        })
        .collect();
    let bodies: Vec<&str> = samples.iter().map(String::as_str).collect();
    let endpoint = FakeEndpoint::serve(&example("task.json"), &bodies);
    let listener = UdpListener::new();
    let port = listener.port().to_string();
    let out = run(
        &[
            "--metadata-url",
            &endpoint.url(),
            "--statsd-port",
            &port,
            "--interval",
            "0.2",
            "--samples",
            "5",
            "--no-cache",
        ],
        &[],
    );
    out.assert_success();
    assert_eq!(endpoint.requests("/task/stats"), 5);
    let got = parse_all(&lines(&listener.datagrams_until_quiet(QUIET, MAX_WAIT)));
    let me = [("container_name", "web")];
    // Per pair: Δusage / 1 s of wall time (read times 1 s apart) = cores.
    let pair_vcpu: Vec<f64> = usage
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 / 1e9)
        .collect(); // .1 .8 .1 .2
    assert!(
        (value(&got, "ecs_task.cpu_usage_vcpu_max", &me) - 0.8).abs() < 1e-9,
        "{pair_vcpu:?}"
    );
    assert!((value(&got, "ecs_task.cpu_usage_vcpu_median", &me) - 0.15).abs() < 1e-9);
    assert!(
        (value(&got, "ecs_task.cpu_usage_vcpu", &me) - 1.2 / 4.0).abs() < 1e-9,
        "first → last"
    );
    // Ratio per pair: Δusage / Δsystem (2e9) × 2 CPUs × 1024 / 512 = Δusage / 5e8.
    assert!((value(&got, "ecs_task.cpu_usage_ratio_max", &me) - 0.8e9 / 5e8).abs() < 1e-4);
    assert!((value(&got, "ecs_task.cpu_usage_ratio_median", &me) - 0.15e9 / 5e8).abs() < 1e-4);
    // Working set: usage − inactive_file (20 MiB in the example, which has no
    // total_inactive_file).
    let inactive = base[web]["memory_stats"]["stats"]["inactive_file"]
        .as_u64()
        .unwrap();
    assert_eq!(inactive, 20_971_520);
    assert_eq!(
        value(&got, "ecs_task.mem_working_set_bytes_max", &me),
        500e6
    );
    assert_eq!(
        value(&got, "ecs_task.mem_working_set_bytes_median", &me),
        300e6
    );
    assert_eq!(
        value(&got, "ecs_task.mem_working_set_bytes", &me),
        400e6,
        "the last sample"
    );
}

/// `--since-last-run`: the second run reads /task/stats exactly once and computes its
/// deltas against the sample the first run stored.
#[test]
fn since_last_run_takes_one_sample_after_the_first_run() {
    let web = "158d1c8083dd49d6b527399fd6414f5c-1875394283";
    let s1: Value = serde_json::from_str(&example("stats1.json")).unwrap();
    let s2: Value = serde_json::from_str(&example("stats2.json")).unwrap();
    let cache = TempDir::new();
    let cache_file = cache.join("metadata.json");
    let endpoint = FakeEndpoint::serve(&example("task.json"), &[&s1.to_string(), &s2.to_string()]);
    let args = |port: &str| {
        vec![
            "--metadata-url".to_string(),
            endpoint.url(),
            "--statsd-port".into(),
            port.to_string(),
            "--interval".into(),
            "0".into(),
            "--since-last-run".into(),
            "--cache-file".into(),
            cache_file.to_str().unwrap().into(),
        ]
    };
    // Run 1: nothing stored yet → two samples (stats1, stats2); stores stats2.
    let listener = UdpListener::new();
    let a = args(&listener.port().to_string());
    let out = run(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    out.assert_success();
    assert_eq!(endpoint.requests("/task/stats"), 2);
    listener.datagrams_until_quiet(Duration::from_millis(200), Duration::from_secs(5));

    // Run 2: a third sample, 60 s after stats2 by the payload clock.
    let mut s3 = s2.clone();
    let t2 = s2[web]["cpu_stats"]["cpu_usage"]["total_usage"]
        .as_u64()
        .unwrap();
    s3[web]["cpu_stats"]["cpu_usage"]["total_usage"] = json!(t2 + 3_000_000_000u64);
    for (_, c) in s3.as_object_mut().unwrap() {
        c["read"] = json!("2024-05-14T10:02:00.010736214Z");
    }
    let read2 = s2[web]["read"].as_str().unwrap().to_string();
    endpoint.set_route("/task/stats", [Response::ok(s3.to_string())]);
    let listener = UdpListener::new();
    let a = args(&listener.port().to_string());
    let out = run(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    out.assert_success();
    assert_eq!(
        endpoint.requests("/task/stats"),
        3,
        "exactly one read in the second run"
    );
    let got = parse_all(&lines(&listener.datagrams_until_quiet(QUIET, MAX_WAIT)));
    let dt = seconds_between(&read2, "2024-05-14T10:02:00.010736214Z");
    let vcpu = value(
        &got,
        "ecs_task.cpu_usage_vcpu",
        &[("container_name", "web")],
    );
    assert!((vcpu - 3.0 / dt).abs() < 1e-6, "{vcpu} vs {}", 3.0 / dt);
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 1.0);
}
