//! What a run writes (metadata cache, `--since-last-run` state, `--capture`) never replaces
//! anything but a regular file, never writes through a symlink, and a capture is always fresh.

use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::Command;

use crate::common::{
    EXAMPLE, FakeEndpoint, Response, TempDir, example_endpoint, read, run, run_program, run_udp,
};

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .ok()
        == Some(0)
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// A symlink at the cache path is neither followed nor replaced: the run goes on without
/// writing the cache, and says so.
#[test]
fn a_symlinked_cache_is_neither_followed_nor_replaced() {
    let cache = TempDir::new();
    let target = cache.join("precious");
    std::fs::write(&target, "do not touch").unwrap();
    std::os::unix::fs::symlink(&target, cache.join("metadata.json")).unwrap();
    let endpoint = example_endpoint();
    let (out, _) = run_udp(&endpoint, &["--log-level", "warn"], &cache);
    out.assert_success();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "do not touch");
    let meta = std::fs::symlink_metadata(cache.join("metadata.json")).unwrap();
    assert!(meta.file_type().is_symlink());
    assert!(
        out.stderr
            .contains("is a symbolic link, not a regular file"),
        "{}",
        out.describe()
    );
}

/// A FIFO at the cache path (also with `--since-last-run`, whose state lives beside it):
/// never opened (a read would block), never replaced, no state file beside it, and one
/// warning a run (as for `CACHE_FILE=/dev/null`, a device: the same check), not one at each
/// read and write.
#[test]
fn a_fifo_cache_is_left_alone_and_the_run_goes_on() {
    let cache = TempDir::new();
    let fifo = cache.join("metadata.json");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    for extra in [&["--since-last-run"][..], &["--since-last-run"], &[]] {
        let endpoint = example_endpoint();
        let mut args = vec!["--log-level", "warn"];
        args.extend_from_slice(extra);
        let (out, datagrams) = run_udp(&endpoint, &args, &cache);
        out.assert_success();
        assert!(!datagrams.is_empty());
        assert!(out.stderr.contains("is a FIFO"), "{}", out.describe());
        assert_eq!(
            out.stderr.lines().count(),
            1,
            "one warning: {}",
            out.describe()
        );
        assert_eq!(endpoint.requests("/task/stats"), 2, "two samples: no state");
    }
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(names(cache.path()), ["metadata.json"]);
}

/// The issue's recipe: `CACHE_FILE=/dev/null --since-last-run` as root. Run in a private
/// mount namespace over a tmpfs /dev holding its own null device, so the real /dev/null is
/// safe even from a build without the fix. `/dev/null` must stay the character device 1,3
/// and nothing may appear beside it.
#[test]
fn cache_file_dev_null_is_never_replaced() {
    if !is_root() {
        eprintln!("skipped: creating a device node needs root");
        return;
    }
    let probe = run_program(
        "unshare",
        &["--mount", "--propagation", "private", "true"],
        &[],
    );
    if !probe.success() {
        eprintln!(
            "skipped: unshare --mount does not work here: {}",
            probe.stderr
        );
        return;
    }
    let endpoint = example_endpoint();
    let listener = crate::common::UdpListener::new();
    let bin = crate::common::bin();
    // Two runs: the second would find whatever the first left at /dev/null.
    let script = r#"set -e
mount -t tmpfs tmpfs /dev
mknod -m 666 /dev/null c 1 3
"$@" || echo "exit $?"
"$@" || echo "exit $?"
ls -a /dev
stat -c '%F %t,%T' /dev/null"#;
    let url = endpoint.url();
    let port = listener.port().to_string();
    let out = run_program(
        "unshare",
        &[
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
            bin.to_str().unwrap(),
            "--metadata-url",
            &url,
            "--statsd-port",
            &port,
            "--interval",
            "0",
            "--since-last-run",
            "--log-level",
            "warn",
        ],
        &[("CACHE_FILE", "/dev/null")],
    );
    out.assert_success();
    assert!(!out.stdout.contains("exit "), "{}", out.describe());
    assert!(
        out.stdout
            .trim_end()
            .ends_with("character special file 1,3"),
        "{}",
        out.describe()
    );
    assert!(
        !out.stdout.contains("null.last-sample"),
        "{}",
        out.describe()
    );
    assert!(!out.stdout.contains(".tmp"), "{}", out.describe());
    assert!(out.stderr.contains("is a device"), "{}", out.describe());
    assert!(
        !listener
            .datagrams_until_quiet(
                std::time::Duration::from_millis(300),
                std::time::Duration::from_secs(5)
            )
            .is_empty()
    );
}

