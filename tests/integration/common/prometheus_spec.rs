//! A strict reader of the Prometheus text exposition format 0.0.4 (std only), so tests can
//! hold `--format prometheus` output to the format: the unit tests of
//! `src/output/prometheus.rs`, the property tests and the fuzz target all use it.
//!
//! The one copy: `src/output/prometheus.rs` and `fuzz/` include this file with `#[path]`,
//! the integration tests as `common::prometheus_spec`.

/// One parsed sample: (family name, labels in order, value text).
pub type Parsed = (String, Vec<(String, String)>, String);

/// A sample value as Prometheus reads it (Go's `ParseFloat`, plus `NaN`, `+Inf`, `-Inf`).
pub fn parse_float(text: &str) -> Result<f64, String> {
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => text.parse().map_err(|e| format!("{text:?}: {e}")),
    }
}

/// A strict reader of the text format, 0.0.4: `# HELP`/`# TYPE` at most once per family
/// and before its samples, families contiguous, names and escapes exactly as specified,
/// no duplicate series, every line `\n`-terminated. Values are checked and kept as text,
/// so the caller can read an integer exactly. An empty text is an exposition without
/// families.
pub fn parse(text: &str) -> Result<Vec<Parsed>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let body = text
        .strip_suffix('\n')
        .ok_or("the text must end with a newline")?;
    let mut out: Vec<Parsed> = Vec::new();
    let mut helped: Vec<String> = Vec::new();
    let mut typed: Vec<String> = Vec::new();
    let mut finished: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in body.split('\n') {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').ok_or("HELP without text")?;
            check_name(name, true)?;
            unescape(help, false)?;
            if helped.iter().any(|n| n == name) || finished.iter().any(|n| n == name) {
                return Err(format!("second HELP for {name}"));
            }
            helped.push(name.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or("TYPE without type")?;
            check_name(name, true)?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(format!("bad type {kind:?}"));
            }
            if typed.iter().any(|n| n == name) {
                return Err(format!("second TYPE for {name}"));
            }
            typed.push(name.to_string());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (name, labels, value) = parse_sample(line)?;
        if !typed.contains(&name) {
            return Err(format!("sample of {name} before its TYPE"));
        }
        if current.as_ref() != Some(&name) {
            if finished.contains(&name) {
                return Err(format!("family {name} is not contiguous"));
            }
            if let Some(done) = current.replace(name.clone()) {
                finished.push(done);
            }
        }
        let mut set = labels.clone();
        set.sort();
        let duplicate = out.iter().any(|(n, l, _)| {
            let mut other = l.clone();
            other.sort();
            *n == name && other == set
        });
        if duplicate {
            return Err(format!("duplicate series in {line:?}"));
        }
        out.push((name, labels, value));
    }
    Ok(out)
}

fn parse_sample(line: &str) -> Result<Parsed, String> {
    let end = line
        .find(['{', ' '])
        .ok_or_else(|| format!("no value in {line:?}"))?;
    let name = &line[..end];
    check_name(name, true)?;
    let mut rest = &line[end..];
    let mut labels: Vec<(String, String)> = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        // `{}` is allowed; after a comma another label must follow.
        if let Some(after) = rest.strip_prefix('}') {
            rest = after;
        } else {
            loop {
                let eq = rest.find('=').ok_or("label without =")?;
                let label = &rest[..eq];
                check_name(label, false)?;
                if labels.iter().any(|(l, _)| l == label) {
                    return Err(format!("label {label} twice in {line:?}"));
                }
                let quoted = rest[eq + 1..]
                    .strip_prefix('"')
                    .ok_or("label value must be quoted")?;
                let (value, after) = take_quoted(quoted)?;
                labels.push((label.to_string(), value));
                if let Some(after) = after.strip_prefix(',') {
                    rest = after;
                    if rest.starts_with('}') {
                        return Err(format!("trailing comma in {line:?}"));
                    }
                } else if let Some(after) = after.strip_prefix('}') {
                    rest = after;
                    break;
                } else {
                    return Err(format!("expected , or }} in {line:?}"));
                }
            }
        }
    }
    let rest = rest
        .strip_prefix(' ')
        .ok_or_else(|| format!("no space before the value in {line:?}"))?;
    let mut fields = rest.split(' ');
    let value = fields.next().ok_or("no value")?;
    if let Some(timestamp) = fields.next() {
        timestamp
            .parse::<i64>()
            .map_err(|_| format!("bad timestamp in {line:?}"))?;
    }
    if fields.next().is_some() {
        return Err(format!("junk after the sample in {line:?}"));
    }
    // Any float Go's ParseFloat takes (an integer text is one too).
    parse_float(value)?;
    Ok((name.to_string(), labels, value.to_string()))
}

/// The escaped text up to the closing `"`, unescaped, and what follows it.
fn take_quoted(s: &str) -> Result<(String, &str), String> {
    let mut chars = s.char_indices();
    let mut escaped = false;
    for (i, c) in chars.by_ref() {
        match (escaped, c) {
            (false, '\\') => escaped = true,
            (false, '"') => return Ok((unescape(&s[..i], true)?, &s[i + 1..])),
            _ => escaped = false,
        }
    }
    Err(format!("unterminated label value {s:?}"))
}

/// Label values know `\\`, `\"` and `\n`; HELP text only `\\` and `\n`.
fn unescape(s: &str, quote: bool) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\n' || (quote && c == '"') {
            return Err(format!("raw {c:?} in {s:?}"));
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quote => out.push('"'),
            other => return Err(format!("bad escape \\{other:?} in {s:?}")),
        }
    }
    Ok(out)
}

fn check_name(name: &str, metric: bool) -> Result<(), String> {
    let ok_first = |c: char| c.is_ascii_alphabetic() || c == '_' || (metric && c == ':');
    let ok = |c: char| ok_first(c) || c.is_ascii_digit();
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if ok_first(c) && chars.all(ok) => Ok(()),
        _ => Err(format!("invalid name {name:?}")),
    }
}
