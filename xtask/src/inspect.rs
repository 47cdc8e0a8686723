//! `cargo xtask check-package <zip>`: what a user downloads, checked as they would meet it.
//!
//! The layout is `addons/webrtc_rs/{webrtc_rs.gdextension, LICENSE-MIT, LICENSE-APACHE,
//! THIRD_PARTY_LICENSES.txt, bin/...}` and nothing else; the `.gdextension` lists exactly the
//! files under `bin/`, each under the key the target table gives it; and each library is what
//! its row promises: ELF libraries export the entry symbol only and the Linux ones need no
//! glibc newer than the floor (readelf); DLLs export the entry symbol only and import system
//! DLLs only (objdump -p); the macOS framework holds both architectures.

use crate::gdextension::{self, ENTRY_SYMBOL};
use crate::notices;
use crate::targets::{self, Bundle, Target, Toolchain};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const PREFIX: &str = "addons/webrtc_rs/";
pub const TOP_FILES: [&str; 4] = [
    gdextension::FILE_NAME,
    "LICENSE-MIT",
    "LICENSE-APACHE",
    notices::FILE_NAME,
];

/// DLLs every Windows install has. Anything else (libgcc_s_seh-1.dll, libwinpthread-1.dll,
/// vcruntime140.dll, ...) would have to be shipped beside ours, and is not.
const SYSTEM_DLLS: [&str; 12] = [
    "kernel32.dll",
    "ntdll.dll",
    "ws2_32.dll",
    "bcrypt.dll",
    "bcryptprimitives.dll",
    "advapi32.dll",
    "userenv.dll",
    "iphlpapi.dll",
    "secur32.dll",
    "crypt32.dll",
    "msvcrt.dll",
    "ole32.dll",
];

pub fn run(args: &[String]) -> Result<(), String> {
    match args {
        [zip] => check_zip(Path::new(zip)),
        _ => Err("usage: cargo xtask check-package <zip>".into()),
    }
}

