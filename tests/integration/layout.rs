//! The house rules of `src/`, read from the code itself: every `crate::` path outside comments
//! and test modules is an arrow from its file to the module it names. No arrow may run up the
//! layers (docs/development.md draws them), no two files and no two folders may import each
//! other in a circle, and no file may grow past the size we can read in one sitting.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, top to bottom: an arrow may only point to a lower rank. A new top-level module
/// must be placed here before it can be used (the test names it).
const LAYERS: &[(&str, u8)] = &[
    ("main", 10),
    ("lib", 10),
    ("run", 9),
    ("config", 8),
    ("cli", 7),
    ("output", 6),
    ("metrics", 5),
    ("cache", 4),
    ("state", 4),
    ("ecs", 3),
    ("deadline", 2),
    ("folder", 1),
    ("heap", 1),
    ("signals", 1),
    ("console", 1),
];

/// Most lines a file of `src/` may have outside its `#[cfg(test)]` module.
const MAX_FILE_LINES: usize = 450;
/// Most lines one function may have.
const MAX_FN_LINES: usize = 60;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// One file of `src/`: its module path (`metrics/mod.rs` is `metrics`), whether it is a
/// folder's `mod.rs`, and its text.
struct Source {
    module: Vec<String>,
    is_folder: bool,
    text: String,
}

/// Every `.rs` file under `src/`, by module path.
fn sources() -> BTreeMap<String, Source> {
    let mut files = BTreeMap::new();
    let mut folders = vec![src()];
    while let Some(folder) = folders.pop() {
        for entry in fs::read_dir(&folder).expect("src/ is readable") {
            let path = entry.expect("src/ entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(src()).unwrap().with_extension("");
                let mut module: Vec<String> = relative
                    .iter()
                    .map(|p| p.to_string_lossy().into_owned())
                    .collect();
                let is_folder = module.last().is_some_and(|m| m == "mod");
                if is_folder {
                    module.pop();
                }
                let text = fs::read_to_string(&path).expect("source is UTF-8");
                files.insert(
                    module.join("::"),
                    Source {
                        module,
                        is_folder,
                        text,
                    },
                );
            }
        }
    }
    files
}

/// The file's code without comments and without its `#[cfg(test)]` items.
fn production_code(text: &str) -> String {
    let mut code = String::new();
    let mut skipping = false;
    let mut depth = 0i32;
    for line in text.lines() {
        let line = match line.find("//") {
            // `//` inside a string literal (a URL) only cuts a line short of an arrow that its
            // path would show; src/ writes no `crate::` after a URL on one line.
            Some(at) => &line[..at],
            None => line,
        };
        if line.trim_start().starts_with("#[cfg(test)]") {
            skipping = true;
            depth = 0;
            continue;
        }
        if skipping {
            depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
            if depth <= 0 && (line.contains('}') || line.trim_end().ends_with(';')) {
                skipping = false;
            }
            continue;
        }
        code.push_str(line);
        code.push('\n');
    }
    code
}

/// The paths that start at `crate::`, `super::` or `self::` in some code, each resolved to
/// an absolute path from the crate root. `pub use` lines of a folder's `mod.rs` are left out
/// when `skip_facade` is set: they are the folder's front, not an import.
fn absolute_paths(code: &str, file: &Source, skip_facade: bool) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for statement in code.split_inclusive(';') {
        let facade = file.is_folder && statement.trim_start().starts_with("pub use ");
        if facade && skip_facade {
            continue;
        }
        let mut at = 0;
        while at < statement.len() {
            let rest = &statement[at..];
            let Some(found) = ["crate::", "super::", "self::"]
                .iter()
                .filter_map(|k| rest.find(k))
                .min()
            else {
                break;
            };
            let before = statement[..at + found].chars().last();
            at += found + 1;
            if before.is_some_and(|c| c == '$' || c == ':' || c.is_alphanumeric() || c == '_') {
                continue;
            }
            for path in expand(&statement[at - 1..]) {
                paths.push(resolve(&path, &file.module));
            }
        }
        if facade {
            // A bare `pub use child::Item` in a mod.rs is relative to the folder.
            if let Some(tree) = statement.trim_start().strip_prefix("pub use ")
                && !tree.starts_with("crate::")
                && !tree.starts_with("super::")
                && !tree.starts_with("self::")
            {
                {
                    for path in expand(tree) {
                        let mut absolute = file.module.clone();
                        absolute.extend(path);
                        paths.push(absolute);
                    }
                }
            }
        }
    }
    paths
}

