//! Tags on every series: the ancestor's `container_name`, plus task and container identity
//! under the tag names of Datadog's own ECS integration, so the series join Datadog's ECS views.
//!
//! The identity tags are those the Datadog agent's tagger gives an ECS task and its containers
//! (DataDog/datadog-agent, comp/core/tagger/collectors/workloadmeta_extract.go at
//! 87f11b9e3105e3ec4e2a2d25ce34a1c470ff62dc, `handleECSTask` and `handleContainer`; the names
//! are the constants of comp/core/tagger/tags/tags.go at
//! 05a2adcbe8f7f7a1533b97184446d42add8e0fb6): `task_name` and `task_family` (both
//! the family), `task_version`, `cluster_name` and `ecs_cluster_name` (both the short cluster
//! name), `region`, `availability-zone` and the deprecated `availability_zone`,
//! `ecs_container_name`, and from the image `image_name`, `short_image`, `image_tag` and
//! `docker_image`. The tagger's `container_name` is the Docker name; ours stays the ECS name
//! the ancestor sent (docs/compatibility.md says which joins which view).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{TASK_CONTAINER_NAME, sanitize_tag_value};
use crate::ecs::Task;
use crate::ecs::task::Container;
use crate::output::prometheus::label_name;

/// Tag keys are ours (`'static`) except user-given constant tags (`--tag`, `DD_TAGS`).
pub type TagKey = std::borrow::Cow<'static, str>;

/// One tag: key and (sanitized) value; an empty value is a bare tag.
pub type Tag = (TagKey, String);

pub type Tags = Vec<(TagKey, String)>;

/// The tags of one series: a set shared by every series of a container (or of the task),
/// plus at most one tag of its own (`cpu`, `interface`). Sharing keeps computing a run free
/// of per-metric copies of the ten-odd identity tags.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TagSet {
    base: Arc<[(TagKey, String)]>,
    extra: Option<(TagKey, String)>,
    /// The Docker ID of the container the series is about (not a tag: `--origin-detection`
    /// sends it as the `|c:` field). Names may collide after sanitizing; IDs do not.
    docker_id: Option<Arc<str>>,
    /// The container collides with another (or with the task totals) and is told apart by
    /// its `container_id` tag, which EMF then makes a dimension too.
    apart_by_id: bool,
}

impl TagSet {
    pub fn iter(&self) -> impl Iterator<Item = &(TagKey, String)> {
        self.base.iter().chain(self.extra.iter())
    }

    /// The value of the first tag named `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The same set plus one tag (its value cut to fit [`MAX_TAG_CHARS`]).
    pub fn with(&self, key: &'static str, value: String) -> TagSet {
        TagSet {
            base: Arc::clone(&self.base),
            extra: Some((key.into(), fit(key, value))),
            docker_id: self.docker_id.clone(),
            apart_by_id: self.apart_by_id,
        }
    }

    /// Whether the series' container is told apart from a colliding one by `container_id`
    /// (see `Tagger::colliding_ids`).
    pub fn apart_by_id(&self) -> bool {
        self.apart_by_id
    }

    /// The Docker ID of the container the series is about, if it is about one.
    pub fn docker_id(&self) -> Option<&str> {
        self.docker_id.as_deref()
    }

    /// The value of the series' own tag (`interface`, `cpu`), or "".
    fn extra_value(&self) -> &str {
        self.extra.as_ref().map_or("", |(_, v)| v.as_str())
    }

    pub fn to_vec(&self) -> Tags {
        self.iter().cloned().collect()
    }

    /// The tags shared by every series of the set's container (or of the task), and the
    /// series' own one: a writer can render the shared part once per set (`Arc::ptr_eq`).
    pub fn parts(&self) -> (&Arc<[Tag]>, Option<&Tag>) {
        (&self.base, self.extra.as_ref())
    }
}

impl From<Tags> for TagSet {
    fn from(tags: Tags) -> TagSet {
        TagSet {
            base: tags.into(),
            extra: None,
            docker_id: None,
            apart_by_id: false,
        }
    }
}

