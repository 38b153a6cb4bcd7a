//! `--output-file PATH`: what a run would print to stdout, collected in memory, then written to
//! a temporary file in PATH's folder, fsynced, and renamed over PATH. A reader (the
//! node_exporter textfile collector) sees the old file or the new one, never a partial one.
//!
//! PATH's folder is opened once, before the run reads the endpoint, and the file is written
//! through that descriptor ([`crate::folder`], shared with the cache, the state and
//! `--capture`): a folder path swapped during the interval cannot redirect the write. Only
//! nothing or a regular file at PATH is replaced: a symlink is not followed (nor replaced) and
//! `/dev/null`, a FIFO, a socket or a device are never replaced, so a wrong path cannot
//! destroy something that is not an output file. This file is world-readable (mode 0644), the
//! cache private (0600).
//!
//! When the new file cannot be written (a full disk, a file size limit), the previous one is
//! removed, and the error says so: an unlink needs no space, and a collector must not go on
//! serving the last good run's `exporter_status 1` as if it were current.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::folder::{self, Folder, WriteError};

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

/// The output file: its folder held open, its name in it.
#[derive(Debug)]
pub struct Target {
    folder: Folder,
    name: OsString,
    path: PathBuf,
}

/// Open `path`'s folder and check that `path` may be replaced: nothing there, or a regular
/// file (not through a symlink). Done before the run reads the endpoint, so a wrong path fails
/// fast.
pub fn open(path: &Path) -> Result<Target, String> {
    let refuse = |what: &str| {
        Err(format!(
            "--output-file {} is {what}; only a regular file is replaced: give the path of a \
             file in a writable directory",
            path.display()
        ))
    };
    let Some((dir, name)) = folder::split(path) else {
        return refuse("not a file name");
    };
    let folder =
        Folder::shared(dir).map_err(|e| format!("--output-file {}: {e}", path.display()))?;
    if let Some(kind) = folder.refuses(name) {
        return refuse(&format!("a {kind}"));
    }
    Ok(Target {
        name: name.to_os_string(),
        folder,
        path: path.to_path_buf(),
    })
}

impl Target {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replace the file with `contents` (temporary file beside it, fsync, rename, fsync of the
    /// folder). When that fails, the previous file is removed and the error says so.
    pub fn replace(&self, contents: &[u8]) -> Result<(), String> {
        let error = match self.folder.replace(&self.name, contents, MODE) {
            Ok(()) => return Ok(()),
            Err(error @ WriteError::NotRegular { .. }) => {
                return Err(format!("--output-file: {error}"));
            }
            Err(error) => error,
        };
        let removed = match self.folder.remove_regular(&self.name) {
            Ok(true) => format!(
                "removed the previous {}, so that it is not served as current",
                self.path.display()
            ),
            Ok(false) => "no previous file to remove".to_string(),
            Err(e) => format!(
                "and the previous {} could not be removed either ({e}): it is stale",
                self.path.display()
            ),
        };
        Err(format!("--output-file: {error}; {removed}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{FileTypeExt, PermissionsExt, symlink};

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ecs-statsd-file-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn replace(path: &Path, contents: &[u8]) -> Result<(), String> {
        open(path)?.replace(contents)
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

    /// The folder is held from the check on: renamed away and replaced by a symlink to
    /// another folder, the file still lands in the folder that was opened.
    #[test]
    fn a_folder_swapped_after_the_check_does_not_redirect_the_write() {
        let dir = temp_dir("swap");
        let out = dir.join("out");
        let elsewhere = dir.join("elsewhere");
        fs::create_dir(&out).unwrap();
        fs::create_dir(&elsewhere).unwrap();
        let target = open(&out.join("ecs.prom")).unwrap();
        fs::rename(&out, dir.join("moved")).unwrap();
        symlink(&elsewhere, &out).unwrap();
        target.replace(b"x 1\n").unwrap();
        assert_eq!(fs::read(dir.join("moved/ecs.prom")).unwrap(), b"x 1\n");
        assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
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
        let slash = format!("{}/", dir.display());
        assert!(
            replace(Path::new(&slash), b"x")
                .unwrap_err()
                .contains("not a file name")
        );
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
