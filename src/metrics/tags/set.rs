//! The tags of one series ([`TagSet`]): what the tagger builds and every output reads.

use std::sync::Arc;

use super::fit;

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
    pub(super) base: Arc<[(TagKey, String)]>,
    /// Shared too: every counter of an interface carries the same one.
    pub(super) extra: Option<Arc<Tag>>,
    /// The Docker ID of the container the series is about (not a tag: `--origin-detection`
    /// sends it as the `|c:` field). Names may collide after sanitizing; IDs do not.
    pub(super) docker_id: Option<Arc<str>>,
    /// The container collides with another (or with the task totals) and is told apart by
    /// its `container_id` tag, which EMF then makes a dimension too.
    pub(super) apart_by_id: bool,
}

impl TagSet {
    pub fn iter(&self) -> impl Iterator<Item = &(TagKey, String)> {
        self.base.iter().chain(self.extra.as_deref())
    }

    /// The value of the first tag named `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The same set plus one tag (its value cut to fit [`MAX_TAG_CHARS`](super::MAX_TAG_CHARS)).
    pub fn with(&self, key: &'static str, value: String) -> TagSet {
        TagSet {
            base: Arc::clone(&self.base),
            extra: Some(Arc::new((key.into(), fit(key, value)))),
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
    pub(super) fn extra_value(&self) -> &str {
        self.extra.as_deref().map_or("", |(_, v)| v.as_str())
    }

    pub fn to_vec(&self) -> Tags {
        self.iter().cloned().collect()
    }

    /// The tags shared by every series of the set's container (or of the task), and the
    /// series' own one: a writer can render the shared part once per set (`Arc::ptr_eq`).
    pub fn parts(&self) -> (&Arc<[Tag]>, Option<&Tag>) {
        (&self.base, self.extra.as_deref())
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
