## GDScript checks of the webrtc_rs addon through Godot's stock WebRTC API, then of webrtc_rs's
## own additions (extras_checks.gd).
## Run: godot --headless --path <copy of this project with addons/webrtc_rs> --script res://run_tests.gd
## Prints "N passed, M failed" and exits non-zero when a check fails. Loopback (127.0.0.1) only.
extends SceneTree

const Wire = preload("res://wire.gd")
const RpcNode = preload("res://rpc_node.gd")
const ExtrasChecks = preload("res://extras_checks.gd")
const RestartChecks = preload("res://restart_checks.gd")
const Diagnostics = preload("res://diagnostics.gd")
const LOOPBACK := {"bindAddress": "127.0.0.1"}
const OPEN := WebRTCDataChannel.STATE_OPEN
const CLOSED := WebRTCDataChannel.STATE_CLOSED

var passed = 0
var failed = 0
var capture = null  # error_capture.gd instance on Godot 4.5+, else null
var keep_open: Array = []  # connections deliberately left open at exit


func _initialize() -> void:
	_run.call_deferred()


func _run() -> void:
	if ClassDB.class_exists("Logger"):
		capture = load("res://error_capture.gd").new()
		OS.call("add_logger", capture)
	print("Godot ", Engine.get_version_info().string)
	await _section("registration", test_registration)
	await _section("channels, options, data, close", test_channels_and_data)
	await _section("re-initialize and reconnect", test_reinitialize)
	await _section("bad input", test_bad_input)
	await _section("initialize() from a signal handler", test_reentrant_initialize)
	await _section("connection dropped without close", test_drop_without_close)
	await _section("churn: 20 connections opened and freed", test_churn)
	await _section("WebRTCMultiplayerPeer server/client", test_multiplayer_server_client)
	await _section("SceneMultiplayer RPCs between subtrees", test_scene_multiplayer_rpc)
	await _section("mesh of 4", test_mesh_of_four)
	await _section("16 clients", test_sixteen_clients)
	var extras = ExtrasChecks.new(self)
	await _section("network simulator (simulate, set_network_simulation)", extras.test_network_simulator)
	await _section("buffered_amount_low and its threshold", extras.test_buffered_amount_low)
	await _section("ports: range, UDP mux, mtu, libdatachannel keys, unknown keys", extras.test_ports)
	await _section("ICE restart (restart_ice, iceRestartOnDisconnected)", RestartChecks.new(self).test_restart_ice)
	await _section("diagnostics: stats, connection_error, failure report, monitors", test_diagnostics)
	await _section("exit with open connections", test_leave_open)
	print("%d passed, %d failed" % [passed, failed])
	quit(1 if failed > 0 else 0)


func _section(title: String, test: Callable) -> void:
	print("== ", title)
	var start = Time.get_ticks_msec()
	var failed_before = failed
	var passed_before = passed
	var completed = await test.call()
	if completed != true and failed == failed_before:
		check(false, "section '%s' completed (it stopped early, e.g. on a script error)" % title)
	print("   %s: %d checks passed, %d failed, %d ms" % ["ok" if failed == failed_before else "FAILED",
		passed - passed_before, failed - failed_before, Time.get_ticks_msec() - start])
	if capture != null:
		capture.take()


func check(condition: bool, what: String) -> bool:
	if condition:
		passed += 1
	else:
		failed += 1
		printerr("FAIL: ", what)
	return condition


## Checks that an error mentioning `fragment` was logged since the last call (Godot 4.5+ only).
func check_error_logged(fragment: String) -> void:
	if capture == null:
		return
	var errors: PackedStringArray = capture.take()
	var found = false
	for e in errors:
		if e.contains(fragment):
			found = true
	check(found, "an error naming '%s' was logged (got %s)" % [fragment, errors])


## Polls `pollables` (connections, wires, multiplayer peers) every frame until `done` is true.
func pump(pollables: Array, done: Callable, timeout_ms: int = 20000) -> bool:
	var deadline = Time.get_ticks_msec() + timeout_ms
	while true:
		for p in pollables:
			if p != null:
				p.poll()
		if done.call():
			return true
		if Time.get_ticks_msec() > deadline:
			return false
		await process_frame
	return false


func new_wire() -> Wire:
	var a = WebRTCPeerConnection.new()
	var b = WebRTCPeerConnection.new()
	check(a.initialize(LOOPBACK) == OK and b.initialize(LOOPBACK) == OK, "initialize with bindAddress")
	return Wire.new(a, b)


func connect_wire(w: Wire) -> bool:
	check(w.a.create_offer() == OK, "create_offer")
	var ok: bool = await pump([w], func():
		return w.a.get_connection_state() == WebRTCPeerConnection.STATE_CONNECTED \
			and w.b.get_connection_state() == WebRTCPeerConnection.STATE_CONNECTED)
	return check(ok, "both connections reach STATE_CONNECTED")


func by_label(channels: Array, label: String) -> WebRTCDataChannel:
	for ch in channels:
		if ch.get_label() == label:
			return ch
	return null


func bytes_of(size: int, seed_value: int) -> PackedByteArray:
	var out = PackedByteArray()
	out.resize(size)
	for i in size:
		out[i] = (i * 31 + seed_value) % 251
	return out


