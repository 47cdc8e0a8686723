## Checks of what webrtc_rs adds beyond the stock API: get_stats(), get_failure_report(), the
## connection_error signal with its ConnectionErrorReason enum, and the WebRTC/ monitors.
## run_tests.gd calls run(self): `t` gives check(), pump(), new_wire() and connect_wire().
## Everything is reached dynamically (has_method, ClassDB, call), as a game that also runs on
## other WebRTC implementations would.
extends RefCounted

const CLASS := "WebRtcRsPeerConnection"
const OPEN := WebRTCDataChannel.STATE_OPEN
const REASONS := {
	"ERROR_ICE_SERVER_UNREACHABLE": 0,
	"ERROR_TURN_AUTH_FAILED": 1,
	"ERROR_NO_CANDIDATE_PAIR": 2,
	"ERROR_DTLS_HANDSHAKE_FAILED": 3,
	"ERROR_FINGERPRINT_MISMATCH": 4,
	"ERROR_SCTP_ABORTED": 5,
	"ERROR_CONSENT_LOST": 6,
	"ERROR_CLOSED_BY_REMOTE": 7,
	"ERROR_INTERNAL": 8,
}
const STATS_KEYS := ["rtt_ms", "bytes_sent", "bytes_received", "messages_sent", "messages_received",
	"retransmissions", "selected_pair", "dtls_cipher", "sctp_cwnd", "connected_msec", "channels"]
const PAIR_KEYS := ["local_type", "remote_type", "local_address", "remote_address", "protocol", "relayed"]
const CHANNEL_KEYS := ["label", "id", "bytes_sent", "bytes_received", "messages_sent",
	"messages_received", "buffered_amount"]
const REPORT_KEYS := ["reason", "message", "servers", "candidate_pairs", "candidate_pairs_omitted",
	"local_candidates", "remote_candidates"]
const MONITORS := ["WebRTC/connections_open", "WebRTC/bytes_in_per_second",
	"WebRTC/bytes_out_per_second", "WebRTC/mean_rtt_ms", "WebRTC/relayed_connections"]

var t


func run(tests) -> bool:
	t = tests
	check_registration()
	check_fresh_object()
	if not await check_connected_pair():
		return false
	await check_unreachable_stun_server()
	return true


func has_keys(d: Dictionary, keys: Array, what: String) -> bool:
	var missing := []
	for k in keys:
		if not d.has(k):
			missing.append(k)
	return t.check(missing.is_empty() and d.size() == keys.size(),
		"%s has exactly its keys (missing %s, got %s)" % [what, missing, d.keys()])


func check_registration() -> void:
	t.check(ClassDB.class_has_method(CLASS, "get_stats"), "get_stats() is registered")
	t.check(ClassDB.class_has_method(CLASS, "get_failure_report"), "get_failure_report() is registered")
	t.check(ClassDB.class_has_signal(CLASS, "connection_error"), "signal connection_error is registered")
	t.check(ClassDB.class_has_enum(CLASS, "ConnectionErrorReason"), "enum ConnectionErrorReason is registered")
	for name in REASONS:
		t.check(ClassDB.class_get_integer_constant(CLASS, name) == REASONS[name],
			"%s.%s == %d" % [CLASS, name, REASONS[name]])
		t.check(ClassDB.class_get_integer_constant_enum(CLASS, name) == "ConnectionErrorReason",
			"%s belongs to ConnectionErrorReason" % name)
	# With no connection at all, every monitor answers (0), nothing crashes.
	for id in MONITORS:
		t.check(Performance.has_custom_monitor(id), "monitor %s is registered" % id)
		var value = Performance.get_custom_monitor(id)
		t.check(typeof(value) in [TYPE_INT, TYPE_FLOAT] and value >= 0, "monitor %s reads %s" % [id, value])


func check_fresh_object() -> void:
	var pc = WebRTCPeerConnection.new()
	if not t.check(pc.has_method("get_stats"), "WebRTCPeerConnection.new() has get_stats()"):
		return
	var stats: Dictionary = pc.call("get_stats")
	has_keys(stats, STATS_KEYS, "get_stats() of a fresh object")
	t.check(stats.get("rtt_ms") == -1.0 and stats.get("connected_msec") == -1,
		"unknown values are -1 (%s)" % [stats])
	t.check(stats.get("selected_pair") is Dictionary and stats.get("selected_pair").is_empty(),
		"no selected pair yet")
	var report: Dictionary = pc.call("get_failure_report")
	has_keys(report, REPORT_KEYS, "get_failure_report() of a fresh object")
	t.check(report.get("reason") == -1, "no error yet")
	pc.close()