fn tool_output(command: &mut Command) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    if !output.status.success() {
        return Err(format!(
            "{:?} {:?} failed: {}",
            command.get_program(),
            command.get_args().collect::<Vec<_>>(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Checks the zip at `zip`; `Err` lists every problem found.
pub fn check_zip(zip: &Path) -> Result<(), String> {
    let listing = tool_output(Command::new("unzip").arg("-Z1").arg(zip))?;
    let entries: Vec<&str> = listing.lines().filter(|l| !l.ends_with('/')).collect();
    let work = crate::addon::target_dir().join("package-check");
    if work.exists() {
        std::fs::remove_dir_all(&work)
            .map_err(|e| format!("cannot remove {}: {e}", work.display()))?;
    }
    tool_output(
        Command::new("unzip")
            .arg("-q")
            .arg(zip)
            .arg("-d")
            .arg(&work),
    )?;
    let addon = work.join(PREFIX);
    let mut problems = check_layout(&entries, &addon);
    if problems.is_empty() {
        eprintln!("{}: layout and .gdextension check out", zip.display());
    }
    let listed = match read_listing(&addon) {
        Ok(listed) => listed,
        Err(problem) => {
            problems.push(problem);
            Vec::new()
        }
    };
    let notices_text = std::fs::read_to_string(addon.join(notices::FILE_NAME)).unwrap_or_default();
    for (_, file) in &listed {
        if let Some(target) = targets::for_file(file) {
            match check_library(target, &addon.join(file)) {
                Ok(summary) => eprintln!("  {file}: {summary}"),
                Err(problem) => problems.push(format!("{file}: {problem}")),
            }
        }
        let path = addon.join(file);
        if path.is_file()
            && notices::linked_by_mingw(&path).unwrap_or(false)
            && !notices_text.contains(notices::MINGW_SECTION)
        {
            problems.push(format!(
                "{file} holds the mingw-w64 runtime, whose notices {} lacks",
                notices::FILE_NAME
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} is not a good release:\n  {}",
            zip.display(),
            problems.join("\n  ")
        ))
    }
}

fn read_listing(addon: &Path) -> Result<Vec<(String, String)>, String> {
    let path = addon.join(gdextension::FILE_NAME);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(gdextension::parse(&text)?.libraries)
}

/// The zip's entries against its `.gdextension`: every top file there, every listed library
/// there under the table's key, nothing else.
pub fn check_layout(entries: &[&str], addon: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for entry in entries {
        if !entry.starts_with(PREFIX) {
            problems.push(format!("{entry} lies outside {PREFIX}"));
        }
    }
    for top in TOP_FILES {
        if !entries.contains(&format!("{PREFIX}{top}").as_str()) {
            problems.push(format!("{PREFIX}{top} is missing"));
        }
    }
    let parsed = match std::fs::read_to_string(addon.join(gdextension::FILE_NAME))
        .map_err(|e| e.to_string())
        .and_then(|text| gdextension::parse(&text))
    {
        Ok(parsed) => parsed,
        Err(e) => {
            problems.push(format!("the .gdextension cannot be read: {e}"));
            return problems;
        }
    };
    if parsed.entry_symbol.as_deref() != Some(ENTRY_SYMBOL) {
        problems.push(format!(
            "entry_symbol is {:?}, the libraries export {ENTRY_SYMBOL}",
            parsed.entry_symbol
        ));
    }
    if parsed.libraries.is_empty() {
        problems.push("the .gdextension lists no library".into());
    }
    for (key, file) in &parsed.libraries {
        match targets::for_file(file) {
            None => problems.push(format!("{key} lists {file}, which no target produces")),
            Some(target) if target.godot != *key => problems.push(format!(
                "{file} is listed under {key}, the table says {}",
                target.godot
            )),
            Some(_) => {}
        }
        let inside = format!("{PREFIX}{file}");
        let bundle_prefix = format!("{inside}/");
        if !entries
            .iter()
            .any(|e| *e == inside || e.starts_with(&bundle_prefix))
        {
            problems.push(format!("{key} lists {file}, which the zip does not hold"));
        }
    }
    for entry in entries {
        let Some(rest) = entry.strip_prefix(PREFIX) else {
            continue;
        };
        if TOP_FILES.contains(&rest) {
            continue;
        }
        let listed = parsed
            .libraries
            .iter()
            .any(|(_, file)| rest == file || rest.starts_with(&format!("{file}/")));
        if !listed {
            problems.push(format!("{entry} is not listed in the .gdextension"));
        }
    }
    problems
}

/// Checks one listed library by what its row promises; returns a one-line summary.
fn check_library(target: &Target, path: &Path) -> Result<String, String> {
    match (target.bundle, target.toolchain) {
        (Bundle::MacFramework, _) => check_mac_framework(path),
        (Bundle::IosXcframework, _) => check_xcframework(path),
        (_, Toolchain::Mingw | Toolchain::Msvc) => check_dll(target, path),
        (_, Toolchain::Zig { glibc }) => check_elf(target, path, Some(glibc)),
        (_, Toolchain::Ndk { .. }) => check_elf(target, path, None),
        (_, Toolchain::Apple) => Err("an Apple target must be a bundle".into()),
    }
}

fn arch_of(target: &Target) -> &'static str {
    if target.triple.starts_with("aarch64") {
        "arm64"
    } else {
        "x86_64"
    }
}

/// `(name, defined)` of each dynamic symbol readelf lists, for global and weak bindings.
pub fn parse_dyn_syms(readelf: &str) -> Vec<(String, bool)> {
    let mut symbols = Vec::new();
    for line in readelf.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // Num: Value Size Type Bind Vis Ndx Name
        if fields.len() < 8 || !fields[0].ends_with(':') || fields[0] == "Num:" {
            continue;
        }
        if !matches!(fields[4], "GLOBAL" | "WEAK" | "GNU_UNIQUE") {
            continue;
        }
        let name = fields[7].split('@').next().unwrap_or("").to_string();
        symbols.push((name, fields[6] != "UND"));
    }
    symbols
}

/// Every `GLIBC_x.y[.z]` version an ELF file needs, from `readelf -V`.
pub fn glibc_versions(readelf: &str) -> Vec<String> {
    readelf
        .split_whitespace()
        .filter_map(|word| word.strip_prefix("GLIBC_"))
        .map(str::to_string)
        .collect()
}

fn version_key(version: &str) -> Option<Vec<u32>> {
    version.split('.').map(|part| part.parse().ok()).collect()
}

/// The newest of `versions` if none is newer than `floor`; `Err` names the offender.
pub fn check_glibc_floor(versions: &[String], floor: &str) -> Result<String, String> {
    let floor_key = version_key(floor).ok_or_else(|| format!("bad floor {floor}"))?;
    let mut newest: Option<(Vec<u32>, &str)> = None;
    for version in versions {
        let key = version_key(version)
            .ok_or_else(|| format!("needs GLIBC_{version}, which no glibc release provides"))?;
        if key > floor_key {
            return Err(format!(
                "needs GLIBC_{version}, newer than the floor {floor}"
            ));
        }
        if newest.as_ref().is_none_or(|(k, _)| key > *k) {
            newest = Some((key, version));
        }
    }
    Ok(newest.map_or_else(|| "none".to_string(), |(_, v)| v.to_string()))
}

fn check_elf(target: &Target, path: &Path, glibc_floor: Option<&str>) -> Result<String, String> {
    let header = tool_output(Command::new("readelf").arg("-h").arg("-W").arg(path))?;
    let machine = header
        .lines()
        .find_map(|l| l.trim().strip_prefix("Machine:"))
        .map(str::trim)
        .unwrap_or("");
    let expected = if arch_of(target) == "arm64" {
        "AArch64"
    } else {
        "Advanced Micro Devices X86-64"
    };
    if machine != expected {
        return Err(format!("machine is {machine:?}, expected {expected:?}"));
    }
    let symbols = tool_output(Command::new("readelf").args(["--dyn-syms", "-W"]).arg(path))?;
    let exported: Vec<String> = parse_dyn_syms(&symbols)
        .into_iter()
        .filter(|(_, defined)| *defined)
        .map(|(name, _)| name)
        .collect();
    if exported != [ENTRY_SYMBOL] {
        return Err(format!(
            "exports {exported:?}, expected only {ENTRY_SYMBOL}"
        ));
    }
    let mut summary = format!("ELF {machine}, exports {ENTRY_SYMBOL} only");
    if let Some(floor) = glibc_floor {
        let versions = tool_output(Command::new("readelf").args(["-V", "-W"]).arg(path))?;
        let newest = check_glibc_floor(&glibc_versions(&versions), floor)?;
        summary.push_str(&format!(
            ", newest glibc symbol GLIBC_{newest} (floor {floor})"
        ));
    }
    Ok(summary)
}

/// `(file format, imported DLLs, exported names)` from `objdump -p` of a PE file.
pub fn parse_objdump_pe(text: &str) -> (String, Vec<String>, Vec<String>) {
    let format = text
        .lines()
        .find_map(|l| {
            l.split_once("file format ")
                .map(|(_, f)| f.trim().to_string())
        })
        .unwrap_or_default();
    let imports = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("DLL Name:"))
        .map(|name| name.trim().to_string())
        .collect();
    let mut exports = Vec::new();
    let mut in_names = false;
    for line in text.lines() {
        if line.starts_with("[Ordinal/Name Pointer] Table") {
            in_names = true;
            continue;
        }
        if in_names {
            let trimmed = line.trim();
            if !trimmed.starts_with('[') {
                in_names = false;
                continue;
            }
            if let Some(name) = trimmed.split_whitespace().last() {
                exports.push(name.to_string());
            }
        }
    }
    (format, imports, exports)
}

fn is_system_dll(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SYSTEM_DLLS.contains(&lower.as_str())
        || lower.starts_with("api-ms-win-")
        || lower.starts_with("ext-ms-win-")
}

fn check_dll(target: &Target, path: &Path) -> Result<String, String> {
    let objdump = std::env::var("OBJDUMP").unwrap_or_else(|_| "objdump".into());
    let text = tool_output(Command::new(&objdump).arg("-p").arg(path))
        .map_err(|e| format!("{e} (an arm64 DLL needs an objdump that reads it: set OBJDUMP)"))?;
    let (format, imports, exports) = parse_objdump_pe(&text);
    let expected = if arch_of(target) == "arm64" {
        "pei-aarch64-little"
    } else {
        "pei-x86-64"
    };
    if format != expected {
        return Err(format!("file format {format:?}, expected {expected:?}"));
    }
    let foreign: Vec<&String> = imports.iter().filter(|dll| !is_system_dll(dll)).collect();
    if !foreign.is_empty() {
        return Err(format!("imports non-system DLLs {foreign:?}"));
    }
    if exports != [ENTRY_SYMBOL] {
        return Err(format!("exports {exports:?}, expected only {ENTRY_SYMBOL}"));
    }
    let mut distinct: Vec<String> = imports.iter().map(|i| i.to_ascii_lowercase()).collect();
    distinct.sort();
    distinct.dedup();
    Ok(format!(
        "{format}, exports {ENTRY_SYMBOL} only, imports {}",
        distinct.join(" ")
    ))
}

/// Mach-O CPU types in a fat (universal) binary's header, or of a thin binary.
pub fn macho_cpu_types(bytes: &[u8]) -> Result<Vec<u32>, String> {
    let word = |at: usize, big: bool| -> Result<u32, String> {
        let raw: [u8; 4] = bytes
            .get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or("truncated Mach-O header")?;
        Ok(if big {
            u32::from_be_bytes(raw)
        } else {
            u32::from_le_bytes(raw)
        })
    };
    match word(0, true)? {
        0xCAFE_BABE => {
            let count = word(4, true)? as usize;
            if count > 16 {
                return Err(format!("{count} architectures in a fat header"));
            }
            (0..count).map(|i| word(8 + i * 20, true)).collect()
        }
        0xCFFA_EDFE => Ok(vec![word(4, false)?]),
        other => Err(format!("not a Mach-O file (magic {other:#010x})")),
    }
}

const CPU_X86_64: u32 = 0x0100_0007;
const CPU_ARM64: u32 = 0x0100_000C;

fn framework_binary(framework: &Path) -> Result<(PathBuf, Vec<u32>), String> {
    let stem = crate::apple::bundle_stem(framework)?;
    let binary = framework.join(&stem);
    let bytes =
        std::fs::read(&binary).map_err(|e| format!("cannot read {}: {e}", binary.display()))?;
    let plist = [
        framework.join("Resources").join("Info.plist"),
        framework.join("Info.plist"),
    ]
    .into_iter()
    .find(|p| p.exists())
    .ok_or("no Info.plist")?;
    let text = std::fs::read_to_string(&plist).map_err(|e| e.to_string())?;
    if !text.contains(&format!("<string>{stem}</string>")) {
        return Err(format!("{} does not name {stem}", plist.display()));
    }
    Ok((binary, macho_cpu_types(&bytes)?))
}

fn check_mac_framework(path: &Path) -> Result<String, String> {
    let (_, cpus) = framework_binary(path)?;
    if !(cpus.contains(&CPU_X86_64) && cpus.contains(&CPU_ARM64)) {
        return Err(format!(
            "the macOS binary must hold x86_64 and arm64, it holds CPU types {cpus:x?}"
        ));
    }
    Ok("macOS framework, x86_64 + arm64".into())
}

fn check_xcframework(path: &Path) -> Result<String, String> {
    let stem = crate::apple::bundle_stem(path)?;
    if !path.join("Info.plist").exists() {
        return Err("no Info.plist".into());
    }
    let mut slices = Vec::new();
    for entry in std::fs::read_dir(path)
        .map_err(|e| e.to_string())?
        .flatten()
    {
        let framework = entry.path().join(format!("{stem}.framework"));
        if framework.is_dir() {
            let (_, cpus) = framework_binary(&framework)?;
            if !cpus.contains(&CPU_ARM64) {
                return Err(format!("{} holds no arm64", framework.display()));
            }
            slices.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    slices.sort();
    if !slices.iter().any(|s| s == "ios-arm64") {
        return Err(format!("no device slice (ios-arm64) among {slices:?}"));
    }
    Ok(format!("iOS xcframework, slices {}", slices.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PE: &str = "
webrtc_rs.dll:     file format pei-x86-64

The Import Tables (interpreted .idata section contents)
 vma:            Hint    Time      Forward  DLL       First
                 Table   Stamp     Chain    Name      Thunk
 00a0c000	00a0c0a0 00000000 00000000 00a0d1c8 00a0c6f0

	DLL Name: KERNEL32.dll
	vma:  Hint/Ord Member-Name Bound-To
	a0ccd0	  123  CloseHandle

	DLL Name: libgcc_s_seh-1.dll
	vma:  Hint/Ord Member-Name Bound-To

[Ordinal/Name Pointer] Table -- Ordinal Base 1
	[   0] +base[   1]  0000 gdext_rust_init

The Function Table (interpreted .pdata section contents)
";

    #[test]
    fn objdump_pe_output_gives_imports_and_exports() {
        let (format, imports, exports) = parse_objdump_pe(PE);
        assert_eq!(format, "pei-x86-64");
        assert_eq!(imports, ["KERNEL32.dll", "libgcc_s_seh-1.dll"]);
        assert_eq!(exports, [ENTRY_SYMBOL]);
        assert!(is_system_dll("KERNEL32.dll"));
        assert!(is_system_dll("api-ms-win-core-synch-l1-2-0.dll"));
        assert!(!is_system_dll("libgcc_s_seh-1.dll"));
        assert!(!is_system_dll("libwinpthread-1.dll"));
        assert!(!is_system_dll("VCRUNTIME140.dll"));
    }

    #[test]
    fn readelf_symbols_split_into_defined_and_needed() {
        let text = "
Symbol table '.dynsym' contains 3 entries:
   Num:    Value          Size Type    Bind   Vis      Ndx Name
     0: 0000000000000000     0 NOTYPE  LOCAL  DEFAULT  UND 
     1: 0000000000000000     0 FUNC    GLOBAL DEFAULT  UND memcpy@GLIBC_2.14 (3)
     2: 00000000000a1b20    94 FUNC    GLOBAL DEFAULT   12 gdext_rust_init
";
        assert_eq!(
            parse_dyn_syms(text),
            [
                ("memcpy".to_string(), false),
                ("gdext_rust_init".to_string(), true)
            ]
        );
    }

    #[test]
    fn the_glibc_floor_compares_versions_as_numbers() {
        let text = "Version needs section '.gnu.version_r' contains 1 entry:
 Addr: 0x0  Offset: 0x00 Link: 5 (.dynstr)
  000000: Version: 1  File: libc.so.6  Cnt: 3
  0x0010:   Name: GLIBC_2.2.5  Flags: none  Version: 4
  0x0020:   Name: GLIBC_2.28  Flags: none  Version: 3
  0x0030:   Name: GLIBC_2.3  Flags: none  Version: 2";
        let versions = glibc_versions(text);
        assert_eq!(versions, ["2.2.5", "2.28", "2.3"]);
        assert_eq!(check_glibc_floor(&versions, "2.28"), Ok("2.28".to_string()));
        assert!(check_glibc_floor(&["2.34".to_string()], "2.28").is_err());
        assert!(check_glibc_floor(&["PRIVATE".to_string()], "2.28").is_err());
    }

    #[test]
    fn a_fat_mach_o_header_lists_both_architectures() {
        let mut fat = vec![0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 2];
        for cpu in [CPU_X86_64, CPU_ARM64] {
            fat.extend_from_slice(&cpu.to_be_bytes());
            fat.extend_from_slice(&[0; 16]);
        }
        assert_eq!(macho_cpu_types(&fat), Ok(vec![CPU_X86_64, CPU_ARM64]));
        let mut thin = vec![0xCF, 0xFA, 0xED, 0xFE];
        thin.extend_from_slice(&CPU_ARM64.to_le_bytes());
        assert_eq!(macho_cpu_types(&thin), Ok(vec![CPU_ARM64]));
        assert!(macho_cpu_types(b"\x7fELF\x02\x01\x01\x00").is_err());
    }

    fn layout_of(entries: &[&str], gdextension: &str) -> Vec<String> {
        let dir = std::env::temp_dir().join(format!("webrtc-rs-layout-{}", std::process::id()));
        let addon = dir.join(PREFIX);
        std::fs::create_dir_all(&addon).expect("temp dir");
        std::fs::write(addon.join(gdextension::FILE_NAME), gdextension).expect("write");
        let problems = check_layout(entries, &addon);
        let _ = std::fs::remove_dir_all(&dir);
        problems
    }

    #[test]
    fn the_layout_check_catches_missing_and_unlisted_files() {
        let listing = gdextension::render("0.1.0", |f| f == "bin/libwebrtc_rs.linux.x86_64.so");
        let good = [
            "addons/webrtc_rs/webrtc_rs.gdextension",
            "addons/webrtc_rs/LICENSE-MIT",
            "addons/webrtc_rs/LICENSE-APACHE",
            "addons/webrtc_rs/THIRD_PARTY_LICENSES.txt",
            "addons/webrtc_rs/bin/libwebrtc_rs.linux.x86_64.so",
        ];
        assert_eq!(layout_of(&good, &listing), Vec::<String>::new());

        let missing_library = &good[..4];
        assert_eq!(layout_of(missing_library, &listing).len(), 1);

        let mut extra = good.to_vec();
        extra.push("addons/webrtc_rs/bin/libwebrtc_rs.linux.arm64.so");
        extra.push("README.md");
        assert_eq!(
            layout_of(&extra, &listing).len(),
            2,
            "{:?}",
            layout_of(&extra, &listing)
        );

        let no_licence: Vec<&str> = good
            .iter()
            .copied()
            .filter(|e| !e.ends_with("MIT"))
            .collect();
        assert_eq!(layout_of(&no_licence, &listing).len(), 1);
    }
}