/// Which identity tags to add (`--no-identity-tags`, `--tag-task-arn`, `--tag-container-id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagOptions {
    pub identity: bool,
    /// High cardinality: one value per task.
    pub task_arn: bool,
    /// High cardinality: one value per container instance.
    pub container_id: bool,
    /// Series are told apart by their graphite name alone (`--tag-format graphite`), not
    /// by their whole tag set: the collision check compares names.
    pub graphite_names: bool,
    /// Series are told apart by their EMF dimension values alone (`--format emf`): CloudWatch
    /// merges metrics whose dimensions are equal, whatever their other properties.
    pub emf_dimensions: bool,
}

impl Default for TagOptions {
    fn default() -> TagOptions {
        TagOptions {
            identity: true,
            task_arn: false,
            container_id: false,
            graphite_names: false,
            emf_dimensions: false,
        }
    }
}

/// What tells one series from another at the receiver (a container's, before any
/// `container_id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum SeriesKey {
    /// DogStatsD, Prometheus and EMF documents: the whole tag set, each value as Datadog
    /// stores it ([`datadog_form`]; Prometheus could tell more apart, but the same task gets
    /// the same tags in both).
    Tags(Tags),
    /// `--tag-format graphite`: the name segments.
    GraphitePath(String),
    /// `--format emf`: the dimension values.
    EmfDimensions(Vec<String>),
}

/// Builds the tag list of each series from the task metadata, once per run.
#[derive(Debug, Clone, Default)]
pub struct Tagger {
    /// Task identity (and constant tags), added to every series.
    identity: Tags,
    /// The task totals' set and the run's set, built once.
    task: TagSet,
    run: TagSet,
    options: TagOptions,
    /// Docker IDs of containers whose series would otherwise be indistinguishable from
    /// another container's or the task totals' (see `colliding_ids`): they get a
    /// `container_id` tag.
    colliding: HashSet<String>,
}

