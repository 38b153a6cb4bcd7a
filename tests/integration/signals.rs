//! SIGTERM, SIGINT, SIGHUP and SIGQUIT sent to the real binary in each phase of a run.

use std::time::{Duration, Instant};

use crate::common::{
    EXAMPLE, FakeEndpoint, MAX_WAIT, QUIET, Response, SIGHUP, SIGINT, SIGQUIT, SIGTERM,
    UdpListener, WEB, example_json, lines, parse_all, read, send_signal, spawn, value,
    wait_with_timeout,
};

/// Start a live run against `endpoint`, sending to UDP `port`, with a 30 s interval (long
/// enough that only a signal ends it early) and no cache.
fn start_live(endpoint: &FakeEndpoint, port: &str, extra: &[&str]) -> std::process::Child {
    let url = endpoint.url();
    let mut args = vec![
        "--metadata-url",
        url.as_str(),
        "--statsd-port",
        port,
        "--interval",
        "30",
        "--no-cache",
    ];
    args.extend_from_slice(extra);
    spawn(&args, &[])
}

/// Wait (bounded) until the endpoint has seen `n` requests for `path`.
fn wait_for_requests(endpoint: &FakeEndpoint, path: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while endpoint.requests(path) < n {
        assert!(
            Instant::now() < deadline,
            "{path} never requested {n} times"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn endpoint(stats: Vec<Response>) -> FakeEndpoint {
    FakeEndpoint::new()
        .route(
            "/task",
            [Response::ok(read(&format!("{EXAMPLE}/task.json")))],
        )
        .route("/task/stats", stats)
}

fn stats(n: usize) -> Response {
    Response::ok(read(&format!("{EXAMPLE}/stats{n}.json")))
}

/// Every stop signal the same way: TERM, INT, HUP (a closed terminal) and QUIT (the
/// `STOPSIGNAL` of nginx images, forwarded by `tini -g`) end the interval, the run sends and
/// exits 0. Before, HUP and QUIT killed the run with nothing sent (exit 129/131).
#[test]
fn sigterm_during_the_interval_sends_at_once_and_exits_0() {
    for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT] {
        let endpoint = endpoint(vec![stats(1), stats(2)]);
        let listener = UdpListener::new();
        let port = listener.port().to_string();
        let child = start_live(&endpoint, &port, &[]);
        wait_for_requests(&endpoint, "/task/stats", 1);
        std::thread::sleep(Duration::from_millis(100));
        let sent = Instant::now();
        send_signal(&child, signal);
        let out = wait_with_timeout(child, Duration::from_secs(25));
        // Well under the 30 s interval: the wait was cut short (2 s is the target; the
        // bound is loose so a loaded 2-core machine cannot fail it).
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "took {:?}",
            sent.elapsed()
        );
        out.assert_success();
        let got = parse_all(&lines(&listener.datagrams_until_quiet(QUIET, MAX_WAIT)));
        assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 1.0);
        assert!(got.iter().any(|l| l.name == "ecs_task.cpu_usage_ratio"));
        assert_eq!(endpoint.requests("/task/stats"), 2);
    }
}

#[test]
fn sigterm_before_the_first_sample_exits_143_without_sending() {
    let endpoint = endpoint(vec![stats(1).delay(Duration::from_millis(1500)), stats(2)]);
    let listener = UdpListener::new();
    let port = listener.port().to_string();
    let child = start_live(&endpoint, &port, &[]);
    wait_for_requests(&endpoint, "/task/stats", 1);
    send_signal(&child, SIGTERM);
    let out = wait_with_timeout(child, Duration::from_secs(20));
    out.assert_code(128 + SIGTERM);
    assert!(
        out.stderr.contains("before the first sample"),
        "{}",
        out.describe()
    );
    assert!(
        listener
            .datagrams_until_quiet(Duration::from_millis(300), Duration::from_secs(1))
            .is_empty()
    );
}

