//! `--origin-detection`: the DogStatsD container field (`|c:<docker id>`), sent only for an ID
//! that every Datadog parser reads back as that one ID.
//!
//! The field is written verbatim (cadence 1.8 `MetricFormatter::write_container_id`:
//! `|c:{id}`), and the two agents read it differently:
//! - Datadog Agent (Go), DataDog/datadog-agent `comp/dogstatsd/server/impl/parse.go` at
//!   1dd7a6e05d3db7cb9c1ff183d736c76afded395d: the line is split into fields on `|` (so a `|`
//!   in an ID starts a field of its own: `id|#evil:tag` adds a tag), and `parseLocalData`
//!   hands the field to `origindetection.ParseLocalData`
//!   (`comp/core/tagger/origindetection/origindetection.go` at
//!   1eb4bd1ed7bd18036dd7ab649652b2e18522fad5), which splits it on `,` into a list whose
//!   items count only with a `ci-` or `in-` prefix (so `a,b` loses the ID), and reads one item
//!   starting with `ci-`, `in-` (a cgroup inode) or `cid-` as that prefix and the rest.
//! - Saluki (Rust, the Agent Data Plane), DataDog/saluki
//!   `lib/saluki-io/src/deser/codec/dogstatsd/helpers.rs` (`local_data`) at
//!   1abbca9f4ba3e681c6500285f3d9bd1a5ea0543a accepts only ASCII letters, digits, `-` and `,`,
//!   and `metric.rs` (`parse_dogstatsd_metric`, `all_consuming(preceded(tag("c:"),
//!   local_data))`) at 06100e1b1628164146256d77fe04bf4d9b6daf0f refuses the whole line
//!   otherwise: an ID with `_`, `.` or `:` loses the metric, not only its origin.
//!
//! What both read as the one ID sent: ASCII letters, digits and `-`, not starting with a
//! prefix the Go agent strips. Docker IDs (64 hex digits) and the ECS agent's Fargate IDs
//! (`<32 hex>-<digits>`) always are.

use std::collections::BTreeSet;

/// The prefixes `origindetection.ParseLocalData` reads as something other than a plain ID.
const LOCAL_DATA_PREFIXES: [&str; 3] = ["ci-", "cid-", "in-"];

/// `id` when it can go in the `|c:` field as is, else `None`.
pub fn container_field(id: &str) -> Option<&str> {
    let plain = !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !LOCAL_DATA_PREFIXES.iter().any(|p| id.starts_with(p));
    plain.then_some(id)
}

/// The IDs of one export left without a container field, for one warning.
#[derive(Debug, Default)]
pub struct Refused(BTreeSet<String>);

impl Refused {
    /// `id` when it can be sent (see [`container_field`]); otherwise noted, and `None`.
    pub fn check<'a>(&mut self, id: &'a str) -> Option<&'a str> {
        let field = container_field(id);
        if field.is_none() && !self.0.contains(id) {
            self.0.insert(id.to_string());
        }
        field
    }

    /// One warning naming every refused ID, if any.
    pub fn warn(self) {
        if self.0.is_empty() {
            return;
        }
        let ids: Vec<String> = self.0.iter().map(|id| format!("{id:?}")).collect();
        log::warn!(
            "--origin-detection: the series of container ID(s) {} are sent without the |c: \
             field, which Datadog agents read only as letters, digits and '-' (their tags \
             still name the container)",
            ids.join(", ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ids_both_agents_read_whole_go_in_the_field() {
        for sent in [
            "158d1c8083dd49d6b527399fd6414f5c-1875394283",
            "4f797c539e6c745de61a93ca3ff892358ecbcaccd8414d5db545c38428142970",
            "ABC-def-1",
            "c",
            "inode-1",
        ] {
            assert_eq!(container_field(sent), Some(sent));
        }
        for refused in [
            "",
            "id|with|pipe",
            "a,b",
            "a_b",
            "a.b",
            "a:b",
            "a b",
            "a\nb",
            "é",
            "ci-abc",
            "cid-abc",
            "in-123",
        ] {
            assert_eq!(container_field(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn refused_ids_are_noted_once() {
        let mut refused = Refused::default();
        assert_eq!(refused.check("ok-1"), Some("ok-1"));
        assert_eq!(refused.check("a|b"), None);
        assert_eq!(refused.check("a|b"), None);
        assert_eq!(refused.check("a_b"), None);
        assert_eq!(refused.0.len(), 2);
    }
}
