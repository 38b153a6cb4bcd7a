//! Endpoint failures: exit status 2, a one-line message naming the URL and the cause, and
//! `exporter_status:0` at the listener so dashboards see the failure.

use std::time::Duration;

use crate::common::{
    EXAMPLE, FakeEndpoint, MAX_WAIT, QUIET, Response, TempDir, UdpListener, example_endpoint,
    lines, parse_all, read, run, run_udp, value,
};

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
    let got = parse_all(&lines(&listener.datagrams_until_quiet(QUIET, MAX_WAIT)));
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

/// Run against `endpoint` with short per-request bounds; returns the run, what arrived, and
/// the wall time it took.
fn run_faulty(
    endpoint: &FakeEndpoint,
    extra: &[&str],
) -> (crate::common::Run, Vec<crate::common::Line>, Duration) {
    let started = std::time::Instant::now();
    let (out, datagrams) = run_udp(
        endpoint,
        &[&["--no-cache"], extra].concat(),
        &TempDir::new(),
    );
    (out, parse_all(&lines(&datagrams)), started.elapsed())
}

fn example_route(name: &str) -> Response {
    Response::ok(read(&format!("{EXAMPLE}/{name}")))
}

fn endpoint_with(task: Vec<Response>, stats: Vec<Response>) -> FakeEndpoint {
    FakeEndpoint::new()
        .route("/task", task)
        .route("/task/stats", stats)
        .with_root(r#"{"Name":"ecs-statsd"}"#)
}

#[test]
fn rate_limited_429_is_retried_after_retry_after() {
    let mut limited = Response::new(429, "Too Many Requests");
    limited.headers.push(("Retry-After".into(), "1".into()));
    let endpoint = endpoint_with(
        vec![limited, example_route("task.json")],
        vec![example_route("stats1.json"), example_route("stats2.json")],
    );
    let (out, got, _) = run_faulty(&endpoint, &[]);
    out.assert_success();
    assert_eq!(endpoint.requests("/task"), 2);
    assert_eq!(value(&got, "ecs_task.exporter_fetch_errors", &[]), 1.0);
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 1.0);
}

/// A Retry-After longer than the fetch budget left: no wait, no retry, and the message says
/// the server's wait is why (the budget is not spent: the run gave up at once).
#[test]
fn a_retry_after_beyond_the_fetch_budget_is_named_as_the_reason() {
    let endpoint = endpoint_with(vec![Response::retry_after(503, 100)], vec![]);
    let (out, got, took) = run_faulty(&endpoint, &["--fetch-budget", "3"]);
    assert_endpoint_failure(
        &out,
        &[
            "/task",
            "HTTP 503",
            "no retry: the server asked to wait 100 s (Retry-After)",
            "of the run's fetch budget (3 s)",
        ],
    );
    assert!(!out.stderr.contains("is spent"), "{}", out.describe());
    assert_eq!(endpoint.requests("/task"), 1);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 0.0);
}

#[test]
fn server_errors_are_tried_three_times_then_exit_2() {
    let endpoint = endpoint_with(vec![Response::new(503, "unavailable")], vec![]);
    let (out, got, _) = run_faulty(&endpoint, &[]);
    assert_endpoint_failure(
        &out,
        &[
            "/task",
            "HTTP 503",
            "unavailable",
            "gave up after 3 attempts",
        ],
    );
    assert_eq!(endpoint.requests("/task"), 3);
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 0.0);
}

#[test]
fn not_found_and_bad_json_are_not_retried() {
    for (response, reason) in [
        (Response::new(404, "404 page not found"), "HTTP 404"),
        (Response::ok("{\"Cluster\": "), "invalid JSON"),
        (Response::ok(""), "invalid JSON"),
        (Response::ok("[1, 2]"), "expected a JSON object"),
    ] {
        let endpoint = endpoint_with(
            vec![example_route("task.json")],
            vec![example_route("stats1.json"), response],
        );
        let (out, got, _) = run_faulty(&endpoint, &[]);
        assert_endpoint_failure(
            &out,
            &["/task/stats", reason, "sent only one-sample series"],
        );
        assert_eq!(endpoint.requests("/task/stats"), 2, "{reason}: no retry");
        assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 0.0);
        assert!(
            got.iter().any(|l| l.name == "ecs_task.mem_usage"),
            "one-sample levels still sent"
        );
    }
}