/// Any second stop signal exits at once with 128 + that signal, whichever came first.
#[test]
fn a_second_signal_exits_immediately() {
    for (first, second) in [(SIGTERM, SIGTERM), (SIGHUP, SIGQUIT)] {
        // The second stats request never answers; the request timeout is long, so only the
        // second signal can end the run quickly.
        let endpoint = endpoint(vec![stats(1), Response::hang()]);
        let listener = UdpListener::new();
        let port = listener.port().to_string();
        let child = start_live(&endpoint, &port, &["--timeout", "60"]);
        wait_for_requests(&endpoint, "/task/stats", 1);
        // Past the first sample (a signal during it is "before the first sample": exit at
        // once, no second request).
        std::thread::sleep(Duration::from_millis(300));
        send_signal(&child, first);
        wait_for_requests(&endpoint, "/task/stats", 2);
        let sent = Instant::now();
        send_signal(&child, second);
        let out = wait_with_timeout(child, Duration::from_secs(30));
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "took {:?}",
            sent.elapsed()
        );
        out.assert_code(128 + second);
    }
}

/// A `/task` request that never answers (the request timeout is a minute): the signal
/// abandons it at once; before the first sample, so exit 143 with nothing sent.
#[test]
fn sigterm_during_a_hanging_metadata_request_exits_143_at_once() {
    let endpoint = FakeEndpoint::new()
        .route("/task", [Response::hang()])
        .route("/task/stats", [stats(1), stats(2)]);
    let listener = UdpListener::new();
    let port = listener.port().to_string();
    let child = start_live(&endpoint, &port, &["--timeout", "60"]);
    wait_for_requests(&endpoint, "/task", 1);
    let sent = Instant::now();
    send_signal(&child, SIGTERM);
    let out = wait_with_timeout(child, Duration::from_secs(20));
    assert_quick(sent);
    out.assert_code(128 + SIGTERM);
    assert!(
        out.stderr.contains("before the first sample"),
        "{}",
        out.describe()
    );
    assert_eq!(endpoint.requests("/task/stats"), 0);
    assert!(
        listener
            .datagrams_until_quiet(Duration::from_millis(300), Duration::from_secs(1))
            .is_empty()
    );
}

/// Far below the waits these tests set up (an 8 s Retry-After, a 60 s request timeout), loose
/// enough for a loaded 2-core machine.
fn assert_quick(sent: Instant) {
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "took {:?} after the signal",
        sent.elapsed()
    );
}

/// `/task` answers 503 with `Retry-After: 8`: the signal ends the backoff at once, before the
/// first sample: exit 143, nothing sent, no further request.
#[test]
fn sigterm_during_a_retry_after_backoff_exits_143_at_once() {
    let endpoint = FakeEndpoint::new()
        .route("/task", [Response::retry_after(503, 8)])
        .route("/task/stats", [stats(1), stats(2)]);
    let listener = UdpListener::new();
    let port = listener.port().to_string();
    let child = start_live(&endpoint, &port, &[]);
    wait_for_requests(&endpoint, "/task", 1);
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    send_signal(&child, SIGTERM);
    let out = wait_with_timeout(child, Duration::from_secs(25));
    assert_quick(sent);
    out.assert_code(128 + SIGTERM);
    assert_eq!(endpoint.requests("/task"), 1, "no retry after the signal");
    assert!(
        listener
            .datagrams_until_quiet(Duration::from_millis(300), Duration::from_secs(1))
            .is_empty()
    );
}

