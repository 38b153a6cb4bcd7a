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

mod collide;
mod set;

use std::borrow::Cow;
use std::collections::HashSet;

use super::{TASK_CONTAINER_NAME, sanitized_tag_value};
use crate::ecs::Task;
use crate::ecs::task::Container;
pub use collide::{Collision, OwnTags, warn_collisions};
pub use set::{Tag, TagKey, TagSet, Tags};

/// Which identity tags to add (`--no-identity-tags`, `--tag-task-arn`, `--tag-container-id`).
#[derive(Debug, Clone, Copy)]
pub struct TagOptions {
    pub identity: bool,
    /// High cardinality: one value per task.
    pub task_arn: bool,
    /// High cardinality: one value per container instance.
    pub container_id: bool,
    /// What tells series apart at the receiver, given by the output that knows it (graphite
    /// names, EMF dimension values); `None`: the whole tag set, each value as Datadog stores
    /// it. The collision check compares these keys.
    pub series_key: Option<SeriesKeyFn>,
}

/// The values an output shows for a series' tags: two series with the same values are one
/// series there (`output::series_key` gives each output's).
pub type SeriesKeyFn = fn(&TagSet) -> Vec<String>;

/// Options are equal when they name the same key function (by address: the same `fn` item
/// may have two addresses across codegen units, so only `Config` tests rely on this).
impl PartialEq for TagOptions {
    fn eq(&self, other: &TagOptions) -> bool {
        let key = |o: &TagOptions| o.series_key.map(|f| f as usize);
        (self.identity, self.task_arn, self.container_id, key(self))
            == (
                other.identity,
                other.task_arn,
                other.container_id,
                key(other),
            )
    }
}

impl Default for TagOptions {
    fn default() -> TagOptions {
        TagOptions {
            identity: true,
            task_arn: false,
            container_id: false,
            series_key: None,
        }
    }
}

/// Builds the tag list of each series from the task metadata, once per run.
#[derive(Debug, Clone, Default)]
pub struct Tagger<'t> {
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
    /// The set of each container of the task it was built from, under the container's own
    /// Docker ID: the collision check needs them all, so they are built once, and every
    /// series of a container shares its set ([`Tagger::task_container`]).
    containers: Vec<(&'t Container, TagSet)>,
}

impl<'t> Tagger<'t> {
    /// `constant` tags (already sanitized; an empty value is a bare tag) follow the identity
    /// tags on every series.
    pub fn new(task: &'t Task, options: TagOptions, constant: &[(String, String)]) -> Tagger<'t> {
        let mut tags: Tags = Vec::new();
        for (key, scope, value) in TASK_TAGS {
            let wanted = match scope {
                Scope::Identity => options.identity,
                Scope::TaskArn => options.task_arn,
            };
            if let Some(value) = value(task).filter(|v| wanted && !v.is_empty()) {
                tags.push(((*key).into(), tag_value(key, value)));
            }
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
            containers: Vec::new(),
        };
        let plain: Vec<(&Container, TagSet)> = (task.containers().iter())
            .map(|c| (c, tagger.plain(c, c.docker_id.as_deref().unwrap_or(""))))
            .collect();
        tagger.colliding = tagger.colliding_ids(&plain);
        tagger.containers = (plain.into_iter())
            .map(|(c, set)| (c, tagger.told_apart(set)))
            .collect();
        tagger
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
        self.told_apart(self.plain(container, docker_id))
    }

    /// [`Tagger::container`] of one of the task's containers under its own Docker ID: the set
    /// [`Tagger::new`] built for it, shared. Found by reference, not by Docker ID (IDs are long
    /// strings that share their task's prefix: slow to compare). A container of another task
    /// is tagged afresh.
    pub fn task_container(&self, container: &Container) -> TagSet {
        match (self.containers.iter()).find(|(c, _)| std::ptr::eq(*c, container)) {
            Some((_, set)) => set.clone(),
            None => self.container(container, container.docker_id.as_deref().unwrap_or("")),
        }
    }

    /// A container's set before any `container_id` (what the collision check compares).
    fn plain(&self, container: &Container, docker_id: &str) -> TagSet {
        TagSet {
            base: self.container_tags(container, docker_id).into(),
            extra: None,
            docker_id: (!docker_id.is_empty()).then(|| docker_id.into()),
            apart_by_id: false,
        }
    }

    /// `set` with `container_id` when it is asked for, or when the container collides with
    /// another (see `colliding_ids`).
    fn told_apart(&self, set: TagSet) -> TagSet {
        let Some(docker_id) = set.docker_id() else {
            return set;
        };
        let apart_by_id = self.colliding.contains(docker_id);
        if !(self.options.container_id || apart_by_id) {
            return set;
        }
        let mut tags = Vec::with_capacity(set.base.len() + 1);
        tags.extend(set.base.iter().cloned());
        tags.push(("container_id".into(), tag_value("container_id", docker_id)));
        TagSet {
            base: tags.into(),
            apart_by_id,
            ..set
        }
    }

    /// A container's tags before any `container_id`.
    fn container_tags(&self, container: &Container, docker_id: &str) -> Tags {
        let name = super::container_name_tag(container, docker_id);
        let mut tags: Tags = Vec::with_capacity(self.identity.len() + CONTAINER_TAGS.len() + 1);
        tags.push(("container_name".into(), name.clone()));
        tags.extend(self.identity.iter().cloned());
        if self.options.identity {
            let reference = container.image.as_deref().map(without_digest);
            let facts = ContainerFacts {
                name: &name,
                image: reference.map(split_image),
                reference,
            };
            for (key, value) in CONTAINER_TAGS {
                if let Some(value) = value(key, &facts) {
                    tags.push(((*key).into(), value));
                }
            }
        }
        tags
    }
}

/// Datadog's limit on a whole tag, `key:value`, in characters.
pub const MAX_TAG_CHARS: usize = 200;

/// When ecs-statsd sets a task tag.
#[derive(Debug, Clone, Copy)]
enum Scope {
    /// Unless `--no-identity-tags`.
    Identity,
    /// With `--tag-task-arn`.
    TaskArn,
}

type TaskValue = for<'a> fn(&'a Task) -> Option<&'a str>;

