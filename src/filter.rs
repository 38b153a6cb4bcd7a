//! Which containers get their own series (`--include`/`--exclude` and the default exclusions).

use crate::ecs::Task;
use crate::ecs::task::{Container, PAUSE_CONTAINER_NAME};

/// Name of this tool's own container when the endpoint cannot tell it.
pub const DEFAULT_OWN_CONTAINER_NAME: &str = "ecs-statsd";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// When non-empty, only these container names are sent.
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl Filter {
    /// Parse the comma lists of `--include`/`--exclude`; items are trimmed and empty items
    /// dropped (the ancestor kept `" b"` and `""`).
    pub fn new(include: Option<&str>, exclude: Option<&str>) -> Filter {
        Filter {
            include: split_list(include),
            exclude: split_list(exclude),
        }
    }

    /// With `--include`, exactly the named containers (minus `--exclude`). Otherwise every
    /// container except ECS internals (`Type` other than `NORMAL`, the pause container), this
    /// tool's own container and `--exclude`.
    pub fn includes(&self, container: &Container, own_name: &str) -> bool {
        let name = container.name.as_deref().unwrap_or("");
        if self.exclude.iter().any(|e| e == name) {
            return false;
        }
        if !self.include.is_empty() {
            return self.include.iter().any(|i| i == name);
        }
        let internal = name == PAUSE_CONTAINER_NAME
            || container.r#type.as_deref().is_some_and(|t| t != "NORMAL");
        !internal && name != own_name
    }
}

impl Filter {
    /// The `--include` names that no container of `task` has (a typo sends only the task
    /// totals, so the run says so), quoted.
    pub fn unknown_includes(&self, task: &Task) -> Vec<String> {
        self.include
            .iter()
            .filter(|name| {
                !task
                    .containers()
                    .iter()
                    .any(|c| c.name.as_deref() == Some(name.as_str()))
            })
            .map(|name| format!("{name:?}"))
            .collect()
    }
}

fn split_list(list: Option<&str>) -> Vec<String> {
    list.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, kind: &str) -> Container {
        Container {
            name: Some(name.into()),
            r#type: Some(kind.into()),
            ..Container::default()
        }
    }

    #[test]
    fn default_excludes_internals_and_self() {
        let f = Filter::new(None, None);
        assert!(f.includes(&container("web", "NORMAL"), "ecs-statsd"));
        assert!(!f.includes(&container("ecs-statsd", "NORMAL"), "ecs-statsd"));
        assert!(!f.includes(&container("~internal~ecs~pause", "CNI_PAUSE"), "x"));
        assert!(!f.includes(&container("firelens", "FIRELENS"), "x"));
        let untyped = Container {
            name: Some("~internal~ecs~pause".into()),
            ..Container::default()
        };
        assert!(!f.includes(&untyped, "x"));
    }

    #[test]
    fn include_names_no_container_are_found() {
        let task = Task {
            containers: Some(vec![container("web", "NORMAL"), container("db", "NORMAL")]),
            ..Task::default()
        };
        let f = Filter::new(Some("web,wbe, db ,cache"), None);
        assert_eq!(f.unknown_includes(&task), ["\"wbe\"", "\"cache\""]);
        assert!(Filter::new(None, None).unknown_includes(&task).is_empty());
    }

    #[test]
    fn include_and_exclude_lists_are_trimmed() {
        let f = Filter::new(Some("web, log-router,"), Some(" log-router "));
        assert_eq!(f.include, ["web", "log-router"]);
        assert!(f.includes(&container("web", "NORMAL"), "x"));
        assert!(!f.includes(&container("log-router", "NORMAL"), "x"));
        assert!(!f.includes(&container("db", "NORMAL"), "x"));
    }
}