/// The second stats request never answers: the signal abandons it at once. The first sample
/// was read, so what one sample gives is sent with `exporter_status:0`, and the run exits
/// 143 saying so.
#[test]
fn sigterm_during_a_hanging_stats_request_sends_one_sample_and_exits_143() {
    let endpoint = endpoint(vec![stats(1), Response::hang()]);
    let listener = UdpListener::new();
    let port = listener.port().to_string();
    let url = endpoint.url();
    let child = spawn(
        &[
            "--metadata-url",
            &url,
            "--statsd-port",
            &port,
            "--interval",
            "0",
            "--timeout",
            "60",
            "--no-cache",
        ],
        &[],
    );
    wait_for_requests(&endpoint, "/task/stats", 2);
    std::thread::sleep(Duration::from_millis(200));
    let sent = Instant::now();
    send_signal(&child, SIGTERM);
    let out = wait_with_timeout(child, Duration::from_secs(20));
    assert_quick(sent);
    out.assert_code(128 + SIGTERM);
    assert!(
        out.stderr.contains("during a stats request") && out.stderr.contains("one-sample"),
        "{}",
        out.describe()
    );
    let got = parse_all(&lines(&listener.datagrams_until_quiet(QUIET, MAX_WAIT)));
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 0.0);
    assert!(value(&got, "ecs_task.mem_usage", &[("container_name", "web")]) > 0.0);
    assert!(got.iter().all(|l| l.name != "ecs_task.cpu_usage_ratio"));
    assert_eq!(
        endpoint.requests("/task/stats"),
        2,
        "no retry after the signal"
    );
}

/// After a signal, every request still to come and the send share one `--timeout` from the
/// signal. Here the last stats name a container `/task` lacks, so the run re-reads `/task`
/// (answered after 3 s) and then looks up its own container (which hangs): before, each got
/// its own `--timeout` (3 s + 6 s after the last sample); now the lookup gets what is left of
/// the one 6 s.
#[test]
fn after_a_signal_every_request_and_the_send_share_one_timeout() {
    let mut stats2 = example_json("stats2.json");
    let web = stats2[WEB].clone();
    stats2["0123456789abcdef-unknown"] = web;
    let task = read(&format!("{EXAMPLE}/task.json"));
    let endpoint = FakeEndpoint::new()
        .route(
            "/task",
            [
                Response::ok(task.clone()),
                Response::ok(task).delay(Duration::from_secs(3)),
            ],
        )
        .route("/task/stats", [stats(1), Response::ok(stats2.to_string())])
        .route(
            "/",
            [
                Response::ok(r#"{"Name":"ecs-statsd","DockerId":"self"}"#),
                Response::hang(),
            ],
        );
    let listener = UdpListener::new();
    let port = listener.port().to_string();
    let child = start_live(&endpoint, &port, &["--timeout", "6"]);
    wait_for_requests(&endpoint, "/task/stats", 1);
    std::thread::sleep(Duration::from_millis(200));
    let sent = Instant::now();
    send_signal(&child, SIGTERM);
    let out = wait_with_timeout(child, Duration::from_secs(30));
    let took = sent.elapsed();
    out.assert_success();
    assert_eq!(
        (endpoint.requests("/task"), endpoint.requests("/")),
        (2, 2),
        "the re-read and the lookup were made\n{}",
        out.describe()
    );
    assert!(
        out.stderr.contains("own container lookup failed"),
        "{}",
        out.describe()
    );
    // 6 s from the signal, with room for a loaded machine; each request with its own
    // timeout took 9 s and more.
    assert!(
        took < Duration::from_secs(8),
        "took {took:?}: {}",
        out.describe()
    );
    let got = parse_all(&lines(&listener.datagrams_until_quiet(QUIET, MAX_WAIT)));
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 1.0);
}

/// The example with `web` copied `n` times: a run whose output outgrows a pipe buffer.
fn scaled_endpoint(n: usize) -> FakeEndpoint {
    let task: serde_json::Value =
        serde_json::from_str(&read(&format!("{EXAMPLE}/task.json"))).unwrap();
    let web = task["Containers"][0].clone();
    let id = web["DockerId"].as_str().unwrap().to_string();
    let mut scaled_task = task.clone();
    let mut samples = Vec::new();
    for file in ["stats1.json", "stats2.json"] {
        let stats: serde_json::Value =
            serde_json::from_str(&read(&format!("{EXAMPLE}/{file}"))).unwrap();
        let mut out = serde_json::Map::new();
        for i in 0..n {
            out.insert(format!("{id}-{i}"), stats[&id].clone());
        }
        samples.push(serde_json::Value::Object(out).to_string());
    }
    scaled_task["Containers"] = (0..n)
        .map(|i| {
            let mut c = web.clone();
            c["DockerId"] = format!("{id}-{i}").into();
            c["Name"] = format!("web-{i}").into();
            c
        })
        .collect();
    FakeEndpoint::new()
        .route("/task", [Response::ok(scaled_task.to_string())])
        .route("/task/stats", samples.into_iter().map(Response::ok))
}