func test_registration() -> bool:
	var pc = WebRTCPeerConnection.new()
	check(pc.get_class() == "WebRtcRsPeerConnection",
		"WebRTCPeerConnection.new() is WebRtcRsPeerConnection (got %s)" % pc.get_class())
	check(pc.is_class("WebRTCPeerConnectionExtension"), "it extends WebRTCPeerConnectionExtension")
	check(pc.get_connection_state() == WebRTCPeerConnection.STATE_NEW, "fresh object is STATE_NEW")
	check(pc.get_signaling_state() == WebRTCPeerConnection.SIGNALING_STATE_STABLE, "fresh object is STABLE")
	check(pc.get_gathering_state() == WebRTCPeerConnection.GATHERING_STATE_NEW, "fresh object gathering NEW")
	# A fresh object works without initialize().
	var ch = pc.create_data_channel("early", {})
	check(ch != null, "create_data_channel without initialize()")
	if ch == null:
		return false
	check(ch.get_class() == "WebRtcRsDataChannel", "channel class is WebRtcRsDataChannel (got %s)" % ch.get_class())
	check(ch.get_ready_state() == WebRTCDataChannel.STATE_CONNECTING, "new channel is CONNECTING")
	check(ch.get_id() == 65535, "in-band id before assignment is 65535 (got %d)" % ch.get_id())
	check(ch.get_max_retransmits() == 65535 and ch.get_max_packet_life_time() == 65535,
		"unset reliability limits are 65535")
	check(ch.get_write_mode() == WebRTCDataChannel.WRITE_MODE_BINARY, "default write mode is BINARY")
	check(ch.get_label() == "early" and ch.is_ordered() and not ch.is_negotiated(), "defaults read back")
	check(ch.poll() == OK, "channel poll() is OK")
	check(ch.get_available_packet_count() == 0, "no packets yet")
	check(ch.put_packet(PackedByteArray([1])) != OK, "put_packet before open fails")
	check_error_logged("put_packet")
	# Signals only come from poll(), on this thread.
	var seen = []
	pc.session_description_created.connect(func(type, sdp): seen.append([type, sdp]))
	check(pc.create_offer() == OK, "create_offer on a fresh object")
	OS.delay_msec(100)
	check(seen.is_empty(), "no signal before poll()")
	var ok: bool = await pump([pc], func(): return not seen.is_empty(), 5000)
	check(ok and seen[0][0] == "offer" and String(seen[0][1]).contains("m=application"),
		"offer emitted from poll()")
	pc.close()
	check(pc.get_connection_state() == WebRTCPeerConnection.STATE_CLOSED, "close() -> STATE_CLOSED at once")
	check(ch.get_ready_state() == CLOSED, "close() -> channel CLOSED at once")
	check(pc.poll() == OK, "poll() after close is OK")
	# Freeing an unused object and one that was never touched is safe.
	pc = null
	var untouched = WebRTCPeerConnection.new()
	untouched = null
	return true


