//! A capture directory replayed (`--metadata-url DIR`): `task.json`, an optional
//! `container.json` and one or more `stats*.json`, in the layout `--capture` writes. Its
//! samples are read at once, in the order they were recorded.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::endpoint::{ContainerMetadata, Endpoint, FetchError, Retry, bad_body};
use super::{StatsSample, Task};

pub struct Replay {
    dir: PathBuf,
    /// In recording order (see [`recording_order`]).
    stats_files: Vec<PathBuf>,
}

impl Replay {
    /// A capture directory: refused (a usage error) unless it holds `task.json` and at least
    /// one `stats*.json`.
    pub fn open(dir: &Path) -> Result<Replay, String> {
        if !dir.is_dir() {
            return Err(format!(
                "--metadata-url {:?} is neither an http:// URL nor a capture directory; \
                 give the endpoint URL or a directory holding task.json and stats*.json",
                dir.display().to_string()
            ));
        }
        let task_json = dir.join("task.json");
        if !task_json.is_file() {
            return Err(format!(
                "capture directory {} has no task.json ({} is missing); a replay needs \
                 task.json and at least one stats*.json",
                dir.display(),
                task_json.display()
            ));
        }
        Ok(Replay {
            dir: dir.to_path_buf(),
            stats_files: stats_files(dir)?,
        })
    }

    /// Every sample of the capture, in recording order (a single file gives two, see
    /// [`StatsSample::recorded`]).
    pub fn samples(&self) -> Result<Vec<StatsSample>, FetchError> {
        let mut samples = Vec::with_capacity(self.stats_files.len() + 1);
        for path in &self.stats_files {
            let body = read_file(path)?;
            let sample = StatsSample::parse(&body)
                .map_err(|reason| bad_body(&path.display(), reason, &body))?;
            samples.push(sample);
        }
        Ok(StatsSample::recorded(samples))
    }
}

impl Endpoint for Replay {
    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    fn fetch_task(&self, _: Duration) -> Result<Task, FetchError> {
        let path = self.dir.join("task.json");
        let body = read_file(&path)?;
        Task::parse(&body).map_err(|reason| bad_body(&path.display(), reason, &body))
    }

    fn fetch_container(&self, _: Duration) -> Result<Option<ContainerMetadata>, FetchError> {
        let path = self.dir.join("container.json");
        if !path.exists() {
            return Ok(None);
        }
        let body = read_file(&path)?;
        ContainerMetadata::parse(path.display().to_string(), body).map(Some)
    }
}

fn stats_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list capture directory {}: {e}", dir.display()))?;
    let mut files: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            (name.starts_with("stats") && name.ends_with(".json")).then_some((name, p))
        })
        .collect();
    if files.is_empty() {
        return Err(format!(
            "capture directory {} holds no stats*.json file; a replay needs task.json and \
             at least one stats*.json",
            dir.display()
        ));
    }
    files.sort_by(|(a, _), (b, _)| recording_order(a).cmp(&recording_order(b)));
    Ok(files.into_iter().map(|(_, path)| path).collect())
}

/// Files are ordered by the number in their name, then by name: `--capture` numbers them
/// `stats000.json` (the `--since-last-run` sample), `stats001.json` ... `stats1000.json`
/// (`--samples` allows 1000), where name order would put `stats1000` before `stats101`.
/// Names without a number (`stats.json`) come first, in name order.
fn recording_order(name: &str) -> (Option<u64>, &str) {
    let number = name
        .strip_prefix("stats")
        .and_then(|rest| rest.strip_suffix(".json"))
        .and_then(|digits| digits.parse().ok());
    (number, name)
}

fn read_file(path: &Path) -> Result<Vec<u8>, FetchError> {
    std::fs::read(path).map_err(|e| FetchError {
        what: path.display().to_string(),
        reason: e.to_string(),
        retry: Retry::No,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A capture of 1001 samples (`stats000.json`, the `--since-last-run` one, to
    /// `stats1000.json`): replayed in the order recorded, so the last sample is the last read.
    #[test]
    fn a_thousand_samples_replay_in_recording_order() {
        let dir = std::env::temp_dir().join(format!("ecs-statsd-replay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("task.json"), "{}").unwrap();
        for n in 0..=1000 {
            let body = format!(r#"{{"c{n}": null}}"#);
            std::fs::write(dir.join(format!("stats{n:03}.json")), body).unwrap();
        }
        let samples = Replay::open(&dir).unwrap().samples().unwrap();
        let ids: Vec<String> = samples
            .iter()
            .map(|s| s.containers.keys().next().unwrap().clone())
            .collect();
        let want: Vec<String> = (0..=1000).map(|n| format!("c{n}")).collect();
        assert_eq!(ids, want);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn names_without_a_number_come_first() {
        let mut names = ["stats2.json", "stats.json", "stats10.json", "stats-x.json"];
        names.sort_by_key(|n| recording_order(n));
        assert_eq!(
            names,
            ["stats-x.json", "stats.json", "stats2.json", "stats10.json"]
        );
    }
}