impl Tagger {
    /// `constant` tags (already sanitized; an empty value is a bare tag) follow the identity
    /// tags on every series.
    pub fn new(task: &Task, options: TagOptions, constant: &[(String, String)]) -> Tagger {
        let mut tags: Tags = Vec::new();
        let mut push = |key: &'static str, value: Option<&str>| {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                tags.push((key.into(), tag_value(key, value)));
            }
        };
        if options.identity {
            let arn = task.task_arn.as_deref().and_then(Arn::parse);
            let cluster = task.cluster.as_deref().map(cluster_short_name);
            push("ecs_cluster_name", cluster);
            push("task_family", task.family.as_deref());
            push("task_version", task.revision.as_deref());
            push("region", arn.as_ref().map(|a| a.region));
            push("aws_account", arn.as_ref().map(|a| a.account));
            push("availability_zone", task.availability_zone.as_deref());
            push("launch_type", task.launch_type.as_deref());
            push("ecs_service", task.service_name.as_deref());
            // The tagger's current names beside the ones above (it sends both sets).
            push("task_name", task.family.as_deref());
            push("cluster_name", cluster);
            push("availability-zone", task.availability_zone.as_deref());
        }
        if options.task_arn {
            push("task_arn", task.task_arn.as_deref());
        }
        tags.extend(
            constant
                .iter()
                .map(|(k, v)| (TagKey::Owned(k.clone()), v.clone())),
        );
        let mut task_tags: Tags = vec![("container_name".into(), TASK_CONTAINER_NAME.to_string())];
        task_tags.extend(tags.iter().cloned());
        let mut tagger = Tagger {
            task: task_tags.into(),
            run: tags.clone().into(),
            identity: tags,
            options,
            colliding: HashSet::new(),
        };
        tagger.colliding = tagger.colliding_ids(task);
        tagger
    }

    /// Containers that would send the same series as another container (two valid
    /// 255-character ECS names that share their first 200 characters, names differing only in
    /// characters the tag rules replace, or, in graphite names, only in tags graphite leaves
    /// out) or as the task totals (a container named `_task_`): each is told apart by its
    /// Docker ID, with one warning for the run.
    fn colliding_ids(&self, task: &Task) -> HashSet<String> {
        let task_key = self.series_key(self.task.to_vec());
        let containers = task.containers().iter().filter_map(|container| {
            let id = container.docker_id.as_deref().filter(|id| !id.is_empty())?;
            let tags = self.container_tags(container, id);
            let name = tags.first().map(|(_, v)| v.clone()).unwrap_or_default();
            Some(((id, name), tags))
        });
        let mut names = Vec::new();
        let mut colliding = HashSet::new();
        for (key, group) in self.alike(containers) {
            if group.len() > 1 || key == task_key {
                names.push(group[0].1.clone());
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
    /// `items`, each with the tags of a series it gives, grouped by what this run's output
    /// tells apart ([`SeriesKey`]), groups in first-appearance order. An item given twice
    /// counts once; a group of more than one is a collision.
    fn alike<T: PartialEq>(
        &self,
        items: impl IntoIterator<Item = (T, Tags)>,
    ) -> Vec<(SeriesKey, Vec<T>)> {
        let mut groups: Vec<(SeriesKey, Vec<T>)> = Vec::new();
        let mut index: HashMap<SeriesKey, usize> = HashMap::new();
        for (item, tags) in items {
            let shown = self.series_key(tags);
            let i = *index.entry(shown.clone()).or_insert_with(|| {
                groups.push((shown, Vec::new()));
                groups.len() - 1
            });
            if !groups[i].1.contains(&item) {
                groups[i].1.push(item);
            }
        }
        groups
    }

    /// What tells a series with these tags from another in this run's output.
    fn series_key(&self, tags: Tags) -> SeriesKey {
        if self.options.graphite_names {
            SeriesKey::GraphitePath(crate::output::graphite::path(&tags.into()))
        } else if self.options.emf_dimensions {
            let set = TagSet::from(tags);
            let values = crate::output::emf::DIMENSION_KEYS
                .iter()
                .map(|key| set.get(key).unwrap_or_default().to_string())
                .collect();
            SeriesKey::EmfDimensions(values)
        } else {
            let stored = tags.into_iter().map(|(k, v)| (k, datadog_form(&v)));
            SeriesKey::Tags(stored.collect())
        }
    }

    /// Tags of a task-level total: `container_name:_task_` and the task identity.
    pub fn task(&self) -> TagSet {
        self.task.clone()
    }

    /// Tags of a series about no container in particular (`exporter_*`): identity only.
    pub fn run(&self) -> TagSet {
        self.run.clone()
    }

    /// Tags of a container series: `container_name` first (the ancestor's tag), then the task
    /// identity, then the container's image and name.
    pub fn container(&self, container: &Container, docker_id: &str) -> TagSet {
        let mut tags = self.container_tags(container, docker_id);
        if !docker_id.is_empty()
            && (self.options.container_id || self.colliding.contains(docker_id))
        {
            tags.push(("container_id".into(), tag_value("container_id", docker_id)));
        }
        TagSet {
            base: tags.into(),
            extra: None,
            docker_id: Some(docker_id.into()).filter(|id: &Arc<str>| !id.is_empty()),
            apart_by_id: !docker_id.is_empty() && self.colliding.contains(docker_id),
        }
    }

    /// The tags of the series of each value of one of the series' own tags (`interface`,
    /// `cpu`) on top of `base`, a container's set: the uniqueness rule, applied to that tag's
    /// values, added to `own`.
    ///
    /// Values that this run's output would show the same way (see [`SeriesKey`]: two Linux
    /// interfaces `eth#0` and `eth!0` both tag `eth_0`; `eth.0` and `eth_0` share a graphite
    /// segment) are told apart by a mark from the value as read: `-` and eight hex digits of
    /// its FNV-1a hash (`eth#0` is `eth_0-62c04f07`), the same on every run, kept within
    /// [`MAX_TAG_CHARS`]; a mark that is still taken gets `-1`, `-2`, ... after it. Values
    /// nobody shares are untouched. Each collision is added to `collisions`, for
    /// [`warn_collisions`].
    pub fn own_tags<'a>(
        &self,
        base: &TagSet,
        key: &'static str,
        raws: impl IntoIterator<Item = &'a str>,
        own: &mut OwnTags,
        collisions: &mut Vec<Collision>,
    ) {
        let raws: Vec<&'a str> = raws.into_iter().collect();
        // A value that no output and no receiver changes (lowercase ASCII letters, digits,
        // `-`, single `_` not at the end, within the cut: `eth0`, CPU numbers) is shown as
        // read by all of them, so when every value is one, distinct values stay distinct: no
        // series key to compare.
        let as_read = |raw: &str| {
            !raw.is_empty()
                && key.len() + 1 + raw.len() <= MAX_TAG_CHARS
                && raw
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
                && !raw.contains("__")
                && !raw.ends_with('_')
        };
        if raws.iter().all(|raw| as_read(raw)) {
            for raw in raws {
                let set = base.with(key, raw.to_string());
                own.insert(key, raw, set);
            }
            return;
        }
        let groups = self.alike(raws.into_iter().map(|raw| {
            let set = base.with(key, tag_value(key, raw));
            let tags = set.to_vec();
            ((raw, set), tags)
        }));
        // Values nobody shares keep their place: a mark never takes it.
        let mut taken: HashSet<SeriesKey> = groups
            .iter()
            .filter(|(_, group)| group.len() == 1)
            .map(|(shown, _)| shown.clone())
            .collect();
        for (_, mut group) in groups {
            if group.len() == 1 {
                let (raw, set) = group.remove(0);
                own.insert(key, raw, set);
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
                    if taken.insert(self.series_key(set.to_vec())) {
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

    /// A container's tags before any `container_id`.
    fn container_tags(&self, container: &Container, docker_id: &str) -> Tags {
        let name = super::container_name_tag(container, docker_id);
        let mut tags: Tags = vec![("container_name".into(), name.clone())];
        tags.extend(self.identity.iter().cloned());
        if self.options.identity {
            if let Some(image) = container.image.as_deref() {
                let (image_name, image_tag) = split_image(image);
                tags.push(("image_name".into(), tag_value("image_name", image_name)));
                if let Some(tag) = image_tag {
                    tags.push(("image_tag".into(), tag_value("image_tag", tag)));
                }
                let short = image_name.rsplit('/').next().unwrap_or(image_name);
                tags.push(("short_image".into(), tag_value("short_image", short)));
                let docker_image = match image_tag {
                    Some(tag) => format!("{image_name}:{tag}"),
                    None => image_name.to_string(),
                };
                tags.push((
                    "docker_image".into(),
                    tag_value("docker_image", &docker_image),
                ));
            }
            tags.push(("ecs_container_name".into(), fit("ecs_container_name", name)));
        }
        tags
    }
}

/// The tags of a container's series of each of its own-tag values (see [`Tagger::own_tags`]).
#[derive(Debug, Clone, Default)]
pub struct OwnTags {
    /// By tag key, by value as read.
    sets: HashMap<&'static str, HashMap<String, TagSet>>,
}

impl OwnTags {
    /// The tags of the series whose `key` tag is `raw` as read. A value the rule was not given
    /// is only sanitized, on `base`.
    pub fn get(&self, base: &TagSet, key: &'static str, raw: &str) -> TagSet {
        match self.sets.get(key).and_then(|by_value| by_value.get(raw)) {
            Some(set) => set.clone(),
            None => base.with(key, tag_value(key, raw)),
        }
    }

    fn insert(&mut self, key: &'static str, raw: &str, set: TagSet) {
        let by_value = self.sets.entry(key).or_default();
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
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, &b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// A tag value as Datadog stores it: lowercase, each run of `_` one `_`, no trailing `_`
/// (docs.datadoghq.com/developers/guide/what-best-practices-are-recommended-for-naming-metrics-and-tags:
/// "Tags are converted to lowercase", "Contiguous underscores are reduced to a single
/// underscore", "A trailing underscore is removed"). Two valid ECS names `Web` and `web`, or
/// `a__b` and `a_b`, are one series there.
fn datadog_form(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars().flat_map(char::to_lowercase) {
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// Datadog's limit on a whole tag, `key:value`, in characters.
pub const MAX_TAG_CHARS: usize = 200;

/// Keys of the tags ecs-statsd sets itself with these options. A user tag with one of these
/// keys is dropped: one key, one value, in every format.
fn built_in_keys(options: TagOptions) -> Vec<&'static str> {
    let mut keys = vec!["container_name", "interface", "cpu"];
    if options.identity {
        keys.extend([
            "ecs_cluster_name",
            "task_family",
            "task_version",
            "region",
            "aws_account",
            "availability_zone",
            "launch_type",
            "ecs_service",
            "task_name",
            "cluster_name",
            "availability-zone",
            "image_name",
            "image_tag",
            "short_image",
            "docker_image",
            "ecs_container_name",
        ]);
    }
    if options.task_arn {
        keys.push("task_arn");
    }
    // Set on every series with --tag-container-id, and on a colliding container's without it:
    // a user's `container_id` would hide the one that keeps such containers apart.
    keys.push("container_id");
    keys
}

/// `raw` sanitized and cut so that `key:value` is at most [`MAX_TAG_CHARS`] characters.
pub fn tag_value(key: &str, raw: &str) -> String {
    fit(key, sanitize_tag_value(raw))
}

/// `value` cut so that `key:value` is at most [`MAX_TAG_CHARS`] characters.
fn fit(key: &str, mut value: String) -> String {
    let room = MAX_TAG_CHARS.saturating_sub(key.chars().count() + 1);
    if let Some((at, _)) = value.char_indices().nth(room) {
        value.truncate(at);
    }
    value
}

/// Where a user tag came from, for warnings.
pub type TagSource = &'static str;

/// Datadog's tag rules applied to the user's tags (`--tag`, `DD_TAGS`, ...), given in order of
/// precedence, each as typed: sanitized, cut to [`MAX_TAG_CHARS`] as a whole; a tag that does
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
        if super::catalog::CATALOG.iter().any(|d| d.name == key) {
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

/// `arn:<partition>:ecs:<region>:<account>:task/...`, any partition (aws, aws-cn, aws-us-gov).
struct Arn<'a> {
    region: &'a str,
    account: &'a str,
}

impl<'a> Arn<'a> {
    fn parse(arn: &'a str) -> Option<Arn<'a>> {
        let mut parts = arn.splitn(6, ':');
        let (scheme, _partition, _service) = (parts.next()?, parts.next()?, parts.next()?);
        let (region, account, _resource) = (parts.next()?, parts.next()?, parts.next()?);
        (scheme == "arn" && !region.is_empty() && !account.is_empty())
            .then_some(Arn { region, account })
    }
}

/// `arn:aws:ecs:us-west-2:111122223333:cluster/default` → `default`; a short name as is.
fn cluster_short_name(cluster: &str) -> &str {
    if cluster.starts_with("arn:") {
        cluster.rsplit_once('/').map_or(cluster, |(_, name)| name)
    } else {
        cluster
    }
}

/// `registry:5000/team/web:1.4.2` → (`registry:5000/team/web`, `1.4.2`);
/// `web@sha256:…` → (`web`, None); `web` → (`web`, None).
fn split_image(image: &str) -> (&str, Option<&str>) {
    let without_digest = image.split_once('@').map_or(image, |(name, _)| name);
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    match without_digest[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            (&without_digest[..at], Some(&without_digest[at + 1..]))
        }
        None => (without_digest, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_and_tags() {
        assert_eq!(
            split_image("111122223333.dkr.ecr.us-west-2.amazonaws.com/web:1.4.2"),
            (
                "111122223333.dkr.ecr.us-west-2.amazonaws.com/web",
                Some("1.4.2")
            )
        );
        assert_eq!(
            split_image("registry:5000/team/web"),
            ("registry:5000/team/web", None)
        );
        assert_eq!(split_image("nginx@sha256:abc"), ("nginx", None));
        assert_eq!(
            split_image("nginx:1.25@sha256:abc"),
            ("nginx", Some("1.25"))
        );
        assert_eq!(split_image(""), ("", None));
    }

    #[test]
    fn cluster_and_arn() {
        assert_eq!(
            cluster_short_name("arn:aws:ecs:us-west-2:111122223333:cluster/default"),
            "default"
        );
        assert_eq!(cluster_short_name("prod"), "prod");
        let arn = Arn::parse("arn:aws-cn:ecs:cn-north-1:123456789012:task/c/abc").unwrap();
        assert_eq!((arn.region, arn.account), ("cn-north-1", "123456789012"));
        assert!(Arn::parse("not an arn").is_none());
    }

    fn has(tags: &TagSet, key: &str, value: &str) -> bool {
        tags.iter().any(|(k, v)| k == key && v == value)
    }

    #[test]
    fn identity_can_be_turned_off_and_high_cardinality_on() {
        let task = Task {
            cluster: Some("arn:aws:ecs:us-west-2:111122223333:cluster/default".into()),
            task_arn: Some("arn:aws:ecs:us-west-2:111122223333:task/default/abc".into()),
            family: Some("web app".into()),
            ..Task::default()
        };
        let plain = Tagger::new(
            &task,
            TagOptions {
                identity: false,
                task_arn: false,
                container_id: false,
                graphite_names: false,
                emf_dimensions: false,
            },
            &[
                ("team".into(), "a b".into()),
                ("canary".into(), String::new()),
            ],
        );
        assert_eq!(
            plain.task().to_vec(),
            vec![
                ("container_name".into(), "_task_".to_string()),
                ("team".into(), "a b".to_string()),
                ("canary".into(), String::new()),
            ]
        );
        let full = Tagger::new(
            &task,
            TagOptions {
                identity: true,
                task_arn: true,
                container_id: true,
                graphite_names: false,
                emf_dimensions: false,
            },
            &[],
        );
        let tags = full.task();
        assert!(has(&tags, "ecs_cluster_name", "default"));
        assert!(has(&tags, "task_family", "web_app"));
        assert!(has(&tags, "region", "us-west-2"));
        assert!(has(&tags, "aws_account", "111122223333"));
        assert!(has(
            &tags,
            "task_arn",
            "arn:aws:ecs:us-west-2:111122223333:task/default/abc"
        ));
        let c = Container {
            name: Some("web".into()),
            image: Some("nginx:1.25".into()),
            ..Container::default()
        };
        let tags = full.container(&c, "abc-1");
        assert_eq!(tags.iter().next().unwrap().0, "container_name");
        assert_eq!(tags.get("container_name"), Some("web"));
        assert!(has(&tags, "image_name", "nginx"));
        assert!(has(&tags, "image_tag", "1.25"));
        assert!(has(&tags, "ecs_container_name", "web"));
        assert!(has(&tags, "container_id", "abc-1"));
    }

    /// The tag names and values the Datadog agent's ECS tagger gives (see the module doc),
    /// beside the ones ecs-statsd sent before.
    #[test]
    fn datadog_tagger_names_beside_the_older_ones() {
        let task = Task {
            cluster: Some("arn:aws:ecs:us-west-2:111122223333:cluster/prod".into()),
            family: Some("web".into()),
            availability_zone: Some("us-west-2a".into()),
            ..Task::default()
        };
        let tagger = Tagger::new(&task, TagOptions::default(), &[]);
        let tags = tagger.task();
        for (key, value) in [
            ("task_name", "web"),
            ("task_family", "web"),
            ("cluster_name", "prod"),
            ("ecs_cluster_name", "prod"),
            ("availability-zone", "us-west-2a"),
            ("availability_zone", "us-west-2a"),
        ] {
            assert!(has(&tags, key, value), "{key}:{value} in {tags:?}");
        }
        let image = |image: &str| {
            let c = Container {
                name: Some("app".into()),
                image: Some(image.into()),
                ..Container::default()
            };
            let tags = tagger.container(&c, "id");
            (
                tags.get("short_image").map(str::to_string),
                tags.get("docker_image").map(str::to_string),
            )
        };
        let some = |a: &str, b: &str| (Some(a.to_string()), Some(b.to_string()));
        assert_eq!(
            image("111122223333.dkr.ecr.us-west-2.amazonaws.com/team/web:1.4.2"),
            some(
                "web",
                "111122223333.dkr.ecr.us-west-2.amazonaws.com/team/web:1.4.2"
            )
        );
        assert_eq!(image("nginx"), some("nginx", "nginx"));
        assert_eq!(image("nginx:1.25@sha256:abc"), some("nginx", "nginx:1.25"));
        assert_eq!(image("registry:5000/web"), some("web", "registry:5000/web"));
        // A user cannot set them: one key, one value.
        let (_, warnings) = user_tags(
            &[
                ("--tag", "short_image:x".into()),
                ("--tag", "availability-zone:x".into()),
            ],
            TagOptions::default(),
        );
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }

    #[test]
    fn every_tag_fits_in_200_characters_as_a_whole() {
        let long = "n".repeat(255);
        let task = Task {
            family: Some(long.clone()),
            ..Task::default()
        };
        let tagger = Tagger::new(&task, TagOptions::default(), &[]);
        let c = Container {
            name: Some(long.clone()),
            image: Some(format!("{long}:{long}")),
            ..Container::default()
        };
        let tags = tagger.container(&c, "id").with("interface", long.clone());
        for (key, value) in tags.iter() {
            assert_eq!(key.len() + 1 + value.len(), MAX_TAG_CHARS, "{key}");
        }
        assert_eq!(
            crate::metrics::container_name_tag(&c, "id"),
            tags.get("container_name").unwrap()
        );
        // A short value is untouched, a multi-byte one is cut on a character boundary.
        assert_eq!(tag_value("k", "v"), "v");
        assert_eq!(tag_value("k", &"é".repeat(300)).chars().count(), 198);
    }

    /// The values `own_tags` gives `raws` of `key` on one container, with the collisions.
    fn own(options: TagOptions, key: &'static str, raws: &[&str]) -> (Vec<String>, Vec<Collision>) {
        let tagger = Tagger::new(&Task::default(), options, &[]);
        let base = tagger.container(&Container::default(), "c1");
        let (mut own, mut collisions) = (OwnTags::default(), Vec::new());
        tagger.own_tags(&base, key, raws.iter().copied(), &mut own, &mut collisions);
        let values = raws
            .iter()
            .map(|raw| own.get(&base, key, raw).get(key).unwrap().to_string())
            .collect();
        (values, collisions)
    }

    #[test]
    fn own_values_that_would_show_alike_get_a_stable_mark() {
        let tags = TagOptions::default();
        let graphite = TagOptions {
            graphite_names: true,
            ..tags
        };
        // Nothing shared: untouched.
        let (values, collisions) =
            own(tags, "interface", &["eth0", "eth.1", "eth_1", "Ethernet 3"]);
        assert_eq!(values, ["eth0", "eth.1", "eth_1", "Ethernet_3"]);
        assert!(collisions.is_empty());
        // Tagged alike: both marked, from their own names (FNV-1a of the bytes as read).
        let (values, collisions) = own(tags, "interface", &["eth#0", "eth!0", "eth0"]);
        let mark = |raw: &str| format!("eth_0-{:08x}", fnv1a(raw.as_bytes()));
        assert_eq!(values, [mark("eth#0"), mark("eth!0"), "eth0".to_string()]);
        assert_eq!(fnv1a(b""), 0x811c_9dc5);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
        assert_eq!(collisions.len(), 1);
        assert_eq!(collisions[0].raw, ["eth!0", "eth#0"]);
        // Alike only in graphite names: marked there, not in tags.
        let (values, _) = own(graphite, "interface", &["eth.1", "eth_1"]);
        let hash = |raw: &str| format!("{raw}-{:08x}", fnv1a(raw.as_bytes()));
        assert_eq!(values, [hash("eth.1"), hash("eth_1")]);
        // A real name equal to a mark keeps it; the marked one takes the next free one.
        let taken = mark("eth#0");
        let (values, _) = own(tags, "interface", &["eth#0", "eth!0", &taken]);
        assert_eq!(values[2], taken);
        assert_eq!(values[0], format!("{taken}-1"));
        // Past the 200-character cut: the mark stays inside it.
        let long = "n".repeat(300);
        let (values, _) = own(
            tags,
            "interface",
            &[&format!("{long}a"), &format!("{long}b")],
        );
        assert_ne!(values[0], values[1]);
        for value in &values {
            assert_eq!("interface:".len() + value.len(), MAX_TAG_CHARS, "{value}");
        }
        // CPU numbers are distinct as written: never marked.
        let cpus: Vec<String> = (0..64).map(|c| c.to_string()).collect();
        let raws: Vec<&str> = cpus.iter().map(String::as_str).collect();
        let (values, collisions) = own(graphite, "cpu", &raws);
        assert_eq!(values, cpus);
        assert!(collisions.is_empty());
    }

    #[test]
    fn user_keys_are_compared_as_the_labels_they_become() {
        let typed = |tags: &[&str]| -> Vec<(TagSource, String)> {
            tags.iter().map(|t| ("--tag", t.to_string())).collect()
        };
        // container_id is ecs-statsd's even without --tag-container-id: a colliding
        // container is told apart by it.
        let (tags, warnings) = user_tags(
            &typed(&[
                "container_id:x",
                "container.name:y",
                "team.a:1",
                "team_a:2",
                "team.a:1",
                "ok:1",
            ]),
            TagOptions::default(),
        );
        assert_eq!(
            tags,
            [
                ("team.a".to_string(), "1".to_string()),
                ("ok".to_string(), "1".to_string())
            ]
        );
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(
            warnings[0].contains("\"container_id\" tag itself"),
            "{}",
            warnings[0]
        );
        assert!(
            warnings[1].contains("\"container_name\" tag itself"),
            "{}",
            warnings[1]
        );
        assert!(
            warnings[2].contains("\"team_a\"") && warnings[2].contains("team.a:1"),
            "{}",
            warnings[2]
        );
        // A metric's name: EMF would keep the number and lose the tag.
        let (tags, warnings) = user_tags(&typed(&["mem_usage:x"]), TagOptions::default());
        assert!(tags.is_empty());
        assert!(warnings[0].contains("name of a metric"), "{warnings:?}");
    }

    #[test]
    fn names_datadog_stores_alike_are_told_apart() {
        assert_eq!(datadog_form("Web__App_"), "web_app");
        assert_eq!(datadog_form("_task_"), "_task");
        assert_eq!(datadog_form("ÉTÉ"), "été");
        let container = |id: &str, name: &str| Container {
            docker_id: Some(id.into()),
            name: Some(name.into()),
            ..Container::default()
        };
        let task = Task {
            containers: Some(vec![
                container("a", "Web"),
                container("b", "web"),
                container("c", "_task"),
                container("d", "api"),
            ]),
            ..Task::default()
        };
        // Without identity tags the container name alone tells a container from the totals.
        let options = TagOptions {
            identity: false,
            ..TagOptions::default()
        };
        let tagger = Tagger::new(&task, options, &[]);
        let ids: Vec<Option<&str>> = task
            .containers()
            .iter()
            .map(|c| {
                let id = c.docker_id.as_deref().unwrap();
                let tags = tagger.container(c, id);
                tags.get("container_id").map(|_| id)
            })
            .collect();
        assert_eq!(ids, [Some("a"), Some("b"), Some("c"), None]);
    }
}
