//! The pipeline's modules import each other without a cycle (issue 9's layout), and only
//! downwards through the layers `pipeline/lib.rs` states (issue 31): each module's
//! `crate::…` and `super::…` references, outside tests and comments, form a graph with no
//! strongly connected component of two or more modules, and no edge from a layer to a later
//! one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`ingest::extract`) → source file, for every file under pipeline/.
fn modules(dir: &Path, prefix: &str, found: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            modules(&path, &format!("{prefix}{name}::"), found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let module = match name.as_str() {
                "lib" | "main" if prefix.is_empty() => continue,
                "mod" => prefix.trim_end_matches("::").to_string(),
                _ => format!("{prefix}{name}"),
            };
            found.insert(module, std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// The modules a source refers to (the longest known prefix of each path).
fn imports(module: &str, source: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or("");
    let code: String = code
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
    let mut found = BTreeSet::new();
    for (marker, base) in [("crate::", String::new()), ("super::", parent.to_string())] {
        for piece in code.split(marker).skip(1) {
            let path: String = piece
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
            for take in (1..=parts.len()).rev() {
                let candidate = if base.is_empty() {
                    parts[..take].join("::")
                } else {
                    format!("{base}::{}", parts[..take].join("::"))
                };
                if known.contains(&candidate) {
                    if candidate != module {
                        found.insert(candidate);
                    }
                    break;
                }
            }
        }
    }
    found
}

#[test]
fn modules_import_each_other_without_a_cycle() {
    let mut sources = BTreeMap::new();
    modules(&crate::helpers::root().join("pipeline"), "", &mut sources);
    let known: BTreeSet<String> = sources.keys().cloned().collect();
    assert!(
        known.contains("sources::requests::extract") && known.contains("config"),
        "{known:?}"
    );
    let graph: BTreeMap<&String, BTreeSet<String>> = sources
        .iter()
        .map(|(m, s)| (m, imports(m, s, &known)))
        .collect();
    // A module is on a cycle when it can reach itself.
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<String> = graph[start].iter().cloned().collect();
        while let Some(next) = stack.pop() {
            assert!(&next != *start, "{start} imports itself through {seen:?}");
            if seen.insert(next.clone()) {
                stack.extend(graph[&next].iter().cloned());
            }
        }
    }
}

/// The layers `lib.rs` states, in order: its line `//! Layers: a → b → …`.
fn stated_layers() -> Vec<String> {
    let lib = std::fs::read_to_string(crate::helpers::root().join("pipeline/lib.rs")).unwrap();
    let line = lib
        .lines()
        .find_map(|l| l.strip_prefix("//! Layers: "))
        .expect("lib.rs states its layers in a line `//! Layers: …`");
    line.trim_end_matches('.')
        .split('→')
        .map(|layer| layer.trim().to_string())
        .collect()
}

#[test]
fn modules_import_only_their_own_layer_and_the_layers_below() {
    let layers = stated_layers();
    let mut sources = BTreeMap::new();
    modules(&crate::helpers::root().join("pipeline"), "", &mut sources);
    let known: BTreeSet<String> = sources.keys().cloned().collect();
    let layer_of = |module: &str| {
        let top = module.split("::").next().unwrap();
        layers
            .iter()
            .position(|l| l == top)
            .unwrap_or_else(|| panic!("module {module} is in no layer of lib.rs: {layers:?}"))
    };
    let mut upward = Vec::new();
    for (module, source) in &sources {
        for imported in imports(module, source, &known) {
            if layer_of(&imported) > layer_of(module) {
                upward.push(format!("{module} imports {imported}"));
            }
        }
    }
    assert!(upward.is_empty(), "imports from a later layer: {upward:#?}");
    // Every top-level module of the tree is in a layer, and every layer is a module.
    let tops: BTreeSet<&str> = known
        .iter()
        .map(|m| m.split("::").next().unwrap())
        .collect();
    let stated: BTreeSet<&str> = layers.iter().map(String::as_str).collect();
    assert_eq!(tops, stated);
}

/// The check itself finds an upward import: a module of the first layer naming one of the
/// last is reported (a test that could not fail would prove nothing).
#[test]
fn an_upward_import_is_found() {
    let known: BTreeSet<String> = ["common::error", "commands::run"]
        .iter()
        .map(|m| m.to_string())
        .collect();
    let found = imports(
        "common::error",
        "use crate::commands::run::RunArgs;\n",
        &known,
    );
    assert_eq!(found, BTreeSet::from(["commands::run".to_string()]));
    let layers = stated_layers();
    let position = |top: &str| layers.iter().position(|l| l == top).unwrap();
    assert!(position("commands") > position("common"));
}

/// The project's files named in the code, the queries and the documentation
/// (`pipeline/…/x.rs`, `queries/…/x.sql`, …) exist: a file that moved is not still named
/// where it was.
#[test]
fn files_named_in_code_and_docs_exist() {
    let root = crate::helpers::root();
    let mut texts = Vec::new();
    fn collect(dir: &Path, texts: &mut Vec<(String, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                collect(&path, texts);
            } else if path
                .extension()
                .is_some_and(|e| e == "rs" || e == "sql" || e == "md")
            {
                let text = std::fs::read_to_string(&path).unwrap();
                texts.push((path.display().to_string(), text));
            }
        }
    }
    for dir in ["pipeline", "queries", "docs", "tests/it"] {
        collect(&root.join(dir), &mut texts);
    }
    texts.push((
        "README.md".to_string(),
        std::fs::read_to_string(root.join("README.md")).unwrap(),
    ));
    let mut missing = Vec::new();
    let mut named = 0;
    for (file, text) in &texts {
        for prefix in ["pipeline/", "queries/", "sample-data/", "bench/", "docs/"] {
            for (at, _) in text.match_indices(prefix) {
                // Only a path's start: not the tail of another word or path.
                let before = text[..at].chars().next_back();
                if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '/' || c == '_') {
                    continue;
                }
                let path: String = text[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || "/_.-".contains(*c))
                    .collect();
                let path = path.trim_end_matches('.');
                let ends = [".rs", ".sql", ".py", ".slt", ".toml", ".md"];
                if !ends.iter().any(|e| path.ends_with(e)) || path.contains('*') {
                    continue;
                }
                named += 1;
                if !root.join(path).exists() {
                    missing.push(format!("{file} names {path}"));
                }
            }
        }
    }
    assert!(
        named > 20,
        "only {named} file names found: the scan is broken"
    );
    assert!(missing.is_empty(), "{missing:#?}");
}