#[test]
fn a_truncated_body_is_retried() {
    let endpoint = endpoint_with(
        vec![example_route("task.json")],
        vec![
            example_route("stats1.json").truncate(),
            example_route("stats1.json"),
            example_route("stats2.json"),
        ],
    );
    let (out, got, _) = run_faulty(&endpoint, &[]);
    out.assert_success();
    assert_eq!(endpoint.requests("/task/stats"), 3);
    assert_eq!(value(&got, "ecs_task.exporter_fetch_errors", &[]), 1.0);
    assert!(got.iter().any(|l| l.name == "ecs_task.cpu_usage_ratio"));
}

#[test]
fn an_unanswered_request_times_out_and_the_retry_succeeds() {
    // Never answered (the fake endpoint parks it and keeps serving): only the timeout ends it.
    let slow = Response::hang();
    let endpoint = endpoint_with(
        vec![example_route("task.json")],
        vec![
            example_route("stats1.json"),
            slow,
            example_route("stats2.json"),
        ],
    );
    let (out, got, _) = run_faulty(&endpoint, &["--timeout", "0.5"]);
    out.assert_success();
    assert_eq!(endpoint.requests("/task/stats"), 3);
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 1.0);
}

#[test]
fn a_hanging_endpoint_is_bounded_by_the_fetch_budget() {
    let endpoint = endpoint_with(vec![Response::hang()], vec![]);
    let (out, got, took) = run_faulty(&endpoint, &["--timeout", "1", "--fetch-budget", "2"]);
    assert_endpoint_failure(&out, &["/task"]);
    // 2 s of budget, whatever the retries: far below the 30 s the harness allows.
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(endpoint.requests("/task") <= 3);
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 0.0);
}

#[test]
fn sparse_shapes_send_what_they_can() {
    // `{}` for the task: no containers known, so the stats' containers are skipped (after one
    // re-read): a healthy read. (`{}` for the stats of a running task is a failure, below.)
    let endpoint = endpoint_with(vec![Response::ok("{}")], vec![example_route("stats1.json")]);
    let (out, got, _) = run_faulty(&endpoint, &[]);
    out.assert_success();
    assert_eq!(value(&got, "ecs_task.exporter_containers", &[]), 0.0);
    assert!(!out.stderr.contains("panicked"));
}

/// `/task` lists running containers but `/task/stats` holds none of them (`{}`, or every
/// entry `null`): the run measured nothing it was asked for, so `exporter_status:0` and exit 2
/// naming the missing containers (before: exit 0, `exporter_status:1` and only
/// `exporter_containers:0`). A task whose containers all stopped is told apart by `/task`: it
/// lists none as RUNNING, and `null` stats for them are no failure.
#[test]
fn stats_for_none_of_the_running_containers_is_exit_2_but_a_stopped_task_is_not() {
    let task = read(&format!("{EXAMPLE}/task.json"));
    let names: Vec<String> = {
        let task: serde_json::Value = serde_json::from_str(&task).unwrap();
        task["Containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["Name"].as_str().unwrap().to_string())
            .collect()
    };
    let all_null = {
        let stats: serde_json::Value =
            serde_json::from_str(&read(&format!("{EXAMPLE}/stats1.json"))).unwrap();
        let nulls: serde_json::Map<String, serde_json::Value> = stats
            .as_object()
            .unwrap()
            .keys()
            .map(|id| (id.clone(), serde_json::Value::Null))
            .collect();
        serde_json::Value::Object(nulls).to_string()
    };
    for stats in ["{}".to_string(), all_null.clone()] {
        let endpoint = endpoint_with(
            vec![Response::ok(task.clone())],
            vec![Response::ok(stats.clone())],
        );
        let (out, got, _) = run_faulty(&endpoint, &[]);
        assert_endpoint_failure(&out, &["/task/stats holds no stats for any of the 2"]);
        for name in &names {
            assert!(out.stderr.contains(name.as_str()), "{}", out.describe());
        }
        assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 0.0, "{stats}");
        assert_eq!(value(&got, "ecs_task.exporter_containers", &[]), 0.0);
    }

    // The same stats for a task whose containers all stopped: nothing was missed.
    let mut stopped: serde_json::Value = serde_json::from_str(&task).unwrap();
    for container in stopped["Containers"].as_array_mut().unwrap() {
        container["KnownStatus"] = "STOPPED".into();
    }
    let endpoint = endpoint_with(
        vec![Response::ok(stopped.to_string())],
        vec![Response::ok(all_null)],
    );
    let (out, got, _) = run_faulty(&endpoint, &[]);
    out.assert_success();
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 1.0);
    assert_eq!(value(&got, "ecs_task.exporter_containers", &[]), 0.0);
}