fn capture_run(
    endpoint: &FakeEndpoint,
    dir: &Path,
    cache: &TempDir,
    extra: &[&str],
) -> crate::common::Run {
    let mut args = vec!["--capture", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    run_udp(endpoint, &args, cache).0
}

/// A symlink planted at `task.json` in the capture directory: its target is never written.
#[test]
fn a_capture_never_writes_through_a_symlink() {
    let outside = TempDir::new();
    let target = outside.join("precious");
    std::fs::write(&target, "do not touch").unwrap();
    let dir = TempDir::new();
    std::os::unix::fs::symlink(&target, dir.join("task.json")).unwrap();
    let endpoint = example_endpoint();
    capture_run(&endpoint, dir.path(), &TempDir::new(), &[]).assert_success();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "do not touch");
    assert!(
        std::fs::symlink_metadata(dir.join("task.json"))
            .unwrap()
            .file_type()
            .is_file()
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("task.json")).unwrap(),
        read(&format!("{EXAMPLE}/task.json"))
    );
}

/// `--capture` into a directory used before: the old capture's files go (a three-sample
/// capture followed by a two-sample one leaves no stats003.json), /task is read even with a
/// warm cache (the capture must hold it), and the replay gives the live run's samples. A
/// directory holding anything else is refused, untouched, before any request.
#[test]
fn a_capture_into_a_used_directory_is_fresh() {
    let dir = TempDir::new();
    let cache = TempDir::new();
    let three = FakeEndpoint::new()
        .route(
            "/task",
            [Response::ok(read(&format!("{EXAMPLE}/task.json")))],
        )
        .route(
            "/task/stats",
            ["stats1.json", "stats1.json", "stats2.json"]
                .map(|f| Response::ok(read(&format!("{EXAMPLE}/{f}")))),
        )
        .with_root(r#"{"Name":"ecs-statsd"}"#);
    capture_run(&three, dir.path(), &cache, &["--samples", "3"]).assert_success();
    assert_eq!(
        names(dir.path()),
        [
            "container.json",
            "stats001.json",
            "stats002.json",
            "stats003.json",
            "task.json"
        ]
    );
    let endpoint = example_endpoint();
    capture_run(&endpoint, dir.path(), &cache, &[]).assert_success();
    assert_eq!(
        endpoint.requests("/task"),
        1,
        "a capture reads /task despite the cache"
    );
    assert_eq!(
        names(dir.path()),
        [
            "container.json",
            "stats001.json",
            "stats002.json",
            "task.json"
        ]
    );
    for (file, served) in [
        ("stats001.json", "stats1.json"),
        ("stats002.json", "stats2.json"),
    ] {
        assert_eq!(
            std::fs::read_to_string(dir.join(file)).unwrap(),
            read(&format!("{EXAMPLE}/{served}"))
        );
    }
    run(
        &["--metadata-url", dir.path().to_str().unwrap(), "--dry-run"],
        &[],
    )
    .assert_success();

    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let endpoint = example_endpoint();
    let out = capture_run(&endpoint, dir.path(), &cache, &[]);
    out.assert_code(1);
    assert!(
        out.stderr.contains("notes.txt") && out.stderr.contains("not part of a capture"),
        "{}",
        out.describe()
    );
    assert_eq!(endpoint.total_requests(), 0);
    assert_eq!(names(dir.path()).len(), 5, "nothing removed");
}

/// `--samples 1000` captured and replayed: the capture's `stats1000.json` is the last sample
/// of the replay, as it was of the live run (in name order it would fall between
/// `stats100.json` and `stats101.json`). The served samples are the example's first 999
/// times, then its second: a replay that ended on any other file would send other CPU
/// figures. `--interval 0` and a fetch budget no machine runs out of: no wall clock.
#[test]
fn a_thousand_sample_capture_replays_in_the_order_read() {
    let dir = TempDir::new();
    let first = read(&format!("{EXAMPLE}/stats1.json"));
    let endpoint = FakeEndpoint::new()
        .route(
            "/task",
            [Response::ok(read(&format!("{EXAMPLE}/task.json")))],
        )
        .route(
            "/task/stats",
            std::iter::repeat_n(Response::ok(first.as_str()), 999)
                .chain([Response::ok(read(&format!("{EXAMPLE}/stats2.json")))]),
        )
        .with_root(r#"{"Name":"ecs-statsd"}"#);
    let url = endpoint.url();
    let capture = dir.join("capture");
    let sorted = |out: &crate::common::Run| -> Vec<String> {
        out.assert_success();
        let mut lines: Vec<String> = out
            .stdout
            .lines()
            // Wall-clock figures of the live run only (documented), and the series count,
            // which counts those two.
            .filter(|l| {
                !l.contains("exporter_fetch_seconds")
                    && !l.contains("exporter_run_seconds")
                    && !l.contains("exporter_series:")
            })
            .map(String::from)
            .collect();
        lines.sort();
        lines
    };
    let common = ["--samples", "1000", "--dry-run", "--timestamps"];
    let mut args = vec![
        "--metadata-url",
        &url,
        "--interval",
        "0",
        "--fetch-budget",
        "86400",
        "--no-cache",
        "--capture",
        capture.to_str().unwrap(),
    ];
    args.extend(common);
    let live = sorted(&run(&args, &[]));
    assert_eq!(endpoint.requests("/task/stats"), 1000);
    assert!(capture.join("stats1000.json").is_file());
    let mut args = vec!["--metadata-url", capture.to_str().unwrap()];
    args.extend(common);
    assert_eq!(sorted(&run(&args, &[])), live);
}
