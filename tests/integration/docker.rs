//! The images under a real container runtime, run as ECS runs them: the Dockerfile's final
//! stage built from the static binary cargo built (no registry: base images cannot be pulled,
//! so the build stage is replaced by that binary), and the sidecar image of
//! examples/Dockerfile.sidecar with Debian's busybox-static as the shell in place of Alpine.
//! Each container runs with a read-only root file system, the image's non-root user and the
//! host's network (the fake endpoint and a real UDP listener on 127.0.0.1), and is stopped
//! with `docker stop` during the interval: the last run's metrics arrive and the exit status
//! is the documented one.
//!
//! Needs root and dockerd: `.ci/run` starts `dockerd --bridge=none --iptables=false` with its
//! own data root and socket, builds the static binary and sets the gate variables.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::common::{Run, TempDir, UdpListener, root, value, wait_with_timeout};
use crate::examples::{stats_requests, task_endpoint, udp_lines, wait_until};

/// The gate `.ci/run` sets once dockerd answers.
struct Docker {
    /// `unix:///.../docker.sock`
    host: String,
    /// The static ecs-statsd (musl, or glibc with crt-static).
    static_bin: PathBuf,
    /// Debian's busybox-static.
    busybox: PathBuf,
}

fn gate() -> Docker {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "set {name} (ECS_STATSD_DOCKER_HOST, ECS_STATSD_STATIC_BIN, ECS_STATSD_BUSYBOX), \
                 as .ci/run does after starting dockerd"
            )
        })
    };
    Docker {
        host: var("ECS_STATSD_DOCKER_HOST"),
        static_bin: PathBuf::from(var("ECS_STATSD_STATIC_BIN")),
        busybox: PathBuf::from(var("ECS_STATSD_BUSYBOX")),
    }
}

impl Docker {
    /// `docker ARGS` against our dockerd, with the classic builder (dockerd 20.10 has no
    /// BuildKit front end here, and the Dockerfiles need none).
    fn run(&self, args: &[&str], timeout: Duration) -> Run {
        let child = Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_BUILDKIT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker (Debian docker.io) on PATH");
        wait_with_timeout(child, timeout)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, Duration::from_secs(300));
        assert!(out.success(), "docker {args:?}\n{}", out.describe());
        out.stdout.trim().to_string()
    }
}

/// An image tag or container name that is removed when the test ends, pass or fail.
struct Removed<'a> {
    docker: &'a Docker,
    kind: &'static str,
    name: String,
}

impl Drop for Removed<'_> {
    fn drop(&mut self) {
        let _ = self.docker.run(
            &[self.kind, "rm", "-f", &self.name],
            Duration::from_secs(60),
        );
    }
}

/// A name no other test of this run (they run in parallel) or of another run uses.
fn unique(what: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("ecs-statsd-ci-{what}-{}-{n}", std::process::id())
}

fn copy_executable(from: &Path, to: &Path) {
    fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A world-writable sticky /tmp, as the Dockerfile's build stage makes it.
fn make_tmp(rootfs: &Path) {
    let tmp = rootfs.join("tmp");
    fs::create_dir_all(&tmp).unwrap();
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777)).unwrap();
}

/// Builds the root Dockerfile's final stage: its text from `FROM scratch` on, with the one
/// `COPY --from=build /rootfs/ /` taking the same tree (the static binary and /tmp) from
/// the context instead of from the build stage.
fn build_final_stage<'a>(docker: &'a Docker) -> Removed<'a> {
    let dockerfile = fs::read_to_string(root().join("Dockerfile")).unwrap();
    let start = dockerfile
        .rfind("\nFROM scratch\n")
        .expect("the Dockerfile's final stage is FROM scratch");
    let stage = &dockerfile[start + 1..];
    let from_build = "COPY --from=build /rootfs/ /\n";
    assert_eq!(
        stage.matches("--from=").count(),
        1,
        "the final stage takes exactly one thing from the build stage:\n{stage}"
    );
    assert!(stage.contains(from_build), "{stage}");
    let ctx = TempDir::new();
    let rootfs = ctx.join("rootfs");
    make_tmp(&rootfs);
    copy_executable(&docker.static_bin, &rootfs.join("ecs-statsd"));
    fs::write(
        ctx.join("Dockerfile"),
        stage.replace(from_build, "COPY rootfs/ /\n"),
    )
    .unwrap();
    let tag = unique("image");
    docker.ok(&["build", "-q", "-t", &tag, &ctx.path().to_string_lossy()]);
    Removed {
        docker,
        kind: "image",
        name: tag,
    }
}

