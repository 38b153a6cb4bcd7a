//! Datadog as it is (issue 18 §3, §4): the agent's 8192-byte datagram buffer, the Datadog
//! client libraries' variables, where a failed send was going and who chose it, a typo in
//! `--include`, and `--metrics` / `--skip-metrics` with their self-telemetry counts.

use std::collections::BTreeSet;

use crate::common::{
    FakeEndpoint, Line, MAX_WAIT, QUIET, UdpListener, example_endpoint, lines, parse_all,
    replay_example, run,
};

fn run_live(endpoint: &FakeEndpoint, args: &[&str], env: &[(&str, &str)]) -> crate::common::Run {
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

fn dry_lines(args: &[&str], env: &[(&str, &str)]) -> (Vec<Line>, String) {
    let mut all = vec!["--dry-run"];
    all.extend_from_slice(args);
    let out = replay_example(&all, env);
    out.assert_success();
    let lines: Vec<String> = out.stdout.lines().map(String::from).collect();
    (parse_all(&lines), out.stderr.clone())
}

fn only_line_of_stderr(out: &crate::common::Run) -> String {
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
    out.stderr.lines().next().unwrap().to_string()
}

/// The agent reads 8192 bytes of a datagram: a larger DogStatsD packet size is refused (exit
/// 1, naming the flag or the variable); plain StatsD keeps the UDP maximum.
#[test]
fn a_dogstatsd_packet_size_over_the_agent_buffer_is_refused() {
    for (args, env, named) in [
        (
            &["--max-packet-size", "8193"][..],
            &[][..],
            "--max-packet-size",
        ),
        (
            &[][..],
            &[("MAX_PACKET_SIZE", "65507")][..],
            "MAX_PACKET_SIZE",
        ),
    ] {
        let out = replay_example(args, env);
        out.assert_code(1);
        let error = only_line_of_stderr(&out);
        assert!(
            error.contains(named) && error.contains("8192") && error.contains("graphite"),
            "{error}"
        );
    }
    replay_example(&["--dry-run", "--max-packet-size", "8192"], &[]).assert_success();
    replay_example(
        &[
            "--dry-run",
            "--tag-format",
            "graphite",
            "--max-packet-size",
            "65507",
        ],
        &[],
    )
    .assert_success();
    // Prometheus and EMF send no datagrams: the size does not concern them.
    replay_example(
        &["--format", "prometheus", "--max-packet-size", "65507"],
        &[],
    )
    .assert_success();
}

/// 60 user tags of 195 characters make every line about 12 kB: the last user tags are left
/// out until the line fits in 8191 bytes (8192 with its newline), the identity tags and the
/// first user tags stay, and one warning names what was left out.
#[test]
fn no_dogstatsd_line_is_longer_than_the_agent_reads() {
    let value = "v".repeat(190);
    let tags: Vec<String> = (0..60).map(|i| format!("u{i:02}:{value}")).collect();
    let mut args: Vec<&str> = Vec::new();
    for tag in &tags {
        args.extend(["--tag", tag.as_str()]);
    }
    let (all, stderr) = dry_lines(&args, &[]);
    let (plain, _) = dry_lines(&[], &[]);
    assert_eq!(all.len(), plain.len(), "no series lost");
    for line in &all {
        assert!(line.raw.len() < 8192, "{} bytes", line.raw.len());
        assert!(
            line.has_tag("u00", &value),
            "the first user tag stays: {line}"
        );
        // Every identity tag stays.
        let plain = plain
            .iter()
            .find(|p| {
                p.name == line.name
                    && p.tag("container_name") == line.tag("container_name")
                    && p.tag("interface") == line.tag("interface")
                    && p.tag("cpu") == line.tag("cpu")
            })
            .unwrap();
        for (k, v) in &plain.tags {
            assert!(line.has_tag(k, v), "{k}:{v} lost from {}", line.name);
        }
        // What is left out is a run of the last user tags.
        let kept: Vec<usize> = (0..60)
            .filter(|i| line.tag(&format!("u{i:02}")).is_some())
            .collect();
        assert_eq!(kept, (0..kept.len()).collect::<Vec<_>>(), "{}", line.name);
        assert!(kept.len() < 60);
    }
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("8192")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains(&format!("{} line(s)", all.len()))
            && warnings[0].contains("\"u59:vvv"),
        "{}",
        warnings[0]
    );
    // Plain StatsD lines carry no tags: nothing to leave out, nothing to say.
    let mut graphite = args.clone();
    graphite.extend(["--tag-format", "graphite", "--dry-run"]);
    let out = replay_example(&graphite, &[]);
    out.assert_success();
    assert!(!out.stderr.contains("8192"), "{}", out.stderr);
}

