//! Parity with the Python ecs-container-exporter: its StatsD output on the same input, value
//! for value, wherever it is right. `testdata/parity/README.md` lists each deliberate
//! difference; every rule below names the one it applies.

use crate::common::{EXAMPLE, Line, capture_id, dry_run_sorted, parse_all, replay_dirs, root};

fn parse(text: &str) -> Vec<Line> {
    let lines: Vec<String> = text.lines().map(String::from).collect();
    parse_all(&lines)
}

fn ancestor_output(id: &str) -> String {
    let root = root().join("testdata/parity");
    let path = if id == "reference__ancestor-example" {
        root.join("ancestor-example/ancestor.txt")
    } else {
        root.join(format!("{id}.ancestor.txt"))
    };
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn container(line: &Line) -> &str {
    line.tag("container_name").unwrap_or("")
}

#[test]
fn values_agree_with_the_ancestor_where_it_is_right() {
    for dir in replay_dirs() {
        let id = capture_id(&dir);
        let real_interval = id == "reference__ancestor-example";
        let ours = parse(&dry_run_sorted(&dir, &[]));
        let theirs = parse(&ancestor_output(&id));
        let mut compared = 0;
        for line in &theirs {
            let name = line.name.trim_start_matches("ecs_task.");
            let same: Vec<&Line> = ours
                .iter()
                .filter(|o| o.name == line.name && container(o) == container(line))
                .collect();
            // D2: ECS internal containers are excluded by default.
            if container(line) == "_internal_ecs_pause" {
                assert!(same.is_empty(), "{id}: pause container sent: {same:?}");
                continue;
            }
            // D1: the ancestor read the same stats twice for real captures (a zero
            // interval), so its CPU deltas say nothing there. D3: per-CPU is scaled here.
            let zero_interval_cpu = ["cpu_usage_ratio", "cpu_kernelmode", "cpu_usermode"]
                .contains(&name)
                && !real_interval;
            if zero_interval_cpu || name == "percpu_usage_ratio" {
                continue;
            }
            // D4: a limit the metadata does not set, or sets to 0, is not sent (the ancestor sent 0).
            if (name == "cpu_limit" || name == "mem_limit") && line.value == 0.0 && same.is_empty()
            {
                continue;
            }
            if name.starts_with("network_") {
                if container(line) == "_task_" {
                    // D5: task totals count a shared (awsvpc) interface once; checked by
                    // `ancestor_bugs::awsvpc_task_totals_count_each_interface_once`.
                    continue;
                }
                // D6: per-container lines carry an `interface` tag; the ancestor's value
                // must be one of ours (it sent one untagged line per interface).
                assert!(
                    same.iter()
                        .any(|o| o.tag("interface").is_some() && o.value == line.value),
                    "{id}: no interface-tagged {line} among {same:?}"
                );
                compared += 1;
                continue;
            }
            assert_eq!(
                same.iter().map(|o| o.value).collect::<Vec<_>>(),
                vec![line.value],
                "{id}: ancestor sent {line}, we sent {same:?}"
            );
            compared += 1;
        }
        assert!(compared >= 3, "{id}: only {compared} lines compared");
    }
}

#[test]
fn per_cpu_ratio_is_scaled_like_the_container_ratio() {
    // D3 on the ancestor's example: web runs under 512 CPU units on a 2-CPU host, so its
    // per-CPU ratios are the ancestor's host fractions × 2 × 1024 / 512.
    let dir = root().join(EXAMPLE);
    let ours = parse(&dry_run_sorted(&dir, &[]));
    let theirs = parse(&ancestor_output("reference__ancestor-example"));
    for cpu in ["0", "1"] {
        let tags = [("container_name", "web"), ("cpu", cpu)];
        let host = crate::common::value(&theirs, "ecs_task.percpu_usage_ratio", &tags);
        let scaled = crate::common::value(&ours, "ecs_task.percpu_usage_ratio", &tags);
        assert!(
            (scaled - host * 4.0).abs() < 5e-4,
            "cpu {cpu}: {scaled} vs {host} × 4"
        );
    }
}
