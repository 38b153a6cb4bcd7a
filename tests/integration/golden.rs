//! Golden files: the sorted `--dry-run` lines of every bundled capture, compared exactly.
//!
//! Regenerate after a deliberate change, then review the diff like code:
//! `UPDATE_GOLDEN=1 cargo test --test integration golden`

use ecs_statsd::metrics::catalog::CATALOG;

use crate::common::{
    TempDir, assert_lines_eq, capture_id, dry_run_sorted, parse_all, replay_dirs, root, run,
};

const GOLDEN_DIR: &str = "testdata/golden";

#[test]
fn golden_dry_run_of_every_capture() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for dir in replay_dirs() {
        let actual = dry_run_sorted(&dir, &[]);
        // Every line must be well-formed DogStatsD.
        let lines: Vec<String> = actual.lines().map(String::from).collect();
        for line in parse_all(&lines) {
            let name = line.name.trim_start_matches("ecs_task.");
            assert!(
                CATALOG.iter().any(|d| d.name == name),
                "{name} is not in the metric catalog (docs/metrics.md table)"
            );
        }
        let golden = root()
            .join(GOLDEN_DIR)
            .join(format!("{}.txt", capture_id(&dir)));
        if update {
            std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
            std::fs::write(&golden, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run UPDATE_GOLDEN=1 cargo test --test integration golden",
                golden.display()
            )
        });
        assert_lines_eq(&expected, &actual, &format!("golden {}", golden.display()));
    }
}

/// Captures that are only a task or only a stats file still replay without a panic: the
/// missing half is supplied (an empty stats object, or a task listing the stats' containers).
#[test]
fn every_single_file_capture_replays() {
    let mut checked = 0;
    for source in std::fs::read_dir(root().join("testdata/ecs")).unwrap() {
        let source = source.unwrap().path();
        if !source.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&source).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let body = std::fs::read_to_string(&file).unwrap();
            let value: serde_json::Value = serde_json::from_str(&body).unwrap();
            let dir = TempDir::new();
            // A task alone gets `{}` stats: a task listing RUNNING containers then measured
            // nothing, which is exit 2 and `exporter_status:0` (issue 17 §6).
            let mut healthy = true;
            if let Some(containers) = value.get("Containers") {
                healthy = !containers.as_array().unwrap().iter().any(|c| {
                    c["KnownStatus"] == "RUNNING"
                        && c["Type"].as_str().is_none_or(|t| t == "NORMAL")
                        && c["Name"] != "~internal~ecs~pause"
                });
                dir.write("task.json", &body);
                dir.write("stats.json", "{}");
            } else {
                let containers: Vec<serde_json::Value> = value
                    .as_object()
                    .unwrap()
                    .keys()
                    .enumerate()
                    .map(|(i, id)| serde_json::json!({"DockerId": id, "Name": format!("c{i}"), "Type": "NORMAL"}))
                    .collect();
                let task = serde_json::json!({"TaskARN": "arn:aws:ecs:us-east-1:1:task/t/x", "Containers": containers});
                dir.write("task.json", task.to_string());
                dir.write("stats.json", &body);
            }
            let out = run(
                &["--metadata-url", dir.path().to_str().unwrap(), "--dry-run"],
                &[],
            );
            out.assert_code(if healthy { 0 } else { 2 });
            let lines: Vec<String> = out.stdout.lines().map(String::from).collect();
            parse_all(&lines);
            let status = format!("ecs_task.exporter_status:{}|g", u8::from(healthy));
            assert!(
                lines.iter().any(|l| l.starts_with(&status)),
                "{}: {}",
                file.display(),
                out.describe()
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} single-file captures found");
}

/// The metrics reference (docs/metrics.md) names every series the catalog (and so the tool)
/// can send.
#[test]
fn metrics_reference_documents_every_metric() {
    let reference = std::fs::read_to_string(root().join("docs/metrics.md")).unwrap();
    for def in CATALOG {
        assert!(
            reference.contains(&format!("`{}`", def.name)),
            "docs/metrics.md does not document `{}`",
            def.name
        );
    }
}
