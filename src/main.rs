//! ecs-statsd: ECS Task Metadata Endpoint → DogStatsD gauges (or Prometheus text, or
//! CloudWatch EMF), one run per invocation.

use std::process::ExitCode;

use ecs_statsd::cli::argv;
use ecs_statsd::console::{init_logger, print_err, print_out};
use ecs_statsd::{config, run};

/// musl's own malloc cost a run about a quarter of its instructions and mapped and unmapped
/// pages all along; ripgrep swaps it out on musl for the same reason (`crates/core/main.rs`).
/// glibc builds keep glibc's allocator. See [`ecs_statsd::heap`].
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: ecs_statsd::heap::Heap = ecs_statsd::heap::Heap::new();

/// Runs before Rust's start-up code, which reopens a closed fd 1 on /dev/null: only here can
/// `--dry-run >&-` still be told from `--dry-run >/dev/null` (exit 3 against exit 0).
#[used]
#[unsafe(link_section = ".init_array")]
static NOTE_STDOUT_AT_EXEC: extern "C" fn() = {
    extern "C" fn note() {
        ecs_statsd::console::note_stdout_at_exec();
    }
    note
};

fn main() -> ExitCode {
    let cli = match argv::parse(std::env::args_os()) {
        Ok(cli) => cli,
        Err(early) => return early.print(),
    };
    if cli.version {
        print_out(&version_line());
        return ExitCode::SUCCESS;
    }
    let config = match config::Config::from_process_env(cli) {
        Ok(config) => config,
        Err(message) => return fail(run::Failure::usage(message)),
    };
    // Logs go to stderr: stdout carries --dry-run output.
    init_logger(config.log_level);
    for warning in &config.warnings {
        log::warn!("{warning}");
    }
    match run::run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => fail(failure),
    }
}

/// `ecs-statsd 0.1.0 (commit 0123456789ab)`: the commit build.rs found, when it found one.
fn version_line() -> String {
    let version = env!("CARGO_PKG_VERSION");
    match option_env!("ECS_STATSD_COMMIT") {
        Some(commit) => format!(
            "ecs-statsd {version} (commit {})",
            &commit[..commit.len().min(12)]
        ),
        None => format!("ecs-statsd {version}"),
    }
}

fn fail(failure: run::Failure) -> ExitCode {
    print_err(&format!("ecs-statsd: error: {failure}"));
    ExitCode::from(failure.status)
}