func test_channels_and_data() -> bool:
	var w = new_wire()
	var got = []
	w.b.data_channel_received.connect(func(ch): got.append(ch))
	var data_a = w.a.create_data_channel("data", {})
	var inband = w.a.create_data_channel("in-band", {"ordered": false, "maxRetransmits": 2, "protocol": "proto-x"})
	var lifetime = w.a.create_data_channel("lifetime", {"maxPacketLifeTime": 300})
	var neg_opts = {"negotiated": true, "id": 5, "maxPacketLifetime": 100, "ordered": false, "protocol": "n"}
	var neg_a = w.a.create_data_channel("neg", neg_opts)
	var neg_b = w.b.create_data_channel("neg", neg_opts)
	if not check(data_a != null and inband != null and lifetime != null and neg_a != null and neg_b != null,
			"all channels created"):
		return false
	check(neg_a.get_id() == 5, "negotiated id known before connecting")
	if not await connect_wire(w):
		return false
	var ok: bool = await pump([w], func():
		if got.size() < 3:
			return false
		for ch in got + [data_a, inband, lifetime, neg_a, neg_b]:
			if ch.get_ready_state() != OPEN:
				return false
		return true)
	if not check(ok and got.size() == 3, "all channels OPEN on both sides, 3 in-band channels received"):
		return false
	var data_b = by_label(got, "data")
	var inband_b = by_label(got, "in-band")
	var lifetime_b = by_label(got, "lifetime")
	check(data_b != null and inband_b != null and lifetime_b != null, "received channels by label")
	if data_b == null or inband_b == null or lifetime_b == null:
		return false
	# Options read back on both sides.
	for pair in [[inband, "local"], [inband_b, "remote"]]:
		var ch: WebRTCDataChannel = pair[0]
		var side: String = pair[1]
		check(not ch.is_ordered(), side + " in-band: unordered")
		check(ch.get_max_retransmits() == 2, side + " in-band: maxRetransmits 2 (got %d)" % ch.get_max_retransmits())
		check(ch.get_max_packet_life_time() == 65535, side + " in-band: lifetime unset")
		check(ch.get_protocol() == "proto-x", side + " in-band: protocol")
		check(not ch.is_negotiated(), side + " in-band: not negotiated")
		check(ch.get_id() != 65535, side + " in-band: id assigned")
	check(inband.get_id() == inband_b.get_id(), "in-band id equal on both sides")
	check(data_a.get_id() == data_b.get_id(), "data id equal on both sides")
	for ch in [lifetime, lifetime_b]:
		check(ch.get_max_packet_life_time() == 300 and ch.get_max_retransmits() == 65535 and ch.is_ordered(),
			"maxPacketLifeTime 300 read back (got %d)" % ch.get_max_packet_life_time())
	for ch in [neg_a, neg_b]:
		check(ch.get_id() == 5 and ch.is_negotiated() and not ch.is_ordered(), "negotiated channel id 5 read back")
		check(ch.get_max_packet_life_time() == 100, "maxPacketLifetime spelling honoured (got %d)" % ch.get_max_packet_life_time())
		check(ch.get_protocol() == "n", "negotiated protocol read back")
	var max_size = data_a.get_max_packet_size()
	check(max_size == 262144 and data_b.get_max_packet_size() == 262144,
		"negotiated max packet size is 256 KiB (got %d / %d)" % [max_size, data_b.get_max_packet_size()])

	# Text (binary-safe) and binary.
	data_a.write_mode = WebRTCDataChannel.WRITE_MODE_TEXT
	check(data_a.put_packet(PackedByteArray([104, 0, 105])) == OK, "text put_packet with a NUL byte")
	check(data_a.put_packet("héllo ✓".to_utf8_buffer()) == OK, "text put_packet UTF-8")
	data_a.write_mode = WebRTCDataChannel.WRITE_MODE_BINARY
	check(data_a.put_packet(PackedByteArray([1, 2, 3])) == OK, "binary put_packet")
	ok = await pump([w], func(): return data_b.get_available_packet_count() >= 3)
	if check(ok, "3 packets arrive"):
		var p1 = data_b.get_packet()
		check(p1 == PackedByteArray([104, 0, 105]) and data_b.was_string_packet(), "text with NUL intact, was_string_packet")
		var p2 = data_b.get_packet()
		check(p2.get_string_from_utf8() == "héllo ✓" and data_b.was_string_packet(), "UTF-8 text intact")
		var p3 = data_b.get_packet()
		check(p3 == PackedByteArray([1, 2, 3]) and not data_b.was_string_packet(), "binary intact, not string")
		check(data_b.get_available_packet_count() == 0, "queue drained")

	# 64 KiB and the negotiated maximum.
	var k64 = bytes_of(65536, 7)
	check(data_a.put_packet(k64) == OK, "64 KiB put_packet")
	var at_max = bytes_of(max_size, 3)
	check(data_a.put_packet(at_max) == OK, "message of exactly get_max_packet_size() bytes")
	ok = await pump([w], func(): return data_b.get_available_packet_count() >= 2)
	if check(ok, "64 KiB and max-size messages arrive"):
		check(data_b.get_packet() == k64, "64 KiB intact")
		check(data_b.get_packet() == at_max, "max-size message intact")

	# 64 MiB refused, channel keeps working.
	var huge = PackedByteArray()
	huge.resize(64 * 1024 * 1024)
	check(data_a.put_packet(huge) != OK, "64 MiB put_packet refused")
	check_error_logged("put_packet")
	huge = PackedByteArray()
	check(data_a.get_ready_state() == OPEN, "channel still OPEN after the refusal")
	check(data_a.put_packet(PackedByteArray([9, 9])) == OK, "send after refusal")
	ok = await pump([w], func(): return data_b.get_available_packet_count() >= 1)
	check(ok and data_b.get_packet() == PackedByteArray([9, 9]), "message after refusal arrives")

	# 2,000 mixed-size messages, intact and in order; count never exceeds what get_packet gives.
	var rng = RandomNumberGenerator.new()
	rng.seed = 20261122
	var sent = []
	var send_errors = 0
	for i in 2000:
		var size = 4 + rng.randi_range(0, 2000)
		if i % 97 == 0:
			size = 4 + rng.randi_range(20000, 60000)
		var msg = PackedByteArray()
		msg.resize(size)
		msg.fill(i % 256)
		msg.encode_u32(0, i)
		sent.append(msg)
		if data_a.put_packet(msg) != OK:
			send_errors += 1
	check(send_errors == 0, "2,000 put_packet calls succeed (%d failed)" % send_errors)
	var received = []
	var get_errors = [0]
	ok = await pump([w], func():
		var n = data_b.get_available_packet_count()
		for k in n:
			var p = data_b.get_packet()
			if data_b.get_packet_error() != OK:
				get_errors[0] += 1
			received.append(p)
		return received.size() >= 2000, 60000)
	check(ok, "2,000 messages arrive (got %d)" % received.size())
	check(get_errors[0] == 0, "get_packet never fails after get_available_packet_count() > 0")
	var mismatches = 0
	for i in mini(received.size(), sent.size()):
		if received[i] != sent[i]:
			mismatches += 1
	check(mismatches == 0 and received.size() == 2000, "2,000 messages intact and ordered (%d mismatches)" % mismatches)

	# A channel created once connected opens on both sides.
	var late = w.a.create_data_channel("late", {"protocol": "after"})
	ok = await pump([w], func(): return by_label(got, "late") != null and late.get_ready_state() == OPEN \
		and by_label(got, "late").get_ready_state() == OPEN)
	if check(ok, "channel created after connecting opens on both sides"):
		var late_b := by_label(got, "late")
		check(late_b.get_protocol() == "after" and late_b.get_id() == late.get_id(), "late channel options read back")
		check(late.put_packet(PackedByteArray([5])) == OK, "late channel sends")
		ok = await pump([w], func(): return late_b.get_available_packet_count() > 0)
		check(ok and late_b.get_packet() == PackedByteArray([5]), "late channel delivers")
	check(data_a.get_buffered_amount() >= 0, "get_buffered_amount() is a byte count")

	# Channel close reaches the other side.
	inband.close()
	ok = await pump([w], func(): return inband_b.get_ready_state() == CLOSED and inband.get_ready_state() == CLOSED)
	check(ok, "channel close reaches the remote (remote state %d)" % inband_b.get_ready_state())
	check(data_b.get_ready_state() == OPEN, "other channels stay open")

	# Connection close: CLOSED at once locally, reaches the remote.
	w.a.close()
	check(w.a.get_connection_state() == WebRTCPeerConnection.STATE_CLOSED, "close() -> STATE_CLOSED at once")
	check(data_a.get_ready_state() == CLOSED and neg_a.get_ready_state() == CLOSED, "local channels CLOSED at once")
	check(data_a.put_packet(PackedByteArray([1])) != OK, "put_packet after close fails")
	ok = await pump([w], func():
		return data_b.get_ready_state() == CLOSED and neg_b.get_ready_state() == CLOSED \
			and w.b.get_connection_state() != WebRTCPeerConnection.STATE_CONNECTED)
	check(ok, "connection close reaches the remote (remote state %d, channel %d)"
		% [w.b.get_connection_state(), data_b.get_ready_state()])
	w.b.close()
	return true


