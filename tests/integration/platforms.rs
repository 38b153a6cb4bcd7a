//! Right on every ECS platform (issue 9): online CPUs without `online_cpus`, the smallest
//! memory limit that applies, a CPU ratio without `system_cpu_usage`, Windows on Fargate and
//! on EC2. Expected values are computed here from the capture JSON; where a platform variant
//! has no capture of its own, the test derives it from a real one and says what it changed.

use serde_json::{Value, json};

use ecs_statsd::metrics::sanitize_tag_value as sanitize;

use crate::common::{
    FARGATE, FakeEndpoint, Line, MAX_WAIT, MIB, QUIET, Run, TempDir, UdpListener, capture,
    docker_id, dry_run, find, json_file, json_u64, lines, parse_all, replay_dirs, run,
    seconds_between, value,
};

const NO_LIMIT: u64 = 1 << 62;
const WINDOWS: &str = "datadog-integrations-core/fargate-windows-stats-python-none-strings.json";
const TELEGRAF: &str = "telegraf/v2-2018-two-containers-cgroupv1";

fn close(got: f64, want: f64, tolerance: f64, what: &str) {
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: got {got}, want {want}"
    );
}

/// Replay `task` with one stats body (the replay diffs it against its `precpu_stats`).
fn replay(task: &Value, stats: &Value) -> Vec<Line> {
    let dir = TempDir::new();
    dir.write("task.json", task.to_string());
    dir.write("stats.json", stats.to_string());
    dry_run(dir.path(), &[])
}

