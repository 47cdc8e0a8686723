## Small-message benchmark inside Godot: put_packet / poll() / get_packet through whichever
## WebRTC extension the project holds (webrtc_rs or webrtc-native), so the glue's cost is in
## the figures. Started by bench/godot/run.py:
##   godot --headless --path DIR --script res://small_messages.gd -- mode=pair size=64 ...
## Arguments (key=value after `--`):
##   mode      pair (both connections in this process) | send | receive (two processes,
##             signalled over a TCP connection on 127.0.0.1:port; the receiver listens)
##   size      bytes per message (>= 12: a send-time stamp and a sequence number lead each one)
##   channel   reliable (ordered, the default) | unreliable (unordered, maxRetransmits 0)
##   rate      flat (as fast as flow control allows, at most 1 MiB buffered) | game (50
##             messages every 1/60 s)
##   count     messages to send (flat; game sends 60 * 50 * seconds)
##   seconds   length of a game-rate run
##   port      TCP port of the signalling connection (send / receive)
## The sender prints one line `RESULT {json}`: messages, received, seconds, msgs_per_s,
## latency p50/p99 in ms and the process CPU time per message in µs (in `pair` mode it covers
## both ends).
extends SceneTree

const GAME_HZ := 60
const GAME_PER_TICK := 50
const HIGH_WATER := 1 << 20
const STAMP_LEN := 12
const TIMEOUT_MSEC := 60000

var args := {}
var size := 64
var count := 200000
var game := false
var channel_id := 1

var a: WebRTCPeerConnection
var b: WebRTCPeerConnection
var tx: WebRTCDataChannel
var rx: WebRTCDataChannel
var payload := PackedByteArray()

var tcp_server: TCPServer
var tcp: StreamPeerTCP
var tcp_buffer := ""

var phase := "connecting"
var started_usec := 0
var deadline_msec := 0
var cpu_start := 0.0
var sent := 0
var received := 0
var latencies := PackedInt64Array()
var last_arrival_usec := 0
var next_tick_usec := 0


func _initialize() -> void:
	for arg in OS.get_cmdline_user_args():
		var parts: PackedStringArray = arg.split("=", true, 1)
		if parts.size() == 2:
			args[parts[0]] = parts[1]
	size = max(STAMP_LEN, int(args.get("size", "64")))
	game = args.get("rate", "flat") == "game"
	count = int(args.get("count", "200000"))
	if game:
		count = GAME_HZ * GAME_PER_TICK * int(args.get("seconds", "3"))
		Engine.max_fps = GAME_HZ
	channel_id = 2 if args.get("channel", "reliable") == "unreliable" else 1
	payload.resize(size)
	deadline_msec = Time.get_ticks_msec() + TIMEOUT_MSEC
	var mode: String = args.get("mode", "pair")
	if mode == "pair" or mode == "send":
		a = _new_connection()
		tx = _channels(a)
	if mode == "pair" or mode == "receive":
		b = _new_connection()
		rx = _channels(b)
	if mode == "pair":
		a.session_description_created.connect(_on_a_description)
		b.session_description_created.connect(_on_b_description)
		a.ice_candidate_created.connect(_on_a_candidate)
		b.ice_candidate_created.connect(_on_b_candidate)
		a.create_offer()
	elif mode == "receive":
		tcp_server = TCPServer.new()
		if tcp_server.listen(int(args.get("port", "47001")), "127.0.0.1") != OK:
			_fail("cannot listen on the signalling port")
		b.session_description_created.connect(_on_description_to_remote.bind(b))
		b.ice_candidate_created.connect(_on_candidate_to_remote)
	else:
		tcp = StreamPeerTCP.new()
		tcp.connect_to_host("127.0.0.1", int(args.get("port", "47001")))
		a.session_description_created.connect(_on_description_to_remote.bind(a))
		a.ice_candidate_created.connect(_on_candidate_to_remote)


