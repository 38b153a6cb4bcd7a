//! Records the commit the binary is built from, for `--version`.
//!
//! `ECS_STATSD_COMMIT` wins when set (a build without the git history, such as the Docker
//! build, whose context leaves `.git` out, passes it as a build argument); otherwise git is
//! asked. With neither (a source tarball, no git installed, not a repository) nothing is
//! recorded and `--version` prints the version alone: the build never fails for it.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ECS_STATSD_COMMIT");
    let commit = std::env::var("ECS_STATSD_COMMIT")
        .ok()
        .filter(|c| is_commit(c))
        .or_else(commit_from_git);
    if let Some(commit) = commit {
        println!("cargo:rustc-env=ECS_STATSD_COMMIT={commit}");
    }
}

/// A full or abbreviated hexadecimal object name.
fn is_commit(text: &str) -> bool {
    (7..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn git(args: &[&str]) -> Option<String> {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let out = Command::new("git")
        .args(args)
        .current_dir(manifest_dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}

fn commit_from_git() -> Option<String> {
    let commit = git(&["rev-parse", "--verify", "HEAD"]).filter(|c| is_commit(c))?;
    // Build again when HEAD moves: HEAD itself (a checkout; a worktree has its own), its
    // reflog (every commit, checkout or reset of this worktree, even with the branch only in
    // packed-refs), the branch it names and packed-refs. Only those: other branches moving
    // must not rebuild the crate.
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    let watched = [
        Some("HEAD".to_string()),
        Some("logs/HEAD".to_string()),
        branch,
        Some("packed-refs".to_string()),
    ];
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default();
    for name in watched.into_iter().flatten() {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            let path = Path::new(&manifest_dir).join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    Some(commit)
}