/// Rule 1, on the telegraf capture (Fargate 1.x, `percpu_usage` padded to 15 slots, one
/// non-zero), with `online_cpus` removed as older daemons send it and 50 ms of CPU added to
/// nginx so the ratio is not 0: the CPU count is Δsystem / Δread (1), not the 15 slots.
#[test]
fn padded_percpu_without_online_cpus_counts_the_host_cpus() {
    let dir = capture(TELEGRAF);
    let task = json_file(&dir.join("task.json"));
    let mut stats = json_file(&dir.join("stats.json"));
    let nginx = docker_id(&task, "nginx");
    for entry in stats.as_object_mut().unwrap().values_mut() {
        for section in ["cpu_stats", "precpu_stats"] {
            entry[section]
                .as_object_mut()
                .unwrap()
                .remove("online_cpus");
        }
    }
    let added = 50_000_000u64;
    let s = &mut stats[nginx.as_str()];
    let total = json_u64(s, "/cpu_stats/cpu_usage/total_usage");
    s["cpu_stats"]["cpu_usage"]["total_usage"] = json!(total + added);
    let slot0 = json_u64(s, "/cpu_stats/cpu_usage/percpu_usage/0");
    s["cpu_stats"]["cpu_usage"]["percpu_usage"][0] = json!(slot0 + added);
    let s = &stats[nginx.as_str()];
    let slots = s["cpu_stats"]["cpu_usage"]["percpu_usage"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(slots, 15, "the capture pads percpu_usage");

    let got = replay(&task, &stats);
    let system =
        json_u64(s, "/cpu_stats/system_cpu_usage") - json_u64(s, "/precpu_stats/system_cpu_usage");
    let wall = seconds_between(s["preread"].as_str().unwrap(), s["read"].as_str().unwrap());
    let cpus = (system as f64 / (wall * 1e9)).round();
    assert_eq!(cpus, 1.0);
    let me = [("container_name", "nginx")];
    assert_eq!(value(&got, "ecs_task.cpu_online", &me), cpus);
    // Task Limits.CPU 0.5 vCPU = 512 units; nginx sets none.
    let units = task["Limits"]["CPU"].as_f64().unwrap() * 1024.0;
    let want = added as f64 / system as f64 * cpus * 1024.0 / units;
    close(
        value(&got, "ecs_task.cpu_usage_ratio", &me),
        want,
        5e-5,
        "nginx ratio",
    );
    close(
        value(
            &got,
            "ecs_task.percpu_usage_ratio",
            &[("container_name", "nginx"), ("cpu", "0")],
        ),
        want,
        5e-5,
        "nginx cpu 0",
    );

    // Without system_cpu_usage either: the non-zero slots (1) are the count.
    let mut no_system = stats.clone();
    for entry in no_system.as_object_mut().unwrap().values_mut() {
        for section in ["cpu_stats", "precpu_stats"] {
            entry[section]
                .as_object_mut()
                .unwrap()
                .remove("system_cpu_usage");
        }
    }
    let got = replay(&task, &no_system);
    assert_eq!(value(&got, "ecs_task.cpu_online", &me), 1.0);
    // And with no percpu list at all there is no CPU count to send.
    for entry in no_system.as_object_mut().unwrap().values_mut() {
        for section in ["cpu_stats", "precpu_stats"] {
            entry[section]["cpu_usage"]
                .as_object_mut()
                .unwrap()
                .remove("percpu_usage");
        }
    }
    let got = replay(&task, &no_system);
    assert!(find(&got, "ecs_task.cpu_online", &me).is_empty());
}

/// Rule 2 on every bundled capture: each container's `mem_limit_bytes` is the smallest of
/// `memory_stats.limit`, `hierarchical_memory_limit` and the container's and task's
/// `Limits.Memory` (MiB, when > 0), sentinels at or above 2^62 skipped, and so is a value
/// below the memory the container is charged for (`usage`): the kernel keeps usage within a
/// hard limit, so such a value (the hand-truncated `limit` of the 2023 Fargate capture) is
/// not one that applies. Utilization and headroom follow from it, and wherever a limit is
/// sent utilization is at most 1.
#[test]
fn memory_limit_is_the_smallest_hard_limit_on_every_capture() {
    let mut checked = 0;
    let mut below_cgroup_limit = 0;
    let mut below_usage = 0;
    for dir in replay_dirs() {
        let task = json_file(&dir.join("task.json"));
        let last = ["stats.json", "stats2.json"]
            .iter()
            .map(|f| dir.join(f))
            .rfind(|p| p.is_file())
            .unwrap();
        let stats = json_file(&last);
        let got = dry_run(&dir, &[]);
        let mib = |v: &Value| {
            v.as_f64()
                .filter(|&m| m > 0.0)
                .map(|m| (m * MIB as f64) as u64)
        };
        let task_limit = mib(&task["Limits"]["Memory"]);
        for container in task["Containers"].as_array().unwrap() {
            if container["Type"] != "NORMAL" {
                continue;
            }
            let id = container["DockerId"].as_str().unwrap();
            let Some(memory) = stats.get(id).and_then(|s| s.get("memory_stats")) else {
                continue;
            };
            let charged = memory["usage"].as_u64().unwrap_or(0);
            let applies = |v: &u64| {
                if *v < charged {
                    below_usage += 1;
                }
                *v >= charged
            };
            let real = |v: Option<u64>| v.filter(|&v| v > 0 && v < NO_LIMIT);
            let cgroup = real(memory["limit"].as_u64());
            let hierarchical = real(
                memory
                    .pointer("/stats/hierarchical_memory_limit")
                    .and_then(Value::as_u64),
            );
            let want = [
                cgroup,
                hierarchical,
                mib(&container["Limits"]["Memory"]),
                task_limit,
            ]
            .into_iter()
            .flatten()
            .filter(applies)
            .min();
            let name = sanitize(container["Name"].as_str().unwrap());
            let me = [("container_name", name.as_str())];
            let sent = find(&got, "ecs_task.mem_limit_bytes", &me);
            match want {
                None => assert!(sent.is_empty(), "{}: {name}: {sent:?}", dir.display()),
                Some(want) => {
                    assert_eq!(
                        sent.iter().map(|l| l.value).collect::<Vec<_>>(),
                        vec![want as f64],
                        "{}: {name}",
                        dir.display()
                    );
                    if cgroup.is_some_and(|c| c > want) {
                        below_cgroup_limit += 1;
                    }
                    let ws = value(&got, "ecs_task.mem_working_set_bytes", &me);
                    close(
                        value(&got, "ecs_task.mem_utilization_ratio", &me),
                        ws / want as f64,
                        1e-6,
                        &name,
                    );
                    assert_eq!(
                        value(&got, "ecs_task.mem_available_bytes", &me),
                        (want as f64 - ws).max(0.0)
                    );
                }
            }
            checked += 1;
        }
        for line in find(&got, "ecs_task.mem_utilization_ratio", &[]) {
            assert!(line.value <= 1.0, "{}: {line:?}", dir.display());
        }
    }
    assert!(checked >= 10, "only {checked} containers checked");
    // The telegraf nginx (host RAM over a 512 MiB task cgroup) and the ancestor's example.
    assert!(below_cgroup_limit >= 2, "{below_cgroup_limit}");
    // The 2023 Fargate capture's two hand-truncated `limit` values.
    assert!(below_usage >= 2, "{below_usage}");
}

/// The 2023 Fargate capture with `hierarchical_memory_limit` and the task's `Limits.Memory`
/// removed: only the hand-truncated `limit` values are left, both below the containers'
/// usage, so no limit applies and no limit, utilization or headroom series is sent.
#[test]
fn a_limit_below_usage_alone_sends_no_limit_series() {
    let dir = capture("datadog-integrations-core/fargate-v4-2023-two-containers-cgroupv1");
    let mut task = json_file(&dir.join("task.json"));
    let mut stats = json_file(&dir.join("stats.json"));
    task.as_object_mut().unwrap().remove("Limits");
    let mut truncated = 0;
    for entry in stats.as_object_mut().unwrap().values_mut() {
        let memory = &mut entry["memory_stats"];
        memory["stats"]
            .as_object_mut()
            .unwrap()
            .remove("hierarchical_memory_limit");
        if json_u64(memory, "/limit") < json_u64(memory, "/usage") {
            truncated += 1;
        }
    }
    assert_eq!(truncated, 2, "both limits are below usage in the capture");
    let got = replay(&task, &stats);
    for name in [
        "ecs_task.mem_limit_bytes",
        "ecs_task.mem_utilization_ratio",
        "ecs_task.mem_available_bytes",
    ] {
        assert!(find(&got, name, &[]).is_empty(), "{name}");
    }
    assert_eq!(find(&got, "ecs_task.mem_working_set_bytes", &[]).len(), 3);
}

/// Rule 3 on the Fargate capture with `system_cpu_usage` removed, as Fargate platform 1.4.0
/// sent it at launch: the ratio is cores in use × 1024 / the limit in CPU units, for each
/// container and the task. A zeroed `precpu_stats` (the same platform's first read) is no
/// sample: then no CPU delta series at all.
#[test]
fn cpu_ratio_without_system_cpu_usage_comes_from_cores_in_use() {
    let dir = capture(FARGATE);
    let task = json_file(&dir.join("task.json"));
    let mut stats = json_file(&dir.join("stats.json"));
    for entry in stats.as_object_mut().unwrap().values_mut() {
        if let Some(entry) = entry.as_object_mut() {
            for section in ["cpu_stats", "precpu_stats"] {
                entry[section]
                    .as_object_mut()
                    .unwrap()
                    .remove("system_cpu_usage");
            }
        }
    }
    let got = replay(&task, &stats);
    // Containers set CPU 2 (Docker's "unset"): the task's 0.25 vCPU applies.
    let units = task["Limits"]["CPU"].as_f64().unwrap() * 1024.0;
    let mut task_vcpu = 0.0;
    for name in ["prometheus", "ecs-exporter"] {
        let s = &stats[docker_id(&task, name).as_str()];
        let delta = json_u64(s, "/cpu_stats/cpu_usage/total_usage")
            - json_u64(s, "/precpu_stats/cpu_usage/total_usage");
        assert!(delta > 0, "{name}: the capture has CPU use");
        let wall = seconds_between(s["preread"].as_str().unwrap(), s["read"].as_str().unwrap());
        let vcpu = delta as f64 / (wall * 1e9);
        task_vcpu += vcpu;
        let me = [("container_name", name)];
        close(
            value(&got, "ecs_task.cpu_usage_vcpu", &me),
            vcpu,
            1e-6,
            name,
        );
        close(
            value(&got, "ecs_task.cpu_usage_ratio", &me),
            vcpu * 1024.0 / units,
            5e-5,
            name,
        );
    }
    close(
        value(
            &got,
            "ecs_task.cpu_usage_ratio",
            &[("container_name", "_task_")],
        ),
        task_vcpu * 1024.0 / units,
        5e-5,
        "_task_",
    );

    // Without any CPU limit there is nothing to divide by: no ratio, cores in use still sent.
    let mut unlimited = task.clone();
    unlimited.as_object_mut().unwrap().remove("Limits");
    let got = replay(&unlimited, &stats);
    assert!(find(&got, "ecs_task.cpu_usage_ratio", &[]).is_empty());
    assert!(!find(&got, "ecs_task.cpu_usage_vcpu", &[]).is_empty());

    // A zeroed precpu_stats with docker's zero preread: not a sample.
    for entry in stats.as_object_mut().unwrap().values_mut() {
        if let Some(entry) = entry.as_object_mut() {
            entry.insert("preread".into(), json!("0001-01-01T00:00:00Z"));
            entry.insert(
                "precpu_stats".into(),
                json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                       "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}),
            );
        }
    }
    let got = replay(&task, &stats);
    for name in [
        "cpu_usage_ratio",
        "cpu_usage_vcpu",
        "cpu_kernelmode",
        "cpu_usermode",
    ] {
        assert!(
            find(&got, &format!("ecs_task.{name}"), &[]).is_empty(),
            "{name} from a zeroed precpu_stats"
        );
    }
    assert!(!find(&got, "ecs_task.mem_working_set_bytes", &[]).is_empty());
}

/// A task around the Windows capture's container(s); an id starting with `pause` is the
/// awsvpc pause container.
fn windows_task(docker_ids: &[&str], launch_type: &str) -> Value {
    let containers: Vec<Value> = docker_ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let (name, kind) = if id.starts_with("pause") {
                ("~internal~ecs~pause".to_string(), "CNI_PAUSE")
            } else if i == 0 {
                ("datadog-agent".to_string(), "NORMAL")
            } else {
                (format!("app{i}"), "NORMAL")
            };
            json!({"DockerId": id, "Name": name, "Type": kind, "KnownStatus": "RUNNING",
                   "Networks": [{"NetworkMode": "awsvpc"}]})
        })
        .collect();
    json!({
        "Cluster": "windows", "TaskARN": "arn:aws:ecs:us-east-1:111122223333:task/windows/0123",
        "Family": "win", "Revision": "1", "KnownStatus": "RUNNING", "LaunchType": launch_type,
        "Limits": {"CPU": 2, "Memory": 4096}, "Containers": containers,
    })
}

