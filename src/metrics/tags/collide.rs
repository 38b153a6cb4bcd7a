//! The uniqueness rule for every value that is part of a series' identity: containers whose
//! series would merge at the receiver get `container_id`; own-tag values (`interface`, `cpu`)
//! that the output would show alike get a stable mark. What "alike" means is the output's
//! ([`SeriesKeyFn`]), else the whole tag set as Datadog stores it.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::{MAX_TAG_CHARS, TagSet, Tagger, fit, tag_value};
use crate::ecs::task::Container;

/// What tells one series from another at the receiver (a container's, before any
/// `container_id`). Ordered, not hashed: keys are compared in sorted maps, where a comparison
/// stops at the first difference (mostly the `container_name` tag, first in every set) while a
/// hash reads every byte of every tag.
#[derive(Debug, Clone)]
enum SeriesKey {
    /// DogStatsD and Prometheus: the whole tag set, each value as Datadog stores it
    /// ([`datadog_form`], applied as the sets are compared; Prometheus could tell more apart,
    /// but the same task gets the same tags in both).
    Stored(TagSet),
    /// What the output's [`SeriesKeyFn`](super::SeriesKeyFn) shows: graphite names, EMF
    /// dimension values.
    Shown(Vec<String>),
}

impl Ord for SeriesKey {
    fn cmp(&self, other: &SeriesKey) -> Ordering {
        match (self, other) {
            (SeriesKey::Stored(a), SeriesKey::Stored(b)) => stored(a).cmp(stored(b)),
            (SeriesKey::Shown(a), SeriesKey::Shown(b)) => a.cmp(b),
            // One run's keys are all of one kind.
            (SeriesKey::Stored(_), SeriesKey::Shown(_)) => Ordering::Less,
            (SeriesKey::Shown(_), SeriesKey::Stored(_)) => Ordering::Greater,
        }
    }
}