func test_reinitialize() -> bool:
	var w = new_wire()
	var got = []
	w.b.data_channel_received.connect(func(ch): got.append(ch))
	var old_a = w.a.create_data_channel("first", {})
	if not await connect_wire(w):
		return false
	var ok: bool = await pump([w], func(): return got.size() == 1 and got[0].get_ready_state() == OPEN)
	if not check(ok, "first channel open"):
		return false
	var old_b: WebRTCDataChannel = got[0]
	# Bad candidate once a remote description is set.
	check(w.a.add_ice_candidate("0", 0, "candidate:garbage") != OK, "malformed candidate refused")
	check_error_logged("add_ice_candidate")
	check(w.a.add_ice_candidate("0", -1, "candidate:1 1 udp 1 127.0.0.1 9 typ host") == ERR_INVALID_PARAMETER,
		"negative m-line index refused")
	check_error_logged("sdp_mline_index")
	# Re-initialize A while connected.
	check(w.a.initialize(LOOPBACK) == OK, "initialize() again")
	check(w.a.get_connection_state() == WebRTCPeerConnection.STATE_NEW, "state NEW after re-initialize")
	check(old_a.get_ready_state() == CLOSED, "old channel CLOSED at once after re-initialize")
	check(old_a.put_packet(PackedByteArray([1])) != OK, "old channel refuses to send")
	ok = await pump([w], func(): return old_b.get_ready_state() == CLOSED)
	check(ok, "re-initialize closes the old connection for the remote too")
	# Reconnect both with fresh connections on the same objects.
	check(w.b.initialize(LOOPBACK) == OK, "initialize() remote again")
	got.clear()
	var new_a = w.a.create_data_channel("second", {"negotiated": true, "id": 1})
	var new_b = w.b.create_data_channel("second", {"negotiated": true, "id": 1})
	if not await connect_wire(w):
		return false
	ok = await pump([w], func(): return new_a.get_ready_state() == OPEN and new_b.get_ready_state() == OPEN)
	check(ok, "reconnected channels open")
	new_a.put_packet("again".to_utf8_buffer())
	ok = await pump([w], func(): return new_b.get_available_packet_count() > 0)
	check(ok and new_b.get_packet().get_string_from_utf8() == "again", "message after reconnect")
	check(got.is_empty(), "no stale data_channel_received after re-initialize")
	# initialize() after create_data_channel drops that channel (it reports CLOSED).
	var pc = WebRTCPeerConnection.new()
	var early = pc.create_data_channel("early", {})
	check(pc.initialize(LOOPBACK) == OK and early.get_ready_state() == CLOSED, "initialize() drops earlier channels")
	w.a.close()
	w.b.close()
	return true