/// What the second sample adds to the capture's counters (in the payload's own units).
struct Advance {
    cpu_total: u64,
    cpu_kernel: u64,
    cpu_user: u64,
    working_set: u64,
    usage: u64,
    read_bytes: u64,
    written_bytes: u64,
    read_ops: u64,
    written_ops: u64,
    rx_bytes: u64,
}

/// Rule 4 through the binary: the Windows capture, then the same container 10 s later by the
/// payload clock with known increments, served by the fake endpoint and sent over UDP.
/// `docker`: reshape the memory section the way Docker for Windows fills it (commit counters
/// instead of `usage`/`max_usage`, `num_procs` set), as on ECS on EC2 Windows.
fn windows_two_samples(launch_type: &str, unit_ns: u64, docker: bool, add: &Advance) {
    let capture_stats = json_file(&capture(WINDOWS));
    let id = capture_stats
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let mut first = capture_stats.clone();
    if docker {
        let entry = &mut first[id.as_str()];
        let memory = entry["memory_stats"].as_object_mut().unwrap();
        let usage = memory.remove("usage").unwrap();
        let peak = memory.remove("max_usage").unwrap();
        memory.insert("commitbytes".into(), usage);
        memory.insert("commitpeakbytes".into(), peak);
        entry["num_procs"] = json!(2);
    }
    let mut second = first.clone();
    let e1 = &first[id.as_str()];
    let e2 = &mut second[id.as_str()];
    e2["preread"] = e1["read"].clone();
    e2["precpu_stats"] = e1["cpu_stats"].clone();
    let read2 = "2021-10-29T10:25:30.5933849Z";
    e2["read"] = json!(read2);
    let bump = |v: &mut Value, pointer: &str, by: u64| {
        let slot = v.pointer_mut(pointer).unwrap();
        *slot = json!(slot.as_u64().unwrap() + by);
    };
    bump(e2, "/cpu_stats/cpu_usage/total_usage", add.cpu_total);
    bump(
        e2,
        "/cpu_stats/cpu_usage/usage_in_kernelmode",
        add.cpu_kernel,
    );
    bump(e2, "/cpu_stats/cpu_usage/usage_in_usermode", add.cpu_user);
    bump(e2, "/memory_stats/privateworkingset", add.working_set);
    let (usage_key, peak_key) = if docker {
        ("commitbytes", "commitpeakbytes")
    } else {
        ("usage", "max_usage")
    };
    bump(e2, &format!("/memory_stats/{usage_key}"), add.usage);
    bump(e2, &format!("/memory_stats/{peak_key}"), add.usage);
    bump(e2, "/storage_stats/read_size_bytes", add.read_bytes);
    bump(e2, "/storage_stats/write_size_bytes", add.written_bytes);
    bump(e2, "/storage_stats/read_count_normalized", add.read_ops);
    bump(e2, "/storage_stats/write_count_normalized", add.written_ops);
    bump(e2, "/networks/Ethernet 3/rx_bytes", add.rx_bytes);
    let e2 = &second[id.as_str()];

    let task = windows_task(&[&id], launch_type);
    let (s1, s2) = (first.to_string(), second.to_string());
    let endpoint = FakeEndpoint::serve(&task.to_string(), &[&s1, &s2]);
    let listener = UdpListener::new();
    let port = listener.port().to_string();
    let out = run(
        &[
            "--metadata-url",
            &endpoint.url(),
            "--statsd-port",
            &port,
            "--interval",
            "0.1",
            "--no-cache",
        ],
        &[],
    );
    out.assert_success();
    let got = parse_all(&lines(&listener.datagrams_until_quiet(QUIET, MAX_WAIT)));
    let what = format!("{launch_type} ({unit_ns} ns units)");
    let me = [("container_name", "datadog-agent")];
    let task_tags = [("container_name", "_task_")];
    let wall = seconds_between(e1["read"].as_str().unwrap(), read2);
    close(wall, 10.0, 1e-9, "read interval");

    let vcpu = (add.cpu_total * unit_ns) as f64 / (wall * 1e9);
    assert!(
        vcpu > 0.0 && vcpu < 2.0,
        "{what}: {vcpu} vCPU on a 2 vCPU task"
    );
    for tags in [&me, &task_tags] {
        close(
            value(&got, "ecs_task.cpu_usage_vcpu", tags),
            vcpu,
            1e-6,
            &what,
        );
        // No system_cpu_usage on Windows: cores × 1024 / (task 2 vCPU × 1024).
        close(
            value(&got, "ecs_task.cpu_usage_ratio", tags),
            vcpu / 2.0,
            5e-5,
            &what,
        );
    }
    assert_eq!(
        value(&got, "ecs_task.cpu_kernelmode", &me),
        (add.cpu_kernel * unit_ns) as f64,
        "{what}"
    );
    assert_eq!(
        value(&got, "ecs_task.cpu_usermode", &me),
        (add.cpu_user * unit_ns) as f64,
        "{what}"
    );
    assert!(find(&got, "ecs_task.percpu_usage_ratio", &[]).is_empty());
    let online = find(&got, "ecs_task.cpu_online", &me);
    if docker {
        assert_eq!(value(&got, "ecs_task.cpu_online", &me), 2.0, "num_procs");
    } else {
        assert!(online.is_empty(), "{what}: num_procs 0 is no CPU count");
    }

    let ws = json_u64(e2, "/memory_stats/privateworkingset") as f64;
    let limit = 4096.0 * MIB as f64;
    for tags in [&me, &task_tags] {
        assert_eq!(value(&got, "ecs_task.mem_working_set_bytes", tags), ws);
        assert_eq!(value(&got, "ecs_task.mem_limit_bytes", tags), limit);
        close(
            value(&got, "ecs_task.mem_utilization_ratio", tags),
            ws / limit,
            1e-6,
            &what,
        );
        assert_eq!(
            value(&got, "ecs_task.mem_available_bytes", tags),
            limit - ws
        );
        assert_eq!(
            value(&got, "ecs_task.mem_usage", tags),
            json_u64(e2, &format!("/memory_stats/{usage_key}")) as f64
        );
    }
    assert_eq!(
        value(&got, "ecs_task.mem_max_usage_bytes", &me),
        json_u64(e2, &format!("/memory_stats/{peak_key}")) as f64
    );

    let disk = [
        (
            "disk_read_bytes_total",
            "read_size_bytes",
            Some(("disk_read_bytes_per_sec", add.read_bytes)),
        ),
        (
            "disk_written_bytes_total",
            "write_size_bytes",
            Some(("disk_written_bytes_per_sec", add.written_bytes)),
        ),
        ("disk_read_iops_total", "read_count_normalized", None),
        ("disk_written_iops_total", "write_count_normalized", None),
    ];
    for (name, field, rate) in disk {
        let total = json_u64(e2, &format!("/storage_stats/{field}")) as f64;
        for tags in [&me, &task_tags] {
            assert_eq!(
                value(&got, &format!("ecs_task.{name}"), tags),
                total,
                "{name}"
            );
            if let Some((rate_name, delta)) = rate {
                close(
                    value(&got, &format!("ecs_task.{rate_name}"), tags),
                    delta as f64 / wall,
                    1e-3,
                    rate_name,
                );
            }
        }
    }
    let ethernet = [
        ("container_name", "datadog-agent"),
        ("interface", "Ethernet_3"),
    ];
    assert_eq!(
        value(&got, "ecs_task.network_rx_bytes_total", &ethernet),
        json_u64(e2, "/networks/Ethernet 3/rx_bytes") as f64
    );
    close(
        value(&got, "ecs_task.network_rx_bytes_per_sec", &ethernet),
        add.rx_bytes as f64 / wall,
        1e-3,
        "rx rate",
    );
}

