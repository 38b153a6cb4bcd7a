//! The user's constant tags (`--tag`, `DD_TAGS`, ...) under Datadog's tag rules, checked once
//! for every format: one key, one value, never a key ecs-statsd sets itself.

use super::catalog::CATALOG;
use super::label::label_name;
use super::sanitize_tag_value;
use super::tags::{TagOptions, built_in_keys, fit};

/// Where a user tag came from, for warnings.
pub type TagSource = &'static str;

/// Datadog's tag rules applied to the user's tags (`--tag`, `DD_TAGS`, ...), given in order of
/// precedence, each as typed: sanitized, cut to [`MAX_TAG_CHARS`](super::tags::MAX_TAG_CHARS) as a whole; a tag that does
/// not start with a letter, or whose key ecs-statsd sets itself with `options`, or whose key
/// an earlier tag already gave another value, is dropped with a warning naming it; an
/// identical tag given again is kept once. Keys are compared as the Prometheus label names
/// they become ([`label_name`]: `a.b` is `a_b`), so no format merges two of them. Returns the tags (an empty value is a bare tag) and the warnings.
pub fn user_tags(
    raw: &[(TagSource, String)],
    options: TagOptions,
) -> (Vec<(String, String)>, Vec<String>) {
    let built_in = built_in_keys(options);
    let mut tags: Vec<(String, String)> = Vec::new();
    let mut warnings = Vec::new();
    for (source, typed) in raw {
        let typed = typed.trim();
        if typed.is_empty() {
            continue;
        }
        let whole = sanitize_tag_value(typed);
        let (key, value) = whole.split_once(':').unwrap_or((&whole, ""));
        let key = key.to_string();
        if !key.starts_with(char::is_alphabetic) {
            warnings.push(format!(
                "tag {typed:?} from {source} dropped: Datadog tags must start with a letter"
            ));
            continue;
        }
        // Keys are compared as Prometheus label names, the strictest spelling of them
        // (`a.b` and `a_b` are one label), so that no format loses a tag another one keeps.
        let label = label_name(&key);
        if let Some(own) = built_in.iter().find(|k| label_name(k) == label) {
            warnings.push(format!(
                "tag {typed:?} from {source} dropped: ecs-statsd sets the {own:?} tag itself"
            ));
            continue;
        }
        // An EMF document holds its tags and its metrics as members of one JSON object: a tag
        // named like a metric would lose to the number there.
        if CATALOG.iter().any(|d| d.name == key) {
            warnings.push(format!(
                "tag {typed:?} from {source} dropped: {key:?} is the name of a metric, which \
                 EMF documents hold beside the tags"
            ));
            continue;
        }
        let value = fit(&key, value.to_string());
        match tags.iter().find(|(k, _)| label_name(k) == label) {
            Some((k, v)) if *k == key && *v == value => {}
            Some((k, v)) if *k == key => warnings.push(format!(
                "tag {typed:?} from {source} dropped: the {key:?} tag is already {v:?} \
                 (one value per key, so every format gets the same tags)"
            )),
            Some((k, v)) => warnings.push(format!(
                "tag {typed:?} from {source} dropped: its key is the label {label:?} in \
                 Prometheus, as the key of tag \"{k}:{v}\" given before (one value per key, so \
                 every format gets the same tags)"
            )),
            None => tags.push((key, value)),
        }
    }
    (tags, warnings)
}
