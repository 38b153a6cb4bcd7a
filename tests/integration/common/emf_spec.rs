//! A checker for one CloudWatch Embedded Metric Format document (std + serde_json only), so
//! tests can hold the binary's `--output emf` lines to the published specification.
//!
//! The one copy: `src/output/emf.rs` includes this file for its unit tests (`#[path]`).

/// Checks one parsed EMF document against the published specification ("Specification:
/// Embedded metric format", CloudWatch User Guide), member by member. Limits are the spec's
/// and its JSON schema's; two come from the CloudWatch API instead and say so.
pub fn validate_emf_document(doc: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value;

    const UNITS: [&str; 27] = [
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];
    // "Unless otherwise noted, objects defined by this specification MUST NOT contain any
    // additional members."
    fn only(
        object: &serde_json::Map<String, Value>,
        allowed: &[&str],
        what: &str,
    ) -> Result<(), String> {
        match object.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(extra) => Err(format!(
                "{what} has a member the spec does not define: {extra:?}"
            )),
            None => Ok(()),
        }
    }
    let chars = |s: &str| s.chars().count();

    // Root node: a JSON object (the LogEvent message, nothing before or after it).
    let root = doc
        .as_object()
        .ok_or("the root node must be a JSON object")?;
    // The EMF size limit is that of a CloudWatch Logs event; 256 KB is the older, lower one.
    let size = doc.to_string().len();
    if size > 256 * 1024 {
        return Err(format!(
            "document is {size} bytes, over the 256 KB event limit"
        ));
    }

    // Metadata object: `_aws`, with CloudWatchMetrics and Timestamp.
    let aws = root.get("_aws").ok_or("missing _aws")?;
    let aws = aws.as_object().ok_or("_aws must be an object")?;
    only(aws, &["Timestamp", "CloudWatchMetrics"], "_aws")?;
    // Timestamp: milliseconds after the epoch; the schema's type is integer.
    match aws.get("Timestamp") {
        Some(t) if t.is_u64() => {}
        Some(t) => {
            return Err(format!(
                "_aws.Timestamp must be a non-negative integer, got {t}"
            ));
        }
        None => return Err("missing _aws.Timestamp".into()),
    }
    let directives = aws
        .get("CloudWatchMetrics")
        .ok_or("missing _aws.CloudWatchMetrics")?
        .as_array()
        .ok_or("_aws.CloudWatchMetrics must be an array")?;

    for (i, directive) in directives.iter().enumerate() {
        let at = format!("CloudWatchMetrics[{i}]");
        let directive = directive
            .as_object()
            .ok_or(format!("{at} must be an object"))?;
        only(directive, &["Namespace", "Dimensions", "Metrics"], &at)?;

        // Namespace: a string; 1..=255 characters is the CloudWatch API's limit (the schema's
        // 1024 is looser than what PutMetricData accepts).
        let namespace = directive
            .get("Namespace")
            .ok_or(format!("{at}: missing Namespace"))?
            .as_str()
            .ok_or(format!("{at}.Namespace must be a string"))?;
        if namespace.is_empty() || chars(namespace) > 255 {
            return Err(format!("{at}.Namespace must be 1 to 255 characters"));
        }

        // Dimensions: an array (the schema: at least one) of DimensionSets; a DimensionSet is
        // an array of at most 30 strings (schema: 1..=250 characters), each naming a root
        // member ("target") whose value is a string of at most 1024 characters.
        let sets = directive
            .get("Dimensions")
            .ok_or(format!("{at}: missing Dimensions"))?
            .as_array()
            .ok_or(format!("{at}.Dimensions must be an array"))?;
        if sets.is_empty() {
            return Err(format!(
                "{at}.Dimensions must hold at least one DimensionSet"
            ));
        }
        for (j, set) in sets.iter().enumerate() {
            let set = set
                .as_array()
                .ok_or(format!("{at}.Dimensions[{j}] must be an array"))?;
            if set.len() > 30 {
                return Err(format!(
                    "{at}.Dimensions[{j}] has {} keys, over 30",
                    set.len()
                ));
            }
            for key in set {
                let key = key
                    .as_str()
                    .ok_or(format!("{at}.Dimensions[{j}] holds a non-string {key}"))?;
                if key.is_empty() || chars(key) > 250 {
                    return Err(format!(
                        "dimension name {key:?} must be 1 to 250 characters"
                    ));
                }
                let value = root
                    .get(key)
                    .ok_or(format!(
                        "dimension {key:?} is not a member of the root node"
                    ))?
                    .as_str()
                    .ok_or(format!("dimension {key:?} must have a string value"))?;
                // Non-empty: the CloudWatch API's Dimension.Value minimum.
                if value.is_empty() || chars(value) > 1024 {
                    return Err(format!(
                        "dimension {key:?} value must be 1 to 1024 characters"
                    ));
                }
            }
        }

        // Metrics: at most 100 MetricDefinitions: Name (required; schema: 1..=1024
        // characters) naming a root member that is a number or an array of at most 100
        // numbers; Unit (optional, a CloudWatch unit); StorageResolution (optional, 1 or 60).
        let definitions = directive
            .get("Metrics")
            .ok_or(format!("{at}: missing Metrics"))?
            .as_array()
            .ok_or(format!("{at}.Metrics must be an array"))?;
        if definitions.len() > 100 {
            return Err(format!("{at}.Metrics has {}, over 100", definitions.len()));
        }
        for (k, definition) in definitions.iter().enumerate() {
            let dat = format!("{at}.Metrics[{k}]");
            let definition = definition
                .as_object()
                .ok_or(format!("{dat} must be an object"))?;
            only(definition, &["Name", "Unit", "StorageResolution"], &dat)?;
            let name = definition
                .get("Name")
                .ok_or(format!("{dat}: missing Name"))?
                .as_str()
                .ok_or(format!("{dat}.Name must be a string"))?;
            if name.is_empty() || chars(name) > 1024 {
                return Err(format!("{dat}.Name must be 1 to 1024 characters"));
            }
            match root.get(name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(values))
                    if values.len() <= 100 && values.iter().all(Value::is_number) => {}
                Some(other) => {
                    return Err(format!(
                        "metric {name:?} must be a number or at most 100 numbers, got {other}"
                    ));
                }
                None => return Err(format!("metric {name:?} is not in the root node")),
            }
            if let Some(unit) = definition.get("Unit") {
                match unit.as_str() {
                    Some(u) if UNITS.contains(&u) => {}
                    _ => return Err(format!("{dat}.Unit {unit} is not a CloudWatch unit")),
                }
            }
            let resolution = definition.get("StorageResolution");
            if resolution.is_some_and(|r| !matches!(r.as_u64(), Some(1 | 60))) {
                return Err(format!("{dat}.StorageResolution must be 1 or 60"));
            }
        }
    }
    Ok(())
}
