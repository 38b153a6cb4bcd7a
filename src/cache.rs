//! The task metadata cache: JSON (never an executable format), versioned, keyed by endpoint
//! and task ARN, written atomically with mode 0600.
//!
//! The ancestor unpickled a fixed, world-writable `/tmp` file, so any local user could run
//! code in it; a damaged file crashed every later run. Here a cache that is unreadable,
//! damaged, from another endpoint or of another format version is ignored with a warning and
//! rewritten after the run.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ecs::Task;
use crate::folder::{self, PrivateFile};

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
/// non-root container often has no writable home). A relative `XDG_CACHE_HOME` is ignored, as
/// the XDG Base Directory Specification says ("If an implementation encounters a relative path
/// in any of these variables it should consider the path invalid and ignore it").
pub fn default_file(xdg_cache_home: Option<String>, home: Option<String>) -> PathBuf {
    let dir = xdg_cache_home
        .map(PathBuf::from)
        .filter(|d| d.is_absolute())
        .or_else(|| {
            home.filter(|h| h != "/")
                .map(|h| PathBuf::from(h).join(".cache"))
        })
        .map(|d| d.join("ecs-statsd"))
        .unwrap_or_else(|| std::env::temp_dir().join(format!("ecs-statsd-{}", folder::euid())));
    dir.join("metadata.json")
}

/// The cache file, and the `--since-last-run` state file beside it (`state_file`, when on),
/// for a live run: their folder opened once as a private folder (created 0700; see
/// [`crate::folder`]). `None`, with one warning, when the folder is not ours (a symlink, owned
/// by another user, writable by group or others), or the cache path holds something that is
/// never read nor replaced (`CACHE_FILE=/dev/null`, a FIFO, a symlink): the run goes on without
/// the cache and the state.
pub fn open(
    cache_file: &Path,
    state_file: Option<&Path>,
) -> Option<(PrivateFile, Option<PrivateFile>)> {
    let off = |why: String| {
        log::warn!(
            "metadata cache off for this run, and the --since-last-run state beside it: \
             {why}; --no-cache switches the cache off without this warning"
        );
        None
    };
    let not_regular = |kind| {
        format!(
            "{} is a {kind}, not a regular file: left as it is, neither read nor written",
            cache_file.display()
        )
    };
    let file = match PrivateFile::open(cache_file) {
        Ok(file) => file,
        Err(why) => {
            // `CACHE_FILE=/dev/null` as a user who does not own /dev: the device is the
            // point, not its folder (only the message differs: the cache is off either way).
            if let Some(kind) = folder::kind_at_path(cache_file) {
                return off(not_regular(kind));
            }
            return off(format!(
                "{why}; the cache needs a folder of this user that group and others cannot \
                 write (--cache-file)"
            ));
        }
    };
    if let Some(kind) = file.refuses() {
        return off(not_regular(kind));
    }
    let state = state_file
        .and_then(Path::file_name)
        .map(|name| file.beside(name));
    Some((file, state))
}

/// The cached entry for `endpoint`, or `None` (with a warning saying why, unless the file
/// simply does not exist yet).
pub fn load(file: &PrivateFile, endpoint: &str) -> Option<CacheEntry> {
    match read_entry(file, endpoint) {
        Ok(entry) => entry,
        Err(why) => {
            log::warn!("metadata cache {} {why}", file.path().display());
            None
        }
    }
}

/// The cached entry for `endpoint`: `Ok(None)` when there is no file, `Err` saying why a file
/// is not used. A cache must be a regular file owned by us and not writable by group or
/// others, or another user could feed us metadata (wrong tags and limits): checked on the
/// descriptor that is read.
pub fn read_entry(file: &PrivateFile, endpoint: &str) -> Result<Option<CacheEntry>, String> {
    let Some(body) = file
        .read()
        .map_err(|why| format!("{why}; fetching /task"))?
    else {
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

/// Write the entry atomically and privately (mode 0600, see [`crate::folder`]). Only a
/// regular file (or nothing) is replaced: a symlink, `/dev/null` or a FIFO is left alone.
/// Failure is returned for the caller to log; it never fails the run.
pub fn store(file: &PrivateFile, entry: &CacheEntry) -> Result<(), String> {
    let body = serde_json::to_vec(entry).map_err(|e| e.to_string())?;
    file.write(&body).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ecs-statsd-cache-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
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
        let file = PrivateFile::open(&path).unwrap();
        assert_eq!(
            fs::metadata(dir.join("sub")).unwrap().permissions().mode() & 0o777,
            0o700,
            "the folder is created 0700"
        );
        assert_eq!(load(&file, "http://a"), None);
        store(&file, &entry("http://a")).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load(&file, "http://a"), Some(entry("http://a")));
        assert_eq!(load(&file, "http://b"), None, "another endpoint");

        fs::write(&path, b"{\"version\":1,").unwrap();
        assert_eq!(load(&file, "http://a"), None, "truncated");
        let mut other = entry("http://a");
        other.version = 99;
        store(&file, &other).unwrap();
        assert_eq!(load(&file, "http://a"), None, "unknown version");

        store(&file, &entry("http://a")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(load(&file, "http://a"), None, "world-writable");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn store_leaves_a_symlink_and_its_target_alone() {
        let dir = temp_dir("link");
        let target = dir.join("target");
        fs::write(&target, b"precious").unwrap();
        let path = dir.join("metadata.json");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(
            open(&path, None).is_none(),
            "a symlink at the cache path: off"
        );
        let file = PrivateFile::open(&path).unwrap();
        assert_eq!(load(&file, "http://a"), None, "a symlink is not trusted");
        let err = store(&file, &entry("http://a")).unwrap_err();
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

    /// The cache and the state share one folder, opened once; a folder that is not ours
    /// turns both off.
    #[test]
    fn the_cache_and_the_state_share_a_private_folder() {
        let dir = temp_dir("open");
        let path = dir.join("c/metadata.json");
        let state = dir.join("c/metadata.json.last-sample");
        let (cache, beside) = open(&path, Some(&state)).unwrap();
        assert_eq!(cache.path(), path);
        assert_eq!(beside.unwrap().path(), state);
        assert!(open(&path, None).unwrap().1.is_none());
        fs::set_permissions(dir.join("c"), fs::Permissions::from_mode(0o777)).unwrap();
        assert!(open(&path, Some(&state)).is_none(), "writable by others");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// XDG_CACHE_HOME, else ~/.cache, else the temporary folder; a relative XDG_CACHE_HOME
    /// (or a HOME of /) does not count.
    #[test]
    fn the_default_cache_file() {
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            default_file(some("/x"), some("/home/u")),
            Path::new("/x/ecs-statsd/metadata.json")
        );
        for xdg in [some("rel/cache"), some("./c"), None] {
            assert_eq!(
                default_file(xdg, some("/home/u")),
                Path::new("/home/u/.cache/ecs-statsd/metadata.json")
            );
        }
        let tmp = std::env::temp_dir().join(format!("ecs-statsd-{}", folder::euid()));
        assert_eq!(
            default_file(some("c"), some("/")),
            tmp.join("metadata.json")
        );
        assert_eq!(default_file(None, None), tmp.join("metadata.json"));
    }
}
