//! `cargo xtask package [--no-build]`: the release a Godot user downloads.
//!
//! Builds every target of the table this machine can build (here: Linux x86_64 and arm64 with
//! zig, Windows x86_64 with mingw-w64; on a Mac the Apple bundles; Android where an NDK is
//! set), then writes `dist/webrtc_rs-<version>.zip` holding `addons/webrtc_rs/` with the
//! generated `.gdextension` and licence notices, its `.sha256`, and the Asset Library
//! description, and checks the zip (`inspect.rs`). `--no-build` packages what is already in
//! `addons/webrtc_rs/bin/` (the release workflow's last job, after downloading every
//! platform's libraries there).

use crate::targets::{self, Bundle, Target};
use crate::{addon, cmd, inspect, system};
use std::path::{Path, PathBuf};
use std::process::Command;

const USAGE: &str = "usage: cargo xtask package [--no-build]";

pub fn run(args: &[String]) -> Result<(), String> {
    let mut build = true;
    for arg in args {
        match arg.as_str() {
            "--no-build" => build = false,
            other => return Err(format!("package: unexpected argument {other:?}\n{USAGE}")),
        }
    }
    check_release_tag()?;
    let addon = addon::addon_dir();
    if build {
        let chosen = buildable_here();
        if chosen.is_empty() {
            return Err("this machine can build none of the targets".into());
        }
        let bin = addon.join("bin");
        if bin.exists() {
            std::fs::remove_dir_all(&bin)
                .map_err(|e| format!("cannot clear {}: {e}", bin.display()))?;
        }
        addon::stage_targets(&chosen, true)?;
    } else {
        addon::write_generated(&addon)?;
    }
    let dist = cmd::workspace_root().join("dist");
    let zip = write_zip(&addon, &dist)?;
    inspect::check_zip(&zip)?;
    let sha = write_sha256(&zip)?;
    let asset = write_asset_description(&dist)?;
    eprintln!(
        "release written:\n  {}\n  {}\n  {}",
        zip.display(),
        sha.display(),
        asset.display()
    );
    Ok(())
}

/// `cargo xtask test`'s release check on this machine's target alone: built with its release
/// toolchain, staged, zipped into the target dir and checked. Returns the addon dir. Where
/// this machine's row is not a plain library (a Mac's is half of the macOS framework), the
/// development build is staged and the zip check is left to `cargo xtask package`.
pub fn host_release_check() -> Result<PathBuf, String> {
    let host = targets::host()
        .filter(|t| t.bundle == Bundle::Library && targets::buildable_here(t.toolchain));
    let Some(host) = host else {
        eprintln!(
            "no release row for this machine: staging the development build, zip not checked"
        );
        return addon::build_and_stage();
    };
    let addon = addon::stage_targets(&[host], true)?;
    let zip = write_zip(&addon, &addon::target_dir().join("package-check-dist"))?;
    inspect::check_zip(&zip)?;
    Ok(addon)
}

/// In GitHub Actions on a tag, the tag must be `v<version>`: the Asset Library download and
/// the zip name are made from the version.
fn check_release_tag() -> Result<(), String> {
    if std::env::var("GITHUB_REF_TYPE").as_deref() != Ok("tag") {
        return Ok(());
    }
    let tag = std::env::var("GITHUB_REF_NAME").unwrap_or_default();
    let expected = format!("v{}", env!("CARGO_PKG_VERSION"));
    if tag == expected {
        Ok(())
    } else {
        Err(format!(
            "the tag {tag:?} does not match the workspace version ({expected})"
        ))
    }
}

/// The rows `package` builds here: one per listed file (the first buildable alternative),
/// every part of a bundle.
fn buildable_here() -> Vec<&'static Target> {
    let mut chosen: Vec<&'static Target> = Vec::new();
    for target in targets::TARGETS {
        if !targets::buildable_here(target.toolchain) {
            continue;
        }
        let taken = chosen.iter().any(|t| t.file == target.file);
        if taken && target.bundle == Bundle::Library {
            continue;
        }
        chosen.push(target);
    }
    chosen
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    if from.is_dir() {
        std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
        let entries =
            std::fs::read_dir(from).map_err(|e| format!("cannot list {}: {e}", from.display()))?;
        for entry in entries.flatten() {
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::copy(from, to)
            .map(|_| ())
            .map_err(|e| format!("cannot copy {}: {e}", from.display()))
    }
}

pub fn zip_name() -> String {
    format!("webrtc_rs-{}.zip", env!("CARGO_PKG_VERSION"))
}

/// Zips the top files and the listed libraries of `addon` into `<dist>/webrtc_rs-<v>.zip`.
pub fn write_zip(addon: &Path, dist: &Path) -> Result<PathBuf, String> {
    system::ensure_debian_package("zip", "zip")?;
    system::ensure_debian_package("unzip", "unzip")?;
    let stage = addon::target_dir().join("package-stage");
    if stage.exists() {
        std::fs::remove_dir_all(&stage)
            .map_err(|e| format!("cannot remove {}: {e}", stage.display()))?;
    }
    let staged_addon = stage.join(inspect::PREFIX);
    for top in inspect::TOP_FILES {
        copy_tree(&addon.join(top), &staged_addon.join(top))?;
    }
    for file in addon::present_files(addon) {
        copy_tree(&addon.join(file), &staged_addon.join(file))?;
    }
    std::fs::create_dir_all(dist).map_err(|e| format!("cannot create {}: {e}", dist.display()))?;
    let zip = dist.join(zip_name());
    if zip.exists() {
        // zip would add to the old archive.
        std::fs::remove_file(&zip).map_err(|e| format!("cannot remove {}: {e}", zip.display()))?;
    }
    cmd::run(
        Command::new("zip")
            .current_dir(&stage)
            .args(["-r", "-X", "-q"])
            .arg(&zip)
            .arg("addons"),
    )?;
    Ok(zip)
}

fn write_sha256(zip: &Path) -> Result<PathBuf, String> {
    let bytes = std::fs::read(zip).map_err(|e| format!("cannot read {}: {e}", zip.display()))?;
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let name = zip
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let path = zip.with_file_name(format!("{name}.sha256"));
    // The format `sha256sum -c` reads.
    std::fs::write(&path, format!("{hex}  {name}\n"))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// `dist/asset-library.json` from the committed `asset-library.json`, with the version and,
/// in GitHub Actions, the repository filled in.
fn write_asset_description(dist: &Path) -> Result<PathBuf, String> {
    let template_path = cmd::workspace_root().join("asset-library.json");
    let template = std::fs::read_to_string(&template_path)
        .map_err(|e| format!("cannot read {}: {e}", template_path.display()))?;
    let repository = match (
        std::env::var("GITHUB_SERVER_URL"),
        std::env::var("GITHUB_REPOSITORY"),
    ) {
        (Ok(server), Ok(repository)) => format!("{server}/{repository}"),
        _ => {
            eprintln!(
                "note: GITHUB_REPOSITORY is not set: dist/asset-library.json keeps {{repository}}"
            );
            "{repository}".to_string()
        }
    };
    let text = template
        .replace("{version}", env!("CARGO_PKG_VERSION"))
        .replace("{repository}", &repository);
    serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| format!("asset-library.json is not JSON: {e}"))?;
    let path = dist.join("asset-library.json");
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}
