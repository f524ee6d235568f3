//! The library's layering, checked from its source: every `crate::` reference
//! between top-level modules must point to a lower layer (or sideways without a
//! cycle). ARCHITECTURE.md explains the layers; this is what keeps them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lowest first. A module may use modules of its own layer or below, never above.
const LAYERS: &[&[&str]] = &[
    &["text", "cache_dir", "input", "names", "error_kind", "lexical", "wheel"],
    &["model"],
    &["storage", "embed"],
    &["artifacts", "deps", "skills", "tools"],
    &["sandbox"],
    &["session"],
    &["server", "mcp_server"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The library's top-level module a file belongs to (`src/tools/cli.rs` -> `tools`);
/// `None` for the crate root and for the binary's files.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let module = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(module, "lib" | "main" | "cli")).then(|| module.to_owned())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source directory") {
        let path = entry.expect("readable entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments (doc links are not dependencies) and string literals.
fn code_only(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            c => out.push(c),
        }
    }
    out
}

/// Every name right after `crate::`, including each item of `use crate::{a, b::c}`.
fn crate_references(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `$crate::` or part of a longer identifier
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = matching_brace(group);
            for item in split_top_level(&group[..end]) {
                names.push(leading_ident(item.trim()));
            }
        } else {
            names.push(leading_ident(rest));
        }
    }
    names.into_iter().filter(|n| !n.is_empty()).collect()
}

fn matching_brace(text: &str) -> usize {
    let mut depth = 0usize;
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
    let (mut parts, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
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

fn leading_ident(text: &str) -> String {
    text.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// Module -> the modules it references, from every file of the library.
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut root_items = Vec::new();
    for file in files {
        let Some(module) = module_of(&src, &file) else { continue };
        let code = code_only(&std::fs::read_to_string(&file).expect("readable source file"));
        for name in crate_references(&code) {
            if name.starts_with(|c: char| c.is_uppercase()) || layer_of(&name).is_none() {
                // A root re-export (`crate::Session`) hides which module it comes from.
                root_items.push(format!("{}: crate::{name}", file.display()));
            } else if name != module {
                deps.entry(module.clone()).or_default().insert(name);
            }
        }
        deps.entry(module).or_default();
    }
    assert!(
        root_items.is_empty(),
        "name the module, not a root re-export or an unknown module:\n{}",
        root_items.join("\n")
    );
    deps
}

#[test]
fn every_module_is_in_a_layer() {
    let unknown: Vec<_> = dependencies().into_keys().filter(|m| layer_of(m).is_none()).collect();
    assert!(unknown.is_empty(), "add these modules to LAYERS (and ARCHITECTURE.md): {unknown:?}");
}

#[test]
fn no_module_uses_a_higher_layer() {
    let mut upward = Vec::new();
    for (module, uses) in dependencies() {
        let Some(own) = layer_of(&module) else { continue };
        for used in uses {
            if layer_of(&used).is_some_and(|layer| layer > own) {
                upward.push(format!("{module} -> {used}"));
            }
        }
    }
    assert!(upward.is_empty(), "arrows up the layers: {upward:?}");
}

#[test]
fn modules_have_no_cycles() {
    let deps = dependencies();
    // Depth-first search; a module met again while still on the path closes a cycle.
    fn visit<'a>(
        module: &'a str,
        deps: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| *m == module) {
            let mut cycle: Vec<String> = path[start..].iter().map(|m| m.to_string()).collect();
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module);
        for used in deps.get(module).into_iter().flatten() {
            if let Some(cycle) = visit(used, deps, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(module);
        None
    }
    let mut done = BTreeSet::new();
    for module in deps.keys() {
        if let Some(cycle) = visit(module, &deps, &mut Vec::new(), &mut done) {
            panic!("dependency cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_checker_sees_references() {
    let code = code_only("use crate::{a::B, c}; // crate::ignored\nlet x = crate::d::e(\"crate::no\");");
    assert_eq!(crate_references(&code), ["a", "c", "d"]);
}