/// `crate::a::b`, `super::super::c` or `self::d`, seen from a module, as a path from the root.
fn resolve(path: &[String], from: &[String]) -> Vec<String> {
    let mut base: Vec<String> = Vec::new();
    let mut segments = path.iter().peekable();
    match segments.next().map(String::as_str) {
        Some("crate") => {}
        Some("self") => base = from.to_vec(),
        Some("super") => {
            base = from.to_vec();
            base.pop();
        }
        _ => return path.to_vec(),
    }
    while segments.peek().is_some_and(|s| *s == "super") {
        segments.next();
        base.pop();
    }
    base.extend(segments.cloned());
    base
}

/// The files an absolute path names: the longest module it starts with, and through a
/// folder's `pub use` to the file that defines the item.
fn target(
    path: &[String],
    modules: &BTreeSet<String>,
    facades: &BTreeMap<(String, String), String>,
) -> Option<String> {
    let mut best = None;
    for n in 1..=path.len() {
        let candidate = path[..n].join("::");
        if modules.contains(&candidate) {
            best = Some((candidate, n));
        }
    }
    let (module, n) = best?;
    match path.get(n) {
        Some(item) => match facades.get(&(module.clone(), item.clone())) {
            Some(defined_in) => Some(defined_in.clone()),
            None => Some(module),
        },
        None => Some(module),
    }
}

/// The paths one reference names: `a::b::C` or a use tree `a::{b, c::{d, e}}`.
fn expand(text: &str) -> Vec<Vec<String>> {
    if let Some(inner) = text.strip_prefix('{') {
        let end = matching_brace(inner);
        return split_top_level(&inner[..end])
            .into_iter()
            .flat_map(|branch| expand(branch.trim()))
            .collect();
    }
    let mut prefix = Vec::new();
    let mut segment = String::new();
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < text.len() {
        let c = bytes[i] as char;
        if c.is_ascii_alphanumeric() || c == '_' {
            segment.push(c);
            i += 1;
        } else if text[i..].starts_with("::{") {
            prefix.push(std::mem::take(&mut segment));
            return expand(&text[i + 2..])
                .into_iter()
                .map(|tail| prefix.iter().cloned().chain(tail).collect())
                .collect();
        } else if text[i..].starts_with("::") {
            prefix.push(std::mem::take(&mut segment));
            i += 2;
        } else {
            break;
        }
    }
    if !segment.is_empty() {
        prefix.push(segment);
    }
    vec![prefix]
}

fn matching_brace(text: &str) -> usize {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

fn split_top_level(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap()
}

fn rank(module: &str) -> u8 {
    let folder = top(module);
    LAYERS
        .iter()
        .find(|(name, _)| *name == folder)
        .map(|(_, rank)| *rank)
        .unwrap_or_else(|| panic!("src/{folder} has no layer: add it to LAYERS in {}", file!()))
}

/// The import graph: each file to the files it names. A folder's `mod.rs` naming its own
/// children is not an arrow: the folder's front is part of the folder.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = sources();
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    let mut facades = BTreeMap::new();
    for (module, file) in &files {
        if file.is_folder {
            for path in absolute_paths(&production_code(&file.text), file, false) {
                if path.len() < 2 {
                    continue;
                }
                if let (Some(item), Some(defined_in)) = (
                    path.last(),
                    target(&path[..path.len() - 1], &modules, &BTreeMap::new()),
                ) && defined_in != *module
                {
                    facades.insert((module.clone(), item.clone()), defined_in);
                }
            }
        }
    }
    files
        .iter()
        .map(|(module, file)| {
            let targets = absolute_paths(&production_code(&file.text), file, true)
                .iter()
                .filter_map(|path| target(path, &modules, &facades))
                .filter(|to| to != module)
                .filter(|to| !(file.is_folder && to.starts_with(&format!("{module}::"))))
                .collect();
            (module.clone(), targets)
        })
        .collect()
}