#[test]
fn task_null_or_not_running_is_handled() {
    let endpoint = endpoint_with(vec![Response::ok("null")], vec![]);
    let (out, _, _) = run_faulty(&endpoint, &[]);
    assert_endpoint_failure(&out, &["expected a JSON object"]);
    assert_eq!(endpoint.requests("/task"), 1, "no retry on a null body");

    // A PENDING task is used for this run but never cached (the ancestor cached it forever).
    let mut pending: serde_json::Value =
        serde_json::from_str(&read(&format!("{EXAMPLE}/task.json"))).unwrap();
    pending["KnownStatus"] = "PENDING".into();
    let endpoint = endpoint_with(
        vec![Response::ok(pending.to_string())],
        vec![example_route("stats1.json"), example_route("stats2.json")],
    );
    let cache = TempDir::new();
    let (out, _) = run_udp(&endpoint, &[], &cache);
    out.assert_success();
    assert!(
        !cache.join("metadata.json").exists(),
        "a PENDING task is not cached"
    );
}

/// A URL this tool cannot read is a usage error before any request: a port out of range
/// (it used to become port 80 and report whatever answered there), `https://` (no TLS), another
/// scheme. An upper-case scheme is fine. Bounds too small to act on are rejected too.
#[test]
fn invalid_metadata_urls_and_bounds_exit_1() {
    for (url, why) in [
        ("http://127.0.0.1:516780", "port \"516780\" is not 1-65535"),
        ("http://127.0.0.1:0/v4", "is not 1-65535"),
        ("https://169.254.170.2/v4", "no TLS support"),
        ("ftp://169.254.170.2/v4", "only http://"),
    ] {
        for how in ["flag", "env"] {
            let out = if how == "flag" {
                run(&["--metadata-url", url, "--dry-run", "--no-cache"], &[])
            } else {
                run(
                    &["--dry-run", "--no-cache"],
                    &[("ECS_CONTAINER_METADATA_URI_V4", url)],
                )
            };
            out.assert_code(1);
            assert!(
                out.stderr.contains(why),
                "{url} ({how}): {}",
                out.describe()
            );
            assert!(out.stdout.is_empty(), "{url}: nothing sent");
        }
    }
    let endpoint = example_endpoint();
    let upper = endpoint.url().replacen("http://", "HTTP://", 1);
    let out = run(
        &[
            "--metadata-url",
            &upper,
            "--dry-run",
            "--no-cache",
            "--interval",
            "0",
        ],
        &[],
    );
    out.assert_success();
    assert_eq!(endpoint.requests("/task"), 1);

    for (flag, var) in [
        ("--timeout", "HTTP_TIMEOUT"),
        ("--fetch-budget", "FETCH_BUDGET"),
    ] {
        let out = run(
            &[
                "--metadata-url",
                &endpoint.url(),
                "--dry-run",
                flag,
                "1e-320",
            ],
            &[],
        );
        out.assert_code(1);
        // The error names the source used: the flag here, not its variable.
        assert!(
            out.stderr.contains(&format!("invalid {flag} \"1e-320\"")) && !out.stderr.contains(var),
            "{flag}: {}",
            out.describe()
        );
    }
    assert_eq!(
        endpoint.requests("/task"),
        1,
        "no request after a usage error"
    );
}
