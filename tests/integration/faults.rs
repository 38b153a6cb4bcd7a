//! Endpoint failures: exit status 2, a one-line message naming the URL and the cause, and
//! `exporter_status:0` at the listener so dashboards see the failure.

use std::time::Duration;

use crate::common::{FakeEndpoint, Response, TempDir, UdpListener, lines, parse_all, run, value};
use crate::e2e::{EXAMPLE, example_endpoint, read, run_udp};

fn assert_endpoint_failure(out: &crate::common::Run, must_contain: &[&str]) {
    out.assert_code(2);
    let last = out.stderr.lines().last().unwrap_or("");
    for needle in must_contain {
        assert!(
            last.contains(needle),
            "{needle:?} missing from {last:?}\n{}",
            out.describe()
        );
    }
    assert!(!out.stderr.contains("panicked"), "{}", out.describe());
}

#[test]
fn unreachable_endpoint_exits_2_and_reports_status_0() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let listener = UdpListener::new();
    let out = run(
        &[
            "--metadata-url",
            &url,
            "--statsd-port",
            &listener.port().to_string(),
            "--no-cache",
            "--interval",
            "0",
        ],
        &[],
    );
    assert_endpoint_failure(&out, &[&format!("GET {url}/task")]);
    let got = parse_all(&lines(
        &listener.datagrams_until_quiet(Duration::from_millis(300), Duration::from_secs(5)),
    ));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 0.0);
}

#[test]
fn http_500_on_task_exits_2_with_status_and_body() {
    let endpoint = FakeEndpoint::new().route("/task", [Response::new(500, "agent exploded")]);
    let (out, datagrams) = run_udp(&endpoint, &["--no-cache"], &TempDir::new());
    assert_endpoint_failure(&out, &["/task", "HTTP 500", "agent exploded"]);
    let got = parse_all(&lines(&datagrams));
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 0.0);
}

#[test]
fn task_that_is_null_or_garbage_exits_2() {
    for (body, reason) in [
        ("null", "expected a JSON object"),
        ("{\"Cluster\":", "invalid JSON"),
        ("<html>", "invalid JSON"),
    ] {
        let endpoint = FakeEndpoint::new().route("/task", [Response::ok(body)]);
        let (out, datagrams) = run_udp(&endpoint, &["--no-cache"], &TempDir::new());
        assert_endpoint_failure(&out, &[reason]);
        assert_eq!(
            value(
                &parse_all(&lines(&datagrams)),
                "ecs_task.exporter_status",
                &[]
            ),
            0.0
        );
    }
}

#[test]
fn invalid_second_sample_still_sends_one_sample_metrics() {
    let endpoint = FakeEndpoint::new()
        .route(
            "/task",
            [Response::ok(read(&format!("{EXAMPLE}/task.json")))],
        )
        .route(
            "/task/stats",
            [
                Response::ok(read(&format!("{EXAMPLE}/stats1.json"))),
                Response::ok("{\"158d"),
            ],
        );
    let (out, datagrams) = run_udp(&endpoint, &["--no-cache"], &TempDir::new());
    assert_endpoint_failure(&out, &["/task/stats", "invalid JSON"]);
    let got = parse_all(&lines(&datagrams));
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 0.0);
    // Levels of the first sample and the limits still arrive; no CPU ratio (needs two).
    assert!(value(&got, "ecs_task.mem_usage", &[("container_name", "web")]) > 0.0);
    assert_eq!(
        value(&got, "ecs_task.mem_limit", &[("container_name", "web")]),
        1024.0
    );
    assert!(got.iter().all(|l| l.name != "ecs_task.cpu_usage_ratio"));
}

#[test]
fn stats_500_on_first_sample_exits_2() {
    let endpoint = example_endpoint();
    endpoint.set_route("/task/stats", [Response::new(503, "slow down")]);
    let (out, datagrams) = run_udp(&endpoint, &["--no-cache"], &TempDir::new());
    assert_endpoint_failure(&out, &["/task/stats", "HTTP 503"]);
    let got = parse_all(&lines(&datagrams));
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 0.0);
    assert_eq!(
        value(&got, "ecs_task.cpu_limit", &[("container_name", "_task_")]),
        1024.0
    );
}

#[test]
fn bad_flags_exit_1_with_one_line() {
    for args in [
        vec!["--metadata-url", "http://127.0.0.1:9", "--interval", "-5"],
        vec![
            "--metadata-url",
            "http://127.0.0.1:9",
            "--statsd-port",
            "http",
        ],
        vec!["--metadata-url", "/no/such/capture", "--dry-run"],
        vec![
            "--metadata-url",
            "http://127.0.0.1:9",
            "--prefix",
            "bad prefix",
        ],
        vec!["--no-such-flag"],
    ] {
        let out = run(&args, &[]);
        out.assert_code(1);
        assert!(
            !out.stderr.trim().is_empty(),
            "{args:?}: {}",
            out.describe()
        );
    }
}
