//! The task metadata cache: JSON (never an executable format), versioned, keyed by endpoint
//! and task ARN, written atomically with mode 0600.
//!
//! The ancestor unpickled a fixed, world-writable `/tmp` file, so any local user could run
//! code in it; a damaged file crashed every later run. Here a cache that is unreadable,
//! damaged, from another endpoint or of another format version is ignored with a warning and
//! rewritten after the run.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ecs::Task;
use crate::safe_write;

/// Bump when the layout changes; other versions are ignored.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CacheEntry {
    pub version: u32,
    /// The endpoint URL the metadata came from. ECS gives each container its own endpoint
    /// path, so a different URL is a different task (or container).
    pub endpoint: String,
    pub task_arn: String,
    /// Name of the container ecs-statsd runs in, from the endpoint root.
    pub own_container_name: Option<String>,
    pub task: Task,
}

/// Where the cache lives unless `--cache-file` says otherwise: a per-user location,
/// `$XDG_CACHE_HOME`, else `~/.cache`, else a per-uid folder in the temporary directory (a
/// non-root container often has no writable home).
pub fn default_file(xdg_cache_home: Option<String>, home: Option<String>) -> std::path::PathBuf {
    let dir = xdg_cache_home
        .map(std::path::PathBuf::from)
        .or_else(|| {
            home.filter(|h| h != "/")
                .map(|h| std::path::PathBuf::from(h).join(".cache"))
        })
        .map(|d| d.join("ecs-statsd"))
        .unwrap_or_else(|| std::env::temp_dir().join(format!("ecs-statsd-{}", uid())));
    dir.join("metadata.json")
}

/// The effective user id, read without libc: the owner of `/proc/self`.
pub fn uid() -> u32 {
    fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0)
}

/// Read a private state file: `Ok(None)` when it does not exist, `Err` (with the reason) when
/// it exists but is unreadable or not trusted.
pub fn read_private(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("unreadable ({e})")),
    };
    trusted(&meta).map_err(|why| format!("not trusted: {why}"))?;
    fs::read(path)
        .map(Some)
        .map_err(|e| format!("unreadable ({e})"))
}

/// The cached entry for `endpoint`, or `None` (with a warning saying why, unless the file
/// simply does not exist yet).
pub fn load(path: &Path, endpoint: &str) -> Option<CacheEntry> {
    match read_entry(path, endpoint) {
        Ok(entry) => entry,
        Err(why) => {
            log::warn!("metadata cache {} {why}", path.display());
            None
        }
    }
}

/// The cached entry for `endpoint`: `Ok(None)` when there is no file, `Err` saying why a file
/// is not used.
pub fn read_entry(path: &Path, endpoint: &str) -> Result<Option<CacheEntry>, String> {
    let Some(body) = read_private(path).map_err(|why| format!("{why}; fetching /task"))? else {
        return Ok(None);
    };
    let entry: CacheEntry = serde_json::from_slice(&body)
        .map_err(|e| format!("is damaged ({e}); fetching /task and rewriting it"))?;
    let reject = if entry.version != FORMAT_VERSION {
        Some(format!(
            "format version {} (expected {FORMAT_VERSION})",
            entry.version
        ))
    } else if entry.endpoint != endpoint {
        Some(format!("it is for endpoint {}", entry.endpoint))
    } else if entry.task.task_arn.as_deref() != Some(entry.task_arn.as_str()) {
        Some("its task ARN does not match its task".to_string())
    } else {
        None
    };
    match reject {
        Some(why) => Err(format!("ignored: {why}; fetching /task")),
        None => Ok(Some(entry)),
    }
}

/// A cache must be a regular file owned by us and not writable by group or others, or another
/// user could feed us metadata (wrong tags and limits).
fn trusted(meta: &fs::Metadata) -> Result<(), String> {
    if !meta.file_type().is_file() {
        return Err("not a regular file".into());
    }
    if meta.uid() != uid() {
        return Err(format!(
            "owned by uid {}, not by us ({})",
            meta.uid(),
            uid()
        ));
    }
    if meta.permissions().mode() & 0o022 != 0 {
        return Err(format!(
            "writable by others (mode {:o})",
            meta.permissions().mode() & 0o777
        ));
    }
    Ok(())
}

/// Write the entry atomically and privately (mode 0600, see [`crate::safe_write`]). Only a
/// regular file (or nothing) at `path` is replaced: a symlink, `/dev/null` or a FIFO is left
/// alone. Failure is returned for the caller to log; it never fails the run.
pub fn store(path: &Path, entry: &CacheEntry) -> Result<(), String> {
    let body = serde_json::to_vec(entry).map_err(|e| e.to_string())?;
    write_private(path, &body)
}

/// Write `body` to `path` atomically and privately (see [`store`]), creating its folder
/// (mode 0700) if needed.
pub fn write_private(path: &Path, body: &[u8]) -> Result<(), String> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    safe_write::replace(path, body, 0o600).map_err(|e| e.to_string())
}

use std::os::unix::fs::DirBuilderExt;

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ecs-statsd-cache-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn entry(endpoint: &str) -> CacheEntry {
        let arn = "arn:aws:ecs:us-west-2:111122223333:task/default/abc";
        CacheEntry {
            version: FORMAT_VERSION,
            endpoint: endpoint.into(),
            task_arn: arn.into(),
            own_container_name: Some("ecs-statsd".into()),
            task: Task {
                task_arn: Some(arn.into()),
                known_status: Some("RUNNING".into()),
                ..Task::default()
            },
        }
    }

    #[test]
    fn round_trip_and_rejections() {
        let dir = temp_dir("rt");
        let path = dir.join("sub/metadata.json");
        assert_eq!(load(&path, "http://a"), None);
        store(&path, &entry("http://a")).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load(&path, "http://a"), Some(entry("http://a")));
        assert_eq!(load(&path, "http://b"), None, "another endpoint");

        fs::write(&path, b"{\"version\":1,").unwrap();
        assert_eq!(load(&path, "http://a"), None, "truncated");
        let mut other = entry("http://a");
        other.version = 99;
        store(&path, &other).unwrap();
        assert_eq!(load(&path, "http://a"), None, "unknown version");

        store(&path, &entry("http://a")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(load(&path, "http://a"), None, "world-writable");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn store_leaves_a_symlink_and_its_target_alone() {
        let dir = temp_dir("link");
        let target = dir.join("target");
        fs::write(&target, b"precious").unwrap();
        let path = dir.join("metadata.json");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert_eq!(load(&path, "http://a"), None, "a symlink is not trusted");
        let err = store(&path, &entry("http://a")).unwrap_err();
        assert!(err.contains("symbolic link"), "{err}");
        assert_eq!(fs::read(&target).unwrap(), b"precious");
        assert!(
            fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
