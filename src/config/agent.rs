//! What the ECS agent that writes the payload does, where the payload cannot tell:
//! `--ecs-agent-divides-network` / `ECS_AGENT_DIVIDES_NETWORK`.

use super::Env;
use crate::cli::{Cli, row};

/// `--ecs-agent-divides-network`, else `ECS_AGENT_DIVIDES_NETWORK` (`true`/`false`, `1`/`0`,
/// `yes`/`no`, any case); off when neither is given.
pub fn divides_network(cli: &Cli, env: Env) -> Result<bool, String> {
    if cli.ecs_agent_divides_network {
        return Ok(true);
    }
    let Some((var, raw)) = row::ecs_agent_divides_network
        .env
        .iter()
        .find_map(|&var| env(var).map(|raw| (var, raw)))
    else {
        return Ok(false);
    };
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!(
            "invalid {var}={raw:?}: give true (the ECS agent is older than 1.100.0) or false"
        )),
    }
}
