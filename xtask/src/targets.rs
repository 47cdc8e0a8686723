//! The one table of what the addon ships: each Rust target, how it is built, and the file the
//! `.gdextension` lists for it. Everything else (`addon --target`, `package`, the generated
//! `.gdextension`, the zip check, the release workflow) reads this table.

/// How a target is compiled and linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toolchain {
    /// cargo-zigbuild with zig from PyPI, linked against this glibc version: the library loads
    /// on every distribution with that glibc or newer.
    Zig { glibc: &'static str },
    /// Debian's mingw-w64 as the linker, everything static: the DLL imports system DLLs only.
    Mingw,
    /// Visual Studio's linker with the C runtime linked in (`+crt-static`); Windows hosts only.
    Msvc,
    /// cargo-ndk and the Android NDK (`$ANDROID_NDK_HOME`) at this API level.
    Ndk { abi: &'static str, api: u32 },
    /// Xcode's toolchain; macOS hosts only.
    Apple,
}

/// What the built library becomes under `bin/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bundle {
    /// The library itself, renamed to the listed file.
    Library,
    /// A macOS framework: every macOS architecture built joined into one binary with `lipo`,
    /// an Info.plist, ad-hoc signed.
    MacFramework,
    /// An iOS xcframework holding one framework per slice (device, simulator).
    IosXcframework,
}

#[derive(Debug)]
pub struct Target {
    pub triple: &'static str,
    /// The feature tags of the `.gdextension` key, e.g. `linux.x86_64`.
    pub godot: &'static str,
    /// The path the `.gdextension` lists, relative to the addon folder.
    pub file: &'static str,
    pub toolchain: Toolchain,
    pub bundle: Bundle,
}

/// The newest glibc the Linux libraries may need: 2.28 is Debian 10, Ubuntu 18.10 and RHEL 8.
pub const GLIBC_FLOOR: &str = "2.28";
/// The Android API level the libraries are built for (Android 7.0).
pub const ANDROID_API: u32 = 24;

const fn row(
    triple: &'static str,
    godot: &'static str,
    file: &'static str,
    toolchain: Toolchain,
    bundle: Bundle,
) -> Target {
    Target {
        triple,
        godot,
        file,
        toolchain,
        bundle,
    }
}

/// Every target. Two rows may list the same file when they are alternatives (the Windows
/// x86_64 DLL from MinGW here, from MSVC in the release workflow) or parts of one bundle (the
/// architectures of the macOS framework, the slices of the iOS xcframework).
pub const TARGETS: &[Target] = &[
    row(
        "x86_64-unknown-linux-gnu",
        "linux.x86_64",
        "bin/libwebrtc_rs.linux.x86_64.so",
        Toolchain::Zig { glibc: GLIBC_FLOOR },
        Bundle::Library,
    ),
    row(
        "aarch64-unknown-linux-gnu",
        "linux.arm64",
        "bin/libwebrtc_rs.linux.arm64.so",
        Toolchain::Zig { glibc: GLIBC_FLOOR },
        Bundle::Library,
    ),
    row(
        "x86_64-pc-windows-gnu",
        "windows.x86_64",
        "bin/webrtc_rs.windows.x86_64.dll",
        Toolchain::Mingw,
        Bundle::Library,
    ),
    row(
        "x86_64-pc-windows-msvc",
        "windows.x86_64",
        "bin/webrtc_rs.windows.x86_64.dll",
        Toolchain::Msvc,
        Bundle::Library,
    ),
    row(
        "aarch64-pc-windows-msvc",
        "windows.arm64",
        "bin/webrtc_rs.windows.arm64.dll",
        Toolchain::Msvc,
        Bundle::Library,
    ),
    row(
        "x86_64-apple-darwin",
        "macos",
        "bin/libwebrtc_rs.macos.framework",
        Toolchain::Apple,
        Bundle::MacFramework,
    ),
    row(
        "aarch64-apple-darwin",
        "macos",
        "bin/libwebrtc_rs.macos.framework",
        Toolchain::Apple,
        Bundle::MacFramework,
    ),
    row(
        "aarch64-apple-ios",
        "ios",
        "bin/libwebrtc_rs.ios.xcframework",
        Toolchain::Apple,
        Bundle::IosXcframework,
    ),
    row(
        "aarch64-apple-ios-sim",
        "ios",
        "bin/libwebrtc_rs.ios.xcframework",
        Toolchain::Apple,
        Bundle::IosXcframework,
    ),
    row(
        "aarch64-linux-android",
        "android.arm64",
        "bin/libwebrtc_rs.android.arm64.so",
        Toolchain::Ndk {
            abi: "arm64-v8a",
            api: ANDROID_API,
        },
        Bundle::Library,
    ),
    row(
        "x86_64-linux-android",
        "android.x86_64",
        "bin/libwebrtc_rs.android.x86_64.so",
        Toolchain::Ndk {
            abi: "x86_64",
            api: ANDROID_API,
        },
        Bundle::Library,
    ),
];

