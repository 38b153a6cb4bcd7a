//! The deployment recipes in `examples/`, run as written: each task definition's entry point,
//! command and environment, against the fake endpoint and real listeners. A test replaces only
//! what a task gets from where it runs: the endpoint URL (ECS sets it inside each container),
//! where the agent listens, the mounted folders and the cache folder.
//!
//! The tests that need a PID namespace (the script as PID 1, `tini -g`) need root, `unshare`
//! and `tini`: they are ignored in a plain `cargo test`, and `.ci/run` runs them with
//! `ECS_STATSD_PID1_TESTS=1`.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::emf_spec::validate_emf_document;
use crate::common::{
    EXAMPLE, FakeEndpoint, MAX_WAIT, QUIET, Response, Run, SIGTERM, TempDir, UdpListener,
    UnixDgramListener, bin, lines, parse_all, read, root, value, wait_with_timeout,
};

/// Every task definition in examples/ and the test that runs it.
const RECIPES: [(&str, &str); 6] = [
    ("fargate-datadog-agent.json", "recipes_run_as_written"),
    ("ec2-dogstatsd-socket.json", "recipes_run_as_written"),
    ("cloudwatch-emf.json", "recipes_run_as_written"),
    ("ec2-prometheus-textfile.json", "textfile_*"),
    ("scheduled-job.json", "scheduled_job_*"),
    ("app-with-tini.json", "tini_entrypoint_*"),
];

fn examples() -> PathBuf {
    root().join("examples")
}

/// The container `name` of the task definition `recipe`: its entry point and command, with
/// the scripts the image installs in /usr/local/bin taken from examples/, and its environment.
struct Container {
    argv: Vec<String>,
    env: Vec<(String, String)>,
}

fn container(recipe: &str, name: &str) -> Container {
    let text = fs::read_to_string(examples().join(recipe)).unwrap();
    let def: Value = serde_json::from_str(&text).unwrap();
    let found = def["containerDefinitions"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("{recipe} has no container {name}"));
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let mut argv = strings(&found["entryPoint"]);
    argv.extend(strings(&found["command"]));
    for arg in &mut argv {
        if let Some(script) = arg.strip_prefix("/usr/local/bin/") {
            let file = examples().join(script);
            assert!(file.is_file(), "{recipe}: {script} is not in examples/");
            *arg = file.to_string_lossy().into_owned();
        }
    }
    let env = found["environment"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|e| {
                    let text = |k: &str| e[k].as_str().unwrap().to_string();
                    (text("name"), text("value"))
                })
                .collect()
        })
        .unwrap_or_default();
    Container { argv, env }
}

impl Container {
    /// The environment of the run: the task definition's, then what the place it runs in
    /// provides (`PATH` with ecs-statsd and the scripts, as the image has them), then
    /// `overrides`.
    fn env(&self, overrides: &[(&str, String)]) -> Vec<(String, String)> {
        let path = format!(
            "{}:{}:{}",
            bin().parent().unwrap().display(),
            examples().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut env = self.env.clone();
        env.push(("PATH".into(), path));
        for (k, v) in overrides {
            env.retain(|(name, _)| name != k);
            env.push((k.to_string(), v.clone()));
        }
        env
    }
}

/// A running recipe in its own process group, killed with everything it started if the test
/// fails before it ends.
struct Running {
    child: Option<Child>,
    group: u32,
}

impl Running {
    fn start(argv: &[String], env: &[(String, String)]) -> Running {
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {argv:?}: {e}"));
        Running {
            group: child.id(),
            child: Some(child),
        }
    }

    fn pid(&self) -> u32 {
        self.group
    }

    fn finish(&mut self, timeout: Duration) -> Run {
        wait_with_timeout(self.child.take().unwrap(), timeout)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.group)])
            .stderr(Stdio::null())
            .status();
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

fn kill(pid: u32, signal: i32) {
    let ok = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill -{signal} {pid}");
}