/// A signal while the lines are being written: the output is finished, exit 0. The lines go
/// to a pipe nobody reads yet (over 64 KiB of them), so the run is certainly blocked in the
/// middle of sending when the signal arrives.
#[test]
fn sigterm_while_sending_finishes_the_output_and_exits_0() {
    let endpoint = scaled_endpoint(20);
    let child = spawn(
        &[
            "--metadata-url",
            &endpoint.url(),
            "--interval",
            "0",
            "--no-cache",
            "--dry-run",
        ],
        &[],
    );
    wait_for_requests(&endpoint, "/task/stats", 2);
    std::thread::sleep(Duration::from_millis(500));
    send_signal(&child, SIGTERM);
    let out = wait_with_timeout(child, Duration::from_secs(20));
    out.assert_success();
    let lines: Vec<String> = out.stdout.lines().map(String::from).collect();
    assert!(
        lines.iter().map(|l| l.len() + 1).sum::<usize>() > 64 * 1024,
        "the output outgrows a pipe"
    );
    let got = parse_all(&lines);
    assert_eq!(
        value(&got, "ecs_task.exporter_status", &[]),
        1.0,
        "the last line made it out"
    );
    assert_eq!(value(&got, "ecs_task.exporter_containers", &[]), 20.0);
}

/// A signal during the interval: the last sample gets one attempt, bounded by the request
/// timeout, never the retries and backoff of a normal run, so the stop fits a container's
/// grace period (`docker stop` gives 10 s). Here the last request answers 503 with
/// `Retry-After: 8`, then hangs with a 2 s timeout: each ends in one attempt, the one-sample
/// series and `exporter_status:0` are sent, exit 2.
#[test]
fn after_a_signal_in_the_interval_the_last_sample_gets_one_attempt() {
    for (last, timeout) in [
        (Response::retry_after(503, 8), "60"),
        (Response::hang(), "2"),
    ] {
        let endpoint = endpoint(vec![stats(1), last, stats(2)]);
        let listener = UdpListener::new();
        let port = listener.port().to_string();
        let child = start_live(&endpoint, &port, &["--timeout", timeout]);
        wait_for_requests(&endpoint, "/task/stats", 1);
        std::thread::sleep(Duration::from_millis(200));
        let sent = Instant::now();
        send_signal(&child, SIGTERM);
        let out = wait_with_timeout(child, Duration::from_secs(25));
        // One attempt: the 503 at once, the hang after its 2 s timeout. Retries would take
        // 8 s (Retry-After) or 3 x 2 s plus backoff.
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "took {:?}: {}",
            sent.elapsed(),
            out.describe()
        );
        out.assert_code(2);
        assert!(out.stderr.contains("no retry"), "{}", out.describe());
        assert_eq!(
            endpoint.requests("/task/stats"),
            2,
            "no retry after the signal"
        );
        let got = parse_all(&lines(&listener.datagrams_until_quiet(QUIET, MAX_WAIT)));
        assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 0.0);
        assert!(value(&got, "ecs_task.mem_usage", &[("container_name", "web")]) > 0.0);
    }
}

/// A link that never drains: a new network namespace (for this thread and what it starts)
/// whose veth leads to 10.9.9.2, a neighbour that does not exist, through a token bucket of
/// 8 kbit/s with a queue (16 MB) longer than any send buffer. UDP to it fills the socket's send buffer and keeps it full, as a traffic-shaped
/// interface does; no ICMP comes back. Loopback cannot show this: it hands a datagram to the
/// receiver's queue at once and drops it there when that is full, so a sender never blocks.
mod shaped {
    use std::process::Command;

