//! Files in a folder held by a descriptor: the one way this tool reads its own files and writes
//! any file (metadata cache, `--since-last-run` state, `--capture`, `--output-file`).
//!
//! A [`Folder`] is opened once; every later read, write, rename and removal in it is made
//! relative to that descriptor (`openat`, `renameat`, `unlinkat`), so a path swapped after the
//! opening (a symlink, another folder renamed into place) cannot redirect anything: the files
//! land in, and are read from, the folder that was checked.
//!
//! - [`Folder::private`] (cache, state, capture): a folder that is ours. Created 0700 when
//!   missing; accepted only when the opened descriptor is a real folder (the last component is
//!   never followed: `O_NOFOLLOW`), owned by the effective user and not writable by group or
//!   others. Anything else is refused with the reason; the caller warns once and goes on
//!   without it (cache, state) or fails (capture).
//! - [`Folder::shared`] (`--output-file`): the folder the operator named, symlinks in its
//!   path followed as given; only the file in it is checked.
//!
//! In either, a file is read with `O_NOFOLLOW | O_NONBLOCK` (a symlink is refused, a FIFO never
//! blocks) and its owner and mode are checked on `fstat` of the descriptor that is then read:
//! what is checked is what is read. Only a regular file, or nothing, is ever replaced: a
//! symlink is neither followed nor replaced, and a device (`/dev/null`), a FIFO, a socket or a
//! folder is left as it is. The new content goes to a short-named temporary file in the same
//! folder (`O_CREAT | O_EXCL | O_NOFOLLOW`), is flushed, then renamed over the name: a reader
//! sees the old file or the new one, never half of one, and concurrent writers each rename a
//! whole file. The folders above the opened one are the operator's: they are followed as the
//! path says.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// A folder opened once; see the module documentation.
#[derive(Debug)]
pub struct Folder {
    fd: OwnedFd,
    /// For messages only: never opened again.
    path: PathBuf,
}