/// A task's endpoint as ECS gives it, `http://.../v4/<id>`, serving the example task (with
/// `task_arn`), its two samples, and `own` as this container's name.
pub(crate) fn task_endpoint(id: &str, task_arn: &str, own: &str) -> (FakeEndpoint, String) {
    let mut task: Value = serde_json::from_str(&read(&format!("{EXAMPLE}/task.json"))).unwrap();
    task["TaskARN"] = task_arn.into();
    let base = format!("/v4/{id}");
    let endpoint = FakeEndpoint::new()
        .route(&format!("{base}/task"), [Response::ok(task.to_string())])
        .route(
            &format!("{base}/task/stats"),
            [1, 2].map(|n| Response::ok(read(&format!("{EXAMPLE}/stats{n}.json")))),
        )
        .route(
            &base,
            [Response::ok(format!(
                r#"{{"Name":"{own}","DockerId":"self"}}"#
            ))],
        );
    let url = format!("{}{base}", endpoint.url());
    (endpoint, url)
}

pub(crate) fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn stats_requests(endpoint: &FakeEndpoint, url: &str) -> usize {
    let path = format!("{}/task/stats", &url[endpoint.url().len()..]);
    endpoint.requests(&path)
}

fn socket_lines(listener: &UnixDgramListener) -> Vec<crate::common::Line> {
    parse_all(&lines(&listener.datagrams_until_quiet(
        Duration::from_millis(300),
        Duration::from_secs(5),
    )))
}

pub(crate) fn udp_lines(listener: &UdpListener) -> Vec<crate::common::Line> {
    parse_all(&lines(&listener.datagrams_until_quiet(
        Duration::from_millis(300),
        Duration::from_secs(5),
    )))
}

#[test]
fn every_task_definition_is_run_by_a_test_and_every_script_passes_sh_n() {
    let mut on_disk: Vec<String> = fs::read_dir(examples())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort();
    let mut tested: Vec<String> = RECIPES.iter().map(|(f, _)| f.to_string()).collect();
    tested.sort();
    assert_eq!(on_disk, tested, "a recipe in examples/ without a test");
    for entry in fs::read_dir(examples()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sh") {
            let ok = Command::new("sh").arg("-n").arg(&path).status().unwrap();
            assert!(ok.success(), "{}", path.display());
        }
    }
}

/// ECS gives the endpoint URL only to the task's own containers, so no document may show a
/// host cron line (deployment.md says there is none).
#[test]
fn no_document_shows_a_host_cron_line() {
    let mut docs: Vec<PathBuf> = fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    docs.push(root().join("README.md"));
    for doc in docs {
        let text = fs::read_to_string(&doc).unwrap();
        for bad in ["```cron", "* * * * *", "crontab -e"] {
            assert!(!text.contains(bad), "{}: {bad}", doc.display());
        }
    }
}

/// Start the sidecar of `recipe` as written, let its first run take its first sample, stop
/// the task (SIGTERM): the run finishes early, what it measured arrives, the loop exits 0.
fn run_until_stopped(
    recipe: &str,
    overrides: &[(&str, String)],
    endpoint: &FakeEndpoint,
    url: &str,
) -> Run {
    let sidecar = container(recipe, "ecs-statsd");
    let mut running = Running::start(&sidecar.argv, &sidecar.env(overrides));
    wait_until("the first sample", || stats_requests(endpoint, url) >= 1);
    std::thread::sleep(Duration::from_millis(100));
    kill(running.pid(), SIGTERM);
    let out = running.finish(Duration::from_secs(20));
    out.assert_success();
    assert_eq!(stats_requests(endpoint, url), 2, "{}", out.describe());
    // The stop is said once, in the task's logs.
    let warnings: Vec<&str> = out.stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{}", out.describe());
    assert!(warnings[0].contains("signal 15"), "{}", out.describe());
    out
}

