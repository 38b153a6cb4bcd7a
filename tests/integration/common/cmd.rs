//! Running the built `ecs-statsd` binary with a cleared environment and hard timeouts,
//! sending it signals, and temporary directories.

use std::fs;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Hard timeout used by [`run`].
pub const RUN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for the output pipes to reach EOF after the child exited.
const PIPE_GRACE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(10);

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGQUIT: i32 = 3;
pub const SIGKILL: i32 = 9;
pub const SIGUSR1: i32 = 10;
pub const SIGPIPE: i32 = 13;
pub const SIGTERM: i32 = 15;

/// Path of the binary under test (built by cargo for integration tests).
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ecs-statsd"))
}

/// Outcome of a finished child process.
#[derive(Clone, Debug)]
pub struct Run {
    /// Exit code, `None` if killed by a signal.
    pub status: Option<i32>,
    /// Terminating signal, `None` if it exited normally.
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// True for exit code 0.
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// Panics (showing stdout/stderr) unless the exit code is `code`.
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.status,
            Some(code),
            "expected exit code {code}, got status={:?} signal={:?}\n{}",
            self.status,
            self.signal,
            self.describe()
        );
        self
    }

    /// Panics (showing stdout/stderr) unless the exit code is 0.
    pub fn assert_success(&self) -> &Self {
        self.assert_code(0)
    }

    /// Human-readable dump for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "--- status: {:?}, signal: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- end ---",
            self.status, self.signal, self.stdout, self.stderr
        )
    }
}

fn command(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Starts `program` with a cleared environment (only `PATH` plus `env`, which may
/// override `PATH`), stdin null, stdout/stderr piped.
pub fn spawn_program(program: impl AsRef<Path>, args: &[&str], env: &[(&str, &str)]) -> Child {
    let program = program.as_ref();
    command(program, args, env)
        .spawn()
        .unwrap_or_else(|e| panic!("failed to start {}: {e}", program.display()))
}

/// The command [`spawn`] would start (cleared environment, stdin null, outputs piped), for a
/// test that replaces a standard stream or adds a non-UTF-8 variable before spawning it.
pub fn bin_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    command(&bin(), args, env)
}

/// A pipe whose reading end is already closed: every write to the returned end fails with
/// EPIPE (SIGPIPE is ignored by the Rust runtime), as `2>&1 >/dev/null | true` does.
pub fn broken_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    Stdio::from(writer)
}

/// [`spawn_program`] for the binary under test.
pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Child {
    spawn_program(bin(), args, env)
}

/// Runs `program` to completion; panics (after killing it) if it takes more than 30 s.
pub fn run_program(program: impl AsRef<Path>, args: &[&str], env: &[(&str, &str)]) -> Run {
    let child = spawn_program(program, args, env);
    wait_with_timeout(child, RUN_TIMEOUT)
}

/// Runs the binary under test to completion with a cleared environment; panics
/// (after killing it) if it takes more than 30 s.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Run {
    run_program(bin(), args, env)
}

fn read_pipe(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    match pipe {
        Some(mut pipe) => {
            thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf);
                let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
            });
        }
        None => {
            let _ = tx.send(String::new());
        }
    }
    rx
}

fn collect_output(rx: &mpsc::Receiver<String>) -> String {
    rx.recv_timeout(PIPE_GRACE)
        .unwrap_or_else(|_| "<output not closed within grace period>".to_string())
}

/// Waits for `child` to exit, collecting its piped stdout/stderr (read in threads so
/// the child can never block on a full pipe). After `timeout` the child is killed
/// and this panics with what it printed so far.
pub fn wait_with_timeout(mut child: Child, timeout: Duration) -> Run {
    let stdout = read_pipe(child.stdout.take());
    let stderr = read_pipe(child.stderr.take());
    let pid = child.id();
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => panic!("try_wait on pid {pid} failed: {e}"),
        }
        if start.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            let run = Run {
                status: None,
                signal: Some(SIGKILL),
                stdout: collect_output(&stdout),
                stderr: collect_output(&stderr),
            };
            panic!(
                "child pid {pid} timed out after {timeout:?} and was killed\n{}",
                run.describe()
            );
        }
        thread::sleep(POLL);
    };
    Run {
        status: status.code(),
        signal: status.signal(),
        stdout: collect_output(&stdout),
        stderr: collect_output(&stderr),
    }
}

/// Sends signal number `sig` to `child` via the `kill` command; panics on failure.
pub fn send_signal(child: &Child, sig: i32) {
    let out = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .stdin(Stdio::null())
        .output()
        .expect("failed to run `kill`");
    assert!(
        out.status.success(),
        "kill -{sig} {} failed: {:?}: {}",
        child.id(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A unique directory under `std::env::temp_dir()`, removed (recursively) on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let base = std::env::temp_dir();
        for _ in 0..100 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            // Kept short: Unix socket paths inside must stay below ~108 bytes.
            let path = base.join(format!("ecsst-{}-{n}-{nanos}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return TempDir { path },
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("TempDir: create {}: {e}", path.display()),
            }
        }
        panic!(
            "TempDir: could not create a unique directory in {}",
            base.display()
        );
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `self.path().join(name)`.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `contents` to `name` inside the directory and returns the full path.
    pub fn write(&self, name: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path.join(name);
        fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("TempDir: write {}: {e}", path.display()));
        path
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Borrows owned env pairs for [`run`] / [`spawn`]: `run(&args, &as_env(&pairs))`.
pub fn as_env(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// Borrows owned args for [`run`] / [`spawn`]: `run(&as_args(&args), &env)`.
pub fn as_args(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}