/// The task tags, in the order every series carries them: the tagger adds them from this
/// table, and [`built_in_keys`] reads it for the rule that a user tag cannot set one. The
/// tagger's current names (`task_name`, `cluster_name`, `availability-zone`) follow the older
/// ones: the agent sends both sets.
const TASK_TAGS: &[(&str, Scope, TaskValue)] = &[
    ("ecs_cluster_name", Scope::Identity, |t| {
        t.cluster.as_deref().map(cluster_short_name)
    }),
    ("task_family", Scope::Identity, |t| t.family.as_deref()),
    ("task_version", Scope::Identity, |t| t.revision.as_deref()),
    ("region", Scope::Identity, |t| {
        Some(Arn::parse(t.task_arn.as_deref()?)?.region)
    }),
    ("aws_account", Scope::Identity, |t| {
        Some(Arn::parse(t.task_arn.as_deref()?)?.account)
    }),
    ("availability_zone", Scope::Identity, |t| {
        t.availability_zone.as_deref()
    }),
    ("launch_type", Scope::Identity, |t| t.launch_type.as_deref()),
    ("ecs_service", Scope::Identity, |t| {
        t.service_name.as_deref()
    }),
    ("task_name", Scope::Identity, |t| t.family.as_deref()),
    ("cluster_name", Scope::Identity, |t| {
        t.cluster.as_deref().map(cluster_short_name)
    }),
    ("availability-zone", Scope::Identity, |t| {
        t.availability_zone.as_deref()
    }),
    ("task_arn", Scope::TaskArn, |t| t.task_arn.as_deref()),
];

/// What a container's identity tags are made of.
struct ContainerFacts<'a> {
    /// Its `container_name` tag.
    name: &'a str,
    /// Its image's name and tag (see [`split_image`]).
    image: Option<(&'a str, Option<&'a str>)>,
    /// Its image without the digest: `name:tag`, or the name alone.
    reference: Option<&'a str>,
}

type ContainerValue = fn(&'static str, &ContainerFacts) -> Option<String>;

/// The container identity tags (unless `--no-identity-tags`), after `container_name` and the
/// task's, in this order; read by the tagger and by [`built_in_keys`] as [`TASK_TAGS`] is.
const CONTAINER_TAGS: &[(&str, ContainerValue)] = &[
    ("image_name", |k, c| {
        c.image.map(|(name, _)| tag_value(k, name))
    }),
    ("image_tag", |k, c| {
        c.image
            .and_then(|(_, tag)| tag)
            .map(|tag| tag_value(k, tag))
    }),
    ("short_image", |k, c| {
        let (name, _) = c.image?;
        Some(tag_value(k, name.rsplit('/').next().unwrap_or(name)))
    }),
    ("docker_image", |k, c| c.reference.map(|r| tag_value(k, r))),
    ("ecs_container_name", |k, c| {
        Some(fit(k, c.name.to_string()))
    }),
];

/// Tags every series of their kind carries whatever the options: `container_name` (the
/// ancestor's), the own tags `interface` and `cpu`, and `container_id` (on every container
/// series with `--tag-container-id`, on a colliding container's without it: a user's would
/// hide the one that keeps such containers apart).
const ALWAYS: &[&str] = &["container_name", "interface", "cpu", "container_id"];

/// Keys of the tags ecs-statsd sets itself with these options, read from the tables the
/// tagger adds them from. A user tag with one of these keys is dropped: one key, one value,
/// in every format.
pub(super) fn built_in_keys(options: TagOptions) -> Vec<&'static str> {
    let mut keys = ALWAYS.to_vec();
    for (key, scope, _) in TASK_TAGS {
        let set = match scope {
            Scope::Identity => options.identity,
            Scope::TaskArn => options.task_arn,
        };
        if set {
            keys.push(key);
        }
    }
    if options.identity {
        keys.extend(CONTAINER_TAGS.iter().map(|(key, _)| *key));
    }
    keys
}

