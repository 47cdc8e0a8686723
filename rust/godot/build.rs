//! Export only the GDExtension entry point from the shared library, so our symbols cannot clash
//! with other extensions loaded in the same process (a known crash cause for C++ extensions).
//!
//! rustc already limits a cdylib's exports to `#[no_mangle]` functions, and `gdext_rust_init`
//! is our only one; the GNU version script makes that explicit for Linux and Android (checked
//! with `nm -D --defined-only`). On Apple targets rustc passes its own exported-symbols list,
//! and on Windows only `#[no_mangle]` functions are exported, so nothing is added there.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=exports/gnu.map");
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(os.as_str(), "linux" | "android" | "freebsd") {
        let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
        let script = dir.join("exports").join("gnu.map");
        println!(
            "cargo:rustc-cdylib-link-arg=-Wl,--version-script={}",
            script.display()
        );
    }
}
