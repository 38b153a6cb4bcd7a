//! The command line a person types (`--flag=value`, `-h`, typos, a replay folder without
//! task.json), `--output-file`, and the warnings a default run gives when it measures less
//! than asked.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::PathBuf;

use crate::common::{
    EXAMPLE, FakeEndpoint, Response, Run, TempDir, UdpListener, example_dir, example_endpoint,
    parse_all, read, run,
};

fn assert_usage_error(out: &Run, needle: &str) {
    out.assert_code(1);
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout: {}",
        out.describe()
    );
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "one line: {}",
        out.describe()
    );
    assert!(
        out.stderr.contains(needle),
        "{needle:?}: {}",
        out.describe()
    );
}

#[test]
fn flag_equals_value_parses_like_flag_space_value_and_dash_h_is_help() {
    let dir = example_dir();
    let spaced = run(
        &["--metadata-url", &dir, "--dry-run", "--tag", "team:a=b"],
        &[],
    );
    spaced.assert_success();
    let joined = run(
        &[
            &format!("--metadata-url={dir}"),
            "--dry-run",
            "--tag=team:a=b",
        ],
        &[],
    );
    joined.assert_success();
    assert_eq!(joined.stdout, spaced.stdout);
    // Split at the first `=` only; DogStatsD tag values then sanitize `=` to `_`.
    let got = parse_all(&joined.stdout.lines().map(String::from).collect::<Vec<_>>());
    assert!(
        got.iter().all(|l| l.has_tag("team", "a_b")),
        "{}",
        joined.stdout
    );

    let short = run(&["-h"], &[]);
    short.assert_success();
    assert_eq!(short.stdout, run(&["--help"], &[]).stdout);
    assert!(short.stdout.contains("--output-file"), "{}", short.stdout);
}

#[test]
fn an_unknown_flag_names_the_closest_real_one() {
    let out = run(&["--intervl", "5", "--dry-run"], &[]);
    assert_usage_error(&out, "unknown flag --intervl; did you mean --interval?");
    let out = run(&["--statsd_port=8125"], &[]);
    assert_usage_error(&out, "did you mean --statsd-port?");
}

/// argh's own wording never reaches the user: every command line error is one line of ours.
#[test]
fn command_line_errors_are_one_clean_line() {
    // After `--` nothing is a flag: no "did you mean" the very flag given.
    let out = run(&["--", "--dry-run"], &[]);
    assert_usage_error(&out, "positional arguments are not accepted");
    assert!(out.stderr.contains("\"--dry-run\""), "{}", out.describe());
    assert!(!out.stderr.contains("did you mean"), "{}", out.describe());

    // A lowercase short flag: the real one is named, with no stray `;`.
    let out = run(&["-v"], &[]);
    assert_usage_error(&out, "unknown flag -v; did you mean -V (--version)?");
    let out = run(&["--completely-different"], &[]);
    assert_usage_error(&out, "unknown flag --completely-different (");
    assert!(!out.stderr.contains(";"), "{}", out.describe());

    for flag in ["--interval", "--metadata-url"] {
        let out = run(&[flag], &[]);
        assert_usage_error(&out, &format!("error: {flag} needs a value"));
        assert!(!out.stderr.contains(".;"), "{}", out.describe());
        assert!(!out.stderr.contains("No value"), "{}", out.describe());
    }
    let out = run(&["--interval", "1", "--interval", "2"], &[]);
    assert_usage_error(&out, "error: --interval is given twice");
    assert!(!out.stderr.contains("Error parsing"), "{}", out.describe());
    // A switch given twice too, as documented for every flag (argh alone accepts it).
    for args in [
        &["--dry-run", "--dry-run"][..],
        &["--no-cache", "-V", "--no-cache"],
    ] {
        let out = run(args, &[]);
        assert_usage_error(&out, &format!("error: {} is given twice", args[0]));
        assert!(out.stdout.is_empty(), "{}", out.describe());
    }
}

