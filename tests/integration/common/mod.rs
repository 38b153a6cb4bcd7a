//! Shared harness for the `ecs-statsd` integration tests (std only).
#![allow(dead_code)]
// Re-exports are conveniences; not every test binary/module uses all of them.
#![allow(unused_imports)]

pub mod cmd;
pub mod diff;
pub mod dogstatsd;
pub mod emf_spec;
pub mod fake_endpoint;
pub mod fixtures;
pub mod listener;
pub mod prometheus_spec;

pub use cmd::{
    RUN_TIMEOUT, Run, SIGHUP, SIGINT, SIGKILL, SIGQUIT, SIGTERM, TempDir, as_args, as_env, bin,
    bin_command, broken_pipe, run, run_program, send_signal, spawn, spawn_program,
    wait_with_timeout,
};
pub use diff::assert_lines_eq;
pub use dogstatsd::{Line, find, parse_all, parse_line, value};
pub use fake_endpoint::{FakeEndpoint, Fault, Request, Response};
pub use fixtures::*;
pub use listener::{UdpListener, UnixDgramListener, lines};