/// Builds examples/Dockerfile.sidecar FROM the image `base`, with `FROM alpine:...` replaced
/// by scratch plus busybox-static (`/bin/sh` and the applets the loop calls, as symlinks).
fn build_sidecar<'a>(docker: &'a Docker, base: &str) -> Removed<'a> {
    let examples = root().join("examples");
    let dockerfile = fs::read_to_string(examples.join("Dockerfile.sidecar")).unwrap();
    let alpine: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM alpine:"))
        .collect();
    assert_eq!(alpine.len(), 1, "one Alpine stage in Dockerfile.sidecar");
    let ctx = TempDir::new();
    let shell = ctx.join("busybox");
    fs::create_dir_all(shell.join("bin")).unwrap();
    make_tmp(&shell);
    copy_executable(&docker.busybox, &shell.join("bin/busybox"));
    for applet in ["sh", "sleep", "kill", "cat", "ls"] {
        symlink("busybox", shell.join("bin").join(applet)).unwrap();
    }
    for script in ["ecs-statsd-loop.sh", "prometheus-textfile.sh"] {
        copy_executable(&examples.join(script), &ctx.join(script));
    }
    fs::write(
        ctx.join("Dockerfile"),
        dockerfile.replace(alpine[0], "FROM scratch\nCOPY busybox/ /"),
    )
    .unwrap();
    let tag = unique("sidecar");
    docker.ok(&[
        "build",
        "-q",
        "--build-arg",
        &format!("ECS_STATSD_IMAGE={base}"),
        "-t",
        &tag,
        &ctx.path().to_string_lossy(),
    ]);
    Removed {
        docker,
        kind: "image",
        name: tag,
    }
}

/// `docker run -d` as ECS runs a container of an awsvpc task: read-only root file system
/// (`readonlyRootFilesystem`), the image's user, the task's network (here the host's, where
/// the fake endpoint and the listener are), `env`, then `args` after the image.
fn start<'a>(
    docker: &'a Docker,
    image: &str,
    entrypoint: Option<&str>,
    env: &[(String, String)],
    args: &[String],
) -> Removed<'a> {
    let name = unique("container");
    let mut argv: Vec<String> = ["run", "-d", "--read-only", "--network", "host", "--name"]
        .map(String::from)
        .to_vec();
    argv.push(name.clone());
    if let Some(entrypoint) = entrypoint {
        argv.extend(["--entrypoint".to_string(), entrypoint.to_string()]);
    }
    for (k, v) in env {
        argv.extend(["-e".to_string(), format!("{k}={v}")]);
    }
    argv.push(image.to_string());
    argv.extend_from_slice(args);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    docker.ok(&argv);
    Removed {
        docker,
        kind: "container",
        name,
    }
}

/// `docker stop` (SIGTERM to PID 1, SIGKILL after 10 s, as ECS's default stopTimeout is 30 s):
/// the container's exit code and its logs.
fn stop(docker: &Docker, container: &str) -> (i32, String) {
    docker.ok(&["stop", "-t", "10", container]);
    let code = docker.ok(&["wait", container]);
    let logs = docker.run(&["logs", container], Duration::from_secs(60));
    (
        code.parse().unwrap(),
        format!("{}{}", logs.stdout, logs.stderr),
    )
}

