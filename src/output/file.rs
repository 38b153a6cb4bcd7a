//! `--output-file PATH`: what a run would print to stdout, collected in memory, then written to
//! a temporary file in PATH's directory, fsynced, and renamed over PATH. A reader (the
//! node_exporter textfile collector) sees the old file or the new one, never a partial one.
//!
//! Only nothing or a regular file at PATH is replaced: a symlink is not followed (the rename
//! would replace the link, not its target) and `/dev/null`, a FIFO, a socket or a device are
//! never replaced, so a wrong path cannot destroy something that is not an output file.
//! (Kept apart from the cache's private writes in `cache.rs`: this file is world-readable and
//! its directory is the user's.)

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Readable by a collector running as another user.
const MODE: u32 = 0o644;

/// Output written into memory, shared by the writer handed to the formatter and the exporter
/// that writes it out at the end.
#[derive(Clone, Default)]
pub struct Collected(Arc<Mutex<Vec<u8>>>);

impl Collected {
    /// Everything written so far; the buffer is left empty.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Write for Collected {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether `path` may be replaced: nothing there, or a regular file (not through a symlink).
pub fn check(path: &Path) -> Result<(), String> {
    let refuse = |what: &str| {
        Err(format!(
            "--output-file {} is {what}; only a regular file is replaced: give the path of a \
             file in a writable directory",
            path.display()
        ))
    };
    if path.file_name().is_none() {
        return refuse("not a file name");
    }
    let kind = match fs::symlink_metadata(path) {
        Ok(meta) => meta.file_type(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("--output-file {}: {e}", path.display())),
    };
    if kind.is_file() {
        Ok(())
    } else if kind.is_symlink() {
        refuse("a symbolic link")
    } else if kind.is_dir() {
        refuse("a directory")
    } else if kind.is_fifo() {
        refuse("a FIFO")
    } else if kind.is_char_device() || kind.is_block_device() {
        refuse("a device")
    } else if kind.is_socket() {
        refuse("a socket")
    } else {
        refuse("not a regular file")
    }
}

/// Replace `path` with `contents`: temporary file beside it, fsync, rename, fsync of the
/// directory (so the rename survives a crash).
pub fn replace(path: &Path, contents: &[u8]) -> Result<(), String> {
    check(path)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    // A dot file without the `.prom` suffix: the textfile collector reads only `*.prom`.
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let fail = |what: &str, e: io::Error| {
        let _ = fs::remove_file(&temp);
        format!("--output-file {}: {what}: {e}", path.display())
    };
    // A leftover of a killed run with the same pid is ours to remove.
    let _ = fs::remove_file(&temp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(MODE)
        .open(&temp)
        .map_err(|e| fail(&format!("cannot create {}", temp.display()), e))?;
    file.write_all(contents)
        // The umask may have narrowed the mode given at creation.
        .and_then(|()| file.set_permissions(fs::Permissions::from_mode(MODE)))
        .and_then(|()| file.sync_all())
        .map_err(|e| fail("cannot write", e))?;
    drop(file);
    fs::rename(&temp, path).map_err(|e| fail("cannot rename over it", e))?;
    if let Ok(dir) = File::open(&dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ecs-statsd-file-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn replaces_a_file_or_creates_it_with_mode_0644_and_leaves_no_temp() {
        let dir = temp_dir("replace");
        let path = dir.join("ecs.prom");
        replace(&path, b"first\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"first\n");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        replace(&path, b"second\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second\n");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["ecs.prom"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn never_follows_a_symlink_nor_replaces_a_special_file() {
        let dir = temp_dir("refuse");
        let target = dir.join("target");
        fs::write(&target, b"keep").unwrap();
        let link = dir.join("link.prom");
        symlink(&target, &link).unwrap();
        let err = replace(&link, b"x").unwrap_err();
        assert!(err.contains("symbolic link"), "{err}");
        assert_eq!(fs::read(&target).unwrap(), b"keep");
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );

        let err = replace(Path::new("/dev/null"), b"x").unwrap_err();
        assert!(err.contains("a device"), "{err}");
        assert!(replace(&dir, b"x").unwrap_err().contains("directory"));
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        assert!(replace(&fifo, b"x").unwrap_err().contains("FIFO"));
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        let left = fs::read_dir(&dir).unwrap().count();
        assert_eq!(
            left, 3,
            "target, link and fifo only: no temporary file left"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_path() {
        let err = replace(Path::new("/nonexistent-dir/x.prom"), b"x").unwrap_err();
        assert!(err.contains("/nonexistent-dir/x.prom"), "{err}");
    }
}