#[test]
fn recipes_run_as_written() {
    let tmp = TempDir::new();
    let cache = tmp.join("metadata.json").to_string_lossy().into_owned();

    // Fargate, UDP to the agent beside it.
    let (endpoint, url) = task_endpoint(
        "fargate-1",
        "arn:aws:ecs:x:1:task/c/fargate-1",
        "ecs-statsd",
    );
    let listener = UdpListener::new();
    let overrides = [
        ("ECS_CONTAINER_METADATA_URI_V4", url.clone()),
        ("STATSD_PORT", listener.port().to_string()),
        ("CACHE_FILE", cache.clone()),
    ];
    run_until_stopped("fargate-datadog-agent.json", &overrides, &endpoint, &url);
    let got = udp_lines(&listener);
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 1.0);
    assert!(got.iter().any(|l| l.name == "ecs_task.cpu_usage_ratio"));
    assert!(got.iter().all(|l| l.has_tag("service", "checkout")));

    // EC2, the agent's Unix socket mounted into the task.
    let (endpoint, url) = task_endpoint("ec2-1", "arn:aws:ecs:x:1:task/c/ec2-1", "ecs-statsd");
    let socket = UnixDgramListener::new();
    let overrides = [
        ("ECS_CONTAINER_METADATA_URI_V4", url.clone()),
        ("DD_DOGSTATSD_URL", format!("unix://{}", socket.path_str())),
        (
            "CACHE_FILE",
            tmp.join("ec2.json").to_string_lossy().into_owned(),
        ),
    ];
    run_until_stopped("ec2-dogstatsd-socket.json", &overrides, &endpoint, &url);
    let got = parse_all(&lines(&socket.datagrams_until_quiet(QUIET, MAX_WAIT)));
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 1.0);
    assert!(got.iter().any(|l| l.name == "ecs_task.cpu_usage_ratio"));

    // CloudWatch EMF on stdout, for the awslogs driver.
    let (endpoint, url) = task_endpoint("emf-1", "arn:aws:ecs:x:1:task/c/emf-1", "ecs-statsd");
    let overrides = [
        ("ECS_CONTAINER_METADATA_URI_V4", url.clone()),
        (
            "CACHE_FILE",
            tmp.join("emf.json").to_string_lossy().into_owned(),
        ),
    ];
    let out = run_until_stopped("cloudwatch-emf.json", &overrides, &endpoint, &url);
    let docs: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!docs.is_empty(), "{}", out.describe());
    for doc in &docs {
        validate_emf_document(doc).unwrap();
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "MyApp/ECS"
        );
    }
}

/// The endpoint is down for a while: the loop waits ECS_STATSD_BACKOFF between failed runs
/// instead of spinning, keeps trying, and recovers when the endpoint comes back.
#[test]
fn the_sidecar_loop_backs_off_after_a_failed_run() {
    let tmp = TempDir::new();
    let (endpoint, url) = task_endpoint("down-1", "arn:aws:ecs:x:1:task/c/down-1", "ecs-statsd");
    let task_path = format!("{}/task", &url[endpoint.url().len()..]);
    let task_body = read(&format!("{EXAMPLE}/task.json"));
    endpoint.set_route(&task_path, [Response::new(404, "down")]);
    let listener = UdpListener::new();
    let sidecar = container("fargate-datadog-agent.json", "ecs-statsd");
    let backoff = 1.0;
    let env = sidecar.env(&[
        ("ECS_CONTAINER_METADATA_URI_V4", url.clone()),
        ("STATSD_PORT", listener.port().to_string()),
        (
            "CACHE_FILE",
            tmp.join("metadata.json").to_string_lossy().into_owned(),
        ),
        ("ECS_STATSD_BACKOFF", backoff.to_string()),
        ("INTERVAL", "0".into()),
    ]);
    let mut running = Running::start(&sidecar.argv, &env);

    // Each failed run sends exporter_status:0 once. Over a window of W seconds, runs at least
    // `backoff` apart number at most W / backoff + 1 (hundreds without the back-off).
    let window = Duration::from_secs(3);
    let failed = |datagrams: &[String]| {
        parse_all(&lines(datagrams))
            .iter()
            .filter(|l| l.name == "ecs_task.exporter_status" && l.value == 0.0)
            .count()
    };
    let during = failed(&listener.datagrams_until_quiet(window, window));
    let most = (window.as_secs_f64() / backoff) as usize + 1;
    assert!(
        during <= most,
        "{during} failed runs in {window:?}: no back-off"
    );
    // It keeps trying.
    let next = listener
        .recv_timeout(Duration::from_secs(20))
        .expect("the loop tried again");
    assert!(next.contains("exporter_status:0"), "{next}");
    assert!(during >= 1, "a failed run in the window");

    // The endpoint is back: the next run succeeds.
    endpoint.set_route(&task_path, [Response::ok(task_body)]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = parse_all(&lines(
            &listener.datagrams_until_quiet(Duration::from_millis(500), Duration::from_secs(2)),
        ));
        if got
            .iter()
            .any(|l| l.name == "ecs_task.exporter_status" && l.value == 1.0)
        {
            break;
        }
        assert!(Instant::now() < deadline, "never recovered");
    }
    kill(running.pid(), SIGTERM);
    let out = running.finish(Duration::from_secs(20));
    out.assert_success();
    assert!(
        out.stderr.contains("next run in 1 s"),
        "the loop says why it waits: {}",
        out.describe()
    );
}