/// The image of the root Dockerfile: labels and user as built, then a run stopped during its
/// interval sends what it measured and exits 0 (README, "Exit status").
#[test]
#[ignore = "needs root and dockerd; .ci/run starts dockerd and sets ECS_STATSD_DOCKER_HOST"]
fn the_image_runs_as_ecs_runs_it_and_docker_stop_sends_the_last_run() {
    let docker = gate();
    let image = build_final_stage(&docker);
    let config: Value = serde_json::from_str(&docker.ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config}}",
        &image.name,
    ]))
    .unwrap();
    assert_eq!(config["User"], "65532:65532", "non-root");
    assert_eq!(config["Entrypoint"][0], "/ecs-statsd");
    let labels = &config["Labels"];
    assert_eq!(
        labels["org.opencontainers.image.licenses"],
        "MIT OR Apache-2.0"
    );
    assert_eq!(
        labels["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION")
    );

    let (endpoint, url) =
        task_endpoint("docker-1", "arn:aws:ecs:x:1:task/c/docker-1", "ecs-statsd");
    let listener = UdpListener::new();
    let env = [
        ("ECS_CONTAINER_METADATA_URI_V4".to_string(), url.clone()),
        ("STATSD_PORT".to_string(), listener.port().to_string()),
    ];
    let container = start(&docker, &image.name, None, &env, &[]);
    wait_until("the first sample", || stats_requests(&endpoint, &url) >= 1);
    let (code, logs) = stop(&docker, &container.name);
    assert_eq!(code, 0, "{logs}");
    assert_eq!(
        stats_requests(&endpoint, &url),
        2,
        "the last sample: {logs}"
    );
    // The stop, said once; and, the root file system being read-only, that the metadata
    // cache cannot be kept (docs/deployment.md: mount a volume at /tmp, or --no-cache).
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 2, "{logs}");
    assert!(warnings[0].contains("Read-only file system"), "{logs}");
    assert!(warnings[1].contains("signal 15"), "{logs}");
    let got = udp_lines(&listener);
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 1.0, "{logs}");
    assert!(got.iter().any(|l| l.name == "ecs_task.cpu_usage_ratio"));
}

/// The sidecar image with its loop as PID 1 (busybox sh), as fargate-datadog-agent.json starts
/// it (entry point, command, environment): `docker stop` during the first run's interval, the
/// loop passes SIGTERM on once, the run sends, the loop exits 0 (docs/deployment.md).
#[test]
#[ignore = "needs root and dockerd; .ci/run starts dockerd and sets ECS_STATSD_DOCKER_HOST"]
fn the_sidecar_loop_runs_as_ecs_runs_it_and_docker_stop_sends_the_last_run() {
    let docker = gate();
    let image = build_final_stage(&docker);
    let sidecar = build_sidecar(&docker, &image.name);
    let recipe: Value = serde_json::from_str(
        &fs::read_to_string(root().join("examples/fargate-datadog-agent.json")).unwrap(),
    )
    .unwrap();
    let def = recipe["containerDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "ecs-statsd")
        .unwrap();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let entrypoint = strings(&def["entryPoint"]);
    assert_eq!(entrypoint.len(), 1, "{entrypoint:?}");
    let command = strings(&def["command"]);

    let (endpoint, url) =
        task_endpoint("docker-2", "arn:aws:ecs:x:1:task/c/docker-2", "ecs-statsd");
    let listener = UdpListener::new();
    let mut env: Vec<(String, String)> = def["environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap().to_string();
            (text("name"), text("value"))
        })
        .collect();
    env.push(("ECS_CONTAINER_METADATA_URI_V4".into(), url.clone()));
    env.push(("STATSD_PORT".into(), listener.port().to_string()));
    let container = start(&docker, &sidecar.name, Some(&entrypoint[0]), &env, &command);
    wait_until("the first sample", || stats_requests(&endpoint, &url) >= 1);
    let (code, logs) = stop(&docker, &container.name);
    assert_eq!(code, 0, "{logs}");
    assert_eq!(
        stats_requests(&endpoint, &url),
        2,
        "the last sample: {logs}"
    );
    let got = udp_lines(&listener);
    assert_eq!(value(&got, "ecs_task.exporter_status", &[]), 1.0, "{logs}");
    assert!(got.iter().all(|l| l.has_tag("service", "checkout")));
    assert!(
        !got.iter()
            .any(|l| l.has_tag("container_name", "datadog-agent")),
        "--exclude datadog-agent"
    );
}
