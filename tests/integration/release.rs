//! What a release carries: the licence (declared in Cargo.toml, the two licence files, the
//! image's OCI label), the changelog, and a `--version` that names the commit it was built
//! from, with a build script that falls back cleanly where git is not there.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::common::{TempDir, bin, read, root};

const LICENSE: &str = "MIT OR Apache-2.0";

fn git_head() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--verify", "HEAD"])
        .current_dir(root())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap().trim().to_string())
}

/// Built in a git checkout, `--version` names the version and the commit (12 digits); built
/// without one, the version alone.
#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = Command::new(bin()).arg("--version").output().unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let expected = match git_head() {
        Some(head) => format!("ecs-statsd {version} (commit {})\n", &head[..12]),
        None => format!("ecs-statsd {version}\n"),
    };
    assert_eq!(line, expected);
}

/// The build script compiled on its own and run as cargo runs it: in a folder that is no
/// git repository, or with no git at all, it records no commit and succeeds; a commit given
/// in ECS_STATSD_COMMIT (the Docker build's argument) wins, a malformed one is ignored.
#[test]
fn the_build_script_falls_back_cleanly_without_git() {
    let tmp = TempDir::new();
    let script = tmp.join("build-script");
    let compiled = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--edition", "2024", "-o"])
        .arg(&script)
        .arg(root().join("build.rs"))
        .output()
        .unwrap();
    assert!(compiled.status.success(), "{compiled:?}");
    let not_a_repo = tmp.join("source-tarball");
    fs::create_dir(&not_a_repo).unwrap();
    let run = |manifest_dir: &Path, path: &str, commit: Option<&str>| {
        let mut cmd = Command::new(&script);
        cmd.env_clear()
            .env("CARGO_MANIFEST_DIR", manifest_dir)
            .env("PATH", path)
            // git must not find the repository around the temporary folder.
            .env("GIT_CEILING_DIRECTORIES", tmp.path());
        if let Some(commit) = commit {
            cmd.env("ECS_STATSD_COMMIT", commit);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("cargo:rustc-env=ECS_STATSD_COMMIT="))
            .map(String::from)
    };
    let path = std::env::var("PATH").unwrap_or_default();
    assert_eq!(run(&not_a_repo, &path, None), None, "not a repository");
    assert_eq!(run(&root(), "/nonexistent", None), None, "no git installed");
    assert_eq!(
        run(&not_a_repo, "/nonexistent", Some("0123456789abcdef")).as_deref(),
        Some("0123456789abcdef"),
        "the build argument"
    );
    assert_eq!(
        run(&not_a_repo, "/nonexistent", Some("$(git rev-parse HEAD)")),
        None,
        "a malformed commit"
    );
    if let Some(head) = git_head() {
        assert_eq!(run(&root(), &path, None), Some(head), "the checkout's HEAD");
    }
}

/// MIT OR Apache-2.0, the same expression in Cargo.toml and the image label, with both texts
/// at the root; the captures keep their own licences, listed beside them.
#[test]
fn the_licence_is_declared_everywhere() {
    let manifest = read("Cargo.toml");
    assert!(
        manifest
            .lines()
            .any(|l| l == format!("license = \"{LICENSE}\"")),
        "Cargo.toml: license"
    );
    assert!(
        read("Dockerfile").contains(&format!("org.opencontainers.image.licenses=\"{LICENSE}\"")),
        "Dockerfile: the OCI licences label"
    );
    assert!(read("LICENSE-MIT").starts_with("Copyright (c)"));
    assert!(read("LICENSE-MIT").contains("Permission is hereby granted, free of charge"));
    let apache = read("LICENSE-APACHE");
    assert!(apache.contains("Apache License") && apache.contains("Version 2.0, January 2004"));
    assert!(apache.contains("END OF TERMS AND CONDITIONS"));
    let readme = read("README.md");
    assert!(readme.contains(LICENSE) && readme.contains("LICENSE-MIT"));
    assert!(readme.contains("LICENSE-APACHE"));
    // Every folder of others' files says where they came from and under which licence, and
    // the README points at it.
    for entry in fs::read_dir(root().join("testdata")).unwrap() {
        let sources = entry.unwrap().path().join("SOURCES.md");
        if let Ok(text) = fs::read_to_string(&sources) {
            let rel = sources.strip_prefix(root()).unwrap().display().to_string();
            assert!(
                text.to_lowercase().contains("licence"),
                "{rel} names no licence"
            );
            assert!(readme.contains(&rel), "README.md does not point at {rel}");
        }
    }
}

/// Keep a Changelog 1.1.0: an Unreleased section, the crate's version either released (its
/// own section) or named as the next release, and only the format's kinds of change.
#[test]
fn the_changelog_has_the_crate_version() {
    let changelog = read("CHANGELOG.md");
    assert!(changelog.starts_with("# Changelog\n"));
    assert!(changelog.contains("https://keepachangelog.com/en/1.1.0/"));
    assert!(changelog.contains("\n## [Unreleased]\n"));
    let version = env!("CARGO_PKG_VERSION");
    let released = format!("\n## [{version}] - ");
    let next = format!("the first release will be {version}, the version in Cargo.toml");
    assert!(
        changelog.contains(&released) || changelog.contains(&next),
        "CHANGELOG.md names neither {released:?} nor {next:?}"
    );
    for line in changelog.lines().filter(|l| l.starts_with("### ")) {
        let kind = &line[4..];
        assert!(
            [
                "Added",
                "Changed",
                "Deprecated",
                "Removed",
                "Fixed",
                "Security"
            ]
            .contains(&kind),
            "not a Keep a Changelog section: {line}"
        );
    }
}
