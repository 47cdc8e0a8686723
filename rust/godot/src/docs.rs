//! Editor help for our classes.
//!
//! gdext's `register-docs` feature needs the 4.3 API, which would raise the minimum Godot
//! version. Instead we ship the class reference as XML and hand it to Godot's
//! `editor_help_load_xml_from_utf8_chars_and_len` when the running engine has that function
//! (4.3 and later); on 4.2 the lookup returns null and the help is simply not shown.

use std::ffi::{c_char, CStr};
use std::sync::OnceLock;

type GetProcAddress = godot::sys::GDExtensionInterfaceGetProcAddress;
type LoadXml = unsafe extern "C" fn(*const c_char, godot::sys::GDExtensionInt);

static GET_PROC_ADDRESS: OnceLock<GetProcAddress> = OnceLock::new();

const XML: [&str; 2] = [
    include_str!("../doc/WebRtcRsPeerConnection.xml"),
    include_str!("../doc/WebRtcRsDataChannel.xml"),
];

pub fn remember_get_proc_address(get_proc_address: GetProcAddress) {
    let _ = GET_PROC_ADDRESS.set(get_proc_address);
}

/// Loads the class reference into the editor help (editor stage, main thread).
pub fn load_editor_help() {
    let Some(Some(get_proc_address)) = GET_PROC_ADDRESS.get().copied() else {
        return;
    };
    let name: &CStr = c"editor_help_load_xml_from_utf8_chars_and_len";
    // SAFETY: `get_proc_address` is Godot's lookup function, valid for the library's lifetime.
    let Some(function) = (unsafe { get_proc_address(name.as_ptr()) }) else {
        tracing::debug!("this Godot version cannot load extension docs; editor help skipped");
        return;
    };
    // SAFETY: Godot documents this symbol with exactly the `LoadXml` signature.
    let load: LoadXml = unsafe { std::mem::transmute::<unsafe extern "C" fn(), LoadXml>(function) };
    for xml in XML {
        let Ok(len) = godot::sys::GDExtensionInt::try_from(xml.len()) else {
            continue;
        };
        // SAFETY: valid UTF-8 of the given length; Godot copies it.
        unsafe { load(xml.as_ptr().cast(), len) };
    }
    tracing::debug!("editor help loaded for {} classes", XML.len());
}
