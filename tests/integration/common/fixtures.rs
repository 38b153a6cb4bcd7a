//! The test data and the runs over it that many test modules share: the ancestor's example
//! (served by the fake endpoint or replayed), the bundled captures, and small JSON readers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::cmd::{Run, TempDir, run};
use super::dogstatsd::{Line, parse_all};
use super::fake_endpoint::FakeEndpoint;
use super::listener::{UdpListener, lines};

/// The ancestor's two-sample example: `task.json`, `stats1.json`, `stats2.json`.
pub const EXAMPLE: &str = "testdata/parity/ancestor-example";
/// Docker IDs of the example's containers.
pub const WEB: &str = "158d1c8083dd49d6b527399fd6414f5c-1875394283";
pub const LOG_ROUTER: &str = "158d1c8083dd49d6b527399fd6414f5c-3822082590";
/// A Fargate capture (awsvpc, two containers, one stopped).
pub const FARGATE: &str = "prometheus-ecs-exporter/fargate-v4-cgroupv1-stopped-container";
pub const MIB: u64 = 1024 * 1024;
/// A listener is read until it has been quiet this long, for at most `MAX_WAIT`.
pub const QUIET: Duration = Duration::from_millis(300);
pub const MAX_WAIT: Duration = Duration::from_secs(5);

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A repository file (path relative to the repository root), as text.
pub fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn json_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The example's directory, for `--metadata-url` (a replay).
pub fn example_dir() -> String {
    root().join(EXAMPLE).display().to_string()
}

/// One of the example's files, as JSON.
pub fn example_json(file: &str) -> Value {
    json_file(&root().join(EXAMPLE).join(file))
}

/// The fake endpoint serving the example: `/task`, its two stats bodies in order, and the
/// container metadata at the root naming this tool's own container.
pub fn example_endpoint() -> FakeEndpoint {
    FakeEndpoint::serve(
        &read(&format!("{EXAMPLE}/task.json")),
        &[
            &read(&format!("{EXAMPLE}/stats1.json")),
            &read(&format!("{EXAMPLE}/stats2.json")),
        ],
    )
    .with_root(r#"{"Name":"ecs-statsd","DockerId":"self"}"#)
}

/// Run against `endpoint` (`--interval 0`, the cache in `cache`), sending to a fresh UDP
/// listener; returns the run and the datagrams that arrived.
pub fn run_udp(endpoint: &FakeEndpoint, extra: &[&str], cache: &TempDir) -> (Run, Vec<String>) {
    let listener = UdpListener::new();
    let port = listener.port().to_string();
    let cache_file = cache.join("metadata.json");
    let url = endpoint.url();
    let mut args = vec![
        "--metadata-url",
        &url,
        "--statsd-port",
        &port,
        "--interval",
        "0",
        "--cache-file",
        cache_file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = run(&args, &[]);
    (out, listener.datagrams_until_quiet(QUIET, MAX_WAIT))
}

/// The DogStatsD lines in datagrams.
pub fn parsed(datagrams: &[String]) -> Vec<Line> {
    parse_all(&lines(datagrams))
}

/// The example task with `edit` applied, as a replay directory.
pub fn example_with(edit: impl FnOnce(&mut Value)) -> TempDir {
    let mut task = example_json("task.json");
    edit(&mut task);
    let dir = TempDir::new();
    dir.write("task.json", task.to_string());
    for file in ["stats1.json", "stats2.json"] {
        dir.write(file, read(&format!("{EXAMPLE}/{file}")));
    }
    dir
}

/// The example with `edit_task` applied to its task and `edit_stats` to each stats body (the
/// whole object keyed by Docker ID), as a replay directory.
pub fn example_edited(
    edit_task: impl FnOnce(&mut Value),
    edit_stats: impl Fn(&mut Value),
) -> TempDir {
    let mut task = example_json("task.json");
    edit_task(&mut task);
    let dir = TempDir::new();
    dir.write("task.json", task.to_string());
    for file in ["stats1.json", "stats2.json"] {
        let mut stats = example_json(file);
        edit_stats(&mut stats);
        dir.write(file, stats.to_string());
    }
    dir
}

/// A capture under `testdata/ecs/`.
pub fn capture(rel: &str) -> PathBuf {
    root().join("testdata/ecs").join(rel)
}

/// Every capture folder holding task.json and stats.json, plus the ancestor's example.
pub fn replay_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![root().join(EXAMPLE)];
    for source in std::fs::read_dir(root().join("testdata/ecs")).unwrap() {
        let source = source.unwrap().path();
        if !source.is_dir() {
            continue;
        }
        for capture in std::fs::read_dir(&source).unwrap() {
            let capture = capture.unwrap().path();
            if capture.join("task.json").is_file() && capture.join("stats.json").is_file() {
                dirs.push(capture);
            }
        }
    }
    dirs.sort();
    assert!(
        dirs.len() >= 9,
        "expected the bundled captures, found {dirs:?}"
    );
    dirs
}

/// `testdata/ecs/telegraf/x` → `telegraf__x`.
pub fn capture_id(dir: &Path) -> String {
    let parent = dir.parent().unwrap().file_name().unwrap().to_string_lossy();
    let name = dir.file_name().unwrap().to_string_lossy();
    let parent = if parent == "parity" {
        "reference".into()
    } else {
        parent
    };
    format!("{parent}__{name}")
}

/// The sorted dry-run lines of a replay, one `\n`-terminated line each.
pub fn dry_run_sorted(dir: &Path, extra: &[&str]) -> String {
    let dir = dir.to_str().unwrap();
    let mut args = vec!["--metadata-url", dir, "--dry-run"];
    args.extend_from_slice(extra);
    let out = run(&args, &[]);
    out.assert_success();
    assert!(!out.stderr.contains("panicked"), "{}", out.describe());
    let mut lines: Vec<&str> = out.stdout.lines().collect();
    lines.sort_unstable();
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// The parsed dry-run lines of a replay.
pub fn dry_run(dir: &Path, extra: &[&str]) -> Vec<Line> {
    let mut args = vec!["--metadata-url", dir.to_str().unwrap(), "--dry-run"];
    args.extend_from_slice(extra);
    let out = run(&args, &[]);
    out.assert_success();
    parse_all(&out.stdout.lines().map(String::from).collect::<Vec<_>>())
}

/// A replay of the example with `args` and `env`.
pub fn replay_example(args: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = example_dir();
    let mut all = vec!["--metadata-url", dir.as_str()];
    all.extend_from_slice(args);
    run(&all, env)
}

/// The unsigned integer at `pointer`.
pub fn json_u64(v: &Value, pointer: &str) -> u64 {
    v.pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{pointer} missing in {v}"))
}

/// Docker ID of the container named `name` in a task.json.
pub fn docker_id(task: &Value, name: &str) -> String {
    task["Containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Name"] == name)
        .unwrap()["DockerId"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Seconds between two RFC 3339 times of the same minute (enough for these captures).
pub fn seconds_between(a: &str, b: &str) -> f64 {
    let secs = |t: &str| -> f64 {
        let hms = &t[11..t.len() - 1];
        let parts: Vec<f64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
        parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
    };
    secs(b) - secs(a)
}

/// One live run against `endpoint` with no interval and no cache, plus `args` and `env`.
pub fn run_live(endpoint: &FakeEndpoint, args: &[&str], env: &[(&str, &str)]) -> Run {
    let url = endpoint.url();
    let mut all = vec![
        "--metadata-url",
        url.as_str(),
        "--interval",
        "0",
        "--no-cache",
    ];
    all.extend_from_slice(args);
    run(&all, env)
}