func test_bad_input() -> bool:
	var pc = WebRTCPeerConnection.new()
	var bad_configs = [
		[{"iceServers": 5}, "iceServers must be an Array"],
		[{"iceServers": [{"urls": "stun:127.0.0.1:3478"}, 7]}, "iceServers[1] must be a Dictionary"],
		[{"iceServers": [{"urls": 3}]}, "iceServers[0].urls must be a String or an Array"],
		[{"iceServers": [{"urls": ["stun:127.0.0.1:3478", 3]}]}, "iceServers[0].urls[1] must be a String"],
		[{"iceServers": [{}]}, "iceServers[0].urls is missing"],
		[{"iceServers": [{"urls": []}]}, "iceServers[0].urls is empty"],
		[{"iceServers": [{"urls": "http://127.0.0.1"}]}, "iceServers[0].urls[0] \"http://127.0.0.1\" has an unsupported scheme"],
		[{"iceServers": [{"urls": "stuns:127.0.0.1"}]}, "stuns: (STUN over TLS), which is not supported"],
		[{"iceServers": [{"urls": "turn:127.0.0.1:3478"}]}, "iceServers[0].username is required for the TURN URL"],
		[{"iceServers": [{"urls": "turn:127.0.0.1:3478", "username": "u"}]}, "iceServers[0].credential is required"],
		[{"iceServers": [{"urls": "stun:127.0.0.1:3478", "username": 1}]}, "iceServers[0].username must be a String"],
		[{"bindAddress": "not an address"}, "bindAddress"],
		[{"bindAddress": 127}, "bindAddress must be a String"],
		[{"mdnsHostCandidates": "yes"}, "mdnsHostCandidates must be a bool"],
	]
	for case in bad_configs:
		check(pc.initialize(case[0]) == ERR_INVALID_PARAMETER, "initialize(%s) -> ERR_INVALID_PARAMETER" % [case[0]])
		check_error_logged(case[1])
	check(pc.get_connection_state() == WebRTCPeerConnection.STATE_NEW, "still NEW after bad configurations")
	check(pc.initialize({"iceServers": [{"urls": ["stun:127.0.0.1:3478"]},
		{"urls": "turn:127.0.0.1:3478", "username": "u", "credential": "c"}], "bindAddress": "127.0.0.1",
		"mdnsHostCandidates": true}) == OK,
		"documented configuration accepted")
	var kept = pc.create_data_channel("kept", {})
	check(pc.initialize({"iceServers": [{"urls": "stun:"}]}) == ERR_INVALID_PARAMETER,
		"initialize() with a URL without host -> ERR_INVALID_PARAMETER")
	check_error_logged("iceServers[0].urls[0] \"stun:\" has no host")
	check(kept.get_ready_state() != CLOSED, "a refused configuration leaves the connection and its channels alone")
	var bad_options = [
		[{"negotiated": true}, "requires an \"id\""],
		[{"id": 3}, "\"id\" is only allowed"],
		[{"maxRetransmits": 1, "maxPacketLifeTime": 1}, "mutually exclusive"],
		[{"maxRetransmits": 1, "maxPacketLifetime": 1}, "mutually exclusive"],
		[{"ordered": "yes"}, "\"ordered\" must be a bool"],
		[{"negotiated": true, "id": 70000}, "\"id\" is 70000"],
		[{"negotiated": true, "id": -1}, "\"id\" is -1"],
		[{"maxRetransmits": -3}, "\"maxRetransmits\" is -3"],
		[{"maxPacketLifeTime": 100000}, "\"maxPacketLifeTime\" is 100000"],
		[{"maxPacketLifetime": 70000}, "\"maxPacketLifeTime\" is 70000"],
		[{"negotiated": true, "id": 65535}, "\"id\" is 65535, outside the allowed range 0..=65534"],
		[{"maxPacketLifeTime": 1, "maxPacketLifetime": 1}, "give only one of"],
		[{"protocol": 5}, "\"protocol\" must be a String"],
	]
	for case in bad_options:
		check(pc.create_data_channel("x", case[0]) == null, "create_data_channel(%s) -> null" % [case[0]])
		check_error_logged(case[1])
	check(pc.create_data_channel("ok", {"negotiated": true, "id": 9}) != null, "valid options still work")
	check(pc.set_remote_description("bogus", "v=0") == ERR_INVALID_PARAMETER, "unknown description type refused")
	check_error_logged("bogus")
	check(pc.set_remote_description("offer", "this is not SDP") != OK, "garbage offer refused")
	check_error_logged("set_remote_description")
	check(pc.set_remote_description("answer", "v=0\r\n") != OK, "answer without an offer refused")
	check_error_logged("set_remote_description")
	check(pc.set_local_description("offer", "v=0\r\n") != OK, "foreign local description refused")
	check_error_logged("set_local_description")
	check(pc.get_connection_state() == WebRTCPeerConnection.STATE_NEW, "still NEW after bad descriptions")
	check(pc.create_offer() == OK, "create_offer still works after bad input")
	pc.close()
	check(pc.create_offer() != OK, "create_offer after close fails")
	check_error_logged("create_offer")
	return true


