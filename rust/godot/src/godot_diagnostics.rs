//! Registration of what the diagnostics add to Godot beyond the classes: the
//! `ConnectionErrorReason` enum constants of `WebRtcRsPeerConnection` and the custom monitors.

use crate::diagnostics::reason_constants;
use crate::monitors::{Monitors, MONITORS};
use crate::peer_connection::WebRtcRsPeerConnection;
use godot::builtin::{Callable, StringName};
use godot::classes::Performance;
use godot::obj::{GodotClass, Singleton};
// gdext's `#[constant]` registers plain integer constants; grouping them in an enum (so the
// editor help and `ClassDB.class_get_integer_constant_enum` show `ConnectionErrorReason`)
// needs the registration call its macros use (godot-core is pinned to one version).
use godot::register::private::constant::{ConstantKind, ExportConstant, IntegerConstant};
use std::sync::Mutex;
use std::time::Instant;

pub const REASON_ENUM: &str = "ConnectionErrorReason";

/// Registers `WebRtcRsPeerConnection.ConnectionErrorReason` (scene stage, after the class).
pub fn register_reason_enum() {
    let enumerators = reason_constants()
        .iter()
        .map(|(name, value)| IntegerConstant::new(name, *value))
        .collect();
    ExportConstant::new(
        WebRtcRsPeerConnection::class_id(),
        ConstantKind::Enum {
            name: StringName::from(REASON_ENUM),
            enumerators,
        },
    )
    .register();
}

/// The monitors' rate meters. Godot calls monitors on the main thread; the lock only guards
/// against a script asking from another one.
static STATE: Mutex<Monitors> = Mutex::new(Monitors::new());

/// Adds the `WebRTC/...` monitors (scene stage).
pub fn add_monitors() {
    let mut performance = Performance::singleton();
    for (id, monitor) in MONITORS {
        if performance.has_custom_monitor(id) {
            continue;
        }
        let callable = Callable::from_fn(id, move |_args| {
            let totals = webrtc_rs_engine::process_totals();
            STATE
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .value(monitor, Instant::now(), &totals)
        });
        performance.add_custom_monitor(id, &callable);
    }
}

/// Removes them again (scene deinit: their callables point into this library).
pub fn remove_monitors() {
    let mut performance = Performance::singleton();
    for (id, _) in MONITORS {
        if performance.has_custom_monitor(id) {
            performance.remove_custom_monitor(id);
        }
    }
}