    /// The agent's address on the shaped link.
    pub const AGENT: &str = "10.9.9.2";
    const CLONE_NEWNET: i32 = 0x4000_0000;

    unsafe extern "C" {
        fn unshare(flags: i32) -> i32;
    }

    /// Run `body` on a thread of its own in the namespace; the namespace, its links and queue
    /// go away with the last process and socket in it.
    pub fn run<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(move || {
            // SAFETY: unshare(2) with a flag; it changes only this thread's namespace.
            let rc = unsafe { unshare(CLONE_NEWNET) };
            assert_eq!(
                rc,
                0,
                "unshare(CLONE_NEWNET) (needs root): {}",
                std::io::Error::last_os_error()
            );
            for command in [
                "ip link set lo up",
                "ip link add v0 type veth peer name v1",
                "ip link set v0 up",
                "ip link set v1 up",
                "ip addr add 10.9.9.1/24 dev v0",
                "ip neigh add 10.9.9.2 lladdr 02:00:00:00:00:02 dev v0",
                "tc qdisc add dev v0 root tbf rate 8kbit burst 1600 limit 16000000",
            ] {
                let mut words = command.split(' ');
                let program = words.next().unwrap();
                let status = Command::new(program).args(words).status();
                assert!(
                    status.as_ref().is_ok_and(|s| s.success()),
                    "{command}: {status:?}"
                );
            }
            body()
        })
        .join()
        .expect("the namespace thread")
    }
}

/// UDP whose send buffer stays full gets the Unix socket's rule: one wait, then what does not
/// fit is dropped and counted (exit 3, one warning), and the send is bounded. Before, every
/// datagram waited 0.5 s in turn (1165 datagrams took about 10 minutes). Then the same with
/// SIGTERM in the interval: the send shares the stop deadline and the run ends well within
/// `--timeout` plus the one wait.
#[test]
#[ignore = "needs root, ip and tc (a shaped link in a network namespace); .ci/run runs it"]
fn udp_into_a_buffer_that_stays_full_waits_once_then_drops_and_counts() {
    shaped::run(|| {
        // 60 containers: several hundred datagrams, far more than a send buffer holds.
        let endpoint = scaled_endpoint(60);
        let url = endpoint.url();
        let started = Instant::now();
        let out = crate::common::run(
            &[
                "--metadata-url",
                &url,
                "--statsd-host",
                shaped::AGENT,
                "--interval",
                "0",
                "--no-cache",
            ],
            &[],
        );
        let took = started.elapsed();
        out.assert_code(3);
        assert!(
            out.stderr.contains("could not be sent"),
            "{}",
            out.describe()
        );
        let warnings = out
            .stderr
            .lines()
            .filter(|l| l.contains("socket full"))
            .count();
        assert_eq!(warnings, 1, "one warning: {}", out.describe());
        // The one 0.5 s wait and the run itself; waiting per datagram took minutes.
        assert!(took < Duration::from_secs(10), "took {took:?}");

        let endpoint = scaled_endpoint(60);
        let url = endpoint.url();
        let child = spawn(
            &[
                "--metadata-url",
                &url,
                "--statsd-host",
                shaped::AGENT,
                "--interval",
                "30",
                "--timeout",
                "2",
                "--no-cache",
            ],
            &[],
        );
        wait_for_requests(&endpoint, "/task/stats", 1);
        std::thread::sleep(Duration::from_millis(200));
        let sent = Instant::now();
        send_signal(&child, SIGTERM);
        let out = wait_with_timeout(child, Duration::from_secs(60));
        let took = sent.elapsed();
        out.assert_code(3);
        assert_eq!(endpoint.requests("/task/stats"), 2, "{}", out.describe());
        assert!(took < Duration::from_secs(8), "took {took:?}");
    });
}