impl PartialOrd for SeriesKey {
    fn partial_cmp(&self, other: &SeriesKey) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for SeriesKey {
    fn eq(&self, other: &SeriesKey) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for SeriesKey {}

/// A set's tags as Datadog stores them.
fn stored(set: &TagSet) -> impl Iterator<Item = (&str, Cow<'_, str>)> {
    set.iter().map(|(k, v)| (k.as_ref(), datadog_form(v)))
}

impl Tagger<'_> {
    /// Containers that would send the same series as another container (two valid
    /// 255-character ECS names that share their first 200 characters, names differing only in
    /// characters the tag rules replace, or, in graphite names, only in tags graphite leaves
    /// out) or as the task totals (a container named `_task_`): each is told apart by its
    /// Docker ID, with one warning for the run. `plain`: each container of the task with its
    /// set before any `container_id`.
    pub(super) fn colliding_ids(&self, plain: &[(&Container, TagSet)]) -> HashSet<String> {
        let task_key = self.series_key(&self.task);
        let containers = plain.iter().filter_map(|(_, set)| {
            let id = set.docker_id()?;
            let name = set.iter().next().map_or("", |(_, v)| v.as_str());
            Some(((id, name), self.series_key(set)))
        });
        let mut names = Vec::new();
        let mut colliding = HashSet::new();
        for (key, group) in self.alike(containers) {
            if group.len() > 1 || key == task_key {
                names.push(group[0].1.to_string());
                colliding.extend(group.into_iter().map(|(id, _)| id.to_string()));
            }
        }
        if !colliding.is_empty() && !self.options.container_id {
            names.sort();
            log::warn!(
                "containers collide with another container or with the task totals ({}): \
                 their series carry a container_id tag to keep them apart",
                names.join(", ")
            );
        }
        colliding
    }

    /// The test of the uniqueness rule, for every value that is part of a series' identity:
    /// `items`, each with the key of a series it gives ([`Tagger::series_key`]), grouped by
    /// key, groups in first-appearance order. An item given twice counts once; a group of
    /// more than one is a collision.
    fn alike<T: PartialEq>(
        &self,
        items: impl IntoIterator<Item = (T, SeriesKey)>,
    ) -> Vec<(SeriesKey, Vec<T>)> {
        // By key: where the group first appeared, and its items.
        let mut by_key: BTreeMap<SeriesKey, (usize, Vec<T>)> = BTreeMap::new();
        for (i, (item, shown)) in items.into_iter().enumerate() {
            let (_, group) = by_key.entry(shown).or_insert_with(|| (i, Vec::new()));
            if !group.contains(&item) {
                group.push(item);
            }
        }
        let mut groups: Vec<(usize, SeriesKey, Vec<T>)> = (by_key.into_iter())
            .map(|(shown, (first, group))| (first, shown, group))
            .collect();
        groups.sort_by_key(|(first, _, _)| *first);
        (groups.into_iter())
            .map(|(_, shown, group)| (shown, group))
            .collect()
    }

    /// What tells a series with these tags from another in this run's output.
    fn series_key(&self, set: &TagSet) -> SeriesKey {
        match self.options.series_key {
            Some(shown) => SeriesKey::Shown(shown(set)),
            None => SeriesKey::Stored(set.clone()),
        }
    }

    /// The tags of the series of each value of one of the series' own tags (`interface`,
    /// `cpu`) on top of `base`, a container's set: the uniqueness rule, applied to that tag's
    /// values; the marked ones are added to `own`.
    ///
    /// Values that this run's output would show the same way (see [`SeriesKey`]: two Linux
    /// interfaces `eth#0` and `eth!0` both tag `eth_0`; `eth.0` and `eth_0` share a graphite
    /// segment) are told apart by a mark from the value as read: `-` and eight hex digits of
    /// its FNV-1a hash (`eth#0` is `eth_0-62c04f07`), the same on every run, kept within
    /// [`MAX_TAG_CHARS`]; a mark that is still taken gets `-1`, `-2`, ... after it. Values
    /// nobody shares are untouched (their set is the plain one [`OwnTags::get`] makes). Each
    /// collision is added to `collisions`, for [`warn_collisions`].
    pub fn own_tags<'a>(
        &self,
        base: &TagSet,
        key: &'static str,
        raws: impl Iterator<Item = &'a str> + Clone,
        own: &mut OwnTags,
        collisions: &mut Vec<Collision>,
    ) {
        if raws.clone().all(|raw| shown_as_read(key, raw)) {
            return;
        }
        let plain: Vec<(&str, TagSet)> = raws
            .map(|raw| (raw, base.with(key, tag_value(key, raw))))
            .collect();
        let groups = self.alike(
            plain
                .iter()
                .map(|(raw, set)| ((*raw, set), self.series_key(set))),
        );
        // Values nobody shares keep their place: a mark never takes it.
        let mut taken: BTreeSet<SeriesKey> = (groups.iter())
            .filter(|(_, group)| group.len() == 1)
            .map(|(shown, _)| shown.clone())
            .collect();
        for (_, mut group) in groups {
            if group.len() == 1 {
                continue;
            }
            group.sort_by(|a, b| a.0.cmp(b.0));
            let mut collision = Collision {
                key,
                shown: group[0].1.extra_value().to_string(),
                raw: Vec::new(),
                marked: Vec::new(),
            };
            for (raw, set) in group {
                let plain = set.extra_value();
                // `taken` is finite: some attempt is free.
                let mut attempt = 0;
                let (value, set) = loop {
                    let value = with_mark(key, plain, raw, attempt);
                    let set = base.with(key, value.clone());
                    if taken.insert(self.series_key(&set)) {
                        break (value, set);
                    }
                    attempt += 1;
                };
                collision.raw.push(raw.to_string());
                collision.marked.push(value);
                own.insert(key, raw, set);
            }
            collisions.push(collision);
        }
    }
}

/// A value that no output and no receiver changes (lowercase ASCII letters, digits, `-`,
/// single `_` not at the end, within the cut: `eth0`, CPU numbers) is shown as read by all of
/// them, so when every value is one, distinct values stay distinct: no series key to compare.
fn shown_as_read(key: &str, raw: &str) -> bool {
    !raw.is_empty()
        && key.len() + 1 + raw.len() <= MAX_TAG_CHARS
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && !raw.contains("__")
        && !raw.ends_with('_')
}

