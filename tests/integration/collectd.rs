//! A plain StatsD server without tags receiving a real run: collectd's statsd plugin (Debian
//! `collectd-core`), read back through its CSV plugin. `--tag-format graphite` must deliver
//! every series with its value. Ignored by `cargo test` (it needs collectd); `.ci/run`
//! installs collectd and runs it with `--ignored` and `ECS_COLLECTD` set to the daemon's path.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{
    MAX_WAIT, QUIET, TempDir, UdpListener, example_endpoint, lines, parse_all, run,
};

const HOST: &str = "ecs-statsd-test";

struct Collectd {
    child: Child,
    csv: PathBuf,
}

impl Drop for Collectd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Collectd {
    /// collectd in the foreground with the statsd plugin on 127.0.0.1:`port` and the CSV
    /// plugin writing every value it dispatches (every 0.2 s) under `dir`.
    fn start(program: &str, dir: &TempDir, port: u16) -> Collectd {
        let base = dir.path().display();
        let config = format!(
            "Hostname \"{HOST}\"\nFQDNLookup false\nBaseDir \"{base}\"\n\
             PIDFile \"{base}/collectd.pid\"\nPluginDir \"/usr/lib/collectd\"\n\
             TypesDB \"/usr/share/collectd/types.db\"\nInterval 0.2\n\
             LoadPlugin statsd\nLoadPlugin csv\n\
             <Plugin statsd>\n  Host \"127.0.0.1\"\n  Port \"{port}\"\n</Plugin>\n\
             <Plugin csv>\n  DataDir \"{base}/csv\"\n</Plugin>\n"
        );
        let config = dir.write("collectd.conf", config);
        let child = Command::new(program)
            .arg("-f")
            .arg("-C")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("ECS_COLLECTD is set but {program} did not start: {e}"));
        let collectd = Collectd {
            child,
            csv: dir.join("csv").join(HOST).join("statsd"),
        };
        // Ready when a probe gauge comes back (the statsd socket is bound in a thread).
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while collectd.gauge("probe").is_none() {
            assert!(
                Instant::now() < deadline,
                "collectd never wrote the probe gauge"
            );
            let _ = probe.send_to(b"probe:1|g", ("127.0.0.1", port));
            std::thread::sleep(Duration::from_millis(100));
        }
        collectd
    }

    /// The last value the CSV plugin wrote for gauge `name`: its file is
    /// `gauge-<name>-<YYYY-MM-DD>` with `epoch,value` lines.
    fn gauge(&self, name: &str) -> Option<f64> {
        let prefix = format!("gauge-{name}-");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.csv)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                file_name(p)
                    .strip_prefix(&prefix)
                    .is_some_and(|d| d.len() == 10)
            })
            .collect();
        files.sort();
        let text = std::fs::read_to_string(files.last()?).ok()?;
        let last = text.lines().rev().find(|l| !l.starts_with("epoch"))?;
        last.split(',').nth(1)?.parse().ok()
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
#[ignore = "needs collectd (Debian collectd-core): .ci/run runs it with ECS_COLLECTD set"]
fn collectd_receives_every_series_with_its_value() {
    let program = std::env::var("ECS_COLLECTD")
        .ok()
        .filter(|v| !v.is_empty())
        .expect("set ECS_COLLECTD to collectd's path (e.g. /usr/sbin/collectd), as .ci/run does");
    let dir = TempDir::new();
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let collectd = Collectd::start(&program, &dir, port);

    let args = ["--interval", "0", "--no-cache", "--tag-format", "graphite"];
    // What a run sends, seen by a plain listener first (same input; only the two wall-clock
    // series differ between runs).
    let listener = UdpListener::new();
    let endpoint = example_endpoint();
    let (url, listener_port) = (endpoint.url(), listener.port().to_string());
    let mut first = vec!["--metadata-url", &url, "--statsd-port", &listener_port];
    first.extend_from_slice(&args);
    run(&first, &[]).assert_success();
    let sent = parse_all(&lines(&listener.datagrams_until_quiet(QUIET, MAX_WAIT)));
    assert!(sent.len() > 50);
    assert!(sent.iter().all(|l| l.tags.is_empty()));

    let endpoint = example_endpoint();
    let (url, daemon_port) = (endpoint.url(), port.to_string());
    let mut second = vec!["--metadata-url", &url, "--statsd-port", &daemon_port];
    second.extend_from_slice(&args);
    run(&second, &[]).assert_success();

    let deadline = Instant::now() + Duration::from_secs(20);
    while sent.iter().any(|l| collectd.gauge(&l.name).is_none()) {
        if Instant::now() > deadline {
            let missing: Vec<&str> = sent
                .iter()
                .filter(|l| collectd.gauge(&l.name).is_none())
                .map(|l| l.name.as_str())
                .collect();
            panic!("collectd has no value for {missing:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for line in &sent {
        if line.name.ends_with("_seconds") {
            continue; // wall-clock: differs between the two runs
        }
        let got = collectd.gauge(&line.name).unwrap();
        // The CSV plugin writes "%lf" (6 decimals); derived values are rounded to 6 decimals.
        let tolerance = 5e-7 + line.value.abs() * 1e-12;
        assert!(
            (got - line.value).abs() <= tolerance,
            "{}: collectd {got}, sent {}",
            line.name,
            line.value
        );
    }
}