#[test]
fn fargate_windows_reports_cpu_in_ns() {
    windows_two_samples(
        "FARGATE",
        1,
        false,
        &Advance {
            // 0.5 s of CPU in 10 s: 0.05 vCPU; whole Windows clock ticks (15.625 ms).
            cpu_total: 500_000_000,
            cpu_kernel: 187_500_000,
            cpu_user: 312_500_000,
            working_set: 4 * MIB,
            usage: 6 * MIB,
            read_bytes: 3_000_000,
            written_bytes: 1_000_000,
            read_ops: 40,
            written_ops: 12,
            rx_bytes: 250_000,
        },
    );
}

#[test]
fn ec2_windows_reports_cpu_in_100ns_units() {
    windows_two_samples(
        "EC2",
        100,
        true,
        &Advance {
            // 12 s of CPU in 100 ns units over 10 s: 1.2 vCPU.
            cpu_total: 120_000_000,
            cpu_kernel: 20_000_000,
            cpu_user: 100_000_000,
            working_set: 8 * MIB,
            usage: 9 * MIB,
            read_bytes: 7_000_000,
            written_bytes: 2_500_000,
            read_ops: 90,
            written_ops: 30,
            rx_bytes: 1_000_000,
        },
    );
}

/// EC2 Windows in `awsvpc` mode: the ECS agent divides the task ENI's counters by the number
/// of containers other than the pause container (`NumberContainers`, stopped ones included)
/// and hands every container, the pause one included, that share
/// (amazon-ecs-agent `agent/stats/task_windows.go`, still at HEAD 8dfceca6), so the task's
/// traffic is one share times those containers, by default and whatever `AvailabilityZoneID`
/// says. Derived: the task also lists `app2`, STOPPED with `{}` stats. On Fargate each
/// container reports the whole ENI, counted once.
#[test]
fn ec2_windows_awsvpc_network_shares_add_up_to_the_task() {
    let capture_stats = json_file(&capture(WINDOWS));
    let entry = capture_stats.as_object().unwrap().values().next().unwrap();
    let ids = [
        "windows-container-a",
        "windows-container-b",
        "windows-container-stopped",
        "pause-container",
    ];
    let mut stats: Value = ids
        .iter()
        .map(|id| (id.to_string(), entry.clone()))
        .collect::<serde_json::Map<_, _>>()
        .into();
    stats["windows-container-stopped"] = json!({});
    let mut ec2 = windows_task(&ids, "EC2");
    ec2["Containers"][2]["KnownStatus"] = json!("STOPPED");
    let share = json_u64(entry, "/networks/Ethernet 3/rx_bytes") as f64;
    let task_tags = [("container_name", "_task_")];
    let got = replay(&ec2, &stats);
    assert_eq!(
        value(&got, "ecs_task.network_rx_bytes_total", &task_tags),
        3.0 * share
    );
    ec2["AvailabilityZoneID"] = json!("use1-az1");
    let out = replay_run(&ec2, &stats, &["--ecs-agent-divides-network"], &[]);
    assert_eq!(task_rx_total(&out), 3.0 * share);
    assert!(!out.stderr.contains("AvailabilityZoneID"), "{}", out.stderr);
    let got = replay(&windows_task(&ids, "FARGATE"), &stats);
    assert_eq!(
        value(&got, "ecs_task.network_rx_bytes_total", &task_tags),
        share
    );
}

