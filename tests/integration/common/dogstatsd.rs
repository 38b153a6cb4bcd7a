//! A strict DogStatsD metric line parser (for asserting on what the binary sends).
//!
//! Grammar: `name:value|type` followed by optional sections, in any order, each at
//! most once: `|#tag,tag:value`, `|c:container-id`, `|T<unix-seconds>`, `|@rate`.

use std::fmt;

/// One parsed metric line.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub name: String,
    pub value: f64,
    /// The value exactly as sent.
    pub raw_value: String,
    /// `g`, `c`, `ms`, `h`, `s` or `d`.
    pub kind: String,
    /// `(key, value)` in sent order; a tag without `:` has an empty value.
    pub tags: Vec<(String, String)>,
    /// The `|c:` field.
    pub container: Option<String>,
    /// The `|T` field.
    pub timestamp: Option<u64>,
    /// The `|@` field.
    pub sample_rate: Option<f64>,
    /// The whole line as received.
    pub raw: String,
}

impl Line {
    /// Value of the first tag with this key (`Some("")` for a bare tag).
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// True if the tag `key:value` is present (`value` "" for a bare tag).
    pub fn has_tag(&self, key: &str, value: &str) -> bool {
        self.tags.iter().any(|(k, v)| k == key && v == value)
    }

    pub fn is_gauge(&self) -> bool {
        self.kind == "g"
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

const KINDS: [&str; 6] = ["g", "c", "ms", "h", "s", "d"];

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty metric name".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, ':' | '|' | '@' | '#' | ',') || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "metric name {name:?} contains forbidden character {c:?}"
        ));
    }
    Ok(())
}

fn parse_value(raw: &str) -> Result<f64, String> {
    if raw.is_empty() {
        return Err("empty value".into());
    }
    if raw.starts_with('+') {
        // In StatsD a signed gauge value is a relative update; never what we want.
        return Err(format!("value {raw:?} has a leading '+'"));
    }
    let v: f64 = raw
        .parse()
        .map_err(|_| format!("value {raw:?} is not a number"))?;
    if !v.is_finite() {
        return Err(format!("value {raw:?} is not finite"));
    }
    Ok(v)
}

