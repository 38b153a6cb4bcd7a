//! The Datadog agent reads at most 8192 bytes of a datagram (`dogstatsd_buffer_size`:
//! DataDog/datadog-agent pkg/config/setup/config.go,
//! `BindEnvAndSetDefault("dogstatsd_buffer_size", 1024*8)`) and silently cuts the rest, so no
//! DogStatsD line may be longer, whatever `--max-packet-size` says. Only the user's tags
//! (`--tag`, `DD_TAGS`, ...) can make a line that long (every tag is at most 200 characters,
//! the identity tags are a fixed few): those are dropped from the end until the line fits,
//! and the run warns once, naming them.

use std::collections::BTreeSet;
use std::fmt::{self, Write};

use crate::metrics::{Metric, Value};

/// The agent's buffer: a line and its `\n` must fit in it.
pub const AGENT_BUFFER_SIZE: usize = 8192;
/// The longest DogStatsD line sent: the buffer less the line's `\n`.
pub const MAX_LINE: usize = AGENT_BUFFER_SIZE - 1;

/// Counts what is written, to measure a value as cadence writes it without allocating.
struct Count(usize);

impl Write for Count {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

fn written_len(value: impl fmt::Display) -> usize {
    let mut count = Count(0);
    let _ = write!(count, "{value}");
    count.0
}

/// The length of the line cadence writes for `metric` (a gauge): `<prefix>.<name>:<value>|g`,
/// then `|#` and the tags (`key:value`, or `key` alone for an empty value) joined by `,`,
/// then `|c:<id>` and `|T<seconds>` when given. `skip(i)` leaves out the tag at index `i`.
pub fn line_len(
    prefix: &str,
    name: &str,
    metric: &Metric,
    container_id: Option<&str>,
    timestamp: Option<u64>,
    skip: &dyn Fn(usize) -> bool,
) -> usize {
    let value = match metric.value {
        Value::Int(v) => written_len(v),
        Value::Float(v) => written_len(v.get()),
    };
    let dot = usize::from(!prefix.is_empty());
    let mut len = prefix.len() + dot + name.len() + 1 + value + "|g".len();
    let mut tags = 0;
    for (i, (key, value)) in metric.tags.iter().enumerate() {
        if skip(i) {
            continue;
        }
        len += usize::from(tags > 0) + key.len();
        if !value.is_empty() {
            len += 1 + value.len();
        }
        tags += 1;
    }
    if tags > 0 {
        len += "|#".len();
    }
    len += container_id.map_or(0, |id| "|c:".len() + id.len());
    len += timestamp.map_or(0, |t| "|T".len() + written_len(t));
    len
}

/// Which tags (by index) a line leaves out.
pub type Skip<'a> = &'a dyn Fn(usize) -> bool;

/// The indexes (into the series' tags) of the user tags to leave out so that the line fits
/// in [`MAX_LINE`]: the last user tags first. Empty when the line fits as it is (nearly
/// always); when even without every user tag it does not fit, all of them.
pub fn user_tags_to_drop(
    line_len: &dyn Fn(Skip) -> usize,
    metric: &Metric,
    user_keys: &[String],
) -> Vec<usize> {
    if user_keys.is_empty() || line_len(&|_| false) <= MAX_LINE {
        return Vec::new();
    }
    let user: Vec<usize> = metric
        .tags
        .iter()
        .enumerate()
        .filter(|(_, (key, _))| user_keys.iter().any(|k| k == key))
        .map(|(i, _)| i)
        .collect();
    for keep in (0..user.len()).rev() {
        let dropped = &user[keep..];
        if line_len(&|i| dropped.contains(&i)) <= MAX_LINE {
            return dropped.to_vec();
        }
    }
    user
}

/// The user tags left out during a run, for its one warning.
#[derive(Debug, Default)]
pub struct Dropped {
    lines: usize,
    tags: BTreeSet<String>,
}

impl Dropped {
    pub fn add(&mut self, metric: &Metric, indexes: &[usize]) {
        if indexes.is_empty() {
            return;
        }
        self.lines += 1;
        for (i, (key, value)) in metric.tags.iter().enumerate() {
            if indexes.contains(&i) {
                self.tags.insert(if value.is_empty() {
                    key.to_string()
                } else {
                    format!("{key}:{value}")
                });
            }
        }
    }