/// The tags of a container's series of each of its own-tag values (see [`Tagger::own_tags`]).
#[derive(Debug, Clone, Default)]
pub struct OwnTags {
    /// The marked values' sets, by tag key, by value as read (mostly empty: every other
    /// value's set is its plain one).
    marked: BTreeMap<&'static str, BTreeMap<String, TagSet>>,
}

impl OwnTags {
    /// The tags of the series whose `key` tag is `raw` as read: its marked set, else `raw`
    /// only sanitized, on `base`.
    pub fn get(&self, base: &TagSet, key: &'static str, raw: &str) -> TagSet {
        match self.marked.get(key).and_then(|by_value| by_value.get(raw)) {
            Some(set) => set.clone(),
            None => base.with(key, tag_value(key, raw)),
        }
    }

    fn insert(&mut self, key: &'static str, raw: &str, set: TagSet) {
        let by_value = self.marked.entry(key).or_default();
        by_value.insert(raw.to_string(), set);
    }
}

/// Values of one own tag that the output would show the same way, and what each became.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Collision {
    pub key: &'static str,
    /// The value they would all have had.
    pub shown: String,
    /// The values as read, sorted, and the marked value each was sent with.
    pub raw: Vec<String>,
    pub marked: Vec<String>,
}

/// One warning per own tag for the run, naming every collision once (the same interfaces
/// seen by every container of a shared network namespace are one collision).
pub fn warn_collisions(collisions: &[Collision]) {
    let unique: std::collections::BTreeSet<&Collision> = collisions.iter().collect();
    let mut keys: Vec<&str> = unique.iter().map(|c| c.key).collect();
    keys.dedup();
    for key in keys {
        let named: Vec<String> = unique
            .iter()
            .filter(|c| c.key == key)
            .map(|c| {
                let pairs: Vec<String> = c
                    .raw
                    .iter()
                    .zip(&c.marked)
                    .map(|(raw, marked)| format!("{raw:?} as {marked}"))
                    .collect();
                format!("{} ({})", c.shown, pairs.join(", "))
            })
            .collect();
        log::warn!(
            "{key} values collide with another of their container: each carries a mark from \
             its own value to keep their series apart: {}",
            named.join("; ")
        );
    }
}

/// `value` with the mark of `raw` (see [`Tagger::own_tags`]), cut so that `key:value-mark`
/// fits [`MAX_TAG_CHARS`].
fn with_mark(key: &str, value: &str, raw: &str, attempt: u32) -> String {
    let mut mark = format!("-{:08x}", fnv1a(raw.as_bytes()));
    if attempt > 0 {
        mark.push_str(&format!("-{attempt}"));
    }
    let mut value = fit(key, value.to_string());
    let room = MAX_TAG_CHARS.saturating_sub(key.chars().count() + 1 + mark.len());
    if let Some((at, _)) = value.char_indices().nth(room) {
        value.truncate(at);
    }
    value.push_str(&mark);
    value
}

/// 32-bit FNV-1a (offset basis 2166136261, prime 16777619; Fowler, Noll, Vo): a stable
/// hash, the same on every platform and run, so a mark names the same value every time.
pub(super) fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, &b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// A tag value as Datadog stores it: lowercase, each run of `_` one `_`, no trailing `_`
/// (docs.datadoghq.com/developers/guide/what-best-practices-are-recommended-for-naming-metrics-and-tags:
/// "Tags are converted to lowercase", "Contiguous underscores are reduced to a single
/// underscore", "A trailing underscore is removed"). Two valid ECS names `Web` and `web`, or
/// `a__b` and `a_b`, are one series there.
pub(super) fn datadog_form(value: &str) -> Cow<'_, str> {
    // Most values are stored as they are (ASCII, no uppercase, no `__`, no trailing `_`): no
    // copy.
    let mut previous = 0;
    let stored = value.bytes().all(|b| {
        let kept = b.is_ascii() && !b.is_ascii_uppercase() && !(b == b'_' && previous == b'_');
        previous = b;
        kept
    });
    if stored && previous != b'_' {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    for c in value.chars().flat_map(char::to_lowercase) {
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    Cow::Owned(out)
}