fn parse_tags(section: &str) -> Result<Vec<(String, String)>, String> {
    if section.is_empty() {
        return Err("empty tag section '|#'".into());
    }
    section
        .split(',')
        .map(|tag| {
            if tag.is_empty() {
                return Err(format!("empty tag in {section:?}"));
            }
            if let Some(c) = tag
                .chars()
                .find(|c| matches!(c, '|' | ',' | '#') || c.is_whitespace() || c.is_control())
            {
                return Err(format!("tag {tag:?} contains forbidden character {c:?}"));
            }
            let (k, v) = tag.split_once(':').unwrap_or((tag, ""));
            if k.is_empty() {
                return Err(format!("tag {tag:?} has an empty key"));
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

/// Parses one DogStatsD metric line; never panics.
pub fn parse_line(line: &str) -> Result<Line, String> {
    if line.is_empty() {
        return Err("empty line".into());
    }
    if line.contains('\n') || line.contains('\r') {
        return Err("line contains a line break".into());
    }
    let mut sections = line.split('|');
    let head = sections.next().unwrap_or_default();
    let (name, raw_value) = head
        .split_once(':')
        .ok_or_else(|| format!("missing ':' between name and value in {head:?}"))?;
    check_name(name)?;
    let value = parse_value(raw_value)?;
    let kind = sections.next().ok_or("missing '|type'")?;
    if !KINDS.contains(&kind) {
        return Err(format!("unknown metric type {kind:?}"));
    }

    let mut tags = None;
    let mut container = None;
    let mut timestamp = None;
    let mut sample_rate = None;
    for section in sections {
        if let Some(rest) = section.strip_prefix('#') {
            if tags.is_some() {
                return Err("duplicate '|#' tags section".into());
            }
            tags = Some(parse_tags(rest)?);
        } else if let Some(rest) = section.strip_prefix("c:") {
            if container.is_some() {
                return Err("duplicate '|c:' section".into());
            }
            if rest.is_empty() {
                return Err("empty container id '|c:'".into());
            }
            // What both Datadog parsers read as one container ID: saluki's `local_data`
            // accepts only [A-Za-z0-9,-] (else the whole line is refused), the Go agent
            // splits the field on `,` (see src/output/origin.rs for the sources).
            if let Some(c) = rest
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
            {
                return Err(format!(
                    "container id {rest:?} contains forbidden character {c:?}"
                ));
            }
            container = Some(rest.to_string());
        } else if let Some(rest) = section.strip_prefix('T') {
            if timestamp.is_some() {
                return Err("duplicate '|T' section".into());
            }
            if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("timestamp {rest:?} is not an unsigned integer"));
            }
            let ts = rest
                .parse::<u64>()
                .map_err(|_| format!("timestamp {rest:?} out of range"))?;
            timestamp = Some(ts);
        } else if let Some(rest) = section.strip_prefix('@') {
            if sample_rate.is_some() {
                return Err("duplicate '|@' section".into());
            }
            let rate: f64 = rest
                .parse()
                .map_err(|_| format!("sample rate {rest:?} is not a number"))?;
            if !(rate > 0.0 && rate <= 1.0) {
                return Err(format!("sample rate {rest:?} not in (0, 1]"));
            }
            sample_rate = Some(rate);
        } else if section.is_empty() {
            return Err("empty section (stray '|')".into());
        } else {
            return Err(format!("unknown section {section:?}"));
        }
    }

    Ok(Line {
        name: name.to_string(),
        value,
        raw_value: raw_value.to_string(),
        kind: kind.to_string(),
        tags: tags.unwrap_or_default(),
        container,
        timestamp,
        sample_rate,
        raw: line.to_string(),
    })
}

/// Parses every line; panics naming the offending line and the reason.
pub fn parse_all(lines: &[String]) -> Vec<Line> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            parse_line(l).unwrap_or_else(|e| {
                panic!(
                    "invalid DogStatsD line #{i} {l:?}: {e}\nall lines:\n{}",
                    lines.join("\n")
                )
            })
        })
        .collect()
}

/// Lines named exactly `name` whose tags include every `(key, value)` in `tags`.
pub fn find<'a>(lines: &'a [Line], name: &str, tags: &[(&str, &str)]) -> Vec<&'a Line> {
    lines
        .iter()
        .filter(|l| l.name == name && tags.iter().all(|(k, v)| l.has_tag(k, v)))
        .collect()
}

/// The value of the single line matching `name` + `tags`; panics (listing near
/// matches) if there is not exactly one.
pub fn value(lines: &[Line], name: &str, tags: &[(&str, &str)]) -> f64 {
    let found = find(lines, name, tags);
    if let [one] = found.as_slice() {
        return one.value;
    }
    let mut msg = format!(
        "expected exactly one line {name:?} with tags {tags:?}, found {}\n",
        found.len()
    );
    if !found.is_empty() {
        msg.push_str("matching lines:\n");
        for l in &found {
            msg.push_str(&format!("  {l}\n"));
        }
    } else {
        let same_name: Vec<&Line> = lines.iter().filter(|l| l.name == name).collect();
        let near: Vec<&Line> = if !same_name.is_empty() {
            msg.push_str("lines with that name (tags differ):\n");
            same_name
        } else {
            let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
            msg.push_str(&format!(
                "no line with that name; lines whose name contains {stem:?}:\n"
            ));
            lines.iter().filter(|l| l.name.contains(stem)).collect()
        };
        for l in near.iter().take(30) {
            msg.push_str(&format!("  {l}\n"));
        }
        if near.len() > 30 {
            msg.push_str(&format!("  ... and {} more\n", near.len() - 30));
        }
        let mut names: Vec<&str> = lines.iter().map(|l| l.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        msg.push_str(&format!("all metric names: {names:?}\n"));
    }
    panic!("{msg}");
}