func check_connected_pair() -> bool:
	var w = t.new_wire()
	var errors := []
	w.a.connect("connection_error", func(reason: int, message: String): errors.append([reason, message]))
	var ch_a = w.a.create_data_channel("d", {"negotiated": true, "id": 9})
	var ch_b = w.b.create_data_channel("d", {"negotiated": true, "id": 9})
	if not await t.connect_wire(w):
		return false
	var ok: bool = await t.pump([w], func(): return ch_a.get_ready_state() == OPEN and ch_b.get_ready_state() == OPEN)
	if not t.check(ok, "negotiated channel open"):
		return false
	# Not an empty packet: PacketPeer.put_packet returns OK for one without calling the extension.
	for packet in [PackedByteArray([1, 2, 3]), PackedByteArray([4]), "hello".to_utf8_buffer()]:
		t.check(ch_a.put_packet(packet) == OK, "put_packet")
	var received := [0]
	ok = await t.pump([w], func():
		while ch_b.get_available_packet_count() > 0:
			ch_b.get_packet()
			received[0] += 1
		return received[0] == 3)
	t.check(ok, "3 packets arrive")
	var stats: Dictionary = w.a.call("get_stats")
	has_keys(stats, STATS_KEYS, "get_stats()")
	t.check(stats.messages_sent == 3 and stats.messages_received == 0,
		"messages counted (%d sent, %d received)" % [stats.messages_sent, stats.messages_received])
	t.check(stats.bytes_sent > 9 and stats.bytes_received > 0, "bytes on the wire counted")
	t.check(stats.rtt_ms > 0.0 and stats.rtt_ms < 100.0, "rtt_ms measured on loopback (%s)" % stats.rtt_ms)
	t.check(stats.connected_msec >= 0, "connected_msec (%d)" % stats.connected_msec)
	t.check(String(stats.dtls_cipher).begins_with("TLS_"), "dtls_cipher (%s)" % stats.dtls_cipher)
	if has_keys(stats.selected_pair, PAIR_KEYS, "selected_pair"):
		t.check(stats.selected_pair.local_type == "host" and stats.selected_pair.relayed == false,
			"a direct host path on loopback (%s)" % [stats.selected_pair])
		t.check(String(stats.selected_pair.remote_address).begins_with("127.0.0.1:"), "remote address")
	if t.check(stats.channels.size() == 1, "one channel in the stats"):
		var c: Dictionary = stats.channels[0]
		has_keys(c, CHANNEL_KEYS, "channel stats")
		t.check(c.label == "d" and c.id == 9, "channel label and id")
		t.check(c.messages_sent == 3 and c.bytes_sent == 9, "channel counts (%s)" % [c])
	var remote: Dictionary = w.b.call("get_stats")
	if remote.channels.size() == 1:
		t.check(remote.channels[0].messages_received == 3 and remote.channels[0].bytes_received == 9,
			"the remote counted the same messages (%s)" % [remote.channels[0]])
	t.check(Performance.get_custom_monitor("WebRTC/connections_open") >= 2, "monitor counts the open connections")
	t.check(Performance.get_custom_monitor("WebRTC/mean_rtt_ms") > 0, "monitor shows a mean RTT")
	# The remote closes: connection_error(ERROR_CLOSED_BY_REMOTE) from poll(), and the report.
	w.b.close()
	ok = await t.pump([w], func(): return not errors.is_empty())
	if t.check(ok, "connection_error emitted when the remote closes"):
		var closed := ClassDB.class_get_integer_constant(CLASS, "ERROR_CLOSED_BY_REMOTE")
		t.check(errors[0][0] == closed and String(errors[0][1]) != "",
			"reason ERROR_CLOSED_BY_REMOTE with a message (%s)" % [errors[0]])
		var report: Dictionary = w.a.call("get_failure_report")
		has_keys(report, REPORT_KEYS, "get_failure_report()")
		t.check(report.reason == closed and report.message == errors[0][1], "the report names the same error")
		t.check(report.candidate_pairs.size() >= 1 and report.candidate_pairs[0].selected,
			"the report lists the selected pair first")
	w.a.close()
	return true


func check_unreachable_stun_server() -> void:
	# A UDP port on loopback that never answers.
	var silent := PacketPeerUDP.new()
	if not t.check(silent.bind(0, "127.0.0.1") == OK, "bind a silent UDP port"):
		return
	var url := "stun:127.0.0.1:%d" % silent.get_local_port()
	var pc = WebRTCPeerConnection.new()
	t.check(pc.initialize({"iceServers": [{"urls": url}], "bindAddress": "127.0.0.1"}) == OK, "initialize with the silent server")
	var errors := []
	pc.connect("connection_error", func(reason: int, message: String): errors.append([reason, message]))
	pc.create_data_channel("x", {})
	pc.create_offer()
	# Five Binding requests 500 ms apart, then the server is given up.
	var ok: bool = await t.pump([pc], func(): return not errors.is_empty(), 10000)
	if t.check(ok, "connection_error for an unreachable STUN server"):
		t.check(errors[0][0] == REASONS["ERROR_ICE_SERVER_UNREACHABLE"] and String(errors[0][1]).contains(url),
			"reason ERROR_ICE_SERVER_UNREACHABLE naming the server (%s)" % [errors[0]])
		var servers: Array = pc.call("get_failure_report").servers
		t.check(servers.size() == 1 and servers[0].url == url and servers[0].result == "no_answer",
			"the report says the server did not answer (%s)" % [servers])
	pc.close()
	silent.close()