# --- one process: each connection's signals go straight to the other ------------------------


func _on_a_description(type: String, sdp: String) -> void:
	a.set_local_description(type, sdp)
	b.set_remote_description(type, sdp)


func _on_b_description(type: String, sdp: String) -> void:
	b.set_local_description(type, sdp)
	a.set_remote_description(type, sdp)


func _on_a_candidate(media: String, index: int, name: String) -> void:
	b.add_ice_candidate(media, index, name)


func _on_b_candidate(media: String, index: int, name: String) -> void:
	a.add_ice_candidate(media, index, name)


func _on_description_to_remote(type: String, sdp: String, pc: WebRTCPeerConnection) -> void:
	pc.set_local_description(type, sdp)
	_say({"t": "sdp", "type": type, "sdp": sdp})


func _on_candidate_to_remote(media: String, index: int, name: String) -> void:
	_say({"t": "cand", "m": media, "i": index, "n": name})


func _new_connection() -> WebRTCPeerConnection:
	var pc := WebRTCPeerConnection.new()
	if pc.initialize({"iceServers": []}) != OK:
		_fail("initialize failed")
	return pc


## Both channels are negotiated (the same ids on both sides), so neither end waits for the other
## to announce them; the benchmark uses the one `channel` names.
func _channels(pc: WebRTCPeerConnection) -> WebRTCDataChannel:
	var reliable := pc.create_data_channel("reliable", {"negotiated": true, "id": 1})
	var unreliable := pc.create_data_channel("unreliable", {"negotiated": true, "id": 2, "ordered": false, "maxRetransmits": 0})
	if reliable == null or unreliable == null:
		_fail("create_data_channel failed")
	return reliable if channel_id == 1 else unreliable


func _process(_delta: float) -> bool:
	if Time.get_ticks_msec() > deadline_msec:
		_fail("timed out in phase %s (sent %d, received %d)" % [phase, sent, received])
		return true
	_signalling()
	if phase == "sending" and tx != null:
		_send()
	if a != null:
		a.poll()
	if b != null:
		b.poll()
	if rx != null:
		_receive()
	if phase == "connecting":
		_start_when_open()
	elif phase == "sending" and sent >= count:
		phase = "draining"
	if phase == "draining" and rx != null and _all_received():
		_report()
		return true
	return phase == "done"


func _start_when_open() -> void:
	var sender_open := tx == null or tx.get_ready_state() == WebRTCDataChannel.STATE_OPEN
	var receiver_open := rx == null or rx.get_ready_state() == WebRTCDataChannel.STATE_OPEN
	if sender_open and receiver_open:
		phase = "sending" if tx != null else "receiving"
		started_usec = _now_usec()
		next_tick_usec = Time.get_ticks_usec()
		cpu_start = _cpu_seconds()


func _send() -> void:
	var allowed := count
	if game:
		var now := Time.get_ticks_usec()
		if now < next_tick_usec:
			return
		next_tick_usec = max(next_tick_usec + 1000000 / GAME_HZ, now)
		allowed = GAME_PER_TICK
	while allowed > 0 and sent < count and tx.get_buffered_amount() < HIGH_WATER:
		payload.encode_s64(0, _now_usec())
		payload.encode_u32(8, sent)
		if tx.put_packet(payload) != OK:
			break
		sent += 1
		allowed -= 1


func _receive() -> void:
	while rx.get_available_packet_count() > 0:
		var packet := rx.get_packet()
		if packet.size() < STAMP_LEN:
			continue
		var now := _now_usec()
		received += 1
		last_arrival_usec = now
		latencies.append(now - packet.decode_s64(0))
	if phase == "receiving" and received > 0:
		phase = "draining"


## Reliable: every message. Unreliable: nothing new for 500 ms after the sender finished.
func _all_received() -> bool:
	if received >= count:
		return true
	if channel_id == 1 or (tx != null and sent < count):
		return false
	return last_arrival_usec > 0 and _now_usec() - last_arrival_usec > 500000


