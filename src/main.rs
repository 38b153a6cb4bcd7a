//! ecs-statsd: ECS Task Metadata Endpoint → DogStatsD gauges, one run per invocation.

use std::process::ExitCode;

use ecs_statsd::{argv, config, run};

fn main() -> ExitCode {
    let cli = match argv::parse(std::env::args_os()) {
        Ok(cli) => cli,
        Err(early) => return early.print(),
    };
    if cli.version {
        println!("ecs-statsd {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let config = match config::Config::resolve(cli, &|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(message) => return fail(run::Failure::usage(message)),
    };
    // Logs go to stderr (simple_logger's `stderr` feature): stdout carries --dry-run output.
    let _ = simple_logger::SimpleLogger::new()
        .with_level(config.log_level)
        .init();
    for warning in &config.warnings {
        log::warn!("{warning}");
    }
    match run::run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => fail(failure),
    }
}

fn fail(failure: run::Failure) -> ExitCode {
    eprintln!("ecs-statsd: error: {failure}");
    ExitCode::from(failure.status)
}