## A handler that re-initializes the connection while poll() is emitting: the rest of the old
## connection's signals are dropped, and nothing breaks.
func test_reentrant_initialize() -> bool:
	var pc = WebRTCPeerConnection.new()
	check(pc.initialize(LOOPBACK) == OK, "initialize")
	pc.create_data_channel("c", {})
	var seen := {"descriptions": 0, "candidates": 0, "reinit": OK}
	var on_description := func(_type, _sdp):
		seen["descriptions"] += 1
		seen["reinit"] = pc.initialize(LOOPBACK)
	var on_candidate := func(_m, _i, _n): seen["candidates"] += 1
	pc.session_description_created.connect(on_description)
	pc.ice_candidate_created.connect(on_candidate)
	check(pc.create_offer() == OK, "create_offer")
	var ok: bool = await pump([pc], func(): return seen["descriptions"] > 0, 5000)
	check(ok and seen["reinit"] == OK, "initialize() inside session_description_created returns OK")
	for i in 20:
		pc.poll()
		await process_frame
	check(seen["descriptions"] == 1 and seen["candidates"] == 0,
		"no signal of the old connection after re-initialize (%s)" % [seen])
	check(pc.get_connection_state() == WebRTCPeerConnection.STATE_NEW, "fresh connection in NEW")
	# Break the pc -> handler -> pc reference cycle.
	pc.session_description_created.disconnect(on_description)
	pc.ice_candidate_created.disconnect(on_candidate)
	pc.close()
	return true


func test_drop_without_close() -> bool:
	var w = new_wire()
	var neg_a = w.a.create_data_channel("n", {"negotiated": true, "id": 2})
	var neg_b = w.b.create_data_channel("n", {"negotiated": true, "id": 2})
	if not await connect_wire(w):
		return false
	var ok: bool = await pump([w], func(): return neg_a.get_ready_state() == OPEN and neg_b.get_ready_state() == OPEN)
	if not check(ok, "channel open before the drop"):
		return false
	# Drop every reference to A without close().
	w.a = null
	neg_a = null
	var b = w.b
	ok = await pump([w], func():
		return neg_b.get_ready_state() == CLOSED and b.get_connection_state() != WebRTCPeerConnection.STATE_CONNECTED,
		40000)
	check(ok, "remote notices a connection freed without close() (state %d, channel %d)"
		% [b.get_connection_state(), neg_b.get_ready_state()])
	b.close()
	return true


## Connections opened and freed in quick succession, half without close(), some mid-handshake.
func test_churn() -> bool:
	var delivered := 0
	for i in 20:
		var w := new_wire()
		var a = w.a.create_data_channel("c", {"negotiated": true, "id": 0})
		var b = w.b.create_data_channel("c", {"negotiated": true, "id": 0})
		w.a.create_offer()
		if i % 5 == 4:
			# Freed while the handshake is still running.
			await pump([w], func(): return false, 5)
		else:
			var ok: bool = await pump([w], func(): return a.get_ready_state() == OPEN and b.get_ready_state() == OPEN)
			if ok and a.put_packet(PackedByteArray([i])) == OK:
				ok = await pump([w], func(): return b.get_available_packet_count() > 0)
				if ok and b.get_packet() == PackedByteArray([i]):
					delivered += 1
		if i % 2 == 0:
			w.a.close()
			w.b.close()
	check(delivered == 16, "16 of 16 completed connections delivered their message (%d)" % delivered)
	check(WebRTCPeerConnection.new().get_connection_state() == WebRTCPeerConnection.STATE_NEW,
		"still creating connections afterwards")
	return true


func link_mp(mp_x: WebRTCMultiplayerPeer, id_x: int, mp_y: WebRTCMultiplayerPeer, id_y: int) -> Wire:
	var w = new_wire()
	check(mp_x.add_peer(w.a, id_y) == OK, "add_peer(%d) on %d" % [id_y, id_x])
	check(mp_y.add_peer(w.b, id_x) == OK, "add_peer(%d) on %d" % [id_x, id_y])
	check(w.a.create_offer() == OK, "create_offer %d -> %d" % [id_x, id_y])
	return w


func connected_peers(mp: WebRTCMultiplayerPeer) -> int:
	var n = 0
	var peers: Dictionary = mp.get_peers()
	for id in peers:
		if peers[id]["connected"]:
			n += 1
	return n


