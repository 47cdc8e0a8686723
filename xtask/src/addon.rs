//! `cargo xtask addon [--debug] [--target <triple>]...`: build the GDExtension library and stage
//! it into `addons/webrtc_rs/`, then write the folder's generated files: `webrtc_rs.gdextension`
//! (listing exactly the libraries in `bin/`) and `THIRD_PARTY_LICENSES.txt`.
//!
//! Without `--target`: a plain `cargo build` for this machine, for development and the demo.
//! With `--target` (repeatable): the release build of that row of the target table
//! (`targets.rs`) with its toolchain, as the release zip ships it.

use crate::targets::{self, Bundle, Target, Toolchain};
use crate::{apple, cmd, gdextension, notices, toolchains};
use std::path::{Path, PathBuf};

const USAGE: &str = "usage: cargo xtask addon [--debug] [--target <triple>]...";

pub fn run(args: &[String]) -> Result<(), String> {
    let mut release = true;
    let mut chosen: Vec<&'static Target> = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--debug" => release = false,
            "--target" => {
                let triple = iter.next().ok_or("--target needs a target triple")?;
                chosen.push(targets::find(triple)?);
            }
            other => return Err(format!("addon: unexpected argument {other:?}\n{USAGE}")),
        }
    }
    let dir = if chosen.is_empty() {
        build_and_stage_profile(release)?
    } else {
        stage_targets(&chosen, release)?
    };
    eprintln!("addon staged in {}", dir.display());
    Ok(())
}

/// `addons/webrtc_rs/` in the repository.
pub fn addon_dir() -> PathBuf {
    cmd::workspace_root().join("addons").join("webrtc_rs")
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cmd::workspace_root().join("target"))
}

fn profile_dir(release: bool) -> &'static str {
    if release {
        "release"
    } else {
        "debug"
    }
}

/// Builds the release library for this machine with plain cargo, stages it and writes the
/// generated files; returns the addon dir.
pub fn build_and_stage() -> Result<PathBuf, String> {
    build_and_stage_profile(true)
}

fn build_and_stage_profile(release: bool) -> Result<PathBuf, String> {
    let host = targets::host().ok_or_else(|| {
        format!(
            "no addon library name for this machine ({}/{})",
            std::env::consts::OS,
            std::env::consts::ARCH
        )
    })?;
    let mut build = cmd::cargo();
    build.args(["build", "--package", "webrtc_rs"]);
    if release {
        build.arg("--release");
    }
    cmd::run(&mut build)?;
    let built = target_dir()
        .join(profile_dir(release))
        .join(targets::built_name(host.triple));
    let addon = addon_dir();
    copy_file(&built, &addon.join(host.file))?;
    write_generated(&addon)?;
    Ok(addon)
}

fn copy_file(from: &Path, to: &Path) -> Result<(), String> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}

/// Builds `triple` with its toolchain; returns the library cargo wrote.
fn build_target(target: &Target, release: bool) -> Result<PathBuf, String> {
    let extra_path = toolchains::prepare(target.triple, target.toolchain)?;
    let mut build = cmd::cargo();
    build.env("PATH", toolchains::path_with(&extra_path)?);
    match target.toolchain {
        Toolchain::Zig { glibc } => {
            build.args([
                "zigbuild",
                "--target",
                &format!("{}.{glibc}", target.triple),
            ]);
        }
        Toolchain::Ndk { abi, api } => {
            build.args([
                "ndk",
                "--target",
                abi,
                "--platform",
                &api.to_string(),
                "build",
            ]);
        }
        Toolchain::Msvc | Toolchain::Mingw => {
            // The C runtime (and for MinGW libgcc and winpthreads) linked in: the DLL needs no
            // Visual C++ redistributable and no MinGW DLL beside it.
            let variable = format!(
                "CARGO_TARGET_{}_RUSTFLAGS",
                target.triple.to_uppercase().replace('-', "_")
            );
            build.env(variable, "-C target-feature=+crt-static");
            build.args(["build", "--target", target.triple]);
        }
        Toolchain::Apple => {
            if target.triple.contains("-apple-ios") {
                build.env("IPHONEOS_DEPLOYMENT_TARGET", apple::IOS_MINIMUM);
            }
            build.args(["build", "--target", target.triple]);
        }
    }
    build.args(["--package", "webrtc_rs"]);
    if release {
        build.arg("--release");
    }
    cmd::run(&mut build)?;
    Ok(target_dir()
        .join(target.triple)
        .join(profile_dir(release))
        .join(targets::built_name(target.triple)))
}