/// `raw` sanitized and cut so that `key:value` is at most [`MAX_TAG_CHARS`] characters.
pub fn tag_value(key: &str, raw: &str) -> String {
    match sanitized_tag_value(raw) {
        Cow::Borrowed(clean) => cut(key, clean).to_string(),
        Cow::Owned(value) => fit(key, value),
    }
}

/// `value` cut so that `key:value` is at most [`MAX_TAG_CHARS`] characters.
pub(super) fn fit(key: &str, mut value: String) -> String {
    let kept = cut(key, &value).len();
    value.truncate(kept);
    value
}

/// The longest start of `value` such that `key:value` is at most [`MAX_TAG_CHARS`] characters.
fn cut<'v>(key: &str, value: &'v str) -> &'v str {
    let room = MAX_TAG_CHARS.saturating_sub(key.chars().count() + 1);
    // No character is shorter than a byte: a value of `room` bytes fits as it is.
    if value.len() <= room {
        return value;
    }
    value
        .char_indices()
        .nth(room)
        .map_or(value, |(at, _)| &value[..at])
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

/// `web:1.25@sha256:…` → `web:1.25`.
fn without_digest(image: &str) -> &str {
    image.split_once('@').map_or(image, |(name, _)| name)
}

/// `registry:5000/team/web:1.4.2` → (`registry:5000/team/web`, `1.4.2`);
/// `web@sha256:…` → (`web`, None); `web` → (`web`, None).
fn split_image(image: &str) -> (&str, Option<&str>) {
    let without_digest = without_digest(image);
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
    use super::collide::{datadog_form, fnv1a};
    use super::*;
    use crate::metrics::user_tags::{TagSource, user_tags};

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
    fn the_tagger_sets_exactly_the_keys_the_user_tag_rule_reserves() {
        let task: Task = serde_json::from_str(
            r#"{"Cluster":"arn:aws:ecs:us-west-2:111122223333:cluster/prod",
                "TaskARN":"arn:aws:ecs:us-west-2:111122223333:task/prod/abc",
                "Family":"web","Revision":"3","AvailabilityZone":"us-west-2a",
                "LaunchType":"FARGATE","ServiceName":"svc"}"#,
        )
        .unwrap();
        let container: Container =
            serde_json::from_str(r#"{"Name":"web","Image":"team/web:1.2","DockerId":"d1"}"#)
                .unwrap();
        for (identity, task_arn) in [(true, true), (true, false), (false, true), (false, false)] {
            let options = TagOptions {
                identity,
                task_arn,
                container_id: true,
                series_key: None,
            };
            let tagger = Tagger::new(&task, options, &[]);
            let mut set: Vec<String> = tagger.task().iter().map(|(k, _)| k.to_string()).collect();
            set.extend(
                tagger
                    .container(&container, "d1")
                    .iter()
                    .map(|(k, _)| k.to_string()),
            );
            // The own tags come from the families (network, per-CPU series).
            set.extend(["interface".to_string(), "cpu".to_string()]);
            set.sort();
            set.dedup();
            let mut reserved: Vec<String> = built_in_keys(options)
                .iter()
                .map(|k| k.to_string())
                .collect();
            reserved.sort();
            assert_eq!(set, reserved, "identity {identity}, task_arn {task_arn}");
        }
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
                series_key: None,
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
                series_key: None,
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
        let task = Task::default();
        let tagger = Tagger::new(&task, options, &[]);
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
            series_key: Some(crate::output::graphite::series_key),
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
        assert_eq!(datadog_form("a__b_"), "a_b");
        // A value stored as it is is not copied.
        assert!(matches!(
            datadog_form("web-app_1"),
            Cow::Borrowed("web-app_1")
        ));
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
        // The sets built once are the ones built afresh; another task's container is tagged.
        for c in task.containers() {
            let id = c.docker_id.as_deref().unwrap();
            assert_eq!(tagger.task_container(c), tagger.container(c, id), "{id}");
            assert!(tagger.task_container(c).apart_by_id() == (id != "d"));
        }
        let other = container("e", "web");
        assert_eq!(tagger.task_container(&other), tagger.container(&other, "e"));
    }
}