func _report() -> void:
	var cpu := _cpu_seconds() - cpu_start
	latencies.sort()
	var result := {
		"messages": count,
		"received": received,
		"seconds": (last_arrival_usec - started_usec) / 1e6,
		"msgs_per_s": received / max(1e-6, (last_arrival_usec - started_usec) / 1e6),
		"lat_p50_ms": latencies[int((latencies.size() - 1) * 0.5)] / 1000.0 if latencies.size() > 0 else -1.0,
		"lat_p99_ms": latencies[int((latencies.size() - 1) * 0.99)] / 1000.0 if latencies.size() > 0 else -1.0,
		"cpu_us_per_msg": cpu * 1e6 / max(1, received),
	}
	if tcp_server != null:
		_say({"t": "result", "result": result})
		_flush_then_quit()
	else:
		print("RESULT ", JSON.stringify(result))
		phase = "done"


func _flush_then_quit() -> void:
	# Give the socket a moment to carry the result before the process ends.
	OS.delay_msec(200)
	phase = "done"


# --- two processes: JSON lines over TCP ------------------------------------------------------


func _say(value: Dictionary) -> void:
	if tcp != null:
		tcp.put_data((JSON.stringify(value) + "\n").to_utf8_buffer())


func _signalling() -> void:
	if tcp_server != null and tcp == null and tcp_server.is_connection_available():
		tcp = tcp_server.take_connection()
	if tcp == null:
		return
	tcp.poll()
	if tcp.get_status() == StreamPeerTCP.STATUS_ERROR and tcp_server == null:
		# The receiver was not listening yet: try again.
		tcp = StreamPeerTCP.new()
		tcp.connect_to_host("127.0.0.1", int(args.get("port", "47001")))
		return
	if tcp.get_status() != StreamPeerTCP.STATUS_CONNECTED:
		return
	if a != null and not args.has("_offered"):
		args["_offered"] = true
		a.create_offer()
	var available := tcp.get_available_bytes()
	if available > 0:
		tcp_buffer += tcp.get_utf8_string(available)
	while tcp_buffer.contains("\n"):
		var line := tcp_buffer.get_slice("\n", 0)
		tcp_buffer = tcp_buffer.substr(line.length() + 1)
		var value = JSON.parse_string(line)
		if typeof(value) == TYPE_DICTIONARY:
			_on_line(value)


func _on_line(value: Dictionary) -> void:
	var pc := a if a != null else b
	match value.get("t", ""):
		"sdp":
			pc.set_remote_description(value["type"], value["sdp"])
		"cand":
			pc.add_ice_candidate(value["m"], int(value["i"]), value["n"])
		"result":
			var result: Dictionary = value["result"]
			result["sender_cpu_us_per_msg"] = (_cpu_seconds() - cpu_start) * 1e6 / max(1, int(result["received"]))
			print("RESULT ", JSON.stringify(result))
			phase = "done"


# --- clocks ----------------------------------------------------------------------------------


## Wall clock in µs: both processes of the two-process mode read the same one.
func _now_usec() -> int:
	return int(Time.get_unix_time_from_system() * 1000000.0)


## User + system CPU time of this process (all threads), from /proc (Linux only; 0 elsewhere).
## FileAccess sees /proc files as empty, so `cat` reads it (twice per run, outside the timing).
func _cpu_seconds() -> float:
	var out := []
	if OS.execute("cat", ["/proc/%d/stat" % OS.get_process_id()], out) != 0 or out.is_empty():
		return 0.0
	var stat: String = out[0]
	var fields := stat.substr(stat.rfind(")") + 2).split(" ")
	return (int(fields[11]) + int(fields[12])) / 100.0


func _fail(message: String) -> void:
	printerr("FAILED ", message)
	quit(1)