/// datadogpy uses `DD_DOGSTATSD_PORT` alone with its default host; so does ecs-statsd (on
/// 127.0.0.1), rather than ignoring it.
#[test]
fn dd_dogstatsd_port_alone_is_used_on_the_default_host() {
    let endpoint = example_endpoint();
    let listener = UdpListener::new();
    let port = listener.port().to_string();
    let out = run_live(
        &endpoint,
        &["--log-level", "info"],
        &[("DD_DOGSTATSD_PORT", &port)],
    );
    out.assert_success();
    assert!(!listener.datagrams_until_quiet(QUIET, MAX_WAIT).is_empty());
    assert!(
        out.stderr.contains(&format!(
            "to UDP 127.0.0.1:{port} (set by DD_DOGSTATSD_PORT (on the default host))"
        )),
        "{}",
        out.stderr
    );
}

/// The ancestor's `STATSD_HOST`/`STATSD_PORT` lose to a `DD_*` destination: one warning names
/// both and the variable that won.
#[test]
fn statsd_variables_under_a_dd_destination_are_named_in_one_warning() {
    let endpoint = example_endpoint();
    let (dd, ancestor) = (UdpListener::new(), UdpListener::new());
    let (dd_port, ancestor_port) = (dd.port().to_string(), ancestor.port().to_string());
    let env = [
        ("DD_AGENT_HOST", "127.0.0.1"),
        ("DD_DOGSTATSD_PORT", dd_port.as_str()),
        ("STATSD_HOST", "127.0.0.1"),
        ("STATSD_PORT", ancestor_port.as_str()),
    ];
    let out = run_live(&endpoint, &[], &env);
    out.assert_success();
    assert!(!dd.datagrams_until_quiet(QUIET, MAX_WAIT).is_empty());
    assert!(ancestor.datagrams_until_quiet(QUIET, MAX_WAIT).is_empty());
    let warning = only_line_of_stderr(&out);
    assert!(
        warning.contains(&format!(
            "STATSD_HOST=127.0.0.1 and STATSD_PORT={ancestor_port} ignored"
        )) && warning.contains("DD_AGENT_HOST is set"),
        "{warning}"
    );
    // Alone, the ancestor's variables are used without a word.
    let out = run_live(
        &endpoint,
        &[],
        &[
            ("STATSD_HOST", "127.0.0.1"),
            ("STATSD_PORT", ancestor_port.as_str()),
        ],
    );
    out.assert_success();
    assert!(out.stderr.is_empty(), "{}", out.describe());
    assert!(!ancestor.datagrams_until_quiet(QUIET, MAX_WAIT).is_empty());
}

/// Exit 3 says where the lines were going and which setting said so; so does the info
/// summary of a run that sent them.
#[test]
fn a_send_error_names_the_destination_and_the_setting_that_chose_it() {
    let endpoint = example_endpoint();
    // A port nobody listens on: connected UDP reports the ICMP "port unreachable".
    let closed = UdpListener::new().port().to_string();
    let env = [
        ("DD_AGENT_HOST", "127.0.0.1"),
        ("DD_DOGSTATSD_PORT", closed.as_str()),
    ];
    let out = run_live(&endpoint, &[], &env);
    out.assert_code(3);
    assert!(
        out.stderr.contains(&format!(
            "could not be sent to UDP 127.0.0.1:{closed} (set by DD_AGENT_HOST and \
             DD_DOGSTATSD_PORT)"
        )),
        "{}",
        out.describe()
    );
    // A socket path that does not exist: named with the flag that gave it.
    let out = run_live(
        &endpoint,
        &["--statsd-socket", "/nonexistent/dsd.socket"],
        &[],
    );
    out.assert_code(3);
    assert!(
        out.stderr.contains("/nonexistent/dsd.socket")
            && out.stderr.contains("(set by --statsd-socket)"),
        "{}",
        out.describe()
    );
    let listener = UdpListener::new();
    let port = listener.port().to_string();
    let out = run_live(
        &endpoint,
        &["--statsd-port", &port, "--log-level", "info"],
        &[],
    );
    out.assert_success();
    let sent = lines(&listener.datagrams_until_quiet(QUIET, MAX_WAIT)).len();
    assert!(
        out.stderr.contains(&format!(
            "sent {sent} metrics to UDP 127.0.0.1:{port} (set by --statsd-port) in "
        )),
        "{}",
        out.stderr
    );
}