#[test]
fn a_replay_folder_without_task_json_is_a_usage_error_naming_it() {
    let dir = TempDir::new();
    dir.write("stats1.json", read(&format!("{EXAMPLE}/stats1.json")));
    let out = run(
        &["--metadata-url", dir.path().to_str().unwrap(), "--dry-run"],
        &[],
    );
    let missing = dir.join("task.json");
    assert_usage_error(&out, &missing.display().to_string());
    assert!(
        !out.stderr.contains("exporter_status"),
        "{}",
        out.describe()
    );
}

/// Every format writes to the file exactly what it prints to stdout (a replay is
/// deterministic), with nothing left on stdout and no temporary file beside it.
#[test]
fn output_file_holds_exactly_what_stdout_would() {
    let dir = example_dir();
    let out_dir = TempDir::new();
    for format in [
        &["--dry-run"][..],
        &["--format", "prometheus"],
        &["--format", "emf"],
    ] {
        let mut args = vec!["--metadata-url", dir.as_str()];
        args.extend_from_slice(format);
        let printed = run(&args, &[]);
        printed.assert_success();
        assert!(!printed.stdout.is_empty());

        let file = out_dir.join("out.txt");
        let file_arg = format!("--output-file={}", file.display());
        args.push(&file_arg);
        let written = run(&args, &[]);
        written.assert_success();
        assert!(written.stdout.is_empty(), "{}", written.describe());
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            printed.stdout,
            "{format:?}"
        );
        let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        assert_eq!(
            fs::read_dir(out_dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }
    // The environment variable works as the flag does.
    let env_file = out_dir.join("env.prom");
    let out = run(
        &["--metadata-url", &dir, "--format", "prometheus"],
        &[("OUTPUT_FILE", env_file.to_str().unwrap())],
    );
    out.assert_success();
    assert!(
        fs::read_to_string(&env_file)
            .unwrap()
            .contains("exporter_status")
    );
}

fn prometheus_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(['{', ' ']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A failed run still replaces the file, so a textfile collector reads `exporter_status 0`
/// and whatever was measured, never the last good run's file forever.
#[test]
fn output_file_is_replaced_after_a_failed_run() {
    let out_dir = TempDir::new();
    let file = out_dir.join("ecs.prom");
    let file_arg = file.to_str().unwrap();
    let endpoint = example_endpoint();
    let url = endpoint.url();
    let args = [
        "--metadata-url",
        url.as_str(),
        "--interval",
        "0",
        "--no-cache",
        "--format",
        "prometheus",
        "--output-file",
        file_arg,
    ];
    run(&args, &[]).assert_success();
    let good = fs::read_to_string(&file).unwrap();
    assert_eq!(
        prometheus_value(&good, "ecs_task_exporter_status"),
        Some(1.0)
    );
    assert!(prometheus_value(&good, "ecs_task_cpu_usage_ratio").is_some());

    // The second sample fails: the one-sample levels and status 0.
    endpoint.set_route(
        "/task/stats",
        [
            Response::ok(read(&format!("{EXAMPLE}/stats1.json"))),
            Response::new(404, "gone"),
        ],
    );
    run(&args, &[]).assert_code(2);
    let partial = fs::read_to_string(&file).unwrap();
    assert_eq!(
        prometheus_value(&partial, "ecs_task_exporter_status"),
        Some(0.0)
    );
    assert!(
        prometheus_value(&partial, "ecs_task_mem_usage").is_some(),
        "{partial}"
    );
    assert!(prometheus_value(&partial, "ecs_task_cpu_usage_ratio").is_none());

    // The endpoint is gone: status 0 alone.
    drop(endpoint);
    run(&args, &[]).assert_code(2);
    let failed = fs::read_to_string(&file).unwrap();
    assert_eq!(
        prometheus_value(&failed, "ecs_task_exporter_status"),
        Some(0.0)
    );
    assert!(prometheus_value(&failed, "ecs_task_mem_usage").is_none());
    assert_eq!(
        fs::read_dir(out_dir.path()).unwrap().count(),
        1,
        "no temp file left"
    );
}

/// A symlink, /dev/null or a FIFO is never written through nor replaced; the run fails
/// before it reads the endpoint (exit 3, one line).
#[test]
fn output_file_refuses_what_is_not_a_regular_file() {
    let dir = TempDir::new();
    let target = dir.write("target.prom", "keep\n");
    let link = dir.join("link.prom");
    symlink(&target, &link).unwrap();
    let fifo = dir.join("fifo.prom");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for (path, what) in [
        (link.clone(), "a symbolic link"),
        (PathBuf::from("/dev/null"), "a device"),
        (fifo.clone(), "a FIFO"),
    ] {
        let endpoint = example_endpoint();
        let out = run(
            &[
                "--metadata-url",
                &endpoint.url(),
                "--interval",
                "0",
                "--no-cache",
                "--format",
                "prometheus",
                "--output-file",
                path.to_str().unwrap(),
            ],
            &[],
        );
        out.assert_code(3);
        assert!(out.stdout.is_empty(), "{}", out.describe());
        assert!(out.stderr.contains(what), "{what}: {}", out.describe());
        assert_eq!(endpoint.total_requests(), 0, "fails before sampling");
    }
    assert_eq!(fs::read_to_string(&target).unwrap(), "keep\n");
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 3);
}

/// The lines of `stderr` at WARN level that contain `needle`.
fn warnings(out: &Run, needle: &str) -> usize {
    out.stderr
        .lines()
        .filter(|l| l.contains("WARN") && l.contains(needle))
        .count()
}

/// By default (level warn) a run that measures less than asked says so once on stderr;
/// `--log-level error` keeps it silent.
#[test]
fn measuring_less_than_asked_warns_once_by_default() {
    let tmp = TempDir::new();
    // A folder that cannot be created, even by root: neither the cache nor the state can be
    // written (and, not existing, neither is unreadable).
    let unwritable = PathBuf::from("/proc/ecs-statsd-no-such-dir/metadata.json");
    // No container metadata at the root: the own container is not found.
    let endpoint = FakeEndpoint::serve(
        &read(&format!("{EXAMPLE}/task.json")),
        &[
            &read(&format!("{EXAMPLE}/stats1.json")),
            &read(&format!("{EXAMPLE}/stats2.json")),
        ],
    );
    // A real destination: the state is stored only after a delivery.
    let listener = UdpListener::new();
    let url = endpoint.url();
    let port = listener.port().to_string();
    let args = |level: Option<&'static str>| {
        let mut args = vec![
            "--metadata-url".to_string(),
            url.clone(),
            "--interval".into(),
            "0".into(),
            "--statsd-port".into(),
            port.clone(),
            "--since-last-run".into(),
            "--cache-file".into(),
            unwritable.to_string_lossy().into_owned(),
        ];
        if let Some(level) = level {
            args.extend(["--log-level".into(), level.into()]);
        }
        args
    };
    let owned = args(None);
    let out = run(&owned.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    out.assert_success();
    // The cache folder is opened once: one warning for the cache and the state.
    for needle in [
        "own container lookup failed",
        "metadata cache off for this run, and the --since-last-run state beside it",
    ] {
        assert_eq!(warnings(&out, needle), 1, "{needle}: {}", out.describe());
    }
    assert_eq!(out.stderr.lines().count(), 2, "{}", out.describe());
    let owned = args(Some("error"));
    let quiet = run(&owned.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    quiet.assert_success();
    assert!(quiet.stderr.is_empty(), "{}", quiet.describe());

    // A damaged previous sample: the run falls back to two samples, and says so once.
    let cache = tmp.join("metadata.json");
    let state = tmp.join("metadata.json.last-sample");
    fs::write(&state, "not json").unwrap();
    fs::set_permissions(&state, fs::Permissions::from_mode(0o600)).unwrap();
    let endpoint = example_endpoint();
    let out = run(
        &[
            "--metadata-url",
            &endpoint.url(),
            "--interval",
            "0",
            "--dry-run",
            "--since-last-run",
            "--cache-file",
            cache.to_str().unwrap(),
        ],
        &[],
    );
    out.assert_success();
    assert_eq!(warnings(&out, "not used: damaged"), 1, "{}", out.describe());
    assert_eq!(endpoint.requests("/task/stats"), 2, "two samples taken");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
}