/// The files `chosen` makes, in order; `Err` when two of them are alternatives for one file or
/// a bundle is asked for in part.
fn files_of(chosen: &[&'static Target]) -> Result<Vec<&'static str>, String> {
    let mut files: Vec<&'static str> = Vec::new();
    for target in chosen {
        if !files.contains(&target.file) {
            files.push(target.file);
        }
    }
    for file in &files {
        let rows: Vec<&Target> = chosen.iter().copied().filter(|t| t.file == *file).collect();
        let triples: Vec<&str> = rows.iter().map(|t| t.triple).collect();
        if rows[0].bundle == Bundle::Library && rows.len() > 1 {
            return Err(format!(
                "{} are alternatives for {file}: choose one",
                triples.join(" and ")
            ));
        }
        let parts: Vec<&str> = targets::TARGETS
            .iter()
            .filter(|t| t.file == *file)
            .map(|t| t.triple)
            .collect();
        if rows[0].bundle != Bundle::Library && triples.len() != parts.len() {
            return Err(format!(
                "{file} is built from {} together (asked for {})",
                parts.join(" and "),
                triples.join(" and ")
            ));
        }
    }
    Ok(files)
}

/// Builds each of `chosen` and stages it under its table name (Apple targets joined into their
/// bundles), then writes the generated files; returns the addon dir.
pub fn stage_targets(chosen: &[&'static Target], release: bool) -> Result<PathBuf, String> {
    for target in chosen {
        if !targets::buildable_here(target.toolchain) {
            return Err(format!(
                "{} is built on {}, not on this machine",
                target.triple,
                targets::where_built(target.toolchain)
            ));
        }
    }
    let files = files_of(chosen)?;
    let mut built: Vec<(&Target, PathBuf)> = Vec::new();
    for target in chosen {
        built.push((target, build_target(target, release)?));
    }
    let addon = addon_dir();
    let version = env!("CARGO_PKG_VERSION");
    for file in files {
        let parts: Vec<&(&Target, PathBuf)> =
            built.iter().filter(|(t, _)| t.file == file).collect();
        let dest = addon.join(file);
        match parts[0].0.bundle {
            Bundle::Library => copy_file(&parts[0].1, &dest)?,
            Bundle::MacFramework => {
                let binaries: Vec<PathBuf> = parts.iter().map(|(_, path)| path.clone()).collect();
                apple::mac_framework(&dest, &binaries, version)?;
            }
            Bundle::IosXcframework => {
                let slices: Vec<(PathBuf, bool)> = parts
                    .iter()
                    .map(|(t, path)| (path.clone(), t.triple.ends_with("-sim")))
                    .collect();
                let work = target_dir().join("apple-bundles");
                apple::ios_xcframework(&dest, &slices, &work, version)?;
            }
        }
    }
    write_generated(&addon)?;
    Ok(addon)
}

/// The table's files present in `addon` (the libraries a package or a `.gdextension` lists).
pub fn present_files(addon: &Path) -> Vec<&'static str> {
    let mut files: Vec<&'static str> = Vec::new();
    for target in targets::TARGETS {
        if !files.contains(&target.file) && addon.join(target.file).exists() {
            files.push(target.file);
        }
    }
    files
}

/// Writes `webrtc_rs.gdextension` and `THIRD_PARTY_LICENSES.txt` for the libraries in `addon`.
pub fn write_generated(addon: &Path) -> Result<(), String> {
    let files = present_files(addon);
    let text = gdextension::render(env!("CARGO_PKG_VERSION"), |file| files.contains(&file));
    let path = addon.join(gdextension::FILE_NAME);
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let triples: Vec<&str> = targets::TARGETS
        .iter()
        .filter(|t| files.contains(&t.file))
        .map(|t| t.triple)
        .collect();
    let mut text = notices::render(&triples)?;
    for file in &files {
        if let Some(runtime) = notices::mingw_runtime(&addon.join(file), file)? {
            text.push_str(&runtime);
        }
    }
    let path = addon.join(notices::FILE_NAME);
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(triples: &[&str]) -> Vec<&'static Target> {
        triples
            .iter()
            .map(|t| targets::find(t).expect("in the table"))
            .collect()
    }

    #[test]
    fn alternatives_and_half_bundles_are_refused() {
        let both_windows = rows(&["x86_64-pc-windows-gnu", "x86_64-pc-windows-msvc"]);
        assert!(files_of(&both_windows).is_err());
        assert!(files_of(&rows(&["aarch64-apple-darwin"])).is_err());
        assert!(files_of(&rows(&["aarch64-apple-ios-sim"])).is_err());
        assert_eq!(
            files_of(&rows(&["x86_64-apple-darwin", "aarch64-apple-darwin"])),
            Ok(vec!["bin/libwebrtc_rs.macos.framework"])
        );
        assert_eq!(
            files_of(&rows(&[
                "x86_64-unknown-linux-gnu",
                "aarch64-unknown-linux-gnu",
                "x86_64-pc-windows-gnu"
            ]))
            .map(|files| files.len()),
            Ok(3)
        );
    }
}
