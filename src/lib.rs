//! ecs-statsd as a library: the pieces of one run, exposed so benchmarks, property tests and
//! the fuzz target drive exactly the code the binary runs.

pub mod cache;
pub mod cli;
pub mod config;
pub mod console;
pub mod deadline;
pub mod ecs;
pub mod folder;
pub mod heap;
pub mod metrics;
pub mod output;
pub mod run;
pub mod signals;
pub mod state;