/// A Linux payload that carries Docker's Windows keys empty (`storage_stats: {}`,
/// `num_procs: 0`; the AWS documentation's EC2 example) is not Windows: blkio and
/// `online_cpus` are read as on any Linux host.
#[test]
fn linux_with_empty_storage_stats_is_not_windows() {
    let stats = json_file(&capture(
        "awsdocs-ecs-developer-guide/ec2-v4-awsvpc-task-stats-linux-empty-storage-stats.json",
    ));
    let containers: Vec<Value> = stats
        .as_object()
        .unwrap()
        .keys()
        .enumerate()
        .map(|(i, id)| json!({"DockerId": id, "Name": format!("c{i}"), "Type": "NORMAL"}))
        .collect();
    let task = json!({"TaskARN": "arn:aws:ecs:us-west-2:111122223333:task/default/x", "LaunchType": "EC2",
                      "Containers": containers});
    let got = replay(&task, &stats);
    for (i, entry) in stats.as_object().unwrap().values().enumerate() {
        assert_eq!(entry["storage_stats"], json!({}));
        let name = format!("c{i}");
        let me = [("container_name", name.as_str())];
        assert_eq!(
            value(&got, "ecs_task.cpu_online", &me),
            json_u64(entry, "/cpu_stats/online_cpus") as f64
        );
        // Empty blkio lists are a real 0 on Linux.
        assert_eq!(value(&got, "ecs_task.disk_read_bytes_total", &me), 0.0);
        let usage = json_u64(entry, "/memory_stats/usage")
            - json_u64(entry, "/memory_stats/stats/total_inactive_file");
        assert_eq!(
            value(&got, "ecs_task.mem_working_set_bytes", &me),
            usage as f64
        );
        // Kernel/user deltas in ns as read (no Windows 100 ns scaling).
        let kernel = json_u64(entry, "/cpu_stats/cpu_usage/usage_in_kernelmode")
            - json_u64(entry, "/precpu_stats/cpu_usage/usage_in_kernelmode");
        assert_eq!(value(&got, "ecs_task.cpu_kernelmode", &me), kernel as f64);
    }
}