    /// The one warning of the run, if any tag was left out.
    pub fn warning(&self) -> Option<String> {
        (self.lines > 0).then(|| {
            let names: Vec<String> = self
                .tags
                .iter()
                .map(|t| format!("{:?}", t.chars().take(40).collect::<String>()))
                .collect();
            format!(
                "{} line(s) would be longer than the {AGENT_BUFFER_SIZE} bytes the Datadog agent \
                 reads of a datagram: user tag(s) {} left out of them (the last given first); \
                 give fewer or shorter --tag / DD_TAGS tags",
                self.lines,
                names.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::catalog::{CPU_USAGE_RATIO, MEM_USAGE};
    use crate::metrics::{TagKey, Tags};

    fn metric(tags: Tags, value: Value) -> Metric {
        Metric::new(&MEM_USAGE, value, tags)
    }

    /// The predicted length is the length of the line cadence writes.
    #[test]
    fn line_len_is_cadence_s_length() {
        let tags: Tags = vec![
            ("container_name".into(), "web".to_string()),
            ("canary".into(), String::new()),
            (TagKey::Owned("team".into()), "a-b".to_string()),
        ];
        for (metric, id, ts) in [
            (metric(tags.clone(), Value::Int(u64::MAX)), None, None),
            (
                Metric::new(&CPU_USAGE_RATIO, Value::float(0.123456).unwrap(), tags),
                Some("abc-1"),
                Some(1_715_680_800),
            ),
            (metric(Vec::new(), Value::float(1e21).unwrap()), None, None),
        ] {
            let (rx, sink) = cadence::SpyMetricSink::new();
            let client = cadence::StatsdClient::from_sink("ecs_task", sink);
            let mut builder = match metric.value {
                Value::Int(v) => cadence::Gauged::gauge_with_tags(&client, metric.name(), v),
                Value::Float(v) => {
                    cadence::Gauged::gauge_with_tags(&client, metric.name(), v.get())
                }
            };
            for (k, v) in metric.tags.iter() {
                builder = if v.is_empty() {
                    builder.with_tag_value(k)
                } else {
                    builder.with_tag(k, v)
                };
            }
            if let Some(id) = id {
                builder = builder.with_container_id(id);
            }
            if let Some(ts) = ts {
                builder = builder.with_timestamp(ts);
            }
            builder.send();
            let line = String::from_utf8(rx.try_recv().unwrap()).unwrap();
            assert_eq!(
                line_len("ecs_task", metric.name(), &metric, id, ts, &|_| false),
                line.len(),
                "{line}"
            );
        }
    }

    #[test]
    fn the_last_user_tags_go_first_and_only_as_many_as_needed() {
        let long = "v".repeat(190);
        let mut tags: Tags = vec![("container_name".into(), "web".to_string())];
        for i in 0..60 {
            tags.push((TagKey::Owned(format!("u{i:02}")), long.clone()));
        }
        tags.push(("ecs_container_name".into(), "web".to_string()));
        let m = metric(tags, Value::Int(1));
        let user: Vec<String> = (0..60).map(|i| format!("u{i:02}")).collect();
        let len =
            |skip: &dyn Fn(usize) -> bool| line_len("ecs_task", m.name(), &m, None, None, skip);
        let drop = user_tags_to_drop(&len, &m, &user);
        assert!(len(&|i| drop.contains(&i)) <= MAX_LINE);
        // One fewer dropped would not fit; the identity tags (first and last) stay.
        let fewer = &drop[1..];
        assert!(len(&|i| fewer.contains(&i)) > MAX_LINE);
        assert_eq!(*drop.last().unwrap(), 60, "the last user tag");
        assert!(!drop.contains(&0) && !drop.contains(&61));
        let mut dropped = Dropped::default();
        dropped.add(&m, &drop);
        let warning = dropped.warning().unwrap();
        assert!(
            warning.contains("\"u59:vvv") && warning.contains("8192"),
            "{warning}"
        );
        // A line that fits loses nothing.
        let short = metric(
            vec![(TagKey::Owned("u00".into()), "x".into())],
            Value::Int(1),
        );
        let len = |skip: &dyn Fn(usize) -> bool| {
            line_len("ecs_task", short.name(), &short, None, None, skip)
        };
        assert!(user_tags_to_drop(&len, &short, &user).is_empty());
        assert!(Dropped::default().warning().is_none());
    }
}
