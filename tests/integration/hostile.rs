//! Hostile or odd input that must never produce a malformed line, a panic, or a corrupt cache.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{
    EXAMPLE, FakeEndpoint, MAX_WAIT, QUIET, Response, TempDir, UdpListener, bin_command,
    broken_pipe, example_endpoint, lines, parse_all, read, root, run, run_udp, spawn, value,
    wait_with_timeout,
};

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
    let got = lines(&listener.datagrams_until_quiet(QUIET, MAX_WAIT));
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
    let example = root().join(EXAMPLE);
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

/// A reader of stderr that went away (`2>&1 >/dev/null | true`): every log line and the final
/// error line fail with EPIPE. Lost lines are not an error: the run sends and exits as it
/// would have (a panic would exit 101 here, SIGABRT 134 in the release build).
#[test]
fn a_broken_stderr_never_ends_the_run() {
    let cache = TempDir::new();
    // A damaged cache: a warning before sampling, on top of the debug lines.
    cache.write("metadata.json", "{damaged");
    let endpoint = example_endpoint();
    let listener = UdpListener::new();
    let port = listener.port().to_string();
    let cache_file = cache.join("metadata.json");
    let args = [
        "--metadata-url",
        &endpoint.url(),
        "--statsd-port",
        &port,
        "--interval",
        "0",
        "--cache-file",
        cache_file.to_str().unwrap(),
        "--log-level",
        "trace",
    ];
    let mut command = bin_command(&args, &[]);
    let out = wait_with_timeout(
        command.stderr(broken_pipe()).spawn().unwrap(),
        Duration::from_secs(20),
    );
    out.assert_success();
    let got = parse_all(&lines(&listener.datagrams_until_quiet(QUIET, MAX_WAIT)));
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 1.0);

    // A failing run still exits with its own status when its error line is lost.
    let failing = FakeEndpoint::new().route("/task", [Response::new(404, "gone")]);
    let url = failing.url();
    let mut command = bin_command(
        &["--metadata-url", &url, "--dry-run", "--no-cache"],
        &[("LOG_LEVEL", "debug")],
    );
    let out = wait_with_timeout(
        command.stderr(broken_pipe()).spawn().unwrap(),
        Duration::from_secs(20),
    );
    out.assert_code(2);
}

/// `--help`, `-V` and a usage error with the reader gone: exit 0, 0 and 1, never a panic.
#[test]
fn help_version_and_usage_errors_on_broken_pipes() {
    for (args, code) in [
        (vec!["--help"], 0),
        (vec!["-V"], 0),
        (vec!["--no-such-flag"], 1),
    ] {
        let mut command = bin_command(&args, &[]);
        command.stdout(broken_pipe()).stderr(broken_pipe());
        let out = wait_with_timeout(command.spawn().unwrap(), Duration::from_secs(20));
        out.assert_code(code);
    }
}

/// A variable that is read but is not UTF-8 is a usage error naming it, as in argv; never
/// "unset" (which would send StatsD instead of EMF, include every container, wait 60 s).
#[test]
fn non_utf8_environment_values_are_usage_errors() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    let example = root().join(EXAMPLE);
    let example = example.to_str().unwrap();
    for (name, value) in [
        ("OUTPUT_FORMAT", &b"emf\xff"[..]),
        ("INCLUDE", b"log-router\xff"),
        ("INTERVAL", b"5\xff"),
    ] {
        let mut command = bin_command(&["--metadata-url", example, "--dry-run"], &[]);
        command.env(name, OsString::from_vec(value.to_vec()));
        let out = wait_with_timeout(command.spawn().unwrap(), Duration::from_secs(20));
        out.assert_code(1);
        assert!(
            out.stderr.contains(name) && out.stderr.contains("UTF-8"),
            "{name}: {}",
            out.describe()
        );
        assert!(out.stdout.is_empty(), "{name}: nothing sent");
    }
    // A variable the run does not read is none of its business.
    let mut command = bin_command(&["--metadata-url", example, "--dry-run"], &[]);
    command.env("UNRELATED", OsString::from_vec(b"\xff".to_vec()));
    let out = wait_with_timeout(command.spawn().unwrap(), Duration::from_secs(20));
    out.assert_success();
}

/// Read times before 1970 (a container clock never set): no `|T` field and an EMF timestamp
/// of the run's own time, never `|T0` or `"Timestamp": 0`.
#[test]
fn read_times_before_1970_send_no_timestamp() {
    let dir = TempDir::new();
    dir.write("task.json", read(&format!("{EXAMPLE}/task.json")));
    for (file, year) in [
        ("stats1.json", "1969-12-31T23:59:"),
        ("stats2.json", "1969-12-31T23:59:"),
    ] {
        let body = read(&format!("{EXAMPLE}/{file}"));
        // Same seconds and fractions, 1969 instead of 2024-05-14T10:00: the interval stays.
        let moved = body.replace("2024-05-14T10:00:", year);
        assert_ne!(moved, body);
        dir.write(file, moved);
    }
    let path = dir.path().to_str().unwrap();
    let statsd = run(&["--metadata-url", path, "--dry-run", "--timestamps"], &[]);
    statsd.assert_success();
    assert!(statsd.stdout.lines().count() > 50);
    assert!(
        statsd.stdout.lines().all(|l| !l.contains("|T")),
        "{}",
        statsd.describe()
    );
    // The same run with 2024 times does carry |T (the flag works).
    let example = root().join(EXAMPLE);
    let normal = run(
        &[
            "--metadata-url",
            example.to_str().unwrap(),
            "--dry-run",
            "--timestamps",
        ],
        &[],
    );
    assert!(normal.stdout.lines().all(|l| l.contains("|T1715680810")));

    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let emf = run(&["--metadata-url", path, "--format", "emf"], &[]);
    emf.assert_success();
    for line in emf.stdout.lines() {
        let doc: Value = serde_json::from_str(line).unwrap();
        let stamp = doc["_aws"]["Timestamp"].as_u64().unwrap();
        assert!(stamp >= before, "{stamp} is not the run's time ({before})");
    }
}

/// A stdout that cannot be written (closed at start, `>&-`; or open read-only, `1</dev/null`,
/// where every write fails with EBADF) is a send failure: exit 3 naming stdout. A stdout on
/// /dev/null is written fine: exit 0.
#[test]
fn a_closed_stdout_exits_3() {
    let example = root().join(EXAMPLE);
    let example = example.to_str().unwrap();
    let bin = crate::common::bin();
    for format in ["statsd", "prometheus", "emf"] {
        let args = ["--metadata-url", example, "--dry-run", "--format", format];
        // The shell closes fd 1 and execs the binary: Rust's runtime then reopens it on
        // /dev/null, which must not hide the closed stdout.
        let script = r#"exec "$0" "$@" >&-"#;
        let mut sh_args = vec!["-c", script, bin.to_str().unwrap()];
        sh_args.extend_from_slice(&args);
        let closed = crate::common::run_program("sh", &sh_args, &[]);
        let mut command = bin_command(&args, &[]);
        command.stdout(std::fs::File::open("/dev/null").unwrap());
        let read_only = wait_with_timeout(command.spawn().unwrap(), Duration::from_secs(20));
        for (how, out) in [(">&-", closed), ("1</dev/null", read_only)] {
            out.assert_code(3);
            assert!(
                out.stderr.contains("stdout"),
                "{format} {how}: {}",
                out.describe()
            );
        }
        let mut command = bin_command(&args, &[]);
        command.stdout(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/null")
                .unwrap(),
        );
        let out = wait_with_timeout(command.spawn().unwrap(), Duration::from_secs(20));
        out.assert_success();
    }
}