func test_multiplayer_server_client() -> bool:
	var server = WebRTCMultiplayerPeer.new()
	var client = WebRTCMultiplayerPeer.new()
	check(server.create_server() == OK and client.create_client(2) == OK, "create_server / create_client")
	var w = link_mp(server, 1, client, 2)
	var ok: bool = await pump([server, client], func():
		return client.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED and connected_peers(server) == 1)
	if not check(ok, "client and server connected"):
		return false
	var channels: Array = server.get_peer(2)["channels"]
	check(channels.size() == 3, "3 channels per peer")
	if channels.size() == 3:
		check(channels[0].get_max_packet_life_time() == 65535 and channels[0].is_ordered(), "reliable channel")
		check(channels[1].get_max_packet_life_time() == 1 and channels[1].is_ordered(),
			"unreliable-ordered channel has a 1 ms lifetime (got %d)" % channels[1].get_max_packet_life_time())
		check(channels[2].get_max_packet_life_time() == 1 and not channels[2].is_ordered(),
			"unreliable channel is unordered with a 1 ms lifetime")
	for mode in [MultiplayerPeer.TRANSFER_MODE_RELIABLE, MultiplayerPeer.TRANSFER_MODE_UNRELIABLE_ORDERED,
			MultiplayerPeer.TRANSFER_MODE_UNRELIABLE]:
		for dir in [[client, server, 1, 2], [server, client, 2, 1]]:
			var from: WebRTCMultiplayerPeer = dir[0]
			var to: WebRTCMultiplayerPeer = dir[1]
			from.transfer_mode = mode
			from.set_target_peer(dir[2])
			var payload = ("mode %d to %d" % [mode, dir[2]]).to_utf8_buffer()
			check(from.put_packet(payload) == OK, "put_packet mode %d" % mode)
			ok = await pump([server, client], func(): return to.get_available_packet_count() > 0, 10000)
			if check(ok, "packet mode %d to %d arrives" % [mode, dir[2]]):
				check(to.get_packet_peer() == dir[3], "sender id %d" % dir[3])
				check(to.get_packet_mode() == mode, "packet mode %d reported (got %d)" % [mode, to.get_packet_mode()])
				check(to.get_packet() == payload, "payload intact")
	server.close()
	client.close()
	w.a.close()
	w.b.close()
	# Extra channels from channels_config (negotiated ids 4+, WebRTCMultiplayerPeer's options).
	var server2 := WebRTCMultiplayerPeer.new()
	var client2 := WebRTCMultiplayerPeer.new()
	var modes := [MultiplayerPeer.TRANSFER_MODE_RELIABLE, MultiplayerPeer.TRANSFER_MODE_UNRELIABLE]
	check(server2.create_server(modes) == OK and client2.create_client(5, modes) == OK, "custom channels_config")
	var w2 := link_mp(server2, 1, client2, 5)
	ok = await pump([server2, client2], func():
		return client2.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED and connected_peers(server2) == 1)
	if check(ok, "connected with custom channels"):
		var chans: Array = server2.get_peer(5)["channels"]
		check(chans.size() == 5, "3 default + 2 custom channels")
		if chans.size() == 5:
			check(chans[3].get_id() == 4 and chans[4].get_id() == 5, "custom channel ids 4 and 5")
			check(chans[4].get_max_packet_life_time() == 1 and not chans[4].is_ordered(), "custom unreliable channel")
		client2.transfer_channel = 2
		client2.transfer_mode = MultiplayerPeer.TRANSFER_MODE_UNRELIABLE
		client2.set_target_peer(1)
		check(client2.put_packet(PackedByteArray([42])) == OK, "put_packet on custom channel 2")
		ok = await pump([server2, client2], func(): return server2.get_available_packet_count() > 0)
		if check(ok, "custom channel packet arrives"):
			check(server2.get_packet_channel() == 2, "packet channel 2 (got %d)" % server2.get_packet_channel())
			check(server2.get_packet() == PackedByteArray([42]), "custom channel payload")
	server2.close()
	client2.close()
	w2.a.close()
	w2.b.close()
	return true


func test_scene_multiplayer_rpc() -> bool:
	var server = WebRTCMultiplayerPeer.new()
	var client = WebRTCMultiplayerPeer.new()
	server.create_server()
	client.create_client(2)
	var w = link_mp(server, 1, client, 2)
	var server_side = Node.new()
	server_side.name = "ServerSide"
	var client_side = Node.new()
	client_side.name = "ClientSide"
	root.add_child(server_side)
	root.add_child(client_side)
	var server_game: Node = RpcNode.new()
	server_game.name = "Game"
	server_side.add_child(server_game)
	var client_game: Node = RpcNode.new()
	client_game.name = "Game"
	client_side.add_child(client_game)
	var server_mp = SceneMultiplayer.new()
	var client_mp = SceneMultiplayer.new()
	server_mp.multiplayer_peer = server
	client_mp.multiplayer_peer = client
	set_multiplayer(server_mp, server_side.get_path())
	set_multiplayer(client_mp, client_side.get_path())
	var events = []
	server_mp.peer_connected.connect(func(id): events.append(["server saw", id]))
	client_mp.connected_to_server.connect(func(): events.append(["client connected"]))
	# The SceneTree polls both SceneMultiplayers every frame; nothing to poll by hand.
	var ok: bool = await pump([], func(): return events.size() >= 2)
	if check(ok, "SceneMultiplayer peers connected (%s)" % [events]):
		client_game.rpc_id(1, "ping_reliable", 42)
		client_game.rpc_id(1, "ping_unreliable_ordered", 43)
		client_game.rpc_id(1, "ping_unreliable", 44)
		server_game.rpc("ping_reliable", "r")
		server_game.rpc("ping_unreliable_ordered", "uo")
		server_game.rpc("ping_unreliable", "u")
		ok = await pump([], func(): return server_game.received.size() >= 3 and client_game.received.size() >= 3)
		check(ok, "RPCs arrive both ways (server %s, client %s)" % [server_game.received, client_game.received])
		var expected_server = [["reliable", 42, 2], ["unreliable_ordered", 43, 2], ["unreliable", 44, 2]]
		var expected_client = [["reliable", "r", 1], ["unreliable_ordered", "uo", 1], ["unreliable", "u", 1]]
		for e in expected_server:
			check(server_game.received.has(e), "server got %s" % [e])
		for e in expected_client:
			check(client_game.received.has(e), "client got %s" % [e])
	set_multiplayer(null, server_side.get_path())
	set_multiplayer(null, client_side.get_path())
	server_side.queue_free()
	client_side.queue_free()
	server.close()
	client.close()
	w.a.close()
	w.b.close()
	await process_frame
	return true


