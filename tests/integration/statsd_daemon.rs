//! The canonical StatsD daemon (npm `statsd` 0.9.0, which parses DogStatsD `|#tags` and
//! counts malformed lines) receiving a real run. Ignored by `cargo test` (it needs node and
//! the daemon), so the suite stays hermetic and the report says why; `.ci/run` installs it and
//! runs it with `--ignored` and `ECS_STATSD_DAEMON` set to its `stats.js`. Run without the
//! variable, or with a daemon that cannot start, the test fails; it never passes silently.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{
    Line, MAX_WAIT, QUIET, TempDir, UdpListener, example_endpoint, lines, parse_all, run,
};

struct Daemon {
    child: Child,
    admin: u16,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Daemon {
    fn start(stats_js: &str, dir: &TempDir, port: u16) -> Daemon {
        let admin = free_tcp_port();
        let config = format!(
            "{{ port: {port}, address: \"127.0.0.1\", mgmt_port: {admin}, mgmt_address: \"127.0.0.1\", \
             backends: [], flushInterval: 3600000, deleteGauges: false }}\n"
        );
        let config_path = dir.write("statsd-config.js", config);
        let child = Command::new("node")
            .arg(stats_js)
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("ECS_STATSD_DAEMON is set but node could not start {stats_js}: {e}")
            });
        let mut daemon = Daemon { child, admin };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", admin)).is_err() {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                let mut err = String::new();
                let _ = daemon.child.stderr.take().unwrap().read_to_string(&mut err);
                let mut out = String::new();
                let _ = daemon.child.stdout.take().unwrap().read_to_string(&mut out);
                panic!("statsd daemon exited with {status}: {out}{err}");
            }
            assert!(
                Instant::now() < deadline,
                "statsd daemon admin port {admin} never opened"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        daemon
    }

    /// One admin command; the answer up to its `END` line.
    fn ask(&self, command: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.admin)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(format!("{command}\n").as_bytes()).unwrap();
        let mut answer = String::new();
        for line in BufReader::new(stream).lines() {
            let line = line.unwrap();
            if line == "END" {
                break;
            }
            answer.push_str(&line);
            answer.push('\n');
        }
        answer
    }

    /// The `gauges` table (node's `util.inspect` of an object: `'key': value` entries).
    fn gauges(&self) -> Vec<(String, f64)> {
        let text = self.ask("gauges");
        let mut out = Vec::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find('\'') {
            let after = &rest[start + 1..];
            let Some(end) = after.find('\'') else { break };
            let key = &after[..end];
            let value_text = after[end + 1..].trim_start_matches(':').trim_start();
            let number: String = value_text
                .chars()
                .take_while(|c| c.is_ascii_digit() || ".-+e".contains(*c))
                .collect();
            if let Ok(value) = number.parse() {
                out.push((key.to_string(), value));
            }
            rest = &after[end + 1..];
        }
        out
    }
}

/// The key statsd 0.9.0 files a DogStatsD line under (stats.js `handlePacket` and
/// `sanitizeKeyName`): name, then `;tag` with the first `:` of each tag made `=`, whitespace
/// → `_`, `/` → `-`, and anything outside `[a-zA-Z_\-0-9.;=]` dropped.
fn statsd_key(line: &Line) -> String {
    let mut key = line.name.clone();
    for (k, v) in &line.tags {
        let tag = if v.is_empty() {
            k.clone()
        } else {
            format!("{k}:{v}")
        };
        key.push(';');
        key.push_str(&tag.replacen(';', "_", 1).replacen(':', "=", 1));
    }
    let mut out = String::new();
    let mut in_space = false;
    for c in key.chars() {
        if c.is_whitespace() {
            if !in_space {
                out.push('_');
            }
            in_space = true;
            continue;
        }
        in_space = false;
        match c {
            '/' => out.push('-'),
            c if c.is_ascii_alphanumeric() || "_-.;=".contains(c) => out.push(c),
            _ => {}
        }
    }
    out
}

#[test]
#[ignore = "needs npm statsd 0.9.0 and node: .ci/run runs it with ECS_STATSD_DAEMON set"]
fn the_statsd_daemon_accepts_every_line_with_its_value() {
    let stats_js = std::env::var("ECS_STATSD_DAEMON")
        .ok()
        .filter(|v| !v.is_empty())
        .expect("set ECS_STATSD_DAEMON to npm statsd 0.9.0's stats.js, as .ci/run does");
    let dir = TempDir::new();
    let port = free_udp_port();
    let daemon = Daemon::start(&stats_js, &dir, port);

    // What the run sends, seen by a plain listener first (same input, same lines but the
    // two wall-clock ones).
    let listener = UdpListener::new();
    let endpoint = example_endpoint();
    let args = ["--interval", "0", "--no-cache", "--tag", "suite:daemon"];
    let url = endpoint.url();
    let listener_port = listener.port().to_string();
    let mut first = vec![
        "--metadata-url",
        url.as_str(),
        "--statsd-port",
        listener_port.as_str(),
    ];
    first.extend_from_slice(&args);
    run(&first, &[]).assert_success();
    let sent = parse_all(&lines(&listener.datagrams_until_quiet(QUIET, MAX_WAIT)));
    assert!(sent.len() > 50);

    let endpoint = example_endpoint();
    let url = endpoint.url();
    let daemon_port = port.to_string();
    let mut second = vec![
        "--metadata-url",
        url.as_str(),
        "--statsd-port",
        daemon_port.as_str(),
    ];
    second.extend_from_slice(&args);
    run(&second, &[]).assert_success();

    let wanted: Vec<(String, &Line)> = sent.iter().map(|l| (statsd_key(l), l)).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    let gauges = loop {
        let gauges = daemon.gauges();
        let all_there = wanted
            .iter()
            .all(|(k, _)| gauges.iter().any(|(g, _)| g == k));
        if all_there || Instant::now() > deadline {
            break gauges;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for (key, line) in &wanted {
        let got = gauges.iter().find(|(g, _)| g == key).map(|(_, v)| *v);
        let got = got.unwrap_or_else(|| panic!("the daemon has no gauge {key} (sent {line})"));
        if line.name.ends_with("_seconds") {
            continue; // wall-clock: differs between the two runs
        }
        let tolerance = line.value.abs() * 1e-12;
        assert!(
            (got - line.value).abs() <= tolerance,
            "{key}: daemon {got}, sent {}",
            line.value
        );
    }
    let stats = daemon.ask("stats");
    assert!(stats.contains("messages.bad_lines_seen: 0"), "{stats}");
}
