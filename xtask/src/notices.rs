//! `THIRD_PARTY_LICENSES.txt`: every crate linked into the shipped libraries, its declared
//! licence and the licence texts it ships, generated from `cargo metadata` for the targets
//! being shipped and the crate sources cargo downloaded.
//!
//! Linked means: reached from `webrtc_rs` through normal dependencies on that target. Build
//! scripts, proc-macros and dev-dependencies run on the build machine only and are left out;
//! our own workspace crates are under our licence. A crate that ships no licence file gets the
//! standard text of each licence its expression names (kept in `xtask/licenses/`).

use crate::cmd;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub const FILE_NAME: &str = "THIRD_PARTY_LICENSES.txt";

/// The package whose dependency tree is shipped.
const ROOT_PACKAGE: &str = "webrtc_rs";

/// Standard texts for crates that ship no licence file. The Rust standard library, linked into
/// every library, is MIT OR Apache-2.0, so those two are always printed.
const STANDARD_TEXTS: &[(&str, &str)] = &[
    ("MIT", include_str!("../licenses/MIT.txt")),
    (
        "Apache-2.0",
        include_str!("../../addons/webrtc_rs/LICENSE-APACHE"),
    ),
    ("MPL-2.0", include_str!("../licenses/MPL-2.0.txt")),
];

#[derive(Debug)]
struct Crate {
    name: String,
    version: String,
    license: String,
    authors: Vec<String>,
    repository: String,
    /// (file name, text) of the licence files the crate ships.
    files: Vec<(String, String)>,
}

fn metadata(triple: &str) -> Result<Value, String> {
    let output = cmd::cargo()
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--filter-platform",
            triple,
        ])
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata --filter-platform {triple} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("cargo metadata output: {e}"))
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

fn is_licence_file(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        "license",
        "licence",
        "copying",
        "notice",
        "copyright",
        "unlicense",
    ]
    .iter()
    .any(|prefix| lower.starts_with(prefix))
}

fn normalise(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    lines.join("\n").trim_matches('\n').to_string()
}

/// The licence files in a crate's folder (and a `LICENSES/` folder), plus its `license-file`.
fn licence_files(package: &Value) -> Result<Vec<(String, String)>, String> {
    let manifest = Path::new(str_of(package, "manifest_path"));
    let dir = manifest
        .parent()
        .ok_or_else(|| format!("no folder for {}", manifest.display()))?;
    let mut paths: BTreeSet<std::path::PathBuf> = BTreeSet::new();
    let declared = str_of(package, "license_file");
    if !declared.is_empty() {
        paths.insert(dir.join(declared));
    }
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_licence_file(&name) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            for inner in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                if inner.path().is_file() {
                    paths.insert(inner.path());
                }
            }
        } else {
            paths.insert(path);
        }
    }
    let mut files = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let name = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        files.push((name, normalise(&text)));
    }
    Ok(files)
}

/// The registry crates linked into `webrtc_rs` on `triple`, keyed by (name, version).
fn linked_crates(triple: &str, into: &mut BTreeMap<(String, String), Crate>) -> Result<(), String> {
    let meta = metadata(triple)?;
    let packages: BTreeMap<&str, &Value> = meta["packages"]
        .as_array()
        .ok_or("cargo metadata: no packages")?
        .iter()
        .map(|p| (str_of(p, "id"), p))
        .collect();
    let nodes: BTreeMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .ok_or("cargo metadata: no resolve graph")?
        .iter()
        .map(|n| (str_of(n, "id"), n))
        .collect();
    let root = packages
        .values()
        .find(|p| str_of(p, "name") == ROOT_PACKAGE)
        .map(|p| str_of(p, "id"))
        .ok_or("cargo metadata: no webrtc_rs package")?;
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        let Some(node) = nodes.get(id) else { continue };
        for dep in node["deps"].as_array().into_iter().flatten() {
            let normal = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|kind| kind["kind"].is_null());
            let dep_id = str_of(dep, "pkg");
            let proc_macro = packages.get(dep_id).is_some_and(|p| {
                p["targets"].as_array().into_iter().flatten().any(|t| {
                    t["kind"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|k| k == "proc-macro")
                })
            });
            if normal && !proc_macro {
                stack.push(dep_id);
            }
        }
    }
    for id in seen {
        let Some(package) = packages.get(id) else {
            continue;
        };
        if package["source"].is_null() {
            continue; // a crate of this workspace
        }
        let key = (
            str_of(package, "name").to_string(),
            str_of(package, "version").to_string(),
        );
        if into.contains_key(&key) {
            continue;
        }
        let authors = package["authors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        into.insert(
            key.clone(),
            Crate {
                name: key.0,
                version: key.1,
                license: str_of(package, "license").to_string(),
                authors,
                repository: str_of(package, "repository").to_string(),
                files: licence_files(package)?,
            },
        );
    }
    Ok(())
}

