//! The tags on every series: which identity tags, and the user's constant tags from `--tag`
//! and the Datadog variables, in their order of precedence.

use super::Env;
use crate::cli::Cli;
use crate::metrics::TagOptions;
use crate::metrics::user_tags::{TagSource, user_tags};
use crate::output::{Format, TagFormat};

/// The tags on every series.
#[derive(Debug, Clone, PartialEq)]
pub struct Tags {
    /// Which identity tags, and what tells series apart (the collision key).
    pub options: TagOptions,
    /// Unified service tagging, `DD_TAGS`, `--tag`, `DD_ENTITY_ID`: sanitized, in order of
    /// precedence; an empty value is a bare tag.
    pub constant: Vec<(String, String)>,
}

/// The identity tag options, the constant tags and the warnings about dropped ones.
/// `format` and `tag_format` say what tells series apart, for the collision check.
pub fn resolve(cli: &Cli, env: Env, format: &Format, tag_format: TagFormat) -> (Tags, Vec<String>) {
    let options = TagOptions {
        identity: !cli.no_identity_tags,
        task_arn: cli.tag_task_arn,
        container_id: cli.tag_container_id,
        series_key: crate::output::series_key(format, tag_format),
    };
    let (constant, warnings) = user_tags(&raw_user_tags(cli, env), options);
    (Tags { options, constant }, warnings)
}

/// The user's tags as typed, in order of precedence (the first value of a key wins): each
/// `--tag`, then `DD_ENV`/`DD_SERVICE`/`DD_VERSION` as `env:`, `service:`, `version:`
/// (unified service tagging, which Datadog ranks above `DD_TAGS`), then the `--tag`
/// variables (`DD_TAGS`, `DATADOG_TAGS`: comma or space separated), then `DD_ENTITY_ID` as
/// `dd.internal.entity_id:`.
fn raw_user_tags(cli: &Cli, env: Env) -> Vec<(TagSource, String)> {
    let flag = crate::cli::row::tag.flag;
    let mut raw: Vec<(TagSource, String)> = cli.tag.iter().map(|t| (flag, t.clone())).collect();
    for (var, key) in [
        ("DD_ENV", "env"),
        ("DD_SERVICE", "service"),
        ("DD_VERSION", "version"),
    ] {
        if let Some(value) = env(var) {
            raw.push((var, format!("{key}:{}", value.trim())));
        }
    }
    for &var in crate::cli::row::tag.env {
        if let Some(list) = env(var) {
            raw.extend(list.split([',', ' ']).map(|t| (var, t.to_string())));
        }
    }
    if let Some(id) = env("DD_ENTITY_ID") {
        raw.push((
            "DD_ENTITY_ID",
            format!("dd.internal.entity_id:{}", id.trim()),
        ));
    }
    raw
}
