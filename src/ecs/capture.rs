//! `--capture DIR`: the bodies a live run read, written in the replay layout (`task.json`,
//! `container.json`, `stats001.json`, ...) so a bug report can be replayed exactly with
//! `--metadata-url DIR`.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use super::StatsSample;

pub struct Recorder {
    dir: PathBuf,
    stats_written: Cell<usize>,
}

impl Recorder {
    /// Create the directory (an explicit request: failure is a usage error).
    pub fn new(dir: &Path) -> Result<Recorder, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create capture directory {}: {e}", dir.display()))?;
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
        if let Err(e) = std::fs::write(&path, body) {
            log::warn!("capture: cannot write {}: {e}", path.display());
        }
    }
}