/// The SPDX identifiers an expression names (`MIT/Apache-2.0` is the old spelling of OR).
fn licence_ids(expression: &str) -> Vec<String> {
    expression
        .split(|c: char| c.is_whitespace() || c == '/' || c == '(' || c == ')')
        .filter(|word| !word.is_empty() && !matches!(*word, "OR" | "AND" | "WITH"))
        .map(str::to_string)
        .collect()
}

fn rule(title: &str) -> String {
    format!("\n{}\n{title}\n{}\n\n", "=".repeat(78), "=".repeat(78))
}

/// The notices text for libraries built for `triples`.
pub fn render(triples: &[&str]) -> Result<String, String> {
    let mut crates = BTreeMap::new();
    for triple in triples {
        linked_crates(triple, &mut crates)?;
    }
    let mut out = format!(
        "Third-party software in webrtc_rs {}\n\n\
         webrtc_rs itself is licensed MIT OR Apache-2.0 (LICENSE-MIT, LICENSE-APACHE).\n\
         Its libraries link the Rust crates listed below, each under the licence it declares,\n\
         and the Rust standard library (MIT OR Apache-2.0, the Rust Project Developers).\n\
         Generated by `cargo xtask addon` from Cargo.lock for: {}.\n",
        env!("CARGO_PKG_VERSION"),
        if triples.is_empty() {
            "no target".to_string()
        } else {
            triples.join(", ")
        }
    );

    out.push_str(&rule("Crates (name, version, licence, source)"));
    for krate in crates.values() {
        out.push_str(&format!(
            "{} {}  {}  {}\n",
            krate.name, krate.version, krate.license, krate.repository
        ));
    }

    // Licence texts, each distinct text once (texts differing in layout only count as one),
    // headed by the crates that ship it.
    let mut texts: BTreeMap<String, (&str, Vec<String>)> = BTreeMap::new();
    let mut needs_standard: BTreeSet<String> = ["MIT", "Apache-2.0"].map(String::from).into();
    let mut without_files: Vec<&Crate> = Vec::new();
    for krate in crates.values() {
        if krate.files.is_empty() {
            needs_standard.extend(licence_ids(&krate.license));
            without_files.push(krate);
        }
        for (file, text) in &krate.files {
            let layout_free = text.split_whitespace().collect::<Vec<_>>().join(" ");
            texts
                .entry(layout_free)
                .or_insert_with(|| (text.as_str(), Vec::new()))
                .1
                .push(format!("{} {} ({file})", krate.name, krate.version));
        }
    }
    out.push_str(&rule("Licence texts shipped by the crates"));
    let mut blocks: Vec<(&Vec<String>, &str)> = texts.values().map(|(t, c)| (c, *t)).collect();
    blocks.sort();
    for (holders, text) in blocks {
        out.push_str(&format!("--- {}\n\n{text}\n\n", holders.join(", ")));
    }

    out.push_str(&rule("Crates that ship no licence file"));
    out.push_str(
        "These crates declare their licence in Cargo.toml only; the standard texts follow,\n\
         with the crate's authors as the copyright holders.\n\n",
    );
    for krate in &without_files {
        out.push_str(&format!(
            "{} {}: {}; copyright {}\n",
            krate.name,
            krate.version,
            krate.license,
            if krate.authors.is_empty() {
                "its authors".to_string()
            } else {
                krate.authors.join(", ")
            }
        ));
    }
    out.push_str(&rule("Standard licence texts"));
    for id in &needs_standard {
        let (_, text) = STANDARD_TEXTS
            .iter()
            .find(|(known, _)| known == id)
            .ok_or_else(|| {
                format!(
                    "a crate without licence files is under {id}, whose text is not in \
                     xtask/licenses/: add it there and to notices::STANDARD_TEXTS"
                )
            })?;
        out.push_str(&format!("--- {id}\n\n{}\n\n", normalise(text)));
    }
    Ok(out)
}

