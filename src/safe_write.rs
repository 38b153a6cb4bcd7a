//! Replacing a file without ever destroying something else: the one way this tool writes
//! files (metadata cache, `--since-last-run` state, `--capture`, `--output-file`).
//!
//! Only a regular file, or nothing, at the path is replaced. A symlink is neither followed
//! nor replaced (its target, or the link an operator set up, stays as it is); a device node
//! such as `/dev/null` (a common way to "switch a cache off"), a FIFO, a socket or a folder
//! is left alone. The caller warns and runs on.
//!
//! The new content goes to a temporary file in the same folder (so the rename stays on one
//! file system), is flushed to disk, then renamed over the path: a reader sees the old file
//! or the new one, never half of one, and concurrent writers each rename a whole file.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub enum WriteError {
    /// Something other than a regular file is at the path: left as it is.
    NotRegular { path: PathBuf, kind: &'static str },
    /// The write itself failed (no such folder, permissions, full disk, ...).
    Io { path: PathBuf, error: io::Error },
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::NotRegular { path, kind } => write!(
                f,
                "{} is a {kind}, not a regular file: left as it is, not written",
                path.display()
            ),
            WriteError::Io { path, error } => {
                write!(f, "cannot write {}: {error}", path.display())
            }
        }
    }
}

/// What is at `path`, when it is something this module must not replace.
pub fn refuses(path: &Path) -> Option<&'static str> {
    let meta = fs::symlink_metadata(path).ok()?;
    let kind = meta.file_type();
    Some(if kind.is_file() {
        return None;
    } else if kind.is_symlink() {
        "symbolic link"
    } else if kind.is_dir() {
        "directory"
    } else if kind.is_fifo() {
        "FIFO"
    } else if kind.is_char_device() || kind.is_block_device() {
        "device"
    } else if kind.is_socket() {
        "socket"
    } else {
        "special file"
    })
}

/// Replace the regular file at `path` (or create it) with `body`, file mode exactly `mode`
/// (whatever the umask).
pub fn replace(path: &Path, body: &[u8], mode: u32) -> Result<(), WriteError> {
    if let Some(kind) = refuses(path) {
        return Err(WriteError::NotRegular {
            path: path.to_path_buf(),
            kind,
        });
    }
    let io_error = |error| WriteError::Io {
        path: path.to_path_buf(),
        error,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io_error(io::Error::other("no file name")))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    // A leftover of a killed run that had the same pid is ours to remove.
    let _ = fs::remove_file(&tmp);
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .and_then(|mut file| {
            file.write_all(body)?;
            file.set_permissions(fs::Permissions::from_mode(mode))?;
            file.sync_all()
        });
    if let Err(error) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io_error(error));
    }
    // Checked again at the last moment: the window in which a special file planted at the
    // path would still be replaced is the rename itself.
    if let Some(kind) = refuses(path) {
        let _ = fs::remove_file(&tmp);
        return Err(WriteError::NotRegular {
            path: path.to_path_buf(),
            kind,
        });
    }
    if let Err(error) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(io_error(error));
    }
    // The rename is durable once the folder is: best effort (not every file system
    // lets a folder be opened for syncing).
    if let Ok(folder) = fs::File::open(dir) {
        let _ = folder.sync_all();
    }
    Ok(())
}

/// Whether `name` is one of this module's temporary files for `file_name` (left behind only
/// by a process killed mid-write).
pub fn is_temporary_of(name: &str, file_name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|rest| rest.strip_prefix(file_name))
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(".tmp"))
        .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ecs-statsd-safe-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn creates_and_replaces_regular_files() {
        let dir = temp_dir("regular");
        let path = dir.join("f.json");
        replace(&path, b"one", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        replace(&path, b"two", 0o644).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert!(leftovers(&dir).is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn never_replaces_a_symlink_fifo_or_folder() {
        let dir = temp_dir("special");
        let target = dir.join("target");
        fs::write(&target, b"precious").unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let folder = dir.join("folder");
        fs::create_dir(&folder).unwrap();
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        let mut cases = vec![
            (link.clone(), "symbolic link"),
            (folder.clone(), "directory"),
        ];
        if made.is_ok_and(|s| s.success()) {
            cases.push((fifo.clone(), "FIFO"));
        }
        for (path, kind) in cases {
            let err = replace(&path, b"new", 0o600).unwrap_err();
            assert!(
                matches!(err, WriteError::NotRegular { kind: k, .. } if k == kind),
                "{err}"
            );
            assert!(err.to_string().contains("not a regular file"));
        }
        assert_eq!(fs::read(&target).unwrap(), b"precious");
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(leftovers(&dir).is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_character_device_is_left_alone() {
        // /dev/null exists everywhere; it is only checked, never written.
        let err = replace(Path::new("/dev/null"), b"{}", 0o600).unwrap_err();
        assert!(err.to_string().contains("is a device"), "{err}");
        assert!(
            fs::symlink_metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }

    #[test]
    fn io_errors_name_the_path() {
        let err = replace(Path::new("/nonexistent-dir/x/f.json"), b"x", 0o600).unwrap_err();
        assert!(matches!(err, WriteError::Io { .. }));
        assert!(
            err.to_string().contains("/nonexistent-dir/x/f.json"),
            "{err}"
        );
    }

    #[test]
    fn temporary_names() {
        assert!(is_temporary_of(".task.json.123.tmp", "task.json"));
        assert!(!is_temporary_of(".task.json..tmp", "task.json"));
        assert!(!is_temporary_of(".task.json.12a.tmp", "task.json"));
        assert!(!is_temporary_of("task.json", "task.json"));
    }
}
