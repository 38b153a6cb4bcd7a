//! The ancestor's bugs, each fixed with a test on a real capture. Expected values are derived
//! here from the capture JSON.

use serde_json::Value;

use crate::common::{
    EXAMPLE, Line, TempDir, capture, dry_run, find, json_file, parse_all, root, run, value,
};

const TASK: [(&str, &str); 1] = [("container_name", "_task_")];

/// B-N2: in awsvpc (Fargate) every container reports the task ENI; the ancestor summed them.
#[test]
fn awsvpc_task_totals_count_each_interface_once() {
    let dir = capture("prometheus-ecs-exporter/fargate-v4-cgroupv1-stopped-container");
    let stats = json_file(&dir.join("stats.json"));
    let readings: Vec<u64> = stats
        .as_object()
        .unwrap()
        .values()
        .filter_map(|s| s.pointer("/networks/eth1/rx_bytes")?.as_u64())
        .collect();
    assert_eq!(readings.len(), 2, "two containers share eth1");
    let got = dry_run(&dir, &[]);
    let total = value(&got, "ecs_task.network_rx_bytes_total", &TASK);
    assert_eq!(total, *readings.iter().max().unwrap() as f64);
    assert!(total < readings.iter().sum::<u64>() as f64 * 0.75);
}

/// Bridge mode: separate namespaces, so the task total is the sum over containers and
/// interfaces; and (B-N1) two interfaces of one container are two series, not a collision.
#[test]
fn bridge_task_totals_sum_and_interfaces_are_tagged() {
    let dir = capture("otel-collector-contrib/ec2-v4-bridge-three-nginx-cgroupv1");
    let stats = json_file(&dir.join("stats.json"));
    let sum: u64 = stats
        .as_object()
        .unwrap()
        .values()
        .flat_map(|s| s["networks"].as_object().unwrap().values())
        .map(|n| n["rx_bytes"].as_u64().unwrap())
        .sum();
    let got = dry_run(&dir, &[]);
    assert_eq!(
        value(&got, "ecs_task.network_rx_bytes_total", &TASK),
        sum as f64
    );
    let nginx300 = find(
        &got,
        "ecs_task.network_rx_bytes_total",
        &[("container_name", "nginx300")],
    );
    let mut interfaces: Vec<&str> = nginx300.iter().filter_map(|l| l.tag("interface")).collect();
    interfaces.sort();
    assert_eq!(interfaces, ["eth0", "eth1"]);
}

/// B-Me1, B-I1, B-I2: cgroup v2 has no `cache`, lowercase blkio ops and a null
/// `io_serviced_recursive`. The ancestor crashed and lost memory, IO and network.
#[test]
fn cgroup_v2_memory_and_disk() {
    let dir = capture("prometheus-ecs-exporter/ec2-v4-cgroupv2-stopped-container");
    let stats = json_file(&dir.join("stats.json"));
    let task = json_file(&dir.join("task.json"));
    let id = task["Containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Name"] == "prometheus")
        .unwrap()["DockerId"]
        .as_str()
        .unwrap()
        .to_string();
    let s = &stats[&id];
    let read_bytes: u64 = s["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["op"] == "read")
        .map(|e| e["value"].as_u64().unwrap())
        .sum();
    assert!(read_bytes > 0);
    assert!(s["blkio_stats"]["io_serviced_recursive"].is_null());
    let got = dry_run(&dir, &[]);
    let me = [("container_name", "prometheus")];
    assert_eq!(
        value(&got, "ecs_task.disk_read_bytes_total", &me),
        read_bytes as f64
    );
    assert!(
        find(&got, "ecs_task.disk_read_iops_total", &me).is_empty(),
        "null list → no series"
    );
    let file = s["memory_stats"]["stats"]["file"].as_u64().unwrap();
    assert_eq!(value(&got, "ecs_task.mem_cache", &me), file as f64);
    assert_eq!(
        value(&got, "ecs_task.mem_usage", &me),
        s["memory_stats"]["usage"].as_u64().unwrap() as f64
    );
    // The stopped container (`{}` stats) sends its limits only.
    let stopped: Vec<&Line> = got
        .iter()
        .filter(|l| l.has_tag("container_name", "nonessential"))
        .collect();
    assert!(
        stopped.iter().all(|l| l.name.ends_with("_limit")),
        "{stopped:?}"
    );
}

