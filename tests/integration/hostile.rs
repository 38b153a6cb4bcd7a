//! Hostile or odd input that must never produce a malformed line, a panic, or a corrupt cache.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{
    FakeEndpoint, Response, TempDir, UdpListener, lines, parse_all, run, spawn, wait_with_timeout,
};
use crate::e2e::{EXAMPLE, example_endpoint, read, run_udp};

const NASTY: [&str; 7] = [
    "we|b",
    "a,b#c:d",
    "sp ace",
    "new\nline",
    "ünïcødé-日本",
    "tab\there|#,",
    "x",
];

/// The example task with every name, image and the cluster made hostile.
fn hostile_task() -> Value {
    let mut task: Value = serde_json::from_str(&read(&format!("{EXAMPLE}/task.json"))).unwrap();
    task["Cluster"] = json!("arn:aws:ecs:us-west-2:1:cluster/pro d|#,\n");
    task["Family"] = json!("fam|ily,#");
    for (i, c) in task["Containers"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        c["Name"] = json!(format!("{}{}", NASTY[i % NASTY.len()], "é".repeat(250)));
        c["Image"] = json!("reg|istry:5000/te am/web:1.0,|#rc");
    }
    task
}

#[test]
fn hostile_names_and_tags_never_break_a_line() {
    let stats = [
        read(&format!("{EXAMPLE}/stats1.json")),
        read(&format!("{EXAMPLE}/stats2.json")),
    ];
    let endpoint = FakeEndpoint::new()
        .route("/task", [Response::ok(hostile_task().to_string())])
        .route(
            "/task/stats",
            stats.iter().map(|s| Response::ok(s.as_str())),
        )
        .with_root(r#"{"Name":"ecs|statsd"}"#);
    let env = [
        ("DD_TAGS", "a|b:c#d, e\tf:g|h team:ü"),
        ("DD_ENV", "pr|od\n"),
        ("DD_SERVICE", &"s".repeat(500)),
    ];
    let listener = UdpListener::new();
    let port = listener.port().to_string();
    let out = run(
        &[
            "--metadata-url",
            &endpoint.url(),
            "--statsd-port",
            &port,
            "--interval",
            "0",
            "--no-cache",
            "--tag",
            "k|ey:v,al#ue",
            "--tag",
            ":::",
            "--tag",
            "#",
            "--tag-task-arn",
            "--tag-container-id",
        ],
        &env,
    );
    out.assert_success();
    let got =
        lines(&listener.datagrams_until_quiet(Duration::from_millis(300), Duration::from_secs(5)));
    assert!(got.len() > 50);
    // The strict parser: every line is name:value|g with clean tags.
    for line in parse_all(&got) {
        assert!(line.value.is_finite() && line.value >= 0.0, "{line}");
        for (k, v) in &line.tags {
            assert!(v.chars().count() <= 200, "tag value over 200 chars: {k}");
        }
    }
}

#[test]
fn hostile_names_in_prometheus_and_emf() {
    let dir = TempDir::new();
    dir.write("task.json", hostile_task().to_string());
    dir.write("stats1.json", read(&format!("{EXAMPLE}/stats1.json")));
    dir.write("stats2.json", read(&format!("{EXAMPLE}/stats2.json")));
    let path = dir.path().to_str().unwrap();
    let prom = run(
        &[
            "--metadata-url",
            path,
            "--format",
            "prometheus",
            "--tag",
            "we\"ird:va\\l\"ue",
        ],
        &[],
    );
    prom.assert_success();
    for line in prom.stdout.lines().filter(|l| !l.starts_with('#')) {
        // name{labels} value: one space before the value, quotes balanced.
        let (series, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().unwrap().is_finite(), "{line}");
        assert_eq!(series.matches('"').count() % 2, 0, "{line}");
    }
    let emf = run(&["--metadata-url", path, "--format", "emf"], &[]);
    emf.assert_success();
    for line in emf.stdout.lines() {
        let doc: Value = serde_json::from_str(line).unwrap();
        crate::common::emf_spec::validate_emf_document(&doc).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// `| head`: the reader goes away after one line. Not an error (exit 0), no panic.
#[test]
fn closed_stdout_is_not_an_error() {
    let example = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(EXAMPLE);
    for format in ["statsd", "prometheus", "emf"] {
        let mut child = spawn(
            &[
                "--metadata-url",
                example.to_str().unwrap(),
                "--dry-run",
                "--format",
                format,
            ],
            &[],
        );
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 16];
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        let out = wait_with_timeout(child, Duration::from_secs(20));
        out.assert_success();
        assert!(
            !out.stderr.contains("panicked"),
            "{format}: {}",
            out.describe()
        );
    }
}

fn cache_run(endpoint: &FakeEndpoint, cache: &TempDir) -> crate::common::Run {
    let (out, _) = run_udp(endpoint, &["--log-level", "warn"], cache);
    out
}

/// A damaged, foreign or stale cache is ignored with a warning and rewritten by the next
/// successful run.
#[test]
fn damaged_or_foreign_caches_are_ignored_and_rewritten() {
    let cache = TempDir::new();
    let file = cache.join("metadata.json");
    let first = example_endpoint();
    cache_run(&first, &cache).assert_success();
    let good = std::fs::read_to_string(&file).unwrap();
    let other_task = good.replace(
        "158d1c8083dd49d6b527399fd6414f5c",
        "ffffffffffffffffffffffffffffffff",
    );
    let other_endpoint = good.replace(&first.url(), "http://169.254.170.2/v4/other");
    let other_version = good.replacen("\"version\":1", "\"version\":99", 1);
    for (what, body) in [
        ("empty", String::new()),
        ("truncated", good[..good.len() / 2].to_string()),
        ("not JSON", "\u{80}garbage".to_string()),
        ("another task", other_task),
        ("another endpoint", other_endpoint),
        ("another version", other_version),
    ] {
        std::fs::write(&file, &body).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let endpoint = example_endpoint();
        let out = cache_run(&endpoint, &cache);
        out.assert_success();
        // "another task" keeps the endpoint URL of a dead port: it is the ARN check or the
        // endpoint check that rejects it; either way /task is read again.
        assert_eq!(endpoint.requests("/task"), 1, "{what}: {}", out.describe());
        assert!(
            out.stderr.contains("metadata cache"),
            "{what}: warning expected: {}",
            out.describe()
        );
        let rewritten: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(rewritten["endpoint"], endpoint.url(), "{what}");
    }
}

#[test]
fn a_cache_writable_by_others_or_owned_by_another_user_is_not_trusted() {
    let cache = TempDir::new();
    let file = cache.join("metadata.json");
    let endpoint = example_endpoint();
    cache_run(&endpoint, &cache).assert_success();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = cache_run(&endpoint, &cache);
    out.assert_success();
    assert_eq!(
        endpoint.requests("/task"),
        2,
        "not trusted: {}",
        out.describe()
    );
    assert!(out.stderr.contains("not trusted"), "{}", out.describe());

    // Another owner: only root can hand a file to another user, so only root checks it.
    if std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .ok()
        == Some(0)
    {
        let status = std::process::Command::new("chown")
            .arg("65534")
            .arg(&file)
            .status()
            .unwrap();
        assert!(status.success());
        let out = cache_run(&endpoint, &cache);
        out.assert_success();
        assert!(
            out.stderr.contains("owned by uid 65534"),
            "{}",
            out.describe()
        );
    }
}

#[test]
fn a_symlinked_cache_is_replaced_not_followed() {
    let cache = TempDir::new();
    let target = cache.join("precious");
    std::fs::write(&target, "do not touch").unwrap();
    std::os::unix::fs::symlink(&target, cache.join("metadata.json")).unwrap();
    let endpoint = example_endpoint();
    cache_run(&endpoint, &cache).assert_success();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "do not touch");
    let meta = std::fs::symlink_metadata(cache.join("metadata.json")).unwrap();
    assert!(meta.file_type().is_file());
}

/// Overlapping runs (a slow run and the next cron tick) never leave a corrupt cache.
#[test]
fn concurrent_runs_never_corrupt_the_cache() {
    let cache = TempDir::new();
    let cache_file = cache.join("metadata.json");
    let endpoint = example_endpoint();
    let listener = UdpListener::new();
    let port = listener.port().to_string();
    let url = endpoint.url();
    let children: Vec<_> = (0..6)
        .map(|_| {
            spawn(
                &[
                    "--metadata-url",
                    &url,
                    "--statsd-port",
                    &port,
                    "--interval",
                    "0",
                    "--cache-file",
                    cache_file.to_str().unwrap(),
                ],
                &[],
            )
        })
        .collect();
    for child in children {
        wait_with_timeout(child, Duration::from_secs(25)).assert_success();
    }
    let body = std::fs::read_to_string(&cache_file).unwrap();
    let parsed: Value = serde_json::from_str(&body).expect("the cache is whole JSON");
    assert_eq!(parsed["version"], 1);
    let leftovers: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    // And it is used: a further run does not look up its own container again. (/task is
    // read every run: the example task carries `EphemeralStorageMetrics`, which the agent
    // updates.)
    let before = endpoint.requests("/");
    cache_run(&endpoint, &cache).assert_success();
    assert_eq!(endpoint.requests("/"), before);
}