/// A typo in `--include` would send only the task totals without a word: one warning names
/// the unknown names and the task's containers.
#[test]
fn an_include_naming_no_container_is_warned_once() {
    let (all, stderr) = dry_lines(&["--include", "web,wbe"], &[]);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("--include")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("no container of this task: \"wbe\" (its containers: ")
            && warnings[0].contains("\"log-router\""),
        "{}",
        warnings[0]
    );
    assert!(all.iter().any(|l| l.has_tag("container_name", "web")));
    let (_, stderr) = dry_lines(&[], &[("INCLUDE", "web,log-router")]);
    assert!(!stderr.contains("--include"), "{stderr}");
}

fn names(lines: &[Line]) -> BTreeSet<String> {
    lines
        .iter()
        .map(|l| l.name.trim_start_matches("ecs_task.").to_string())
        .collect()
}

fn count(lines: &[Line], name: &str) -> f64 {
    let found: Vec<&Line> = lines.iter().filter(|l| l.name == name).collect();
    assert_eq!(found.len(), 1, "{name}");
    found[0].value
}

/// `--metrics` keeps metrics and families, `--skip-metrics` (or `SKIP_METRICS`) leaves them
/// out, the `exporter_*` series are always sent, and the counts say what was left out and
/// what was sent.
#[test]
fn metrics_and_skip_metrics_choose_what_is_sent() {
    let (full, _) = dry_lines(&[], &[]);
    assert_eq!(count(&full, "ecs_task.exporter_series"), full.len() as f64);
    assert_eq!(count(&full, "ecs_task.exporter_series_skipped"), 0.0);

    let (only, _) = dry_lines(&["--metrics", "memory,cpu_usage_ratio"], &[]);
    for name in names(&only) {
        assert!(
            name.starts_with("mem_") || name == "cpu_usage_ratio" || name.starts_with("exporter_"),
            "{name}"
        );
    }
    assert!(names(&only).contains("mem_working_set_bytes"));
    assert_eq!(count(&only, "ecs_task.exporter_status"), 1.0);
    assert_eq!(count(&only, "ecs_task.exporter_series"), only.len() as f64);
    assert_eq!(
        count(&only, "ecs_task.exporter_series_skipped"),
        (full.len() - only.len()) as f64
    );

    let percpu = full
        .iter()
        .filter(|l| l.name == "ecs_task.percpu_usage_ratio")
        .count();
    assert!(percpu > 0);
    let (skipped, _) = dry_lines(&[], &[("SKIP_METRICS", "percpu")]);
    assert!(!names(&skipped).contains("percpu_usage_ratio"));
    assert_eq!(skipped.len(), full.len() - percpu);
    assert_eq!(
        count(&skipped, "ecs_task.exporter_series_skipped"),
        percpu as f64
    );
    // Both: --metrics first, then --skip-metrics.
    let (both, _) = dry_lines(
        &[
            "--metrics",
            "cpu,percpu",
            "--skip-metrics",
            "percpu,cpu_limit",
        ],
        &[],
    );
    let both = names(&both);
    assert!(both.contains("cpu_usage_ratio") && !both.contains("percpu_usage_ratio"));
    assert!(!both.contains("cpu_limit") && !both.contains("mem_usage"));

    for (args, env, says) in [
        (
            &["--metrics", "memroy,mem_usage"][..],
            &[][..],
            &["--metrics", "\"memroy\"", "percpu"][..],
        ),
        (
            &[][..],
            &[("METRICS", "ecs_task.mem_usage")][..],
            &["METRICS", "without the prefix"][..],
        ),
        (
            &["--skip-metrics", "exporter_status"][..],
            &[][..],
            &["--skip-metrics", "always sent"][..],
        ),
    ] {
        let out = replay_example(args, env);
        out.assert_code(1);
        let error = only_line_of_stderr(&out);
        for part in says {
            assert!(error.contains(part), "{part:?} not in {error}");
        }
    }
}
