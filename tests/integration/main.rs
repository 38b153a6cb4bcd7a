//! Integration tests: the built binary against real captures, a fake metadata endpoint and
//! real sockets. One test binary with modules, so the suite links once.

mod ancestor_bugs;
mod collectd;
mod command_line;
mod common;
mod datadog;
mod delivery;
mod dialects;
mod docker;
mod e2e;
mod examples;
mod faults;
mod files;
mod golden;
mod harness_selftest;
mod hostile;
mod interval;
mod layout;
mod metrics;
mod outputs;
mod parity;
mod platforms;
mod properties;
mod release;
mod signals;
mod statsd_daemon;