fn prometheus_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "prom"))
        .collect();
    files.sort();
    files
}

fn exporter_status(text: &str) -> Option<f64> {
    text.lines()
        .find(|l| {
            l.starts_with("ecs_task_exporter_status{") || l.starts_with("ecs_task_exporter_status ")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The textfile recipe as written: a per-task file, replaced by every run; after a failing run
/// the file the collector reads says exporter_status 0.
#[test]
fn textfile_recipe_reports_a_failure_to_the_collector() {
    let tmp = TempDir::new();
    let textfile_dir = TempDir::new();
    let arn = "arn:aws:ecs:us-west-2:111122223333:task/default/0123abcd";
    let (endpoint, url) = task_endpoint("0123abcd-1", arn, "ecs-statsd");
    let sidecar = container("ec2-prometheus-textfile.json", "ecs-statsd");
    let env = sidecar.env(&[
        ("ECS_CONTAINER_METADATA_URI_V4", url.clone()),
        (
            "TEXTFILE_DIR",
            textfile_dir.path().to_string_lossy().into_owned(),
        ),
        (
            "CACHE_FILE",
            tmp.join("metadata.json").to_string_lossy().into_owned(),
        ),
        ("ECS_STATSD_BACKOFF", "1".into()),
        ("INTERVAL", "0".into()),
    ]);
    let mut running = Running::start(&sidecar.argv, &env);
    let file = textfile_dir.join("ecs-statsd-0123abcd-1.prom");
    let read_status = || {
        fs::read_to_string(&file)
            .ok()
            .and_then(|t| exporter_status(&t))
    };
    wait_until("a good run's file", || read_status() == Some(1.0));
    let good = fs::read_to_string(&file).unwrap();
    assert!(good.contains("ecs_task_endpoint=\"0123abcd-1\""), "{good}");

    // The endpoint fails from now on.
    let stats_path = format!("{}/task/stats", &url[endpoint.url().len()..]);
    endpoint.set_route(&stats_path, [Response::new(500, "broken")]);
    wait_until("exporter_status 0 in the file", || {
        read_status() == Some(0.0)
    });
    kill(running.pid(), SIGTERM);
    running.finish(Duration::from_secs(20)).assert_success();
    assert_eq!(prometheus_files(textfile_dir.path()), [file]);
    let names = fs::read_dir(textfile_dir.path()).unwrap().count();
    assert_eq!(names, 1, "no temporary file left for the collector");
}

/// The series (name and labels) of a Prometheus text file's samples, with the label `drop`
/// left out.
fn series(text: &str, drop: Option<&str>) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let head = l.rsplit_once(' ').unwrap().0;
            let Some(key) = drop.map(|label| format!("{label}=\"")) else {
                return head.to_string();
            };
            let Some(start) = head.find(&key) else {
                return head.to_string();
            };
            let value_end = head[start + key.len()..].find('"').unwrap();
            let end = start + key.len() + value_end + 1;
            format!("{}{}", &head[..start], &head[end..])
                .replace(",,", ",")
                .replace("{,", "{")
                .replace(",}", "}")
        })
        .collect()
}

/// Runs one textfile sidecar per ID in `ids`, each against its own endpoint (serving the
/// example task, or failing every request if `down`), stops each after its first run, and
/// returns the files they left.
fn textfile_replicas(ids: &[&str], down: bool) -> Vec<String> {
    let tmp = TempDir::new();
    let textfile_dir = TempDir::new();
    let sidecar = container("ec2-prometheus-textfile.json", "ecs-statsd");
    let mut replicas = Vec::new();
    for id in ids {
        let arn = format!("arn:aws:ecs:us-west-2:111122223333:task/default/{id}");
        let (endpoint, url) = task_endpoint(id, &arn, "ecs-statsd");
        if down {
            let base = &url[endpoint.url().len()..];
            for path in [
                base.to_string(),
                format!("{base}/task"),
                format!("{base}/task/stats"),
            ] {
                endpoint.set_route(&path, [Response::new(503, "down")]);
            }
        }
        let env = sidecar.env(&[
            ("ECS_CONTAINER_METADATA_URI_V4", url.clone()),
            (
                "TEXTFILE_DIR",
                textfile_dir.path().to_string_lossy().into_owned(),
            ),
            (
                "CACHE_FILE",
                tmp.join(format!("{id}.json"))
                    .to_string_lossy()
                    .into_owned(),
            ),
        ]);
        let running = Running::start(&sidecar.argv, &env);
        let file = textfile_dir.join(format!("ecs-statsd-{id}.prom"));
        replicas.push((endpoint, url, running, file));
    }
    for (endpoint, url, running, file) in &mut replicas {
        if down {
            // The loop waits ECS_STATSD_BACKOFF (60 s) after the failed run: its file is there.
            wait_until("the failed run's file", || file.is_file());
        } else {
            wait_until("the first sample", || stats_requests(endpoint, url) >= 1);
        }
        kill(running.pid(), SIGTERM);
        running.finish(Duration::from_secs(20)).assert_success();
    }
    let files = prometheus_files(textfile_dir.path());
    assert_eq!(files.len(), ids.len(), "{files:?}");
    files
        .iter()
        .map(|f| fs::read_to_string(f).unwrap())
        .collect()
}

