//! Apple bundles (macOS hosts only; this machine cannot run them): the macOS framework joins
//! the built architectures with `lipo`; the iOS xcframework holds a framework per slice
//! (device, simulator). Each framework has an Info.plist and is ad-hoc signed; a game's export
//! signs it again with the developer's identity.
//!
//! The binary inside `<name>.framework` is called `<name>`: Godot loads that file when the
//! bundle's Info.plist cannot be read, so the framework loads either way.

use crate::cmd;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Which Apple platform a framework is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    MacOs,
    Ios { simulator: bool },
}

/// Minimum OS versions written into the Info.plist; the Rust targets' own minimums are lower
/// or equal (the arm64 simulator's is higher, which only matters on a Mac).
const MACOS_MINIMUM: &str = "10.13";
pub const IOS_MINIMUM: &str = "12.0";

/// The Info.plist of a framework whose binary is `executable`.
pub fn info_plist(executable: &str, platform: Platform, version: &str) -> String {
    let identifier = format!(
        "org.webrtc-rs.godot.{}",
        executable.replace(['_', '.'], "-")
    );
    let (platform_keys, minimum_key, minimum) = match platform {
        Platform::MacOs => ("MacOSX", "LSMinimumSystemVersion", MACOS_MINIMUM),
        Platform::Ios { simulator: false } => ("iPhoneOS", "MinimumOSVersion", IOS_MINIMUM),
        Platform::Ios { simulator: true } => ("iPhoneSimulator", "MinimumOSVersion", IOS_MINIMUM),
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>CFBundleDevelopmentRegion</key>
	<string>en</string>
	<key>CFBundleExecutable</key>
	<string>{executable}</string>
	<key>CFBundleIdentifier</key>
	<string>{identifier}</string>
	<key>CFBundleInfoDictionaryVersion</key>
	<string>6.0</string>
	<key>CFBundleName</key>
	<string>webrtc_rs</string>
	<key>CFBundlePackageType</key>
	<string>FMWK</string>
	<key>CFBundleShortVersionString</key>
	<string>{version}</string>
	<key>CFBundleVersion</key>
	<string>{version}</string>
	<key>CFBundleSupportedPlatforms</key>
	<array>
		<string>{platform_keys}</string>
	</array>
	<key>{minimum_key}</key>
	<string>{minimum}</string>
</dict>
</plist>
"#
    )
}

/// `bin/libwebrtc_rs.macos.framework` -> `libwebrtc_rs.macos`.
pub fn bundle_stem(path: &Path) -> Result<String, String> {
    path.file_name()
        .map(|name| name.to_string_lossy())
        .and_then(|name| {
            name.strip_suffix(".xcframework")
                .or_else(|| name.strip_suffix(".framework"))
                .map(str::to_string)
        })
        .ok_or_else(|| format!("{} is not a framework path", path.display()))
}

fn fresh_dir(path: &Path) -> Result<(), String> {
    if path.exists() {
        std::fs::remove_dir_all(path)
            .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
    }
    std::fs::create_dir_all(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Builds `framework` (a `.framework` folder) from one binary per architecture.
fn framework(
    framework: &Path,
    binaries: &[PathBuf],
    platform: Platform,
    version: &str,
) -> Result<(), String> {
    let stem = bundle_stem(framework)?;
    fresh_dir(framework)?;
    let binary = framework.join(&stem);
    cmd::run(
        Command::new("lipo")
            .arg("-create")
            .args(binaries)
            .arg("-output")
            .arg(&binary),
    )?;
    // The install name a game's executable records when Xcode links the framework.
    cmd::run(
        Command::new("install_name_tool")
            .arg("-id")
            .arg(format!("@rpath/{stem}.framework/{stem}"))
            .arg(&binary),
    )?;
    let plist_dir = match platform {
        Platform::MacOs => framework.join("Resources"),
        Platform::Ios { .. } => framework.to_path_buf(),
    };
    std::fs::create_dir_all(&plist_dir)
        .map_err(|e| format!("cannot create {}: {e}", plist_dir.display()))?;
    write(
        &plist_dir.join("Info.plist"),
        &info_plist(&stem, platform, version),
    )?;
    // Ad-hoc: the binary first (always possible), then the bundle, which seals the Info.plist.
    cmd::run(
        Command::new("codesign")
            .args(["--force", "--sign", "-"])
            .arg(&binary),
    )?;
    if let Err(e) = cmd::run(
        Command::new("codesign")
            .args(["--force", "--sign", "-"])
            .arg(framework),
    ) {
        eprintln!("note: the bundle itself could not be signed ({e}); its binary is signed");
    }
    // What lipo joined is what the framework claims to hold.
    cmd::run(Command::new("lipo").arg("-info").arg(&binary))
}

/// The macOS framework at `dest` from the libraries built for each macOS architecture.
pub fn mac_framework(dest: &Path, binaries: &[PathBuf], version: &str) -> Result<(), String> {
    framework(dest, binaries, Platform::MacOs, version)
}

/// The iOS xcframework at `dest`: one framework per slice, each from `(library, simulator)`,
/// assembled in `work` first.
pub fn ios_xcframework(
    dest: &Path,
    slices: &[(PathBuf, bool)],
    work: &Path,
    version: &str,
) -> Result<(), String> {
    let stem = bundle_stem(dest)?;
    let mut create = Command::new("xcodebuild");
    create.arg("-create-xcframework");
    for (library, simulator) in slices {
        let slice = work
            .join(if *simulator { "simulator" } else { "device" })
            .join(format!("{stem}.framework"));
        framework(
            &slice,
            std::slice::from_ref(library),
            Platform::Ios {
                simulator: *simulator,
            },
            version,
        )?;
        create.arg("-framework").arg(&slice);
    }
    if dest.exists() {
        std::fs::remove_dir_all(dest)
            .map_err(|e| format!("cannot remove {}: {e}", dest.display()))?;
    }
    cmd::run(create.arg("-output").arg(dest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plist_names_the_binary_inside_the_framework() {
        let stem = bundle_stem(Path::new("bin/libwebrtc_rs.macos.framework")).expect("stem");
        assert_eq!(stem, "libwebrtc_rs.macos");
        let plist = info_plist(&stem, Platform::MacOs, "0.1.0");
        assert!(
            plist.contains("<key>CFBundleExecutable</key>\n\t<string>libwebrtc_rs.macos</string>")
        );
        assert!(plist.contains("<string>MacOSX</string>"));
        // Bundle identifiers allow letters, digits, '-' and '.' only.
        let id = plist
            .split("<key>CFBundleIdentifier</key>\n\t<string>")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .expect("identifier");
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
            "{id}"
        );
    }

    #[test]
    fn the_xcframework_holds_frameworks_of_the_same_name() {
        let stem = bundle_stem(Path::new("bin/libwebrtc_rs.ios.xcframework")).expect("stem");
        assert_eq!(stem, "libwebrtc_rs.ios");
        let plist = info_plist(&stem, Platform::Ios { simulator: true }, "0.1.0");
        assert!(plist.contains("<string>iPhoneSimulator</string>"));
        assert!(plist.contains("<key>MinimumOSVersion</key>"));
    }
}