/// Where Debian's mingw-w64 packages keep the runtime's licence notices.
const MINGW_RUNTIME_NOTICES: &str = "/usr/share/doc/mingw-w64-x86-64-dev/copyright";
/// A message of the mingw-w64 runtime's relocation code, which every MinGW-linked binary holds.
const MINGW_RUNTIME_MARKER: &[u8] = b"Mingw-w64 runtime failure";

pub const MINGW_SECTION: &str = "MinGW-w64 runtime";

/// Whether the binary at `library` holds the mingw-w64 runtime.
pub fn linked_by_mingw(library: &Path) -> Result<bool, String> {
    let bytes =
        std::fs::read(library).map_err(|e| format!("cannot read {}: {e}", library.display()))?;
    Ok(bytes
        .windows(MINGW_RUNTIME_MARKER.len())
        .any(|w| w == MINGW_RUNTIME_MARKER))
}

/// The notices of the mingw-w64 runtime when `library` was linked by MinGW (the runtime is
/// then linked into it statically); `None` for any other library.
pub fn mingw_runtime(library: &Path, listed_as: &str) -> Result<Option<String>, String> {
    if !listed_as.ends_with(".dll") || !library.is_file() {
        return Ok(None);
    }
    if !linked_by_mingw(library)? {
        return Ok(None);
    }
    let notices = std::fs::read_to_string(MINGW_RUNTIME_NOTICES).map_err(|e| {
        format!(
            "{listed_as} was linked by MinGW; the notices of its runtime are read from \
             {MINGW_RUNTIME_NOTICES} (Debian package mingw-w64-x86-64-dev): {e}"
        )
    })?;
    Ok(Some(format!(
        "{}{listed_as} was linked by MinGW-w64: it holds parts of the mingw-w64 runtime\n\
         (startup code, libmingwex) and of libgcc (GPL-3.0 with the GCC Runtime Library\n\
         Exception, which asks for no notice). The mingw-w64 runtime's notices follow.\n\n{}\n",
        rule(MINGW_SECTION),
        normalise(&notices)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licence_ids_read_both_spellings_of_or() {
        assert_eq!(licence_ids("MIT/Apache-2.0"), ["MIT", "Apache-2.0"]);
        assert_eq!(
            licence_ids("(MIT OR Apache-2.0) AND Unicode-3.0"),
            ["MIT", "Apache-2.0", "Unicode-3.0"]
        );
    }

    /// The real dependency tree of the Linux and Windows libraries: the crates whose licences
    /// a user must pass on are there with their texts.
    #[test]
    fn the_notices_cover_the_licences_actually_linked() {
        let text = render(&["x86_64-unknown-linux-gnu", "x86_64-pc-windows-gnu"]).expect("render");
        for needle in [
            "\nring ",         // Apache-2.0 AND ISC, with BoringSSL's notices
            "\ngodot-core ",   // MPL-2.0, ships no licence file
            "\nrtc-dtls ",     // MIT/Apache-2.0, ships no licence file
            "\nwebpki-roots ", // CDLA-Permissive-2.0
            "\nsubtle ",       // BSD-3-Clause
            "\nwindows-sys ",  // Windows only
            "Mozilla Public License Version 2.0",
            "Community Data License Agreement",
            "Permission to use, copy, modify, and/or distribute this software", // ISC
            "Redistribution and use in source and binary forms",                // BSD
        ] {
            assert!(text.contains(needle), "missing {needle:?}");
        }
        // Build-time only crates are not shipped.
        assert!(!text.contains("\ncc "), "build dependency listed");
        assert!(!text.contains("\nsyn "), "proc-macro dependency listed");
    }
}