/// How many series of `texts` are also in an earlier one, with the label `drop` left out.
fn duplicate_series(texts: &[String], drop: Option<&str>) -> usize {
    let mut all = BTreeSet::new();
    let mut duplicates = 0;
    for text in texts {
        for s in series(text, drop) {
            if !all.insert(s) {
                duplicates += 1;
            }
        }
    }
    duplicates
}

/// Two replicas of one task on one host: two files, and no series in one that is also in the
/// other, thanks to the ecs_task_endpoint label (without it, every series would collide).
#[test]
fn textfile_replicas_never_collide() {
    let texts = textfile_replicas(&["aaaa1111-1", "bbbb2222-1"], false);
    assert_eq!(
        duplicate_series(&texts, None),
        0,
        "replicas wrote the same series"
    );
    assert!(
        duplicate_series(&texts, Some("ecs_task_endpoint")) > 50,
        "without the label they would collide"
    );
}

/// The endpoint is down from a task's first run: nothing comes from it (no task ARN), yet the
/// two replicas' files still differ, by the label taken from the endpoint URL.
#[test]
fn textfile_replicas_never_collide_when_the_endpoint_is_down() {
    let texts = textfile_replicas(&["aaaa1111-1", "bbbb2222-1"], true);
    for text in &texts {
        assert_eq!(exporter_status(text), Some(0.0), "{text}");
    }
    assert_eq!(
        duplicate_series(&texts, None),
        0,
        "replicas wrote the same series: {texts:?}"
    );
    assert!(
        duplicate_series(&texts, Some("ecs_task_endpoint")) >= 1,
        "without the label they would collide: {texts:?}"
    );
}

/// Root, `unshare` and (for tini) `tini` are needed; `.ci/run` sets the gate after installing
/// them. Run by hand with the gate unset, the test fails rather than pass without running.
fn pid1_gate() {
    assert!(
        std::env::var_os("ECS_STATSD_PID1_TESTS").is_some(),
        "set ECS_STATSD_PID1_TESTS=1 (as root, with unshare and tini installed), as .ci/run does"
    );
}

/// `argv` as PID 1 of a new PID namespace; returns the running `unshare` and the host PID of
/// the namespace's PID 1.
fn in_pid_namespace(argv: &[String], env: &[(String, String)]) -> (Running, u32) {
    let mut full: Vec<String> = ["unshare", "--pid", "--fork", "--mount-proc"]
        .map(String::from)
        .to_vec();
    full.extend_from_slice(argv);
    let running = Running::start(&full, env);
    let children = format!("/proc/{0}/task/{0}/children", running.pid());
    let mut pid1 = 0;
    wait_until("PID 1 of the namespace", || {
        pid1 = fs::read_to_string(&children)
            .ok()
            .and_then(|c| c.split_whitespace().next().and_then(|p| p.parse().ok()))
            .unwrap_or(0);
        pid1 != 0
    });
    (running, pid1)
}

