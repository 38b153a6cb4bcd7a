//! `--capture DIR`: the bodies a live run read, written in the replay layout (`task.json`,
//! `container.json`, `stats001.json`, ...) so a bug report can be replayed exactly with
//! `--metadata-url DIR`.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use super::StatsSample;
use crate::safe_write;

pub struct Recorder {
    dir: PathBuf,
    stats_written: Cell<usize>,
}

impl Recorder {
    /// Create the directory, or empty a previous capture in it (an explicit request: failure
    /// is a usage error). A capture is always fresh: an old `stats003.json` left beside a new
    /// two-sample capture would make the replay differ from the run. A directory holding
    /// anything but capture files is refused rather than mixed into.
    pub fn new(dir: &Path) -> Result<Recorder, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create capture directory {}: {e}", dir.display()))?;
        let listed = std::fs::read_dir(dir)
            .and_then(|entries| {
                entries
                    .map(|e| e.map(|e| e.file_name()))
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(|e| format!("cannot list capture directory {}: {e}", dir.display()))?;
        let (owned, foreign): (Vec<_>, Vec<_>) = listed
            .into_iter()
            .partition(|name| name.to_str().is_some_and(is_capture_file));
        if !foreign.is_empty() {
            let mut names: Vec<String> = foreign
                .iter()
                .map(|n| n.to_string_lossy().into_owned())
                .collect();
            names.sort();
            return Err(format!(
                "capture directory {} holds files that are not part of a capture ({}); give a \
                 new or empty directory, or one holding only an earlier capture",
                dir.display(),
                names.join(", ")
            ));
        }
        for name in owned {
            // remove_file never follows a symlink: a link planted at `task.json` goes, its
            // target stays.
            let path = dir.join(name);
            std::fs::remove_file(&path).map_err(|e| {
                format!(
                    "cannot remove {} from the earlier capture: {e}",
                    path.display()
                )
            })?;
        }
        Ok(Recorder {
            dir: dir.to_path_buf(),
            stats_written: Cell::new(0),
        })
    }

    pub fn task(&self, body: &[u8]) {
        self.write("task.json", body);
    }

    pub fn container(&self, body: &[u8]) {
        self.write("container.json", body);
    }

    /// The next stats body, numbered so that name order is read order.
    pub fn stats(&self, body: &[u8]) {
        let n = self.stats_written.get() + 1;
        self.stats_written.set(n);
        self.write(&format!("stats{n:03}.json"), body);
    }

    /// A sample that was not read in this run (`--since-last-run`'s previous sample): it
    /// comes first.
    pub fn previous(&self, sample: &StatsSample) {
        match serde_json::to_vec(&sample.containers) {
            Ok(body) => self.write("stats000.json", &body),
            Err(e) => log::warn!("capture: cannot serialize the previous sample: {e}"),
        }
    }

    fn write(&self, name: &str, body: &[u8]) {
        let path = self.dir.join(name);
        // Never through a symlink or onto a FIFO planted since the directory was emptied.
        if let Err(e) = safe_write::replace(&path, body, 0o644) {
            log::warn!("capture: {e}");
        }
    }
}

/// The files a capture is made of (what a replay reads), and the temporary files of a capture
/// killed while writing them.
fn is_capture_file(name: &str) -> bool {
    let sample = |n: &str| {
        n == "task.json"
            || n == "container.json"
            || (n.starts_with("stats") && n.ends_with(".json"))
    };
    sample(name)
        || name
            .strip_prefix('.')
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .and_then(|rest| rest.rsplit_once('.'))
            .is_some_and(|(file, _)| safe_write::is_temporary_of(name, file) && sample(file))
}

#[cfg(test)]
mod tests {
    use super::is_capture_file;

    #[test]
    fn capture_files() {
        for name in [
            "task.json",
            "container.json",
            "stats001.json",
            "stats.json",
            ".stats002.json.77.tmp",
        ] {
            assert!(is_capture_file(name), "{name}");
        }
        for name in [
            "notes.txt",
            "task.json.bak",
            ".task.json.x.tmp",
            "README",
            ".hidden",
        ] {
            assert!(!is_capture_file(name), "{name}");
        }
    }
}