pub fn find(triple: &str) -> Result<&'static Target, String> {
    TARGETS.iter().find(|t| t.triple == triple).ok_or_else(|| {
        let known: Vec<&str> = TARGETS.iter().map(|t| t.triple).collect();
        format!("unknown target {triple:?}; known: {}", known.join(", "))
    })
}

/// The row for a file listed in a `.gdextension` (the first, when rows are alternatives).
pub fn for_file(file: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.file == file)
}

/// The row a plain `cargo build` on this machine produces, if the table has one.
pub fn host() -> Option<&'static Target> {
    let triple = match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "x86_64-unknown-linux-gnu",
        ("linux", "aarch64") => "aarch64-unknown-linux-gnu",
        ("windows", "x86_64") => "x86_64-pc-windows-msvc",
        ("windows", "aarch64") => "aarch64-pc-windows-msvc",
        ("macos", "x86_64") => "x86_64-apple-darwin",
        ("macos", "aarch64") => "aarch64-apple-darwin",
        _ => return None,
    };
    find(triple).ok()
}

/// Whether this machine can build `toolchain` (`cargo xtask package` builds those).
pub fn buildable_here(toolchain: Toolchain) -> bool {
    let os = std::env::consts::OS;
    match toolchain {
        Toolchain::Zig { .. } => os == "linux" || os == "macos",
        Toolchain::Mingw => os == "linux",
        Toolchain::Msvc => os == "windows",
        Toolchain::Apple => os == "macos",
        Toolchain::Ndk { .. } => crate::toolchains::android_ndk().is_some(),
    }
}

/// Where `toolchain` builds, for error messages.
pub fn where_built(toolchain: Toolchain) -> &'static str {
    match toolchain {
        Toolchain::Zig { .. } => "Linux or macOS",
        Toolchain::Mingw => "Linux",
        Toolchain::Msvc => "Windows",
        Toolchain::Apple => "macOS",
        Toolchain::Ndk { .. } => "a machine with the Android NDK in $ANDROID_NDK_HOME",
    }
}

/// The file cargo writes for the `webrtc_rs` cdylib on `triple`.
pub fn built_name(triple: &str) -> &'static str {
    if triple.contains("-windows-") {
        "webrtc_rs.dll"
    } else if triple.contains("-apple-") {
        "libwebrtc_rs.dylib"
    } else {
        "libwebrtc_rs.so"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn rows_sharing_a_file_share_the_godot_key_and_bundle() {
        let mut by_file: BTreeMap<&str, &Target> = BTreeMap::new();
        for target in TARGETS {
            if let Some(first) = by_file.insert(target.file, target) {
                assert_eq!(first.godot, target.godot, "{}", target.file);
                assert_eq!(first.bundle, target.bundle, "{}", target.file);
            }
        }
    }

    #[test]
    fn every_file_lies_under_bin_and_every_triple_is_listed_once() {
        let mut triples: Vec<&str> = TARGETS.iter().map(|t| t.triple).collect();
        triples.sort_unstable();
        triples.dedup();
        assert_eq!(triples.len(), TARGETS.len());
        for target in TARGETS {
            assert!(target.file.starts_with("bin/"), "{}", target.file);
            assert!(
                !target.file["bin/".len()..].contains('/'),
                "{}",
                target.file
            );
        }
    }

    #[test]
    fn the_macos_bundle_does_not_claim_universal() {
        for target in TARGETS.iter().filter(|t| t.godot == "macos") {
            assert!(!target.file.contains("universal"), "{}", target.file);
            assert_eq!(target.bundle, Bundle::MacFramework);
        }
    }
}