func test_mesh_of_four() -> bool:
	var meshes: Array[WebRTCMultiplayerPeer] = []
	for id in range(1, 5):
		var m = WebRTCMultiplayerPeer.new()
		check(m.create_mesh(id) == OK, "create_mesh(%d)" % id)
		meshes.append(m)
	var wires = []
	for i in 4:
		for j in range(i + 1, 4):
			wires.append(link_mp(meshes[i], i + 1, meshes[j], j + 1))
	var ok: bool = await pump(meshes, func():
		for m in meshes:
			if connected_peers(m) != 3:
				return false
		return true, 30000)
	if not check(ok, "every mesh member connected to the 3 others"):
		return false
	for i in 4:
		meshes[i].transfer_mode = MultiplayerPeer.TRANSFER_MODE_RELIABLE
		meshes[i].set_target_peer(0)
		check(meshes[i].put_packet(PackedByteArray([i + 1])) == OK, "broadcast from %d" % (i + 1))
	var inbox = [[], [], [], []]
	ok = await pump(meshes, func():
		var total = 0
		for i in 4:
			while meshes[i].get_available_packet_count() > 0:
				var from = meshes[i].get_packet_peer()
				var p = meshes[i].get_packet()
				inbox[i].append([from, p[0] if p.size() > 0 else -1])
			total += inbox[i].size()
		return total >= 12)
	check(ok, "12 broadcast packets delivered")
	for i in 4:
		var senders = []
		for entry in inbox[i]:
			check(entry[0] == entry[1], "mesh %d: packet content matches sender %d" % [i + 1, entry[0]])
			senders.append(entry[0])
		senders.sort()
		var expected = [1, 2, 3, 4]
		expected.erase(i + 1)
		check(senders == expected, "mesh %d got one packet from each other member (%s)" % [i + 1, senders])
	for m in meshes:
		m.close()
	for w in wires:
		w.a.close()
		w.b.close()
	return true


func test_sixteen_clients() -> bool:
	var server = WebRTCMultiplayerPeer.new()
	check(server.create_server() == OK, "create_server")
	var clients: Array[WebRTCMultiplayerPeer] = []
	var wires = []
	for id in range(2, 18):
		var c = WebRTCMultiplayerPeer.new()
		check(c.create_client(id) == OK, "create_client(%d)" % id)
		clients.append(c)
		wires.append(link_mp(server, 1, c, id))
	var everyone: Array = [server]
	everyone.append_array(clients)
	var start = Time.get_ticks_msec()
	var ok: bool = await pump(everyone, func():
		if connected_peers(server) != 16:
			return false
		for c in clients:
			if c.get_connection_status() != MultiplayerPeer.CONNECTION_CONNECTED:
				return false
		return true, 60000)
	if not check(ok, "16 clients connected (server sees %d)" % connected_peers(server)):
		return false
	print("   16 clients connected in %d ms" % (Time.get_ticks_msec() - start))
	for c in clients:
		c.set_target_peer(1)
		c.put_packet(PackedByteArray([c.get_unique_id()]))
	var from_clients = {}
	ok = await pump(everyone, func():
		while server.get_available_packet_count() > 0:
			var from = server.get_packet_peer()
			var p = server.get_packet()
			from_clients[from] = p[0] if p.size() > 0 else -1
		return from_clients.size() >= 16)
	check(ok, "server got a packet from each client (%d)" % from_clients.size())
	for id in from_clients:
		check(from_clients[id] == id, "client %d's packet intact" % id)
	server.set_target_peer(0)
	server.put_packet("to all".to_utf8_buffer())
	var got = {}
	ok = await pump(everyone, func():
		for c in clients:
			while c.get_available_packet_count() > 0:
				var from = c.get_packet_peer()
				if c.get_packet().get_string_from_utf8() == "to all" and from == 1:
					got[c.get_unique_id()] = true
		return got.size() >= 16)
	check(ok, "broadcast reached all 16 clients (%d)" % got.size())
	# A peer removed on the server (dropped without close()) disconnects its client.
	var last: WebRTCMultiplayerPeer = clients[15]
	server.remove_peer(17)
	wires[15].a = null
	ok = await pump(everyone, func(): return last.get_connection_status() == MultiplayerPeer.CONNECTION_DISCONNECTED, 40000)
	check(ok, "client 17 sees the server drop it without close()")
	check(connected_peers(server) == 15, "server has 15 peers left")
	server.close()
	for c in clients:
		c.close()
	for w in wires:
		if w.a != null:
			w.a.close()
		w.b.close()
	return true


func test_diagnostics() -> bool:
	return await Diagnostics.new().run(self)


func test_leave_open() -> bool:
	var w = new_wire()
	var neg_a = w.a.create_data_channel("n", {"negotiated": true, "id": 3})
	var neg_b = w.b.create_data_channel("n", {"negotiated": true, "id": 3})
	if await connect_wire(w):
		await pump([w], func(): return neg_a.get_ready_state() == OPEN and neg_b.get_ready_state() == OPEN)
	keep_open.append(w)
	keep_open.append(neg_a)
	keep_open.append(neg_b)
	check(true, "connections left open for process exit")
	return true