/// Replay `task` with one stats body and `args`/`env`; the run, for its stderr.
fn replay_run(task: &Value, stats: &Value, args: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = TempDir::new();
    dir.write("task.json", task.to_string());
    dir.write("stats.json", stats.to_string());
    let mut all = vec!["--metadata-url", dir.path().to_str().unwrap(), "--dry-run"];
    all.extend_from_slice(args);
    let out = run(&all, env);
    out.assert_success();
    out
}

fn stdout_lines(out: &Run) -> Vec<String> {
    out.stdout.lines().map(String::from).collect()
}

fn task_rx_total(out: &Run) -> f64 {
    let got = parse_all(&stdout_lines(out));
    value(
        &got,
        "ecs_task.network_rx_bytes_total",
        &[("container_name", "_task_")],
    )
}

const AWS_DOCS_EC2_STATS: &str =
    "awsdocs-ecs-developer-guide/ec2-v4-awsvpc-task-stats-linux-empty-storage-stats.json";

/// The AWS documentation's EC2 `awsvpc` stats (the pause container and `curl`, each showing
/// the same ENI counters, as the ECS agent writes them) with a task around them. Derived:
/// the task lists a third container, `nonessential`, STOPPED with `{}` stats (the shape of
/// the stopped container in the prometheus-community EC2 capture), so that the agent's
/// divisor (every container but the pause one, stopped ones included) is 2, not 1.
fn ec2_awsvpc_with_a_stopped_container(launch_type: Option<&str>) -> (Value, Value, u64) {
    let mut stats = json_file(&capture(AWS_DOCS_EC2_STATS));
    let awsvpc = json!([{"NetworkMode": "awsvpc", "IPv4Addresses": ["10.0.2.61"]}]);
    let mut containers: Vec<Value> = stats
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, entry)| {
            let pause = entry["name"].as_str().unwrap().contains("internalecspause");
            let (name, kind) = if pause {
                ("~internal~ecs~pause", "CNI_PAUSE")
            } else {
                ("curl", "NORMAL")
            };
            json!({"DockerId": id, "Name": name, "Type": kind, "KnownStatus": "RUNNING",
                   "Networks": awsvpc})
        })
        .collect();
    let stopped = "7a1ff0b1a0c0e4c0d1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8";
    containers.push(
        json!({"DockerId": stopped, "Name": "nonessential", "Type": "NORMAL",
                           "KnownStatus": "STOPPED", "ExitCode": 0, "Networks": awsvpc}),
    );
    stats[stopped] = json!({});
    let share = json_u64(
        stats.as_object().unwrap().values().next().unwrap(),
        "/networks/eth0/rx_bytes",
    );
    let mut task = json!({"TaskARN": "arn:aws:ecs:us-west-2:111122223333:task/default/158d1c8083dd49d6b527399fd6414f5c",
                          "KnownStatus": "RUNNING", "Containers": containers});
    if let Some(launch_type) = launch_type {
        task["LaunchType"] = json!(launch_type);
    }
    (task, stats, share)
}

