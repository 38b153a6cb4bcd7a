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

/// Tag keys are ours (`'static`) except user-given constant tags (`--tag`, `DD_TAGS`).
pub type TagKey = std::borrow::Cow<'static, str>;

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

    pub fn to_vec(&self) -> Tags {
        self.iter().cloned().collect()
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
#[derive(Debug, PartialEq, Eq, Hash)]
enum SeriesKey {
    /// DogStatsD, Prometheus and EMF documents: the whole tag set.
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
        let mut by_key: HashMap<SeriesKey, (String, Vec<&str>)> = HashMap::new();
        for container in task.containers() {
            if let Some(id) = container.docker_id.as_deref().filter(|id| !id.is_empty()) {
                let tags = self.container_tags(container, id);
                let name = tags.first().map(|(_, v)| v.clone()).unwrap_or_default();
                let (_, ids) = by_key
                    .entry(self.series_key(tags))
                    .or_insert_with(|| (name, Vec::new()));
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        let mut names = Vec::new();
        let mut colliding = HashSet::new();
        for (key, (name, ids)) in by_key {
            if ids.len() > 1 || key == task_key {
                names.push(name);
                colliding.extend(ids.into_iter().map(str::to_string));
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
            SeriesKey::Tags(tags)
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
    if options.container_id {
        keys.push("container_id");
    }
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
/// identical tag given again is kept once. Returns the tags (an empty value is a bare tag) and the warnings.
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
        if built_in.contains(&key.as_str()) {
            warnings.push(format!(
                "tag {typed:?} from {source} dropped: ecs-statsd sets the {key:?} tag itself"
            ));
            continue;
        }
        let value = fit(&key, value.to_string());
        match tags.iter().find(|(k, _)| *k == key) {
            Some((_, v)) if *v == value => {}
            Some((_, v)) => warnings.push(format!(
                "tag {typed:?} from {source} dropped: the {key:?} tag is already {v:?} \
                 (one value per key, so every format gets the same tags)"
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
}
