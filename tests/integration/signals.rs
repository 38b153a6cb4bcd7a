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