/// Issue 16 §1. EC2 Linux `awsvpc`: since amazon-ecs-agent v1.100.0 (commit 4ca8d9d) every
/// container reports the whole task ENI, so by default the task total counts it once.
/// `--ecs-agent-divides-network` (or `ECS_AGENT_DIVIDES_NETWORK=true`) declares an older
/// agent, which divided by every container but the pause one, the stopped one included: the
/// total is then one share x 2. `AvailabilityZoneID` (agent 1.102.0+) overrides the setting
/// with one warning. Fargate and payloads without `LaunchType` count once whatever the
/// setting. The containers' own series stay the reading as sent.
#[test]
fn ec2_linux_awsvpc_network_follows_the_agent_that_wrote_it() {
    let (task, stats, share) = ec2_awsvpc_with_a_stopped_container(Some("EC2"));
    let share = share as f64;
    let divides = ["--ecs-agent-divides-network"];
    let default = replay_run(&task, &stats, &[], &[]);
    assert_eq!(task_rx_total(&default), share);
    assert!(
        !default.stderr.contains("AvailabilityZoneID"),
        "{}",
        default.stderr
    );
    let got = parse_all(&stdout_lines(&default));
    assert_eq!(
        value(
            &got,
            "ecs_task.network_rx_bytes_total",
            &[("container_name", "curl"), ("interface", "eth0")]
        ),
        share
    );
    assert_eq!(
        task_rx_total(&replay_run(&task, &stats, &divides, &[])),
        2.0 * share
    );
    for yes in ["true", "TRUE", "1", "yes"] {
        let env = [("ECS_AGENT_DIVIDES_NETWORK", yes)];
        assert_eq!(
            task_rx_total(&replay_run(&task, &stats, &[], &env)),
            2.0 * share
        );
    }
    let env = [("ECS_AGENT_DIVIDES_NETWORK", "false")];
    assert_eq!(task_rx_total(&replay_run(&task, &stats, &[], &env)), share);

    // A current agent says so: the setting is overridden, with one warning.
    let mut current = task.clone();
    current["AvailabilityZoneID"] = json!("usw2-az4");
    let out = replay_run(&current, &stats, &divides, &[]);
    assert_eq!(task_rx_total(&out), share);
    assert_eq!(
        out.stderr.matches("AvailabilityZoneID").count(),
        1,
        "{}",
        out.stderr
    );
    // Without the setting the zone ID changes nothing and says nothing.
    let out = replay_run(&current, &stats, &[], &[]);
    assert_eq!((task_rx_total(&out), out.stderr.as_str()), (share, ""));

    // Two running containers reading the same whole ENI (the stopped one started, with
    // curl's stats): still one ENI's traffic, not two.
    let mut running = task.clone();
    running["Containers"][2]["KnownStatus"] = json!("RUNNING");
    let mut both = stats.clone();
    let curl = docker_id(&task, "curl");
    let stopped = docker_id(&task, "nonessential");
    both[stopped.as_str()] = both[curl.as_str()].clone();
    assert_eq!(task_rx_total(&replay_run(&running, &both, &[], &[])), share);

    for launch_type in [Some("FARGATE"), None] {
        let (task, stats, _) = ec2_awsvpc_with_a_stopped_container(launch_type);
        assert_eq!(
            task_rx_total(&replay_run(&task, &stats, &divides, &[])),
            share,
            "{launch_type:?}"
        );
    }
}

