//! Library entry: registers the classes (gdext does that per stage), makes ours the default
//! `WebRTCPeerConnection` implementation, routes logs to Godot and loads the editor help.

use crate::docs;
use crate::godot_diagnostics;
use crate::log_bridge::{self, Line, Severity};
use godot::classes::{Os, WebRtcPeerConnection};
use godot::global::{godot_print, godot_warn, print_custom, PrintLevel, PrintRecord, PrintSource};
use godot::init::{ExtensionLibrary, InitStage};
use godot::obj::Singleton;
use godot::prelude::StringName;
use std::sync::atomic::{AtomicBool, Ordering};

struct WebRtcRs;

/// The entry point Godot calls (`entry_symbol = "gdext_rust_init"`). It keeps Godot's
/// `get_proc_address` for the editor-help loader, then hands over to gdext's initialisation.
///
/// Written by hand instead of with `#[gdextension]`: the macro also exports a Linux hot-reload
/// hook (`__cxa_thread_atexit_impl`), and every `#[no_mangle]` symbol ends up in rustc's own
/// export list, which a version script cannot take away. This way the library exports this
/// one symbol only (we are not reloadable, so the hook is not needed).
///
/// # Safety
/// Called by Godot with valid arguments, once, on the main thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gdext_rust_init(
    get_proc_address: godot::sys::GDExtensionInterfaceGetProcAddress,
    library: godot::sys::GDExtensionClassLibraryPtr,
    init: *mut godot::sys::GDExtensionInitialization,
) -> godot::sys::GDExtensionBool {
    docs::remember_get_proc_address(get_proc_address);
    // SAFETY: forwarding Godot's own arguments unchanged.
    unsafe { godot::init::__gdext_load_library::<WebRtcRs>(get_proc_address, library, init) }
}

// SAFETY: the only library entry is `gdext_rust_init` above.
unsafe impl ExtensionLibrary for WebRtcRs {
    fn on_stage_init(stage: InitStage) {
        match stage {
            InitStage::Scene => {
                install_logging();
                // gdext registered this level's classes just before calling us.
                WebRtcPeerConnection::set_default_extension(&StringName::from(
                    "WebRtcRsPeerConnection",
                ));
                godot_diagnostics::register_reason_enum();
                godot_diagnostics::add_monitors();
            }
            InitStage::Editor => docs::load_editor_help(),
            _ => {}
        }
    }

    fn on_stage_deinit(stage: InitStage) {
        if stage == InitStage::Scene {
            godot_diagnostics::remove_monitors();
            // Connections still alive at exit may log from their network threads while Godot
            // tears down; from here on such lines are dropped instead of printed.
            GODOT_LOG_OPEN.store(false, Ordering::Release);
        }
    }
}

/// Whether Godot's print functions may be used (between Scene init and deinit).
static GODOT_LOG_OPEN: AtomicBool = AtomicBool::new(false);

fn install_logging() {
    let verbose = Os::singleton().is_stdout_verbose();
    let env = std::env::var("WEBRTC_RS_LOG").ok();
    GODOT_LOG_OPEN.store(true, Ordering::Release);
    if !log_bridge::install(log_bridge::max_level(verbose, env.as_deref()), to_godot_log) {
        godot_warn!("webrtc_rs: a logger was already installed; engine logs may not reach Godot");
    }
}

/// Thread-safe: Godot's print functions lock internally, and no Godot object is touched.
/// Errors and warnings carry the emitting Rust source location ("at: ...").
fn to_godot_log(line: &Line<'_>) {
    if !GODOT_LOG_OPEN.load(Ordering::Acquire) {
        return;
    }
    let level = match line.severity {
        Severity::Error => PrintLevel::Error,
        Severity::Warning => PrintLevel::Warn,
        Severity::Info => {
            godot_print!("{}", line.text);
            return;
        }
    };
    print_custom(PrintRecord {
        level,
        message: line.text,
        rationale: None,
        source: Some(PrintSource {
            function: line.target,
            file: line.file.unwrap_or("<unknown>"),
            line: line.line.unwrap_or(0),
        }),
        editor_notify: false,
    });
}