/// Every circle in a graph, each once, as the path that closes it.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let mut found: Vec<Vec<String>> = Vec::new();
    for start in graph.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut steps = 0;
        while let Some((node, path)) = stack.pop() {
            steps += 1;
            assert!(steps < 100_000, "the import graph walk is bounded");
            for next in graph.get(&node).into_iter().flatten() {
                if next == start {
                    let mut circle = path.clone();
                    let smallest = circle.iter().min().unwrap().clone();
                    let turn = circle.iter().position(|m| *m == smallest).unwrap();
                    circle.rotate_left(turn);
                    if !found.contains(&circle) {
                        found.push(circle);
                    }
                } else if !path.contains(next) && next > start {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    found
}

#[test]
fn no_import_runs_up_the_layers() {
    let mut wrong = Vec::new();
    for (from, targets) in graph() {
        for to in targets {
            if top(&from) != top(&to) && rank(&to) >= rank(&from) {
                wrong.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that run up the layers: {wrong:#?}"
    );
}

#[test]
fn the_pure_layers_know_no_wire_format_and_no_configuration() {
    let forbidden: &[(&str, &[&str])] = &[
        ("metrics", &["output", "config", "cli", "run"]),
        ("ecs", &["metrics", "output", "config", "cli", "run"]),
    ];
    let mut wrong = Vec::new();
    for (from, targets) in graph() {
        for (layer, banned) in forbidden {
            for to in &targets {
                if top(&from) == *layer && banned.contains(&top(to)) {
                    wrong.push(format!("{from} -> {to}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "forbidden arrows: {wrong:#?}");
}

#[test]
fn no_two_files_import_each_other_in_a_circle() {
    let found = circles(&graph());
    assert!(found.is_empty(), "import circles between files: {found:#?}");
}

#[test]
fn no_two_folders_import_each_other_in_a_circle() {
    let mut folders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in graph() {
        let entry = folders.entry(top(&from).to_string()).or_default();
        for to in targets {
            if top(&to) != top(&from) {
                entry.insert(top(&to).to_string());
            }
        }
    }
    let found = circles(&folders);
    assert!(
        found.is_empty(),
        "import circles between folders: {found:#?}"
    );
}

#[test]
fn files_and_functions_stay_readable() {
    let mut long = Vec::new();
    for (module, file) in sources() {
        let code = production_code(&file.text);
        let lines = code.lines().count();
        if lines > MAX_FILE_LINES {
            long.push(format!("{module}: {lines} lines outside its tests"));
        }
        for (name, length) in functions(&code) {
            if length > MAX_FN_LINES {
                long.push(format!("{module}::{name}: {length} lines"));
            }
        }
    }
    assert!(long.is_empty(), "past the size limits: {long:#?}");
}

/// Each `fn` of a file and its length in lines, from its `fn` line to its closing brace.
fn functions(code: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let Some(after) = [
            "fn ",
            "pub fn ",
            "pub(crate) fn ",
            "const fn ",
            "pub const fn ",
        ]
        .iter()
        .find_map(|p| trimmed.strip_prefix(p)) else {
            continue;
        };
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let mut depth = 0i32;
        let mut opened = false;
        for (offset, body) in lines[start..].iter().enumerate() {
            if !opened && body.trim_end().ends_with(';') {
                break; // a declaration in a trait, no body
            }
            for c in body.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth <= 0 {
                found.push((name.clone(), offset + 1));
                break;
            }
        }
    }
    found
}

#[test]
fn the_reader_finds_arrows_in_use_trees_and_inline_paths() {
    let file = Source {
        module: vec!["m".into(), "f".into()],
        is_folder: false,
        text: String::new(),
    };
    let code = "use crate::{a::b::{X, Y}, c};\nuse super::g::H;\nfn f() { crate::d::e::g(); $crate::c::z(); }\n// crate::zz\n#[cfg(test)]\nmod tests {\n    use crate::t;\n}\n";
    let found = absolute_paths(&production_code(code), &file, true);
    let want: Vec<Vec<String>> = [
        &["a", "b", "X"][..],
        &["a", "b", "Y"],
        &["c"],
        &["m", "g", "H"],
        &["d", "e", "g"],
    ]
    .iter()
    .map(|p| p.iter().map(|s| s.to_string()).collect())
    .collect();
    assert_eq!(found, want);
    let mut g = BTreeMap::new();
    g.insert("x".to_string(), BTreeSet::from(["y".to_string()]));
    g.insert("y".to_string(), BTreeSet::from(["z".to_string()]));
    g.insert("z".to_string(), BTreeSet::from(["x".to_string()]));
    assert_eq!(
        circles(&g),
        vec![vec!["x".to_string(), "y".into(), "z".into()]]
    );
    assert_eq!(
        functions("fn a() {\n    1\n}\nfn b();\n"),
        vec![("a".to_string(), 3)]
    );
}
