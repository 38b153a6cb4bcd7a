//! What a run writes (metadata cache, `--since-last-run` state, `--capture`) never replaces
//! anything but a regular file, never writes through a symlink, and a capture is always fresh.

use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::Command;

use crate::common::{
    EXAMPLE, FakeEndpoint, Response, Run, TempDir, example_endpoint, read, run, run_program,
    run_udp,
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

// ---- Folders that are ours, files checked on the descriptor (issue 17 §1) ----

/// The uid and gid of the second user of the race tests (`nobody` on Debian; no account is
/// needed for the kernel to check permissions as that id).
const OTHER_USER: u32 = 65534;
/// The most times an attacker loop goes round: the runs it races end it first.
const MAX_SWAPS: u64 = 5_000_000;

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The example task without the values the agent updates while it runs, so that a run with a
/// usable cache sends the cached metadata without reading `/task` (the forged cache of the
/// race would be sent as it is).
fn steady_endpoint() -> FakeEndpoint {
    let mut task = crate::common::example_json("task.json");
    task.as_object_mut()
        .unwrap()
        .remove("EphemeralStorageMetrics");
    FakeEndpoint::serve(
        &task.to_string(),
        &[
            &read(&format!("{EXAMPLE}/stats1.json")),
            &read(&format!("{EXAMPLE}/stats2.json")),
        ],
    )
    .with_root(r#"{"Name":"ecs-statsd","DockerId":"self"}"#)
}

/// Serve the example's two stats samples again from the first: a later run on an endpoint
/// that repeats its last sample measures no interval, and says so in a warning of its own.
fn restart_stats(endpoint: &FakeEndpoint) {
    endpoint.set_route(
        "/task/stats",
        [1, 2].map(|n| Response::ok(read(&format!("{EXAMPLE}/stats{n}.json")))),
    );
}

/// A run of `endpoint` with a cleared environment (no `HOME`, no `XDG_CACHE_HOME`: the cache
/// is `$TMPDIR/ecs-statsd-<uid>/metadata.json`) and `TMPDIR=tmpdir`; the run and its datagrams.
fn run_in_tmpdir(endpoint: &FakeEndpoint, tmpdir: &Path, extra: &[&str]) -> (Run, Vec<String>) {
    let listener = crate::common::UdpListener::new();
    let port = listener.port().to_string();
    let url = endpoint.url();
    let mut args = vec![
        "--metadata-url",
        &url,
        "--statsd-port",
        &port,
        "--interval",
        "0",
        "--log-level",
        "warn",
    ];
    args.extend_from_slice(extra);
    let out = run(&args, &[("TMPDIR", tmpdir.to_str().unwrap())]);
    let datagrams = listener.datagrams_until_quiet(crate::common::QUIET, crate::common::MAX_WAIT);
    (out, datagrams)
}

/// Runs `attack` over and over on a thread whose kernel credentials are the second user's
/// (uid and gid [`OTHER_USER`], no supplementary groups: every file operation is checked by the
/// kernel as that user's), after `setup` (as that user too), while `runs` runs on this thread
/// as root. Returns what `runs` returned and how many rounds the attack made. Bounded: the
/// attack stops when `runs` returns, or after [`MAX_SWAPS`] rounds.
fn race<T>(
    setup: impl FnOnce() + Send,
    mut attack: impl FnMut() + Send,
    runs: impl FnOnce() -> T,
) -> (T, u64) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = AtomicBool::new(false);
    let (ready, started) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let attacker = scope.spawn(|| {
            use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};
            let gid = rustix::fs::Gid::from_raw(OTHER_USER);
            let uid = rustix::fs::Uid::from_raw(OTHER_USER);
            // This thread only (raw syscalls, not glibc's process-wide setuid).
            set_thread_groups(&[]).unwrap();
            set_thread_res_gid(gid, gid, gid).unwrap();
            set_thread_res_uid(uid, uid, uid).unwrap();
            assert_eq!(euid(), OTHER_USER);
            setup();
            ready.send(()).unwrap();
            let mut rounds = 0;
            while !stop.load(Ordering::Relaxed) && rounds < MAX_SWAPS {
                attack();
                rounds += 1;
            }
            rounds
        });
        started.recv().expect("the attacker thread set up");
        let result = runs();
        stop.store(true, Ordering::Relaxed);
        (result, attacker.join().expect("the attacker thread"))
    })
}