/// A value of `ECS_AGENT_DIVIDES_NETWORK` that is not a boolean is a usage error naming it.
#[test]
fn ecs_agent_divides_network_takes_true_or_false() {
    let (task, stats, _) = ec2_awsvpc_with_a_stopped_container(Some("EC2"));
    let dir = TempDir::new();
    dir.write("task.json", task.to_string());
    dir.write("stats.json", stats.to_string());
    let out = run(
        &["--metadata-url", dir.path().to_str().unwrap(), "--dry-run"],
        &[("ECS_AGENT_DIVIDES_NETWORK", "sometimes")],
    );
    out.assert_code(1);
    assert!(
        out.stderr.contains("ECS_AGENT_DIVIDES_NETWORK") && out.stderr.contains("true"),
        "{}",
        out.describe()
    );
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
}

/// ECS Managed Instances (`LaunchType` `MANAGED_INSTANCES`): the Datadog agent's real capture
/// shows both containers reading the same, whole ENI counters (163 MB received by a task
/// that ran a Datadog agent for hours, not half of it). Derived: a task around the capture's
/// two containers in `awsvpc` mode (no task file was published with it). Counted once by
/// default; the setting applies as on EC2 Linux (the same ECS agent).
#[test]
fn managed_instances_awsvpc_counts_the_eni_once() {
    let stats = json_file(&capture(
        "datadog-agent/managed-instances-v4-task-stats-cgroupv2-uint64-limit.json",
    ));
    let readings: Vec<u64> = stats
        .as_object()
        .unwrap()
        .values()
        .map(|e| json_u64(e, "/networks/eth0/rx_bytes"))
        .collect();
    assert!(readings.windows(2).all(|w| w[0] == w[1]), "{readings:?}");
    let containers: Vec<Value> = stats
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, e)| {
            json!({"DockerId": id, "Name": e["name"], "Type": "NORMAL", "KnownStatus": "RUNNING",
                   "Networks": [{"NetworkMode": "awsvpc"}]})
        })
        .collect();
    let task = json!({"TaskARN": "arn:aws:ecs:us-east-1:111122223333:task/mi/2207f63945be40abb2d7bca5a2661cfd",
                      "LaunchType": "MANAGED_INSTANCES", "KnownStatus": "RUNNING",
                      "Containers": containers});
    let share = readings[0] as f64;
    assert_eq!(task_rx_total(&replay_run(&task, &stats, &[], &[])), share);
    let divides = ["--ecs-agent-divides-network"];
    assert_eq!(
        task_rx_total(&replay_run(&task, &stats, &divides, &[])),
        2.0 * share
    );
}