/// Fargate reports container `Limits.CPU` 2 for "not set": the ratio is scaled by the task
/// limit (`Limits.CPU` vCPU × 1024 units), not divided by 2 (the ancestor's ~500× error).
#[test]
fn fargate_container_cpu_2_is_not_a_limit() {
    let dir = TempDir::new();
    let src = capture("datadog-integrations-core/fargate-v4-2023-two-containers-cgroupv1");
    let task = std::fs::read_to_string(src.join("task.json")).unwrap();
    let stats = json_file(&src.join("stats.json"));
    // Two samples: the capture, and the capture with dd-agent 0.05 s of CPU and 1 s of
    // system time later.
    let id = stats.as_object().unwrap().keys().next().unwrap().clone();
    let mut later = stats.clone();
    let bump = |v: &mut Value, p: &str, by: u64| {
        let x = v.pointer_mut(p).unwrap();
        *x = Value::from(x.as_u64().unwrap() + by);
    };
    bump(
        &mut later[&id],
        "/cpu_stats/cpu_usage/total_usage",
        50_000_000,
    );
    bump(
        &mut later[&id],
        "/cpu_stats/system_cpu_usage",
        2_000_000_000,
    );
    // A later read time: equal read times would mean the endpoint had not refreshed.
    later[&id]["read"] = Value::from("2030-01-01T00:00:00Z");
    dir.write("task.json", &task);
    dir.write("stats1.json", stats.to_string());
    dir.write("stats2.json", later.to_string());
    let out = run(
        &["--metadata-url", dir.path().to_str().unwrap(), "--dry-run"],
        &[],
    );
    out.assert_success();
    let got = parse_all(&out.stdout.lines().map(String::from).collect::<Vec<_>>());
    let task_json: Value = serde_json::from_str(&task).unwrap();
    let name = task_json["Containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["DockerId"] == id.as_str())
        .unwrap()["Name"]
        .as_str()
        .unwrap()
        .to_string();
    let online = stats[&id]["cpu_stats"]["online_cpus"].as_u64().unwrap() as f64;
    let task_units = task_json["Limits"]["CPU"].as_f64().unwrap() * 1024.0;
    let expected = 0.05 / 2.0 * online * 1024.0 / task_units;
    let ratio = value(
        &got,
        "ecs_task.cpu_usage_ratio",
        &[("container_name", &name)],
    );
    assert!((ratio - expected).abs() < 1e-4, "{ratio} vs {expected}");
}

/// B-C2: a counter that went backwards between samples (a restart) drops its series instead
/// of sending a negative or wrapped value.
#[test]
fn counters_going_backwards_drop_the_series() {
    let src = root().join(EXAMPLE);
    let dir = TempDir::new();
    dir.write("task.json", std::fs::read(src.join("task.json")).unwrap());
    // Swapped samples: every CPU counter decreases.
    dir.write(
        "stats1.json",
        std::fs::read(src.join("stats2.json")).unwrap(),
    );
    dir.write(
        "stats2.json",
        std::fs::read(src.join("stats1.json")).unwrap(),
    );
    let out = run(
        &["--metadata-url", dir.path().to_str().unwrap(), "--dry-run"],
        &[],
    );
    out.assert_success();
    let got = parse_all(&out.stdout.lines().map(String::from).collect::<Vec<_>>());
    for name in [
        "cpu_usage_ratio",
        "cpu_kernelmode",
        "cpu_usermode",
        "percpu_usage_ratio",
    ] {
        assert!(
            find(&got, &format!("ecs_task.{name}"), &[]).is_empty(),
            "{name} sent"
        );
    }
    assert!(got.iter().all(|l| l.value >= 0.0));
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 1.0);
}