/// `renameat2(RENAME_EXCHANGE)` of two names in `dir`; a failure (one name missing yet) is
/// only a lost round.
fn exchange(dir: &Path, a: &str, b: &str) {
    let _ = rustix::fs::renameat_with(
        rustix::fs::CWD,
        dir.join(a),
        rustix::fs::CWD,
        dir.join(b),
        rustix::fs::RenameFlags::EXCHANGE,
    );
}

/// Issue 17 §1, the attack as reported: with `HOME` and `XDG_CACHE_HOME` unset, another user
/// creates the default cache folder `$TMPDIR/ecs-statsd-0` first in a world-writable, sticky
/// `TMPDIR` (as `/tmp` is), puts a forged cache in it (`cluster/PWNED`) and keeps exchanging
/// it in for whatever root writes there, and back. No run may send the forged metadata: the folder is
/// refused (owned by the other user), one warning a run, and the run goes on without the
/// cache (every run reads `/task`) and without the `--since-last-run` state (two samples).
#[test]
#[ignore = "needs root: a second user (uid 65534) races the runs; .ci/run runs it"]
fn another_users_cache_folder_is_refused_while_it_swaps_a_forged_cache_in() {
    assert_eq!(euid(), 0, "run as root");
    let tmpdir = TempDir::new();
    chmod(tmpdir.path(), 0o1777);
    let endpoint = steady_endpoint();
    // A cache this run would accept, but for cluster PWNED: made by a run of our own.
    let real = TempDir::new();
    let (out, _) = crate::common::run_udp(&endpoint, &[], &real);
    out.assert_success();
    let forged = std::fs::read_to_string(real.join("metadata.json"))
        .unwrap()
        .replace("cluster/default", "cluster/PWNED");
    assert!(forged.contains("PWNED"));
    let theirs = tmpdir.join("ecs-statsd-0");
    // Four runs at a time, as overlapping cron jobs would: more runs in the race's window.
    let (parallel, each) = (4, 20);
    let runs = parallel * each;
    let setup = || {
        std::fs::create_dir(&theirs).unwrap();
        chmod(&theirs, 0o777);
        std::fs::write(theirs.join("forged"), &forged).unwrap();
        std::fs::write(theirs.join("metadata.json"), &forged).unwrap();
        std::fs::write(theirs.join("metadata.json.last-sample"), "{}").unwrap();
    };
    // A fresh link to the forged file exchanged in and back out, so that a check of the
    // name sees root's file and an open of the name may get theirs. (A rename of root's over
    // the name replaces only the link: `forged` itself stays.)
    let attack = || {
        let bait = theirs.join("bait");
        let _ = std::fs::remove_file(&bait);
        let _ = std::fs::hard_link(theirs.join("forged"), &bait);
        exchange(&theirs, "metadata.json", "bait");
        exchange(&theirs, "metadata.json", "bait");
    };
    let (outcomes, swaps) = race(setup, attack, || {
        std::thread::scope(|scope| {
            let batches: Vec<_> = (0..parallel)
                .map(|_| {
                    scope.spawn(|| {
                        (0..each)
                            .map(|_| run_in_tmpdir(&endpoint, tmpdir.path(), &["--since-last-run"]))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            batches
                .into_iter()
                .flat_map(|batch| batch.join().unwrap())
                .collect::<Vec<_>>()
        })
    });
    assert!(swaps > 0, "the attack ran");
    let forged_runs = outcomes
        .iter()
        .filter(|(_, datagrams)| datagrams.iter().any(|d| d.contains("PWNED")))
        .count();
    assert_eq!(
        forged_runs, 0,
        "{forged_runs} of {runs} runs sent the forged metadata"
    );
    for (out, datagrams) in &outcomes {
        out.assert_success();
        assert!(!datagrams.is_empty(), "{}", out.describe());
        assert!(
            out.stderr.contains("owned by uid 65534, not by us (uid 0)"),
            "{}",
            out.describe()
        );
        // The concurrent runs share one endpoint, which repeats its last sample: a run that
        // reads it twice measures no interval and says so, a warning of its own.
        let about_the_folder = out
            .stderr
            .lines()
            .filter(|l| !l.contains("no byte rates over the interval"));
        assert_eq!(
            about_the_folder.count(),
            1,
            "one warning: {}",
            out.describe()
        );
    }
    assert_eq!(endpoint.requests("/task"), runs + 1, "no run used a cache");
    assert_eq!(
        endpoint.requests("/task/stats"),
        2 * (runs + 1),
        "no state either"
    );
    let mut left = names(&theirs);
    left.retain(|n| n.ends_with(".tmp") || n.contains("ecs-statsd"));
    assert!(left.is_empty(), "root wrote into their folder: {left:?}");
}

/// Issue 17 §1: `--capture` into a shared folder without the sticky bit, where another user
/// keeps exchanging the capture folder (root's own, made by the run) with a symlink to a
/// folder of root's. Whatever the moment: nothing lands in, and nothing is removed from, the
/// folder the symlink points to. A run that opens the folder while the symlink is in its place
/// refuses it (exit 1); one that opened the real folder writes every file into it through the
/// descriptor it holds, wherever the name then points.
#[test]
#[ignore = "needs root: a second user (uid 65534) races the runs; .ci/run runs it"]
fn a_capture_folder_swapped_for_a_symlink_never_redirects_a_write() {
    assert_eq!(euid(), 0, "run as root");
    let shared = TempDir::new();
    chmod(shared.path(), 0o777);
    let victim = TempDir::new();
    std::fs::write(victim.join("task.json"), "precious").unwrap();
    let capture = shared.join("capture");
    std::fs::create_dir(&capture).unwrap();
    std::fs::set_permissions(
        &capture,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let endpoint = example_endpoint();
    let url = endpoint.url();
    let setup = || std::os::unix::fs::symlink(victim.path(), shared.join("link")).unwrap();
    let attack = || exchange(shared.path(), "capture", "link");
    let runs = 30;
    let (outcomes, swaps) = race(setup, attack, || {
        (0..runs)
            .map(|_| {
                let args = [
                    "--metadata-url",
                    &url,
                    "--interval",
                    "0",
                    "--samples",
                    "4",
                    "--no-cache",
                    "--dry-run",
                    "--capture",
                    capture.to_str().unwrap(),
                ];
                run(&args, &[])
            })
            .collect::<Vec<_>>()
    });
    assert!(swaps > 0, "the attack ran");
    assert_eq!(
        std::fs::read_to_string(victim.join("task.json"))
            .ok()
            .as_deref(),
        Some("precious"),
        "a run wrote or removed through the symlink"
    );
    assert_eq!(names(victim.path()), ["task.json"]);
    let mut captured = 0;
    for out in &outcomes {
        match out.status {
            Some(0) => captured += 1,
            Some(1) => assert!(
                out.stderr.contains("is a symbolic link, not a folder"),
                "{}",
                out.describe()
            ),
            _ => panic!("{}", out.describe()),
        }
    }
    assert!(captured > 0, "no run captured");
}

/// A symlink planted in place of the default cache folder (`$TMPDIR/ecs-statsd-<uid>`) is
/// never followed: one warning, the run goes on without the cache and the state, and the
/// folder it points to is untouched.
#[test]
fn a_symlink_in_place_of_the_cache_folder_is_refused() {
    let tmpdir = TempDir::new();
    let victim = TempDir::new();
    victim.write("metadata.json", "precious");
    let folder = tmpdir.join(format!("ecs-statsd-{}", euid()));
    std::os::unix::fs::symlink(victim.path(), &folder).unwrap();
    let endpoint = example_endpoint();
    for extra in [&[][..], &["--since-last-run"]] {
        restart_stats(&endpoint);
        let (out, datagrams) = run_in_tmpdir(&endpoint, tmpdir.path(), extra);
        out.assert_success();
        assert!(!datagrams.is_empty());
        assert!(
            out.stderr.contains(&format!(
                "{} is a symbolic link, not a folder",
                folder.display()
            )),
            "{}",
            out.describe()
        );
        assert_eq!(
            out.stderr.lines().count(),
            1,
            "one warning: {}",
            out.describe()
        );
    }
    assert_eq!(names(victim.path()), ["metadata.json"]);
    assert_eq!(
        std::fs::read_to_string(victim.join("metadata.json")).unwrap(),
        "precious"
    );
    assert_eq!(
        endpoint.requests("/task/stats"),
        4,
        "two samples each: no state"
    );
}

/// A cache folder writable by group or others (or, for root, owned by another user) is not
/// ours: the cache in it is neither read (`/task` is read) nor rewritten, with one warning; a
/// missing one is created 0700.
#[test]
fn a_cache_folder_that_is_not_private_is_refused() {
    let parent = TempDir::new();
    let folder = parent.join("cache");
    let cache_file = folder.join("metadata.json");
    let cache_arg = ["--cache-file", cache_file.to_str().unwrap()];
    let endpoint = steady_endpoint();
    let (out, _) = run_in_tmpdir(&endpoint, parent.path(), &cache_arg);
    out.assert_success();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&folder).unwrap().permissions())
            & 0o777,
        0o700,
        "created 0700"
    );
    let cached = std::fs::read(&cache_file).unwrap();
    run_in_tmpdir(&endpoint, parent.path(), &cache_arg)
        .0
        .assert_success();
    assert_eq!(
        endpoint.requests("/task"),
        1,
        "the second run used the cache"
    );

    let mut cases = vec![(0o770, "writable by group or others (mode 770)".to_string())];
    cases.push((0o707, "writable by group or others (mode 707)".into()));
    if euid() == 0 {
        cases.push((
            0o700,
            format!("owned by uid {OTHER_USER}, not by us (uid 0)"),
        ));
    }
    for (mode, why) in cases {
        chmod(&folder, mode);
        if mode == 0o700 {
            let other = Some(rustix::fs::Uid::from_raw(OTHER_USER));
            rustix::fs::chown(&folder, other, None).unwrap();
        }
        let before = endpoint.requests("/task");
        restart_stats(&endpoint);
        let (out, datagrams) = run_in_tmpdir(&endpoint, parent.path(), &cache_arg);
        out.assert_success();
        assert!(!datagrams.is_empty());
        assert!(out.stderr.contains(&why), "{why}: {}", out.describe());
        assert_eq!(
            out.stderr.lines().count(),
            1,
            "one warning: {}",
            out.describe()
        );
        assert_eq!(endpoint.requests("/task"), before + 1, "{why}: not read");
        assert_eq!(
            std::fs::read(&cache_file).unwrap(),
            cached,
            "{why}: not written"
        );
        assert_eq!(names(&folder), ["metadata.json"], "{why}: nothing written");
    }
}

/// A symlink planted in place of the `--capture` folder: refused (exit 1, naming it) before
/// any request, and the folder it points to is untouched.
#[test]
fn a_symlink_in_place_of_the_capture_folder_is_refused() {
    let dir = TempDir::new();
    let victim = TempDir::new();
    victim.write("task.json", "precious");
    let capture = dir.join("capture");
    std::os::unix::fs::symlink(victim.path(), &capture).unwrap();
    let endpoint = example_endpoint();
    let out = capture_run(&endpoint, &capture, &TempDir::new(), &[]);
    out.assert_code(1);
    assert!(
        out.stderr.contains("is a symbolic link, not a folder"),
        "{}",
        out.describe()
    );
    assert_eq!(endpoint.total_requests(), 0);
    assert_eq!(names(victim.path()), ["task.json"]);
    assert_eq!(
        std::fs::read_to_string(victim.join("task.json")).unwrap(),
        "precious"
    );
}

/// Issue 17 §6: a relative `XDG_CACHE_HOME` is ignored (XDG Base Directory Specification):
/// the cache goes to `$HOME/.cache/ecs-statsd`, nothing to the current folder.
#[test]
fn a_relative_xdg_cache_home_is_ignored() {
    let home = TempDir::new();
    let cwd = TempDir::new();
    let endpoint = example_endpoint();
    let url = endpoint.url();
    let listener = crate::common::UdpListener::new();
    let port = listener.port().to_string();
    let args = [
        "--metadata-url",
        &url,
        "--statsd-port",
        &port,
        "--interval",
        "0",
    ];
    let env = [
        ("XDG_CACHE_HOME", "relative/cache"),
        ("HOME", home.path().to_str().unwrap()),
    ];
    let child = crate::common::bin_command(&args, &env)
        .current_dir(cwd.path())
        .spawn()
        .unwrap();
    crate::common::wait_with_timeout(child, crate::common::RUN_TIMEOUT).assert_success();
    assert!(home.join(".cache/ecs-statsd/metadata.json").is_file());
    assert!(names(cwd.path()).is_empty(), "{:?}", names(cwd.path()));
}

// ---- --output-file (issue 17 §3, §6) ----

/// The example replayed as Prometheus text into `path`, with `prefix` before the command
/// (`sh -c '<prefix> exec "$@"'`).
fn output_file_run(path: &Path, prefix: &str) -> Run {
    let bin = crate::common::bin();
    let example = crate::common::example_dir();
    run_program(
        "sh",
        &[
            "-c",
            &format!("{prefix} exec \"$@\""),
            "sh",
            bin.to_str().unwrap(),
            "--metadata-url",
            &example,
            "--format",
            "prometheus",
            "--output-file",
            path.to_str().unwrap(),
        ],
        &[],
    )
}

/// Issue 17 §3: after a good run, a run whose new file cannot be written (here a file size
/// limit, `ulimit -f 1`, with SIGXFSZ ignored so that the write fails with EFBIG as on a full
/// disk) removes the old file and says so (exit 3): node_exporter must not serve the last
/// good `exporter_status 1` forever. No temporary file is left.
#[test]
fn an_output_file_that_cannot_be_written_removes_the_old_one() {
    let dir = TempDir::new();
    let path = dir.join("ecs.prom");
    output_file_run(&path, "").assert_success();
    let good = std::fs::read_to_string(&path).unwrap();
    assert!(good.contains("exporter_status 1"), "{good}");
    assert!(good.len() > 2048, "larger than the limit below");
    let out = output_file_run(&path, "ulimit -f 1 && trap '' XFSZ &&");
    out.assert_code(3);
    assert!(
        out.stderr.contains("File too large")
            && out.stderr.contains(&format!(
                "removed the previous {}, so that it is not served as current",
                path.display()
            )),
        "{}",
        out.describe()
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
    // And the next good run writes it again.
    output_file_run(&path, "").assert_success();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), good);
}

/// Issue 17 §6: a legal 255-byte `--output-file` name is written (the temporary name beside it
/// is short).
#[test]
fn an_output_file_with_a_255_byte_name_is_written() {
    let dir = TempDir::new();
    let name = format!("{}.prom", "e".repeat(250));
    assert_eq!(name.len(), 255);
    let path = dir.join(&name);
    output_file_run(&path, "").assert_success();
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("exporter_status 1")
    );
    assert_eq!(names(dir.path()), [name]);
}