#[derive(Debug)]
pub enum WriteError {
    /// Something other than a regular file is at the path: left as it is.
    NotRegular { path: PathBuf, kind: &'static str },
    /// The write itself failed (permissions, full disk, file size limit, ...).
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

/// The effective user id: the owner every private folder and file must have.
pub fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The folder a file path is in (`.` for a bare name) and the file's name; `None` when the
/// path names no file (`/`, `..`, `dir/`).
pub fn split(path: &Path) -> Option<(&Path, &OsStr)> {
    let name = path.file_name()?;
    // `a/b/` has the file name `b`, but names a folder.
    if path.as_os_str().as_bytes().ends_with(b"/") {
        return None;
    }
    let folder = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Some((folder, name))
}

const DIRECTORY: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);

impl Folder {
    /// A folder that is ours (cache, state, capture): created 0700 (with any missing folder
    /// above it) when missing, then opened without following a symlink in its place, and
    /// accepted only if the descriptor is a folder owned by the effective user and not
    /// writable by group or others. `Err` says why not, naming the folder.
    pub fn private(path: &Path) -> Result<Folder, String> {
        // What is at the path itself (O_PATH | O_NOFOLLOW opens a symlink, not its target),
        // then the folder through that descriptor: the kind reported is the kind opened.
        let open = || {
            rustix::fs::open(
                path,
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
        };
        let at_path = match open() {
            Err(Errno::NOENT) => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                open()
            }
            opened => opened,
        }
        .map_err(|e| format!("cannot open {}: {}", path.display(), io::Error::from(e)))?;
        let kind = rustix::fs::fstat(&at_path)
            .map(|stat| FileType::from_raw_mode(stat.st_mode))
            .map_err(|e| format!("cannot stat {}: {}", path.display(), io::Error::from(e)))?;
        if kind != FileType::Directory {
            let kind = refused_kind(kind).unwrap_or("regular file");
            return Err(format!("{} is a {kind}, not a folder", path.display()));
        }
        let fd = rustix::fs::openat(&at_path, ".", DIRECTORY, Mode::empty())
            .map_err(|e| format!("cannot open {}: {}", path.display(), io::Error::from(e)))?;
        let stat = rustix::fs::fstat(&fd)
            .map_err(|e| format!("cannot stat {}: {}", path.display(), io::Error::from(e)))?;
        let mode = stat.st_mode & 0o7777;
        if stat.st_uid != euid() {
            return Err(format!(
                "{} is owned by uid {}, not by us (uid {})",
                path.display(),
                stat.st_uid,
                euid()
            ));
        }
        if mode & 0o022 != 0 {
            return Err(format!(
                "{} is writable by group or others (mode {mode:o})",
                path.display()
            ));
        }
        Ok(Folder {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The folder an output file goes to, as the operator named it (symlinks in the path are
    /// followed): no owner or mode rule, only the file in it is checked.
    pub fn shared(path: &Path) -> Result<Folder, String> {
        let fd = rustix::fs::open(path, DIRECTORY, Mode::empty()).map_err(|e| {
            format!(
                "cannot open folder {}: {}",
                path.display(),
                io::Error::from(e)
            )
        })?;
        Ok(Folder {
            fd,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `name` in this folder, for messages.
    pub fn join(&self, name: &OsStr) -> PathBuf {
        self.path.join(name)
    }

    /// What is at `name`, when it is something that is never read nor replaced (a symlink, a
    /// folder, a FIFO, a device, a socket); `None` for a regular file or nothing.
    pub fn refuses(&self, name: &OsStr) -> Option<&'static str> {
        let stat = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        refused_kind(FileType::from_raw_mode(stat.st_mode))
    }

    /// Read a private file: `Ok(None)` when there is none, `Err` (the reason) when it is not
    /// a regular file owned by us and not writable by group or others, or cannot be read.
    /// The checks are made on the descriptor that is read.
    pub fn read_private(&self, name: &OsStr) -> Result<Option<Vec<u8>>, String> {
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(Errno::LOOP) => return Err("not trusted: a symbolic link".into()),
            Err(e) => return Err(format!("unreadable ({})", io::Error::from(e))),
        };
        let stat = rustix::fs::fstat(&fd).map_err(|e| format!("unreadable ({e})"))?;
        if let Some(kind) = refused_kind(FileType::from_raw_mode(stat.st_mode)) {
            return Err(format!("not trusted: a {kind}, not a regular file"));
        }
        if stat.st_uid != euid() {
            return Err(format!(
                "not trusted: owned by uid {}, not by us ({})",
                stat.st_uid,
                euid()
            ));
        }
        if stat.st_mode & 0o022 != 0 {
            return Err(format!(
                "not trusted: writable by others (mode {:o})",
                stat.st_mode & 0o777
            ));
        }
        let mut body = Vec::new();
        File::from(fd)
            .read_to_end(&mut body)
            .map_err(|e| format!("unreadable ({e})"))?;
        Ok(Some(body))
    }

    /// Replace the regular file `name` (or create it) with `body`, mode exactly `mode`
    /// (whatever the umask): temporary file, fsync, rename, fsync of the folder.
    pub fn replace(&self, name: &OsStr, body: &[u8], mode: u32) -> Result<(), WriteError> {
        let path = self.join(name);
        let not_regular = |kind| WriteError::NotRegular {
            path: path.clone(),
            kind,
        };
        if let Some(kind) = self.refuses(name) {
            return Err(not_regular(kind));
        }
        let io_error = |error: io::Error| WriteError::Io {
            path: path.clone(),
            error,
        };
        let tmp = temporary_name();
        let created =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let create = || rustix::fs::openat(&self.fd, &tmp, created, Mode::from_raw_mode(mode));
        let fd = match create() {
            // A leftover of a killed run that had the same pid is ours to remove.
            Err(Errno::EXIST) => {
                let _ = rustix::fs::unlinkat(&self.fd, &tmp, AtFlags::empty());
                create()
            }
            created => created,
        }
        .map_err(|e| io_error(e.into()))?;
        let written = (|| {
            let mut file = File::from(fd);
            file.write_all(body)?;
            rustix::fs::fchmod(&file, Mode::from_raw_mode(mode))?;
            file.sync_all()
        })();
        let remove_tmp = || {
            let _ = rustix::fs::unlinkat(&self.fd, &tmp, AtFlags::empty());
        };
        if let Err(error) = written {
            remove_tmp();
            return Err(io_error(error));
        }
        // Checked again at the last moment: the window in which a special file planted at the
        // name would still be replaced (never followed) is the rename itself.
        if let Some(kind) = self.refuses(name) {
            remove_tmp();
            return Err(not_regular(kind));
        }
        if let Err(e) = rustix::fs::renameat(&self.fd, &tmp, &self.fd, name) {
            remove_tmp();
            return Err(io_error(e.into()));
        }
        // The rename is durable once the folder is: best effort (not every file system lets a
        // folder be synced).
        let _ = rustix::fs::fsync(&self.fd);
        Ok(())
    }

    /// Remove the regular file `name` (an unlink needs no space); a symlink or anything else
    /// at the name is left. `Ok(false)` when there was nothing to remove.
    pub fn remove_regular(&self, name: &OsStr) -> io::Result<bool> {
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => return Ok(false),
            Err(e) => return Err(e.into()),
            Ok(stat) if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile => {
                return Ok(false);
            }
            Ok(_) => {}
        }
        self.remove(name).map(|()| true)
    }

    /// Remove the entry `name` itself (`unlinkat` never follows a symlink: a link goes, its
    /// target stays).
    pub fn remove(&self, name: &OsStr) -> io::Result<()> {
        rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()).map_err(io::Error::from)
    }

    /// The names in the folder (without `.` and `..`).
    pub fn names(&self) -> io::Result<Vec<OsString>> {
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(&self.fd)? {
            let name = entry?.file_name().to_bytes().to_vec();
            if name != b"." && name != b".." {
                names.push(OsString::from(OsStr::from_bytes(&name)));
            }
        }
        Ok(names)
    }
}

/// One file in a private folder (the metadata cache, the `--since-last-run` state beside it):
/// the folder is opened once and shared by the files in it.
#[derive(Clone, Debug)]
pub struct PrivateFile {
    folder: Rc<Folder>,
    name: OsString,
}

impl PrivateFile {
    /// The file at `path`, its folder opened as [`Folder::private`] (created 0700 if missing).
    pub fn open(path: &Path) -> Result<PrivateFile, String> {
        let (folder, name) =
            split(path).ok_or_else(|| format!("{} names no file", path.display()))?;
        Ok(PrivateFile {
            folder: Rc::new(Folder::private(folder)?),
            name: name.to_os_string(),
        })
    }

    /// Another file in the same folder (the same descriptor).
    pub fn beside(&self, name: &OsStr) -> PrivateFile {
        PrivateFile {
            folder: Rc::clone(&self.folder),
            name: name.to_os_string(),
        }
    }

    /// For messages.
    pub fn path(&self) -> PathBuf {
        self.folder.join(&self.name)
    }

    pub fn name(&self) -> &OsStr {
        &self.name
    }

    /// See [`Folder::refuses`].
    pub fn refuses(&self) -> Option<&'static str> {
        self.folder.refuses(&self.name)
    }

    /// See [`Folder::read_private`].
    pub fn read(&self) -> Result<Option<Vec<u8>>, String> {
        self.folder.read_private(&self.name)
    }

    /// Replace the file, mode 0600 (see [`Folder::replace`]).
    pub fn write(&self, body: &[u8]) -> Result<(), WriteError> {
        self.folder.replace(&self.name, body, 0o600)
    }
}

/// The name of a file being written: short (a 255-byte target name stays legal) and unique
/// per process and write.
fn temporary_name() -> String {
    static WRITES: AtomicU32 = AtomicU32::new(0);
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    format!("{TEMPORARY_PREFIX}{}.{n}.tmp", std::process::id())
}

const TEMPORARY_PREFIX: &str = ".ecs-statsd.";

/// Whether `name` is one of this module's temporary files (left behind only by a process
/// killed mid-write).
pub fn is_temporary(name: &str) -> bool {
    name.strip_prefix(TEMPORARY_PREFIX)
        .and_then(|rest| rest.strip_suffix(".tmp"))
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(pid, n)| {
            [pid, n]
                .iter()
                .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// A kind of file that is never read nor replaced; `None` for a regular file.
fn refused_kind(kind: FileType) -> Option<&'static str> {
    Some(match kind {
        FileType::RegularFile => return None,
        FileType::Symlink => "symbolic link",
        FileType::Directory => "directory",
        FileType::Fifo => "FIFO",
        FileType::CharacterDevice | FileType::BlockDevice => "device",
        FileType::Socket => "socket",
        FileType::Unknown => "special file",
    })
}

/// What is at `path` (not followed), when it is something that is never read nor replaced;
/// for messages only (nothing is opened on the strength of it).
pub fn kind_at_path(path: &Path) -> Option<&'static str> {
    let stat = rustix::fs::lstat(path).ok()?;
    refused_kind(FileType::from_raw_mode(stat.st_mode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ecs-statsd-folder-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
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

    fn os(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    #[test]
    fn creates_and_replaces_regular_files() {
        let dir = temp_dir("regular");
        let folder = Folder::shared(&dir).unwrap();
        folder.replace(os("f.json"), b"one", 0o600).unwrap();
        let path = dir.join("f.json");
        assert_eq!(fs::read(&path).unwrap(), b"one");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        folder.replace(os("f.json"), b"two", 0o644).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert!(leftovers(&dir).is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A 255-byte name (the longest Linux allows) is written: the temporary name is short.
    #[test]
    fn a_255_byte_name_is_written() {
        let dir = temp_dir("long");
        let name = format!("{}.prom", "n".repeat(250));
        assert_eq!(name.len(), 255);
        Folder::shared(&dir)
            .unwrap()
            .replace(os(&name), b"x 1\n", 0o644)
            .unwrap();
        assert_eq!(fs::read(dir.join(&name)).unwrap(), b"x 1\n");
        assert!(leftovers(&dir).is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn never_replaces_a_symlink_fifo_or_folder() {
        let dir = temp_dir("special");
        let target = dir.join("target");
        fs::write(&target, b"precious").unwrap();
        symlink(&target, dir.join("link")).unwrap();
        fs::create_dir(dir.join("folder")).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(dir.join("fifo"))
            .status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let folder = Folder::shared(&dir).unwrap();
        for (name, kind) in [
            ("link", "symbolic link"),
            ("folder", "directory"),
            ("fifo", "FIFO"),
        ] {
            let err = folder.replace(os(name), b"new", 0o600).unwrap_err();
            assert!(
                matches!(err, WriteError::NotRegular { kind: k, .. } if k == kind),
                "{err}"
            );
            assert!(err.to_string().contains("not a regular file"));
            assert!(folder.read_private(os(name)).is_err(), "{name} is not read");
            assert!(!folder.remove_regular(os(name)).unwrap(), "{name} stays");
        }
        assert_eq!(fs::read(&target).unwrap(), b"precious");
        assert!(
            fs::symlink_metadata(dir.join("link"))
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
        let dev = Folder::shared(Path::new("/dev")).unwrap();
        let err = dev.replace(os("null"), b"{}", 0o600).unwrap_err();
        assert!(err.to_string().contains("is a device"), "{err}");
        assert!(dev.read_private(os("null")).unwrap_err().contains("device"));
    }

    #[test]
    fn private_files_are_checked_on_the_descriptor_read() {
        let dir = temp_dir("private-read");
        let folder = Folder::private(&dir).unwrap();
        assert_eq!(folder.read_private(os("none")).unwrap(), None);
        folder.replace(os("f"), b"mine", 0o600).unwrap();
        assert_eq!(folder.read_private(os("f")).unwrap().unwrap(), b"mine");
        fs::set_permissions(dir.join("f"), fs::Permissions::from_mode(0o620)).unwrap();
        let err = folder.read_private(os("f")).unwrap_err();
        assert!(err.contains("writable by others (mode 620)"), "{err}");
        symlink(dir.join("f"), dir.join("link")).unwrap();
        let err = folder.read_private(os("link")).unwrap_err();
        assert!(err.contains("symbolic link"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// The race of a check on a path and a later open, run for real: a thread keeps
    /// exchanging (`renameat2 RENAME_EXCHANGE`) our file with a world-writable one and with a
    /// symlink to a file elsewhere, while the file is read. Every read gives our content or a
    /// refusal, never the other file's. Bounded in reads and in swaps, not in time.
    #[test]
    fn a_file_swapped_while_read_never_gives_the_other_content() {
        use std::sync::atomic::AtomicBool;
        let dir = temp_dir("swap-read");
        let outside = temp_dir("swap-read-outside");
        fs::write(outside.join("evil"), b"EVIL").unwrap();
        let folder = Folder::private(&dir).unwrap();
        folder.replace(os("f"), b"mine", 0o600).unwrap();
        folder.replace(os("writable"), b"EVIL", 0o600).unwrap();
        fs::set_permissions(dir.join("writable"), fs::Permissions::from_mode(0o666)).unwrap();
        symlink(outside.join("evil"), dir.join("link")).unwrap();
        let done = AtomicBool::new(false);
        let (mut mine, mut refused, mut swaps) = (0, 0, 0u32);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let fd = rustix::fs::open(&dir, DIRECTORY, Mode::empty()).unwrap();
                while !done.load(Ordering::Relaxed) && swaps < 2_000_000 {
                    let other = if swaps % 2 == 0 { "writable" } else { "link" };
                    let flags = rustix::fs::RenameFlags::EXCHANGE;
                    rustix::fs::renameat_with(&fd, "f", &fd, other, flags).unwrap();
                    rustix::fs::renameat_with(&fd, "f", &fd, other, flags).unwrap();
                    swaps += 1;
                }
            });
            for _ in 0..20_000 {
                match folder.read_private(os("f")) {
                    Ok(Some(body)) => {
                        assert_eq!(body, b"mine", "another file's content was read");
                        mine += 1;
                    }
                    Ok(None) => panic!("an exchange never leaves the name empty"),
                    Err(why) => {
                        assert!(why.contains("not trusted"), "{why}");
                        refused += 1;
                    }
                }
            }
            done.store(true, Ordering::Relaxed);
        });
        assert!(mine > 0, "our file was read ({refused} refusals)");
        fs::remove_dir_all(&dir).unwrap();
        fs::remove_dir_all(&outside).unwrap();
    }

    #[test]
    fn a_private_folder_is_created_0700_and_checked() {
        let dir = temp_dir("private");
        let made = dir.join("a/b");
        let folder = Folder::private(&made).unwrap();
        assert_eq!(folder.path(), made);
        let meta = fs::metadata(&made).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        assert_eq!(meta.uid(), euid());

        for mode in [0o770, 0o757, 0o1777] {
            fs::set_permissions(&made, fs::Permissions::from_mode(mode)).unwrap();
            let err = Folder::private(&made).unwrap_err();
            assert!(err.contains("writable by group or others"), "{err}");
            assert!(err.contains(&made.display().to_string()), "{err}");
        }
        fs::set_permissions(&made, fs::Permissions::from_mode(0o700)).unwrap();

        let link = dir.join("link");
        symlink(&made, &link).unwrap();
        let err = Folder::private(&link).unwrap_err();
        assert!(err.contains("is a symbolic link, not a folder"), "{err}");
        fs::write(dir.join("file"), b"").unwrap();
        let err = Folder::private(&dir.join("file")).unwrap_err();
        assert!(err.contains("is a regular file, not a folder"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_folder_of_another_user_is_not_private() {
        // Root owns /; another user owns it for root's runs.
        let dir = temp_dir("foreign");
        let other = if euid() == 0 {
            rustix::fs::chown(&dir, Some(rustix::fs::Uid::from_raw(65534)), None).unwrap();
            dir.clone()
        } else {
            PathBuf::from("/")
        };
        let err = Folder::private(&other).unwrap_err();
        assert!(err.contains("is owned by uid"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_and_removal_go_through_the_folder() {
        let dir = temp_dir("names");
        let folder = Folder::private(&dir).unwrap();
        folder.replace(os("a"), b"1", 0o600).unwrap();
        symlink("/etc/passwd", dir.join("b")).unwrap();
        let mut names = folder.names().unwrap();
        names.sort();
        assert_eq!(names, [os("a"), os("b")]);
        assert!(folder.remove_regular(os("a")).unwrap());
        assert!(!folder.remove_regular(os("a")).unwrap(), "gone already");
        folder.remove(os("b")).unwrap();
        assert!(folder.names().unwrap().is_empty());
        assert!(fs::metadata("/etc/passwd").is_ok());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn paths_split_into_folder_and_name() {
        assert_eq!(
            split(Path::new("/a/b.json")),
            Some((Path::new("/a"), os("b.json")))
        );
        assert_eq!(
            split(Path::new("b.json")),
            Some((Path::new("."), os("b.json")))
        );
        for no_file in ["/", "a/..", "a/b/", ""] {
            assert_eq!(split(Path::new(no_file)), None, "{no_file}");
        }
    }

    #[test]
    fn temporary_names() {
        let name = temporary_name();
        assert!(name.len() < 40, "{name}");
        assert!(is_temporary(&name), "{name}");
        assert!(is_temporary(".ecs-statsd.123.0.tmp"));
        for not in [
            ".ecs-statsd..0.tmp",
            ".ecs-statsd.12a.0.tmp",
            ".ecs-statsd.1.tmp",
            "task.json",
        ] {
            assert!(!is_temporary(not), "{not}");
        }
    }
}
