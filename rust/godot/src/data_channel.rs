//! `WebRtcRsDataChannel`: the `WebRTCDataChannel` objects our connections hand out.

use crate::godot_error::{engine_failure, invalid};
use crate::session::{self, SessionChannel};
use godot::classes::web_rtc_data_channel::{ChannelState, WriteMode};
use godot::classes::{IWebRtcDataChannelExtension, WebRtcDataChannelExtension};
use godot::global::{godot_error, Error};
use godot::obj::EngineEnum;
use godot::prelude::*;
use godot_core::meta::RawPtr;

/// A WebRTC data channel provided by the webrtc_rs extension. Created by
/// `WebRTCPeerConnection.create_data_channel()` or delivered by `data_channel_received`; its
/// state and received packets advance when its connection's `poll()` runs.
#[derive(GodotClass)]
#[class(tool, no_init, base = WebRtcDataChannelExtension)]
pub struct WebRtcRsDataChannel {
    channel: SessionChannel,
    base: Base<WebRtcDataChannelExtension>,
}

impl WebRtcRsDataChannel {
    /// Wraps a channel of a session in a new Godot object.
    pub fn wrap(channel: SessionChannel) -> Gd<WebRtcRsDataChannel> {
        Gd::from_init_fn(|base| WebRtcRsDataChannel { channel, base })
    }

    /// Whether this object is the channel `handle` (the target of a `buffered_amount_low`).
    pub fn is(&self, handle: &webrtc_rs_engine::DataChannel) -> bool {
        self.channel.is(handle)
    }
}

#[godot_api]
impl WebRtcRsDataChannel {
    /// The largest message this channel can send, in bytes: the limit negotiated with the
    /// remote (`a=max-message-size`, 256 KiB between two webrtc_rs peers), or our local default
    /// before the connection is up. Godot does not expose `PacketPeer`'s internal
    /// `get_max_packet_size()` to scripts, so this makes the real limit readable.
    #[func(rename = get_max_packet_size)]
    fn script_max_packet_size(&self) -> i32 {
        self.channel.max_packet_size()
    }

    /// Emitted from the connection's `poll()` when the buffered amount falls from above
    /// `get_buffered_amount_low_threshold()` to at or below it (W3C `bufferedamountlow`).
    #[signal]
    fn buffered_amount_low();

    /// Sets the buffered amount (bytes) at or below which `buffered_amount_low` is emitted
    /// when it falls there from above; 0 by default. A negative value is refused (error
    /// logged, threshold unchanged).
    #[func]
    fn set_buffered_amount_low_threshold(&mut self, bytes: i64) {
        if let Err(e) = self.channel.set_buffered_amount_low_threshold(bytes) {
            invalid(
                "WebRtcRsDataChannel.set_buffered_amount_low_threshold",
                e.message(),
            );
        }
    }

    /// The threshold of `buffered_amount_low`, in bytes.
    #[func]
    fn get_buffered_amount_low_threshold(&self) -> i64 {
        self.channel.buffered_amount_low_threshold()
    }
}

#[godot_api]
impl IWebRtcDataChannelExtension for WebRtcRsDataChannel {
    unsafe fn get_packet_rawptr(
        &mut self,
        r_buffer: RawPtr<*mut RawPtr<*const u8>>,
        r_buffer_size: RawPtr<*mut i32>,
    ) -> Error {
        let out_buffer = r_buffer.ptr() as *mut *const u8;
        let out_size = r_buffer_size.ptr();
        if out_buffer.is_null() || out_size.is_null() {
            godot_error!("WebRTCDataChannel.get_packet: null output pointer");
            return Error::ERR_INVALID_PARAMETER;
        }
        // An empty queue is a normal condition (like the browser implementation, no log line).
        let Some(bytes) = self.channel.next_packet() else {
            return Error::ERR_UNAVAILABLE;
        };
        let Ok(size) = i32::try_from(bytes.len()) else {
            godot_error!(
                "WebRTCDataChannel.get_packet: message of {} bytes is too large for Godot",
                bytes.len()
            );
            return Error::ERR_OUT_OF_MEMORY;
        };
        // SAFETY: Godot passes valid out-pointers; the bytes live in `self.channel` until the next
        // get_packet call, which is the PacketPeer contract.
        unsafe {
            *out_buffer = bytes.as_ptr();
            *out_size = size;
        }
        Error::OK
    }

    unsafe fn put_packet_rawptr(
        &mut self,
        p_buffer: RawPtr<*const u8>,
        p_buffer_size: i32,
    ) -> Error {
        let Ok(len) = usize::try_from(p_buffer_size) else {
            godot_error!("WebRTCDataChannel.put_packet: negative size {p_buffer_size}");
            return Error::ERR_INVALID_PARAMETER;
        };
        let ptr = p_buffer.ptr();
        let data: &[u8] = if len == 0 {
            &[]
        } else if ptr.is_null() {
            godot_error!("WebRTCDataChannel.put_packet: null buffer");
            return Error::ERR_INVALID_PARAMETER;
        } else {
            // SAFETY: Godot guarantees `len` readable bytes at `ptr` for the duration of the call;
            // the engine copies what it keeps.
            unsafe { std::slice::from_raw_parts(ptr, len) }
        };
        match self.channel.send(data) {
            Ok(()) => Error::OK,
            Err(e) => engine_failure(
                &format!(
                    "WebRTCDataChannel.put_packet on \"{}\"",
                    self.channel.label()
                ),
                &e,
            ),
        }
    }

    fn get_available_packet_count(&self) -> i32 {
        self.channel.available()
    }

    /// The largest message this channel can send: the limit negotiated with the remote
    /// (`a=max-message-size`), or our local default before that.
    fn get_max_packet_size(&self) -> i32 {
        self.channel.max_packet_size()
    }

    /// Nothing to do: the channel advances with its connection's `poll()`.
    fn poll(&mut self) -> Error {
        Error::OK
    }

    fn close(&mut self) {
        self.channel.close();
    }

    fn set_write_mode(&mut self, p_write_mode: WriteMode) {
        let mode = if p_write_mode == WriteMode::TEXT {
            session::WriteMode::Text
        } else {
            session::WriteMode::Binary
        };
        self.channel.set_write_mode(mode);
    }

    fn get_write_mode(&self) -> WriteMode {
        match self.channel.write_mode() {
            session::WriteMode::Text => WriteMode::TEXT,
            session::WriteMode::Binary => WriteMode::BINARY,
        }
    }

    fn was_string_packet(&self) -> bool {
        self.channel.was_string_packet()
    }

    fn get_ready_state(&self) -> ChannelState {
        ChannelState::try_from_ord(self.channel.ready_state() as i32)
            .unwrap_or(ChannelState::CLOSED)
    }

    fn get_label(&self) -> GString {
        GString::from(self.channel.label().as_str())
    }

    fn is_ordered(&self) -> bool {
        self.channel.is_ordered()
    }

    fn get_id(&self) -> i32 {
        self.channel.id()
    }

    fn get_max_packet_life_time(&self) -> i32 {
        self.channel.max_packet_life_time()
    }

    fn get_max_retransmits(&self) -> i32 {
        self.channel.max_retransmits()
    }

    fn get_protocol(&self) -> GString {
        GString::from(self.channel.protocol().as_str())
    }

    fn is_negotiated(&self) -> bool {
        self.channel.is_negotiated()
    }

    fn get_buffered_amount(&self) -> i32 {
        self.channel.buffered_amount()
    }
}
