//! `--capture DIR`: the bodies a live run read, written in the replay layout (`task.json`,
//! `container.json`, `stats001.json`, ...) so a bug report can be replayed exactly with
//! `--metadata-url DIR`.

use std::cell::Cell;
use std::ffi::OsStr;
use std::path::Path;

use super::StatsSample;
use crate::folder::{self, Folder};

pub struct Recorder {
    /// Held from the start: a folder swapped for a symlink during the interval cannot
    /// redirect the files written at its end.
    folder: Folder,
    stats_written: Cell<usize>,
}

impl Recorder {
    /// Create the folder (0700), or empty a previous capture in it (an explicit request:
    /// failure is a usage error). A capture is always fresh: an old `stats003.json` left beside
    /// a new two-sample capture would make the replay differ from the run. A folder holding
    /// anything but capture files is refused rather than mixed into, and so is one that is not
    /// ours (see [`Folder::private`]).
    pub fn new(dir: &Path) -> Result<Recorder, String> {
        let folder = Folder::private(dir).map_err(|why| {
            format!(
                "capture directory refused: {why}; give a new directory, or one of yours that \
                 group and others cannot write"
            )
        })?;
        let listed = folder
            .names()
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
            // unlinkat never follows a symlink: a link planted at `task.json` goes, its target
            // stays.
            folder.remove(&name).map_err(|e| {
                format!(
                    "cannot remove {} from the earlier capture: {e}",
                    folder.join(&name).display()
                )
            })?;
        }
        Ok(Recorder {
            folder,
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
        // Never through a symlink or onto a FIFO planted since the folder was emptied.
        if let Err(e) = self.folder.replace(OsStr::new(name), body, 0o644) {
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
    sample(name) || folder::is_temporary(name)
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
            ".ecs-statsd.77.0.tmp",
        ] {
            assert!(is_capture_file(name), "{name}");
        }
        for name in [
            "notes.txt",
            "task.json.bak",
            ".task.json.x.tmp",
            ".ecs-statsd.x.tmp",
            "README",
            ".hidden",
        ] {
            assert!(!is_capture_file(name), "{name}");
        }
    }
}
