//! Prometheus names: the strictest spelling of a name among the outputs (`[a-zA-Z_][a-zA-Z0-9_]*`).
//! The user's tag keys are compared under it, so no output merges two of them; the Prometheus
//! output writes its names with it.

/// The label name a tag key becomes: [`sanitize_name`], and `tag` in front of a name starting
/// with `__`. Two keys spelled differently may become one label (`a.b`, `a_b`): the user's
/// tags are compared under this name ([`super::user_tags`]), so one never hides another.
pub fn label_name(key: &str) -> String {
    let mut name = sanitize_name(key, false);
    if name.starts_with("__") {
        name.insert_str(0, "tag");
    }
    name
}

/// `[a-zA-Z_][a-zA-Z0-9_]*` (plus `:` for metric names): anything else becomes `_`, a leading
/// digit gets a `_` in front, and an empty name becomes `_`.
pub fn sanitize_name(raw: &str, allow_colon: bool) -> String {
    let mut out = String::with_capacity(raw.len() + 1);
    if raw.is_empty() || raw.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(raw.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' || (allow_colon && c == ':') {
            c
        } else {
            '_'
        }
    }));
    out
}