/// A scheduled (EventBridge) or batch task: the job ends, ECS stops the task and sends SIGTERM
/// to the sidecar's PID 1, the loop script. Its last run is flushed. (A PID 1 without a
/// handler would ignore the signal and be killed 30 s later with the run unsent.)
#[test]
#[ignore = "needs root and unshare (a PID namespace); .ci/run runs it with ECS_STATSD_PID1_TESTS=1"]
fn scheduled_job_stop_flushes_the_last_run_of_pid_1() {
    pid1_gate();
    let tmp = TempDir::new();
    let (endpoint, url) = task_endpoint("job-1", "arn:aws:ecs:x:1:task/c/job-1", "ecs-statsd");
    let listener = UdpListener::new();
    let sidecar = container("scheduled-job.json", "ecs-statsd");
    let env = sidecar.env(&[
        ("ECS_CONTAINER_METADATA_URI_V4", url.clone()),
        ("STATSD_PORT", listener.port().to_string()),
        (
            "CACHE_FILE",
            tmp.join("metadata.json").to_string_lossy().into_owned(),
        ),
    ]);
    let (mut running, pid1) = in_pid_namespace(&sidecar.argv, &env);
    wait_until("the first sample", || stats_requests(&endpoint, &url) >= 1);
    std::thread::sleep(Duration::from_millis(100));
    kill(pid1, SIGTERM);
    let out = running.finish(Duration::from_secs(20));
    out.assert_success();
    let got = udp_lines(&listener);
    assert_eq!(
        value(&got, "ecs_task.exporter_status", &[]),
        1.0,
        "{}",
        out.describe()
    );
    assert!(got.iter().any(|l| l.name == "ecs_task.cpu_usage_ratio"));
    assert!(
        !got.iter()
            .any(|l| l.has_tag("container_name", "datadog-agent"))
    );
}

/// The app container of app-with-tini.json, with `app` as its command, as PID 1 of a PID
/// namespace; the host agent's DogStatsD socket (mounted at /var/run/datadog in the task) is a
/// Unix datagram listener.
fn start_tini(
    app: &[&str],
    endpoint_url: &str,
    listener: &UnixDgramListener,
    tmp: &TempDir,
) -> (Running, u32) {
    let web = container("app-with-tini.json", "web");
    let command_at = web.argv.iter().position(|a| a == "my-app").unwrap();
    let mut argv = web.argv[..command_at].to_vec();
    assert_eq!(argv[..3], ["tini", "-g", "--"]);
    argv.extend(app.iter().map(|s| s.to_string()));
    let env = web.env(&[
        ("ECS_CONTAINER_METADATA_URI_V4", endpoint_url.to_string()),
        (
            "DD_DOGSTATSD_URL",
            format!("unix://{}", listener.path_str()),
        ),
        (
            "CACHE_FILE",
            tmp.join("metadata.json").to_string_lossy().into_owned(),
        ),
        (
            "FLAG",
            tmp.join("app-may-exit").to_string_lossy().into_owned(),
        ),
    ]);
    in_pid_namespace(&argv, &env)
}

/// The task stops: tini (PID 1) gets SIGTERM and sends it to the group. The application
/// stops, ecs-statsd's run finishes early and its metrics arrive; the container's status is
/// the application's (sleep killed by SIGTERM: 143).
#[test]
#[ignore = "needs root, unshare and tini (a PID namespace); .ci/run runs it with ECS_STATSD_PID1_TESTS=1"]
fn tini_entrypoint_flushes_when_the_task_stops() {
    pid1_gate();
    let tmp = TempDir::new();
    let (endpoint, url) = task_endpoint("app-1", "arn:aws:ecs:x:1:task/c/app-1", "web");
    let listener = UnixDgramListener::new();
    let (mut running, pid1) = start_tini(&["sleep", "60"], &url, &listener, &tmp);
    wait_until("the first sample", || stats_requests(&endpoint, &url) >= 1);
    std::thread::sleep(Duration::from_millis(100));
    kill(pid1, SIGTERM);
    let out = running.finish(Duration::from_secs(20));
    out.assert_code(128 + SIGTERM);
    let got = socket_lines(&listener);
    assert_eq!(
        value(&got, "ecs_task.exporter_status", &[]),
        1.0,
        "{}",
        out.describe()
    );
    assert!(
        got.iter()
            .any(|l| l.name == "ecs_task.cpu_usage_ratio" && l.has_tag("container_name", "web")),
        "the application's own series"
    );
}

/// The application exits by itself with 7: the current run is asked to finish early, its
/// metrics arrive, and the container exits 7.
#[test]
#[ignore = "needs root, unshare and tini (a PID namespace); .ci/run runs it with ECS_STATSD_PID1_TESTS=1"]
fn tini_entrypoint_keeps_the_app_exit_status() {
    pid1_gate();
    let tmp = TempDir::new();
    let (endpoint, url) = task_endpoint("app-2", "arn:aws:ecs:x:1:task/c/app-2", "web");
    let listener = UnixDgramListener::new();
    // The application ends once the test says so (bounded: 30 s at most).
    let app =
        "i=0; while [ ! -e \"$FLAG\" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; exit 7";
    let (mut running, _) = start_tini(&["sh", "-c", app], &url, &listener, &tmp);
    wait_until("the first sample", || stats_requests(&endpoint, &url) >= 1);
    std::thread::sleep(Duration::from_millis(100));
    fs::write(tmp.join("app-may-exit"), "").unwrap();
    let out = running.finish(Duration::from_secs(20));
    out.assert_code(7);
    let got = socket_lines(&listener);
    assert_eq!(
        value(&got, "ecs_task.exporter_status", &[]),
        1.0,
        "{}",
        out.describe()
    );
    assert_eq!(stats_requests(&endpoint, &url), 2);
}

/// The images: base images pinned to full versions, no BuildKit-only syntax (the classic
/// builder must work), the version label in step with the crate, and a build context without
/// the bulky or private folders.
/// A minimum Rust version the Dockerfile's comments give (`1.NN`, as against the pinned
/// image's `1.NN.N`) is Cargo.toml's `rust-version`, the one cargo enforces.
#[test]
fn the_dockerfile_names_the_rust_version_cargo_enforces() {
    let manifest = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let msrv = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"'))
        .expect("Cargo.toml has a rust-version");
    let dockerfile = fs::read_to_string(root().join("Dockerfile")).unwrap();
    let comments = dockerfile.lines().filter(|l| l.starts_with('#'));
    let versions: Vec<&str> = comments
        .flat_map(|l| l.split(|c: char| !(c.is_ascii_digit() || c == '.')))
        .map(|w| w.trim_end_matches('.'))
        .filter(|w| w.starts_with("1.") && w.matches('.').count() == 1)
        .collect();
    assert!(
        !versions.is_empty(),
        "the Dockerfile says which Rust it needs"
    );
    for version in versions {
        assert_eq!(
            version, msrv,
            "Dockerfile comment vs Cargo.toml rust-version"
        );
    }
}

#[test]
fn dockerfiles_are_pinned_and_need_no_buildkit() {
    let root = root();
    let files = [
        root.join("Dockerfile"),
        examples().join("Dockerfile.sidecar"),
        examples().join("Dockerfile.app"),
    ];
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        let name = file.display();
        // ARG defaults, to resolve `FROM ${ARG}`.
        let args: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("ARG "))
            .filter_map(|a| a.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let stages: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("FROM "))
            .filter_map(|f| f.split(" AS ").nth(1).map(str::trim).map(String::from))
            .collect();
        for from in text.lines().filter_map(|l| l.strip_prefix("FROM ")) {
            let mut image = from.split_whitespace().next().unwrap().to_string();
            for (k, v) in &args {
                image = image.replace(&format!("${{{k}}}"), v);
            }
            if image == "scratch" || stages.contains(&image) || image == "ecs-statsd" {
                continue; // no base image, an earlier stage, or the image built from this repo
            }
            let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
            let version = tag.split('-').next().unwrap_or("");
            let parts: Vec<&str> = version.split('.').collect();
            assert!(
                parts.len() == 3 && parts.iter().all(|p| p.parse::<u32>().is_ok()),
                "{name}: FROM {image} is not pinned to a full version"
            );
        }
        assert!(
            !text.starts_with("# syntax="),
            "{name}: a BuildKit syntax directive"
        );
        let instructions: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        for buildkit_only in ["--mount", "--chmod", "--link", "<<"] {
            assert!(
                !instructions.iter().any(|l| l.contains(buildkit_only)),
                "{name} uses {buildkit_only}"
            );
        }
    }
    let dockerfile = fs::read_to_string(&files[0]).unwrap();
    assert!(
        dockerfile.contains(&format!("ARG VERSION={}\n", env!("CARGO_PKG_VERSION"))),
        "the image's version label must follow Cargo.toml"
    );
    for label in ["source", "version", "licenses"] {
        assert!(dockerfile.contains(&format!("org.opencontainers.image.{label}=")));
    }
    let ignored = fs::read_to_string(root.join(".dockerignore")).unwrap();
    for path in [
        "target",
        ".git",
        "fuzz/corpus",
        "fuzz/artifacts",
        "testdata",
    ] {
        assert!(
            ignored.lines().any(|l| l.trim() == path),
            ".dockerignore lacks {path}"
        );
    }
}
